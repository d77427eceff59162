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
//!
//! The runtime side is [`crate::Container::exec`] (container/exec.rs); the pieces it puts
//! together live here, one concern per file: `options` (runc's flag merge), `check` (what
//! exec checks before it makes anything), `join` (init's namespaces, runc's join order),
//! `cgroup` (placement in the container's cgroups and `--cgroup` sub-cgroups), `spawn`
//! (the clone sequence and handshake, runtime side), `child` (the intermediate and the new
//! process) and `signals` (the foreground signal proxy).

mod cgroup;
mod check;
mod child;
mod join;
mod options;
mod signals;
mod spawn;

pub(crate) use cgroup::{parse_sub_cgroups, CgroupTarget};
pub(crate) use check::check_process;
pub use check::load_process;
pub(crate) use join::{init_root, open_namespaces};
pub(crate) use signals::wait_forwarding;
pub(crate) use spawn::{kill_child, spawn, Notify, Setup};

use crate::channel::ChannelError;
use nix::errno::Errno;
use oci_spec::runtime::Process;
use std::path::PathBuf;

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
