#!/usr/bin/env bash
# Runs the OCI runtime-tools validation suite (its validation/*/*.t TAP programs) against
# aegis-runtime (built from this repo) and crun, side by side, and prints a per-program table.
#
#   scripts/oci-validation.sh RUNTIME_TOOLS_CHECKOUT [--runtime aegis|crun|both] [--ref REF]
#                             [--results DIR] [--timeout SECONDS] [--only PROG[,PROG…]]
#
# RUNTIME_TOOLS_CHECKOUT (or $RUNTIME_TOOLS_DIR) is a checkout of opencontainers/runtime-tools; this
# script never downloads it. Without one it prints how to get it and exits 0 ("skipped").
# Environment:
#   OCI_VALIDATION_CACHE  keep the built suite here (one directory per runtime-tools commit) and
#                         reuse it on the next run; without it the suite is built in a temporary
#                         directory that is removed at exit.
#   AEGIS_BIN_DIR         use aegis-runtime/aegis-supervisor/aegis-init from this directory instead of
#                         running `swift build`.
# Each program runs as root from the suite's build directory (it needs runtimetest and the rootfs
# tarball there) with RUNTIME pointing at a wrapper that gives each runtime a private state root:
#   aegis: aegis-runtime --root STATE …      crun: crun --root STATE [--cgroup-manager=disabled] …
# On a hybrid cgroup host each runtime call runs in a private mount namespace whose /sys/fs/cgroup is
# only the cgroup2 hierarchy (crun refuses hybrid mode while cgroup2 has a controller, and the
# host's v1 hierarchies must stay untouched); see "the runtimes" below.
# Raw TAP (stdout) and stderr of every program land in RESULTS/<runtime>/<program>.{tap,stderr};
# RESULTS/table.txt holds the table, RESULTS/results.tsv one row per run (for diffing two runs), and
# RESULTS/aegis-only-failures.txt the failing assertions of the programs crun passes and
# aegis-runtime does not.
set -euo pipefail

repo=$(cd "$(dirname "$0")/.." && pwd)
# The newest runtime-tools commit that Debian 12's Go 1.19 builds (later ones need Go 1.21's
# standard library); used when the local Go is older than the checkout's go.mod asks for.
go119_ref=260e151

usage() { sed -n '2,15p' "$0" | sed 's/^# \{0,1\}//'; }
die() { echo "oci-validation: $*" >&2; exit 2; }

checkout=${RUNTIME_TOOLS_DIR:-}
which_runtimes=both
ref=
results=
timeout_s=${OCI_VALIDATION_TIMEOUT:-180}
only=
while [ $# -gt 0 ]; do
    case "$1" in
        --runtime) which_runtimes=${2:?--runtime needs aegis, crun or both}; shift 2 ;;
        --runtime=*) which_runtimes=${1#*=}; shift ;;
        --ref) ref=${2:?--ref needs a commit}; shift 2 ;;
        --results) results=${2:?--results needs a directory}; shift 2 ;;
        --timeout) timeout_s=${2:?--timeout needs seconds}; shift 2 ;;
        --only) only=${2:?--only needs program names}; shift 2 ;;
        -h|--help) usage; exit 0 ;;
        -*) die "unknown option $1 (see --help)" ;;
        *) checkout=$1; shift ;;
    esac
done
case "$which_runtimes" in
    aegis) runtimes=(aegis) ;; crun) runtimes=(crun) ;; both) runtimes=(aegis crun) ;;
    *) die "--runtime: \"$which_runtimes\" is not aegis, crun or both" ;;
esac
[[ "$timeout_s" =~ ^[1-9][0-9]*$ ]] || die "--timeout: \"$timeout_s\" is not a positive number of seconds"

if [ -z "$checkout" ] || [ ! -d "$checkout/validation" ]; then
    echo "oci-validation: skipped: no runtime-tools checkout${checkout:+ at $checkout (no validation/ in it)}."
    echo "  Get one with: git clone https://github.com/opencontainers/runtime-tools /tmp/runtime-tools"
    echo "  then run:     $0 /tmp/runtime-tools   (or set RUNTIME_TOOLS_DIR)"
    exit 0
