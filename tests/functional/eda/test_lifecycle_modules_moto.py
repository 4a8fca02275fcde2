# -*- coding: utf-8 -*-

# Copyright: Contributors to the octopus.ha collection
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

"""autoscaling_lifecycle_action and sqs_message through ansible against the patched moto server."""

from __future__ import absolute_import, division, print_function
__metaclass__ = type

import json
import time

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


def test_harness_expires_an_action_without_heartbeats(moto):
    """Negative control for the heartbeat e2e test: the harness really expires silent actions."""
    from botocore.exceptions import ClientError
    instances = moto.create_group()
    queue = moto.create_queue()
    moto.start_lifecycle_action(queue, instances[0], heartbeat_timeout=1)
    asg = moto.client('autoscaling')
    asg.record_lifecycle_action_heartbeat(AutoScalingGroupName='octopus-ha', LifecycleHookName='octopus-drain', InstanceId=instances[0])
    time.sleep(1.5)
    with pytest.raises(ClientError) as err:
        asg.complete_lifecycle_action(AutoScalingGroupName='octopus-ha', LifecycleHookName='octopus-drain', InstanceId=instances[0],
                                      LifecycleActionResult='CONTINUE')
    assert 'No active Lifecycle Action found' in str(err.value)
    assert moto.recorder.expired(instances[0])
