# -*- coding: utf-8 -*-

# Copyright: Contributors to the octopus.ha collection
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function
__metaclass__ = type

import json

import pytest

boto3 = pytest.importorskip('boto3')

# pylint: disable=wrong-import-position
from botocore.stub import ANY, Stubber  # noqa: E402

from ansible_collections.octopus.ha.tests.unit.compat import patch_module_args  # noqa: E402
from ansible_collections.amazon.aws.plugins.module_utils import cloud  # noqa: E402
from ansible_collections.amazon.aws.plugins.module_utils.modules import AnsibleAWSModule  # noqa: E402
from ansible_collections.amazon.aws.plugins.module_utils.retries import RetryingBotoClientWrapper  # noqa: E402
from ansible_collections.octopus.ha.plugins.modules import autoscaling_lifecycle_action as lam  # noqa: E402

ASG = 'octopus-ha'
HOOK = 'octopus-drain'
IID = 'i-0abc1234def567890'
TOKEN = '0a1b2c3d-1111-2222-3333-444455556666'
NOT_ACTIVE = 'No active Lifecycle Action found with instance ID %s' % IID
IDS = dict(AutoScalingGroupName=ASG, LifecycleHookName=HOOK, InstanceId=IID, LifecycleActionToken=TOKEN)
HOOK_REQ = dict(AutoScalingGroupName=ASG, LifecycleHookNames=[HOOK])


def hook_response(timeout=3600, global_timeout=None):
    return {'LifecycleHooks': [{'LifecycleHookName': HOOK, 'AutoScalingGroupName': ASG, 'HeartbeatTimeout': timeout,
                                'GlobalTimeout': global_timeout or min(172800, 100 * timeout),
                                'LifecycleTransition': 'autoscaling:EC2_INSTANCE_TERMINATING', 'DefaultResult': 'ABANDON'}]}


class FakeClock:
    def __init__(self):
        self.now = 1000.0
        self.wall = 1795000000.0
        self.sleeps = []

    def clock(self):
        return self.now

    def wallclock(self):
        return self.wall + self.now

    def sleep(self, seconds):
        self.sleeps.append(seconds)
        self.now += seconds


@pytest.fixture
def clock(monkeypatch):
    fake = FakeClock()
    monkeypatch.setattr(lam, '_clock', fake.clock)
    monkeypatch.setattr(lam, '_sleep', fake.sleep)
    monkeypatch.setattr(lam, '_wallclock', fake.wallclock)
    # AWSRetry sleeps through cloud.time.sleep: record instead of sleeping.
    monkeypatch.setattr(cloud, 'time', type('T', (), {'sleep': staticmethod(fake.sleep)}))
    return fake


@pytest.fixture
def aws(monkeypatch, clock):
    """Stubbed autoscaling and sqs clients handed out by AnsibleAWSModule.client."""
    clients = {}
    stubs = {}
    for service in ('autoscaling', 'sqs', 'ec2'):
        client = boto3.client(service, region_name='us-east-1', aws_access_key_id='x', aws_secret_access_key='y')
        clients[service] = client
        stubs[service] = Stubber(client)
        stubs[service].activate()
    made = []

    def fake_client(self, service, retry_decorator=None, **kwargs):
        made.append(service)
        return RetryingBotoClientWrapper(clients[service], retry_decorator)

    monkeypatch.setattr(AnsibleAWSModule, 'client', fake_client)
    stubs['made'] = made
    return stubs


def run_module(capsys, args, check_mode=False):
    base = dict(asg_name=ASG, hook_name=HOOK, instance_id=IID, lifecycle_action_token=TOKEN, region='us-east-1')
    base.update(args)
    base = dict((k, v) for k, v in base.items() if v is not None)
    if check_mode:
        base['_ansible_check_mode'] = True
    with patch_module_args(base):
        with pytest.raises(SystemExit):
            lam.main()
    return json.loads(capsys.readouterr().out)


