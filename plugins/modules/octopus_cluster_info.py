#!/usr/bin/python
# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# Copyright: Contributors to the octopus.ha collection

from __future__ import absolute_import, division, print_function
__metaclass__ = type

DOCUMENTATION = r"""
module: octopus_cluster_info
short_description: Read the state of an Octopus Deploy Server HA cluster
version_added: 0.1.0
description:
  - Reads the server version (C(GET /api)), every server node with its drain and offline state,
    task cap and running task count (C(/api/octopusservernodes/summary)), and the license limits
    (C(/api/licenses/licenses-current-status)).
  - Derives the facts a scaling decision needs, such as version skew, the task capacity of the
    online, undrained nodes, UI-only nodes and how long offline nodes have been unseen.
  - With an API key that lacks a permission it returns what it could read, warns about the rest, and returns V(null) (never
    V(0), V(false) or an empty list) for every fact it could not read; RV(cluster.missing_permission) names the permission.
    A guard that relies on such a fact must fail closed.
  - Also returns the task queue (RV(queue)), over all spaces and system tasks, for scaling on Octopus's own work.
author:
  - octopus.ha maintainers (@octopus-ha)
extends_documentation_fragment:
  - octopus.ha._octopus
  - octopus.ha._octopus.info_module
  - octopus.ha._octopus.actiongroup_octopus
seealso:
  - name: Octopus High Availability
    description: How Octopus Server nodes share work.
    link: https://octopus.com/docs/administration/high-availability
"""

EXAMPLES = r"""
- name: Read the cluster state
  octopus.ha.octopus_cluster_info:
    url: https://octopus.example.com
    api_key: "{{ octopus_api_key }}"
  register: cluster

- name: Refuse to continue when the nodes run different versions
  ansible.builtin.assert:
    that: not cluster.cluster.version_skew
    fail_msg: "Nodes run {{ cluster.cluster.versions | join(', ') }}"

- name: Use the action group to set the connection once
  module_defaults:
    group/octopus.ha.octopus:
      url: "{{ lookup('ansible.builtin.env', 'OCTOPUS_URL') }}"
      api_key: "{{ lookup('ansible.builtin.env', 'OCTOPUS_API_KEY') }}"
  block:
    - name: Read the cluster state with the connection from module_defaults
      octopus.ha.octopus_cluster_info:
      register: cluster2
"""

