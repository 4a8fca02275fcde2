# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# Copyright: Contributors to the octopus.ha collection
"""octopus.ha.octopus_dependencies_info through ansible-playbook against the simulator (fixtures in conftest.py)."""

from __future__ import absolute_import, division, print_function
__metaclass__ = type

import pytest

from octosim.testing import ADMIN_KEY

THUMB_WEB = '8E4A1C2B3D4E5F60718293A4B5C6D7E8F9012345'
THUMB_APP = '1111111111111111111111111111111111111111'
THUMB_WORKER = '2222222222222222222222222222222222222222'
THUMB_POLL = '3333333333333333333333333333333333333333'
NO_FEEDS_KEY = 'API-NOFEEDVIEW00000000000000000001'
NO_SPACES_KEY = 'API-NOSPACEVIEW0000000000000000001'

CLUSTER = {
    'server': {'version': '2023.4.8319'},
    'nodes': [{'Name': 'OCTO-NODE-01'}],
    'api_keys': [
        {'name': 'admin', 'key': ADMIN_KEY, 'permissions': ['*']},
        {'name': 'nofeeds', 'key': NO_FEEDS_KEY, 'permissions': ['SpaceView', 'MachineView', 'WorkerView']},
        {'name': 'nospaces', 'key': NO_SPACES_KEY, 'permissions': ['AdministerSystem', 'FeedView', 'MachineView', 'WorkerView']},
    ],
    'server_folders': {'LogsDirectory': '\\\\fs\\octo\\TaskLogs', 'ArtifactsDirectory': '\\\\fs\\octo\\Artifacts',
                       'PackagesDirectory': '', 'EventExportsDirectory': '\\\\fs\\octo\\EventExports',
                       'ImportsDirectory': '\\\\fs\\octo\\Imports', 'TelemetryDirectory': '\\\\fs\\octo\\Telemetry'},
    'spaces': [
        {'Id': 'Spaces-1', 'Name': 'Default',
         'machines': [
             {'Id': 'Machines-1', 'Name': 'web-01', 'CommunicationStyle': 'TentaclePassive', 'Uri': 'https://web-01:10933/',
              'Thumbprint': THUMB_WEB},
             {'Id': 'Machines-2', 'Name': 'app-01', 'CommunicationStyle': 'TentacleActive', 'Uri': 'poll://app01/',
              'Thumbprint': THUMB_APP, 'IsDisabled': True},
         ],
         'workers': [{'Id': 'Workers-1', 'Name': 'worker-01', 'CommunicationStyle': 'TentaclePassive',
                      'Uri': 'https://worker-01:10933/', 'Thumbprint': THUMB_WORKER}],
         'feeds': [{'Id': 'Feeds-1', 'Name': 'Built-in', 'FeedType': 'BuiltIn'},
                   {'Id': 'Feeds-2', 'Name': 'nuget.org', 'FeedType': 'NuGet', 'FeedUri': 'https://api.nuget.org/v3/index.json'}]},
        {'Id': 'Spaces-2', 'Name': 'Team B',
         'machines': [{'Id': 'Machines-3', 'Name': 'db-01', 'CommunicationStyle': 'TentacleActive', 'Uri': 'poll://db01/',
                       'Thumbprint': THUMB_POLL}],
         'workers': [{'Id': 'Workers-2', 'Name': 'worker-02', 'CommunicationStyle': 'TentacleActive', 'Uri': 'poll://w02/',
                      'Thumbprint': THUMB_POLL}],
         'feeds': [{'Id': 'Feeds-3', 'Name': 'docker', 'FeedType': 'Docker', 'FeedUri': 'https://index.docker.io'}]},
    ],
}

PLAYBOOK = """
- name: Read what a new node must reach
  hosts: localhost
  gather_facts: false
  module_defaults:
    group/octopus.ha.octopus:
      max_retries: 3
  tasks:
    - name: Read dependencies
      octopus.ha.octopus_dependencies_info:
      register: deps
"""

pytestmark = pytest.mark.simulator(CLUSTER, speed=0)


def warnings_of(result):
    """Warning texts of a task result, without the expected one about the simulator's plain http:// URL."""
    texts = [w if isinstance(w, str) else str(w.get('msg') or w.get('event', {}).get('msg') or w) for w in result.get('warnings') or []]
    return [w for w in texts if 'plain http://' not in w]


def statuses(sim, path):
    return [e['status'] for e in sim.control.requests() if e['path'] == path]


