# Copyright (c) octopus.ha contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Tasks: queue polling, drain, cap, running, cancel, orphans, node deletion, filters, paging."""
from __future__ import absolute_import, division, print_function
__metaclass__ = type

import pytest

from octosim.testing import SimulatorError

TWO = {'nodes': [{'Name': 'A', 'PollOffset': 5}, {'Name': 'B', 'PollOffset': 15}]}


def task(sim, task_id):
    status, dummy, body = sim.request('GET', 'tasks/%s' % task_id)
    assert status == 200
    return body


def drain(sim, name, drained=True):
    dummy, dummy2, node = sim.request('GET', 'octopusservernodes/OctopusServerNodes-%s' % name)
    node['IsInMaintenanceMode'] = drained
    assert sim.request('PUT', 'octopusservernodes/OctopusServerNodes-%s' % name, node)[0] == 200


def test_queued_task_is_picked_up_at_the_next_poll_of_a_node(make_sim):
    sim = make_sim(TWO)
    queued = sim.control.add_task(Name='Deploy', Duration=30)
    assert queued['State'] == 'Queued' and queued['ServerNode'] is None
    sim.control.advance(4.9)
    assert task(sim, queued['Id'])['State'] == 'Queued'
    sim.control.advance(0.1)   # A polls at :05
    body = task(sim, queued['Id'])
    assert body['State'] == 'Executing'
    assert body['ServerNode'] == 'OctopusServerNodes-A'
    assert body['StartTime'] == '2024-03-01T10:00:05.000+00:00'
    assert body['HasBeenPickedUpByProcessor'] is True
    assert body['Completed'] == 'Executing...'
    sim.control.advance(30)
    body = task(sim, queued['Id'])
    assert body['State'] == 'Success'
    assert body['IsCompleted'] is True and body['FinishedSuccessfully'] is True
    assert body['CompletedTime'] == '2024-03-01T10:00:35.000+00:00'
    assert body['Duration'] == '30 seconds'
    assert body['Completed'] == 'Friday, March 1, 2024 10:00 AM'


def test_every_node_polls_every_20_seconds(make_sim):
    sim = make_sim({'nodes': [{'Name': 'A', 'PollOffset': 5}]})
    sim.control.advance(6)
    queued = sim.control.add_task(Name='Deploy', Duration=30)
    sim.control.advance(18.9)
    assert task(sim, queued['Id'])['State'] == 'Queued'
    sim.control.advance(0.2)
    assert task(sim, queued['Id'])['StartTime'] == '2024-03-01T10:00:25.000+00:00'


def test_one_big_advance_processes_events_in_order(make_sim):
    sim = make_sim({'nodes': [{'Name': 'A', 'PollOffset': 0, 'MaxConcurrentTasks': 1}]})
    ids = [sim.control.add_task(Name='Deploy', Duration=30)['Id'] for dummy in range(3)]
    sim.control.advance(200)
    starts = [task(sim, i)['StartTime'] for i in ids]
    # FIFO, one at a time: a task ends at +30, the next is picked up at the next poll (every 20 s)
    assert starts == ['2024-03-01T10:00:20.000+00:00', '2024-03-01T10:01:00.000+00:00', '2024-03-01T10:01:40.000+00:00']
    assert [task(sim, i)['State'] for i in ids] == ['Success'] * 3


def test_drained_node_takes_no_work(make_sim):
    sim = make_sim(TWO)
    drain(sim, 'A')
    queued = sim.control.add_task(Name='Deploy', Duration=300)
    sim.control.advance(100)
    assert task(sim, queued['Id'])['ServerNode'] == 'OctopusServerNodes-B'
    drain(sim, 'B')
    second = sim.control.add_task(Name='Deploy', Duration=300)
    sim.control.advance(100)
    assert task(sim, second['Id'])['State'] == 'Queued'


def test_drained_node_finishes_what_it_runs(make_sim):
    sim = make_sim(TWO)
    running = sim.control.add_task(Name='Deploy', ServerNode='A', Duration=50)
    drain(sim, 'A')
    sim.control.advance(50)
    assert task(sim, running['Id'])['State'] == 'Success'


