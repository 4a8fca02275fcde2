# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# Copyright: Contributors to the octopus.ha collection
"""Action plugin for octopus.ha.octopus_node: shows progress while a drain is waited on.

A module cannot print while it runs, so this plugin runs a long wait as a few runs of the module
(segments). Each run waits in the module, polling cheaply, and returns when the node's tasks
changed, when the phase of the wait changed, or when its segment is over (after about 2 and 6
minutes, then every 10 minutes); the plugin prints a progress line and runs the module again to
resume the wait. All decisions stay in the module (module_utils/_octopus_drain.py); the plugin
only prints, carries the module's resume state (plus the time its own start-up took) to the next
run, and reports what the wait had done when a run dies. Check mode, ``wait: false`` and ``state: present`` are one run.
"""

from __future__ import absolute_import, division, print_function
__metaclass__ = type

import time

from ansible.plugins.action import ActionBase
from ansible.utils.display import Display

from ansible_collections.octopus.ha.plugins.module_utils._octopus_drain import SEGMENT_OPTION, finish

display = Display()
MODULE = 'octopus.ha.octopus_node'
PHASE_OF = {'waiting': 'wait', 'cancelling': 'cancel', 'watching': 'delete'}


def warning_text(warning):
    """A module warning as plain text (ansible-core may hand back a summary object or a dict)."""
    event = getattr(warning, 'event', None)
    if event is not None:
        return str(getattr(event, 'msg', event))
    if isinstance(warning, dict):
        return str(warning.get('msg', warning))
    return str(warning)


class ActionModule(ActionBase):

    TRANSFERS_FILES = False
    _supports_check_mode = True
    _supports_async = False

    clock = staticmethod(time.monotonic)

    def run(self, tmp=None, task_vars=None):
        result = super(ActionModule, self).run(tmp, task_vars)
        args = dict(self._task.args)
        if SEGMENT_OPTION in args:
            result.update(failed=True, msg='Unsupported parameters for (%s) module: %s.' % (MODULE, SEGMENT_OPTION))
            return result
        resume, warnings, last_line = None, [], None
        while True:
            started = self.clock()
            outcome = self._segment(args, task_vars, resume)
            warnings.extend(w for w in outcome.pop('warnings', []) if w not in warnings)
            state = outcome.get('resume')
            if not isinstance(state, dict):
                break
            # The module's start-up is time of the wait too: book it, so the deadlines stay the controller's.
            gap = max(0.0, self.clock() - started - float(state.get('ran') or 0))
            resume = self._carry(state, gap)
            if state.get('progress') and state['progress'] != last_line:
                display.display(state['progress'])
                last_line = state['progress']
        if resume is not None and 'elapsed' not in outcome:
            # A run that did not finish normally (a crash, a killed module): report what the wait had done so far.
            total = dict(resume['total'], status='done', failed=True, msg=str(outcome.get('msg') or 'The octopus_node module failed.'))
            outcome = dict(finish(total, resume['params']), **dict((k, v) for k, v in outcome.items() if k not in total))
            if not self._play_context.diff:
                outcome.pop('diff', None)
        if warnings:
            outcome['warnings'] = warnings
        result.update(outcome)
        return result

    @staticmethod
    def _carry(state, gap):
        """What the next run resumes from: the module's state, with the time between the two runs added."""
        total = state['total']
        phase = PHASE_OF.get(total.get('status'))
        if phase:
            total['elapsed'][phase] = total['elapsed'].get(phase, 0.0) + gap
        return dict(total=total, phase_elapsed=float(state.get('phase_elapsed') or 0) + gap,
                    since_full=float(state.get('since_full') or 0) + gap, params=state.get('params') or {})

    def _segment(self, args, task_vars, resume):
        """Run the module for one segment and return its result with warnings as plain text."""
        module_args = dict(args)
        module_args[SEGMENT_OPTION] = dict(resume=None if resume is None else dict(
            total=resume['total'], phase_elapsed=resume['phase_elapsed'], since_full=resume['since_full']))
        outcome = self._execute_module(module_name=MODULE, module_args=module_args, task_vars=task_vars)
        outcome['warnings'] = [warning_text(w) for w in outcome.get('warnings') or []]
        for key in ('_ansible_parsed', 'deprecations'):
            outcome.pop(key, None)
        return outcome
