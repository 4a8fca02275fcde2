# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# Copyright: Contributors to the octopus.ha collection
"""octopus_cluster_info main(): the task queue facts (RETURN ``queue``), over the fake HTTP layer."""

from __future__ import absolute_import, division, print_function
__metaclass__ = type

import json

import pytest

from ansible_collections.octopus.ha.plugins.modules import octopus_cluster_info

SUMMARY = 'octopusservernodes/summary'
DATE = 'Thu, 01 Jan 2026 00:10:00 GMT'


@pytest.fixture
def cluster(patch_octopus, octopus_reply):
    reply = octopus_reply
    nodes = [reply.node('A', 5, running=2, last_seen='2026-01-01T00:09:55Z'),
             reply.node('B', 5, drained=True, running=1, last_seen='2026-01-01T00:09:55Z')]
    patch_octopus.route('GET', '', reply.reply(reply.root()))
    patch_octopus.route('GET', SUMMARY, reply.reply(reply.summary(*nodes), headers={'Date': DATE}))
    patch_octopus.route('GET', 'licenses/licenses-current-status', reply.reply(dict(IsCompliant=True, Limits=[])))
    return patch_octopus


def tasks_page(reply, items, total):
    return reply.reply(reply.page(items, total=total), headers={'Date': DATE})


def test_queue_facts_one_request_each(cluster, octopus_reply, run_module, api_key):
    reply = octopus_reply
    cluster.route('GET', 'tasks',
                  tasks_page(reply, [dict(Id='ServerTasks-9', QueueTime='2026-01-01T00:09:30Z')], 2),
                  tasks_page(reply, [dict(Id='ServerTasks-8', QueueTime='2026-01-01T00:08:00Z')], 2),
                  tasks_page(reply, [], 3))
    result, code = run_module(octopus_cluster_info.main, {})
    assert code == 0 and not result.get('warnings'), result
    queue = result['queue']
    assert dict((k, v) for k, v in queue.items() if k != 'nodes') == dict(
        queued_task_count=2, oldest_queued_task_age=120, oldest_queued_task_id='ServerTasks-8', running_task_count=3,
        task_capacity=5, task_node_count=1, free_task_slots=2, slot_utilisation=0.6, backlog_per_slot=0.4,
        server_time='2026-01-01T00:10:00+00:00')
    assert [(n['name'], n['task_slots'], n['busy']) for n in queue['nodes']] == [('A', 5, True), ('B', 0, True)]
    assert queue['task_capacity'] == result['cluster']['task_capacity']
    assert cluster.count('GET', 'tasks') == 3
    assert cluster.count('GET', SUMMARY) == 1, 'the capacity comes from the summary the module read anyway'
    assert api_key not in json.dumps(result)


def test_unreadable_queue_fact_is_null_with_a_warning(cluster, octopus_reply, run_module, warning_texts, api_key):
    forbidden = 'You do not have permission to perform this action. Missing permission: TaskView'
    cluster.route('GET', 'tasks', octopus_reply.error(403, forbidden), tasks_page(octopus_reply, [], 1))
    result, code = run_module(octopus_cluster_info.main, {})
    assert code == 0
    queue = result['queue']
    assert queue['queued_task_count'] is None and queue['backlog_per_slot'] is None and queue['oldest_queued_task_age'] is None
    assert queue['running_task_count'] == 1 and queue['slot_utilisation'] == 0.2
    texts = warning_texts(result)
    assert len(texts) == 1 and 'queue fact could not be read' in texts[0] and 'TaskView' in texts[0]
    assert result['nodes'] and result['cluster']['task_capacity'] == 5, 'the rest of the result is unaffected'
    assert api_key not in json.dumps(result)


def test_no_summary_means_no_capacity_but_counts_still_read(patch_octopus, octopus_reply, run_module):
    reply = octopus_reply
    patch_octopus.route('GET', '', reply.reply(reply.root()))
    patch_octopus.route('GET', SUMMARY, reply.error(403, 'Missing permission: AdministerSystem'))
    patch_octopus.route('GET', 'octopusservernodes', reply.reply(reply.page([dict(Id='OctopusServerNodes-A', Name='A',
                                                                                  MaxConcurrentTasks=5)])))
    patch_octopus.route('GET', 'licenses/licenses-current-status', reply.error(403, 'Missing permission: AdministerSystem'))
    patch_octopus.route('GET', 'tasks', tasks_page(reply, [], 0), tasks_page(reply, [], 4))
    result, code = run_module(octopus_cluster_info.main, {})
    assert code == 0
    queue = result['queue']
    assert (queue['queued_task_count'], queue['running_task_count']) == (0, 4)
    assert queue['task_capacity'] is None and queue['slot_utilisation'] is None and queue['nodes'] is None
