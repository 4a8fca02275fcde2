# -*- coding: utf-8 -*-

# Copyright: Contributors to the octopus.ha collection
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

"""A thin, fast runner for the octopus.ha modules against the simulator, plus request-log helpers.

The module's own ``main()`` runs unchanged in a forked child process (fork is cheap because the
module and ansible are already imported here): the child gets its arguments through
``patch_module_args``, its stdout is captured, and the JSON it prints is the result. So the whole
module (argument spec, client, retries, guard, polling) runs against the real simulator over HTTP,
without the cost of an ansible-playbook process.

With ``virtual_time=True`` the child's ``time.monotonic``/``time.sleep`` are replaced by a clock
that is the simulator's: a sleep of N seconds advances the (frozen, speed 0) cluster clock by N
through the control API and returns at once. Polls, deadlines and retry back-off then happen
in simulated time, deterministically and without real waiting. The only other change in the
child: the system CA store is loaded once (in the parent) instead of once per request.
"""

from __future__ import absolute_import, division, print_function
__metaclass__ = type

import contextlib
import importlib
import io
import json
import os
import re
import ssl
import time
import traceback

from octosim.testing import http_request

MUTATING = ('PUT', 'POST', 'DELETE')
REPO = os.path.abspath(os.path.join(os.path.dirname(os.path.abspath(__file__)), '..', '..', '..'))
FAKE_WINDOWS = os.path.join(REPO, 'tests', 'fake_windows')
TARGET = 'OCTO-NODE-03'
TARGET_ID = 'OctopusServerNodes-' + TARGET


class VirtualTime:
    """time.monotonic/time.sleep driven by (and driving) the simulator's frozen cluster clock."""

    def __init__(self, control_url):
        self.control_url = control_url.rstrip('/')
        self.now = 1000.0
        self.slept = []

    def monotonic(self):
        return self.now

    def sleep(self, seconds):
        seconds = max(0.0, float(seconds))
        self.slept.append(seconds)
        self.now += seconds
        if seconds:
            http_request(self.control_url + '/_sim/clock', 'POST', {'advance': seconds})


_CACHED_CONTEXT = {}


def _cached_default_context(purpose=ssl.Purpose.SERVER_AUTH, cafile=None, capath=None, cadata=None):
    """ssl.create_default_context for the system store, built once in the parent (loading the CA
    store costs ~70 ms, and ansible's open_url builds a new context for every request)."""
    if cafile or capath or cadata or purpose != ssl.Purpose.SERVER_AUTH:
        return _ORIGINAL_CREATE_DEFAULT_CONTEXT(purpose, cafile=cafile, capath=capath, cadata=cadata)
    if 'default' not in _CACHED_CONTEXT:
        _CACHED_CONTEXT['default'] = _ORIGINAL_CREATE_DEFAULT_CONTEXT()
    return _CACHED_CONTEXT['default']


_ORIGINAL_CREATE_DEFAULT_CONTEXT = ssl.create_default_context


def _module_mode(ansible_warnings):
    """Run the module as on a managed host: its warnings go into its result, not to the controller's Display.

    ansible-core 2.19 sends module warnings to Display once controller code was imported in the process (another
    test in the same pytest worker may have done so), and de-duplicates them process-wide.
    """
    try:
        from ansible.module_utils import _internal  # ansible-core 2.19+
        _internal.is_controller = False
    except ImportError:  # pragma: no cover - older ansible-core
        pass
    ansible_warnings._global_warnings = type(ansible_warnings._global_warnings)()  # pylint: disable=protected-access
    ansible_warnings._global_deprecations = type(ansible_warnings._global_deprecations)()  # pylint: disable=protected-access


def _child(module_name, args, sim_url, virtual_time, write_fd):
    out = io.StringIO()
    try:
        from ansible.module_utils.testing import patch_module_args
        from ansible.module_utils.common import warnings as ansible_warnings
        _module_mode(ansible_warnings)
        ssl.create_default_context = _cached_default_context
        if virtual_time:
            clock = VirtualTime(sim_url)
            time.monotonic = clock.monotonic
            time.sleep = clock.sleep
        module = importlib.import_module('ansible_collections.octopus.ha.plugins.modules.%s' % module_name)
        with patch_module_args(args), contextlib.redirect_stdout(out):
            try:
                module.main()
            except SystemExit:
                pass
        text = out.getvalue()
    except BaseException:  # pylint: disable=broad-except
        text = json.dumps({'failed': True, 'runner_error': traceback.format_exc(), 'stdout': out.getvalue()})
    data = text.encode('utf-8')
    while data:
        written = os.write(write_fd, data)
        data = data[written:]
    os.close(write_fd)


