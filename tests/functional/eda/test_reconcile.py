# -*- coding: utf-8 -*-

# Copyright: Contributors to the octopus.ha collection
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

"""playbooks/reconcile.yml against the moto harness (Auto Scaling + EC2) and the Octopus simulator.

The harness sets lifecycle states and activity start times in moto's in-process backend; the
reconciler reads them through the normal DescribeAutoScalingGroups / DescribeScalingActivities /
DescribeTags calls. Ages are what the test sets (the activity started `age` seconds ago), never how
long the test took. The re-check just before a delete (node back online, LastSeen moved) is tested
on the plan filter in tests/unit/plugins/module_utils/test_lifecycle.py: in a playbook run it would
need the node to come back inside a window that only the machine's speed decides.

Cost: about 25 s per ansible-playbook run on an idle machine; the first test makes three runs, the
others one each (they stop in the plan).
"""

from __future__ import absolute_import, division, print_function
__metaclass__ = type

import datetime
import re

import pytest

octosim_testing = pytest.importorskip('octosim.testing')

GONE = 'i-0000000000000dead'
HOOK = 'octopus-drain'
MARKER = 'octopus-ha:lifecycle-handler'


@pytest.fixture
def world(moto):
    # A one-hour HeartbeatTimeout and a 3000 s min_age: the marker stays fresh and the young termination stays young
    # however slowly the test runs (ages grow with real time).
    instances = moto.create_group(size=6, hook=HOOK, heartbeat_timeout=3600)
    stuck, young, marked, upgraded, busy, nodeless = instances
    moto.start_lifecycle_action(None, stuck, age=5000)     # its event was lost 83 minutes ago
    moto.start_lifecycle_action(None, young, age=10)       # its handler may still be starting
    moto.start_lifecycle_action(None, marked, age=5000)    # a handler heartbeats it right now
    moto.start_lifecycle_action(None, nodeless, age=5000)  # its node was already removed
    now = datetime.datetime.now(datetime.timezone.utc).strftime('%Y-%m-%dT%H:%M:%SZ')
    moto.client('ec2').create_tags(Resources=[marked], Tags=[{'Key': MARKER, 'Value': now}])
    nodes = [
        {'Name': 'OCTO-NODE-01'}, {'Name': 'OCTO-NODE-02'},
        {'Name': stuck}, {'Name': young}, {'Name': marked}, {'Name': busy},
        # An upgrade window: offline for two hours, but its instance runs.
        {'Name': upgraded, 'Heartbeat': False, 'LastSeenAgo': 7200},
        {'Name': GONE, 'Heartbeat': False, 'LastSeenAgo': 300},
        {'Name': 'LEGACY-NODE', 'Heartbeat': False, 'LastSeenAgo': 7200},
        # Left drained with task cap 0 by a scale-in that could not stop its service, offline since.
        {'Name': 'OCTO-NODE-09', 'Heartbeat': False, 'LastSeenAgo': 7200, 'IsInMaintenanceMode': True, 'MaxConcurrentTasks': 0},
    ]
    start = datetime.datetime.now(datetime.timezone.utc).isoformat(timespec='seconds')
    sim = octosim_testing.SimulatorProcess({'nodes': nodes, 'license': {'node_limit': None}, 'clock': {'start': start, 'speed': 1.0}})
    sim.start()
    orphan = sim.control.add_task(Name='Orphaned deployment', ServerNode=GONE, State='Executing', Duration=100000)
    running = sim.control.add_task(Name='Deployment on the stuck node', ServerNode=stuck, State='Executing', Duration=100000)
    yield dict(sim=sim, stuck=stuck, young=young, marked=marked, upgraded=upgraded, busy=busy, nodeless=nodeless, orphan=orphan,
               running=running)
    sim.stop()


def names(sim):
    return sorted(n['Name'] for n in sim.control.state()['nodes'])


def mutations(sim):
    return [e for e in sim.control.requests() if e.get('method') in ('PUT', 'POST', 'DELETE') and '/api' in str(e.get('path'))]


