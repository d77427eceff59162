//! Shared helpers for the client tests (`clients_docker.rs`, `clients_podman.rs`): real
//! container managers driving the `ongi` binary that cargo built.
//!
//! Each test owns one private directory under [`BASE`]; every daemon, socket, config and
//! storage dir lives there. A client call runs with a time limit ([`STEP_LIMIT`]): the usual
//! failure of a young runtime is a hang, and a hung call must fail the test, not stall CI.
//! The guards ([`Dockerd`], [`Podman`], [`Registry`]) tear down in `Drop`, so also when a check
//! panics: they kill their daemons and helpers by PID (found by this test's private paths in
//! their command lines, never by program name), thaw and empty the cgroups of the test's
//! containers and remove them, unmount everything below the test's dir and delete it, and
//! remove host dirs the clients create only when they did not exist before the test.
//!
//! PID 1 of the test machines does not reap orphans, so the test process makes itself a child
//! subreaper: daemonized shims, conmon and cleanup processes become its children, and the
//! guards reap them.

#![allow(dead_code)]

use std::collections::BTreeSet;
use std::fmt::{self, Write as _};
use std::fs;
use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::os::unix::fs::{symlink, PermissionsExt};
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

/// Time limit of one client call.
pub const STEP_LIMIT: Duration = Duration::from_secs(60);
/// Time limit of each call made while tearing down.
const TEARDOWN_LIMIT: Duration = Duration::from_secs(15);
/// All test dirs live below this one. Kept short: podman refuses a run root longer than 50
/// characters, and unix socket paths must fit in 108 bytes.
pub const BASE: &str = "/var/tmp/ongi-ct";
/// The image every test builds, loads and runs.
pub const IMAGE: &str = "localhost/busybox:latest";

/// The `ongi` cargo built for this test run (an absolute path; podman matches its basename
/// against `runtime_supports_json`).
pub fn ongi() -> PathBuf {
    PathBuf::from(env!("CARGO_BIN_EXE_ongi"))
}

// ---------------------------------------------------------------------------------------------
// Running commands with a time limit
// ---------------------------------------------------------------------------------------------

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

/// Runs `cmd` with stdin from /dev/null and stdout/stderr captured in files below `dir`, in a
/// process group of its own that is SIGKILLed when `limit` passes. Files, not pipes: a daemon
/// or container that inherits them would keep a pipe open forever.
pub fn run_limited(cmd: &mut Command, dir: &Path, limit: Duration) -> Result<Out, String> {
    run_limited_stdin(cmd, dir, limit, Stdio::null())
}