def test_ends_after_drain_knob_ends_the_task_that_long_after_the_drain(make_sim):
    sim = make_sim(TWO)
    waiting = sim.control.add_task(Name='Deploy', ServerNode='A', State='Executing', Duration=10 ** 7, EndsAfterDrain=2)
    other = sim.control.add_task(Name='Deploy', ServerNode='B', State='Executing', Duration=10 ** 7, EndsAfterDrain=2)
    sim.control.advance(1000)
    assert task(sim, waiting['Id'])['State'] == 'Executing', 'not drained yet: it runs on'
    drain(sim, 'A')
    sim.control.advance(1)
    assert task(sim, waiting['Id'])['State'] == 'Executing'
    sim.control.advance(1)
    assert task(sim, waiting['Id'])['State'] == 'Success'
    assert task(sim, other['Id'])['State'] == 'Executing', 'only the drained node\'s task'
    drain(sim, 'A', drained=False)
    drain(sim, 'A')
    sim.control.advance(5)
    assert task(sim, other['Id'])['State'] == 'Executing'


def test_task_cap_is_respected_and_cap_zero_takes_nothing(make_sim):
    sim = make_sim({'nodes': [{'Name': 'A', 'MaxConcurrentTasks': 2, 'PollOffset': 1}, {'Name': 'Z', 'MaxConcurrentTasks': 0}]})
    ids = [sim.control.add_task(Name='Deploy', Duration=1000)['Id'] for dummy in range(4)]
    sim.control.advance(100)
    states = [task(sim, i)['State'] for i in ids]
    assert states == ['Executing', 'Executing', 'Queued', 'Queued']
    dummy, dummy2, body = sim.request('GET', 'octopusservernodes/summary')
    counts = dict((n['Name'], n['RunningTaskCount']) for n in body['Nodes'])
    assert counts == {'A': 2, 'Z': 0}


def test_stopped_node_takes_no_work_and_does_not_finish(make_sim):
    sim = make_sim({'nodes': [{'Name': 'A', 'PollOffset': 1}, {'Name': 'B', 'MaxConcurrentTasks': 0}]})
    running = sim.control.add_task(Name='Deploy', ServerNode='A', Duration=10)
    sim.control.stop_node('A')
    queued = sim.control.add_task(Name='Deploy', Duration=10)
    sim.control.advance(100)
    assert task(sim, running['Id'])['State'] == 'Executing'
    assert task(sim, queued['Id'])['State'] == 'Queued'


def test_restarted_node_gives_up_its_old_tasks(make_sim):
    sim = make_sim({'nodes': [{'Name': 'A', 'PollOffset': 1}]})
    running = sim.control.add_task(Name='Deploy', ServerNode='A', Duration=1000)
    sim.control.stop_node('A')
    sim.control.advance(100)
    sim.control.start_node('A')
    body = task(sim, running['Id'])
    assert body['State'] == 'Canceled'
    assert 'restarted' in body['ErrorMessage']


def test_pending_interruption_never_finishes_on_its_own(make_sim):
    # A deployment waiting on a manual intervention is Queued, pinned to its node (Issues #4564, #6372;
    # tests/simulator/test_fidelity.py has the rest of that model).
    sim = make_sim(TWO)
    waiting = sim.control.add_task(Name='Deploy', ServerNode='A', Duration=10, HasPendingInterruptions=True)
    sim.control.advance(5000)
    body = task(sim, waiting['Id'])
    assert body['State'] == 'Queued' and body['ServerNode'] == 'OctopusServerNodes-A'
    assert body['HasPendingInterruptions'] is True
    assert body['PendingInterruptionTypes'] == ['ManualIntervention']
    dummy, dummy2, page = sim.request('GET', 'tasks?hasPendingInterruptions=true')
    assert [t['Id'] for t in page['Items']] == [waiting['Id']]


def test_configured_outcome(make_sim):
    sim = make_sim(TWO)
    failing = sim.control.add_task(Name='Deploy', ServerNode='A', Duration=10, Outcome='Failed', OutcomeErrorMessage='boom')
    sim.control.advance(10)
    body = task(sim, failing['Id'])
    assert (body['State'], body['ErrorMessage'], body['FinishedSuccessfully']) == ('Failed', 'boom', False)


