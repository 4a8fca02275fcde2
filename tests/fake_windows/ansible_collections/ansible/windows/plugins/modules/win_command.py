# -*- coding: utf-8 -*-
# Copyright: Contributors to the octopus.ha collection
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

"""TEST-ONLY stand-in for ansible.windows.win_command on the simulated Windows host.

It "executes" only two programs: ``msiexec[.exe]`` and ``Octopus.Server.exe`` (the fake in
module_utils/_fake_octopus_server.py, which must have been installed by an MSI first). Anything
else fails like a missing executable.
"""

from __future__ import absolute_import, division, print_function
__metaclass__ = type

import datetime
import ntpath
import shlex

from ansible.module_utils.basic import AnsibleModule
from ansible_collections.ansible.windows.plugins.module_utils import _fake_host as fh
from ansible_collections.ansible.windows.plugins.module_utils import _fake_octopus_server as octo


# The real module's options (names, types, defaults, choices) from its documentation;
# tests/fake_windows/test_stand_in_specs.py compares them with the dependency collections.
ARGUMENT_SPEC = dict(
    _raw_params=dict(type='str'),
    argv=dict(type='list', elements='str'),
    chdir=dict(type='path'),
    cmd=dict(type='str'),
    creates=dict(type='path'),
    output_encoding_override=dict(type='str'),
    removes=dict(type='path'),
    stdin=dict(type='str'),
)
# The options this stand-in implements; any other option given a non-default value fails the task.
MODELLED = frozenset(['_raw_params', 'argv', 'chdir', 'cmd', 'creates', 'output_encoding_override', 'removes', 'stdin'])


def run_msiexec(data, argv):
    args = [a.lower() for a in argv[1:]]
    if '/i' not in args and '/x' not in args:
        return 1639, '', 'Invalid command line argument. Consult the Windows Installer SDK for detailed command line help.'
    idx = args.index('/i') if '/i' in args else args.index('/x')
    if idx + 1 >= len(argv) or argv[idx + 1].startswith('/'):
        return 1639, '', 'Invalid command line argument: no package after %s' % argv[idx]
    package = argv[idx + 1]
    log = None
    for flag in ('/l*v', '/l*'):
        if flag in args and args.index(flag) + 1 < len(argv):
            log = argv[args.index(flag) + 1]
    if args[idx] == '/x':
        doc = fh.read_msi(data, package)
        fh.uninstall_product(data, doc['ProductCode'])
        return 0, '', ''
    try:
        rc, message = fh.msi_install(data, package, log)
    except fh.FakeHostError as exc:
        return exc.result.get('rc', 1603), '', exc.msg
    return rc, message, ''


def resolve_exe(data, exe):
    """Path of the executable on the fake host, or None."""
    if fh.is_absolute(exe):
        entry = fh.get_file(data, exe)
        return entry['path'] if entry and not entry.get('isdir') else None
    for folder in ('C:\\Windows\\System32', 'C:\\Windows'):
        entry = fh.get_file(data, folder + '\\' + exe)
        if entry:
            return entry['path']
    return None


def handler(module, data):
    p = module.params
    argv = p['argv']
    if not argv:
        argv = shlex.split(p['cmd'] or p['_raw_params'] or '', posix=False)
        argv = [a[1:-1] if len(a) > 1 and a[0] == a[-1] == '"' else a for a in argv]
    if not argv:
        raise fh.FakeHostError('no command given', rc=256)
    start = datetime.datetime.now()
    result = {'cmd': ' '.join(argv), 'changed': True}
    if p['creates'] and fh.get_file(data, p['creates']):
        return dict(result, changed=False, rc=0, stdout='skipped, since %s exists' % p['creates'], msg='skipped')
    if p['removes'] and not fh.get_file(data, p['removes']):
        return dict(result, changed=False, rc=0, stdout='skipped, since %s does not exist' % p['removes'], msg='skipped')
    name = ntpath.basename(argv[0].replace('/', '\\')).lower()
    if name in ('msiexec', 'msiexec.exe'):
        rc, out, err = run_msiexec(data, argv)
    elif name in ('octopus.server.exe', 'octopus.server'):
        path = resolve_exe(data, argv[0] if argv[0].lower().endswith('.exe') else argv[0] + '.exe')
        if path is None:
            raise fh.FakeHostError('Exception calling "SearchPath": "Could not find file \'%s\'."' % argv[0], rc=2, **result)
        rc, out, err = octo.run(data, argv)
    else:
        raise fh.FakeHostError('Exception calling "SearchPath": "Could not find file \'%s\'." (the fake Windows host '
                               'only runs msiexec and Octopus.Server.exe)' % argv[0], rc=2, **result)
    end = datetime.datetime.now()
    result.update(rc=rc, stdout=out, stderr=err, stdout_lines=out.splitlines(), stderr_lines=err.splitlines(),
                  start=str(start), end=str(end), delta=str(end - start))
    if rc != 0:
        raise fh.FakeHostError('non-zero return code', **result)
    return result


def main():
    module = AnsibleModule(
        argument_spec=ARGUMENT_SPEC,
        required_one_of=[['_raw_params', 'argv', 'cmd']],
        mutually_exclusive=[['_raw_params', 'argv', 'cmd']],
        supports_check_mode=False,
    )
    fh.run_stand_in(module, 'ansible.windows.win_command', handler, ARGUMENT_SPEC, MODELLED)


if __name__ == '__main__':
    main()
