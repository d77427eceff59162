#!/bin/sh
# Builds the runtime, the runner and the static in-container checker in release mode, then
# runs the OCI runtime-spec conformance suite. Needs root.
#
#   conformance/run.sh                          # against target/x86_64-unknown-linux-gnu/release/ongi
#   RUNTIME=/usr/sbin/runc conformance/run.sh   # against runc
#   conformance/run.sh --strict hooks           # extra arguments go to the runner
#
# Exit status: the runner's (non-zero if a requirement fails that is not listed in
# conformance/known-failures.txt; any failure with --strict).
set -eu
cd "$(dirname "$0")/.."
# The checker runs inside a bare busybox rootfs, so it must be static: .cargo/config.toml
# links everything statically (glibc, crt-static) for the target it names.
cargo build --release -p ongi-cli -p ongi-conformance --bin ongi --bin conformance --bin oci-check
checker=target/x86_64-unknown-linux-gnu/release/oci-check
# ldd prints "statically linked" (static-pie) or "not a dynamic executable"; a dynamic
# binary lists its libraries as "name => path".
if ldd "$checker" 2>&1 | grep -q '=>'; then
    echo "run.sh: $checker is dynamically linked" >&2
    exit 1
fi
OCI_CHECK="$PWD/$checker" exec target/x86_64-unknown-linux-gnu/release/conformance "$@"
