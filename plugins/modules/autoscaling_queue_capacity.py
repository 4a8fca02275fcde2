#!/usr/bin/python
# -*- coding: utf-8 -*-

# Copyright: Contributors to the octopus.ha collection
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function
__metaclass__ = type


DOCUMENTATION = r"""
---
module: autoscaling_queue_capacity
short_description: Set an Auto Scaling group's desired capacity from the Octopus task queue (direct mode)
version_added: 0.2.0
description:
  - The decision step of the direct scaling mode. Takes the recent polls of the C(octopus.ha.octopus_cluster) event source
    (O(history)), reads the group, decides with the collection's cloud-neutral policy and, when the decision is a change,
    records it in a group tag and calls C(SetDesiredCapacity).
  - Scales out when the backlog per slot stays above O(scale_out_backlog) while the slots are at least
    O(scale_out_min_utilisation) full, for O(scale_out_polls) polls in a row; by as many instances as the queue the free
    slots cannot take needs, at most O(scale_out_max_step), never above the group's C(MaxSize).
  - Scales in by one when the queue is empty and the utilisation stays below O(scale_in_utilisation) for
    O(scale_in_polls) polls, provided the running tasks would use at most O(scale_in_max_projected_utilisation) of the
    slots left with one node less (hysteresis), and never below the larger of the group's C(MinSize) and O(min_capacity).
  - After each change it waits O(cooldown) seconds of server time, counts only polls taken after the change, and does
    nothing while the group has launching or terminating instances. A failed poll, or one with a missing fact, is never
    acted upon.
  - A policy option that is unset or V(null) takes its default, so a playbook can pass unset variables through.
  - It only changes the desired capacity. Adding and removing nodes stays with the lifecycle hooks
    (C(octopus.ha.asg_lifecycle)), which install, drain and delete. Every decision, including "no change", is returned
    with the facts behind it and can be appended to O(decision_log).
author:
  - octopus.ha maintainers (@octopus-ha)
options:
  group_name:
    description: Name of the Auto Scaling group.
    type: str
    required: true
  history:
    description:
      - The recent polls, oldest first, as in the C(history) of an C(octopus.ha.octopus_cluster) event. Each has C(poll),
        C(ok), C(polled_at) (server clock, epoch seconds), C(observed_at), C(queued_task_count), C(running_task_count),
        C(task_capacity) and C(task_node_count).
    type: list
    elements: dict
    required: true
  scale_out_backlog:
    description:
      - Queued tasks per slot above which a poll counts for scale-out.
      - Unset or V(null) means V(0.5).
    type: float
  scale_out_min_utilisation:
    description:
      - The slots must be at least this full (running tasks divided by capacity) for a backlog to count. Octopus runs
        the tasks of one project and environment one after the other and nodes pick work up every 20 seconds, so a queue
        next to free slots is not a shortage of capacity.
      - Unset or V(null) means V(0.8).
    type: float
  scale_out_polls:
    description:
      - Consecutive polls with the scale-out signal before scaling out.
      - Unset or V(null) means V(3).
    type: int
  scale_out_max_step:
    description:
      - At most this many instances added in one change.
      - Unset or V(null) means V(2).
    type: int
  scale_in_utilisation:
    description:
      - Utilisation below which a poll with an empty queue counts for scale-in.
      - Unset or V(null) means V(0.3).
    type: float
  scale_in_polls:
    description:
      - Consecutive polls with the scale-in signal before scaling in by one.
      - Unset or V(null) means V(10).
    type: int
  scale_in_max_projected_utilisation:
    description:
      - Hysteresis. The running tasks may use at most this share of the slots left with one node less. Must be below
        O(scale_out_min_utilisation).
      - Unset or V(null) means V(0.7).
    type: float
  cooldown:
    description:
      - Seconds of server time after a change before the next decision.
      - Unset or V(null) means V(300).
    type: int
  min_capacity:
    description:
      - Floor of the desired capacity besides the group's C(MinSize); set it to the capacity guard of the scale-in
        (C(node_remove_min_task_nodes)) plus any UI-only nodes in the group.
      - Unset or V(null) means V(1).
    type: int
  node_task_cap:
    description:
      - Task cap assumed for a new node when the cluster has no task node to measure.
      - Unset or V(null) means V(5).
    type: int
  max_fact_age:
    description:
      - Do nothing when the newest poll was observed longer ago than this many seconds (controller clock). V(0) disables the check.
      - Unset or V(null) means V(0).
    type: int
  cooldown_tag:
    description: Tag of the group that records the last change (time, action, sizes) for the cooldown.
    type: str
    default: octopus-ha:last-capacity-change
  decision_log:
    description: A file to which every decision is appended as one JSON line (created when missing).
    type: path
extends_documentation_fragment:
  - ansible.builtin.action_common_attributes
  - octopus.ha._octopus.actiongroup_aws
  - amazon.aws.common.modules
  - amazon.aws.region.modules
  - amazon.aws.boto3
attributes:
  check_mode:
    support: full
    details: Reads the group and returns (and logs) the decision; writes neither the tag nor the capacity.
  diff_mode:
    support: none
notes:
  - AWS permissions used are C(autoscaling:DescribeAutoScalingGroups), C(autoscaling:CreateOrUpdateTags) and
    C(autoscaling:SetDesiredCapacity).
  - Run one direct-mode rulebook per group. Two deciding at the same time could both add capacity.
seealso:
  - module: octopus.ha.autoscaling_scale_in_protection
  - module: octopus.ha.cloudwatch_metric_data
"""