def warnings(res):
    """Warning texts (ansible-core 2.19 returns structured warning summaries)."""
    return [w['event']['msg'] if isinstance(w, dict) else w for w in res.get('warnings', [])]


def test_complete_continue(aws, capsys):
    aws['autoscaling'].add_response('complete_lifecycle_action', {}, dict(IDS, LifecycleActionResult='CONTINUE'))
    res = run_module(capsys, dict(action='complete', result='CONTINUE'))
    assert res['changed'] is True
    assert res['active'] is True
    assert res['stopped_because'] == 'once'
    assert res['lifecycle_action']['result'] == 'CONTINUE'
    aws['autoscaling'].assert_no_pending_responses()


def test_complete_without_token(aws, capsys):
    ids = dict(IDS)
    del ids['LifecycleActionToken']
    aws['autoscaling'].add_response('complete_lifecycle_action', {}, dict(ids, LifecycleActionResult='ABANDON'))
    res = run_module(capsys, dict(action='complete', result='ABANDON', lifecycle_action_token=None))
    assert res['changed'] is True


def test_complete_already_done_is_noop(aws, capsys):
    aws['autoscaling'].add_client_error('complete_lifecycle_action', 'ValidationError', NOT_ACTIVE, 400)
    res = run_module(capsys, dict(action='complete', result='CONTINUE'))
    assert res['changed'] is False
    assert res['active'] is False
    assert res['reason'] == NOT_ACTIVE
    assert res['stopped_because'] == 'inactive'
    assert 'failed' not in res


def test_other_validation_error_fails(aws, capsys):
    aws['autoscaling'].add_client_error('complete_lifecycle_action', 'ValidationError', 'LifecycleHook not found', 400)
    res = run_module(capsys, dict(action='complete', result='CONTINUE'))
    assert res['failed'] is True
    assert 'Could not complete the lifecycle action' in res['msg']


def test_throttling_is_retried(aws, capsys, clock):
    aws['autoscaling'].add_client_error('complete_lifecycle_action', 'Throttling', 'Rate exceeded', 400)
    aws['autoscaling'].add_client_error('complete_lifecycle_action', 'InternalFailure', 'oops', 500)
    aws['autoscaling'].add_response('complete_lifecycle_action', {}, dict(IDS, LifecycleActionResult='CONTINUE'))
    res = run_module(capsys, dict(action='complete', result='CONTINUE'))
    assert res['changed'] is True
    assert len(clock.sleeps) == 2
    aws['autoscaling'].assert_no_pending_responses()


def test_access_denied_is_not_retried(aws, capsys, clock):
    aws['autoscaling'].add_client_error('complete_lifecycle_action', 'AccessDenied', 'not allowed', 403)
    res = run_module(capsys, dict(action='complete', result='CONTINUE'))
    assert res['failed'] is True
    assert clock.sleeps == []


def test_single_heartbeat(aws, capsys):
    aws['autoscaling'].add_response('describe_lifecycle_hooks', hook_response(), HOOK_REQ)
    aws['autoscaling'].add_response('record_lifecycle_action_heartbeat', {}, IDS)
    res = run_module(capsys, dict(action='heartbeat'))
    assert res['changed'] is True
    assert res['heartbeats'] == 1
    assert res['heartbeat_timeout'] == 3600
    assert res['stopped_because'] == 'once'
    assert 'sqs' not in aws['made']


def test_heartbeat_on_expired_action_is_noop(aws, capsys):
    aws['autoscaling'].add_response('describe_lifecycle_hooks', hook_response(), HOOK_REQ)
    aws['autoscaling'].add_client_error('record_lifecycle_action_heartbeat', 'ValidationError', NOT_ACTIVE, 400)
    res = run_module(capsys, dict(action='heartbeat'))
    assert res['changed'] is False
    assert res['active'] is False
    assert res['reason'] == NOT_ACTIVE


