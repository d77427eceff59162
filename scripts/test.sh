#!/bin/sh
# The test command: format and lint gates, then every test (unit, library API, CLI
# integration tests that run real containers), then the same binaries and the conformance
# suite under pure cgroup v2 in a qemu VM. Needs root.
set -eu
cd "$(dirname "$0")/.."
scripts/deps.sh
cargo fmt --all --check
cargo clippy --release --all-targets -- -D warnings
cargo test --release --workspace
# The runtime-spec conformance suite against ongi: a per-requirement table and
# "N passed, M failed"; fails on any failure not listed in conformance/known-failures.txt.
conformance/run.sh
# Hostile input never panics the config/process loaders: 30 s of libFuzzer per target
# (scripts/fuzz.sh alone runs an hour), and a short soak of container lifecycles on both
# cores that fails on any fd, mount, cgroup, zombie or state left behind
# (scripts/soak.sh alone runs 10 000).
scripts/fuzz.sh 30
scripts/soak.sh 300
# This host's cgroups are v1/hybrid: the v2 code runs for real only in a VM with cgroup2
# alone ("cgroup2 VM: N passed, M failed; ..."); the binaries above are reused as built.
scripts/vm-cgroup2.sh
