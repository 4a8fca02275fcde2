# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# Copyright: Contributors to the octopus.ha collection
"""TEST-ONLY: the one fake stack of the unit tests.

Every unit test that needs time, HTTP or an Octopus server uses these (tests/unit/conftest.py wires
them into fixtures):

- ``URL``, ``KEY``: the test server and its API key (tests assert the key never leaks);
- ``Clock``: the one fake clock: monotonic (``now``) and wall (``wall``) time that move only when
  something sleeps or a test advances them; ``sleeps`` records every sleep. It also serves as an
  asyncio sleep (``sleep_async``) and as a bare clock callable (``clock()``);
- ``FakeTime``: the fake ``time`` module, put into _octopus_api and _octopus_tasks;
- ``FakeResponse`` and ``http_error()``: what ``open_url`` returns or raises;
- ``FakeHttp``: a scripted ``open_url`` (routes with canned replies, ``OctopusReply`` builds them);
- ``FakeOctopus``: a stateful ``open_url`` (nodes, summary, tasks, cancel, delete, fault injection);
- ``install()`` / ``patched()``: put a fake ``open_url`` and the fake clock behind every OctopusClient;
- ``patch_module_args``: ansible-core's helper, with a fallback for ansible-core before 2.19.
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
# patch_module_args is re-exported for the tests that import it from here.
from ansible_collections.octopus.ha.tests.unit.compat import patch_module_args  # noqa: F401  pylint: disable=unused-import

URL = 'https://octopus.example.com'
KEY = 'API-UNITTESTSECRETKEY0123456789AB'
WALL_START = 1767225600.0          # 2026-01-01T00:00:00Z
TERMINAL = ('Success', 'Failed', 'Canceled', 'TimedOut')


# ---- time ------------------------------------------------------------------------------------

class Clock:
    """Monotonic and wall clocks that only move when asked to (or when something sleeps)."""

    def __init__(self, now=1000.0, wall=WALL_START):
        self.now = now
        self.wall = wall
        self.sleeps = []

    def monotonic(self):
        return self.now

    __call__ = monotonic
    clock = monotonic

    def time(self):
        return self.wall

    def sleep(self, seconds):
        self.sleeps.append(seconds)
        self.advance(seconds)

    async def sleep_async(self, seconds):
        self.sleep(seconds)

    def advance(self, seconds):
        self.now += seconds
        self.wall += seconds


class FakeTime:
    """Stands in for the ``time`` module inside a module_util."""

    def __init__(self, clock):
        self.monotonic = clock.monotonic
        self.sleep = clock.sleep
        self.time = clock.time


class FixedRandom:
    """Stands in for the ``random`` module inside _octopus_api: always the top of the jitter range."""

    def __init__(self, value=1.0):
        self.value = value

    def random(self):
        return self.value


# ---- HTTP ------------------------------------------------------------------------------------

def message_headers(values=None):
    headers = Message()
    for key, value in (values or {}).items():
        headers[key] = value
    return headers


class FakeResponse:
    """What open_url returns for 2xx answers."""

    def __init__(self, raw, status=200, headers=None):
        self.status = status
        self._raw = raw
        self.headers = headers if isinstance(headers, Message) else message_headers(headers)

    def read(self):
        return self._raw

    def getcode(self):
        return self.status


def http_error(url, status, raw, headers=None):
    """What open_url raises for an HTTP error status."""
    return HTTPError(url, status, 'fake', message_headers(headers), io.BytesIO(raw))


class Call:
    """One request seen by FakeHttp."""

    def __init__(self, method, url, headers, data, kwargs):
        parts = urlsplit(url)
        self.method = method
        self.url = url
        self.path = re.sub(r'^.*?/api/?', '', parts.path, count=1)
        self.query = dict(parse_qsl(parts.query))
        self.headers = dict(headers or {})
        self.body = json.loads(data) if data else None
        self.kwargs = kwargs

    def __repr__(self):
        return 'Call(%s %s)' % (self.method, self.url)


class FakeHttp:
    """A scripted stand-in for open_url.

    route(method, path, *replies): path is the path after '/api/' without the query ('' for the
    root document), or a compiled regex. Replies are consumed in order and the last one repeats.
    A reply is a dict from OctopusReply.reply()/error(), or an exception instance to raise.
    GET /api answers the Octopus root document unless a test routes it (the client reads it
    after a 404, and before it first sends the key over http://). Any other unrouted request
    fails the test with AssertionError.
    """

    def __init__(self, clock):
        self.clock = clock
        self.routes = [['GET', '', [OctopusReply.reply(OctopusReply.root())]]]
        self.calls = []

    def route(self, method, path, *replies):
        self.routes.insert(0, [method.upper(), path, list(replies)])
        return self

    def count(self, method=None, path=None):
        return len([c for c in self.calls if (method is None or c.method == method) and (path is None or c.path == path)])

    def __call__(self, url, data=None, headers=None, method=None, **kwargs):
        call = Call(method or 'GET', url, headers, data, kwargs)
        self.calls.append(call)
        reply = self._next_reply(call)
        self.clock.advance(reply.get('delay', 0) if isinstance(reply, dict) else 0)
        if isinstance(reply, BaseException):
            raise reply  # pylint: disable=raising-bad-type
        if reply['status'] >= 400:
            raise http_error(url, reply['status'], reply['raw'], reply.get('headers'))
        return FakeResponse(reply['raw'], reply['status'], reply.get('headers'))

    def _next_reply(self, call):
        for method, path, replies in self.routes:
            if method == call.method and (path.match(call.path) if hasattr(path, 'match') else path == call.path):
                return replies.pop(0) if len(replies) > 1 else replies[0]
        raise AssertionError('FakeHttp: no route for %s %s (query %r)' % (call.method, call.path, call.query))


class OctopusReply:
    """Builders for canned Octopus answers for FakeHttp (field names as in the Octopus API)."""

    @staticmethod
    def reply(body=None, status=200, headers=None, raw=None, delay=0):
        if raw is None:
            raw = b'' if body is None else json.dumps(body).encode('utf-8')
        raw = raw if isinstance(raw, bytes) else raw.encode('utf-8')
        hdrs = {'Content-Type': 'application/json' if raw[:1] in (b'{', b'[') else 'text/html'}
        hdrs.update(headers or {})
        return dict(status=status, raw=raw, headers=hdrs, delay=delay)

    @classmethod
    def error(cls, status, message=None, errors=None, headers=None):
        body = dict(ErrorMessage=message or 'Error %s' % status, Errors=list(errors or []))
        return cls.reply(body, status=status, headers=headers)

    @staticmethod
    def node(name, max_tasks=5, drained=False, offline=False, last_seen='2026-01-01T00:00:00.000+00:00',
             running=0, version='2023.4.8319', node_id=None):
        return dict(Id=node_id or 'OctopusServerNodes-%s' % name, Name=name, MaxConcurrentTasks=max_tasks,
                    IsInMaintenanceMode=drained, IsOffline=offline, LastSeen=last_seen,
                    RunningTaskCount=running, Version=version)

    @staticmethod
    def summary(*nodes):
        return dict(Nodes=list(nodes), Links=dict(Self='/api/octopusservernodes/summary'))

    @staticmethod
    def page(items, total=None, next_link=None, links=True):
        body = dict(ItemType='Item', Items=list(items), TotalResults=len(items) if total is None else total,
                    ItemsPerPage=30)
        if links:
            body['Links'] = {'Self': '/api/x', 'Page.Current': '/api/x'}
            if next_link:
                body['Links']['Page.Next'] = next_link
        return body

    @staticmethod
    def root(version='2023.4.8319'):
        return dict(Application='Octopus Deploy', Version=version, ApiVersion='3.0.0',
                    Links=dict(Self='/api', OctopusServerNodes='/api/octopusservernodes{/id}{?skip,take,ids,partialName}'))

    @staticmethod
    def task(task_id, state='Executing', node='OctopusServerNodes-A', space='Spaces-1'):
        return dict(Id=task_id, SpaceId=space, Name='Deploy', State=state, ServerNode=node,
                    IsCompleted=state not in ('Queued', 'Executing', 'Cancelling'),
                    Links=dict(Self='/api/tasks/%s' % task_id, Cancel='/api/tasks/%s/cancel' % task_id))


def iso(epoch):
    """An Octopus timestamp (ISO 8601 with milliseconds and offset) of an epoch time."""
    return datetime.datetime.fromtimestamp(epoch, datetime.timezone.utc).isoformat(timespec='milliseconds')


# ---- the stateful Octopus ---------------------------------------------------------------------

class FakeOctopus:
    """Stateful fake of the Octopus endpoints used by octopus_node and octopus_task_cancel.

    Tasks run until ``ends_at`` (fake clock) or forever (None). A cancel moves Executing to
    Cancelling; the owning node finishes it ``cancel_delay`` seconds later, but only while it is
    online. Deleting a node fails its running tasks. Every request is logged in ``log`` as
    (method, path, query, body). The server's clock (``server_time()``: the fake wall clock plus
    ``server_clock_offset``) dates the answers, LastSeen and the tasks' StartTime.
    """

    def __init__(self, clock, api_key=KEY):
        self.clock = clock
        self.api_key = api_key
        self.nodes = {}
        self.tasks = {}
        self.log = []
        self.times = []          # the fake clock's monotonic time of each request in log
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
                                   IsOffline=offline, LastModifiedOn=None, LastModifiedBy=None)
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

    def add_task(self, task_id, node, state='Executing', duration=None, space='Spaces-1', interrupted=False,
                 description=None, started_ago=0):
        """A task on a node (name or id; None: not assigned). It ends ``duration`` seconds from now (None: never) and
        started ``started_ago`` seconds ago by the server's clock (a Queued task has not started)."""
        node_id = node if node is None or node.startswith('OctopusServerNodes-') else 'OctopusServerNodes-%s' % node
        started = None if state == 'Queued' and not interrupted else iso(self.server_time() - started_ago)
        self.tasks[task_id] = dict(Id=task_id, SpaceId=space, Name='Deploy', Description=description or 'Deploy %s' % task_id,
                                   State=state, ServerNode=node_id, HasPendingInterruptions=interrupted,
                                   QueueTime=iso(self.server_time() - started_ago), StartTime=started,
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

    def polls(self):
        """The requests grouped by the fake time they were sent at: [(time, [(method, path)])], in order."""
        grouped = []
        for when, (method, path, query, body) in zip(self.times, self.log):
            if not grouped or grouped[-1][0] != when:
                grouped.append((when, []))
            grouped[-1][1].append((method, path))
        return grouped

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
        self.times.append(self.clock.now)
        if self.on_request:
            self.on_request(method, path)
        if (headers or {}).get('X-Octopus-ApiKey') != self.api_key:
            raise self._error(url, 401, 'You must be logged in to perform this action.')
        fault = self._fault(method, path)
        if fault and fault['phase'] == 'before':
            return self._raise_fault(url, fault)
        self._tick()
        status, answer = self._route(method, [unquote(s) for s in path.split('/')], query, body)
        if fault:
            return self._raise_fault(url, fault)
        if status >= 400:
            raise self._error(url, status, answer)
        date = email.utils.formatdate(self.server_time(), usegmt=True) if self.send_date else None
        return FakeResponse(json.dumps(answer).encode('utf-8'), headers={'Date': date} if date else None)

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
            return FakeResponse(b'<html><body>Sign in to the proxy</body></html>', headers={'Content-Type': 'text/html'})
        raise self._error(url, fault['status'], fault['message'], fault['headers'])

    @staticmethod
    def _error(url, status, message, extra_headers=None):
        headers = {'Content-Type': 'application/json'}
        headers.update(extra_headers or {})
        return http_error(url, status, json.dumps(dict(ErrorMessage=message, Errors=[])).encode('utf-8'), headers)

    def _tick(self):
        now = self.clock.now
        for task in self.tasks.values():
            owner = self.nodes.get(task['ServerNode'] or '')
            if task['State'] == 'Executing' and task['ends_at'] is not None and task['ends_at'] <= now:
                task['State'] = 'Success'
            if task['State'] == 'Cancelling' and owner and not owner['IsOffline'] and task['cancel_at'] is not None and task['cancel_at'] <= now:
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
                entry = dict(node, LastSeen=iso(self._last_seen(node)))
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
            node['LastModifiedOn'] = iso(self.server_time())
            node['LastModifiedBy'] = 'octopus-unit-test'
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


# ---- wiring ----------------------------------------------------------------------------------

def install(monkeypatch, open_url, clock):
    """Put ``open_url`` behind every OctopusClient and the fake clock into _octopus_api and _octopus_tasks."""
    monkeypatch.setattr(_octopus_api, 'ansible_open_url', open_url)
    monkeypatch.setattr(_octopus_api, 'time', FakeTime(clock))
    monkeypatch.setattr(_octopus_api, 'random', FixedRandom())
    monkeypatch.setattr(_octopus_tasks, 'time', FakeTime(clock))
    return open_url


def patched(clock, monkeypatch):
    """A FakeOctopus behind every OctopusClient, with the fake clock in _octopus_api and _octopus_tasks."""
    return install(monkeypatch, FakeOctopus(clock), clock)
