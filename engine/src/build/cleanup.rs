//! What a killed build leaves: its `tmp/@tmp-build-<pid>-*` directory with the overlay of
//! the step it was in and, when it died in a RUN, that step's runtime container (still
//! running, in its cgroup, on that overlay). `system check` calls [`cleanup`] before its
//! generic sweep, so the container is gone before its rootfs is torn down under it.

use std::fs;
use std::path::Path;

use crate::store::{Store, StoreError};

/// The pid in a build directory's name (`@tmp-build-<pid>-...`), when its owner is dead.
fn dead_build(name: &str) -> bool {
    let Some(rest) = name.strip_prefix("@tmp-build-") else {
        return false;
    };
    match rest.split('-').next().and_then(|p| p.parse::<u32>().ok()) {
        Some(pid) => pid != std::process::id() && !Path::new(&format!("/proc/{pid}")).exists(),
        None => false,
    }
}

/// Removes the leftovers of every build whose process is dead: RUN containers (killed,
/// their cgroups and runtime state removed), mounts, the build directory. Returns one line
/// per repair, as `system check` reports them.
pub fn cleanup(store: &Store) -> Result<Vec<String>, StoreError> {
    let mut fixed = Vec::new();
    let tmp = store.root.join("tmp");
    let Ok(rd) = fs::read_dir(&tmp) else {
        return Ok(fixed);
    };
    let runtime: Vec<String> = fs::read_dir(store.runtime_root())
        .into_iter()
        .flatten()
        .flatten()
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|n| n.len() == 64)
        .collect();
    for e in rd.flatten() {
        let name = e.file_name().to_string_lossy().into_owned();
        if !dead_build(&name) {
            continue;
        }
        let dir = e.path();
        // A RUN step's directory is named by its container id's first 12 digits and holds
        // the bundle's config.json.
        for step in fs::read_dir(&dir).into_iter().flatten().flatten() {
            let sname = step.file_name().to_string_lossy().into_owned();
            if sname.len() != 12 || !step.path().join("config.json").exists() {
                continue;
            }
            for id in runtime.iter().filter(|n| n.starts_with(&sname)) {
                if ongi::Container::new(store.runtime_root(), id)
                    .delete(true)
                    .is_ok()
                {
                    fixed.push(format!("removed build step container {sname}"));
                }
            }
        }
        crate::system::unmount_under(&dir);
        crate::prune::remove_tree(&dir)?;
        fixed.push(format!("removed leftover build {}", dir.display()));
    }
    Ok(fixed)
}
