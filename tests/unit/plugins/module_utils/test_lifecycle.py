# -*- coding: utf-8 -*-

# Copyright: Contributors to the octopus.ha collection
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

"""The reconciler's plan, the re-check before a delete and the handler verdict (plugins/module_utils/_lifecycle.py)."""

from __future__ import absolute_import, division, print_function
__metaclass__ = type

import pytest

from hypothesis import given, settings, strategies as st

from ansible_collections.octopus.ha.plugins.module_utils import _lifecycle as lc

A, B, C, D = 'i-0aaaaaaaaaaaaaaa1', 'i-0bbbbbbbbbbbbbbb2', 'i-0ccccccccccccccc3', 'i-0ddddddddddddddd4'
HOOK = dict(name='octopus-drain', heartbeat_timeout=600, global_timeout=60000, default_result='ABANDON')


def node(name, offline=False, seen=10, drained=False, cap=5, last_seen='2026-11-26T09:00:00Z'):
    return dict(name=name, id='OctopusServerNodes-' + name, offline=offline, seconds_since_last_seen=seen, drained=drained,
                max_concurrent_tasks=cap, last_seen=last_seen)


def ec2(*pairs):
    return [dict(instance_id=i, state=dict(name=s)) for i, s in pairs]


def lifecycle(*instances):
    return dict(hook=HOOK, instances=[dict(instance_id=i, lifecycle_state=s, wait_age=age, marker_age=marker)
                                      for i, s, age, marker in instances])


def plan(nodes, **kwargs):
    kwargs.setdefault('max_removals', 10)
    return lc.reconcile_plan(nodes, **kwargs)


def test_an_instance_that_exists_protects_its_node_however_long_it_was_offline():
    """The upgrade window: offline for two hours, instance running or stopped -> never a ghost."""
    nodes = [node('OCTO-1'), node(A, offline=True, seen=7200), node(B, offline=True, seen=7200)]
    result = plan(nodes, lifecycle=lifecycle(), ec2_instances=ec2((A, 'running'), (B, 'stopped')))
    assert result['ghosts'] == [] and result['errors'] == []
    assert sorted(s['name'] for s in result['skipped']) == [A, B]
    assert 'protects its node' in result['skipped'][0]['why']


@pytest.mark.parametrize('found, why', [((), 'no longer exists'), (((A, 'terminated'),), 'is terminated'),
                                        (((A, 'shutting-down'),), 'is shutting-down')])
def test_an_offline_node_whose_instance_is_gone_is_a_ghost(found, why):
    result = plan([node('OCTO-1'), node(A, offline=True, seen=60)], lifecycle=lifecycle(), ec2_instances=ec2(*found))
    assert [(g['name'], why in g['why']) for g in result['ghosts']] == [(A, True)]


def test_without_an_ec2_check_offline_after_decides():
    nodes = [node(A, offline=True, seen=3601), node(B, offline=True, seen=3599), node('LEGACY', offline=True, seen=99999)]
    result = plan(nodes, offline_after=3600)
    assert [g['name'] for g in result['ghosts']] == [A]
    assert 'not more than octopus_reconcile_offline_after' in [s['why'] for s in result['skipped'] if s['name'] == B][0]


def test_a_node_left_drained_with_cap_0_is_removed_once_offline_long_enough():
    nodes = [node('OCTO-9', offline=True, seen=4000, drained=True, cap=0), node('OCTO-8', offline=True, seen=100, drained=True, cap=0),
             node('OCTO-7', offline=True, seen=4000, drained=True, cap=3)]
    result = plan(nodes, offline_after=3600)
    assert [g['name'] for g in result['ghosts']] == ['OCTO-9']
    assert plan(nodes, offline_after=3600, remove_left_drained=False)['ghosts'] == []


def test_an_online_instance_named_node_unknown_to_ec2_means_a_wrong_view_and_stops_everything():
    nodes = [node(A), node(B, offline=True, seen=7200)]
    result = plan(nodes, lifecycle=lifecycle((C, 'Terminating:Wait', 9000, None)), ec2_instances=ec2(), aws_label='region eu-west-9')
    assert result['ghosts'] == []
    assert len(result['errors']) == 1 and A in result['errors'][0] and 'region eu-west-9' in result['errors'][0]


def test_too_many_removals_stop_the_run():
    nodes = [node(n, offline=True, seen=9999) for n in (A, B, C)]
    result = plan(nodes, max_removals=2)
    assert result['removals'] == 3 and 'more than octopus_reconcile_max_removals (2)' in result['errors'][0]


def test_unreadable_nodes_stop_the_run():
    assert 'could not be read' in plan(None)['errors'][0]
    assert 'did not say whether' in plan([dict(node(A), offline=None)])['errors'][0]


