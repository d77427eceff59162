//! # ongi: an embeddable OCI container runtime
//!
//! `ongi` runs OCI runtime bundles (a `config.json` plus a root filesystem) the way runc
//! does: [`Container::create`] sets the container up and leaves its init waiting,
//! [`Container::start`] runs the user process, and [`Container::delete`] removes
//! everything again. State lives under a root directory (default `/run/ongi`) and is
//! shared with the `ongi` command line.
//!
//! The calling process must be single-threaded when it creates a container or execs into
//! one: init is cloned from it directly, exactly like fork (see [`caller`]; a multi-threaded
//! caller gets an error, and runs the `ongi` binary as a child process instead). For the
//! same reason the caller's binary is what runs inside the container until the user program
//! is executed, so a program that creates containers or execs into them first calls
//! [`exe::protect`]: it re-executes the program once from a copy the container cannot
//! write (CVE-2019-5736), and `create` and `exec` refuse to run without that protection.
//!
//! ```no_run
//! use ongi::{Container, CreateOptions};
//!
//! # fn main() -> Result<(), ongi::Error> {
//! ongi::exe::protect()?; // first thing in main; may re-execute the program
//! let c = Container::new("/run/ongi", "demo");
//! let opts = CreateOptions { bundle: "/path/to/bundle".into(), ..Default::default() };
//! let st = c.create(&opts)?;
//! assert_eq!(st.status, ongi::Status::Created);
//! c.start()?;
//! println!("{}", c.state()?.status); // running
//! c.kill(ongi::Signal::SIGKILL, false)?;
//! c.delete(true)?;
//! # Ok(())
//! # }
//! ```
//!
//! ## The public API
//!
//! This is the whole surface; everything else (the clone sequence, init, the handshake
//! channel, cgroup managers, rootfs setup, seccomp compilation, the state directory) is
//! private and may change freely.
//!
//! - Lifecycle: [`Container`] (`create`, `start`, `run`, `state`, `kill`, `delete`,
//!   `pause`, `resume`, `update`, `stats`, `oom_kills`, `exec`, `processes`), [`list`],
//!   [`default_root`]; their inputs and outputs [`CreateOptions`], [`ExecOptions`],
//!   [`ExecOutcome`], [`RunOutcome`], [`OciState`], [`Status`], [`Stats`] (its parts in
//!   [`stats`]), and [`Signal`], [`LinuxResources`], [`Process`] from the crates they come
//!   from.
//! - What a caller must do first: [`exe::protect`] / [`exe::protection`] / [`exe::check`]
//!   and [`caller::check`] / [`caller::threads`].
//! - Input files without a container: [`spec::check_bundle`] and [`spec::check_process`]
//!   (everything `create` / `exec` check before they make anything, sharing their code),
//!   [`spec::load_process`], [`spec::resources_from_value`], [`spec::default_spec`].
//! - Reporting: [`features::features`], [`features::libseccomp_version`],
//!   [`OCI_VERSION`], [`rfc3339_now`], [`escape_controls`].
//! - Errors: [`Error`], and every error type reachable from it re-exported here at the
//!   root ([`SpecError`], [`StateError`], [`CgroupError`], [`ExecError`], [`CallerError`],
//!   [`ExeError`], ...) so callers can match on them; fields of type [`Errno`] too.
//!   [`Warning`]: what a call that succeeded has to report.
//!
//! ## Errors and warnings
//!
//! Warnings travel one way only. An `Err` always means the operation failed (and, for
//! `create`, that nothing was left behind); an `Ok` means it happened. Some steps the
//! runtime spec says to log and go on from (a failing poststart hook at `start` or `run`,
//! a failing poststop hook at `delete` or at the end of `run`): the calls that run them
//! return what failed with their result, as [`Warning`]s, in the order they happened:
//! [`Container::start`] and [`Container::delete`] return `Vec<Warning>`, and both
//! [`RunOutcome`]s carry `warnings`. The `ongi` command line prints each call's warnings as
//! one `warning:` line on stderr (and in its log) and still exits as on success, as runc
//! does.
//!
//! Feature `bench` adds the `bench` module of hooks for the criterion benches in `benches/`; it
//! is not part of the API.

#![deny(missing_docs)]
#![warn(unnameable_types)]
#![deny(clippy::undocumented_unsafe_blocks)]

pub mod caller;
mod cgroups;
mod channel;
mod console;
mod container;
pub mod exe;
pub mod features;
mod hooks;
mod mountinfo;
mod namespaces;
mod process;
mod rootfs;
mod seccomp;
mod security;
pub mod spec;
mod state;
mod sys;
mod sysctl;

#[cfg(feature = "bench")]
pub mod bench;

pub use cgroups::stats::{self, Stats};
pub use container::{default_root, list, Container, CreateOptions, RunOutcome};
pub use nix::errno::Errno;
pub use nix::sys::signal::Signal;
pub use oci_spec::runtime::{LinuxResources, Process};
pub use process::exec::{ExecOptions, ExecOutcome};
pub use state::{rfc3339_now, OciState, Status, OCI_VERSION};

