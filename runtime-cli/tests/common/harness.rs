//! The CLI tests' harness: one private state root and work dir per test, the `Spec` builder.
//!
//! Every test builds a [`Harness`]: a private `--root` state directory under
//! `/run/ongi-test/`, a private work directory under `/tmp/ongi-test/` (holding
//! bundles and host directories that get bind-mounted into containers) and a
//! marker string.  The marker is put in the environment of every runtime
//! invocation and of every container process, so leftover processes can be
//! found by scanning `/proc/*/environ`.  Dropping the harness (also while a
//! test panics) force-deletes every container the test created, kills any
//! process still carrying the marker, and removes the directories.
//!
//! The runtime under test is `$ONGI_TEST_RUNTIME` if set (e.g.
//! `/usr/sbin/runc`, to validate the expectations), else the `ongi` binary.

use super::files::{make_dir, path_str, read_lossy, write_file};
use super::mountinfo::detach_mounts_under;
use super::rootfs::{build_rootfs, WORK_ROOT};
use super::runtime_bin::runtime;
use super::wait::{pid_alive, sleep_ms, wait_until};
use serde_json::{json, Value};
use std::cell::{Cell, RefCell};
use std::fmt;
use std::fs;
use std::io;
use std::path::{Path, PathBuf};
use std::process::{Command, ExitStatus, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant};

/// How long a single runtime invocation may take before the test fails.
pub const RUNTIME_TIMEOUT: Duration = Duration::from_secs(20);
/// How long to wait for a container to reach an expected state.
pub const STATE_TIMEOUT: Duration = Duration::from_secs(10);
/// How long each cleanup `delete --force` may take.
const CLEANUP_TIMEOUT: Duration = Duration::from_secs(10);
/// Name of the environment variable carrying the per-test marker.
pub const MARKER_VAR: &str = "ONGI_TEST_MARKER";

const STATE_ROOT: &str = "/run/ongi-test";

// ---------------------------------------------------------------------------
// Output of one runtime invocation
// ---------------------------------------------------------------------------

/// Captured result of one runtime invocation.
pub struct Output {
    pub args: Vec<String>,
    pub status: ExitStatus,
    pub stdout: String,
    pub stderr: String,
}

impl Output {
    /// Exit code; a runtime killed by a signal counts as `None`.
    pub fn code(&self) -> Option<i32> {
        self.status.code()
    }

    pub fn ok(&self) -> bool {
        self.status.success()
    }

    /// Panics (with the full output) unless the invocation succeeded.
    #[track_caller]
    pub fn expect_ok(self) -> Self {
        assert!(self.ok(), "expected success:\n{self}");
        self
    }

    /// Panics (with the full output) unless the invocation failed cleanly,
    /// i.e. exited with a non-zero code rather than crashing on a signal.
    #[track_caller]
    pub fn expect_fail(self) -> Self {
        assert!(
            matches!(self.code(), Some(c) if c != 0),
            "expected a non-zero exit code:\n{self}"
        );
        self
    }

    /// Stdout split into trimmed lines.
    pub fn lines(&self) -> Vec<&str> {
        self.stdout.lines().map(str::trim_end).collect()
    }
}

impl fmt::Display for Output {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "$ {} {}\nstatus: {}\n--- stdout ---\n{}\n--- stderr ---\n{}",
            runtime().display(),
            self.args.join(" "),
            self.status,
            self.stdout,
            self.stderr
        )
    }
}

impl fmt::Debug for Output {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(self, f)
    }
}

// ---------------------------------------------------------------------------
// config.json builder
// ---------------------------------------------------------------------------

/// A `config.json` under construction.  Methods consume and return `self` so
/// that specs read as one expression.
#[derive(Clone, Debug)]
pub struct Spec(pub Value);

impl Default for Spec {
    fn default() -> Self {
        Self::new()
    }
}

impl Spec {
    /// `ongi spec`'s default (`ongi::spec::default_spec`, runc's) with `process.terminal`
    /// off and the hostname `ongi-test`. tests/spec.rs checks that default against its own
    /// copy of runc's.
    pub fn new() -> Self {
        Spec(ongi::spec::default_spec(false))
            .set("/process/terminal", json!(false))
            .set("/hostname", json!("ongi-test"))
    }

