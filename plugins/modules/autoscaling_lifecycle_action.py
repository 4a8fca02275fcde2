#!/usr/bin/python
# -*- coding: utf-8 -*-

# Copyright: Contributors to the octopus.ha collection
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function
__metaclass__ = type


DOCUMENTATION = r"""
---
module: autoscaling_lifecycle_action
short_description: Send a heartbeat for, or complete, an EC2 Auto Scaling lifecycle action
version_added: 0.1.0
description:
  - Records a heartbeat (C(RecordLifecycleActionHeartbeat)) or completes (C(CompleteLifecycleAction)) the lifecycle
    action of one instance, identified by O(instance_id) and/or O(lifecycle_action_token).
  - Idempotent. AWS answers C(ValidationError) "No active Lifecycle Action found" when the action was already completed,
    abandoned or has expired. The module then returns C(changed=false), RV(active=false) and the reason, instead of failing,
    so a re-delivered event or a re-run is a no-op.
  - Throttling and server-side errors are retried with jittered exponential backoff.
  - With O(until_complete=true) it keeps heartbeating every O(interval) seconds until the action is no longer active, O(stop_file)
    appears or O(max_duration) is reached. Run it with C(async) and C(poll=0) next to a long drain. Each beat can also extend
    the visibility timeout of the SQS message that carried the event, so the message is not redelivered while the work goes on.
  - It warns when O(interval) is 80% or more of the hook's C(HeartbeatTimeout) (read with C(DescribeLifecycleHooks)).
  - Why this module exists. Neither amazon.aws nor community.aws has a heartbeat module, and
    M(community.aws.autoscaling_complete_lifecycle_action) takes no lifecycle action token, has no check mode,
    always reports C(changed=false) and fails on an action that is already complete.
author:
  - octopus.ha maintainers (@octopus-ha)
options:
  action:
    description:
      - V(heartbeat) restarts the hook's heartbeat timeout. V(complete) ends the lifecycle action with O(result).
    type: str
    required: true
    choices: [heartbeat, complete]
  asg_name:
    description: Name of the Auto Scaling group.
    type: str
    required: true
    aliases: [autoscaling_group_name]
  hook_name:
    description: Name of the lifecycle hook.
    type: str
    required: true
    aliases: [lifecycle_hook_name]
  instance_id:
    description:
      - EC2 instance id of the instance in C(Pending:Wait) or C(Terminating:Wait).
      - At least one of O(instance_id) and O(lifecycle_action_token) is required.
    type: str
  lifecycle_action_token:
    description:
      - The C(LifecycleActionToken) from the lifecycle notification. It names one lifecycle action, so a stale event
        cannot complete a newer action of the same instance.
      - It is an identifier, not a credential (it is useless without AWS credentials), so it is not hidden from logs.
    type: str
  result:
    description:
      - The result for O(action=complete). Required then.
      - For a terminating instance both values terminate it; V(ABANDON) also skips the remaining hooks.
        For a launching instance V(ABANDON) terminates it.
    type: str
    choices: [CONTINUE, ABANDON]
  interval:
    description:
      - Seconds between heartbeats when O(until_complete=true).
      - Defaults to a third of the hook's C(HeartbeatTimeout), or 60 when the hook cannot be read.
    type: int
  until_complete:
    description:
      - With O(action=heartbeat), keep heartbeating every O(interval) seconds until AWS reports that the action is no longer
        active, O(stop_file) exists, or O(max_duration) seconds have passed.
      - Throttling that outlasts the retries does not stop the loop (a warning is returned); other errors do.
    type: bool
    default: false
  max_duration:
    description:
      - Upper bound in seconds for O(until_complete=true). The default is the longest C(GlobalTimeout) AWS allows (48 h).
      - Set the task's C(async) a little above this.
    type: int
    default: 172800
  stop_file:
    description:
      - With O(until_complete=true), stop as soon as this file exists (checked every second). The handler playbook
        creates it when it is done, in particular when the scale-in failed and the action must be left to expire.
    type: path
  sqs_queue_url:
    description:
      - URL of the SQS queue whose message carried the lifecycle event. With O(sqs_receipt_handle), each heartbeat
        also extends the message's visibility timeout.
    type: str
  sqs_receipt_handle:
    description: Receipt handle of that SQS message.
    type: str
  visibility_timeout:
    description:
      - Visibility timeout in seconds to set on the SQS message at each heartbeat (0-43200).
      - Defaults to three heartbeat intervals.
    type: int
extends_documentation_fragment:
  - ansible.builtin.action_common_attributes
  - amazon.aws.common.modules
  - amazon.aws.region.modules
  - amazon.aws.boto3
attributes:
  check_mode:
    support: full
    details:
      - Sends no heartbeat, no completion and no SQS change. It reads the hook and the instance's lifecycle state to predict
        whether an action is active.
  diff_mode:
    support: none
  platform:
    platforms: posix
    details: Runs wherever boto3 is installed, usually the controller (C(localhost)).
notes:
  - AWS permissions used are C(autoscaling:RecordLifecycleActionHeartbeat), C(autoscaling:CompleteLifecycleAction),
    C(autoscaling:DescribeLifecycleHooks), C(autoscaling:DescribeAutoScalingInstances) (check mode only) and
    C(sqs:ChangeMessageVisibility) (only with O(sqs_queue_url)). A denied describe call only produces a warning.
seealso:
  - module: community.aws.autoscaling_lifecycle_hook
  - module: community.aws.autoscaling_complete_lifecycle_action
  - module: octopus.ha.sqs_message
"""

