# -*- coding: utf-8 -*-

# Copyright: Contributors to the octopus.ha collection
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

"""What AWS does on a scale-in of a group with a terminate lifecycle hook, which moto 5.2.5 does not.

``test_autoscaling_moto.py::test_moto_honours_protection_but_not_hooks`` checks what moto itself does:
on a lower desired capacity it terminates the first unprotected instances at once (it honours
ProtectedFromScaleIn), but it never enters Terminating:Wait, never sends the hook's notification, and
when every instance is protected it never terminates one later, after a protection was removed.

For the groups registered here (``ScalingModel.register``), this model replaces moto's behaviour
with AWS's, as documented in the EC2 Auto Scaling user guide (instance scale-in protection,
lifecycle hooks, termination policies):

- a lower desired capacity picks victims among the *unprotected* InService instances, by the
  group's termination policy (``OldestInstance``: launch order; ``NewestInstance``: the reverse),
  puts each in ``Terminating:Wait``, starts its lifecycle action in the harness recorder and sends
  the lifecycle notification to the registered SQS queue (written to moto's SQS backend);
- when there are not enough unprotected instances, the desired capacity is lowered anyway and the
  rest of the scale-in waits: every later SetInstanceProtection and every completed lifecycle
  action re-checks the group and starts the deferred terminations;
- CompleteLifecycleAction (answered by the harness patch) then really removes the instance from the
  group and terminates it in EC2;
- a higher desired capacity launches the missing instances (InService at once: the model has no
  launch hook), counting only instances that are not terminating.

Every decision of the model is recorded in ``ScalingModel.events`` for the tests.
"""

from __future__ import absolute_import, division, print_function
__metaclass__ = type

import json
import threading
import time
import uuid

from moto.autoscaling.models import autoscaling_backends
from moto.autoscaling.responses import AutoScalingResponse
from moto.core.responses import EmptyResult
from moto.sqs.models import sqs_backends

from eda_moto_harness import ACCOUNT, RECORDER, REGION

TERMINATING_PREFIX = 'Terminating'
TERMINATE_TRANSITION = 'autoscaling:EC2_INSTANCE_TERMINATING'
POLICIES = ('OldestInstance', 'NewestInstance')


