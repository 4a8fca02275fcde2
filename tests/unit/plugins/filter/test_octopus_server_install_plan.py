# -*- coding: utf-8 -*-
# Copyright: Contributors to the octopus.ha collection
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Unit tests of the octopus_server_install_plan filter (version rules of server_install)."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import pytest

from ansible.errors import AnsibleFilterError
from ansible_collections.octopus.ha.plugins.filter.octopus_server_plan import octopus_server_install_plan
from ansible_collections.octopus.ha.plugins.module_utils._octopus_server_config import (
    PlanError, normalize_version, version_key)


def cluster(version='2024.1.1234', nodes=None, skew=None):
    nodes = nodes if nodes is not None else [{'name': 'a', 'version': version}, {'name': 'b', 'version': version}]
    facts = {'version_skew': bool(skew), 'version_skew_nodes': skew or []}
    return {'server': {'version': version}, 'nodes': nodes, 'cluster': facts}


def test_fresh_install_of_the_cluster_version():
    plan = octopus_server_install_plan(cluster(), None, {'cache_dir': 'C:\\Cache\\'})
    assert plan['errors'] == [] and plan['action'] == 'install'
    assert plan['target_version'] == '2024.1.1234'
    assert plan['msi_url'] == 'https://download.octopusdeploy.com/octopus/Octopus.2024.1.1234-x64.msi'
    assert plan['msi_path'] == 'C:\\Cache\\Octopus.2024.1.1234-x64.msi'
    assert plan['log_path'] == 'C:\\Cache\\Octopus.2024.1.1234-x64.install.log'


def test_same_version_installed_is_skipped_four_part_file_version():
    plan = octopus_server_install_plan(cluster(), '2024.1.1234.0', {})
    assert plan['errors'] == [] and plan['action'] == 'none' and plan['installed_version'] == '2024.1.1234'


def test_version_skew_refuses_with_node_names():
    plan = octopus_server_install_plan(cluster(nodes=[{'name': 'a', 'version': '2024.1.1234'},
                                                      {'name': 'b', 'version': '2023.4.8319'}], skew=['b']), None, {})
    assert plan['action'] == 'none' and len(plan['errors']) == 1
    assert 'b=2023.4.8319' in plan['errors'][0]


def test_skew_detected_from_nodes_even_without_the_flag():
    data = cluster(nodes=[{'name': 'a', 'version': '2024.1.1234'}, {'name': 'b', 'version': '2024.2.1'}])
    plan = octopus_server_install_plan(data, None, {})
    assert plan['errors'] and plan['skewed_nodes'] == ['b']


def test_pinned_mismatch_fails_unless_override():
    plan = octopus_server_install_plan(cluster(), None, {'version': '2024.2.5'})
    assert plan['action'] == 'none' and 'server_install_allow_version_override' in plan['errors'][0]
    plan = octopus_server_install_plan(cluster(), None, {'version': '2024.2.5', 'allow_version_override': True})
    assert plan['errors'] == [] and plan['action'] == 'install' and plan['target_version'] == '2024.2.5'
    assert plan['warnings']


def test_pinned_match_is_honoured():
    plan = octopus_server_install_plan(cluster(), None, {'version': '2024.1.1234.0'})
    assert plan['errors'] == [] and plan['target_version'] == '2024.1.1234'


def test_older_installed_upgrades_only_to_the_cluster_version():
    plan = octopus_server_install_plan(cluster(), '2023.4.8319', {})
    assert plan['errors'] == [] and plan['action'] == 'upgrade'
    plan = octopus_server_install_plan(cluster(), '2023.4.8319', {'version': '2024.2.5', 'allow_version_override': True})
    assert plan['action'] == 'none' and 'Upgrade the cluster first' in plan['errors'][0]


def test_newer_installed_is_refused():
    plan = octopus_server_install_plan(cluster(), '2025.1.1', {})
    assert plan['action'] == 'none' and 'Downgrades' in plan['errors'][0]


def test_missing_cluster_version():
    plan = octopus_server_install_plan({'server': {}}, None, {})
    assert plan['errors'] and plan['action'] == 'none'


def test_url_template_needs_the_placeholder():
    plan = octopus_server_install_plan(cluster(), None, {'msi_url_template': 'https://mirror/octopus.msi'})
    assert plan['errors']
    plan = octopus_server_install_plan(cluster(), None, {'msi_url_template': 'https://mirror/{version}/Octopus.msi'})
    assert plan['msi_url'] == 'https://mirror/2024.1.1234/Octopus.msi'


def test_bad_input_types():
    with pytest.raises(AnsibleFilterError):
        octopus_server_install_plan('nope')
    assert octopus_server_install_plan(cluster(), 'garbage', {})['errors']


@pytest.mark.parametrize('raw, norm', [
    ('2024.1.1234.0', '2024.1.1234'), ('v2024.1.1234', '2024.1.1234'), ('2024.1', '2024.1.0'),
    ('2020.5.0-rc.4', '2020.5.0-rc.4'), (' 2019.7.12 ', '2019.7.12'), (None, None), ('', None),
])
def test_normalize_version(raw, norm):
    assert normalize_version(raw) == norm


def test_version_order():
    assert version_key('2020.5.0-rc.4') < version_key('2020.5.0') < version_key('2020.5.1') < version_key('2021.1.0')
    with pytest.raises(PlanError):
        normalize_version('latest')


def test_unknown_version_skew_fails_closed_naming_the_permission():
    """An octopus_cluster_info result read with a key that cannot read the summary: version_skew is null (issue 8 section 7)."""
    data = {'server': {'version': '2024.1.1234'}, 'nodes': [{'name': 'a', 'version': None}],
            'cluster': {'version_skew': None, 'version_skew_nodes': None, 'missing_permission': 'AdministerSystem'}}
    plan = octopus_server_install_plan(data, None, {})
    assert plan['action'] == 'none' and len(plan['errors']) == 1
    assert 'AdministerSystem' in plan['errors'][0] and 'versions' in plan['errors'][0]
