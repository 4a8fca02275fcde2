# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# Copyright: Contributors to the octopus.ha collection
"""Shared unit-test fixtures: a fake HTTP layer for the Octopus API client.

The fake replaces ``ansible.module_utils.urls.open_url`` at the boundary the client uses, so
everything above it (retries, paging, error mapping, modules) runs for real. Nothing sleeps:
``fake_clock`` records sleeps and moves a fake clock instead.

Fixtures
  fake_clock       FakeClock: .now (monotonic), .wall (epoch), .sleeps, .sleep(s), .advance(s)
  fake_http        FakeHttp: .route(method, path, *replies), .calls, .count(method, path)
  octopus_reply    builders: reply(), error(), node(), summary(), page(), root(), task()
  octopus_client   factory: octopus_client(**kwargs) -> OctopusClient wired to fake_http/fake_clock
  patch_octopus    patches the client defaults (open_url, time, random) so module main() uses the fakes
  run_module       run_module(main, args, connection=True) -> (result dict, exit code) with patch_module_args
  warning_texts    warning_texts(result) -> list of warning strings (2.19 returns warnings as dicts)
  api_key          the API key used by all fixtures (tests assert it never leaks)
  tls_files        TlsFiles: a throw-away CA (ca_path), a server certificate for localhost/127.0.0.1
                   (server_cert, server_key), a client certificate (client_cert, client_key) and a server
                   certificate for octopus.example.com only (other_host_cert, other_host_key), all PEM
  (autouse)        isolated_module_warnings: each test starts with an empty ansible-core warning registry

Runs on ansible-core 2.16 too (scripts/test.sh stage core216): patch_module_args and the warning
registry of 2.19 have fallbacks.
"""

from __future__ import absolute_import, division, print_function
__metaclass__ = type

import collections
import datetime
import io
import ipaddress
import json
import os
import re

from email.message import Message
from urllib.error import HTTPError
from urllib.parse import parse_qsl, urlsplit

import pytest

from ansible.module_utils.common import warnings as ansible_warnings
from ansible_collections.octopus.ha.plugins.module_utils import _octopus_api
from ansible_collections.octopus.ha.tests.unit.compat import ansible_internal, patch_module_args

TEST_URL = 'https://octopus.example.com'
TEST_API_KEY = 'API-UNITTESTSECRETKEY0123456789AB'


class FakeClock:
    """Monotonic and wall clocks that only move when asked to (or when something sleeps)."""

    def __init__(self, now=1000.0, wall=1767225600.0):
        self.now = now
        self.wall = wall
        self.sleeps = []

    def monotonic(self):
        return self.now

    def time(self):
        return self.wall

    def sleep(self, seconds):
        self.sleeps.append(seconds)
        self.advance(seconds)

    def advance(self, seconds):
        self.now += seconds
        self.wall += seconds


class FakeResponse:
    """What open_url returns for 2xx answers."""

    def __init__(self, status, raw, headers):
        self.status = status
        self._raw = raw
        self.headers = headers

    def read(self):
        return self._raw

    def getcode(self):
        return self.status


class Call:
    """One request seen by FakeHttp."""

    def __init__(self, method, url, headers, data, kwargs):
        parts = urlsplit(url)
        self.method = method
        self.url = url
        self.path = re.sub(r'^.*?/api/?', '', parts.path, count=1)
        self.query = dict(parse_qsl(parts.query))
        self.headers = dict(headers or {})
        self.body = json.loads(data) if data else None
        self.kwargs = kwargs

    def __repr__(self):
        return 'Call(%s %s)' % (self.method, self.url)


def _headers(values):
    msg = Message()
    for key, value in (values or {}).items():
        msg[key] = value
    return msg


class FakeHttp:
    """A scripted stand-in for open_url.

    route(method, path, *replies): path is the path after '/api/' without the query ('' for the
    root document), or a compiled regex. Replies are consumed in order and the last one repeats.
    A reply is a dict from octopus_reply.reply()/error(), or an exception instance to raise.
    GET /api answers the Octopus root document unless a test routes it (the client reads it
    after a 404, and before it first sends the key over http://). Any other unrouted request
    fails the test with AssertionError.
    """

    def __init__(self, clock):
        self.clock = clock
        self.routes = [['GET', '', [OctopusReply.reply(OctopusReply.root())]]]
        self.calls = []

    def route(self, method, path, *replies):
        self.routes.insert(0, [method.upper(), path, list(replies)])
        return self

    def count(self, method=None, path=None):
        return len([c for c in self.calls if (method is None or c.method == method) and (path is None or c.path == path)])

    def __call__(self, url, data=None, headers=None, method=None, **kwargs):
        call = Call(method or 'GET', url, headers, data, kwargs)
        self.calls.append(call)
        reply = self._next_reply(call)
        self.clock.advance(reply.get('delay', 0) if isinstance(reply, dict) else 0)
        if isinstance(reply, BaseException):
            raise reply  # pylint: disable=raising-bad-type
        return self._respond(url, reply)

    def _next_reply(self, call):
        for method, path, replies in self.routes:
            if method == call.method and (path.match(call.path) if hasattr(path, 'match') else path == call.path):
                return replies.pop(0) if len(replies) > 1 else replies[0]
        raise AssertionError('FakeHttp: no route for %s %s (query %r)' % (call.method, call.path, call.query))

    @staticmethod
    def _respond(url, reply):
        raw = reply['raw']
        headers = _headers(reply.get('headers'))
        if reply['status'] >= 400:
            raise HTTPError(url, reply['status'], 'fake', headers, io.BytesIO(raw))
        return FakeResponse(reply['status'], raw, headers)


