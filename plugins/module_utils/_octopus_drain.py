# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# Copyright: Contributors to the octopus.ha collection
"""The octopus_node state machine: settings, drain, wait, cancel and delete of one server node.

This module_util is PRIVATE to the octopus.ha collection, not a public API.
It may change without notice between any two releases.

Design: ``NodeStep.run(kind)`` observes the server (node, summary, tasks) and performs at most
the changes that are due *now* (drain PUT, cancels, DELETE). It keeps no state between calls,
so a re-run after a crash at any point converges. ``drive()`` is the single waiting loop: it
calls a step, merges its outcome and sleeps on a ``PollSchedule``; between two steps a quiet poll
(``NodeStep.quiet``, one request) tells whether anything changed. The action plugin runs the
module in segments (``drive(..., segmented=True)``): each run waits in process until something
changes or the segment is over, then returns so that the plugin prints a progress line, and the
next run resumes the wait from what the previous one returned.
"""

from __future__ import absolute_import, division, print_function
__metaclass__ = type

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.octopus.ha.plugins.module_utils._octopus_api import OctopusApiError, write_with_reread
from ansible_collections.octopus.ha.plugins.module_utils._octopus_cluster import (
    BLOCKING_STATES,
    NODES_PATH,
    RUNNING_STATES,
    cluster_summary,
    find_node,
    list_tasks,
    node_is_task_node,
    offline_seconds,
    parse_timestamp,
    read_summary,
    seg,
    suggest_nodes,
    task_capacity,
)
from ansible_collections.octopus.ha.plugins.module_utils._octopus_tasks import (
    REFRESH_SECONDS,
    PollSchedule,
    cancel_tasks,
    is_terminal,
    read_tasks,
    split_interrupted,
    task_ids,
)

# Step kinds, passed by drive() to NodeStep.run.
POLL = 'poll'                      # observe, drain if needed, delete when idle
DRAIN_EXPIRED = 'drain_expired'    # drain_timeout passed: fail, or cancel (cancel_on_timeout)
CANCEL_POLL = 'cancel_poll'        # waiting for cancelled tasks to become terminal
CANCEL_EXPIRED = 'cancel_expired'  # cancel_timeout passed: report stuck tasks
WATCH_POLL = 'watch_poll'          # after deleting an online node: has it registered again?
WATCH_EXPIRED = 'watch_expired'    # reregistration_watch passed: the last look
# The action plugin's internal channel to the module (see NodeModule).
SEGMENT_OPTION = '_octopus_node_segment'

DONE, WAITING, CANCELLING, WATCHING = 'done', 'waiting', 'cancelling', 'watching'
PHASES = ('drain', 'wait', 'cancel', 'delete')
LIST_KEYS = ('cancelled_tasks', 'interrupted_tasks', 'lost_tasks', 'stuck_tasks', 'plan')
FLAG_KEYS = ('gone', 'record_kept', 'reregistered')
HIDDEN_NODE_KEYS = ('Links',)
# Bookkeeping the server changes at every write: not part of a diff.
DIFF_IGNORED_KEYS = ('LastModifiedOn', 'LastModifiedBy')


class StepFailed(Exception):
    """The step must stop with a failure; str() is the message."""

    def __init__(self, message, blocked_by=None):
        super(StepFailed, self).__init__(message)
        self.blocked_by = list(blocked_by or [])


def node_view(node):
    """The node as returned and diffed: the resource without its Links."""
    if not node:
        return {}
    return dict((k, v) for k, v in node.items() if k not in HIDDEN_NODE_KEYS)


def node_label(node, params):
    if node:
        return '%s (%s)' % (node.get('Name'), node.get('Id'))
    return repr(params.get('name') or params.get('id'))


def summary_entry(summary, node_id):
    wanted = str(node_id).lower()
    for entry in summary:
        if str(entry.get('Id') or '').lower() == wanted:
            return entry
    return None


def guard_reasons(summary, node_id, changes, min_task_nodes, min_task_capacity):
    """Why a change to one node would break the capacity budget (empty list = allowed).

    ``changes`` is a dict of node fields to apply, or None to remove the node. A budget is only
    enforced when the change lowers it: removing a node that is already drained or offline, or
    raising a cap, is always allowed.
    """
    wanted = str(node_id).lower()
    after = []
    for entry in summary:
        if str(entry.get('Id') or '').lower() != wanted:
            after.append(entry)
        elif changes is not None:
            after.append(dict(entry, **changes))
    nodes_before = len([n for n in summary if node_is_task_node(n)])
    nodes_after = len([n for n in after if node_is_task_node(n)])
    online_before = len([n for n in summary if not n.get('IsOffline')])
    online_after = len([n for n in after if not n.get('IsOffline')])
    cap_before, cap_after = task_capacity(summary), task_capacity(after)
    reasons = []
    if nodes_after < nodes_before and nodes_after < min_task_nodes:
        reasons.append('the cluster would keep %d online, undrained task nodes (min_task_nodes is %d)' % (nodes_after, min_task_nodes))
    if cap_after < cap_before and cap_after < min_task_capacity:
        reasons.append('the cluster would keep a task capacity of %d (min_task_capacity is %d)' % (cap_after, min_task_capacity))
    if online_after < online_before and online_after == 0:
        reasons.append('no online node would be left')
    return reasons


def lowers_capacity(entry, changes):
    """Whether applying changes to this summary entry takes a task node, or task cap, away from the cluster."""
    if not entry or changes is None:
        return bool(entry) and node_is_task_node(entry)
    after = dict(entry, **changes)
    return (node_is_task_node(entry) and not node_is_task_node(after)) or task_capacity([after]) < task_capacity([entry])


def capacity_reasons(summary, min_task_nodes, min_task_capacity):
    """Why the cluster as it is now breaks the capacity budget (empty list = it holds)."""
    nodes = len([n for n in summary if node_is_task_node(n)])
    capacity = task_capacity(summary)
    reasons = []
    if nodes < min_task_nodes:
        reasons.append('the cluster has %d online, undrained task nodes (min_task_nodes is %d)' % (nodes, min_task_nodes))
    if capacity < min_task_capacity:
        reasons.append('the cluster has a task capacity of %d (min_task_capacity is %d)' % (capacity, min_task_capacity))
    return reasons


