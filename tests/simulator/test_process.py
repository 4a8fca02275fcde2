# Copyright (c) octopus.ha contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The CLI and SimulatorProcess: start/stop, TLS, reset, the demo config, config errors."""
from __future__ import absolute_import, division, print_function
__metaclass__ = type

import json
import os
import signal
import ssl
import subprocess
import sys
import time
import urllib.error

import pytest

from octosim import config as sim_config
from octosim.testing import SimulatorError, SimulatorProcess, http_request, make_tls_files

TOOLS_DIR = os.path.join(os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))), 'tools')
DEMO_CONFIG = os.path.join(TOOLS_DIR, 'octosim', 'examples', 'demo-cluster.yml')


def test_process_lifecycle_and_cleanup_on_failure():
    sim = SimulatorProcess({'nodes': ['A']}, speed=0)
    with pytest.raises(RuntimeError):
        with sim:
            process = sim.process
            assert sim.request('GET', '/api')[0] == 200
            assert os.path.isdir(sim.workdir)
            workdir = sim.workdir
            raise RuntimeError('a failing test')
    assert process.poll() is not None
    assert not os.path.exists(workdir)
    sim.stop()   # idempotent


def test_demo_config_runs_and_resets():
    with SimulatorProcess(DEMO_CONFIG, speed=0) as sim:
        state = sim.control.state()
        assert [n['Name'] for n in state['nodes']] == ['OCTO-NODE-01', 'OCTO-NODE-02', 'OCTO-NODE-03']
        assert len(state['tasks']) >= 3
        status, dummy, body = sim.request('GET', 'Spaces-1/machines?commStyles=TentaclePassive')
        assert status == 200
        assert body['TotalResults'] == 2
        assert all(m['Endpoint']['CommunicationStyle'] == 'TentaclePassive' for m in body['Items'])
        assert sim.request('GET', 'Spaces-1/workers')[2]['Items'][0]['Endpoint']['Uri'].startswith('https://')
        feeds = sim.request('GET', 'Spaces-1/feeds')[2]['Items']
        assert [f['FeedType'] for f in feeds] == ['BuiltIn', 'NuGet']
        assert sim.request('GET', 'Spaces-1/accounts')[2]['TotalResults'] == 1
        folders = sim.request('GET', 'configuration/server-folders/values')[2]
        assert set(folders) >= {'LogsDirectory', 'ArtifactsDirectory', 'PackagesDirectory'}
        spaces = sim.request('GET', 'spaces/all')[2]
        assert spaces[0]['Id'] == 'Spaces-1'
        lic = sim.request('GET', 'licenses/licenses-current-status')[2]
        assert lic['Limits'][0]['EffectiveLimit'] == 4 and lic['Limits'][0]['CurrentUsage'] == 3
        sim.control.stop_node('OCTO-NODE-02')
        sim.control.advance(100)
        sim.control.add_fault(kind='status', status=500)
        sim.request('GET', '/api')
        reset = sim.control.reset()
        assert reset['clock']['now'] == '2024-03-01T10:00:00.000+00:00'
        assert all(n['Live'] for n in reset['nodes'])
        assert sim.control.faults() == []
        assert sim.control.requests() == []
        assert sim.request('GET', '/api')[0] == 200


def test_https_with_the_generated_ca():
    with SimulatorProcess({'nodes': ['A']}, speed=0, tls=True) as sim:
        assert sim.url.startswith('https://127.0.0.1:')
        status, headers, body = sim.request('GET', 'octopusservernodes/ping', api_key=None)
        assert status == 200 and body['Name'] == 'A'
        assert sim.control.state()['nodes'][0]['Name'] == 'A'
        # without the CA the certificate is rejected
        with pytest.raises(urllib.error.URLError) as info:
            http_request(sim.url + '/api')
        assert isinstance(info.value.reason, ssl.SSLCertVerificationError)
        # by name too
        status, dummy, dummy2 = http_request(sim.url.replace('127.0.0.1', 'localhost') + '/api', ca_path=sim.ca_path)
        assert status == 200


def test_tls_files_helper(tmp_path):
    files = make_tls_files(str(tmp_path))
    for path in files:
        assert os.path.getsize(path) > 0
    context = ssl.create_default_context(cafile=files.ca_path)
    context.load_cert_chain(files.cert_path, files.key_path)
    with SimulatorProcess({'nodes': ['A']}, speed=0, tls=files) as sim:
        status, dummy, dummy2 = http_request(sim.url.replace('127.0.0.1', 'localhost') + '/api', ca_path=files.ca_path)
        assert status == 200
    assert os.path.exists(files.ca_path)


def test_certificate_not_covering_the_host_fails_fast(tmp_path):
    # "Fast" = on the first TLS failure, not at the start-up timeout. Asserted by what failed, not by a
    # wall time: with a start-up timeout of an hour, only the TLS check can end this start.
    files = make_tls_files(str(tmp_path), hostnames=('localhost',))
    with pytest.raises(SimulatorError) as info:
        SimulatorProcess({'nodes': ['A']}, speed=0, tls=files, startup_timeout=3600).start()
    assert 'TLS' in str(info.value)
    assert 'did not start within' not in str(info.value) and 'did not become ready' not in str(info.value)


