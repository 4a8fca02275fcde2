#!/usr/bin/env bash
# The whole test suite, as CI runs it (.ci/run calls this). It installs what it needs itself
# (scripts/bootstrap.sh), then runs every check below and prints one summary line.
#
#   scripts/test.sh              # everything
#   scripts/test.sh pytest lint  # only the named stages
#
# Stages: pytest, sanity, units, lint, docs, molecule, build.
set -uo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
bash "$here/bootstrap.sh" || { echo "test: bootstrap failed" >&2; exit 1; }
# shellcheck source=scripts/env.sh
. "$here/env.sh"
cd "$OCTOHA_ROOT" || exit 1

STAGES=("$@")
[ ${#STAGES[@]} -gt 0 ] || STAGES=(pytest sanity units lint docs molecule build)
WORK="$(mktemp -d "${TMPDIR:-/tmp}/octoha-test.XXXXXX")"
trap 'rm -rf "$WORK"' EXIT
passed=0
failed=0
failures=()

run_stage() {
  local name="$1"; shift
  local start=$SECONDS
  printf '\n=== %s ===\n' "$name"
  if "$@"; then
    passed=$((passed + 1)); printf '=== %s: ok (%ss)\n' "$name" $((SECONDS - start))
  else
    failed=$((failed + 1)); failures+=("$name"); printf '=== %s: FAILED (%ss)\n' "$name" $((SECONDS - start))
  fi
}

# A copy of the tracked tree at .../ansible_collections/octopus/ha with the dependency
# collections as siblings: ansible-test needs that layout and ignores ANSIBLE_COLLECTIONS_PATH.
collection_tree() {
  local dest="$WORK/tree/ansible_collections"
  if [ ! -d "$dest/octopus/ha" ]; then
    mkdir -p "$dest/octopus/ha"
    git ls-files -co --exclude-standard -z | tar --null -cf - -T - | tar -xf - -C "$dest/octopus/ha"
    for ns_dir in "$OCTOHA_COLLECTIONS"/ansible_collections/*/; do
      ns="$(basename "$ns_dir")"
      [ "$ns" = octopus ] && continue
      cp -r "$ns_dir" "$dest/$ns"
    done
  fi
  echo "$dest/octopus/ha"
}

stage_pytest() {
  # Unit, simulator, functional and end-to-end suites. The functional tests spend much of their
  # time waiting on playbook polls, so three workers keep two cores busy.
  python -m pytest -p no:cacheprovider -n "${OCTOHA_PYTEST_WORKERS:-3}" --dist loadgroup -q --durations=15 tests/
}

stage_sanity() {
  local tree; tree="$(collection_tree)"
  (cd "$tree" && ansible-test sanity --local --python 3.11 --color no)
}

stage_units() {
  local tree; tree="$(collection_tree)"
  (cd "$tree" && ansible-test units --local --python 3.11 --color no)
}

stage_lint() {
  ansible-lint --profile production --offline -q
}

stage_docs() {
  # On the tree copy: inside a git checkout antsibull-docs reads only tracked files of the
  # dependencies, and .cache/collections is not tracked.
  local tree; tree="$(collection_tree)"
  (cd "$tree" && ANSIBLE_COLLECTIONS_PATH="$WORK/tree" antsibull-docs lint-collection-docs --plugin-docs . &&
    antsibull-changelog lint)
}

stage_molecule() {
  local scenario rc=0
  for scenario in extensions/molecule/*/; do
    scenario="$(basename "$scenario")"
    [ -f "extensions/molecule/$scenario/molecule.yml" ] || continue
    echo "--- molecule test -s $scenario"
    molecule test -s "$scenario" || rc=1
  done
  return $rc
}

stage_build() {
  local out="$WORK/build"
  mkdir -p "$out"
  ansible-galaxy collection build --output-path "$out" . >/dev/null || return 1
  local tarball; tarball="$(ls "$out"/octopus-ha-*.tar.gz)"
  # The tarball carries the collection, not the test harness, the simulator or caches.
  if tar -tzf "$tarball" | grep -E '^(tests|tools|scripts|requirements|\.venv|\.cache|\.ci)/'; then
    echo "build: the tarball contains files that build_ignore should leave out" >&2
    return 1
  fi
  echo "built $(basename "$tarball") with $(tar -tzf "$tarball" | wc -l) entries"
}

# Molecule mostly waits on Ansible start-up, so when pytest runs too, Molecule runs beside it
# and its output is printed when it ends.
wants() { [[ " ${STAGES[*]} " == *" $1 "* ]]; }
bg_pid=""
if wants molecule && wants pytest; then
  bg_start=$SECONDS
  (stage_molecule > "$WORK/molecule.log" 2>&1; echo $? > "$WORK/molecule.rc") &
  bg_pid=$!
fi

for stage in "${STAGES[@]}"; do
  case "$stage" in
    molecule) [ -n "$bg_pid" ] || run_stage molecule stage_molecule ;;
    pytest|sanity|units|lint|docs|build) run_stage "$stage" "stage_$stage" ;;
    *) echo "test: unknown stage '$stage'" >&2; failed=$((failed + 1)); failures+=("$stage") ;;
  esac
done

if [ -n "$bg_pid" ]; then
  wait "$bg_pid"
  printf '\n=== molecule (ran beside pytest) ===\n'
  cat "$WORK/molecule.log"
  if [ "$(cat "$WORK/molecule.rc" 2>/dev/null)" = 0 ]; then
    passed=$((passed + 1)); printf '=== molecule: ok (%ss)\n' $((SECONDS - bg_start))
  else
    failed=$((failed + 1)); failures+=(molecule); printf '=== molecule: FAILED (%ss)\n' $((SECONDS - bg_start))
  fi
fi

printf '\n'
[ ${#failures[@]} -eq 0 ] || echo "failed stages: ${failures[*]}"
echo "checks: $passed passed, $failed failed"
[ "$failed" -eq 0 ]
