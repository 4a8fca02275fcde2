# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# Copyright: Contributors to the octopus.ha collection
"""Scaling decisions that follow Octopus's own work. Pure functions: no I/O, no cloud SDK.

This module_util is PRIVATE to the octopus.ha collection, not a public API.
It may change without notice between any two releases.

The cloud modules (AWS today: autoscaling_scale_in_protection, autoscaling_queue_capacity,
cloudwatch_metric_data) read the group, call these functions and apply the result. An Azure
scale set back end (per-instance ``protectFromScaleIn``, ``sku.capacity``) can reuse them as they are:
instances and groups are passed in a cloud-neutral shape.

- ``plan_protection``: which instances must be protected from scale-in (their node runs tasks) and
  which must not (idle or offline nodes), never leaving every in-service instance protected while
  the group is above its minimum size.
- ``decide_capacity``: the direct-mode decision (scale out on a sustained backlog, in by one on a
  sustained quiet cluster) with cooldown, hysteresis, floors and ceilings.
- ``queue_metric_data``: the CloudWatch metrics of one reading of the queue facts.
- ``history_entry``: what the octopus_cluster event source keeps of each poll for these decisions.
"""

from __future__ import absolute_import, division, print_function
__metaclass__ = type

import json
import math

IN_SERVICE = 'InService'
TRANSITIONAL_PREFIXES = ('Pending', 'Terminating', 'EnteringStandby', 'Detaching')
AMBIGUOUS = object()

HISTORY_FACTS = ('queued_task_count', 'running_task_count', 'task_capacity', 'task_node_count', 'free_task_slots',
                 'slot_utilisation', 'backlog_per_slot', 'oldest_queued_task_age')

DEFAULT_POLICY = dict(
    scale_out_backlog=0.5,                   # queued tasks per slot above which a poll counts for scale-out ...
    scale_out_min_utilisation=0.8,           # ... provided the slots are this full (free slots absorb a queue)
    scale_out_polls=3,                       # N: consecutive polls with the scale-out signal
    scale_out_max_step=2,                    # at most this many instances added at once
    scale_in_utilisation=0.3,                # utilisation below which a poll (with an empty queue) counts for scale-in
    scale_in_polls=10,                       # M: consecutive polls with the scale-in signal
    scale_in_max_projected_utilisation=0.7,  # hysteresis: the utilisation after removing one node must stay below this
    cooldown=300,                            # seconds (server clock) after any change before the next decision
    min_capacity=1,                          # floor besides the group's MinSize: the capacity guard's node count
    node_task_cap=5,                         # slots of a new node when the cluster has no task node to measure
    max_fact_age=0,                          # seconds; facts observed longer ago are not acted upon (0: no limit)
)

# (CloudWatch metric name, queue fact, unit, factor)
QUEUE_METRICS = (
    ('QueuedTasks', 'queued_task_count', 'Count', 1),
    ('OldestQueuedTaskAge', 'oldest_queued_task_age', 'Seconds', 1),
    ('RunningTasks', 'running_task_count', 'Count', 1),
    ('TaskCapacity', 'task_capacity', 'Count', 1),
    ('FreeTaskSlots', 'free_task_slots', 'Count', 1),
    ('SlotUtilisation', 'slot_utilisation', 'Percent', 100),
    ('BacklogPerSlot', 'backlog_per_slot', 'None', 1),
)


def _key(value):
    return str(value or '').strip().lower()


def _count(value):
    """An int fact, or None (bools and other types are not counts)."""
    return value if isinstance(value, int) and not isinstance(value, bool) else None


# ---------------------------------------------------------------------------- history


def history_entry(poll, ok, polled_at, observed_at, facts=None, error=None):
    """One poll as the decisions see it: the counts and ratios, or ok=False with the error text."""
    entry = dict(poll=poll, ok=bool(ok), polled_at=polled_at, observed_at=observed_at)
    entry.update((k, (facts or {}).get(k)) for k in HISTORY_FACTS)
    if error:
        entry['error'] = error
    return entry


# ---------------------------------------------------------------------------- protection


def map_nodes(instance_ids, nodes, instance_map=None):
    """instance id -> node facts, None (no node) or AMBIGUOUS.

    With instance_map (instance id -> node name) only the mapping counts; without it, a node whose
    name is the instance id (what the scale-out gives new nodes), compared case-insensitively.
    """
    by_name = {}
    for node in nodes or []:
        by_name.setdefault(_key(node.get('name')), []).append(node)
    mapping = dict((_key(k), v) for k, v in (instance_map or {}).items())
    result = {}
    for instance_id in instance_ids:
        wanted = _key(mapping.get(_key(instance_id))) if instance_map else _key(instance_id)
        found = by_name.get(wanted, []) if wanted else []
        result[instance_id] = found[0] if len(found) == 1 else (AMBIGUOUS if found else None)
    return result


