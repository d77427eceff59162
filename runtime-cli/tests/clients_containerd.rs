//! containerd 1.6 (Debian's `containerd` package) runs containers through ongi, by way of its
//! runc v2 shim (`containerd-shim-runc-v2`) and `ctr run --runc-binary ONGI`.
//!
//! The test starts a private containerd (its own root, state, sockets and config under a
//! temporary directory, CRI plugin disabled), imports a busybox-static image that it builds
//! itself as an OCI archive, and drives every `ctr` operation that reaches the runtime: run
//! (foreground, detached, with a terminal, --seccomp, --privileged, --with-ns, a memory
//! limit), exit codes, exec (plain, with a terminal, exit code, error), ps, pause/resume,
//! kill, task delete, container rm, plus the error path of a failing create (the shim shows
//! the message ongi wrote to `--log` as JSON).
//!
//! Every client call has a time limit, so a hung runtime fails the test instead of hanging
//! CI. The [`Containerd`] guard tears everything down, also when a check panics: tasks and
//! containers through ctr, then the daemon, then (the test process being a child subreaper)
//! every shim and container process left under it, mounts under the temporary directory,
//! stale shim sockets and the cgroups of the test's containerd namespace.
//!
//! Needs root and the Debian packages from scripts/deps.sh (containerd, busybox-static).
//! The runtime is `$ONGI_TEST_RUNTIME` if set (e.g. `/usr/sbin/runc`, to check the
//! expectations), else the `ongi` binary of this build.

#[allow(unused_imports)]
mod clients_common;
mod common;

use common::{build_rootfs, path_str, read_opt, runtime, unescape_mountinfo, wait_until};
use nix::sys::signal::{kill, Signal};
use nix::sys::wait::{waitpid, WaitPidFlag, WaitStatus};
use nix::unistd::Pid;
use std::cell::Cell;
use std::fs;
use std::io::Read;
use std::os::fd::OwnedFd;
use std::os::unix::fs::PermissionsExt;
use std::os::unix::process::{CommandExt, ExitStatusExt};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

/// Time limit of one client call (ctr, tar, ...), unless `$ONGI_CLIENT_TIMEOUT` (seconds)
/// says otherwise.
fn call_timeout() -> Duration {
    let secs = std::env::var("ONGI_CLIENT_TIMEOUT")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(30);
    Duration::from_secs(secs)
}
/// Time limit of each call made while tearing down.
fn cleanup_timeout() -> Duration {
    call_timeout().min(Duration::from_secs(10))
}
/// How long containerd may take to answer after it was started.
const START_TIMEOUT: Duration = Duration::from_secs(20);
/// The image the test builds and imports (no registry involved).
const IMAGE: &str = "localhost/ongi-busybox:latest";
const SHIM_SOCKET_DIR: &str = "/run/containerd/s";

// ---------------------------------------------------------------------------
// Client calls with a time limit
// ---------------------------------------------------------------------------

/// What one client call did.
struct Out {
    cmd: String,
    status: ExitStatus,
    stdout: String,
    stderr: String,
}

impl Out {
    fn ok(&self) -> bool {
        self.status.success()
    }

    fn code(&self) -> Option<i32> {
        self.status.code()
    }

    /// Ok(()) if the call succeeded, else an error with everything it printed.
    fn check(&self) -> Result<(), String> {
        if self.ok() {
            Ok(())
        } else {
            Err(format!("failed: {self}"))
        }
    }
}

impl std::fmt::Display for Out {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "$ {}\n  status: {}\n  stdout: {:?}\n  stderr: {:?}",
            self.cmd, self.status, self.stdout, self.stderr
        )
    }
}

fn describe(cmd: &Command) -> String {
    std::iter::once(cmd.get_program())
        .chain(cmd.get_args())
        .map(|a| a.to_string_lossy().into_owned())
        .collect::<Vec<_>>()
        .join(" ")
}

/// Waits for `child` until `deadline`; on time-out kills it (SIGKILL), reaps it and returns
/// None.
fn wait_deadline(child: &mut Child, deadline: Instant) -> Option<ExitStatus> {
    loop {
        match child.try_wait() {
            Ok(Some(status)) => return Some(status),
            Ok(None) if Instant::now() < deadline => std::thread::sleep(Duration::from_millis(5)),
            // Timed out, or try_wait failed (it cannot for our own child): give up on it.
            _ => {
                let _ = child.kill();
                let _ = child.wait();
                return None;
            }
        }
    }
}

/// Runs `cmd` with stdin from /dev/null and stdout/stderr into files under `dir` (files,
/// not pipes: a process the call leaves behind cannot keep the test waiting for EOF).
/// Err on time-out, with whatever the call printed by then.
fn try_call(mut cmd: Command, dir: &Path, seq: u32, timeout: Duration) -> Result<Out, String> {
    let desc = describe(&cmd);
    let out_path = dir.join(format!("call-{seq}.out"));
    let err_path = dir.join(format!("call-{seq}.err"));
    let create = |p: &Path| fs::File::create(p).map_err(|e| format!("create {}: {e}", p.display()));
    cmd.stdin(Stdio::null())
        .stdout(create(&out_path)?)
        .stderr(create(&err_path)?);
    let mut child = cmd.spawn().map_err(|e| format!("spawn {desc}: {e}"))?;
    let status = wait_deadline(&mut child, Instant::now() + timeout);
    let read = |p: &Path| String::from_utf8_lossy(&fs::read(p).unwrap_or_default()).into_owned();
    let (stdout, stderr) = (read(&out_path), read(&err_path));
    let _ = fs::remove_file(&out_path);
    let _ = fs::remove_file(&err_path);
    match status {
        Some(status) => Ok(Out {
            cmd: desc,
            status,
            stdout,
            stderr,
        }),
        None => Err(format!(
            "timed out after {timeout:?} (the runtime probably hung): {desc}\n  stdout: {stdout:?}\n  stderr: {stderr:?}"
        )),
    }
}

