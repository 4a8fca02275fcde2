# -*- coding: utf-8 -*-
# Copyright: Contributors to the octopus.ha collection
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

"""PRIVATE to octopus.ha: the configuration planner of the server_configure role.

This module_util is PRIVATE to the octopus.ha collection, not a public API.

Pure functions, no I/O. The filters ``octopus_server_plan``, ``octopus_server_argv``,
``octopus_server_preflight`` and ``octopus_node_urls`` are thin wrappers around them.

Secrets never appear in a plan: an argument that carries one is the placeholder
``<secret:NAME>`` (``connection_string``, ``master_key``, ``service_password``) and is replaced
only inside the ``no_log`` task that runs the command (``octopus_server_argv``).

The plan is built one command at a time: ``create-instance``, ``database``, ``configure``,
``node`` and ``service`` each have a function that compares the current state with the
requested one and returns the commands (and whether a restart is needed).
"""

from __future__ import absolute_import, division, print_function
__metaclass__ = type

import re

from ansible_collections.octopus.ha.plugins.module_utils._octopus_server_config import (
    DEFAULT_EXE_PATH, DEFAULT_INSTANCE, PlanError, config_get, parse_cli_json, service_name, sql_user, to_bool, to_int)
from ansible_collections.octopus.ha.plugins.module_utils._octopus_sql import (
    ConnectionStringError, uses_integrated_security)

SECRET_NAMES = ('connection_string', 'master_key', 'service_password')
SECRET_RE = re.compile(r'^<secret:([a-z_]+)>$')
MASK = '********'
LOCAL_SYSTEM = ('', 'localsystem', 'local system', 'nt authority\\system', '.\\localsystem', 'system')
LOCAL_HOSTS = ('localhost', '127.0.0.1', '[::1]', '::1')
WILDCARD_HOSTS = ('+', '*')
# Octopus.Server.exe commands that read or write the cluster database (run as the database identity).
DATABASE_COMMANDS = ('database', 'show-configuration', 'node')
# The runas logon type of commands run as the service account: it keeps the credentials for the
# second hop (SQL Server, file shares) and needs only "Access this computer from the network",
# which hardened service accounts keep while interactive logons are denied to them.
BECOME_LOGON_TYPE = 'network_cleartext'
DEFAULT_CONFIG = {
    'instance': DEFAULT_INSTANCE,
    'config_path': 'C:\\Octopus\\OctopusServer.config',
    'home': 'C:\\Octopus',
    'node_name': None,
    'connection_string': None,
    'master_key': None,
    'web_listen_prefixes': ['http://+:80/'],
    'web_force_ssl': False,
    'comms_port': 10943,
    'service_username': '',
    'service_password': '',
    'task_cap': None,
    'shared_storage_path': '',
    'local_url': '',
}


def secret(name):
    return '<secret:%s>' % name


# ------------------------------------------------------------------------------------- listen prefixes

def normalize_prefix(prefix):
    """``http://Host/`` -> ``http://host:80/`` (scheme and host lower-cased, port and trailing / added)."""
    text = str(prefix).strip()
    match = re.match(r'^(https?)://([^/:]+|\[[^\]]+\])(?::(\d+))?(/.*)?$', text, re.I)
    if not match:
        raise PlanError('web listen prefix %r is not an http:// or https:// URL prefix' % text)
    scheme, host, port, path = match.groups()
    scheme = scheme.lower()
    port = port or ('443' if scheme == 'https' else '80')
    path = path or '/'
    if not path.endswith('/'):
        path += '/'
    return '%s://%s:%s%s' % (scheme, host.lower(), port, path)


def split_prefixes(value):
    """A list, or one string separated by ``,`` or ``;`` (Octopus accepts both), -> a list of prefixes."""
    if value is None:
        return []
    if isinstance(value, str):
        value = re.split(r'[;,]', value)
    out = []
    for item in value:
        out.extend(p.strip() for p in re.split(r'[;,]', str(item)) if p.strip())
    return out