class ScalingModel:
    """Registered groups and the scale-in decisions taken for them."""

    def __init__(self):
        self.lock = threading.RLock()
        self.groups = {}
        self.events = []

    def reset(self):
        with self.lock:
            self.groups = {}
            self.events = []

    def register(self, group, queue_url, hook='octopus-drain', heartbeat_timeout=None, policy='OldestInstance'):
        """Model AWS scale-in for this group: hook notifications go to queue_url."""
        if policy not in POLICIES:
            raise ValueError('policy must be one of %s' % ', '.join(POLICIES))
        with self.lock:
            self.groups[group] = dict(queue_url=queue_url, hook=hook, heartbeat_timeout=heartbeat_timeout, policy=policy)

    def terminations(self, group=None):
        """The instances the model picked for termination, in order."""
        with self.lock:
            return [e['instance_id'] for e in self.events if e['kind'] == 'terminating' and group in (None, e['group'])]

    # ---- moto internals -----------------------------------------------------------------

    @staticmethod
    def _group(name):
        return autoscaling_backends[ACCOUNT][REGION].autoscaling_groups[name]

    @staticmethod
    def _counted(group):
        return [s for s in group.instance_states if not s.lifecycle_state.startswith(TERMINATING_PREFIX)]

    def _victims(self, group, spec, count):
        candidates = [s for s in group.instance_states if s.lifecycle_state == 'InService' and not s.protected_from_scale_in]
        if spec['policy'] == 'NewestInstance':
            candidates = list(reversed(candidates))
        return candidates[:max(0, count)]

    def _notify(self, group, spec, state):
        body = {
            'Origin': 'AutoScalingGroup', 'Destination': 'EC2', 'Service': 'AWS Auto Scaling', 'AccountId': ACCOUNT,
            'Time': time.strftime('%Y-%m-%dT%H:%M:%S.000Z', time.gmtime()), 'RequestId': str(uuid.uuid4()),
            'LifecycleTransition': TERMINATE_TRANSITION, 'LifecycleActionToken': str(uuid.uuid4()),
            'EC2InstanceId': state.instance.id, 'LifecycleHookName': spec['hook'], 'AutoScalingGroupName': group.name,
        }
        state.lifecycle_state = 'Terminating:Wait'
        RECORDER.start(group.name, spec['hook'], state.instance.id, body['LifecycleActionToken'], 'terminating',
                       spec['heartbeat_timeout'])
        queue_name = spec['queue_url'].rstrip('/').rsplit('/', 1)[-1]
        sqs_backends[ACCOUNT][REGION].send_message(queue_name, json.dumps(body))
        return body

    def converge(self, name):
        """Start the terminations the group still owes (deferred by scale-in protection)."""
        with self.lock:
            spec = self.groups.get(name)
            if spec is None:
                return []
            group = self._group(name)
            excess = len(self._counted(group)) - (group.desired_capacity or 0)
            victims = self._victims(group, spec, excess)
            for state in victims:
                self.events.append(dict(kind='terminating', group=name, instance_id=state.instance.id,
                                        protected={s.instance.id: bool(s.protected_from_scale_in) for s in group.instance_states}))
                self._notify(group, spec, state)
            if excess > len(victims):
                self.events.append(dict(kind='deferred', group=name, count=excess - len(victims)))
            return [s.instance.id for s in victims]

    def set_desired(self, name, desired):
        with self.lock:
            group = self._group(name)
            missing = desired - len(self._counted(group))
            group.desired_capacity = desired
            self.events.append(dict(kind='desired', group=name, desired=desired))
            if missing > 0:
                group.replace_autoscaling_group_instances(missing, group.get_propagated_tags())
                autoscaling_backends[ACCOUNT][REGION].update_attached_elbs(name)
                return
            self.converge(name)

    def finish(self, name):
        """Remove the instances whose lifecycle action was completed, as AWS does after Terminating:Proceed."""
        with self.lock:
            if name not in self.groups:
                return
            group = self._group(name)
            done = [s for s in group.instance_states if s.lifecycle_state == 'Terminating:Proceed']
            for state in done:
                group.instance_states.remove(state)
                self.events.append(dict(kind='terminated', group=name, instance_id=state.instance.id))
            if done:
                autoscaling_backends[ACCOUNT][REGION].ec2_backend.terminate_instances([s.instance.id for s in done])
            self.converge(name)


MODEL = ScalingModel()
_INSTALLED = []


def install():
    """Patch moto's AutoScalingResponse once (after the harness installed its lifecycle patches)."""
    if _INSTALLED:
        return MODEL
    original_desired = AutoScalingResponse.set_desired_capacity
    original_protection = AutoScalingResponse.set_instance_protection
    harness_complete = AutoScalingResponse.complete_lifecycle_action

    def set_desired_capacity(self):
        name = self._get_param('AutoScalingGroupName')  # pylint: disable=protected-access
        if name not in MODEL.groups:
            return original_desired(self)
        MODEL.set_desired(name, self._get_int_param('DesiredCapacity'))  # pylint: disable=protected-access
        return EmptyResult()

    def set_instance_protection(self):
        result = original_protection(self)
        MODEL.converge(self._get_param('AutoScalingGroupName'))  # pylint: disable=protected-access
        return result

    def complete_lifecycle_action(self):
        result = harness_complete(self)
        MODEL.finish(self._get_param('AutoScalingGroupName'))  # pylint: disable=protected-access
        return result

    AutoScalingResponse.set_desired_capacity = set_desired_capacity
    AutoScalingResponse.set_instance_protection = set_instance_protection
    AutoScalingResponse.complete_lifecycle_action = complete_lifecycle_action
    _INSTALLED.append(True)
    return MODEL
