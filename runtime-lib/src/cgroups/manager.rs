//! The [`CgroupManager`] trait and the implementation for a list of directories: v2 on a
//! unified host, v1 (with the hybrid host's unified directory) otherwise.

use super::mode::{hierarchies, hierarchy_of, mode_of, Hierarchy, Mode};
use super::{devices, v1, v2, Result, Stats};
use oci_spec::runtime::LinuxResources;
use std::path::PathBuf;

/// What `apply` is for: at create time the device rules are written too; an update never
/// touches devices (as `runc update`) and honours memory.checkBeforeUpdate.
pub enum Apply<'a> {
    Create(&'a [devices::Rule]),
    Update,
}

/// What every implementation does with the container's cgroup.
pub trait CgroupManager {
    /// Makes the directories; a pre-existing one (a pod's shared cgroup) is joined.
    fn create(&self) -> Result<()>;
    /// Writes the set fields of `r` (unset fields are not touched: this is a hot path).
    fn apply(&self, r: &LinuxResources, how: Apply<'_>) -> Result<()>;
    fn pids(&self) -> Result<Vec<i32>>;
    /// Freezes and waits until every process is frozen.
    fn freeze(&self) -> Result<()>;
    fn thaw(&self) -> Result<()>;
    fn frozen(&self) -> bool;
    fn stats(&self) -> Result<Stats>;
    /// How many times the OOM killer has acted in the cgroup (for `events`).
    fn oom_kills(&self) -> u64;
}

/// The implementation for directories computed by [`dirs_for`] (or persisted from it).
pub fn manager(dirs: &[PathBuf]) -> Box<dyn CgroupManager> {
    let hs = hierarchies();
    let placed: Vec<(Hierarchy, PathBuf)> = dirs
        .iter()
        .filter_map(|d| hierarchy_of(&hs, d).map(|h| (h.clone(), d.clone())))
        .collect();
    if mode_of(&hs) == Mode::Unified {
        if let Some((h, d)) = placed.iter().find(|(h, _)| h.is_v2()) {
            // Named v1 hierarchies (name=systemd) are only joined and removed.
            let extra = dirs.iter().filter(|x| *x != d).cloned().collect();
            return Box::new(v2::V2::new(h.mountpoint.clone(), d.clone(), extra));
        }
    }
    Box::new(v1::V1::new(placed, dirs.to_vec()))
}
