# -*- coding: utf-8 -*-

# Copyright: Contributors to the octopus.ha collection
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

"""In-process moto server for the EDA tests, made to behave like AWS where moto does not.

moto 5.2.5 stores lifecycle hooks but never sends lifecycle messages, never puts instances in
Terminating:Wait / Pending:Wait, answers CompleteLifecycleAction / RecordLifecycleActionHeartbeat
with HTTP 500, reports a fixed GlobalTimeout of 172800 s and an empty DescribeScalingActivities.
This harness (every difference that is left is listed in docs/event-driven.md, "The harness"):

- runs ``moto.server.ThreadedMotoServer`` on 127.0.0.1 in the test process, so the recorders below
  are directly inspectable, and puts the groups' instances in a 127.0.0.0/24 subnet so that a
  handler that connects to an instance's private address connects to loopback;
- keeps a HARNESS CLOCK that only the test moves (``clock.advance``). A lifecycle action expires,
  like in AWS, when its HeartbeatTimeout passes without a heartbeat (the clock starts at the
  notification) or when its GlobalTimeout (min(48 h, 100 x HeartbeatTimeout)) passes since the
  notification. Because only the test moves the clock, a slow machine never expires an action;
- answers complete/heartbeat like AWS (a ``ValidationError`` "No active Lifecycle Action found"
  once the action is completed or expired), applies the hook's DefaultResult on expiry, and
  records every call;
- can inject ``ResourceContention`` (HTTP 500, the only error botocore models for these calls) or
  ``Throttling`` (HTTP 400) into the lifecycle calls, and any error code into SQS receives;
- records the SQS receives, deletes and visibility changes;
- sends lifecycle notifications in the AWS format, with the real Origin and Destination.
"""

from __future__ import absolute_import, division, print_function
__metaclass__ = type

import datetime
import json
import socket
import threading
import time
import urllib.request
import uuid

import boto3
from moto.autoscaling.exceptions import ResourceContentionError, ValidationError
from moto.autoscaling.models import autoscaling_backends
from moto.autoscaling.responses import AutoScalingResponse
from moto.core.exceptions import ServiceException
from moto.core.responses import ActionResult, EmptyResult
from moto.server import ThreadedMotoServer
from moto.sqs.models import SQSBackend, sqs_backends
from moto.sqs.responses import SQSResponse

ACCOUNT = '123456789012'
REGION = 'us-east-1'
SUBNET_CIDR = '127.0.0.0/24'
TRANSITIONS = {'terminating': 'autoscaling:EC2_INSTANCE_TERMINATING', 'launching': 'autoscaling:EC2_INSTANCE_LAUNCHING'}
# The Origin/Destination AWS sends for a plain scale-out / scale-in (no warm pool).
DEFAULT_SHAPES = {'terminating': ('AutoScalingGroup', 'EC2'), 'launching': ('EC2', 'AutoScalingGroup')}
WAIT_STATES = {'terminating': 'Terminating:Wait', 'launching': 'Pending:Wait'}
WARM_WAIT_STATE = 'Warmed:Pending:Wait'
MAX_GLOBAL_TIMEOUT = 172800


def done_state(transition, destination, result):
    """The lifecycle state after the action ended with result (CONTINUE/ABANDON, or the hook's DefaultResult)."""
    if transition == 'terminating':
        return 'Warmed:Pending:Proceed' if destination == 'WarmPool' else 'Terminating:Proceed'
    if result == 'ABANDON':
        return 'Terminating'
    return 'Warmed:Pending:Proceed' if destination == 'WarmPool' else 'InService'


class HarnessClock:
    """AWS's clock, as far as lifecycle actions are concerned. Frozen; only the test advances it."""

    def __init__(self):
        self.lock = threading.Lock()
        self.reset()

    def reset(self):
        with self.lock:
            self._now = time.time()

    def now(self):
        with self.lock:
            return self._now

    def advance(self, seconds):
        if seconds < 0:
            raise ValueError('the harness clock only moves forward')
        with self.lock:
            self._now += seconds
        RECORDER.expire_due()
        return self.now()


