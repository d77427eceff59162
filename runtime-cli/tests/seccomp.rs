//! linux.seccomp in real containers, and the `features` command.

mod common;

use common::*;
use serde_json::{json, Value};
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};
use std::os::unix::net::UnixListener;
use std::path::Path;
use std::time::Duration;

/// runc's default spec with a writable /tmp and `filter` as linux.seccomp.
fn with_filter(filter: Value) -> Spec {
    Spec::new()
        .tmpfs("/tmp", &["mode=1777"])
        .set("/linux/seccomp", filter)
}

/// A filter that allows everything except `names`, which get `action` (+ errnoRet).
fn block(names: &[&str], action: &str, errno: Option<u32>) -> Value {
    let mut rule = json!({ "names": names, "action": action });
    if let Some(e) = errno {
        rule["errnoRet"] = json!(e);
    }
    json!({
        "defaultAction": "SCMP_ACT_ALLOW",
        "architectures": ["SCMP_ARCH_X86_64", "SCMP_ARCH_X86", "SCMP_ARCH_X32"],
        "syscalls": [rule]
    })
}

const MKDIR: &[&str] = &["mkdir", "mkdirat"];

/// `mkdir /tmp/x` and report what happened; `touch` proves /tmp is writable.
const MKDIR_SCRIPT: &str = "touch /tmp/ok && echo touch-ok; mkdir /tmp/x 2>&1; echo rc=$?";

#[test]
fn errno_eperm_blocks_mkdir() {
    let h = Harness::new("sc_eperm");
    let out = h.run_ok(&with_filter(block(MKDIR, "SCMP_ACT_ERRNO", Some(1))).sh(MKDIR_SCRIPT));
    assert!(out.contains("touch-ok"), "{out}");
    assert!(out.contains("Operation not permitted"), "{out}");
    assert!(out.contains("rc=1"), "{out}");
}

#[test]
fn errno_eacces_and_default_errno_is_eperm() {
    let h = Harness::new("sc_eacces");
    let out = h.run_ok(&with_filter(block(MKDIR, "SCMP_ACT_ERRNO", Some(13))).sh(MKDIR_SCRIPT));
    assert!(out.contains("Permission denied"), "{out}");
    // Without errnoRet, ERRNO returns EPERM (runc's default).
    let out = h.run_ok(&with_filter(block(MKDIR, "SCMP_ACT_ERRNO", None)).sh(MKDIR_SCRIPT));
    assert!(out.contains("Operation not permitted"), "{out}");
}

#[test]
fn without_filter_mkdir_works() {
    // The control for the tests above: same spec, no linux.seccomp.
    let h = Harness::new("sc_control");
    let out = h.run_ok(&Spec::new().tmpfs("/tmp", &["mode=1777"]).sh(MKDIR_SCRIPT));
    assert!(out.contains("rc=0"), "{out}");
}

#[test]
fn status_shows_filter_mode() {
    let h = Harness::new("sc_status");
    let out = h.run_ok(
        &with_filter(block(MKDIR, "SCMP_ACT_ERRNO", Some(1))).args(&["cat", "/proc/self/status"]),
    );
    assert_eq!(status_field(&out, "Seccomp"), "2");
    assert_eq!(status_field(&out, "Seccomp_filters"), "1");
    assert_eq!(status_field(&out, "NoNewPrivs"), "1");
    // And without linux.seccomp there is no filter at all.
    let out = h.run_ok(&Spec::new().args(&["cat", "/proc/self/status"]));
    assert_eq!(status_field(&out, "Seccomp"), "0");
}

