# -*- coding: utf-8 -*-
# Copyright: Contributors to the octopus.ha collection
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""TEST-ONLY: the scale-out scenario shared by the functional tests and the Molecule scenario.

One existing node (``OCTO-NODE-01``, task cap 1, busy with a long deployment) and a queue of
tasks waiting, so that any node with free capacity would pick work up at once; the new node
``octo-new-1`` on the simulated Windows host; the fake fleet (``fake_fleet.Fleet``) as its
Tentacles, SQL Server and feed; UNC shared folders that exist on the fake host.

CLI for Molecule (``extensions/molecule/scale_out/create.yml``)::

    python tests/functional/scale_out/scale_out_scenario.py prepare --fleet-state F --out-dir D --sim-url URL

writes ``D/octosim.json`` (simulator config), ``D/scenario.json`` (inventory variables of the node)
and seeds the fake host state and downloads under ``D``.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import argparse
import json
import os
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.abspath(os.path.join(HERE, '..', '..', '..'))
FAKE_WINDOWS = os.path.join(REPO, 'tests', 'fake_windows')

CLUSTER_VERSION = '2025.1.10012'
NODE = 'octo-new-1'
EXISTING_NODE = 'OCTO-NODE-01'
# Made-up secrets. The -vvv test greps the whole output for each of them.
API_KEY = 'API-SCALEOUTTESTKEY0000000000001'
MASTER_KEY = 'bWFzdGVyLWtleS1zY2FsZS1vdXQtdGVzdA=='
SQL_PASSWORD = 'Sql-Pa55word-7d1e9c'
SERVICE_PASSWORD = 'Svc-Pa55word-a44b02'
SECRETS = (API_KEY, MASTER_KEY, SQL_PASSWORD, SERVICE_PASSWORD)
FOLDERS = {
    'LogsDirectory': '\\\\fs01\\octopus\\TaskLogs',
    'ArtifactsDirectory': '\\\\fs01\\octopus\\Artifacts',
    'PackagesDirectory': '\\\\fs01\\octopus\\Packages',
    'EventExportsDirectory': '\\\\fs01\\octopus\\EventExports',
    'ImportsDirectory': '\\\\fs01\\octopus\\Imports',
    'TelemetryDirectory': '\\\\fs01\\octopus\\Telemetry',
}


def _fake_host():
    if FAKE_WINDOWS not in sys.path:
        sys.path.insert(0, FAKE_WINDOWS)
    from ansible_collections.ansible.windows.plugins.module_utils import _fake_host as fh  # pylint: disable=import-outside-toplevel
    return fh


def connection_string(sql_port, host='127.0.0.1'):
    return ('Server=tcp:%s,%d;Database=Octopus;User ID=octopus_sql;Password=%s;Encrypt=True;TrustServerCertificate=False'
            % (host, sql_port, SQL_PASSWORD))


def sim_config(space, version=CLUSTER_VERSION, queued=4):
    """Simulator config: one busy existing node, queued tasks, the given space, UNC folders.

    ``space`` comes from ``fake_fleet.space_config(fleet, ...)`` (or ``describe()['space']`` of a
    fleet process).
    """
    tasks = [dict(Name='Deploy', Description='Long deployment on the existing node', SpaceId='Spaces-1',
                  Duration=86400, ServerNode=EXISTING_NODE, State='Executing')]
    tasks += [dict(Name='Deploy', Description='Queued deployment %d' % i, SpaceId='Spaces-1', Duration=30)
              for i in range(queued)]
    return {
        'server': {'version': version},
        'api_keys': [{'name': 'scale-out', 'key': API_KEY, 'permissions': ['*']}],
        'nodes': [{'Name': EXISTING_NODE, 'MaxConcurrentTasks': 1}],
        'server_folders': dict(FOLDERS),
        'spaces': [space],
        'tasks': tasks,
        'license': {'node_limit': None},
    }


