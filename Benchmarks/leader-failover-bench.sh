#!/bin/bash
# leader-failover-bench.sh — how long a replicated controller's cluster takes submissions again
# after its leader dies. A throwaway PostgreSQL 15 and three `aegis up --role controller
# --datastore postgres://…` (default leader terms: lease 15 s, renewals every 5 s) in a network
# namespace created and removed here. Per round: kill -9 of the current leader, then every
# 100 ms `aegis run --detach` against each surviving controller's socket until one accepts it;
# the time from the kill to that acceptance is the failover time (target ≤ 20 s). The killed
# controller is restarted as a standby before the next round. Prints each round, the median and
# the maximum.
# Usage (root): Benchmarks/leader-failover-bench.sh [--rounds N] [--lease 15s] [--renew 5s] [--debug]
set -euo pipefail
ROUNDS=5 LEASE=15s RENEW=5s CONFIG=release
while [ $# -gt 0 ]; do
  case "$1" in
    --rounds) ROUNDS=$2; shift 2 ;;
    --lease) LEASE=$2; shift 2 ;;
    --renew) RENEW=$2; shift 2 ;;
    --debug) CONFIG=debug; shift ;;
    *) echo "leader-failover-bench: unknown argument $1" >&2; exit 2 ;;
  esac
done
repo=$(cd "$(dirname "$0")/.." && pwd)
PG=${PG_BIN:-/usr/lib/postgresql/15/bin}
[ -x "$PG/postgres" ] || { echo "leader-failover-bench: $PG/postgres missing: apt-get install postgresql" >&2; exit 1; }
if [ "$CONFIG" = release ]; then (cd "$repo" && swift build -c release --product aegis >/dev/null); fi
AEGIS="$repo/.build/$CONFIG/aegis"
NS=aegis-lfb-$$
WORK=$(mktemp -d /tmp/aegis-lfb-XXXXXX)
PIDS=()
cleanup() {
  for p in "${PIDS[@]:-}"; do [ -n "$p" ] && kill -9 "$p" 2>/dev/null || true; done
  [ -f "$WORK/pg.pid" ] && kill -QUIT "$(cat "$WORK/pg.pid")" 2>/dev/null || true
  sleep 1
  ip netns del "$NS" 2>/dev/null || true
  rm -rf "$WORK"
}
trap cleanup EXIT
ip netns add "$NS"
ip -n "$NS" link set lo up
chown postgres: "$WORK"
runuser -u postgres -- "$PG/initdb" -D "$WORK/pg" -A trust -U postgres --no-sync >/dev/null
nsenter --net=/run/netns/$NS -- setpriv --reuid=postgres --regid=postgres --init-groups -- \
  "$PG/postgres" -D "$WORK/pg" -p 5432 -k "$WORK" -c listen_addresses=127.0.0.1 >"$WORK/pg.log" 2>&1 &
echo $! >"$WORK/pg.pid"
for _ in $(seq 100); do runuser -u postgres -- "$PG/pg_isready" -h "$WORK" -q && break; sleep 0.1; done
runuser -u postgres -- "$PG/createdb" -h "$WORK" aegis
URL="postgres://postgres@127.0.0.1:5432/aegis?sslmode=disable"

declare -A PID
start() {  # start controller $1 (c1, c2, c3) on cluster port 1744N
  local n=$1 dir=$WORK/$1
  mkdir -p "$dir"
  if [ "$n" != c1 ] && [ ! -f "$dir/pki/ca.key" ]; then mkdir -p "$dir/pki"; cp "$WORK/c1/pki/ca.crt" "$WORK/c1/pki/ca.key" "$dir/pki/"; fi
  nsenter --net=/run/netns/$NS -- "$AEGIS" up --role controller --name "$n" --data-dir "$dir" --api-port 0 \
    --listen "127.0.0.1:1744${n#c}" --datastore "$URL" --leader-lease "$LEASE" --leader-renew "$RENEW" --log-level warning \
    >>"$dir/node.log" 2>&1 &
  PID[$n]=$!
  PIDS+=($!)
  disown $!
}
ready() { "$AEGIS" health --socket "$WORK/$1/aegis.sock" --path /readyz >/dev/null 2>&1; }
leader() { for n in c1 c2 c3; do kill -0 "${PID[$n]:-0}" 2>/dev/null && ready "$n" && { echo "$n"; return; }; done; }
submit() {  # accepted by controller $1 with its own admin token?
  AEGIS_DATA_DIR="$WORK/$1" "$AEGIS" run --detach -- true >/dev/null 2>&1
}
now() { date +%s.%N; }

start c1
for _ in $(seq 300); do [ -f "$WORK/c1/pki/ca.key" ] && ready c1 && break; sleep 0.1; done
start c2; start c3
sleep 3
echo "leader: $(leader); terms: lease $LEASE, renew $RENEW; $ROUNDS rounds"
TIMES=()
for r in $(seq "$ROUNDS"); do
  L=$(leader)
  [ -n "$L" ] || { echo "no leader before round $r" >&2; exit 1; }
  t0=$(now)
  kill -9 "${PID[$L]}"
  done_at=""
  while [ -z "$done_at" ]; do
    for n in c1 c2 c3; do
      [ "$n" = "$L" ] && continue
      if submit "$n"; then done_at=$(now); NEW=$n; break; fi
    done
    [ -n "$done_at" ] || sleep 0.1
    if (( $(echo "$(now) - $t0 > 120" | bc) )); then echo "round $r: no controller took a submission within 120 s" >&2; exit 1; fi
  done
  dt=$(echo "$done_at - $t0" | bc -l)
  printf 'round %d: %s killed, %s took a submission %.2f s later\n' "$r" "$L" "$NEW" "$dt"
  TIMES+=("$dt")
  start "$L"   # back as a standby
  sleep 2
done
printf '%s\n' "${TIMES[@]}" | sort -n | awk '{a[NR]=$1} END {m=(NR%2)?a[(NR+1)/2]:(a[NR/2]+a[NR/2+1])/2; printf "failover (kill -9 → submission accepted): median %.2f s, min %.2f s, max %.2f s over %d rounds\n", m, a[1], a[NR], NR}'
