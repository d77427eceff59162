//! The machinery shared by all checks: the runtime under test, bundles with a busybox +
//! oci-check rootfs, config.json building, runtime invocations with a timeout, and a
//! per-check context that force-deletes its containers and removes its directories.

use serde_json::{json, Value};
use std::collections::BTreeMap;
use std::fs;
use std::os::unix::fs::{symlink, PermissionsExt};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// How long one runtime invocation may take.
pub const RUNTIME_TIMEOUT: Duration = Duration::from_secs(20);
/// How long a cleanup `delete --force` may take.
const CLEANUP_TIMEOUT: Duration = Duration::from_secs(10);
/// How long to wait for a container to reach a state.
pub const STATE_TIMEOUT: Duration = Duration::from_secs(10);
/// Environment variable put into every container process, to find leftovers.
pub const MARKER_VAR: &str = "ONGI_CONFORMANCE_MARKER";

// ---------------------------------------------------------------------------
// Outcomes
// ---------------------------------------------------------------------------

/// Why a check did not pass.
#[derive(Debug)]
pub enum Bad {
    Fail(String),
    Skip(String),
}

impl From<String> for Bad {
    fn from(s: String) -> Self {
        Bad::Fail(s)
    }
}

impl From<&str> for Bad {
    fn from(s: &str) -> Self {
        Bad::Fail(s.to_string())
    }
}

pub type Res<T = ()> = Result<T, Bad>;

/// Fails the check with a formatted message unless `cond` holds.
#[macro_export]
macro_rules! ensure {
    ($cond:expr, $($fmt:tt)+) => {
        if !$cond {
            return Err($crate::harness::Bad::Fail(format!($($fmt)+)));
        }
    };
}

/// Skips the check with a formatted reason.
#[macro_export]
macro_rules! skip {
    ($($fmt:tt)+) => {
        return Err($crate::harness::Bad::Skip(format!($($fmt)+)))
    };
}

// ---------------------------------------------------------------------------
// Global environment
// ---------------------------------------------------------------------------

/// What every check shares: the runtime, the checker binary, the state root and the work
/// directory of this run.
pub struct Env {
    pub runtime: PathBuf,
    pub checker: PathBuf,
    pub root: PathBuf,
    pub work: PathBuf,
    pub marker: String,
    busybox: PathBuf,
    applets: Vec<String>,
    counter: std::cell::Cell<u32>,
}

impl Env {
    pub fn new(runtime: PathBuf, checker: PathBuf) -> Result<Env, String> {
        let pid = std::process::id();
        let root = PathBuf::from(format!("/run/ongi-conformance-{pid}"));
        let work = PathBuf::from(format!("/tmp/ongi-conformance-{pid}"));
        make_dir(&work)?;
        let busybox = work.join("busybox");
        fs::copy("/bin/busybox", &busybox)
            .map_err(|e| format!("copy /bin/busybox (install busybox-static): {e}"))?;
        fs::set_permissions(&busybox, fs::Permissions::from_mode(0o755))
            .map_err(|e| e.to_string())?;
        let local_checker = work.join("oci-check");
        fs::copy(&checker, &local_checker)
            .map_err(|e| format!("copy {}: {e}", checker.display()))?;
        fs::set_permissions(&local_checker, fs::Permissions::from_mode(0o755))
            .map_err(|e| e.to_string())?;
        let out = Command::new(&busybox)
            .arg("--list")
            .output()
            .map_err(|e| format!("busybox --list: {e}"))?;
        let applets = String::from_utf8_lossy(&out.stdout)
            .lines()
            .map(str::trim)
            .filter(|a| !a.is_empty() && *a != "busybox" && !a.contains('/'))
            .map(String::from)
            .collect();
        Ok(Env {
            runtime,
            checker: local_checker,
            root,
            work,
            marker: format!("conformance-{pid}"),
            busybox,
            applets,
            counter: std::cell::Cell::new(0),
        })
    }

    pub fn next(&self) -> u32 {
        let n = self.counter.get();
        self.counter.set(n + 1);
        n
    }

