#!/usr/bin/env bash
# GPU benchmark: converted ResNet-50/152 vs torchvision (fp32, bf16, channels_last; eager and
# torch.compile) and fp32 parity with TF32 off. Meant to finish in under 3 minutes on a machine
# with an NVIDIA GPU; prints a Markdown table to paste into bench/RESULTS.md.
#
#   bash tools/gpu-bench.sh                  # on the GPU machine, from the repository root
#   bash tools/gpu-bench.sh --device cpu --quick     # smoke test anywhere
#
# Environment: PYTHON (default python3) is used as is when it already imports torch (+ CUDA)
# and torchvision; otherwise a venv is made in $VENV (default .gpu-bench-venv) and
# torch/torchvision are pip-installed there (needs a package index; TORCH_SPEC and TV_SPEC
# choose the versions). MODELS (default /var/tmp/resnet-bench) holds the caffemodels, made by
# bench/make_models.py when missing. BUDGET (default 100) caps the seconds spent before
# compiled runs are skipped. Extra arguments go to bench/gpu_bench.py.
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
PY=${PYTHON:-python3}
VENV=${VENV:-$ROOT/.gpu-bench-venv}
MODELS=${MODELS:-/var/tmp/resnet-bench}
BUDGET=${BUDGET:-100}
TORCH_SPEC=${TORCH_SPEC:-torch}
TV_SPEC=${TV_SPEC:-torchvision}
T0=$SECONDS
say() { echo "[gpu-bench $((SECONDS - T0))s] $*" >&2; }

want_cuda=1
for a in "$@"; do [ "$a" = cpu ] && want_cuda=0; done

has_stack() {  # $1: python; torch (with CUDA unless --device cpu) and torchvision import
    "$1" - "$want_cuda" <<'EOF' >/dev/null 2>&1
import sys, torch, torchvision  # noqa: F401
sys.exit(0 if sys.argv[1] == "0" or torch.cuda.is_available() else 1)
EOF
}

if has_stack "$PY"; then
    say "using $PY as is"
else
    if [ ! -x "$VENV/bin/python" ]; then
        say "making $VENV"
        "$PY" -m venv "$VENV"
    fi
    if ! has_stack "$VENV/bin/python"; then
        say "installing $TORCH_SPEC $TV_SPEC into $VENV"
        timeout 600 "$VENV/bin/pip" install -q "$TORCH_SPEC" "$TV_SPEC" numpy jinja2 protobuf \
            safetensors || say "pip install failed: continuing with what is there"
    fi
    PY=$VENV/bin/python
fi
# The project itself: importable from the checkout, no install needed.
export PYTHONPATH="$ROOT${PYTHONPATH:+:$PYTHONPATH}"
"$PY" -c "import numpy, jinja2, google.protobuf, safetensors" 2>/dev/null || \
    timeout 300 "$PY" -m pip install -q numpy jinja2 protobuf safetensors

"$PY" - <<'EOF' >&2
import torch
print("torch", torch.__version__, "CUDA", torch.version.cuda,
      torch.cuda.get_device_name() if torch.cuda.is_available() else "(no GPU visible)")
EOF

depths=50,152
for a in "$@"; do [ "$a" = --quick ] && depths=50; done
say "caffemodels in $MODELS"
"$PY" bench/make_models.py --out "$MODELS" --depths "$depths" >&2

left=$((BUDGET - (SECONDS - T0)))
[ "$left" -lt 20 ] && left=20
say "benchmark (compile budget ${left}s)"
exec "$PY" bench/gpu_bench.py --dir "$MODELS" --budget "$left" "$@"
