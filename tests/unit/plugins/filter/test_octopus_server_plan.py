# -*- coding: utf-8 -*-
# Copyright: Contributors to the octopus.ha collection
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Golden tests of the octopus_server_plan filter, in the style of OctopusDSC's invocation tests.

Each ``golden/server_plan/<scenario>.yml`` holds a current state (what list-instances,
show-configuration and win_service report), a requested state (merged over ``BASE``) and the
exact ordered ``Octopus.Server.exe`` argument lists expected (without the executable path).
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import copy
import json
import os

import pytest
import yaml

from ansible.errors import AnsibleFilterError
from ansible_collections.octopus.ha.plugins.filter.octopus_server_plan import (
    octopus_cli_json, octopus_server_argv, octopus_server_plan)

GOLDEN = os.path.join(os.path.dirname(__file__), 'golden', 'server_plan')
EXE = 'C:\\Program Files\\Octopus Deploy\\Octopus\\Octopus.Server.exe'
CONN = 'Data Source=sql01;Initial Catalog=Octopus;Integrated Security=True'
MASTER_KEY = 'bXktc2VjcmV0LW1hc3Rlci1rZXk='
BASE = {
    'exe_path': EXE,
    'instance': 'OctopusServer',
    'config_path': 'C:\\Octopus\\OctopusServer.config',
    'home': 'C:\\Octopus',
    'node_name': 'i-0abc123',
    'connection_string': CONN,
    'master_key': MASTER_KEY,
    'web_listen_prefixes': ['http://localhost:80/', 'http://i-0abc123:80/'],
    'web_force_ssl': False,
    'comms_port': 10943,
    'service_username': '',
    'service_password': '',
    'task_cap': None,
    'shared_storage_path': '',
    'local_url': '',
}
SCENARIOS = sorted(f[:-4] for f in os.listdir(GOLDEN) if f.endswith('.yml'))


def load(name):
    with open(os.path.join(GOLDEN, name + '.yml')) as handle:
        return yaml.safe_load(handle)


def plan_for(case):
    requested = dict(BASE)
    requested.update(case.get('requested') or {})
    return octopus_server_plan(copy.deepcopy(case['current']), requested), requested


@pytest.mark.parametrize('scenario', SCENARIOS)
def test_golden_commands(scenario):
    case = load(scenario)
    plan, dummy = plan_for(case)
    assert plan['errors'] == []
    assert [c['argv'][0] for c in plan['commands']] == [EXE] * len(plan['commands'])
    assert [c['argv'][1:] for c in plan['commands']] == case['expected']['commands'], case['why']
    for key, value in case['expected'].items():
        if key != 'commands':
            assert plan[key] == value, '%s: %s' % (scenario, key)


@pytest.mark.parametrize('scenario', SCENARIOS)
def test_secrets_never_in_printable_plan(scenario):
    case = load(scenario)
    plan, requested = plan_for(case)
    text = json.dumps(plan)
    for name in ('connection_string', 'master_key', 'service_password'):
        if requested.get(name):
            assert requested[name] not in text
    printable = json.dumps([plan['display'], [c['label'] for c in plan['commands']], plan['warnings'], plan['changes']])
    assert '<secret:' not in printable
    for command in plan['commands']:
        assert command['secret'] == any(a.startswith('<secret:') for a in command['argv'])


def test_fresh_join_orders_canary_before_first_start():
    plan, dummy = plan_for(load('fresh_join'))
    verbs = [c['argv'][1] for c in plan['commands']]
    assert verbs.index('node') < verbs.index('service')
    assert not set(verbs) & {'admin', 'license', 'path'}
    assert all('--create' not in c['argv'] for c in plan['commands'])
    assert plan['display'][1] == 'database --instance OctopusServer --connectionString ******** --masterKey ********'
    assert plan['local_url'] == 'http://localhost:80'
    assert plan['firewall_ports'] == [80, 10943]


def test_argv_fills_placeholders_only_in_the_command():
    plan, dummy = plan_for(load('fresh_join'))
    secrets = {'connection_string': CONN, 'master_key': MASTER_KEY, 'service_password': ''}
    argv = octopus_server_argv(plan['commands'][1], secrets)
    assert argv == [EXE, 'database', '--instance', 'OctopusServer', '--connectionString', CONN, '--masterKey', MASTER_KEY]
    assert octopus_server_argv(plan['commands'][0], secrets) == plan['commands'][0]['argv']


