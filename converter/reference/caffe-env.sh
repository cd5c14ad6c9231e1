#!/bin/sh
# Idempotent setup of a Debian bullseye chroot holding BVLC Caffe 1.0 (CPU)
# with its Python 3 bindings.  Bullseye is the last Debian release whose main
# archive ships python3-caffe, so a chroot is the cheapest way to get a real,
# unmodified reference Caffe on a bookworm (or newer) host.
#
# Usage: tools/caffe-env.sh [DIR]       (must run as root)
# Prints DIR on stdout when the chroot is ready; all progress goes to stderr.
set -eu

DIR=${1:-${CAFFE_CHROOT:-/var/tmp/resnet-convert-caffe}}
PKGS="python3-caffe python3-h5py python3-numpy"
STAMP="$DIR/.resnet-convert-ready"

log() { echo "caffe-env: $*" >&2; }

# Use the host's Debian mirror: in sandboxed CI only Debian's archive (through
# whatever URI apt already uses) is reachable.
host_mirror() {
    uri=$(grep -hsE '^(URIs:|deb )' /etc/apt/sources.list.d/*.sources \
            /etc/apt/sources.list 2>/dev/null \
          | grep -E 'debian/?$|debian/? ' | grep -v security | head -n1 \
          | sed -E 's/^URIs:[[:space:]]*//; s/^deb[[:space:]]+(\[[^]]*\][[:space:]]+)?//; s/[[:space:]].*$//')
    echo "${uri:-http://deb.debian.org/debian}"
}

ensure_debootstrap() {
    command -v debootstrap >/dev/null 2>&1 && return 0
    log "installing debootstrap on the host"
    apt-get update >&2
    DEBIAN_FRONTEND=noninteractive apt-get install -y debootstrap >&2
}

ensure_proc() {
    # A second mount would stack and leak; only mount when absent.
    if ! mountpoint -q "$DIR/proc"; then
        mount -t proc proc "$DIR/proc"
    fi
}

mounted_under() {
    # True when anything (e.g. a caffe-run.sh bind mount) is mounted in DIR.
    awk -v d="$DIR/" 'index($5 "/", d) == 1 { found = 1 } END { exit !found }' \
        /proc/self/mountinfo
}

bootstrap() {
    # debootstrap removes DIR/debootstrap only when it completes, so its
    # presence marks an interrupted run, which cannot be resumed: start
    # over, but never delete through a live mount (it could be the repo).
    if [ -d "$DIR/debootstrap" ]; then
        if mounted_under; then
            log "$DIR is half bootstrapped but has mounts; unmount them first"
            exit 1
        fi
        log "removing interrupted bootstrap in $DIR"
        rm -rf "$DIR"
    fi
    if [ ! -x "$DIR/usr/bin/apt-get" ]; then
        mirror=$(host_mirror)
        log "debootstrap bullseye from $mirror into $DIR (takes minutes)"
        mkdir -p "$DIR"
        debootstrap --variant=minbase bullseye "$DIR" "$mirror" >&2
    fi
}

install_caffe() {
    ensure_proc
    cp /etc/resolv.conf "$DIR/etc/resolv.conf" 2>/dev/null || true
    log "installing $PKGS inside the chroot"
    chroot "$DIR" env DEBIAN_FRONTEND=noninteractive apt-get update >&2
    chroot "$DIR" env DEBIAN_FRONTEND=noninteractive \
        apt-get install -y --no-install-recommends $PKGS >&2
    chroot "$DIR" apt-get clean >&2
    chroot "$DIR" python3 -c 'import caffe, h5py, numpy' >&2
    touch "$STAMP"
}

if [ "$(id -u)" != 0 ]; then
    log "must run as root (debootstrap, chroot, mount)"; exit 1
fi
if [ ! -e "$STAMP" ]; then
    ensure_debootstrap
    bootstrap
    install_caffe
fi
ensure_proc
echo "$DIR"
