# Copyright (c) octopus.ha contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Nodes: heartbeat, offline, ping, summary, PUT/DELETE, paging, /node/<name>/api, serving node."""
from __future__ import absolute_import, division, print_function
__metaclass__ = type

import pytest

from octosim.testing import SimulatorError

THREE = {'nodes': [{'Name': 'A', 'PollOffset': 0}, {'Name': 'B', 'PollOffset': 5}, {'Name': 'C', 'PollOffset': 10}]}


def summary(sim):
    status, dummy, body = sim.request('GET', 'octopusservernodes/summary')
    assert status == 200
    return dict((n['Name'], n) for n in body['Nodes'])


def node_url_id(name):
    return 'octopusservernodes/OctopusServerNodes-%s' % name


def test_heartbeat_updates_last_seen_every_15_seconds(make_sim):
    sim = make_sim(THREE)
    first = summary(sim)['A']['LastSeen']
    assert first == '2024-03-01T10:00:00.000+00:00'
    sim.control.advance(14)
    assert summary(sim)['A']['LastSeen'] == first
    sim.control.advance(1)
    assert summary(sim)['A']['LastSeen'] == '2024-03-01T10:00:15.000+00:00'


def test_stopped_node_goes_offline_after_60_seconds(make_sim):
    sim = make_sim(THREE)
    sim.control.advance(15)
    sim.control.stop_node('B')
    sim.control.advance(59)
    node = summary(sim)['B']
    assert node['IsOffline'] is False
    assert node['LastSeen'] == '2024-03-01T10:00:15.000+00:00'
    sim.control.advance(2)
    node = summary(sim)['B']
    assert node['IsOffline'] is True
    assert node['LastSeen'] == '2024-03-01T10:00:15.000+00:00'
    sim.control.start_node('B')
    node = summary(sim)['B']
    assert node['IsOffline'] is False
    assert node['LastSeen'] == '2024-03-01T10:01:16.000+00:00'


def test_graceful_stop_is_offline_at_once(make_sim):
    sim = make_sim(THREE)
    sim.control.stop_node('C', graceful=True)
    assert summary(sim)['C']['IsOffline'] is True


def test_node_configured_without_heartbeat_and_never_seen(make_sim):
    sim = make_sim({'nodes': ['A', {'Name': 'OLD', 'Heartbeat': False, 'LastSeenAgo': 7200}, {'Name': 'NEW', 'Heartbeat': False}]})
    nodes = summary(sim)
    assert nodes['OLD']['IsOffline'] is True
    assert nodes['OLD']['LastSeen'] == '2024-03-01T08:00:00.000+00:00'
    assert nodes['NEW']['LastSeen'] is None
    assert nodes['NEW']['IsOffline'] is True


def test_ping_reflects_the_node_it_is_served_by(make_sim):
    sim = make_sim(THREE)
    status, headers, body = sim.request('GET', 'octopusservernodes/ping', api_key=None, node='B')
    assert status == 200
    assert headers['Octopus-Node'] == 'name=B; version=2023.4.8319'
    assert body['Id'] == 'OctopusServerNodes-B'
    assert body['Links'] == {'Self': '/node/B/api/octopusservernodes/ping', 'Node': '/node/B/api/octopusservernodes/OctopusServerNodes-B'}
    assert sim.request('GET', 'octopusservernodes/ping', api_key=None)[2]['Links']['Self'] == '/api/octopusservernodes/ping'
    assert set(body) >= {'Id', 'Name', 'LastSeen', 'IsOffline', 'MaxConcurrentTasks', 'IsInMaintenanceMode', 'Version', 'Links'}
    status, dummy, node = sim.request('GET', node_url_id('B'))
    node['IsInMaintenanceMode'] = True
    assert sim.request('PUT', node_url_id('B'), node)[0] == 200
    status, headers, body = sim.request('GET', 'octopusservernodes/ping', api_key=None, node='B')
    assert status == 418
    assert body['IsInMaintenanceMode'] is True
    sim.control.stop_node('C')
    sim.control.advance(61)
    status, headers, body = sim.request('GET', 'octopusservernodes/ping', api_key=None, node='C')
    assert status == 418
    assert body['IsOffline'] is True


def test_ping_418_for_a_stopped_node_even_before_it_is_offline(make_sim):
    sim = make_sim(THREE)
    sim.control.stop_node('C')
    status, dummy, body = sim.request('GET', 'octopusservernodes/ping', api_key=None, node='C')
    assert status == 418
    assert body['IsOffline'] is False


