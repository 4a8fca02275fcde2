# Copyright (c) octopus.ha contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Idle-first scale-in benchmark (issue 13): how long a scale-in by one takes with and without scale-in protection.

    cd /work/main && . scripts/env.sh
    python tools/bench/idle_first_bench.py              # 2 runs each way, about 8 minutes
    python tools/bench/idle_first_bench.py --runs 1     # quicker

Not a test: nothing here asserts a time. The scenario is the one of the issue: four nodes, three running
deployments that end REMAINING seconds after the scale-in starts, one idle. The simulator runs at real speed
(clock speed 1) and moto runs in process with the AWS scale-in model of tests/functional/eda/asg_scaling_model.py
(termination policy OldestInstance; the idle node is the newest instance).

- with protection: `ansible-playbook octopus.ha.scale_in_protection` runs first (as the rulebook does on every
  poll); then the desired capacity drops by one, AWS (the model) can only pick the idle instance, and the shipped
  rulebook octopus.ha.asg_lifecycle handles the lifecycle event (drain, remove, CONTINUE);
- without protection: the same, without the protection playbook; AWS picks the oldest instance, which is busy,
  so the drain waits for its deployment.

The measure is the time from SetDesiredCapacity to the CONTINUE (the instance may go), on the wall clock (the
simulator clock runs at speed 1). Results: docs/benchmarks-data/idle_first.json and .md.
"""
from __future__ import absolute_import, division, print_function
__metaclass__ = type

import argparse
import datetime
import json
import logging
import os
import platform
import subprocess
import sys
import tempfile
import time

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), '..', '..'))
sys.path[:0] = [os.path.join(ROOT, 'tests', 'functional', 'eda'), os.path.join(ROOT, 'tools')]

# pylint: disable=wrong-import-position,import-error
from eda_moto_harness import MotoHarness  # noqa: E402
import asg_scaling_model  # noqa: E402
from octosim.testing import ADMIN_KEY, SimulatorProcess  # noqa: E402

DATA_DIR = os.path.join(ROOT, 'docs', 'benchmarks-data')
GROUP = 'octopus-ha'
REMAINING = 120


def bin_path(name):
    return os.path.join(os.path.dirname(sys.executable), name)


def environment(moto, sim, work):
    env = dict(os.environ)
    env.update(moto.env)
    env.update({'ANSIBLE_NOCOLOR': '1', 'ANSIBLE_PYTHON_INTERPRETER': sys.executable, 'ANSIBLE_DEPRECATION_WARNINGS': 'false',
                'TMPDIR': work, 'OCTOPUS_URL': sim.url, 'OCTOPUS_API_KEY': ADMIN_KEY})
    return env


def inventory(work):
    path = os.path.join(work, 'inventory.json')
    with open(path, 'w') as handle:
        json.dump({'all': {'hosts': {'localhost': {'ansible_connection': 'local', 'ansible_python_interpreter': sys.executable,
                                                   'octopus_lifecycle_heartbeat_interval': 20}}}}, handle)
    return path


def one_run(moto, model, protect):
    moto.reset()
    model.reset()
    moto.create_group(size=4)
    asg = moto.client('autoscaling')
    launch = [i['InstanceId'] for i in asg.describe_auto_scaling_groups(AutoScalingGroupNames=[GROUP])['AutoScalingGroups'][0]['Instances']]
    queue = moto.create_queue(visibility_timeout=60)
    model.register(GROUP, queue)
    busy, idle = launch[:3], launch[3]
    work = tempfile.mkdtemp(prefix='idle-first-bench.')
    sim = SimulatorProcess({'nodes': [{'Name': i} for i in launch], 'license': {'node_limit': None}}, speed=1)
    sim.start()
    try:
        env = environment(moto, sim, work)
        for node in busy:
            sim.control.add_task(Name='Deploy', ServerNode=node, State='Executing', Duration=REMAINING)
        protect_seconds = None
        if protect:
            started = time.time()
            subprocess.run([bin_path('ansible-playbook'), 'octopus.ha.scale_in_protection', '-i', inventory(work),
                            '-e', json.dumps({'octopus_autoscaling_asg_name': GROUP, 'octopus_aws_region': 'us-east-1',
                                              'octopus_aws_endpoint_url': moto.url})],
                           cwd=ROOT, env=env, check=True, capture_output=True, text=True)
            protect_seconds = time.time() - started
        vars_path = os.path.join(work, 'vars.json')
        with open(vars_path, 'w') as handle:
            json.dump({'octopus_lifecycle_queue_url': queue, 'octopus_aws_region': 'us-east-1', 'octopus_aws_endpoint_url': moto.url,
                       'octopus_lifecycle_wait_seconds': 1, 'octopus_lifecycle_max_events': 1, 'octopus_lifecycle_idle_timeout': 900},
                      handle)
        command = [bin_path('ansible-rulebook'), '-i', inventory(work), '-r', 'octopus.ha.asg_lifecycle', '--vars', vars_path,
                   '--shutdown-delay', '900']
        rulebook = subprocess.Popen(command,  # pylint: disable=consider-using-with
                                    cwd=work, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        time.sleep(5)   # let ansible-rulebook start (its start-up is not part of the scale-in)
        scaled_at = time.time()
        asg.set_desired_capacity(AutoScalingGroupName=GROUP, DesiredCapacity=3)
        victim = model.terminations()[-1]
        rulebook.communicate(timeout=1800)
        completes = moto.recorder.accepted('complete', victim)
        deletes = [e for e in sim.control.requests() if e['method'] == 'DELETE' and victim in str(e['path'])]
        return dict(protection=protect, victim_was_idle=victim == idle, victim=victim,
                    seconds_to_continue=round(completes[0]['time'] - scaled_at, 1) if completes else None,
                    node_deleted=bool(deletes), protection_playbook_seconds=None if protect_seconds is None else round(protect_seconds, 1),
                    api_requests=len(sim.control.requests()))
    finally:
        sim.stop()


def main():
    parser = argparse.ArgumentParser(description=__doc__.split('\n', maxsplit=1)[0])
    parser.add_argument('--runs', type=int, default=2)
    args = parser.parse_args()
    logging.getLogger('werkzeug').setLevel(logging.ERROR)   # moto's request log
    moto = MotoHarness()
    model = asg_scaling_model.install()
    started = datetime.datetime.now(datetime.timezone.utc)
    results = []
    try:
        for protect in (True, False):
            for number in range(args.runs):
                result = one_run(moto, model, protect)
                result['run'] = number + 1
                print(json.dumps(result), flush=True)
                results.append(result)
    finally:
        moto.stop()
    meta = dict(started=started.isoformat(timespec='seconds'),
                ended=datetime.datetime.now(datetime.timezone.utc).isoformat(timespec='seconds'),
                machine='%s %s, %d CPUs, Python %s' % (platform.system(), platform.machine(), os.cpu_count(), platform.python_version()),
                load_average=os.getloadavg(), remaining_deployment_seconds=REMAINING)
    os.makedirs(DATA_DIR, exist_ok=True)
    with open(os.path.join(DATA_DIR, 'idle_first.json'), 'w') as handle:
        json.dump(dict(meta=meta, results=results), handle, indent=1)
    lines = ['| protection | run | AWS picked | SetDesiredCapacity to CONTINUE (s) | protection playbook (s) | API requests |',
             '|---|---|---|---|---|---|']
    for r in results:
        row = ('yes' if r['protection'] else 'no', r['run'], 'the idle node' if r['victim_was_idle'] else 'a busy node',
               r['seconds_to_continue'], r['protection_playbook_seconds'] or '-', r['api_requests'])
        lines.append('| %s | %d | %s | %s | %s | %d |' % row)
    with open(os.path.join(DATA_DIR, 'idle_first.md'), 'w') as handle:
        handle.write('%s\n\n%s\n' % (json.dumps(meta), '\n'.join(lines)))
    print('\n'.join(lines))
    return 0


if __name__ == '__main__':
    sys.exit(main())
