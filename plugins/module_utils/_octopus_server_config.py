# -*- coding: utf-8 -*-
# Copyright: Contributors to the octopus.ha collection
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

"""PRIVATE to octopus.ha: planning of Octopus Server installs and ``Octopus.Server.exe`` configuration.

Pure functions, no I/O. The filters ``octopus_server_plan``, ``octopus_server_argv``,
``octopus_cli_json`` and ``octopus_server_install_plan`` are thin wrappers around them.

Secrets never appear in a plan: an argument that carries one is the placeholder
``<secret:NAME>`` (``connection_string``, ``master_key``, ``service_password``) and is replaced
only inside the ``no_log`` task that runs the command (``octopus_server_argv``).
"""

from __future__ import absolute_import, division, print_function
__metaclass__ = type

import json
import re

from ansible_collections.octopus.ha.plugins.module_utils._octopus_cluster import same_version, version_tuple

SECRET_NAMES = ('connection_string', 'master_key', 'service_password')
SECRET_RE = re.compile(r'^<secret:([a-z_]+)>$')
MASK = '********'
LOCAL_SYSTEM = ('', 'localsystem', 'local system', 'nt authority\\system', '.\\localsystem', 'system')
LOCAL_HOSTS = ('localhost', '127.0.0.1', '[::1]', '::1')
DEFAULT_CONFIG = {
    'instance': 'OctopusServer',
    'config_path': 'C:\\Octopus\\OctopusServer.config',
    'home': 'C:\\Octopus',
    'node_name': None,
    'connection_string': None,
    'master_key': None,
    'web_listen_prefixes': ['http://localhost:80/'],
    'web_force_ssl': False,
    'comms_port': 10943,
    'service_username': '',
    'service_password': '',
    'task_cap': None,
    'shared_storage_path': '',
    'local_url': '',
}


class PlanError(ValueError):
    """Invalid input to a planner; the message never contains a secret."""


def secret(name):
    return '<secret:%s>' % name


# ------------------------------------------------------------------------------------- parsing

def parse_cli_json(text, what='Octopus.Server.exe output'):
    """Parse JSON printed by Octopus.Server.exe, skipping any junk before the first ``{`` or ``[``.

    A dict or list passes through. Raises PlanError without echoing the text (it may hold secrets).
    """
    if isinstance(text, (dict, list)):
        return text
    if text is None:
        raise PlanError('%s is empty' % what)
    text = str(text)
    starts = [i for i in (text.find('{'), text.find('[')) if i >= 0]
    if not starts:
        raise PlanError('%s holds no JSON document (%d characters)' % (what, len(text)))
    try:
        return json.JSONDecoder().raw_decode(text[min(starts):])[0]
    except ValueError as exc:
        raise PlanError('%s is not valid JSON after the first bracket: %s at position %s'
                        % (what, exc.__class__.__name__, getattr(exc, 'pos', '?')))


def config_get(config, dotted, default=None):
    """Value of ``Octopus.X.Y`` from a json-hierarchical (nested) or json (flat dotted) configuration."""
    if not isinstance(config, dict):
        return default
    if dotted in config:
        return config[dotted]
    cur = config
    for part in dotted.split('.'):
        if not isinstance(cur, dict):
            return default
        match = [k for k in cur if str(k).lower() == part.lower()]
        if not match:
            return default
        cur = cur[match[0]]
    return cur


def to_bool(value):
    if isinstance(value, bool):
        return value
    if value is None:
        return None
    text = str(value).strip().lower()
    if text in ('true', '1', 'yes', 'on'):
        return True
    if text in ('false', '0', 'no', 'off', ''):
        return False
    raise PlanError('expected a boolean, got %r' % (value,))


def to_int(value):
    if value is None or value == '':
        return None
    try:
        return int(value)
    except (TypeError, ValueError):
        raise PlanError('expected a number, got %r' % (value,))


