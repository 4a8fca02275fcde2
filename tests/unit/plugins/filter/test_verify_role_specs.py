# -*- coding: utf-8 -*-
# Copyright: Contributors to the octopus.ha collection
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The role contracts of the scale-out roles: secret options are no_log, every default is specified and
prefixed, the shared connection variables are documented without a default, and the inputs are typed
once at the role start (issue 12 section 2; issue 11 section 1)."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import os
import re

import pytest
import yaml

ROOT = os.path.abspath(os.path.join(os.path.dirname(os.path.abspath(__file__)), '..', '..', '..', '..'))
SECRET_RE = re.compile(r'(key|password|secret|token|connection_string)$')
ROLES = ['server_install', 'server_configure', 'node_verify', 'node_promote']
SHARED = ('octopus_url', 'octopus_api_key', 'octopus_validate_certs', 'octopus_ca_path')
SECRETS = {
    'server_install': {'octopus_api_key'},
    'server_configure': {'octopus_api_key', 'server_configure_connection_string', 'server_configure_master_key',
                         'server_configure_service_password', 'server_configure_db_become_password'},
    'node_verify': {'octopus_api_key', 'node_verify_sql_connection_string', 'node_verify_storage_become_password'},
    'node_promote': {'octopus_api_key'},
}


def _load(role, name):
    with open(os.path.join(ROOT, 'roles', role, name)) as handle:
        return yaml.safe_load(handle)


def _options(role):
    return _load(role, 'meta/argument_specs.yml')['argument_specs']['main']['options']


@pytest.mark.parametrize('role', ROLES)
def test_secret_options_are_no_log(role):
    options = _options(role)
    secrets = set(name for name in options if SECRET_RE.search(name) and not name.endswith('_logon_type'))
    assert secrets == SECRETS[role]
    for name in secrets:
        assert options[name].get('no_log') is True, name


@pytest.mark.parametrize('role', ROLES)
def test_every_default_is_specified_and_prefixed(role):
    options = _options(role)
    defaults = _load(role, 'defaults/main.yml') or {}
    own = dict((name, spec) for name, spec in options.items() if name.startswith(role + '_'))
    assert set(options) - set(own) == set(SHARED), 'only the shared connection variables may lack the role prefix'
    assert set(defaults) == set(name for name, spec in own.items() if not spec.get('required'))
    for name, value in defaults.items():
        spec = options[name]
        assert spec.get('description'), name
        if 'default' in spec and not (isinstance(value, str) and '{{' in value):
            assert spec['default'] == value, name
    for name in SHARED:
        assert 'default' not in options[name] and options[name].get('description'), name


@pytest.mark.parametrize('role', ROLES)
def test_inputs_are_typed_at_the_role_start_and_the_connection_comes_from_the_lookup(role):
    tasks = _load(role, 'tasks/main.yml')
    assert 'octopus.ha.typed_vars' in tasks[0], 'the first task of %s must be octopus.ha.typed_vars' % role
    folder = os.path.join(ROOT, 'roles', role, 'tasks')
    text = ''.join(open(os.path.join(folder, f)).read() for f in sorted(os.listdir(folder)))
    assert 'group/octopus.ha.octopus' not in text
    for module in ('octopus.ha.octopus_cluster_info', 'octopus.ha.octopus_node', 'octopus.ha.octopus_dependencies_info'):
        for match in re.finditer(r'^(\s*)%s:\s*$' % re.escape(module), text, re.M):
            block = text[max(0, match.start() - 400):match.end() + 300]
            assert "lookup('octopus.ha.connection'" in block, '%s in %s gets no connection from the lookup' % (module, role)
