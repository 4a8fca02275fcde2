# -*- coding: utf-8 -*-
# Copyright: Contributors to the octopus.ha collection
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Rules of server_configure beyond the golden plans: listen prefixes and URLs, URL reservations, the
SQL identity preflight (issue 10 sections 1 and 4), names and paths (issue 12 section 1)."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import json

import pytest

from ansible.errors import AnsibleFilterError
from ansible_collections.octopus.ha.plugins.filter.octopus_server_plan import (
    octopus_node_urls, octopus_server_exe, octopus_server_plan, octopus_server_preflight, octopus_service_name)

INTEGRATED = 'Data Source=sql01;Initial Catalog=Octopus;Integrated Security=True'
SQL_LOGIN = 'Data Source=sql01;Initial Catalog=Octopus;User ID=octopus_sql;Password=Sql-Pa55'


def fresh(**requested):
    base = {'node_name': 'i-0abc', 'connection_string': INTEGRATED, 'master_key': 'k', 'service_username': 'CORP\\octo$'}
    base.update(requested)
    return octopus_server_plan({'instances': '[]', 'configuration': None, 'service': {'exists': False}}, base)


@pytest.mark.parametrize('prefixes', ['http://+:80/;https://+:443/', 'http://+:80/,https://+:443/',
                                      ['http://+:80/;https://+:443/'], ['http://+:80/', 'https://+:443/']])
def test_semicolon_and_comma_separated_prefixes(prefixes):
    """Before: 'a;b' was one prefix and the planner refused it (or crashed on the current value)."""
    plan = fresh(web_listen_prefixes=prefixes)
    assert plan['errors'] == [], plan['errors']
    assert plan['firewall_ports'] == [80, 443, 10943]
    configure = [c['argv'] for c in plan['commands'] if c['argv'][1] == 'configure'][0]
    assert configure[configure.index('--webListenPrefixes') + 1] == 'http://+:80/,https://+:443/'


def test_current_semicolon_prefixes_compare_equal():
    service = {'exists': True, 'state': 'running', 'username': 'CORP\\octo$'}
    current = {'instances': '[{"InstanceName": "OctopusServer"}]', 'service': service,
               'configuration': {'Octopus': {'Server': {'NodeName': 'i-0abc', 'TaskCap': 5, 'MaintenanceMode': False},
                                             'Storage': {'ExternalDatabaseConnectionString': INTEGRATED},
                                             'Home': 'C:\\Octopus', 'Communications': {'ServicesPort': 10943},
                                             'WebPortal': {'ListenPrefixes': 'http://+:80/;https://+:443/', 'ForceSSL': 'False'}}}}
    plan = octopus_server_plan(current, {'node_name': 'i-0abc', 'connection_string': INTEGRATED, 'master_key': 'k',
                                         'service_username': 'CORP\\octo$',
                                         'web_listen_prefixes': ['https://+:443', 'http://+:80']})
    assert plan['errors'] == [] and plan['commands'] == []


def test_default_prefix_accepts_any_host_header():
    plan = fresh()
    configure = [c['argv'] for c in plan['commands'] if c['argv'][1] == 'configure'][0]
    assert 'http://+:80/' in configure
    assert plan['local_url'] == 'http://localhost:80'
    assert not any('localhost' in w for w in plan['warnings'])


@pytest.mark.parametrize('prefixes, address, local, external', [
    (['http://+:80/'], '10.0.0.5', 'http://localhost:80', 'http://10.0.0.5:80'),
    ('https://*:8443/octopus', 'node1.corp', 'https://localhost:8443/octopus', 'https://node1.corp:8443/octopus'),
    (['http://localhost:80/', 'http://node1:80/'], '10.0.0.5', 'http://localhost:80', 'http://node1:80'),
    (['http://localhost:80/'], '10.0.0.5', 'http://localhost:80', None),
    (['http://+:80/'], None, 'http://localhost:80', None),
])
def test_node_urls_come_from_the_prefixes(prefixes, address, local, external):
    urls = octopus_node_urls(prefixes, address)
    assert (urls['local_url'], urls['external_url']) == (local, external)


