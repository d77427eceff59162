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

use common::clients::containerd::{call_timeout, cleanup_timeout, config, Daemon, START_TIMEOUT};
use common::clients::image::oci_archive;
use common::clients::*;
use common::{path_str, wait_until};
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
use std::cell::Cell;
use std::fs;
use std::future::Future;
use std::path::{Path, PathBuf};

use std::time::{Duration, Instant};
use tonic::transport::{Channel, Endpoint, Uri};

/// The images the test builds and imports (no registry involved).
const IMAGE: &str = "localhost/ongi-busybox:latest";
const PAUSE_IMAGE: &str = "localhost/ongi-pause:latest";
/// containerd namespace of everything CRI does.
const CRI_NS: &str = "k8s.io";
/// Runtime handler of ongi in containerd's config (what a RuntimeClass names).
const HANDLER: &str = "ongi";
const MIB64: i64 = 64 << 20;

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

/// A private containerd with the CRI plugin and a client of it. Dropping it removes the
/// test's pods through CRI; the [`Daemon`] then tears down the rest.
struct Cri {
    d: Daemon,
    dir: PathBuf,
    /// Cgroup parent of the test's pods (`LinuxPodSandboxConfig.cgroup_parent`).
    cgroup_parent: String,
    runtime: PathBuf,
    /// Set while tearing down: a time-out then only gets reported.
    tearing_down: Cell<bool>,
    tokio: tokio::runtime::Runtime,
    rs: Option<RuntimeServiceClient<Channel>>,
    is: Option<ImageServiceClient<Channel>>,
}

impl Cri {
    fn start() -> Self {
        let cgroup_parent = format!("/ongi-cri-{}", std::process::id());
        let d = Daemon::start("cri", &cgroup_parent, |d, rt| {
            let cri_plugin = r#"plugins."io.containerd.grpc.v1.cri""#;
            config(
                d,
                "",
                &format!(
                    r#"  [{cri_plugin}]
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
                ),
            )
        });
        let tokio = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .expect("tokio runtime");
        let sock = d.socket();
        let mut cri = Cri {
            dir: d.dir.clone(),
            runtime: d.runtime.clone(),
            d,
            cgroup_parent,
            tearing_down: Cell::new(false),
            tokio,
            rs: None,
            is: None,
        };
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

    fn ctr(&self, args: &[&str], timeout: Duration) -> Result<Out, String> {
        self.d.try_ctr(CRI_NS, args, timeout)
    }

    /// ongi's state directory of container `id` (the shim adds the namespace to `Root`).
    fn runtime_state(&self, id: &str) -> PathBuf {
        self.dir.join("ongi-root").join(CRI_NS).join(id)
    }

    /// Cgroup directories of container `id` (cgroupsPath `<cgroup parent>/<id>`) that exist.
    fn cgroup_dirs(&self, id: &str) -> Vec<PathBuf> {
        cgroup_dirs(&format!("{}/{id}", self.cgroup_parent))
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
        self.d.log_tail(n)
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
}

impl Drop for Cri {
    fn drop(&mut self) {
        self.tearing_down.set(true);
        if self.d.is_running() {
            self.remove_pods();
        }
        // The client's connection goes first, so nothing waits on a dead socket.
        self.rs = None;
        self.is = None;
    }
}

// ---------------------------------------------------------------------------
// The test
// ---------------------------------------------------------------------------

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
            c.check_result(
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
    c.check_result(
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
    c.check_result(
        &tag("container's output in its CRI log (log_directory/log_path)"),
        hi.clone()
            .and_then(|id| pod.wait_exited(&id))
            .and_then(|code| ensure(code == 0, || format!("exit code {code}")))
            .and_then(|_| check_log(&pod.log_dir.join("hi.log"), &["hi"])),
    );

    let exit7 = pod.start("exit7", &["sh", "-c", "exit 7"]);
    c.check_result(
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
    c.check_result(
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
    c.check_result(
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
    c.check_result(
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
    c.check_result(
        &tag("ExecSync echo"),
        pod.exec_stdout(&sl, &["echo", "hi-exec"], "hi-exec"),
    );
    // The runtime's error reaches the client (the shim reads it from the runtime's --log).
    let missing = pod.exec(&sl, &["/nonexistent"]);
    c.check_result(
        &tag("ExecSync of a missing binary fails with the runtime's message"),
        match missing {
            Err(e) if e.contains("OCI runtime exec failed") && e.contains("/nonexistent") => Ok(()),
            other => Err(format!("{other:?}")),
        },
    );
    c.check_result(
        &tag("ExecSync exit code 3"),
        pod.exec(&sl, &["sh", "-c", "exit 3"])
            .and_then(|(_, code)| ensure(code == 3, || format!("exit code {code}, want 3"))),
    );
    // pid 1 is the container's own process, or with a shared pid namespace the pause one.
    let want_init = match pid {
        NamespaceMode::Pod => "sleep 2147483647",
        _ => "sleep 1000",
    };
    c.check_result(
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
    c.check_result(
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
    c.check_result(
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
    c.check_result(
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
    c.check_result(
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
    c.check_result(
        &tag("RemoveContainer leaves no runtime state or cgroup"),
        removed,
    );

    let stop = rpc!(
        cri,
        rs.stop_pod_sandbox(StopPodSandboxRequest {
            pod_sandbox_id: id.clone()
        })
    );
    c.check_result(
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
    c.check_result(
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
    let mut c = Checks::new("CRI");
    let version = rpc!(cri, rs.version(VersionRequest::default()));
    c.check_result(
        "Version: containerd, CRI v1",
        version.and_then(|v| {
            ensure(
                v.runtime_name == "containerd" && v.runtime_api_version == "v1",
                || format!("{v:?}"),
            )
        }),
    );

    let images = oci_archive(
        &cri.dir,
        "images.tar",
        &[
            (IMAGE, &["/bin/sh"]),
            (PAUSE_IMAGE, &["sleep", "2147483647"]),
        ],
    );
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
    c.check_result(
        "a pod without runtime_handler fails (default runtime /bin/false)",
        match bogus {
            Ok(r) => Err(format!("pod {} started", r.pod_sandbox_id)),
            Err(_) => Ok(()),
        },
    );

    eprintln!("CRI checks done in {:?}", started.elapsed());
    let log = format!(
        "containerd log (warnings and errors, with the shim's):\n{}",
        cri.log_tail(40)
    );
    if std::env::var_os("CRI_DEBUG_LOG").is_some() {
        eprintln!("{log}");
    }
    let t = Instant::now();
    drop(cri);
    eprintln!("teardown in {:?}", t.elapsed());
    c.finish(|| log);
}
