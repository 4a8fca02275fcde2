# -*- coding: utf-8 -*-
# Copyright: Contributors to the octopus.ha collection
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Functional tests of the server_install and server_configure roles on the simulated Windows host.

Each test starts the Octopus simulator (octosim, in a thread), prepares fake Windows hosts
(tests/fake_windows, state under tmp_path) and runs ``playbooks/install_configure.yml`` with
ansible-playbook. See tests/fake_windows/README.md for the fake-host contract.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import hashlib
import json
import os
import re
import sys

import pytest

octosim_testing = pytest.importorskip('octosim.testing')

# One worker runs this module (scripts/test.sh: pytest -n 3 --dist loadscope), so the module-scoped matrix runs once.
pytestmark = pytest.mark.heavy

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.abspath(os.path.join(HERE, '..', '..', '..'))
FAKE_WINDOWS = os.path.join(ROOT, 'tests', 'fake_windows')
PLAYBOOK = os.path.join(HERE, 'playbooks', 'install_configure.yml')
sys.path.insert(0, FAKE_WINDOWS)
sys.path.insert(0, os.path.dirname(HERE))

from ansible_collections.ansible.windows.plugins.module_utils import _fake_host as fh  # noqa: E402 pylint: disable=wrong-import-position
import playbook_runner  # noqa: E402 pylint: disable=wrong-import-position

VERSION = '2024.1.1234'
OLD_VERSION = '2023.4.8319'
CONN = 'Data Source=sql01;Initial Catalog=Octopus;User ID=octopus_sql;Password=Sql-Secret-42'
# The cluster database as Integrated Security reaches it (same database; Windows logins below).
INTEGRATED = 'Data Source=sql01;Initial Catalog=Octopus;Integrated Security=True'
GMSA = 'CORP\\octopus$'
LOGINS = ['sql:octopus_sql', GMSA, 'CORP\\LSYSOK$']
MASTER_KEY = 'bWFzdGVyLWtleS1mb3ItdGVzdHM='
ADMIN_KEY = octosim_testing.ADMIN_KEY


def cluster_config(versions=(VERSION, VERSION)):
    return {
        'server': {'version': VERSION, 'serving_node': 'OCTO-NODE-01'},
        'nodes': [{'Name': 'OCTO-NODE-%02d' % (i + 1), 'MaxConcurrentTasks': 5, 'Version': v} for i, v in enumerate(versions)],
    }


class Env(object):
    """One test's world: simulator, fake Windows state, downloads, inventory (hosts with their vars)."""

    def __init__(self, tmp_path, sim, hosts=None):
        self.tmp = str(tmp_path)
        self.sim = sim
        self.hosts = hosts or {'node1': {}}
        self.fake_dir = os.path.join(self.tmp, 'fake')
        self.downloads = os.path.join(self.tmp, 'downloads')
        self.results = os.path.join(self.tmp, 'results')
        for path in (self.fake_dir, self.downloads, self.results):
            os.makedirs(path)
        self.msi = {}
        for version in (VERSION, OLD_VERSION):
            path = fh.write_fake_msi(os.path.join(self.downloads, 'Octopus.%s-x64.msi' % version), version)
            with open(path, 'rb') as handle:
                self.msi[version] = hashlib.sha256(handle.read()).hexdigest()
        fh.add_cluster_database(CONN, MASTER_KEY, root=self.fake_dir, logins=LOGINS)
        common = {
            'ansible_connection': 'local',
            'ansible_python_interpreter': sys.executable,
            'octopus_url': sim.url,
            'octopus_api_key': ADMIN_KEY,
            'server_install_cache_dir': 'C:\\ProgramData\\octopus.ha\\cache',
            'server_install_msi_checksum': self.msi[VERSION],
            'server_configure_connection_string': CONN,
            'server_configure_master_key': MASTER_KEY,
            'server_configure_ready_delay': 1,
            'server_configure_ready_timeout': 20,
            'test_results_dir': self.results,
        }
        hosts_vars = {}
        for host, host_vars in self.hosts.items():
            hosts_vars[host] = dict({'server_configure_local_url': sim.node_url(host)}, **host_vars)
        self.inventory = os.path.join(self.tmp, 'inventory.json')
        with open(self.inventory, 'w') as handle:
            json.dump({'all': {'children': {'new_nodes': {'hosts': hosts_vars, 'vars': common}}}}, handle)

    def env(self):
        """What these runs add to the shared runner's environment (tests/functional/playbook_runner.py)."""
        return {
            'ANSIBLE_COLLECTIONS_PATH': FAKE_WINDOWS + os.pathsep + os.path.join(ROOT, '.cache', 'collections'),
            'ANSIBLE_COLLECTIONS_SCAN_SYS_PATH': 'false',
            'ANSIBLE_LOCALHOST_WARNING': 'false',
            'ANSIBLE_INVENTORY_UNPARSED_WARNING': 'false',
            'ANSIBLE_FORKS': '5',
            'OCTOHA_FAKE_WINDOWS_DIR': self.fake_dir,
            'OCTOHA_FAKE_DOWNLOADS_DIR': self.downloads,
            'OCTOHA_SIM_URL': self.sim.url,
            'OCTOHA_SIM_API_KEY': ADMIN_KEY,
            'OCTOHA_FAKE_HOST': None,
        }

    def run(self, check=False, **extra):
        done = playbook_runner.run(PLAYBOOK, self.tmp, extra_vars=extra or None, env=self.env(), check=check,
                                   inventory=self.inventory, timeout=600, cwd=self.tmp)
        return Result(done.rc, done.stdout + done.stderr)

    def state(self, host='node1'):
        return fh.load_state(host=host, root=self.fake_dir)

    def result(self, host='node1'):
        with open(os.path.join(self.results, host + '.json')) as handle:
            return json.load(handle)

    def sim_node(self, name):
        for node in self.sim.control.state()['nodes']:
            if node['Name'] == name:
                return node
        return None


