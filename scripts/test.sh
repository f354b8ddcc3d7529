#!/usr/bin/env bash
# Set up everything (see setup.sh) and run all tests: lint, unit, kernel, git and browser tests.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
bash scripts/setup.sh
.venv/bin/ruff check cellpipe tests benchmarks hatch_build.py
if [[ -f package.json ]]; then
  # the front end: ESLint + Prettier, then its unit tests (vitest)
  PATH="$ROOT/.venv/bin:$PATH" jlpm lint
  PATH="$ROOT/.venv/bin:$PATH" jlpm test
fi
.venv/bin/python -m pytest -p no:cacheprovider -q "$@"
