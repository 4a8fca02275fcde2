#!/usr/bin/python
# -*- coding: utf-8 -*-

# Copyright: Contributors to the octopus.ha collection
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function
__metaclass__ = type


DOCUMENTATION = r"""
---
module: autoscaling_lifecycle_info
short_description: Read an Auto Scaling group's lifecycle hook and the instances waiting on it
version_added: 0.1.0
description:
  - Reads one Auto Scaling group (C(DescribeAutoScalingGroups)), one of its lifecycle hooks (C(DescribeLifecycleHooks)) and,
    for the instances in a wait state, when their scaling activity started (C(DescribeScalingActivities)) and the marker tag
    a lifecycle handler refreshes at each heartbeat (C(DescribeTags)).
  - Fails when the group or the hook does not exist, so a misspelled name, or the wrong region or account, stops a
    reconciler instead of making it do nothing.
  - Ages are measured with this machine's clock against the times AWS reports.
author:
  - octopus.ha maintainers (@octopus-ha)
options:
  asg_name:
    description: Name of the Auto Scaling group.
    type: str
    required: true
    aliases: [autoscaling_group_name]
  hook_name:
    description: Name of the lifecycle hook to read.
    type: str
    required: true
    aliases: [lifecycle_hook_name]
  marker_tag:
    description: The EC2 tag key that lifecycle handlers refresh (see O(octopus.ha.autoscaling_lifecycle_action#module:marker_tag)).
    type: str
    default: octopus-ha:lifecycle-handler
extends_documentation_fragment:
  - ansible.builtin.action_common_attributes
  - octopus.ha._octopus.actiongroup_aws
  - amazon.aws.common.modules
  - amazon.aws.region.modules
  - amazon.aws.boto3
attributes:
  check_mode:
    support: full
    details:
      - This module only reads.
  diff_mode:
    support: N/A
    details:
      - This module never changes anything.
notes:
  - AWS permissions used are C(autoscaling:DescribeAutoScalingGroups), C(autoscaling:DescribeLifecycleHooks),
    C(autoscaling:DescribeScalingActivities) and C(ec2:DescribeTags). A denied activity or tag read leaves the ages unknown
    (null) with a warning; the reconciler then leaves the instance alone.
seealso:
  - module: octopus.ha.autoscaling_lifecycle_action
  - module: amazon.aws.autoscaling_instance_info
"""

EXAMPLES = r"""
- name: Read the terminate hook and the instances waiting on it
  octopus.ha.autoscaling_lifecycle_info:
    asg_name: octopus-ha
    hook_name: octopus-drain
  register: lifecycle
"""

RETURN = r"""
group:
  description: The group.
  returned: success
  type: dict
  sample: {"name": "octopus-ha", "min_size": 2, "max_size": 6, "desired_capacity": 3}
hook:
  description: The lifecycle hook.
  returned: success
  type: dict
  sample: {"name": "octopus-drain", "transition": "autoscaling:EC2_INSTANCE_TERMINATING", "heartbeat_timeout": 3600,
           "global_timeout": 172800, "default_result": "ABANDON"}
instances:
  description: The group's instances.
  returned: success
  type: list
  elements: dict
  contains:
    instance_id:
      description: Instance id.
      type: str
    lifecycle_state:
      description: The Auto Scaling lifecycle state, for example C(InService) or C(Terminating:Wait).
      type: str
    health_status:
      description: C(Healthy) or C(Unhealthy).
      type: str
    waiting:
      description: Whether the instance is in a wait state (the state ends with C(:Wait)).
      type: bool
    wait_started:
      description: Start of the instance's latest scaling activity (ISO 8601), for waiting instances. Null when unknown.
      type: str
    wait_age:
      description: Seconds since RV(instances[].wait_started). Null when unknown.
      type: int
    marker:
      description: The value of the marker tag (the time of a handler's last heartbeat), or null.
      type: str
    marker_age:
      description: Seconds since RV(instances[].marker). Null when there is no marker.
      type: int
"""

import datetime
import re
import time

try:
    import botocore
except ImportError:
    pass  # handled by AnsibleAWSModule

from ansible_collections.amazon.aws.plugins.module_utils.modules import AnsibleAWSModule
from ansible_collections.amazon.aws.plugins.module_utils.retries import AWSRetry

RETRY = AWSRetry.jittered_backoff(retries=8, delay=2, max_delay=30, catch_extra_error_codes=['ResourceContention', 'ThrottlingException'])
_wallclock = time.time


def epoch(value):
    """A botocore datetime or an ISO 8601 string -> epoch seconds, or None."""
    if isinstance(value, datetime.datetime):
        return value.timestamp() if value.tzinfo else value.replace(tzinfo=datetime.timezone.utc).timestamp()
    if not value:
        return None
    try:
        stamp = datetime.datetime.fromisoformat(str(value).replace('Z', '+00:00'))
    except ValueError:
        return None
    return (stamp if stamp.tzinfo else stamp.replace(tzinfo=datetime.timezone.utc)).timestamp()


def iso(seconds):
    return datetime.datetime.fromtimestamp(seconds, datetime.timezone.utc).strftime('%Y-%m-%dT%H:%M:%SZ')


