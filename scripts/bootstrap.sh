#!/usr/bin/env bash
# Install everything the demo and the tests need, without Galaxy, Docker or Windows:
#   - a Python 3.11 venv in .venv with the pinned packages of requirements/constraints.txt;
#   - the dependency collections, extracted from the pinned `ansible` wheel into
#     .cache/collections, plus a link ansible_collections/octopus/ha -> this checkout;
#   - the pip bootstrap that `ansible-test sanity` needs offline (~/.ansible/test/cache).
# Safe to re-run: each step is skipped when its inputs have not changed.
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
# shellcheck source=scripts/env.sh
. "$here/env.sh"
cd "$OCTOHA_ROOT"

ANSIBLE_WHEEL_VERSION=12.3.0
DEP_COLLECTIONS="ansible/windows community/windows chocolatey/chocolatey amazon/aws community/aws awx/awx"
PYTHON="${OCTOHA_PYTHON:-}"
if [ -z "$PYTHON" ]; then
  for candidate in python3.11 python3; do
    if command -v "$candidate" >/dev/null 2>&1 && "$candidate" -c 'import sys; sys.exit(sys.version_info[:2] != (3, 11))' 2>/dev/null; then
      PYTHON="$candidate"; break
    fi
  done
fi
[ -n "$PYTHON" ] || { echo "bootstrap: Python 3.11 is required (set OCTOHA_PYTHON to its path)." >&2; exit 1; }

log() { printf 'bootstrap: %s\n' "$*"; }
mkdir -p "$OCTOHA_CACHE"

# 1. venv with pinned packages, byte-compiled once. This machine sets PYTHONDONTWRITEBYTECODE=1, so a
#    package that is not compiled at install is compiled again by every Python process that imports it:
#    each ansible-playbook start, module run, moto server and simulator. Compiling once at install halved
#    the pytest stage (1381 s to 548 s, docs/benchmarks.md "The CI run"). BYTECODE in the stamp re-creates
#    venvs made before this step.
BYTECODE=compiled-1
stamp="$OCTOHA_VENV/.octoha-requirements"
want="$( (cat requirements/constraints.txt requirements/test.in; echo "$BYTECODE") | sha256sum | cut -d' ' -f1)"
if [ ! -x "$OCTOHA_VENV/bin/python" ] || [ "$(cat "$stamp" 2>/dev/null)" != "$want" ]; then
  log "creating $OCTOHA_VENV with the pinned packages (about a minute)"
  "$PYTHON" -m venv "$OCTOHA_VENV"
  "$OCTOHA_VENV/bin/python" -m pip install -q --disable-pip-version-check pip==24.2 2>&1 | grep -v "^WARNING: Location" || true
  "$OCTOHA_VENV/bin/python" -m pip install -q --disable-pip-version-check --no-compile \
      -r requirements/test.in -c requirements/constraints.txt 2>&1 | grep -v "^WARNING: Location" || true
  "$OCTOHA_VENV/bin/python" -m pip check
  log "byte-compiling the venv's packages"
  "$OCTOHA_VENV/bin/python" -m compileall -q -j 0 \
      "$("$OCTOHA_VENV/bin/python" -c 'import sysconfig; print(sysconfig.get_paths()["purelib"])')" >/dev/null
  echo "$want" > "$stamp"
else
  log "venv is up to date"
fi

# 2. dependency collections from the ansible wheel (no Galaxy)
cstamp="$OCTOHA_COLLECTIONS/.octoha-collections"
cwant="ansible-$ANSIBLE_WHEEL_VERSION:$DEP_COLLECTIONS"
if [ "$(cat "$cstamp" 2>/dev/null)" != "$cwant" ]; then
  log "extracting $DEP_COLLECTIONS from ansible==$ANSIBLE_WHEEL_VERSION"
  wheel="$OCTOHA_CACHE/wheels/ansible-$ANSIBLE_WHEEL_VERSION-py3-none-any.whl"
  if [ ! -f "$wheel" ]; then
    "$OCTOHA_VENV/bin/python" -m pip download -q --disable-pip-version-check --no-deps \
        "ansible==$ANSIBLE_WHEEL_VERSION" -d "$OCTOHA_CACHE/wheels" 2>&1 | grep -v "^WARNING: Location" || true
  fi
  rm -rf "$OCTOHA_COLLECTIONS"
  mkdir -p "$OCTOHA_COLLECTIONS"
  patterns=()
  for c in $DEP_COLLECTIONS; do patterns+=("ansible_collections/$c/*"); done
  "$OCTOHA_VENV/bin/python" - "$wheel" "$OCTOHA_COLLECTIONS" "${patterns[@]}" <<'PY'
import fnmatch, sys, zipfile
wheel, dest, pats = sys.argv[1], sys.argv[2], sys.argv[3:]
with zipfile.ZipFile(wheel) as zf:
    names = [n for n in zf.namelist() if any(fnmatch.fnmatch(n, p) for p in pats)]
    missing = [p for p in pats if not any(fnmatch.fnmatch(n, p) for n in names)]
    if missing:
        sys.exit("bootstrap: the ansible wheel has no %s" % ", ".join(missing))
    zf.extractall(dest, names)
PY
  echo "$cwant" > "$cstamp"
fi
mkdir -p "$OCTOHA_COLLECTIONS/ansible_collections/octopus"
ln -sfn "$OCTOHA_ROOT" "$OCTOHA_COLLECTIONS/ansible_collections/octopus/ha"

# 3. offline pip bootstrap for ansible-test sanity (its get-pip download host is unreachable)
tcache="$HOME/.ansible/test/cache"
if [ ! -f "$tcache/get_pip_24_2.py" ] || [ ! -f "$tcache/pip-24.2-py3-none-any.whl" ]; then
  mkdir -p "$tcache"
  "$OCTOHA_VENV/bin/python" -m pip download -q --disable-pip-version-check --no-deps pip==24.2 -d "$tcache" 2>&1 | grep -v "^WARNING: Location" || true
  cp "$OCTOHA_ROOT/scripts/get_pip_shim.py" "$tcache/get_pip_24_2.py"
fi
# 4. Debian packages, installed once when missing (root with apt-get only):
#    the shellcheck program for the sanity test of the same name; mono-mcs and mono-runtime to compile the probes'
#    C# at C# 5 and run it (tests/probes fail, not skip, where these can be installed and are missing).
apt_missing=()
command -v shellcheck >/dev/null 2>&1 || apt_missing+=(shellcheck)
{ command -v mcs >/dev/null 2>&1 && command -v mono >/dev/null 2>&1; } || apt_missing+=(mono-mcs mono-runtime)
command -v openssl >/dev/null 2>&1 || apt_missing+=(openssl)
if [ ${#apt_missing[@]} -gt 0 ] && command -v apt-get >/dev/null 2>&1 && [ "$(id -u)" = 0 ]; then
  log "installing ${apt_missing[*]} (apt)"
  { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${apt_missing[@]}"; } \
      >/dev/null 2>&1 || log "could not install ${apt_missing[*]}; the tests that need them fail"
fi
log "ready: . scripts/env.sh puts the toolchain on PATH"
