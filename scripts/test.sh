#!/usr/bin/env bash
# The whole test suite, as CI runs it (.ci/run calls this). It installs what it needs itself
# (scripts/bootstrap.sh), then runs every check below and prints one summary line.
#
#   scripts/test.sh              # everything
#   scripts/test.sh pytest lint  # only the named stages
#
# Stages: pytest, core216, sanity, units, lint, docs, molecule, build.
set -uo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
bash "$here/bootstrap.sh" || { echo "test: bootstrap failed" >&2; exit 1; }
# shellcheck source=scripts/env.sh
. "$here/env.sh"
cd "$OCTOHA_ROOT" || exit 1

STAGES=("$@")
[ ${#STAGES[@]} -gt 0 ] || STAGES=(pytest core216 sanity units lint docs molecule build)
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
  # --dist loadscope: one worker runs a whole module, so a module-scoped fixture (a playbook run
  # over a matrix of hosts, a compiled probe) is set up once. xdist_group does not work with
  # pytest 9 (pytest-xdist 3.8 renames item._nodeid, which pytest 9 no longer reads).
  # --no-loadscope-reorder keeps the collection order, heavy end-to-end modules first
  # (tests/functional/conftest.py), so that they do not end the run alone.
  # tests/build runs in the build stage.
  python -m pytest -p no:cacheprovider -n "${OCTOHA_PYTEST_WORKERS:-3}" --dist loadscope --no-loadscope-reorder \
    -q --durations=15 --ignore=tests/build tests/
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

# One functional scale-in run for the oldest supported ansible-core (see stage_core216).
CORE216_FUNCTIONAL="tests/functional/scale_in/test_scale_in_playbook.py::test_without_a_service_stop_a_live_node_is_drained_kept_with_cap_zero_and_a_rerun_changes_nothing"

stage_core216() {
  # ansible-core 2.16, the oldest that meta/runtime.yml allows: the unit tests and one functional
  # scale-in run against the simulator, in .venv-2.16 (scripts/venv-core216.sh, cached by hash).
  bash "$here/venv-core216.sh" || return 1
  local venv="$OCTOHA_ROOT/.venv-2.16"
  PATH="$venv/bin:$PATH" ANSIBLE_PYTHON_INTERPRETER="$venv/bin/python" "$venv/bin/python" -c \
    'import ansible.release as r; assert r.__version__.startswith("2.16."), r.__version__; print("ansible-core", r.__version__)' &&
  PATH="$venv/bin:$PATH" ANSIBLE_PYTHON_INTERPRETER="$venv/bin/python" "$venv/bin/python" -m pytest -p no:cacheprovider -q \
    tests/unit "$CORE216_FUNCTIONAL"
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
  # Builds the tarball and checks it as a user gets it: contents (galaxy.yml build_ignore), links of the
  # shipped docs, the installed copy without dependencies, ansible-builder introspect, the local EE/DE.
  python -m pytest -p no:cacheprovider -q tests/build
}

# Stages that may run in the background, beside the stages that follow them:
# - molecule mostly waits on Ansible start-up, so it runs beside pytest;
# - core216 (one pytest worker) runs beside sanity, units, lint, docs and build, which use about
#   one core each.
# Their output is printed when they end.
wants() { [[ " ${STAGES[*]} " == *" $1 "* ]]; }
bg_names=()
bg_pids=()
bg_starts=()
start_bg() {
  local name="$1"
  (stage_"$name" > "$WORK/$name.log" 2>&1; echo $? > "$WORK/$name.rc") &
  bg_names+=("$name"); bg_pids+=($!); bg_starts+=("$SECONDS")
}
finish_bg() {
  local i
  for i in "${!bg_names[@]}"; do
    wait "${bg_pids[$i]}"
    printf '\n=== %s (ran in the background) ===\n' "${bg_names[$i]}"
    cat "$WORK/${bg_names[$i]}.log"
    if [ "$(cat "$WORK/${bg_names[$i]}.rc" 2>/dev/null)" = 0 ]; then
      passed=$((passed + 1)); printf '=== %s: ok (%ss)\n' "${bg_names[$i]}" $((SECONDS - bg_starts[i]))
    else
      failed=$((failed + 1)); failures+=("${bg_names[$i]}")
      printf '=== %s: FAILED (%ss)\n' "${bg_names[$i]}" $((SECONDS - bg_starts[i]))
    fi
  done
}
if wants molecule && wants pytest; then
  start_bg molecule
fi

last="${STAGES[${#STAGES[@]}-1]}"
for stage in "${STAGES[@]}"; do
  case "$stage" in
    molecule) wants pytest || run_stage molecule stage_molecule ;;
    core216) if [ "$last" != core216 ]; then start_bg core216; else run_stage core216 stage_core216; fi ;;
    pytest|sanity|units|lint|docs|build) run_stage "$stage" "stage_$stage" ;;
    *) echo "test: unknown stage '$stage'" >&2; failed=$((failed + 1)); failures+=("$stage") ;;
  esac
done
finish_bg

printf '\n'
[ ${#failures[@]} -eq 0 ] || echo "failed stages: ${failures[*]}"
echo "checks: $passed passed, $failed failed"
[ "$failed" -eq 0 ]
