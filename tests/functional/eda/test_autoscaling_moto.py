# -*- coding: utf-8 -*-

# Copyright: Contributors to the octopus.ha collection
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

"""Scale-in protection against moto: what moto itself does, the AWS model of asg_scaling_model.py, and the idle-first
scale-in 10 times in process (the event source's poll, the protection module's calls, octopus_node's removal logic).

Cost: about 15 s (one group and one in-process simulator per run, moto in process; no ansible-playbook).
"""

from __future__ import absolute_import, division, print_function
__metaclass__ = type

import json
import random

import pytest

octosim_testing = pytest.importorskip('octosim.testing')

# pylint: disable=wrong-import-position
from ansible_collections.amazon.aws.plugins.module_utils.retries import AWSRetry, RetryingBotoClientWrapper  # noqa: E402
from ansible_collections.octopus.ha.extensions.eda.plugins.event_source import octopus_cluster as source  # noqa: E402
from ansible_collections.octopus.ha.plugins.module_utils._octopus_api import OctopusClient  # noqa: E402
from ansible_collections.octopus.ha.plugins.module_utils._octopus_autoscaling import plan_protection  # noqa: E402
from ansible_collections.octopus.ha.plugins.module_utils._octopus_drain import NodeStep, drive  # noqa: E402
from ansible_collections.octopus.ha.plugins.module_utils._octopus_tasks import Timer  # noqa: E402
from ansible_collections.octopus.ha.plugins.modules import autoscaling_scale_in_protection as protection  # noqa: E402

GROUP = 'octopus-ha'


def group_state(moto, name=GROUP):
    group = moto.client('autoscaling').describe_auto_scaling_groups(AutoScalingGroupNames=[name])['AutoScalingGroups'][0]
    return group['DesiredCapacity'], dict((i['InstanceId'], (i['LifecycleState'], i['ProtectedFromScaleIn'])) for i in group['Instances'])


def protect(moto, ids, value=True, name=GROUP):
    moto.client('autoscaling').set_instance_protection(AutoScalingGroupName=name, InstanceIds=list(ids), ProtectedFromScaleIn=value)


def test_moto_honours_protection_but_not_hooks(moto):
    """moto 5.2.5, no model: it honours ProtectedFromScaleIn when the desired capacity drops, but terminates at once
    (no Terminating:Wait, no notification, although the group has a terminate hook) and never terminates later."""
    instances = moto.create_group(size=4)
    busy, idle = instances[:3], instances[3]
    protect(moto, busy)
    moto.client('autoscaling').set_desired_capacity(AutoScalingGroupName=GROUP, DesiredCapacity=3)
    desired, members = group_state(moto)
    assert desired == 3
    assert sorted(members) == sorted(busy), 'the only unprotected instance was the one terminated'
    assert all(state == ('InService', True) for state in members.values())
    assert moto.recorder.all_calls('complete') == []

    # Everything protected: desired capacity drops, no instance goes (AWS: "Could not scale to desired capacity").
    moto.client('autoscaling').set_desired_capacity(AutoScalingGroupName=GROUP, DesiredCapacity=2)
    desired, members = group_state(moto)
    assert (desired, sorted(members)) == (2, sorted(busy))
    # AWS would now terminate the instance whose protection is removed; moto does not.
    protect(moto, busy[:1], value=False)
    desired, members = group_state(moto)
    assert (desired, len(members)) == (2, 3), 'moto never finishes a deferred scale-in'


def test_model_scale_in_waits_for_the_hook_and_defers_when_all_are_protected(moto, scaling_model):
    instances = moto.create_group(size=3)
    queue = moto.create_queue()
    scaling_model.register(GROUP, queue)
    asg = moto.client('autoscaling')
    protect(moto, instances[1:])
    asg.set_desired_capacity(AutoScalingGroupName=GROUP, DesiredCapacity=2)
    desired, members = group_state(moto)
    assert desired == 2 and members[instances[0]] == ('Terminating:Wait', False)
    assert scaling_model.terminations() == [instances[0]]
    message = moto.client('sqs').receive_message(QueueUrl=queue, WaitTimeSeconds=0)['Messages'][0]
    body = json.loads(message['Body'])
    assert (body['EC2InstanceId'], body['LifecycleTransition']) == (instances[0], 'autoscaling:EC2_INSTANCE_TERMINATING')

    asg.complete_lifecycle_action(AutoScalingGroupName=GROUP, LifecycleHookName='octopus-drain', InstanceId=instances[0],
                                  LifecycleActionToken=body['LifecycleActionToken'], LifecycleActionResult='CONTINUE')
    assert sorted(group_state(moto)[1]) == sorted(instances[1:])

    # Both left are protected: the scale-in to 1 is deferred until one of them loses its protection.
    asg.set_desired_capacity(AutoScalingGroupName=GROUP, DesiredCapacity=1)
    assert group_state(moto) == (1, {instances[1]: ('InService', True), instances[2]: ('InService', True)})
    protect(moto, [instances[2]], value=False)
    assert group_state(moto)[1][instances[2]] == ('Terminating:Wait', False)
    assert scaling_model.terminations() == [instances[0], instances[2]]
    assert [e['kind'] for e in scaling_model.events] == ['desired', 'terminating', 'terminated', 'desired', 'deferred', 'terminating']

    # A higher desired capacity launches only what is missing (the terminating instance does not count).
    asg.set_desired_capacity(AutoScalingGroupName=GROUP, DesiredCapacity=3)
    states = sorted(state for state, dummy in group_state(moto)[1].values())
    assert states == ['InService', 'InService', 'InService', 'Terminating:Wait']


# ---------------------------------------------------------------------------- idle-first, 10 runs in process