    /// Final cleanup: kill anything still carrying the marker, remove directories and
    /// cgroups made for `cgroupsPath` checks.
    pub fn cleanup(&self) {
        let prefix = format!("conformance-{}-", std::process::id());
        if let Ok(rd) = fs::read_dir("/sys/fs/cgroup") {
            for h in rd.flatten() {
                if let Ok(sub) = fs::read_dir(h.path()) {
                    for d in sub.flatten() {
                        if d.file_name().to_string_lossy().starts_with(&prefix) {
                            let _ = fs::remove_dir(d.path());
                        }
                    }
                }
            }
        }
        for pid in marked_pids(&self.marker) {
            // SAFETY: plain kill(2) of a pid found in /proc.
            unsafe { libc::kill(pid, libc::SIGKILL) };
        }
        for dir in [&self.root, &self.work] {
            detach_mounts_under(dir);
            let _ = fs::remove_dir_all(dir);
        }
    }
}

// ---------------------------------------------------------------------------
// Runtime output
// ---------------------------------------------------------------------------

/// One runtime invocation's result.
#[derive(Debug)]
pub struct Out {
    pub args: Vec<String>,
    pub code: Option<i32>,
    pub stdout: String,
    pub stderr: String,
}

impl Out {
    pub fn ok(&self) -> bool {
        self.code == Some(0)
    }

    /// A clean failure: a non-zero exit code (not a crash by signal).
    pub fn failed(&self) -> bool {
        matches!(self.code, Some(c) if c != 0)
    }

    /// One-line summary for failure messages.
    pub fn brief(&self) -> String {
        let err = self.stderr.trim();
        let err: String = err
            .chars()
            .rev()
            .take(300)
            .collect::<Vec<_>>()
            .into_iter()
            .rev()
            .collect();
        let out: String = self.stdout.trim().chars().take(300).collect();
        format!(
            "`{}` exit {:?}; stdout: {:?}; stderr: {:?}",
            self.args.join(" "),
            self.code,
            out,
            err
        )
    }

    /// Requires exit 0.
    pub fn expect_ok(self) -> Res<Out> {
        if self.ok() {
            Ok(self)
        } else {
            Err(Bad::Fail(format!("expected success: {}", self.brief())))
        }
    }

    /// Parsed `key=value` lines of stdout.
    pub fn facts(&self) -> Facts {
        Facts::parse(&self.stdout)
    }
}

/// `key=value` facts printed by oci-check.
#[derive(Debug, Default, Clone)]
pub struct Facts(pub BTreeMap<String, String>);

impl Facts {
    pub fn parse(text: &str) -> Facts {
        Facts(
            text.lines()
                .filter_map(|l| l.split_once('='))
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
        )
    }

    pub fn get(&self, key: &str) -> Option<&str> {
        self.0.get(key).map(String::as_str)
    }

    /// The value of `key`, or a failure naming the missing key.
    pub fn req(&self, key: &str) -> Res<&str> {
        self.get(key)
            .ok_or_else(|| Bad::Fail(format!("no `{key}` in checker output {:?}", self.0)))
    }

    /// Fails unless `key` has exactly `want`.
    pub fn expect(&self, key: &str, want: &str) -> Res {
        let got = self.req(key)?;
        ensure!(got == want, "{key}: expected {want:?}, got {got:?}");
        Ok(())
    }
}

// ---------------------------------------------------------------------------
// config.json builder
// ---------------------------------------------------------------------------

/// A config.json under construction (JSON pointers; methods consume and return self).
#[derive(Clone, Debug)]
pub struct Spec(pub Value);

impl Spec {
    /// The base config: `ongi spec`'s default (`ongi::spec::default_spec`, runc 1.1.5's
    /// `runc spec`) with terminal off, the checker as the process and hostname `conformance`.
    pub fn new() -> Self {
        Spec(ongi::spec::default_spec(false))
            .set("/process/terminal", json!(false))
            .set("/hostname", json!("conformance"))
            .check(&["ids"])
    }

