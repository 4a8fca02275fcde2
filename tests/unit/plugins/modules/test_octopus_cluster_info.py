# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# Copyright: Contributors to the octopus.ha collection
"""Unit tests of octopus_cluster_info main() over the fake HTTP layer (tests/unit/conftest.py)."""

from __future__ import absolute_import, division, print_function
__metaclass__ = type

import json

import pytest

from ansible_collections.octopus.ha.plugins.modules import octopus_cluster_info

SUMMARY = 'octopusservernodes/summary'
LICENSE = 'licenses/licenses-current-status'
FORBIDDEN = ('You do not have permission to perform this action. Please contact your Octopus administrator. '
             'Missing permission: AdministerSystem')
SERVER_DATE = 'Thu, 01 Jan 2026 00:10:00 GMT'  # 600 s after 2026-01-01T00:00:00Z
LICENSE_STATUS = dict(IsCompliant=True, EffectiveNodeTaskLimit=5, Limits=[
    dict(Name='Nodes', CurrentUsage=3, EffectiveLimit=4, IsUnlimited=False, Disposition='Compliant', Message=''),
    dict(Name='Projects', CurrentUsage=10, EffectiveLimit=100, IsUnlimited=False, Disposition='Compliant', Message=''),
])


@pytest.fixture
def cluster(patch_octopus, octopus_reply):
    """A three-node cluster: A (5 tasks), B (drained, older version), UI (cap 0), OLD (offline)."""
    reply = octopus_reply
    nodes = [
        reply.node('B', 10, drained=True, version='2023.4.8000', last_seen='2026-01-01T00:09:50.0000000+00:00', running=1),
        reply.node('A', 5, last_seen='2026-01-01T00:09:55+00:00', running=2, version='2023.4.8319.0'),
        reply.node('UI', 0, last_seen='2026-01-01T00:09:58Z'),
        reply.node('OLD', 5, offline=True, last_seen='2026-01-01T00:00:00+00:00', running=None),
    ]
    patch_octopus.route('GET', '', reply.reply(reply.root('2023.4.8319')))
    patch_octopus.route('GET', SUMMARY, reply.reply(reply.summary(*nodes), headers={'Date': SERVER_DATE}))
    patch_octopus.route('GET', LICENSE, reply.reply(LICENSE_STATUS))
    return patch_octopus


def test_full_read(cluster, run_module, api_key):
    result, code = run_module(octopus_cluster_info.main, {})
    assert code == 0 and result['changed'] is False and not result.get('warnings')
    assert result['server'] == dict(version='2023.4.8319', api_version='3.0.0')
    assert [n['name'] for n in result['nodes']] == ['A', 'B', 'OLD', 'UI']
    node_a = result['nodes'][0]
    assert node_a == dict(id='OctopusServerNodes-A', name='A', max_concurrent_tasks=5, drained=False, offline=False,
                          last_seen='2026-01-01T00:09:55+00:00', seconds_since_last_seen=5, running_task_count=2,
                          version='2023.4.8319.0')
    facts = result['cluster']
    assert facts['clock_source'] == 'server' and facts['summary_readable'] is True
    assert (facts['node_count'], facts['online_node_count'], facts['task_node_count'], facts['task_capacity']) == (4, 3, 1, 5)
    assert facts['running_task_count'] is None  # OLD's count is unknown: the total is not 3, it is unknown (issue 8 section 7)
    assert facts['version_skew'] is True and facts['version_skew_nodes'] == ['B']
    assert facts['versions'] == ['2023.4.8000', '2023.4.8319', '2023.4.8319.0']
    assert facts['ui_only_nodes'] == ['UI'] and facts['drained_nodes'] == ['B']
    assert facts['offline_nodes'] == [dict(id='OctopusServerNodes-OLD', name='OLD', last_seen='2026-01-01T00:00:00+00:00',
                                           seconds_since_last_seen=600)]
    assert [n for n in result['nodes'] if n['name'] == 'OLD'][0]['running_task_count'] is None
    assert result['license'] == dict(readable=True, is_compliant=True, effective_node_task_limit=5, node_limits=[
        dict(name='Nodes', current_usage=3, effective_limit=4, is_unlimited=False, message='')])
    assert api_key not in json.dumps(result)


