# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# Copyright: Contributors to the octopus.ha collection
"""octopus_node: the scale-in safety rules of issue 8 (sections 4, 5, 7, 8), main() against FakeOctopus.

- section 4: an offline node counts as gone only after offline_grace, by the server's clock;
- section 5: a node is not deleted behind its back (delete_online=false keeps it; a re-registration is drained again);
- section 7: check mode follows the real decision and says it as a plan; a name that matches nothing names the closest;
  a guard that needs a fact the server did not give fails closed;
- section 8: a deployment paused on a manual intervention (Queued, pinned to the node) is blocking work.
"""

from __future__ import absolute_import, division, print_function
__metaclass__ = type

import json

import pytest

from ansible_collections.octopus.ha.tests.unit.compat import patch_module_args
from ansible_collections.octopus.ha.plugins.modules import octopus_node
from ansible_collections.octopus.ha.tests.unit.plugins.module_utils.fake_octopus import KEY, URL, Clock, patched

NODE_A = 'OctopusServerNodes-A'
TEN_DAYS = 10 * 86400


@pytest.fixture
def clock():
    return Clock()


@pytest.fixture
def octo(clock, monkeypatch):
    server = patched(clock, monkeypatch)
    for name in ('A', 'B', 'C'):
        server.add_node(name)
    return server


@pytest.fixture
def run(capsys):
    def run_main(check_mode=False, diff=False, **args):
        module_args = dict(url=URL, api_key=KEY, _ansible_check_mode=check_mode, _ansible_diff=diff)
        module_args.update(args)
        with patch_module_args(module_args):
            with pytest.raises(SystemExit) as exc:
                octopus_node.main()
        result = json.loads(capsys.readouterr().out)
        result['rc'] = exc.value.code
        result['warning_texts'] = [w if isinstance(w, str) else str((w.get('event') or {}).get('msg') or w.get('msg'))
                                   for w in result.get('warnings') or []]
        return result
    return run_main


def offline(octo, node_id, seconds_ago):
    octo.nodes[node_id]['IsOffline'] = True
    octo.last_seen_ago[node_id] = seconds_ago


# ---- section 4: offline_grace, by the server's clock ----------------------------------------

def test_offline_within_grace_is_drained_and_waited_on_like_a_live_node(octo, run, clock):
    offline(octo, NODE_A, 30)
    octo.add_task('T1', 'A', duration=20)
    result = run(name='A', state='absent')
    assert result['rc'] == 0, result['msg']
    assert octo.count('POST') == 0, 'a blip does not cancel deployments'
    assert result['lost_tasks'] == [] and result['cancelled_tasks'] == [] and result['deleted'] is True
    assert sum(clock.sleeps) >= 20 and octo.state('T1') == 'Success'
    assert any('offline_grace' in w and 'waited on like a live node' in w for w in result['warning_texts'])


def test_offline_within_grace_fails_at_the_drain_deadline_like_a_live_node(octo, run):
    offline(octo, NODE_A, 30)
    octo.add_task('T1', 'A')
    result = run(name='A', state='absent', drain_timeout=60)
    assert result['failed'] is True and 'T1' in result['msg']
    assert octo.count('POST') == 0 and octo.count('DELETE') == 0


@pytest.mark.parametrize('seen_ago, controller_offset, gone', [
    (30, -TEN_DAYS, False),    # the controller's clock is 10 days ahead: by it the node looks gone; the server says 30 s
    (1000, TEN_DAYS, True),    # the controller's clock is 10 days behind: by it LastSeen is in the future; the server says 1000 s
])
def test_offline_grace_is_measured_with_the_server_clock(octo, run, seen_ago, controller_offset, gone):
    octo.server_clock_offset = controller_offset
    offline(octo, NODE_A, seen_ago)
    octo.add_task('T1', 'A')
    result = run(name='A', state='absent', drain_timeout=30)
    if gone:
        assert result['rc'] == 0 and result['deleted'] is True and result['lost_tasks'] == ['T1'], result['msg']
    else:
        assert result['failed'] is True and octo.count('POST') == 0 and NODE_A in octo.nodes, result['msg']


def test_offline_without_a_server_clock_is_treated_as_live(octo, run):
    octo.send_date = False
    for node in list(octo.nodes):
        offline(octo, node, 3600)
    octo.add_task('T1', 'A')
    result = run(name='A', state='absent', drain_timeout=10)
    assert result['failed'] is True and octo.count('POST') == 0 and octo.count('DELETE') == 0
    assert any('no usable Date' in w for w in result['warning_texts'])


