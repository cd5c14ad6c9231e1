#!/usr/bin/env bash
# CUDA parity check for a machine with an NVIDIA GPU (well under 3 minutes).
# Uses the machine's python3 if it already has a CUDA torch (e.g. a GPU image); otherwise makes
# a venv and installs torch plus the project's light dependencies. Then runs the CUDA-marked
# parity tests on ResNet-50/152 (TF32 off) and prints a short table.
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-python3}
if ! "$PY" -c 'import torch, sys; sys.exit(0 if torch.cuda.is_available() else 1)' 2>/dev/null; then
    venv=${VENV:-/tmp/resnet-convert-gpu-venv}
    python3 -m venv "$venv"
    "$venv/bin/pip" install -q torch
    PY="$venv/bin/python"
fi
# Only light pure-Python/numpy packages are needed beside torch; install what is missing.
for mod in numpy jinja2 google.protobuf h5py safetensors pytest; do
    "$PY" -c "import $mod" 2>/dev/null || "$PY" -m pip install -q "${mod/google./}"
done
export PYTHONPATH="$PWD${PYTHONPATH:+:$PYTHONPATH}"
"$PY" tools/gpu_parity.py --device cuda
"$PY" -m pytest -q -p no:cacheprovider -m cuda tests/test_parity.py \
    -k "kaiming_resnet50 or kaiming_resnet152"