EXAMPLES = r"""
- name: Keep the terminate action alive while the node drains (runs in the background)
  octopus.ha.autoscaling_lifecycle_action:
    action: heartbeat
    asg_name: octopus-ha
    hook_name: octopus-drain
    instance_id: i-0abc1234def567890
    lifecycle_action_token: 0a1b2c3d-1111-2222-3333-444455556666
    until_complete: true
    interval: 300
    max_duration: 7200
    stop_file: /tmp/octopus-heartbeat-i-0abc1234def567890.stop
    sqs_queue_url: https://sqs.eu-west-1.amazonaws.com/123456789012/octopus-lifecycle
    sqs_receipt_handle: "{{ ansible_eda.event.receipt_handle }}"
  async: 7300
  poll: 0

- name: Let the instance terminate once the node is gone
  octopus.ha.autoscaling_lifecycle_action:
    action: complete
    result: CONTINUE
    asg_name: octopus-ha
    hook_name: octopus-drain
    instance_id: i-0abc1234def567890
    lifecycle_action_token: 0a1b2c3d-1111-2222-3333-444455556666

- name: Against a local AWS emulator
  octopus.ha.autoscaling_lifecycle_action:
    action: heartbeat
    asg_name: octopus-ha
    hook_name: octopus-drain
    instance_id: i-0abc1234def567890
    endpoint_url: http://127.0.0.1:5000
    region: us-east-1
"""

RETURN = r"""
active:
  description: Whether the lifecycle action was still active at the last call (or, in check mode, is predicted to be).
  returned: always
  type: bool
  sample: true
reason:
  description: Why nothing was changed, for example the AWS message when the action is no longer active.
  returned: when the action is not active, or in check mode
  type: str
  sample: No active Lifecycle Action found with instance ID i-0abc1234def567890
heartbeats:
  description: Number of heartbeats AWS accepted.
  returned: always
  type: int
  sample: 3
visibility_extensions:
  description: Number of times the SQS message visibility timeout was extended.
  returned: always
  type: int
  sample: 3
stopped_because:
  description:
    - Why the module returned. V(once) (single call), V(inactive) (AWS reports no active action),
      V(stop_file), V(max_duration) or V(check_mode).
  returned: always
  type: str
  sample: inactive
heartbeat_timeout:
  description: The hook's C(HeartbeatTimeout) in seconds, when it could be read.
  returned: always
  type: int
  sample: 3600
interval:
  description: The heartbeat interval used, in seconds.
  returned: when O(until_complete=true)
  type: int
  sample: 300
lifecycle_action:
  description: The identifiers and result of the call.
  returned: always
  type: dict
  sample:
    action: complete
    result: CONTINUE
    asg_name: octopus-ha
    hook_name: octopus-drain
    instance_id: i-0abc1234def567890
    lifecycle_action_token: 0a1b2c3d-1111-2222-3333-444455556666
"""

