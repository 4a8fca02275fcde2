# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# Copyright: Contributors to the octopus.ha collection
"""_octopus_autoscaling: examples, and Hypothesis properties of the protection plan and the capacity decision.

Invariants checked by Hypothesis:
- protection: busy nodes end protected and idle ones not; unknown facts change nothing; while the group is
  above its minimum size at least one in-service instance stays unprotected; a second plan is a no-op;
- capacity (stateful): the desired capacity never goes below max(MinSize, min_capacity) or above MaxSize,
  a scale-in is always by one, two changes are at least `cooldown` seconds of server time apart, no change is
  taken from a failed or incomplete poll, and every change is backed by N (M) fresh polls with the signal.
"""

from __future__ import absolute_import, division, print_function
__metaclass__ = type

import copy

import pytest

from hypothesis import HealthCheck, given, settings, strategies as st
from hypothesis.stateful import RuleBasedStateMachine, initialize, invariant, rule

from ansible_collections.octopus.ha.plugins.module_utils import _octopus_autoscaling as auto

POLICY = dict(auto.DEFAULT_POLICY, scale_out_polls=2, scale_in_polls=3, cooldown=120)


def instance(iid, protected=False, state='InService'):
    return dict(instance_id=iid, lifecycle_state=state, protected=protected)


def node(name, running, offline=False):
    return dict(name=name, running_task_count=running, offline=offline)


def applied(plan, instances):
    """The protection of every instance after the plan was applied."""
    after = dict((i['instance_id'], bool(i['protected'])) for i in instances)
    after.update((i, True) for i in plan['protect'])
    after.update((i, False) for i in plan['unprotect'])
    return after


# ---------------------------------------------------------------------------- protection examples


def test_idle_first_three_busy_one_idle():
    instances = [instance('i-a'), instance('i-b'), instance('i-c'), instance('i-d', protected=True)]
    nodes = [node('i-a', 2), node('I-B', 1), node('i-c', 3), node('i-d', 0)]
    plan = auto.plan_protection(instances, nodes, min_size=2, desired_capacity=4)
    assert plan['protect'] == ['i-a', 'i-b', 'i-c'] and plan['unprotect'] == ['i-d']
    assert plan['kept_unprotected'] is None and plan['all_protected'] is False
    reasons = dict((e['instance_id'], e['reason']) for e in plan['instances'])
    assert reasons == {'i-a': 'node i-a runs 2 tasks', 'i-b': 'node I-B runs 1 task', 'i-c': 'node i-c runs 3 tasks',
                       'i-d': 'node i-d is idle'}


def test_all_busy_above_minimum_leaves_the_least_busy_unprotected():
    instances = [instance('i-a', protected=True), instance('i-b', protected=True), instance('i-c')]
    plan = auto.plan_protection(instances, [node('i-a', 1), node('i-b', 1), node('i-c', 4)], 1, 3)
    assert plan['kept_unprotected'] == 'i-a' and plan['protect'] == ['i-c'] and plan['unprotect'] == ['i-a']
    # A tie prefers the instance that is already unprotected (no churn).
    plan = auto.plan_protection([instance('i-a', True), instance('i-b')], [node('i-a', 1), node('i-b', 1)], 1, 2)
    assert plan['kept_unprotected'] == 'i-b' and plan['protect'] == [] and plan['unprotect'] == []
    assert 'can still scale in' in [e for e in plan['instances'] if e['instance_id'] == 'i-b'][0]['reason']


def test_at_minimum_size_every_busy_instance_is_protected():
    plan = auto.plan_protection([instance('i-a'), instance('i-b')], [node('i-a', 1), node('i-b', 2)], 2, 2)
    assert plan['protect'] == ['i-a', 'i-b'] and plan['all_protected'] is True and plan['kept_unprotected'] is None


def test_unknown_facts_change_nothing():
    instances = [instance('i-a', True), instance('i-b')]
    assert auto.plan_protection(instances, None, 1, 2)['protect'] == []
    plan = auto.plan_protection(instances, [node('i-a', None), node('i-b', None)], 1, 2)
    assert (plan['protect'], plan['unprotect']) == ([], [])
    assert plan['instances'][0]['reason'] == 'the running tasks of node i-a are unknown'


