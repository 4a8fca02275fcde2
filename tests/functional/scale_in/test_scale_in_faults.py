# -*- coding: utf-8 -*-

# Copyright: Contributors to the octopus.ha collection
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

"""Scale-in under faults and bad inputs: docs reliability-and-security (b) rows 1-14, 18, 24-28.

Each test names its row. The playbook runs through ansible-playbook; a few rows that are pure
module behaviour (malformed responses) run the module in-process against the same simulator.
Assertions are on the simulator's request log and state; no test asserts a timing.
"""

from __future__ import absolute_import, division, print_function
__metaclass__ = type

import socket
import time

import pytest

from octosim.testing import ADMIN_KEY
from scale_in_runner import (TARGET, TARGET_ID, FinishAfterDrain, by_method, cluster, mutating, node_names,
                             record_kept, requests_since, succeeded_mutations, task_states)

FAST_RETRIES = {'node_remove_request_deadline': 6, 'node_remove_max_retries': 3, 'node_remove_request_timeout': 2}


def free_port():
    with socket.socket() as sock:
        sock.bind(('127.0.0.1', 0))
        return sock.getsockname()[1]


def wait_for(predicate, timeout=60, what='condition'):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(0.1)
    raise AssertionError('timed out waiting for %s' % what)


def drained(sim, name=TARGET):
    return [n for n in sim.control.state()['nodes'] if n['Name'] == name][0]['IsInMaintenanceMode']


def vm_gone(sim, name=TARGET):
    """The VM was terminated: no more heartbeats, and 61 s later (frozen clock) the server reports the node offline,
    so node_remove may delete its record without stopping a service (issue 8 section 5)."""
    sim.control.stop_node(name)
    sim.control.advance(61)


def drain_puts(log):
    """The drain PUTs, not the cap-0 write of a kept record (a PUT answered by a fault has no body in the log)."""
    def is_drain(entry):
        body = entry.get('body')
        return body is None or (body.get('IsInMaintenanceMode') and body.get('MaxConcurrentTasks') != 0)
    return [e for e in by_method(log, 'PUT') if is_drain(e)]


# ------------------------------------------------------------------ rows 1-4: transport and auth
def test_row01_api_unreachable_fails_clearly(scale_in):
    url = 'http://127.0.0.1:%d' % free_port()
    result = scale_in(None, url=url, extra_vars=FAST_RETRIES)
    assert result.rc != 0
    assert '127.0.0.1' in result.messages()


def test_row02_transient_5xx_is_retried(sim_factory, scale_in):
    sim = sim_factory(cluster(), speed=0)
    vm_gone(sim)
    sim.control.add_fault(kind='status', status=503, method='GET', path='summary', count=2)
    sim.control.add_fault(kind='status', status=502, method='PUT', count=1)
    sim.control.add_fault(kind='html', status=504, method='DELETE', count=1)
    result = scale_in(sim, extra_vars=FAST_RETRIES)
    assert result.rc == 0, result.explain()
    assert TARGET not in node_names(sim)
    log = requests_since(sim)
    puts = by_method(log, 'PUT')
    assert [e['status'] for e in puts] == [502, 200]
    assert [e['status'] for e in by_method(log, 'DELETE')] == [504, 200]


def test_row02_persistent_5xx_fails_with_the_status_and_changes_nothing(sim_factory, scale_in):
    sim = sim_factory(cluster(), speed=0)
    sim.control.add_fault(kind='status', status=500, method='PUT')
    result = scale_in(sim, extra_vars=FAST_RETRIES)
    assert result.rc != 0
    assert '500' in result.messages()
    assert not drained(sim)
    assert TARGET in node_names(sim)
    assert by_method(requests_since(sim), 'DELETE') == []


def test_row03_rate_limit_waits_for_retry_after_and_warns(sim_factory, scale_in):
    sim = sim_factory(cluster(), speed=0)
    sim.control.add_fault(kind='status', status=429, retry_after='1', method='PUT', count=1)
    result = scale_in(sim)
    assert result.rc == 0, result.explain()
    puts = drain_puts(requests_since(sim))
    assert [e['status'] for e in puts] == [429, 200]
    assert 'rate limited' in result.stdout + result.stderr


