# -*- coding: utf-8 -*-

# Copyright: Contributors to the octopus.ha collection
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

"""Property-based (Hypothesis stateful) test of drain / cancel / remove against the simulator.

Rules interleave octopus_node (drained / absent, with and without force and cancel_on_timeout) and
octopus_task_cancel calls with fault injection, node crashes and restarts, new and finished tasks,
clock advances, and a second caller running at the same time. The modules run unchanged in forked
children (scale_in_runner) against one simulator whose clock is frozen and moved only by the
modules' own sleeps and by the advance rule, so an example is deterministic and never waits.

Invariants:
- a live node is never deleted while it runs tasks, unless the call was forced;
- `changed` is true exactly when a mutating request of that call reached the server's state
  (from the simulator's request log; solo calls);
- the API key never appears in a result;
- teardown: with faults cleared, a removal converges (the node is gone, or the guard refused before
  any change), and running it again changes nothing and sends no mutating request.

CI runs the derandomized profile (fixed examples); set SCALE_IN_HYPOTHESIS_PROFILE=explore locally
for more, randomized examples.
"""

from __future__ import absolute_import, division, print_function
__metaclass__ = type

import json
import os

import pytest

from hypothesis import HealthCheck, event, settings, strategies as st
from hypothesis.stateful import RuleBasedStateMachine, initialize, invariant, rule, run_state_machine_as_test

from octosim.testing import ADMIN_KEY, SimulatorProcess
from scale_in_runner import ModuleRun, api_entries, mutating

NODES = ('N1', 'N2', 'N3', 'N4')
SECRET = ADMIN_KEY

settings.register_profile('scale_in_ci', max_examples=20, stateful_step_count=12, derandomize=True, deadline=None,
                          suppress_health_check=list(HealthCheck), print_blob=True)
settings.register_profile('explore', max_examples=60, stateful_step_count=15, derandomize=False, deadline=None,
                          suppress_health_check=list(HealthCheck), print_blob=True)
PROFILE = settings.get_profile(os.environ.get('SCALE_IN_HYPOTHESIS_PROFILE', 'scale_in_ci'))

FAULTS = [
    {'kind': 'status', 'status': 503, 'method': 'GET', 'count': 1},
    {'kind': 'status', 'status': 502, 'method': 'PUT', 'count': 1},
    {'kind': 'status', 'status': 429, 'retry_after': '2', 'count': 1},
    {'kind': 'drop', 'method': 'PUT', 'phase': 'after', 'count': 1},
    {'kind': 'status', 'status': 500, 'method': 'POST', 'path': 'cancel', 'phase': 'after', 'count': 1},
    {'kind': 'status', 'status': 503, 'method': 'DELETE', 'count': 1},
    {'kind': 'drop', 'method': 'DELETE', 'phase': 'after', 'count': 1},
]

COMMON = {'poll_interval': 5, 'max_poll_interval': 10, 'request_deadline': 60, 'max_retries': 3}


