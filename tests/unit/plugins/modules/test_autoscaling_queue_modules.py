# -*- coding: utf-8 -*-

# Copyright: Contributors to the octopus.ha collection
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

"""cloudwatch_metric_data, autoscaling_scale_in_protection and autoscaling_queue_capacity with botocore Stubber.

A Stubber fails on any call it was not told about, so these tests also prove which calls are NOT sent
(check mode, nothing to change, cooldown).
"""

from __future__ import absolute_import, division, print_function
__metaclass__ = type

import datetime
import json

import pytest

boto3 = pytest.importorskip('boto3')

# pylint: disable=wrong-import-position
from botocore.stub import ANY, Stubber  # noqa: E402

from ansible_collections.octopus.ha.tests.unit.compat import patch_module_args  # noqa: E402
from ansible_collections.amazon.aws.plugins.module_utils import cloud  # noqa: E402
from ansible_collections.amazon.aws.plugins.module_utils.modules import AnsibleAWSModule  # noqa: E402
from ansible_collections.amazon.aws.plugins.module_utils.retries import RetryingBotoClientWrapper  # noqa: E402
from ansible_collections.octopus.ha.plugins.modules import autoscaling_queue_capacity as capacity  # noqa: E402
from ansible_collections.octopus.ha.plugins.modules import autoscaling_scale_in_protection as protection  # noqa: E402
from ansible_collections.octopus.ha.plugins.modules import cloudwatch_metric_data as metrics  # noqa: E402

GROUP = 'octopus-ha'
TAG = 'octopus-ha:last-capacity-change'


@pytest.fixture
def aws(monkeypatch):
    """Stubbed clients handed out by AnsibleAWSModule.client; AWSRetry records its sleeps instead of sleeping."""
    sleeps = []
    monkeypatch.setattr(cloud, 'time', type('T', (), {'sleep': staticmethod(sleeps.append)}))
    stubs = {'sleeps': sleeps}
    for service in ('autoscaling', 'cloudwatch'):
        client = boto3.client(service, region_name='us-east-1', aws_access_key_id='x', aws_secret_access_key='y')
        stubs[service] = Stubber(client)
        stubs[service].activate()
        stubs[service + '_client'] = client

    def fake_client(self, service, retry_decorator=None, **kwargs):
        return RetryingBotoClientWrapper(stubs[service + '_client'], retry_decorator)

    monkeypatch.setattr(AnsibleAWSModule, 'client', fake_client)
    yield stubs
    for service in ('autoscaling', 'cloudwatch'):
        stubs[service].assert_no_pending_responses()


def run(capsys, module, args, check_mode=False, diff=False):
    base = dict(region='us-east-1')
    base.update(args)
    if check_mode:
        base['_ansible_check_mode'] = True
    if diff:
        base['_ansible_diff'] = True
    with patch_module_args(base):
        with pytest.raises(SystemExit) as exc:
            module.main()
    return json.loads(capsys.readouterr().out), exc.value.code


def texts(result):
    return [w['event']['msg'] if isinstance(w, dict) else w for w in result.get('warnings', [])]


# ---------------------------------------------------------------------------- cloudwatch_metric_data


def datum(name, value, **extra):
    item = dict(metric_name=name, value=value)
    item.update(extra)
    return item


def test_metrics_batches_dimensions_and_timestamps(aws, capsys):
    data = [datum('QueuedTasks', 4, unit='Count', timestamp='2026-01-01T00:10:00Z')]
    data += [datum('M%02d' % n, n, timestamp=1767226200, dimensions={'Extra': 'x'}) for n in range(24)]
    stamp = datetime.datetime(2026, 1, 1, 0, 10, tzinfo=datetime.timezone.utc)
    dims = [dict(Name='Cluster', Value='octopus-prod'), dict(Name='AutoScalingGroupName', Value=GROUP)]
    first = [dict(MetricName='QueuedTasks', Value=4.0, Unit='Count', StorageResolution=60, Dimensions=dims, Timestamp=stamp)]
    first += [dict(MetricName='M%02d' % n, Value=float(n), Unit='None', StorageResolution=60, Timestamp=stamp,
                   Dimensions=dims + [dict(Name='Extra', Value='x')]) for n in range(19)]
    second = [dict(MetricName='M%02d' % n, Value=float(n), Unit='None', StorageResolution=60, Timestamp=stamp,
                   Dimensions=dims + [dict(Name='Extra', Value='x')]) for n in range(19, 24)]
    aws['cloudwatch'].add_response('put_metric_data', {}, dict(Namespace='Octopus/HA', MetricData=first))
    aws['cloudwatch'].add_response('put_metric_data', {}, dict(Namespace='Octopus/HA', MetricData=second))
    result, code = run(capsys, metrics, dict(namespace='Octopus/HA', metric_data=data,
                                             dimensions=dict(Cluster='octopus-prod', AutoScalingGroupName=GROUP)))
    assert code == 0 and result['changed'] is True and result['put_requests'] == 2
    assert result['metric_data'][0]['Timestamp'] == '2026-01-01T00:10:00+00:00'


