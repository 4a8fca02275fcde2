# -*- coding: utf-8 -*-
# Copyright: Contributors to the octopus.ha collection
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

"""TEST-ONLY stand-in for community.windows.win_file_version (version set by the fake MSI)."""

from __future__ import absolute_import, division, print_function
__metaclass__ = type

from ansible.module_utils.basic import AnsibleModule
from ansible_collections.ansible.windows.plugins.module_utils import _fake_host as fh


# The real module's options (names, types, defaults, choices) from its documentation;
# tests/fake_windows/test_stand_in_specs.py compares them with the dependency collections.
ARGUMENT_SPEC = dict(
    path=dict(type='path', required=True),
)
# The options this stand-in implements; any other option given a non-default value fails the task.
MODELLED = frozenset(['path'])


def handler(module, data):
    path = module.params['path']
    entry = fh.get_file(data, path)
    if entry is None or entry.get('isdir'):
        raise fh.FakeHostError("Specified path %s does not exist or is not a file." % path)
    version = entry.get('version') or ''
    parts = (version.split('.') + ['0', '0', '0', '0'])[:4] if version else ['', '', '', '']
    return {'changed': False, 'path': path, 'win_file_version': {
        'path': path,
        'file_version': version,
        'product_version': entry.get('product_version', version),
        'file_major_part': parts[0],
        'file_minor_part': parts[1],
        'file_build_part': parts[2],
        'file_private_part': parts[3],
    }}


def main():
    module = AnsibleModule(argument_spec=ARGUMENT_SPEC, supports_check_mode=True)
    fh.run_stand_in(module, 'community.windows.win_file_version', handler, ARGUMENT_SPEC, MODELLED)


if __name__ == '__main__':
    main()
