# -*- coding: utf-8 -*-

# Copyright: Contributors to the octopus.ha collection
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

"""TEST-ONLY event source: puts no events and returns when the file `path` exists.

When any source of a rulebook returns, ansible-rulebook starts its graceful shutdown: it waits up
to --shutdown-delay for the running actions and then exits. The e2e tests add this source to the
shipped rulebook so that the TEST decides when the run ends (after it has seen the outcome it
waits for), instead of an idle timeout that a slow machine could reach while a handler still runs.
"""

from __future__ import absolute_import, division, print_function
__metaclass__ = type

import asyncio
import os


async def main(queue, args):  # pylint: disable=unused-argument
    while not os.path.exists(args['path']):
        await asyncio.sleep(0.2)