# The options octopus_node gets from the node_remove role, as NodeStep reads them.
REMOVE = dict(name=None, id=None, state='absent', max_concurrent_tasks=None, drained=None, wait=True, drain_timeout=120,
              poll_interval=5, max_poll_interval=30, cancel_on_timeout=False, pending_interruptions='block', cancel_timeout=300,
              force=False, min_task_nodes=1, min_task_capacity=0, reason='idle-first test', _step=None,
              # The module's defaults; no re-registration watch after the delete, so that .sleeps counts only the
              # waits for deployments (the watch has its own tests in tests/unit/plugins/modules).
              offline_grace=600, delete_online=True, reregistration_watch=0)


class FakeTime:
    """The removal's clock: it only moves when the removal waits, so any wait shows up in .sleeps."""

    def __init__(self):
        self.now, self.sleeps = 0.0, []

    def clock(self):
        return self.now

    def sleep(self, seconds):
        self.sleeps.append(seconds)
        self.now += seconds


class Round:
    """One group per run (named after the run, so nothing needs a reset) on clients and an image made once."""

    def __init__(self, moto, model):
        self.moto, self.model = moto, model
        self.asg = moto.client('autoscaling')
        self.retrying = RetryingBotoClientWrapper(self.asg, AWSRetry.jittered_backoff())
        self.queue = moto.create_queue()
        self.image = moto.client('ec2').describe_images()['Images'][0]['ImageId']
        self.asg.create_launch_configuration(LaunchConfigurationName='idle-first-lc', ImageId=self.image, InstanceType='t3.large')

    def group(self, name):
        self.asg.create_auto_scaling_group(AutoScalingGroupName=name, LaunchConfigurationName='idle-first-lc', MinSize=0,
                                           MaxSize=6, DesiredCapacity=4, AvailabilityZones=['us-east-1a'])
        self.asg.put_lifecycle_hook(AutoScalingGroupName=name, LifecycleHookName='octopus-drain', HeartbeatTimeout=60,
                                    LifecycleTransition='autoscaling:EC2_INSTANCE_TERMINATING', DefaultResult='ABANDON')
        self.model.register(name, self.queue)
        return [i['InstanceId'] for i in self.asg.describe_auto_scaling_groups(
            AutoScalingGroupNames=[name])['AutoScalingGroups'][0]['Instances']]

    def run(self, number, rng, protect=True):
        """One scale-in by one of 4 nodes, 3 busy: poll (the event source's code), protect (the module's code), lower
        the desired capacity as a scaling policy would, let the AWS model pick, then remove the victim's node
        (octopus_node's drain logic) on a fake clock. Returns (idle instance, victim, waits, removal result, nodes left)."""
        name = 'idle-first-%d' % number
        launch = self.group(name)
        idle = launch[rng.randrange(4)] if protect else launch[-1]
        names = dict((i, i.upper() if rng.random() < 0.5 else i) for i in launch)
        caps = dict((i, rng.randint(1, 5)) for i in launch)
        with octosim_testing.SimulatorThread({'nodes': [{'Name': names[i], 'MaxConcurrentTasks': caps[i]} for i in launch],
                                              'license': {'node_limit': None}}, speed=0) as sim:
            for instance in launch:
                for dummy in range(0 if instance == idle else rng.randint(1, caps[instance])):
                    sim.control.add_task(Name='Deploy', ServerNode=names[instance], State='Executing', Duration=10 ** 7)
            event = source.ClusterWatcher({'interval': 1}, client=OctopusClient(sim.url, octosim_testing.ADMIN_KEY)).poll_once()
            assert event['kind'] == 'facts'
            if protect:
                sizes, members = protection.read_group(self.retrying, name)
                plan = plan_protection(members, event['nodes'], sizes['min_size'], sizes['desired_capacity'])
                protection.set_protection(self.retrying, name, plan['protect'], True)
                protection.set_protection(self.retrying, name, plan['unprotect'], False)
            self.asg.set_desired_capacity(AutoScalingGroupName=name, DesiredCapacity=3)
            victim = self.model.terminations(name)[-1]
            fake = FakeTime()
            timer = Timer(clock=fake.clock, sleep=fake.sleep)
            client = OctopusClient(sim.url, octosim_testing.ADMIN_KEY, clock=fake.clock, sleep=fake.sleep)
            params = dict(REMOVE, name=names[victim])
            result = drive(NodeStep(client, params, timer).run, params, timer)
            left = [n['Name'] for n in sim.control.state()['nodes']]
        return idle, victim, fake.sleeps, result, left


def test_idle_first_ten_runs_and_the_control_without_protection(moto, scaling_model):
    """10 runs in process (random idle position, task caps and loads, node name case); the end-to-end run is in
    test_autoscaling_e2e.py. Without protection, AWS's OldestInstance policy picks a busy node and the drain waits."""
    rng = random.Random(13)
    rounds = Round(moto, scaling_model)
    for run in range(10):
        idle, victim, sleeps, result, left = rounds.run(run, rng)
        assert victim == idle, 'run %d: AWS picked %s, the idle node was %s' % (run, victim, idle)
        assert result['deleted'] and not result['failed'] and result['running_tasks'] == [], result
        assert sleeps == [], 'run %d: the removal waited %r' % (run, sleeps)
        assert len(left) == 3 and victim.lower() not in [n.lower() for n in left]
    idle, victim, sleeps, result, left = rounds.run(10, rng, protect=False)
    assert victim != idle and result['failed'] and not result['deleted'], 'the oldest instance is busy'
    assert sum(sleeps) >= REMOVE['drain_timeout'] and len(left) == 4, 'the drain waited for its deployments until the deadline'
