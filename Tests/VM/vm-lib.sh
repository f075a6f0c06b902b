# Shared helpers for Tests/VM scripts (sourced, bash). Not executable on its own.
#
# AEGIS_VM_CACHE   cache root (default /var/cache/aegis-vm), filled by install-deps.sh:
#                  kernel/<kver>/{boot/vmlinuz-<kver>,lib/modules/<kver>}, kernel/current -> <kver>
#                  initramfs/<sha256>.cpio (base archives built by mkinitramfs)
# AEGIS_VM_KERNEL  kernel version to use (a directory name under kernel/); default: current
AEGIS_VM_CACHE="${AEGIS_VM_CACHE:-/var/cache/aegis-vm}"
VM_DIR="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"

vm_die() { printf '%s: error: %s\n' "${VM_PROG:-vm}" "$*" >&2; exit 125; }
vm_log() { [ -n "${VM_QUIET:-}" ] || printf '%s: %s\n' "${VM_PROG:-vm}" "$*" >&2; }

# Sets KVER, KDIR (the unpacked package root), VMLINUZ, MODDIR; dies naming what is missing.
vm_find_kernel() {
    local base="$AEGIS_VM_CACHE/kernel" name="${AEGIS_VM_KERNEL:-current}"
    KDIR="$base/$name"
    [ -f "$KDIR/.complete" ] || vm_die "no kernel unpacked at $KDIR (run Tests/VM/install-deps.sh)"
    KDIR="$(cd "$KDIR" && pwd -P)"
    KVER="$(basename "$KDIR")"
    VMLINUZ="$KDIR/boot/vmlinuz-$KVER"
    MODDIR="$KDIR/lib/modules/$KVER"
    [ -f "$VMLINUZ" ] || vm_die "kernel image $VMLINUZ missing"
    [ -d "$MODDIR" ] || vm_die "module directory $MODDIR missing"
}

# Quote each argument for a POSIX shell (single quotes; ' becomes '\''), space-separated.
vm_shquote() {
    local out="" a
    for a in "$@"; do
        out+="'${a//\'/\'\\\'\'}' "
    done
    printf '%s' "${out% }"
}
