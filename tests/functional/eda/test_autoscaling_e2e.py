# -*- coding: utf-8 -*-

# Copyright: Contributors to the octopus.ha collection
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

"""Octopus-aware autoscaling end to end (issue 13 section 5): the real ansible-rulebook running the shipped
rulesets octopus.ha.octopus_autoscaling (source octopus_cluster -> handler eda_autoscaling: protection, CloudWatch
metrics, direct mode) and octopus.ha.asg_lifecycle (SQS -> eda_scale_in), against the Octopus simulator (frozen
clock) and moto with the AWS scale-in model of asg_scaling_model.py.

The two rulebooks run in two ansible-rulebook processes side by side, as they would in production (in one process,
the first source to end stops every ruleset). One cluster, three runs (the test changes the simulator only between runs, so what each poll saw is
known without any timing assumption):

1. quiet, idle-first: 4 nodes, 3 running long deployments, 1 idle. The busy instances get protected, direct mode
   scales in by one after M polls, AWS (the model) can only pick the idle instance, and the lifecycle handler
   removes its node without waiting for any deployment (they never end: the clock is frozen).
2. backlog: all slots full and tasks queued. Direct mode raises the desired capacity at the poll that completes
   the N-poll streak, then holds (cooldown).
3. faults: the server answers 503, then drops the connection, then the cluster is quiet. No decision is taken
   from the failed polls; the scale-in comes only after M good polls and stops at the floor (MinSize 3).

In runs 1 and 2 the metrics read back from moto are compared with the simulator's queue at each poll.
Cost: about 120-240 s on the loaded 2-core machine (three runs of ansible-rulebook, 9 handler and 2 lifecycle playbook runs).
"""

from __future__ import absolute_import, division, print_function
__metaclass__ = type

import datetime
import json
import os
import subprocess
import sys

import pytest

octosim_testing = pytest.importorskip('octosim.testing')

pytestmark = pytest.mark.heavy

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from windows_hosts import OCTOPUS_NODES_VARS, seed_windows_host, windows_environment  # noqa: E402  pylint: disable=wrong-import-position

REPO = os.path.abspath(os.path.join(os.path.dirname(__file__), '..', '..', '..'))
RULEBOOKS = os.path.join(REPO, 'extensions', 'eda', 'rulebooks')
GROUP = 'octopus-ha'
CAP = 2
POLICY = dict(octopus_autoscaling_scale_out_polls=2, octopus_autoscaling_scale_in_polls=2, octopus_autoscaling_cooldown=60,
              octopus_autoscaling_scale_out_backlog=0.5, octopus_autoscaling_scale_out_min_utilisation=0.9,
              octopus_autoscaling_scale_out_max_step=1, octopus_autoscaling_scale_in_utilisation=0.6,
              octopus_autoscaling_scale_in_max_projected_utilisation=0.8, octopus_autoscaling_min_capacity=1)


def rulebook_command(workdir, moto, sim, rulebook, variables, host_vars):
    """(command, environment) of one ansible-rulebook run in its own directory."""
    workdir.mkdir()
    # octopus_nodes: the instances' VMs, simulated (windows_hosts): the handler stops the Octopus service there
    # before it deletes the node, as on a real cluster.
    inventory = {'all': {'hosts': {'localhost': dict(host_vars or {}, ansible_connection='local',
                                                     ansible_python_interpreter=sys.executable)},
                         'children': {'octopus_nodes': {'vars': OCTOPUS_NODES_VARS}}}}
    (workdir / 'inventory.json').write_text(json.dumps(inventory))
    (workdir / 'vars.json').write_text(json.dumps(dict(variables, octopus_aws_region='us-east-1', octopus_aws_endpoint_url=moto.url)))
    (workdir / 'tmp').mkdir()
    env = dict(os.environ)
    env.update(moto.env)
    env.update({'ANSIBLE_NOCOLOR': '1', 'ANSIBLE_PYTHON_INTERPRETER': sys.executable, 'ANSIBLE_DEPRECATION_WARNINGS': 'false',
                'TMPDIR': str(workdir / 'tmp'), 'OCTOPUS_URL': sim.url, 'OCTOPUS_API_KEY': octosim_testing.ADMIN_KEY})
    env.update(windows_environment(sim.url, sim.windows_dir))
    cmd = [os.path.join(os.path.dirname(sys.executable), 'ansible-rulebook'), '-i', str(workdir / 'inventory.json'),
           '-r', os.path.join(RULEBOOKS, rulebook), '--vars', str(workdir / 'vars.json'), '--shutdown-delay', '300', '-v']
    return cmd, env


