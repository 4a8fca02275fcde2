# -*- coding: utf-8 -*-
# Copyright: Contributors to the octopus.ha collection
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The README demo: scale an Octopus Deploy HA cluster out and in, against the simulator.

Run it with ``scripts/demo.sh`` (which installs the toolchain first). It starts

* the Octopus cluster simulator (``tools/octosim``) with three nodes and a queue of work;
* the simulated Windows host (``tests/fake_windows``) for the new node, and the loopback
  "fleet" it must reach: two listening Tentacles with pinned certificates, a SQL port, a feed;

then runs the shipped playbooks, exactly as a user would:

1. ``octopus.ha.scale_out`` installs, configures (drained, task cap 0), verifies and promotes
   ``octo-new-1``;
2. ``octopus.ha.scale_in`` drains ``OCTO-NODE-02`` while it runs deployments, shows progress
   while they finish, stops the Octopus service on its (simulated) VM, checks that it stopped, and
   only then deletes the node record (a node whose service still runs is never deleted);
3. idle-first scale-in: with an EC2 Auto Scaling group emulated by moto (in this process, with the
   AWS scale-in model of ``tests/functional/eda/asg_scaling_model.py``), ``octopus.ha.scale_in_protection``
   protects the instance of the busy node, the group scales in by one, AWS can only pick the idle
   node's instance, and its scale-in ends at once.

``demo/show_cluster.yml`` prints the cluster between the steps.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import json
import logging
import os
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(HERE)
SCALE_OUT_TESTS = os.path.join(REPO, 'tests', 'functional', 'scale_out')
EDA_TESTS = os.path.join(REPO, 'tests', 'functional', 'eda')
sys.path[:0] = [SCALE_OUT_TESTS, EDA_TESTS, os.path.join(REPO, 'tools')]

import scale_out_scenario as scenario  # noqa: E402  pylint: disable=wrong-import-position,import-error
from octosim.testing import SimulatorProcess  # noqa: E402  pylint: disable=wrong-import-position,import-error

SCALE_IN_NODE = 'OCTO-NODE-02'
BUSY_NODE, IDLE_NODE = 'OCTO-NODE-01', 'octo-new-1'
GROUP = 'octopus-ha'


def banner(text):
    print('\n' + '=' * 78 + '\n' + text + '\n' + '=' * 78, flush=True)


def start_fleet(work):
    """The loopback dependencies of the new node (see tests/functional/scale_out/fake_fleet.py)."""
    state_file = os.path.join(work, 'fleet.json')
    log = open(os.path.join(work, 'fleet.log'), 'w')  # pylint: disable=consider-using-with
    proc = subprocess.Popen([sys.executable, os.path.join(SCALE_OUT_TESTS, 'fake_fleet.py'),  # pylint: disable=consider-using-with
                             '--state-file', state_file], stdout=log, stderr=subprocess.STDOUT)
    deadline = time.monotonic() + 60
    while not os.path.exists(state_file):
        if proc.poll() is not None or time.monotonic() > deadline:
            raise SystemExit('demo: the loopback fleet did not start; see %s' % log.name)
        time.sleep(0.2)
    time.sleep(0.2)
    with open(state_file) as handle:
        return proc, json.load(handle)


def cluster_config(fleet):
    """The scale-out scenario's cluster, grown to three nodes of the same version."""
    config = scenario.sim_config(fleet['space'], queued=2)
    config['nodes'] = [
        {'Name': 'OCTO-NODE-01', 'MaxConcurrentTasks': 5},
        {'Name': SCALE_IN_NODE, 'MaxConcurrentTasks': 5},
        {'Name': 'OCTO-NODE-03', 'MaxConcurrentTasks': 0},   # a UI-only node
    ]
    config['tasks'][0]['ServerNode'] = 'OCTO-NODE-01'
    config['license'] = {'node_limit': 6}
    return config


def write_inventory(work, sim_url, fleet):
    scenario.seed_fake_host(os.path.join(work, 'fake_windows'), os.path.join(work, 'downloads'), fleet['sql_port'])
    host = scenario.host_vars(sim_url, fleet['sql_port'])
    host.pop('octopus_api_key')   # the key comes from $OCTOPUS_API_KEY, as in production
    inventory = {'all': {'children': {'octopus_new_nodes': {'hosts': {scenario.NODE: host}}}}}
    path = os.path.join(work, 'inventory.json')
    with open(path, 'w') as handle:
        json.dump(inventory, handle, indent=1)
    return path


SCALE_IN_VM = 'octo-node-02-vm'


def write_scale_in_inventory(work):
    """The VM of the node to remove: a simulated Windows host whose running Octopus service is that node."""
    hosts_dir = os.path.join(work, 'fake_windows', 'hosts')
    os.makedirs(hosts_dir, exist_ok=True)
    state = {
        'services': {'octopusdeploy': {
            'name': 'OctopusDeploy', 'display_name': 'OctopusDeploy', 'state': 'running', 'start_mode': 'auto',
            'username': 'LocalSystem', 'octopus_instance': 'OctopusServer', 'dependencies': [],
            'path': '"C:\\Program Files\\Octopus Deploy\\Octopus\\Octopus.Server.exe" run --instance="OctopusServer"'}},
        'octopus': {'instances': {'OctopusServer': {
            'InstanceName': 'OctopusServer', 'ConfigurationFilePath': 'C:\\Octopus\\OctopusServer.config',
            'config': {'Octopus.Server.NodeName': SCALE_IN_NODE}, 'ever_started': True}}},
    }
    with open(os.path.join(hosts_dir, SCALE_IN_VM + '.json'), 'w') as handle:
        json.dump(state, handle)
    path = os.path.join(work, 'scale_in_inventory.json')
    with open(path, 'w') as handle:
        json.dump({'all': {'hosts': {'localhost': {'ansible_connection': 'local', 'ansible_python_interpreter': sys.executable},
                                     SCALE_IN_VM: {'ansible_connection': 'local', 'ansible_python_interpreter': sys.executable}}}},
                  handle, indent=1)
    return path


