# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# Copyright: Contributors to the octopus.ha collection
"""TEST-ONLY: what the unit tests need from ansible-core, on 2.16 (the oldest supported) to 2.19+.

``patch_module_args`` is ansible.module_utils.testing.patch_module_args on 2.19 and newer, and an
equivalent for older ansible-core. ``ansible_internal`` is ansible.module_utils._internal on 2.19+
and None before.
"""

from __future__ import absolute_import, division, print_function
__metaclass__ = type

import json

from contextlib import contextmanager

from ansible.module_utils import basic
from ansible.module_utils.common.text.converters import to_bytes

try:  # ansible-core 2.19+
    from ansible.module_utils import _internal as ansible_internal
    from ansible.module_utils.testing import patch_module_args
except ImportError:  # ansible-core 2.16 to 2.18
    ansible_internal = None

    @contextmanager
    def patch_module_args(args=None):
        """Feed args to the next AnsibleModule() the way ansible-core 2.16 reads them (basic._ANSIBLE_ARGS)."""
        saved = basic._ANSIBLE_ARGS
        basic._ANSIBLE_ARGS = to_bytes(json.dumps({'ANSIBLE_MODULE_ARGS': args or {}}))
        try:
            yield
        finally:
            basic._ANSIBLE_ARGS = saved

__all__ = ['ansible_internal', 'patch_module_args']
