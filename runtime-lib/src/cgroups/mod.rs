//! The container's cgroup: one directory per mounted hierarchy (cgroup v1 controllers,
//! the v2 unified tree, or both on hybrid hosts), created before init runs, limited by
//! `linux.resources`, frozen/thawed, read for stats and removed on delete.
//!
//! The layout is read from /proc/self/mountinfo at run time (never assumed), so the same
//! binary works on v1, hybrid and pure v2 hosts:
//!
//! - [`v1`]: one directory per v1 hierarchy; on hybrid hosts also the v2 `unified` directory,
//!   which only receives `linux.resources.unified` keys (as runc does).
//! - [`v2`]: the single unified directory; controllers enabled in every ancestor's
//!   `cgroup.subtree_control`.
//! - [`devices`]: the device rules (runc's default allow list appended), as v1
//!   `devices.allow`/`devices.deny` writes or a v2 eBPF program.
//! - [`convert`]: runc's v1 -> v2 value conversions.
//! - [`stats`]: the `events --stats` data, shaped like runc's.
//!
//! Persisted state keeps only the list of directories; [`manager`] rebuilds the right
//! implementation from it, so a container created by one `ongi` invocation is managed by
//! the next.
//!
//! The rest, one concern per file: `mode` (the mounted hierarchies and the host's layout,
//! from mountinfo), `path` (cgroupsPath to one directory per hierarchy), `manager` (the
//! [`CgroupManager`] trait and the implementation for a list of directories), `ops` (what
//! the lifecycle does with persisted directories), `placement` (how init and exec'd
//! processes enter them) and `files` (file helpers shared by v1 and v2).

pub mod convert;
pub mod devices;
mod files;
mod manager;
mod mode;
mod ops;
mod path;
mod placement;
pub mod stats;
pub mod v1;
pub mod v2;

use nix::errno::Errno;
use std::path::PathBuf;

// The file helpers v1, v2 and devices share.
use files::{clock_ticks, create_all, hugetlb_sizes, rdma_line, read_procs, write_unified};
pub(crate) use files::{read, read_kv, read_u64, write, Writer};
pub use manager::{manager, Apply, CgroupManager};
pub use mode::{hierarchies, Hierarchy};
pub use ops::{
    apply_create, create_dirs, frozen, in_use, pids, remove, remove_empty, thaw, update,
};
pub use path::dirs_for;
pub use placement::{add_pid, join_self, placement, Placement};
pub use stats::Stats;

/// A cgroup could not be made, configured, frozen, read or removed.
#[derive(Debug, thiserror::Error)]
pub enum CgroupError {
    /// Reading or writing a cgroup file or directory failed.
    #[error("cgroup {path}: {op}: {source}")]
    Io {
        /// The file or directory.
        path: PathBuf,
        /// The operation.
        op: &'static str,
        /// The error it returned.
        source: std::io::Error,
    },
    /// The kernel refused a value (EINVAL, EBUSY, ...).
    #[error("{field}: write {value:?} to {path}: {errno}")]
    Write {
        /// The linux.resources field the value came from.
        field: String,
        /// The controller file.
        path: PathBuf,
        /// The value written.
        value: String,
        /// The error the write returned.
        errno: Errno,
    },
    /// The file for a field does not exist: its controller (or the kernel feature) is absent.
    #[error("{field}: {path} does not exist ({what})")]
    MissingFile {
        /// The linux.resources field.
        field: String,
        /// The missing controller file.
        path: PathBuf,
        /// What the file is for.
        what: String,
    },
    /// A field is set but the hierarchy of its controller is not mounted.
    #[error("{field}: the {controller} cgroup controller is not mounted on this host")]
    NoController {
        /// The linux.resources field.
        field: String,
        /// The controller it needs.
        controller: &'static str,
    },
    /// A field this cgroup version cannot express.
    #[error("{field}: {reason}")]
    Unsupported {
        /// The linux.resources field.
        field: String,
        /// Why it cannot be expressed.
        reason: String,
    },
    /// A field's value is out of range or malformed.
    #[error("{field}: invalid value: {reason}")]
    Invalid {
        /// The linux.resources field.
        field: String,
        /// What is wrong with the value.
        reason: String,
    },
    /// A cgroup directory could not be removed.
    #[error("cgroup {path}: rmdir: {errno}")]
    Rmdir {
        /// The directory.
        path: PathBuf,
        /// The error rmdir returned.
        errno: Errno,
    },
    /// A system call on a cgroup failed.
    #[error("cgroup {path}: {op}: {errno}")]
    Sys {
        /// The cgroup file or directory.
        path: PathBuf,
        /// The operation.
        op: &'static str,
        /// The error it returned.
        errno: Errno,
    },
    /// The freezer did not reach the frozen state.
    #[error("cgroup {path}: unable to freeze (state stuck at {state:?})")]
    Freeze {
        /// The cgroup directory.
        path: PathBuf,
        /// The state it stayed in.
        state: String,
    },
    /// The host has no cgroup hierarchy mounted.
    #[error("no cgroup hierarchy is mounted")]
    NoHierarchy,
}

pub type Result<T> = std::result::Result<T, CgroupError>;