def new_outcome():
    return dict(status=DONE, failed=False, msg='', changed=False, before=None, node=None, found=False,
                cancelled_tasks=[], running_tasks=[], stuck_tasks=[], interrupted_tasks=[], lost_tasks=[],
                blocked_by=[], deleted=False, removed_by_other=False, offline=False, gone=False, record_kept=False,
                reregistered=False, plan=[], suggestions='', elapsed=dict((p, 0.0) for p in PHASES), warnings=[], tasks_seen=[])


def cancellable(task):
    """A task a cancel POST moves on: Executing (to Cancelling) or Queued, e.g. paused on a manual intervention (to Canceled)."""
    return task.get('State') in ('Executing', 'Queued')


class NodeStep:
    """One observe-and-act pass over a node (see the module docstring)."""

    def __init__(self, client, params, timer, check_mode=False):
        self.client = client
        self.params = params
        self.timer = timer
        self.check_mode = check_mode
        self.out = None
        self.guard_done = False
        self.summary = None
        self.known_tasks = []
        self.deleted_label = None       # "name (Id)" of the record this run deleted, for the watch that follows

    # ---- entry point ------------------------------------------------------------------

    def run(self, kind=POLL, known_tasks=None):
        self.out = new_outcome()
        self.guard_done = False
        self.summary = None
        sent = self.client.mutating_requests_sent
        self.known_tasks = list(known_tasks or [])
        try:
            self._run(kind, list(known_tasks or []))
        except StepFailed as exc:
            self.out.update(failed=True, status=DONE, msg=self._plan_msg(str(exc), failed=True))
            self.out['blocked_by'] = exc.blocked_by or self.out['blocked_by']
        except (OctopusApiError, LookupError, ValueError) as exc:
            self.out.update(failed=True, status=DONE, msg=str(exc))
            if isinstance(exc, OctopusApiError):
                self.out['api_error'] = exc.to_result()
        # changed = a mutating request succeeded, even when a later request of this step failed.
        self.out['changed'] = self.out['changed'] or self.client.mutating_requests_sent > sent
        return self.out

    def quiet(self, total):
        """The cheap poll between two full steps: one request, the node's blocking work. True when it changed since
        ``total`` was observed (or cannot be told); the display details in ``total`` are refreshed either way."""
        node_id = (total.get('node') or total.get('before') or {}).get('Id')
        if not node_id:
            return True
        try:
            tasks = list_tasks(self.client, node_id=node_id, states=BLOCKING_STATES)
        except OctopusApiError:
            return True  # the full step reads again, with the whole error handling
        seen = task_digest(tasks, self.client.server_date())
        changed = digest_key(seen) != digest_key(total.get('tasks_seen') or [])
        total['tasks_seen'] = seen
        return changed

    def _run(self, kind, known_tasks):
        params = self.params
        node = find_node(self.client, name=params.get('name'), node_id=params.get('id'))
        if kind in (WATCH_POLL, WATCH_EXPIRED):
            self._watch(node, kind)
            return
        if node is None:
            self._missing(known_tasks)
            return
        self.out.update(found=True, before=node_view(node), node=node_view(node))
        if params['state'] == 'present':
            self._present(node)
            return
        self.summary, now, source = read_summary(self.client)
        entry = summary_entry(self.summary, node['Id']) or {}
        self._assess_offline(node, entry, now, source)
        if not node.get('IsInMaintenanceMode'):
            node = self._update(node, dict(IsInMaintenanceMode=True), 'drain')
            if node is None:
                self._missing(known_tasks)
                return
        tasks = list_tasks(self.client, node_id=node['Id'], states=BLOCKING_STATES)
        self.out['tasks_seen'] = task_digest(tasks, self.client.server_date())
        tasks = self._cancel_interrupted(node, tasks)
        if self.out['gone']:
            self._gone(node, tasks)
            return
        self._online(node, tasks, entry, kind)

    def _assess_offline(self, node, entry, now, source):
        """Offline counts as gone only once the server has not seen the node for offline_grace seconds, by its own clock."""
        self.out['offline'] = bool(entry.get('IsOffline'))
        if not self.out['offline']:
            return
        unseen = offline_seconds(entry, now)
        grace = self.params['offline_grace']
        label = node_label(node, self.params)
        if unseen is None:
            self.out['warnings'].append('Octopus server node %s is offline, but the server sent no clock to measure for how long (no '
                                        'usable Date header or LastSeen); it is treated as a live node until that is known.' % label)
            return
        if unseen >= grace:
            self.out['gone'] = True
            return
        self.out['warnings'].append('Octopus server node %s is offline, but the server saw it less than offline_grace (%ds) ago by its '
                                    'own clock (%s); it is drained and waited on like a live node.' % (label, grace, source))

    # ---- states -----------------------------------------------------------------------

    def _missing(self, known_tasks):
        label = node_label(None, self.params)
        hint = suggest_nodes(self.client, self.params['name']) if self.params.get('name') else ''
        if self.params['state'] != 'absent':
            raise StepFailed('Cannot make Octopus server node %s %s: no such node exists. Check name or id (names are matched '
                             'case-insensitively after trimming).%s' % (label, self.params['state'], hint))
        self.out.update(node={}, msg='Octopus server node %s is already removed (no node has that %s).%s'
                        % (label, 'name' if self.params.get('name') else 'id', hint), suggestions=hint.strip())
        self._report_lost(label, known_tasks)

    def _report_lost(self, label, known_tasks):
        """The node was deleted by someone else while these tasks were running on it: they are lost."""
        if not known_tasks:
            return
        self.out['lost_tasks'].extend(i for i in known_tasks if i not in self.out['lost_tasks'])
        self.out['warnings'].append('Octopus server node %s was deleted by someone else while tasks %s were still running on it; '
                                    'the server marks the tasks of a deleted node failed.' % (label, ', '.join(known_tasks)))

    def _present(self, node):
        changes = {}
        if self.params.get('max_concurrent_tasks') is not None and node.get('MaxConcurrentTasks') != self.params['max_concurrent_tasks']:
            changes['MaxConcurrentTasks'] = self.params['max_concurrent_tasks']
        if self.params.get('drained') is not None and bool(node.get('IsInMaintenanceMode')) != self.params['drained']:
            changes['IsInMaintenanceMode'] = self.params['drained']
        if changes:
            self.summary = cluster_summary(self.client)
            if self._update(node, changes, 'drain') is None:
                raise StepFailed('Cannot update Octopus server node %s: it was deleted while it was being updated.' % node_label(node, self.params))
        done = 'updated' if changes else 'already as requested'
        self.out['msg'] = self._plan_msg('Octopus server node %s %s.' % (node_label(node, self.params), done))

    def _online(self, node, tasks, entry, kind):
        """The node is live, or offline for less than offline_grace: drain, wait for its blocking work, delete."""
        running = [t for t in tasks if not is_terminal(t)]
        if kind in (CANCEL_POLL, CANCEL_EXPIRED):
            self._cancel(node, [t for t in running if cancellable(t)])
        if kind == DRAIN_EXPIRED and running:
            self._drain_expired(node, running)
            return
        if kind == CANCEL_EXPIRED and running:
            self.out['stuck_tasks'] = task_ids(running)
            self._finish_with_running(node, running, 'cancel_timeout (%ds) passed while tasks %s were still being cancelled'
                                      % (self.params['cancel_timeout'], ', '.join(task_ids(running))))
            return
        unseen = self._unseen_count(entry, running)
        if unseen and not running and kind in (DRAIN_EXPIRED, CANCEL_EXPIRED):
            self._finish_with_running(node, [], 'the cluster summary still counts %d running tasks that the task list does not show' % unseen)
            return
        if running or unseen:
            self.out['running_tasks'] = task_ids(running)
            self._still_running(node, running, unseen, kind)
            return
        self._finish(node)

    def _still_running(self, node, running, unseen, kind):
        count = len(running) or unseen
        ids = ', '.join(task_ids(running)) or '%d tasks the summary counts' % unseen
        if not self.params['wait']:
            if self.params['state'] == 'absent':
                # The real run fails here (or, with force, deletes): check mode predicts the same.
                self._finish_with_running(node, running, 'wait is false and %d tasks are still running' % count)
                return
            self.out['msg'] = self._plan_msg('Octopus server node %s is drained; %d tasks are still running (%s).'
                                             % (node_label(node, self.params), count, ids))
            return
        if self.check_mode:
            timeout = 'cancel_timeout' if kind in (CANCEL_POLL, CANCEL_EXPIRED) else 'drain_timeout'
            self.out['plan'].append('wait up to %d s (%s) for %s' % (self.params[timeout], timeout, ids))
            if self.params['state'] == 'absent':
                self._delete(node, planned=True)
            self.out['msg'] = self._plan_msg('')
            return
        self.out['status'] = CANCELLING if kind in (CANCEL_POLL, CANCEL_EXPIRED) else WAITING

    def _drain_expired(self, node, running):
        ids = task_ids(running)
        if self.params['cancel_on_timeout']:
            self._cancel(node, [t for t in running if cancellable(t)])
            self.out['running_tasks'] = ids
            self.out['status'] = CANCELLING
            return
        self._finish_with_running(node, running, 'drain_timeout (%ds) passed while tasks %s were still running'
                                  % (self.params['drain_timeout'], ', '.join(ids)))

    def _finish_with_running(self, node, running, why):
        """Tasks are left: fail (node stays drained), or with force delete anyway and report them as lost."""
        ids = task_ids(running)
        self.out['running_tasks'] = ids
        if self.params['state'] == 'absent' and self.params['force']:
            if self._keeps_record():
                self._delete(node)
                return
            self.out['warnings'].append('force is true: %s Octopus server node %s although %s; these tasks will be lost: %s.'
                                        % ('would delete' if self.check_mode else 'deleting', node_label(node, self.params), why,
                                           ', '.join(ids)))
            # Paused tasks would be stranded in the queue forever (Issues #6372): cancel them before the record goes.
            self._cancel(node, [t for t in running if t.get('State') == 'Queued'])
            self._delete(node, lost=ids)
            return
        interrupted = [i for i in ids if i in self.out['interrupted_tasks']]
        hint = (' Tasks %s wait for a manual intervention or guided failure; answer them in the Octopus UI or use '
                'pending_interruptions=cancel.' % ', '.join(interrupted)) if interrupted else ''
        raise StepFailed('Cannot finish %s of Octopus server node %s: %s. The node is left drained.%s Re-run later, raise the timeout, '
                         'set cancel_on_timeout=true, or (for state=absent) force=true to delete it anyway.'
                         % ('the removal' if self.params['state'] == 'absent' else 'the drain', node_label(node, self.params), why, hint),
                         blocked_by=[why])

    def _gone(self, node, tasks):
        """Offline for offline_grace or longer: nobody will finish its tasks. They are orphans: cancelled, reported, deleted with it."""
        label = node_label(node, self.params)
        orphans = [t for t in tasks if not is_terminal(t)]
        ids = task_ids(orphans)
        self.out['running_tasks'] = ids
        if self.params['state'] == 'drained':
            if orphans:
                self.out['warnings'].append('Octopus server node %s has been offline longer than offline_grace (%ds), so its tasks %s '
                                            'cannot finish until it returns or the server fails them; not waiting.'
                                            % (label, self.params['offline_grace'], ', '.join(ids)))
            self.out['msg'] = self._plan_msg('Octopus server node %s is drained (offline longer than offline_grace).' % label)
            return
        self._cancel(node, [t for t in orphans if cancellable(t)])
        current = dict((str(t['Id']), t) for t in orphans)
        if orphans and not self.check_mode:
            current.update(read_tasks(self.client, ids))
        still = [current[i] for i in ids if not is_terminal(current[i])]
        executing = [t for t in still if t.get('State') == 'Executing' and not self.check_mode]
        if executing and not self.params['force']:
            self._finish_with_running(node, executing, 'tasks %s are still Executing after the cancel' % ', '.join(task_ids(executing)))
            return
        stuck = [str(t['Id']) for t in still if t.get('State') == 'Cancelling']
        self.out['stuck_tasks'] = stuck
        if orphans:
            self.out['warnings'].append('Octopus server node %s has been offline longer than offline_grace (%ds) by the server\'s clock, '
                                        'so its tasks %s are orphans: they were cancelled%s and are lost; deleting the node record '
                                        'makes the server fail what is left.'
                                        % (label, self.params['offline_grace'], ', '.join(ids),
                                           ' (%s still Cancelling: only the owning node could finish that)' % ', '.join(stuck)
                                           if stuck else ''))
        self._delete(node, lost=ids)

    def _finish(self, node):
        label = node_label(node, self.params)
        if self.params['state'] == 'absent':
            self._delete(node)
            return
        self.out['msg'] = self._plan_msg('Octopus server node %s is drained and runs no tasks.' % label)

    # ---- requests ---------------------------------------------------------------------

    def _guard(self, node, changes):
        """The capacity budget, checked once per step before the first change."""
        if self.guard_done:
            return
        self.guard_done = True
        if self.summary is None or not summary_entry(self.summary, node['Id']):
            missing = 'the cluster summary does not list the node' if self.summary is not None else 'the cluster summary was not read'
            label = node_label(node, self.params)
            raise StepFailed('Refusing to change Octopus server node %s: the capacity guard cannot be checked because %s. Nothing was '
                             'changed. Use an API key that can read /api/octopusservernodes/summary.' % (label, missing),
                             blocked_by=[missing])
        unreadable = unreadable_facts(self.summary)
        if unreadable and not self.params['force']:
            raise StepFailed('Refusing to change Octopus server node %s: the capacity guard cannot be checked because the cluster summary '
                             'does not say %s. Nothing was changed. Use an API key that can read the whole summary (AdministerSystem '
                             'on servers that restrict it), or set force=true.' % (node_label(node, self.params), '; '.join(unreadable)),
                             blocked_by=unreadable)
        reasons = guard_reasons(self.summary, node['Id'], changes, self.params['min_task_nodes'], self.params['min_task_capacity'])
        if not reasons:
            return
        what = 'remove' if changes is None else 'change'
        if self.params['force']:
            self.out['warnings'].append('force is true: overriding the capacity guard to %s Octopus server node %s although %s.'
                                        % (what, node_label(node, self.params), '; '.join(reasons)))
            return
        raise StepFailed('Refusing to %s Octopus server node %s: %s. Nothing was changed. Add or undrain task nodes first, lower '
                         'min_task_nodes/min_task_capacity, or set force=true.' % (what, node_label(node, self.params), '; '.join(reasons)),
                         blocked_by=reasons)

    def _update(self, node, changes, phase):
        """GET-modify-PUT the whole resource (its current Name and other fields unchanged); None if the node is gone."""
        self._guard(node, None if self.params['state'] == 'absent' else changes)
        started = self.timer.clock()
        if self.check_mode:
            after = dict(node, **changes)
            changed = True
            self.out['plan'].append(describe_changes(changes))
        else:
            after, changed = put_node(self.client, node['Id'], changes)
        self.out['elapsed'][phase] += self.timer.clock() - started
        self.out['changed'] = self.out['changed'] or changed
        self.out['node'] = node_view(after) if after is not None else {}
        if changed and after is not None and not self.check_mode:
            self._recheck_guard(node, changes)
        return after

    def _recheck_guard(self, node, changes):
        """After a write that lowered capacity, read the cluster again: a concurrent removal may have drained the others.

        Both removals of the last two task nodes pass the guard when each reads the cluster before
        the other's drain lands. The server orders the two writes, so at least one of the two
        re-reads sees both: that removal restores this node's previous settings and fails, naming
        the other drained nodes. Both may roll back, which is safe; losing all capacity is not.
        """
        if self.params['force'] or not lowers_capacity(summary_entry(self.summary or [], node['Id']), changes):
            return
        fresh = cluster_summary(self.client)
        reasons = capacity_reasons(fresh, self.params['min_task_nodes'], self.params['min_task_capacity'])
        if not reasons:
            return
        others = sorted(str(n.get('Name')) for n in fresh
                        if n.get('IsInMaintenanceMode') and str(n.get('Id') or '').lower() != str(node['Id']).lower())
        previous = dict(IsInMaintenanceMode=bool(node.get('IsInMaintenanceMode')), MaxConcurrentTasks=node.get('MaxConcurrentTasks'))
        label = node_label(node, self.params)
        try:
            restored, dummy = put_node(self.client, node['Id'], previous)
        except OctopusApiError as exc:
            raise StepFailed('Drained Octopus server node %s, but then %s, and restoring its previous settings failed: %s Undrain it now '
                             '(octopus.ha.octopus_node state=present drained=false), or the cluster may have no node that takes tasks.'
                             % (label, '; '.join(reasons), exc), blocked_by=reasons)
        self.out['node'] = node_view(restored) if restored is not None else {}
        raise StepFailed('Rolled back the drain of Octopus server node %s: after the drain %s, because %s drained at the same time '
                         '(another removal running concurrently). Its previous settings are restored (%s, task cap %s). Nothing else '
                         'was changed; re-run once the other removal has finished.'
                         % (label, '; '.join(reasons), ', '.join(others) or 'other nodes were',
                            'drained' if previous['IsInMaintenanceMode'] else 'not drained', previous['MaxConcurrentTasks']),
                         blocked_by=reasons)

    def _cancel(self, node, tasks):
        if not tasks:
            return
        self._guard(node, None if self.params['state'] == 'absent' else dict(IsInMaintenanceMode=True))
        started = self.timer.clock()
        outcome = cancel_tasks(self.client, tasks, check_mode=self.check_mode)
        self.out['elapsed']['cancel'] += self.timer.clock() - started
        self.out['cancelled_tasks'].extend(i for i in outcome['cancelled'] if i not in self.out['cancelled_tasks'])
        self.out['changed'] = self.out['changed'] or bool(outcome['cancelled'])
        if self.check_mode and outcome['cancelled']:
            self.out['plan'].append('cancel %s' % ', '.join(outcome['cancelled']))

    def _cancel_interrupted(self, node, tasks):
        """Report tasks that wait on a human; with pending_interruptions=cancel, cancel them now (the node is drained).

        They are Executing (guided failure) or Queued and pinned to the node (a paused manual intervention)."""
        interrupted = [t for t in split_interrupted(tasks)[1] if not is_terminal(t)]
        self.out['interrupted_tasks'] = task_ids(interrupted)
        if self.params['pending_interruptions'] != 'cancel' or not interrupted:
            return tasks
        self._cancel(node, [t for t in interrupted if cancellable(t)])
        cancelled = set(self.out['cancelled_tasks'])
        if not self.check_mode:
            return tasks
        # Check mode: predict what the cancel does (Queued -> Canceled at once, Executing -> Cancelling).
        predicted = dict(Queued='Canceled', Executing='Cancelling')
        return [dict(t, State=predicted.get(t.get('State'), t.get('State'))) if str(t.get('Id')) in cancelled else t for t in tasks]

    def _delete(self, node, lost=None, planned=False):
        """Delete the record (or, with delete_online=false and the node online, keep it drained with task cap 0)."""
        self._guard(node, None)
        label = node_label(node, self.params)
        if self._keeps_record():
            self._keep_record(node, planned)
            return
        self.out['lost_tasks'] = list(lost or [])
        started = self.timer.clock()
        path = '%s/%s' % (NODES_PATH, seg(node['Id']))
        if self.check_mode:
            gone = True
            self.out['plan'].append('delete the record')
        else:
            # After an unknown outcome the client reads the node again: gone then means our DELETE landed.
            gone = self.client.delete(path, action='delete Octopus server node %s' % label)
        self.out['elapsed']['delete'] += self.timer.clock() - started
        self.out.update(deleted=True, node={}, changed=self.out['changed'] or gone)
        what = 'deleted' if gone else 'was already deleted by someone else'
        self.out['msg'] = self._plan_msg('Octopus server node %s %s.' % (label, what))
        if not gone:
            self.out['removed_by_other'] = True
            self._report_lost(label, self.known_tasks)
        elif not self.check_mode and not self.out['offline'] and self.params['reregistration_watch'] > 0:
            # A node deleted while it was online may write its row again at its next heartbeat (REFERENCE section 2).
            self.out['status'] = WATCHING
            self.deleted_label = label

    def _keeps_record(self):
        """delete_online=false and the server reports the node online: the record stays (its tasks keep running there)."""
        return not self.params['delete_online'] and not self.out['offline']

    def _keep_record(self, node, planned):
        """delete_online=false and the server reports the node online: its service runs, so a deleted row could come back
        undrained. Leave the record drained with task cap 0 instead; the reconciler deletes it once the node is offline."""
        label = node_label(node, self.params)
        if node.get('MaxConcurrentTasks') != 0:
            self._update(node, dict(IsInMaintenanceMode=True, MaxConcurrentTasks=0), 'delete')
        self.out['record_kept'] = True
        self.out['msg'] = self._plan_msg('Octopus server node %s was not deleted: the server reports it online (its service still runs), '
                                         'so its record is kept drained with task cap 0. Delete it once it is offline (the reconciler '
                                         'does), or stop its service and run again.' % label)

    def _watch(self, node, kind):
        """After our DELETE of an online node: did it register again? Then drain it again with cap 0 and warn."""
        self.out['deleted'] = True
        if node is None:
            self.out['node'] = {}
            self.out['status'] = DONE if kind == WATCH_EXPIRED else WATCHING
            # The label of the record as this run deleted it ("name (Id)"), else what the task named.
            label = self.deleted_label or self.params.get('name') or self.params.get('id')
            self.out['msg'] = 'Octopus server node %s deleted; it did not register again.' % label
            return
        label = node_label(node, self.params)
        self.out.update(found=True, node=node_view(node), deleted=False, reregistered=True, record_kept=True)
        changes = dict(IsInMaintenanceMode=True, MaxConcurrentTasks=0)
        if any(node.get(k) != v for k, v in changes.items()):
            after, changed = put_node(self.client, node['Id'], changes)
            self.out['changed'] = self.out['changed'] or changed
            self.out['node'] = node_view(after) if after is not None else {}
        warning = ('Octopus server node %s registered itself again after it was deleted: its service still runs. It is drained again '
                   'with task cap 0 so that it takes no deployments. Stop the Octopus service on it (or terminate the VM), then '
                   'delete the record again (the reconciler does once the node is offline).' % label)
        self.out['warnings'].append(warning)
        self.out['msg'] = warning

    def _plan_msg(self, msg, failed=False):
        """In check mode, the message is the plan: 'Check mode: would drain ..., would wait up to 1800 s for ..., would delete ...'."""
        if not self.check_mode:
            return msg
        steps = self.out['plan']
        label = node_label(self.out.get('before') or None, self.params) if self.out.get('before') else node_label(None, self.params)
        plan = ('would %s' % ', would '.join(steps)) if steps else 'would change nothing'
        if failed:
            return 'Check mode: for Octopus server node %s the run %s, then fail: %s' % (label, plan, msg) if steps else \
                'Check mode: the run would fail: %s' % msg
        return 'Check mode: for Octopus server node %s the run %s.%s' % (label, plan, (' ' + msg) if msg and not steps else '')

    def _unseen_count(self, entry, running):
        """Tasks the summary counts but the task list did not return (a missing count is not zero: the list decides)."""
        count = entry.get('RunningTaskCount')
        listed = len([t for t in running if t.get('State') in RUNNING_STATES])
        if isinstance(count, int) and count > listed:
            return count - listed
        return 0


