# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# Copyright: Contributors to the octopus.ha collection
"""TEST-ONLY: ``FakeOctopus``, a small stateful model of the Octopus API (nodes, summary, tasks,
cancel, delete) with fault injection, plugged in as ``open_url``, and a fake clock.

Shared by the unit tests of _octopus_tasks, _octopus_drain, octopus_node and octopus_task_cancel:
``patched(clock, monkeypatch)`` puts a FakeOctopus behind every OctopusClient and the fake clock
into _octopus_api and _octopus_tasks.
"""

from __future__ import absolute_import, division, print_function
__metaclass__ = type

import datetime
import email.utils
import io
import json
import re
import socket

from email.message import Message
from urllib.error import HTTPError, URLError
from urllib.parse import parse_qsl, unquote, urlsplit

from ansible_collections.octopus.ha.plugins.module_utils import _octopus_api, _octopus_tasks

URL = 'https://octopus.example.com'
KEY = 'API-TASKSUNITTESTKEY0123456789ABC'
TERMINAL = ('Success', 'Failed', 'Canceled', 'TimedOut')


class Clock:
    """A fake monotonic clock that moves only when something sleeps (or a test advances it)."""

    def __init__(self):
        self.now = 1000.0
        self.sleeps = []
        self.poll_times = []

    def monotonic(self):
        return self.now

    def time(self):
        return 1767225600.0 + self.now

    def sleep(self, seconds):
        self.sleeps.append(seconds)
        self.now += seconds


class FakeTime:
    """Replaces the ``time`` module inside a module_util."""

    def __init__(self, clock):
        self.monotonic = clock.monotonic
        self.sleep = clock.sleep
        self.time = clock.time


class FakeResponse:
    def __init__(self, raw, date=None):
        self.status = 200
        self._raw = raw
        self.headers = Message()
        if date is not None:
            self.headers['Date'] = email.utils.formatdate(date, usegmt=True)

    def read(self):
        return self._raw

    def getcode(self):
        return self.status


