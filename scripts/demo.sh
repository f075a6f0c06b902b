#!/usr/bin/env bash
# The main job, from a fresh clone on Debian 12 as root: install what is needed, build, start a
# hybrid node (`aegis up`, controller + worker in one process) in the background, and run the
# example Python agent (examples/hello-agent) on it, isolated. The node stays up afterwards;
# `aegis down` stops it.
set -euo pipefail
repo=$(cd "$(dirname "$0")/.." && pwd)
cd "$repo"
scripts/install-deps.sh
swift build -c release --product aegis
swift build -c release --product aegis-supervisor
swift build -c release --product aegis-init
swift build -c release --product aegis-runtime
bin=$(swift build -c release --show-bin-path)
install -m 0755 "$bin/aegis" "$bin/aegis-supervisor" "$bin/aegis-init" "$bin/aegis-runtime" /usr/local/bin/

data=/var/lib/aegis
log=/var/log/aegis-node.log
if [ -f "$data/aegis.pid" ] && kill -0 "$(cat "$data/aegis.pid")" 2>/dev/null; then
    echo "== node already running (pid $(cat "$data/aegis.pid"))"
else
    # Hosts whose cgroup2 hierarchy lacks the memory/cpu/pids controllers (hybrid cgroup hosts,
    # some containers) can't enforce the example's limits: say so, and run it with them marked as
    # not enforced rather than not at all.
    flags=()
    own=$(awk -F'::' '/^0::/{print $2}' /proc/self/cgroup)
    mnt=$(awk '$9=="cgroup2"{print $5; exit}' /proc/self/mountinfo)
    if ! grep -qw memory "$mnt$own/cgroup.controllers" 2>/dev/null || ! grep -qw pids "$mnt$own/cgroup.controllers" 2>/dev/null; then
        echo "== this host's cgroup2 lacks the memory/pids controllers: starting the node with --allow-unenforced-limits"
        flags+=(--allow-unenforced-limits)
    fi
    echo "== starting the node: aegis up ${flags[*]:-} (log: $log)"
    nohup aegis up "${flags[@]}" >"$log" 2>&1 &
    for _ in $(seq 1 100); do [ -S "$data/aegis.sock" ] && break; sleep 0.1; done
    [ -S "$data/aegis.sock" ] || { echo "node did not start:"; cat "$log"; exit 1; }
fi

echo "== aegis node ls"
aegis node ls
echo "== submitting examples/hello-agent/agent.yaml"
cd examples/hello-agent
id=$(aegis run --detach -f agent.yaml)
echo "   workload $id"
aegis logs -f "$id"
echo "== aegis cp $id:report.json -"
aegis cp "$id:report.json" -
echo
echo "== aegis describe $id"
aegis describe "$id"
echo
echo "The node keeps running (log: $log). Try: aegis run -- python3 -c 'print(42)'; aegis ps --all"
echo "Stop it with: aegis down"
