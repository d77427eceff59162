#!/bin/sh
# Builds the runtime, the runner and the static in-container checker in release mode, then
# runs the OCI runtime-spec conformance suite. Needs root.
#
#   conformance/run.sh                          # against target/release/ongi
#   RUNTIME=/usr/sbin/runc conformance/run.sh   # against runc
#   conformance/run.sh --strict hooks           # extra arguments go to the runner
#
# Exit status: the runner's (non-zero if a requirement fails that is not listed in
# conformance/known-failures.txt; any failure with --strict).
set -eu
cd "$(dirname "$0")/.."
cargo build --release -p ongi-cli -p ongi-conformance --bin ongi --bin conformance
# The checker runs inside a bare busybox rootfs: link it statically (glibc, crt-static).
# With an explicit --target the flag does not reach build scripts or proc macros.
RUSTFLAGS='-C target-feature=+crt-static' \
    cargo build --release -p ongi-conformance --bin oci-check --target x86_64-unknown-linux-gnu
checker=target/x86_64-unknown-linux-gnu/release/oci-check
# ldd prints "statically linked" (static-pie) or "not a dynamic executable"; a dynamic
# binary lists its libraries as "name => path".
if ldd "$checker" 2>&1 | grep -q '=>'; then
    echo "run.sh: $checker is dynamically linked" >&2
    exit 1
fi
OCI_CHECK="$PWD/$checker" exec target/release/conformance "$@"