def test_check_mode_sends_nothing(aws, capsys):
    aws['autoscaling'].add_response('describe_lifecycle_hooks', hook_response(), HOOK_REQ)
    aws['autoscaling'].add_response('describe_auto_scaling_instances', {'AutoScalingInstances': [{
        'InstanceId': IID, 'AutoScalingGroupName': ASG, 'AvailabilityZone': 'us-east-1a', 'LifecycleState': 'Terminating:Wait',
        'HealthStatus': 'HEALTHY', 'ProtectedFromScaleIn': False}]}, {'InstanceIds': [IID]})
    res = run_module(capsys, dict(action='complete', result='CONTINUE'), check_mode=True)
    # Any complete/heartbeat call would hit the stubber with no queued response and fail the module.
    assert res['changed'] is True
    assert res['stopped_because'] == 'check_mode'
    aws['autoscaling'].assert_no_pending_responses()


def test_check_mode_predicts_no_action(aws, capsys):
    aws['autoscaling'].add_response('describe_lifecycle_hooks', hook_response(), HOOK_REQ)
    aws['autoscaling'].add_response('describe_auto_scaling_instances', {'AutoScalingInstances': [{
        'InstanceId': IID, 'AutoScalingGroupName': ASG, 'AvailabilityZone': 'us-east-1a', 'LifecycleState': 'InService',
        'HealthStatus': 'HEALTHY', 'ProtectedFromScaleIn': False}]}, {'InstanceIds': [IID]})
    res = run_module(capsys, dict(action='heartbeat', until_complete=True, interval=10), check_mode=True)
    assert res['changed'] is False
    assert 'InService' in res['reason']


def test_until_complete_heartbeats_until_inactive(aws, capsys, clock):
    aws['autoscaling'].add_response('describe_lifecycle_hooks', hook_response(60), HOOK_REQ)
    for dummy in range(3):
        aws['autoscaling'].add_response('record_lifecycle_action_heartbeat', {}, IDS)
        aws['sqs'].add_response('change_message_visibility', {}, dict(QueueUrl='http://q', ReceiptHandle='rh', VisibilityTimeout=90))
    aws['autoscaling'].add_client_error('record_lifecycle_action_heartbeat', 'ValidationError', NOT_ACTIVE, 400)
    res = run_module(capsys, dict(action='heartbeat', until_complete=True, interval=20, visibility_timeout=90,
                                  sqs_queue_url='http://q', sqs_receipt_handle='rh'))
    assert res['heartbeats'] == 3
    assert res['visibility_extensions'] == 3
    assert res['stopped_because'] == 'inactive'
    assert res['active'] is False
    assert res['changed'] is True
    assert not warnings(res)
    assert sum(clock.sleeps) == pytest.approx(60)
    aws['sqs'].assert_no_pending_responses()


def test_until_complete_default_visibility_and_interval(aws, capsys, clock):
    aws['autoscaling'].add_response('describe_lifecycle_hooks', hook_response(90), HOOK_REQ)
    aws['autoscaling'].add_response('record_lifecycle_action_heartbeat', {}, IDS)
    aws['sqs'].add_response('change_message_visibility', {}, dict(QueueUrl='http://q', ReceiptHandle='rh', VisibilityTimeout=90))
    aws['autoscaling'].add_client_error('record_lifecycle_action_heartbeat', 'ValidationError', NOT_ACTIVE, 400)
    res = run_module(capsys, dict(action='heartbeat', until_complete=True, sqs_queue_url='http://q', sqs_receipt_handle='rh'))
    assert res['interval'] == 30
    assert res['heartbeats'] == 1


def test_until_complete_warns_when_interval_too_close(aws, capsys, clock):
    aws['autoscaling'].add_response('describe_lifecycle_hooks', hook_response(60), HOOK_REQ)
    aws['autoscaling'].add_client_error('record_lifecycle_action_heartbeat', 'ValidationError', NOT_ACTIVE, 400)
    res = run_module(capsys, dict(action='heartbeat', until_complete=True, interval=50))
    assert any('80%' in w and '60 s' in w for w in warnings(res))


