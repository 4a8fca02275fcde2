# -*- coding: utf-8 -*-

# Copyright: Contributors to the octopus.ha collection
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

"""autoscaling_lifecycle_action and sqs_message through ansible against the patched moto server."""

from __future__ import absolute_import, division, print_function
__metaclass__ = type

import json

import pytest

MODULE = 'octopus.ha.autoscaling_lifecycle_action'


def ids(instance_id, body=None):
    args = dict(asg_name='octopus-ha', hook_name='octopus-drain', instance_id=instance_id)
    if body:
        args['lifecycle_action_token'] = body['LifecycleActionToken']
    return args


def test_complete_then_complete_again_is_noop(moto, adhoc):
    instances = moto.create_group()
    queue = moto.create_queue()
    body = moto.start_lifecycle_action(queue, instances[0])
    assert moto.lifecycle_state(instances[0]) == 'Terminating:Wait'

    first = adhoc(MODULE, dict(ids(instances[0], body), action='complete', result='CONTINUE'))
    assert first['changed'] is True, first
    second = adhoc(MODULE, dict(ids(instances[0], body), action='complete', result='CONTINUE'))
    assert second['changed'] is False
    assert second['active'] is False
    assert 'No active Lifecycle Action found' in second['reason']
    accepted = moto.recorder.accepted('complete', instances[0])
    assert len(accepted) == 1
    assert accepted[0]['LifecycleActionResult'] == 'CONTINUE'
    assert accepted[0]['LifecycleActionToken'] == body['LifecycleActionToken']
    assert moto.lifecycle_state(instances[0]) == 'Terminating:Proceed'


def test_check_mode_sends_nothing(moto, adhoc):
    instances = moto.create_group()
    queue = moto.create_queue()
    moto.start_lifecycle_action(queue, instances[0])
    res = adhoc(MODULE, dict(ids(instances[0]), action='complete', result='CONTINUE'), check=True)
    assert res['changed'] is True
    assert 'Terminating:Wait' in res['reason']
    other = adhoc(MODULE, dict(ids(instances[1]), action='heartbeat'), check=True)
    assert other['changed'] is False
    assert moto.recorder.calls == []


def test_heartbeat_loop_warns_and_stops_when_completed(moto, adhoc, tmp_path):
    instances = moto.create_group(heartbeat_timeout=30)
    queue = moto.create_queue()
    body = moto.start_lifecycle_action(queue, instances[0])
    sqs = moto.client('sqs')
    message = sqs.receive_message(QueueUrl=queue, VisibilityTimeout=5)['Messages'][0]
    # Completing before the loop starts: the first heartbeat gets the ValidationError and the loop ends.
    adhoc(MODULE, dict(ids(instances[0], body), action='complete', result='CONTINUE'))
    res = adhoc(MODULE, dict(ids(instances[0], body), action='heartbeat', until_complete=True, interval=25, max_duration=60,
                             sqs_queue_url=queue, sqs_receipt_handle=message['ReceiptHandle']))
    assert res['stopped_because'] == 'inactive'
    assert res['heartbeats'] == 0
    assert res['changed'] is False
    assert any('80%' in json.dumps(w) for w in res['warnings'])


def test_heartbeat_loop_extends_visibility_until_stop_file(moto, adhoc, tmp_path):
    instances = moto.create_group(heartbeat_timeout=30)
    queue = moto.create_queue()
    body = moto.start_lifecycle_action(queue, instances[0])
    sqs = moto.client('sqs')
    message = sqs.receive_message(QueueUrl=queue, VisibilityTimeout=2)['Messages'][0]
    stop = tmp_path / 'stop'
    stop.write_text('')
    # A single heartbeat with visibility extension, then the stop file ends a loop.
    res = adhoc(MODULE, dict(ids(instances[0], body), action='heartbeat', visibility_timeout=120,
                             sqs_queue_url=queue, sqs_receipt_handle=message['ReceiptHandle']))
    assert res['heartbeats'] == 1
    assert res['visibility_extensions'] == 1
    assert sqs.receive_message(QueueUrl=queue, WaitTimeSeconds=0).get('Messages') is None
    res = adhoc(MODULE, dict(ids(instances[0], body), action='heartbeat', until_complete=True, interval=1, stop_file=str(stop)))
    assert res['stopped_because'] == 'stop_file'
    assert len(moto.recorder.accepted('heartbeat', instances[0])) == 1


