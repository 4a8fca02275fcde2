# -*- coding: utf-8 -*-

# Copyright: Contributors to the octopus.ha collection
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

"""Runs the real ansible-rulebook against the in-process moto server."""

from __future__ import absolute_import, division, print_function
__metaclass__ = type

import json
import os
import subprocess
import sys

REPO = os.path.abspath(os.path.join(os.path.dirname(__file__), '..', '..', '..'))
RULEBOOK = os.path.join(REPO, 'extensions', 'eda', 'rulebooks', 'asg_lifecycle.yml')


def write_inventory(path, host_vars=None, groups=None):
    """localhost (local connection, this venv's python) with host_vars, plus empty groups {name: group vars}."""
    localhost = {'ansible_connection': 'local', 'ansible_python_interpreter': sys.executable}
    localhost.update(host_vars or {})
    inventory = {'all': {'hosts': {'localhost': localhost}, 'children': dict((name, {'vars': gvars}) for name, gvars in (groups or {}).items())}}
    with open(path, 'w') as handle:
        json.dump(inventory, handle)
    return path


def stub_rulebook(tmp_path, scale_in, scale_out=None):
    """The shipped rulebook with the handlers replaced by playbook files (plumbing tests only)."""
    with open(RULEBOOK) as handle:
        text = handle.read()
    text = text.replace('name: octopus.ha.eda_scale_in', 'name: %s' % scale_in)
    text = text.replace('name: octopus.ha.eda_scale_out', 'name: %s' % (scale_out or scale_in))
    path = tmp_path / 'stub_rulebook.yml'
    path.write_text(text)
    return str(path)


def run_rulebook(tmp_path, moto, rulebook='octopus.ha.asg_lifecycle', rulebook_vars=None, host_vars=None, env=None,
                 shutdown_delay=120, timeout=600, groups=None):
    """ansible-rulebook -i inv -r rulebook --vars vars. The source stops on max_events / idle_timeout from rulebook_vars."""
    inventory = write_inventory(str(tmp_path / 'rulebook-inventory.json'), host_vars, groups)
    vars_file = tmp_path / 'rulebook-vars.json'
    merged_vars = {'octopus_aws_region': 'us-east-1', 'octopus_aws_endpoint_url': moto.url, 'octopus_lifecycle_wait_seconds': 1,
                   'octopus_lifecycle_idle_timeout': 4}
    merged_vars.update(rulebook_vars or {})
    vars_file.write_text(json.dumps(merged_vars))
    tmpdir = tmp_path / 'tmp'
    tmpdir.mkdir(exist_ok=True)
    full_env = dict(os.environ)
    full_env.update(moto.env)
    full_env.update({'ANSIBLE_NOCOLOR': '1', 'ANSIBLE_PYTHON_INTERPRETER': sys.executable, 'ANSIBLE_DEPRECATION_WARNINGS': 'false',
                     'TMPDIR': str(tmpdir)})
    full_env.update(env or {})
    cmd = [os.path.join(os.path.dirname(sys.executable), 'ansible-rulebook'), '-i', inventory, '-r', rulebook,
           '--vars', str(vars_file), '--shutdown-delay', str(shutdown_delay), '-v']
    proc = subprocess.run(cmd, cwd=str(tmp_path), env=full_env, capture_output=True, text=True, timeout=timeout, check=False)
    with open(str(tmp_path / 'rulebook-output.txt'), 'w') as handle:
        handle.write(proc.stdout + proc.stderr)
    return proc