def test_metrics_check_mode_and_empty_send_nothing(aws, capsys):
    result, dummy = run(capsys, metrics, dict(namespace='Octopus/HA', metric_data=[datum('QueuedTasks', 1)]), check_mode=True)
    assert result['changed'] is True and result['put_requests'] == 0 and result['metric_data'][0]['MetricName'] == 'QueuedTasks'
    result, dummy = run(capsys, metrics, dict(namespace='Octopus/HA', metric_data=[]))
    assert result['changed'] is False and result['put_requests'] == 0


@pytest.mark.parametrize('args, message', [
    (dict(namespace='AWS/EC2', metric_data=[datum('X', 1)]), 'reserved by AWS'),
    (dict(namespace='Octopus/HA', metric_data=[datum('X', float('nan'))]), 'metric_data[0].value must be a finite number'),
    (dict(namespace='Octopus/HA', metric_data=[datum('X', 1, timestamp='yesterday')]), 'metric_data[0].timestamp must be'),
])
def test_metrics_invalid_data_fails_before_any_call(aws, capsys, args, message):
    result, code = run(capsys, metrics, args)
    assert code == 1 and message in result['msg']


def test_metrics_throttling_is_retried_access_denied_is_not(aws, capsys):
    aws['cloudwatch'].add_client_error('put_metric_data', 'Throttling', 'Rate exceeded', 400)
    aws['cloudwatch'].add_response('put_metric_data', {}, dict(Namespace='Octopus/HA', MetricData=ANY))
    result, code = run(capsys, metrics, dict(namespace='Octopus/HA', metric_data=[datum('X', 1)]))
    assert code == 0 and result['put_requests'] == 1 and len(aws['sleeps']) == 1
    aws['cloudwatch'].add_client_error('put_metric_data', 'AccessDenied', 'not allowed', 403)
    result, code = run(capsys, metrics, dict(namespace='Octopus/HA', metric_data=[datum('X', 1)]))
    assert code == 1 and 'Could not publish metric data to namespace Octopus/HA (0 of 1' in result['msg']
    assert len(aws['sleeps']) == 1


# ---------------------------------------------------------------------------- autoscaling_scale_in_protection


def describe(instances, min_size=2, desired=None, max_size=6, tags=None):
    return {'AutoScalingGroups': [{
        'AutoScalingGroupName': GROUP, 'MinSize': min_size, 'MaxSize': max_size,
        'DesiredCapacity': len(instances) if desired is None else desired, 'DefaultCooldown': 300,
        'AvailabilityZones': ['us-east-1a'], 'HealthCheckType': 'EC2', 'CreatedTime': datetime.datetime(2026, 1, 1),
        'Tags': tags or [],
        'Instances': [{'InstanceId': iid, 'AvailabilityZone': 'us-east-1a', 'LifecycleState': state, 'HealthStatus': 'Healthy',
                       'ProtectedFromScaleIn': protected} for iid, state, protected in instances]}]}


DESCRIBE_REQ = dict(AutoScalingGroupNames=[GROUP])
FOUR = [('i-a', 'InService', False), ('i-b', 'InService', False), ('i-c', 'InService', False), ('i-d', 'InService', True)]
NODES = [dict(name='i-a', running_task_count=2, offline=False), dict(name='i-b', running_task_count=1, offline=False),
         dict(name='i-c', running_task_count=3, offline=False), dict(name='i-d', running_task_count=0, offline=False)]


def protect_call(stub, ids, value):
    stub.add_response('set_instance_protection', {}, dict(AutoScalingGroupName=GROUP, InstanceIds=ids, ProtectedFromScaleIn=value))


def test_protection_changes_only_what_must_change(aws, capsys):
    stub = aws['autoscaling']
    stub.add_response('describe_auto_scaling_groups', describe(FOUR), DESCRIBE_REQ)
    protect_call(stub, ['i-a', 'i-b', 'i-c'], True)
    protect_call(stub, ['i-d'], False)
    result, code = run(capsys, protection, dict(group_name=GROUP, nodes=NODES), diff=True)
    assert code == 0 and result['changed'] is True
    assert (result['protect'], result['unprotect'], result['kept_unprotected']) == (['i-a', 'i-b', 'i-c'], ['i-d'], None)
    assert result['diff']['after']['protected_from_scale_in'] == {'i-a': True, 'i-b': True, 'i-c': True, 'i-d': False}
    assert result['group'] == dict(name=GROUP, min_size=2, max_size=6, desired_capacity=4)
    # Second run on the new state: nothing to send (the Stubber would fail on a set_instance_protection).
    stub.add_response('describe_auto_scaling_groups', describe([(i, s, i != 'i-d') for i, s, p in FOUR]), DESCRIBE_REQ)
    result, code = run(capsys, protection, dict(group_name=GROUP, nodes=NODES))
    assert code == 0 and result['changed'] is False and result['protect'] == [] and result['unprotect'] == []


