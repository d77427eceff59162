//! The lifecycle API: create, start, state, kill, delete, list, run. The CLI is a thin layer
//! over these functions; a Rust program can call them directly.

use crate::cgroups;
use crate::channel::{self, FromInit, ToInit};
use crate::hooks;
use crate::namespaces::Namespaces;
use crate::process::{spawn::spawn, InitConfig};
use crate::spec::Bundle;
use crate::state::{self, OciState, Persisted, StateDir, Status, OCI_VERSION};
use crate::Error;
use nix::errno::Errno;
use nix::sys::signal::{kill as send_signal, Signal};
use nix::sys::wait::{waitpid, WaitStatus};
use nix::unistd::Pid;
use std::os::fd::AsFd;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

/// Options of `create` (and `run`), as runc's flags.
#[derive(Debug, Clone, Default)]
pub struct CreateOptions {
    /// The bundle directory (config.json and, by default, rootfs/).
    pub bundle: PathBuf,
    /// Where to write init's host pid (`--pid-file`).
    pub pid_file: Option<PathBuf>,
    /// Unix socket the pty master is sent to when process.terminal is set
    /// (`--console-socket`).
    pub console_socket: Option<PathBuf>,
    /// Uses MS_MOVE and chroot instead of pivot_root (`--no-pivot`).
    pub no_pivot: bool,
    /// Keeps the caller's session keyring instead of a new one (`--no-new-keyring`).
    pub no_new_keyring: bool,
    /// How many fds above 2 init passes to the user process (`--preserve-fds`).
    pub preserve_fds: u32,
}

/// A handle on a container in a runtime root.
#[derive(Debug, Clone)]
pub struct Container {
    /// The runtime root holding the container's state directory.
    pub root: PathBuf,
    /// The container's id.
    pub id: String,
}

const DEFAULT_ROOT: &str = "/run/ongi";

/// The runtime root the `ongi` command line uses by default (`/run/ongi`).
pub fn default_root() -> PathBuf {
    PathBuf::from(DEFAULT_ROOT)
}

pub(crate) fn status_of(sd: &StateDir, st: &Persisted) -> Status {
    if st.pid <= 0 {
        return Status::Creating;
    }
    if !state::process_alive(st.pid, st.pid_start) {
        return Status::Stopped;
    }
    if cgroups::frozen(&st.cgroup_dirs) {
        return Status::Paused;
    }
    if sd.fifo().exists() {
        Status::Created
    } else {
        Status::Running
    }
}

pub(crate) fn oci_state(sd: &StateDir, st: &Persisted) -> OciState {
    with_status(st, status_of(sd, st))
}

/// The state right after a successful create: nothing to probe.
fn created_state(st: &Persisted) -> OciState {
    with_status(st, Status::Created)
}

fn with_status(st: &Persisted, status: Status) -> OciState {
    OciState {
        oci_version: OCI_VERSION.to_string(),
        id: st.id.clone(),
        pid: if status == Status::Stopped { 0 } else { st.pid },
        status,
        bundle: st.bundle.clone(),
        rootfs: st.rootfs.clone(),
        created: st.created.clone(),
        owner: String::new(),
        annotations: st.annotations.clone(),
    }
}

/// What `create` checks about a bundle before it makes anything, first half (before the
/// state directory exists): config.json loaded and validated, namespaces and time offsets,
/// sysctl keys (a key that would reach the host fails here). Shared with
/// [`crate::spec::check_bundle`], so the two cannot drift apart.
pub(crate) fn check_config(
    dir: &Path,
) -> Result<(Bundle, Namespaces, Vec<crate::sysctl::Sysctl>), Error> {
    let bundle = Bundle::load(dir)?;
    let linux = bundle.spec.linux().as_ref();
    let namespaces = Namespaces::from_spec(
        linux
            .and_then(|l| l.namespaces().as_deref())
            .unwrap_or_default(),
    )?
    .with_time_offsets(linux.and_then(|l| l.time_offsets().as_ref()))?;
    let sysctl = crate::sysctl::check(linux.and_then(|l| l.sysctl().as_ref()), &namespaces)?;
    Ok((bundle, namespaces, sysctl))
}

