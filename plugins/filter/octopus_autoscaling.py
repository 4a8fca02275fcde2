# -*- coding: utf-8 -*-
# Copyright: Contributors to the octopus.ha collection
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Filters of the Octopus-aware autoscaling playbooks.

The documentation of each filter lives beside this file in ``<filter name>.yml``.

* ``octopus_protection_line`` renders one entry of the plan of ``octopus.ha.autoscaling_scale_in_protection``
  as a table row for reports.
* ``octopus_queue_metric_data`` turns the task queue facts (``octopus_cluster_info`` ``queue``, or the
  ``cluster`` of an ``octopus.ha.octopus_cluster`` event) into the data points of
  ``octopus.ha.cloudwatch_metric_data``. The mapping lives in module_utils/_octopus_autoscaling.py.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

from ansible.errors import AnsibleFilterError
from ansible.module_utils.common.text.converters import to_text

from ansible_collections.octopus.ha.plugins.module_utils._octopus_autoscaling import QUEUE_METRICS, queue_metric_data

METRIC_NAMES = tuple(m[0] for m in QUEUE_METRICS)


def octopus_queue_metric_data(facts, timestamp=None, metrics=None):
    """The CloudWatch data points of one reading of the queue facts; unknown facts are left out."""
    if facts is not None and not isinstance(facts, dict):
        raise AnsibleFilterError('octopus_queue_metric_data expects the queue facts (a dictionary), got %s.'
                                 % type(facts).__name__)
    wanted = [to_text(m) for m in (metrics or [])]
    unknown = [m for m in wanted if m not in METRIC_NAMES]
    if unknown:
        raise AnsibleFilterError('octopus_queue_metric_data: unknown metric(s) %s; choose from %s.'
                                 % (', '.join(unknown), ', '.join(METRIC_NAMES)))
    return queue_metric_data(facts, timestamp=timestamp if timestamp not in ('', None) else None, metrics=wanted or None)


def octopus_protection_line(entry):
    """One table row: instance, node, protection before and after, reason."""
    if not isinstance(entry, dict):
        raise AnsibleFilterError('octopus_protection_line expects one entry of the protection plan, got %s.' % type(entry).__name__)
    after = entry.get('protect')
    columns = (entry.get('instance_id'), entry.get('node') or '-', entry.get('protected'), 'unchanged' if after is None else after,
               entry.get('reason'))
    return '%-20s %-12s %-9s -> %-9s %s' % columns


class FilterModule(object):
    """Filters of the Octopus-aware autoscaling playbooks."""

    def filters(self):
        return {'octopus_queue_metric_data': octopus_queue_metric_data, 'octopus_protection_line': octopus_protection_line}