fi
checkout=$(cd "$checkout" && pwd)
[ "$(id -u)" = 0 ] || die "the validation programs create containers: run as root"
for tool in go make tar timeout; do
    command -v "$tool" >/dev/null || die "$tool not found (apt-get install golang-go make tar coreutils)"
done
if [[ " ${runtimes[*]} " == *" crun "* ]]; then
    command -v crun >/dev/null || die "crun not found (apt-get install crun)"
fi

work=$(mktemp -d /tmp/oci-validation.XXXXXX)
chmod 755 "$work"  # bundles live below it: a user namespace's root must reach them, as in /tmp
build=
cleanup() {
    for rt in "${runtimes[@]}"; do
        [ -x "$work/$rt" ] && remove_leftovers "$rt" >/dev/null 2>&1
    done
    rm -rf --one-file-system "$work"
    if [ -z "${OCI_VALIDATION_CACHE:-}" ] && [ -n "$build" ]; then rm -rf --one-file-system "$build"; fi
}
trap cleanup EXIT

# --- the suite: pick the commit, copy it into the build directory, build it offline --------------

go_minor() { local m; m=$(sed -n 's/^go 1\.\([0-9]*\).*/\1/p' "$1" | head -1); echo "${m:-0}"; }
local_go_minor=$(go env GOVERSION | sed -n 's/^go1\.\([0-9]*\).*/\1/p')
if git -C "$checkout" rev-parse --git-dir >/dev/null 2>&1; then
    if [ -z "$ref" ]; then
        ref=HEAD
        git -C "$checkout" show HEAD:go.mod > "$work/go.mod"
        if [ "$(go_minor "$work/go.mod")" -gt "$local_go_minor" ]; then
            git -C "$checkout" cat-file -e "$go119_ref^{commit}" 2>/dev/null ||
                die "go 1.$local_go_minor is older than the checkout's go.mod asks for, and the checkout lacks $go119_ref; pass --ref"
            echo "oci-validation: note: go 1.$local_go_minor cannot build runtime-tools HEAD (go.mod: go 1.$(go_minor "$work/go.mod")); using $go119_ref (pass --ref to choose)"
            ref=$go119_ref
        fi
    fi
    commit=$(git -C "$checkout" rev-parse --verify "$ref^{commit}") || die "--ref $ref: not a commit in $checkout"
    suite_key=$commit
else
    [ -z "$ref" ] || die "--ref needs a git checkout ($checkout is not one)"
    commit="(not a git checkout)"
    suite_key=copy-$(printf '%s' "$checkout" | md5sum | cut -c1-12)
fi

if [ -n "${OCI_VALIDATION_CACHE:-}" ]; then
    mkdir -p "$OCI_VALIDATION_CACHE"
    build=$(cd "$OCI_VALIDATION_CACHE" && pwd)/runtime-tools-$suite_key
    gocache=$(cd "$OCI_VALIDATION_CACHE" && pwd)/gocache
else
    build=$(mktemp -d /tmp/oci-validation-suite.XXXXXX)
    gocache=$build/.gocache
fi
if [ ! -f "$build/.built" ]; then
    echo "oci-validation: building runtime-tools $commit in $build"
    rm -rf --one-file-system "$build"
    mkdir -p "$build"
    if [ "$suite_key" = "$commit" ]; then
        git -C "$checkout" archive "$commit" | tar -x -C "$build"
    else
        cp -a "$checkout/." "$build/"
    fi
    (cd "$build" && GOFLAGS=-mod=vendor GOPROXY=off GOCACHE=$gocache COMMIT=${commit:0:12} \
        make runtimetest validation-executables) > "$work/suite-build.log" 2>&1 ||
        { tail -20 "$work/suite-build.log" >&2
          hint=; [ "$(go_minor "$build/go.mod")" -le "$local_go_minor" ] || hint=" (its go.mod asks for go 1.$(go_minor "$build/go.mod"); go 1.19 builds up to $go119_ref)"
          rm -rf --one-file-system "$build"; die "building the suite failed (log above)$hint"; }
    touch "$build/.built"
