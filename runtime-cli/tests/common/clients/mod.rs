//! The client tests' support (`clients_docker.rs`, `clients_podman.rs`, `clients_containerd.rs`,
//! `clients_cri.rs`): real container managers driving the runtime under test, and the
//! client latency bench (benches/benches/clients.rs).
//!
//! Every client call runs with a time limit: the usual failure of a young runtime is a hang,
//! and a hung call must fail the test, not stall CI. Every check runs and is reported
//! ([`Checks`]: `PASS:`/`FAIL:` on stderr); the test fails at the end if any failed. The
//! guards ([`docker::Dockerd`], [`podman::Podman`], [`Registry`], [`containerd::Containerd`])
//! tear down in `Drop`, so also when a check panics: they kill their daemons and helpers by
//! PID (found by the test's private paths in their command lines, or as this process's
//! descendants; never by program name), thaw and empty the cgroups of the test's containers
//! and remove them, unmount everything below the test's dir and delete it, and remove host
//! dirs the clients create only when they did not exist before the test.
//!
//! PID 1 of the test machines does not reap orphans, so the test process makes itself a child
//! subreaper: daemonized shims, conmon and cleanup processes become its children, and the
//! guards reap them.
//!
//! - [`image`]: the busybox image, as a docker-archive (docker, podman) or an OCI archive
//!   (ctr, CRI);
//! - [`docker`], [`podman`]: the private dockerd and podman, and [`sequences`]: the check
//!   sequences both run, parameterised by the [`sequences::Client`] trait;
//! - [`containerd`]: a private containerd (with or without CRI) for ctr and the CRI client.

pub mod containerd;
pub mod docker;
pub mod image;
pub mod podman;
pub mod sequences;

use super::files::{make_dir, read_lossy, write_file};
use super::mountinfo::detach_mounts_under;
use super::wait::{sleep_ms, wait_until};
use std::collections::BTreeSet;
use std::fmt;
use std::fs;
use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::os::unix::fs::PermissionsExt;
use std::os::unix::process::{CommandExt, ExitStatusExt};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant};

/// Time limit of one docker or podman call.
pub const STEP_LIMIT: Duration = Duration::from_secs(60);
/// Time limit of each call made while tearing down.
pub const TEARDOWN_LIMIT: Duration = Duration::from_secs(15);
/// The docker and podman tests' dirs live below this one. Kept short: podman refuses a run
/// root longer than 50 characters, and unix socket paths must fit in 108 bytes.
pub const BASE: &str = "/var/tmp/ongi-ct";
/// The image the docker and podman tests build, load and run.
pub const IMAGE: &str = "localhost/busybox:latest";

/// Result of one command.
pub struct Out {
    pub argv: String,
    pub status: ExitStatus,
    pub stdout: String,
    pub stderr: String,
}

impl Out {
    pub fn code(&self) -> Option<i32> {
        self.status.code()
    }
    pub fn ok(&self) -> bool {
        self.status.success()
    }
    /// stdout without surrounding whitespace.
    pub fn text(&self) -> &str {
        self.stdout.trim()
    }
    /// Ok(()) if the call succeeded, else an error with everything it printed.
    pub fn check(&self) -> Result<(), String> {
        if self.ok() {
            Ok(())
        } else {
            Err(format!("failed: {self}"))
        }
    }
}

/// Ok if `out` succeeded with `want` as its whole stdout (surrounding whitespace ignored).
pub fn expect_stdout(out: &Out, want: &str) -> Result<(), String> {
    out.check()?;
    if out.text() == want {
        Ok(())
    } else {
        Err(format!("want stdout {want:?}: {out}"))
    }
}

/// Ok if `out` exited with `want`.
pub fn expect_code(out: &Out, want: i32) -> Result<(), String> {
    if out.code() == Some(want) {
        Ok(())
    } else {
        Err(format!(
            "want exit code {want} (signal {:?}): {out}",
            out.status.signal()
        ))
    }
}

