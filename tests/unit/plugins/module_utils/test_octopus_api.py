# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# Copyright: Contributors to the octopus.ha collection
"""Unit tests of the HTTP layer at the open_url boundary (fixtures in tests/unit/conftest.py)."""

from __future__ import absolute_import, division, print_function
__metaclass__ = type

import re
import socket
import ssl

from urllib.error import URLError

import pytest

from ansible_collections.octopus.ha.plugins.module_utils import _octopus_api as api

NODES = 'octopusservernodes'
RETRYABLE = [503, 502, 504, 429]


# ---- URL normalisation ---------------------------------------------------------------------

@pytest.mark.parametrize('given, expected', [
    ('https://octopus.example.com', 'https://octopus.example.com'),
    ('  https://octopus.example.com/  ', 'https://octopus.example.com'),
    ('https://octopus.example.com///', 'https://octopus.example.com'),
    ('https://octopus.example.com/api', 'https://octopus.example.com'),
    ('https://octopus.example.com/api/', 'https://octopus.example.com'),
    ('https://octopus.example.com/API', 'https://octopus.example.com'),
    ('HTTPS://octopus.example.com:8443/octopus/api/', 'https://octopus.example.com:8443/octopus'),
    ('http://10.0.0.5:8080', 'http://10.0.0.5:8080'),
    ('https://octopus.example.com/apis', 'https://octopus.example.com/apis'),
])
def test_normalize_url(given, expected):
    assert api.normalize_url(given) == expected


@pytest.mark.parametrize('given, words', [
    ('', 'empty'),
    ('   ', 'empty'),
    (None, 'empty'),
    ('octopus.example.com', 'absolute'),
    ('/api', 'absolute'),
    ('ftp://octopus.example.com', 'absolute'),
    ('https://', 'absolute'),
    ('https://user:hunter2@octopus.example.com', 'credentials'),
    ('https://octopus.example.com/?apikey=API-X', 'query'),
    ('https://octopus.example.com/#frag', 'query'),
])
def test_normalize_url_rejects(given, words):
    with pytest.raises(ValueError) as exc:
        api.normalize_url(given)
    assert words in str(exc.value)
    assert 'hunter2' not in str(exc.value) and 'API-X' not in str(exc.value)


def test_argument_spec_merges_and_hides_key():
    spec = api.octopus_argument_spec(name=dict(type='str'))
    assert spec['api_key']['no_log'] is True
    assert spec['api_key']['fallback'][1] == ['OCTOPUS_API_KEY']
    assert spec['url']['fallback'][1] == ['OCTOPUS_URL']
    assert spec['validate_certs']['default'] is True
    assert 'name' in spec and 'name' not in api.OCTOPUS_CONNECTION_SPEC
    spec['timeout']['default'] = 1
    assert api.OCTOPUS_CONNECTION_SPEC['timeout']['default'] == 30


# ---- auth, TLS options, headers ------------------------------------------------------------

def test_key_only_in_unredirected_header(octopus_client, fake_http, octopus_reply, api_key):
    fake_http.route('GET', NODES, octopus_reply.reply({'Items': []}))
    octopus_client().get(NODES, query={'partialName': 'a b/c'})
    call = fake_http.calls[0]
    assert call.headers[api.API_KEY_HEADER] == api_key
    assert api_key not in call.url and 'apikey' not in call.url.lower()
    assert call.kwargs['unredirected_headers'] == [api.API_KEY_HEADER]
    assert call.kwargs['validate_certs'] is True and call.kwargs['use_netrc'] is False
    assert call.url.endswith('/api/octopusservernodes?partialName=a%20b%2Fc')


def test_root_is_anonymous(octopus_client, fake_http, octopus_reply):
    fake_http.route('GET', '', octopus_reply.reply(octopus_reply.root()))
    assert octopus_client().root()['Version'] == '2023.4.8319'
    assert api.API_KEY_HEADER not in fake_http.calls[0].headers
    assert fake_http.calls[0].url == 'https://octopus.example.com/api'