def test_reads_every_dependency_in_check_mode(simulator, run_playbook, octopus_env):
    run = run_playbook(PLAYBOOK, env=octopus_env(simulator), check=True)
    assert run.rc == 0, run.explain()
    deps = run.task('Read dependencies')
    assert deps['changed'] is False and not warnings_of(deps), run.explain()
    assert deps['server'] == {'version': '2023.4.8319'}
    assert deps['shared_folders'] == {
        'ArtifactsDirectory': '\\\\fs\\octo\\Artifacts', 'EventExportsDirectory': '\\\\fs\\octo\\EventExports',
        'ImportsDirectory': '\\\\fs\\octo\\Imports', 'LogsDirectory': '\\\\fs\\octo\\TaskLogs',
        'TelemetryDirectory': '\\\\fs\\octo\\Telemetry'}
    assert deps['multi_node_polling'] is None  # the simulator, like an older server, answers 404
    assert deps['spaces'] == [{'id': 'Spaces-1', 'name': 'Default'}, {'id': 'Spaces-2', 'name': 'Team B'}]
    assert [(t['space_id'], t['kind'], t['id'], t['communication_style'], t['uri'], t['thumbprint'], t['is_disabled'])
            for t in deps['targets']] == [
        ('Spaces-1', 'target', 'Machines-1', 'TentaclePassive', 'https://web-01:10933/', THUMB_WEB, False),
        ('Spaces-1', 'target', 'Machines-2', 'TentacleActive', 'poll://app01/', THUMB_APP, True),
        ('Spaces-1', 'worker', 'Workers-1', 'TentaclePassive', 'https://worker-01:10933/', THUMB_WORKER, False),
        ('Spaces-2', 'target', 'Machines-3', 'TentacleActive', 'poll://db01/', THUMB_POLL, False),
        ('Spaces-2', 'worker', 'Workers-2', 'TentacleActive', 'poll://w02/', THUMB_POLL, False),
    ]
    assert [t['name'] for t in deps['targets']] == ['web-01', 'app-01', 'worker-01', 'db-01', 'worker-02']
    assert deps['feeds'] == [
        {'id': 'Feeds-1', 'name': 'Built-in', 'space_id': 'Spaces-1', 'feed_type': 'BuiltIn', 'uri': None},
        {'id': 'Feeds-2', 'name': 'nuget.org', 'space_id': 'Spaces-1', 'feed_type': 'NuGet', 'uri': 'https://api.nuget.org/v3/index.json'},
        {'id': 'Feeds-3', 'name': 'docker', 'space_id': 'Spaces-2', 'feed_type': 'Docker', 'uri': 'https://index.docker.io'},
    ]
    log = simulator.control.requests()
    assert {e['method'] for e in log} == {'GET'}
    assert all(e['query'].get('take') and int(e['query']['take']) <= 1000 for e in log if e['path'].endswith(('/machines', '/workers', '/feeds')))
    assert ADMIN_KEY not in run.output


def test_injected_503_on_a_space_read_is_retried(simulator, run_playbook, octopus_env):
    simulator.control.add_fault(kind='status', status=503, path='^/api/Spaces-2/workers$', count=1, retry_after='0')
    simulator.control.clear_requests()
    run = run_playbook(PLAYBOOK, env=octopus_env(simulator))
    assert run.rc == 0, run.explain()
    deps = run.task('Read dependencies')
    assert [t['id'] for t in deps['targets'] if t['space_id'] == 'Spaces-2'] == ['Machines-3', 'Workers-2']
    assert statuses(simulator, '/api/Spaces-2/workers') == [503, 200]
    assert statuses(simulator, '/api/Spaces-1/workers') == [200]
    warnings = warnings_of(deps)
    assert len(warnings) == 1 and 'HTTP 503' in warnings[0] and 'retried 1 times' in warnings[0], warnings


def test_key_without_feed_view_warns(simulator, run_playbook, octopus_env):
    run = run_playbook(PLAYBOOK, env=octopus_env(simulator, NO_FEEDS_KEY))
    assert run.rc == 0, run.explain()
    deps = run.task('Read dependencies')
    assert deps['shared_folders'] is None and deps['feeds'] is None and deps['multi_node_polling'] is None
    assert len(deps['targets']) == 5
    warnings = warnings_of(deps)
    assert len(warnings) == 2, warnings  # the simulator answers serverstatus/redis with 404 (no warning)
    assert any('shared server folders' in w and 'AdministerSystem' in w for w in warnings)
    assert any('feeds' in w and 'FeedView' in w for w in warnings)
    assert NO_FEEDS_KEY not in run.output


def test_key_without_space_view_fails(simulator, run_playbook, octopus_env):
    simulator.control.clear_requests()
    run = run_playbook(PLAYBOOK, env=octopus_env(simulator, NO_SPACES_KEY))
    assert run.rc != 0
    deps = run.task('Read dependencies')
    assert deps['msg'].startswith('Could not list the spaces') and 'SpaceView' in deps['msg'], deps['msg']
    assert deps['api_error']['status'] == 403
    assert statuses(simulator, '/api/spaces') == [403]
    assert not [e for e in simulator.control.requests() if e['path'].endswith('/machines')]
    assert NO_SPACES_KEY not in run.output


def test_invalid_key_fails(simulator, run_playbook, octopus_env):
    run = run_playbook(PLAYBOOK, env=octopus_env(simulator, 'API-NOTAVALIDKEY00000000000000'))
    assert run.rc != 0
    deps = run.task('Read dependencies')
    assert 'rejected the API key' in deps['msg']
