# -*- coding: utf-8 -*-
# Copyright: Contributors to the octopus.ha collection
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Tests of the simulated Windows host itself: the state library and the fake Octopus.Server.exe.

They run in-process (no ansible-playbook, no simulator) so that the fake's rules are pinned down
cheaply: the functional suites rely on it failing like the real programs do.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import json
import os
import sys

import pytest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

# pylint: disable=wrong-import-position
from ansible_collections.ansible.windows.plugins.module_utils import _fake_host as fh  # noqa: E402
from ansible_collections.ansible.windows.plugins.module_utils import _fake_octopus_server as octo  # noqa: E402

EXE = fh.OCTOPUS_EXE
CONN = 'Data Source=sql01;Initial Catalog=Octopus;Integrated Security=True'
KEY = 'a2V5LWZvci10ZXN0cw=='


@pytest.fixture
def root(tmp_path, monkeypatch):
    monkeypatch.setenv(fh.ENV_DIR, str(tmp_path))
    monkeypatch.setenv(fh.ENV_HOST, 'node1')
    monkeypatch.delenv(fh.ENV_SIM_URL, raising=False)
    fh.add_cluster_database(CONN, KEY)
    return str(tmp_path)


@pytest.fixture
def host(root):
    """A fake host with Octopus Server 2024.1.1234 installed."""
    data = fh.new_state('node1')
    fh.install_msi_document(data, json.loads(fh.fake_msi_document('2024.1.1234')))
    return data


def run(data, *args):
    return octo.run(data, [EXE] + list(args))


def test_state_roundtrip_and_lock(root):
    fh.set_knob('msi_exit_code', 3010)
    with fh.transaction() as data:
        fh.put_file(data, 'C:/Temp/a.txt', 'hello')
    state = fh.load_state()
    assert state['knobs'] == {'msi_exit_code': 3010}
    assert fh.get_file(state, 'c:\\TEMP\\A.TXT')['size'] == 5
    assert fh.get_file(state, 'C:\\Temp')['isdir'] is True
    assert os.path.exists(os.path.join(root, 'hosts', 'node1.json.lock'))


def test_host_name_is_required(monkeypatch, root):
    monkeypatch.delenv(fh.ENV_HOST)
    with pytest.raises(fh.FakeHostError) as err:
        fh.load_state()
    assert 'OCTOHA_FAKE_HOST' in err.value.msg


def test_msi_install_upgrade_downgrade_and_3010(root):
    data = fh.new_state('node1')
    fh.put_file(data, 'C:\\Cache\\new.msi', fh.fake_msi_document('2024.1.1234'))
    fh.put_file(data, 'C:\\Cache\\old.msi', fh.fake_msi_document('2023.4.8319'))
    assert fh.msi_install(data, 'C:\\Cache\\old.msi', 'C:\\Cache\\old.log')[0] == 0
    assert fh.installed_octopus(data)['version'] == '2023.4.8319'
    data['knobs']['msi_exit_code'] = 3010
    assert fh.msi_install(data, 'C:\\Cache\\new.msi')[0] == 3010
    assert fh.installed_octopus(data)['version'] == '2024.1.1234' and data['reboot_required'] is True
    assert len(data['products']) == 1
    assert fh.get_file(data, EXE)['version'] == '2024.1.1234.0'
    data['knobs']['msi_exit_code'] = 0
    assert fh.msi_install(data, 'C:\\Cache\\old.msi')[0] == 1638
    with pytest.raises(fh.FakeHostError):
        fh.msi_install(data, 'C:\\Cache\\missing.msi')


def _join(host, conn=CONN, key=KEY, user=None):
    run(host, 'create-instance', '--instance', 'OctopusServer', '--config', 'C:\\Octopus\\OctopusServer.config',
        '--serverNodeName', 'i-0abc')
    assert run(host, 'database', '--instance', 'OctopusServer', '--connectionString', conn, '--masterKey', key)[0] == 0
    account = ['--username', user] + ([] if user.endswith('$') else ['--password', 'pw']) if user else []
    return run(host, 'service', '--instance', 'OctopusServer', '--install', '--reconfigure', '--start', *account)


