#!/bin/sh
# octopus-ha-run: run one octopus.ha playbook from cron (or a systemd timer), see docs/awx.md "Plain cron".
#
#   octopus-ha-run <playbook> [ansible-playbook arguments...]
#
# Copy it to /usr/local/bin/octopus-ha-run (mode 0755). It
#   - takes a lock per playbook, so that two runs of the same playbook never overlap (a run that finds the
#     lock taken logs one line and exits 0);
#   - reads the API key from a file readable only by its owner and passes it in the environment
#     (OCTOPUS_API_KEY), never on a command line that `ps` shows;
#   - appends the output to a log file per playbook, and on failure prints one line to stderr, which
#     cron mails.
#
# Settings, from the environment or from $OCTOPUS_HA_CONF/octopus-ha.env (sh syntax, KEY=value lines):
#   OCTOPUS_HA_CONF      configuration directory (default /etc/octopus-ha): octopus-ha.env, inventory.yml,
#                        api-key
#   OCTOPUS_HA_VENV      venv with ansible-core, the collections and boto3/pywinrm (default /opt/octopus-ha/venv)
#   OCTOPUS_HA_LOG_DIR   log directory (default /var/log/octopus-ha)
#   OCTOPUS_HA_LOCK_DIR  lock directory (default /run/lock)
#   OCTOPUS_API_KEY_FILE the API key file (default $OCTOPUS_HA_CONF/api-key)
#   OCTOPUS_URL, OCTOPUS_CA_PATH, ANSIBLE_COLLECTIONS_PATH, ... are passed on to ansible-playbook.
set -eu

if [ "$#" -lt 1 ]; then
  echo "usage: octopus-ha-run <playbook> [ansible-playbook arguments...]" >&2
  exit 2
fi
OCTOPUS_HA_CONF="${OCTOPUS_HA_CONF:-/etc/octopus-ha}"
if [ -f "$OCTOPUS_HA_CONF/octopus-ha.env" ]; then
  set -a
  # shellcheck disable=SC1091
  . "$OCTOPUS_HA_CONF/octopus-ha.env"
  set +a
fi
venv="${OCTOPUS_HA_VENV:-/opt/octopus-ha/venv}"
log_dir="${OCTOPUS_HA_LOG_DIR:-/var/log/octopus-ha}"
lock_dir="${OCTOPUS_HA_LOCK_DIR:-/run/lock}"
key_file="${OCTOPUS_API_KEY_FILE:-$OCTOPUS_HA_CONF/api-key}"
playbook="$1"
shift
name="$(printf '%s' "$playbook" | tr -c 'A-Za-z0-9_.-' '_')"
log="$log_dir/$name.log"
mkdir -p "$log_dir"
stamp() { date -u '+%Y-%m-%dT%H:%M:%SZ'; }

if [ ! -f "$key_file" ]; then
  echo "$(stamp) $playbook: the API key file $key_file does not exist. Write the key there (mode 0600), or set OCTOPUS_API_KEY_FILE." | tee -a "$log" >&2
  exit 1
fi
if [ -n "$(find "$key_file" -perm /077 2>/dev/null)" ]; then
  echo "$(stamp) $playbook: $key_file can be read by other users. Run: chmod 0600 $key_file" | tee -a "$log" >&2
  exit 1
fi

exec 9>"$lock_dir/octopus-ha-$name.lock"
if ! flock -n 9; then
  echo "$(stamp) $playbook: the previous run still holds $lock_dir/octopus-ha-$name.lock; skipped." >> "$log"
  exit 0
fi

OCTOPUS_API_KEY="$(cat "$key_file")"
export OCTOPUS_API_KEY
echo "$(stamp) $playbook: started" >> "$log"
rc=0
"$venv/bin/ansible-playbook" -i "$OCTOPUS_HA_CONF/inventory.yml" "$playbook" "$@" >> "$log" 2>&1 || rc=$?
echo "$(stamp) $playbook: finished with rc $rc" >> "$log"
if [ "$rc" -ne 0 ]; then
  echo "$(stamp) $playbook failed (rc $rc); see $log" >&2
fi
exit "$rc"
