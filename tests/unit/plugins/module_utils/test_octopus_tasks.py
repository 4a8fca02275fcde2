# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# Copyright: Contributors to the octopus.ha collection
"""Unit tests of _octopus_tasks (cancel with re-read, wait until terminal, poll schedule).

This file also holds ``FakeOctopus``, a small stateful model of the Octopus API (nodes, summary,
tasks, cancel, delete) with fault injection, plugged in as ``open_url``. The octopus_node and
octopus_task_cancel tests import it from here.
"""

from __future__ import absolute_import, division, print_function
__metaclass__ = type

import io
import json
import re
import socket

from email.message import Message
from urllib.error import HTTPError, URLError
from urllib.parse import parse_qsl, unquote, urlsplit

import pytest

from ansible_collections.octopus.ha.plugins.module_utils import _octopus_api, _octopus_tasks
from ansible_collections.octopus.ha.plugins.module_utils._octopus_api import OctopusApiError, OctopusClient
from ansible_collections.octopus.ha.plugins.module_utils._octopus_tasks import (
    PollSchedule,
    Timer,
    cancel_task,
    cancel_tasks,
    task_path,
    wait_terminal,
)

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
    def __init__(self, raw):
        self.status = 200
        self._raw = raw
        self.headers = Message()

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

    # ---- setup ------------------------------------------------------------------------

    def add_node(self, name, max_tasks=5, drained=False, offline=False, node_id=None):
        node_id = node_id or 'OctopusServerNodes-%s' % name
        self.nodes[node_id] = dict(Id=node_id, Name=name, MaxConcurrentTasks=max_tasks, IsInMaintenanceMode=drained,
                                   IsOffline=offline, LastModifiedOn=None)
        return node_id

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
        return FakeResponse(json.dumps(answer).encode('utf-8'))

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
                entry = dict(node, LastSeen='2026-01-01T00:00:00Z')
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


@pytest.fixture
def clock():
    return Clock()


@pytest.fixture
def octo(clock, monkeypatch):
    """A FakeOctopus behind every OctopusClient, with the fake clock in _octopus_api and _octopus_tasks."""
    server = FakeOctopus(clock)
    monkeypatch.setattr(_octopus_api, 'ansible_open_url', server)
    monkeypatch.setattr(_octopus_api, 'time', FakeTime(clock))
    monkeypatch.setattr(_octopus_api.random, 'random', lambda: 1.0)
    monkeypatch.setattr(_octopus_tasks, 'time', FakeTime(clock))
    return server


@pytest.fixture
def client(octo):
    return OctopusClient(URL, KEY, max_retries=3)


# ---- poll schedule ---------------------------------------------------------------------

def test_schedule_keeps_poll_interval_for_two_minutes_then_backs_off(clock):
    schedule = PollSchedule(Timer(clock.monotonic, clock.sleep), 600, 5, 30)
    while schedule.pause():
        pass
    assert clock.sleeps[:24] == [5] * 24
    assert clock.sleeps[24:29] == [7.5, 11.25, 16.875, 25.3125, 30]
    assert set(clock.sleeps[29:-1]) == {30}
    assert sum(clock.sleeps) == 600


def test_schedule_never_sleeps_past_the_deadline(clock):
    schedule = PollSchedule(Timer(clock.monotonic, clock.sleep), 12, 5, 30)
    polls = 0
    while schedule.pause():
        polls += 1
    assert clock.sleeps == [5, 5, 2]
    assert polls == 3
    assert schedule.remaining() == 0


def test_schedule_sleeps_only_the_rest_of_an_interval_but_never_busy_loops(clock):
    schedule = PollSchedule(Timer(clock.monotonic, clock.sleep), 100, 5, 30)
    clock.now += 3.5   # a slow poll
    schedule.pause()
    clock.now += 9     # a poll slower than the interval
    schedule.pause()
    assert clock.sleeps == [1.5, 1.0]


def test_schedule_max_below_poll_interval_is_poll_interval(clock):
    schedule = PollSchedule(Timer(clock.monotonic, clock.sleep), 1000, 10, 3)
    while schedule.pause():
        pass
    assert set(clock.sleeps[:-1]) == {10}


# ---- cancel ------------------------------------------------------------------------------

def test_task_path_uses_the_space_and_encodes():
    assert task_path(dict(Id='ServerTasks-1', SpaceId='Spaces-2'), '/cancel') == 'Spaces-2/tasks/ServerTasks-1/cancel'
    assert task_path(dict(Id='ServerTasks-1', SpaceId=None)) == 'tasks/ServerTasks-1'
    assert task_path(dict(Id='a/b c', SpaceId='S 1')) == 'S%201/tasks/a%2Fb%20c'


