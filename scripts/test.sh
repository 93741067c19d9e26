#!/usr/bin/env bash
# The whole test suite on a fresh machine: set up .venv with the test tools, lint, then pytest.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
bash scripts/env.sh -r requirements-dev.txt
.venv/bin/python -m ruff check .
.venv/bin/python -m pytest "$@"