class Result(object):
    def __init__(self, rc, output):
        self.rc = rc
        self.output = output

    def recap(self, host='node1'):
        match = re.search(r'^%s\s*:\s*ok=(\d+)\s+changed=(\d+)\s+unreachable=(\d+)\s+failed=(\d+)' % re.escape(host),
                          self.output, re.M)
        assert match, self.output[-3000:]
        return dict(zip(('ok', 'changed', 'unreachable', 'failed'), (int(g) for g in match.groups())))


@pytest.fixture
def sim():
    with octosim_testing.SimulatorThread(cluster_config(), speed=0) as simulator:
        yield simulator


@pytest.fixture
def world(tmp_path, sim):
    """One new node whose service runs as a gMSA, with Integrated Security: the database commands must run as
    the gMSA (become), and its listen prefix needs a URL reservation."""
    node = {'server_configure_connection_string': INTEGRATED, 'server_configure_service_username': GMSA}
    env = Env(tmp_path, sim, hosts={'node1': node})
    fh.set_knob('require_url_acls', True, host='node1', root=env.fake_dir)
    return env


def octopus_commands(state):
    return [c['command'] for c in state['octopus'].get('commands', [])
            if c['command'] not in ('list-instances', 'show-configuration')]


def assert_no_secret_on_disk(state):
    for entry in state['files'].values():
        content = entry.get('content') or ''
        for secret in (MASTER_KEY, 'Sql-Secret-42', CONN):
            assert secret not in content, entry['path']


