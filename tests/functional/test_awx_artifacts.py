# -*- coding: utf-8 -*-
# Copyright: Contributors to the octopus.ha collection
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The AWX / AAP artifacts are valid: the execution and decision environments build a context with
ansible-builder (offline, no container engine needed for `create`), and the credential type
injects exactly what the modules read."""

from __future__ import absolute_import, division, print_function
__metaclass__ = type

import os
import subprocess
import sys

import pytest
import yaml

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import awx_emulation  # noqa: E402  pylint: disable=wrong-import-position

REPO = os.path.abspath(os.path.join(os.path.dirname(__file__), '..', '..'))
BUILDER = os.path.join(os.path.dirname(sys.executable), 'ansible-builder')


@pytest.mark.parametrize('definition', ['execution-environment.yml', 'extensions/eda/decision-environment.yml'])
def test_ansible_builder_creates_a_build_context(tmp_path, definition):
    assert os.path.exists(BUILDER), 'ansible-builder is pinned in requirements/test.in: run scripts/bootstrap.sh'
    context = tmp_path / 'context'
    proc = subprocess.run([BUILDER, 'create', '--file', os.path.join(REPO, definition), '--context', str(context)],
                          cwd=REPO, capture_output=True, text=True, timeout=120, check=False)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    # Containerfile for podman, Dockerfile for docker: ansible-builder names it after the runtime.
    recipe = [name for name in ('Containerfile', 'Dockerfile') if (context / name).exists()]
    assert recipe, os.listdir(context)
    assert 'FROM' in (context / recipe[0]).read_text()
    built = os.listdir(context / '_build')
    assert 'scripts' in built
    if definition == 'execution-environment.yml':
        # The collection requirements and the Python and system dependencies are carried into the context.
        galaxy = yaml.safe_load((context / '_build' / 'requirements.yml').read_text())
        names = [c['name'] for c in galaxy['collections']]
        for needed in ('ansible.windows', 'amazon.aws', 'chocolatey.chocolatey'):
            assert needed in names
        python = (context / '_build' / 'requirements.txt').read_text()
        for needed in ('boto3', 'pywinrm'):
            assert needed in python
        assert (context / '_build' / 'bindep.txt').exists()


def test_credential_type_injects_the_module_environment(tmp_path):
    cred = awx_emulation.load(os.path.join(REPO, 'extensions', 'awx', 'credential_types', 'octopus_deploy_api.yml'))
    awx_emulation.validate(cred)
    fields = {f['id']: f for f in cred['inputs']['fields']}
    assert set(fields) == {'url', 'api_key', 'ca_cert'}
    assert fields['api_key'].get('secret') is True
    assert not fields['url'].get('secret') and not fields['ca_cert'].get('secret')
    assert sorted(cred['inputs']['required']) == ['api_key', 'url']
    # The env names are the fallbacks of the connection options in the API layer.
    from ansible_collections.octopus.ha.plugins.module_utils._octopus_api import OCTOPUS_CONNECTION_SPEC
    fallbacks = dict((opt, OCTOPUS_CONNECTION_SPEC[opt]['fallback'][1][0]) for opt in ('url', 'api_key', 'ca_path'))
    assert sorted(cred['injectors']['env']) == sorted(fallbacks.values())

    with_ca, safe, dummy = awx_emulation.inject(cred, dict(url='https://o.example.com', api_key='API-X', ca_cert='PEM'),
                                                str(tmp_path / 'a'))
    assert with_ca['OCTOPUS_URL'] == 'https://o.example.com' and with_ca['OCTOPUS_API_KEY'] == 'API-X'
    with open(with_ca['OCTOPUS_CA_PATH']) as handle:
        assert handle.read() == 'PEM'
    assert safe['OCTOPUS_API_KEY'] == awx_emulation.HIDDEN
    # Without the optional CA the variable is empty, which the modules read as "not set".
    without_ca = awx_emulation.inject(cred, dict(url='https://o.example.com', api_key='API-X'), str(tmp_path / 'b'))[0]
    assert without_ca['OCTOPUS_CA_PATH'] == ''
