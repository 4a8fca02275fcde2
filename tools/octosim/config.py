# Copyright (c) octopus.ha contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Loading and normalising the simulator configuration (YAML or JSON). See docs/simulator.md."""
from __future__ import absolute_import, division, print_function
__metaclass__ = type

import copy
import json
import os

try:
    import yaml
    HAS_YAML = True
except ImportError:  # pragma: no cover - PyYAML is optional, JSON always works
    yaml = None
    HAS_YAML = False

ALL_PERMISSIONS = '*'

DEFAULT_ADMIN_KEY = 'API-SIMADMIN0000000000000000000'

DEFAULTS = {
    'server': {
        'version': '2023.4.8319',
        'api_version': '3.0.0',
        'application': 'Octopus Deploy',
        'installation_id': '5f0c3b52-9d4e-4c1a-8f7e-0a6c2e1d9b34',
        'has_long_term_support': True,
        'is_early_access_program': False,
        'serving_node': None,          # default: the first node
        'maintenance_mode': False,     # cluster-wide maintenance (not node drain)
        'put_missing_fields': 'reset',  # node PUT: fields missing from the body are reset (reset) or kept (keep)
    },
    'clock': {
        'start': '2024-03-01T10:00:00+00:00',
        'speed': 1.0,
    },
    'timing': {
        'heartbeat_interval': 15,
        'offline_after': 60,
        'poll_interval': 20,
        'cancel_delay': 5,
        'orphan_after': 3600,
        'orphan_outcome': 'Failed',      # Failed | Canceled
        'restart_outcome': 'Canceled',   # what a restarted node does with its own leftover tasks: Canceled | Failed
        'deleted_live_node_reregisters': False,  # a deleted node whose service runs writes its row again at its next heartbeat
        'deleted_node_tasks_fail_after': 0,      # seconds after a node DELETE until its running tasks fail (0: at once)
        'created_task_duration': 30,     # run seconds of tasks created through POST /api/tasks
        'ticker_interval': 0.1,          # real seconds between background ticks
    },
    'permissions': {
        # who reads nodes (list, all, summary, get, details): empty = any valid key (Issues #2228, the default);
        # a list = any one of these permissions (strict mode, e.g. [AdministerSystem])
        'node_read': [],
    },
    'license': {
        'node_limit': 3,                 # null = unlimited
        'node_limit_name': 'Nodes',
        'other_limits': [
            {'Name': 'Projects', 'EffectiveLimit': 2147483647, 'IsUnlimited': True, 'CurrentUsage': 3},
            {'Name': 'Tenants', 'EffectiveLimit': 2147483647, 'IsUnlimited': True, 'CurrentUsage': 0},
            {'Name': 'Machines', 'EffectiveLimit': 2147483647, 'IsUnlimited': True, 'CurrentUsage': 0},
        ],
        'effective_node_task_limit': 0,
        'effective_cluster_task_limit': 0,
        'permissions_mode': 'Full',
        'hosting_environment': 'SelfHosted',
    },
    'server_folders': {
        'LogsDirectory': 'C:\\Octopus\\TaskLogs',
        'ArtifactsDirectory': 'C:\\Octopus\\Artifacts',
        'PackagesDirectory': 'C:\\Octopus\\Packages',
        'EventExportsDirectory': 'C:\\Octopus\\EventExports',
        'ImportsDirectory': 'C:\\Octopus\\Imports',
        'TelemetryDirectory': 'C:\\Octopus\\Telemetry',
    },
    'api_keys': [
        {'name': 'admin', 'key': DEFAULT_ADMIN_KEY, 'permissions': [ALL_PERMISSIONS]},
    ],
    'nodes': [
        {'Name': 'OCTO-NODE-01'},
    ],
    'spaces': [
        {'Id': 'Spaces-1', 'Name': 'Default', 'IsDefault': True},
    ],
    'tasks': [],
    'task_id_start': 1,
    'seed': 0,
}

NODE_DEFAULTS = {
    'MaxConcurrentTasks': 5,
    'IsInMaintenanceMode': False,
    'Version': None,        # default: server.version
    'Heartbeat': True,
    'LastSeenAgo': None,    # for Heartbeat false: seconds before the clock start it was last seen (null = never)
    'PollOffset': None,     # seconds into each poll interval; default derived from the name
}

TASK_STATES = ('Queued', 'Executing', 'Cancelling', 'Success', 'Failed', 'Canceled', 'TimedOut')
TERMINAL_STATES = ('Success', 'Failed', 'Canceled', 'TimedOut')


class ConfigError(ValueError):
    """The configuration is invalid."""


def _merge(base, override):
    result = copy.deepcopy(base)
    for key, value in (override or {}).items():
        if isinstance(value, dict) and isinstance(result.get(key), dict):
            result[key] = _merge(result[key], value)
        else:
            result[key] = copy.deepcopy(value)
    return result


