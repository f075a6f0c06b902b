#!/bin/bash
# failover-bench.sh — how long after its node's grace + safety margin an agent runs again
# elsewhere. A controller and two workers, each in its own network namespace (created and removed
# here), a restart-always agent on w1, then kill -9 of w1's daemon. Per round:
#   kill → Down          from the kill to the controller's Down (deadline = last renewal + down-after)
#   margin → running      from the reschedule instant (Down + margin: the "rescheduling" event) to
#                         the agent's "started" event on w2 — the failover cost beyond the margin
# Usage (root): Benchmarks/failover-bench.sh [--rounds N] [--down-after 6s] [--margin 2s] [--debug]
set -euo pipefail
ROUNDS=5 DOWN=6s MARGIN=2s CONFIG=release
while [ $# -gt 0 ]; do
  case "$1" in
    --rounds) ROUNDS=$2; shift 2 ;;
    --down-after) DOWN=$2; shift 2 ;;
    --margin) MARGIN=$2; shift 2 ;;
    --debug) CONFIG=debug; shift ;;
    *) echo "usage: $0 [--rounds N] [--down-after 6s] [--margin 2s] [--debug]" >&2; exit 2 ;;
  esac
done
cd "$(dirname "$0")/.."
swift build -c "$CONFIG" --product aegis >/dev/null && swift build -c "$CONFIG" --product aegis-supervisor >/dev/null
AEGIS="$(swift build -c "$CONFIG" --show-bin-path)/aegis"
TAG=fb$$
WORK=$(mktemp -d /tmp/aegis-failover-XXXXXX)
PIDS=()
cleanup() {
  for p in "${PIDS[@]}"; do kill -CONT "$p" 2>/dev/null || true; kill -9 "$p" 2>/dev/null || true; done
  for n in ctl w1 w2; do
    for leaf in /sys/fs/cgroup/unified/aegis-fb-$n-$$/*/; do [ -d "$leaf" ] && { echo 1 > "$leaf/cgroup.kill"; sleep 0.2; rmdir "$leaf"; } 2>/dev/null || true; done
    rmdir /sys/fs/cgroup/unified/aegis-fb-$n-$$ 2>/dev/null || true
    ip netns del $TAG-$n 2>/dev/null || true
  done
  ip netns del $TAG-sw 2>/dev/null || true
  rm -rf "$WORK"
}
trap cleanup EXIT
ip netns add $TAG-sw
ip -n $TAG-sw link add br0 type bridge && ip -n $TAG-sw link set br0 up
i=1
for n in ctl w1 w2; do
  ip netns add $TAG-$n
  ip -n $TAG-$n link set lo up
  ip -n $TAG-sw link add p-$n type veth peer name eth0 netns $TAG-$n
  ip -n $TAG-sw link set p-$n master br0 && ip -n $TAG-sw link set p-$n up
  ip -n $TAG-$n addr add 192.0.2.$i/24 dev eth0 && ip -n $TAG-$n link set eth0 up
  i=$((i + 1))
done
export AEGIS_DATA_DIR=$WORK/ctl
nsenter --net=/run/netns/$TAG-ctl "$AEGIS" up --role controller --data-dir $WORK/ctl --api-port 0 --listen 0.0.0.0:7443 \
  --lease-renew-every 500ms --not-ready-after 3s --down-after "$DOWN" --reschedule-margin "$MARGIN" --log-level warning \
  >$WORK/ctl.log 2>&1 &
PIDS+=($!)
for _ in $(seq 100); do [ -S $WORK/ctl/aegis.sock ] && "$AEGIS" ps >/dev/null 2>&1 && break; sleep 0.1; done
start_worker() {  # name
  local t; t=$("$AEGIS" token create --role worker)
  nsenter --net=/run/netns/$TAG-$1 "$AEGIS" up --role worker --name $1 --data-dir $WORK/$1 --join https://192.0.2.1:7443 \
    --token "$t" --lease-grace "$DOWN" --cgroup-parent aegis-fb-$1-$$ --log-level warning >>$WORK/$1.log 2>&1 &
  PIDS+=($!)
  eval "PID_$1=$!"
}
node_ready() { "$AEGIS" node ls -o json | python3 -c "import json,sys; print(any(n['name']=='$1' and n['state']=='Ready' for n in json.load(sys.stdin)['items']))"; }
wait_ready() { for _ in $(seq 300); do [ "$(node_ready $1)" = True ] && return; sleep 0.1; done; echo "$1 not Ready" >&2; exit 1; }
start_worker w1; start_worker w2; wait_ready w1; wait_ready w2
printf "%-6s %14s %18s\n" round "kill→Down(ms)" "margin→running(ms)"
RESULTS=()
for r in $(seq "$ROUNDS"); do
  # The agent on the worker that will be killed (the other one cordoned while it is placed).
  VICTIM=w1 OTHER=w2
  [ $((r % 2)) -eq 0 ] && VICTIM=w2 OTHER=w1
  "$AEGIS" node cordon $OTHER >/dev/null
  ID=$("$AEGIS" run --detach --restart always -- sleep 3600)
  for _ in $(seq 100); do
    "$AEGIS" describe $ID -o json | python3 -c "import json,sys; sys.exit(0 if json.load(sys.stdin)['workload']['state']=='running' else 1)" && break
    sleep 0.1
  done
  "$AEGIS" node uncordon $OTHER >/dev/null
  sleep 1
  VPID=$(eval echo \$PID_$VICTIM)
  KILL_MS=$(date +%s%3N)
  kill -9 "$VPID"
  for _ in $(seq 600); do
    "$AEGIS" describe $ID -o json | python3 -c "import json,sys; w=json.load(sys.stdin)['workload']; sys.exit(0 if w['state']=='running' and w['node']=='$OTHER' else 1)" && break
    sleep 0.05
  done
  "$AEGIS" describe $ID -o json > $WORK/describe.json
  python3 - $WORK/describe.json <<PY || { echo "round $r: no failover recorded:"; cat $WORK/describe.json; tail -20 $WORK/ctl.log; exit 1; }
import json,sys
d=json.load(open(sys.argv[1])); ev=d['events']
resched=[e['timeMs'] for e in ev if e['type']=='rescheduling'][-1]
started=[e['timeMs'] for e in ev if e['type']=='started'][-1]
down=resched-int('$MARGIN'.rstrip('s'))*1000
print('%-6s %14d %18d' % ('$r', down-$KILL_MS, started-resched))
PY
  tail -1 $WORK/describe.json >/dev/null
  python3 - $WORK/describe.json >> $WORK/results <<PY
import json,sys
d=json.load(open(sys.argv[1])); ev=d['events']
resched=[e['timeMs'] for e in ev if e['type']=='rescheduling'][-1]
started=[e['timeMs'] for e in ev if e['type']=='started'][-1]
print('%s %d %d' % ('$r', resched-int('$MARGIN'.rstrip('s'))*1000-$KILL_MS, started-resched))
PY
  "$AEGIS" kill $ID >/dev/null
  start_worker $VICTIM; wait_ready $VICTIM
  sleep 1
done
python3 - $WORK/results <<'EOF'
import sys, statistics
rows=[l.split() for l in open(sys.argv[1]) if l.strip()]
down=[int(r[1]) for r in rows]; fo=[int(r[2]) for r in rows]
print("median kill→Down %d ms; margin→running median %d ms, max %d ms (target ≤ 5000 ms)" % (statistics.median(down), statistics.median(fo), max(fo)))
EOF
