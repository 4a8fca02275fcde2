# -*- coding: utf-8 -*-

# Copyright: Contributors to the octopus.ha collection
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

"""In-process moto server for the EDA tests, with the lifecycle-action calls moto does not implement.

moto 5.2.5 stores lifecycle hooks but never sends lifecycle messages, never puts instances in
Terminating:Wait / Pending:Wait and answers CompleteLifecycleAction / RecordLifecycleActionHeartbeat
with HTTP 500. This harness:

- runs ``moto.server.ThreadedMotoServer`` on 127.0.0.1 in the test process, so the recorder below
  is directly inspectable;
- patches ``AutoScalingResponse.complete_lifecycle_action`` and
  ``.record_lifecycle_action_heartbeat`` to record each call and to answer like AWS: a
  ``ValidationError`` "No active Lifecycle Action found ..." once the action was completed (or was
  never started);
- lets a test start a lifecycle action: it puts the instance in ``Terminating:Wait`` (or
  ``Pending:Wait``) in moto's backend and sends the message AWS would send to the queue.
"""

from __future__ import absolute_import, division, print_function
__metaclass__ = type

import json
import socket
import threading
import time
import urllib.request
import uuid

import boto3
from moto.autoscaling.exceptions import ValidationError
from moto.autoscaling.models import autoscaling_backends
from moto.autoscaling.responses import AutoScalingResponse
from moto.core.responses import EmptyResult
from moto.server import ThreadedMotoServer

ACCOUNT = '123456789012'
REGION = 'us-east-1'
TRANSITIONS = {'terminating': 'autoscaling:EC2_INSTANCE_TERMINATING', 'launching': 'autoscaling:EC2_INSTANCE_LAUNCHING'}
WAIT_STATES = {'terminating': 'Terminating:Wait', 'launching': 'Pending:Wait'}
DONE_STATES = {('terminating', 'CONTINUE'): 'Terminating:Proceed', ('terminating', 'ABANDON'): 'Terminating:Proceed',
               ('launching', 'CONTINUE'): 'InService', ('launching', 'ABANDON'): 'Terminating'}


class LifecycleRecorder:
    """Lifecycle actions started by tests, and every complete/heartbeat call moto received."""

    def __init__(self):
        self.lock = threading.Lock()
        self.reset()

    def reset(self):
        with self.lock:
            self.actions = {}
            self.calls = []

    def start(self, asg, hook, instance_id, token, transition, heartbeat_timeout=None):
        """heartbeat_timeout: expire the action like AWS when no heartbeat came for that long (None: never expire).

        The clock starts at the first heartbeat, so the tests measure the handler's keep-alive during the
        drain, not how fast a loaded CI machine starts ansible-rulebook."""
        with self.lock:
            self.actions[token] = dict(asg=asg, hook=hook, instance_id=instance_id, transition=transition, active=True,
                                       expired=False, timeout=heartbeat_timeout, last=None)

    def _expire(self):
        now = time.time()
        for action in self.actions.values():
            if action['active'] and action['timeout'] and action['last'] and now - action['last'] > action['timeout']:
                action.update(active=False, expired=True)

    def expired(self, instance_id):
        with self.lock:
            self._expire()
            return any(a['expired'] for a in self.actions.values() if a['instance_id'] == instance_id)

    def _find(self, params):
        token = params.get('LifecycleActionToken')
        for key, action in self.actions.items():
            if token and key != token:
                continue
            if params.get('InstanceId') and action['instance_id'] != params['InstanceId']:
                continue
            if action['asg'] == params.get('AutoScalingGroupName') and action['hook'] == params.get('LifecycleHookName') and action['active']:
                return key, action
        return None, None

    def handle(self, kind, params):
        with self.lock:
            self._expire()
            token, action = self._find(params)
            self.calls.append(dict(kind=kind, accepted=action is not None, time=time.time(), **params))
            if action is None:
                raise ValidationError('No active Lifecycle Action found with instance ID %s' % params.get('InstanceId'))
            if kind == 'complete':
                action['active'] = False
                action['result'] = params.get('LifecycleActionResult')
            else:
                action['last'] = time.time()
            return token, action

    def accepted(self, kind, instance_id=None):
        with self.lock:
            return [c for c in self.calls if c['kind'] == kind and c['accepted'] and (instance_id is None or c.get('InstanceId') == instance_id)]

    def all_calls(self, kind):
        with self.lock:
            return [c for c in self.calls if c['kind'] == kind]


RECORDER = LifecycleRecorder()


def _params(response):
    names = ('AutoScalingGroupName', 'LifecycleHookName', 'InstanceId', 'LifecycleActionToken', 'LifecycleActionResult')
    return dict((n, response._get_param(n)) for n in names if response._get_param(n))  # pylint: disable=protected-access


