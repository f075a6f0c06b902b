#!/usr/bin/env bash
# profile.sh — where aegis-runtime's and the in-process path's time goes (see Benchmarks/README.md):
#   1. process start-up: `aegis-runtime state nonexistent` (dynamic and --static-swift-stdlib
#      builds) vs `crun state nonexistent` and `crun --version`
#   1b. start-up CPU time of Swift floors (empty main, + FoundationEssentials) vs the above
#   2. `aegis-runtime run` dynamic vs static, side by side
#   3. dynamic-linker statistics (LD_DEBUG=statistics)
#   4. CPU time per run (perf stat task-clock, page faults, context switches)
#   5. one `aegis-runtime run` under strace -f -ttt, cut into phases (strace inflates every
#      syscall by ~0.05-0.1 ms: read the split, not the absolute numbers)
#   6. aegis-bench --phases (config.json parse, validation, seccomp compile, cache lookup, fork)
#      and the CPU time of one in-process spawn
#   7. seccomp(2) install time of the default profile's program, and linear vs binary-tree
#      libseccomp filters (tools/seccomp-install-cost.c; needs cc and libseccomp-dev)
#   8. the in-process spawn's timeline from perf trace (spawn-timeline.py)
#
#   Benchmarks/profile.sh [--no-build] [--runs N (200)] [--rt (measure under chrt -f 10)]
# Output: Benchmarks/results/profile-latest.txt (not committed) and stdout.
set -euo pipefail

HERE=$(cd "$(dirname "$0")" && pwd)
REPO=$(cd "$HERE/.." && pwd)
SCRATCH=${SCRATCH:-$REPO/.build-bench}
SCRATCH_STATIC=${SCRATCH_STATIC:-$REPO/.build-bench-static}
RUNS=200
BUILD=1
RT=0
while [ $# -gt 0 ]; do
    case "$1" in
        --no-build) BUILD=0 ;;
        --rt) RT=1 ;;
        --runs) RUNS=$2; shift ;;
        -h|--help) sed -n '2,18p' "$0"; exit 0 ;;
        *) echo "profile.sh: unknown argument $1" >&2; exit 2 ;;
    esac
    shift
done
for tool in hyperfine crun strace python3; do
    command -v "$tool" >/dev/null || { echo "profile.sh: $tool not found" >&2; exit 1; }
done

if [ "$BUILD" = 1 ]; then
    for product in aegis-runtime aegis-supervisor aegis-bench; do
        (cd "$REPO" && swift build -c release --scratch-path "$SCRATCH" --product "$product")
    done
    for product in aegis-runtime aegis-supervisor; do
        (cd "$REPO" && swift build -c release --static-swift-stdlib --scratch-path "$SCRATCH_STATIC" --product "$product")
    done
fi
if [ "$RT" = 1 ]; then  # measure everything below under SCHED_FIFO (not the builds above)
    AEGIS_PROFILE_SCHED="SCHED_FIFO 10 (chrt -f 10)" exec chrt -f 10 "$0" --no-build --runs "$RUNS"
fi
BIN=$(cd "$REPO" && swift build -c release --scratch-path "$SCRATCH" --show-bin-path)
SBIN=$(cd "$REPO" && swift build -c release --static-swift-stdlib --scratch-path "$SCRATCH_STATIC" --show-bin-path)
for exe in "$BIN/aegis-runtime" "$BIN/aegis-bench" "$SBIN/aegis-runtime" "$SBIN/aegis-supervisor"; do
    [ -x "$exe" ] || { echo "profile.sh: $exe missing (run without --no-build)" >&2; exit 1; }
done

WORK=$(mktemp -d /tmp/aegis-profile.XXXXXX)
STATE=$(mktemp -d "${STATE_PARENT:-/dev/shm}/aegis-profile-state.XXXXXX")
trap 'rm -rf "$WORK" "$STATE"' EXIT
BUNDLE=$WORK/bundle
mkdir -p "$BUNDLE" "$STATE/aegis" "$STATE/aegis-static" "$STATE/crun"
"$HERE/make-bundle.sh" "$BUNDLE" "$BIN/aegis-runtime"
mkdir -p "$HERE/results"
OUT=$HERE/results/profile-latest.txt
exec > >(tee "$OUT") 2>&1
echo "profile.sh $(date -u +%FT%TZ) $(uname -r) $(nproc) cpus, load $(cut -d' ' -f1-3 /proc/loadavg), scheduling: ${AEGIS_PROFILE_SCHED:-default}"