def test_root_is_read_without_key(cluster, run_module):
    run_module(octopus_cluster_info.main, {})
    root_calls = [c for c in cluster.calls if c.path == '']
    assert root_calls and all('X-Octopus-ApiKey' not in c.headers for c in root_calls)


def test_controller_clock_without_server_date(patch_octopus, octopus_reply, run_module, fake_clock):
    fake_clock.wall = 1767225600.0 + 30
    patch_octopus.route('GET', '', octopus_reply.reply(octopus_reply.root()))
    patch_octopus.route('GET', SUMMARY, octopus_reply.reply(octopus_reply.summary(
        octopus_reply.node('A', offline=True, last_seen='2026-01-01T00:00:00Z'), octopus_reply.node('N', last_seen=None))))
    patch_octopus.route('GET', LICENSE, octopus_reply.reply(LICENSE_STATUS))
    result, code = run_module(octopus_cluster_info.main, {})
    assert code == 0 and result['cluster']['clock_source'] == 'controller'
    assert [n['seconds_since_last_seen'] for n in result['nodes']] == [30, None]
    assert result['cluster']['version_skew'] is False and result['cluster']['versions'] == ['2023.4.8319']


@pytest.mark.parametrize('date', [None, 'Fri, 01 Mar 2030 10:00:00 GMT', 'Mon, 01 Dec 2025 00:00:00 GMT', 'not a date'])
def test_heartbeat_clock_when_server_date_missing_or_implausible(patch_octopus, octopus_reply, run_module, date):
    reply = octopus_reply
    headers = {'Date': date} if date else {}
    patch_octopus.route('GET', '', reply.reply(reply.root()))
    patch_octopus.route('GET', SUMMARY, reply.reply(reply.summary(
        reply.node('A', last_seen='2026-01-01T00:09:45Z'), reply.node('B', last_seen='2026-01-01T00:10:00Z'),
        reply.node('GONE', offline=True, last_seen='2026-01-01T00:00:00Z')), headers=headers))
    patch_octopus.route('GET', LICENSE, reply.reply(LICENSE_STATUS))
    result, code = run_module(octopus_cluster_info.main, {})
    assert code == 0 and result['cluster']['clock_source'] == 'heartbeat'
    assert [n['seconds_since_last_seen'] for n in result['nodes']] == [15, 0, 600]


def test_limited_key_returns_what_it_can(patch_octopus, octopus_reply, run_module, api_key, warning_texts):
    reply = octopus_reply
    patch_octopus.route('GET', '', reply.reply(reply.root()))
    patch_octopus.route('GET', SUMMARY, reply.error(403, FORBIDDEN))
    patch_octopus.route('GET', 'octopusservernodes', reply.reply(reply.page([
        dict(Id='OctopusServerNodes-A', Name='A', MaxConcurrentTasks=5, IsInMaintenanceMode=False)])))
    patch_octopus.route('GET', LICENSE, reply.error(403, FORBIDDEN))
    result, code = run_module(octopus_cluster_info.main, {})
    assert code == 0 and result['changed'] is False
    assert result['cluster']['summary_readable'] is False
    assert result['nodes'][0]['name'] == 'A' and result['nodes'][0]['offline'] is None
    assert result['nodes'][0]['running_task_count'] is None
    assert result['license']['readable'] is False
    warnings = warning_texts(result)
    assert len(warnings) == 2
    assert 'cluster summary' in warnings[0] and 'AdministerSystem' in warnings[0]
    assert 'license' in warnings[1] and 'AdministerSystem' in warnings[1]
    assert api_key not in json.dumps(result)


