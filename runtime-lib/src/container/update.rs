//! `update`: new limits for a live container.

use super::Container;
use crate::cgroups;
use crate::state::Status;
use crate::Error;

impl Container {
    /// Applies the set fields of `r` to the live container's cgroup (runc `update`);
    /// device rules are not changed.
    pub fn update(&self, r: &oci_spec::runtime::LinuxResources) -> Result<(), Error> {
        let (_sd, st, status) = self.load()?;
        if matches!(status, Status::Stopped | Status::Creating) {
            return Err(Error::NotRunning);
        }
        Ok(cgroups::update(&st.cgroup_dirs, r)?)
    }
}
