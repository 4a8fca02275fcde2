# -*- coding: utf-8 -*-
# Copyright: Contributors to the octopus.ha collection
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Unit tests of the octopus_verify_report filter (the structured verification report)."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import copy

import pytest

from ansible.errors import AnsibleFilterError
from ansible_collections.octopus.ha.plugins.filter.octopus_verify_report import (
    octopus_sql_endpoint, octopus_verify_report, octopus_verify_targets)

GOOD = 'A' * 40
BAD = 'B' * 40


def targets():
    return octopus_verify_targets([
        dict(Id='Machines-1', Name='web01', SpaceId='Spaces-1',
             Endpoint=dict(CommunicationStyle='TentaclePassive', Uri='https://web01:10933/', Thumbprint=GOOD)),
        dict(Id='Workers-1', Name='wrk01', SpaceId='Spaces-1', Kind='worker',
             Endpoint=dict(CommunicationStyle='TentaclePassive', Uri='https://wrk01:10933/', Thumbprint=GOOD)),
    ])


def observations():
    return dict(
        node_name='octo-new-1',
        cluster_version='2025.1.10012',
        node_api=dict(url='http://localhost/api', status=200, version='2025.1.10012'),
        database=dict(endpoint=octopus_sql_endpoint('Server=sql01,1433;Password=x'), tcp=dict(failed=False, elapsed=0)),
        storage=dict(folders=dict(LogsDirectory='\\\\fs\\logs', ArtifactsDirectory='\\\\fs\\art'), identity='CORP\\octo$',
                     probe=[dict(name='LogsDirectory', exists=True, writable=True),
                            dict(name='ArtifactsDirectory', exists=True, writable=True)]),
        tentacles=dict(selection=targets(), probe=[
            dict(uri='https://web01:10933/', status='ok', presented_thumbprint=GOOD.lower()),
            dict(uri='https://wrk01:10933/', status='ok', presented_thumbprint=GOOD)]),
        feeds=dict(endpoints=[dict(name='nuget', uri='https://api.nuget.org/v3/index.json')],
                   probe=[dict(uri='https://api.nuget.org/v3/index.json', reachable=True, status_code=200)]),
        cloud=dict(endpoints=[], probe=[]),
        polling=dict(fail=False, multi_node_polling=False, redis=None),
    )


def by_name(report):
    return dict((c['name'], c) for c in report['checks'])


def test_all_passed():
    report = octopus_verify_report(observations())
    checks = by_name(report)
    assert report['passed'] is True
    assert report['failed'] == []
    assert report['node'] == 'octo-new-1'
    assert checks['cloud_endpoints']['status'] == 'skipped'
    for name in ('node_api', 'version', 'database_tcp', 'shared_storage', 'listening_tentacles', 'external_feeds',
                 'polling_tentacles'):
        assert checks[name]['status'] == 'passed', checks[name]
    assert set(c['name'] for c in report['checks']) == set(checks)
    assert all(set(c) == {'name', 'status', 'reason', 'details'} for c in report['checks'])
    assert report['summary_lines'][0] == 'node_verify octo-new-1: PASSED'
    assert 'CORP\\octo$' in checks['shared_storage']['reason']


def test_mismatch_and_unreachable_reported_separately():
    data = observations()
    data['tentacles']['probe'] = [
        dict(uri='https://web01:10933/', status='mismatch', presented_thumbprint=BAD),
        dict(uri='https://wrk01:10933/', status='unreachable', error='connection refused')]
    report = octopus_verify_report(data)
    check = by_name(report)['listening_tentacles']
    assert report['passed'] is False
    assert report['failed'] == ['listening_tentacles']
    assert check['status'] == 'failed'
    assert [r['uri'] for r in check['details']['mismatched']] == ['https://web01:10933/']
    assert check['details']['mismatched'][0]['presented_thumbprint'] == BAD
    assert [r['uri'] for r in check['details']['unreachable']] == ['https://wrk01:10933/']
    assert 'connection refused' in check['reason']
    assert BAD in check['reason'] and GOOD in check['reason']
    assert 'listening_tentacles' in report['message']
    assert report['summary_lines'][0].endswith('FAILED')