@pytest.mark.parametrize('key, status, words', [
    ('API-WRONGKEY000000000000000000', 401, 'key'),
    ('API-VIEWER00000000000000000000', 403, 'AdministerSystem'),
])
def test_row04_auth_errors_fail_at_once(sim_factory, scale_in, key, status, words):
    # Any valid key reads nodes (Issues #2228, the simulator's default), so the viewer gets as far as the drain PUT.
    sim = sim_factory(cluster(api_keys=[
        {'name': 'admin', 'key': ADMIN_KEY, 'permissions': ['*']},
        {'name': 'viewer', 'key': 'API-VIEWER00000000000000000000', 'permissions': ['TaskView']}]), speed=0)
    result = scale_in(sim, api_key=key)
    assert result.rc != 0
    assert words in result.messages()
    log = requests_since(sim)
    failing = [e for e in log if e['status'] == status]
    assert failing
    for first, second in zip(log, log[1:]):
        assert not (first['status'] == status and (first['method'], first['path']) == (second['method'], second['path'])), \
            'a %s was retried: %s' % (status, first['path'])
    assert succeeded_mutations(log) == [] and not drained(sim)
    assert key not in result.stdout + result.stderr


# ------------------------------------------------------------------ rows 5-6: unknown outcome of a write
def test_row05_timeout_after_the_drain_put_is_reconciled(sim_factory, scale_in):
    sim = sim_factory(cluster(nodes=('OCTO-NODE-01', 'OCTO-NODE-02', {'Name': TARGET, 'MaxConcurrentTasks': 3})), speed=0)
    vm_gone(sim)
    sim.control.add_fault(kind='timeout', latency=3, method='PUT', phase='after', count=1)
    result = scale_in(sim, extra_vars={'node_remove_request_timeout': 1})
    assert result.rc == 0, result.explain()
    assert TARGET not in node_names(sim)
    puts = by_method(requests_since(sim), 'PUT')
    assert puts, 'the drain was sent'
    for put in puts:
        assert put['body']['Name'] == TARGET and put['body']['MaxConcurrentTasks'] == 3


def test_row06_5xx_after_the_cancel_post_is_not_blindly_replayed(sim_factory, scale_in):
    sim = sim_factory(cluster(speed=60))
    task = sim.control.add_task(Name='Deploy', ServerNode=TARGET, State='Executing', Duration=100000)
    sim.control.add_fault(kind='status', status=500, method='POST', path='cancel', phase='after', count=1)
    result = scale_in(sim, extra_vars={'node_remove_drain_timeout': 2, 'node_remove_cancel_on_timeout': True,
                                       'node_remove_cancel_timeout': 60})
    assert result.rc == 0, result.explain()
    posts = by_method(requests_since(sim), 'POST', 'cancel')
    assert len(posts) == 1, [(e['path'], e['status']) for e in posts]
    assert task_states(sim)[task['Id']] == 'Canceled'
    assert record_kept(sim), 'the node still runs: its record is kept drained with cap 0'


# ------------------------------------------------------------------ rows 7-9: node states and names
def test_row09_ambiguous_name_lists_the_candidates(sim_factory, scale_in):
    sim = sim_factory(cluster(nodes=('OCTO-NODE-01', 'OCTO-NODE-02', TARGET, TARGET.lower() + ' ')), speed=0)
    result = scale_in(sim)
    assert result.rc != 0
    message = result.messages()
    assert TARGET_ID in message and 'OctopusServerNodes-%s ' % TARGET.lower() in message
    assert mutating(requests_since(sim)) == []
    by_id = scale_in(sim, node=None, extra_vars={'node_remove_id': TARGET_ID})
    assert by_id.rc == 0, by_id.explain()
    assert record_kept(sim) and not record_kept(sim, TARGET.lower() + ' ')


# ------------------------------------------------------------------ rows 10-13: things change under us
def test_row10_node_deleted_by_someone_else_mid_drain(sim_factory, scale_in):
    sim = sim_factory(cluster(), speed=0)
    sim.control.add_task(Name='Deploy', ServerNode=TARGET, State='Executing', Duration=100000)
    running = scale_in(sim, background=True, extra_vars={'node_remove_drain_timeout': 120})
    wait_for(lambda: by_method(requests_since(sim), 'PUT'), what='the drain PUT')
    status, dummy, dummy2 = sim.request('DELETE', '/api/octopusservernodes/%s' % TARGET_ID)
    assert status == 200
    result = running.wait()
    assert result.rc == 0, result.explain()
    assert TARGET not in node_names(sim)


NO_ORPHAN_SWEEP = {'orphan_after': 10 ** 7}  # the server's own 1-hour sweep must not end the task first


