#!/usr/bin/env bash
# Installs what AEGIS needs on Debian 12 (as root): the C libraries the shim links, the tools the
# tests use (nftables + libnftables1 for network mode egress; prometheus + promtool for the metrics
# tests), and (with --vm) the VM harness's qemu + Debian kernel. Safe to run again.
set -euo pipefail
packages=(libseccomp-dev libcap-dev libarchive-dev busybox-static iproute2 procps python3 gcc libc6-dev nftables libnftables1 util-linux
          docker-registry skopeo umoci zstd openssl prometheus systemd binutils)
[[ "${1:-}" == "--bench" ]] && packages+=(bubblewrap crun hyperfine time)
missing=()
for p in "${packages[@]}"; do dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "ok installed" || missing+=("$p"); done
if ((${#missing[@]})); then
    if [ -z "$(ls -A /var/lib/apt/lists 2>/dev/null | grep -v -e lock -e partial)" ]; then apt-get update -qq; fi
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null || {
        apt-get update -qq
        DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
    }
fi
# Kubernetes' own schema check of pod/aegis-controller.yaml (Tests/AegisPodTests, PyPI).
if ! command -v kubernetes-validate >/dev/null; then
    python3 -m pip install -q kubernetes-validate==1.37.0 2>/dev/null ||
        python3 -m pip install -q --break-system-packages kubernetes-validate==1.37.0
fi
if [[ "${1:-}" == "--vm" ]]; then
    "$(dirname "$0")/../Tests/VM/install-deps.sh"
fi
command -v swift >/dev/null || { echo "install-deps: Swift 6 is required (swift not on PATH)" >&2; exit 1; }