def test_tls_options_and_timeout_passed(octopus_client, fake_http, octopus_reply, tls_files):
    fake_http.route('GET', NODES, octopus_reply.reply({}))
    octopus_client(validate_certs=False, ca_path=tls_files.ca_path, timeout=7,
                   client_cert=tls_files.client_cert, client_key=tls_files.client_key).get(NODES)
    kwargs = fake_http.calls[0].kwargs
    assert (kwargs['validate_certs'], kwargs['ca_path'], kwargs['timeout']) == (False, tls_files.ca_path, 7)
    assert (kwargs['client_cert'], kwargs['client_key']) == (tls_files.client_cert, tls_files.client_key)


def test_empty_tls_paths_mean_unset(octopus_client, fake_http, octopus_reply):
    # An AWX credential without its optional CA field injects OCTOPUS_CA_PATH=''.
    fake_http.route('GET', NODES, octopus_reply.reply({}))
    octopus_client(ca_path='', client_cert='', client_key='').get(NODES)
    kwargs = fake_http.calls[0].kwargs
    assert (kwargs['ca_path'], kwargs['client_cert'], kwargs['client_key']) == (None, None, None)


def test_http_url_warns_once(octopus_client, fake_http, octopus_reply):
    fake_http.route('GET', NODES, octopus_reply.reply({}))
    client = octopus_client(url='http://octopus.example.com')
    client.get(NODES)
    client.get(NODES)
    assert len([w for w in client.warnings if 'http://' in w]) == 1


def test_https_does_not_warn(octopus_client, fake_http, octopus_reply):
    fake_http.route('GET', NODES, octopus_reply.reply({}))
    client = octopus_client()
    client.get(NODES)
    assert client.warnings == []


# ---- retries -------------------------------------------------------------------------------

def refused():
    return URLError(ConnectionRefusedError(111, 'Connection refused'))


def timed_out():
    return URLError(socket.timeout('timed out'))


@pytest.mark.parametrize('method', ['GET', 'PUT', 'DELETE'])
@pytest.mark.parametrize('status', RETRYABLE + [-1])
def test_transient_errors_retried_then_success(octopus_client, fake_http, octopus_reply, fake_clock, method, status):
    # A write is never repeated blindly (issue 8 section 6): after each unknown outcome the object
    # is read again (here it still shows the write did not land), then the write is sent again.
    failure = timed_out() if status == -1 else octopus_reply.error(status)
    fake_http.route(method, NODES, failure, failure, octopus_reply.reply({'Id': 'x'}))
    if method != 'GET':
        fake_http.route('GET', NODES, octopus_reply.reply({'Id': 'not-yet'}))
    client = octopus_client()
    call = dict(GET=lambda: client.get(NODES), PUT=lambda: client.put(NODES, {'Id': 'x'}),
                DELETE=lambda: client.delete(NODES))[method]
    assert call()
    assert fake_http.count(method, NODES) == 3
    assert len(fake_clock.sleeps) == 2
    assert len(client.warnings) == 1
    if method == 'GET':
        assert 'retried 2 times' in client.warnings[0]
    else:
        assert '3 attempts' in client.warnings[0]
        assert [c.method for c in fake_http.calls] == [method, 'GET', method, 'GET', method]
    assert client.mutating_requests_sent == (0 if method == 'GET' else 1)


@pytest.mark.parametrize('status', RETRYABLE + [-1])
def test_retries_are_bounded(octopus_client, fake_http, octopus_reply, status):
    fake_http.route('GET', NODES, timed_out() if status == -1 else octopus_reply.error(status))
    client = octopus_client(max_retries=3, request_deadline=10000)
    with pytest.raises(api.OctopusApiError) as exc:
        client.get(NODES)
    assert fake_http.count('GET') == 4
    assert exc.value.retries == 3 and exc.value.status == status
    assert 'after 3 retries' in str(exc.value)


@pytest.mark.parametrize('status', [400, 401, 403, 404, 409, 500])
def test_no_retry_on_client_errors(octopus_client, fake_http, octopus_reply, fake_clock, status):
    fake_http.route('GET', NODES, octopus_reply.error(status, 'nope'))
    with pytest.raises(api.OctopusApiError) as exc:
        octopus_client().get(NODES)
    assert fake_http.count(path=NODES) == 1 and fake_clock.sleeps == []
    # After a 404 the client reads GET /api (anonymous) once, to tell "no such object" from "not an Octopus Server".
    assert fake_http.count(path='') == (1 if status == 404 else 0)
    assert exc.value.status == status and exc.value.retries == 0