RETURN = r"""
server:
  description: The Octopus Server root document facts.
  returned: success
  type: dict
  contains:
    version:
      description: Server version from C(GET /api).
      type: str
      sample: 2023.4.8319
    api_version:
      description: API schema version.
      type: str
      sample: 3.0.0
nodes:
  description: Every Octopus Server node, sorted by name.
  returned: success
  type: list
  elements: dict
  contains:
    id:
      description: Node id.
      type: str
      sample: OctopusServerNodes-OCTO-NODE-01
    name:
      description: Node name.
      type: str
      sample: OCTO-NODE-01
    max_concurrent_tasks:
      description: Task cap of the node; V(0) means the node only serves the UI and API.
      type: int
      sample: 5
    drained:
      description: Whether the node is drained (C(IsInMaintenanceMode)).
      type: bool
      sample: false
    offline:
      description: Whether the server considers the node offline. V(null) when the summary was not readable.
      type: bool
      sample: false
    last_seen:
      description: Last heartbeat as reported by the server. V(null) when unknown.
      type: str
      sample: "2024-03-01T10:15:02.123+00:00"
    seconds_since_last_seen:
      description: Seconds between RV(nodes[].last_seen) and the reference clock (see RV(cluster.clock_source)).
      type: int
      sample: 12
    running_task_count:
      description: Tasks running on the node. V(null) when the server did not report it (never assumed to be 0).
      type: int
      sample: 2
    version:
      description: Server version the node runs. V(null) when unknown.
      type: str
      sample: 2023.4.8319
cluster:
  description: Facts derived from the nodes.
  returned: success
  type: dict
  contains:
    summary_readable:
      description: Whether the cluster summary (offline state, running tasks, versions) was readable.
      type: bool
      sample: true
    missing_permission:
      description:
        - The permission a C(403) answer named when the summary or the node list was not readable, or V(null).
        - Every fact of RV(cluster) that depends on what was not readable is V(null).
      type: str
      sample: AdministerSystem
    node_count:
      description: Number of nodes. V(null) when the nodes were not readable.
      type: int
      sample: 3
    online_node_count:
      description: Number of nodes the server does not consider offline. V(null) without the summary.
      type: int
      sample: 3
    task_node_count:
      description: Number of online, undrained nodes with a task cap above 0. V(null) without the summary.
      type: int
      sample: 2
    task_capacity:
      description: Sum of the task caps of online, undrained nodes. V(null) without the summary.
      type: int
      sample: 10
    running_task_count:
      description: Sum of the running task counts the server reported. V(null) when a node's count is unknown.
      type: int
      sample: 2
    version_skew:
      description: Whether any node runs a version other than the server version. V(null) without the summary (unknown).
      type: bool
      sample: false
    version_skew_nodes:
      description: Names of the nodes whose version differs from RV(server.version). V(null) without the summary.
      type: list
      elements: str
      sample: []
    versions:
      description: Distinct versions of the server and its nodes.
      type: list
      elements: str
      sample: [2023.4.8319]
    ui_only_nodes:
      description: Names of nodes with a task cap of 0. V(null) when the nodes were not readable.
      type: list
      elements: str
      sample: []
    drained_nodes:
      description: Names of drained nodes. V(null) when the nodes were not readable.
      type: list
      elements: str
      sample: []
    offline_nodes:
      description: Offline nodes with their last heartbeat. V(null) without the summary.
      type: list
      elements: dict
      sample: [{"id": "OctopusServerNodes-OLD", "name": "OLD", "last_seen": "2024-03-01T09:00:00+00:00", "seconds_since_last_seen": 4502}]
    clock_source:
      description:
        - Which clock RV(nodes[].seconds_since_last_seen) is measured against.
        - V(server) is the C(Date) header of the server's summary answer, used when it agrees with the
          heartbeats of the online nodes (within 5 minutes).
        - V(heartbeat) is the newest C(LastSeen) of an online node, used when the server sent no usable C(Date).
        - V(controller) is the Ansible controller clock, used when neither is available.
      type: str
      choices: [server, heartbeat, controller]
      sample: server
license:
  description: License facts, when readable (needs C(AdministerSystem) on some servers).
  returned: success
  type: dict
  contains:
    readable:
      description: Whether the license status could be read.
      type: bool
      sample: true
    is_compliant:
      description: Whether the server reports license compliance.
      type: bool
      sample: true
    node_limits:
      description: The license limits that concern nodes (C(Limits) entries whose name mentions nodes). V(null) when not readable.
      type: list
      elements: dict
      sample: [{"name": "Nodes", "current_usage": 3, "effective_limit": 4, "is_unlimited": false}]
    effective_node_task_limit:
      description: C(EffectiveNodeTaskLimit) as reported by the server.
      type: int
      sample: 5
queue:
  description:
    - The task queue over all spaces and system tasks (C(spaces=all&includeSystem=true)), for scaling decisions.
    - Each fact costs at most one request; the capacity comes from the cluster summary read above.
    - A fact that cannot be read is V(null) (with a warning), never a guess such as V(0).
  returned: success
  type: dict
  contains:
    queued_task_count:
      description: Tasks in the C(Queued) state (C(TotalResults) of C(/api/tasks?states=Queued)).
      type: int
      sample: 4
    oldest_queued_task_age:
      description:
        - Seconds the oldest queued task has waited, by the server clock (the C(Date) of the server's answer).
        - V(0) when nothing is queued, or when the task is queued for a later time. V(null) when the server sent no C(Date).
      type: int
      sample: 95
    oldest_queued_task_id:
      description: Id of the oldest queued task.
      type: str
      sample: ServerTasks-2
    running_task_count:
      description: Tasks in the C(Executing) or C(Cancelling) state, on any node.
      type: int
      sample: 3
    task_capacity:
      description: Sum of the task caps of online, undrained nodes. V(null) when a node's state is unknown.
      type: int
      sample: 10
    task_node_count:
      description: Number of online, undrained nodes with a task cap above 0.
      type: int
      sample: 2
    free_task_slots:
      description: RV(queue.task_capacity) minus RV(queue.running_task_count), at least V(0).
      type: int
      sample: 7
    slot_utilisation:
      description:
        - RV(queue.running_task_count) divided by RV(queue.task_capacity), rounded to 4 places.
        - Can exceed V(1) while drained nodes finish their tasks. V(null) when the capacity is V(0) or unknown.
      type: float
      sample: 0.3
    backlog_per_slot:
      description: RV(queue.queued_task_count) divided by RV(queue.task_capacity). V(null) when the capacity is V(0) or unknown.
      type: float
      sample: 0.4
    server_time:
      description: The server clock the age was measured against (ISO 8601, UTC).
      type: str
      sample: "2026-01-01T00:10:00+00:00"
    nodes:
      description: Per-node task slots, in the order of RV(nodes). V(null) when the cluster summary was not readable.
      type: list
      elements: dict
      sample:
        - id: OctopusServerNodes-OCTO-NODE-01
          name: OCTO-NODE-01
          max_concurrent_tasks: 5
          drained: false
          offline: false
          task_node: true
          task_slots: 5
          running_task_count: 2
          slot_utilisation: 0.4
          busy: true
"""