def test_cancel_posts_once_through_the_space_path(octo, client):
    octo.add_node('A')
    octo.add_task('ServerTasks-1', 'A', space='Spaces-7')
    octo.add_task('ServerTasks-2', 'A', space=None)
    assert cancel_task(client, dict(Id='ServerTasks-1', SpaceId='Spaces-7')) == 'cancelled'
    assert cancel_task(client, dict(Id='ServerTasks-2', SpaceId=None)) == 'cancelled'
    assert octo.mutations() == [('POST', 'Spaces-7/tasks/ServerTasks-1/cancel'), ('POST', 'tasks/ServerTasks-2/cancel')]


@pytest.mark.parametrize('kind,status', [('timeout', None), ('status', 503), ('status', 500)])
def test_cancel_unknown_outcome_rereads_and_does_not_repost_when_it_landed(octo, client, kind, status):
    octo.add_node('A')
    octo.add_task('ServerTasks-1', 'A')
    octo.cancel_delay = 60
    octo.fault('POST', 'cancel$', kind=kind, status=status, phase='after')
    assert cancel_task(client, dict(Id='ServerTasks-1', SpaceId='Spaces-1')) == 'cancelled'
    assert octo.count('POST') == 1
    assert octo.log[-1][:2] == ('GET', 'Spaces-1/tasks/ServerTasks-1')


def test_cancel_unknown_outcome_reposts_only_while_still_executing(octo, client):
    octo.add_node('A')
    octo.add_task('ServerTasks-1', 'A')
    octo.cancel_delay = 60
    octo.fault('POST', 'cancel$', kind='timeout', phase='before')
    assert cancel_task(client, dict(Id='ServerTasks-1', SpaceId='Spaces-1')) == 'cancelled'
    assert [m for m, p, q, b in octo.log] == ['POST', 'GET', 'POST']
    assert octo.state('ServerTasks-1') == 'Cancelling'


def test_cancel_of_a_finished_task_is_already_terminal(octo, client):
    octo.add_node('A')
    octo.add_task('ServerTasks-1', 'A')
    octo.fault('POST', 'cancel$', status=400)
    octo.tasks['ServerTasks-1']['State'] = 'Success'
    assert cancel_task(client, dict(Id='ServerTasks-1', SpaceId='Spaces-1')) == 'already_terminal'
    assert octo.count('POST') == 1


@pytest.mark.parametrize('status', [401, 403])
def test_cancel_auth_errors_fail_at_once(octo, client, status):
    octo.add_node('A')
    octo.add_task('ServerTasks-1', 'A')
    octo.fault('POST', 'cancel$', status=status)
    with pytest.raises(OctopusApiError) as err:
        cancel_task(client, dict(Id='ServerTasks-1', SpaceId='Spaces-1'))
    assert err.value.status == status
    assert len(octo.log) == 1
    assert KEY not in str(err.value)


def test_cancel_tasks_sorts_outcomes_and_check_mode_posts_nothing(octo, client):
    octo.add_node('A')
    tasks = [dict(Id='T1', SpaceId='Spaces-1', State='Executing'), dict(Id='T2', SpaceId='Spaces-1', State='Cancelling'),
             dict(Id='T3', SpaceId='Spaces-1', State='Success')]
    assert cancel_tasks(client, tasks, check_mode=True) == dict(cancelled=['T1'], cancelling=['T2'], already_terminal=['T3'])
    assert octo.log == []


# ---- wait --------------------------------------------------------------------------------

def test_wait_terminal_polls_until_done(octo, client, clock):
    octo.add_node('A')
    octo.add_task('T1', 'A', duration=12)
    octo.add_task('T2', 'A', duration=3)
    seen = []
    result = wait_terminal(client, ['T1', 'T2'], PollSchedule(Timer(), 300, 5, 30), progress=lambda ids, left: seen.append(list(ids)))
    assert result == dict(states={'T1': 'Success', 'T2': 'Success'}, stuck=[], owner_gone=[])
    assert clock.sleeps == [5, 5, 5]
    assert seen == [['T1', 'T2'], ['T1'], ['T1']]


def test_wait_terminal_reports_cancelling_tasks_of_an_offline_node_at_once(octo, client, clock):
    octo.add_node('A', offline=True)
    octo.add_task('T1', 'A', state='Cancelling')
    result = wait_terminal(client, ['T1'], PollSchedule(Timer(), 300, 5, 30))
    assert result == dict(states={'T1': 'Cancelling'}, stuck=['T1'], owner_gone=['T1'])
    assert clock.sleeps == []


def test_wait_terminal_stops_at_the_deadline(octo, client, clock):
    octo.add_node('A')
    octo.add_task('T1', 'A', state='Cancelling')
    octo.tasks['T1']['cancel_at'] = 10 ** 9
    result = wait_terminal(client, ['T1'], PollSchedule(Timer(), 20, 5, 30))
    assert result['stuck'] == ['T1'] and result['owner_gone'] == []
    assert sum(clock.sleeps) == 20
