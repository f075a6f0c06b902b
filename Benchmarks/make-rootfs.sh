#!/bin/sh
# make-rootfs.sh DIR — the busybox rootfs shared by every benchmark runner (bwrap, crun,
# aegis-runtime, aegis-bench): DIR/rootfs/bin/busybox (static, from Debian's busybox-static) plus
# applet symlinks, and the empty mount points the OCI default mounts need.
set -eu
[ $# -eq 1 ] || { echo "usage: $0 DIR" >&2; exit 2; }
BUSYBOX=${BUSYBOX:-/bin/busybox}
[ -x "$BUSYBOX" ] || { echo "$0: $BUSYBOX not found (apt-get install busybox-static)" >&2; exit 1; }
if command -v file >/dev/null 2>&1 && ! file -L "$BUSYBOX" | grep -q 'static'; then
    echo "$0: $BUSYBOX is not statically linked (install busybox-static)" >&2; exit 1
fi
root="$1/rootfs"
mkdir -p "$root/bin" "$root/proc" "$root/dev" "$root/sys" "$root/tmp" "$root/etc" "$root/root"
cp "$BUSYBOX" "$root/bin/busybox"
chmod 0755 "$root/bin/busybox"
for applet in sh true false echo sleep cat ls id env ps mount; do
    ln -sf busybox "$root/bin/$applet"
done
echo "root:x:0:0:root:/root:/bin/sh" > "$root/etc/passwd"
echo "root:x:0:" > "$root/etc/group"