class ModuleRun:
    """A module run in a forked child; result() waits for it and returns the parsed result dict."""

    def __init__(self, module_name, args, sim_url=None, virtual_time=False):
        # Import in the parent so that every forked child starts warm.
        importlib.import_module('ansible_collections.octopus.ha.plugins.modules.%s' % module_name)
        importlib.import_module('ansible.module_utils.testing')
        _cached_default_context()
        read_fd, write_fd = os.pipe()
        pid = os.fork()
        if pid == 0:  # pragma: no cover - the child
            os.close(read_fd)
            try:
                _child(module_name, args, sim_url, virtual_time, write_fd)
            finally:
                os._exit(0)  # pylint: disable=protected-access
        os.close(write_fd)
        self.pid = pid
        self.read_fd = read_fd
        self.args = args
        self._result = None

    def result(self):
        if self._result is None:
            chunks = []
            while True:
                chunk = os.read(self.read_fd, 65536)
                if not chunk:
                    break
                chunks.append(chunk)
            os.close(self.read_fd)
            os.waitpid(self.pid, 0)
            text = b''.join(chunks).decode('utf-8', 'replace')
            self._result = parse_module_output(text)
        return self._result


def parse_module_output(text):
    start = text.find('{')
    if start < 0:
        return {'failed': True, 'msg': 'no JSON in module output', 'stdout': text}
    try:
        return json.JSONDecoder().raw_decode(text[start:])[0]
    except ValueError:
        return {'failed': True, 'msg': 'unparseable module output', 'stdout': text}


def run_module(module_name, args, sim_url=None, virtual_time=False):
    return ModuleRun(module_name, args, sim_url=sim_url, virtual_time=virtual_time).result()


# --------------------------------------------------------------------------- request log helpers
def api_entries(log):
    return [e for e in log if '/api' in str(e.get('path', ''))]


def mutating(log):
    return [e for e in api_entries(log) if e.get('method') in MUTATING]


def succeeded_mutations(log):
    """Mutating requests the server applied and answered with a success status."""
    return [e for e in mutating(log) if isinstance(e.get('status'), int) and e['status'] < 300 and e.get('applied', True)]


def by_method(log, method, path_re=None):
    return [e for e in api_entries(log) if e.get('method') == method and (path_re is None or re.search(path_re, e['path']))]


def cluster(nodes=('OCTO-NODE-01', 'OCTO-NODE-02', TARGET), speed=None, tasks=(), **extra):
    """A simulator config: nodes given as names or dicts, tasks as control-API specs."""
    config = {'nodes': [n if isinstance(n, dict) else {'Name': n} for n in nodes], 'tasks': list(tasks),
              'license': {'node_limit': None}}
    if speed is not None:
        config['clock'] = {'speed': speed}
    config.update(extra)
    return config


def requests_since(sim, seq=0):
    return api_entries(sim.control.requests(since=seq) if seq else sim.control.requests())


def node_names(sim):
    return [n['Name'] for n in sim.control.state()['nodes']]


def task_states(sim):
    return dict((t['Id'], t['State']) for t in sim.control.state()['tasks'])


class FinishAfterDrain:
    """Ends a task only when the test says so: as soon as the drain PUT of ``node`` is in the request log.

    The simulator's clock is frozen (speed 0), so the task can only end this way. The ordering
    "drained while the task ran, deleted only after it ended" then holds by construction, on a fast
    or a slow machine, and an assertion on it cannot pass vacuously. Use as a context manager around
    a blocking playbook run; ``released`` tells whether the drain was seen.
    """

    def __init__(self, sim, task_id, node=TARGET, state='Success', poll=0.05, limit=600):
        import threading
        self.sim = sim
        self.task_id = task_id
        self.node_id = 'OctopusServerNodes-' + node
        self.state = state
        self.poll = poll
        self.limit = limit
        self.released = False
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self._watch, name='finish-after-drain', daemon=True)

    def drained(self):
        for entry in by_method(self.sim.control.requests(), 'PUT', '/' + re.escape(self.node_id) + '$'):
            body = entry.get('body') or {}
            if body.get('IsInMaintenanceMode') and entry.get('applied'):
                return True
        return False

    def _watch(self):
        deadline = time.monotonic() + self.limit   # a bound against a hang, not a timing
        while not self.stop.is_set() and time.monotonic() < deadline:
            if self.drained():
                # One second later on the frozen clock, so that cluster times in the log order the drain before the end.
                self.sim.control.advance(1)
                self.sim.control.finish_task(self.task_id, self.state)
                self.released = True
                return
            self.stop.wait(self.poll)

    def __enter__(self):
        self.thread.start()
        return self

    def __exit__(self, *exc):
        self.stop.set()
        self.thread.join(10)
        return False


def node_state(sim, name=TARGET):
    """The simulator's view of one node, or None when its record is gone."""
    found = [n for n in sim.control.state()['nodes'] if n['Name'] == name]
    return found[0] if found else None


def record_kept(sim, name=TARGET):
    """The record is there, drained, with task cap 0 (what node_remove leaves when it cannot stop the service)."""
    node = node_state(sim, name)
    return node is not None and node['IsInMaintenanceMode'] is True and node['MaxConcurrentTasks'] == 0