def test_until_complete_stops_at_max_duration(aws, capsys, clock):
    aws['autoscaling'].add_response('describe_lifecycle_hooks', hook_response(300), HOOK_REQ)
    for dummy in range(4):
        aws['autoscaling'].add_response('record_lifecycle_action_heartbeat', {}, IDS)
    res = run_module(capsys, dict(action='heartbeat', until_complete=True, interval=30, max_duration=100))
    assert res['stopped_because'] == 'max_duration'
    assert res['heartbeats'] == 4
    assert res['active'] is True


def test_until_complete_keeps_going_when_throttled(aws, capsys, clock, monkeypatch):
    monkeypatch.setattr(lam, 'RETRY', lam.AWSRetry.jittered_backoff(retries=2, delay=1))
    aws['autoscaling'].add_response('describe_lifecycle_hooks', hook_response(300), HOOK_REQ)
    aws['autoscaling'].add_client_error('record_lifecycle_action_heartbeat', 'Throttling', 'Rate exceeded', 400)
    aws['autoscaling'].add_client_error('record_lifecycle_action_heartbeat', 'Throttling', 'Rate exceeded', 400)
    aws['autoscaling'].add_response('record_lifecycle_action_heartbeat', {}, IDS)
    aws['autoscaling'].add_client_error('record_lifecycle_action_heartbeat', 'ValidationError', NOT_ACTIVE, 400)
    res = run_module(capsys, dict(action='heartbeat', until_complete=True, interval=30))
    assert res['heartbeats'] == 1
    assert res['failed_heartbeats'] == 1
    assert res['stopped_because'] == 'inactive'
    assert any('still failed after the retries' in w and IID in w for w in warnings(res))


def test_until_complete_stop_file(aws, capsys, clock, tmp_path, monkeypatch):
    stop = tmp_path / 'stop'
    aws['autoscaling'].add_response('describe_lifecycle_hooks', hook_response(300), HOOK_REQ)
    aws['autoscaling'].add_response('record_lifecycle_action_heartbeat', {}, IDS)

    def sleep_then_stop(seconds):
        clock.now += seconds
        stop.write_text('')

    monkeypatch.setattr(lam, '_sleep', sleep_then_stop)
    res = run_module(capsys, dict(action='heartbeat', until_complete=True, interval=30, stop_file=str(stop)))
    assert res['stopped_because'] == 'stop_file'
    assert res['heartbeats'] == 1


def test_sqs_failure_only_warns(aws, capsys, clock):
    aws['autoscaling'].add_response('describe_lifecycle_hooks', hook_response(300), HOOK_REQ)
    aws['autoscaling'].add_response('record_lifecycle_action_heartbeat', {}, IDS)
    aws['sqs'].add_client_error('change_message_visibility', 'ReceiptHandleIsInvalid', 'gone', 400)
    aws['autoscaling'].add_response('record_lifecycle_action_heartbeat', {}, IDS)
    aws['autoscaling'].add_client_error('record_lifecycle_action_heartbeat', 'ValidationError', NOT_ACTIVE, 400)
    res = run_module(capsys, dict(action='heartbeat', until_complete=True, interval=30, sqs_queue_url='http://q', sqs_receipt_handle='rh'))
    assert res['heartbeats'] == 2
    assert res['visibility_extensions'] == 0
    assert any('visibility' in w for w in warnings(res))


def test_hook_unreadable_warns(aws, capsys, clock):
    aws['autoscaling'].add_client_error('describe_lifecycle_hooks', 'AccessDenied', 'no', 403)
    aws['autoscaling'].add_response('record_lifecycle_action_heartbeat', {}, IDS)
    res = run_module(capsys, dict(action='heartbeat'))
    assert res['changed'] is True
    assert res['heartbeat_timeout'] is None
    assert any('Could not read lifecycle hook' in w for w in warnings(res))


