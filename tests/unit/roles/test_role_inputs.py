# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# Copyright: Contributors to the octopus.ha collection
"""Static checks of the role-input contract (issue 8 §1, docs/architecture.md "Role inputs").

A role that types its inputs with octopus.ha.typed_vars must use only the typed values afterwards:
any direct use of a bool/int/list/dict input such as ``node_remove_force`` in its tasks or vars would
bring back the `-e node_remove_force=false` bug (the string 'false' is true in Jinja).
"""

from __future__ import absolute_import, division, print_function
__metaclass__ = type

import glob
import os
import re

import pytest
import yaml

REPO = os.path.abspath(os.path.join(os.path.dirname(__file__), '..', '..', '..'))
ROLES = sorted(os.path.basename(os.path.dirname(os.path.dirname(p))) for p in glob.glob(os.path.join(REPO, 'roles', '*', 'meta', 'argument_specs.yml')))
TYPED = ('bool', 'int', 'float', 'list', 'dict', 'path')


def _spec(role):
    with open(os.path.join(REPO, 'roles', role, 'meta', 'argument_specs.yml'), encoding='utf-8') as handle:
        return yaml.safe_load(handle)['argument_specs']['main']['options']


def _uses_typed_vars(role):
    with open(os.path.join(REPO, 'roles', role, 'tasks', 'main.yml'), encoding='utf-8') as handle:
        tasks = yaml.safe_load(handle) or []
    return bool(tasks) and 'octopus.ha.typed_vars' in tasks[0]


def _role_files(role):
    files = glob.glob(os.path.join(REPO, 'roles', role, 'tasks', '*.yml'))
    files += glob.glob(os.path.join(REPO, 'roles', role, 'vars', '*.yml'))
    files += glob.glob(os.path.join(REPO, 'roles', role, 'handlers', '*.yml'))
    return sorted(files)


TYPED_ROLES = [r for r in ROLES if _uses_typed_vars(r)]


def test_the_scale_in_role_types_its_inputs():
    assert 'node_remove' in TYPED_ROLES


@pytest.mark.parametrize('role', TYPED_ROLES)
def test_typed_inputs_are_only_used_through_the_typed_fact(role):
    prefix = role + '_'
    options = [name for name, opt in _spec(role).items()
               if name.startswith(prefix) and (opt or {}).get('type', 'str') in TYPED and not (opt or {}).get('no_log')]
    offences = []
    for path in _role_files(role):
        with open(path, encoding='utf-8') as handle:
            for number, line in enumerate(handle, 1):
                if re.match(r'\s*(register|#)', line):
                    continue
                for name in options:
                    if re.search(r'(?<![\w.])%s(?!\w)' % re.escape(name), line):
                        offences.append('%s:%d uses %s; use %s_args.%s' % (os.path.relpath(path, REPO), number, name, role, name[len(prefix):]))
    assert not offences, '\n'.join(offences)


@pytest.mark.parametrize('role', TYPED_ROLES)
def test_api_modules_in_a_typed_role_get_the_connection_from_the_lookup(role):
    """No role hard-codes group/octopus.ha.octopus module_defaults (that would replace the play's)."""
    for path in _role_files(role):
        with open(path, encoding='utf-8') as handle:
            text = handle.read()
        assert 'group/octopus.ha.octopus' not in text, '%s replaces the play-level module_defaults' % path
