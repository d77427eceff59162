//! Hostile containers against the whole setup, as classes rather than single CVEs:
//!
//! * fds: what the user process holds at its execve (create+start, run, exec, exec -d), with
//!   and without `--preserve-fds`, and with host directories leaked by the caller;
//! * mount destinations that are symlinks planted in the image: to /proc/self/fd/N, through
//!   `..` past the rootfs, to absolute host-looking paths, chains of them;
//! * masked and read-only paths against a root process without CAP_SYS_ADMIN (also from a
//!   user namespace of its own);
//! * the device cgroup against device nodes the container makes itself;
//! * a setuid-root helper in the image, with and without noNewPrivileges.
//!
//! Each attack is checked the way its author would: by what the process sees and can do,
//! and by what changed on the host. Each test also runs a control (the protection turned
//! off in the config, or a harmless twin of the attack) where that shows the probe itself
//! would notice a hole, so a passing test is not a probe that cannot fail.

mod common;

use common::*;
use serde_json::{json, Value};
use std::collections::BTreeMap;
use std::fs;
use std::io;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};
use std::os::unix::fs::PermissionsExt;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

// ---------------------------------------------------------------------------
// Shared helpers
// ---------------------------------------------------------------------------

/// Docker's default capability set: a stronger attacker than runc's spec default, still
/// without CAP_SYS_ADMIN, CAP_SYS_RAWIO or CAP_SYS_MODULE.
const DOCKER_CAPS: [&str; 14] = [
    "CAP_CHOWN",
    "CAP_DAC_OVERRIDE",
    "CAP_FSETID",
    "CAP_FOWNER",
    "CAP_MKNOD",
    "CAP_NET_RAW",
    "CAP_SETGID",
    "CAP_SETUID",
    "CAP_SETFCAP",
    "CAP_SETPCAP",
    "CAP_NET_BIND_SERVICE",
    "CAP_SYS_CHROOT",
    "CAP_KILL",
    "CAP_AUDIT_WRITE",
];

fn with_caps(spec: Spec, caps: &[&str]) -> Spec {
    let caps = json!(caps);
    spec.set("/process/capabilities/bounding", caps.clone())
        .set("/process/capabilities/effective", caps.clone())
        .set("/process/capabilities/permitted", caps.clone())
        .set("/process/capabilities/inheritable", caps)
        .set("/process/capabilities/ambient", json!([]))
}

/// Runs the runtime (`--root` of the harness) with `fds` installed in it at the given
/// numbers, without CLOEXEC, as a caller that passes (or leaks) them would. The runtime's
/// stdout goes to `stdout`, which is also the container's stdout for create and exec -d.
fn rt_with_fds(h: &Harness, args: &[&str], fds: &[(RawFd, &OwnedFd)], stdout: &Path) -> Output {
    let err_path = stdout.with_extension("stderr");
    let out_f = fs::File::create(stdout).expect("create stdout file");
    let err_f = fs::File::create(&err_path).expect("create stderr file");
    let mut full = vec!["--root", path_str(h.root())];
    full.extend_from_slice(args);
    // Sources moved above every target first, so one dup2 cannot clobber a later source.
    let high: Vec<(RawFd, OwnedFd)> = fds
        .iter()
        .map(|(n, fd)| {
            // SAFETY: fcntl(F_DUPFD_CLOEXEC) on an fd we own returns a new fd or -1.
            let d = unsafe { libc::fcntl(fd.as_raw_fd(), libc::F_DUPFD_CLOEXEC, 200) };
            assert!(d >= 0, "dup fd: {}", io::Error::last_os_error());
            // SAFETY: `d` is a fresh fd owned by nobody else.
            (*n, unsafe { OwnedFd::from_raw_fd(d) })
        })
        .collect();
    let pairs: Vec<(RawFd, RawFd)> = high.iter().map(|(n, fd)| (*n, fd.as_raw_fd())).collect();
    let mut cmd = Command::new(h.runtime_path());
    cmd.args(&full)
        .env(MARKER_VAR, h.marker())
        .stdin(Stdio::null())
        .stdout(out_f)
        .stderr(err_f);
    // SAFETY: only dup2, which is async-signal-safe, runs between fork and exec.
    unsafe {
        cmd.pre_exec(move || {
            for &(n, src) in &pairs {
                if libc::dup2(src, n) < 0 {
                    return Err(io::Error::last_os_error());
                }
            }
            Ok(())
        });
    }
    let mut child = cmd.spawn().expect("spawn runtime");
    drop(high);
    let deadline = Instant::now() + RUNTIME_TIMEOUT;
    let status = loop {
        if let Some(s) = child.try_wait().expect("wait runtime") {
            break s;
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            let _ = child.wait();
            panic!("runtime timed out: {}", full.join(" "));
        }
        std::thread::sleep(Duration::from_millis(5));
    };
    Output {
        args: full.iter().map(|s| s.to_string()).collect(),
        status,
        stdout: fs::read_to_string(stdout).unwrap_or_default(),
        stderr: fs::read_to_string(&err_path).unwrap_or_default(),
    }
}

fn open_path(path: &Path, flags: i32) -> OwnedFd {
    let c = std::ffi::CString::new(path_str(path)).expect("no NUL");
    // SAFETY: valid C string; the result is checked.
    let fd = unsafe { libc::open(c.as_ptr(), flags | libc::O_CLOEXEC) };
    assert!(
        fd >= 0,
        "open {}: {}",
        path.display(),
        io::Error::last_os_error()
    );
    // SAFETY: fresh fd owned by nobody else.
    unsafe { OwnedFd::from_raw_fd(fd) }
}

// ---------------------------------------------------------------------------
// 1. fds at execve
// ---------------------------------------------------------------------------

/// What the caller hands the runtime: `preserved` files at 3.., announced with
/// `--preserve-fds`, and host directories leaked (not announced) right after them and
/// further up.
struct Fds {
    preserve: u32,
    /// Files at 3..3+passed (passed may be less than preserve: a sloppy caller).
    passed: u32,
    owned: Vec<(RawFd, OwnedFd)>,
}

