# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# Copyright: Contributors to the octopus.ha collection
"""octopus_node: main() against the stateful FakeOctopus, asserting results and the request log."""

from __future__ import absolute_import, division, print_function
__metaclass__ = type

import json

import pytest

from ansible_collections.octopus.ha.tests.unit.compat import patch_module_args
from ansible_collections.octopus.ha.plugins.modules import octopus_node
from ansible_collections.octopus.ha.tests.unit.plugins.module_utils.fake_octopus import KEY, URL, Clock, patched

NODE_A = 'OctopusServerNodes-A'


@pytest.fixture
def clock():
    return Clock()


@pytest.fixture
def octo(clock, monkeypatch):
    server = patched(clock, monkeypatch)
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
    # 1 s at first, then a 25th of the time waited (whole seconds): seen the poll the task ended.
    assert clock.sleeps == [1] * 50 + [2] * 5
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


def _other_removal_drains(octo, node_id):
    """A concurrent removal whose drain lands between this run's guard and its re-check (issue 8 section 2)."""
    def hook(method, path):
        if method == 'PUT' and octo.count('PUT') == 1:
            octo.nodes[node_id]['IsInMaintenanceMode'] = True
    octo.on_request = hook


def test_guard_is_checked_again_after_the_drain_and_a_concurrent_drain_rolls_it_back(octo, run):
    octo.nodes['OctopusServerNodes-C']['MaxConcurrentTasks'] = 0
    octo.nodes[NODE_A]['MaxConcurrentTasks'] = 4
    _other_removal_drains(octo, 'OctopusServerNodes-B')
    result = run(name='A', state='absent')
    assert result['failed'] is True and result['changed'] is True
    assert 'Rolled back' in result['msg'] and 'B drained at the same time' in result['msg'], result['msg']
    assert octo.nodes[NODE_A]['IsInMaintenanceMode'] is False and octo.nodes[NODE_A]['MaxConcurrentTasks'] == 4
    assert [m for m, p in octo.mutations()] == ['PUT', 'PUT']
    assert result['blocked_by'] and 'min_task_nodes is 1' in result['blocked_by'][0]


def test_guard_recheck_passes_when_enough_task_nodes_remain(octo, run):
    _other_removal_drains(octo, 'OctopusServerNodes-B')
    result = run(name='A', state='absent')
    assert result['rc'] == 0 and result['deleted'] is True


def test_guard_recheck_is_skipped_with_force_and_for_nodes_that_took_no_capacity(octo, run):
    octo.nodes['OctopusServerNodes-C']['MaxConcurrentTasks'] = 0
    _other_removal_drains(octo, 'OctopusServerNodes-B')
    result = run(name='A', state='absent', force=True)
    assert result['rc'] == 0 and result['deleted'] is True
    octo.nodes['OctopusServerNodes-C']['IsInMaintenanceMode'] = False
    result = run(name='C', state='absent')
    assert result['rc'] == 0 and result['deleted'] is True, 'a UI-only node takes no capacity away'


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


# ---- reliability-and-security (b) rows ---------------------------------------------------

def test_row01_unreachable_api_fails_clearly_and_changes_nothing(octo, run):
    octo.fault('GET', '.', kind='refused', count=100)
    result = run(name='A', state='absent', max_retries=2)
    assert result['failed'] is True and 'octopus.example.com' in result['msg']
    assert octo.mutations() == []
    assert octo.count('GET') == 3


def test_row02_transient_5xx_on_get_and_put_are_retried(octo, run):
    octo.fault('GET', 'summary$', status=503, count=2)
    octo.fault('PUT', '.', status=502, count=1)
    result = run(name='A', state='drained')
    assert result['rc'] == 0 and result['changed'] is True, result['msg']
    assert octo.count('PUT') == 2
    assert octo.nodes[NODE_A]['IsInMaintenanceMode'] is True