/// Syscalls busybox sh, cat and the runtimes' last steps after the filter is loaded need
/// (init's handshake, exec fifo, execve; the Go runtime of runc too).
const ALLOW: &[&str] = &[
    "access",
    "arch_prctl",
    "brk",
    "capget",
    "capset",
    "chdir",
    "clock_gettime",
    "clock_nanosleep",
    "clone",
    "clone3",
    "close",
    "close_range",
    "dup",
    "dup2",
    "dup3",
    "epoll_create1",
    "epoll_ctl",
    "epoll_pwait",
    "epoll_wait",
    "execve",
    "execveat",
    "exit",
    "exit_group",
    "faccessat",
    "faccessat2",
    "fchdir",
    "fcntl",
    "fork",
    "fstat",
    "fstatfs",
    "futex",
    "getcwd",
    "getdents64",
    "getegid",
    "geteuid",
    "getgid",
    "getgroups",
    "getpgid",
    "getpgrp",
    "getpid",
    "getppid",
    "getrandom",
    "getrlimit",
    "gettid",
    "gettimeofday",
    "getuid",
    "ioctl",
    "kill",
    "lseek",
    "lstat",
    "madvise",
    "mmap",
    "mprotect",
    "munmap",
    "nanosleep",
    "newfstatat",
    "open",
    "openat",
    "openat2",
    "pipe",
    "pipe2",
    "poll",
    "ppoll",
    "prctl",
    "pread64",
    "prlimit64",
    "read",
    "readlink",
    "readlinkat",
    "recvfrom",
    "recvmsg",
    "rseq",
    "rt_sigaction",
    "rt_sigprocmask",
    "rt_sigreturn",
    "sched_getaffinity",
    "sched_yield",
    "sendmsg",
    "sendto",
    "set_robust_list",
    "set_tid_address",
    "setgid",
    "setgroups",
    "setpgid",
    "setresgid",
    "setresuid",
    "setuid",
    "sigaltstack",
    "stat",
    "statfs",
    "statx",
    "sysinfo",
    "tgkill",
    "umask",
    "uname",
    "vfork",
    "wait4",
    "waitid",
    "write",
    "writev",
];

#[test]
fn default_errno_with_allow_list() {
    let h = Harness::new("sc_allowlist");
    let filter = json!({
        "defaultAction": "SCMP_ACT_ERRNO",
        "defaultErrnoRet": 1,
        "syscalls": [{ "names": ALLOW, "action": "SCMP_ACT_ALLOW" }]
    });
    let out =
        h.run_ok(&with_filter(filter).sh(
            "echo hello; cat /proc/self/status | grep ^Seccomp:; mkdir /tmp/x 2>&1; echo rc=$?",
        ));
    assert!(out.contains("hello"), "{out}");
    assert!(out.contains("Seccomp:\t2"), "{out}");
    assert!(out.contains("Operation not permitted"), "{out}");
    assert!(out.contains("rc=1"), "{out}");
}

#[test]
fn argument_filters() {
    let h = Harness::new("sc_args");
    // personality(PER_LINUX32) is refused; personality(PER_LINUX) is not.
    // kill: two conditions on the same argument are ORed (separate rules, as runc):
    // SIGUSR1 and SIGUSR2 are refused, signal 0 goes through.
    let filter = json!({
        "defaultAction": "SCMP_ACT_ALLOW",
        "syscalls": [
            { "names": ["personality"], "action": "SCMP_ACT_ERRNO", "errnoRet": 13,
              "args": [{ "index": 0, "value": 8, "op": "SCMP_CMP_EQ" }] },
            { "names": ["kill"], "action": "SCMP_ACT_ERRNO", "errnoRet": 1,
              "args": [{ "index": 1, "value": 10, "op": "SCMP_CMP_EQ" },
                       { "index": 1, "value": 12, "op": "SCMP_CMP_EQ" }] },
            // Masked: a mode with the setgid bit (02000) is refused; the mode is argument 1
            // of chmod and argument 2 of fchmodat.
            { "names": ["chmod"], "action": "SCMP_ACT_ERRNO", "errnoRet": 13,
              "args": [{ "index": 1, "value": 1024, "valueTwo": 1024, "op": "SCMP_CMP_MASKED_EQ" }] },
            { "names": ["fchmodat"], "action": "SCMP_ACT_ERRNO", "errnoRet": 13,
              "args": [{ "index": 2, "value": 1024, "valueTwo": 1024, "op": "SCMP_CMP_MASKED_EQ" }] }
        ]
    });
    let script = "linux32 true 2>&1; echo l32=$?; linux64 true; echo l64=$?; \
        kill -0 $$; echo k0=$?; kill -USR1 $$ 2>&1; echo k10=$?; kill -USR2 $$ 2>&1; echo k12=$?; \
        mkdir /tmp/a; chmod 755 /tmp/a; echo m755=$?; chmod 2755 /tmp/a 2>&1; echo m2755=$?";
    let out = h.run_ok(&with_filter(filter).sh(script));
    for want in [
        "l32=1", "l64=0", "k0=0", "k10=1", "k12=1", "m755=0", "m2755=1",
    ] {
        assert!(out.lines().any(|l| l == want), "missing {want}:\n{out}");
    }
}

