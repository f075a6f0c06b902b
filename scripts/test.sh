#!/usr/bin/env bash
# Runs every test, from a fresh clone on Debian 12 as root: installs the dependencies (including the
# VM harness's qemu and Debian kernel), builds, and runs `swift test` with the VM tests enabled, then
# the store conformance suite (AegisStoreTests) again against PostgreSQL.
set -euo pipefail
repo=$(cd "$(dirname "$0")/.." && pwd)
cd "$repo"
scripts/install-deps.sh --vm
# Layering and formatting first: they take seconds and name the file and line.
scripts/check-layers.sh
swift format lint --strict --recursive --configuration .swift-format Sources Tests \
    Benchmarks/aegis-bench Benchmarks/lease-bench Benchmarks/placement-bench Benchmarks/submit-bench Benchmarks/scrape-bench \
    Benchmarks/workflow-bench
export AEGIS_VM_TESTS=1
swift build --build-tests
swift test --skip-build "$@"
# The store conformance suite a second time, on PostgreSQL: the tests initdb and start a throwaway
# cluster of their own (Tests/AegisStoreTests/PostgresTestServer.swift) and stop it at exit.
AEGIS_STORE_BACKEND=postgres swift test --skip-build --filter AegisStoreTests
