//! `kill`: signals init or every process of the container; SIGKILL of a paused container
//! thaws it.

use super::Container;
use crate::cgroups;
use crate::state::{self, status_of, Persisted, StateDir, Status};
use crate::Error;
use nix::errno::Errno;
use nix::sys::signal::{kill as send_signal, Signal};
use nix::unistd::Pid;
use std::os::fd::AsFd;
use std::time::{Duration, Instant};

impl Container {
    /// Sends `sig` to init, or with `all` to every process in the container's cgroup.
    pub fn kill(&self, sig: Signal, all: bool) -> Result<(), Error> {
        let sd = StateDir::open(&self.root, &self.id)?;
        let st = sd
            .load()?
            .ok_or_else(|| Error::NotCreated(self.id.clone()))?;
        let status = status_of(&sd, &st);
        // A v1-frozen task acts on no signal, not even SIGKILL, until thawed. Callers that
        // SIGKILL a paused container wait for it to exit (containerd's `task kill` and
        // `task delete --force`, CRI's StopContainer), so, as runc, SIGKILL thaws the cgroup
        // once sent (nothing runs user code before dying); other signals wait for `resume`.
        let thaw_after = status == Status::Paused && sig == Signal::SIGKILL;
        if all {
            let mut pids = cgroups::pids(&st.cgroup_dirs).unwrap_or_default();
            if status != Status::Stopped && !pids.contains(&st.pid) {
                pids.push(st.pid);
            }
            for p in pids {
                let _ = send_signal(Pid::from_raw(p), sig);
            }
            if thaw_after {
                cgroups::thaw(&st.cgroup_dirs);
            }
            return Ok(());
        }
        if status == Status::Stopped || status == Status::Creating {
            return Err(Error::NotRunning);
        }
        send_signal(Pid::from_raw(st.pid), sig).map_err(|errno| match errno {
            Errno::ESRCH => Error::NotRunning,
            e => Error::Signal {
                pid: st.pid,
                errno: e,
            },
        })?;
        if thaw_after {
            cgroups::thaw(&st.cgroup_dirs);
        }
        Ok(())
    }
}

pub(super) fn kill_and_wait(st: &Persisted) -> Result<(), Error> {
    if st.pid <= 0 || !state::process_alive(st.pid, st.pid_start) {
        return Ok(());
    }
    let pidfd = crate::sys::pidfd_open(st.pid).ok();
    let _ = send_signal(Pid::from_raw(st.pid), Signal::SIGKILL);
    let deadline = Instant::now() + Duration::from_secs(10);
    if let Some(fd) = pidfd {
        let mut fds = [nix::poll::PollFd::new(
            fd.as_fd(),
            nix::poll::PollFlags::POLLIN,
        )];
        let _ = nix::poll::poll(&mut fds, nix::poll::PollTimeout::from(10_000u16));
    }
    while state::process_alive(st.pid, st.pid_start) {
        if Instant::now() > deadline {
            return Err(Error::Signal {
                pid: st.pid,
                errno: Errno::ETIMEDOUT,
            });
        }
        std::thread::sleep(Duration::from_millis(2));
    }
    Ok(())
}