echo; echo "== 1. start-up (state of a nonexistent container: exits 1, hence -i)"
hyperfine -N -i --warmup 10 --runs "$RUNS" --export-json "$WORK/startup.json" \
    -n "crun --version" "crun --version" \
    -n "crun state" "crun --root $STATE/crun state nonexistent" \
    -n "aegis-runtime state (dynamic)" "$BIN/aegis-runtime --root $STATE/aegis state nonexistent" \
    -n "aegis-runtime state (static stdlib)" "$SBIN/aegis-runtime --root $STATE/aegis-static state nonexistent"

if command -v perf >/dev/null && perf stat -e task-clock true >/dev/null 2>&1 && command -v swiftc >/dev/null; then
    echo; echo "== 1b. start-up CPU (perf stat task-clock, 100 runs): Swift floors vs aegis-runtime vs crun"
    printf '#if canImport(Glibc)\nimport Glibc\n#endif\nexit(CommandLine.arguments.count > 5 ? 1 : 0)\n' > "$WORK/empty.swift"
    printf 'import FoundationEssentials\nstruct S: Decodable { let a: Int }\nlet s = try! JSONDecoder().decode(S.self, from: Data("{\\"a\\":1}".utf8))\nprint(s.a > 1 ? "x" : "", terminator: "")\n' > "$WORK/fe.swift"
    for f in empty fe; do
        swiftc -O "$WORK/$f.swift" -o "$WORK/$f" 2>/dev/null
        swiftc -O -static-stdlib "$WORK/$f.swift" -o "$WORK/$f-static" 2>/dev/null
    done
    while IFS='|' read -r label cmd; do
        printf '   %-62s' "$label"
        { perf stat -x, -r 100 -e task-clock $cmd 2>&1 >/dev/null || true; } | awk -F, '/task-clock/ {printf "%6.2f ms CPU\n", $1}'
    done <<LIST
/bin/true (C floor)|/bin/true
Swift, empty main (dynamic stdlib)|$WORK/empty
Swift, empty main (static stdlib)|$WORK/empty-static
Swift + FoundationEssentials JSONDecoder (dynamic)|$WORK/fe
Swift + FoundationEssentials JSONDecoder (static)|$WORK/fe-static
crun state nonexistent|crun --root $STATE/crun state nonexistent
aegis-runtime state nonexistent (dynamic)|$BIN/aegis-runtime --root $STATE/aegis state nonexistent
aegis-runtime state nonexistent (static stdlib)|$SBIN/aegis-runtime --root $STATE/aegis-static state nonexistent
LIST
fi

echo; echo "== 2. aegis-runtime run: dynamic vs static Swift stdlib"
hyperfine -N --warmup 10 --runs "$RUNS" --export-json "$WORK/run.json" \
    -n "aegis-runtime run (dynamic)" "$BIN/aegis-runtime --root $STATE/aegis run --bundle $BUNDLE prof" \
    -n "aegis-runtime run (static stdlib)" "$SBIN/aegis-runtime --root $STATE/aegis-static run --bundle $BUNDLE prof"

echo; echo "== 2b. without linux.seccomp: crun compiles the profile with libseccomp on every run; aegis-runtime reads a cached program"
mkdir -p "$WORK/noseccomp"
ln -s "$BUNDLE/rootfs" "$WORK/noseccomp/rootfs"
python3 -c 'import json,sys; c=json.load(open(sys.argv[1])); c["linux"].pop("seccomp"); json.dump(c, open(sys.argv[2], "w"))' \
    "$BUNDLE/config.json" "$WORK/noseccomp/config.json"