else
    echo "oci-validation: reusing the suite built in $build"
fi

programs=()
for dir in "$build"/validation/*/; do
    name=$(basename "$dir")
    [ -x "$dir/$name.t" ] || continue
    if [ -n "$only" ] && [[ ",$only," != *",$name,"* ]]; then continue; fi
    programs+=("$name")
done
[ ${#programs[@]} -gt 0 ] || die "no validation program${only:+ named $only} in $build/validation"

# --- the runtimes: wrappers with private state roots -----------------------------------------------

# On a hybrid host (cgroup2 at /sys/fs/cgroup/unified beside v1 hierarchies) crun refuses to run
# while the unified hierarchy has a controller, and neither runtime may touch the v1 hierarchies.
# So every runtime call gets a private mount namespace in which /sys/fs/cgroup is the host's one
# cgroup2 hierarchy and nothing else: the same hierarchy, with the v1 mounts out of reach.
case "$(stat -f -c %T /sys/fs/cgroup/unified 2>/dev/null)/$(stat -f -c %T /sys/fs/cgroup)" in
    */cgroup2fs) cgroup_view="host (cgroup2 at /sys/fs/cgroup)"; view_prefix= ;;
    cgroup2fs/*)
        command -v unshare >/dev/null || die "unshare not found (apt-get install util-linux)"
        cgroup_view="hybrid host: each runtime call sees only cgroup2 at /sys/fs/cgroup (private mount namespace)"
        view_prefix="unshare --mount --propagation private sh -c 'umount -R /sys/fs/cgroup && mount -t cgroup2 cgroup2 /sys/fs/cgroup && exec \"\$0\" \"\$@\"'" ;;
    *) die "no cgroup2 hierarchy at /sys/fs/cgroup or /sys/fs/cgroup/unified" ;;
esac

# Writes the wrapper $work/NAME that runs COMMAND… "$@" in the cgroup view.
write_wrapper() {
    local name=$1; shift
    { echo '#!/bin/sh'; echo "exec $view_prefix $(printf '%q ' "$@")\"\$@\""; } > "$work/$name"
    chmod +x "$work/$name"
}

if [[ " ${runtimes[*]} " == *" aegis "* ]]; then
    if [ -z "${AEGIS_BIN_DIR:-}" ] && ! command -v swift >/dev/null; then
        [ -x /opt/swift/usr/bin/swift ] || die "swift not found (put the toolchain on PATH or set AEGIS_BIN_DIR)"
        PATH=/opt/swift/usr/bin:$PATH
    fi
    if [ -n "${AEGIS_BIN_DIR:-}" ]; then
        bin=$(cd "$AEGIS_BIN_DIR" && pwd)
    else
        echo "oci-validation: building aegis-runtime and aegis-supervisor"
        (cd "$repo" && swift build --product aegis-runtime && swift build --product aegis-supervisor && swift build --product aegis-init) \
            > "$work/swift-build.log" 2>&1 || { tail -20 "$work/swift-build.log" >&2; die "swift build failed (log above)"; }
        bin=$(cd "$repo" && swift build --show-bin-path)
    fi
    for exe in aegis-runtime aegis-supervisor aegis-init; do
        [ -x "$bin/$exe" ] || die "$bin/$exe is missing"
    done
    mkdir -p "$work/state-aegis"
    # aegis-runtime finds aegis-supervisor beside its own executable; name it anyway.
    write_wrapper aegis env AEGIS_SUPERVISOR="$bin/aegis-supervisor" AEGIS_INIT="$bin/aegis-init" "$bin/aegis-runtime" --root "$work/state-aegis"
fi
if [[ " ${runtimes[*]} " == *" crun "* ]]; then
    mkdir -p "$work/state-crun"
    # crun's cgroup v2 manager raises RLIMIT_MEMLOCK to load its device-filter eBPF program, which
    # fails (EPERM) where CAP_SYS_RESOURCE is withheld, as on the machine this was written on: then
    # crun runs without a cgroup manager (its cgroup programs fail, as they would anyway here).
    crun_flags=()
    cap_eff=$(awk '/^CapEff:/ { print $2 }' /proc/self/status)
    if (( (0x$cap_eff >> 24 & 1) == 0 )); then crun_flags=(--cgroup-manager=disabled); fi  # bit 24: CAP_SYS_RESOURCE
    write_wrapper crun "$(command -v crun)" --root "$work/state-crun" "${crun_flags[@]}"
fi

# Force-deletes the containers a program left in the runtime's state root, then kills what still
# runs with that state root on its command line (a runtime call or a container process that was
# never started, once its state is gone); prints one line per container or process.
remove_leftovers() {
    local rt=$1 id pid
    for id in $(ls "$work/state-$rt" 2>/dev/null); do  # not .seccomp and other dot entries
        [ -d "$work/state-$rt/$id" ] || continue
        echo "container $id"
        "$work/$rt" delete --force "$id" >/dev/null 2>&1 || true
    done
    local cmdline args
    for cmdline in /proc/[0-9]*/cmdline; do
        mapfile -d '' args < "$cmdline" 2>/dev/null || continue  # a builtin: no process of ours matches
        [[ "${args[*]}" == *"$work/state-$rt"* ]] || continue
        pid=${cmdline#/proc/}; pid=${pid%/cmdline}
        echo "process $pid: ${args[*]:0:8}"
        kill -KILL "$pid" 2>/dev/null || true
    done
}