    pub fn args(self, args: &[&str]) -> Self {
        self.set("/process/args", json!(args))
    }

    /// `oci-check ARGS...`
    pub fn check(self, args: &[&str]) -> Self {
        let mut v = vec!["oci-check"];
        v.extend_from_slice(args);
        self.args(&v)
    }

    pub fn sh(self, script: &str) -> Self {
        self.args(&["sh", "-c", script])
    }

    /// A long-running process (for containers inspected from outside).
    pub fn sleeper(self) -> Self {
        self.check(&["pause"])
    }

    pub fn env(mut self, entry: &str) -> Self {
        self.array("/process/env").push(json!(entry));
        self
    }

    pub fn set(mut self, pointer: &str, value: Value) -> Self {
        *self.slot(pointer) = value;
        self
    }

    pub fn remove(mut self, pointer: &str) -> Self {
        let (parent, key) = pointer.rsplit_once('/').expect("pointer starts with /");
        let parent = if parent.is_empty() {
            Some(&mut self.0)
        } else {
            self.0.pointer_mut(parent)
        };
        if let Some(Value::Object(map)) = parent {
            map.remove(key);
        }
        self
    }

    pub fn push(mut self, pointer: &str, value: Value) -> Self {
        self.array(pointer).push(value);
        self
    }

    pub fn mount(self, mount: Value) -> Self {
        self.push("/mounts", mount)
    }

    pub fn tmpfs(self, dest: &str, options: &[&str]) -> Self {
        self.mount(json!({
            "destination": dest, "type": "tmpfs", "source": "tmpfs", "options": options
        }))
    }

    pub fn bind(self, host: &Path, dest: &str, extra: &[&str]) -> Self {
        let mut options = vec!["rbind"];
        options.extend_from_slice(extra);
        self.mount(json!({
            "destination": dest, "type": "bind", "source": host, "options": options
        }))
    }

    pub fn writable_root(self) -> Self {
        self.set("/root/readonly", json!(false))
    }

    pub fn namespace(self, kind: &str, path: Option<&str>) -> Self {
        let mut spec = self.without_namespace(kind);
        let ns = match path {
            Some(p) => json!({ "type": kind, "path": p }),
            None => json!({ "type": kind }),
        };
        spec.array("/linux/namespaces").push(ns);
        spec
    }

    pub fn without_namespace(mut self, kind: &str) -> Self {
        self.array("/linux/namespaces")
            .retain(|ns| ns["type"] != json!(kind));
        self
    }

    pub fn user_namespace(self, host: u32, size: u32) -> Self {
        let map = json!([{ "containerID": 0, "hostID": host, "size": size }]);
        self.namespace("user", None)
            .set("/linux/uidMappings", map.clone())
            .set("/linux/gidMappings", map)
    }

    /// Adds a hook of `kind` running `/bin/sh -c SCRIPT` (host sh unless `in_container`).
    pub fn hook(self, kind: &str, script: &str) -> Self {
        self.push(
            &format!("/hooks/{kind}"),
            json!({
                "path": "/bin/sh",
                "args": ["sh", "-c", script],
                "env": ["PATH=/usr/local/bin:/usr/bin:/bin:/usr/sbin:/sbin"]
            }),
        )
    }

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

