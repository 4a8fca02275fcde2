# Copyright (c) octopus.ha contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Test helpers: run the simulator as a subprocess and drive it.

    from octosim.testing import SimulatorProcess, ADMIN_KEY

    with SimulatorProcess({'nodes': [{'Name': 'A'}, {'Name': 'B'}]}, speed=0) as sim:
        sim.control.add_task(Name='Deploy', ServerNode='A', Duration=600)
        status, headers, body = sim.request('GET', '/api/octopusservernodes/summary', api_key=ADMIN_KEY)

See docs/simulator.md.
"""
from __future__ import absolute_import, division, print_function
__metaclass__ = type

import atexit
import collections
import datetime
import email.utils
import io
import ipaddress
import json
import os
import shutil
import socket
import ssl
import subprocess
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.request
from urllib.parse import parse_qsl, quote, unquote, urlencode, urlsplit

from octosim.config import DEFAULT_ADMIN_KEY

ADMIN_KEY = DEFAULT_ADMIN_KEY
TOOLS_DIR = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

TlsFiles = collections.namedtuple('TlsFiles', ['ca_path', 'cert_path', 'key_path'])

_LIVE = set()
_LIVE_LOCK = threading.Lock()


def _stop_all():
    with _LIVE_LOCK:
        live = list(_LIVE)
    for sim in live:
        sim.stop()


atexit.register(_stop_all)


class SimulatorError(Exception):
    """The simulator could not be started, or a control call failed."""

    def __init__(self, message, status=None, body=None):
        super(SimulatorError, self).__init__(message)
        self.status = status
        self.body = body


def make_tls_files(directory, hostnames=('localhost', '127.0.0.1'), days=30):
    """Write a throw-away CA and a server certificate signed by it (cryptography package).

    Returns TlsFiles(ca_path, cert_path, key_path): point clients at ca_path (ca_path/validate_certs),
    give cert_path/key_path to `python -m octosim --tls-cert/--tls-key`. The server certificate
    covers the given DNS names and IP addresses.
    """
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

    if not os.path.isdir(directory):
        os.makedirs(directory)
    now = datetime.datetime.now(datetime.timezone.utc) - datetime.timedelta(minutes=5)
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, 'octosim test CA')])
    ca_cert = (x509.CertificateBuilder().subject_name(ca_name).issuer_name(ca_name)
               .public_key(ca_key.public_key()).serial_number(x509.random_serial_number())
               .not_valid_before(now).not_valid_after(now + datetime.timedelta(days=days))
               .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
               .add_extension(x509.KeyUsage(digital_signature=True, content_commitment=False, key_encipherment=False,
                                            data_encipherment=False, key_agreement=False, key_cert_sign=True,
                                            crl_sign=True, encipher_only=False, decipher_only=False), critical=True)
               .add_extension(x509.SubjectKeyIdentifier.from_public_key(ca_key.public_key()), critical=False)
               .sign(ca_key, hashes.SHA256()))
    key = ec.generate_private_key(ec.SECP256R1())
    alt_names = []
    for host in hostnames:
        try:
            alt_names.append(x509.IPAddress(ipaddress.ip_address(host)))
        except ValueError:
            alt_names.append(x509.DNSName(host))
    cert = (x509.CertificateBuilder()
            .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, 'Octopus Portal')]))
            .issuer_name(ca_name).public_key(key.public_key()).serial_number(x509.random_serial_number())
            .not_valid_before(now).not_valid_after(now + datetime.timedelta(days=days))
            .add_extension(x509.SubjectAlternativeName(alt_names), critical=False)
            .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
            .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
            .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()), critical=False)
            .sign(ca_key, hashes.SHA256()))
    ca_path = os.path.join(directory, 'octosim-ca.pem')
    cert_path = os.path.join(directory, 'octosim-cert.pem')
    key_path = os.path.join(directory, 'octosim-key.pem')
    with open(ca_path, 'wb') as handle:
        handle.write(ca_cert.public_bytes(serialization.Encoding.PEM))
    with open(cert_path, 'wb') as handle:
        handle.write(cert.public_bytes(serialization.Encoding.PEM))
    with open(key_path, 'wb') as handle:
        handle.write(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                       serialization.NoEncryption()))
    os.chmod(key_path, 0o600)
    return TlsFiles(ca_path, cert_path, key_path)


def http_request(url, method='GET', body=None, headers=None, timeout=10.0, ca_path=None):
    """One HTTP request without raising on HTTP errors: returns (status, headers dict, parsed JSON or text).

    Transport errors (refused, reset, dropped, timeout) raise the usual OSError/URLError.
    """
    data = None
    all_headers = {'Accept': 'application/json'}
    all_headers.update(headers or {})
    if body is not None:
        data = body if isinstance(body, bytes) else json.dumps(body).encode('utf-8')
        all_headers.setdefault('Content-Type', 'application/json')
    request = urllib.request.Request(url, data=data, method=method, headers=all_headers)
    context = ssl.create_default_context(cafile=ca_path) if url.startswith('https') else None
    try:
        response = urllib.request.urlopen(request, timeout=timeout, context=context)
        status, resp_headers, raw = response.status, dict(response.headers), response.read()
        response.close()
    except urllib.error.HTTPError as err:
        status, resp_headers, raw = err.code, dict(err.headers), err.read()
        err.close()
    text = raw.decode('utf-8-sig', 'replace')
    try:
        parsed = json.loads(text) if text.strip() else None
    except ValueError:
        parsed = text
    return status, resp_headers, parsed


class ControlClient:
    """A tiny client for the /_sim control API. Every method returns the parsed JSON answer."""

    def __init__(self, base_url, ca_path=None, timeout=10.0):
        self.base_url = base_url.rstrip('/')
        self.ca_path = ca_path
        self.timeout = timeout

    def call(self, method, path, body=None):
        status, dummy, parsed = http_request(self.base_url + '/_sim/' + path.lstrip('/'), method, body,
                                             timeout=self.timeout, ca_path=self.ca_path)
        if status >= 400:
            message = parsed.get('ErrorMessage') if isinstance(parsed, dict) else parsed
            raise SimulatorError('control %s %s failed with %s: %s' % (method, path, status, message), status, parsed)
        return parsed

    def state(self):
        return self.call('GET', 'state')

    def node(self, name):
        return self.call('GET', 'nodes/%s' % quote(name, safe=''))

    def task(self, task_id):
        return self.call('GET', 'tasks/%s' % quote(task_id, safe=''))

    def add_node(self, Name, MaxConcurrentTasks=None, IsInMaintenanceMode=None, Version=None,  # pylint: disable=invalid-name
                 Heartbeat=None, **extra):
        body = dict(Name=Name, MaxConcurrentTasks=MaxConcurrentTasks, IsInMaintenanceMode=IsInMaintenanceMode,
                    Version=Version, Heartbeat=Heartbeat)
        body.update(extra)
        return self.call('POST', 'nodes', dict((k, v) for k, v in body.items() if v is not None))

    def stop_node(self, name, graceful=False):
        return self.call('POST', 'nodes/%s/stop' % quote(name, safe=''), {'Graceful': bool(graceful)})

    def start_node(self, name):
        return self.call('POST', 'nodes/%s/start' % quote(name, safe=''), {})

    def set_serving_node(self, name):
        return self.call('POST', 'serving-node', {'Name': name})

    def add_task(self, **spec):
        """Keys as in docs/simulator.md: Name, Description, SpaceId, Duration, ServerNode, State, ..."""
        return self.call('POST', 'tasks', spec)

    def resume_task(self, task_id):
        """Answer the task's interruption (a manual intervention: the task resumes on its own node)."""
        return self.call('POST', 'tasks/%s/resume' % quote(task_id, safe=''), {})

    def finish_task(self, task_id, state='Success', error_message=None):
        body = {'State': state}
        if error_message is not None:
            body['ErrorMessage'] = error_message
        return self.call('POST', 'tasks/%s/finish' % quote(task_id, safe=''), body)

    def advance(self, seconds):
        return self.call('POST', 'clock', {'advance': seconds})

    def set_speed(self, speed):
        return self.call('POST', 'clock', {'speed': speed})

    def clock(self):
        return self.call('GET', 'clock')

    def add_fault(self, **spec):
        return self.call('POST', 'faults', spec)

    def faults(self):
        return self.call('GET', 'faults')

    def clear_faults(self):
        return self.call('DELETE', 'faults')

    def requests(self, since=None):
        return self.call('GET', 'requests' + ('?' + urlencode({'since': since}) if since is not None else ''))

    def add_trigger(self, method, path, action, node):
        """Run a node action (start or stop) once, right after the first applied API request that matches."""
        return self.call('POST', 'triggers', dict(method=method, path=path, action=action, node=node))

    def clear_requests(self):
        return self.call('DELETE', 'requests')

    def reset(self):
        return self.call('POST', 'reset', {})


