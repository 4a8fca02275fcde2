# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# Copyright: Contributors to the octopus.ha collection
"""The one HTTP layer of the octopus.ha collection.

This module_util is PRIVATE to the octopus.ha collection, not a public API.
It may change without notice between any two releases.

It holds the connection options, API-key authentication, TLS, per-request timeouts,
bounded retries with exponential backoff and full jitter (honouring ``Retry-After``),
paging and the mapping of HTTP errors into one exception type, ``OctopusApiError``.
Modules convert that exception into ``fail_json`` in one place with ``fail_from_exception``.
"""

from __future__ import absolute_import, division, print_function
__metaclass__ = type

import email.utils
import errno
import inspect
import json
import os
import random
import re
import socket
import ssl
import time

from http.client import HTTPException
from urllib.error import HTTPError, URLError
from urllib.parse import parse_qsl, quote, urlencode, urljoin, urlsplit

from ansible.module_utils import urls as ansible_urls
from ansible.module_utils.basic import env_fallback
from ansible.module_utils.urls import SSLValidationError, open_url as ansible_open_url

try:
    # ansible-core 2.19+: Request.open takes a ready TLS context, so a client builds it (and loads the CA store) once.
    _REQUEST_TAKES_CONTEXT = 'context' in inspect.signature(ansible_urls.Request.open).parameters
except (TypeError, ValueError):  # pragma: no cover
    _REQUEST_TAKES_CONTEXT = False

API_KEY_HEADER = 'X-Octopus-ApiKey'
USER_AGENT = 'octopus.ha-ansible-collection'

OCTOPUS_CONNECTION_SPEC = dict(
    url=dict(type='str', required=True, fallback=(env_fallback, ['OCTOPUS_URL'])),
    api_key=dict(type='str', required=True, no_log=True, fallback=(env_fallback, ['OCTOPUS_API_KEY'])),
    validate_certs=dict(type='bool', default=True, fallback=(env_fallback, ['OCTOPUS_VALIDATE_CERTS'])),
    ca_path=dict(type='path', fallback=(env_fallback, ['OCTOPUS_CA_PATH'])),
    client_cert=dict(type='path', fallback=(env_fallback, ['OCTOPUS_CLIENT_CERT'])),
    client_key=dict(type='path', no_log=False, fallback=(env_fallback, ['OCTOPUS_CLIENT_KEY'])),
    timeout=dict(type='int', default=30),
    request_deadline=dict(type='int', default=120),
    max_retries=dict(type='int', default=5),
)

# Statuses worth another attempt: -1 = connection error or timeout, 429 = rate limited,
# 502/503/504 = proxy, restarting node or database failover. 500 is a server bug: not retried.
RETRY_STATUSES = frozenset((-1, 429, 502, 503, 504))
# Reads only. A write (PUT, POST, DELETE) is never repeated by the request loop once it may have
# reached the server: write_with_reread() reads the object again and decides. Any method is
# retried when the request provably never left this host (see _never_sent).
RETRY_METHODS = frozenset(('GET',))
# A write answered like this may or may not have been applied: read the object before deciding.
UNKNOWN_OUTCOME = frozenset((-1, 429, 500, 502, 503, 504))
BACKOFF_BASE = 1.0
BACKOFF_CAP = 30.0
EXCERPT_CHARS = 200
ROOT_ACTION = 'read the Octopus server root document /api'
ACTION_VERBS = dict(GET='read', PUT='update', DELETE='delete', POST='post to')
# errno values that mean "the TCP connection was never established".
NOT_SENT_ERRNOS = frozenset((errno.ECONNREFUSED, errno.ENETUNREACH, errno.EHOSTUNREACH, errno.EADDRNOTAVAIL))
# getaddrinfo answers that mean "this name does not exist" (not retried); EAI_AGAIN is transient.
DNS_PERMANENT_ERRNOS = frozenset(getattr(socket, name) for name in ('EAI_NONAME', 'EAI_NODATA') if hasattr(socket, name))
# SSL errors of a peer that does not speak TLS at all (a plain HTTP port).
NOT_TLS_RE = re.compile(r'WRONG_VERSION_NUMBER|wrong version number|http request|unknown protocol|record layer failure|'
                        r'packet length too long', re.I)
PERMISSION_RE = re.compile(r'Missing permission:?\s*([A-Za-z]+)')
TEMPLATE_RE = re.compile(r'\{[^}]*\}')


def octopus_argument_spec(**module_options):
    """Return the connection options merged with a module's own options."""
    spec = dict((name, dict(opts)) for name, opts in OCTOPUS_CONNECTION_SPEC.items())
    spec.update(module_options)
    return spec


def normalize_url(url):
    """Return the server base URL (no trailing '/' or '/api'); raise ValueError when unusable."""
    text = (url or '').strip()
    if not text:
        raise ValueError('The Octopus url is empty. Set url (or OCTOPUS_URL) to the server address, for example https://octopus.example.com.')
    parts = urlsplit(text)
    _check_url_parts(parts)
    path = parts.path.rstrip('/')
    if path.lower().endswith('/api'):
        path = path[:-4].rstrip('/')
    return '%s://%s%s' % (parts.scheme.lower(), parts.netloc, path)


def _check_url_parts(parts):
    shown = _url_for_message(parts)
    if parts.scheme.lower() not in ('http', 'https') or not parts.netloc or parts.hostname is None:
        raise ValueError('The Octopus url %r is not an absolute http(s) URL. Set url to the full server address, '
                         'for example https://octopus.example.com.' % shown)
    if parts.username is not None or parts.password is not None:
        raise ValueError('The Octopus url must not contain credentials. Remove the user:password@ part and pass the key in api_key.')
    if parts.query or parts.fragment:
        raise ValueError('The Octopus url %r must not contain a query string or fragment. Set url to the server base address only '
                         '(the API key belongs in api_key, never in the URL).' % shown)


