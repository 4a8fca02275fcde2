# -*- coding: utf-8 -*-
# Copyright: Contributors to the octopus.ha collection
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

"""TEST-ONLY fake ``Octopus.Server.exe``, run in-process by the win_command stand-in.

``run(data, argv)`` returns ``(rc, stdout, stderr)`` and changes the fake host state ``data``.
Instances live in ``data['octopus']['instances'][Name]`` with a flat dotted ``config``; the
service is ``data['services']['octopusdeploy...']``.  Starting the service registers the node in
the Octopus simulator (``POST $OCTOHA_SIM_URL/_sim/nodes``); stopping it calls ``.../stop``.
Exit codes: 0 ok, 1 controlled failure, 2 unknown command.

Who reaches the database (``fh.sql_connect``):

* ``database`` without ``--create`` only saves the connection string and the master key in the
  instance's configuration: it does not connect (the CLI help: "Sets the database connection
  string to use, and saves it in the config file"). ``--create`` connects as the runner.
* ``show-configuration`` and ``node`` read or write node settings in the database once the node has
  a record there (after its first start), as the runner (``fh.runner``): through WinRM without
  delegation SQL Server sees ANONYMOUS LOGON with Integrated Security (the double hop). Before the
  first start they use the configuration file only (UNCERTAIN on a real server; the role runs them
  as the database identity either way, and reads the node back through the API after the start).
* The service connects as its own account (LocalSystem: the computer account). When that login
  fails, or the master key does not match the database's, or (knob ``require_url_acls``) a
  non-LocalSystem account has no URL reservation for a listen prefix, the service runs but never
  registers its node: the readiness wait times out, as on a real node.
* Knob ``octopus_node_settings_lost_on_start``: the first start registers the node with the
  default task cap 5, undrained, as if ``node --taskCap=0 --drain=true`` had not persisted. As a
  dict ``{'took_tasks': [task spec, ...]}`` the node has also taken these tasks at its first poll,
  before anything could drain it: they are created running on the node (``/_sim/tasks``, keys as
  in docs/simulator.md) when it registers, so the test does not depend on which comes first.
"""

from __future__ import absolute_import, division, print_function
__metaclass__ = type

import hashlib
import json
import ntpath
import os

from ansible_collections.ansible.windows.plugins.module_utils import _fake_host as fh

FLAGS = frozenset([
    'install', 'reconfigure', 'start', 'stop', 'restart', 'uninstall', 'create', 'upgrade', 'console',
    'nologo', 'noconsolelogging', 'cancel-tasks', 'skiplicensecheck', 'skipdatabasecompatibilitycheck',
    'delete', 'free',
])
COMMON = frozenset(['instance', 'console', 'nologo', 'noconsolelogging'])
OPTIONS = {
    'create-instance': {'config', 'home', 'servernodename'},
    'delete-instance': set(),
    'database': {'connectionstring', 'masterkey', 'create', 'upgrade', 'grant', 'skiplicensecheck',
                 'skipdatabasecompatibilitycheck', 'delete'},
    'configure': {'home', 'weblistenprefixes', 'webforcessl', 'commslistenport', 'hstsenabled', 'hstsmaxage',
                  'upgradecheck', 'upgradecheckwithstatistics', 'usernamepasswordisenabled', 'autologinenabled',
                  'webserver', 'servernodename', 'maxconcurrenttasks'},
    'service': {'install', 'reconfigure', 'start', 'stop', 'restart', 'uninstall', 'username', 'user', 'password',
                'dependon'},
    'node': {'taskcap', 'drain', 'wait', 'cancel-tasks'},
    'show-configuration': {'format', 'file'},
    'list-instances': {'format'},
    'version': {'format'},
    'admin': {'username', 'password', 'email', 'apikey'},
    'license': {'licensebase64', 'licensefile', 'skiplicensecheck', 'free'},
    'path': {'clustershared', 'executionsclustershared', 'nugetrepository', 'artifacts', 'tasklogs', 'imports',
             'eventexports', 'telemetry', 'cachedirectory'},
}
CLUSTER_WIDE = ('admin', 'license', 'path')
SECRET_OPTIONS = frozenset(['masterkey', 'connectionstring', 'password', 'apikey', 'licensebase64'])
JUNK = 'Checking the Octopus Master Key has been configured.'

