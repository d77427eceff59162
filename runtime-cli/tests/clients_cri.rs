//! Kubernetes' way in: containerd 1.6's CRI plugin (what kubelet talks to) runs pods and
//! containers through ongi, registered as the runtime handler `ongi` (runc v2 shim,
//! `BinaryName` = ongi), driven by a small kubelet-like CRI v1 client (the `k8s-cri` crate's
//! tonic bindings over containerd's unix socket).
//!
//! The test starts a private containerd with the CRI plugin on (own root, state, sockets and
//! config under a temporary directory; host network, so no CNI; the exec/attach stream server
//! on loopback), imports a busybox-static image and a pause image (busybox `sleep`) that it
//! builds itself as an OCI archive, and then, for each pid-namespace mode (CONTAINER,
//! kubelet's default, and POD, `shareProcessNamespace`), runs a pod: RunPodSandbox with a
//! cgroup parent of its own; a container whose CRI log must read `<time> stdout F hi`; one
//! that must exit 7; a `sleep` container for ExecSync (output and exit code), the pid 1 seen
//! from inside (not the container's process in POD mode), UpdateContainerResources (memory
//! limit read back from inside), ListContainerStats and StopContainer with a timeout; then
//! RemoveContainer, StopPodSandbox and RemovePodSandbox, each leaving no runtime state or
//! cgroup behind.
//!
//! The handler really is ongi: the default runtime is `/bin/false` (a pod without
//! `runtime_handler` must fail to start), and ongi's state root holds the pod's containers
//! while they exist.
//!
//! Every CRI and client call has a time limit, so a hung runtime fails the test instead of
//! hanging CI. The [`Cri`] guard tears everything down, also when a check panics: pods
//! through CRI, then the daemon, then (the test process being a child subreaper) every shim,
//! pause and container process left under it, mounts under the temporary directory, stale
//! shim sockets and the cgroups under the pods' cgroup parent.
//!
//! Needs root and the Debian packages from scripts/deps.sh (containerd, busybox-static, and
//! protobuf-compiler to build the bindings). The runtime is `$ONGI_TEST_RUNTIME` if set (e.g.
//! `/usr/sbin/runc`, to check the expectations), else the `ongi` binary of this build.
//! `ONGI_CLIENT_TIMEOUT=SECONDS` changes the per-call limit (30 s); `CRI_DEBUG_LOG=1` prints
//! containerd's warnings and errors (with the shim's) also when every check passes.

mod common;

use common::{build_rootfs, path_str, runtime, unescape_mountinfo, wait_until};
use hyper_util::rt::TokioIo;
use k8s_cri::v1::image_service_client::ImageServiceClient;
use k8s_cri::v1::runtime_service_client::RuntimeServiceClient;
use k8s_cri::v1::{
    security_profile::ProfileType, Capability, ContainerConfig, ContainerMetadata, ContainerState,
    ContainerStatsFilter, ContainerStatusRequest, CreateContainerRequest, ExecSyncRequest,
    ImageSpec, ImageStatusRequest, Int64Value, KeyValue, LinuxContainerConfig,
    LinuxContainerResources, LinuxContainerSecurityContext, LinuxPodSandboxConfig,
    LinuxSandboxSecurityContext, ListContainerStatsRequest, ListContainersRequest,
    ListPodSandboxRequest, Mount, NamespaceMode, NamespaceOption, PodSandboxConfig,
    PodSandboxMetadata, PodSandboxState, PodSandboxStatusRequest, RemoveContainerRequest,
    RemovePodSandboxRequest, RunPodSandboxRequest, SecurityProfile, StartContainerRequest,
    StopContainerRequest, StopPodSandboxRequest, UpdateContainerResourcesRequest, VersionRequest,
};
use nix::sys::signal::{kill, Signal};
use nix::sys::wait::{waitpid, WaitPidFlag, WaitStatus};
use nix::unistd::Pid;
use std::cell::Cell;
use std::fs;
use std::future::Future;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::time::{Duration, Instant};
use tonic::transport::{Channel, Endpoint, Uri};

/// Time limit of one client call (CRI request, ctr, tar, ...), unless `$ONGI_CLIENT_TIMEOUT`
/// (seconds) says otherwise.
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
/// How long containerd may take to answer CRI requests after it was started.
const START_TIMEOUT: Duration = Duration::from_secs(20);
/// The images the test builds and imports (no registry involved).
const IMAGE: &str = "localhost/ongi-busybox:latest";
const PAUSE_IMAGE: &str = "localhost/ongi-pause:latest";
/// containerd namespace of everything CRI does.
const CRI_NS: &str = "k8s.io";
/// Runtime handler of ongi in containerd's config (what a RuntimeClass names).
const HANDLER: &str = "ongi";
const SHIM_SOCKET_DIR: &str = "/run/containerd/s";
const MIB64: i64 = 64 << 20;

// ---------------------------------------------------------------------------
// Client calls with a time limit
// ---------------------------------------------------------------------------

/// What one command did.
struct Out {
    cmd: String,
    status: ExitStatus,
    stdout: String,
    stderr: String,
}