def test_fresh_node_joins_drained_and_rerun_changes_nothing(world):
    first = world.run()
    assert first.rc == 0, first.output[-4000:]
    state = world.state()
    product = fh.installed_octopus(state)
    assert product['version'] == VERSION
    assert [d['url'] for d in state['downloads']] == ['https://download.octopusdeploy.com/octopus/Octopus.%s-x64.msi' % VERSION]
    assert fh.get_file(state, 'C:\\ProgramData\\octopus.ha\\cache\\Octopus.%s-x64.install.log' % VERSION)
    assert octopus_commands(state) == ['create-instance', 'database', 'configure', 'node', 'service']
    database = [c for c in state['octopus']['commands'] if c['command'] == 'database'][0]
    assert database['options']['masterkey'] == fh.MASK and database['options']['connectionstring'] == fh.MASK
    service = state['octopus']['commands'][-1]
    assert service['command'] == 'service' and service['options']['username'] == GMSA and 'password' not in service['options']
    assert state['services']['octopusdeploy']['state'] == 'running'
    assert state['services']['octopusdeploy']['startup_error'] is None
    assert state['url_acls'] == {'http://+:80/': GMSA}
    # The commands that touch the database ran as the gMSA (become), the others as the WinRM user.
    runners = dict((c['command'], c['runner']) for c in state['octopus']['commands'])
    assert runners == {'list-instances': 'NODE1\\Administrator', 'create-instance': 'NODE1\\Administrator',
                       'database': GMSA, 'configure': 'NODE1\\Administrator', 'node': GMSA,
                       'service': 'NODE1\\Administrator'}, runners
    assert sorted(state['firewall_rules']) == ['Octopus Deploy Server OctopusServer TCP 10943',
                                               'Octopus Deploy Server OctopusServer TCP 80']
    assert all(r['profiles'] == ['domain', 'private', 'public'] for r in state['firewall_rules'].values())
    assert_no_secret_on_disk(state)
    node = world.sim_node('node1')
    assert node['MaxConcurrentTasks'] == 0 and node['IsInMaintenanceMode'] is True and node['Version'] == VERSION
    assert MASTER_KEY not in first.output and 'Sql-Secret-42' not in first.output
    result = world.result()
    assert result['install']['action'] == 'install' and result['reboot'] is False
    assert result['configure']['fresh_join'] is True

    second = world.run()
    assert second.rc == 0, second.output[-4000:]
    assert second.recap()['changed'] == 0, second.output[-4000:]
    assert octopus_commands(world.state()) == octopus_commands(state)
    # show-configuration reads the node's settings from the database: through WinRM alone it would log in as
    # ANONYMOUS LOGON (the double hop); as the gMSA, whose service runs, it gets in.
    shows = [c for c in world.state()['octopus']['commands'] if c['command'] == 'show-configuration']
    assert shows and all(c['runner'] == GMSA for c in shows)
    assert world.result()['install']['action'] == 'none'

    # Promotion through the API (what node_promote does), then configure again: no re-drain.
    status, _headers, body = world.sim.request('PUT', '/api/octopusservernodes/OctopusServerNodes-node1',
                                               body={'Id': 'OctopusServerNodes-node1', 'Name': 'node1',
                                                     'MaxConcurrentTasks': 5, 'IsInMaintenanceMode': False})
    assert status == 200, body
    third = world.run()
    assert third.rc == 0, third.output[-4000:]
    assert third.recap()['changed'] == 0, third.output[-4000:]
    node = world.sim_node('node1')
    assert node['MaxConcurrentTasks'] == 5 and node['IsInMaintenanceMode'] is False

    # A pinned task cap is applied with "node --taskCap=2" on the running node (no drain, no restart).
    fourth = world.run(server_configure_task_cap=2)
    assert fourth.rc == 0, fourth.output[-4000:]
    assert fourth.recap()['changed'] == 1, fourth.output[-4000:]
    node = world.sim_node('node1')
    assert node['MaxConcurrentTasks'] == 2 and node['IsInMaintenanceMode'] is False
    assert octopus_commands(world.state())[-1:] == ['node']
    assert world.state()['services']['octopusdeploy']['state'] == 'running'


def test_check_mode_on_a_fresh_node_changes_nothing(world):
    result = world.run(check=True, test_run_configure=False)
    assert result.rc == 0, result.output[-4000:]
    state = world.state()
    assert state['products'] == {} and state['downloads'] == []
    assert world.sim_node('node1') is None


def test_version_skew_stops_the_install(tmp_path):
    with octosim_testing.SimulatorThread(cluster_config((VERSION, OLD_VERSION)), speed=0) as simulator:
        world = Env(tmp_path, simulator)
        result = world.run()
    assert result.rc != 0
    assert 'different versions' in result.output and 'OCTO-NODE-02=%s' % OLD_VERSION in result.output
    state = world.state()
    assert state['products'] == {} and state['downloads'] == []