/// Runs `cmd` with a fresh pseudo-terminal as its controlling terminal and stdio (`ctr -t`
/// insists on a console on its stdin). Returns the terminal's output with CR and NUL removed
/// (ctr echoes a stray NUL at times). Err on time-out.
fn try_call_tty(mut cmd: Command, timeout: Duration) -> Result<Out, String> {
    let desc = describe(&cmd);
    let size = nix::pty::Winsize {
        ws_row: 24,
        ws_col: 80,
        ws_xpixel: 0,
        ws_ypixel: 0,
    };
    let pty = nix::pty::openpty(Some(&size), None).map_err(|e| format!("openpty: {e}"))?;
    // openpty(3) does not set close-on-exec: ctr must get the slave as 0-2 only.
    for fd in [&pty.master, &pty.slave] {
        use nix::fcntl::{fcntl, FcntlArg, FdFlag};
        fcntl(fd, FcntlArg::F_SETFD(FdFlag::FD_CLOEXEC)).map_err(|e| format!("cloexec: {e}"))?;
    }
    let slave = |fd: &OwnedFd| fd.try_clone().map_err(|e| format!("dup pty slave: {e}"));
    cmd.stdin(slave(&pty.slave)?)
        .stdout(slave(&pty.slave)?)
        .stderr(slave(&pty.slave)?);
    // SAFETY: the closure runs in the forked child before exec and only makes the
    // async-signal-safe calls setsid(2) and ioctl(2).
    unsafe {
        cmd.pre_exec(|| {
            nix::unistd::setsid()?;
            // SAFETY: TIOCSCTTY on fd 0, the pty slave set up above; no pointers involved.
            if libc::ioctl(0, libc::TIOCSCTTY, 0) < 0 {
                return Err(std::io::Error::last_os_error());
            }
            Ok(())
        });
    }
    let mut child = cmd.spawn().map_err(|e| format!("spawn {desc}: {e}"))?;
    // Our copy of the slave must go, or the master never reads EOF/EIO.
    drop(cmd);
    drop(pty.slave);
    let (tx, rx) = mpsc::channel::<Vec<u8>>();
    let mut master = fs::File::from(pty.master);
    std::thread::spawn(move || {
        let mut buf = [0u8; 4096];
        // EIO once the last slave fd is closed.
        while let Ok(n @ 1..) = master.read(&mut buf) {
            if tx.send(buf[..n].to_vec()).is_err() {
                break;
            }
        }
    });
    let status = wait_deadline(&mut child, Instant::now() + timeout);
    let mut raw = Vec::new();
    let drain_until = Instant::now() + Duration::from_secs(2);
    while let Some(left) = drain_until.checked_duration_since(Instant::now()) {
        match rx.recv_timeout(left) {
            Ok(chunk) => raw.extend_from_slice(&chunk),
            Err(_) => break,
        }
    }
    let text: String = String::from_utf8_lossy(&raw)
        .chars()
        .filter(|&c| c != '\r' && c != '\0')
        .collect();
    match status {
        Some(status) => Ok(Out {
            cmd: desc,
            status,
            stdout: text,
            stderr: String::new(),
        }),
        None => Err(format!(
            "timed out after {timeout:?} (the runtime probably hung): {desc}\n  output: {text:?}"
        )),
    }
}

// ---------------------------------------------------------------------------
// The image: busybox-static as a one-layer OCI archive
// ---------------------------------------------------------------------------

fn sha256_file(path: &Path, dir: &Path) -> String {
    let mut cmd = Command::new("sha256sum");
    cmd.arg(path);
    let out = try_call(cmd, dir, 0, call_timeout()).unwrap_or_else(|e| panic!("{e}"));
    assert!(out.ok(), "{out}");
    out.stdout
        .split_whitespace()
        .next()
        .unwrap_or_else(|| panic!("no digest in {out}"))
        .to_string()
}

/// Moves `file` into the layout's blob store; returns (digest, size).
fn add_blob(layout: &Path, file: &Path, dir: &Path) -> (String, u64) {
    let digest = sha256_file(file, dir);
    let size = fs::metadata(file)
        .unwrap_or_else(|e| panic!("stat {}: {e}", file.display()))
        .len();
    let dest = layout.join("blobs/sha256").join(&digest);
    fs::rename(file, &dest).unwrap_or_else(|e| panic!("rename to {}: {e}", dest.display()));
    (format!("sha256:{digest}"), size)
}

fn add_json_blob(layout: &Path, value: &serde_json::Value, dir: &Path) -> (String, u64) {
    let tmp = dir.join("blob.json");
    fs::write(&tmp, value.to_string()).unwrap_or_else(|e| panic!("write {}: {e}", tmp.display()));
    add_blob(layout, &tmp, dir)
}

fn tar(dir: &Path, args: &[&str]) {
    let mut cmd = Command::new("tar");
    cmd.args(args);
    let out = try_call(cmd, dir, 0, call_timeout()).unwrap_or_else(|e| panic!("{e}"));
    assert!(out.ok(), "{out}");
}

