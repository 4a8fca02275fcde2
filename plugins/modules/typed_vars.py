#!/usr/bin/python
# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# Copyright: Contributors to the octopus.ha collection

from __future__ import absolute_import, division, print_function
__metaclass__ = type

DOCUMENTATION = r"""
module: typed_vars
short_description: Convert a role's or playbook's variables to their declared types, once
version_added: 0.2.0
description:
  - Variables reach a role as YAML values, JSON extra vars, C(-e key=value) strings, AWX survey answers or EDA extra vars.
    Only YAML and JSON keep their type. C(-e node_remove_force=false) gives the string C('false'), which Jinja reads as true.
  - This action reads the argument spec of the role it runs in (C(meta/argument_specs.yml), entry point of the role's
    C(tasks_from), default C(main)), or the O(argument_spec) given, takes each option's value from the variables, and
    converts it to the declared type.
  - Booleans accept C(true)/C(false), C(yes)/C(no), C(on)/C(off), C(1)/C(0) in any case. Integers accept integers,
    integral floats and strings of digits. Anything else fails at once with a message that names the variable, before
    the role changes anything. Choices, required options and the other types are checked by ansible-core's argument spec
    validator.
  - It sets one fact, a dictionary named O(fact) whose keys are the option names without O(prefix). Tasks then use only
    that dictionary, for example C(node_remove_args.force). Options marked C(no_log) (secrets) are validated but left out
    of the fact, so that no secret is ever shown in a task result.
  - Runs on the controller; it makes no connection to the host.
author:
  - octopus.ha maintainers (@octopus-ha)
options:
  argument_spec:
    description:
      - Options in the format of the C(options) of a role argument spec entry point (C(type), C(default), C(choices),
        C(elements), C(no_log), C(required)).
      - Required outside a role. In a role the role's own C(meta/argument_specs.yml) is used when this is not set.
    type: dict
  entry_point:
    description:
      - The entry point of the role's argument spec. Defaults to the role's C(tasks_from), else C(main).
    type: str
  fact:
    description:
      - Name of the dictionary fact to set. Defaults to C(<role name>_args) in a role. Required outside a role.
    type: str
  prefix:
    description:
      - Prefix removed from the option names to make the keys of the fact. Defaults to C(<role name>_) in a role, else
        nothing.
      - Options whose name does not start with the prefix are validated but left out of the fact. A role documents the
        shared connection variables (C(octopus_url), ...) that way; it reads them with the P(octopus.ha.connection#lookup)
        lookup.
    type: str
extends_documentation_fragment:
  - ansible.builtin.action_common_attributes
  - ansible.builtin.action_common_attributes.conn
  - ansible.builtin.action_common_attributes.flow
attributes:
  action:
    support: full
  async:
    support: none
  become:
    support: none
  bypass_host_loop:
    support: none
  connection:
    support: none
  check_mode:
    support: full
    details:
      - It changes nothing, so it runs the same in check mode.
  delegation:
    support: none
  diff_mode:
    support: none
  platform:
    platforms: all
notes:
  - The fact is set on every run of the role, so a second C(include_role) with other variables sees its own values.
  - Extra vars (C(-e)) have the highest precedence of all variables, so a fact can never override them. That is why the
    converted values live under a new name instead of replacing the variables themselves.
seealso:
  - plugin: octopus.ha.connection
    plugin_type: lookup
"""

EXAMPLES = r"""
# First task of roles/node_remove/tasks/main.yml
- name: Read the role's variables as their declared types
  octopus.ha.typed_vars:

- name: Use only the typed values
  ansible.builtin.debug:
    msg: "force is {{ node_remove_args.force }}"
  when: node_remove_args.force

# In a playbook
- name: Read the playbook's variables as their declared types
  octopus.ha.typed_vars:
    fact: octopus_scale_out_args
    prefix: octopus_scale_out_
    argument_spec:
      octopus_scale_out_remove_on_failure:
        type: bool
        default: false
"""

RETURN = r"""
ansible_facts:
  description: The dictionary fact named O(fact).
  returned: success
  type: dict
  sample: {"node_remove_args": {"force": false, "drain_timeout": 1800}}
errors:
  description: One sentence per variable whose value has the wrong type.
  returned: failure
  type: list
  elements: str
  sample: ["node_remove_force must be a boolean (true/false, yes/no, on/off or 1/0), got 'maybe'."]
"""
