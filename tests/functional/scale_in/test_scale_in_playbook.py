# -*- coding: utf-8 -*-

# Copyright: Contributors to the octopus.ha collection
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

"""octopus.ha.scale_in / node_remove end to end through ansible-playbook, against the simulator.

Assertions are on the simulator's request log and state, never on timings.
"""

from __future__ import absolute_import, division, print_function
__metaclass__ = type

import datetime
import json
import os

import pytest

from scale_in_runner import (FAKE_WINDOWS, TARGET, TARGET_ID, FinishAfterDrain, by_method, cluster, mutating, node_state,
                             record_kept, requests_since, task_states)


def wall_time(text):
    return datetime.datetime.fromisoformat(text.replace('Z', '+00:00'))


def test_without_a_service_stop_a_live_node_is_drained_kept_with_cap_zero_and_a_rerun_changes_nothing(sim_factory, scale_in):
    """Issue 8 section 5: no node_remove_windows_host, so the service keeps running: the record is not deleted."""
    sim = sim_factory(cluster(nodes=('OCTO-NODE-01', 'OCTO-NODE-02', {'Name': TARGET, 'MaxConcurrentTasks': 7})), speed=0)
    task = sim.control.add_task(Name='Deploy', ServerNode=TARGET, State='Executing', Duration=10 ** 7)
    with FinishAfterDrain(sim, task['Id']) as release:
        result = scale_in(sim)
    assert result.rc == 0, result.explain()
    assert release.released, 'the task was still running when the node was drained'
    assert record_kept(sim), node_state(sim)
    assert task_states(sim)[task['Id']] == 'Success', 'the task was allowed to finish'
    log = requests_since(sim)
    puts = by_method(log, 'PUT', r'/api/octopusservernodes/')
    assert by_method(log, 'DELETE') == [] and by_method(log, 'POST') == []
    # Row 24: each PUT keeps Name and MaxConcurrentTasks but for what it changes.
    drain, keep = puts
    assert drain['body'] == dict(drain['body'], Name=TARGET, MaxConcurrentTasks=7, IsInMaintenanceMode=True)
    assert keep['body']['Name'] == TARGET and keep['body']['MaxConcurrentTasks'] == 0
    completed = sim.control.task(task['Id'])['CompletedTime']
    assert drain['time'] < completed <= keep['time']
    summary = result.result('Report the removal')['msg']
    assert 'not deleted' in summary and 'kept drained with task cap 0' in summary
    assert result.changed > 0

    seq = log[-1]['seq']
    again = scale_in(sim)
    assert again.rc == 0, again.explain()
    assert again.changed == 0, again.explain()
    assert mutating(requests_since(sim, seq)) == []


def test_check_mode_sends_only_get_requests_and_says_the_plan(sim_factory, scale_in):
    sim = sim_factory(cluster(), speed=0)
    task = sim.control.add_task(Name='Deploy', ServerNode=TARGET, State='Executing', Duration=600)
    result = scale_in(sim, check=True)
    assert result.rc == 0, result.explain()
    log = requests_since(sim)
    assert log, 'check mode still reads the cluster'
    assert set(e['method'] for e in log) == {'GET'}
    assert node_state(sim)['IsInMaintenanceMode'] is False
    plan = result.result('Report the node\'s state')['msg']
    assert 'would drain' in plan and 'would wait up to 1800 s (drain_timeout) for %s' % task['Id'] in plan


def test_instance_id_is_the_node_name(sim_factory, scale_in):
    sim = sim_factory(cluster(nodes=('OCTO-NODE-01', 'OCTO-NODE-02', 'i-0abc1234def567890')), speed=0)
    result = scale_in(sim, node=None, extra_vars={'octopus_instance_id': 'i-0abc1234def567890'})
    assert result.rc == 0, result.explain()
    assert record_kept(sim, 'i-0abc1234def567890')


def test_node_id_selects_the_node(sim_factory, scale_in):
    sim = sim_factory(cluster(), speed=0)
    result = scale_in(sim, node=None, extra_vars={'node_remove_id': TARGET_ID})
    assert result.rc == 0, result.explain()
    assert record_kept(sim)


