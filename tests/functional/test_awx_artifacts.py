# -*- coding: utf-8 -*-
# Copyright: Contributors to the octopus.ha collection
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The AWX / AAP artifacts are valid: the execution and decision environments build a context with
ansible-builder (offline, no container engine needed for `create`), and the credential type
injects exactly what the modules read."""

from __future__ import absolute_import, division, print_function
__metaclass__ = type

import os
import re
import subprocess
import sys

import pytest
import yaml

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import awx_emulation  # noqa: E402  pylint: disable=wrong-import-position

REPO = os.path.abspath(os.path.join(os.path.dirname(__file__), '..', '..'))
BUILDER = os.path.join(os.path.dirname(sys.executable), 'ansible-builder')


GALAXY_DEFINITIONS = ['execution-environment.yml', 'extensions/eda/decision-environment.yml']


def load_yaml(rel):
    with open(os.path.join(REPO, rel)) as handle:
        return yaml.safe_load(handle)


@pytest.mark.parametrize('definition', GALAXY_DEFINITIONS)
def test_ansible_builder_creates_a_build_context(tmp_path, definition):
    assert os.path.exists(BUILDER), 'ansible-builder is pinned in requirements/test.in: run scripts/bootstrap.sh'
    context = tmp_path / 'context'
    proc = subprocess.run([BUILDER, 'create', '--file', os.path.join(REPO, definition), '--context', str(context)],
                          cwd=REPO, capture_output=True, text=True, timeout=120, check=False)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    # Containerfile for podman, Dockerfile for docker: ansible-builder names it after the runtime.
    recipe = [name for name in ('Containerfile', 'Dockerfile') if (context / name).exists()]
    assert recipe, os.listdir(context)
    text = (context / recipe[0]).read_text()
    assert 'FROM' in text
    built = os.listdir(context / '_build')
    assert 'scripts' in built
    galaxy = yaml.safe_load((context / '_build' / 'requirements.yml').read_text())
    assert [c['name'] for c in galaxy['collections']] == ['octopus.ha']
    # The Python and system packages come from the collections (meta/execution-environment.yml, introspected
    # during the build: tests/build/test_build.py runs a real introspect); only the interpreter's headers are here.
    assert not (context / '_build' / 'requirements.txt').exists()
    if definition == 'execution-environment.yml':
        assert (context / '_build' / 'bindep.txt').read_text().split() == ['python3.11-devel', '[platform:rpm', 'compile]']
        assert 'ARG PYCMD="/usr/bin/python3.11"' in text
        # The config step runs as root, before the final USER line.
        assert text.index('/etc/ansible/ansible.cfg') < text.rindex('\nUSER ')
    else:
        # The decision environment leaves the WinRM/Kerberos packages out of the rulebook image.
        excluded = (context / '_build' / 'exclude-requirements.txt').read_text().split()
        assert excluded == ['pywinrm', 'pypsrp', 'boto3']
        assert 'ARG PYCMD="/usr/bin/python3.12"' in text and 'ARG PKGMGR="/usr/bin/microdnf"' in text
        assert 'ARG ANSIBLE_GALAXY_CLI_COLLECTION_OPTS="--no-deps"' in text
        assert [line for line in text.splitlines() if line.startswith('USER ')][-1] == 'USER 1001'


@pytest.mark.parametrize('galaxy, local', [
    ('execution-environment.yml', 'execution-environment-local.yml'),
    ('extensions/eda/decision-environment.yml', 'extensions/eda/decision-environment-local.yml'),
])
def test_local_build_definitions_only_add_the_tarball(galaxy, local):
    """The local variants differ from the Galaxy ones only in how octopus.ha gets into the image."""
    from_galaxy, from_local = load_yaml(galaxy), load_yaml(local)
    files = from_local.pop('additional_build_files')
    assert [f['dest'] for f in files] == ['local-collections'] and files[0]['src'].endswith('build/octopus-ha-*.tar.gz')
    # The tarball glob is relative to the definition and points at <collection root>/build.
    assert os.path.normpath(os.path.join(os.path.dirname(local), os.path.dirname(files[0]['src']))) == 'build'
    steps = from_local['additional_build_steps'].pop('prepend_galaxy')
    assert steps[0] == 'COPY _build/local-collections/ /build/local-collections/'
    assert '--no-deps' in steps[1] and '/build/local-collections/octopus-ha-*.tar.gz' in steps[1]
    if not from_local['additional_build_steps']:
        from_local.pop('additional_build_steps')
    assert from_local == from_galaxy


def test_execution_environment_config_sets_a_cheap_internal_poll_interval(tmp_path):
    """The EE's step that writes /etc/ansible/ansible.cfg yields a file ansible-core reads, with
    internal_poll_interval 0.05 (docs/benchmarks.md, the cost of waiting), and keeps a base image's own file."""
    steps = load_yaml('execution-environment.yml')['additional_build_steps']['append_final']
    step = [s for s in steps if '/etc/ansible/ansible.cfg' in s]
    assert len(step) == 1 and step[0].startswith('RUN ')
    etc = tmp_path / 'etc-ansible'
    script = step[0][len('RUN '):].replace('/etc/ansible', str(etc))
    subprocess.run(['/bin/sh', '-c', script], check=True, timeout=30)
    cfg = etc / 'ansible.cfg'
    env = dict(os.environ, ANSIBLE_CONFIG=str(cfg))
    dump = subprocess.run([os.path.join(os.path.dirname(sys.executable), 'ansible-config'), 'dump', '--only-changed'],
                          env=env, capture_output=True, text=True, timeout=120, check=True).stdout
    assert re.search(r'^DEFAULT_INTERNAL_POLL_INTERVAL\(%s\) = 0\.05$' % re.escape(str(cfg)), dump, re.M), dump
    # A base image that already has /etc/ansible/ansible.cfg keeps it unchanged.
    cfg.write_text('[defaults]\nforks = 7\n')
    subprocess.run(['/bin/sh', '-c', script], check=True, timeout=30)
    assert cfg.read_text() == '[defaults]\nforks = 7\n'


def test_decision_environment_matches_the_ansible_rulebook_image():
    """ansible/ansible-rulebook Dockerfile (the image's recipe): CentOS Stream 9 minimal with microdnf,
    python3.12 at /usr/bin/python3.12, ansible-core 2.16.14, ansible-runner and aiobotocore, user 1001."""
    de = load_yaml('extensions/eda/decision-environment.yml')
    assert de['images']['base_image']['name'].startswith('quay.io/ansible/ansible-rulebook:v1.3.')
    assert de['dependencies']['python_interpreter'] == {'python_path': '/usr/bin/python3.12'}
    assert de['options'] == {'package_manager_path': '/usr/bin/microdnf', 'user': '1001'}
    assert de['dependencies']['ansible_core']['package_pip'] == 'ansible-core~=2.16.0'
    # ansible-rulebook in requirements/test.in is the version of the image's tag.
    with open(os.path.join(REPO, 'requirements', 'test.in')) as handle:
        pinned = re.search(r'^ansible-rulebook==(\S+)$', handle.read(), re.M).group(1)
    assert de['images']['base_image']['name'].endswith(':v%s' % pinned)


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
