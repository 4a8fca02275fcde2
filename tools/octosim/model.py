# Copyright (c) octopus.ha contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Cluster state and the event-ordered scheduler (heartbeats, queue polling, task runs, cancel, orphans)."""
from __future__ import absolute_import, division, print_function
__metaclass__ = type

import copy
import math
import threading
import zlib

from octosim.config import ALL_PERMISSIONS, TERMINAL_STATES, TASK_STATES
from octosim.timeutil import ClusterClock, display_completed, display_duration, iso, parse_time

RUNNING_STATES = ('Executing', 'Cancelling')
DEFAULT_TASK_CAP = 5   # a node's task cap when it first registers (REFERENCE section 2: "row added ... with task cap 5")
ACTIVE_STATES = ('Queued', 'Executing', 'Cancelling')
EPSILON = 1e-3   # seconds: the resolution of the simulation (timestamps have milliseconds)
NODE_ID_PREFIX = 'OctopusServerNodes-'


class SimError(Exception):
    """An error with an HTTP status, rendered as an Octopus error body by the API layer."""

    def __init__(self, status, message, errors=None, help_text=None):
        super(SimError, self).__init__(message)
        self.status = status
        self.message = message
        self.errors = list(errors or [])
        self.help_text = help_text


class Node:
    def __init__(self, spec, now, timing):
        self.name = spec['Name']
        self.original_name = spec['Name']
        self.id = spec.get('Id') or NODE_ID_PREFIX + spec['Name']
        self.max_tasks = int(spec.get('MaxConcurrentTasks', 5))
        self.drained = bool(spec.get('IsInMaintenanceMode', False))
        self.version = spec.get('Version')
        self.heartbeat = bool(spec.get('Heartbeat', True))
        self.hb_interval = float(timing['heartbeat_interval'])
        self.poll_interval = float(timing['poll_interval'])
        self.hb_anchor = now if self.heartbeat else None
        ago = spec.get('LastSeenAgo')
        self.static_last_seen = None if ago is None else now - float(ago)
        self.graceful_offline = False
        offset = spec.get('PollOffset')
        if offset is None:
            offset = (zlib.crc32(self.name.upper().encode('utf-8')) % 1000) / 1000.0 * self.poll_interval
        self.poll_offset = float(offset) % self.poll_interval
        self.last_poll = now   # polls at or before creation never happen
        self.last_modified_on = None
        self.last_modified_by = None
        self.max_sql_pool = int(spec.get('MaxSqlConnectionPoolSize', 100))

    def matches(self, ident):
        ident = (ident or '').strip().lower()
        return ident in (self.id.lower(), self.name.lower(), self.original_name.lower())

    def last_seen(self, now):
        if self.heartbeat:
            beats = math.floor((now - self.hb_anchor + EPSILON) / self.hb_interval)
            return self.hb_anchor + max(0, beats) * self.hb_interval
        return self.static_last_seen

    def next_poll(self, not_before):
        """First poll time >= not_before and strictly after the last processed poll."""
        k = math.ceil((not_before - EPSILON - self.poll_offset) / self.poll_interval)
        when = self.poll_offset + k * self.poll_interval
        while when <= self.last_poll + EPSILON:
            when += self.poll_interval
        return when


class Task:
    def __init__(self):
        self.id = None
        self.number = 0
        self.space_id = None
        self.name = 'Deploy'
        self.description = ''
        self.arguments = {}
        self.state = 'Queued'
        self.queue_time = None
        self.start_time = None
        self.completed_time = None
        self.last_updated = None
        self.server_node = None
        self.run_seconds = 60.0
        self.outcome = 'Success'
        self.outcome_error = ''
        self.error_message = ''
        self.pending_interruptions = False
        self.interruption_types = []
        self.project_id = None
        self.has_warnings = False
        self.cancel_requested_at = None
        self.run_from = None            # completion = run_from + run_seconds (start, or when a guided failure was answered)
        self.ends_after_drain = None    # test knob EndsAfterDrain: seconds after its node is drained, the task ends
        self.owner_deleted_at = None    # the owning node was deleted; its running tasks fail at the deleted-node sweep

    def pinned(self):
        """A Queued task that a node already started: it paused (manual intervention) and resumes only on that node."""
        return self.state == 'Queued' and self.server_node is not None


