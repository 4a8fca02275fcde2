#!/usr/bin/python
# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# Copyright: Contributors to the octopus.ha collection

from __future__ import absolute_import, division, print_function
__metaclass__ = type


DOCUMENTATION = r"""
---
module: octopus_task_cancel
short_description: Cancel Octopus Deploy server tasks and wait until they have finished
version_added: 0.1.0
description:
  - Cancels the running tasks of one Octopus Server node (O(node_name) or O(node_id)), or the tasks listed in O(task_ids),
    or the listed tasks that run on the given node when both are set.
  - The search covers every space and includes system tasks, and reads every page of the results.
  - Each task is cancelled through its own space path (C({SpaceId}/tasks/{id}/cancel); system tasks without a space use
    C(tasks/{id}/cancel)). A task that already finished is reported in RV(already_terminal) and does not count as a change.
    A task already in C(Cancelling) is not cancelled again; it is only waited for.
  - A cancel request is never blindly repeated. After a timeout or a server error the task is read again and the cancel is
    sent again only if the task is still C(Executing).
  - With O(wait=true) the module polls until every cancelled task has finished, for at most O(wait_timeout) seconds.
    Only the node that runs a task can finish its cancellation. Tasks whose node is offline or deleted are reported in
    RV(stuck) at once instead of being waited for, and so are tasks still running at the deadline. The module then fails
    with their ids.
  - Every result also has C(msg), one sentence that says what happened.
author:
  - octopus.ha maintainers (@octopus-ha)
options:
  node_name:
    description:
      - Name of the Octopus Server node whose tasks to cancel. Trimmed and matched case-insensitively.
      - Fails when no node has this name, or when several have, listing their ids.
      - Mutually exclusive with O(node_id).
    type: str
  node_id:
    description:
      - Id of the Octopus Server node whose tasks to cancel, for example C(OctopusServerNodes-OCTO-01).
      - The node does not need to exist any more.
      - Mutually exclusive with O(node_name).
    type: str
  task_ids:
    description:
      - Ids of the tasks to cancel, for example C(ServerTasks-1234). Unknown ids fail the module before anything is cancelled.
      - A listed task that is not in one of O(states), or that runs on another node than O(node_name)/O(node_id), is
        left alone and reported in RV(not_selected).
      - At least one of O(task_ids), O(node_name) and O(node_id) is required.
    type: list
    elements: str
  states:
    description:
      - Task states to cancel.
    type: list
    elements: str
    choices: [Queued, Executing, Cancelling]
    default: [Executing, Cancelling]
  wait:
    description:
      - Wait until every cancelled task has reached a final state (C(Canceled), C(Failed), C(Success) or C(TimedOut)).
    type: bool
    default: true
  wait_timeout:
    description:
      - Seconds to wait for the cancelled tasks when O(wait=true). Must be at least 1.
    type: int
    default: 300
  poll_interval:
    description:
      - Seconds between two reads of the tasks while waiting. Must be at least 1.
      - After two minutes of waiting the interval grows by half at each poll, up to 30 seconds.
    type: int
    default: 5
extends_documentation_fragment:
  - octopus.ha._octopus
  - octopus.ha._octopus.attributes
  - octopus.ha._octopus.actiongroup_octopus
attributes:
  check_mode:
    support: full
    details:
      - Reads only (no POST) and reports in RV(cancelled) the tasks that would be cancelled.
  diff_mode:
    support: none
notes:
  - The service account needs the C(TaskView) and C(TaskCancel) permissions in every space, and system-level task access for
    system tasks.
seealso:
  - module: octopus.ha.octopus_node
"""

EXAMPLES = r"""
- name: Cancel everything a node is running and wait up to 5 minutes
  octopus.ha.octopus_task_cancel:
    url: https://octopus.example.com
    api_key: "{{ octopus_api_key }}"
    node_name: OCTO-NODE-03

- name: Cancel two tasks, also when they are still queued, without waiting
  octopus.ha.octopus_task_cancel:
    task_ids:
      - ServerTasks-1234
      - ServerTasks-1240
    states: [Queued, Executing]
    wait: false

- name: Preview what would be cancelled
  octopus.ha.octopus_task_cancel:
    node_id: OctopusServerNodes-OCTO-NODE-03
  check_mode: true
  register: preview
"""

RETURN = r"""
cancelled:
  description: Ids of the tasks this run cancelled (or would cancel, in check mode).
  returned: always
  type: list
  elements: str
  sample: [ServerTasks-1234]
already_terminal:
  description: Ids of selected tasks that had already finished, so were not cancelled.
  returned: always
  type: list
  elements: str
  sample: [ServerTasks-1240]
not_selected:
  description:
    - Ids from O(task_ids) left alone because they are in another state than O(states) or run on another node.
    - Named C(not_selected), not C(skipped), because Ansible reserves C(skipped) (with it in a result, C(changed_when) and
      C(failed_when) are ignored).
  returned: always
  type: list
  elements: str
  sample: []
stuck:
  description:
    - Ids of cancelled tasks that did not finish, because their node is offline or deleted, or because O(wait_timeout) passed.
  returned: always
  type: list
  elements: str
  sample: []
tasks:
  description: Every selected task id and its last known state.
  returned: always
  type: dict
  sample: {"ServerTasks-1234": "Canceled", "ServerTasks-1240": "Success"}
"""

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.octopus.ha.plugins.module_utils._octopus_api import OctopusClient, octopus_argument_spec
from ansible_collections.octopus.ha.plugins.module_utils._octopus_tasks import TASK_STATES, Timer, exit_module, run_task_cancel


def main():
    module = AnsibleModule(
        argument_spec=octopus_argument_spec(
            node_name=dict(type='str'),
            node_id=dict(type='str'),
            task_ids=dict(type='list', elements='str'),
            states=dict(type='list', elements='str', choices=list(TASK_STATES), default=['Executing', 'Cancelling']),
            wait=dict(type='bool', default=True),
            wait_timeout=dict(type='int', default=300),
            poll_interval=dict(type='int', default=5),
        ),
        mutually_exclusive=[('node_name', 'node_id')],
        required_one_of=[('node_name', 'node_id', 'task_ids')],
        supports_check_mode=True,
    )
    exit_module(module, run_task_cancel(module, OctopusClient.from_module, Timer()))


if __name__ == '__main__':
    main()
