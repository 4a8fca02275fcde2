# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# Copyright: Contributors to the octopus.ha collection
"""Cancel Octopus server tasks and wait until they are terminal, shared by octopus_node and octopus_task_cancel.

This module_util is PRIVATE to the octopus.ha collection, not a public API.
It may change without notice between any two releases.

Time is injectable (``Timer``) so that tests never sleep: they pass a fake clock and record the
sleeps, and assert the poll schedule instead of wall-clock timings.
"""

from __future__ import absolute_import, division, print_function
__metaclass__ = type

import time

from ansible_collections.octopus.ha.plugins.module_utils._octopus_api import OctopusApiError, write_with_reread
from ansible_collections.octopus.ha.plugins.module_utils._octopus_cluster import (
    RUNNING_STATES,
    TERMINAL_STATES,
    cluster_summary,
    find_node,
    list_tasks,
    seg,
    suggest_nodes,
)

# Polls keep poll_interval for this many seconds of a phase, then grow by BACKOFF_FACTOR per
# poll up to max_poll_interval. Short waits (a 60 s deployment) are therefore never slowed down.
BACKOFF_AFTER = 120.0
BACKOFF_FACTOR = 1.5
# Even when a poll took longer than the interval, sleep at least this long (never a busy loop).
MIN_SLEEP = 1.0
TASK_STATES = ('Queued', 'Executing', 'Cancelling')
# octopus_task_cancel has no max_poll_interval option: its waits back off to this after BACKOFF_AFTER.
CANCEL_MAX_POLL_INTERVAL = 30


class Timer:
    """A monotonic clock and a sleep function; tests inject fakes (or replace ``time`` in this module)."""

    def __init__(self, clock=None, sleep=None):
        self._clock = clock
        self._sleep = sleep

    def clock(self):
        return self._clock() if self._clock else time.monotonic()

    def sleep(self, seconds):
        if self._sleep:
            self._sleep(seconds)
        else:
            time.sleep(seconds)


class PollSchedule:
    """When to poll during one waiting phase that ends at a deadline.

    ``pause()`` sleeps until the next poll and returns False once the deadline has passed, so
    a loop looks like ``while True: poll(); if done or not schedule.pause(): break``. The last
    poll happens at the deadline itself, so a task that ends just in time is seen.
    """

    def __init__(self, timer, timeout, poll_interval, max_poll_interval):
        self.timer = timer
        self.started = timer.clock()
        self.deadline = self.started + max(0, timeout)
        self.poll_interval = max(1, poll_interval)
        self.max_poll_interval = max(self.poll_interval, max_poll_interval or 0)
        self.interval = self.poll_interval
        self.last_poll = self.started

    def remaining(self):
        return max(0.0, self.deadline - self.timer.clock())

    def elapsed(self):
        return self.timer.clock() - self.started

    def next_interval(self):
        """The pause before the next poll: poll_interval for BACKOFF_AFTER seconds, then x1.5 up to the maximum."""
        if self.timer.clock() - self.started >= BACKOFF_AFTER:
            self.interval = min(self.interval * BACKOFF_FACTOR, self.max_poll_interval)
        return self.interval

    def pause(self):
        """Sleep until the next poll; False (without sleeping) when the deadline has already passed."""
        now = self.timer.clock()
        if now >= self.deadline:
            return False
        interval = self.next_interval()
        delay = max(min(MIN_SLEEP, interval), interval - (now - self.last_poll))
        self.timer.sleep(min(delay, self.deadline - now))
        self.last_poll = self.timer.clock()
        return True


def task_ids(tasks):
    return [str(t.get('Id')) for t in tasks]


def is_terminal(task):
    return task.get('State') in TERMINAL_STATES


def is_running(task):
    return task.get('State') in RUNNING_STATES


def split_interrupted(tasks):
    """(tasks that can finish on their own, tasks waiting on a manual intervention or guided failure)."""
    interrupted = [t for t in tasks if t.get('HasPendingInterruptions')]
    return [t for t in tasks if not t.get('HasPendingInterruptions')], interrupted


def task_path(task, suffix=''):
    """The task's own space path ({SpaceId}/tasks/{id}); system tasks without a space use tasks/{id}."""
    space = task.get('SpaceId')
    base = 'tasks/%s' % seg(task['Id'])
    return ('%s/%s' % (seg(space), base) if space else base) + suffix