# dotted config key -> (command option, type)
CONFIGURE_KEYS = {
    'home': ('Octopus.Home', 'str'),
    'weblistenprefixes': ('Octopus.WebPortal.ListenPrefixes', 'str'),
    'webforcessl': ('Octopus.WebPortal.ForceSSL', 'boolstr'),
    'commslistenport': ('Octopus.Communications.ServicesPort', 'int'),
    'hstsenabled': ('Octopus.WebPortal.HstsEnabled', 'boolstr'),
    'hstsmaxage': ('Octopus.WebPortal.HstsMaxAge', 'int'),
    'upgradecheck': ('Octopus.Upgrades.AllowChecking', 'bool'),
    'upgradecheckwithstatistics': ('Octopus.Upgrades.IncludeStatistics', 'bool'),
    'webserver': ('Octopus.WebPortal.WebServer', 'str'),
    'servernodename': ('Octopus.Server.NodeName', 'str'),
    'maxconcurrenttasks': ('Octopus.Tasks.MaxConcurrentTasks', 'int'),
}


class ExeError(Exception):
    def __init__(self, msg, rc=1):
        super(ExeError, self).__init__(msg)
        self.msg = msg
        self.rc = rc


def parse_args(argv):
    """Split Octopus-style arguments (``--a=b``, ``--a b``, ``--flag``) -> (command, {lower name: value})."""
    if len(argv) < 2:
        raise ExeError('Usage: Octopus.Server <command> [<options>]', 2)
    command = argv[1].lower()
    opts = {}
    i = 2
    while i < len(argv):
        token = argv[i]
        if not token.startswith('--') and not token.startswith('/'):
            raise ExeError('Unrecognized command line argument: %s' % token)
        token = token.lstrip('-/')
        if '=' in token:
            name, value = token.split('=', 1)
        else:
            name, value = token, True
            if name.lower() not in FLAGS and i + 1 < len(argv) and not argv[i + 1].startswith('--'):
                value = argv[i + 1]
                i += 1
        opts[name.lower()] = value
        i += 1
    return command, opts


def _bool(value, name):
    if isinstance(value, bool):
        return value
    if str(value).lower() in ('true', '1', 'yes'):
        return True
    if str(value).lower() in ('false', '0', 'no'):
        return False
    raise ExeError('Option --%s expects true or false, got %r' % (name, value))


def _int(value, name):
    try:
        return int(value)
    except (TypeError, ValueError):
        raise ExeError('Option --%s expects a number, got %r' % (name, value))


def installed_version(data):
    entry = fh.get_file(data, fh.OCTOPUS_EXE)
    product = fh.installed_octopus(data)
    if product:
        return product['version']
    if entry and entry.get('version'):
        return '.'.join(entry['version'].split('.')[:3])
    return None


def _instances(data):
    return data.setdefault('octopus', {}).setdefault('instances', {})


def _instance(data, opts):
    name = opts.get('instance') or 'OctopusServer'
    if name is True:
        raise ExeError('Option --instance needs a value')
    for key, inst in _instances(data).items():
        if key.lower() == str(name).lower():
            return inst
    raise ExeError("Instance '%s' of Octopus Deploy Server has not been configured on this machine. "
                   "Available instances: %s" % (name, ', '.join(sorted(_instances(data))) or 'none'))


def _service(data, inst):
    return fh.get_service(data, fh.octopus_service_name(inst['InstanceName']))


def _sim_node_body(data, inst):
    cfg = inst['config']
    return {
        'Name': cfg.get('Octopus.Server.NodeName'),
        'MaxConcurrentTasks': int(cfg.get('Octopus.Server.TaskCap', 5)),
        'IsInMaintenanceMode': bool(cfg.get('Octopus.Server.MaintenanceMode', False)),
        'Version': installed_version(data),
        'Heartbeat': True,
    }


def _sim_nodes(state):
    nodes = state.get('nodes') if isinstance(state, dict) else None
    if isinstance(nodes, dict):
        nodes = list(nodes.values())
    return [n for n in (nodes or []) if isinstance(n, dict)]


def _sim_node(name):
    """The simulator's view of the node (dict) or None when unreachable/unknown."""
    if not fh.sim_url() or not name:
        return None
    try:
        state = fh.sim_request('GET', '/_sim/state')
    except fh.FakeHostError:
        return None
    for node in _sim_nodes(state):
        if str(node.get('Name', '')).strip().lower() == name.strip().lower():
            return node
    return None