def test_row11_node_offline_mid_drain_is_removed_after_offline_grace_and_lost_tasks_reported(sim_factory, scale_in):
    sim = sim_factory(cluster(timing=NO_ORPHAN_SWEEP), speed=0)
    task = sim.control.add_task(Name='Deploy', ServerNode=TARGET, State='Executing', Duration=10 ** 7)
    running = scale_in(sim, background=True, extra_vars={'node_remove_drain_timeout': 600})
    wait_for(lambda: by_method(requests_since(sim), 'PUT'), what='the drain PUT')
    sim.control.stop_node(TARGET)
    sim.control.advance(120)
    # Offline for 60 s, but within offline_grace (600 s): waited on like a live node, nothing cancelled yet.
    seq = requests_since(sim)[-1]['seq']
    # Two polls of any kind (a quiet poll reads only the node's tasks; a full step, at least once a minute, the node too).
    wait_for(lambda: len(by_method(requests_since(sim, seq), 'GET', r'/api/tasks$|summary$')) >= 2, what='two polls of the offline node')
    assert by_method(requests_since(sim), 'POST') == [] and TARGET in node_names(sim)
    sim.control.advance(600)
    result = running.wait()
    assert result.rc == 0, result.explain()
    assert TARGET not in node_names(sim)
    assert task_states(sim)[task['Id']] in ('Failed', 'Canceled')
    assert task['Id'] in result.result('Report the removal')['msg'].split('Lost (failed by the server): ')[1], 'reported as lost'


def test_row12_deadline_leaves_the_node_drained_then_a_rerun_with_cancel_converges(sim_factory, scale_in):
    sim = sim_factory(cluster(speed=30))
    task = sim.control.add_task(Name='Deploy', ServerNode=TARGET, State='Executing', Duration=100000)
    result = scale_in(sim, extra_vars={'node_remove_drain_timeout': 2})
    assert result.rc != 0
    assert task['Id'] in result.messages()
    assert drained(sim) and TARGET in node_names(sim)
    assert by_method(requests_since(sim), 'DELETE') == []
    assert by_method(requests_since(sim), 'POST') == []

    again = scale_in(sim, extra_vars={'node_remove_drain_timeout': 2, 'node_remove_cancel_on_timeout': True})
    assert again.rc == 0, again.explain()
    assert task_states(sim)[task['Id']] == 'Canceled', 'cancelled while the node still ran'
    assert record_kept(sim), 'the node still runs: kept drained with cap 0'
    log = requests_since(sim)
    assert len(drain_puts(log)) == 1, 'not drained twice'
    assert len(by_method(log, 'POST', 'cancel')) == 1


def test_row13_task_stuck_in_cancelling_is_bounded_and_named(sim_factory, scale_in):
    sim = sim_factory(cluster(speed=60, timing=NO_ORPHAN_SWEEP))
    task = sim.control.add_task(Name='Deploy', ServerNode=TARGET, State='Cancelling', Duration=100000)
    sim.control.stop_node(TARGET)
    result = scale_in(sim, extra_vars={'node_remove_drain_timeout': 2, 'node_remove_cancel_on_timeout': True,
                                       'node_remove_cancel_timeout': 2})
    # Either outcome is bounded and names the task: a failure listing it, or (the owner being gone
    # and offline) a removal that reports it as lost.
    assert task['Id'] in result.stdout, result.explain()
    if result.rc != 0:
        assert TARGET in node_names(sim)


def test_row14_two_concurrent_removals_converge(sim_factory, scale_in):
    """Both runs drain and wait while the deployment runs; it ends only after the drain (frozen clock). Latency on
    PUT and DELETE widens the race in which run B used to fail with 'no such node exists' (issue 12 section 4)."""
    sim = sim_factory(cluster(), speed=0)
    task = sim.control.add_task(Name='Deploy', ServerNode=TARGET, State='Executing', Duration=10 ** 7)
    vm_gone(sim)
    sim.control.add_fault(kind='latency', latency=0.5, method='PUT|DELETE')
    with FinishAfterDrain(sim, task['Id']) as release:
        first = scale_in(sim, background=True)
        second = scale_in(sim, background=True)
        results = [first.wait(), second.wait()]
    for result in results:
        assert result.rc == 0, result.explain()
    assert release.released
    assert TARGET not in node_names(sim)
    assert task_states(sim)[task['Id']] == 'Success'
    log = requests_since(sim)
    assert len([e for e in by_method(log, 'DELETE') if e['status'] == 200]) == 1
    assert len([e for e in by_method(log, 'PUT') if e['status'] == 200]) <= 2
    assert by_method(log, 'POST') == []