def run_rulebooks(workdir, moto, sim, events, queue=None, host_vars=None):
    """octopus_autoscaling for `events` polls; with queue, asg_lifecycle beside it in its own process until it handled
    one lifecycle event (in one process the first source to end would stop both rulesets)."""
    workdir.mkdir()
    lifecycle = None
    if queue:
        cmd, env = rulebook_command(workdir / 'lifecycle', moto, sim, 'asg_lifecycle.yml', dict(
            octopus_lifecycle_queue_url=queue, octopus_lifecycle_wait_seconds=1, octopus_lifecycle_max_events=1,
            octopus_lifecycle_idle_timeout=600), host_vars)
        lifecycle = subprocess.Popen(cmd, cwd=str(workdir / 'lifecycle'), env=env, stdout=subprocess.PIPE,  # pylint: disable=consider-using-with
                                     stderr=subprocess.STDOUT, text=True)
    cmd, env = rulebook_command(workdir / 'autoscaling', moto, sim, 'octopus_autoscaling.yml', dict(
        octopus_url=sim.node_url(sim.watch_node), octopus_autoscaling_interval=1, octopus_autoscaling_max_events=events,
        octopus_autoscaling_error_backoff_max=1, octopus_autoscaling_max_retries=0, octopus_autoscaling_request_deadline=10),
        host_vars)
    proc = subprocess.run(cmd, cwd=str(workdir / 'autoscaling'), env=env, capture_output=True, text=True, timeout=900, check=False)
    output = proc.stdout + proc.stderr
    if lifecycle is not None:
        output += '\n--- asg_lifecycle\n' + lifecycle.communicate(timeout=900)[0]
    (workdir / 'rulebook-output.txt').write_text(output)
    return proc.returncode, output


def explain(run):
    return 'rc=%s\n%s' % (run[0], run[1][-12000:])


def decisions(log):
    """Every decision of the direct mode so far, one per handled event, in order."""
    return [json.loads(line) for line in log.read_text().splitlines()] if log.exists() else []


def group(moto):
    found = moto.client('autoscaling').describe_auto_scaling_groups(AutoScalingGroupNames=[GROUP])['AutoScalingGroups'][0]
    return found['DesiredCapacity'], dict((i['InstanceId'], (i['LifecycleState'], i['ProtectedFromScaleIn'])) for i in found['Instances'])


def source_polls(sim):
    """The request-log entries of each poll of the event source (it alone uses the node URL /node/...)."""
    polls = []
    for entry in sim.control.requests():
        if not str(entry['path']).startswith('/node/'):
            continue
        if entry['path'].endswith('/octopusservernodes/summary'):
            polls.append([])
        if polls:
            polls[-1].append(entry)
    return polls


def first_mutation(sim):
    seqs = [e['seq'] for e in sim.control.requests() if e['method'] in ('PUT', 'DELETE', 'POST') and str(e['path']).startswith('/api/')]
    return min(seqs) if seqs else None


def expected_queue(state):
    """The queue facts of a simulator state, computed from its control API (the independent truth)."""
    tasks = state['tasks']
    queued = [t for t in tasks if t['State'] == 'Queued']
    running = len([t for t in tasks if t['State'] in ('Executing', 'Cancelling')])
    cap = sum(n['MaxConcurrentTasks'] for n in state['nodes'] if not n['IsOffline'] and not n['IsInMaintenanceMode'])
    now = state['clock']['epoch']
    oldest = min((datetime.datetime.fromisoformat(t['QueueTime']).timestamp() for t in queued), default=None)
    return {'QueuedTasks': len(queued), 'RunningTasks': running, 'TaskCapacity': cap, 'FreeTaskSlots': max(0, cap - running),
            'OldestQueuedTaskAge': 0 if oldest is None else int(now - oldest),
            'SlotUtilisation': round(round(float(running) / cap, 4) * 100, 4), 'BacklogPerSlot': round(float(len(queued)) / cap, 4)}


