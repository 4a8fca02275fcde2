# Copyright (c) octopus.ha contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""HTTP(S) server: routes /api, /node/<Name>/api and /_sim, applies faults, keeps the request log."""
from __future__ import absolute_import, division, print_function
__metaclass__ = type

import datetime
import email.utils
import json
import os
import re
import socket
import ssl
import sys
import threading
import traceback
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qsl, quote, unquote, urlsplit

from octosim import control
from octosim.api import OctopusApi, Request, error_body
from octosim.faults import FaultSet, HTML_PAGE
from octosim.model import Cluster, SimError
from octosim.timeutil import iso

NODE_PREFIX_RE = re.compile(r'^/node/([^/]+)(/api(?:/.*)?)$', re.IGNORECASE)
KEY_HEADERS = ('X-Octopus-ApiKey', 'X-NuGet-ApiKey')
MAX_LOG = 20000
REASONS = {429: 'Too Many Requests', 500: 'Internal Server Error', 502: 'Bad Gateway', 503: 'Service Unavailable',
           504: 'Gateway Time-out'}


def prefix_links(payload, prefix):
    """Point the /api/... links in a response at a node's own URL (/node/<Name>/api/...)."""
    if isinstance(payload, list):
        return [prefix_links(item, prefix) for item in payload]
    if not isinstance(payload, dict):
        return payload
    result = {}
    for key, value in payload.items():
        if key == 'Links' and isinstance(value, dict):
            result[key] = dict((k, prefix + v if isinstance(v, str) and v.startswith('/api') else v) for k, v in value.items())
        else:
            result[key] = prefix_links(value, prefix)
    return result


def _query_dict(pairs):
    result = {}
    for name, value in pairs:
        if name.lower() == 'apikey':
            value = '<redacted>'
        if name in result:
            if not isinstance(result[name], list):
                result[name] = [result[name]]
            result[name].append(value)
        else:
            result[name] = value
    return result


JSON_TYPE = 'application/json; charset=utf-8'


class ApiAnswer:
    """What the simulated API answers to one request: a response, or a dropped connection (drop=True)."""

    def __init__(self, status=None, payload=None, headers=None, content_type=JSON_TYPE, drop=False, cluster_date=None,
                 timed_out=False):
        self.status = status
        self.payload = payload
        self.headers = headers or {}
        self.content_type = content_type
        self.drop = drop
        self.timed_out = timed_out
        self.cluster_date = cluster_date