#[test]
fn kill_actions_end_with_sigsys() {
    let h = Harness::new("sc_kill");
    for action in [
        "SCMP_ACT_KILL",
        "SCMP_ACT_KILL_PROCESS",
        "SCMP_ACT_KILL_THREAD",
        "SCMP_ACT_TRAP",
    ] {
        let out = h.run(&with_filter(block(MKDIR, action, None)).args(&["mkdir", "/tmp/x"]));
        assert_eq!(out.code(), Some(128 + libc::SIGSYS), "{action}:\n{out}");
    }
}

#[test]
fn log_and_trace_actions() {
    let h = Harness::new("sc_log_trace");
    // LOG lets the syscall through.
    let out = h.run_ok(&with_filter(block(MKDIR, "SCMP_ACT_LOG", None)).sh(MKDIR_SCRIPT));
    assert!(out.contains("rc=0"), "{out}");
    // TRACE without a tracer: the kernel fails the syscall with ENOSYS.
    let out = h.run_ok(&with_filter(block(MKDIR, "SCMP_ACT_TRACE", None)).sh(MKDIR_SCRIPT));
    assert!(out.contains("Function not implemented"), "{out}");
}

#[test]
fn unknown_syscall_names_are_skipped() {
    // Like runc: one profile serves kernels and architectures that lack some syscalls.
    let h = Harness::new("sc_unknown_name");
    let filter = block(
        &["mkdir", "no_such_syscall_xyz", "mkdirat"],
        "SCMP_ACT_ERRNO",
        Some(1),
    );
    let out = h.run_ok(&with_filter(filter).sh(MKDIR_SCRIPT));
    assert!(out.contains("Operation not permitted"), "{out}");
}

#[test]
#[cfg_attr(
    ongi_test_runc,
    ignore = "runc 1.1.5 refuses every linux.seccomp.flags value"
)]
fn filter_flags() {
    let h = Harness::new("sc_flags");
    let mut filter = block(MKDIR, "SCMP_ACT_ERRNO", Some(1));
    filter["flags"] = json!([
        "SECCOMP_FILTER_FLAG_LOG",
        "SECCOMP_FILTER_FLAG_SPEC_ALLOW",
        "SECCOMP_FILTER_FLAG_TSYNC"
    ]);
    let out = h.run_ok(&with_filter(filter).sh(MKDIR_SCRIPT));
    assert!(out.contains("Operation not permitted"), "{out}");
}

#[test]
fn without_no_new_privileges() {
    // The filter is then loaded while init still has CAP_SYS_ADMIN.
    let h = Harness::new("sc_no_nnp");
    let spec = with_filter(block(MKDIR, "SCMP_ACT_ERRNO", Some(1)))
        .set("/process/noNewPrivileges", json!(false))
        .sh("grep -E '^(NoNewPrivs|Seccomp):' /proc/self/status; mkdir /tmp/x 2>&1; echo rc=$?");
    let out = h.run_ok(&spec);
    assert_eq!(status_field(&out, "NoNewPrivs"), "0");
    assert_eq!(status_field(&out, "Seccomp"), "2");
    assert!(out.contains("Operation not permitted"), "{out}");
    // As a non-root user with no capabilities at all.
    let spec = with_filter(block(MKDIR, "SCMP_ACT_ERRNO", Some(13)))
        .set("/process/noNewPrivileges", json!(false))
        .set("/process/user", json!({ "uid": 1000, "gid": 1000 }))
        .set("/process/capabilities", json!({}))
        .sh("id -u; mkdir /tmp/x 2>&1; echo rc=$?");
    let out = h.run_ok(&spec);
    assert!(out.starts_with("1000\n"), "{out}");
    assert!(out.contains("Permission denied"), "{out}");
}

