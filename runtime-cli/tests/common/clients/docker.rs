//! A private dockerd (Debian's 20.10): data-root, exec-root, socket in the test's dir, no
//! iptables, no bridge; `ongi` registered as runtime "ongi".

use super::super::files::{make_dir, path_str, read_lossy, tail, write_file};
use super::super::runtime_bin::ongi;
use super::super::wait::wait_until;
use super::*;
use std::time::{SystemTime, UNIX_EPOCH};

/// A dockerd of its own: data-root, exec-root, pidfile, socket and key in the test's dir, no
/// iptables, no bridge, cgroupfs; `ongi` registered as runtime "ongi".
pub struct Dockerd {
    pub dir: PathBuf,
    child: Option<Child>,
    started: SystemTime,
    host_dirs: HostDirs,
}

impl Dockerd {
    pub fn start(dir: &Path) -> Dockerd {
        subreaper();
        let d = dir.join("docker");
        make_dir(&d);
        let host_dirs = HostDirs::record(&[
            "/run/docker/plugins",
            "/run/docker",
            "/opt/containerd/bin",
            "/opt/containerd/lib",
            "/opt/containerd",
            "/run/containerd/s",
            "/run/containerd",
        ]);
        let config = serde_json::json!({
            "data-root": d.join("data"),
            "exec-root": d.join("exec"),
            "pidfile": d.join("docker.pid"),
            "hosts": [format!("unix://{}", d.join("docker.sock").display())],
            // No host network changes: no iptables rules, no docker0 bridge, no sysctls.
            "iptables": false,
            "ip-masq": false,
            "ip-forward": false,
            "bridge": "none",
            "storage-driver": "overlay2",
            "exec-opts": ["native.cgroupdriver=cgroupfs"],
            // Else dockerd 20.10 writes /etc/docker/key.json.
            "deprecated-key-path": d.join("key.json"),
            "runtimes": { "ongi": { "path": ongi() } }
        });
        write_file(&d.join("daemon.json"), &config.to_string());
        let log =
            fs::File::create(d.join("dockerd.log")).unwrap_or_else(|e| panic!("dockerd log: {e}"));
        let log2 = log
            .try_clone()
            .unwrap_or_else(|e| panic!("dockerd log: {e}"));
        let child = Command::new("dockerd")
            .arg("--config-file")
            .arg(d.join("daemon.json"))
            .stdin(Stdio::null())
            .stdout(log)
            .stderr(log2)
            .process_group(0)
            .spawn()
            .unwrap_or_else(|e| panic!("spawn dockerd (install docker.io): {e}"));
        let mut dockerd = Dockerd {
            dir: d,
            child: Some(child),
            started: SystemTime::now(),
            host_dirs,
        };
        let t0 = Instant::now();
        let up = wait_until(Duration::from_secs(60), || {
            let exited = dockerd
                .child
                .as_mut()
                .is_some_and(|c| c.try_wait().ok().flatten().is_some());
            exited
                || (dockerd.dir.join("docker.sock").exists()
                    && run_limited(
                        dockerd
                            .cli()
                            .args(["version", "--format", "{{.Server.Version}}"]),
                        &dockerd.dir,
                        Duration::from_secs(5),
                    )
                    .is_ok_and(|o| o.ok()))
        });
        let alive = dockerd
            .child
            .as_mut()
            .is_some_and(|c| c.try_wait().ok().flatten().is_none());
        assert!(
            up && alive,
            "dockerd did not start:\n{}",
            dockerd.log_tail(40)
        );
        eprintln!("dockerd up in {:?}", t0.elapsed());
        dockerd
    }

    /// Makes `ongi` the default runtime: rewrites daemon.json and reloads dockerd (SIGHUP);
    /// true once `docker info` reports it.
    pub fn set_default_runtime_ongi(&self) -> bool {
        let path = self.dir.join("daemon.json");
        let Ok(mut cfg) = serde_json::from_str::<serde_json::Value>(&read_lossy(&path)) else {
            return false;
        };
        cfg["default-runtime"] = "ongi".into();
        write_file(&path, &cfg.to_string());
        if let Some(c) = &self.child {
            // SAFETY: kill(2) of our own child, still running.
            unsafe { libc::kill(c.id() as i32, libc::SIGHUP) };
        }
        wait_until(Duration::from_secs(20), || {
            run_limited(
                self.cli().args(["info", "--format", "{{.DefaultRuntime}}"]),
                &self.dir,
                Duration::from_secs(10),
            )
            .is_ok_and(|o| o.text() == "ongi")
        })
    }