def _url_for_message(parts):
    """Render a URL for an error message without any user info, query or fragment."""
    host = parts.netloc.rpartition('@')[2]
    return '%s://%s%s' % (parts.scheme, host, parts.path) if parts.scheme else parts.path


def _check_limits(timeout, request_deadline, max_retries):
    if timeout is None or timeout < 1:
        raise ValueError('The Octopus timeout must be at least 1 second, got %r. Set timeout to a positive number of seconds.' % timeout)
    if request_deadline is None or request_deadline < 1:
        raise ValueError('The Octopus request_deadline must be at least 1 second, got %r. Set request_deadline to a positive number '
                         'of seconds.' % request_deadline)
    if max_retries is None or max_retries < 0:
        raise ValueError('The Octopus max_retries must be 0 or more, got %r. Set max_retries to 0 to turn retries off.' % max_retries)


def _check_tls_files(ca_path, client_cert, client_key):
    """Fail before any request when a TLS file option names a file that is missing or unusable."""
    for option, path in (('ca_path', ca_path), ('client_cert', client_cert), ('client_key', client_key)):
        if path and not os.path.isfile(path):
            what = 'is a directory, not a file' if os.path.isdir(path) else 'does not exist'
            raise ValueError('The Octopus %s %s %s. Set %s to a readable PEM file on the host that runs the module '
                             '(the controller for localhost tasks).' % (option, path, what, option))
    if client_key and not client_cert:
        raise ValueError('The Octopus client_key is set without client_cert. Set client_cert to the PEM client certificate '
                         'that goes with the key.')
    context = ssl.create_default_context()
    if ca_path:
        try:
            context.load_verify_locations(cafile=ca_path)
        except (ssl.SSLError, OSError, ValueError) as exc:
            raise ValueError('The Octopus ca_path %s is not a PEM bundle of CA certificates (%s). Set ca_path to the PEM file '
                             'of the CA that signed the server certificate.' % (ca_path, exc))
    if client_cert:
        try:
            context.load_cert_chain(client_cert, keyfile=client_key)
        except (ssl.SSLError, OSError, ValueError) as exc:
            raise ValueError('The Octopus client_cert %s could not be loaded with its key (%s). Set client_cert to a PEM '
                             'certificate and client_key to its unencrypted PEM private key (or put both in client_cert).'
                             % (client_cert, exc))


class OctopusApiError(Exception):
    """An Octopus API call failed. str(err) is a full sentence and never holds the API key."""

    def __init__(self, message, status=None, method=None, path=None, action=None, body=None, excerpt=None, retries=0):
        super(OctopusApiError, self).__init__(message)
        self.message = message
        self.status = status
        self.method = method
        self.path = path
        self.action = action
        self.body = body
        self.excerpt = excerpt
        self.retries = retries

    def to_result(self):
        """A dict safe to return from a module (no FullException, no secrets)."""
        result = dict(status=self.status, method=self.method, path=self.path, retries=self.retries)
        if isinstance(self.body, dict):
            result['error_message'] = self.body.get('ErrorMessage')
            result['errors'] = self.body.get('Errors') or []
        if self.excerpt:
            result['excerpt'] = self.excerpt
        return result


class _Attempt:
    """Outcome of one HTTP exchange: status (-1 for transport errors), headers, raw body, reason."""

    def __init__(self, status, headers=None, raw=b'', reason=None, never_sent=False, tls_error=False, diagnosis=None,
                 final_url=None):
        self.status = status
        self.headers = headers or {}
        self.raw = raw or b''
        self.reason = reason
        self.never_sent = never_sent
        self.tls_error = tls_error
        # A sentence that names the connection option to fix; such an attempt is never retried.
        self.diagnosis = diagnosis
        self.final_url = final_url
        self.deadline_hit = False

    def header(self, name):
        for key, value in self.headers.items():
            if key.lower() == name.lower():
                return value
        return None


def _never_sent(exc):
    """True when the request provably never reached the server (so even a POST may be retried).

    Only a failure to *establish* the connection counts: connection refused, no route, or a DNS
    failure (socket.gaierror). Timeouts, resets and malformed responses may happen after the
    server received the request, so a POST is never retried after them.
    """
    reason = getattr(exc, 'reason', exc)
    if isinstance(reason, (ConnectionRefusedError, socket.gaierror)):
        return True
    return isinstance(reason, OSError) and getattr(reason, 'errno', None) in NOT_SENT_ERRNOS


def _dns_permanent(exc):
    """True for a DNS answer that the name does not exist (retrying cannot help)."""
    reason = getattr(exc, 'reason', exc)
    return isinstance(reason, socket.gaierror) and reason.errno in DNS_PERMANENT_ERRNOS


def _is_root_document(document):
    """True when a GET /api answer is the Octopus root document (Application/ApiVersion, REFERENCE.md 1.2)."""
    return isinstance(document, dict) and bool(document.get('ApiVersion') or document.get('Application'))


def _is_tls_error(exc):
    tls = (ssl.SSLError, ssl.CertificateError, SSLValidationError)
    return isinstance(exc, tls) or isinstance(getattr(exc, 'reason', None), tls)


def _headers_of(response):
    headers = getattr(response, 'headers', None) or getattr(response, 'hdrs', None) or {}
    return dict(headers.items()) if hasattr(headers, 'items') else {}