class ScaleInMachine(RuleBasedStateMachine):
    """One example = one fresh cluster (control reset) and a sequence of rules."""

    sim = None  # set by the test before the machine runs

    def __init__(self):
        super(ScaleInMachine, self).__init__()
        self.control = self.sim.control
        self.control.reset()
        self.forced = set()
        self.targets = set()
        self.history = []

    # ------------------------------------------------------------------ helpers
    def state(self):
        return self.control.state()

    def nodes(self):
        return dict((n['Name'], n) for n in self.state()['nodes'])

    def last_seq(self):
        log = self.control.requests()
        return log[-1]['seq'] if log else 0

    def call(self, name, args):
        full = {'url': self.sim.url, 'api_key': SECRET}
        full.update(args)
        return ModuleRun(name, full, sim_url=self.sim.url, virtual_time=True)

    def check_call(self, name, args, forced=False):
        """Run one module call alone and check the per-call invariants."""
        before = self.nodes()
        seq = self.last_seq()
        result = self.call(name, args).result()
        window = api_entries(self.control.requests(since=seq))
        self.history.append((name, args, result.get('changed'), result.get('failed'), result.get('msg')))
        event('%s %s: %s' % (name, args.get('state', ''), 'failed' if result.get('failed') else
                             ('changed' if result.get('changed') else 'unchanged')))
        if result.get('deleted'):
            event('node deleted (force=%s)' % forced)
        self.check_result(result, window, before, forced)
        return result

    def check_result(self, result, window, before, forced):
        assert 'runner_error' not in result, result['runner_error']
        assert SECRET not in json.dumps(result), 'the API key leaked into a result'
        applied = [e for e in mutating(window) if e.get('applied')]
        if not result.get('failed'):
            described = [(e['method'], e['path'], e['status']) for e in applied]
            assert bool(result.get('changed')) == bool(applied), (
                'changed=%s but applied mutations %s\n%s' % (result.get('changed'), described, result))
        elif applied:
            assert result.get('changed') is True, 'failed after a mutation without reporting changed: %s' % result
        self.check_no_busy_live_node_deleted(before, forced)

    def check_no_busy_live_node_deleted(self, before, forced):
        after = self.nodes()
        tasks = self.state()['tasks']
        for name, node in before.items():
            if name in after or forced or not node['Heartbeat']:
                continue
            killed = [t['Id'] for t in tasks if t['ServerNode'] == node['Id'] and 'was deleted' in (t.get('ErrorMessage') or '')]
            assert not killed, 'live node %s was deleted while it ran %s' % (name, killed)

    # ------------------------------------------------------------------ setup
    @initialize(caps=st.lists(st.sampled_from([0, 1, 2, 5]), min_size=len(NODES), max_size=len(NODES)))
    def setup(self, caps):
        for name, cap in zip(NODES, caps):
            self.control.add_node(name, MaxConcurrentTasks=cap)

    # ------------------------------------------------------------------ world rules
    @rule(node=st.sampled_from(NODES), duration=st.sampled_from([10, 60, 600, 100000]),
          interrupted=st.booleans(), queued=st.booleans())
    def add_task(self, node, duration, interrupted, queued):
        live = self.nodes().get(node)
        if queued:
            self.control.add_task(Name='Deploy', Duration=duration)
        elif live and live['Heartbeat']:
            self.control.add_task(Name='Deploy', ServerNode=node, State='Executing', Duration=duration,
                                  HasPendingInterruptions=interrupted)

    @rule(seconds=st.sampled_from([5, 30, 90, 600]))
    def advance(self, seconds):
        self.control.advance(seconds)

    @rule(node=st.sampled_from(NODES))
    def crash(self, node):
        if node in self.nodes():
            self.control.stop_node(node)

    @rule(node=st.sampled_from(NODES))
    def restart(self, node):
        if node in self.nodes():
            self.control.start_node(node)

    @rule(data=st.data())
    def finish_a_task(self, data):
        running = [t for t in self.state()['tasks'] if t['State'] in ('Executing', 'Cancelling')]
        if running:
            task = data.draw(st.sampled_from(running))
            self.control.finish_task(task['Id'], data.draw(st.sampled_from(['Success', 'Failed'])))

    @rule(fault=st.sampled_from(FAULTS))
    def inject_fault(self, fault):
        self.control.add_fault(**fault)

    # ------------------------------------------------------------------ module rules
    @rule(node=st.sampled_from(NODES), wait=st.booleans(), cancel=st.booleans())
    def drain(self, node, wait, cancel):
        self.targets.add(node)
        args = dict(COMMON, name=node, state='drained', wait=wait, drain_timeout=20, cancel_on_timeout=cancel,
                    cancel_timeout=20)
        self.check_call('octopus_node', args)

    @rule(node=st.sampled_from(NODES))
    def cancel(self, node):
        if node in self.nodes():
            self.check_call('octopus_task_cancel', {'node_name': node, 'wait': True, 'wait_timeout': 20, 'poll_interval': 5})

    @rule(node=st.sampled_from(NODES), force=st.booleans(), cancel=st.booleans(), wait=st.booleans())
    def remove(self, node, force, cancel, wait):
        self.targets.add(node)
        args = dict(COMMON, name=node, state='absent', wait=wait, drain_timeout=20, cancel_on_timeout=cancel,
                    cancel_timeout=20, force=force)
        self.check_call('octopus_node', args, forced=force)

    @rule(node=st.sampled_from(NODES))
    def concurrent_removals(self, node):
        """A second caller removes the same node at the same time; both must end consistently."""
        self.targets.add(node)
        before = self.nodes()
        args = dict(COMMON, name=node, state='absent', drain_timeout=20, cancel_on_timeout=True, cancel_timeout=20)
        first, second = self.call('octopus_node', args), self.call('octopus_node', args)
        results = [first.result(), second.result()]
        for result in results:
            assert 'runner_error' not in result, result['runner_error']
            assert SECRET not in json.dumps(result)
        self.check_no_busy_live_node_deleted(before, forced=False)
        deletes = [e for e in api_entries(self.control.requests()) if e['method'] == 'DELETE' and e['status'] == 200
                   and e['path'].endswith('/OctopusServerNodes-%s' % node)]
        assert len(deletes) <= 1, 'the node was deleted twice'

    # ------------------------------------------------------------------ invariants and teardown
    @invariant()
    def nodes_are_consistent(self):
        if self.sim is None:
            return
        for task in self.state()['tasks']:
            assert task['State'] in ('Queued', 'Executing', 'Cancelling', 'Success', 'Failed', 'Canceled', 'TimedOut')

    def teardown(self):
        """A re-run after any prefix converges, and a second re-run changes nothing."""
        self.control.clear_faults()
        for node in sorted(self.targets):
            args = dict(COMMON, name=node, state='absent', drain_timeout=600, cancel_on_timeout=True, cancel_timeout=600,
                        pending_interruptions='cancel')
            first = self.check_call('octopus_node', args)
            present = node in self.nodes()
            if present:
                assert first.get('failed'), 'the node is still there but the removal reported success: %s' % first
            seq = self.last_seq()
            second = self.check_call('octopus_node', args)
            assert (node in self.nodes()) == present, 'a re-run changed the end state'
            if not present:
                assert not second.get('failed') and not second.get('changed'), second
                assert mutating(api_entries(self.control.requests(since=seq))) == []


@pytest.fixture(scope='module')
def stateful_sim():
    sim = SimulatorProcess({'nodes': [{'Name': 'SEED', 'MaxConcurrentTasks': 0}], 'license': {'node_limit': None}}, speed=0)
    sim.start()
    yield sim
    sim.stop()


def test_drain_cancel_remove_state_machine(stateful_sim):
    ScaleInMachine.sim = stateful_sim
    try:
        run_state_machine_as_test(ScaleInMachine, settings=PROFILE)
    finally:
        ScaleInMachine.sim = None