    /// Sets `process.args`.
    pub fn args(self, args: &[&str]) -> Self {
        self.set("/process/args", json!(args))
    }

    /// Runs `sh -c SCRIPT`.
    pub fn sh(self, script: &str) -> Self {
        self.args(&["sh", "-c", script])
    }

    /// Appends `KEY=VALUE` to `process.env`.
    pub fn env(mut self, entry: &str) -> Self {
        self.array("/process/env").push(json!(entry));
        self
    }

    /// Sets the value at a JSON pointer, creating intermediate objects.
    pub fn set(mut self, pointer: &str, value: Value) -> Self {
        *self.slot(pointer) = value;
        self
    }

    /// Removes the value at a JSON pointer (a no-op if absent).
    pub fn remove(mut self, pointer: &str) -> Self {
        let (parent, key) = pointer.rsplit_once('/').expect("pointer starts with /");
        if let Some(Value::Object(map)) = self.0.pointer_mut(parent) {
            map.remove(key);
        }
        self
    }

    /// Appends a mount.
    pub fn mount(mut self, mount: Value) -> Self {
        self.array("/mounts").push(mount);
        self
    }

    /// Appends a tmpfs mount.
    pub fn tmpfs(self, dest: &str, options: &[&str]) -> Self {
        self.mount(json!({
            "destination": dest, "type": "tmpfs", "source": "tmpfs", "options": options
        }))
    }

    /// Appends a recursive bind mount of `host` at `dest`, with extra options.
    pub fn bind(self, host: &Path, dest: &str, extra: &[&str]) -> Self {
        let mut options = vec!["rbind"];
        options.extend_from_slice(extra);
        self.mount(json!({
            "destination": dest, "type": "bind", "source": host, "options": options
        }))
    }

    /// Adds (or replaces) a namespace, optionally joining an existing one.
    pub fn namespace(self, kind: &str, path: Option<&str>) -> Self {
        let mut spec = self.without_namespace(kind);
        let ns = match path {
            Some(p) => json!({ "type": kind, "path": p }),
            None => json!({ "type": kind }),
        };
        spec.array("/linux/namespaces").push(ns);
        spec
    }

    /// Removes a namespace type from `linux.namespaces`.
    pub fn without_namespace(mut self, kind: &str) -> Self {
        self.array("/linux/namespaces")
            .retain(|ns| ns["type"] != json!(kind));
        self
    }

    /// Adds a user namespace mapping container ids 0..size to host ids
    /// `host..host+size` for both uids and gids.
    pub fn user_namespace(self, host: u32, size: u32) -> Self {
        let map = json!([{ "containerID": 0, "hostID": host, "size": size }]);
        self.namespace("user", None)
            .set("/linux/uidMappings", map.clone())
            .set("/linux/gidMappings", map)
    }

    /// Serialized form.
    pub fn to_json(&self) -> String {
        serde_json::to_string_pretty(&self.0).expect("serializable")
    }

    fn array(&mut self, pointer: &str) -> &mut Vec<Value> {
        let slot = self.slot(pointer);
        if !slot.is_array() {
            *slot = json!([]);
        }
        slot.as_array_mut().expect("just made an array")
    }

    /// The value at `pointer`; missing object members are created, array
    /// elements must exist.
    fn slot(&mut self, pointer: &str) -> &mut Value {
        assert!(pointer.starts_with('/'), "bad pointer {pointer:?}");
        let mut cur = &mut self.0;
        for key in pointer.split('/').skip(1) {
            if let Value::Array(items) = cur {
                let len = items.len();
                cur = key
                    .parse::<usize>()
                    .ok()
                    .and_then(|i| items.get_mut(i))
                    .unwrap_or_else(|| panic!("{pointer}: no element {key} in array of {len}"));
                continue;
            }
            if !cur.is_object() {
                *cur = json!({});
            }
            cur = cur
                .as_object_mut()
                .expect("object")
                .entry(key.to_string())
                .or_insert(Value::Null);
        }
        cur
    }
}

// ---------------------------------------------------------------------------
// Per-test harness
// ---------------------------------------------------------------------------

/// A created (not necessarily started) container.
#[derive(Clone, Debug)]
pub struct Ctr {
    pub id: String,
    pub bundle: PathBuf,
}