def connection_string_parts(connection_string):
    """Lower-cased keys -> values of an ADO.NET connection string (quotes removed)."""
    parts = {}
    for item in (connection_string or '').split(';'):
        if '=' not in item:
            continue
        key, value = item.split('=', 1)
        value = value.strip()
        if len(value) > 1 and value[0] == value[-1] and value[0] in '\'"':
            value = value[1:-1]
        parts[re.sub(r'\s+', ' ', key.strip().lower())] = value
    return parts


def sql_user(connection_string):
    parts = connection_string_parts(connection_string)
    for key in ('user id', 'uid', 'user', 'username', 'user name'):
        if parts.get(key):
            return parts[key]
    return None


# ------------------------------------------------------------------------------------- versions

def normalize_version(version):
    """``'2024.1.1234.0'`` / ``'v2024.1.1234'`` -> ``'2024.1.1234'``; pre-release suffixes kept; None for empty."""
    if version is None:
        return None
    text = str(version).strip()
    if text[:1] in ('v', 'V'):
        text = text[1:]
    if not text:
        return None
    core, sep, suffix = re.match(r'^([0-9.]*)([-+]?)(.*)$', text).groups()
    parts = [p for p in core.split('.') if p != '']
    if not parts or not all(p.isdigit() for p in parts):
        raise PlanError('not a version number: %r' % (version,))
    parts = [str(int(p)) for p in parts[:3]]
    while len(parts) < 3:
        parts.append('0')
    return '.'.join(parts) + (sep + suffix if suffix else '')


def version_key(version):
    """Sortable key (``_octopus_cluster.version_tuple``) of a version that ``normalize_version`` accepts."""
    return version_tuple(normalize_version(version))


def _cluster_facts(cluster):
    """(version, skew, skewed names, node versions) from an octopus_cluster_info result or a plain dict."""
    cluster = cluster or {}
    server = cluster.get('server') or {}
    version = server.get('version') or cluster.get('version')
    facts = cluster.get('cluster') or {}
    nodes = cluster.get('nodes') or []
    node_versions = dict((n.get('name') or n.get('Name'), n.get('version') or n.get('Version')) for n in nodes
                         if isinstance(n, dict))
    skewed = list(facts.get('version_skew_nodes') or cluster.get('skewed_nodes') or [])
    skew = bool(facts.get('version_skew', cluster.get('version_skew', False)))
    for name, node_version in node_versions.items():
        if node_version and version and not same_version(node_version, version) and name not in skewed:
            skewed.append(name)
            skew = True
    return version, skew, sorted(str(s) for s in skewed), node_versions