MATRIX = {
    'pinned': {'server_install_version': OLD_VERSION, 'test_run_configure': False},
    'reboot': {'test_run_configure': False},
    'badsum': {'server_install_msi_checksum': '0' * 64, 'test_run_configure': False},
    'choco': {'server_install_method': 'chocolatey', 'test_run_configure': False},
    'upgrade': {'test_run_configure': False},
    'sqllogin': {'server_configure_service_username': 'octopus_sql', 'server_configure_service_password': 'x'},
    # Issue 10 section 2: an upgrade of a pinned package, a cached MSI, a custom INSTALLLOCATION.
    'chocoup': {'server_install_method': 'chocolatey', 'test_run_configure': False},
    'cached': {'test_run_configure': False},
    'custom': {'server_install_msi_arguments': 'INSTALLLOCATION=D:\\Apps\\Octopus'},
    # Issue 10 section 1: LocalSystem with Integrated Security, refused and opted in.
    'lsys': {'server_configure_connection_string': INTEGRATED},
    'lsysok': {'server_configure_connection_string': INTEGRATED, 'server_configure_allow_computer_account_login': 'true'},
    # Issue 10 section 3: the join's task cap 0 / drain did not persist before the first start.
    'lost': {},
}


LOST_NODE_TASK = {'Name': 'Deploy', 'Description': 'Deploy Web 1.0.0 to Production', 'Duration': 600}


@pytest.fixture(scope='module')
def matrix(tmp_path_factory):
    """One ansible-playbook run over several fake hosts, each set up for one install/configure rule."""
    with octosim_testing.SimulatorThread(cluster_config(), speed=0) as simulator:
        world = Env(tmp_path_factory.mktemp('matrix'), simulator, hosts=MATRIX)
        fh.set_knob('msi_exit_code', 3010, host='reboot', root=world.fake_dir)

        def preinstall(data):
            fh.install_msi_document(data, json.loads(fh.fake_msi_document(OLD_VERSION)))
        fh.update_state(preinstall, host='upgrade', root=world.fake_dir)

        def preinstall_pinned(data):
            fh.install_msi_document(data, json.loads(fh.fake_msi_document(OLD_VERSION)), source='chocolatey')
            data['chocolatey']['packages']['octopusdeploy'] = {'name': 'octopusdeploy', 'version': OLD_VERSION,
                                                               'pins': [OLD_VERSION], 'pinned': True}
        fh.update_state(preinstall_pinned, host='chocoup', root=world.fake_dir)

        def cache_msi(data):
            with open(os.path.join(world.downloads, 'Octopus.%s-x64.msi' % VERSION)) as handle:
                fh.put_file(data, 'C:\\ProgramData\\octopus.ha\\cache\\Octopus.%s-x64.msi' % VERSION, handle.read())
        fh.update_state(cache_msi, host='cached', root=world.fake_dir)
        # The lost settings let the node take a queued deployment at its first poll, before the API drain.
        fh.set_knob('octopus_node_settings_lost_on_start', {'took_tasks': [LOST_NODE_TASK]}, host='lost', root=world.fake_dir)
        result = world.run()
        yield world, result


def test_pinned_version_must_match_the_cluster(matrix):
    world, result = matrix
    assert result.recap('pinned')['failed'] == 1
    assert 'does not match the cluster version %s' % VERSION in result.output
    assert world.state('pinned')['downloads'] == []


def test_msi_exit_3010_is_reported_as_reboot_required(matrix):
    world, result = matrix
    assert result.recap('reboot')['failed'] == 0, result.output[-4000:]
    assert 'a reboot is required' in result.output
    assert 'RUNNING HANDLER [octopus.ha.server_install : Octopus Server install requires a reboot]' in result.output
    assert world.result('reboot')['reboot'] is True
    assert fh.installed_octopus(world.state('reboot'))['version'] == VERSION


def test_checksum_mismatch_fails_before_installing(matrix):
    world, result = matrix
    assert result.recap('badsum')['failed'] == 1 and 'did not match' in result.output
    assert world.state('badsum')['products'] == {}


def test_chocolatey_installs_the_pinned_cluster_version(matrix):
    world, result = matrix
    assert result.recap('choco')['failed'] == 0, result.output[-4000:]
    state = world.state('choco')
    assert state['chocolatey']['packages']['octopusdeploy'] == {'name': 'octopusdeploy', 'version': VERSION, 'pinned': True,
                                                                'pins': [VERSION]}
    assert fh.installed_octopus(state)['version'] == VERSION and state['downloads'] == []