/// Host objects a leaked fd must not reach: the host root, the test's work dir (holding
/// bundles and rootfs), the state root.
fn fds_for(h: &Harness, preserve: u32, passed: u32) -> Fds {
    let mut owned = Vec::new();
    for k in 0..passed {
        let p = h.work().join(format!("preserved-{k}"));
        write_file(&p, "preserved");
        owned.push((3 + k as RawFd, open_path(&p, libc::O_RDONLY)));
    }
    let first_leak = 3 + preserve as RawFd;
    let leaks = [
        (first_leak, Path::new("/")),
        (first_leak + 1, h.work()),
        (first_leak + 4, Path::new("/tmp")),
        (63, Path::new("/")),
    ];
    for (n, p) in leaks {
        owned.push((n, open_path(p, libc::O_RDONLY | libc::O_DIRECTORY)));
    }
    Fds {
        preserve,
        passed,
        owned,
    }
}

impl Fds {
    fn pairs(&self) -> Vec<(RawFd, &OwnedFd)> {
        self.owned.iter().map(|(n, fd)| (*n, fd)).collect()
    }

    fn flag(&self) -> String {
        self.preserve.to_string()
    }
}

/// `ls -l /proc/self/fd` as printed by busybox: fd -> target. ls's own handle on the
/// directory has no target (it is closed again before ls reads the links): it must be the
/// only such entry and sit at the lowest free number, where open(2) put it.
#[track_caller]
fn parse_fd_listing(text: &str, what: &str) -> BTreeMap<u32, String> {
    let mut seen = BTreeMap::new();
    let mut untargeted: Vec<u32> = Vec::new();
    // Link lines only ("lrwx------ ..."); ls's complaint about its own fd goes to stderr,
    // which is the same pty in the terminal cases.
    for l in text
        .lines()
        .filter(|l| l.starts_with("lr") || l.starts_with("l-"))
    {
        match l.split_once(" -> ") {
            Some((left, target)) => {
                let fd = left.split_whitespace().last().and_then(|n| n.parse().ok());
                let fd: u32 = fd.unwrap_or_else(|| panic!("{what}: bad line {l:?}"));
                seen.insert(fd, target.trim().to_string());
            }
            None => {
                let fd = l
                    .split_whitespace()
                    .last()
                    .and_then(|n| n.parse::<u32>().ok());
                untargeted.push(fd.unwrap_or_else(|| panic!("{what}: bad line {l:?}")));
            }
        }
    }
    let lowest_free = (0..).find(|n| !seen.contains_key(n)).expect("a free fd");
    assert!(
        untargeted.len() <= 1 && untargeted.iter().all(|&n| n == lowest_free),
        "{what}: fds without a readable target besides ls's own: {untargeted:?}\n{text}"
    );
    seen
}

/// The user process saw exactly stdio and the preserved files.
#[track_caller]
fn assert_fds(h: &Harness, fds: &Fds, listing: &str, what: &str) {
    let seen = parse_fd_listing(listing, what);
    assert!(
        [0, 1, 2].iter().all(|n| seen.contains_key(n)),
        "{what}: no stdio in the listing (the probe did not run?):\n{listing}"
    );
    let mut bad = Vec::new();
    for (fd, target) in &seen {
        let ok = match *fd {
            0..=2 => true,
            n if n < 3 + fds.passed => target.ends_with(&format!("/preserved-{}", n - 3)),
            _ => false,
        };
        if !ok {
            bad.push(format!("{fd} -> {target}"));
        }
    }
    for k in 0..fds.passed {
        if !seen.contains_key(&(3 + k)) {
            bad.push(format!("preserved fd {} missing", 3 + k));
        }
    }
    assert!(
        bad.is_empty(),
        "{what}: the user process holds fds it must not (preserve {}, passed {}, host \
         root/work dir leaked at {}+; state root {}, bundle dir {}): {bad:?}\n{listing}",
        fds.preserve,
        fds.passed,
        3 + fds.preserve,
        h.root().display(),
        h.work().display(),
    );
}

/// (preserve, passed) combinations: none, two, and more announced than passed (the
/// runtime must not fill the gap with fds of its own).
const FD_CASES: [(u32, u32); 3] = [(0, 0), (2, 2), (4, 1)];

/// Whether a case runs against this runtime.
fn fd_case_applies(preserve: u32, passed: u32) -> bool {
    !(passed < preserve
        && skip_on_runc(
            "runc 1.1.5 fills --preserve-fds slots the caller left empty with fds of its own \
             (an O_PATH fd of the host's /sys/fs/cgroup, an epoll fd, a pipe), which reach \
             the container process",
        ))
}

const LS_FDS: [&str; 3] = ["ls", "-l", "/proc/self/fd"];

#[test]
fn fds_at_execve_create_start() {
    let h = Harness::new("fds_create");
    for (preserve, passed) in FD_CASES.into_iter().filter(|c| fd_case_applies(c.0, c.1)) {
        let fds = fds_for(&h, preserve, passed);
        let bundle = h.bundle(&Spec::new().args(&LS_FDS));
        let id = h.new_id();
        let out_path = h.dir("out").join("create.out");
        let flag = fds.flag();
        let args = [
            "create",
            "--preserve-fds",
            &flag,
            "--bundle",
            path_str(&bundle),
            &id,
        ];
        rt_with_fds(&h, &args, &fds.pairs(), &out_path).expect_ok();
        h.rt(&["start", &id]).expect_ok();
        h.wait_status(&id, "stopped");
        let listing = fs::read_to_string(&out_path).expect("read container output");
        assert_fds(
            &h,
            &fds,
            &listing,
            &format!("create+start {preserve}/{passed}"),
        );
        h.rt(&["delete", &id]).expect_ok();
    }
}

#[test]
fn fds_at_execve_run() {
    let h = Harness::new("fds_run");
    for (preserve, passed) in FD_CASES.into_iter().filter(|c| fd_case_applies(c.0, c.1)) {
        let fds = fds_for(&h, preserve, passed);
        let bundle = h.bundle(&Spec::new().args(&LS_FDS));
        let id = h.new_id();
        let out_path = h.dir("out").join("run.out");
        let flag = fds.flag();
        let args = [
            "run",
            "--preserve-fds",
            &flag,
            "--bundle",
            path_str(&bundle),
            &id,
        ];
        let out = rt_with_fds(&h, &args, &fds.pairs(), &out_path).expect_ok();
        assert_fds(&h, &fds, &out.stdout, &format!("run {preserve}/{passed}"));
    }
}

