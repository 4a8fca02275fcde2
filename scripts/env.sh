# shellcheck shell=bash
# Source this file to use the project's pinned toolchain in the current shell:
#   . scripts/env.sh
# It only sets variables; scripts/bootstrap.sh installs what they point at.
OCTOHA_ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
export OCTOHA_ROOT
export OCTOHA_VENV="${OCTOHA_VENV:-$OCTOHA_ROOT/.venv}"
export OCTOHA_CACHE="${OCTOHA_CACHE:-$OCTOHA_ROOT/.cache}"
# A collections tree holding the dependency collections (taken from the pinned `ansible`
# wheel, no Galaxy) and a link named ansible_collections/octopus/ha to this checkout.
export OCTOHA_COLLECTIONS="$OCTOHA_CACHE/collections"
export ANSIBLE_COLLECTIONS_PATH="$OCTOHA_COLLECTIONS"
export ANSIBLE_COLLECTIONS_SCAN_SYS_PATH=false
export ANSIBLE_DEPRECATION_WARNINGS=false
export ANSIBLE_NOCOLOR="${ANSIBLE_NOCOLOR:-1}"
export ANSIBLE_FORCE_COLOR="${ANSIBLE_FORCE_COLOR:-0}"
export ANSIBLE_PYTHON_INTERPRETER="$OCTOHA_VENV/bin/python"
# The Octopus cluster simulator is a plain Python package under tools/.
export PYTHONPATH="$OCTOHA_ROOT/tools:$OCTOHA_COLLECTIONS${PYTHONPATH:+:$PYTHONPATH}"
case ":$PATH:" in
  *":$OCTOHA_VENV/bin:"*) ;;
  *) export PATH="$OCTOHA_VENV/bin:$PATH" ;;
esac
