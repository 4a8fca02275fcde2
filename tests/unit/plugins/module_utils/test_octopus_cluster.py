# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# Copyright: Contributors to the octopus.ha collection
"""Unit tests of the domain helpers in _octopus_cluster.py."""

from __future__ import absolute_import, division, print_function
__metaclass__ = type

import pytest

from ansible_collections.octopus.ha.plugins.module_utils import _octopus_api as api
from ansible_collections.octopus.ha.plugins.module_utils import _octopus_cluster as cluster


@pytest.mark.parametrize('version, expected', [
    ('2023.4.8319', (2023, 4, 8319, 1, '')),
    ('2023.4.8319.0', (2023, 4, 8319, 1, '')),
    (' 2023.4.8319 ', (2023, 4, 8319, 1, '')),
    ('3.17.1', (3, 17, 1, 1, '')),
    ('3.17', (3, 17, 0, 1, '')),
    ('2024.1.100-ci.5', (2024, 1, 100, 0, 'ci.5')),
    ('2024.1.100-rc1', (2024, 1, 100, 0, 'rc1')),
    ('2024.1.100.0-beta', (2024, 1, 100, 0, 'beta')),
    ('', (0, 0, 0, 0, '')),
    (None, (0, 0, 0, 0, '')),
    ('latest', (0, 0, 0, 0, 'latest')),
])
def test_version_tuple(version, expected):
    assert cluster.version_tuple(version) == expected


@pytest.mark.parametrize('older, newer', [
    ('3.17.1', '2018.1.0'),
    ('2023.4.8319', '2023.4.10000'),
    ('2024.1.100-rc1', '2024.1.100'),
    ('2023.4.9', '2024.1.1'),
])
def test_version_order(older, newer):
    assert cluster.version_tuple(older) < cluster.version_tuple(newer)


def test_same_version_normalises_file_versions():
    assert cluster.same_version('2023.4.8319.0', '2023.4.8319')
    assert not cluster.same_version('2023.4.8319-rc1', '2023.4.8319')


@pytest.mark.parametrize('value, expected', [
    ('2026-01-01T00:00:00+00:00', 1767225600.0),
    ('2026-01-01T00:00:00.1234567Z', 1767225600.123456),
    ('2026-01-01T02:00:00+0200', 1767225600.0),
    ('2026-01-01T00:00:00', 1767225600.0),
    (None, None),
    ('', None),
    ('yesterday', None),
])
def test_parse_timestamp(value, expected):
    assert cluster.parse_timestamp(value) == expected


def test_find_node_by_id_encodes_and_handles_404(octopus_client, fake_http, octopus_reply):
    fake_http.route('GET', 'octopusservernodes/OctopusServerNodes-A%2FB%20C', octopus_reply.reply({'Id': 'x'}))
    fake_http.route('GET', 'octopusservernodes/gone', octopus_reply.error(404))
    client = octopus_client()
    assert cluster.find_node(client, node_id=' OctopusServerNodes-A/B C ') == {'Id': 'x'}
    assert cluster.find_node(client, node_id='gone') is None
    assert fake_http.calls[0].url.endswith('/api/octopusservernodes/OctopusServerNodes-A%2FB%20C')


def test_find_node_by_name_trimmed_case_insensitive_paged(octopus_client, fake_http, octopus_reply):
    nodes = [octopus_reply.node('N%d' % i) for i in range(40)] + [octopus_reply.node('Octo-Node-03')]
    fake_http.route('GET', 'octopusservernodes',
                    octopus_reply.reply(octopus_reply.page(nodes[:30], 41, '/api/octopusservernodes?skip=30&take=30')),
                    octopus_reply.reply(octopus_reply.page(nodes[30:], 41)))
    found = cluster.find_node(octopus_client(), name='  octo-node-03 ')
    assert found['Id'] == 'OctopusServerNodes-Octo-Node-03'
    assert fake_http.count() == 2


def test_find_node_absent(octopus_client, fake_http, octopus_reply):
    fake_http.route('GET', 'octopusservernodes', octopus_reply.reply(octopus_reply.page([octopus_reply.node('A')])))
    assert cluster.find_node(octopus_client(), name='B') is None


