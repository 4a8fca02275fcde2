# -*- coding: utf-8 -*-

# Copyright: Contributors to the octopus.ha collection
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

"""The removal invariants, checked by a machine (issue 8 section 9): a Hypothesis state machine, in process.

The removal logic (module_utils NodeStep + drive, in the node_remove role's order: preflight, drain
and wait, stop the service or not, delete) runs against the simulator through
``octosim.testing.InProcessOctopus``: no sockets, no threads of the simulator, a frozen cluster clock
that only the removals' own waits, latency faults and the ``advance`` rule move. Concurrent
removals run in threads that take turns at every HTTP request, in an order drawn per example
(removal_world.Interleaver), so every example replays exactly.

Steps: tasks arriving (queued, or paused on a manual intervention) and finishing, interventions
answered, nodes going offline and coming back, time passing, injected 5xx / 429 with Retry-After /
latency / dropped responses, a removal interrupted after a drawn number of requests and re-run later,
and removals of different nodes at the same time (with drawn options: force, cancel_on_timeout,
pending_interruptions, whether the service was stopped). The simulator's uncertain behaviours are
drawn per example too: a deleted live node re-registering, the deleted node's tasks failing at a
later sweep, PUT resetting or keeping missing fields.

Invariants, after every step:
- no node is deleted while it has Executing tasks unless the removal was forced, and never while a
  paused deployment is pinned to it (it would be stranded, Issues #6372);
- no node is deleted while its service still runs (issue 8 section 5), whatever the simulator does;
- after removals settle, the online, undrained task nodes are never below min_task_nodes (or below
  what there was, when that was already less) unless a removal was forced;
- a removal that succeeded converges: running it again changes nothing and sends no write;
- no task is cancelled without an opt-in (cancel_on_timeout after drain_timeout, pending_interruptions
  = cancel, force for a paused task) or being an orphan of a node gone for offline_grace;
- the API key never appears in a result.

CI runs the 'ci' profile (200 examples, derandomized, a few seconds to a minute of CPU). For a longer
search: SCALE_IN_MACHINE_PROFILE=long (2000 examples, randomized) or SCALE_IN_MACHINE_EXAMPLES=N.
"""

from __future__ import absolute_import, division, print_function
__metaclass__ = type

import os
import random

from hypothesis import HealthCheck, event, settings, strategies as st
from hypothesis.stateful import RuleBasedStateMachine, initialize, invariant, precondition, rule, run_state_machine_as_test

from octosim.testing import InProcessOctopus
from removal_world import Removal, World

NODES = ('N1', 'N2', 'N3', 'N4')
OFFLINE_GRACE = 300

settings.register_profile('ci', max_examples=200, stateful_step_count=12, derandomize=True, deadline=None, database=None,
                          suppress_health_check=list(HealthCheck), print_blob=True)
settings.register_profile('long', max_examples=2000, stateful_step_count=20, derandomize=False, deadline=None,
                          suppress_health_check=list(HealthCheck), print_blob=True)
PROFILE = settings.get_profile(os.environ.get('SCALE_IN_MACHINE_PROFILE', 'ci'))
if os.environ.get('SCALE_IN_MACHINE_EXAMPLES'):
    PROFILE = settings(PROFILE, max_examples=int(os.environ['SCALE_IN_MACHINE_EXAMPLES']))

FAULTS = [
    {'kind': 'status', 'status': 503, 'method': 'GET', 'count': 1},
    {'kind': 'status', 'status': 502, 'method': 'PUT', 'count': 1},
    {'kind': 'status', 'status': 429, 'retry_after': '7', 'count': 1},
    {'kind': 'status', 'status': 429, 'retry_after': '600', 'method': 'PUT', 'count': 1},
    {'kind': 'latency', 'latency': 20, 'method': 'PUT', 'count': 2},
    {'kind': 'latency', 'latency': 45, 'count': 1},
    {'kind': 'drop', 'method': 'PUT', 'phase': 'after', 'count': 1},
    {'kind': 'drop', 'method': 'GET', 'count': 1},
    {'kind': 'status', 'status': 500, 'method': 'POST', 'path': 'cancel', 'phase': 'after', 'count': 1},
    {'kind': 'status', 'status': 503, 'method': 'DELETE', 'count': 1},
    {'kind': 'drop', 'method': 'DELETE', 'phase': 'after', 'count': 1},
]

