# -*- coding: utf-8 -*-
# Copyright: Contributors to the octopus.ha collection
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Filters used by the octopus.ha.node_verify role.

The documentation of each filter lives beside this file in ``<filter name>.yml``; the logic is in
``plugins/module_utils/_octopus_verify.py`` and ``plugins/module_utils/_octopus_sql.py``.

* ``octopus_sql_endpoint`` parses a SQL Server connection string into the host and port to probe.
  It never returns (and never echoes in an error) anything but the network address, the
  database name and whether Integrated Security is used.
* ``octopus_verify_targets`` selects the listening Tentacles (targets and workers) to probe.
* ``octopus_verify_endpoints`` lists the distinct http(s) feed and cloud endpoints to probe.
* ``octopus_verify_report`` turns the raw observations gathered by the role into one report.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

from ansible.errors import AnsibleFilterError

from ansible_collections.octopus.ha.plugins.module_utils._octopus_sql import (
    DEFAULT_SQL_PORT, ConnectionStringError, sql_endpoint)
from ansible_collections.octopus.ha.plugins.module_utils._octopus_verify import (
    VerifyError, build_report, select_endpoints, select_targets)


def octopus_sql_endpoint(connection_string, default_port=DEFAULT_SQL_PORT, port=None):
    """The SQL Server network endpoint of a connection string, without any secret."""
    try:
        return sql_endpoint(connection_string, default_port=default_port, port=port)
    except ConnectionStringError as exc:
        raise AnsibleFilterError('octopus_sql_endpoint: %s' % exc)


def octopus_verify_targets(machines, limit=0, seed=None, include_disabled=False):
    """The listening Tentacles to probe (optionally a reproducible sample) and the polling ones."""
    try:
        return select_targets(machines, limit=limit, seed=seed, include_disabled=include_disabled)
    except VerifyError as exc:
        raise AnsibleFilterError('octopus_verify_targets: %s' % exc)


def octopus_verify_endpoints(items, kind='feed'):
    """The distinct http(s) endpoints to probe as ``[{name, uri, kind}]``."""
    try:
        return select_endpoints(items, kind=kind)
    except VerifyError as exc:
        raise AnsibleFilterError('octopus_verify_endpoints: %s' % exc)


def octopus_verify_report(observations, node_name=None):
    """The node verification report built from the role's raw observations."""
    try:
        return build_report(observations, node_name=node_name)
    except VerifyError as exc:
        raise AnsibleFilterError('octopus_verify_report: %s' % exc)


class FilterModule(object):
    """Filters of the octopus.ha.node_verify role."""

    def filters(self):
        return {
            'octopus_sql_endpoint': octopus_sql_endpoint,
            'octopus_verify_targets': octopus_verify_targets,
            'octopus_verify_endpoints': octopus_verify_endpoints,
            'octopus_verify_report': octopus_verify_report,
        }
