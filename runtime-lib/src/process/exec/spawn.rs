//! The runtime side of the exec clone sequence: clones the intermediate, places the
//! process in the container's cgroups, hands a seccomp notify fd to the agent, and learns
//! of a successful execve as EOF on the close-on-exec channel.

use super::cgroup::{join_cgroups, CgroupTarget};
use super::child::intermediate;
use super::join::NsFd;
use super::ExecError;
use crate::channel::{ChannelError, FromInit, InitEnd, ParentEnd, ToInit};
use crate::process::attrs::Attrs;
use crate::process::spawn::raw_clone;
use crate::Error;
use nix::sched::CloneFlags;
use nix::sys::wait::waitpid;
use nix::unistd::Pid;
use oci_spec::runtime::Process;
use std::os::fd::{AsFd, OwnedFd};
use std::path::Path;

/// SIGKILL and reap our child `pid` (best effort: used on paths that already failed).
pub(crate) fn kill_child(pid: i32) {
    let _ = nix::sys::signal::kill(Pid::from_raw(pid), nix::sys::signal::Signal::SIGKILL);
    let _ = waitpid(Pid::from_raw(pid), None);
}

/// What the new process needs, prepared before the clone (inherited as a memory copy).
pub(crate) struct Setup<'a> {
    pub(crate) process: &'a Process,
    pub(crate) console: Option<&'a OwnedFd>,
    pub(crate) preserve_fds: u32,
    /// The container's linux.seccomp, compiled by the runtime.
    pub(crate) seccomp: Option<&'a crate::seccomp::Program>,
    pub(crate) attrs: &'a Attrs,
    /// init's root, when the container has no mount namespace of its own (it shares ours).
    pub(crate) root: Option<&'a OwnedFd>,
}

/// What the runtime needs to hand a SCMP_ACT_NOTIFY listener fd to the seccomp agent.
pub(crate) struct Notify<'a> {
    pub(crate) seccomp: Option<&'a oci_spec::runtime::LinuxSeccomp>,
    pub(crate) state: crate::state::OciState,
}

/// Clones intermediate + process, places the process in the cgroups, lets it exec and
/// returns its host pid once execve succeeded.
pub(crate) fn spawn(
    setup: &Setup,
    ns: &[NsFd],
    cg: &CgroupTarget,
    notify: &Notify,
    parent: ParentEnd,
    child: InitEnd,
) -> Result<i32, Error> {
    let mid = raw_clone(CloneFlags::empty()).map_err(ExecError::Clone)?;
    if mid == 0 {
        parent.close_in_child();
        intermediate(setup, ns, child);
    }
    drop(child);
    let got = parent.recv();
    waitpid(Pid::from_raw(mid), None).map_err(|errno| ExecError::Wait { pid: mid, errno })?;
    let pid = match got {
        Ok(FromInit::InitPid(pid)) => pid,
        Ok(FromInit::Error(msg)) => return Err(ExecError::Child(msg).into()),
        Ok(other) => return Err(ExecError::Child(format!("unexpected message {other:?}")).into()),
        Err(e) => return Err(ExecError::Channel(e).into()),
    };
    let fail = |e: Error| -> Error {
        // Best effort: the process never ran user code; the original error matters.
        let _ = nix::sys::signal::kill(Pid::from_raw(pid), nix::sys::signal::Signal::SIGKILL);
        let _ = waitpid(Pid::from_raw(pid), None);
        e
    };
    crate::state::pause_point("exec:spawned");
    // Before it may exec: nothing of the user's may run outside the container's cgroup.
    join_cgroups(cg, pid).map_err(|e| fail(e.into()))?;
    parent
        .send(ToInit::Go)
        .map_err(|e| fail(ExecError::Channel(e).into()))?;
    loop {
        let got = parent.recv();
        if let Ok(FromInit::SeccompFd(fd)) = &got {
            // As create does: the agent gets the listener fd before the process goes on.
            let sc = notify.seccomp;
            let state = crate::seccomp::process_state(
                pid,
                sc.and_then(|s| s.listener_metadata().as_deref()),
                &notify.state,
            );
            let path = sc.and_then(|s| s.listener_path().as_deref());
            crate::seccomp::send_to_listener(path.unwrap_or(Path::new("")), &state, fd.as_fd())
                .map_err(|e| fail(e.into()))?;
            parent
                .send(ToInit::SeccompDone)
                .map_err(|e| fail(ExecError::Channel(e).into()))?;
            continue;
        }
        if let Ok(FromInit::Rlimits) = &got {
            crate::process::set_rlimits(&parent, pid, Some(setup.process))
                .map_err(|e| fail(e.into()))?;
            continue;
        }
        return exec_result(got, pid, &fail);
    }
}

/// The last message of the exec'd process's setup.
fn exec_result(
    got: Result<FromInit, ChannelError>,
    pid: i32,
    fail: &dyn Fn(Error) -> Error,
) -> Result<i32, Error> {
    match got {
        // The channel is close-on-exec: EOF without an error message means execve worked.
        Err(ChannelError::Closed) => Ok(pid),
        Ok(FromInit::Error(msg)) => {
            let _ = waitpid(Pid::from_raw(pid), None);
            Err(ExecError::Child(msg).into())
        }
        Ok(other) => Err(fail(
            ExecError::Child(format!("unexpected message {other:?}")).into(),
        )),
        Err(e) => Err(fail(ExecError::Channel(e).into())),
    }
}
