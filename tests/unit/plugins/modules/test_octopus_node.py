# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# Copyright: Contributors to the octopus.ha collection
"""octopus_node: main() against the stateful FakeOctopus, asserting results and the request log."""

from __future__ import absolute_import, division, print_function
__metaclass__ = type

import json

import pytest

from ansible.module_utils.testing import patch_module_args
from ansible_collections.octopus.ha.plugins.module_utils import _octopus_api, _octopus_tasks
from ansible_collections.octopus.ha.plugins.modules import octopus_node
from ansible_collections.octopus.ha.tests.unit.plugins.module_utils.test_octopus_tasks import KEY, URL, Clock, FakeOctopus, FakeTime

NODE_A = 'OctopusServerNodes-A'


@pytest.fixture
def clock():
    return Clock()


@pytest.fixture
def octo(clock, monkeypatch):
    server = FakeOctopus(clock)
    monkeypatch.setattr(_octopus_api, 'ansible_open_url', server)
    monkeypatch.setattr(_octopus_api, 'time', FakeTime(clock))
    monkeypatch.setattr(_octopus_api.random, 'random', lambda: 1.0)
    monkeypatch.setattr(_octopus_tasks, 'time', FakeTime(clock))
    server.add_node('A')
    server.add_node('B')
    server.add_node('C')
    return server


@pytest.fixture
def run(capsys):
    def run_main(check_mode=False, diff=False, **args):
        module_args = dict(url=URL, api_key=KEY, _ansible_check_mode=check_mode, _ansible_diff=diff)
        module_args.update(args)
        with patch_module_args(module_args):
            with pytest.raises(SystemExit) as exc:
                octopus_node.main()
        out = capsys.readouterr().out
        assert KEY not in out
        result = json.loads(out)
        result['rc'] = exc.value.code
        return result
    return run_main


def puts(octo):
    return [b for m, p, q, b in octo.log if m == 'PUT']


# ---- present -----------------------------------------------------------------------------

def test_present_changes_only_the_differing_field_and_keeps_name_and_cap(octo, run):
    result = run(name=' a ', drained=True)
    assert result['changed'] is True and result['rc'] == 0
    (body,) = puts(octo)
    assert body['Name'] == 'A' and body['MaxConcurrentTasks'] == 5 and body['IsInMaintenanceMode'] is True
    assert octo.nodes[NODE_A]['Name'] == 'A'
    assert result['node']['IsInMaintenanceMode'] is True and result['before']['IsInMaintenanceMode'] is False


def test_present_is_idempotent(octo, run):
    result = run(name='A', max_concurrent_tasks=5, drained=False)
    assert result['changed'] is False
    assert octo.mutations() == []


def test_present_sets_ui_only_node(octo, run):
    result = run(id=NODE_A, max_concurrent_tasks=0)
    assert result['changed'] is True
    assert puts(octo)[0]['IsInMaintenanceMode'] is False and puts(octo)[0]['MaxConcurrentTasks'] == 0


def test_present_missing_node_fails(octo, run):
    result = run(name='nope', max_concurrent_tasks=3)
    assert result['failed'] is True and 'no such node' in result['msg']
    assert octo.mutations() == []


def test_ambiguous_name_lists_candidates(octo, run):
    octo.add_node('a ', node_id='OctopusServerNodes-a2')
    result = run(name='A', state='drained')
    assert result['failed'] is True
    assert 'OctopusServerNodes-A' in result['msg'] and 'OctopusServerNodes-a2' in result['msg']
    assert octo.mutations() == []


# ---- drained -----------------------------------------------------------------------------

def test_drained_waits_for_tasks_with_poll_interval(octo, run, clock):
    octo.add_task('T1', 'A', duration=60)
    result = run(name='A', state='drained')
    assert result['changed'] is True and result['rc'] == 0
    assert result['running_tasks'] == []
    assert clock.sleeps == [5] * 12
    assert result['elapsed']['wait'] == 60


def test_drained_already_drained_is_a_noop(octo, run):
    octo.nodes[NODE_A]['IsInMaintenanceMode'] = True
    result = run(name='A', state='drained')
    assert result['changed'] is False
    assert octo.mutations() == []


def test_drained_missing_node_fails(octo, run):
    result = run(name='Z', state='drained')
    assert result['failed'] is True
    assert octo.mutations() == []


def test_drain_deadline_fails_lists_tasks_and_leaves_node_drained(octo, run):
    octo.add_task('T1', 'A')
    result = run(name='A', state='drained', drain_timeout=30)
    assert result['failed'] is True
    assert 'T1' in result['msg'] and result['running_tasks'] == ['T1']
    assert octo.nodes[NODE_A]['IsInMaintenanceMode'] is True
    assert octo.count('POST') == 0


def test_drain_deadline_with_cancel_on_timeout_cancels_and_waits(octo, run):
    octo.add_task('T1', 'A')
    octo.cancel_delay = 7
    result = run(name='A', state='drained', drain_timeout=30, cancel_on_timeout=True)
    assert result['rc'] == 0, result['msg']
    assert result['cancelled_tasks'] == ['T1'] and result['stuck_tasks'] == []
    assert octo.state('T1') == 'Canceled'


