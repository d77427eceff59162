#!/bin/sh
# `CLIENT run --rm IMAGE true` through ctr (containerd), podman and docker with ongi, runc and
# crun: runs the ignored bench_run_rm_latency client tests (private daemons, time limits,
# teardown as in the client tests) and prints a markdown table of the medians (ms).
# CLIENT_BENCH_N rounds (default 11). Needs root; installs crun if missing.
set -eu
cd "$(dirname "$0")/.."
command -v crun >/dev/null || { apt-get update -qq && apt-get install -y -qq crun; }
load=$(cut -d" " -f1-3 /proc/loadavg)
log=$(mktemp)
trap 'rm -f "$log"' EXIT
for t in clients_containerd clients_podman clients_docker; do
    cargo test --release -q -p ongi-cli --test "$t" -- --ignored --nocapture --exact bench_run_rm_latency 2>&1 |
        tee -a "$log" | grep '^BENCH' || { echo "$t failed:" >&2; tail -40 "$log" >&2; exit 1; }
done
echo
echo "$(date -u '+%F %H:%M UTC'), load before $load, N=${CLIENT_BENCH_N:-11}, median ms of \`CLIENT run --rm IMAGE true\`"
echo
echo "| client | ongi | runc | crun | ongi/runc |"
echo "|---|---:|---:|---:|---:|"
grep '^BENCH' "$log" | awk '{
    for (i = 2; i <= NF; i++) { split($i, kv, "="); v[kv[1]] = kv[2] }
    printf "| %s | %s | %s | %s | %.2f |\n", v["client"], v["ongi"], v["runc"], v["crun"], v["ongi"] / v["runc"]
}'