def test_row02_persistent_500_fails_with_status_and_changes_nothing(octo, run):
    octo.fault('PUT', '.', status=500, count=100)
    result = run(name='A', state='absent')
    assert result['failed'] is True and '500' in result['msg']
    assert octo.nodes[NODE_A]['IsInMaintenanceMode'] is False and octo.count('DELETE') == 0


def test_row03_rate_limit_honours_retry_after_and_warns(octo, run, clock):
    octo.fault('GET', 'summary$', status=429, headers={'Retry-After': '7'})
    result = run(name='A', state='drained')
    assert result['rc'] == 0
    assert clock.sleeps[0] >= 7
    assert any('rate limited' in str(w) for w in result['warnings'])


@pytest.mark.parametrize('status,word', [(401, 'api_key'), (403, 'AdministerSystem')])
def test_row04_auth_errors_fail_at_once_without_retry(octo, run, status, word):
    message = 'You do not have permission to perform this action. Missing permission: AdministerSystem'
    octo.fault('PUT', '.', status=status, count=100)
    octo.faults[-1]['message'] = message
    result = run(name='A', state='drained')
    assert result['failed'] is True
    assert octo.count('PUT') == 1
    assert word in result['msg'] or str(status) in result['msg']


def test_row05_put_timeout_after_it_landed_is_resolved_by_reading_not_resending(octo, run):
    octo.fault('PUT', '.', kind='timeout', phase='after')
    result = run(name='A', state='drained')
    assert result['rc'] == 0 and result['changed'] is True
    assert octo.count('PUT') == 1
    assert octo.nodes[NODE_A]['IsInMaintenanceMode'] is True


def test_row05_put_timeout_before_it_landed_sends_a_fresh_body(octo, run):
    def someone_changes_the_cap(method, path):
        if method == 'PUT' and octo.count('PUT') == 1:
            octo.nodes[NODE_A]['MaxConcurrentTasks'] = 9
    octo.on_request = someone_changes_the_cap
    octo.fault('PUT', '.', kind='timeout', phase='before')
    result = run(name='A', state='drained')
    assert result['rc'] == 0
    bodies = puts(octo)
    assert len(bodies) == 2 and bodies[1]['MaxConcurrentTasks'] == 9
    assert octo.nodes[NODE_A]['MaxConcurrentTasks'] == 9


def test_row06_cancel_timeout_is_not_blindly_reposted(octo, run):
    octo.add_task('T1', 'A')
    octo.cancel_delay = 3
    octo.fault('POST', 'cancel$', kind='timeout', phase='after')
    result = run(name='A', state='drained', drain_timeout=10, cancel_on_timeout=True)
    assert result['rc'] == 0, result['msg']
    assert octo.count('POST') == 1 and result['cancelled_tasks'] == ['T1']


def test_row10_node_deleted_by_someone_else_mid_drain_converges(octo, run):
    octo.add_task('T1', 'A')

    def other_caller_deletes(method, path):
        if path == 'octopusservernodes' and octo.count('GET', 'octopusservernodes$') == 3:
            octo.nodes.pop(NODE_A)
            octo.tasks['T1']['State'] = 'Failed'
    octo.on_request = other_caller_deletes
    result = run(name='A', state='absent')
    assert result['rc'] == 0 and result['removed_by_other'] is True
    assert result['lost_tasks'] == ['T1'] and 'someone else' in result['msg']
    assert octo.count('DELETE') == 0


def test_row14_second_delete_404_is_ok(octo, run):
    def other_caller_deletes_first(method, path):
        if method == 'DELETE':
            octo.nodes.pop(NODE_A, None)
    octo.on_request = other_caller_deletes_first
    result = run(name='A', state='absent')
    assert result['rc'] == 0 and result['deleted'] is True and result['removed_by_other'] is True


def test_row14_duplicate_cancel_is_ok(octo, run):
    octo.add_task('T1', 'A', state='Cancelling')
    octo.tasks['T1']['cancel_at'] = octo.clock.now + 12
    result = run(name='A', state='absent', drain_timeout=5, cancel_on_timeout=True)
    assert result['rc'] == 0 and result['deleted'] is True
    assert octo.count('POST') == 0 and result['cancelled_tasks'] == []