    /// Registers more runtimes (name, path) in daemon.json and reloads dockerd (SIGHUP); true
    /// once `docker info` lists them all.
    pub fn add_runtimes(&self, runtimes: &[(&str, &Path)]) -> bool {
        let path = self.dir.join("daemon.json");
        let Ok(mut cfg) = serde_json::from_str::<serde_json::Value>(&read_lossy(&path)) else {
            return false;
        };
        for (name, rt) in runtimes {
            cfg["runtimes"][*name] = serde_json::json!({ "path": rt });
        }
        write_file(&path, &cfg.to_string());
        if let Some(c) = &self.child {
            // SAFETY: kill(2) of our own child, still running.
            unsafe { libc::kill(c.id() as i32, libc::SIGHUP) };
        }
        wait_until(Duration::from_secs(20), || {
            run_limited(
                self.cli().args(["info", "--format", "{{json .Runtimes}}"]),
                &self.dir,
                Duration::from_secs(10),
            )
            .is_ok_and(|o| {
                runtimes
                    .iter()
                    .all(|(n, _)| o.stdout.contains(&format!("\"{n}\"")))
            })
        })
    }

    /// `docker` (Debian's 20.10 CLI) talking to this daemon, with a private CLI config dir.
    pub fn cli(&self) -> Command {
        let mut c = Command::new("docker");
        c.env(
            "DOCKER_HOST",
            format!("unix://{}", self.dir.join("docker.sock").display()),
        )
        .env("DOCKER_CONFIG", self.dir.join("cli"));
        c
    }

    /// `docker ARGS` with the step time limit.
    #[track_caller]
    pub fn docker(&self, args: &[&str]) -> Out {
        sequences::Client::call(self, args)
    }

    /// `docker ARGS` under a pty.
    #[track_caller]
    pub fn docker_tty(&self, args: &[&str]) -> Out {
        sequences::Client::call_tty(self, args)
    }

    /// The runc v2 shim's bundle dir of a container of this daemon.
    pub fn bundle(&self, id: &str) -> PathBuf {
        self.dir
            .join("exec/containerd/daemon/io.containerd.runtime.v2.task/moby")
            .join(id)
    }

    pub fn log_tail(&self, lines: usize) -> String {
        tail(&read_lossy(&self.dir.join("dockerd.log")), lines)
    }

    /// IDs of every container this daemon has made: listed now, found in its data-root, or
    /// named by a create event (covers `run --rm` containers already gone).
    fn container_ids(&self) -> BTreeSet<String> {
        let mut ids = list_dir(&self.dir.join("data/containers"));
        let since = self
            .started
            .duration_since(UNIX_EPOCH)
            .map(|d| d.as_secs().saturating_sub(5))
            .unwrap_or(0);
        let until = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map(|d| d.as_secs() + 1)
            .unwrap_or(0);
        let queries: [Vec<String>; 2] = [
            vec!["ps".into(), "-aq".into(), "--no-trunc".into()],
            vec![
                "events".into(),
                "--since".into(),
                since.to_string(),
                "--until".into(),
                until.to_string(),
                "--filter".into(),
                "type=container".into(),
                "--filter".into(),
                "event=create".into(),
                "--format".into(),
                "{{.ID}}".into(),
            ],
        ];
        for q in queries {
            if let Ok(out) = run_limited(self.cli().args(&q), &self.dir, TEARDOWN_LIMIT) {
                ids.extend(
                    out.stdout
                        .lines()
                        .map(str::trim)
                        .filter(|l| is_hex_id(l))
                        .map(String::from),
                );
            }
        }
        ids
    }
}

impl Drop for Dockerd {
    fn drop(&mut self) {
        // Nothing here may panic: this also runs while a failed test unwinds.
        let ids = self.container_ids();
        if !ids.is_empty() {
            let mut rm = self.cli();
            rm.args(["rm", "-f"]).args(&ids);
            if let Err(e) = run_limited(&mut rm, &self.dir, TEARDOWN_LIMIT) {
                eprintln!("teardown: {e}");
            }
        }
        if let Some(mut c) = self.child.take() {
            // dockerd stops its containerd itself; it may wait ~10 s for a stuck container.
            stop_child(&mut c, Duration::from_secs(12));
        }
        // Its containerd and the shims (their -address / config paths are ours), with the
        // container processes below them.
        kill_matching(path_str(&self.dir));
        let cgroups: Vec<String> = ids.iter().map(|id| format!("docker/{id}")).collect();
        remove_cgroups(&cgroups);
        rmdir_cgroups(&["docker"]);
        rm_shim_sockets(&self.dir.join("exec/containerd"));
        remove_guard_dir(&self.dir, &self.host_dirs);
    }
}

impl sequences::Client for Dockerd {
    fn name(&self) -> &'static str {
        "docker"
    }
    fn dir(&self) -> &Path {
        &self.dir
    }
    fn cli(&self) -> Command {
        Dockerd::cli(self)
    }
    fn run_flags(&self) -> &'static [&'static str] {
        &["--runtime", "ongi", "--network", "none"]
    }
    fn read_only_scratch(&self) -> (&'static str, bool) {
        ("/scratch", true)
    }
    fn extra_ulimits(&self) -> &'static [&'static str] {
        &[]
    }
    fn init(&self) -> sequences::Init {
        sequences::Init {
            name: "docker-init",
            ps_format: "pid,comm",
            is_pid1: |l| l == "1 docker-init",
        }
    }
    fn shows_runtime_errors(&self) -> bool {
        false
    }
    fn pull_flags(&self) -> &'static [&'static str] {
        &[]
    }
}
