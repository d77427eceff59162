//! Shared helpers for the `ongi` integration tests.
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

#![allow(dead_code)]

use serde_json::{json, Value};
use std::cell::{Cell, RefCell};
use std::fmt;
use std::fs;
use std::io;
use std::os::unix::fs::{symlink, PermissionsExt};
use std::path::{Path, PathBuf};
use std::process::{Command, ExitStatus, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::OnceLock;
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
const WORK_ROOT: &str = "/tmp/ongi-test";
const HOST_BUSYBOX: &str = "/bin/busybox";

/// The default `config.json` written by `runc spec` (runc 1.1.5), with
/// `process.terminal` set to false and the hostname changed.
const BASE_CONFIG: &str = r#"{
    "ociVersion": "1.0.2-dev",
    "process": {
        "terminal": false,
        "user": { "uid": 0, "gid": 0 },
        "args": [ "sh" ],
        "env": [
            "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
            "TERM=xterm"
        ],
        "cwd": "/",
        "capabilities": {
            "bounding": [ "CAP_AUDIT_WRITE", "CAP_KILL", "CAP_NET_BIND_SERVICE" ],
            "effective": [ "CAP_AUDIT_WRITE", "CAP_KILL", "CAP_NET_BIND_SERVICE" ],
            "permitted": [ "CAP_AUDIT_WRITE", "CAP_KILL", "CAP_NET_BIND_SERVICE" ],
            "ambient": [ "CAP_AUDIT_WRITE", "CAP_KILL", "CAP_NET_BIND_SERVICE" ]
        },
        "rlimits": [ { "type": "RLIMIT_NOFILE", "hard": 1024, "soft": 1024 } ],
        "noNewPrivileges": true
    },
    "root": { "path": "rootfs", "readonly": true },
    "hostname": "ongi-test",
    "mounts": [
        { "destination": "/proc", "type": "proc", "source": "proc" },
        { "destination": "/dev", "type": "tmpfs", "source": "tmpfs",
          "options": [ "nosuid", "strictatime", "mode=755", "size=65536k" ] },
        { "destination": "/dev/pts", "type": "devpts", "source": "devpts",
          "options": [ "nosuid", "noexec", "newinstance", "ptmxmode=0666", "mode=0620", "gid=5" ] },
        { "destination": "/dev/shm", "type": "tmpfs", "source": "shm",
          "options": [ "nosuid", "noexec", "nodev", "mode=1777", "size=65536k" ] },
        { "destination": "/dev/mqueue", "type": "mqueue", "source": "mqueue",
          "options": [ "nosuid", "noexec", "nodev" ] },
        { "destination": "/sys", "type": "sysfs", "source": "sysfs",
          "options": [ "nosuid", "noexec", "nodev", "ro" ] },
        { "destination": "/sys/fs/cgroup", "type": "cgroup", "source": "cgroup",
          "options": [ "nosuid", "noexec", "nodev", "relatime", "ro" ] }
    ],
    "linux": {
        "resources": { "devices": [ { "allow": false, "access": "rwm" } ] },
        "namespaces": [
            { "type": "pid" }, { "type": "network" }, { "type": "ipc" },
            { "type": "uts" }, { "type": "mount" }
        ],
        "maskedPaths": [
            "/proc/acpi", "/proc/asound", "/proc/kcore", "/proc/keys",
            "/proc/latency_stats", "/proc/timer_list", "/proc/timer_stats",
            "/proc/sched_debug", "/sys/firmware", "/proc/scsi"
        ],
        "readonlyPaths": [
            "/proc/bus", "/proc/fs", "/proc/irq", "/proc/sys", "/proc/sysrq-trigger"
        ]
    }
}"#;

// ---------------------------------------------------------------------------
// The runtime binary
// ---------------------------------------------------------------------------

/// Path of the runtime under test.
pub fn runtime() -> PathBuf {
    match std::env::var_os("ONGI_TEST_RUNTIME") {
        Some(p) if !p.is_empty() => PathBuf::from(p),
        _ => PathBuf::from(env!("CARGO_BIN_EXE_ongi")),
    }
}

/// True when the suite runs against runc (to validate expectations).
pub fn is_runc() -> bool {
    runtime()
        .file_name()
        .is_some_and(|n| n.to_string_lossy().starts_with("runc"))
}