# ------------------------------------------------------------------ commands

def cmd_create_instance(data, opts, out):
    name = opts.get('instance') or 'OctopusServer'
    if any(k.lower() == name.lower() for k in _instances(data)):
        raise ExeError("An instance named '%s' already exists. Use --instance to specify a different name, or "
                       "delete-instance first." % name)
    config = opts.get('config')
    if not config or config is True:
        raise ExeError('--config is required: the path of the configuration file to create')
    if not fh.is_absolute(config):
        raise ExeError('--config must be an absolute path: %s' % config)
    home = opts.get('home') or ntpath.dirname(config.replace('/', '\\'))
    node_name = opts.get('servernodename') or data['host'].upper()
    fh.ensure_dir(data, home)
    fh.put_file(data, config, '<?xml version="1.0" encoding="utf-8"?>\n<octopus-settings>\n'
                '  <set key="Octopus.Home">%s</set>\n</octopus-settings>\n' % home)
    _instances(data)[name] = {
        'InstanceName': name,
        'ConfigurationFilePath': config,
        'config': {
            'Octopus.Home': home,
            'Octopus.Server.NodeName': node_name,
            'Octopus.Communications.ServicesPort': 10943,
            'Octopus.WebPortal.ListenPrefixes': 'http://localhost:80/',
            'Octopus.WebPortal.ForceSSL': 'False',
        },
        'ever_started': False,
        'commands': [],
    }
    out.append("Creating installation for instance '%s' with configuration '%s'" % (name, config))


def cmd_delete_instance(data, opts, out):
    inst = _instance(data, opts)
    svc = _service(data, inst)
    if svc and svc['state'] == 'running':
        raise ExeError('The service for this instance is running; stop it first.')
    del _instances(data)[inst['InstanceName']]
    out.append("Deleted instance '%s'" % inst['InstanceName'])


def _connect(data, conn, identity):
    """Connect to the database as ``identity`` (network identity or None); ExeError on a failed login."""
    try:
        return fh.sql_connect(conn, identity)
    except fh.FakeHostError as exc:
        raise ExeError('Error connecting to the database: %s' % exc.msg)


def _runner_connect(data, inst):
    """Node settings live in the database once the node has a record (after its first start)."""
    conn = inst['config'].get('Octopus.Storage.ExternalDatabaseConnectionString')
    if conn and inst.get('ever_started'):
        _connect(data, conn, fh.runner(data)['network'])


def _master_sha(master):
    return hashlib.sha256(str(master).encode()).hexdigest()


def cmd_database(data, opts, out):
    inst = _instance(data, opts)
    conn = opts.get('connectionstring')
    if conn is True:
        raise ExeError('--connectionString needs a value')
    conn = conn or inst['config'].get('Octopus.Storage.ExternalDatabaseConnectionString')
    if not conn:
        raise ExeError('No connection string: pass --connectionString')
    master = opts.get('masterkey')
    if master is True:
        raise ExeError('--masterKey needs a value')
    if opts.get('create'):
        key = fh.database_key(conn)
        with fh.cluster_transaction() as cluster:
            exists = key in cluster['databases']
        if exists:
            _connect(data, conn, fh.runner(data)['network'])
            out.append('The database already exists; nothing was created.')
        else:
            with fh.cluster_transaction() as cluster:
                cluster['databases'][key] = {'master_key': master or 'generated-' + key, 'logins': None}
            out.append('Creating database %s' % key)
    inst['config']['Octopus.Storage.ExternalDatabaseConnectionString'] = conn
    if master:
        inst['master_key_sha256'] = _master_sha(master)
    out.append('Database connection string%s saved.' % (' and master key' if master else ''))


def cmd_configure(data, opts, out):
    inst = _instance(data, opts)
    for name, value in opts.items():
        if name in COMMON:
            continue
        key, kind = CONFIGURE_KEYS[name]
        if kind == 'int':
            value = _int(value, name)
        elif kind == 'bool':
            value = _bool(value, name)
        elif kind == 'boolstr':
            value = 'True' if _bool(value, name) else 'False'
        inst['config'][key] = value
        out.append('%s = %s' % (key, value))
    if 'home' in opts:
        fh.ensure_dir(data, opts['home'])


