# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# Copyright: Contributors to the octopus.ha collection
"""The transport mistakes of docs/api-layer.md "Transport errors", over real sockets on 127.0.0.1.

The client runs with the real ansible open_url. Its clock and sleep are fakes, so "no retry" is
asserted as "no sleep and one request", never as a duration. Each error names the option to fix.
"""

from __future__ import absolute_import, division, print_function
__metaclass__ = type

import socket
import urllib.request

import pytest

from ansible_collections.octopus.ha.plugins.module_utils import _octopus_api as api
from ansible_collections.octopus.ha.tests.unit.plugins.module_utils.loopback import (
    LoopbackProxy, LoopbackServer, not_found, redirect_to)

KEY = 'API-TRANSPORTTESTKEY0123456789AB'
NODES = 'octopusservernodes'


@pytest.fixture(autouse=True)
def restore_global_opener(monkeypatch):
    """ansible's open_url installs its opener (proxies included) as urllib's global one: undo that per test."""
    monkeypatch.setattr(urllib.request, '_opener', urllib.request._opener)


@pytest.fixture
def client(fake_clock):
    def make(url, **kwargs):
        return api.OctopusClient(url, KEY, sleep=fake_clock.sleep, clock=fake_clock.monotonic, wallclock=fake_clock.time,
                                 rng=lambda: 1.0, **kwargs)
    return make


def failure(call):
    with pytest.raises(api.OctopusApiError) as exc:
        call()
    return exc.value


def keyed(server):
    return [r for r in server.requests if api.API_KEY_HEADER.lower() in (k.lower() for k in r['headers'])]


def test_https_url_to_a_plain_http_port(client, fake_clock, tls_files):
    with LoopbackServer() as server:
        octo = client(server.url.replace('http://', 'https://'), ca_path=tls_files.ca_path)
        err = failure(lambda: octo.get(NODES))
    assert 'answers plain HTTP on that port, not TLS' in str(err) and 'Set url' in str(err)
    assert 'ca_path' not in str(err)
    assert err.retries == 0 and fake_clock.sleeps == []
    # Only the anonymous plain-http look at GET /api that confirmed the diagnosis reached the server.
    assert [(r['method'], r['path']) for r in server.requests] == [('GET', '/api')] and keyed(server) == []


def test_http_url_to_an_https_port(client, fake_clock, tls_files):
    with LoopbackServer(tls=tls_files) as server:
        url = server.url.replace('https://', 'http://')
        octo = client(url)
        err = failure(lambda: octo.get(NODES))
    assert 'speaks TLS (HTTPS) on that port' in str(err)
    assert 'Set url to https://127.0.0.1:%d' % server.port in str(err)
    assert err.retries == 0 and fake_clock.sleeps == []
    # Nothing that crossed the wire in clear text carried the key.
    assert server.raw and not [raw for raw in server.raw if KEY.encode() in raw]


@pytest.mark.parametrize('status', [301, 302, 307, 308])
def test_http_url_redirected_to_https_never_sends_the_key_over_http(client, fake_clock, tls_files, status):
    with LoopbackServer(tls=tls_files) as target:
        with LoopbackServer(respond=redirect_to(target.url, status)) as redirector:
            octo = client(redirector.url, ca_path=tls_files.ca_path)
            err = failure(lambda: octo.get(NODES))
    assert 'redirects to %s/api' % target.url in str(err) and 'Set url to the https://' in str(err)
    assert 'rejected the API key' not in str(err)
    assert err.retries == 0 and fake_clock.sleeps == []
    assert keyed(redirector) == [] and not [raw for raw in redirector.raw if KEY.encode() in raw]
    assert keyed(target) == []


def test_http_redirect_found_through_the_root_document(client, tls_files):
    # octopus_cluster_info reads GET /api first: it follows the redirect anonymously, then the keyed read stops.
    with LoopbackServer(tls=tls_files) as target:
        with LoopbackServer(respond=redirect_to(target.url)) as redirector:
            octo = client(redirector.url, ca_path=tls_files.ca_path)
            assert octo.root()['Application'] == 'Octopus Deploy'
            err = failure(lambda: octo.get(NODES))
    assert 'redirects to %s/api' % target.url in str(err)
    assert keyed(redirector) == [] and keyed(target) == []


