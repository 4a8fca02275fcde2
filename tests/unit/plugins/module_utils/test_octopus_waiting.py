# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# Copyright: Contributors to the octopus.ha collection
"""Waiting is cheap, and what it shows a person reads (issue 12 section 3, issue 11 section 4).

- a poll costs one request while nothing changes, and the TLS context is made once per client;
- a segmented wait (the action plugin's runs) resumes from what the previous run returned and
  keeps no other state;
- progress text: the node's name, each task with its description and how long it has run by the
  server's clock, plurals; diffs: only the fields that change, without LastModifiedOn/By.
"""

from __future__ import absolute_import, division, print_function
__metaclass__ = type

import json
import os
import re

import pytest

from ansible.module_utils import urls as ansible_urls
from ansible_collections.octopus.ha.plugins.module_utils import _octopus_api
from ansible_collections.octopus.ha.plugins.module_utils._octopus_api import OctopusClient
from ansible_collections.octopus.ha.plugins.module_utils._octopus_drain import (
    DONE,
    WAITING,
    WATCHING,
    NodeStep,
    drive,
    duration_text,
    node_diff,
    progress_line,
    resume_state,
    task_digest,
)
from ansible_collections.octopus.ha.plugins.module_utils._octopus_tasks import Timer
from ansible_collections.octopus.ha.tests.unit.plugins.module_utils.fake_octopus import KEY, URL, Clock, FakeResponse, iso, patched

NODE_A = 'OctopusServerNodes-A'


@pytest.fixture
def clock():
    return Clock()


@pytest.fixture
def octo(clock, monkeypatch):
    server = patched(clock, monkeypatch)
    for name in ('A', 'B', 'C'):
        server.add_node(name)
    return server


def params(**overrides):
    base = dict(name='A', id=None, state='absent', max_concurrent_tasks=None, drained=None, wait=True, drain_timeout=1800,
                poll_interval=1, max_poll_interval=30, cancel_on_timeout=False, pending_interruptions='block', cancel_timeout=300,
                force=False, min_task_nodes=1, min_task_capacity=0, offline_grace=600, delete_online=True, reregistration_watch=30,
                reason=None)
    base.update(overrides)
    return base


def stepper(clock, **overrides):
    return NodeStep(OctopusClient(URL, KEY), params(**overrides), Timer(clock.monotonic, clock.sleep))


# ---- TLS context: once per client ------------------------------------------------------------

def test_the_tls_context_is_made_once_per_client_and_reused(monkeypatch, tls_files):
    made, opened = [], []
    ca_path = tls_files.ca_path  # a real CA file: the client checks it up front; make_context itself is faked

    def make_context(**kwargs):
        made.append(kwargs)
        return object()

    def request_open(self, method, url, **kwargs):
        opened.append((method, kwargs.get('context')))
        return FakeResponse(json.dumps(dict(Items=[], TotalResults=0, ItemsPerPage=30)).encode('utf-8'))

    monkeypatch.setattr(ansible_urls, 'make_context', make_context)
    monkeypatch.setattr(ansible_urls.Request, 'open', request_open)
    monkeypatch.setattr(_octopus_api, '_REQUEST_TAKES_CONTEXT', True)
    client = OctopusClient(URL, KEY, ca_path=ca_path, validate_certs=True, open_url=ansible_urls.open_url)
    for dummy in range(5):
        client.get('tasks')
    assert made == [dict(cafile=ca_path, validate_certs=True, client_cert=None, client_key=None)]
    assert len(opened) == 5 and len(set(id(c) for m, c in opened)) == 1 and opened[0][1] is not None
    OctopusClient(URL, KEY, validate_certs=False, open_url=ansible_urls.open_url).get('tasks')
    assert made[-1] == dict(cafile=None, validate_certs=False, client_cert=None, client_key=None)


