# Copyright: Contributors to the octopus.ha collection
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Finish a simulator task as soon as the drain PUT of a node is in the request log (Molecule scale_in helper).

The simulator's clock is frozen, so the deployment ends only when this says so: after the drain. The
verify step's "drained while it ran, record written after it ended" then holds on any machine speed.

    finish_after_drain.py <simulator url> <task id> <node id>
"""
import json
import sys
import time
import urllib.request


def call(url, method='GET', body=None):
    data = None if body is None else json.dumps(body).encode('utf-8')
    request = urllib.request.Request(url, data=data, method=method, headers={'Content-Type': 'application/json'})
    with urllib.request.urlopen(request, timeout=30) as response:
        return json.loads(response.read().decode('utf-8') or 'null')


def main(base, task_id, node_id):
    deadline = time.monotonic() + 900  # a bound against a hang, not a timing
    seen = 0
    while time.monotonic() < deadline:
        try:
            entries = call(base + '/_sim/requests?since=%d' % seen)
        except (OSError, ValueError) as err:  # a busy machine: a slow answer is not the end of the helper
            sys.stderr.write('finish_after_drain: reading the request log failed (%s); trying again\n' % err)
            time.sleep(0.5)
            continue
        for entry in entries:
            seen = max(seen, int(entry.get('seq') or 0))
            body = entry.get('body') or {}
            if entry.get('method') == 'PUT' and entry.get('path', '').endswith('/' + node_id) and entry.get('applied') \
                    and body.get('IsInMaintenanceMode'):
                # One second later on the frozen clock, so the times in the log order the drain before the end.
                finish(base, task_id)
                return 0
        time.sleep(0.1)
    return 1


def finish(base, task_id):
    """Advance the frozen clock by one second and finish the task, retrying on a busy machine."""
    for attempt in range(60):
        try:
            call(base + '/_sim/clock', 'POST', {'advance': 1})
            break
        except (OSError, ValueError):
            time.sleep(0.5)
    for attempt in range(60):
        try:
            call(base + '/_sim/tasks/%s/finish' % task_id, 'POST', {'State': 'Success'})
            return
        except (OSError, ValueError):
            time.sleep(0.5)

if __name__ == '__main__':
    sys.exit(main(sys.argv[1].rstrip('/'), sys.argv[2], sys.argv[3]))
