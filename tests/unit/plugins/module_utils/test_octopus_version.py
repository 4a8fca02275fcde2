# -*- coding: utf-8 -*-
# Copyright: Contributors to the octopus.ha collection
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The one version parser: pre-releases, four-part file versions, minimum versions (issue 12 section 1)."""

from __future__ import absolute_import, division, print_function
__metaclass__ = type

import pytest

from ansible_collections.octopus.ha.plugins.module_utils import _octopus_cluster as cluster
from ansible_collections.octopus.ha.plugins.module_utils import _octopus_server_config as server_config
from ansible_collections.octopus.ha.plugins.module_utils import _octopus_version as version
from ansible_collections.octopus.ha.plugins.module_utils._octopus_verify import build_report


def test_the_cluster_helpers_are_the_single_home():
    assert cluster.version_tuple is version.version_tuple
    assert cluster.same_version is version.same_version


@pytest.mark.parametrize('left, right, same', [
    ('2023.4.8319.0', '2023.4.8319', True),        # Windows file version vs API version
    ('2023.4.8319.0', '2023.4.8319.1', True),      # only three parts name a release
    ('2026.4.6909-ci.5', '2026.4.6909', False),    # a pre-release is not its release
    ('2020.5.0-rc.4', '2020.5.0-rc.4', True),
    ('2020.5.0-rc.4', '2020.5.0-rc.5', False),
    ('v2024.1.1', '2024.1.1', True),
    ('2024.1', '2024.1.0', True),
])
def test_same_version(left, right, same):
    assert version.same_version(left, right) is same


@pytest.mark.parametrize('value, minimum, expected', [
    ('2026.4.6909', (2026, 4, 6909), True),
    ('2026.4.6909.0', (2026, 4, 6909), True),
    ('2026.4.6909-ci.5', (2026, 4, 6909), False),
    ('2026.4.6910-ci.1', (2026, 4, 6909), True),
    ('2026.3.9999', '2026.4.6909', False),
    ('garbage', (2026, 4, 6909), False),
    (None, (1, 0, 0), False),
])
def test_version_at_least(value, minimum, expected):
    assert version.version_at_least(value, minimum) is expected


@pytest.mark.parametrize('raw, norm', [
    ('2024.1.1234.0', '2024.1.1234'), ('2020.5.0-rc.4', '2020.5.0-rc.4'), ('2026.4.6909-ci.5', '2026.4.6909-ci.5'),
    (' 3.17 ', '3.17.0'), ('', None), (None, None),
])
def test_normalize_version_and_its_planner_wrapper(raw, norm):
    assert version.normalize_version(raw) == norm
    assert server_config.normalize_version(raw) == norm


def test_garbage_is_an_error_in_both_homes():
    with pytest.raises(version.VersionError):
        version.normalize_version('latest')
    with pytest.raises(server_config.PlanError):
        server_config.normalize_version('latest')


def _report(node_version, cluster_version, polling=0):
    selection = dict(targets=[], listening_total=0, polling_total=polling, polling=['Spaces-1/Machines-9 p (target)'] * polling)
    return build_report(dict(node_name='n1', cluster_version=cluster_version,
                             node_api=dict(url='http://n1/api', status=200, version=node_version, registered_name='n1'),
                             tentacles=dict(selection=selection, probe=[]),
                             polling=dict(fail=True, redis=dict(IsEnabled=True, IsConfigured=True, IsReachable=True))))


def _status(report, name):
    return [c['status'] for c in report['checks'] if c['name'] == name][0]


def test_verify_version_check_uses_the_single_parser():
    # Before: '2025.1.10012.0' (file version) failed against '2025.1.10012', and a pre-release passed.
    assert _status(_report('2025.1.10012.0', '2025.1.10012'), 'version') == 'passed'
    assert _status(_report('2025.1.10012-ci.5', '2025.1.10012'), 'version') == 'failed'


def test_multi_node_polling_exemption_needs_the_release_not_a_pre_release():
    # Before: 2026.4.6909-ci.5 read as 2026.4.6909 and exempted the polling Tentacles.
    assert _status(_report('2026.4.6909', '2026.4.6909', polling=1), 'polling_tentacles') == 'passed'
    assert _status(_report('2026.4.6909-ci.5', '2026.4.6909-ci.5', polling=1), 'polling_tentacles') == 'failed'