def test_gone_node_orphans_are_cancelled_and_reported_everywhere(octo, run, clock):
    offline(octo, NODE_A, 3600)
    octo.add_task('T1', 'A')
    octo.add_task('T2', 'A', state='Queued', interrupted=True)
    preflight = run(check_mode=True, name='A', state='absent')
    assert preflight['rc'] == 0 and octo.mutations() == []
    assert preflight['running_tasks'] == ['T1', 'T2'] and preflight['lost_tasks'] == ['T1', 'T2']
    assert preflight['cancelled_tasks'] == ['T1', 'T2'] and preflight['deleted'] is True
    result = run(name='A', state='absent')
    assert result['rc'] == 0, result['msg']
    assert result['cancelled_tasks'] == ['T1', 'T2'] and result['lost_tasks'] == ['T1', 'T2']
    assert result['stuck_tasks'] == ['T1'] and result['deleted'] is True
    assert clock.sleeps == [], 'a gone node is neither waited on nor watched for a re-registration'
    assert any('orphans' in w for w in result['warning_texts'])


def test_offline_grace_zero_makes_any_offline_node_gone(octo, run):
    offline(octo, NODE_A, 30)
    octo.add_task('T1', 'A')
    result = run(name='A', state='absent', offline_grace=0)
    assert result['rc'] == 0 and result['lost_tasks'] == ['T1']


# ---- section 8: a paused deployment is blocking work ----------------------------------------

def test_paused_deployment_blocks_the_removal_and_is_named(octo, run):
    octo.add_task('T1', 'A', state='Queued', interrupted=True)
    octo.add_task('Q', None, state='Queued')
    result = run(name='A', state='absent', drain_timeout=30)
    assert result['failed'] is True and 'T1' in result['msg'] and 'manual intervention' in result['msg']
    assert result['interrupted_tasks'] == ['T1'] and result['running_tasks'] == ['T1']
    assert octo.count('DELETE') == 0 and octo.count('POST') == 0


def test_paused_deployment_is_cancelled_with_pending_interruptions_cancel(octo, run):
    octo.add_task('T1', 'A', state='Queued', interrupted=True)
    result = run(name='A', state='absent', pending_interruptions='cancel')
    assert result['rc'] == 0 and result['cancelled_tasks'] == ['T1'] and result['deleted'] is True
    assert octo.state('T1') == 'Canceled'


def test_force_cancels_paused_deployments_before_deleting(octo, run):
    octo.add_task('T1', 'A', state='Queued', interrupted=True)
    result = run(name='A', state='absent', wait=False, force=True)
    assert result['rc'] == 0 and result['lost_tasks'] == ['T1'] and result['cancelled_tasks'] == ['T1']
    assert octo.state('T1') == 'Canceled', 'not stranded in the queue of a deleted node (Issues #6372)'


# ---- section 5: never deleted behind its back -----------------------------------------------

def test_delete_online_false_keeps_a_live_node_drained_with_cap_zero(octo, run):
    result = run(name='A', state='absent', delete_online=False)
    assert result['rc'] == 0 and result['deleted'] is False and result['record_kept'] is True
    assert octo.count('DELETE') == 0
    assert octo.nodes[NODE_A]['IsInMaintenanceMode'] is True and octo.nodes[NODE_A]['MaxConcurrentTasks'] == 0
    assert 'not deleted' in result['msg'] and 'reconciler' in result['msg']
    again = run(name='A', state='absent', delete_online=False)
    assert again['changed'] is False and again['record_kept'] is True


@pytest.mark.parametrize('seen_ago', [30, 3600])
def test_delete_online_false_deletes_a_node_the_server_reports_offline(octo, run, seen_ago):
    offline(octo, NODE_A, seen_ago)
    result = run(name='A', state='absent', delete_online=False)
    assert result['rc'] == 0 and result['deleted'] is True and NODE_A not in octo.nodes


def test_a_node_that_registers_again_after_the_delete_is_drained_again(octo, run, clock):
    def reregister(method, path):
        if method == 'GET' and path.startswith('octopusservernodes') and NODE_A not in octo.nodes and octo.count('DELETE'):
            octo.add_node('A')  # the running service writes its row back: undrained, default cap
    octo.on_request = reregister
    result = run(name='A', state='absent')
    assert result['rc'] == 0
    assert result['reregistered'] is True and result['deleted'] is False and result['record_kept'] is True
    assert octo.nodes[NODE_A]['IsInMaintenanceMode'] is True and octo.nodes[NODE_A]['MaxConcurrentTasks'] == 0
    assert any('registered itself again' in w for w in result['warning_texts'])
    assert sum(clock.sleeps) <= 30