import os
import time

try:
    import botocore
except ImportError:
    pass  # handled by AnsibleAWSModule

from ansible_collections.amazon.aws.plugins.module_utils.botocore import is_boto3_error_code
from ansible_collections.amazon.aws.plugins.module_utils.modules import AnsibleAWSModule
from ansible_collections.amazon.aws.plugins.module_utils.retries import AWSRetry

NOT_ACTIVE_MESSAGE = 'no active lifecycle action found'
THROTTLING_CODES = ('Throttling', 'ThrottlingException', 'RequestLimitExceeded', 'TooManyRequestsException', 'SlowDown')
EXTRA_RETRY_CODES = ['ThrottlingException', 'SlowDown', 'InternalServerError', 'ServiceUnavailableException', 'RequestTimeout']
WARN_RATIO = 0.8
MAX_VISIBILITY = 43200
POLL_SLICE = 1.0

RETRY = AWSRetry.jittered_backoff(retries=8, delay=2, max_delay=30, catch_extra_error_codes=EXTRA_RETRY_CODES)

# Indirections for tests (no real sleeping).
_sleep = time.sleep
_clock = time.monotonic


def error_code(exc):
    return exc.response.get('Error', {}).get('Code', '') if hasattr(exc, 'response') else ''


def is_not_active(exc):
    """True for the ValidationError AWS returns once a lifecycle action is completed, abandoned or expired."""
    if error_code(exc) != 'ValidationError':
        return False
    return NOT_ACTIVE_MESSAGE in exc.response.get('Error', {}).get('Message', '').lower()


class LifecycleAction:
    """One lifecycle action and the calls that act on it."""

    def __init__(self, module, autoscaling, sqs=None):
        self.module = module
        self.autoscaling = autoscaling
        self.sqs = sqs
        p = module.params
        self.ids = dict(AutoScalingGroupName=p['asg_name'], LifecycleHookName=p['hook_name'])
        if p['instance_id']:
            self.ids['InstanceId'] = p['instance_id']
        if p['lifecycle_action_token']:
            self.ids['LifecycleActionToken'] = p['lifecycle_action_token']
        self.heartbeats = 0
        self.visibility_extensions = 0
        self.reason = None
        self.sqs_failed = False

    def hook_timeout(self):
        """The hook's HeartbeatTimeout, or None (with a warning) when it cannot be read."""
        try:
            hooks = self.autoscaling.describe_lifecycle_hooks(
                AutoScalingGroupName=self.ids['AutoScalingGroupName'],
                LifecycleHookNames=[self.ids['LifecycleHookName']], aws_retry=True)['LifecycleHooks']
        except (botocore.exceptions.ClientError, botocore.exceptions.BotoCoreError) as e:
            self.module.warn('Could not read lifecycle hook %s to check its heartbeat timeout: %s' % (self.ids['LifecycleHookName'], e))
            return None
        if not hooks:
            self.module.warn('Lifecycle hook %s was not found on Auto Scaling group %s.' % (
                self.ids['LifecycleHookName'], self.ids['AutoScalingGroupName']))
            return None
        return hooks[0].get('HeartbeatTimeout')

    def predict_active(self):
        """Check mode: guess from the instance's lifecycle state. Returns (active, reason)."""
        instance_id = self.ids.get('InstanceId')
        if not instance_id:
            return True, 'check mode: the lifecycle state cannot be read without instance_id'
        try:
            found = self.autoscaling.describe_auto_scaling_instances(InstanceIds=[instance_id], aws_retry=True)['AutoScalingInstances']
        except (botocore.exceptions.ClientError, botocore.exceptions.BotoCoreError) as e:
            return True, 'check mode: could not read the lifecycle state (%s)' % e
        if not found:
            return False, 'check mode: instance %s is not in Auto Scaling group %s' % (instance_id, self.ids['AutoScalingGroupName'])
        state = found[0].get('LifecycleState', '')
        if state.endswith(':Wait'):
            return True, 'check mode: instance %s is in %s' % (instance_id, state)
        return False, 'check mode: instance %s is in %s, so no lifecycle action is waiting' % (instance_id, state)

    def complete(self, result):
        """Complete the action. Returns True if AWS accepted it, False if it was no longer active."""
        try:
            self.autoscaling.complete_lifecycle_action(LifecycleActionResult=result, aws_retry=True, **self.ids)
        except botocore.exceptions.ClientError as e:
            if not is_not_active(e):
                raise
            self.reason = e.response['Error']['Message']
            return False
        return True

    def heartbeat(self):
        """One heartbeat. Returns True if AWS accepted it, False if the action is no longer active."""
        try:
            self.autoscaling.record_lifecycle_action_heartbeat(aws_retry=True, **self.ids)
        except botocore.exceptions.ClientError as e:
            if not is_not_active(e):
                raise
            self.reason = e.response['Error']['Message']
            return False
        self.heartbeats += 1
        return True

    def extend_visibility(self, queue_url, receipt_handle, timeout):
        if self.sqs is None or self.sqs_failed:
            return
        try:
            self.sqs.change_message_visibility(QueueUrl=queue_url, ReceiptHandle=receipt_handle, VisibilityTimeout=timeout, aws_retry=True)
        except (botocore.exceptions.ClientError, botocore.exceptions.BotoCoreError) as e:
            # The message may have been deleted or received again by someone else: keep heartbeating anyway.
            self.sqs_failed = True
            self.module.warn('Could not extend the visibility of the SQS message, stopped extending it: %s' % e)
            return
        self.visibility_extensions += 1