@pytest.mark.parametrize('args, message', [
    (dict(action='complete'), 'result'),
    (dict(action='complete', result='CONTINUE', until_complete=True), 'only valid with action=heartbeat'),
    (dict(action='heartbeat', interval=0, until_complete=True), 'at least 1 second'),
    (dict(action='heartbeat', visibility_timeout=50000, sqs_queue_url='q', sqs_receipt_handle='r'), 'visibility_timeout'),
    (dict(action='heartbeat', sqs_queue_url='q'), 'sqs_receipt_handle'),
    (dict(action='heartbeat', instance_id=None, lifecycle_action_token=None), 'one of the following'),
    (dict(action='heartbeat', until_complete=True, max_duration=43201, sqs_queue_url='q', sqs_receipt_handle='r'), '12 hours'),
    (dict(action='heartbeat', until_complete=True, expect_active=True), 'expect_active'),
    (dict(action='heartbeat', notification_time='yesterday'), 'ISO 8601'),
    (dict(action='complete', result='CONTINUE', marker_tag='x'), 'only valid with action=heartbeat'),
])
def test_bad_arguments_fail_before_any_call(aws, capsys, args, message):
    res = run_module(capsys, args)
    assert res['failed'] is True
    assert message in res['msg']
    assert aws['made'] == []


def test_resource_contention_is_retried(aws, capsys, clock):
    for dummy in range(3):
        aws['autoscaling'].add_client_error('complete_lifecycle_action', 'ResourceContention', 'pending update', 500)
    aws['autoscaling'].add_response('complete_lifecycle_action', {}, dict(IDS, LifecycleActionResult='CONTINUE'))
    res = run_module(capsys, dict(action='complete', result='CONTINUE'))
    assert res['changed'] is True
    assert len(clock.sleeps) == 3
    aws['autoscaling'].assert_no_pending_responses()


def test_expect_active_fails_naming_the_instance(aws, capsys):
    aws['autoscaling'].add_client_error('complete_lifecycle_action', 'ValidationError', NOT_ACTIVE, 400)
    res = run_module(capsys, dict(action='complete', result='CONTINUE', expect_active=True))
    assert res['failed'] is True
    assert IID in res['msg'] and 'no longer active' in res['msg'] and 'expired' in res['msg']
    assert res['active'] is False


def test_expect_active_single_heartbeat(aws, capsys):
    aws['autoscaling'].add_response('describe_lifecycle_hooks', hook_response(), HOOK_REQ)
    aws['autoscaling'].add_client_error('record_lifecycle_action_heartbeat', 'ValidationError', NOT_ACTIVE, 400)
    res = run_module(capsys, dict(action='heartbeat', expect_active=True))
    assert res['failed'] is True and IID in res['msg']


def test_heartbeat_loop_stops_and_fails_on_an_error_retrying_cannot_fix(aws, capsys, clock):
    aws['autoscaling'].add_response('describe_lifecycle_hooks', hook_response(300), HOOK_REQ)
    aws['autoscaling'].add_response('record_lifecycle_action_heartbeat', {}, IDS)
    aws['autoscaling'].add_client_error('record_lifecycle_action_heartbeat', 'AccessDenied', 'not allowed', 403)
    res = run_module(capsys, dict(action='heartbeat', until_complete=True, interval=30))
    assert res['failed'] is True
    assert res['stopped_because'] == 'error'
    assert res['heartbeats'] == 1
    assert 'AccessDenied' in res['last_error'] and IID in res['msg']


