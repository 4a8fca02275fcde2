# -*- coding: utf-8 -*-
# Copyright: Contributors to the octopus.ha collection
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

"""TEST-ONLY stand-in for ansible.windows.win_reg_stat (reads the fake host's ``registry``)."""

from __future__ import absolute_import, division, print_function
__metaclass__ = type

from ansible.module_utils.basic import AnsibleModule
from ansible_collections.ansible.windows.plugins.module_utils import _fake_host as fh


# The real module's options (names, types, defaults, choices) from its documentation;
# tests/fake_windows/test_stand_in_specs.py compares them with the dependency collections.
ARGUMENT_SPEC = dict(
    name=dict(type='str', aliases=['entry', 'value', 'property']),
    path=dict(type='str', aliases=['key'], required=True),
)
# The options this stand-in implements; any other option given a non-default value fails the task.
MODELLED = frozenset(['name', 'path'])


def handler(module, data):
    path = module.params['path']
    key = data['registry'].get(path.lower())
    if key is None:
        return {'changed': False, 'exists': False}
    name = module.params['name']
    values = key.get('values', {})
    if name is not None:
        for vname, value in values.items():
            if vname.lower() == name.lower():
                return {'changed': False, 'exists': True, 'type': 'REG_SZ', 'value': value, 'raw_value': value}
        return {'changed': False, 'exists': False}
    prefix = path.lower().rstrip('\\') + '\\'
    subs = sorted(set(k[len(prefix):].split('\\')[0] for k in data['registry'] if k.startswith(prefix)))
    props = dict((n, {'type': 'REG_SZ', 'value': v, 'raw_value': v}) for n, v in values.items())
    return {'changed': False, 'exists': True, 'properties': props, 'sub_keys': subs}


def main():
    module = AnsibleModule(
        argument_spec=ARGUMENT_SPEC,
        supports_check_mode=True,
    )
    fh.run_stand_in(module, 'ansible.windows.win_reg_stat', handler, ARGUMENT_SPEC, MODELLED)


if __name__ == '__main__':
    main()
