# -*- coding: utf-8 -*-

# Copyright: Contributors to the octopus.ha collection
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

"""The octopus_cluster event source over the fake HTTP layer of tests/unit/conftest.py, with an injected clock.

Nothing sleeps: the source's sleep advances the fake clock, and the blocking poll runs inline.
"""

from __future__ import absolute_import, division, print_function
__metaclass__ = type

import asyncio
import json
import logging
import os
import subprocess
import sys

import pytest

from ansible_collections.octopus.ha.extensions.eda.plugins.event_source import octopus_cluster as src

SUMMARY = 'octopusservernodes/summary'
DATE = 'Thu, 01 Jan 2026 00:10:00 GMT'
DATE_EPOCH = 1767226200.0


class ListQueue:
    def __init__(self):
        self.events = []

    async def put(self, event):
        self.events.append(event)


async def inline(function):
    return function()


def watcher(client, fake_clock, **args):
    async def sleep(seconds):
        fake_clock.sleeps.append(seconds)
        fake_clock.advance(seconds)
    options = dict(interval=30, max_events=1)
    options.update(args)
    return src.ClusterWatcher(options, client=client, clock=fake_clock.monotonic, wallclock=fake_clock.time,
                              sleep=sleep, offload=inline)


def run(w):
    queue = ListQueue()
    asyncio.run(w.run(queue))
    return queue.events


def route_cluster(fake_http, reply, queued=1, running=3, date=DATE):
    headers = {'Date': date} if date else None
    nodes = [reply.node('i-0a', 5, running=3), reply.node('i-0b', 5, running=0)]
    fake_http.route('GET', SUMMARY, reply.reply(reply.summary(*nodes), headers=headers))
    items = [dict(Id='ServerTasks-9', QueueTime='2026-01-01T00:09:00Z')] if queued else []
    fake_http.route('GET', 'tasks', reply.reply(reply.page(items, total=queued), headers=headers),
                    reply.reply(reply.page([], total=running), headers=headers))


def test_one_facts_event_per_poll(fake_http, octopus_reply, octopus_client, fake_clock, api_key):
    route_cluster(fake_http, octopus_reply)
    events = run(watcher(octopus_client(), fake_clock, max_events=1))
    assert len(events) == 1
    event = events[0]
    assert (event['kind'], event['poll'], event['clock_source'], event['polled_at']) == ('facts', 1, 'server', DATE_EPOCH)
    assert event['octopus_url'] == 'https://octopus.example.com' and event['interval'] == 30.0
    cluster = event['cluster']
    assert (cluster['queued_task_count'], cluster['oldest_queued_task_age'], cluster['running_task_count']) == (1, 60, 3)
    assert (cluster['task_capacity'], cluster['slot_utilisation'], cluster['backlog_per_slot'], cluster['node_count']) == (10, 0.3, 0.1, 2)
    assert [(n['name'], n['running_task_count'], n['busy']) for n in event['nodes']] == [('i-0a', 3, True), ('i-0b', 0, False)]
    assert event['history'] == [dict(poll=1, ok=True, polled_at=DATE_EPOCH, observed_at=fake_clock.wall, queued_task_count=1,
                                     running_task_count=3, task_capacity=10, task_node_count=2, free_task_slots=7,
                                     slot_utilisation=0.3, backlog_per_slot=0.1, oldest_queued_task_age=60)]
    assert fake_http.count('GET', SUMMARY) == 1 and fake_http.count('GET', 'tasks') == 2, 'summary + queued + running'
    assert api_key not in json.dumps(events)


def test_polls_every_interval_start_to_start(fake_http, octopus_reply, octopus_client, fake_clock):
    route_cluster(fake_http, octopus_reply)
    summary = octopus_reply.reply(octopus_reply.summary(octopus_reply.node('i-0a', 5)), headers={'Date': DATE}, delay=4)
    fake_http.route('GET', SUMMARY, summary)
    events = run(watcher(octopus_client(), fake_clock, max_events=3, interval='30'))
    assert [e['poll'] for e in events] == [1, 2, 3]
    assert fake_clock.sleeps == [26, 26], 'a 4-second poll is followed by 26 s of waiting'
    assert [e['poll'] for e in events[-1]['history']] == [1, 2, 3]


def test_history_is_bounded(fake_http, octopus_reply, octopus_client, fake_clock):
    route_cluster(fake_http, octopus_reply, queued=0)
    events = run(watcher(octopus_client(), fake_clock, max_events=5, history=2))
    assert [e['poll'] for e in events[-1]['history']] == [4, 5]


def test_unreachable_server_error_events_backoff_then_recovery(fake_http, octopus_reply, octopus_client, fake_clock, caplog):
    refused = ConnectionRefusedError(111, 'Connection refused')
    good = octopus_reply.reply(octopus_reply.summary(octopus_reply.node('i-0a', 5)), headers={'Date': DATE})
    fake_http.route('GET', SUMMARY, refused, refused, refused, refused, refused, good)
    fake_http.route('GET', 'tasks', octopus_reply.reply(octopus_reply.page([], total=0), headers={'Date': DATE}))
    with caplog.at_level(logging.WARNING):
        events = run(watcher(octopus_client(max_retries=0), fake_clock, max_events=7, error_backoff_max=300))
    assert [e['kind'] for e in events] == ['error'] * 5 + ['facts'] * 2
    assert [e['consecutive_failures'] for e in events[:5]] == [1, 2, 3, 4, 5]
    assert [e['next_poll_in'] for e in events] == [60, 120, 240, 300, 300, 30, 30]
    assert fake_clock.sleeps == [60, 120, 240, 300, 300, 30]
    error = events[0]['error']
    assert error['status'] == -1 and 'cannot reach the Octopus server' in error['message']
    history = events[-1]['history']
    assert [h['ok'] for h in history] == [False] * 5 + [True] * 2
    assert history[0]['error'] == error['message'] and history[0]['queued_task_count'] is None
    assert 'poll 1 failed (1 in a row), next poll in 60 s' in caplog.text