def test_join_sequence_and_idempotence_failures(host, monkeypatch):
    monkeypatch.setenv(fh.ENV_RUNAS, json.dumps({'how': 'become', 'user': 'SYSTEM'}))
    assert run(host, 'service', '--instance', 'OctopusServer', '--start')[0] == 1
    rc, out, err = run(host, 'create-instance', '--instance', 'OctopusServer', '--config', 'C:\\Octopus\\OctopusServer.config',
                       '--serverNodeName', 'i-0abc')
    assert rc == 0, err
    rc, out, err = run(host, 'create-instance', '--instance', 'OctopusServer', '--config', 'C:\\Octopus\\OctopusServer.config')
    assert rc == 1 and 'already exists' in err
    # Without --create, database only saves the connection string (and the master key): no connection, no check.
    rc, out, err = run(host, 'database', '--instance', 'OctopusServer', '--connectionString', 'Server=nowhere;Database=x')
    assert rc == 0 and 'saved' in out, err
    assert run(host, 'database', '--instance', 'OctopusServer', '--connectionString', CONN, '--masterKey', KEY)[0] == 0
    assert run(host, 'node', '--instance', 'OctopusServer', '--taskCap=0', '--drain=true')[0] == 0
    rc, out, err = run(host, 'service', '--instance', 'OctopusServer', '--start')
    assert rc == 1 and 'not installed' in err
    rc, out, err = run(host, 'service', '--instance', 'OctopusServer', '--install', '--reconfigure', '--start')
    assert rc == 0, err
    svc = fh.get_service(host, 'OctopusDeploy')
    assert svc['state'] == 'running' and svc['username'] == 'LocalSystem' and svc['startup_error'] is None
    assert host['octopus']['instances']['OctopusServer']['ever_started'] is True
    logged = [c for c in host['octopus']['commands'] if c['command'] == 'database'][-1]
    assert logged['options']['masterkey'] == fh.MASK and logged['options']['connectionstring'] == fh.MASK


def test_a_wrong_master_key_shows_only_when_the_service_starts(host):
    rc, out, err = _join(host, key='wrong-key')
    assert rc == 0, err
    svc = fh.get_service(host, 'OctopusDeploy')
    assert svc['state'] == 'running' and 'master key' in svc['startup_error']


def test_double_hop_through_winrm_with_integrated_security(host, monkeypatch):
    """show-configuration and node reach SQL Server as the runner; WinRM without delegation has no credentials."""
    monkeypatch.setenv(fh.ENV_RUNAS, json.dumps({'how': 'winrm', 'user': 'CORP\\ansible', 'delegation': False}))
    run(host, 'create-instance', '--instance', 'OctopusServer', '--config', 'C:\\Octopus\\OctopusServer.config')
    run(host, 'database', '--instance', 'OctopusServer', '--connectionString', CONN, '--masterKey', KEY)
    # Before the first start the node has no record in the database: the settings go to the config file.
    assert run(host, 'node', '--instance', 'OctopusServer', '--taskCap=0', '--drain=true')[0] == 0
    assert run(host, 'show-configuration', '--instance', 'OctopusServer', '--format=json')[0] == 0
    assert run(host, 'service', '--instance', 'OctopusServer', '--install', '--reconfigure', '--start')[0] == 0
    rc, out, err = run(host, 'show-configuration', '--instance', 'OctopusServer', '--format=json-hierarchical')
    assert rc == 1 and "Login failed for user 'NT AUTHORITY\\ANONYMOUS LOGON'" in err
    assert run(host, 'node', '--instance', 'OctopusServer', '--taskCap=1')[0] == 1
    monkeypatch.setenv(fh.ENV_RUNAS, json.dumps({'how': 'winrm', 'user': 'CORP\\ansible', 'delegation': True}))
    assert run(host, 'show-configuration', '--instance', 'OctopusServer', '--format=json')[0] == 0
    monkeypatch.setenv(fh.ENV_RUNAS, json.dumps({'how': 'become', 'user': 'SYSTEM'}))
    assert run(host, 'show-configuration', '--instance', 'OctopusServer', '--format=json')[0] == 0


def test_sql_sees_the_service_account(root, host, monkeypatch):
    fh.add_cluster_database(CONN, KEY, logins=['CORP\\octopus$', 'CORP\\svc'])
    assert _join(host)[0] == 0
    assert "Login failed for user 'CORP\\NODE1$'" in fh.get_service(host, 'OctopusDeploy')['startup_error']
    other = fh.new_state('node1')
    fh.install_msi_document(other, json.loads(fh.fake_msi_document('2024.1.1234')))
    assert _join(other, user='CORP\\octopus$')[0] == 0
    assert fh.get_service(other, 'OctopusDeploy')['startup_error'] is None
    # A gMSA without a password: runas duplicates its running service's logon, else S4U has no network credentials.
    monkeypatch.setenv(fh.ENV_RUNAS, json.dumps({'how': 'become', 'user': 'CORP\\octopus$'}))
    assert fh.runner(other)['network'] == 'CORP\\octopus$'
    assert run(other, 'show-configuration', '--instance', 'OctopusServer', '--format=json')[0] == 0
    assert fh.runner(fh.new_state('node2'))['network'] is None


