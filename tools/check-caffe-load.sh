#!/bin/sh
# Load prototxts in real BVLC Caffe and check their blob shapes.  (as root)
#
# Usage: tools/check-caffe-load.sh EXPECT.json [--report OUT.json]
#   EXPECT.json: {"net.prototxt": {"prob": [1, 1000], ...,
#                                  "@learnable_params": 25557032}, ...}
#   Relative prototxt paths are relative to EXPECT.json's folder.  That
#   folder (and the report's) is bind-mounted into the Caffe chroot; other
#   prototxts must lie in the repository or in $CAFFE_RUN_BIND.
# Prints a table (learnable parameter count per net); exit status 1 when a
# net does not load, has a wrong shape or produces non-finite values.
set -eu
HERE=$(cd "$(dirname "$0")" && pwd)
if [ $# -lt 1 ]; then
    echo "usage: $0 EXPECT.json [--report OUT.json]" >&2; exit 2
fi
EXPECT=$(cd "$(dirname "$1")" && pwd)/$(basename "$1")
shift
BIND="$(dirname "$EXPECT")"
if [ "${1:-}" = "--report" ] && [ $# -ge 2 ]; then
    OUT_DIR=$(cd "$(dirname "$2")" && pwd)
    BIND="$BIND $OUT_DIR"
    set -- --report "$OUT_DIR/$(basename "$2")"
fi
export CAFFE_RUN_BIND="${CAFFE_RUN_BIND:-} $BIND"
exec "$HERE/caffe-run.sh" "$HERE/check_caffe_load.py" "$EXPECT" "$@"