/// Returns true (and logs why) when a test must be skipped under runc.
pub fn skip_on_runc(reason: &str) -> bool {
    if is_runc() {
        eprintln!("skipped under runc: {reason}");
        return true;
    }
    false
}

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
    /// runc's default spec (see [`BASE_CONFIG`]).
    pub fn new() -> Self {
        Spec(serde_json::from_str(BASE_CONFIG).expect("BASE_CONFIG is valid JSON"))
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
// Root filesystem
// ---------------------------------------------------------------------------

/// Applets of the host's static busybox.
fn busybox_applets() -> &'static [String] {
    static APPLETS: OnceLock<Vec<String>> = OnceLock::new();
    APPLETS.get_or_init(|| {
        let out = Command::new(HOST_BUSYBOX)
            .arg("--list")
            .output()
            .expect("run /bin/busybox --list (install busybox-static)");
        String::from_utf8_lossy(&out.stdout)
            .lines()
            .map(str::trim)
            .filter(|a| !a.is_empty() && *a != "busybox" && !a.contains('/'))
            .map(String::from)
            .collect()
    })
}

/// A private copy of the busybox binary that bundles hard-link to, so that a
/// runtime misbehaving on the rootfs (chmod, chown) never touches the host's
/// `/bin/busybox`.  Shared by all test processes; replaced atomically.
fn cached_busybox() -> &'static Path {
    static CACHED: OnceLock<PathBuf> = OnceLock::new();
    CACHED.get_or_init(|| {
        let dir = Path::new(WORK_ROOT);
        make_dir(dir);
        let path = dir.join("busybox");
        let host_len = fs::metadata(HOST_BUSYBOX).expect("stat /bin/busybox").len();
        let fresh = fs::symlink_metadata(&path).is_ok_and(|m| {
            m.is_file() && m.len() == host_len && m.permissions().mode() & 0o7777 == 0o755
        });
        if !fresh {
            let tmp = dir.join(format!("busybox.tmp-{}", std::process::id()));
            fs::copy(HOST_BUSYBOX, &tmp).expect("copy /bin/busybox");
            fs::set_permissions(&tmp, fs::Permissions::from_mode(0o755)).expect("chmod busybox");
            fs::rename(&tmp, &path).expect("install cached busybox");
        }
        path
    })
}