class _InProcessControl(ControlClient):
    """The ControlClient API, answered by octosim.control directly (no HTTP)."""

    def __init__(self, simulator):
        ControlClient.__init__(self, 'http://octosim.invalid')
        self.simulator = simulator

    def call(self, method, path, body=None):
        from octosim import control
        from octosim.model import SimError
        split = urlsplit('/_sim/' + path.lstrip('/'))
        query = {}
        for name, value in parse_qsl(split.query, keep_blank_values=True):
            query.setdefault(name, []).append(value)
        try:
            status, parsed = control.handle(self.simulator, method, unquote(split.path), query,
                                            json.loads(json.dumps(body)) if body is not None else None)
        except SimError as err:
            raise SimulatorError('control %s %s failed with %s: %s' % (method, path, err.status, err.message), err.status,
                                 {'ErrorMessage': err.message, 'Errors': err.errors})
        return json.loads(json.dumps(parsed))


class _InProcessResponse:
    def __init__(self, status, headers, raw):
        self.status = status
        self.headers = headers
        self._raw = raw

    def read(self):
        return self._raw

    def getcode(self):
        return self.status


class InProcessOctopus:
    """The simulator without sockets or threads, for fast in-process tests (Hypothesis state machines).

    ``open_url`` has the signature of ansible.module_utils.urls.open_url, so an OctopusClient built
    with ``open_url=octo.open_url, sleep=octo.sleep, clock=octo.monotonic, wallclock=octo.wallclock``
    runs unchanged against it. The cluster clock is frozen: only ``sleep()`` (the client's and the
    modules' waits), latency/timeout faults and ``control.advance()`` move it, so a run never waits
    for real time and is deterministic. ``control`` is a ControlClient answered in process.
    A latency longer than the client's timeout behaves like a timeout after the request was applied.
    """

    url = 'http://octosim.invalid'

    def __init__(self, config=None):
        from octosim import config as sim_config
        from octosim.server import Simulator
        self.simulator = Simulator(sim_config.load(config), speed=0)
        self.control = _InProcessControl(self.simulator)
        self._timeout = None
        self._waited = 0.0

    @property
    def api_url(self):
        return self.url + '/api'

    # the clock
    def clock_now(self):
        with self.simulator.cluster.lock:
            return self.simulator.cluster.sync()

    def monotonic(self):
        return self.clock_now()

    def wallclock(self):
        return self.clock_now()

    def sleep(self, seconds):
        seconds = max(0.0, float(seconds))
        if seconds:
            with self.simulator.cluster.lock:
                self.simulator.cluster.advance(seconds)

    def _wait(self, seconds):
        """A fault's latency, cut at the client's timeout (the client gives up then)."""
        seconds = float(seconds)
        if self._timeout is not None and self._waited + seconds >= self._timeout:
            self.sleep(max(0.0, self._timeout - self._waited))
            self._waited = self._timeout
            return
        self._waited += seconds
        self.sleep(seconds)

    # the transport
    def open_url(self, url, data=None, headers=None, method=None, timeout=None, **kwargs):
        """ansible's open_url against the simulator: a response, HTTPError for >= 400, URLError for a dropped connection."""
        from email.message import Message
        from octosim.server import JSON_TYPE
        split = urlsplit(url)
        pairs = parse_qsl(split.query, keep_blank_values=True)
        self._timeout, self._waited = timeout, 0.0
        answer = self.simulator.handle_api(method or 'GET', unquote(split.path), pairs, data or b'',
                                           _CaseInsensitive(headers or {}), self._wait)
        timed_out = self._timeout is not None and self._waited >= self._timeout
        if answer.drop or timed_out:
            reason = socket.timeout('timed out') if (answer.timed_out or timed_out) else ConnectionResetError(104, 'Connection reset by peer')
            raise urllib.error.URLError(reason)
        payload = answer.payload
        if isinstance(payload, bytes):
            raw = payload
        else:
            raw = payload.encode('utf-8') if isinstance(payload, str) else json.dumps(payload).encode('utf-8')
        response_headers = Message()
        for name, value in answer.headers.items():
            response_headers[name] = value
        response_headers['Content-Type'] = answer.content_type or JSON_TYPE
        if answer.cluster_date is not None:
            response_headers['Date'] = email.utils.formatdate(answer.cluster_date, usegmt=True)
        if answer.status >= 400:
            raise urllib.error.HTTPError(url, answer.status, 'octosim', response_headers, io.BytesIO(raw))
        return _InProcessResponse(answer.status, response_headers, raw)

    def request(self, method, path, body=None, api_key=ADMIN_KEY):
        """Like SimulatorProcess.request: (status, headers dict, parsed body); raises OSError for a dropped connection."""
        if not path.startswith('/'):
            path = '/api/' + path
        headers = {'X-Octopus-ApiKey': api_key} if api_key else {}
        data = None if body is None else json.dumps(body).encode('utf-8')
        try:
            response = self.open_url(self.url + path, data=data, headers=headers, method=method)
            status, resp_headers, raw = response.status, response.headers, response.read()
        except urllib.error.HTTPError as err:
            status, resp_headers, raw = err.code, err.headers, err.read()
        text = raw.decode('utf-8', 'replace')
        try:
            parsed = json.loads(text) if text.strip() else None
        except ValueError:
            parsed = text
        return status, dict(resp_headers.items()), parsed