def test_ok_status_with_wrong_presented_thumbprint_is_mismatch():
    data = observations()
    data['tentacles']['probe'][0]['presented_thumbprint'] = BAD
    check = by_name(octopus_verify_report(data))['listening_tentacles']
    assert len(check['details']['mismatched']) == 1


def test_missing_probe_result_counts_as_unreachable():
    data = observations()
    data['tentacles']['probe'] = data['tentacles']['probe'][:1]
    check = by_name(octopus_verify_report(data))['listening_tentacles']
    assert check['status'] == 'failed'
    assert check['details']['unreachable'][0]['error'] == 'not probed'


def test_probe_crash_fails_check():
    data = observations()
    data['tentacles']['probe'] = None
    data['tentacles']['msg'] = 'boom'
    check = by_name(octopus_verify_report(data))['listening_tentacles']
    assert check['status'] == 'failed' and 'boom' in check['reason']


def test_invalid_targets_fail():
    data = observations()
    data['tentacles']['selection']['invalid'] = [dict(machine='Spaces-1/Machines-5 x (target)', reason='no https URI')]
    check = by_name(octopus_verify_report(data))['listening_tentacles']
    assert check['status'] == 'failed' and 'cannot be pinned' in check['reason']


def test_sampled_reason_mentions_sample():
    data = observations()
    data['tentacles']['selection'].update(sampled=True, not_probed=8, listening_total=10)
    assert 'sample of 2 out of 10' in by_name(octopus_verify_report(data))['listening_tentacles']['reason']


def test_no_tentacles_skipped():
    data = observations()
    data['tentacles'] = dict(selection=octopus_verify_targets([]), probe=[])
    assert by_name(octopus_verify_report(data))['listening_tentacles']['status'] == 'skipped'


def test_sql_unreachable_names_the_database():
    data = observations()
    data['database']['tcp'] = dict(failed=True, msg='timed out waiting for sql01:1433')
    report = octopus_verify_report(data)
    assert report['failed'] == ['database_tcp']
    assert 'sql01:1433' in by_name(report)['database_tcp']['reason']


def test_dynamic_sql_port_is_skipped():
    data = observations()
    data['database'] = dict(endpoint=octopus_sql_endpoint('Server=sql01\\INST'), tcp=None)
    assert by_name(octopus_verify_report(data))['database_tcp']['status'] == 'skipped'


def test_no_connection_string_skips_tcp():
    data = observations()
    data['database'] = None
    assert by_name(octopus_verify_report(data))['database_tcp']['status'] == 'skipped'


@pytest.mark.parametrize('status', [-1, 503, None])
def test_node_api_down_fails(status):
    data = observations()
    data['node_api'] = dict(url='http://localhost/api', status=status, msg='refused')
    report = octopus_verify_report(data)
    assert 'node_api' in report['failed']
    assert by_name(report)['version']['status'] == 'skipped'


def test_version_skew_fails():
    data = observations()
    data['node_api']['version'] = '2025.1.9999'
    report = octopus_verify_report(data)
    assert report['failed'] == ['version']
    assert 'version skew' in by_name(report)['version']['reason']


def test_cluster_version_unknown_fails():
    data = observations()
    data['cluster_version'] = None
    assert by_name(octopus_verify_report(data))['version']['status'] == 'failed'


def test_storage_problems():
    data = observations()
    data['storage']['probe'] = [dict(name='LogsDirectory', exists=False, error='path not found'),
                                dict(name='ArtifactsDirectory', exists=True, writable=False, error='access denied')]
    check = by_name(octopus_verify_report(data))['shared_storage']
    assert check['status'] == 'failed'
    assert 'path not found' in check['reason'] and 'access denied' in check['reason']


def test_storage_not_probed_entry():
    data = observations()
    data['storage']['probe'] = data['storage']['probe'][:1]
    assert 'not probed' in by_name(octopus_verify_report(data))['shared_storage']['reason']