# ------------------------------------------------------------------ row 18: the capacity guard
@pytest.mark.parametrize('nodes, extra, words, try_force', [
    (('OCTO-NODE-01', {'Name': 'OCTO-NODE-02', 'MaxConcurrentTasks': 0}, TARGET), {'node_remove_min_task_nodes': 2},
     'min_task_nodes', True),
    (({'Name': 'OCTO-NODE-01', 'IsInMaintenanceMode': True}, TARGET), {}, 'min_task_nodes', False),
    (('OCTO-NODE-01', TARGET), {'node_remove_min_task_capacity': 6}, 'min_task_capacity', False),
])
def test_row18_guard_refuses_before_any_change(sim_factory, scale_in, nodes, extra, words, try_force):
    sim = sim_factory(cluster(nodes=nodes), speed=0)
    result = scale_in(sim, extra_vars=extra)
    assert result.rc != 0
    assert words in result.messages()
    assert mutating(requests_since(sim)) == []
    assert not drained(sim) and TARGET in node_names(sim)
    if not try_force:
        return
    result = scale_in(sim, extra_vars=dict(extra, node_remove_force=True))
    assert result.rc == 0, result.explain()
    assert record_kept(sim), 'force overrides the guard, not the rule that a running node is not deleted'


# ------------------------------------------------------------------ row 25: malformed responses
@pytest.mark.parametrize('fault', [
    {'kind': 'html', 'status': 200, 'method': 'GET', 'path': 'octopusservernodes'},
    {'kind': 'status', 'status': 200, 'method': 'GET', 'path': 'summary', 'body': {}},
    {'kind': 'status', 'status': 200, 'method': 'GET', 'path': 'summary',
     'body': {'Nodes': [{'Id': TARGET_ID, 'Name': TARGET, 'MaxConcurrentTasks': 5, 'IsInMaintenanceMode': True,
                         'IsOffline': False, 'LastSeen': None}]}},
])
def test_row25_malformed_responses_never_delete_a_busy_node(sim_factory, module, fault):
    sim = sim_factory(cluster(), speed=0)
    task = sim.control.add_task(Name='Deploy', ServerNode=TARGET, State='Executing', Duration=100000)
    sim.control.add_fault(**fault)
    result = module('octopus_node', {'name': TARGET, 'state': 'absent', 'drain_timeout': 30, 'poll_interval': 5}, sim)
    assert TARGET in node_names(sim), result
    assert task_states(sim)[task['Id']] == 'Executing'
    assert by_method(requests_since(sim), 'DELETE') == []


# ------------------------------------------------------------------ row 26: bad inputs
@pytest.mark.parametrize('url, extra, words', [
    ('', {}, 'url'),
    ('octopus.example.com/api', {}, 'url'),
    (None, {'node_remove_drain_timeout': -5}, 'drain_timeout'),
    (None, {'node_remove_min_task_nodes': -1}, 'min_task_nodes'),
    (None, {'node_remove_pending_interruptions': 'ignore'}, 'pending_interruptions'),
])
def test_row26_bad_inputs_fail_before_any_change(sim_factory, scale_in, url, extra, words):
    sim = sim_factory(cluster(), speed=0)
    result = scale_in(sim, url=url, extra_vars=extra)
    assert result.rc != 0
    assert words in result.messages() + result.stdout
    assert mutating(requests_since(sim)) == []


def test_row26_trailing_slash_and_api_suffix_are_normalised(sim_factory, scale_in):
    sim = sim_factory(cluster(), speed=0)
    result = scale_in(sim, url=sim.url + '/api/')
    assert result.rc == 0, result.explain()
    assert record_kept(sim)
    assert not [e for e in requests_since(sim) if '//' in e['path']]


# ------------------------------------------------------------------ row 28: killed mid-drain
def test_row28_rerun_after_a_killed_run_converges(sim_factory, scale_in):
    sim = sim_factory(cluster(), speed=0)
    task = sim.control.add_task(Name='Deploy', ServerNode=TARGET, State='Executing', Duration=100000)
    running = scale_in(sim, background=True, extra_vars={'node_remove_drain_timeout': 600})
    wait_for(lambda: by_method(requests_since(sim), 'PUT'), what='the drain PUT')
    seq = requests_since(sim)[-1]['seq']
    wait_for(lambda: len(requests_since(sim, seq)) >= 2, what='a poll after the drain')
    running.kill()
    killed = running.wait()
    assert killed.rc != 0
    assert drained(sim) and TARGET in node_names(sim), 'the drain persists server-side'
    sim.control.finish_task(task['Id'])
    result = scale_in(sim)
    assert result.rc == 0, result.explain()
    assert record_kept(sim)
    log = requests_since(sim)
    assert len(drain_puts(log)) == 1, 'the re-run does not drain again'
    assert len(succeeded_mutations(log)) == 2, 'the drain, then the cap-0 write of the kept record'
