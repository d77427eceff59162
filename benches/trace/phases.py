#!/usr/bin/env python3
"""Phase times of `RT run` from traces of benches/trace/ftrace.sh.

usage: phases.py TRACE...   (one trace per run, of the same runtime)

Every phase is the time between two marker events (the root process's execve, its second
execve/execveat, its first mkdir, the fifo's mknodat, clone, the child's first mount,
pivot_root, first PR_CAPBSET_DROP, its last openat before execve, execve, exit_group, the
root's wait4 return and exit_group). Prints the median and minimum over the traces, first
as offsets from the root's execve, then per phase; phases whose markers a runtime does not
have (the floor has no state dir, cgroups, capabilities) are left out.
"""
import re,sys,statistics
pat=re.compile(r'^\s*(.+?)-(\d+)\s+\[(\d+)\]\s+\S+\s+([\d.]+):\s+(.*)$')
def load(fn):
    ev=[]
    for l in open(fn):
        if l.startswith('#'): continue
        m=pat.match(l)
        if not m: continue
        comm,pid,cpu,t,rest=m.groups()
        ev.append((float(t)*1e3,int(pid),rest))
    return ev
def phases(fn):
    ev=load(fn)
    # root process: the first execve after the wrapper
    i0=next(i for i,(t,p,r) in enumerate(ev) if r.startswith('sys_execve('))
    P=ev[i0][1]; t0=ev[i0][0]
    ev=ev[i0:]
    def first(pred, after=0.0):
        for t,p,r in ev:
            if t>=after and pred(p,r): return t
        return None
    marks={}
    marks['start']=t0
    marks['exec1_done']=first(lambda p,r:p==P and r.startswith('sys_execve ->'))
    x2=first(lambda p,r:p==P and (r.startswith('sys_execveat(') or r.startswith('sys_execve(')),marks['exec1_done'])
    if x2 is not None:
        marks['exec2_enter']=x2
        marks['exec2_done']=first(lambda p,r:p==P and (r.startswith('sys_execveat ->') or r.startswith('sys_execve ->')),x2)
        marks['first_sys_after_exec2']=first(lambda p,r:p==P and r.startswith('sys_brk('),marks['exec2_done'])
    else:
        marks['first_sys_after_exec2']=first(lambda p,r:p==P and r.startswith('sys_brk('),marks['exec1_done'])
    marks['mkdir1']=first(lambda p,r:p==P and r.startswith('sys_mkdir('),t0)
    marks['fifo']=first(lambda p,r:p==P and r.startswith('sys_mknodat ->'),t0)
    marks['clone_enter']=first(lambda p,r:p==P and (r.startswith('sys_clone3(') or r.startswith('sys_clone(')),t0)
    fork=[(t,r) for t,p,r in ev if 'sched_process_fork' in r and p==P]
    C=int(re.search(r'child_pid=(\d+)',fork[0][1]).group(1))
    marks['child_first']=first(lambda p,r:p==C and r.startswith('sys_'),t0)
    marks['clone_ret']=first(lambda p,r:p==P and (r.startswith('sys_clone3 ->') or r.startswith('sys_clone ->')),t0)
    marks['child_first_mount']=first(lambda p,r:p==C and (r.startswith('sys_mount(') or r.startswith('sys_open_tree(') or r.startswith('sys_move_mount(')),t0)
    marks['child_pivot']=first(lambda p,r:p==C and r.startswith('sys_pivot_root('),t0)
    marks['child_capbset']=first(lambda p,r:p==C and r.startswith('sys_prctl(option: 0x18'),t0)
    cx=first(lambda p,r:p==C and r.startswith('sys_execve('),t0)
    opens=[t for t,p,r in ev if p==C and r.startswith('sys_openat(') and t<cx]
    rets=[t for t,p,r in ev if p==C and r.startswith('sys_openat ->') and t<cx]
    if opens: marks['child_fifo_open']=opens[-1]; marks['child_fifo_opened']=rets[-1]
    marks['child_execve']=first(lambda p,r:p==C and r.startswith('sys_execve('),t0)
    marks['child_exec_done']=first(lambda p,r:p==C and r.startswith('sys_execve ->'),t0)
    marks['child_exit']=first(lambda p,r:p==C and r.startswith('sys_exit_group('),t0)
    marks['wait_ret']=first(lambda p,r:p==P and r.startswith('sys_wait4 ->'),marks['child_exit'])
    marks['parent_exit']=first(lambda p,r:p==P and r.startswith('sys_exit_group('),t0)
    return {k:(v-t0 if v is not None else None) for k,v in marks.items()}
runs=[phases(f) for f in sys.argv[1:]]
keys=list(runs[0].keys())
for k in keys:
    vals=[r[k] for r in runs if r.get(k) is not None]
    if vals: print(f"{k:24s} {statistics.median(vals):7.3f} ms  (min {min(vals):.3f} max {max(vals):.3f})")
print()
segs=[("exec of the binary (kernel)","start","exec1_done"),
("protection: prestart/glibc+protect, until execveat","exec1_done","exec2_enter"),
("second execve (kernel)","exec2_enter","exec2_done"),
("start-up after exec (glibc init, relocation)","exec2_done","first_sys_after_exec2"),
("floor: start-up after exec","exec1_done","first_sys_after_exec2"),
("CLI parse, config.json load+validate","first_sys_after_exec2","mkdir1"),
("floor: main until clone","first_sys_after_exec2","clone_enter"),
("state dir, lock, state.json, fifo","mkdir1","fifo"),
("cgroups: mkdir x10, cpuset, devices","fifo","clone_enter"),
("clone3 with 5 namespaces (parent side)","clone_enter","clone_ret"),
("child scheduled after clone","clone_ret","child_first"),
("init: cgroup self-move, handshake, lo up, keyring","child_first","child_first_mount"),
("init: mounts until pivot_root","child_first_mount","child_pivot"),
("init: pivot, old root detach, masks, devices, sysctl","child_pivot","child_capbset"),
("init: caps, user, seccomp, cwd, ready","child_capbset","child_fifo_open"),
("floor: pivot + detach","child_pivot","child_execve"),
("start: exec fifo handshake","child_fifo_open","child_fifo_opened"),
("execve of /bin/true (kernel)","child_execve","child_exec_done"),
("busybox true: glibc start-up, run, exit","child_exec_done","child_exit"),
("reaping: child exit to wait4 return","child_exit","wait_ret"),
("delete + exit: rmdir cgroups, state dir","wait_ret","parent_exit"),
("total traced","start","parent_exit")]
for name,a,b in segs:
    d=[r[b]-r[a] for r in runs if r.get(a) is not None and r.get(b) is not None]
    if len(d)==len(runs):
        d.sort()
        print(f"{name:55s} median {statistics.median(d):6.3f}  min {d[0]:6.3f}  p25 {d[len(d)//4]:6.3f}")
