# -*- coding: utf-8 -*-
# Copyright: Contributors to the octopus.ha collection
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

"""PRIVATE to octopus.ha: Octopus Server installs, names and paths, and reading Octopus.Server.exe output.

This module_util is PRIVATE to the octopus.ha collection, not a public API.

Pure functions, no I/O. The filters ``octopus_cli_json``, ``octopus_server_install_plan``,
``octopus_server_exe`` and ``octopus_service_name`` are thin wrappers around them; the
configuration planner is ``_octopus_configure.py``.
"""

from __future__ import absolute_import, division, print_function
__metaclass__ = type

import json

from ansible_collections.octopus.ha.plugins.module_utils._octopus_sql import ConnectionStringError, sql_user as _sql_user
from ansible_collections.octopus.ha.plugins.module_utils._octopus_version import (
    VersionError, normalize_version as _normalize_version, same_version, version_tuple)

# Where the MSI installs Octopus.Server.exe unless INSTALLLOCATION says otherwise; the registry value
# HKLM:\\SOFTWARE\\Octopus\\OctopusServer InstallLocation names the real folder.
DEFAULT_INSTALL_LOCATION = 'C:\\Program Files\\Octopus Deploy\\Octopus'
EXE_NAME = 'Octopus.Server.exe'
DEFAULT_EXE_PATH = DEFAULT_INSTALL_LOCATION + '\\' + EXE_NAME
DEFAULT_INSTANCE = 'OctopusServer'


class PlanError(ValueError):
    """Invalid input to a planner; the message never contains a secret."""


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


def sql_user(connection_string):
    """The SQL login of a connection string (``_octopus_sql``); an unreadable string has none."""
    try:
        return _sql_user(connection_string)
    except ConnectionStringError:
        return None


# ------------------------------------------------------------------------------------- names and paths

def service_name(instance=None):
    """Windows service name of an instance, as ``Octopus.Server.exe service --install`` names it."""
    instance = str(instance or DEFAULT_INSTANCE).strip()
    return 'OctopusDeploy' if instance == DEFAULT_INSTANCE else 'OctopusDeploy: %s' % instance


def exe_path(install_location=None, default=None):
    """Path of Octopus.Server.exe from the registry's InstallLocation, else ``default``, else the MSI default."""
    location = str(install_location or '').strip().rstrip('\\/')
    if location:
        return location + '\\' + EXE_NAME
    return str(default).strip() if default and str(default).strip() else DEFAULT_EXE_PATH


# ------------------------------------------------------------------------------------- versions

def normalize_version(version):
    """``'2024.1.1234.0'`` / ``'v2024.1.1234'`` -> ``'2024.1.1234'`` (``_octopus_version``); PlanError for garbage."""
    try:
        return _normalize_version(version)
    except VersionError as exc:
        raise PlanError(str(exc))


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