// Every error type reachable from `Error`, nameable in one place so callers can match on it.
pub use caller::CallerError;
pub use cgroups::CgroupError;
pub use channel::ChannelError;
pub use console::ConsoleError;
pub use exe::ExeError;
pub use hooks::HookError;
pub use namespaces::NamespaceError;
pub use process::attrs::AttrError;
pub use process::exec::ExecError;
pub use process::ProcessError;
pub use seccomp::SeccompError;
pub use security::rlimits::RlimitError;

pub use spec::SpecError;
pub use state::StateError;
pub use sysctl::SysctlError;

use std::borrow::Cow;
use std::path::PathBuf;

/// `s` with its control characters (NUL, ESC, CR, ... but not newline or tab) escaped the
/// way Rust's `{:?}` writes them (`\0`, `\u{1b}`, `\r`): text from config.json or a
/// command line echoed in an error must not reach a terminal or log raw.
pub fn escape_controls(s: &str) -> Cow<'_, str> {
    let raw = |c: char| c.is_control() && c != '\n' && c != '\t';
    if !s.chars().any(raw) {
        return Cow::Borrowed(s);
    }
    let mut out = String::with_capacity(s.len() + 8);
    for c in s.chars() {
        if raw(c) {
            out.extend(c.escape_debug());
        } else {
            out.push(c);
        }
    }
    Cow::Owned(out)
}

/// `ongi::exe::protect()?` in a function returning [`Error`]: an unprotected binary is
/// what `create` and `exec` report as [`Error::Caller`] too.
impl From<ExeError> for Error {
    fn from(e: ExeError) -> Self {
        Error::Caller(CallerError::Exe(e))
    }
}

/// Every error the lifecycle API returns; each module's own error carries the path,
/// field or syscall that failed.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The bundle or its config.json.
    #[error(transparent)]
    Spec(#[from] SpecError),
    /// The container's state directory (id unknown or taken, lock, state.json).
    #[error(transparent)]
    State(#[from] StateError),
    /// linux.namespaces / linux.timeOffsets.
    #[error(transparent)]
    Namespace(#[from] NamespaceError),
    /// The container's cgroups and linux.resources.
    #[error(transparent)]
    Cgroup(#[from] CgroupError),
    /// The console socket or the container's pty.
    #[error(transparent)]
    Console(#[from] ConsoleError),
    /// Starting init.
    #[error(transparent)]
    Process(#[from] ProcessError),
    /// The handshake with init.
    #[error(transparent)]
    Channel(#[from] ChannelError),
    /// An OCI hook.
    #[error(transparent)]
    Hook(#[from] HookError),
    /// linux.seccomp.
    #[error(transparent)]
    Seccomp(#[from] SeccompError),
    /// linux.personality, process.ioPriority, process.scheduler and the like.
    #[error(transparent)]
    Attr(#[from] AttrError),
    /// `exec` and process.json.
    #[error(transparent)]
    Exec(#[from] ExecError),
    /// The calling process may not clone into a container (binary or threads).
    #[error(transparent)]
    Caller(#[from] CallerError),
    /// linux.sysctl.
    #[error(transparent)]
    Sysctl(#[from] SysctlError),
    /// init reported a setup failure (text from init's own typed error).
    #[error("{0}")]
    Init(String),
    /// The container (its id) is still being created, or its creation failed.
    #[error("container {0} is still being created or its creation failed")]
    NotCreated(String),
    /// The container's status does not allow the operation (what and why).
    #[error("{0}")]
    BadStatus(String),
    /// The operation needs a running container.
    #[error("container not running")]
    NotRunning,
    /// `resume` of a container that is not paused.
    #[error("container not paused")]
    NotPaused,
    /// A signal could not be sent.
    #[error("kill {pid}: {errno}")]
    Signal {
        /// The process signalled.
        pid: i32,
        /// The error kill returned.
        errno: nix::errno::Errno,
    },
    /// The exec fifo `start` writes to could not be opened.
    #[error("exec fifo {path}: {errno}")]
    Fifo {
        /// The fifo.
        path: PathBuf,
        /// The error it returned.
        errno: nix::errno::Errno,
    },
    /// The pid file could not be written.
    #[error("pid file {path}: {source}")]
    PidFile {
        /// The pid file.
        path: PathBuf,
        /// The error writing it returned.
        source: std::io::Error,
    },
}

/// Something that went wrong in a lifecycle call that still succeeded, returned with its
/// result (see the crate docs, "Errors and warnings").
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Warning {
    /// A poststart hook (`start`, `run`: the container was started) or poststop hook
    /// (`delete`, `run`: the container is gone) failed; the hook error names its phase.
    #[error(transparent)]
    Hook(HookError),
}
