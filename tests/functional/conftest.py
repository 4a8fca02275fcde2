# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# Copyright: Contributors to the octopus.ha collection
"""Shared fixtures of the functional suites: a simulator and an ansible-playbook runner.

Fixtures
  simulator_factory  start(config=None, speed=0, tls=False, **kwargs) -> a started octosim SimulatorProcess;
                     every simulator it started is stopped after the test
  simulator          one started simulator; its config comes from @pytest.mark.simulator(config, speed=0, tls=False)
                     or defaults to DEFAULT_CLUSTER (three online nodes). .url, .control, .ca_path, .request()
  octopus_env        octopus_env(sim, api_key=ADMIN_KEY) -> {'OCTOPUS_URL': ..., 'OCTOPUS_API_KEY': ...}
  run_playbook       run_playbook(playbook, extra_vars=None, env=None, verbosity=0, check=False, diff=False,
                     inventory=None, timeout=300, args=(), background=False) -> PlaybookRun, or with
                     background=True a StartedPlaybook (.wait() -> PlaybookRun, .kill()); the one runner is
                     tests/functional/playbook_runner.py
                     playbook: YAML text, a path, or a collection playbook name such as octopus.ha.scale_in.
                     Runs `ansible-playbook` as a subprocess against localhost (connection local, the venv
                     python) with the default stdout callback; a test-only callback writes every task result
                     to JSON, available as PlaybookRun.results.

PlaybookRun: rc, stdout, stderr, results (list of {host, task, action, status, result}), stats,
  task(name, host=None) -> the last result dict of that task, output (stdout + stderr), explain() for
  assertion messages. It unpacks as `rc, stdout, stderr, results = run_playbook(...)`.
"""

from __future__ import absolute_import, division, print_function
__metaclass__ = type

import os
import sys

import pytest

from octosim.testing import ADMIN_KEY, SimulatorProcess

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import playbook_runner  # noqa: E402  pylint: disable=wrong-import-position

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

DEFAULT_CLUSTER = {
    'server': {'version': '2023.4.8319'},
    'nodes': [{'Name': 'OCTO-NODE-01'}, {'Name': 'OCTO-NODE-02'}, {'Name': 'OCTO-NODE-03'}],
}


# The results callback is written to a temporary directory at session start (not a plugin of the collection).
@pytest.fixture(scope='session')
def _callback_dir(tmp_path_factory):
    return playbook_runner.callback_dir(tmp_path_factory.mktemp('callback_plugins'))


@pytest.fixture
def run_playbook(tmp_path, _callback_dir):
    """Run ansible-playbook against localhost (tests/functional/playbook_runner.py); see the module docstring."""

    def run(playbook, extra_vars=None, env=None, verbosity=0, check=False, diff=False, inventory=None, timeout=300, args=(),
            background=False):
        runner = playbook_runner.start if background else playbook_runner.run
        return runner(playbook, tmp_path, extra_vars=extra_vars, env=env, verbosity=verbosity, check=check, diff=diff,
                      inventory=inventory, timeout=timeout, args=args, callbacks=_callback_dir)

    return run


@pytest.fixture
def simulator_factory():
    """start(config=None, speed=0, tls=False, **kwargs) -> started SimulatorProcess; all stopped after the test."""
    started = []

    def start(config=None, speed=0, tls=False, **kwargs):
        sim = SimulatorProcess(config if config is not None else DEFAULT_CLUSTER, speed=speed, tls=tls, **kwargs)
        started.append(sim)
        return sim.start()

    yield start
    for sim in started:
        sim.stop()


@pytest.fixture
def simulator(request, simulator_factory):
    """A started simulator; configure with @pytest.mark.simulator(config, speed=0, tls=False)."""
    marker = request.node.get_closest_marker('simulator')
    args = tuple(marker.args) if marker else ()
    kwargs = dict(marker.kwargs) if marker else {}
    return simulator_factory(*args, **kwargs)


@pytest.fixture
def octopus_env():
    """octopus_env(sim, api_key=ADMIN_KEY) -> the connection environment variables for a simulator."""
    def make(sim, api_key=ADMIN_KEY):
        return {'OCTOPUS_URL': sim.url, 'OCTOPUS_API_KEY': api_key}
    return make


def pytest_configure(config):
    config.addinivalue_line('markers', 'simulator(config=None, speed=0, tls=False): configuration of the simulator fixture')
    config.addinivalue_line('markers', 'heavy: a long end-to-end test, started first so that it does not end the run alone')


def pytest_collection_modifyitems(session, config, items):
    """Heavy tests first (stable: each module keeps its order). pytest-xdist hands out work in this order, so the
    long end-to-end runs start while the short tests fill the other workers, instead of ending the run alone."""
    items.sort(key=lambda item: item.get_closest_marker('heavy') is None)