def test_cli_port_file_and_sigterm(tmp_path):
    config = tmp_path / 'cfg.json'
    config.write_text(json.dumps({'nodes': ['N1']}))
    port_file = tmp_path / 'url'
    env = dict(os.environ, PYTHONPATH=TOOLS_DIR)
    process = subprocess.Popen([sys.executable, '-m', 'octosim', '--config', str(config), '--port-file', str(port_file),
                                '--speed', '0'], stdout=subprocess.PIPE, stderr=subprocess.STDOUT, env=env)
    try:
        line = process.stdout.readline().decode()
        assert line.startswith('octosim listening on http://127.0.0.1:')
        deadline = time.monotonic() + 10
        while not port_file.exists() and time.monotonic() < deadline:
            time.sleep(0.02)
        url = port_file.read_text().strip()
        assert line.strip().endswith(url)
        assert http_request(url + '/api')[2]['Version'] == '2023.4.8319'
    finally:
        process.terminate()
        assert process.wait(timeout=10) == 0
        process.stdout.close()


def test_cli_rejects_a_bad_config(tmp_path):
    config = tmp_path / 'bad.yml'
    config.write_text('nodes: [{Name: A}, {Name: a}]\n')
    env = dict(os.environ, PYTHONPATH=TOOLS_DIR)
    result = subprocess.run([sys.executable, '-m', 'octosim', '--config', str(config)], capture_output=True, env=env,
                            timeout=30, check=False)
    assert result.returncode == 2
    assert b'duplicate node name' in result.stderr
    with pytest.raises(SimulatorError) as info:
        SimulatorProcess(str(config)).start()
    assert 'duplicate node name' in str(info.value)


@pytest.mark.parametrize('raw, fragment', [
    ({'bogus': 1}, 'unknown top-level'),
    ({'nodes': [{'MaxConcurrentTasks': 1}]}, 'Name'),
    ({'timing': {'orphan_outcome': 'Exploded'}}, 'orphan_outcome'),
    ({'timing': {'poll_interval': 0}}, 'poll_interval'),
    ({'server': {'serving_node': 'NOPE'}}, 'serving_node'),
    ({'tasks': [{'State': 'Running'}]}, 'task state'),
    ({'api_keys': [{'permissions': ['*']}]}, 'key'),
])
def test_config_validation(raw, fragment):
    with pytest.raises(sim_config.ConfigError) as info:
        sim_config.load(raw)
    assert fragment in str(info.value)


def test_config_defaults_and_yaml_json_equivalence(tmp_path):
    cfg = sim_config.load(None)
    assert cfg['nodes'][0]['Name'] == 'OCTO-NODE-01'
    assert cfg['timing']['poll_interval'] == 20
    yaml_cfg = sim_config.load(DEMO_CONFIG)
    path = tmp_path / 'demo.json'
    path.write_text(json.dumps(yaml_cfg))
    assert sim_config.load(str(path)) == sim_config.load(yaml_cfg)


def test_wall_clock_speed_moves_cluster_time():
    with SimulatorProcess({'nodes': ['A']}, speed=1000) as sim:
        first = sim.control.clock()['epoch']
        deadline = time.monotonic() + 120  # a bound against a hang, not a timing: it ends as soon as 60 s passed
        while sim.control.clock()['epoch'] - first < 60 and time.monotonic() < deadline:
            time.sleep(0.02)
        assert sim.control.clock()['epoch'] - first >= 60
        sim.control.set_speed(0)
        frozen = sim.control.clock()['epoch']
        time.sleep(0.05)
        assert sim.control.clock()['epoch'] == frozen


def _alive(pid):
    try:
        with open('/proc/%d/status' % pid, encoding='utf-8') as handle:
            return 'zombie' not in handle.read().lower()
    except OSError:
        return False


@pytest.mark.skipif(not os.path.isdir('/proc'), reason='needs /proc to watch the orphaned process')
def test_exit_with_parent_leaves_no_orphan(tmp_path):
    port_file = tmp_path / 'url'
    launcher = ('import subprocess, sys\n'
                'import os\n'
                'p = subprocess.Popen([sys.executable, "-m", "octosim", "--speed", "0", "--exit-with-parent", '
                '"--parent-pid", str(os.getpid()), "--port-file", %r], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)\n'
                'print(p.pid, flush=True)\n' % str(port_file))
    env = dict(os.environ, PYTHONPATH=TOOLS_DIR)
    result = subprocess.run([sys.executable, '-c', launcher], capture_output=True, env=env, timeout=30, check=True)
    pid = int(result.stdout.decode().strip())
    deadline = time.monotonic() + 120  # a bound against a hang: the loop ends as soon as the process is gone
    while _alive(pid) and time.monotonic() < deadline:
        time.sleep(0.05)
    survived = _alive(pid)
    if survived:
        os.kill(pid, signal.SIGTERM)
    assert not survived, 'octosim %d outlived its parent' % pid