class Simulator:
    """The cluster plus faults and the request log; shared by all handler threads (or one in-process transport)."""

    def __init__(self, cfg, speed=None):
        self.cfg = cfg
        self.cluster = Cluster(cfg, speed=speed)
        self.api = OctopusApi(self.cluster)
        self.faults = FaultSet(cfg.get('seed', 0))
        self.stopping = threading.Event()
        self._log = []
        self._log_lock = threading.Lock()
        self._seq = 0
        self._ticker = None
        self.on_parent_exit = None
        self.triggers = []

    # triggers (test-only): a node action run inside an API request that the server applied
    def add_trigger(self, spec):
        """{method, path (a regex on the logged path), action: start|stop, node}: fires once, under the cluster lock,
        right after the first matching request is applied, so a test orders "this request, then that change" by events."""
        if not isinstance(spec, dict) or spec.get('action') not in ('start', 'stop') or not spec.get('node') \
                or not spec.get('method') or not spec.get('path'):
            raise SimError(400, 'A trigger needs method, path (a regular expression), action (start or stop) and node.')
        try:
            regex = re.compile(spec['path'], re.I)
        except re.error as err:
            raise SimError(400, 'The trigger path is not a regular expression: %s' % err)
        if self.cluster.find_node(spec['node']) is None:
            raise SimError(400, 'Unknown node %s' % spec['node'])
        trigger = dict(id=len(self.triggers) + 1, method=spec['method'].upper(), path=spec['path'], action=spec['action'],
                       node=spec['node'], fired_at_seq=None, regex=regex)
        self.triggers.append(trigger)
        return self.describe_trigger(trigger)

    @staticmethod
    def describe_trigger(trigger):
        return dict((k, v) for k, v in trigger.items() if k != 'regex')

    def _fire_triggers(self, method, entry):
        for trigger in self.triggers:
            if trigger['fired_at_seq'] is None and trigger['method'] == method and trigger['regex'].search(entry['path']):
                node = self.cluster.find_node(trigger['node'])
                if node is not None:
                    if trigger['action'] == 'start':
                        self.cluster.start_node(node)
                    else:
                        self.cluster.stop_node(node)
                trigger['fired_at_seq'] = entry['seq']

    def reset(self):
        with self.cluster.lock:
            self.cluster.reset()
        self.faults = FaultSet(self.cfg.get('seed', 0))
        self.triggers = []
        self.clear_request_log()
        with self._log_lock:
            self._seq = 0

    # request log
    def new_log_entry(self, method, path, pairs, key_source):
        now = datetime.datetime.now(datetime.timezone.utc)
        with self._log_lock:
            self._seq += 1
            entry = {'seq': self._seq, 'method': method, 'path': path, 'query': _query_dict(pairs), 'status': 'pending',
                     'time': None, 'wall': now.isoformat(timespec='milliseconds'), 'node': None, 'fault': None,
                     'fault_kind': None, 'key_source': key_source, 'body': None, 'applied': False}
            self._log.append(entry)
            if len(self._log) > MAX_LOG:
                del self._log[:len(self._log) - MAX_LOG]
            return entry

    def request_log(self):
        with self._log_lock:
            return [dict(e) for e in self._log]

    def clear_request_log(self):
        with self._log_lock:
            self._log = []

    # background ticker
    def start_ticker(self, exit_with_parent=False, parent_pid=None):
        interval = float(self.cfg['timing'].get('ticker_interval', 0.1))
        parent = parent_pid or os.getppid()

        def run():
            while not self.stopping.wait(interval):
                if self.cluster.clock.speed > 0:
                    with self.cluster.lock:
                        self.cluster.sync()
                if exit_with_parent and os.getppid() != parent and self.on_parent_exit is not None:
                    self.on_parent_exit()
                    return
        self._ticker = threading.Thread(target=run, name='octosim-ticker', daemon=True)
        self._ticker.start()

    def stop(self):
        self.stopping.set()

    # ------------------------------------------------------------------ the Octopus API
    def handle_api(self, method, path, pairs, raw, request_headers, wait):
        """Answer one /api or /node/<Name>/api request: auth, faults, the request log, the API itself.

        wait(seconds) is how a latency or timeout fault passes time: a real sleep over HTTP, a clock
        advance in process (octosim.testing.InProcessOctopus). It is called without the cluster lock.
        """
        cluster = self.cluster
        key = None
        key_source = None
        for header in KEY_HEADERS:
            if request_headers.get(header):
                key, key_source = request_headers.get(header).strip(), 'header'
                break
        if key is None:
            for name, value in pairs:
                if name.lower() == 'apikey' and value:
                    key, key_source = value.strip(), 'query'
        entry = self.new_log_entry(method, path, pairs, key_source)
        match = NODE_PREFIX_RE.match(path)
        node_name = match.group(1) if match else None
        api_path = match.group(2) if match else path
        with cluster.lock:
            cluster.sync()
            node = cluster.find_node(node_name) if node_name else cluster.serving_node()
            served_by = node.name if node else None
        entry['node'] = served_by
        fault = self.faults.pick(method, path, served_by)
        if fault is not None:
            entry['fault'] = fault.id
            entry['fault_kind'] = fault.kind
        if fault is not None and fault.kind == 'latency' and fault.phase == 'before':
            wait(fault.latency)
        if fault is not None and fault.phase == 'before' and fault.kind != 'latency':
            with cluster.lock:
                date = cluster.sync()
                entry['time'] = iso(date)
            return self._fault_answer(fault, node, entry, date, wait)
        answer = self._serve(method, api_path, pairs, raw, node, node_name, key, entry)
        if fault is not None and fault.kind == 'latency' and fault.phase == 'after':
            wait(fault.latency)  # applied now, answered late
        if fault is not None and fault.kind != 'latency':
            return self._fault_answer(fault, node, entry, answer.cluster_date, wait)
        entry['status'] = answer.status
        return answer

    def _serve(self, method, api_path, pairs, raw, node, node_name, key, entry):
        cluster = self.cluster
        with cluster.lock:
            date = cluster.sync()
            entry['time'] = iso(date)
            if node is None:
                if node_name:
                    return ApiAnswer(404, error_body('There is no Octopus Server node named %s.' % node_name), cluster_date=date)
                page = HTML_PAGE % {'status': 503, 'reason': 'Service Temporarily Unavailable'}
                return ApiAnswer(503, page, {}, 'text/html', cluster_date=date)
            headers = {'Octopus-Node': 'name=%s; version=%s' % (node.name, node.version)}
            try:
                body = json.loads(raw.decode('utf-8-sig')) if raw.strip() else None
            except ValueError:
                return ApiAnswer(400, error_body('The request body could not be parsed as JSON.'), headers, cluster_date=date)
            if method in ('PUT', 'POST', 'DELETE', 'PATCH'):
                entry['body'] = body
            query = {}
            req = Request(method, api_path, query, body, node, cluster.key_info(key) if key else None)
            for name, value in pairs:
                query.setdefault(name.lower(), []).append(value)
                req.original_names.setdefault(name.lower(), name)
            try:
                status, payload = self.api.dispatch(req)
                entry['applied'] = status < 400
                if entry['applied']:
                    self._fire_triggers(method, entry)
            except SimError as err:
                status, payload = err.status, error_body(err.message, err.errors, err.help_text)
            if node_name:
                payload = prefix_links(payload, '/node/%s' % quote(node_name, safe=''))
            return ApiAnswer(status, payload, headers, cluster_date=date)

    def _fault_answer(self, fault, node, entry, date, wait):
        if fault.kind in ('drop', 'timeout'):
            if fault.kind == 'timeout':
                wait(fault.latency)
            entry['status'] = 'dropped'
            return ApiAnswer(drop=True, cluster_date=date, timed_out=fault.kind == 'timeout')
        headers = dict(fault.headers)
        if fault.retry_after is not None:
            headers['Retry-After'] = str(fault.retry_after if not isinstance(fault.retry_after, float)
                                         else int(fault.retry_after))
        entry['status'] = fault.status
        if fault.kind == 'html':
            reason = REASONS.get(fault.status, 'Error')
            return ApiAnswer(fault.status, fault.body if isinstance(fault.body, str) else
                             HTML_PAGE % {'status': fault.status, 'reason': reason}, headers, fault.content_type or 'text/html',
                             cluster_date=date)
        if node is not None:
            headers.setdefault('Octopus-Node', 'name=%s; version=%s' % (node.name, node.version))
        payload = fault.body if fault.body is not None else error_body(
            fault.message or 'The simulator injected a %d fault.' % fault.status, [])
        return ApiAnswer(fault.status, payload, headers, fault.content_type or JSON_TYPE, cluster_date=date)


