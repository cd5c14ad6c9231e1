#!/bin/sh
# Run a Python script with pycaffe inside the bullseye chroot.
#
# Usage: tools/caffe-run.sh SCRIPT [ARGS...]          (must run as root)
#
# The repository root, its sibling ../shared (Kaiming's reference prototxts)
# and every directory listed in $CAFFE_RUN_BIND (space separated) are
# bind-mounted into the chroot at their *own* absolute paths, and the script
# runs from the caller's working directory.  Relative and absolute paths
# therefore mean the same thing inside and outside, so callers never have
# to translate them.  (From a working directory that is not mounted the
# script starts in the repository root.)
#
# Caffe is pinned to one thread and reference BLAS so its output is
# bit-reproducible (see golden/README.md).  CAFFE_RUN_BLAS=openblas loads the
# chroot's single-threaded OpenBLAS instead (about 10x faster, different
# rounding): for training (tools/train-digits.sh), never for golden files.
set -eu

if [ $# -lt 1 ]; then
    echo "usage: $0 SCRIPT [ARGS...]" >&2; exit 2
fi
HERE=$(cd "$(dirname "$0")" && pwd)
REPO=$(cd "$HERE/.." && pwd)
DIR=$("$HERE/caffe-env.sh" "${CAFFE_CHROOT:-/var/tmp/resnet-convert-caffe}")
CWD=$(pwd)

BINDS="$REPO"
if [ -d "$REPO/../shared" ]; then
    BINDS="$BINDS $(cd "$REPO/../shared" && pwd)"
fi
BINDS="$BINDS ${CAFFE_RUN_BIND:-}"
case "${CAFFE_RUN_BLAS:-reference}" in
    reference) LDPATH="" ;;
    openblas) LDPATH=/usr/lib/x86_64-linux-gnu/openblas-serial ;;
    *) echo "$0: CAFFE_RUN_BLAS must be reference or openblas" >&2; exit 2 ;;
esac

# The inner part runs in a private mount namespace when unshare(1) works:
# the bind mounts then vanish with the process, even on SIGKILL.  Without
# unshare a trap unmounts them; stacked mounts from concurrent runs are each
# removed by their own run, so runs never pull mounts from under each other.
INNER='
set -eu
MOUNTED=""
cleanup() {
    for m in $MOUNTED; do
        umount "$m" 2>/dev/null || umount -l "$m" 2>/dev/null || true
    done
}
trap cleanup EXIT INT TERM
for src in $BINDS; do
    dst="$DIR$src"
    mkdir -p "$dst"
    mount --bind "$src" "$dst"
    MOUNTED="$dst $MOUNTED"
done
chroot "$DIR" /usr/bin/env -i PATH=/usr/sbin:/usr/bin:/sbin:/bin \
    HOME=/root LANG=C.UTF-8 GLOG_minloglevel="${GLOG_minloglevel:-2}" \
    LD_LIBRARY_PATH="$LDPATH" \
    OPENBLAS_NUM_THREADS=1 OMP_NUM_THREADS=1 MKL_NUM_THREADS=1 \
    PYTHONPATH="$HERE" PYTHONDONTWRITEBYTECODE=1 \
    sh -c "cd \"\$1\" 2>/dev/null || cd \"\$2\"; shift 2; exec python3 \"\$@\"" \
    sh "$CWD" "$REPO" "$@"
'
export DIR BINDS CWD HERE REPO LDPATH
if unshare --mount --propagation private true 2>/dev/null; then
    exec unshare --mount --propagation private sh -c "$INNER" sh "$@"
fi
exec sh -c "$INNER" sh "$@"
