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


def _child(module_name, args, sim_url, virtual_time, write_fd):
    out = io.StringIO()
    try:
        from ansible.module_utils.testing import patch_module_args
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