#[test]
fn filter_applies_to_created_then_started_container() {
    let h = Harness::new("sc_create_start");
    let out_dir = h.dir("out");
    let spec = with_filter(block(MKDIR, "SCMP_ACT_ERRNO", Some(1)))
        .bind(&out_dir, "/out", &[])
        .sh("mkdir /tmp/x 2>/out/err; echo rc=$? >/out/rc");
    let ctr = h.create(&spec);
    assert_eq!(h.status(&ctr.id), "created");
    h.rt(&["start", &ctr.id]).expect_ok();
    assert!(wait_until(STATE_TIMEOUT, || out_dir.join("rc").exists()
        && std::fs::read_to_string(out_dir.join("rc"))
            .is_ok_and(|s| s.ends_with('\n'))));
    assert_eq!(
        std::fs::read_to_string(out_dir.join("rc")).unwrap(),
        "rc=1\n"
    );
    let err = std::fs::read_to_string(out_dir.join("err")).unwrap();
    assert!(err.contains("Operation not permitted"), "{err}");
}

/// `create` with `filter` must fail, leave nothing behind, and (for ongi) name `field`.
#[track_caller]
fn create_fails(h: &Harness, filter: Value, field: &str) {
    let bundle = h.bundle(&with_filter(filter));
    let id = h.new_id();
    let out = h
        .rt(&["create", "--bundle", path_str(&bundle), &id])
        .expect_fail();
    h.assert_no_trace(&id);
    if !is_runc() {
        assert!(
            out.stderr.contains(field),
            "error does not name {field}:\n{out}"
        );
    }
}

#[test]
fn invalid_names_fail_create() {
    let h = Harness::new("sc_invalid");
    let mut f = block(MKDIR, "SCMP_ACT_ALLOW", None);
    f["syscalls"] = json!([
        { "names": ["read"], "action": "SCMP_ACT_ALLOW" },
        { "names": ["mkdir"], "action": "SCMP_ACT_BOGUS" }
    ]);
    create_fails(
        &h,
        f,
        "linux.seccomp.syscalls[1].action: unknown action \"SCMP_ACT_BOGUS\"",
    );
    let mut f = block(MKDIR, "SCMP_ACT_ERRNO", None);
    f["architectures"] = json!(["SCMP_ARCH_X86_64", "SCMP_ARCH_VAX"]);
    create_fails(&h, f, "linux.seccomp.architectures[1]");
    let mut f = block(MKDIR, "SCMP_ACT_ERRNO", None);
    f["syscalls"][0]["args"] = json!([{ "index": 0, "value": 1, "op": "SCMP_CMP_ALMOST" }]);
    create_fails(
        &h,
        f,
        "linux.seccomp.syscalls[0].args[0].op: unknown operator",
    );
    create_fails(
        &h,
        json!({ "defaultAction": "SCMP_ACT_ALLOW", "syscalls": [] , "flags": ["SECCOMP_FILTER_FLAG_BOGUS"] }),
        "linux.seccomp.flags[0]",
    );
    create_fails(
        &h,
        json!({ "defaultAction": "SCMP_ACT_NOPE" }),
        "linux.seccomp.defaultAction",
    );
}

#[test]
fn invalid_values_fail_create() {
    let h = Harness::new("sc_invalid_val");
    let mut f = block(&["kill"], "SCMP_ACT_ERRNO", None);
    f["syscalls"][0]["args"] = json!([{ "index": 6, "value": 1, "op": "SCMP_CMP_EQ" }]);
    create_fails(&h, f, "linux.seccomp.syscalls[0].args[0].index");
    create_fails(
        &h,
        json!({ "defaultAction": "SCMP_ACT_NOTIFY" }),
        "linux.seccomp.defaultAction",
    );
    if !skip_on_runc("runc 1.1.5 only notices a missing listenerPath after init loaded the filter")
    {
        create_fails(
            &h,
            block(MKDIR, "SCMP_ACT_NOTIFY", None),
            "linux.seccomp.listenerPath",
        );
    }
}

