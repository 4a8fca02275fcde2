# -*- coding: utf-8 -*-
# Copyright: Contributors to the octopus.ha collection
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The connection is set once and reaches every API module, over https with a private CA.

One ansible-playbook run (about 25 s), several plays:
1. only play-level ``module_defaults: group/octopus.ha.octopus`` (url, api_key, ca_path): every API
   module of the group runs against the https simulator, then the converted role (node_remove) does
   under the same play-level defaults (the other roles are not converted to the connection lookup yet);
2. only the environment that the "Octopus Deploy API" AWX credential injects (with its CA field),
   as rendered by our emulation of AWX (awx_emulation.py);
3. the same credential without the CA field (OCTOPUS_CA_PATH=''), and OCTOPUS_VALIDATE_CERTS=false;
4. each row of the "Transport errors" table of docs/api-layer.md, through a module: it fails at
   once (no retry), names the option to fix, and the key never crosses the wire in clear text.
"""

from __future__ import absolute_import, division, print_function
__metaclass__ = type

import json
import os
import sys

from octosim.testing import ADMIN_KEY

from ansible_collections.octopus.ha.tests.unit.conftest import make_tls_files
from ansible_collections.octopus.ha.tests.unit.plugins.module_utils.loopback import (
    LoopbackServer, not_found, redirect_to)

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import awx_emulation  # noqa: E402  pylint: disable=wrong-import-position

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
CLUSTER = {
    'server': {'version': '2023.4.8319'},
    'license': {'node_limit': None},
    # OCTO-NODE-03 is offline (its VM is gone): node_remove deletes a record without stopping a service over
    # WinRM only when the server reports the node offline.
    'nodes': [{'Name': 'OCTO-NODE-01'}, {'Name': 'OCTO-NODE-02'}, {'Name': 'OCTO-NODE-03', 'Heartbeat': False, 'LastSeenAgo': 3600}],
    'tasks': [{'Name': 'Deploy', 'Description': 'Deploy OctoFX', 'ServerNode': 'OCTO-NODE-02', 'Duration': 600}],
}
# The group's modules; test_every_api_module_is_covered keeps this list honest.
API_MODULES = ['octopus_cluster_info', 'octopus_dependencies_info', 'octopus_node', 'octopus_task_cancel']

PLAYBOOK = r"""
- name: Play-level module_defaults only, https with a private CA
  hosts: localhost
  gather_facts: false
  module_defaults:
    group/octopus.ha.octopus:
      url: "{{ sim_url }}"
      api_key: "{{ sim_key }}"
      ca_path: "{{ sim_ca }}"
  tasks:
    - name: Read the cluster
      octopus.ha.octopus_cluster_info:
      register: p1_info
    - name: Read the dependencies
      octopus.ha.octopus_dependencies_info:
      register: p1_deps
    - name: Set a task cap
      octopus.ha.octopus_node:
        name: OCTO-NODE-03
        max_concurrent_tasks: 2
      register: p1_node
    - name: Cancel the tasks of a node
      octopus.ha.octopus_task_cancel:
        node_name: OCTO-NODE-02
        wait: false
      register: p1_cancel
    - name: Check the results of play 1
      ansible.builtin.assert:
        that:
          - p1_info.nodes | length == 3
          - p1_deps.server.version == '2023.4.8319'
          - p1_node is changed
          - p1_cancel is changed
        quiet: true

- name: A role under the same play-level module_defaults only
  hosts: localhost
  gather_facts: false
  module_defaults:
    group/octopus.ha.octopus:
      url: "{{ sim_url }}"
      api_key: "{{ sim_key }}"
      ca_path: "{{ sim_ca }}"
  tasks:
    - name: Remove a node with the node_remove role
      ansible.builtin.include_role:
        name: octopus.ha.node_remove
      vars:
        node_remove_name: OCTO-NODE-03
        node_remove_poll_interval: 1

- name: Only the environment of the AWX credential (with its CA field)
  hosts: localhost
  gather_facts: false
  environment: "{{ awx_env_with_ca }}"
  tasks:
    - name: Read the cluster through the env fallbacks
      octopus.ha.octopus_cluster_info:
      register: p2_info
    - name: Predict a drain in check mode through the env fallbacks
      octopus.ha.octopus_node:
        name: OCTO-NODE-01
        state: drained
      check_mode: true
      register: p2_node
    - name: Check the results of play 2
      ansible.builtin.assert:
        that:
          - p2_info.nodes | length == 2
          - p2_node is changed
        quiet: true

- name: The credential without its CA field, then OCTOPUS_VALIDATE_CERTS=false
  hosts: localhost
  gather_facts: false
  tasks:
    - name: Read the cluster without the private CA
      octopus.ha.octopus_cluster_info:
      environment: "{{ awx_env_without_ca }}"
      register: p3_untrusted
      ignore_errors: true
    - name: Read the cluster with validation turned off by the environment
      octopus.ha.octopus_cluster_info:
      environment: "{{ awx_env_without_ca | combine({'OCTOPUS_VALIDATE_CERTS': 'false'}) }}"
      register: p3_unvalidated
    - name: Check the results of play 3
      ansible.builtin.assert:
        that:
          - p3_untrusted is failed
          - "'ca_path is not set' in p3_untrusted.msg"
          - p3_unvalidated.nodes | length == 2
        quiet: true

