# -*- coding: utf-8 -*-

# Copyright: Contributors to the octopus.ha collection
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

"""changed_when and failed_when on octopus_task_cancel behave as documented (issue 8 section 3).

The module used to return ``skipped``: with that key in a result ansible-core ignores changed_when
and failed_when, so ``failed_when: false`` in roles/node_remove never worked and a task that
cancelled a deployment was shown as ``skipping:``. One ansible-playbook run checks both.
"""

from __future__ import absolute_import, division, print_function
__metaclass__ = type

from scale_in_runner import cluster, task_states

PLAYBOOK = '''---
- name: octopus_task_cancel with changed_when and failed_when
  hosts: localhost
  gather_facts: false
  module_defaults:
    group/octopus.ha.octopus:
      url: "{{ lookup('ansible.builtin.env', 'OCTOPUS_URL') }}"
      api_key: "{{ lookup('ansible.builtin.env', 'OCTOPUS_API_KEY') }}"
  tasks:
    - name: Cancel, reported as not changed
      octopus.ha.octopus_task_cancel:
        node_name: OCTO-NODE-01
        task_ids: "{{ cancel_ids }}"
        wait: false
      register: cancel_quiet
      changed_when: false

    - name: Cancel a stuck task, not failing
      octopus.ha.octopus_task_cancel:
        task_ids: ["{{ stuck_id }}"]
        wait_timeout: 30
        poll_interval: 1
      register: cancel_stuck
      failed_when: false

    - name: Cancel again, reported as changed although nothing changed
      octopus.ha.octopus_task_cancel:
        task_ids: ["{{ stuck_id }}"]
        wait: false
      register: cancel_loud
      changed_when: true

    - name: Check what the conditions did
      ansible.builtin.assert:
        that:
          - cancel_quiet is not changed
          - cancel_quiet is not skipped
          - cancel_quiet.cancelled == [cancel_ids[0]]
          - cancel_quiet.not_selected == [cancel_ids[1]]
          - cancel_stuck is not failed
          - cancel_stuck.stuck == [stuck_id]
          - cancel_loud is changed
'''


def test_changed_when_and_failed_when_apply(sim_factory, run_playbook, octopus_env):
    sim = sim_factory(cluster(nodes=('OCTO-NODE-01', 'OCTO-NODE-02', {'Name': 'OCTO-GONE', 'Heartbeat': False, 'LastSeenAgo': 7200}),
                              timing={'orphan_after': 10 ** 7}), speed=0)
    mine = sim.control.add_task(Name='Deploy', ServerNode='OCTO-NODE-01', State='Executing', Duration=10 ** 6)
    other = sim.control.add_task(Name='Deploy', ServerNode='OCTO-NODE-02', State='Executing', Duration=10 ** 6)
    stuck = sim.control.add_task(Name='Deploy', ServerNode='OCTO-GONE', State='Executing', Duration=10 ** 6)
    run = run_playbook(PLAYBOOK, env=octopus_env(sim),
                       extra_vars={'cancel_ids': [mine['Id'], other['Id']], 'stuck_id': stuck['Id']})
    assert run.rc == 0, run.explain()
    statuses = dict((r['task'], r['status']) for r in run.results)
    assert statuses['Cancel, reported as not changed'] == 'ok'
    assert statuses['Cancel a stuck task, not failing'] == 'ok'
    assert run.task('Cancel, reported as not changed')['changed'] is False
    assert run.task('Cancel again, reported as changed although nothing changed')['changed'] is True
    states = task_states(sim)
    assert states[mine['Id']] == 'Cancelling' and states[other['Id']] == 'Executing'
    assert run.stats['localhost']['failures'] == 0 and run.stats['localhost']['skipped'] == 0