def sanitize_excerpt(raw, secrets=()):
    """First EXCERPT_CHARS printable characters of a body, whitespace collapsed, secrets masked."""
    text = raw.decode('utf-8', 'replace') if isinstance(raw, bytes) else str(raw or '')
    text = re.sub(r'<[^>]*>', ' ', text)
    text = ''.join(ch if ch.isprintable() else ' ' for ch in text)
    text = re.sub(r'\s+', ' ', text).strip()
    return mask_secrets(text[:EXCERPT_CHARS], secrets)


def mask_secrets(text, secrets):
    for secret in secrets:
        if secret:
            text = text.replace(secret, '********')
    return text


def parse_retry_after(value, now, server_date=None):
    """Seconds to wait from a Retry-After header (delta-seconds or HTTP-date), or None."""
    if value is None:
        return None
    value = str(value).strip()
    if value.isdigit():
        return float(value)
    try:
        when = email.utils.parsedate_to_datetime(value).timestamp()
    except (TypeError, ValueError, IndexError, OverflowError):
        return None
    reference = now
    if server_date:
        try:
            reference = email.utils.parsedate_to_datetime(server_date).timestamp()
        except (TypeError, ValueError, IndexError, OverflowError):
            reference = now
    return max(0.0, when - reference)


def retry_after_seconds(headers, now):
    """Seconds a response's Retry-After asks for (against its Date when it sends an HTTP-date), or None."""
    lowered = dict((str(k).lower(), v) for k, v in (headers or {}).items())
    return parse_retry_after(lowered.get('retry-after'), now, lowered.get('date'))


def strip_template(link):
    """Drop RFC 6570 template expressions such as '{?skip,take}' from a link."""
    return TEMPLATE_RE.sub('', link or '')


def encode_query(query):
    """Percent-encode a dict or list of pairs (values with quote(safe=''), lists joined by ',')."""
    if not query:
        return ''
    pairs = query.items() if isinstance(query, dict) else query
    flat = [(k, ','.join(str(x) for x in v) if isinstance(v, (list, tuple)) else _query_value(v)) for k, v in pairs if v is not None]
    return urlencode(flat, quote_via=quote, safe='')


def _query_value(value):
    if isinstance(value, bool):
        return 'true' if value else 'false'
    return str(value)