@pytest.mark.parametrize('path', ['tasks/%s/cancel', 'Spaces-1/tasks/%s/cancel', 'spaces/Spaces-1/tasks/%s/cancel'])
def test_cancel_executing_on_a_live_node(make_sim, path):
    sim = make_sim(TWO)
    running = sim.control.add_task(Name='Deploy', ServerNode='A', Duration=1000)
    status, dummy, body = sim.request('POST', path % running['Id'])
    assert status == 200
    assert body['State'] == 'Cancelling'
    assert body['Id'] == running['Id']
    sim.control.advance(4.9)
    assert task(sim, running['Id'])['State'] == 'Cancelling'
    sim.control.advance(0.1)
    body = task(sim, running['Id'])
    assert body['State'] == 'Canceled'
    assert body['IsCompleted'] is True
    assert body['CompletedTime'] == '2024-03-01T10:00:05.000+00:00'


def test_cancel_queued_is_immediate(make_sim):
    sim = make_sim(TWO)
    queued = sim.control.add_task(Name='Deploy', Duration=10)
    status, dummy, body = sim.request('POST', 'tasks/%s/cancel' % queued['Id'])
    assert (status, body['State'], body['IsCompleted']) == (200, 'Canceled', True)


def test_cancel_of_a_terminal_or_cancelling_task_returns_it_unchanged(make_sim):
    sim = make_sim(TWO)
    done = sim.control.add_task(Name='Deploy', State='Success', ServerNode='A', CompletedAgo=60)
    status, dummy, body = sim.request('POST', 'tasks/%s/cancel' % done['Id'])
    assert (status, body['State']) == (200, 'Success')
    running = sim.control.add_task(Name='Deploy', ServerNode='A', Duration=1000)
    sim.request('POST', 'tasks/%s/cancel' % running['Id'])
    sim.control.advance(2)
    status, dummy, body = sim.request('POST', 'tasks/%s/cancel' % running['Id'])
    assert (status, body['State']) == (200, 'Cancelling')
    sim.control.advance(3)
    assert task(sim, running['Id'])['State'] == 'Canceled'


def test_cancelling_sticks_while_the_owner_is_gone_then_orphan_sweep(make_sim):
    sim = make_sim(TWO)
    running = sim.control.add_task(Name='Deploy', ServerNode='A', Duration=100000)
    sim.control.advance(15)
    sim.control.stop_node('A')
    sim.request('POST', 'tasks/%s/cancel' % running['Id'])
    sim.control.advance(3599.9)
    assert task(sim, running['Id'])['State'] == 'Cancelling'
    sim.control.advance(0.2)   # LastSeen (10:00:15) + 3600 s
    body = task(sim, running['Id'])
    assert body['State'] == 'Failed'
    assert 'OctopusServerNodes-A' in body['ErrorMessage']
    assert body['CompletedTime'] == '2024-03-01T11:00:15.000+00:00'


def test_cancelling_resolves_when_the_owner_comes_back(make_sim):
    sim = make_sim(TWO)
    running = sim.control.add_task(Name='Deploy', ServerNode='A', Duration=100000)
    sim.control.stop_node('A')
    sim.request('POST', 'tasks/%s/cancel' % running['Id'])
    sim.control.advance(600)
    assert task(sim, running['Id'])['State'] == 'Cancelling'
    sim.control.start_node('A')
    assert task(sim, running['Id'])['State'] == 'Canceled'


def test_orphan_outcome_and_threshold_are_configurable(make_sim):
    sim = make_sim(dict(TWO, timing={'orphan_after': 120, 'orphan_outcome': 'Canceled'}))
    running = sim.control.add_task(Name='Deploy', ServerNode='B', Duration=100000)
    sim.control.stop_node('B')
    sim.control.advance(119)
    assert task(sim, running['Id'])['State'] == 'Executing'
    sim.control.advance(1)
    assert task(sim, running['Id'])['State'] == 'Canceled'


