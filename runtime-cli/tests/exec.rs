//! `exec` into a running container, and `ps`.

mod common;

use common::*;
use nix::sys::socket::{recvmsg, ControlMessageOwned, MsgFlags};
use serde_json::json;
use std::io::{IoSliceMut, Read};
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::os::unix::net::UnixListener;
use std::time::Duration;

const CAP_KILL: u32 = 5;
const CAP_NET_BIND_SERVICE: u32 = 10;
const CAP_SYS_ADMIN: u32 = 21;
const CAP_AUDIT_WRITE: u32 = 29;

/// A started container whose init sleeps, to exec into.
fn sleeper(h: &Harness) -> Ctr {
    h.start(&sleeper_spec())
}

fn sleeper_spec() -> Spec {
    Spec::new().args(&["sleep", "1000"])
}

/// `exec ID ARGS...`.
#[track_caller]
fn exec(h: &Harness, id: &str, args: &[&str]) -> Output {
    let mut full = vec!["exec", id];
    full.extend_from_slice(args);
    h.rt(&full)
}

/// `exec` with flags before the id.
#[track_caller]
fn exec_with(h: &Harness, flags: &[&str], id: &str, args: &[&str]) -> Output {
    let mut full = vec!["exec"];
    full.extend_from_slice(flags);
    full.push(id);
    full.extend_from_slice(args);
    h.rt(&full)
}

#[test]
fn output_and_exit_status() {
    let h = Harness::new("exec_status");
    let c = sleeper(&h);
    // `-c` after the id belongs to the command, not to exec.
    let out = exec(&h, &c.id, &["sh", "-c", "echo hi; echo err >&2; exit 3"]);
    assert_eq!(out.code(), Some(3), "{out}");
    assert_eq!(out.stdout, "hi\n", "{out}");
    assert!(out.stderr.contains("err"), "{out}");
    assert_eq!(exec(&h, &c.id, &["true"]).expect_ok().stdout, "");
    // Killed by a signal: 128 + signal, as a shell reports it.
    let out = exec(&h, &c.id, &["sh", "-c", "kill -9 $$"]);
    assert_eq!(out.code(), Some(137), "{out}");
    // The container is untouched by all this.
    assert_eq!(h.status(&c.id), "running");
}

#[test]
fn sees_the_container_not_the_host() {
    let h = Harness::new("exec_view");
    let spec = sleeper_spec().set("/hostname", json!("exec-box"));
    let bundle = h.bundle(&spec);
    write_file(&bundle.join("rootfs/only-in-rootfs"), "rootfs file\n");
    let id = h.new_id();
    h.rt(&["run", "-d", "--bundle", path_str(&bundle), &id])
        .expect_ok();
    let script = "hostname; echo $$; cat /proc/1/cmdline | tr '\\0' ' '; echo; \
                  cat /only-in-rootfs; tail -n +3 /proc/net/dev | cut -d: -f1 | tr -d ' '";
    let out = exec(&h, &id, &["sh", "-c", script]).expect_ok();
    let lines = out.lines();
    assert_eq!(lines[0], "exec-box", "uts namespace:\n{out}");
    let own: i32 = lines[1].parse().expect("pid");
    assert!(own > 1 && own < 20, "pid namespace: own pid {own}:\n{out}");
    assert_eq!(
        lines[2].trim(),
        "sleep 1000",
        "pid 1 is the container's init:\n{out}"
    );
    assert_eq!(lines[3], "rootfs file", "mount namespace:\n{out}");
    assert_eq!(&lines[4..], ["lo"], "network namespace has only lo:\n{out}");
    assert!(!std::path::Path::new("/only-in-rootfs").exists());
}

#[test]
fn namespaces_are_inits() {
    let h = Harness::new("exec_ns");
    // A user namespace too: exercises the join order (user between the two passes).
    let spec = sleeper_spec()
        .user_namespace(100_000, 65_536)
        .namespace("cgroup", None);
    let c = h.start(&spec);
    let init = h.pid(&c.id).to_string();
    let kinds = ["pid", "net", "ipc", "uts", "mnt", "cgroup", "user"];
    let script = kinds
        .iter()
        .map(|k| format!("readlink /proc/self/ns/{k}"))
        .collect::<Vec<_>>()
        .join("; ")
        + "; id -u";
    let out = exec(&h, &c.id, &["sh", "-c", &script]).expect_ok();
    let lines = out.lines();
    for (i, k) in kinds.iter().enumerate() {
        assert_eq!(lines[i], ns_link(&init, k), "{k} namespace:\n{out}");
        assert_ne!(lines[i], ns_link("self", k), "{k} is the host's:\n{out}");
    }
    assert_eq!(
        lines[kinds.len()],
        "0",
        "root of the user namespace:\n{out}"
    );
}