def test_a_context_that_cannot_be_made_fails_like_open_url_and_is_not_cached(monkeypatch, clock, tls_files):
    attempts = []
    ca_path = tls_files.ca_path  # passes the up-front check; the faked make_context fails as a vanished file would

    def make_context(**kwargs):
        attempts.append(kwargs)
        raise FileNotFoundError(2, 'No such file or directory')

    monkeypatch.setattr(ansible_urls, 'make_context', make_context)
    monkeypatch.setattr(_octopus_api, '_REQUEST_TAKES_CONTEXT', True)
    client = OctopusClient(URL, KEY, ca_path=ca_path, open_url=ansible_urls.open_url, max_retries=1,
                           sleep=clock.sleep, clock=clock.monotonic, wallclock=clock.time, rng=lambda: 1.0)
    with pytest.raises(_octopus_api.OctopusApiError):
        client.get('tasks')
    assert client._tls_context is None and attempts


def test_an_injected_open_url_is_called_as_before(monkeypatch):
    calls = []

    def fake(url, **kwargs):
        calls.append(kwargs)
        return FakeResponse(b'{}')
    monkeypatch.setattr(_octopus_api, '_REQUEST_TAKES_CONTEXT', True)
    OctopusClient(URL, KEY, open_url=fake).get('x')
    assert 'context' not in calls[0] and calls[0]['ca_path'] is None


# ---- quiet polls ---------------------------------------------------------------------------------

def test_a_quiet_poll_is_one_request_and_sees_a_change(octo, clock):
    octo.add_task('T1', 'A', duration=30)
    step = stepper(clock)
    total = step.run()
    assert total['status'] == WAITING
    before = len(octo.log)
    assert step.quiet(total) is False
    assert [(m, p, q.get('node'), q.get('states')) for m, p, q, b in octo.log[before:]] == [
        ('GET', 'tasks', NODE_A, 'Executing,Cancelling,Queued')]
    clock.advance(31)
    assert step.quiet(total) is True and total['tasks_seen'] == []


def test_a_quiet_poll_that_fails_asks_for_a_full_step(octo, clock):
    octo.add_task('T1', 'A')
    step = stepper(clock)
    total = step.run()
    octo.fault('GET', '^tasks$', status=500, count=100)
    assert step.quiet(total) is True


def test_without_a_quiet_poll_every_poll_is_a_full_step(octo, clock):
    octo.add_task('T1', 'A', duration=10)
    step = stepper(clock, reregistration_watch=0)
    calls = []

    def full(kind, known):
        calls.append(kind)
        return step.run(kind, known)
    drive(full, step.params, step.timer)
    assert len(calls) == 11 and octo.count('GET', 'summary$') >= 11


def test_the_whole_wait_in_one_run_reads_the_summary_once_a_minute(octo, clock):
    octo.add_task('T1', 'A', duration=600)
    step = stepper(clock, reregistration_watch=0)
    result = drive(step.run, step.params, step.timer)
    assert result['deleted'] is True
    # guard + re-check after the drain, one refresh a minute, and the full step that saw the end.
    assert octo.count('GET', 'summary$') <= 2 + 600 // 60 + 1
    # One tasks read per poll, plus the first step's and the full step after the quiet poll that saw the end.
    assert octo.count('GET', '^tasks$') == len(clock.sleeps) + 2


# ---- segments: resumed from what the previous run returned ----------------------------------

def test_a_segmented_wait_resumes_from_the_returned_state_only(octo, clock):
    octo.add_task('T1', 'A', duration=200, description='Deploy Web', started_ago=10)
    first = drive(stepper(clock).run, params(), Timer(clock.monotonic, clock.sleep), segmented=True)
    assert 'resume' in first and clock.sleeps == [], 'the first run returns at once, for the first line'
    state = json.loads(json.dumps(first['resume']))   # what crosses the module boundary is plain JSON
    runs = 1
    while True:
        fresh = stepper(clock)                          # a new module run: nothing kept in memory
        out = drive(fresh.run, params(), Timer(clock.monotonic, clock.sleep), resume=resume_state(dict(resume=state)),
                    segmented=True)
        runs += 1
        if 'resume' not in out:
            break
        state = json.loads(json.dumps(out['resume']))
    assert out['deleted'] is True and out['changed'] is True and not out.get('failed')
    assert octo.mutations() == [('PUT', 'octopusservernodes/' + NODE_A), ('DELETE', 'octopusservernodes/' + NODE_A)]
    assert 200 <= out['elapsed']['wait'] <= 200 * 1.04
    assert runs == 3   # at once; a segment ending after 120 s; the task's end at 200 s, the delete and the watch