#[test]
fn fds_at_execve_exec() {
    let h = Harness::new("fds_exec");
    let c = h.start(&Spec::new().args(&["sleep", "1000"]));
    for (preserve, passed) in FD_CASES.into_iter().filter(|c| fd_case_applies(c.0, c.1)) {
        let flag = preserve.to_string();
        // Foreground.
        let fds = fds_for(&h, preserve, passed);
        let out_path = h.dir("out").join("exec.out");
        let mut args = vec!["exec", "--preserve-fds", &flag, &c.id];
        args.extend_from_slice(&LS_FDS);
        let out = rt_with_fds(&h, &args, &fds.pairs(), &out_path).expect_ok();
        assert_fds(&h, &fds, &out.stdout, &format!("exec {preserve}/{passed}"));
        // Detached: the process outlives exec, its stdout is exec's.
        let dir = h.dir("out");
        let out_path = dir.join("exec-d.out");
        let pid_file = dir.join("pid");
        let mut args = vec![
            "exec",
            "-d",
            "--pid-file",
            path_str(&pid_file),
            "--preserve-fds",
            &flag,
            &c.id,
        ];
        args.extend_from_slice(&LS_FDS);
        rt_with_fds(&h, &args, &fds.pairs(), &out_path).expect_ok();
        let pid: i32 = fs::read_to_string(&pid_file)
            .expect("read exec pid file")
            .trim()
            .parse()
            .expect("numeric pid");
        assert!(wait_pid_gone(pid), "exec -d process {pid} never exited");
        let listing = fs::read_to_string(&out_path).expect("read exec -d output");
        assert_fds(&h, &fds, &listing, &format!("exec -d {preserve}/{passed}"));
    }
}

/// Everything written to the pty master until the process on the slave is gone (reads
/// then fail with EIO) or `done` says so and nothing more comes.
fn drain_pty(master: &OwnedFd, mut done: impl FnMut() -> bool) -> String {
    use std::io::Read;
    // SAFETY: fcntl on an fd we own.
    unsafe {
        let fl = libc::fcntl(master.as_raw_fd(), libc::F_GETFL);
        libc::fcntl(master.as_raw_fd(), libc::F_SETFL, fl | libc::O_NONBLOCK);
    }
    let mut f = fs::File::from(master.try_clone().expect("dup master"));
    let mut out = Vec::new();
    let deadline = Instant::now() + STATE_TIMEOUT;
    let mut finished = false;
    while Instant::now() < deadline {
        let mut buf = [0u8; 4096];
        match f.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => out.extend_from_slice(&buf[..n]),
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                if finished {
                    break;
                }
                finished = done();
                std::thread::sleep(Duration::from_millis(10));
            }
            Err(_) => break,
        }
    }
    String::from_utf8_lossy(&out).replace('\r', "")
}

/// stdio is the container's pty, not something of the runtime's.
#[track_caller]
fn assert_stdio_on_pty(listing: &str, what: &str) {
    let seen = parse_fd_listing(listing, what);
    for n in 0..3 {
        let t = &seen[&n];
        assert!(
            t.starts_with("/dev/pts/") || t == "/dev/console",
            "{what}: fd {n} -> {t} is not the pty:\n{listing}"
        );
    }
}

/// The pty case: process.terminal with --console-socket for create+start, exec -t -d for
/// exec. The container's stdio is then the pty slave, the master and the socket are the
/// caller's.
#[test]
fn fds_at_execve_console() {
    let h = Harness::new("fds_console");
    let fds = fds_for(&h, 0, 0);
    let sock = h.dir("sock").join("console.sock");
    let listener = std::os::unix::net::UnixListener::bind(&sock).expect("bind console socket");
    let spec = Spec::new()
        .set("/process/terminal", json!(true))
        .args(&LS_FDS);
    let bundle = h.bundle(&spec);
    let id = h.new_id();
    let args = [
        "create",
        "--console-socket",
        path_str(&sock),
        "--bundle",
        path_str(&bundle),
        &id,
    ];
    rt_with_fds(&h, &args, &fds.pairs(), &h.dir("out").join("create.out")).expect_ok();
    let master = receive_fd(&listener);
    h.rt(&["start", &id]).expect_ok();
    let listing = drain_pty(&master, || h.status(&id) == "stopped");
    assert_fds(&h, &fds, &listing, "create+start with a terminal");
    assert_stdio_on_pty(&listing, "create+start with a terminal");
    h.rt(&["delete", "--force", &id]).expect_ok();

    let c = h.start(&Spec::new().args(&["sleep", "1000"]));
    let pid_file = h.dir("pid").join("pid");
    let mut args = vec![
        "exec",
        "-t",
        "-d",
        "--console-socket",
        path_str(&sock),
        "--pid-file",
        path_str(&pid_file),
        &c.id,
    ];
    args.extend_from_slice(&LS_FDS);
    rt_with_fds(&h, &args, &fds.pairs(), &h.dir("out").join("exec.out")).expect_ok();
    let master = receive_fd(&listener);
    let pid: i32 = fs::read_to_string(&pid_file)
        .expect("read exec pid file")
        .trim()
        .parse()
        .expect("numeric pid");
    let listing = drain_pty(&master, || !pid_alive(pid));
    assert_fds(&h, &fds, &listing, "exec -t -d");
    assert_stdio_on_pty(&listing, "exec -t -d");
}

