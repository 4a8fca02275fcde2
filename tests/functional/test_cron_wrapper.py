# -*- coding: utf-8 -*-
# Copyright: Contributors to the octopus.ha collection
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The cron example of docs/awx.md, copied and run the way cron runs it.

The crontab block is taken from the document. Only the install paths are moved into a temporary
directory (/usr/local/bin, /etc/octopus-ha, /var/log/octopus-ha, /run/lock). The command runs under
/bin/sh with cron's minimal environment, against the simulator: one real reconcile (about 10 s).
"""

from __future__ import absolute_import, division, print_function
__metaclass__ = type

import fcntl
import os
import re
import shutil
import subprocess
import sys

import pytest

from octosim.testing import ADMIN_KEY

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
WRAPPER = os.path.join(REPO, 'extensions', 'cron', 'octopus-ha-run.sh')
CLUSTER = {
    'server': {'version': '2023.4.8319'},
    'license': {'node_limit': None},
    'nodes': [{'Name': 'OCTO-NODE-01'}, {'Name': 'OCTO-NODE-02'},
              {'Name': 'i-0123456789abcdef0', 'Heartbeat': False, 'LastSeenAgo': 7200}],
}


def crontab_from_docs():
    with open(os.path.join(REPO, 'docs', 'awx.md')) as handle:
        text = handle.read()
    blocks = re.findall(r'```cron\n(.*?)```', text, re.S)
    assert len(blocks) == 1, 'docs/awx.md must have exactly one cron block'
    lines = [line for line in blocks[0].splitlines() if line.strip() and not line.startswith('#')]
    assert not [line for line in lines if line.rstrip().endswith('\\')], 'cron has no line continuation'
    env = dict(line.split('=', 1) for line in lines if re.match(r'^[A-Z_]+=', line))
    jobs = [line for line in lines if not re.match(r'^[A-Z_]+=', line)]
    assert len(jobs) == 1
    fields = jobs[0].split(None, 6)
    assert len(fields) == 7, 'a /etc/cron.d line is: 5 time fields, the user, the command'
    return env, fields[:5], fields[5], fields[6]


@pytest.fixture
def installed(tmp_path, simulator_factory):
    """The install of docs/awx.md under tmp_path, and a simulator with one ghost node."""
    sim = simulator_factory(CLUSTER, speed=0)
    root = tmp_path / 'root'
    moves = {'/usr/local/bin': str(root / 'usr/local/bin'), '/etc/octopus-ha': str(root / 'etc/octopus-ha'),
             '/var/log/octopus-ha': str(root / 'var/log/octopus-ha'), '/run/lock': str(root / 'run/lock')}
    for path in moves.values():
        os.makedirs(path)
    shutil.copy(WRAPPER, os.path.join(moves['/usr/local/bin'], 'octopus-ha-run'))
    os.chmod(os.path.join(moves['/usr/local/bin'], 'octopus-ha-run'), 0o755)
    conf = moves['/etc/octopus-ha']
    venv = os.path.dirname(os.path.dirname(sys.executable))
    with open(os.path.join(conf, 'octopus-ha.env'), 'w') as handle:
        handle.write('OCTOPUS_URL=%s\nOCTOPUS_HA_VENV=%s\nOCTOPUS_HA_LOG_DIR=%s\nOCTOPUS_HA_LOCK_DIR=%s\n'
                     'ANSIBLE_COLLECTIONS_PATH=%s\nANSIBLE_PYTHON_INTERPRETER=%s\nANSIBLE_NOCOLOR=1\n'
                     % (sim.url, venv, moves['/var/log/octopus-ha'], moves['/run/lock'],
                        os.environ['ANSIBLE_COLLECTIONS_PATH'], sys.executable))
    key_file = os.path.join(conf, 'api-key')
    with open(key_file, 'w') as handle:
        handle.write(ADMIN_KEY + '\n')
    os.chmod(key_file, 0o600)
    with open(os.path.join(conf, 'inventory.yml'), 'w') as handle:
        handle.write('all:\n  hosts:\n    localhost:\n      ansible_connection: local\n      ansible_python_interpreter: %s\n'
                     % sys.executable)
    with open(os.path.join(conf, 'reconcile.yml'), 'w') as handle:
        handle.write('octopus_reconcile_offline_after: 3600\n')
    log = os.path.join(moves['/var/log/octopus-ha'], 'octopus.ha.reconcile.log')
    return dict(sim=sim, moves=moves, conf=conf, key_file=key_file, log=log)


def run_like_cron(installed):
    """The crontab command under /bin/sh with cron's environment (its VAR= lines, HOME, LOGNAME, PATH, SHELL)."""
    env_lines, schedule, user, command = crontab_from_docs()
    assert schedule == ['*/15', '*', '*', '*', '*'] and user == 'octopus'
    for old, new in installed['moves'].items():
        command = command.replace(old, new)
        env_lines = dict((k, v.replace(old, new)) for k, v in env_lines.items())
    env = dict(env_lines, HOME=str(installed['conf']), LOGNAME='octopus', PATH='/usr/bin:/bin', SHELL='/bin/sh')
    return subprocess.run(['/bin/sh', '-c', command], env=env, capture_output=True, text=True, timeout=300, check=False)


def node_names(sim):
    return sorted(n['Name'] for n in sim.control.state()['nodes'])


def test_the_documented_cron_entry_runs_the_reconciler(installed):
    proc = run_like_cron(installed)
    assert proc.returncode == 0, proc.stdout + proc.stderr + open(installed['log']).read()[-4000:]
    assert proc.stdout == '' and proc.stderr == ''  # cron mails any output: a good run has none
    assert node_names(installed['sim']) == ['OCTO-NODE-01', 'OCTO-NODE-02']
    with open(installed['log']) as handle:
        log = handle.read()
    assert 'octopus.ha.reconcile: started' in log and 'finished with rc 0' in log and 'PLAY RECAP' in log
    assert ADMIN_KEY not in log


def test_a_run_that_finds_the_lock_taken_is_skipped(installed):
    lock = os.path.join(installed['moves']['/run/lock'], 'octopus-ha-octopus.ha.reconcile.lock')
    with open(lock, 'w') as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        proc = run_like_cron(installed)
    assert proc.returncode == 0 and proc.stderr == ''
    assert 'the previous run still holds' in open(installed['log']).read()
    assert installed['sim'].control.requests() == []
    assert 'i-0123456789abcdef0' in node_names(installed['sim'])


def test_a_key_file_others_can_read_is_refused(installed):
    os.chmod(installed['key_file'], 0o644)
    proc = run_like_cron(installed)
    assert proc.returncode == 1 and 'can be read by other users. Run: chmod 0600' in proc.stderr
    assert installed['sim'].control.requests() == []


def test_a_failed_run_says_so_on_stderr_for_cron_mail(installed):
    with open(installed['key_file'], 'w') as handle:
        handle.write('API-WRONGKEY0000000000000000000\n')
    proc = run_like_cron(installed)
    assert proc.returncode != 0 and 'octopus.ha.reconcile failed (rc %d)' % proc.returncode in proc.stderr
    assert 'API-WRONGKEY0000000000000000000' not in open(installed['log']).read()