def seed_fake_host(state_dir, downloads_dir, sql_port, version=CLUSTER_VERSION, host=NODE, folders=None):
    """Fresh Windows VM that can reach the shares, a downloadable MSI, and the cluster's database."""
    fh = _fake_host()
    os.makedirs(state_dir, exist_ok=True)
    os.makedirs(downloads_dir, exist_ok=True)

    def _folders(data):
        for path in (FOLDERS if folders is None else folders).values():
            fh.ensure_dir(data, path)

    fh.update_state(_folders, host=host, root=state_dir)
    fh.add_cluster_database(connection_string(sql_port), MASTER_KEY, root=state_dir)
    fh.write_fake_msi(os.path.join(downloads_dir, 'Octopus.%s-x64.msi' % version), version)


def host_vars(sim_url, sql_port, node=NODE, comms_port=None, **overrides):
    """Inventory variables of the new node (fake host, local connection).

    The node's web endpoint is the simulator's ``/node/<name>`` URL, from the node and from the
    controller alike; its comms port is the fleet's listener (``comms_port``) on 127.0.0.1.
    """
    node_url = '%s/node/%s' % (sim_url.rstrip('/'), node)
    result = {
        'ansible_connection': 'local',
        # Reached from the controller on loopback only (an EDA run sets ansible_host to a moto address).
        'node_verify_node_address': '127.0.0.1',
        'octopus_url': sim_url,
        'octopus_api_key': API_KEY,
        'octopus_node_name': node,
        'server_configure_connection_string': connection_string(sql_port),
        'server_configure_master_key': MASTER_KEY,
        'server_configure_local_url': node_url,
        'server_configure_ready_delay': 1,
        'server_configure_ready_timeout': 60,
        'node_verify_external_url': node_url,
        'node_verify_comms_port': comms_port,
        'node_verify_external_timeout': 3,
        'node_verify_sql_timeout': 2,
        'node_verify_tentacle_timeout': 5,
        'node_verify_endpoint_timeout': 5,
        'node_promote_ping_delay': 1,
        'node_promote_ping_retries': 30,
    }
    result.update(overrides)
    return result


def environment(state_dir, downloads_dir, sim_url, base=None):
    """Environment of an ansible-playbook run against the fake host."""
    env = dict(os.environ if base is None else base)
    env['ANSIBLE_COLLECTIONS_PATH'] = FAKE_WINDOWS + os.pathsep + env.get('ANSIBLE_COLLECTIONS_PATH', '')
    env['OCTOHA_FAKE_WINDOWS_DIR'] = state_dir
    env['OCTOHA_FAKE_DOWNLOADS_DIR'] = downloads_dir
    env['OCTOHA_SIM_URL'] = sim_url
    env['OCTOHA_SIM_API_KEY'] = API_KEY
    env.pop('OCTOHA_FAKE_HOST', None)
    env.pop('OCTOPUS_URL', None)
    env.pop('OCTOPUS_API_KEY', None)
    env['ANSIBLE_NOCOLOR'] = '1'
    env['ANSIBLE_FORCE_COLOR'] = '0'
    return env


def main(argv=None):
    parser = argparse.ArgumentParser(description='Prepare the scale-out scenario for Molecule.')
    parser.add_argument('command', choices=['prepare'])
    parser.add_argument('--fleet-state', required=True)
    parser.add_argument('--out-dir', required=True)
    parser.add_argument('--sim-url', required=True)
    args = parser.parse_args(argv)
    with open(args.fleet_state) as handle:
        fleet = json.load(handle)
    out = os.path.abspath(args.out_dir)
    with open(os.path.join(out, 'octosim.json'), 'w') as handle:
        json.dump(sim_config(fleet['space']), handle, indent=1)
    seed_fake_host(os.path.join(out, 'fake_windows'), os.path.join(out, 'downloads'), fleet['sql_port'])
    with open(os.path.join(out, 'scenario.json'), 'w') as handle:
        json.dump(host_vars(args.sim_url, fleet['sql_port'], comms_port=fleet['comms_port']), handle, indent=1)
    return 0


if __name__ == '__main__':
    sys.exit(main())
