# -*- coding: utf-8 -*-
# Copyright: Contributors to the octopus.ha collection
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""End-to-end tests of playbooks/scale_out.yml: fake Windows host + octosim + real TLS "Tentacles".

Each test runs ``ansible-playbook octopus.ha.scale_out`` (install -> configure -> verify -> promote)
against the simulated Windows host ``octo-new-1`` and a cluster whose only other node is busy, so
that queued tasks wait during the whole run: any capacity on the new node would show at once.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import datetime
import json
import os
import re
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

# pylint: disable=wrong-import-position
import scale_out_scenario as scenario  # noqa: E402

NODE_ID = 'OctopusServerNodes-%s' % scenario.NODE


def _when(value):
    return datetime.datetime.fromisoformat(value.replace('Z', '+00:00')) if value else None


def _node_puts(sim):
    return [e for e in sim.control.requests() if e['method'] == 'PUT'
            and e['path'].lower().rstrip('/').endswith('/octopusservernodes/%s' % NODE_ID.lower())]


def _assert_drained_cap0(env, open_window=False):
    """The node ends drained with cap 0, and it never took a task.

    ``open_window``: the server registered the node undrained with cap 5 (the join's settings were
    lost), so it may take a queued task before the API drain lands, as a real node would. Then no
    task may start on it after that drain.
    """
    node = env.node()
    assert node is not None
    assert node['IsInMaintenanceMode'] is True
    assert node['MaxConcurrentTasks'] == 0
    assert node['PingStatus'] == 418
    taken = [t for t in env.sim.control.state()['tasks'] if t['ServerNode'] == NODE_ID]
    if open_window:
        drains = [e for e in _node_puts(env.sim) if e['applied'] and e['body']
                  and e['body'].get('IsInMaintenanceMode') is True and e['body'].get('MaxConcurrentTasks') == 0]
        assert drains, 'the node was never drained through the API'
        assert all(_when(t['StartTime']) <= _when(drains[0]['time']) for t in taken), (taken, drains[0])
    else:
        assert taken == []
    assert all(e['body'].get('IsInMaintenanceMode') is not False for e in _node_puts(env.sim) if e['body'])


def test_scale_out_promotes_only_after_verification(scale_out):
    env = scale_out(space_options=dict(polling=1))
    result = env.run()
    assert result.rc == 0, result.explain()
    assert 'node_verify octo-new-1: PASSED' in result.stdout
    # A polling Tentacle only warns by default.
    assert 'WARNING: 1 polling Tentacle(s) (Spaces-1/' in result.stdout
    report = result.task('octopus.ha.node_verify : Build the verification report')['ansible_facts']['node_verify_report']
    assert report['passed'] is True and len(report['warnings']) == 1
    assert [c['status'] for c in report['checks'] if c['name'] == 'listening_tentacles'] == ['passed']

    node = env.node()
    assert node['IsInMaintenanceMode'] is False
    assert node['MaxConcurrentTasks'] == 5
    assert node['PingStatus'] == 200

    # The promote PUT is the first write that undrains the node; nothing before it gave capacity.
    puts = _node_puts(env.sim)
    undrain = [e for e in puts if (e['body'] or {}).get('IsInMaintenanceMode') is False]
    assert undrain, puts
    promote = undrain[0]
    for earlier in puts:
        if earlier['seq'] < promote['seq']:
            assert earlier['body'].get('IsInMaintenanceMode') is True or earlier['body'].get('MaxConcurrentTasks') == 0
    promote_time = _when(promote['time'])

    # The probes ran on the node before the promotion.
    probes = [c.get('probe') for c in env.fake_host()['calls'] if c['module'] == 'ansible.windows.win_powershell']
    assert set(probes) == {'shared-folder', 'tentacle-tls', 'http-endpoint'}
    assert all(count >= 1 for count in env.fleet.tentacle_requests().values())

    # Queued tasks waited during the whole run (the only other node is busy) ...
    tasks = env.sim.control.state()['tasks']
    waiting = [t for t in tasks if t['State'] == 'Queued' or (_when(t['StartTime']) or promote_time) >= promote_time]
    assert len([t for t in waiting if t['ServerNode'] != 'OctopusServerNodes-' + scenario.EXISTING_NODE]) >= 4
    assert all(t['ServerNode'] != NODE_ID for t in tasks if t['StartTime'] and _when(t['StartTime']) < promote_time)

    # ... and the new node takes them on its next queue poll after the promotion.
    env.sim.control.advance(45)
    picked = [t for t in env.sim.control.state()['tasks'] if t['ServerNode'] == NODE_ID]
    assert picked
    assert all(_when(t['StartTime']) >= promote_time for t in picked)

    # A second run (the node now works) changes nothing.
    second = env.run()
    assert second.rc == 0, second.explain()
    changed = [(r['task'], r['host']) for r in second.results if r['status'] == 'ok' and r['result'].get('changed')]
    assert not changed, second.explain()
    assert second.stats[scenario.NODE]['changed'] == 0, second.explain()


