# -*- coding: utf-8 -*-

# Copyright: Contributors to the octopus.ha collection
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function
__metaclass__ = type

DOCUMENTATION = r"""
---
short_description: Poll an Octopus Deploy HA cluster and emit its task queue and node facts.
description:
  - Every O(interval) seconds, reads the cluster summary and the task queue over all spaces and system tasks, through
    the collection's Octopus API layer (the same client as the modules: TLS validated by default, per-request timeouts,
    bounded retries with backoff and C(Retry-After), errors as sentences without the API key).
  - Emits one event per poll. A C(kind=facts) event carries the cluster facts (C(cluster)), the per-node task slots
    (C(nodes)) and the last O(history) polls (C(history), oldest first), which the scaling decisions of the
    collection use. The facts are those of M(octopus.ha.octopus_cluster_info) RV(queue); a fact that cannot be read is
    V(null).
  - When the server is unreachable, answers 5xx or rejects the key, it emits a C(kind=error) event (with the error
    sentence and the number of consecutive failures), waits longer before the next poll (the interval doubled per
    failure, at most O(error_backoff_max) seconds), and goes on. A failed poll is in the history too, so no decision is
    taken from facts that could not be read.
  - C(polled_at) is the server's clock (the C(Date) of its answers) in epoch seconds, or the controller's when the
    server sends none (C(clock_source)); C(observed_at) is the controller's clock when the poll finished.
  - No option value, in particular not the API key, is ever put in an event or a log line.
options:
  url:
    description:
      - Base URL of the Octopus Server. Defaults to the E(OCTOPUS_URL) environment variable.
      - Empty strings count as unset for every option, so a rulebook can pass C("{{ var | default('') }}").
    type: str
  api_key:
    description:
      - API key of the service account (read permissions on server nodes and tasks are enough).
      - Defaults to the E(OCTOPUS_API_KEY) environment variable, which keeps the key out of rulebook variables.
    type: str
  validate_certs:
    description: Whether to validate the server's TLS certificate.
    type: bool
    default: true
  ca_path:
    description: PEM bundle of the certificate authorities that may sign the server certificate.
    type: str
  timeout:
    description: Timeout in seconds of one HTTP request.
    type: int
    default: 10
  request_deadline:
    description: Time budget in seconds of one API call, retries included.
    type: int
    default: 30
  max_retries:
    description: Retries of one API call after connection errors, timeouts and HTTP 429, 502, 503 or 504.
    type: int
    default: 2
  interval:
    description: Seconds from the start of one poll to the start of the next (when it succeeded).
    type: float
    default: 30
  history:
    description:
      - Number of polls kept in C(history). Must be at least the largest number of polls a scaling rule needs.
    type: int
    default: 20
  error_backoff_max:
    description: The longest wait in seconds between two polls after consecutive failures.
    type: float
    default: 300
  max_events:
    description: Stop after this many events (for tests and one-shot runs). 0 means run forever.
    type: int
    default: 0
"""

EXAMPLES = r"""
- name: Octopus-aware autoscaling
  hosts: all
  sources:
    - octopus.ha.octopus_cluster:
        url: https://octopus.example.com
        interval: 30
  rules:
    - name: Act on each poll
      condition: event.kind is defined
      action:
        run_playbook:
          name: octopus.ha.eda_autoscaling
"""

import asyncio
import collections
import importlib
import importlib.util
import json
import logging
import os
import sys
import time

LOGGER = logging.getLogger(__name__)
ENV_URL = 'OCTOPUS_URL'
ENV_KEY = 'OCTOPUS_API_KEY'
# The collection tree root: .../ansible_collections/octopus/ha/extensions/eda/plugins/event_source/<this file>.
_TREE_LEVELS = 7


def _import_layer():
    """The collection's API layer. ansible-rulebook runs this file with runpy, outside Ansible's collection loader,
    so when the collection is not importable yet, the tree this file is installed in is put on sys.path."""
    try:
        found = importlib.util.find_spec('ansible_collections.octopus.ha.plugins.module_utils._octopus_api') is not None
    except ImportError:
        found = False
    if not found:
        here = os.path.dirname(os.path.abspath(globals().get('__file__') or '.'))
        sys.path.insert(0, os.path.abspath(os.path.join(here, *(['..'] * _TREE_LEVELS))))
    names = ('_octopus_api', '_octopus_autoscaling', '_octopus_cluster', '_octopus_queue')
    return tuple(importlib.import_module('ansible_collections.octopus.ha.plugins.module_utils.' + n) for n in names)


API, AUTO, CLUSTER, QUEUE = _import_layer()


def _option(args, name, default, kind):
    value = args.get(name)
    if value in (None, ''):
        return default
    if kind is bool:
        if isinstance(value, bool):
            return value
        text = str(value).strip().lower()
        if text in ('1', 'true', 'yes', 'on'):
            return True
        if text in ('0', 'false', 'no', 'off'):
            return False
        raise ValueError('octopus.ha.octopus_cluster: %s must be true or false, got %r.' % (name, value))
    try:
        return kind(value)
    except (TypeError, ValueError):
        raise ValueError('octopus.ha.octopus_cluster: %s must be a number, got %r.' % (name, value))