# --- run ------------------------------------------------------------------------------------------

results=${results:-${OCI_VALIDATION_RESULTS:-/tmp/oci-validation-results-$(date +%Y%m%d-%H%M%S)}}
mkdir -p "$results"
results=$(cd "$results" && pwd)

# Counts one TAP file's top-level results (indented lines are nested YAML diagnostics):
# "ok skip notok todo plan errors lines"; a TODO "not ok" is not a failure, as TAP says; errors
# counts the "error" fields of the diagnostics; lines counts every line.
tap_counts() {
    awk '
        /^ok [0-9]+ # [Ss][Kk][Ii][Pp]/ { skip++; next }
        /^ok [0-9]+/ { ok++; next }
        /^not ok [0-9]+ # TODO/ { todo++; next }
        /^not ok [0-9]+/ { notok++; next }
        /^1\.\.[0-9]+/ { plan = substr($1, 4); next }
        /^ +"error": / { errors++ }
        END { printf "%d %d %d %d %s %d %d\n", ok, skip, notok, todo, (plan == "" ? "-" : plan), errors, NR }' "$1"
}

# The verdict on one run, from its exit status and counts (see tap_counts):
#   pass     exit 0, no "not ok", and either every planned test ran (at least one not skipped), or
#            "1..0" without an error diagnostic (how the hook programs report success), or no output
#            at all (how the *_fail programs report that the runtime refused the bad config)
#   skip     every planned test skipped
#   timeout  killed after --timeout seconds
#   fail     anything else
verdict() {
    local rc=$1 ok=$2 skip=$3 notok=$4 todo=$5 plan=$6 errors=$7 lines=$8
    if [ "$rc" = 124 ] || [ "$rc" = 137 ]; then echo timeout
    elif [ "$rc" != 0 ] || [ "$notok" != 0 ]; then echo fail
    elif [ "$plan" = - ]; then if [ "$lines" = 0 ]; then echo pass; else echo fail; fi
    elif [ "$plan" = 0 ]; then if [ "$errors" = 0 ]; then echo pass; else echo fail; fi
    elif [ $((ok + skip + todo)) != "$plan" ]; then echo fail
    elif [ "$ok" -gt 0 ]; then echo pass
    else echo skip
    fi
}