def test_name_and_id_together_are_refused(sim_factory, scale_in):
    sim = sim_factory(cluster(), speed=0)
    result = scale_in(sim, extra_vars={'node_remove_id': TARGET_ID})
    assert result.rc != 0
    assert 'exactly one' in result.messages()
    assert requests_since(sim) == []


def test_an_offline_ui_only_node_is_deleted(sim_factory, scale_in):
    """A VM that is already gone: the server reports the node offline, so its record is deleted (section 5)."""
    sim = sim_factory(cluster(nodes=('OCTO-NODE-01', 'OCTO-NODE-02', {'Name': TARGET, 'MaxConcurrentTasks': 0})), speed=0)
    sim.control.stop_node(TARGET)
    sim.control.advance(61)
    result = scale_in(sim)
    assert result.rc == 0, result.explain()
    assert node_state(sim) is None
    log = requests_since(sim)
    puts = by_method(log, 'PUT')
    assert len(puts) == 1 and puts[0]['body']['MaxConcurrentTasks'] == 0 and puts[0]['body']['IsInMaintenanceMode'] is True
    assert len(by_method(log, 'DELETE')) == 1


def test_already_drained_node_is_not_drained_again(sim_factory, scale_in):
    sim = sim_factory(cluster(nodes=('OCTO-NODE-01', 'OCTO-NODE-02', {'Name': TARGET, 'IsInMaintenanceMode': True})), speed=0)
    result = scale_in(sim)
    assert result.rc == 0, result.explain()
    log = requests_since(sim)
    puts = by_method(log, 'PUT')
    assert [p['body']['MaxConcurrentTasks'] for p in puts] == [0], 'only the cap-0 write, no second drain'
    assert by_method(log, 'DELETE') == []
    assert result.result('Drain the node').get('changed') is False


def test_missing_node_is_a_no_op_and_names_the_closest(sim_factory, scale_in):
    sim = sim_factory(cluster(), speed=0)
    result = scale_in(sim, node='OCTO-NODE-3')
    assert result.rc == 0, result.explain()
    assert result.changed == 0
    assert mutating(requests_since(sim)) == []
    message = result.result('Report that the node is already removed')['msg']
    assert 'nothing to remove' in message and 'OCTO-NODE-03 (differs in zero padding)' in message


def test_lb_hook_runs_after_the_drain_and_before_the_last_write(sim_factory, scale_in, tmp_path):
    sim = sim_factory(cluster(), speed=0)
    sim.control.add_task(Name='Deploy', ServerNode=TARGET, State='Executing', Duration=10 ** 7)
    hook = tmp_path / 'lb_hook.yml'
    marker = tmp_path / 'hook-ran.json'
    hook.write_text('''---
- name: Ask the node itself whether it is draining (a load balancer health check)
  ansible.builtin.uri:
    url: "%s/api/octopusservernodes/ping"
    status_code: [200, 418]
  register: lb_ping

- name: Record what the hook saw
  ansible.builtin.copy:
    dest: "%s"
    content: "{{ {'status': lb_ping.status, 'node': node_remove_node.Id} | to_json }}"
    mode: "0600"
''' % (sim.node_url(TARGET), marker))
    task = sim.control.state()['tasks'][-1]
    with FinishAfterDrain(sim, task['Id']):
        result = scale_in(sim, extra_vars={'node_remove_lb_deregister_tasks': str(hook)})
    assert result.rc == 0, result.explain()
    seen = json.loads(marker.read_text())
    assert seen == {'status': 418, 'node': TARGET_ID}
    log = requests_since(sim)
    ping = [e for e in log if e['path'] == '/node/%s/api/octopusservernodes/ping' % TARGET]
    drain, keep = by_method(log, 'PUT')
    assert drain['seq'] < ping[0]['seq'] < keep['seq']