def stop_requested(stop_file):
    return bool(stop_file) and os.path.exists(stop_file)


def wait_interval(interval, deadline, stop_file):
    """Sleep up to interval seconds in short slices. Returns a stop reason or None."""
    end = min(_clock() + interval, deadline)
    while True:
        if stop_requested(stop_file):
            return 'stop_file'
        now = _clock()
        if now >= deadline:
            return 'max_duration'
        if now >= end:
            return None
        _sleep(min(POLL_SLICE, end - now))


def heartbeat_loop(module, action, interval):
    """Heartbeat until the action is inactive, stop_file exists or max_duration passes. Returns the stop reason."""
    p = module.params
    deadline = _clock() + p['max_duration']
    visibility = p['visibility_timeout'] if p['visibility_timeout'] is not None else min(3 * interval, MAX_VISIBILITY)
    while True:
        if stop_requested(p['stop_file']):
            return 'stop_file'
        try:
            if not action.heartbeat():
                return 'inactive'
        except botocore.exceptions.ClientError as e:
            if error_code(e) not in THROTTLING_CODES or not p['until_complete']:
                raise
            module.warn('Heartbeat throttled after retries, trying again at the next interval: %s' % e)
        if p['sqs_queue_url']:
            action.extend_visibility(p['sqs_queue_url'], p['sqs_receipt_handle'], visibility)
        if not p['until_complete']:
            return 'once'
        stop = wait_interval(interval, deadline, p['stop_file'])
        if stop:
            return stop


def validate(module):
    p = module.params
    if p['action'] == 'complete':
        for name in ('until_complete', 'sqs_queue_url', 'stop_file'):
            if p[name]:
                module.fail_json(msg='%s is only valid with action=heartbeat.' % name)
    for name in ('interval', 'max_duration'):
        if p[name] is not None and p[name] < 1:
            module.fail_json(msg='%s must be at least 1 second, got %d.' % (name, p[name]))
    if p['visibility_timeout'] is not None and not 0 <= p['visibility_timeout'] <= MAX_VISIBILITY:
        module.fail_json(msg='visibility_timeout must be between 0 and %d seconds.' % MAX_VISIBILITY)


