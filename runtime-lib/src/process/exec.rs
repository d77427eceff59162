//! `exec`: a new process inside a running container (runc's setns process).
//!
//! The runtime opens `/proc/<init>/ns/*` of the container's init, then clones an
//! intermediate that makes itself non-dumpable and joins those namespaces (in runc's nsexec
//! order: every non-user namespace it may join, then the user namespace, then whatever
//! needed the user namespace's credentials). Joining a pid namespace only moves the
//! *children* of the caller, so the intermediate forks the real process with CLONE_PARENT:
//! it is inside the container's pid namespace and still the runtime's child, so `exec`,
//! containerd's shim and conmon (subreapers) can wait for it. The runtime then puts that
//! pid in every cgroup directory of the container and lets it go on: rlimits, bounding
//! set, user switch, capabilities, no_new_privs, cwd, close-on-exec of every fd but 0-2
//! (+ preserve_fds), execve.
//!
//! Success is observed as EOF on the channel: the child's end is O_CLOEXEC, so it closes
//! exactly when execve succeeds; every failure before that is sent as an error message.
//!
//! No re-exec of our binary and no threads: like `create`, the caller must be
//! single-threaded.

use super::attrs::Attrs;
use super::spawn::{exit_now, raw_clone};
use super::tty_relay;
use crate::channel::{self, ChannelError, FromInit, InitEnd, ParentEnd, ToInit};
use crate::container::{status_of, wait_exit, write_pid_file, Container};
use crate::security;
use crate::spec::Bundle;
use crate::state::{self, StateDir, Status};
use crate::{cgroups, Error};
use nix::errno::Errno;
use nix::sched::CloneFlags;
use nix::sys::stat::fstat;
use nix::sys::wait::waitpid;
use nix::unistd::Pid;
use oci_spec::runtime::{Capabilities, Capability, LinuxCapabilities, Process};
use std::collections::HashMap;
use std::convert::Infallible;
use std::io::Write;
use std::os::fd::{AsFd, AsRawFd, OwnedFd};
use std::path::{Path, PathBuf};

/// Options of `exec`, as runc's flags. Without `process`, the process is the container's
/// config.json process with `args` and the other fields applied on top (runc's rules).
#[derive(Debug, Clone, Default)]
pub struct ExecOptions {
    /// A complete process (runc's `--process process.json`); the fields up to
    /// `no_new_privs` are then ignored, as in runc.
    pub process: Option<Process>,
    /// The program and its arguments (required without `process`).
    pub args: Vec<String>,
    /// `KEY=VALUE` entries appended to the configured env (a later entry wins).
    pub env: Vec<String>,
    /// Working directory inside the container (`--cwd`), instead of the configured one.
    pub cwd: Option<PathBuf>,
    /// uid and optionally gid (`-u uid[:gid]`).
    pub user: Option<(u32, Option<u32>)>,
    /// Supplementary groups added to the configured ones (`--additional-gids`).
    pub additional_gids: Vec<u32>,
    /// Added to the bounding, effective and permitted sets (and ambient when the process
    /// has an inheritable set), as runc's `--cap`.
    pub caps: Vec<String>,
    /// Sets no_new_privileges (`--no-new-privs`).
    pub no_new_privs: bool,
    /// Gives the process a terminal (`-t`): sent over `console_socket`, or relayed to the
    /// caller's own terminal by a foreground exec without one.
    pub tty: bool,
    /// Returns once the process runs instead of waiting for it (`-d`).
    pub detach: bool,
    /// Where to write the process's host pid (`--pid-file`).
    pub pid_file: Option<PathBuf>,
    /// Unix socket the pty master is sent to (`--console-socket`).
    pub console_socket: Option<PathBuf>,
    /// How many fds above 2 the process inherits (`--preserve-fds`).
    pub preserve_fds: u32,
    /// Execs into a paused container too (`--ignore-paused`).
    pub ignore_paused: bool,
    /// runc's `--cgroup [controller[,controller]:]path`: join this existing sub-cgroup of
    /// the container's cgroup (in every hierarchy, or in the named v1 controllers').
    pub sub_cgroups: Vec<String>,
}

/// How `exec` ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ExecOutcome {
    /// Detached: the host pid of the process, which keeps running.
    Detached(i32),
    /// Exit status as a shell reports it: the code, or 128 + signal.
    Exited(i32),
}