def _wanted(instance, node, nodes_known):
    """(protect True/False/None=leave as it is, reason) for one instance."""
    if instance['lifecycle_state'] != IN_SERVICE:
        return None, 'not in service (%s)' % instance['lifecycle_state']
    if not nodes_known:
        return None, 'no Octopus node facts (the cluster could not be read)'
    if node is AMBIGUOUS:
        return None, 'more than one Octopus node matches this instance'
    if node is None:
        return None, 'no Octopus node is named after or mapped to this instance'
    name = node.get('name')
    if node.get('offline') is True:
        return False, 'node %s is offline' % name
    running = _count(node.get('running_task_count'))
    if running is None:
        return None, 'the running tasks of node %s are unknown' % name
    if running > 0:
        return True, 'node %s runs %d task%s' % (name, running, '' if running == 1 else 's')
    return False, 'node %s is idle' % name


def _keep_one_unprotected(entries, above_min):
    """Never leave every in-service instance protected while the group can scale in: unprotect the least busy."""
    in_service = [e for e in entries if e['lifecycle_state'] == IN_SERVICE]
    unprotected = [e for e in in_service if e['protect'] is False or (e['protect'] is None and not e['protected'])]
    if not above_min or not in_service or unprotected:
        return None
    candidates = [e for e in in_service if e['protect'] is True]
    if not candidates:
        return None
    chosen = min(candidates, key=lambda e: (e['running_task_count'] or 0, 1 if e['protected'] else 0, e['instance_id']))
    chosen['protect'] = False
    chosen['reason'] += ('; left unprotected so that the group can still scale in (every other in-service instance is busy '
                         'or unknown, and the group is above its minimum size)')
    return chosen['instance_id']


def plan_protection(instances, nodes, min_size, desired_capacity, instance_map=None):
    """Which instances to protect from scale-in and which to release.

    instances: [{'instance_id', 'lifecycle_state', 'protected'}]; nodes: node facts with name,
    running_task_count and offline (octopus_cluster_info ``nodes`` or the event source's), or None
    when the cluster could not be read (then nothing changes). Returns a dict with ``instances``
    (per instance: node, running_task_count, protected, protect, reason), ``protect`` and
    ``unprotect`` (the ids whose setting must change, sorted), ``kept_unprotected``,
    ``above_min_size`` and ``all_protected`` (every in-service instance stays protected).
    """
    nodes_known = nodes is not None
    found = map_nodes([i['instance_id'] for i in instances], nodes, instance_map)
    entries = []
    for instance in sorted(instances, key=lambda i: i['instance_id']):
        node = found.get(instance['instance_id'])
        protect, reason = _wanted(instance, node, nodes_known)
        real = node if isinstance(node, dict) else None
        entries.append(dict(instance_id=instance['instance_id'], lifecycle_state=instance['lifecycle_state'],
                            protected=bool(instance.get('protected')), node=real.get('name') if real else None,
                            running_task_count=_count(real.get('running_task_count')) if real else None,
                            protect=protect, reason=reason))
    above_min = min_size is None or desired_capacity is None or desired_capacity > min_size
    kept = _keep_one_unprotected(entries, above_min)
    in_service = [e for e in entries if e['lifecycle_state'] == IN_SERVICE]
    after = [e['protected'] if e['protect'] is None else e['protect'] for e in in_service]
    return dict(
        instances=entries,
        protect=sorted(e['instance_id'] for e in entries if e['protect'] is True and not e['protected']),
        unprotect=sorted(e['instance_id'] for e in entries if e['protect'] is False and e['protected']),
        kept_unprotected=kept, above_min_size=above_min, nodes_known=nodes_known,
        all_protected=bool(in_service) and all(after),
    )


# ---------------------------------------------------------------------------- capacity