def test_not_in_service_unmapped_ambiguous_and_offline():
    instances = [instance('i-a', True, 'Terminating:Wait'), instance('i-b', True), instance('i-c', True),
                 instance('i-d', True), instance('i-e')]
    nodes = [node('i-a', 0), node('i-c', 1), node('I-C', 0), node('i-d', 3, offline=True), node('i-e', 2)]
    plan = auto.plan_protection(instances, nodes, 1, 5)
    reasons = dict((e['instance_id'], e['reason']) for e in plan['instances'])
    assert reasons['i-a'] == 'not in service (Terminating:Wait)'
    assert reasons['i-b'] == 'no Octopus node is named after or mapped to this instance'
    assert reasons['i-c'] == 'more than one Octopus node matches this instance'
    assert reasons['i-d'] == 'node i-d is offline'
    assert plan['unprotect'] == ['i-d'] and plan['protect'] == ['i-e']


def test_explicit_mapping_replaces_the_name_rule():
    instances = [instance('i-0001'), instance('i-0002')]
    nodes = [node('OCTO-NODE-01', 2), node('OCTO-NODE-02', 0), node('i-0002', 5)]
    plan = auto.plan_protection(instances, nodes, 1, 2, instance_map={'i-0001': 'octo-node-01', 'i-0002': 'OCTO-NODE-02'})
    assert plan['protect'] == ['i-0001'] and [e['node'] for e in plan['instances']] == ['OCTO-NODE-01', 'OCTO-NODE-02']


# ---------------------------------------------------------------------------- protection properties

RUNNING = st.one_of(st.none(), st.integers(min_value=0, max_value=6))


@st.composite
def fleets(draw):
    count = draw(st.integers(min_value=1, max_value=7))
    instances, nodes = [], []
    for number in range(count):
        iid = 'i-%04d' % number
        state = draw(st.sampled_from(['InService'] * 6 + ['Pending', 'Terminating:Wait', 'Standby']))
        instances.append(instance(iid, draw(st.booleans()), state))
        if draw(st.integers(min_value=0, max_value=5)):
            nodes.append(node(iid.upper() if draw(st.booleans()) else iid, draw(RUNNING), offline=draw(st.booleans()) and draw(st.booleans())))
    min_size = draw(st.integers(min_value=0, max_value=count))
    desired = draw(st.integers(min_value=min_size, max_value=count + 1))
    return instances, (None if draw(st.integers(0, 9)) == 0 else nodes), min_size, desired


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(fleets())
def test_protection_properties(fleet):
    instances, nodes, min_size, desired = fleet
    plan = auto.plan_protection(instances, nodes, min_size, desired)
    after = applied(plan, instances)
    ids = set(i['instance_id'] for i in instances)
    assert set(plan['protect']) <= ids and set(plan['unprotect']) <= ids and not set(plan['protect']) & set(plan['unprotect'])
    by_id = dict((e['instance_id'], e) for e in plan['instances'])
    for iid in plan['protect'] + plan['unprotect']:
        assert by_id[iid]['lifecycle_state'] == 'InService', 'only in-service instances are touched'
        assert by_id[iid]['protect'] is not None and by_id[iid]['protect'] != by_id[iid]['protected'], 'only real changes'
    for entry in plan['instances']:
        if entry['protect'] is None:
            assert after[entry['instance_id']] == entry['protected'], 'unknown facts change nothing'
        elif entry['running_task_count'] and entry['instance_id'] != plan['kept_unprotected'] and 'offline' not in entry['reason']:
            assert after[entry['instance_id']] is True, 'a busy node is protected'
        elif entry['instance_id'] != plan['kept_unprotected']:
            assert after[entry['instance_id']] is False, 'an idle or offline node is not protected'
    in_service = [e for e in plan['instances'] if e['lifecycle_state'] == 'InService']
    decided = [e for e in in_service if e['protect'] is not None]
    if desired > min_size and decided:
        assert not all(after[e['instance_id']] for e in in_service), 'scale-in stays possible above the minimum size'
    assert plan['all_protected'] == (bool(in_service) and all(after[e['instance_id']] for e in in_service))
    again = auto.plan_protection([dict(i, protected=after[i['instance_id']]) for i in instances], nodes, min_size, desired)
    assert (again['protect'], again['unprotect']) == ([], []), 'a second plan with the same facts is a no-op'


# ---------------------------------------------------------------------------- capacity examples