CLOCK = HarnessClock()


class Throttling(ServiceException):
    code = 'Throttling'
    message = 'Rate exceeded'


class InjectedError(ServiceException):
    """Any error code, for SQS fault injection (AccessDenied, InvalidClientTokenId, ...)."""


def iso(epoch):
    return datetime.datetime.fromtimestamp(epoch, datetime.timezone.utc).strftime('%Y-%m-%dT%H:%M:%S.%fZ')[:-4] + 'Z'


class LifecycleRecorder:
    """Lifecycle actions started by tests, every complete/heartbeat call moto received, injected faults."""

    def __init__(self):
        self.lock = threading.RLock()
        self.reset()

    def reset(self):
        with self.lock:
            self.actions = {}
            self.calls = []
            self.faults = []
            self.activities = []

    # --- scenario side -------------------------------------------------------------------------
    def start(self, asg, hook, instance_id, token, transition, heartbeat_timeout=None, origin=None, destination=None,
              default_result=None, age=0):
        """Start a lifecycle action whose notification went out `age` harness seconds ago.

        With an age, the action was kept alive by heartbeats until now (its HeartbeatTimeout counts from now),
        but its GlobalTimeout counts from the notification: that is how a long-running action looks.
        heartbeat_timeout / default_result: None reads them from the hook in moto (as AWS would apply them)."""
        if heartbeat_timeout is None or default_result is None:
            hook_timeout, hook_result = hook_settings(asg, hook)
            heartbeat_timeout = heartbeat_timeout or hook_timeout
            default_result = default_result or hook_result
        origin = origin or DEFAULT_SHAPES[transition][0]
        destination = destination or DEFAULT_SHAPES[transition][1]
        started = CLOCK.now() - age
        with self.lock:
            self.actions[token] = dict(
                asg=asg, hook=hook, instance_id=instance_id, token=token, transition=transition, origin=origin,
                destination=destination, active=True, expired=None, result=None, default_result=default_result,
                heartbeat_timeout=heartbeat_timeout, global_timeout=min(MAX_GLOBAL_TIMEOUT, 100 * heartbeat_timeout),
                started=started, deadline=CLOCK.now() + heartbeat_timeout, heartbeats=0)
            self.activities.append(dict(asg=asg, instance_id=instance_id, start=started, transition=transition))
            return self.actions[token]

    def inject(self, kind, code='ResourceContention', count=1):
        """The next `count` calls of kind ('complete', 'heartbeat', 'describe_hooks', 'sqs_receive') fail with code."""
        with self.lock:
            self.faults.append(dict(kind=kind, code=code, left=count))

    def _fault(self, kind):
        with self.lock:
            for fault in self.faults:
                if fault['kind'] == kind and fault['left'] > 0:
                    fault['left'] -= 1
                    self.calls.append(dict(kind=kind, injected=fault['code'], accepted=False, time=CLOCK.now()))
                    return fault['code']
        return None

    def raise_fault(self, kind):
        code = self._fault(kind)
        if code == 'ResourceContention':
            raise ResourceContentionError()
        if code == 'Throttling':
            raise Throttling()
        if code:
            raise InjectedError(code, 'injected by the test harness')

    # --- AWS side ------------------------------------------------------------------------------
    def expire_due(self):
        now = CLOCK.now()
        with self.lock:
            for action in self.actions.values():
                if not action['active']:
                    continue
                if now > action['started'] + action['global_timeout']:
                    reason = 'GlobalTimeout'
                elif now > action['deadline']:
                    reason = 'HeartbeatTimeout'
                else:
                    continue
                action.update(active=False, expired=reason, result=action['default_result'])
                set_lifecycle_state(action['asg'], action['instance_id'],
                                    done_state(action['transition'], action['destination'], action['default_result']))

    def expired(self, instance_id):
        self.expire_due()
        with self.lock:
            return [a['expired'] for a in self.actions.values() if a['instance_id'] == instance_id and a['expired']]

    def action(self, token):
        self.expire_due()
        with self.lock:
            return dict(self.actions[token])

    def _find(self, params):
        token = params.get('LifecycleActionToken')
        for key, action in self.actions.items():
            if token and key != token:
                continue
            if params.get('InstanceId') and action['instance_id'] != params['InstanceId']:
                continue
            if action['asg'] == params.get('AutoScalingGroupName') and action['hook'] == params.get('LifecycleHookName') and action['active']:
                return action
        return None

    def handle(self, kind, params):
        self.raise_fault(kind)
        self.expire_due()
        with self.lock:
            action = self._find(params)
            self.calls.append(dict(kind=kind, accepted=action is not None, time=CLOCK.now(), wall=time.time(), **params))
            if action is None:
                raise ValidationError('No active Lifecycle Action found with instance ID %s' % params.get('InstanceId'))
            if kind == 'complete':
                action.update(active=False, result=params.get('LifecycleActionResult'))
            else:
                action['heartbeats'] += 1
                action['deadline'] = CLOCK.now() + action['heartbeat_timeout']
            return dict(action)

    # --- assertions ----------------------------------------------------------------------------
    def accepted(self, kind, instance_id=None):
        with self.lock:
            return [c for c in self.calls if c['kind'] == kind and c['accepted'] and (instance_id is None or c.get('InstanceId') == instance_id)]

    def all_calls(self, kind, instance_id=None):
        with self.lock:
            return [c for c in self.calls if c['kind'] == kind and (instance_id is None or c.get('InstanceId') == instance_id)]