def test_http_redirect_to_an_untrusted_https_server(client, tls_files):
    # Without ca_path the redirected look fails TLS validation: still a redirect, still no key sent.
    with LoopbackServer(tls=tls_files) as target:
        with LoopbackServer(respond=redirect_to(target.url)) as redirector:
            octo = client(redirector.url)
            err = failure(octo.root)
            err2 = failure(lambda: octo.get(NODES))
    assert 'redirects to https' in str(err) and 'redirects to https' in str(err2)
    assert keyed(redirector) == [] and keyed(target) == []


def test_plain_http_server_still_works_and_warns(client):
    with LoopbackServer() as server:
        octo = client(server.url)
        assert octo.get(NODES) == {'Items': [], 'TotalResults': 0}
        octo.get(NODES)
    # One anonymous look at GET /api before the key first goes out, then the keyed requests.
    assert [(r['method'], r['path'].split('?')[0]) for r in server.requests] == [
        ('GET', '/api'), ('GET', '/api/octopusservernodes'), ('GET', '/api/octopusservernodes')]
    assert keyed(server) == server.requests[1:]
    assert len([w for w in octo.warnings if 'plain http://' in w]) == 1


@pytest.mark.parametrize('option', ['ca_path', 'client_cert', 'client_key'])
def test_missing_tls_file_fails_before_any_request(tmp_path, tls_files, option):
    paths = dict(ca_path=tls_files.ca_path, client_cert=tls_files.client_cert, client_key=tls_files.client_key)
    paths[option] = str(tmp_path / 'missing.pem')
    with LoopbackServer(tls=tls_files) as server:
        with pytest.raises(ValueError) as exc:
            api.OctopusClient(server.url, KEY, **paths)
    assert 'The Octopus %s %s does not exist. Set %s' % (option, paths[option], option) in str(exc.value)
    assert server.raw == []


def test_unusable_tls_files_fail_before_any_request(tmp_path, tls_files):
    garbage = tmp_path / 'garbage.pem'
    garbage.write_text('not a certificate\n')
    with pytest.raises(ValueError) as exc:
        api.OctopusClient('https://127.0.0.1:1', KEY, ca_path=str(garbage))
    assert 'is not a PEM bundle' in str(exc.value) and 'Set ca_path' in str(exc.value)
    with pytest.raises(ValueError) as exc:
        api.OctopusClient('https://127.0.0.1:1', KEY, ca_path=str(tmp_path))
    assert 'is a directory' in str(exc.value)
    with pytest.raises(ValueError) as exc:
        api.OctopusClient('https://127.0.0.1:1', KEY, client_cert=tls_files.client_cert, client_key=tls_files.server_cert)
    assert 'client_cert' in str(exc.value) and 'could not be loaded' in str(exc.value)
    with pytest.raises(ValueError) as exc:
        api.OctopusClient('https://127.0.0.1:1', KEY, client_key=tls_files.client_key)
    assert 'client_key is set without client_cert' in str(exc.value)


def test_missing_ca_path_from_module_is_an_api_error(tmp_path):
    class Module:
        params = dict(url='https://127.0.0.1:1', api_key=KEY, validate_certs=True, ca_path=str(tmp_path / 'nope.pem'),
                      timeout=30, request_deadline=120, max_retries=5)
        no_log_values = set()

        def warn(self, msg):
            raise AssertionError(msg)

    with pytest.raises(api.OctopusApiError) as exc:
        api.OctopusClient.from_module(Module())
    assert 'ca_path' in str(exc.value) and 'does not exist' in str(exc.value)


def test_invalid_host_fails_without_dns_or_retries(client, fake_clock, monkeypatch):
    asked = []
    real = socket.getaddrinfo

    def recording(host, *args, **kwargs):
        asked.append(host)
        return real(host, *args, **kwargs)

    monkeypatch.setattr(socket, 'getaddrinfo', recording)
    octo = client('https://octopus.invalid')
    err = failure(lambda: octo.get(NODES))
    assert 'the host name octopus.invalid in url does not resolve' in str(err) and 'Check the host name in url' in str(err)
    assert err.retries == 0 and fake_clock.sleeps == [] and asked == []
    err = failure(lambda: octo.post('tasks/ServerTasks-1/cancel'))
    assert 'may already have reached' not in str(err) and fake_clock.sleeps == []


