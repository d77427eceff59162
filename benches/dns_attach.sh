#!/bin/bash
# The time the embedded DNS adds to `ongictl run --rm --network <user net>`: two binary sets
# (before/after, each a dir with ongictl, ongi-monitor[, ongi-dns]) run interleaved in a private
# network namespace, N runs each, with a resident container on the network (responder up) and
# with none (the run that starts the responder). Prints the medians.
# usage: benches/dns_attach.sh BEFORE_DIR AFTER_DIR   (N=20 by default)
set -e
B=$1; A=$2; N=${N:-20}
ns=ongi-dnsbench-$$
ip netns add $ns; ip -n $ns link set lo up
work=/var/tmp/ongi-dnsbench-$$; mkdir -p $work/rootfs/bin
cp /bin/busybox $work/rootfs/bin/; for a in sh true sleep; do ln -s busybox $work/rootfs/bin/$a; done
tar -C $work/rootfs -cf $work/rootfs.tar .
cleanup() {
  for s in before after; do
    d=$work/$s; bin=$B; [ $s = after ] && bin=$A
    for id in $(nsenter --net=/run/netns/$ns $bin/ongictl --root $d/root --run-root $d/run ps -aq 2>/dev/null); do
      nsenter --net=/run/netns/$ns $bin/ongictl --root $d/root --run-root $d/run rm -f $id >/dev/null 2>&1 || true; done
  done
  sleep 2; umount -R $work/*/root 2>/dev/null || true
  ip netns del $ns; rm -rf $work
}
trap cleanup EXIT
ctl() { local s=$1; shift; local bin=$B; [ $s = after ] && bin=$A
  nsenter --net=/run/netns/$ns $bin/ongictl --root $work/$s/root --run-root $work/$s/run "$@"; }
sub=0
for s in before after; do
  sub=$((sub+1))
  ctl $s import $work/rootfs.tar bench:v1 >/dev/null
  ctl $s network create --subnet 10.250.$sub.0/24 app >/dev/null
  ctl $s run --rm --network app bench:v1 true   # warm-up: bridge, table, caches
done
med() { sort -n | awk '{a[NR]=$1} END {print (NR%2)? a[(NR+1)/2] : (a[NR/2]+a[NR/2+1])/2}'; }
for mode in resident none; do
  if [ $mode = resident ]; then for s in before after; do ctl $s run -d --name keep --network app bench:v1 sleep 1000 >/dev/null; done; fi
  : > $work/before.$mode; : > $work/after.$mode
  for i in $(seq $N); do
    for s in before after; do
      [ $mode = none ] && sleep 1.5   # the responder of the previous run has left
      t0=$(date +%s%N); ctl $s run --rm --network app bench:v1 true; t1=$(date +%s%N)
      echo $(( (t1-t0)/1000 )) >> $work/$s.$mode
    done
  done
  b=$(med < $work/before.$mode); a=$(med < $work/after.$mode)
  echo "$mode: before median $(awk "BEGIN{print $b/1000}") ms, after median $(awk "BEGIN{print $a/1000}") ms, added $(awk "BEGIN{print ($a-$b)/1000}") ms (N=$N)"
  if [ $mode = resident ]; then for s in before after; do ctl $s rm -f keep >/dev/null; done; fi
done