def test_backoff_grows_exponentially_with_full_jitter(octopus_client, fake_http, octopus_reply, fake_clock):
    fake_http.route('GET', NODES, octopus_reply.error(503))
    with pytest.raises(api.OctopusApiError):
        octopus_client(max_retries=7, request_deadline=100000, rng=lambda: 0.5).get(NODES)
    assert fake_clock.sleeps == [0.5, 1.0, 2.0, 4.0, 8.0, 15.0, 15.0]


def test_jitter_can_be_zero(octopus_client, fake_http, octopus_reply, fake_clock):
    fake_http.route('GET', NODES, octopus_reply.error(503), octopus_reply.reply({}))
    octopus_client(rng=lambda: 0.0).get(NODES)
    assert fake_clock.sleeps == [0.0]


def test_retry_after_seconds_is_a_minimum(octopus_client, fake_http, octopus_reply, fake_clock):
    fake_http.route('GET', NODES, octopus_reply.error(429, headers={'Retry-After': '7'}), octopus_reply.reply({}))
    client = octopus_client(rng=lambda: 0.0)
    client.get(NODES)
    assert fake_clock.sleeps == [7.0]
    assert client.warnings == ['Octopus API rate limited by https://octopus.example.com while trying to read /api/octopusservernodes, '
                               'retried 1 times.']


def test_retry_after_http_date_uses_server_date(octopus_client, fake_http, octopus_reply, fake_clock):
    headers = {'Retry-After': 'Thu, 01 Jan 2026 00:00:30 GMT', 'Date': 'Thu, 01 Jan 2026 00:00:10 GMT'}
    fake_http.route('GET', NODES, octopus_reply.error(503, headers=headers), octopus_reply.reply({}))
    octopus_client(rng=lambda: 0.0).get(NODES)
    assert fake_clock.sleeps == [20.0]


def test_retry_after_http_date_without_date_uses_wall_clock(octopus_client, fake_http, octopus_reply, fake_clock):
    fake_clock.wall = 1767225600.0  # Thu, 01 Jan 2026 00:00:00 GMT
    headers = {'Retry-After': 'Thu, 01 Jan 2026 00:00:12 GMT'}
    fake_http.route('GET', NODES, octopus_reply.error(429, headers=headers), octopus_reply.reply({}))
    octopus_client(rng=lambda: 0.0).get(NODES)
    assert fake_clock.sleeps == [12.0]


@pytest.mark.parametrize('value, expected', [
    ('0', 0.0), ('120', 120.0), (' 3 ', 3.0), ('garbage', None), (None, None), ('-5', None),
    ('Thu, 01 Jan 2026 00:00:05 GMT', 5.0), ('Wed, 31 Dec 2025 23:59:00 GMT', 0.0),
])
def test_parse_retry_after(value, expected):
    assert api.parse_retry_after(value, now=1767225600.0) == expected


def test_retry_after_beyond_deadline_fails_without_sleeping(octopus_client, fake_http, octopus_reply, fake_clock):
    fake_http.route('GET', NODES, octopus_reply.error(429, 'slow down', headers={'Retry-After': '600'}))
    with pytest.raises(api.OctopusApiError) as exc:
        octopus_client(request_deadline=60).get(NODES)
    assert fake_http.count() == 1 and fake_clock.sleeps == []
    assert exc.value.status == 429 and 'request_deadline' in str(exc.value)


def test_deadline_is_never_exceeded(octopus_client, fake_http, octopus_reply, fake_clock):
    fake_http.route('GET', NODES, dict(octopus_reply.error(503), delay=4))
    start = fake_clock.now
    with pytest.raises(api.OctopusApiError) as exc:
        octopus_client(max_retries=100, request_deadline=30).get(NODES)
    assert fake_clock.now - start <= 30 + 4
    assert sum(fake_clock.sleeps) + 4 * fake_http.count() - 4 <= 30
    assert 1 < fake_http.count() < 10
    assert 'request_deadline' in str(exc.value)


