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
    abandoned or has expired. The module then returns C(changed=false), RV(active=false) and the reason, so a re-delivered
    event or a re-run is a no-op. With O(expect_active=true) (a first delivery of the event) the same answer is a failure
    that names the instance, because then the action expired or someone else completed it.
  - C(ResourceContention) (the only error the service model defines for these calls), throttling and server-side errors
    are retried with jittered exponential backoff.
  - With O(until_complete=true) it keeps heartbeating every O(interval) seconds until the action is no longer active, O(stop_file)
    appears or O(max_duration) is reached. Run it with C(async) and C(poll=0) next to a long drain. Each beat can also extend
    the visibility timeout of the SQS message that carried the event, so the message is not redelivered while the work goes on,
    and refresh an EC2 tag on the instance (O(marker_tag)) that tells the reconciler a handler is working on it.
  - A beat that still fails with a transient error after the retries is reported as a warning and the loop goes on; any other
    error ends the loop and the module fails (RV(stopped_because=error)), so a handler can report a heartbeat that stopped.
  - It reads the hook (C(DescribeLifecycleHooks)) for its C(HeartbeatTimeout) and C(GlobalTimeout). It warns when O(interval)
    is 80% or more of C(HeartbeatTimeout), and, with O(notification_time), returns how much of the C(GlobalTimeout) is left
    (RV(seconds_left)) and warns when O(planned_seconds) do not fit in it. No heartbeat keeps an action alive past its
    C(GlobalTimeout) (at most 48 hours, or 100 times C(HeartbeatTimeout) if that is smaller).
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
      - EC2 instance id of the instance in C(Pending:Wait), C(Terminating:Wait) or C(Warmed:Pending:Wait).
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
  expect_active:
    description:
      - Fail, naming the instance, when AWS reports that no lifecycle action is active. Set it on the first delivery of an
        event, where an inactive action means it expired or someone else completed it.
      - With V(false) that answer is a no-op (RV(active=false)), which is right for a redelivered event.
      - Not valid with O(until_complete=true), whose loop ends normally when the action is completed.
    type: bool
    default: false
  interval:
    description:
      - Seconds between heartbeats when O(until_complete=true).
      - Defaults to a third of the hook's C(HeartbeatTimeout), or 60 when the hook cannot be read.
    type: int
  until_complete:
    description:
      - With O(action=heartbeat), keep heartbeating every O(interval) seconds until AWS reports that the action is no longer
        active, O(stop_file) exists, or O(max_duration) seconds have passed.
    type: bool
    default: false
  max_duration:
    description:
      - Upper bound in seconds for O(until_complete=true). Set the task's C(async) a little above this.
      - The default is 43200 (12 hours) when O(sqs_queue_url) is given, because SQS cannot keep a received message hidden for
        longer than 12 hours in total (C(ChangeMessageVisibility)), and 172800 (48 hours, the longest C(GlobalTimeout)) otherwise.
      - With O(sqs_queue_url), a value above 43200 is refused.
    type: int
  notification_time:
    description:
      - When AWS sent the lifecycle notification (its C(Time) field, ISO 8601). With it the module returns RV(seconds_left),
        the part of the hook's C(GlobalTimeout) that is left, measured with this machine's clock.
    type: str
  planned_seconds:
    description:
      - How many more seconds the caller plans to work on the instance (for example drain timeout plus cancel timeout).
        With O(notification_time), the module warns, naming the instance, when they do not fit in RV(seconds_left).
    type: int
  reserve_seconds:
    description:
      - Seconds to keep in reserve after the work, for the completion itself. RV(budget_seconds) is RV(seconds_left) minus this.
    type: int
    default: 60
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
  marker_tag:
    description:
      - With O(until_complete=true), an EC2 tag key set on O(instance_id) at every accepted heartbeat, with the time of the
        heartbeat (UTC, ISO 8601) as its value, and removed when the loop ends. M(octopus.ha.autoscaling_lifecycle_info)
        reads it so that the reconciler leaves alone an instance a handler is working on.
      - A denied or failed tag call only produces a warning.
    type: str
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
      - Sends no heartbeat, no completion, no tag and no SQS change. It reads the hook and the instance's lifecycle state to
        predict whether an action is active.
  diff_mode:
    support: none
