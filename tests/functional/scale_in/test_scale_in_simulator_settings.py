# -*- coding: utf-8 -*-

# Copyright: Contributors to the octopus.ha collection
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

"""The removal under each of the simulator's uncertain behaviours (issue 8 sections 5 and 8).

REFERENCE leaves open what a real server does in these cases; the simulator models both answers as
settings, and the collection must be safe under each:
- a node deleted while its service runs: it stays gone (its heartbeats fail), or it writes its row
  back at its next heartbeat, undrained with its default cap;
- the running tasks of a deleted node: failed at once, or at a later sweep;
- a PUT with fields missing: they are reset, or kept.
The module runs unchanged in forked children with the simulator's frozen clock (scale_in_runner).
"""

from __future__ import absolute_import, division, print_function
__metaclass__ = type

import pytest

from scale_in_runner import TARGET, TARGET_ID, by_method, cluster, node_state, task_states

REMOVE = {'name': TARGET, 'state': 'absent', 'poll_interval': 5, 'drain_timeout': 60}


@pytest.mark.parametrize('reregisters', [False, True])
def test_a_live_node_deleted_by_the_module_never_comes_back_undrained(sim_factory, module, reregisters):
    sim = sim_factory(cluster(nodes=('OCTO-NODE-01', 'OCTO-NODE-02', {'Name': TARGET, 'MaxConcurrentTasks': 4}),
                              timing={'deleted_live_node_reregisters': reregisters}), speed=0)
    result = module('octopus_node', REMOVE, sim)
    assert result.get('rc', 0) == 0 and not result.get('failed'), result
    node = node_state(sim)
    if reregisters:
        assert result['reregistered'] is True and result['record_kept'] is True and result['deleted'] is False
        assert node is not None and node['IsInMaintenanceMode'] is True and node['MaxConcurrentTasks'] == 0
        assert any('registered itself again' in str(w) for w in result.get('warnings', []))
    else:
        assert result['deleted'] is True and result['reregistered'] is False and node is None


@pytest.mark.parametrize('reregisters', [False, True])
def test_the_node_is_not_deleted_at_all_without_a_verified_stop(sim_factory, module, reregisters):
    sim = sim_factory(cluster(timing={'deleted_live_node_reregisters': reregisters}), speed=0)
    result = module('octopus_node', dict(REMOVE, delete_online=False), sim)
    assert not result.get('failed'), result
    assert result['record_kept'] is True and by_method(sim.control.requests(), 'DELETE') == []


@pytest.mark.parametrize('sweep', [0, 300])
def test_tasks_of_a_gone_node_are_reported_lost_whether_the_server_fails_them_at_once_or_later(sim_factory, module, sweep):
    sim = sim_factory(cluster(timing={'deleted_node_tasks_fail_after': sweep, 'orphan_after': 10 ** 7}), speed=0)
    task = sim.control.add_task(Name='Deploy', ServerNode=TARGET, State='Executing', Duration=10 ** 7)
    sim.control.stop_node(TARGET)
    sim.control.advance(700)   # offline longer than offline_grace (600 s)
    result = module('octopus_node', REMOVE, sim)
    assert not result.get('failed'), result
    assert result['deleted'] is True and result['lost_tasks'] == [task['Id']]
    sim.control.advance(sweep + 1)
    assert task_states(sim)[task['Id']] == 'Failed'


@pytest.mark.parametrize('mode', ['reset', 'keep'])
def test_read_modify_write_keeps_name_and_cap_under_both_put_modes(sim_factory, module, mode):
    sim = sim_factory(cluster(nodes=('OCTO-NODE-01', 'OCTO-NODE-02', {'Name': TARGET, 'MaxConcurrentTasks': 3}),
                              server={'put_missing_fields': mode}), speed=0)
    result = module('octopus_node', {'id': TARGET_ID, 'state': 'drained', 'wait': False}, sim)
    assert not result.get('failed'), result
    node = node_state(sim)
    assert node['IsInMaintenanceMode'] is True and node['MaxConcurrentTasks'] == 3 and node['Name'] == TARGET
    (put,) = by_method(sim.control.requests(), 'PUT')
    assert put['body']['Name'] == TARGET and put['body']['MaxConcurrentTasks'] == 3