def check_metrics(moto, dimensions, logged, expected, polls, checked_before):
    """Every good poll checked (all of its requests before checked_before) has exactly its values in CloudWatch."""
    cloudwatch = moto.client('cloudwatch')
    checked = 0
    for entry in logged:
        facts = entry['facts']
        if not facts or not facts['ok'] or checked_before is not None and polls[facts['poll'] - 1][-1]['seq'] >= checked_before:
            continue
        second = datetime.datetime.fromtimestamp(int(facts['observed_at']), datetime.timezone.utc)
        same_second = [e for e in logged if e['facts'] and e['facts']['ok'] and int(e['facts']['observed_at']) == int(facts['observed_at'])]
        for name, value in expected.items():
            found = cloudwatch.get_metric_data(
                MetricDataQueries=[{'Id': 'm%d' % n, 'MetricStat': {'Metric': {'Namespace': 'Octopus/HA', 'MetricName': name,
                                                                               'Dimensions': dimensions},
                                                                    'Period': 1, 'Stat': stat}}
                                   for n, stat in enumerate(('Minimum', 'Maximum', 'SampleCount'))],
                StartTime=second, EndTime=second + datetime.timedelta(seconds=1))['MetricDataResults']
            values = [r['Values'] for r in found]
            assert values[2] == [float(len(same_second))], (name, facts['poll'], values)
            assert values[0] == values[1] == [float(value)], (name, facts['poll'], values, value)
        checked += 1
    return checked


@pytest.fixture
def world(moto, scaling_model, tmp_path):
    """4 instances in launch order; the newest one's node is idle, so AWS's OldestInstance policy would not pick it."""
    moto.create_group(size=4)
    moto.client('autoscaling').update_auto_scaling_group(AutoScalingGroupName=GROUP, MinSize=3, MaxSize=5)
    launch_order = [i['InstanceId'] for i in moto.client('autoscaling').describe_auto_scaling_groups(
        AutoScalingGroupNames=[GROUP])['AutoScalingGroups'][0]['Instances']]
    queue = moto.create_queue(visibility_timeout=60)
    scaling_model.register(GROUP, queue)
    busy, idle = launch_order[:3], launch_order[3]
    sim = octosim_testing.SimulatorProcess({'nodes': [{'Name': i, 'MaxConcurrentTasks': CAP} for i in launch_order],
                                            'license': {'node_limit': None}}, speed=0)
    sim.start()
    sim.watch_node = busy[0]
    sim.windows_dir = str(tmp_path / 'fake-windows')
    for instance in launch_order:
        seed_windows_host(sim.windows_dir, instance)
    deployments = [sim.control.add_task(Name='Deploy', Description='Long deployment on %s' % i, ServerNode=i, State='Executing',
                                        Duration=10 ** 7) for i in busy]
    yield dict(sim=sim, queue=queue, busy=busy, idle=idle, deployments=deployments, model=scaling_model)
    sim.stop()


