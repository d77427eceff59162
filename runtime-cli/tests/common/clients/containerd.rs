//! A private containerd 1.6 (Debian's `containerd`): its own root, state, sockets and config
//! under `/tmp/ongi-<name>-<pid>`, for ctr (clients_containerd.rs) and the CRI client
//! (clients_cri.rs). Dropping the [`Daemon`] stops it and removes everything it and its shims
//! may leave: every process below the test process, shim sockets in /run/containerd/s,
//! mounts under its dir, the cgroups below the test's cgroup parent, and the dir.

use super::super::files::{path_str, read_lossy};
use super::super::mountinfo::detach_mounts_under;
use super::super::runtime_bin::runtime;
use super::super::wait::wait_until;
use super::*;

/// Where containerd 1.6 puts shim sockets, whatever its state dir.
pub const SHIM_SOCKET_DIR: &str = "/run/containerd/s";
/// How long containerd may take to answer after it was started.
pub const START_TIMEOUT: Duration = Duration::from_secs(20);

/// Time limit of one client call (ctr, CRI request, tar, ...), unless `$ONGI_CLIENT_TIMEOUT`
/// (seconds) says otherwise.
pub fn call_timeout() -> Duration {
    let secs = std::env::var("ONGI_CLIENT_TIMEOUT")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(30);
    Duration::from_secs(secs)
}

/// Time limit of each call made while tearing down.
pub fn cleanup_timeout() -> Duration {
    call_timeout().min(Duration::from_secs(10))
}

/// containerd's config.toml for a private daemon in `dir`: root, state, sockets and the opt
/// dir there, plus `top` (top-level keys) and `plugins` (more `[plugins]` sections).
pub fn config(dir: &str, top: &str, plugins: &str) -> String {
    format!(
        r#"version = 2
root = "{dir}/root"
state = "{dir}/state"
{top}[grpc]
  address = "{dir}/containerd.sock"
[ttrpc]
  address = "{dir}/containerd.sock.ttrpc"
[debug]
  address = "{dir}/debug.sock"
  level = "info"
[metrics]
  address = ""
[plugins]
  # The default is /opt/containerd, a host-wide directory.
  [plugins."io.containerd.internal.v1.opt"]
    path = "{dir}/opt"
{plugins}"#
    )
}

/// A private containerd and everything it may leave behind.
pub struct Daemon {
    pub dir: PathBuf,
    /// The runtime under test ([`runtime`]), canonical.
    pub runtime: PathBuf,
    /// Cgroup (relative to each hierarchy root) that holds every cgroup of the test's
    /// containers: thawed, emptied and removed at teardown.
    cgroup_parent: String,
    child: Option<Child>,
    /// Whether /run/containerd existed before (containerd 1.6 always puts shim sockets in
    /// /run/containerd/s).
    had_run_containerd: bool,
    /// Host dirs the shims may create, removed at teardown when empty.
    empty_dirs: Vec<PathBuf>,
}

impl Daemon {
    /// Starts `containerd --config` with the text `config(DIR, RUNTIME)` in
    /// `/tmp/ongi-<name>-<pid>` (it must put the gRPC socket at `DIR/containerd.sock` and
    /// log to stderr) and waits for the socket.
    pub fn start(
        name: &str,
        cgroup_parent: &str,
        config: impl FnOnce(&str, &str) -> String,
    ) -> Self {
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
        subreaper();
        let runtime = {
            let rt = runtime();
            fs::canonicalize(&rt).unwrap_or_else(|e| panic!("runtime {}: {e}", rt.display()))
        };
        let mut d = Daemon {
            dir: PathBuf::from(format!("/tmp/ongi-{name}-{}", std::process::id())),
            runtime,
            cgroup_parent: cgroup_parent.trim_start_matches('/').to_string(),
            child: None,
            had_run_containerd: Path::new("/run/containerd").exists(),
            empty_dirs: Vec::new(),
        };
        // A crashed run with the same pid may have left mounts: never delete through them.
        detach_mounts_under(&d.dir);
        let _ = fs::remove_dir_all(&d.dir);
        fs::create_dir_all(&d.dir).expect("mkdir containerd dir");
        fs::set_permissions(&d.dir, fs::Permissions::from_mode(0o711)).expect("chmod");
        let config_path = d.dir.join("config.toml");
        fs::write(&config_path, config(path_str(&d.dir), path_str(&d.runtime)))
            .expect("write config.toml");
        let log = fs::File::create(d.dir.join("containerd.log")).expect("create containerd.log");
        let log2 = log.try_clone().expect("dup log");
        let child = Command::new("containerd")
            .arg("--config")
            .arg(&config_path)
            .stdin(Stdio::null())
            .stdout(log)
            .stderr(log2)
            .spawn()
            .expect("spawn containerd");
        d.child = Some(child);
        let sock = d.socket();
        let up = wait_until(START_TIMEOUT, || sock.exists());
        assert!(up, "containerd did not start:\n{}", d.log_tail(30));
        d
    }