def test_older_installed_version_is_upgraded_to_the_cluster_version(matrix):
    world, result = matrix
    assert result.recap('upgrade')['failed'] == 0, result.output[-4000:]
    assert world.result('upgrade')['install']['action'] == 'upgrade'
    assert fh.installed_octopus(world.state('upgrade'))['version'] == VERSION


def test_sql_login_as_service_account_is_refused(matrix):
    world, result = matrix
    assert result.recap('sqllogin')['failed'] == 1
    assert 'never the SQL user' in result.output
    assert 'Sql-Secret-42' not in result.output and MASTER_KEY not in result.output
    assert octopus_commands(world.state('sqllogin')) == []


def test_a_pinned_chocolatey_package_is_unpinned_upgraded_and_pinned_again(matrix):
    """Before: state=upgrade with pinned=true left the old version (choco skips pinned packages)."""
    world, result = matrix
    assert result.recap('chocoup')['failed'] == 0, result.output[-4000:]
    package = world.state('chocoup')['chocolatey']['packages']['octopusdeploy']
    assert package['version'] == VERSION and package['pins'] == [VERSION] and package['pinned'] is True
    assert fh.installed_octopus(world.state('chocoup'))['version'] == VERSION


def test_a_cached_msi_that_matches_the_checksum_is_not_fetched_again(matrix):
    """Before: force=true with a checksum fetched the whole MSI on every run."""
    world, result = matrix
    assert result.recap('cached')['failed'] == 0, result.output[-4000:]
    state = world.state('cached')
    assert state['fetches'] == [] and fh.installed_octopus(state)['version'] == VERSION


def test_a_custom_install_location_reaches_configure(matrix):
    """Before: server_configure used its own default path and failed with "does not exist"."""
    world, result = matrix
    assert result.recap('custom')['failed'] == 0, result.output[-4000:]
    exe = 'D:\\Apps\\Octopus\\Octopus.Server.exe'
    assert world.result('custom')['install']['exe_path'] == exe
    assert world.result('custom')['configure']['exe_path'] == exe
    assert octopus_commands(world.state('custom')) == ['create-instance', 'database', 'configure', 'node', 'service']


def test_localsystem_with_integrated_security_is_refused_before_any_change(matrix):
    world, result = matrix
    assert result.recap('lsys')['failed'] == 1
    assert 'Refusing a fresh join' in result.output and 'gMSA' in result.output and 'LSYS$' in result.output
    state = world.state('lsys')
    assert octopus_commands(state) == [] and state['firewall_rules'] == {} and state['services'] == {}


def test_localsystem_with_integrated_security_opted_in_runs_the_database_commands_as_system(matrix):
    world, result = matrix
    assert result.recap('lsysok')['failed'] == 0, result.output[-4000:]
    runners = dict((c['command'], c['runner']) for c in world.state('lsysok')['octopus']['commands'])
    assert runners['database'] == 'NT AUTHORITY\\SYSTEM' and runners['node'] == 'NT AUTHORITY\\SYSTEM'
    assert world.state('lsysok')['url_acls'] == {}
    assert world.sim_node('lsysok')['IsInMaintenanceMode'] is True


def test_a_node_whose_join_settings_did_not_persist_is_drained_through_the_api(matrix):
    """Before: the role only failed on the 200 ping and left the node running with task cap 5."""
    world, result = matrix
    assert result.recap('lost')['failed'] == 0, result.output[-4000:]
    assert 'did not persist' in result.output
    node = world.sim_node('lost')
    assert node['MaxConcurrentTasks'] == 0 and node['IsInMaintenanceMode'] is True
    # The deployment it took before the drain is named, and it still runs there (nothing cancelled it).
    took = [t for t in world.sim.control.state()['tasks'] if t['ServerNode'] == node['Id']]
    assert [(t['Description'], t['State']) for t in took] == [(LOST_NODE_TASK['Description'], 'Executing')]
    assert world.result('lost')['configure']['tasks_taken_before_drain'] == [took[0]['Id']]
    assert '1 tasks started on it before that drain and run to their end there: %s.' % took[0]['Id'] in result.output