class OctopusClient:
    """Talks to one Octopus Server. Raises OctopusApiError; never exits the module."""

    def __init__(self, url, api_key, validate_certs=True, ca_path=None, timeout=30,
                 request_deadline=120, max_retries=5, warn=None, open_url=None,
                 sleep=None, clock=None, rng=None, wallclock=None, client_cert=None, client_key=None):
        """Hooks left as None resolve to open_url, time.sleep, time.monotonic, random.random and time.time."""
        self.base_url = normalize_url(url)
        _check_limits(timeout, request_deadline, max_retries)
        # An empty value (an unset AWX credential field injected as '') means "not set".
        ca_path, client_cert, client_key = ca_path or None, client_cert or None, client_key or None
        _check_tls_files(ca_path, client_cert, client_key)
        self.api_key = api_key
        self.validate_certs = validate_certs
        self.ca_path = ca_path
        self.client_cert = client_cert
        self.client_key = client_key
        self.timeout = timeout
        self.request_deadline = request_deadline
        self.max_retries = max_retries
        self.warn = warn or (lambda msg: None)
        self.open_url = open_url or ansible_open_url
        self.sleep = sleep or time.sleep
        self.clock = clock or time.monotonic
        self.rng = rng or random.random
        self.wallclock = wallclock or time.time
        self.requests = []
        self.sent = []
        self.mutating_requests_sent = 0
        self.warnings = []
        self.last_response_headers = {}
        self._warned_http = False
        self._base_path = urlsplit(self.base_url).path
        self._tls_context = None
        # http:// only: whether GET /api was read without the key before the key is first sent.
        self._scheme_checked = not self.base_url.startswith('http://')
        self._scheme_problem = None
        self._tls_probed = False
        # Whether GET /api answered with the Octopus root document (None: not known yet).
        self._root_is_octopus = None

    @classmethod
    def from_module(cls, module):
        """Build a client from module.params; the key joins no_log_values, warnings go to module.warn."""
        params = module.params
        if params.get('api_key'):
            module.no_log_values.add(params['api_key'])
        try:
            return cls(params['url'], params['api_key'], validate_certs=params['validate_certs'],
                       ca_path=params.get('ca_path'), timeout=params['timeout'],
                       request_deadline=params['request_deadline'], max_retries=params['max_retries'],
                       warn=module.warn, client_cert=params.get('client_cert'), client_key=params.get('client_key'))
        except ValueError as exc:
            raise OctopusApiError(str(exc), action='read the connection options')

    # ---- public verbs -------------------------------------------------------------------

    def get(self, path, query=None, action=None, allow_404=False):
        return self._request('GET', path, query=query, action=action, allow_404=allow_404)

    def put(self, path, body, action=None):
        """PUT body; after an unknown outcome the object is read and the body sent again only if it is not there."""
        action = action or 'update %s' % self._display(path)
        return write_with_reread(self, action, lambda: self.write_once('PUT', path, body, action=action),
                                 lambda: _put_settled(self, path, body)).value

    def delete(self, path, action=None, allow_404=True):
        """DELETE; False when it was already gone. After an unknown outcome the object is read before deleting again."""
        action = action or 'delete %s' % self._display(path)
        result = write_with_reread(self, action, lambda: self.write_once('DELETE', path, action=action, allow_404=allow_404),
                                   lambda: _delete_settled(self, path))
        return result.value is not _MISSING

    def post(self, path, body=None, action=None):
        """POST once (never repeated once it may have been sent: see write_with_reread for a POST that needs a retry)."""
        return self._request('POST', path, body=body, action=action)

    def write_once(self, method, path, body=None, action=None, allow_404=False):
        """One write attempt (only a request that provably never left this host is sent again).

        A 404 with allow_404 returns a private marker that put/delete turn into their answers.
        """
        return self._request(method, path, body=body, action=action, allow_404=allow_404, missing=_MISSING)

    def server_date(self):
        """The server's clock (epoch seconds) from the Date header of the last response, or None."""
        value = next((v for k, v in self.last_response_headers.items() if k.lower() == 'date'), None)
        try:
            return email.utils.parsedate_to_datetime(value).timestamp() if value else None
        except (TypeError, ValueError, IndexError, OverflowError):
            return None

    def root(self):
        """GET /api without the API key (the root document is anonymous)."""
        document = self._request('GET', '', action=ROOT_ACTION, auth=False)
        self._root_is_octopus = _is_root_document(document)
        return document

    def get_all(self, path, query=None, action=None, page_size=30, max_items=10000):
        """Every item of a paged collection (or a plain JSON array)."""
        pager = _Pager(self, path, query, action or 'list %s' % self._display(path), page_size, max_items)
        return pager.run()

    # ---- request loop -------------------------------------------------------------------

    def _request(self, method, path, query=None, body=None, action=None, allow_404=False, auth=True, missing=None):
        action = action or '%s %s' % (ACTION_VERBS.get(method, method), self._display(path))
        rel = self.build_path(path, query)
        data = None if body is None else json.dumps(body).encode('utf-8')
        attempt, retries = self._attempts(method, rel, data, action, auth)
        self.last_response_headers = attempt.headers
        if attempt.status == 404:
            self._check_octopus_root(rel, action)
        if attempt.status == 404 and allow_404:
            return missing
        if attempt.status < 200 or attempt.status >= 300:
            raise self._error(method, rel, action, attempt, retries)
        if method in ('PUT', 'POST', 'DELETE'):
            self.mutating_requests_sent += 1
        return self._parse(method, rel, action, attempt, retries)

    def _attempts(self, method, rel, data, action, auth):
        """Send with bounded retries inside request_deadline; return (last attempt, retries)."""
        deadline = self.clock() + self.request_deadline
        retries, episode = 0, []
        while True:
            attempt = self._send(method, rel, data, auth, deadline)
            delay = self._retry_delay(method, attempt, retries, deadline)
            if delay is None:
                break
            episode.append(attempt.status)
            self.sleep(delay)
            retries += 1
        if retries:
            self._warn_episode(action, episode, retries)
        attempt.deadline_hit = retries < self.max_retries and self._retryable(method, attempt)
        return attempt, retries

    def _retryable(self, method, attempt):
        if attempt.tls_error or attempt.diagnosis or attempt.status not in RETRY_STATUSES:
            return False
        return method in RETRY_METHODS or (attempt.status == -1 and attempt.never_sent)

    def _retry_delay(self, method, attempt, retries, deadline):
        """Seconds to sleep before the next attempt, or None to stop (never sleeps past the deadline)."""
        if retries >= self.max_retries or not self._retryable(method, attempt):
            return None
        delay = self.backoff(retries, attempt.headers)
        if self.clock() + delay >= deadline:
            return None
        return delay

    def backoff(self, retries, headers=None):
        """THE pause before retry number retries+1: full-jitter exponential backoff, at least what Retry-After asks."""
        delay = self.rng() * min(BACKOFF_CAP, BACKOFF_BASE * (2 ** retries))
        minimum = retry_after_seconds(headers, self.wallclock())
        return delay if minimum is None else max(delay, minimum)

    def _warn_episode(self, action, statuses, retries):
        if 429 in statuses:
            what = 'rate limited by %s' % self.base_url
        else:
            what = 'transient errors (%s) from %s' % (', '.join(sorted(set(_status_text(s) for s in statuses))), self.base_url)
        self._warn('Octopus API %s while trying to %s, retried %d times.' % (what, action, retries))

    def _warn(self, message):
        message = mask_secrets(message, [self.api_key])
        self.warnings.append(message)
        self.warn(message)

    def _send(self, method, rel, data, auth, deadline):
        """One HTTP exchange. Never raises for HTTP or transport errors: returns an _Attempt."""
        self.requests.append((method, rel.split('?', 1)[0]))
        self.sent.append(dict(method=method, path=rel.split('?', 1)[0], query=rel.partition('?')[2]))
        if auth and not self._scheme_checked:
            self._check_plain_http(deadline)
        if auth and self._scheme_problem:
            return _Attempt(-1, reason='not sent', never_sent=True, diagnosis=self._scheme_problem)
        url = '%s/api/%s' % (self.base_url, rel) if rel else '%s/api' % self.base_url
        attempt = self._exchange(method, url, data, auth, deadline)
        if not rel and not auth and not self._scheme_checked:
            # The anonymous root document settles the http:// check when it got an answer.
            problem = self._check_scheme_answer(attempt, deadline)
            if problem or attempt.status > 0:
                self._scheme_checked, self._scheme_problem = True, problem
            attempt.diagnosis = attempt.diagnosis or problem
        if attempt.tls_error and not attempt.diagnosis:
            attempt.diagnosis = self._check_tls_failure(attempt, deadline)
        return attempt

    def _exchange(self, method, url, data, auth, deadline, follow_redirects='safe'):
        timeout = max(1, min(self.timeout, int(deadline - self.clock()) or 1))
        host = (urlsplit(url).hostname or '').rstrip('.').lower()
        if host == 'invalid' or host.endswith('.invalid'):
            # RFC 6761 section 6.4: names under .invalid never resolve; answer without asking DNS.
            return _Attempt(-1, reason='the .invalid domain never resolves (RFC 6761)', never_sent=True,
                            diagnosis=self._dns_diagnosis(host, 'the .invalid domain never resolves (RFC 6761)'))
        try:
            response = self._open(url, data=data, headers=self._headers(auth, data), method=method,
                                  timeout=timeout, validate_certs=self.validate_certs, ca_path=self.ca_path,
                                  client_cert=self.client_cert, client_key=self.client_key,
                                  follow_redirects=follow_redirects, use_netrc=False,
                                  unredirected_headers=[API_KEY_HEADER], http_agent=USER_AGENT)
            final = response.geturl() if hasattr(response, 'geturl') else None
            return _Attempt(getattr(response, 'status', None) or response.getcode(), _headers_of(response), response.read(),
                            final_url=final)
        except HTTPError as exc:
            return _Attempt(exc.code, _headers_of(exc), _read_quietly(exc))
        except (URLError, SSLValidationError, HTTPException, OSError, ValueError) as exc:
            attempt = _Attempt(-1, reason=self._reason(exc), never_sent=_never_sent(exc), tls_error=_is_tls_error(exc))
            if _dns_permanent(exc):
                attempt.diagnosis = self._dns_diagnosis(host, attempt.reason)
            return attempt

    # ---- transport diagnosis (each names the connection option to fix) -----------------

    def _check_plain_http(self, deadline):
        """Before the key first goes out over http://, read GET /api without it and without following redirects."""
        self._scheme_checked = True
        probe = self._exchange('GET', self.api_url(''), None, False, deadline, follow_redirects='none')
        self._scheme_problem = self._check_scheme_answer(probe, deadline)

    def _check_scheme_answer(self, attempt, deadline):
        """A sentence when an anonymous GET /api over http:// shows that the server wants https, else None."""
        location = urljoin(self.api_url(''), attempt.header('Location') or '') if 300 <= attempt.status < 400 else ''
        target = attempt.final_url or location
        if target.lower().startswith('https://') or attempt.tls_error:
            # A TLS error on an http:// URL can only come from a redirect to https that was followed.
            where = ' to %s' % target if target.lower().startswith('https://') else ' to https'
            return ('the server at %s redirects%s, so the API key was not sent over plain http. Set url to the https:// '
                    'address of the server.' % (self.base_url, where))
        if attempt.status == 400 or (attempt.status == -1 and not attempt.never_sent and not attempt.diagnosis):
            parts = urlsplit(self.base_url)
            if self._speaks_tls(parts.hostname, parts.port or 80, deadline):
                return ('the server at %s speaks TLS (HTTPS) on that port, not plain HTTP, so the API key was not sent. Set url '
                        'to https://%s%s.' % (self.base_url, parts.netloc, parts.path))
        return None

    def _speaks_tls(self, host, port, deadline):
        """True when a TLS handshake with host:port completes (only the protocol: the certificate is not checked).

        Asked at most once per client, only after an http:// request got no HTTP answer or a 400.
        """
        if self._tls_probed:
            return False
        self._tls_probed = True
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
        context.check_hostname = False
        context.verify_mode = ssl.CERT_NONE
        timeout = max(1, min(self.timeout, 10, int(deadline - self.clock()) or 1))
        try:
            with socket.create_connection((host, port), timeout=timeout) as sock:
                with context.wrap_socket(sock, server_hostname=host):
                    return True
        except (OSError, ValueError):
            return False

    def _check_tls_failure(self, attempt, deadline):
        """A sentence naming the option to fix for a failed TLS handshake."""
        reason = attempt.reason or ''
        parts = urlsplit(self.base_url)
        if NOT_TLS_RE.search(reason):
            plain = self._exchange('GET', 'http://%s%s/api' % (parts.netloc, parts.path), None, False, deadline,
                                   follow_redirects='none')
            if plain.status > 0:
                return ('the server at %s answers plain HTTP on that port, not TLS (%s). Set url to the address of its HTTPS '
                        'binding, or to http://%s%s for a test server (the API key then travels unencrypted).'
                        % (self.base_url, reason, parts.netloc, parts.path))
            return ('the TLS handshake with %s failed (%s): the port does not speak TLS. Check url (scheme and port).'
                    % (self.base_url, reason))
        if 'CERTIFICATE_VERIFY_FAILED' in reason or 'certificate verify failed' in reason or 'validate the SSL' in reason:
            if re.search(r'(hostname|ip address) mismatch|not valid for|doesn.t match', reason, re.I):
                return ('the certificate of %s does not name the host %s (%s). Set url to a host name the certificate covers.'
                        % (self.base_url, parts.hostname, reason))
            where = 'ca_path %s does not hold the CA that signed it' % self.ca_path if self.ca_path else 'ca_path is not set'
            return ('TLS certificate validation failed for %s (%s): %s. Set ca_path (or OCTOPUS_CA_PATH) to the PEM bundle of '
                    'the CA that signed the server certificate (validate_certs=false only for throw-away test servers).'
                    % (self.base_url, reason, where))
        if self.client_cert:
            hint = 'Check that the server trusts client_cert %s and that it is valid for client authentication.' % self.client_cert
        else:
            hint = ('If the server requires a client certificate (mutual TLS), set client_cert and client_key; otherwise check '
                    'url and ca_path (validate_certs=false only for throw-away test servers).')
        return 'the TLS handshake with %s failed (%s). %s' % (self.base_url, reason, hint)

    def _dns_diagnosis(self, host, reason):
        return ('the host name %s in url does not resolve (%s). Check the host name in url (or OCTOPUS_URL) and the DNS '
                'servers of the host that runs the module.' % (host, reason))

    def _check_octopus_root(self, rel, action):
        """After a 404, read GET /api once: raise when url does not point at an Octopus Server.

        Without this, a wrong url would make every lookup "not found", and a removal "already done".
        Only a 404 or a 2xx without the root document proves it; 401, 5xx or no answer prove nothing.
        """
        if not rel or self._root_is_octopus is not None:
            return
        attempt, retries = self._attempts('GET', '', None, ROOT_ACTION, False)
        if attempt.status == 404 or 200 <= attempt.status < 300:
            self._root_is_octopus = _is_root_document(_json_or_none(attempt.raw))
        if self._root_is_octopus is False:
            raise self._exc('Could not %s: %s' % (action, self._not_octopus(attempt)), attempt, 'GET', '', action, retries)

    def _not_octopus(self, attempt):
        return ('%s is not an Octopus Server: GET %s answered HTTP %s without the Octopus root document. Set url to the '
                'address of the Octopus Server web portal (without /api, including any virtual directory).'
                % (self.base_url, self.api_url(''), attempt.status))

    def _open(self, url, method, **kwargs):
        """open_url, except that with ansible's own open_url on ansible-core 2.19+ the TLS context is made once per client.

        ansible's open_url makes a new context, and loads the system CA store (30 to 50 ms of CPU), for every request,
        even for http:// URLs. A wait polls many times, so the client keeps the context that ansible's make_context
        builds from the same options (ca_path, validate_certs, client_cert, client_key) and hands it to Request.open,
        which open_url calls.
        """
        if self.open_url is not ansible_urls.open_url or not _REQUEST_TAKES_CONTEXT:
            return self.open_url(url, method=method, **kwargs)
        if self._tls_context is None:
            self._tls_context = ansible_urls.make_context(cafile=self.ca_path, validate_certs=self.validate_certs,
                                                          client_cert=self.client_cert, client_key=self.client_key)
        return ansible_urls.Request().open(method, url, context=self._tls_context, **kwargs)

    def _headers(self, auth, data):
        headers = {'Accept': 'application/json'}
        if data is not None:
            headers['Content-Type'] = 'application/json'
        if auth:
            self._warn_http_once()
            headers[API_KEY_HEADER] = self.api_key
        return headers

    def _warn_http_once(self):
        if self.base_url.startswith('http://') and not self._warned_http:
            self._warned_http = True
            self._warn('The Octopus API key is sent over plain http:// to %s, where anyone on the network path can read it. '
                       'Use an https:// url.' % self.base_url)

    def _reason(self, exc):
        reason = getattr(exc, 'reason', None) or exc
        return mask_secrets(str(reason)[:EXCERPT_CHARS] or type(reason).__name__, [self.api_key])

    # ---- responses and errors -----------------------------------------------------------

    def _parse(self, method, rel, action, attempt, retries):
        if not attempt.raw.strip():
            if method == 'DELETE' or attempt.status == 204:
                return {}
            raise self._unexpected(method, rel, action, attempt, retries, 'an empty body where JSON was expected')
        try:
            return json.loads(attempt.raw.decode('utf-8'))
        except ValueError:
            raise self._unexpected(method, rel, action, attempt, retries, 'a body that is not JSON')

    def _unexpected(self, method, rel, action, attempt, retries, what):
        excerpt = sanitize_excerpt(attempt.raw, [self.api_key])
        ctype = attempt.header('Content-Type') or 'no content type'
        msg = ('Could not %s: unexpected response from %s (HTTP %s, %s): got %s%s. Check that url points at the Octopus Server '
               'itself and not at a load balancer, proxy or login page.'
               % (action, self.api_url(rel), attempt.status, ctype, what, ": '%s'" % excerpt if excerpt else ''))
        return self._exc(msg, attempt, method, rel, action, retries, excerpt=excerpt)

    def _error(self, method, rel, action, attempt, retries):
        body = _json_or_none(attempt.raw)
        excerpt = None if body is not None else sanitize_excerpt(attempt.raw, [self.api_key])
        msg = 'Could not %s: %s' % (action, self._explain(rel, attempt, body, excerpt, retries))
        if method == 'POST' and attempt.status in RETRY_STATUSES and not attempt.never_sent:
            msg += (' The POST was not retried because it may already have reached the server: read the object again to see '
                    'whether it took effect before trying again.')
        return self._exc(msg, attempt, method, rel, action, retries, body=body, excerpt=excerpt)

    def _exc(self, msg, attempt, method, rel, action, retries, body=None, excerpt=None):
        return OctopusApiError(mask_secrets(msg, [self.api_key]), status=attempt.status, method=method,
                               path=rel.split('?', 1)[0], action=action, body=_mask_json(body, [self.api_key]),
                               excerpt=excerpt, retries=retries)

    def _explain(self, rel, attempt, body, excerpt, retries):
        detail = _detail(body, excerpt)
        status = attempt.status
        if attempt.diagnosis:
            return attempt.diagnosis
        if attempt.tls_error:
            return ('TLS certificate validation failed for %s (%s). Set ca_path to the CA bundle that signed the server '
                    'certificate (validate_certs=false only for throw-away test servers).' % (self.base_url, attempt.reason))
        if status == 404 and not rel:
            return self._not_octopus(attempt)
        if status == -1:
            return ('cannot reach the Octopus server at %s (%s)%s. Check url, DNS, firewalls and that the Octopus Server service '
                    'is running.' % (self.base_url, attempt.reason, _tried(retries, attempt)))
        if status == 401:
            return ('the server at %s rejected the API key (HTTP 401%s). Set api_key (or OCTOPUS_API_KEY) to a valid, '
                    'unexpired API key of the service account.' % (self.base_url, detail))
        if status == 403:
            return self._explain_403(body, detail)
        if status == 404:
            return '%s was not found (HTTP 404%s). Check the id or name.' % (self.api_url(rel), detail)
        if status in (400, 409, 422):
            return ('the server refused the request (HTTP %s%s). Correct the values the server named and run again.'
                    % (status, detail))
        return ('the server at %s answered HTTP %s%s%s. Check the Octopus Server logs and health, then run again '
                '(request_deadline and max_retries bound the retries).' % (self.base_url, status, detail, _tried(retries, attempt)))

    def _explain_403(self, body, detail):
        message = (body or {}).get('ErrorMessage') if isinstance(body, dict) else None
        match = PERMISSION_RE.search(message or '')
        permission = match.group(1) if match else 'the required permission'
        return ('the API key is valid but its user lacks %s (HTTP 403%s). Grant the service account a team role that '
                'includes %s, or use the key of an account that has it.' % (permission, detail, permission))

    def api_url(self, rel):
        """Absolute URL of a relative path, without its query string (for messages)."""
        return '%s/api/%s' % (self.base_url, rel.split('?', 1)[0]) if rel else '%s/api' % self.base_url

    @staticmethod
    def _display(path):
        return '/api/%s' % path.split('?', 1)[0] if path else '/api'

    def build_path(self, path, query=None):
        """Path relative to the API root with the query string encoded."""
        rel = self.relative_path(path)
        encoded = encode_query(query)
        if encoded:
            rel = '%s%s%s' % (rel, '&' if '?' in rel else '?', encoded)
        return rel

    def relative_path(self, link):
        """Turn a server link ('/api/x?y', '/vdir/api/x', 'x') into a path relative to the API root."""
        link = strip_template(link or '').strip()
        for prefix in (self._base_path + '/api/', '/api/', self._base_path + '/api', '/api'):
            if prefix and link.startswith(prefix) and (prefix.endswith('/') or link[len(prefix):len(prefix) + 1] in ('', '?')):
                return link[len(prefix):]
        return link.lstrip('/')