def test_row13_stuck_cancelling_on_live_node_fails_naming_tasks(octo, run):
    octo.add_task('T1', 'A')
    octo.cancel_delay = 10 ** 6
    result = run(name='A', state='absent', drain_timeout=10, cancel_on_timeout=True, cancel_timeout=20)
    assert result['failed'] is True and result['stuck_tasks'] == ['T1'] and 'T1' in result['msg']
    assert octo.count('DELETE') == 0


def test_row18_guard_counts_capacity_and_online_nodes(octo, run):
    result = run(name='A', state='drained', min_task_capacity=11)
    assert result['failed'] is True and 'min_task_capacity' in result['msg']
    octo.nodes['OctopusServerNodes-B']['IsOffline'] = True
    octo.nodes['OctopusServerNodes-C']['IsOffline'] = True
    result = run(name='A', state='absent', min_task_nodes=0)
    assert result['failed'] is True and 'no online node' in result['msg']
    assert octo.mutations() == []


def test_row18_removing_an_already_drained_node_is_not_capacity_loss(octo, run):
    octo.nodes[NODE_A]['IsInMaintenanceMode'] = True
    octo.nodes['OctopusServerNodes-C']['IsInMaintenanceMode'] = True
    result = run(name='A', state='absent', min_task_nodes=1)
    assert result['rc'] == 0 and result['deleted'] is True


def test_row24_put_body_is_the_whole_resource_with_only_the_drain_flag_changed(octo, run):
    octo.nodes[NODE_A]['MaxConcurrentTasks'] = 7
    run(name='A', state='drained')
    (body,) = puts(octo)
    get = [b for m, p, q, b in octo.log if m == 'GET' and p == 'octopusservernodes/OctopusServerNodes-A']
    assert get  # the PUT is built from GET /octopusservernodes/{id}, not from the summary
    expected = dict(octo._node_resource(dict(octo.nodes[NODE_A], IsInMaintenanceMode=False, LastModifiedOn=None, LastModifiedBy=None)))
    assert dict(body, IsInMaintenanceMode=False) == expected
    assert body['IsInMaintenanceMode'] is True and body['MaxConcurrentTasks'] == 7 and body['Name'] == 'A'


def test_row25_html_instead_of_json_fails_clearly(octo, run):
    octo.fault('GET', 'summary$', kind='html', count=100)
    result = run(name='A', state='drained')
    assert result['failed'] is True and 'unexpected response' in result['msg']
    assert octo.mutations() == []


@pytest.mark.parametrize('args,word', [
    (dict(name='A', id='X'), 'mutually exclusive'),
    (dict(state='absent'), 'one of the following'),
    (dict(name='A', max_concurrent_tasks=-1), 'max_concurrent_tasks'),
    (dict(name='A', state='absent', drained=True), 'drained'),
    (dict(name='A', state='drained', poll_interval=10, max_poll_interval=5), 'max_poll_interval'),
    (dict(name='A\nB', state='drained'), 'control characters'),
    (dict(name='A', url='octopus.example.com'), 'url'),
    (dict(name='A', state='gone'), 'state'),
])
def test_row26_bad_inputs_fail_before_any_request(octo, run, args, word):
    result = run(**args)
    assert result['failed'] is True and word in result['msg']
    assert octo.log == []


def test_row27_check_mode_drained_is_get_only(octo, run):
    octo.add_task('T1', 'A')
    result = run(check_mode=True, diff=True, name='A', state='drained')
    assert result['changed'] is True and result['running_tasks'] == ['T1']
    assert result['diff']['before']['IsInMaintenanceMode'] is False and result['diff']['after']['IsInMaintenanceMode'] is True
    assert {m for m, p, q, b in octo.log} == {'GET'}