declare -A cell status
printf 'runtime\tprogram\texit\tok\tskip\tnot_ok\tverdict\n' > "$results/results.tsv"
for rt in "${runtimes[@]}"; do
    mkdir -p "$results/$rt"
    for p in "${programs[@]}"; do
        printf 'oci-validation: %-5s %-40s' "$rt" "$p"
        tmp="$work/tmp-$rt-$p"
        mkdir -p "$tmp"
        rc=0
        (cd "$build" && TMPDIR=$tmp RUNTIME="$work/$rt" timeout -k 10 "$timeout_s" "./validation/$p/$p.t") \
            > "$results/$rt/$p.tap" 2> "$results/$rt/$p.stderr" < /dev/null || rc=$?
        remove_leftovers "$rt" > "$results/$rt/$p.leftovers"
        left=$(wc -l < "$results/$rt/$p.leftovers")
        rm -rf --one-file-system "$tmp"
        read -r ok skip notok todo plan errors lines < <(tap_counts "$results/$rt/$p.tap")
        v=$(verdict "$rc" "$ok" "$skip" "$notok" "$todo" "$plan" "$errors" "$lines")
        echo "exit=$rc plan=$plan ok=$ok skip=$skip not-ok=$notok todo=$todo errors=$errors lines=$lines leftovers=$left $v" \
            > "$results/$rt/$p.summary"
        cell[$rt,$p]="$ok/$notok"
        [ "$skip" = 0 ] || cell[$rt,$p]+=" s$skip"
        status[$rt,$p]=$v
        printf '%s\t%s\t%s\t%s\t%s\t%s\t%s\n' "$rt" "$p" "$rc" "$ok" "$skip" "$notok" "$v" >> "$results/results.tsv"
        note=; [ "$left" = 0 ] || note=", $left left behind"
        echo "$v ($ok ok, $notok not ok$note)"
    done
done

# --- report ---------------------------------------------------------------------------------------

{
    echo "OCI runtime-tools validation — $(date -u +%Y-%m-%dT%H:%MZ), runtime-tools $commit"
    for rt in "${runtimes[@]}"; do
        case $rt in
            aegis) echo "aegis: $bin/aegis-runtime (AEGIS $(git -C "$repo" rev-parse --short HEAD))" ;;
            crun) echo "crun:  $(command -v crun) ${crun_flags[*]} ($(crun --version | head -1))" ;;
        esac
    done
    echo "cgroups: $cgroup_view"
    echo "cells: ok/not-ok [sN = N skipped] verdict (0/0 pass: the program's success is no output, or 1..0 without an error)"
    header=$(printf '%-40s' program)
    for rt in "${runtimes[@]}"; do header+=$(printf ' | %-22s' "$rt"); done
    echo "$header"
    for p in "${programs[@]}"; do
        line=$(printf '%-40s' "$p")
        for rt in "${runtimes[@]}"; do line+=$(printf ' | %-22s' "${cell[$rt,$p]} ${status[$rt,$p]}"); done
        echo "$line"
    done
    for rt in "${runtimes[@]}"; do
        oks=0 notoks=0 passes=0 passed=()
        for p in "${programs[@]}"; do
            oks=$((oks + ${cell[$rt,$p]%%/*}))
            n=${cell[$rt,$p]#*/}; notoks=$((notoks + ${n%% *}))
            if [ "${status[$rt,$p]}" = pass ]; then passes=$((passes + 1)); passed+=("$p"); fi
        done
        echo "summary $rt: $passes/${#programs[@]} programs pass; $oks ok, $notoks not ok"
        echo "  $rt passes: ${passed[*]:-none}"
    done
} | tee "$results/table.txt"

if [ ${#runtimes[@]} = 2 ]; then
    : > "$results/aegis-only-failures.txt"
    for p in "${programs[@]}"; do
        [ "${status[crun,$p]}" = pass ] && [ "${status[aegis,$p]}" != pass ] || continue
        {
            echo "== $p ($(cat "$results/aegis/$p.summary"))"
            { grep -A12 '^not ok' "$results/aegis/$p.tap" | head -40
              grep -E '^ +"(error|stderr)": ' "$results/aegis/$p.tap" | head -10; } | cut -c1-300 || true
            echo "-- stderr:"
            head -15 "$results/aegis/$p.stderr" | cut -c1-300
            echo
        } >> "$results/aegis-only-failures.txt"
    done
    echo "crun passes, aegis-runtime does not: $(grep -c '^== ' "$results/aegis-only-failures.txt") programs (details: $results/aegis-only-failures.txt)"
fi
echo "raw TAP: $results"
