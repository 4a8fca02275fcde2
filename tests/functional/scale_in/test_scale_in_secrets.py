# -*- coding: utf-8 -*-

# Copyright: Contributors to the octopus.ha collection
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

"""The API key never appears in results, warnings or -vvv output, also on error paths."""

from __future__ import absolute_import, division, print_function
__metaclass__ = type

import json
import socket

import pytest

from octosim.testing import ADMIN_KEY
from scale_in_runner import cluster, record_kept

SECRET = 'API-S3CRETSCALEIN0000000000000'
WRONG = 'API-WR0NGSCALEIN00000000000000'


def keys_config(**extra):
    return cluster(speed=30, api_keys=[{'name': 'admin', 'key': ADMIN_KEY, 'permissions': ['*']},
                                       {'name': 'scale-in', 'key': SECRET, 'permissions': ['*']}], **extra)


def closed_port_url():
    with socket.socket() as sock:
        sock.bind(('127.0.0.1', 0))
        return 'http://127.0.0.1:%d' % sock.getsockname()[1]


def assert_not_leaked(result, secret):
    everything = result.stdout + result.stderr + json.dumps(result.data)
    assert secret not in everything, 'the API key leaked'
    # A masked value is fine; a partial echo is not.
    assert secret[4:20] not in everything


@pytest.mark.parametrize('case', ['success-env', 'success-extra-var', 'unauthorized', 'server-error', 'unreachable'])
def test_api_key_never_printed(sim_factory, scale_in, case):
    sim = sim_factory(keys_config())
    key, extra, url = SECRET, {}, None
    if case == 'success-extra-var':
        key, extra = 'API-NOT-USED', {'octopus_api_key': SECRET}
    elif case == 'unauthorized':
        key = WRONG
    elif case == 'server-error':
        sim.control.add_fault(kind='status', status=500, method='PUT')
        extra = {'node_remove_request_deadline': 4, 'node_remove_max_retries': 1}
    elif case == 'unreachable':
        url = closed_port_url()
        extra = {'node_remove_request_deadline': 3, 'node_remove_max_retries': 1}
    result = scale_in(sim, api_key=key, extra_vars=extra, url=url, verbosity=3)
    if case.startswith('success'):
        assert result.rc == 0, result.explain()
        assert record_kept(sim), 'no service stop: the record is kept drained with cap 0 (issue 8 section 5)'
        # -vvv prints the module arguments: the key is there, masked.
        assert 'VALUE_SPECIFIED_IN_NO_LOG_PARAMETER' in result.stdout
    else:
        assert result.rc != 0
    assert_not_leaked(result, WRONG if case == 'unauthorized' else SECRET)
    log = sim.control.requests()
    assert all(SECRET not in json.dumps(e) and WRONG not in json.dumps(e) for e in log)
    assert all(e['key_source'] in (None, 'header') for e in log), 'the key is sent only as a header'
