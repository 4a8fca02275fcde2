# -*- coding: utf-8 -*-
# Copyright: Contributors to the octopus.ha collection
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

"""TEST-ONLY stand-in for chocolatey.chocolatey.win_chocolatey.

The ``octopusdeploy`` package installs the fake Octopus Server MSI of the requested version.
Knob ``chocolatey_available_versions`` lists the versions the fake feed has (default: any).

Pins as the real module handles them (win_chocolatey.ps1): the install or upgrade runs first, and
``choco upgrade`` skips a pinned package (exit code 0); the pin step comes after it and pins or
unpins ``version`` (every pin when ``pinned=false`` without a version). State per package:
``{name, version, pins: [versions], pinned: installed version is pinned}``.
"""

from __future__ import absolute_import, division, print_function
__metaclass__ = type

from ansible.module_utils.basic import AnsibleModule
from ansible_collections.ansible.windows.plugins.module_utils import _fake_host as fh


# The real module's options (names, types, defaults, choices) from its documentation;
# tests/fake_windows/test_stand_in_specs.py compares them with the dependency collections.
ARGUMENT_SPEC = dict(
    allow_empty_checksums=dict(type='bool', default=False),
    allow_multiple=dict(type='bool', default=False),
    allow_prerelease=dict(type='bool', default=False),
    architecture=dict(type='str', default='default', choices=['default', 'x86']),
    bootstrap_script=dict(type='str', aliases=['install_ps1', 'bootstrap_ps1']),
    bootstrap_tls_version=dict(
        type='list', default=['tls12', 'tls13'], choices=['tls11', 'tls12', 'tls13'], elements='str',
        aliases=['bootstrap_tls_versions', 'tls_version', 'tls_versions']),
    checksum=dict(type='str'),
    checksum64=dict(type='str'),
    checksum_type=dict(type='str', choices=['md5', 'sha1', 'sha256', 'sha512']),
    checksum_type64=dict(type='str', choices=['md5', 'sha1', 'sha256', 'sha512']),
    choco_args=dict(type='list', elements='str', aliases=['licensed_args']),
    force=dict(type='bool', default=False),
    ignore_checksums=dict(type='bool', default=False),
    ignore_dependencies=dict(type='bool', default=False),
    install_args=dict(type='str'),
    name=dict(type='list', elements='str', required=True),
    override_args=dict(type='bool', default=False),
    package_params=dict(type='str', aliases=['params']),
    pinned=dict(type='bool'),
    proxy_password=dict(type='str', no_log=True),
    proxy_url=dict(type='str'),
    proxy_username=dict(type='str'),
    remove_dependencies=dict(type='bool', default=False),
    skip_scripts=dict(type='bool', default=False),
    source=dict(type='str'),
    source_password=dict(type='str', no_log=True),
    source_username=dict(type='str'),
    state=dict(type='str', default='present', choices=['absent', 'downgrade', 'upgrade', 'latest', 'present', 'reinstalled']),
    timeout=dict(type='int', default=2700, aliases=['execution_timeout']),
    validate_certs=dict(type='bool', default=True),
    version=dict(type='str'),
)
# The options this stand-in implements; any other option given a non-default value fails the task.
MODELLED = frozenset([
    'allow_multiple', 'allow_prerelease', 'force', 'install_args', 'name', 'package_params', 'pinned',
    'source', 'state', 'timeout', 'version',
])


def _vt(version):
    return tuple(int(x) if x.isdigit() else 0 for x in str(version).split('.'))


def _install(data, name, version):
    pkgs = data['chocolatey']['packages']
    old = pkgs.get(name.lower()) or {}
    pkgs[name.lower()] = {'name': name, 'version': version, 'pins': list(old.get('pins') or [])}
    if name.lower() == 'octopusdeploy':
        import json  # pylint: disable=import-outside-toplevel
        fh.install_msi_document(data, json.loads(fh.fake_msi_document(version)), source='chocolatey')


def _install_or_upgrade(p, data, name, current, feed, cmd):
    """Install or upgrade one package as choco does; returns True when something changed."""
    version = p['version']
    if version is None:
        if current:
            return False
        raise fh.FakeHostError('the fake feed needs an explicit version for %s' % name, rc=1)
    if current and current['version'] == version:
        return False
    if feed is not None and version not in feed:
        raise fh.FakeHostError("Chocolatey: The package was not found with the source(s) listed. %s %s" % (name, version),
                               rc=1, command='choco.exe install %s --version %s' % (name, version))
    if current and p['state'] == 'present' and not p['allow_multiple'] and not p['force']:
        raise fh.FakeHostError("Chocolatey package '%s' is already installed with version(s) '%s' but was expecting '%s'. "
                               "Either change the expected version, set state=latest or state=upgrade, set allow_multiple=yes, "
                               "or set force=yes to continue" % (name, current['version'], version))
    if current and p['state'] in ('upgrade', 'latest'):
        if current.get('pins'):
            # choco upgrade skips a pinned package and exits 0: "<name> is pinned. Skipping pinned package."
            cmd.append('choco.exe upgrade %s --version %s -y (skipped: pinned)' % (name, version))
            return False
        if _vt(current['version']) > _vt(version):
            raise fh.FakeHostError('A newer version of %s (%s) is already installed; use state=downgrade' % (name, current['version']))
    _install(data, name, version)
    cmd.append('choco.exe %s %s --version %s -y' % ('upgrade' if current else 'install', name, version))
    return True


def _pin(p, data, name, cmd):
    """The real module's pin step, after the install/upgrade: pin or unpin ``version`` (all pins without one)."""
    current = data['chocolatey']['packages'].get(name.lower())
    if p['pinned'] is None or current is None:
        return False
    pins, version = current.setdefault('pins', []), p['version']
    if pins and not p['pinned'] and version is None:
        del pins[:]
        cmd.append('choco.exe pin remove -n %s' % name)
        return True
    if pins and version is not None and (version in pins) != p['pinned']:
        if p['pinned']:
            if version != current['version']:
                raise fh.FakeHostError("Unable to find package named '%s' (version '%s') to pin. Make sure it is installed."
                                       % (name, version), rc=1)
            pins.append(version)
        else:
            pins.remove(version)
        cmd.append('choco.exe pin %s -n %s --version %s' % ('add' if p['pinned'] else 'remove', name, version))
        return True
    if not pins and p['pinned']:
        pins.append(version or current['version'])
        cmd.append('choco.exe pin add -n %s --version %s' % (name, pins[-1]))
        return True
    return False


def handler(module, data):
    p = module.params
    pkgs = data['chocolatey']['packages']
    changed = False
    cmd = []
    feed = data['knobs'].get('chocolatey_available_versions')
    for name in p['name']:
        current = pkgs.get(name.lower())
        if p['state'] == 'absent':
            if current:
                del pkgs[name.lower()]
                changed = True
            continue
        changed = _install_or_upgrade(p, data, name, current, feed, cmd) or changed
    for name in p['name']:
        if p['state'] != 'absent':
            changed = _pin(p, data, name, cmd) or changed
    for package in pkgs.values():
        package['pinned'] = package['version'] in (package.get('pins') or [])
    return {'changed': changed, 'rc': 0, 'command': '; '.join(cmd), 'stdout': 'Chocolatey: %s' % ('; '.join(cmd) or 'nothing to do')}


def main():
    module = AnsibleModule(
        argument_spec=ARGUMENT_SPEC,
        supports_check_mode=True,
    )
    fh.run_stand_in(module, 'chocolatey.chocolatey.win_chocolatey', handler, ARGUMENT_SPEC, MODELLED)


if __name__ == '__main__':
    main()