def _start(data, inst, out):
    svc = _service(data, inst)
    if svc is None:
        raise ExeError("Service '%s' is not installed. Run service --install first." % fh.octopus_service_name(inst['InstanceName']))
    if not inst['config'].get('Octopus.Storage.ExternalDatabaseConnectionString'):
        raise ExeError('The database connection string has not been configured; the service would not start.')
    if svc['state'] == 'running':
        out.append('Service is already running')
        return
    svc['state'] = 'running'
    first = not inst.get('ever_started')
    inst['ever_started'] = True
    problem = _startup_problem(data, inst, svc)
    svc['startup_error'] = problem
    if problem:
        # The Windows service runs, but the server never gets to the database: no node record.
        out.append("Service '%s' started" % svc['name'])
        return
    if fh.sim_url():
        body = _sim_node_body(data, inst)
        lost = data['knobs'].get('octopus_node_settings_lost_on_start') if first else None
        if lost:
            body.update(MaxConcurrentTasks=5, IsInMaintenanceMode=False)
        fh.sim_request('POST', '/_sim/nodes', body)
        for spec in (lost.get('took_tasks') or []) if isinstance(lost, dict) else []:
            fh.sim_request('POST', '/_sim/tasks', dict(spec, ServerNode=body['Name']))
        out.append('Registered node %s with the cluster' % inst['config'].get('Octopus.Server.NodeName'))
    out.append("Service '%s' started" % svc['name'])


def _startup_problem(data, inst, svc):
    """Why the started server cannot work (logged, like the server's own log), or None."""
    conn = inst['config'].get('Octopus.Storage.ExternalDatabaseConnectionString')
    try:
        fh.sql_connect(conn, fh.service_identity(data, svc.get('username')))
    except fh.FakeHostError as exc:
        return 'The database could not be reached as %s: %s' % (fh.service_identity(data, svc.get('username')), exc.msg)
    with fh.cluster_transaction() as cluster:
        db = cluster['databases'].get(fh.database_key(conn)) or {}
    if db.get('master_key') and inst.get('master_key_sha256') != _master_sha(db['master_key']):
        return 'The master key does not match the master key of the database.'
    if data['knobs'].get('require_url_acls') and not fh.is_local_system(svc.get('username')):
        acls = dict((k.lower(), v) for k, v in (data.get('url_acls') or {}).items())
        for prefix in str(inst['config'].get('Octopus.WebPortal.ListenPrefixes') or '').replace(';', ',').split(','):
            url = _normal_prefix(prefix)
            if url and (acls.get(url) or '').lower() != (svc.get('username') or '').lower():
                return ('HttpListenerException: Access is denied: %s has no URL reservation for %s (netsh http add urlacl)'
                        % (svc.get('username'), url))
    return None


def _normal_prefix(prefix):
    text = prefix.strip().lower()
    if not text:
        return None
    scheme, rest = text.split('://', 1)
    hostport, dummy, path = rest.partition('/')
    if ':' not in hostport.strip('[]') or hostport.endswith(']'):
        hostport += ':443' if scheme == 'https' else ':80'
    path = '/' + path if path else '/'
    return '%s://%s%s' % (scheme, hostport, path if path.endswith('/') else path + '/')


def _stop(data, inst, out):
    svc = _service(data, inst)
    if svc is None:
        out.append("Service '%s' is not installed" % fh.octopus_service_name(inst['InstanceName']))
        return
    if svc['state'] != 'running':
        out.append('Service is already stopped')
        return
    svc['state'] = 'stopped'
    node = inst['config'].get('Octopus.Server.NodeName')
    if fh.sim_url() and node and not svc.get('startup_error'):
        fh.sim_request('POST', '/_sim/nodes/%s/stop' % node)
    out.append("Service '%s' stopped" % svc['name'])


def service_started_hook(data, service):
    """win_service started an Octopus service: same effect as ``service --start``."""
    inst = _instances(data).get(service.get('octopus_instance'))
    if inst:
        service['state'] = 'stopped'
        _start(data, inst, [])


def service_stopped_hook(data, service):
    inst = _instances(data).get(service.get('octopus_instance'))
    if inst:
        service['state'] = 'running'
        _stop(data, inst, [])