#[test]
fn joins_the_container_cgroup() {
    let h = Harness::new("exec_cgroup");
    let c = sleeper(&h);
    let init = h.pid(&c.id);
    let want = std::fs::read_to_string(format!("/proc/{init}/cgroup")).expect("init cgroup");
    let out = exec(&h, &c.id, &["cat", "/proc/self/cgroup"]).expect_ok();
    assert_eq!(out.stdout, want, "exec'd process is not in init's cgroups");
    assert!(want.contains(&c.id) || !cgroup_dirs_named(&c.id).is_empty());
}

#[test]
fn env_cwd_and_user_flags() {
    let h = Harness::new("exec_flags");
    let c = sleeper(&h);
    let out = exec_with(
        &h,
        // runc refuses -e and --env in one command line.
        &[
            "--env",
            "FOO=bar",
            "--env=BAZ=qux",
            "--env",
            "TERM=dumb",
            "--cwd",
            "/tmp",
        ],
        &c.id,
        &[
            "sh",
            "-c",
            "echo $FOO $BAZ $TERM; pwd; env | grep -c ^TERM=",
        ],
    )
    .expect_ok();
    assert_eq!(out.lines(), ["bar qux dumb", "/tmp", "1"], "{out}");
    let out = exec_with(&h, &["-e", "X=short"], &c.id, &["sh", "-c", "echo $X"]).expect_ok();
    assert_eq!(out.stdout, "short\n");

    let out = exec_with(
        &h,
        &["-u", "1000:1000", "--additional-gids", "5"],
        &c.id,
        &["sh", "-c", "id -u; id -g; id -G; echo $HOME"],
    )
    .expect_ok();
    assert_eq!(
        out.lines(),
        ["1000", "1000", "1000 5", "/home/user"],
        "{out}"
    );
    let out = exec_with(&h, &["--user=1000"], &c.id, &["sh", "-c", "id -u; id -g"]).expect_ok();
    assert_eq!(
        out.lines(),
        ["1000", "0"],
        "gid stays the configured one:\n{out}"
    );
}

#[test]
fn capabilities_and_no_new_privs() {
    let h = Harness::new("exec_caps");
    let c = h.start(&sleeper_spec().set("/process/noNewPrivileges", json!(false)));
    let status = |flags: &[&str]| -> String {
        exec_with(&h, flags, &c.id, &["cat", "/proc/self/status"])
            .expect_ok()
            .stdout
    };
    let base = status(&[]);
    let configured = cap_mask(&[CAP_KILL, CAP_NET_BIND_SERVICE, CAP_AUDIT_WRITE]);
    assert_eq!(status_field(&base, "CapEff"), configured);
    assert_eq!(status_field(&base, "CapBnd"), configured);
    assert_eq!(status_field(&base, "NoNewPrivs"), "0");

    let more = status(&["--cap", "CAP_SYS_ADMIN", "--no-new-privs"]);
    let with_admin = cap_mask(&[
        CAP_KILL,
        CAP_NET_BIND_SERVICE,
        CAP_SYS_ADMIN,
        CAP_AUDIT_WRITE,
    ]);
    for set in ["CapEff", "CapPrm", "CapBnd"] {
        assert_eq!(status_field(&more, set), with_admin, "{set}:\n{more}");
    }
    assert_eq!(status_field(&more, "NoNewPrivs"), "1");
}

#[test]
fn process_json_replaces_the_configured_process() {
    let h = Harness::new("exec_process");
    let c = sleeper(&h);
    let process = json!({
        "args": ["sh", "-c", "echo $A; id -u; pwd"],
        "env": [
            "PATH=/bin",
            "A=from-json",
            format!("{MARKER_VAR}={}", h.marker()),
        ],
        "cwd": "/etc",
        "user": { "uid": 1000, "gid": 1000 },
    });
    let file = h.work().join("process.json");
    write_file(&file, &process.to_string());
    // Flags are ignored when a process.json is given (runc).
    let out = exec_with(
        &h,
        &["--process", path_str(&file), "-e", "A=flag"],
        &c.id,
        &[],
    )
    .expect_ok();
    assert_eq!(out.lines(), ["from-json", "1000", "/etc"], "{out}");
}

