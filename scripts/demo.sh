#!/usr/bin/env bash
# The main job on a fresh machine: set up .venv, then run the library's self-check
# (tiny random Puppet-Master UNet saved, inspected, reloaded and run with drags, cached and uncached).
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
bash scripts/env.sh
.venv/bin/python -m puppet_master selfcheck "$@"