def test_row28_rerun_after_crash_between_drain_and_delete_converges(octo, run):
    octo.nodes[NODE_A]['IsInMaintenanceMode'] = True
    octo.add_task('T1', 'A', state='Cancelling')
    octo.tasks['T1']['cancel_at'] = octo.clock.now + 8
    result = run(name='A', state='absent')
    assert result['rc'] == 0 and result['deleted'] is True
    assert octo.mutations() == [('DELETE', 'octopusservernodes/OctopusServerNodes-A')]
    again = run(name='A', state='absent')
    assert again['changed'] is False and again['rc'] == 0


def test_drain_poll_interval_grows_with_the_time_waited(octo, run, clock):
    octo.add_task('T1', 'A', duration=1500)
    result = run(name='A', state='drained', poll_interval=5, max_poll_interval=20)
    assert result['rc'] == 0
    waited = 0
    for pause in clock.sleeps:
        assert pause == min(20, max(5, waited // 25)), (waited, clock.sleeps)
        waited += pause
    assert clock.sleeps[0] == 5 and clock.sleeps[-1] == 20
    assert all(s >= 1 for s in clock.sleeps)


def test_present_diff_shows_before_and_after(octo, run):
    result = run(diff=True, name='A', max_concurrent_tasks=2)
    assert result['diff']['before']['MaxConcurrentTasks'] == 5 and result['diff']['after']['MaxConcurrentTasks'] == 2


def test_no_diff_key_without_diff_mode(octo, run):
    assert 'diff' not in run(name='A', max_concurrent_tasks=2)


def test_api_key_never_in_results_or_messages(octo, run):
    octo.fault('GET', 'summary$', status=500, count=100)
    octo.faults[-1]['message'] = 'echo %s' % KEY
    result = run(name='A', state='drained')
    assert result['failed'] is True
    assert KEY not in json.dumps(result)


def test_row03_put_rate_limit_honours_retry_after_without_blind_replay(octo, run, clock):
    octo.fault('PUT', '.', status=429, headers={'Retry-After': '9'})
    result = run(name='A', state='drained')
    assert result['rc'] == 0 and result['changed'] is True
    assert octo.count('PUT') == 2 and clock.sleeps[0] == 9
    assert [m for m, p, q, b in octo.log if m != 'GET' or p == 'octopusservernodes/OctopusServerNodes-A'] == ['GET', 'PUT', 'GET', 'PUT']
    assert any('rate limited' in str(w) for w in result['warnings'])


def test_row11_node_offline_mid_drain_is_not_waited_on(octo, run, clock):
    octo.add_task('T1', 'A')

    def node_dies(method, path):
        if path == 'tasks' and octo.count('GET', '^tasks$') == 2:  # the first quiet poll after the drain
            octo.nodes[NODE_A]['IsOffline'] = True
    octo.on_request = node_dies
    result = run(name='A', state='absent')
    assert result['rc'] == 0 and result['deleted'] is True
    assert result['cancelled_tasks'] == ['T1'] and result['stuck_tasks'] == ['T1']
    assert any('offline' in str(w) for w in result['warnings'])
    # A quiet poll reads only the tasks: the summary that says offline is read at the next refresh, a minute after the
    # last full read, and nothing is waited for after it.
    assert sum(clock.sleeps) == 60
    deleted_at = [t for t, (m, p, q, b) in zip(octo.times, octo.log) if m == 'DELETE']
    assert deleted_at == [clock.now]
    assert octo.state('T1') == 'Failed'


def test_absent_without_wait_refuses_to_delete_a_busy_node(octo, run):
    octo.add_task('T1', 'A')
    result = run(name='A', state='absent', wait=False)
    assert result['failed'] is True and result['running_tasks'] == ['T1']
    assert octo.count('DELETE') == 0 and octo.nodes[NODE_A]['IsInMaintenanceMode'] is True


def test_check_mode_predicts_cancelling_interrupted_tasks(octo, run):
    octo.add_task('T1', 'A', interrupted=True)
    result = run(check_mode=True, name='A', state='drained', pending_interruptions='cancel')
    assert result['cancelled_tasks'] == ['T1'] and result['interrupted_tasks'] == ['T1']
    assert octo.mutations() == []