class SqsRecorder:
    """What the SQS backend did: receives (message id, receipt handle, receive count), deletes, visibility changes."""

    def __init__(self):
        self.lock = threading.Lock()
        self.reset()

    def reset(self):
        with self.lock:
            self.receives = []
            self.deletes = []
            self.visibility = []
            self.forced_visible = set()

    def received(self, message_id=None):
        with self.lock:
            return [r for r in self.receives if message_id is None or r['message_id'] == message_id]

    def deleted(self):
        with self.lock:
            return list(self.deletes)

    def visibility_changes(self):
        with self.lock:
            return list(self.visibility)


RECORDER = LifecycleRecorder()
SQS = SqsRecorder()


def _params(response):
    names = ('AutoScalingGroupName', 'LifecycleHookName', 'InstanceId', 'LifecycleActionToken', 'LifecycleActionResult')
    return dict((n, response._get_param(n)) for n in names if response._get_param(n))  # pylint: disable=protected-access


def _complete_lifecycle_action(self):
    params = _params(self)
    action = RECORDER.handle('complete', params)
    set_lifecycle_state(action['asg'], action['instance_id'], done_state(action['transition'], action['destination'], action['result']))
    return EmptyResult()


def _record_lifecycle_action_heartbeat(self):
    RECORDER.handle('heartbeat', _params(self))
    return EmptyResult()


_ORIGINAL = {}


def _describe_lifecycle_hooks(self):
    RECORDER.raise_fault('describe_hooks')
    result = _ORIGINAL['describe_lifecycle_hooks'](self)
    for hook in result.result['LifecycleHooks']:
        # AWS reports the GlobalTimeout that applies: min(48 h, 100 x HeartbeatTimeout).
        hook.global_timeout = min(MAX_GLOBAL_TIMEOUT, 100 * hook.heartbeat_timeout)
    return result


def _describe_scaling_activities(self):
    group = self._get_param('AutoScalingGroupName')  # pylint: disable=protected-access
    with RECORDER.lock:
        found = [a for a in RECORDER.activities if not group or a['asg'] == group]
    activities = [{
        'ActivityId': str(uuid.uuid5(uuid.NAMESPACE_URL, '%s/%s/%s' % (a['asg'], a['instance_id'], a['start']))),
        'AutoScalingGroupName': a['asg'],
        'Description': '%s EC2 instance: %s' % ('Terminating' if a['transition'] == 'terminating' else 'Launching a new', a['instance_id']),
        'Cause': 'At %s an instance was taken out of service in response to a user request.' % iso(a['start']),
        'StartTime': datetime.datetime.fromtimestamp(a['start'], datetime.timezone.utc),
        'StatusCode': 'WaitingForInstanceWarmup' if a['transition'] == 'launching' else 'InProgress',
        'Progress': 50,
    } for a in reversed(found)]
    return ActionResult({'Activities': activities})


