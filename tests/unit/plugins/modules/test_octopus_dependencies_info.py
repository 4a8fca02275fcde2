# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# Copyright: Contributors to the octopus.ha collection
"""Unit tests of octopus_dependencies_info main() over the fake HTTP layer (tests/unit/conftest.py)."""

from __future__ import absolute_import, division, print_function
__metaclass__ = type

import json

import pytest

from ansible_collections.octopus.ha.plugins.modules import octopus_dependencies_info

FOLDERS = 'configuration/server-folders/values'
REDIS = 'serverstatus/redis'
THUMB_A = '8E4A1C2B3D4E5F60718293A4B5C6D7E8F9012345'
THUMB_B = '1111111111111111111111111111111111111111'


def forbidden(permission):
    return ('You do not have permission to perform this action. Please contact your Octopus administrator. '
            'Missing permission: %s' % permission)


def machine(mid, name, style, uri=None, thumb=None, disabled=False, space='Spaces-1', endpoint=True, top_uri=None,
            top_thumb=None, top_style=None):
    item = dict(Id=mid, Name=name, SpaceId=space, IsDisabled=disabled)
    if endpoint:
        item['Endpoint'] = dict(CommunicationStyle=style, Uri=uri, Thumbprint=thumb)
    if top_uri is not None:
        item['Uri'] = top_uri
    if top_thumb is not None:
        item['Thumbprint'] = top_thumb
    if top_style is not None:
        item['CommunicationStyle'] = top_style
    return item


@pytest.fixture
def cluster(patch_octopus, octopus_reply):
    """Two spaces (the second one has a space and a '/' in its id to prove encoding); machines of space 1 are paged."""
    reply = octopus_reply
    http = patch_octopus
    http.route('GET', '', reply.reply(reply.root('2024.1.5')))
    http.route('GET', FOLDERS, reply.reply(dict(Id='server-folders', LogsDirectory='\\\\fs\\octo\\TaskLogs', ArtifactsDirectory='',
                                                PackagesDirectory='\\\\fs\\octo\\Packages', CacheDirectory=None,
                                                NotADir='x', Links=dict(Self='/api/' + FOLDERS))))
    http.route('GET', REDIS, reply.reply(dict(IsEnabled=True, IsConfigured=True, IsReachable=False)))
    http.route('GET', 'spaces', reply.reply(reply.page([dict(Id='Spaces-1', Name='Default'), dict(Id='Spaces 2/x', Name='Two')])))
    http.route('GET', 'Spaces-1/machines',
               reply.reply(reply.page([machine('Machines-1', 'web-01', 'TentaclePassive', 'https://web-01:10933/', THUMB_A)],
                                      total=2, next_link='/api/Spaces-1/machines{?skip,take}?skip=1&take=100')),
               reply.reply(reply.page([machine('Machines-2', 'app-01', 'TentacleActive', 'poll://abc123/', THUMB_B, disabled=True)],
                                      total=2)))
    http.route('GET', 'Spaces-1/workers', reply.reply(reply.page([
        machine('Workers-1', 'worker-01', None, None, None, endpoint=True, top_style='TentaclePassive',
                top_uri='https://worker-01:10933/', top_thumb=THUMB_B)])))
    http.route('GET', 'Spaces-1/feeds', reply.reply(reply.page([
        dict(Id='Feeds-1', Name='Built-in', SpaceId='Spaces-1', FeedType='BuiltIn'),
        dict(Id='Feeds-2', Name='nuget.org', SpaceId='Spaces-1', FeedType='NuGet', FeedUri='https://api.nuget.org/v3/index.json')])))
    http.route('GET', 'Spaces%202%2Fx/machines', reply.reply(reply.page([
        machine('Machines-3', 'ssh-01', None, endpoint=False, top_style='Ssh', top_uri='ssh://ssh-01:22/', space='Spaces 2/x')])))
    http.route('GET', 'Spaces%202%2Fx/workers', reply.reply(reply.page([])))
    http.route('GET', 'Spaces%202%2Fx/feeds', reply.reply(reply.page([
        dict(Id='Feeds-9', Name='docker', SpaceId='Spaces 2/x', FeedType='Docker', FeedUri='https://index.docker.io')])))
    return http


def paths(http):
    return [c.path for c in http.calls]


