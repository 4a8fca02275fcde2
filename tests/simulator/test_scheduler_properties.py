# Copyright (c) octopus.ha contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Hypothesis state machine over the scheduler (in process, no HTTP).

Invariants: a node never runs more tasks than its cap (unless the cap was lowered under running
work, which then only shrinks); drained, stopped or deleted nodes never start a task; Cancelling
only becomes Canceled while the owning node is live; no task is ever owned by an unknown node
while running; clocks and timestamps only move forward.
"""
from __future__ import absolute_import, division, print_function
__metaclass__ = type

import pytest

hypothesis = pytest.importorskip('hypothesis')

from hypothesis import settings, strategies as st  # noqa: E402  pylint: disable=wrong-import-position
from hypothesis.stateful import RuleBasedStateMachine, initialize, invariant, rule  # noqa: E402  pylint: disable=wrong-import-position

from octosim import config as sim_config  # noqa: E402  pylint: disable=wrong-import-position
from octosim.model import Cluster, RUNNING_STATES, SimError  # noqa: E402  pylint: disable=wrong-import-position

NAMES = ('A', 'B', 'C')


class CheckedCluster(Cluster):
    """Asserts the scheduler's preconditions at the moment it acts."""

    def _on_poll(self, node, when):
        before = dict((t.id, t.state) for t in self.tasks)
        super(CheckedCluster, self)._on_poll(node, when)
        started = [t for t in self.tasks if before.get(t.id) == 'Queued' and t.state == 'Executing']
        if started:
            assert node in self.nodes
            assert node.heartbeat and not node.graceful_offline, 'a stopped node started a task'
            assert not node.drained, 'a drained node started a task'
            assert len(self.running_tasks(node)) <= node.max_tasks, 'task cap exceeded'
            assert all(t.server_node == node.id and t.start_time == when for t in started)

    def _on_cancelled(self, task, when):
        owner = self.node_by_id(task.server_node)
        assert owner is not None and owner.heartbeat, 'Cancelling resolved without a live owner'
        super(CheckedCluster, self)._on_cancelled(task, when)


class SchedulerMachine(RuleBasedStateMachine):

    @initialize(caps=st.lists(st.integers(0, 3), min_size=3, max_size=3),
                offsets=st.lists(st.integers(0, 19), min_size=3, max_size=3))
    def setup(self, caps, offsets):
        cfg = sim_config.load({'nodes': [{'Name': n, 'MaxConcurrentTasks': c, 'PollOffset': o} for n, c, o in zip(NAMES, caps, offsets)],
                               'timing': {'orphan_after': 600}})
        self.cluster = CheckedCluster(cfg, speed=0)
        for dummy in range(4):
            self.cluster.add_task({'Name': 'Deploy', 'Duration': 45})
        self.allowed_excess = {}
        self.previous = {}
        self.last_now = self.cluster.sim_now
        self.snapshot()

    def snapshot(self):
        self.previous = dict((t.id, t.state) for t in self.cluster.tasks)

    def node(self, name):
        return self.cluster.find_node(name)

    @rule(count=st.integers(1, 3), duration=st.integers(0, 120), pending=st.booleans(),
          outcome=st.sampled_from(['Success', 'Failed']))
    def queue_tasks(self, count, duration, pending, outcome):
        for dummy in range(count):
            self.cluster.add_task({'Name': 'Deploy', 'Duration': duration, 'HasPendingInterruptions': pending, 'Outcome': outcome})

    @rule(seconds=st.floats(0, 300, allow_nan=False))
    def advance(self, seconds):
        self.cluster.advance(seconds)

    @rule(seconds=st.floats(15, 90, allow_nan=False))
    def advance_more(self, seconds):
        self.cluster.advance(seconds)

    @rule(name=st.sampled_from(NAMES), drained=st.booleans())
    def drain(self, name, drained):
        node = self.node(name)
        if node is not None:
            self.cluster.update_node(node, {'Name': node.name, 'MaxConcurrentTasks': node.max_tasks, 'IsInMaintenanceMode': drained}, 'test')

    @rule(name=st.sampled_from(NAMES), cap=st.integers(0, 3))
    def set_cap(self, name, cap):
        node = self.node(name)
        if node is not None:
            running = len(self.cluster.running_tasks(node))
            if running > cap:
                self.allowed_excess[node.id] = running
            self.cluster.update_node(node, {'Name': node.name, 'MaxConcurrentTasks': cap, 'IsInMaintenanceMode': node.drained}, 'test')

    @rule(name=st.sampled_from(NAMES), graceful=st.booleans())
    def stop(self, name, graceful):
        node = self.node(name)
        if node is not None:
            self.cluster.stop_node(node, graceful)

    @rule(name=st.sampled_from(NAMES))
    def start(self, name):
        node = self.node(name)
        if node is not None:
            self.cluster.start_node(node)

    @rule(name=st.sampled_from(NAMES))
    def delete_or_readd(self, name):
        node = self.node(name)
        if node is not None:
            self.cluster.delete_node(node)
        else:
            self.cluster.add_node({'Name': name, 'MaxConcurrentTasks': 2})

    @rule(index=st.integers(0, 50), any_task=st.booleans())
    def cancel(self, index, any_task):
        candidates = [t for t in self.cluster.tasks if any_task or t.state in RUNNING_STATES]
        if candidates:
            task = candidates[index % len(candidates)]
            before = task.state
            self.cluster.cancel_task(task)
            if before == 'Queued':
                assert task.state == 'Canceled'
            elif before not in ('Executing',):
                assert task.state == before, 'cancel changed a %s task' % before

    @rule(index=st.integers(0, 50))
    def bad_finish(self, index):
        if self.cluster.tasks:
            with pytest.raises(SimError):
                self.cluster.finish_task(self.cluster.tasks[index % len(self.cluster.tasks)], 'Executing')

    @invariant()
    def invariants(self):
        cluster = self.cluster
        assert cluster.sim_now >= self.last_now
        self.last_now = cluster.sim_now
        for node in cluster.nodes:
            running = len(cluster.running_tasks(node))
            allowed = max(node.max_tasks, min(self.allowed_excess.get(node.id, 0), running))
            self.allowed_excess[node.id] = min(self.allowed_excess.get(node.id, 0), running)
            assert running <= allowed, '%s runs %d tasks with cap %d' % (node.name, running, node.max_tasks)
        for task in cluster.tasks:
            before = self.previous.get(task.id)
            owner = cluster.node_by_id(task.server_node) if task.server_node else None
            if task.state in RUNNING_STATES:
                assert owner is not None, '%s is %s on a node that does not exist' % (task.id, task.state)
            if before == 'Queued' and task.state == 'Executing':
                assert owner is not None and owner.heartbeat and not owner.drained
            if before == 'Cancelling' and task.state == 'Canceled':
                assert owner is not None and owner.heartbeat, 'Cancelling resolved without a live owner'
            if task.state == 'Executing' and task.pending_interruptions:
                assert task.completed_time is None
            if task.completed_time is not None and task.start_time is not None:
                assert task.completed_time >= task.start_time - 1e-3
        self.snapshot()


SchedulerMachine.TestCase.settings = settings(max_examples=80, stateful_step_count=30, deadline=None, derandomize=True,
                                              database=None)
TestScheduler = SchedulerMachine.TestCase
