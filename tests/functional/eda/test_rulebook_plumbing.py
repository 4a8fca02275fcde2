# -*- coding: utf-8 -*-

# Copyright: Contributors to the octopus.ha collection
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

"""The shipped rulebook and the aws_sqs_lifecycle source under the real ansible-rulebook, with a stub handler.

The stub handler only records the event and acknowledges the message, so these tests cover the
source/rulebook plumbing (routing, de-duplication, test notifications, malformed messages)
independently of the Octopus side. The real handlers are tested in test_eda_scale_in_e2e.py.
"""

from __future__ import absolute_import, division, print_function
__metaclass__ = type

import json

from rulebook_runner import run_rulebook, stub_rulebook

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


def test_routing_test_notification_duplicate_and_malformed(moto, tmp_path):
    instances = moto.create_group(size=2, launch_hook='octopus-join')
    queue = moto.create_queue(visibility_timeout=30)
    moto.send(queue, {'AccountId': '123456789012', 'Service': 'AWS Auto Scaling', 'Event': 'autoscaling:TEST_NOTIFICATION',
                      'AutoScalingGroupName': 'octopus-ha', 'Time': '2026-11-26T09:00:00Z', 'RequestId': 'r'})
    moto.send(queue, 'this is not JSON')
    term = moto.start_lifecycle_action(queue, instances[0], copies=2)
    launch = moto.start_lifecycle_action(queue, instances[1], transition='launching', hook='octopus-join')
    playbook, log = stub(tmp_path)

    proc = run_rulebook(tmp_path, moto, rulebook=stub_rulebook(tmp_path, playbook),
                        rulebook_vars={'octopus_lifecycle_queue_url': queue, 'octopus_lifecycle_visibility_timeout': 30})
    assert proc.returncode == 0, proc.stdout + proc.stderr
    seen = events(log)
    assert len(seen) == 2, proc.stdout[-3000:] + proc.stderr[-3000:]
    # One event per lifecycle action: the duplicate copy of the terminate message was not handed on.
    assert sorted((e['lifecycle']['transition'], e['instance_id']) for e in seen) == [
        ('launching', instances[1]), ('terminating', instances[0])]
    token_of = dict((e['instance_id'], e['lifecycle']['LifecycleActionToken']) for e in seen)
    assert token_of == {instances[0]: term['LifecycleActionToken'], instances[1]: launch['LifecycleActionToken']}
    assert all(e['queue_url'] == queue and e['receipt_handle'] for e in seen)
    # Left on the queue: the malformed message (for the DLQ) and the duplicate (handled later as a no-op).
    # The test notification and both handled messages were deleted.
    assert moto.queue_depth(queue) == 2


def test_source_by_queue_name_and_max_events(moto, tmp_path):
    instances = moto.create_group(size=2)
    queue = moto.create_queue(name='octo-by-name')
    moto.start_lifecycle_action(queue, instances[0])
    moto.start_lifecycle_action(queue, instances[1])
    playbook, log = stub(tmp_path)
    proc = run_rulebook(tmp_path, moto, rulebook=stub_rulebook(tmp_path, playbook),
                        rulebook_vars={'octopus_lifecycle_queue_name': 'octo-by-name', 'octopus_lifecycle_max_events': 1,
                                       'octopus_lifecycle_idle_timeout': 0})
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert len(events(log)) == 1
    assert moto.queue_depth(queue) == 1