#[test]
fn detached_with_pid_file_and_ps() {
    let h = Harness::new("exec_detach");
    let c = sleeper(&h);
    let init = h.pid(&c.id);
    let pid_file = h.work().join("exec.pid");
    exec_with(
        &h,
        &["-d", "--pid-file", path_str(&pid_file)],
        &c.id,
        &["sleep", "1000"],
    )
    .expect_ok();
    let pid: i32 = read_opt(&pid_file)
        .expect("pid file written")
        .trim()
        .parse()
        .expect("pid file holds a pid");
    assert!(pid_alive(pid), "detached process {pid} is not running");
    assert_ne!(pid, init);
    assert_eq!(
        ns_link(&pid.to_string(), "pid"),
        ns_link(&init.to_string(), "pid")
    );

    let out = h.rt(&["ps", "--format", "json", &c.id]).expect_ok();
    let pids: Vec<i32> = serde_json::from_str(&out.stdout).expect("ps json is a list of pids");
    assert!(pids.contains(&init) && pids.contains(&pid), "{out}");

    let out = h.rt(&["ps", &c.id]).expect_ok();
    assert!(out.lines()[0].contains("PID"), "header:\n{out}");
    let listed: Vec<i32> = out.lines()[1..]
        .iter()
        .filter_map(|l| l.split_whitespace().nth(1)?.parse().ok())
        .collect();
    assert!(listed.contains(&init) && listed.contains(&pid), "{out}");
    assert!(
        listed.iter().all(|p| pids.contains(p)),
        "host pids leaked in:\n{out}"
    );

    // SAFETY: kill(2) of the process this test started.
    unsafe { libc::kill(pid, libc::SIGKILL) };
    assert!(wait_pid_gone(pid), "{pid} survived SIGKILL");
    assert_eq!(h.status(&c.id), "running");
}

#[test]
fn tty_master_goes_over_console_socket() {
    let h = Harness::new("exec_tty");
    let c = sleeper(&h);
    let sock = h.work().join("console.sock");
    let listener = UnixListener::bind(&sock).expect("bind console socket");
    let receiver = std::thread::spawn(move || receive_fd(&listener));
    exec_with(
        &h,
        &["-t", "-d", "--console-socket", path_str(&sock)],
        &c.id,
        &[
            "sh",
            "-c",
            "[ -t 0 ] && [ -t 1 ] && echo stdio-is-a-tty; tty; echo done",
        ],
    )
    .expect_ok();
    let master = receiver.join().expect("receiver thread");
    let mut f = std::fs::File::from(master);
    let mut out = String::new();
    let mut buf = [0u8; 1024];
    let got_all = wait_until(Duration::from_secs(10), || match f.read(&mut buf) {
        Ok(0) | Err(_) => true,
        Ok(n) => {
            out.push_str(&String::from_utf8_lossy(&buf[..n]));
            out.contains("done")
        }
    });
    assert!(got_all, "no output on the pty master: {out:?}");
    assert!(
        out.contains("stdio-is-a-tty"),
        "stdio is not the pty: {out:?}"
    );
    assert!(out.contains("/dev/pts/"), "tty name: {out:?}");
    assert!(out.contains("\r\n"), "no onlcr translation: {out:?}");
}

#[test]
fn detached_tty_without_console_socket_fails() {
    let h = Harness::new("exec_tty_nosock");
    let c = sleeper(&h);
    let out = exec_with(&h, &["-t", "-d"], &c.id, &["true"]).expect_fail();
    assert!(out.stderr.contains("console"), "{out}");
}

#[test]
fn no_fds_leak_into_the_process() {
    let h = Harness::new("exec_fds");
    let c = sleeper(&h);
    // ls itself holds the directory open as fd 3.
    let out = exec(&h, &c.id, &["ls", "/proc/self/fd"]).expect_ok();
    assert_eq!(out.lines(), ["0", "1", "2", "3"], "{out}");
}