/// Builds `DIR/image.tar`: an OCI image layout archive (what `ctr images import` reads) with
/// one uncompressed layer holding a busybox-static root filesystem, named [`IMAGE`].
fn build_image(dir: &Path) -> PathBuf {
    let rootfs = dir.join("rootfs");
    build_rootfs(&rootfs);
    let layout = dir.join("layout");
    fs::create_dir_all(layout.join("blobs/sha256")).expect("mkdir layout");
    let layer = dir.join("layer.tar");
    tar(
        dir,
        &[
            "--sort=name",
            "--owner=0",
            "--group=0",
            "--numeric-owner",
            "--mtime=@0",
            "-C",
            path_str(&rootfs),
            "-cf",
            path_str(&layer),
            ".",
        ],
    );
    // Uncompressed, so the layer's digest is also its diff_id.
    let (layer_digest, layer_size) = add_blob(&layout, &layer, dir);
    let config = serde_json::json!({
        "architecture": "amd64",
        "os": "linux",
        "config": {
            "Env": ["PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"],
            "Cmd": ["/bin/sh"],
            "WorkingDir": "/"
        },
        "rootfs": { "type": "layers", "diff_ids": [layer_digest] }
    });
    let (config_digest, config_size) = add_json_blob(&layout, &config, dir);
    let manifest = serde_json::json!({
        "schemaVersion": 2,
        "mediaType": "application/vnd.oci.image.manifest.v1+json",
        "config": {
            "mediaType": "application/vnd.oci.image.config.v1+json",
            "digest": config_digest, "size": config_size
        },
        "layers": [{
            "mediaType": "application/vnd.oci.image.layer.v1.tar",
            "digest": layer_digest, "size": layer_size
        }]
    });
    let (manifest_digest, manifest_size) = add_json_blob(&layout, &manifest, dir);
    let index = serde_json::json!({
        "schemaVersion": 2,
        "manifests": [{
            "mediaType": "application/vnd.oci.image.manifest.v1+json",
            "digest": manifest_digest, "size": manifest_size,
            "platform": { "architecture": "amd64", "os": "linux" },
            // containerd names the imported image after this annotation.
            "annotations": {
                "io.containerd.image.name": IMAGE,
                "org.opencontainers.image.ref.name": "latest"
            }
        }]
    });
    fs::write(layout.join("index.json"), index.to_string()).expect("write index.json");
    fs::write(
        layout.join("oci-layout"),
        r#"{"imageLayoutVersion":"1.0.0"}"#,
    )
    .expect("write oci-layout");
    let archive = dir.join("image.tar");
    tar(
        dir,
        &[
            "-C",
            path_str(&layout),
            "-cf",
            path_str(&archive),
            "oci-layout",
            "index.json",
            "blobs",
        ],
    );
    let _ = fs::remove_dir_all(&rootfs);
    let _ = fs::remove_dir_all(&layout);
    archive
}

// ---------------------------------------------------------------------------
// A private containerd
// ---------------------------------------------------------------------------

/// A private containerd and everything it may leave behind; dropping it tears it all down.
struct Containerd {
    dir: PathBuf,
    /// containerd namespace of the test; ctr's default cgroupsPath is /<ns>/<id>.
    ns: String,
    runtime: PathBuf,
    daemon: Option<Child>,
    /// Whether /run/containerd existed before (containerd 1.6 always puts shim sockets in
    /// /run/containerd/s).
    had_run_containerd: bool,
    seq: Cell<u32>,
}

impl Containerd {
    fn start() -> Self {
        for tool in ["containerd", "ctr", "containerd-shim-runc-v2"] {
            let found = std::env::split_paths(&std::env::var_os("PATH").unwrap_or_default())
                .any(|d| d.join(tool).is_file());
            assert!(
                found,
                "{tool} not found in PATH: install Debian's containerd (scripts/deps.sh)"
            );
        }
        // Shims outlive the `containerd-shim-runc-v2 start` that forks them, so they are
        // re-parented to the nearest subreaper. PID 1 here does not reap; this process does,
        // in the teardown, and finds every leftover among its own descendants.
        nix::sys::prctl::set_child_subreaper(true).expect("PR_SET_CHILD_SUBREAPER");
        let pid = std::process::id();
        let runtime = {
            let rt = runtime();
            fs::canonicalize(&rt).unwrap_or_else(|e| panic!("runtime {}: {e}", rt.display()))
        };
        let mut cd = Containerd {
            dir: PathBuf::from(format!("/tmp/ongi-containerd-{pid}")),
            ns: format!("ongi-test-{pid}"),
            runtime,
            daemon: None,
            had_run_containerd: Path::new("/run/containerd").exists(),
            seq: Cell::new(1),
        };
        // A crashed run with the same pid may have left mounts: never delete through them.
        detach_mounts_under(&cd.dir);
        let _ = fs::remove_dir_all(&cd.dir);
        fs::create_dir_all(&cd.dir).expect("mkdir containerd dir");
        fs::set_permissions(&cd.dir, fs::Permissions::from_mode(0o711)).expect("chmod");
        let d = path_str(&cd.dir).to_string();
        let config = format!(
            r#"version = 2
root = "{d}/root"
state = "{d}/state"
# ctr needs no CRI (which would also want CNI configuration).
disabled_plugins = ["io.containerd.grpc.v1.cri"]
[grpc]
  address = "{d}/containerd.sock"
[ttrpc]
  address = "{d}/containerd.sock.ttrpc"
[debug]
  address = "{d}/debug.sock"
  level = "info"
[metrics]
  address = ""
[plugins]
  # The default is /opt/containerd, a host-wide directory.
  [plugins."io.containerd.internal.v1.opt"]
    path = "{d}/opt"
"#
        );
        let config_path = cd.dir.join("config.toml");
        fs::write(&config_path, config).expect("write config.toml");
        let log_path = cd.dir.join("containerd.log");
        let log = fs::File::create(&log_path).expect("create containerd.log");
        let log2 = log.try_clone().expect("dup log");
        let child = Command::new("containerd")
            .arg("--config")
            .arg(&config_path)
            .stdin(Stdio::null())
            .stdout(log)
            .stderr(log2)
            .spawn()
            .expect("spawn containerd");
        cd.daemon = Some(child);
        let sock = cd.dir.join("containerd.sock");
        // ctr's dial blocks for ~10 s on a missing socket: wait for the socket first.
        let up = wait_until(START_TIMEOUT, || {
            sock.exists()
                && cd
                    .try_ctr(&["version"], Duration::from_secs(5))
                    .is_ok_and(|o| o.ok())
        });
        assert!(up, "containerd did not start:\n{}", cd.log_tail(30));
        cd
    }

