# -*- coding: utf-8 -*-

# Copyright: Contributors to the octopus.ha collection
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

"""Fixtures for the EDA / lifecycle tests: an in-process moto server and an ansible-playbook runner."""

from __future__ import absolute_import, division, print_function
__metaclass__ = type

import json
import logging
import os
import sys

import pytest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

# pylint: disable=wrong-import-position
from eda_moto_harness import MotoHarness  # noqa: E402

REPO = os.path.abspath(os.path.join(os.path.dirname(__file__), '..', '..', '..'))


# moto's in-process server logs every request through werkzeug; keep failure reports readable.
logging.getLogger('werkzeug').setLevel(logging.WARNING)


@pytest.fixture(scope='session')
def moto_session():
    harness = MotoHarness()
    yield harness
    harness.stop()


@pytest.fixture
def moto(moto_session):
    """A clean moto (all backends reset, recorder emptied) for each test."""
    moto_session.reset()
    return moto_session


@pytest.fixture
def local_inventory(tmp_path):
    path = tmp_path / 'inventory.yml'
    path.write_text(json.dumps({'all': {'hosts': {'localhost': {
        'ansible_connection': 'local', 'ansible_python_interpreter': sys.executable}}}}))
    return str(path)


@pytest.fixture
def eda_playbook(moto, local_inventory, run_playbook):
    """Run a playbook (path or FQCN) against localhost with the moto environment, through the shared runner
    (tests/functional/playbook_runner.py). Returns its PlaybookRun (.returncode, .stdout, .stderr)."""

    def run(playbook, extra_vars=None, env=None, check=False, timeout=300):
        merged = dict(moto.env)
        merged.update(env or {})
        return run_playbook(playbook, extra_vars=extra_vars, env=merged, check=check, inventory=local_inventory, timeout=timeout)

    return run


@pytest.fixture
def adhoc(eda_playbook, tmp_path):
    """Run one module on localhost through ansible-playbook. Returns the registered result dict."""
    counter = [0]

    def run(module, args, check=False, env=None, timeout=300):
        counter[0] += 1
        out = tmp_path / ('result-%d.json' % counter[0])
        playbook = tmp_path / ('adhoc-%d.yml' % counter[0])
        playbook.write_text(json.dumps([{
            'name': 'adhoc', 'hosts': 'localhost', 'gather_facts': False, 'tasks': [
                {'name': 'Call the module', module: args, 'register': 'result', 'ignore_errors': True},
                {'name': 'Save the result', 'ansible.builtin.copy': {'content': '{{ result | to_json }}', 'dest': str(out), 'mode': '0600'},
                 'check_mode': False},
            ]}]))
        proc = eda_playbook(str(playbook), env=env, check=check, timeout=timeout)
        if not out.exists():
            raise AssertionError('module did not run: %s %s' % (proc.stdout, proc.stderr))
        return json.loads(out.read_text())

    return run


@pytest.fixture
def scaling_model(moto):
    """The AWS scale-in model of asg_scaling_model.py (terminate hooks, deferred scale-in), reset for each test."""
    from asg_scaling_model import install  # pylint: disable=import-outside-toplevel
    model = install()
    model.reset()
    yield model
    model.reset()
