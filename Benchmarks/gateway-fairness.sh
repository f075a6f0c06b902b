#!/usr/bin/env bash
# gateway-fairness.sh — one tenant's flood against another tenant's latency through the gateway, in
# the controller pod's shape (`aegis controller --socket` on CPU 0, `aegis gateway` on CPU 1, its
# default per-tenant limits: 50 requests/s refill, burst 100, 32 in flight). Tenant B sends GET
# /v1/workloads one at a time, first alone ("idle"), then while 10 keep-alive clients of tenant A
# send as fast as they can ("flood"). Reports B's p50/p99 in both phases and their ratio (target
# p99 within 2× of idle), and how A's requests ended (200 vs 429).
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
. "$repo/Benchmarks/pod-shape.sh"
start_pod_shape gateway-fairness
tokenA=$("$aegis" tenant create flood-a "${admin[@]}")
tokenB=$("$aegis" tenant create quiet-b "${admin[@]}")
echo "gateway-fairness: tenant A floods with 10 clients for $seconds s while tenant B measures; gateway defaults (rate 50/s, burst 100, 32 in flight)"
python3 - "$port" "$dir/data/pki/ca.crt" "$tokenA" "$tokenB" "$seconds" <<'EOF'
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
port, ca, token_a, token_b, seconds = int(sys.argv[1]), sys.argv[2], sys.argv[3], sys.argv[4], float(sys.argv[5])
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
idle = measure(seconds)
# The flood runs in a process of its own, so that it does not share this one's interpreter lock.
flood = subprocess.Popen([sys.executable, "-c", FLOOD, str(port), ca, token_a], stdout=subprocess.PIPE, text=True)
time.sleep(1)
busy = measure(seconds)
flood.terminate()
counts = flood.communicate(timeout=10)[0].strip()
print(f"B idle:  p50 {pct(idle,50):.3f} ms  p99 {pct(idle,99):.3f} ms  ({len(idle)} requests)")
print(f"B flood: p50 {pct(busy,50):.3f} ms  p99 {pct(busy,99):.3f} ms  ({len(busy)} requests)")
print(f"p99 ratio flood/idle: {pct(busy,99)/pct(idle,99):.2f} (target <= 2)")
print("A's requests: " + counts)
EOF