class _CaseInsensitive(dict):
    """Request headers looked up like http.server's (case-insensitively)."""

    def get(self, name, default=None):
        for key, value in self.items():
            if key.lower() == name.lower():
                return value
        return default


class _SimulatorBase:
    """What SimulatorProcess and SimulatorThread share: url, control, request(), context manager."""

    url = None
    control = None
    ca_path = None

    @property
    def api_url(self):
        return self.url + '/api'

    def node_url(self, name):
        """Base URL that reaches one node directly (its 'local URL'); append /api/..."""
        return '%s/node/%s' % (self.url, quote(name, safe=''))

    def start(self):
        raise NotImplementedError()

    def stop(self):
        raise NotImplementedError()

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        self.stop()
        return False

    def request(self, method, path, body=None, api_key=ADMIN_KEY, headers=None, timeout=10.0, node=None):
        """Call the simulated Octopus API: path like '/api/tasks?take=1' (or 'tasks?take=1').

        api_key=None sends no key. node='X' goes through /node/X/api. Returns (status, headers, body).
        """
        if not path.startswith('/'):
            path = '/api/' + path
        base = self.node_url(node) if node else self.url
        all_headers = dict(headers or {})
        if api_key is not None:
            all_headers['X-Octopus-ApiKey'] = api_key
        return http_request(base + path, method, body, all_headers, timeout=timeout, ca_path=self.ca_path)