def cmd_service(data, opts, out):
    inst = _instance(data, opts)
    name = fh.octopus_service_name(inst['InstanceName'])
    user = opts.get('username') or opts.get('user')
    password = opts.get('password')
    if user is not None and (user is True or not user):
        raise ExeError('--username needs a value')
    if opts.get('stop'):
        _stop(data, inst, out)
    if opts.get('uninstall'):
        _stop(data, inst, out)
        data['services'].pop(fh.service_key(name), None)
        out.append("Service '%s' uninstalled" % name)
    if user and not str(user).endswith('$') and str(user).lower() not in ('localsystem', 'nt authority\\system') and not password:
        raise ExeError("A password is required for the service account '%s' (only gMSA accounts ending in $ "
                       "run without one)." % user)
    svc = fh.get_service(data, name)
    if opts.get('install'):
        if svc is None:
            svc = data['services'][fh.service_key(name)] = {
                'name': name, 'display_name': name, 'state': 'stopped', 'start_mode': 'auto',
                'username': 'LocalSystem', 'path': '"%s" run --instance="%s"' % (fh.OCTOPUS_EXE, inst['InstanceName']),
                'octopus_instance': inst['InstanceName'], 'dependencies': [],
            }
            out.append("Service '%s' installed" % name)
        else:
            out.append("Service '%s' is already installed" % name)
    if opts.get('reconfigure') or (opts.get('install') and user):
        if svc is None:
            raise ExeError("Service '%s' is not installed; it cannot be reconfigured." % name)
        svc['username'] = user or 'LocalSystem'
        svc['password_set'] = bool(password)
        out.append("Service '%s' reconfigured to run as %s" % (name, svc['username']))
    elif user:
        raise ExeError('--username/--password are applied only with --install or --reconfigure')
    if opts.get('start'):
        _start(data, inst, out)
    if opts.get('restart'):
        _stop(data, inst, out)
        _start(data, inst, out)


def cmd_node(data, opts, out):
    inst = _instance(data, opts)
    _runner_connect(data, inst)
    cfg = inst['config']
    changes = {}
    if 'taskcap' in opts:
        cap = _int(opts['taskcap'], 'taskCap')
        if cap < 0:
            raise ExeError('--taskCap must be 0 or more')
        cfg['Octopus.Server.TaskCap'] = changes['MaxConcurrentTasks'] = cap
    if 'drain' in opts:
        cfg['Octopus.Server.MaintenanceMode'] = changes['IsInMaintenanceMode'] = _bool(opts['drain'], 'drain')
    if not changes:
        raise ExeError('Nothing to do: pass --taskCap and/or --drain')
    svc = _service(data, inst)
    if svc and svc['state'] == 'running' and fh.sim_url():
        _update_sim_node(cfg.get('Octopus.Server.NodeName'), changes)
    out.append('Node %s: %s' % (cfg.get('Octopus.Server.NodeName'), json.dumps(changes, sort_keys=True)))


def _update_sim_node(name, changes):
    key = os.environ.get(fh.ENV_SIM_API_KEY) or os.environ.get('OCTOPUS_API_KEY')
    if not key:
        raise ExeError('The node is running, so its settings live in the database: set %s so the fake can '
                       'update the simulator' % fh.ENV_SIM_API_KEY)
    try:
        nodes = fh.sim_request('GET', '/api/octopusservernodes?take=1000', api_key=key) or {}
        for node in nodes.get('Items', []):
            if str(node.get('Name', '')).lower() == str(name).lower():
                node.update(changes)
                fh.sim_request('PUT', '/api/octopusservernodes/%s' % node['Id'], body=node, api_key=key)
                return
    except fh.FakeHostError as exc:
        raise ExeError(exc.msg)
    raise ExeError('Node %s is not registered in the cluster' % name)


def hierarchical(flat):
    root = {}
    for key, value in sorted(flat.items()):
        parts = key.split('.')
        cur = root
        for part in parts[:-1]:
            nxt = cur.get(part)
            if not isinstance(nxt, dict):
                nxt = cur[part] = {}
            cur = nxt
        cur[parts[-1]] = value
    return root