/// Second half (once the state directory exists, still before any process or cgroup): the
/// seccomp profile compiled (reusing the cache under `cache_root` when given; no work
/// without linux.seccomp), settings this host cannot honour, init's process attributes.
/// A failure leaves the caller only the state directory to remove.
pub(crate) fn check_init_config(
    spec: &oci_spec::runtime::Spec,
    cache_root: Option<&Path>,
) -> Result<
    (
        Option<crate::seccomp::Program>,
        crate::process::attrs::Attrs,
    ),
    Error,
> {
    let seccomp = match cache_root {
        Some(root) => crate::seccomp::from_spec_cached(spec, root)?,
        None => crate::seccomp::from_spec(spec)?,
    };
    crate::process::attrs::check_unsupported(spec)?;
    let attrs = crate::process::attrs::Attrs::for_init(spec)?;
    Ok((seccomp, attrs))
}

impl Container {
    /// A handle on the container `id` under `root`; nothing is read or made yet.
    pub fn new(root: impl Into<PathBuf>, id: impl Into<String>) -> Self {
        Container {
            root: root.into(),
            id: id.into(),
        }
    }

    /// Sets up the container and leaves init waiting for `start`. On any error nothing is
    /// left behind: no process, cgroup or state directory.
    pub fn create(&self, opts: &CreateOptions) -> Result<OciState, Error> {
        self.create_locked(opts).map(|(_sd, st)| created_state(&st))
    }

    /// `create`, returning the still locked state dir and what was saved in it, so `run`
    /// goes on to start without loading and re-deriving what it just wrote.
    fn create_locked(&self, opts: &CreateOptions) -> Result<(StateDir, Persisted), Error> {
        // The new process is a clone of us: see crate::caller.
        crate::caller::check()?;
        let (bundle, namespaces, sysctl) = check_config(&opts.bundle)?;
        let linux = bundle.spec.linux().clone().unwrap_or_default();
        let terminal = bundle
            .spec
            .process()
            .as_ref()
            .and_then(|p| p.terminal())
            .unwrap_or(false);
        let console = match (&opts.console_socket, terminal) {
            (Some(p), true) => Some(crate::console::connect(p)?),
            (None, true) => return Err(crate::console::ConsoleError::NoSocket.into()),
            _ => None,
        };
        let mut sd = StateDir::create(&self.root, &self.id)?;
        state::pause_point("create:dir");
        let cgroup_dirs = cgroups::dirs_for(linux.cgroups_path().as_deref(), &self.id);
        let mut st = Persisted {
            id: self.id.clone(),
            pid: 0,
            pid_start: 0,
            bundle: bundle.path.clone(),
            rootfs: bundle.rootfs.clone(),
            created: state::rfc3339_now(),
            annotations: bundle.spec.annotations().clone().unwrap_or_default(),
            // A cgroup that already holds processes (a pod's) is joined, never emptied
            // or removed by us.
            cgroup_shared: cgroups::in_use(&cgroup_dirs),
            cgroup_dirs,
            hooks: bundle.spec.hooks().clone(),
            seccomp: bundle
                .spec
                .linux()
                .as_ref()
                .and_then(|l| l.seccomp().clone()),
            personality: None,
        };
        // Written before anything else exists, so `delete --force` can find the cgroups of
        // a create that was killed half-way; the id is taken when this succeeds.
        if let Err(e) = sd
            .save(&st)
            .and_then(|()| sd.make_fifo())
            .and_then(|()| sd.publish())
        {
            let _ = sd.remove();
            return Err(e.into());
        }
        state::pause_point("create:state");
        let r = self.create_in(&sd, &mut st, bundle, (namespaces, sysctl), console, opts);
        match r {
            Ok(()) => Ok((sd, st)),
            Err(e) => {
                // Best effort: the original error is what the user needs to see.
                if st.pid > 0 {
                    let _ = send_signal(Pid::from_raw(st.pid), Signal::SIGKILL);
                    let _ = waitpid(Pid::from_raw(st.pid), None);
                }
                if st.cgroup_shared {
                    cgroups::remove_empty(&st.cgroup_dirs);
                } else {
                    let _ = cgroups::remove(&st.cgroup_dirs);
                }
                // runtime-spec lifecycle: a create that fails (e.g. in a hook) destroys the
                // container and continues with poststop hooks, as runc does.
                if let Some(h) = st.hooks.as_ref().and_then(|h| h.poststop().clone()) {
                    let s = OciState {
                        status: Status::Stopped,
                        ..oci_state(&sd, &st)
                    };
                    let _ = hooks::run_all_continue("poststop", &h, &s);
                }
                let _ = sd.remove();
                Err(e)
            }
        }
    }

