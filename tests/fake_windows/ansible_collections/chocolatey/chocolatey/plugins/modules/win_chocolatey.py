# -*- coding: utf-8 -*-
# Copyright: Contributors to the octopus.ha collection
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

"""TEST-ONLY stand-in for chocolatey.chocolatey.win_chocolatey.

The ``octopusdeploy`` package installs the fake Octopus Server MSI of the requested version.
Knob ``chocolatey_available_versions`` lists the versions the fake feed has (default: any).
"""

from __future__ import absolute_import, division, print_function
__metaclass__ = type

from ansible.module_utils.basic import AnsibleModule
from ansible_collections.ansible.windows.plugins.module_utils import _fake_host as fh


def _vt(version):
    return tuple(int(x) if x.isdigit() else 0 for x in str(version).split('.'))


def _install(data, name, version, pinned):
    pkgs = data['chocolatey']['packages']
    pkgs[name.lower()] = {'name': name, 'version': version, 'pinned': bool(pinned)}
    if name.lower() == 'octopusdeploy':
        import json  # pylint: disable=import-outside-toplevel
        fh.install_msi_document(data, json.loads(fh.fake_msi_document(version)), source='chocolatey')


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
        version = p['version']
        if version is None:
            if current:
                continue
            raise fh.FakeHostError('the fake feed needs an explicit version for %s' % name, rc=1)
        if feed is not None and version not in feed:
            raise fh.FakeHostError("Chocolatey: The package was not found with the source(s) listed. %s %s" % (name, version),
                                   rc=1, command='choco.exe install %s --version %s' % (name, version))
        if current and current['version'] == version:
            if p['pinned'] is not None and current['pinned'] != p['pinned']:
                current['pinned'] = p['pinned']
                changed = True
            continue
        if current and p['state'] == 'present' and not p['allow_multiple']:
            raise fh.FakeHostError("Chocolatey package '%s' is already installed with version(s) '%s' but was expecting '%s'. "
                                   "Either change the expected version, set state=latest or state=upgrade, or set "
                                   "allow_multiple=yes to install multiple side by side versions"
                                   % (name, current['version'], version))
        if current and p['state'] == 'upgrade' and _vt(current['version']) > _vt(version):
            raise fh.FakeHostError('A newer version of %s (%s) is already installed; use state=downgrade' % (name, current['version']))
        _install(data, name, version, p['pinned'])
        cmd.append('choco.exe %s %s --version %s -y' % ('upgrade' if current else 'install', name, version))
        changed = True
    return {'changed': changed, 'rc': 0, 'command': '; '.join(cmd), 'stdout': 'Chocolatey installed %d/%d packages.' % (len(cmd), len(cmd))}


def main():
    module = AnsibleModule(
        argument_spec=dict(
            name=dict(type='list', elements='str', required=True),
            version=dict(type='str'),
            state=dict(type='str', default='present',
                       choices=['absent', 'downgrade', 'upgrade', 'latest', 'present', 'reinstalled']),
            pinned=dict(type='bool'),
            source=dict(type='str'),
            allow_multiple=dict(type='bool', default=False),
            allow_prerelease=dict(type='bool', default=False),
            force=dict(type='bool', default=False),
            install_args=dict(type='str'),
            package_params=dict(type='str', aliases=['params']),
            timeout=dict(type='int', default=2700, aliases=['execution_timeout']),
        ),
        supports_check_mode=True,
    )
    fh.run_stand_in(module, 'chocolatey.chocolatey.win_chocolatey', handler)


if __name__ == '__main__':
    main()
