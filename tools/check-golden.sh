#!/bin/sh
# Re-derive golden files in real Caffe and compare with the committed ones.
#
# Usage: tools/check-golden.sh [--all] [--strict]             (run as root)
#   default: the small cases (groups "layers", "generated", "dataforms"), in about a
#   minute; --all adds Kaiming's ImageNet nets (a few minutes more; their
#   prototxts come from ../shared, else from the text stored in golden/).
#   --strict: require bitwise equality (see tools/compare_golden.py).
# Exit status 0 when every re-derived file matches.
set -eu
HERE=$(cd "$(dirname "$0")" && pwd)
REPO=$(cd "$HERE/.." && pwd)
SELECT="--group layers --group generated --group dataforms"
STRICT=""
for arg in "$@"; do
    case "$arg" in
        --all) SELECT="--all" ;;
        --strict) STRICT="--strict" ;;
        *) echo "usage: $0 [--all] [--strict]" >&2; exit 2 ;;
    esac
done

TMP=$(mktemp -d "${TMPDIR:-/var/tmp}/resnet-convert-golden.XXXXXX")
trap 'rm -rf "$TMP"' EXIT INT TERM
export CAFFE_RUN_BIND="$TMP"
# shellcheck disable=SC2086  # SELECT is a list of words on purpose
"$HERE/caffe-run.sh" "$HERE/make_golden.py" $SELECT --out "$TMP" \
    --prototxt-from "$REPO/golden" >/dev/null
rm -f "$TMP"/*.prototxt
"$HERE/caffe-run.sh" "$HERE/compare_golden.py" "$REPO/golden" "$TMP" $STRICT
