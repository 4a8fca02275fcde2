# Copyright (c) octopus.ha contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The /_sim/ control API (docs/architecture.md, docs/simulator.md). No key needed; JSON in and out.

Dispatch is a route table, like the Octopus API's (octosim.api.Route): a method, a path pattern
with named groups, and a handler. A known path with another method answers 405, an unknown path 404.
"""
from __future__ import absolute_import, division, print_function
__metaclass__ = type

import re

from octosim.faults import FaultError
from octosim.model import SimError


class ControlRoute:
    def __init__(self, method, pattern, handler):
        self.method = method
        self.regex = re.compile('^/_sim' + pattern + '/?$')
        self.handler = handler


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


# ---- handlers: handler(sim, query, body, **groups) -> (status, json body) ----------------------

def get_state(sim, query, body):
    cluster = sim.cluster
    with cluster.lock:
        cluster.sync()
        state = cluster.state()
    state['faults'] = sim.faults.describe()
    state['request_count'] = len(sim.request_log())
    return 200, state


def reset(sim, query, body):
    sim.reset()
    with sim.cluster.lock:
        return 200, sim.cluster.state()


def add_node(sim, query, body):
    cluster = sim.cluster
    with cluster.lock:
        cluster.sync()
        node, created = cluster.add_node(_object(body))
        return (201 if created else 200), cluster.node_state(node)


def node_action(sim, query, body, name, action):
    spec = _object(body)
    cluster = sim.cluster
    with cluster.lock:
        cluster.sync()
        ghost = cluster.ghost(name) if cluster.find_node(name) is None else None
        if ghost is not None and action == 'stop':
            cluster.stop_ghost(ghost)
            return 200, {'Name': ghost['node'].name, 'Deleted': True, 'Heartbeat': False}
        node = _node(cluster, name)
        if action == 'stop':
            cluster.stop_node(node, graceful=bool(spec.get('Graceful') or spec.get('graceful')))
        else:
            cluster.start_node(node)
        return 200, cluster.node_state(node)


def get_node(sim, query, body, name):
    cluster = sim.cluster
    with cluster.lock:
        cluster.sync()
        return 200, cluster.node_state(_node(cluster, name))


def serving_node(sim, query, body):
    spec = _object(body)
    cluster = sim.cluster
    with cluster.lock:
        cluster.sync()
        node = _node(cluster, spec.get('Name'))
        cluster.serving_node_name = node.name
        return 200, {'serving_node': node.name}


def add_task(sim, query, body):
    cluster = sim.cluster
    with cluster.lock:
        cluster.sync()
        task = cluster.add_task(_object(body))
        return 201, cluster.task_state(task)


def get_task(sim, query, body, task_id):
    cluster = sim.cluster
    with cluster.lock:
        cluster.sync()
        return 200, cluster.task_state(_task(cluster, task_id))


def finish_task(sim, query, body, task_id):
    spec = _object(body)
    cluster = sim.cluster
    with cluster.lock:
        cluster.sync()
        task = _task(cluster, task_id)
        cluster.finish_task(task, spec.get('State') or 'Success', spec.get('ErrorMessage'))
        return 200, cluster.task_state(task)


def resume_task(sim, query, body, task_id):
    cluster = sim.cluster
    with cluster.lock:
        cluster.sync()
        task = _task(cluster, task_id)
        cluster.resume_task(task)
        return 200, cluster.task_state(task)


def get_clock(sim, query, body):
    cluster = sim.cluster
    with cluster.lock:
        cluster.sync()
        return 200, cluster.state()['clock']


def set_clock(sim, query, body):
    spec = _object(body)
    cluster = sim.cluster
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


def get_faults(sim, query, body):
    return 200, sim.faults.describe()


def add_fault(sim, query, body):
    try:
        fault = sim.faults.add(_object(body))
    except FaultError as err:
        raise SimError(400, str(err))
    return 201, fault.describe()


def clear_faults(sim, query, body):
    sim.faults.clear()
    return 200, []


def remove_fault(sim, query, body, fault_id):
    if not sim.faults.remove(int(fault_id)):
        raise SimError(404, 'No fault %s' % fault_id)
    return 200, sim.faults.describe()


def get_triggers(sim, query, body):
    return 200, [sim.describe_trigger(t) for t in sim.triggers]


def add_trigger(sim, query, body):
    with sim.cluster.lock:
        return 201, sim.add_trigger(_object(body))


def get_requests(sim, query, body):
    since = query.get('since')
    entries = sim.request_log()
    if since:
        try:
            since_seq = int(since[-1])
        except ValueError:
            raise SimError(400, 'since must be a sequence number')
        entries = [e for e in entries if e['seq'] > since_seq]
    return 200, entries


def clear_requests(sim, query, body):
    sim.clear_request_log()
    return 200, []


ROUTES = [
    ControlRoute('GET', '/state', get_state),
    ControlRoute('POST', '/reset', reset),
    ControlRoute('POST', '/nodes', add_node),
    ControlRoute('POST', '/nodes/(?P<name>[^/]+)/(?P<action>stop|start)', node_action),
    ControlRoute('GET', '/nodes/(?P<name>[^/]+)', get_node),
    ControlRoute('POST', '/serving-node', serving_node),
    ControlRoute('POST', '/tasks', add_task),
    ControlRoute('GET', '/tasks/(?P<task_id>[^/]+)', get_task),
    ControlRoute('POST', '/tasks/(?P<task_id>[^/]+)/finish', finish_task),
    ControlRoute('POST', '/tasks/(?P<task_id>[^/]+)/resume', resume_task),
    ControlRoute('GET', '/clock', get_clock),
    ControlRoute('POST', '/clock', set_clock),
    ControlRoute('GET', '/faults', get_faults),
    ControlRoute('POST', '/faults', add_fault),
    ControlRoute('DELETE', '/faults', clear_faults),
    ControlRoute('DELETE', r'/faults/(?P<fault_id>\d+)', remove_fault),
    ControlRoute('GET', '/triggers', get_triggers),
    ControlRoute('POST', '/triggers', add_trigger),
    ControlRoute('GET', '/requests', get_requests),
    ControlRoute('DELETE', '/requests', clear_requests),
]


def handle(sim, method, path, query, body):
    """Returns (status, json_body). Raises SimError (404 unknown path, 405 known path with another method)."""
    path = path.rstrip('/') or '/'
    allowed = []
    for route in ROUTES:
        match = route.regex.match(path)
        if not match:
            continue
        allowed.append(route.method)
        if route.method == method:
            return route.handler(sim, query, body, **match.groupdict())
    if allowed:
        raise SimError(405, 'The method %s is not allowed on %s (allowed: %s).' % (method, path, ', '.join(allowed)))
    raise SimError(404, 'Unknown control call %s %s' % (method, path))
