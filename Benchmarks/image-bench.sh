#!/usr/bin/env bash
# image-bench.sh — pull + unpack of one multi-layer image from a registry on 127.0.0.1 (Debian's
# docker-registry), side by side in one run: `aegis image pull` vs the peer pipeline
# `skopeo copy docker://… oci:DIR` followed by `umoci unpack`. Wall time and peak RSS (GNU time's
# %M: the largest process of the run) per round, medians and ratios at the end.
# The image: layer 1 is a Python standard library (many small files, /usr/lib/python3.11),
# layer 2 is RANDOM_MB of random bytes in 4 files (incompressible), layer 3 a whiteout and an
# opaque directory over layer 1. gzip layers (skopeo and umoci's common case).
# Usage: Benchmarks/image-bench.sh [--rounds 5] [--random-mb 256]
set -euo pipefail
repo=$(cd "$(dirname "$0")/.." && pwd)
rounds=5
random_mb=256
while [ $# -gt 0 ]; do
    case "$1" in
        --rounds) rounds=$2; shift ;;
        --random-mb) random_mb=$2; shift ;;
        *) echo "image-bench: unknown argument $1" >&2; exit 2 ;;
    esac
    shift
done
for tool in docker-registry skopeo umoci /usr/bin/time python3; do
    command -v "$tool" >/dev/null || { echo "image-bench: $tool is missing (scripts/install-deps.sh)" >&2; exit 1; }
done
cd "$repo"
swift build -c release --product aegis >/dev/null
aegis=$repo/.build/release/aegis
work=$(mktemp -d /tmp/image-bench.XXXXXX)
registry_pid=
cleanup() {
    [ -n "$registry_pid" ] && kill "$registry_pid" 2>/dev/null && wait "$registry_pid" 2>/dev/null
    rm -rf "$work"
}
trap cleanup EXIT

port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
cat >"$work/registry.yml" <<YAML
version: 0.1
storage:
  filesystem:
    rootdirectory: $work/registry
http:
  addr: 127.0.0.1:$port
YAML
docker-registry serve "$work/registry.yml" >"$work/registry.log" 2>&1 &
registry_pid=$!
for _ in $(seq 1 100); do
    python3 -c "import socket; socket.create_connection(('127.0.0.1',$port),0.2)" 2>/dev/null && break
    sleep 0.1
done

# The image, built as a raw tar per layer and pushed with skopeo.
mkdir -p "$work/layers"
tar -C / -cf "$work/layers/l1.tar" usr/lib/python3.11 2>/dev/null
python3 - "$work/layers/l2.tar" "$random_mb" <<'PY'
import io, os, sys, tarfile
with tarfile.open(sys.argv[1], "w") as t:
    per = int(sys.argv[2]) * (1 << 20) // 4
    for i in range(4):
        info = tarfile.TarInfo(f"data/random{i}.bin"); info.size = per
        t.addfile(info, io.BytesIO(os.urandom(per)))
PY
python3 - "$work/layers/l3.tar" <<'PY'
import io, sys, tarfile
with tarfile.open(sys.argv[1], "w") as t:
    for name in ["usr/lib/python3.11/.wh.os.py", "usr/lib/python3.11/email/.wh..wh..opq", "usr/lib/python3.11/email/new.py"]:
        info = tarfile.TarInfo(name); t.addfile(info, io.BytesIO(b""))
PY
python3 "$repo/Tests/AegisImageTests/Fixtures/make-image.py" "$work/layout" --tag bench \
    --layer-tar "$work/layers/l1.tar" --layer-tar "$work/layers/l2.tar" --layer-tar "$work/layers/l3.tar" >/dev/null
skopeo copy --quiet --dest-tls-verify=false "oci:$work/layout:bench" "docker://127.0.0.1:$port/bench/image:bench"
ref="127.0.0.1:$port/bench/image:bench"
echo "image: $(du -sh "$work/layout/blobs" | cut -f1) compressed, 3 layers; $rounds rounds"

measure() { # name, command… → "seconds maxrss_kib"
    local name=$1; shift
    /usr/bin/time -f "%e %M" -o "$work/time.$name" "$@" >/dev/null 2>"$work/err.$name" || {
        echo "image-bench: $name failed:" >&2; cat "$work/err.$name" >&2; exit 1; }
    cat "$work/time.$name"
}
: >"$work/aegis.txt"
: >"$work/peer.txt"
for r in $(seq 1 "$rounds"); do
    rm -rf "$work/aegis-data" "$work/peer-oci" "$work/peer-bundle"
    a=$(measure aegis "$aegis" image pull -q --data-dir "$work/aegis-data" --insecure-registry "127.0.0.1:$port" "$ref")
    sync
    s=$(measure skopeo skopeo copy --quiet --src-tls-verify=false "docker://$ref" "oci:$work/peer-oci:bench")
    u=$(measure umoci umoci unpack --image "$work/peer-oci:bench" "$work/peer-bundle")
    sync
    peer_s=$(python3 -c "print(round(${s% *} + ${u% *}, 2))")
    peer_rss=$(( ${s#* } > ${u#* } ? ${s#* } : ${u#* } ))
    echo "round $r: aegis ${a% *} s, ${a#* } KiB peak RSS | skopeo+umoci $peer_s s (skopeo ${s% *} + umoci ${u% *}), ${peer_rss} KiB peak RSS"
    echo "$a" >>"$work/aegis.txt"
    echo "$peer_s $peer_rss" >>"$work/peer.txt"
done
python3 - "$work/aegis.txt" "$work/peer.txt" <<'PY'
import statistics, sys
a = [tuple(map(float, l.split())) for l in open(sys.argv[1])]
p = [tuple(map(float, l.split())) for l in open(sys.argv[2])]
at, ar = statistics.median(x[0] for x in a), statistics.median(x[1] for x in a)
pt, pr = statistics.median(x[0] for x in p), statistics.median(x[1] for x in p)
print(f"median: aegis {at:.2f} s, {ar/1024:.0f} MiB peak RSS | skopeo+umoci {pt:.2f} s, {pr/1024:.0f} MiB peak RSS")
print(f"ratio (aegis / peer): time {at/pt:.2f}x, peak RSS {ar/pr:.2f}x")
PY
