#!/usr/bin/env bash
# placement-bench with persistence measured on SQLite AND PostgreSQL, side by side: starts a
# throwaway PostgreSQL 15 cluster (initdb into a temporary directory, durable settings: fsync on,
# synchronous_commit on), runs the release build of placement-bench with --datastore pointing at
# it over its unix socket, and removes the cluster on exit. Debian 12, as root or as any user who
# can run PostgreSQL's binaries (as root they run as user postgres).
#
#   Benchmarks/placement-bench-postgres.sh [placement-bench options, e.g. --json /tmp/pb.json]
#
# Needs: apt-get install postgresql (binaries in /usr/lib/postgresql/15/bin, or set PG_BIN).
set -euo pipefail
repo=$(cd "$(dirname "$0")/.." && pwd)
cd "$repo"
pg_bin=${PG_BIN:-/usr/lib/postgresql/15/bin}
for tool in initdb pg_ctl postgres; do
    [[ -x "$pg_bin/$tool" ]] || { echo "placement-bench-postgres: $pg_bin/$tool is missing: apt-get install postgresql (or set PG_BIN)" >&2; exit 1; }
done

as_pg() { if [[ $(id -u) == 0 ]]; then runuser -u postgres -- "$@"; else "$@"; fi; }

swift build -c release --product placement-bench
bench="$repo/.build/release/placement-bench"

dir=$(mktemp -d /tmp/aegis-pgbench-XXXXXX)
[[ $(id -u) == 0 ]] && chown postgres: "$dir"
stop() {
    if [[ -f "$dir/data/postmaster.pid" ]]; then as_pg "$pg_bin/pg_ctl" -D "$dir/data" -m fast -w stop >/dev/null || true; fi
    rm -rf "$dir"
}
trap stop EXIT

as_pg "$pg_bin/initdb" -D "$dir/data" -U postgres -E UTF8 --locale=C -A trust >/dev/null
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
as_pg "$pg_bin/pg_ctl" -D "$dir/data" -l "$dir/server.log" -w -t 60 \
    -o "-c listen_addresses='' -p $port -k $dir -c fsync=on -c synchronous_commit=on -c shared_buffers=256MB" start >/dev/null
as_pg "$pg_bin/postgres" --version
echo "PostgreSQL on $dir/.s.PGSQL.$port (fsync=on, synchronous_commit=on)"

"$bench" --log-dir "${LOG_DIR:-/var/tmp}" --datastore "postgres://postgres@:$port/postgres?host=$dir&pool_max=4" "$@"
