# -*- coding: utf-8 -*-

# Copyright: Contributors to the octopus.ha collection
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

"""Runs the real ansible-rulebook against the in-process moto server, ended by the test.

The run does not end on an idle timeout. The shipped rulebook gets one extra, test-only source
(``sources/octopus_ha_test_release.py``) that returns when the test calls ``finish()``;
ansible-rulebook then shuts down gracefully, waiting for the handlers that still run (the
shutdown delay is a failure bound of 15 minutes, never reached by a passing run). So a test waits
for the outcome it expects (``wait_for``), then ends the run: a slow machine makes the run slower,
never different. ``wait_for`` bounds are failure bounds only.
"""

from __future__ import absolute_import, division, print_function
__metaclass__ = type

import json
import os
import subprocess
import sys
import time

import yaml

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.abspath(os.path.join(HERE, '..', '..', '..'))
RULEBOOK = os.path.join(REPO, 'extensions', 'eda', 'rulebooks', 'asg_lifecycle.yml')
SOURCES = os.path.join(HERE, 'sources')
SHUTDOWN_DELAY = 900
WAIT_BOUND = 420


def write_inventory(path, host_vars=None, groups=None, extra_hosts=None):
    """localhost (local connection, this venv's python) with host_vars, empty groups {name: group vars}, and extra hosts
    {name: host vars} (hosts that a handler adds at run time keep these variables)."""
    localhost = {'ansible_connection': 'local', 'ansible_python_interpreter': sys.executable}
    localhost.update(host_vars or {})
    hosts = {'localhost': localhost}
    hosts.update(extra_hosts or {})
    inventory = {'all': {'hosts': hosts, 'children': dict((name, {'vars': gvars}) for name, gvars in (groups or {}).items())}}
    with open(path, 'w') as handle:
        json.dump(inventory, handle)
    return path


def controlled_rulebook(tmp_path, release_file, rulebook=RULEBOOK, replace=None):
    """The rulebook with the test's release source added (and handler names replaced for stub runs)."""
    with open(rulebook) as handle:
        text = handle.read()
    for old, new in (replace or {}).items():
        text = text.replace(old, new)
    rulesets = yaml.safe_load(text)
    for ruleset in rulesets:
        ruleset['sources'].append({'name': 'Test release (test only)', 'octopus_ha_test_release': {'path': str(release_file)}})
    path = tmp_path / 'controlled_rulebook.yml'
    path.write_text(yaml.safe_dump(rulesets, sort_keys=False))
    return str(path)


class RulebookRun:
    """A running ansible-rulebook. wait_for(predicate) while it runs, then finish()."""

    def __init__(self, tmp_path, moto, rulebook_vars=None, host_vars=None, env=None, groups=None, replace=None, rulebook=RULEBOOK,
                 extra_hosts=None):
        self.tmp_path = tmp_path
        self.release_file = tmp_path / 'release-the-rulebook'
        inventory = write_inventory(str(tmp_path / 'rulebook-inventory.json'), host_vars, groups, extra_hosts)
        vars_file = tmp_path / 'rulebook-vars.json'
        merged_vars = {'octopus_aws_region': 'us-east-1', 'octopus_aws_endpoint_url': moto.url, 'octopus_lifecycle_wait_seconds': 1}
        merged_vars.update(rulebook_vars or {})
        vars_file.write_text(json.dumps(merged_vars))
        tmpdir = tmp_path / 'tmp'
        tmpdir.mkdir(exist_ok=True)
        full_env = dict(os.environ)
        full_env.update(moto.env)
        full_env.update({'ANSIBLE_NOCOLOR': '1', 'ANSIBLE_PYTHON_INTERPRETER': sys.executable, 'ANSIBLE_DEPRECATION_WARNINGS': 'false',
                         'TMPDIR': str(tmpdir), 'ANSIBLE_LOCAL_TEMP': str(tmpdir / 'ansible-local')})
        full_env.update(env or {})
        self.output_path = tmp_path / 'rulebook-output.txt'
        self.command = [os.path.join(os.path.dirname(sys.executable), 'ansible-rulebook'), '-i', inventory,
                        '-r', controlled_rulebook(tmp_path, self.release_file, rulebook, replace), '-S', SOURCES,
                        '--vars', str(vars_file), '--shutdown-delay', str(SHUTDOWN_DELAY), '-v']
        self._log = open(str(self.output_path), 'w')
        self.proc = subprocess.Popen(self.command, cwd=str(tmp_path), env=full_env, stdout=self._log, stderr=subprocess.STDOUT)
        self.returncode = None

    @property
    def output(self):
        with open(str(self.output_path)) as handle:
            return handle.read()

    def explain(self):
        return 'rc=%s\n%s' % (self.proc.poll(), self.output[-12000:])

    def wait_for(self, predicate, what, bound=WAIT_BOUND):
        """Poll predicate() until true. The bound is a failure bound (a hung run), not an ordering."""
        deadline = time.monotonic() + bound
        while True:
            value = predicate()
            if value:
                return value
            if self.proc.poll() is not None:
                raise AssertionError('ansible-rulebook exited before %s\n%s' % (what, self.explain()))
            if time.monotonic() > deadline:
                raise AssertionError('gave up waiting %d s for %s\n%s' % (bound, what, self.explain()))
            time.sleep(0.2)

    def finish(self, bound=SHUTDOWN_DELAY + 60):
        """End the source loop; ansible-rulebook waits for the running handlers, then exits."""
        self.release_file.write_text('release\n')
        try:
            self.returncode = self.proc.wait(timeout=bound)
        finally:
            if self.proc.poll() is None:
                self.proc.kill()
                self.proc.wait()
            self._log.close()
        return self

    def handler_runs(self, play_name):
        """How many times a handler playbook started (its first play's banner in the rulebook output)."""
        return self.output.count('PLAY [%s]' % play_name)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()
        if not self._log.closed:
            self._log.close()