def describe_changes(changes):
    """A change as a plan step: 'drain', 'undrain', 'set the task cap to 0'."""
    words = []
    if 'IsInMaintenanceMode' in changes:
        words.append('drain' if changes['IsInMaintenanceMode'] else 'undrain')
    if 'MaxConcurrentTasks' in changes:
        words.append('set the task cap to %s' % changes['MaxConcurrentTasks'])
    return ' and '.join(words) or 'update'


def unreadable_facts(summary):
    """The facts the capacity guard needs that the summary did not give (a missing value is unknown, never 0 or false)."""
    missing = []
    for key, what in (('IsOffline', 'whether a node is offline'), ('IsInMaintenanceMode', 'whether a node is drained'),
                      ('MaxConcurrentTasks', "a node's task cap")):
        names = [str(n.get('Name') or n.get('Id')) for n in summary if n.get(key) is None]
        if names:
            missing.append('%s (%s)' % (what, ', '.join(sorted(names))))
    return missing


def put_node(client, node_id, changes):
    """Apply ``changes`` with GET-modify-PUT. Returns (node after, changed) or (None, False) if the node is gone.

    The PUT goes through write_with_reread (the one retry rule for writes): after an unknown
    outcome the node is read again, and if the change is not there yet the next body is built from
    that read, so a field someone else changed meanwhile is never written back.
    """
    path = '%s/%s' % (NODES_PATH, seg(node_id))
    read_action = 'read Octopus server node %s' % node_id
    current = client.get(path, allow_404=True, action=read_action)
    if current is None:
        return None, False
    if _has_changes(current, changes):
        return current, False
    latest = [current]

    def write():
        body = dict(latest[0])
        body.update(changes)
        return client.write_once('PUT', path, body, action='update Octopus server node %s' % node_id)

    def reread():
        fresh = client.get(path, allow_404=True, action=read_action)
        if fresh is None:
            return None, False
        if _has_changes(fresh, changes):
            # Our earlier PUT landed although its answer was lost.
            return fresh, True
        latest[0] = fresh
        return None

    try:
        result = write_with_reread(client, 'update Octopus server node %s' % node_id, write, reread)
    except OctopusApiError as exc:
        if exc.status == 404:
            return None, False
        raise
    return result.value, result.written