def test_argv_refuses_an_empty_secret_without_echoing_others():
    plan, dummy = plan_for(load('fresh_join'))
    with pytest.raises(AnsibleFilterError) as err:
        octopus_server_argv(plan['commands'][1], {'connection_string': CONN, 'master_key': ''})
    assert 'master_key' in str(err.value) and CONN not in str(err.value)


def fresh(**requested):
    case = {'current': {'instances': '[]', 'configuration': None, 'service': {'exists': False}}, 'requested': requested}
    return plan_for(case)[0]


def test_refuses_the_sql_login_as_service_account():
    """Seed bug K4: the SQL login passed as the Windows service account."""
    plan = fresh(connection_string='Server=sql01;Database=Octopus;User ID=octo;Password=Sql-Pa55', service_username='octo',
                 service_password='Sql-Pa55')
    assert plan['commands'] == []
    assert any('SQL login' in e for e in plan['errors'])
    assert 'Sql-Pa55' not in json.dumps(plan)
    plan = fresh(connection_string='Server=sql01;Database=Octopus;User ID=octo;Password=x', service_username='CORP\\octo',
                 service_password='y')
    assert any('SQL login' in e for e in plan['errors'])


@pytest.mark.parametrize('requested, fragment', [
    ({'service_username': 'CORP\\svc'}, 'service_password is required'),
    ({'service_username': 'svc'}, 'must be a domain account'),
    ({'shared_storage_path': 'Z:\\OctopusShared'}, 'UNC'),
    ({'web_listen_prefixes': []}, 'web_listen_prefixes is empty'),
    ({'web_listen_prefixes': ['ftp://x/']}, 'not an http'),
    ({'home': 'Octopus'}, 'home must be an absolute local path'),
    ({'node_name': 'bad/name'}, 'node_name'),
    ({'comms_port': 70000}, 'comms_port'),
    ({'task_cap': -1}, 'task_cap'),
    ({'master_key': ''}, 'master_key are required'),
])
def test_invalid_requests_are_refused(requested, fragment):
    plan = fresh(**requested)
    assert plan['commands'] == []
    assert any(fragment in e for e in plan['errors']), plan['errors']


def test_unc_shared_storage_is_accepted():
    assert fresh(shared_storage_path='\\\\fs01\\OctopusShared')['errors'] == []


def test_gmsa_password_is_ignored_with_a_warning():
    plan = fresh(service_username='CORP\\gmsa$', service_password='ignored-secret')
    assert plan['errors'] == []
    assert any('ignored' in w for w in plan['warnings'])
    assert all('--password' not in c['argv'] for c in plan['commands'])


def test_warns_when_only_localhost_is_bound():
    plan = fresh(web_listen_prefixes=['http://localhost:80/'])
    assert any('localhost' in w for w in plan['warnings'])
    assert not any('localhost' in w for w in fresh()['warnings'])


def test_refuses_to_rename_an_existing_node():
    case = load('rerun_no_change')
    case['requested'] = {'node_name': 'other-name'}
    plan = plan_for(case)[0]
    assert plan['commands'] == [] and any('Renaming' in e for e in plan['errors'])


def test_local_url_override_and_named_instance_service():
    plan = fresh(local_url='http://127.0.0.1:8080/node/i-0abc123/', instance='Blue')
    assert plan['local_url'] == 'http://127.0.0.1:8080/node/i-0abc123'
    assert plan['service_name'] == 'OctopusDeploy: Blue'


@pytest.mark.parametrize('text, expected', [
    ('{"a": 1}', {'a': 1}),
    ('junk line\r\n{"a": {"b": [1, 2]}}\r\ntrailing', {'a': {'b': [1, 2]}}),
    ('Instance list:\n[{"InstanceName": "X"}]', [{'InstanceName': 'X'}]),
    ({'a': 1}, {'a': 1}),
])
def test_cli_json(text, expected):
    assert octopus_cli_json(text) == expected


def test_cli_json_errors_do_not_echo_the_text():
    with pytest.raises(AnsibleFilterError) as err:
        octopus_cli_json('Password=hunter2 and no json')
    assert 'hunter2' not in str(err.value)
    assert octopus_cli_json('nothing', default=[]) == []


def test_unparsable_configuration_is_an_error_not_a_crash():
    case = load('rerun_no_change')
    case['current']['configuration'] = 'Connection=secret-value {not json'
    plan = plan_for(case)[0]
    assert plan['commands'] == [] and plan['errors'] and 'secret-value' not in json.dumps(plan)
