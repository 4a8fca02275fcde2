# -*- coding: utf-8 -*-

# Copyright: Contributors to the octopus.ha collection
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

"""PRIVATE to the octopus.ha collection (no compatibility promise): the rules of the event-driven flows.

* ``reconcile_plan`` decides what ``playbooks/reconcile.yml`` may do: which instances stuck in
  ``Terminating:Wait`` to finish, which offline node records are ghosts, what to leave alone and why,
  and which findings must stop the run before any change (a wrong view of AWS, too many removals).
* ``reconcile_recheck`` tells, from a fresh read just before a delete, whether a planned ghost is
  still one.
* ``handler_report`` turns what a lifecycle handler saw (the first heartbeat, the background
  heartbeat job, the completion) into one verdict and one summary line, so a heartbeat that failed
  or stopped, or an action that expired, is never reported as success.

The filters in ``plugins/filter/octopus_lifecycle.py`` are thin adapters over these functions.
"""

from __future__ import absolute_import, division, print_function
__metaclass__ = type

import re

GONE_STATES = ('terminated', 'shutting-down')
STUCK_STATE = 'Terminating:Wait'


class PlanError(ValueError):
    """The inputs are not what the reconciler needs (a programming or wiring error)."""


def _matches(regex, name):
    return bool(name) and re.search(regex, name) is not None


def _instance_states(ec2_instances):
    """instance id -> state name, or None when EC2 was not consulted."""
    if ec2_instances is None:
        return None
    states = {}
    for item in ec2_instances:
        state = item.get('state')
        states[item.get('instance_id')] = state.get('name') if isinstance(state, dict) else state
    return states


def _check_nodes(nodes):
    if not isinstance(nodes, list):
        return ['The Octopus node list could not be read, so nothing can be reconciled. Check that the API key may read the '
                'server nodes (GET /api/octopusservernodes and /summary).']
    unreadable = sorted(n.get('name') or '?' for n in nodes if n.get('offline') is None)
    if unreadable:
        return ['The cluster summary did not say whether %s are offline (key without permission, or an older server), so no '
                'node can be judged a ghost. Use a key that can read /api/octopusservernodes/summary.' % ', '.join(unreadable)]
    return []


def _wrong_view(instance_nodes, states, aws_label):
    """Online instance-named nodes whose instance EC2 does not know: the lookup looks at the wrong region/account/endpoint."""
    unknown = sorted(n['name'] for n in instance_nodes if not n['offline'] and n['name'] not in states)
    if not unknown:
        return []
    return ['Node(s) %s are online and named after EC2 instances, but EC2 (%s) knows no such instance. The reconciler is looking '
            'at the wrong region, account or endpoint, so it would take every instance for gone. Nothing was changed; fix '
            'octopus_aws_region / the credentials / octopus_aws_endpoint_url.' % (', '.join(unknown), aws_label)]


def _stuck(lifecycle, nodes_by_name, regex, min_age, skipped):
    """Instances in Terminating:Wait that this run may finish, and the ones it leaves alone (added to skipped)."""
    if not lifecycle:
        return []
    hook = lifecycle.get('hook') or {}
    heartbeat_timeout = hook.get('heartbeat_timeout') or 0
    found = []
    for instance in lifecycle.get('instances') or []:
        if instance.get('lifecycle_state') != STUCK_STATE:
            continue
        iid = instance.get('instance_id')
        why = None
        marker_age = instance.get('marker_age')
        wait_age = instance.get('wait_age')
        if not _matches(regex, iid):
            why = 'its instance id does not match the node name pattern, so no node is known to be named after it'
        elif marker_age is not None and marker_age < heartbeat_timeout:
            why = 'a lifecycle handler heartbeated it %d s ago (marker tag); it is being worked on' % marker_age
        elif wait_age is None:
            why = 'the start of its termination is unknown (no scaling activity found); a handler may still be working on it'
        elif wait_age < min_age:
            why = 'its termination started %d s ago, less than octopus_reconcile_min_age (%d s); its handler may still be starting' % (
                wait_age, min_age)
        if why:
            skipped.append(dict(name=iid, why=why))
            continue
        node = nodes_by_name.get(iid.lower())
        found.append(dict(instance_id=iid, node_id=node['id'] if node else None, node_offline=bool(node and node['offline']),
                          wait_age=wait_age, action='remove_and_continue' if node else 'continue'))
    return found


def _ghost_reason(node, states, instance_named, offline_after, remove_left_drained):
    """Why an offline node is a ghost, or (None, why it is kept)."""
    offline_for = node.get('seconds_since_last_seen')
    left_drained = node.get('drained') and node.get('max_concurrent_tasks') == 0
    if instance_named and states is not None:
        state = states.get(node['name'])
        if state is None:
            return 'its instance no longer exists', None
        if state in GONE_STATES:
            return 'its instance is %s' % state, None
        return None, 'its instance still exists (%s): an instance that exists protects its node' % state
    if offline_for is None:
        return None, 'how long it has been offline is unknown'
    if offline_for <= offline_after:
        return None, 'offline for %d s, not more than octopus_reconcile_offline_after (%d s)' % (offline_for, offline_after)
    if instance_named:
        return 'offline for %d s (no EC2 check)' % offline_for, None
    if remove_left_drained and left_drained:
        return 'left drained with task cap 0 by a scale-in and offline for %d s' % offline_for, None
    return None, 'not named after an instance'


def _ghosts(nodes, states, regex, offline_after, remove_left_drained, busy_instances, skipped):
    found = []
    for node in nodes:
        if not node['offline']:
            continue
        instance_named = _matches(regex, node['name'])
        if node['name'] in busy_instances:
            continue
        why, kept = _ghost_reason(node, states, instance_named, offline_after, remove_left_drained)
        if why:
            found.append(dict(name=node['name'], id=node['id'], why=why, last_seen=node.get('last_seen')))
        elif instance_named or (node.get('drained') and node.get('max_concurrent_tasks') == 0):
            skipped.append(dict(name=node['name'], why=kept))
    return found


