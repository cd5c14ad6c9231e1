#!/bin/sh
# The chroot set-up ships inside the package (resnet-convert verify --caffe runs it on first
# use); this is the same script under its old path.  See converter/reference/caffe-env.sh.
exec sh "$(dirname "$0")/../converter/reference/caffe-env.sh" "$@"
