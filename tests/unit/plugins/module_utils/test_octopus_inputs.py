# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# Copyright: Contributors to the octopus.ha collection
"""The one typing rule for role and playbook variables (issue 8 §1)."""

from __future__ import absolute_import, division, print_function
__metaclass__ = type

import pytest

from hypothesis import given, strategies as st

from ansible_collections.octopus.ha.plugins.module_utils._octopus_inputs import (
    InputError,
    normalize,
    secret_options,
    to_bool,
    to_int,
)

SPEC = {
    'r_force': {'type': 'bool', 'default': False, 'description': ['doc text is ignored']},
    'r_timeout': {'type': 'int', 'default': 1800},
    'r_mode': {'type': 'str', 'default': 'block', 'choices': ['block', 'cancel']},
    'r_key': {'type': 'str', 'no_log': True},
    'r_hosts': {'type': 'list', 'elements': 'str', 'default': []},
}


@pytest.mark.parametrize('text', ['false', 'False', 'FALSE', 'no', 'No', '0', 'off', ' false ', 'n', 'f'])
def test_false_spellings(text):
    assert to_bool('x', text) is False


@pytest.mark.parametrize('text', ['true', 'True', 'yes', 'YES', '1', 'on', ' true', 'y', 't'])
def test_true_spellings(text):
    assert to_bool('x', text) is True


@pytest.mark.parametrize('value,expected', [(True, True), (False, False), (0, False), (1, True), (1.0, True)])
def test_typed_booleans(value, expected):
    assert to_bool('x', value) is expected


@pytest.mark.parametrize('value', ['maybe', '', 'truee', '2', 2, -1, [], {}, 'none'])
def test_not_a_boolean_names_the_variable(value):
    with pytest.raises(InputError) as err:
        to_bool('node_remove_force', value)
    assert 'node_remove_force must be a boolean' in str(err.value)


@pytest.mark.parametrize('value,expected', [('5', 5), (' 30 ', 30), ('-1', -1), ('+7', 7), (12, 12), (3.0, 3)])
def test_integers(value, expected):
    assert to_int('x', value) == expected


@pytest.mark.parametrize('value', ['ten', '', '1.5', 1.5, True, False, '0x10', [], None])
def test_not_an_integer_names_the_variable(value):
    with pytest.raises(InputError) as err:
        to_int('node_remove_drain_timeout', value)
    assert 'node_remove_drain_timeout must be an integer' in str(err.value)


def test_normalize_converts_applies_defaults_and_returns_every_option():
    typed = normalize(SPEC, {'r_force': 'no', 'r_timeout': '60', 'r_hosts': 'a,b', 'other': 'ignored'})
    assert typed == {'r_force': False, 'r_timeout': 60, 'r_mode': 'block', 'r_key': None, 'r_hosts': ['a', 'b']}


def test_none_means_unset_so_the_default_applies():
    assert normalize(SPEC, {'r_force': None, 'r_timeout': None})['r_timeout'] == 1800


def test_every_bad_variable_is_named_in_one_error():
    with pytest.raises(InputError) as err:
        normalize(SPEC, {'r_force': 'maybe', 'r_timeout': 'soon'}, context='variables of role r')
    text = str(err.value)
    assert text.startswith('Invalid variables of role r:')
    assert 'r_force must be a boolean' in text and 'r_timeout must be an integer' in text
    assert len(err.value.errors) == 2


def test_choices_are_checked_by_the_validator():
    with pytest.raises(InputError) as err:
        normalize(SPEC, {'r_mode': 'sometimes'})
    assert 'r_mode' in str(err.value) and 'block' in str(err.value)


def test_a_secret_never_appears_in_an_error():
    secret = 'API-SECRETVALUE0123456789'
    with pytest.raises(InputError) as err:
        normalize(dict(SPEC, r_key={'type': 'int', 'no_log': True}), {'r_key': secret})
    assert secret not in str(err.value)


def test_secret_options():
    assert secret_options(SPEC) == ['r_key']


@given(st.booleans())
def test_a_boolean_round_trips_through_any_of_its_text_forms(value):
    for text in (str(value), str(value).lower(), str(value).upper(), 'yes' if value else 'no', str(int(value))):
        assert normalize(SPEC, {'r_force': text})['r_force'] is value


@given(st.integers(min_value=-10 ** 9, max_value=10 ** 9))
def test_an_integer_round_trips_through_its_text_form(value):
    assert normalize(SPEC, {'r_timeout': str(value)})['r_timeout'] == value