def test_stuck_instances_a_handler_works_on_or_too_young_are_left_alone():
    nodes = [node('OCTO-1'), node(A), node(B), node(C)]
    life = lifecycle((A, 'Terminating:Wait', 900, None), (B, 'Terminating:Wait', 900, 30), (C, 'Terminating:Wait', 100, None),
                     (D, 'Terminating:Wait', 900, 700), ('i-x', 'Terminating:Wait', 900, None), ('i-0eeeeeeeeeeeeeee5', 'Terminating:Wait', None, None),
                     ('i-0fffffffffffffff6', 'InService', None, None))
    result = plan(nodes, lifecycle=life, ec2_instances=ec2((A, 'running'), (B, 'running'), (C, 'running')), min_age=300)
    assert [(s['instance_id'], s['action']) for s in result['stuck']] == [(A, 'remove_and_continue'), (D, 'continue')]
    why = dict((s['name'], s['why']) for s in result['skipped'])
    assert 'heartbeated it 30 s ago' in why[B]
    assert 'less than octopus_reconcile_min_age' in why[C]
    assert 'does not match the node name pattern' in why['i-x']
    assert 'unknown' in why['i-0eeeeeeeeeeeeeee5']
    assert D not in why, 'a marker older than the HeartbeatTimeout is stale: no handler heartbeats any more'


def test_nodes_of_waiting_instances_are_never_ghosts():
    nodes = [node('OCTO-1'), node(A, offline=True, seen=99999)]
    result = plan(nodes, lifecycle=lifecycle((A, 'Terminating:Wait', 10, None)), ec2_instances=ec2(), min_age=300)
    assert result['ghosts'] == [] and result['stuck'] == []


@pytest.mark.parametrize('now, expected', [
    (None, 'already gone'),
    (dict(node(A, offline=False)), 'no longer offline'),
    (dict(node(A, offline=True, last_seen='2026-11-26T10:00:00Z')), 'LastSeen moved'),
    (dict(node(A, offline=True)), ''),
])
def test_recheck_just_before_the_delete(now, expected):
    ghost = dict(name=A, id='OctopusServerNodes-' + A, why='x', last_seen='2026-11-26T09:00:00Z')
    result = lc.reconcile_recheck(ghost, [now] if now else [node('OTHER')])
    assert (expected in result) if expected else result == ''
    assert lc.reconcile_recheck(ghost, None) == 'the nodes could not be read again'


def test_handler_report_never_green_on_heartbeat_trouble():
    done = dict(changed=True, active=True, lifecycle_action=dict(result='CONTINUE'))
    ok = lc.handler_report(A, 'scale_in', heartbeat=dict(finished=1, stopped_because='stop_file', heartbeats=4), complete=done, acknowledged=True)
    assert ok['ok'] and 'CONTINUE accepted' in ok['summary'] and 'message acknowledged' in ok['summary']
    for heartbeat, problem in [(dict(finished=0), 'did not end'), (dict(finished=1, failed=True, msg='AccessDenied'), 'AccessDenied'),
                               (dict(finished=1, stopped_because='error', last_error='boom'), 'boom')]:
        bad = lc.handler_report(A, 'scale_in', heartbeat=heartbeat, complete=done, acknowledged=True)
        assert not bad['ok'] and problem in bad['summary']
    expired = lc.handler_report(A, 'scale_in', heartbeat=dict(finished=1, stopped_because='inactive'), complete={})
    assert not expired['ok'] and 'stopped being active' in expired['summary']
    skipped = lc.handler_report(A, 'continue', heartbeat=dict(skipped=True), complete=dict(skipped=True), acknowledged=True)
    assert skipped['ok'] and 'lifecycle action not completed' in skipped['summary']


NAMES = st.sampled_from([A, B, C, D, 'OCTO-1', 'OCTO-2'])
NODE = st.builds(node, NAMES, st.booleans(), st.integers(0, 20000), st.booleans(), st.sampled_from([0, 1, 5]))
STATES = st.lists(st.tuples(st.sampled_from([A, B, C, D]), st.sampled_from(['running', 'stopped', 'pending', 'terminated'])), max_size=4)
WAITING = st.lists(st.tuples(st.sampled_from([A, B, C, D]), st.sampled_from(['InService', 'Terminating:Wait', 'Pending:Wait']),
                             st.one_of(st.none(), st.integers(0, 5000)), st.one_of(st.none(), st.integers(0, 5000))), max_size=4)


@settings(max_examples=300, deadline=None)
@given(st.lists(NODE, max_size=8, unique_by=lambda n: n['name']), STATES, WAITING, st.integers(0, 4), st.booleans())
def test_the_plan_never_harms(nodes, states, waiting, max_removals, with_ec2):
    """Invariants: no online node, no node whose instance exists, no node of a waiting instance is ever a ghost;
    a plan with errors changes nothing; a plan without errors stays within the removal cap."""
    states = dict(states)
    result = lc.reconcile_plan(nodes, lifecycle=lifecycle(*waiting) if with_ec2 else None,
                               ec2_instances=ec2(*states.items()) if with_ec2 else None, max_removals=max_removals, min_age=300)
    by_name = dict((n['name'], n) for n in nodes)
    waiting_ids = set(w[0] for w in waiting if w[1].endswith(':Wait'))
    for ghost in result['ghosts']:
        assert by_name[ghost['name']]['offline'] is True
        if with_ec2:
            assert states.get(ghost['name']) in (None, 'terminated') or not ghost['name'].startswith('i-')
            assert ghost['name'] not in waiting_ids
    if result['errors']:
        return
    assert result['removals'] <= max_removals
    for stuck in result['stuck']:
        assert stuck['instance_id'] in waiting_ids
