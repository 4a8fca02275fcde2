# -*- coding: utf-8 -*-
# Copyright: Contributors to the octopus.ha collection
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

"""TEST-ONLY stand-in for ansible.windows.win_file on the simulated Windows host."""

from __future__ import absolute_import, division, print_function
__metaclass__ = type

from ansible.module_utils.basic import AnsibleModule
from ansible_collections.ansible.windows.plugins.module_utils import _fake_host as fh


# The real module's options (names, types, defaults, choices) from its documentation;
# tests/fake_windows/test_stand_in_specs.py compares them with the dependency collections.
ARGUMENT_SPEC = dict(
    path=dict(type='path', aliases=['dest', 'name'], required=True),
    state=dict(type='str', choices=['absent', 'directory', 'file', 'touch']),
)
# The options this stand-in implements; any other option given a non-default value fails the task.
MODELLED = frozenset(['path', 'state'])


def handler(module, data):
    path = module.params['path']
    state = module.params['state']
    if not fh.is_absolute(path):
        raise fh.FakeHostError('path %s must be absolute' % path)
    entry = fh.get_file(data, path)
    if state is None:
        state = 'file' if entry is None or not entry.get('isdir') else 'directory'
    if state == 'absent':
        return {'changed': fh.remove_path(data, path)}
    if state == 'directory':
        if entry is not None and not entry.get('isdir'):
            raise fh.FakeHostError('path %s is not a directory' % path)
        return {'changed': fh.ensure_dir(data, path)}
    if state == 'file':
        if entry is None:
            raise fh.FakeHostError("path %s will not be created" % path)
        if entry.get('isdir'):
            raise fh.FakeHostError('path %s is not a file' % path)
        return {'changed': False}
    # touch
    if entry is not None and entry.get('isdir'):
        raise fh.FakeHostError('path %s is a directory' % path)
    if fh.get_file(data, fh.parent_path(path)) is None:
        raise fh.FakeHostError('Could not find a part of the path %s' % path)
    fh.put_file(data, path, entry.get('content', '') if entry else '')
    return {'changed': True}


def main():
    module = AnsibleModule(
        argument_spec=ARGUMENT_SPEC,
        supports_check_mode=True,
    )
    fh.run_stand_in(module, 'ansible.windows.win_file', handler, ARGUMENT_SPEC, MODELLED)


if __name__ == '__main__':
    main()