def test_an_invalid_resume_state_is_refused():
    for bad in ('x', dict(resume='x'), dict(resume=dict(total=dict(status=DONE)))):
        with pytest.raises(ValueError):
            resume_state(bad)
    assert resume_state(dict(resume=None)) is None


# ---- what a person reads --------------------------------------------------------------------------

@pytest.mark.parametrize('seconds, text', [(0, '0s'), (59, '59s'), (60, '1m'), (250, '4m10s'), (3600, '1h00m'), (7384, '2h03m')])
def test_duration_text(seconds, text):
    assert duration_text(seconds) == text


def test_task_durations_use_the_servers_clock(octo, clock):
    octo.server_clock_offset = -3 * 86400   # the controller's clock is three days ahead of the server's
    octo.add_task('ServerTasks-6', 'A', started_ago=250, description='Deploy Web 1.0.0 to Production')
    total = stepper(clock).run()
    assert progress_line(total, 1790, params()) == ('octopus_node: A drained, waiting for 1 task (29m50s left):\n'
                                                    '  ServerTasks-6 Deploy Web 1.0.0 to Production, running 4m10s')


def test_progress_names_the_node_by_name_when_given_its_id_and_words_each_state(octo, clock):
    octo.add_task('T1', 'A', started_ago=5, description='Deploy')
    octo.add_task('T2', 'A', state='Queued', interrupted=True, started_ago=61, description='Deploy paused')
    octo.add_task('T3', 'A', state='Cancelling', started_ago=3600, description='Backup')
    total = stepper(clock, id=NODE_A, name=None).run()
    assert progress_line(total, 60, params(id=NODE_A, name=None)).split('\n') == [
        'octopus_node: A drained, waiting for 3 tasks (1m left):',
        '  T1 Deploy, running 5s',
        '  T2 Deploy paused, waiting for a manual intervention, running 1m01s',
        '  T3 Backup, cancelling, running 1h00m',
    ]
    assert progress_line(dict(status=WATCHING, node={}, before=dict(Name='A')), 25, params()) == \
        'octopus_node: A deleted, watching whether it registers again (25s left)'


def test_a_server_without_a_date_shows_no_durations():
    seen = task_digest([dict(Id='T1', State='Executing', Description='D', StartTime=iso(1000.0))], None)
    assert seen[0]['seconds'] is None
    line = progress_line(dict(status=WAITING, running_tasks=['T1'], tasks_seen=seen, node=dict(Name='A')), 10, params())
    assert line.endswith('  T1 D, running')


def test_a_diff_shows_only_what_changes_without_the_servers_bookkeeping():
    before = dict(Id=NODE_A, Name='A', MaxConcurrentTasks=5, IsInMaintenanceMode=False, LastModifiedOn='2026-01-01T00:00:00',
                  LastModifiedBy='alice', Links=dict(Self='x'))
    after = dict(before, IsInMaintenanceMode=True, LastModifiedOn='2026-01-01T00:05:00', LastModifiedBy='octopus-ha')
    diff = node_diff(before, after, params())
    assert diff['before'] == dict(IsInMaintenanceMode=False) and diff['after'] == dict(IsInMaintenanceMode=True)
    assert diff['before_header'] == diff['after_header'] == 'Octopus server node A (%s)' % NODE_A
    deleted = node_diff(before, {}, params())
    assert deleted['before'] == dict(Id=NODE_A, Name='A', MaxConcurrentTasks=5, IsInMaintenanceMode=False)
    assert deleted['after'] == {} and deleted['after_header'].endswith('(deleted)')
    assert node_diff(before, dict(before, LastModifiedBy='bob'), params())['before'] == {}


