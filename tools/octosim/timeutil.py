# Copyright (c) octopus.ha contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Cluster clock and time formatting helpers."""
from __future__ import absolute_import, division, print_function
__metaclass__ = type

import datetime
import threading
import time


def parse_time(value):
    """Parse an ISO 8601 timestamp (or epoch seconds) into epoch seconds (float)."""
    if value is None:
        return None
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return float(value)
    text = str(value).strip()
    if text.endswith('Z') or text.endswith('z'):
        text = text[:-1] + '+00:00'
    parsed = datetime.datetime.fromisoformat(text)
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=datetime.timezone.utc)
    return parsed.timestamp()


def iso(epoch):
    """Format epoch seconds the way Octopus does: 2024-03-01T10:15:02.123+00:00 (None stays None)."""
    if epoch is None:
        return None
    stamp = datetime.datetime.fromtimestamp(epoch, datetime.timezone.utc)
    return stamp.isoformat(timespec='milliseconds')


def display_completed(epoch):
    """The 'Completed' display string of a finished task, e.g. 'Monday, March 20, 2017 9:00 PM'."""
    stamp = datetime.datetime.fromtimestamp(epoch, datetime.timezone.utc)
    hour = stamp.hour % 12 or 12
    return '%s, %s %d, %d %d:%02d %s' % (stamp.strftime('%A'), stamp.strftime('%B'), stamp.day, stamp.year,
                                         hour, stamp.minute, 'AM' if stamp.hour < 12 else 'PM')


def display_duration(seconds):
    """Humanised duration as in TaskResource.Duration: '32 seconds', '1 minute', '2 hours'."""
    seconds = max(0, int(seconds or 0))
    for unit, size in (('day', 86400), ('hour', 3600), ('minute', 60)):
        if seconds >= size:
            count = seconds // size
            return '%d %s%s' % (count, unit, '' if count == 1 else 's')
    return '%d second%s' % (seconds, '' if seconds == 1 else 's')


class ClusterClock:
    """cluster_time = start + speed * real_elapsed + manual advances.

    speed 0 freezes the clock (only manual advances move it).
    """

    def __init__(self, start, speed=1.0, monotonic=time.monotonic):
        self._monotonic = monotonic
        self._lock = threading.Lock()
        self._base_cluster = float(start)
        self._base_real = monotonic()
        self._speed = float(speed)
        self._last = float(start)

    @property
    def speed(self):
        return self._speed

    def now(self):
        with self._lock:
            value = self._base_cluster + self._speed * (self._monotonic() - self._base_real)
            # never go backwards, whatever the float arithmetic does
            self._last = max(self._last, value)
            return self._last

    def set_speed(self, speed):
        speed = float(speed)
        if speed < 0:
            raise ValueError('speed must be >= 0')
        current = self.now()
        with self._lock:
            self._base_cluster = current
            self._base_real = self._monotonic()
            self._speed = speed

    def advance(self, seconds):
        seconds = float(seconds)
        if seconds < 0:
            raise ValueError('the clock only moves forward: advance must be >= 0')
        with self._lock:
            self._base_cluster += seconds
            self._last += seconds