def test_no_node_access_at_all(patch_octopus, octopus_reply, run_module):
    reply = octopus_reply
    patch_octopus.route('GET', '', reply.reply(reply.root()))
    patch_octopus.route('GET', SUMMARY, reply.error(403, FORBIDDEN))
    patch_octopus.route('GET', 'octopusservernodes', reply.error(403, FORBIDDEN))
    patch_octopus.route('GET', LICENSE, reply.error(403, FORBIDDEN))
    result, code = run_module(octopus_cluster_info.main, {})
    assert code == 0 and result['nodes'] == [] and len(result['warnings']) == 3


def test_invalid_key_fails(patch_octopus, octopus_reply, run_module, api_key):
    patch_octopus.route('GET', '', octopus_reply.reply(octopus_reply.root()))
    patch_octopus.route('GET', SUMMARY, octopus_reply.error(401, 'Invalid API key %s' % api_key))
    result, code = run_module(octopus_cluster_info.main, {})
    assert code == 1 and result['failed'] is True
    assert 'rejected the API key' in result['msg'] and result['api_error']['status'] == 401
    assert api_key not in json.dumps(result)
    assert patch_octopus.count() == 2


def test_server_unavailable_retries_then_fails(patch_octopus, octopus_reply, run_module, fake_clock, warning_texts):
    patch_octopus.route('GET', '', octopus_reply.reply(octopus_reply.root()))
    patch_octopus.route('GET', SUMMARY, octopus_reply.error(503, 'Database failover'))
    result, code = run_module(octopus_cluster_info.main, dict(max_retries=2, request_deadline=1000))
    assert code == 1 and 'HTTP 503: Database failover' in result['msg'] and 'after 2 retries' in result['msg']
    assert patch_octopus.count('GET', SUMMARY) == 3 and len(fake_clock.sleeps) == 2
    assert any('retried 2 times' in w for w in warning_texts(result))


def test_check_mode_only_reads(cluster, run_module):
    result, code = run_module(octopus_cluster_info.main, dict(_ansible_check_mode=True))
    assert code == 0 and result['changed'] is False
    assert {c.method for c in cluster.calls} == {'GET'}


@pytest.mark.parametrize('url', ['', 'octopus.example.com', 'https://u:p@octopus.example.com', 'https://o.example.com/?apikey=x'])
def test_bad_url_fails_before_any_request(patch_octopus, run_module, url):
    result, code = run_module(octopus_cluster_info.main, dict(url=url))
    assert code == 1 and result['msg'].startswith('The Octopus url') and patch_octopus.calls == []


@pytest.mark.parametrize('args, words', [(dict(request_deadline=0), 'request_deadline'), (dict(timeout=-1), 'timeout'),
                                         (dict(max_retries=-2), 'max_retries')])
def test_bad_limits_fail_before_any_request(patch_octopus, run_module, args, words):
    result, code = run_module(octopus_cluster_info.main, args)
    assert code == 1 and words in result['msg'] and patch_octopus.calls == []


def test_connection_from_environment(cluster, run_module, monkeypatch, api_key):
    monkeypatch.setenv('OCTOPUS_URL', 'https://octopus.example.com/api/')
    monkeypatch.setenv('OCTOPUS_API_KEY', api_key)
    result, code = run_module(octopus_cluster_info.main, {}, connection=False)
    assert code == 0 and result['server']['version'] == '2023.4.8319'
    assert cluster.calls[1].headers['X-Octopus-ApiKey'] == api_key


def test_missing_connection_fails(patch_octopus, run_module, monkeypatch):
    monkeypatch.delenv('OCTOPUS_URL', raising=False)
    monkeypatch.delenv('OCTOPUS_API_KEY', raising=False)
    result, code = run_module(octopus_cluster_info.main, {}, connection=False)
    assert code == 1 and 'api_key' in result['msg'] and 'url' in result['msg']


def test_http_url_warns(cluster, run_module, warning_texts):
    result, code = run_module(octopus_cluster_info.main, dict(url='http://octopus.example.com'))
    assert code == 0 and len([w for w in warning_texts(result) if 'plain http://' in w]) == 1