def test_waits_for_the_nodes_own_ping_to_answer_418(sim_factory, scale_in):
    sim = sim_factory(cluster(), speed=0)
    result = scale_in(sim, extra_vars={'node_remove_node_url': sim.node_url(TARGET) + '/'})
    assert result.rc == 0, result.explain()
    log = requests_since(sim)
    ping = [e for e in log if e['path'] == '/node/%s/api/octopusservernodes/ping' % TARGET]
    assert ping and ping[-1]['status'] == 418
    drain, keep = by_method(log, 'PUT')
    assert drain['seq'] < ping[0]['seq'] < keep['seq']


@pytest.fixture
def fake_windows(tmp_path):
    """Environment for the simulated Windows host (tests/fake_windows first on the collections path)."""
    state_dir = tmp_path / 'fake-windows'
    state_dir.mkdir()
    env = {
        'ANSIBLE_COLLECTIONS_PATH': FAKE_WINDOWS + os.pathsep + os.environ.get('ANSIBLE_COLLECTIONS_PATH', ''),
        'OCTOHA_FAKE_WINDOWS_DIR': str(state_dir),
    }
    return env


def _fake_host_state(env, host):
    path = os.path.join(env['OCTOHA_FAKE_WINDOWS_DIR'], 'hosts', host + '.json')
    with open(path, encoding='utf-8') as handle:
        return json.load(handle)


def _seed_octopus_service(env, host, instance, service):
    """A VM with an installed, running Octopus instance whose node is TARGET (the stand-in stops it in the simulator)."""
    path = os.path.join(env['OCTOHA_FAKE_WINDOWS_DIR'], 'hosts')
    os.makedirs(path, exist_ok=True)
    state = {
        'services': {service.lower(): {
            'name': service, 'display_name': service, 'state': 'running', 'start_mode': 'auto', 'username': 'LocalSystem',
            'path': '"C:\\Program Files\\Octopus Deploy\\Octopus\\Octopus.Server.exe" run --instance="%s"' % instance,
            'octopus_instance': instance, 'dependencies': []}},
        'octopus': {'instances': {instance: {
            'InstanceName': instance, 'ConfigurationFilePath': 'C:\\Octopus\\%s.config' % instance,
            'config': {'Octopus.Server.NodeName': TARGET}, 'ever_started': True}}},
    }
    with open(os.path.join(path, host + '.json'), 'w', encoding='utf-8') as handle:
        json.dump(state, handle)


@pytest.mark.parametrize('instance, service', [('OctopusServer', 'OctopusDeploy'), ('Blue', 'OctopusDeploy: Blue')])
def test_stops_the_service_on_the_vm_then_deletes_the_record(sim_factory, scale_in, inventory_file, fake_windows,
                                                             instance, service):
    sim = sim_factory(cluster(), speed=0)
    task = sim.control.add_task(Name='Deploy', ServerNode=TARGET, State='Executing', Duration=10 ** 7)
    _seed_octopus_service(fake_windows, 'vm03', instance, service)
    # The service stop is delegated to vm03; the stand-ins act on the delegated host, as real modules do.
    inventory = inventory_file({'vm03': {'ansible_connection': 'local'}})
    env = dict(fake_windows, OCTOHA_SIM_URL=sim.url)
    with FinishAfterDrain(sim, task['Id']) as release:
        result = scale_in(sim, inventory=inventory, env=env,
                          extra_vars={'node_remove_windows_host': 'vm03', 'node_remove_octopus_instance': instance})
    assert result.rc == 0, result.explain()
    assert release.released
    state = _fake_host_state(fake_windows, 'vm03')
    assert state['services'][service.lower()]['state'] == 'stopped'
    stops = [c for c in state['calls'] if c['module'].endswith('win_service') and c['params'].get('state') == 'stopped']
    checks = [c for c in state['calls'] if c['module'].endswith('win_service') and not c['params'].get('state')]
    assert stops and stops[-1]['params']['name'] == service and checks, 'stopped, then looked at again'
    assert node_state(sim) is None, 'a verified stop lets the role delete the record'
    assert task_states(sim)[task['Id']] == 'Success', 'the service was stopped only after the task ended'
    # The stand-in stopped the node in the simulator (the service stop) before the record was deleted.
    delete = by_method(requests_since(sim), 'DELETE')[0]
    assert wall_time(stops[-1]['time']) <= wall_time(delete['wall'])
    assert by_method(requests_since(sim), 'PUT')[0]['time'] < sim.control.task(task['Id'])['CompletedTime'] <= delete['time']
    assert 'Record: deleted' in result.result('Report the removal')['msg']