def test_failed_checks_keep_node_drained_with_cap_0(scale_out):
    """A mismatched thumbprint, an unreachable Tentacle, an unreachable SQL port and a comms port the controller
    cannot reach, all named; the join's cap 0 / drain did not persist, so the node was drained through the API."""
    env = scale_out(space_options=dict(mismatched=True, unreachable=True, polling=1))
    env.fleet.sql.stop()
    env.fleet.comms.stop()
    fh = scenario._fake_host()  # pylint: disable=protected-access
    fh.set_knob('unwritable_paths', [scenario.FOLDERS['PackagesDirectory']], host=scenario.NODE, root=env.state_dir)
    fh.set_knob('octopus_node_settings_lost_on_start', True, host=scenario.NODE, root=env.state_dir)
    result = env.run(node_verify_fail_on_polling_tentacles=True)
    assert result.rc != 0
    assert 'node_verify octo-new-1: FAILED' in result.stdout
    assert 'Scale-out of octo-new-1 stopped' in result.output
    assert 'listening_tentacles' in result.output
    assert 'presented a certificate whose thumbprint differs' in result.output
    assert 'web-mismatch' in result.output and env.fleet.other_thumbprint in result.output
    assert '1 unreachable' in result.output and 'web-gone' in result.output
    assert 'database_tcp' in result.output
    assert 'SQL Server 127.0.0.1:%d is not reachable' % env.fleet.sql.port in result.output
    assert 'shared_storage' in result.output and 'PackagesDirectory' in result.output and 'not writable' in result.output
    assert 'polling_tentacles' in result.output and 'poller0' in result.output
    assert 'external_comms' in result.output and 'is not reachable from localhost' in result.output
    assert 'did not persist' in result.output
    report = result.task('octopus.ha.node_verify : Build the verification report')['ansible_facts']['node_verify_report']
    assert report['failed'] == ['database_tcp', 'shared_storage', 'listening_tentacles', 'polling_tentacles',
                                'external_comms']
    assert [c['status'] for c in report['checks'] if c['name'] == 'external_web'] == ['passed']
    tentacles = [c for c in report['checks'] if c['name'] == 'listening_tentacles'][0]['details']
    assert [r['machines'] for r in tentacles['mismatched']] == [['Spaces-1/Machines-3 web-mismatch (target)']]
    assert [r['machines'] for r in tentacles['unreachable']] == [['Spaces-1/Machines-4 web-gone (target)']]
    assert len(tentacles['passed']) == 2
    assert 'The node stays drained with task cap 0' in result.output
    _assert_drained_cap0(env, open_window=True)