    /// A containerd for ctr (CRI plugin disabled: it would want CNI configuration) whose
    /// containers' cgroups are below `/<ns>` (ctr's default cgroupsPath is `/<ns>/<id>`);
    /// returns once `ctr version` answers.
    pub fn start_for_ctr(name: &str, ns: &str) -> Self {
        let mut d = Daemon::start(name, ns, |dir, _| {
            config(
                dir,
                "disabled_plugins = [\"io.containerd.grpc.v1.cri\"]\n",
                "",
            )
        });
        // The shim's runtime root when its options name none.
        d.remove_if_empty(Path::new("/run/containerd/runc").join(ns));
        let up = wait_until(START_TIMEOUT, || {
            d.try_ctr(ns, &["version"], Duration::from_secs(5))
                .is_ok_and(|o| o.ok())
        });
        assert!(up, "containerd does not answer:\n{}", d.log_tail(30));
        d
    }

    /// containerd's gRPC socket.
    pub fn socket(&self) -> PathBuf {
        self.dir.join("containerd.sock")
    }

    pub fn is_running(&self) -> bool {
        self.child.is_some()
    }

    /// `ctr --address SOCKET --namespace NS ARGS`.
    pub fn ctr_cmd(&self, ns: &str, args: &[&str]) -> Command {
        let mut cmd = Command::new("ctr");
        cmd.arg("--address")
            .arg(self.socket())
            .arg("--namespace")
            .arg(ns)
            .args(args);
        cmd
    }

    /// [`Self::ctr_cmd`] with a time limit; Err on time-out.
    pub fn try_ctr(&self, ns: &str, args: &[&str], limit: Duration) -> Result<Out, String> {
        run_limited(&mut self.ctr_cmd(ns, args), &self.dir, limit)
    }

    /// The last `n` warnings and errors of containerd's log (with the shims').
    pub fn log_tail(&self, n: usize) -> String {
        let text = read_lossy(&self.dir.join("containerd.log"));
        let lines: Vec<&str> = text
            .lines()
            .filter(|l| !l.contains("level=info") && !l.contains("level=debug"))
            .collect();
        lines[lines.len().saturating_sub(n)..].join("\n")
    }

    /// `dir` is removed at teardown if it is empty then (another containerd may use it).
    pub fn remove_if_empty(&mut self, dir: PathBuf) {
        self.empty_dirs.push(dir);
    }

    /// Stops containerd: SIGTERM, SIGKILL after 5 s.
    pub fn stop(&mut self) {
        if let Some(mut c) = self.child.take() {
            stop_child(&mut c, Duration::from_secs(5));
        }
    }
}

impl Drop for Daemon {
    fn drop(&mut self) {
        // Nothing here may panic: this also runs while a failed test unwinds.
        self.stop();
        kill_descendants(&self.cgroup_parent);
        // Sockets of the shims that were killed: each bundle names its socket in `address`.
        rm_shim_sockets(&self.dir.join("state"));
        for d in &self.empty_dirs {
            let _ = fs::remove_dir(d);
        }
        if !self.had_run_containerd {
            let _ = fs::remove_dir(SHIM_SOCKET_DIR);
            let _ = fs::remove_dir("/run/containerd/runc");
            let _ = fs::remove_dir("/run/containerd");
        }
        detach_mounts_under(&self.dir);
        remove_cgroups(std::slice::from_ref(&self.cgroup_parent));
        if let Err(e) = fs::remove_dir_all(&self.dir) {
            eprintln!("teardown: remove {}: {e}", self.dir.display());
        }
    }
}