/// A cwd naming a host directory the caller leaked (not preserved) must not be entered:
/// `run` refuses it while preparing the rootfs, `exec` (no such step) when init's and the
/// exec'd process's fds were closed and the cwd is resolved without magic links.
#[test]
fn leaked_caller_fd_is_not_a_cwd() {
    let h = Harness::new("fds_leak_cwd");
    let fds = fds_for(&h, 0, 0);
    let probe = "pwd; ls ../../../../../../ | head -5; exit 0";
    const LEAKED: [u32; 4] = [3, 4, 7, 63];
    for n in LEAKED {
        let link = format!("/proc/self/fd/{n}");
        let spec = Spec::new().set("/process/cwd", json!(link)).sh(probe);
        let bundle = h.bundle(&spec);
        let id = h.new_id();
        let out_path = h.dir("out").join("run.out");
        let args = ["run", "--bundle", path_str(&bundle), &id];
        let out = rt_with_fds(&h, &args, &fds.pairs(), &out_path);
        assert!(
            matches!(out.code(), Some(c) if c != 0),
            "run: cwd {link} through a leaked host fd was entered:\n{out}"
        );
        assert!(
            out.stderr.contains(&link),
            "error does not name {link}:\n{out}"
        );
        h.assert_no_trace(&id);
    }
    let c = h.start(&Spec::new().args(&["sleep", "1000"]));
    for n in LEAKED {
        let link = format!("/proc/self/fd/{n}");
        let out_path = h.dir("out").join("exec.out");
        let args = ["exec", "--cwd", &link, &c.id, "sh", "-c", probe];
        let out = rt_with_fds(&h, &args, &fds.pairs(), &out_path);
        assert!(
            matches!(out.code(), Some(c) if c != 0),
            "exec: cwd {link} through a leaked host fd was entered:\n{out}"
        );
        assert!(
            out.stderr.contains(&link),
            "error does not name {link}:\n{out}"
        );
    }
}

// ---------------------------------------------------------------------------
// 2. Mount destinations through symlinks
// ---------------------------------------------------------------------------

/// A host directory the links name, removed (after detaching anything on it) on drop.
struct Canary {
    dir: PathBuf,
}

impl Canary {
    fn new(h: &Harness) -> Self {
        let dir = PathBuf::from(format!("/tmp/ongi-test-canary-{}", h.marker()));
        fs::create_dir_all(&dir).expect("mkdir canary");
        write_file(&dir.join("canary-file"), "canary");
        Canary { dir }
    }

    /// Nothing was mounted on or created in the host directory.
    #[track_caller]
    fn assert_untouched(&self, what: &str) {
        let mut names: Vec<String> = fs::read_dir(&self.dir)
            .expect("read canary dir")
            .map(|e| e.expect("entry").file_name().to_string_lossy().into_owned())
            .collect();
        names.sort();
        assert_eq!(
            names,
            ["canary-file"],
            "{what}: the host directory {} changed",
            self.dir.display()
        );
    }
}

impl Drop for Canary {
    fn drop(&mut self) {
        if let Ok(c) = std::ffi::CString::new(path_str(&self.dir)) {
            // SAFETY: valid C string; failure (nothing mounted) is ignored.
            unsafe { libc::umount2(c.as_ptr(), libc::MNT_DETACH) };
        }
        let _ = fs::remove_dir_all(&self.dir);
    }
}

/// Symlinks planted in the image, as (link path in the rootfs, target), and the mount
/// destination that goes through them.
fn link_cases(canary: &Path) -> Vec<(String, Vec<(String, String)>)> {
    let c = path_str(canary);
    // Enough `..` to reach the host root from any bundle below /tmp/ongi-test.
    let up = "../../../../../../../../../..";
    let mut cases: Vec<(String, Vec<(String, String)>)> = (3..=9)
        .map(|n| {
            (
                format!("/fd{n}"),
                vec![(format!("fd{n}"), format!("/proc/self/fd/{n}"))],
            )
        })
        .collect();
    cases.push(("/abs".into(), vec![("abs".into(), c.into())]));
    cases.push(("/up".into(), vec![("up".into(), format!("{up}{c}"))]));
    cases.push((
        "/chain".into(),
        vec![
            ("chain".into(), "/chain1".into()),
            ("chain1".into(), "chain2".into()),
            ("chain2".into(), format!("{up}{c}")),
        ],
    ));
    // The link in a middle component: DEST = /mid/<canary name>/sub.
    let name = canary.file_name().expect("name").to_string_lossy();
    cases.push((
        format!("/mid/{name}/sub"),
        vec![("mid".into(), format!("{up}/tmp"))],
    ));
    cases.push((
        "/chainfd".into(),
        vec![
            ("chainfd".into(), "chainfd1".into()),
            ("chainfd1".into(), "proc/self/fd/5".into()),
        ],
    ));
    cases.push((
        "/procup".into(),
        vec![("procup".into(), format!("/proc/self/root/{up}{c}"))],
    ));
    cases
}

fn host_mountinfo() -> Vec<MountInfo> {
    parse_mountinfo(&fs::read_to_string("/proc/self/mountinfo").expect("read mountinfo"))
}

/// One hostile bundle per link case; `mount` builds the mount for a destination and
/// `is_ours` recognises it in a mountinfo.
fn mount_through_links(
    h: &Harness,
    kind: &str,
    mount: impl Fn(&str) -> Value,
    is_ours: impl Fn(&MountInfo) -> bool,
) {
    let canary = Canary::new(h);
    for (dest, links) in link_cases(&canary.dir) {
        let what = format!("{kind} on {dest} via {links:?}");
        let spec = Spec::new()
            .mount(mount(&dest))
            .args(&["cat", "/proc/self/mountinfo"]);
        let bundle = h.bundle(&spec);
        for (link, target) in &links {
            std::os::unix::fs::symlink(target, bundle.join("rootfs").join(link))
                .expect("plant symlink");
        }
        let id = h.new_id();
        let out = h.rt(&["run", "--bundle", path_str(&bundle), &id]);
        if out.ok() {
            // After pivot_root only what is inside the rootfs is left: a mount the
            // container sees landed inside.
            let mounts = parse_mountinfo(&out.stdout);
            let inside = mounts.iter().find(|m| is_ours(m));
            match inside {
                Some(m) => {
                    assert_ne!(m.mount_point, "/", "{what}: mounted over the whole root");
                    eprintln!("{what}: landed at {} inside", m.mount_point);
                }
                None => panic!("{what}: create succeeded but the mount is not inside:\n{out}"),
            }
        } else {
            let out = out.expect_fail();
            assert!(
                out.stderr.contains(&dest),
                "{what}: the error does not name the destination:\n{out}"
            );
            h.assert_no_trace(&id);
        }
        let leaked: Vec<_> = host_mountinfo()
            .into_iter()
            .filter(|m| is_ours(m))
            .collect();
        assert!(
            leaked.is_empty(),
            "{what}: mounted on the host: {leaked:#?}"
        );
        canary.assert_untouched(&what);
    }
}