    fn next_seq(&self) -> u32 {
        let n = self.seq.get();
        self.seq.set(n + 1);
        n
    }

    fn ctr_cmd(&self, args: &[&str]) -> Command {
        let mut cmd = Command::new("ctr");
        cmd.arg("--address")
            .arg(self.dir.join("containerd.sock"))
            .arg("--namespace")
            .arg(&self.ns)
            .args(args);
        cmd
    }

    fn try_ctr(&self, args: &[&str], timeout: Duration) -> Result<Out, String> {
        try_call(self.ctr_cmd(args), &self.dir, self.next_seq(), timeout)
    }

    /// `ctr ARGS` with the time limit; a time-out fails the test at once (what follows
    /// would only pile up more time-outs).
    fn ctr(&self, args: &[&str]) -> Out {
        self.try_ctr(args, call_timeout())
            .unwrap_or_else(|e| panic!("{e}"))
    }

    /// `ctr ARGS` under a pseudo-terminal.
    fn ctr_tty(&self, args: &[&str]) -> Out {
        try_call_tty(self.ctr_cmd(args), call_timeout()).unwrap_or_else(|e| panic!("{e}"))
    }

    /// Flags of `ctr run`: the runtime under test, a private runtime root and fifo dir (ctr
    /// would otherwise use /run/containerd/runc and /run/containerd/fifo).
    fn run_flags(&self) -> Vec<String> {
        vec![
            "--runc-binary".into(),
            path_str(&self.runtime).into(),
            "--runc-root".into(),
            path_str(&self.runc_root()).into(),
            "--fifo-dir".into(),
            path_str(&self.fifo_dir()).into(),
        ]
    }

    fn runc_root(&self) -> PathBuf {
        self.dir.join("runc-root")
    }

    /// The shim's runtime root when its options name none: a call there did not get
    /// `--runc-root`, nor then `--runc-binary` (ctr's `--no-pivot` replaces both, for one).
    fn default_runc_root(&self) -> PathBuf {
        Path::new("/run/containerd/runc").join(&self.ns)
    }

    fn fifo_dir(&self) -> PathBuf {
        self.dir.join("fifo")
    }

    /// `ctr run FLAGS... IMAGE ID ARGS...` with the runtime under test.
    fn run(&self, flags: &[&str], id: &str, args: &[&str]) -> Out {
        let mut all: Vec<String> = vec!["run".into()];
        all.extend(flags.iter().map(|s| s.to_string()));
        all.extend(self.run_flags());
        all.push(IMAGE.into());
        all.push(id.into());
        all.extend(args.iter().map(|s| s.to_string()));
        let all: Vec<&str> = all.iter().map(String::as_str).collect();
        if flags.contains(&"-t") {
            self.ctr_tty(&all)
        } else {
            self.ctr(&all)
        }
    }

    /// `ctr task exec --exec-id EXEC_ID [FLAGS...] ID ARGS...`.
    fn exec(&self, flags: &[&str], exec_id: &str, id: &str, args: &[&str]) -> Out {
        let fifo = path_str(&self.fifo_dir()).to_string();
        let mut all = vec!["task", "exec", "--fifo-dir", &fifo, "--exec-id", exec_id];
        all.extend_from_slice(flags);
        all.push(id);
        all.extend_from_slice(args);
        if flags.contains(&"-t") {
            self.ctr_tty(&all)
        } else {
            self.ctr(&all)
        }
    }

    /// (pid, status) of a task from `ctr task ls`.
    fn task(&self, id: &str) -> Option<(String, String)> {
        let out = self.ctr(&["task", "ls"]);
        out.stdout.lines().skip(1).find_map(|l| {
            let f: Vec<&str> = l.split_whitespace().collect();
            (f.first() == Some(&id) && f.len() >= 3).then(|| (f[1].to_string(), f[2].to_string()))
        })
    }

    fn task_status(&self, id: &str) -> String {
        self.task(id).map(|t| t.1).unwrap_or_default()
    }

    fn wait_status(&self, id: &str, want: &str) -> Result<(), String> {
        let mut last = String::new();
        if wait_until(Duration::from_secs(10), || {
            last = self.task_status(id);
            last == want
        }) {
            Ok(())
        } else {
            Err(format!("task {id}: status {last:?}, want {want}"))
        }
    }

