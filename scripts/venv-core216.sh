#!/usr/bin/env bash
# Create (once) the ansible-core 2.16 venv used by `scripts/test.sh core216`: .venv-2.16 with the pins of
# requirements/core216.txt, layered over the main venv (.venv, made by scripts/bootstrap.sh) through a
# .pth file that comes after the venv's own site-packages, so ansible-core 2.16 shadows 2.19 while pytest
# and the other test tools are shared. Re-created only when requirements/core216.txt or the main venv's
# requirements change (the same stamp logic as bootstrap.sh). About 5 s when it has to be built.
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
# shellcheck source=scripts/env.sh
. "$here/env.sh"
cd "$OCTOHA_ROOT"
venv="${OCTOHA_VENV_216:-$OCTOHA_ROOT/.venv-2.16}"
stamp="$venv/.octoha-requirements"
want="$(cat requirements/core216.txt "$OCTOHA_VENV/.octoha-requirements" | sha256sum | cut -d' ' -f1)"
if [ -x "$venv/bin/python" ] && [ "$(cat "$stamp" 2>/dev/null)" = "$want" ]; then
  exit 0
fi
echo "venv-core216: creating $venv (ansible-core 2.16)"
rm -rf "$venv"
"$OCTOHA_VENV/bin/python" -m venv "$venv"
"$venv/bin/python" -m pip install -q --disable-pip-version-check --no-deps -r requirements/core216.txt 2>&1 \
    | grep -v "^WARNING: Location" || true
# Only now (pip must not see the main venv's ansible-core) link the main venv's packages in, after ours.
site="$("$venv/bin/python" -c 'import sysconfig; print(sysconfig.get_paths()["purelib"])')"
main_site="$("$OCTOHA_VENV/bin/python" -c 'import sysconfig; print(sysconfig.get_paths()["purelib"])')"
echo "$main_site" > "$site/zz_octoha_main_venv.pth"
# Byte-compiled once, as bootstrap.sh does for the main venv (PYTHONDONTWRITEBYTECODE=1 on this machine).
"$venv/bin/python" -m compileall -q -j 0 "$site" >/dev/null
"$venv/bin/python" - <<'PY'
import ansible.release, pytest  # noqa: F401  (pytest comes from the main venv)
assert ansible.release.__version__.startswith('2.16.'), ansible.release.__version__
PY
echo "$want" > "$stamp"
