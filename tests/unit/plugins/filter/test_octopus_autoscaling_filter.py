# -*- coding: utf-8 -*-
# Copyright: Contributors to the octopus.ha collection
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The octopus_queue_metric_data filter (the mapping itself is tested with module_utils/_octopus_autoscaling)."""

from __future__ import absolute_import, division, print_function
__metaclass__ = type

import pytest

from ansible.errors import AnsibleFilterError

from ansible_collections.octopus.ha.plugins.filter.octopus_autoscaling import FilterModule

FILTER = FilterModule().filters()['octopus_queue_metric_data']
FACTS = dict(queued_task_count=2, oldest_queued_task_age=30, running_task_count=4, task_capacity=5, free_task_slots=1,
             slot_utilisation=0.8, backlog_per_slot=0.4, task_node_count=1, server_time='x')


def test_all_metrics_with_a_timestamp():
    data = FILTER(FACTS, timestamp=1767226200.0)
    assert [d['metric_name'] for d in data] == ['QueuedTasks', 'OldestQueuedTaskAge', 'RunningTasks', 'TaskCapacity',
                                                'FreeTaskSlots', 'SlotUtilisation', 'BacklogPerSlot']
    assert data[5] == dict(metric_name='SlotUtilisation', value=80.0, unit='Percent', timestamp=1767226200.0)


def test_selection_empty_timestamp_and_errors():
    assert FILTER(FACTS, timestamp='', metrics=['QueuedTasks']) == [dict(metric_name='QueuedTasks', value=2, unit='Count')]
    assert FILTER(None) == []
    with pytest.raises(AnsibleFilterError, match='unknown metric'):
        FILTER(FACTS, metrics=['CPU'])
    with pytest.raises(AnsibleFilterError, match='expects the queue facts'):
        FILTER([1, 2])