/// Receives the container process state and the notify fd from the runtime, like a
/// seccomp agent.
fn recv_state_and_fd(listener: &UnixListener) -> (Value, OwnedFd) {
    use nix::sys::socket::{recvmsg, ControlMessageOwned, MsgFlags, UnixAddr};
    let (conn, _) = listener.accept().expect("runtime connects to the agent");
    let mut buf = vec![0u8; 65536];
    let mut cmsg = nix::cmsg_space!([RawFd; 1]);
    let mut iov = [std::io::IoSliceMut::new(&mut buf)];
    let msg = recvmsg::<UnixAddr>(
        conn.as_raw_fd(),
        &mut iov,
        Some(&mut cmsg),
        MsgFlags::empty(),
    )
    .expect("recvmsg from the runtime");
    let mut fd = None;
    for c in msg.cmsgs().expect("cmsgs") {
        if let ControlMessageOwned::ScmRights(fds) = c {
            // SAFETY: the kernel just installed these fds in our table; we own them.
            fd = fds.first().map(|&f| unsafe { OwnedFd::from_raw_fd(f) });
        }
    }
    let n = msg.bytes;
    let state: Value = serde_json::from_slice(&buf[..n]).expect("state is JSON");
    (state, fd.expect("an fd came with the state"))
}

/// Waits (bounded) for one notification on `fd` and answers it with `-errno`.
fn answer_one(fd: &OwnedFd, errno: i32) -> String {
    use libseccomp::{ScmpNotifReq, ScmpNotifResp, ScmpNotifRespFlags};
    let mut pfd = [nix::poll::PollFd::new(
        std::os::fd::AsFd::as_fd(fd),
        nix::poll::PollFlags::POLLIN,
    )];
    let n = nix::poll::poll(&mut pfd, nix::poll::PollTimeout::from(15_000u16)).expect("poll");
    assert_eq!(n, 1, "no notification within 15s");
    let req = ScmpNotifReq::receive(fd.as_raw_fd()).expect("receive notification");
    let name = req.data.syscall.get_name().unwrap_or_default();
    ScmpNotifResp::new_error(req.id, -errno, ScmpNotifRespFlags::empty())
        .respond(fd.as_raw_fd())
        .expect("respond");
    name
}

#[test]
fn notify_sends_state_and_fd_to_listener() {
    let h = Harness::new("sc_notify");
    let sock = h.work().join("agent.sock");
    let listener = UnixListener::bind(&sock).expect("bind agent socket");
    let mut filter = block(MKDIR, "SCMP_ACT_NOTIFY", None);
    filter["listenerPath"] = json!(sock);
    filter["listenerMetadata"] = json!("agent-meta");
    let spec = with_filter(filter).sh(MKDIR_SCRIPT);
    let agent = std::thread::spawn(move || {
        let (state, fd) = recv_state_and_fd(&listener);
        // EXDEV: an answer only our agent would give.
        let syscall = answer_one(&fd, libc::EXDEV);
        (state, syscall)
    });
    let bundle = h.bundle(&spec);
    let id = h.new_id();
    let out = h.rt(&["run", "--bundle", path_str(&bundle), &id]);
    let (state, syscall) = agent.join().expect("agent thread");
    let out = out.expect_ok();
    assert!(out.stdout.contains("touch-ok"), "{out}");
    assert!(out.stdout.contains("Invalid cross-device link"), "{out}");
    assert!(out.stdout.contains("rc=1"), "{out}");
    assert!(MKDIR.contains(&syscall.as_str()), "notified for {syscall}");
    assert_eq!(state["fds"], json!(["seccompFd"]), "{state}");
    assert_eq!(state["metadata"], json!("agent-meta"), "{state}");
    assert!(state["ociVersion"].is_string(), "{state}");
    assert!(state["pid"].as_i64().is_some_and(|p| p > 0), "{state}");
    assert_eq!(state["state"]["id"], json!(id), "{state}");
    assert_eq!(state["state"]["status"], json!("creating"), "{state}");
    assert_eq!(state["state"]["pid"], state["pid"], "{state}");
    assert_eq!(
        state["state"]["bundle"].as_str().map(Path::new),
        Some(bundle.as_path()),
        "{state}"
    );
}

