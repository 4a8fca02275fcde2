# Copyright (c) octopus.ha contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Authentication, permissions, error bodies, faults and the request log."""
from __future__ import absolute_import, division, print_function
__metaclass__ = type

import http.client
import socket
import threading
import urllib.error

import pytest

from octosim.testing import ADMIN_KEY, SimulatorError, http_request

VIEWER = 'API-VIEWER00000000000000000000'
NODE_READER = 'API-NODEREADER000000000000000'
KEYS = {
    'nodes': [{'Name': 'A', 'PollOffset': 1}, {'Name': 'B', 'PollOffset': 2}],
    'api_keys': [
        {'name': 'admin', 'key': ADMIN_KEY, 'permissions': ['*']},
        {'name': 'viewer', 'key': VIEWER, 'permissions': ['TaskView']},
        {'name': 'node-reader', 'key': NODE_READER, 'permissions': ['ServerNodeView', 'TaskView']},
    ],
    'permissions': {'node_read': ['AdministerSystem', 'ServerNodeView']},
}
MISSING = ('You do not have permission to perform this action. Please contact your Octopus administrator. '
           'Missing permission: %s')


def test_root_and_ping_are_anonymous(make_sim):
    sim = make_sim(KEYS)
    for path in ('/api', '/api/', '/api/octopusservernodes/ping', '/api/serverstatus/health'):
        status, headers, body = sim.request('GET', path, api_key=None)
        assert status == 200, path
        assert headers['Octopus-Node'] == 'name=A; version=2023.4.8319'
    assert sim.request('GET', '/api', api_key=None)[2]['ApiVersion'] == '3.0.0'


@pytest.mark.parametrize('key', [None, 'API-WRONG0000000000000000000000'])
def test_missing_or_unknown_key_is_401(make_sim, key):
    sim = make_sim(KEYS)
    for method, path in (('GET', 'octopusservernodes/summary'), ('GET', 'tasks'), ('PUT', 'octopusservernodes/OctopusServerNodes-A'),
                         ('POST', 'tasks/ServerTasks-1/cancel')):
        status, headers, body = sim.request(method, path, {'Name': 'A'} if method == 'PUT' else None, api_key=key)
        assert status == 401, path
        assert set(body) >= {'ErrorMessage', 'Errors'}
        assert headers['Octopus-Node'].startswith('name=A;')
        if key:
            assert key not in str(body)


@pytest.mark.parametrize('key, method, path, permission', [
    (VIEWER, 'GET', 'octopusservernodes/summary', 'AdministerSystem'),
    (VIEWER, 'GET', 'octopusservernodes', 'AdministerSystem'),
    (NODE_READER, 'PUT', 'octopusservernodes/OctopusServerNodes-A', 'AdministerSystem'),
    (NODE_READER, 'DELETE', 'octopusservernodes/OctopusServerNodes-A', 'AdministerSystem'),
    (VIEWER, 'POST', 'tasks/ServerTasks-1/cancel', 'TaskCancel'),
    (VIEWER, 'GET', 'licenses/licenses-current-status', 'AdministerSystem'),
    (VIEWER, 'GET', 'Spaces-1/machines', 'MachineView'),
])
def test_forbidden_body_names_the_missing_permission(make_sim, key, method, path, permission):
    sim = make_sim(KEYS)
    sim.control.add_task(Name='Deploy', ServerNode='A', Duration=100)
    status, dummy, body = sim.request(method, path, {'Id': 'OctopusServerNodes-A', 'Name': 'A'} if method == 'PUT' else None,
                                      api_key=key)
    assert status == 403
    assert body['ErrorMessage'] == MISSING % permission
    assert body['Errors'] == []
    assert body['HelpText']
    assert sim.request('GET', 'octopusservernodes/OctopusServerNodes-A')[2]['Name'] == 'A'


def test_configurable_node_read_permission(make_sim):
    sim = make_sim(KEYS)
    assert sim.request('GET', 'octopusservernodes/summary', api_key=NODE_READER)[0] == 200
    assert sim.request('GET', 'tasks', api_key=VIEWER)[0] == 200


def test_key_in_query_is_accepted_and_logged_as_such(make_sim):
    sim = make_sim(KEYS)
    status, dummy, dummy2 = http_request(sim.url + '/api/octopusservernodes/summary?apikey=' + ADMIN_KEY)
    assert status == 200
    status, dummy, dummy2 = http_request(sim.url + '/api/tasks?ApiKey=' + VIEWER)
    assert status == 200
    sim.request('GET', 'tasks')
    log = sim.control.requests()
    assert [e['key_source'] for e in log] == ['query', 'query', 'header']
    assert ADMIN_KEY not in str(log) and VIEWER not in str(log)
    assert log[0]['query'] == {'apikey': '<redacted>'}


