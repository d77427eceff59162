#!/bin/sh
# The main job: build ongi, build a busybox bundle, run a real container from it.
set -eu
cd "$(dirname "$0")/.."
scripts/deps.sh
cargo build --release -q -p ongi-cli
b=/tmp/ongi-demo-bundle
scripts/busybox-bundle.sh "$b" target/release/ongi sh -c 'echo "hello from $(hostname), pid $$, uid $(id -u)"; cat /proc/self/status | grep -E "^(NoNewPrivs|CapEff)"'
id=ongi-demo-$$
target/release/ongi run --bundle "$b" "$id"
