//! How processes enter the container's cgroup directories: init without the kernel's
//! RCU-synchronised migration where it can, the runtime's writes otherwise.

use super::files::write_procs;
use super::mode::{hierarchies, hierarchy_of, Hierarchy};
use super::{CgroupError, Result};
use std::path::PathBuf;

/// How init enters its cgroup directories. Writing another process's pid into
/// `cgroup.procs` takes the kernel's global threadgroup rwsem for writing, which waits
/// for an RCU grace period: 6-16 ms here, most of a container start. Two ways avoid it:
/// a single-threaded process moving itself (v1 `tasks`, pid "0": no threadgroup lock),
/// and clone3(CLONE_INTO_CGROUP) for the v2 tree (no migration at all).
#[derive(Debug, Default)]
pub struct Placement {
    /// v1 `tasks` files init writes "0" into, first thing after the clone.
    pub self_join: Vec<PathBuf>,
    /// The v2 directory init is cloned into.
    pub clone_into: Option<PathBuf>,
    /// Directories the runtime writes init's pid into (the slow path).
    pub by_runtime: Vec<PathBuf>,
}

/// Splits the container's directories by how init joins them. `fast` is false when init
/// cannot write host cgroup files itself (its credentials are those of a user namespace).
pub fn placement(dirs: &[PathBuf], fast: bool) -> Placement {
    let mut p = Placement::default();
    if !fast {
        p.by_runtime = dirs.to_vec();
        return p;
    }
    let hs = hierarchies();
    for d in dirs {
        let v2 = hierarchy_of(&hs, d).map(Hierarchy::is_v2);
        match v2 {
            Some(false) => p.self_join.push(d.join("tasks")),
            Some(true) if p.clone_into.is_none() => p.clone_into = Some(d.clone()),
            _ => p.by_runtime.push(d.clone()),
        }
    }
    p
}

/// Init's side of [`Placement::self_join`]: moves the calling (single-threaded) process.
pub fn join_self(tasks: &[PathBuf]) -> Result<()> {
    for t in tasks {
        std::fs::write(t, "0").map_err(|source| CgroupError::Io {
            path: t.clone(),
            op: "write",
            source,
        })?;
    }
    Ok(())
}

/// Writes `pid` into each directory's `cgroup.procs` (v1 and v2 alike): the runtime's
/// slow path, see [`Placement`].
pub fn add_pid(dirs: &[PathBuf], pid: i32) -> Result<()> {
    for d in dirs {
        write_procs(d, pid)?;
    }
    Ok(())
}
