# -*- coding: utf-8 -*-
# Copyright: Contributors to the octopus.ha collection
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

"""TEST-ONLY stand-in for ansible.windows.win_wait_for (port checks only).

The fake host's network is the controller's: ``state=started`` really connects to ``host:port``
over TCP until it succeeds or ``timeout`` passes; ``state=stopped`` waits until nothing accepts.
Results and failure messages follow the real module.
"""

from __future__ import absolute_import, division, print_function
__metaclass__ = type

import socket
import time

from ansible.module_utils.basic import AnsibleModule
from ansible_collections.ansible.windows.plugins.module_utils import _fake_host as fh


# The real module's options (names, types, defaults, choices) from its documentation;
# tests/fake_windows/test_stand_in_specs.py compares them with the dependency collections.
ARGUMENT_SPEC = dict(
    connect_timeout=dict(type='int', default=5),
    delay=dict(type='int'),
    exclude_hosts=dict(type='list', elements='str'),
    host=dict(type='str', default='127.0.0.1'),
    path=dict(type='path'),
    port=dict(type='int'),
    regex=dict(type='str', aliases=['search_regex', 'regexp']),
    sleep=dict(type='int', default=1),
    state=dict(type='str', default='started', choices=['absent', 'drained', 'present', 'started', 'stopped']),
    timeout=dict(type='int', default=300),
)
# The options this stand-in implements; any other option given a non-default value fails the task.
MODELLED = frozenset(['connect_timeout', 'delay', 'exclude_hosts', 'host', 'path', 'port', 'regex', 'sleep', 'state', 'timeout'])


def _port_open(host, port, connect_timeout):
    try:
        sock = socket.create_connection((host, port), timeout=connect_timeout)
    except (OSError, socket.timeout):
        return False
    sock.close()
    return True


def handler(module, data):  # pylint: disable=unused-argument
    p = module.params
    if p['port'] is None:
        raise fh.FakeHostError('the win_wait_for stand-in only supports port checks')
    if p['state'] not in ('started', 'present', 'stopped', 'absent'):
        raise fh.FakeHostError('the win_wait_for stand-in does not support state=%s' % p['state'])
    start = time.time()
    if p['delay']:
        time.sleep(p['delay'])
    want_open = p['state'] in ('started', 'present')
    while True:
        is_open = _port_open(p['host'], p['port'], max(1, p['connect_timeout']))
        elapsed = time.time() - start
        if is_open == want_open:
            return {'changed': False, 'elapsed': round(elapsed, 3)}
        if elapsed >= p['timeout']:
            raise fh.FakeHostError('timeout while waiting for %s:%s to %s listening' % (
                p['host'], p['port'], 'start' if want_open else 'stop'), elapsed=round(elapsed, 3), changed=False)
        time.sleep(min(p['sleep'], max(0.1, p['timeout'] - elapsed)))


def main():
    module = AnsibleModule(
        argument_spec=ARGUMENT_SPEC,
        supports_check_mode=True,
    )
    fh.run_stand_in(module, 'ansible.windows.win_wait_for', handler, ARGUMENT_SPEC, MODELLED)


if __name__ == '__main__':
    main()
