# -*- coding: utf-8 -*-

# Copyright: Contributors to the octopus.ha collection
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

"""What a person reads while octopus_node waits, through a real ansible-playbook (issue 11 section 4, issue 12 section 3).

The simulator's clock is frozen, and the deployment ends only when the test finishes it, after the
first progress line was printed: nothing here depends on how fast the machine is. Checked: the
progress lines name the node, each task with its description and how long it has run by the
server's clock; no line is repeated; a poll while nothing changes is one request; the diff shows
only the fields that change; a drain is diffed once in a role run; the action plugin's internal
channel is in neither ansible-doc nor an "Unsupported parameters" error.
"""

from __future__ import absolute_import, division, print_function
__metaclass__ = type

import json
import os
import subprocess
import threading

from scale_in_runner import REPO, TARGET, TARGET_ID, by_method, cluster, node_names, requests_since

SEGMENT_OPTION = '_octopus_node_segment'
EVENT_TIMEOUT = 240   # bounds a hang only; the test waits for events, never for time
ONE_DAY = 86400       # the deployment ends when the test finishes it

REMOVE = '''
- name: Remove one node
  hosts: localhost
  gather_facts: false
  tasks:
    - name: Drain, wait and delete the node
      octopus.ha.octopus_node:
        name: %s
        state: absent
        reregistration_watch: 2
      delegate_to: "{{ remove_from | default(omit) }}"
''' % TARGET


class LineReader(threading.Thread):
    """Collects a process's output lines and signals when one starts with a given text."""

    def __init__(self, stream, wanted):
        super(LineReader, self).__init__(daemon=True)
        self.stream = stream
        self.wanted = wanted
        self.lines = []
        self.seen = threading.Event()

    def run(self):
        for line in self.stream:
            self.lines.append(line.rstrip('\n'))
            if len(self.lines) >= 2 and self.lines[-2].startswith(self.wanted):
                self.seen.set()
        self.seen.set()


def blocks(lines):
    """The progress texts: a line starting with 'octopus_node: ' and the indented task lines under it."""
    found = []
    for line in lines:
        if line.startswith('octopus_node: '):
            found.append([line])
        elif found and line.startswith('  ') and not line.startswith('   ') and len(found[-1]) < 12 and found[-1][-1] != '':
            found[-1].append(line)
        elif found:
            found[-1].append('')
    return ['\n'.join(b for b in block if b) for block in found]


