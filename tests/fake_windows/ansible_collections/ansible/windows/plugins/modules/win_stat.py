# -*- coding: utf-8 -*-
# Copyright: Contributors to the octopus.ha collection
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

"""TEST-ONLY stand-in for ansible.windows.win_stat on the simulated Windows host."""

from __future__ import absolute_import, division, print_function
__metaclass__ = type

import ntpath

from ansible.module_utils.basic import AnsibleModule
from ansible_collections.ansible.windows.plugins.module_utils import _fake_host as fh


# The real module's options (names, types, defaults, choices) from its documentation;
# tests/fake_windows/test_stand_in_specs.py compares them with the dependency collections.
ARGUMENT_SPEC = dict(
    checksum_algorithm=dict(type='str', default='sha1', choices=['md5', 'sha1', 'sha256', 'sha384', 'sha512']),
    follow=dict(type='bool', default=False),
    get_checksum=dict(type='bool', default=True),
    get_size=dict(type='bool', default=True),
    path=dict(type='path', aliases=['dest', 'name'], required=True),
)
# The options this stand-in implements; any other option given a non-default value fails the task.
MODELLED = frozenset(['checksum_algorithm', 'follow', 'get_checksum', 'get_size', 'path'])


def handler(module, data):
    path = module.params['path']
    entry = fh.get_file(data, path)
    if entry is None:
        return {'changed': False, 'stat': {'exists': False}}
    name = ntpath.basename(entry['path'])
    stat = {
        'exists': True,
        'path': entry['path'],
        'filename': name,
        'isdir': bool(entry.get('isdir')),
        'isreg': not entry.get('isdir'),
        'islnk': False,
        'isjunction': False,
        'ishidden': False,
        'isreadonly': False,
        'isarchive': not entry.get('isdir'),
        'isshared': False,
        'nlink': 1,
        'owner': 'BUILTIN\\Administrators',
        'attributes': 'Directory' if entry.get('isdir') else 'Archive',
        'lastwritetime': 0.0,
        'lastaccesstime': 0.0,
        'creationtime': 0.0,
        'hlnk_targets': [],
    }
    if not entry.get('isdir'):
        stat['extension'] = ntpath.splitext(name)[1]
        if module.params['get_size']:
            stat['size'] = entry.get('size', 0)
        if module.params['get_checksum']:
            stat['checksum'] = fh.file_checksum(entry, module.params['checksum_algorithm'])
    return {'changed': False, 'stat': stat}


def main():
    module = AnsibleModule(
        argument_spec=ARGUMENT_SPEC,
        supports_check_mode=True,
    )
    fh.run_stand_in(module, 'ansible.windows.win_stat', handler, ARGUMENT_SPEC, MODELLED)


if __name__ == '__main__':
    main()
