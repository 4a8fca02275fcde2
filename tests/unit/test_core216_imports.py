# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# Copyright: Contributors to the octopus.ha collection
"""The unit tests import ansible-core 2.19-only modules only through tests/unit/compat.py.

The core216 stage runs tests/unit on ansible-core 2.16, where ``ansible.module_utils.testing`` and
``ansible.module_utils._internal`` do not exist: a direct import stops the whole collection there.
This check finds it on 2.19 too, before the 2.16 run does.
"""

from __future__ import absolute_import, division, print_function
__metaclass__ = type

import os
import re

HERE = os.path.dirname(os.path.abspath(__file__))
ONLY_2_19 = re.compile(r'^\s*(from\s+ansible\.module_utils(\.testing|\._internal)\s+import|'
                       r'from\s+ansible\.module_utils\s+import\s+(testing|_internal)\b|import\s+ansible\.module_utils\.(testing|_internal))',
                       re.M)


def test_no_direct_import_of_2_19_only_modules():
    offenders = []
    for root, dummy, files in os.walk(HERE):
        for name in files:
            path = os.path.join(root, name)
            if not name.endswith('.py') or path == os.path.join(HERE, 'compat.py'):
                continue
            with open(path, encoding='utf-8') as handle:
                text = handle.read()
            # An import inside try/except ImportError is a fallback, as compat.py has.
            for match in ONLY_2_19.finditer(text):
                before = text[:match.start()].rstrip().splitlines()[-1:] or ['']
                if not before[0].strip().startswith('try:'):
                    offenders.append('%s: %s' % (os.path.relpath(path, HERE), match.group(0).strip()))
    assert offenders == [], 'import these from ansible_collections.octopus.ha.tests.unit.compat: %s' % offenders
