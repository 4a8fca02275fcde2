# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# Copyright: Contributors to the octopus.ha collection
"""The octopus_node action plugin, with the module run in process against FakeOctopus.

Under tests/unit/plugins/action so that ``ansible-test units`` runs it with the controller code
(tests under plugins/modules run without it).
"""

from __future__ import absolute_import, division, print_function
__metaclass__ = type

import json

from unittest.mock import MagicMock

import pytest

from ansible_collections.octopus.ha.plugins.action import octopus_node as action
from ansible_collections.octopus.ha.plugins.module_utils._octopus_tasks import Timer
from ansible_collections.octopus.ha.plugins.modules import octopus_node
from ansible_collections.octopus.ha.tests.unit.plugins.module_utils.fake_octopus import KEY, URL, Clock, patch_module_args, patched


@pytest.fixture
def clock():
    return Clock()


@pytest.fixture
def octo(clock, monkeypatch):
    server = patched(clock, monkeypatch)
    for name in ('A', 'B', 'C'):
        server.add_node(name)
    return server


def test_action_plugin_runs_module_steps_and_shows_progress(octo, clock, capsys, monkeypatch):
    octo.add_task('T1', 'A', duration=12)
    lines, calls = [], []

    def execute_module(module_name, module_args, task_vars):
        calls.append(module_args['_step']['kind'])
        with patch_module_args(dict(module_args)):
            with pytest.raises(SystemExit):
                octopus_node.main()
        return json.loads(capsys.readouterr().out)

    task = MagicMock(async_val=0, args=dict(url=URL, api_key=KEY, name='A', state='absent'))
    plugin = action.ActionModule(task, MagicMock(), MagicMock(check_mode=False, diff=True), loader=None, templar=None,
                                 shared_loader_obj=None)
    monkeypatch.setattr(plugin, '_execute_module', execute_module)
    monkeypatch.setattr(action, 'Timer', lambda: Timer(clock.monotonic, clock.sleep))
    monkeypatch.setattr(action.display, 'display', lines.append)
    result = plugin.run(task_vars={})
    assert result['deleted'] is True and result['changed'] is True, result
    # The DELETE of an online node is followed by the re-registration watch (30 s, polled every 5 s; issue 8 section 5).
    assert calls == ['poll', 'poll', 'poll', 'poll'] + ['watch_poll'] * 6 + ['watch_expired']
    assert lines[0] == 'octopus_node: A drained, 1 tasks still running (T1), 1800s left'
    assert lines[3] == 'octopus_node: A deleted, watching for a re-registration, 30s left'
    assert len(lines) == 10
    assert result['diff']['after'] == {}
    assert octo.mutations() == [('PUT', 'octopusservernodes/OctopusServerNodes-A'), ('DELETE', 'octopusservernodes/OctopusServerNodes-A')]