def _prefix_parts(prefix):
    """(scheme, host, port, path) of a normalised prefix."""
    scheme, rest = normalize_prefix(prefix).split('://', 1)
    hostport, path = rest.split('/', 1)
    host, port = hostport.rsplit(':', 1)
    return scheme, host, int(port), '/' + path


def prefix_ports(prefixes):
    ports = []
    for prefix in prefixes:
        port = _prefix_parts(prefix)[2]
        if port not in ports:
            ports.append(port)
    return ports


def _is_wildcard(host):
    return host in WILDCARD_HOSTS or host.startswith(WILDCARD_HOSTS)


def _url(scheme, host, port, path):
    return ('%s://%s:%d%s' % (scheme, host, port, path)).rstrip('/')


def local_url_from_prefix(prefix):
    """The URL that reaches ``prefix`` from the node itself (a ``+``/``*`` host becomes ``localhost``)."""
    scheme, host, port, path = _prefix_parts(prefix)
    return _url(scheme, 'localhost' if _is_wildcard(host) else host, port, path)


def node_urls(prefixes, node_address=None, local_url=''):
    """Where the node's web endpoint is reached, derived from its listen prefixes.

    ``local_url``: from the node itself (an override wins, else the first prefix, wildcard ->
    localhost). ``external_url``: from other hosts (the load balancer, the controller): the first
    prefix that is not bound to localhost, its wildcard host replaced by ``node_address``; None when
    every prefix is bound to localhost (nothing outside the node can reach it).
    """
    prefixes = split_prefixes(prefixes)
    if not prefixes:
        raise PlanError('web_listen_prefixes is empty: the node would serve nothing')
    external = None
    for prefix in prefixes:
        scheme, host, port, path = _prefix_parts(prefix)
        if host in LOCAL_HOSTS:
            continue
        if _is_wildcard(host):
            if not node_address:
                continue
            host = str(node_address).strip().lower()
        external = _url(scheme, host, port, path)
        break
    return {
        'local_url': (str(local_url).strip() or local_url_from_prefix(prefixes[0])).rstrip('/'),
        'external_url': external,
        'ports': prefix_ports(prefixes),
    }


def url_reservations(prefixes, service_username):
    """HTTP.sys URL reservations (``netsh http add urlacl``) a non-admin service account needs.

    LocalSystem needs none. Each entry: ``{url, user}``; ``url`` is the normalised prefix, with the
    wildcard hosts ``+``/``*`` kept (they are what HTTP.sys registers).
    """
    user = norm_account(service_username)
    if user == 'LocalSystem':
        return []
    out = []
    for prefix in split_prefixes(prefixes):
        url = normalize_prefix(prefix)
        if url not in [r['url'] for r in out]:
            out.append({'url': url, 'user': user})
    return out


# ------------------------------------------------------------------------------------- accounts

def is_unc(path):
    return bool(re.match(r'^\\\\[^\\/]+[\\/][^\\/]+', str(path or '').replace('/', '\\')))


def is_local_abs(path):
    return bool(re.match(r'^[A-Za-z]:\\', str(path or '').replace('/', '\\')))


def norm_account(name):
    """'' / 'NT AUTHORITY\\SYSTEM' / 'LocalSystem' ... -> 'LocalSystem'; other names trimmed."""
    name = (name or '').strip()
    return 'LocalSystem' if name.lower() in LOCAL_SYSTEM else name


def account_kind(name):
    """'local_system', 'gmsa' (DOMAIN\\name$, no password) or 'account' (needs a password)."""
    user = norm_account(name)
    if user == 'LocalSystem':
        return 'local_system'
    return 'gmsa' if user.endswith('$') else 'account'


def _validate_account(req, errors, warnings):
    user = norm_account(req.get('service_username'))
    password = req.get('service_password')
    if user == 'LocalSystem':
        if password:
            warnings.append('service_password is ignored: the service runs as LocalSystem')
        return
    if '\\' not in user and '@' not in user:
        errors.append('service_username %r must be a domain account (DOMAIN\\name or name@domain) or a gMSA (DOMAIN\\name$)'
                      % user)
    sql = sql_user(req.get('connection_string'))
    bare = user.split('\\')[-1].split('@')[0].rstrip('$')
    if sql and (sql.lower() == user.lower() or sql.lower() == bare.lower()):
        errors.append('service_username is the SQL login of the connection string. The Windows service account must be '
                      'LocalSystem, a domain account or a gMSA, never the SQL user.')
    if user.endswith('$') and password:
        warnings.append('service_password is ignored for the gMSA %s (Windows manages its password)' % user)
    elif not user.endswith('$') and not password:
        errors.append('service_password is required for the domain account %s (only gMSA accounts ending in $ have none)'
                      % user)


