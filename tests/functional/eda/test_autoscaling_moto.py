# -*- coding: utf-8 -*-

# Copyright: Contributors to the octopus.ha collection
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

"""Scale-in protection against moto: what moto itself does, and the AWS model of asg_scaling_model.py."""

from __future__ import absolute_import, division, print_function
__metaclass__ = type

import json

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
