//! `run`: create + start under one lock, and without detach wait for the process and
//! delete the container.

use super::delete::Reaped;
use super::start::start_created;
use super::{Container, CreateOptions};
use crate::process::spawn::wait_exit;
use crate::state::{with_status, OciState, Status};
use crate::{Error, Warning};

/// How `run` ended. Either way the run succeeded; `warnings` are the failed poststart
/// (and, without detach, poststop) hooks, which runc logs without failing the run.
#[derive(Debug)]
pub enum RunOutcome {
    /// Detached: the container keeps running.
    Detached {
        /// The container's state once started.
        state: OciState,
        /// What failed without failing the run (poststart hooks).
        warnings: Vec<Warning>,
    },
    /// The container's process exited and the container was deleted.
    Exited {
        /// Exit status as a shell reports it: the code, or 128 + signal; the container's
        /// even when hooks failed, as in runc.
        status: i32,
        /// What failed without failing the run (poststart, then poststop hooks).
        warnings: Vec<Warning>,
    },
}

impl RunOutcome {
    /// The warnings of either outcome.
    pub fn warnings(&self) -> &[Warning] {
        match self {
            RunOutcome::Detached { warnings, .. } | RunOutcome::Exited { warnings, .. } => warnings,
        }
    }
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
            return Ok(RunOutcome::Detached {
                state: with_status(&st, Status::Running),
                warnings: poststart,
            });
        }
        let status = wait_exit(st.pid);
        let poststop = self.delete_inner(true, Reaped::Yes)?;
        Ok(RunOutcome::Exited {
            status,
            warnings: poststart.into_iter().chain(poststop).collect(),
        })
    }
}
