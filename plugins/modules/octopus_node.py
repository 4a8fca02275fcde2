#!/usr/bin/python
# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# Copyright: Contributors to the octopus.ha collection

from __future__ import absolute_import, division, print_function
__metaclass__ = type


DOCUMENTATION = r"""
---
module: octopus_node
short_description: Configure, drain or safely remove an Octopus Deploy Server HA node
version_added: 0.1.0
description:
  - Manages one node of an Octopus Server High Availability cluster, selected by O(name) or O(id).
  - O(state=present) sets the task cap (O(max_concurrent_tasks)) and the drain flag (O(drained)) of an existing node. Only
    fields that differ are changed. The node is read, the fields are changed, and the whole resource is written back with its
    current name, so the node is never renamed and its task cap is never reset.
  - O(state=drained) drains the node (C(IsInMaintenanceMode), the node stops picking up tasks) and, with O(wait=true), waits
    until it runs no tasks, for at most O(drain_timeout) seconds. If tasks are still running at the deadline the module fails,
    lists their ids and leaves the node drained, unless O(cancel_on_timeout=true), which cancels them and waits up to
    O(cancel_timeout) seconds until they have finished.
  - O(state=absent) drains, waits and cancels in the same way, then deletes the node record. A node that is already gone is
    reported as unchanged, with a warning that names the existing nodes closest to the name given (zero padding, small typos).
  - The work that blocks a removal is every task the node runs (C(Executing), C(Cancelling)) and every C(Queued) task pinned to
    it, such as a deployment paused on a manual intervention, which resumes only on the node that started it.
  - A node the server reports offline counts as gone only once the server has not seen it for O(offline_grace) seconds,
    measured with the server's clock (C(LastSeen) against the C(Date) of the summary answer), never the local clock. Until
    then it is drained and waited on like a live node. Once gone, its tasks are orphans, which are cancelled, reported in
    RV(lost_tasks), and the record is deleted (see the notes).
  - The node is never deleted while it still runs C(Executing) tasks, unless O(force=true); the tasks are then listed in
    RV(lost_tasks).
  - After deleting a node that was online, the module watches for O(reregistration_watch) seconds whether it registers itself
    again (a running service may write its row back). If it does, it is drained again with task cap 0 and a warning says so.
    With O(delete_online=false) a node the server reports online is not deleted at all but kept drained with task cap 0
    (RV(record_kept)).
  - Before any change a capacity guard, like a Kubernetes PodDisruptionBudget, refuses to drain or remove the node when the
    cluster would keep fewer than O(min_task_nodes) online, undrained nodes with a task cap above 0, less than
    O(min_task_capacity) total task cap, or no online node at all. A node that is already drained or offline does not count as
    capacity being removed. O(force=true) overrides the guard with a warning.
  - Every step is idempotent and decided from what the server reports, so re-running after a failure, a timeout or an
    interrupted run converges. A write whose answer was lost is settled by reading the node again, never by re-sending it.
  - While waiting, the action plugin of this module prints one progress line per poll (node, number and ids of running tasks,
    time left). It runs the module once per poll in a short internal step (see O(_step)); all decisions are made by the
    module.
author:
  - octopus.ha maintainers (@octopus-ha)
options:
  name:
    description:
      - Name of the node, for example C(OCTO-NODE-03). Trimmed and matched case-insensitively.
      - When several nodes match, the module fails and lists their ids; use O(id) then.
      - Exactly one of O(name) and O(id) is required.
    type: str
  id:
    description:
      - Id of the node, for example C(OctopusServerNodes-OCTO-NODE-03).
      - Exactly one of O(name) and O(id) is required.
    type: str
  state:
    description:
      - V(present) sets O(max_concurrent_tasks) and O(drained) on an existing node. A missing node is an error.
      - V(drained) drains the node and, with O(wait=true), waits until it runs no tasks. A missing node is an error.
      - V(absent) drains the node, waits, cancels left-over tasks if asked to, and deletes the node record.
    type: str
    choices: [present, drained, absent]
    default: present
  max_concurrent_tasks:
    description:
      - Task cap of the node. V(0) makes it a UI-only node that runs no tasks.
      - Only with O(state=present). Not changed when omitted.
    type: int
  drained:
    description:
      - Whether the node is drained (does not pick up new tasks). Only with O(state=present); does not wait.
      - Not changed when omitted.
    type: bool
  wait:
    description:
      - With O(state=drained) or O(state=absent), wait until the node runs no tasks.
      - With V(false), O(state=drained) returns right after draining (the running tasks are listed in RV(running_tasks)), and
        O(state=absent) deletes the node only if it runs no tasks (or with O(force=true)) and fails otherwise.
    type: bool
    default: true
  drain_timeout:
    description:
      - Seconds to wait for the running tasks to finish after draining. Must be at least 1.
    type: int
    default: 1800
  poll_interval:
    description:
      - Seconds between two reads of the node and its tasks while waiting. Must be at least 1.
      - The interval stays at this value for the first two minutes of a wait, then grows by half at each poll up to
        O(max_poll_interval).
    type: int
    default: 5
  max_poll_interval:
    description:
      - Longest interval between two reads while waiting. Must not be smaller than O(poll_interval).
    type: int
    default: 30
  cancel_on_timeout:
    description:
      - When O(drain_timeout) passes with tasks still running, cancel them and wait up to O(cancel_timeout) seconds until they
        have finished, instead of failing.
      - Tasks with pending interruptions are cancelled too.
    type: bool
    default: false
  pending_interruptions:
    description:
      - What to do with tasks waiting for a manual intervention or a guided-failure answer (C(HasPendingInterruptions)). Such
        tasks cannot finish on their own; they are always listed in RV(interrupted_tasks).
      - V(block) waits for them like any other task (someone may answer the interruption), so they keep the drain from
        completing and are named in the failure at the deadline.
      - V(cancel) cancels them as soon as the node is drained.
    type: str
    choices: [block, cancel]
    default: block
  cancel_timeout:
    description:
      - Seconds to wait for cancelled tasks to finish. Tasks still running then are reported in RV(stuck_tasks) and the module
        fails (with O(state=absent) and O(force=true) it deletes the node anyway). Must be at least 1.
    type: int
    default: 300
  force:
    description:
      - Override the capacity guard (with a warning), and allow O(state=absent) to delete a node that still runs tasks. Those
        tasks are listed in RV(lost_tasks); the server marks the tasks of a deleted node failed.
    type: bool
    default: false
  min_task_nodes:
    description:
      - Capacity guard. Minimum number of online, undrained nodes with a task cap above 0 that must remain after draining or
        removing this node. V(0) disables this check.
    type: int
    default: 1
  min_task_capacity:
    description:
      - Capacity guard. Minimum total task cap of the online, undrained nodes that must remain after draining or removing this
        node. V(0) disables this check.
    type: int
    default: 0
  offline_grace:
    description:
      - Seconds the server must not have seen an offline node before the node counts as gone, by the server's clock
        (C(LastSeen) against the C(Date) header of the summary answer). A database failover or an overloaded node can make a
        live node look offline for a minute or two.
      - Before that, an offline node is drained and waited on like a live one, up to O(drain_timeout). After it, its tasks are
        cancelled and reported in RV(lost_tasks) and, with O(state=absent), its record is deleted.
      - When the server gives no clock to measure with, an offline node is treated as live.
    type: int
    default: 600
  delete_online:
    description:
      - With V(false), O(state=absent) deletes the record only when the server reports the node offline. A node that is still
        online is left drained with task cap 0 and RV(record_kept) is true. Use V(false) when the node's service could not be
        stopped (and the stop verified) first; the node_remove role does.
    type: bool
    default: true
  reregistration_watch:
    description:
      - Seconds to watch, after deleting a node that was online, whether it registers itself again (its service still runs). If
        it does, it is drained again with task cap 0, RV(reregistered) is true and a warning says so. V(0) turns the watch off.
      - About one heartbeat interval of the server. Not done in check mode or for a node that was offline.
    type: int
    default: 30
  reason:
    description:
      - Free text returned in RV(reason), for audit logs, for example the Auto Scaling lifecycle action token.
    type: str
  _step:
    description:
      - Internal, set only by the action plugin of this module to run one poll of the wait loop. Do not set it.
    type: dict
extends_documentation_fragment:
  - octopus.ha._octopus
  - octopus.ha._octopus.attributes
  - octopus.ha._octopus.actiongroup_octopus
attributes:
  check_mode:
    support: full
    details:
      - Reads only (no PUT, POST or DELETE) and follows the decision the real run would make. C(msg) and RV(plan) say what would
        happen, for example C(would drain, would wait up to 1800 s (drain_timeout) for ServerTasks-6, would delete the record);
        a run that would fail (for example O(wait=false) with tasks running) fails in check mode too. Does not wait.
  diff_mode:
    support: full
    details:
      - The node before and after. After a deletion the after state is empty.
notes:
  - The service account needs the C(AdministerSystem) permission to change or delete nodes, and C(TaskView) and C(TaskCancel)
    to cancel tasks.
  - Stop the Octopus service on the node (or the VM) before O(state=absent). A running node may register itself again.
  - Tasks on a gone node (offline for O(offline_grace)) cannot finish their cancellation, because only the node that runs a
    task can finish it; they stay C(Cancelling). As nobody else can clean them up, O(state=absent) reports them in
    RV(stuck_tasks) and RV(lost_tasks) with a warning and deletes the node anyway; the server then marks the tasks of the
    deleted node failed. O(state=drained) does not wait for the tasks of a gone node and lists them in RV(running_tasks).
  - If someone else deletes the node while this module waits, O(state=absent) succeeds and says so in C(msg); the tasks that
    were still running are listed in RV(lost_tasks).
seealso:
  - module: octopus.ha.octopus_task_cancel
"""

