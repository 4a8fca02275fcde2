"""Offline stand-in for get-pip.py, used by ansible-test sanity (see docs/development.md).

ansible-test bootstraps pip in each sanity venv by downloading get-pip.py. This shim installs
the pip wheel that scripts/bootstrap.sh downloaded beside it instead.
"""
from __future__ import absolute_import, division, print_function
__metaclass__ = type

import os
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, 'pip-24.2-py3-none-any.whl'))

from pip._internal.cli.main import main  # noqa: E402  pylint: disable=wrong-import-position

ARGS = [a for a in sys.argv[1:] if a not in ('--no-setuptools', '--no-wheel')]
sys.exit(main(['install', '--upgrade', '--force-reinstall'] + ARGS))
