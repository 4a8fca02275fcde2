# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# Copyright: Contributors to the octopus.ha collection
"""Task queue facts of an Octopus HA cluster: what waits, what runs, and how full the task slots are.

This module_util is PRIVATE to the octopus.ha collection, not a public API.
It may change without notice between any two releases.

Used by the octopus_cluster_info module (its ``queue`` result) and by the octopus_cluster event
source, so both report the same facts computed the same way. Over all spaces and system tasks
(``spaces=all&includeSystem=true``), each fact costs at most one request:

- ``queued_task_count``: one ``/tasks?states=Queued&take=1`` (its ``TotalResults``);
- ``oldest_queued_task_age`` (0 when nothing is queued): one more page of one task at ``skip=TotalResults-1`` (the list is
  newest first; the newest task from the count request is compared too, so the result does not
  depend on the order), measured against the server's clock (the ``Date`` of that answer);
- ``running_task_count``: one ``/tasks?states=Executing,Cancelling&take=1``;
- ``task_capacity`` and the per-node slots: from the cluster summary the caller has read already.

A fact that cannot be read is ``None``; the reason is in ``errors``. Ratios are rounded to 4 places.
"""

from __future__ import absolute_import, division, print_function
__metaclass__ = type

import datetime

from ansible_collections.octopus.ha.plugins.module_utils._octopus_api import OctopusApiError
from ansible_collections.octopus.ha.plugins.module_utils._octopus_cluster import (
    RUNNING_STATES, TASKS_PATH, node_is_task_node, parse_timestamp)

QUEUED_STATES = ('Queued',)
RATIO_DIGITS = 4
# The queue facts of one reading, in the order they are documented.
FACT_KEYS = ('queued_task_count', 'oldest_queued_task_age', 'oldest_queued_task_id', 'running_task_count',
             'task_capacity', 'task_node_count', 'free_task_slots', 'slot_utilisation', 'backlog_per_slot', 'server_time')


class QueueReading:
    """The facts of one reading plus the errors that left some of them None."""

    def __init__(self, facts, nodes, errors, server_epoch):
        self.facts = facts
        self.nodes = nodes
        self.errors = errors
        self.server_epoch = server_epoch

    def server_trouble(self):
        """The first error that means the server (or the way to it) is failing, not a missing permission."""
        for err in self.errors:
            if err.status is None or err.status == -1 or err.status == 401 or err.status >= 500:
                return err
        return None


def summary_node_facts(node):
    """The snake_case node facts of one /octopusservernodes/summary item (the shape octopus_cluster_info returns)."""
    return dict(id=node.get('Id'), name=node.get('Name'), max_concurrent_tasks=node.get('MaxConcurrentTasks'),
                drained=node.get('IsInMaintenanceMode'), offline=node.get('IsOffline'),
                running_task_count=node.get('RunningTaskCount'))


def ratio(numerator, denominator):
    """numerator / denominator rounded, or None when either is unknown or the denominator is 0."""
    if numerator is None or not denominator:
        return None
    return round(float(numerator) / denominator, RATIO_DIGITS)


def is_task_node(node):
    """True/False for a node in the snake_case shape, None when its state is unknown."""
    if node.get('offline') is None or node.get('drained') is None or node.get('max_concurrent_tasks') is None:
        return None
    return node_is_task_node(dict(IsOffline=node['offline'], IsInMaintenanceMode=node['drained'],
                                  MaxConcurrentTasks=node['max_concurrent_tasks']))


def node_slots(node):
    """Per-node slot facts: task_node, task_slots (its cap when it takes tasks, else 0), running tasks, utilisation, busy."""
    task_node = is_task_node(node)
    slots = None if task_node is None else (int(node['max_concurrent_tasks']) if task_node else 0)
    running = node.get('running_task_count')
    running = running if isinstance(running, int) and not isinstance(running, bool) else None
    return dict(id=node.get('id'), name=node.get('name'), max_concurrent_tasks=node.get('max_concurrent_tasks'),
                drained=node.get('drained'), offline=node.get('offline'), task_node=task_node, task_slots=slots,
                running_task_count=running, slot_utilisation=ratio(running, slots),
                busy=None if running is None else running > 0)


