#!/usr/bin/env bash
# Create or update .venv: the project's requirements, the library itself (editable, so `import puppet_master`
# works from any folder), plus any extra pip arguments given.
# torch is reused when the base Python already has it (the venv sees system site-packages);
# otherwise torch==${TORCH_VERSION:-2.13.0} is installed. torch is never in requirements.txt.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
if [ ! -x .venv/bin/python ]; then
    "${PYTHON:-python3}" -m venv --system-site-packages .venv
fi
if ! .venv/bin/python -c "import torch" 2>/dev/null; then
    .venv/bin/python -m pip install --quiet "torch==${TORCH_VERSION:-2.13.0}"
fi
.venv/bin/python -m pip install --quiet -r requirements.txt "$@"
.venv/bin/python -m pip install --quiet --no-deps -e .