def test_sqs_message_delete_is_idempotent(moto, adhoc):
    queue = moto.create_queue()
    moto.send(queue, {'hello': 'world'})
    sqs = moto.client('sqs')
    handle = sqs.receive_message(QueueUrl=queue)['Messages'][0]['ReceiptHandle']
    check = adhoc('octopus.ha.sqs_message', dict(queue_url=queue, receipt_handle=handle), check=True)
    assert check['changed'] is True
    assert moto.queue_depth(queue) == 1
    first = adhoc('octopus.ha.sqs_message', dict(queue_url=queue, receipt_handle=handle))
    assert first['changed'] is True
    assert moto.queue_depth(queue) == 0
    again = adhoc('octopus.ha.sqs_message', dict(queue_url=queue, receipt_handle='bogus-handle'))
    assert again['changed'] is False
    assert 'receipt handle' in again['reason']


def test_sqs_message_release(moto, adhoc):
    queue = moto.create_queue(visibility_timeout=300)
    moto.send(queue, {'hello': 'world'})
    sqs = moto.client('sqs')
    handle = sqs.receive_message(QueueUrl=queue)['Messages'][0]['ReceiptHandle']
    res = adhoc('octopus.ha.sqs_message', dict(queue_url=queue, receipt_handle=handle, state='present', visibility_timeout=0))
    assert res['changed'] is True
    assert len(sqs.receive_message(QueueUrl=queue, WaitTimeSeconds=1)['Messages']) == 1


def test_harness_clock_expires_from_the_notification_and_at_the_global_timeout(moto):
    """The harness behaves like AWS: HeartbeatTimeout counts from the notification, GlobalTimeout is enforced.

    Only the test moves AWS time (moto.clock), so these expiries never depend on the machine's speed."""
    from botocore.exceptions import ClientError
    instances = moto.create_group(size=3, heartbeat_timeout=30)
    queue = moto.create_queue()
    asg = moto.client('autoscaling')
    ids = dict(AutoScalingGroupName='octopus-ha', LifecycleHookName='octopus-drain')
    silent, beating, old = instances
    moto.start_lifecycle_action(queue, silent)
    moto.start_lifecycle_action(queue, beating)
    moto.start_lifecycle_action(queue, old, age=2990)  # kept alive until now; GlobalTimeout 3000 s ends in 10 s
    assert asg.describe_lifecycle_hooks(**dict(AutoScalingGroupName='octopus-ha'))['LifecycleHooks'][0]['GlobalTimeout'] == 3000
    for dummy in range(2):
        moto.clock.advance(20)
        asg.record_lifecycle_action_heartbeat(InstanceId=beating, **ids)
    # 40 s after the notification: no heartbeat ever came for `silent`, so it expired at 30 s.
    assert moto.recorder.expired(silent) == ['HeartbeatTimeout']
    assert moto.lifecycle_state(silent) == 'Terminating:Proceed', 'DefaultResult ABANDON: a terminating instance terminates'
    assert moto.recorder.expired(beating) == []
    assert moto.recorder.expired(old) == ['GlobalTimeout'], 'no heartbeat can keep an action past its GlobalTimeout'
    with pytest.raises(ClientError) as err:
        asg.complete_lifecycle_action(InstanceId=silent, LifecycleActionResult='CONTINUE', **ids)
    assert 'No active Lifecycle Action found' in str(err.value)
    asg.complete_lifecycle_action(InstanceId=beating, LifecycleActionResult='CONTINUE', **ids)


def test_module_retries_injected_contention_and_throttling(moto, adhoc):
    """More failures than botocore's own retries (5 attempts): the module's backoff gets past them."""
    instances = moto.create_group()
    queue = moto.create_queue()
    body = moto.start_lifecycle_action(queue, instances[0])
    moto.recorder.inject('heartbeat', 'Throttling', count=6)
    moto.recorder.inject('complete', 'ResourceContention', count=6)
    beat = adhoc(MODULE, dict(ids(instances[0], body), action='heartbeat', expect_active=True))
    assert beat['changed'] is True, beat
    done = adhoc(MODULE, dict(ids(instances[0], body), action='complete', result='CONTINUE', expect_active=True))
    assert done['changed'] is True, done
    assert len([c for c in moto.recorder.calls if c.get('injected')]) == 12


