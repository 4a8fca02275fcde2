# -*- coding: utf-8 -*-

# Copyright: Contributors to the octopus.ha collection
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function
__metaclass__ = type

import asyncio
import json

import pytest

from ansible_collections.octopus.ha.extensions.eda.plugins.event_source import aws_sqs_lifecycle as src
from ansible_collections.octopus.ha.tests.unit.plugins.module_utils.fake_octopus import Clock

QUEUE_URL = 'http://127.0.0.1:5000/123456789012/octopus-lifecycle'


def lifecycle_body(instance_id='i-0abc', token='tok-1', transition='autoscaling:EC2_INSTANCE_TERMINATING', **extra):
    body = {
        'Origin': 'AutoScalingGroup', 'Destination': 'EC2', 'Service': 'AWS Auto Scaling', 'Time': '2026-11-26T09:00:00.000Z',
        'AccountId': '123456789012', 'LifecycleTransition': transition, 'RequestId': 'req-1', 'LifecycleActionToken': token,
        'EC2InstanceId': instance_id, 'LifecycleHookName': 'octopus-drain', 'AutoScalingGroupName': 'octopus-ha',
    }
    body.update(extra)
    return body


TEST_NOTIFICATION = {'AccountId': '123456789012', 'RequestId': 'r', 'AutoScalingGroupARN': 'arn:aws:autoscaling:x',
                     'AutoScalingGroupName': 'octopus-ha', 'Service': 'AWS Auto Scaling', 'Event': 'autoscaling:TEST_NOTIFICATION',
                     'Time': '2026-11-26T09:00:00.000Z'}


def sns(payload):
    return {'Type': 'Notification', 'MessageId': 'sns-1', 'TopicArn': 'arn:aws:sns:x', 'Message': json.dumps(payload)}


def eventbridge(payload):
    detail = dict(payload)
    detail.pop('Time')
    return {'version': '0', 'id': 'eb-1', 'detail-type': 'EC2 Instance-terminate Lifecycle Action', 'source': 'aws.autoscaling',
            'account': '123456789012', 'time': '2026-11-26T09:00:00Z', 'region': 'us-east-1', 'resources': [], 'detail': detail}


class FakeSQS:
    """Serves batches of messages; each receive advances the fake clock by the long-poll wait when empty."""

    def __init__(self, batches, clock, errors=None):
        self.batches = list(batches)
        self.clock = clock
        self.errors = list(errors or [])
        self.deleted = []
        self.receive_calls = []

    async def get_queue_url(self, QueueName):
        return {'QueueUrl': 'http://fake/' + QueueName}

    async def receive_message(self, **kwargs):
        self.receive_calls.append(kwargs)
        if self.errors:
            raise self.errors.pop(0)
        if self.batches:
            return {'Messages': self.batches.pop(0)}
        self.clock.advance(kwargs['WaitTimeSeconds'] or 1)
        return {}

    async def delete_message(self, QueueUrl, ReceiptHandle):
        self.deleted.append(ReceiptHandle)


class ListQueue:
    def __init__(self):
        self.events = []

    async def put(self, event):
        self.events.append(event)


def message(body, message_id='m-1', handle='rh-1', raw=False, receive_count='1'):
    return {'MessageId': message_id, 'ReceiptHandle': handle, 'Body': body if raw else json.dumps(body),
            'Attributes': {'ApproximateReceiveCount': receive_count}}


def run(batches, args=None, errors=None):
    clock = Clock(now=0.0)
    client = FakeSQS(batches, clock, errors)
    queue = ListQueue()
    base = dict(queue_url=QUEUE_URL, wait_seconds=1, idle_timeout=3)
    base.update(args or {})
    reader = src.LifecycleQueueReader(base, clock=clock.monotonic, sleep=clock.sleep_async)
    stats = asyncio.run(reader.run(client, queue, region='us-east-1'))
    return queue.events, client, stats


def test_terminating_message_becomes_event_and_is_not_deleted():
    events, client, stats = run([[message(lifecycle_body())]])
    assert len(events) == 1
    event = events[0]
    assert event['lifecycle']['transition'] == 'terminating'
    assert event['lifecycle']['LifecycleActionToken'] == 'tok-1'
    assert event['instance_id'] == 'i-0abc'
    assert event['receipt_handle'] == 'rh-1'
    assert event['queue_url'] == QUEUE_URL
    assert event['envelope'] == 'sqs'
    assert event['region'] == 'us-east-1'
    assert client.deleted == []
    assert stats['queued'] == 1


def test_launching_message():
    events, dummy, dummy2 = run([[message(lifecycle_body(transition='autoscaling:EC2_INSTANCE_LAUNCHING'))]])
    assert events[0]['lifecycle']['transition'] == 'launching'


