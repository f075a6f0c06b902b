#!/usr/bin/env bash
# run.sh — sandbox start-up benchmark: bwrap, crun and aegis-runtime side by side in one hyperfine
# run, then aegis-bench (the in-process path the worker daemon uses). See Benchmarks/README.md.
#
#   Benchmarks/run.sh [--no-build] [--rounds N (3)] [--runs N (100)] [--iterations N (200)] [--rt]
#
# --rt runs hyperfine, aegis-bench and perf stat (and so every runner) under `chrt -f 10`: on a
# machine busy with other work this approximates a quiet one; say so when quoting such numbers.
#
# Needs root, hyperfine, bubblewrap, crun, busybox-static, python3, util-linux unshare.
# Writes Benchmarks/results/latest.json (not committed) and prints a summary table.
set -euo pipefail

HERE=$(cd "$(dirname "$0")" && pwd)
REPO=$(cd "$HERE/.." && pwd)
SCRATCH=${SCRATCH:-$REPO/.build-bench}
RUNS=100
ITERATIONS=200
ROUNDS=3
PRIO=""   # --rt: every timed process runs SCHED_FIFO (shields them from other CPU load)
BUILD=1
while [ $# -gt 0 ]; do
    case "$1" in
        --no-build) BUILD=0 ;;
        --runs) RUNS=$2; shift ;;
        --iterations) ITERATIONS=$2; shift ;;
        --rounds) ROUNDS=$2; shift ;;
        --rt) PRIO="chrt -f 10" ;;
        -h|--help) sed -n '2,12p' "$0"; exit 0 ;;
        *) echo "run.sh: unknown argument $1" >&2; exit 2 ;;
    esac
    shift
done

for tool in hyperfine bwrap crun unshare python3; do
    command -v "$tool" >/dev/null || { echo "run.sh: $tool not found (apt-get install hyperfine bubblewrap crun util-linux python3)" >&2; exit 1; }
done
[ "$(id -u)" = 0 ] || { echo "run.sh: must run as root (crun, aegis-runtime and the cgroup2 mount need it)" >&2; exit 1; }

# --- build (release: debug builds are several times slower and not what ships) ---
if [ "$BUILD" = 1 ]; then
    for product in aegis-runtime aegis-supervisor aegis-init aegis-bench; do
        (cd "$REPO" && swift build -c release --scratch-path "$SCRATCH" --product "$product")
    done
fi
BIN=$(cd "$REPO" && swift build -c release --scratch-path "$SCRATCH" --show-bin-path)
for exe in aegis-runtime aegis-supervisor aegis-init aegis-bench; do
    [ -x "$BIN/$exe" ] || { echo "run.sh: $BIN/$exe missing (run without --no-build)" >&2; exit 1; }
done

# --- one rootfs and one config.json for everybody ---
WORK=$(mktemp -d /tmp/aegis-bench-run.XXXXXX)
# State roots (crun --root, aegis-runtime --root, aegis-bench's) on a tmpfs, as /run is on a usual
# host (here /run is on the ext4 root, where aegis's fsync of state.json/outcome.json costs ~0.5 ms).
STATE_PARENT=${STATE_PARENT:-/dev/shm}
STATE=$(mktemp -d "$STATE_PARENT/aegis-bench-state.XXXXXX")
cleanup() {
    crun --root "$STATE/crun-root" delete -f bench-crun >/dev/null 2>&1 || true
    "$BIN/aegis-runtime" --root "$STATE/aegis-root" delete -f bench-aegis >/dev/null 2>&1 || true
    rm -rf "$WORK" "$STATE"
}
trap cleanup EXIT
BUNDLE=$WORK/bundle
mkdir -p "$BUNDLE" "$STATE/crun-root" "$STATE/aegis-root"
"$HERE/make-bundle.sh" "$BUNDLE" "$BIN/aegis-runtime"

# --- the commands (hyperfine -N splits these into words itself: no shell around them) ---
ROOTFS=$BUNDLE/rootfs
CMD_BWRAP="bwrap --unshare-all --ro-bind $ROOTFS / --proc /proc --dev /dev --tmpfs /tmp --cap-drop ALL /bin/true"
# crun refuses this hybrid host ("cgroups in hybrid mode not supported, drop all controllers from
# cgroupv2": hugetlb is on cgroup2). It runs inside a private mount namespace with a cgroup2-only
# /sys/fs/cgroup. $$ (the inner sh's pid) keeps ids unique; exec saves a fork.
CMD_CRUN_HYBRID="unshare -m sh -c 'mount -t cgroup2 none /sys/fs/cgroup && exec crun --cgroup-manager=disabled --root $STATE/crun-root run --bundle $BUNDLE bench-crun-\$\$'"
# The same dance with /bin/true instead of crun: subtracted from the above to estimate crun alone.
CMD_DANCE="unshare -m sh -c 'mount -t cgroup2 none /sys/fs/cgroup && exec /bin/true'"
CMD_CRUN_ALONE="crun --cgroup-manager=disabled --root $STATE/crun-root run --bundle $BUNDLE bench-crun"
# `run` deletes the container after it exits, so one id serves every sequential run.
CMD_AEGIS="$BIN/aegis-runtime --root $STATE/aegis-root run --bundle $BUNDLE bench-aegis"