def test_api_is_served_by_the_serving_node_and_fails_over(make_sim):
    sim = make_sim(dict(THREE, server={'serving_node': 'B'}))
    assert sim.request('GET', '/api')[1]['Octopus-Node'].startswith('name=B;')
    status, dummy, node = sim.request('GET', node_url_id('B'))
    node['IsInMaintenanceMode'] = True
    sim.request('PUT', node_url_id('B'), node)
    # the load balancer takes the drained node out of rotation (its ping is 418)
    assert sim.request('GET', '/api')[1]['Octopus-Node'].startswith('name=A;')
    assert sim.request('GET', 'octopusservernodes/ping', api_key=None)[0] == 200
    sim.control.set_serving_node('C')
    assert sim.request('GET', '/api/')[1]['Octopus-Node'].startswith('name=C;')


def test_no_live_node_gives_a_load_balancer_503(make_sim):
    sim = make_sim({'nodes': ['A']})
    sim.control.stop_node('A')
    status, headers, body = sim.request('GET', '/api')
    assert status == 503
    assert 'Octopus-Node' not in headers
    assert '<html>' in body


def test_all_drained_fails_open(make_sim):
    sim = make_sim({'nodes': ['A']})
    status, dummy, node = sim.request('GET', node_url_id('A'))
    node['IsInMaintenanceMode'] = True
    sim.request('PUT', node_url_id('A'), node)
    status, headers, dummy = sim.request('GET', 'octopusservernodes/ping', api_key=None)
    assert status == 418
    assert headers['Octopus-Node'].startswith('name=A;')


def test_unknown_node_url_is_404(make_sim):
    sim = make_sim(THREE)
    status, dummy, body = sim.request('GET', 'octopusservernodes/ping', node='NOPE')
    assert status == 404
    assert 'NOPE' in body['ErrorMessage']


def test_node_get_put_delete(make_sim):
    sim = make_sim(THREE)
    status, headers, node = sim.request('GET', node_url_id('A'))
    assert status == 200
    assert node == {'Id': 'OctopusServerNodes-A', 'Name': 'A', 'MaxConcurrentTasks': 5, 'IsInMaintenanceMode': False,
                    'LastModifiedOn': None, 'LastModifiedBy': None,
                    'Links': {'Self': '/api/octopusservernodes/OctopusServerNodes-A',
                              'Details': '/api/octopusservernodes/OctopusServerNodes-A/details'}}
    node['MaxConcurrentTasks'] = 2
    status, dummy, updated = sim.request('PUT', node_url_id('A'), node)
    assert status == 200
    assert updated['MaxConcurrentTasks'] == 2
    assert updated['LastModifiedBy'] == 'admin'
    assert updated['LastModifiedOn'] == '2024-03-01T10:00:00.000+00:00'
    status, dummy, body = sim.request('DELETE', node_url_id('A'))
    assert (status, body) == (200, {})
    status, dummy, body = sim.request('GET', node_url_id('A'))
    assert status == 404
    assert set(body) >= {'ErrorMessage', 'Errors'}
    assert sim.request('DELETE', node_url_id('A'))[0] == 404
    assert sim.request('PUT', node_url_id('A'), node)[0] == 404


def test_put_renames_when_the_body_carries_another_name(make_sim):
    sim = make_sim(THREE)
    dummy, dummy2, node = sim.request('GET', node_url_id('A'))
    node['Name'] = 'A-RENAMED'
    status, dummy, body = sim.request('PUT', node_url_id('A'), node)
    assert status == 200
    assert body['Id'] == 'OctopusServerNodes-A'
    assert body['Name'] == 'A-RENAMED'
    assert 'A-RENAMED' in summary(sim)
    # the node's own URL is reachable by both names
    assert sim.request('GET', 'octopusservernodes/ping', node='A')[2]['Name'] == 'A-RENAMED'


def test_put_resets_fields_missing_from_the_body(make_sim):
    sim = make_sim(THREE)
    status, dummy, body = sim.request('PUT', node_url_id('A'), {'Id': 'OctopusServerNodes-A', 'Name': 'A', 'IsInMaintenanceMode': True})
    assert status == 200
    assert body['MaxConcurrentTasks'] == 0
    assert body['IsInMaintenanceMode'] is True