    fn container_ids(&self) -> Vec<String> {
        let out = self.ctr(&["containers", "ls", "--quiet"]);
        out.stdout.split_whitespace().map(String::from).collect()
    }

    /// Cgroup directories of container `id` (ctr's cgroupsPath /<ns>/<id>) that exist.
    fn cgroup_dirs(&self, id: &str) -> Vec<PathBuf> {
        cgroup_hierarchies()
            .into_iter()
            .map(|h| h.join(&self.ns).join(id))
            .filter(|d| d.is_dir())
            .collect()
    }

    /// Error unless the runtime left no state and no cgroup of container `id`.
    fn no_trace(&self, id: &str) -> Result<(), String> {
        let state = self.runc_root().join(&self.ns).join(id);
        if state.exists() {
            return Err(format!("runtime state left: {}", state.display()));
        }
        let mut left = Vec::new();
        // The shim deletes the container just after ctr returns.
        wait_until(Duration::from_secs(5), || {
            left = self.cgroup_dirs(id);
            left.is_empty()
        });
        if left.is_empty() {
            Ok(())
        } else {
            Err(format!("cgroups left: {left:?}"))
        }
    }

    fn log_tail(&self, n: usize) -> String {
        let text = fs::read_to_string(self.dir.join("containerd.log")).unwrap_or_default();
        let lines: Vec<&str> = text
            .lines()
            .filter(|l| !l.contains("level=info") && !l.contains("level=debug"))
            .collect();
        lines[lines.len().saturating_sub(n)..].join("\n")
    }

    // --- teardown; nothing below may panic (it also runs while a failed test unwinds) ---

    /// Removes the test's tasks and containers the ordinary way, while containerd is up.
    fn remove_containers(&self) {
        let Ok(out) = self.try_ctr(&["containers", "ls", "--quiet"], cleanup_timeout()) else {
            return;
        };
        for id in out.stdout.split_whitespace() {
            let _ = self.try_ctr(&["task", "delete", "--force", id], cleanup_timeout());
            let _ = self.try_ctr(&["containers", "rm", id], cleanup_timeout());
        }
    }

    fn stop_daemon(&mut self) {
        let Some(mut child) = self.daemon.take() else {
            return;
        };
        let pid = Pid::from_raw(child.id() as i32);
        let _ = kill(pid, Signal::SIGTERM);
        if wait_deadline(&mut child, Instant::now() + Duration::from_secs(5)).is_none() {
            eprintln!("teardown: containerd ignored SIGTERM for 5 s; killed it");
        }
    }