#[test]
fn bind_destination_through_symlinks() {
    let h = Harness::new("mnt_bind");
    let src = h.dir("bindsrc");
    write_file(&src.join("bind-marker"), "bind");
    let src_name = src
        .file_name()
        .expect("name")
        .to_string_lossy()
        .into_owned();
    mount_through_links(
        &h,
        "bind",
        |dest| json!({ "destination": dest, "type": "bind", "source": src, "options": ["rbind"] }),
        |m| m.root.ends_with(&format!("/{src_name}")),
    );
}

#[test]
fn tmpfs_destination_through_symlinks() {
    let h = Harness::new("mnt_tmpfs");
    // A size no other mount on this machine has.
    let size = format!("size={}k", 4000 + std::process::id() % 1000 * 4);
    mount_through_links(
        &h,
        "tmpfs",
        |dest| json!({ "destination": dest, "type": "tmpfs", "source": "tmpfs", "options": [size] }),
        |m| m.fs_type == "tmpfs" && m.super_options.contains(&size),
    );
}

/// The image makes /proc and /sys links into /dev, where the /dev tmpfs mounted later
/// covers what was mounted through them. The masks and read-only binds, applied by path
/// after pivot_root, then find nothing to cover. Whatever the runtime does about it (runc
/// refuses proc and sysfs on a symlink), the container must not end up reading or writing
/// what the masks hide, directly or through a procfs of its own in a user namespace.
#[test]
fn proc_and_sys_through_symlinks_stay_masked() {
    let h = Harness::new("mnt_proc_link");
    let core = CorePattern::save();
    let pwn = format!("ongi-pwned-{}", h.marker());
    let probe = format!(
        r#"
try() {{ n=$1; shift; if "$@" >/dev/null 2>&1; then echo "OK: $n"; else echo "DENIED: $n"; fi; }}
size() {{ echo "$1=$( (cat "$2" 2>/dev/null || true) | head -c 4096 | wc -c)"; }}
size kcore /proc/kcore; size keys /proc/keys; size timer_list /proc/timer_list
echo "firmware=$(ls -A /sys/firmware 2>/dev/null | wc -l)"
try core_pattern sh -c 'echo "{pwn}" > /proc/sys/kernel/core_pattern'
mkdir -p /dev/p
try userns-mount-proc unshare -Urmpf sh -c 'mount -t proc proc /dev/p && test -s /dev/p/timer_list'
try userns-core_pattern unshare -Urmpf sh -c 'mount -t proc proc /dev/p && echo "{pwn}" > /dev/p/sys/kernel/core_pattern'
try unmapped-mount-proc unshare -Umpf sh -c 'mount -t proc proc /dev/p && test -s /dev/p/timer_list'
exit 0
"#
    );
    for (links, dests) in [
        (vec![("proc", "/dev/xproc")], "/proc"),
        (vec![("sys", "/dev/xsys")], "/sys"),
        (
            vec![("proc", "dev/xproc"), ("sys", "/dev/../dev/xsys")],
            "/proc",
        ),
    ] {
        let what = format!("{links:?}");
        let bundle = h.bundle(&with_caps(Spec::new(), &DOCKER_CAPS).sh(&probe));
        for (link, target) in &links {
            let p = bundle.join("rootfs").join(link);
            fs::remove_dir(&p).expect("rmdir");
            std::os::unix::fs::symlink(target, &p).expect("plant symlink");
        }
        let id = h.new_id();
        let out = h.rt(&["run", "--bundle", path_str(&bundle), &id]);
        assert!(
            !core.changed(),
            "{what}: the host's core_pattern was changed:\n{out}"
        );
        if !out.ok() {
            let out = out.expect_fail();
            eprintln!("{what}: refused: {}", out.stderr.trim());
            assert!(
                out.stderr.contains(dests),
                "{what}: error does not name {dests}:\n{out}"
            );
            h.assert_no_trace(&id);
            continue;
        }
        let got: Vec<&str> = out
            .stdout
            .lines()
            .filter(|l| l.starts_with("OK: ") || (l.contains('=') && !l.ends_with("=0")))
            .collect();
        assert!(
            out.stdout
                .lines()
                .filter(|l| l.starts_with("DENIED: "))
                .count()
                == 4,
            "{what}: probe did not run:\n{out}"
        );
        assert!(got.is_empty(), "{what}: got through: {got:?}\n{out}");
        eprintln!("{what}: ran, nothing got through");
    }
}

/// Like runc ("must be mounted on ordinary directory"): a procfs or sysfs destination that
/// the image made a symlink (or a file) is refused, naming it, with nothing left behind.
#[test]
fn proc_and_sys_on_a_symlink_are_refused() {
    let h = Harness::new("mnt_proc_refuse");
    for (link, target, dest) in [
        ("proc", "/dev/xproc", "/proc"),
        ("sys", "/tmp", "/sys"),
        ("proc", "../../etc", "/proc"),
    ] {
        let bundle = h.bundle(&Spec::new().args(&["true"]));
        let p = bundle.join("rootfs").join(link);
        fs::remove_dir(&p).expect("rmdir");
        std::os::unix::fs::symlink(target, &p).expect("plant symlink");
        let id = h.new_id();
        let out = h
            .rt(&["run", "--bundle", path_str(&bundle), &id])
            .expect_fail();
        assert!(
            out.stderr.contains(dest) && out.stderr.contains("ordinary directory"),
            "{dest} -> {target}: {out}"
        );
        h.assert_no_trace(&id);
    }
}

// ---------------------------------------------------------------------------
// 3. Masked and read-only paths
// ---------------------------------------------------------------------------

/// Puts the host's core_pattern back if a broken runtime let the container change it.
struct CorePattern(String);

impl CorePattern {
    const PATH: &'static str = "/proc/sys/kernel/core_pattern";

    fn save() -> Self {
        CorePattern(fs::read_to_string(Self::PATH).expect("read core_pattern"))
    }

    fn changed(&self) -> bool {
        fs::read_to_string(Self::PATH).ok().as_deref() != Some(&self.0)
    }
}