EXAMPLES = r"""
- name: Make a new node UI-only until its checks pass
  octopus.ha.octopus_node:
    url: https://octopus.example.com
    api_key: "{{ octopus_api_key }}"
    name: OCTO-NODE-04
    max_concurrent_tasks: 0

- name: Drain a node and wait up to 30 minutes for its tasks
  octopus.ha.octopus_node:
    name: OCTO-NODE-03
    state: drained

- name: Remove a node; cancel what is still running after 20 minutes
  octopus.ha.octopus_node:
    name: "{{ octopus_node_name }}"
    state: absent
    drain_timeout: 1200
    cancel_on_timeout: true
    pending_interruptions: cancel
    min_task_nodes: 2
    reason: "ASG lifecycle {{ lifecycle_action_token }}"
  register: removal

- name: Preview a removal
  octopus.ha.octopus_node:
    id: OctopusServerNodes-OCTO-NODE-03
    state: absent
  check_mode: true
  diff: true
"""

RETURN = r"""
node:
  description: The node after the run (without its links); empty when it was deleted or does not exist.
  returned: always
  type: dict
  sample: {"Id": "OctopusServerNodes-OCTO-NODE-03", "Name": "OCTO-NODE-03", "MaxConcurrentTasks": 5, "IsInMaintenanceMode": true}
before:
  description: The node as first read; empty when it did not exist.
  returned: always
  type: dict
  sample: {"Id": "OctopusServerNodes-OCTO-NODE-03", "Name": "OCTO-NODE-03", "MaxConcurrentTasks": 5, "IsInMaintenanceMode": false}
cancelled_tasks:
  description: Ids of the tasks this run cancelled (or would cancel, in check mode).
  returned: always
  type: list
  elements: str
  sample: [ServerTasks-1234]
running_tasks:
  description: Ids of the tasks still running on the node at the end (C(Executing) or C(Cancelling)).
  returned: always
  type: list
  elements: str
  sample: []
stuck_tasks:
  description: Ids of cancelled tasks that did not finish, because the node is offline or O(cancel_timeout) passed.
  returned: always
  type: list
  elements: str
  sample: []
interrupted_tasks:
  description: Ids of the tasks seen waiting for a manual intervention or guided failure (C(HasPendingInterruptions)).
  returned: always
  type: list
  elements: str
  sample: []
lost_tasks:
  description:
    - Ids of tasks still running when the node was deleted (with O(force=true), the orphans of a gone node, or because someone
      else deleted it). The server marks them failed.
  returned: always
  type: list
  elements: str
  sample: []
blocked_by:
  description: Why the module refused or could not finish (capacity guard reasons, or the tasks left at a deadline).
  returned: always
  type: list
  elements: str
  sample: ["the cluster would keep 0 online, undrained task nodes (min_task_nodes is 1)"]
deleted:
  description: Whether the node record is gone at the end of this run because of it (or would be, in check mode).
  returned: always
  type: bool
  sample: true
removed_by_other:
  description: Whether someone else deleted the node while this run was working on it.
  returned: always
  type: bool
  sample: false
record_kept:
  description:
    - Whether the record was kept instead of deleted (O(delete_online=false) with the node online, or the node registered again
      after the delete). It is then drained with task cap 0.
  returned: always
  type: bool
  sample: false
reregistered:
  description: Whether the node registered itself again after this run deleted it (its service still runs).
  returned: always
  type: bool
  sample: false
plan:
  description: In check mode, the steps the real run would take, in order.
  returned: always
  type: list
  elements: str
  sample: [drain, "wait up to 1800 s (drain_timeout) for ServerTasks-6", delete the record]
elapsed:
  description: Seconds spent per phase. C(wait) covers waiting for the tasks, C(cancel) cancelling and waiting for cancelled tasks.
  returned: always
  type: dict
  sample: {"drain": 0.12, "wait": 61.3, "cancel": 0.0, "delete": 0.08}
reason:
  description: The O(reason) given, for audit logs.
  returned: always
  type: str
  sample: ASG lifecycle 6c1a2a1b-...
"""

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.octopus.ha.plugins.module_utils._octopus_api import OctopusClient, octopus_argument_spec
from ansible_collections.octopus.ha.plugins.module_utils._octopus_drain import run_node
from ansible_collections.octopus.ha.plugins.module_utils._octopus_tasks import Timer, exit_module