def test_storage_probe_crash_and_empty_folders():
    data = observations()
    data['storage']['probe'] = None
    assert by_name(octopus_verify_report(data))['shared_storage']['status'] == 'failed'
    data['storage']['folders'] = {}
    assert by_name(octopus_verify_report(data))['shared_storage']['status'] == 'skipped'


def test_feed_and_cloud_unreachable():
    data = observations()
    data['feeds']['probe'] = [dict(uri='https://api.nuget.org/v3/index.json', reachable=False, error='TLS trust failure')]
    data['cloud'] = dict(endpoints=[dict(name='azure', uri='https://management.azure.com/')], probe=[])
    report = octopus_verify_report(data)
    assert report['failed'] == ['external_feeds', 'cloud_endpoints']
    assert 'TLS trust failure' in by_name(report)['external_feeds']['reason']


def test_endpoint_probe_crash():
    data = observations()
    data['feeds']['probe'] = None
    assert by_name(octopus_verify_report(data))['external_feeds']['status'] == 'failed'


def polling_data(version='2025.1.10012', **polling):
    data = observations()
    data['cluster_version'] = version
    data['node_api']['version'] = version
    data['tentacles']['selection']['polling'] = ['Spaces-1/Machines-7 poller (target)']
    data['tentacles']['selection']['polling_total'] = 1
    data['polling'].update(polling)
    return data


def test_polling_tentacles_warn_by_default():
    report = octopus_verify_report(polling_data())
    check = by_name(report)['polling_tentacles']
    assert report['passed'] is True
    assert check['status'] == 'passed' and check['details']['warning'] is True
    assert len(report['warnings']) == 1 and 'poller' in report['warnings'][0]


def test_polling_tentacles_fail_when_asked():
    report = octopus_verify_report(polling_data(fail=True))
    assert report['failed'] == ['polling_tentacles']


@pytest.mark.parametrize('version, polling, exempt', [
    ('2026.4.6909', dict(multi_node_polling=True), True),
    ('2026.4.6909', dict(redis=dict(IsEnabled=True, IsConfigured=True, IsReachable=True)), True),
    ('2026.4.6909', dict(redis=dict(IsEnabled=True, IsConfigured=False)), False),
    ('2026.4.6908', dict(multi_node_polling=True), False),
    ('2026.3.9999', dict(redis=dict(IsEnabled=True, IsConfigured=True, IsReachable=True)), False),
])
def test_multi_node_polling_exemption(version, polling, exempt):
    report = octopus_verify_report(polling_data(version, fail=True, **polling))
    assert report['passed'] is exempt


def test_skip_checks_option():
    data = observations()
    data['database']['tcp'] = dict(failed=True, msg='refused')
    data['skip_checks'] = ['database_tcp']
    report = octopus_verify_report(data)
    assert report['passed'] is True
    assert 'skipped by node_verify_skip_checks' in by_name(report)['database_tcp']['reason']


def test_summary_table_lines():
    report = octopus_verify_report(observations(), node_name='override')
    lines = report['summary_lines']
    assert lines[0] == 'node_verify override: PASSED'
    assert lines[1].split() == ['check', 'status', 'reason']
    assert len(lines) == 2 + len(report['checks'])
    assert all(len(line) < 260 for line in lines)


def test_not_probed_sections_are_skipped():
    report = octopus_verify_report(dict(node_name='n', cluster_version='1.0'))
    assert report['passed'] is True
    assert {c['status'] for c in report['checks']} == {'skipped'}


def test_input_is_not_mutated():
    data = observations()
    before = copy.deepcopy(data)
    octopus_verify_report(data)
    assert data == before


def test_bad_input():
    with pytest.raises(AnsibleFilterError):
        octopus_verify_report(['not', 'a', 'dict'])