fn run_limited_stdin(
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
    write(&path, input);
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
        umount_under(&dir);
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
// Image: a busybox-static docker-archive, written without any image tool
// ---------------------------------------------------------------------------------------------

/// Writes `DIR/busybox-docker.tar`: a docker-archive (`docker save` format: manifest.json,
/// config, one uncompressed layer) tagged [`IMAGE`], holding /bin/busybox (static) with its
/// applet links. Both `docker load` and `podman load` read it.
pub fn build_image(dir: &Path) -> PathBuf {
    let work = dir.join("image");
    let rootfs = work.join("rootfs");
    for d in ["bin", "etc", "tmp", "root", "proc", "sys", "dev"] {
        mkdir(&rootfs.join(d));
    }
    fs::set_permissions(rootfs.join("tmp"), fs::Permissions::from_mode(0o1777))
        .unwrap_or_else(|e| panic!("chmod tmp: {e}"));
    fs::copy("/bin/busybox", rootfs.join("bin/busybox"))
        .unwrap_or_else(|e| panic!("copy /bin/busybox (install busybox-static): {e}"));
    let list = run_step(Command::new("/bin/busybox").arg("--list"), dir);
    assert!(list.ok(), "{list}");
    for applet in list.stdout.lines().map(str::trim) {
        if !applet.is_empty() && applet != "busybox" && !applet.contains('/') {
            symlink("busybox", rootfs.join("bin").join(applet))
                .unwrap_or_else(|e| panic!("symlink {applet}: {e}"));
        }
    }
    write(
        &rootfs.join("etc/passwd"),
        "root:x:0:0:root:/root:/bin/sh\n",
    );
    write(&rootfs.join("etc/group"), "root:x:0:\n");

    let archive = work.join("archive");
    mkdir(&archive);
    let layer_tmp = work.join("layer.tar");
    let tar = run_step(
        Command::new("tar")
            .args([
                "--numeric-owner",
                "--owner=0",
                "--group=0",
                "--sort=name",
                "--mtime=@0",
            ])
            .arg("-C")
            .arg(&rootfs)
            .arg("-cf")
            .arg(&layer_tmp)
            .arg("."),
        dir,
    );
    assert!(tar.ok(), "{tar}");
    let layer_sum = sha256(&layer_tmp, dir);
    mkdir(&archive.join(&layer_sum));
    fs::rename(&layer_tmp, archive.join(&layer_sum).join("layer.tar"))
        .unwrap_or_else(|e| panic!("move layer: {e}"));
    let arch = match std::env::consts::ARCH {
        "x86_64" => "amd64",
        "aarch64" => "arm64",
        "powerpc64" => "ppc64le",
        other => other,
    };
    let config = serde_json::json!({
        "architecture": arch,
        "os": "linux",
        "created": "1970-01-01T00:00:00Z",
        "config": {
            "Env": ["PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"],
            "Cmd": ["/bin/sh"],
            "WorkingDir": "/"
        },
        "rootfs": { "type": "layers", "diff_ids": [format!("sha256:{layer_sum}")] },
        "history": [{ "created": "1970-01-01T00:00:00Z", "created_by": "ongi client tests" }]
    });
    let config_tmp = archive.join("config.json");
    write(&config_tmp, &config.to_string());
    let config_name = format!("{}.json", sha256(&config_tmp, dir));
    fs::rename(&config_tmp, archive.join(&config_name))
        .unwrap_or_else(|e| panic!("move config: {e}"));
    let manifest = serde_json::json!([{
        "Config": config_name,
        "RepoTags": [IMAGE],
        "Layers": [format!("{layer_sum}/layer.tar")]
    }]);
    write(&archive.join("manifest.json"), &manifest.to_string());
    let tarball = dir.join("busybox-docker.tar");
    let tar = run_step(
        Command::new("tar")
            .arg("-C")
            .arg(&archive)
            .arg("-cf")
            .arg(&tarball)
            .args([
                "manifest.json",
                &config_name,
                &format!("{layer_sum}/layer.tar"),
            ]),
        dir,
    );
    assert!(tar.ok(), "{tar}");
    let _ = fs::remove_dir_all(&work);
    tarball
}

fn sha256(file: &Path, dir: &Path) -> String {
    let out = run_step(Command::new("sha256sum").arg(file), dir);
    assert!(out.ok(), "{out}");
    out.stdout
        .split_whitespace()
        .next()
        .unwrap_or_else(|| panic!("no digest in {out}"))
        .to_string()
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
        let rdir = dir.join("registry");
        mkdir(&rdir.join("data"));
        // The port is free now; a race with another binder only makes the start fail loudly.
        let port = TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .unwrap_or_else(|e| panic!("find a free port: {e}"))
            .port();
        let addr = format!("127.0.0.1:{port}");
        let config = rdir.join("config.yml");
        write(
            &config,
            &format!(
                "version: 0.1\nlog:\n  level: warn\nstorage:\n  filesystem:\n    rootdirectory: {}\n  delete:\n    enabled: true\nhttp:\n  addr: {addr}\n",
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
                .is_some_and(|r| r.starts_with("HTTP/1.1 200"))
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

// ---------------------------------------------------------------------------------------------
// dockerd, private
// ---------------------------------------------------------------------------------------------

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
        mkdir(&d);
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
        write(&d.join("daemon.json"), &config.to_string());
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
        write(&path, &cfg.to_string());
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
        write(&path, &cfg.to_string());
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
        run_step(self.cli().args(args), &self.dir)
    }

    /// `docker ARGS` under a pty.
    #[track_caller]
    pub fn docker_tty(&self, args: &[&str]) -> Out {
        let mut c = self.cli();
        c.args(args);
        run_tty(&c, &self.dir)
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
        kill_matching(&path_string(&self.dir));
        let cgroups: Vec<String> = ids.iter().map(|id| format!("docker/{id}")).collect();
        remove_cgroups(&cgroups);
        rmdir_cgroups(&["docker"]);
        rm_shim_sockets(&self.dir.join("exec/containerd"));
        umount_under(&self.dir);
        if let Err(e) = fs::remove_dir_all(&self.dir) {
            eprintln!("teardown: rm -r {}: {e}", self.dir.display());
        }
        reap_orphans();
        self.host_dirs.remove_if_empty();
    }
}

// ---------------------------------------------------------------------------------------------
// podman, private
// ---------------------------------------------------------------------------------------------

/// podman with private root, runroot, tmpdir, volumes, network config and containers.conf,
/// driving `ongi` with `--runtime`.
pub struct Podman {
    pub dir: PathBuf,
    global: Vec<String>,
    host_dirs: HostDirs,
}

impl Podman {
    pub fn new(dir: &Path) -> Podman {
        subreaper();
        let p = dir.join("pm");
        for d in ["root", "runroot", "tmp", "volumes", "net.d"] {
            mkdir(&p.join(d));
        }
        let host_dirs = HostDirs::record(&[
            "/run/containers/networks",
            "/run/containers",
            // podman's push/pull write their blob info cache here whatever --root says.
            "/var/lib/containers/cache/blob-info-cache-v1.boltdb",
            "/var/lib/containers/cache",
            "/var/lib/containers",
        ]);
        // As root, podman puts RLIMIT_NOFILE/NPROC = 1048576 in the spec. Without
        // CAP_SYS_RESOURCE in the bounding set nobody can raise a hard limit above the
        // current one (setrlimit EPERM), so cap them at ours; podman itself runs conmon with
        // NPROC lowered to 32768, so nproc must not exceed that either.
        let nofile = hard_limit(libc::RLIMIT_NOFILE).min(1_048_576);
        let nproc = hard_limit(libc::RLIMIT_NPROC).min(32_768);
        // podman passes --log-format=json --log FILE only to runtimes whose basename is in
        // runtime_supports_json.
        write(
            &p.join("containers.conf"),
            &format!(
                "[containers]\ndefault_ulimits = [\"nofile={nofile}:{nofile}\", \"nproc={nproc}:{nproc}\"]\n\
                 [engine]\nruntime_supports_json = [\"crun\", \"runc\", \"ongi\"]\n"
            ),
        );
        let s = |sub: &str| path_string(&p.join(sub));
        // Identical on every call: podman's DB records them ("database configuration mismatch").
        let global = vec![
            "--root".into(),
            s("root"),
            "--runroot".into(),
            s("runroot"),
            "--tmpdir".into(),
            s("tmp"),
            "--volumepath".into(),
            s("volumes"),
            "--storage-driver".into(),
            "overlay".into(),
            "--cgroup-manager".into(),
            "cgroupfs".into(),
            "--events-backend".into(),
            "file".into(),
            "--network-config-dir".into(),
            s("net.d"),
            "--runtime".into(),
            path_string(&ongi()),
        ];
        Podman {
            dir: p,
            global,
            host_dirs,
        }
    }

    pub fn cli(&self) -> Command {
        let mut c = Command::new("podman");
        c.args(&self.global)
            .env("CONTAINERS_CONF", self.dir.join("containers.conf"))
            .env("TMPDIR", self.dir.join("tmp"));
        c
    }

    #[track_caller]
    pub fn podman(&self, args: &[&str]) -> Out {
        run_step(self.cli().args(args), &self.dir)
    }

    #[track_caller]
    pub fn podman_tty(&self, args: &[&str]) -> Out {
        let mut c = self.cli();
        c.args(args);
        run_tty(&c, &self.dir)
    }

    /// IDs of this podman's containers and of its pods: listed now, in its storage (containers),
    /// or named by an event.
    fn ids(&self) -> (BTreeSet<String>, BTreeSet<String>) {
        let mut ctrs = list_dir(&self.dir.join("root/overlay-containers"));
        let mut pods = BTreeSet::new();
        for (args, set) in [
            (&["ps", "-aq", "--no-trunc"][..], &mut ctrs),
            (&["pod", "ps", "-q", "--no-trunc"][..], &mut pods),
        ] {
            if let Ok(out) = run_limited(self.cli().args(args), &self.dir, TEARDOWN_LIMIT) {
                set.extend(
                    out.stdout
                        .lines()
                        .map(str::trim)
                        .filter(|l| is_hex_id(l))
                        .map(String::from),
                );
            }
        }
        // With --events-backend file the events are JSON lines below the tmpdir.
        for f in find_files(&self.dir.join("tmp"), "events.log") {
            for line in read_lossy(&f).lines() {
                let Ok(v) = serde_json::from_str::<serde_json::Value>(line) else {
                    continue;
                };
                let Some(id) = v["ID"].as_str().filter(|s| is_hex_id(s)) else {
                    continue;
                };
                match v["Type"].as_str() {
                    Some("container") => ctrs.insert(id.to_string()),
                    Some("pod") => pods.insert(id.to_string()),
                    _ => false,
                };
            }
        }
        (ctrs, pods)
    }
}

impl Drop for Podman {
    fn drop(&mut self) {
        let (ids, pods) = self.ids();
        if !pods.is_empty() {
            let mut rm = self.cli();
            rm.args(["pod", "rm", "-f", "-t", "0"]).args(&pods);
            if let Err(e) = run_limited(&mut rm, &self.dir, TEARDOWN_LIMIT) {
                eprintln!("teardown: {e}");
            }
        }
        if !ids.is_empty() {
            let mut rm = self.cli();
            rm.args(["rm", "-f", "-t", "0"]).args(&ids);
            if let Err(e) = run_limited(&mut rm, &self.dir, TEARDOWN_LIMIT) {
                eprintln!("teardown: {e}");
            }
        }
        // conmon and `podman container cleanup` processes of our run root / storage.
        kill_matching(&path_string(&self.dir));
        // podman passes no --root: the state of our containers is in ongi's default root.
        for id in &ids {
            let mut del = Command::new(ongi());
            del.args(["delete", "--force", id]);
            if let Err(e) = run_limited(&mut del, Path::new(BASE), TEARDOWN_LIMIT) {
                eprintln!("teardown: {e}");
            }
        }
        // A pod's containers sit below /libpod_parent/<pod id>; podman removes that cgroup
        // only in the v1 controllers it manages, not in name=systemd or the v2 tree.
        let cgroups: Vec<String> = ids
            .iter()
            .map(|id| format!("libpod_parent/libpod-{id}"))
            .chain(pods.iter().map(|id| format!("libpod_parent/{id}")))
            .collect();
        remove_cgroups(&cgroups);
        rmdir_cgroups(&["libpod_parent/conmon", "libpod_parent"]);
        umount_under(&self.dir);
        if let Err(e) = fs::remove_dir_all(&self.dir) {
            eprintln!("teardown: rm -r {}: {e}", self.dir.display());
        }
        reap_orphans();
        self.host_dirs.remove_if_empty();
    }
}

/// Removes the test's dir itself (after the guards inside it are gone).
pub struct DirGuard(pub PathBuf);

impl Drop for DirGuard {
    fn drop(&mut self) {
        umount_under(&self.0);
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
fn cgroup_roots() -> Vec<PathBuf> {
    let info = fs::read_to_string("/proc/self/mountinfo").unwrap_or_default();
    info.lines()
        .filter_map(|l| {
            let (pre, post) = l.split_once(" - ")?;
            let fstype = post.split(' ').next()?;
            let point = pre.split(' ').nth(4)?;
            (fstype == "cgroup" || fstype == "cgroup2")
                .then(|| PathBuf::from(unescape_mountinfo(point)))
        })
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

/// Lazily unmounts every mount point at or below `dir`, deepest first.
pub fn umount_under(dir: &Path) {
    let info = fs::read_to_string("/proc/self/mountinfo").unwrap_or_default();
    let prefix = path_string(dir);
    let mut points: Vec<String> = info
        .lines()
        .filter_map(|l| l.split(' ').nth(4))
        .map(unescape_mountinfo)
        .filter(|p| *p == prefix || p.starts_with(&format!("{prefix}/")))
        .collect();
    points.sort_by_key(|p| std::cmp::Reverse(p.len()));
    points.dedup();
    for p in points {
        if let Ok(c) = std::ffi::CString::new(p.clone()) {
            // SAFETY: NUL-terminated path; MNT_DETACH never blocks.
            if unsafe { libc::umount2(c.as_ptr(), libc::MNT_DETACH) } == 0 {
                eprintln!("teardown: unmounted {p}");
            }
        }
    }
}

/// Mounts of this namespace at or below `dir`.
pub fn mounts_under(dir: &Path) -> Vec<String> {
    let info = fs::read_to_string("/proc/self/mountinfo").unwrap_or_default();
    let prefix = path_string(dir);
    info.lines()
        .filter_map(|l| l.split(' ').nth(4))
        .map(unescape_mountinfo)
        .filter(|p| *p == prefix || p.starts_with(&format!("{prefix}/")))
        .collect()
}

/// containerd 1.6 puts shim sockets in /run/containerd/s whatever its state dir; each bundle
/// of ours names its socket in an `address` file. Removes the ones of killed shims.
fn rm_shim_sockets(containerd_state: &Path) {
    for f in find_files(containerd_state, "address") {
        let a = read_lossy(&f);
        let a = a.trim().trim_start_matches("unix://");
        if a.starts_with("/run/containerd/s/") {
            let _ = fs::remove_file(a);
        }
    }
}

fn unescape_mountinfo(field: &str) -> String {
    let b = field.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        let oct = b
            .get(i + 1..i + 4)
            .filter(|d| b[i] == b'\\' && d.iter().all(|c| (b'0'..=b'7').contains(c)));
        match oct {
            Some(d) => {
                out.push((d[0] - b'0') * 64 + (d[1] - b'0') * 8 + (d[2] - b'0'));
                i += 4;
            }
            None => {
                out.push(b[i]);
                i += 1;
            }
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

// ---------------------------------------------------------------------------------------------
// Small utilities
// ---------------------------------------------------------------------------------------------

pub fn path_string(p: &Path) -> String {
    p.to_string_lossy().into_owned()
}

pub fn mkdir(d: &Path) {
    fs::create_dir_all(d).unwrap_or_else(|e| panic!("mkdir {}: {e}", d.display()));
}

pub fn write(p: &Path, s: &str) {
    fs::write(p, s).unwrap_or_else(|e| panic!("write {}: {e}", p.display()));
}

pub fn read_lossy(p: &Path) -> String {
    fs::read(p)
        .map(|b| String::from_utf8_lossy(&b).into_owned())
        .unwrap_or_default()
}

pub fn tail(s: &str, lines: usize) -> String {
    let v: Vec<&str> = s.lines().collect();
    let mut out = String::new();
    for l in &v[v.len().saturating_sub(lines)..] {
        let _ = writeln!(out, "{l}");
    }
    out
}

pub fn sleep_ms(ms: u64) {
    std::thread::sleep(Duration::from_millis(ms));
}

/// Polls `cond` every 20 ms until it holds or `limit` passes.
pub fn wait_until(limit: Duration, mut cond: impl FnMut() -> bool) -> bool {
    let deadline = Instant::now() + limit;
    loop {
        if cond() {
            return true;
        }
        if Instant::now() >= deadline {
            return false;
        }
        sleep_ms(20);
    }
}

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

// ---------------------------------------------------------------------------------------------
// Benchmark: `CLIENT run --rm IMAGE true` per runtime, interleaved rounds, medians
// ---------------------------------------------------------------------------------------------

/// The runtimes the `bench_run_rm_latency` tests compare: (name, path). crun is a wrapper
/// named `crun` (podman picks JSON logging by the basename) that runs /usr/bin/crun in a
/// private mount namespace with /dev/null over /sys/fs/cgroup/unified/cgroup.controllers:
/// crun 1.8 refuses the hybrid cgroup layout when that file lists controllers.
pub fn bench_runtimes(dir: &Path) -> Vec<(&'static str, PathBuf)> {
    let wrapper_dir = dir.join("crun-hybrid");
    mkdir(&wrapper_dir);
    let crun = wrapper_dir.join("crun");
    write(
        &crun,
        "#!/bin/sh\nexec unshare -m sh -c 'mount --bind /dev/null /sys/fs/cgroup/unified/cgroup.controllers && exec /usr/bin/crun \"$@\"' sh \"$@\"\n",
    );
    fs::set_permissions(&crun, fs::Permissions::from_mode(0o755))
        .unwrap_or_else(|e| panic!("chmod {}: {e}", crun.display()));
    vec![
        ("ongi", ongi()),
        ("runc", PathBuf::from("/usr/sbin/runc")),
        ("crun", crun),
    ]
}

/// Rounds of the benchmark: `CLIENT_BENCH_N`, default 11.
pub fn bench_rounds() -> usize {
    std::env::var("CLIENT_BENCH_N")
        .ok()
        .and_then(|s| s.parse().ok())
        .filter(|&n| n > 0)
        .unwrap_or(11)
}

/// One warm-up call per runtime, then [`bench_rounds`] rounds calling `call(runtime, id)`
/// once per runtime (interleaved; the order rotates each round), timing each call's wall
/// clock. A failed call fails the test. Prints `BENCH client=CLIENT NAME=MED ...` (ms).
pub fn bench_run_rm(
    client: &str,
    runtimes: &[(&'static str, PathBuf)],
    mut call: impl FnMut(usize, &str) -> Out,
) {
    let n = bench_rounds();
    let mut times: Vec<Vec<f64>> = vec![Vec::new(); runtimes.len()];
    for round in 0..=n {
        for k in 0..runtimes.len() {
            let i = (k + round) % runtimes.len();
            let id = format!("b{round}{}", runtimes[i].0);
            let t = Instant::now();
            let out = call(i, &id);
            let ms = t.elapsed().as_secs_f64() * 1000.0;
            assert!(out.ok(), "{client} with {}: {out}", runtimes[i].0);
            if round > 0 {
                times[i].push(ms);
            }
        }
    }
    let mut line = format!("BENCH client={client} n={n}");
    for (i, (name, _)) in runtimes.iter().enumerate() {
        eprintln!("{client} {name}: {:?}", times[i]);
        let _ = write!(line, " {name}={:.1}", median(&mut times[i]));
    }
    println!("{line}");
}

pub fn median(v: &mut [f64]) -> f64 {
    v.sort_by(f64::total_cmp);
    match v.len() {
        0 => f64::NAN,
        n if n % 2 == 1 => v[n / 2],
        n => (v[n / 2 - 1] + v[n / 2]) / 2.0,
    }
}
