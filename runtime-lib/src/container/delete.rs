//! `delete`: kills what is left, removes the cgroups and the state directory, runs poststop
//! hooks.

use super::kill::kill_and_wait;
use super::Container;
use crate::cgroups;
use crate::hooks;
use crate::state::{self, oci_state, status_of, StateDir, Status};
use crate::{Error, Warning};
use nix::sys::signal::{kill as send_signal, Signal};
use nix::unistd::Pid;

/// Whether the caller already reaped the container's init (`run`).
#[derive(Clone, Copy)]
pub(super) enum Reaped {
    Yes,
    No,
}

impl Container {
    /// Removes the container. A running one needs `force` (it is then SIGKILLed); a created
    /// one is killed as in runc. With `force` a missing container is not an error. The
    /// container is gone whenever this returns `Ok`; failed poststop hooks come back as its
    /// warnings (runtime-spec lifecycle step 13: logged, not fatal).
    pub fn delete(&self, force: bool) -> Result<Vec<Warning>, Error> {
        self.delete_inner(force, Reaped::No)
    }

    pub(super) fn delete_inner(&self, force: bool, reaped: Reaped) -> Result<Vec<Warning>, Error> {
        // What killed commands left under the root goes with any delete.
        state::sweep_leftovers(&self.root);
        let sd = match StateDir::open(&self.root, &self.id) {
            Ok(sd) => sd,
            Err(crate::state::StateError::NotExist(_)) if force => return Ok(Vec::new()),
            Err(e) => return Err(e.into()),
        };
        let Some(st) = sd.load()? else {
            sd.remove()?;
            return Ok(Vec::new());
        };
        // `run` reaped init itself: the container is stopped, no need to probe /proc.
        let status = match reaped {
            Reaped::Yes if st.pid > 0 => Status::Stopped,
            _ => status_of(&sd, &st),
        };
        state::pause_point("delete:locked");
        match status {
            Status::Stopped => {}
            Status::Created | Status::Creating => kill_and_wait(&st)?,
            Status::Running if force => kill_and_wait(&st)?,
            Status::Paused if force => {
                // A v1-frozen task does not die of SIGKILL until thawed: signal first (so
                // nothing runs user code after the thaw), then thaw, then wait.
                let _ = send_signal(Pid::from_raw(st.pid), Signal::SIGKILL);
                cgroups::thaw(&st.cgroup_dirs);
                kill_and_wait(&st)?
            }
            Status::Running | Status::Paused => {
                return Err(Error::BadStatus(format!(
                    "cannot delete container {} that is not stopped: {status}",
                    self.id
                )))
            }
        }
        state::pause_point("delete:killed");
        // Stray processes (e.g. from a forked daemon) would keep the cgroup busy. A shared
        // (pod) cgroup holds other containers' processes: it is left alone.
        let cg = if st.cgroup_shared {
            cgroups::remove_empty(&st.cgroup_dirs);
            Ok(())
        } else {
            if let Ok(pids) = cgroups::pids(&st.cgroup_dirs) {
                for p in pids {
                    let _ = send_signal(Pid::from_raw(p), Signal::SIGKILL);
                }
            }
            cgroups::thaw(&st.cgroup_dirs);
            cgroups::remove(&st.cgroup_dirs)
        };
        let poststop = st
            .hooks
            .as_ref()
            .and_then(|h| h.poststop().clone())
            .map(|h| {
                let mut s = oci_state(&sd, &st);
                s.status = Status::Stopped;
                hooks::run_all_continue("poststop", &h, &s)
            })
            .unwrap_or_default();
        state::pause_point("delete:removing");
        sd.remove()?;
        cg?;
        // runtime-spec: a failing poststop hook is logged, the delete still succeeds.
        Ok(poststop.into_iter().map(Warning::Hook).collect())
    }
}
