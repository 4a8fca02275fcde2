# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# Copyright: Contributors to the octopus.ha collection
"""Unit tests of _octopus_tasks (cancel with re-read, wait until terminal, poll schedule).

``FakeOctopus`` (fake_octopus.py beside this file) models the Octopus API behind ``open_url``.
"""

from __future__ import absolute_import, division, print_function
__metaclass__ = type

import pytest

from ansible_collections.octopus.ha.plugins.module_utils._octopus_api import OctopusApiError, OctopusClient
from ansible_collections.octopus.ha.tests.unit.plugins.module_utils.fake_octopus import KEY, URL, Clock, patched
from ansible_collections.octopus.ha.plugins.module_utils._octopus_tasks import (
    PollSchedule,
    Timer,
    cancel_task,
    cancel_tasks,
    task_path,
    wait_terminal,
)


@pytest.fixture
def clock():
    return Clock()


@pytest.fixture
def octo(clock, monkeypatch):
    """A FakeOctopus behind every OctopusClient, with the fake clock in _octopus_api and _octopus_tasks."""
    return patched(clock, monkeypatch)


@pytest.fixture
def client(octo):
    return OctopusClient(URL, KEY, max_retries=3)


# ---- poll schedule ---------------------------------------------------------------------

def test_schedule_interval_is_a_25th_of_the_time_waited_between_the_bounds(clock):
    schedule = PollSchedule(Timer(clock.monotonic, clock.sleep), 1800, 1, 30)
    while schedule.pause():
        pass
    waited = 0
    for pause in clock.sleeps[:-1]:
        assert pause == min(30, max(1, waited // 25))
        waited += pause
    assert clock.sleeps[:50] == [1] * 50 and set(clock.sleeps[-10:-1]) == {30}
    assert sum(clock.sleeps) == 1800
    # A 30-minute wait costs about 25 + 25 * (1 + 1/2 + ... + 1/29) + (1800 - 750) / 30 = 160 polls, not 1800.
    assert 150 < len(clock.sleeps) < 170


def test_schedule_resumes_a_phase_an_earlier_run_began(clock):
    schedule = PollSchedule(Timer(clock.monotonic, clock.sleep), 1800, 1, 30, elapsed=500)
    assert schedule.remaining() == 1300 and schedule.elapsed() == 500
    schedule.pause()
    assert clock.sleeps == [20]


def test_every_poll_of_a_wait_sees_a_task_end_at_most_4_percent_late(clock):
    schedule = PollSchedule(Timer(clock.monotonic, clock.sleep), 3600, 1, 30)
    polls = [clock.now]
    while schedule.pause():
        polls.append(clock.now)
    start = polls[0]
    for before, after in zip(polls, polls[1:]):
        # A task that ends just after the poll at `before` is seen at `after`.
        assert after - before <= max(1, 0.04 * (after - start)) + 1e-9


def test_schedule_never_sleeps_past_the_deadline(clock):
    schedule = PollSchedule(Timer(clock.monotonic, clock.sleep), 12, 5, 30)
    polls = 0
    while schedule.pause():
        polls += 1
    assert clock.sleeps == [5, 5, 2]
    assert polls == 3
    assert schedule.remaining() == 0


def test_schedule_sleeps_only_the_rest_of_an_interval_but_never_busy_loops(clock):
    schedule = PollSchedule(Timer(clock.monotonic, clock.sleep), 100, 5, 30)
    clock.now += 3.5   # a slow poll
    schedule.pause()
    clock.now += 9     # a poll slower than the interval
    schedule.pause()
    assert clock.sleeps == [1.5, 1.0]


def test_schedule_max_below_poll_interval_is_poll_interval(clock):
    schedule = PollSchedule(Timer(clock.monotonic, clock.sleep), 1000, 10, 3)
    while schedule.pause():
        pass
    assert set(clock.sleeps[:-1]) == {10}


# ---- cancel ------------------------------------------------------------------------------

def test_task_path_uses_the_space_and_encodes():
    assert task_path(dict(Id='ServerTasks-1', SpaceId='Spaces-2'), '/cancel') == 'Spaces-2/tasks/ServerTasks-1/cancel'
    assert task_path(dict(Id='ServerTasks-1', SpaceId=None)) == 'tasks/ServerTasks-1'
    assert task_path(dict(Id='a/b c', SpaceId='S 1')) == 'S%201/tasks/a%2Fb%20c'


def test_cancel_posts_once_through_the_space_path(octo, client):
    octo.add_node('A')
    octo.add_task('ServerTasks-1', 'A', space='Spaces-7')
    octo.add_task('ServerTasks-2', 'A', space=None)
    assert cancel_task(client, dict(Id='ServerTasks-1', SpaceId='Spaces-7')) == 'cancelled'
    assert cancel_task(client, dict(Id='ServerTasks-2', SpaceId=None)) == 'cancelled'
    assert octo.mutations() == [('POST', 'Spaces-7/tasks/ServerTasks-1/cancel'), ('POST', 'tasks/ServerTasks-2/cancel')]


@pytest.mark.parametrize('kind,status', [('timeout', None), ('status', 503), ('status', 500)])
def test_cancel_unknown_outcome_rereads_and_does_not_repost_when_it_landed(octo, client, kind, status):
    octo.add_node('A')
    octo.add_task('ServerTasks-1', 'A')
    octo.cancel_delay = 60
    octo.fault('POST', 'cancel$', kind=kind, status=status, phase='after')
    assert cancel_task(client, dict(Id='ServerTasks-1', SpaceId='Spaces-1')) == 'cancelled'
    assert octo.count('POST') == 1
    assert octo.log[-1][:2] == ('GET', 'Spaces-1/tasks/ServerTasks-1')


def test_cancel_unknown_outcome_reposts_only_while_still_executing(octo, client):
    octo.add_node('A')
    octo.add_task('ServerTasks-1', 'A')
    octo.cancel_delay = 60
    octo.fault('POST', 'cancel$', kind='timeout', phase='before')
    assert cancel_task(client, dict(Id='ServerTasks-1', SpaceId='Spaces-1')) == 'cancelled'
    assert [m for m, p, q, b in octo.log] == ['POST', 'GET', 'POST']
    assert octo.state('ServerTasks-1') == 'Cancelling'


def test_cancel_of_a_finished_task_is_already_terminal(octo, client):
    octo.add_node('A')
    octo.add_task('ServerTasks-1', 'A')
    octo.fault('POST', 'cancel$', status=400)
    octo.tasks['ServerTasks-1']['State'] = 'Success'
    assert cancel_task(client, dict(Id='ServerTasks-1', SpaceId='Spaces-1')) == 'already_terminal'
    assert octo.count('POST') == 1


@pytest.mark.parametrize('status', [401, 403])
def test_cancel_auth_errors_fail_at_once(octo, client, status):
    octo.add_node('A')
    octo.add_task('ServerTasks-1', 'A')
    octo.fault('POST', 'cancel$', status=status)
    with pytest.raises(OctopusApiError) as err:
        cancel_task(client, dict(Id='ServerTasks-1', SpaceId='Spaces-1'))
    assert err.value.status == status
    assert len(octo.log) == 1
    assert KEY not in str(err.value)


def test_cancel_tasks_sorts_outcomes_and_check_mode_posts_nothing(octo, client):
    octo.add_node('A')
    tasks = [dict(Id='T1', SpaceId='Spaces-1', State='Executing'), dict(Id='T2', SpaceId='Spaces-1', State='Cancelling'),
             dict(Id='T3', SpaceId='Spaces-1', State='Success')]
    assert cancel_tasks(client, tasks, check_mode=True) == dict(cancelled=['T1'], cancelling=['T2'], already_terminal=['T3'])
    assert octo.log == []


# ---- wait --------------------------------------------------------------------------------

def test_wait_terminal_polls_until_done(octo, client, clock):
    octo.add_node('A')
    octo.add_task('T1', 'A', duration=12)
    octo.add_task('T2', 'A', duration=3)
    seen = []
    result = wait_terminal(client, ['T1', 'T2'], PollSchedule(Timer(), 300, 5, 30), progress=lambda ids, left: seen.append(list(ids)))
    assert result == dict(states={'T1': 'Success', 'T2': 'Success'}, stuck=[], owner_gone=[])
    assert clock.sleeps == [5, 5, 5]
    assert seen == [['T1', 'T2'], ['T1'], ['T1']]


def test_wait_terminal_reports_cancelling_tasks_of_an_offline_node_at_once(octo, client, clock):
    octo.add_node('A', offline=True)
    octo.add_task('T1', 'A', state='Cancelling')
    result = wait_terminal(client, ['T1'], PollSchedule(Timer(), 300, 5, 30))
    assert result == dict(states={'T1': 'Cancelling'}, stuck=['T1'], owner_gone=['T1'])
    assert clock.sleeps == []


def test_wait_terminal_stops_at_the_deadline(octo, client, clock):
    octo.add_node('A')
    octo.add_task('T1', 'A', state='Cancelling')
    octo.tasks['T1']['cancel_at'] = 10 ** 9
    result = wait_terminal(client, ['T1'], PollSchedule(Timer(), 20, 5, 30))
    assert result['stuck'] == ['T1'] and result['owner_gone'] == []
    assert sum(clock.sleeps) == 20