hyperfine -N --warmup 10 --runs "$RUNS" --export-json "$WORK/noseccomp.json" \
    -n "crun-hybrid (seccomp)" "unshare -m sh -c 'mount -t cgroup2 none /sys/fs/cgroup && exec crun --cgroup-manager=disabled --root $STATE/crun run --bundle $BUNDLE c-\$\$'" \
    -n "crun-hybrid (no seccomp)" "unshare -m sh -c 'mount -t cgroup2 none /sys/fs/cgroup && exec crun --cgroup-manager=disabled --root $STATE/crun run --bundle $WORK/noseccomp c-\$\$'" \
    -n "aegis-runtime run (seccomp)" "$BIN/aegis-runtime --root $STATE/aegis run --bundle $BUNDLE prof" \
    -n "aegis-runtime run (no seccomp)" "$BIN/aegis-runtime --root $STATE/aegis run --bundle $WORK/noseccomp prof"

MHZ=$(awk -F: '/^cpu MHz/ {print $2; exit}' /proc/cpuinfo)
echo; echo "== 3. dynamic linker (LD_DEBUG=statistics, one run each; cycles are TSC cycles, ~$(echo $MHZ) MHz)"
for exe in "$BIN/aegis-runtime" "$SBIN/aegis-runtime" "$(command -v crun)"; do
    echo "-- $exe: $(ldd "$exe" 2>/dev/null | wc -l) shared objects"
    LD_DEBUG=statistics "$exe" --root "$STATE/crun" state nonexistent 2>&1 \
        | grep -E "total startup time|time needed for relocation|number of relocations:" | head -3 \
        | sed 's/^ *[0-9]*:[[:space:]]*//' | awk -v mhz="$MHZ" '{ for (i = 1; i <= NF; i++) if ($i == "cycles") { printf "   %s  (%.2f ms)\n", $0, $(i-1) / mhz / 1000; next } print "   " $0 }' || true
done

echo; echo "== 4. CPU per run (perf stat, 50 runs; task-clock is CPU time of all processes)"
if command -v perf >/dev/null && perf stat -e task-clock true >/dev/null 2>&1; then
    for label in dynamic static; do
        exe=$BIN/aegis-runtime; root=$STATE/aegis
        [ $label = static ] && exe=$SBIN/aegis-runtime && root=$STATE/aegis-static
        echo "-- aegis-runtime run ($label)"
        perf stat -r 50 -e task-clock,page-faults,context-switches,cpu-migrations \
            "$exe" --root "$root" run --bundle "$BUNDLE" prof 2>&1 | grep -E "task-clock|page-faults|context|elapsed"
    done
    echo "-- crun run (inside the cgroup2 mount namespace)"
    perf stat -r 50 -e task-clock,page-faults,context-switches \
        unshare -m sh -c "mount -t cgroup2 none /sys/fs/cgroup && exec crun --cgroup-manager=disabled --root $STATE/crun run --bundle $BUNDLE prof-crun" \
        2>&1 | grep -E "task-clock|page-faults|context|elapsed"
    echo "-- the cgroup2 mount dance alone (unshare -m, sh, mount, exec /bin/true)"
    perf stat -r 50 -e task-clock,page-faults,context-switches \
        unshare -m sh -c "mount -t cgroup2 none /sys/fs/cgroup && exec /bin/true" \
        2>&1 | grep -E "task-clock|page-faults|context|elapsed"
    echo "-- bwrap"
    perf stat -r 50 -e task-clock,page-faults,context-switches \
        bwrap --unshare-all --ro-bind "$BUNDLE/rootfs" / --proc /proc --dev /dev --tmpfs /tmp --cap-drop ALL /bin/true \
        2>&1 | grep -E "task-clock|page-faults|context|elapsed"
else
    echo "perf not usable here"
fi

