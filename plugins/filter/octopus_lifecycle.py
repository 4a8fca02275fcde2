# -*- coding: utf-8 -*-
# Copyright: Contributors to the octopus.ha collection
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Filters of the event-driven flows (thin adapters over plugins/module_utils/_lifecycle.py).

The documentation of each filter lives beside this file in ``<filter name>.yml``.

* ``octopus_reconcile_plan``: what octopus.ha.reconcile may do, and what stops it.
* ``octopus_reconcile_recheck``: whether a planned ghost node is still one in a fresh read.
* ``octopus_lifecycle_report``: the verdict and summary line of a lifecycle handler run.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

from ansible.errors import AnsibleFilterError

from ansible_collections.octopus.ha.plugins.module_utils import _lifecycle


def octopus_reconcile_plan(nodes, lifecycle=None, ec2_instances=None, name_regex=r'^i-[0-9a-f]{8,17}$', offline_after=3600,
                           min_age=300, max_removals=2, remove_left_drained=True, aws_label='the configured region'):
    try:
        return _lifecycle.reconcile_plan(nodes, lifecycle=lifecycle or None, ec2_instances=ec2_instances, name_regex=name_regex,
                                         offline_after=int(offline_after), min_age=int(min_age), max_removals=int(max_removals),
                                         remove_left_drained=bool(remove_left_drained), aws_label=aws_label)
    except (_lifecycle.PlanError, TypeError, ValueError) as e:
        raise AnsibleFilterError('octopus_reconcile_plan: %s' % e)


def octopus_reconcile_recheck(ghost, nodes):
    return _lifecycle.reconcile_recheck(ghost, nodes)


def octopus_lifecycle_report(instance_id, plan=None, check=None, heartbeat=None, complete=None, failure=None, acknowledged=False):
    return _lifecycle.handler_report(instance_id, plan, check=check or None, heartbeat=heartbeat or None, complete=complete or None,
                                     failure=failure or None, acknowledged=bool(acknowledged))


class FilterModule(object):
    """octopus.ha event-driven filters."""

    def filters(self):
        return {
            'octopus_reconcile_plan': octopus_reconcile_plan,
            'octopus_reconcile_recheck': octopus_reconcile_recheck,
            'octopus_lifecycle_report': octopus_lifecycle_report,
        }
