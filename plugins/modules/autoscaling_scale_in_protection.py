#!/usr/bin/python
# -*- coding: utf-8 -*-

# Copyright: Contributors to the octopus.ha collection
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function
__metaclass__ = type


DOCUMENTATION = r"""
---
module: autoscaling_scale_in_protection
short_description: Protect the instances of busy Octopus nodes from scale-in, and release idle ones
version_added: 0.2.0
description:
  - Makes the scale-in protection of an EC2 Auto Scaling group follow the Octopus work. The instance of a node that runs
    tasks is protected from scale-in; the instance of an idle or offline node is not. When the group scales in, AWS then
    picks an idle node, and its drain (the lifecycle-hook scale-in) ends at once.
  - Reads the group once, decides with the collection's cloud-neutral plan, and calls C(SetInstanceProtection) only for
    the instances whose protection must change (in batches of 50, the API's limit).
  - Keeps scale-in possible. While the group's desired capacity is above its minimum size, it never leaves every
    in-service instance protected; when all nodes are busy, the instance of the least busy node stays unprotected.
  - It is an optimisation, not a safety mechanism. Protection does not stop a manual termination, a health-check
    replacement, a Spot interruption, or a node that picks up a task between two runs. The lifecycle-hook scale-in still
    drains whatever node AWS terminates.
  - Leaves an instance as it is when its node's running tasks are unknown, when no node matches it, when it is not
    C(InService), or when O(nodes) is not given (the cluster could not be read). No decision is taken from missing facts.
  - Why not M(amazon.aws.autoscaling_instance). That module sets one protection value for a list of instances and always
    ensures the instances are attached (O(amazon.aws.autoscaling_instance#module:state=attached) or V(present)). An
    instance that left the group between the read and the call would be attached again, and one that is terminating
    fails the whole call. This module never attaches, detaches or waits.
author:
  - octopus.ha maintainers (@octopus-ha)
options:
  group_name:
    description: Name of the Auto Scaling group.
    type: str
    required: true
  nodes:
    description:
      - The Octopus nodes with at least C(name) and C(running_task_count) (and C(offline)), as in RV(octopus.ha.octopus_cluster_info#module:nodes)
        or the C(nodes) of an C(octopus.ha.octopus_cluster) event.
      - When omitted or V(null), nothing is changed and every instance is reported as left alone.
    type: list
    elements: dict
  instance_map:
    description:
      - Explicit mapping of instance id to Octopus node name (case-insensitive). Only mapped instances are then matched.
      - Without it, an instance matches the node named after its instance id, which is the name the collection's scale-out
        gives new nodes.
    type: dict
extends_documentation_fragment:
  - ansible.builtin.action_common_attributes
  - octopus.ha._octopus.actiongroup_aws
  - amazon.aws.common.modules
  - amazon.aws.region.modules
  - amazon.aws.boto3
attributes:
  check_mode:
    support: full
    details: Reads the group and returns the changes it would make (RV(protect), RV(unprotect), RV(plan)); sends no change.
  diff_mode:
    support: full
    details: The protection of every instance before and after.
notes:
  - AWS permissions used are C(autoscaling:DescribeAutoScalingGroups) and C(autoscaling:SetInstanceProtection).
  - If a scale-in asks for more instances than are unprotected, AWS lowers the desired capacity, terminates the
    unprotected ones and terminates the rest only once their protection is removed, which the next run does for nodes
    that became idle.
seealso:
  - module: octopus.ha.octopus_cluster_info
  - module: amazon.aws.autoscaling_instance
"""

EXAMPLES = r"""
- name: Read the Octopus cluster
  octopus.ha.octopus_cluster_info:
  register: cluster

- name: Protect the instances of busy nodes
  octopus.ha.autoscaling_scale_in_protection:
    group_name: octopus-ha
    nodes: "{{ cluster.nodes }}"

- name: Nodes that are not named after their instance
  octopus.ha.autoscaling_scale_in_protection:
    group_name: octopus-ha
    nodes: "{{ cluster.nodes }}"
    instance_map:
      i-0abc1234def567890: OCTO-NODE-01
      i-0def5678abc123456: OCTO-NODE-02
"""

RETURN = r"""
protect:
  description: Instances whose protection was (in check mode, would be) turned on.
  returned: always
  type: list
  elements: str
  sample: [i-0abc1234def567890]
unprotect:
  description: Instances whose protection was (in check mode, would be) turned off.
  returned: always
  type: list
  elements: str
  sample: []
kept_unprotected:
  description: The busy instance left unprotected so that the group can still scale in, or V(null).
  returned: always
  type: str
  sample: null
all_protected:
  description: Whether every in-service instance is protected afterwards (allowed only at the minimum size, or when facts are missing).
  returned: always
  type: bool
  sample: false
plan:
  description: One entry per instance of the group, sorted by instance id.
  returned: always
  type: list
  elements: dict
  contains:
    instance_id:
      description: The instance.
      type: str
    lifecycle_state:
      description: Its lifecycle state.
      type: str
    node:
      description: The Octopus node matched to it, or V(null).
      type: str
    running_task_count:
      description: The node's running tasks, or V(null).
      type: int
    protected:
      description: Its protection before this run.
      type: bool
    protect:
      description: The protection it should have, or V(null) when it is left as it is.
      type: bool
    reason:
      description: Why.
      type: str
  sample:
    - instance_id: i-0abc1234def567890
      lifecycle_state: InService
      node: i-0abc1234def567890
      running_task_count: 2
      protected: false
      protect: true
      reason: node i-0abc1234def567890 runs 2 tasks
group:
  description: The group's sizes when it was read.
  returned: always
  type: dict
  sample: {"name": "octopus-ha", "min_size": 2, "max_size": 6, "desired_capacity": 4}
"""