class Cluster:
    """All simulated state. Callers hold ``lock`` and call ``sync()`` before reading or writing."""

    def __init__(self, cfg, speed=None):
        self.cfg = cfg
        self.lock = threading.RLock()
        self.speed_override = speed
        self.reset()

    # ------------------------------------------------------------------ setup
    def reset(self):
        cfg = copy.deepcopy(self.cfg)
        self.timing = cfg['timing']
        self.server = cfg['server']
        start = parse_time(cfg['clock']['start'])
        speed = cfg['clock']['speed'] if self.speed_override is None else self.speed_override
        self.clock = ClusterClock(start, speed)
        self.start_time = start
        self.sim_now = start
        self.maintenance_mode = bool(self.server.get('maintenance_mode', False))
        self.nodes = []
        self.ghosts = []
        for spec in cfg['nodes']:
            self.nodes.append(Node(spec, start, self.timing))
        self.serving_node_name = self.server.get('serving_node') or (self.nodes[0].name if self.nodes else None)
        self.api_keys = {}
        for item in cfg['api_keys']:
            self.api_keys[item['key']] = item
        # Empty: any valid key reads nodes (Issues #2228); a list: one of these permissions (strict mode).
        self.node_read_permissions = list(cfg['permissions'].get('node_read') or [])
        self.license = cfg['license']
        self.server_folders = cfg['server_folders']
        self.spaces = []
        self.machines = []
        self.workers = []
        self.feeds = []
        self.accounts = []
        counters = {'Machines': 0, 'Workers': 0, 'Feeds': 0, 'Accounts': 0}
        for space in cfg['spaces']:
            record = dict((k, v) for k, v in space.items() if k not in ('machines', 'workers', 'feeds', 'accounts'))
            self.spaces.append(record)
            for key, prefix, target in (('machines', 'Machines', self.machines), ('workers', 'Workers', self.workers),
                                        ('feeds', 'Feeds', self.feeds), ('accounts', 'Accounts', self.accounts)):
                for item in space.get(key) or []:
                    counters[prefix] += 1
                    item = dict(item)
                    item.setdefault('Id', '%s-%d' % (prefix, counters[prefix]))
                    item['SpaceId'] = space['Id']
                    target.append(item)
        self.tasks = []
        self.tasks_by_id = {}
        self.next_task_number = int(cfg.get('task_id_start') or 1)
        for spec in cfg['tasks']:
            self.add_task(spec, initial=True)

    # ------------------------------------------------------------------ lookups
    def default_space_id(self):
        for space in self.spaces:
            if space.get('IsDefault'):
                return space['Id']
        return self.spaces[0]['Id'] if self.spaces else None

    def find_space(self, ident):
        ident = (ident or '').lower()
        for space in self.spaces:
            if space['Id'].lower() == ident or str(space.get('Name', '')).lower() == ident:
                return space
        return None

    def node_by_id(self, node_id):
        node_id = (node_id or '').lower()
        for node in self.nodes:
            if node.id.lower() == node_id:
                return node
        return None

    def find_node(self, ident):
        """By Id, current Name or original name (case-insensitive)."""
        for node in self.nodes:
            if node.id.lower() == (ident or '').strip().lower():
                return node
        for node in self.nodes:
            if node.matches(ident):
                return node
        return None

    def task(self, task_id):
        return self.tasks_by_id.get((task_id or '').lower())

    def is_live(self, node):
        return node is not None and node.heartbeat

    def is_offline(self, node, now=None):
        now = self.sim_now if now is None else now
        if node.graceful_offline:
            return True
        seen = node.last_seen(now)
        return seen is None or now - seen > float(self.timing['offline_after'])

    def running_tasks(self, node):
        return [t for t in self.tasks if t.server_node == node.id and t.state in RUNNING_STATES]

    def lb_healthy(self, node):
        return self.is_live(node) and not node.drained and not self.is_offline(node)

    def serving_node(self):
        """The node a request to /api reaches: the configured node if the load balancer sees it healthy
        (ping 200), else the first healthy node; if none is healthy the balancer fails open to any live
        node; None when no node is live."""
        preferred = self.find_node(self.serving_node_name) if self.serving_node_name else None
        ordered = ([preferred] if preferred else []) + [n for n in self.nodes if n is not preferred]
        for check in (self.lb_healthy, self.is_live):
            for node in ordered:
                if check(node):
                    return node
        return None

    def key_info(self, key):
        return self.api_keys.get(key)

    @staticmethod
    def has_permission(key_info, permission):
        perms = key_info.get('permissions') or []
        return ALL_PERMISSIONS in perms or permission in perms

    # ------------------------------------------------------------------ clock
    def now(self):
        return self.sim_now

    def sync(self):
        """Bring the simulation up to the cluster clock, processing events in time order."""
        target = self.clock.now()
        self._run_until(target)
        return self.sim_now

    def advance(self, seconds):
        self.sync()
        self.clock.advance(seconds)
        return self.sync()

    def set_speed(self, speed):
        self.sync()
        self.clock.set_speed(speed)

    def _queue_open(self, task):
        return task.space_id is None or any(s['Id'] == task.space_id and not s.get('TaskQueueStopped') for s in self.spaces)

    def pickable(self, task, node):
        """Whether node takes this task at a poll: unassigned Queued work (only when not drained), or its own paused
        task once the intervention was answered (node affinity, Issues #4846 and #6372)."""
        if task.state != 'Queued' or not self._queue_open(task):
            return False
        if task.server_node is None:
            return not node.drained
        return task.server_node == node.id and not task.pending_interruptions

    def _candidates(self, target):
        events = []
        timing = self.timing
        queued = [t for t in self.tasks if t.state == 'Queued' and self._queue_open(t)]
        for task in self.tasks:
            if task.state not in RUNNING_STATES:
                continue
            owner = self.node_by_id(task.server_node)
            if owner is not None and owner.heartbeat:
                if task.state == 'Executing' and not task.pending_interruptions:
                    events.append(((task.run_from if task.run_from is not None else task.start_time) + task.run_seconds,
                                   0, task.number, 'complete', task))
                elif task.state == 'Cancelling':
                    events.append((task.cancel_requested_at + float(timing['cancel_delay']), 0, task.number, 'cancelled', task))
            elif owner is None and task.owner_deleted_at is not None:
                events.append((task.owner_deleted_at + float(timing['deleted_node_tasks_fail_after']), 1, task.number,
                               'deleted_sweep', task))
            else:
                seen = owner.last_seen(self.sim_now) if owner is not None else None
                if seen is None:
                    seen = task.start_time if task.start_time is not None else task.queue_time
                events.append((seen + float(timing['orphan_after']), 1, task.number, 'orphan', task))
        for ghost in self.ghosts:
            events.append((ghost['at'], 1, 0, 'reregister', ghost))
        if queued:
            for index, node in enumerate(self.nodes):
                if node.heartbeat and not node.graceful_offline and len(self.running_tasks(node)) < node.max_tasks and \
                        any(self.pickable(t, node) for t in queued):
                    events.append((node.next_poll(self.sim_now), 2, index, 'poll', node))
        return [e for e in events if e[0] <= target + EPSILON]

    def _run_until(self, target):
        guard = 0
        while True:
            events = self._candidates(target)
            if not events:
                break
            event = min(events, key=lambda e: (e[0], e[1], e[2]))
            when, dummy, dummy2, kind, obj = event
            when = max(when, self.sim_now)
            self.sim_now = when
            getattr(self, '_on_' + kind)(obj, when)
            guard += 1
            if guard > 1000000:  # pragma: no cover - a bug, not a state
                raise RuntimeError('scheduler did not converge')
        self.sim_now = max(self.sim_now, target)

    def _finish(self, task, state, when, message=''):
        task.state = state
        task.completed_time = when
        task.last_updated = when
        if task.start_time is None and state != 'Canceled':
            task.start_time = when
        task.error_message = message or ''
        task.pending_interruptions = False
        task.interruption_types = []
        task.owner_deleted_at = None

    def _on_complete(self, task, when):
        self._finish(task, task.outcome, when, task.outcome_error if task.outcome != 'Success' else '')

    def _on_cancelled(self, task, when):
        self._finish(task, 'Canceled', when, 'The task was canceled.')

    def _on_orphan(self, task, when):
        self._finish(task, self.timing['orphan_outcome'], when,
                     'The server node %s that was running this task has not been seen for %s seconds; '
                     'the task was abandoned.' % (task.server_node, self.timing['orphan_after']))

    def _on_deleted_sweep(self, task, when):
        task.owner_deleted_at = None
        self._finish(task, 'Failed', when, 'The task was running on server node %s, which was deleted.' % task.server_node)

    def _on_reregister(self, ghost, when):
        """A deleted node whose service still runs writes its row again at its next heartbeat, as a new node: undrained,
        default task cap (REFERENCE section 2 leaves this open; on by timing.deleted_live_node_reregisters)."""
        self.ghosts.remove(ghost)
        old = ghost['node']
        if self.find_node(old.name) is None:
            node = Node({'Name': old.name, 'Id': old.id, 'MaxConcurrentTasks': DEFAULT_TASK_CAP, 'IsInMaintenanceMode': False,
                         'Version': old.version, 'PollOffset': old.poll_offset, 'Heartbeat': True}, when, self.timing)
            self.nodes.append(node)

    def _on_poll(self, node, when):
        node.last_poll = when
        free = node.max_tasks - len(self.running_tasks(node))
        queued = sorted((t for t in self.tasks if self.pickable(t, node)), key=lambda t: (t.queue_time, t.number))
        for task in queued:
            if free <= 0:
                break
            task.server_node = node.id
            task.last_updated = when
            if task.pending_interruptions and task.start_time is None:
                # It runs up to its manual intervention and pauses there at once: Queued, pinned, not counted (#4564).
                task.start_time = when
                continue
            task.state = 'Executing'
            task.start_time = task.start_time if task.start_time is not None else when
            task.run_from = when
            free -= 1

    # ------------------------------------------------------------------ mutations
    def add_task(self, spec, initial=False):
        """Add a task from a config/control spec; returns the Task."""
        now = self.sim_now
        task = Task()
        state = spec.get('State') or 'Queued'
        if state not in TASK_STATES:
            raise SimError(400, 'State must be one of %s' % ', '.join(TASK_STATES))
        if spec.get('Id'):
            task.id = spec['Id']
            digits = ''.join(ch for ch in task.id if ch.isdigit())
            task.number = int(digits) if digits else self.next_task_number
            self.next_task_number = max(self.next_task_number, task.number + 1)
        else:
            task.number = self.next_task_number
            task.id = 'ServerTasks-%d' % task.number
            self.next_task_number += 1
        if self.task(task.id) is not None:
            raise SimError(409, 'A task with Id %s already exists.' % task.id)
        task.space_id = spec['SpaceId'] if 'SpaceId' in spec else self.default_space_id()
        if task.space_id is not None and self.find_space(task.space_id) is None:
            raise SimError(400, 'Unknown SpaceId %s' % task.space_id)
        task.name = spec.get('Name') or 'Deploy'
        task.description = spec.get('Description') or task.name
        task.arguments = dict(spec.get('Arguments') or {})
        task.project_id = spec.get('ProjectId')
        task.run_seconds = float(spec.get('Duration', 60) or 0)
        if spec.get('EndsAfterDrain') is not None:
            task.ends_after_drain = float(spec['EndsAfterDrain'])
        task.outcome = spec.get('Outcome') or 'Success'
        if task.outcome not in TERMINAL_STATES:
            raise SimError(400, 'Outcome must be one of %s' % ', '.join(TERMINAL_STATES))
        task.outcome_error = spec.get('OutcomeErrorMessage') or ('The task %s.' % task.outcome.lower()
                                                                 if task.outcome != 'Success' else '')
        task.pending_interruptions = bool(spec.get('HasPendingInterruptions', False))
        task.interruption_types = list(spec.get('PendingInterruptionTypes') or
                                       (['ManualIntervention'] if task.pending_interruptions else []))
        task.has_warnings = bool(spec.get('HasWarningsOrErrors', False))
        owner = None
        if spec.get('ServerNode'):
            owner = self.find_node(spec['ServerNode'])
            if owner is None:
                raise SimError(400, 'Unknown ServerNode %s' % spec['ServerNode'])
        paused = False
        if spec.get('ServerNode') and state == 'Queued' and 'State' not in spec:
            # A task that a node started: running, or (waiting on a manual intervention) paused on that node.
            paused = task.pending_interruptions
            state = 'Queued' if paused else 'Executing'
        if state in RUNNING_STATES and owner is None:
            raise SimError(400, 'A task in state %s needs a ServerNode' % state)
        task.state = state
        if paused:
            task.server_node = owner.id
            task.start_time = now - float(spec.get('StartedAgo', 0) or 0)
            task.queue_time = task.start_time - float(spec.get('QueuedBefore', 0) or 0)
            task.last_updated = now
        elif state == 'Queued':
            task.queue_time = now - float(spec.get('QueuedAgo', 0) or 0)
            task.last_updated = task.queue_time
        elif state in RUNNING_STATES:
            task.server_node = owner.id
            task.start_time = now - float(spec.get('StartedAgo', 0) or 0)
            task.queue_time = task.start_time - float(spec.get('QueuedBefore', 0) or 0)
            task.last_updated = now
            if state == 'Cancelling':
                task.cancel_requested_at = now - float(spec.get('CancelRequestedAgo', 0) or 0)
        else:
            task.server_node = owner.id if owner else None
            task.completed_time = now - float(spec.get('CompletedAgo', 0) or 0)
            task.start_time = task.completed_time - task.run_seconds
            task.queue_time = task.start_time
            if spec.get('QueuedAgo') is not None:
                task.queue_time = min(now - float(spec['QueuedAgo']), task.completed_time)
                task.start_time = max(task.queue_time, task.start_time)
            task.last_updated = task.completed_time
            task.error_message = spec.get('ErrorMessage') or (task.outcome_error if state != 'Success' else '')
        if spec.get('ErrorMessage') and state not in TERMINAL_STATES:
            task.outcome_error = spec['ErrorMessage']
        self.tasks.append(task)
        self.tasks_by_id[task.id.lower()] = task
        if not initial:
            self._run_until(self.sim_now)
        return task

    def cancel_task(self, task):
        """API cancel: Queued -> Canceled now; Executing -> Cancelling; otherwise unchanged."""
        now = self.sim_now
        if task.state == 'Queued':
            self._finish(task, 'Canceled', now, 'The task was canceled.')
        elif task.state == 'Executing':
            task.state = 'Cancelling'
            task.cancel_requested_at = now
            task.last_updated = now
            self._run_until(now)
        return task

    def resume_task(self, task):
        """Answer the task's interruption: a paused task waits for its own node; a guided failure runs again from now."""
        task.pending_interruptions = False
        task.interruption_types = []
        task.last_updated = self.sim_now
        if task.state == 'Executing':
            task.run_from = self.sim_now
        self._run_until(self.sim_now)
        return task

    def finish_task(self, task, state='Success', message=None):
        if state not in TERMINAL_STATES:
            raise SimError(400, 'State must be one of %s' % ', '.join(TERMINAL_STATES))
        self._finish(task, state, self.sim_now, message if message is not None else
                     ('' if state == 'Success' else 'The task was finished as %s by the simulator.' % state))
        return task

    def add_node(self, spec):
        """Control API: add a node, or restart the heartbeat of an existing one."""
        existing = self.find_node(spec.get('Name'))
        if existing is not None:
            self.start_node(existing)
            return existing, False
        name = spec.get('Name')
        if not name or not isinstance(name, str):
            raise SimError(400, 'Name is required')
        for ghost in list(self.ghosts):
            if ghost['node'].matches(name):
                self.ghosts.remove(ghost)
        full = {'MaxConcurrentTasks': 5, 'IsInMaintenanceMode': False, 'Version': self.server['version'], 'Heartbeat': True}
        full.update(dict((k, v) for k, v in spec.items() if v is not None))
        node = Node(full, self.sim_now, self.timing)
        self.nodes.append(node)
        self._run_until(self.sim_now)
        return node, True

    def stop_node(self, node, graceful=False):
        now = self.sim_now
        if node.heartbeat:
            node.static_last_seen = node.last_seen(now)
            node.heartbeat = False
        if graceful:
            node.graceful_offline = True
        return node

    def start_node(self, node):
        """Service (re)start: heartbeat from now; the node gives up the tasks it ran before it stopped."""
        now = self.sim_now
        if node.heartbeat:
            return node
        node.heartbeat = True
        node.hb_anchor = now
        node.graceful_offline = False
        node.last_poll = now
        outcome = self.timing['restart_outcome']
        for task in self.running_tasks(node):
            if task.state == 'Cancelling':
                self._finish(task, 'Canceled', now, 'The task was canceled when server node %s restarted.' % node.name)
            else:
                self._finish(task, outcome, now, 'The server node %s restarted while running this task.' % node.name)
        self._run_until(now)
        return node

    def update_node(self, node, body, user):
        """PUT semantics: the writeable fields come from the body. Missing ones are reset (server.put_missing_fields: reset,
        the OctopusDeploy-Api PR #209 lesson) or kept (keep). A non-string Name is stored as text: it renames the node."""
        if not isinstance(body, dict):
            raise SimError(400, 'No request body was supplied.')
        if body.get('Id') and body['Id'].lower() != node.id.lower():
            raise SimError(400, 'The Id in the body (%s) does not match the Id in the URL (%s).' % (body['Id'], node.id))
        keep = self.server.get('put_missing_fields') == 'keep'
        name = body.get('Name')
        if name is None and keep:
            name = node.name
        if isinstance(name, (int, float)) and not isinstance(name, bool):
            name = str(name)
        if not isinstance(name, str) or not name.strip():
            raise SimError(400, 'There was a problem with your request.', ['Please provide a Name for the node.'])
        tasks = body.get('MaxConcurrentTasks', node.max_tasks if keep else 0)
        if tasks is None:
            tasks = node.max_tasks if keep else 0
        if isinstance(tasks, bool) or not isinstance(tasks, int) or tasks < 0:
            raise SimError(400, 'There was a problem with your request.', ['MaxConcurrentTasks must be a whole number >= 0.'])
        drained = body.get('IsInMaintenanceMode', node.drained if keep else False)
        if drained is None and keep:
            drained = node.drained
        if not isinstance(drained, bool):
            raise SimError(400, 'There was a problem with your request.', ['IsInMaintenanceMode must be true or false.'])
        was_drained = node.drained
        node.name = name
        node.max_tasks = tasks
        node.drained = drained
        if drained and not was_drained:
            self._start_ends_after_drain(node)
        node.last_modified_on = self.sim_now
        node.last_modified_by = user
        self._run_until(self.sim_now)
        return node

    def _start_ends_after_drain(self, node):
        """Test knob: a task added with EndsAfterDrain ends that many seconds after the drain of its node lands, so a
        test orders "drained while it ran" before "it ended" by events, not by the machine's speed."""
        for task in self.running_tasks(node):
            if task.ends_after_drain is not None and task.state == 'Executing':
                task.run_from = self.sim_now
                task.run_seconds = task.ends_after_drain
                task.ends_after_drain = None

    def delete_node(self, node):
        """DELETE: the row goes. Running tasks fail at once, or at the deleted-node sweep
        (timing.deleted_node_tasks_fail_after; Issues #4538, #4304). Paused tasks pinned to the node are stranded (#6372).
        A node whose service still runs re-registers at its next heartbeat when timing.deleted_live_node_reregisters;
        otherwise its heartbeats fail and it stays gone (#5729)."""
        now = self.sim_now
        self.nodes.remove(node)
        delay = float(self.timing.get('deleted_node_tasks_fail_after') or 0)
        for task in self.tasks:
            if task.server_node == node.id and task.state in RUNNING_STATES:
                if delay > 0:
                    task.owner_deleted_at = now
                else:
                    self._finish(task, 'Failed', now, 'The task was running on server node %s, which was deleted.' % node.name)
        if node.heartbeat and self.timing.get('deleted_live_node_reregisters'):
            beats = math.floor((now - node.hb_anchor + EPSILON) / node.hb_interval) + 1
            self.ghosts.append({'node': node, 'at': node.hb_anchor + beats * node.hb_interval})
        return node

    def ghost(self, name):
        """A deleted node whose service still runs (waiting to re-register), by name."""
        for ghost in self.ghosts:
            if ghost['node'].matches(name):
                return ghost
        return None

    def stop_ghost(self, ghost):
        """The service of a deleted node stopped before its next heartbeat: it never comes back."""
        self.ghosts.remove(ghost)

    # ------------------------------------------------------------------ rendering
    def render_node(self, node):
        return {
            'Id': node.id,
            'Name': node.name,
            'MaxConcurrentTasks': node.max_tasks,
            'IsInMaintenanceMode': node.drained,
            'LastModifiedOn': iso(node.last_modified_on),
            'LastModifiedBy': node.last_modified_by,
            'Links': {
                'Self': '/api/octopusservernodes/%s' % node.id,
                'Details': '/api/octopusservernodes/%s/details' % node.id,
            },
        }

    def render_summary_node(self, node):
        return {
            'Id': node.id,
            'Name': node.name,
            'MaxConcurrentTasks': node.max_tasks,
            'IsInMaintenanceMode': node.drained,
            'LastSeen': iso(node.last_seen(self.sim_now)),
            'IsOffline': self.is_offline(node),
            'RunningTaskCount': len(self.running_tasks(node)),
            'Version': node.version,
            'MaxSqlConnectionPoolSize': node.max_sql_pool,
            'RecommendedMaxSqlConnectionPoolSize': 100,
            'LastModifiedOn': iso(node.last_modified_on),
            'LastModifiedBy': node.last_modified_by,
            'Links': {'Node': '/api/octopusservernodes/%s' % node.id},
        }

    def render_ping(self, node):
        return {
            'Id': node.id,
            'Name': node.name,
            'LastSeen': iso(node.last_seen(self.sim_now)),
            'IsOffline': self.is_offline(node),
            'MaxConcurrentTasks': node.max_tasks,
            'IsInMaintenanceMode': node.drained,
            'Version': node.version,
            'Links': {'Self': '/api/octopusservernodes/ping', 'Node': '/api/octopusservernodes/%s' % node.id},
        }

    def ping_ok(self, node):
        return self.is_live(node) and not node.drained and not self.is_offline(node)

    def render_task(self, task):
        now = self.sim_now
        completed = task.state in TERMINAL_STATES
        begin = task.start_time if task.start_time is not None else task.queue_time
        end = task.completed_time if completed else now
        links_base = '/api/tasks/%s' % task.id
        return {
            'Id': task.id,
            'SpaceId': task.space_id,
            'Name': task.name,
            'Description': task.description,
            'Arguments': copy.deepcopy(task.arguments),
            'State': task.state,
            'Completed': display_completed(task.completed_time) if completed else '%s...' % task.state,
            'QueueTime': iso(task.queue_time),
            'QueueTimeExpiry': None,
            'StartTime': iso(task.start_time),
            'LastUpdatedTime': iso(task.last_updated),
            'CompletedTime': iso(task.completed_time),
            'ServerNode': task.server_node,
            'Duration': display_duration((end or now) - (begin or now)),
            'ErrorMessage': task.error_message or '',
            'HasBeenPickedUpByProcessor': task.start_time is not None,
            'IsCompleted': completed,
            'FinishedSuccessfully': task.state == 'Success',
            'HasPendingInterruptions': task.pending_interruptions,
            'PendingInterruptionTypes': list(task.interruption_types),
            'HasPendingPreconditions': False,
            'PendingPreconditionTypes': [],
            'CanRerun': False,
            'HasWarningsOrErrors': task.has_warnings,
            'ProjectId': task.project_id,
            'Links': {
                'Self': links_base,
                'Web': '/app#/tasks/%s' % task.id,
                'Raw': links_base + '/raw',
                'Rerun': '/api/tasks/rerun/%s' % task.id,
                'Cancel': links_base + '/cancel',
                'QueuedBehind': links_base + '/queued-behind{?skip}',
                'Details': links_base + '/details{?verbose,tail}',
                'Artifacts': '/api/artifacts?regarding=%s' % task.id,
                'Interruptions': '/api/interruptions?regarding=%s' % task.id,
            },
        }

    def node_state(self, node):
        """Control-API view of a node: the summary fields plus simulator internals."""
        data = self.render_summary_node(node)
        data.update({
            'Heartbeat': node.heartbeat,
            'Live': self.is_live(node),
            'PingStatus': 200 if self.ping_ok(node) else 418,
            'PollOffset': node.poll_offset,
            'NextPoll': iso(node.next_poll(self.sim_now)),
            'OriginalName': node.original_name,
        })
        return data

    def task_state(self, task):
        data = self.render_task(task)
        data.update({
            'RunSeconds': task.run_seconds,
            'Outcome': task.outcome,
            'CancelRequestedAt': iso(task.cancel_requested_at),
        })
        return data

    def state(self):
        serving = self.serving_node()
        return {
            'clock': {'now': iso(self.sim_now), 'epoch': self.sim_now, 'start': iso(self.start_time), 'speed': self.clock.speed},
            'serving_node': serving.name if serving else None,
            'maintenance_mode': self.maintenance_mode,
            'nodes': [self.node_state(n) for n in self.nodes],
            'tasks': [self.task_state(t) for t in sorted(self.tasks, key=lambda t: t.number)],
            'timing': dict(self.timing),
        }