    fn create_in(
        &self,
        sd: &StateDir,
        st: &mut Persisted,
        bundle: Bundle,
        // Checked together: the sysctl keys were accepted for exactly these namespaces.
        (namespaces, sysctl): (Namespaces, Vec<crate::sysctl::Sysctl>),
        console: Option<std::os::fd::OwnedFd>,
        opts: &CreateOptions,
    ) -> Result<(), Error> {
        let (seccomp, attrs) = check_init_config(&bundle.spec, Some(&self.root))?;
        st.personality = attrs.personality;
        cgroups::create_dirs(&st.cgroup_dirs)?;
        // Limits are in place before init is cloned into or joins the cgroup (Placement below),
        // so the user process never runs unlimited.
        if let Some(linux) = bundle.spec.linux() {
            let none = oci_spec::runtime::LinuxResources::default();
            cgroups::apply_create(
                &st.cgroup_dirs,
                linux.resources().as_ref().unwrap_or(&none),
                linux.devices().as_deref().unwrap_or_default(),
            )?;
        }
        let state_dir = nix::fcntl::open(
            &sd.dir,
            nix::fcntl::OFlag::O_PATH
                | nix::fcntl::OFlag::O_DIRECTORY
                | nix::fcntl::OFlag::O_CLOEXEC,
            nix::sys::stat::Mode::empty(),
        )
        .map_err(|errno| crate::state::StateError::Sys {
            path: sd.dir.clone(),
            op: "open",
            errno,
        })?;
        let mut creating = OciState {
            status: Status::Creating,
            ..oci_state(sd, st)
        };
        // Init can only write host cgroup files itself with host credentials.
        let fast = !namespaces.has(nix::sched::CloneFlags::CLONE_NEWUSER);
        let placement = cgroups::placement(&st.cgroup_dirs, fast);
        let cfg = InitConfig {
            hook_state: serde_json::to_vec(&creating).unwrap_or_default(),
            spec: bundle.spec,
            bundle: bundle.path,
            rootfs: bundle.rootfs,
            namespaces,
            state_dir,
            console,
            no_pivot: opts.no_pivot,
            session_keyring: (!opts.no_new_keyring).then(|| format!("_ses.{}", self.id)),
            preserve_fds: opts.preserve_fds,
            seccomp,
            cgroup_into_fd: placement.clone_into.as_ref().and_then(|d| open_dir(d).ok()),
            cgroup: placement,
            cloned_into_cgroup: std::cell::Cell::new(false),
            attrs,
            sysctl,
        };
        let (parent, child) = channel::pair()?;
        let pid = spawn(&cfg, &parent, child)?;
        st.pid = pid.as_raw();
        st.pid_start = state::proc_stat(st.pid).map(|s| s.1).unwrap_or(0);
        sd.save(st)?;
        creating.pid = st.pid;
        state::pause_point("create:spawned");

        if let Some(linux) = cfg.spec.linux() {
            if cfg
                .namespaces
                .new
                .contains(nix::sched::CloneFlags::CLONE_NEWUSER)
            {
                write_id_map(st.pid, "uid_map", linux.uid_mappings().as_deref())?;
                write_id_map(st.pid, "gid_map", linux.gid_mappings().as_deref())?;
            }
        }
        let mut by_runtime = cfg.cgroup.by_runtime.clone();
        if !cfg.cloned_into_cgroup.get() {
            by_runtime.extend(cfg.cgroup.clone_into.iter().cloned());
        }
        cgroups::add_pid(&by_runtime, st.pid)?;
        parent.send(ToInit::Go)?;
        loop {
            match parent.recv() {
                Ok(FromInit::Hooks) => {
                    let h = cfg.spec.hooks().clone().unwrap_or_default();
                    hooks::run_all(
                        "prestart",
                        h.prestart().as_deref().unwrap_or_default(),
                        &creating,
                    )?;
                    hooks::run_all(
                        "createRuntime",
                        h.create_runtime().as_deref().unwrap_or_default(),
                        &creating,
                    )?;
                    parent.send(ToInit::HooksDone)?;
                }
                Ok(FromInit::SeccompFd(fd)) => {
                    let sc = linux_seccomp(&cfg.spec);
                    let state = crate::seccomp::process_state(
                        st.pid,
                        sc.and_then(|s| s.listener_metadata().as_deref()),
                        &creating,
                    );
                    let path = sc.and_then(|s| s.listener_path().as_deref());
                    let path = path.unwrap_or(Path::new(""));
                    crate::seccomp::send_to_listener(path, &state, fd.as_fd())?;
                    parent.send(ToInit::SeccompDone)?;
                }
                Ok(FromInit::Rlimits) => {
                    crate::process::set_rlimits(&parent, st.pid, cfg.spec.process().as_ref())?;
                }
                Ok(FromInit::Ready) => {
                    state::pause_point("create:ready");
                    break;
                }
                Ok(FromInit::Error(msg)) => return Err(Error::Init(msg)),
                Ok(other) => return Err(Error::Init(format!("unexpected message {other:?}"))),
                Err(channel::ChannelError::Closed) => {
                    let seccomp = cfg.seccomp.is_some();
                    let (why, reaped) = crate::process::setup_exit_reason(st.pid, seccomp);
                    if reaped {
                        // Gone for good: the cleanup must not signal a pid that may be reused.
                        st.pid = 0;
                    }
                    return Err(Error::Init(why));
                }
                Err(e) => return Err(e.into()),
            }
        }
        if let Some(pf) = &opts.pid_file {
            write_pid_file(pf, st.pid)?;
        }
        Ok(())
    }