def test_request_timeout_shrinks_to_remaining_deadline(octopus_client, fake_http, octopus_reply):
    fake_http.route('GET', NODES, dict(octopus_reply.error(503), delay=25), octopus_reply.reply({}))
    octopus_client(timeout=30, request_deadline=40, rng=lambda: 0.0).get(NODES)
    assert [c.kwargs['timeout'] for c in fake_http.calls] == [30, 15]


def test_max_retries_zero_disables_retries(octopus_client, fake_http, octopus_reply):
    fake_http.route('GET', NODES, octopus_reply.error(503))
    with pytest.raises(api.OctopusApiError):
        octopus_client(max_retries=0).get(NODES)
    assert fake_http.count() == 1


def test_one_warning_per_episode(octopus_client, fake_http, octopus_reply):
    fake_http.route('GET', NODES, octopus_reply.error(503), octopus_reply.error(502), octopus_reply.reply({}))
    fake_http.route('GET', 'other', octopus_reply.error(504), octopus_reply.reply({}))
    client = octopus_client()
    client.get(NODES)
    client.get('other')
    assert len(client.warnings) == 2
    assert 'HTTP 502, HTTP 503' in client.warnings[0] and 'retried 2 times' in client.warnings[0]
    assert 'retried 1 times' in client.warnings[1]


# ---- POST ----------------------------------------------------------------------------------

@pytest.mark.parametrize('failure', [
    pytest.param('timeout', id='timeout'),
    pytest.param(503, id='503'),
    pytest.param(502, id='502'),
    pytest.param(429, id='429'),
    pytest.param('reset', id='connection-reset'),
])
def test_post_never_retried_once_it_may_have_been_sent(octopus_client, fake_http, octopus_reply, fake_clock, failure):
    replies = dict(timeout=timed_out(), reset=URLError(ConnectionResetError(104, 'reset by peer')))
    fake_http.route('POST', 'tasks/T-1/cancel', replies.get(failure) or octopus_reply.error(failure), octopus_reply.reply({}))
    client = octopus_client()
    with pytest.raises(api.OctopusApiError) as exc:
        client.post('tasks/T-1/cancel')
    assert fake_http.count('POST') == 1 and fake_clock.sleeps == []
    assert 'not retried' in str(exc.value) and 'read the object again' in str(exc.value)
    assert client.mutating_requests_sent == 0


@pytest.mark.parametrize('failure', [
    refused(),
    URLError(socket.gaierror(socket.EAI_AGAIN, 'Temporary failure in name resolution')),
    URLError(OSError(113, 'No route to host')),
])
def test_post_retried_when_never_sent(octopus_client, fake_http, octopus_reply, failure):
    fake_http.route('POST', 'tasks/T-1/cancel', failure, octopus_reply.reply({'State': 'Cancelling'}))
    client = octopus_client()
    assert client.post('tasks/T-1/cancel') == {'State': 'Cancelling'}
    assert fake_http.count('POST') == 2 and client.mutating_requests_sent == 1


def test_post_body_is_json(octopus_client, fake_http, octopus_reply):
    fake_http.route('POST', 'tasks', octopus_reply.reply({'Id': 'T-9'}, status=201))
    assert octopus_client().post('tasks', {'Name': 'Health'}) == {'Id': 'T-9'}
    assert fake_http.calls[0].body == {'Name': 'Health'}
    assert fake_http.calls[0].headers['Content-Type'] == 'application/json'


# ---- TLS -----------------------------------------------------------------------------------

@pytest.mark.parametrize('failure, words', [
    (URLError(ssl.SSLCertVerificationError(1, '[SSL: CERTIFICATE_VERIFY_FAILED] certificate verify failed')),
     ['ca_path', 'validate_certs']),
    (ssl.SSLError(1, 'wrong version number'), ['answers plain HTTP', 'Set url']),
    (api.SSLValidationError('Failed to validate the SSL certificate'), ['ca_path', 'validate_certs']),
    (URLError(ssl.SSLEOFError(8, 'EOF occurred in violation of protocol')), ['client_cert and client_key']),
])
def test_tls_errors_not_retried(octopus_client, fake_http, fake_clock, failure, words):
    fake_http.route('GET', NODES, failure)
    with pytest.raises(api.OctopusApiError) as exc:
        octopus_client().get(NODES)
    assert fake_http.count(path=NODES) == 1 and fake_clock.sleeps == []
    assert [w for w in words if w in str(exc.value)] == words, str(exc.value)