def _has_changes(node, changes):
    return all(node.get(k) == v for k, v in changes.items())


# ---- the waiting loop (module and action plugin) -----------------------------------------

# A run started by the action plugin returns to it (so that it prints a progress line) once it has
# waited twice as long as the phase had lasted when the run began, at least SEGMENT_MIN and at most
# SEGMENT_MAX: lines after about 2 and 6 minutes, then every 10 minutes. A change of the node's
# blocking work ends the run earlier, once a quarter of that has passed; so does a change of phase,
# except to the re-registration watch, which the run that deleted the node does itself. Each run is
# one module start-up on the controller (0.5 to 0.9 s of CPU), so a 30-minute drain is about 6 runs.
SEGMENT_MIN = 120.0
SEGMENT_MAX = 600.0
SEGMENT_GROWTH = 2.0
CHANGE_FRACTION = 0.25
WAITING_STATUSES = (WAITING, CANCELLING, WATCHING)


def segment_seconds(phase_elapsed):
    """How long one run of a segmented wait lasts when nothing changes."""
    return min(SEGMENT_MAX, max(SEGMENT_MIN, SEGMENT_GROWTH * phase_elapsed))


def merge(total, step):
    """Fold one step outcome into the running result of drive()."""
    step = dict(new_outcome(), **step)
    if step['failed']:
        step['status'] = DONE
    if total is None:
        total = dict(step)
        total['elapsed'] = dict(step['elapsed'])
        total['warnings'] = list(step['warnings'])
        return total
    before, found = total['before'], total['found']
    for key in LIST_KEYS:
        merged = list(total[key])
        merged.extend(i for i in step[key] if i not in merged)
        step[key] = merged
    for phase in PHASES:
        step['elapsed'][phase] += total['elapsed'][phase]
    step['warnings'] = list(total['warnings']) + [w for w in step['warnings'] if w not in total['warnings']]
    for key in FLAG_KEYS:
        step[key] = total[key] or step[key]
    step['changed'] = total['changed'] or step['changed']
    step['deleted'] = (total['deleted'] or step['deleted']) and not step['reregistered']
    step['before'] = before if before is not None else step['before']
    step['suggestions'] = total['suggestions'] or step['suggestions']
    if found and not step['found'] and not step['failed'] and not total['deleted']:
        step['removed_by_other'] = True
        step['msg'] = '%s It was removed by someone else while this task was waiting.' % step['msg']
    step['found'] = found or step['found']
    return step


