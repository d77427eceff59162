//! `start`: lets the created init exec the user program, then runs poststart hooks.

use super::kill::kill_and_wait;
use super::Container;
use crate::hooks;
use crate::state::fifo::{self as exec_fifo, Released};
use crate::state::{self, oci_state, status_of, OciState, Persisted, StateDir, Status};
use crate::{Error, Warning};

impl Container {
    /// Lets init exec the user program (opens the exec fifo), then runs poststart hooks.
    /// The container is started whenever this returns `Ok`; failed poststart hooks come
    /// back as its warnings (runtime-spec lifecycle step 9: logged, not fatal).
    pub fn start(&self) -> Result<Vec<Warning>, Error> {
        let sd = StateDir::open(&self.root, &self.id)?;
        let st = sd
            .load()?
            .ok_or_else(|| Error::NotCreated(self.id.clone()))?;
        match status_of(&sd, &st) {
            Status::Created => {}
            Status::Stopped => {
                return Err(Error::BadStatus(
                    "cannot start a container that has stopped".into(),
                ))
            }
            Status::Running | Status::Paused => {
                return Err(Error::BadStatus(
                    "cannot start an already running container".into(),
                ))
            }
            Status::Creating => return Err(Error::NotCreated(self.id.clone())),
        }
        state::pause_point("start:locked");
        start_created(&sd, &st)
    }
}

/// Lets the init of a created container exec the user program (opens the exec fifo), then
/// runs poststart hooks. The caller holds the state dir lock and has checked the status.
/// Returns the failures of poststart hooks, which are only warnings.
pub(super) fn start_created(sd: &StateDir, st: &Persisted) -> Result<Vec<Warning>, Error> {
    let fifo = sd.fifo();
    let f = match exec_fifo::release(&fifo, st.pid, st.pid_start) {
        Ok(Released::Exec(f)) => f,
        Ok(Released::Stopped) => {
            return Err(Error::BadStatus(
                "cannot start a container that has stopped".into(),
            ))
        }
        Ok(Released::HookFailed(msg)) => {
            let _ = kill_and_wait(st);
            return Err(Error::Init(msg));
        }
        Err(errno) => {
            return Err(Error::Fifo {
                path: fifo.clone(),
                errno,
            })
        }
    };
    state::pause_point("start:released");
    let _ = std::fs::remove_file(&fifo);
    exec_fifo::wait_exec(&f, st.pid, st.pid_start);
    if let Some(h) = st.hooks.as_ref().and_then(|h| h.poststart().clone()) {
        // The user process was executed: that is the state poststart is about, even if
        // the process has already exited by now.
        let s = OciState {
            status: Status::Running,
            pid: st.pid,
            ..oci_state(sd, st)
        };
        // runtime-spec lifecycle step 9: "If any poststart hook fails, the runtime MUST log
        // a warning, but the remaining hooks and lifecycle continue as if the hook had
        // succeeded."
        let failed = hooks::run_all_continue("poststart", &h, &s);
        return Ok(failed.into_iter().map(Warning::Hook).collect());
    }
    Ok(Vec::new())
}
