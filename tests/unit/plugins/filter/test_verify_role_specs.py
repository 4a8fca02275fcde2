# -*- coding: utf-8 -*-
# Copyright: Contributors to the octopus.ha collection
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The node_verify/node_promote role contracts: secret options are no_log, defaults match the specs."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import os
import re

import pytest
import yaml

ROOT = os.path.abspath(os.path.join(os.path.dirname(os.path.abspath(__file__)), '..', '..', '..', '..'))
SECRET_RE = re.compile(r'(key|password|secret|token|connection_string)$')


def _load(role, name):
    with open(os.path.join(ROOT, 'roles', role, name)) as handle:
        return yaml.safe_load(handle)


@pytest.mark.parametrize('role', ['node_verify', 'node_promote'])
def test_secret_options_are_no_log(role):
    options = _load(role, 'meta/argument_specs.yml')['argument_specs']['main']['options']
    secrets = [name for name in options if SECRET_RE.search(name)]
    if role == 'node_verify':
        assert set(secrets) == {'node_verify_octopus_api_key', 'node_verify_sql_connection_string',
                                'node_verify_storage_become_password'}
    for name in secrets:
        assert options[name].get('no_log') is True, name


@pytest.mark.parametrize('role', ['node_verify', 'node_promote'])
def test_every_default_is_specified_and_prefixed(role):
    options = _load(role, 'meta/argument_specs.yml')['argument_specs']['main']['options']
    defaults = _load(role, 'defaults/main.yml')
    assert set(defaults) == set(options)
    for name, value in defaults.items():
        assert name.startswith(role + '_')
        spec = options[name]
        assert spec.get('description'), name
        if 'default' in spec and not (isinstance(value, str) and '{{' in value):
            assert spec['default'] == value, name
