#!/usr/bin/env bash
# Re-resolve requirements/test.in into requirements/constraints.txt in a scratch venv.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
tmp="$(mktemp -d)"
trap 'rm -rf "$tmp"' EXIT
python3.11 -m venv "$tmp/venv"
"$tmp/venv/bin/pip" install -q pip==24.2
"$tmp/venv/bin/pip" install -q -r "$root/requirements/test.in"
"$tmp/venv/bin/pip" check
{ echo "# Resolved with scripts/lock-requirements.sh from requirements/test.in on Python 3.11 (pip check clean)."
  "$tmp/venv/bin/pip" freeze | grep -v '^pip=='; } > "$root/requirements/constraints.txt"
