# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# Copyright: Contributors to the octopus.ha collection
"""Action plugin octopus.ha.typed_vars: a role's (or playbook's) variables, converted once to their declared types.

The rule itself (strict booleans and integers, the argument spec check) lives in
plugins/module_utils/_octopus_inputs.py; this plugin finds the spec and the values and sets the fact.
"""

from __future__ import absolute_import, division, print_function
__metaclass__ = type

import os

from ansible.errors import AnsibleActionFail
from ansible.module_utils.common.text.converters import to_text
from ansible.plugins.action import ActionBase

from ansible_collections.octopus.ha.plugins.module_utils._octopus_inputs import InputError, normalize, secret_options, strip_prefix

ARGS = frozenset(('argument_spec', 'entry_point', 'fact', 'prefix'))


class ActionModule(ActionBase):

    TRANSFERS_FILES = False
    _requires_connection = False
    _supports_check_mode = True

    def run(self, tmp=None, task_vars=None):
        result = super(ActionModule, self).run(tmp, task_vars)
        task_vars = task_vars or {}
        args = dict(self._task.args)
        unknown = sorted(set(args) - ARGS)
        if unknown:
            raise AnsibleActionFail('octopus.ha.typed_vars: unsupported options %s; it takes %s.' % (', '.join(unknown), ', '.join(sorted(ARGS))))
        spec, what, name = self._spec(args)
        prefix = args.get('prefix')
        if prefix is None:
            prefix = name + '_' if name else ''
        fact = args.get('fact') or (name + '_args' if name else None)
        if not fact:
            raise AnsibleActionFail('octopus.ha.typed_vars: set fact (the name of the dict to set) when it runs outside a role.')
        values = dict((option, self._templar.template(task_vars[option])) for option in spec if option in task_vars)
        try:
            typed = normalize(spec, values, context=what)
        except InputError as exc:
            result.update(failed=True, msg='%s Correct these variables (given with -e, in a survey, an EDA event or the inventory) '
                          'and run again.' % exc, errors=exc.errors)
            return result
        # Secrets are validated but never set as a fact (facts show up in results); options without the prefix
        # (the shared octopus_* connection variables a role documents) are read through octopus.ha.connection.
        kept = dict((strip_prefix(option, prefix), value) for option, value in typed.items()
                    if option not in set(secret_options(spec)) and option.startswith(prefix))
        result.update(changed=False, ansible_facts={fact: kept})
        result['msg'] = 'Typed %d variables of %s into %s.' % (len(kept), what, fact)
        return result

    def _spec(self, args):
        """(options spec, description for messages, role name or None)."""
        if args.get('argument_spec') is not None:
            spec = args['argument_spec']
            if not isinstance(spec, dict):
                raise AnsibleActionFail('octopus.ha.typed_vars: argument_spec must be a dictionary of options.')
            return spec, 'variables of this play', None
        role = getattr(self._task, '_role', None)
        if role is None:
            raise AnsibleActionFail('octopus.ha.typed_vars: outside a role, pass argument_spec.')
        name = role.get_name(include_role_fqcn=False)
        entry = args.get('entry_point') or role._from_files.get('tasks', 'main')
        options = self._role_options(role, entry)
        return options, 'variables of role %s' % name, name

    def _role_options(self, role, entry):
        meta = os.path.join(role.get_role_path(), 'meta')
        for filename in ('argument_specs.yml', 'argument_specs.yaml'):
            path = os.path.join(meta, filename)
            if os.path.exists(path):
                data = self._loader.load_from_file(path) or {}
                specs = data.get('argument_specs') or {}
                if entry not in specs:
                    raise AnsibleActionFail('octopus.ha.typed_vars: %s has no entry point %r.' % (to_text(path), entry))
                return dict(specs[entry].get('options') or {})
        raise AnsibleActionFail('octopus.ha.typed_vars: role %s has no meta/argument_specs.yml.' % role.get_name())