def poll(number, at, queued, running, cap, nodes=2, ok=True):
    facts = dict(queued_task_count=queued, running_task_count=running, task_capacity=cap, task_node_count=nodes)
    # As the event source: a failed poll has no server time.
    return auto.history_entry(number, ok, at if ok else None, at, facts if ok else None, None if ok else 'HTTP 503')


def group(desired, min_size=1, max_size=6, states=None):
    states = states or ['InService'] * desired
    return dict(min_size=min_size, max_size=max_size, desired_capacity=desired,
                instances=[dict(instance_id='i-%d' % n, lifecycle_state=s) for n, s in enumerate(states)])


def test_backlog_for_n_polls_scales_out_with_a_step():
    history = [poll(1, 0, 12, 10, 10), poll(2, 30, 12, 10, 10)]
    decision = auto.decide_capacity(history[:1], group(2), POLICY)
    assert decision['action'] == 'none' and decision['scale_out_streak'] == 1
    decision = auto.decide_capacity(history, group(2), POLICY)
    assert decision['action'] == 'scale_out' and (decision['desired_before'], decision['desired_after']) == (2, 4)
    assert [e['poll'] for e in decision['evidence']] == [1, 2] and 'for 2 polls' in decision['reason']


def test_a_queue_with_free_slots_is_not_a_shortage():
    history = [poll(n, n * 30, 10, 3, 10) for n in range(5)]
    decision = auto.decide_capacity(history, group(2), POLICY)
    assert decision['action'] == 'none' and decision['scale_out_streak'] == 0


def test_zero_capacity_with_queued_work_scales_out():
    history = [poll(n, n * 30, 3, 0, 0, nodes=0) for n in range(2)]
    decision = auto.decide_capacity(history, group(1), POLICY)
    assert (decision['action'], decision['desired_after']) == ('scale_out', 2)


def test_quiet_for_m_polls_scales_in_by_one_but_never_below_the_floor():
    history = [poll(n, n * 30, 0, 1, 15, nodes=3) for n in range(3)]
    decision = auto.decide_capacity(history, group(3), POLICY)
    assert (decision['action'], decision['desired_after']) == ('scale_in', 2)
    decision = auto.decide_capacity(history, group(3, min_size=3), POLICY)
    assert decision['action'] == 'none' and 'at its floor 3' in decision['reason']
    decision = auto.decide_capacity(history, group(3), dict(POLICY, min_capacity=3))
    assert decision['action'] == 'none' and decision['floor'] == 3


def test_hysteresis_no_scale_in_when_one_node_less_would_be_busy():
    # 2 of 10 slots busy (20 %), but on one node less 2 of 5 = 40 %: fine at 0.7, refused at 0.35.
    history = [poll(n, n * 30, 0, 2, 10, nodes=2) for n in range(3)]
    assert auto.decide_capacity(history, group(2), POLICY)['action'] == 'scale_in'
    strict = dict(POLICY, scale_in_max_projected_utilisation=0.35)
    assert auto.decide_capacity(history, group(2), strict)['action'] == 'none'
    assert auto.decide_capacity([poll(n, n, 0, 0, 5, nodes=1) for n in range(3)], group(2), POLICY)['action'] == 'none'


def test_cooldown_and_fresh_evidence_after_a_change():
    history = [poll(n, n * 30, 12, 10, 10) for n in range(8)]
    last = dict(time=60)
    decision = auto.decide_capacity(history[:4], group(3), POLICY, last_change=last)
    assert decision['action'] == 'none' and decision['reason'].startswith('cooldown: 90 s left')
    decision = auto.decide_capacity(history, group(3), POLICY, last_change=last)
    assert decision['action'] == 'scale_out' and [e['poll'] for e in decision['evidence']] == [6, 7]
    # Polls from before the change do not count, even when the cooldown is over.
    decision = auto.decide_capacity(history[:4] + [poll(9, 300, 12, 10, 10)], group(3), POLICY, last_change=dict(time=150))
    assert decision['action'] == 'none' and decision['scale_out_streak'] == 1


