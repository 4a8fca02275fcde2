# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# Copyright: Contributors to the octopus.ha collection
"""octopus_task_cancel: main() against the stateful FakeOctopus, asserting results and the request log."""

from __future__ import absolute_import, division, print_function
__metaclass__ = type

import json

import pytest

from ansible_collections.octopus.ha.tests.unit.compat import patch_module_args
from ansible_collections.octopus.ha.plugins.modules import octopus_task_cancel
from ansible_collections.octopus.ha.tests.unit.plugins.module_utils.fake_octopus import KEY, URL, Clock, patched


@pytest.fixture
def clock():
    return Clock()


@pytest.fixture
def octo(clock, monkeypatch):
    server = patched(clock, monkeypatch)
    server.add_node('A')
    server.add_node('B')
    return server


@pytest.fixture
def run(capsys):
    def run_main(check_mode=False, **args):
        module_args = dict(url=URL, api_key=KEY, _ansible_check_mode=check_mode)
        module_args.update(args)
        with patch_module_args(module_args):
            with pytest.raises(SystemExit) as exc:
                octopus_task_cancel.main()
        out = capsys.readouterr().out
        assert KEY not in out
        result = json.loads(out)
        result['rc'] = exc.value.code
        return result
    return run_main


def test_cancels_every_running_task_of_a_node_and_waits(octo, run, clock):
    octo.cancel_delay = 6
    octo.add_task('T1', 'A', space='Spaces-1')
    octo.add_task('T2', 'A', space=None)
    octo.add_task('T3', 'A', state='Cancelling')
    octo.tasks['T3']['cancel_at'] = clock.now + 3
    octo.add_task('T4', 'B')
    result = run(node_name='a')
    assert result['rc'] == 0, result['msg']
    assert result['cancelled'] == ['T1', 'T2'] and result['stuck'] == []
    assert result['tasks'] == dict(T1='Canceled', T2='Canceled', T3='Canceled')
    assert octo.mutations() == [('POST', 'Spaces-1/tasks/T1/cancel'), ('POST', 'tasks/T2/cancel')]
    assert octo.state('T4') == 'Executing'
    assert clock.sleeps == [5, 5]


def test_search_covers_all_spaces_and_system_tasks_and_pages(octo, run):
    for i in range(45):
        octo.add_task('T%02d' % i, 'A')
    result = run(node_id='OctopusServerNodes-A', wait=False)
    assert len(result['cancelled']) == 45
    queries = [q for m, p, q, b in octo.log if m == 'GET' and p == 'tasks']
    assert all(q['spaces'] == 'all' and q['includeSystem'] == 'true' for q in queries)
    assert [q['skip'] for q in queries] == ['0', '30']


def test_already_terminal_tasks_are_not_changed(octo, run):
    octo.add_task('T1', 'A', state='Success')
    result = run(task_ids=['T1'])
    assert result['changed'] is False and result['already_terminal'] == ['T1']
    assert octo.mutations() == []


def test_unknown_task_id_fails_before_any_cancel(octo, run):
    octo.add_task('T1', 'A')
    result = run(task_ids=['T1', 'T9'])
    assert result['failed'] is True and 'T9' in result['msg']
    assert octo.mutations() == []


def test_unknown_node_name_fails_naming_the_closest_nodes(octo, run):
    octo.add_node('OCTO-NODE-03')
    result = run(node_name='OCTO-NODE-3')
    assert result['failed'] is True and 'OCTO-NODE-03 (differs in zero padding)' in result['msg']
    assert octo.mutations() == []


def test_stuck_cancelling_on_offline_node_is_reported_not_looped(octo, run, clock):
    octo.nodes['OctopusServerNodes-A']['IsOffline'] = True
    octo.add_task('T1', 'A')
    result = run(node_name='A')
    assert result['failed'] is True and result['stuck'] == ['T1']
    assert 'offline or deleted' in result['msg']
    assert clock.sleeps == []
    assert octo.count('POST') == 1


def test_check_mode_posts_nothing(octo, run):
    octo.add_task('T1', 'A')
    result = run(check_mode=True, node_name='A')
    assert result['changed'] is True and result['cancelled'] == ['T1']
    assert octo.mutations() == []


def test_cancel_timeout_after_post_is_not_blindly_retried(octo, run):
    octo.add_task('T1', 'A')
    octo.fault('POST', 'cancel$', kind='timeout', phase='after')
    result = run(task_ids=['T1'])
    assert result['rc'] == 0 and result['cancelled'] == ['T1']
    assert octo.count('POST') == 1


def test_duplicate_cancel_by_a_concurrent_caller_is_ok(octo, run):
    octo.add_task('T1', 'A', state='Cancelling')
    octo.cancel_delay = 0
    octo.tasks['T1']['cancel_at'] = 0
    result = run(task_ids=['T1'])
    assert result['rc'] == 0 and result['changed'] is False
    assert octo.mutations() == []


@pytest.mark.parametrize('args,word', [
    (dict(node_name='A', node_id='X'), 'mutually exclusive'),
    (dict(), 'one of the following'),
    (dict(task_ids=['T1'], wait_timeout=0), 'wait_timeout'),
    (dict(task_ids=['T1'], states=['Success']), 'states'),
    (dict(node_name=' '), 'node_name'),
])
def test_bad_inputs_fail_before_any_request(octo, run, args, word):
    result = run(**args)
    assert result['failed'] is True and word in result['msg']
    assert octo.log == []


def test_task_ids_with_a_node_only_cancel_tasks_on_that_node(octo, run):
    octo.add_task('T1', 'A')
    octo.add_task('T2', 'B')
    octo.add_task('T3', 'A', state='Queued')
    result = run(node_name='A', task_ids=['T1', 'T2', 'T3'], wait=False)
    assert result['cancelled'] == ['T1'] and sorted(result['not_selected']) == ['T2', 'T3']
    assert octo.mutations() == [('POST', 'Spaces-1/tasks/T1/cancel')]


def test_wait_timeout_on_a_live_node_reports_stuck(octo, run, clock):
    octo.add_task('T1', 'A')
    octo.cancel_delay = 10 ** 6
    result = run(task_ids=['T1'], wait_timeout=12)
    assert result['failed'] is True and result['stuck'] == ['T1'] and result['tasks'] == dict(T1='Cancelling')
    assert sum(clock.sleeps) == 12 and octo.count('POST') == 1