/// Per-test environment; see the module documentation.
pub struct Harness {
    marker: String,
    seq: u32,
    root: PathBuf,
    work: PathBuf,
    ids: RefCell<Vec<String>>,
    counter: Cell<u32>,
    /// The binary this harness runs: [`runtime`] unless [`Harness::use_runtime`] says.
    runtime: RefCell<PathBuf>,
}

impl Harness {
    /// `name` only needs to be unique within the test binary (use the test's
    /// name); the process id and a counter make it globally unique.
    pub fn new(name: &str) -> Self {
        static SEQ: AtomicU32 = AtomicU32::new(0);
        // Kept short: the runtime may put sockets below ROOT/ID, and
        // sun_path is limited to 108 bytes.
        let short: String = name.replace('_', "-").chars().take(16).collect();
        let seq = SEQ.fetch_add(1, Ordering::Relaxed);
        let pid = std::process::id();
        let marker = format!("{short}-{pid}-{seq}");
        let root = Path::new(STATE_ROOT).join(&marker);
        let work = Path::new(WORK_ROOT).join(&marker);
        // The runtime must create --root itself if needed, so only the
        // parent is created here.
        make_dir(Path::new(STATE_ROOT));
        make_dir(&work);
        Harness {
            marker,
            seq,
            root,
            work,
            ids: RefCell::new(Vec::new()),
            counter: Cell::new(0),
            runtime: RefCell::new(runtime()),
        }
    }

    /// Runs `binary` instead of [`runtime`] from now on (e.g. a copy the test may see
    /// overwritten).
    pub fn use_runtime(&self, binary: &Path) {
        *self.runtime.borrow_mut() = binary.to_path_buf();
    }

    /// The binary this harness runs.
    pub fn runtime_path(&self) -> PathBuf {
        self.runtime.borrow().clone()
    }

    /// The marker found in the environment of everything this test started.
    pub fn marker(&self) -> &str {
        &self.marker
    }

    /// The `--root` state directory.
    pub fn root(&self) -> &Path {
        &self.root
    }

    /// The test's private work directory.
    pub fn work(&self) -> &Path {
        &self.work
    }

    fn next(&self) -> u32 {
        let n = self.counter.get();
        self.counter.set(n + 1);
        n
    }

    /// A fresh, globally unique container id, deleted when the harness drops.
    pub fn new_id(&self) -> String {
        let (pid, seq) = (std::process::id(), self.seq);
        let id = format!("t{pid}-{seq}-{}", self.next());
        self.ids.borrow_mut().push(id.clone());
        id
    }

    /// A fresh empty directory (mode 0755) inside the work directory.
    pub fn dir(&self, name: &str) -> PathBuf {
        let dir = self.work.join(format!("{name}-{}", self.next()));
        make_dir(&dir);
        dir
    }

    /// A fresh bundle directory with a busybox rootfs but no config.json.
    pub fn bare_bundle(&self) -> PathBuf {
        let bundle = self.dir("bundle");
        build_rootfs(&bundle.join("rootfs"));
        bundle
    }

    /// A fresh bundle with a busybox rootfs and `spec` as its config.json
    /// (with the test marker added to the process environment).
    pub fn bundle(&self, spec: &Spec) -> PathBuf {
        let bundle = self.bare_bundle();
        self.write_config(&bundle, spec);
        bundle
    }

    /// (Re)writes `bundle/config.json` from `spec` plus the marker env var.
    pub fn write_config(&self, bundle: &Path, spec: &Spec) {
        let spec = spec.clone().env(&format!("{MARKER_VAR}={}", self.marker));
        write_file(&bundle.join("config.json"), &spec.to_json());
    }

    /// Runs the runtime with `--root ROOT` followed by `args`.
    #[track_caller]
    pub fn rt(&self, args: &[&str]) -> Output {
        self.rt_in(None, args)
    }

    /// Like [`Harness::rt`], in working directory `cwd`.
    #[track_caller]
    pub fn rt_in(&self, cwd: Option<&Path>, args: &[&str]) -> Output {
        let mut full = vec!["--root", path_str(&self.root)];
        full.extend_from_slice(args);
        match self.try_rt(cwd, &full, RUNTIME_TIMEOUT) {
            Ok(out) => out,
            Err(msg) => panic!("{msg}"),
        }
    }

