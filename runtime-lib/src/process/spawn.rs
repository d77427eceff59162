//! The runtime side of the clone sequence.
//!
//! Fast path: one clone(2) with every new-namespace flag; the child is init. When a pid or
//! user namespace must be joined (or a new user namespace must own joined ones), or a time
//! namespace is new or joined (CLONE_NEWTIME only reaches children, and clone(2) cannot
//! take it), an intermediate child joins and unshares first (and writes
//! linux.timeOffsets), then forks init with CLONE_PARENT so init is still the runtime's
//! child, and exits.
//!
//! No re-exec of our binary and no threads: the clone happens in the calling process, which
//! must be single-threaded (glibc's malloc locks are not reset by a raw clone).

use super::{init, InitConfig, ProcessError};
use crate::channel::{FromInit, InitEnd, ParentEnd};
use crate::namespaces;
use nix::errno::Errno;
use nix::sched::CloneFlags;
use nix::sys::wait::waitpid;
use nix::unistd::Pid;

/// fork-like clone: no new stack, the child continues on a copy of ours.
pub(super) fn raw_clone(flags: CloneFlags) -> Result<i32, Errno> {
    // SAFETY: without CLONE_VM the child gets a private copy of the address space, so
    // sharing the stack pointer value is fine, exactly like fork(2).
    let r = unsafe {
        libc::syscall(
            libc::SYS_clone,
            flags.bits() as libc::c_ulong | libc::SIGCHLD as libc::c_ulong,
            0usize,
            0usize,
            0usize,
            0usize,
        )
    };
    if r < 0 {
        Err(Errno::last())
    } else {
        Ok(r as i32)
    }
}

pub(super) fn exit_now(code: i32) -> ! {
    // SAFETY: _exit skips atexit handlers and stdio flushing that belong to the runtime.
    unsafe { libc::_exit(code) }
}

/// Returns init's host pid. `parent` is the runtime's end (closed in the children).
pub fn spawn(cfg: &InitConfig, parent: &ParentEnd, child: InitEnd) -> Result<Pid, ProcessError> {
    let ns = &cfg.namespaces;
    if !ns.needs_intermediate() {
        let pid = raw_clone(ns.new).map_err(ProcessError::Clone)?;
        if pid == 0 {
            parent.close_in_child();
            init::main(cfg, child, false);
        }
        return Ok(Pid::from_raw(pid));
    }
    let mid = raw_clone(CloneFlags::empty()).map_err(ProcessError::Clone)?;
    if mid == 0 {
        parent.close_in_child();
        let r = ns
            .join_all()
            .and_then(|()| namespaces::unshare(ns.new))
            .and_then(|()| ns.unshare_time());
        if let Err(e) = r {
            let _ = child.send(FromInit::Error(e.to_string()));
            exit_now(1);
        }
        match raw_clone(CloneFlags::CLONE_PARENT) {
            Ok(0) => init::main(cfg, child, true),
            Ok(pid) => {
                let code = i32::from(child.send(FromInit::InitPid(pid)).is_err());
                exit_now(code);
            }
            Err(e) => {
                let _ = child.send(FromInit::Error(format!("clone init: {e}")));
                exit_now(1);
            }
        }
    }
    drop(child);
    let got = parent.recv();
    waitpid(Pid::from_raw(mid), None).map_err(ProcessError::Wait)?;
    match got {
        Ok(FromInit::InitPid(pid)) => Ok(Pid::from_raw(pid)),
        Ok(FromInit::Error(msg)) => Err(ProcessError::Init(msg)),
        Ok(other) => Err(ProcessError::Init(format!("unexpected message {other:?}"))),
        Err(e) => Err(ProcessError::Channel(e)),
    }
}
