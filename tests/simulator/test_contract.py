# Copyright (c) octopus.ha contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Contract tests: the simulator's responses against the Octopus 2020.5 Swagger document and the
responses recorded from real servers (both read from ../shared at run time, never copied).

Swagger 2.0 cannot say "nullable", yet real servers send null for unset dates and for
LastModifiedBy (the recorded pages have "QueueTimeExpiry": null). So date-time properties and the
few properties listed in NULLABLE may be null; everything else must have the documented type.
The C# "object" type ({"type": "object"} as a value schema, e.g. TaskResource.Arguments values)
means "any JSON value". test_relaxation_is_needed_and_minimal shows both relaxations are required
by the recorded data and that nothing else is relaxed.
"""
from __future__ import absolute_import, division, print_function
__metaclass__ = type

import copy
import datetime
import json
import os
import re

import pytest

jsonschema = pytest.importorskip('jsonschema')

NULLABLE = frozenset(['LastModifiedBy', 'ServerNode', 'SpaceId', 'ProjectId'])
ISO_RE = re.compile(r'^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?(Z|[+-]\d{2}:\d{2})$')
UUID_RE = re.compile(r'^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$')
CLUSTER = {
    'nodes': [{'Name': 'OCTO-NODE-01', 'PollOffset': 3}, {'Name': 'OCTO-NODE-02', 'PollOffset': 9},
              {'Name': 'OCTO-NODE-03', 'Heartbeat': False, 'LastSeenAgo': 600}],
    'spaces': [{'Id': 'Spaces-1', 'Name': 'Default', 'IsDefault': True,
                'machines': [{'Name': 'web-01', 'Uri': 'https://web-01:10933/', 'Thumbprint': 'AB' * 20, 'Roles': ['web'],
                              'EnvironmentIds': ['Environments-1']},
                             {'Name': 'poll-01', 'CommunicationStyle': 'TentacleActive', 'Thumbprint': 'CD' * 20}],
                'workers': [{'Name': 'worker-01', 'Uri': 'https://worker-01:10933/', 'Thumbprint': 'EF' * 20}],
                'feeds': [{'Name': 'nuget.org', 'FeedType': 'NuGet', 'FeedUri': 'https://api.nuget.org/v3/index.json'}],
                'accounts': [{'Name': 'aws', 'AccountType': 'AmazonWebServicesAccount'}]}],
}


def _load_json(path):
    with open(path, encoding='utf-8-sig') as handle:
        return json.load(handle)


@pytest.fixture(scope='module')
def swagger(shared_dir):
    """The Swagger document, read from <repo>/../shared (the conftest fixture skips when it is absent)."""
    return _load_json(os.path.join(shared_dir, 'octopus-api', 'swagger-2020.5.json'))


@pytest.fixture(scope='module')
def recorded_dir(shared_dir):
    return os.path.join(shared_dir, 'octopus-api', 'recorded')


def relax(definitions):
    """Allow null for date-time and NULLABLE properties; treat value schemas {"type": "object"} as any."""
    result = copy.deepcopy(definitions)
    for definition in result.values():
        for name, prop in (definition.get('properties') or {}).items():
            if 'type' in prop and (prop.get('format') == 'date-time' or name in NULLABLE):
                prop['type'] = [prop['type'], 'null']
                if 'enum' in prop:
                    prop['enum'] = list(prop['enum']) + [None]
            if prop.get('additionalProperties') == {'type': 'object'}:
                prop['additionalProperties'] = {}
    return result


def format_checker():
    checker = jsonschema.FormatChecker(formats=())

    @checker.checks('date-time')
    def is_datetime(value):  # pylint: disable=unused-variable
        if not isinstance(value, str):
            return True
        if not ISO_RE.match(value):
            return False
        datetime.datetime.fromisoformat(value.replace('Z', '+00:00'))
        return True

    @checker.checks('date')
    def is_date(value):  # pylint: disable=unused-variable
        if not isinstance(value, str):
            return True
        datetime.date.fromisoformat(value)
        return True

    @checker.checks('uuid')
    def is_uuid(value):  # pylint: disable=unused-variable
        return not isinstance(value, str) or bool(UUID_RE.match(value))

    @checker.checks('int32')
    def is_int32(value):  # pylint: disable=unused-variable
        return not isinstance(value, int) or -2 ** 31 <= value < 2 ** 31

    return checker


_RELAXED = {}


def validator_for(swagger, schema, strict=False):  # pylint: disable=redefined-outer-name
    if strict:
        definitions = swagger['definitions']
    else:
        if id(swagger) not in _RELAXED:
            _RELAXED.clear()
            _RELAXED[id(swagger)] = relax(swagger['definitions'])
        definitions = _RELAXED[id(swagger)]
    full = dict(copy.deepcopy(schema), definitions=definitions)
    return jsonschema.Draft4Validator(full, format_checker=format_checker())


def response_schema(swagger, path, method='get'):  # pylint: disable=redefined-outer-name
    return swagger['paths'][path][method]['responses']['200']['schema']


def assert_valid(swagger, schema, instance, what):  # pylint: disable=redefined-outer-name
    errors = sorted(validator_for(swagger, schema).iter_errors(instance), key=lambda e: list(e.absolute_path))
    assert not errors, '%s does not match the Swagger schema:\n%s' % (
        what, '\n'.join('%s: %s' % ('/'.join(str(p) for p in e.absolute_path), e.message) for e in errors[:20]))


@pytest.fixture
def busy_sim(make_sim):
    """A cluster with tasks in every state, a renamed+drained node and a stopped one."""
    sim = make_sim(CLUSTER)
    control = sim.control
    control.add_task(Name='Deploy', Description='Deploy Web Portal to Staging', Duration=600, ServerNode='OCTO-NODE-01',
                     Arguments={'DeploymentId': 'Deployments-1'}, ProjectId='Projects-1')
    control.add_task(Name='RunbookRun', Duration=600, ServerNode='OCTO-NODE-02', HasPendingInterruptions=True)
    control.add_task(Name='Deploy', State='Success', ServerNode='OCTO-NODE-01', CompletedAgo=60, Duration=32)
    control.add_task(Name='Deploy', State='Failed', ServerNode='OCTO-NODE-02', CompletedAgo=30, ErrorMessage='boom')
    control.add_task(Name='Backup', SpaceId=None, Duration=600, ServerNode='OCTO-NODE-01')
    cancelled = control.add_task(Name='Deploy', Duration=600, ServerNode='OCTO-NODE-02')
    cancelling = control.add_task(Name='Deploy', Duration=600, ServerNode='OCTO-NODE-01')
    sim.request('POST', 'tasks/%s/cancel' % cancelled['Id'])
    control.advance(5)
    sim.request('POST', 'tasks/%s/cancel' % cancelling['Id'])
    control.add_task(Name='Health', Duration=600)
    dummy, dummy2, node = sim.request('GET', 'octopusservernodes/OctopusServerNodes-OCTO-NODE-02')
    node['IsInMaintenanceMode'] = True
    node['Name'] = 'OCTO-NODE-02-RENAMED'
    assert sim.request('PUT', 'octopusservernodes/OctopusServerNodes-OCTO-NODE-02', node)[0] == 200
    return sim


# (swagger path, method, request path) -> the response must match the documented 200 schema
ENDPOINTS = [
    ('/api', 'get', '/api'),
    ('/api/octopusservernodes', 'get', '/api/octopusservernodes'),
    ('/api/octopusservernodes', 'get', '/api/octopusservernodes?take=1&skip=1'),
    ('/api/octopusservernodes/all', 'get', '/api/octopusservernodes/all'),
    ('/api/octopusservernodes/{id}', 'get', '/api/octopusservernodes/OctopusServerNodes-OCTO-NODE-02'),
    ('/api/octopusservernodes/{id}/details', 'get', '/api/octopusservernodes/OctopusServerNodes-OCTO-NODE-01/details'),
    ('/api/tasks', 'get', '/api/tasks?spaces=all&includeSystem=true'),
    ('/api/tasks', 'get', '/api/tasks?take=2&skip=2&states=Executing,Cancelling,Queued'),
    ('/api/tasks/{id}', 'get', '/api/tasks/ServerTasks-1'),
    ('/api/{baseSpaceId}/tasks/{id}', 'get', '/api/Spaces-1/tasks/ServerTasks-2'),
    ('/api/serverstatus/health', 'get', '/api/serverstatus/health'),
    ('/api/licenses/licenses-current-status', 'get', '/api/licenses/licenses-current-status'),
    ('/api/spaces', 'get', '/api/spaces'),
    ('/api/spaces/all', 'get', '/api/spaces/all'),
    ('/api/spaces/{id}', 'get', '/api/spaces/Spaces-1'),
    ('/api/{baseSpaceId}/machines', 'get', '/api/Spaces-1/machines'),
    ('/api/{baseSpaceId}/machines/{id}', 'get', '/api/Spaces-1/machines/Machines-2'),
    ('/api/{baseSpaceId}/workers', 'get', '/api/Spaces-1/workers?commStyles=TentaclePassive'),
    ('/api/{baseSpaceId}/feeds', 'get', '/api/Spaces-1/feeds'),
    ('/api/{baseSpaceId}/accounts', 'get', '/api/Spaces-1/accounts'),
]


@pytest.mark.parametrize('swagger_path, method, path', ENDPOINTS)
def test_get_responses_match_swagger(swagger, busy_sim, swagger_path, method, path):  # pylint: disable=redefined-outer-name
    status, headers, body = busy_sim.request(method.upper(), path)
    assert status == 200, body
    assert headers['Octopus-Node'].startswith('name=')
    assert_valid(swagger, response_schema(swagger, swagger_path, method), body, path)


def test_every_task_state_matches_the_task_schema(swagger, busy_sim):  # pylint: disable=redefined-outer-name
    dummy, dummy2, page = busy_sim.request('GET', '/api/tasks?spaces=all&includeSystem=true')
    states = set(t['State'] for t in page['Items'])
    assert states >= {'Queued', 'Executing', 'Cancelling', 'Canceled', 'Success', 'Failed'}
    for item in page['Items']:
        assert_valid(swagger, response_schema(swagger, '/api/tasks/{id}'), item, item['Id'])
        assert item['Id'] and item['Name'] and item['State'] and item['QueueTime'] and item['Links']


def test_put_and_cancel_responses_match_swagger(swagger, busy_sim):  # pylint: disable=redefined-outer-name
    dummy, dummy2, node = busy_sim.request('GET', '/api/octopusservernodes/OctopusServerNodes-OCTO-NODE-01')
    status, dummy, body = busy_sim.request('PUT', '/api/octopusservernodes/OctopusServerNodes-OCTO-NODE-01', node)
    assert status == 200
    assert_valid(swagger, response_schema(swagger, '/api/octopusservernodes/{id}', 'put'), body, 'PUT node')
    for path, swagger_path in (('/api/tasks/ServerTasks-1/cancel', '/api/tasks/{id}/cancel'),
                               ('/api/Spaces-1/tasks/ServerTasks-2/cancel', '/api/{baseSpaceId}/tasks/{id}/cancel'),
                               ('/api/spaces/Spaces-1/tasks/ServerTasks-3/cancel', '/api/{baseSpaceId}/tasks/{id}/cancel')):
        status, dummy, body = busy_sim.request('POST', path)
        assert status == 200
        assert_valid(swagger, response_schema(swagger, swagger_path, 'post'), body, path)


def test_ping_and_summary_nodes_are_node_resources(swagger, busy_sim):  # pylint: disable=redefined-outer-name
    schema = {'$ref': '#/definitions/OctopusServerNodeResource'}
    for name in ('OCTO-NODE-01', 'OCTO-NODE-02', 'OCTO-NODE-03'):
        status, dummy, body = busy_sim.request('GET', '/api/octopusservernodes/ping', node=name, api_key=None)
        assert status in (200, 418)
        assert_valid(swagger, schema, body, 'ping of %s' % name)
    # no Swagger schema for /summary: check the REFERENCE field set and types, and the node schema
    dummy, dummy2, summary = busy_sim.request('GET', '/api/octopusservernodes/summary')
    assert set(summary) == {'Nodes', 'Links'}
    types = {'Id': str, 'Name': str, 'MaxConcurrentTasks': int, 'IsInMaintenanceMode': bool, 'IsOffline': bool,
             'RunningTaskCount': int, 'Version': str, 'MaxSqlConnectionPoolSize': int, 'RecommendedMaxSqlConnectionPoolSize': int,
             'Links': dict}
    for item in summary['Nodes']:
        assert_valid(swagger, schema, item, 'summary node')
        for key, kind in types.items():
            assert isinstance(item[key], kind), key
        assert item['LastSeen'] is None or ISO_RE.match(item['LastSeen'])
        assert item['Links']['Node'] == '/api/octopusservernodes/%s' % item['Id']
    offline = [n for n in summary['Nodes'] if n['Name'] == 'OCTO-NODE-03'][0]
    assert offline['IsOffline'] is True


def test_relaxation_is_needed_and_minimal(swagger, recorded_dir):  # pylint: disable=redefined-outer-name
    page = _load_json(os.path.join(recorded_dir, 'tasks-page0.json'))
    schema = {'$ref': '#/definitions/TaskResource'}
    strict_errors = list(validator_for(swagger, schema, strict=True).iter_errors(page['Items'][0]))
    relaxed_fields = set()
    for error in strict_errors:
        relaxed_fields.add(error.absolute_path[0])
    assert relaxed_fields == {'QueueTimeExpiry', 'Arguments'}
    assert not list(validator_for(swagger, schema).iter_errors(page['Items'][0]))


@pytest.mark.parametrize('name', ['tasks-page0.json', 'tasks-page1.json'])
def test_recorded_task_pages_match_the_relaxed_schema(swagger, recorded_dir, name):  # pylint: disable=redefined-outer-name
    page = _load_json(os.path.join(recorded_dir, name))
    assert_valid(swagger, {'$ref': '#/definitions/ResourceCollection_of_TaskResource'}, page, name)


def _json_type(value):
    return type(value).__name__ if value is not None else 'null'


def test_task_list_has_the_recorded_field_set_and_types(recorded_dir, make_sim):  # pylint: disable=redefined-outer-name
    recorded = [_load_json(os.path.join(recorded_dir, name)) for name in ('tasks-page0.json', 'tasks-page1.json')]
    sim = make_sim({'nodes': ['A']})
    for number in range(65):
        sim.control.add_task(Name='Deploy', Description='Deploy %d' % number, State='Success', ServerNode='A',
                             CompletedAgo=10000 - number * 10, Duration=32 + number, Arguments={'DeploymentId': 'Deployments-%d' % number})
    pages = [sim.request('GET', '/api/tasks?skip=%d' % skip)[2] for skip in (0, 30)]
    for mine, theirs in zip(pages, recorded):
        # collection level
        for key, value in theirs.items():
            assert key in mine, key
            assert _json_type(mine[key]) == _json_type(value), key
        numbered = re.compile(r'^Page\.\d+$')
        wanted = set(k for k in theirs['Links'] if not numbered.match(k))
        assert set(mine['Links']) >= wanted, wanted - set(mine['Links'])
        assert set(k for k in mine['Links'] if numbered.match(k)) == set('Page.%d' % n for n in range(mine['NumberOfPages']))
        assert mine['ItemsPerPage'] == theirs['ItemsPerPage'] == 30
        # item level: every recorded field, same JSON type (recorded items are finished tasks)
        for item in mine['Items']:
            for key, value in theirs['Items'][0].items():
                assert key in item, key
                assert _json_type(item[key]) == _json_type(value), (key, item[key], value)
            assert set(item['Links']) >= set(theirs['Items'][0]['Links'])
            for field in ('QueueTime', 'StartTime', 'LastUpdatedTime', 'CompletedTime'):
                assert ISO_RE.match(item[field]), field
            assert re.match(r'^\d+ (second|minute|hour|day)s?$', item['Duration'])
            assert re.match(r'^[A-Z][a-z]+day, [A-Z][a-z]+ \d{1,2}, \d{4} \d{1,2}:\d{2} [AP]M$', item['Completed'])
        # the recorded link shapes: Page.Next moves skip by ItemsPerPage, Page.Previous only after page 0
        assert ('Page.Previous' in mine['Links']) == ('Page.Previous' in theirs['Links'])
    assert 'skip=30' in pages[0]['Links']['Page.Next'] and 'skip=60' in pages[1]['Links']['Page.Next']
    assert 'skip=0' in pages[1]['Links']['Page.Previous']
    # recorded values have the same shapes as ours
    theirs_item = recorded[0]['Items'][0]
    assert re.match(r'^\d+ (second|minute|hour|day)s?$', theirs_item['Duration'])
    assert re.match(r'^[A-Z][a-z]+day, [A-Z][a-z]+ \d{1,2}, \d{4} \d{1,2}:\d{2} [AP]M$', theirs_item['Completed'])
    assert ISO_RE.match(theirs_item['QueueTime'])


def test_root_document_matches_the_recorded_root(recorded_dir, make_sim):  # pylint: disable=redefined-outer-name
    theirs = _load_json(os.path.join(recorded_dir, 'root-2019.7.12.json'))
    sim = make_sim({'nodes': ['A']})
    dummy, dummy2, mine = sim.request('GET', '/api', api_key=None)
    for key, value in theirs.items():
        assert key in mine, key
        assert _json_type(mine[key]) == _json_type(value), key
    shared = set(mine['Links']) & set(theirs['Links'])
    assert shared >= {'Self', 'SpaceHome', 'Spaces', 'OctopusServerNodes', 'OctopusServerClusterSummary', 'Tasks', 'ServerStatus',
                      'ServerHealthStatus', 'MaintenanceConfiguration', 'CurrentLicenseStatus', 'Machines', 'Workers', 'Accounts'}

    def parameters(template):
        names = set()
        for group in re.findall(r'\{\?([^}]*)\}', template):
            names.update(group.split(','))
        return names

    for key in shared:
        assert re.sub(r'\{[^}]*\}', '', mine['Links'][key]) == re.sub(r'\{[^}]*\}', '', theirs['Links'][key]), key
        assert parameters(mine['Links'][key]) >= parameters(theirs['Links'][key]), key