class FakeOctopus:
    """Stateful fake of the Octopus endpoints used by octopus_node and octopus_task_cancel.

    Tasks run until ``ends_at`` (fake clock) or forever (None). A cancel moves Executing to
    Cancelling; the owning node finishes it ``cancel_delay`` seconds later, but only while it is
    online. Deleting a node fails its running tasks. Every request is logged in ``log`` as
    (method, path, query, body).
    """

    def __init__(self, clock, api_key=KEY):
        self.clock = clock
        self.api_key = api_key
        self.nodes = {}
        self.tasks = {}
        self.log = []
        self.faults = []
        self.cancel_delay = 0.0
        self.summary_counts = True
        self.on_request = None
        self.last_seen_ago = {}
        self.server_clock_offset = 0.0
        self.send_date = True

    # ---- setup ------------------------------------------------------------------------

    def add_node(self, name, max_tasks=5, drained=False, offline=False, node_id=None, last_seen_ago=None):
        """A node. An online node was seen now; an offline one last_seen_ago seconds ago (default 3600, long past the
        600 s offline_grace). The summary's LastSeen and the answers' Date header use the server clock (server_time())."""
        node_id = node_id or 'OctopusServerNodes-%s' % name
        self.nodes[node_id] = dict(Id=node_id, Name=name, MaxConcurrentTasks=max_tasks, IsInMaintenanceMode=drained,
                                   IsOffline=offline, LastModifiedOn=None)
        if last_seen_ago is not None:
            self.last_seen_ago[node_id] = last_seen_ago
        return node_id

    def server_time(self):
        """The server's clock: the fake clock's wall time plus server_clock_offset (the controller's clock may differ)."""
        return self.clock.time() + self.server_clock_offset

    def _last_seen(self, node):
        now = self.server_time()
        if not node['IsOffline']:
            return now
        return now - self.last_seen_ago.get(node['Id'], 3600)

    def add_task(self, task_id, node, state='Executing', duration=None, space='Spaces-1', interrupted=False):
        node_id = node if node is None or node.startswith('OctopusServerNodes-') else 'OctopusServerNodes-%s' % node
        self.tasks[task_id] = dict(Id=task_id, SpaceId=space, Name='Deploy', State=state, ServerNode=node_id,
                                   HasPendingInterruptions=interrupted,
                                   ends_at=None if duration is None else self.clock.now + duration, cancel_at=None)
        return task_id

    def fault(self, method, path, kind='status', status=503, count=1, phase='before', headers=None):
        """Answer the next ``count`` matching requests with an error (phase=after: apply the request first)."""
        self.faults.append(dict(method=method, path=re.compile(path), kind=kind, status=status, count=count, phase=phase,
                                headers=headers or {}, message='Injected fault'))

    # ---- inspection -------------------------------------------------------------------

    def mutations(self):
        return [(m, p) for m, p, q, b in self.log if m != 'GET']

    def count(self, method, path=None):
        return len([1 for m, p, q, b in self.log if m == method and (path is None or re.search(path, p))])

    def state(self, task_id):
        self._tick()
        return self.tasks[task_id]['State']

    # ---- HTTP -------------------------------------------------------------------------

    def __call__(self, url, data=None, headers=None, method=None, **kwargs):
        method = method or 'GET'
        parts = urlsplit(url)
        path = re.sub(r'^.*?/api/?', '', parts.path, count=1)
        query = dict(parse_qsl(parts.query))
        body = json.loads(data) if data else None
        self.log.append((method, path, query, body))
        if self.on_request:
            self.on_request(method, path)
        if (headers or {}).get('X-Octopus-ApiKey') != self.api_key:
            return self._error(url, 401, 'You must be logged in to perform this action.')
        fault = self._fault(method, path)
        if fault and fault['phase'] == 'before':
            return self._raise_fault(url, fault)
        self._tick()
        status, answer = self._route(method, [unquote(s) for s in path.split('/')], query, body)
        if fault:
            return self._raise_fault(url, fault)
        if status >= 400:
            return self._error(url, status, answer)
        return FakeResponse(json.dumps(answer).encode('utf-8'), self.server_time() if self.send_date else None)

    def _fault(self, method, path):
        for fault in self.faults:
            if fault['count'] and fault['method'] == method and fault['path'].search(path):
                fault['count'] -= 1
                return fault
        return None

    def _raise_fault(self, url, fault):
        if fault['kind'] == 'timeout':
            raise URLError(socket.timeout('timed out'))
        if fault['kind'] == 'refused':
            raise URLError(ConnectionRefusedError(111, 'Connection refused'))
        if fault['kind'] == 'html':
            response = FakeResponse(b'<html><body>Sign in to the proxy</body></html>')
            response.headers['Content-Type'] = 'text/html'
            return response
        return self._error(url, fault['status'], fault['message'], fault['headers'])

    @staticmethod
    def _error(url, status, message, extra_headers=None):
        headers = Message()
        headers['Content-Type'] = 'application/json'
        for key, value in (extra_headers or {}).items():
            headers[key] = value
        raw = json.dumps(dict(ErrorMessage=message, Errors=[])).encode('utf-8')
        raise HTTPError(url, status, 'fake', headers, io.BytesIO(raw))

    def _tick(self):
        now = self.clock.now
        for task in self.tasks.values():
            owner = self.nodes.get(task['ServerNode'] or '')
            if task['State'] == 'Executing' and task['ends_at'] is not None and task['ends_at'] <= now:
                task['State'] = 'Success'
            if task['State'] == 'Cancelling' and owner and not owner['IsOffline'] and task['cancel_at'] <= now:
                task['State'] = 'Canceled'

    def _route(self, method, segs, query, body):
        if segs[0] == 'octopusservernodes':
            return self._nodes(method, segs[1:], body)
        if segs[0].startswith('Spaces-'):
            segs = segs[1:]
        if segs[0] == 'tasks':
            return self._tasks(method, segs[1:], query)
        return 404, 'no route'

    def _node_resource(self, node):
        res = dict((k, v) for k, v in node.items() if k != 'IsOffline')
        res['Links'] = dict(Self='/api/octopusservernodes/%s' % node['Id'])
        return res

    def _running(self, node_id):
        return [t for t in self.tasks.values() if t['ServerNode'] == node_id and t['State'] in ('Executing', 'Cancelling')]

    def _nodes(self, method, segs, body):
        if not segs and method == 'GET':
            items = [self._node_resource(n) for n in self.nodes.values()]
            return 200, dict(Items=items, TotalResults=len(items), ItemsPerPage=30)
        if segs == ['summary']:
            nodes = []
            for node in self.nodes.values():
                seen = datetime.datetime.fromtimestamp(self._last_seen(node), datetime.timezone.utc)
                entry = dict(node, LastSeen=seen.isoformat(timespec='milliseconds'))
                if self.summary_counts:
                    entry['RunningTaskCount'] = len(self._running(node['Id']))
                nodes.append(entry)
            return 200, dict(Nodes=nodes)
        node = self.nodes.get(segs[0])
        if node is None:
            return 404, 'The resource you requested was not found.'
        if method == 'GET':
            return 200, self._node_resource(node)
        if method == 'PUT':
            for key in ('Name', 'MaxConcurrentTasks', 'IsInMaintenanceMode'):
                if key in body:
                    node[key] = body[key]
            node['LastModifiedOn'] = 'modified at %s' % self.clock.now
            return 200, self._node_resource(node)
        if method == 'DELETE':
            for task in self._running(node['Id']):
                task['State'] = 'Failed'
            del self.nodes[segs[0]]
            return 200, {}
        return 405, 'method not allowed'

    def _task_view(self, task):
        view = dict((k, v) for k, v in task.items() if k not in ('ends_at', 'cancel_at'))
        view['IsCompleted'] = task['State'] in TERMINAL
        return view

    def _tasks(self, method, segs, query):
        if not segs:
            found = list(self.tasks.values())
            if query.get('node'):
                found = [t for t in found if t['ServerNode'] == query['node']]
            if query.get('states'):
                found = [t for t in found if t['State'] in query['states'].split(',')]
            if query.get('ids'):
                found = [t for t in found if t['Id'] in query['ids'].split(',')]
            skip, take = int(query.get('skip', 0)), int(query.get('take', 30))
            page = [self._task_view(t) for t in found[skip:skip + take]]
            return 200, dict(Items=page, TotalResults=len(found), ItemsPerPage=take)
        task = self.tasks.get(segs[0])
        if task is None:
            return 404, 'The resource you requested was not found.'
        if method == 'POST' and segs[1:] == ['cancel']:
            if task['State'] == 'Queued':
                task['State'] = 'Canceled'
            elif task['State'] == 'Executing':
                task['State'] = 'Cancelling'
                task['cancel_at'] = self.clock.now + self.cancel_delay
            self._tick()
        return 200, self._task_view(task)


def patched(clock, monkeypatch):
    """A FakeOctopus behind every OctopusClient, with the fake clock in _octopus_api and _octopus_tasks."""
    server = FakeOctopus(clock)
    monkeypatch.setattr(_octopus_api, 'ansible_open_url', server)
    monkeypatch.setattr(_octopus_api, 'time', FakeTime(clock))
    monkeypatch.setattr(_octopus_api.random, 'random', lambda: 1.0)
    monkeypatch.setattr(_octopus_tasks, 'time', FakeTime(clock))
    return server
