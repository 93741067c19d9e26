#!/usr/bin/env bash
# The whole test suite on a fresh machine: set up .venv with the test tools, lint, pytest, then the
# JavaScript tests (node --test; the browser test drives Debian's Chromium with playwright-core).
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
bash scripts/env.sh -r requirements-dev.txt
.venv/bin/python -m ruff check .
.venv/bin/python -m pytest "$@"
if ! command -v chromium >/dev/null && [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null
fi
npm ci --prefix tests/js --no-audit --no-fund --silent
node --test tests/js/
