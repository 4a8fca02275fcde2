# -*- coding: utf-8 -*-

# Copyright: Contributors to the octopus.ha collection
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

"""The cron/AWX playbooks of issue 13 through ansible-playbook, against moto and the Octopus simulator (frozen clock):
octopus.ha.queue_metrics, then octopus.ha.scale_in_protection in check mode, for real, and without its group
(typed_vars fails at once). Cost: about 25 s (four ansible-playbook runs)."""

from __future__ import absolute_import, division, print_function
__metaclass__ = type

import datetime

import pytest

octosim_testing = pytest.importorskip('octosim.testing')

GROUP = 'octopus-ha'


@pytest.fixture
def cluster(moto):
    instances = moto.create_group(size=3)
    busy, idle = instances[:2], instances[2]
    sim = octosim_testing.SimulatorProcess({'nodes': [{'Name': i, 'MaxConcurrentTasks': 2} for i in instances],
                                            'license': {'node_limit': None}}, speed=0)
    sim.start()
    for node in busy:
        sim.control.add_task(Name='Deploy', ServerNode=node, State='Executing', Duration=10 ** 7)
    sim.control.add_task(Name='Deploy', SpaceId='Spaces-1', QueuedAgo=42)
    yield dict(sim=sim, busy=busy, idle=idle)
    sim.stop()


def protection(moto):
    found = moto.client('autoscaling').describe_auto_scaling_groups(AutoScalingGroupNames=[GROUP])['AutoScalingGroups'][0]
    return dict((i['InstanceId'], i['ProtectedFromScaleIn']) for i in found['Instances'])


def test_queue_metrics_and_protection_playbooks(moto, cluster, eda_playbook):
    sim = cluster['sim']
    env = {'OCTOPUS_URL': sim.url, 'OCTOPUS_API_KEY': octosim_testing.ADMIN_KEY}
    common = {'octopus_autoscaling_asg_name': GROUP, 'octopus_aws_region': 'us-east-1', 'octopus_aws_endpoint_url': moto.url}

    proc = eda_playbook('playbooks/queue_metrics.yml', extra_vars=dict(common, octopus_autoscaling_cluster_name='prod'), env=env)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    now = datetime.datetime.now(datetime.timezone.utc)
    dims = [{'Name': 'Cluster', 'Value': 'prod'}, {'Name': 'AutoScalingGroupName', 'Value': GROUP}]
    expected = {'QueuedTasks': 1, 'OldestQueuedTaskAge': 42, 'RunningTasks': 2, 'TaskCapacity': 6, 'FreeTaskSlots': 4,
                'SlotUtilisation': 33.33, 'BacklogPerSlot': 0.1667}
    got = moto.client('cloudwatch').get_metric_data(
        MetricDataQueries=[{'Id': 'm%d' % n, 'Label': name, 'MetricStat': {
            'Metric': {'Namespace': 'Octopus/HA', 'MetricName': name, 'Dimensions': dims}, 'Period': 3600, 'Stat': 'Maximum'}}
            for n, name in enumerate(expected)],
        StartTime=now - datetime.timedelta(hours=1), EndTime=now + datetime.timedelta(hours=1))['MetricDataResults']
    assert dict((r['Label'], r['Values']) for r in got) == dict((k, [float(v)]) for k, v in expected.items())

    before = protection(moto)
    proc = eda_playbook('playbooks/scale_in_protection.yml', extra_vars=common, env=env, check=True)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert protection(moto) == before, 'check mode changes nothing'
    for busy in cluster['busy']:
        assert '%-20s %-12s %-9s -> %-9s %s' % (busy, busy, False, True, 'node %s runs 1 task' % busy) in proc.stdout
    assert 'node %s is idle' % cluster['idle'] in proc.stdout

    proc = eda_playbook('playbooks/scale_in_protection.yml', extra_vars=common, env=env)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert protection(moto) == dict([(i, True) for i in cluster['busy']] + [(cluster['idle'], False)])

    proc = eda_playbook('playbooks/scale_in_protection.yml', extra_vars={'octopus_aws_region': 'us-east-1'}, env=env)
    assert proc.returncode != 0 and 'octopus_autoscaling_asg_name' in proc.stdout, 'a missing group fails at once, naming it'
