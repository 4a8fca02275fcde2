# -*- coding: utf-8 -*-
# Copyright: Contributors to the octopus.ha collection
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

"""TEST-ONLY stand-in for community.windows.win_firewall_rule (rules kept in ``firewall_rules``)."""

from __future__ import absolute_import, division, print_function
__metaclass__ = type

from ansible.module_utils.basic import AnsibleModule
from ansible_collections.ansible.windows.plugins.module_utils import _fake_host as fh

KEYS = ('enabled', 'group', 'direction', 'action', 'description', 'localip', 'remoteip', 'localport', 'remoteport',
        'program', 'service', 'protocol', 'profiles')


# The real module's options (names, types, defaults, choices) from its documentation;
# tests/fake_windows/test_stand_in_specs.py compares them with the dependency collections.
ARGUMENT_SPEC = dict(
    action=dict(type='str', choices=['allow', 'block']),
    description=dict(type='str'),
    direction=dict(type='str', choices=['in', 'out']),
    enabled=dict(type='bool', aliases=['enable']),
    group=dict(type='str'),
    icmp_type_code=dict(type='list', elements='str'),
    localip=dict(type='str'),
    localport=dict(type='str'),
    name=dict(type='str'),
    profiles=dict(type='list', elements='str', aliases=['profile']),
    program=dict(type='str'),
    protocol=dict(type='str'),
    remoteip=dict(type='str'),
    remoteport=dict(type='str'),
    service=dict(type='str'),
    state=dict(type='str', default='present', choices=['absent', 'present']),
)
# The options this stand-in implements; any other option given a non-default value fails the task.
MODELLED = frozenset([
    'action', 'description', 'direction', 'enabled', 'group', 'localip', 'localport', 'name', 'profiles',
    'program', 'protocol', 'remoteip', 'remoteport', 'service', 'state',
])


def handler(module, data):
    p = module.params
    rules = data['firewall_rules']
    name = p['name']
    if p['state'] == 'absent':
        return {'changed': rules.pop(name, None) is not None}
    rule = rules.get(name)
    wanted = dict((k, p[k]) for k in KEYS if p[k] is not None)
    if rule is None:
        for key in ('direction', 'action'):
            if key not in wanted:
                raise fh.FakeHostError('missing required argument for a new rule: %s' % key)
        wanted.setdefault('enabled', True)
        wanted.setdefault('protocol', 'any')
        wanted['name'] = name
        rules[name] = wanted
        return {'changed': True}
    diff = dict((k, v) for k, v in wanted.items() if rule.get(k) != v)
    rule.update(diff)
    return {'changed': bool(diff)}


def main():
    module = AnsibleModule(
        argument_spec=ARGUMENT_SPEC,
        supports_check_mode=True,
    )
    fh.run_stand_in(module, 'community.windows.win_firewall_rule', handler, ARGUMENT_SPEC, MODELLED)


if __name__ == '__main__':
    main()