# ---- error mapping -------------------------------------------------------------------------

FORBIDDEN = ('You do not have permission to perform this action. Please contact your Octopus administrator. '
             'Missing permission: AdministerSystem')


def test_403_names_missing_permission(octopus_client, fake_http, octopus_reply):
    fake_http.route('PUT', NODES + '/N-1', octopus_reply.error(403, FORBIDDEN))
    with pytest.raises(api.OctopusApiError) as exc:
        octopus_client().put(NODES + '/N-1', {'Id': 'N-1'}, action='drain node N-1')
    text = str(exc.value)
    assert text.startswith('Could not drain node N-1: ')
    assert 'lacks AdministerSystem' in text and 'Grant the service account' in text
    assert exc.value.body['ErrorMessage'] == FORBIDDEN


def test_401_says_fix_the_key(octopus_client, fake_http, octopus_reply):
    fake_http.route('GET', NODES, octopus_reply.error(401, 'You must be logged in'))
    with pytest.raises(api.OctopusApiError) as exc:
        octopus_client().get(NODES)
    assert 'rejected the API key' in str(exc.value) and 'OCTOPUS_API_KEY' in str(exc.value)


def test_validation_errors_are_listed(octopus_client, fake_http, octopus_reply):
    fake_http.route('PUT', NODES + '/N-1', octopus_reply.error(400, 'There was a problem with your request.',
                                                               ['MaxConcurrentTasks must be >= 0', 'Name is required']))
    with pytest.raises(api.OctopusApiError) as exc:
        octopus_client().put(NODES + '/N-1', {})
    text = str(exc.value)
    assert 'HTTP 400: There was a problem with your request.; MaxConcurrentTasks must be >= 0; Name is required' in text
    assert exc.value.to_result()['errors'] == ['MaxConcurrentTasks must be >= 0', 'Name is required']


def test_404_raises_unless_allowed(octopus_client, fake_http, octopus_reply):
    fake_http.route('GET', NODES + '/gone', octopus_reply.error(404, 'Not found'))
    client = octopus_client()
    assert client.get(NODES + '/gone', allow_404=True) is None
    with pytest.raises(api.OctopusApiError) as exc:
        client.get(NODES + '/gone')
    assert exc.value.status == 404 and 'was not found' in str(exc.value)


def test_delete_reports_already_gone(octopus_client, fake_http, octopus_reply):
    fake_http.route('DELETE', NODES + '/a', octopus_reply.reply(None))
    fake_http.route('DELETE', NODES + '/b', octopus_reply.error(404))
    client = octopus_client()
    assert client.delete(NODES + '/a') is True
    assert client.delete(NODES + '/b') is False
    assert client.mutating_requests_sent == 1
    with pytest.raises(api.OctopusApiError):
        client.delete(NODES + '/b', allow_404=False)


def test_500_with_octopus_body(octopus_client, fake_http, octopus_reply):
    fake_http.route('GET', NODES, octopus_reply.error(500, 'Object reference not set to an instance of an object.'))
    with pytest.raises(api.OctopusApiError) as exc:
        octopus_client().get(NODES)
    assert 'HTTP 500: Object reference not set' in str(exc.value)


HTML = b'<html><head><title>502 Bad Gateway</title></head><body><h1>502 Bad Gateway</h1>' + b'x' * 500 + b'</body></html>'


@pytest.mark.parametrize('reply_args, words', [
    (dict(raw=HTML), 'not JSON'),
    (dict(raw=b''), 'empty body'),
    (dict(raw=b'   '), 'empty body'),
    (dict(raw=b'{"truncated": '), 'not JSON'),
])
def test_unexpected_response_on_success_status(octopus_client, fake_http, octopus_reply, reply_args, words):
    fake_http.route('GET', NODES, octopus_reply.reply(**reply_args))
    with pytest.raises(api.OctopusApiError) as exc:
        octopus_client().get(NODES)
    text = str(exc.value)
    assert 'unexpected response' in text and words in text and 'load balancer' in text
    assert exc.value.excerpt is None or len(exc.value.excerpt) <= api.EXCERPT_CHARS
    assert '<' not in (exc.value.excerpt or '')


