#!/usr/bin/env bash
# The main job, from a fresh clone on Debian 12 as root: install what is needed, build, and run the
# example agent (examples/hello-agent) isolated by aegis-runtime under AEGIS's default agent
# profile. Prints the agent's output and its report.
set -euo pipefail
repo=$(cd "$(dirname "$0")/.." && pwd)
cd "$repo"
scripts/install-deps.sh
swift build -c release --product aegis-runtime
swift build -c release --product aegis-supervisor
bin=$(swift build -c release --show-bin-path)

demo=$(mktemp -d /var/tmp/aegis-demo.XXXXXX)
chmod 755 "$demo"
trap 'rm -rf "$demo"' EXIT
mkdir -p "$demo/work" "$demo/bundle"
cp examples/hello-agent/agent.py examples/hello-agent/input.txt "$demo/work/"
chown -R 65534:65534 "$demo/work"      # the agent runs as an unprivileged uid

"$bin/aegis-runtime" spec --agent --bundle "$demo/bundle" --work "$demo/work" --uid 65534 -- \
    python3 agent.py input.txt
echo "== running examples/hello-agent isolated (pid/mount/uts/ipc/net/cgroup namespaces, seccomp, no capabilities)"
"$bin/aegis-runtime" --root /run/aegis-demo run --bundle "$demo/bundle" --outcome "$demo/outcome.json" "hello-agent-$$"
echo "== output/report.json"
cat "$demo/work/output/report.json"
echo
echo "== outcome"
cat "$demo/outcome.json"
echo