def _sqs_receive(self, queue_name, count, wait_seconds_timeout, visibility_timeout, message_attribute_names=None):
    messages = _ORIGINAL['sqs_receive'](self, queue_name, count, wait_seconds_timeout, visibility_timeout, message_attribute_names)
    with SQS.lock:
        for message in messages:
            SQS.forced_visible.discard(message.id)
            SQS.receives.append(dict(queue=queue_name, message_id=message.id, receipt_handle=message.receipt_handle,
                                     count=message.approximate_receive_count, visibility=visibility_timeout, wall=time.time()))
    return messages


def _sqs_receive_response(self):
    RECORDER.raise_fault('sqs_receive')
    return _ORIGINAL['sqs_receive_response'](self)


def _sqs_delete(self, queue_name, receipt_handle):
    result = _ORIGINAL['sqs_delete'](self, queue_name, receipt_handle)
    with SQS.lock:
        SQS.deletes.append(dict(queue=queue_name, receipt_handle=receipt_handle, wall=time.time()))
    return result


def _sqs_visibility(self, queue_name, receipt_handle, visibility_timeout):
    with SQS.lock:
        forced = [m.id for m in self.get_queue(queue_name)._messages  # pylint: disable=protected-access
                  if m.id in SQS.forced_visible and m.had_receipt_handle(receipt_handle)]
        SQS.visibility.append(dict(queue=queue_name, receipt_handle=receipt_handle, visibility=int(visibility_timeout), wall=time.time(),
                                   applied=not forced))
    if forced:
        # make_visible(): the visibility lapsed and the next receive comes before this extension (see make_visible).
        return None
    return _ORIGINAL['sqs_visibility'](self, queue_name, receipt_handle, visibility_timeout)


def install_patches():
    if _ORIGINAL:
        return
    _ORIGINAL.update(describe_lifecycle_hooks=AutoScalingResponse.describe_lifecycle_hooks,
                     sqs_receive=SQSBackend.receive_message, sqs_receive_response=SQSResponse.receive_message,
                     sqs_delete=SQSBackend.delete_message, sqs_visibility=SQSBackend.change_message_visibility)
    AutoScalingResponse.complete_lifecycle_action = _complete_lifecycle_action
    AutoScalingResponse.record_lifecycle_action_heartbeat = _record_lifecycle_action_heartbeat
    AutoScalingResponse.describe_lifecycle_hooks = _describe_lifecycle_hooks
    AutoScalingResponse.describe_scaling_activities = _describe_scaling_activities
    SQSBackend.receive_message = _sqs_receive
    SQSResponse.receive_message = _sqs_receive_response
    SQSBackend.delete_message = _sqs_delete
    SQSBackend.change_message_visibility = _sqs_visibility


def _group(asg):
    return autoscaling_backends[ACCOUNT][REGION].autoscaling_groups[asg]


def set_lifecycle_state(asg, instance_id, state):
    for instance_state in _group(asg).instance_states:
        if instance_state.instance.id == instance_id:
            instance_state.lifecycle_state = state
            return
    raise KeyError('instance %s is not in %s' % (instance_id, asg))


def hook_settings(asg, hook):
    found = autoscaling_backends[ACCOUNT][REGION].describe_lifecycle_hooks(asg, [hook])
    if not found:
        raise KeyError('no lifecycle hook %s on %s' % (hook, asg))
    return found[0].heartbeat_timeout, found[0].default_result


def free_port():
    with socket.socket() as sock:
        sock.bind(('127.0.0.1', 0))
        return sock.getsockname()[1]