def test_error_shapes(make_sim):
    sim = make_sim(KEYS)
    for method, path, status in (('GET', 'octopusservernodes/OctopusServerNodes-NOPE', 404), ('GET', 'tasks?take=x', 400),
                                 ('DELETE', 'tasks', 405)):
        got, dummy, body = sim.request(method, path)
        assert got == status
        assert isinstance(body['ErrorMessage'], str) and isinstance(body['Errors'], list)


def test_status_fault_with_retry_after_and_count(make_sim):
    sim = make_sim(KEYS)
    fault = sim.control.add_fault(kind='status', status=429, retry_after=7, path='/summary$', count=2)
    assert fault['remaining'] == 2
    for dummy in range(2):
        status, headers, body = sim.request('GET', 'octopusservernodes/summary')
        assert status == 429
        assert headers['Retry-After'] == '7'
        assert body['ErrorMessage']
    assert sim.request('GET', 'octopusservernodes/summary')[0] == 200
    assert sim.request('GET', '/api')[0] == 200
    assert sim.control.faults()[0]['applied'] == 2


def test_fault_filters_by_method_and_node(make_sim):
    sim = make_sim(KEYS)
    sim.control.add_fault(kind='status', status=500, method='^PUT$', node='B')
    dummy, dummy2, node = sim.request('GET', 'octopusservernodes/OctopusServerNodes-A')
    assert sim.request('PUT', 'octopusservernodes/OctopusServerNodes-A', node)[0] == 200
    assert sim.request('PUT', 'octopusservernodes/OctopusServerNodes-A', node, node='B')[0] == 500
    assert sim.request('GET', 'octopusservernodes/OctopusServerNodes-A', node='B')[0] == 200


def test_html_fault_looks_like_a_load_balancer(make_sim):
    sim = make_sim(KEYS)
    sim.control.add_fault(kind='html', count=1)
    status, headers, body = sim.request('GET', 'octopusservernodes/summary')
    assert status == 502
    assert headers['Content-Type'].startswith('text/html')
    assert 'Octopus-Node' not in headers
    assert '502 Bad Gateway' in body


def test_drop_fault_closes_the_connection(make_sim):
    sim = make_sim(KEYS)
    sim.control.add_fault(kind='drop', count=1)
    with pytest.raises((http.client.RemoteDisconnected, ConnectionError, urllib.error.URLError)):
        sim.request('GET', 'octopusservernodes/summary')
    assert sim.control.requests()[-1]['status'] == 'dropped'
    assert sim.request('GET', 'octopusservernodes/summary')[0] == 200


def test_timeout_fault_then_drop(make_sim):
    sim = make_sim(KEYS)
    sim.control.add_fault(kind='timeout', latency=0.6, count=1)
    with pytest.raises((socket.timeout, TimeoutError, urllib.error.URLError)):
        sim.request('GET', 'tasks', timeout=0.2)
    assert sim.request('GET', 'tasks')[0] == 200


def test_latency_fault_serves_after_a_delay(make_sim):
    sim = make_sim(KEYS)
    sim.control.add_fault(kind='latency', latency=0.2, count=1)
    assert sim.request('GET', 'tasks')[0] == 200
    assert sim.control.requests()[-1]['fault_kind'] == 'latency'


def test_phase_after_applies_the_put_then_fails(make_sim):
    sim = make_sim(KEYS)
    sim.control.add_fault(kind='timeout', latency=0.5, method='PUT', count=1, phase='after')
    dummy, dummy2, node = sim.request('GET', 'octopusservernodes/OctopusServerNodes-A')
    node['IsInMaintenanceMode'] = True
    with pytest.raises((socket.timeout, TimeoutError, urllib.error.URLError)):
        sim.request('PUT', 'octopusservernodes/OctopusServerNodes-A', node, timeout=0.2)
    assert sim.request('GET', 'octopusservernodes/OctopusServerNodes-A')[2]['IsInMaintenanceMode'] is True
    entry = [e for e in sim.control.requests() if e['method'] == 'PUT'][0]
    assert entry['applied'] is True
    assert entry['body']['IsInMaintenanceMode'] is True


def test_5xx_after_cancel_post_still_cancels(make_sim):
    sim = make_sim(KEYS)
    running = sim.control.add_task(Name='Deploy', ServerNode='A', Duration=1000)
    sim.control.add_fault(kind='status', status=503, method='POST', path='/cancel$', phase='after', count=1)
    status, dummy, dummy2 = sim.request('POST', 'Spaces-1/tasks/%s/cancel' % running['Id'])
    assert status == 503
    assert sim.request('GET', 'tasks/%s' % running['Id'])[2]['State'] == 'Cancelling'


