#!/usr/bin/env bash
# The whole test suite on a fresh machine, as CI runs it (arguments go to pytest):
#   1. .venv: requirements.txt + requirements-dev.txt + the library (editable); torch==2.13.0 if the base has none
#   2. ruff
#   3. a real ComfyUI in its own venv (../shared/comfyui/setup.sh; ~3 min the first time, then ~1 s), unless
#      COMFYUI_PATH is already set or there is no ../shared/comfyui
#   4. Debian's chromium (installed with apt-get when running as root) and playwright-core (npm ci in tests/js)
#   5. pytest -rs (every skip prints its reason; tests/e2e runs against the real ComfyUI), then node --test
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
bash scripts/env.sh -r requirements-dev.txt
.venv/bin/python -m ruff check .
comfyui_setup=${PUPPET_MASTER_SHARED:-../shared}/comfyui/setup.sh
if [ -z "${COMFYUI_PATH:-}" ] && [ -f "$comfyui_setup" ]; then
    eval "$(bash "$comfyui_setup" requirements.txt)"
    export COMFYUI_PATH COMFYUI_PYTHON
fi
if ! command -v chromium >/dev/null && [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null
fi
npm ci --prefix tests/js --no-audit --no-fund --silent
.venv/bin/python -m pytest -rs "$@"
node --test tests/js/
