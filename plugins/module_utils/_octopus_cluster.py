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
# A node's blocking work: what runs on it, plus the Queued tasks pinned to it. A deployment waiting on a manual
# intervention is Queued, keeps its ServerNode and resumes only on that node (OctopusDeploy/Issues #4564, #4846, #6372),
# so the node filter of GET /tasks returns it with states=Queued; unassigned Queued tasks have no ServerNode.
BLOCKING_STATES = ('Executing', 'Cancelling', 'Queued')
# The server's Date is trusted when the newest heartbeat of an online node is at most this old...
HEARTBEAT_WINDOW = 300
# ...and at most this far in the future (clock skew between the web front end and the nodes).
CLOCK_TOLERANCE = 60
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


def closest_names(wanted, names, limit=3):
    """The existing names closest to ``wanted``, best first, each as 'NAME (why)': the same but for the zero padding of
    numbers (OCTO-NODE-3 / OCTO-NODE-03), then up to max(2, len/4) single-character edits (case is ignored throughout)."""
    target = str(wanted or '').strip().lower()
    scored = []
    for name in names:
        text = str(name or '')
        lowered = text.strip().lower()
        if not lowered or lowered == target:
            continue
        if _unpadded(lowered) == _unpadded(target):
            scored.append(((0, 0, lowered), '%s (differs in zero padding)' % text))
            continue
        distance = edit_distance(lowered, target)
        if distance <= max(2, len(target) // 4):
            scored.append(((1, distance, lowered), '%s (%d character%s different)' % (text, distance, '' if distance == 1 else 's')))
    return [label for key, label in sorted(scored)[:limit]]


def _unpadded(text):
    return re.sub(r'\d+', lambda m: str(int(m.group(0))), text)


def edit_distance(a, b):
    """Levenshtein distance (insertions, deletions, substitutions)."""
    previous = list(range(len(b) + 1))
    for i, char_a in enumerate(a, 1):
        current = [i]
        for j, char_b in enumerate(b, 1):
            current.append(min(previous[j] + 1, current[j - 1] + 1, previous[j - 1] + (char_a != char_b)))
        previous = current
    return previous[-1]


def suggest_nodes(client, name):
    """A sentence naming the nodes closest to a name that matched none ('' when none is close), for warnings and errors."""
    nodes = client.get_all(NODES_PATH, action='list Octopus server nodes')
    close = closest_names(name, [n.get('Name') for n in nodes])
    if not close:
        return ''
    return ' The closest existing nodes are: %s. Check for a typo.' % ', '.join(close)


def reference_clock(server_now, summary, controller_now=None):
    """(now, source) to measure LastSeen against, always the server's clock when there is one.

    'server': the Date header of the summary answer, when it agrees with the heartbeats of the online nodes;
    'heartbeat': the newest LastSeen of an online node (also the server's clock); 'controller': the local clock, only
    as the last resort of a report (decisions treat it as unknown); (None, None) when nothing is known.
    """
    beats = [parse_timestamp(n.get('LastSeen')) for n in summary if n.get('IsOffline') is False]
    newest = max([b for b in beats if b is not None] or [None], key=lambda b: b or 0)
    if server_now is not None and (newest is None or -CLOCK_TOLERANCE <= server_now - newest <= HEARTBEAT_WINDOW):
        return server_now, 'server'
    if newest is not None:
        return newest, 'heartbeat'
    if controller_now is not None:
        return controller_now, 'controller'
    return None, None


def offline_seconds(entry, now):
    """How long the server has not seen a summary entry (None: online, or unknown; inf: never seen)."""
    if not entry or not entry.get('IsOffline'):
        return None
    seen = parse_timestamp(entry.get('LastSeen'))
    if entry.get('LastSeen') in (None, ''):
        return float('inf')
    if seen is None or now is None:
        return None
    return max(0.0, now - seen)


def read_summary(client):
    """(summary nodes, server now, clock source): the summary and the server's clock from that same answer."""
    nodes = cluster_summary(client)
    now, source = reference_clock(client.server_date(), nodes)
    return nodes, now, source


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
