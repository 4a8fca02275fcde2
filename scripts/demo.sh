#!/usr/bin/env bash
# The README demo: a simulated Octopus HA cluster scaled out (a new node on the simulated
# Windows host) and scaled in (a node that is running deployments). Installs what it needs.
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
bash "$here/bootstrap.sh"
# shellcheck source=scripts/env.sh
. "$here/env.sh"
cd "$OCTOHA_ROOT"
exec python demo/run_demo.py
