# -*- coding: utf-8 -*-
# Copyright: Contributors to the octopus.ha collection
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

"""TEST-ONLY stand-in for ansible.windows.win_ping on the simulated Windows host.

ansible.builtin.wait_for_connection runs win_ping on hosts with a PowerShell connection (winrm, psrp).
On a fake host (local connection) it answers like the real module; a host whose WinRM port does not
answer never gets this far: the connection fails first, as it would against a real VM.
"""

from __future__ import absolute_import, division, print_function
__metaclass__ = type

from ansible.module_utils.basic import AnsibleModule
from ansible_collections.ansible.windows.plugins.module_utils import _fake_host as fh


# The real module's options (names, types, defaults, choices) from its documentation;
# tests/fake_windows/test_stand_in_specs.py compares them with the dependency collections.
ARGUMENT_SPEC = dict(
    data=dict(type='str', default='pong'),
)
# The options this stand-in implements; any other option given a non-default value fails the task.
MODELLED = frozenset(['data'])


def handler(module, data):  # pylint: disable=unused-argument
    if module.params['data'] == 'crash':
        raise fh.FakeHostError('boom')
    return {'changed': False, 'ping': module.params['data']}


def main():
    module = AnsibleModule(argument_spec=ARGUMENT_SPEC, supports_check_mode=True)
    fh.run_stand_in(module, 'ansible.windows.win_ping', handler, ARGUMENT_SPEC, MODELLED)


if __name__ == '__main__':
    main()
