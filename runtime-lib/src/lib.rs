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
//! caller gets an error, and runs the `ongi` binary as a child process instead). For the same reason the caller's binary is
//! what runs inside the container until the user program is executed, so a program that
//! creates containers or execs into them first calls [`exe::protect`]: it re-executes the
//! program once from a copy the container cannot write (CVE-2019-5736), and `create` and
//! `exec` refuse to run without that protection.
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

pub mod caller;
pub mod cgroups;
pub mod channel;
pub mod console;
pub mod container;
pub mod exe;
pub mod features;
pub mod hooks;
pub mod namespaces;
pub mod process;
pub mod rootfs;
pub mod seccomp;
pub mod security;
pub mod spec;
pub mod state;
mod sys;
pub mod sysctl;

pub use cgroups::Stats;
pub use container::{default_root, list, Container, CreateOptions, RunOutcome};
pub use nix::sys::signal::Signal;
pub use oci_spec::runtime::LinuxResources;
pub use process::exec::{ExecOptions, ExecOutcome};
pub use state::{OciState, Status};

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

/// Every error the lifecycle API returns; each module's own error carries the path,
/// field or syscall that failed.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error(transparent)]
    Spec(#[from] spec::SpecError),
    #[error(transparent)]
    State(#[from] state::StateError),
    #[error(transparent)]
    Namespace(#[from] namespaces::NamespaceError),
    #[error(transparent)]
    Cgroup(#[from] cgroups::CgroupError),
    #[error(transparent)]
    Console(#[from] console::ConsoleError),
    #[error(transparent)]
    Process(#[from] process::ProcessError),
    #[error(transparent)]
    Channel(#[from] channel::ChannelError),
    #[error(transparent)]
    Hook(#[from] hooks::HookError),
    #[error(transparent)]
    Seccomp(#[from] seccomp::SeccompError),
    #[error(transparent)]
    Attr(#[from] process::attrs::AttrError),
    #[error(transparent)]
    Exec(#[from] process::exec::ExecError),
    #[error(transparent)]
    Caller(#[from] caller::CallerError),
    #[error(transparent)]
    Sysctl(#[from] sysctl::SysctlError),
    /// init reported a setup failure (text from init's own typed error).
    #[error("{0}")]
    Init(String),
    #[error("container {0} is still being created or its creation failed")]
    NotCreated(String),
    #[error("{0}")]
    BadStatus(String),
    #[error("container not running")]
    NotRunning,
    #[error("container not paused")]
    NotPaused,
    #[error("kill {pid}: {errno}")]
    Signal { pid: i32, errno: nix::errno::Errno },
    #[error("exec fifo {path}: {errno}")]
    Fifo {
        path: PathBuf,
        errno: nix::errno::Errno,
    },
    #[error("pid file {path}: {source}")]
    PidFile {
        path: PathBuf,
        source: std::io::Error,
    },
    /// The operation completed, but something worth reporting happened (e.g. a poststop hook failed).
    #[error("{0}")]
    Warning(String),
}
