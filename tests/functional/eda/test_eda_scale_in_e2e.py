# -*- coding: utf-8 -*-

# Copyright: Contributors to the octopus.ha collection
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

"""End to end: SQS (moto) -> real ansible-rulebook -> octopus.ha.asg_lifecycle -> octopus.ha.eda_scale_in ->
node_remove against the Octopus simulator -> CompleteLifecycleAction (recorded by the patched moto) -> message deleted.

No timing asserts: counts and orders only.
"""

from __future__ import absolute_import, division, print_function
__metaclass__ = type

import datetime
import re
import threading
import time

import pytest

octosim_testing = pytest.importorskip('octosim.testing')

# pylint: disable=wrong-import-position
from rulebook_runner import run_rulebook  # noqa: E402

ADMIN_KEY = octosim_testing.ADMIN_KEY
OTHER_NODES = ('OCTO-NODE-01', 'OCTO-NODE-02')
TEST_NOTIFICATION = {'AccountId': '123456789012', 'Service': 'AWS Auto Scaling', 'Event': 'autoscaling:TEST_NOTIFICATION',
                     'AutoScalingGroupName': 'octopus-ha', 'Time': '2026-11-26T09:00:00Z', 'RequestId': 'r'}
HANDLER_VARS = {'node_remove_poll_interval': 1, 'node_remove_max_poll_interval': 2, 'node_remove_drain_timeout': 120,
                'octopus_lifecycle_heartbeat_interval': 1, 'octopus_lifecycle_max_duration': 300}


@pytest.fixture
def sim_factory():
    started = []

    def start(nodes, speed=None, tasks=()):
        config = {'nodes': [n if isinstance(n, dict) else {'Name': n} for n in nodes], 'tasks': list(tasks),
                  'license': {'node_limit': None}}
        sim = octosim_testing.SimulatorProcess(config, speed=speed)
        sim.start()
        started.append(sim)
        return sim

    yield start
    for sim in started:
        sim.stop()


def node_names(sim):
    return [n['Name'] for n in sim.control.state()['nodes']]


def api_calls(sim, method, path_re):
    return [e for e in sim.control.requests() if e.get('method') == method and re.search(path_re, str(e.get('path', '')))]


def wall_seconds(entry):
    stamp = datetime.datetime.fromisoformat(entry['wall'].replace('Z', '+00:00'))
    if stamp.tzinfo is None:
        stamp = stamp.replace(tzinfo=datetime.timezone.utc)
    return stamp.timestamp()


def octopus_env(sim, api_key=ADMIN_KEY):
    return {'OCTOPUS_URL': sim.url, 'OCTOPUS_API_KEY': api_key}


def scenario(moto, sim_factory, heartbeat_timeout=30, speed=None, tasks=()):
    instances = moto.create_group(size=2, heartbeat_timeout=heartbeat_timeout)
    queue = moto.create_queue(visibility_timeout=30)
    sim = sim_factory(OTHER_NODES + tuple(instances), speed=speed, tasks=tasks)
    return instances, queue, sim


def rulebook(tmp_path, moto, sim, queue, api_key=ADMIN_KEY, host_vars=None, **rb_vars):
    merged_vars = {'octopus_lifecycle_queue_url': queue}
    merged_vars.update(rb_vars)
    merged_host = dict(HANDLER_VARS)
    merged_host.update(host_vars or {})
    return run_rulebook(tmp_path, moto, rulebook_vars=merged_vars, host_vars=merged_host, env=octopus_env(sim, api_key))


def explain(proc):
    return 'rc=%s\n%s\n%s' % (proc.returncode, proc.stdout[-8000:], proc.stderr[-3000:])


def test_terminating_instance_is_drained_removed_continued_and_acked(moto, sim_factory, tmp_path):
    instances, queue, sim = scenario(moto, sim_factory)
    target = instances[0]
    moto.send(queue, TEST_NOTIFICATION)
    body = moto.start_lifecycle_action(queue, target)

    proc = rulebook(tmp_path, moto, sim, queue)

    assert target not in node_names(sim), explain(proc)
    assert instances[1] in node_names(sim)
    drains = api_calls(sim, 'PUT', r'/api/octopusservernodes/')
    deletes = api_calls(sim, 'DELETE', r'/api/octopusservernodes/')
    assert len(drains) == 1 and len(deletes) == 1
    continues = moto.recorder.accepted('complete', target)
    assert [c['LifecycleActionResult'] for c in continues] == ['CONTINUE']
    assert continues[0]['LifecycleActionToken'] == body['LifecycleActionToken']
    # The node record was deleted before the instance was let go (wall clock of the simulator's log).
    assert continues[0]['time'] >= wall_seconds(deletes[0]) - 1
    assert moto.recorder.accepted('heartbeat', target), 'the background heartbeat ran'
    assert moto.lifecycle_state(target) == 'Terminating:Proceed'
    assert moto.queue_depth(queue) == 0, 'lifecycle message acknowledged, test notification deleted'