@pytest.mark.parametrize('status', [500, 503, 401])
def test_server_errors_are_error_events_not_facts(fake_http, octopus_reply, octopus_client, fake_clock, status):
    route_cluster(fake_http, octopus_reply)
    fake_http.route('GET', 'tasks', octopus_reply.error(status, 'boom'))
    event = run(watcher(octopus_client(max_retries=0), fake_clock))[0]
    assert event['kind'] == 'error' and event['error']['status'] == status
    assert 'cluster' not in event and event['history'][-1]['ok'] is False


def test_forbidden_summary_still_gives_the_queue(fake_http, octopus_reply, octopus_client, fake_clock):
    route_cluster(fake_http, octopus_reply)
    fake_http.route('GET', SUMMARY, octopus_reply.error(403, 'Missing permission: AdministerSystem'))
    event = run(watcher(octopus_client(), fake_clock))[0]
    assert event['kind'] == 'facts' and event['nodes'] is None
    assert event['cluster']['queued_task_count'] == 1 and event['cluster']['task_capacity'] is None
    assert event['cluster']['slot_utilisation'] is None and 'AdministerSystem' in event['warnings'][0]


def test_no_server_date_falls_back_to_the_controller_clock(fake_http, octopus_reply, octopus_client, fake_clock):
    route_cluster(fake_http, octopus_reply, date=None)
    event = run(watcher(octopus_client(), fake_clock))[0]
    assert (event['clock_source'], event['polled_at']) == ('controller', fake_clock.wall)
    assert event['cluster']['oldest_queued_task_age'] is None


def test_the_key_never_appears_in_events_or_logs(fake_http, octopus_reply, octopus_client, fake_clock, api_key, caplog):
    route_cluster(fake_http, octopus_reply)
    fake_http.route('GET', SUMMARY, octopus_reply.error(500, 'key %s rejected' % api_key))
    with caplog.at_level(logging.DEBUG):
        client = src.client_from_args({'url': 'http://octopus.example.com', 'max_retries': 0}, env={'OCTOPUS_API_KEY': api_key},
                                      open_url=fake_http, sleep=fake_clock.sleep, clock=fake_clock.monotonic,
                                      wallclock=fake_clock.time, rng=lambda: 1.0)
        events = run(watcher(client, fake_clock, max_events=2))
    assert events[0]['kind'] == 'error' and '********' in events[0]['error']['message']
    assert api_key not in json.dumps(events) and api_key not in caplog.text
    assert 'plain http://' in caplog.text, 'the client warning reaches the log'


def test_unexpected_errors_do_not_stop_the_source(fake_http, octopus_reply, octopus_client, fake_clock, caplog, monkeypatch):
    route_cluster(fake_http, octopus_reply)
    calls = []

    def broken(client, nodes):
        calls.append(nodes)
        if len(calls) == 1:
            raise TypeError('a bug')
        return real(client, nodes)
    real = src.QUEUE.read_queue
    monkeypatch.setattr(src.QUEUE, 'read_queue', broken)
    events = run(watcher(octopus_client(), fake_clock, max_events=2))
    assert [e['kind'] for e in events] == ['error', 'facts']
    assert events[0]['error']['message'] == 'Could not poll the Octopus cluster: TypeError: a bug'


def test_arguments_environment_and_validation(monkeypatch, api_key):
    client = src.client_from_args({'url': '', 'api_key': '', 'validate_certs': 'false', 'timeout': '5'},
                                  env={'OCTOPUS_URL': 'https://octo.example.com/api/', 'OCTOPUS_API_KEY': api_key})
    assert (client.base_url, client.validate_certs, client.timeout, client.max_retries) == ('https://octo.example.com', False, 5, 2)
    with pytest.raises(ValueError, match='needs an API key: set OCTOPUS_API_KEY'):
        src.client_from_args({'url': 'https://x'}, env={})
    with pytest.raises(ValueError, match='needs the Octopus url'):
        src.client_from_args({}, env={'OCTOPUS_API_KEY': api_key})
    with pytest.raises(ValueError, match='validate_certs must be true or false'):
        src.client_from_args({'validate_certs': 'maybe'}, env={'OCTOPUS_URL': 'https://x', 'OCTOPUS_API_KEY': api_key})
    with pytest.raises(ValueError, match='interval must be above 0'):
        src.ClusterWatcher({'interval': 0}, client=client)
    with pytest.raises(ValueError) as err:
        src.client_from_args({'url': 'https://x', 'api_key': api_key, 'timeout': 0}, env={})
    assert api_key not in str(err.value)


def test_loads_with_runpy_outside_the_collection_loader(tmp_path):
    """ansible-rulebook runs the file with runpy.run_path: it must find the API layer from its own location."""
    env = dict(os.environ)
    env.pop('PYTHONPATH', None)
    code = ('import runpy, sys; sys.path = [p for p in sys.path if "collections" not in p]; '
            'm = runpy.run_path(sys.argv[1]); print(m["API"].__name__, callable(m["main"]))')
    proc = subprocess.run([sys.executable, '-c', code, src.__file__], env=env, cwd=str(tmp_path), capture_output=True,
                          text=True, timeout=120, check=False)
    assert proc.stdout.split() == ['ansible_collections.octopus.ha.plugins.module_utils._octopus_api', 'True'], proc.stderr
