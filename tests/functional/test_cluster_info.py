# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# Copyright: Contributors to the octopus.ha collection
"""octopus.ha.octopus_cluster_info through ansible-playbook against the simulator (fixtures in conftest.py)."""

from __future__ import absolute_import, division, print_function
__metaclass__ = type

import pytest

from octosim.testing import ADMIN_KEY

VIEWER_KEY = 'API-VIEWERONLY0000000000000000001'
SUMMARY = '/api/octopusservernodes/summary'
LICENSE = '/api/licenses/licenses-current-status'

CLUSTER = {
    'server': {'version': '2023.4.8319'},
    'license': {'node_limit': 4},
    'api_keys': [
        {'name': 'admin', 'key': ADMIN_KEY, 'permissions': ['*']},
        {'name': 'viewer', 'key': VIEWER_KEY, 'permissions': ['TaskView']},
    ],
    # The strict mode: node reads need AdministerSystem. The simulator's default follows OctopusDeploy/Issues
    # #2228 (any valid key reads nodes); servers that restrict it exist (REFERENCE 1.5 leaves it UNCERTAIN).
    'permissions': {'node_read': ['AdministerSystem']},
    'nodes': [
        {'Name': 'OCTO-NODE-01', 'MaxConcurrentTasks': 5},
        {'Name': 'OCTO-NODE-02', 'MaxConcurrentTasks': 5, 'Version': '2023.4.8000'},
        {'Name': 'OCTO-UI', 'MaxConcurrentTasks': 0},
        {'Name': 'OCTO-OLD', 'MaxConcurrentTasks': 5, 'Heartbeat': False, 'LastSeenAgo': 600},
    ],
    'tasks': [{'Name': 'Deploy', 'Description': 'Deploy OctoFX', 'ServerNode': 'OCTO-NODE-01', 'Duration': 600}],
}

PLAYBOOK = """
- name: Read the Octopus cluster
  hosts: localhost
  gather_facts: false
  module_defaults:
    group/octopus.ha.octopus:
      max_retries: "{{ retries | default(5) }}"
  tasks:
    - name: Read cluster info
      octopus.ha.octopus_cluster_info:
      register: info
"""

pytestmark = pytest.mark.simulator(CLUSTER, speed=0)


def warnings_of(result):
    """Warning texts of a task result, without the expected one about the simulator's plain http:// URL."""
    texts = [w if isinstance(w, str) else str(w.get('msg') or w.get('event', {}).get('msg') or w) for w in result.get('warnings') or []]
    return [w for w in texts if 'plain http://' not in w]


def api_log(sim, path=None):
    return [e for e in sim.control.requests() if path is None or e['path'] == path]


def test_reads_the_cluster_in_check_mode(simulator, run_playbook, octopus_env):
    run = run_playbook(PLAYBOOK, env=octopus_env(simulator), check=True)
    assert run.rc == 0, run.explain()
    info = run.task('Read cluster info')
    assert info['changed'] is False and not warnings_of(info), run.explain()
    assert info['server']['version'] == '2023.4.8319'
    nodes = dict((n['name'], n) for n in info['nodes'])
    assert sorted(nodes) == ['OCTO-NODE-01', 'OCTO-NODE-02', 'OCTO-OLD', 'OCTO-UI']
    assert nodes['OCTO-NODE-01']['running_task_count'] == 1 and nodes['OCTO-NODE-01']['offline'] is False
    facts = info['cluster']
    assert facts['summary_readable'] is True
    assert facts['version_skew'] is True and facts['version_skew_nodes'] == ['OCTO-NODE-02']
    assert facts['versions'] == ['2023.4.8000', '2023.4.8319']
    assert facts['ui_only_nodes'] == ['OCTO-UI']
    assert (facts['task_capacity'], facts['task_node_count'], facts['online_node_count']) == (10, 2, 3)
    assert [n['name'] for n in facts['offline_nodes']] == ['OCTO-OLD']
    assert 600 <= facts['offline_nodes'][0]['seconds_since_last_seen'] < 700
    assert facts['clock_source'] in ('server', 'heartbeat')
    assert info['license']['readable'] is True
    assert [(x['name'], x['effective_limit']) for x in info['license']['node_limits']] == [('Nodes', 4)]
    log = api_log(simulator)
    assert {e['method'] for e in log} == {'GET'}
    assert {e['key_source'] for e in log if e['path'] != '/api'} == {'header'}
    assert [e['key_source'] for e in log if e['path'] == '/api'] == [None]