impl Drop for CorePattern {
    fn drop(&mut self) {
        if self.changed() {
            let _ = fs::write(Self::PATH, self.0.trim_end());
        }
    }
}

/// Every attempt prints `OK: name` or `DENIED: name`; reads print `name=bytes`.
fn masked_probe(pwn: &str) -> String {
    format!(
        r#"
try() {{ n=$1; shift; if "$@" >/dev/null 2>&1; then echo "OK: $n"; else echo "DENIED: $n"; fi; }}
size() {{ echo "$1=$( (cat "$2" 2>/dev/null || true) | head -c 4096 | wc -c)"; }}
reads() {{
  size kcore /proc/kcore; size keys /proc/keys; size timer_list /proc/timer_list
  echo "firmware=$(ls -A /sys/firmware 2>/dev/null | wc -l)"
}}
reads
try sysrq sh -c 'echo h > /proc/sysrq-trigger'
try core_pattern sh -c 'echo "{pwn}" > /proc/sys/kernel/core_pattern'
try irq sh -c 'v=$(cat /proc/irq/default_smp_affinity) && echo $v > /proc/irq/default_smp_affinity'
try umount-kcore umount /proc/kcore
try umount-l-kcore umount -l /proc/kcore
try umount-keys umount /proc/keys
try umount-sys umount /proc/sys
try umount-sysrq umount /proc/sysrq-trigger
try umount-firmware umount /sys/firmware
try umount-irq umount /proc/irq
try remount-sys mount -o remount,rw /proc/sys
try remount-bind-sys mount -o remount,bind,rw /proc/sys
try remount-sysrq mount -o remount,bind,rw /proc/sysrq-trigger
try remount-firmware mount -o remount,rw /sys/firmware
try remount-sysfs mount -o remount,rw /sys
mkdir -p /dev/p /dev/s
try mount-proc mount -t proc proc /dev/p
try mount-sysfs mount -t sysfs sysfs /dev/s
try bind-proc mount --bind /proc /dev/p
# A user namespace of its own gives CAP_SYS_ADMIN there, over mounts it does not own.
try userns sh -c 'unshare -Urm true'
try userns-umount-kcore unshare -Urm umount /proc/kcore
try userns-umount-sys unshare -Urm umount -l /proc/sys
try userns-remount-sys unshare -Urm mount -o remount,bind,rw /proc/sys
try userns-core_pattern unshare -Urm sh -c 'umount -l /proc/sys; echo "{pwn}" > /proc/sys/kernel/core_pattern'
try userns-mount-proc unshare -Urmpf mount -t proc proc /dev/p
try userns-mount-sysfs unshare -Urmn mount -t sysfs sysfs /dev/s
reads
exit 0
"#
    )
}

#[track_caller]
fn probe_results(out: &Output) -> (BTreeMap<String, bool>, Vec<(String, u64)>) {
    let mut tries = BTreeMap::new();
    let mut reads = Vec::new();
    for l in out.stdout.lines() {
        if let Some(n) = l.strip_prefix("OK: ") {
            tries.insert(n.to_string(), true);
        } else if let Some(n) = l.strip_prefix("DENIED: ") {
            tries.insert(n.to_string(), false);
        } else if let Some((k, v)) = l.split_once('=') {
            if let Ok(v) = v.trim().parse() {
                reads.push((k.to_string(), v));
            }
        }
    }
    assert!(
        tries.len() > 20 && reads.len() == 8,
        "probe did not run:\n{out}"
    );
    (tries, reads)
}

#[test]
fn masked_and_readonly_paths_hold_without_cap_sys_admin() {
    let h = Harness::new("masked");
    let core = CorePattern::save();
    let pwn = format!("ongi-pwned-{}", h.marker());
    let spec = with_caps(Spec::new(), &DOCKER_CAPS).sh(&masked_probe(&pwn));
    let out = h.run(&spec).expect_ok();
    let (tries, reads) = probe_results(&out);
    let got_through: Vec<&String> = tries
        .iter()
        .filter(|(n, ok)| **ok && n.as_str() != "userns")
        .map(|(n, _)| n)
        .collect();
    assert!(
        got_through.is_empty(),
        "a process without CAP_SYS_ADMIN got through: {got_through:?}\n{out}"
    );
    let leaked: Vec<_> = reads.iter().filter(|(_, n)| *n != 0).collect();
    assert!(
        leaked.is_empty(),
        "masked paths readable: {leaked:?}\n{out}"
    );
    assert!(
        !core.changed(),
        "the host's core_pattern was changed to {:?}",
        fs::read_to_string(CorePattern::PATH)
    );

    // Control: without the masks and read-only binds the same probe sees and writes what
    // it was kept from above (harmless writes only: irq gets its own value back; 'h' to
    // sysrq, where the kernel has it, prints help).
    let control = with_caps(Spec::new(), &DOCKER_CAPS)
        .set("/linux/maskedPaths", json!([]))
        .set("/linux/readonlyPaths", json!([]))
        .sh(&masked_probe(&pwn).replace("core_pattern", "no-core-pattern-in-control"));
    let out = h.run(&control).expect_ok();
    let (tries, reads) = probe_results(&out);
    // userns-mount-proc: a fresh procfs is refused above only because of the masks
    // (the kernel's mount_too_revealing check).
    for t in ["irq", "userns", "userns-mount-proc"] {
        assert_eq!(tries.get(t), Some(&true), "control: {t} failed:\n{out}");
    }
    for r in ["keys", "timer_list", "firmware"] {
        assert!(
            reads.iter().any(|(k, n)| k == r && *n > 0),
            "control: {r} not readable:\n{out}"
        );
    }
    assert!(!core.changed(), "control changed core_pattern");
}

// ---------------------------------------------------------------------------
// 4. The device cgroup
// ---------------------------------------------------------------------------