/// A process could not be run in a container, or its process.json / options are invalid.
#[derive(Debug, thiserror::Error)]
pub enum ExecError {
    /// The container's init is gone.
    #[error("cannot exec in a stopped container")]
    Stopped,
    /// The container is paused and `ignore_paused` was not set.
    #[error("cannot exec in a paused container (use --ignore-paused to override)")]
    Paused,
    /// The container (its id) is still being created.
    #[error("cannot exec in container {0}: it is still being created")]
    Creating(String),
    /// The process has no args.
    #[error("exec args cannot be empty")]
    NoArgs,
    /// The process's cwd (given) is relative.
    #[error("cwd {0:?} must be an absolute path")]
    RelativeCwd(PathBuf),
    /// A process.json could not be read or parsed.
    #[error("process {path}: {reason}")]
    ProcessFile {
        /// The file.
        path: PathBuf,
        /// What is wrong with it (a parse error names the field).
        reason: String,
    },
    /// A capability name (given) no kernel has.
    #[error("capability {0:?}: unknown")]
    UnknownCap(String),
    /// One of init's namespaces could not be opened or joined.
    #[error("namespace {typ} of init ({path}): {op}: {errno}")]
    Namespace {
        /// The namespace type.
        typ: &'static str,
        /// Its `/proc/<pid>/ns/*` path.
        path: PathBuf,
        /// The operation.
        op: &'static str,
        /// The error it returned.
        errno: Errno,
    },
    /// A `sub_cgroups` entry is invalid or could not be joined (what and why).
    #[error("{0}")]
    SubCgroup(String),
    /// The process could not be cloned.
    #[error("clone: {0}")]
    Clone(Errno),
    /// The terminal relay of a foreground `tty` exec failed.
    #[error("tty: {op}: {errno}")]
    Tty {
        /// The operation.
        op: &'static str,
        /// The error it returned.
        errno: Errno,
    },
    /// Waiting for the process failed.
    #[error("waiting for process {pid}: {errno}")]
    Wait {
        /// The process's host pid.
        pid: i32,
        /// The error waitpid returned.
        errno: Errno,
    },
    /// The process reported a setup failure before it could exec (text names what failed).
    #[error("{0}")]
    Child(String),
    /// The handshake with the new process failed.
    #[error(transparent)]
    Channel(#[from] ChannelError),
}

/// Errors inside the new process, sent to the runtime as text.
#[derive(Debug, thiserror::Error)]
enum ChildError {
    #[error(transparent)]
    Channel(#[from] ChannelError),
    #[error(transparent)]
    Security(#[from] crate::security::SecurityError),
    #[error(transparent)]
    Console(#[from] crate::console::ConsoleError),
    #[error(transparent)]
    Seccomp(#[from] crate::seccomp::SeccompError),
    #[error(transparent)]
    Attr(#[from] super::attrs::AttrError),
    #[error("exec: {arg0:?}: {reason}")]
    Exec { arg0: String, reason: String },
    #[error(transparent)]
    Cwd(#[from] super::CwdError),
}

/// The namespaces of /proc/<pid>/ns, in runc's join order (nsexec's list order; user is
/// pulled out and joined between the two passes).
const NS_KINDS: [(&str, CloneFlags); 8] = [
    ("user", CloneFlags::CLONE_NEWUSER),
    ("ipc", CloneFlags::CLONE_NEWIPC),
    ("uts", CloneFlags::CLONE_NEWUTS),
    ("net", CloneFlags::CLONE_NEWNET),
    ("pid", CloneFlags::CLONE_NEWPID),
    ("mnt", CloneFlags::CLONE_NEWNS),
    ("cgroup", CloneFlags::CLONE_NEWCGROUP),
    ("time", CloneFlags::from_bits_retain(libc::CLONE_NEWTIME)),
];

struct NsFd {
    typ: &'static str,
    flag: CloneFlags,
    path: PathBuf,
    fd: OwnedFd,
}

/// Opens every namespace of `pid` that differs from ours. Opened in the runtime before any
/// fork: after the mount namespace is joined these paths would name the container's /proc.
/// Namespaces equal to ours are skipped (setns into one's own user namespace is EINVAL, and
/// joining the others would be a no-op).
fn open_namespaces(pid: i32) -> Result<Vec<NsFd>, ExecError> {
    let mut out = Vec::new();
    for (typ, flag) in NS_KINDS {
        let mine = PathBuf::from(format!("/proc/self/ns/{typ}"));
        let path = PathBuf::from(format!("/proc/{pid}/ns/{typ}"));
        let err = |op, errno| ExecError::Namespace {
            typ,
            path: path.clone(),
            op,
            errno,
        };
        let own = match nix::sys::stat::stat(&mine) {
            Ok(s) => s,
            // A kernel without this namespace type.
            Err(Errno::ENOENT) => continue,
            Err(e) => return Err(err("stat", e)),
        };
        let fd = nix::fcntl::open(
            &path,
            nix::fcntl::OFlag::O_RDONLY | nix::fcntl::OFlag::O_CLOEXEC,
            nix::sys::stat::Mode::empty(),
        )
        .map_err(|e| err("open", e))?;
        let theirs = fstat(&fd).map_err(|e| err("fstat", e))?;
        if (theirs.st_dev, theirs.st_ino) == (own.st_dev, own.st_ino) {
            continue;
        }
        out.push(NsFd {
            typ,
            flag,
            path,
            fd,
        });
    }
    Ok(out)
}

/// In the intermediate: setns everything, user namespace in the middle (runc's order). A
/// non-user namespace refusing us with EPERM before the user namespace is joined is retried
/// after it, with the credentials it grants.
fn join_namespaces(list: &[NsFd]) -> Result<(), ExecError> {
    let mut done = vec![false; list.len()];
    let setns = |n: &NsFd| {
        nix::sched::setns(n.fd.as_fd(), n.flag).map_err(|errno| ExecError::Namespace {
            typ: n.typ,
            path: n.path.clone(),
            op: "setns",
            errno,
        })
    };
    for (i, n) in list.iter().enumerate() {
        if n.flag == CloneFlags::CLONE_NEWUSER {
            continue;
        }
        match setns(n) {
            Ok(()) => done[i] = true,
            Err(ExecError::Namespace {
                errno: Errno::EPERM,
                ..
            }) => {}
            Err(e) => return Err(e),
        }
    }
    for (i, n) in list.iter().enumerate() {
        if n.flag != CloneFlags::CLONE_NEWUSER {
            continue;
        }
        setns(n)?;
        done[i] = true;
        // Become root of the user namespace, as init did: until then we are the overflow
        // uid there and most of the setup below would fail.
        let z = nix::unistd::Gid::from_raw(0);
        nix::unistd::setresgid(z, z, z).map_err(|errno| ExecError::Namespace {
            typ: n.typ,
            path: n.path.clone(),
            op: "setresgid(0)",
            errno,
        })?;
        let z = nix::unistd::Uid::from_raw(0);
        nix::unistd::setresuid(z, z, z).map_err(|errno| ExecError::Namespace {
            typ: n.typ,
            path: n.path.clone(),
            op: "setresuid(0)",
            errno,
        })?;
    }
    for (i, n) in list.iter().enumerate() {
        if !done[i] {
            setns(n)?;
        }
    }
    Ok(())
}

/// Parses a capability name as config.json does (`CAP_X` or `X`, any case).
fn parse_cap(name: &str) -> Result<Capability, ExecError> {
    serde_json::from_value(serde_json::Value::String(name.to_string()))
        .map_err(|_| ExecError::UnknownCap(name.to_string()))
}

/// Later `KEY=` entries replace earlier ones, keeping the first one's position (what a
/// process sees from runc, which sets them one by one).
fn merge_env(base: &[String], extra: &[String]) -> Vec<String> {
    let mut out: Vec<String> = Vec::with_capacity(base.len() + extra.len());
    for e in base.iter().chain(extra) {
        let key = e.split_once('=').map_or(e.as_str(), |(k, _)| k);
        match out
            .iter_mut()
            .find(|o| o.split_once('=').map_or(o.as_str(), |(k, _)| k) == key)
        {
            Some(slot) => *slot = e.clone(),
            None => out.push(e.clone()),
        }
    }
    out
}

impl ExecOptions {
    /// The process to run: `process` as given, or `base` (the container's configured
    /// process) with these options applied, as runc's `exec` builds it.
    pub(crate) fn build_process(&self, base: Option<&Process>) -> Result<Process, ExecError> {
        if let Some(p) = &self.process {
            return validate(p.clone());
        }
        if self.args.is_empty() {
            return Err(ExecError::NoArgs);
        }
        let mut p = base.cloned().unwrap_or_default();
        p.set_args(Some(self.args.clone()));
        if let Some(cwd) = &self.cwd {
            p.set_cwd(cwd.clone());
        }
        if !self.caps.is_empty() {
            let mut c: LinuxCapabilities = p.capabilities().clone().unwrap_or_default();
            let add = |set: &Option<Capabilities>, caps: &[Capability]| {
                let mut s = set.clone().unwrap_or_default();
                s.extend(caps.iter().copied());
                Some(s)
            };
            let caps: Vec<Capability> = self
                .caps
                .iter()
                .map(|n| parse_cap(n))
                .collect::<Result<_, _>>()?;
            let bounding = add(c.bounding(), &caps);
            let effective = add(c.effective(), &caps);
            let permitted = add(c.permitted(), &caps);
            c.set_bounding(bounding)
                .set_effective(effective)
                .set_permitted(permitted);
            if c.inheritable().is_some() {
                let ambient = add(c.ambient(), &caps);
                c.set_ambient(ambient);
            }
            p.set_capabilities(Some(c));
        }
        let env = merge_env(p.env().as_deref().unwrap_or_default(), &self.env);
        p.set_env(Some(env));
        p.set_terminal(Some(self.tty));
        if self.no_new_privs {
            p.set_no_new_privileges(Some(true));
        }
        if let Some((uid, gid)) = self.user {
            p.user_mut().set_uid(uid);
            if let Some(g) = gid {
                p.user_mut().set_gid(g);
            }
        }
        if !self.additional_gids.is_empty() {
            let mut g = p.user().additional_gids().clone().unwrap_or_default();
            g.extend_from_slice(&self.additional_gids);
            p.user_mut().set_additional_gids(Some(g));
        }
        validate(p)
    }
}

/// What runc's validateProcessSpec checks before anything is started.
fn validate(p: Process) -> Result<Process, ExecError> {
    if p.args().as_deref().unwrap_or_default().is_empty() {
        return Err(ExecError::NoArgs);
    }
    if !p.cwd().is_absolute() {
        return Err(ExecError::RelativeCwd(p.cwd().clone()));
    }
    Ok(p)
}

/// What `exec` checks about the process before it makes anything: built from `opts` (over
/// `base`, the configured process, without `opts.process`) and validated as runc does, its
/// attributes converted with the container's `personality`. Shared with
/// [`crate::spec::check_process`], so the two cannot drift apart.
pub(crate) fn check_process(
    opts: &ExecOptions,
    base: Option<&Process>,
    personality: Option<libc::c_ulong>,
) -> Result<(Process, Attrs), Error> {
    let process = opts.build_process(base)?;
    let attrs = Attrs::for_exec(personality, &process)?;
    Ok((process, attrs))
}

/// Reads a process.json (runc's `--process`).
pub fn load_process(path: &Path) -> Result<Process, ExecError> {
    let err = |reason: String| ExecError::ProcessFile {
        path: path.to_path_buf(),
        reason,
    };
    let text = std::fs::read(path).map_err(|e| err(e.to_string()))?;
    crate::spec::process_from_slice(&text).map_err(|e| err(e.to_string()))
}

impl Container {
    /// Runs a new process in the container's namespaces and cgroup. Without `detach`, waits
    /// for it and returns its exit status, forwarding SIGHUP, SIGINT, SIGQUIT, SIGTERM,
    /// SIGUSR1/2, SIGALRM, SIGCONT and SIGWINCH sent to the caller meanwhile (runc's signal
    /// proxy); with `detach`, returns its host pid once it has exec'd. `pid_file` is written
    /// in both cases. The caller must be single-threaded, as for `create`.
    pub fn exec(&self, opts: &ExecOptions) -> Result<ExecOutcome, Error> {
        // The new process is a clone of us: see crate::caller.
        crate::caller::check()?;
        // The state lock is held only while the process is set up: a foreground exec
        // must not block `kill`/`delete` of the container for as long as it runs.
        let (pid, master) = {
            let sd = StateDir::open(&self.root, &self.id)?;
            let st = sd
                .load()?
                .ok_or_else(|| ExecError::Creating(self.id.clone()))?;
            match status_of(&sd, &st) {
                Status::Stopped => return Err(ExecError::Stopped.into()),
                Status::Paused if !opts.ignore_paused => return Err(ExecError::Paused.into()),
                Status::Creating => return Err(ExecError::Creating(self.id.clone()).into()),
                _ => {}
            }
            state::pause_point("exec:locked");
            // Without --process the bundle's current config.json gives the defaults (as
            // runc reads it); the container's seccomp profile and personality come from
            // its state, as they were at create, and apply to every process in it.
            let (process, attrs) = match &opts.process {
                Some(_) => check_process(opts, None, st.personality)?,
                None => {
                    let bundle = Bundle::load(&st.bundle)?;
                    check_process(opts, bundle.spec.process().as_ref(), st.personality)?
                }
            };
            // Compiled here, before any fork, as for create; no work without linux.seccomp.
            let seccomp = match &st.seccomp {
                Some(s) => Some(crate::seccomp::cache::compile_cached(s, &self.root)?),
                None => None,
            };
            // With a tty and no console socket, a foreground exec relays the pty itself
            // (runc does too); a detached one would leave nobody holding the master.
            let (console, relay_end) =
                match (&opts.console_socket, process.terminal().unwrap_or(false)) {
                    (Some(p), true) => (Some(crate::console::connect(p)?), None),
                    (None, true) if !opts.detach => {
                        let (ours, theirs) =
                            tty_relay::socket_pair().map_err(|errno| ExecError::Tty {
                                op: "socketpair",
                                errno,
                            })?;
                        (Some(theirs), Some(ours))
                    }
                    (None, true) => return Err(crate::console::ConsoleError::NoSocket.into()),
                    _ => (None, None),
                };
            let subs = parse_sub_cgroups(&opts.sub_cgroups)?;
            let ns = open_namespaces(st.pid)?;
            // A container without a mount namespace of its own is only chrooted: the new
            // process is chrooted into init's root (see `intermediate`).
            let root = match ns.iter().any(|n| n.typ == "mnt") {
                true => None,
                false => {
                    let path = PathBuf::from(format!("/proc/{}/root", st.pid));
                    let fd = nix::fcntl::open(
                        &path,
                        nix::fcntl::OFlag::O_PATH
                            | nix::fcntl::OFlag::O_DIRECTORY
                            | nix::fcntl::OFlag::O_CLOEXEC,
                        nix::sys::stat::Mode::empty(),
                    )
                    .map_err(|errno| ExecError::Namespace {
                        typ: "mnt",
                        path,
                        op: "open root",
                        errno,
                    })?;
                    Some(fd)
                }
            };
            // The fds are pinned now; make sure they belong to init and not to a process
            // that recycled its pid meanwhile.
            if !state::process_alive(st.pid, st.pid_start) {
                return Err(ExecError::Stopped.into());
            }
            let (parent, child) = channel::pair()?;
            let setup = Setup {
                process: &process,
                console: console.as_ref(),
                preserve_fds: opts.preserve_fds,
                seccomp: seccomp.as_ref(),
                attrs: &attrs,
                root: root.as_ref(),
            };
            let notify = Notify {
                seccomp: st.seccomp.as_ref(),
                state: crate::container::oci_state(&sd, &st),
            };
            let cg = CgroupTarget {
                dirs: &st.cgroup_dirs,
                init_pid: st.pid,
                subs: &subs,
            };
            let pid = spawn(&setup, &ns, &cg, &notify, parent, child)?;
            let relay = match relay_end.map(|s| tty_relay::receive_master(&s)) {
                None => None,
                Some(Ok(master)) => Some(master),
                Some(Err(errno)) => {
                    kill_child(pid);
                    return Err(ExecError::Tty {
                        op: "receive pty master",
                        errno,
                    }
                    .into());
                }
            };
            (pid, relay)
        };
        if let Some(pf) = &opts.pid_file {
            if let Err(e) = write_pid_file(pf, pid) {
                // Nobody could find or wait for the process: do not leave it behind (runc
                // terminates it too).
                kill_child(pid);
                return Err(e);
            }
        }
        if opts.detach {
            return Ok(ExecOutcome::Detached(pid));
        }
        Ok(ExecOutcome::Exited(wait_forwarding(
            pid,
            master.map(tty_relay::Relay::new),
        )))
    }
}

/// SIGKILL and reap our child `pid` (best effort: used on paths that already failed).
fn kill_child(pid: i32) {
    let _ = nix::sys::signal::kill(Pid::from_raw(pid), nix::sys::signal::Signal::SIGKILL);
    let _ = waitpid(Pid::from_raw(pid), None);
}

/// Signals a foreground `exec` passes on to the process, as runc's signal proxy does; the
/// synchronous ones, SIGCHLD and the job-control stops stay ours.
const FORWARDED: [nix::sys::signal::Signal; 9] = {
    use nix::sys::signal::Signal::*;
    [
        SIGHUP, SIGINT, SIGQUIT, SIGTERM, SIGUSR1, SIGUSR2, SIGALRM, SIGCONT, SIGWINCH,
    ]
};

/// Waits for our child `pid`, forwarding [`FORWARDED`] signals sent to us meanwhile, so a
/// supervisor that stops `ongi exec` stops the process too. The caller's signal mask is
/// restored afterwards. Without signalfd/pidfd it degrades to a plain wait.
fn wait_forwarding(pid: i32, relay: Option<tty_relay::Relay>) -> i32 {
    use nix::poll::{poll, PollFd, PollFlags, PollTimeout};
    use nix::sys::signal::{SigSet, SigmaskHow};
    use nix::sys::signalfd::{SfdFlags, SignalFd};
    let mut set = SigSet::empty();
    for s in FORWARDED {
        set.add(s);
    }
    let Ok(old) = set.thread_swap_mask(SigmaskHow::SIG_BLOCK) else {
        return wait_exit(pid);
    };
    let fds = SignalFd::with_flags(&set, SfdFlags::SFD_CLOEXEC | SfdFlags::SFD_NONBLOCK)
        .ok()
        .zip(crate::sys::pidfd_open(pid).ok());
    if let Some((sfd, pidfd)) = fds {
        let (mut master_open, mut stdin_open) = (relay.is_some(), relay.is_some());
        let stdin = std::io::stdin();
        loop {
            let mut pfds = vec![
                PollFd::new(sfd.as_fd(), PollFlags::POLLIN),
                PollFd::new(pidfd.as_fd(), PollFlags::POLLIN),
            ];
            // Slots 2 and 3 (when present): the pty master, then our stdin.
            if let (Some(r), true) = (&relay, master_open) {
                pfds.push(PollFd::new(r.master.as_fd(), PollFlags::POLLIN));
            }
            if stdin_open {
                pfds.push(PollFd::new(stdin.as_fd(), PollFlags::POLLIN));
            }
            match poll(&mut pfds, PollTimeout::NONE) {
                Ok(_) | Err(Errno::EINTR) => {}
                Err(_) => break,
            }
            let ready: Vec<bool> = pfds.iter().map(|p| p.any().unwrap_or(false)).collect();
            drop(pfds);
            while let Ok(Some(info)) = sfd.read_signal() {
                match (
                    nix::sys::signal::Signal::try_from(info.ssi_signo as i32),
                    &relay,
                ) {
                    // With our own pty, a resize of our terminal is passed on as a resize.
                    (Ok(nix::sys::signal::Signal::SIGWINCH), Some(r)) => r.resize(),
                    (Ok(sig), _) => {
                        let _ = nix::sys::signal::kill(Pid::from_raw(pid), sig);
                    }
                    (Err(_), _) => {}
                }
            }
            if let Some(r) = &relay {
                let mut slot = 2;
                if master_open {
                    if ready.get(slot) == Some(&true) {
                        master_open = r.copy_master();
                    }
                    slot += 1;
                }
                if stdin_open && ready.get(slot) == Some(&true) {
                    stdin_open = r.copy_stdin();
                }
            }
            if ready[1] {
                if let Some(r) = &relay {
                    r.drain();
                }
                break;
            }
        }
    }
    let code = wait_exit(pid);
    // Restores our terminal before the caller prints anything.
    drop(relay);
    let _ = old.thread_set_mask();
    code
}

/// What the new process needs, prepared before the clone (inherited as a memory copy).
struct Setup<'a> {
    process: &'a Process,
    console: Option<&'a OwnedFd>,
    preserve_fds: u32,
    /// The container's linux.seccomp, compiled by the runtime.
    seccomp: Option<&'a crate::seccomp::Program>,
    attrs: &'a Attrs,
    /// init's root, when the container has no mount namespace of its own (it shares ours).
    root: Option<&'a OwnedFd>,
}

/// What the runtime needs to hand a SCMP_ACT_NOTIFY listener fd to the seccomp agent.
struct Notify<'a> {
    seccomp: Option<&'a oci_spec::runtime::LinuxSeccomp>,
    state: crate::state::OciState,
}

/// Clones intermediate + process, places the process in the cgroups, lets it exec and
/// returns its host pid once execve succeeded.
fn spawn(
    setup: &Setup,
    ns: &[NsFd],
    cg: &CgroupTarget,
    notify: &Notify,
    parent: ParentEnd,
    child: InitEnd,
) -> Result<i32, Error> {
    let mid = raw_clone(CloneFlags::empty()).map_err(ExecError::Clone)?;
    if mid == 0 {
        parent.close_in_child();
        intermediate(setup, ns, child);
    }
    drop(child);
    let got = parent.recv();
    waitpid(Pid::from_raw(mid), None).map_err(|errno| ExecError::Wait { pid: mid, errno })?;
    let pid = match got {
        Ok(FromInit::InitPid(pid)) => pid,
        Ok(FromInit::Error(msg)) => return Err(ExecError::Child(msg).into()),
        Ok(other) => return Err(ExecError::Child(format!("unexpected message {other:?}")).into()),
        Err(e) => return Err(ExecError::Channel(e).into()),
    };
    let fail = |e: Error| -> Error {
        // Best effort: the process never ran user code; the original error matters.
        let _ = nix::sys::signal::kill(Pid::from_raw(pid), nix::sys::signal::Signal::SIGKILL);
        let _ = waitpid(Pid::from_raw(pid), None);
        e
    };
    crate::state::pause_point("exec:spawned");
    // Before it may exec: nothing of the user's may run outside the container's cgroup.
    join_cgroups(cg, pid).map_err(|e| fail(e.into()))?;
    parent
        .send(ToInit::Go)
        .map_err(|e| fail(ExecError::Channel(e).into()))?;
    loop {
        let got = parent.recv();
        if let Ok(FromInit::SeccompFd(fd)) = &got {
            // As create does: the agent gets the listener fd before the process goes on.
            let sc = notify.seccomp;
            let state = crate::seccomp::process_state(
                pid,
                sc.and_then(|s| s.listener_metadata().as_deref()),
                &notify.state,
            );
            let path = sc.and_then(|s| s.listener_path().as_deref());
            crate::seccomp::send_to_listener(path.unwrap_or(Path::new("")), &state, fd.as_fd())
                .map_err(|e| fail(e.into()))?;
            parent
                .send(ToInit::SeccompDone)
                .map_err(|e| fail(ExecError::Channel(e).into()))?;
            continue;
        }
        if let Ok(FromInit::Rlimits) = &got {
            super::set_rlimits(&parent, pid, Some(setup.process)).map_err(|e| fail(e.into()))?;
            continue;
        }
        return exec_result(got, pid, &fail);
    }
}

/// The last message of the exec'd process's setup.
fn exec_result(
    got: Result<FromInit, ChannelError>,
    pid: i32,
    fail: &dyn Fn(Error) -> Error,
) -> Result<i32, Error> {
    match got {
        // The channel is close-on-exec: EOF without an error message means execve worked.
        Err(ChannelError::Closed) => Ok(pid),
        Ok(FromInit::Error(msg)) => {
            let _ = waitpid(Pid::from_raw(pid), None);
            Err(ExecError::Child(msg).into())
        }
        Ok(other) => Err(fail(
            ExecError::Child(format!("unexpected message {other:?}")).into(),
        )),
        Err(e) => Err(fail(ExecError::Channel(e).into())),
    }
}

/// Writes `pid` to every cgroup directory of the container. On cgroup v2 a directory may
/// refuse it: EBUSY when the container enabled domain controllers for sub-cgroups of its
/// own cgroup ("no internal processes"), ENOENT when init moved elsewhere and the original
/// was removed. Then, as runc does, the process joins init's current v2 cgroup instead.
fn join_cgroups(cg: &CgroupTarget, pid: i32) -> Result<(), cgroups::CgroupError> {
    let hier = cgroups::hierarchies();
    for d in cg.dirs {
        // An explicitly requested sub-cgroup gets no fallback (runc).
        if let Some(sub) = sub_cgroup_for(d, &hier, cg.subs) {
            cgroups::add_pid(std::slice::from_ref(&d.join(sub)), pid)?;
            continue;
        }
        let Err(e) = cgroups::add_pid(std::slice::from_ref(d), pid) else {
            continue;
        };
        match init_v2_cgroup(d, cg.init_pid) {
            Some(alt) if alt != *d => cgroups::add_pid(std::slice::from_ref(&alt), pid)?,
            _ => return Err(e),
        }
    }
    Ok(())
}

/// Where the process goes: the container's cgroup directories (one per hierarchy), init's
/// pid (for the v2 fallback) and the `--cgroup` sub-cgroups by controller ("" for all).
struct CgroupTarget<'a> {
    dirs: &'a [PathBuf],
    init_pid: i32,
    subs: &'a HashMap<String, PathBuf>,
}

/// Parses runc's `--cgroup` arguments, with runc's rules: one bare path for every
/// hierarchy, or `controller[,controller]:path` entries naming each controller once. The
/// path must stay below the container's cgroup.
fn parse_sub_cgroups(args: &[String]) -> Result<HashMap<String, PathBuf>, ExecError> {
    let bad = |m: String| ExecError::SubCgroup(format!("invalid --cgroup argument: {m}"));
    let mut out = HashMap::new();
    for a in args {
        let (ctrls, path) = match a.split_once(':') {
            Some((c, p)) => (Some(c), p),
            None => (None, a.as_str()),
        };
        let rel = Path::new(path.trim_start_matches('/'));
        let below = rel
            .components()
            .all(|c| matches!(c, std::path::Component::Normal(_)));
        if rel.as_os_str().is_empty() || !below {
            return Err(bad(format!(
                "{a} (the path must name a sub-cgroup of the container's cgroup)"
            )));
        }
        match ctrls {
            None if args.len() != 1 => {
                return Err(bad(format!("{a} (missing <controller>: prefix)")));
            }
            None => {
                out.insert(String::new(), rel.to_path_buf());
            }
            Some(c) => {
                for ctrl in c.split(',') {
                    if ctrl.is_empty() {
                        return Err(bad(format!("{a} (empty <controller> prefix)")));
                    }
                    if out.insert(ctrl.to_string(), rel.to_path_buf()).is_some() {
                        return Err(bad(format!("controller {ctrl} specified multiple times")));
                    }
                }
            }
        }
    }
    Ok(out)
}

/// The requested sub-cgroup for the container directory `dir`: the one for every
/// hierarchy, or the one naming a controller of dir's v1 hierarchy.
fn sub_cgroup_for<'a>(
    dir: &Path,
    hier: &[cgroups::Hierarchy],
    subs: &'a HashMap<String, PathBuf>,
) -> Option<&'a Path> {
    if let Some(p) = subs.get("") {
        return Some(p);
    }
    let h = hier
        .iter()
        .filter(|h| dir.starts_with(&h.mountpoint))
        .max_by_key(|h| h.mountpoint.as_os_str().len())?;
    if h.fstype != "cgroup" {
        return None;
    }
    h.controllers
        .split(',')
        .find_map(|c| subs.get(c))
        .map(PathBuf::as_path)
}

/// Init's current cgroup in the v2 hierarchy that `dir` belongs to (None for v1). The
/// runtime is in the host's cgroup namespace, so /proc/<pid>/cgroup paths are absolute.
fn init_v2_cgroup(dir: &Path, init_pid: i32) -> Option<PathBuf> {
    let h = cgroups::hierarchies()
        .into_iter()
        .find(|h| h.fstype == "cgroup2" && dir.starts_with(&h.mountpoint))?;
    let text = crate::sys::read_proc(format!("/proc/{init_pid}/cgroup")).ok()?;
    let rel = text.lines().find_map(|l| l.strip_prefix("0::"))?;
    Some(h.mountpoint.join(rel.trim_start_matches('/')))
}

/// The intermediate: non-dumpable, joins the namespaces, forks the process into the pid
/// namespace as the runtime's child, reports its pid and exits.
fn intermediate(setup: &Setup, ns: &[NsFd], chan: InitEnd) -> ! {
    // CVE-2019-5736: once we are in the container's pid namespace, a process in the
    // container could open /proc/<our pid>/exe, i.e. our binary on the host, keep an O_PATH
    // fd and reopen it for writing once we are gone. Non-dumpable makes /proc/<pid>/exe
    // (and ptrace attach) need CAP_SYS_PTRACE in the *host* user namespace, which a
    // container does not have. runc runs from a sealed memfd copy because it re-execs
    // itself into the container, so its window lasts the whole setup; we never re-exec,
    // the window ends with the execve of the user program (which replaces our image and
    // resets dumpability from the new binary), so non-dumpable until then suffices.
    // Limit: a container without a user namespace that was granted CAP_SYS_PTRACE holds
    // that capability in the host namespace and is not stopped by this (runc's memfd copy
    // would). Inherited by the fork below.
    if let Err(errno) = nix::sys::prctl::set_dumpable(false) {
        let _ = chan.send(FromInit::Error(format!("prctl PR_SET_DUMPABLE: {errno}")));
        exit_now(1);
    }
    // execCPUAffinity.initial: before the cgroup transition (inherited by the fork).
    if let Err(e) = setup.attrs.apply_initial_affinity() {
        let _ = chan.send(FromInit::Error(e.to_string()));
        exit_now(1);
    }
    // Before the user namespace is joined: chroot needs CAP_SYS_CHROOT in the namespace
    // that owns our mount namespace (the host's, here). Inherited by the fork below.
    if let Some(root) = setup.root {
        let r = nix::unistd::fchdir(root)
            .and_then(|()| nix::unistd::chroot("."))
            .and_then(|()| nix::unistd::chdir("/"));
        if let Err(errno) = r {
            let _ = chan.send(FromInit::Error(format!("chroot into init's root: {errno}")));
            exit_now(1);
        }
    }
    if let Err(e) = join_namespaces(ns) {
        let _ = chan.send(FromInit::Error(e.to_string()));
        exit_now(1);
    }
    match raw_clone(CloneFlags::CLONE_PARENT) {
        Ok(0) => child_main(setup, chan),
        Ok(pid) => {
            let code = i32::from(chan.send(FromInit::InitPid(pid)).is_err());
            exit_now(code);
        }
        Err(e) => {
            let _ = chan.send(FromInit::Error(format!("clone: {e}")));
            exit_now(1);
        }
    }
}

fn child_main(setup: &Setup, chan: InitEnd) -> ! {
    let err = match child_run(setup, &chan) {
        Ok(never) => match never {},
        Err(e) => e,
    };
    if chan.send(FromInit::Error(err.to_string())).is_err() {
        // Not eprintln: it panics when stderr fails (a seccomp profile refusing write).
        let _ = writeln!(std::io::stderr(), "ongi exec: {err}");
    }
    exit_now(1)
}

fn child_run(setup: &Setup, chan: &InitEnd) -> Result<Infallible, ChildError> {
    chan.expect(ToInit::Go)?;
    // We are in the container's cgroup now.
    setup.attrs.apply_final_affinity()?;
    let process = setup.process;
    if let Some(sock) = setup.console {
        let size = process
            .console_size()
            .map(|b| (b.height() as u16, b.width() as u16));
        crate::console::setup(sock.as_raw_fd(), size)?;
    }
    if let Some(adj) = process.oom_score_adj() {
        security::set_oom_score_adj(adj)?;
    }
    if process.rlimits().is_some() {
        // The runtime sets them, with its privileges (see security::rlimits::apply).
        chan.send(FromInit::Rlimits)?;
        chan.expect(ToInit::RlimitsDone)?;
    }
    // Before caps are dropped and before the filter: see Attrs::apply.
    setup.attrs.apply()?;
    // Only the channel is still needed (stdio and --preserve-fds are the process's own):
    // the state dir's lock fd, init's namespace fds and the console socket are closed
    // before the cwd is resolved, so none of them can be entered as /proc/self/fd/N. The
    // channel is marked close-on-exec: EOF on a successful execve is how the runtime
    // learns of it. All of it before the filter where possible: see `finalize`.
    let nnp = super::finalize(process, 3 + setup.preserve_fds, &[chan.as_raw_fd()], || {
        load_seccomp(setup, chan)
    })?;
    let user = process.user();
    nix::sys::stat::umask(nix::sys::stat::Mode::from_bits_truncate(
        user.umask().unwrap_or(0o022),
    ));
    let x =
        super::exec_args(process).map_err(|(arg0, reason)| ChildError::Exec { arg0, reason })?;
    if nnp {
        // As late as possible, as in init: the profile must only allow execve after it.
        load_seccomp(setup, chan)?;
    }
    let errno = match nix::unistd::execve(&x.exe, &x.args, &x.env) {
        Ok(never) => match never {},
        Err(e) => e,
    };
    Err(ChildError::Exec {
        arg0: process
            .args()
            .iter()
            .flatten()
            .next()
            .cloned()
            .unwrap_or_default(),
        reason: format!("{}: {}", x.path.display(), crate::sys::errno_text(errno)),
    })
}

/// Loads the container's filter; a notify listener fd goes to the runtime, which hands it
/// to the agent at listenerPath before we go on (as init does at create).
fn load_seccomp(setup: &Setup, chan: &InitEnd) -> Result<(), ChildError> {
    let Some(prog) = setup.seccomp else {
        return Ok(());
    };
    if let Some(fd) = prog.load()? {
        chan.send(FromInit::SeccompFd(fd))?;
        chan.expect(ToInit::SeccompDone)?;
    }
    Ok(())
}

impl Container {
    /// Host pids of every process in the container's cgroup and its sub-cgroups (runc's
    /// `ps --format json`).
    pub fn processes(&self) -> Result<Vec<i32>, Error> {
        let sd = StateDir::open(&self.root, &self.id)?;
        let st = sd
            .load()?
            .ok_or_else(|| ExecError::Creating(self.id.clone()))?;
        let mut pids = Vec::new();
        // Every hierarchy holds the same processes; the first one that exists is enough.
        if let Some(dir) = st
            .cgroup_dirs
            .iter()
            .find(|d| d.join("cgroup.procs").exists())
        {
            collect_pids(dir, &mut pids)?;
        }
        pids.sort_unstable();
        pids.dedup();
        Ok(pids)
    }
}

fn collect_pids(dir: &Path, out: &mut Vec<i32>) -> Result<(), Error> {
    out.extend(cgroups::pids(std::slice::from_ref(&dir.to_path_buf()))?);
    let Ok(rd) = std::fs::read_dir(dir) else {
        return Ok(());
    };
    for e in rd.flatten() {
        if e.file_type().is_ok_and(|t| t.is_dir()) {
            collect_pids(&e.path(), out)?;
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn env_later_entries_win() {
        let base = vec!["PATH=/bin".to_string(), "A=1".to_string()];
        let extra = vec!["A=2".to_string(), "B=3".to_string()];
        assert_eq!(merge_env(&base, &extra), vec!["PATH=/bin", "A=2", "B=3"]);
    }

    #[test]
    fn process_from_config_with_flags() {
        let opts = ExecOptions {
            args: vec!["id".into()],
            env: vec!["X=1".into()],
            cwd: Some("/tmp".into()),
            user: Some((1000, Some(1000))),
            additional_gids: vec![5],
            caps: vec!["CAP_SYS_ADMIN".into(), "net_raw".into()],
            no_new_privs: true,
            ..Default::default()
        };
        let p = opts.build_process(Some(&Process::default())).unwrap();
        assert_eq!(p.args().as_deref(), Some(&["id".to_string()][..]));
        assert!(p.env().as_ref().unwrap().contains(&"X=1".to_string()));
        assert_eq!(p.cwd(), Path::new("/tmp"));
        assert_eq!((p.user().uid(), p.user().gid()), (1000, 1000));
        assert_eq!(p.user().additional_gids().as_deref(), Some(&[5u32][..]));
        let c = p.capabilities().as_ref().unwrap();
        for set in [c.bounding(), c.effective(), c.permitted()] {
            let set = set.as_ref().unwrap();
            assert!(set.contains(&Capability::SysAdmin) && set.contains(&Capability::NetRaw));
        }
        assert_eq!(p.terminal(), Some(false));
        assert_eq!(p.no_new_privileges(), Some(true));
        assert!(matches!(
            ExecOptions::default().build_process(None),
            Err(ExecError::NoArgs)
        ));
        for (args, ok) in [
            (vec!["sub"], true),
            (vec!["cpu,memory:a/b", "pids:c"], true),
            (vec!["a", "b"], false),
            (vec![":x"], false),
            (vec!["cpu:a", "cpu:b"], false),
            (vec!["../escape"], false),
            (vec!["pids:"], false),
        ] {
            let args: Vec<String> = args.into_iter().map(String::from).collect();
            assert_eq!(parse_sub_cgroups(&args).is_ok(), ok, "{args:?}");
        }
        let m = parse_sub_cgroups(&["cpu,memory:/a/b".to_string()]).unwrap();
        assert_eq!(
            m.get("memory").map(PathBuf::as_path),
            Some(Path::new("a/b"))
        );
        let rel = ExecOptions {
            args: vec!["x".into()],
            cwd: Some("tmp".into()),
            ..Default::default()
        };
        assert!(matches!(
            rel.build_process(None),
            Err(ExecError::RelativeCwd(_))
        ));
        let bad = ExecOptions {
            args: vec!["x".into()],
            caps: vec!["CAP_NOPE".into()],
            ..Default::default()
        };
        assert!(matches!(
            bad.build_process(None),
            Err(ExecError::UnknownCap(_))
        ));
    }
}