def test_injected_faults_are_retried(simulator, run_playbook, octopus_env):
    control = simulator.control
    control.add_fault(kind='status', status=503, path='^/api/octopusservernodes/summary$', count=2, retry_after='1')
    control.add_fault(kind='drop', path='^/api$', count=1)
    control.add_fault(kind='status', status=429, path='^/api/licenses/', count=1, retry_after='1')
    control.clear_requests()
    run = run_playbook(PLAYBOOK, env=octopus_env(simulator))
    assert run.rc == 0, run.explain()
    info = run.task('Read cluster info')
    assert len(info['nodes']) == 4
    assert [e['status'] for e in api_log(simulator, SUMMARY)] == [503, 503, 200]
    assert [e['status'] for e in api_log(simulator, '/api')] == ['dropped', 200]
    assert [e['status'] for e in api_log(simulator, LICENSE)] == [429, 200]
    warnings = warnings_of(info)
    assert len(warnings) == 3, warnings
    assert any('retried 2 times' in w and 'HTTP 503' in w for w in warnings)
    assert any('rate limited by %s' % simulator.url in w for w in warnings)


def test_retries_are_bounded(simulator, run_playbook, octopus_env):
    simulator.control.add_fault(kind='status', status=503, path='^/api/octopusservernodes/summary$', retry_after='0')
    run = run_playbook(PLAYBOOK, env=octopus_env(simulator), extra_vars={'retries': 2})
    assert run.rc != 0
    info = run.task('Read cluster info')
    assert [r['status'] for r in run.results] == ['failed']
    assert 'HTTP 503' in info['msg'] and 'after 2 retries' in info['msg']
    assert len(api_log(simulator, SUMMARY)) == 3


def test_limited_key_returns_what_it_can(simulator, run_playbook, octopus_env):
    run = run_playbook(PLAYBOOK, env=octopus_env(simulator, VIEWER_KEY))
    assert run.rc == 0, run.explain()
    info = run.task('Read cluster info')
    assert info['server']['version'] == '2023.4.8319'
    assert info['nodes'] == [] and info['cluster']['summary_readable'] is False
    # What could not be read is null, never 0 or false (issue 8 section 7).
    assert info['cluster']['node_count'] is None and info['cluster']['task_node_count'] is None
    assert info['cluster']['version_skew'] is None and info['cluster']['missing_permission'] == 'AdministerSystem'
    assert info['license']['readable'] is False
    warnings = warnings_of(info)
    assert len(warnings) == 3 and all('AdministerSystem' in w for w in warnings), warnings
    assert [e['status'] for e in api_log(simulator, SUMMARY)] == [403]


def test_invalid_key_fails_without_retry(simulator, run_playbook, octopus_env):
    run = run_playbook(PLAYBOOK, env=octopus_env(simulator, 'API-NOTAVALIDKEY00000000000000'))
    assert run.rc != 0
    info = run.task('Read cluster info')
    assert 'rejected the API key' in info['msg']
    assert [e['status'] for e in api_log(simulator, SUMMARY)] == [401]


VERBOSE_PLAYBOOK = """
- name: Read the Octopus cluster verbosely
  hosts: localhost
  gather_facts: false
  tasks:
    - name: Fail on a server error
      octopus.ha.octopus_cluster_info:
        url: "{{ octopus_url }}"
        api_key: "{{ octopus_api_key }}"
      register: failing
      ignore_errors: true

    - name: Read cluster info with the key as an argument
      octopus.ha.octopus_cluster_info:
        url: "{{ octopus_url }}/api/"
        api_key: "{{ octopus_api_key }}"
      register: info
"""


def test_verbose_output_never_contains_the_key(simulator, run_playbook):
    simulator.control.add_fault(kind='status', status=500, path='^/api/octopusservernodes/summary$', count=1,
                                message='Boom for %s' % ADMIN_KEY)
    run = run_playbook(VERBOSE_PLAYBOOK, extra_vars={'octopus_url': simulator.url, 'octopus_api_key': ADMIN_KEY}, verbosity=3)
    assert run.rc == 0, run.explain()
    assert 'HTTP 500' in run.task('Fail on a server error')['msg']
    assert len(run.task('Read cluster info with the key as an argument')['nodes']) == 4
    assert ADMIN_KEY not in run.stdout and ADMIN_KEY not in run.stderr
    assert 'plain http://' in run.output
    assert {e['key_source'] for e in api_log(simulator) if e['path'] != '/api'} == {'header'}


@pytest.mark.simulator(CLUSTER, speed=0, tls=True)
def test_tls_validation(simulator, run_playbook, octopus_env):
    run = run_playbook(PLAYBOOK, env=octopus_env(simulator))
    assert run.rc != 0
    failed = run.task('Read cluster info')
    assert 'ca_path' in failed['msg'] and 'TLS' in failed['msg'], failed['msg']
    assert api_log(simulator) == []
    ca_option = 'ca_path: "{{ lookup(\'ansible.builtin.env\', \'OCTOPUS_CA_PATH\') }}"\n      max_retries:'
    playbook_with_ca = PLAYBOOK.replace('max_retries:', ca_option)
    run = run_playbook(playbook_with_ca, env=dict(octopus_env(simulator), OCTOPUS_CA_PATH=simulator.ca_path))
    assert run.rc == 0, run.explain()
    info = run.task('Read cluster info')
    assert len(info['nodes']) == 4 and not info.get('warnings')