impl Out {
    fn check(&self) -> Result<(), String> {
        if self.status.success() {
            Ok(())
        } else {
            Err(format!(
                "failed: $ {}\n  status: {}\n  stdout: {:?}\n  stderr: {:?}",
                self.cmd, self.status, self.stdout, self.stderr
            ))
        }
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
            _ => {
                let _ = child.kill();
                let _ = child.wait();
                return None;
            }
        }
    }
}

/// Runs `cmd` with stdin from /dev/null and stdout/stderr into files under `dir` (files, not
/// pipes: a process the call leaves behind cannot keep the test waiting for EOF). Err on
/// time-out, with whatever the call printed by then.
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
            "timed out after {timeout:?}: {desc}\n  stdout: {stdout:?}\n  stderr: {stderr:?}"
        )),
    }
}

/// `cmd` with the time limit; a failure or time-out fails the test at once.
fn must_call(cmd: Command, dir: &Path) -> Out {
    let out = try_call(cmd, dir, 0, call_timeout()).unwrap_or_else(|e| panic!("{e}"));
    out.check().unwrap_or_else(|e| panic!("{e}"));
    out
}

// ---------------------------------------------------------------------------
// The images: busybox-static as a one-layer OCI archive, under two names
// ---------------------------------------------------------------------------

/// Moves `file` into the layout's blob store; returns (digest, size).
fn add_blob(layout: &Path, file: &Path, dir: &Path) -> (String, u64) {
    let mut cmd = Command::new("sha256sum");
    cmd.arg(file);
    let out = must_call(cmd, dir);
    let digest = out
        .stdout
        .split_whitespace()
        .next()
        .unwrap_or_else(|| panic!("no digest in {:?}", out.stdout))
        .to_string();
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
    must_call(cmd, dir);
}