def test_phase_before_does_not_touch_the_state(make_sim):
    sim = make_sim(KEYS)
    running = sim.control.add_task(Name='Deploy', ServerNode='A', Duration=1000)
    sim.control.add_fault(kind='status', status=503, method='POST', count=1)
    assert sim.request('POST', 'tasks/%s/cancel' % running['Id'])[0] == 503
    assert sim.request('GET', 'tasks/%s' % running['Id'])[2]['State'] == 'Executing'
    assert sim.control.requests()[0]['applied'] is False


def test_rate_faults_are_reproducible(make_sim):
    def pattern():
        sim = make_sim(KEYS)
        sim.control.add_fault(kind='status', status=503, rate=0.5, seed=42)
        result = [sim.request('GET', '/api', api_key=None)[0] for dummy in range(20)]
        sim.stop()
        return result
    first = pattern()
    assert 200 in first and 503 in first
    assert pattern() == first


def test_fault_validation_and_removal(make_sim):
    sim = make_sim(KEYS)
    for spec in ({'kind': 'explode'}, {'phase': 'during'}, {'rate': 2}, {'path': '('}, {'count': -1}, {'bogus': 1}):
        with pytest.raises(SimulatorError) as info:
            sim.control.add_fault(**spec)
        assert info.value.status == 400
    fault = sim.control.add_fault(kind='status', status=500)
    sim.control.call('DELETE', 'faults/%d' % fault['id'])
    assert sim.control.faults() == []
    sim.control.add_fault(kind='status', status=500)
    sim.control.clear_faults()
    assert sim.request('GET', '/api')[0] == 200


def test_faults_never_touch_the_control_api(make_sim):
    sim = make_sim(KEYS)
    sim.control.add_fault(kind='drop')
    assert sim.control.state()['nodes']
    sim.control.clear_faults()


def test_request_log_entries(make_sim):
    sim = make_sim(KEYS)
    sim.control.advance(42)
    sim.request('GET', 'tasks?states=Executing,Cancelling&take=5&states=Queued')
    sim.request('GET', 'octopusservernodes/ping', node='B', api_key=None)
    log = sim.control.requests()
    assert [e['seq'] for e in log] == [1, 2]
    first = log[0]
    assert first['method'] == 'GET' and first['path'] == '/api/tasks'
    assert first['query'] == {'states': ['Executing,Cancelling', 'Queued'], 'take': '5'}
    assert first['status'] == 200
    assert first['time'] == '2024-03-01T10:00:42.000+00:00'
    assert first['wall'].endswith('+00:00')
    assert first['node'] == 'A' and log[1]['node'] == 'B'
    assert log[1]['path'] == '/node/B/api/octopusservernodes/ping'
    assert first['fault'] is None and first['key_source'] == 'header' and log[1]['key_source'] is None
    assert [e['seq'] for e in sim.control.requests(since=1)] == [2]
    sim.control.clear_requests()
    assert sim.control.requests() == []


def test_malformed_bodies_on_success_status(make_sim):
    sim = make_sim(KEYS)
    sim.control.add_fault(kind='status', status=200, path='/summary$', body={'Nodes': [{'Id': 'OctopusServerNodes-A', 'LastSeen': None}]},
                          count=1)
    status, dummy, body = sim.request('GET', 'octopusservernodes/summary')
    assert status == 200 and 'RunningTaskCount' not in body['Nodes'][0]
    sim.control.add_fault(kind='status', status=200, body='', count=1)
    assert sim.request('GET', 'octopusservernodes/summary')[2] is None
    sim.control.add_fault(kind='status', status=200, body='{broken', content_type='application/json', count=1)
    assert sim.request('GET', 'octopusservernodes/summary')[2] == '{broken'


def test_concurrent_clients(make_sim):
    sim = make_sim(KEYS)
    results = []

    def client():
        for dummy in range(5):
            results.append(sim.request('GET', 'octopusservernodes/summary')[0])

    threads = [threading.Thread(target=client) for dummy in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
    assert results == [200] * 40
    assert [e['seq'] for e in sim.control.requests()] == list(range(1, 41))


def test_internal_errors_answer_500_instead_of_dropping(make_sim, monkeypatch, capsys):
    sim = make_sim(KEYS)

    def broken(req):
        raise KeyError('boom %s' % req.path)

    for route in sim.simulator.api.routes:
        if route.handler.__name__ == 'nodes_summary':
            monkeypatch.setattr(route, 'handler', broken)
    status, dummy, body = sim.request('GET', 'octopusservernodes/summary')
    assert status == 500
    assert 'boom' in body['ErrorMessage'] and 'Traceback' in body['FullException']
    assert 'internal error' in capsys.readouterr().err
    assert sim.request('GET', 'octopusservernodes/all')[0] == 200
