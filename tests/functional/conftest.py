# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# Copyright: Contributors to the octopus.ha collection
"""Shared fixtures of the functional suites: a simulator and an ansible-playbook runner.

Fixtures
  simulator_factory  start(config=None, speed=0, tls=False, **kwargs) -> a started octosim SimulatorProcess;
                     every simulator it started is stopped after the test
  simulator          one started simulator; its config comes from @pytest.mark.simulator(config, speed=0, tls=False)
                     or defaults to DEFAULT_CLUSTER (three online nodes). .url, .control, .ca_path, .request()
  octopus_env        octopus_env(sim, api_key=ADMIN_KEY) -> {'OCTOPUS_URL': ..., 'OCTOPUS_API_KEY': ...}
  run_playbook       run_playbook(playbook, extra_vars=None, env=None, verbosity=0, check=False, diff=False,
                     inventory=None, timeout=300, args=()) -> PlaybookRun
                     playbook: YAML text, a path, or a collection playbook name such as octopus.ha.scale_in.
                     Runs `ansible-playbook` as a subprocess against localhost (connection local, the venv
                     python) with the default stdout callback; a test-only callback writes every task result
                     to JSON, available as PlaybookRun.results.

PlaybookRun: rc, stdout, stderr, results (list of {host, task, action, status, result}), stats,
  task(name, host=None) -> the last result dict of that task, output (stdout + stderr), explain() for
  assertion messages. It unpacks as `rc, stdout, stderr, results = run_playbook(...)`.
"""

from __future__ import absolute_import, division, print_function
__metaclass__ = type

import json
import os
import subprocess
import sys

import pytest

from octosim.testing import ADMIN_KEY, SimulatorProcess

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
CALLBACK_NAME = 'octopus_ha_test_results'
RESULTS_ENV = 'OCTOPUS_HA_TEST_RESULTS'

DEFAULT_CLUSTER = {
    'server': {'version': '2023.4.8319'},
    'nodes': [{'Name': 'OCTO-NODE-01'}, {'Name': 'OCTO-NODE-02'}, {'Name': 'OCTO-NODE-03'}],
}

# Written to a temporary directory at session start (not a plugin of the collection).
CALLBACK_SOURCE = '''
from __future__ import absolute_import, division, print_function
__metaclass__ = type

import json
import os

from ansible.plugins.callback import CallbackBase


class CallbackModule(CallbackBase):
    """Write every task result to the JSON file named by $%(env)s (test-only)."""

    CALLBACK_VERSION = 2.0
    CALLBACK_TYPE = 'aggregate'
    CALLBACK_NAME = '%(name)s'
    CALLBACK_NEEDS_ENABLED = True

    def __init__(self, *args, **kwargs):
        super(CallbackModule, self).__init__(*args, **kwargs)
        self.records = []

    def _record(self, result, status):
        host = getattr(result, 'host', None) or result._host
        task = getattr(result, 'task', None) or result._task
        data = getattr(result, 'result', None)
        data = result._result if data is None else data
        self.records.append(dict(host=host.get_name(), task=task.get_name(), action=task.action, status=status, result=data))

    def v2_runner_on_ok(self, result):
        self._record(result, 'ok')

    def v2_runner_on_failed(self, result, ignore_errors=False):
        self._record(result, 'ignored' if ignore_errors else 'failed')

    def v2_runner_on_skipped(self, result):
        self._record(result, 'skipped')

    def v2_runner_on_unreachable(self, result):
        self._record(result, 'unreachable')

    def v2_playbook_on_stats(self, stats):
        hosts = sorted(stats.processed.keys())
        summary = dict((h, stats.summarize(h)) for h in hosts)
        path = os.environ.get('%(env)s')
        if path:
            with open(path, 'w') as handle:
                json.dump(dict(results=self.records, stats=summary), handle, default=str)
''' % dict(env=RESULTS_ENV, name=CALLBACK_NAME)


class PlaybookRun:
    """The outcome of one ansible-playbook run."""

    def __init__(self, rc, stdout, stderr, results, stats, command):
        self.rc = rc
        self.stdout = stdout
        self.stderr = stderr
        self.results = results
        self.stats = stats
        self.command = command

    def __iter__(self):
        return iter((self.rc, self.stdout, self.stderr, self.results))

    @property
    def output(self):
        return self.stdout + self.stderr

    def task(self, name, host=None):
        found = [r['result'] for r in self.results if r['task'] == name and (host is None or r['host'] == host)]
        if not found:
            raise AssertionError('no result for task %r; tasks: %r\n%s' % (name, [r['task'] for r in self.results], self.explain()))
        return found[-1]

    def explain(self):
        return 'command: %s\nrc: %s\n--- stdout\n%s\n--- stderr\n%s' % (
            ' '.join(self.command), self.rc, self.stdout[-6000:], self.stderr[-3000:])