def reconcile(eda_playbook, world, check=False, api_key=octosim_testing.ADMIN_KEY, **extra):
    sim = world['sim']
    extra_vars = {'octopus_reconcile_asg_name': 'octopus-ha', 'octopus_reconcile_terminate_hook': HOOK, 'octopus_aws_region': 'us-east-1',
                  'node_remove_poll_interval': 1, 'node_remove_max_poll_interval': 2, 'octopus_reconcile_max_removals': '3',
                  'octopus_reconcile_heartbeat_interval': 2, 'octopus_reconcile_min_age': 3000}
    extra_vars.update(extra)
    return eda_playbook('playbooks/reconcile.yml', check=check, env={'OCTOPUS_URL': sim.url, 'OCTOPUS_API_KEY': api_key},
                        extra_vars=extra_vars)


def plan_line(out, label):
    found = re.search(r'%s: (\[.*?\]|\{.*?\})' % re.escape(label), out)
    return found.group(1) if found else ''


def test_check_mode_predicts_and_the_real_run_does_no_harm(moto, world, eda_playbook):
    sim = world['sim']
    before = names(sim)
    check = reconcile(eda_playbook, world, check=True)
    assert check.returncode == 0, check.stdout[-6000:] + check.stderr[-2000:]
    out = check.stdout
    ghosts = plan_line(out, 'Ghost nodes to remove')
    assert GONE in ghosts and 'OCTO-NODE-09' in ghosts
    for kept in (world['upgraded'], 'LEGACY-NODE', world['busy'], world['young'], world['marked']):
        assert kept not in ghosts
    left_alone = plan_line(out, 'Left alone')
    assert 'an instance that exists protects its node' in left_alone, 'the upgrade window case'
    assert 'heartbeated it' in left_alone and 'less than octopus_reconcile_min_age' in left_alone
    stuck = plan_line(out, 'Instances in Terminating:Wait to finish')
    assert world['stuck'] in stuck and world['nodeless'] in stuck and world['young'] not in stuck and world['marked'] not in stuck
    # The prediction includes the drain that would time out: a deployment runs on the stuck node, no cancel allowed.
    assert 'would wait up to 1800 s for %s' % world['running']['Id'] in out and 'would fail' in out
    assert 'would remove' in out and 'would finish' in out
    assert names(sim) == before and mutations(sim) == [] and moto.recorder.calls == []

    sim.control.finish_task(world['running']['Id'])
    real = reconcile(eda_playbook, world)
    assert real.returncode == 0, real.stdout[-6000:] + real.stderr[-2000:]
    remaining = names(sim)
    assert GONE not in remaining and 'OCTO-NODE-09' not in remaining
    # The stuck instance still runs and the reconciler has no WinRM host for it: its service was not stopped and the
    # server reports it online, so its record is kept drained with task cap 0 (issue 8 section 5). Once the instance
    # has terminated (CONTINUE below), the node goes offline and a later pass removes it as a ghost.
    stuck_node = [n for n in sim.control.state()['nodes'] if n['Name'] == world['stuck']]
    assert stuck_node and stuck_node[0]['IsInMaintenanceMode'] is True and stuck_node[0]['MaxConcurrentTasks'] == 0, stuck_node
    for kept in ('OCTO-NODE-01', 'OCTO-NODE-02', 'LEGACY-NODE', world['busy'], world['young'], world['marked'], world['upgraded']):
        assert kept in remaining
    for instance in (world['stuck'], world['nodeless']):
        assert [c['LifecycleActionResult'] for c in moto.recorder.accepted('complete', instance)] == ['CONTINUE']
        assert moto.lifecycle_state(instance) == 'Terminating:Proceed'
    for instance in (world['young'], world['marked']):
        assert moto.recorder.all_calls('complete', instance) == [] and moto.lifecycle_state(instance) == 'Terminating:Wait'
    assert MARKER not in moto.tags(world['stuck']), 'the reconciler\'s own heartbeat removed its marker when it ended'
    # No node that is kept got a drain or a delete (the module drains a ghost just before deleting it, so that a
    # ghost that comes back in between returns drained), and the stuck instance whose node was gone got no drain.
    touched = set(e['path'].rsplit('OctopusServerNodes-', 1)[-1] for e in mutations(sim) if e['method'] in ('PUT', 'DELETE'))
    assert touched == set([world['stuck'], GONE, 'OCTO-NODE-09']), touched
    cancels = [e for e in mutations(sim) if e['method'] == 'POST' and world['orphan']['Id'] in e['path']]
    assert len(cancels) == 1, 'the orphaned task was cancelled'
    assert 'its node was already gone: no drain' in real.stdout

    again = reconcile(eda_playbook, world)
    assert again.returncode == 0, again.stdout[-6000:]
    assert plan_line(again.stdout, 'Ghost nodes to remove') == '[]'
    assert len(moto.recorder.accepted('complete')) == 2