class MotoHarness:
    """A running moto server plus helpers to build the AWS side of a scenario."""

    def __init__(self):
        install_patches()
        self.port = free_port()
        self.url = 'http://127.0.0.1:%d' % self.port
        self.server = ThreadedMotoServer(ip_address='127.0.0.1', port=self.port, verbose=False)
        self.server.start()
        self.recorder = RECORDER
        self.sqs = SQS
        self.clock = CLOCK

    def stop(self):
        self.server.stop()

    @property
    def env(self):
        """Environment for subprocesses (ansible-playbook, ansible-rulebook)."""
        return {'AWS_ACCESS_KEY_ID': 'testing', 'AWS_SECRET_ACCESS_KEY': 'testing', 'AWS_REGION': REGION,
                'AWS_DEFAULT_REGION': REGION, 'AWS_ENDPOINT_URL': self.url}

    def client(self, service):
        return boto3.client(service, region_name=REGION, endpoint_url=self.url, aws_access_key_id='testing', aws_secret_access_key='testing')

    def reset(self):
        urllib.request.urlopen(urllib.request.Request(self.url + '/moto-api/reset', method='POST'), timeout=10).read()
        self.recorder.reset()
        self.sqs.reset()
        self.clock.reset()

    def _subnet(self):
        ec2 = self.client('ec2')
        vpc = ec2.create_vpc(CidrBlock='127.0.0.0/16')['Vpc']['VpcId']
        return ec2.create_subnet(VpcId=vpc, CidrBlock=SUBNET_CIDR, AvailabilityZone=REGION + 'a')['Subnet']['SubnetId']

    def create_group(self, name='octopus-ha', size=2, hook='octopus-drain', heartbeat_timeout=60, launch_hook=None, default_result='ABANDON'):
        """An ASG with `size` instances (127.0.0.x addresses) and a terminate hook (optionally a launch hook). Returns the instance ids."""
        ec2 = self.client('ec2')
        asg = self.client('autoscaling')
        image = ec2.describe_images()['Images'][0]['ImageId']
        asg.create_launch_configuration(LaunchConfigurationName=name + '-lc', ImageId=image, InstanceType='t3.large')
        asg.create_auto_scaling_group(AutoScalingGroupName=name, LaunchConfigurationName=name + '-lc', MinSize=0, MaxSize=size + 2,
                                      DesiredCapacity=size, VPCZoneIdentifier=self._subnet())
        asg.put_lifecycle_hook(AutoScalingGroupName=name, LifecycleHookName=hook, LifecycleTransition=TRANSITIONS['terminating'],
                               HeartbeatTimeout=heartbeat_timeout, DefaultResult=default_result)
        if launch_hook:
            asg.put_lifecycle_hook(AutoScalingGroupName=name, LifecycleHookName=launch_hook, LifecycleTransition=TRANSITIONS['launching'],
                                   HeartbeatTimeout=heartbeat_timeout, DefaultResult=default_result)
        groups = asg.describe_auto_scaling_groups(AutoScalingGroupNames=[name])['AutoScalingGroups']
        return sorted(i['InstanceId'] for i in groups[0]['Instances'])

    def create_queue(self, name='octopus-lifecycle', visibility_timeout=30):
        return self.client('sqs').create_queue(QueueName=name, Attributes={'VisibilityTimeout': str(visibility_timeout)})['QueueUrl']

    def instance_address(self, instance_id):
        reservations = self.client('ec2').describe_instances(InstanceIds=[instance_id])['Reservations']
        return reservations[0]['Instances'][0]['PrivateIpAddress']

    def lifecycle_body(self, instance_id, transition='terminating', asg='octopus-ha', hook='octopus-drain', token=None, origin=None,
                       destination=None, sent_at=None):
        default_origin, default_destination = DEFAULT_SHAPES[transition]
        return {
            'Origin': origin or default_origin, 'Destination': destination or default_destination, 'Service': 'AWS Auto Scaling',
            'AccountId': ACCOUNT, 'Time': iso(CLOCK.now() if sent_at is None else sent_at), 'RequestId': str(uuid.uuid4()),
            'LifecycleTransition': TRANSITIONS[transition], 'LifecycleActionToken': token or str(uuid.uuid4()),
            'EC2InstanceId': instance_id, 'LifecycleHookName': hook, 'AutoScalingGroupName': asg,
        }

    def start_lifecycle_action(self, queue_url, instance_id, transition='terminating', asg='octopus-ha', hook='octopus-drain', copies=1,
                               origin=None, destination=None, age=0):
        """What AWS does when the ASG picks the instance: Wait state, then the notification (maybe more than once).

        queue_url=None starts the action without any message (a lost event, for the reconciler).
        age: the notification went out this many harness seconds ago (GlobalTimeout / age-filter cases)."""
        body = self.lifecycle_body(instance_id, transition, asg, hook, origin=origin, destination=destination, sent_at=CLOCK.now() - age)
        self.recorder.start(asg, hook, instance_id, body['LifecycleActionToken'], transition, origin=body['Origin'],
                            destination=body['Destination'], age=age)
        warm = (transition == 'launching' and body['Destination'] == 'WarmPool') or (transition == 'terminating' and body['Destination'] == 'WarmPool')
        set_lifecycle_state(asg, instance_id, WARM_WAIT_STATE if warm else WAIT_STATES[transition])
        for dummy in range(copies if queue_url else 0):
            self.send(queue_url, body)
        return body

    def send(self, queue_url, body):
        return self.client('sqs').send_message(QueueUrl=queue_url, MessageBody=body if isinstance(body, str) else json.dumps(body))['MessageId']

    def make_visible(self, queue_url, message_id):
        """Let an in-flight message be received again, as SQS does when its visibility timeout lapsed.

        Until the next receive returns it, visibility changes of the message are recorded but not applied,
        so a handler's heartbeat cannot hide it again first: the re-receipt happens whatever the timing."""
        queue = sqs_backends[ACCOUNT][REGION].get_queue(queue_url.rstrip('/').rsplit('/', 1)[-1])
        for message in queue._messages:  # pylint: disable=protected-access
            if message.id == message_id:
                with self.sqs.lock:
                    self.sqs.forced_visible.add(message_id)
                message.change_visibility(0)
                queue.pending_messages.discard(message)
                return
        raise KeyError('message %s is not on the queue' % message_id)

    def message_id_for(self, queue_url, instance_id):
        """The id of the message on the queue that carries instance_id's lifecycle notification."""
        queue = sqs_backends[ACCOUNT][REGION].get_queue(queue_url.rstrip('/').rsplit('/', 1)[-1])
        for message in queue._messages:  # pylint: disable=protected-access
            try:
                if json.loads(message.body).get('EC2InstanceId') == instance_id:
                    return message.id
            except ValueError:
                continue
        raise KeyError('no message for %s on the queue' % instance_id)

    def message_ids(self, queue_url):
        queue = sqs_backends[ACCOUNT][REGION].get_queue(queue_url.rstrip('/').rsplit('/', 1)[-1])
        return [m.id for m in queue._messages]  # pylint: disable=protected-access

    def queue_depth(self, queue_url):
        attrs = self.client('sqs').get_queue_attributes(
            QueueUrl=queue_url, AttributeNames=['ApproximateNumberOfMessages', 'ApproximateNumberOfMessagesNotVisible'])['Attributes']
        return int(attrs['ApproximateNumberOfMessages']) + int(attrs['ApproximateNumberOfMessagesNotVisible'])

    def lifecycle_state(self, instance_id):
        found = self.client('autoscaling').describe_auto_scaling_instances(InstanceIds=[instance_id])['AutoScalingInstances']
        return found[0]['LifecycleState'] if found else None

    def tags(self, instance_id):
        reservations = self.client('ec2').describe_instances(InstanceIds=[instance_id])['Reservations']
        return dict((t['Key'], t['Value']) for t in reservations[0]['Instances'][0].get('Tags', []))