try:
    import botocore
except ImportError:
    pass  # handled by AnsibleAWSModule

from ansible_collections.amazon.aws.plugins.module_utils.botocore import is_boto3_error_code
from ansible_collections.amazon.aws.plugins.module_utils.modules import AnsibleAWSModule
from ansible_collections.amazon.aws.plugins.module_utils.retries import AWSRetry
from ansible_collections.octopus.ha.plugins.module_utils._octopus_autoscaling import plan_protection

BATCH = 50
RETRY = AWSRetry.jittered_backoff(retries=8, delay=2, max_delay=30, catch_extra_error_codes=['ThrottlingException'])


class GroupNotFound(Exception):
    pass


def read_group(client, name):
    """(sizes, cloud-neutral instances) of one Auto Scaling group."""
    groups = client.describe_auto_scaling_groups(AutoScalingGroupNames=[name], aws_retry=True).get('AutoScalingGroups') or []
    if not groups:
        raise GroupNotFound('Auto Scaling group %s was not found. Check group_name and the region.' % name)
    group = groups[0]
    sizes = dict(name=name, min_size=group.get('MinSize'), max_size=group.get('MaxSize'), desired_capacity=group.get('DesiredCapacity'))
    instances = [dict(instance_id=i['InstanceId'], lifecycle_state=i.get('LifecycleState'), protected=bool(i.get('ProtectedFromScaleIn')))
                 for i in group.get('Instances') or []]
    return sizes, instances


def set_protection(client, name, ids, value):
    """SetInstanceProtection in batches; returns the number of calls AWS accepted."""
    calls = 0
    for start in range(0, len(ids), BATCH):
        client.set_instance_protection(AutoScalingGroupName=name, InstanceIds=ids[start:start + BATCH],
                                       ProtectedFromScaleIn=value, aws_retry=True)
        calls += 1
    return calls


class Applier:
    """Sends the changes; on a ValidationError (an instance left the group meanwhile) reads again and decides again, once."""

    def __init__(self, client, params):
        self.client = client
        self.params = params
        self.calls = 0

    def run(self, sizes, instances, plan):
        for attempt in (1, 2):
            try:
                self.calls += set_protection(self.client, sizes['name'], plan['protect'], True)
                self.calls += set_protection(self.client, sizes['name'], plan['unprotect'], False)
                return sizes, instances, plan
            except is_boto3_error_code('ValidationError'):
                if attempt == 2:
                    raise
                sizes, instances = read_group(self.client, sizes['name'])
                plan = plan_protection(instances, self.params['nodes'], sizes['min_size'], sizes['desired_capacity'],
                                       self.params['instance_map'])
        return sizes, instances, plan


def result(module, sizes, instances, plan, calls=0):
    out = dict(changed=bool(calls or plan['protect'] or plan['unprotect']), protect=plan['protect'], unprotect=plan['unprotect'],
               kept_unprotected=plan['kept_unprotected'], all_protected=plan['all_protected'], plan=plan['instances'],
               group=sizes)
    if module._diff:  # pylint: disable=protected-access
        before = dict((i['instance_id'], i['protected']) for i in instances)
        after = dict(before)
        after.update((i, True) for i in plan['protect'])
        after.update((i, False) for i in plan['unprotect'])
        out['diff'] = dict(before=dict(protected_from_scale_in=before), after=dict(protected_from_scale_in=after))
    return out


def main():
    module = AnsibleAWSModule(
        argument_spec=dict(
            group_name=dict(type='str', required=True),
            nodes=dict(type='list', elements='dict'),
            instance_map=dict(type='dict'),
        ),
        supports_check_mode=True,
    )
    p = module.params
    client = module.client('autoscaling', retry_decorator=RETRY)
    applier = Applier(client, p)
    try:
        sizes, instances = read_group(client, p['group_name'])
        plan = plan_protection(instances, p['nodes'], sizes['min_size'], sizes['desired_capacity'], p['instance_map'])
        if p['nodes'] is None:
            module.warn('No Octopus node facts were given (the cluster could not be read), so no scale-in protection was changed.')
        elif plan['all_protected'] and plan['above_min_size']:
            module.warn('Every in-service instance of %s stays protected although the group is above its minimum size, because '
                        'the running tasks of some nodes are unknown; a scale-in waits until their protection is removed.'
                        % p['group_name'])
        if not module.check_mode:
            sizes, instances, plan = applier.run(sizes, instances, plan)
    except GroupNotFound as e:
        module.fail_json(msg=str(e))
    except (botocore.exceptions.ClientError, botocore.exceptions.BotoCoreError) as e:
        module.fail_json_aws(e, msg='Could not set the scale-in protection of the instances of Auto Scaling group %s'
                             % p['group_name'], changed=applier.calls > 0)
    module.exit_json(**result(module, sizes, instances, plan, applier.calls))


if __name__ == '__main__':
    main()