    /// SIGKILLs every process left below this one (shims, container processes, a stuck
    /// runtime) and reaps them; they all belong to this test.
    fn kill_descendants(&self) {
        // A frozen (paused) process does not die of SIGKILL until thawed.
        for h in cgroup_hierarchies() {
            for d in read_dir_paths(&h.join(&self.ns)) {
                let _ = fs::write(d.join("freezer.state"), "THAWED");
                let _ = fs::write(d.join("cgroup.freeze"), "0");
            }
        }
        let me = std::process::id() as i32;
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            let left = descendants(me);
            if !left.is_empty() {
                eprintln!("teardown: killing leftover processes {left:?}");
            }
            for &p in &left {
                let _ = kill(Pid::from_raw(p), Signal::SIGKILL);
            }
            reap_children();
            if left.is_empty() || Instant::now() >= deadline {
                break;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// Sockets in /run/containerd/s of shims that were killed (each bundle names its shim's
    /// socket in an `address` file).
    fn remove_shim_sockets(&self) {
        let tasks = self.dir.join("state/io.containerd.runtime.v2.task");
        for ns in read_dir_paths(&tasks) {
            for bundle in read_dir_paths(&ns) {
                let Ok(addr) = fs::read_to_string(bundle.join("address")) else {
                    continue;
                };
                let sock = addr.trim().trim_start_matches("unix://");
                if sock.starts_with(SHIM_SOCKET_DIR) && fs::remove_file(sock).is_ok() {
                    eprintln!("teardown: removed stale shim socket {sock}");
                }
            }
        }
        // Only empty directories go; another containerd may be using them.
        let _ = fs::remove_dir(self.default_runc_root());
        if !self.had_run_containerd {
            let _ = fs::remove_dir(SHIM_SOCKET_DIR);
            let _ = fs::remove_dir("/run/containerd/runc");
            let _ = fs::remove_dir("/run/containerd");
        }
    }

    fn remove_cgroups(&self) {
        for h in cgroup_hierarchies() {
            let dir = h.join(&self.ns);
            if !dir.exists() {
                continue;
            }
            // A process killed a moment ago may take a while to leave its cgroup.
            let gone = wait_until(Duration::from_secs(3), || {
                rmdir_tree(&dir);
                !dir.exists()
            });
            if !gone {
                eprintln!("teardown: could not remove cgroup {}", dir.display());
            }
        }
    }
}

impl Drop for Containerd {
    fn drop(&mut self) {
        if self.daemon.is_some() {
            self.remove_containers();
        }
        self.stop_daemon();
        self.kill_descendants();
        self.remove_shim_sockets();
        detach_mounts_under(&self.dir);
        self.remove_cgroups();
        if let Err(e) = fs::remove_dir_all(&self.dir) {
            eprintln!("teardown: remove {}: {e}", self.dir.display());
        }
    }
}

// ---------------------------------------------------------------------------
// Host helpers
// ---------------------------------------------------------------------------

fn read_dir_paths(dir: &Path) -> Vec<PathBuf> {
    fs::read_dir(dir)
        .map(|rd| rd.flatten().map(|e| e.path()).collect())
        .unwrap_or_default()
}

/// Roots of the cgroup hierarchies: each v1 controller mount, and /sys/fs/cgroup itself on
/// a pure v2 host.
fn cgroup_hierarchies() -> Vec<PathBuf> {
    let root = Path::new("/sys/fs/cgroup");
    if root.join("cgroup.controllers").exists() {
        return vec![root.to_path_buf()];
    }
    read_dir_paths(root)
        .into_iter()
        .filter(|p| p.is_dir() && !p.is_symlink())
        .collect()
}

/// Removes a cgroup directory tree, deepest first (rmdir refuses one that holds a process).
fn rmdir_tree(dir: &Path) {
    for sub in read_dir_paths(dir) {
        if sub.is_dir() {
            rmdir_tree(&sub);
        }
    }
    let _ = fs::remove_dir(dir);
}

/// Parent pid of `pid` from /proc/<pid>/stat.
fn ppid_of(pid: i32) -> Option<i32> {
    let stat = fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // Fields after the parenthesised command name: state, ppid, ...
    stat.rsplit_once(')')?
        .1
        .split_whitespace()
        .nth(1)?
        .parse()
        .ok()
}

/// All live descendants of `root`.
fn descendants(root: i32) -> Vec<i32> {
    let all: Vec<(i32, i32)> = read_dir_paths(Path::new("/proc"))
        .iter()
        .filter_map(|p| p.file_name()?.to_str()?.parse::<i32>().ok())
        .filter(|&p| common::pid_alive(p))
        .filter_map(|p| Some((p, ppid_of(p)?)))
        .collect();
    let mut out = Vec::new();
    let mut frontier = vec![root];
    while let Some(parent) = frontier.pop() {
        for &(p, pp) in &all {
            if pp == parent && !out.contains(&p) {
                out.push(p);
                frontier.push(p);
            }
        }
    }
    out
}

/// Reaps every exited child (shims re-parented to this subreaper). Only called when no
/// client call is in flight, so it cannot steal a `Child`'s status.
fn reap_children() {
    while let Ok(s) = waitpid(Pid::from_raw(-1), Some(WaitPidFlag::WNOHANG)) {
        if s == WaitStatus::StillAlive {
            break;
        }
    }
}

/// Lazily unmounts everything at or below `dir`, deepest first.
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
    points.sort_by_key(|p| std::cmp::Reverse(p.len()));
    for p in points {
        eprintln!("teardown: unmounting {p}");
        let _ = nix::mount::umount2(p.as_str(), nix::mount::MntFlags::MNT_DETACH);
    }
}

/// The memory limit in the first of `dirs` that has one (v1 memory.limit_in_bytes, v2
/// memory.max).
fn memory_limit(dirs: &[PathBuf]) -> Option<String> {
    dirs.iter().find_map(|d| {
        read_opt(&d.join("memory.limit_in_bytes"))
            .or_else(|| read_opt(&d.join("memory.max")))
            .map(|s| s.trim().to_string())
    })
}

// ---------------------------------------------------------------------------
// The test
// ---------------------------------------------------------------------------

/// PASS/FAIL per check; the test fails at the end if any failed, so one broken operation
/// does not hide the state of the others.
#[derive(Default)]
struct Checks {
    passed: usize,
    failed: Vec<String>,
}

impl Checks {
    fn check(&mut self, name: &str, result: Result<(), String>) {
        match result {
            Ok(()) => {
                eprintln!("PASS: {name}");
                self.passed += 1;
            }
            Err(e) => {
                eprintln!("FAIL: {name}: {e}");
                self.failed.push(format!("{name}: {e}"));
            }
        }
    }
}

fn expect_stdout(out: &Out, want: &str) -> Result<(), String> {
    out.check()?;
    if out.stdout.trim() == want {
        Ok(())
    } else {
        Err(format!("want stdout {want:?}: {out}"))
    }
}

fn expect_code(out: &Out, want: i32) -> Result<(), String> {
    if out.code() == Some(want) {
        Ok(())
    } else {
        Err(format!(
            "want exit code {want} (signal {:?}): {out}",
            out.status.signal()
        ))
    }
}

fn expect_contains(out: &Out, text: &str, want: &str) -> Result<(), String> {
    if text.contains(want) {
        Ok(())
    } else {
        Err(format!("want {want:?} in the output: {out}"))
    }
}

#[test]
fn containerd_runs_containers_through_the_runtime() {
    let started = Instant::now();
    let cd = Containerd::start();
    eprintln!(
        "containerd up in {:?}; runtime {}; namespace {}",
        started.elapsed(),
        cd.runtime.display(),
        cd.ns
    );
    let image = build_image(&cd.dir);
    let out = cd.ctr(&["images", "import", path_str(&image)]);
    assert!(out.ok(), "ctr images import: {out}");
    let mut c = Checks::default();

    // Foreground run: output through the shim's fifos; the shim's delete (and the
    // cleanup binary's `delete --force` after it) leave no state and no cgroup.
    let out = cd.run(&["--rm"], "run1", &["echo", "hi"]);
    c.check(
        "ctr run --rm IMAGE echo hi",
        expect_stdout(&out, "hi").and_then(|_| cd.no_trace("run1")),
    );

    let out = cd.run(&["--rm"], "run2", &["sh", "-c", "exit 7"]);
    c.check("ctr run exit code 7 passes through", expect_code(&out, 7));

    // Nothing the shim or containerd had open reaches the container: its init (sh, pid 1,
    // kept from exec'ing ls by the `; true`, and without pipes of its own) has fds 0-2 only.
    let out = cd.run(&["--rm"], "run3", &["sh", "-c", "ls /proc/1/fd; true"]);
    c.check(
        "ctr run: the container gets fds 0-2 only",
        out.check().and_then(|_| {
            let fds: Vec<&str> = out.stdout.split_whitespace().collect();
            if fds == ["0", "1", "2"] {
                Ok(())
            } else {
                Err(format!("open fds {fds:?}: {out}"))
            }
        }),
    );

    // containerd's default seccomp profile, through the runtime.
    let out = cd.run(
        &["--rm", "--seccomp"],
        "run4",
        &["grep", "^Seccomp:", "/proc/self/status"],
    );
    c.check(
        "ctr run --seccomp",
        out.check()
            .and_then(|_| expect_contains(&out, &out.stdout, "2")),
    );

    // A failing create: the shim shows the error ongi wrote to --log (JSON), and ctr
    // removes the container.
    let out = cd.run(&["--rm"], "bad1", &["/nonexistent"]);
    c.check(
        "ctr run of a missing binary fails with the runtime's message",
        if out.ok() {
            Err(format!("succeeded: {out}"))
        } else {
            expect_contains(&out, &out.stderr, "OCI runtime create failed")
                .and_then(|_| expect_contains(&out, &out.stderr, "/nonexistent"))
                .and_then(|_| cd.no_trace("bad1"))
        },
    );

    // ctr -t can drop what a process writes just before it exits (ctr's own race, 1 run in
    // ~20 with runc and with ongi alike): the sleep gives it time to copy the line.
    let out = cd.run(&["-t", "--rm"], "tty1", &["sh", "-c", "tty; sleep 0.3"]);
    c.check(
        "ctr run -t (console socket)",
        out.check()
            .and_then(|_| expect_contains(&out, &out.stdout, "/dev/pts/")),
    );

    // A detached container for the task operations; its memory limit comes from the spec.
    let out = cd.run(
        &["-d", "--memory-limit", "67108864"],
        "det1",
        &["sleep", "1000"],
    );
    c.check(
        "ctr run -d",
        out.check().and_then(|_| cd.wait_status("det1", "RUNNING")),
    );
    c.check(
        "ctr run --memory-limit sets the cgroup limit",
        match memory_limit(&cd.cgroup_dirs("det1")) {
            Some(l) if l == "67108864" => Ok(()),
            other => Err(format!("memory limit {other:?}")),
        },
    );

    // Every capability of the bounding set (the host's may lack some), no masked paths.
    let bounding = fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find_map(|l| l.strip_prefix("CapBnd:"))
                .map(|v| v.trim().to_string())
        })
        .unwrap_or_default();
    let out = cd.run(
        &["--rm", "--privileged"],
        "priv1",
        &[
            "sh",
            "-c",
            "grep ^CapEff: /proc/self/status; grep -c ' /proc/kcore ' /proc/self/mountinfo; true",
        ],
    );
    c.check(
        "ctr run --privileged",
        out.check().and_then(|_| {
            let lines: Vec<&str> = out.stdout.lines().collect();
            let caps_ok = lines.first().is_some_and(|l| l.ends_with(&bounding));
            if caps_ok && lines.get(1) == Some(&"0") {
                Ok(())
            } else {
                Err(format!(
                    "want CapEff {bounding} and /proc/kcore unmasked: {out}"
                ))
            }
        }),
    );

    // Joining namespaces by path, as CRI does for the containers of a pod.
    let (det1_pid, _) = cd.task("det1").unwrap_or_default();
    let with_pid = format!("pid:/proc/{det1_pid}/ns/pid");
    let with_net = format!("network:/proc/{det1_pid}/ns/net");
    let out = cd.run(
        &["--rm", "--with-ns", &with_pid, "--with-ns", &with_net],
        "join1",
        &[
            "sh",
            "-c",
            "cat /proc/1/cmdline | tr '\\0' ' '; readlink /proc/self/ns/net",
        ],
    );
    let det1_net = fs::read_link(format!("/proc/{det1_pid}/ns/net"))
        .map(|p| p.display().to_string())
        .unwrap_or_default();
    c.check(
        "ctr run --with-ns pid:... --with-ns network:... (a running container's)",
        out.check()
            .and_then(|_| expect_contains(&out, &out.stdout, "sleep 1000"))
            .and_then(|_| expect_contains(&out, &out.stdout, &det1_net)),
    );

    let out = cd.exec(&[], "e1", "det1", &["echo", "hi-exec"]);
    c.check("ctr task exec", expect_stdout(&out, "hi-exec"));

    let out = cd.exec(&[], "e2", "det1", &["sh", "-c", "exit 3"]);
    c.check(
        "ctr task exec exit code 3 passes through",
        expect_code(&out, 3),
    );

    let out = cd.exec(&[], "e3", "det1", &["/nonexistent"]);
    c.check(
        "ctr task exec of a missing binary fails with the runtime's message",
        if out.ok() {
            Err(format!("succeeded: {out}"))
        } else {
            expect_contains(&out, &out.stderr, "OCI runtime exec failed")
                .and_then(|_| expect_contains(&out, &out.stderr, "/nonexistent"))
        },
    );

    let out = cd.exec(&["-t"], "t1", "det1", &["sh", "-c", "tty; sleep 0.3"]);
    c.check(
        "ctr task exec -t (console socket)",
        out.check()
            .and_then(|_| expect_contains(&out, &out.stdout, "/dev/pts/")),
    );

    // `ps --format json` must list host pids: the init's pid is among them.
    let init_pid = cd.task("det1").map(|t| t.0).unwrap_or_default();
    let out = cd.ctr(&["task", "ps", "det1"]);
    c.check(
        "ctr task ps",
        out.check().and_then(|_| {
            let pids: Vec<&str> = out
                .stdout
                .lines()
                .skip(1)
                .filter_map(|l| l.split_whitespace().next())
                .collect();
            if !init_pid.is_empty() && pids.contains(&init_pid.as_str()) {
                Ok(())
            } else {
                Err(format!("init pid {init_pid:?} not listed: {out}"))
            }
        }),
    );

    let out = cd.ctr(&["task", "metrics", "det1"]);
    c.check("ctr task metrics", out.check());

    let out = cd.ctr(&["task", "pause", "det1"]);
    c.check(
        "ctr task pause",
        out.check().and_then(|_| cd.wait_status("det1", "PAUSED")),
    );
    let out = cd.ctr(&["task", "resume", "det1"]);
    c.check(
        "ctr task resume",
        out.check().and_then(|_| cd.wait_status("det1", "RUNNING")),
    );

    // SIGTERM: `sleep` as pid 1 of its namespace has no handler, so it ignores it.
    let out = cd.ctr(&["task", "kill", "det1"]);
    c.check(
        "ctr task kill (SIGTERM, ignored by pid 1)",
        out.check().and_then(|_| {
            std::thread::sleep(Duration::from_millis(200));
            cd.wait_status("det1", "RUNNING")
        }),
    );
    let out = cd.ctr(&["task", "kill", "--signal", "SIGKILL", "det1"]);
    c.check(
        "ctr task kill -s SIGKILL",
        out.check().and_then(|_| cd.wait_status("det1", "STOPPED")),
    );
    let out = cd.ctr(&["task", "delete", "det1"]);
    c.check("ctr task delete", out.check());
    let out = cd.ctr(&["containers", "rm", "det1"]);
    c.check(
        "ctr container rm",
        out.check().and_then(|_| cd.no_trace("det1")),
    );

    // A paused task: SIGKILL must take effect (ongi once left it frozen with the signal
    // pending, and `ctr task delete --force`, which kills and waits, hung).
    for (id, how) in [("pz1", "kill"), ("pz2", "delete")] {
        let out = cd.run(&["-d"], id, &["sleep", "1000"]);
        let paused = out
            .check()
            .and_then(|_| cd.ctr(&["task", "pause", id]).check())
            .and_then(|_| cd.wait_status(id, "PAUSED"));
        let result = paused.and_then(|_| match how {
            "kill" => cd
                .ctr(&["task", "kill", "--signal", "SIGKILL", id])
                .check()
                .and_then(|_| cd.wait_status(id, "STOPPED"))
                .and_then(|_| cd.ctr(&["task", "delete", id]).check()),
            _ => cd.ctr(&["task", "delete", "--force", id]).check(),
        });
        let removed = cd.ctr(&["containers", "rm", id]).check();
        c.check(
            &format!("ctr task {how} of a paused task"),
            result.and(removed).and_then(|_| cd.no_trace(id)),
        );
    }
    c.check(
        "no container left",
        match cd.container_ids() {
            ids if ids.is_empty() => Ok(()),
            ids => Err(format!("containers left: {ids:?}")),
        },
    );

    c.check(
        "no runtime call fell back to the shim's default root (and binary)",
        if cd.default_runc_root().exists() {
            Err(format!("{} exists", cd.default_runc_root().display()))
        } else {
            Ok(())
        },
    );

    eprintln!(
        "containerd checks: {} passed, {} failed, in {:?}",
        c.passed,
        c.failed.len(),
        started.elapsed()
    );
    if !c.failed.is_empty() {
        eprintln!(
            "containerd log (warnings and errors, with the shim's):\n{}",
            cd.log_tail(40)
        );
    }
    drop(cd);
    assert!(
        c.failed.is_empty(),
        "failed checks:\n{}",
        c.failed.join("\n")
    );
}