@pytest.mark.parametrize('body, fragment', [
    ({'IsInMaintenanceMode': True}, 'Name'),
    ({'Name': 'A', 'MaxConcurrentTasks': -1}, 'MaxConcurrentTasks'),
    ({'Name': 'A', 'IsInMaintenanceMode': 'yes'}, 'IsInMaintenanceMode'),
    ({'Id': 'OctopusServerNodes-B', 'Name': 'A'}, 'does not match'),
])
def test_put_validation(make_sim, body, fragment):
    sim = make_sim(THREE)
    status, dummy, error = sim.request('PUT', node_url_id('A'), body)
    assert status == 400
    assert fragment in error['ErrorMessage'] + ' '.join(error['Errors'])


def test_put_without_body_or_with_bad_json(make_sim):
    sim = make_sim(THREE)
    assert sim.request('PUT', node_url_id('A'))[0] == 400
    assert sim.request('PUT', node_url_id('A'), b'{not json')[0] == 400


def test_node_collection_paging_and_filters(make_sim):
    sim = make_sim({'nodes': ['N%02d' % i for i in range(7)]})
    status, dummy, page = sim.request('GET', 'octopusservernodes?take=3')
    assert status == 200
    assert (page['TotalResults'], page['ItemsPerPage'], page['NumberOfPages'], page['LastPageNumber']) == (7, 3, 3, 2)
    assert [n['Name'] for n in page['Items']] == ['N00', 'N01', 'N02']
    assert page['Links']['Page.Next'] == '/api/octopusservernodes?skip=3&take=3'
    assert 'Page.Previous' not in page['Links']
    dummy, dummy2, last = sim.request('GET', page['Links']['Page.Next'].replace('skip=3', 'skip=6'))
    assert [n['Name'] for n in last['Items']] == ['N06']
    assert 'Page.Next' not in last['Links']
    assert last['Links']['Page.Previous'] == '/api/octopusservernodes?skip=3&take=3'
    dummy, dummy2, default = sim.request('GET', 'octopusservernodes')
    assert default['ItemsPerPage'] == 30 and len(default['Items']) == 7
    dummy, dummy2, byid = sim.request('GET', 'octopusservernodes?ids=OctopusServerNodes-N01,OctopusServerNodes-N03')
    assert [n['Name'] for n in byid['Items']] == ['N01', 'N03']
    dummy, dummy2, partial = sim.request('GET', 'octopusservernodes?partialName=n05')
    assert [n['Name'] for n in partial['Items']] == ['N05']
    status, dummy, everything = sim.request('GET', 'octopusservernodes/all')
    assert status == 200 and isinstance(everything, list) and len(everything) == 7
    assert sim.request('GET', 'octopusservernodes?take=abc')[0] == 400
    assert sim.request('GET', 'octopusservernodes?skip=-1')[0] == 400


def test_details_counts_running_tasks(make_sim):
    sim = make_sim(THREE)
    sim.control.add_task(Name='Deploy', ServerNode='A', Duration=100)
    sim.control.add_task(Name='Deploy', ServerNode='A', Duration=100, State='Cancelling')
    status, dummy, body = sim.request('GET', node_url_id('A') + '/details')
    assert status == 200
    assert body['Id'] == 'OctopusServerNodes-A'
    assert body['RunningTasks'] == 2
    assert summary(sim)['A']['RunningTaskCount'] == 2


def test_control_add_node_and_restart(make_sim):
    sim = make_sim(THREE)
    node = sim.control.add_node('D', MaxConcurrentTasks=0)
    assert node['Id'] == 'OctopusServerNodes-D'
    assert node['MaxConcurrentTasks'] == 0
    assert summary(sim)['D']['IsOffline'] is False
    sim.control.stop_node('D')
    sim.control.advance(120)
    assert summary(sim)['D']['IsOffline'] is True
    again = sim.control.add_node('D')
    assert again['IsOffline'] is False and again['MaxConcurrentTasks'] == 0


def test_method_not_allowed_and_unknown_path(make_sim):
    sim = make_sim(THREE)
    assert sim.request('POST', 'octopusservernodes/summary')[0] == 405
    assert sim.request('GET', 'nothing-here')[0] == 404


