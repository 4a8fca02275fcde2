# -*- coding: utf-8 -*-
# Copyright: Contributors to the octopus.ha collection
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""TEST-ONLY: the network dependencies a new Octopus Server node must reach, on loopback.

* Listening "Tentacles": real TLS servers with self-signed certificates made with ``cryptography``
  (``CN=Octopus Tentacle``) answering ``GET /`` like Halibut's friendly page.
* A "SQL Server": a TCP listener that accepts and closes connections; another one stands for the
  new node's comms port (10943) as the controller reaches it.
* An "external feed": a plain HTTP server answering 200 with a NuGet-like JSON document.
* A closed port: nothing listens there (an unreachable Tentacle or SQL Server).

Used in-process by the functional tests (``Fleet``) and as a process by the Molecule scenario::

    python tests/functional/scale_out/fake_fleet.py --state-file fleet.json [--tentacles 2]

which writes the addresses and thumbprints to ``--state-file`` and serves until SIGTERM.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import argparse
import datetime
import hashlib
import json
import os
import signal
import socket
import ssl
import sys
import tempfile
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

TENTACLE_PAGE = (b'<!DOCTYPE html><html><head><title>Octopus Tentacle</title></head>'
                 b'<body><h1>Octopus Tentacle configured successfully</h1></body></html>')


def make_certificate(directory, name, common_name='Octopus Tentacle'):
    """Write a self-signed certificate and key; returns (cert_path, key_path, sha1_thumbprint)."""
    key = ec.generate_private_key(ec.SECP256R1())
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)])
    now = datetime.datetime.now(datetime.timezone.utc)
    cert = (x509.CertificateBuilder().subject_name(subject).issuer_name(subject).public_key(key.public_key())
            .serial_number(x509.random_serial_number()).not_valid_before(now - datetime.timedelta(days=1))
            .not_valid_after(now + datetime.timedelta(days=30)).sign(key, hashes.SHA256()))
    cert_path = os.path.join(directory, '%s.crt' % name)
    key_path = os.path.join(directory, '%s.key' % name)
    with open(cert_path, 'wb') as handle:
        handle.write(cert.public_bytes(serialization.Encoding.PEM))
    with open(key_path, 'wb') as handle:
        handle.write(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                       serialization.NoEncryption()))
    thumbprint = hashlib.sha1(cert.public_bytes(serialization.Encoding.DER)).hexdigest().upper()
    return cert_path, key_path, thumbprint


