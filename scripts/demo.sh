#!/usr/bin/env bash
# Set up everything (see setup.sh) and open JupyterLab on examples/ with the demo pipeline.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
CELLPIPE_SETUP_SYSTEM=0 bash scripts/setup.sh
ARGS=()
[[ $(id -u) == 0 ]] && ARGS+=(--allow-root)
exec .venv/bin/jupyter lab --notebook-dir="$ROOT/examples" "${ARGS[@]}" "$@" examples/demo.ipynb
