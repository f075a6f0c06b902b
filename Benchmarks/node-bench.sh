#!/usr/bin/env bash
# node-bench.sh — single-node cluster benchmarks (release build):
#   1. submit → exit code: `aegis run -- /bin/true` against a running node, side by side in one
#      hyperfine run with `crun run` of the same command (crun as it must run on a hybrid-cgroup
#      host: private mount namespace + cgroup2 mounted + --cgroup-manager=disabled).
#   2. idle RSS of a hybrid node, and host-side memory per running sandbox (PSS of its supervisor
#      and of its init, the daemon's RSS growth), with N sleeping agents.
# Usage: Benchmarks/node-bench.sh [--runs 50] [--agents 20]
set -euo pipefail
runs=50 agents=20
while [ $# -gt 0 ]; do case "$1" in --runs) runs=$2; shift 2;; --agents) agents=$2; shift 2;; *) echo "usage: $0 [--runs N] [--agents N]" >&2; exit 2;; esac; done
repo=$(cd "$(dirname "$0")/.." && pwd)
cd "$repo"
swift build -c release --product aegis >/dev/null
swift build -c release --product aegis-supervisor >/dev/null
swift build -c release --product aegis-runtime >/dev/null
bin=$(swift build -c release --show-bin-path)
work=$(mktemp -d /dev/shm/aegis-node-bench.XXXXXX)
data=$work/data
cleanup() {
    [ -f "$data/aegis.pid" ] && "$bin/aegis" down --data-dir "$data" >/dev/null 2>&1 || true
    rmdir "/sys/fs/cgroup/unified/aegis-node-bench-$$" "/sys/fs/cgroup/aegis-node-bench-$$" 2>/dev/null || true
    rm -rf "$work"
}
trap cleanup EXIT
mkdir -p "$data"
"$bin/aegis" up --data-dir "$data" --api-port 0 --cgroup-parent "aegis-node-bench-$$" --log-level warning >"$work/node.log" 2>&1 &
for _ in $(seq 1 100); do [ -S "$data/aegis.sock" ] && break; sleep 0.1; done
export AEGIS_DATA_DIR=$data
sleep 1
pid=$(cat "$data/aegis.pid")
idle_rss=$(awk '/VmRSS/{print $2}' /proc/$pid/status)

Benchmarks/make-rootfs.sh "$work/bundle" >/dev/null
Benchmarks/make-bundle.sh "$work/bundle" "$bin/aegis-runtime" >/dev/null
crun_cmd="unshare -m sh -c 'mount -t cgroup2 none /sys/fs/cgroup && exec crun --cgroup-manager=disabled --root $work/crun run --bundle $work/bundle bench-\$\$'"
hyperfine -N --warmup 5 --runs "$runs" --export-json "$work/hyperfine.json" \
    -n "aegis run -- /bin/true" "$bin/aegis run -- /bin/true" \
    -n "crun run (as it must run here)" "$crun_cmd" >&2

# Memory per sandbox: N agents sleeping.
rss0=$(awk '/VmRSS/{print $2}' /proc/$pid/status)
for _ in $(seq 1 "$agents"); do "$bin/aegis" run --detach -- sleep 300 >/dev/null; done
sleep 2
rss1=$(awk '/VmRSS/{print $2}' /proc/$pid/status)
sup=$(for s in $(pgrep -f "^$bin/aegis-supervisor"); do awk '/^Pss:/{print $2}' /proc/$s/smaps_rollup; done | awk '{s+=$1;n++} END{printf "%d %.0f", n, (n? s/n : 0)}')
init=$(for p in $(pgrep -f "aegis up --data-dir $data"); do [ "$p" = "$pid" ] && continue; awk '/^Pss:/{print $2}' /proc/$p/smaps_rollup; done | awk '{s+=$1;n++} END{printf "%d %.0f", n, (n? s/n : 0)}')
python3 - "$work/hyperfine.json" "$idle_rss" "$rss0" "$rss1" "$agents" $sup $init <<'PY'
import json, sys
h = json.load(open(sys.argv[1]))["results"]
idle, rss0, rss1, n, nsup, sup, ninit, init = sys.argv[2:]
med = {r["command"]: r["median"] * 1000 for r in h}
a, c = med["aegis run -- /bin/true"], med["crun run (as it must run here)"]
print(f"submit → exit (aegis run -- /bin/true): median {a:.1f} ms; crun run as it must run here: {c:.1f} ms; ratio {a/c:.2f}")
print(f"idle hybrid node RSS: {int(idle)/1024:.1f} MiB")
print(f"per sandbox ({n} sleeping agents): daemon RSS +{(int(rss1)-int(rss0))/int(n):.0f} KiB, "
      f"supervisor PSS {sup} KiB ({nsup} found), init PSS {init} KiB ({ninit} found), "
      f"total {(int(rss1)-int(rss0))/int(n) + int(sup) + int(init):.0f} KiB")
PY