def test_expect_active_fails_when_the_action_expired(moto, adhoc):
    instances = moto.create_group(heartbeat_timeout=30)
    queue = moto.create_queue()
    body = moto.start_lifecycle_action(queue, instances[0])
    moto.clock.advance(31)
    res = adhoc(MODULE, dict(ids(instances[0], body), action='complete', result='CONTINUE', expect_active=True))
    assert res['failed'] is True and instances[0] in res['msg'] and 'no longer active' in res['msg']
    noop = adhoc(MODULE, dict(ids(instances[0], body), action='complete', result='CONTINUE'))
    assert noop['changed'] is False and not noop.get('failed')


def test_lifecycle_info_reads_hook_waiting_instances_ages_and_markers(moto, adhoc):
    instances = moto.create_group(size=3, heartbeat_timeout=60)
    queue = moto.create_queue()
    moto.start_lifecycle_action(queue, instances[0], age=900)
    moto.start_lifecycle_action(None, instances[1])
    moto.client('ec2').create_tags(Resources=[instances[1]], Tags=[{'Key': 'octopus-ha:lifecycle-handler', 'Value': '2026-01-01T00:00:00Z'}])
    res = adhoc('octopus.ha.autoscaling_lifecycle_info', dict(asg_name='octopus-ha', hook_name='octopus-drain'))
    assert res['hook'] == dict(name='octopus-drain', transition='autoscaling:EC2_INSTANCE_TERMINATING', heartbeat_timeout=60,
                               global_timeout=6000, default_result='ABANDON'), res
    by_id = dict((i['instance_id'], i) for i in res['instances'])
    assert by_id[instances[0]]['waiting'] and by_id[instances[0]]['wait_age'] >= 900
    assert by_id[instances[1]]['marker'] == '2026-01-01T00:00:00Z' and by_id[instances[1]]['marker_age'] > 0
    assert by_id[instances[2]]['waiting'] is False and by_id[instances[2]]['wait_age'] is None
    assert by_id[instances[0]]['marker'] is None


@pytest.mark.parametrize('args, message', [
    (dict(asg_name='octopus-hq', hook_name='octopus-drain'), 'Auto Scaling group octopus-hq does not exist'),
    (dict(asg_name='octopus-ha', hook_name='octopus-drian'), 'Lifecycle hook octopus-drian does not exist'),
])
def test_lifecycle_info_fails_on_a_wrong_group_or_hook(moto, adhoc, args, message):
    moto.create_group()
    res = adhoc('octopus.ha.autoscaling_lifecycle_info', args)
    assert res['failed'] is True and message in res['msg']


def test_the_aws_action_group_sets_the_options_of_our_modules_and_of_amazon_aws(moto, eda_playbook, tmp_path):
    """group/octopus.ha.aws extends amazon.aws.aws: one module_defaults entry reaches both (issue 11 section 2).

    The environment points at a closed port, so only the group's endpoint_url can reach moto."""
    instances = moto.create_group()
    playbook = tmp_path / 'group.yml'
    playbook.write_text(json.dumps([{
        'name': 'One module_defaults group for every AWS module', 'hosts': 'localhost', 'gather_facts': False,
        'module_defaults': {'group/octopus.ha.aws': {'endpoint_url': moto.url, 'region': 'us-east-1'}},
        'tasks': [
            {'name': 'Ours', 'octopus.ha.autoscaling_lifecycle_info': {'asg_name': 'octopus-ha', 'hook_name': 'octopus-drain'},
             'register': 'ours'},
            {'name': 'amazon.aws', 'amazon.aws.ec2_instance_info': {'instance_ids': [instances[0]]}, 'register': 'theirs'},
            {'name': 'Check', 'ansible.builtin.assert': {
                'that': ['ours.hook.name == "octopus-drain"', 'theirs.instances | length == 1']}},
        ]}]))
    proc = eda_playbook(str(playbook), env={'AWS_ENDPOINT_URL': 'http://127.0.0.1:9', 'AWS_MAX_ATTEMPTS': '1'})
    assert proc.returncode == 0, proc.stdout[-4000:] + proc.stderr[-2000:]
