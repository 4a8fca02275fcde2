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
  - C(lifecycle.plan) says what the handlers do, from the transition and the message's C(Origin) and C(Destination)
    (warm pools). V(scale_out) for an instance that joins the group (C(EC2) or C(WarmPool) to C(AutoScalingGroup)),
    V(scale_in) for one that leaves it for good (C(AutoScalingGroup) to C(EC2)), V(park) for one that goes back into the
    warm pool (C(AutoScalingGroup) to C(WarmPool): drained, record kept), and V(continue) for the others (C(EC2) to
    C(WarmPool), C(WarmPool) to C(EC2)): they are not part of the cluster, the handler only completes the action.
  - C(first_delivery) is true when SQS delivers the message for the first time and no other copy of the same lifecycle
    action was handed out before. A handler that finds the action no longer active on a first delivery reports a failure.
  - At-least-once. Lifecycle messages are NOT deleted here; the handler playbook deletes the message after it has completed
    the lifecycle action (see M(octopus.ha.sqs_message)). If the handler fails, the message comes back after its
    visibility timeout. (C(ansible.eda.aws_sqs_queue) deletes each message before any job runs, so a failed job loses it.)
  - C(autoscaling:TEST_NOTIFICATION) messages are logged and deleted; they are not actions.
  - Copies of a lifecycle action that was handed to a handler less than O(dedupe_ttl) seconds ago are held back (neither
    queued nor deleted). That covers a duplicate notification (another message with the same C(LifecycleActionToken)) and
    the same message received again while its handler is still starting or running. The rulebook's per-instance C(lock)
    serialises any copy that comes later, and that copy's handler is a no-op.
  - Malformed messages (not JSON, or no lifecycle fields) are logged and left on the queue, so the queue's redrive
    policy moves them to the dead-letter queue. An error while handling one message is logged and never stops the source.
  - Authentication and credential errors (C(AccessDenied), C(InvalidClientTokenId), no credentials, ...) and a queue that
    does not exist end the source at once with an error that says what to fix. Other receive errors are retried with
    exponential backoff up to 60 s.
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
    description:
      - Seconds after an event was handed out during which other copies of the same lifecycle action are held back.
      - Set it above the time a handler needs to start heartbeating; the heartbeat then keeps the message hidden.
    type: int
    default: 600
  max_events:
    description: Stop after this many events were queued (for one-shot runs). 0 means run forever.
    type: int
    default: 0
  idle_timeout:
    description: Stop when no message arrived for this many seconds (for one-shot runs). 0 means never.
    type: float
    default: 0
"""

EXAMPLES = r"""
- name: Octopus HA lifecycle
  hosts: all
  execution_strategy: parallel
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
          lock: "{{ event.instance_id }}"