# ---- what a person reads while it waits ----------------------------------------------------

def task_digest(tasks, server_now):
    """The node's unfinished blocking work as the progress lines show it, with how long each task has run (server clock)."""
    seen = []
    for task in tasks:
        if is_terminal(task):
            continue
        started = parse_timestamp(task.get('StartTime'))
        since = started if started is not None else parse_timestamp(task.get('QueueTime'))
        seconds = max(0, int(server_now - since)) if server_now is not None and since is not None else None
        seen.append(dict(Id=str(task.get('Id')), State=task.get('State'), Description=str(task.get('Description') or task.get('Name') or ''),
                         interrupted=bool(task.get('HasPendingInterruptions')), started=started is not None, seconds=seconds))
    return seen


def digest_key(seen):
    """What a quiet poll compares: which tasks, in which state, waiting on a human or not (not how long they ran)."""
    return sorted((t['Id'], t['State'], t['interrupted']) for t in seen)


def plural(count, word):
    return '%d %s%s' % (count, word, '' if count == 1 else 's')


def duration_text(seconds):
    """4m10s, 12s, 1h02m."""
    seconds = int(max(0, seconds))
    if seconds < 60:
        return '%ds' % seconds
    if seconds < 3600:
        return '%dm%02ds' % (seconds // 60, seconds % 60) if seconds % 60 else '%dm' % (seconds // 60)
    return '%dh%02dm' % (seconds // 3600, (seconds % 3600) // 60)


def task_line(task):
    """'ServerTasks-6 Deploy Web 1.0.0 to Production, running 4m10s'."""
    ran = '' if task.get('seconds') is None else ' ' + duration_text(task['seconds'])
    if task.get('interrupted'):
        how = 'waiting for a manual intervention' + (', running%s' % ran if task.get('started') else '')
    elif task.get('State') == 'Cancelling':
        how = 'cancelling, running%s' % ran
    elif task.get('State') == 'Queued':
        how = 'queued%s' % ran
    else:
        how = 'running%s' % ran
    text = ('%s %s' % (task['Id'], task.get('Description') or '')).strip()
    return '%s, %s' % (text, how)


MAX_TASK_LINES = 10


def node_name(total, params):
    """The node by its name (the record id only when the name is not known)."""
    node = total.get('node') or total.get('before') or {}
    return str(node.get('Name') or params.get('name') or node.get('Id') or params.get('id'))


def progress_line(total, remaining, params):
    """The progress text for one state of the wait: a header line, then one line per task."""
    name = node_name(total, params)
    left = '%s left' % duration_text(remaining)
    status = total.get('status')
    if status == WATCHING:
        return 'octopus_node: %s deleted, watching whether it registers again (%s)' % (name, left)
    ids = list(total.get('running_tasks') or [])
    seen = dict((t['Id'], t) for t in total.get('tasks_seen') or [])
    if not ids:
        waiting = 'the tasks the cluster summary still counts'
    elif status == CANCELLING:
        waiting = '%d cancelled %s to end' % (len(ids), 'task' if len(ids) == 1 else 'tasks')
    else:
        waiting = plural(len(ids), 'task')
    header = 'octopus_node: %s drained, waiting for %s (%s)%s' % (name, waiting, left, ':' if ids else '')
    lines = [header]
    for task_id in ids[:MAX_TASK_LINES]:
        lines.append('  ' + task_line(seen.get(task_id) or dict(Id=task_id)))
    if len(ids) > MAX_TASK_LINES:
        lines.append('  ... and %d more' % (len(ids) - MAX_TASK_LINES))
    return '\n'.join(lines)


# ---- the loop --------------------------------------------------------------------------------

class _Segment:
    """When a run that the action plugin started returns to it (see SEGMENT_MIN)."""

    def __init__(self, timer, phase_elapsed, running):
        self.timer = timer
        self.started = timer.clock()
        self.length = segment_seconds(phase_elapsed)
        self.running = list(running)
        self.changed = False

    def over(self, total):
        self.changed = self.changed or list(total['running_tasks']) != self.running
        ran = self.timer.clock() - self.started
        return ran >= self.length or (self.changed and ran >= CHANGE_FRACTION * self.length)


def drive(step, params, timer, progress=None, quiet=None, resume=None, segmented=False):
    """Run steps until the node is done, waiting on a PollSchedule (the one waiting loop).

    ``step(kind, known_tasks)`` returns an outcome dict (NodeStep.run). ``quiet(total)`` is the
    cheap poll between two steps (by default NodeStep.quiet when ``step`` is NodeStep.run): one
    request, True when the blocking work changed; a full step also runs at least every
    REFRESH_SECONDS and at each deadline. Without a ``quiet`` every poll is a full step. ``progress(text)`` receives the progress text at each poll.

    ``segmented`` (the action plugin's runs): return early, with the merged outcome and a
    ``resume`` dict, right after the first step when a wait starts, at a change of phase (but not
    to the re-registration watch), and when the segment is over (see SEGMENT_MIN); ``resume`` (that dict, as the action plugin passes it
    back) continues the wait in a new run. Time spent waiting is booked to the ``wait`` phase
    (drain_timeout), the ``cancel`` phase (cancel_timeout) or the ``delete`` phase (the
    re-registration watch); the steps book their own requests to drain, cancel and delete.
    """
    phases = {WAITING: (POLL, DRAIN_EXPIRED, 'drain_timeout', 'wait'),
              CANCELLING: (CANCEL_POLL, CANCEL_EXPIRED, 'cancel_timeout', 'cancel'),
              WATCHING: (WATCH_POLL, WATCH_EXPIRED, 'reregistration_watch', 'delete')}
    if quiet is None:
        quiet = getattr(getattr(step, '__self__', None), 'quiet', None)  # NodeStep.run comes with its quiet poll
    if resume:
        total, phase_elapsed, since_full = resume['total'], resume['phase_elapsed'], resume['since_full']
    else:
        total, phase_elapsed, since_full = merge(None, step(POLL, [])), 0.0, 0.0
        if segmented and total['status'] in phases:
            return paused(total, 0.0, 0.0, params[phases[total['status']][2]], 0.0, params)
    while total['status'] in phases:
        status = total['status']
        poll, expired, timeout, phase = phases[status]
        schedule = PollSchedule(timer, params[timeout], params['poll_interval'], params['max_poll_interval'], elapsed=phase_elapsed)
        segment = _Segment(timer, phase_elapsed, total['running_tasks']) if segmented else None
        last_full = timer.clock() - since_full
        booked = sum(total['elapsed'].values())
        started = timer.clock()
        kind = poll
        while total['status'] == status and kind == poll:
            if progress:
                progress(progress_line(total, schedule.remaining(), params))
            kind = poll if schedule.pause() else expired
            due = kind != poll or quiet is None or status == WATCHING or timer.clock() - last_full >= REFRESH_SECONDS
            if due or quiet(total):
                total = merge(total, step(kind, total['running_tasks']))
                last_full = timer.clock()
            if segment is not None and total['status'] == status and kind == poll and segment.over(total):
                book_wait(total, phase, timer.clock() - started, booked)
                return paused(total, schedule.elapsed(), timer.clock() - last_full, schedule.remaining(),
                              timer.clock() - segment.started, params)
        book_wait(total, phase, timer.clock() - started, booked)
        if total['status'] == status:
            # An expired step must end the phase; never start a second deadline for the same phase.
            total.update(status=DONE, failed=True, msg=total['msg'] or 'Octopus server node %s did not settle before %s.'
                         % (node_name(total, params), timeout))
        phase_elapsed, since_full = 0.0, 0.0
        if segmented and total['status'] in phases and total['status'] != WATCHING:
            return paused(total, 0.0, 0.0, params[phases[total['status']][2]], timer.clock() - started, params)
    return finish(total, params)


def book_wait(total, phase, waited, booked):
    """Book the time waited in this run to the phase, minus what the steps booked themselves meanwhile."""
    total['elapsed'][phase] += max(0.0, waited - (sum(total['elapsed'].values()) - booked))


def paused(total, phase_elapsed, since_full, remaining, ran, params):
    """What a segmented run returns while the wait goes on: the merged outcome and how to resume it."""
    return dict(changed=total['changed'], resume=dict(total=total, phase_elapsed=phase_elapsed, since_full=since_full,
                                                      remaining=remaining, ran=ran, params=loop_params(params),
                                                      progress=progress_line(total, remaining, params)))


def diff_view(node):
    """The node as diffed: without its links and the server's bookkeeping (LastModifiedOn, LastModifiedBy)."""
    return dict((k, v) for k, v in node_view(node).items() if k not in DIFF_IGNORED_KEYS)


def node_diff(before, after, params):
    """Only the fields that change; a deleted node shows all its fields going away."""
    before, after = diff_view(before), diff_view(after)
    keys = set(before) | set(after)
    changed = sorted(k for k in keys if before.get(k) != after.get(k) or (k in before) != (k in after))
    label = 'Octopus server node %s' % (before.get('Name') or after.get('Name') or params.get('name') or params.get('id'))
    node_id = before.get('Id') or after.get('Id')
    if node_id:
        label += ' (%s)' % node_id
    return dict(before=dict((k, before[k]) for k in changed if k in before),
                after=dict((k, after[k]) for k in changed if k in after),
                before_header=label, after_header=label if after else '%s (deleted)' % label)


def finish(total, params):
    """Shape the merged outcome into the module result."""
    internal = ('status', 'found', 'offline', 'gone', 'suggestions', 'tasks_seen')
    result = dict((k, v) for k, v in total.items() if k not in internal)
    if not total['found'] and total.get('suggestions'):
        warning = 'No Octopus server node is named %r. %s' % (params.get('name'), total['suggestions'])
        result['warnings'] = list(result['warnings']) + [warning]
    result['elapsed'] = dict((k, round(v, 3)) for k, v in total['elapsed'].items())
    result['reason'] = params.get('reason')
    result['diff'] = node_diff(total['before'] or {}, total['node'] or {}, params)
    if not total['found']:
        result['before'] = {}
    return result


# ---- module glue -------------------------------------------------------------------------

def check_params(params):
    """Input errors the argument spec cannot express, as one sentence (None when valid). No request is made before this."""
    errors = []
    name = params.get('name')
    if name is not None and (not name.strip() or any(ord(c) < 32 for c in name)):
        errors.append('name must be a non-empty node name without control characters')
    if params.get('id') is not None and not params['id'].strip():
        errors.append('id must not be empty')
    for key, minimum in (('max_concurrent_tasks', 0), ('drain_timeout', 1), ('cancel_timeout', 1), ('poll_interval', 1),
                         ('min_task_nodes', 0), ('min_task_capacity', 0), ('offline_grace', 0), ('reregistration_watch', 0)):
        if params.get(key) is not None and params[key] < minimum:
            errors.append('%s must be at least %d (got %d)' % (key, minimum, params[key]))
    if params['max_poll_interval'] < params['poll_interval']:
        errors.append('max_poll_interval (%d) must not be smaller than poll_interval (%d)' % (params['max_poll_interval'], params['poll_interval']))
    for key in ('max_concurrent_tasks', 'drained'):
        if params.get(key) is not None and params['state'] != 'present':
            errors.append('%s applies only to state=present (got state=%s)' % (key, params['state']))
    if errors:
        return 'Invalid octopus_node options: %s. Nothing was changed.' % '; '.join(errors)
    return None


def loop_params(params):
    """What the action plugin needs of the validated options to word its progress lines and merge a failed run."""
    keys = ('name', 'id', 'state', 'drain_timeout', 'cancel_timeout', 'poll_interval', 'max_poll_interval', 'reason',
            'reregistration_watch')
    return dict((k, params.get(k)) for k in keys)


class NodeModule(AnsibleModule):
    """The octopus_node AnsibleModule. Its action plugin runs a long wait as several runs of the module and passes
    each run where to resume in SEGMENT_OPTION. That channel is taken out of the parameters before they are
    validated, so it is in no argument spec: not in ansible-doc, not in an 'Unsupported parameters' error."""

    segment = None

    def _load_params(self):
        super(NodeModule, self)._load_params()
        self.segment = self.params.pop(SEGMENT_OPTION, None)


def resume_state(segment):
    """The validated resume state of a segmented run (None: start), or raise ValueError."""
    if not isinstance(segment, dict):
        raise ValueError('not a dict')
    resume = segment.get('resume')
    if resume is None:
        return None
    if not isinstance(resume, dict) or not isinstance(resume.get('total'), dict) or resume['total'].get('status') not in WAITING_STATUSES:
        raise ValueError('no waiting state to resume')
    total = dict(new_outcome(), **resume['total'])
    total['elapsed'] = dict(dict((p, 0.0) for p in PHASES), **(total.get('elapsed') or {}))
    return dict(total=total, phase_elapsed=float(resume.get('phase_elapsed') or 0), since_full=float(resume.get('since_full') or 0))


def run_node(module, client_factory, timer):
    """The whole octopus_node module run, or one segment of a wait when the action plugin runs it (NodeModule.segment)."""
    params = module.params
    error = check_params(params)
    if error:
        return dict(failed=True, changed=False, msg=error)
    segment = getattr(module, 'segment', None)
    try:
        resume = resume_state(segment) if segment is not None else None
    except ValueError as exc:
        return dict(failed=True, changed=False, msg='The octopus_node action plugin passed an invalid internal state (%s). Nothing was '
                    'changed; run the task again.' % exc)
    try:
        client = client_factory(module)
    except OctopusApiError as exc:
        return dict(failed=True, changed=False, msg=str(exc))
    stepper = NodeStep(client, params, timer, check_mode=module.check_mode)
    result = drive(stepper.run, params, timer, quiet=stepper.quiet, resume=resume, segmented=segment is not None)
    if 'resume' not in result and not module._diff:
        result.pop('diff', None)
    return result