_MISSING = object()


def _status_text(status):
    return 'connection error or timeout' if status == -1 else 'HTTP %s' % status


def _tried(retries, attempt):
    if not retries and not getattr(attempt, 'deadline_hit', False):
        return ''
    text = ' after %d retries' % retries
    if getattr(attempt, 'deadline_hit', False):
        text += ' (stopped because the next wait would pass request_deadline)'
    return text


def _detail(body, excerpt):
    if isinstance(body, dict):
        parts = [str(body.get('ErrorMessage') or '').strip()]
        parts.extend(str(e).strip() for e in body.get('Errors') or [] if str(e).strip())
        text = '; '.join(p for p in parts if p)
        return ': %s' % text if text else ''
    return ": unexpected non-JSON response '%s'" % excerpt if excerpt else ''


def _mask_json(body, secrets):
    if body is None:
        return None
    return json.loads(mask_secrets(json.dumps(body), secrets))


def _json_or_none(raw):
    try:
        return json.loads(raw.decode('utf-8')) if raw and raw.strip() else None
    except ValueError:
        return None


def _read_quietly(exc):
    try:
        return exc.read() or b''
    except (OSError, HTTPException, AttributeError):
        return b''


class _Pager:
    """Collects every item of a paged Octopus collection.

    Follows Links['Page.Next'] when the server sends paging links, else skip/take with
    TotalResults. Stops with an error when more than max_items arrive or the server repeats
    a page (same next link, or a page of items that were all seen before).
    """

    def __init__(self, client, path, query, action, page_size, max_items):
        self.client = client
        self.action = action
        self.page_size = max(1, min(int(page_size), 1000))
        self.max_items = max_items
        base, sep, inline = client.relative_path(path).partition('?')
        self.path = base
        self.query = dict(parse_qsl(inline)) if sep else {}
        self.query.update(dict((k, v) for k, v in (query or {}).items() if v is not None))
        self.items, self.seen_links, self.seen_ids = [], set(), set()
        self.start = int(self.query.pop('skip', 0) or 0)
        self.query['take'] = self.page_size

    def run(self):
        rel = self.client.build_path(self.path, dict(self.query, skip=self.start))
        while rel:
            page = self.client.get(rel, action=self.action)
            if isinstance(page, list):
                return self._add(page, rel) or self.items
            rel = self._next(page, rel)
        return self.items

    def _next(self, page, rel):
        items = page.get('Items') if isinstance(page, dict) else None
        if not isinstance(items, list):
            raise OctopusApiError('Could not %s: unexpected response from %s: the page has no Items list. Check that url points at the '
                                  'Octopus Server itself.' % (self.action, self.client.api_url(rel)),
                                  status=200, method='GET', path=self.path, action=self.action)
        self._add(items, rel)
        links = page.get('Links') or {}
        if any(str(k).startswith('Page.') for k in links):
            return self._follow(links.get('Page.Next'), rel)
        return self._skip_take(page, items)

    def _follow(self, link, rel):
        if not link:
            return None
        nxt = self.client.relative_path(link)
        base, sep, inline = nxt.partition('?')
        merged = dict(self.query)
        merged.update(dict(parse_qsl(inline)) if sep else {})
        nxt = self.client.build_path(base, merged)
        self.seen_links.add(rel)
        if nxt in self.seen_links:
            raise self._repeated()
        return nxt

    def _skip_take(self, page, items):
        if not items:
            return None
        total = page.get('TotalResults')
        skip = self.start + len(self.items)
        if not isinstance(total, int) or skip >= total:
            return None
        return self.client.build_path(self.path, dict(self.query, skip=skip))

    def _add(self, items, rel):
        ids = [i.get('Id') for i in items if isinstance(i, dict) and i.get('Id')]
        if ids and all(i in self.seen_ids for i in ids):
            raise self._repeated()
        self.seen_ids.update(ids)
        self.items.extend(items)
        if len(self.items) > self.max_items:
            raise OctopusApiError('Could not %s: the server returned more than %d items, the safety cap (last page %s). Narrow the query '
                                  'or raise max_items.' % (self.action, self.max_items, self.client.api_url(rel)),
                                  status=200, method='GET', path=self.path, action=self.action)
        return None

    def _repeated(self):
        return OctopusApiError('Could not %s: the server sent the same page twice, so paging would never end. Check the Octopus '
                               'Server (or a caching proxy in front of it) and run again.' % self.action,
                               status=200, method='GET', path=self.path, action=self.action)


