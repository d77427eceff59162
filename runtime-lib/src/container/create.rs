//! `create`: what is checked before anything is made, then state directory, cgroups, init,
//! the handshake with it (hooks, seccomp listener) up to init's Ready; on failure
//! everything made is removed again.

use super::{write_pid_file, Container};
use crate::cgroups;
use crate::channel::{self, FromInit, ToInit};
use crate::hooks;
use crate::namespaces::Namespaces;
use crate::process::spawn::{spawn, write_id_map};
use crate::process::InitConfig;
use crate::spec::Bundle;
use crate::state::{self, oci_state, with_status, OciState, Persisted, StateDir, Status};
use crate::Error;
use nix::sys::signal::{kill as send_signal, Signal};
use nix::sys::wait::waitpid;
use nix::unistd::Pid;
use std::os::fd::AsFd;
use std::path::{Path, PathBuf};

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

/// The state right after a successful create: nothing to probe.
fn created_state(st: &Persisted) -> OciState {
    with_status(st, Status::Created)
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
    /// Sets up the container and leaves init waiting for `start`. On any error nothing is
    /// left behind: no process, cgroup or state directory.
    pub fn create(&self, opts: &CreateOptions) -> Result<OciState, Error> {
        self.create_locked(opts).map(|(_sd, st)| created_state(&st))
    }

    /// `create`, returning the still locked state dir and what was saved in it, so `run`
    /// goes on to start without loading and re-deriving what it just wrote.
    pub(super) fn create_locked(
        &self,
        opts: &CreateOptions,
    ) -> Result<(StateDir, Persisted), Error> {
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
}

fn linux_seccomp(spec: &oci_spec::runtime::Spec) -> Option<&oci_spec::runtime::LinuxSeccomp> {
    spec.linux().as_ref().and_then(|l| l.seccomp().as_ref())
}

fn open_dir(d: &Path) -> nix::Result<std::os::fd::OwnedFd> {
    nix::fcntl::open(
        d,
        nix::fcntl::OFlag::O_RDONLY | nix::fcntl::OFlag::O_DIRECTORY | nix::fcntl::OFlag::O_CLOEXEC,
        nix::sys::stat::Mode::empty(),
    )
}