def _validate(req, errors, warnings):
    for key in ('instance', 'node_name'):
        if not req.get(key) or not re.match(r'^[A-Za-z0-9][A-Za-z0-9 ._@-]{0,126}$', str(req[key])):
            errors.append('%s %r is empty or has characters other than letters, digits, space . _ @ -' % (key, req.get(key)))
    for key in ('config_path', 'home'):
        if not is_local_abs(req.get(key)):
            errors.append('%s must be an absolute local path (C:\\...), got %r' % (key, req.get(key)))
    prefixes = split_prefixes(req.get('web_listen_prefixes'))
    if not prefixes:
        errors.append('web_listen_prefixes is empty: the node would serve nothing')
    for prefix in prefixes:
        try:
            normalize_prefix(prefix)
        except PlanError as exc:
            errors.append(str(exc))
    port = req.get('comms_port')
    if not isinstance(port, int) or not 0 < port < 65536:
        errors.append('comms_port must be a TCP port number, got %r' % (port,))
    cap = req.get('task_cap')
    if cap is not None and (not isinstance(cap, int) or cap < 0):
        errors.append('task_cap must be null or a number >= 0, got %r' % (cap,))
    shared = req.get('shared_storage_path')
    if shared and not is_unc(shared):
        errors.append('shared_storage_path must be a UNC path (\\\\server\\share\\...): mapped drive letters belong to a logon '
                      'session and the Octopus service does not see them')
    _validate_account(req, errors, warnings)
    if prefixes and not errors:
        hosts = [_prefix_parts(p)[1] for p in prefixes]
        if all(h in LOCAL_HOSTS for h in hosts):
            warnings.append('Every web listen prefix is bound to localhost (%s): load balancer health checks and users reaching the '
                            'node by name or IP will not match. Add http://<node name>:<port>/ or a wildcard prefix.'
                            % ', '.join(prefixes))


# ------------------------------------------------------------------------------------- SQL identity (preflight)

def database_identity(connection_string, service_username, service_password='', become_user=None,
                      become_password=None, logon_type=None):
    """Who the commands that touch the database run as (``become``), and who SQL Server sees.

    With Integrated Security a command run through WinRM has no credentials for SQL Server (the
    double hop), so ``database``, ``show-configuration`` and ``node`` run with ``become`` (runas) as
    the service account: ``SYSTEM`` for a LocalSystem service (SQL sees the computer account),
    the domain account with its password, or the gMSA without one. With a SQL login no become is
    needed. ``become_user`` overrides the choice ('' = no become, for Kerberos delegation or
    CredSSP set up on the connection).
    """
    try:
        integrated = uses_integrated_security(connection_string)
    except ConnectionStringError:
        integrated = False
    kind = account_kind(service_username)
    if become_user is None:
        if not integrated:
            become_user = ''
        elif kind == 'local_system':
            become_user = 'SYSTEM'
        else:
            become_user = norm_account(service_username)
    become_user = str(become_user or '').strip()
    source = None
    if become_password:
        source = 'db_become_password'
    elif become_user and service_password and become_user.lower() == norm_account(service_username).lower():
        source = 'service_password'
    needs_password = bool(become_user) and become_user.upper() != 'SYSTEM' and not become_user.endswith('$')
    return {
        'integrated_security': integrated,
        'service_account_kind': kind,
        'become': bool(become_user),
        'become_user': become_user or None,
        'become_password_set': source is not None,
        'become_password_source': source if needs_password else None,
        'become_password_required': needs_password,
        'become_logon_type': str(logon_type or BECOME_LOGON_TYPE),
        # runas flags only with a password: SYSTEM and accounts without one are not logged on with LogonUser.
        'become_flags': ('logon_type=%s' % (logon_type or BECOME_LOGON_TYPE)) if needs_password else '',
        'commands': list(DATABASE_COMMANDS),
    }