def test_node_urls_local_override_and_errors():
    assert octopus_node_urls(['http://+:80/'], 'x', 'http://127.0.0.1:9/node/x/')['local_url'] == 'http://127.0.0.1:9/node/x'
    with pytest.raises(AnsibleFilterError):
        octopus_node_urls([], 'x')


@pytest.mark.parametrize('user, expected', [
    ('', []), ('NT AUTHORITY\\SYSTEM', []),
    ('CORP\\octo$', [{'url': 'http://+:80/', 'user': 'CORP\\octo$'}, {'url': 'https://node1:443/', 'user': 'CORP\\octo$'}]),
])
def test_url_reservations_for_non_admin_accounts(user, expected):
    plan = fresh(service_username=user, service_password='pw' if user else '', connection_string=SQL_LOGIN,
                 web_listen_prefixes='http://+:80;https://NODE1/')
    assert plan['url_reservations'] == expected


def test_localsystem_with_integrated_security_refuses_a_fresh_join():
    pre = octopus_server_preflight({'connection_string': INTEGRATED, 'service_username': '', 'node_name': 'i-0abc'}, True)
    assert len(pre['errors']) == 1
    assert 'gMSA' in pre['errors'][0] and 'I-0ABC$' in pre['errors'][0]
    assert 'server_configure_allow_computer_account_login' in pre['errors'][0]
    assert pre['identity']['become_user'] == 'SYSTEM'


def test_localsystem_with_integrated_security_opt_in_and_existing_node():
    opted = octopus_server_preflight({'connection_string': INTEGRATED, 'allow_computer_account_login': 'true'}, True)
    assert opted['errors'] == [] and opted['warnings'] == []
    existing = octopus_server_preflight({'connection_string': INTEGRATED}, False)
    assert existing['errors'] == [] and len(existing['warnings']) == 1


@pytest.mark.parametrize('requested, become_user, password_required', [
    ({'connection_string': SQL_LOGIN}, None, False),                                     # SQL login: no double hop
    ({'connection_string': SQL_LOGIN, 'service_username': 'CORP\\octo$'}, None, False),
    ({'connection_string': INTEGRATED, 'service_username': 'CORP\\octo$'}, 'CORP\\octo$', False),   # gMSA: no password
    ({'connection_string': INTEGRATED, 'service_username': 'CORP\\svc', 'service_password': 'p'}, 'CORP\\svc', True),
    ({'connection_string': INTEGRATED, 'service_username': 'CORP\\svc', 'service_password': 'p', 'db_become_user': ''},
     None, False),                                                                       # delegation/CredSSP instead
])
def test_database_identity(requested, become_user, password_required):
    pre = octopus_server_preflight(requested, True)
    assert pre['identity']['become_user'] == become_user
    assert pre['identity']['become_password_required'] is password_required
    assert pre['identity']['become_logon_type'] == 'network_cleartext'
    assert pre['errors'] == []
    assert '"p"' not in json.dumps(pre)


def test_become_password_missing_for_an_override_account():
    pre = octopus_server_preflight({'connection_string': INTEGRATED, 'service_username': 'CORP\\octo$',
                                    'db_become_user': 'CORP\\dbjoin'}, True)
    assert any('CORP\\dbjoin' in e and 'password' in e for e in pre['errors'])


def test_database_commands_are_flagged_for_become():
    plan = fresh()
    flagged = dict((c['argv'][1], c['database']) for c in plan['commands'])
    assert flagged == {'create-instance': False, 'database': True, 'configure': False, 'node': True, 'service': False}


def test_names_and_paths_have_one_home():
    assert octopus_service_name('OctopusServer') == 'OctopusDeploy'
    assert octopus_service_name('Blue') == 'OctopusDeploy: Blue'
    assert octopus_server_exe('D:\\Apps\\Octopus\\') == 'D:\\Apps\\Octopus\\Octopus.Server.exe'
    assert octopus_server_exe('') == 'C:\\Program Files\\Octopus Deploy\\Octopus\\Octopus.Server.exe'
    assert octopus_server_exe(None, 'E:\\O\\Octopus.Server.exe') == 'E:\\O\\Octopus.Server.exe'
    assert fresh(exe_path='D:\\Apps\\Octopus\\Octopus.Server.exe')['commands'][0]['argv'][0] == 'D:\\Apps\\Octopus\\Octopus.Server.exe'
