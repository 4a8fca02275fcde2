# -*- coding: utf-8 -*-
# Copyright: Contributors to the octopus.ha collection
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Tools of the probe checks: tree-sitter (pinned in requirements/test.in), Mono's mcs and openssl.

scripts/bootstrap.sh installs them (apt-get as root for mono-mcs/mono-runtime). A missing tool is a
test FAILURE wherever it can be installed (CI, or root with apt-get); only a machine where it cannot
be installed skips, with the reason.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import os
import shutil

import pytest

ROOT = os.path.abspath(os.path.join(os.path.dirname(os.path.abspath(__file__)), '..', '..'))


def _installable():
    return bool(os.environ.get('CI')) or (hasattr(os, 'geteuid') and os.geteuid() == 0 and shutil.which('apt-get'))


def require(what, available):
    """Fail (or, where it cannot be installed, skip) when a tool is missing."""
    if available:
        return
    message = '%s is missing: run scripts/bootstrap.sh, which installs it' % what
    if _installable():
        pytest.fail(message)
    pytest.skip(message + ' (not installable here: no root/apt-get)')


@pytest.fixture(scope='session')
def powershell_parser():
    try:
        import tree_sitter  # pylint: disable=import-outside-toplevel
        import tree_sitter_powershell  # pylint: disable=import-outside-toplevel
    except ImportError:
        tree_sitter = None
    require('tree-sitter / tree-sitter-powershell (requirements/test.in)', tree_sitter is not None)
    return tree_sitter.Parser(tree_sitter.Language(tree_sitter_powershell.language()))


@pytest.fixture(scope='session')
def mono_tools():
    tools = dict(mcs=shutil.which('mcs'), mono=shutil.which('mono'), openssl=shutil.which('openssl'))
    require('Mono (mono-mcs, mono-runtime) and openssl', all(tools.values()))
    return tools