def test_name_that_does_not_exist_is_not_retried(client, fake_clock, monkeypatch):
    def nxdomain(host, *args, **kwargs):
        raise socket.gaierror(socket.EAI_NONAME, 'Name or service not known')

    monkeypatch.setattr(socket, 'getaddrinfo', nxdomain)
    err = failure(lambda: client('https://octopus.example.test', max_retries=5).get(NODES))
    assert 'does not resolve' in str(err) and err.retries == 0 and fake_clock.sleeps == []


def test_temporary_dns_failure_is_retried(client, fake_clock, monkeypatch):
    def again(host, *args, **kwargs):
        raise socket.gaierror(socket.EAI_AGAIN, 'Temporary failure in name resolution')

    monkeypatch.setattr(socket, 'getaddrinfo', again)
    err = failure(lambda: client('https://octopus.example.test', max_retries=2, request_deadline=10000).get(NODES))
    assert err.retries == 2 and len(fake_clock.sleeps) == 2 and 'cannot reach' in str(err)


def test_url_that_is_not_an_octopus_server(client, fake_clock):
    with LoopbackServer(respond=not_found) as server:
        octo = client(server.url + '/wrong')
        # Even a lookup that treats 404 as "absent" must not conclude that the node is gone.
        err = failure(lambda: octo.get('octopusservernodes/OctopusServerNodes-1', allow_404=True))
    assert '%s/wrong is not an Octopus Server' % server.url in str(err)
    assert 'Set url to the address of the Octopus Server web portal' in str(err) and 'Check the id or name' not in str(err)
    assert err.retries == 0 and fake_clock.sleeps == []


def test_root_404_says_not_an_octopus_server(client):
    with LoopbackServer(respond=not_found) as server:
        err = failure(lambda: client(server.url).root())
    assert 'is not an Octopus Server' in str(err)


def test_a_missing_object_on_a_real_server_is_still_absent(client):
    with LoopbackServer() as server:
        octo = client(server.url)
        assert octo.get('octopusservernodes/OctopusServerNodes-9', allow_404=True) is None
        assert octo.get('octopusservernodes/OctopusServerNodes-8', allow_404=True) is None
        err = failure(lambda: octo.get('octopusservernodes/OctopusServerNodes-7'))
    assert 'was not found (HTTP 404' in str(err)
    # GET /api is read once per client: before the key goes out over http, and it also settles the 404 question.
    assert [r['path'] for r in server.requests].count('/api') <= 2


# ---- mutual TLS -----------------------------------------------------------------------------

def test_mutual_tls_with_client_certificate(client, tls_files):
    with LoopbackServer(tls=tls_files, require_client_cert=True) as server:
        octo = client(server.url, ca_path=tls_files.ca_path, client_cert=tls_files.client_cert,
                      client_key=tls_files.client_key)
        assert octo.get(NODES)['TotalResults'] == 0
    assert len(keyed(server)) == 1


def test_mutual_tls_without_client_certificate_names_the_options(client, fake_clock, tls_files):
    with LoopbackServer(tls=tls_files, require_client_cert=True) as server:
        err = failure(lambda: client(server.url, ca_path=tls_files.ca_path).get(NODES))
    assert 'set client_cert and client_key' in str(err)
    assert err.retries == 0 and fake_clock.sleeps == [] and server.requests == []


def test_mutual_tls_with_an_untrusted_client_certificate(client, tmp_path, tls_files):
    from ansible_collections.octopus.ha.tests.unit.conftest import make_tls_files
    other = make_tls_files(str(tmp_path))
    with LoopbackServer(tls=tls_files, require_client_cert=True) as server:
        err = failure(lambda: client(server.url, ca_path=tls_files.ca_path, client_cert=other.client_cert,
                                     client_key=other.client_key).get(NODES))
    assert 'Check that the server trusts client_cert %s' % other.client_cert in str(err)
    assert server.requests == []


def test_certificate_from_an_unknown_ca_names_ca_path(client, fake_clock, tls_files):
    with LoopbackServer(tls=tls_files) as server:
        err = failure(lambda: client(server.url).get(NODES))
    assert 'TLS certificate validation failed' in str(err) and 'ca_path is not set' in str(err)
    assert 'OCTOPUS_CA_PATH' in str(err) and fake_clock.sleeps == []