#[test]
fn preserve_fds_passes_extra_fds() {
    let h = Harness::new("exec_preserve");
    let c = sleeper(&h);
    // fd 3 of the runtime is a file: with --preserve-fds 1 the process can write to it.
    let file = h.work().join("fd3.txt");
    let f = std::fs::File::create(&file).expect("create fd3 file");
    let root = path_str(h.root()).to_string();
    let mut cmd = std::process::Command::new(runtime());
    cmd.args(["--root", &root, "exec", "--preserve-fds", "1", &c.id])
        .args(["sh", "-c", "echo via-fd3 >&3; ls /proc/self/fd"])
        .env(MARKER_VAR, h.marker());
    // Far away from 3: dup2(3, 3) would keep O_CLOEXEC and the runtime would not get it.
    // SAFETY: F_DUPFD_CLOEXEC on an fd we own; the copy is closed below.
    let raw = unsafe { libc::fcntl(f.as_raw_fd(), libc::F_DUPFD_CLOEXEC, 100) };
    assert!(raw >= 100, "dup fd3 file");
    use std::os::unix::process::CommandExt;
    // SAFETY: dup2 is async-signal-safe; it runs in the forked child before exec.
    unsafe {
        cmd.pre_exec(move || {
            if libc::dup2(raw, 3) < 0 {
                return Err(std::io::Error::last_os_error());
            }
            Ok(())
        });
    }
    let out = cmd.output().expect("run exec");
    // SAFETY: closing the copy made above, owned by this test.
    unsafe { libc::close(raw) };
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{out:?}");
    assert_eq!(
        stdout.lines().collect::<Vec<_>>(),
        ["0", "1", "2", "3", "4"],
        "{out:?}"
    );
    assert_eq!(read_opt(&file).as_deref(), Some("via-fd3\n"));
}

#[test]
fn exec_in_created_container() {
    let h = Harness::new("exec_created");
    let c = h.create(&sleeper_spec());
    let out = exec(&h, &c.id, &["echo", "hi"]).expect_ok();
    assert_eq!(out.stdout, "hi\n");
    // init still waits for start.
    assert_eq!(h.status(&c.id), "created");
    h.rt(&["start", &c.id]).expect_ok();
    assert_eq!(h.status(&c.id), "running");
}

#[test]
fn stopped_and_missing_containers_fail_clearly() {
    let h = Harness::new("exec_stopped");
    let c = h.start(&Spec::new().args(&["true"]));
    h.wait_status(&c.id, "stopped");
    let out = exec(&h, &c.id, &["true"]).expect_fail();
    assert!(out.stderr.contains("stopped"), "{out}");

    let out = exec(&h, "no-such-container", &["true"]).expect_fail();
    assert!(out.stderr.contains("does not exist"), "{out}");

    // No command at all.
    exec(&h, &c.id, &[]).expect_fail();
}

#[test]
fn missing_binary_fails_clearly() {
    let h = Harness::new("exec_nobin");
    let c = sleeper(&h);
    let out = exec(&h, &c.id, &["no-such-binary", "x"]);
    assert_eq!(
        out.code(),
        Some(255),
        "runc's exit code for a failed exec:\n{out}"
    );
    assert!(
        out.stderr.contains("no-such-binary") && out.stderr.contains("executable file not found"),
        "{out}"
    );
    let out = exec(&h, &c.id, &["/bin/no-such-binary"]).expect_fail();
    assert!(out.stderr.contains("no-such-binary"), "{out}");
    assert_eq!(h.status(&c.id), "running");
    // Nothing but init is left in the container.
    let out = h.rt(&["ps", "--format", "json", &c.id]).expect_ok();
    let pids: Vec<i32> = serde_json::from_str(&out.stdout).expect("json");
    assert_eq!(pids, [h.pid(&c.id)], "{out}");
}

#[test]
fn ps_of_a_missing_container_fails() {
    let h = Harness::new("ps_missing");
    let out = h.rt(&["ps", "no-such-container"]).expect_fail();
    assert!(out.stderr.contains("does not exist"), "{out}");
}