def test_html_error_body_is_excerpted(octopus_client, fake_http, octopus_reply):
    fake_http.route('GET', NODES, octopus_reply.reply(status=502, raw=HTML))
    with pytest.raises(api.OctopusApiError) as exc:
        octopus_client(max_retries=0).get(NODES)
    assert exc.value.excerpt.startswith('502 Bad Gateway 502 Bad Gateway xxx')
    assert len(exc.value.excerpt) == api.EXCERPT_CHARS
    assert "HTTP 502: unexpected non-JSON response '502 Bad Gateway" in str(exc.value)


@pytest.mark.parametrize('kwargs, words', [
    (dict(timeout=0), 'timeout'),
    (dict(request_deadline=0), 'request_deadline'),
    (dict(request_deadline=-5), 'request_deadline'),
    (dict(max_retries=-1), 'max_retries'),
])
def test_limits_are_validated(octopus_client, fake_http, kwargs, words):
    with pytest.raises(ValueError) as exc:
        octopus_client(**kwargs)
    assert words in str(exc.value) and fake_http.calls == []


def test_sanitize_excerpt_strips_control_characters():
    assert api.sanitize_excerpt(b'a\x00b\x1b[31m\r\nc', ['zzz']) == 'a b [31m c'


def test_204_and_empty_delete_are_fine(octopus_client, fake_http, octopus_reply):
    fake_http.route('PUT', 'x', octopus_reply.reply(status=204))
    assert octopus_client().put('x', {}) == {}


def test_requests_are_recorded(octopus_client, fake_http, octopus_reply):
    fake_http.route('GET', NODES, octopus_reply.error(503), octopus_reply.reply({}))
    fake_http.route('PUT', NODES + '/a', octopus_reply.reply({}))
    client = octopus_client()
    client.get(NODES, query={'take': 1})
    client.put(NODES + '/a', {})
    assert client.requests == [('GET', NODES), ('GET', NODES), ('PUT', NODES + '/a')]
    assert client.mutating_requests_sent == 1


# ---- paging --------------------------------------------------------------------------------

def items(start, stop):
    return [{'Id': 'I-%d' % i} for i in range(start, stop)]


def test_paging_follows_page_next(octopus_client, fake_http, octopus_reply):
    fake_http.route('GET', 'tasks',
                    octopus_reply.reply(octopus_reply.page(items(0, 2), 5, '/api/tasks?skip=2&take=2{&states}')),
                    octopus_reply.reply(octopus_reply.page(items(2, 4), 5, '/api/tasks?skip=4&take=2')),
                    octopus_reply.reply(octopus_reply.page(items(4, 5), 5)))
    got = octopus_client().get_all('tasks', query={'states': 'Executing,Cancelling', 'node': 'N 1'}, page_size=2)
    assert [i['Id'] for i in got] == ['I-%d' % i for i in range(5)]
    assert [c.query['skip'] for c in fake_http.calls] == ['0', '2', '4']
    assert all(c.query['states'] == 'Executing,Cancelling' and c.query['node'] == 'N 1' for c in fake_http.calls)
    assert all('{' not in c.url for c in fake_http.calls)


def test_paging_with_virtual_directory_links(octopus_client, fake_http, octopus_reply):
    fake_http.route('GET', 'tasks',
                    octopus_reply.reply(octopus_reply.page(items(0, 1), 2, '/octopus/api/tasks?skip=1&take=1')),
                    octopus_reply.reply(octopus_reply.page(items(1, 2), 2)))
    got = octopus_client(url='https://h.example.com/octopus').get_all('tasks', page_size=1)
    assert len(got) == 2
    assert fake_http.calls[1].url == 'https://h.example.com/octopus/api/tasks?take=1&skip=1'


