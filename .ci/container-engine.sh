#!/usr/bin/env bash
# Prepare what tests/container needs: a Docker engine (Debian's docker.io) and
# a locally built Debian bookworm base image tarball (no registry can be used
# in CI, so the base is made with debootstrap and `docker import`-ed by the
# test fixture).
#
# Idempotent and fast on re-runs (everything is skipped when present).
# It never fails CI: on any problem it prints why and exits 0; the container
# tests then skip with their own reason. It does NOT start dockerd.
#
# Environment:
#   BBVARS_BASE_TARBALL  where to put/find the base tarball
#                        (default: /var/cache/bbvars-container/<key>.tar)
#   DEBIAN_MIRROR        mirror for debootstrap (default http://deb.debian.org/debian)
set -u

SUITE=bookworm
INCLUDE=python3,python3-venv,ca-certificates
KEY="debootstrap-${SUITE}-minbase-$(echo "$INCLUDE" | tr ',' '_')"
CACHE_DIR=/var/cache/bbvars-container
TARBALL="${BBVARS_BASE_TARBALL:-$CACHE_DIR/$KEY.tar}"
MIRROR="${DEBIAN_MIRROR:-http://deb.debian.org/debian}"

log() { printf 'container-engine: %s\n' "$*"; }
give_up() { log "SKIP: $*"; log "container tests will be skipped"; exit 0; }

export DEBIAN_FRONTEND=noninteractive

missing=()
command -v dockerd >/dev/null 2>&1 || missing+=(docker.io)
command -v debootstrap >/dev/null 2>&1 || missing+=(debootstrap debian-archive-keyring)
if [ "${#missing[@]}" -gt 0 ]; then
    [ "$(id -u)" = 0 ] || give_up "not root (uid $(id -u)); cannot install ${missing[*]}"
    command -v apt-get >/dev/null 2>&1 || give_up "apt-get not available to install ${missing[*]}"
    log "installing ${missing[*]}"
    start=$SECONDS
    apt-get update -qq </dev/null >/tmp/bbvars-apt-update.log 2>&1 \
        || give_up "apt-get update failed (see /tmp/bbvars-apt-update.log): $(tail -n 3 /tmp/bbvars-apt-update.log | tr '\n' ' ')"
    apt-get install -y -qq --no-install-recommends "${missing[@]}" </dev/null >/tmp/bbvars-apt-install.log 2>&1 \
        || give_up "apt-get install ${missing[*]} failed (see /tmp/bbvars-apt-install.log): $(tail -n 3 /tmp/bbvars-apt-install.log | tr '\n' ' ')"
    log "installed ${missing[*]} in $((SECONDS - start))s"
else
    log "dockerd and debootstrap already installed"
fi
command -v dockerd >/dev/null 2>&1 || give_up "dockerd still missing after install"

if [ -s "$TARBALL" ]; then
    log "base tarball cached: $TARBALL ($(du -h "$TARBALL" | cut -f1))"
    exit 0
fi

[ "$(id -u)" = 0 ] || give_up "not root (uid $(id -u)); debootstrap needs root to build $TARBALL"
mkdir -p "$(dirname "$TARBALL")" || give_up "cannot create $(dirname "$TARBALL")"
work=$(mktemp -d "${TMPDIR:-/tmp}/bbvars-debootstrap.XXXXXX") || give_up "mktemp failed"
cleanup() {
    # debootstrap may leave proc/sys/dev mounts behind on failure: unmount
    # them (deepest first) and never let rm cross into another file system.
    grep -o " $work/[^ ]*" /proc/self/mounts 2>/dev/null | sort -r | while read -r m; do
        umount -l "$m" 2>/dev/null
    done
    rm -rf --one-file-system "$work"
}
trap cleanup EXIT
root="$work/root"
log "debootstrapping $SUITE ($INCLUDE) from $MIRROR"
start=$SECONDS
if ! debootstrap --variant=minbase --include="$INCLUDE" "$SUITE" "$root" "$MIRROR" \
        </dev/null >"$work/debootstrap.log" 2>&1; then
    cp "$work/debootstrap.log" /tmp/bbvars-debootstrap.log 2>/dev/null
    give_up "debootstrap failed (log: /tmp/bbvars-debootstrap.log): $(tail -n 3 "$work/debootstrap.log" | tr '\n' ' ')"
fi
# Trim what an image never needs.
rm -rf "$root"/var/cache/apt/archives/*.deb "$root"/var/lib/apt/lists/* \
       "$root"/usr/share/doc/* "$root"/usr/share/man/* "$root"/usr/share/info/* \
       "$root"/var/log/* 2>/dev/null
[ -x "$root/usr/bin/python3" ] || give_up "debootstrap produced no /usr/bin/python3"
tmp_tar="$TARBALL.tmp.$$"
if ! tar --numeric-owner -C "$root" -cf "$tmp_tar" . 2>"$work/tar.log"; then
    rm -f "$tmp_tar"
    give_up "tar of base failed: $(tail -n 3 "$work/tar.log" | tr '\n' ' ')"
fi
mv -f "$tmp_tar" "$TARBALL" || give_up "cannot move tarball into $TARBALL"
log "base tarball built in $((SECONDS - start))s: $TARBALL ($(du -h "$TARBALL" | cut -f1))"
exit 0