/// Populates `rootfs` with busybox, its applet symlinks and the usual
/// directories and account files.
pub fn build_rootfs(rootfs: &Path) {
    for dir in [
        "bin",
        "proc",
        "sys",
        "dev",
        "tmp",
        "etc",
        "root",
        "home/user",
    ] {
        make_dir(&rootfs.join(dir));
    }
    fs::set_permissions(rootfs.join("tmp"), fs::Permissions::from_mode(0o1777)).expect("chmod tmp");
    let busybox = rootfs.join("bin/busybox");
    if fs::hard_link(cached_busybox(), &busybox).is_err() {
        fs::copy(cached_busybox(), &busybox).expect("copy busybox into rootfs");
    }
    for applet in busybox_applets() {
        symlink("busybox", rootfs.join("bin").join(applet)).expect("applet symlink");
    }
    write_file(
        &rootfs.join("etc/passwd"),
        "root:x:0:0:root:/root:/bin/sh\nuser:x:1000:1000::/home/user:/bin/sh\n",
    );
    write_file(&rootfs.join("etc/group"), "root:x:0:\nuser:x:1000:\n");
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
                Ok(None) if Instant::now() < deadline => thread_sleep_ms(5),
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

// ---------------------------------------------------------------------------
// Small utilities
// ---------------------------------------------------------------------------

/// Paths used by the tests are always UTF-8.
pub fn path_str(p: &Path) -> &str {
    p.to_str().expect("UTF-8 path")
}

fn make_dir(dir: &Path) {
    fs::create_dir_all(dir).unwrap_or_else(|e| panic!("mkdir {}: {e}", dir.display()));
    fs::set_permissions(dir, fs::Permissions::from_mode(0o755))
        .unwrap_or_else(|e| panic!("chmod {}: {e}", dir.display()));
}

/// Writes a file, panicking with the path on error.
pub fn write_file(path: &Path, contents: &str) {
    fs::write(path, contents).unwrap_or_else(|e| panic!("write {}: {e}", path.display()));
}

fn read_lossy(path: &Path) -> String {
    fs::read(path)
        .map(|b| String::from_utf8_lossy(&b).into_owned())
        .unwrap_or_default()
}

fn thread_sleep_ms(ms: u64) {
    std::thread::sleep(Duration::from_millis(ms));
}

/// Polls `cond` every 10 ms until it holds or `timeout` passes.
pub fn wait_until(timeout: Duration, mut cond: impl FnMut() -> bool) -> bool {
    let deadline = Instant::now() + timeout;
    loop {
        if cond() {
            return true;
        }
        if Instant::now() >= deadline {
            return false;
        }
        thread_sleep_ms(10);
    }
}

/// Whether `pid` exists and is not a zombie.
pub fn pid_alive(pid: i32) -> bool {
    match fs::read_to_string(format!("/proc/{pid}/stat")) {
        // The state letter follows the parenthesised command name.
        Ok(stat) => match stat.rsplit_once(')') {
            Some((_, rest)) => !matches!(rest.trim_start().chars().next(), Some('Z' | 'X')),
            None => false,
        },
        Err(_) => false,
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

/// Lazily unmounts anything mounted (in the test's mount namespace) at or
/// below `dir`, so that removing `dir` can never recurse into a mount that a
/// misbehaving runtime leaked onto the host.
fn detach_mounts_under(dir: &Path) {
    let Ok(info) = fs::read_to_string("/proc/self/mountinfo") else {
        return;
    };
    let prefix = path_str(dir);
    let mut points: Vec<String> = info
        .lines()
        .filter_map(|l| l.split(' ').nth(4))
        .map(unescape_mountinfo)
        .filter(|p| p == prefix || p.starts_with(&format!("{prefix}/")))
        .collect();
    // Deepest first.
    points.sort_by_key(|p| std::cmp::Reverse(p.len()));
    for p in points {
        if let Ok(c) = std::ffi::CString::new(p) {
            // SAFETY: valid NUL-terminated path.
            unsafe { libc::umount2(c.as_ptr(), libc::MNT_DETACH) };
        }
    }
}

/// Decodes the octal escapes (`\040` etc.) used in mountinfo fields.
pub fn unescape_mountinfo(field: &str) -> String {
    let bytes = field.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let octal = bytes
            .get(i + 1..i + 4)
            .filter(|d| d.iter().all(|b| (b'0'..=b'7').contains(b)));
        match octal {
            Some(d) if bytes[i] == b'\\' => {
                out.push(d.iter().fold(0u8, |v, b| (v << 3) | (b - b'0')));
                i += 4;
            }
            _ => {
                out.push(bytes[i]);
                i += 1;
            }
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// One parsed line of `/proc/<pid>/mountinfo`.
#[derive(Clone, Debug)]
pub struct MountInfo {
    /// Path of the mount's root within its filesystem.
    pub root: String,
    pub mount_point: String,
    pub mount_options: Vec<String>,
    pub fs_type: String,
    pub source: String,
    pub super_options: Vec<String>,
}

impl MountInfo {
    /// Whether the per-mount or superblock options include `opt`.
    pub fn has_option(&self, opt: &str) -> bool {
        self.mount_options.iter().any(|o| o == opt) || self.super_options.iter().any(|o| o == opt)
    }
}

/// Parses mountinfo text (as printed by `cat /proc/self/mountinfo`).
pub fn parse_mountinfo(text: &str) -> Vec<MountInfo> {
    text.lines()
        .filter_map(|line| {
            let (pre, post) = line.split_once(" - ")?;
            let pre: Vec<&str> = pre.split(' ').collect();
            let post: Vec<&str> = post.split(' ').collect();
            let split = |s: &str| s.split(',').map(String::from).collect::<Vec<_>>();
            Some(MountInfo {
                root: unescape_mountinfo(pre.get(3)?),
                mount_point: unescape_mountinfo(pre.get(4)?),
                mount_options: split(pre.get(5)?),
                fs_type: post.first()?.to_string(),
                source: post.get(1)?.to_string(),
                super_options: split(post.get(2).unwrap_or(&"")),
            })
        })
        .collect()
}

/// The last (i.e. visible) mount at `point`.
#[track_caller]
pub fn mount_at<'a>(mounts: &'a [MountInfo], point: &str) -> &'a MountInfo {
    mounts
        .iter()
        .rev()
        .find(|m| m.mount_point == point)
        .unwrap_or_else(|| panic!("no mount at {point} in {mounts:#?}"))
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
