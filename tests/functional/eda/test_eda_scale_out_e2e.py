# -*- coding: utf-8 -*-

# Copyright: Contributors to the octopus.ha collection
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

"""Launch lifecycle through the real ansible-rulebook and octopus.ha.eda_scale_out, three launches in one run.

- A new instance on the simulated Windows host of the scale-out suites (fake fleet, fake host state)
  is installed, configured, verified and promoted as node ``i-...``, then CONTINUE and ack.
- A new instance whose WinRM port is a closed port on 127.0.0.1 (its moto address is 127.0.0.x): the
  handler waits for the connection at most 80% of the hook's HeartbeatTimeout (24 s of the 30 s; the
  inventory asks for 600), then ABANDONs it and acknowledges the message. Its lifecycle action was still
  active when the ABANDON came: AWS time only moves when the test moves it, and it does not here.
- A launch into the warm pool (EC2 -> WarmPool) is not a scale-out: CONTINUE, nothing installed, ack.

Cost: 125 to 310 s on the shared 2-core machine (the promoted scale-out; the 24 s connection wait runs beside it).
"""

from __future__ import absolute_import, division, print_function
__metaclass__ = type

import json
import os
import sys

import pytest

octosim_testing = pytest.importorskip('octosim.testing')

pytestmark = pytest.mark.heavy

# pylint: disable=wrong-import-position
from eda_moto_harness import free_port  # noqa: E402
from rulebook_runner import RulebookRun  # noqa: E402

HEARTBEAT_TIMEOUT = 30


def summary_of(out, instance):
    lines = [line for line in out.splitlines() if '"msg": "%s: ' % instance in line]
    return lines[-1] if lines else ''


def test_launches_promoted_abandoned_when_unreachable_and_warm_pool_passed(moto, tmp_path):
    scale_out_dir = os.path.join(os.path.dirname(os.path.abspath(__file__)), '..', 'scale_out')
    if scale_out_dir not in sys.path:
        sys.path.insert(0, scale_out_dir)
    scenario = pytest.importorskip('scale_out_scenario')
    fake_fleet = pytest.importorskip('fake_fleet')

    new, unreachable, warm = moto.create_group(size=3, launch_hook='octopus-join', heartbeat_timeout=HEARTBEAT_TIMEOUT)
    queue = moto.create_queue()
    bodies = {}
    for instance in (new, unreachable):
        bodies[instance] = moto.start_lifecycle_action(queue, instance, transition='launching', hook='octopus-join')
    bodies[warm] = moto.start_lifecycle_action(queue, warm, transition='launching', hook='octopus-join', destination='WarmPool')
    closed_port = free_port()  # bound, then released: nothing listens there
    with fake_fleet.Fleet() as fleet:
        sim = octosim_testing.SimulatorProcess(scenario.sim_config(fake_fleet.space_config(fleet)), speed=None)
        sim.start()
        try:
            state_dir, downloads_dir = str(tmp_path / 'fake_windows'), str(tmp_path / 'downloads')
            scenario.seed_fake_host(state_dir, downloads_dir, fleet.sql.port, host=new)
            env = scenario.environment(state_dir, downloads_dir, sim.url)
            env = dict((k, env[k]) for k in env if k.startswith(('ANSIBLE_COLLECTIONS_PATH', 'OCTOHA_')))
            group_vars = scenario.host_vars(sim.url, fleet.sql.port, node=new, comms_port=fleet.comms.port)
            group_vars.pop('octopus_node_name')
            group_vars['ansible_python_interpreter'] = sys.executable
            # The unreachable instance keeps its own connection variables (add_host only sets ansible_host).
            winrm = {'ansible_connection': 'winrm', 'ansible_port': closed_port, 'ansible_user': 'octopus', 'ansible_password': 'unused',
                     'ansible_winrm_transport': 'ntlm', 'ansible_winrm_scheme': 'http', 'ansible_winrm_operation_timeout_sec': 2,
                     'ansible_winrm_read_timeout_sec': 3}
            with RulebookRun(tmp_path, moto, rulebook_vars={'octopus_lifecycle_queue_url': queue},
                             host_vars={'octopus_lifecycle_heartbeat_interval': 2, 'octopus_lifecycle_connect_timeout': '600'},
                             groups={'octopus_new_nodes': group_vars}, extra_hosts={unreachable: winrm}, env=env) as run:
                run.wait_for(lambda: all(summary_of(run.output, i) for i in (new, unreachable, warm)), 'three handler summaries')
                run.finish()
            out = run.output
            # Promoted, then CONTINUE.
            completes = moto.recorder.accepted('complete', new)
            assert [c['LifecycleActionResult'] for c in completes] == ['CONTINUE'], out[-8000:]
            assert completes[0]['LifecycleActionToken'] == bodies[new]['LifecycleActionToken']
            node = [n for n in sim.control.state()['nodes'] if n['Name'] == new]
            assert node and node[0]['IsInMaintenanceMode'] is False and node[0]['MaxConcurrentTasks'] > 0, out[-8000:]
            assert moto.lifecycle_state(new) == 'InService'
            assert 'PROBLEMS' not in summary_of(out, new)
            # Never answered: abandoned within the hook timeout, message acknowledged, run failed, heartbeat stopped.
            abandon = moto.recorder.all_calls('complete', unreachable)
            assert [(c['LifecycleActionResult'], c['accepted']) for c in abandon] == [('ABANDON', True)], out[-8000:]
            assert moto.recorder.expired(unreachable) == []
            assert moto.lifecycle_state(unreachable) == 'Terminating'
            summary = summary_of(out, unreachable)
            assert 'ABANDON accepted' in summary and 'message acknowledged' in summary and 'PROBLEMS' in summary
            assert 'heartbeat(s) sent' in summary and 'did not end' not in summary
            waited = [json.loads(line.split('FAILED! => ', 1)[1]) for line in out.splitlines()
                      if line.startswith('fatal: [%s]' % unreachable) and 'timed out waiting for' in line]
            assert waited and 'not found' not in waited[0]['msg'], out[-8000:]
            # Asked for 600 s, capped at 80% of the 30 s HeartbeatTimeout: the wait ended after 24 s, not 600.
            assert 24 <= waited[0]['elapsed'] < 600
            assert unreachable not in [n['Name'] for n in sim.control.state()['nodes']]
            # Warm pool: CONTINUE only.
            assert [c['LifecycleActionResult'] for c in moto.recorder.accepted('complete', warm)] == ['CONTINUE']
            assert moto.lifecycle_state(warm) == 'Warmed:Pending:Proceed'
            assert warm not in [n['Name'] for n in sim.control.state()['nodes']]
            assert moto.queue_depth(queue) == 0
            assert scenario.API_KEY not in out
        finally:
            sim.stop()
