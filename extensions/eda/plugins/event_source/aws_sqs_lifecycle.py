# -*- coding: utf-8 -*-

# Copyright: Contributors to the octopus.ha collection
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function
__metaclass__ = type

DOCUMENTATION = r"""
---
short_description: Receive EC2 Auto Scaling lifecycle hook notifications from an SQS queue.
description:
  - Long-polls an SQS queue that receives EC2 Auto Scaling lifecycle hook notifications, either sent by the hook
    directly, through an SNS topic, or through an EventBridge rule.
  - Puts one event per C(autoscaling:EC2_INSTANCE_LAUNCHING) or C(autoscaling:EC2_INSTANCE_TERMINATING) message on the
    rulebook queue, with the normalised lifecycle fields under C(lifecycle) plus C(queue_url) and C(receipt_handle).
  - At-least-once. Lifecycle messages are NOT deleted here; the handler playbook deletes the message after it has completed
    the lifecycle action (see M(octopus.ha.sqs_message)). If the handler fails, the message comes back after its
    visibility timeout. (C(ansible.eda.aws_sqs_queue) deletes each message before any job runs, so a failed job loses it.)
  - C(autoscaling:TEST_NOTIFICATION) messages are logged and deleted; they are not actions.
  - Duplicates are filtered by C(LifecycleActionToken) for O(dedupe_ttl) seconds. A second message with the same token is
    neither queued nor deleted, so it is handled (as a no-op) once the first handling is over and the TTL has passed.
    A redelivery of the same SQS message (same message id, e.g. after a failed handler) is queued again.
  - Malformed messages (not JSON, or no lifecycle fields) are logged and left on the queue, so the queue's redrive
    policy moves them to the dead-letter queue.
options:
  queue_name:
    description:
      - Name of the queue. One of O(queue_name) and O(queue_url) is required.
      - Empty strings count as unset for every option, so a rulebook can pass C("{{ var | default('') }}").
    type: str
  queue_url:
    description: URL of the queue.
    type: str
  region:
    description: AWS region. Defaults to the usual boto configuration (C(AWS_REGION), C(AWS_DEFAULT_REGION), profile).
    type: str
  endpoint_url:
    description: Endpoint URL, for example an AWS emulator. Defaults to boto's C(AWS_ENDPOINT_URL_SQS) / C(AWS_ENDPOINT_URL).
    type: str
  access_key:
    description: AWS access key id. Defaults to the usual credential chain.
    type: str
  secret_key:
    description: AWS secret access key.
    type: str
  session_token:
    description: AWS session token.
    type: str
  profile:
    description: AWS profile name.
    type: str
  wait_seconds:
    description: Long-poll wait for each receive call (0-20).
    type: int
    default: 20
  delay_seconds:
    description: Pause between receive calls that returned nothing. Errors back off exponentially up to 60 s.
    type: float
    default: 0
  visibility_timeout:
    description:
      - Visibility timeout in seconds for received messages. Defaults to the queue's setting.
      - Should exceed the time from receipt until the handler starts heartbeating (the heartbeat extends it).
    type: int
  max_messages:
    description: Messages per receive call (1-10).
    type: int
    default: 10
  dedupe_ttl:
    description: Seconds a lifecycle action token is remembered for de-duplication.
    type: int
    default: 600
  max_events:
    description: Stop after this many events were queued (for tests). 0 means run forever.
    type: int
    default: 0
  idle_timeout:
    description: Stop when no message arrived for this many seconds (for tests and one-shot runs). 0 means never.
    type: float
    default: 0
"""

EXAMPLES = r"""
- name: Octopus HA lifecycle
  hosts: all
  sources:
    - octopus.ha.aws_sqs_lifecycle:
        queue_name: octopus-lifecycle
        region: eu-west-1
  rules:
    - name: Scale in
      condition: event.lifecycle.transition == "terminating"
      action:
        run_playbook:
          name: octopus.ha.eda_scale_in
"""

import asyncio
import json
import logging
import time

try:
    from aiobotocore.session import get_session
    from botocore.exceptions import BotoCoreError, ClientError
    HAS_AIOBOTOCORE = True
except ImportError:
    HAS_AIOBOTOCORE = False
    BotoCoreError = ClientError = Exception

LOGGER = logging.getLogger(__name__)