    /// Lets init exec the user program (opens the exec fifo), then runs poststart hooks.
    pub fn start(&self) -> Result<(), Error> {
        let sd = StateDir::open(&self.root, &self.id)?;
        let st = sd
            .load()?
            .ok_or_else(|| Error::NotCreated(self.id.clone()))?;
        match status_of(&sd, &st) {
            Status::Created => {}
            Status::Stopped => {
                return Err(Error::BadStatus(
                    "cannot start a container that has stopped".into(),
                ))
            }
            Status::Running | Status::Paused => {
                return Err(Error::BadStatus(
                    "cannot start an already running container".into(),
                ))
            }
            Status::Creating => return Err(Error::NotCreated(self.id.clone())),
        }
        state::pause_point("start:locked");
        match start_created(&sd, &st)? {
            // Started; only poststart hooks failed (runtime-spec lifecycle step 9).
            Some(w) => Err(Error::Warning(w)),
            None => Ok(()),
        }
    }

    /// The container's runtime-spec state, its status derived now.
    pub fn state(&self) -> Result<OciState, Error> {
        let sd = StateDir::open(&self.root, &self.id)?;
        match sd.load()? {
            Some(st) => Ok(oci_state(&sd, &st)),
            None => Err(Error::NotCreated(self.id.clone())),
        }
    }