def test_idle_first_backlog_and_faults_end_to_end(moto, world, tmp_path):
    sim, queue, busy, idle, model = world['sim'], world['queue'], world['busy'], world['idle'], world['model']
    log = tmp_path / 'decisions.jsonl'
    dimensions = [{'Name': 'Cluster', 'Value': '127.0.0.1'}, {'Name': 'AutoScalingGroupName', 'Value': GROUP}]
    host_vars = dict(POLICY, octopus_autoscaling_asg_name=GROUP, octopus_autoscaling_publish_metrics=True,
                     octopus_autoscaling_direct=True, octopus_autoscaling_decision_log=str(log),
                     node_remove_poll_interval=1, node_remove_max_poll_interval=2, node_remove_drain_timeout=120,
                     octopus_lifecycle_heartbeat_interval=5, octopus_lifecycle_max_duration=300)

    # ---- run 1: quiet, idle-first scale-in by one
    state1 = sim.control.state()
    proc = run_rulebooks(tmp_path / 'run1', moto, sim, events=2, queue=queue, host_vars=host_vars)
    logged = decisions(log)
    assert [e['action'] for e in logged] == ['none', 'scale_in'], explain(proc)
    assert logged[0]['scale_in_streak'] == 1 and logged[1]['desired_before'] == 4 and logged[1]['desired_after'] == 3
    assert [e['poll'] for e in logged[1]['evidence']] == [1, 2]
    assert model.terminations() == [idle], 'AWS could only pick the instance of the idle node'
    protected_then = [e for e in model.events if e['kind'] == 'terminating'][0]['protected']
    assert protected_then == dict([(i, True) for i in busy] + [(idle, False)])
    names = [n['Name'] for n in sim.control.state()['nodes']]
    assert idle not in names and sorted(names) == sorted(busy), explain(proc)
    assert [c['LifecycleActionResult'] for c in moto.recorder.accepted('complete', idle)] == ['CONTINUE']
    desired, members = group(moto)
    assert desired == 3 and sorted(members) == sorted(busy) and all(p for dummy, p in members.values())
    # No drain wait: the removal finished while every deployment still runs and the cluster clock never moved.
    after = sim.control.state()
    assert after['clock']['epoch'] == state1['clock']['epoch']
    assert all(sim.control.task(d['Id'])['State'] == 'Executing' for d in world['deployments'])
    polls = source_polls(sim)
    assert check_metrics(moto, dimensions, logged, expected_queue(state1), polls, first_mutation(sim)) >= 2

    # ---- run 2: backlog (every slot busy, 4 queued): scale out at the poll that completes the N-poll streak
    sim.control.advance(61)
    for node in busy:
        sim.control.add_task(Name='Deploy', Description='Fills %s' % node, ServerNode=node, State='Executing', Duration=10 ** 7)
    queued = [sim.control.add_task(Name='Deploy', Description='Waits %d' % ago, SpaceId='Spaces-1', Duration=60, QueuedAgo=ago)
              for ago in (30, 20, 10, 5)]
    sim.control.clear_requests()
    state2 = sim.control.state()
    proc = run_rulebooks(tmp_path / 'run2', moto, sim, events=3, host_vars=host_vars)
    logged2 = decisions(log)[2:]
    assert [e['action'] for e in logged2] == ['none', 'scale_out', 'none'], explain(proc)
    assert (logged2[1]['desired_before'], logged2[1]['desired_after']) == (3, 4) and logged2[1]['poll'] == 2
    assert logged2[2]['reason'].startswith('cooldown'), 'held after the change'
    desired, members = group(moto)
    assert desired == 4 and len(members) == 4
    new = [i for i in members if i not in busy][0]
    assert members[new] == ('InService', False), 'the new instance has no node yet: left alone, unprotected'
    assert check_metrics(moto, dimensions, logged2, expected_queue(state2), source_polls(sim), None) == 3

    # ---- run 3: 503, then a dropped connection, then quiet: no decision from the failed polls
    sim.control.advance(61)
    for task in sim.control.state()['tasks']:
        if task['State'] == 'Executing' and task['Description'].startswith('Fills'):
            sim.control.finish_task(task['Id'])
    for task in queued:
        sim.control.finish_task(task['Id'], state='Canceled')
    sim.control.add_fault(kind='status', status=503, path='^/node/.*/octopusservernodes/summary$', count=1)
    sim.control.add_fault(kind='drop', path='^/node/.*/octopusservernodes/summary$', count=1)
    proc = run_rulebooks(tmp_path / 'run3', moto, sim, events=4, queue=queue, host_vars=host_vars)
    logged3 = decisions(log)[5:]
    assert [e['action'] for e in logged3] == ['none', 'none', 'none', 'scale_in'], explain(proc)
    assert [e['reason'].split(' (')[0] for e in logged3[:2]] == ['the latest poll failed'] * 2
    assert '503' in logged3[0]['reason'] and 'cannot reach the Octopus server' in logged3[1]['reason']
    assert [e['poll'] for e in logged3[3]['evidence']] == [3, 4], 'only good polls after the faults count'
    assert logged3[3]['desired_after'] == 3 and model.terminations() == [idle, new]
    assert [c['LifecycleActionResult'] for c in moto.recorder.accepted('complete', new)] == ['CONTINUE']
    assert group(moto)[0] == 3 and all(e['desired_after'] >= 3 for e in decisions(log)), 'never below MinSize 3'
    assert sorted(n['Name'] for n in sim.control.state()['nodes']) == sorted(busy)
    record = '\n'.join('poll %(poll)s: %(action)s %(desired_before)s->%(desired_after)s, %(reason)s' % e for e in decisions(log))
    (tmp_path / 'decision-log.txt').write_text(record)
    print(record)
