# -*- coding: utf-8 -*-
# Copyright: Contributors to the octopus.ha collection
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

"""TEST-ONLY action plugin base for the simulated Windows host.

It tells the stand-in module which fake host it acts on: ``OCTOHA_FAKE_HOST`` is set in the worker
process (one process per task and host, so hosts never see each other's value) from the host
variable ``octoha_fake_host`` or else ``inventory_hostname``, then the module runs as usual. A task
with ``delegate_to`` acts on the delegated host, as a real module would: its ``octoha_fake_host`` or
else its name.

It also tells the stand-in WHO runs it (``OCTOHA_FAKE_RUNAS``, JSON), so that the double hop can be
tested: the WinRM user (``ansible_user``, default ``<HOST>\\Administrator``), whose session has
credentials for a second hop only with CredSSP or Kerberos delegation; or, with ``become`` and
``become_method: runas``, the become user (with its password, the logon type of ``become_flags``,
``SYSTEM`` without one, or an account without a password, which the real runas logs on with S4U
unless that account already has a logon session). Real ``runas`` happens inside the Windows
PowerShell wrapper; here the become plugin is recorded and then dropped, so the module runs as the
controller's user like every stand-in.
"""

from __future__ import absolute_import, division, print_function
__metaclass__ = type

import json
import os

from ansible.plugins.action import ActionBase

ENV_HOST = 'OCTOHA_FAKE_HOST'
ENV_RUNAS = 'OCTOHA_FAKE_RUNAS'


def _flag(flags, name, default):
    for item in str(flags or '').split():
        if '=' in item:
            key, value = item.split('=', 1)
            if key.strip().lower() == name:
                return value.strip().lower()
    return default


class FakeHostAction(ActionBase):
    """Run the module of the same name with OCTOHA_FAKE_HOST (and the runner) set for the current host."""

    def run(self, tmp=None, task_vars=None):
        task_vars = task_vars or {}
        result = super(FakeHostAction, self).run(tmp, task_vars)
        host_vars = self._host_vars(task_vars)
        os.environ[ENV_HOST] = self._fake_host(task_vars)
        os.environ[ENV_RUNAS] = json.dumps(self._runner(host_vars))
        # The become plugin was recorded above; the stand-in itself runs without it.
        self._connection.become = None
        module_name = getattr(self._task, 'resolved_action', None) or self._task.action
        result.update(self._execute_module(module_name=module_name, module_args=self._task.args,
                                           task_vars=task_vars))
        return result

    def _host_vars(self, task_vars):
        delegate = self._task.delegate_to
        if delegate:
            return (task_vars.get('ansible_delegated_vars') or {}).get(delegate) or {}
        return task_vars

    def _value(self, host_vars, name, default=None):
        value = host_vars.get(name, default)
        return self._templar.template(value) if isinstance(value, str) else value

    def _fake_host(self, task_vars):
        delegate = self._task.delegate_to
        host_vars = self._host_vars(task_vars)
        default = delegate if delegate else task_vars.get('inventory_hostname')
        host = self._value(host_vars, 'octoha_fake_host')
        return str(host or default)

    def _runner(self, host_vars):
        become = self._connection.become
        if become is not None and self._play_context.become and become.name in ('runas', 'ansible.builtin.runas'):
            password = become.get_option('become_pass')
            return {
                'how': 'become',
                'user': str(become.get_option('become_user') or ''),
                'password': str(password) if password else None,
                'logon_type': _flag(become.get_option('become_flags'), 'logon_type', 'interactive'),
            }
        transport = str(self._value(host_vars, 'ansible_winrm_transport', '') or '').lower()
        delegation = self._value(host_vars, 'ansible_winrm_kerberos_delegation', False)
        return {
            'how': 'winrm',
            'user': str(self._value(host_vars, 'ansible_user', '') or ''),
            'delegation': transport == 'credssp' or (transport == 'kerberos' and str(delegation).lower() in ('true', 'yes', '1')),
        }