class SimulatorThread(_SimulatorBase):
    """The same server in a background thread of this process: starts in milliseconds.

    Same interface as SimulatorProcess (config, speed, tls; url, control, request, stop), plus
    .simulator (the octosim.server.Simulator, for white-box tests). Use SimulatorProcess when the
    code under test runs in another process anyway (ansible-playbook) or to test the CLI.
    """

    def __init__(self, config=None, speed=None, tls=False, host='127.0.0.1'):
        self.config = config
        self.speed = speed
        self.tls = tls
        self.host = host
        self.simulator = None
        self.server = None
        self.thread = None
        self.tls_files = None
        self.workdir = None

    def start(self):
        if self.server is not None:
            return self
        from octosim import config as sim_config
        from octosim.server import Simulator, make_server
        cfg = sim_config.load(self.config)
        cert = key = None
        if self.tls:
            if isinstance(self.tls, TlsFiles):
                self.tls_files = self.tls
            else:
                self.workdir = tempfile.mkdtemp(prefix='octosim-')
                self.tls_files = make_tls_files(self.workdir)
            self.ca_path = self.tls_files.ca_path
            cert, key = self.tls_files.cert_path, self.tls_files.key_path
        self.simulator = Simulator(cfg, speed=self.speed)
        self.server = make_server(self.simulator, self.host, 0, cert, key)
        self.simulator.start_ticker()
        self.thread = threading.Thread(target=self.server.serve_forever, kwargs={'poll_interval': 0.05},
                                       name='octosim-server', daemon=True)
        self.thread.start()
        self.url = self.server.url
        self.control = ControlClient(self.url, ca_path=self.ca_path)
        with _LIVE_LOCK:
            _LIVE.add(self)
        return self

    def stop(self):
        server, self.server = self.server, None
        if server is not None:
            self.simulator.stop()
            server.shutdown()
            server.server_close()
            self.thread.join(5)
        with _LIVE_LOCK:
            _LIVE.discard(self)
        if self.workdir:
            shutil.rmtree(self.workdir, ignore_errors=True)
            self.workdir = None


