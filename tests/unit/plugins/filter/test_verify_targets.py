# -*- coding: utf-8 -*-
# Copyright: Contributors to the octopus.ha collection
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Unit tests of the octopus_verify_targets filter (selection and sampling of Tentacles)."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import pytest

from ansible.errors import AnsibleFilterError
from ansible_collections.octopus.ha.plugins.filter.octopus_verify_report import octopus_verify_endpoints, octopus_verify_targets

THUMB_A = 'A' * 40
THUMB_B = '0123456789abcdef0123456789abcdef01234567'


def machine(mid, style='TentaclePassive', uri='https://tentacle:10933/', thumb=THUMB_A, space='Spaces-1', **extra):
    item = dict(Id=mid, Name='name-%s' % mid, SpaceId=space,
                Endpoint=dict(CommunicationStyle=style, Uri=uri, Thumbprint=thumb))
    item.update(extra)
    return item


def fleet(count):
    return [machine('Machines-%d' % i, uri='https://t%03d:10933/' % i) for i in range(count)]


def test_listening_polling_and_others():
    result = octopus_verify_targets([
        machine('Machines-1'),
        machine('Machines-2', style='TentacleActive', uri='poll://abc/'),
        machine('Machines-3', style='Ssh', uri=None),
        machine('Workers-1', uri='https://worker:10933', thumb=THUMB_B, Kind='worker'),
    ])
    assert result['listening_total'] == 2
    assert [t['uri'] for t in result['targets']] == ['https://tentacle:10933/', 'https://worker:10933']
    worker = result['targets'][1]
    assert worker['thumbprint'] == THUMB_B.upper()
    assert worker['host'] == 'worker' and worker['port'] == 10933
    assert worker['machines'] == ['Spaces-1/Workers-1 name-Workers-1 (worker)']
    assert result['polling_total'] == 1
    assert result['polling'] == ['Spaces-1/Machines-2 name-Machines-2 (target)']
    assert result['sampled'] is False and result['not_probed'] == 0


def test_same_tentacle_in_two_spaces_is_probed_once():
    result = octopus_verify_targets([machine('Machines-1'), machine('Machines-9', space='Spaces-2',
                                                                    uri='HTTPS://TENTACLE:10933')])
    assert result['listening_total'] == 1
    assert len(result['targets'][0]['machines']) == 2


def test_thumbprint_formats_are_normalised():
    result = octopus_verify_targets([machine('Machines-1', thumb=':'.join(['ab'] * 20))])
    assert result['targets'][0]['thumbprint'] == 'AB' * 20


@pytest.mark.parametrize('uri, thumb, reason', [
    ('http://tentacle:10933/', THUMB_A, 'no https URI'),
    (None, THUMB_A, 'no https URI'),
    ('https://tentacle:10933/', 'not-a-thumbprint', 'no valid registered thumbprint'),
    ('https://tentacle:10933/', None, 'no valid registered thumbprint'),
])
def test_unpinnable_targets_are_invalid(uri, thumb, reason):
    result = octopus_verify_targets([machine('Machines-1', uri=uri, thumb=thumb)])
    assert result['targets'] == []
    assert result['invalid'][0]['reason'] == reason


def test_disabled_machines_are_skipped_unless_included():
    machines = [machine('Machines-1', IsDisabled=True)]
    assert octopus_verify_targets(machines)['targets'] == []
    assert octopus_verify_targets(machines)['disabled'] == ['Spaces-1/Machines-1 name-Machines-1 (target)']
    assert len(octopus_verify_targets(machines, include_disabled=True)['targets']) == 1


def test_top_level_uri_and_thumbprint_fallback():
    item = dict(Id='Machines-1', Name='x', CommunicationStyle='TentaclePassive', Uri='https://h:1/', Thumbprint=THUMB_A)
    assert octopus_verify_targets([item])['targets'][0]['port'] == 1


def test_no_limit_probes_everything():
    result = octopus_verify_targets(fleet(50), limit=0)
    assert len(result['targets']) == 50 and not result['sampled']


def test_sampling_is_deterministic_per_seed():
    first = octopus_verify_targets(fleet(100), limit=10, seed='node-a')
    again = octopus_verify_targets(list(reversed(fleet(100))), limit=10, seed='node-a')
    other = octopus_verify_targets(fleet(100), limit=10, seed='node-b')
    assert first['sampled'] is True
    assert first['not_probed'] == 90
    assert len(first['targets']) == 10
    assert [t['uri'] for t in first['targets']] == [t['uri'] for t in again['targets']]
    assert [t['uri'] for t in first['targets']] != [t['uri'] for t in other['targets']]
    assert len(set(t['uri'] for t in first['targets'])) == 10


