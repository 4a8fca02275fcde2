# Copyright (c) octopus.ha contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Fault injection for /api and /node/*/api requests."""
from __future__ import absolute_import, division, print_function
__metaclass__ = type

import random
import re
import threading

KINDS = ('status', 'html', 'latency', 'timeout', 'drop')
PHASES = ('before', 'after')
SPEC_KEYS = ('kind', 'status', 'retry_after', 'latency', 'method', 'path', 'count', 'rate', 'seed', 'phase',
             'message', 'body', 'headers', 'node', 'content_type')

HTML_PAGE = """<html>
<head><title>%(status)d %(reason)s</title></head>
<body>
<center><h1>%(status)d %(reason)s</h1></center>
<hr><center>awselb/2.0</center>
</body>
</html>
"""


class FaultError(ValueError):
    """Invalid fault specification."""


def _number(spec, name, default, minimum=0.0, maximum=None):
    value = spec.get(name, default)
    if value is None:
        return default
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise FaultError('%s must be a number' % name)
    if value < minimum or (maximum is not None and value > maximum):
        raise FaultError('%s must be between %s and %s' % (name, minimum, maximum if maximum is not None else 'infinity'))
    return value


class Fault:
    def __init__(self, fault_id, spec, default_seed=0):
        if not isinstance(spec, dict):
            raise FaultError('a fault spec must be a JSON object')
        unknown = set(spec) - set(SPEC_KEYS)
        if unknown:
            raise FaultError('unknown fault keys: %s (known: %s)' % (', '.join(sorted(unknown)), ', '.join(SPEC_KEYS)))
        self.id = fault_id
        self.kind = spec.get('kind', 'status')
        if self.kind not in KINDS:
            raise FaultError('kind must be one of %s' % ', '.join(KINDS))
        self.phase = spec.get('phase', 'before')
        if self.phase not in PHASES:
            raise FaultError('phase must be before or after')
        default_status = 502 if self.kind == 'html' else 503
        self.status = int(_number(spec, 'status', default_status, 100, 599))
        self.retry_after = spec.get('retry_after')
        if self.retry_after is not None and not isinstance(self.retry_after, (int, float, str)):
            raise FaultError('retry_after must be seconds or an HTTP-date string')
        default_latency = 35.0 if self.kind == 'timeout' else 1.0
        self.latency = float(_number(spec, 'latency', default_latency))
        try:
            self.method_re = re.compile(spec.get('method') or '.*', re.IGNORECASE)
            self.path_re = re.compile(spec.get('path') or '.*')
        except re.error as err:
            raise FaultError('bad regular expression: %s' % err)
        count = spec.get('count')
        if count is not None and (isinstance(count, bool) or not isinstance(count, int) or count < 0):
            raise FaultError('count must be a whole number >= 0')
        self.remaining = count
        self.rate = float(_number(spec, 'rate', 1.0, 0.0, 1.0))
        self.seed = spec.get('seed', default_seed + fault_id)
        self.rng = random.Random(self.seed)
        self.message = spec.get('message')
        self.body = spec.get('body')
        self.headers = dict(spec.get('headers') or {})
        self.content_type = spec.get('content_type')
        self.node = spec.get('node')
        self.applied = 0
        self.spec = dict(spec)

    def matches(self, method, path, node_name):
        if self.remaining is not None and self.remaining <= 0:
            return False
        if self.node and (node_name or '').lower() != str(self.node).lower():
            return False
        return bool(self.method_re.search(method)) and bool(self.path_re.search(path))

    def describe(self):
        data = dict(self.spec)
        data.update({'id': self.id, 'kind': self.kind, 'phase': self.phase, 'remaining': self.remaining,
                     'applied': self.applied})
        return data


class FaultSet:
    def __init__(self, seed=0):
        self.lock = threading.Lock()
        self.seed = int(seed or 0)
        self.faults = []
        self.next_id = 1

    def add(self, spec):
        with self.lock:
            fault = Fault(self.next_id, spec, self.seed)
            self.next_id += 1
            self.faults.append(fault)
            return fault

    def clear(self):
        with self.lock:
            self.faults = []

    def remove(self, fault_id):
        with self.lock:
            before = len(self.faults)
            self.faults = [f for f in self.faults if f.id != fault_id]
            return len(self.faults) != before

    def describe(self):
        with self.lock:
            return [f.describe() for f in self.faults]

    def pick(self, method, path, node_name):
        """The first matching fault that fires for this request (consumes its count), or None."""
        with self.lock:
            for fault in self.faults:
                if not fault.matches(method, path, node_name):
                    continue
                if fault.rate < 1.0 and fault.rng.random() >= fault.rate:
                    continue
                if fault.remaining is not None:
                    fault.remaining -= 1
                fault.applied += 1
                return fault
            return None
