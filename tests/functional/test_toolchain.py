# -*- coding: utf-8 -*-
# Copyright: Contributors to the octopus.ha collection
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The test toolchain that scripts/bootstrap.sh builds: the venv is byte-compiled.

This machine sets PYTHONDONTWRITEBYTECODE=1, so a venv without .pyc files makes every Python process of the
suite (each ansible-playbook, module run, moto server) compile all it imports again; the suite then takes
about twice as long (docs/development.md, "Byte code")."""

from __future__ import absolute_import, division, print_function
__metaclass__ = type

import importlib
import importlib.util
import os
import sys

import pytest

VENV = os.environ.get('OCTOHA_VENV')


@pytest.mark.skipif(not VENV or os.path.realpath(sys.prefix) != os.path.realpath(VENV),
                    reason='runs in the venv of scripts/bootstrap.sh only')
@pytest.mark.parametrize('module', ['ansible.module_utils.basic', 'ansible.executor.task_executor', 'botocore.client',
                                    'moto.autoscaling.models', 'ansible_rulebook.app'])
def test_the_bootstrap_venv_is_byte_compiled(module):
    source = importlib.import_module(module).__file__
    assert os.path.exists(importlib.util.cache_from_source(source)), (
        '%s has no byte code: scripts/bootstrap.sh byte-compiles the venv after installing it (delete %s/.octoha-requirements '
        'and run it again)' % (source, VENV))