from ansible.module_utils.basic import AnsibleModule
from ansible_collections.octopus.ha.plugins.module_utils._octopus_api import (
    PERMISSION_RE, OctopusApiError, OctopusClient, fail_from_exception, octopus_argument_spec)
from ansible_collections.octopus.ha.plugins.module_utils._octopus_cluster import (
    NODES_PATH, cluster_summary, node_is_task_node, parse_timestamp, reference_clock, same_version, task_capacity)
from ansible_collections.octopus.ha.plugins.module_utils._octopus_queue import read_queue

LICENSE_PATH = 'licenses/licenses-current-status'


class Access:
    """What the key could read: the summary, the node list, and the permission a 403 named."""

    def __init__(self):
        self.summary = False
        self.node_list = False
        self.missing_permission = None

    def forbidden(self, err):
        if self.missing_permission is None and err.status == 403:
            match = PERMISSION_RE.search(str(err))
            self.missing_permission = match.group(1) if match else 'unknown (the server did not name it)'


def read_nodes(client, warn, access):
    """Summary nodes, or the plain node list (no status) when the summary is forbidden, or [] when neither is readable."""
    try:
        nodes = cluster_summary(client)
        access.summary = access.node_list = True
        return nodes
    except OctopusApiError as err:
        if err.status not in (403, 404):
            raise
        access.forbidden(err)
        warn('Could not read the cluster summary, so offline state, running tasks and node versions are unknown: %s' % err)
    try:
        nodes = client.get_all(NODES_PATH, action='list Octopus server nodes')
        access.node_list = True
        return nodes
    except OctopusApiError as err:
        if err.status not in (403, 404):
            raise
        access.forbidden(err)
        warn('Could not list the Octopus server nodes either, so no node facts are returned: %s' % err)
    return []


def read_license(client, warn):
    try:
        status = client.get(LICENSE_PATH, action='read the license status')
    except OctopusApiError as err:
        if err.status not in (403, 404):
            raise
        warn('Could not read the license node limits: %s' % err)
        return dict(readable=False, is_compliant=None, node_limits=None, effective_node_task_limit=None)
    limits = [dict(name=lim.get('Name'), current_usage=lim.get('CurrentUsage'), effective_limit=lim.get('EffectiveLimit'),
                   is_unlimited=lim.get('IsUnlimited'), message=lim.get('Message'))
              for lim in status.get('Limits') or [] if 'node' in str(lim.get('Name') or '').lower()]
    return dict(readable=True, is_compliant=status.get('IsCompliant'), node_limits=limits,
                effective_node_task_limit=status.get('EffectiveNodeTaskLimit'))