#[test]
fn notify_syscall_waits_for_the_agent() {
    // The blocked syscall does not return until the agent answers.
    let h = Harness::new("sc_notify_wait");
    let sock = h.work().join("agent.sock");
    let listener = UnixListener::bind(&sock).expect("bind agent socket");
    let mut filter = block(MKDIR, "SCMP_ACT_NOTIFY", None);
    filter["listenerPath"] = json!(sock);
    let out_dir = h.dir("out");
    let spec = with_filter(filter)
        .bind(&out_dir, "/out", &[])
        .sh("echo before >/out/log; mkdir /tmp/x 2>>/out/log; echo rc=$? >>/out/log");
    let (tx, rx) = std::sync::mpsc::channel();
    let (go_tx, go_rx) = std::sync::mpsc::channel::<()>();
    let agent = std::thread::spawn(move || {
        let (_state, fd) = recv_state_and_fd(&listener);
        tx.send(()).ok();
        // Hold the answer back until the test has seen mkdir still waiting.
        go_rx.recv_timeout(Duration::from_secs(30)).ok();
        answer_one(&fd, libc::EPERM)
    });
    let ctr = h.create(&spec);
    rx.recv_timeout(Duration::from_secs(10))
        .expect("agent got the fd during create");
    h.rt(&["start", &ctr.id]).expect_ok();
    let log = out_dir.join("log");
    assert!(wait_until(STATE_TIMEOUT, || std::fs::read_to_string(&log)
        .is_ok_and(|s| s == "before\n")));
    std::thread::sleep(Duration::from_millis(300));
    assert_eq!(
        std::fs::read_to_string(&log).unwrap(),
        "before\n",
        "mkdir returned without an answer"
    );
    go_tx.send(()).expect("agent waits");
    assert_eq!(agent.join().expect("agent"), "mkdir");
    assert!(wait_until(STATE_TIMEOUT, || std::fs::read_to_string(&log)
        .is_ok_and(|s| s.contains("rc="))));
    let text = std::fs::read_to_string(&log).unwrap();
    assert!(
        text.contains("Operation not permitted") && text.ends_with("rc=1\n"),
        "{text}"
    );
}

#[test]
fn features_json() {
    let h = Harness::new("sc_features");
    let out = h.rt(&["features"]).expect_ok();
    let f: Value =
        serde_json::from_str(&out.stdout).unwrap_or_else(|e| panic!("not JSON ({e}):\n{out}"));
    for key in [
        "ociVersionMin",
        "ociVersionMax",
        "hooks",
        "mountOptions",
        "linux",
        "annotations",
    ] {
        assert!(f.get(key).is_some(), "no {key} in {f:#}");
    }
    let linux = &f["linux"];
    let strs = |v: &Value| -> Vec<String> {
        v.as_array()
            .unwrap_or_else(|| panic!("not an array: {v}"))
            .iter()
            .map(|s| s.as_str().unwrap().to_string())
            .collect()
    };
    assert!(strs(&f["hooks"]).contains(&"createContainer".to_string()));
    assert!(strs(&f["mountOptions"]).contains(&"rbind".to_string()));
    for ns in ["cgroup", "ipc", "mount", "network", "pid", "user", "uts"] {
        assert!(strs(&linux["namespaces"]).contains(&ns.to_string()), "{ns}");
    }
    assert!(strs(&linux["capabilities"]).contains(&"CAP_SYS_ADMIN".to_string()));
    for k in ["v1", "v2", "systemd", "systemdUser"] {
        assert!(linux["cgroup"][k].is_boolean(), "cgroup.{k}");
    }
    let sc = &linux["seccomp"];
    assert_eq!(sc["enabled"], json!(true));
    let actions = strs(&sc["actions"]);
    for a in [
        "SCMP_ACT_ALLOW",
        "SCMP_ACT_ERRNO",
        "SCMP_ACT_KILL",
        "SCMP_ACT_KILL_PROCESS",
        "SCMP_ACT_KILL_THREAD",
        "SCMP_ACT_LOG",
        "SCMP_ACT_NOTIFY",
        "SCMP_ACT_TRACE",
        "SCMP_ACT_TRAP",
    ] {
        assert!(actions.contains(&a.to_string()), "{a}");
    }
    assert_eq!(strs(&sc["operators"]).len(), 7);
    assert!(strs(&sc["archs"]).contains(&"SCMP_ARCH_X86_64".to_string()));
    assert!(f["annotations"]["io.github.seccomp.libseccomp.version"].is_string());
    if !skip_on_runc("runc 1.1.5 reports no seccomp flags and AppArmor/SELinux enabled") {
        assert!(strs(&sc["knownFlags"]).contains(&"SECCOMP_FILTER_FLAG_LOG".to_string()));
        assert!(strs(&sc["supportedFlags"]).contains(&"SECCOMP_FILTER_FLAG_LOG".to_string()));
        assert_eq!(linux["apparmor"]["enabled"], json!(false));
        assert_eq!(linux["selinux"]["enabled"], json!(false));
    }
}