def test_find_node_ambiguous_lists_candidates(octopus_client, fake_http, octopus_reply):
    nodes = [octopus_reply.node('node1', node_id='OctopusServerNodes-2'), octopus_reply.node(' NODE1', node_id='OctopusServerNodes-1')]
    fake_http.route('GET', 'octopusservernodes', octopus_reply.reply(octopus_reply.page(nodes)))
    with pytest.raises(cluster.OctopusLookupError) as exc:
        cluster.find_node(octopus_client(), name='Node1')
    assert exc.value.candidates == ['OctopusServerNodes-1', 'OctopusServerNodes-2']
    assert 'OctopusServerNodes-1, OctopusServerNodes-2' in str(exc.value) and 'node_id' in str(exc.value)
    assert isinstance(exc.value, LookupError)


def test_find_node_needs_name_or_id(octopus_client):
    with pytest.raises(ValueError):
        cluster.find_node(octopus_client(), name='  ')


def test_cluster_summary(octopus_client, fake_http, octopus_reply):
    fake_http.route('GET', 'octopusservernodes/summary', octopus_reply.reply(octopus_reply.summary(octopus_reply.node('A'))))
    assert [n['Name'] for n in cluster.cluster_summary(octopus_client())] == ['A']


def test_cluster_summary_unexpected(octopus_client, fake_http, octopus_reply):
    fake_http.route('GET', 'octopusservernodes/summary', octopus_reply.reply({'Items': []}))
    with pytest.raises(api.OctopusApiError) as exc:
        cluster.cluster_summary(octopus_client())
    assert 'unexpected response' in str(exc.value)


def test_list_tasks_query_and_paging(octopus_client, fake_http, octopus_reply):
    tasks = [octopus_reply.task('ServerTasks-%d' % i) for i in range(35)]
    fake_http.route('GET', 'tasks',
                    octopus_reply.reply(octopus_reply.page(tasks[:30], 35, '/api/tasks?skip=30&take=30')),
                    octopus_reply.reply(octopus_reply.page(tasks[30:], 35)))
    got = cluster.list_tasks(octopus_client(), node_id='OctopusServerNodes-A B')
    assert len(got) == 35
    query = fake_http.calls[0].query
    assert query == dict(spaces='all', includeSystem='true', node='OctopusServerNodes-A B', states='Executing,Cancelling',
                         take='30', skip='0')
    assert 'node=OctopusServerNodes-A%20B' in fake_http.calls[0].url
    assert fake_http.calls[1].query['node'] == 'OctopusServerNodes-A B'


def test_list_tasks_by_ids_any_state(octopus_client, fake_http, octopus_reply):
    fake_http.route('GET', 'tasks', octopus_reply.reply(octopus_reply.page([octopus_reply.task('T-1', 'Success')])))
    cluster.list_tasks(octopus_client(), task_ids=['T-1', 'T-2'], states=None)
    query = fake_http.calls[0].query
    assert query['ids'] == 'T-1,T-2' and 'states' not in query and 'node' not in query


def summary_nodes(reply):
    return [reply.node('A', 5), reply.node('B', 10), reply.node('UI', 0), reply.node('D', 5, drained=True),
            reply.node('OFF', 5, offline=True)]


@pytest.mark.parametrize('removed, task_nodes, capacity, online, found', [
    ('OctopusServerNodes-A', 1, 10, 3, True),
    ('octopusservernodes-b', 1, 5, 3, True),
    ('OctopusServerNodes-UI', 2, 15, 3, True),
    ('OctopusServerNodes-OFF', 2, 15, 4, True),
    ('OctopusServerNodes-NOPE', 2, 15, 4, False),
])
def test_capacity_after_removal(octopus_reply, removed, task_nodes, capacity, online, found):
    got = cluster.capacity_after_removal(summary_nodes(octopus_reply), removed)
    assert (got['remaining_task_nodes'], got['remaining_task_capacity'], got['remaining_online_nodes'], got['node_found']) == \
        (task_nodes, capacity, online, found)


def test_capacity_after_removing_last_task_node(octopus_reply):
    got = cluster.capacity_after_removal([octopus_reply.node('A'), octopus_reply.node('UI', 0)], 'OctopusServerNodes-A')
    assert got['remaining_task_nodes'] == 0 and got['remaining_task_capacity'] == 0 and got['remaining_online_nodes'] == 1
