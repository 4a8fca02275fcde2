# -*- coding: utf-8 -*-
# Copyright: Contributors to the octopus.ha collection
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Filters used by the octopus.ha.node_remove role (docs in ``<filter name>.yml`` beside this file).

* ``octopus_removal_summary`` folds the registered results of the role's steps into one summary;
  the rule lives in module_utils/_octopus_removal.py.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

from ansible.errors import AnsibleFilterError

from ansible_collections.octopus.ha.plugins.module_utils._octopus_removal import removal_summary


def octopus_removal_summary(steps, service_stopped=False):
    if not isinstance(steps, dict):
        raise AnsibleFilterError('octopus_removal_summary: the input must be a dictionary of step results, not %s'
                                 % type(steps).__name__)
    return removal_summary(steps, service_stopped=bool(service_stopped))


class FilterModule(object):
    def filters(self):
        return {'octopus_removal_summary': octopus_removal_summary}