def policy_errors(policy):
    """Sentences naming every invalid policy value (empty when the policy is usable)."""
    errors = []
    for name in ('scale_out_polls', 'scale_in_polls', 'scale_out_max_step', 'node_task_cap'):
        if _count(policy.get(name)) is None or policy[name] < 1:
            errors.append('%s must be a whole number of at least 1, got %r.' % (name, policy.get(name)))
    for name in ('cooldown', 'min_capacity', 'max_fact_age'):
        if _count(policy.get(name)) is None or policy[name] < 0:
            errors.append('%s must be a whole number of at least 0, got %r.' % (name, policy.get(name)))
    for name in ('scale_out_backlog', 'scale_out_min_utilisation', 'scale_in_utilisation', 'scale_in_max_projected_utilisation'):
        value = policy.get(name)
        if isinstance(value, bool) or not isinstance(value, (int, float)) or value < 0:
            errors.append('%s must be a number of at least 0, got %r.' % (name, value))
    if not errors and policy['scale_in_max_projected_utilisation'] >= policy['scale_out_min_utilisation']:
        errors.append('scale_in_max_projected_utilisation (%s) must be below scale_out_min_utilisation (%s): otherwise a '
                      'scale-in can leave the cluster busy enough to scale out again at once (no hysteresis).'
                      % (policy['scale_in_max_projected_utilisation'], policy['scale_out_min_utilisation']))
    if not errors and policy['scale_in_utilisation'] > policy['scale_in_max_projected_utilisation']:
        errors.append('scale_in_utilisation (%s) must not exceed scale_in_max_projected_utilisation (%s).'
                      % (policy['scale_in_utilisation'], policy['scale_in_max_projected_utilisation']))
    return errors


def _known(entry):
    counts = [_count(entry.get(k)) for k in ('queued_task_count', 'running_task_count', 'task_capacity')]
    return bool(entry.get('ok')) and None not in counts


def scale_out_signal(entry, policy):
    """The poll shows queued work that the free slots cannot absorb."""
    if not _known(entry):
        return False
    queued, running, cap = entry['queued_task_count'], entry['running_task_count'], entry['task_capacity']
    if queued == 0:
        return False
    if cap == 0:
        return True
    return queued / float(cap) > policy['scale_out_backlog'] and running / float(cap) >= policy['scale_out_min_utilisation']


def projected_utilisation(entry):
    """Utilisation if one average task node were removed; None when no node can be removed."""
    nodes, cap = _count(entry.get('task_node_count')), entry['task_capacity']
    if not nodes or nodes < 2 or not cap:
        return None
    return entry['running_task_count'] / (cap - cap / float(nodes))


def scale_in_signal(entry, policy):
    """The poll shows an empty queue, low utilisation, and room for the running tasks on one node less."""
    if not _known(entry) or entry['queued_task_count'] != 0 or not entry['task_capacity']:
        return False
    if entry['running_task_count'] / float(entry['task_capacity']) >= policy['scale_in_utilisation']:
        return False
    projected = projected_utilisation(entry)
    return projected is not None and projected <= policy['scale_in_max_projected_utilisation']


def _streak(entries, signal, policy):
    run = []
    for entry in reversed(entries):
        if not signal(entry, policy):
            break
        run.append(entry)
    return list(reversed(run))


def in_flight(group):
    """A sentence when the group has not settled since its last change (launching or terminating instances), else None."""
    moving = sorted('%s %s' % (i['instance_id'], i['lifecycle_state']) for i in group['instances']
                    if str(i['lifecycle_state']).startswith(TRANSITIONAL_PREFIXES))
    if moving:
        return 'a scaling change is still in progress (%s)' % ', '.join(moving)
    in_service = len([i for i in group['instances'] if i['lifecycle_state'] == IN_SERVICE])
    if in_service != group['desired_capacity']:
        return ('the group has %d in-service instances for a desired capacity of %d (a scale-in waits for an instance '
                'without scale-in protection, or instances are being replaced)' % (in_service, group['desired_capacity']))
    return None


def scale_out_step(entry, policy):
    """Instances to add: enough task nodes for the queue the free slots cannot take, 1 to scale_out_max_step."""
    cap, running, queued = entry['task_capacity'], entry['running_task_count'], entry['queued_task_count']
    excess = max(1, queued - max(0, cap - running))
    nodes = _count(entry.get('task_node_count'))
    per_node = cap / float(nodes) if nodes and cap else float(policy['node_task_cap'])
    return int(min(policy['scale_out_max_step'], max(1, math.ceil(excess / per_node))))