echo; echo "== 5. one aegis-runtime run under strace -f -ttt (inflated; phases only)"
for i in 1 2 3; do "$BIN/aegis-runtime" --root "$STATE/aegis" run --bundle "$BUNDLE" prof; done  # warm caches
strace -f -ttt -o "$WORK/strace.txt" "$BIN/aegis-runtime" --root "$STATE/aegis" run --bundle "$BUNDLE" prof
python3 "$HERE/strace-phases.py" "$WORK/strace.txt"
echo "-- syscalls per run: aegis-runtime run vs crun run"
strace -f -c -o "$WORK/aegis-c.txt" "$BIN/aegis-runtime" --root "$STATE/aegis" run --bundle "$BUNDLE" prof
strace -f -c -o "$WORK/crun-c.txt" unshare -m sh -c "mount -t cgroup2 none /sys/fs/cgroup && exec crun --cgroup-manager=disabled --root $STATE/crun run --bundle $BUNDLE prof-crun"
echo "   aegis-runtime: $(tail -1 "$WORK/aegis-c.txt" | awk '{print $4, "calls"}')   crun (+unshare, sh, mount): $(tail -1 "$WORK/crun-c.txt" | awk '{print $4, "calls"}')"

echo; echo "== medians of the hyperfine runs above"
python3 "$HERE/summarize.py" --medians "$WORK/startup.json" "$WORK/run.json" "$WORK/noseccomp.json"

echo; echo "== 6. in-process phases (aegis-bench --phases)"
"$BIN/aegis-bench" --iterations 100 --warmup 10 --rootfs "$BUNDLE/rootfs" --state-parent "$STATE" --phases | grep -v '^{'
if command -v perf >/dev/null && perf stat -e task-clock true >/dev/null 2>&1; then
    echo; echo "== 6b. CPU per in-process spawn: task-clock of aegis-bench (220 - 20 iterations) / 200"
    cpu() { perf stat -x, -e task-clock "$BIN/aegis-bench" --iterations "$1" --warmup 0 --rootfs "$BUNDLE/rootfs" \
                --state-parent "$STATE" 2>&1 >/dev/null | awk -F, '/task-clock/ {print $1}'; }
    a=$(cpu 20); b=$(cpu 220)
    python3 -c "import sys; a, b = float(sys.argv[1]), float(sys.argv[2]); print(f'   {(b - a) / 200:.2f} ms CPU per create+wait+delete (all processes, user+kernel)')" "$a" "$b"
fi

echo; echo "== 7. seccomp(2) install cost of the default profile (kernel: classic BPF -> eBPF, JIT, and the"
echo "      action cache, which emulates the filter for every syscall number of each arch)"
if cc -O2 -o "$WORK/seccomp-install-cost" "$HERE/tools/seccomp-install-cost.c" -lseccomp 2>"$WORK/cc.log"; then
    cached=$(ls "$STATE"/aegis/.seccomp/*.bpf | head -1)
    python3 - "$cached" "$WORK/names.txt" <<'PY'
import json, sys
b = open(sys.argv[1], "rb").read()
n = int.from_bytes(b[16:20], "little")
profile = json.loads(b[20:20 + n].split(b"|libseccomp")[0])
names = [x for s in profile["syscalls"] if s["action"] == "SCMP_ACT_ALLOW" and not s.get("args") for x in s["names"]]
open(sys.argv[2], "w").write("\n".join(names) + "\n")
PY
    echo "-- the program aegis-runtime installs (cached, as compiled by AegisSeccomp):"
    "$WORK/seccomp-install-cost" cached "$cached" 300
    echo "-- libseccomp, same unconditional allow list, linear (optimize=1) vs binary tree (optimize=2):"
    "$WORK/seccomp-install-cost" libseccomp "$WORK/names.txt" 1 300
    "$WORK/seccomp-install-cost" libseccomp "$WORK/names.txt" 2 300
else
    echo "cc failed: $(cat "$WORK/cc.log")"
fi

if command -v perf >/dev/null && perf trace -e exit_group true >/dev/null 2>&1; then
    echo; echo "== 8. in-process spawn timeline (perf trace of aegis-bench, 100 sandboxes)"
    perf trace -e clone,clone3,execve,seccomp,exit_group,wait4 -o "$WORK/ptrace.txt" \
        "$BIN/aegis-bench" --iterations 100 --warmup 5 --rootfs "$BUNDLE/rootfs" --state-parent "$STATE" >/dev/null
    python3 "$HERE/spawn-timeline.py" "$WORK/ptrace.txt"
fi

echo; echo "written: $OUT"