def playbook(args, env):
    cmd = ['ansible-playbook'] + args
    print('$ ' + ' '.join(cmd), flush=True)
    rc = subprocess.call(cmd, env=env, cwd=REPO)
    if rc != 0:
        raise SystemExit('demo: %s failed with exit code %d' % (' '.join(cmd), rc))


def idle_first(sim, env, work):
    """Step 3: protection follows the work, so the scale-in takes the idle node."""
    import asg_scaling_model  # pylint: disable=import-outside-toplevel,import-error
    from eda_moto_harness import MotoHarness  # pylint: disable=import-outside-toplevel,import-error
    logging.getLogger('werkzeug').setLevel(logging.ERROR)   # moto's request log
    moto = MotoHarness()
    try:
        model = asg_scaling_model.install()
        model.register(GROUP, moto.create_queue())
        moto.create_group(name=GROUP, size=2)
        asg = moto.client('autoscaling')
        launch = [i['InstanceId'] for i in asg.describe_auto_scaling_groups(AutoScalingGroupNames=[GROUP])['AutoScalingGroups'][0]['Instances']]
        oldest, newest = launch
        for task in sim.control.state()['tasks']:   # the earlier steps' work ends, so the picture is clear
            if not task['IsCompleted']:
                sim.control.finish_task(task['Id'])
        sim.control.add_task(Name='Deploy', Description='A long deployment', SpaceId='Spaces-1', Duration=900,
                             ServerNode=BUSY_NODE, State='Executing')
        print('Auto Scaling group %s: %s (oldest) runs %s, %s runs %s. Its termination policy would pick the oldest.'
              % (GROUP, oldest, BUSY_NODE, newest, IDLE_NODE), flush=True)
        aws_env = dict(env)
        aws_env.update(moto.env)
        extra = os.path.join(work, 'protection.json')
        with open(extra, 'w') as handle:
            json.dump({'octopus_autoscaling_asg_name': GROUP, 'octopus_aws_region': 'us-east-1', 'octopus_aws_endpoint_url': moto.url,
                       'octopus_autoscaling_instance_map': {oldest: BUSY_NODE, newest: IDLE_NODE}}, handle)
        playbook(['octopus.ha.scale_in_protection', '-e', '@' + extra], aws_env)
        asg.set_desired_capacity(AutoScalingGroupName=GROUP, DesiredCapacity=1)
        victim = model.terminations()[-1]
        print('The group scaled in by one: AWS put %s (%s) in Terminating:Wait.'
              % (victim, IDLE_NODE if victim == newest else BUSY_NODE), flush=True)
        started = time.monotonic()
        playbook(['octopus.ha.scale_in', '-e', 'octopus_node_name=' + (IDLE_NODE if victim == newest else BUSY_NODE)], env)
        print('Scale-in of the idle node took %.0f s, with no drain wait; the deployment on %s goes on.'
              % (time.monotonic() - started, BUSY_NODE), flush=True)
    finally:
        moto.stop()


def main():
    work = tempfile.mkdtemp(prefix='octoha-demo.')
    fleet_proc, fleet = start_fleet(work)
    try:
        with SimulatorProcess(cluster_config(fleet), speed=1) as sim:
            env = scenario.environment(os.path.join(work, 'fake_windows'), os.path.join(work, 'downloads'), sim.url)
            env['OCTOPUS_URL'] = sim.url
            env['OCTOPUS_API_KEY'] = scenario.API_KEY
            env['ANSIBLE_STDOUT_CALLBACK'] = 'default'
            env['ANSIBLE_DISPLAY_SKIPPED_HOSTS'] = 'false'
            env['ANSIBLE_LOCALHOST_WARNING'] = 'false'
            env['ANSIBLE_INVENTORY_UNPARSED_WARNING'] = 'false'
            show = ['demo/show_cluster.yml']

            banner('The simulated cluster at %s' % sim.url)
            playbook(show, env)

            banner('Scale-out: octo-new-1 joins drained with task cap 0, is verified, then promoted')
            playbook(['octopus.ha.scale_out', '-i', write_inventory(work, sim.url, fleet)], env)
            playbook(show, env)

            banner('Scale-in: %s runs two new deployments (and any it took from the queue); drain, wait, stop the '
                   'service on its VM, delete' % SCALE_IN_NODE)
            for remaining in (15, 25):
                sim.control.add_task(Name='Deploy', Description='Deployment that ends in %d s' % remaining,
                                     SpaceId='Spaces-1', Duration=remaining, ServerNode=SCALE_IN_NODE, State='Executing')
            scale_in = ['octopus.ha.scale_in', '-i', write_scale_in_inventory(work), '-e', 'octopus_node_name=' + SCALE_IN_NODE,
                        '-e', 'node_remove_windows_host=' + SCALE_IN_VM, '-e', 'node_remove_reregistration_watch=15']
            playbook(scale_in, env)
            playbook(show, env)

            banner('Re-running the scale-in changes nothing')
            playbook(scale_in, env)

            banner('Idle-first scale-in: %s runs a deployment, %s is idle; scale-in protection follows the work'
                   % (BUSY_NODE, IDLE_NODE))
            idle_first(sim, env, work)
            playbook(show, env)
            print('\nThe simulator served %d API requests. Demo finished.' % len(sim.control.requests()), flush=True)
    finally:
        fleet_proc.terminate()
        fleet_proc.wait(timeout=10)
    return 0


if __name__ == '__main__':
    sys.exit(main())
