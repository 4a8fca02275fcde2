# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# Copyright: Contributors to the octopus.ha collection
"""The octopus_node action plugin, with the module run in process against FakeOctopus.

Under tests/unit/plugins/action so that ``ansible-test units`` runs it with the controller code
(tests under plugins/modules run without it). The module's runs are counted (each is one module
start-up on the controller, the cost of a wait), and so are the requests of each poll. Nothing here
depends on time: the fake clock moves only when the module sleeps.
"""

from __future__ import absolute_import, division, print_function
__metaclass__ = type

import json

from unittest.mock import MagicMock

import pytest
import yaml

from ansible_collections.octopus.ha.plugins.action import octopus_node as action
from ansible_collections.octopus.ha.plugins.module_utils._octopus_drain import SEGMENT_OPTION
from ansible_collections.octopus.ha.plugins.modules import octopus_node
from ansible_collections.octopus.ha.tests.unit.plugins.module_utils.fake_octopus import KEY, URL, Clock, patch_module_args, patched

NODE_A = 'OctopusServerNodes-A'


@pytest.fixture
def clock():
    return Clock()


@pytest.fixture
def octo(clock, monkeypatch):
    server = patched(clock, monkeypatch)
    for name in ('A', 'B', 'C'):
        server.add_node(name)
    return server


class Harness:
    """The action plugin with _execute_module running octopus_node.main() in process."""

    def __init__(self, clock, capsys, monkeypatch, check_mode=False, diff=False, crash_at=None):
        self.capsys = capsys
        self.runs = []
        self.lines = []
        self.crash_at = crash_at
        self.play_context = MagicMock(check_mode=check_mode, diff=diff)
        monkeypatch.setattr(action.ActionModule, 'clock', staticmethod(clock.monotonic))
        monkeypatch.setattr(action.display, 'display', self.lines.append)

    def execute_module(self, module_name, module_args, task_vars):
        assert module_name == 'octopus.ha.octopus_node'
        self.runs.append(json.loads(json.dumps(module_args)))
        if self.crash_at is not None and len(self.runs) == self.crash_at:
            return dict(failed=True, msg='MODULE FAILURE: the module was killed')
        args = dict(module_args, _ansible_check_mode=self.play_context.check_mode, _ansible_diff=self.play_context.diff)
        with patch_module_args(args):
            with pytest.raises(SystemExit):
                octopus_node.main()
        out = self.capsys.readouterr().out
        assert KEY not in out
        return json.loads(out)

    def run(self, **args):
        task = MagicMock(async_val=0, args=dict(dict(url=URL, api_key=KEY), **args))
        plugin = action.ActionModule(task, MagicMock(), self.play_context, loader=None, templar=None, shared_loader_obj=None)
        plugin._execute_module = self.execute_module
        return plugin.run(task_vars={})


@pytest.fixture
def harness(clock, capsys, monkeypatch):
    def make(**kwargs):
        return Harness(clock, capsys, monkeypatch, **kwargs)
    return make


def test_a_long_wait_is_a_few_module_runs_with_a_progress_line_each(octo, clock, harness):
    # A 30-minute drain: three deployments end 10, 20 and 30 minutes from now.
    for number, duration in ((6, 600), (7, 1200), (8, 1800)):
        octo.add_task('ServerTasks-%d' % number, 'A', duration=duration, description='Deploy Web 1.0.%d to Production' % number,
                      started_ago=250)
    plugin = harness(diff=True)
    result = plugin.run(name='A', state='absent', drain_timeout=3600)
    assert result['deleted'] is True and result['changed'] is True and not result.get('failed'), result
    assert octo.mutations() == [('PUT', 'octopusservernodes/OctopusServerNodes-A'), ('DELETE', 'octopusservernodes/OctopusServerNodes-A')]
    # Runs: the drain (a line at once), segments ending after 2 and 6 minutes, the first deployment's end at 10
    # minutes, the segment ending with the second one at 20, and the run that saw the last end, deleted the node and
    # watched for a re-registration. Each is one module start-up on the controller.
    assert len(plugin.runs) == 6, [r[SEGMENT_OPTION]['resume'] and r[SEGMENT_OPTION]['resume']['phase_elapsed'] for r in plugin.runs]
    assert [line.split('\n')[0] for line in plugin.lines] == [
        'octopus_node: A drained, waiting for 3 tasks (1h00m left):',
        'octopus_node: A drained, waiting for 3 tasks (58m left):',
        'octopus_node: A drained, waiting for 3 tasks (53m47s left):',   # a segment ends at the first poll after it
        'octopus_node: A drained, waiting for 2 tasks (49m47s left):',
        'octopus_node: A drained, waiting for 1 task (39m38s left):',
    ]
    assert plugin.lines[0].split('\n')[1:] == ['  ServerTasks-6 Deploy Web 1.0.6 to Production, running 4m10s',
                                               '  ServerTasks-7 Deploy Web 1.0.7 to Production, running 4m10s',
                                               '  ServerTasks-8 Deploy Web 1.0.8 to Production, running 4m10s']
    assert plugin.lines[-1].split('\n')[1:] == ['  ServerTasks-8 Deploy Web 1.0.8 to Production, running 24m32s']
    assert len(set(plugin.lines)) == len(plugin.lines)
    # Seen at the first poll after its end, at most a 25th of the time waited later; then the 30 s watch.
    assert 1800 <= result['elapsed']['wait'] <= 1800 * 1.04 and result['elapsed']['delete'] == 30
    assert result['diff']['before'] == dict(Id=NODE_A, Name='A', MaxConcurrentTasks=5, IsInMaintenanceMode=False)
    assert result['diff']['after'] == {}
    assert SEGMENT_OPTION not in json.dumps(result.get('invocation', {}))
    assert 'tasks_seen' not in result and 'resume' not in result and 'status' not in result


