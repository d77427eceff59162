//! The runtime-spec view of a container: its status derived now (pid liveness and start
//! time, freezer, exec fifo), never stored.

use super::{process_alive, OciState, Persisted, StateDir, Status, OCI_VERSION};
use crate::cgroups;

pub(crate) fn status_of(sd: &StateDir, st: &Persisted) -> Status {
    if st.pid <= 0 {
        return Status::Creating;
    }
    if !process_alive(st.pid, st.pid_start) {
        return Status::Stopped;
    }
    if cgroups::frozen(&st.cgroup_dirs) {
        return Status::Paused;
    }
    if sd.fifo().exists() {
        Status::Created
    } else {
        Status::Running
    }
}

pub(crate) fn oci_state(sd: &StateDir, st: &Persisted) -> OciState {
    with_status(st, status_of(sd, st))
}

pub(crate) fn with_status(st: &Persisted, status: Status) -> OciState {
    OciState {
        oci_version: OCI_VERSION.to_string(),
        id: st.id.clone(),
        pid: if status == Status::Stopped { 0 } else { st.pid },
        status,
        bundle: st.bundle.clone(),
        rootfs: st.rootfs.clone(),
        created: st.created.clone(),
        owner: String::new(),
        annotations: st.annotations.clone(),
    }
}