def capacity(nodes):
    """(task capacity, task node count) of online, undrained nodes; (None, None) when any node's state is unknown."""
    if nodes is None:
        return None, None
    slots = [node_slots(n) for n in nodes]
    if any(s['task_node'] is None for s in slots):
        return None, None
    return sum(s['task_slots'] for s in slots), len([s for s in slots if s['task_node']])


def _query(states, skip, take):
    return dict(spaces='all', includeSystem='true', states=','.join(states), skip=skip, take=take)


def _page(client, states, skip, take, action):
    page = client.get(TASKS_PATH, query=_query(states, skip, take), action=action)
    total = page.get('TotalResults') if isinstance(page, dict) else None
    items = page.get('Items') if isinstance(page, dict) else None
    if not isinstance(total, int) or isinstance(total, bool) or total < 0 or not isinstance(items, list):
        raise OctopusApiError('Could not %s: unexpected response from %s (no TotalResults count or Items list). Check that url '
                              'points at the Octopus Server itself.' % (action, client.api_url(TASKS_PATH)),
                              status=200, method='GET', path=TASKS_PATH, action=action)
    return total, items


def _oldest(client, total, newest_items):
    """(age in seconds by the server clock, task id, server epoch) of the oldest queued task; one request at most."""
    items = list(newest_items)
    if total > 1:
        dummy, items_last = _page(client, QUEUED_STATES, total - 1, 1, 'read the oldest queued task (all spaces)')
        if not items_last:
            raise OctopusApiError('Could not read the oldest queued task: the queue changed while it was read (no task at '
                                  'position %d). The next reading will have it.' % total,
                                  status=200, method='GET', path=TASKS_PATH, action='read the oldest queued task')
        items.extend(items_last)
    now = client.server_date()
    stamped = [(parse_timestamp(t.get('QueueTime')), t.get('Id')) for t in items if isinstance(t, dict)]
    stamped = [s for s in stamped if s[0] is not None]
    if now is None or not stamped:
        return None, None, now
    queued_at, task_id = min(stamped)
    return max(0, int(now - queued_at)), task_id, now


def read_queue(client, nodes):
    """Read the queue facts. nodes: snake_case node facts of the cluster summary, or None when it was not readable."""
    errors = []
    facts = dict((k, None) for k in FACT_KEYS)
    server_epoch = client.server_date()
    try:
        queued, newest = _page(client, QUEUED_STATES, 0, 1, 'count the queued tasks (all spaces)')
        facts['queued_task_count'] = queued
        server_epoch = client.server_date()
        if not queued:
            facts['oldest_queued_task_age'] = 0
        else:
            try:
                facts['oldest_queued_task_age'], facts['oldest_queued_task_id'], now = _oldest(client, queued, newest)
                server_epoch = now if now is not None else server_epoch
            except OctopusApiError as err:
                errors.append(err)
    except OctopusApiError as err:
        errors.append(err)
    try:
        facts['running_task_count'] = _page(client, RUNNING_STATES, 0, 1, 'count the running tasks (all spaces)')[0]
        server_epoch = client.server_date() or server_epoch
    except OctopusApiError as err:
        errors.append(err)
    facts['task_capacity'], facts['task_node_count'] = capacity(nodes)
    facts['server_time'] = iso_time(server_epoch)
    derive(facts)
    return QueueReading(facts, None if nodes is None else [node_slots(n) for n in nodes], errors, server_epoch)


def iso_time(epoch):
    """Epoch seconds as an ISO 8601 UTC timestamp, or None."""
    if epoch is None:
        return None
    return datetime.datetime.fromtimestamp(epoch, datetime.timezone.utc).isoformat(timespec='seconds')


def derive(facts):
    """Fill free_task_slots, slot_utilisation and backlog_per_slot from the counts and the capacity."""
    cap, running, queued = facts.get('task_capacity'), facts.get('running_task_count'), facts.get('queued_task_count')
    facts['free_task_slots'] = None if cap is None or running is None else max(0, cap - running)
    facts['slot_utilisation'] = ratio(running, cap)
    facts['backlog_per_slot'] = ratio(queued, cap)
    return facts