def test_sampling_without_seed_still_respects_limit():
    result = octopus_verify_targets(fleet(20), limit=5)
    assert len(result['targets']) == 5


def test_limit_above_total_is_not_sampling():
    result = octopus_verify_targets(fleet(3), limit=10, seed=1)
    assert len(result['targets']) == 3 and not result['sampled']


@pytest.mark.parametrize('machines, limit', [
    ('nope', 0), ([1], 0), ([], -1), ([], 'abc'),
])
def test_bad_input(machines, limit):
    with pytest.raises(AnsibleFilterError):
        octopus_verify_targets(machines, limit=limit)


def test_none_is_empty():
    assert octopus_verify_targets(None)['listening_total'] == 0


def test_endpoints_from_feeds():
    feeds = [
        dict(Id='Feeds-1', Name='Octopus Server (built-in)', SpaceId='Spaces-1', FeedType='BuiltIn'),
        dict(Id='Feeds-2', Name='nuget.org', SpaceId='Spaces-1', FeedUri='https://api.nuget.org/v3/index.json'),
        dict(Id='Feeds-3', Name='nuget', SpaceId='Spaces-2', FeedUri='https://api.nuget.org/v3/index.json'),
        dict(Id='Feeds-4', Name='share', SpaceId='Spaces-1', FeedUri='\\\\fs\\packages'),
        dict(Id='Feeds-5', Name='docker', SpaceId='Spaces-1', FeedUri='http://registry:5000 '),
    ]
    result = octopus_verify_endpoints(feeds)
    assert result == [
        dict(name='Spaces-1/docker', uri='http://registry:5000', kind='feed'),
        dict(name='Spaces-1/nuget.org, Spaces-2/nuget', uri='https://api.nuget.org/v3/index.json', kind='feed'),
    ]


def test_endpoints_from_cloud_list():
    result = octopus_verify_endpoints(['https://management.azure.com/', dict(name='aws sts', uri='https://sts.amazonaws.com')],
                                      kind='cloud')
    assert [e['name'] for e in result] == ['https://management.azure.com/', 'aws sts']
    assert all(e['kind'] == 'cloud' for e in result)


@pytest.mark.parametrize('items, kind', [('x', 'feed'), ([1], 'feed'), (['ftp://x'], 'cloud')])
def test_endpoints_bad_input(items, kind):
    with pytest.raises(AnsibleFilterError):
        octopus_verify_endpoints(items, kind=kind)


def test_endpoints_none():
    assert octopus_verify_endpoints(None) == []


def test_dependencies_info_shape_is_accepted():
    """The snake_case items of octopus.ha.octopus_dependencies_info work like API resources."""
    result = octopus_verify_targets([
        dict(id='Machines-1', name='web01', space_id='Spaces-1', kind='target', communication_style='TentaclePassive',
             uri='https://web01:10933/', thumbprint=THUMB_A, is_disabled=False),
        dict(id='Workers-1', name='wrk', space_id='Spaces-1', kind='worker', communication_style='TentaclePassive',
             uri='https://wrk:10933/', thumbprint=THUMB_B, is_disabled=True),
        dict(id='Machines-2', name='poll', space_id='Spaces-2', kind='target', communication_style='TentacleActive',
             uri='poll://x/', thumbprint=THUMB_A, is_disabled=False),
    ])
    assert [t['machines'] for t in result['targets']] == [['Spaces-1/Machines-1 web01 (target)']]
    assert result['disabled'] == ['Spaces-1/Workers-1 wrk (worker)']
    assert result['polling'] == ['Spaces-2/Machines-2 poll (target)']
    feeds = octopus_verify_endpoints([dict(id='Feeds-1', name='nuget', space_id='Spaces-1', feed_type='NuGet',
                                           uri='https://api.nuget.org/v3/index.json'),
                                      dict(id='Feeds-2', name='builtin', space_id='Spaces-1', feed_type='BuiltIn', uri=None)])
    assert feeds == [dict(name='Spaces-1/nuget', uri='https://api.nuget.org/v3/index.json', kind='feed')]