def load_file(path):
    """Read a YAML or JSON config file into a dict."""
    with open(path, encoding='utf-8-sig') as handle:
        text = handle.read()
    if path.endswith('.json') or not HAS_YAML:
        data = json.loads(text)
    else:
        data = yaml.safe_load(text)
    if data is None:
        data = {}
    if not isinstance(data, dict):
        raise ConfigError('%s: the top level must be a mapping' % path)
    return data


def load(source):
    """Normalise a config given as a dict, a path, or None (defaults only)."""
    if source is None:
        raw = {}
    elif isinstance(source, dict):
        raw = copy.deepcopy(source)
    elif isinstance(source, (str, os.PathLike)):
        raw = load_file(os.fspath(source))
    else:
        raise ConfigError('config must be a mapping or a path, not %r' % type(source).__name__)
    return normalise(raw)


def _check_number(section, name, minimum=0):
    value = section[name]
    if isinstance(value, bool) or not isinstance(value, (int, float)) or value < minimum:
        raise ConfigError('%s must be a number >= %s, got %r' % (name, minimum, value))


def normalise(raw):
    unknown = set(raw) - set(DEFAULTS)
    if unknown:
        raise ConfigError('unknown top-level config keys: %s' % ', '.join(sorted(unknown)))
    cfg = {}
    for key, default in DEFAULTS.items():
        if isinstance(default, dict):
            cfg[key] = _merge(default, raw.get(key) or {})
        elif key in raw:
            cfg[key] = copy.deepcopy(raw[key])
        else:
            cfg[key] = copy.deepcopy(default)
    timing = cfg['timing']
    for name in ('heartbeat_interval', 'poll_interval', 'ticker_interval'):
        _check_number(timing, name, minimum=0.001)
    for name in ('offline_after', 'cancel_delay', 'orphan_after', 'created_task_duration', 'deleted_node_tasks_fail_after'):
        _check_number(timing, name)
    if timing['orphan_outcome'] not in ('Failed', 'Canceled'):
        raise ConfigError('timing.orphan_outcome must be Failed or Canceled')
    if timing['restart_outcome'] not in ('Failed', 'Canceled'):
        raise ConfigError('timing.restart_outcome must be Failed or Canceled')
    _check_number(cfg['clock'], 'speed')
    if cfg['server']['put_missing_fields'] not in ('reset', 'keep'):
        raise ConfigError('server.put_missing_fields must be reset or keep')
    if not isinstance(cfg['permissions'].get('node_read') or [], list):
        raise ConfigError('permissions.node_read must be a list of permission names (empty: any valid key)')

    if not isinstance(cfg['nodes'], list):
        raise ConfigError('nodes must be a list')
    names = set()
    ids = set()
    nodes = []
    for item in cfg['nodes']:
        if isinstance(item, str):
            item = {'Name': item}
        node = _merge(NODE_DEFAULTS, item)
        if not node.get('Name') or not isinstance(node['Name'], str):
            raise ConfigError('every node needs a Name: %r' % (item,))
        node_id = (node.get('Id') or 'OctopusServerNodes-' + node['Name']).lower()
        if node_id in ids:
            raise ConfigError('duplicate node name %s (give duplicate names distinct Ids)' % node['Name'])
        ids.add(node_id)
        names.add(node['Name'].lower())
        if node['Version'] is None:
            node['Version'] = cfg['server']['version']
        nodes.append(node)
    cfg['nodes'] = nodes
    serving = cfg['server']['serving_node']
    if serving is not None and serving.lower() not in names:
        raise ConfigError('server.serving_node %s is not one of the nodes' % serving)

    spaces = []
    for item in cfg['spaces'] or []:
        space = dict(item)
        if not space.get('Id'):
            raise ConfigError('every space needs an Id')
        space.setdefault('Name', space['Id'])
        space.setdefault('IsDefault', False)
        spaces.append(space)
    if spaces and not any(s['IsDefault'] for s in spaces):
        spaces[0]['IsDefault'] = True
    cfg['spaces'] = spaces

    keys = []
    for item in cfg['api_keys'] or []:
        if not item.get('key'):
            raise ConfigError('every api_keys entry needs a key')
        perms = item.get('permissions', [])
        if isinstance(perms, str):
            perms = [perms]
        keys.append({'name': item.get('name') or 'user', 'key': item['key'], 'permissions': list(perms)})
    cfg['api_keys'] = keys

    for task in cfg['tasks'] or []:
        state = task.get('State', 'Queued')
        if state not in TASK_STATES:
            raise ConfigError('task state %r is not one of %s' % (state, ', '.join(TASK_STATES)))
    cfg['tasks'] = list(cfg['tasks'] or [])
    return cfg