    /// Sends `sig` to init, or with `all` to every process in the container's cgroup.
    pub fn kill(&self, sig: Signal, all: bool) -> Result<(), Error> {
        let sd = StateDir::open(&self.root, &self.id)?;
        let st = sd
            .load()?
            .ok_or_else(|| Error::NotCreated(self.id.clone()))?;
        let status = status_of(&sd, &st);
        // A v1-frozen task acts on no signal, not even SIGKILL, until thawed. Callers that
        // SIGKILL a paused container wait for it to exit (containerd's `task kill` and
        // `task delete --force`, CRI's StopContainer), so, as runc, SIGKILL thaws the cgroup
        // once sent (nothing runs user code before dying); other signals wait for `resume`.
        let thaw_after = status == Status::Paused && sig == Signal::SIGKILL;
        if all {
            let mut pids = cgroups::pids(&st.cgroup_dirs).unwrap_or_default();
            if status != Status::Stopped && !pids.contains(&st.pid) {
                pids.push(st.pid);
            }
            for p in pids {
                let _ = send_signal(Pid::from_raw(p), sig);
            }
            if thaw_after {
                cgroups::thaw(&st.cgroup_dirs);
            }
            return Ok(());
        }
        if status == Status::Stopped || status == Status::Creating {
            return Err(Error::NotRunning);
        }
        send_signal(Pid::from_raw(st.pid), sig).map_err(|errno| match errno {
            Errno::ESRCH => Error::NotRunning,
            e => Error::Signal {
                pid: st.pid,
                errno: e,
            },
        })?;
        if thaw_after {
            cgroups::thaw(&st.cgroup_dirs);
        }
        Ok(())
    }

    /// Removes the container. A running one needs `force` (it is then SIGKILLed); a created
    /// one is killed as in runc. With `force` a missing container is not an error.
    pub fn delete(&self, force: bool) -> Result<(), Error> {
        self.delete_inner(force, Reaped::No)
    }

    fn delete_inner(&self, force: bool, reaped: Reaped) -> Result<(), Error> {
        // What killed commands left under the root goes with any delete.
        state::sweep_leftovers(&self.root);
        let sd = match StateDir::open(&self.root, &self.id) {
            Ok(sd) => sd,
            Err(crate::state::StateError::NotExist(_)) if force => return Ok(()),
            Err(e) => return Err(e.into()),
        };
        let Some(st) = sd.load()? else {
            sd.remove()?;
            return Ok(());
        };
        // `run` reaped init itself: the container is stopped, no need to probe /proc.
        let status = match reaped {
            Reaped::Yes if st.pid > 0 => Status::Stopped,
            _ => status_of(&sd, &st),
        };
        state::pause_point("delete:locked");
        match status {
            Status::Stopped => {}
            Status::Created | Status::Creating => kill_and_wait(&st)?,
            Status::Running if force => kill_and_wait(&st)?,
            Status::Paused if force => {
                // A v1-frozen task does not die of SIGKILL until thawed: signal first (so
                // nothing runs user code after the thaw), then thaw, then wait.
                let _ = send_signal(Pid::from_raw(st.pid), Signal::SIGKILL);
                cgroups::thaw(&st.cgroup_dirs);
                kill_and_wait(&st)?
            }
            Status::Running | Status::Paused => {
                return Err(Error::BadStatus(format!(
                    "cannot delete container {} that is not stopped: {status}",
                    self.id
                )))
            }
        }
        state::pause_point("delete:killed");
        // Stray processes (e.g. from a forked daemon) would keep the cgroup busy. A shared
        // (pod) cgroup holds other containers' processes: it is left alone.
        let cg = if st.cgroup_shared {
            cgroups::remove_empty(&st.cgroup_dirs);
            Ok(())
        } else {
            if let Ok(pids) = cgroups::pids(&st.cgroup_dirs) {
                for p in pids {
                    let _ = send_signal(Pid::from_raw(p), Signal::SIGKILL);
                }
            }
            cgroups::thaw(&st.cgroup_dirs);
            cgroups::remove(&st.cgroup_dirs)
        };
        let poststop = st
            .hooks
            .as_ref()
            .and_then(|h| h.poststop().clone())
            .map(|h| {
                let mut s = oci_state(&sd, &st);
                s.status = Status::Stopped;
                hooks::run_all_continue("poststop", &h, &s)
            })
            .unwrap_or_default();
        state::pause_point("delete:removing");
        sd.remove()?;
        cg?;
        // runtime-spec: a failing poststop hook is logged, the delete still succeeds.
        if !poststop.is_empty() {
            let msgs: Vec<String> = poststop.iter().map(|e| e.to_string()).collect();
            return Err(Error::Warning(msgs.join("; ")));
        }
        Ok(())
    }
}

