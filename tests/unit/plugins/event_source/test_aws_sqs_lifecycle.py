# -*- coding: utf-8 -*-

# Copyright: Contributors to the octopus.ha collection
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function
__metaclass__ = type

import asyncio
import json

import pytest

from ansible_collections.octopus.ha.extensions.eda.plugins.event_source import aws_sqs_lifecycle as src

QUEUE_URL = 'http://127.0.0.1:5000/123456789012/octopus-lifecycle'


def lifecycle_body(instance_id='i-0abc', token='tok-1', transition='autoscaling:EC2_INSTANCE_TERMINATING', **extra):
    launching = transition == 'autoscaling:EC2_INSTANCE_LAUNCHING'
    body = {
        # What AWS sends for a plain scale-out / scale-in (no warm pool).
        'Origin': 'EC2' if launching else 'AutoScalingGroup', 'Destination': 'AutoScalingGroup' if launching else 'EC2',
        'Service': 'AWS Auto Scaling', 'Time': '2026-11-26T09:00:00.000Z',
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


class FakeClock:
    def __init__(self):
        self.now = 0.0

    def __call__(self):
        return self.now

    async def sleep(self, seconds):
        self.now += seconds


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
        self.clock.now += kwargs['WaitTimeSeconds'] or 1
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
    clock = FakeClock()
    client = FakeSQS(batches, clock, errors)
    queue = ListQueue()
    base = dict(queue_url=QUEUE_URL, wait_seconds=1, idle_timeout=3)
    base.update(args or {})
    reader = src.LifecycleQueueReader(base, clock=clock, sleep=clock.sleep)
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
    assert stats['held_back'] == 1


def test_message_received_again_while_its_handler_runs_is_held_back():
    """A handler that started late (lock, slow start) lets the visibility lapse: the copy is not queued again."""
    first = message(lifecycle_body(), message_id='m-1', handle='rh-1')
    again = message(lifecycle_body(), message_id='m-1', handle='rh-1b', receive_count='2')
    events, client, stats = run([[first], [again]])
    assert [e['receipt_handle'] for e in events] == ['rh-1']
    assert stats['held_back'] == 1
    assert client.deleted == []


def test_copy_after_the_ttl_is_handed_out_again_and_is_not_a_first_delivery():
    clock = FakeClock()
    first = message(lifecycle_body(), message_id='m-1', handle='rh-1')
    again = message(lifecycle_body(), message_id='m-1', handle='rh-1b', receive_count='2')
    dup = message(lifecycle_body(), message_id='m-9', handle='rh-9')

    class Later(FakeSQS):
        async def receive_message(self, **kwargs):
            clock.now += 700
            return await FakeSQS.receive_message(self, **kwargs)

    client = Later([[first], [again], [dup]], clock)
    queue = ListQueue()
    reader = src.LifecycleQueueReader(dict(queue_url=QUEUE_URL, wait_seconds=1, dedupe_ttl=600, max_events=3), clock=clock, sleep=clock.sleep)
    asyncio.run(reader.run(client, queue, region='us-east-1'))
    assert [e['receipt_handle'] for e in queue.events] == ['rh-1', 'rh-1b', 'rh-9']
    assert [e['first_delivery'] for e in queue.events] == [True, False, False]


def test_first_delivery_is_false_on_a_redelivery():
    events, dummy, dummy2 = run([[message(lifecycle_body(), receive_count='3')]])
    assert events[0]['first_delivery'] is False
    assert events[0]['receive_count'] == 3


def test_inflight_entries_expire_after_the_ttl():
    clock = FakeClock()
    cache = src.InFlight(10, clock)
    assert cache.held_back('t') is None
    assert cache.hand_out('t', 'm-1') is True
    assert cache.held_back('t') == 'm-1'
    clock.now = 11
    assert cache.held_back('t') is None
    assert cache.hand_out('t', 'm-2') is False, 'the action was handed out before'


@pytest.mark.parametrize('transition, origin, destination, plan', [
    ('autoscaling:EC2_INSTANCE_LAUNCHING', 'EC2', 'AutoScalingGroup', 'scale_out'),
    ('autoscaling:EC2_INSTANCE_LAUNCHING', 'WarmPool', 'AutoScalingGroup', 'scale_out'),
    ('autoscaling:EC2_INSTANCE_LAUNCHING', 'EC2', 'WarmPool', 'continue'),
    ('autoscaling:EC2_INSTANCE_TERMINATING', 'AutoScalingGroup', 'EC2', 'scale_in'),
    ('autoscaling:EC2_INSTANCE_TERMINATING', 'AutoScalingGroup', 'WarmPool', 'park'),
    ('autoscaling:EC2_INSTANCE_TERMINATING', 'WarmPool', 'EC2', 'continue'),
    ('autoscaling:EC2_INSTANCE_TERMINATING', None, None, 'scale_in'),
    ('autoscaling:EC2_INSTANCE_LAUNCHING', None, None, 'scale_out'),
])
def test_plan_follows_origin_and_destination(transition, origin, destination, plan):
    body = lifecycle_body(transition=transition, Origin=origin, Destination=destination)
    for wrap in (lambda b: b, sns, eventbridge):
        events, dummy, dummy2 = run([[message(wrap(body))]])
        assert events[0]['lifecycle']['plan'] == plan
        assert events[0]['lifecycle']['Origin'] == origin


def test_unknown_origin_destination_is_left_for_the_dlq():
    body = lifecycle_body(Origin='WarmPool', Destination='WarmPool')
    events, client, stats = run([[message(body)]])
    assert events == [] and stats['malformed'] == 1 and client.deleted == []


@pytest.mark.parametrize('code', ['AccessDenied', 'InvalidClientTokenId', 'SignatureDoesNotMatch', 'ExpiredToken'])
def test_auth_errors_stop_the_source_at_once(code):
    from botocore.exceptions import ClientError
    err = ClientError({'Error': {'Code': code, 'Message': 'no'}}, 'ReceiveMessage')
    with pytest.raises(src.LifecycleSourceError) as raised:
        run([[message(lifecycle_body())]], errors=[err, err, err])
    assert code in str(raised.value) and 'retrying cannot help' in str(raised.value)


def test_missing_credentials_stop_the_source_with_a_fix():
    from botocore.exceptions import NoCredentialsError
    with pytest.raises(src.LifecycleSourceError) as raised:
        run([], errors=[NoCredentialsError()])
    assert 'no usable AWS credentials' in str(raised.value)


def test_an_error_on_one_message_does_not_stop_the_source():
    class Flaky(FakeSQS):
        async def delete_message(self, QueueUrl, ReceiptHandle):
            raise RuntimeError('connection reset while deleting')

    clock = FakeClock()
    client = Flaky([[message(TEST_NOTIFICATION, handle='rh-test'), message(lifecycle_body(), message_id='m-2', handle='rh-2')]], clock)
    queue = ListQueue()
    reader = src.LifecycleQueueReader(dict(queue_url=QUEUE_URL, wait_seconds=1, idle_timeout=3), clock=clock, sleep=clock.sleep)
    stats = asyncio.run(reader.run(client, queue, region='us-east-1'))
    assert [e['receipt_handle'] for e in queue.events] == ['rh-2']
    assert stats['errors'] == 1


def test_stats_are_logged_when_the_source_ends(caplog):
    import logging
    with caplog.at_level(logging.INFO):
        run([[message(lifecycle_body())]])
    assert any('aws_sqs_lifecycle: stats' in r.getMessage() and '"queued": 1' in r.getMessage() for r in caplog.records)


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
    with pytest.raises(src.LifecycleSourceError) as raised:
        run([], errors=[err])
    assert 'does not exist' in str(raised.value)


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