def test_delete_node_fails_its_running_tasks_at_once(make_sim):
    sim = make_sim(TWO)
    running = sim.control.add_task(Name='Deploy', ServerNode='A', Duration=1000)
    cancelling = sim.control.add_task(Name='Deploy', ServerNode='A', Duration=1000, State='Cancelling')
    other = sim.control.add_task(Name='Deploy', ServerNode='B', Duration=1000)
    assert sim.request('DELETE', 'octopusservernodes/OctopusServerNodes-A')[0] == 200
    for task_id in (running['Id'], cancelling['Id']):
        body = task(sim, task_id)
        assert body['State'] == 'Failed'
        assert 'deleted' in body['ErrorMessage']
    assert task(sim, other['Id'])['State'] == 'Executing'


def test_deleted_live_node_can_reregister_when_configured(make_sim):
    sim = make_sim(dict(TWO, timing={'deleted_live_node_reregisters': True}))
    sim.request('DELETE', 'octopusservernodes/OctopusServerNodes-A')
    assert sim.request('GET', 'octopusservernodes/OctopusServerNodes-A')[0] == 404
    sim.control.advance(15)
    assert sim.request('GET', 'octopusservernodes/OctopusServerNodes-A')[0] == 200


def test_finish_control_call(make_sim):
    sim = make_sim(TWO)
    running = sim.control.add_task(Name='Deploy', ServerNode='A', Duration=1000)
    body = sim.control.finish_task(running['Id'], 'TimedOut')
    assert body['State'] == 'TimedOut'
    assert task(sim, running['Id'])['IsCompleted'] is True


def make_many(sim):
    ids = []
    for number in range(35):
        ids.append(sim.control.add_task(Name='Deploy' if number % 2 else 'Health', Duration=10, QueuedAgo=1000 - number,
                                        State='Success', ServerNode='B', CompletedAgo=500)['Id'])
    return ids


def test_task_list_paging_newest_first(make_sim):
    sim = make_sim(TWO)
    ids = make_many(sim)
    status, dummy, page = sim.request('GET', 'tasks')
    assert status == 200
    assert page['ItemType'] == 'Task'
    assert (page['TotalResults'], page['ItemsPerPage'], page['NumberOfPages'], page['LastPageNumber']) == (35, 30, 2, 1)
    assert len(page['Items']) == 30
    assert page['Items'][0]['Id'] == ids[-1]
    assert page['Links']['Page.Next'] == '/api/tasks?skip=30&take=30'
    dummy, dummy2, second = sim.request('GET', page['Links']['Page.Next'])
    assert [t['Id'] for t in second['Items']] == list(reversed(ids[:5]))
    assert 'Page.Next' not in second['Links']
    assert page['TotalCounts']['Success'] == 35


def test_task_filters(make_sim):
    sim = make_sim({'nodes': ['A', 'B'], 'spaces': [{'Id': 'Spaces-1', 'Name': 'Default'}, {'Id': 'Spaces-2', 'Name': 'Other'}]})
    on_a = sim.control.add_task(Name='Deploy', ServerNode='A', Duration=1000)
    on_b = sim.control.add_task(Name='Deploy', ServerNode='B', Duration=1000, SpaceId='Spaces-2')
    cancelling = sim.control.add_task(Name='RunbookRun', ServerNode='A', Duration=1000, State='Cancelling')
    system = sim.control.add_task(Name='Backup', ServerNode='A', Duration=1000, SpaceId=None)
    queued = sim.control.add_task(Name='Health', Duration=1000)
    done = sim.control.add_task(Name='Deploy', State='Success', ServerNode='A')

    def ids(query):
        status, dummy, page = sim.request('GET', 'tasks?' + query)
        assert status == 200, page
        return sorted(t['Id'] for t in page['Items'])

    everything = 'spaces=all&includeSystem=true'
    assert ids('node=OctopusServerNodes-A&states=Executing,Cancelling&' + everything) == sorted(
        [on_a['Id'], cancelling['Id'], system['Id']])
    assert ids('node=OctopusServerNodes-A&states=Executing,Cancelling') == sorted([on_a['Id'], cancelling['Id']])
    assert ids('node=OctopusServerNodes-B&states=Executing&spaces=all') == [on_b['Id']]
    assert ids('node=OctopusServerNodes-B&states=Executing&spaces=Spaces-2') == [on_b['Id']]
    assert ids('node=OctopusServerNodes-B') == []      # default space only
    assert ids('running=true&' + everything) == sorted([on_a['Id'], on_b['Id'], cancelling['Id'], system['Id']])
    assert ids('active=true') == sorted([on_a['Id'], cancelling['Id'], queued['Id']])
    assert ids('name=Health,RunbookRun') == sorted([queued['Id'], cancelling['Id']])
    assert ids('ids=%s,%s' % (done['Id'], on_b['Id'])) == [done['Id']]
    assert ids('states=success&' + everything) == [done['Id']]
    assert sim.request('GET', 'tasks?states=Bogus')[0] == 400
    assert sim.request('GET', 'tasks?running=maybe')[0] == 400
    status, dummy, page = sim.request('GET', 'Spaces-2/tasks')
    assert [t['Id'] for t in page['Items']] == [on_b['Id']]
    status, dummy, page = sim.request('GET', 'spaces/Spaces-2/tasks?states=Executing')
    assert [t['Id'] for t in page['Items']] == [on_b['Id']]


