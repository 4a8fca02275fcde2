# -*- coding: utf-8 -*-
# Copyright: Contributors to the octopus.ha collection
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The scale-out job as AWX runs it, with its secrets only from the "Octopus HA scale-out secrets" credential.

The inventory has no secret. The two credentials of the "Octopus HA - scale out" template are injected the
way AWX does (tests/functional/awx_emulation.py): the Octopus API key as OCTOPUS_API_KEY, the connection
string, master key and service password as an ``-e @file`` of ``!unsafe`` extra vars. The template's own
extra vars are the ones playbooks/awx_setup.yml stores. About 45 s (one full scale-out).
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import json
import os
import re
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

# pylint: disable=wrong-import-position
import awx_emulation  # noqa: E402
import scale_out_scenario as scenario  # noqa: E402

REPO = scenario.REPO
SECRET_KEYS = ('server_configure_connection_string', 'server_configure_master_key', 'server_configure_service_password')


def _credential_type(name):
    return awx_emulation.load(os.path.join(REPO, 'extensions', 'awx', 'credential_types', name))


def test_awx_scale_out_job_gets_its_secrets_from_the_credential_and_shows_none(scale_out, run_playbook, tmp_path):
    env = scale_out()
    hostvars = scenario.host_vars(env.sim.url, env.fleet.sql.port, server_configure_service_username='CORP\\svc-octopus')
    secrets = dict((k, hostvars.pop(k)) for k in ('server_configure_connection_string', 'server_configure_master_key'))
    hostvars.pop('octopus_api_key')
    inventory = tmp_path / 'awx-inventory.json'
    inventory.write_text(json.dumps({'all': {'children': {'octopus_new_nodes': {'hosts': {scenario.NODE: hostvars}}}}}))
    assert not [s for s in scenario.SECRETS if s in inventory.read_text()]

    private = str(tmp_path / 'private_data_dir')
    octopus_env = awx_emulation.inject(_credential_type('octopus_deploy_api.yml'),
                                       dict(url=env.sim.url, api_key=scenario.API_KEY), private)[0]
    dummy, safe_env, extra_vars_file = awx_emulation.inject(
        _credential_type('octopus_ha_scale_out_secrets.yml'),
        dict(connection_string=secrets['server_configure_connection_string'],
             master_key=secrets['server_configure_master_key'], service_password=scenario.SERVICE_PASSWORD), private)
    assert safe_env == {}
    job_env = dict(env.env, **octopus_env)
    # The template's extra vars, as awx_setup.yml stores them (the job's stored extra vars).
    template_vars = {'octopus_scale_out_hosts': 'octopus_new_nodes'}

    result = run_playbook('octopus.ha.scale_out', extra_vars=template_vars, env=job_env, inventory=str(inventory),
                          verbosity=1, args=['-e', '@%s' % extra_vars_file], timeout=600)
    assert result.rc == 0, result.explain()
    node = env.node()
    assert node['IsInMaintenanceMode'] is False and node['MaxConcurrentTasks'] == 5

    # The secrets reached the node: the configure step ran with them (the fake host records the commands it ran
    # with the secrets masked, and the node joined the cluster database).
    assert 'node_verify octo-new-1: PASSED' in result.stdout
    # ... and appear nowhere: not in the output, not in the job's stored extra vars, not in the module arguments.
    for secret in scenario.SECRETS:
        assert secret not in result.output, 'a secret leaked in the job output'
        assert secret not in json.dumps(template_vars)
        assert secret not in json.dumps(env.fake_host()['calls']), 'a secret leaked in the module arguments'
    assert not re.search(r'(?i)(password|pwd)=[^*;\s]', result.output)