def test_full_read(cluster, run_module, api_key):
    result, code = run_module(octopus_dependencies_info.main, {})
    assert code == 0, result
    assert result['changed'] is False and not result.get('warnings'), result
    assert result['server'] == dict(version='2024.1.5')
    assert result['shared_folders'] == {'LogsDirectory': '\\\\fs\\octo\\TaskLogs', 'PackagesDirectory': '\\\\fs\\octo\\Packages'}
    assert result['multi_node_polling'] == dict(enabled=True, configured=True, reachable=False)
    assert result['spaces'] == [dict(id='Spaces-1', name='Default'), dict(id='Spaces 2/x', name='Two')]
    assert result['targets'] == [
        dict(id='Machines-1', name='web-01', space_id='Spaces-1', kind='target', communication_style='TentaclePassive',
             uri='https://web-01:10933/', thumbprint=THUMB_A, is_disabled=False),
        dict(id='Machines-2', name='app-01', space_id='Spaces-1', kind='target', communication_style='TentacleActive',
             uri='poll://abc123/', thumbprint=THUMB_B, is_disabled=True),
        dict(id='Workers-1', name='worker-01', space_id='Spaces-1', kind='worker', communication_style='TentaclePassive',
             uri='https://worker-01:10933/', thumbprint=THUMB_B, is_disabled=False),
        dict(id='Machines-3', name='ssh-01', space_id='Spaces 2/x', kind='target', communication_style='Ssh',
             uri='ssh://ssh-01:22/', thumbprint=None, is_disabled=False),
    ]
    assert result['feeds'] == [
        dict(id='Feeds-1', name='Built-in', space_id='Spaces-1', feed_type='BuiltIn', uri=None),
        dict(id='Feeds-2', name='nuget.org', space_id='Spaces-1', feed_type='NuGet', uri='https://api.nuget.org/v3/index.json'),
        dict(id='Feeds-9', name='docker', space_id='Spaces 2/x', feed_type='Docker', uri='https://index.docker.io'),
    ]
    assert api_key not in json.dumps(result)


def test_paging_follows_page_next_with_small_pages(cluster, run_module):
    run_module(octopus_dependencies_info.main, {})
    machine_calls = [c for c in cluster.calls if c.path == 'Spaces-1/machines']
    assert [c.query.get('skip') for c in machine_calls] == ['0', '1']
    assert all(0 < int(c.query['take']) <= 1000 for c in cluster.calls if 'take' in c.query)
    assert all('take' in c.query for c in cluster.calls if c.path.endswith(('machines', 'workers', 'feeds')) or c.path == 'spaces')


def test_requests_are_get_only_and_the_root_is_anonymous(cluster, run_module, api_key):
    run_module(octopus_dependencies_info.main, {})
    assert {c.method for c in cluster.calls} == {'GET'}
    assert all(c.body is None for c in cluster.calls)
    assert all(api_key not in c.url for c in cluster.calls)
    root_calls = [c for c in cluster.calls if c.path == '']
    assert len(root_calls) == 1 and 'X-Octopus-ApiKey' not in root_calls[0].headers
    assert all(c.headers.get('X-Octopus-ApiKey') == api_key for c in cluster.calls if c.path != '')


def test_check_mode_reads_the_same(cluster, run_module):
    result, code = run_module(octopus_dependencies_info.main, {'_ansible_check_mode': True})
    assert code == 0 and result['changed'] is False
    assert len(result['targets']) == 4 and len(result['feeds']) == 3
    assert {c.method for c in cluster.calls} == {'GET'}


def test_endpoint_fields_fall_back_to_the_top_level(patch_octopus, octopus_reply, run_module):
    reply = octopus_reply
    patch_octopus.route('GET', '', reply.reply(reply.root()))
    patch_octopus.route('GET', FOLDERS, reply.reply({}))
    patch_octopus.route('GET', REDIS, reply.error(404))
    patch_octopus.route('GET', 'spaces', reply.reply(reply.page([dict(Id='Spaces-1', Name='Default')])))
    patch_octopus.route('GET', 'Spaces-1/machines', reply.reply(reply.page([
        machine('Machines-1', 'a', 'TentaclePassive', '', '', top_uri='https://a:10933/', top_thumb=THUMB_A),
        dict(Id='Machines-2', Name='b', IsDisabled=False, Endpoint=None, CommunicationStyle='TentacleActive',
             Uri='poll://b/', Thumbprint=THUMB_B),
        machine('Machines-3', 'c', 'TentaclePassive', 'https://c-endpoint:10933/', THUMB_A, top_uri='https://c-top/',
                top_thumb=THUMB_B, top_style='Ssh'),
    ])))
    patch_octopus.route('GET', 'Spaces-1/workers', reply.reply(reply.page([])))
    result, code = run_module(octopus_dependencies_info.main, {'include_feeds': False})
    assert code == 0, result
    assert 'feeds' not in result and not [c for c in patch_octopus.calls if c.path.endswith('/feeds')]
    got = [(t['id'], t['space_id'], t['communication_style'], t['uri'], t['thumbprint']) for t in result['targets']]
    assert got == [
        ('Machines-1', 'Spaces-1', 'TentaclePassive', 'https://a:10933/', THUMB_A),
        ('Machines-2', 'Spaces-1', 'TentacleActive', 'poll://b/', THUMB_B),
        ('Machines-3', 'Spaces-1', 'TentaclePassive', 'https://c-endpoint:10933/', THUMB_A),
    ]
    assert result['shared_folders'] == {}


def test_redis_404_is_null_without_warning(cluster, octopus_reply, run_module, warning_texts):
    cluster.route('GET', REDIS, octopus_reply.error(404, 'The resource you requested was not found'))
    result, code = run_module(octopus_dependencies_info.main, {})
    assert code == 0 and result['multi_node_polling'] is None
    assert warning_texts(result) == []
    assert cluster.count('GET', REDIS) == 1


