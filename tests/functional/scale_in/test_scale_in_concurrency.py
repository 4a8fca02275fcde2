# -*- coding: utf-8 -*-

# Copyright: Contributors to the octopus.ha collection
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

"""Concurrent removals and the capacity guard (issue 8 section 2).

Two removals started together, for the last two task nodes, used to both pass the guard: each read
the summary before the other's drain landed, and the cluster ended with no node that takes tasks.
The module now reads the cluster again after its drain write and rolls its own drain back when
the guard no longer holds.

The modules run unchanged in forked children against one simulator (frozen clock); a latency
fault on PUT holds both drains back so that both guards read the cluster before either drain
lands. Whatever the interleaving (fast or slow machine), the invariant must hold every time.
"""

from __future__ import absolute_import, division, print_function
__metaclass__ = type

from scale_in_runner import by_method, cluster

REPEATS = 20
TASK_NODES = ('OCTO-NODE-01', 'OCTO-NODE-02')


def online_task_nodes(sim):
    return [n['Name'] for n in sim.control.state()['nodes']
            if not n['IsOffline'] and not n['IsInMaintenanceMode'] and n['MaxConcurrentTasks'] > 0]


def test_concurrent_removals_of_the_last_two_task_nodes_keep_min_task_nodes(sim_factory, module):
    sim = sim_factory(cluster(nodes=TASK_NODES + ({'Name': 'OCTO-UI', 'MaxConcurrentTasks': 0},)), speed=0)
    outcomes = []
    for repeat in range(REPEATS):
        sim.control.reset()
        sim.control.add_fault(kind='latency', latency=0.1, method='PUT')
        runs = [module('octopus_node', {'name': name, 'state': 'absent', 'min_task_nodes': 1, 'drain_timeout': 60,
                                        'poll_interval': 5}, sim, wait=False) for name in TASK_NODES]
        results = [run.result() for run in runs]
        for result in results:
            assert 'runner_error' not in result, result['runner_error']
        remaining = online_task_nodes(sim)
        outcomes.append((repeat, [(r.get('failed', False), r.get('deleted'), r.get('msg')) for r in results], remaining))
        assert len(remaining) >= 1, 'repeat %d left no online, undrained task node: %s' % (repeat, outcomes[-1])
        for result in results:
            if result.get('failed') and 'drained at the same time' in result.get('msg', ''):
                # A rolled-back removal names the other drained node and restored its own settings.
                assert 'OCTO-NODE-0' in result['msg']
        puts = by_method(sim.control.requests(), 'PUT')
        assert all(p['body']['Name'] in TASK_NODES for p in puts)
    deleted = sum(1 for dummy, runs, dummy2 in outcomes for failed, was_deleted, dummy3 in runs if was_deleted and not failed)
    assert deleted <= REPEATS, outcomes