EXAMPLES = r"""
- name: Decide on the poll of the event (in the handler of octopus.ha.octopus_autoscaling)
  octopus.ha.autoscaling_queue_capacity:
    group_name: octopus-ha
    history: "{{ ansible_eda.event.history }}"
    scale_out_polls: 3
    scale_in_polls: 10
    cooldown: 600
    min_capacity: 2
    decision_log: /var/log/octopus-ha/decisions.jsonl
  register: decision
"""

RETURN = r"""
decision:
  description: The decision with the facts behind it.
  returned: always
  type: dict
  contains:
    action:
      description: V(scale_out), V(scale_in) or V(none).
      type: str
    reason:
      description: Why, as a sentence.
      type: str
    desired_before:
      description: The desired capacity read from the group.
      type: int
    desired_after:
      description: The desired capacity set (or, in check mode, that would be set).
      type: int
    floor:
      description: The larger of C(MinSize) and O(min_capacity).
      type: int
    ceiling:
      description: C(MaxSize).
      type: int
    poll:
      description: The number of the poll decided upon.
      type: int
    polled_at:
      description: Its server time (epoch seconds).
      type: float
    facts:
      description: The newest poll.
      type: dict
    evidence:
      description: The polls that justify a change.
      type: list
      elements: dict
    scale_out_streak:
      description: Consecutive fresh polls with the scale-out signal.
      type: int
    scale_in_streak:
      description: Consecutive fresh polls with the scale-in signal.
      type: int
    last_change:
      description: The previous change read from O(cooldown_tag), or V(null).
      type: dict
  sample:
    action: scale_out
    reason: backlog per slot above 0.5 with utilisation at least 0.8 for 3 polls
    desired_before: 3
    desired_after: 4
    floor: 2
    ceiling: 6
    poll: 17
    polled_at: 1767226200.0
    scale_out_streak: 3
    scale_in_streak: 0
applied:
  description: Whether the capacity was changed in this run.
  returned: always
  type: bool
  sample: true
"""

import json
import time

try:
    import botocore
except ImportError:
    pass  # handled by AnsibleAWSModule

from ansible_collections.amazon.aws.plugins.module_utils.modules import AnsibleAWSModule
from ansible_collections.amazon.aws.plugins.module_utils.retries import AWSRetry
from ansible_collections.octopus.ha.plugins.module_utils._octopus_autoscaling import (
    DEFAULT_POLICY, decide_capacity, decode_last_change, encode_last_change, policy_errors)