def age(seconds):
    return None if seconds is None else max(0, int(_wallclock() - seconds))


def read_group(module, autoscaling, name):
    groups = autoscaling.describe_auto_scaling_groups(AutoScalingGroupNames=[name], aws_retry=True)['AutoScalingGroups']
    if not groups:
        module.fail_json(msg='Auto Scaling group %s does not exist in region %s. Check octopus_reconcile_asg_name, the region, the '
                             'account and the endpoint.' % (name, module.region))
    return groups[0]


def read_hook(module, autoscaling, group, hook_name):
    hooks = autoscaling.describe_lifecycle_hooks(AutoScalingGroupName=group, LifecycleHookNames=[hook_name], aws_retry=True)['LifecycleHooks']
    if not hooks:
        module.fail_json(msg='Lifecycle hook %s does not exist on Auto Scaling group %s. Check the hook name.' % (hook_name, group))
    hook = hooks[0]
    timeout = hook.get('HeartbeatTimeout')
    return dict(name=hook.get('LifecycleHookName'), transition=hook.get('LifecycleTransition'), heartbeat_timeout=timeout,
                global_timeout=hook.get('GlobalTimeout') or (min(172800, 100 * timeout) if timeout else None),
                default_result=hook.get('DefaultResult'))


def activity_starts(module, autoscaling, group, instance_ids, max_pages=10):
    """instance id -> start (epoch) of its latest scaling activity, for the given instances (newest activities first)."""
    starts = {}
    token = None
    try:
        for dummy in range(max_pages if instance_ids else 0):
            kwargs = dict(AutoScalingGroupName=group, MaxRecords=100)
            if token:
                kwargs['NextToken'] = token
            page = autoscaling.describe_scaling_activities(aws_retry=True, **kwargs)
            for activity in page.get('Activities', []):
                for iid in instance_ids:
                    if iid not in starts and re.search(r'\b%s\b' % re.escape(iid), activity.get('Description', '')):
                        starts[iid] = epoch(activity.get('StartTime'))
            token = page.get('NextToken')
            if not token or len(starts) == len(instance_ids):
                break
    except (botocore.exceptions.ClientError, botocore.exceptions.BotoCoreError) as e:
        module.warn('Could not read the scaling activities of %s, so the age of waiting instances is unknown: %s' % (group, e))
    return starts


def markers(module, ec2, key, instance_ids):
    """instance id -> marker tag value."""
    if not instance_ids:
        return {}
    try:
        tags = ec2.describe_tags(Filters=[dict(Name='resource-id', Values=list(instance_ids)), dict(Name='key', Values=[key])],
                                 aws_retry=True)['Tags']
    except (botocore.exceptions.ClientError, botocore.exceptions.BotoCoreError) as e:
        module.warn('Could not read the %s tags, so handler markers are unknown: %s' % (key, e))
        return {}
    return dict((t['ResourceId'], t['Value']) for t in tags)


def describe(module, autoscaling, ec2):
    p = module.params
    group = read_group(module, autoscaling, p['asg_name'])
    hook = read_hook(module, autoscaling, p['asg_name'], p['hook_name'])
    instances = group.get('Instances', [])
    waiting = [i['InstanceId'] for i in instances if str(i.get('LifecycleState', '')).endswith(':Wait')]
    starts = activity_starts(module, autoscaling, p['asg_name'], waiting)
    marks = markers(module, ec2, p['marker_tag'], waiting)
    out = []
    for item in sorted(instances, key=lambda i: i['InstanceId']):
        iid = item['InstanceId']
        start = starts.get(iid)
        mark = marks.get(iid)
        out.append(dict(instance_id=iid, lifecycle_state=item.get('LifecycleState'), health_status=item.get('HealthStatus'),
                        waiting=iid in waiting, wait_started=iso(start) if start else None, wait_age=age(start), marker=mark,
                        marker_age=age(epoch(mark))))
    return dict(changed=False, hook=hook, instances=out,
                group=dict(name=group['AutoScalingGroupName'], min_size=group.get('MinSize'), max_size=group.get('MaxSize'),
                           desired_capacity=group.get('DesiredCapacity')))


def main():
    module = AnsibleAWSModule(
        argument_spec=dict(
            asg_name=dict(type='str', required=True, aliases=['autoscaling_group_name']),
            hook_name=dict(type='str', required=True, aliases=['lifecycle_hook_name']),
            marker_tag=dict(type='str', default='octopus-ha:lifecycle-handler', no_log=False),
        ),
        supports_check_mode=True,
    )
    autoscaling = module.client('autoscaling', retry_decorator=RETRY)
    ec2 = module.client('ec2', retry_decorator=RETRY)
    try:
        result = describe(module, autoscaling, ec2)
    except (botocore.exceptions.ClientError, botocore.exceptions.BotoCoreError) as e:
        module.fail_json_aws(e, msg='Could not read Auto Scaling group %s and its lifecycle hook %s'
                             % (module.params['asg_name'], module.params['hook_name']))
    module.exit_json(**result)


if __name__ == '__main__':
    main()