def closed_port():
    """A loopback port nothing listens on (bound, then released)."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.bind(('127.0.0.1', 0))
    port = sock.getsockname()[1]
    sock.close()
    return port


class _Listener(threading.Thread):
    """Accept loop on a loopback port; ``serve(conn)`` handles each connection."""

    def __init__(self, serve):
        super(_Listener, self).__init__(daemon=True)
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.sock.bind(('127.0.0.1', 0))
        self.sock.listen(16)
        self.sock.settimeout(0.2)
        self.port = self.sock.getsockname()[1]
        self.serve = serve
        self.stopping = threading.Event()
        self.connections = 0

    def run(self):
        while not self.stopping.is_set():
            try:
                conn, dummy = self.sock.accept()
            except socket.timeout:
                continue
            except OSError:
                break
            self.connections += 1
            threading.Thread(target=self._handle, args=(conn,), daemon=True).start()

    def _handle(self, conn):
        try:
            conn.settimeout(5)
            self.serve(conn)
        except (OSError, ssl.SSLError):
            pass
        finally:
            try:
                conn.close()
            except OSError:
                pass

    def stop(self):
        self.stopping.set()
        self.sock.close()


class TentacleServer(_Listener):
    """A TLS listener presenting one self-signed certificate, answering like a listening Tentacle."""

    def __init__(self, cert_path, key_path):
        self.context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        self.context.minimum_version = ssl.TLSVersion.TLSv1_2
        self.context.load_cert_chain(cert_path, key_path)
        self.requests = 0
        super(TentacleServer, self).__init__(self._serve)

    def _serve(self, conn):
        with self.context.wrap_socket(conn, server_side=True) as tls:
            data = b''
            while b'\r\n\r\n' not in data and len(data) < 8192:
                chunk = tls.recv(1024)
                if not chunk:
                    return
                data += chunk
            self.requests += 1
            tls.sendall(b'HTTP/1.0 200 OK\r\nContent-Type: text/html; charset=utf-8\r\nContent-Length: %d\r\n\r\n%s'
                        % (len(TENTACLE_PAGE), TENTACLE_PAGE))


class SqlServer(_Listener):
    """Accepts TCP connections and closes them (enough for a reachability probe)."""

    def __init__(self):
        super(SqlServer, self).__init__(lambda conn: None)


class _FeedHandler(BaseHTTPRequestHandler):
    def do_GET(self):  # pylint: disable=invalid-name
        body = json.dumps({'version': '3.0.0', 'resources': []}).encode('utf-8')
        self.send_response(200)
        self.send_header('Content-Type', 'application/json')
        self.send_header('Content-Length', str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args):  # pylint: disable=arguments-differ
        return


class Fleet(object):
    """Start everything; ``describe()`` gives the addresses, thumbprints and a simulator space config."""

    def __init__(self, tentacles=2, directory=None):
        self.directory = directory or tempfile.mkdtemp(prefix='octoha-fleet-')
        self.tentacles = []
        for index in range(tentacles):
            cert, key, thumb = make_certificate(self.directory, 'tentacle%d' % index)
            server = TentacleServer(cert, key)
            self.tentacles.append(dict(name='tentacle%d' % index, server=server, thumbprint=thumb,
                                       uri='https://127.0.0.1:%d/' % server.port))
        self.sql = SqlServer()
        # The new node's comms port (10943) as the controller reaches it: a TCP listener.
        self.comms = SqlServer()
        self.feed = ThreadingHTTPServer(('127.0.0.1', 0), _FeedHandler)
        self.feed_thread = threading.Thread(target=self.feed.serve_forever, daemon=True)
        self.closed_port = closed_port()
        # A certificate no Tentacle presents: registering it makes a "mismatched" target.
        self.other_thumbprint = make_certificate(self.directory, 'unused')[2]

    def start(self):
        for tentacle in self.tentacles:
            tentacle['server'].start()
        self.sql.start()
        self.comms.start()
        self.feed_thread.start()
        return self

    def stop(self):
        for tentacle in self.tentacles:
            tentacle['server'].stop()
        self.sql.stop()
        self.comms.stop()
        self.feed.shutdown()
        self.feed.server_close()

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        self.stop()

    @property
    def feed_url(self):
        return 'http://127.0.0.1:%d/v3/index.json' % self.feed.server_address[1]

    def describe(self):
        return dict(
            tentacles=[dict(name=t['name'], uri=t['uri'], thumbprint=t['thumbprint']) for t in self.tentacles],
            other_thumbprint=self.other_thumbprint,
            sql_host='127.0.0.1',
            sql_port=self.sql.port,
            comms_port=self.comms.port,
            closed_port=self.closed_port,
            feed_url=self.feed_url,
        )

    def tentacle_requests(self):
        return dict((t['name'], t['server'].requests) for t in self.tentacles)


def _endpoint(name, style, uri, thumbprint):
    return dict(Name=name, Endpoint=dict(CommunicationStyle=style, Uri=uri, Thumbprint=thumbprint))


def space_config(fleet, mismatched=False, unreachable=False, polling=0, space_id='Spaces-1'):
    """A simulator space with the fleet's Tentacles as a target and a worker, plus a feed.

    ``mismatched`` adds a target registered with a thumbprint its Tentacle does not present,
    ``unreachable`` one on a closed port, ``polling`` that many polling Tentacles.
    """
    first = fleet.tentacles[0]
    machines = [_endpoint('web01', 'TentaclePassive', first['uri'], first['thumbprint']),
                _endpoint('ssh01', 'Ssh', None, None)]
    workers = [_endpoint('worker%02d' % i, 'TentaclePassive', t['uri'], t['thumbprint'].lower())
               for i, t in enumerate(fleet.tentacles[1:], 1)]
    if mismatched:
        machines.append(_endpoint('web-mismatch', 'TentaclePassive', first['uri'].replace('127.0.0.1', 'localhost'),
                                  fleet.other_thumbprint))
    if unreachable:
        machines.append(_endpoint('web-gone', 'TentaclePassive', 'https://127.0.0.1:%d/' % fleet.closed_port,
                                  first['thumbprint']))
    for index in range(polling):
        machines.append(_endpoint('poller%d' % index, 'TentacleActive', 'poll://poller%d/' % index, first['thumbprint']))
    feeds = [dict(Name='Octopus Server (built-in)', FeedType='BuiltIn'),
             dict(Name='nuget-mirror', FeedType='NuGet', FeedUri=fleet.feed_url)]
    return dict(Id=space_id, Name='Default', IsDefault=True, machines=machines, workers=workers, feeds=feeds)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('--state-file', required=True)
    parser.add_argument('--tentacles', type=int, default=2)
    parser.add_argument('--directory')
    args = parser.parse_args(argv)
    fleet = Fleet(args.tentacles, args.directory).start()
    stopping = threading.Event()

    def _stop(*dummy):
        stopping.set()

    signal.signal(signal.SIGTERM, _stop)
    signal.signal(signal.SIGINT, _stop)
    described = fleet.describe()
    described['pid'] = os.getpid()
    described['space'] = space_config(fleet)
    tmp = args.state_file + '.tmp'
    with open(tmp, 'w') as handle:
        json.dump(described, handle, indent=1)
    os.replace(tmp, args.state_file)
    sys.stdout.write('fake fleet ready: %s\n' % args.state_file)
    sys.stdout.flush()
    while not stopping.wait(0.5):
        pass
    fleet.stop()
    return 0


if __name__ == '__main__':
    sys.exit(main())