def reconcile_plan(nodes, lifecycle=None, ec2_instances=None, name_regex=r'^i-[0-9a-f]{8,17}$', offline_after=3600, min_age=300,
                   max_removals=2, remove_left_drained=True, aws_label='the configured region'):
    """The reconciler's plan. Returns dict(stuck, ghosts, skipped, errors, removals); errors means: change nothing.

    nodes:          octopus.ha.octopus_cluster_info's `nodes`.
    lifecycle:      octopus.ha.autoscaling_lifecycle_info's result (hook, instances), or None without a group.
    ec2_instances:  amazon.aws.ec2_instance_info's `instances` for the instance-named nodes, or None when EC2 was not
                    consulted (no group given).
    """
    errors = _check_nodes(nodes)
    if errors:
        return dict(stuck=[], ghosts=[], skipped=[], errors=errors, removals=0)
    try:
        re.compile(name_regex)
    except re.error as e:
        raise PlanError('octopus_reconcile_node_name_regex %r is not a regular expression: %s' % (name_regex, e))
    states = _instance_states(ec2_instances)
    instance_nodes = [n for n in nodes if _matches(name_regex, n.get('name'))]
    if states is not None:
        errors = _wrong_view(instance_nodes, states, aws_label)
    skipped = []
    nodes_by_name = dict((n['name'].lower(), n) for n in nodes if n.get('name'))
    stuck = _stuck(lifecycle, nodes_by_name, name_regex, min_age, skipped)
    busy = set(i.get('instance_id') for i in (lifecycle or {}).get('instances') or [] if str(i.get('lifecycle_state', '')).endswith(':Wait'))
    ghosts = _ghosts(nodes, states, name_regex, offline_after, remove_left_drained, busy, skipped) if not errors else []
    removals = len(ghosts) + len([s for s in stuck if s['node_id']])
    if removals > max_removals:
        errors.append('This run would remove %d node record(s) (%s), more than octopus_reconcile_max_removals (%d). Nothing was '
                      'changed. Check the list (a wrong view of AWS or of the cluster looks like this), then re-run with a higher '
                      'octopus_reconcile_max_removals.' % (removals, ', '.join(sorted([g['name'] for g in ghosts] + [
                          s['instance_id'] for s in stuck if s['node_id']])), max_removals))
    return dict(stuck=stuck, ghosts=ghosts, skipped=skipped, errors=errors, removals=removals)


def reconcile_recheck(ghost, nodes):
    """'' when the planned ghost is still a ghost in this fresh read of the nodes, else why it is left alone now."""
    if not isinstance(nodes, list):
        return 'the nodes could not be read again'
    now = [n for n in nodes if n.get('id') == ghost.get('id')]
    if not now:
        return 'already gone'
    node = now[0]
    if node.get('offline') is not True:
        return 'it is no longer offline'
    if (node.get('last_seen') or None) != (ghost.get('last_seen') or None):
        return 'its LastSeen moved (%s -> %s): it heartbeated since the plan' % (ghost.get('last_seen'), node.get('last_seen'))
    return ''


def _heartbeat_problems(heartbeat, completed):
    """Problems of the background heartbeat job (its async_status result)."""
    if not heartbeat:
        return []
    if not heartbeat.get('finished'):
        return ['the heartbeat task did not end']
    stopped = heartbeat.get('stopped_because')
    if heartbeat.get('failed') or stopped == 'error':
        return ['the heartbeat failed: %s' % (heartbeat.get('msg') or heartbeat.get('last_error') or 'unknown error')]
    if stopped == 'max_duration' and not completed:
        return ['the heartbeat stopped at its max_duration before the action was completed']
    if stopped == 'inactive' and not completed:
        return ['the lifecycle action stopped being active during the work (it expired or someone else completed it)']
    return []


def _ran(result):
    """A registered task result, or {} when the task did not run (skipped, or never reached)."""
    return {} if not isinstance(result, dict) or result.get('skipped') else result


def handler_report(instance_id, plan, check=None, heartbeat=None, complete=None, failure=None, acknowledged=False):
    """One verdict for a lifecycle handler run. Returns dict(ok, problems, summary)."""
    check = _ran(check)
    heartbeat = _ran(heartbeat)
    complete = _ran(complete)
    completed = bool(complete.get('changed')) and complete.get('active', True)
    problems = []
    if failure:
        problems.append(failure)
    problems.extend(_heartbeat_problems(heartbeat, completed))
    parts = ['%s: %s' % (instance_id, plan or 'unknown plan')]
    result = (complete.get('lifecycle_action') or {}).get('result')
    if complete:
        parts.append('%s %s' % (result or 'completion', 'accepted' if completed else 'not accepted (%s)' % (complete.get('reason') or 'failed')))
    else:
        parts.append('lifecycle action not completed')
    if heartbeat:
        parts.append('%s heartbeat(s) sent, %s failed, stopped because %s' % (
            heartbeat.get('heartbeats', 0), heartbeat.get('failed_heartbeats', 0), heartbeat.get('stopped_because', 'unknown')))
    if check.get('seconds_left') is not None:
        parts.append('%s s of the GlobalTimeout were left at the start' % check['seconds_left'])
    parts.append('message acknowledged' if acknowledged else 'message left on the queue')
    summary = '; '.join(parts) + '.'
    if problems:
        summary += ' PROBLEMS: ' + ' / '.join(problems)
    return dict(ok=not problems, problems=problems, summary=summary)