def test_protection_check_mode_lists_the_changes(aws, capsys):
    aws['autoscaling'].add_response('describe_auto_scaling_groups', describe(FOUR), DESCRIBE_REQ)
    result, dummy = run(capsys, protection, dict(group_name=GROUP, nodes=NODES), check_mode=True)
    assert result['changed'] is True and result['protect'] == ['i-a', 'i-b', 'i-c'] and result['unprotect'] == ['i-d']
    reasons = ['node i-a runs 2 tasks', 'node i-b runs 1 task', 'node i-c runs 3 tasks', 'node i-d is idle']
    assert [e['reason'] for e in result['plan']] == reasons


def test_protection_without_node_facts_changes_nothing(aws, capsys):
    aws['autoscaling'].add_response('describe_auto_scaling_groups', describe(FOUR), DESCRIBE_REQ)
    result, dummy = run(capsys, protection, dict(group_name=GROUP))
    assert result['changed'] is False and 'no scale-in protection was changed' in texts(result)[0]


def test_protection_batches_of_fifty(aws, capsys):
    many = [('i-%03d' % n, 'InService', False) for n in range(60)]
    nodes = [dict(name='i-%03d' % n, running_task_count=1) for n in range(60)]
    stub = aws['autoscaling']
    stub.add_response('describe_auto_scaling_groups', describe(many, min_size=60), DESCRIBE_REQ)
    protect_call(stub, ['i-%03d' % n for n in range(50)], True)
    protect_call(stub, ['i-%03d' % n for n in range(50, 60)], True)
    result, code = run(capsys, protection, dict(group_name=GROUP, nodes=nodes))
    assert code == 0 and len(result['protect']) == 60 and result['all_protected'] is True


def test_protection_rereads_once_when_an_instance_left_the_group(aws, capsys):
    stub = aws['autoscaling']
    stub.add_response('describe_auto_scaling_groups', describe(FOUR), DESCRIBE_REQ)
    stub.add_client_error('set_instance_protection', 'ValidationError', 'The instance i-c is not part of Auto Scaling group', 400)
    left = [FOUR[0], FOUR[1], FOUR[3]]
    stub.add_response('describe_auto_scaling_groups', describe(left, desired=3), DESCRIBE_REQ)
    protect_call(stub, ['i-a', 'i-b'], True)
    protect_call(stub, ['i-d'], False)
    result, code = run(capsys, protection, dict(group_name=GROUP, nodes=NODES))
    assert code == 0 and result['protect'] == ['i-a', 'i-b'] and result['group']['desired_capacity'] == 3


def test_protection_unknown_group_fails_with_a_sentence(aws, capsys):
    aws['autoscaling'].add_response('describe_auto_scaling_groups', {'AutoScalingGroups': []}, DESCRIBE_REQ)
    result, code = run(capsys, protection, dict(group_name=GROUP, nodes=NODES))
    assert code == 1 and result['msg'] == 'Auto Scaling group octopus-ha was not found. Check group_name and the region.'


# ---------------------------------------------------------------------------- autoscaling_queue_capacity


def poll(number, at, queued=12, running=10, cap=10, nodes=2, ok=True):
    return dict(poll=number, ok=ok, polled_at=at, observed_at=at, queued_task_count=queued if ok else None,
                running_task_count=running if ok else None, task_capacity=cap if ok else None, task_node_count=nodes)


BACKLOG = [poll(n, 1000 + 30 * n) for n in range(3)]
POLICY = dict(scale_out_polls=2, scale_in_polls=2, cooldown=120)


