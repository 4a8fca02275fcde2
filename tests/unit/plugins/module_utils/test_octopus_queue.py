# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# Copyright: Contributors to the octopus.ha collection
"""Unit tests of _octopus_queue (the queue facts) over the fake HTTP layer of tests/unit/conftest.py."""

from __future__ import absolute_import, division, print_function
__metaclass__ = type

import pytest

from ansible_collections.octopus.ha.plugins.module_utils import _octopus_queue as queue

DATE = 'Thu, 01 Jan 2026 00:10:00 GMT'      # 600 s after 2026-01-01T00:00:00Z
NODES = [
    dict(id='OctopusServerNodes-A', name='A', max_concurrent_tasks=5, drained=False, offline=False, running_task_count=2),
    dict(id='OctopusServerNodes-B', name='B', max_concurrent_tasks=5, drained=True, offline=False, running_task_count=1),
    dict(id='OctopusServerNodes-UI', name='UI', max_concurrent_tasks=0, drained=False, offline=False, running_task_count=0),
    dict(id='OctopusServerNodes-OLD', name='OLD', max_concurrent_tasks=5, drained=False, offline=True, running_task_count=None),
]


def queued(task_id, queue_time):
    return dict(Id=task_id, State='Queued', QueueTime=queue_time, SpaceId='Spaces-1')


def page(reply, items, total, date=DATE):
    return reply.reply(reply.page(items, total=total), headers={'Date': date} if date else None)


def read(octopus_client, nodes=None, default_nodes=True, **kwargs):
    return queue.read_queue(octopus_client(**kwargs), list(NODES) if nodes is None and default_nodes else nodes)


def test_facts_cost_one_request_each(fake_http, octopus_reply, octopus_client):
    fake_http.route('GET', 'tasks',
                    page(octopus_reply, [queued('ServerTasks-9', '2026-01-01T00:09:50.000+00:00')], 4),
                    page(octopus_reply, [queued('ServerTasks-2', '2026-01-01T00:08:20.1234567+00:00')], 4),
                    page(octopus_reply, [dict(Id='ServerTasks-1', State='Executing')], 3))
    reading = read(octopus_client)
    assert reading.facts == dict(
        queued_task_count=4, oldest_queued_task_age=99, oldest_queued_task_id='ServerTasks-2', running_task_count=3,
        task_capacity=5, task_node_count=1, free_task_slots=2, slot_utilisation=0.6, backlog_per_slot=0.8,
        server_time='2026-01-01T00:10:00+00:00')
    assert reading.errors == [] and reading.server_trouble() is None
    queries = [c.query for c in fake_http.calls]
    expected = [('Queued', '0', '1'), ('Queued', '3', '1'), ('Executing,Cancelling', '0', '1')]
    assert [(q['states'], q['skip'], q['take']) for q in queries] == expected
    assert all(q['spaces'] == 'all' and q['includeSystem'] == 'true' for q in queries)
    assert [n['name'] for n in reading.nodes] == ['A', 'B', 'UI', 'OLD']
    assert reading.nodes[0] == dict(id='OctopusServerNodes-A', name='A', max_concurrent_tasks=5, drained=False, offline=False,
                                    task_node=True, task_slots=5, running_task_count=2, slot_utilisation=0.4, busy=True)
    assert [(n['task_node'], n['task_slots'], n['busy']) for n in reading.nodes[1:]] == [
        (False, 0, True), (False, 0, False), (False, 0, None)]


def test_empty_queue_needs_no_oldest_request_and_has_age_zero(fake_http, octopus_reply, octopus_client):
    fake_http.route('GET', 'tasks', page(octopus_reply, [], 0), page(octopus_reply, [], 0))
    facts = read(octopus_client).facts
    assert (facts['queued_task_count'], facts['oldest_queued_task_age'], facts['oldest_queued_task_id']) == (0, 0, None)
    assert facts['backlog_per_slot'] == 0.0 and facts['slot_utilisation'] == 0.0
    assert fake_http.count('GET', 'tasks') == 2


def test_one_queued_task_is_its_own_oldest(fake_http, octopus_reply, octopus_client):
    fake_http.route('GET', 'tasks', page(octopus_reply, [queued('ServerTasks-7', '2026-01-01T00:09:00Z')], 1),
                    page(octopus_reply, [], 0))
    facts = read(octopus_client).facts
    assert (facts['oldest_queued_task_age'], facts['oldest_queued_task_id']) == (60, 'ServerTasks-7')
    assert fake_http.count('GET', 'tasks') == 2


def test_oldest_does_not_depend_on_the_list_order(fake_http, octopus_reply, octopus_client):
    """A server that listed oldest first: the first page's task is the older one, and it wins."""
    fake_http.route('GET', 'tasks', page(octopus_reply, [queued('ServerTasks-1', '2026-01-01T00:00:00Z')], 3),
                    page(octopus_reply, [queued('ServerTasks-3', '2026-01-01T00:09:00Z')], 3), page(octopus_reply, [], 0))
    assert read(octopus_client).facts['oldest_queued_task_id'] == 'ServerTasks-1'


