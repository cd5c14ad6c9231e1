#!/bin/sh
# Regenerate golden/*.h5 from real BVLC Caffe.                 (run as root)
#
# Usage: tools/make-golden.sh [make_golden.py selection]     default: --all
#   e.g. tools/make-golden.sh --group layers
#        tools/make-golden.sh --case kaiming_resnet50
#
# 1. sets up the bullseye Caffe chroot (tools/caffe-env.sh, idempotent);
# 2. re-writes the generator-made prototxts listed in tools/cases/cases.json
#    with the project's own resnet-gen (host Python, $PYTHON or python3);
# 3. runs tools/make_golden.py inside the chroot for the selected cases.
set -eu
HERE=$(cd "$(dirname "$0")" && pwd)
REPO=$(cd "$HERE/.." && pwd)
[ $# -gt 0 ] || set -- --all

"$HERE/caffe-env.sh" >/dev/null
(cd "$REPO" && PYTHONPATH="$HERE" "${PYTHON:-python3}" "$HERE/gen_cases.py" "$@")
"$HERE/caffe-run.sh" "$HERE/make_golden.py" --out "$REPO/golden" "$@"
