#!/bin/sh
# The test command: format and lint gates, then every test (unit, library API, CLI
# integration tests that run real containers). Needs root.
set -eu
cd "$(dirname "$0")/.."
scripts/deps.sh
cargo fmt --all --check
cargo clippy --release --all-targets -- -D warnings
cargo test --release --workspace
