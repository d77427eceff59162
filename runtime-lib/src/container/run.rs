//! `run`: create + start under one lock, and without detach wait for the process and
//! delete the container.

use super::delete::Reaped;
use super::start::start_created;
use super::{Container, CreateOptions};
use crate::process::spawn::wait_exit;
use crate::state::{with_status, OciState, Status};
use crate::Error;

/// How `run` ended.
#[derive(Debug)]
pub enum RunOutcome {
    /// Detached: the container keeps running.
    Detached(OciState),
    /// Exit status as a shell reports it: the code, or 128 + signal.
    Exited(i32),
    /// Exited, and a poststart or poststop hook failed (a warning): the exit status is
    /// still the container's, as in runc.
    ExitedWithWarning(i32, String),
    /// Detached, and a poststart hook failed (a warning).
    DetachedWithWarning(OciState, String),
}

impl Container {
    /// create + start, and without `detach` wait for the process and delete the container.
    pub fn run(&self, opts: &CreateOptions, detach: bool) -> Result<RunOutcome, Error> {
        // Started under the lock create took: nothing can come between, so the status is
        // known (created) and the state need not be read back.
        let (sd, st) = self.create_locked(opts)?;
        let started = start_created(&sd, &st);
        drop(sd);
        let poststart = match started {
            Ok(w) => w,
            Err(e) => {
                let _ = self.delete(true);
                return Err(e);
            }
        };
        if detach {
            let state = with_status(&st, Status::Running);
            return Ok(match poststart {
                Some(w) => RunOutcome::DetachedWithWarning(state, w),
                None => RunOutcome::Detached(state),
            });
        }
        let code = wait_exit(st.pid);
        let poststop = match self.delete_inner(true, Reaped::Yes) {
            Ok(()) => None,
            Err(Error::Warning(w)) => Some(w),
            Err(e) => return Err(e),
        };
        let warnings: Vec<String> = poststart.into_iter().chain(poststop).collect();
        Ok(if warnings.is_empty() {
            RunOutcome::Exited(code)
        } else {
            RunOutcome::ExitedWithWarning(code, warnings.join("; "))
        })
    }
}
