# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# Copyright: Contributors to the octopus.ha collection
"""The one rule for typing role and playbook variables.

This module_util is PRIVATE to the octopus.ha collection, not a public API.
It may change without notice between any two releases.

Variables reach a role as YAML values, as JSON extra vars, as ``-e key=value`` strings, as AWX
survey answers and as EDA extra vars. Only the first two keep their type: ``-e force=false`` gives
the string ``'false'``, which Jinja reads as true. So every role and shipped playbook converts its
variables once, where it starts, with ``normalize()`` (through the ``octopus.ha.typed_vars`` action
and the ``octopus.ha.connection`` lookup), and uses only the converted values.

Booleans and integers are converted strictly: a value that is neither fails at once with the
variable's name. Other types are checked by ansible-core's own argument spec validator.
"""

from __future__ import absolute_import, division, print_function
__metaclass__ = type

import re

from ansible.module_utils.common.arg_spec import ArgumentSpecValidator

TRUE_STRINGS = frozenset(('true', 'yes', 'on', 'y', 't', '1'))
FALSE_STRINGS = frozenset(('false', 'no', 'off', 'n', 'f', '0'))
BOOL_HINT = 'true/false, yes/no, on/off or 1/0'
_INT_RE = re.compile(r'^[+-]?\d+$')
# Keys of a role argument spec option that ArgumentSpecValidator does not know.
_DOC_ONLY_KEYS = ('description', 'version_added')


class InputError(ValueError):
    """One or more variables have values of the wrong type. str() is a full sentence."""

    def __init__(self, message, errors=None):
        super(InputError, self).__init__(message)
        self.errors = list(errors or [])


def _shown(value):
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + '...'


def to_bool(name, value):
    """A boolean from a bool, 0/1, or a string such as 'false', 'No', '0', 'yes'; anything else is an error."""
    if isinstance(value, bool):
        return value
    if isinstance(value, int) and value in (0, 1):
        return bool(value)
    if isinstance(value, float) and value in (0.0, 1.0):
        return bool(value)
    if isinstance(value, str):
        text = value.strip().lower()
        if text in TRUE_STRINGS:
            return True
        if text in FALSE_STRINGS:
            return False
    raise InputError('%s must be a boolean (%s), got %s.' % (name, BOOL_HINT, _shown(value)))


def to_int(name, value):
    """An integer from an int, an integral float, or a string of digits; booleans and anything else are errors."""
    if isinstance(value, bool):
        raise InputError('%s must be an integer, got the boolean %s.' % (name, _shown(value)))
    if isinstance(value, int):
        return value
    if isinstance(value, float) and value.is_integer():
        return int(value)
    if isinstance(value, str) and _INT_RE.match(value.strip()):
        return int(value.strip())
    raise InputError('%s must be an integer, got %s.' % (name, _shown(value)))


CONVERTERS = dict(bool=to_bool, int=to_int)


def _strip_docs(spec):
    """An argument spec (role argument_specs.yml options) as ArgumentSpecValidator expects it."""
    clean = {}
    for name, option in (spec or {}).items():
        option = dict((k, v) for k, v in (option or {}).items() if k not in _DOC_ONLY_KEYS)
        if isinstance(option.get('options'), dict):
            option['options'] = _strip_docs(option['options'])
        clean[name] = option
    return clean


def _convert_scalars(spec, values, errors):
    """Strict bool/int conversion of the given values (None means unset and is left to the defaults)."""
    converted = {}
    for name, value in values.items():
        kind = (spec.get(name) or {}).get('type', 'str')
        if value is not None and kind in CONVERTERS:
            try:
                value = CONVERTERS[kind](name, value)
            except InputError as exc:
                errors.append(str(exc))
                continue
        converted[name] = value
    return converted


def _masked(messages, spec, values):
    """The messages with the value of every secret option replaced (a secret is never echoed)."""
    secrets = [str(values[name]) for name in secret_options(spec) if values.get(name) not in (None, '')]
    masked = []
    for message in messages:
        for secret in secrets:
            message = message.replace(secret, '********')
        masked.append(message)
    return masked


def normalize(spec, values, context='the variables'):
    """Values converted to the types ``spec`` declares, defaults applied; raise InputError naming each bad variable.

    ``spec`` is a role argument spec (the ``options`` of an entry point of ``meta/argument_specs.yml``).
    ``values`` holds the variables that are set (None counts as unset). Only options of ``spec`` are
    returned, every one of them (unset options without a default are None).
    """
    spec = _strip_docs(spec)
    errors = []
    given = dict((k, v) for k, v in (values or {}).items() if k in spec)
    converted = _convert_scalars(spec, given, errors)
    if errors:
        raise _input_error(context, errors, spec, given)
    result = ArgumentSpecValidator(spec).validate(dict((k, v) for k, v in converted.items() if v is not None))
    if result.error_messages:
        raise _input_error(context, [m if m.endswith('.') else m + '.' for m in result.error_messages], spec, given)
    validated = result.validated_parameters
    return dict((name, validated.get(name)) for name in spec)


def _input_error(context, errors, spec, given):
    errors = _masked(errors, spec, given)
    return InputError('Invalid %s: %s' % (context, ' '.join(errors)), errors)


def secret_options(spec):
    """Names of the options that are secrets (``no_log: true``)."""
    return sorted(name for name, option in (spec or {}).items() if (option or {}).get('no_log'))


def strip_prefix(name, prefix):
    return name[len(prefix):] if prefix and name.startswith(prefix) else name
