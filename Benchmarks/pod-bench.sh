#!/usr/bin/env bash
# pod-bench.sh — pod start to all containers ready with `aegis pod run`, the image cached: a
# busybox pod with a native sidecar (httpd, gated by an HTTP startupProbe with periodSeconds 1)
# and a main container. Reports, over --runs starts, the median time from launching `aegis pod
# run` to each step the runner records (state.json events: infra started, sidecar started, its
# startup probe passed, main started, pod ready) and the stop.
# Usage: Benchmarks/pod-bench.sh [--runs 10] [--debug]   (as root; builds release unless --debug)
set -euo pipefail
repo=$(cd "$(dirname "$0")/.." && pwd)
runs=10
config=release
while [ $# -gt 0 ]; do
    case "$1" in
        --runs) runs=$2; shift ;;
        --debug) config=debug ;;
        *) echo "pod-bench: unknown argument $1" >&2; exit 2 ;;
    esac
    shift
done
cd "$repo"
for p in aegis aegis-init aegis-supervisor; do swift build -c "$config" --product "$p" >/dev/null; done
bin=$repo/.build/$config
work=$(mktemp -d /tmp/pod-bench.XXXXXX)
trap 'rm -rf "$work"' EXIT
mkdir -p "$work/tree/bin"
cp /bin/busybox "$work/tree/bin/"
for a in sh httpd mkdir echo wget sleep; do ln -s busybox "$work/tree/bin/$a"; done
tar -cf "$work/bb.tar" -C "$work/tree" .
python3 Tests/AegisImageTests/Fixtures/make-image.py "$work/layout" --tag bb --layer-tar "$work/bb.tar" \
    --compression none --env PATH=/bin >/dev/null
"$bin/aegis" image pull --data-dir "$work/data" -q "oci:$work/layout:bb" >/dev/null
cat >"$work/pod.yaml" <<EOF
apiVersion: v1
kind: Pod
metadata: {name: bench}
spec:
  terminationGracePeriodSeconds: 5
  initContainers:
    - name: side
      image: oci:$work/layout:bb
      imagePullPolicy: IfNotPresent
      restartPolicy: Always
      command: [sh, -c, 'mkdir -p /www && echo ok > /www/healthz && exec httpd -f -p 127.0.0.1:8080 -h /www']
      startupProbe: {httpGet: {path: /healthz, port: 8080}, periodSeconds: 1}
  containers:
    - name: main
      image: oci:$work/layout:bb
      imagePullPolicy: IfNotPresent
      command: [sh, -c, 'exec sleep 3600']
EOF
python3 - "$bin/aegis" "$work" "$runs" <<'PY'
import json, os, statistics, subprocess, sys, time
aegis, work, runs = sys.argv[1], sys.argv[2], int(sys.argv[3])
state = f"{work}/data/pods/bench/state.json"
steps = [("infra started", "infra bench.infra."), ("sidecar started", "container side attempt 1 started"),
         ("sidecar startup probe passed", "side: startup probe passed"), ("main started", "container main attempt 1 started"),
         ("pod ready", "pod ready")]
results = {name: [] for name, _ in steps}
stops = []
for _ in range(runs):
    subprocess.run([aegis, "pod", "stop", "--data-dir", f"{work}/data", "bench"], capture_output=True)
    t0 = time.time() * 1000
    runner = subprocess.Popen([aegis, "pod", "run", "--data-dir", f"{work}/data", "--log-level", "warning", f"{work}/pod.yaml"])
    events = []
    deadline = time.time() + 30
    while time.time() < deadline:
        try:
            with open(state) as f:
                record = json.load(f)
            if record.get("runnerPid") == runner.pid:
                events = record["events"]
                if any("pod ready" in e for e in events):
                    break
        except (OSError, ValueError):
            pass
        time.sleep(0.005)
    for name, needle in steps:
        hit = next((e for e in events if needle in e), None)
        if hit is None:
            sys.exit(f"pod-bench: no event {needle!r}: {events}")
        results[name].append(int(hit.split(" ", 1)[0]) - t0)
    s0 = time.time()
    subprocess.run([aegis, "pod", "stop", "--data-dir", f"{work}/data", "bench"], capture_output=True, check=True)
    runner.wait()
    stops.append((time.time() - s0) * 1000)
print(f"aegis pod run, image cached, {runs} runs: median ms from launching the command")
for name, _ in steps:
    print(f"  {name:32s} {statistics.median(results[name]):8.1f}   (min {min(results[name]):.1f}, max {max(results[name]):.1f})")
print(f"  {'aegis pod stop (ordered, to Stopped)':32s} {statistics.median(stops):8.1f}")
PY
