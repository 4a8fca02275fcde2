# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# Copyright: Contributors to the octopus.ha collection
"""Domain helpers over OctopusClient: node lookup, cluster summary, task search, capacity, versions.

This module_util is PRIVATE to the octopus.ha collection, not a public API.
It may change without notice between any two releases.

Every path segment and query value that comes from a user or the server is percent-encoded
here with quote(x, safe='') before it reaches the client.
"""

from __future__ import absolute_import, division, print_function
__metaclass__ = type

import datetime
import re

from urllib.parse import quote

from ansible_collections.octopus.ha.plugins.module_utils._octopus_api import OctopusApiError
# The version rules live in _octopus_version.py; re-exported here for the modules that import them from this file.
from ansible_collections.octopus.ha.plugins.module_utils._octopus_version import (  # noqa: F401 pylint: disable=unused-import
    same_version, version_tuple)

TERMINAL_STATES = ('Success', 'Failed', 'Canceled', 'TimedOut')
RUNNING_STATES = ('Executing', 'Cancelling')
NODES_PATH = 'octopusservernodes'
SUMMARY_PATH = 'octopusservernodes/summary'
TASKS_PATH = 'tasks'

_TIMESTAMP_RE = re.compile(r'^(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d)(?:\.(\d+))?(Z|[+-]\d\d:?\d\d)?$')


class OctopusLookupError(LookupError):
    """A node name matched more than one node (or another lookup problem). str() is a full sentence."""

    def __init__(self, message, candidates=None):
        super(OctopusLookupError, self).__init__(message)
        self.candidates = list(candidates or [])


def seg(value):
    """Percent-encode one path segment (ids and names from users or the server)."""
    return quote(str(value), safe='')


def find_node(client, name=None, node_id=None):
    """The node resource by id (GET) or by name (trimmed, case-insensitive), or None when absent."""
    if node_id:
        return client.get('%s/%s' % (NODES_PATH, seg(node_id.strip())), allow_404=True,
                          action='read Octopus server node %s' % node_id.strip())
    wanted = (name or '').strip().lower()
    if not wanted:
        raise ValueError('Pass a node name or a node id to find an Octopus server node.')
    nodes = client.get_all(NODES_PATH, action='list Octopus server nodes')
    matches = [n for n in nodes if str(n.get('Name') or '').strip().lower() == wanted]
    if len(matches) > 1:
        ids = sorted(str(n.get('Id')) for n in matches)
        raise OctopusLookupError('The node name %r matches %d Octopus server nodes (%s). Pass node_id with one of these ids instead '
                                 'of the name.' % (name.strip(), len(matches), ', '.join(ids)), candidates=ids)
    return matches[0] if matches else None


def cluster_summary(client):
    """The Nodes list of /octopusservernodes/summary (status, LastSeen, RunningTaskCount, Version)."""
    summary = client.get(SUMMARY_PATH, action='read the Octopus cluster summary')
    nodes = summary.get('Nodes') if isinstance(summary, dict) else None
    if not isinstance(nodes, list):
        raise OctopusApiError('Could not read the Octopus cluster summary: unexpected response from %s (no Nodes list). Check that url '
                              'points at the Octopus Server itself.' % client.api_url(SUMMARY_PATH),
                              status=200, method='GET', path=SUMMARY_PATH, action='read the Octopus cluster summary')
    return nodes


def list_tasks(client, node_id=None, task_ids=None, states=RUNNING_STATES):
    """Every task (all spaces, system tasks included) on a node and/or with given ids and states."""
    query = dict(spaces='all', includeSystem='true')
    if node_id:
        query['node'] = node_id
    if states:
        query['states'] = ','.join(states)
    if task_ids:
        query['ids'] = ','.join(task_ids)
    what = 'on node %s' % node_id if node_id else 'in the cluster'
    return client.get_all(TASKS_PATH, query=query, action='list the %s tasks %s' % ('/'.join(states or ('all',)), what))


def node_is_task_node(node):
    """Online, not drained and allowed to run at least one task."""
    return (not node.get('IsOffline') and not node.get('IsInMaintenanceMode')
            and int(node.get('MaxConcurrentTasks') or 0) > 0)


def task_capacity(nodes):
    """Sum of MaxConcurrentTasks over online, undrained nodes."""
    return sum(int(n.get('MaxConcurrentTasks') or 0) for n in nodes if node_is_task_node(n))


def capacity_after_removal(summary, node_id):
    """What is left of the cluster if node_id goes away (summary = cluster_summary() Nodes)."""
    wanted = str(node_id or '').strip().lower()
    remaining = [n for n in summary if str(n.get('Id') or '').strip().lower() != wanted]
    task_nodes = [n for n in remaining if node_is_task_node(n)]
    return dict(
        node_found=len(remaining) != len(summary),
        remaining_task_nodes=len(task_nodes),
        remaining_task_node_ids=sorted(str(n.get('Id')) for n in task_nodes),
        remaining_task_capacity=task_capacity(remaining),
        remaining_online_nodes=len([n for n in remaining if not n.get('IsOffline')]),
        remaining_nodes=len(remaining),
    )


def parse_timestamp(value):
    """Epoch seconds of an Octopus ISO 8601 timestamp (7-digit fractions, 'Z', no zone = UTC), or None."""
    match = _TIMESTAMP_RE.match(str(value or '').strip())
    if not match:
        return None
    base, fraction, zone = match.groups()
    zone = '+00:00' if zone in (None, 'Z') else (zone if ':' in zone else zone[:3] + ':' + zone[3:])
    text = '%s.%s%s' % (base, (fraction or '0')[:6].ljust(6, '0'), zone)
    try:
        return datetime.datetime.strptime(text, '%Y-%m-%dT%H:%M:%S.%f%z').timestamp()
    except ValueError:
        return None