@pytest.mark.parametrize('wrap, envelope', [(sns, 'sns'), (eventbridge, 'eventbridge')])
def test_wrapped_messages(wrap, envelope):
    events, dummy, dummy2 = run([[message(wrap(lifecycle_body(metadata='x')))]])
    assert events[0]['envelope'] == envelope
    assert events[0]['lifecycle']['EC2InstanceId'] == 'i-0abc'
    assert events[0]['lifecycle']['Time']


@pytest.mark.parametrize('body', [TEST_NOTIFICATION, sns(TEST_NOTIFICATION)])
def test_test_notification_is_deleted_not_queued(body):
    events, client, stats = run([[message(body, handle='rh-test')]])
    assert events == []
    assert client.deleted == ['rh-test']
    assert stats['tests_deleted'] == 1


@pytest.mark.parametrize('body', ['not json', '[1, 2]', json.dumps({'hello': 'world'}),
                                  json.dumps(lifecycle_body(EC2InstanceId='')),
                                  json.dumps({'Type': 'Notification', 'Message': 'garbage'})])
def test_malformed_is_left_for_the_dlq(body):
    events, client, stats = run([[message(body, raw=True), message(lifecycle_body(), message_id='m-2', handle='rh-2')]])
    assert [e['receipt_handle'] for e in events] == ['rh-2']
    assert client.deleted == []
    assert stats['malformed'] == 1


def test_duplicate_token_is_neither_queued_nor_deleted():
    first = message(lifecycle_body(), message_id='m-1', handle='rh-1')
    second = message(lifecycle_body(), message_id='m-2', handle='rh-2')
    events, client, stats = run([[first, second]])
    assert [e['receipt_handle'] for e in events] == ['rh-1']
    assert client.deleted == []
    assert stats['duplicates'] == 1


def test_redelivery_of_same_message_is_queued_again():
    first = message(lifecycle_body(), message_id='m-1', handle='rh-1')
    again = message(lifecycle_body(), message_id='m-1', handle='rh-1b', receive_count='2')
    events, dummy, dummy2 = run([[first], [again]])
    assert [e['receipt_handle'] for e in events] == ['rh-1', 'rh-1b']
    assert events[1]['receive_count'] == 2


def test_duplicate_accepted_after_ttl():
    clock = Clock(now=0.0)
    cache = src.TokenCache(10, clock.monotonic)
    assert cache.is_duplicate('t', 'm-1') is False
    assert cache.is_duplicate('t', 'm-2') is True
    clock.now = 11
    assert cache.is_duplicate('t', 'm-2') is False
    assert cache.is_duplicate(None, 'm-3') is False


def test_max_events_stops_and_limits_batch():
    batch = [message(lifecycle_body(token='t%d' % i, instance_id='i-%d' % i), message_id='m%d' % i, handle='rh%d' % i) for i in range(3)]
    events, client, dummy = run([batch[:1], batch[1:]], args=dict(max_events=2, idle_timeout=0))
    assert len(events) == 2
    assert client.receive_calls[0]['MaxNumberOfMessages'] == 2
    assert client.receive_calls[1]['MaxNumberOfMessages'] == 1


def test_receive_args_and_queue_name_lookup():
    args = dict(queue_url=None, queue_name='octo', visibility_timeout=45, wait_seconds=30, max_events=1)
    events, client, dummy = run([[message(lifecycle_body())]], args=args)
    call = client.receive_calls[0]
    assert call['QueueUrl'] == 'http://fake/octo'
    assert call['VisibilityTimeout'] == 45
    assert call['WaitTimeSeconds'] == 20
    assert events[0]['queue_url'] == 'http://fake/octo'


def test_receive_errors_back_off_and_continue():
    from botocore.exceptions import ClientError
    err = ClientError({'Error': {'Code': 'ServiceUnavailable', 'Message': 'x'}}, 'ReceiveMessage')
    events, client, dummy = run([[message(lifecycle_body())]], args=dict(max_events=1, idle_timeout=0), errors=[err, err])
    assert len(events) == 1
    assert len(client.receive_calls) == 3


def test_missing_queue_is_fatal():
    from botocore.exceptions import ClientError
    err = ClientError({'Error': {'Code': 'AWS.SimpleQueueService.NonExistentQueue', 'Message': 'x'}}, 'ReceiveMessage')
    with pytest.raises(ClientError):
        run([], errors=[err])


def test_queue_argument_required():
    with pytest.raises(ValueError):
        src.LifecycleQueueReader({})


def test_client_kwargs():
    reader = src.LifecycleQueueReader(dict(queue_name='q', region='eu-west-1', endpoint_url='http://x', access_key='a', secret_key='s'))
    assert reader.client_kwargs() == dict(region_name='eu-west-1', endpoint_url='http://x', aws_access_key_id='a', aws_secret_access_key='s')


def test_idle_timeout_stops_empty_queue():
    events, client, stats = run([], args=dict(idle_timeout=5, wait_seconds=2, delay_seconds=1))
    assert events == []
    assert stats['received'] == 0
    assert 1 <= len(client.receive_calls) <= 3