OPTIONS = st.fixed_dictionaries({
    'force': st.sampled_from([False, False, False, True]),
    'cancel_on_timeout': st.booleans(),
    'pending_interruptions': st.sampled_from(['block', 'cancel']),
    'stop_service': st.booleans(),
    'drain_timeout': st.sampled_from([60, 300]),
    'min_task_nodes': st.sampled_from([1, 1, 2]),
    'offline_grace': st.just(OFFLINE_GRACE),
    'primitive': st.sampled_from([False, False, False, True]),
})

COUNTERS = {'examples': 0, 'removals': 0, 'concurrent': 0, 'interrupted': 0, 'deleted': 0, 'kept': 0, 'rolled_back': 0}


class RemovalMachine(RuleBasedStateMachine):

    def __init__(self):
        super(RemovalMachine, self).__init__()
        self.world = None
        self.pending_reruns = []
        self.counter = 0

    @initialize(caps=st.lists(st.sampled_from([0, 1, 2, 5]), min_size=len(NODES), max_size=len(NODES)),
                reregisters=st.booleans(), sweep=st.sampled_from([0, 0, 300]), put=st.sampled_from(['reset', 'keep']),
                seed=st.integers(0, 2 ** 16))
    def setup(self, caps, reregisters, sweep, put, seed):
        COUNTERS['examples'] += 1
        config = {'nodes': [{'Name': n, 'MaxConcurrentTasks': c} for n, c in zip(NODES, caps)],
                  'license': {'node_limit': None},
                  'server': {'put_missing_fields': put},
                  'timing': {'deleted_live_node_reregisters': reregisters, 'deleted_node_tasks_fail_after': sweep}}
        self.world = World(InProcessOctopus(config), seed)
        self.rng = random.Random(seed)
        self.control = self.world.octo.control

    # ------------------------------------------------------------------ helpers
    def cluster(self):
        cluster = self.world.octo.simulator.cluster
        with cluster.lock:
            cluster.sync()
        return cluster

    def node(self, name):
        return self.cluster().find_node(name)

    def task_nodes(self, offline_at_start):
        return [n.name for n in self.cluster().nodes if not n.drained and n.max_tasks > 0 and n.id not in offline_at_start]

    # ------------------------------------------------------------------ the world
    @rule(change=st.sampled_from(['task arrives', 'pauses on an intervention', 'intervention answered', 'task finishes',
                                  'node goes offline', 'node comes back', 'time passes']),
          name=st.sampled_from(NODES), duration=st.sampled_from([10, 60, 400, 10 ** 6]),
          seconds=st.sampled_from([5, 45, 200, 700]), state=st.sampled_from(['Success', 'Failed']), data=st.data())
    def world_changes(self, change, name, duration, seconds, state, data):
        """Tasks arrive (queued, or paused on a manual intervention) and finish, nodes go and come back, time passes."""
        event('world: %s' % change)
        node = self.node(name)
        tasks = self.cluster().tasks
        if change == 'task arrives':
            self.control.add_task(Name='Deploy', Duration=duration)
        elif change == 'pauses on an intervention':
            if node is not None and node.heartbeat and not node.drained and node.max_tasks > 0:
                self.control.add_task(Name='Deploy', ServerNode=name, Duration=duration, HasPendingInterruptions=True)
        elif change == 'intervention answered':
            paused = sorted(t.id for t in tasks if t.pending_interruptions and t.state in ('Queued', 'Executing'))
            if paused:
                self.control.resume_task(data.draw(st.sampled_from(paused)))
        elif change == 'task finishes':
            running = sorted(t.id for t in tasks if t.state in ('Executing', 'Cancelling'))
            if running:
                self.control.finish_task(data.draw(st.sampled_from(running)), state)
        elif change == 'node goes offline' and node is not None:
            self.control.stop_node(name)
        elif change == 'node comes back' and node is not None:
            self.control.start_node(name)
        elif change == 'time passes':
            self.control.advance(seconds)

    @rule(fault=st.sampled_from(FAULTS))
    def fault(self, fault):
        self.control.add_fault(**fault)

    # ------------------------------------------------------------------ removals
    def removal(self, name, options, interrupt_after=None):
        self.counter += 1
        removal = Removal(self.world, 'R%d-%s' % (self.counter, name), name, options)
        removal.interrupt_after = interrupt_after
        return removal

    @rule(names=st.lists(st.sampled_from(NODES), min_size=1, max_size=2, unique=True).map(sorted),
          options=st.lists(OPTIONS, min_size=2, max_size=2),
          interrupt=st.lists(st.one_of(st.none(), st.integers(1, 25)), min_size=2, max_size=2))
    def removals(self, names, options, interrupt):
        batch = [self.removal(n, o, i) for n, o, i in zip(names, options, interrupt)]
        self.run_batch(batch)

    @precondition(lambda self: self.pending_reruns)
    @rule()
    def rerun_interrupted(self):
        batch = [self.removal(r.node, r.options) for r in self.pending_reruns[:2]]
        self.pending_reruns = self.pending_reruns[2:]
        self.run_batch(batch)

    def run_batch(self, batch):
        cluster = self.cluster()
        offline_at_start = set(n.id for n in cluster.nodes if cluster.is_offline(n))
        before = self.task_nodes(offline_at_start)
        deletes_before = len(self.world.watcher.deletes)
        COUNTERS['removals'] += len(batch)
        COUNTERS['concurrent'] += len(batch) > 1
        self.world.run_together(batch, self.rng)
        after = self.task_nodes(offline_at_start)
        forced = any(r.options['force'] for r in batch)
        minimum = min(r.options['min_task_nodes'] for r in batch)
        if not forced:
            assert len(after) >= min(minimum, len(before)), (
                'removals %s left task nodes %s (before %s, min_task_nodes %d)' % ([r.name for r in batch], after, before, minimum))
        for removal in batch:
            self.after_removal(removal)
        self.check_reregistered(batch, deletes_before)
        event('deletes in batch: %d' % (len(self.world.watcher.deletes) - deletes_before))

    def after_removal(self, removal):
        event('removal outcome: %s' % removal.outcome)
        if removal.outcome == 'interrupted':
            COUNTERS['interrupted'] += 1
            self.pending_reruns.append(removal)
            return
        last = removal.results[-1][2] if removal.results else {}
        if 'Rolled back' in str(last.get('msg')):
            COUNTERS['rolled_back'] += 1
        COUNTERS['deleted'] += bool(last.get('deleted'))
        COUNTERS['kept'] += bool(last.get('record_kept'))
        if removal.outcome != 'done' or last.get('reregistered'):
            return
        # Converges: the same removal again, at once, changes nothing and writes nothing.
        again = self.removal(removal.node, dict(removal.options, stop_service=removal.options['stop_service']))
        again.run()
        results = [r for o, check_mode, r in again.results if not check_mode]  # a check-mode 'changed' is a prediction
        assert again.mutations == 0 and not any(r.get('changed') for r in results), (
            're-running %s (%s) wrote again: %s' % (removal.name, removal.options, results))

    def check_reregistered(self, batch, deletes_before):
        """A live node deleted by the module primitive that registered again is drained with task cap 0 (section 5)."""
        primitive = set(r.name for r in batch if r.options.get('primitive') and r.outcome == 'done')
        for delete in self.world.watcher.deletes[deletes_before:]:
            if delete['actor'] not in primitive or not delete['live']:
                continue
            node = self.node(delete['node'])
            event('a live node was deleted by the primitive (re-registered: %s)' % (node is not None))
            if node is not None:
                assert node.drained and node.max_tasks == 0, 'node %s came back undrained: drained=%s cap=%s' % (
                    node.name, node.drained, node.max_tasks)

    # ------------------------------------------------------------------ invariants
    @invariant()
    def no_unsafe_delete(self):
        if self.world is None:
            return
        for delete in self.world.watcher.deletes:
            assert not delete['live'] or delete['primitive'], 'deleted %s while its service still ran: %s' % (delete['node'], delete)
            assert not delete['pinned'], 'deleted %s with paused deployments pinned to it: %s' % (delete['node'], delete)
            assert delete['forced'] or not delete['executing'], 'deleted busy node %s without force: %s' % (delete['node'], delete)

    @invariant()
    def no_cancel_without_opt_in(self):
        if self.world is None:
            return
        for cancel in self.world.watcher.cancels:
            assert cancel['why'], 'cancelled %s without an opt-in or an expired deadline: %s' % (cancel['task'], cancel)

    def teardown(self):
        self.world = None


def test_removal_invariants_hold():
    run_state_machine_as_test(RemovalMachine, settings=PROFILE)
    print('removal machine: %s' % COUNTERS)
    assert COUNTERS['examples'] >= min(PROFILE.max_examples, 200)
