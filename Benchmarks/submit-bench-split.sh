#!/usr/bin/env bash
# submit-bench-split.sh — submit-bench with the controller (store, scheduler, API server) alone on
# CPU 1 and the HTTP clients in a second process on CPU 0, so the rate is what one core of
# controller sustains (the plain submit-bench runs both in one process).
# Usage: Benchmarks/submit-bench-split.sh [--nodes 5000] [--submissions 2000] [--rounds 3] [--concurrency 32]
# SUBMIT_BENCH=PATH runs that submit-bench binary (e.g. one built from another commit) instead of
# building this checkout's.
set -euo pipefail
repo=$(cd "$(dirname "$0")/.." && pwd)
cd "$repo"
bin=${SUBMIT_BENCH:-}
if [ -z "$bin" ]; then
    swift build -c release --product submit-bench >/dev/null
    bin=.build/release/submit-bench
fi
work=$(mktemp -d /tmp/submit-bench-split.XXXXXX)
server=
cleanup() {
    [ -n "$server" ] && kill -TERM "$server" 2>/dev/null && wait "$server" 2>/dev/null
    rm -rf "$work"
}
trap cleanup EXIT
taskset -c 1 "$bin" --serve "$work/url" "$@" &
server=$!
for _ in $(seq 1 1200); do
    [ -s "$work/url" ] && break
    kill -0 "$server" 2>/dev/null || { echo "submit-bench-split: the controller exited before it listened" >&2; exit 1; }
    sleep 0.1
done
[ -s "$work/url" ] || { echo "submit-bench-split: the controller did not listen within 120 s" >&2; exit 1; }
read -r url token <"$work/url"
cpu0=$(awk '{print $14 + $15}' "/proc/$server/stat")
taskset -c 0 "$bin" --client "$url" --token "$token" "$@"
cpu1=$(awk '{print $14 + $15}' "/proc/$server/stat")
echo "controller process CPU during the rounds: $(( (cpu1 - cpu0) * 10 )) ms (pinned to CPU 1)"
