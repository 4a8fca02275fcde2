# -*- coding: utf-8 -*-
# Copyright: Contributors to the octopus.ha collection
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""octopus.ha.awx_setup against a fake controller API on loopback (fake_awx.py), with the real awx.awx modules.

About 40 s: four ansible-playbook runs.
"""

from __future__ import absolute_import, division, print_function
__metaclass__ = type

import json
import os
import sys

import pytest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
# pylint: disable=wrong-import-position
import awx_emulation  # noqa: E402
from fake_awx import TOKEN, FakeAwx  # noqa: E402

pytestmark = pytest.mark.heavy

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
API_KEY = 'API-AWXSETUPTESTKEY00000000000001'
SQL = 'Server=tcp:sql01,1433;Database=Octopus;User ID=octopus;Password=Sql-Pa55{{word}}%1;Encrypt=True'
MASTER_KEY = 'bWFzdGVyLWtleS1hd3gtc2V0dXAtdGVzdA=='
SERVICE_PASSWORD = 'Svc-Pa55word-awx-7f3e'
SECRETS = (API_KEY, SQL, MASTER_KEY, SERVICE_PASSWORD, 'aws-secret', 'winrm-secret')
CA_PEM = '-----BEGIN CERTIFICATE-----\nMIIBfake\n-----END CERTIFICATE-----\n'
SCHEDULE = 'Octopus HA - reconcile every 15 minutes'
VARS = dict(octopus_awx_project='octopus-ha', octopus_awx_inventory='octopus', octopus_awx_aws_credential='AWS octopus',
            octopus_awx_windows_credential='Octopus nodes WinRM', octopus_awx_octopus_url='https://octopus.example.com',
            octopus_awx_octopus_ca_cert=CA_PEM)
# The secrets file as docs/awx.md tells operators to write it: every value !unsafe, so that a secret with
# "{{" (like SQL here) is taken literally instead of being templated by Ansible.
SECRETS_FILE = dict(octopus_awx_octopus_api_key=API_KEY, octopus_awx_sql_connection_string=SQL,
                    octopus_awx_master_key=MASTER_KEY, octopus_awx_service_password=SERVICE_PASSWORD)


def setup_run(run_playbook, awx, tmp_path, prefix=None, extra_vars=None, secrets=None, verbosity=1):
    env = {'CONTROLLER_HOST': awx.url, 'CONTROLLER_OAUTH_TOKEN': TOKEN}
    if prefix:
        env['CONTROLLER_OPTIONAL_API_URLPATTERN_PREFIX'] = prefix
    secrets_file = tmp_path / 'secrets.yml'
    secrets_file.write_text(''.join("%s: !unsafe '%s'\n" % (k, v.replace("'", "''"))
                                    for k, v in (SECRETS_FILE if secrets is None else secrets).items()))
    return run_playbook('octopus.ha.awx_setup', extra_vars=extra_vars if extra_vars is not None else VARS, env=env,
                        verbosity=verbosity, args=['-e', '@%s' % secrets_file])


def changed_tasks(run):
    return [r['task'] for r in run.results if r['status'] == 'ok' and r['result'].get('changed')]


def no_secret_in(text, where):
    leaked = [s for s in SECRETS if s in text]
    assert not leaked, 'secret(s) %r in %s' % ([s[:8] for s in leaked], where)


def test_aap_gateway_setup_is_idempotent_and_keeps_secrets_and_operator_changes(run_playbook, tmp_path):
    with FakeAwx(prefix='/api/controller/').seed() as awx:
        # Without the AAP 2.5 prefix nothing is found, and the message says what to set.
        lost = setup_run(run_playbook, awx, tmp_path)
        assert lost.rc != 0
        assert 'CONTROLLER_OPTIONAL_API_URLPATTERN_PREFIX=/api/controller/' in lost.output and 'Nothing was changed' in lost.output
        assert awx.writes() == []
        seen = len(awx.requests)

        first = setup_run(run_playbook, awx, tmp_path, prefix='/api/controller/')
        assert first.rc == 0, first.explain()
        assert [p for dummy, p, q, b in awx.requests[seen:] if not p.startswith('/api/controller/v2/')] == []

        # What AWX now holds.
        for name, rel in (('Octopus Deploy API', 'octopus_deploy_api.yml'),
                          ('Octopus HA scale-out secrets', 'octopus_ha_scale_out_secrets.yml')):
            expected = awx_emulation.load(os.path.join(REPO, 'extensions', 'awx', 'credential_types', rel))
            stored = awx.find('credential_types', name)
            assert (stored['inputs'], stored['injectors'], stored['kind']) == (
                expected['inputs'], expected['injectors'], expected['kind'])
        assert awx.stored_secret('Octopus Deploy API', 'api_key') == API_KEY
        assert awx.stored_secret('Octopus Deploy API', 'ca_cert') == CA_PEM
        assert awx.stored_secret('Octopus HA scale-out secrets', 'connection_string') == SQL
        assert awx.template_credentials('Octopus HA - scale out') == [
            'Octopus Deploy API', 'Octopus HA scale-out secrets', 'Octopus nodes WinRM']
        assert awx.template_credentials('Octopus HA - EDA scale out') == [
            'AWS octopus', 'Octopus Deploy API', 'Octopus HA scale-out secrets', 'Octopus nodes WinRM']
        assert awx.template_credentials('Octopus HA - scale in') == ['Octopus Deploy API', 'Octopus nodes WinRM']
        assert [q['variable'] for q in awx.survey('Octopus HA - scale in')['spec']] == [
            'octopus_node_name', 'node_remove_drain_timeout', 'node_remove_cancel_on_timeout', 'node_remove_cancel_timeout']
        assert awx.find('schedules', SCHEDULE)['enabled'] is True
        # No secret in any job template's extra vars or survey, nor in the run's output.
        for template in awx.objects['job_templates'].values():
            no_secret_in(json.dumps(template) + json.dumps(awx.surveys.get(template['id'], {})), template['name'])
        no_secret_in(first.output, 'the first run')

        # An operator disables the schedule and rotates the API key in the controller.
        awx.find('schedules', SCHEDULE)['enabled'] = False
        awx.find('credentials', 'Octopus Deploy API')['inputs']['api_key'] = 'API-ROTATEDBYTHEOPERATOR0000001'
        seen = len(awx.requests)

        second = setup_run(run_playbook, awx, tmp_path, prefix='/api/controller/')
        assert second.rc == 0, second.explain()
        assert second.stats['localhost']['changed'] == 0, changed_tasks(second)
        assert [(m, p) for m, p, q, b in awx.requests[seen:] if m != 'GET'] == []
        assert awx.find('schedules', SCHEDULE)['enabled'] is False
        assert awx.stored_secret('Octopus Deploy API', 'api_key') == 'API-ROTATEDBYTHEOPERATOR0000001'
        no_secret_in(second.output, 'the second run')


def test_missing_credential_fails_before_anything_is_created(run_playbook, tmp_path):
    with FakeAwx().seed(credentials=('AWS octopus',)) as awx:
        secrets = dict(SECRETS_FILE)
        del secrets['octopus_awx_sql_connection_string']  # so the secrets credential must exist as well
        run = setup_run(run_playbook, awx, tmp_path, secrets=secrets)
    assert run.rc != 0
    for variable, name in (('octopus_awx_windows_credential', 'Octopus nodes WinRM'),
                           ('octopus_awx_secrets_credential_name', 'Octopus HA scale-out secrets')):
        assert "The AWX credential '%s' (%s) does not exist" % (name, variable) in run.output, run.explain()
    assert 'Nothing was changed' in run.output
    assert awx.writes() == []
    assert not [r for r in run.results if r['action'].startswith('awx.awx.')]
    no_secret_in(run.output, 'the failed run')
