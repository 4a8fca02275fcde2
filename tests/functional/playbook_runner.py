# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# Copyright: Contributors to the octopus.ha collection
"""The one ansible-playbook runner of the functional suites (issue 12 section 2).

Every functional suite starts ansible-playbook through this module, so the ANSIBLE_* environment, the
command line and the test-only results callback are built in one place:

  ansible_env(extra=None, workdir=None, results_path=None, callback_dir=None) -> the environment
  run(playbook, workdir, ...) -> PlaybookRun (blocking)
  start(playbook, workdir, ...) -> StartedPlaybook (in the background, its own process group: .wait(), .kill())

The pytest fixture ``run_playbook`` (tests/functional/conftest.py) wraps run() and start() with the
test's tmp_path. The rulebook runs (tests/functional/eda/rulebook_runner.py, test_autoscaling_e2e.py) start
ansible-rulebook, and tests/build runs the installed copy's own ansible-playbook on purpose (no source
checkout on the path); both take their ANSIBLE_* settings from ansible_env() too.
"""

from __future__ import absolute_import, division, print_function
__metaclass__ = type

import json
import os
import signal
import subprocess
import sys

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
CALLBACK_NAME = 'octopus_ha_test_results'
RESULTS_ENV = 'OCTOPUS_HA_TEST_RESULTS'
ANSIBLE_PLAYBOOK = os.path.join(os.path.dirname(sys.executable), 'ansible-playbook')

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


def callback_dir(directory):
    """Write the results callback plugin into directory (once); returns the directory."""
    path = os.path.join(str(directory), '%s.py' % CALLBACK_NAME)
    if not os.path.exists(path):
        os.makedirs(str(directory), exist_ok=True)
        with open(path, 'w') as handle:
            handle.write(CALLBACK_SOURCE)
    return str(directory)


def ansible_env(extra=None, workdir=None, results_path=None, callback_dir=None):
    """os.environ plus the settings every test run of Ansible uses, then extra (which wins; None removes a variable)."""
    env = dict(os.environ)
    env.update({
        'ANSIBLE_NOCOLOR': '1',
        'ANSIBLE_FORCE_COLOR': '0',
        'ANSIBLE_RETRY_FILES_ENABLED': 'false',
        'ANSIBLE_DEPRECATION_WARNINGS': 'false',
        'ANSIBLE_HOST_KEY_CHECKING': 'false',
        'ANSIBLE_PYTHON_INTERPRETER': sys.executable,
        'ANSIBLE_STDOUT_CALLBACK': 'ansible.builtin.default',
    })
    if workdir is not None:
        env['ANSIBLE_LOCAL_TEMP'] = os.path.join(str(workdir), 'ansible-local')
        env['ANSIBLE_REMOTE_TEMP'] = os.path.join(str(workdir), 'ansible-remote')
    if results_path is not None and callback_dir is not None:
        env.update({'ANSIBLE_CALLBACK_PLUGINS': callback_dir, 'ANSIBLE_CALLBACKS_ENABLED': CALLBACK_NAME,
                    RESULTS_ENV: str(results_path)})
    for name, value in (extra or {}).items():
        if value is None:
            env.pop(name, None)
        else:
            env[name] = value
    return env


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

    @property
    def returncode(self):
        """subprocess.CompletedProcess's name for rc."""
        return self.rc


