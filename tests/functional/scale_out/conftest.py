# -*- coding: utf-8 -*-
# Copyright: Contributors to the octopus.ha collection
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Fixtures of the scale-out suite: the fake fleet and a ready scale-out environment (shared runner)."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import json
import os
import sys

import pytest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

# pylint: disable=wrong-import-position
import scale_out_scenario as scenario  # noqa: E402
from fake_fleet import Fleet, space_config  # noqa: E402


class ScaleOut(object):
    """A simulator, a fake fleet and a fake Windows host, ready for playbooks/scale_out.yml.

    Runs go through the shared ``run_playbook`` fixture (tests/functional/conftest.py), with the
    fake Windows collections first on the collections path.
    """

    def __init__(self, tmp_path, fleet, run_playbook, simulator_factory, space_options=None,
                 version=scenario.CLUSTER_VERSION, queued=4):
        self.tmp_path = tmp_path
        self.fleet = fleet
        self._run_playbook = run_playbook
        # speed=None: the config's clock speed (1.0), so nodes poll the queue during the run.
        self.sim = simulator_factory(scenario.sim_config(space_config(fleet, **(space_options or {})),
                                                         version=version, queued=queued), speed=None)
        self.state_dir = str(tmp_path / 'fake_windows')
        self.downloads_dir = str(tmp_path / 'downloads')
        scenario.seed_fake_host(self.state_dir, self.downloads_dir, fleet.sql.port)
        full = scenario.environment(self.state_dir, self.downloads_dir, self.sim.url)
        self.env = dict((k, full[k]) for k in full if k.startswith(('ANSIBLE_COLLECTIONS_PATH', 'OCTOHA_')))
        self.env.update(OCTOPUS_URL='', OCTOPUS_API_KEY='')

    def inventory(self, **overrides):
        hostvars = scenario.host_vars(self.sim.url, self.fleet.sql.port, comms_port=self.fleet.comms.port, **overrides)
        data = {'all': {'children': {'octopus_new_nodes': {'hosts': {scenario.NODE: hostvars}}}}}
        path = self.tmp_path / 'inventory.json'
        path.write_text(json.dumps(data))
        return str(path)

    def run(self, verbosity=0, playbook='octopus.ha.scale_out', timeout=600, **overrides):
        return self._run_playbook(playbook, env=self.env, inventory=self.inventory(**overrides), verbosity=verbosity,
                                  timeout=timeout)

    def node(self, name=scenario.NODE):
        for node in self.sim.control.state()['nodes']:
            if node['Name'].lower() == name.lower():
                return node
        return None

    def fake_host(self):
        fh = scenario._fake_host()  # pylint: disable=protected-access
        return fh.load_state(host=scenario.NODE, root=self.state_dir)


@pytest.fixture
def fleet():
    with Fleet() as running:
        yield running


@pytest.fixture
def scale_out(tmp_path, fleet, run_playbook, simulator_factory):
    """Factory: ``scale_out(space_options={...}, version=...)`` gives a ready ScaleOut."""

    def make(**kwargs):
        return ScaleOut(tmp_path, fleet, run_playbook, simulator_factory, **kwargs)

    return make