TRANSITIONS = {
    'autoscaling:EC2_INSTANCE_TERMINATING': 'terminating',
    'autoscaling:EC2_INSTANCE_LAUNCHING': 'launching',
}
TEST_EVENT = 'autoscaling:TEST_NOTIFICATION'
LIFECYCLE_FIELDS = ('LifecycleTransition', 'AutoScalingGroupName', 'LifecycleHookName', 'LifecycleActionToken',
                    'EC2InstanceId', 'NotificationMetadata', 'Time', 'AccountId', 'Origin', 'Destination', 'RequestId')
MAX_ERROR_BACKOFF = 60.0


class MalformedMessage(ValueError):
    """The message is not a lifecycle notification we understand."""


def _loads(text):
    if isinstance(text, dict):
        return text
    try:
        value = json.loads(text)
    except (TypeError, ValueError) as e:
        raise MalformedMessage('body is not JSON: %s' % e) from e
    if not isinstance(value, dict):
        raise MalformedMessage('body is JSON but not an object')
    return value


def unwrap(body):
    """Return (envelope, payload) for a raw SQS message body: direct hook, SNS or EventBridge."""
    data = _loads(body)
    if data.get('Type') == 'Notification' and 'Message' in data:
        return 'sns', _loads(data['Message'])
    if data.get('source') == 'aws.autoscaling' and isinstance(data.get('detail'), dict):
        detail = dict(data['detail'])
        detail.setdefault('Time', data.get('time'))
        detail.setdefault('AccountId', data.get('account'))
        return 'eventbridge', detail
    return 'sqs', data


def classify(body):
    """Return ('test'|'lifecycle', envelope, payload). Raises MalformedMessage for anything else."""
    envelope, payload = unwrap(body)
    if payload.get('Event') == TEST_EVENT or payload.get('LifecycleTransition') == TEST_EVENT:
        return 'test', envelope, payload
    transition = payload.get('LifecycleTransition')
    if transition not in TRANSITIONS:
        raise MalformedMessage('unknown LifecycleTransition %r' % (transition,))
    missing = [f for f in ('AutoScalingGroupName', 'LifecycleHookName', 'EC2InstanceId') if not payload.get(f)]
    if missing:
        raise MalformedMessage('lifecycle message without %s' % ', '.join(missing))
    return 'lifecycle', envelope, payload


def build_event(message, envelope, payload, queue_url, region):
    lifecycle = dict((k, payload.get(k)) for k in LIFECYCLE_FIELDS)
    lifecycle['transition'] = TRANSITIONS[payload['LifecycleTransition']]
    attributes = message.get('Attributes', {})
    return {
        'lifecycle': lifecycle,
        'instance_id': payload['EC2InstanceId'],
        'queue_url': queue_url,
        'receipt_handle': message['ReceiptHandle'],
        'message_id': message.get('MessageId'),
        'receive_count': int(attributes.get('ApproximateReceiveCount', 1)),
        'envelope': envelope,
        'region': region,
        'body': payload,
    }


class TokenCache:
    """Lifecycle action tokens seen recently: token -> (SQS message id, expiry)."""

    def __init__(self, ttl, clock=time.monotonic):
        self.ttl = ttl
        self.clock = clock
        self.entries = {}

    def is_duplicate(self, token, message_id):
        """True if another message with this token was queued within the TTL. Records the token otherwise."""
        now = self.clock()
        self.entries = dict((k, v) for k, v in self.entries.items() if v[1] > now)
        if not token:
            return False
        seen = self.entries.get(token)
        if seen and seen[0] != message_id:
            return True
        self.entries[token] = (message_id, now + self.ttl)
        return False