@pytest.fixture(scope='session')
def _callback_dir(tmp_path_factory):
    directory = tmp_path_factory.mktemp('callback_plugins')
    (directory / ('%s.py' % CALLBACK_NAME)).write_text(CALLBACK_SOURCE)
    return str(directory)


def _playbook_argument(playbook, tmp_path, number):
    text = str(playbook)
    if '\n' in text:
        path = tmp_path / ('playbook-%d.yml' % number)
        path.write_text(text)
        return str(path)
    return text


def _inventory_argument(inventory, tmp_path):
    if inventory and '\n' not in str(inventory) and os.path.exists(str(inventory)):
        return str(inventory)
    path = tmp_path / 'inventory.ini'
    path.write_text(inventory or 'localhost ansible_connection=local ansible_python_interpreter=%s\n' % sys.executable)
    return str(path)


def _base_env(callback_dir, results_path, tmp_path):
    env = dict(os.environ)
    env.update({
        'ANSIBLE_NOCOLOR': '1',
        'ANSIBLE_FORCE_COLOR': '0',
        'ANSIBLE_RETRY_FILES_ENABLED': 'false',
        'ANSIBLE_DEPRECATION_WARNINGS': 'false',
        'ANSIBLE_HOST_KEY_CHECKING': 'false',
        'ANSIBLE_PYTHON_INTERPRETER': sys.executable,
        'ANSIBLE_STDOUT_CALLBACK': 'ansible.builtin.default',
        'ANSIBLE_CALLBACK_PLUGINS': callback_dir,
        'ANSIBLE_CALLBACKS_ENABLED': CALLBACK_NAME,
        'ANSIBLE_LOCAL_TEMP': str(tmp_path / 'ansible-local'),
        'ANSIBLE_REMOTE_TEMP': str(tmp_path / 'ansible-remote'),
        RESULTS_ENV: results_path,
    })
    return env


@pytest.fixture
def run_playbook(tmp_path, _callback_dir):
    """Run ansible-playbook against localhost; see the module docstring."""
    runs = []

    def run(playbook, extra_vars=None, env=None, verbosity=0, check=False, diff=False, inventory=None, timeout=300, args=()):
        number = len(runs)
        runs.append(number)
        results_path = str(tmp_path / ('results-%d.json' % number))
        command = ['ansible-playbook', _playbook_argument(playbook, tmp_path, number), '-i', _inventory_argument(inventory, tmp_path)]
        if extra_vars:
            vars_path = tmp_path / ('vars-%d.json' % number)
            vars_path.write_text(json.dumps(extra_vars))
            command += ['-e', '@%s' % vars_path]
        command += (['--check'] if check else []) + (['--diff'] if diff else []) + (['-' + 'v' * verbosity] if verbosity else [])
        command += list(args)
        full_env = _base_env(_callback_dir, results_path, tmp_path)
        full_env.update(env or {})
        proc = subprocess.run(command, cwd=REPO, env=full_env, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                              universal_newlines=True, timeout=timeout, check=False)
        data = {}
        if os.path.exists(results_path):
            with open(results_path) as handle:
                data = json.load(handle)
        return PlaybookRun(proc.returncode, proc.stdout, proc.stderr, data.get('results', []), data.get('stats', {}), command)

    return run


@pytest.fixture
def simulator_factory():
    """start(config=None, speed=0, tls=False, **kwargs) -> started SimulatorProcess; all stopped after the test."""
    started = []

    def start(config=None, speed=0, tls=False, **kwargs):
        sim = SimulatorProcess(config if config is not None else DEFAULT_CLUSTER, speed=speed, tls=tls, **kwargs)
        started.append(sim)
        return sim.start()

    yield start
    for sim in started:
        sim.stop()


@pytest.fixture
def simulator(request, simulator_factory):
    """A started simulator; configure with @pytest.mark.simulator(config, speed=0, tls=False)."""
    marker = request.node.get_closest_marker('simulator')
    args = tuple(marker.args) if marker else ()
    kwargs = dict(marker.kwargs) if marker else {}
    return simulator_factory(*args, **kwargs)


@pytest.fixture
def octopus_env():
    """octopus_env(sim, api_key=ADMIN_KEY) -> the connection environment variables for a simulator."""
    def make(sim, api_key=ADMIN_KEY):
        return {'OCTOPUS_URL': sim.url, 'OCTOPUS_API_KEY': api_key}
    return make


def pytest_configure(config):
    config.addinivalue_line('markers', 'simulator(config=None, speed=0, tls=False): configuration of the simulator fixture')
