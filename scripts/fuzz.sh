#!/bin/sh
# Fuzzes config.json and process.json loading and validation (fuzz/, cargo-fuzz with
# libFuzzer and AddressSanitizer on the nightly toolchain) from the corpus in the repo;
# fails on any panic, crash or leak, leaving the input in fuzz/artifacts/TARGET/.
# usage: scripts/fuzz.sh [SECONDS per target]   (default 1800: an hour for both;
#        scripts/test.sh runs 30 s each)
set -eu
cd "$(dirname "$0")/.."
secs=${1:-1800}
command -v cargo-fuzz >/dev/null 2>&1 || cargo install -q cargo-fuzz --locked --version 0.13.2
for t in config process; do
  # New inputs go to a scratch corpus: the repo's corpus changes only by hand.
  scratch=$(mktemp -d /tmp/ongi-fuzz-corpus.XXXXXX)
  rc=0
  cargo +nightly fuzz run --fuzz-dir fuzz "$t" "$scratch" "fuzz/corpus/$t" -- \
    -max_total_time="$secs" -rss_limit_mb=4096 -print_final_stats=1 2>"$scratch.log" || rc=$?
  grep -E '^Done|stat::number_of_executed_units|ERROR|panicked' "$scratch.log" || true
  rm -rf "$scratch" /dev/shm/ongi-fuzz-*
  if [ "$rc" != 0 ]; then
    tail -40 "$scratch.log"; rm -f "$scratch.log"
    echo "fuzz $t: FAILED (input saved under fuzz/artifacts/$t/)"; exit 1
  fi
  rm -f "$scratch.log"
  echo "fuzz $t: ok ($secs s, no panic)"
done
