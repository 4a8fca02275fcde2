# -*- coding: utf-8 -*-

# Copyright: Contributors to the octopus.ha collection
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

"""octopus.ha.scale_in through the ansible-runner Python API, the way AWX/AAP runs a job template.

AWX writes the credential's injected environment (our "Octopus Deploy API" credential type:
OCTOPUS_URL / OCTOPUS_API_KEY) into the runner's envvars and the survey answers into extravars.
"""

from __future__ import absolute_import, division, print_function
__metaclass__ = type

import os
import sys

import pytest

ansible_runner = pytest.importorskip('ansible_runner')
octosim_testing = pytest.importorskip('octosim.testing')

REPO = os.path.abspath(os.path.join(os.path.dirname(__file__), '..', '..', '..'))


def run_job(tmp_path, sim, api_key, node_name):
    (tmp_path / 'project').mkdir()
    (tmp_path / 'project' / 'scale_in.yml').write_text('---\n- name: Scale in\n  ansible.builtin.import_playbook: octopus.ha.scale_in\n')
    return ansible_runner.run(
        private_data_dir=str(tmp_path),
        playbook='scale_in.yml',
        inventory={'all': {'hosts': {'localhost': {'ansible_connection': 'local', 'ansible_python_interpreter': sys.executable}}}},
        envvars={'OCTOPUS_URL': sim.url, 'OCTOPUS_API_KEY': api_key,
                 'ANSIBLE_COLLECTIONS_PATH': os.environ.get('ANSIBLE_COLLECTIONS_PATH', ''), 'ANSIBLE_NOCOLOR': '1'},
        extravars={'octopus_node_name': node_name, 'node_remove_poll_interval': 1},
        quiet=True,
        timeout=600,
    )


def test_scale_in_job_with_injected_credential(tmp_path):
    # OCTO-NODE-03 is offline (its VM is gone, no inventory host): only then does node_remove delete the record
    # without stopping a service first.
    with octosim_testing.SimulatorProcess({'nodes': [{'Name': 'OCTO-NODE-01'}, {'Name': 'OCTO-NODE-02'},
                                                     {'Name': 'OCTO-NODE-03', 'Heartbeat': False, 'LastSeenAgo': 3600}],
                                           'license': {'node_limit': None}}) as sim:
        result = run_job(tmp_path, sim, octosim_testing.ADMIN_KEY, 'OCTO-NODE-03')
        assert result.status == 'successful', result.stdout.read()[-5000:]
        assert result.rc == 0
        assert 'OCTO-NODE-03' not in [n['Name'] for n in sim.control.state()['nodes']]
        # The key never reaches the job output (no_log / masking).
        assert octosim_testing.ADMIN_KEY not in result.stdout.read()


def test_scale_in_job_fails_cleanly_with_a_bad_key(tmp_path):
    with octosim_testing.SimulatorProcess({'nodes': [{'Name': 'OCTO-NODE-01'}, {'Name': 'OCTO-NODE-02'}], 'license': {'node_limit': None}}) as sim:
        result = run_job(tmp_path, sim, 'API-BADKEY000000000000000000000', 'OCTO-NODE-02')
        assert result.status == 'failed'
        assert 'OCTO-NODE-02' in [n['Name'] for n in sim.control.state()['nodes']]
        assert 'API-BADKEY000000000000000000000' not in result.stdout.read()