    /// Runs the runtime with exactly `args` (no implicit `--root`); returns
    /// an error message instead of panicking when it times out.
    pub fn try_rt(
        &self,
        cwd: Option<&Path>,
        args: &[&str],
        timeout: Duration,
    ) -> Result<Output, String> {
        let n = self.next();
        let out_path = self.work.join(format!("rt-{n}.stdout"));
        let err_path = self.work.join(format!("rt-{n}.stderr"));
        // Output goes to files, not pipes: a container started by create or
        // run -d inherits the runtime's stdio, and a pipe would then never
        // reach EOF.
        let stdout = fs::File::create(&out_path).map_err(|e| e.to_string())?;
        let stderr = fs::File::create(&err_path).map_err(|e| e.to_string())?;
        let runtime = self.runtime_path();
        let mut cmd = Command::new(&runtime);
        cmd.args(args)
            .env(MARKER_VAR, &self.marker)
            .stdin(Stdio::null())
            .stdout(stdout)
            .stderr(stderr);
        if let Some(dir) = cwd {
            cmd.current_dir(dir);
        }
        let args: Vec<String> = args.iter().map(|s| s.to_string()).collect();
        let mut child = cmd
            .spawn()
            .map_err(|e| format!("spawn {}: {e}", runtime.display()))?;
        let deadline = Instant::now() + timeout;
        let status = loop {
            match child.try_wait() {
                Ok(Some(status)) => break status,
                Ok(None) if Instant::now() < deadline => sleep_ms(5),
                Ok(None) => {
                    let _ = child.kill();
                    let _ = child.wait();
                    return Err(format!(
                        "runtime timed out after {timeout:?}: {} {}\n--- stdout ---\n{}\n--- stderr ---\n{}",
                        runtime.display(),
                        args.join(" "),
                        read_lossy(&out_path),
                        read_lossy(&err_path)
                    ));
                }
                Err(e) => return Err(format!("wait for runtime: {e}")),
            }
        };
        Ok(Output {
            args,
            status,
            stdout: read_lossy(&out_path),
            stderr: read_lossy(&err_path),
        })
    }

    /// `run --bundle B ID` in the foreground for a fresh bundle built from
    /// `spec`; the container's stdout/stderr end up in the output.
    #[track_caller]
    pub fn run(&self, spec: &Spec) -> Output {
        self.run_bundle(&self.bundle(spec))
    }

    /// `run --bundle BUNDLE ID` in the foreground with a fresh id.
    #[track_caller]
    pub fn run_bundle(&self, bundle: &Path) -> Output {
        let id = self.new_id();
        self.rt(&["run", "--bundle", path_str(bundle), &id])
    }

    /// Like [`Harness::run`] but panics unless it exits 0; returns stdout.
    #[track_caller]
    pub fn run_ok(&self, spec: &Spec) -> String {
        self.run(spec).expect_ok().stdout
    }

    /// `create` a container from `spec` with extra create flags; asserts
    /// success.
    #[track_caller]
    pub fn create_with(&self, spec: &Spec, flags: &[&str]) -> Ctr {
        let bundle = self.bundle(spec);
        let id = self.new_id();
        let mut args = vec!["create", "--bundle", path_str(&bundle)];
        args.extend_from_slice(flags);
        args.push(&id);
        self.rt(&args).expect_ok();
        Ctr { id, bundle }
    }

    /// `create` a container from `spec`; asserts success.
    #[track_caller]
    pub fn create(&self, spec: &Spec) -> Ctr {
        self.create_with(spec, &[])
    }

    /// `create` + `start`; asserts both succeed.
    #[track_caller]
    pub fn start(&self, spec: &Spec) -> Ctr {
        let ctr = self.create(spec);
        self.rt(&["start", &ctr.id]).expect_ok();
        ctr
    }

    /// `state ID`, parsed; asserts success.
    #[track_caller]
    pub fn state(&self, id: &str) -> Value {
        let out = self.rt(&["state", id]).expect_ok();
        serde_json::from_str(&out.stdout)
            .unwrap_or_else(|e| panic!("state output is not JSON ({e}):\n{out}"))
    }

    /// The `status` field of `state ID`.
    #[track_caller]
    pub fn status(&self, id: &str) -> String {
        let state = self.state(id);
        state["status"]
            .as_str()
            .unwrap_or_else(|| panic!("state has no string status: {state}"))
            .to_string()
    }

