#!/bin/sh
# usage: benches/trace/ftrace.sh OUT CMD...   (root; tracefs at /sys/kernel/tracing)
# Records CMD and every process it forks with the kernel's syscall and fork/exec/exit
# tracepoints, in a private ftrace instance (~1 us per syscall, unlike strace's ~20-50 us),
# and writes the trace to OUT. benches/trace/phases.py turns traces into phase times.
set -eu
OUT=$1; shift
T=/sys/kernel/tracing/instances/ongi-bench
[ -d $T ] || mkdir $T
echo 0 > $T/tracing_on
echo 8192 > $T/buffer_size_kb
echo > $T/trace
echo 1 > $T/options/event-fork
echo 1 > $T/events/syscalls/enable
for e in sched_process_fork sched_process_exec sched_process_exit; do
  echo 1 > $T/events/sched/$e/enable
done
rc=0
sh -c "echo \$\$ > $T/set_event_pid; echo 1 > $T/tracing_on; exec \"\$@\"" sh "$@" || rc=$?
echo 0 > $T/tracing_on
cat $T/trace > "$OUT"
echo 0 > $T/events/syscalls/enable
echo > $T/set_event_pid
rmdir $T
exit $rc