/// Lets the init of a created container exec the user program (opens the exec fifo), then
/// runs poststart hooks. The caller holds the state dir lock and has checked the status.
/// Returns the failures of poststart hooks, which are only warnings.
fn start_created(sd: &StateDir, st: &Persisted) -> Result<Option<String>, Error> {
    let fifo = sd.fifo();
    let f = nix::fcntl::open(
        &fifo,
        nix::fcntl::OFlag::O_RDONLY | nix::fcntl::OFlag::O_NONBLOCK | nix::fcntl::OFlag::O_CLOEXEC,
        nix::sys::stat::Mode::empty(),
    )
    .map_err(|errno| Error::Fifo {
        path: fifo.clone(),
        errno,
    })?;
    loop {
        let mut fds = [nix::poll::PollFd::new(
            f.as_fd(),
            nix::poll::PollFlags::POLLIN,
        )];
        match nix::poll::poll(&mut fds, nix::poll::PollTimeout::from(100u16)) {
            Ok(0) => {
                if !state::process_alive(st.pid, st.pid_start) {
                    return Err(Error::BadStatus(
                        "cannot start a container that has stopped".into(),
                    ));
                }
            }
            Ok(_) => {
                // "0", or "E" + the error of a failed startContainer hook (one write
                // below PIPE_BUF, so one read gets it whole).
                let mut b = [0u8; 4096];
                match nix::unistd::read(&f, &mut b) {
                    Ok(n) if n > 0 && b[0] == b'E' => {
                        let msg = String::from_utf8_lossy(&b[1..n]).into_owned();
                        let _ = kill_and_wait(st);
                        return Err(Error::Init(msg));
                    }
                    Ok(n) if n > 0 => break,
                    Ok(_) | Err(Errno::EAGAIN) => {
                        if !state::process_alive(st.pid, st.pid_start) {
                            return Err(Error::BadStatus(
                                "cannot start a container that has stopped".into(),
                            ));
                        }
                        std::thread::sleep(Duration::from_millis(1));
                    }
                    Err(errno) => {
                        return Err(Error::Fifo {
                            path: fifo.clone(),
                            errno,
                        })
                    }
                }
            }
            Err(Errno::EINTR) => {}
            Err(errno) => {
                return Err(Error::Fifo {
                    path: fifo.clone(),
                    errno,
                })
            }
        }
    }
    state::pause_point("start:released");
    let _ = std::fs::remove_file(&fifo);
    wait_exec(&f, st);
    if let Some(h) = st.hooks.as_ref().and_then(|h| h.poststart().clone()) {
        // The user process was executed: that is the state poststart is about, even if
        // the process has already exited by now.
        let s = OciState {
            status: Status::Running,
            pid: st.pid,
            ..oci_state(sd, st)
        };
        // runtime-spec lifecycle step 9: "If any poststart hook fails, the runtime MUST log
        // a warning, but the remaining hooks and lifecycle continue as if the hook had
        // succeeded."
        let failed = hooks::run_all_continue("poststart", &h, &s);
        if !failed.is_empty() {
            let msgs: Vec<String> = failed.iter().map(|e| e.to_string()).collect();
            return Ok(Some(msgs.join("; ")));
        }
    }
    Ok(None)
}

impl Container {
    /// Loads the persisted state and the derived status.
    fn load(&self) -> Result<(StateDir, Persisted, Status), Error> {
        let sd = StateDir::open(&self.root, &self.id)?;
        let st = sd
            .load()?
            .ok_or_else(|| Error::NotCreated(self.id.clone()))?;
        let status = status_of(&sd, &st);
        Ok((sd, st, status))
    }

    /// Freezes every process of the container (runc `pause`): created or running only.
    pub fn pause(&self) -> Result<(), Error> {
        let (_sd, st, status) = self.load()?;
        match status {
            Status::Running | Status::Created => Ok(cgroups::manager(&st.cgroup_dirs).freeze()?),
            _ => Err(Error::NotRunning),
        }
    }