def test_links_served_through_a_node_url_stay_on_that_node(make_sim):
    sim = make_sim({'nodes': ['N%d' % i for i in range(3)]})
    status, dummy, page = sim.request('GET', 'octopusservernodes?take=1', node='N2')
    assert status == 200
    assert page['Links']['Page.Next'] == '/node/N2/api/octopusservernodes?skip=1&take=1'
    assert page['Items'][0]['Links']['Self'] == '/node/N2/api/octopusservernodes/OctopusServerNodes-N0'
    status, headers, dummy = sim.request('GET', page['Links']['Page.Next'])
    assert status == 200 and headers['Octopus-Node'].startswith('name=N2;')
    dummy, dummy2, page = sim.request('GET', 'octopusservernodes?take=1')
    assert page['Links']['Page.Next'] == '/api/octopusservernodes?skip=1&take=1'


def test_date_header_is_cluster_time_and_root_version_is_the_serving_nodes(make_sim):
    sim = make_sim({'server': {'version': '2023.4.8319'},
                    'nodes': [{'Name': 'OLD', 'Version': '2023.3.1000'}, {'Name': 'NEW'}]})
    sim.control.advance(75)
    status, headers, body = sim.request('GET', '/api', api_key=None)
    assert headers['Date'] == 'Fri, 01 Mar 2024 10:01:15 GMT'
    assert body['Version'] == '2023.3.1000'
    assert sim.request('GET', '/api', api_key=None, node='NEW')[2]['Version'] == '2023.4.8319'
    control_date = sim.control.call('GET', 'clock')
    assert control_date['now'] == '2024-03-01T10:01:15.000+00:00'


def test_duplicate_names_are_possible_with_distinct_ids(make_sim):
    sim = make_sim({'nodes': [{'Name': 'A', 'Id': 'OctopusServerNodes-1'}, {'Name': 'A', 'Id': 'OctopusServerNodes-2'}, 'B']})
    names = [n['Name'] for n in sim.request('GET', 'octopusservernodes/summary')[2]['Nodes']]
    assert sorted(names) == ['A', 'A', 'B']
    # a PUT may give a node the name of another one (the OctopusDeploy-Api PR #209 bug)
    dummy, dummy2, node = sim.request('GET', 'octopusservernodes/OctopusServerNodes-B')
    node['Name'] = 'A'
    assert sim.request('PUT', 'octopusservernodes/OctopusServerNodes-B', node)[0] == 200
    assert sorted(n['Name'] for n in sim.request('GET', 'octopusservernodes/all')[2]) == ['A', 'A', 'A']


def test_a_trigger_starts_a_node_right_after_the_matching_request_once(make_sim):
    sim = make_sim({'nodes': [{'Name': 'A'}, {'Name': 'B', 'Heartbeat': False, 'LastSeenAgo': 3600},
                              {'Name': 'C', 'Heartbeat': False, 'LastSeenAgo': 3600}, {'Name': 'X', 'Heartbeat': False, 'LastSeenAgo': 3600}]})
    trigger = sim.control.add_trigger('DELETE', r'/octopusservernodes/OctopusServerNodes-(B|C)$', 'start', 'C')
    assert trigger['fired_at_seq'] is None
    assert summary(sim)['C']['IsOffline'] is True
    assert sim.request('DELETE', 'octopusservernodes/OctopusServerNodes-X')[0] == 200, 'a request that does not match'
    assert sim.control.call('GET', 'triggers')[0]['fired_at_seq'] is None
    assert sim.request('DELETE', 'octopusservernodes/OctopusServerNodes-B')[0] == 200
    fired = sim.control.call('GET', 'triggers')[0]['fired_at_seq']
    deletes = [e for e in sim.control.requests() if e['method'] == 'DELETE' and e['path'].endswith('-B')]
    assert fired == deletes[0]['seq']
    assert summary(sim)['C']['IsOffline'] is False, 'started by the trigger, before the next request'
    sim.control.call('POST', 'nodes/C/stop', {'Graceful': True})
    assert sim.request('DELETE', 'octopusservernodes/OctopusServerNodes-C')[0] == 200
    assert sim.control.call('GET', 'triggers')[0]['fired_at_seq'] == fired, 'fires once'


def test_a_trigger_for_an_unknown_node_or_action_is_refused(make_sim):
    sim = make_sim({'nodes': [{'Name': 'A'}]})
    for spec in (dict(method='DELETE', path='x', action='start', node='Z'), dict(method='DELETE', path='x', action='drop', node='A'),
                 dict(method='DELETE', path='(', action='start', node='A')):
        with pytest.raises(SimulatorError) as err:
            sim.control.call('POST', 'triggers', spec)
        assert err.value.status == 400