RETRY = AWSRetry.jittered_backoff(retries=8, delay=2, max_delay=30, catch_extra_error_codes=['ThrottlingException'])
POLICY_OPTIONS = tuple(sorted(DEFAULT_POLICY))


def read_group(client, name, tag):
    groups = client.describe_auto_scaling_groups(AutoScalingGroupNames=[name], aws_retry=True).get('AutoScalingGroups') or []
    if not groups:
        return None, None
    group = groups[0]
    value = next((t.get('Value') for t in group.get('Tags') or [] if t.get('Key') == tag), None)
    return dict(min_size=group['MinSize'], max_size=group['MaxSize'], desired_capacity=group['DesiredCapacity'],
                instances=[dict(instance_id=i['InstanceId'], lifecycle_state=i.get('LifecycleState'))
                           for i in group.get('Instances') or []]), decode_last_change(value)


def change(client, name, tag, decision):
    """Record the change first (a failed capacity call then only delays the next decision), then set the capacity."""
    client.create_or_update_tags(Tags=[dict(ResourceId=name, ResourceType='auto-scaling-group', Key=tag,
                                            Value=encode_last_change(decision), PropagateAtLaunch=False)], aws_retry=True)
    client.set_desired_capacity(AutoScalingGroupName=name, DesiredCapacity=decision['desired_after'], HonorCooldown=False,
                                aws_retry=True)


def log_decision(path, group, decision, check_mode, applied):
    line = dict(time=time.time(), group=group, check_mode=check_mode, applied=applied)
    line.update(decision)
    with open(path, 'a') as handle:
        handle.write(json.dumps(line, sort_keys=True, default=str) + '\n')


def main():
    argument_spec = dict(
        group_name=dict(type='str', required=True),
        history=dict(type='list', elements='dict', required=True),
        cooldown_tag=dict(type='str', default='octopus-ha:last-capacity-change'),
        decision_log=dict(type='path'),
    )
    for name in POLICY_OPTIONS:
        # No default here: DEFAULT_POLICY (module_utils) is the one home of the defaults, and null means the default.
        argument_spec[name] = dict(type='float' if isinstance(DEFAULT_POLICY[name], float) else 'int')
    module = AnsibleAWSModule(argument_spec=argument_spec, supports_check_mode=True)
    p = module.params
    # An option given as null (a playbook passing an unset variable) means its default.
    policy = dict((name, DEFAULT_POLICY[name] if p[name] is None else p[name]) for name in POLICY_OPTIONS)
    errors = policy_errors(policy)
    if errors:
        module.fail_json(msg='The direct scaling policy is not valid: %s' % ' '.join(errors))
    client = module.client('autoscaling', retry_decorator=RETRY)
    applied = False
    try:
        group, last_change = read_group(client, p['group_name'], p['cooldown_tag'])
        if group is None:
            module.fail_json(msg='Auto Scaling group %s was not found. Check group_name and the region.' % p['group_name'])
        decision = decide_capacity(p['history'], group, policy, last_change, now=time.time())
        decision['last_change'] = last_change
        if decision['action'] != 'none' and not module.check_mode:
            change(client, p['group_name'], p['cooldown_tag'], decision)
            applied = True
    except (botocore.exceptions.ClientError, botocore.exceptions.BotoCoreError) as e:
        module.fail_json_aws(e, msg='Could not decide or set the desired capacity of Auto Scaling group %s' % p['group_name'])
    if p['decision_log']:
        try:
            log_decision(p['decision_log'], p['group_name'], decision, module.check_mode, applied)
        except (IOError, OSError) as e:
            module.warn('Could not append the decision to %s: %s' % (p['decision_log'], e))
    module.exit_json(changed=decision['action'] != 'none', decision=decision, applied=applied)


if __name__ == '__main__':
    main()
