# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# Copyright: Contributors to the octopus.ha collection
"""Action plugin for octopus.ha.octopus_node: shows progress while a drain is waited on.

A module cannot print while it runs, so this plugin runs the waiting loop on the controller
(``drive()`` from _octopus_drain, the same loop the module uses on its own) and runs the module
once per poll with the internal ``_step`` option. Each run of the module observes the server and
does only the change that is due; all decisions stay in module_utils. Between two polls the
plugin prints ``octopus_node: <name> drained, N tasks still running (ids), Xs left``.
"""

from __future__ import absolute_import, division, print_function
__metaclass__ = type

from ansible.plugins.action import ActionBase
from ansible.utils.display import Display

from ansible_collections.octopus.ha.plugins.module_utils._octopus_drain import drive
from ansible_collections.octopus.ha.plugins.module_utils._octopus_tasks import Timer

display = Display()
MODULE = 'octopus.ha.octopus_node'


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

    def run(self, tmp=None, task_vars=None):
        result = super(ActionModule, self).run(tmp, task_vars)
        args = dict(self._task.args)
        if '_step' in args:
            result.update(failed=True, msg='The _step option of octopus.ha.octopus_node is internal to its action plugin; remove it.')
            return result
        first = self._step(args, task_vars, 'poll', [])
        params = first.pop('loop_params', None)
        if params is None:
            # The module rejected its options (or could not start): nothing to loop on.
            result.update(first)
            return result
        pending = [first]

        def step(kind, known_tasks):
            return pending.pop() if pending else self._step(args, task_vars, kind, known_tasks)

        final = drive(step, params, Timer(), progress=display.display)
        invocation = first.get('invocation')
        if not self._play_context.diff:
            final.pop('diff', None)
        final.pop('loop_params', None)
        result.update(final)
        if invocation:
            invocation.get('module_args', {}).pop('_step', None)
            result['invocation'] = invocation
        return result

    def _step(self, args, task_vars, kind, known_tasks):
        """Run the module for one step and return its outcome with warnings as plain text."""
        module_args = dict(args, _step=dict(kind=kind, known_tasks=list(known_tasks)))
        outcome = self._execute_module(module_name=MODULE, module_args=module_args, task_vars=task_vars)
        outcome['warnings'] = [warning_text(w) for w in outcome.get('warnings') or []]
        for key in ('_ansible_parsed', 'deprecations'):
            outcome.pop(key, None)
        return outcome