def install_plan(cluster, installed_version=None, requested=None):
    """Decide what server_install does. Returns a dict (never raises for policy problems: see ``errors``).

    requested keys: version (pinned, optional), allow_version_override (bool), method (msi|chocolatey),
    msi_url_template (with ``{version}``), cache_dir.
    """
    requested = requested or {}
    errors, warnings = [], []
    version, skew, skewed, node_versions = _cluster_facts(cluster)
    pinned = requested.get('version') or None
    override = bool(to_bool(requested.get('allow_version_override')))
    result = {
        'action': 'none', 'target_version': None, 'cluster_version': None, 'installed_version': None,
        'errors': errors, 'warnings': warnings, 'msi_file_name': None, 'msi_url': None, 'msi_path': None,
        'log_path': None, 'skewed_nodes': skewed,
    }
    try:
        cluster_version = normalize_version(version) if version else None
        pinned_norm = normalize_version(pinned) if pinned else None
        installed = normalize_version(installed_version) if installed_version else None
    except PlanError as exc:
        errors.append(str(exc))
        return result
    result.update(cluster_version=cluster_version, installed_version=installed)
    if not cluster_version:
        errors.append('The cluster did not report its version (GET /api Version); refusing to guess which version to install.')
        return result
    facts = (cluster or {}).get('cluster') or {}
    if 'version_skew' in facts and facts['version_skew'] is None:
        # octopus_cluster_info could not read the node versions: unknown is not "no skew" (fail closed).
        errors.append('Cannot tell whether every cluster node runs %s: the API key could not read the node versions (the cluster '
                      'summary; missing permission %s). Refusing to install; use a key that can read /api/octopusservernodes/summary.'
                      % (cluster_version, facts.get('missing_permission') or 'unknown'))
        return result
    if skew:
        errors.append('The cluster nodes run different versions (%s; cluster %s, nodes: %s). A rolling upgrade is in progress or '
                      'failed; refusing to add a node until every node runs one version.'
                      % (', '.join(skewed) or 'unknown nodes', cluster_version,
                         ', '.join('%s=%s' % (k, v) for k, v in sorted(node_versions.items(), key=lambda i: str(i[0])))))
        return result
    target = cluster_version
    if pinned_norm and pinned_norm != cluster_version:
        if not override:
            errors.append('server_install_version %s does not match the cluster version %s. All HA nodes must run the same '
                          'version; remove the pin or set server_install_allow_version_override: true.'
                          % (pinned_norm, cluster_version))
            return result
        warnings.append('Installing %s although the cluster runs %s (server_install_allow_version_override is true). '
                        'The node will not be able to join until the versions match.' % (pinned_norm, cluster_version))
        target = pinned_norm
    result['target_version'] = target
    if installed is None:
        result['action'] = 'install'
    elif installed == target:
        result['action'] = 'none'
    elif version_key(installed) > version_key(target):
        errors.append('Octopus Server %s is installed, newer than the target %s. Downgrades are not supported; '
                      'rebuild the node from an image without Octopus Server.' % (installed, target))
    elif target != cluster_version:
        errors.append('Octopus Server %s is installed; upgrading this node to %s is refused because the cluster runs %s. '
                      'Upgrade the cluster first (all nodes stopped, one database upgrade).' % (installed, target, cluster_version))
    else:
        result['action'] = 'upgrade'
        warnings.append('Upgrading this node in place from %s to %s (the cluster already runs %s).'
                        % (installed, target, cluster_version))
    if errors:
        result['action'] = 'none'
        return result
    template = requested.get('msi_url_template') or 'https://download.octopusdeploy.com/octopus/Octopus.{version}-x64.msi'
    if '{version}' not in template:
        errors.append('server_install_msi_url_template must contain {version}')
        return result
    cache = (requested.get('cache_dir') or 'C:\\ProgramData\\octopus.ha\\cache').rstrip('\\/')
    name = 'Octopus.%s-x64.msi' % target
    result.update(msi_file_name=name, msi_url=template.replace('{version}', target), msi_path='%s\\%s' % (cache, name),
                  log_path='%s\\Octopus.%s-x64.install.log' % (cache, target))
    return result


# ------------------------------------------------------------------------------------- configure planner

def normalize_prefix(prefix):
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
    if value is None:
        return []
    if isinstance(value, str):
        value = value.split(',')
    return [str(v).strip() for v in value if str(v).strip()]


def prefix_ports(prefixes):
    ports = []
    for prefix in prefixes:
        port = int(normalize_prefix(prefix).split(':')[2].split('/')[0])
        if port not in ports:
            ports.append(port)
    return ports


def local_url_from_prefix(prefix):
    norm = normalize_prefix(prefix)
    scheme, rest = norm.split('://', 1)
    hostport, path = rest.split('/', 1)
    host, port = hostport.rsplit(':', 1)
    if host in ('+', '*') or host.startswith('+') or host.startswith('*'):
        host = 'localhost'
    return ('%s://%s:%s/%s' % (scheme, host, port, path)).rstrip('/')


def is_unc(path):
    return bool(re.match(r'^\\\\[^\\/]+[\\/][^\\/]+', str(path or '').replace('/', '\\')))


