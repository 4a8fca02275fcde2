# -*- coding: utf-8 -*-

# Copyright: Contributors to the octopus.ha collection
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

"""Fixtures for the scale-in suites: simulator clusters, the scale_in playbook runner, the module runner."""

from __future__ import absolute_import, division, print_function
__metaclass__ = type

import json
import os
import sys

import pytest

from octosim.testing import ADMIN_KEY

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

# pylint: disable=wrong-import-position
from scale_in_runner import TARGET, ModuleRun, cluster  # noqa: E402

# The results callback of the shared run_playbook fixture (tests/functional/conftest.py), reused for
# the background runs.


@pytest.fixture
def sim_factory(simulator_factory):
    """The shared simulator_factory, with the clock speed taken from the config unless given."""

    def start(config=None, speed=None):
        return simulator_factory(config if config is not None else cluster(), speed=speed)

    return start


class RunningPlaybook:
    """A scale_in run started in the background (the shared runner's StartedPlaybook): .wait() -> PlaybookResult, .kill()."""

    def __init__(self, started):
        self.started = started
        self.proc = started.proc

    def wait(self):
        done = self.started.wait()
        return PlaybookResult(done.rc, done.stdout, done.stderr, done.results, done.stats)

    def kill(self):
        self.started.kill()


class PlaybookResult:
    """rc, stdout/stderr and (with the json callback) per-task results and stats of one run."""

    def __init__(self, rc, stdout, stderr, results, stats):
        self.rc = rc
        self.stdout = stdout
        self.stderr = stderr
        self.data = {'results': results, 'stats': stats}

    @classmethod
    def from_file(cls, rc, stdout, stderr, json_path):
        data = {}
        if os.path.exists(json_path):
            with open(json_path, encoding='utf-8') as handle:
                data = json.load(handle)
        return cls(rc, stdout, stderr, data.get('results', []), data.get('stats', {}))

    def tasks(self, host='localhost'):
        """[(task name, result)] in order, for one host."""
        return [(t['task'], t['result']) for t in self.data['results'] if t['host'] == host]

    def result(self, name, host='localhost'):
        """The last result of the task whose name ends with `name`."""
        found = [r for n, r in self.tasks(host) if n == name or n.endswith(' : ' + name) or n.endswith(name)]
        assert found, 'no task %r in %s' % (name, [n for n, r in self.tasks(host)])
        return found[-1]

    def stats(self, host='localhost'):
        return (self.data['stats'] or {}).get(host, {})

    @property
    def changed(self):
        return self.stats().get('changed', 0)

    @property
    def failed(self):
        stats = self.stats()
        return self.rc != 0 or stats.get('failures', 0) > 0 or stats.get('unreachable', 0) > 0

    def messages(self):
        """Every msg of a failed task, for assertions."""
        return ' '.join(str(t['result'].get('msg', '')) for t in self.data['results'] if t['status'] in ('failed', 'unreachable'))

    def explain(self):
        return 'rc=%s\n%s\n%s' % (self.rc, self.stdout[-6000:], self.stderr[-3000:])


@pytest.fixture
def inventory_file(tmp_path):
    """Write an inventory: localhost plus extra hosts {name: vars}. Returns its path."""

    def write(extra_hosts=None, localhost_vars=None):
        hosts = {'localhost': {'ansible_connection': 'local', 'ansible_python_interpreter': sys.executable}}
        hosts['localhost'].update(localhost_vars or {})
        for name, hostvars in (extra_hosts or {}).items():
            merged = {'ansible_python_interpreter': sys.executable}
            merged.update(hostvars)
            hosts[name] = merged
        path = tmp_path / 'inventory.json'
        path.write_text(json.dumps({'all': {'hosts': hosts}}))
        return str(path)

    return write


@pytest.fixture
def scale_in(inventory_file, run_playbook):
    """Run `ansible-playbook octopus.ha.scale_in` (or another playbook) against a simulator.

    scale_in(sim, node='OCTO-NODE-03', check=False, verbosity=0, extra_vars=None, env=None, api_key=ADMIN_KEY,
             playbook='octopus.ha.scale_in', inventory=None, timeout=240, url=None, background=False, args=())
    -> PlaybookResult, or with background=True a RunningPlaybook (.wait(), .kill()).
    The connection goes through the environment (OCTOPUS_URL / OCTOPUS_API_KEY), as in production.
    ``args`` are extra command-line arguments after the JSON extra vars, for example ``['-e', 'k=v']`` strings
    as an operator types them (they win over the JSON extra vars).
    Both go through the shared runner (run_playbook, tests/functional/playbook_runner.py); background runs
    (concurrent callers, a run killed mid-drain) start in their own process group.
    """
    def run(sim, node=TARGET, check=False, verbosity=0, extra_vars=None, env=None, api_key=ADMIN_KEY,
            playbook='octopus.ha.scale_in', inventory=None, timeout=240, url=None, background=False, args=()):
        # The re-registration watch after a delete lasts one heartbeat (30 s) in production; 3 s of real time is
        # plenty against a simulator whose clock is frozen or sped up, and keeps the suite cheap.
        variables = {'node_remove_poll_interval': 1, 'node_remove_max_poll_interval': 2, 'node_remove_reregistration_watch': 3}
        if node is not None:
            variables['octopus_node_name'] = node
        variables.update(extra_vars or {})
        connection = {'OCTOPUS_URL': url if url is not None else (sim.url if sim is not None else ''), 'OCTOPUS_API_KEY': api_key}
        connection.update(env or {})
        inventory = inventory or inventory_file()
        done = run_playbook(playbook, extra_vars=variables, env=connection, verbosity=verbosity, check=check,
                            inventory=inventory, timeout=timeout, args=args, background=background)
        if background:
            return RunningPlaybook(done)
        return PlaybookResult(done.rc, done.stdout, done.stderr, done.results, done.stats)

    return run


@pytest.fixture
def module():
    """Run an octopus.ha module in-process (forked): module(name, args, sim, virtual_time=True) -> result."""

    def run(name, args, sim, virtual_time=True, connection=True, wait=True):
        full = {}
        if connection:
            full.update({'url': sim.url, 'api_key': ADMIN_KEY})
        full.update(args)
        handle = ModuleRun(name, full, sim_url=sim.url, virtual_time=virtual_time)
        return handle.result() if wait else handle

    return run
