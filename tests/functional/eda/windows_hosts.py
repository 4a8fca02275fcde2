# -*- coding: utf-8 -*-

# Copyright: Contributors to the octopus.ha collection
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

"""The simulated Windows VMs of the EDA tests (tests/fake_windows): one home for seeding them and for the
inventory and environment that point a handler's WinRM tasks at them.

A seeded VM runs the Octopus service of the node named after its instance; the fake ``win_service`` that
stops it tells the Octopus simulator (OCTOHA_SIM_URL) that the node stopped, as a real service stop ends
the node's heartbeat.
"""

from __future__ import absolute_import, division, print_function
__metaclass__ = type

import json
import os
import sys

REPO = os.path.abspath(os.path.join(os.path.dirname(__file__), '..', '..', '..'))
FAKE_WINDOWS = os.path.join(REPO, 'tests', 'fake_windows')
# The octopus_nodes group vars: the "WinRM" settings of the Windows nodes, here the simulated host (local connection).
OCTOPUS_NODES_VARS = {'ansible_connection': 'local', 'ansible_python_interpreter': sys.executable}


def seed_windows_host(state_dir, host):
    """The instance's VM: an installed, running Octopus service whose node is named after the instance."""
    os.makedirs(os.path.join(state_dir, 'hosts'), exist_ok=True)
    state = {
        'services': {'octopusdeploy': {
            'name': 'OctopusDeploy', 'display_name': 'OctopusDeploy', 'state': 'running', 'start_mode': 'auto', 'username': 'LocalSystem',
            'path': '"C:\\Program Files\\Octopus Deploy\\Octopus\\Octopus.Server.exe" run --instance="OctopusServer"',
            'octopus_instance': 'OctopusServer', 'dependencies': []}},
        'octopus': {'instances': {'OctopusServer': {
            'InstanceName': 'OctopusServer', 'ConfigurationFilePath': 'C:\\Octopus\\OctopusServer.config',
            'config': {'Octopus.Server.NodeName': host}, 'ever_started': True}}},
    }
    with open(os.path.join(state_dir, 'hosts', host + '.json'), 'w', encoding='utf-8') as handle:
        json.dump(state, handle)


def windows_state(state_dir, host):
    with open(os.path.join(state_dir, 'hosts', host + '.json'), encoding='utf-8') as handle:
        return json.load(handle)


def windows_environment(sim_url, state_dir):
    """The environment that makes ansible.windows.* the simulated modules, with their state in state_dir."""
    return {'OCTOHA_FAKE_WINDOWS_DIR': state_dir, 'OCTOHA_SIM_URL': sim_url,
            'ANSIBLE_COLLECTIONS_PATH': FAKE_WINDOWS + os.pathsep + os.environ.get('ANSIBLE_COLLECTIONS_PATH', '')}
