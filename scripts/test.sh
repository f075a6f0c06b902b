#!/usr/bin/env bash
# Runs every test, from a fresh clone on Debian 12 as root: installs the dependencies (including the
# VM harness's qemu and Debian kernel), builds, and runs `swift test` with the VM tests enabled.
set -euo pipefail
repo=$(cd "$(dirname "$0")/.." && pwd)
cd "$repo"
scripts/install-deps.sh --vm
export AEGIS_VM_TESTS=1
swift build --build-tests
swift test --skip-build "$@"