def test_a_ghost_that_comes_back_between_the_plan_and_its_delete_is_left_alone(moto, world, eda_playbook):
    """Issue 9 section 7: each ghost is read again just before its delete. The simulator starts the other ghost right
    after the first ghost's DELETE is applied (a trigger: ordered by that request, not by timing), so whichever is
    deleted first, the second one is online at its re-read and is left alone."""
    sim = world['sim']
    sim.control.finish_task(world['running']['Id'])
    gone_path, back_path = r'/octopusservernodes/OctopusServerNodes-%s$' % GONE, r'/octopusservernodes/OctopusServerNodes-OCTO-NODE-09$'
    sim.control.add_trigger('DELETE', gone_path, 'start', 'OCTO-NODE-09')
    sim.control.add_trigger('DELETE', back_path, 'start', GONE)
    run = reconcile(eda_playbook, world)
    assert run.returncode == 0, run.stdout[-6000:] + run.stderr[-2000:]
    remaining = names(sim)
    left = [n for n in (GONE, 'OCTO-NODE-09') if n in remaining]
    assert len(left) == 1, remaining
    fired = [t for t in sim.control.call('GET', 'triggers') if t['fired_at_seq'] is not None]
    assert len(fired) == 1 and fired[0]['node'] == left[0]
    deletes = [e for e in mutations(sim) if e['method'] == 'DELETE' and e['path'].endswith('OctopusServerNodes-%s' % left[0])]
    assert deletes == [], 'the node that came back was not deleted'
    assert 'no longer offline' in run.stdout, run.stdout[-4000:]


def test_a_wrong_view_of_aws_or_too_many_removals_stops_before_any_change(moto, world, eda_playbook):
    sim = world['sim']
    # An online node named after an instance that this region/account/endpoint does not know.
    sim.control.add_node(Name='i-00000000000beef01')
    before = names(sim)
    proc = reconcile(eda_playbook, world, octopus_reconcile_max_removals='0')
    assert proc.returncode != 0
    out = proc.stdout + proc.stderr
    assert 'i-00000000000beef01' in out and 'wrong region, account or endpoint' in out
    # The instance "gone" rule is off with a wrong view; even the one removal left exceeds a cap of 0.
    assert 'more than octopus_reconcile_max_removals (0)' in out
    assert names(sim) == before and mutations(sim) == []
    assert moto.recorder.all_calls('complete') == [] and moto.recorder.all_calls('heartbeat') == []


@pytest.mark.parametrize('extra, api_key, message', [
    ({'octopus_reconcile_asg_name': 'octopus-hq'}, octosim_testing.ADMIN_KEY, 'Auto Scaling group octopus-hq does not exist'),
    ({'octopus_aws_region': 'eu-west-1'}, octosim_testing.ADMIN_KEY, 'does not exist in region eu-west-1'),
    ({'octopus_reconcile_terminate_hook': 'octopus-drian'}, octosim_testing.ADMIN_KEY, 'Lifecycle hook octopus-drian does not exist'),
    ({}, 'API-WRONGKEY0000000000000000000', '401'),
])
def test_misconfiguration_is_never_green(moto, world, eda_playbook, extra, api_key, message):
    proc = reconcile(eda_playbook, world, api_key=api_key, **extra)
    assert proc.returncode != 0
    assert message in proc.stdout + proc.stderr, proc.stdout[-4000:]
    assert mutations(world['sim']) == [] and moto.recorder.calls == []