def test_missing_running_task_count_is_not_zero(octo, run, clock):
    octo.summary_counts = False
    octo.add_task('T1', 'A', duration=20)
    result = run(name='A', state='drained')
    assert result['rc'] == 0
    assert sum(clock.sleeps) == 20


def test_pending_interruptions_block_fails_at_deadline_naming_them(octo, run):
    octo.add_task('T1', 'A', interrupted=True)
    result = run(name='A', state='drained', drain_timeout=10)
    assert result['failed'] is True
    assert result['interrupted_tasks'] == ['T1'] and 'manual intervention' in result['msg']
    assert octo.count('POST') == 0


def test_pending_interruptions_cancel_cancels_them_once_drained(octo, run):
    octo.add_task('T1', 'A', interrupted=True)
    octo.add_task('T2', 'A', duration=10)
    result = run(name='A', state='drained', pending_interruptions='cancel')
    assert result['rc'] == 0
    assert result['cancelled_tasks'] == ['T1'] and result['interrupted_tasks'] == ['T1']
    kinds = [m for m, p, q, b in octo.log if m != 'GET']
    assert kinds == ['PUT', 'POST']


# ---- absent ------------------------------------------------------------------------------

def test_absent_drains_waits_then_deletes(octo, run):
    octo.add_task('T1', 'A', duration=30)
    result = run(name='A', state='absent', reason='lifecycle 42')
    assert result['rc'] == 0 and result['changed'] is True and result['deleted'] is True
    assert result['reason'] == 'lifecycle 42' and result['node'] == {}
    assert octo.mutations() == [('PUT', 'octopusservernodes/OctopusServerNodes-A'), ('DELETE', 'octopusservernodes/OctopusServerNodes-A')]
    assert NODE_A not in octo.nodes


def test_absent_missing_node_is_ok(octo, run):
    result = run(name='Z', state='absent')
    assert result['rc'] == 0 and result['changed'] is False and 'already removed' in result['msg']
    assert octo.mutations() == []


def test_absent_never_deletes_while_executing_without_force(octo, run):
    octo.add_task('T1', 'A')
    result = run(name='A', state='absent', drain_timeout=20)
    assert result['failed'] is True
    assert octo.count('DELETE') == 0 and NODE_A in octo.nodes


def test_absent_force_deletes_and_reports_lost_tasks(octo, run):
    octo.add_task('T1', 'A')
    result = run(name='A', state='absent', wait=False, force=True)
    assert result['rc'] == 0 and result['deleted'] is True
    assert result['lost_tasks'] == ['T1'] and result['warnings']


def test_absent_offline_node_cancels_reports_stuck_and_deletes(octo, run, clock):
    octo.nodes[NODE_A]['IsOffline'] = True
    octo.add_task('T1', 'A')
    result = run(name='A', state='absent')
    assert result['rc'] == 0, result['msg']
    assert result['cancelled_tasks'] == ['T1'] and result['stuck_tasks'] == ['T1'] and result['deleted'] is True
    assert clock.sleeps == []
    assert octo.state('T1') == 'Failed'


def test_capacity_guard_refuses_before_any_change(octo, run):
    for node in ('OctopusServerNodes-B', 'OctopusServerNodes-C'):
        octo.nodes[node]['IsInMaintenanceMode'] = True
    result = run(name='A', state='absent')
    assert result['failed'] is True and result['blocked_by']
    assert octo.mutations() == []


def test_capacity_guard_force_overrides_with_warning(octo, run):
    for node in ('OctopusServerNodes-B', 'OctopusServerNodes-C'):
        octo.nodes[node]['IsInMaintenanceMode'] = True
    result = run(name='A', state='absent', force=True)
    assert result['rc'] == 0 and result['deleted'] is True
    assert any('capacity guard' in str(w) for w in result['warnings']), result['warnings']


def test_check_mode_is_get_only_and_predicts(octo, run):
    octo.nodes[NODE_A]['IsOffline'] = True
    octo.add_task('T1', 'A')
    result = run(check_mode=True, diff=True, name='A', state='absent')
    assert result['changed'] is True and result['deleted'] is True and result['cancelled_tasks'] == ['T1']
    assert result['diff']['after'] == {} and result['diff']['before']['Name'] == 'A'
    assert octo.mutations() == []


def test_bad_inputs_fail_before_any_request(octo, run):
    result = run(name='A', state='absent', drain_timeout=0)
    assert result['failed'] is True and 'drain_timeout' in result['msg']
    assert octo.log == []


# ---- action plugin: progress lines between module steps --------------------------------

def test_action_plugin_runs_module_steps_and_shows_progress(octo, clock, capsys, monkeypatch):
    from unittest.mock import MagicMock
    from ansible_collections.octopus.ha.plugins.action import octopus_node as action
    from ansible_collections.octopus.ha.plugins.module_utils._octopus_tasks import Timer

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
    assert calls == ['poll', 'poll', 'poll', 'poll']
    assert lines[0] == 'octopus_node: A drained, 1 tasks still running (T1), 1800s left'
    assert len(lines) == 3
    assert result['diff']['after'] == {}
    assert octo.mutations() == [('PUT', 'octopusservernodes/OctopusServerNodes-A'), ('DELETE', 'octopusservernodes/OctopusServerNodes-A')]