def test_same_message_twice_removes_once_and_the_second_run_is_a_noop(moto, sim_factory, tmp_path):
    instances, queue, sim = scenario(moto, sim_factory)
    target = instances[0]
    moto.start_lifecycle_action(queue, target, copies=2)

    (tmp_path / 'run1').mkdir()
    first = rulebook(tmp_path / 'run1', moto, sim, queue, octopus_lifecycle_visibility_timeout=8)
    assert target not in node_names(sim), explain(first)
    assert len(moto.recorder.accepted('complete', target)) == 1
    assert moto.queue_depth(queue) == 1, 'the duplicate copy was neither handled nor deleted'
    deletes_after_first = len(api_calls(sim, 'DELETE', r'/api/octopusservernodes/'))
    assert deletes_after_first == 1

    (tmp_path / 'run2').mkdir()
    second = rulebook(tmp_path / 'run2', moto, sim, queue, octopus_lifecycle_idle_timeout=15)
    completes = moto.recorder.all_calls('complete')
    assert len(completes) == 2, explain(second)
    assert [c['accepted'] for c in completes] == [True, False], 'the second completion was answered "no active action"'
    assert len(api_calls(sim, 'DELETE', r'/api/octopusservernodes/')) == 1, 'a single removal'
    assert moto.queue_depth(queue) == 0, 'the duplicate was acknowledged after its no-op run'


def test_failed_scale_in_leaves_the_message_and_sends_no_continue(moto, sim_factory, tmp_path):
    instances, queue, sim = scenario(moto, sim_factory)
    target = instances[0]
    moto.start_lifecycle_action(queue, target)

    proc = rulebook(tmp_path, moto, sim, queue, api_key='API-WRONGKEY0000000000000000000')

    assert 'Scale-in of %s failed' % target in proc.stdout + proc.stderr, explain(proc)
    assert target in node_names(sim)
    assert moto.recorder.accepted('complete') == []
    assert moto.queue_depth(queue) == 1, 'the message stays for redelivery'
    assert moto.lifecycle_state(target) == 'Terminating:Wait'
    beats = len(moto.recorder.all_calls('heartbeat'))
    time.sleep(2.5)
    assert len(moto.recorder.all_calls('heartbeat')) == beats, 'the heartbeat task was stopped'


def test_capacity_guard_refusal_leaves_the_message(moto, sim_factory, tmp_path):
    instances = moto.create_group(size=1)
    queue = moto.create_queue()
    sim = sim_factory(tuple(instances))  # the target is the only task node
    moto.start_lifecycle_action(queue, instances[0])

    proc = rulebook(tmp_path, moto, sim, queue)

    assert instances[0] in node_names(sim), explain(proc)
    assert api_calls(sim, 'PUT', r'/api/octopusservernodes/') == []
    assert moto.recorder.accepted('complete') == []
    assert moto.queue_depth(queue) == 1


def test_drain_longer_than_the_heartbeat_timeout_is_kept_alive(moto, sim_factory, tmp_path):
    """The harness expires the action like AWS when no heartbeat came for HeartbeatTimeout (30 s, the AWS minimum).

    The node runs a task that this test finishes only 35 s after the first heartbeat, so the drain
    outlasts the timeout: the CONTINUE is accepted only if the background heartbeats kept the action alive.
    """
    instances = moto.create_group(size=2, heartbeat_timeout=30)
    queue = moto.create_queue()
    target = instances[0]
    sim = sim_factory(OTHER_NODES + tuple(instances))
    task = sim.control.add_task(Name='Long deployment', ServerNode=target, State='Executing', Duration=100000)
    moto.start_lifecycle_action(queue, target, heartbeat_timeout=30)

    def finish_after_the_timeout():
        deadline = time.time() + 300
        while not moto.recorder.accepted('heartbeat', target) and time.time() < deadline:
            time.sleep(0.5)
        time.sleep(35)
        sim.control.finish_task(task['Id'])

    finisher = threading.Thread(target=finish_after_the_timeout, daemon=True)
    finisher.start()
    proc = rulebook(tmp_path, moto, sim, queue, host_vars={'octopus_lifecycle_heartbeat_interval': 5})
    finisher.join(timeout=60)

    assert target not in node_names(sim), explain(proc)
    assert not moto.recorder.expired(target), 'the lifecycle action expired during the drain'
    heartbeats = moto.recorder.accepted('heartbeat', target)
    completes = moto.recorder.accepted('complete', target)
    assert [c['LifecycleActionResult'] for c in completes] == ['CONTINUE'], explain(proc)
    assert completes[0]['time'] - heartbeats[0]['time'] > 30, 'the drain outlasted the heartbeat timeout'
    assert len(heartbeats) >= 2, explain(proc)
    assert all(h['time'] <= completes[0]['time'] for h in heartbeats)
    assert moto.queue_depth(queue) == 0