# ---- the docs show what the tool prints --------------------------------------------------------

DOCS = os.path.join(os.path.dirname(os.path.abspath(__file__)), '..', '..', '..', '..', 'docs')


def test_the_progress_lines_in_the_docs_are_what_the_tool_prints():
    with open(DOCS + '/modules.md', encoding='utf-8') as handle:
        modules = handle.read()
    with open(DOCS + '/scale-in.md', encoding='utf-8') as handle:
        scale_in = handle.read()
    node = dict(Name='OCTO-NODE-03', Id='OctopusServerNodes-OCTO-NODE-03')
    web = dict(Id='ServerTasks-6', State='Executing', Description='Deploy Web 1.0.0 to Production', interrupted=False,
               started=True, seconds=250)
    paused = dict(Id='ServerTasks-7', State='Queued', Description='Deploy Payments 2.3.1 to Production', interrupted=True,
                  started=True, seconds=720)
    waiting = progress_line(dict(status=WAITING, node=node, running_tasks=['ServerTasks-6', 'ServerTasks-7'],
                                 tasks_seen=[web, paused]), 1750, params())
    cancelling = progress_line(dict(status='cancelling', node=node, running_tasks=['ServerTasks-6'],
                                    tasks_seen=[dict(web, State='Cancelling', seconds=2100)]), 290, params())
    assert '\n'.join([waiting, cancelling]) in modules
    one = progress_line(dict(status=WAITING, node=node, running_tasks=['ServerTasks-6'], tasks_seen=[web]), 1800, params())
    assert one in scale_in


def _seconds(text):
    """'4m10s' -> 250 (the inverse of duration_text)."""
    total = 0
    for value, unit in re.findall(r'(\d+)([hms])', text):
        total += int(value) * dict(h=3600, m=60, s=1)[unit]
    return total


def _rebuild(block):
    """The text progress_line prints for what a block of a document says (node, time left, tasks and how they run)."""
    lines = block.split('\n')
    watching = re.match(r'octopus_node: (\S+) deleted, watching whether it registers again \((\S+) left\)$', lines[0])
    if watching and len(lines) == 1:
        return progress_line(dict(status=WATCHING, node=dict(Name=watching.group(1))), _seconds(watching.group(2)), params())
    head = re.match(r'octopus_node: (\S+) drained, waiting for (\d+) (cancelled )?tasks?(?: to end)? \((\S+) left\):$', lines[0])
    assert head, lines[0]
    seen, ids = [], []
    for line in lines[1:]:
        task = re.match(r'  (\S+) (.*), (waiting for a manual intervention, |cancelling, )?running (\S+)$', line)
        assert task, line
        ids.append(task.group(1))
        state = 'Cancelling' if task.group(3) == 'cancelling, ' else ('Queued' if task.group(3) else 'Executing')
        seen.append(dict(Id=task.group(1), Description=task.group(2), State=state, interrupted=bool(task.group(3) and state == 'Queued'),
                         started=True, seconds=_seconds(task.group(4))))
    total = dict(status='cancelling' if head.group(3) else WAITING, node=dict(Name=head.group(1)), running_tasks=ids,
                 tasks_seen=seen)
    return progress_line(total, _seconds(head.group(4)), params())


def test_the_progress_blocks_in_the_readme_have_the_tools_format():
    with open(DOCS + '/../README.md', encoding='utf-8') as handle:
        lines = handle.read().split('\n')
    blocks, current = [], None
    for line in lines:
        if line.startswith('octopus_node: '):
            current = [line]
            blocks.append(current)
        elif current is not None and line.startswith('  ') and not line.startswith('   '):
            current.append(line)
        else:
            current = None
    blocks = ['\n'.join(b) for b in blocks]
    assert blocks, 'the README demo shows progress'
    for block in blocks:
        assert _rebuild(block) == block