#[test]
fn foreground_exec_forwards_signals() {
    let h = Harness::new("exec_signals");
    let c = sleeper(&h);
    let root = path_str(h.root()).to_string();
    let mut rt = std::process::Command::new(runtime())
        .args(["--root", &root, "exec", &c.id, "sleep", "1000"])
        .env(MARKER_VAR, h.marker())
        .stdout(std::process::Stdio::null())
        .spawn()
        .expect("spawn exec");
    let mut pids = Vec::new();
    let started = wait_until(STATE_TIMEOUT, || {
        let out = h.rt(&["ps", "--format", "json", &c.id]).expect_ok();
        pids = serde_json::from_str(&out.stdout).unwrap_or_default();
        pids.len() == 2
    });
    assert!(started, "exec'd process never appeared: {pids:?}");
    let init = h.pid(&c.id);
    let exec_pid = *pids.iter().find(|p| **p != init).expect("exec pid");
    // SAFETY: kill(2) of the runtime process this test spawned.
    unsafe { libc::kill(rt.id() as i32, libc::SIGTERM) };
    let mut status = None;
    let done = wait_until(STATE_TIMEOUT, || {
        status = rt.try_wait().expect("wait exec");
        status.is_some()
    });
    if !done {
        let _ = rt.kill();
    }
    let status = status.expect("exec did not end after SIGTERM");
    assert_eq!(
        status.code(),
        Some(143),
        "SIGTERM reached the process: {status:?}"
    );
    assert!(wait_pid_gone(exec_pid), "exec'd process survived");
    assert_eq!(h.status(&c.id), "running");
}

#[test]
fn unwritable_pid_file_fails_and_leaves_no_process() {
    let h = Harness::new("exec_pidfile");
    let c = sleeper(&h);
    let bad = h.work().join("no-such-dir/exec.pid");
    let out = exec_with(
        &h,
        &["-d", "--pid-file", path_str(&bad)],
        &c.id,
        &["sleep", "1000"],
    )
    .expect_fail();
    assert!(out.stderr.contains("no-such-dir"), "{out}");
    let gone = wait_until(STATE_TIMEOUT, || {
        let out = h.rt(&["ps", "--format", "json", &c.id]).expect_ok();
        let pids: Vec<i32> = serde_json::from_str(&out.stdout).unwrap_or_default();
        pids == [h.pid(&c.id)]
    });
    assert!(gone, "the exec'd process was left running");
}

#[test]
#[cfg_attr(
    ongi_test_runc,
    ignore = "runc's init is a sealed memfd copy of runc, readable by design"
)]
fn waiting_init_does_not_expose_the_runtime_binary() {
    // CVE-2019-5736: while init waits for `start` it still runs the runtime's binary; a
    // process exec'd next to it must not be able to open it through /proc/1/exe.
    let h = Harness::new("exec_cve");
    let c = h.create(&sleeper_spec());
    let out = exec(
        &h,
        &c.id,
        &["sh", "-c", "cat /proc/1/exe > /dev/null && echo readable"],
    );
    assert!(!out.stdout.contains("readable"), "{out}");
    assert!(
        out.stderr.contains("Permission denied") || out.stderr.contains("denied"),
        "{out}"
    );
    // The user program, once started, is an ordinary dumpable process again.
    h.rt(&["start", &c.id]).expect_ok();
    let out = exec(
        &h,
        &c.id,
        &["sh", "-c", "cat /proc/1/exe > /dev/null && echo readable"],
    );
    assert_eq!(out.stdout, "readable\n", "{out}");
}

#[test]
fn exec_with_host_pid_and_network_namespaces() {
    // Namespaces the container shares with the host are not joined (nothing to join; setns
    // into one's own user namespace would even fail).
    let h = Harness::new("exec_hostns");
    let c = h.start(
        &sleeper_spec()
            .without_namespace("pid")
            .without_namespace("network"),
    );
    let init = h.pid(&c.id);
    let out = exec(
        &h,
        &c.id,
        &[
            "sh",
            "-c",
            "for n in pid net mnt; do readlink /proc/self/ns/$n; done",
        ],
    )
    .expect_ok();
    assert_eq!(
        out.lines(),
        [
            ns_link("self", "pid"),
            ns_link("self", "net"),
            ns_link(&init.to_string(), "mnt")
        ],
        "{out}"
    );
}