class OctopusReply:
    """Builders for canned Octopus answers (field names as in the Octopus API)."""

    @staticmethod
    def reply(body=None, status=200, headers=None, raw=None, delay=0):
        if raw is None:
            raw = b'' if body is None else json.dumps(body).encode('utf-8')
        hdrs = {'Content-Type': 'application/json' if raw[:1] in (b'{', b'[') else 'text/html'}
        hdrs.update(headers or {})
        return dict(status=status, raw=raw if isinstance(raw, bytes) else raw.encode('utf-8'), headers=hdrs, delay=delay)

    @classmethod
    def error(cls, status, message=None, errors=None, headers=None):
        body = dict(ErrorMessage=message or 'Error %s' % status, Errors=list(errors or []))
        return cls.reply(body, status=status, headers=headers)

    @staticmethod
    def node(name, max_tasks=5, drained=False, offline=False, last_seen='2026-01-01T00:00:00.000+00:00',
             running=0, version='2023.4.8319', node_id=None):
        return dict(Id=node_id or 'OctopusServerNodes-%s' % name, Name=name, MaxConcurrentTasks=max_tasks,
                    IsInMaintenanceMode=drained, IsOffline=offline, LastSeen=last_seen,
                    RunningTaskCount=running, Version=version)

    @staticmethod
    def summary(*nodes):
        return dict(Nodes=list(nodes), Links=dict(Self='/api/octopusservernodes/summary'))

    @staticmethod
    def page(items, total=None, next_link=None, links=True):
        body = dict(ItemType='Item', Items=list(items), TotalResults=len(items) if total is None else total,
                    ItemsPerPage=30)
        if links:
            body['Links'] = {'Self': '/api/x', 'Page.Current': '/api/x'}
            if next_link:
                body['Links']['Page.Next'] = next_link
        return body

    @staticmethod
    def root(version='2023.4.8319'):
        return dict(Application='Octopus Deploy', Version=version, ApiVersion='3.0.0',
                    Links=dict(Self='/api', OctopusServerNodes='/api/octopusservernodes{/id}{?skip,take,ids,partialName}'))

    @staticmethod
    def task(task_id, state='Executing', node='OctopusServerNodes-A', space='Spaces-1'):
        return dict(Id=task_id, SpaceId=space, Name='Deploy', State=state, ServerNode=node,
                    IsCompleted=state not in ('Queued', 'Executing', 'Cancelling'),
                    Links=dict(Self='/api/tasks/%s' % task_id, Cancel='/api/tasks/%s/cancel' % task_id))


class _FakeTimeModule:
    """Stands in for the `time` module inside _octopus_api."""

    def __init__(self, clock):
        self.sleep = clock.sleep
        self.monotonic = clock.monotonic
        self.time = clock.time


class _FixedRandom:
    """Stands in for the `random` module inside _octopus_api: always the top of the jitter range."""

    def __init__(self, value=1.0):
        self.value = value

    def random(self):
        return self.value


@pytest.fixture(autouse=True)
def isolated_module_warnings(request, monkeypatch):
    """Module tests see their own warnings in the result.

    ansible-core keeps module warnings in a process-wide, de-duplicating registry, and once any
    controller code was imported in the process (filter tests do) module warnings go to Display
    instead of the result. For tests under plugins/modules and plugins/module_utils, start with an
    empty registry in module (not controller) mode.
    """
    path = str(getattr(request.node, 'path', request.node.fspath)).replace('\\', '/')
    if '/plugins/modules/' not in path and '/plugins/module_utils/' not in path:
        return
    if ansible_internal is not None:
        monkeypatch.setattr(ansible_internal, 'is_controller', False)
    # 2.19 keeps dicts (de-duplicating), older ansible-core plain lists.
    monkeypatch.setattr(ansible_warnings, '_global_warnings', type(ansible_warnings._global_warnings)())
    monkeypatch.setattr(ansible_warnings, '_global_deprecations', type(ansible_warnings._global_deprecations)())


@pytest.fixture
def api_key():
    return TEST_API_KEY


@pytest.fixture
def fake_clock():
    return FakeClock()


@pytest.fixture
def fake_http(fake_clock):
    return FakeHttp(fake_clock)


@pytest.fixture
def octopus_reply():
    return OctopusReply


