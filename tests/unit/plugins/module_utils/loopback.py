# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# Copyright: Contributors to the octopus.ha collection
"""TEST-ONLY: real HTTP(S) servers and a forward proxy on 127.0.0.1, for tests of the transport.

    with LoopbackServer(tls=tls_files) as server:          # https://127.0.0.1:<port>
        ...                                                 # server.requests, server.raw
    with LoopbackServer(respond=redirect_to(other.url)) as redirector:
        ...
    with LoopbackServer(tls=tls_files, require_client_cert=True) as server:   # mutual TLS
        ...
    with LoopbackProxy() as proxy:                          # http_proxy / https_proxy (CONNECT)
        ...

Every connection's first bytes are kept in ``raw`` (before any TLS handshake), so a test can
prove that a secret never crossed the wire in clear text. Each TLS handshake runs in the
connection's own thread, so a client that never finishes one does not block the server.
"""

from __future__ import absolute_import, division, print_function
__metaclass__ = type

import http.client
import http.server
import json
import select
import socket
import ssl
import threading

ROOT_DOCUMENT = {'Application': 'Octopus Deploy', 'Version': '2023.4.8319', 'ApiVersion': '3.0.0',
                 'Links': {'Self': '/api'}}


def octopus_like(handler):
    """Default answers: the Octopus root document on /api, an empty page on /api/<collection>, else 404."""
    path = handler.path.split('?', 1)[0].rstrip('/')
    if path == '/api':
        return 200, {'Content-Type': 'application/json'}, json.dumps(ROOT_DOCUMENT).encode()
    if path == '/api/octopusservernodes':
        return 200, {'Content-Type': 'application/json'}, b'{"Items": [], "TotalResults": 0}'
    return 404, {'Content-Type': 'application/json'}, b'{"ErrorMessage": "The resource you requested was not found."}'


def not_found(handler):
    """A web server that is not Octopus: 404 for everything, HTML body."""
    return 404, {'Content-Type': 'text/html'}, b'<html><body>Not Found</body></html>'


def redirect_to(base_url, status=301):
    """Answer every request with a redirect to the same path under base_url."""
    def respond(handler):
        return status, {'Location': base_url.rstrip('/') + handler.path}, b''
    return respond


class _Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = 'HTTP/1.1'

    def _answer(self):
        length = int(self.headers.get('Content-Length') or 0)
        body = self.rfile.read(length) if length else b''
        self.server.owner.requests.append(dict(method=self.command, path=self.path, headers=dict(self.headers.items()),
                                               body=body))
        status, headers, payload = self.server.owner.respond(self)
        self.send_response(status)
        for key, value in headers.items():
            self.send_header(key, value)
        self.send_header('Content-Length', str(len(payload)))
        self.end_headers()
        self.wfile.write(payload)

    do_GET = do_PUT = do_POST = do_DELETE = _answer

    def log_message(self, *args):
        pass


class _Server(http.server.ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, owner):
        self.owner = owner
        http.server.ThreadingHTTPServer.__init__(self, ('127.0.0.1', 0), _Handler)

    def finish_request(self, request, client_address):
        request.settimeout(10)
        try:
            self.owner.raw.append(request.recv(65536, socket.MSG_PEEK))
        except OSError:
            self.owner.raw.append(b'')
        if self.owner.context is not None:
            try:
                request = self.owner.context.wrap_socket(request, server_side=True)
            except (OSError, ValueError) as exc:
                self.owner.handshake_errors.append(str(exc))
                return
        http.server.ThreadingHTTPServer.finish_request(self, request, client_address)

    def handle_error(self, request, client_address):
        pass


class LoopbackServer:
    """An HTTP server (HTTPS with tls=TlsFiles) on 127.0.0.1 in a background thread."""

    def __init__(self, respond=None, tls=None, require_client_cert=False):
        self.respond = respond or octopus_like
        self.requests = []
        self.raw = []
        self.handshake_errors = []
        self.context = None
        if tls is not None:
            self.context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
            self.context.load_cert_chain(tls.server_cert, tls.server_key)
            if require_client_cert:
                self.context.verify_mode = ssl.CERT_REQUIRED
                self.context.load_verify_locations(cafile=tls.ca_path)
        self.server = None
        self.thread = None
        self._port = None

    @property
    def port(self):
        return self._port

    @property
    def url(self):
        return '%s://127.0.0.1:%d' % ('https' if self.context else 'http', self.port)

    def start(self):
        self.server = _Server(self)
        self._port = self.server.server_address[1]
        self.thread = threading.Thread(target=self.server.serve_forever, kwargs={'poll_interval': 0.05}, daemon=True)
        self.thread.start()
        return self

    def stop(self):
        if self.server is not None:
            self.server.shutdown()
            self.server.server_close()
            self.thread.join(5)
            self.server = None

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        self.stop()
        return False


class _ProxyHandler(http.server.BaseHTTPRequestHandler):
    protocol_version = 'HTTP/1.1'

    def do_CONNECT(self):
        self.server.owner.requests.append(dict(method='CONNECT', target=self.path))
        host, port = self.path.rsplit(':', 1)
        upstream = socket.create_connection((host, int(port)), timeout=10)
        self.send_response(200, 'Connection established')
        self.end_headers()
        self.wfile.flush()
        sockets = [self.connection, upstream]
        try:
            while True:
                readable = select.select(sockets, [], [], 10)[0]
                if not readable:
                    return
                for sock in readable:
                    data = sock.recv(65536)
                    if not data:
                        return
                    (upstream if sock is self.connection else self.connection).sendall(data)
        finally:
            upstream.close()

    def _forward(self):
        # Plain-http proxying: the request line carries the absolute URL.
        self.server.owner.requests.append(dict(method=self.command, target=self.path,
                                               headers=dict(self.headers.items())))
        rest = self.path.split('://', 1)[1]
        hostport, dummy, path = rest.partition('/')
        host, dummy, port = hostport.partition(':')
        length = int(self.headers.get('Content-Length') or 0)
        body = self.rfile.read(length) if length else None
        upstream = http.client.HTTPConnection(host, int(port or 80), timeout=10)
        headers = dict((k, v) for k, v in self.headers.items() if k.lower() not in ('proxy-connection', 'connection'))
        upstream.request(self.command, '/' + path, body=body, headers=headers)
        response = upstream.getresponse()
        payload = response.read()
        self.send_response(response.status)
        for key, value in response.getheaders():
            if key.lower() not in ('transfer-encoding', 'connection', 'content-length'):
                self.send_header(key, value)
        self.send_header('Content-Length', str(len(payload)))
        self.end_headers()
        self.wfile.write(payload)
        upstream.close()

    do_GET = do_PUT = do_POST = do_DELETE = _forward

    def log_message(self, *args):
        pass


class _ProxyServer(http.server.ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, owner):
        self.owner = owner
        http.server.ThreadingHTTPServer.__init__(self, ('127.0.0.1', 0), _ProxyHandler)

    def handle_error(self, request, client_address):
        pass


class LoopbackProxy(LoopbackServer):
    """A forward proxy on 127.0.0.1: absolute-URL requests for http, CONNECT tunnels for https."""

    def __init__(self):
        LoopbackServer.__init__(self)

    def start(self):
        self.server = _ProxyServer(self)
        self._port = self.server.server_address[1]
        self.thread = threading.Thread(target=self.server.serve_forever, kwargs={'poll_interval': 0.05}, daemon=True)
        self.thread.start()
        return self