def test_runas_logon_types_and_passwords(host, monkeypatch):
    host['knobs'].update(denied_logon_types={'CORP\\svc': ['interactive', 'batch']}, account_passwords={'CORP\\svc': 'pw'})
    monkeypatch.setenv(fh.ENV_RUNAS, json.dumps({'how': 'become', 'user': 'CORP\\svc', 'password': 'pw'}))
    with pytest.raises(fh.FakeHostError) as err:
        fh.runner(host)
    assert '1385' in err.value.msg
    monkeypatch.setenv(fh.ENV_RUNAS, json.dumps({'how': 'become', 'user': 'CORP\\svc', 'password': 'pw',
                                                 'logon_type': 'network_cleartext'}))
    assert fh.runner(host) == {'how': 'become', 'user': 'CORP\\svc', 'network': 'CORP\\svc'}
    monkeypatch.setenv(fh.ENV_RUNAS, json.dumps({'how': 'become', 'user': 'CORP\\svc', 'password': 'bad',
                                                 'logon_type': 'network_cleartext'}))
    with pytest.raises(fh.FakeHostError) as err:
        fh.runner(host)
    assert '1326' in err.value.msg


def test_non_admin_service_needs_url_reservations(host):
    host['knobs']['require_url_acls'] = True
    assert _join(host, user='CORP\\octopus$')[0] == 0
    assert 'urlacl' in fh.get_service(host, 'OctopusDeploy')['startup_error']
    run(host, 'service', '--instance', 'OctopusServer', '--stop')
    host['url_acls']['http://localhost:80/'] = 'CORP\\octopus$'
    assert run(host, 'service', '--instance', 'OctopusServer', '--start')[0] == 0
    assert fh.get_service(host, 'OctopusDeploy')['startup_error'] is None


def test_unknown_options_commands_and_domain_account_without_password(host):
    run(host, 'create-instance', '--instance', 'OctopusServer', '--config', 'C:\\Octopus\\OctopusServer.config')
    assert run(host, 'configure', '--instance', 'OctopusServer', '--bogus', 'x')[0] == 1
    assert run(host, 'frobnicate')[0] == 2
    rc, out, err = run(host, 'service', '--instance', 'OctopusServer', '--install', '--reconfigure', '--username', 'CORP\\svc')
    assert rc == 1 and 'password' in err
    assert run(host, 'service', '--instance', 'OctopusServer', '--install', '--reconfigure', '--username', 'CORP\\gmsa$')[0] == 0
    assert fh.get_service(host, 'OctopusDeploy')['username'] == 'CORP\\gmsa$'


def test_show_configuration_hierarchical_with_junk_and_list_instances(host):
    run(host, 'create-instance', '--instance', 'OctopusServer', '--config', 'C:\\Octopus\\OctopusServer.config',
        '--serverNodeName', 'i-0abc')
    run(host, 'configure', '--instance', 'OctopusServer', '--webListenPrefixes', 'http://localhost:8080/', '--webForceSSL', 'true',
        '--commsListenPort', '10944')
    first = run(host, 'show-configuration', '--instance', 'OctopusServer', '--format=json-hierarchical')[1]
    second = run(host, 'show-configuration', '--instance', 'OctopusServer', '--format=json-hierarchical')[1]
    assert first.startswith(octo.JUNK) and second.startswith('{')
    config = json.loads(second)['Octopus']
    assert config['WebPortal'] == {'ListenPrefixes': 'http://localhost:8080/', 'ForceSSL': 'True'}
    assert config['Communications']['ServicesPort'] == 10944
    assert config['Server'] == {'NodeName': 'i-0abc', 'TaskCap': 5, 'MaintenanceMode': False}
    host['knobs']['octopus_show_config_junk'] = ''
    assert run(host, 'show-configuration', '--instance', 'OctopusServer', '--format=json-hierarchical')[1].startswith('{')
    listed = json.loads(run(host, 'list-instances', '--format=json')[1])
    assert listed == [{'InstanceName': 'OctopusServer', 'ConfigurationFilePath': 'C:\\Octopus\\OctopusServer.config'}]
    assert run(host, 'version')[1].strip() == '2024.1.1234'


def test_knob_fails_a_command(host):
    host['knobs']['octopus_fail_commands'] = ['list-instances']
    assert run(host, 'list-instances', '--format=json')[0] == 1


