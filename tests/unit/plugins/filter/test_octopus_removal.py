# -*- coding: utf-8 -*-
# Copyright: Contributors to the octopus.ha collection
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""octopus_removal_summary: the node_remove role's result lists every cancelled, lost and stuck task and the time per phase."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import pytest

from ansible.errors import AnsibleFilterError
from ansible_collections.octopus.ha.plugins.filter.octopus_removal import octopus_removal_summary

ELAPSED = dict(drain=0.5, wait=0.0, cancel=0.0, delete=0.0)


def step(**values):
    result = dict(changed=False, elapsed=dict(ELAPSED))
    result.update(values)
    return result


def test_every_cancel_of_every_step_is_listed_once():
    steps = {
        'preflight': step(before={'Id': 'N'}, running_tasks=['T1', 'T2', 'T3'], interrupted_tasks=['T1']),
        'drain': step(cancelled_tasks=['T1']),                       # pending_interruptions=cancel at the drain
        'wait': step(cancelled_tasks=['T2'], elapsed=dict(ELAPSED, wait=60.0)),  # cancel_on_timeout at the deadline
        'cancel': {'changed': True, 'cancelled': ['T3'], 'stuck': ['T3']},  # octopus_task_cancel's keys
        'delete': step(cancelled_tasks=['T2', 'T4'], lost_tasks=['T4'], stuck_tasks=['T4'], deleted=True),
    }
    summary = octopus_removal_summary(steps, True)
    assert summary['cancelled_tasks'] == ['T1', 'T2', 'T3', 'T4']
    assert summary['lost_tasks'] == ['T4'] and summary['stuck_tasks'] == ['T3', 'T4']
    assert summary['interrupted_tasks'] == ['T1'] and summary['running_at_start'] == ['T1', 'T2', 'T3']
    assert summary['elapsed'] == dict(drain=1.5, wait=60.0, cancel=0.0, delete=0.0)
    assert summary['deleted'] is True and summary['record'] == 'deleted' and summary['service_stopped'] is True
    assert summary['text'].startswith('Cancelled: T1, T2, T3, T4. Lost (failed by the server): T4. Stuck: T3, T4. Record: deleted.')
    assert 'wait 60.0s' in summary['text']


def test_skipped_and_missing_steps_are_left_out():
    steps = {'preflight': step(before={'Id': 'N'}), 'drain': {'skipped': True, 'cancelled_tasks': ['X']},
             'delete': step(record_kept=True)}
    summary = octopus_removal_summary(steps)
    assert summary['cancelled_tasks'] == [] and summary['record_kept'] is True
    assert summary['record'].startswith('kept drained with task cap 0')


@pytest.mark.parametrize('delete, record', [
    (dict(reregistered=True, record_kept=True), 'kept: it registered again'),
    (dict(removed_by_other=True, deleted=True), 'deleted by someone else'),
    ({}, 'not deleted'),
])
def test_record_state_in_words(delete, record):
    summary = octopus_removal_summary({'preflight': step(before={'Id': 'N'}), 'delete': step(**delete)})
    assert summary['record'].startswith(record)


def test_a_node_that_was_not_registered():
    summary = octopus_removal_summary({'preflight': step(before={})})
    assert summary['registered'] is False and summary['record'] == 'not registered, nothing to remove'


def test_bad_input_is_a_filter_error():
    with pytest.raises(AnsibleFilterError):
        octopus_removal_summary(['not', 'a', 'dict'])