def join_preflight(requested, fresh_join):
    """Refusals that must happen before anything changes on the node (errors) and warnings.

    LocalSystem with Integrated Security: the service reaches SQL Server as the computer account
    (DOMAIN\\NODE$). An auto-scaled node is a new computer account without a SQL login, so the
    service would start and never reach its database. A fresh join is refused unless
    ``allow_computer_account_login`` says the computer accounts have a login (for example through
    an AD group); an existing node only gets a warning.
    """
    requested = requested or {}
    errors, warnings = [], []
    identity = database_identity(requested.get('connection_string'), requested.get('service_username'),
                                 requested.get('service_password') or '', requested.get('db_become_user'),
                                 requested.get('db_become_password'), requested.get('become_logon_type'))
    allow = bool(to_bool(requested.get('allow_computer_account_login')))
    if identity['integrated_security'] and identity['service_account_kind'] == 'local_system' and not allow:
        text = ('The Octopus service would run as LocalSystem and reach SQL Server with Integrated Security as the computer '
                'account of this node (DOMAIN\\%s$). A new node is a new computer account without a SQL login, so the service '
                'would start and never reach its database. Run the service as a gMSA (server_configure_service_username: '
                'DOMAIN\\octopus$) or a domain account that has a login, use a SQL login in the connection string, or set '
                'server_configure_allow_computer_account_login: true when the computer accounts have a login (for example '
                'through an AD group).' % str(requested.get('node_name') or 'NODE').upper())
        if fresh_join:
            errors.append('Refusing a fresh join: ' + text)
        else:
            warnings.append(text)
    if identity['become_password_required'] and not identity['become_password_set']:
        errors.append('The database commands run as %s (become), which needs its password: set '
                      'server_configure_service_password or server_configure_db_become_password.' % identity['become_user'])
    return {'errors': errors, 'warnings': warnings, 'identity': identity, 'fresh_join': bool(fresh_join)}


# ------------------------------------------------------------------------------------- commands

def _label(argv):
    out = []
    for arg in argv:
        match = SECRET_RE.match(arg)
        out.append(MASK if match else (('"%s"' % arg) if ' ' in arg else arg))
    return ' '.join(out)


def _command(plan, argv, reason):
    argv = [str(a) for a in argv]
    plan['commands'].append({
        'argv': argv,
        'label': _label(argv[1:]),
        'secret': any(SECRET_RE.match(a) for a in argv),
        'database': argv[1] in DATABASE_COMMANDS if len(argv) > 1 else False,
        'reason': reason,
    })


def _current(current, instance):
    """(instance exists, configuration dict or None, service dict) from the gathered state."""
    current = current or {}
    instances = current.get('instances')
    if instances is None or instances == '':
        instances = []
    instances = parse_cli_json(instances, 'list-instances output') if not isinstance(instances, list) else instances
    if isinstance(instances, dict):
        instances = instances.get('Instances') or [instances]
    names = [str(i.get('InstanceName') or i.get('Name') or '') if isinstance(i, dict) else str(i) for i in instances]
    exists = instance.lower() in [n.lower() for n in names]
    config = None
    if exists and current.get('configuration') not in (None, ''):
        config = parse_cli_json(current['configuration'], 'show-configuration output')
    service = current.get('service') or {}
    if not isinstance(service, dict):
        service = {}
    return exists, config, service


class _State(object):
    """What one planning pass knows: request, current configuration, the service, the command prefix."""

    def __init__(self, req, exists, config, service):
        self.req = req
        self.exists = exists
        self.config = config
        self.service = service
        self.instance = str(req['instance'])
        self.base = [req.get('exe_path') or DEFAULT_EXE_PATH]
        self.installed = exists and bool(service.get('exists'))
        self.running = self.installed and service.get('state') == 'running'
        self.fresh = not exists or not self.installed

    def current(self, dotted, convert=None):
        if not self.exists:
            return None
        value = config_get(self.config, dotted)
        return convert(value) if convert else value

    def argv(self, verb, *args):
        return self.base + [verb, '--instance', self.instance] + list(args)