# ---- the one retry rule for writes --------------------------------------------------------

class WriteResult:
    """What write_with_reread() did.

    value: the write's answer, or what the settling re-read returned. written: a write of this call
    landed (answered 2xx, or proven by the re-read after an unknown outcome). attempts: writes sent.
    settled: a re-read, not a write answer, ended it.
    """

    def __init__(self, value, written, attempts, settled=False):
        self.value = value
        self.written = written
        self.attempts = attempts
        self.settled = settled


class _WriteRetry:
    """State of one write_with_reread() call: its deadline, attempts and the statuses it met."""

    def __init__(self, client, action):
        self.client = client
        self.action = action
        self.deadline = client.clock() + client.request_deadline
        self.attempts = 0
        self.statuses = []
        self.stop_reason = None

    def pause(self, headers):
        """Seconds to wait before writing again, or None to stop (attempts used up, or the wait would pass the deadline)."""
        client = self.client
        if self.attempts > client.max_retries:
            self.stop_reason = 'max_retries (%d) is used up' % client.max_retries
            return None
        delay = client.backoff(self.attempts - 1, headers)
        remaining = self.deadline - client.clock()
        if delay >= remaining:
            asked = retry_after_seconds(headers, client.wallclock())
            what = 'Retry-After asks for %ds' % asked if asked is not None and asked >= delay else 'the next wait is %ds' % delay
            self.stop_reason = ('%s, more than the %ds left of request_deadline (%ds)'
                                % (what, max(0, int(remaining)), client.request_deadline))
            return None
        return delay

    def report(self):
        """One warning for the whole write when any attempt had an unknown outcome."""
        if not self.statuses:
            return
        if 429 in self.statuses:
            what = 'rate limited by %s' % self.client.base_url
        else:
            statuses = ', '.join(sorted(set(_status_text(s) for s in self.statuses)))
            what = 'transient errors (%s) from %s' % (statuses, self.client.base_url)
        self.client._warn('Octopus API %s while trying to %s: the outcome of a write was unknown %d times, so the object was read '
                          'again each time before deciding (%d attempts).'
                          % (what, self.action, len(self.statuses), self.attempts))

    def exhausted(self, error):
        msg = ('%s The write was sent %d times; each time its outcome was unknown, the object was read again and the change was '
               'not there. Stopped because %s.' % (str(error).rstrip(), self.attempts, self.stop_reason or 'of an error'))
        return OctopusApiError(msg, status=error.status, method=error.method, path=error.path, action=error.action,
                               body=error.body, excerpt=error.excerpt, retries=self.attempts - 1)