def test_transient_heartbeat_failure_keeps_the_loop_going(aws, capsys, clock, monkeypatch):
    monkeypatch.setattr(lam, 'RETRY', lam.AWSRetry.jittered_backoff(retries=2, delay=1, catch_extra_error_codes=lam.EXTRA_RETRY_CODES))
    aws['autoscaling'].add_response('describe_lifecycle_hooks', hook_response(300), HOOK_REQ)
    aws['autoscaling'].add_client_error('record_lifecycle_action_heartbeat', 'ResourceContention', 'pending', 500)
    aws['autoscaling'].add_client_error('record_lifecycle_action_heartbeat', 'ResourceContention', 'pending', 500)
    aws['autoscaling'].add_response('record_lifecycle_action_heartbeat', {}, IDS)
    aws['autoscaling'].add_client_error('record_lifecycle_action_heartbeat', 'ValidationError', NOT_ACTIVE, 400)
    res = run_module(capsys, dict(action='heartbeat', until_complete=True, interval=30))
    assert res['heartbeats'] == 1 and res['failed_heartbeats'] == 1
    assert res['stopped_because'] == 'inactive'
    assert 'failed' not in res


def test_global_timeout_left_and_warning_when_the_drain_cannot_fit(aws, capsys, clock):
    aws['autoscaling'].add_response('describe_lifecycle_hooks', hook_response(60), HOOK_REQ)  # GlobalTimeout 6000
    aws['autoscaling'].add_response('record_lifecycle_action_heartbeat', {}, IDS)
    sent = lam.datetime.datetime.fromtimestamp(clock.wallclock() - 5000, lam.datetime.timezone.utc).strftime('%Y-%m-%dT%H:%M:%S.000Z')
    res = run_module(capsys, dict(action='heartbeat', notification_time=sent, planned_seconds=1800, reserve_seconds=60))
    assert res['global_timeout'] == 6000
    assert res['seconds_left'] == 1000
    assert res['budget_seconds'] == 940
    assert any(IID in w and 'GlobalTimeout' in w and '1800' in w for w in warnings(res))


def test_no_warning_when_the_drain_fits(aws, capsys, clock):
    aws['autoscaling'].add_response('describe_lifecycle_hooks', hook_response(3600), HOOK_REQ)
    aws['autoscaling'].add_response('record_lifecycle_action_heartbeat', {}, IDS)
    sent = lam.datetime.datetime.fromtimestamp(clock.wallclock(), lam.datetime.timezone.utc).strftime('%Y-%m-%dT%H:%M:%SZ')
    res = run_module(capsys, dict(action='heartbeat', notification_time=sent, planned_seconds=1800))
    assert res['seconds_left'] == 172800
    assert not warnings(res)


def test_sqs_arguments_cap_the_default_duration_at_12_hours(aws, capsys, clock):
    aws['autoscaling'].add_response('describe_lifecycle_hooks', hook_response(7200), HOOK_REQ)
    for dummy in range(3):
        aws['autoscaling'].add_response('record_lifecycle_action_heartbeat', {}, IDS)
        aws['sqs'].add_response('change_message_visibility', {}, dict(QueueUrl='http://q', ReceiptHandle='rh', VisibilityTimeout=43200))
    res = run_module(capsys, dict(action='heartbeat', until_complete=True, interval=20000, sqs_queue_url='http://q', sqs_receipt_handle='rh'))
    assert res['stopped_because'] == 'max_duration'
    assert sum(clock.sleeps) == pytest.approx(43200)


def test_marker_tag_is_refreshed_at_each_beat_and_removed_at_the_end(aws, capsys, clock):
    aws['autoscaling'].add_response('describe_lifecycle_hooks', hook_response(300), HOOK_REQ)
    for dummy in range(2):
        aws['autoscaling'].add_response('record_lifecycle_action_heartbeat', {}, IDS)
        aws['ec2'].add_response('create_tags', {}, {'Resources': [IID], 'Tags': [{'Key': 'octopus-ha:handler', 'Value': ANY}]})
    aws['autoscaling'].add_client_error('record_lifecycle_action_heartbeat', 'ValidationError', NOT_ACTIVE, 400)
    aws['ec2'].add_response('delete_tags', {}, {'Resources': [IID], 'Tags': [{'Key': 'octopus-ha:handler'}]})
    res = run_module(capsys, dict(action='heartbeat', until_complete=True, interval=30, marker_tag='octopus-ha:handler'))
    assert res['heartbeats'] == 2
    assert res['stopped_because'] == 'inactive'
