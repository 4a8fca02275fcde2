# Copyright (c) octopus.ha contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Fixtures for the simulator's own tests."""
from __future__ import absolute_import, division, print_function
__metaclass__ = type

import os
import sys

import pytest

REPO_ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
TOOLS_DIR = os.path.join(REPO_ROOT, 'tools')
if TOOLS_DIR not in sys.path:
    sys.path.insert(0, TOOLS_DIR)

from octosim.testing import SimulatorThread  # noqa: E402  pylint: disable=wrong-import-position

SHARED_DIR = os.path.join(os.path.dirname(REPO_ROOT), 'shared')
DEMO_CONFIG = os.path.join(TOOLS_DIR, 'octosim', 'examples', 'demo-cluster.yml')


@pytest.fixture
def make_sim():
    """Factory: make_sim(config_dict, speed=0, tls=False) -> a started SimulatorThread (stopped after the test)."""
    started = []

    def factory(config=None, speed=0, tls=False):
        sim = SimulatorThread(config if config is not None else {}, speed=speed, tls=tls)
        started.append(sim)
        return sim.start()

    yield factory
    for sim in started:
        sim.stop()


@pytest.fixture(scope='session')
def shared_dir():
    """../shared next to the repo; tests that need it are skipped when it is absent."""
    if not os.path.isdir(os.path.join(SHARED_DIR, 'octopus-api')):
        pytest.skip('reference material %s/octopus-api is not present (it lives outside the repo)' % SHARED_DIR)
    return SHARED_DIR