def test_redact_masks_nested_values():
    assert fh.redact({'a': ['x secret y', {'b': 'secret'}]}, ['secret']) == {'a': ['x ******** y', {'b': '********'}]}


@pytest.mark.parametrize('path, key', [
    ('C:/Program Files/Octopus/', 'c:\\program files\\octopus'),
    ('C:\\', 'c:\\'),
    ('\\\\fs01\\share\\x', '\\\\fs01\\share\\x'),
])
def test_path_key(path, key):
    assert fh.path_key(path) == key


class _Module(object):
    """Just enough of AnsibleModule for calling a stand-in's handler in-process."""

    check_mode = False

    def __init__(self, spec, **params):
        self.params = dict((name, option.get('default')) for name, option in spec.items())
        self.params.update(params)


def test_chocolatey_skips_a_pinned_package_on_upgrade_like_choco(host):
    from ansible_collections.chocolatey.chocolatey.plugins.modules import win_chocolatey as choco
    host['chocolatey']['packages']['octopusdeploy'] = {'name': 'octopusdeploy', 'version': '2024.1.1234',
                                                       'pins': ['2024.1.1234']}

    def call(**params):
        return choco.handler(_Module(choco.ARGUMENT_SPEC, name=['octopusdeploy'], **params), host)

    # The old form: upgrade with pinned=true. choco skips the pinned package; pinning a version that is not installed fails.
    with pytest.raises(fh.FakeHostError) as err:
        call(version='2025.1.1', state='upgrade', pinned=True)
    assert 'to pin' in err.value.msg and host['chocolatey']['packages']['octopusdeploy']['version'] == '2024.1.1234'
    # Unpin, upgrade, pin again.
    assert call(state='present', pinned=False)['changed'] is True
    assert call(version='2025.1.1', state='upgrade')['changed'] is True
    assert call(version='2025.1.1', state='present', pinned=True)['changed'] is True
    assert host['chocolatey']['packages']['octopusdeploy'] == {'name': 'octopusdeploy', 'version': '2025.1.1',
                                                               'pins': ['2025.1.1'], 'pinned': True}
    assert call(version='2025.1.1', state='present', pinned=True)['changed'] is False


def test_win_get_url_force_fetches_again_and_a_matching_checksum_does_not(host, tmp_path, monkeypatch):
    import hashlib
    from ansible_collections.ansible.windows.plugins.modules import win_get_url
    monkeypatch.setenv(fh.ENV_DOWNLOADS, str(tmp_path))
    (tmp_path / 'big.msi').write_text('msi-bytes')
    good = hashlib.sha256(b'msi-bytes').hexdigest()
    fh.ensure_dir(host, 'C:\\Cache')

    def call(**params):
        return win_get_url.handler(_Module(win_get_url.ARGUMENT_SPEC, url='https://x/big.msi', dest='C:\\Cache\\big.msi',
                                           checksum_algorithm='sha256', **params), host)

    assert call(force=False, checksum=good)['changed'] is True
    assert len(host['fetches']) == 1
    assert call(force=False, checksum=good)['changed'] is False
    assert len(host['fetches']) == 1                        # the file on disk matches: no transfer
    assert call(force=True, checksum=good)['changed'] is False
    assert len(host['fetches']) == 2                        # force=true transfers the whole file again
    fh.put_file(host, 'C:\\Cache\\big.msi', 'corrupt')
    assert call(force=False, checksum=good)['changed'] is True and len(host['fetches']) == 3


@pytest.mark.parametrize('content_type, parsed', [
    ('application/json; charset=utf-8', True),
    ('text/plain', True),                      # as the real module: "text", "json" or "javascript" in the type
    ('application/octet-stream', False),
])
def test_win_uri_parses_json_only_for_json_like_content_types(host, content_type, parsed):
    import threading
    from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
    from ansible_collections.ansible.windows.plugins.modules import win_uri

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self):  # pylint: disable=invalid-name
            body = b'{"Version": "2024.1.1234"}'
            self.send_response(200)
            self.send_header('Content-Type', content_type)
            self.send_header('Content-Length', str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args):  # pylint: disable=arguments-differ
            pass

    server = ThreadingHTTPServer(('127.0.0.1', 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        url = 'http://127.0.0.1:%d/api' % server.server_address[1]
        result = win_uri.handler(_Module(win_uri.ARGUMENT_SPEC, url=url, return_content=True), host)
    finally:
        server.shutdown()
        server.server_close()
    assert result['content_type'] == content_type
    assert ('json' in result) is parsed