def test_paging_by_skip_take_without_links(octopus_client, fake_http, octopus_reply):
    fake_http.route('GET', NODES,
                    octopus_reply.reply(octopus_reply.page(items(0, 30), 65, links=False)),
                    octopus_reply.reply(octopus_reply.page(items(30, 60), 65, links=False)),
                    octopus_reply.reply(octopus_reply.page(items(60, 65), 65, links=False)))
    got = octopus_client().get_all(NODES)
    assert len(got) == 65
    assert [(c.query['skip'], c.query['take']) for c in fake_http.calls] == [('0', '30'), ('30', '30'), ('60', '30')]


def test_paging_stops_on_short_page_without_total(octopus_client, fake_http, octopus_reply):
    body = dict(Items=items(0, 3))
    fake_http.route('GET', NODES, octopus_reply.reply(body))
    assert len(octopus_client().get_all(NODES)) == 3 and fake_http.count() == 1


def test_plain_array_collection(octopus_client, fake_http, octopus_reply):
    fake_http.route('GET', NODES + '/all', octopus_reply.reply(items(0, 4)))
    assert len(octopus_client().get_all(NODES + '/all')) == 4


def test_page_size_is_never_giant(octopus_client, fake_http, octopus_reply):
    fake_http.route('GET', NODES, octopus_reply.reply(octopus_reply.page([], 0)))
    octopus_client().get_all(NODES, page_size=10 ** 9)
    assert int(fake_http.calls[0].query['take']) <= 1000


def test_repeated_next_link_guard(octopus_client, fake_http, octopus_reply):
    fake_http.route('GET', 'tasks',
                    octopus_reply.reply(octopus_reply.page(items(0, 2), 9, '/api/tasks?skip=2&take=2')),
                    octopus_reply.reply(octopus_reply.page(items(2, 4), 9, '/api/tasks?skip=2&take=2')))
    with pytest.raises(api.OctopusApiError) as exc:
        octopus_client().get_all('tasks', page_size=2)
    assert 'same page twice' in str(exc.value)
    assert fake_http.count() == 2


def test_repeated_items_guard_when_server_ignores_skip(octopus_client, fake_http, octopus_reply):
    fake_http.route('GET', NODES, octopus_reply.reply(octopus_reply.page(items(0, 30), 100, links=False)))
    with pytest.raises(api.OctopusApiError) as exc:
        octopus_client().get_all(NODES)
    assert 'same page twice' in str(exc.value) and fake_http.count() == 2


def test_max_items_cap(octopus_client, fake_http, octopus_reply):
    fake_http.route('GET', NODES, *[octopus_reply.reply(octopus_reply.page(items(i, i + 30), 10 ** 6, links=False))
                                    for i in range(0, 300, 30)])
    with pytest.raises(api.OctopusApiError) as exc:
        octopus_client().get_all(NODES, max_items=100)
    assert 'more than 100 items' in str(exc.value) and 'max_items' in str(exc.value)
    assert fake_http.count() == 4


def test_page_without_items_is_unexpected(octopus_client, fake_http, octopus_reply):
    fake_http.route('GET', NODES, octopus_reply.reply({'Nothing': 1}))
    with pytest.raises(api.OctopusApiError) as exc:
        octopus_client().get_all(NODES)
    assert 'unexpected response' in str(exc.value)


def test_page_retried_individually(octopus_client, fake_http, octopus_reply):
    fake_http.route('GET', 'tasks',
                    octopus_reply.reply(octopus_reply.page(items(0, 1), 2, '/api/tasks?skip=1&take=1')),
                    octopus_reply.error(503),
                    octopus_reply.reply(octopus_reply.page(items(1, 2), 2)))
    assert len(octopus_client().get_all('tasks', page_size=1)) == 2
    assert fake_http.count() == 3


# ---- relative paths ------------------------------------------------------------------------

@pytest.mark.parametrize('link, expected', [
    ('/api/tasks?skip=30&take=30', 'tasks?skip=30&take=30'),
    ('/api/octopusservernodes{/id}{?skip,take}', 'octopusservernodes'),
    ('/api', ''),
    ('octopusservernodes/summary', 'octopusservernodes/summary'),
    ('/apikeys/x', 'apikeys/x'),
])
def test_relative_path(octopus_client, link, expected):
    assert octopus_client().relative_path(link) == expected