class StartedPlaybook:
    """An ansible-playbook process started in the background, in its own process group."""

    def __init__(self, proc, results_path, command, timeout):
        self.proc = proc
        self.results_path = results_path
        self.command = command
        self.timeout = timeout

    def wait(self):
        try:
            stdout, stderr = self.proc.communicate(timeout=self.timeout)
        except subprocess.TimeoutExpired:
            self.kill()
            stdout, stderr = self.proc.communicate()
        return _finished(self.proc.returncode, stdout, stderr, self.results_path, self.command)

    def kill(self):
        """SIGKILL the whole process group (ansible-playbook and its workers), like a CI timeout."""
        try:
            os.killpg(self.proc.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass


def _finished(rc, stdout, stderr, results_path, command):
    data = {}
    if results_path and os.path.exists(str(results_path)):
        with open(str(results_path)) as handle:
            data = json.load(handle)
    return PlaybookRun(rc, stdout, stderr, data.get('results', []), data.get('stats', {}), command)


def _next_number(workdir):
    """A number no earlier run in workdir used (runs write their files as <kind>-<number>.*)."""
    number = 0
    while os.path.exists(os.path.join(str(workdir), 'results-%d.json' % number)) or \
            os.path.exists(os.path.join(str(workdir), 'run-%d.started' % number)):
        number += 1
    with open(os.path.join(str(workdir), 'run-%d.started' % number), 'w') as handle:
        handle.write('')
    return number


def _playbook_argument(playbook, workdir, number):
    text = str(playbook)
    if '\n' in text:
        path = os.path.join(str(workdir), 'playbook-%d.yml' % number)
        with open(path, 'w') as handle:
            handle.write(text)
        return path
    return text


def _inventory_argument(inventory, workdir):
    if inventory and '\n' not in str(inventory) and os.path.exists(str(inventory)):
        return str(inventory)
    path = os.path.join(str(workdir), 'inventory.ini')
    with open(path, 'w') as handle:
        handle.write(inventory or 'localhost ansible_connection=local ansible_python_interpreter=%s\n' % sys.executable)
    return path


def _prepare(playbook, workdir, extra_vars, env, verbosity, check, diff, inventory, args, callbacks):
    number = _next_number(workdir)
    results_path = os.path.join(str(workdir), 'results-%d.json' % number)
    command = [ANSIBLE_PLAYBOOK, _playbook_argument(playbook, workdir, number), '-i', _inventory_argument(inventory, workdir)]
    if extra_vars:
        vars_path = os.path.join(str(workdir), 'vars-%d.json' % number)
        with open(vars_path, 'w') as handle:
            json.dump(extra_vars, handle)
        command += ['-e', '@%s' % vars_path]
    command += (['--check'] if check else []) + (['--diff'] if diff else []) + (['-' + 'v' * verbosity] if verbosity else [])
    command += list(args)
    full_env = ansible_env(env, workdir=workdir, results_path=results_path,
                           callback_dir=callback_dir(callbacks or os.path.join(str(workdir), 'callback_plugins')))
    return command, full_env, results_path


def run(playbook, workdir, extra_vars=None, env=None, verbosity=0, check=False, diff=False, inventory=None, timeout=300,
        args=(), callbacks=None, cwd=REPO):
    """Run ansible-playbook to its end. playbook: YAML text, a path or a collection playbook name."""
    command, full_env, results_path = _prepare(playbook, workdir, extra_vars, env, verbosity, check, diff, inventory, args,
                                               callbacks)
    proc = subprocess.run(command, cwd=cwd, env=full_env, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                          universal_newlines=True, timeout=timeout, check=False)
    return _finished(proc.returncode, proc.stdout, proc.stderr, results_path, command)


def start(playbook, workdir, extra_vars=None, env=None, verbosity=0, check=False, diff=False, inventory=None, timeout=300,
          args=(), callbacks=None, cwd=REPO):
    """Start ansible-playbook in the background, in its own process group (so kill() ends its workers too)."""
    command, full_env, results_path = _prepare(playbook, workdir, extra_vars, env, verbosity, check, diff, inventory, args,
                                               callbacks)
    proc = subprocess.Popen(command, cwd=cwd, env=full_env, stdout=subprocess.PIPE, stderr=subprocess.PIPE,  # pylint: disable=consider-using-with
                            universal_newlines=True, start_new_session=True)
    return StartedPlaybook(proc, results_path, command, timeout)
