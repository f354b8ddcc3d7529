#!/usr/bin/env bash
# Install everything cellpipe needs into ./.venv (system packages too, when missing and root).
# Usage: bash scripts/setup.sh [--no-system] ; sourced by scripts/demo.sh and scripts/test.sh.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
PYTHON="${PYTHON:-python3}"

need_apt=()
command -v git >/dev/null || need_apt+=(git)
# the C compiler builds cellpipe's NumPy memory handler (optional: without it arrays are copied)
command -v cc >/dev/null || need_apt+=(gcc libc6-dev)
if [[ "${CELLPIPE_SETUP_SYSTEM:-1}" == "1" ]]; then
  command -v redis-server >/dev/null || need_apt+=(redis-server)
  [[ -x /usr/bin/chromium ]] || need_apt+=(chromium)
fi
if (( ${#need_apt[@]} )); then
  if [[ $(id -u) == 0 ]] && command -v apt-get >/dev/null; then
    echo "setup: installing Debian packages: ${need_apt[*]}"
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${need_apt[@]}" >/dev/null
  else
    echo "setup: please install ${need_apt[*]} (sudo apt-get install ${need_apt[*]})" >&2
  fi
fi

if [[ ! -x .venv/bin/python ]]; then
  "$PYTHON" -m venv .venv
fi
# pip, without this machine's noise about missing local indexes; its failures still stop us
quiet_pip() {
  .venv/bin/python -m pip "$@" 2>&1 | { grep -v -i "warning: location" || true; }
  return "${PIPESTATUS[0]}"
}
quiet_pip install -q --upgrade pip
echo "setup: installing cellpipe and its test dependencies into .venv"
quiet_pip install -q -e ".[test]"
# from another directory, so a failed install cannot hide behind ./cellpipe
(cd / && "$ROOT/.venv/bin/python" -c "import cellpipe.cli, cellpipe.kernel")

if [[ -f package.json ]]; then
  echo "setup: building the JupyterLab extension"
  export PATH="$ROOT/.venv/bin:$PATH"
  jlpm install --immutable >/dev/null 2>&1 || jlpm install
  jlpm build
  .venv/bin/jupyter-builder develop --overwrite . >/dev/null
  # an editable install does not place jupyter-config/; enable the server extension explicitly
  .venv/bin/jupyter server extension enable --sys-prefix cellpipe >/dev/null 2>&1 || true
fi
