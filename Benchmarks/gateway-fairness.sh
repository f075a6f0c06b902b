#!/usr/bin/env bash
# gateway-fairness.sh — one tenant's flood against another tenant's latency through the gateway, in
# the controller pod's shape (`aegis controller --socket` on CPU 0, `aegis gateway` on CPU 1, its
# default per-tenant limits: 50 requests/s refill, burst 100, 32 in flight). Tenant B sends GET
# /v1/workloads one at a time, first alone ("idle"), then while 10 keep-alive clients of tenant A
# send as fast as they can ("flood"). Reports B's p50/p99 in both phases and their ratio (target
# p99 within 2× of idle), and how A's requests ended (200 vs 429). A real worker (`aegis up --role
# worker`, joined through the gateway) renews its lease every second throughout; the gaps between
# the renewals the controller received (its `live.reportedAtMs`, polled over the controller's
# socket every 50 ms by a process of its own) are reported per phase: a renewal is late when its
# gap passes 1.5 s.
# Usage: Benchmarks/gateway-fairness.sh [--aegis PATH (.build/release/aegis)] [--seconds S (10)]
set -euo pipefail
repo=$(cd "$(dirname "$0")/.." && pwd)
aegis=$repo/.build/release/aegis
seconds=10
while [ $# -gt 0 ]; do
    case "$1" in
        --aegis) aegis=$2; shift ;;
        --seconds) seconds=$2; shift ;;
        *) echo "usage: $0 [--aegis PATH] [--seconds S]" >&2; exit 2 ;;
    esac
    shift
done
controller_flags=(--lease-renew-every 1s)
. "$repo/Benchmarks/pod-shape.sh"
start_pod_shape gateway-fairness
jointoken=$("$aegis" token create "${admin[@]}" --ttl 10m)
"$aegis" up --role worker --join "https://127.0.0.1:$port" --token "$jointoken" --data-dir "$dir/worker" --name fairness-worker \
    --allow-unenforced-limits >"$dir/worker.log" 2>&1 &
pids+=($!)
for _ in $(seq 100); do "$aegis" node ls "${admin[@]}" 2>/dev/null | grep -q "^fairness-worker .* Ready " && break; sleep 0.2; done
"$aegis" node ls "${admin[@]}" | grep -q "^fairness-worker .* Ready " || { echo "gateway-fairness: the worker did not join" >&2; tail "$dir/worker.log" >&2; exit 1; }
tokenA=$("$aegis" tenant create flood-a "${admin[@]}")
tokenB=$("$aegis" tenant create quiet-b "${admin[@]}")
echo "gateway-fairness: tenant A floods with 10 clients for $seconds s while tenant B measures; gateway defaults (rate 50/s, burst 100, 32 in flight)"
python3 - "$port" "$dir/data/pki/ca.crt" "$tokenA" "$tokenB" "$seconds" "$dir/controller.sock" "$(cat "$dir/data/admin.token")" <<'EOF'
import http.client, ssl, subprocess, sys, time
FLOOD = """
import http.client, signal, ssl, sys, threading
port, ca, token = int(sys.argv[1]), sys.argv[2], sys.argv[3]
context = ssl.create_default_context(cafile=ca)
counts, lock, stop = {}, threading.Lock(), threading.Event()
def flood():
    conn = http.client.HTTPSConnection("127.0.0.1", port, context=context, timeout=10)
    while not stop.is_set():
        try:
            conn.request("GET", "/v1/workloads", headers={"Authorization": "Bearer " + token})
            r = conn.getresponse(); r.read(); status = r.status
        except Exception:
            conn = http.client.HTTPSConnection("127.0.0.1", port, context=context, timeout=10); status = "error"
        with lock: counts[status] = counts.get(status, 0) + 1
def done(*_):
    stop.set()
    print(", ".join(f"{k}: {v}" for k, v in sorted(counts.items(), key=str)), flush=True)
    sys.exit(0)
signal.signal(signal.SIGTERM, done)
threads = [threading.Thread(target=flood, daemon=True) for _ in range(10)]
for t in threads: t.start()
signal.pause()
"""
POLL = """
import http.client, json, signal, socket, sys, time
class UnixConnection(http.client.HTTPConnection):
    def __init__(self, path):
        super().__init__("localhost"); self.path = path
    def connect(self):
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM); self.sock.connect(self.path)
conn, seen = UnixConnection(sys.argv[1]), []
def done(*_):
    print(" ".join(map(str, seen)), flush=True); sys.exit(0)
signal.signal(signal.SIGTERM, done)
while True:
    conn.request("GET", "/v1/nodes", headers={"Authorization": "Bearer " + sys.argv[2]})
    for node in json.loads(conn.getresponse().read())["items"]:
        at = (node.get("live") or {}).get("reportedAtMs")
        if at and (not seen or at != seen[-1]): seen.append(at)
    time.sleep(0.05)
"""
port, ca, token_a, token_b, seconds = int(sys.argv[1]), sys.argv[2], sys.argv[3], sys.argv[4], float(sys.argv[5])
poller = subprocess.Popen([sys.executable, "-c", POLL, sys.argv[6], sys.argv[7]], stdout=subprocess.PIPE, text=True)
context = ssl.create_default_context(cafile=ca)
def connect(): return http.client.HTTPSConnection("127.0.0.1", port, context=context, timeout=10)
def get(conn, token):
    conn.request("GET", "/v1/workloads", headers={"Authorization": "Bearer " + token})
    r = conn.getresponse(); r.read(); return r.status
def measure(duration):
    conn, xs, end = connect(), [], time.perf_counter() + duration
    while time.perf_counter() < end:
        t = time.perf_counter(); status = get(conn, token_b); xs.append((time.perf_counter() - t) * 1000)
        assert status == 200, status
        time.sleep(0.02)  # 50/s: within B's own bucket
    return sorted(xs)
def pct(xs, p): return xs[min(len(xs) - 1, int(p / 100 * len(xs)))]
phases = {}
start = time.time() * 1000
idle = measure(seconds)
phases["idle"] = (start, time.time() * 1000)
# The flood runs in a process of its own, so that it does not share this one's interpreter lock.
flood = subprocess.Popen([sys.executable, "-c", FLOOD, str(port), ca, token_a], stdout=subprocess.PIPE, text=True)
time.sleep(1)
start = time.time() * 1000
busy = measure(seconds)
phases["flood"] = (start, time.time() * 1000)
flood.terminate()
counts = flood.communicate(timeout=10)[0].strip()
print(f"B idle:  p50 {pct(idle,50):.3f} ms  p99 {pct(idle,99):.3f} ms  ({len(idle)} requests)")
print(f"B flood: p50 {pct(busy,50):.3f} ms  p99 {pct(busy,99):.3f} ms  ({len(busy)} requests)")
print(f"p99 ratio flood/idle: {pct(busy,99)/pct(idle,99):.2f} (target <= 2)")
print("A's requests: " + counts)
poller.terminate()
renewals = [int(x) for x in poller.communicate(timeout=10)[0].split()]
for name, (begin, end) in phases.items():
    gaps = [b - a for a, b in zip(renewals, renewals[1:]) if begin <= b <= end]
    late = sum(1 for g in gaps if g > 1500)
    print(f"worker renewals ({name}): {len(gaps)}, gap max {max(gaps, default=0)} ms, late (> 1.5 s): {late}")
EOF