def test_a_service_that_cannot_be_stopped_keeps_the_record_and_the_run_goes_on(sim_factory, scale_in, inventory_file, fake_windows):
    """The VM answers but has no service of that name (wrong instance name): not a verified stop, so no delete."""
    sim = sim_factory(cluster(), speed=0)
    _seed_octopus_service(fake_windows, 'vm03', 'OctopusServer', 'OctopusDeploy')
    inventory = inventory_file({'vm03': {'ansible_connection': 'local'}})
    env = dict(fake_windows, OCTOHA_SIM_URL=sim.url)
    result = scale_in(sim, inventory=inventory, env=env,
                      extra_vars={'node_remove_windows_host': 'vm03', 'node_remove_octopus_instance': 'Green'})
    assert result.rc == 0, result.explain()
    assert 'could not be stopped' in result.result('Report that the service could not be stopped')['msg']
    assert _fake_host_state(fake_windows, 'vm03')['services']['octopusdeploy']['state'] != 'stopped'
    assert record_kept(sim), 'the service was not verified stopped: the record is kept drained with cap 0'


def test_unreachable_vm_is_skipped_with_a_message_and_the_record_kept(sim_factory, scale_in, inventory_file):
    sim = sim_factory(cluster(), speed=0)
    inventory = inventory_file({'vm-gone': {
        'ansible_connection': 'winrm', 'ansible_host': '127.0.0.1', 'ansible_port': 9,
        'ansible_user': 'octopus', 'ansible_password': 'not-used', 'ansible_winrm_transport': 'ntlm',
        'ansible_winrm_scheme': 'http', 'ansible_winrm_operation_timeout_sec': 2, 'ansible_winrm_read_timeout_sec': 3}})
    result = scale_in(sim, inventory=inventory,
                      extra_vars={'node_remove_windows_host': 'vm-gone', 'node_remove_windows_connect_timeout': 2})
    assert result.rc == 0, result.explain()
    assert 'did not answer' in result.result('Report that the VM did not answer')['msg']
    assert record_kept(sim), 'the server still reports the node online: its record is kept'


def test_vm_not_in_the_inventory_is_skipped_with_a_message_and_the_record_kept(sim_factory, scale_in):
    sim = sim_factory(cluster(), speed=0)
    result = scale_in(sim, extra_vars={'node_remove_windows_host': 'vm-not-in-inventory'})
    assert result.rc == 0, result.explain()
    assert 'not in the inventory' in result.result('Report that the VM is not an inventory host')['msg']
    assert record_kept(sim)


def test_the_summary_lists_a_paused_deployment_cancelled_at_the_drain_and_the_time_per_phase(sim_factory, scale_in):
    """Issue 8 section 7: the summary used to leave out what the drain step cancelled (pending interruptions)."""
    sim = sim_factory(cluster(), speed=0)
    paused = sim.control.add_task(Name='Deploy', ServerNode=TARGET, Duration=600, HasPendingInterruptions=True)
    result = scale_in(sim, extra_vars={'node_remove_pending_interruptions': 'cancel'})
    assert result.rc == 0, result.explain()
    assert task_states(sim)[paused['Id']] == 'Canceled'
    report = result.result('Report the removal')['msg']
    assert 'Cancelled: %s.' % paused['Id'] in report and 'Time: drain ' in report and 'wait ' in report
    facts = result.result('Publish what the removal did (the role\'s result, docs/scale-in.md)')['ansible_facts']
    outcome = facts['node_remove_result']
    assert outcome['cancelled_tasks'] == [paused['Id']] and outcome['interrupted_tasks'] == [paused['Id']]
    assert outcome['record_kept'] is True and outcome['node']['Id'] == TARGET_ID
    assert set(outcome['elapsed']) == {'drain', 'wait', 'cancel', 'delete'}