def test_progress_lines_diff_and_requests_of_a_real_wait(sim_factory, scale_in, tmp_path, inventory_file):
    sim = sim_factory(cluster(), speed=0)
    task = sim.control.add_task(Name='Deploy', Description='Deploy Web 1.0.0 to Production', SpaceId='Spaces-1',
                                State='Executing', ServerNode=TARGET, Duration=ONE_DAY)
    sim.control.advance(250)                      # the deployment has run for 4m10s by the server's clock
    playbook = tmp_path / 'remove.yml'
    playbook.write_text(REMOVE)
    sim.control.clear_requests()
    # Delegated, as to a bastion that reaches the API: every run of the wait goes through the delegated connection.
    inventory = inventory_file({'bastion': {'ansible_connection': 'local'}})
    running = scale_in(sim, node=None, playbook=str(playbook), background=True, inventory=inventory,
                       extra_vars={'remove_from': 'bastion'}, args=['--diff'])
    reader = LineReader(running.proc.stdout, 'octopus_node: %s drained, waiting for 1 task' % TARGET)
    reader.start()
    assert reader.seen.wait(EVENT_TIMEOUT), '\n'.join(reader.lines)
    sim.control.finish_task(task['Id'])           # the deployment ends only now
    reader.join(EVENT_TIMEOUT)
    result = running.wait()
    assert result.rc == 0, '\n'.join(reader.lines) + result.stderr
    assert TARGET not in node_names(sim)

    shown = blocks(reader.lines)
    assert shown[0] == ('octopus_node: OCTO-NODE-03 drained, waiting for 1 task (30m left):\n'
                        '  %s Deploy Web 1.0.0 to Production, running 4m10s' % task['Id'])
    # The run that saw the end deleted the node and watched for a re-registration itself: no line for that.
    assert not [b for b in shown if 'watching' in b], shown
    assert all(a != b for a, b in zip(shown, shown[1:])), shown
    assert not [b for b in shown if 'OctopusServerNodes-' in b], 'the node is named by its name'
    assert 'changed: [localhost -> bastion]' in reader.lines

    # The diff: only what changes (a deletion: every field of the record goes), no server bookkeeping.
    output = '\n'.join(reader.lines)
    assert '"IsInMaintenanceMode": false' in output and 'LastModified' not in output
    assert 'Octopus server node OCTO-NODE-03 (%s) (deleted)' % TARGET_ID in output

    # While nothing changed, a poll was one request: the node's tasks.
    log = requests_since(sim)
    assert len(by_method(log, 'PUT')) == 1 and len(by_method(log, 'DELETE')) == 1
    drained_at = by_method(log, 'PUT')[0]['seq']
    finished = [e for e in log if e['seq'] > drained_at and e['method'] == 'GET']
    tasks_reads = [e for e in finished if e['path'] == '/api/tasks']
    # GET /api (the root document) is not a poll: a client reads it once after its first 404, to prove that url is an
    # Octopus Server before "not found" is believed (docs/api-layer.md).
    roots = [e for e in finished if e['path'] == '/api']
    others = [e for e in finished if e['path'] not in ('/api/tasks', '/api')]
    assert len(roots) <= 2, roots
    # Full reads (node list, summary) happen at the drain's re-check, once a minute and after the change only.
    assert len(tasks_reads) >= 1 and len(others) <= 2 * (len(tasks_reads) // 30 + 3), [(e['method'], e['path']) for e in finished]


def drain_diffs(output):
    return [line for line in output.splitlines() if line.startswith('+') and '"IsInMaintenanceMode": true' in line]


def test_a_drain_is_diffed_once_in_a_role_run(sim_factory, scale_in):
    sim = sim_factory(cluster(), speed=0)
    sim.control.add_task(Name='Deploy', Description='Deploy Web', SpaceId='Spaces-1', State='Executing', ServerNode=TARGET,
                         Duration=ONE_DAY)
    preview = scale_in(sim, check=True, args=['--diff'])
    assert preview.rc == 0, preview.explain()
    assert len(drain_diffs(preview.stdout)) == 1 and 'LastModified' not in preview.stdout, preview.stdout
    idle = sim_factory(cluster(), speed=0)
    real = scale_in(idle, args=['--diff'])
    assert real.rc == 0, real.explain()
    assert len(drain_diffs(real.stdout)) == 1 and 'LastModified' not in real.stdout, real.stdout


def test_the_internal_channel_is_in_neither_ansible_doc_nor_an_option_error(sim_factory, scale_in, tmp_path):
    env = dict(os.environ)
    doc = subprocess.run(['ansible-doc', '-j', 'octopus.ha.octopus_node'], cwd=REPO, env=env, capture_output=True, text=True,
                         check=False, timeout=EVENT_TIMEOUT)
    assert doc.returncode == 0, doc.stderr
    options = json.loads(doc.stdout)['octopus.ha.octopus_node']['doc']['options']
    assert options and not [name for name in options if name.startswith('_')]
    assert SEGMENT_OPTION not in doc.stdout and '_step' not in doc.stdout

    sim = sim_factory(cluster(), speed=0)
    playbook = tmp_path / 'typo.yml'
    playbook.write_text(REMOVE.replace('state: absent', 'state: absent\n        drain_timout: 60'))
    result = scale_in(sim, node=None, playbook=str(playbook))
    assert result.rc != 0
    message = result.messages()
    assert 'drain_timout' in message and 'Supported parameters include' in message, result.explain()
    assert SEGMENT_OPTION not in result.stdout + result.stderr and '_step' not in message
    assert requests_since(sim) == [], 'the module refused its options before any request'