    fn slot(&mut self, pointer: &str) -> &mut Value {
        let mut cur = &mut self.0;
        for key in pointer.split('/').skip(1) {
            if let Value::Array(items) = cur {
                let i: usize = key.parse().expect("array index");
                cur = &mut items[i];
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
// Per-check context
// ---------------------------------------------------------------------------

/// One check's containers and directories; dropping it force-deletes the containers and
/// removes the directories (also when the check failed half-way).
pub struct Ctx<'e> {
    pub env: &'e Env,
    ids: Vec<String>,
    dirs: Vec<PathBuf>,
}

impl<'e> Ctx<'e> {
    pub fn new(env: &'e Env) -> Self {
        Ctx {
            env,
            ids: Vec::new(),
            dirs: Vec::new(),
        }
    }

    /// A fresh container id, force-deleted at the end of the check.
    pub fn new_id(&mut self) -> String {
        let id = format!("c{}-{}", std::process::id(), self.env.next());
        self.ids.push(id.clone());
        id
    }

    /// A fresh empty directory (mode 0755) under the run's work directory.
    pub fn dir(&mut self, name: &str) -> Res<PathBuf> {
        let d = self.env.work.join(format!("{name}-{}", self.env.next()));
        make_dir(&d)?;
        self.dirs.push(d.clone());
        Ok(d)
    }

    /// A bundle directory with a rootfs (busybox, applets, oci-check) and no config.
    pub fn bare_bundle(&mut self) -> Res<PathBuf> {
        let b = self.dir("bundle")?;
        build_rootfs(self.env, &b.join("rootfs"))?;
        Ok(b)
    }

    /// A bundle with `spec` as config.json (plus the marker env var).
    pub fn bundle(&mut self, spec: &Spec) -> Res<PathBuf> {
        let b = self.bare_bundle()?;
        self.write_config(&b, spec)?;
        Ok(b)
    }

    /// A bundle created below `parent` (e.g. a shared mount).
    pub fn bundle_under(&mut self, parent: &Path, spec: &Spec) -> Res<PathBuf> {
        let b = parent.join(format!("bundle-{}", self.env.next()));
        make_dir(&b)?;
        build_rootfs(self.env, &b.join("rootfs"))?;
        self.write_config(&b, spec)?;
        Ok(b)
    }

    /// `create --bundle B ID` for an existing bundle, returning the output and the id.
    pub fn create_bundle(&mut self, bundle: &Path, extra: &[&str]) -> Res<(String, Out)> {
        let id = self.new_id();
        let b = path_str(bundle);
        let mut args = vec!["create", "--bundle", b.as_str()];
        args.extend_from_slice(extra);
        args.push(&id);
        let out = self.rt(&args)?;
        Ok((id, out))
    }

    pub fn write_config(&self, bundle: &Path, spec: &Spec) -> Res {
        let mut spec = spec.clone();
        if spec.0.pointer("/process").is_some_and(Value::is_object) {
            spec = spec.env(&format!("{MARKER_VAR}={}", self.env.marker));
        }
        fs::write(bundle.join("config.json"), spec.to_json())
            .map_err(|e| format!("write config.json: {e}"))?;
        Ok(())
    }

    /// Runs the runtime with `--root ROOT ARGS`.
    pub fn rt(&self, args: &[&str]) -> Res<Out> {
        self.rt_in(None, args)
    }

    pub fn rt_in(&self, cwd: Option<&Path>, args: &[&str]) -> Res<Out> {
        let root = path_str(&self.env.root);
        let mut full = vec!["--root", root.as_str()];
        full.extend_from_slice(args);
        invoke(self.env, cwd, &full, RUNTIME_TIMEOUT).map_err(Bad::Fail)
    }

    /// `run --bundle B ID` in the foreground for a fresh bundle.
    pub fn run(&mut self, spec: &Spec) -> Res<Out> {
        let b = self.bundle(spec)?;
        let id = self.new_id();
        self.rt(&["run", "--bundle", &path_str(&b), &id])
    }

    /// `run`, requiring exit 0; returns the checker's facts.
    pub fn run_ok(&mut self, spec: &Spec) -> Res<Facts> {
        Ok(self.run(spec)?.expect_ok()?.facts())
    }

    /// `create` from `spec`; returns (id, bundle).
    pub fn create(&mut self, spec: &Spec) -> Res<(String, PathBuf)> {
        let b = self.bundle(spec)?;
        let id = self.new_id();
        self.rt(&["create", "--bundle", &path_str(&b), &id])?
            .expect_ok()?;
        Ok((id, b))
    }

    /// `create` + `start`.
    pub fn start(&mut self, spec: &Spec) -> Res<(String, PathBuf)> {
        let (id, b) = self.create(spec)?;
        self.rt(&["start", &id])?.expect_ok()?;
        Ok((id, b))
    }

    /// A running container whose process pauses; returns (id, host pid).
    pub fn running(&mut self, spec: &Spec) -> Res<(String, i32)> {
        let (id, _) = self.start(&spec.clone().sleeper())?;
        let pid = self.pid(&id)?;
        Ok((id, pid))
    }

    pub fn state(&self, id: &str) -> Res<Value> {
        let out = self.rt(&["state", id])?.expect_ok()?;
        serde_json::from_str(&out.stdout)
            .map_err(|e| Bad::Fail(format!("state output is not JSON ({e}): {}", out.brief())))
    }

    pub fn status(&self, id: &str) -> Res<String> {
        let s = self.state(id)?;
        s["status"]
            .as_str()
            .map(String::from)
            .ok_or_else(|| Bad::Fail(format!("state has no string status: {s}")))
    }

    pub fn pid(&self, id: &str) -> Res<i32> {
        let s = self.state(id)?;
        s["pid"]
            .as_i64()
            .map(|p| p as i32)
            .ok_or_else(|| Bad::Fail(format!("state has no numeric pid: {s}")))
    }

    pub fn wait_status(&self, id: &str, want: &str) -> Res {
        let deadline = Instant::now() + STATE_TIMEOUT;
        loop {
            let got = self.status(id)?;
            if got == want {
                return Ok(());
            }
            if Instant::now() >= deadline {
                return Err(Bad::Fail(format!(
                    "container never became {want:?} (last {got:?})"
                )));
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// Asserts the container left no trace: `state` fails, no state dir, no cgroup dir,
    /// and no live process carrying the run's marker that was not there before.
    pub fn expect_no_trace(&self, id: &str) -> Res {
        let st = self.rt(&["state", id])?;
        ensure!(
            !st.ok(),
            "`state {id}` still succeeds: {}",
            st.stdout.trim()
        );
        ensure!(
            !self.env.root.join(id).exists(),
            "{} still exists",
            self.env.root.join(id).display()
        );
        let cg = cgroup_dirs_named(id);
        ensure!(cg.is_empty(), "cgroup directories left: {cg:?}");
        Ok(())
    }
}

impl Drop for Ctx<'_> {
    fn drop(&mut self) {
        let root = path_str(&self.env.root);
        for id in &self.ids {
            let args = ["--root", root.as_str(), "delete", "--force", id.as_str()];
            if let Err(e) = invoke(self.env, None, &args, CLEANUP_TIMEOUT) {
                eprintln!("cleanup of {id}: {e}");
            }
        }
        for d in &self.dirs {
            detach_mounts_under(d);
            let _ = fs::remove_dir_all(d);
        }
    }
}

/// Runs the runtime with exactly `args` and a timeout; output goes to files, not pipes (a
/// container started by create inherits the runtime's stdio and would keep a pipe open).
pub fn invoke(
    env: &Env,
    cwd: Option<&Path>,
    args: &[&str],
    timeout: Duration,
) -> Result<Out, String> {
    let n = env.next();
    let out_path = env.work.join(format!("rt-{n}.out"));
    let err_path = env.work.join(format!("rt-{n}.err"));
    let stdout = fs::File::create(&out_path).map_err(|e| e.to_string())?;
    let stderr = fs::File::create(&err_path).map_err(|e| e.to_string())?;
    let mut cmd = Command::new(&env.runtime);
    cmd.args(args)
        .env(MARKER_VAR, &env.marker)
        .stdin(Stdio::null())
        .stdout(stdout)
        .stderr(stderr);
    if let Some(d) = cwd {
        cmd.current_dir(d);
    }
    let mut child = cmd
        .spawn()
        .map_err(|e| format!("spawn {}: {e}", env.runtime.display()))?;
    let deadline = Instant::now() + timeout;
    let status = loop {
        match child.try_wait() {
            Ok(Some(s)) => break s,
            Ok(None) if Instant::now() < deadline => std::thread::sleep(Duration::from_millis(5)),
            Ok(None) => {
                let _ = child.kill();
                let _ = child.wait();
                let _ = fs::remove_file(&out_path);
                let _ = fs::remove_file(&err_path);
                return Err(format!(
                    "runtime timed out after {timeout:?}: {}",
                    args.join(" ")
                ));
            }
            Err(e) => return Err(format!("wait: {e}")),
        }
    };
    let read = |p: &Path| {
        fs::read(p)
            .map(|b| String::from_utf8_lossy(&b).into_owned())
            .unwrap_or_default()
    };
    let out = Out {
        args: args.iter().map(|s| s.to_string()).collect(),
        code: status.code(),
        stdout: read(&out_path),
        stderr: read(&err_path),
    };
    let _ = fs::remove_file(&out_path);
    let _ = fs::remove_file(&err_path);
    Ok(out)
}

// ---------------------------------------------------------------------------
// Root filesystem
// ---------------------------------------------------------------------------

fn build_rootfs(env: &Env, rootfs: &Path) -> Res {
    for d in [
        "bin",
        "proc",
        "sys",
        "dev",
        "tmp",
        "etc",
        "root",
        "home/user",
        "out",
        "mnt",
    ] {
        make_dir(&rootfs.join(d))?;
    }
    fs::set_permissions(rootfs.join("tmp"), fs::Permissions::from_mode(0o1777))
        .map_err(|e| e.to_string())?;
    for (src, dst) in [
        (&env.busybox, "bin/busybox"),
        (&env.checker, "bin/oci-check"),
    ] {
        let dst = rootfs.join(dst);
        if fs::hard_link(src, &dst).is_err() {
            fs::copy(src, &dst).map_err(|e| format!("copy {}: {e}", src.display()))?;
        }
    }
    for a in &env.applets {
        let _ = symlink("busybox", rootfs.join("bin").join(a));
    }
    fs::write(
        rootfs.join("etc/passwd"),
        "root:x:0:0:root:/root:/bin/sh\nuser:x:1000:1000::/home/user:/bin/sh\n",
    )
    .map_err(|e| e.to_string())?;
    fs::write(rootfs.join("etc/group"), "root:x:0:\nuser:x:1000:\n").map_err(|e| e.to_string())?;
    Ok(())
}

// ---------------------------------------------------------------------------
// Host-side helpers
// ---------------------------------------------------------------------------

pub fn path_str(p: &Path) -> String {
    p.to_string_lossy().into_owned()
}

pub fn make_dir(d: &Path) -> Result<(), String> {
    fs::create_dir_all(d).map_err(|e| format!("mkdir {}: {e}", d.display()))?;
    fs::set_permissions(d, fs::Permissions::from_mode(0o755))
        .map_err(|e| format!("chmod {}: {e}", d.display()))
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
        std::thread::sleep(Duration::from_millis(10));
    }
}

/// Whether `pid` exists and is not a zombie.
pub fn pid_alive(pid: i32) -> bool {
    match fs::read_to_string(format!("/proc/{pid}/stat")) {
        Ok(stat) => match stat.rsplit_once(')') {
            Some((_, rest)) => !matches!(rest.trim_start().chars().next(), Some('Z' | 'X')),
            None => false,
        },
        Err(_) => false,
    }
}

/// `/proc/<pid>/ns/<kind>` link target; `pid` may be "self".
pub fn ns_link(pid: &str, kind: &str) -> Res<String> {
    fs::read_link(format!("/proc/{pid}/ns/{kind}"))
        .map(|p| p.to_string_lossy().into_owned())
        .map_err(|e| Bad::Fail(format!("readlink /proc/{pid}/ns/{kind}: {e}")))
}

/// Reads a host file, failing the check with the path.
pub fn read(path: impl AsRef<Path>) -> Res<String> {
    let p = path.as_ref();
    fs::read_to_string(p).map_err(|e| Bad::Fail(format!("read {}: {e}", p.display())))
}

/// Live processes whose environment carries `MARKER_VAR=marker`.
pub fn marked_pids(marker: &str) -> Vec<i32> {
    let needle = format!("{MARKER_VAR}={marker}");
    let me = std::process::id() as i32;
    let Ok(rd) = fs::read_dir("/proc") else {
        return Vec::new();
    };
    rd.filter_map(|e| e.ok()?.file_name().to_str()?.parse::<i32>().ok())
        .filter(|&p| p != me && pid_alive(p))
        .filter(|p| {
            fs::read(format!("/proc/{p}/environ"))
                .is_ok_and(|env| env.split(|&b| b == 0).any(|v| v == needle.as_bytes()))
        })
        .collect()
}

/// Directories named `id` up to three levels below each cgroup hierarchy.
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
    if let Ok(rd) = fs::read_dir("/sys/fs/cgroup") {
        for e in rd.flatten() {
            walk(&e.path(), id, 3, &mut out);
        }
    }
    out
}

/// The host directory of `pid`'s cgroup in the v1 hierarchy holding `controller`.
pub fn cgroup_dir(pid: i32, controller: &str) -> Res<PathBuf> {
    let text = read(format!("/proc/{pid}/cgroup"))?;
    for l in text.lines() {
        let mut parts = l.splitn(3, ':');
        let (_, ctrls, path) = (parts.next(), parts.next(), parts.next());
        let (Some(ctrls), Some(path)) = (ctrls, path) else {
            continue;
        };
        if ctrls.split(',').any(|c| c == controller) {
            let base = Path::new("/sys/fs/cgroup").join(controller);
            if !base.exists() {
                skip!("no v1 {controller} hierarchy at {}", base.display());
            }
            return Ok(base.join(path.trim_start_matches('/')));
        }
    }
    skip!("no v1 {controller} controller in /proc/{pid}/cgroup")
}

/// Reads a cgroup file of `pid`'s `controller` cgroup, trimmed.
pub fn cgroup_file(pid: i32, controller: &str, file: &str) -> Res<String> {
    let d = cgroup_dir(pid, controller)?;
    let p = d.join(file);
    if !p.exists() {
        skip!("{} does not exist on this host", p.display());
    }
    Ok(read(&p)?.trim().to_string())
}

/// Lazily unmounts anything mounted at or below `dir`.
pub fn detach_mounts_under(dir: &Path) {
    let Ok(info) = fs::read_to_string("/proc/self/mountinfo") else {
        return;
    };
    let prefix = path_str(dir);
    let mut points: Vec<String> = parse_mountinfo(&info)
        .into_iter()
        .map(|m| m.mount_point)
        .filter(|p| *p == prefix || p.starts_with(&format!("{prefix}/")))
        .collect();
    points.sort_by_key(|p| std::cmp::Reverse(p.len()));
    for p in points {
        if let Ok(c) = std::ffi::CString::new(p) {
            // SAFETY: valid NUL-terminated path.
            unsafe { libc::umount2(c.as_ptr(), libc::MNT_DETACH) };
        }
    }
}

/// Makes `dir` a shared mount point (bind onto itself, then MS_SHARED); undone by
/// `detach_mounts_under` when the directory is removed.
pub fn make_shared_mount(dir: &Path) -> Res {
    let c = std::ffi::CString::new(path_str(dir)).map_err(|e| e.to_string())?;
    // SAFETY: valid NUL-terminated paths; plain mount(2) calls.
    unsafe {
        if libc::mount(
            c.as_ptr(),
            c.as_ptr(),
            std::ptr::null(),
            libc::MS_BIND,
            std::ptr::null(),
        ) != 0
        {
            return Err(Bad::Fail(format!(
                "bind {}: {}",
                dir.display(),
                std::io::Error::last_os_error()
            )));
        }
        if libc::mount(
            std::ptr::null(),
            c.as_ptr(),
            std::ptr::null(),
            libc::MS_SHARED,
            std::ptr::null(),
        ) != 0
        {
            return Err(Bad::Fail(format!(
                "make-shared {}: {}",
                dir.display(),
                std::io::Error::last_os_error()
            )));
        }
    }
    Ok(())
}

fn unescape(field: &str) -> String {
    let b = field.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        let oct = b
            .get(i + 1..i + 4)
            .filter(|d| d.iter().all(|c| (b'0'..=b'7').contains(c)));
        match oct {
            Some(d) if b[i] == b'\\' => {
                out.push(d.iter().fold(0u8, |v, c| (v << 3) | (c - b'0')));
                i += 4;
            }
            _ => {
                out.push(b[i]);
                i += 1;
            }
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// One line of mountinfo.
#[derive(Clone, Debug)]
pub struct Mount {
    pub mount_point: String,
    pub mount_options: Vec<String>,
    /// Optional fields: `shared:N`, `master:N`, `unbindable`...
    pub tags: Vec<String>,
    pub fs_type: String,
    pub super_options: Vec<String>,
}

impl Mount {
    pub fn has(&self, opt: &str) -> bool {
        self.mount_options.iter().any(|o| o == opt) || self.super_options.iter().any(|o| o == opt)
    }
    pub fn tagged(&self, prefix: &str) -> bool {
        self.tags.iter().any(|t| t.starts_with(prefix))
    }
}

pub fn parse_mountinfo(text: &str) -> Vec<Mount> {
    text.lines()
        .filter_map(|line| {
            let (pre, post) = line.split_once(" - ")?;
            let pre: Vec<&str> = pre.split(' ').collect();
            let post: Vec<&str> = post.split(' ').collect();
            let split = |s: &str| s.split(',').map(String::from).collect::<Vec<_>>();
            Some(Mount {
                mount_point: unescape(pre.get(4)?),
                mount_options: split(pre.get(5)?),
                tags: pre.iter().skip(6).map(|s| s.to_string()).collect(),
                fs_type: post.first()?.to_string(),
                super_options: split(post.get(2).unwrap_or(&"")),
            })
        })
        .collect()
}

/// The visible (last) mount at `point`.
pub fn mount_at<'a>(mounts: &'a [Mount], point: &str) -> Res<&'a Mount> {
    mounts
        .iter()
        .rev()
        .find(|m| m.mount_point == point)
        .ok_or_else(|| Bad::Fail(format!("no mount at {point}")))
}

/// Capability names -> bitmask as printed in /proc/<pid>/status.
pub fn cap_mask(names: &[&str]) -> String {
    const ALL: &[&str] = &[
        "CHOWN",
        "DAC_OVERRIDE",
        "DAC_READ_SEARCH",
        "FOWNER",
        "FSETID",
        "KILL",
        "SETGID",
        "SETUID",
        "SETPCAP",
        "LINUX_IMMUTABLE",
        "NET_BIND_SERVICE",
        "NET_BROADCAST",
        "NET_ADMIN",
        "NET_RAW",
        "IPC_LOCK",
        "IPC_OWNER",
        "SYS_MODULE",
        "SYS_RAWIO",
        "SYS_CHROOT",
        "SYS_PTRACE",
        "SYS_PACCT",
        "SYS_ADMIN",
        "SYS_BOOT",
        "SYS_NICE",
        "SYS_RESOURCE",
        "SYS_TIME",
        "SYS_TTY_CONFIG",
        "MKNOD",
        "LEASE",
        "AUDIT_WRITE",
        "AUDIT_CONTROL",
        "SETFCAP",
    ];
    let mut m = 0u64;
    for n in names {
        let n = n.trim_start_matches("CAP_");
        if let Some(i) = ALL.iter().position(|a| *a == n) {
            m |= 1 << i;
        }
    }
    format!("{m:016x}")
}

/// `Key:\tvalue` from /proc/<pid>/status-like text, whitespace-normalised.
pub fn status_field(text: &str, key: &str) -> Res<String> {
    text.lines()
        .find_map(|l| l.strip_prefix(&format!("{key}:")))
        .map(|v| v.split_whitespace().collect::<Vec<_>>().join(" "))
        .ok_or_else(|| Bad::Fail(format!("no {key}: line in status")))
}
