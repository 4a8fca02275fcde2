# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# Copyright: Contributors to the octopus.ha collection
"""Unit tests of _octopus_drain: capacity guard, GET-modify-PUT reconciliation, and the drive() loop."""

from __future__ import absolute_import, division, print_function
__metaclass__ = type

import pytest

from ansible_collections.octopus.ha.plugins.module_utils._octopus_api import OctopusApiError, OctopusClient
from ansible_collections.octopus.ha.plugins.module_utils._octopus_drain import (
    CANCEL_EXPIRED,
    CANCEL_POLL,
    CANCELLING,
    DONE,
    DRAIN_EXPIRED,
    POLL,
    WAITING,
    drive,
    guard_reasons,
    new_outcome,
    progress_line,
    put_node,
)
from ansible_collections.octopus.ha.plugins.module_utils._octopus_tasks import Timer
from ansible_collections.octopus.ha.tests.unit.plugins.module_utils.fake_octopus import KEY, URL, Clock, patched

PARAMS = dict(name='A', id=None, drain_timeout=30, cancel_timeout=20, poll_interval=5, max_poll_interval=30, reason='r')


def entry(name, cap=5, drained=False, offline=False):
    return dict(Id='OctopusServerNodes-%s' % name, Name=name, MaxConcurrentTasks=cap, IsInMaintenanceMode=drained, IsOffline=offline)


@pytest.fixture
def clock():
    return Clock()


@pytest.fixture
def octo(clock, monkeypatch):
    server = patched(clock, monkeypatch)
    server.add_node('A', max_tasks=3)
    return server


# ---- capacity guard ------------------------------------------------------------------------

def test_guard_allows_removal_with_another_task_node():
    assert guard_reasons([entry('A'), entry('B')], 'OctopusServerNodes-A', None, 1, 0) == []


def test_guard_refuses_last_task_node_drain_and_removal():
    summary = [entry('A'), entry('B', drained=True)]
    assert 'min_task_nodes is 1' in guard_reasons(summary, 'OctopusServerNodes-A', dict(IsInMaintenanceMode=True), 1, 0)[0]
    assert guard_reasons(summary, 'octopusservernodes-a', None, 1, 0)


def test_guard_ignores_nodes_that_are_already_no_capacity():
    summary = [entry('A', drained=True), entry('B'), entry('C', offline=True)]
    assert guard_reasons(summary, 'OctopusServerNodes-A', None, 1, 0) == []
    assert guard_reasons(summary, 'OctopusServerNodes-C', None, 5, 50) == []


def test_guard_counts_task_capacity_and_ui_only_nodes():
    summary = [entry('A', cap=5), entry('B', cap=0), entry('C', cap=4)]
    reasons = guard_reasons(summary, 'OctopusServerNodes-A', None, 1, 5)
    assert reasons == ['the cluster would keep a task capacity of 4 (min_task_capacity is 5)']
    assert guard_reasons(summary, 'OctopusServerNodes-A', dict(MaxConcurrentTasks=0), 2, 0)


def test_guard_refuses_removing_the_last_online_node():
    summary = [entry('A', drained=True), entry('B', offline=True)]
    assert guard_reasons(summary, 'OctopusServerNodes-A', None, 0, 0) == ['no online node would be left']
    assert guard_reasons(summary, 'OctopusServerNodes-B', None, 0, 0) == []


def test_guard_never_refuses_raising_capacity():
    summary = [entry('A', drained=True)]
    assert guard_reasons(summary, 'OctopusServerNodes-A', dict(IsInMaintenanceMode=False), 3, 30) == []


# ---- GET-modify-PUT ------------------------------------------------------------------------

def test_put_node_sends_whole_resource_once(octo):
    client = OctopusClient(URL, KEY)
    after, changed = put_node(client, 'OctopusServerNodes-A', dict(IsInMaintenanceMode=True))
    assert changed is True and after['IsInMaintenanceMode'] is True and after['MaxConcurrentTasks'] == 3
    assert [m for m, p, q, b in octo.log] == ['GET', 'PUT']


def test_put_node_already_applied_sends_nothing(octo):
    octo.nodes['OctopusServerNodes-A']['IsInMaintenanceMode'] = True
    after, changed = put_node(OctopusClient(URL, KEY), 'OctopusServerNodes-A', dict(IsInMaintenanceMode=True))
    assert changed is False and after['Name'] == 'A'
    assert octo.mutations() == []


def test_put_node_gone_returns_none(octo):
    assert put_node(OctopusClient(URL, KEY), 'OctopusServerNodes-Z', dict(IsInMaintenanceMode=True)) == (None, False)


def test_put_node_timeout_is_not_replayed_by_the_client(octo):
    octo.fault('PUT', '.', kind='timeout', phase='after')
    after, changed = put_node(OctopusClient(URL, KEY, max_retries=5), 'OctopusServerNodes-A', dict(IsInMaintenanceMode=True))
    assert changed is True and after['IsInMaintenanceMode'] is True
    assert [m for m, p, q, b in octo.log] == ['GET', 'PUT', 'GET']


def test_put_node_gives_up_after_max_retries_with_the_last_error(octo):
    octo.fault('PUT', '.', status=503, count=100)
    client = OctopusClient(URL, KEY, max_retries=2)
    with pytest.raises(OctopusApiError) as err:
        put_node(client, 'OctopusServerNodes-A', dict(IsInMaintenanceMode=True))
    assert err.value.status == 503
    assert octo.count('PUT') == 3
    assert client.max_retries == 2