    /// Thaws a paused container (runc `resume`).
    pub fn resume(&self) -> Result<(), Error> {
        let (_sd, st, status) = self.load()?;
        if status != Status::Paused {
            return Err(Error::NotPaused);
        }
        Ok(cgroups::manager(&st.cgroup_dirs).thaw()?)
    }

    /// Applies the set fields of `r` to the live container's cgroup (runc `update`);
    /// device rules are not changed.
    pub fn update(&self, r: &oci_spec::runtime::LinuxResources) -> Result<(), Error> {
        let (_sd, st, status) = self.load()?;
        if matches!(status, Status::Stopped | Status::Creating) {
            return Err(Error::NotRunning);
        }
        Ok(cgroups::update(&st.cgroup_dirs, r)?)
    }

    /// Resource usage of the container's cgroup (the data of runc's `events --stats`).
    pub fn stats(&self) -> Result<cgroups::Stats, Error> {
        let (_sd, st, status) = self.load()?;
        if matches!(status, Status::Stopped | Status::Creating) {
            return Err(Error::NotRunning);
        }
        Ok(cgroups::manager(&st.cgroup_dirs).stats()?)
    }

    /// How many processes the OOM killer has killed in the container so far; `events`
    /// reports an `oom` event when it grows.
    pub fn oom_kills(&self) -> Result<u64, Error> {
        let (_sd, st, status) = self.load()?;
        if status == Status::Stopped {
            return Err(Error::NotRunning);
        }
        Ok(cgroups::manager(&st.cgroup_dirs).oom_kills())
    }
}

fn linux_seccomp(spec: &oci_spec::runtime::Spec) -> Option<&oci_spec::runtime::LinuxSeccomp> {
    spec.linux().as_ref().and_then(|l| l.seccomp().as_ref())
}

/// After init's byte on the exec fifo: waits for EOF, i.e. for init's write end to be closed
/// by its execve (O_CLOEXEC) or by its death, so poststart hooks run after the user process
/// was executed and never race with startContainer hooks.
fn wait_exec(f: &std::os::fd::OwnedFd, st: &Persisted) {
    let mut b = [0u8; 16];
    loop {
        match nix::unistd::read(f, &mut b) {
            Ok(0) => return,
            Ok(_) | Err(Errno::EINTR) => continue,
            Err(Errno::EAGAIN) => {
                if !state::process_alive(st.pid, st.pid_start) {
                    return;
                }
                let mut fds = [nix::poll::PollFd::new(
                    f.as_fd(),
                    nix::poll::PollFlags::POLLIN,
                )];
                let _ = nix::poll::poll(&mut fds, nix::poll::PollTimeout::from(100u16));
            }
            Err(_) => return,
        }
    }
}

fn open_dir(d: &Path) -> nix::Result<std::os::fd::OwnedFd> {
    nix::fcntl::open(
        d,
        nix::fcntl::OFlag::O_RDONLY | nix::fcntl::OFlag::O_DIRECTORY | nix::fcntl::OFlag::O_CLOEXEC,
        nix::sys::stat::Mode::empty(),
    )
}

fn kill_and_wait(st: &Persisted) -> Result<(), Error> {
    if st.pid <= 0 || !state::process_alive(st.pid, st.pid_start) {
        return Ok(());
    }
    let pidfd = crate::sys::pidfd_open(st.pid).ok();
    let _ = send_signal(Pid::from_raw(st.pid), Signal::SIGKILL);
    let deadline = Instant::now() + Duration::from_secs(10);
    if let Some(fd) = pidfd {
        let mut fds = [nix::poll::PollFd::new(
            fd.as_fd(),
            nix::poll::PollFlags::POLLIN,
        )];
        let _ = nix::poll::poll(&mut fds, nix::poll::PollTimeout::from(10_000u16));
    }
    while state::process_alive(st.pid, st.pid_start) {
        if Instant::now() > deadline {
            return Err(Error::Signal {
                pid: st.pid,
                errno: Errno::ETIMEDOUT,
            });
        }
        std::thread::sleep(Duration::from_millis(2));
    }
    Ok(())
}