notes:
  - AWS permissions used are C(autoscaling:RecordLifecycleActionHeartbeat), C(autoscaling:CompleteLifecycleAction),
    C(autoscaling:DescribeLifecycleHooks), C(autoscaling:DescribeAutoScalingInstances) (check mode only),
    C(sqs:ChangeMessageVisibility) (only with O(sqs_queue_url)) and C(ec2:CreateTags)/C(ec2:DeleteTags) (only with
    O(marker_tag)). A denied describe or tag call only produces a warning.
seealso:
  - module: community.aws.autoscaling_lifecycle_hook
  - module: community.aws.autoscaling_complete_lifecycle_action
  - module: octopus.ha.autoscaling_lifecycle_info
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
    marker_tag: octopus-ha:lifecycle-handler
  async: 7300
  poll: 0

- name: Check that the action is alive and how much of its GlobalTimeout is left
  octopus.ha.autoscaling_lifecycle_action:
    action: heartbeat
    asg_name: octopus-ha
    hook_name: octopus-drain
    instance_id: i-0abc1234def567890
    expect_active: "{{ ansible_eda.event.first_delivery }}"
    notification_time: "{{ ansible_eda.event.lifecycle.Time }}"
    planned_seconds: 2100
  register: lifecycle_check

- name: Let the instance terminate once the node is gone
  octopus.ha.autoscaling_lifecycle_action:
    action: complete
    result: CONTINUE
    asg_name: octopus-ha
    hook_name: octopus-drain
    instance_id: i-0abc1234def567890
    lifecycle_action_token: 0a1b2c3d-1111-2222-3333-444455556666
    expect_active: true

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
failed_heartbeats:
  description: Number of heartbeats that still failed with a transient error after the retries (the loop went on).
  returned: always
  type: int
  sample: 0
last_error:
  description: The last error a heartbeat got, if any.
  returned: when a heartbeat failed
  type: str
  sample: "An error occurred (Throttling) when calling the RecordLifecycleActionHeartbeat operation: Rate exceeded"
visibility_extensions:
  description: Number of times the SQS message visibility timeout was extended.
  returned: always
  type: int
  sample: 3
stopped_because:
  description:
    - Why the module returned. V(once) (single call), V(inactive) (AWS reports no active action),
      V(stop_file), V(max_duration), V(check_mode) or V(error) (a heartbeat failed with an error that is not transient).
  returned: always
  type: str
  sample: inactive
heartbeat_timeout:
  description: The hook's C(HeartbeatTimeout) in seconds, when it could be read.
  returned: always
  type: int
  sample: 3600
global_timeout:
  description: The hook's C(GlobalTimeout) in seconds, when it could be read.
  returned: always
  type: int
  sample: 172800
seconds_left:
  description: Seconds left of the C(GlobalTimeout), from O(notification_time); null when either is unknown.
  returned: always
  type: int
  sample: 171000
budget_seconds:
  description: RV(seconds_left) minus O(reserve_seconds), at least 0; null when unknown.
  returned: always
  type: int
  sample: 170940
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

import datetime
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
# ResourceContention (HTTP 500) is the only error botocore's service model lists for these calls.
EXTRA_RETRY_CODES = ['ResourceContention', 'ThrottlingException', 'SlowDown', 'InternalServerError', 'ServiceUnavailableException',
                     'RequestTimeout']
TRANSIENT_CODES = frozenset(THROTTLING_CODES + tuple(EXTRA_RETRY_CODES) + ('InternalFailure', 'InternalError', 'ServiceUnavailable',
                                                                           'Unavailable'))
WARN_RATIO = 0.8
MAX_VISIBILITY = 43200
MAX_GLOBAL_TIMEOUT = 172800
POLL_SLICE = 1.0

RETRY = AWSRetry.jittered_backoff(retries=8, delay=2, max_delay=30, catch_extra_error_codes=EXTRA_RETRY_CODES)

