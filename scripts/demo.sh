#!/bin/sh
# The main job: build ongi, build a busybox bundle, run a real container from it.
set -eu
cd "$(dirname "$0")/.."
scripts/deps.sh
cargo build --release -q -p ongi-cli
b=/tmp/ongi-demo-bundle
ongi=target/x86_64-unknown-linux-gnu/release/ongi  # .cargo/config.toml names the target
scripts/busybox-bundle.sh "$b" "$ongi" sh -c 'echo "hello from $(hostname), pid $$, uid $(id -u)"; cat /proc/self/status | grep -E "^(NoNewPrivs|CapEff)"'
id=ongi-demo-$$
"$ongi" run --bundle "$b" "$id"
