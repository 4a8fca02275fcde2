# -*- coding: utf-8 -*-
# Copyright: Contributors to the octopus.ha collection
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

"""TEST-ONLY stand-in for ansible.windows.win_powershell, for the probe scripts of octopus.ha.node_verify.

PowerShell cannot run here, so each probe script shipped in ``roles/node_verify/files/`` is
recognised by its marker line ``# octopus.ha probe: <name>`` and re-implemented in Python with the
same parameters and the same ``$Ansible.Result`` shape:

``tentacle-tls`` (Test-OctopusTentacle.ps1)
    Real TCP + TLS (1.2 or later) connections to each target. The certificate is captured and its
    SHA1 thumbprint compared case-insensitively with the registered one, exactly like the
    per-connection validation callback: on a mismatch the connection is closed before any byte of
    HTTP is sent. Then ``GET /`` and the status line is read.
``http-endpoint`` (Test-OctopusHttpEndpoint.ps1)
    Real HTTP(S) GET with normal certificate validation; any HTTP status counts as reachable.
``shared-folder`` (Test-OctopusSharedFolder.ps1)
    Checks each folder in the fake host's file system (``files``): it must be a directory; it is
    writable unless listed in the knob ``unwritable_paths``. The identity is the knob
    ``powershell_identity``, else who runs the task (``fh.runner``: the WinRM user, or the become
    user); a UNC path is unreachable when that logon has no network credentials (the double hop).
    Nothing is left behind.
``url-acl`` (Set-OctopusUrlAcl.ps1, server_configure)
    Adds the HTTP.sys URL reservations ``Reservations`` (``[{url, user}]``) to ``url_acls`` where
    they are missing or held by another account; ``changed`` only when one was added or replaced.

Any other script fails: the stand-in does not run arbitrary PowerShell.
"""

from __future__ import absolute_import, division, print_function
__metaclass__ = type

import hashlib
import re
import socket
import ssl
import time
from urllib.error import HTTPError, URLError
from urllib.request import HTTPSHandler, ProxyHandler, Request, build_opener

from ansible.module_utils.basic import AnsibleModule
from ansible_collections.ansible.windows.plugins.module_utils import _fake_host as fh

MARKER_RE = re.compile(r'^#\s*octopus\.ha probe:\s*(\S+)\s*$', re.MULTILINE)


# The real module's options (names, types, defaults, choices) from its documentation;
# tests/fake_windows/test_stand_in_specs.py compares them with the dependency collections.
ARGUMENT_SPEC = dict(
    arguments=dict(type='list', elements='str'),
    chdir=dict(type='str'),
    creates=dict(type='str'),
    depth=dict(type='int', default=2),
    error_action=dict(type='str', default='continue', choices=['silently_continue', 'continue', 'stop']),
    executable=dict(type='str'),
    parameters=dict(type='dict'),
    path=dict(type='str'),
    remote_src=dict(type='bool', default=False),
    removes=dict(type='str'),
    script=dict(type='str'),
    sensitive_parameters=dict(type='list', elements='dict'),
)
# The options this stand-in implements; any other option given a non-default value fails the task.
MODELLED = frozenset([
    'arguments', 'chdir', 'creates', 'depth', 'error_action', 'executable', 'parameters', 'path',
    'remote_src', 'removes', 'script',
])


def _thumbprint(value):
    return re.sub(r'[^0-9A-Fa-f]', '', value or '').upper() or None


def _read_status_line(tls):
    line = b''
    while len(line) < 256:
        char = tls.recv(1)
        if not char or char == b'\n':
            break
        line += char
    return line.decode('latin-1').rstrip('\r')


def probe_tentacle(target, timeout):
    """One Tentacle: ok | mismatch | unreachable, with the presented thumbprint."""
    start = time.time()
    result = dict(uri=target.get('uri'), expected_thumbprint=target.get('thumbprint'), status='unreachable',
                  presented_thumbprint=None, http_status_line=None, error=None, elapsed_ms=0)
    host, port, expected = target.get('host'), int(target.get('port') or 0), _thumbprint(target.get('thumbprint'))
    if not host or not port or not expected:
        result['error'] = 'the target has no host, port or registered thumbprint'
        return result
    try:
        sock = socket.create_connection((host, port), timeout=timeout)
    except (OSError, socket.timeout) as exc:
        result['error'] = 'SocketException: %s' % exc
        return result
    try:
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
        context.minimum_version = ssl.TLSVersion.TLSv1_2
        # Chain and host name are not the trust decision for a Tentacle (self-signed): the pin below is.
        context.check_hostname = False
        context.verify_mode = ssl.CERT_NONE
        with context.wrap_socket(sock, server_hostname=host) as tls:
            tls.settimeout(timeout)
            presented = hashlib.sha1(tls.getpeercert(binary_form=True)).hexdigest().upper()
            result['presented_thumbprint'] = presented
            if presented != expected:
                result['status'] = 'mismatch'
                result['error'] = ('the certificate presented has thumbprint %s, but Octopus registered %s'
                                   % (presented, expected))
                return result
            tls.sendall(('GET / HTTP/1.1\r\nHost: %s:%d\r\nUser-Agent: octopus.ha-node-verify\r\n'
                         'Connection: close\r\n\r\n' % (host, port)).encode('ascii'))
            result['http_status_line'] = _read_status_line(tls)
            result['status'] = 'ok'
    except (ssl.SSLError, OSError, socket.timeout) as exc:
        result['error'] = 'AuthenticationException: %s' % exc
    finally:
        sock.close()
        result['elapsed_ms'] = int((time.time() - start) * 1000)
    return result