class SimHandler(BaseHTTPRequestHandler):
    protocol_version = 'HTTP/1.1'
    server_version = 'octosim'
    timeout = 300

    def version_string(self):
        return self.server_version

    def date_time_string(self, timestamp=None):
        """API answers carry the cluster time in Date, as a real server's Date shares the clock of its LastSeen."""
        cluster_time = getattr(self, 'cluster_date', None)
        if timestamp is None and cluster_time is not None:
            return email.utils.formatdate(cluster_time, usegmt=True)
        return super(SimHandler, self).date_time_string(timestamp)

    def setup(self):
        super(SimHandler, self).setup()
        if isinstance(self.connection, ssl.SSLSocket):
            self.connection.settimeout(10)
            self.connection.do_handshake()
            self.connection.settimeout(self.timeout)

    def log_message(self, format, *args):  # pylint: disable=redefined-builtin
        if os.environ.get('OCTOSIM_VERBOSE'):
            super(SimHandler, self).log_message(format, *args)

    @property
    def sim(self):
        return self.server.sim

    def do_GET(self):
        self._dispatch('GET')

    def do_POST(self):
        self._dispatch('POST')

    def do_PUT(self):
        self._dispatch('PUT')

    def do_DELETE(self):
        self._dispatch('DELETE')

    def do_PATCH(self):
        self._dispatch('PATCH')

    # ------------------------------------------------------------------ plumbing
    def _read_body(self):
        length = self.headers.get('Content-Length')
        if not length:
            return b''
        try:
            size = int(length)
        except ValueError:
            return b''
        return self.rfile.read(size) if size > 0 else b''

    def _send(self, status, payload, headers=None, content_type='application/json; charset=utf-8'):
        if isinstance(payload, bytes):
            data = payload
        elif isinstance(payload, str):
            data = payload.encode('utf-8')
        else:
            data = json.dumps(payload).encode('utf-8')
        self.send_response(status)
        for name, value in (headers or {}).items():
            self.send_header(name, value)
        self.send_header('Content-Type', content_type)
        self.send_header('Content-Length', str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def _drop(self):
        self.close_connection = True
        try:
            self.connection.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass

    def _dispatch(self, method):
        self.cluster_date = None
        split = urlsplit(self.path)
        path = unquote(split.path)
        pairs = parse_qsl(split.query, keep_blank_values=True)
        raw = self._read_body()
        try:
            if path == '/_sim' or path.startswith('/_sim/'):
                self._control(method, path, pairs, raw)
            elif path == '/api' or path.startswith('/api/') or NODE_PREFIX_RE.match(path):
                self._api(method, path, pairs, raw)
            else:
                self._send(404, error_body('Not found: %s' % path))
        except (BrokenPipeError, ConnectionResetError):
            self.close_connection = True
        except Exception as err:  # pylint: disable=broad-except
            # A simulator bug: answer like a server with an unhandled exception rather than dropping the
            # connection (which a client would take for a transport fault), and say so on stderr.
            trace = traceback.format_exc()
            sys.stderr.write('octosim: internal error on %s %s\n%s' % (method, self.path, trace))
            try:
                self._send(500, {'ErrorMessage': 'octosim internal error: %s' % err, 'Errors': [], 'FullException': trace})
            except OSError:
                self.close_connection = True

    def _control(self, method, path, pairs, raw):
        query = {}
        for name, value in pairs:
            query.setdefault(name, []).append(value)
        try:
            body = json.loads(raw.decode('utf-8')) if raw.strip() else None
        except ValueError:
            self._send(400, error_body('The request body is not valid JSON'))
            return
        try:
            status, payload = control.handle(self.sim, method, path, query, body)
        except SimError as err:
            status, payload = err.status, error_body(err.message, err.errors)
        self._send(status, payload)

    # ------------------------------------------------------------------ the Octopus API
    def _api(self, method, path, pairs, raw):
        answer = self.sim.handle_api(method, path, pairs, raw, self.headers, self.sim.stopping.wait)
        self.cluster_date = answer.cluster_date
        if answer.drop:
            self._drop()
            return
        self._send(answer.status, answer.payload, answer.headers, answer.content_type)


class SimServer(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True
    block_on_close = False
    request_queue_size = 128

    def __init__(self, address, sim, ssl_context=None):
        self.sim = sim
        self.ssl_context = ssl_context
        ThreadingHTTPServer.__init__(self, address, SimHandler)

    def get_request(self):
        sock, addr = self.socket.accept()
        if self.ssl_context is not None:
            sock = self.ssl_context.wrap_socket(sock, server_side=True, do_handshake_on_connect=False)
        return sock, addr

    def handle_error(self, request, client_address):
        if os.environ.get('OCTOSIM_VERBOSE'):
            ThreadingHTTPServer.handle_error(self, request, client_address)

    @property
    def url(self):
        host, port = self.server_address[:2]
        scheme = 'https' if self.ssl_context is not None else 'http'
        if ':' in host:
            host = '[%s]' % host
        return '%s://%s:%d' % (scheme, host, port)


def make_server(sim, host='127.0.0.1', port=0, tls_cert=None, tls_key=None):
    context = None
    if tls_cert:
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.minimum_version = ssl.TLSVersion.TLSv1_2
        context.load_cert_chain(tls_cert, tls_key)
    return SimServer((host, port), sim, context)