@pytest.fixture
def octopus_client(fake_http, fake_clock):
    def make(**kwargs):
        options = dict(url=TEST_URL, api_key=TEST_API_KEY, open_url=fake_http, sleep=fake_clock.sleep,
                       clock=fake_clock.monotonic, wallclock=fake_clock.time, rng=lambda: 1.0)
        options.update(kwargs)
        return _octopus_api.OctopusClient(**options)
    return make


@pytest.fixture
def patch_octopus(monkeypatch, fake_http, fake_clock):
    monkeypatch.setattr(_octopus_api, 'ansible_open_url', fake_http)
    monkeypatch.setattr(_octopus_api, 'time', _FakeTimeModule(fake_clock))
    monkeypatch.setattr(_octopus_api, 'random', _FixedRandom())
    return fake_http


@pytest.fixture
def run_module(capsys):
    """run_module(main, args, connection=True) -> (result, exit code).

    With connection=True the url and api_key of the test server are added unless args set them.
    """
    def run(main, args, connection=True):
        module_args = dict(url=TEST_URL, api_key=TEST_API_KEY) if connection else {}
        module_args.update(args or {})
        with patch_module_args(module_args):
            with pytest.raises(SystemExit) as exc:
                main()
        out = capsys.readouterr().out
        return json.loads(out), exc.value.code
    return run


def _warning_text(warning):
    if isinstance(warning, dict):
        return str((warning.get('event') or {}).get('msg') or warning.get('msg') or warning)
    return str(warning)


@pytest.fixture
def warning_texts():
    """warning_texts(result) -> the warning messages of a module result as plain strings."""
    def texts(result):
        return [_warning_text(w) for w in result.get('warnings') or []]
    return texts


TlsFiles = collections.namedtuple('TlsFiles', ['ca_path', 'server_cert', 'server_key', 'client_cert', 'client_key', 'directory',
                                               'other_host_cert', 'other_host_key'])


def make_tls_files(directory):
    """A throw-away CA with one server certificate (localhost, 127.0.0.1) and one client certificate."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

    now = datetime.datetime.now(datetime.timezone.utc) - datetime.timedelta(minutes=5)
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, 'octopus.ha unit-test CA')])
    ca_cert = (x509.CertificateBuilder().subject_name(ca_name).issuer_name(ca_name).public_key(ca_key.public_key())
               .serial_number(x509.random_serial_number()).not_valid_before(now)
               .not_valid_after(now + datetime.timedelta(days=2))
               .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
               .add_extension(x509.KeyUsage(digital_signature=True, content_commitment=False, key_encipherment=False,
                                            data_encipherment=False, key_agreement=False, key_cert_sign=True,
                                            crl_sign=True, encipher_only=False, decipher_only=False), critical=True)
               .add_extension(x509.SubjectKeyIdentifier.from_public_key(ca_key.public_key()), critical=False)
               .sign(ca_key, hashes.SHA256()))

    def leaf(name, usage, alt_names):
        key = ec.generate_private_key(ec.SECP256R1())
        builder = (x509.CertificateBuilder().subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)]))
                   .issuer_name(ca_name).public_key(key.public_key()).serial_number(x509.random_serial_number())
                   .not_valid_before(now).not_valid_after(now + datetime.timedelta(days=2))
                   .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
                   .add_extension(x509.ExtendedKeyUsage([usage]), critical=False)
                   .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()), critical=False))
        if alt_names:
            builder = builder.add_extension(x509.SubjectAlternativeName(alt_names), critical=False)
        return key, builder.sign(ca_key, hashes.SHA256())

    server_key, server_cert = leaf('localhost', ExtendedKeyUsageOID.SERVER_AUTH,
                                   [x509.DNSName('localhost'), x509.IPAddress(ipaddress.ip_address('127.0.0.1'))])
    client_key, client_cert = leaf('octopus-ha-client', ExtendedKeyUsageOID.CLIENT_AUTH, [])
    other_key, other_cert = leaf('octopus.example.com', ExtendedKeyUsageOID.SERVER_AUTH, [x509.DNSName('octopus.example.com')])
    paths = {}
    for name, obj in (('ca.pem', ca_cert), ('server.pem', server_cert), ('client.pem', client_cert), ('other.pem', other_cert)):
        paths[name] = os.path.join(directory, name)
        with open(paths[name], 'wb') as handle:
            handle.write(obj.public_bytes(serialization.Encoding.PEM))
    for name, key in (('server-key.pem', server_key), ('client-key.pem', client_key), ('other-key.pem', other_key)):
        paths[name] = os.path.join(directory, name)
        with open(paths[name], 'wb') as handle:
            handle.write(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                           serialization.NoEncryption()))
        os.chmod(paths[name], 0o600)
    return TlsFiles(paths['ca.pem'], paths['server.pem'], paths['server-key.pem'], paths['client.pem'],
                    paths['client-key.pem'], directory, paths['other.pem'], paths['other-key.pem'])


@pytest.fixture(scope='session')
def tls_files(tmp_path_factory):
    return make_tls_files(str(tmp_path_factory.mktemp('tls')))