# Indirections for tests (no real sleeping).
_sleep = time.sleep
_clock = time.monotonic
_wallclock = time.time


def error_code(exc):
    return exc.response.get('Error', {}).get('Code', '') if hasattr(exc, 'response') else ''


def is_not_active(exc):
    """True for the ValidationError AWS returns once a lifecycle action is completed, abandoned or expired."""
    if error_code(exc) != 'ValidationError':
        return False
    return NOT_ACTIVE_MESSAGE in exc.response.get('Error', {}).get('Message', '').lower()


def is_transient(exc):
    """Errors a later heartbeat can get past: throttling, contention, 5xx, connection problems."""
    if isinstance(exc, botocore.exceptions.ClientError):
        return error_code(exc) in TRANSIENT_CODES
    return isinstance(exc, (botocore.exceptions.EndpointConnectionError, botocore.exceptions.ConnectionClosedError,
                            botocore.exceptions.ReadTimeoutError, botocore.exceptions.ConnectTimeoutError))


def parse_time(text):
    """ISO 8601 (as AWS writes it: 2026-11-26T09:00:00.123Z) -> epoch seconds, or None."""
    if not text:
        return None
    value = str(text).strip().replace('Z', '+00:00')
    try:
        stamp = datetime.datetime.fromisoformat(value)
    except ValueError:
        return None
    if stamp.tzinfo is None:
        stamp = stamp.replace(tzinfo=datetime.timezone.utc)
    return stamp.timestamp()


def utc_now_text():
    return datetime.datetime.fromtimestamp(_wallclock(), datetime.timezone.utc).strftime('%Y-%m-%dT%H:%M:%SZ')


class LifecycleAction:
    """One lifecycle action and the calls that act on it."""

    def __init__(self, module, autoscaling, sqs=None, ec2=None):
        self.module = module
        self.autoscaling = autoscaling
        self.sqs = sqs
        self.ec2 = ec2
        p = module.params
        self.ids = dict(AutoScalingGroupName=p['asg_name'], LifecycleHookName=p['hook_name'])
        if p['instance_id']:
            self.ids['InstanceId'] = p['instance_id']
        if p['lifecycle_action_token']:
            self.ids['LifecycleActionToken'] = p['lifecycle_action_token']
        self.heartbeats = 0
        self.failed_heartbeats = 0
        self.last_error = None
        self.visibility_extensions = 0
        self.reason = None
        self.sqs_failed = False
        self.marker_failed = False
        self.marked = False

    def name(self):
        return self.ids.get('InstanceId') or 'token %s' % self.ids.get('LifecycleActionToken')

    def hook(self):
        """The hook's settings (dict), or None (with a warning) when it cannot be read."""
        try:
            hooks = self.autoscaling.describe_lifecycle_hooks(
                AutoScalingGroupName=self.ids['AutoScalingGroupName'],
                LifecycleHookNames=[self.ids['LifecycleHookName']], aws_retry=True)['LifecycleHooks']
        except (botocore.exceptions.ClientError, botocore.exceptions.BotoCoreError) as e:
            self.module.warn('Could not read lifecycle hook %s to check its timeouts: %s' % (self.ids['LifecycleHookName'], e))
            return None
        if not hooks:
            self.module.warn('Lifecycle hook %s was not found on Auto Scaling group %s.' % (
                self.ids['LifecycleHookName'], self.ids['AutoScalingGroupName']))
            return None
        return hooks[0]

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

    def _call(self, method, **kwargs):
        """True if AWS accepted the call, False if the action is no longer active (self.reason says why)."""
        try:
            getattr(self.autoscaling, method)(aws_retry=True, **dict(self.ids, **kwargs))
        except botocore.exceptions.ClientError as e:
            if not is_not_active(e):
                raise
            self.reason = e.response['Error']['Message']
            return False
        return True

    def complete(self, result):
        return self._call('complete_lifecycle_action', LifecycleActionResult=result)

    def heartbeat(self):
        accepted = self._call('record_lifecycle_action_heartbeat')
        if accepted:
            self.heartbeats += 1
        return accepted

    def extend_visibility(self, queue_url, receipt_handle, timeout):
        if self.sqs is None or self.sqs_failed:
            return
        try:
            self.sqs.change_message_visibility(QueueUrl=queue_url, ReceiptHandle=receipt_handle, VisibilityTimeout=timeout, aws_retry=True)
        except (botocore.exceptions.ClientError, botocore.exceptions.BotoCoreError) as e:
            # The message may have been deleted, received again, or reached the 12-hour limit: keep heartbeating anyway.
            self.sqs_failed = True
            self.module.warn('Could not extend the visibility of the SQS message, stopped extending it: %s' % e)
            return
        self.visibility_extensions += 1

    def _tags(self, method, tags):
        if self.ec2 is None or self.marker_failed or 'InstanceId' not in self.ids:
            return
        try:
            getattr(self.ec2, method)(Resources=[self.ids['InstanceId']], Tags=tags, aws_retry=True)
        except (botocore.exceptions.ClientError, botocore.exceptions.BotoCoreError) as e:
            self.marker_failed = True
            self.module.warn('Could not %s the marker tag on %s (the reconciler then relies on its age filter): %s'
                             % ('set' if method == 'create_tags' else 'remove', self.ids['InstanceId'], e))
            return
        self.marked = method == 'create_tags'

    def mark(self, key):
        self._tags('create_tags', [dict(Key=key, Value=utc_now_text())])

    def unmark(self, key):
        if self.marked:
            self._tags('delete_tags', [dict(Key=key)])


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


