# -*- coding: utf-8 -*-

# Copyright: Contributors to the octopus.ha collection
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

"""The event-driven filters are thin adapters over plugins/module_utils/_lifecycle.py (tested there)."""

from __future__ import absolute_import, division, print_function
__metaclass__ = type

import pytest

from ansible.errors import AnsibleFilterError

from ansible_collections.octopus.ha.plugins.filter import octopus_lifecycle as filters

NODE = dict(name='i-0aaaaaaaaaaaaaaa1', id='OctopusServerNodes-i-0aaaaaaaaaaaaaaa1', offline=False, seconds_since_last_seen=1,
            drained=False, max_concurrent_tasks=5, last_seen='2026-11-26T09:00:00Z')


def test_the_filters_are_registered_and_delegate():
    found = filters.FilterModule().filters()
    assert sorted(found) == ['octopus_lifecycle_report', 'octopus_reconcile_plan', 'octopus_reconcile_recheck']
    assert found['octopus_reconcile_plan']([NODE])['errors'] == []
    assert found['octopus_reconcile_recheck'](dict(NODE), [NODE]) == 'it is no longer offline'
    assert found['octopus_lifecycle_report']('i-1', plan='scale_in', complete={'skipped': True})['ok'] is True


def test_a_bad_regex_is_a_filter_error():
    with pytest.raises(AnsibleFilterError) as err:
        filters.octopus_reconcile_plan([NODE], name_regex='(')
    assert 'not a regular expression' in str(err.value)
