#!/bin/sh
# One command for the lifecycle benchmark: ongi vs crun vs runc from Debian, same run.
# usage: benches/run.sh [lifecycle args, e.g. -n 50]
set -eu
cd "$(dirname "$0")/.."
for p in runc crun busybox-static; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "ok installed" || {
    apt-get update -qq; DEBIAN_FRONTEND=noninteractive apt-get install -y -qq runc crun busybox-static >/dev/null; break; }
done
cargo build --release -q -p ongi-cli -p ongi-benches
# .cargo/config.toml names the target (static build), hence the path.
exec target/x86_64-unknown-linux-gnu/release/lifecycle "$@" ongi=target/x86_64-unknown-linux-gnu/release/ongi crun=/usr/bin/crun runc=/usr/sbin/runc \
  floor=target/x86_64-unknown-linux-gnu/release/floor
