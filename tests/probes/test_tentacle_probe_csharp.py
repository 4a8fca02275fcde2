# -*- coding: utf-8 -*-
# Copyright: Contributors to the octopus.ha collection
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The Tentacle probe's embedded C#, compiled as Windows PowerShell 5.1 compiles it (C# 5) and run
against real TLS servers (``openssl s_server``).

Windows PowerShell 5.1's ``Add-Type`` compiles C# 5: ``mcs -langversion:5`` (Debian mono-mcs) refuses
later syntax. The compiled probe runs under ``mono`` against openssl servers on loopback:
the registered thumbprint in upper case, lower case and with colons; a wrong thumbprint; a refused
port; a server that requests a client certificate (``-verify 1``) and one that requires it
(``-Verify 1``, as a Tentacle does for the Octopus Server's certificate).
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import hashlib
import json
import os
import re
import socket
import subprocess
import sys
import time

import pytest

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.abspath(os.path.join(HERE, '..', '..'))
PROBE = os.path.join(ROOT, 'roles', 'node_verify', 'files', 'Test-OctopusTentacle.ps1')
sys.path.insert(0, os.path.join(ROOT, 'tests', 'functional', 'scale_out'))

DRIVER = r'''
using System;
using OctopusHa;

public static class Driver
{
    private static string Quote(string value)
    {
        return value == null ? "null" : "\"" + value.Replace("\\", "\\\\").Replace("\"", "\\\"")
            .Replace("\r", "").Replace("\n", "\\n") + "\"";
    }

    public static int Main(string[] args)
    {
        TentacleProbeResult r = TentacleProbe.Probe(args[0], Int32.Parse(args[1]), args[2], Int32.Parse(args[3]));
        Console.WriteLine("{{\"status\": {0}, \"presented\": {1}, \"status_line\": {2}, \"error\": {3}}}",
                          Quote(r.Status), Quote(r.PresentedThumbprint), Quote(r.HttpStatusLine), Quote(r.Error));
        return 0;
    }
}
'''


def embedded_csharp():
    with open(PROBE) as handle:
        text = handle.read()
    match = re.search(r"Add-Type -TypeDefinition @'\r?\n(.*?)\r?\n'@", text, re.S)
    assert match, 'no Add-Type here-string in %s' % PROBE
    return match.group(1)


@pytest.fixture(scope='module')
def probe_exe(mono_tools, tmp_path_factory):
    out = tmp_path_factory.mktemp('probe')
    (out / 'Probe.cs').write_text(embedded_csharp())
    (out / 'Driver.cs').write_text(DRIVER)
    proc = subprocess.run([mono_tools['mcs'], '-langversion:5', '-target:exe', '-out:%s' % (out / 'probe.exe'),
                           str(out / 'Probe.cs'), str(out / 'Driver.cs')], stdout=subprocess.PIPE,
                          stderr=subprocess.STDOUT, universal_newlines=True, timeout=300, check=False)
    assert proc.returncode == 0, 'the probe C# does not compile at C# 5:\n' + proc.stdout
    return str(out / 'probe.exe')


def test_csharp_6_syntax_is_refused_at_level_5(mono_tools, tmp_path):
    """The check is real: an interpolated string (C# 6) fails with -langversion:5."""
    (tmp_path / 'x.cs').write_text('public static class X { public static string Y(int a) { return $"{a}"; } }')
    proc = subprocess.run([mono_tools['mcs'], '-langversion:5', '-target:library', str(tmp_path / 'x.cs'),
                           '-out:%s' % (tmp_path / 'x.dll')], stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                          universal_newlines=True, timeout=300, check=False)
    assert proc.returncode != 0 and 'CS1644' in proc.stdout


def _free_port():
    sock = socket.socket()
    sock.bind(('127.0.0.1', 0))
    port = sock.getsockname()[1]
    sock.close()
    return port


class OpenSSLServer(object):
    """``openssl s_server -www`` on loopback with a self-signed certificate; ``verify`` adds -verify/-Verify 1."""

    def __init__(self, openssl, cert, key, verify=None):
        self.port = _free_port()
        command = [openssl, 's_server', '-accept', '127.0.0.1:%d' % self.port, '-cert', cert, '-key', key, '-www', '-quiet']
        if verify:
            command += [verify, '1']
        self.proc = subprocess.Popen(command, stdin=subprocess.PIPE, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        deadline = time.monotonic() + 60
        while True:   # readiness: the port accepts (bounded wait for start-up, not an ordering assumption)
            try:
                socket.create_connection(('127.0.0.1', self.port), timeout=1).close()
                break
            except OSError:
                if self.proc.poll() is not None or time.monotonic() > deadline:
                    raise AssertionError('openssl s_server did not start')
                time.sleep(0.05)

    def stop(self):
        self.proc.kill()
        self.proc.wait()


@pytest.fixture(scope='module')
def certificate(tmp_path_factory):
    from fake_fleet import make_certificate  # pylint: disable=import-outside-toplevel
    cert, key, thumbprint = make_certificate(str(tmp_path_factory.mktemp('cert')), 'tentacle')
    other = make_certificate(str(tmp_path_factory.mktemp('other')), 'other')[2]
    return dict(cert=cert, key=key, thumbprint=thumbprint, other=other)


@pytest.fixture(scope='module')
def servers(mono_tools, certificate):
    started = dict((name, OpenSSLServer(mono_tools['openssl'], certificate['cert'], certificate['key'], verify))
                   for name, verify in (('plain', None), ('requests', '-verify'), ('requires', '-Verify')))
    yield started
    for server in started.values():
        server.stop()


def probe(mono_tools, exe, port, thumbprint):
    proc = subprocess.run([mono_tools['mono'], exe, '127.0.0.1', str(port), thumbprint, '10000'], stdout=subprocess.PIPE,
                          stderr=subprocess.PIPE, universal_newlines=True, timeout=120, check=False)
    assert proc.returncode == 0, proc.stderr
    return json.loads(proc.stdout.strip().splitlines()[-1])


@pytest.mark.parametrize('form', ['upper', 'lower', 'colons'])
def test_the_registered_thumbprint_in_any_form_passes(mono_tools, probe_exe, servers, certificate, form):
    thumb = certificate['thumbprint']
    given = {'upper': thumb.upper(), 'lower': thumb.lower(), 'colons': ':'.join(re.findall('..', thumb.lower()))}[form]
    result = probe(mono_tools, probe_exe, servers['plain'].port, given)
    assert result['status'] == 'ok', result
    assert result['presented'] == thumb
    assert result['status_line'].startswith('HTTP/1.0 200')


def test_a_wrong_thumbprint_is_a_mismatch(mono_tools, probe_exe, servers, certificate):
    result = probe(mono_tools, probe_exe, servers['plain'].port, certificate['other'])
    assert result['status'] == 'mismatch', result
    assert result['presented'] == certificate['thumbprint'] and certificate['other'] in result['error']
    assert result['status_line'] is None


def test_a_refused_port_is_unreachable(mono_tools, probe_exe, certificate):
    result = probe(mono_tools, probe_exe, _free_port(), certificate['thumbprint'])
    assert result['status'] == 'unreachable', result
    assert result['presented'] is None and result['error']


@pytest.mark.parametrize('server', ['requests', 'requires'])
def test_a_server_that_asks_for_a_client_certificate(mono_tools, probe_exe, servers, certificate, server):
    """Before: a server that required a client certificate made the pinned Tentacle "unreachable"."""
    result = probe(mono_tools, probe_exe, servers[server].port, certificate['thumbprint'])
    assert result['status'] == 'ok', result
    assert result['presented'] == certificate['thumbprint']
    wrong = probe(mono_tools, probe_exe, servers[server].port, certificate['other'])
    assert wrong['status'] == 'mismatch', wrong


def test_the_probe_thumbprint_is_sha1_of_the_certificate(certificate):
    from cryptography import x509  # pylint: disable=import-outside-toplevel
    from cryptography.hazmat.primitives import serialization  # pylint: disable=import-outside-toplevel
    with open(certificate['cert'], 'rb') as handle:
        der = x509.load_pem_x509_certificate(handle.read()).public_bytes(serialization.Encoding.DER)
    assert hashlib.sha1(der).hexdigest().upper() == certificate['thumbprint']