def test_the_watch_can_be_turned_off(octo, run, clock):
    result = run(name='A', state='absent', reregistration_watch=0)
    assert result['rc'] == 0 and result['deleted'] is True and clock.sleeps == []


def test_no_reregistration_ends_the_watch_with_the_node_deleted(octo, run, clock):
    result = run(name='A', state='absent')
    assert result['deleted'] is True and result['reregistered'] is False and sum(clock.sleeps) == 30
    assert result['msg'].startswith('Octopus server node A (OctopusServerNodes-A) deleted; it did not register again.')


def test_the_watch_message_names_the_node_by_name_when_removed_by_id(octo, run, clock):
    result = run(id='OctopusServerNodes-A', state='absent')
    assert result['deleted'] is True and result['reregistered'] is False
    assert result['msg'].startswith('Octopus server node A (OctopusServerNodes-A) deleted; it did not register again.'), result['msg']


# ---- section 7: check mode, names, unreadable facts ----------------------------------------

def test_check_mode_predicts_the_failure_of_wait_false_with_a_running_task(octo, run):
    octo.add_task('T1', 'A')
    real_would = run(check_mode=True, name='A', state='absent', wait=False)
    assert real_would['failed'] is True and real_would['deleted'] is False
    assert real_would['msg'].startswith('Check mode: for Octopus server node A (OctopusServerNodes-A) the run would drain, then fail')
    assert octo.mutations() == []
    real = run(name='A', state='absent', wait=False)
    assert real['failed'] is True and octo.count('DELETE') == 0


def test_check_mode_message_is_a_plan(octo, run):
    octo.add_task('ServerTasks-6', 'A')
    result = run(check_mode=True, name='A', state='absent')
    assert result['rc'] == 0 and result['deleted'] is True
    assert result['plan'] == ['drain', 'wait up to 1800 s (drain_timeout) for ServerTasks-6', 'delete the record']
    assert result['msg'] == ('Check mode: for Octopus server node A (OctopusServerNodes-A) the run would drain, would wait up to '
                             '1800 s (drain_timeout) for ServerTasks-6, would delete the record.')


def test_a_name_that_matches_no_node_is_ok_with_a_warning_naming_the_closest(octo, run):
    octo.add_node('OCTO-NODE-03')
    octo.add_node('OCTO-NODE-04')
    result = run(name='OCTO-NODE-3', state='absent')
    assert result['rc'] == 0 and result['changed'] is False
    warning = [w for w in result['warning_texts'] if 'closest' in w]
    assert warning and 'OCTO-NODE-03 (differs in zero padding)' in warning[0] and 'OCTO-NODE-04' in warning[0]


def test_a_name_far_from_every_node_is_ok_without_suggestions(octo, run):
    far = run(name='completely-different', state='absent')
    assert far['rc'] == 0 and not [w for w in far['warning_texts'] if 'closest' in w]


def test_drained_state_of_a_missing_name_fails_naming_the_closest(octo, run):
    octo.add_node('OCTO-NODE-03')
    result = run(name='OCTO-NODE-O3', state='drained')
    assert result['failed'] is True and 'OCTO-NODE-03 (1 character different)' in result['msg']


def test_guard_fails_closed_when_the_summary_lacks_a_fact(octo, run, monkeypatch):
    real_nodes = octo._nodes

    def nodes(method, segs, body):
        status, answer = real_nodes(method, segs, body)
        if segs == ['summary']:
            for entry in answer['Nodes']:
                entry.pop('IsOffline', None)
        return status, answer
    monkeypatch.setattr(octo, '_nodes', nodes)
    result = run(name='A', state='absent')
    assert result['failed'] is True and 'capacity guard cannot be checked' in result['msg']
    assert 'whether a node is offline' in result['msg'] and octo.mutations() == []


def test_guard_fails_closed_naming_the_permission_when_the_summary_is_forbidden(octo, run):
    octo.fault('GET', 'summary$', status=403, count=10)
    octo.faults[-1]['message'] = 'You do not have permission to perform this action. Missing permission: AdministerSystem'
    result = run(name='A', state='absent')
    assert result['failed'] is True and 'AdministerSystem' in result['msg'] and octo.mutations() == []
