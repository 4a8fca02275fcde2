# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# Copyright: Contributors to the octopus.ha collection

from __future__ import absolute_import, division, print_function
__metaclass__ = type

DOCUMENTATION = r"""
name: connection
short_description: The Octopus connection options that were set, for a role's module_defaults
version_added: 0.2.0
description:
  - Reads the variables C(octopus_<option>) for each connection option of the octopus.ha API modules (C(octopus_url),
    C(octopus_api_key), C(octopus_validate_certs), C(octopus_ca_path), C(octopus_timeout), C(octopus_request_deadline),
    C(octopus_max_retries), and any connection option added later), converted to the option's type.
  - Without terms it returns a dictionary of only the options whose variable is set (not undefined, null or empty).
    Used as the per-module C(module_defaults) value in a role, it passes on what the user set and nothing else, so
    play-level C(module_defaults) for C(group/octopus.ha.octopus) and the modules' environment fallbacks
    (C(OCTOPUS_URL), C(OCTOPUS_API_KEY), ...) still apply.
  - With terms (option names such as C(validate_certs)) it returns the value each option will have in the modules, that is the
    variable when set, else the environment fallback, else the module default. Use it where a non-Octopus module needs
    the same setting, for example C(ansible.builtin.uri) calling a node's own URL.
  - A variable with a value of the wrong type (for example C(-e octopus_validate_certs=maybe)) fails the task that uses
    the lookup, naming the variable.
  - Keyword arguments override single options, for a role that has its own setting (C(timeout=node_remove_args.x));
    a keyword given as null or an empty string is ignored.
author:
  - octopus.ha maintainers (@octopus-ha)
options:
  _terms:
    description: Connection option names. Without any, the dictionary of the options that are set is returned.
    type: list
    elements: str
    required: false
"""

EXAMPLES = r"""
- name: Remove the node through the Octopus API
  module_defaults:
    octopus.ha.octopus_node: &octopus_connection "{{ lookup('octopus.ha.connection') }}"
    octopus.ha.octopus_cluster_info: *octopus_connection
  block:
    - name: Read the cluster
      octopus.ha.octopus_cluster_info:

- name: Call the node's own ping with the same TLS settings as the modules
  ansible.builtin.uri:
    url: https://octo-node-01.example.com/api/octopusservernodes/ping
    validate_certs: "{{ lookup('octopus.ha.connection', 'validate_certs') }}"
    ca_path: "{{ lookup('octopus.ha.connection', 'ca_path') }}"
"""

RETURN = r"""
_raw:
  description:
    - Without terms, one dictionary of the connection options that are set.
    - With terms, the effective value of each named option.
  type: list
  elements: raw
"""

import os

from ansible.errors import AnsibleLookupError
from ansible.plugins.lookup import LookupBase

from ansible_collections.octopus.ha.plugins.module_utils._octopus_api import OCTOPUS_CONNECTION_SPEC
from ansible_collections.octopus.ha.plugins.module_utils._octopus_inputs import InputError, normalize

VAR_PREFIX = 'octopus_'


def _is_set(value):
    return value is not None and not (isinstance(value, str) and not value.strip())


def _spec_option(name):
    """The connection option's spec, as a role argument spec option (type only: defaults stay with the modules)."""
    return dict(type=OCTOPUS_CONNECTION_SPEC[name].get('type', 'str'), no_log=bool(OCTOPUS_CONNECTION_SPEC[name].get('no_log')))


def _fallback(name):
    """The environment fallback of a connection option, or None."""
    fallback = OCTOPUS_CONNECTION_SPEC[name].get('fallback')
    if not fallback:
        return None
    for env in fallback[1] if len(fallback) > 1 else ():
        if _is_set(os.environ.get(env)):
            return os.environ[env]
    return None


class LookupModule(LookupBase):

    def run(self, terms, variables=None, **kwargs):
        variables = variables or {}
        unknown = sorted(set(list(terms) + list(kwargs)) - set(OCTOPUS_CONNECTION_SPEC))
        if unknown:
            raise AnsibleLookupError('octopus.ha.connection: unknown connection options %s; known: %s.'
                                     % (', '.join(unknown), ', '.join(sorted(OCTOPUS_CONNECTION_SPEC))))
        given = self._given(variables, kwargs)
        if not terms:
            return [self._typed(given)]
        effective = {}
        for name in terms:
            if name in given:
                effective[VAR_PREFIX + name] = given[name]
            elif _fallback(name) is not None:
                effective[VAR_PREFIX + name] = _fallback(name)
            else:
                effective[VAR_PREFIX + name] = OCTOPUS_CONNECTION_SPEC[name].get('default')
        typed = self._normalize(dict((VAR_PREFIX + n, _spec_option(n)) for n in terms), effective)
        return [typed[VAR_PREFIX + name] for name in terms]

    def _given(self, variables, kwargs):
        """{option: raw value} of the options set by a keyword or by their octopus_<option> variable."""
        given = {}
        for name in OCTOPUS_CONNECTION_SPEC:
            if _is_set(kwargs.get(name)):
                given[name] = kwargs[name]
                continue
            var = VAR_PREFIX + name
            if var in variables:
                value = self._templar.template(variables[var])
                if _is_set(value):
                    given[name] = value
        return given

    def _typed(self, given):
        spec = dict((VAR_PREFIX + n, _spec_option(n)) for n in given)
        typed = self._normalize(spec, dict((VAR_PREFIX + n, v) for n, v in given.items()))
        return dict((n, typed[VAR_PREFIX + n]) for n in given)

    @staticmethod
    def _normalize(spec, values):
        try:
            return normalize(spec, values, context='Octopus connection variables')
        except InputError as exc:
            raise AnsibleLookupError('%s Correct these variables and run again.' % exc)