# --- correctness first: each must run /bin/true and exit 0 (hyperfine runs without -i) ---
check() {  # name, command (shell syntax)
    local out rc=0
    out=$(cd "$WORK" && eval "$2" 2>&1) || rc=$?
    if [ "$rc" != 0 ]; then echo "run.sh: $1 failed (exit $rc): $out" >&2; return 1; fi
}
check bwrap "$CMD_BWRAP"
check crun-hybrid "$CMD_CRUN_HYBRID"
check cgroup2-mount-dance "$CMD_DANCE"
check aegis-runtime "$CMD_AEGIS"
# And that a failing process is reported as failing (so exit 0 above means /bin/true ran).
sed -i 's#"/bin/true"#"/bin/false"#' "$BUNDLE/config.json"
for c in "$CMD_CRUN_HYBRID" "$CMD_AEGIS"; do
    if (cd "$WORK" && eval "$c") >/dev/null 2>&1; then echo "run.sh: /bin/false exited 0 under: $c" >&2; exit 1; fi
done
if (bwrap --unshare-all --ro-bind "$ROOTFS" / --proc /proc --dev /dev --tmpfs /tmp --cap-drop ALL /bin/false) 2>/dev/null; then
    echo "run.sh: /bin/false exited 0 under bwrap" >&2; exit 1
fi
sed -i 's#"/bin/false"#"/bin/true"#' "$BUNDLE/config.json"

CRUN_ALONE_ERROR=""
if ! CRUN_ALONE_ERROR=$(cd "$WORK" && $CMD_CRUN_ALONE 2>&1); then
    echo "note: crun alone cannot run on this host: $CRUN_ALONE_ERROR" >&2
else
    CRUN_ALONE_ERROR=""
fi

# --- ROUNDS x (one hyperfine run side by side, then the in-process path) ---
# The machine is shared and noisy: several rounds, each with every runner, and the summary takes
# the median over rounds of each runner's median (and of each round's ratios).
RESULTS=$HERE/results
mkdir -p "$RESULTS"
LOAD_BEFORE=$(cut -d' ' -f1-3 /proc/loadavg)
for round in $(seq 1 "$ROUNDS"); do
    echo "=== round $round/$ROUNDS (load $(cut -d' ' -f1-3 /proc/loadavg))"
    args=(-N --warmup 10 --runs "$RUNS" --export-json "$WORK/hyperfine-$round.json"
          -n bwrap "$CMD_BWRAP"
          -n crun-hybrid "$CMD_CRUN_HYBRID"
          -n cgroup2-mount-dance "$CMD_DANCE"
          -n aegis-runtime-run "$CMD_AEGIS")
    if [ -z "$CRUN_ALONE_ERROR" ]; then args+=(-n crun-alone "$CMD_CRUN_ALONE"); fi
    (cd "$WORK" && $PRIO hyperfine "${args[@]}")
    $PRIO "$BIN/aegis-bench" --iterations "$ITERATIONS" --warmup 20 --rootfs "$ROOTFS" --state-parent "$STATE" \
        --json "$WORK/inprocess-$round.json" | grep -v '^{'
done

# --- CPU time per start (user + kernel, all processes of the run: perf stat follows forks, also
# the double-forked supervisor that hyperfine's rusage columns miss). Much less sensitive to the
# machine's load than wall time.
: > "$WORK/cpu.txt"
if command -v perf >/dev/null && perf stat -e task-clock true >/dev/null 2>&1; then
    cpu_of() {  # name, command (shell syntax)
        local ms
        ms=$(cd "$WORK" && eval "$PRIO perf stat -x, -r 30 -e task-clock -- $2" 2>&1 >/dev/null | awk -F, '/task-clock/ {print $1}')
        echo "$1=$ms" >> "$WORK/cpu.txt"
    }
    cpu_of bwrap "$CMD_BWRAP"
    cpu_of crun-hybrid "$CMD_CRUN_HYBRID"
    cpu_of cgroup2-mount-dance "$CMD_DANCE"
    cpu_of aegis-runtime-run "$CMD_AEGIS"
    # In-process: (220 iterations - 20 iterations) / 200, so the bench's own start-up cancels out.
    bench_cpu() { $PRIO perf stat -x, -e task-clock "$BIN/aegis-bench" --iterations "$1" --warmup 0 --rootfs "$ROOTFS" \
                      --state-parent "$STATE" 2>&1 >/dev/null | awk -F, '/task-clock/ {print $1}'; }
    a=$(bench_cpu 20); b=$(bench_cpu 220)
    echo "aegis-bench create+wait+delete=$(python3 -c "import sys; print((float(sys.argv[2]) - float(sys.argv[1])) / 200)" "$a" "$b")" >> "$WORK/cpu.txt"
fi
LOAD_AFTER=$(cut -d' ' -f1-3 /proc/loadavg)

# --- summary ---
python3 "$HERE/summarize.py" --out "$RESULTS/latest.json" --rounds "$ROUNDS" --dir "$WORK" \
    --load-before "$LOAD_BEFORE" --load-after "$LOAD_AFTER" --state-parent "$STATE_PARENT" \
    --crun-alone-error "$CRUN_ALONE_ERROR" --cpu "$WORK/cpu.txt" --priority "${PRIO:-default (SCHED_OTHER)}"