/// Ok if `text` (part of what `out` printed) contains `want`.
pub fn expect_contains(out: &Out, text: &str, want: &str) -> Result<(), String> {
    if text.contains(want) {
        Ok(())
    } else {
        Err(format!("want {want:?} in the output: {out}"))
    }
}

/// Ok if `cond`, else the error `msg()`.
pub fn ensure(cond: bool, msg: impl FnOnce() -> String) -> Result<(), String> {
    if cond {
        Ok(())
    } else {
        Err(msg())
    }
}

impl fmt::Display for Out {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "`{}` -> {}\n--- stdout ---\n{}--- stderr ---\n{}",
            self.argv, self.status, self.stdout, self.stderr
        )
    }
}

static SEQ: AtomicU32 = AtomicU32::new(0);

/// Runs `cmd` with stdin from /dev/null ([`run_limited_stdin`]: from `stdin`) and stdout/stderr captured in files below `dir`, in a
/// process group of its own that is SIGKILLed when `limit` passes. Files, not pipes: a daemon
/// or container that inherits them would keep a pipe open forever.
pub fn run_limited(cmd: &mut Command, dir: &Path, limit: Duration) -> Result<Out, String> {
    run_limited_stdin(cmd, dir, limit, Stdio::null())
}

pub fn run_limited_stdin(
    cmd: &mut Command,
    dir: &Path,
    limit: Duration,
    stdin: Stdio,
) -> Result<Out, String> {
    let argv = describe(cmd);
    let n = SEQ.fetch_add(1, Ordering::Relaxed);
    let out_path = dir.join(format!("cmd-{n}.out"));
    let err_path = dir.join(format!("cmd-{n}.err"));
    let stdout = fs::File::create(&out_path).map_err(|e| format!("{}: {e}", out_path.display()))?;
    let stderr = fs::File::create(&err_path).map_err(|e| format!("{}: {e}", err_path.display()))?;
    let mut child = cmd
        .stdin(stdin)
        .stdout(stdout)
        .stderr(stderr)
        .process_group(0)
        .spawn()
        .map_err(|e| format!("spawn `{argv}`: {e}"))?;
    let deadline = Instant::now() + limit;
    let status = loop {
        match child.try_wait() {
            Ok(Some(status)) => break status,
            Ok(None) if Instant::now() < deadline => sleep_ms(10),
            Ok(None) => {
                // SAFETY: kill(2) of the process group we created for this child.
                unsafe { libc::kill(-(child.id() as i32), libc::SIGKILL) };
                let _ = child.wait();
                return Err(format!(
                    "timed out after {limit:?} (killed): `{argv}`\n--- stdout ---\n{}--- stderr ---\n{}",
                    read_lossy(&out_path),
                    read_lossy(&err_path)
                ));
            }
            Err(e) => return Err(format!("wait for `{argv}`: {e}")),
        }
    };
    let out = Out {
        argv,
        status,
        stdout: read_lossy(&out_path),
        stderr: read_lossy(&err_path),
    };
    let _ = fs::remove_file(&out_path);
    let _ = fs::remove_file(&err_path);
    Ok(out)
}

/// Like [`run_limited`] with [`STEP_LIMIT`]; a time-out fails the test (the guards clean up).
#[track_caller]
pub fn run_step(cmd: &mut Command, dir: &Path) -> Out {
    run_limited(cmd, dir, STEP_LIMIT).unwrap_or_else(|e| panic!("{e}"))
}

