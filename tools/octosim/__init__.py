# Copyright (c) octopus.ha contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""octosim: a simulator of an Octopus Deploy Server HA cluster (REST API + control API).

Not shipped in the collection tarball. See docs/simulator.md.
"""
from __future__ import absolute_import, division, print_function
__metaclass__ = type

__version__ = '1.0.0'
