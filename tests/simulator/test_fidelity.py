# Copyright (c) octopus.ha contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Behaviours read against the Octopus clients and OctopusDeploy/Issues (issue 8 section 8).

Each test names its source; docs/simulator.md lists them too.
"""
from __future__ import absolute_import, division, print_function
__metaclass__ = type

import pytest

from octosim.testing import ADMIN_KEY, InProcessOctopus

TWO = {'nodes': [{'Name': 'A', 'PollOffset': 5, 'MaxConcurrentTasks': 1}, {'Name': 'B', 'PollOffset': 15}]}
VIEWER = 'API-VIEWER00000000000000000000'
KEYS = [{'name': 'admin', 'key': ADMIN_KEY, 'permissions': ['*']}, {'name': 'viewer', 'key': VIEWER, 'permissions': ['TaskView']}]


def task(sim, task_id):
    status, dummy, body = sim.request('GET', 'tasks/%s' % task_id)
    assert status == 200
    return body


def summary_entry(sim, name):
    return [n for n in sim.request('GET', 'octopusservernodes/summary')[2]['Nodes'] if n['Name'] == name][0]


# ---- a deployment waiting on a manual intervention (Issues #4564, #4846, #6372, #10041) ----

def test_paused_deployment_is_queued_pinned_to_its_node_and_frees_its_cap_spot(make_sim):
    sim = make_sim(TWO)
    paused = sim.control.add_task(Name='Deploy', ServerNode='A', Duration=60, HasPendingInterruptions=True)
    body = task(sim, paused['Id'])
    assert body['State'] == 'Queued' and body['ServerNode'] == 'OctopusServerNodes-A'
    assert body['HasPendingInterruptions'] is True and body['PendingInterruptionTypes'] == ['ManualIntervention']
    assert summary_entry(sim, 'A')['RunningTaskCount'] == 0
    # A's only cap spot is free: A picks up new work at its next poll (#10041: a paused task frees its spot).
    other = sim.control.add_task(Name='Deploy', Duration=600)
    sim.control.advance(6)
    assert task(sim, other['Id'])['ServerNode'] == 'OctopusServerNodes-A'
    # Nobody resumes it while the intervention waits, and no other node takes it (node affinity, #4846, #6372).
    sim.control.advance(5000)
    assert task(sim, paused['Id'])['State'] == 'Queued'


def test_paused_deployment_resumes_only_on_its_own_node_once_answered(make_sim):
    sim = make_sim(TWO)
    paused = sim.control.add_task(Name='Deploy', ServerNode='A', Duration=60, HasPendingInterruptions=True)
    blocker = sim.control.add_task(Name='Deploy', ServerNode='A', Duration=100, State='Executing')
    sim.control.resume_task(paused['Id'])
    assert task(sim, paused['Id'])['HasPendingInterruptions'] is False
    sim.control.advance(40)
    assert task(sim, paused['Id'])['State'] == 'Queued', 'A is at its cap; B never takes a task pinned to A'
    sim.control.advance(65)  # the blocker ends at 100, A polls at 105
    body = task(sim, paused['Id'])
    assert task(sim, blocker['Id'])['State'] == 'Success'
    assert body['State'] == 'Executing' and body['ServerNode'] == 'OctopusServerNodes-A'
    sim.control.advance(60)
    assert task(sim, paused['Id'])['State'] == 'Success'


def test_paused_deployment_of_a_deleted_node_is_stranded(make_sim):
    """Issue #6372: a task waiting to resume on a node that is gone stays stuck; deleting fails only running tasks."""
    sim = make_sim(dict(TWO, timing={'orphan_after': 60}))
    paused = sim.control.add_task(Name='Deploy', ServerNode='A', Duration=60, HasPendingInterruptions=True)
    assert sim.request('DELETE', 'octopusservernodes/OctopusServerNodes-A')[0] == 200
    sim.control.resume_task(paused['Id'])
    sim.control.advance(7200)
    assert task(sim, paused['Id'])['State'] == 'Queued'


def test_guided_failure_stays_executing(make_sim):
    sim = make_sim(TWO)
    waiting = sim.control.add_task(Name='Deploy', ServerNode='A', Duration=10, State='Executing', HasPendingInterruptions=True,
                                   PendingInterruptionTypes=['GuidedFailure'])
    sim.control.advance(5000)
    assert task(sim, waiting['Id'])['State'] == 'Executing'
    assert summary_entry(sim, 'A')['RunningTaskCount'] == 1


def test_paused_task_can_be_cancelled_at_once(make_sim):
    sim = make_sim(TWO)
    paused = sim.control.add_task(Name='Deploy', ServerNode='A', Duration=60, HasPendingInterruptions=True)
    assert sim.request('POST', 'tasks/%s/cancel' % paused['Id'])[2]['State'] == 'Canceled'


def test_queued_task_with_an_interruption_pauses_on_the_node_that_picks_it_up(make_sim):
    sim = make_sim(TWO)
    queued = sim.control.add_task(Name='Deploy', Duration=60, HasPendingInterruptions=True)
    sim.control.advance(6)
    body = task(sim, queued['Id'])
    assert body['State'] == 'Queued' and body['ServerNode'] == 'OctopusServerNodes-A' and body['HasBeenPickedUpByProcessor']


# ---- reading nodes (Issues #2228) ---------------------------------------------------------

