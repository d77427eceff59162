//! What the lifecycle does with a container's persisted directories: each is one call to
//! the [`super::manager`] for them, or a file operation on every directory.

use super::files::rmdir;
use super::{devices, manager, Apply, CgroupError, Result};
use nix::errno::Errno;
use oci_spec::runtime::LinuxResources;
use std::path::PathBuf;

/// Creates the directories; on failure removes what it created.
pub fn create_dirs(dirs: &[PathBuf]) -> Result<()> {
    if dirs.is_empty() {
        return Err(CgroupError::NoHierarchy);
    }
    manager(dirs).create()
}

/// Applies `linux.resources` at create time: every set field plus the device rules
/// (the spec's, then runc's defaults minus paths `linux.devices` redefines).
pub fn apply_create(
    dirs: &[PathBuf],
    r: &LinuxResources,
    linux_devices: &[oci_spec::runtime::LinuxDevice],
) -> Result<()> {
    let rules = devices::rules(r.devices().as_deref().unwrap_or_default(), linux_devices)?;
    manager(dirs).apply(r, Apply::Create(&rules))
}

/// Applies the set fields of `r` to a live container (devices are left alone, as
/// `runc update` does).
pub fn update(dirs: &[PathBuf], r: &LinuxResources) -> Result<()> {
    manager(dirs).apply(r, Apply::Update)
}

/// Pids in the container's cgroup.
pub fn pids(dirs: &[PathBuf]) -> Result<Vec<i32>> {
    manager(dirs).pids()
}

/// Whether the freezer (v1 freezer.state or v2 cgroup.freeze) holds the container.
pub fn frozen(dirs: &[PathBuf]) -> bool {
    // Status is derived on every command: one read of the one freezer file.
    manager(dirs).frozen()
}

/// Thaws the container, best effort (so that SIGKILLed processes can actually die).
pub fn thaw(dirs: &[PathBuf]) {
    let _ = manager(dirs).thaw();
}

/// Removes the directories. Dying processes can keep a cgroup busy for a moment, so EBUSY
/// is retried briefly.
pub fn remove(dirs: &[PathBuf]) -> Result<()> {
    for d in dirs {
        let mut tries = 0;
        loop {
            match rmdir(d) {
                Ok(()) | Err(Errno::ENOENT) => break,
                Err(Errno::EBUSY) if tries < 100 => {
                    tries += 1;
                    std::thread::sleep(std::time::Duration::from_millis(5));
                }
                Err(errno) => {
                    return Err(CgroupError::Rmdir {
                        path: d.clone(),
                        errno,
                    })
                }
            }
        }
    }
    Ok(())
}

/// One rmdir attempt per directory, errors ignored: for a joined (shared) cgroup, where
/// the directories this container added are empty once it is gone, and the ones still
/// holding the pod's processes must stay.
pub fn remove_empty(dirs: &[PathBuf]) {
    for d in dirs {
        let _ = rmdir(d);
    }
}

/// Whether any of the directories already holds processes (a pod's cgroup being joined):
/// such a cgroup is not ours to empty or remove.
pub fn in_use(dirs: &[PathBuf]) -> bool {
    dirs.iter()
        .any(|d| crate::sys::read_proc(d.join("cgroup.procs")).is_ok_and(|s| !s.trim().is_empty()))
}
