# -*- coding: utf-8 -*-
# Copyright: Contributors to the octopus.ha collection
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

"""TEST-ONLY action plugin base for the simulated Windows host.

It tells the stand-in module which fake host it acts on: ``OCTOHA_FAKE_HOST`` is set in the worker
process (one process per task and host, so hosts never see each other's value) from the host
variable ``octoha_fake_host`` or else ``inventory_hostname``, then the module runs as usual. A task
with ``delegate_to`` acts on the delegated host, as a real module would: its ``octoha_fake_host`` or
else its name.
"""

from __future__ import absolute_import, division, print_function
__metaclass__ = type

import os

from ansible.plugins.action import ActionBase

ENV_HOST = 'OCTOHA_FAKE_HOST'


class FakeHostAction(ActionBase):
    """Run the module of the same name with OCTOHA_FAKE_HOST set for the current host."""

    def run(self, tmp=None, task_vars=None):
        task_vars = task_vars or {}
        result = super(FakeHostAction, self).run(tmp, task_vars)
        os.environ[ENV_HOST] = self._fake_host(task_vars)
        module_name = getattr(self._task, 'resolved_action', None) or self._task.action
        result.update(self._execute_module(module_name=module_name, module_args=self._task.args,
                                           task_vars=task_vars))
        return result

    def _fake_host(self, task_vars):
        delegate = self._task.delegate_to
        if delegate:
            delegated = (task_vars.get('ansible_delegated_vars') or {}).get(delegate) or {}
            host_vars, default = delegated, delegate
        else:
            host_vars, default = task_vars, task_vars.get('inventory_hostname')
        host = host_vars.get('octoha_fake_host')
        if host is not None:
            host = self._templar.template(host)
        return str(host or default)