/// `ctr run --rm --runc-binary RT IMAGE ID true` with ongi, runc and crun, interleaved;
/// prints the medians. Run by benches/clients.sh.
#[test]
#[ignore]
fn bench_run_rm_latency() {
    let cd = Containerd::start();
    let image = build_image(&cd.dir);
    let out = cd.ctr(&["images", "import", path_str(&image)]);
    assert!(out.ok(), "ctr images import: {out}");
    let mut runtimes = clients_common::bench_runtimes(&cd.dir);
    runtimes[0].1 = cd.runtime.clone();
    let root = path_str(&cd.runc_root()).to_string();
    let fifo = path_str(&cd.fifo_dir()).to_string();
    clients_common::bench_run_rm("ctr", &runtimes, |i, id| {
        let rt = path_str(&runtimes[i].1).to_string();
        let out = cd.ctr(&[
            "run",
            "--rm",
            "--runc-binary",
            &rt,
            "--runc-root",
            &root,
            "--fifo-dir",
            &fifo,
            IMAGE,
            id,
            "true",
        ]);
        // The shared timing helper wants the shared `Out`.
        clients_common::Out {
            argv: format!("ctr run --rm --runc-binary {rt} {IMAGE} {id} true"),
            status: out.status,
            stdout: out.stdout,
            stderr: out.stderr,
        }
    });
}
