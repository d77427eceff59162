#!/bin/sh
# ongictl against podman and docker (issue 14): `run --rm IMAGE true`, 50 detached
# containers (start time; RSS/PSS of ongi-monitor vs conmon vs containerd-shim), and the pull
# of a ~200 MiB 5-layer image vs `podman pull` and `skopeo copy ... dir:`; all from a private
# docker-registry on 127.0.0.1, interleaved, medians with spread. Runs
# benches/benches/engine.rs under `nice -n -20` and prints markdown tables with the load
# averages. Installs nothing: needs root and what scripts/deps.sh installs (podman,
# docker.io, docker-registry, skopeo).
# usage: benches/engine.sh [run] [detached] [pull]          (default: all three)
# env: ENGINE_BENCH_N (run rounds, 21), ENGINE_BENCH_DETACHED (containers, 50),
#      ENGINE_BENCH_PULL_N (pull rounds, 5), ENGINE_BENCH_PODMAN_RUNTIME (crun; runc if crun
#      fails on this host), ENGINE_BENCH_SMAPS=DIR (keep one smaps of each monitor kind)
set -eu
cd "$(dirname "$0")/.."
for t in podman docker dockerd docker-registry skopeo; do
    command -v "$t" >/dev/null || { echo "engine.sh: $t missing (scripts/deps.sh installs it)" >&2; exit 1; }
done
# The bench drives the release ongictl and ongi-monitor next to its own executable.
cargo build --release -q -p ongi-cli
cargo bench -q -p ongi-benches --bench engine --no-run
log=$(mktemp)
trap 'rm -f "$log"' EXIT
echo "$(date -u '+%F %H:%M UTC'), $(nproc) cores, kernel $(uname -r), uptime: $(uptime)"
if ! nice -n -20 cargo bench -q -p ongi-benches --bench engine -- "$@" >"$log" 2>&1; then
    echo "benches/benches/engine.rs failed:" >&2
    tail -40 "$log" >&2
    exit 1
fi
grep -v '^\(run\|pull\) [a-z-]*: \[' "$log" | grep -v '^dockerd up in'
echo "uptime after: $(uptime)"