class SimulatorProcess(_SimulatorBase):
    """Run `python -m octosim` on 127.0.0.1:<free port> for the duration of a `with` block.

    config: a dict (written to a temp JSON file) or a path to a YAML/JSON file.
    speed: cluster seconds per real second (None = the config's, 0 = frozen: only advance() moves time).
    tls: True to serve HTTPS with a throw-away CA (see .ca_path), or a TlsFiles to use given files.
    Attributes once started: url (base URL, no /api), api_url, control (ControlClient), ca_path, log_path.
    """

    def __init__(self, config=None, speed=None, tls=False, host='127.0.0.1', startup_timeout=30.0, extra_args=()):
        self.config = config if config is not None else {}
        self.speed = speed
        self.tls = tls
        self.host = host
        self.startup_timeout = startup_timeout
        self.extra_args = list(extra_args)
        self.process = None
        self.url = None
        self.control = None
        self.ca_path = None
        self.tls_files = None
        self.workdir = None
        self.log_path = None
        self._log_handle = None

    def start(self):
        if self.process is not None:
            return self
        self.workdir = tempfile.mkdtemp(prefix='octosim-')
        try:
            self._start()
        except BaseException:
            self.stop()
            raise
        return self

    def _start(self):
        if isinstance(self.config, dict):
            config_path = os.path.join(self.workdir, 'config.json')
            with open(config_path, 'w', encoding='utf-8') as handle:
                json.dump(self.config, handle)
        else:
            config_path = os.fspath(self.config)
        port_file = os.path.join(self.workdir, 'url')
        args = [sys.executable, '-m', 'octosim', '--config', config_path, '--host', self.host, '--port', '0',
                '--port-file', port_file, '--exit-with-parent', '--parent-pid', str(os.getpid())]
        if self.speed is not None:
            args += ['--speed', str(self.speed)]
        if self.tls:
            self.tls_files = self.tls if isinstance(self.tls, TlsFiles) else make_tls_files(os.path.join(self.workdir, 'tls'))
            self.ca_path = self.tls_files.ca_path
            args += ['--tls-cert', self.tls_files.cert_path, '--tls-key', self.tls_files.key_path]
        args += self.extra_args
        env = dict(os.environ)
        env['PYTHONPATH'] = TOOLS_DIR + (os.pathsep + env['PYTHONPATH'] if env.get('PYTHONPATH') else '')
        self.log_path = os.path.join(self.workdir, 'octosim.log')
        self._log_handle = open(self.log_path, 'wb')
        self.process = subprocess.Popen(args, stdout=self._log_handle, stderr=subprocess.STDOUT, env=env,
                                        stdin=subprocess.DEVNULL, close_fds=True)
        deadline = time.monotonic() + self.startup_timeout
        while True:
            if self.process.poll() is not None:
                raise SimulatorError('octosim exited with %s before it was ready:\n%s' % (self.process.returncode, self.log_text()))
            if os.path.exists(port_file):
                with open(port_file, encoding='utf-8') as handle:
                    url = handle.read().strip()
                if url:
                    break
            if time.monotonic() > deadline:
                raise SimulatorError('octosim did not start within %ss:\n%s' % (self.startup_timeout, self.log_text()))
            time.sleep(0.02)
        self.url = url
        self.control = ControlClient(url, ca_path=self.ca_path)
        while True:
            try:
                self.control.state()
                break
            except (OSError, SimulatorError) as err:
                if isinstance(getattr(err, 'reason', err), ssl.SSLError):
                    raise SimulatorError('octosim answers, but TLS failed (does the certificate cover %s?): %s'
                                         % (self.host, err))
                if time.monotonic() > deadline or self.process.poll() is not None:
                    raise SimulatorError('octosim did not become ready: %s\n%s' % (err, self.log_text()))
                time.sleep(0.05)
        with _LIVE_LOCK:
            _LIVE.add(self)

    def log_text(self):
        if self.log_path and os.path.exists(self.log_path):
            with open(self.log_path, encoding='utf-8', errors='replace') as handle:
                return handle.read()
        return ''

    def stop(self):
        """Terminate the process (kill after 5 s), remove the temp dir. Safe to call twice."""
        process, self.process = self.process, None
        if process is not None:
            if process.poll() is None:
                process.terminate()
                try:
                    process.wait(timeout=5)
                except subprocess.TimeoutExpired:
                    process.kill()
                    process.wait(timeout=5)
        if self._log_handle is not None:
            self._log_handle.close()
            self._log_handle = None
        with _LIVE_LOCK:
            _LIVE.discard(self)
        if self.workdir:
            shutil.rmtree(self.workdir, ignore_errors=True)
            self.workdir = None
