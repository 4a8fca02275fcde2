# -*- coding: utf-8 -*-

# Copyright: Contributors to the octopus.ha collection
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

"""playbooks/reconcile.yml against moto (Auto Scaling + EC2) and the Octopus simulator, in check mode and for real.

moto never puts instances in Terminating:Wait; the harness sets the state in moto's in-process backend,
so the reconciler reads it through the normal DescribeAutoScalingInstances call.
"""

from __future__ import absolute_import, division, print_function
__metaclass__ = type

import datetime
import re

import pytest

octosim_testing = pytest.importorskip('octosim.testing')

GONE = 'i-0000000000000dead'
HOOK = 'octopus-drain'


@pytest.fixture
def world(moto):
    instances = moto.create_group(size=4, hook=HOOK)
    stuck, busy, recently_offline, long_offline = instances
    moto.start_lifecycle_action(None, stuck)  # its event was lost
    nodes = [
        {'Name': 'OCTO-NODE-01'}, {'Name': 'OCTO-NODE-02'},
        {'Name': stuck}, {'Name': busy},
        {'Name': GONE, 'Heartbeat': False, 'LastSeenAgo': 300},
        {'Name': recently_offline, 'Heartbeat': False, 'LastSeenAgo': 120},
        {'Name': long_offline, 'Heartbeat': False, 'LastSeenAgo': 7200},
        {'Name': 'LEGACY-NODE', 'Heartbeat': False, 'LastSeenAgo': 7200},
    ]
    # The simulator's Date header is the real clock: start the cluster clock now so LastSeen ages are real.
    start = datetime.datetime.now(datetime.timezone.utc).isoformat(timespec='seconds')
    sim = octosim_testing.SimulatorProcess({'nodes': nodes, 'license': {'node_limit': None}, 'clock': {'start': start, 'speed': 1.0}})
    sim.start()
    orphan = sim.control.add_task(Name='Orphaned deployment', ServerNode=GONE, State='Executing', Duration=100000)
    yield dict(sim=sim, stuck=stuck, busy=busy, recently_offline=recently_offline, long_offline=long_offline, orphan=orphan)
    sim.stop()


def names(sim):
    return sorted(n['Name'] for n in sim.control.state()['nodes'])


def mutations(sim):
    return [e for e in sim.control.requests() if e.get('method') in ('PUT', 'POST', 'DELETE') and '/api' in str(e.get('path'))]


def reconcile(eda_playbook, world, check=False):
    sim = world['sim']
    return eda_playbook('playbooks/reconcile.yml', check=check, env={'OCTOPUS_URL': sim.url, 'OCTOPUS_API_KEY': octosim_testing.ADMIN_KEY},
                        extra_vars={'octopus_reconcile_asg_name': 'octopus-ha', 'octopus_reconcile_terminate_hook': HOOK,
                                    'octopus_aws_region': 'us-east-1', 'node_remove_poll_interval': 1})


def test_check_mode_lists_the_plan_and_changes_nothing(moto, world, eda_playbook):
    before = names(world['sim'])
    proc = reconcile(eda_playbook, world, check=True)
    assert proc.returncode == 0, proc.stdout[-6000:] + proc.stderr[-2000:]
    out = proc.stdout
    plan = re.search(r'Ghost nodes to remove: (\[.*?\])', out).group(1)
    assert GONE in plan and world['long_offline'] in plan
    assert world['recently_offline'] not in plan and 'LEGACY-NODE' not in plan and world['busy'] not in plan
    assert "Terminating:Wait to scale in and CONTINUE: ['%s']" % world['stuck'] in out
    assert 'would remove' in out and 'would finish' in out
    assert names(world['sim']) == before
    assert mutations(world['sim']) == []
    assert moto.recorder.calls == []


def test_reconcile_finishes_stuck_scale_in_and_removes_ghosts(moto, world, eda_playbook):
    sim = world['sim']
    proc = reconcile(eda_playbook, world)
    assert proc.returncode == 0, proc.stdout[-6000:] + proc.stderr[-2000:]
    remaining = names(sim)
    assert world['stuck'] not in remaining
    assert GONE not in remaining and world['long_offline'] not in remaining
    for kept in ('OCTO-NODE-01', 'OCTO-NODE-02', 'LEGACY-NODE', world['busy'], world['recently_offline']):
        assert kept in remaining
    continues = moto.recorder.accepted('complete', world['stuck'])
    assert [c['LifecycleActionResult'] for c in continues] == ['CONTINUE']
    assert moto.lifecycle_state(world['stuck']) == 'Terminating:Proceed'
    cancels = [e for e in mutations(sim) if e['method'] == 'POST' and world['orphan']['Id'] in e['path']]
    assert len(cancels) == 1, 'the orphaned task was cancelled'

    again = reconcile(eda_playbook, world)
    assert again.returncode == 0, again.stdout[-6000:]
    assert 'Ghost nodes to remove: []' in again.stdout
    assert len(moto.recorder.accepted('complete')) == 1