#[test]
#[cfg_attr(
    ongi_test_runc,
    ignore = "runc needs write only at start (exec fifo), so its create succeeds"
)]
fn profile_refusing_inits_last_syscalls_fails_create() {
    // Like runc, init needs a few syscalls after loading the filter (write to report ready,
    // the exec fifo, execve). A profile refusing them fails `create` cleanly, saying why.
    let h = Harness::new("sc_init_blocked");
    let allow = json!([{ "names": ["execve", "exit_group", "openat", "close"], "action": "SCMP_ACT_ALLOW" }]);
    for (default, want) in [
        ("SCMP_ACT_ERRNO", "linux.seccomp must allow"),
        // A profile that kills instead of failing the syscall.
        ("SCMP_ACT_KILL_PROCESS", "SIGSYS"),
    ] {
        let filter = json!({ "defaultAction": default, "syscalls": allow });
        let bundle = h.bundle(&with_filter(filter));
        let id = h.new_id();
        let out = h
            .rt(&["create", "--bundle", path_str(&bundle), &id])
            .expect_fail();
        h.assert_no_trace(&id);
        assert!(out.stderr.contains(want), "{default}: {out}");
    }
}

#[test]
fn unreachable_listener_fails_create() {
    let h = Harness::new("sc_no_agent");
    let mut filter = block(MKDIR, "SCMP_ACT_NOTIFY", None);
    let sock = h.work().join("nobody.sock");
    filter["listenerPath"] = json!(sock);
    let bundle = h.bundle(&with_filter(filter));
    let id = h.new_id();
    let out = h
        .rt(&["create", "--bundle", path_str(&bundle), &id])
        .expect_fail();
    h.assert_no_trace(&id);
    assert!(out.stderr.contains(path_str(&sock)), "{out}");
}

#[test]
fn notify_fd_does_not_reach_the_container() {
    // The agent never accepts: the runtime's message waits in the socket's backlog.
    let h = Harness::new("sc_notify_fds");
    let sock = h.work().join("agent.sock");
    let _listener = UnixListener::bind(&sock).expect("bind agent socket");
    let mut filter = block(MKDIR, "SCMP_ACT_NOTIFY", None);
    filter["listenerPath"] = json!(sock);
    let out = h.run_ok(&with_filter(filter).args(&["ls", "/proc/self/fd"]));
    // 0-2, and 3 is ls's own directory fd.
    assert_eq!(
        out.split_whitespace().collect::<Vec<_>>(),
        ["0", "1", "2", "3"]
    );
}