def test_put_node_400_is_not_retried(octo):
    octo.fault('PUT', '.', status=400, count=100)
    with pytest.raises(OctopusApiError):
        put_node(OctopusClient(URL, KEY), 'OctopusServerNodes-A', dict(IsInMaintenanceMode=True))
    assert octo.count('PUT') == 1


# ---- drive() -----------------------------------------------------------------------------

class ScriptedSteps:
    """A step function that replays outcomes and records the kinds it was called with."""

    def __init__(self, clock, outcomes):
        self.clock = clock
        self.outcomes = list(outcomes)
        self.calls = []

    def __call__(self, kind, known_tasks):
        self.calls.append((kind, list(known_tasks), self.clock.now))
        outcome = new_outcome()
        outcome.update(found=True, before=dict(Name='A'), node=dict(Name='A'))
        outcome.update(self.outcomes.pop(0))
        return outcome


def test_drive_polls_then_stops_when_done(clock):
    steps = ScriptedSteps(clock, [dict(status=WAITING, running_tasks=['T1'], changed=True),
                                  dict(status=WAITING, running_tasks=['T1']), dict(status=DONE)])
    lines = []
    result = drive(steps, PARAMS, Timer(clock.monotonic, clock.sleep), progress=lines.append)
    assert [c[0] for c in steps.calls] == [POLL, POLL, POLL]
    assert steps.calls[1][1] == ['T1']
    assert result['changed'] is True and result['elapsed']['wait'] == 10
    assert lines == ['octopus_node: A drained, 1 tasks still running (T1), 30s left',
                     'octopus_node: A drained, 1 tasks still running (T1), 25s left']
    assert result['reason'] == 'r' and 'status' not in result


def test_drive_expires_drain_then_cancel_phase(clock):
    outcomes = [dict(status=WAITING, running_tasks=['T1'])] * 7
    outcomes += [dict(status=CANCELLING, running_tasks=['T1'], cancelled_tasks=['T1'], changed=True),
                 dict(status=CANCELLING, running_tasks=['T1']), dict(status=DONE)]
    steps = ScriptedSteps(clock, outcomes)
    result = drive(steps, PARAMS, Timer(clock.monotonic, clock.sleep))
    kinds = [c[0] for c in steps.calls]
    assert kinds == [POLL] * 7 + [DRAIN_EXPIRED, CANCEL_POLL, CANCEL_POLL]
    assert result['elapsed']['wait'] == 30 and result['elapsed']['cancel'] == 10
    assert result['cancelled_tasks'] == ['T1'] and result['changed'] is True


def test_drive_never_starts_a_second_deadline(clock):
    steps = ScriptedSteps(clock, [dict(status=CANCELLING, running_tasks=['T1'])] * 6)
    result = drive(steps, dict(PARAMS, cancel_timeout=10), Timer(clock.monotonic, clock.sleep))
    assert [c[0] for c in steps.calls] == [POLL, CANCEL_POLL, CANCEL_POLL, CANCEL_EXPIRED]
    assert result['failed'] is True


def test_drive_reports_removed_by_other(clock):
    gone = dict(status=DONE, found=False, before=None, node={}, msg='Octopus server node A is already removed.')
    steps = ScriptedSteps(clock, [dict(status=WAITING, running_tasks=['T1']), gone])
    result = drive(steps, PARAMS, Timer(clock.monotonic, clock.sleep))
    assert result['removed_by_other'] is True and 'someone else' in result['msg']
    assert result['before'] == dict(Name='A')


def test_drive_merges_a_failed_foreign_outcome(clock):
    steps = ScriptedSteps(clock, [dict(status=WAITING, running_tasks=['T1'])])
    calls = []

    def step(kind, known):
        calls.append(kind)
        return steps(kind, known) if len(calls) == 1 else dict(failed=True, msg='module crashed')
    result = drive(step, PARAMS, Timer(clock.monotonic, clock.sleep))
    assert result['failed'] is True and result['msg'] == 'module crashed'


def test_progress_line_truncates_long_id_lists():
    line = progress_line('A', dict(status=CANCELLING, running_tasks=['T%d' % i for i in range(12)]), 12.7)
    assert line.startswith('octopus_node: A cancelling, 12 tasks still running (T0, T1,') and line.endswith(', ...), 12s left')


def test_put_node_without_retries_still_reconciles_a_lost_answer(octo):
    octo.fault('PUT', '.', kind='timeout', phase='after')
    after, changed = put_node(OctopusClient(URL, KEY, max_retries=0), 'OctopusServerNodes-A', dict(IsInMaintenanceMode=True))
    assert changed is True and after['IsInMaintenanceMode'] is True
    assert [m for m, p, q, b in octo.log] == ['GET', 'PUT', 'GET']


def test_put_node_without_retries_fails_when_the_put_did_not_land(octo):
    octo.fault('PUT', '.', kind='timeout', phase='before')
    with pytest.raises(OctopusApiError) as err:
        put_node(OctopusClient(URL, KEY, max_retries=0), 'OctopusServerNodes-A', dict(IsInMaintenanceMode=True))
    assert err.value.status == -1
    assert [m for m, p, q, b in octo.log] == ['GET', 'PUT', 'GET']