def test_forbidden_folders_and_redis_warn_and_give_null(cluster, octopus_reply, run_module, warning_texts, api_key):
    cluster.route('GET', FOLDERS, octopus_reply.error(403, forbidden('AdministerSystem')))
    cluster.route('GET', REDIS, octopus_reply.error(403, forbidden('AdministerSystem')))
    result, code = run_module(octopus_dependencies_info.main, {})
    assert code == 0, result
    assert result['shared_folders'] is None and result['multi_node_polling'] is None
    assert len(result['targets']) == 4
    warnings = warning_texts(result)
    assert len(warnings) == 2, warnings
    assert 'shared server folders' in warnings[0] and 'AdministerSystem' in warnings[0]
    assert 'multi-node polling' in warnings[1] and 'AdministerSystem' in warnings[1]
    assert cluster.count('GET', FOLDERS) == 1
    assert api_key not in json.dumps(result)


def test_forbidden_feeds_in_one_space_warn(cluster, octopus_reply, run_module, warning_texts):
    cluster.route('GET', 'Spaces%202%2Fx/feeds', octopus_reply.error(403, forbidden('FeedView')))
    result, code = run_module(octopus_dependencies_info.main, {})
    assert code == 0, result
    assert [f['id'] for f in result['feeds']] == ['Feeds-1', 'Feeds-2']
    warnings = warning_texts(result)
    assert len(warnings) == 1 and 'FeedView' in warnings[0] and 'Spaces 2/x (Two)' in warnings[0], warnings


def test_forbidden_feeds_everywhere_give_null(cluster, octopus_reply, run_module, warning_texts):
    cluster.route('GET', 'Spaces-1/feeds', octopus_reply.error(403, 'You do not have permission to perform this action.'))
    cluster.route('GET', 'Spaces%202%2Fx/feeds', octopus_reply.error(403, 'You do not have permission to perform this action.'))
    result, code = run_module(octopus_dependencies_info.main, {})
    assert code == 0 and result['feeds'] is None
    warnings = warning_texts(result)
    assert len(warnings) == 1 and 'FeedView' in warnings[0] and 'feeds is null' in warnings[0], warnings


def test_forbidden_spaces_fail(cluster, octopus_reply, run_module, api_key):
    cluster.route('GET', 'spaces', octopus_reply.error(403, forbidden('SpaceView')))
    result, code = run_module(octopus_dependencies_info.main, {})
    assert code == 1 and result['failed'] is True
    assert result['msg'].startswith('Could not list the spaces')
    assert 'SpaceView' in result['msg'] and 'Grant the service account' in result['msg']
    assert result['api_error']['status'] == 403
    assert cluster.count('GET', 'spaces') == 1
    assert not [c for c in cluster.calls if c.path.endswith('/machines')]
    assert api_key not in json.dumps(result)


def test_forbidden_workers_fail(cluster, octopus_reply, run_module):
    cluster.route('GET', 'Spaces-1/workers', octopus_reply.error(403, forbidden('WorkerView')))
    result, code = run_module(octopus_dependencies_info.main, {})
    assert code == 1
    assert 'workers of space Spaces-1 (Default)' in result['msg'] and 'WorkerView' in result['msg']


def test_invalid_key_fails(cluster, octopus_reply, run_module, api_key):
    cluster.route('GET', FOLDERS, octopus_reply.error(401, 'You must be logged in. Key %s is wrong' % api_key))
    result, code = run_module(octopus_dependencies_info.main, {})
    assert code == 1 and 'rejected the API key' in result['msg']
    assert cluster.count('GET', FOLDERS) == 1
    assert api_key not in json.dumps(result)


def test_transient_error_on_a_space_read_is_retried(cluster, octopus_reply, run_module, warning_texts):
    ok = cluster.routes[[r[1] for r in cluster.routes].index('Spaces%202%2Fx/workers')][2][-1]
    cluster.route('GET', 'Spaces%202%2Fx/workers', octopus_reply.error(503), ok)
    result, code = run_module(octopus_dependencies_info.main, {})
    assert code == 0, result
    assert cluster.count('GET', 'Spaces%202%2Fx/workers') == 2
    assert any('HTTP 503' in w for w in warning_texts(result))


def test_spaces_option_limits_the_reads(cluster, run_module):
    result, code = run_module(octopus_dependencies_info.main, {'spaces': ['spaces 2/X'], 'include_targets': False})
    assert code == 0, result
    assert result['spaces'] == [dict(id='Spaces 2/x', name='Two')]
    assert 'targets' not in result
    assert [f['id'] for f in result['feeds']] == ['Feeds-9']
    assert not [c for c in cluster.calls if c.path.startswith('Spaces-1/')]
    assert not [c for c in cluster.calls if c.path.endswith(('/machines', '/workers'))]


def test_unknown_space_fails(cluster, run_module):
    result, code = run_module(octopus_dependencies_info.main, {'spaces': ['Spaces-404']})
    assert code == 1
    assert 'Spaces-404' in result['msg'] and 'Spaces-1 (Default)' in result['msg']
    assert not [c for c in cluster.calls if c.path.endswith('/machines')]
