#!/usr/bin/env bash
# gateway-bench.sh — the latency the gateway adds to an API call, side by side in one run: the
# controller pod's shape on this machine (`aegis controller --socket` and `aegis gateway` as two
# processes), and GET /v1/workloads/ID (one workload's detail, as `aegis describe` asks) sent
#   direct:  over the controller's unix socket (plain HTTP, keep-alive), and
#   gateway: over the gateway's TLS port (HTTPS with the cluster CA, keep-alive),
# alternating in blocks of 100 so that both see the same machine. Reports p50/p90/p99 of each and
# the difference, in ms. Both clients are one Python process (http.client), so its overhead is in
# both columns alike.
# Usage: Benchmarks/gateway-bench.sh [--aegis PATH (.build/release/aegis)] [--requests N (4000)]
set -euo pipefail
repo=$(cd "$(dirname "$0")/.." && pwd)
aegis=$repo/.build/release/aegis
requests=4000
while [ $# -gt 0 ]; do
    case "$1" in
        --aegis) aegis=$2; shift ;;
        --requests) requests=$2; shift ;;
        *) echo "usage: $0 [--aegis PATH] [--requests N]" >&2; exit 2 ;;
    esac
    shift
done
. "$repo/Benchmarks/pod-shape.sh"
start_pod_shape gateway-bench --rate 100000 --burst 100000
token=$(cat "$dir/data/admin.token")
id=$("$aegis" run --detach --server "unix://$dir/controller.sock" --token "$token" -- /bin/true)
echo "gateway-bench: $requests requests each way, GET /v1/workloads/$id; controller on CPU 0, gateway on CPU 1"
python3 - "$dir/controller.sock" "$port" "$dir/data/pki/ca.crt" "$token" "$id" "$requests" <<'EOF'
import http.client, socket, ssl, sys, time
sock, port, ca, token, wid, n = sys.argv[1], int(sys.argv[2]), sys.argv[3], sys.argv[4], sys.argv[5], int(sys.argv[6])

class UnixConnection(http.client.HTTPConnection):
    def __init__(self, path):
        super().__init__("localhost")
        self.path = path
    def connect(self):
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.sock.connect(self.path)

context = ssl.create_default_context(cafile=ca)
conns = {"direct": UnixConnection(sock), "gateway": http.client.HTTPSConnection("127.0.0.1", port, context=context)}
headers = {"Authorization": "Bearer " + token}
def call(c):
    t = time.perf_counter()
    c.request("GET", "/v1/workloads/" + wid, headers=headers)
    r = c.getresponse(); body = r.read()
    assert r.status == 200, (r.status, body)
    return (time.perf_counter() - t) * 1000
for c in conns.values():
    for _ in range(200): call(c)  # warm-up: connections, TLS session, caches
samples = {k: [] for k in conns}
for block in range(n // 100):
    for k in (("direct", "gateway") if block % 2 == 0 else ("gateway", "direct")):
        samples[k] += [call(conns[k]) for _ in range(100)]
def pct(xs, p):
    s = sorted(xs); return s[min(len(s) - 1, int(p / 100 * len(s)))]
for k in ("direct", "gateway"):
    xs = samples[k]
    print(f"{k:8s} p50 {pct(xs,50):.3f} ms  p90 {pct(xs,90):.3f} ms  p99 {pct(xs,99):.3f} ms  ({len(xs)} requests)")
for p in (50, 99):
    print(f"added by the gateway at p{p}: {pct(samples['gateway'],p) - pct(samples['direct'],p):.3f} ms")
EOF