def test_any_valid_key_reads_nodes_by_default(make_sim):
    sim = make_sim(dict(TWO, api_keys=KEYS))
    for path in ('octopusservernodes', 'octopusservernodes/summary', 'octopusservernodes/OctopusServerNodes-A'):
        assert sim.request('GET', path, api_key=VIEWER)[0] == 200, path
    assert sim.request('GET', 'octopusservernodes', api_key='API-NOTAKEY000000000000000000')[0] == 401
    assert sim.request('PUT', 'octopusservernodes/OctopusServerNodes-A', {'Name': 'A'}, api_key=VIEWER)[0] == 403


def test_strict_node_read_mode(make_sim):
    sim = make_sim(dict(TWO, api_keys=KEYS, permissions={'node_read': ['AdministerSystem']}))
    status, dummy, body = sim.request('GET', 'octopusservernodes/summary', api_key=VIEWER)
    assert status == 403 and body['ErrorMessage'].endswith('Missing permission: AdministerSystem')


# ---- DELETE of a running node (Issues #5729, #4538) -------------------------------------

def test_deleted_live_node_reregisters_undrained_with_its_default_cap(make_sim):
    sim = make_sim(dict(TWO, timing={'deleted_live_node_reregisters': True}))
    node = sim.request('GET', 'octopusservernodes/OctopusServerNodes-B')[2]
    node.update(IsInMaintenanceMode=True, MaxConcurrentTasks=0)
    sim.request('PUT', 'octopusservernodes/OctopusServerNodes-B', node)
    assert sim.request('DELETE', 'octopusservernodes/OctopusServerNodes-B')[0] == 200
    sim.control.advance(15)
    status, dummy, back = sim.request('GET', 'octopusservernodes/OctopusServerNodes-B')
    assert status == 200
    assert back['IsInMaintenanceMode'] is False and back['MaxConcurrentTasks'] == 5


def test_deleted_stopped_node_never_reregisters(make_sim):
    sim = make_sim(dict(TWO, timing={'deleted_live_node_reregisters': True}))
    sim.control.stop_node('B')
    sim.request('DELETE', 'octopusservernodes/OctopusServerNodes-B')
    sim.control.advance(600)
    assert sim.request('GET', 'octopusservernodes/OctopusServerNodes-B')[0] == 404


def test_tasks_of_a_deleted_node_fail_at_the_next_sweep_when_configured(make_sim):
    sim = make_sim(dict(TWO, timing={'deleted_node_tasks_fail_after': 300}))
    running = sim.control.add_task(Name='Deploy', ServerNode='B', Duration=100000)
    sim.request('DELETE', 'octopusservernodes/OctopusServerNodes-B')
    sim.control.advance(299)
    assert task(sim, running['Id'])['State'] == 'Executing'
    sim.control.advance(1)
    body = task(sim, running['Id'])
    assert body['State'] == 'Failed' and 'deleted' in body['ErrorMessage']


# ---- PUT (OctopusDeploy-Api PR #209) ------------------------------------------------------

def test_put_missing_fields_kept_when_configured(make_sim):
    sim = make_sim(dict(TWO, server={'put_missing_fields': 'keep'}))
    partial = {'Id': 'OctopusServerNodes-B', 'IsInMaintenanceMode': True}
    status, dummy, body = sim.request('PUT', 'octopusservernodes/OctopusServerNodes-B', partial)
    assert status == 200
    assert body['Name'] == 'B' and body['MaxConcurrentTasks'] == 5 and body['IsInMaintenanceMode'] is True


def test_put_with_a_non_string_name_renames_the_node(make_sim):
    sim = make_sim(TWO)
    node = sim.request('GET', 'octopusservernodes/OctopusServerNodes-B')[2]
    node['Name'] = 42
    status, dummy, body = sim.request('PUT', 'octopusservernodes/OctopusServerNodes-B', node)
    assert status == 200 and body['Name'] == '42'


def test_bad_put_mode_is_a_config_error():
    from octosim import config
    with pytest.raises(config.ConfigError):
        config.load({'server': {'put_missing_fields': 'maybe'}})


# ---- control routes ------------------------------------------------------------------------

def test_control_routes_answer_405_and_404_like_the_api(make_sim):
    sim = make_sim(TWO)
    status, dummy, body = sim.request('DELETE', '/_sim/state')
    assert status == 405 and 'not allowed' in body['ErrorMessage']
    assert sim.request('GET', '/_sim/nope')[0] == 404
    assert sim.request('GET', '/_sim/nodes/zzz')[0] == 404


# ---- in process ----------------------------------------------------------------------------

def test_in_process_transport_serves_the_same_api_and_faults_without_sockets():
    octo = InProcessOctopus({'nodes': ['A', 'B']})
    status, headers, body = octo.request('GET', 'octopusservernodes/summary')
    assert status == 200 and [n['Name'] for n in body['Nodes']] == ['A', 'B']
    assert headers['Octopus-Node'].startswith('name=A;') and 'Date' in headers
    octo.control.add_fault(kind='latency', latency=30, method='GET', count=1)
    before = octo.clock_now()
    assert octo.request('GET', 'octopusservernodes')[0] == 200
    assert octo.clock_now() - before == 30, 'latency moves the frozen cluster clock instead of sleeping'
    octo.control.add_fault(kind='drop', method='GET', count=1)
    with pytest.raises(OSError):
        octo.request('GET', 'octopusservernodes')
    assert [e['status'] for e in octo.control.requests()][-3:] == [200, 200, 'dropped']
