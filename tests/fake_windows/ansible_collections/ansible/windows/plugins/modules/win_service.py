# -*- coding: utf-8 -*-
# Copyright: Contributors to the octopus.ha collection
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

"""TEST-ONLY stand-in for ansible.windows.win_service (Octopus services start/stop the fake server)."""

from __future__ import absolute_import, division, print_function
__metaclass__ = type

from ansible.module_utils.basic import AnsibleModule
from ansible_collections.ansible.windows.plugins.module_utils import _fake_host as fh
from ansible_collections.ansible.windows.plugins.module_utils import _fake_octopus_server as octo

SYSTEM = ('localsystem', 'nt authority\\system', '.\\localsystem')


# The real module's options (names, types, defaults, choices) from its documentation;
# tests/fake_windows/test_stand_in_specs.py compares them with the dependency collections.
ARGUMENT_SPEC = dict(
    dependencies=dict(type='list', elements='str'),
    dependency_action=dict(type='str', default='set', choices=['add', 'remove', 'set']),
    description=dict(type='str'),
    desktop_interact=dict(type='bool', default=False),
    display_name=dict(type='str'),
    error_control=dict(type='str', choices=['critical', 'ignore', 'normal', 'severe']),
    failure_actions=dict(type='list', elements='dict'),
    failure_actions_on_non_crash_failure=dict(type='bool'),
    failure_command=dict(type='str'),
    failure_reboot_msg=dict(type='str'),
    failure_reset_period_sec=dict(type='raw', aliases=['failure_reset_period']),
    force_dependent_services=dict(type='bool', default=False),
    load_order_group=dict(type='str'),
    name=dict(type='str', required=True),
    password=dict(type='str', no_log=True),
    path=dict(type='str'),
    pre_shutdown_timeout_ms=dict(type='raw', aliases=['pre_shutdown_timeout']),
    required_privileges=dict(type='list', elements='str'),
    service_type=dict(type='str', choices=['user_own_process', 'user_share_process', 'win32_own_process', 'win32_share_process']),
    sid_info=dict(type='str', choices=['none', 'restricted', 'unrestricted']),
    start_mode=dict(type='str', choices=['auto', 'delayed', 'disabled', 'manual']),
    state=dict(type='str', choices=['absent', 'paused', 'started', 'stopped', 'restarted']),
    update_password=dict(type='str', choices=['always', 'on_create']),
    username=dict(type='str'),
)
# The options this stand-in implements; any other option given a non-default value fails the task.
MODELLED = frozenset([
    'dependencies', 'dependency_action', 'description', 'display_name', 'force_dependent_services', 'name',
    'password', 'path', 'start_mode', 'state', 'update_password', 'username',
])


def _result(svc):
    if svc is None:
        return {'exists': False}
    return {
        'exists': True,
        'name': svc['name'],
        'display_name': svc.get('display_name', svc['name']),
        'state': svc['state'],
        'start_mode': svc.get('start_mode', 'auto'),
        'path': svc.get('path'),
        'can_pause_and_continue': False,
        'description': svc.get('description', ''),
        'username': svc.get('username', 'LocalSystem'),
        'desktop_interact': False,
        'dependencies': svc.get('dependencies', []),
        'depended_by': [],
    }


def _set_state(data, svc, wanted):
    changed = False
    if (wanted == 'started' and svc['state'] != 'running') or wanted == 'restarted':
        if wanted == 'restarted' and svc['state'] == 'running':
            if svc.get('octopus_instance'):
                octo.service_stopped_hook(data, svc)
            svc['state'] = 'stopped'
        if svc.get('start_mode') == 'disabled':
            raise fh.FakeHostError("Service '%s' is disabled and cannot be started" % svc['name'])
        if svc.get('octopus_instance'):
            try:
                octo.service_started_hook(data, svc)
            except octo.ExeError as exc:
                raise fh.FakeHostError("Service '%s' failed to start: %s" % (svc['name'], exc.msg))
        svc['state'] = 'running'
        changed = True
    elif wanted == 'stopped' and svc['state'] != 'stopped':
        if svc.get('octopus_instance'):
            octo.service_stopped_hook(data, svc)
        svc['state'] = 'stopped'
        changed = True
    return changed


def handler(module, data):
    p = module.params
    svc = fh.get_service(data, p['name'])
    changed = False
    if p['state'] == 'absent':
        if svc is not None:
            data['services'].pop(fh.service_key(p['name']))
            changed = True
        return dict(changed=changed, exists=False)
    if svc is None:
        if p['path']:
            svc = data['services'][fh.service_key(p['name'])] = {
                'name': p['name'], 'display_name': p['display_name'] or p['name'], 'state': 'stopped',
                'start_mode': p['start_mode'] or 'auto', 'username': 'LocalSystem', 'path': p['path'],
                'dependencies': p['dependencies'] or [],
            }
            changed = True
        elif any(p[k] is not None for k in ('state', 'start_mode', 'username', 'display_name', 'description')):
            raise fh.FakeHostError("Service '%s' is not installed, need to set 'path' to create a new service" % p['name'],
                                   exists=False)
        else:
            return dict(changed=False, exists=False)
    for key in ('display_name', 'description', 'start_mode', 'path'):
        if p[key] is not None and svc.get(key) != p[key]:
            svc[key] = p[key]
            changed = True
    if p['username'] is not None:
        user = 'LocalSystem' if p['username'].lower() in SYSTEM else p['username']
        if user.lower() != str(svc.get('username', '')).lower():
            if user != 'LocalSystem' and not user.endswith('$') and not p['password']:
                raise fh.FakeHostError("A password is required to run service '%s' as %s" % (p['name'], user))
            svc['username'] = user
            changed = True
        elif p['password'] and p['update_password'] == 'always':
            changed = True
    if p['state']:
        changed = _set_state(data, svc, p['state']) or changed
    result = _result(svc)
    result['changed'] = changed
    return result


def main():
    module = AnsibleModule(
        argument_spec=ARGUMENT_SPEC,
        supports_check_mode=True,
    )
    fh.run_stand_in(module, 'ansible.windows.win_service', handler, ARGUMENT_SPEC, MODELLED)


if __name__ == '__main__':
    main()
