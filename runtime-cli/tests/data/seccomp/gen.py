#!/usr/bin/env python3
"""Writes containerd-default.json, recorded-busybox.json and recorded-oci-check.json (see
README.md).

Usage: gen.py [path/to/seccomp_default.go]   (without it, only the recorded-*.json files)
       gen.py --record path/to/oci-check      (re-records the checker's list, prints it)

containerd: contrib/seccomp/seccomp_default.go of github.com/containerd/containerd is Go
code, not JSON; this renders DefaultProfile() for GOARCH=amd64, a kernel >= 4.8 and
containerd's default capabilities (of which only CAP_SYS_CHROOT adds a rule), i.e. without
CAP_SYS_ADMIN.
"""
import json, re, sys, os, subprocess, tempfile

here = os.path.dirname(os.path.abspath(__file__))


def write(name, profile):
    with open(os.path.join(here, name), "w") as f:
        json.dump(profile, f, indent=1)
        f.write("\n")


# The conformance checker's probes (oci-check seccomp): the syscalls the recorded profile
# must deny, so they are left out of what is recorded.
PROBES = {"kcmp", "request_key"}


def record(checker):
    """What the conformance suite's checker makes under strace -f in the workloads the
    conformance seccomp-profile checks give it: `seccomp` to stdout, `--out FILE seccomp`,
    and `pause` (killed after a second). Prints the names, sorted, minus the probes."""
    names = set()
    with tempfile.TemporaryDirectory() as d:
        trace = os.path.join(d, "trace")
        for args, timeout in (
            (["seccomp"], None),
            (["--out", os.path.join(d, "facts"), "seccomp"], None),
            (["pause"], 1),
        ):
            cmd = ["strace", "-f", "-qq", "-o", trace, checker, *args]
            try:
                subprocess.run(cmd, stdout=subprocess.DEVNULL, timeout=timeout)
            except subprocess.TimeoutExpired:
                pass  # pause: subprocess.run killed strace and the checker
            for line in open(trace):
                m = re.match(r"(?:\d+\s+)?([a-z0-9_]+)\(", line)
                if m:
                    names.add(m.group(1))
    print(" ".join(sorted(names - PROBES)))


if len(sys.argv) == 3 and sys.argv[1] == "--record":
    record(sys.argv[2])
    sys.exit(0)


def containerd(src):
    body = src[src.index("syscalls := []specs.LinuxSyscall{"):]
    first = body[body.index("Names: []string{") :]
    first = first[: first.index("}")]
    names = re.findall(r'"([a-z0-9_]+)"', first)
    allow = lambda ns, args=None: {"names": ns, "action": "SCMP_ACT_ALLOW", **({"args": args} if args else {})}
    arg = lambda i, v, op: {"index": i, "value": v, "op": op}
    AF_ALG, AF_VSOCK = 38, 40
    syscalls = [allow(names)]
    syscalls += [allow(["socket"], [arg(0, AF_ALG, "SCMP_CMP_LT")]),
                 allow(["socket"], [arg(0, AF_ALG + 1, "SCMP_CMP_EQ")]),
                 allow(["socket"], [arg(0, AF_VSOCK, "SCMP_CMP_GT")])]
    for v in (0x0, 0x0008, 0x20000, 0x20008, 0xFFFFFFFF):
        syscalls.append(allow(["personality"], [arg(0, v, "SCMP_CMP_EQ")]))
    syscalls.append(allow(["process_vm_readv", "process_vm_writev", "ptrace"]))
    syscalls.append(allow(["arch_prctl", "modify_ldt"]))
    syscalls.append(allow(["chroot"]))  # CAP_SYS_CHROOT
    ns_flags = 0x00020000 | 0x04000000 | 0x08000000 | 0x10000000 | 0x20000000 | 0x40000000 | 0x02000000
    syscalls.append(allow(["clone"], [{"index": 0, "value": ns_flags, "valueTwo": 0, "op": "SCMP_CMP_MASKED_EQ"}]))
    syscalls.append({"names": ["clone3"], "action": "SCMP_ACT_ERRNO", "errnoRet": 38})
    profile = {
        "defaultAction": "SCMP_ACT_ERRNO",
        "architectures": ["SCMP_ARCH_X86_64", "SCMP_ARCH_X86", "SCMP_ARCH_X32"],
        "syscalls": syscalls,
    }
    write("containerd-default.json", profile)


