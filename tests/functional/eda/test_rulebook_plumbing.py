# -*- coding: utf-8 -*-

# Copyright: Contributors to the octopus.ha collection
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

"""The shipped rulebook and the aws_sqs_lifecycle source under the real ansible-rulebook, with a stub handler.

The stub handler only records the event and acknowledges the message, so these tests cover the
source/rulebook plumbing (routing, plans, de-duplication, test notifications, malformed messages,
credential errors) independently of the Octopus side. The real handlers are tested in
test_eda_scale_in_e2e.py and test_eda_scale_out_e2e.py. Each run ends when the test has seen what
it waits for (rulebook_runner.RulebookRun), never on an idle timeout.

Cost: about 15 s per test on an idle machine (ansible-rulebook start-up and one stub run per event).
"""

from __future__ import absolute_import, division, print_function
__metaclass__ = type

import json

from rulebook_runner import RulebookRun

STUB = """
- name: Stub lifecycle handler (test only)
  hosts: localhost
  gather_facts: false
  tasks:
    - name: Record the event
      ansible.builtin.shell: "echo '{{ ansible_eda.event | to_json }}' >> %(log)s"
      changed_when: true
    - name: Acknowledge the message
      octopus.ha.sqs_message:
        queue_url: "{{ ansible_eda.event.queue_url }}"
        receipt_handle: "{{ ansible_eda.event.receipt_handle }}"
"""


def stub(tmp_path):
    log = tmp_path / 'events.jsonl'
    (tmp_path / 'handler').mkdir()
    playbook = tmp_path / 'handler' / 'stub_handler.yml'
    playbook.write_text(STUB % {'log': log})
    return str(playbook), log


def events(log):
    return [json.loads(line) for line in log.read_text().splitlines()] if log.exists() else []


def stub_run(tmp_path, moto, rulebook_vars):
    playbook, log = stub(tmp_path)
    replace = {'name: octopus.ha.eda_scale_in': 'name: %s' % playbook, 'name: octopus.ha.eda_scale_out': 'name: %s' % playbook}
    return RulebookRun(tmp_path, moto, rulebook_vars=rulebook_vars, replace=replace), log


def test_routing_plans_test_notification_duplicate_and_malformed(moto, tmp_path):
    instances = moto.create_group(size=3, launch_hook='octopus-join')
    queue = moto.create_queue(visibility_timeout=30)
    moto.send(queue, {'AccountId': '123456789012', 'Service': 'AWS Auto Scaling', 'Event': 'autoscaling:TEST_NOTIFICATION',
                      'AutoScalingGroupName': 'octopus-ha', 'Time': '2026-11-26T09:00:00Z', 'RequestId': 'r'})
    moto.send(queue, 'this is not JSON')
    term = moto.start_lifecycle_action(queue, instances[0], copies=2)
    launch = moto.start_lifecycle_action(queue, instances[1], transition='launching', hook='octopus-join')
    warm = moto.start_lifecycle_action(queue, instances[2], transition='launching', hook='octopus-join', destination='WarmPool')

    with stub_run(tmp_path, moto, {'octopus_lifecycle_queue_url': queue, 'octopus_lifecycle_visibility_timeout': 30})[0] as run:
        log = tmp_path / 'events.jsonl'
        run.wait_for(lambda: len(events(log)) == 3 and moto.queue_depth(queue) == 2, 'three events handled')
        run.finish()
    assert run.returncode == 0, run.explain()
    seen = events(log)
    # One event per lifecycle action: the duplicate copy of the terminate message was not handed on.
    assert sorted((e['lifecycle']['transition'], e['lifecycle']['plan'], e['instance_id']) for e in seen) == sorted([
        ('launching', 'scale_out', instances[1]), ('launching', 'continue', instances[2]), ('terminating', 'scale_in', instances[0])])
    token_of = dict((e['instance_id'], e['lifecycle']['LifecycleActionToken']) for e in seen)
    assert token_of == {instances[0]: term['LifecycleActionToken'], instances[1]: launch['LifecycleActionToken'],
                        instances[2]: warm['LifecycleActionToken']}
    assert all(e['queue_url'] == queue and e['receipt_handle'] and e['first_delivery'] is True for e in seen)
    # Left on the queue: the malformed message (for the DLQ) and the duplicate (held back while its action is handled).
    # The test notification and the three handled messages were deleted.
    assert moto.queue_depth(queue) == 2
    assert '"held_back": 1' in run.output and '"malformed": 1' in run.output, 'the source logs its stats when it ends'


def test_credential_errors_stop_the_source_at_once(moto, tmp_path):
    """AccessDenied / InvalidClientTokenId are not retried forever: the source ends with a sentence that says what to fix."""
    queue = moto.create_queue(name='octo-denied')
    moto.recorder.inject('sqs_receive', 'InvalidClientTokenId', count=1000)
    playbook, log = stub(tmp_path)
    replace = {'name: octopus.ha.eda_scale_in': 'name: %s' % playbook, 'name: octopus.ha.eda_scale_out': 'name: %s' % playbook}
    with RulebookRun(tmp_path, moto, rulebook_vars={'octopus_lifecycle_queue_url': queue}, replace=replace) as run:
        run.wait_for(lambda: run.proc.poll() is not None or 'retrying cannot help' in run.output, 'the source to give up')
        run.finish()
    assert 'InvalidClientTokenId' in run.output and 'retrying cannot help' in run.output, run.explain()
    receives = [c for c in moto.recorder.calls if c['kind'] == 'sqs_receive']
    assert len(receives) <= 5, 'not retried: botocore\'s own attempts only'