def beat(module, action):
    """One heartbeat of the loop. Returns 'inactive', 'error' or None (go on)."""
    try:
        if not action.heartbeat():
            return 'inactive'
    except (botocore.exceptions.ClientError, botocore.exceptions.BotoCoreError) as e:
        action.last_error = str(e)
        if not is_transient(e):
            return 'error'
        action.failed_heartbeats += 1
        module.warn('Heartbeat for %s still failed after the retries, trying again at the next interval: %s' % (action.name(), e))
        return None
    action.last_error = None
    return None


def heartbeat_loop(module, action, interval):
    """Heartbeat until the action is inactive, stop_file exists, max_duration passes or an error that is not transient."""
    p = module.params
    deadline = _clock() + p['max_duration']
    visibility = p['visibility_timeout'] if p['visibility_timeout'] is not None else min(3 * interval, MAX_VISIBILITY)
    while True:
        if stop_requested(p['stop_file']):
            return 'stop_file'
        stop = beat(module, action)
        if stop:
            return stop
        if action.last_error is None:
            if p['sqs_queue_url']:
                action.extend_visibility(p['sqs_queue_url'], p['sqs_receipt_handle'], visibility)
            if p['marker_tag']:
                action.mark(p['marker_tag'])
        stop = wait_interval(interval, deadline, p['stop_file'])
        if stop:
            return stop


def validate(module):
    p = module.params
    if p['action'] == 'complete':
        for name in ('until_complete', 'sqs_queue_url', 'stop_file', 'marker_tag'):
            if p[name]:
                module.fail_json(msg='%s is only valid with action=heartbeat.' % name)
    if p['until_complete'] and p['expect_active']:
        module.fail_json(msg='expect_active is for single calls; a heartbeat loop ends normally when the action is completed.')
    for name in ('interval', 'max_duration'):
        if p[name] is not None and p[name] < 1:
            module.fail_json(msg='%s must be at least 1 second, got %d.' % (name, p[name]))
    if p['visibility_timeout'] is not None and not 0 <= p['visibility_timeout'] <= MAX_VISIBILITY:
        module.fail_json(msg='visibility_timeout must be between 0 and %d seconds.' % MAX_VISIBILITY)
    if p['sqs_queue_url'] and p['max_duration'] is not None and p['max_duration'] > MAX_VISIBILITY:
        module.fail_json(msg='max_duration is %d s, but SQS cannot keep a received message hidden for more than %d s (12 hours) '
                             'in total: set max_duration to at most %d when sqs_queue_url is given.'
                         % (p['max_duration'], MAX_VISIBILITY, MAX_VISIBILITY))
    if p['notification_time'] and parse_time(p['notification_time']) is None:
        module.fail_json(msg='notification_time %r is not an ISO 8601 time such as 2026-11-26T09:00:00Z.' % p['notification_time'])
    if p['max_duration'] is None:
        p['max_duration'] = MAX_VISIBILITY if p['sqs_queue_url'] else MAX_GLOBAL_TIMEOUT


