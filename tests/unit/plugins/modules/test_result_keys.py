# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# Copyright: Contributors to the octopus.ha collection
"""No module returns a result key that Ansible reserves (issue 8 section 3).

When a result holds ``skipped`` (even an empty list), ansible-core skips ``changed_when`` and
``failed_when`` (ansible/executor/task_executor.py: ``if 'skipped' not in result:``) and a truthy
value shows the task as ``skipping:``. The other keys below are read by the executor, the callbacks
or the loop machinery. A module may only use the few it must, with Ansible's own meaning.
"""

from __future__ import absolute_import, division, print_function
__metaclass__ = type

import glob
import json
import os
import re

import pytest
import yaml

from ansible_collections.octopus.ha.tests.unit.compat import patch_module_args
from ansible_collections.octopus.ha.plugins.modules import octopus_cluster_info, octopus_node, octopus_task_cancel
from ansible_collections.octopus.ha.tests.unit.plugins.module_utils.fake_octopus import KEY, URL, Clock, patched

MODULES = os.path.join(os.path.dirname(__file__), '..', '..', '..', '..', 'plugins', 'modules')

# Keys ansible-core interprets in a task result (task_executor.py, task_result.py, the default
# callback, loops), plus the brief's list.
RESERVED = frozenset((
    'changed', 'failed', 'skipped', 'skip_reason', 'skipped_reason', 'msg', 'rc', 'results', 'invocation', 'warnings',
    'deprecations', 'exception', 'ansible_facts', 'stdout', 'stdout_lines', 'stderr', 'stderr_lines', 'unreachable', 'item',
    'attempts', 'retries', 'diff', 'failed_when_result', 'changed_when_result', 'module_stdout', 'module_stderr',
    'censored', 'checksum', 'backup_file', 'ansible_job_id', 'finished', 'started', 'ansible_loop_var', 'ansible_index_var',
))
# Used by our modules with exactly Ansible's meaning (set by AnsibleModule, or diff mode).
STANDARD_USE = frozenset(('changed', 'failed', 'msg', 'diff', 'warnings', 'deprecations', 'invocation'))


def reserved(key):
    return key in RESERVED or key.startswith('ansible_') or key.startswith('_ansible_')


def documented_return_keys():
    found = []
    for path in sorted(glob.glob(os.path.join(MODULES, '*.py'))):
        with open(path, encoding='utf-8') as handle:
            source = handle.read()
        match = re.search(r'^RETURN\s*=\s*r?"""(.*?)"""', source, re.S | re.M)
        docs = yaml.safe_load(match.group(1)) if match else None
        found.extend((os.path.basename(path), key) for key in (docs or {}))
    return found


# A module that sets facts documents them under ansible_facts, with Ansible's meaning (as ansible.builtin.setup does).
DOCUMENTED_STANDARD_USE = frozenset(('ansible_facts',))


@pytest.mark.parametrize('module, key', documented_return_keys())
def test_no_documented_return_key_is_reserved(module, key):
    assert key in DOCUMENTED_STANDARD_USE or not reserved(key), '%s documents the result key %r, which Ansible reserves' % (module, key)


def test_every_module_is_checked():
    assert set(m for m, k in documented_return_keys()) >= {'octopus_node.py', 'octopus_task_cancel.py', 'octopus_cluster_info.py'}


# ---- actual results ------------------------------------------------------------------------

@pytest.fixture
def octo(monkeypatch):
    server = patched(Clock(), monkeypatch)
    for name in ('A', 'B', 'C'):
        server.add_node(name)
    server.add_task('T1', 'A', duration=20)
    server.add_task('T2', 'B')
    return server


def run(module, capsys, **args):
    with patch_module_args(dict(url=URL, api_key=KEY, **args)):
        with pytest.raises(SystemExit):
            module.main()
    return json.loads(capsys.readouterr().out)


CASES = [
    (octopus_task_cancel, dict(node_name='A', task_ids=['T1', 'T2'])),
    (octopus_task_cancel, dict(task_ids=['T2'], _ansible_check_mode=True)),
    (octopus_task_cancel, dict(task_ids=['missing'])),
    (octopus_node, dict(name='A', state='absent')),
    (octopus_node, dict(name='B', state='drained', wait=False, _ansible_diff=True)),
    (octopus_node, dict(name='nope', state='absent')),
    (octopus_node, dict(name='B', state='absent', drain_timeout=5)),
    (octopus_node, dict(name='C', state='absent', _ansible_check_mode=True)),
    (octopus_cluster_info, dict()),
]


@pytest.mark.parametrize('module, args', CASES, ids=['%s-%d' % (m.__name__.rsplit('.', 1)[-1], i) for i, (m, a) in enumerate(CASES)])
def test_no_result_key_is_reserved(octo, capsys, module, args):
    result = run(module, capsys, **args)
    misused = sorted(k for k in result if reserved(k) and k not in STANDARD_USE)
    assert misused == [], 'result keys %s are reserved by Ansible: %s' % (misused, result)
