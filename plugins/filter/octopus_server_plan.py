# -*- coding: utf-8 -*-
# Copyright: Contributors to the octopus.ha collection
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Filters used by the octopus.ha.server_install and octopus.ha.server_configure roles.

The documentation of each filter lives beside this file in ``<filter name>.yml``; the logic is in
``plugins/module_utils/_octopus_configure.py`` and ``plugins/module_utils/_octopus_server_config.py``.

* ``octopus_server_plan`` computes the ordered ``Octopus.Server.exe`` command lines that bring a
  node from its current state to the requested one (secrets as placeholders).
* ``octopus_server_argv`` fills the secret placeholders of one planned command (no_log task only).
* ``octopus_server_preflight`` refuses what must be refused before anything changes (LocalSystem with
  Integrated Security on a fresh join) and says who runs the database commands.
* ``octopus_node_urls`` derives the node's own and external URLs from its listen prefixes.
* ``octopus_cli_json`` parses JSON printed by ``Octopus.Server.exe`` (junk before the JSON is skipped).
* ``octopus_server_install_plan`` decides whether and which Octopus Server version to install.
* ``octopus_server_exe`` and ``octopus_service_name``: the exe path and the Windows service name.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

from ansible.errors import AnsibleFilterError

from ansible_collections.octopus.ha.plugins.module_utils._octopus_configure import (
    fill_secrets, join_preflight, node_urls, server_plan)
from ansible_collections.octopus.ha.plugins.module_utils._octopus_server_config import (
    PlanError, exe_path, install_plan, parse_cli_json, service_name)


def octopus_server_plan(current, requested):
    """The configuration plan; problems are returned in ``errors`` (never raised) so the role can report them."""
    if not isinstance(requested, dict):
        raise AnsibleFilterError('octopus_server_plan: the requested state must be a dictionary')
    try:
        return server_plan(current if isinstance(current, dict) else {}, requested)
    except PlanError as exc:
        raise AnsibleFilterError('octopus_server_plan: %s' % exc)


def octopus_server_argv(command, secrets):
    """argv of one planned command with its secret placeholders filled in."""
    argv = command.get('argv') if isinstance(command, dict) else command
    if not isinstance(argv, list):
        raise AnsibleFilterError('octopus_server_argv: expected a planned command (dict with argv) or a list')
    try:
        return fill_secrets(argv, secrets if isinstance(secrets, dict) else {})
    except PlanError as exc:
        raise AnsibleFilterError('octopus_server_argv: %s' % exc)


def octopus_server_preflight(requested, fresh_join=True):
    """Refusals before any change, warnings, and the identity of the database commands."""
    if not isinstance(requested, dict):
        raise AnsibleFilterError('octopus_server_preflight: the requested state must be a dictionary')
    return join_preflight(requested, bool(fresh_join))


def octopus_node_urls(prefixes, node_address=None, local_url=''):
    """``{local_url, external_url, ports}`` of the node, from its listen prefixes."""
    try:
        return node_urls(prefixes, node_address=node_address, local_url=local_url or '')
    except PlanError as exc:
        raise AnsibleFilterError('octopus_node_urls: %s' % exc)


def octopus_cli_json(text, default=None):
    """JSON document printed by Octopus.Server.exe; ``default`` when there is none and a default is given."""
    try:
        return parse_cli_json(text)
    except PlanError as exc:
        if default is not None:
            return default
        raise AnsibleFilterError('octopus_cli_json: %s' % exc)


def octopus_server_install_plan(cluster, installed_version=None, requested=None):
    """The install decision for server_install."""
    if requested is not None and not isinstance(requested, dict):
        raise AnsibleFilterError('octopus_server_install_plan: requested must be a dictionary')
    if not isinstance(cluster, dict):
        raise AnsibleFilterError('octopus_server_install_plan: the input must be the octopus_cluster_info result')
    return install_plan(cluster, installed_version or None, requested or {})


def octopus_server_exe(install_location, default=None):
    """Path of Octopus.Server.exe in ``install_location`` (the registry's InstallLocation), else the default."""
    return exe_path(install_location, default)


def octopus_service_name(instance):
    """Windows service name of an Octopus Server instance (``OctopusDeploy`` or ``OctopusDeploy: <instance>``)."""
    return service_name(instance)


class FilterModule(object):
    """Filters of the octopus.ha.server_install and octopus.ha.server_configure roles."""

    def filters(self):
        return {
            'octopus_server_plan': octopus_server_plan,
            'octopus_server_argv': octopus_server_argv,
            'octopus_server_preflight': octopus_server_preflight,
            'octopus_node_urls': octopus_node_urls,
            'octopus_cli_json': octopus_cli_json,
            'octopus_server_install_plan': octopus_server_install_plan,
            'octopus_server_exe': octopus_server_exe,
            'octopus_service_name': octopus_service_name,
        }