def decide_capacity(history, group, policy, last_change=None, now=None):
    """The direct-mode decision for the newest poll of history (oldest first).

    group: {'min_size', 'max_size', 'desired_capacity', 'instances': [{'instance_id', 'lifecycle_state'}]}.
    last_change: {'time': epoch (server clock of the poll that caused it), ...} or None.
    now: the controller clock, only for max_fact_age. Returns a dict with action (scale_out,
    scale_in or none), desired_before, desired_after, reason, the facts of the newest poll and
    the polls that justify a change (evidence).
    """
    desired = group['desired_capacity']
    floor = max(group['min_size'], policy['min_capacity'])
    latest = history[-1] if history else None
    decision = dict(action='none', desired_before=desired, desired_after=desired, floor=floor, ceiling=group['max_size'],
                    poll=latest.get('poll') if latest else None, polled_at=latest.get('polled_at') if latest else None,
                    facts=dict(latest) if latest else None, scale_out_streak=0, scale_in_streak=0, evidence=[])

    def done(reason):
        decision['reason'] = reason
        return decision

    if latest is None:
        return done('no poll yet: no decision without facts')
    if not latest.get('ok'):
        return done('the latest poll failed (%s): no decision from missing facts' % (latest.get('error') or 'unknown error'))
    if not _known(latest):
        missing = [k for k in ('queued_task_count', 'running_task_count', 'task_capacity') if _count(latest.get(k)) is None]
        return done('facts missing in the latest poll (%s): no decision from missing facts' % ', '.join(missing))
    if latest.get('polled_at') is None:
        return done('the latest poll has no time: cooldowns cannot be checked')
    age = None if now is None or latest.get('observed_at') is None else now - latest['observed_at']
    if policy['max_fact_age'] and age is not None and age > policy['max_fact_age']:
        return done('the facts are %d s old (max_fact_age %d s): a newer poll will decide' % (age, policy['max_fact_age']))
    # Polls after the last change count; a failed poll (no time) stays in, so that it breaks a streak.
    fresh = [e for e in history if last_change is None or e.get('polled_at') is None or e['polled_at'] > last_change['time']]
    out_run, in_run = _streak(fresh, scale_out_signal, policy), _streak(fresh, scale_in_signal, policy)
    decision.update(scale_out_streak=len(out_run), scale_in_streak=len(in_run))
    moving = in_flight(group)
    if moving:
        return done(moving)
    if last_change is not None and latest['polled_at'] - last_change['time'] < policy['cooldown']:
        return done('cooldown: %d s left after the change at poll time %s' % (
            math.ceil(policy['cooldown'] - (latest['polled_at'] - last_change['time'])), last_change['time']))
    if len(out_run) >= policy['scale_out_polls']:
        if desired >= group['max_size']:
            return done('the queue needs capacity for %d polls, but the group is at its maximum size %d' % (len(out_run), desired))
        decision.update(action='scale_out', desired_after=min(group['max_size'], desired + scale_out_step(latest, policy)),
                        evidence=out_run[-policy['scale_out_polls']:])
        return done('backlog per slot above %s with utilisation at least %s for %d polls'
                    % (policy['scale_out_backlog'], policy['scale_out_min_utilisation'], len(out_run)))
    if len(in_run) >= policy['scale_in_polls']:
        if desired - 1 < floor:
            return done('quiet for %d polls, but the group is at its floor %d (max of MinSize %d and min_capacity %d)'
                        % (len(in_run), floor, group['min_size'], policy['min_capacity']))
        decision.update(action='scale_in', desired_after=desired - 1, evidence=in_run[-policy['scale_in_polls']:])
        return done('empty queue and utilisation below %s (at most %s with one node less) for %d polls'
                    % (policy['scale_in_utilisation'], policy['scale_in_max_projected_utilisation'], len(in_run)))
    return done('no sustained signal (scale-out %d/%d polls, scale-in %d/%d polls)'
                % (len(out_run), policy['scale_out_polls'], len(in_run), policy['scale_in_polls']))


def encode_last_change(decision):
    """The group tag value that records a change (at most 256 characters, as AWS allows)."""
    return json.dumps(dict(time=decision['polled_at'], action=decision['action'], poll=decision['poll'],
                           desired_before=decision['desired_before'], desired_after=decision['desired_after']),
                      sort_keys=True, separators=(',', ':'))[:256]


def decode_last_change(value):
    """The last change recorded in the group tag, or None when absent or unreadable."""
    try:
        data = json.loads(value) if value else None
    except ValueError:
        return None
    if not isinstance(data, dict) or isinstance(data.get('time'), bool) or not isinstance(data.get('time'), (int, float)):
        return None
    return data


# ---------------------------------------------------------------------------- metrics


def queue_metric_data(facts, timestamp=None, metrics=None):
    """CloudWatch metric data of one reading; facts that are None are left out (no data, never a made-up 0)."""
    wanted = set(metrics) if metrics else None
    data = []
    for name, key, unit, factor in QUEUE_METRICS:
        value = (facts or {}).get(key)
        if wanted is not None and name not in wanted:
            continue
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            continue
        datum = dict(metric_name=name, value=round(value * factor, 4) if factor != 1 else value, unit=unit)
        if timestamp is not None:
            datum['timestamp'] = timestamp
        data.append(datum)
    return data