def effective_config(data, inst):
    """The configuration as show-configuration reports it (node settings from the cluster while running)."""
    cfg = dict(inst['config'])
    cfg.setdefault('Octopus.Server.TaskCap', 5)
    cfg.setdefault('Octopus.Server.MaintenanceMode', False)
    svc = _service(data, inst)
    if svc and svc['state'] == 'running':
        node = _sim_node(cfg.get('Octopus.Server.NodeName'))
        if node:
            cfg['Octopus.Server.TaskCap'] = node.get('MaxConcurrentTasks', cfg['Octopus.Server.TaskCap'])
            cfg['Octopus.Server.MaintenanceMode'] = node.get('IsInMaintenanceMode', cfg['Octopus.Server.MaintenanceMode'])
    return cfg


def cmd_show_configuration(data, opts, out):
    inst = _instance(data, opts)
    _runner_connect(data, inst)
    fmt = str(opts.get('format', 'xml')).lower()
    cfg = effective_config(data, inst)
    junk = data['knobs'].get('octopus_show_config_junk')
    inst['show_count'] = inst.get('show_count', 0) + 1
    if junk is None and inst['show_count'] % 2 == 1:
        junk = JUNK
    if fmt == 'json-hierarchical':
        text = json.dumps(hierarchical(cfg), indent=2, sort_keys=True)
    elif fmt == 'json':
        text = json.dumps(cfg, indent=2, sort_keys=True)
    elif fmt == 'xml':
        junk = None
        text = '<octopus-settings>\n%s</octopus-settings>' % ''.join(
            '  <set key="%s">%s</set>\n' % (k, v) for k, v in sorted(cfg.items()))
    else:
        raise ExeError('Unknown format %s; use XML, json or json-hierarchical' % fmt)
    if junk:
        out.append(junk)
    out.append(text)


def cmd_list_instances(data, opts, out):
    items = [{'InstanceName': i['InstanceName'], 'ConfigurationFilePath': i['ConfigurationFilePath']}
             for _name, i in sorted(_instances(data).items())]
    if str(opts.get('format', 'text')).lower() == 'json':
        out.append(json.dumps(items, indent=2))
    else:
        out.extend("Instance '%s' uses configuration '%s'." % (i['InstanceName'], i['ConfigurationFilePath']) for i in items)


def cmd_version(data, opts, out):
    version = installed_version(data)
    if str(opts.get('format', 'text')).lower() == 'json':
        out.append(json.dumps({'Version': version, 'InformationalVersion': version}))
    else:
        out.append(version)


def cmd_cluster_wide(data, opts, out):
    inst = _instance(data, opts)
    out.append('Cluster-wide setting applied (this affects every node of the cluster).')
    return inst


COMMANDS = {
    'create-instance': cmd_create_instance,
    'delete-instance': cmd_delete_instance,
    'database': cmd_database,
    'configure': cmd_configure,
    'service': cmd_service,
    'node': cmd_node,
    'show-configuration': cmd_show_configuration,
    'list-instances': cmd_list_instances,
    'version': cmd_version,
    'admin': cmd_cluster_wide,
    'license': cmd_cluster_wide,
    'path': cmd_cluster_wide,
}


def run(data, argv):
    """Execute one fake Octopus.Server.exe invocation -> (rc, stdout, stderr)."""
    out = []
    try:
        command, opts = parse_args(argv)
        if command not in COMMANDS:
            raise ExeError("Command '%s' was not recognized. Run 'help' for a list of commands." % command, 2)
        unknown = sorted(set(opts) - COMMON - OPTIONS[command])
        if unknown:
            raise ExeError('Unrecognized command line arguments: %s' % ', '.join('--' + u for u in unknown))
        if command in data['knobs'].get('octopus_fail_commands', []):
            raise ExeError('Simulated failure of %s (knob octopus_fail_commands)' % command)
        COMMANDS[command](data, opts, out)
        log = data.setdefault('octopus', {}).setdefault('commands', [])
        log.append({'command': command, 'runner': fh.runner(data)['user'], 'options': dict(
            (k, fh.MASK if k in SECRET_OPTIONS else v) for k, v in sorted(opts.items()))})
    except ExeError as exc:
        return exc.rc, '\n'.join(out) + ('\n' if out else ''), exc.msg + '\n'
    except fh.FakeHostError as exc:
        return 100, '\n'.join(out) + ('\n' if out else ''), exc.msg + '\n'
    return 0, '\n'.join(out) + '\n', ''
