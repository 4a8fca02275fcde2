# -*- coding: utf-8 -*-
# Copyright: Contributors to the octopus.ha collection
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

"""TEST-ONLY: runs the win_ping stand-in on the fake host of the current inventory host."""

from __future__ import absolute_import, division, print_function
__metaclass__ = type

from ansible_collections.ansible.windows.plugins.action._fake_host_action import FakeHostAction


class ActionModule(FakeHostAction):
    """Sets OCTOHA_FAKE_HOST, then runs the module."""