fn write_id_map(
    pid: i32,
    file: &'static str,
    maps: Option<&[oci_spec::runtime::LinuxIdMapping]>,
) -> Result<(), Error> {
    let text: String = maps
        .unwrap_or_default()
        .iter()
        .map(|m| format!("{} {} {}\n", m.container_id(), m.host_id(), m.size()))
        .collect();
    let path = PathBuf::from(format!("/proc/{pid}/{file}"));
    std::fs::write(&path, text)
        .map_err(|source| crate::process::ProcessError::IdMap { path, source }.into())
}

/// Atomic, like runc: a reader never sees an empty pid file.
pub(crate) fn write_pid_file(path: &Path, pid: i32) -> Result<(), Error> {
    let tmp = path.with_file_name(format!(
        ".{}.tmp",
        path.file_name()
            .map(|n| n.to_string_lossy())
            .unwrap_or_default()
    ));
    let io = |source| Error::PidFile {
        path: path.to_path_buf(),
        source,
    };
    std::fs::write(&tmp, pid.to_string()).map_err(io)?;
    std::fs::rename(&tmp, path).map_err(io)
}

/// States of all containers under `root`, sorted by id. Takes no lock: a command holding
/// one container's (a create running its hooks) must not hold up the whole list.
pub fn list(root: &Path) -> Result<Vec<OciState>, Error> {
    let mut out = Vec::new();
    for id in state::list_ids(root)? {
        let Ok(sd) = StateDir::unlocked(root, &id) else {
            continue;
        };
        // Gone meanwhile (None or NotFound): not listed.
        if let Ok(Some(st)) = sd.load() {
            out.push(oci_state(&sd, &st));
        }
    }
    Ok(out)
}

/// How `run` ended.
/// Whether the caller already reaped the container's init (`run`).
#[derive(Clone, Copy)]
enum Reaped {
    Yes,
    No,
}

/// How `run` ended.
#[derive(Debug)]
pub enum RunOutcome {
    /// Detached: the container keeps running.
    Detached(OciState),
    /// Exit status as a shell reports it: the code, or 128 + signal.
    Exited(i32),
    /// Exited, and a poststart or poststop hook failed (a warning): the exit status is
    /// still the container's, as in runc.
    ExitedWithWarning(i32, String),
    /// Detached, and a poststart hook failed (a warning).
    DetachedWithWarning(OciState, String),
}

impl Container {
    /// create + start, and without `detach` wait for the process and delete the container.
    pub fn run(&self, opts: &CreateOptions, detach: bool) -> Result<RunOutcome, Error> {
        // Started under the lock create took: nothing can come between, so the status is
        // known (created) and the state need not be read back.
        let (sd, st) = self.create_locked(opts)?;
        let started = start_created(&sd, &st);
        drop(sd);
        let poststart = match started {
            Ok(w) => w,
            Err(e) => {
                let _ = self.delete(true);
                return Err(e);
            }
        };
        if detach {
            let state = with_status(&st, Status::Running);
            return Ok(match poststart {
                Some(w) => RunOutcome::DetachedWithWarning(state, w),
                None => RunOutcome::Detached(state),
            });
        }
        let code = wait_exit(st.pid);
        let poststop = match self.delete_inner(true, Reaped::Yes) {
            Ok(()) => None,
            Err(Error::Warning(w)) => Some(w),
            Err(e) => return Err(e),
        };
        let warnings: Vec<String> = poststart.into_iter().chain(poststop).collect();
        Ok(if warnings.is_empty() {
            RunOutcome::Exited(code)
        } else {
            RunOutcome::ExitedWithWarning(code, warnings.join("; "))
        })
    }
}

/// Waits for our child `pid` (init is the runtime's child on both clone paths).
pub(crate) fn wait_exit(pid: i32) -> i32 {
    loop {
        match waitpid(Pid::from_raw(pid), None) {
            Ok(WaitStatus::Exited(_, c)) => return c,
            Ok(WaitStatus::Signaled(_, s, _)) => return 128 + s as i32,
            Ok(_) => continue,
            Err(Errno::EINTR) => continue,
            Err(_) => return 255,
        }
    }
}