def client_from_args(args, env=None, **hooks):
    """An OctopusClient from the source arguments (environment fallbacks for url and api_key). Raises ValueError."""
    env = os.environ if env is None else env
    url = args.get('url') or env.get(ENV_URL)
    key = args.get('api_key') or env.get(ENV_KEY)
    if not url:
        raise ValueError('octopus.ha.octopus_cluster needs the Octopus url: set the url argument or %s.' % ENV_URL)
    if not key:
        raise ValueError('octopus.ha.octopus_cluster needs an API key: set %s in its environment (or the api_key argument).'
                         % ENV_KEY)
    return API.OctopusClient(url, key, validate_certs=_option(args, 'validate_certs', True, bool),
                             ca_path=args.get('ca_path') or None, timeout=_option(args, 'timeout', 10, int),
                             request_deadline=_option(args, 'request_deadline', 30, int),
                             max_retries=_option(args, 'max_retries', 2, int), warn=LOGGER.warning, **hooks)


async def _in_thread(function):
    return await asyncio.get_running_loop().run_in_executor(None, function)


class ClusterWatcher:
    """Polls the cluster and builds the events. Clock, sleep and the blocking-call offload are injectable for tests."""

    def __init__(self, args, client=None, clock=time.monotonic, wallclock=time.time, sleep=asyncio.sleep, offload=_in_thread):
        self.interval = _option(args, 'interval', 30.0, float)
        self.backoff_max = _option(args, 'error_backoff_max', 300.0, float)
        self.max_events = _option(args, 'max_events', 0, int)
        size = _option(args, 'history', 20, int)
        if self.interval <= 0 or size < 1 or self.backoff_max < 0 or self.max_events < 0:
            raise ValueError('octopus.ha.octopus_cluster: interval must be above 0, history at least 1, error_backoff_max and '
                             'max_events at least 0.')
        self.client = client or client_from_args(args)
        self.clock, self.wallclock, self.sleep, self.offload = clock, wallclock, sleep, offload
        self.history = collections.deque(maxlen=size)
        self.polls = 0
        self.failures = 0
        self.emitted = 0

    # ---- one poll (blocking: runs in a worker thread) -----------------------------------

    def read(self):
        """(queue reading, warnings) or raises OctopusApiError when the server is failing."""
        warnings = []
        try:
            nodes = [QUEUE.summary_node_facts(n) for n in CLUSTER.cluster_summary(self.client)]
        except API.OctopusApiError as err:
            if err.status not in (403, 404):
                raise
            nodes = None
            warnings.append(str(err))
        reading = QUEUE.read_queue(self.client, nodes)
        trouble = reading.server_trouble()
        if trouble is not None:
            raise trouble
        warnings.extend(str(e) for e in reading.errors)
        return reading, warnings

    def poll_once(self):
        self.polls += 1
        try:
            reading, warnings = self.read()
        except API.OctopusApiError as err:
            return self._error_event(str(err), err.status, err.path)
        except Exception as err:  # pylint: disable=broad-except
            LOGGER.exception('octopus.ha.octopus_cluster: poll %d failed unexpectedly', self.polls)
            return self._error_event('Could not poll the Octopus cluster: %s: %s' % (type(err).__name__, err), None, None)
        self.failures = 0
        observed = self.wallclock()
        polled_at = reading.server_epoch if reading.server_epoch is not None else observed
        cluster = dict(reading.facts, node_count=None if reading.nodes is None else len(reading.nodes))
        self.history.append(AUTO.history_entry(self.polls, True, polled_at, observed, cluster))
        for text in warnings:
            LOGGER.warning('octopus.ha.octopus_cluster: %s', text)
        return dict(kind='facts', poll=self.polls, observed_at=observed, polled_at=polled_at,
                    clock_source='server' if reading.server_epoch is not None else 'controller',
                    octopus_url=self.client.base_url, interval=self.interval, next_poll_in=self.interval,
                    cluster=cluster, nodes=reading.nodes, warnings=warnings, history=list(self.history))

    def _error_event(self, message, status, path):
        self.failures += 1
        delay = max(self.interval, min(self.backoff_max, self.interval * 2 ** self.failures))
        observed = self.wallclock()
        self.history.append(AUTO.history_entry(self.polls, False, None, observed, error=message))
        LOGGER.warning('octopus.ha.octopus_cluster: poll %d failed (%d in a row), next poll in %.0f s: %s',
                       self.polls, self.failures, delay, message)
        return dict(kind='error', poll=self.polls, observed_at=observed, polled_at=None, clock_source=None,
                    octopus_url=self.client.base_url, interval=self.interval, next_poll_in=delay,
                    error=dict(message=message, status=status, path=path), consecutive_failures=self.failures,
                    history=list(self.history))

    # ---- the loop ------------------------------------------------------------------------

    async def run(self, queue):
        LOGGER.info('octopus.ha.octopus_cluster: polling %s every %.0f s', self.client.base_url, self.interval)
        while True:
            started = self.clock()
            event = await self.offload(self.poll_once)
            await queue.put(event)
            self.emitted += 1
            if self.max_events and self.emitted >= self.max_events:
                LOGGER.info('octopus.ha.octopus_cluster: max_events reached, stopping')
                return self.emitted
            await self.sleep(max(0.0, started + event['next_poll_in'] - self.clock()))


async def main(queue, args):
    """Entry point called by ansible-rulebook."""
    watcher = ClusterWatcher(args)
    await watcher.run(queue)


if __name__ == '__main__':

    class _PrintQueue:
        async def put(self, event):
            print(json.dumps(event, indent=2))

    asyncio.run(main(_PrintQueue(), {'max_events': 1}))