/// Devices an attacker would want, as (name, type, major, minor): the host's root disk, a
/// loop device, and character devices that need no capability to open (only the device
/// cgroup stands between them and the container). Opened, never read or written.
fn wanted_devices() -> Vec<(String, char, u64, u64)> {
    let dev = std::os::unix::fs::MetadataExt::dev(&fs::metadata("/").expect("stat /"));
    let mut out = vec![
        (
            "rootdisk".into(),
            'b',
            libc::major(dev) as u64,
            libc::minor(dev) as u64,
        ),
        ("loop0".into(), 'b', 7, 0),
        ("loopctl".into(), 'c', 10, 237),
        ("fuse".into(), 'c', 10, 229),
        ("kvm".into(), 'c', 10, 232),
    ];
    // The machine's own disks (e.g. the cgroup v2 VM's virtio disk, where / is 9p).
    let mut disks: Vec<_> = fs::read_dir("/sys/dev/block")
        .map(|d| d.flatten().collect())
        .unwrap_or_default();
    disks.sort_by_key(|e| e.file_name());
    for e in disks.into_iter().take(4) {
        let name = e.file_name().to_string_lossy().into_owned();
        if let Some((ma, mi)) = name.split_once(':') {
            if let (Ok(ma), Ok(mi)) = (ma.parse(), mi.parse()) {
                out.push((format!("block-{ma}-{mi}"), 'b', ma, mi));
            }
        }
    }
    out
}

/// Whether the test process itself (host root, all capabilities) can open a node for the
/// device: only those make the container's EPERM mean anything (this machine may itself
/// sit in a sandbox that denies some devices, or lack the driver).
fn host_can_open(h: &Harness, kind: char, major: u64, minor: u64) -> bool {
    let node = h.work().join(format!("node-{kind}-{major}-{minor}"));
    let c = std::ffi::CString::new(path_str(&node)).expect("no NUL");
    let mode = if kind == 'b' {
        libc::S_IFBLK
    } else {
        libc::S_IFCHR
    } | 0o600;
    // SAFETY: valid C string; plain mknod/open/close syscalls, results checked.
    unsafe {
        let _ = libc::unlink(c.as_ptr());
        if libc::mknod(c.as_ptr(), mode, libc::makedev(major as u32, minor as u32)) != 0 {
            return false;
        }
        let fd = libc::open(
            c.as_ptr(),
            libc::O_RDONLY | libc::O_NONBLOCK | libc::O_CLOEXEC,
        );
        let _ = libc::unlink(c.as_ptr());
        if fd < 0 {
            return false;
        }
        libc::close(fd);
    }
    true
}

/// mknod + open (`exec 3<`) of every wanted device, then the devices a container needs.
fn device_probe(devices: &[(String, char, u64, u64)]) -> String {
    let mut s = String::from(
        r#"
node() { rm -f "/dev/x-$1"; mknod "/dev/x-$1" $2 $3 $4 2>/dev/null; echo "mknod-$1: $?"; }
op() { if e=$( (exec 3<"$2") 2>&1); then echo "$1: ok"; else echo "$1: $e"; fi; }
wr() { if e=$( (echo x > "$2") 2>&1); then echo "$1: ok"; else echo "$1: $e"; fi; }
"#,
    );
    for (name, kind, major, minor) in devices {
        s += &format!(
            "node {name} {kind} {major} {minor}
op {name} /dev/x-{name}
"
        );
    }
    s += r#"
node null c 1 3
wr null /dev/x-null
node zero c 1 5
op zero /dev/x-zero
wr dev-null /dev/null
op dev-zero /dev/zero
op dev-urandom /dev/urandom
op dev-full /dev/full
exit 0
"#;
    s
}

fn device_results(out: &Output, n: usize) -> BTreeMap<String, String> {
    let r: BTreeMap<String, String> = out
        .stdout
        .lines()
        .filter_map(|l| l.split_once(": "))
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    assert!(r.len() >= 2 * n + 8, "device probe did not run:\n{out}");
    r
}

#[test]
fn device_cgroup_denies_nodes_the_container_makes() {
    let h = Harness::new("devices");
    let devices: Vec<_> = wanted_devices()
        .into_iter()
        .filter(|(name, kind, major, minor)| {
            let ok = host_can_open(&h, *kind, *major, *minor);
            if !ok {
                eprintln!("{name} ({kind} {major}:{minor}): the host cannot open it either");
            }
            ok
        })
        .collect();
    assert!(
        devices.iter().any(|d| d.1 == 'b') && devices.iter().any(|d| d.1 == 'c'),
        "no block and character device the host can open to test with: {devices:?}"
    );
    let spec = with_caps(Spec::new(), &DOCKER_CAPS).sh(&device_probe(&devices));
    let out = h.run(&spec).expect_ok();
    let r = device_results(&out, devices.len());
    for (dev, ..) in &devices {
        let got = &r[dev];
        assert!(
            got.contains("Operation not permitted"),
            "{dev}: opening a node the container made must fail with EPERM, got {got:?}\n{out}"
        );
    }
    for dev in [
        "null",
        "zero",
        "dev-null",
        "dev-zero",
        "dev-urandom",
        "dev-full",
    ] {
        assert_eq!(r[dev], "ok", "{dev} must work:\n{out}");
    }
    // Control: the same nodes open once the rules allow everything, so the EPERM above is
    // the device cgroup's.
    let control = spec.set(
        "/linux/resources/devices",
        json!([{ "allow": true, "access": "rwm" }]),
    );
    let out = h.run(&control).expect_ok();
    let r = device_results(&out, devices.len());
    for (dev, ..) in &devices {
        assert_eq!(r[dev], "ok", "control: {dev} must open:\n{out}");
    }
}

// ---------------------------------------------------------------------------
// 5. A setuid-root helper in the image
// ---------------------------------------------------------------------------

const SUID_PROBE_C: &str = r#"
#include <stdio.h>
#include <string.h>
#include <unistd.h>
int main(void) {
    uid_t r, e, s;
    getresuid(&r, &e, &s);
    printf("ids=%u %u %u\n", r, e, s);
    FILE *f = fopen("/proc/self/status", "r");
    char line[256];
    while (f && fgets(line, sizeof line, f))
        if (!strncmp(line, "Cap", 3) || !strncmp(line, "NoNewPrivs", 10)) fputs(line, stdout);
    return 0;
}
"#;

fn suid_probe() -> &'static Path {
    static BUILT: OnceLock<PathBuf> = OnceLock::new();
    BUILT.get_or_init(|| build_static_c("suidprobe", SUID_PROBE_C))
}