def test_no_decision_from_missing_facts():
    good = [poll(n, n * 30, 12, 10, 10) for n in range(4)]
    failed = auto.decide_capacity(good + [poll(4, 120, None, None, None, ok=False)], group(2), POLICY)
    assert failed['action'] == 'none' and failed['reason'].startswith('the latest poll failed (HTTP 503)')
    partial = auto.decide_capacity(good + [poll(4, 120, 12, None, 10)], group(2), POLICY)
    assert partial['action'] == 'none' and 'running_task_count' in partial['reason']
    assert auto.decide_capacity([], group(2), POLICY)['action'] == 'none'
    # After the failure, a single good poll is not enough: the streak starts again (also after a change).
    broken = good[:3] + [poll(3, 90, None, None, None, ok=False), poll(4, 120, 12, 10, 10)]
    assert auto.decide_capacity(broken, group(2), POLICY, last_change=dict(time=0))['scale_out_streak'] == 1
    after = auto.decide_capacity(good + [poll(4, 120, None, None, None, ok=False), poll(5, 150, 12, 10, 10)], group(2), POLICY)
    assert after['action'] == 'none' and after['scale_out_streak'] == 1


def test_in_flight_group_and_maximum():
    history = [poll(n, n * 30, 12, 10, 10) for n in range(3)]
    moving = auto.decide_capacity(history, group(3, states=['InService', 'InService', 'Pending:Wait']), POLICY)
    assert moving['action'] == 'none' and 'Pending:Wait' in moving['reason']
    deferred = auto.decide_capacity(history, group(2, states=['InService'] * 3), POLICY)
    assert deferred['action'] == 'none' and '3 in-service instances for a desired capacity of 2' in deferred['reason']
    at_max = auto.decide_capacity(history, group(6), POLICY)
    assert at_max['action'] == 'none' and 'maximum size 6' in at_max['reason']


def test_stale_facts_are_not_acted_upon():
    history = [poll(n, n * 30, 12, 10, 10) for n in range(3)]
    decision = auto.decide_capacity(history, group(2), dict(POLICY, max_fact_age=60), now=60 + 61)
    assert decision['action'] == 'none' and 'old' in decision['reason']
    assert auto.decide_capacity(history, group(2), dict(POLICY, max_fact_age=60), now=60 + 59)['action'] == 'scale_out'


def test_policy_errors_and_tag_round_trip():
    assert auto.policy_errors(POLICY) == []
    errors = auto.policy_errors(dict(POLICY, scale_out_polls=0, cooldown=-1))
    assert len(errors) == 2 and errors[0].startswith('scale_out_polls')
    assert 'no hysteresis' in auto.policy_errors(dict(POLICY, scale_in_max_projected_utilisation=0.9))[0]
    decision = dict(polled_at=1767225600.5, action='scale_in', poll=7, desired_before=3, desired_after=2)
    value = auto.encode_last_change(decision)
    assert len(value) <= 256 and auto.decode_last_change(value)['time'] == 1767225600.5
    assert auto.decode_last_change('not json') is None and auto.decode_last_change('{"time": true}') is None


def test_queue_metric_data_skips_unknown_facts():
    facts = dict(queued_task_count=4, oldest_queued_task_age=None, running_task_count=3, task_capacity=5,
                 free_task_slots=2, slot_utilisation=0.6, backlog_per_slot=0.8)
    data = auto.queue_metric_data(facts, timestamp='2026-01-01T00:00:00Z')
    assert [(d['metric_name'], d['value'], d['unit']) for d in data] == [
        ('QueuedTasks', 4, 'Count'), ('RunningTasks', 3, 'Count'), ('TaskCapacity', 5, 'Count'), ('FreeTaskSlots', 2, 'Count'),
        ('SlotUtilisation', 60.0, 'Percent'), ('BacklogPerSlot', 0.8, 'None')]
    assert all(d['timestamp'] == '2026-01-01T00:00:00Z' for d in data)
    assert [d['metric_name'] for d in auto.queue_metric_data(facts, metrics=['SlotUtilisation'])] == ['SlotUtilisation']
    assert auto.queue_metric_data(None) == []


# ---------------------------------------------------------------------------- capacity, stateful