def test_a_poll_is_one_request_while_nothing_changes(octo, clock, harness):
    octo.add_task('T1', 'A', duration=900)
    plugin = harness()
    result = plugin.run(name='A', state='drained')
    assert not result.get('failed'), result
    polls = octo.polls()
    first, waits, last = polls[0], polls[1:-1], polls[-1]
    assert ('PUT', 'octopusservernodes/OctopusServerNodes-A') in first[1]
    full = [(t, reqs) for t, reqs in waits if len(reqs) > 1]
    assert all(reqs == [('GET', 'tasks')] for t, reqs in waits if len(reqs) == 1)
    # The node (by name: the node list), the summary and the tasks are read again once a minute (and when the task ends).
    refreshes = [t for t, reqs in full]
    assert all(reqs == [('GET', 'octopusservernodes'), ('GET', 'octopusservernodes/summary'), ('GET', 'tasks')] for t, reqs in full)
    assert all(later - earlier >= 60 for earlier, later in zip([first[0]] + refreshes, refreshes))
    assert len(full) <= 900 // 60
    assert last[1][-3:] == [('GET', 'octopusservernodes'), ('GET', 'octopusservernodes/summary'), ('GET', 'tasks')]
    # Each run of the module resumes the wait with a quiet poll: no full read at a segment boundary.
    assert len(plugin.runs) <= 8


def test_a_change_ends_a_segment_early_but_not_before_a_quarter_of_it(octo, clock, harness):
    octo.add_task('T1', 'A', duration=5, description='Short')
    octo.add_task('T2', 'A', duration=40, description='Long')
    plugin = harness()
    result = plugin.run(name='A', state='drained')
    assert not result.get('failed'), result
    # Line 1 at once; T1 ends at 5 s but the first segment (120 s) ends on a change only after 30 s; T2 ends at 40 s.
    assert [line.split('\n')[0] for line in plugin.lines] == [
        'octopus_node: A drained, waiting for 2 tasks (30m left):',
        'octopus_node: A drained, waiting for 1 task (29m30s left):',
    ]
    assert plugin.lines[1].split('\n')[1:] == ['  T2 Long, running 30s']
    assert len(plugin.runs) == 3


def test_check_mode_wait_false_and_present_are_one_run(octo, harness):
    octo.add_task('T1', 'A')
    for args, check_mode in ((dict(name='A', state='absent'), True), (dict(name='A', state='drained', wait=False), False),
                             (dict(name='B', max_concurrent_tasks=3), False)):
        plugin = harness(check_mode=check_mode)
        result = plugin.run(**args)
        assert not result.get('failed'), result
        assert len(plugin.runs) == 1 and plugin.lines == []


def test_a_run_that_dies_mid_wait_reports_what_the_wait_did(octo, harness):
    octo.add_task('T1', 'A', duration=600)
    plugin = harness(crash_at=3)
    result = plugin.run(name='A', state='absent')
    assert result['failed'] is True and 'MODULE FAILURE' in result['msg']
    assert result['changed'] is True, 'the drain of the first run is reported'
    assert result['before']['IsInMaintenanceMode'] is False and result['running_tasks'] == ['T1']
    assert octo.nodes[NODE_A]['IsInMaintenanceMode'] is True and octo.count('DELETE') == 0


def test_a_warning_is_reported_once_however_many_runs(octo, harness, warning_texts):
    octo.nodes[NODE_A]['IsOffline'] = True
    octo.last_seen_ago[NODE_A] = 30
    octo.add_task('T1', 'A', duration=500)
    plugin = harness()
    result = plugin.run(name='A', state='drained')
    assert not result.get('failed') and len(plugin.runs) > 3
    texts = warning_texts(result)
    assert len([w for w in texts if 'offline_grace' in w]) == 1, texts


def test_the_internal_option_is_refused_from_a_user(octo, harness):
    plugin = harness()
    result = plugin.run(name='A', **{SEGMENT_OPTION: dict(resume=None)})
    assert result['failed'] is True and SEGMENT_OPTION in result['msg'] and plugin.runs == []


def test_an_unknown_option_error_does_not_name_the_internal_channel(octo, harness):
    plugin = harness()
    result = plugin.run(name='A', nmae='A', state='drained')
    assert result['failed'] is True and 'nmae' in result['msg'] and 'Supported parameters include' in result['msg']
    assert SEGMENT_OPTION not in result['msg'] and '_step' not in result['msg']
    assert len(plugin.runs) == 1, 'the internal channel went to the module, which took it out before validating'


def test_the_internal_channel_is_not_documented():
    docs = yaml.safe_load(octopus_node.DOCUMENTATION)
    assert not [name for name in docs['options'] if name.startswith('_')]