def _complete_lifecycle_action(self):
    params = _params(self)
    dummy, action = RECORDER.handle('complete', params)
    set_lifecycle_state(action['asg'], action['instance_id'], DONE_STATES[(action['transition'], params['LifecycleActionResult'])])
    return EmptyResult()


def _record_lifecycle_action_heartbeat(self):
    RECORDER.handle('heartbeat', _params(self))
    return EmptyResult()


def install_patches():
    AutoScalingResponse.complete_lifecycle_action = _complete_lifecycle_action
    AutoScalingResponse.record_lifecycle_action_heartbeat = _record_lifecycle_action_heartbeat


def set_lifecycle_state(asg, instance_id, state):
    group = autoscaling_backends[ACCOUNT][REGION].autoscaling_groups[asg]
    for instance_state in group.instance_states:
        if instance_state.instance.id == instance_id:
            instance_state.lifecycle_state = state
            return
    raise KeyError('instance %s is not in %s' % (instance_id, asg))


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

    def create_group(self, name='octopus-ha', size=2, hook='octopus-drain', heartbeat_timeout=60, launch_hook=None):
        """An ASG with `size` instances and a terminate hook (and optionally a launch hook). Returns the instance ids."""
        ec2 = self.client('ec2')
        asg = self.client('autoscaling')
        image = ec2.describe_images()['Images'][0]['ImageId']
        asg.create_launch_configuration(LaunchConfigurationName=name + '-lc', ImageId=image, InstanceType='t3.large')
        asg.create_auto_scaling_group(AutoScalingGroupName=name, LaunchConfigurationName=name + '-lc', MinSize=0, MaxSize=size + 2,
                                      DesiredCapacity=size, AvailabilityZones=[REGION + 'a'])
        asg.put_lifecycle_hook(AutoScalingGroupName=name, LifecycleHookName=hook, LifecycleTransition=TRANSITIONS['terminating'],
                               HeartbeatTimeout=heartbeat_timeout, DefaultResult='ABANDON')
        if launch_hook:
            asg.put_lifecycle_hook(AutoScalingGroupName=name, LifecycleHookName=launch_hook, LifecycleTransition=TRANSITIONS['launching'],
                                   HeartbeatTimeout=heartbeat_timeout, DefaultResult='ABANDON')
        groups = asg.describe_auto_scaling_groups(AutoScalingGroupNames=[name])['AutoScalingGroups']
        return sorted(i['InstanceId'] for i in groups[0]['Instances'])

    def create_queue(self, name='octopus-lifecycle', visibility_timeout=30):
        return self.client('sqs').create_queue(QueueName=name, Attributes={'VisibilityTimeout': str(visibility_timeout)})['QueueUrl']

    def lifecycle_body(self, instance_id, transition='terminating', asg='octopus-ha', hook='octopus-drain', token=None):
        return {
            'Origin': 'AutoScalingGroup', 'Destination': 'EC2', 'Service': 'AWS Auto Scaling', 'AccountId': ACCOUNT,
            'Time': time.strftime('%Y-%m-%dT%H:%M:%S.000Z', time.gmtime()), 'RequestId': str(uuid.uuid4()),
            'LifecycleTransition': TRANSITIONS[transition], 'LifecycleActionToken': token or str(uuid.uuid4()),
            'EC2InstanceId': instance_id, 'LifecycleHookName': hook, 'AutoScalingGroupName': asg,
        }

    def start_lifecycle_action(self, queue_url, instance_id, transition='terminating', asg='octopus-ha', hook='octopus-drain', copies=1,
                               heartbeat_timeout=None):
        """What AWS does when the ASG picks the instance: Wait state, then the notification (maybe more than once).

        queue_url=None starts the action without any message (a lost event, for the reconciler)."""
        body = self.lifecycle_body(instance_id, transition, asg, hook)
        self.recorder.start(asg, hook, instance_id, body['LifecycleActionToken'], transition, heartbeat_timeout)
        set_lifecycle_state(asg, instance_id, WAIT_STATES[transition])
        for dummy in range(copies if queue_url else 0):
            self.send(queue_url, body)
        return body

    def send(self, queue_url, body):
        self.client('sqs').send_message(QueueUrl=queue_url, MessageBody=body if isinstance(body, str) else json.dumps(body))

    def queue_depth(self, queue_url):
        attrs = self.client('sqs').get_queue_attributes(
            QueueUrl=queue_url, AttributeNames=['ApproximateNumberOfMessages', 'ApproximateNumberOfMessagesNotVisible'])['Attributes']
        return int(attrs['ApproximateNumberOfMessages']) + int(attrs['ApproximateNumberOfMessagesNotVisible'])

    def lifecycle_state(self, instance_id):
        found = self.client('autoscaling').describe_auto_scaling_instances(InstanceIds=[instance_id])['AutoScalingInstances']
        return found[0]['LifecycleState'] if found else None