/// Builds `DIR/images.tar`: an OCI image layout archive (what `ctr images import` reads)
/// with two images sharing one uncompressed busybox-static layer: [`IMAGE`] (shell) and
/// [`PAUSE_IMAGE`] (`sleep 2147483647`, the pod's sandbox container).
fn build_images(dir: &Path) -> PathBuf {
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
    let mut manifests = Vec::new();
    for (name, cmd) in [
        (IMAGE, vec!["/bin/sh"]),
        (PAUSE_IMAGE, vec!["sleep", "2147483647"]),
    ] {
        let config = serde_json::json!({
            "architecture": "amd64",
            "os": "linux",
            "config": {
                "Env": ["PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"],
                "Cmd": cmd,
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
        manifests.push(serde_json::json!({
            "mediaType": "application/vnd.oci.image.manifest.v1+json",
            "digest": manifest_digest, "size": manifest_size,
            "platform": { "architecture": "amd64", "os": "linux" },
            // containerd names the imported image after this annotation.
            "annotations": { "io.containerd.image.name": name }
        }));
    }
    let index = serde_json::json!({ "schemaVersion": 2, "manifests": manifests });
    fs::write(layout.join("index.json"), index.to_string()).expect("write index.json");
    fs::write(
        layout.join("oci-layout"),
        r#"{"imageLayoutVersion":"1.0.0"}"#,
    )
    .expect("write oci-layout");
    let archive = dir.join("images.tar");
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
// A private containerd with the CRI plugin, and a CRI client
// ---------------------------------------------------------------------------

/// A CRI request on a clone of the client in `cri.$client`, with the time limit.
macro_rules! rpc {
    ($cri:expr, $client:ident . $method:ident ($req:expr)) => {{
        let cri: &Cri = &$cri;
        // Built out here: the async block would otherwise move what the request borrows.
        let req = $req;
        match cri.$client.clone() {
            Some(mut client) => cri.block(
                stringify!($method),
                async move { client.$method(req).await },
            ),
            None => Err("not connected to containerd's CRI socket".to_string()),
        }
    }};
}

/// A private containerd with the CRI plugin, a client of it, and everything they may leave
/// behind; dropping it tears it all down.
struct Cri {
    dir: PathBuf,
    /// Cgroup parent of the test's pods (`LinuxPodSandboxConfig.cgroup_parent`).
    cgroup_parent: String,
    runtime: PathBuf,
    daemon: Option<Child>,
    /// Whether /run/containerd existed before (containerd 1.6 always puts shim sockets in
    /// /run/containerd/s).
    had_run_containerd: bool,
    seq: Cell<u32>,
    /// Set while tearing down: a time-out then only gets reported.
    tearing_down: Cell<bool>,
    tokio: tokio::runtime::Runtime,
    rs: Option<RuntimeServiceClient<Channel>>,
    is: Option<ImageServiceClient<Channel>>,
}

impl Cri {
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
        let tokio = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .expect("tokio runtime");
        let mut cri = Cri {
            dir: PathBuf::from(format!("/tmp/ongi-cri-{pid}")),
            cgroup_parent: format!("/ongi-cri-{pid}"),
            runtime,
            daemon: None,
            had_run_containerd: Path::new("/run/containerd").exists(),
            seq: Cell::new(1),
            tearing_down: Cell::new(false),
            tokio,
            rs: None,
            is: None,
        };
        // A crashed run with the same pid may have left mounts: never delete through them.
        detach_mounts_under(&cri.dir);
        let _ = fs::remove_dir_all(&cri.dir);
        fs::create_dir_all(&cri.dir).expect("mkdir containerd dir");
        fs::set_permissions(&cri.dir, fs::Permissions::from_mode(0o711)).expect("chmod");
        let d = path_str(&cri.dir).to_string();
        let rt = path_str(&cri.runtime).to_string();
        let cri_plugin = r#"plugins."io.containerd.grpc.v1.cri""#;
        let config = format!(
            r#"version = 2
root = "{d}/root"
state = "{d}/state"
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
  [{cri_plugin}]
    sandbox_image = "{PAUSE_IMAGE}"
    # exec/attach/port-forward server: loopback, ephemeral port.
    stream_server_address = "127.0.0.1"
    stream_server_port = "0"
    enable_selinux = false
    disable_apparmor = true
    # The pause container asks for oom_score_adj -998; lowering it needs CAP_SYS_RESOURCE,
    # which the test machines' bounding set lacks.
    restrict_oom_score_adj = true
    [{cri_plugin}.containerd]
      snapshotter = "overlayfs"
      # A request that names no handler must not reach a working runtime: proves that the
      # containers below ran through the "{HANDLER}" handler.
      default_runtime_name = "bogus"
      [{cri_plugin}.containerd.runtimes.bogus]
        runtime_type = "io.containerd.runc.v2"
        [{cri_plugin}.containerd.runtimes.bogus.options]
          BinaryName = "/bin/false"
          Root = "{d}/bogus-root"
      [{cri_plugin}.containerd.runtimes.{HANDLER}]
        runtime_type = "io.containerd.runc.v2"
        [{cri_plugin}.containerd.runtimes.{HANDLER}.options]
          BinaryName = "{rt}"
          Root = "{d}/ongi-root"
          SystemdCgroup = false
    # Both empty: pods use the host network.
    [{cri_plugin}.cni]
      bin_dir = "{d}/cni/bin"
      conf_dir = "{d}/cni/net.d"
"#
        );
        let config_path = cri.dir.join("config.toml");
        fs::write(&config_path, config).expect("write config.toml");
        let log_path = cri.dir.join("containerd.log");
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
        cri.daemon = Some(child);
        let sock = cri.dir.join("containerd.sock");
        let up = wait_until(START_TIMEOUT, || sock.exists());
        assert!(up, "containerd did not start:\n{}", cri.log_tail(30));
        cri.connect(&sock);
        // Until the CRI plugin is up, requests fail (or the dial does).
        let mut last = String::new();
        let up = wait_until(START_TIMEOUT, || {
            match rpc!(cri, rs.version(VersionRequest::default())) {
                Ok(_) => true,
                Err(e) => {
                    last = e;
                    false
                }
            }
        });
        assert!(up, "CRI does not answer: {last}\n{}", cri.log_tail(30));
        cri
    }

    /// Connects the CRI clients to containerd's socket (gRPC over a unix socket).
    fn connect(&mut self, sock: &Path) {
        let sock = sock.to_path_buf();
        // The URI is required but unused: the connector dials the socket.
        let endpoint = Endpoint::from_static("http://[::]:50051");
        let connector = tower::service_fn(move |_: Uri| {
            let sock = sock.clone();
            async move {
                Ok::<_, std::io::Error>(TokioIo::new(tokio::net::UnixStream::connect(sock).await?))
            }
        });
        // Lazy: the socket may exist a moment before containerd serves on it, and a lazy
        // channel dials again on the next request after a failed one (the version polling
        // in start). Its worker task is spawned on the runtime entered here.
        let _in_runtime = self.tokio.enter();
        let channel = endpoint.connect_with_connector_lazy(connector);
        self.rs = Some(RuntimeServiceClient::new(channel.clone()));
        self.is = Some(ImageServiceClient::new(channel));
    }

    /// Runs one CRI request with the time limit. A time-out fails the test at once (what
    /// follows would only pile up more time-outs), except while tearing down.
    fn block<T>(
        &self,
        what: &str,
        fut: impl Future<Output = Result<tonic::Response<T>, tonic::Status>>,
    ) -> Result<T, String> {
        let limit = if self.tearing_down.get() {
            cleanup_timeout()
        } else {
            call_timeout()
        };
        match self
            .tokio
            .block_on(async { tokio::time::timeout(limit, fut).await })
        {
            Ok(Ok(resp)) => Ok(resp.into_inner()),
            Ok(Err(status)) => Err(format!("{what}: {:?}: {}", status.code(), status.message())),
            Err(_) => {
                let msg = format!("{what}: timed out after {limit:?} (the runtime probably hung)");
                if self.tearing_down.get() {
                    eprintln!("teardown: {msg}");
                    Err(msg)
                } else {
                    panic!("{msg}\n{}", self.log_tail(30))
                }
            }
        }
    }

    fn next_seq(&self) -> u32 {
        let n = self.seq.get();
        self.seq.set(n + 1);
        n
    }

    fn ctr(&self, args: &[&str], timeout: Duration) -> Result<Out, String> {
        let mut cmd = Command::new("ctr");
        cmd.arg("--address")
            .arg(self.dir.join("containerd.sock"))
            .arg("--namespace")
            .arg(CRI_NS)
            .args(args);
        try_call(cmd, &self.dir, self.next_seq(), timeout)
    }

    /// ongi's state directory of container `id` (the shim adds the namespace to `Root`).
    fn runtime_state(&self, id: &str) -> PathBuf {
        self.dir.join("ongi-root").join(CRI_NS).join(id)
    }

    /// Cgroup directories of container `id` (cgroupsPath `<cgroup parent>/<id>`) that exist.
    fn cgroup_dirs(&self, id: &str) -> Vec<PathBuf> {
        cgroup_hierarchies()
            .into_iter()
            .map(|h| h.join(self.cgroup_parent.trim_start_matches('/')).join(id))
            .filter(|d| d.is_dir())
            .collect()
    }

    /// Error unless the runtime left no state and no cgroup of container `id`.
    fn no_trace(&self, id: &str) -> Result<(), String> {
        let mut left = Vec::new();
        // The shim deletes the container a moment after containerd answers.
        wait_until(Duration::from_secs(5), || {
            left = self.cgroup_dirs(id);
            if self.runtime_state(id).exists() {
                left.push(self.runtime_state(id));
            }
            left.is_empty()
        });
        if left.is_empty() {
            Ok(())
        } else {
            Err(format!("left behind: {left:?}"))
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

    /// Stops and removes the test's pods (and so their containers) through CRI, while
    /// containerd is up.
    fn remove_pods(&self) {
        let Ok(pods) = rpc!(self, rs.list_pod_sandbox(ListPodSandboxRequest::default())) else {
            return;
        };
        for pod in pods.items {
            let id = pod.id;
            let _ = rpc!(
                self,
                rs.stop_pod_sandbox(StopPodSandboxRequest {
                    pod_sandbox_id: id.clone()
                })
            );
            let _ = rpc!(
                self,
                rs.remove_pod_sandbox(RemovePodSandboxRequest { pod_sandbox_id: id })
            );
        }
        // Anything CRI did not clean (a failed sandbox), the plain containerd way.
        let Ok(out) = self.ctr(&["containers", "ls", "--quiet"], cleanup_timeout()) else {
            return;
        };
        for id in out.stdout.split_whitespace() {
            let _ = self.ctr(&["task", "delete", "--force", id], cleanup_timeout());
            let _ = self.ctr(&["containers", "rm", id], cleanup_timeout());
        }
    }

    fn stop_daemon(&mut self) {
        // The client's connection goes first, so nothing waits on a dead socket.
        self.rs = None;
        self.is = None;
        let Some(mut child) = self.daemon.take() else {
            return;
        };
        let pid = Pid::from_raw(child.id() as i32);
        let _ = kill(pid, Signal::SIGTERM);
        if wait_deadline(&mut child, Instant::now() + Duration::from_secs(5)).is_none() {
            eprintln!("teardown: containerd ignored SIGTERM for 5 s; killed it");
        }
    }

    /// SIGKILLs every process left below this one (shims, pause and container processes, a
    /// stuck runtime) and reaps them; they all belong to this test.
    fn kill_descendants(&self) {
        // A frozen process does not die of SIGKILL until thawed.
        for h in cgroup_hierarchies() {
            for d in read_dir_paths(&h.join(self.cgroup_parent.trim_start_matches('/'))) {
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
        if !self.had_run_containerd {
            let _ = fs::remove_dir(SHIM_SOCKET_DIR);
            let _ = fs::remove_dir("/run/containerd");
        }
    }

    fn remove_cgroups(&self) {
        for h in cgroup_hierarchies() {
            let dir = h.join(self.cgroup_parent.trim_start_matches('/'));
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

impl Drop for Cri {
    fn drop(&mut self) {
        self.tearing_down.set(true);
        if self.daemon.is_some() {
            self.remove_pods();
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

/// Reaps every exited child (shims re-parented to this subreaper). Only called once the
/// daemon's `Child` has been waited for, so it cannot steal its status.
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

fn ensure(cond: bool, msg: impl FnOnce() -> String) -> Result<(), String> {
    if cond {
        Ok(())
    } else {
        Err(msg())
    }
}

fn namespaces(pid: NamespaceMode) -> Option<NamespaceOption> {
    Some(NamespaceOption {
        network: NamespaceMode::Node as i32,
        pid: pid as i32,
        ipc: NamespaceMode::Pod as i32,
        ..Default::default()
    })
}

/// A host-network pod (no hostname: without a UTS namespace of its own a runtime must
/// refuse to set one) under the test's cgroup parent.
fn pod_config(cri: &Cri, name: &str, pid: NamespaceMode, log_dir: &Path) -> PodSandboxConfig {
    PodSandboxConfig {
        metadata: Some(PodSandboxMetadata {
            name: name.into(),
            uid: format!("{name}-uid"),
            namespace: "default".into(),
            attempt: 0,
        }),
        log_directory: path_str(log_dir).into(),
        linux: Some(LinuxPodSandboxConfig {
            cgroup_parent: cri.cgroup_parent.clone(),
            security_context: Some(LinuxSandboxSecurityContext {
                namespace_options: namespaces(pid),
                ..Default::default()
            }),
            ..Default::default()
        }),
        ..Default::default()
    }
}

fn container_config(name: &str, command: &[&str], pid: NamespaceMode) -> ContainerConfig {
    ContainerConfig {
        metadata: Some(ContainerMetadata {
            name: name.into(),
            attempt: 0,
        }),
        image: Some(ImageSpec {
            image: IMAGE.into(),
            ..Default::default()
        }),
        command: command.iter().map(|s| s.to_string()).collect(),
        log_path: format!("{name}.log"),
        linux: Some(LinuxContainerConfig {
            security_context: Some(LinuxContainerSecurityContext {
                namespace_options: namespaces(pid),
                ..Default::default()
            }),
            ..Default::default()
        }),
        ..Default::default()
    }
}

/// One pod (of pid-namespace mode `pid`) and what kubelet does with it.
struct Pod<'a> {
    cri: &'a Cri,
    id: String,
    config: PodSandboxConfig,
    log_dir: PathBuf,
    pid: NamespaceMode,
}

impl Pod<'_> {
    /// CreateContainer + StartContainer; the container's id.
    fn start(&self, name: &str, command: &[&str]) -> Result<String, String> {
        self.start_with(container_config(name, command, self.pid))
    }

    fn start_with(&self, config: ContainerConfig) -> Result<String, String> {
        let id = rpc!(
            self.cri,
            rs.create_container(CreateContainerRequest {
                pod_sandbox_id: self.id.clone(),
                config: Some(config),
                sandbox_config: Some(self.config.clone()),
            })
        )?
        .container_id;
        rpc!(
            self.cri,
            rs.start_container(StartContainerRequest {
                container_id: id.clone()
            })
        )?;
        Ok(id)
    }

    /// (state, exit code) from ContainerStatus.
    fn status(&self, id: &str) -> Result<(ContainerState, i32), String> {
        let st = rpc!(
            self.cri,
            rs.container_status(ContainerStatusRequest {
                container_id: id.into(),
                verbose: false,
            })
        )?
        .status
        .ok_or("ContainerStatus: no status")?;
        let state = ContainerState::try_from(st.state).unwrap_or(ContainerState::ContainerUnknown);
        Ok((state, st.exit_code))
    }

    /// Waits for the container to exit; its exit code.
    fn wait_exited(&self, id: &str) -> Result<i32, String> {
        let mut last = Err(String::new());
        wait_until(Duration::from_secs(10), || {
            last = self.status(id);
            matches!(last, Ok((ContainerState::ContainerExited, _)))
        });
        match last? {
            (ContainerState::ContainerExited, code) => Ok(code),
            (state, _) => Err(format!("container {id} still {state:?} after 10 s")),
        }
    }

    /// ExecSync: (stdout, exit code).
    fn exec(&self, id: &str, cmd: &[&str]) -> Result<(String, i32), String> {
        let out = rpc!(
            self.cri,
            rs.exec_sync(ExecSyncRequest {
                container_id: id.into(),
                cmd: cmd.iter().map(|s| s.to_string()).collect(),
                timeout: 10,
            })
        )?;
        Ok((
            String::from_utf8_lossy(&out.stdout).into_owned(),
            out.exit_code,
        ))
    }

    fn exec_stdout(&self, id: &str, cmd: &[&str], want: &str) -> Result<(), String> {
        let (stdout, code) = self.exec(id, cmd)?;
        ensure(code == 0 && stdout.trim() == want, || {
            format!("{cmd:?}: exit code {code}, stdout {stdout:?}; want 0, {want:?}")
        })
    }

    fn remove_container(&self, id: &str) -> Result<(), String> {
        rpc!(
            self.cri,
            rs.remove_container(RemoveContainerRequest {
                container_id: id.into()
            })
        )?;
        self.cri.no_trace(id)
    }
}

/// The CRI log lines of a container that printed `want` (one line each):
/// `<RFC 3339 time> stdout F <line>`.
fn check_log(path: &Path, want: &[&str]) -> Result<(), String> {
    let mut content = String::new();
    // containerd's log copier writes the lines a moment after the process exits.
    wait_until(Duration::from_secs(5), || {
        content = fs::read_to_string(path).unwrap_or_default();
        content.lines().count() >= want.len() && content.ends_with('\n')
    });
    let got: Vec<Vec<&str>> = content
        .lines()
        .map(|l| l.splitn(4, ' ').collect())
        .collect();
    let ok = got.len() == want.len()
        && got.iter().zip(want).all(|(fields, text)| {
            fields.len() == 4
                && fields[0].len() >= 20
                && fields[0].as_bytes()[10] == b'T'
                && fields[1..] == ["stdout", "F", text]
        });
    ensure(ok, || {
        format!("{}: {content:?}, want {want:?}", path.display())
    })
}

/// Runs a pod in pid-namespace mode `pid` through every CRI operation that reaches the
/// runtime, and removes it.
fn pod_checks(cri: &Cri, c: &mut Checks, pid: NamespaceMode) {
    let mode = match pid {
        NamespaceMode::Pod => "pod",
        _ => "container",
    };
    let tag = |what: &str| format!("[pid {mode}] {what}");
    let log_dir = cri.dir.join(format!("logs-{mode}"));
    fs::create_dir_all(&log_dir).expect("mkdir log dir");
    let config = pod_config(cri, &format!("pod-{mode}"), pid, &log_dir);
    let started = Instant::now();
    let run = rpc!(
        cri,
        rs.run_pod_sandbox(RunPodSandboxRequest {
            config: Some(config.clone()),
            runtime_handler: HANDLER.into(),
        })
    );
    let id = match run {
        Ok(r) => r.pod_sandbox_id,
        Err(e) => {
            c.check(
                &tag("RunPodSandbox"),
                Err(format!("{e}\n{}", cri.log_tail(20))),
            );
            return;
        }
    };
    let pod = Pod {
        cri,
        id: id.clone(),
        config,
        log_dir,
        pid,
    };
    let ready = rpc!(
        cri,
        rs.pod_sandbox_status(PodSandboxStatusRequest {
            pod_sandbox_id: id.clone(),
            verbose: false,
        })
    )
    .and_then(|r| r.status.ok_or_else(|| "no status".to_string()))
    .and_then(|s| {
        ensure(s.state == PodSandboxState::SandboxReady as i32, || {
            format!("pod state {}", s.state)
        })
    });
    c.check(
        &tag("RunPodSandbox through the ongi handler (pod READY, in ongi's state root, under the cgroup parent)"),
        ready
            .and_then(|_| {
                ensure(cri.runtime_state(&id).is_dir(), || {
                    format!("{} missing", cri.runtime_state(&id).display())
                })
            })
            .and_then(|_| {
                ensure(!cri.cgroup_dirs(&id).is_empty(), || {
                    format!("no cgroup {}/{id}", cri.cgroup_parent)
                })
            }),
    );
    eprintln!("pod {mode} ready in {:?}", started.elapsed());

    // Output goes to the CRI log file, in the CRI log format.
    let hi = pod.start("hi", &["echo", "hi"]);
    c.check(
        &tag("container's output in its CRI log (log_directory/log_path)"),
        hi.clone()
            .and_then(|id| pod.wait_exited(&id))
            .and_then(|code| ensure(code == 0, || format!("exit code {code}")))
            .and_then(|_| check_log(&pod.log_dir.join("hi.log"), &["hi"])),
    );

    let exit7 = pod.start("exit7", &["sh", "-c", "exit 7"]);
    c.check(
        &tag("ContainerStatus exit code 7"),
        exit7
            .clone()
            .and_then(|id| pod.wait_exited(&id))
            .and_then(|code| ensure(code == 7, || format!("exit code {code}, want 7"))),
    );

    // What a pod spec commonly asks for: env, working dir, a read-only hostPath volume, a
    // non-root user, a read-only root filesystem, the runtime's default seccomp profile,
    // capabilities dropped but one, and an oom_score_adj.
    let host_dir = cri.dir.join(format!("volume-{mode}"));
    fs::create_dir_all(&host_dir).expect("mkdir volume");
    fs::write(host_dir.join("f"), "hostdata").expect("write volume file");
    let mut config = container_config(
        "features",
        &[
            "sh",
            "-c",
            "echo \"$FOO $(pwd) $(id -u) $(cat /data/f)\"; touch /x 2>/dev/null || echo ro; \
             grep -E '^(Seccomp|CapBnd):' /proc/self/status | tr -d ' \t'; \
             cat /proc/self/oom_score_adj",
        ],
        pid,
    );
    config.envs = vec![KeyValue {
        key: "FOO".into(),
        value: "bar".into(),
    }];
    config.working_dir = "/tmp".into();
    config.mounts = vec![Mount {
        container_path: "/data".into(),
        host_path: path_str(&host_dir).into(),
        readonly: true,
        ..Default::default()
    }];
    // kubelet sets oom_score_adj for every container (Burstable pods get 2..999); raising it
    // needs no privilege.
    if let Some(linux) = config.linux.as_mut() {
        linux.resources = Some(LinuxContainerResources {
            oom_score_adj: 500,
            ..Default::default()
        });
    }
    if let Some(sc) = config
        .linux
        .as_mut()
        .and_then(|l| l.security_context.as_mut())
    {
        sc.run_as_user = Some(Int64Value { value: 1000 });
        sc.readonly_rootfs = true;
        sc.seccomp = Some(SecurityProfile {
            profile_type: ProfileType::RuntimeDefault as i32,
            ..Default::default()
        });
        sc.capabilities = Some(Capability {
            drop_capabilities: vec!["ALL".into()],
            add_capabilities: vec!["NET_BIND_SERVICE".into()],
            ..Default::default()
        });
    }
    let features = pod.start_with(config);
    c.check(
        &tag(
            "env, working_dir, hostPath mount, run_as_user, readonly_rootfs, seccomp, capabilities",
        ),
        features
            .clone()
            .and_then(|id| pod.wait_exited(&id))
            .and_then(|code| ensure(code == 0, || format!("exit code {code}")))
            .and_then(|_| {
                check_log(
                    &pod.log_dir.join("features.log"),
                    &[
                        "bar /tmp 1000 hostdata",
                        "ro",
                        "CapBnd:0000000000000400",
                        "Seccomp:2",
                        "500",
                    ],
                )
            }),
    );

    // A terminal (kubectl run -t): the runtime hands the console to the shim.
    let mut config = container_config("tty", &["tty"], pid);
    config.tty = true;
    let tty = pod.start_with(config);
    c.check(
        &tag("container with a tty"),
        tty.clone()
            .and_then(|id| pod.wait_exited(&id))
            .and_then(|code| ensure(code == 0, || format!("exit code {code}")))
            .and_then(|_| {
                let log = fs::read_to_string(pod.log_dir.join("tty.log")).unwrap_or_default();
                ensure(log.contains(" stdout F /dev/pts/"), || {
                    format!("log {log:?}")
                })
            }),
    );

    let sleeper = pod.start("sleeper", &["sleep", "1000"]);
    let sl = sleeper.clone().unwrap_or_default();
    c.check(
        &tag("long-running container RUNNING, in ongi's state root"),
        sleeper
            .clone()
            .and_then(|id| pod.status(&id))
            .and_then(|(state, _)| {
                ensure(state == ContainerState::ContainerRunning, || {
                    format!("state {state:?}")
                })
            })
            .and_then(|_| {
                ensure(cri.runtime_state(&sl).is_dir(), || {
                    format!("{} missing", cri.runtime_state(&sl).display())
                })
            }),
    );
    c.check(
        &tag("ExecSync echo"),
        pod.exec_stdout(&sl, &["echo", "hi-exec"], "hi-exec"),
    );
    // The runtime's error reaches the client (the shim reads it from the runtime's --log).
    let missing = pod.exec(&sl, &["/nonexistent"]);
    c.check(
        &tag("ExecSync of a missing binary fails with the runtime's message"),
        match missing {
            Err(e) if e.contains("OCI runtime exec failed") && e.contains("/nonexistent") => Ok(()),
            other => Err(format!("{other:?}")),
        },
    );
    c.check(
        &tag("ExecSync exit code 3"),
        pod.exec(&sl, &["sh", "-c", "exit 3"])
            .and_then(|(_, code)| ensure(code == 3, || format!("exit code {code}, want 3"))),
    );
    // pid 1 is the container's own process, or with a shared pid namespace the pause one.
    let want_init = match pid {
        NamespaceMode::Pod => "sleep 2147483647",
        _ => "sleep 1000",
    };
    c.check(
        &tag(&format!("pid 1 seen from inside is `{want_init}`")),
        pod.exec_stdout(
            &sl,
            &["sh", "-c", "tr '\\0' ' ' < /proc/1/cmdline"],
            want_init,
        ),
    );

    let update = rpc!(
        cri,
        rs.update_container_resources(UpdateContainerResourcesRequest {
            container_id: sl.clone(),
            linux: Some(LinuxContainerResources {
                memory_limit_in_bytes: MIB64,
                ..Default::default()
            }),
            ..Default::default()
        })
    );
    c.check(
        &tag("UpdateContainerResources memory limit, seen from inside"),
        update.and_then(|_| {
            pod.exec_stdout(
                &sl,
                &["cat", "/sys/fs/cgroup/memory/memory.limit_in_bytes"],
                &MIB64.to_string(),
            )
        }),
    );

    let stats = rpc!(
        cri,
        rs.list_container_stats(ListContainerStatsRequest {
            filter: Some(ContainerStatsFilter {
                pod_sandbox_id: id.clone(),
                ..Default::default()
            }),
        })
    );
    c.check(
        &tag("ListContainerStats lists the running container, with memory usage"),
        stats.and_then(|s| {
            let found = s
                .stats
                .iter()
                .find(|st| st.attributes.as_ref().is_some_and(|a| a.id == sl));
            let mem = found
                .and_then(|st| st.memory.as_ref())
                .and_then(|m| m.working_set_bytes.as_ref())
                .map(|v| v.value);
            ensure(mem.is_some_and(|m| m > 0), || format!("stats: {s:?}"))
        }),
    );

    let list = rpc!(cri, rs.list_containers(ListContainersRequest::default()));
    c.check(
        &tag("ListContainers"),
        list.and_then(|l| {
            let ids: Vec<&str> = l
                .containers
                .iter()
                .filter(|x| x.pod_sandbox_id == id)
                .map(|x| x.id.as_str())
                .collect();
            let want = [&hi, &exit7, &features, &tty, &sleeper];
            ensure(
                ids.len() == want.len()
                    && want
                        .iter()
                        .all(|w| w.as_ref().is_ok_and(|w| ids.contains(&w.as_str()))),
                || format!("containers of the pod: {ids:?}"),
            )
        }),
    );

    // With its own pid namespace `sleep` is pid 1 and ignores SIGTERM: SIGKILL after the
    // timeout (137). Sharing the pod's, it is not pid 1 and SIGTERM kills it (143).
    let t0 = Instant::now();
    let stop = rpc!(
        cri,
        rs.stop_container(StopContainerRequest {
            container_id: sl.clone(),
            timeout: 1,
        })
    );
    let took = t0.elapsed();
    let want_code = match pid {
        NamespaceMode::Pod => 143,
        _ => 137,
    };
    c.check(
        &tag(&format!("StopContainer timeout 1: exit code {want_code}")),
        stop.and_then(|_| pod.status(&sl))
            .and_then(|(state, code)| {
                ensure(
                    state == ContainerState::ContainerExited
                        && code == want_code
                        && (code != 137 || took >= Duration::from_secs(1)),
                    || format!("state {state:?}, exit code {code} after {took:?}"),
                )
            }),
    );

    let mut removed = Ok(());
    for cid in [&hi, &exit7, &features, &tty, &sleeper]
        .into_iter()
        .flatten()
    {
        removed = removed.and_then(|_| pod.remove_container(cid));
    }
    c.check(
        &tag("RemoveContainer leaves no runtime state or cgroup"),
        removed,
    );

    let stop = rpc!(
        cri,
        rs.stop_pod_sandbox(StopPodSandboxRequest {
            pod_sandbox_id: id.clone()
        })
    );
    c.check(
        &tag("StopPodSandbox"),
        stop.and_then(|_| {
            rpc!(
                cri,
                rs.pod_sandbox_status(PodSandboxStatusRequest {
                    pod_sandbox_id: id.clone(),
                    verbose: false,
                })
            )
        })
        .and_then(|r| r.status.ok_or_else(|| "no status".to_string()))
        .and_then(|s| {
            ensure(s.state == PodSandboxState::SandboxNotready as i32, || {
                format!("pod state {}", s.state)
            })
        }),
    );
    let remove = rpc!(
        cri,
        rs.remove_pod_sandbox(RemovePodSandboxRequest {
            pod_sandbox_id: id.clone()
        })
    );
    c.check(
        &tag("RemovePodSandbox leaves no runtime state or cgroup"),
        remove.and_then(|_| cri.no_trace(&id)),
    );
    eprintln!("pod {mode} done in {:?}", started.elapsed());
}

#[test]
fn cri_runs_pods_through_the_runtime() {
    let started = Instant::now();
    let cri = Cri::start();
    eprintln!(
        "containerd with CRI up in {:?}; runtime {}; cgroup parent {}",
        started.elapsed(),
        cri.runtime.display(),
        cri.cgroup_parent
    );
    let mut c = Checks::default();
    let version = rpc!(cri, rs.version(VersionRequest::default()));
    c.check(
        "Version: containerd, CRI v1",
        version.and_then(|v| {
            ensure(
                v.runtime_name == "containerd" && v.runtime_api_version == "v1",
                || format!("{v:?}"),
            )
        }),
    );

    let images = build_images(&cri.dir);
    let import = cri
        .ctr(&["images", "import", path_str(&images)], call_timeout())
        .unwrap_or_else(|e| panic!("{e}"));
    import
        .check()
        .unwrap_or_else(|e| panic!("ctr images import: {e}"));
    // CRI learns of imported images through containerd's events.
    let mut last = String::new();
    let seen = wait_until(Duration::from_secs(10), || {
        [IMAGE, PAUSE_IMAGE].iter().all(|name| {
            let st = rpc!(
                cri,
                is.image_status(ImageStatusRequest {
                    image: Some(ImageSpec {
                        image: name.to_string(),
                        ..Default::default()
                    }),
                    verbose: false,
                })
            );
            last = format!("{name}: {st:?}");
            st.is_ok_and(|s| s.image.is_some())
        })
    });
    assert!(seen, "CRI does not see the imported images: {last}");

    pod_checks(&cri, &mut c, NamespaceMode::Container);
    pod_checks(&cri, &mut c, NamespaceMode::Pod);

    // The control: without a handler the default runtime (/bin/false) is used and fails,
    // so the pods above did not run on something else.
    let log_dir = cri.dir.join("logs-bogus");
    let _ = fs::create_dir_all(&log_dir);
    let bogus = rpc!(
        cri,
        rs.run_pod_sandbox(RunPodSandboxRequest {
            config: Some(pod_config(
                &cri,
                "pod-bogus",
                NamespaceMode::Container,
                &log_dir
            )),
            runtime_handler: String::new(),
        })
    );
    c.check(
        "a pod without runtime_handler fails (default runtime /bin/false)",
        match bogus {
            Ok(r) => Err(format!("pod {} started", r.pod_sandbox_id)),
            Err(_) => Ok(()),
        },
    );

    eprintln!(
        "CRI checks: {} passed, {} failed, in {:?}",
        c.passed,
        c.failed.len(),
        started.elapsed()
    );
    if !c.failed.is_empty() || std::env::var_os("CRI_DEBUG_LOG").is_some() {
        eprintln!(
            "containerd log (warnings and errors, with the shim's):\n{}",
            cri.log_tail(40)
        );
    }
    let t = Instant::now();
    drop(cri);
    eprintln!("teardown in {:?}", t.elapsed());
    assert!(
        c.failed.is_empty(),
        "failed checks:\n{}",
        c.failed.join("\n")
    );
}