def test_capacity_scale_out_records_the_change_then_sets_the_capacity(aws, capsys, tmp_path):
    stub = aws['autoscaling']
    stub.add_response('describe_auto_scaling_groups', describe(FOUR, desired=4), DESCRIBE_REQ)
    stub.add_response('create_or_update_tags', {}, dict(Tags=[dict(ResourceId=GROUP, ResourceType='auto-scaling-group', Key=TAG,
                                                                   Value=ANY, PropagateAtLaunch=False)]))
    stub.add_response('set_desired_capacity', {}, dict(AutoScalingGroupName=GROUP, DesiredCapacity=6, HonorCooldown=False))
    log = tmp_path / 'decisions.jsonl'
    result, code = run(capsys, capacity, dict(POLICY, group_name=GROUP, history=BACKLOG, decision_log=str(log)))
    assert code == 0 and result['changed'] is True and result['applied'] is True
    decision = result['decision']
    assert (decision['action'], decision['desired_before'], decision['desired_after']) == ('scale_out', 4, 6)
    assert [e['poll'] for e in decision['evidence']] == [1, 2] and decision['last_change'] is None
    logged = [json.loads(line) for line in log.read_text().splitlines()]
    assert len(logged) == 1 and logged[0]['action'] == 'scale_out' and logged[0]['applied'] is True
    assert logged[0]['facts']['queued_task_count'] == 12 and logged[0]['group'] == GROUP


def test_capacity_cooldown_from_the_tag_sends_nothing(aws, capsys):
    tag = dict(Key=TAG, Value=json.dumps(dict(time=1030, action='scale_out')), ResourceId=GROUP, ResourceType='auto-scaling-group',
               PropagateAtLaunch=False)
    aws['autoscaling'].add_response('describe_auto_scaling_groups', describe(FOUR, tags=[tag]), DESCRIBE_REQ)
    result, code = run(capsys, capacity, dict(POLICY, group_name=GROUP, history=BACKLOG))
    decision = result['decision']
    assert code == 0 and result['changed'] is False and decision['action'] == 'none'
    assert decision['reason'].startswith('cooldown: 90 s left') and decision['last_change']['time'] == 1030


def test_capacity_check_mode_decides_and_logs_but_writes_nothing(aws, capsys, tmp_path):
    aws['autoscaling'].add_response('describe_auto_scaling_groups', describe(FOUR), DESCRIBE_REQ)
    log = tmp_path / 'decisions.jsonl'
    result, dummy = run(capsys, capacity, dict(POLICY, group_name=GROUP, history=BACKLOG, decision_log=str(log)), check_mode=True)
    assert result['changed'] is True and result['applied'] is False and result['decision']['action'] == 'scale_out'
    assert json.loads(log.read_text())['check_mode'] is True


def test_capacity_no_decision_on_a_failed_poll(aws, capsys):
    aws['autoscaling'].add_response('describe_auto_scaling_groups', describe(FOUR), DESCRIBE_REQ)
    history = BACKLOG + [dict(poll(3, 1090, ok=False), error='cannot reach the Octopus server')]
    result, dummy = run(capsys, capacity, dict(POLICY, group_name=GROUP, history=history))
    assert result['changed'] is False and 'the latest poll failed (cannot reach the Octopus server)' in result['decision']['reason']


def test_capacity_invalid_policy_fails_before_any_call(aws, capsys):
    result, code = run(capsys, capacity, dict(group_name=GROUP, history=BACKLOG, scale_in_max_projected_utilisation=0.9))
    assert code == 1 and result['msg'].startswith('The direct scaling policy is not valid: ') and 'hysteresis' in result['msg']


def test_capacity_quiet_cluster_at_its_floor_stays(aws, capsys):
    quiet = [poll(n, 1000 + 30 * n, queued=0, running=0, cap=10, nodes=2) for n in range(3)]
    aws['autoscaling'].add_response('describe_auto_scaling_groups', describe(FOUR[:2], min_size=1, desired=2), DESCRIBE_REQ)
    result, dummy = run(capsys, capacity, dict(POLICY, group_name=GROUP, history=quiet, min_capacity=2))
    assert result['decision']['action'] == 'none' and 'at its floor 2' in result['decision']['reason']


def test_capacity_null_options_take_their_defaults(aws, capsys):
    """A playbook passes unset policy variables as null: the defaults apply (scale_out_polls 3 here)."""
    stub = aws['autoscaling']
    stub.add_response('describe_auto_scaling_groups', describe(FOUR, desired=4), DESCRIBE_REQ)
    stub.add_response('create_or_update_tags', {}, dict(Tags=ANY))
    stub.add_response('set_desired_capacity', {}, dict(AutoScalingGroupName=GROUP, DesiredCapacity=6, HonorCooldown=False))
    nulls = dict((name, None) for name in capacity.POLICY_OPTIONS)
    result, code = run(capsys, capacity, dict(nulls, group_name=GROUP, history=BACKLOG))
    assert code == 0 and result['decision']['action'] == 'scale_out' and result['decision']['scale_out_streak'] == 3
    stub.add_response('describe_auto_scaling_groups', describe(FOUR, desired=4), DESCRIBE_REQ)
    result, code = run(capsys, capacity, dict(nulls, group_name=GROUP, history=BACKLOG[:2]))
    assert result['decision']['action'] == 'none', 'two polls are not the default three'