def choose_interval(module, hook_timeout):
    p = module.params
    interval = p['interval'] or (max(1, hook_timeout // 3) if hook_timeout else 60)
    if hook_timeout and interval >= WARN_RATIO * hook_timeout:
        module.warn('The heartbeat interval (%d s) is %d%% or more of the hook heartbeat timeout (%d s): '
                    'the lifecycle action may expire between heartbeats. Use an interval of at most %d s.'
                    % (interval, int(WARN_RATIO * 100), hook_timeout, max(1, hook_timeout // 2)))
    return interval


def run(module, action):
    p = module.params
    out = dict(changed=False, active=True, heartbeats=0, visibility_extensions=0,
               lifecycle_action=dict(action=p['action'], result=p['result'], asg_name=p['asg_name'], hook_name=p['hook_name'],
                                     instance_id=p['instance_id'], lifecycle_action_token=p['lifecycle_action_token']))
    hook_timeout = action.hook_timeout() if p['action'] == 'heartbeat' or module.check_mode else None
    out['heartbeat_timeout'] = hook_timeout
    interval = None
    if p['action'] == 'heartbeat' and p['until_complete']:
        interval = out['interval'] = choose_interval(module, hook_timeout)

    if module.check_mode:
        active, reason = action.predict_active()
        out.update(changed=active, active=active, reason=reason, stopped_because='check_mode')
        return out

    if p['action'] == 'complete':
        done = action.complete(p['result'])
        out.update(changed=done, active=done, stopped_because='once' if done else 'inactive')
    else:
        out['stopped_because'] = heartbeat_loop(module, action, interval or 60)
        out.update(changed=action.heartbeats > 0, active=out['stopped_because'] != 'inactive',
                   heartbeats=action.heartbeats, visibility_extensions=action.visibility_extensions)
    if action.reason:
        out['reason'] = action.reason
    return out


def main():
    argument_spec = dict(
        action=dict(type='str', required=True, choices=['heartbeat', 'complete']),
        asg_name=dict(type='str', required=True, aliases=['autoscaling_group_name']),
        hook_name=dict(type='str', required=True, aliases=['lifecycle_hook_name']),
        instance_id=dict(type='str'),
        lifecycle_action_token=dict(type='str', no_log=False),
        result=dict(type='str', choices=['CONTINUE', 'ABANDON']),
        interval=dict(type='int'),
        until_complete=dict(type='bool', default=False),
        max_duration=dict(type='int', default=172800),
        stop_file=dict(type='path'),
        sqs_queue_url=dict(type='str'),
        sqs_receipt_handle=dict(type='str', no_log=False),
        visibility_timeout=dict(type='int'),
    )
    module = AnsibleAWSModule(
        argument_spec=argument_spec,
        supports_check_mode=True,
        required_if=[('action', 'complete', ['result'])],
        required_one_of=[('instance_id', 'lifecycle_action_token')],
        required_together=[('sqs_queue_url', 'sqs_receipt_handle')],
    )
    validate(module)
    autoscaling = module.client('autoscaling', retry_decorator=RETRY)
    sqs = module.client('sqs', retry_decorator=RETRY) if module.params['sqs_queue_url'] else None
    action = LifecycleAction(module, autoscaling, sqs)
    what = 'complete' if module.params['action'] == 'complete' else 'record a heartbeat for'
    try:
        out = run(module, action)
    except is_boto3_error_code('ValidationError') as e:
        module.fail_json_aws(e, msg='Could not %s the lifecycle action (check asg_name, hook_name, instance_id and token)' % what,
                             heartbeats=action.heartbeats)
    except (botocore.exceptions.ClientError, botocore.exceptions.BotoCoreError) as e:  # pylint: disable=duplicate-except
        module.fail_json_aws(e, msg='Could not %s the lifecycle action' % what, heartbeats=action.heartbeats)
    module.exit_json(**out)


if __name__ == '__main__':
    main()
