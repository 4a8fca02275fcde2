# -*- coding: utf-8 -*-
# Copyright: Contributors to the octopus.ha collection
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

"""PRIVATE to octopus.ha: the one parser of Octopus Server version strings.

This module_util is PRIVATE to the octopus.ha collection, not a public API.

Octopus versions are ``YYYY.Q.Build`` (``2023.4.8319``), older ``3.17.1``, pre-releases such as
``2020.5.0-rc.4`` or ``2026.4.6909-ci.5``, and Windows file versions with a fourth part
(``2023.4.8319.0``). Every rule that compares versions (install decision, version skew, the node's
version check, minimum versions such as multi-node polling) goes through these functions.
"""

from __future__ import absolute_import, division, print_function
__metaclass__ = type

import re

_VERSION_RE = re.compile(r'^\s*[vV]?(\d+(?:\.\d+)*)(?:[-+~ ]?([0-9A-Za-z.\-+]*))?\s*$')


class VersionError(ValueError):
    """Not a version number. The message quotes the value (versions are never secret)."""


def _parts(value):
    text = str(value if value is not None else '').strip()
    match = _VERSION_RE.match(text)
    if not match:
        return None
    numbers = [int(n) for n in match.group(1).split('.')]
    suffix = (match.group(2) or '').lstrip('-+~. ')
    return numbers, suffix


def version_tuple(value):
    """Comparable tuple ``(major, minor, build, 1 | 0 for a pre-release, suffix)``.

    '2023.4.8319' -> (2023, 4, 8319, 1, ''); '2023.4.8319.0' -> the same (a 4-part file version);
    '2024.1.100-ci.5' -> (2024, 1, 100, 0, 'ci.5'), which sorts before its release.
    Unparseable or empty -> (0, 0, 0, 0, text).
    """
    parsed = _parts(value)
    if parsed is None:
        return (0, 0, 0, 0, str(value or '').strip())
    numbers, suffix = parsed
    numbers = numbers[:3] + [0] * (3 - len(numbers[:3]))
    return tuple(numbers) + ((0, suffix) if suffix else (1, ''))


def same_version(left, right):
    """True when two version strings name the same release (4-part file versions included)."""
    return version_tuple(left) == version_tuple(right)


def normalize_version(value):
    """``'2024.1.1234.0'`` / ``'v2024.1.1234'`` -> ``'2024.1.1234'``; a pre-release suffix is kept.

    None or empty -> None. Anything else that is not a version raises VersionError.
    """
    if value is None or str(value).strip() == '':
        return None
    parsed = _parts(value)
    if parsed is None:
        raise VersionError('not a version number: %r' % (value,))
    numbers, suffix = parsed
    numbers = numbers[:3] + [0] * (3 - len(numbers[:3]))
    text = '.'.join(str(n) for n in numbers)
    return text + ('-' + suffix if suffix else '')


def version_at_least(value, minimum):
    """True when ``value`` is the release ``minimum`` (a string or a 3-tuple) or later.

    A pre-release of the minimum (``2026.4.6909-ci.5``) is NOT at least ``2026.4.6909``; an
    unparseable value is never at least anything.
    """
    if _parts(value) is None:
        return False
    if isinstance(minimum, (tuple, list)):
        minimum = '.'.join(str(n) for n in minimum)
    return version_tuple(value) >= version_tuple(minimum)
