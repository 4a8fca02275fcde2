# -*- coding: utf-8 -*-

# Copyright: Contributors to the octopus.ha collection
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

"""In-process world for the removal state machine (test_scale_in_machine.py): no sockets, no real time.

- ``InProcessOctopus`` (octosim.testing) serves the simulated API to ``OctopusClient`` through its
  ``open_url``; its cluster clock is frozen and moves only when someone sleeps or a latency fault fires.
- ``Interleaver`` runs several removals "at once", deterministically: each removal is a thread that
  must take a turn before every HTTP request, and the test's random source picks whose turn it is.
  Only one thread runs at a time, so an example replays exactly.
- ``Removal`` is the node_remove role's flow over the module logic (NodeStep + drive), in process:
  preflight (check mode), drain and wait, stop the service (or not), delete (delete_online only when
  the stop was verified), as roles/node_remove does. It can be interrupted after N requests.
- ``Watcher`` sees every request before it reaches the simulator and records what the invariants need.
"""

from __future__ import absolute_import, division, print_function
__metaclass__ = type

import json
import random
import re
import threading

from ansible_collections.octopus.ha.plugins.module_utils._octopus_api import OctopusClient
from ansible_collections.octopus.ha.plugins.module_utils._octopus_drain import NodeStep, drive
from ansible_collections.octopus.ha.plugins.module_utils._octopus_tasks import Timer

from octosim.testing import ADMIN_KEY

NODE_PATH = re.compile(r'/api/octopusservernodes/(?P<id>[^/?]+)$')
CANCEL_PATH = re.compile(r'/api/(?:[^/]+/)?tasks/(?P<id>[^/?]+)/cancel$')
TURN_TIMEOUT = 60.0  # real seconds a thread may wait for its turn before the test calls it a deadlock


class Interrupted(BaseException):
    """Raised inside a removal at its Nth request: the controller was killed (Ctrl-C, CI timeout)."""


class Interleaver:
    """One thread at a time, switching only at HTTP requests, in an order drawn from rng."""

    def __init__(self, rng):
        self.rng = rng
        self.cond = threading.Condition()
        self.turn = None
        self.waiting = set()
        self.finished = set()
        self.errors = []

    def gate(self, name):
        """Called by a removal before each request: wait until the scheduler gives it the turn."""
        with self.cond:
            self.waiting.add(name)
            self.cond.notify_all()
            if not self.cond.wait_for(lambda: self.turn == name, TURN_TIMEOUT):
                raise AssertionError('removal %s never got its turn (scheduler deadlock)' % name)
            self.turn = None
            self.waiting.discard(name)

    def run(self, actors):
        """actors: {name: callable}; runs them to the end with interleaved requests; re-raises their errors."""
        threads = []
        for name, body in sorted(actors.items()):
            thread = threading.Thread(target=self._body, args=(name, body), name='removal-%s' % name, daemon=True)
            threads.append(thread)
        for thread in threads:
            thread.start()
        names = set(actors)
        while True:
            with self.cond:
                ready = self.cond.wait_for(lambda: self.turn is None and self.waiting | self.finished >= names, TURN_TIMEOUT)
                if not ready:
                    raise AssertionError('a removal neither finished nor asked for a turn within %ss' % TURN_TIMEOUT)
                if self.finished >= names:
                    break
                self.turn = self.rng.choice(sorted(self.waiting))
                self.cond.notify_all()
        for thread in threads:
            thread.join(TURN_TIMEOUT)
        if self.errors:
            raise self.errors[0]

    def _body(self, name, body):
        try:
            self.gate(name)
            body()
        except BaseException as exc:  # pylint: disable=broad-except
            self.errors.append(exc)
        finally:
            with self.cond:
                self.finished.add(name)
                self.cond.notify_all()


class Watcher:
    """Sees each request before the simulator does; records the facts the invariants check."""

    def __init__(self, octo):
        self.octo = octo
        self.cluster = octo.simulator.cluster
        self.deletes = []    # dicts: actor, node, executing, pinned, live, forced
        self.cancels = []    # dicts: actor, task, allowed (why or None)

    def before(self, removal, method, path):
        cluster = self.cluster
        with cluster.lock:
            cluster.sync()
            node_match = NODE_PATH.search(path)
            if method == 'DELETE' and node_match:
                node = cluster.node_by_id(node_match.group('id'))
                if node is not None:
                    tasks = [t for t in cluster.tasks if t.server_node == node.id]
                    self.deletes.append(dict(
                        actor=removal.name, node=node.name, forced=removal.options['force'],
                        primitive=removal.options.get('primitive', False),
                        executing=[t.id for t in tasks if t.state == 'Executing'],
                        pinned=[t.id for t in tasks if t.pinned()],
                        live=node.heartbeat and not cluster.is_offline(node)))
            cancel_match = CANCEL_PATH.search(path)
            if method == 'POST' and cancel_match:
                task = cluster.task(cancel_match.group('id'))
                if task is not None and task.state in ('Executing', 'Queued'):
                    self.cancels.append(dict(actor=removal.name, task=task.id, why=removal.cancel_allowed(task)))


