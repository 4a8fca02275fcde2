# Copyright (c) octopus.ha contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The /_sim/ control API (docs/architecture.md, docs/simulator.md). No key needed; JSON in and out."""
from __future__ import absolute_import, division, print_function
__metaclass__ = type

import re

from octosim.faults import FaultError
from octosim.model import SimError


def _node(cluster, name):
    node = cluster.find_node(name)
    if node is None:
        raise SimError(404, 'No node named %s' % name)
    return node


def _task(cluster, task_id):
    task = cluster.task(task_id)
    if task is None:
        raise SimError(404, 'No task %s' % task_id)
    return task


def _object(body):
    if body is None:
        return {}
    if not isinstance(body, dict):
        raise SimError(400, 'The body must be a JSON object')
    return body


def handle(sim, method, path, query, body):
    """Returns (status, json_body). Raises SimError."""
    cluster = sim.cluster
    path = path.rstrip('/') or '/'
    parts = [p for p in path.split('/') if p][1:]   # drop '_sim'

    if parts == ['state'] and method == 'GET':
        with cluster.lock:
            cluster.sync()
            state = cluster.state()
        state['faults'] = sim.faults.describe()
        state['request_count'] = len(sim.request_log())
        return 200, state

    if parts == ['reset'] and method == 'POST':
        sim.reset()
        with cluster.lock:
            return 200, cluster.state()

    if parts == ['nodes'] and method == 'POST':
        spec = _object(body)
        with cluster.lock:
            cluster.sync()
            node, created = cluster.add_node(spec)
            return (201 if created else 200), cluster.node_state(node)

    if len(parts) == 3 and parts[0] == 'nodes' and parts[2] in ('stop', 'start') and method == 'POST':
        spec = _object(body)
        with cluster.lock:
            cluster.sync()
            node = _node(cluster, parts[1])
            if parts[2] == 'stop':
                cluster.stop_node(node, graceful=bool(spec.get('Graceful') or spec.get('graceful')))
            else:
                cluster.start_node(node)
            return 200, cluster.node_state(node)

    if len(parts) == 2 and parts[0] == 'nodes' and method == 'GET':
        with cluster.lock:
            cluster.sync()
            return 200, cluster.node_state(_node(cluster, parts[1]))

    if parts == ['serving-node'] and method == 'POST':
        spec = _object(body)
        with cluster.lock:
            cluster.sync()
            node = _node(cluster, spec.get('Name'))
            cluster.serving_node_name = node.name
            return 200, {'serving_node': node.name}

    if parts == ['tasks'] and method == 'POST':
        spec = _object(body)
        with cluster.lock:
            cluster.sync()
            task = cluster.add_task(spec)
            return 201, cluster.task_state(task)

    if len(parts) == 2 and parts[0] == 'tasks' and method == 'GET':
        with cluster.lock:
            cluster.sync()
            return 200, cluster.task_state(_task(cluster, parts[1]))

    if len(parts) == 3 and parts[0] == 'tasks' and parts[2] == 'finish' and method == 'POST':
        spec = _object(body)
        with cluster.lock:
            cluster.sync()
            task = _task(cluster, parts[1])
            cluster.finish_task(task, spec.get('State') or 'Success', spec.get('ErrorMessage'))
            return 200, cluster.task_state(task)

    if parts == ['clock']:
        if method == 'GET':
            with cluster.lock:
                cluster.sync()
                return 200, cluster.state()['clock']
        if method == 'POST':
            spec = _object(body)
            with cluster.lock:
                try:
                    if spec.get('speed') is not None:
                        cluster.set_speed(spec['speed'])
                    if spec.get('advance') is not None:
                        cluster.advance(spec['advance'])
                except (TypeError, ValueError) as err:
                    raise SimError(400, str(err))
                cluster.sync()
                return 200, cluster.state()['clock']

    if parts == ['faults']:
        if method == 'GET':
            return 200, sim.faults.describe()
        if method == 'POST':
            try:
                fault = sim.faults.add(_object(body))
            except FaultError as err:
                raise SimError(400, str(err))
            return 201, fault.describe()
        if method == 'DELETE':
            sim.faults.clear()
            return 200, []

    if len(parts) == 2 and parts[0] == 'faults' and method == 'DELETE':
        if not re.match(r'^\d+$', parts[1]) or not sim.faults.remove(int(parts[1])):
            raise SimError(404, 'No fault %s' % parts[1])
        return 200, sim.faults.describe()

    if parts == ['requests']:
        if method == 'GET':
            since = query.get('since')
            entries = sim.request_log()
            if since:
                try:
                    since_seq = int(since[-1])
                except ValueError:
                    raise SimError(400, 'since must be a sequence number')
                entries = [e for e in entries if e['seq'] > since_seq]
            return 200, entries
        if method == 'DELETE':
            sim.clear_request_log()
            return 200, []

    raise SimError(404, 'Unknown control call %s %s' % (method, path))