class DirectMode(RuleBasedStateMachine):
    """Polls with random facts, decisions applied as the module applies them; the invariants hold at every step."""

    @initialize(min_size=st.integers(0, 3), extra=st.integers(0, 3), span=st.integers(0, 4), guard=st.integers(-1, 2),
                cooldown=st.sampled_from([0, 30, 120, 600]))
    def setup(self, min_size, extra, span, guard, cooldown):
        """guard -1: no capacity guard (min_capacity 0); else min_capacity = MinSize + guard (the guard is the floor)."""
        min_capacity = 0 if guard < 0 else min_size + guard
        self.policy = dict(POLICY, min_capacity=min_capacity, cooldown=cooldown)
        self.floor = max(min_size, min_capacity)
        self.group = group(self.floor + extra, min_size=min_size, max_size=self.floor + extra + span)
        self.start_desired = self.group['desired_capacity']
        self.history, self.last_change, self.now, self.number, self.changes = [], None, 1000.0, 0, []

    @rule(dt=st.integers(0, 90), ok=st.integers(0, 9), queued=st.integers(0, 30), busy=st.floats(0, 1.2),
          cap_per_node=st.integers(1, 5), unknown=st.integers(0, 19), switch=st.integers(0, 5),
          regime=st.sampled_from(['backlog', 'quiet', 'random']))
    def poll_and_decide(self, dt, ok, queued, busy, cap_per_node, unknown, switch, regime):
        """One poll, then the decision applied as the module applies it.

        The load regime changes on about one poll in six, so sustained backlogs and quiet spells happen."""
        if switch == 0 or not hasattr(self, 'regime'):
            self.regime = regime
        self.now += dt
        self.number += 1
        ok = ok > 0
        nodes = self.group['desired_capacity']
        cap = nodes * cap_per_node
        if self.regime == 'backlog':
            queued, busy = max(queued, cap), 1.0
        elif self.regime == 'quiet':
            queued, busy = 0, min(busy, 0.2)
        facts = dict(queued_task_count=queued, running_task_count=int(cap * busy), task_capacity=cap, task_node_count=nodes)
        if unknown == 0:
            facts['task_capacity'] = None
        self.history = (self.history + [auto.history_entry(self.number, ok, self.now if ok else None, self.now, facts if ok else None,
                                                           None if ok else 'HTTP 503')])[-20:]
        before = copy.deepcopy(self.group)
        decision = auto.decide_capacity(self.history, self.group, self.policy, self.last_change)
        latest = self.history[-1]
        if decision['action'] == 'none':
            assert decision['desired_after'] == decision['desired_before']
            return
        assert latest['ok'] and None not in (latest['queued_task_count'], latest['running_task_count'], latest['task_capacity'])
        needed = self.policy['scale_out_polls'] if decision['action'] == 'scale_out' else self.policy['scale_in_polls']
        signal = auto.scale_out_signal if decision['action'] == 'scale_out' else auto.scale_in_signal
        assert len(decision['evidence']) == needed and all(signal(e, self.policy) for e in decision['evidence'])
        assert decision['evidence'] == self.history[-needed:], 'the newest polls, with no failed poll in between'
        if self.last_change is not None:
            assert all(e['polled_at'] > self.last_change['time'] for e in decision['evidence'])
            assert latest['polled_at'] - self.last_change['time'] >= self.policy['cooldown']
        if decision['action'] == 'scale_in':
            assert decision['desired_after'] == before['desired_capacity'] - 1 >= self.floor
        else:
            assert before['desired_capacity'] < decision['desired_after'] <= before['max_size']
        self.changes.append((latest['polled_at'], decision['action']))
        self.last_change = dict(time=latest['polled_at'])
        self.group = group(decision['desired_after'], before['min_size'], before['max_size'])

    @invariant()
    def within_bounds(self):
        if not hasattr(self, 'group'):
            return
        desired = self.group['desired_capacity']
        assert desired <= self.group['max_size']
        assert desired >= min(self.start_desired, self.floor), 'never below the floor (or where it started)'
        times = [t for t, dummy in self.changes]
        assert all(b - a >= self.policy['cooldown'] for a, b in zip(times, times[1:]))


TestDirectMode = DirectMode.TestCase
TestDirectMode.settings = settings(max_examples=80, stateful_step_count=40, deadline=None,
                                   suppress_health_check=[HealthCheck.too_slow])


STEPS = [(12, 10, 10, 2, 2), (3, 10, 10, 2, 1), (40, 10, 10, 2, 2), (1, 0, 0, 0, 1), (11, 5, 5, 1, 2)]


@pytest.mark.parametrize('queued, running, cap, nodes, step', STEPS)
def test_scale_out_step(queued, running, cap, nodes, step):
    entry = poll(1, 0, queued, running, cap, nodes)
    assert auto.scale_out_step(entry, POLICY) == step
