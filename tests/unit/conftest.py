# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# Copyright: Contributors to the octopus.ha collection
"""Shared unit-test fixtures over the one fake stack (plugins/module_utils/fake_octopus.py).

The fakes replace ``ansible.module_utils.urls.open_url`` at the boundary the client uses, so
everything above it (retries, paging, error mapping, modules) runs for real. Nothing sleeps:
``fake_clock`` records sleeps and moves a fake clock instead.

Fixtures
  fake_clock       Clock: .now (monotonic), .wall (epoch), .sleeps, .sleep(s), .advance(s)
  fake_http        FakeHttp: .route(method, path, *replies), .calls, .count(method, path)
  octopus_reply    builders: reply(), error(), node(), summary(), page(), root(), task()
  octopus_client   factory: octopus_client(**kwargs) -> OctopusClient wired to fake_http/fake_clock
  patch_octopus    patches the client defaults (open_url, time, random) so module main() uses the fakes
  run_module       run_module(main, args, connection=True) -> (result dict, exit code) with patch_module_args
  warning_texts    warning_texts(result) -> list of warning strings (2.19 returns warnings as dicts)
  api_key          the API key used by all fixtures (tests assert it never leaks)
  (autouse)        isolated_module_warnings: each test starts with an empty ansible-core warning registry
"""

from __future__ import absolute_import, division, print_function
__metaclass__ = type

import json

import pytest

from ansible.module_utils.common import warnings as ansible_warnings
from ansible_collections.octopus.ha.plugins.module_utils import _octopus_api
from ansible_collections.octopus.ha.tests.unit.plugins.module_utils.fake_octopus import (
    KEY,
    URL,
    Clock,
    FakeHttp,
    OctopusReply,
    install,
    patch_module_args,
)

try:
    from ansible.module_utils import _internal as ansible_internal  # ansible-core 2.19+
except ImportError:  # pragma: no cover - older ansible-core has no controller/module switch
    ansible_internal = None


@pytest.fixture(autouse=True)
def isolated_module_warnings(request, monkeypatch):
    """Module tests see their own warnings in the result.

    ansible-core keeps module warnings in a process-wide, de-duplicating registry, and once any
    controller code was imported in the process (filter tests do) module warnings go to Display
    instead of the result. For tests under plugins/modules, plugins/module_utils and plugins/action
    (which run the module in process), start with an empty registry in module (not controller) mode.
    """
    path = str(getattr(request.node, 'path', request.node.fspath)).replace('\\', '/')
    if not any(part in path for part in ('/plugins/modules/', '/plugins/module_utils/', '/plugins/action/')):
        return
    if ansible_internal is not None:
        monkeypatch.setattr(ansible_internal, 'is_controller', False)
    monkeypatch.setattr(ansible_warnings, '_global_warnings', type(ansible_warnings._global_warnings)())
    monkeypatch.setattr(ansible_warnings, '_global_deprecations', type(ansible_warnings._global_deprecations)())


@pytest.fixture
def api_key():
    return KEY


@pytest.fixture
def fake_clock():
    return Clock()


@pytest.fixture
def fake_http(fake_clock):
    return FakeHttp(fake_clock)


@pytest.fixture
def octopus_reply():
    return OctopusReply


@pytest.fixture
def octopus_client(fake_http, fake_clock):
    def make(**kwargs):
        options = dict(url=URL, api_key=KEY, open_url=fake_http, sleep=fake_clock.sleep,
                       clock=fake_clock.monotonic, wallclock=fake_clock.time, rng=lambda: 1.0)
        options.update(kwargs)
        return _octopus_api.OctopusClient(**options)
    return make


@pytest.fixture
def patch_octopus(monkeypatch, fake_http, fake_clock):
    return install(monkeypatch, fake_http, fake_clock)


@pytest.fixture
def run_module(capsys):
    """run_module(main, args, connection=True) -> (result, exit code).

    With connection=True the url and api_key of the test server are added unless args set them.
    """
    def run(main, args, connection=True):
        module_args = dict(url=URL, api_key=KEY) if connection else {}
        module_args.update(args or {})
        with patch_module_args(module_args):
            with pytest.raises(SystemExit) as exc:
                main()
        out = capsys.readouterr().out
        return json.loads(out), exc.value.code
    return run


def _warning_text(warning):
    if isinstance(warning, dict):
        return str((warning.get('event') or {}).get('msg') or warning.get('msg') or warning)
    return str(warning)


@pytest.fixture
def warning_texts():
    """warning_texts(result) -> the warning messages of a module result as plain strings."""
    def texts(result):
        return [_warning_text(w) for w in result.get('warnings') or []]
    return texts