def write_with_reread(client, action, write, reread):
    """THE retry rule for a write (PUT, POST, DELETE) whose outcome may be unknown. Returns a WriteResult.

    ``write()`` sends the write once (``client.write_once``). When it fails with an unknown outcome
    (connection error or timeout, 429, 500, 502, 503, 504) the object is read again with
    ``reread()``, which returns None when the change is not there (write again) or a pair
    (value, ours): the change is there, or no longer needed, and ``ours`` says whether it counts as
    this call's write. Before writing again it waits ``client.backoff()`` (exponential with jitter,
    at least Retry-After), never past what is left of ``request_deadline``, and it sends at most
    ``max_retries`` more writes. Any other error (401, 403, 400, 404, 409...) is raised at once.
    It reports one warning for the whole write, through the client (so it reaches the module result).
    """
    state = _WriteRetry(client, action)
    while True:
        state.attempts += 1
        try:
            value = write()
        except OctopusApiError as exc:
            if exc.status not in UNKNOWN_OUTCOME:
                state.report()
                raise
            error, headers = exc, dict(client.last_response_headers or {})
            state.statuses.append(exc.status)
        else:
            state.report()
            return WriteResult(value, True, state.attempts)
        settled = reread()
        if settled is not None:
            value, ours = settled
            if ours:
                client.mutating_requests_sent += 1
            state.report()
            return WriteResult(value, bool(ours), state.attempts, settled=True)
        delay = state.pause(headers)
        if delay is None:
            state.report()
            raise state.exhausted(error)
        client.sleep(delay)


_BOOKKEEPING_FIELDS = ('Links', 'LastModifiedOn', 'LastModifiedBy')


def _put_settled(client, path, body):
    """A PUT landed when every field it sent (but server bookkeeping) reads back the same."""
    current = client.get(path, allow_404=True)
    if current is None:
        return None
    if all(current.get(k) == v for k, v in (body or {}).items() if k not in _BOOKKEEPING_FIELDS):
        return current, True
    return None


def _delete_settled(client, path):
    """A DELETE landed when the object is gone."""
    return (True, True) if client.get(path, allow_404=True) is None else None


def fail_from_exception(module, err, **result):
    """The single conversion point from an exception to module.fail_json."""
    details = err.to_result() if isinstance(err, OctopusApiError) else {}
    if details:
        result['api_error'] = details
    module.fail_json(msg=str(err), **result)