def main():
    module = AnsibleModule(
        argument_spec=octopus_argument_spec(
            name=dict(type='str'),
            id=dict(type='str'),
            state=dict(type='str', choices=['present', 'drained', 'absent'], default='present'),
            max_concurrent_tasks=dict(type='int'),
            drained=dict(type='bool'),
            wait=dict(type='bool', default=True),
            drain_timeout=dict(type='int', default=1800),
            poll_interval=dict(type='int', default=5),
            max_poll_interval=dict(type='int', default=30),
            cancel_on_timeout=dict(type='bool', default=False),
            pending_interruptions=dict(type='str', choices=['block', 'cancel'], default='block'),
            cancel_timeout=dict(type='int', default=300),
            force=dict(type='bool', default=False),
            min_task_nodes=dict(type='int', default=1),
            min_task_capacity=dict(type='int', default=0),
            offline_grace=dict(type='int', default=600),
            delete_online=dict(type='bool', default=True),
            reregistration_watch=dict(type='int', default=30),
            reason=dict(type='str'),
            _step=dict(type='dict'),
        ),
        mutually_exclusive=[('name', 'id')],
        required_one_of=[('name', 'id')],
        supports_check_mode=True,
    )
    exit_module(module, run_node(module, OctopusClient.from_module, Timer()))


if __name__ == '__main__':
    main()
