# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# Copyright: Contributors to the octopus.ha collection
"""Shared unit-test fixtures over the one fake stack (plugins/module_utils/fake_octopus.py).

The fakes replace ``ansible.module_utils.urls.open_url`` at the boundary the client uses, so
everything above it (retries, paging, error mapping, modules) runs for real. Nothing sleeps:
``fake_clock`` records sleeps and moves a fake clock instead.

Fixtures
  fake_clock       Clock: .now (monotonic), .wall (epoch), .sleeps, .sleep(s), .advance(s)
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

Runs on ansible-core 2.16 too (scripts/test.sh stage core216): tests/unit/compat.py has the fallbacks.
"""

from __future__ import absolute_import, division, print_function
__metaclass__ = type

import collections
import datetime
import ipaddress
import json
import os

import pytest

from ansible.module_utils.common import warnings as ansible_warnings
from ansible_collections.octopus.ha.plugins.module_utils import _octopus_api
from ansible_collections.octopus.ha.tests.unit.plugins.module_utils.fake_octopus import (
    KEY,
    URL,
    Clock,
    FakeHttp,
    OctopusReply,
    install,
    patch_module_args,
)
from ansible_collections.octopus.ha.tests.unit.compat import ansible_internal


@pytest.fixture(autouse=True)
def isolated_module_warnings(request, monkeypatch):
    """Module tests see their own warnings in the result.

    ansible-core keeps module warnings in a process-wide, de-duplicating registry, and once any
    controller code was imported in the process (filter tests do) module warnings go to Display
    instead of the result. For tests under plugins/modules, plugins/module_utils and plugins/action
    (which run the module in process), start with an empty registry in module (not controller) mode.
    """
    path = str(getattr(request.node, 'path', request.node.fspath)).replace('\\', '/')
    if not any(part in path for part in ('/plugins/modules/', '/plugins/module_utils/', '/plugins/action/')):
        return
    if ansible_internal is not None:
        monkeypatch.setattr(ansible_internal, 'is_controller', False)
    monkeypatch.setattr(ansible_warnings, '_global_warnings', type(ansible_warnings._global_warnings)())
    monkeypatch.setattr(ansible_warnings, '_global_deprecations', type(ansible_warnings._global_deprecations)())


@pytest.fixture
def api_key():
    return KEY


@pytest.fixture
def fake_clock():
    return Clock()


@pytest.fixture
def fake_http(fake_clock):
    return FakeHttp(fake_clock)


@pytest.fixture
def octopus_reply():
    return OctopusReply


@pytest.fixture
def octopus_client(fake_http, fake_clock):
    def make(**kwargs):
        options = dict(url=URL, api_key=KEY, open_url=fake_http, sleep=fake_clock.sleep,
                       clock=fake_clock.monotonic, wallclock=fake_clock.time, rng=lambda: 1.0)
        options.update(kwargs)
        return _octopus_api.OctopusClient(**options)
    return make


@pytest.fixture
def patch_octopus(monkeypatch, fake_http, fake_clock):
    return install(monkeypatch, fake_http, fake_clock)


@pytest.fixture
def run_module(capsys):
    """run_module(main, args, connection=True) -> (result, exit code).

    With connection=True the url and api_key of the test server are added unless args set them.
    """
    def run(main, args, connection=True):
        module_args = dict(url=URL, api_key=KEY) if connection else {}
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