def plan_instance(state):
    """``create-instance`` when the instance is missing."""
    if state.exists:
        return []
    req = state.req
    return [(state.argv('create-instance', '--config', req['config_path'], '--home', req['home'],
                        '--serverNodeName', req['node_name']), 'the instance does not exist')]


def plan_database(state, errors):
    """``database`` (join with the master key, never ``--create``) when the connection string differs.

    Returns (commands, restart needed).
    """
    req = state.req
    cur_conn = state.current('Octopus.Storage.ExternalDatabaseConnectionString')
    if cur_conn == req['connection_string']:
        return [], False
    if not req['connection_string'] or not req['master_key']:
        errors.append('connection_string and master_key are required to join the cluster database')
        return [], False
    argv = state.argv('database', '--connectionString', secret('connection_string'), '--masterKey', secret('master_key'))
    return [(argv, 'join the cluster database' if not cur_conn else 'the database connection string changed')], bool(cur_conn)


def plan_configure(state):
    """``configure`` with only the settings that differ. Returns (commands, restart needed)."""
    req = state.req
    options = []
    cur_home = state.current('Octopus.Home') if state.exists else req['home']
    if state.exists and str(cur_home or '').rstrip('\\').lower() != req['home'].rstrip('\\').lower():
        options += ['--home', req['home']]
    prefixes = split_prefixes(req['web_listen_prefixes'])
    cur_prefixes = split_prefixes(state.current('Octopus.WebPortal.ListenPrefixes')) if state.exists else None
    if cur_prefixes is None or sorted(set(normalize_prefix(p) for p in cur_prefixes)) != sorted(set(normalize_prefix(p) for p in prefixes)):
        options += ['--webListenPrefixes', ','.join(prefixes)]
    cur_ssl = state.current('Octopus.WebPortal.ForceSSL', to_bool)
    if cur_ssl is None or cur_ssl != req['web_force_ssl']:
        options += ['--webForceSSL', 'True' if req['web_force_ssl'] else 'False']
    if state.current('Octopus.Communications.ServicesPort', to_int) != req['comms_port']:
        options += ['--commsListenPort', str(req['comms_port'])]
    if not options:
        return [], False
    return [(state.argv('configure', *options), 'settings differ: %s' % ', '.join(options[0::2]))], True


def plan_node(state):
    """``node``: the canary (cap 0, drained) before the first start, or a pinned task cap later."""
    req = state.req
    cur_cap = state.current('Octopus.Server.TaskCap', to_int)
    cur_drain = state.current('Octopus.Server.MaintenanceMode', to_bool)
    if state.fresh:
        if cur_cap != 0 or cur_drain is not True:
            return [(state.argv('node', '--taskCap=0', '--drain=true'),
                     'canary join: task cap 0 and drained before the first start')]
        return []
    if req['task_cap'] is not None and cur_cap != req['task_cap']:
        return [(state.argv('node', '--taskCap=%d' % req['task_cap']),
                 'server_configure_task_cap pins the task cap (drain state untouched)')]
    return []


def plan_service(state, restart, plan):
    """``service`` commands: (stop before the changes, start/reconfigure after them)."""
    req = state.req
    want_user = norm_account(req['service_username'])
    account = [] if want_user == 'LocalSystem' else ['--username', want_user]
    if want_user != 'LocalSystem' and not want_user.endswith('$'):
        account += ['--password', secret('service_password')]
    if not state.installed:
        plan['starts_service'] = True
        return [], [(state.argv('service', '--install', '--reconfigure', '--start', *account),
                     'install and start the service (first start)')]
    cur_user = norm_account(state.service.get('username'))
    account_changed = cur_user.lower() != want_user.lower()
    stop, start = [], []
    if state.running and (restart or account_changed):
        stop.append((state.argv('service', '--stop'), 'stop before changing settings'))
        plan['restarts_service'] = True
    if account_changed:
        start.append((state.argv('service', '--reconfigure', '--start', *account),
                      'service account %s -> %s' % (cur_user, want_user)))
        plan['starts_service'] = True
    elif not state.running or plan['restarts_service']:
        start.append((state.argv('service', '--start'),
                      'start after changing settings' if plan['restarts_service'] else 'the service is stopped'))
        plan['starts_service'] = True
    if plan['restarts_service']:
        plan['warnings'].append('The Octopus service on %s will be restarted to apply changes; tasks running on it are '
                                'interrupted. Drain the node first if it is a task node.' % req['node_name'])
    return stop, start