#[test]
fn exec_in_a_paused_container_is_refused() {
    let h = Harness::new("exec_paused");
    let c = sleeper(&h);
    // Freeze it the way `pause` does, directly in the cgroup (v1 freezer or v2 freeze).
    let dirs = cgroup_dirs_named(&c.id);
    let mut frozen = Vec::new();
    for d in &dirs {
        for (file, on, off) in [
            ("freezer.state", "FROZEN", "THAWED"),
            ("cgroup.freeze", "1", "0"),
        ] {
            let p = d.join(file);
            if p.exists() && std::fs::write(&p, on).is_ok() {
                frozen.push((p, off));
            }
        }
    }
    assert!(!frozen.is_empty(), "no freezer for {dirs:?}");
    h.wait_status(&c.id, "paused");
    let out = exec(&h, &c.id, &["true"]).expect_fail();
    assert!(out.stderr.contains("paused"), "{out}");
    for (p, off) in frozen {
        write_file(&p, off);
    }
    h.wait_status(&c.id, "running");
    exec(&h, &c.id, &["true"]).expect_ok();
}

#[test]
fn tty_without_console_socket_relays_through_the_runtime() {
    use nix::sys::termios::{tcgetattr, LocalFlags};
    use std::io::Write;
    use std::os::unix::process::CommandExt;
    // The runtime runs on a terminal of its own (as from an interactive shell): it must put
    // it in raw mode, relay it to the container's pty, and restore it at the end.
    let h = Harness::new("exec_tty_relay");
    let c = sleeper(&h);
    let pty = nix::pty::openpty(None, None).expect("openpty");
    let slave_raw = pty.slave.as_raw_fd();
    let root = path_str(h.root()).to_string();
    let mut cmd = std::process::Command::new(runtime());
    cmd.args(["--root", &root, "exec", "-t", &c.id, "sh"])
        .env(MARKER_VAR, h.marker())
        .stdin(std::fs::File::from(
            pty.slave.try_clone().expect("dup slave"),
        ))
        .stdout(std::fs::File::from(
            pty.slave.try_clone().expect("dup slave"),
        ))
        .stderr(std::process::Stdio::piped());
    // SAFETY: setsid and ioctl are async-signal-safe; they run in the child before exec and
    // make the pty slave (its stdin) the runtime's controlling terminal.
    unsafe {
        cmd.pre_exec(|| {
            if libc::setsid() < 0 || libc::ioctl(0, libc::TIOCSCTTY, 0) < 0 {
                return Err(std::io::Error::last_os_error());
            }
            Ok(())
        });
    }
    let mut rt = cmd.spawn().expect("spawn exec -t");
    let mut master = std::fs::File::from(pty.master);
    master
        .write_all(b"echo relay-$((40+2)); exit 5\n")
        .expect("type into the terminal");
    let mut status = None;
    let done = wait_until(Duration::from_secs(10), || {
        status = rt.try_wait().expect("wait");
        status.is_some()
    });
    if !done {
        let _ = rt.kill();
    }
    let mut err = String::new();
    if let Some(mut e) = rt.stderr.take() {
        let _ = e.read_to_string(&mut err);
    }
    let status = status.expect("exec -t did not finish");
    // Everything the runtime relayed is waiting on our side of its terminal.
    // SAFETY: F_SETFL on the master we own.
    unsafe { libc::fcntl(master.as_raw_fd(), libc::F_SETFL, libc::O_NONBLOCK) };
    let mut out = Vec::new();
    let _ = master.read_to_end(&mut out);
    let out = String::from_utf8_lossy(&out);
    assert_eq!(status.code(), Some(5), "stdout: {out:?}\nstderr: {err}");
    assert!(out.contains("relay-42"), "{out:?}");
    // SAFETY: slave_raw is still open (pty.slave lives until the end of this test).
    let term =
        tcgetattr(unsafe { std::os::fd::BorrowedFd::borrow_raw(slave_raw) }).expect("tcgetattr");
    assert!(
        term.local_flags
            .contains(LocalFlags::ICANON | LocalFlags::ECHO),
        "terminal left in raw mode"
    );
    drop(pty.slave);
}

#[test]
fn exec_into_a_no_pivot_container_lands_in_its_root() {
    // With --no-pivot the rootfs is moved over / and chrooted into, not pivoted: joining the
    // mount namespace must still put the process in the container's root.
    let h = Harness::new("exec_nopivot");
    let c = h.create_with(&sleeper_spec(), &["--no-pivot"]);
    write_file(&c.bundle.join("rootfs/tmp/here"), "in rootfs\n");
    h.rt(&["start", &c.id]).expect_ok();
    let out = exec(&h, &c.id, &["sh", "-c", "cat /tmp/here; pwd"]).expect_ok();
    assert_eq!(out.lines(), ["in rootfs", "/"], "{out}");
}