def is_local_abs(path):
    return bool(re.match(r'^[A-Za-z]:\\', str(path or '').replace('/', '\\')))


def _norm_account(name):
    name = (name or '').strip()
    return 'LocalSystem' if name.lower() in LOCAL_SYSTEM else name


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
    user = _norm_account(req.get('service_username'))
    password = req.get('service_password')
    if user != 'LocalSystem':
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
    elif password:
        warnings.append('service_password is ignored: the service runs as LocalSystem')
    if prefixes and not errors:
        hosts = [normalize_prefix(p).split('://', 1)[1].rsplit(':', 1)[0] for p in prefixes]
        if all(h in LOCAL_HOSTS for h in hosts):
            warnings.append('Every web listen prefix is bound to localhost (%s): load balancer health checks and users reaching the '
                            'node by name or IP will not match. Add http://<node name>:<port>/ or a wildcard prefix.'
                            % ', '.join(prefixes))


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


def server_plan(current, requested):
    """Ordered Octopus.Server.exe commands that bring the node from ``current`` to ``requested``.

    current: {instances: list-instances JSON (text or list), configuration: show-configuration
    json-hierarchical (text or dict, None when the instance is missing), service: the win_service
    result for the instance's service}.
    """
    req = dict(DEFAULT_CONFIG)
    req.update(dict((k, v) for k, v in (requested or {}).items() if v is not None or k == 'task_cap'))
    req['node_name'] = req.get('node_name') or None
    req['comms_port'] = to_int(req.get('comms_port'))
    req['task_cap'] = to_int(req.get('task_cap'))
    req['web_force_ssl'] = to_bool(req.get('web_force_ssl'))
    errors, warnings = [], []
    plan = {'commands': [], 'errors': errors, 'warnings': warnings, 'fresh_join': False, 'instance_exists': False,
            'service_installed': False, 'starts_service': False, 'restarts_service': False, 'changes': [],
            'local_url': None, 'firewall_ports': [], 'node_name': req['node_name'], 'service_name': None, 'display': []}
    _validate(req, errors, warnings)
    try:
        exists, config, service = _current(current, str(req['instance']))
    except PlanError as exc:
        errors.append(str(exc))
        return plan
    if errors:
        return plan
    instance = str(req['instance'])
    exe = req.get('exe_path') or 'C:\\Program Files\\Octopus Deploy\\Octopus\\Octopus.Server.exe'
    base = [exe]
    prefixes = split_prefixes(req['web_listen_prefixes'])
    installed = exists and bool(service.get('exists'))
    running = installed and service.get('state') == 'running'
    fresh = not exists or not installed
    plan.update(fresh_join=fresh, instance_exists=exists, service_installed=installed,
                service_name='OctopusDeploy' if instance == 'OctopusServer' else 'OctopusDeploy: %s' % instance,
                local_url=(req.get('local_url') or local_url_from_prefix(prefixes[0])).rstrip('/'),
                firewall_ports=prefix_ports(prefixes) + [req['comms_port']])

    if exists and config is None:
        errors.append('instance %s exists but its configuration was not read (show-configuration)' % instance)
        return plan
    cur_node = config_get(config, 'Octopus.Server.NodeName') if exists else None
    if exists and cur_node and str(cur_node).lower() != str(req['node_name']).lower():
        errors.append('instance %s is already registered as node %r, not %r. Renaming a node changes its identity in the '
                      'cluster; remove the node (octopus.ha.node_remove) and join it again under the new name.'
                      % (instance, cur_node, req['node_name']))
        return plan

    pre, post = [], []   # commands before / after the service (re)start decision
    restart = False
    if not exists:
        pre.append(([exe, 'create-instance', '--instance', instance, '--config', req['config_path'], '--home', req['home'],
                     '--serverNodeName', req['node_name']], 'the instance does not exist'))
    cur_conn = config_get(config, 'Octopus.Storage.ExternalDatabaseConnectionString') if exists else None
    if cur_conn != req['connection_string']:
        if not req['connection_string'] or not req['master_key']:
            errors.append('connection_string and master_key are required to join the cluster database')
            return plan
        pre.append((base + ['database', '--instance', instance, '--connectionString', secret('connection_string'),
                            '--masterKey', secret('master_key')],
                    'join the cluster database' if not cur_conn else 'the database connection string changed'))
        restart = restart or bool(cur_conn)
    configure = []
    cur_home = config_get(config, 'Octopus.Home') if exists else req['home']
    if exists and str(cur_home or '').rstrip('\\').lower() != req['home'].rstrip('\\').lower():
        configure += ['--home', req['home']]
    cur_prefixes = split_prefixes(config_get(config, 'Octopus.WebPortal.ListenPrefixes')) if exists else None
    if cur_prefixes is None or sorted(set(normalize_prefix(p) for p in cur_prefixes)) != sorted(set(normalize_prefix(p) for p in prefixes)):
        configure += ['--webListenPrefixes', ','.join(prefixes)]
    cur_ssl = to_bool(config_get(config, 'Octopus.WebPortal.ForceSSL')) if exists else None
    if cur_ssl is None or cur_ssl != req['web_force_ssl']:
        configure += ['--webForceSSL', 'True' if req['web_force_ssl'] else 'False']
    cur_port = to_int(config_get(config, 'Octopus.Communications.ServicesPort')) if exists else None
    if cur_port != req['comms_port']:
        configure += ['--commsListenPort', str(req['comms_port'])]
    if configure:
        pre.append((base + ['configure', '--instance', instance] + configure,
                    'settings differ: %s' % ', '.join(configure[0::2])))
        restart = True

    cur_cap = to_int(config_get(config, 'Octopus.Server.TaskCap')) if exists else None
    cur_drain = to_bool(config_get(config, 'Octopus.Server.MaintenanceMode')) if exists else None
    if fresh:
        if cur_cap != 0 or cur_drain is not True:
            pre.append((base + ['node', '--instance', instance, '--taskCap=0', '--drain=true'],
                        'canary join: task cap 0 and drained before the first start'))
    elif req['task_cap'] is not None and cur_cap != req['task_cap']:
        post.append((base + ['node', '--instance', instance, '--taskCap=%d' % req['task_cap']],
                     'server_configure_task_cap pins the task cap (drain state untouched)'))

    want_user = _norm_account(req['service_username'])
    cur_user = _norm_account(service.get('username')) if installed else None
    account = [] if want_user == 'LocalSystem' else ['--username', want_user]
    if want_user != 'LocalSystem' and not want_user.endswith('$'):
        account += ['--password', secret('service_password')]
    if not installed:
        svc = base + ['service', '--instance', instance, '--install', '--reconfigure', '--start'] + account
        post_service = [(svc, 'install and start the service (first start)')]
        plan['starts_service'] = True
    else:
        account_changed = cur_user.lower() != want_user.lower()
        post_service = []
        if running and (restart or account_changed):
            pre.insert(0, (base + ['service', '--instance', instance, '--stop'], 'stop before changing settings'))
            plan['restarts_service'] = True
        if account_changed:
            post_service.append((base + ['service', '--instance', instance, '--reconfigure', '--start'] + account,
                                 'service account %s -> %s' % (cur_user, want_user)))
            plan['starts_service'] = True
        elif not running or plan['restarts_service']:
            post_service.append((base + ['service', '--instance', instance, '--start'],
                                 'start after changing settings' if plan['restarts_service'] else 'the service is stopped'))
            plan['starts_service'] = True
        if plan['restarts_service']:
            warnings.append('The Octopus service on %s will be restarted to apply changes; tasks running on it are interrupted. '
                            'Drain the node first if it is a task node.' % req['node_name'])
    for argv, reason in pre + post_service + post:
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
