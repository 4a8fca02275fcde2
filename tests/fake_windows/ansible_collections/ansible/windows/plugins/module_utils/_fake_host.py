# -*- coding: utf-8 -*-
# Copyright: Contributors to the octopus.ha collection
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

"""TEST-ONLY state library of the simulated Windows host (see tests/fake_windows/README.md).

One JSON document per inventory host, ``$OCTOHA_FAKE_WINDOWS_DIR/hosts/<host>.json``, guarded by
an exclusive ``fcntl.flock`` on ``<host>.json.lock``.  Every stand-in module loads the document,
changes a deep copy, and writes it back (unless in check mode).  Cluster-wide facts that several
hosts share (the Octopus databases) live in ``$OCTOHA_FAKE_WINDOWS_DIR/cluster.json``.

The host a stand-in acts on is ``$OCTOHA_FAKE_HOST``; the fake collections' action plugins set it
from the task's ``octoha_fake_host`` variable or ``inventory_hostname`` before the module runs.
"""

from __future__ import absolute_import, division, print_function
__metaclass__ = type

import contextlib
import copy
import datetime
import fcntl
import hashlib
import json
import os
import re

STATE_VERSION = 1
ENV_DIR = 'OCTOHA_FAKE_WINDOWS_DIR'
ENV_HOST = 'OCTOHA_FAKE_HOST'
ENV_DOWNLOADS = 'OCTOHA_FAKE_DOWNLOADS_DIR'
ENV_SIM_URL = 'OCTOHA_SIM_URL'
ENV_SIM_API_KEY = 'OCTOHA_SIM_API_KEY'
ENV_RUNAS = 'OCTOHA_FAKE_RUNAS'
ANONYMOUS = 'NT AUTHORITY\\ANONYMOUS LOGON'
SYSTEM = 'NT AUTHORITY\\SYSTEM'
LOCAL_SYSTEM_NAMES = ('', 'localsystem', 'local system', 'system', 'nt authority\\system', '.\\localsystem')

OCTOPUS_EXE = 'C:\\Program Files\\Octopus Deploy\\Octopus\\Octopus.Server.exe'
OCTOPUS_REG_KEY = 'HKLM:\\SOFTWARE\\Octopus\\OctopusServer'
MASK = '********'

_HASHES = ('md5', 'sha1', 'sha256', 'sha384', 'sha512')


class FakeHostError(Exception):
    """A stand-in failure: ``msg`` plus extra result keys (rc, stdout ...)."""

    def __init__(self, *args, **result):
        msg = args[0] if args else result.get('msg', 'failed')
        super(FakeHostError, self).__init__(msg)
        self.msg = msg
        result.pop('msg', None)  # a partial result may carry its own msg: the error message wins
        self.result = result


def now():
    return datetime.datetime.now(datetime.timezone.utc).strftime('%Y-%m-%dT%H:%M:%S.%fZ')


def state_root(root=None):
    root = root or os.environ.get(ENV_DIR)
    if not root:
        raise FakeHostError('%s is not set: the simulated Windows host needs a state directory' % ENV_DIR)
    return root


def host_name(host=None):
    host = host or os.environ.get(ENV_HOST)
    if not host:
        raise FakeHostError('%s is not set: run the stand-in through its action plugin (it sets the host from '
                            'inventory_hostname) or export %s' % (ENV_HOST, ENV_HOST))
    if not re.match(r'^[A-Za-z0-9_.@-]+$', host):
        raise FakeHostError('invalid fake host name %r' % host)
    return host


def new_state(host):
    return {
        'version': STATE_VERSION,
        'host': host,
        'products': {},       # product_code -> {name, version, product_code, install_location, source}
        'files': {},          # path key -> {path, isdir, content, sha256, size, version}
        'registry': {},       # key (lower) -> {path, values: {name: value}}
        'downloads': [],      # [{url, dest, sha256, size, time}]
        'services': {},       # name (lower) -> {name, display_name, state, start_mode, username, path, octopus_instance}
        'firewall_rules': {},  # name -> options
        'chocolatey': {'packages': {}},  # name (lower) -> {name, version, pinned, pins: [versions]}
        'fetches': [],        # every transfer win_get_url made: [{url, dest, replaced, time}]
        'url_acls': {},       # HTTP.sys URL reservations: normalised URL -> account
        'octopus': {'instances': {}},   # instance name -> {InstanceName, ConfigurationFilePath, config: {dotted: value}}
        'knobs': {},          # test knobs, see README.md
        'calls': [],          # [{seq, time, module, params, check_mode, changed, failed, msg}]
        'reboot_required': False,
    }