def test_argument_spec_marks_secrets_no_log():
    from ansible_collections.octopus.ha.plugins.module_utils._octopus_api import octopus_argument_spec
    spec = octopus_argument_spec()
    secret_like = [name for name in spec if any(w in name for w in ('key', 'password', 'secret', 'token', 'connection_string'))]
    assert secret_like == ['api_key', 'client_key'] and spec['api_key']['no_log'] is True
    # client_key is the path of the key file, not the key: explicitly not no_log (the hashi_vault token_path pattern).
    assert spec['client_key']['type'] == 'path' and spec['client_key']['no_log'] is False


# ---- an unreadable fact is null, never 0 or false (issue 8 section 7) -------------------------

UNREADABLE_WHEN_NO_SUMMARY = ('online_node_count', 'task_node_count', 'task_capacity', 'running_task_count', 'version_skew',
                              'version_skew_nodes', 'offline_nodes')


def test_facts_that_need_the_summary_are_null_without_it(patch_octopus, octopus_reply, run_module):
    reply = octopus_reply
    patch_octopus.route('GET', '', reply.reply(reply.root()))
    patch_octopus.route('GET', SUMMARY, reply.error(403, FORBIDDEN))
    patch_octopus.route('GET', 'octopusservernodes', reply.reply(reply.page([
        dict(Id='OctopusServerNodes-A', Name='A', MaxConcurrentTasks=5, IsInMaintenanceMode=False)])))
    patch_octopus.route('GET', LICENSE, reply.error(403, FORBIDDEN))
    result, code = run_module(octopus_cluster_info.main, {})
    cluster = result['cluster']
    assert code == 0
    for key in UNREADABLE_WHEN_NO_SUMMARY:
        assert cluster[key] is None, '%s is %r without the summary' % (key, cluster[key])
    assert cluster['node_count'] == 1 and cluster['drained_nodes'] == [] and cluster['ui_only_nodes'] == []
    assert cluster['missing_permission'] == 'AdministerSystem'
    assert result['license']['node_limits'] is None


def test_every_node_fact_is_null_without_any_node_access(patch_octopus, octopus_reply, run_module):
    reply = octopus_reply
    patch_octopus.route('GET', '', reply.reply(reply.root()))
    patch_octopus.route('GET', SUMMARY, reply.error(403, FORBIDDEN))
    patch_octopus.route('GET', 'octopusservernodes', reply.error(403, FORBIDDEN))
    patch_octopus.route('GET', LICENSE, reply.error(403, FORBIDDEN))
    result, code = run_module(octopus_cluster_info.main, {})
    cluster = result['cluster']
    assert code == 0
    for key in UNREADABLE_WHEN_NO_SUMMARY + ('node_count', 'drained_nodes', 'ui_only_nodes'):
        assert cluster[key] is None, '%s is %r without node access' % (key, cluster[key])
    assert cluster['missing_permission'] == 'AdministerSystem'


def test_readable_summary_has_no_missing_permission(patch_octopus, octopus_reply, run_module):
    reply = octopus_reply
    patch_octopus.route('GET', '', reply.reply(reply.root()))
    patch_octopus.route('GET', SUMMARY, reply.reply(reply.summary(reply.node('A'), reply.node('B', offline=True))))
    patch_octopus.route('GET', LICENSE, reply.reply(dict(IsCompliant=True, Limits=[])))
    result, code = run_module(octopus_cluster_info.main, {})
    assert result['cluster']['missing_permission'] is None and result['cluster']['task_node_count'] == 1
    assert result['cluster']['version_skew'] is False


@pytest.fixture(autouse=True)
def empty_task_queue(patch_octopus, octopus_reply):
    """The module also reads the task queue (issue 13, tested in test_octopus_cluster_info_queue.py): an empty one here.

    Routes added by a test later take precedence over this one."""
    patch_octopus.route('GET', 'tasks', octopus_reply.reply(octopus_reply.page([], total=0), headers={'Date': SERVER_DATE}))