"""

import asyncio
import json
import logging
import time

try:
    from aiobotocore.session import get_session
    from botocore.exceptions import BotoCoreError, ClientError, NoCredentialsError, NoRegionError, PartialCredentialsError
    HAS_AIOBOTOCORE = True
except ImportError:
    HAS_AIOBOTOCORE = False
    BotoCoreError = ClientError = NoCredentialsError = NoRegionError = PartialCredentialsError = Exception

LOGGER = logging.getLogger(__name__)

TRANSITIONS = {
    'autoscaling:EC2_INSTANCE_TERMINATING': 'terminating',
    'autoscaling:EC2_INSTANCE_LAUNCHING': 'launching',
}
TEST_EVENT = 'autoscaling:TEST_NOTIFICATION'
LIFECYCLE_FIELDS = ('LifecycleTransition', 'AutoScalingGroupName', 'LifecycleHookName', 'LifecycleActionToken',
                    'EC2InstanceId', 'NotificationMetadata', 'Time', 'AccountId', 'Origin', 'Destination', 'RequestId')
MAX_ERROR_BACKOFF = 60.0
# Error codes that retrying cannot fix: the credentials or the permissions are wrong.
AUTH_ERROR_CODES = frozenset((
    'AccessDenied', 'AccessDeniedException', 'InvalidClientTokenId', 'SignatureDoesNotMatch', 'UnrecognizedClientException',
    'ExpiredToken', 'ExpiredTokenException', 'InvalidAccessKeyId', 'MissingAuthenticationToken', 'AuthFailure',
    'InvalidSecurity', 'RequestExpired', 'KMS.AccessDeniedException', 'KmsAccessDenied',
))
MISSING_QUEUE_CODES = frozenset(('AWS.SimpleQueueService.NonExistentQueue', 'NonExistentQueue', 'QueueDoesNotExist'))
# The plan for each (transition, Origin, Destination). See DOCUMENTATION and docs/event-driven.md "Warm pools".
PLANS = {
    ('launching', 'EC2', 'AutoScalingGroup'): 'scale_out',
    ('launching', 'WarmPool', 'AutoScalingGroup'): 'scale_out',
    ('launching', 'EC2', 'WarmPool'): 'continue',
    ('terminating', 'AutoScalingGroup', 'EC2'): 'scale_in',
    ('terminating', 'AutoScalingGroup', 'WarmPool'): 'park',
    ('terminating', 'WarmPool', 'EC2'): 'continue',
}
SEEN_TTL = 86400
SEEN_MAX = 10000


class MalformedMessage(ValueError):
    """The message is not a lifecycle notification we understand."""


class LifecycleSourceError(RuntimeError):
    """An error that retrying cannot fix (credentials, permissions, missing queue): the source stops."""


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


def plan(transition, origin, destination):
    """What the handlers do for this transition. Returns (plan, reason)."""
    if not origin and not destination:
        # A notification without the warm-pool fields: a plain scale-out or scale-in.
        return ('scale_out' if transition == 'launching' else 'scale_in'), 'no Origin/Destination: a plain %s' % transition
    found = PLANS.get((transition, origin, destination))
    if found is None:
        raise MalformedMessage('unknown %s shape %s -> %s' % (transition, origin, destination))
    return found, '%s from %s to %s' % (transition, origin, destination)


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
    plan(TRANSITIONS[transition], payload.get('Origin'), payload.get('Destination'))
    return 'lifecycle', envelope, payload


def build_event(message, envelope, payload, queue_url, region, first_delivery=True):
    lifecycle = dict((k, payload.get(k)) for k in LIFECYCLE_FIELDS)
    lifecycle['transition'] = TRANSITIONS[payload['LifecycleTransition']]
    lifecycle['plan'], lifecycle['plan_reason'] = plan(lifecycle['transition'], payload.get('Origin'), payload.get('Destination'))
    attributes = message.get('Attributes', {})
    receive_count = int(attributes.get('ApproximateReceiveCount', 1))
    sent = attributes.get('SentTimestamp')
    return {
        'lifecycle': lifecycle,
        'instance_id': payload['EC2InstanceId'],
        'queue_url': queue_url,
        'receipt_handle': message['ReceiptHandle'],
        'message_id': message.get('MessageId'),
        'receive_count': receive_count,
        'first_delivery': bool(first_delivery and receive_count == 1),
        'sent_at': int(sent) / 1000.0 if sent else None,
        'envelope': envelope,
        'region': region,
        'body': payload,
    }


class InFlight:
    """Lifecycle actions handed out recently (token -> (message id, until)) and ever seen (token -> when)."""

    def __init__(self, ttl, clock=time.monotonic):
        self.ttl = ttl
        self.clock = clock
        self.entries = {}
        self.seen = {}

    def _prune(self, now):
        self.entries = dict((k, v) for k, v in self.entries.items() if v[1] > now)
        if len(self.seen) > SEEN_MAX:
            self.seen = dict(sorted(self.seen.items(), key=lambda kv: kv[1])[-SEEN_MAX // 2:])
        self.seen = dict((k, v) for k, v in self.seen.items() if v + SEEN_TTL > now)

    def held_back(self, key):
        """The message id of the copy handed out within the TTL, or None."""
        now = self.clock()
        self._prune(now)
        entry = self.entries.get(key)
        return entry[0] if entry else None

    def hand_out(self, key, message_id):
        """Record a hand-out. Returns True when no copy of this action was handed out before."""
        now = self.clock()
        first = key not in self.seen
        self.entries[key] = (message_id, now + self.ttl)
        self.seen.setdefault(key, now)
        return first


def error_code(exc):
    return exc.response.get('Error', {}).get('Code', '') if isinstance(exc, ClientError) and hasattr(exc, 'response') else ''


def fatal_reason(exc, queue):
    """A sentence when exc cannot be fixed by retrying, else None."""
    if isinstance(exc, (NoCredentialsError, PartialCredentialsError)):
        return ('aws_sqs_lifecycle cannot read %s: no usable AWS credentials (%s). Give the rulebook credentials: the '
                'AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY environment, a profile, or an instance or pod role.' % (queue, exc))
    if isinstance(exc, NoRegionError):
        return 'aws_sqs_lifecycle cannot read %s: no AWS region. Set the source\'s region or AWS_REGION.' % queue
    code = error_code(exc)
    if code in AUTH_ERROR_CODES:
        return ('aws_sqs_lifecycle cannot read %s: AWS refused the credentials or the permission (%s: %s). Fix the rulebook\'s '
                'AWS credentials or grant sqs:ReceiveMessage, sqs:DeleteMessage, sqs:ChangeMessageVisibility and '
                'sqs:GetQueueUrl on the queue; retrying cannot help.' % (queue, code, exc))
    if code in MISSING_QUEUE_CODES:
        return 'aws_sqs_lifecycle: the queue %s does not exist (%s). Check queue_url/queue_name, the region and the account.' % (queue, code)
    return None


class LifecycleQueueReader:
    """Reads the queue and feeds the rulebook queue. The SQS client is injected (aiobotocore, or a fake in tests)."""

    def __init__(self, args, clock=time.monotonic, sleep=asyncio.sleep):
        if not args.get('queue_name') and not args.get('queue_url'):
            raise ValueError('aws_sqs_lifecycle needs queue_name or queue_url')
        self.args = args
        self.clock = clock
        self.sleep = sleep
        self.inflight = InFlight(self.opt('dedupe_ttl', 600), clock)
        self.queued = 0
        self.stats = dict(received=0, queued=0, held_back=0, tests_deleted=0, malformed=0, errors=0)

    def opt(self, name, default=None, kind=int):
        """An argument converted to kind, with None and '' meaning the default."""
        value = self.args.get(name)
        return default if value in (None, '') else kind(value)

    def client_kwargs(self):
        mapping = dict(region='region_name', endpoint_url='endpoint_url', access_key='aws_access_key_id',
                       secret_key='aws_secret_access_key', session_token='aws_session_token')
        return dict((dest, self.args[src]) for src, dest in mapping.items() if self.args.get(src))

    def queue_label(self):
        return self.args.get('queue_url') or self.args.get('queue_name')

    async def resolve_queue_url(self, client):
        if self.args.get('queue_url'):
            return self.args['queue_url']
        try:
            response = await client.get_queue_url(QueueName=self.args['queue_name'])
        except (ClientError, BotoCoreError) as e:
            raise LifecycleSourceError(fatal_reason(e, self.queue_label()) or 'aws_sqs_lifecycle: cannot look up the queue %s: %s'
                                       % (self.queue_label(), e)) from e
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
        key = payload.get('LifecycleActionToken') or message_id
        earlier = self.inflight.held_back(key)
        if earlier:
            self.stats['held_back'] += 1
            LOGGER.info('aws_sqs_lifecycle: lifecycle action %s of %s was handed out less than %s s ago (message %s); holding back '
                        'message %s (receive count %s)', key, payload.get('EC2InstanceId'), self.inflight.ttl, earlier, message_id,
                        message.get('Attributes', {}).get('ApproximateReceiveCount', '?'))
            return False
        first = self.inflight.hand_out(key, message_id)
        await queue.put(build_event(message, envelope, payload, queue_url, region, first_delivery=first))
        self.queued += 1
        self.stats['queued'] += 1
        return True

    async def handle_safely(self, client, queue, queue_url, region, message):
        """handle(), but an unexpected error on one message is logged and never stops the source."""
        try:
            return await self.handle(client, queue, queue_url, region, message)
        except asyncio.CancelledError:
            raise
        except Exception as e:  # pylint: disable=broad-except
            reason = fatal_reason(e, queue_url)
            if reason:
                raise LifecycleSourceError(reason) from e
            self.stats['errors'] += 1
            LOGGER.warning('aws_sqs_lifecycle: could not handle message %s, it stays on the queue: %s', message.get('MessageId'), e)
            return False

    async def receive(self, client, queue_url, failures):
        """One receive call. Returns (messages, failures); raises LifecycleSourceError when retrying cannot help."""
        try:
            response = await client.receive_message(**self._receive_args(queue_url))
        except (ClientError, BotoCoreError) as e:
            reason = fatal_reason(e, queue_url)
            if reason:
                raise LifecycleSourceError(reason) from e
            failures += 1
            delay = min(MAX_ERROR_BACKOFF, 2.0 ** failures)
            LOGGER.warning('aws_sqs_lifecycle: receive failed (%s), retrying in %.0f s', e, delay)
            await self.sleep(delay)
            return None, failures
        return response.get('Messages', []), 0

    async def run(self, client, queue, region=None):
        queue_url = await self.resolve_queue_url(client)
        LOGGER.info('aws_sqs_lifecycle: reading %s', queue_url)
        last_message_at = self.clock()
        failures = 0
        try:
            while not self.done(last_message_at):
                messages, failures = await self.receive(client, queue_url, failures)
                if messages is None:
                    continue
                if not messages:
                    if self.opt('delay_seconds', 0, float):
                        await self.sleep(self.opt('delay_seconds', 0, float))
                    continue
                last_message_at = self.clock()
                for message in messages:
                    if self.limit_reached():
                        break
                    await self.handle_safely(client, queue, queue_url, region, message)
        finally:
            LOGGER.info('aws_sqs_lifecycle: stats %s', json.dumps(self.stats, sort_keys=True))
        return self.stats


async def main(queue, args):
    """Entry point called by ansible-rulebook."""
    if not HAS_AIOBOTOCORE:
        raise ImportError('octopus.ha.aws_sqs_lifecycle requires aiobotocore')
    reader = LifecycleQueueReader(args)
    session = get_session()
    if args.get('profile'):
        session.set_config_variable('profile', args['profile'])
    try:
        async with session.create_client('sqs', **reader.client_kwargs()) as client:
            await reader.run(client, queue, region=client.meta.region_name)
    except (NoRegionError, NoCredentialsError, PartialCredentialsError) as e:
        raise LifecycleSourceError(fatal_reason(e, reader.queue_label())) from e


if __name__ == '__main__':

    class _PrintQueue:
        async def put(self, event):
            print(json.dumps(event, indent=2))

    asyncio.run(main(_PrintQueue(), {'queue_name': 'octopus-lifecycle', 'max_events': 1}))
