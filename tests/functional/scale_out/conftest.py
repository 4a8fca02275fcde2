# -*- coding: utf-8 -*-
# Copyright: Contributors to the octopus.ha collection
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Fixtures of the scale-out suite: the fake fleet, the simulator and an ansible-playbook runner."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import json
import os
import subprocess
import sys

import pytest

from octosim.testing import SimulatorProcess

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

# pylint: disable=wrong-import-position
import scale_out_scenario as scenario  # noqa: E402
from fake_fleet import Fleet, space_config  # noqa: E402


class PlaybookRun(object):
    """The result of one ansible-playbook run."""

    def __init__(self, proc):
        self.rc = proc.returncode
        self.stdout = proc.stdout
        self.stderr = proc.stderr

    @property
    def output(self):
        return self.stdout + self.stderr


class ScaleOut(object):
    """A simulator, a fake fleet and a fake Windows host, ready for playbooks/scale_out.yml."""

    def __init__(self, tmp_path, fleet, space_options=None, version=scenario.CLUSTER_VERSION, queued=4):
        self.tmp_path = tmp_path
        self.fleet = fleet
        self.sim = SimulatorProcess(scenario.sim_config(space_config(fleet, **(space_options or {})),
                                                        version=version, queued=queued)).start()
        self.state_dir = str(tmp_path / 'fake_windows')
        self.downloads_dir = str(tmp_path / 'downloads')
        scenario.seed_fake_host(self.state_dir, self.downloads_dir, fleet.sql.port)
        self.env = scenario.environment(self.state_dir, self.downloads_dir, self.sim.url)

    def inventory(self, **overrides):
        hostvars = scenario.host_vars(self.sim.url, self.fleet.sql.port, **overrides)
        data = {'all': {'children': {'octopus_new_nodes': {'hosts': {scenario.NODE: hostvars}}}}}
        path = self.tmp_path / 'inventory.json'
        path.write_text(json.dumps(data))
        return str(path)

    def run(self, *args, playbook='octopus.ha.scale_out', timeout=600, **overrides):
        cmd = ['ansible-playbook', '-i', self.inventory(**overrides), playbook] + list(args)
        proc = subprocess.run(cmd, env=self.env, cwd=scenario.REPO, capture_output=True, text=True, timeout=timeout,
                              check=False)
        return PlaybookRun(proc)

    def node(self, name=scenario.NODE):
        for node in self.sim.control.state()['nodes']:
            if node['Name'].lower() == name.lower():
                return node
        return None

    def fake_host(self):
        fh = scenario._fake_host()  # pylint: disable=protected-access
        return fh.load_state(host=scenario.NODE, root=self.state_dir)

    def stop(self):
        self.sim.stop()


@pytest.fixture
def fleet():
    with Fleet() as running:
        yield running


@pytest.fixture
def scale_out(tmp_path, fleet):
    """Factory: ``scale_out(space_options={...}, version=...)`` gives a started ScaleOut."""
    started = []

    def make(**kwargs):
        env = ScaleOut(tmp_path, fleet, **kwargs)
        started.append(env)
        return env

    yield make
    for env in started:
        env.stop()