    /// The `pid` field of `state ID`.
    #[track_caller]
    pub fn pid(&self, id: &str) -> i32 {
        let state = self.state(id);
        state["pid"]
            .as_i64()
            .unwrap_or_else(|| panic!("state has no numeric pid: {state}")) as i32
    }

    /// Polls `state ID` until its status is `want`.
    #[track_caller]
    pub fn wait_status(&self, id: &str, want: &str) {
        let mut last = String::new();
        let ok = wait_until(STATE_TIMEOUT, || {
            last = self.status(id);
            last == want
        });
        assert!(ok, "container {id} never became {want:?} (last: {last:?})");
    }

    /// Parsed `list --format json` (runc prints `null` when empty).
    #[track_caller]
    pub fn list_json(&self) -> Vec<Value> {
        let out = self.rt(&["list", "--format", "json"]).expect_ok();
        match serde_json::from_str(&out.stdout) {
            Ok(Value::Array(items)) => items,
            Ok(Value::Null) => Vec::new(),
            other => panic!("list --format json is not an array ({other:?}):\n{out}"),
        }
    }

    /// Live (non-zombie) processes carrying this test's marker.
    pub fn marked_pids(&self) -> Vec<i32> {
        marked_pids(&self.marker)
    }

    /// Asserts that a container which failed to be created left nothing
    /// behind: not listed, no state entry, no live process from this test.
    #[track_caller]
    pub fn assert_no_trace(&self, id: &str) {
        let listed = self.list_json();
        assert!(
            !listed.iter().any(|c| c["id"] == json!(id)),
            "{id} is still listed: {listed:?}"
        );
        assert!(
            !self.root.join(id).exists(),
            "{} still exists",
            self.root.join(id).display()
        );
        let mut left = Vec::new();
        let gone = wait_until(Duration::from_secs(3), || {
            left = self.marked_pids();
            left.is_empty()
        });
        assert!(gone, "processes left behind: {}", describe_pids(&left));
    }
}

impl Drop for Harness {
    fn drop(&mut self) {
        // Nothing here may panic: this also runs while a test is unwinding.
        for id in self.ids.borrow().iter() {
            let root = path_str(&self.root).to_string();
            let args = ["--root", &root, "delete", "--force", id];
            if let Err(e) = self.try_rt(None, &args, CLEANUP_TIMEOUT) {
                eprintln!("cleanup: {e}");
            }
        }
        for pid in marked_pids(&self.marker) {
            // SAFETY: plain kill(2) on a pid we found in /proc.
            unsafe { libc::kill(pid, libc::SIGKILL) };
        }
        for dir in [&self.root, &self.work] {
            detach_mounts_under(dir);
            let _ = fs::remove_dir_all(dir);
        }
    }
}

/// Waits until `pid` is dead (or a zombie).
pub fn wait_pid_gone(pid: i32) -> bool {
    wait_until(STATE_TIMEOUT, || !pid_alive(pid))
}

/// Target of a `/proc/<pid>/ns/<kind>` link, e.g. `net:[4026531840]`.
pub fn ns_link(pid: &str, kind: &str) -> String {
    fs::read_link(format!("/proc/{pid}/ns/{kind}"))
        .map(|p| p.to_string_lossy().into_owned())
        .unwrap_or_else(|e| panic!("readlink /proc/{pid}/ns/{kind}: {e}"))
}

/// Live processes whose initial environment contains `MARKER_VAR=marker`.
pub fn marked_pids(marker: &str) -> Vec<i32> {
    let needle = format!("{MARKER_VAR}={marker}");
    let me = std::process::id() as i32;
    let Ok(entries) = fs::read_dir("/proc") else {
        return Vec::new();
    };
    entries
        .filter_map(|e| e.ok()?.file_name().to_str()?.parse::<i32>().ok())
        .filter(|&pid| pid != me && pid_alive(pid))
        .filter(|pid| {
            fs::read(format!("/proc/{pid}/environ"))
                .is_ok_and(|env| env.split(|&b| b == 0).any(|var| var == needle.as_bytes()))
        })
        .collect()
}