if len(sys.argv) == 2:
    containerd(open(sys.argv[1]).read())

# Security Profiles Operator's base profile for runc v1.1.5 (examples/baseprofile-runc.yaml
# at commit 35ebdda9): what runc itself needs after it loads the filter; SPO merges it into
# every recorded profile.
runc_base = """arch_prctl brk capget capset chdir clone close dup3 epoll_create1 epoll_ctl
epoll_pwait execve exit_group faccessat2 fchdir fchmodat fchownat fcntl fstat fstatfs futex
getdents64 getpid getppid gettid getuid keyctl mkdirat mknodat mmap mount mprotect munmap
nanosleep newfstatat openat openat2 pipe2 pivot_root prctl pread64 read readlinkat
rt_sigaction rt_sigprocmask rt_sigreturn sched_getaffinity sched_yield seccomp
set_robust_list set_tid_address setgid setgroups sethostname setsid setuid sigaltstack
statfs symlinkat tgkill umask umount2 unlinkat unshare utimensat write""".split()
# What busybox `true`, `sleep` and `sh -c` running the tests' report script (echo, a
# while-read loop over a redirected /proc/self/status) made under strace (busybox 1.35
# static, x86_64; getcwd too: sh sets $PWD with it when the environment has none, as in a
# container): the workload the profile was "recorded" from.
busybox = """arch_prctl brk clock_nanosleep close dup2 execve exit_group fcntl getpid getppid
getcwd getrandom getuid mprotect newfstatat openat poll prctl prlimit64 read readlink rseq
rt_sigaction rt_sigreturn set_robust_list set_tid_address uname write""".split()
recorded = {
    "defaultAction": "SCMP_ACT_ERRNO",
    "architectures": ["SCMP_ARCH_X86_64"],
    "syscalls": [{"names": sorted(set(runc_base) | set(busybox)), "action": "SCMP_ACT_ALLOW"}],
}
write("recorded-busybox.json", recorded)

# What the conformance suite's static checker (conformance/src/bin/oci-check.rs, Rust std +
# glibc static, x86_64) made in its seccomp-profile workloads: printed by
# `gen.py --record target/x86_64-unknown-linux-gnu/release/oci-check` (strace 6.1, glibc
# 2.36, Rust 1.95), the probes left out; the rest of the recorded profile is SPO's runc base.
oci_check = """arch_prctl brk close execve exit_group getpid getrandom gettid mmap mprotect munmap
newfstatat openat pause poll prlimit64 read readlink rseq rt_sigaction sched_getaffinity
set_robust_list set_tid_address sigaltstack statx write""".split()
# What this host's runc adds to SPO's base for upstream v1.1.5: Debian's 1.1.5+ds1-1+deb12u1
# backports the CVE-2024-21626 fix, whose working-directory check (getcwd) runs after the
# filter is loaded when noNewPrivileges is false ("failed to verify if current working
# directory is safe: operation not permitted" without it). recorded-busybox.json has getcwd
# from busybox sh already.
runc_deb12 = ["getcwd"]
assert not PROBES & (set(runc_base) | set(runc_deb12) | set(oci_check))
write("recorded-oci-check.json", {
    "defaultAction": "SCMP_ACT_ERRNO",
    "architectures": ["SCMP_ARCH_X86_64"],
    "syscalls": [{"names": sorted(set(runc_base) | set(runc_deb12) | set(oci_check)), "action": "SCMP_ACT_ALLOW"}],
})