/// Bounding set for the setuid tests: no CAP_SYS_ADMIN, and nothing in the user's own sets.
const SUID_BOUNDING: [&str; 3] = ["CAP_CHOWN", "CAP_KILL", "CAP_NET_BIND_SERVICE"];
const SUID_BOUNDING_NUMS: [u32; 3] = [0, 5, 10];

fn suid_spec(nnp: bool, args: &[&str]) -> Spec {
    Spec::new()
        .args(args)
        .set("/process/user", json!({ "uid": 1000, "gid": 1000 }))
        .set("/process/noNewPrivileges", json!(nnp))
        .set(
            "/process/capabilities",
            json!({ "bounding": SUID_BOUNDING }),
        )
}

fn suid_bundle(h: &Harness, spec: &Spec) -> PathBuf {
    let bundle = h.bundle(spec);
    let helper = bundle.join("rootfs/suid-helper");
    fs::copy(suid_probe(), &helper).expect("copy probe");
    fs::set_permissions(&helper, fs::Permissions::from_mode(0o4755)).expect("chmod 4755");
    bundle
}

/// What the helper reported: (euid, CapEff, CapBnd, NoNewPrivs).
#[track_caller]
fn suid_report(out: &Output) -> (u32, String, String, String) {
    let ids = out
        .stdout
        .lines()
        .find_map(|l| l.strip_prefix("ids="))
        .unwrap_or_else(|| panic!("the helper did not run:\n{out}"));
    let ids: Vec<u32> = ids.split(' ').map(|v| v.parse().expect("id")).collect();
    assert_eq!(
        ids[0], 1000,
        "the helper must be started as uid 1000:\n{out}"
    );
    (
        ids[1],
        status_field(&out.stdout, "CapEff"),
        status_field(&out.stdout, "CapBnd"),
        status_field(&out.stdout, "NoNewPrivs"),
    )
}

/// Without no_new_privs the helper is root, but only with the config's bounding set.
#[track_caller]
fn assert_gained_bounded(out: &Output, what: &str) {
    let (euid, eff, bnd, nnp) = suid_report(out);
    let want = cap_mask(&SUID_BOUNDING_NUMS);
    assert_eq!(
        euid, 0,
        "{what}: the setuid helper did not become root (rootfs nosuid?), so the bound below \
         proves nothing:\n{out}"
    );
    assert_eq!(nnp, "0", "{what}:\n{out}");
    assert_eq!(
        bnd, want,
        "{what}: bounding set is not the config's:\n{out}"
    );
    assert_eq!(
        eff, want,
        "{what}: root got caps beyond the bounding set:\n{out}"
    );
}

/// With no_new_privs the setuid bit is ignored: no euid 0, no capabilities.
#[track_caller]
fn assert_not_gained(out: &Output, what: &str) {
    let (euid, eff, bnd, nnp) = suid_report(out);
    assert_eq!(
        euid, 1000,
        "{what}: the setuid helper gained euid {euid}:\n{out}"
    );
    assert_eq!(nnp, "1", "{what}:\n{out}");
    assert_eq!(eff, cap_mask(&[]), "{what}: capabilities gained:\n{out}");
    assert_eq!(bnd, cap_mask(&SUID_BOUNDING_NUMS), "{what}:\n{out}");
}

#[test]
fn setuid_helper_run() {
    let h = Harness::new("suid_run");
    let out = h.rt(&[
        "run",
        "--bundle",
        path_str(&suid_bundle(&h, &suid_spec(true, &["/suid-helper"]))),
        &h.new_id(),
    ]);
    assert_not_gained(&out.expect_ok(), "run, noNewPrivileges true");
    let out = h.rt(&[
        "run",
        "--bundle",
        path_str(&suid_bundle(&h, &suid_spec(false, &["/suid-helper"]))),
        &h.new_id(),
    ]);
    assert_gained_bounded(&out.expect_ok(), "run, noNewPrivileges false");
}

#[test]
fn setuid_helper_create_start() {
    let h = Harness::new("suid_start");
    for nnp in [true, false] {
        let bundle = suid_bundle(&h, &suid_spec(nnp, &["/suid-helper"]));
        let id = h.new_id();
        let out_path = h.dir("out").join("create.out");
        let args = ["create", "--bundle", path_str(&bundle), &id];
        rt_with_fds(&h, &args, &[], &out_path).expect_ok();
        h.rt(&["start", &id]).expect_ok();
        h.wait_status(&id, "stopped");
        let mut out = h.rt(&["state", &id]).expect_ok();
        out.stdout = fs::read_to_string(&out_path).expect("container output");
        let what = format!("create+start, noNewPrivileges {nnp}");
        if nnp {
            assert_not_gained(&out, &what);
        } else {
            assert_gained_bounded(&out, &what);
        }
    }
}

#[test]
fn setuid_helper_exec() {
    let h = Harness::new("suid_exec");
    // The container's own process: noNewPrivileges false, so exec inherits false.
    let bundle = suid_bundle(&h, &suid_spec(false, &["sleep", "1000"]));
    let id = h.new_id();
    h.rt(&["create", "--bundle", path_str(&bundle), &id])
        .expect_ok();
    h.rt(&["start", &id]).expect_ok();
    let out = h.rt(&["exec", &id, "/suid-helper"]).expect_ok();
    assert_gained_bounded(&out, "exec, noNewPrivileges false");
    let out = h
        .rt(&["exec", "--no-new-privs", &id, "/suid-helper"])
        .expect_ok();
    assert_not_gained(&out, "exec --no-new-privs");
    // --cap adds to the exec'd process's sets, never beyond what the helper as root can
    // get: the bounding set stays the config's.
    let out = h
        .rt(&["exec", "--user", "1000:1000", &id, "/suid-helper"])
        .expect_ok();
    assert_gained_bounded(&out, "exec --user 1000:1000");
    // With noNewPrivileges true in the config, every exec inherits it.
    let bundle = suid_bundle(&h, &suid_spec(true, &["sleep", "1000"]));
    let id = h.new_id();
    h.rt(&["create", "--bundle", path_str(&bundle), &id])
        .expect_ok();
    h.rt(&["start", &id]).expect_ok();
    let out = h.rt(&["exec", &id, "/suid-helper"]).expect_ok();
    assert_not_gained(&out, "exec, config noNewPrivileges true");
}