def test_space_scoped_task_paths(make_sim):
    sim = make_sim({'nodes': ['A'], 'spaces': [{'Id': 'Spaces-1', 'Name': 'Default'}, {'Id': 'Spaces-2', 'Name': 'Other'}]})
    other = sim.control.add_task(Name='Deploy', ServerNode='A', Duration=1000, SpaceId='Spaces-2')
    assert sim.request('GET', 'Spaces-2/tasks/%s' % other['Id'])[0] == 200
    assert sim.request('GET', 'spaces/Spaces-2/tasks/%s' % other['Id'])[0] == 200
    assert sim.request('GET', 'tasks/%s' % other['Id'])[0] == 200
    assert sim.request('GET', 'Spaces-1/tasks/%s' % other['Id'])[0] == 404
    assert sim.request('POST', 'Spaces-1/tasks/%s/cancel' % other['Id'])[0] == 404
    assert sim.request('GET', 'Spaces-9/tasks/%s' % other['Id'])[0] == 404
    assert sim.request('GET', 'tasks/ServerTasks-999')[0] == 404
    assert sim.request('POST', 'tasks/ServerTasks-999/cancel')[0] == 404
    status, dummy, details = sim.request('GET', 'tasks/%s/details' % other['Id'])
    assert status == 200 and details['Task']['Id'] == other['Id']


def test_control_task_validation(make_sim):
    sim = make_sim(TWO)
    for spec in ({'State': 'Executing'}, {'ServerNode': 'NOPE'}, {'State': 'Bogus'}, {'SpaceId': 'Spaces-9'}):
        with pytest.raises(SimulatorError) as info:
            sim.control.add_task(**spec)
        assert info.value.status == 400
    with pytest.raises(SimulatorError):
        sim.control.finish_task('ServerTasks-999')


def test_create_a_task_through_the_api(make_sim):
    sim = make_sim(dict(TWO, timing={'created_task_duration': 10}))
    body = {'Name': 'Health', 'Description': 'Manual health check',
            'Arguments': {'Timeout': '00:05:00', 'RestrictedTo': 'DeploymentTargets', 'MachineIds': ['Machines-1']}}
    status, dummy, created = sim.request('POST', 'Spaces-1/tasks', body)
    assert status == 201
    assert (created['State'], created['SpaceId'], created['Name']) == ('Queued', 'Spaces-1', 'Health')
    assert created['Arguments']['MachineIds'] == ['Machines-1']
    sim.control.advance(20)
    assert task(sim, created['Id'])['State'] == 'Success'
    assert sim.request('POST', 'tasks', {'Name': 'Health'})[0] == 400
    assert sim.request('POST', 'tasks')[0] == 400
    assert sim.request('POST', 'tasks', dict(body, SpaceId='Spaces-7'))[0] == 400
