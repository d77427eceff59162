//! What is asked of containers without changing them: `state`, `list`, `stats`,
//! `oom_kills` and `processes` (runc's `ps`).

use super::Container;
use crate::cgroups;
use crate::process::exec::ExecError;
use crate::state::{self, oci_state, OciState, StateDir, Status};
use crate::Error;
use std::path::Path;

impl Container {
    /// The container's runtime-spec state, its status derived now.
    pub fn state(&self) -> Result<OciState, Error> {
        let sd = StateDir::open(&self.root, &self.id)?;
        match sd.load()? {
            Some(st) => Ok(oci_state(&sd, &st)),
            None => Err(Error::NotCreated(self.id.clone())),
        }
    }

    /// Resource usage of the container's cgroup (the data of runc's `events --stats`).
    pub fn stats(&self) -> Result<cgroups::Stats, Error> {
        let (_sd, st, status) = self.load()?;
        if matches!(status, Status::Stopped | Status::Creating) {
            return Err(Error::NotRunning);
        }
        Ok(cgroups::manager(&st.cgroup_dirs).stats()?)
    }

    /// How many processes the OOM killer has killed in the container so far; `events`
    /// reports an `oom` event when it grows.
    pub fn oom_kills(&self) -> Result<u64, Error> {
        let (_sd, st, status) = self.load()?;
        if status == Status::Stopped {
            return Err(Error::NotRunning);
        }
        Ok(cgroups::manager(&st.cgroup_dirs).oom_kills())
    }
}

/// States of all containers under `root`, sorted by id. Takes no lock: a command holding
/// one container's (a create running its hooks) must not hold up the whole list.
pub fn list(root: &Path) -> Result<Vec<OciState>, Error> {
    let mut out = Vec::new();
    for id in state::list_ids(root)? {
        let Ok(sd) = StateDir::unlocked(root, &id) else {
            continue;
        };
        // Gone meanwhile (None or NotFound): not listed.
        if let Ok(Some(st)) = sd.load() {
            out.push(oci_state(&sd, &st));
        }
    }
    Ok(out)
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
