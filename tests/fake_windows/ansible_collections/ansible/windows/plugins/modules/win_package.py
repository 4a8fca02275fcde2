# -*- coding: utf-8 -*-
# Copyright: Contributors to the octopus.ha collection
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

"""TEST-ONLY stand-in for ansible.windows.win_package installing fake MSIs (see README.md)."""

from __future__ import absolute_import, division, print_function
__metaclass__ = type

from ansible.module_utils.basic import AnsibleModule
from ansible_collections.ansible.windows.plugins.module_utils import _fake_host as fh


# The real module's options (names, types, defaults, choices) from its documentation;
# tests/fake_windows/test_stand_in_specs.py compares them with the dependency collections.
ARGUMENT_SPEC = dict(
    arguments=dict(type='raw'),
    chdir=dict(type='path'),
    checksum=dict(type='str'),
    checksum_algorithm=dict(type='str', default='sha1', choices=['md5', 'sha1', 'sha256', 'sha384', 'sha512']),
    client_cert=dict(type='str'),
    client_cert_password=dict(type='str', no_log=True),
    creates_path=dict(type='path'),
    creates_service=dict(type='str'),
    creates_version=dict(type='str'),
    expected_return_code=dict(type='list', default=[0, 3010], elements='int'),
    follow_redirects=dict(type='str', default='safe', choices=['all', 'none', 'safe']),
    force_basic_auth=dict(type='bool', default=False),
    headers=dict(type='dict'),
    http_agent=dict(type='str', default='ansible-httpget'),
    log_path=dict(type='path'),
    maximum_redirection=dict(type='int', default=50),
    path=dict(type='str'),
    product_id=dict(type='str'),
    provider=dict(type='str', default='auto', choices=['auto', 'msi', 'msix', 'msp', 'registry']),
    proxy_password=dict(type='str', no_log=True),
    proxy_url=dict(type='str'),
    proxy_use_default_credential=dict(type='bool', default=False),
    proxy_username=dict(type='str'),
    state=dict(type='str', default='present', choices=['absent', 'present']),
    url_method=dict(type='str'),
    url_password=dict(type='str', no_log=True),
    url_timeout=dict(type='int', default=30),
    url_username=dict(type='str'),
    use_default_credential=dict(type='bool', default=False),
    use_proxy=dict(type='bool', default=True),
    validate_certs=dict(type='bool', default=True),
    wait_for_children=dict(type='bool', default=False),
)
# The options this stand-in implements; any other option given a non-default value fails the task.
MODELLED = frozenset([
    'arguments', 'chdir', 'checksum', 'checksum_algorithm', 'creates_path', 'creates_service',
    'creates_version', 'expected_return_code', 'log_path', 'path', 'product_id', 'provider', 'state',
    'wait_for_children',
])


def _command(module, action):
    log = module.params['log_path'] or 'C:\\Windows\\Temp\\ansible-msiexec.log'
    args = module.params['arguments']
    if isinstance(args, list):
        args = ' '.join(str(a) for a in args)
    cmd = 'C:\\Windows\\System32\\msiexec.exe %s "%s" /L*V "%s" /qn /norestart' % (action, module.params['path'], log)
    return cmd + (' ' + args if args else '')


def _creates_ok(module, data):
    path = module.params['creates_path']
    if not path:
        return False
    entry = fh.get_file(data, path)
    if entry is None:
        return False
    wanted = module.params['creates_version']
    return wanted is None or entry.get('version') == wanted


def handler(module, data):
    p = module.params
    result = {'changed': False, 'reboot_required': False, 'rc': 0}
    if p['state'] == 'absent':
        code = p['product_id']
        if code is None and p['path']:
            code = fh.read_msi(data, p['path'])['ProductCode']
        if code not in data['products']:
            return result
        fh.uninstall_product(data, code)
        result.update(changed=True, stdout='', stderr='')
        return result
    if not p['path']:
        raise fh.FakeHostError('path must be set when state=present')
    if _creates_ok(module, data):
        return result
    try:
        doc = fh.read_msi(data, p['path'])
    except fh.FakeHostError as exc:
        raise fh.FakeHostError(exc.msg, **result)
    code = p['product_id'] or doc['ProductCode']
    if code in data['products']:
        return result
    if p['checksum']:
        actual = fh.file_checksum(fh.get_file(data, p['path']), p['checksum_algorithm'])
        result['checksum'] = actual
        if actual != p['checksum'].lower():
            raise fh.FakeHostError('checksum mismatch for %s: %s != %s' % (p['path'], actual, p['checksum']), **result)
    result['changed'] = True
    rc, message = fh.msi_install(data, p['path'], p['log_path'], p['arguments'])
    result.update(rc=rc, stdout=message + '\r\n', stderr='')
    expected = p['expected_return_code'] if p['expected_return_code'] is not None else [0, 3010]
    if rc not in expected:
        log = fh.get_file(data, p['log_path']) if p['log_path'] else None
        if log:
            result['log'] = log.get('content')
        raise fh.FakeHostError("unexpected rc from '%s': see rc, stdout, and stderr for more details"
                               % _command(module, '/i'), **result)
    result['reboot_required'] = rc == 3010
    result['failed'] = False  # like the real module: rc 3010 is not a failure
    return result


def main():
    module = AnsibleModule(
        argument_spec=ARGUMENT_SPEC,
        required_one_of=[['path', 'product_id']],
        supports_check_mode=True,
    )
    fh.run_stand_in(module, 'ansible.windows.win_package', handler, ARGUMENT_SPEC, MODELLED)


if __name__ == '__main__':
    main()
