#!/usr/bin/env bash
# Prepare .venv with everything the project needs, CPU-only torch included.
# Idempotent: re-running after a change of pyproject.toml reinstalls; otherwise it returns at once.
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-python3.11}
command -v "$PY" >/dev/null 2>&1 || PY=python3
VENV=.venv
STAMP=$VENV/.pantheonrl-installed
want=$(cat pyproject.toml constraints-cpu.txt scripts/setup-venv.sh | sha256sum | cut -d' ' -f1)
if [ -f "$STAMP" ] && [ "$(cat "$STAMP")" = "$want" ]; then
    exit 0
fi
[ -x "$VENV/bin/python" ] || "$PY" -m venv "$VENV"
"$VENV/bin/python" -m pip install --quiet --upgrade pip
# torch first, pinned to the CPU build; the constraint makes a missing CPU wheel an error instead of a
# multi-GB CUDA download. Elsewhere, install torch yourself first (README) and skip the constraint.
"$VENV/bin/python" -m pip install --quiet -c constraints-cpu.txt "torch==2.13.0"
"$VENV/bin/python" -m pip install --quiet -c constraints-cpu.txt -e ".[dev,ray]"
# pettingzoo's extras want pygame-ce; keep it the provider of `import pygame` (docs/stack.md, section 4).
"$VENV/bin/python" -m pip install --quiet --force-reinstall --no-deps "pygame-ce==2.5.8"
echo "$want" > "$STAMP"