def _paths(host=None, root=None):
    host = host_name(host)
    hosts_dir = os.path.join(state_root(root), 'hosts')
    if not os.path.isdir(hosts_dir):
        os.makedirs(hosts_dir, exist_ok=True)
    path = os.path.join(hosts_dir, host + '.json')
    return host, path, path + '.lock'


@contextlib.contextmanager
def _locked(lock_path):
    with open(lock_path, 'a') as lock:
        fcntl.flock(lock.fileno(), fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(lock.fileno(), fcntl.LOCK_UN)


def _read(path, host):
    if not os.path.exists(path):
        return new_state(host)
    with open(path) as handle:
        data = json.load(handle)
    base = new_state(host)
    base.update(data)
    return base


def _write(path, data):
    tmp = path + '.tmp'
    with open(tmp, 'w') as handle:
        json.dump(data, handle, indent=1, sort_keys=True)
    os.replace(tmp, path)


def load_state(host=None, root=None):
    """Read-only snapshot of a host (for tests and assertions)."""
    host, path, lock = _paths(host, root)
    with _locked(lock):
        return _read(path, host)


@contextlib.contextmanager
def transaction(host=None, root=None):
    """Lock the host, yield its state dict, write it back when the block ends without an exception."""
    host, path, lock = _paths(host, root)
    with _locked(lock):
        data = _read(path, host)
        yield data
        _write(path, data)


def update_state(func, host=None, root=None):
    """Apply ``func(state)`` under the lock (test setup helper); returns func's result."""
    with transaction(host, root) as data:
        return func(data)


def set_knob(name, value, host=None, root=None):
    def _set(data):
        data['knobs'][name] = value
    update_state(_set, host, root)


# ---------------------------------------------------------------- cluster-wide (shared DB)

@contextlib.contextmanager
def cluster_transaction(root=None):
    path = os.path.join(state_root(root), 'cluster.json')
    with _locked(path + '.lock'):
        data = {'databases': {}}
        if os.path.exists(path):
            with open(path) as handle:
                data.update(json.load(handle))
        yield data
        _write(path, data)


def database_key(connection_string):
    """Identify a database by server + catalog of a SQL connection string (case-insensitive)."""
    parts = {}
    for item in (connection_string or '').split(';'):
        if '=' in item:
            key, value = item.split('=', 1)
            parts[key.strip().lower()] = value.strip()
    server = parts.get('data source') or parts.get('server') or parts.get('address') or ''
    catalog = parts.get('initial catalog') or parts.get('database') or ''
    return ('%s/%s' % (server, catalog)).lower()


def add_cluster_database(connection_string, master_key, root=None, logins=None):
    """Test setup: an existing Octopus database that new nodes join with ``master_key``.

    ``logins``: the SQL Server logins that may connect - Windows accounts (``CORP\\svc``, computer
    accounts ``CORP\\NODE$``) and SQL logins (``sql:<user>``). None: any login except anonymous.
    """
    with cluster_transaction(root) as data:
        data['databases'][database_key(connection_string)] = {'master_key': master_key, 'logins': logins}


def connection_parts(connection_string):
    """Lower-cased key -> value of a connection string (test-only and simple: no quoted ';')."""
    parts = {}
    for item in (connection_string or '').split(';'):
        if '=' in item:
            key, value = item.split('=', 1)
            parts[' '.join(key.split()).lower()] = value.strip().strip('\'"')
    return parts


def integrated_security(connection_string):
    parts = connection_parts(connection_string)
    value = parts.get('integrated security', parts.get('trusted_connection', 'false')).lower()
    return value in ('true', 'yes', 'sspi')


def sql_connect(connection_string, network_identity, root=None):
    """Connect to the cluster database as SQL Server would see it; returns the login or raises FakeHostError.

    ``network_identity`` is the Windows account a second hop authenticates as (None: the session has
    no credentials to pass on, so SQL Server sees ANONYMOUS LOGON).
    """
    parts = connection_parts(connection_string)
    if integrated_security(connection_string):
        login = network_identity or ANONYMOUS
    else:
        login = 'sql:%s' % (parts.get('user id') or parts.get('uid') or parts.get('user') or '')
    with cluster_transaction(root) as data:
        db = data['databases'].get(database_key(connection_string))
    shown = login[4:] if login.startswith('sql:') else login
    if db is None:
        raise FakeHostError("Cannot open database requested by the login. The login failed. Login failed for user '%s'." % shown)
    allowed = db.get('logins')
    if login == ANONYMOUS or (allowed is not None and login.lower() not in [a.lower() for a in allowed]):
        raise FakeHostError("Login failed for user '%s'." % shown)
    return login


# ---------------------------------------------------------------- files and registry

def path_key(path):
    path = (path or '').replace('/', '\\')
    path = re.sub(r'(?<!^)\\+', '\\\\', path)
    if len(path) > 3 and path.endswith('\\'):
        path = path.rstrip('\\')
    return path.lower()


def parent_path(path):
    key = (path or '').replace('/', '\\').rstrip('\\')
    idx = key.rfind('\\')
    return key[:idx] if idx > 2 else key[:3]


def is_absolute(path):
    return bool(re.match(r'^([A-Za-z]:\\|\\\\)', (path or '').replace('/', '\\')))


def get_file(data, path):
    return data['files'].get(path_key(path))


def ensure_dir(data, path):
    """Create ``path`` and its parents as directories; returns True when something was created."""
    path = path.replace('/', '\\').rstrip('\\')
    created = False
    chain = []
    cur = path
    while cur and cur not in chain:
        chain.append(cur)
        nxt = parent_path(cur)
        if nxt == cur or len(nxt) < 3:
            break
        cur = nxt
    for item in reversed(chain):
        entry = data['files'].get(path_key(item))
        if entry is None:
            data['files'][path_key(item)] = {'path': item, 'isdir': True, 'created': now()}
            created = True
        elif not entry.get('isdir'):
            raise FakeHostError('Cannot create directory %s: a file with that name exists' % item)
    return created


def put_file(data, path, content, version=None, product_version=None):
    """Write a file (text content); parents are created like a real installer would."""
    ensure_dir(data, parent_path(path))
    raw = content.encode('utf-8') if not isinstance(content, bytes) else content
    entry = {
        'path': path.replace('/', '\\'),
        'isdir': False,
        'content': raw.decode('utf-8', 'replace'),
        'sha256': hashlib.sha256(raw).hexdigest(),
        'size': len(raw),
        'modified': now(),
    }
    if version:
        entry['version'] = version
        entry['product_version'] = product_version or version
    data['files'][path_key(path)] = entry
    return entry


def remove_path(data, path):
    key = path_key(path)
    removed = False
    for name in list(data['files']):
        if name == key or name.startswith(key + '\\'):
            del data['files'][name]
            removed = True
    return removed


def file_checksum(entry, algorithm='sha1'):
    if entry is None or entry.get('isdir'):
        return None
    algorithm = (algorithm or 'sha1').lower()
    if algorithm not in _HASHES:
        raise FakeHostError('unsupported checksum algorithm %s' % algorithm)
    return hashlib.new(algorithm, entry.get('content', '').encode('utf-8')).hexdigest()


def get_registry(data, key):
    return data['registry'].get(key.lower().replace('hklm:', 'hklm:'))


def set_registry(data, key, values):
    data['registry'][key.lower()] = {'path': key, 'values': dict(values)}


def delete_registry(data, key):
    return data['registry'].pop(key.lower(), None) is not None


# ---------------------------------------------------------------- fake MSI packages

def fake_msi_document(version, product_code=None, name='Octopus Deploy Server', install_location=None,
                      exe_version=None):
    """The content of a fake Octopus Server MSI: a JSON description the win_package stand-in installs."""
    install_location = install_location or 'C:\\Program Files\\Octopus Deploy\\Octopus'
    product_code = product_code or '{%s}' % hashlib.md5(('octopus-' + version).encode()).hexdigest().upper()
    file_version = exe_version or (version + '.0' if version.count('.') == 2 else version)
    return json.dumps({
        'FakeMsi': 1,
        'ProductName': name,
        'ProductVersion': version,
        'ProductCode': product_code,
        'UpgradeCode': '{OCTOPUS-SERVER-UPGRADE-CODE}',
        'InstallLocation': install_location,
        'Files': {install_location + '\\Octopus.Server.exe': file_version},
        'Registry': {OCTOPUS_REG_KEY: {'InstallLocation': install_location + '\\'}},
    }, sort_keys=True)


def write_fake_msi(local_path, version, **kwargs):
    """Test setup: write a fake MSI (on the controller) that a download mapping can serve."""
    with open(local_path, 'w') as handle:
        handle.write(fake_msi_document(version, **kwargs))
    return local_path


def installed_octopus(data):
    """The installed Octopus Server product (dict) or None."""
    for product in data['products'].values():
        if product.get('upgrade_code') == '{OCTOPUS-SERVER-UPGRADE-CODE}' or product.get('name', '').startswith('Octopus Deploy Server'):
            return product
    return None


def install_msi_document(data, doc, source=None):
    """Install (or upgrade in place) the product described by a fake MSI; returns the product dict."""
    upgrade = doc.get('UpgradeCode')
    for code in list(data['products']):
        if upgrade and data['products'][code].get('upgrade_code') == upgrade:
            del data['products'][code]
    product = {
        'name': doc['ProductName'],
        'version': doc['ProductVersion'],
        'product_code': doc['ProductCode'],
        'upgrade_code': upgrade,
        'install_location': doc.get('InstallLocation'),
        'source': source,
        'installed': now(),
    }
    data['products'][doc['ProductCode']] = product
    for path, version in (doc.get('Files') or {}).items():
        put_file(data, path, 'fake binary %s %s' % (doc['ProductName'], version), version=version,
                 product_version=doc['ProductVersion'])
    for key, values in (doc.get('Registry') or {}).items():
        set_registry(data, key, values)
    return product


def uninstall_product(data, product_code):
    product = data['products'].pop(product_code, None)
    if product and product.get('install_location'):
        remove_path(data, product['install_location'])
    return product


# ---------------------------------------------------------------- services

def service_key(name):
    return (name or '').strip().lower()


def get_service(data, name):
    return data['services'].get(service_key(name))


def octopus_service_name(instance):
    return 'OctopusDeploy' if instance == 'OctopusServer' else 'OctopusDeploy: %s' % instance


# ---------------------------------------------------------------- who runs a command

def domain(data):
    return data['knobs'].get('domain') or 'CORP'


def computer_account(data):
    """How SYSTEM (and a LocalSystem service) appears on the network: the computer account."""
    return '%s\\%s$' % (domain(data), data['host'].upper())


def is_local_system(name):
    return (name or '').strip().lower() in LOCAL_SYSTEM_NAMES


def service_identity(data, username):
    """The network identity of a service running as ``username``."""
    return computer_account(data) if is_local_system(username) else username


def _has_logon_session(data, user):
    return any(svc.get('state') == 'running' and (svc.get('username') or '').lower() == user.lower()
               for svc in data['services'].values())


def runner(data):
    """Who runs the current stand-in: ``{how, user, network}`` (network: the identity a second hop sees, or None).

    From ``$OCTOHA_FAKE_RUNAS`` (set by the action plugin). Raises FakeHostError like runas does when
    the logon is refused: a logon type in the knob ``denied_logon_types`` (``{account: [types]}``) or
    a password that differs from the knob ``account_passwords`` (``{account: password}``).
    """
    raw = os.environ.get(ENV_RUNAS)
    info = json.loads(raw) if raw else {'how': 'winrm', 'user': '', 'delegation': False}
    if info.get('how') != 'become':
        user = info.get('user') or '%s\\Administrator' % data['host'].upper()
        return {'how': 'winrm', 'user': user, 'network': user if info.get('delegation') else None}
    user = info.get('user') or ''
    if user.upper() in ('SYSTEM', SYSTEM):
        return {'how': 'become', 'user': SYSTEM, 'network': computer_account(data)}
    logon_type = info.get('logon_type') or 'interactive'
    denied = dict((k.lower(), v) for k, v in (data['knobs'].get('denied_logon_types') or {}).items())
    if logon_type in (denied.get(user.lower()) or []):
        raise FakeHostError('Failed to become user %s: LogonUser failed (Logon failure: the user has not been granted the '
                            'requested logon type at this computer, Win32ErrorCode 1385)' % user)
    if info.get('password'):
        known = dict((k.lower(), v) for k, v in (data['knobs'].get('account_passwords') or {}).items())
        if user.lower() in known and known[user.lower()] != info['password']:
            raise FakeHostError('Failed to become user %s: LogonUser failed (The user name or password is incorrect, '
                                'Win32ErrorCode 1326)' % user)
        return {'how': 'become', 'user': user, 'network': None if logon_type == 'network' else user}
    # No password: runas duplicates a logon session of the account (its running service), else S4U,
    # whose token has no credentials for the network.
    return {'how': 'become', 'user': user, 'network': user if _has_logon_session(data, user) else None}


# ---------------------------------------------------------------- call log and redaction

def redact(value, secrets):
    """Replace every no_log value inside ``value`` (recursively) with ********."""
    secrets = [s for s in (secrets or ()) if s]
    if isinstance(value, dict):
        return dict((k, redact(v, secrets)) for k, v in value.items())
    if isinstance(value, (list, tuple)):
        return [redact(v, secrets) for v in value]
    if isinstance(value, str):
        for secret in sorted(secrets, key=len, reverse=True):
            value = value.replace(secret, MASK)
    return value


def record_call(data, module_name, params, check_mode=False, changed=False, failed=False, msg=None, extra=None):
    entry = {
        'seq': len(data['calls']) + 1,
        'time': now(),
        'module': module_name,
        'params': params,
        'check_mode': bool(check_mode),
        'changed': bool(changed),
        'failed': bool(failed),
    }
    if msg:
        entry['msg'] = msg
    if extra:
        entry.update(extra)
    data['calls'].append(entry)
    return entry


def calls(data, module_name=None):
    return [c for c in data['calls'] if module_name is None or c['module'] == module_name]


def unmodelled(module, spec, modelled):
    """Options of the real module that the stand-in does not implement but the task set (not to their default)."""
    out = []
    for name, option in sorted((spec or {}).items()):
        if name in (modelled or ()) or name.startswith('_'):
            continue
        value = module.params.get(name)
        if value is not None and value != option.get('default'):
            out.append(name)
    return out


def run_stand_in(module, module_name, handler, spec=None, modelled=None):
    """Run ``handler(module, state) -> result dict`` against the host and exit the module.

    ``spec``/``modelled``: the real module's options and those the stand-in implements; a task that
    sets any other option fails (the stand-in would silently ignore it).

    The handler changes ``state`` freely; in check mode those changes are thrown away (only the call
    log is kept).  ``FakeHostError`` becomes ``fail_json``.  Parameters are logged with no_log values
    masked; when the whole task is ``no_log`` the log keeps only the parameter names.
    """
    secrets = list(getattr(module, 'no_log_values', ()) or ())
    ignored = unmodelled(module, spec, modelled) if spec is not None else []
    if ignored:
        module.fail_json(msg='The %s stand-in does not model the option(s) %s; extend it (tests/fake_windows/README.md) '
                             'before a role uses them.' % (module_name, ', '.join(ignored)))
    params = dict((k, v) for k, v in module.params.items() if v is not None)
    if getattr(module, 'no_log', False):
        logged = {'_no_log': True, 'keys': sorted(params)}
    else:
        logged = redact(params, secrets)
    try:
        with transaction() as data:
            work = copy.deepcopy(data)
            try:
                who = runner(work)
                logged = dict(logged, _runner={'how': who['how'], 'user': who['user']}) if who['how'] == 'become' else logged
                result = handler(module, work) or {}
            except FakeHostError as exc:
                record_call(data, module_name, logged, module.check_mode, failed=True, msg=redact(exc.msg, secrets))
                raise
            if not module.check_mode:
                calls_log = data['calls']
                data.clear()
                data.update(work)
                data['calls'] = calls_log
            record_call(data, module_name, logged, module.check_mode, changed=result.get('changed', False),
                        extra=result.pop('_log', None))
    except FakeHostError as exc:
        module.fail_json(msg=exc.msg, **exc.result)
    module.exit_json(**result)


# ---------------------------------------------------------------- simulator access

def sim_url():
    return (os.environ.get(ENV_SIM_URL) or '').rstrip('/')


def sim_request(method, path, body=None, api_key=None, timeout=10):
    """Call the Octopus simulator (control API ``/_sim/...`` or ``/api/...``); returns parsed JSON or None.

    Raises FakeHostError when OCTOHA_SIM_URL is unset or the call fails.
    """
    from ansible.module_utils.urls import open_url  # imported late: tests may use the helpers without it

    base = sim_url()
    if not base:
        raise FakeHostError('%s is not set: the fake Octopus service cannot reach the cluster simulator' % ENV_SIM_URL)
    headers = {'Accept': 'application/json'}
    data = None
    if body is not None:
        data = json.dumps(body)
        headers['Content-Type'] = 'application/json'
    if api_key:
        headers['X-Octopus-ApiKey'] = api_key
    try:
        resp = open_url(base + path, method=method, data=data, headers=headers, timeout=timeout,
                        validate_certs=False)
        text = resp.read()
    except Exception as exc:  # pylint: disable=broad-exception-caught
        raise FakeHostError('Octopus simulator call %s %s failed: %s' % (method, path, exc))
    if not text:
        return None
    try:
        return json.loads(text)
    except ValueError:
        return None


def read_msi(data, msi_path):
    """The fake MSI document at ``msi_path`` on the host; raises FakeHostError(rc=1619) when unusable."""
    entry = get_file(data, msi_path)
    if entry is None or entry.get('isdir'):
        raise FakeHostError('This installation package could not be opened: %s' % msi_path, rc=1619)
    try:
        doc = json.loads(entry.get('content', ''))
        if doc.get('FakeMsi') != 1:
            raise ValueError('not a fake MSI')
    except ValueError:
        raise FakeHostError('This installation package could not be opened (not a valid MSI): %s' % msi_path, rc=1620)
    return doc


def msi_properties(arguments):
    """``PROP=value`` pairs of msiexec arguments (a string or a list), upper-case names."""
    if isinstance(arguments, (list, tuple)):
        arguments = ' '.join(str(a) for a in arguments)
    found = {}
    for match in re.finditer(r'([A-Za-z_][A-Za-z0-9_.]*)=("[^"]*"|\S+)', arguments or ''):
        found[match.group(1).upper()] = match.group(2).strip('"')
    return found


def relocate_msi_document(doc, location):
    """The MSI document installed into ``location`` (the INSTALLLOCATION property)."""
    location = location.rstrip('\\')
    old = doc.get('InstallLocation') or ''
    doc = dict(doc, InstallLocation=location)
    doc['Files'] = dict((location + path[len(old):] if old and path.lower().startswith(old.lower()) else path, version)
                        for path, version in (doc.get('Files') or {}).items())
    doc['Registry'] = dict((key, dict(values, InstallLocation=location + '\\') if 'InstallLocation' in values else values)
                           for key, values in (doc.get('Registry') or {}).items())
    return doc


def msi_install(data, msi_path, log_path=None, arguments=None):
    """Install a fake MSI like ``msiexec /i <msi> /quiet /norestart /l*v <log>``; returns (rc, message).

    rc: knob ``msi_exit_code`` (0 default; 3010 installs and asks for a reboot; other codes install
    nothing), 1638 when a newer version of the product is installed. ``INSTALLLOCATION=<folder>`` in
    ``arguments`` installs into that folder (and the registry's InstallLocation names it).
    """
    doc = read_msi(data, msi_path)
    location = msi_properties(arguments).get('INSTALLLOCATION')
    if location:
        doc = relocate_msi_document(doc, location)
    rc = int(data['knobs'].get('msi_exit_code', 0) or 0)
    for product in data['products'].values():
        if product.get('upgrade_code') == doc.get('UpgradeCode') and _vtuple(product['version']) > _vtuple(doc['ProductVersion']):
            rc = 1638
    lines = ['=== Verbose logging started: fake msiexec ===', 'Product: %s -- version %s' % (doc['ProductName'], doc['ProductVersion'])]
    if rc in (0, 3010):
        install_msi_document(data, doc, source=msi_path)
        lines.append('Installation completed successfully.' if rc == 0 else 'Installation completed; a restart is required.')
        if rc == 3010:
            data['reboot_required'] = True
    else:
        lines.append('Installation failed with error code %d.' % rc)
    lines.append('=== Logging stopped ===')
    if log_path:
        put_file(data, log_path, '\n'.join(lines) + '\n')
    return rc, lines[-2]


def _vtuple(version):
    out = []
    for part in str(version).split('-', maxsplit=1)[0].split('.'):
        out.append(int(part) if part.isdigit() else 0)
    while len(out) > 3 and out[-1] == 0:
        out.pop()
    return tuple(out)