def cancel_task(client, task):
    """Cancel one task: 'cancelled' (our POST landed), 'cancelling' (someone else's cancel landed) or 'already_terminal'.

    A cancel POST is not idempotent. It goes through write_with_reread (the one retry rule for
    writes): after an unknown outcome (timeout, 5xx, 429) the task is read again and POSTed again
    only while it is still Executing (or Queued). A refusal (400, 404, 409) is settled by one read:
    a task already Cancelling or finished is fine, anything else is raised.
    """
    task_id = str(task['Id'])
    action = 'cancel Octopus task %s' % task_id
    read_action = 'read Octopus task %s' % task_id

    def write():
        client.write_once('POST', task_path(task, '/cancel'), action=action)
        return 'cancelled'

    def reread():
        current = client.get(task_path(task), allow_404=True, action=read_action)
        state = (current or {}).get('State')
        if state in ('Cancelling', 'Canceled'):
            return 'cancelled', True  # our POST landed (the owner may already have finished it)
        if state in ('Executing', 'Queued'):
            return None
        return 'already_terminal', False

    try:
        return write_with_reread(client, action, write, reread).value
    except OctopusApiError as exc:
        if exc.status not in (400, 404, 409):
            raise
        refused = exc
    current = client.get(task_path(task), allow_404=True, action=read_action)
    if current is None or is_terminal(current):
        return 'already_terminal'
    if current.get('State') == 'Cancelling':
        return 'cancelling'
    raise refused


def cancel_tasks(client, tasks, check_mode=False):
    """Cancel each task once; never re-POST a task whose cancel already landed.

    Returns dict(cancelled=[ids POSTed, or that would be in check mode], already_terminal=[ids],
    cancelling=[ids already Cancelling, not POSTed again]). ``cancel_task`` POSTs through the
    task's own space path and, after a timeout or 5xx, re-reads the task and re-POSTs only
    while it is still Executing.
    """
    outcome = dict(cancelled=[], already_terminal=[], cancelling=[])
    for task in tasks:
        task_id = str(task.get('Id'))
        if is_terminal(task):
            outcome['already_terminal'].append(task_id)
        elif task.get('State') == 'Cancelling':
            outcome['cancelling'].append(task_id)
        elif check_mode:
            outcome['cancelled'].append(task_id)
        else:
            outcome[cancel_task(client, task)].append(task_id)
    return outcome


def read_tasks(client, ids):
    """The current record of each task id (all spaces, system tasks included), by id."""
    if not ids:
        return {}
    found = list_tasks(client, task_ids=list(ids), states=None)
    return dict((str(t.get('Id')), t) for t in found if str(t.get('Id')) in ids)


def owners_gone(client, tasks):
    """Ids of running tasks whose owning node is offline or no longer in the cluster summary."""
    owners = set(str(t.get('ServerNode') or '') for t in tasks) - set([''])
    if not owners:
        return []
    nodes = dict((str(n.get('Id') or '').lower(), n) for n in cluster_summary(client))
    dead = set(o for o in owners if o.lower() not in nodes or nodes[o.lower()].get('IsOffline'))
    return [str(t.get('Id')) for t in tasks if str(t.get('ServerNode') or '') in dead]


def wait_terminal(client, ids, schedule, progress=None):
    """Poll the tasks until each is terminal, its owner is gone, or the schedule's deadline passes.

    Returns dict(states={id: final state}, stuck=[ids still running], owner_gone=[ids among
    stuck whose owning node is offline or deleted]). A task stuck in Cancelling because its node
    is gone is reported at once instead of being waited on (only a live owner finishes a cancel).
    """
    pending = [str(i) for i in ids]
    states, owner_gone = {}, []
    while pending:
        current = read_tasks(client, pending)
        for task_id in pending:
            states[task_id] = current[task_id].get('State') if task_id in current else 'Missing'
        running = [current[i] for i in pending if i in current and not is_terminal(current[i])]
        dead = owners_gone(client, running)
        owner_gone.extend(i for i in dead if i not in owner_gone)
        pending = [str(t.get('Id')) for t in running if str(t.get('Id')) not in dead]
        if not pending:
            break
        if progress:
            progress(pending, schedule.remaining())
        if not schedule.pause():
            break
    stuck = [i for i in states if states[i] not in TERMINAL_STATES and states[i] != 'Missing']
    return dict(states=states, stuck=stuck, owner_gone=owner_gone)


# ---- module glue -------------------------------------------------------------------------

def exit_module(module, result):
    """The one exit point of the octopus_node and octopus_task_cancel modules."""
    for warning in result.pop('warnings', None) or []:
        module.warn(warning)
    if result.pop('failed', False):
        module.fail_json(**result)
    module.exit_json(**result)


