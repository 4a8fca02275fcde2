# -*- coding: utf-8 -*-
# Copyright: Contributors to the octopus.ha collection
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The one SQL connection-string parser (issue 12 section 1): quotes and ``;;`` as SqlClient reads them."""

from __future__ import absolute_import, division, print_function
__metaclass__ = type

import pytest

from ansible_collections.octopus.ha.plugins.module_utils import _octopus_sql as sql
from ansible_collections.octopus.ha.plugins.module_utils._octopus_configure import server_plan

QUOTED = 'Server=sql01;Database=Octopus;User Id="octo;svc";Password=\'p;w\''


def test_quoted_values_hold_semicolons():
    parts = sql.connection_string_parts(QUOTED)
    assert parts['user id'] == 'octo;svc' and parts['password'] == 'p;w'
    assert sql.sql_user(QUOTED) == 'octo;svc'


@pytest.mark.parametrize('text, key, value', [
    ('Password=a;;b;Server=x', 'password', 'a;b'),                 # ;; in an unquoted value is a literal ;
    ("Password='it''s';Server=x", 'password', "it's"),             # doubled quote inside a quoted value
    ('Password="say ""hi""";Server=x', 'password', 'say "hi"'),
    ('  User   ID = octo ;Server=x', 'user id', 'octo'),           # key white space collapsed, value trimmed
    ('Weird==Key=v;Server=x', 'weird=key', 'v'),                   # == in a key is a literal =
    ('Server=a;Server=b', 'server', 'b'),                          # the last one wins
    ("Password=' padded ';Server=x", 'password', ' padded '),
])
def test_sqlclient_rules(text, key, value):
    assert sql.connection_string_parts(text)[key] == value


@pytest.mark.parametrize('text', ['Server=x;Password="open', "Server=x;Password='a'b;", 'Server=x;novalue'])
def test_errors_never_echo_the_input(text):
    with pytest.raises(sql.ConnectionStringError) as err:
        sql.split_connection_string(text)
    assert 'Password' not in str(err.value) and 'open' not in str(err.value)


@pytest.mark.parametrize('text, integrated', [
    ('Server=x;Integrated Security=SSPI', True), ('Server=x;Trusted_Connection=yes', True),
    ('Server=x;Authentication=ActiveDirectoryIntegrated', True), ('Server=x;User ID=a;Password=b', False),
    ('Server=x;Integrated Security=False', False),
])
def test_integrated_security(text, integrated):
    assert sql.uses_integrated_security(text) is integrated


def test_endpoint_filter_and_planner_read_the_same_user():
    """Before: the planner split on every ';' and read the login as '"octo'."""
    endpoint = sql.sql_endpoint(QUOTED)
    assert endpoint['host'] == 'sql01' and endpoint['integrated_security'] is False
    plan = server_plan({'instances': '[]', 'service': {'exists': False}}, {
        'node_name': 'n1', 'connection_string': QUOTED, 'master_key': 'k', 'service_username': 'CORP\\octo;svc',
        'service_password': 'x'})
    assert any('SQL login' in e for e in plan['errors']), plan['errors']
    assert 'p;w' not in str(plan)
