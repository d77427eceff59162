#!/bin/sh
# `CLIENT run --rm IMAGE true` through ctr (containerd), podman and docker with ongi, runc and
# crun: runs benches/benches/clients.rs (private daemons, time limits, image and teardown of
# the client tests) and prints a markdown table of the medians (ms).
# usage: benches/clients.sh [ctr] [podman] [docker]     (default: all three)
# CLIENT_BENCH_N rounds (default 11). Needs root; installs crun if missing.
set -eu
cd "$(dirname "$0")/.."
command -v crun >/dev/null || { apt-get update -qq && apt-get install -y -qq crun; }
load=$(cut -d" " -f1-3 /proc/loadavg)
log=$(mktemp)
trap 'rm -f "$log"' EXIT
# The bench drives the release ongi next to its own executable.
cargo build --release -q -p ongi-cli
if ! cargo bench -q -p ongi-benches --bench clients -- "$@" >"$log" 2>&1; then
    echo "benches/clients.rs failed:" >&2
    tail -40 "$log" >&2
    exit 1
fi
grep '^BENCH' "$log"
echo
echo "$(date -u '+%F %H:%M UTC'), load before $load, N=${CLIENT_BENCH_N:-11}, median ms of \`CLIENT run --rm IMAGE true\`"
echo
echo "| client | ongi | runc | crun | ongi/runc |"
echo "|---|---:|---:|---:|---:|"
grep '^BENCH' "$log" | awk '{
    for (i = 2; i <= NF; i++) { split($i, kv, "="); v[kv[1]] = kv[2] }
    printf "| %s | %s | %s | %s | %.2f |\n", v["client"], v["ongi"], v["runc"], v["crun"], v["ongi"] / v["runc"]
}'
