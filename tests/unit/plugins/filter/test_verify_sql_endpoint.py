# -*- coding: utf-8 -*-
# Copyright: Contributors to the octopus.ha collection
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Unit tests of the octopus_sql_endpoint filter (connection string parsing)."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import json

import pytest

from ansible.errors import AnsibleFilterError
from ansible_collections.octopus.ha.plugins.filter.octopus_verify_report import FilterModule, octopus_sql_endpoint

SECRET = 'S3cr3t;Pa==ss\'word"'


@pytest.mark.parametrize('conn, host, port, instance, source', [
    ('Server=sql01;Database=Octopus;Integrated Security=True', 'sql01', 1433, None, 'default'),
    ('Data Source=sql01.corp.local,14330;Initial Catalog=Octopus', 'sql01.corp.local', 14330, None, 'explicit'),
    ('Address=tcp:10.0.0.5,1500;Initial Catalog=Octopus', '10.0.0.5', 1500, None, 'explicit'),
    ('server = tcp:sql01 ; database=Octopus', 'sql01', 1433, None, 'default'),
    ('Data Source=sql01\\OCTO,1444;Initial Catalog=Octopus', 'sql01', 1444, 'OCTO', 'explicit'),
    ('Data Source=(local);Initial Catalog=Octopus', 'localhost', 1433, None, 'default'),
    ('Data Source=.;Initial Catalog=Octopus', 'localhost', 1433, None, 'default'),
    ('Data Source=[fe80::1],1433;Initial Catalog=Octopus', 'fe80::1', 1433, None, 'explicit'),
    ('Addr=sql02;Database=Octopus', 'sql02', 1433, None, 'default'),
    ('Network Address=sql03,2000;Database=Octopus', 'sql03', 2000, None, 'explicit'),
    ('DATA SOURCE=Sql04;INITIAL CATALOG=Octopus', 'Sql04', 1433, None, 'default'),
    ('Data Source="sql05,1600";Initial Catalog=Octopus', 'sql05', 1600, None, 'explicit'),
])
def test_server_forms(conn, host, port, instance, source):
    result = octopus_sql_endpoint(conn)
    assert result['host'] == host
    assert result['port'] == port
    assert result['instance'] == instance
    assert result['port_source'] == source
    assert result['protocol'] == 'tcp'
    assert result['checkable'] is True
    assert result['dynamic_port'] is False


def test_named_instance_without_port_is_dynamic():
    result = octopus_sql_endpoint('Data Source=sql01\\OCTOPUS;Initial Catalog=Octopus;Integrated Security=SSPI')
    assert result['host'] == 'sql01'
    assert result['instance'] == 'OCTOPUS'
    assert result['port'] is None
    assert result['dynamic_port'] is True
    assert result['checkable'] is False
    assert 'dynamic' in result['note']
    assert result['integrated_security'] is True


def test_named_instance_with_port_override():
    result = octopus_sql_endpoint('Data Source=sql01\\OCTOPUS;Initial Catalog=Octopus', port='50123')
    assert result['port'] == 50123
    assert result['port_source'] == 'override'
    assert result['checkable'] is True


def test_default_port_option():
    assert octopus_sql_endpoint('Server=sql01', default_port=1500)['port'] == 1500


@pytest.mark.parametrize('conn, protocol', [
    ('Data Source=np:\\\\sql01\\pipe\\sql\\query;Database=Octopus', 'named_pipes'),
    ('Data Source=lpc:sql01;Database=Octopus', 'shared_memory'),
    ('Data Source=(localdb)\\MSSQLLocalDB;Database=Octopus', 'localdb'),
])
def test_non_tcp_protocols_are_not_checkable(conn, protocol):
    result = octopus_sql_endpoint(conn)
    assert result['protocol'] == protocol
    assert result['checkable'] is False
    assert result['note']


def test_named_pipe_host():
    assert octopus_sql_endpoint('Data Source=np:\\\\sql01\\pipe\\sql\\query')['host'] == 'sql01'


def test_database_and_security_fields():
    result = octopus_sql_endpoint('Server=sql01;Database=Octo;User ID=octo;Password=x')
    assert result['database'] == 'Octo'
    assert result['integrated_security'] is False
    result = octopus_sql_endpoint('Server=sql01;Trusted_Connection=yes')
    assert result['integrated_security'] is True


def test_failover_partner_host_only():
    result = octopus_sql_endpoint('Server=sql01;Failover Partner=sql02\\INST;Password=%s' % 'pw')
    assert result['failover_partner'] == 'sql02'


@pytest.mark.parametrize('conn', [
    'Server=sql01,1433;Database=Octopus;User ID=octo_user;Password=%s' % SECRET.replace(';', ';;').replace('"', '').replace("'", ''),
    'Server=sql01,1433;Database=Octopus;User ID=octo_user;Password="%s"' % SECRET.replace('"', '""'),
    "Server=sql01,1433;Database=Octopus;User ID=octo_user;Pwd='%s'" % SECRET.replace("'", "''"),
    'Password="%s";Server=sql01,1433;Database=Octopus;User ID=octo_user' % SECRET.replace('"', '""'),
])
def test_secrets_never_returned(conn):
    result = octopus_sql_endpoint(conn)
    dumped = json.dumps(result)
    assert result['host'] == 'sql01'
    assert result['port'] == 1433
    for fragment in ('S3cr3t', 'Pa==ss', 'word', 'octo_user', 'Password', 'Pwd'):
        assert fragment not in dumped


def test_quoted_secret_containing_server_keyword_is_not_parsed_as_server():
    result = octopus_sql_endpoint('Password="x;Server=evil";Server=sql01;Database=Octopus')
    assert result['host'] == 'sql01'
    assert 'evil' not in json.dumps(result)


@pytest.mark.parametrize('conn, message', [
    ('Database=Octopus;Password=%s' % 'TopSecretValue', 'no Server'),
    ('Server=sql01,notaport;Password=TopSecretValue', 'port'),
    ('Server=sql01,70000;Password=TopSecretValue', 'port'),
    ('Server=sql01;Password="TopSecretValue', 'unterminated'),
    ('Server=sql01;TopSecretValue', 'key=value'),
    ('', 'empty'),
    (None, 'empty'),
])
def test_errors_never_echo_secrets(conn, message):
    with pytest.raises(AnsibleFilterError) as err:
        octopus_sql_endpoint(conn)
    assert message in str(err.value)
    assert 'TopSecretValue' not in str(err.value)


def test_errors_list_key_names_only():
    with pytest.raises(AnsibleFilterError) as err:
        octopus_sql_endpoint('Database=Octopus;Password=TopSecretValue')
    assert 'database, password' in str(err.value)
    assert 'TopSecretValue' not in str(err.value)


@pytest.mark.parametrize('port', ['abc', 0.5, 70000, -1])
def test_bad_port_override(port):
    with pytest.raises(AnsibleFilterError):
        octopus_sql_endpoint('Server=sql01', port=port)


def test_filter_module_exposes_filters():
    filters = FilterModule().filters()
    assert set(filters) == {'octopus_sql_endpoint', 'octopus_verify_targets', 'octopus_verify_endpoints', 'octopus_verify_report'}
