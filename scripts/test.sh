#!/bin/sh
# The test command: format and lint gates, then every test (unit, library API, CLI
# integration tests that run real containers). Needs root.
set -eu
cd "$(dirname "$0")/.."
scripts/deps.sh
cargo fmt --all --check
cargo clippy --release --all-targets -- -D warnings
cargo test --release --workspace
# The runtime-spec conformance suite against ongi: a per-requirement table and
# "N passed, M failed"; fails on any failure not listed in conformance/known-failures.txt.
conformance/run.sh