def test_future_queue_time_counts_as_age_zero(fake_http, octopus_reply, octopus_client):
    fake_http.route('GET', 'tasks', page(octopus_reply, [queued('ServerTasks-5', '2026-01-01T01:00:00Z')], 1),
                    page(octopus_reply, [], 0))
    assert read(octopus_client).facts['oldest_queued_task_age'] == 0


def test_no_server_date_leaves_the_age_unknown(fake_http, octopus_reply, octopus_client):
    fake_http.route('GET', 'tasks', page(octopus_reply, [queued('ServerTasks-5', '2026-01-01T00:00:00Z')], 1, date=None),
                    page(octopus_reply, [], 0, date=None))
    facts = read(octopus_client).facts
    assert facts['queued_task_count'] == 1 and facts['oldest_queued_task_age'] is None and facts['server_time'] is None


def test_queue_that_shrank_between_the_requests_leaves_the_age_unknown(fake_http, octopus_reply, octopus_client):
    fake_http.route('GET', 'tasks', page(octopus_reply, [queued('ServerTasks-9', '2026-01-01T00:09:00Z')], 5),
                    page(octopus_reply, [], 2), page(octopus_reply, [], 1))
    reading = read(octopus_client)
    assert reading.facts['queued_task_count'] == 5 and reading.facts['oldest_queued_task_age'] is None
    assert reading.facts['running_task_count'] == 1
    assert 'queue changed' in str(reading.errors[0]) and reading.server_trouble() is None


@pytest.mark.parametrize('status, trouble', [(503, True), (500, True), (401, True), (403, False), (404, False)])
def test_an_unreadable_count_is_none_and_the_rest_still_reads(fake_http, octopus_reply, octopus_client, status, trouble):
    fake_http.route('GET', 'tasks', octopus_reply.error(status), page(octopus_reply, [], 2))
    reading = read(octopus_client, max_retries=0)
    facts = reading.facts
    assert facts['queued_task_count'] is None and facts['oldest_queued_task_age'] is None and facts['backlog_per_slot'] is None
    assert facts['running_task_count'] == 2 and facts['slot_utilisation'] == 0.4
    assert [e.status for e in reading.errors] == [status]
    assert (reading.server_trouble() is not None) is trouble


def test_transport_error_is_server_trouble(fake_http, octopus_client):
    fake_http.route('GET', 'tasks', ConnectionRefusedError(111, 'refused'))
    reading = read(octopus_client, max_retries=0)
    assert reading.facts['queued_task_count'] is None and reading.facts['running_task_count'] is None
    assert reading.server_trouble().status == -1


def test_a_page_without_a_count_is_an_error_not_zero(fake_http, octopus_reply, octopus_client):
    fake_http.route('GET', 'tasks', octopus_reply.reply(dict(Items=[])), page(octopus_reply, [], 0))
    reading = read(octopus_client)
    assert reading.facts['queued_task_count'] is None
    assert 'no TotalResults' in str(reading.errors[0])


def test_unknown_node_state_makes_capacity_unknown(fake_http, octopus_reply, octopus_client):
    fake_http.route('GET', 'tasks', page(octopus_reply, [], 0), page(octopus_reply, [], 1))
    nodes = [dict(NODES[0]), dict(NODES[1], offline=None)]
    facts = read(octopus_client, nodes=nodes).facts
    assert facts['task_capacity'] is None and facts['slot_utilisation'] is None and facts['free_task_slots'] is None
    assert read(octopus_client, default_nodes=False).facts['task_capacity'] is None


def test_zero_capacity_has_no_ratios(fake_http, octopus_reply, octopus_client):
    fake_http.route('GET', 'tasks', page(octopus_reply, [queued('ServerTasks-1', '2026-01-01T00:09:00Z')], 1),
                    page(octopus_reply, [], 0))
    facts = read(octopus_client, nodes=[NODES[1], NODES[2]]).facts
    assert (facts['task_capacity'], facts['free_task_slots'], facts['slot_utilisation'], facts['backlog_per_slot']) == (0, 0, None, None)


def test_summary_node_facts_and_derive():
    raw = dict(Id='OctopusServerNodes-A', Name='A', MaxConcurrentTasks=5, IsInMaintenanceMode=False, IsOffline=False,
               RunningTaskCount=5, Version='x')
    assert queue.summary_node_facts(raw) == dict(id='OctopusServerNodes-A', name='A', max_concurrent_tasks=5, drained=False,
                                                 offline=False, running_task_count=5)
    assert queue.derive(dict(task_capacity=3, running_task_count=5, queued_task_count=1)) == dict(
        task_capacity=3, running_task_count=5, queued_task_count=1, free_task_slots=0, slot_utilisation=1.6667,
        backlog_per_slot=0.3333)
