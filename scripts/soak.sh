#!/bin/sh
# Soak: N container lifecycles (create, start, wait for exit, delete) on each of two workers
# at once (both cores), then a report of what the host holds before and after (open fds
# system-wide, mounts, cgroups under the default parent, zombies, state dirs) and the time
# per cycle of the first and the last tenth. Fails on anything left behind or a failed cycle.
# usage: scripts/soak.sh [CYCLES per worker, default 5000: 10 000 lifecycles in all]
# (scripts/test.sh runs a short version.)
set -eu
cd "$(dirname "$0")/.."
# Containers that ran to the end are orphans once `create` has returned, and this machine's
# PID 1 does not reap them: the script makes itself a child subreaper (kept across exec), so
# the shells reap them as a shim would and a zombie counted at the end is a real leak.
if [ -z "${SOAK_REAPER:-}" ]; then
  SOAK_REAPER=1 exec python3 -c 'import ctypes, os, sys
if ctypes.CDLL(None, use_errno=True).prctl(36, 1, 0, 0, 0) != 0:
    sys.exit("prctl(PR_SET_CHILD_SUBREAPER) failed")
os.execvp(sys.argv[1], sys.argv[1:])' sh "$0" "$@"
fi
n=${1:-5000}
ongi=${ONGI:-target/x86_64-unknown-linux-gnu/release/ongi}
[ -x "$ongi" ] || cargo build --release -q -p ongi-cli
work=$(mktemp -d /tmp/ongi-soak.XXXXXX)
root=/run/ongi-soak-$$
trap 'for i in $(ls "$root" 2>/dev/null); do "$ongi" --root "$root" delete -f "$i" >/dev/null 2>&1 || true; done; rm -rf "$work" "$root"' EXIT
scripts/busybox-bundle.sh "$work/bundle" "$ongi" true >/dev/null

fds() { cut -f1 /proc/sys/fs/file-nr; }
mounts() { wc -l < /proc/self/mountinfo; }
cgroups() { find /sys/fs/cgroup -type d -path '*/ongi/soak-*' 2>/dev/null | wc -l; }
zombies() { ps -eo stat= | grep -c '^Z' || true; }
states() { ls "$root" 2>/dev/null | wc -l; }
snapshot() { echo "$1: fds=$(fds) mounts=$(mounts) cgroups=$(cgroups) zombies=$(zombies) state_dirs=$(states)"; }

# One worker: cycles with ids soak-W-I; one line "I ns" per cycle, "FAIL ..." on failure.
worker() {
  w=$1
  i=0
  while [ "$i" -lt "$n" ]; do
    id=soak-$w-$i
    t0=$(date +%s%N)
    if ! "$ongi" --root "$root" create --bundle "$work/bundle" "$id" </dev/null >/dev/null 2>"$work/err-$w"; then
      echo "FAIL create $id: $(cat "$work/err-$w")"; return 1
    fi
    "$ongi" --root "$root" start "$id" 2>"$work/err-$w" || { echo "FAIL start $id: $(cat "$work/err-$w")"; return 1; }
    k=0
    while [ "$("$ongi" --root "$root" state "$id" | sed -n 's/.*"status": *"\([a-z]*\)".*/\1/p')" != stopped ]; do
      k=$((k + 1)); [ "$k" -lt 2000 ] || { echo "FAIL $id never stopped"; return 1; }
    done
    "$ongi" --root "$root" delete "$id" 2>"$work/err-$w" || { echo "FAIL delete $id: $(cat "$work/err-$w")"; return 1; }
    echo "$i $(( $(date +%s%N) - t0 ))"
    i=$((i + 1))
  done
}

snapshot before | tee "$work/before"
worker 0 > "$work/w0" & p0=$!
worker 1 > "$work/w1" & p1=$!
rc=0
wait "$p0" || rc=1
wait "$p1" || rc=1
sleep 1
snapshot after | tee "$work/after"
grep -h FAIL "$work/w0" "$work/w1" && rc=1
tenth=$((n / 10)); [ "$tenth" -gt 0 ] || tenth=1
cat "$work/w0" "$work/w1" | awk -v n="$n" -v t="$tenth" '
  !/FAIL/ { if ($1 < t) { f += $2; fc++ } if ($1 >= n - t) { l += $2; lc++ } }
  END { if (fc && lc) printf "cycles %d x 2 workers; ms per cycle: first %d: %.2f, last %d: %.2f (ratio %.2f)\n", n, t, f/fc/1e6, t, l/lc/1e6, (l/lc)/(f/fc) }'
b=$(cat "$work/before"); a=$(cat "$work/after")
for k in mounts cgroups zombies state_dirs; do
  vb=$(echo "$b" | sed -n "s/.* $k=\([0-9]*\).*/\1/p"); va=$(echo "$a" | sed -n "s/.* $k=\([0-9]*\).*/\1/p")
  if [ "$va" -gt "$vb" ]; then echo "soak: $k grew from $vb to $va"; rc=1; fi
done
vb=$(echo "$b" | sed -n 's/.*fds=\([0-9]*\).*/\1/p'); va=$(echo "$a" | sed -n 's/.*fds=\([0-9]*\).*/\1/p')
# Open files are system-wide, so other processes move them a little; a leak per cycle
# would show as thousands.
if [ "$va" -gt $((vb + 200)) ]; then echo "soak: open fds grew from $vb to $va"; rc=1; fi
[ "$rc" = 0 ] && echo "soak: ok" || echo "soak: FAILED"
exit "$rc"