def _request(requested):
    req = dict(DEFAULT_CONFIG)
    req.update(dict((k, v) for k, v in (requested or {}).items() if v is not None or k == 'task_cap'))
    req['node_name'] = req.get('node_name') or None
    req['comms_port'] = to_int(req.get('comms_port'))
    req['task_cap'] = to_int(req.get('task_cap'))
    req['web_force_ssl'] = to_bool(req.get('web_force_ssl'))
    return req


def _check_identity(state, errors):
    """None when the instance can be planned, else an error was added."""
    if state.exists and state.config is None:
        errors.append('instance %s exists but its configuration was not read (show-configuration)' % state.instance)
        return False
    cur_node = state.current('Octopus.Server.NodeName')
    if state.exists and cur_node and str(cur_node).lower() != str(state.req['node_name']).lower():
        errors.append('instance %s is already registered as node %r, not %r. Renaming a node changes its identity in the '
                      'cluster; remove the node (octopus.ha.node_remove) and join it again under the new name.'
                      % (state.instance, cur_node, state.req['node_name']))
        return False
    return True


def server_plan(current, requested):
    """Ordered Octopus.Server.exe commands that bring the node from ``current`` to ``requested``.

    current: {instances: list-instances JSON (text or list), configuration: show-configuration
    json-hierarchical (text or dict, None when the instance is missing), service: the win_service
    result for the instance's service}.
    """
    req = _request(requested)
    errors, warnings = [], []
    plan = {'commands': [], 'errors': errors, 'warnings': warnings, 'fresh_join': False, 'instance_exists': False,
            'service_installed': False, 'starts_service': False, 'restarts_service': False, 'changes': [],
            'local_url': None, 'firewall_ports': [], 'url_reservations': [], 'node_name': req['node_name'], 'service_name': None, 'display': []}
    _validate(req, errors, warnings)
    try:
        exists, config, service = _current(current, str(req['instance']))
    except PlanError as exc:
        errors.append(str(exc))
        return plan
    if errors:
        return plan
    state = _State(req, exists, config, service)
    prefixes = split_prefixes(req['web_listen_prefixes'])
    plan.update(fresh_join=state.fresh, instance_exists=exists, service_installed=state.installed,
                service_name=service_name(state.instance),
                local_url=node_urls(prefixes, local_url=req.get('local_url') or '')['local_url'],
                firewall_ports=prefix_ports(prefixes) + [req['comms_port']],
                url_reservations=url_reservations(prefixes, req['service_username']))
    if not _check_identity(state, errors):
        return plan
    database, restart_db = plan_database(state, errors)
    if errors:
        return plan
    configure, restart_cfg = plan_configure(state)
    node = plan_node(state)
    pre = plan_instance(state) + database + configure + (node if state.fresh else [])
    post = [] if state.fresh else node
    stop, start = plan_service(state, restart_db or restart_cfg, plan)
    for argv, reason in stop + pre + start + post:
        _command(plan, argv, reason)
        plan['changes'].append(reason)
    plan['display'] = [c['label'] for c in plan['commands']]
    return plan


def fill_secrets(argv, secrets):
    """Replace ``<secret:NAME>`` placeholders by ``secrets[NAME]`` (used inside the no_log task only)."""
    out = []
    for arg in argv or []:
        match = SECRET_RE.match(str(arg))
        if match:
            value = (secrets or {}).get(match.group(1))
            if value is None or value == '':
                raise PlanError('the command needs the secret %s, which is empty' % match.group(1))
            out.append(str(value))
        else:
            out.append(str(arg))
    return out