def test_remove_on_failure_with_vvv_shows_no_secret(scale_out):
    """remove-on-failure stops the service and deletes the record; -vvv output holds no secret."""
    env = scale_out(space_options=dict(mismatched=True))
    fh = scenario._fake_host()  # pylint: disable=protected-access
    # A hardened service account: interactive (and batch) logons are denied to it, as hardening baselines do.
    fh.set_knob('denied_logon_types', {'CORP\\svc-octopus': ['interactive', 'batch']}, host=scenario.NODE, root=env.state_dir)
    fh.set_knob('account_passwords', {'CORP\\svc-octopus': scenario.SERVICE_PASSWORD}, host=scenario.NODE, root=env.state_dir)
    result = env.run(verbosity=3, octopus_scale_out_remove_on_failure=True,
                     server_configure_service_username='CORP\\svc-octopus',
                     server_configure_service_password=scenario.SERVICE_PASSWORD)
    assert result.rc != 0
    assert 'listening_tentacles' in result.output
    # The storage probe ran as the service account with a logon type the hardened account is allowed.
    report = result.task('octopus.ha.node_verify : Build the verification report')['ansible_facts']['node_verify_report']
    storage = [c for c in report['checks'] if c['name'] == 'shared_storage'][0]
    assert storage['status'] == 'passed' and storage['details']['identity'] == 'CORP\\svc-octopus', storage
    assert env.node() is None
    deletes = [e for e in env.sim.control.requests() if e['method'] == 'DELETE' and NODE_ID.lower() in e['path'].lower()]
    assert deletes and deletes[-1]['status'] in (200, 204)
    state = env.fake_host()
    octopus_services = [s for s in state['services'].values() if s.get('octopus_instance')]
    assert octopus_services and all(s['state'] == 'stopped' for s in octopus_services)
    # Disabled, so that a reboot cannot start the service and register the deleted node again.
    assert all(s['start_mode'] == 'disabled' for s in octopus_services)
    assert 'The service was stopped and disabled and the node record removed' in result.output
    assert [c for c in state['calls'] if c['module'] == 'ansible.windows.win_service'
            and c['params'].get('state') == 'stopped']

    for secret in scenario.SECRETS:
        assert secret not in result.output, 'a secret leaked in the -vvv output'
        assert secret not in json.dumps(state['calls']), 'a secret leaked in the module arguments'
    assert not re.search(r'(?i)(password|pwd)=[^*;\s]', result.output)


def test_version_skew_stops_the_install(scale_out):
    env = scale_out()
    env.sim.control.add_node(scenario.EXISTING_NODE + '-OLD', Version='2024.4.7000', MaxConcurrentTasks=0)
    result = env.run()
    assert result.rc != 0
    assert re.search(r'(?i)version', result.output)
    assert env.node() is None
    modules = set(c['module'] for c in env.fake_host()['calls'])
    assert 'ansible.windows.win_package' not in modules
    assert 'ansible.windows.win_powershell' not in modules
    assert 'octopus.ha.node_verify' not in result.stdout


def test_a_failed_configure_goes_through_the_same_rescue(scale_out):
    """The service starts but never reaches its database (no SQL login): the failure inside server_configure is
    rescued like a failed verification, and the service is stopped since there is no record to drain."""
    env = scale_out()
    fh = scenario._fake_host()  # pylint: disable=protected-access
    fh.add_cluster_database(scenario.connection_string(env.fleet.sql.port), scenario.MASTER_KEY, root=env.state_dir,
                            logins=['sql:another_login'])
    result = env.run(server_configure_ready_timeout=3)
    assert result.rc != 0
    assert "Scale-out of octo-new-1 stopped in 'Fail when the node never answered'" in result.output
    assert 'cannot reach its database' in result.output
    assert 'the Octopus service was stopped, so the node takes no work' in result.output
    state = env.fake_host()
    assert "Login failed for user 'octopus_sql'" in state['services']['octopusdeploy']['startup_error']
    assert state['services']['octopusdeploy']['state'] == 'stopped'
    assert env.node() is None
    assert 'octopus.ha.node_verify' not in result.stdout