def choose_interval(module, hook_timeout):
    p = module.params
    interval = p['interval'] or (max(1, hook_timeout // 3) if hook_timeout else 60)
    if hook_timeout and interval >= WARN_RATIO * hook_timeout:
        module.warn('The heartbeat interval (%d s) is %d%% or more of the hook heartbeat timeout (%d s): '
                    'the lifecycle action may expire between heartbeats. Use an interval of at most %d s.'
                    % (interval, int(WARN_RATIO * 100), hook_timeout, max(1, hook_timeout // 2)))
    return interval


def timing(module, action, hook):
    """HeartbeatTimeout, GlobalTimeout and what is left of the GlobalTimeout, with warnings."""
    p = module.params
    hook = hook or {}
    heartbeat_timeout = hook.get('HeartbeatTimeout')
    global_timeout = hook.get('GlobalTimeout')
    if heartbeat_timeout and not global_timeout:
        global_timeout = min(MAX_GLOBAL_TIMEOUT, 100 * heartbeat_timeout)
    out = dict(heartbeat_timeout=heartbeat_timeout, global_timeout=global_timeout, seconds_left=None, budget_seconds=None)
    sent = parse_time(p['notification_time'])
    if global_timeout and sent is not None:
        left = int(global_timeout - max(0.0, _wallclock() - sent))
        out.update(seconds_left=left, budget_seconds=max(0, left - p['reserve_seconds']))
        planned = p['planned_seconds']
        if planned and planned + p['reserve_seconds'] > left:
            module.warn('The lifecycle action of %s cannot stay open for the planned %d s: its GlobalTimeout (%d s) ends in %d s, '
                        'whatever the heartbeats. AWS then applies the hook\'s DefaultResult (%s). Shorten the drain or '
                        'raise the hook\'s HeartbeatTimeout (GlobalTimeout is the smaller of 48 h and 100 x HeartbeatTimeout).'
                        % (action.name(), planned, global_timeout, max(0, left), hook.get('DefaultResult', 'unknown')))
    return out


def inactive_failure(module, action, out):
    msg = ('The lifecycle action of %s (hook %s, group %s) is no longer active: AWS answered "%s". On a first delivery this means '
           'it expired (HeartbeatTimeout without a heartbeat, or its GlobalTimeout) or someone else completed it; AWS has applied '
           'or will apply the hook\'s DefaultResult to the instance.'
           % (action.name(), action.ids['LifecycleHookName'], action.ids['AutoScalingGroupName'], action.reason or out.get('reason')))
    module.fail_json(msg=msg, **out)


def run_loop(module, action, out, interval):
    p = module.params
    try:
        out['stopped_because'] = heartbeat_loop(module, action, interval)
    finally:
        if p['marker_tag']:
            action.unmark(p['marker_tag'])
    out.update(changed=action.heartbeats > 0, active=out['stopped_because'] != 'inactive')


def run(module, action):
    p = module.params
    out = dict(changed=False, active=True, heartbeats=0, failed_heartbeats=0, visibility_extensions=0,
               lifecycle_action=dict(action=p['action'], result=p['result'], asg_name=p['asg_name'], hook_name=p['hook_name'],
                                     instance_id=p['instance_id'], lifecycle_action_token=p['lifecycle_action_token']))
    needs_hook = p['action'] == 'heartbeat' or module.check_mode or p['notification_time']
    out.update(timing(module, action, action.hook() if needs_hook else None))
    interval = None
    if p['action'] == 'heartbeat' and p['until_complete']:
        interval = out['interval'] = choose_interval(module, out['heartbeat_timeout'])

    if module.check_mode:
        active, reason = action.predict_active()
        out.update(changed=active, active=active, reason=reason, stopped_because='check_mode')
    elif p['action'] == 'complete':
        done = action.complete(p['result'])
        out.update(changed=done, active=done, stopped_because='once' if done else 'inactive')
    elif p['until_complete']:
        run_loop(module, action, out, interval or 60)
    else:
        out['stopped_because'] = 'once' if action.heartbeat() else 'inactive'
        out.update(changed=action.heartbeats > 0, active=out['stopped_because'] == 'once')
        if out['active'] and p['sqs_queue_url']:
            action.extend_visibility(p['sqs_queue_url'], p['sqs_receipt_handle'],
                                     p['visibility_timeout'] if p['visibility_timeout'] is not None else min(3 * (p['interval'] or 60), MAX_VISIBILITY))
    out.update(heartbeats=action.heartbeats, failed_heartbeats=action.failed_heartbeats, visibility_extensions=action.visibility_extensions)
    if action.reason:
        out['reason'] = action.reason
    if action.last_error:
        out['last_error'] = action.last_error
    return out


def main():
    argument_spec = dict(
        action=dict(type='str', required=True, choices=['heartbeat', 'complete']),
        asg_name=dict(type='str', required=True, aliases=['autoscaling_group_name']),
        hook_name=dict(type='str', required=True, aliases=['lifecycle_hook_name']),
        instance_id=dict(type='str'),
        lifecycle_action_token=dict(type='str', no_log=False),
        result=dict(type='str', choices=['CONTINUE', 'ABANDON']),
        expect_active=dict(type='bool', default=False),
        interval=dict(type='int'),
        until_complete=dict(type='bool', default=False),
        max_duration=dict(type='int'),
        notification_time=dict(type='str'),
        planned_seconds=dict(type='int'),
        reserve_seconds=dict(type='int', default=60),
        stop_file=dict(type='path'),
        sqs_queue_url=dict(type='str'),
        sqs_receipt_handle=dict(type='str', no_log=False),
        visibility_timeout=dict(type='int'),
        marker_tag=dict(type='str', no_log=False),
    )
    module = AnsibleAWSModule(
        argument_spec=argument_spec,
        supports_check_mode=True,
        required_if=[('action', 'complete', ['result'])],
        required_one_of=[('instance_id', 'lifecycle_action_token')],
        required_together=[('sqs_queue_url', 'sqs_receipt_handle')],
    )
    validate(module)
    p = module.params
    autoscaling = module.client('autoscaling', retry_decorator=RETRY)
    sqs = module.client('sqs', retry_decorator=RETRY) if p['sqs_queue_url'] else None
    ec2 = module.client('ec2', retry_decorator=RETRY) if p['marker_tag'] and p['until_complete'] else None
    action = LifecycleAction(module, autoscaling, sqs, ec2)
    what = 'complete' if p['action'] == 'complete' else 'record a heartbeat for'
    try:
        out = run(module, action)
    except is_boto3_error_code('ValidationError') as e:
        module.fail_json_aws(e, msg='Could not %s the lifecycle action of %s (check asg_name, hook_name, instance_id and token)'
                             % (what, action.name()), heartbeats=action.heartbeats, stopped_because='error')
    except (botocore.exceptions.ClientError, botocore.exceptions.BotoCoreError) as e:  # pylint: disable=duplicate-except
        module.fail_json_aws(e, msg='Could not %s the lifecycle action of %s' % (what, action.name()), heartbeats=action.heartbeats,
                             stopped_because='error')
    if out['stopped_because'] == 'error':
        module.fail_json(msg='The heartbeat loop for %s stopped after %d heartbeat(s) on an error that retrying cannot fix: %s'
                         % (action.name(), action.heartbeats, action.last_error), **out)
    if p['expect_active'] and not out['active']:
        inactive_failure(module, action, out)
    module.exit_json(**out)


if __name__ == '__main__':
    main()