# ---- from_module and fail_from_exception ---------------------------------------------------

class FakeModule:
    def __init__(self, **params):
        self.params = dict(url='https://o.example.com', api_key='API-K1', validate_certs=True, ca_path=None,
                           timeout=30, request_deadline=120, max_retries=5)
        self.params.update(params)
        self.no_log_values = set()
        self.warnings = []
        self.failed = None

    def warn(self, msg):
        self.warnings.append(msg)

    def fail_json(self, **kwargs):
        self.failed = kwargs
        raise SystemExit(1)


def test_from_module_registers_key_and_warns_through_module(fake_http, octopus_reply, monkeypatch):
    monkeypatch.setattr(api, 'ansible_open_url', fake_http)
    fake_http.route('GET', NODES, octopus_reply.reply({}))
    module = FakeModule(url='http://o.example.com/api/')
    client = api.OctopusClient.from_module(module)
    client.get(NODES)
    assert 'API-K1' in module.no_log_values
    assert client.base_url == 'http://o.example.com'
    assert len(module.warnings) == 1 and 'http://' in module.warnings[0]


def test_from_module_bad_url_raises_api_error():
    with pytest.raises(api.OctopusApiError) as exc:
        api.OctopusClient.from_module(FakeModule(url='octopus'))
    assert 'absolute http(s) URL' in str(exc.value)


def test_fail_from_exception(octopus_client, fake_http, octopus_reply):
    fake_http.route('GET', NODES, octopus_reply.error(403, FORBIDDEN))
    module = FakeModule()
    with pytest.raises(api.OctopusApiError) as exc:
        octopus_client().get(NODES)
    with pytest.raises(SystemExit):
        api.fail_from_exception(module, exc.value, node='x')
    assert module.failed['msg'] == str(exc.value)
    assert module.failed['api_error']['status'] == 403 and module.failed['node'] == 'x'
    with pytest.raises(SystemExit):
        api.fail_from_exception(module, LookupError('Name is ambiguous.'))
    assert module.failed == {'msg': 'Name is ambiguous.'}


# ---- secrets -------------------------------------------------------------------------------

SECRET_SCENARIOS = [
    ('GET', [timed_out()]),
    ('GET', [refused()]),
    ('GET', [URLError(ssl.SSLCertVerificationError(1, 'certificate verify failed'))]),
    ('GET', ['401']),
    ('GET', ['403']),
    ('GET', ['404']),
    ('GET', ['400']),
    ('GET', ['500']),
    ('GET', ['503']),
    ('GET', ['429']),
    ('GET', ['html']),
    ('GET', ['empty']),
    ('POST', ['503']),
    ('POST', [timed_out()]),
    ('PUT', ['409']),
]


def _secret_reply(octopus_reply, kind, key):
    if not isinstance(kind, str):
        return kind
    if kind == 'html':
        return octopus_reply.reply(raw='<html>proxy saw X-Octopus-ApiKey: %s</html>' % key)
    if kind == 'empty':
        return octopus_reply.reply(raw=b'')
    # A hostile or buggy server that echoes the key back in its error text.
    return octopus_reply.error(int(kind), 'Echo %s Missing permission: AdministerSystem' % key, ['key=%s' % key],
                               headers={'Retry-After': '1'})


@pytest.mark.parametrize('method, kinds', SECRET_SCENARIOS)
def test_api_key_never_in_messages(octopus_client, fake_http, octopus_reply, api_key, method, kinds):
    fake_http.route(method, NODES, *[_secret_reply(octopus_reply, k, api_key) for k in kinds])
    client = octopus_client(url='http://octopus.example.com', max_retries=2)
    with pytest.raises(api.OctopusApiError) as exc:
        client.post(NODES) if method == 'POST' else client.put(NODES, {}) if method == 'PUT' else client.get(NODES)
    err = exc.value
    texts = [str(err), repr(err), repr(err.args), err.excerpt or '', str(err.to_result())] + client.warnings
    assert not [t for t in texts if api_key in t]
    assert all(api_key not in c.url for c in fake_http.calls)
    assert re.match(r'^Could not [a-z]', str(err)) and str(err).rstrip().endswith('.')