def check_cancel_params(params):
    """Input errors the argument spec cannot express, as one sentence (None when valid)."""
    errors = []
    for key in ('node_name', 'node_id'):
        if params.get(key) is not None and (not params[key].strip() or any(ord(c) < 32 for c in params[key])):
            errors.append('%s must be non-empty and without control characters' % key)
    ids = params.get('task_ids')
    if ids is not None and (not ids or any(not str(i).strip() for i in ids)):
        errors.append('task_ids must list at least one non-empty task id')
    if not params['states']:
        errors.append('states must name at least one of %s' % ', '.join(TASK_STATES))
    for key in ('wait_timeout', 'poll_interval'):
        if params[key] < 1:
            errors.append('%s must be at least 1 (got %d)' % (key, params[key]))
    if errors:
        return 'Invalid octopus_task_cancel options: %s. Nothing was cancelled.' % '; '.join(errors)
    return None


def _node_id(client, params):
    """The node whose tasks to cancel: by name it must exist; an id is used as is (the node may be gone)."""
    if params.get('node_id'):
        return params['node_id'].strip()
    if not params.get('node_name'):
        return None
    node = find_node(client, name=params['node_name'])
    if node is None:
        raise LookupError('Cannot cancel the tasks of Octopus server node %r: no node has that name. Check node_name, or pass node_id '
                          'for a node that was already deleted.%s' % (params['node_name'].strip(), suggest_nodes(client, params['node_name'])))
    return str(node['Id'])


def select_tasks(client, params):
    """(tasks to act on, ids not selected). Unknown task ids fail here, before any cancel is sent."""
    node_id = _node_id(client, params)
    if not params.get('task_ids'):
        return list_tasks(client, node_id=node_id, states=params['states']), []
    wanted = [str(i).strip() for i in params['task_ids']]
    found = read_tasks(client, wanted)
    missing = [i for i in wanted if i not in found]
    if missing:
        raise LookupError('Cannot cancel Octopus tasks %s: no such tasks in any space. Check task_ids; nothing was cancelled.'
                          % ', '.join(missing))
    selected, not_selected = [], []
    for task_id in wanted:
        task = found[task_id]
        on_node = node_id is None or str(task.get('ServerNode') or '').lower() == node_id.lower()
        if is_terminal(task) or (on_node and task.get('State') in params['states']):
            selected.append(task)
        else:
            not_selected.append(task_id)
    return selected, not_selected


def cancel_and_wait(client, params, timer, check_mode=False):
    """The octopus_task_cancel run: select, cancel, wait until terminal, report stuck tasks."""
    tasks, not_selected = select_tasks(client, params)
    outcome = cancel_tasks(client, tasks, check_mode=check_mode)
    states = dict((str(t.get('Id')), t.get('State')) for t in tasks)
    result = dict(changed=bool(outcome['cancelled']), cancelled=outcome['cancelled'], already_terminal=outcome['already_terminal'],
                  not_selected=not_selected, stuck=[], tasks=states)
    waiting = outcome['cancelled'] + outcome['cancelling']
    if check_mode or not params['wait'] or not waiting:
        result['msg'] = '%s %d tasks; %d already finished.' % ('Would cancel' if check_mode else 'Cancelled', len(outcome['cancelled']),
                                                               len(outcome['already_terminal']))
        return result
    schedule = PollSchedule(timer, params['wait_timeout'], params['poll_interval'], CANCEL_MAX_POLL_INTERVAL)
    waited = wait_terminal(client, waiting, schedule)
    states.update(waited['states'])
    result['stuck'] = waited['stuck']
    if waited['stuck']:
        gone = [i for i in waited['stuck'] if i in waited['owner_gone']]
        result.update(failed=True, msg='Cancelled Octopus tasks %s did not finish within wait_timeout (%ds)%s. Only the node that runs a '
                      'task can finish its cancellation; delete an offline node with octopus.ha.octopus_node state=absent so the server '
                      'fails its tasks, or abandon the tasks in the Octopus UI.'
                      % (', '.join(waited['stuck']), params['wait_timeout'],
                         ': the nodes running %s are offline or deleted' % ', '.join(gone) if gone else ''))
        return result
    result['msg'] = 'Cancelled %d tasks; all of them are finished.' % len(outcome['cancelled'])
    return result


def run_task_cancel(module, client_factory, timer):
    """The whole octopus_task_cancel module run."""
    error = check_cancel_params(module.params)
    if error:
        return dict(failed=True, changed=False, msg=error)
    client = None
    try:
        client = client_factory(module)
        return cancel_and_wait(client, module.params, timer, check_mode=module.check_mode)
    except (OctopusApiError, LookupError) as exc:
        result = dict(failed=True, changed=bool(client and client.mutating_requests_sent), msg=str(exc))
        if isinstance(exc, OctopusApiError):
            result['api_error'] = exc.to_result()
        return result