fn describe_pids(pids: &[i32]) -> String {
    pids.iter()
        .map(|pid| {
            let cmd = fs::read(format!("/proc/{pid}/cmdline"))
                .map(|b| String::from_utf8_lossy(&b).replace('\0', " "))
                .unwrap_or_default();
            format!("{pid} ({})", cmd.trim())
        })
        .collect::<Vec<_>>()
        .join(", ")
}

/// Bitmask of capability numbers, as printed in `/proc/<pid>/status`.
pub fn cap_mask(caps: &[u32]) -> String {
    format!("{:016x}", caps.iter().fold(0u64, |m, &c| m | (1u64 << c)))
}

/// Value of a `Key:\tvalue` line from `/proc/<pid>/status`-like text,
/// whitespace-normalised.
#[track_caller]
pub fn status_field(text: &str, key: &str) -> String {
    text.lines()
        .find_map(|l| l.strip_prefix(&format!("{key}:")))
        .map(|v| v.split_whitespace().collect::<Vec<_>>().join(" "))
        .unwrap_or_else(|| panic!("no {key}: line in:\n{text}"))
}

/// Reads a file on the host, `None` if it does not exist.
pub fn read_opt(path: &Path) -> Option<String> {
    match fs::read_to_string(path) {
        Ok(s) => Some(s),
        Err(e) if e.kind() == io::ErrorKind::NotFound => None,
        Err(e) => panic!("read {}: {e}", path.display()),
    }
}

/// Directories named `id` in any cgroup hierarchy, up to three levels below each mount
/// (covers `/ID`, `/ongi/ID`, `/a/b/ID`).
pub fn cgroup_dirs_named(id: &str) -> Vec<PathBuf> {
    fn walk(dir: &Path, id: &str, depth: u32, out: &mut Vec<PathBuf>) {
        let Ok(rd) = fs::read_dir(dir) else { return };
        for e in rd.flatten() {
            if !e.file_type().map(|t| t.is_dir()).unwrap_or(false) {
                continue;
            }
            let p = e.path();
            if e.file_name().to_str() == Some(id) {
                out.push(p.clone());
            }
            if depth > 1 {
                walk(&p, id, depth - 1, out);
            }
        }
    }
    let mut out = Vec::new();
    let Ok(rd) = fs::read_dir("/sys/fs/cgroup") else {
        return out;
    };
    for e in rd.flatten() {
        walk(&e.path(), id, 3, &mut out);
    }
    walk(Path::new("/sys/fs/cgroup"), id, 1, &mut out);
    out
}

/// Accepts one connection on a console socket and returns the fd it carried (SCM_RIGHTS),
/// as containerd's shim does with the pty master.
pub fn receive_fd(listener: &std::os::unix::net::UnixListener) -> std::os::fd::OwnedFd {
    use nix::sys::socket::{recvmsg, ControlMessageOwned, MsgFlags};
    use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
    let (conn, _) = listener.accept().expect("accept console connection");
    let mut buf = [0u8; 4096];
    let mut iov = [std::io::IoSliceMut::new(&mut buf)];
    let mut space = nix::cmsg_space!([std::os::fd::RawFd; 1]);
    let msg = recvmsg::<()>(
        conn.as_raw_fd(),
        &mut iov,
        Some(&mut space),
        MsgFlags::empty(),
    )
    .expect("recvmsg");
    for c in msg.cmsgs().expect("cmsgs") {
        if let ControlMessageOwned::ScmRights(fds) = c {
            // SAFETY: the kernel just installed this fd in our table; we own it.
            return unsafe { OwnedFd::from_raw_fd(fds[0]) };
        }
    }
    panic!("no fd received over the console socket");
}

/// A static C program (gcc with glibc's static libc, libc6-dev) built from `source` under
/// the test binary's own directory in the work root: hostile programs that run inside
/// containers whose rootfs has no libc.
pub fn build_static_c(name: &str, source: &str) -> PathBuf {
    let dir = Path::new(WORK_ROOT).join(format!("c-{}", std::process::id()));
    make_dir(&dir);
    let src = dir.join(format!("{name}.c"));
    fs::write(&src, source).expect("write C source");
    let bin = dir.join(name);
    let out = Command::new("cc")
        .args(["-static", "-O2", "-o"])
        .arg(&bin)
        .arg(&src)
        .output()
        .expect("run cc (gcc with glibc's static libc, libc6-dev)");
    assert!(
        out.status.success(),
        "cc {name}.c: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    bin
}