#[test]
fn cgroup_flag_joins_an_existing_sub_cgroup() {
    let h = Harness::new("exec_subcg");
    let c = sleeper(&h);
    let dirs = cgroup_dirs_named(&c.id);
    assert!(!dirs.is_empty());
    let subs: Vec<std::path::PathBuf> = dirs.iter().map(|d| d.join("sub1")).collect();
    for (d, s) in dirs.iter().zip(&subs) {
        std::fs::create_dir(s).unwrap_or_else(|e| panic!("mkdir {}: {e}", s.display()));
        // A v1 cpuset child takes no tasks until it has cpus and mems. (On v2 the child
        // has no cpuset files: the container's cgroup delegates no controller to it.)
        for f in ["cpuset.cpus", "cpuset.mems"] {
            if !s.join(f).exists() {
                continue;
            }
            if let Some(v) = read_opt(&d.join(f)) {
                write_file(&s.join(f), v.trim());
            }
        }
    }
    let out = exec_with(
        &h,
        &["--cgroup", "sub1"],
        &c.id,
        &["cat", "/proc/self/cgroup"],
    );
    // Remove the sub-cgroups before asserting, so that delete can remove the container's.
    for s in &subs {
        let _ = std::fs::remove_dir(s);
    }
    let out = out.expect_ok();
    let mine: Vec<&str> = out
        .lines()
        .into_iter()
        .filter(|l| l.contains(&c.id))
        .collect();
    assert!(!mine.is_empty(), "{out}");
    for l in mine {
        assert!(
            l.ends_with(&format!("{}/sub1", c.id)),
            "not in sub1: {l}\n{out}"
        );
    }
    let out = exec_with(&h, &["--cgroup", "a", "--cgroup", "b"], &c.id, &["true"]).expect_fail();
    assert!(out.stderr.contains("--cgroup"), "{out}");
}

/// A container whose seccomp profile makes mkdir fail with EPERM (and a writable /tmp).
fn mkdir_blocked_spec(action: &str) -> Spec {
    sleeper_spec().tmpfs("/tmp", &["mode=1777"]).set(
        "/linux/seccomp",
        json!({
            "defaultAction": "SCMP_ACT_ALLOW",
            "architectures": ["SCMP_ARCH_X86_64", "SCMP_ARCH_X86", "SCMP_ARCH_X32"],
            "syscalls": [{ "names": ["mkdir", "mkdirat"], "action": action }]
        }),
    )
}

const MKDIR_SCRIPT: &str = "touch /tmp/ok && echo touch-ok; mkdir /tmp/x 2>&1; echo rc=$?";

#[test]
fn exec_gets_the_containers_seccomp_profile() {
    let h = Harness::new("exec_seccomp");
    let c = h.start(&mkdir_blocked_spec("SCMP_ACT_ERRNO"));
    let out = exec(&h, &c.id, &["sh", "-c", MKDIR_SCRIPT]).expect_ok();
    assert!(out.stdout.contains("touch-ok"), "{out}");
    assert!(out.stdout.contains("Operation not permitted"), "{out}");
    assert!(out.stdout.contains("rc=1"), "{out}");
    // With --process and no_new_privileges the filter is loaded at the other point (after
    // the user switch); it applies all the same.
    let pj = h.work().join("process.json");
    write_file(
        &pj,
        &json!({
            "args": ["sh", "-c", MKDIR_SCRIPT], "cwd": "/", "noNewPrivileges": true,
            "user": { "uid": 1000, "gid": 1000 },
            "env": ["PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"]
        })
        .to_string(),
    );
    let out = exec_with(&h, &["--process", path_str(&pj)], &c.id, &[]).expect_ok();
    assert!(out.stdout.contains("Operation not permitted"), "{out}");
}