#[test]
fn allow_list_with_argument_rules() {
    // The shape of container engines' default profiles: an allow-list under ERRNO, clone
    // only without namespace flags (MASKED_EQ with datum 0), clone3 answering ENOSYS so libc
    // falls back to clone, and several ALLOW rules for personality values.
    let h = Harness::new("sc_engine_shape");
    let names: Vec<&str> = ALLOW
        .iter()
        .copied()
        .filter(|n| *n != "clone" && *n != "clone3")
        .collect();
    // CLONE_NEWNS|NEWCGROUP|NEWUTS|NEWIPC|NEWUSER|NEWPID|NEWNET
    let ns_flags: u64 = 0x0002_0000
        | 0x0200_0000
        | 0x0400_0000
        | 0x0800_0000
        | 0x1000_0000
        | 0x2000_0000
        | 0x4000_0000;
    let mut syscalls = vec![
        json!({ "names": names, "action": "SCMP_ACT_ALLOW" }),
        json!({ "names": ["clone"], "action": "SCMP_ACT_ALLOW",
                "args": [{ "index": 0, "value": ns_flags, "op": "SCMP_CMP_MASKED_EQ" }] }),
        json!({ "names": ["clone3"], "action": "SCMP_ACT_ERRNO", "errnoRet": 38 }),
    ];
    for persona in [0u64, 8, 0xffff_ffff] {
        syscalls.push(
            json!({ "names": ["personality"], "action": "SCMP_ACT_ALLOW",
            "args": [{ "index": 0, "value": persona, "op": "SCMP_CMP_EQ" }] }),
        );
    }
    let filter = json!({
        "defaultAction": "SCMP_ACT_ERRNO",
        "defaultErrnoRet": 1,
        "architectures": ["SCMP_ARCH_X86_64", "SCMP_ARCH_X86", "SCMP_ARCH_X32"],
        "syscalls": syscalls
    });
    let spec = with_filter(filter)
        .set("/process/capabilities/bounding", json!(["CAP_SYS_ADMIN"]))
        .set("/process/capabilities/effective", json!(["CAP_SYS_ADMIN"]))
        .set("/process/capabilities/permitted", json!(["CAP_SYS_ADMIN"]))
        .sh("echo $(echo forked); linux32 true; echo l32=$?; \
             unshare -u true 2>&1; echo unshare=$?; mkdir /tmp/x 2>&1; echo mkdir=$?");
    let out = h.run_ok(&spec);
    for want in ["forked", "l32=0", "unshare=1", "mkdir=1"] {
        assert!(out.lines().any(|l| l == want), "missing {want}:\n{out}");
    }
    // unshare is not allowed: it fails even with CAP_SYS_ADMIN.
    assert!(out.contains("Operation not permitted"), "{out}");
}

#[test]
#[cfg_attr(
    ongi_test_runc,
    ignore = "the compiled-program cache under --root is ongi's"
)]
fn compiled_profile_is_reused_and_still_enforced() {
    let h = Harness::new("sc_cache");
    let spec = with_filter(block(MKDIR, "SCMP_ACT_ERRNO", Some(1))).sh(MKDIR_SCRIPT);
    for _ in 0..2 {
        // The second container loads the cached program: it must block the same calls.
        let out = h.run_ok(&spec);
        assert!(out.contains("Operation not permitted"), "{out}");
    }
    let other = with_filter(block(MKDIR, "SCMP_ACT_ERRNO", Some(13))).sh(MKDIR_SCRIPT);
    let out = h.run_ok(&other);
    assert!(
        out.contains("Permission denied"),
        "a different profile got a cached program: {out}"
    );
    let cache = h.root().join("@seccomp-cache");
    let files = std::fs::read_dir(&cache).map(|d| d.count()).unwrap_or(0);
    assert_eq!(
        files,
        2,
        "one cached program per profile in {}",
        cache.display()
    );
    // The cache is not a container.
    assert!(h.list_json().is_empty());
}

#[test]
#[cfg_attr(
    ongi_test_runc,
    ignore = "runc 1.1.5 ignores errnoRet on SCMP_ACT_KILL"
)]
fn errno_ret_on_an_action_without_errno_fails_create() {
    // runtime-spec: "When the action doesn't support an errno, the runtime MUST print and
    // error and fail".
    let h = Harness::new("sc_errno_kill");
    create_fails(
        &h,
        block(MKDIR, "SCMP_ACT_KILL", Some(18)),
        "linux.seccomp.syscalls[0].errnoRet",
    );
}
