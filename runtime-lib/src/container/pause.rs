//! `pause` and `resume`: the container's freezer.

use super::Container;
use crate::cgroups;
use crate::state::Status;
use crate::Error;

impl Container {
    /// Freezes every process of the container (runc `pause`): created or running only.
    pub fn pause(&self) -> Result<(), Error> {
        let (_sd, st, status) = self.load()?;
        match status {
            Status::Running | Status::Created => Ok(cgroups::manager(&st.cgroup_dirs).freeze()?),
            _ => Err(Error::NotRunning),
        }
    }

    /// Thaws a paused container (runc `resume`).
    pub fn resume(&self) -> Result<(), Error> {
        let (_sd, st, status) = self.load()?;
        if status != Status::Paused {
            return Err(Error::NotPaused);
        }
        Ok(cgroups::manager(&st.cgroup_dirs).thaw()?)
    }
}