def probe_http(endpoint, timeout, proxy=''):
    """Proxy: '' = the default (here: none, the fake host has no Internet Options), 'none', or a proxy URL."""
    start = time.time()
    result = dict(uri=endpoint.get('uri'), reachable=False, status_code=None, error=None, elapsed_ms=0, tls_fallback=False)
    handlers = [HTTPSHandler(context=ssl.create_default_context()),
                ProxyHandler({} if proxy in ('', 'none') else {'http': proxy, 'https': proxy})]
    try:
        with build_opener(*handlers).open(Request(endpoint.get('uri'), headers={'User-Agent': 'octopus.ha-node-verify'}),
                                          timeout=timeout) as resp:
            result.update(reachable=True, status_code=resp.getcode())
    except HTTPError as exc:
        result.update(reachable=True, status_code=exc.code)
    except (URLError, OSError, ValueError) as exc:
        result['error'] = 'HttpRequestException: %s' % getattr(exc, 'reason', exc)
    result['elapsed_ms'] = int((time.time() - start) * 1000)
    return result


def probe_folders(data, folders):
    unwritable = set(fh.path_key(p) for p in (data['knobs'].get('unwritable_paths') or []))
    who = fh.runner(data)
    identity = data['knobs'].get('powershell_identity') or who['user']
    results = []
    for name in sorted(folders or {}):
        path = folders[name]
        entry = dict(name=name, path=path, exists=False, writable=False, error=None)
        node = fh.get_file(data, path) if path else None
        if not path:
            entry['error'] = 'the API returned an empty path'
        elif path.startswith('\\\\') and not who['network'] and not data['knobs'].get('powershell_identity'):
            # The double hop: this logon has no credentials to present to the file server.
            entry['error'] = 'the folder does not exist or is not reachable as %s' % identity
        elif not node or not node.get('isdir'):
            entry['error'] = 'the folder does not exist or is not reachable as %s' % identity
        elif fh.path_key(path) in unwritable:
            entry.update(exists=True, error="Access to the path '%s\\.octopus-ha-probe-0.tmp' is denied." % path)
        else:
            entry.update(exists=True, writable=True)
        results.append(entry)
    return dict(identity=identity, folders=results)


def url_acls(data, reservations):
    """Set-OctopusUrlAcl.ps1: ``netsh http add urlacl url=<url> user=<user>`` where it is missing (replacing
    a reservation held by another account)."""
    acls = data.setdefault('url_acls', {})
    added, replaced, kept = [], [], []
    for item in reservations:
        url, user = str(item.get('url')), str(item.get('user'))
        owner = acls.get(url)
        if owner is not None and owner.lower() == user.lower():
            kept.append(url)
            continue
        (replaced if owner is not None else added).append(url)
        acls[url] = user
    return dict(added=added, replaced=replaced, kept=kept), bool(added or replaced)


def handler(module, data):
    p = module.params
    script = p['script'] or ''
    match = MARKER_RE.search(script)
    if not match:
        raise fh.FakeHostError('the win_powershell stand-in only runs the octopus.ha probe scripts '
                               '(no "# octopus.ha probe:" marker in the script)')
    probe = match.group(1)
    params = p['parameters'] or {}
    if probe == 'tentacle-tls':
        timeout = int(params.get('TimeoutSeconds') or 10)
        value = dict(targets=[probe_tentacle(t, timeout) for t in params.get('Targets') or []])
    elif probe == 'http-endpoint':
        timeout = int(params.get('TimeoutSeconds') or 10)
        value = dict(endpoints=[probe_http(e, timeout, params.get('Proxy') or '') for e in params.get('Endpoints') or []])
    elif probe == 'shared-folder':
        value = probe_folders(data, params.get('Folders'))
    elif probe == 'url-acl':
        value, changed = url_acls(data, params.get('Reservations') or [])
        return {'changed': changed, 'result': value, 'host_out': '', 'host_err': '', 'output': [], 'error': [],
                'warning': [], 'verbose': [], 'debug': [], 'information': [], '_log': {'probe': probe}}
    else:
        raise fh.FakeHostError('the win_powershell stand-in does not know the probe %s' % probe)
    # The probe scripts set $Ansible.Changed = $false.
    return {'changed': False, 'result': value, 'host_out': '', 'host_err': '', 'output': [], 'error': [],
            'warning': [], 'verbose': [], 'debug': [], 'information': [], '_log': {'probe': probe}}


def main():
    module = AnsibleModule(
        argument_spec=ARGUMENT_SPEC,
        mutually_exclusive=[['path', 'script']],
        required_one_of=[['path', 'script']],
        supports_check_mode=True,
    )
    fh.run_stand_in(module, 'ansible.windows.win_powershell', handler, ARGUMENT_SPEC, MODELLED)


if __name__ == '__main__':
    main()