def test_same_uri_with_two_registered_thumbprints():
    selection = octopus_verify_targets([
        dict(Id='Machines-1', Name='web01', SpaceId='Spaces-1',
             Endpoint=dict(CommunicationStyle='TentaclePassive', Uri='https://web01:10933/', Thumbprint=GOOD)),
        dict(Id='Machines-2', Name='web01-stale', SpaceId='Spaces-2',
             Endpoint=dict(CommunicationStyle='TentaclePassive', Uri='https://web01:10933/', Thumbprint=BAD)),
    ])
    data = observations()
    data['tentacles'] = dict(selection=selection, probe=[
        dict(uri='https://web01:10933/', expected_thumbprint=BAD, status='mismatch', presented_thumbprint=GOOD),
        dict(uri='https://web01:10933/', expected_thumbprint=GOOD, status='ok', presented_thumbprint=GOOD)])
    check = by_name(octopus_verify_report(data))['listening_tentacles']
    assert len(check['details']['passed']) == 1
    assert check['details']['mismatched'][0]['machines'] == ['Spaces-2/Machines-2 web01-stale (target)']


def test_node_api_answered_by_another_node_fails():
    data = observations()
    data['node_api']['registered_name'] = 'OCTO-NODE-01'
    report = octopus_verify_report(data)
    assert report['failed'] == ['node_api']
    assert 'OCTO-NODE-01' in by_name(report)['node_api']['reason']
    data['node_api']['registered_name'] = ' Octo-New-1 '
    assert octopus_verify_report(data)['passed'] is True


def test_redis_status_in_dependencies_info_shape():
    report = octopus_verify_report(polling_data('2026.4.6909', fail=True,
                                                redis=dict(enabled=True, configured=True, reachable=True)))
    assert report['passed'] is True
    report = octopus_verify_report(polling_data('2026.4.6909', fail=True,
                                                redis=dict(enabled=True, configured=True, reachable=False)))
    assert report['passed'] is False


def test_unreadable_folders_and_feeds_fail_closed():
    data = observations()
    data['storage'] = dict(folders={}, unreadable=True)
    data['feeds'] = dict(endpoints=[], unreadable=True)
    report = octopus_verify_report(data)
    assert report['failed'] == ['shared_storage', 'external_feeds']
    assert 'AdministerSystem' in by_name(report)['shared_storage']['reason']
    assert 'FeedView' in by_name(report)['external_feeds']['reason']


# --------------------------------------------------------------------------- reachability from outside (issue 10 section 4)

def _external(**external):
    base = dict(node_name='n1', external=dict({'from': 'localhost', 'url': 'http://10.0.0.5:80', 'prefixes': ['http://+:80/'],
                                               'web': {'status': 418, 'msg': ''},
                                               'comms': {'host': '10.0.0.5', 'port': 10943, 'failed': False, 'msg': ''}},
                                              **external))
    report = octopus_verify_report(base)
    return dict((c['name'], c) for c in report['checks']), report


def test_external_checks_pass_for_a_drained_node_reachable_from_outside():
    checks, report = _external()
    assert checks['external_web']['status'] == 'passed' and '418' in checks['external_web']['reason']
    assert checks['external_comms']['status'] == 'passed'
    assert report['passed'] is True


@pytest.mark.parametrize('external, name, fragment', [
    ({'url': None, 'prefixes': ['http://localhost:80/']}, 'external_web', 'bound to localhost'),
    ({'web': {'status': 400, 'msg': 'Status code was 400'}}, 'external_web', 'Host header matches no listen prefix'),
    ({'web': {'status': -1, 'msg': 'Connection refused'}}, 'external_web', 'Connection refused'),
    ({'comms': {'host': '10.0.0.5', 'port': 10943, 'failed': True, 'msg': 'Timeout when waiting for 10.0.0.5:10943'}},
     'external_comms', '10.0.0.5:10943 is not reachable from localhost'),
])
def test_external_checks_fail_and_name_the_cause(external, name, fragment):
    checks, report = _external(**external)
    assert checks[name]['status'] == 'failed'
    assert fragment in checks[name]['reason']
    assert name in report['failed']