def describe_node(node, now):
    last_seen = node.get('LastSeen')
    seen = parse_timestamp(last_seen)
    return dict(
        id=node.get('Id'), name=node.get('Name'), max_concurrent_tasks=node.get('MaxConcurrentTasks'),
        drained=bool(node.get('IsInMaintenanceMode')), offline=node.get('IsOffline'), last_seen=last_seen,
        seconds_since_last_seen=None if seen is None else max(0, int(now - seen)),
        running_task_count=node.get('RunningTaskCount'), version=node.get('Version'),
    )


def cluster_facts(raw_nodes, nodes, server_version, access):
    """Facts derived from the nodes. A fact the key could not read is None (null), never 0, false or []."""
    listed = access.node_list
    facts = dict(
        node_count=len(nodes) if listed else None,
        ui_only_nodes=[n['name'] for n in nodes if n['max_concurrent_tasks'] == 0] if listed else None,
        drained_nodes=[n['name'] for n in nodes if n['drained']] if listed else None,
        versions=sorted(set([server_version] + [n['version'] for n in nodes if n['version']]) - set([None])),
        online_node_count=None, task_node_count=None, task_capacity=None, running_task_count=None, version_skew=None,
        version_skew_nodes=None, offline_nodes=None, missing_permission=access.missing_permission,
    )
    if not access.summary:
        return facts
    skew = [n['name'] for n in nodes if n['version'] and not same_version(n['version'], server_version)]
    counts = [n['running_task_count'] for n in nodes if isinstance(n['running_task_count'], int)]
    facts.update(
        online_node_count=len([n for n in nodes if n['offline'] is False]),
        task_node_count=len([n for n in raw_nodes if node_is_task_node(n)]),
        task_capacity=task_capacity(raw_nodes),
        running_task_count=sum(counts) if len(counts) == len(nodes) else None,
        version_skew=bool(skew), version_skew_nodes=skew,
        offline_nodes=[dict((k, n[k]) for k in ('id', 'name', 'last_seen', 'seconds_since_last_seen')) for n in nodes if n['offline']],
    )
    return facts


def gather(client, warn, controller_now):
    root = client.root()
    access = Access()
    raw_nodes = read_nodes(client, warn, access)
    now, source = reference_clock(client.server_date(), raw_nodes, controller_now)
    nodes = sorted((describe_node(n, now) for n in raw_nodes), key=lambda n: str(n['name']).lower())
    facts = cluster_facts(raw_nodes, nodes, root.get('Version'), access)
    facts.update(summary_readable=access.summary, clock_source=source)
    return dict(changed=False, server=dict(version=root.get('Version'), api_version=root.get('ApiVersion')),
                nodes=nodes, cluster=facts, license=read_license(client, warn))


def queue_facts(client, result, warn):
    """The queue section (issue 13): read after the node facts, from the same summary."""
    nodes = result['nodes'] if result.get('cluster', {}).get('summary_readable') else None
    reading = read_queue(client, nodes)
    for err in reading.errors:
        warn('A task queue fact could not be read and is null: %s' % err)
    return dict(reading.facts, nodes=reading.nodes)


def main():
    module = AnsibleModule(argument_spec=octopus_argument_spec(), supports_check_mode=True)
    try:
        client = OctopusClient.from_module(module)
        result = gather(client, module.warn, client.wallclock())
        result['queue'] = queue_facts(client, result, module.warn)
        module.exit_json(**result)
    except (OctopusApiError, LookupError, ValueError) as err:
        fail_from_exception(module, err)


if __name__ == '__main__':
    main()