class LifecycleQueueReader:
    """Reads the queue and feeds the rulebook queue. The SQS client is injected (aiobotocore, or a fake in tests)."""

    def __init__(self, args, clock=time.monotonic, sleep=asyncio.sleep):
        if not args.get('queue_name') and not args.get('queue_url'):
            raise ValueError('aws_sqs_lifecycle needs queue_name or queue_url')
        self.args = args
        self.clock = clock
        self.sleep = sleep
        self.tokens = TokenCache(self.opt('dedupe_ttl', 600), clock)
        self.queued = 0
        self.stats = dict(received=0, queued=0, duplicates=0, tests_deleted=0, malformed=0)

    def opt(self, name, default=None, kind=int):
        """An argument converted to kind, with None and '' meaning the default."""
        value = self.args.get(name)
        return default if value in (None, '') else kind(value)

    def client_kwargs(self):
        mapping = dict(region='region_name', endpoint_url='endpoint_url', access_key='aws_access_key_id',
                       secret_key='aws_secret_access_key', session_token='aws_session_token')
        return dict((dest, self.args[src]) for src, dest in mapping.items() if self.args.get(src))

    async def resolve_queue_url(self, client):
        if self.args.get('queue_url'):
            return self.args['queue_url']
        response = await client.get_queue_url(QueueName=self.args['queue_name'])
        return response['QueueUrl']

    def _receive_args(self, queue_url):
        max_messages = min(10, max(1, self.opt('max_messages', 10)))
        max_events = self.opt('max_events', 0)
        if max_events:
            max_messages = max(1, min(max_messages, max_events - self.queued))
        kwargs = dict(QueueUrl=queue_url, MaxNumberOfMessages=max_messages,
                      WaitTimeSeconds=min(20, max(0, self.opt('wait_seconds', 20))),
                      AttributeNames=['ApproximateReceiveCount', 'SentTimestamp'])
        if self.opt('visibility_timeout') is not None:
            kwargs['VisibilityTimeout'] = self.opt('visibility_timeout')
        return kwargs

    def limit_reached(self):
        max_events = self.opt('max_events', 0)
        return bool(max_events) and self.queued >= max_events

    def done(self, last_message_at):
        if self.limit_reached():
            LOGGER.info('aws_sqs_lifecycle: max_events reached, stopping')
            return True
        idle = self.opt('idle_timeout', 0, float)
        if idle and self.clock() - last_message_at >= idle:
            LOGGER.info('aws_sqs_lifecycle: idle for %.0f s, stopping', idle)
            return True
        return False

    async def handle(self, client, queue, queue_url, region, message):
        """Queue, delete or leave one message. Returns True if an event was queued."""
        self.stats['received'] += 1
        message_id = message.get('MessageId')
        try:
            kind, envelope, payload = classify(message.get('Body'))
        except MalformedMessage as e:
            self.stats['malformed'] += 1
            LOGGER.warning('aws_sqs_lifecycle: leaving malformed message %s on the queue for the dead-letter queue: %s', message_id, e)
            return False
        if kind == 'test':
            await client.delete_message(QueueUrl=queue_url, ReceiptHandle=message['ReceiptHandle'])
            self.stats['tests_deleted'] += 1
            LOGGER.info('aws_sqs_lifecycle: deleted test notification %s', message_id)
            return False
        token = payload.get('LifecycleActionToken')
        if self.tokens.is_duplicate(token, message_id):
            self.stats['duplicates'] += 1
            LOGGER.info('aws_sqs_lifecycle: duplicate of lifecycle action %s (message %s) is being handled; left on the queue',
                        token, message_id)
            return False
        await queue.put(build_event(message, envelope, payload, queue_url, region))
        self.queued += 1
        self.stats['queued'] += 1
        return True

    async def run(self, client, queue, region=None):
        queue_url = await self.resolve_queue_url(client)
        LOGGER.info('aws_sqs_lifecycle: reading %s', queue_url)
        last_message_at = self.clock()
        failures = 0
        while not self.done(last_message_at):
            try:
                response = await client.receive_message(**self._receive_args(queue_url))
            except (ClientError, BotoCoreError) as e:
                if 'NonExistentQueue' in str(e) or 'QueueDoesNotExist' in str(e):
                    raise
                failures += 1
                delay = min(MAX_ERROR_BACKOFF, 2.0 ** failures)
                LOGGER.warning('aws_sqs_lifecycle: receive failed (%s), retrying in %.0f s', e, delay)
                await self.sleep(delay)
                continue
            failures = 0
            messages = response.get('Messages', [])
            if not messages:
                if self.opt('delay_seconds', 0, float):
                    await self.sleep(self.opt('delay_seconds', 0, float))
                continue
            last_message_at = self.clock()
            for message in messages:
                if self.limit_reached():
                    break
                await self.handle(client, queue, queue_url, region, message)
        return self.stats


async def main(queue, args):
    """Entry point called by ansible-rulebook."""
    if not HAS_AIOBOTOCORE:
        raise ImportError('octopus.ha.aws_sqs_lifecycle requires aiobotocore')
    reader = LifecycleQueueReader(args)
    session = get_session()
    if args.get('profile'):
        session.set_config_variable('profile', args['profile'])
    async with session.create_client('sqs', **reader.client_kwargs()) as client:
        await reader.run(client, queue, region=client.meta.region_name)


if __name__ == '__main__':

    class _PrintQueue:
        async def put(self, event):
            print(json.dumps(event, indent=2))

    asyncio.run(main(_PrintQueue(), {'queue_name': 'octopus-lifecycle', 'max_events': 1}))
