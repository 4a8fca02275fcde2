# -*- coding: utf-8 -*-
# Copyright: Contributors to the octopus.ha collection
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The built collection tarball, as a user gets it (scripts/test.sh build; about 20 s).

- It ships what runs from an installed copy and nothing of the test harness.
- Every relative link of a shipped Markdown file resolves inside the tarball.
- The installed copy, without any dependency collection, runs the Octopus API modules and octopus.ha.scale_in.
- A real `ansible-builder introspect` of the installed copy finds the Python and system packages.
- The "local build" execution and decision environments take the built tarball.
"""

from __future__ import absolute_import, division, print_function
__metaclass__ = type

import json
import os
import re
import shutil
import subprocess
import sys
import tarfile

import pytest
import yaml

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
BIN = os.path.dirname(sys.executable)
# Nothing of these reaches the tarball (tests/build/test_build.py is the check of galaxy.yml build_ignore).
NOT_SHIPPED = ('tests/', 'tools/', 'scripts/', 'requirements/', 'demo/', 'build/', 'extensions/molecule/',
               'changelogs/fragments/', 'docs/benchmarks-data/', '.venv', '.cache/', '.ci/', '.git', '.ansible-lint',
               'pytest.ini', '.ansible/', 'collections/')
SHIPPED = ('MANIFEST.json', 'FILES.json', 'README.md', 'LICENSE', 'CHANGELOG.rst', 'changelogs/changelog.yaml',
           'meta/runtime.yml', 'meta/execution-environment.yml', 'execution-environment.yml',
           'execution-environment-local.yml', 'extensions/eda/decision-environment.yml',
           'extensions/eda/decision-environment-local.yml', 'extensions/awx/credential_types/octopus_deploy_api.yml',
           'extensions/eda/plugins/event_source/aws_sqs_lifecycle.py', 'plugins/modules/octopus_node.py',
           'playbooks/scale_in.yml', 'roles/node_remove/tasks/main.yml')
LINK_RE = re.compile(r'\[[^\]]*\]\(([^)\s]+)\)')


def run(*args, **kwargs):
    kwargs.setdefault('timeout', 300)
    proc = subprocess.run(list(args), capture_output=True, text=True, check=False, **kwargs)
    assert proc.returncode == 0, '%s\n%s\n%s' % (' '.join(args), proc.stdout[-3000:], proc.stderr[-3000:])
    return proc


@pytest.fixture(scope='module')
def tarball(tmp_path_factory):
    out = tmp_path_factory.mktemp('dist')
    run(os.path.join(BIN, 'ansible-galaxy'), 'collection', 'build', '--output-path', str(out), REPO)
    found = [name for name in os.listdir(str(out)) if name.startswith('octopus-ha-') and name.endswith('.tar.gz')]
    assert len(found) == 1, found
    return os.path.join(str(out), found[0])


@pytest.fixture(scope='module')
def members(tarball):
    with tarfile.open(tarball) as archive:
        return dict((m.name, m) for m in archive.getmembers())


@pytest.fixture(scope='module')
def installed(tarball, tmp_path_factory):
    """The tarball installed offline, without its dependencies, as the only collection on the path."""
    root = tmp_path_factory.mktemp('installed')
    env = dict(os.environ, ANSIBLE_COLLECTIONS_PATH=str(root))  # the checkout's link would count as installed
    run(os.path.join(BIN, 'ansible-galaxy'), 'collection', 'install', '--offline', '--no-deps', '-p', str(root), tarball, env=env)
    path = os.path.join(str(root), 'ansible_collections', 'octopus', 'ha')
    assert os.path.isfile(os.path.join(path, 'MANIFEST.json'))
    return str(root)


def test_tarball_ships_only_what_runs_from_an_installed_copy(members):
    names = sorted(members)
    leaked = [n for n in names if n.startswith(NOT_SHIPPED) or '__pycache__' in n or n.endswith(('.pyc', '.tar.gz'))]
    assert leaked == []
    missing = [n for n in SHIPPED if n not in members]
    assert missing == []
    # Every file that meta/execution-environment.yml names is shipped with it.
    with open(os.path.join(REPO, 'meta', 'execution-environment.yml')) as handle:
        ee_meta = yaml.safe_load(handle)
    assert sorted(ee_meta['dependencies'].values()) == ['meta/ee-bindep.txt', 'meta/ee-requirements.txt']
    assert all(path in members for path in ee_meta['dependencies'].values())


def test_shipped_markdown_links_resolve_inside_the_tarball(tarball, members):
    broken = []
    with tarfile.open(tarball) as archive:
        for name in members:
            if not name.endswith('.md'):
                continue
            text = archive.extractfile(name).read().decode('utf-8')
            for target in LINK_RE.findall(text):
                if re.match(r'^[a-z][a-z0-9+.-]*:', target) or target.startswith('#'):
                    continue
                path = os.path.normpath(os.path.join(os.path.dirname(name), target.split('#', 1)[0]))
                if path not in members and not any(m.startswith(path + '/') for m in members):
                    broken.append('%s -> %s' % (name, target))
    assert broken == [], 'link to a file that is not in the tarball: use the repository URL for repository-only files'


def test_api_modules_and_scale_in_run_from_the_installed_copy_without_dependencies(installed, tmp_path):
    sys.path.insert(0, os.path.join(REPO, 'tools'))
    from octosim.testing import ADMIN_KEY, SimulatorProcess  # pylint: disable=import-outside-toplevel
    playbook = tmp_path / 'api_only.yml'
    playbook.write_text('''
- name: Only the Octopus API modules
  hosts: localhost
  gather_facts: false
  module_defaults:
    group/octopus.ha.octopus:
      max_retries: 0
  tasks:
    - name: Read the cluster
      octopus.ha.octopus_cluster_info:
      register: info
    - name: Drain prediction
      octopus.ha.octopus_node:
        name: OCTO-NODE-02
        state: drained
      check_mode: true
      register: node
    - name: Check
      ansible.builtin.assert:
        that:
          - info.nodes | length == 2
          - node is changed

# The scale-in playbook too: its service stop on the VM is the only Windows task, and it is optional.
- name: Scale in without the dependency collections
  ansible.builtin.import_playbook: octopus.ha.scale_in
  vars:
    octopus_node_name: OCTO-NODE-02
    node_remove_poll_interval: 1
''')
    env = dict(os.environ, ANSIBLE_COLLECTIONS_PATH=installed, ANSIBLE_PYTHON_INTERPRETER=sys.executable,
               ANSIBLE_NOCOLOR='1')
    env.pop('PYTHONPATH', None)  # no source checkout on the module path: only the installed copy
    listing = run(os.path.join(BIN, 'ansible-galaxy'), 'collection', 'list', '--format', 'json', env=env)
    # ansible._protomatter is ansible-core's own (2.19), not a dependency collection.
    listed = sorted(c for path in json.loads(listing.stdout).values() for c in path if not c.startswith('ansible._'))
    assert listed == ['octopus.ha']
    # OCTO-NODE-02 is offline (no VM to stop a service on): node_remove deletes such a record.
    with SimulatorProcess({'nodes': [{'Name': 'OCTO-NODE-01'}, {'Name': 'OCTO-NODE-02', 'Heartbeat': False, 'LastSeenAgo': 3600}],
                           'license': {'node_limit': None}}, speed=0) as sim:
        env.update(OCTOPUS_URL=sim.url, OCTOPUS_API_KEY=ADMIN_KEY)
        proc = subprocess.run([os.path.join(BIN, 'ansible-playbook'), '-i', 'localhost,', '-c', 'local', str(playbook)],
                              cwd=str(tmp_path), env=env, capture_output=True, text=True, timeout=300, check=False)
        assert proc.returncode == 0, proc.stdout[-4000:] + proc.stderr[-2000:]
        assert 'failed=0' in proc.stdout
        assert [n['Name'] for n in sim.control.state()['nodes']] == ['OCTO-NODE-01']


def test_ansible_builder_introspect_finds_the_packages(installed):
    proc = run(os.path.join(BIN, 'ansible-builder'), 'introspect', '--sanitize', installed)
    found = yaml.safe_load(proc.stdout)
    python = ' '.join(found['python'])
    system = ' '.join(found['system'])
    for package in ('pywinrm[kerberos,credssp]', 'pypsrp[kerberos,credssp]', 'aiobotocore', 'boto3'):
        assert package in python and '# from collection octopus.ha' in python, package
    for package in ('krb5-devel', 'krb5-workstation', 'gcc', 'libkrb5-dev', 'krb5-user'):
        assert package in system, package


@pytest.mark.parametrize('definition, tarball_dir', [
    ('execution-environment-local.yml', 'build'),
    ('extensions/eda/decision-environment-local.yml', 'build'),
])
def test_local_environment_definitions_take_the_built_tarball(tarball, tmp_path, definition, tarball_dir):
    # The same layout as the checkout: the definition, what it names, and build/ with the tarball.
    layout = tmp_path / 'checkout'
    for rel in (definition, 'meta/ee-requirements.yml'):
        (layout / os.path.dirname(rel)).mkdir(parents=True, exist_ok=True)
        shutil.copy(os.path.join(REPO, rel), str(layout / rel))
    (layout / tarball_dir).mkdir()
    shutil.copy(tarball, str(layout / tarball_dir))
    context = tmp_path / 'context'
    run(os.path.join(BIN, 'ansible-builder'), 'create', '--file', str(layout / definition), '--context', str(context))
    assert os.listdir(str(context / '_build' / 'local-collections')) == [os.path.basename(tarball)]
    recipe = [(context / name) for name in ('Containerfile', 'Dockerfile') if (context / name).exists()][0].read_text()
    galaxy_stage = recipe[recipe.index('AS galaxy'):recipe.index('AS builder')]
    local = galaxy_stage.index('ansible-galaxy collection install --no-deps --collections-path /usr/share/ansible/collections '
                               '/build/local-collections/octopus-ha-*.tar.gz')
    # The local copy is installed before the requirements, which it then satisfies.
    assert local < galaxy_stage.index('-r requirements.yml')