#[test]
fn exec_keeps_the_profile_of_create_when_config_json_changes() {
    // The seccomp profile and personality are the container's, fixed at create: a bundle
    // whose config.json is rewritten afterwards (or removed, with --process) changes
    // neither, as with runc, which keeps its config in the state.
    let h = Harness::new("exec_seccomp_state");
    let spec = mkdir_blocked_spec("SCMP_ACT_ERRNO");
    let spec = if is_runc() {
        spec
    } else {
        spec.set("/linux/personality", json!({"domain": "LINUX32"}))
    };
    let c = h.start(&spec);
    h.write_config(&c.bundle, &sleeper_spec().tmpfs("/tmp", &["mode=1777"]));
    let out = exec(&h, &c.id, &["sh", "-c", MKDIR_SCRIPT]).expect_ok();
    assert!(out.stdout.contains("touch-ok"), "{out}");
    assert!(out.stdout.contains("Operation not permitted"), "{out}");
    std::fs::remove_file(c.bundle.join("config.json")).expect("remove config.json");
    let pj = h.work().join("process.json");
    write_file(
        &pj,
        &json!({
            "args": ["sh", "-c", "uname -m; mkdir /tmp/y 2>&1; echo rc=$?"], "cwd": "/",
            "user": { "uid": 0, "gid": 0 },
            "env": ["PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"]
        })
        .to_string(),
    );
    let out = exec_with(&h, &["--process", path_str(&pj)], &c.id, &[]).expect_ok();
    assert!(out.stdout.contains("Operation not permitted"), "{out}");
    assert!(out.stdout.contains("rc=1"), "{out}");
    if !is_runc() {
        assert!(out.stdout.starts_with("i686"), "{out}");
    }
}

/// Accepts one connection from the runtime and returns the notify fd it sent.
fn agent_fd(listener: &UnixListener) -> OwnedFd {
    let (conn, _) = listener.accept().expect("runtime connects to the agent");
    let mut buf = vec![0u8; 65536];
    let mut cmsg = nix::cmsg_space!([std::os::fd::RawFd; 1]);
    let mut iov = [IoSliceMut::new(&mut buf)];
    let msg = recvmsg::<nix::sys::socket::UnixAddr>(
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
    fd.expect("an fd came with the state")
}

#[test]
fn exec_sends_its_notify_fd_to_the_agent() {
    use libseccomp::{ScmpNotifReq, ScmpNotifResp, ScmpNotifRespFlags};
    let h = Harness::new("exec_notify");
    let sock = h.work().join("agent.sock");
    let listener = UnixListener::bind(&sock).expect("bind agent socket");
    let mut spec = mkdir_blocked_spec("SCMP_ACT_NOTIFY");
    spec = spec.set("/linux/seccomp/listenerPath", json!(sock));
    let agent = std::thread::spawn(move || {
        // First the fd of init (create), then the one of the exec'd process.
        let _init = agent_fd(&listener);
        let fd = agent_fd(&listener);
        let req = ScmpNotifReq::receive(fd.as_raw_fd()).expect("receive notification");
        ScmpNotifResp::new_error(req.id, -libc::EXDEV, ScmpNotifRespFlags::empty())
            .respond(fd.as_raw_fd())
            .expect("respond");
        req.data.syscall.get_name().unwrap_or_default()
    });
    let c = h.start(&spec);
    let out = exec(&h, &c.id, &["sh", "-c", MKDIR_SCRIPT]).expect_ok();
    let syscall = agent.join().expect("agent");
    assert!(syscall.starts_with("mkdir"), "notified for {syscall}");
    assert!(out.stdout.contains("Invalid cross-device link"), "{out}");
}

#[test]
#[cfg_attr(ongi_test_runc, ignore = "runc 1.1.5 has no linux.personality")]
fn exec_gets_the_containers_personality() {
    let h = Harness::new("exec_personality");
    let c = h.start(&sleeper_spec().set("/linux/personality", json!({"domain": "LINUX32"})));
    let out = exec(&h, &c.id, &["uname", "-m"]).expect_ok();
    assert_eq!(out.stdout.trim(), "i686", "{out}");
}

#[test]
#[cfg_attr(ongi_test_runc, ignore = "runc 1.1.5 has no process.execCPUAffinity")]
fn exec_cpu_affinity_final_is_applied() {
    let h = Harness::new("exec_affinity");
    let c = sleeper(&h);
    let pj = h.work().join("process.json");
    write_file(
        &pj,
        &json!({
            "args": ["grep", "Cpus_allowed_list", "/proc/self/status"], "cwd": "/",
            "user": { "uid": 0, "gid": 0 },
            "execCPUAffinity": { "initial": "0", "final": "0" }
        })
        .to_string(),
    );
    let out = exec_with(&h, &["--process", path_str(&pj)], &c.id, &[]).expect_ok();
    assert!(out.stdout.trim().ends_with("\t0"), "{out}");
}
