# -*- coding: utf-8 -*-

# Copyright: Contributors to the octopus.ha collection
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

"""Test-only notification callback: writes every task result and the stats as JSON to $SCALE_IN_JSON_OUT.

The stdout callback stays the default one, so failures remain readable; tests read the file.
Results go through the callback's own _dump_results, so no_log masking applies as on screen.
"""

from __future__ import absolute_import, division, print_function
__metaclass__ = type

import json
import os

from ansible.plugins.callback import CallbackBase

DOCUMENTATION = r"""
name: scale_in_json
type: notification
short_description: Write task results and stats to a JSON file (tests only)
description:
  - Writes every task result and the play stats to the file named by the environment variable C(SCALE_IN_JSON_OUT).
requirements:
  - enable in configuration
"""


class CallbackModule(CallbackBase):
    CALLBACK_VERSION = 2.0
    CALLBACK_TYPE = 'notification'
    CALLBACK_NAME = 'scale_in_json'
    CALLBACK_NEEDS_ENABLED = True

    def __init__(self, *args, **kwargs):
        super(CallbackModule, self).__init__(*args, **kwargs)
        self.tasks = []

    def _record(self, result, status):
        data = json.loads(self._dump_results(result._result))  # pylint: disable=protected-access
        data.setdefault('status', status)
        self.tasks.append({'host': result._host.get_name(), 'task': result._task.get_name(),  # pylint: disable=protected-access
                           'status': status, 'result': data})

    def v2_runner_on_ok(self, result):
        self._record(result, 'ok')

    def v2_runner_on_failed(self, result, ignore_errors=False):
        self._record(result, 'failed')

    def v2_runner_on_skipped(self, result):
        self._record(result, 'skipped')

    def v2_runner_on_unreachable(self, result):
        self._record(result, 'unreachable')

    def v2_playbook_on_stats(self, stats):
        out = os.environ.get('SCALE_IN_JSON_OUT')
        if not out:
            return
        summary = dict((host, stats.summarize(host)) for host in sorted(stats.processed))
        with open(out, 'w', encoding='utf-8') as handle:
            json.dump({'tasks': self.tasks, 'stats': summary}, handle)
