# Copyright (c) octopus.ha contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""python -m octosim --config cfg.yml [--host 127.0.0.1] [--port 0] [--port-file F] [--tls-cert C --tls-key K] [--speed N]"""
from __future__ import absolute_import, division, print_function
__metaclass__ = type

import argparse
import os
import signal
import sys
import threading

from octosim import config as sim_config
from octosim.server import Simulator, make_server


def parse_args(argv):
    parser = argparse.ArgumentParser(prog='octosim', description='Octopus Deploy HA cluster simulator')
    parser.add_argument('--config', help='YAML or JSON config file (default: built-in one-node cluster)')
    parser.add_argument('--host', default='127.0.0.1')
    parser.add_argument('--port', type=int, default=0, help='0 = any free port')
    parser.add_argument('--port-file', help='write the base URL to this file once listening')
    parser.add_argument('--tls-cert', help='PEM certificate (chain) for HTTPS')
    parser.add_argument('--tls-key', help='PEM private key for HTTPS')
    parser.add_argument('--speed', type=float, help='cluster seconds per real second (0 = only manual advances)')
    parser.add_argument('--exit-with-parent', action='store_true', help='exit when the parent process goes away')
    parser.add_argument('--parent-pid', type=int, help='with --exit-with-parent: the parent to watch (default: the parent at start-up)')
    args = parser.parse_args(argv)
    if bool(args.tls_cert) != bool(args.tls_key):
        parser.error('--tls-cert and --tls-key go together')
    if args.speed is not None and args.speed < 0:
        parser.error('--speed must be >= 0')
    return args


def main(argv=None):
    args = parse_args(sys.argv[1:] if argv is None else argv)
    try:
        cfg = sim_config.load(args.config)
    except (OSError, ValueError) as err:
        print('octosim: bad config: %s' % err, file=sys.stderr)
        return 2
    sim = Simulator(cfg, speed=args.speed)
    server = make_server(sim, args.host, args.port, args.tls_cert, args.tls_key)

    def shutdown(*dummy):
        sim.stop()
        threading.Thread(target=server.shutdown, daemon=True).start()

    sim.on_parent_exit = shutdown
    signal.signal(signal.SIGTERM, shutdown)
    signal.signal(signal.SIGINT, shutdown)
    sim.start_ticker(exit_with_parent=args.exit_with_parent, parent_pid=args.parent_pid)
    url = server.url
    print('octosim listening on %s' % url, flush=True)
    if args.port_file:
        tmp = args.port_file + '.tmp'
        with open(tmp, 'w', encoding='utf-8') as handle:
            handle.write(url + '\n')
        os.replace(tmp, args.port_file)
    try:
        server.serve_forever(poll_interval=0.2)
    finally:
        sim.stop()
        server.server_close()
    return 0


if __name__ == '__main__':
    sys.exit(main())
