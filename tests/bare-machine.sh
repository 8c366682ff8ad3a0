#!/usr/bin/env bash
# The README's run command on a bare machine: a fresh Debian root file system (debootstrap of
# this machine's release, with only what a machine of our kind has before any project
# installs anything: a C compiler, git, curl, and the host's Rust toolchain bind-mounted),
# a fresh clone of this repository in it, then `./dev serve` as root — which must install the
# -dev packages itself, build, and end with "portcullis listening" — and the curl line it
# prints, which must return an access token.
#
#   sudo tests/bare-machine.sh [ROOTFS_DIR]      (default: a new folder under /var/tmp)
#
# Slow (a clean build in the root file system, about 10 to 20 minutes on 2 cores), so it is
# run by hand rather than by tests/run.sh. KEEP=1 keeps the root file system afterwards.
# PORTCULLIS_LISTEN (default 127.0.0.1:8080, the dev default) must be free on this machine: the
# root file system shares the machine's network.
set -euo pipefail
REPO="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
[[ "$(id -u)" == 0 ]] || { echo "bare-machine.sh: run as root (debootstrap, chroot, mounts)" >&2; exit 1; }
ROOTFS="${1:-$(mktemp -d /var/tmp/portcullis-bare.XXXXXX)}"
LISTEN="${PORTCULLIS_LISTEN:-127.0.0.1:8080}"
RELEASE="$(. /etc/os-release && echo "$VERSION_CODENAME")"
MIRROR="${DEBIAN_MIRROR:-http://deb.debian.org/debian}"
CARGO_DIR="${CARGO_HOME:-$HOME/.cargo}"
RUSTUP_DIR="${RUSTUP_HOME:-$HOME/.rustup}"
step() { echo "$(date -u +%T) ==> $*"; }

command -v debootstrap >/dev/null || { step "apt-get install debootstrap"; apt-get update -qq; apt-get install -y -qq debootstrap; }

MOUNTS=()
SERVER_PID=""
cleanup() {
  [[ -n "$SERVER_PID" ]] && kill "$SERVER_PID" 2>/dev/null || true
  # The server runs inside the chroot; stop whatever still holds the root file system.
  for pid in $(ls /proc | grep -E '^[0-9]+$'); do
    [[ "$(readlink "/proc/$pid/root" 2>/dev/null)" == "$ROOTFS" ]] && kill "$pid" 2>/dev/null || true
  done
  sleep 1
  local i
  for (( i=${#MOUNTS[@]}-1; i>=0; i-- )); do umount -l "${MOUNTS[$i]}" 2>/dev/null || true; done
  if [[ "${KEEP:-}" != 1 ]]; then rm -rf --one-file-system "$ROOTFS"; else echo "kept $ROOTFS"; fi
}
trap cleanup EXIT
bind() { mkdir -p "$2"; mount --bind "$1" "$2"; MOUNTS+=("$2"); }

step "debootstrap $RELEASE into $ROOTFS"
debootstrap --variant=minbase --include=ca-certificates,git,curl,gcc,libc6-dev,procps \
  "$RELEASE" "$ROOTFS" "$MIRROR" > "$ROOTFS.debootstrap.log" 2>&1 \
  || { tail -20 "$ROOTFS.debootstrap.log"; exit 1; }
rm -f "$ROOTFS.debootstrap.log"
cp /etc/resolv.conf "$ROOTFS/etc/resolv.conf"
bind /proc "$ROOTFS/proc"
bind /dev "$ROOTFS/dev"
bind /sys "$ROOTFS/sys"
# The machine's one Rust toolchain (rustup), as a machine of our kind has it.
bind "$RUSTUP_DIR" "$ROOTFS/root/.rustup"
bind "$CARGO_DIR" "$ROOTFS/root/.cargo"

step "what the root file system lacks before the run command"
chroot "$ROOTFS" /bin/sh -c 'for p in libclang-dev libssl-dev libxml2-dev libxmlsec1-dev pkg-config; do
  dpkg-query -W -f="\${Status}" $p 2>/dev/null | grep -q "install ok installed" && echo "  has $p" || echo "  lacks $p"; done'

step "fresh clone of $(git -C "$REPO" rev-parse --short HEAD)"
git clone -q "$REPO" "$ROOTFS/root/portcullis"

step "./dev serve (as root, in the root file system)"
LOG="$ROOTFS/root/serve.log"
: > "$LOG"
chroot "$ROOTFS" /usr/bin/env -i HOME=/root PATH=/root/.cargo/bin:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin \
  TERM=dumb PORTCULLIS_LISTEN="$LISTEN" CARGO_TARGET_DIR=/root/target \
  /bin/bash -c 'cd /root/portcullis && exec ./dev serve' > "$LOG" 2>&1 &
SERVER_PID=$!
deadline=$(( $(date +%s) + ${BARE_TIMEOUT:-3600} ))
until grep -q '^portcullis listening on' "$LOG"; do
  if ! kill -0 "$SERVER_PID" 2>/dev/null; then step "the run command stopped:"; tail -40 "$LOG"; exit 1; fi
  (( $(date +%s) < deadline )) || { step "timed out"; tail -40 "$LOG"; exit 1; }
  sleep 5
done
grep -E '^==> apt-get install' "$LOG" | sed 's/^/  /'
grep -E '^ *Finished ' "$LOG" | sed 's/^/  /'
grep -A40 '^portcullis listening on' "$LOG" | sed -E 's/(secret=|password=|skc_dev:)[^ ]+/\1…/' | sed 's/^/  /' | head -20

step "the printed curl line"
CURL="$(grep -oE 'curl -s .*' "$LOG" | head -1)"
[[ -n "$CURL" ]] || { echo "no curl line printed" >&2; exit 1; }
OUT="$(chroot "$ROOTFS" /bin/sh -c "$CURL")"
echo "$OUT" | grep -q '"access_token":"ey' || { echo "no token: $OUT" >&2; exit 1; }
echo "  $(echo "$OUT" | sed -E 's/"access_token":"[^"]*"/"access_token":"ey…"/')"
step "PASS: from a bare root file system, ./dev serve listened and its curl line returned a token"