class Removal:
    """The node_remove role's flow, in process, for one node (see the module docstring)."""

    def __init__(self, world, name, node, options):
        self.world = world
        self.name = name
        self.node = node
        self.options = dict(options)
        self.started_at = None
        self.requests = 0
        self.interrupt_after = None
        self.results = []
        self.outcome = None       # 'done', 'failed', 'interrupted'
        self.mutations = 0
        self.service_stopped = False

    # -- what the module calls ------------------------------------------------------------
    def open_url(self, url, data=None, headers=None, method=None, **kwargs):
        method = method or 'GET'
        self.requests += 1
        if self.interrupt_after is not None and self.requests > self.interrupt_after:
            raise Interrupted()
        if self.world.interleaver is not None:
            self.world.interleaver.gate(self.name)
        path = url.split('://', 1)[-1].split('/', 1)[-1].split('?', 1)[0]
        self.world.watcher.before(self, method, '/' + path)
        return self.world.octo.open_url(url, data=data, headers=headers, method=method, **kwargs)

    def client(self):
        octo = self.world.octo
        return OctopusClient(octo.url, ADMIN_KEY, open_url=self.open_url, sleep=octo.sleep, clock=octo.monotonic,
                             wallclock=octo.wallclock, rng=random.Random(self.world.seed).random,
                             timeout=30, request_deadline=60, max_retries=3)

    def params(self, **overrides):
        opts = self.options
        params = dict(name=self.node, id=None, state='absent', max_concurrent_tasks=None, drained=None, wait=True,
                      drain_timeout=opts['drain_timeout'], poll_interval=5, max_poll_interval=30,
                      cancel_on_timeout=opts['cancel_on_timeout'], pending_interruptions=opts['pending_interruptions'],
                      cancel_timeout=60, force=opts['force'], min_task_nodes=opts['min_task_nodes'], min_task_capacity=0,
                      offline_grace=opts['offline_grace'], delete_online=True, reregistration_watch=30, reason='machine',
                      _step=None)
        params.update(overrides)
        return params

    def cancel_allowed(self, task):
        """Why this removal may cancel the task now (None: it may not)."""
        cluster = self.world.octo.simulator.cluster
        owner = cluster.node_by_id(task.server_node) if task.server_node else None
        if owner is not None and cluster.is_offline(owner):
            seen = owner.last_seen(cluster.sim_now)
            if seen is None or cluster.sim_now - seen >= self.options['offline_grace']:
                return 'orphan of a gone node'
        if self.options['pending_interruptions'] == 'cancel' and task.pending_interruptions:
            return 'pending_interruptions=cancel'
        if self.options['force'] and task.state == 'Queued':
            return 'force (a paused task is not left stranded)'
        if self.options['cancel_on_timeout'] and cluster.sim_now - self.started_at >= self.options['drain_timeout']:
            return 'cancel_on_timeout after drain_timeout'
        return None

    # -- the role's flow ------------------------------------------------------------------
    def _drive(self, check_mode=False, **overrides):
        client = self.client()
        params = self.params(**overrides)
        timer = Timer(self.world.octo.monotonic, self.world.octo.sleep)
        result = drive(NodeStep(client, params, timer, check_mode=check_mode).run, params, timer)
        self.mutations += client.mutating_requests_sent
        self.results.append((overrides, check_mode, result))
        if self.world.octo_key in json.dumps(result):
            raise AssertionError('the API key leaked into a result: %s' % result)
        return result

    def run(self):
        self.started_at = self.world.octo.clock_now()
        self.mutations = 0
        try:
            if self.options.get('primitive'):
                # The module as a primitive (octopus_node state=absent), without the role's service rule.
                removed = self._drive()
                self.outcome = 'failed' if removed.get('failed') else 'done'
                return
            preflight = self._drive(check_mode=True, wait=True)
            if preflight.get('failed') or not preflight.get('before'):
                self.outcome = 'failed' if preflight.get('failed') else 'done'
                return
            drained = self._drive(state='drained')
            if drained.get('failed') and not self.options['force']:
                self.outcome = 'failed'
                return
            if self.options['stop_service']:
                self.world.stop_service(self.node)
                self.service_stopped = True
            removed = self._drive(delete_online=self.service_stopped)
            self.outcome = 'failed' if removed.get('failed') else 'done'
        except Interrupted:
            self.outcome = 'interrupted'


class World:
    """The simulator, the watcher and the interleaver of one example."""

    def __init__(self, octo, seed):
        self.octo = octo
        self.octo_key = ADMIN_KEY
        self.seed = seed
        self.watcher = Watcher(octo)
        self.interleaver = None

    def stop_service(self, name):
        cluster = self.octo.simulator.cluster
        with cluster.lock:
            cluster.sync()
            node = cluster.find_node(name)
            if node is not None:
                cluster.stop_node(node)

    def run_together(self, removals, rng):
        if len(removals) == 1:
            self.interleaver = None
            removals[0].run()
            return
        self.interleaver = Interleaver(rng)
        try:
            self.interleaver.run(dict((r.name, r.run) for r in removals))
        finally:
            self.interleaver = None
