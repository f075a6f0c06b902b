#!/bin/bash
# Installs what Tests/VM/vm-run needs and fetches Debian's own kernel into the cache.
#
#   Tests/VM/install-deps.sh            # idempotent; safe to run on every CI start
#
# Packages (apt-get, --no-install-recommends): qemu-system-x86, busybox-static, cpio.
# Kernel: `apt-get download linux-image-amd64` (the meta package) and the versioned
# linux-image-<ver>-amd64 package it depends on, unpacked with `dpkg-deb -x` into
# ${AEGIS_VM_CACHE:-/var/cache/aegis-vm}/kernel/<ver>/ (vmlinuz + /lib/modules). Nothing else
# is downloaded. A finished unpack is marked with a .complete file; once kernel/current points at
# one, the kernel step is skipped (AEGIS_VM_REFRESH=1: resolve linux-image-amd64 again and fetch
# the versioned package if it changed). `apt-get update` runs only when the lists are missing.
set -euo pipefail

CACHE="${AEGIS_VM_CACHE:-/var/cache/aegis-vm}"
log() { printf 'install-deps: %s\n' "$*" >&2; }
die() { printf 'install-deps: error: %s\n' "$*" >&2; exit 1; }

[ "$(id -u)" = 0 ] || die "must run as root (apt-get install, cache under $CACHE)"

lists_present() {
    compgen -G '/var/lib/apt/lists/*_Packages*' >/dev/null
}
apt_updated=0
ensure_lists() {
    if [ "$apt_updated" = 0 ] && ! lists_present; then
        log "apt package lists missing: running apt-get update"
        apt-get update -q >&2
        apt_updated=1
    fi
}

# --- packages -------------------------------------------------------------------------------
need=()
for pkg in qemu-system-x86 busybox-static cpio; do
    if ! dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q 'install ok installed'; then
        need+=("$pkg")
    fi
done
if [ "${#need[@]}" -gt 0 ]; then
    ensure_lists
    log "installing: ${need[*]}"
    DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends "${need[@]}" >&2 || {
        # Stale lists can name package versions the mirror no longer has: refresh once, retry.
        [ "$apt_updated" = 1 ] && die "apt-get install ${need[*]} failed"
        log "install failed; refreshing package lists and retrying"
        apt-get update -q >&2; apt_updated=1
        DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends "${need[@]}" >&2 \
            || die "apt-get install ${need[*]} failed"
    }
else
    log "packages already installed: qemu-system-x86 busybox-static cpio"
fi

# --- kernel ---------------------------------------------------------------------------------
mkdir -p "$CACHE/kernel"
# Already unpacked: done, without touching the network (AEGIS_VM_REFRESH=1 looks for a newer one).
if [ -f "$CACHE/kernel/current/.complete" ] && [ "${AEGIS_VM_REFRESH:-0}" != 1 ]; then
    log "kernel already in $CACHE/kernel/current -> $(readlink "$CACHE/kernel/current")"
    exit 0
fi
ensure_lists
# The meta package depends on exactly one versioned image package, e.g. linux-image-6.1.0-44-amd64.
image_pkg=$(apt-cache depends linux-image-amd64 2>/dev/null \
    | sed -n 's/^ *Depends: \(linux-image-[0-9][^ ]*-amd64\)$/\1/p' | head -n1)
if [ -z "$image_pkg" ] && [ "$apt_updated" = 0 ]; then
    apt-get update -q >&2; apt_updated=1
    image_pkg=$(apt-cache depends linux-image-amd64 2>/dev/null \
        | sed -n 's/^ *Depends: \(linux-image-[0-9][^ ]*-amd64\)$/\1/p' | head -n1)
fi
[ -n "$image_pkg" ] || die "cannot resolve the versioned package behind linux-image-amd64 (apt-cache depends)"
kver=${image_pkg#linux-image-}
dest="$CACHE/kernel/$kver"
if [ -f "$dest/.complete" ]; then
    log "kernel $kver already in $dest"
else
    log "fetching linux-image-amd64 and $image_pkg"
    work=$(mktemp -d "$CACHE/kernel/.fetch.XXXXXX")
    trap 'rm -rf "$work"' EXIT
    # apt-get download writes into the current directory and drops privileges to _apt when it can.
    chmod 0777 "$work"
    (cd "$work" && apt-get download -q linux-image-amd64 "$image_pkg" >&2) || {
        [ "$apt_updated" = 1 ] && die "apt-get download $image_pkg failed"
        apt-get update -q >&2; apt_updated=1
        (cd "$work" && apt-get download -q linux-image-amd64 "$image_pkg" >&2) \
            || die "apt-get download $image_pkg failed"
    }
    deb=$(ls "$work"/"$image_pkg"_*.deb | head -n1)
    rm -rf "$work/root"; mkdir "$work/root"
    dpkg-deb -x "$deb" "$work/root"
    [ -f "$work/root/boot/vmlinuz-$kver" ] || die "$deb has no boot/vmlinuz-$kver"
    [ -d "$work/root/lib/modules/$kver" ] || die "$deb has no lib/modules/$kver"
    dpkg-deb -f "$deb" Version > "$work/root/.deb-version"
    rm -rf "$dest"
    mv "$work/root" "$dest"
    touch "$dest/.complete"
    log "kernel $kver ($(cat "$dest/.deb-version")) unpacked into $dest"
fi
# The newest complete unpack is what vm-run uses unless AEGIS_VM_KERNEL names one.
ln -sfn "$kver" "$CACHE/kernel/current"
log "done: kernel $CACHE/kernel/current -> $kver"
