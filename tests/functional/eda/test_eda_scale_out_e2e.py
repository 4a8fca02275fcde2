# -*- coding: utf-8 -*-

# Copyright: Contributors to the octopus.ha collection
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

"""Launch lifecycle through the real ansible-rulebook and octopus.ha.eda_scale_out.

The new "Windows" host is reached with a local connection and no Windows stand-ins, so the first
Windows step fails: this exercises the failure path for real (node kept out of work, ABANDON,
message acknowledged, playbook failed). The success path of the scale-out roles is covered by
the scale-out suites; the CONTINUE branch here is the same module call as in eda_scale_in.
"""

from __future__ import absolute_import, division, print_function
__metaclass__ = type

import os
import sys

import pytest

octosim_testing = pytest.importorskip('octosim.testing')

# pylint: disable=wrong-import-position
from rulebook_runner import run_rulebook  # noqa: E402


def test_failed_launch_is_abandoned_and_acknowledged(moto, tmp_path):
    instances = moto.create_group(size=2, launch_hook='octopus-join')
    queue = moto.create_queue()
    new = instances[1]
    body = moto.start_lifecycle_action(queue, new, transition='launching', hook='octopus-join')
    sim = octosim_testing.SimulatorProcess({'nodes': [{'Name': 'OCTO-NODE-01'}, {'Name': 'OCTO-NODE-02'}], 'license': {'node_limit': None}})
    sim.start()
    try:
        proc = run_rulebook(tmp_path, moto, rulebook_vars={'octopus_lifecycle_queue_url': queue},
                            host_vars={'octopus_lifecycle_heartbeat_interval': 1},
                            groups={'octopus_new_nodes': {'ansible_connection': 'local', 'ansible_python_interpreter': sys.executable}},
                            env={'OCTOPUS_URL': sim.url, 'OCTOPUS_API_KEY': octosim_testing.ADMIN_KEY})
        out = proc.stdout + proc.stderr
        assert 'Scale-out onto %s failed' % new in out, out[-8000:]
        completes = moto.recorder.accepted('complete', new)
        assert [c['LifecycleActionResult'] for c in completes] == ['ABANDON'], out[-8000:]
        assert completes[0]['LifecycleActionToken'] == body['LifecycleActionToken']
        assert moto.recorder.accepted('heartbeat', new), 'the background heartbeat ran'
        assert moto.queue_depth(queue) == 0, 'the handled launch message was acknowledged'
        assert new not in [n['Name'] for n in sim.control.state()['nodes']]
    finally:
        sim.stop()


def test_launch_is_promoted_then_continued_and_acknowledged(moto, tmp_path):
    """The success path on the simulated Windows host of the scale-out suites (fake fleet, fake host state)."""
    scale_out_dir = os.path.join(os.path.dirname(os.path.abspath(__file__)), '..', 'scale_out')
    if scale_out_dir not in sys.path:
        sys.path.insert(0, scale_out_dir)
    scenario = pytest.importorskip('scale_out_scenario')
    fake_fleet = pytest.importorskip('fake_fleet')

    instances = moto.create_group(size=1, launch_hook='octopus-join')
    queue = moto.create_queue()
    new = instances[0]
    body = moto.start_lifecycle_action(queue, new, transition='launching', hook='octopus-join')
    with fake_fleet.Fleet() as fleet:
        sim = octosim_testing.SimulatorProcess(scenario.sim_config(fake_fleet.space_config(fleet)), speed=None)
        sim.start()
        try:
            state_dir, downloads_dir = str(tmp_path / 'fake_windows'), str(tmp_path / 'downloads')
            scenario.seed_fake_host(state_dir, downloads_dir, fleet.sql.port, host=new)
            env = scenario.environment(state_dir, downloads_dir, sim.url)
            env = dict((k, env[k]) for k in env if k.startswith(('ANSIBLE_COLLECTIONS_PATH', 'OCTOHA_')))
            group_vars = scenario.host_vars(sim.url, fleet.sql.port, node=new, comms_port=fleet.comms.port)
            group_vars['ansible_python_interpreter'] = sys.executable
            proc = run_rulebook(tmp_path, moto, rulebook_vars={'octopus_lifecycle_queue_url': queue},
                                host_vars={'octopus_lifecycle_heartbeat_interval': 2},
                                groups={'octopus_new_nodes': group_vars}, env=env)
            out = proc.stdout + proc.stderr
            completes = moto.recorder.accepted('complete', new)
            assert [c['LifecycleActionResult'] for c in completes] == ['CONTINUE'], out[-8000:]
            assert completes[0]['LifecycleActionToken'] == body['LifecycleActionToken']
            node = [n for n in sim.control.state()['nodes'] if n['Name'] == new]
            assert node and node[0]['IsInMaintenanceMode'] is False and node[0]['MaxConcurrentTasks'] > 0, out[-8000:]
            assert moto.lifecycle_state(new) == 'InService'
            assert moto.queue_depth(queue) == 0
            assert scenario.API_KEY not in out
        finally:
            sim.stop()