/// Like [`run_step`], with `input` on stdin (from a file: no writer thread needed).
#[track_caller]
pub fn run_with_stdin(cmd: &mut Command, dir: &Path, input: &str) -> Out {
    let n = SEQ.fetch_add(1, Ordering::Relaxed);
    let path = dir.join(format!("cmd-{n}.in"));
    write_file(&path, input);
    let file = fs::File::open(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let out = run_limited_stdin(cmd, dir, STEP_LIMIT, Stdio::from(file));
    let _ = fs::remove_file(&path);
    out.unwrap_or_else(|e| panic!("{e}"))
}

/// `cmd` (argv only; env and cwd are taken from it) under a fresh pty, via `script -qec`:
/// `docker -t` / `podman -t` need a terminal of their own. CRs and NULs are dropped from the
/// output.
#[track_caller]
pub fn run_tty(cmd: &Command, dir: &Path) -> Out {
    let line = std::iter::once(cmd.get_program())
        .chain(cmd.get_args())
        .map(|a| shell_quote(&a.to_string_lossy()))
        .collect::<Vec<_>>()
        .join(" ");
    let mut script = Command::new("script");
    script
        .args(["-qec", &line, "/dev/null"])
        .env("SHELL", "/bin/sh");
    for (k, v) in cmd.get_envs() {
        match v {
            Some(v) => script.env(k, v),
            None => script.env_remove(k),
        };
    }
    if let Some(d) = cmd.get_current_dir() {
        script.current_dir(d);
    }
    let mut out = run_step(&mut script, dir);
    out.stdout = out.stdout.replace(['\r', '\0'], "");
    out
}

pub fn shell_quote(s: &str) -> String {
    if !s.is_empty()
        && s.chars()
            .all(|c| c.is_ascii_alphanumeric() || "/-_.,:=@%+".contains(c))
    {
        s.to_string()
    } else {
        format!("'{}'", s.replace('\'', r"'\''"))
    }
}

fn describe(cmd: &Command) -> String {
    std::iter::once(cmd.get_program())
        .chain(cmd.get_args())
        .map(|a| shell_quote(&a.to_string_lossy()))
        .collect::<Vec<_>>()
        .join(" ")
}

// ---------------------------------------------------------------------------------------------
// Checks: every check runs and is reported, the test fails at the end if any failed
// ---------------------------------------------------------------------------------------------

pub struct Checks {
    client: &'static str,
    passed: Vec<String>,
    failed: Vec<String>,
}

impl Checks {
    pub fn new(client: &'static str) -> Self {
        Checks {
            client,
            passed: Vec::new(),
            failed: Vec::new(),
        }
    }

    /// Records `what` as passed when `ok`, else as failed with `detail`.
    pub fn check(&mut self, what: &str, ok: bool, detail: impl fmt::Display) {
        if ok {
            eprintln!("PASS: {} {what}", self.client);
            self.passed.push(what.to_string());
        } else {
            eprintln!("FAIL: {} {what}: {detail}", self.client);
            self.failed.push(format!("{what}: {detail}"));
        }
    }

    /// Records `what` as passed on Ok, else as failed with the error.
    pub fn check_result(&mut self, what: &str, result: Result<(), String>) {
        match result {
            Ok(()) => self.check(what, true, ""),
            Err(e) => self.check(what, false, e),
        }
    }

    /// Panics listing every failed check, followed by `diagnostics` (daemon logs).
    pub fn finish(self, diagnostics: impl FnOnce() -> String) {
        eprintln!(
            "{}: {} checks passed, {} failed",
            self.client,
            self.passed.len(),
            self.failed.len()
        );
        if !self.failed.is_empty() {
            panic!(
                "{} of {} {} checks failed:\n{}\n{}",
                self.failed.len(),
                self.failed.len() + self.passed.len(),
                self.client,
                self.failed.join("\n"),
                diagnostics()
            );
        }
    }
}

// ---------------------------------------------------------------------------------------------
// The test's private directory
// ---------------------------------------------------------------------------------------------

/// `BASE/<name>-<pid>`, created empty (an earlier run's dir of the same name is removed).
pub fn test_dir(name: &str) -> PathBuf {
    let dir = Path::new(BASE).join(format!("{name}-{}", std::process::id()));
    if dir.exists() {
        detach_mounts_under(&dir);
        let _ = fs::remove_dir_all(&dir);
    }
    fs::create_dir_all(&dir).unwrap_or_else(|e| panic!("mkdir {}: {e}", dir.display()));
    // Container processes running as other users must reach the image dirs below.
    let _ = fs::set_permissions(Path::new(BASE), fs::Permissions::from_mode(0o711));
    dir
}

/// Host paths a client creates outside its configured paths; each is removed at teardown if it
/// did not exist when the test started (a dir only if empty then; deepest listed first).
pub struct HostDirs(Vec<PathBuf>);

impl HostDirs {
    pub fn record(paths: &[&str]) -> Self {
        HostDirs(
            paths
                .iter()
                .map(PathBuf::from)
                .filter(|p| !p.exists())
                .collect(),
        )
    }
    fn remove_if_empty(&self) {
        for p in &self.0 {
            if p.is_file() {
                let _ = fs::remove_file(p);
            } else {
                let _ = fs::remove_dir(p);
            }
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Local registry (Debian's docker-registry) on 127.0.0.1:<free port>
// ---------------------------------------------------------------------------------------------

pub struct Registry {
    pub addr: String,
    dir: PathBuf,
    child: Option<Child>,
}

impl Registry {
    /// Starts `docker-registry serve` with storage in `dir/registry` on a free loopback port.
    pub fn start(dir: &Path) -> Registry {
        Registry::start_with(dir, "")
    }

    /// [`Registry::start`] with `extra` appended to its config.yml (e.g. an `auth:` section);
    /// a registry answering 401 to `/v2/` (auth required) counts as up.
    pub fn start_with(dir: &Path, extra: &str) -> Registry {
        let rdir = dir.join("registry");
        make_dir(&rdir.join("data"));
        // The port is free now; a race with another binder only makes the start fail loudly.
        let port = TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .unwrap_or_else(|e| panic!("find a free port: {e}"))
            .port();
        let addr = format!("127.0.0.1:{port}");
        let config = rdir.join("config.yml");
        write_file(
            &config,
            &format!(
                "version: 0.1\nlog:\n  level: warn\nstorage:\n  filesystem:\n    rootdirectory: {}\n  delete:\n    enabled: true\nhttp:\n  addr: {addr}\n{extra}",
                rdir.join("data").display()
            ),
        );
        let log = fs::File::create(rdir.join("registry.log"))
            .unwrap_or_else(|e| panic!("registry log: {e}"));
        let log2 = log
            .try_clone()
            .unwrap_or_else(|e| panic!("registry log: {e}"));
        let child = Command::new("docker-registry")
            .arg("serve")
            .arg(&config)
            .stdin(Stdio::null())
            .stdout(log)
            .stderr(log2)
            .process_group(0)
            .spawn()
            .unwrap_or_else(|e| panic!("spawn docker-registry (install docker-registry): {e}"));
        let mut reg = Registry {
            addr,
            dir: rdir,
            child: Some(child),
        };
        let up = wait_until(Duration::from_secs(20), || {
            reg.get("/v2/")
                .is_some_and(|r| r.starts_with("HTTP/1.1 200") || r.starts_with("HTTP/1.1 401"))
                || reg
                    .child
                    .as_mut()
                    .is_some_and(|c| c.try_wait().ok().flatten().is_some())
        });
        assert!(
            up && reg.get("/v2/").is_some(),
            "docker-registry did not answer on {}:\n{}",
            reg.addr,
            reg.log()
        );
        reg
    }

    /// Plain HTTP GET on the registry: status line, headers and body, or None.
    pub fn get(&self, path: &str) -> Option<String> {
        let mut s = TcpStream::connect(&self.addr).ok()?;
        s.set_read_timeout(Some(Duration::from_secs(5))).ok()?;
        write!(
            s,
            "GET {path} HTTP/1.1\r\nHost: {}\r\nConnection: close\r\n\r\n",
            self.addr
        )
        .ok()?;
        let mut resp = String::new();
        s.read_to_string(&mut resp).ok()?;
        Some(resp)
    }

    pub fn log(&self) -> String {
        read_lossy(&self.dir.join("registry.log"))
    }
}

impl Drop for Registry {
    fn drop(&mut self) {
        if let Some(mut c) = self.child.take() {
            stop_child(&mut c, Duration::from_secs(5));
        }
    }
}

/// The end of a docker or podman guard's teardown: unmounts and removes its `dir`, reaps
/// orphans, removes the host dirs the client created.
fn remove_guard_dir(dir: &Path, host_dirs: &HostDirs) {
    detach_mounts_under(dir);
    if let Err(e) = fs::remove_dir_all(dir) {
        eprintln!("teardown: rm -r {}: {e}", dir.display());
    }
    reap_orphans();
    host_dirs.remove_if_empty();
}

/// Removes the test's dir itself (after the guards inside it are gone).
pub struct DirGuard(pub PathBuf);

impl Drop for DirGuard {
    fn drop(&mut self) {
        detach_mounts_under(&self.0);
        let _ = fs::remove_dir_all(&self.0);
        let _ = fs::remove_dir(BASE);
    }
}

// ---------------------------------------------------------------------------------------------
// Processes
// ---------------------------------------------------------------------------------------------

/// Makes this process the reaper of its orphaned descendants (daemonized shims, conmon):
/// PID 1 here does not reap them.
pub fn subreaper() {
    // SAFETY: prctl(PR_SET_CHILD_SUBREAPER, 1) takes no pointers.
    unsafe { libc::prctl(libc::PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0) };
}

/// Reaps every zombie child of this process. Only called by the guards' teardown, when the
/// test's own `Command`s have all been waited for (each test file runs one test).
pub fn reap_orphans() {
    let me = std::process::id() as i32;
    for _ in 0..50 {
        let zombies: Vec<i32> = procs()
            .into_iter()
            .filter(|p| p.ppid == me && p.state == 'Z')
            .map(|p| p.pid)
            .collect();
        for pid in &zombies {
            // SAFETY: waitpid(2) of a zombie child of ours; the status is not needed.
            unsafe { libc::waitpid(*pid, std::ptr::null_mut(), libc::WNOHANG) };
        }
        let live_orphans = procs().iter().any(|p| p.ppid == me && p.state != 'Z');
        if zombies.is_empty() && !live_orphans {
            return;
        }
        sleep_ms(20);
    }
}

struct Proc {
    pid: i32,
    ppid: i32,
    state: char,
    cmdline: String,
}

fn procs() -> Vec<Proc> {
    let Ok(entries) = fs::read_dir("/proc") else {
        return Vec::new();
    };
    entries
        .filter_map(|e| e.ok()?.file_name().to_str()?.parse::<i32>().ok())
        .filter_map(|pid| {
            let stat = fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
            // Fields after the parenthesised command name: state, ppid, ...
            let (_, rest) = stat.rsplit_once(')')?;
            let mut f = rest.split_whitespace();
            let state = f.next()?.chars().next()?;
            let ppid = f.next()?.parse().ok()?;
            let cmdline = fs::read(format!("/proc/{pid}/cmdline"))
                .map(|b| String::from_utf8_lossy(&b).replace('\0', " "))
                .unwrap_or_default();
            Some(Proc {
                pid,
                ppid,
                state,
                cmdline,
            })
        })
        .collect()
}

/// SIGKILLs every live process whose command line contains `needle` (a path private to the
/// test), and all their descendants; never this process or its ancestors.
pub fn kill_matching(needle: &str) -> Vec<i32> {
    let all = procs();
    let me = std::process::id() as i32;
    let mut ancestors = BTreeSet::new();
    let mut p = me;
    while p > 1 && ancestors.insert(p) {
        p = all.iter().find(|x| x.pid == p).map_or(0, |x| x.ppid);
    }
    let mut victims: BTreeSet<i32> = all
        .iter()
        .filter(|p| p.state != 'Z' && !ancestors.contains(&p.pid))
        .filter(|p| format!("{} ", p.cmdline).contains(needle))
        .map(|p| p.pid)
        .collect();
    loop {
        let more: Vec<i32> = all
            .iter()
            .filter(|p| victims.contains(&p.ppid) && !victims.contains(&p.pid))
            .map(|p| p.pid)
            .collect();
        if more.is_empty() {
            break;
        }
        victims.extend(more);
    }
    let victims: Vec<i32> = victims
        .into_iter()
        .filter(|p| !ancestors.contains(p))
        .collect();
    if !victims.is_empty() {
        eprintln!("teardown: killing leftover processes matching {needle}: {victims:?}");
        for pid in &victims {
            // SAFETY: kill(2) of a pid found in /proc whose command line names our dir.
            unsafe { libc::kill(*pid, libc::SIGKILL) };
        }
        sleep_ms(200);
    }
    victims
}

/// SIGKILLs every live descendant of this process and reaps them (a subreaper's leftovers,
/// shims and container processes, all belong to the test), trying for up to 10 s. First
/// thaws the cgroups at and below `thaw` (relative to each hierarchy root): a frozen process
/// does not die of SIGKILL until thawed.
pub fn kill_descendants(thaw: &str) {
    for root in cgroup_roots() {
        for d in find_dirs(&root.join(thaw.trim_start_matches('/'))) {
            let _ = fs::write(d.join("freezer.state"), "THAWED");
            let _ = fs::write(d.join("cgroup.freeze"), "0");
        }
    }
    let me = std::process::id() as i32;
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let all = procs();
        let mut left: Vec<i32> = Vec::new();
        let mut frontier = vec![me];
        while let Some(parent) = frontier.pop() {
            for p in all.iter().filter(|p| p.ppid == parent) {
                frontier.push(p.pid);
                if p.state != 'Z' {
                    left.push(p.pid);
                }
            }
        }
        if !left.is_empty() {
            eprintln!("teardown: killing leftover processes {left:?}");
        }
        for &pid in &left {
            // SAFETY: kill(2) of a descendant of this test process.
            unsafe { libc::kill(pid, libc::SIGKILL) };
        }
        reap_orphans();
        if left.is_empty() || Instant::now() >= deadline {
            break;
        }
        sleep_ms(50);
    }
}

/// SIGTERM, then SIGKILL after `grace`; always waits for the child.
fn stop_child(c: &mut Child, grace: Duration) {
    // SAFETY: kill(2) of our own child, not yet waited for.
    unsafe { libc::kill(c.id() as i32, libc::SIGTERM) };
    let gone = wait_until(grace, || c.try_wait().ok().flatten().is_some());
    if !gone {
        eprintln!("teardown: pid {} ignored SIGTERM, SIGKILL", c.id());
        let _ = c.kill();
    }
    let _ = c.wait();
}

// ---------------------------------------------------------------------------------------------
// cgroups, mounts, sockets
// ---------------------------------------------------------------------------------------------

/// Mount points of every cgroup hierarchy (v1 controllers, named, v2).
pub fn cgroup_roots() -> Vec<PathBuf> {
    let info = fs::read_to_string("/proc/self/mountinfo").unwrap_or_default();
    info.lines()
        .filter_map(|l| {
            let (pre, post) = l.split_once(" - ")?;
            let fstype = post.split(' ').next()?;
            let point = pre.split(' ').nth(4)?;
            (fstype == "cgroup" || fstype == "cgroup2")
                .then(|| PathBuf::from(super::mountinfo::unescape_mountinfo(point)))
        })
        .collect()
}

/// The dirs of the cgroup `rel` (relative to each hierarchy root) that exist.
pub fn cgroup_dirs(rel: &str) -> Vec<PathBuf> {
    cgroup_roots()
        .into_iter()
        .map(|root| root.join(rel.trim_start_matches('/')))
        .filter(|d| d.is_dir())
        .collect()
}

/// Removes the cgroups `rel` (relative to each hierarchy root) with everything below them:
/// thaws them, kills what is still inside, then rmdirs deepest first.
pub fn remove_cgroups(rels: &[String]) {
    for root in cgroup_roots() {
        for rel in rels {
            let top = root.join(rel);
            if !top.is_dir() {
                continue;
            }
            let mut dirs = find_dirs(&top);
            dirs.sort_by_key(|d| std::cmp::Reverse(d.as_os_str().len()));
            for d in &dirs {
                // A frozen task cannot act on SIGKILL.
                let _ = fs::write(d.join("freezer.state"), "THAWED");
                let _ = fs::write(d.join("cgroup.freeze"), "0");
                for pid in read_lossy(&d.join("cgroup.procs"))
                    .lines()
                    .filter_map(|l| l.trim().parse::<i32>().ok())
                {
                    eprintln!("teardown: killing pid {pid} left in {}", d.display());
                    // SAFETY: kill(2) of a task in one of the test's containers' cgroups.
                    unsafe { libc::kill(pid, libc::SIGKILL) };
                }
            }
            let gone = wait_until(Duration::from_secs(3), || {
                for d in &dirs {
                    let _ = fs::remove_dir(d);
                }
                !top.exists()
            });
            if !gone {
                eprintln!("teardown: could not remove cgroup {}", top.display());
            }
        }
    }
}

/// rmdirs shared parent cgroups (`/docker`, `/libpod_parent`) only when empty.
pub fn rmdir_cgroups(rels: &[&str]) {
    for root in cgroup_roots() {
        for rel in rels {
            let _ = fs::remove_dir(root.join(rel));
        }
    }
}

/// containerd 1.6 puts shim sockets in /run/containerd/s whatever its state dir; each bundle
/// of ours names its socket in an `address` file. Removes the ones of killed shims.
pub fn rm_shim_sockets(containerd_state: &Path) {
    for f in find_files(containerd_state, "address") {
        let a = read_lossy(&f);
        let a = a.trim().trim_start_matches("unix://");
        if a.starts_with("/run/containerd/s/") {
            let _ = fs::remove_file(a);
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Small utilities
// ---------------------------------------------------------------------------------------------

fn is_hex_id(s: &str) -> bool {
    s.len() == 64 && s.bytes().all(|b| b.is_ascii_hexdigit())
}

fn list_dir(d: &Path) -> BTreeSet<String> {
    fs::read_dir(d)
        .map(|rd| {
            rd.filter_map(|e| e.ok()?.file_name().into_string().ok())
                .filter(|n| is_hex_id(n))
                .collect()
        })
        .unwrap_or_default()
}

fn find_dirs(top: &Path) -> Vec<PathBuf> {
    let mut out = vec![top.to_path_buf()];
    let mut i = 0;
    while i < out.len() {
        if let Ok(rd) = fs::read_dir(&out[i]) {
            for e in rd.flatten() {
                if e.file_type().is_ok_and(|t| t.is_dir()) {
                    out.push(e.path());
                }
            }
        }
        i += 1;
    }
    out
}

/// Files named `name` at any depth below `top` (not following symlinks).
fn find_files(top: &Path, name: &str) -> Vec<PathBuf> {
    let mut out = Vec::new();
    for d in find_dirs(top) {
        let f = d.join(name);
        if f.is_file() {
            out.push(f);
        }
    }
    out
}

fn hard_limit(res: libc::__rlimit_resource_t) -> u64 {
    let mut r = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: getrlimit(2) fills the struct we pass.
    if unsafe { libc::getrlimit(res, &mut r) } != 0 {
        return 1024;
    }
    r.rlim_max
}
