#!/usr/bin/env bash
# build-image.sh — writes AEGIS as an OCI image: an image layout (and the same as an oci-archive
# tar) holding the executables (aegis, aegis-runtime, aegis-init, aegis-supervisor, stripped) in
# /usr/local/bin and exactly the shared libraries `ldd` lists for them (the Swift runtime, glibc,
# SQLite, libarchive, libseccomp, …) at the paths the dynamic loader looks for them, plus the
# system CA bundle (for HTTPS registries). Entrypoint `aegis`, tagged with the version.
# The controller pod's manifest names this image; push it with
#   skopeo copy oci:OUT/layout:VERSION docker://REGISTRY/aegis:VERSION
# Usage: scripts/build-image.sh [--out DIR (.build/image)] [--tag VERSION (git describe)] [--debug (use the debug build)]
#        [--no-build (use the executables already built)]
set -euo pipefail
repo=$(cd "$(dirname "$0")/.." && pwd)
out=$repo/.build/image
tag=
config=release
build=1
while [ $# -gt 0 ]; do
    case "$1" in
        --out) out=$2; shift ;;
        --tag) tag=$2; shift ;;
        --debug) config=debug ;;
        --no-build) build=0 ;;
        *) echo "build-image: unknown argument $1" >&2; exit 2 ;;
    esac
    shift
done
for tool in umoci ldd strip tar; do
    command -v "$tool" >/dev/null || { echo "build-image: $tool is missing (scripts/install-deps.sh)" >&2; exit 1; }
done
cd "$repo"
[ -n "$tag" ] || tag=$(git describe --always --dirty 2>/dev/null | tr -c 'A-Za-z0-9_.\n-' '-' || echo dev)
executables=(aegis aegis-runtime aegis-init aegis-supervisor)
# One product per invocation: given several --product flags, swift build builds only the last.
if [ "$build" = 1 ]; then for e in "${executables[@]}"; do swift build -c "$config" --product "$e" >/dev/null; done; fi
bin=$repo/.build/$config
for e in "${executables[@]}"; do
    [ -x "$bin/$e" ] || { echo "build-image: $bin/$e is not built" >&2; exit 1; }
done

stage=$(mktemp -d /tmp/aegis-image-stage.XXXXXX)
trap 'rm -rf "$stage"' EXIT
mkdir -p "$stage/usr/local/bin" "$stage/etc/ssl/certs" "$stage/tmp" "$stage/var/lib/aegis"
chmod 1777 "$stage/tmp"
for e in "${executables[@]}"; do
    strip -o "$stage/usr/local/bin/$e" "$bin/$e"
done
# Every library ldd resolves (aegis-init is static: ldd says so and lists none), copied as a
# file (symlinks dereferenced) to the path the loader will open.
libs=$(for e in "${executables[@]}"; do ldd "$bin/$e" 2>/dev/null || true; done \
    | awk '/=> \// { print $3 } /^\t\/[^ ]+ \(/ { print $1 }' | sort -u)
for lib in $libs; do
    mkdir -p "$stage$(dirname "$lib")"
    cp -L "$lib" "$stage$lib"
done
cp -L /etc/ssl/certs/ca-certificates.crt "$stage/etc/ssl/certs/ca-certificates.crt"
printf 'root:x:0:0:root:/root:/usr/local/bin/aegis\n' >"$stage/etc/passwd"
printf 'root:x:0:\n' >"$stage/etc/group"

rm -rf "$out/layout" "$out/aegis-$tag.tar"
mkdir -p "$out"
umoci init --layout "$out/layout"
umoci new --image "$out/layout:$tag"
umoci insert --image "$out/layout:$tag" --history.created_by "scripts/build-image.sh" "$stage" /
umoci config --image "$out/layout:$tag" --os linux --architecture amd64 \
    --config.entrypoint /usr/local/bin/aegis --config.cmd up \
    --config.env PATH=/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin --config.workingdir / \
    --config.volume /var/lib/aegis \
    --config.label "org.opencontainers.image.version=$tag" \
    --config.label "org.opencontainers.image.title=aegis" \
    --history.created_by "scripts/build-image.sh: entrypoint"
umoci gc --layout "$out/layout"
tar -C "$out/layout" -cf "$out/aegis-$tag.tar" .
echo "oci:$out/layout:$tag"
echo "oci-archive:$out/aegis-$tag.tar:$tag"
