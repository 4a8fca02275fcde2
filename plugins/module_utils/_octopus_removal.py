# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# Copyright: Contributors to the octopus.ha collection
"""What one removal by the node_remove role did, from the results of its module calls.

This module_util is PRIVATE to the octopus.ha collection, not a public API.
It may change without notice between any two releases.

The role registers the result of each step (preflight, drain, wait, cancel, delete) and passes
them to the ``octopus_removal_summary`` filter, a thin adapter over ``removal_summary`` here. The
result is the role's contract (the fact ``node_remove_result``, see docs/scale-in.md): every
cancelled task (during the drain, pending interruptions, at the deadline, orphans), every lost and
stuck task, whether the record was deleted or kept, and the time each phase took.
"""

from __future__ import absolute_import, division, print_function
__metaclass__ = type

STEPS = ('preflight', 'drain', 'wait', 'cancel', 'delete')
PHASES = ('drain', 'wait', 'cancel', 'delete')


def _ids(result, *keys):
    found = []
    for key in keys:
        value = (result or {}).get(key) or []
        found.extend(str(i) for i in value if isinstance(value, list))
    return found


def _union(lists):
    merged = []
    for items in lists:
        merged.extend(i for i in items if i not in merged)
    return merged


def _ran(result):
    """A registered result of a step that ran (a skipped task registers skipped=True, an unset one is {})."""
    return isinstance(result, dict) and bool(result) and not result.get('skipped')


def removal_summary(steps, service_stopped=False):
    """The summary of one removal. ``steps`` maps STEPS names to registered results (missing or skipped allowed)."""
    steps = dict((name, steps.get(name) if _ran(steps.get(name)) else {}) for name in STEPS)
    real = [steps[name] for name in ('drain', 'wait', 'cancel', 'delete')]
    delete = steps['delete']
    elapsed = dict((phase, 0.0) for phase in PHASES)
    for result in real:
        for phase, seconds in ((result.get('elapsed') or {}).items() if isinstance(result.get('elapsed'), dict) else ()):
            if phase in elapsed and isinstance(seconds, (int, float)):
                elapsed[phase] += seconds
    summary = dict(
        cancelled_tasks=_union(_ids(r, 'cancelled_tasks', 'cancelled') for r in real),
        lost_tasks=_union(_ids(r, 'lost_tasks') for r in real),
        stuck_tasks=_union(_ids(r, 'stuck_tasks', 'stuck') for r in real),
        interrupted_tasks=_union(_ids(r, 'interrupted_tasks') for r in [steps['preflight']] + real),
        running_at_start=_ids(steps['preflight'], 'running_tasks'),
        deleted=bool(delete.get('deleted')),
        record_kept=bool(delete.get('record_kept')),
        reregistered=bool(delete.get('reregistered')),
        removed_by_other=any(bool(r.get('removed_by_other')) for r in real),
        service_stopped=bool(service_stopped),
        registered=bool(steps['preflight'].get('before')) if steps['preflight'] else True,
        elapsed=dict((k, round(v, 3)) for k, v in elapsed.items()),
    )
    summary['record'] = record_state(summary)
    summary['text'] = summary_text(summary)
    return summary


def record_state(summary):
    if not summary['registered']:
        return 'not registered, nothing to remove'
    if summary['reregistered']:
        return 'kept: it registered again after the delete, so it was drained again with task cap 0'
    if summary['record_kept']:
        return 'kept drained with task cap 0: the service was not stopped and the server reports the node online'
    if summary['deleted'] or summary['removed_by_other']:
        return 'deleted' if not summary['removed_by_other'] else 'deleted by someone else'
    return 'not deleted'


def summary_text(summary):
    def listed(key):
        return ', '.join(summary[key]) or 'none'
    times = ', '.join('%s %ss' % (phase, summary['elapsed'][phase]) for phase in PHASES)
    return ('Cancelled: %s. Lost (failed by the server): %s. Stuck: %s. Record: %s. Time: %s.'
            % (listed('cancelled_tasks'), listed('lost_tasks'), listed('stuck_tasks'), summary['record'], times))
