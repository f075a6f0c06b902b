#!/usr/bin/env bash
# Extra start latency of network mode egress over none (issue: ≤ 10 ms on this machine).
# Runs aegis-bench --egress inside a network namespace made for the run (the bench creates a bridge,
# nft tables and sets ip_forward there, never on the host) and removes it afterwards.
# Usage: Benchmarks/egress-bench.sh [--iterations N] [--rounds R]   (as root, after `swift build -c release`)
set -euo pipefail
cd "$(dirname "$0")/.."
iterations=200 rounds=3
while (($#)); do
    case "$1" in
        --iterations) iterations=$2; shift 2 ;;
        --rounds) rounds=$2; shift 2 ;;
        *) echo "usage: $0 [--iterations N] [--rounds R]" >&2; exit 2 ;;
    esac
done
bin=.build/release/aegis-bench
[ -x "$bin" ] || swift build -c release --product aegis-bench >/dev/null
ns="aegis-bench-$$"
ip netns add "$ns"
trap 'ip netns del "$ns" 2>/dev/null || true' EXIT
ip -n "$ns" link set lo up
for r in $(seq 1 "$rounds"); do
    echo "== round $r"
    nsenter --net="/run/netns/$ns" -- "$bin" --egress --init --iterations "$iterations" --warmup 20 --state-parent /dev/shm | grep -v '^{'
done