def test_certificate_for_another_host_names_url(client, tls_files):
    other = tls_files._replace(server_cert=tls_files.other_host_cert, server_key=tls_files.other_host_key)
    with LoopbackServer(tls=other) as server:
        # This certificate names octopus.example.com only.
        err = failure(lambda: client(server.url, ca_path=tls_files.ca_path).get(NODES))
    assert 'does not name the host 127.0.0.1' in str(err) and 'Set url' in str(err)


# ---- proxies (documented in docs/api-layer.md: open_url honours the *_proxy variables) ------

def test_http_proxy_from_the_environment(client, monkeypatch):
    with LoopbackServer() as server, LoopbackProxy() as proxy:
        monkeypatch.setenv('http_proxy', proxy.url)
        monkeypatch.delenv('no_proxy', raising=False)
        monkeypatch.delenv('NO_PROXY', raising=False)
        assert client(server.url).get(NODES)['TotalResults'] == 0
    assert [r['target'] for r in proxy.requests] == ['%s/api' % server.url, '%s/api/%s' % (server.url, NODES)]
    assert len(keyed(server)) == 1


def test_https_proxy_tunnels_with_connect(client, monkeypatch, tls_files):
    with LoopbackServer(tls=tls_files) as server, LoopbackProxy() as proxy:
        monkeypatch.setenv('https_proxy', proxy.url)
        monkeypatch.delenv('no_proxy', raising=False)
        monkeypatch.delenv('NO_PROXY', raising=False)
        assert client(server.url, ca_path=tls_files.ca_path).get(NODES)['TotalResults'] == 0
    assert proxy.requests == [dict(method='CONNECT', target='127.0.0.1:%d' % server.port)]
    # The proxy saw only the tunnel: the key travelled inside TLS.
    assert not [raw for raw in proxy.raw if KEY.encode() in raw]


def test_no_proxy_bypasses_the_proxy(client, monkeypatch):
    with LoopbackServer() as server, LoopbackProxy() as proxy:
        monkeypatch.setenv('http_proxy', proxy.url)
        monkeypatch.setenv('no_proxy', '127.0.0.1')
        assert client(server.url).get(NODES)['TotalResults'] == 0
    assert proxy.requests == [] and len(keyed(server)) == 1


# ---- environment fallbacks of the connection options ----------------------------------------

def _params(monkeypatch, env, args=None):
    from ansible.module_utils.basic import AnsibleModule
    from ansible_collections.octopus.ha.tests.unit.compat import patch_module_args
    for name in ('OCTOPUS_URL', 'OCTOPUS_API_KEY', 'OCTOPUS_VALIDATE_CERTS', 'OCTOPUS_CA_PATH', 'OCTOPUS_CLIENT_CERT',
                 'OCTOPUS_CLIENT_KEY'):
        monkeypatch.delenv(name, raising=False)
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    with patch_module_args(args or {}):
        return AnsibleModule(argument_spec=api.octopus_argument_spec()).params


def test_env_fallbacks(monkeypatch, tls_files):
    params = _params(monkeypatch, {'OCTOPUS_URL': 'https://o.example.com', 'OCTOPUS_API_KEY': KEY,
                                   'OCTOPUS_VALIDATE_CERTS': 'false', 'OCTOPUS_CA_PATH': tls_files.ca_path,
                                   'OCTOPUS_CLIENT_CERT': tls_files.client_cert, 'OCTOPUS_CLIENT_KEY': tls_files.client_key})
    assert (params['url'], params['api_key'], params['validate_certs']) == ('https://o.example.com', KEY, False)
    assert (params['ca_path'], params['client_cert'], params['client_key']) == (
        tls_files.ca_path, tls_files.client_cert, tls_files.client_key)


def test_task_arguments_win_over_env_and_defaults_apply(monkeypatch, tls_files):
    params = _params(monkeypatch, {'OCTOPUS_VALIDATE_CERTS': 'no', 'OCTOPUS_CA_PATH': '/from/env.pem'},
                     dict(url='https://o.example.com', api_key=KEY, validate_certs=True, ca_path=tls_files.ca_path))
    assert params['validate_certs'] is True and params['ca_path'] == tls_files.ca_path
    params = _params(monkeypatch, {}, dict(url='https://o.example.com', api_key=KEY))
    assert params['validate_certs'] is True and params['ca_path'] is None and params['client_cert'] is None