- name: Transport mistakes fail at once and name the option to fix
  hosts: localhost
  gather_facts: false
  module_defaults:
    group/octopus.ha.octopus:
      api_key: "{{ sim_key }}"
      max_retries: 5
  tasks:
    - name: Each mistake
      octopus.ha.octopus_node:
        name: OCTO-NODE-01
        url: "{{ item.url }}"
        ca_path: "{{ item.ca_path | default(omit) }}"
      loop: "{{ mistakes }}"
      loop_control:
        label: "{{ item.what }}"
      register: p4
      ignore_errors: true
    - name: Check each message
      ansible.builtin.assert:
        that:
          - item.0 is failed
          - item.1.says in item.0.msg
          - (item.0.api_error.retries | default(0)) == 0
        fail_msg: "{{ item.1.what }}: {{ item.0.msg }}"
        quiet: true
      loop: "{{ p4.results | zip(mistakes) | list }}"
      loop_control:
        label: "{{ item.1.what }}"
"""


def test_every_api_module_is_covered():
    import yaml
    with open(os.path.join(REPO, 'meta', 'runtime.yml')) as handle:
        groups = yaml.safe_load(handle)['action_groups']
    assert sorted(groups['octopus']) == API_MODULES
    for name in API_MODULES:
        assert 'octopus.ha.%s:' % name in PLAYBOOK


def test_connection_set_once_reaches_every_module(simulator_factory, run_playbook, tmp_path):
    sim = simulator_factory(CLUSTER, speed=0, tls=True)
    tls = make_tls_files(str(tmp_path))
    cred = awx_emulation.load(os.path.join(REPO, 'extensions', 'awx', 'credential_types', 'octopus_deploy_api.yml'))
    with open(sim.ca_path) as handle:
        ca_pem = handle.read()
    with_ca = awx_emulation.inject(cred, dict(url=sim.url, api_key=ADMIN_KEY, ca_cert=ca_pem), str(tmp_path / 'job1'))[0]
    without_ca = awx_emulation.inject(cred, dict(url=sim.url, api_key=ADMIN_KEY), str(tmp_path / 'job2'))[0]
    assert without_ca['OCTOPUS_CA_PATH'] == ''

    with LoopbackServer() as plain, LoopbackServer(tls=tls) as secure, LoopbackServer(respond=not_found, tls=tls) as other, \
            LoopbackServer(respond=redirect_to(sim.url)) as redirector:
        mistakes = [
            dict(what='https to a plain http port', url=plain.url.replace('http:', 'https:'), ca_path=tls.ca_path,
                 says='answers plain HTTP on that port'),
            dict(what='http to an https port', url=secure.url.replace('https:', 'http:'),
                 says='speaks TLS (HTTPS) on that port, not plain HTTP, so the API key was not sent. Set url to https://'),
            dict(what='http redirected to https', url=redirector.url, ca_path=sim.ca_path,
                 says='redirects to %s/api, so the API key was not sent over plain http. Set url' % sim.url),
            dict(what='missing ca_path', url=sim.url, ca_path=str(tmp_path / 'no-such-ca.pem'),
                 says='ca_path %s does not exist. Set ca_path' % (tmp_path / 'no-such-ca.pem')),
            dict(what='name that does not resolve', url='https://octopus.invalid',
                 says='the host name octopus.invalid in url does not resolve'),
            dict(what='not an Octopus Server', url=other.url + '/octopus', ca_path=tls.ca_path,
                 says='%s/octopus is not an Octopus Server' % other.url),
        ]
        sim.control.clear_requests()
        run = run_playbook(PLAYBOOK, extra_vars=dict(sim_url=sim.url, sim_key=ADMIN_KEY, sim_ca=sim.ca_path,
                                                     awx_env_with_ca=with_ca, awx_env_without_ca=without_ca,
                                                     mistakes=mistakes),
                           env={'OCTOPUS_URL': '', 'OCTOPUS_API_KEY': ''})
    assert run.rc == 0, run.explain()
    assert run.stats['localhost']['failures'] == 0, run.explain()
    # The key never crossed the wire in clear text.
    for server in (plain, secure, other, redirector):
        assert not [raw for raw in server.raw if ADMIN_KEY.encode() in raw], server.url
    assert ADMIN_KEY not in run.output
    # The modules did their work on the https simulator.
    state = sim.control.state()
    assert sorted(n['Name'] for n in state['nodes']) == ['OCTO-NODE-01', 'OCTO-NODE-02']
    puts = [e for e in sim.control.requests() if e['method'] == 'PUT' and e['path'].endswith('/OctopusServerNodes-OCTO-NODE-03')]
    assert puts and puts[0]['body']['MaxConcurrentTasks'] == 2  # play 1, before the role removed the node
    assert [t['State'] for t in state['tasks']] in (['Cancelling'], ['Canceled'])
    checks = [(r['task'], r['status']) for r in run.results if r['task'].startswith('Check ')]
    assert len(checks) == 4 and set(s for dummy, s in checks) == {'ok'}, checks


def test_doc_fragment_lists_the_env_fallbacks():
    import subprocess
    names = ['octopus.ha.%s' % name for name in API_MODULES]
    proc = subprocess.run(['ansible-doc', '-j'] + names, capture_output=True, text=True, check=True)
    docs = json.loads(proc.stdout)
    for name in names:
        options = docs[name]['doc']['options']
        for option, env in (('url', 'OCTOPUS_URL'), ('api_key', 'OCTOPUS_API_KEY'), ('ca_path', 'OCTOPUS_CA_PATH'),
                            ('validate_certs', 'OCTOPUS_VALIDATE_CERTS'), ('client_cert', 'OCTOPUS_CLIENT_CERT'),
                            ('client_key', 'OCTOPUS_CLIENT_KEY')):
            assert 'E(%s)' % env in ' '.join(options[option]['description']), (name, option)
