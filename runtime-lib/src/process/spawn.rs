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

/// fork-like clone: no new stack, the child continues on a copy of ours, without the state
/// locks of the command.
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
        return Err(Errno::last());
    }
    if r == 0 {
        // No execve follows soon (if ever): the child must not keep the command's state
        // lock alive past the command (see state::HELD_LOCKS).
        crate::state::close_inherited_locks();
    }
    Ok(r as i32)
}

/// clone3 with CLONE_INTO_CGROUP: the child starts in the v2 cgroup `cgroup_fd`, so
/// nobody has to migrate it (see cgroups::Placement). Fork-like: no stack given.
fn clone_into_cgroup(flags: CloneFlags, cgroup_fd: std::os::fd::RawFd) -> Result<i32, Errno> {
    /// struct clone_args up to `cgroup` (CLONE_ARGS_SIZE_VER2).
    #[repr(C)]
    #[derive(Default)]
    struct CloneArgs {
        flags: u64,
        pidfd: u64,
        child_tid: u64,
        parent_tid: u64,
        exit_signal: u64,
        stack: u64,
        stack_size: u64,
        tls: u64,
        set_tid: u64,
        set_tid_size: u64,
        cgroup: u64,
    }
    const CLONE_INTO_CGROUP: u64 = 0x2_0000_0000;
    let args = CloneArgs {
        flags: flags.bits() as u64 | CLONE_INTO_CGROUP,
        exit_signal: libc::SIGCHLD as u64,
        cgroup: cgroup_fd as u64,
        ..Default::default()
    };
    // SAFETY: `args` is a valid clone_args of the size passed; with no stack and without
    // CLONE_VM the child runs on a private copy of our stack, exactly like fork(2).
    let r = unsafe {
        libc::syscall(
            libc::SYS_clone3,
            &args as *const CloneArgs,
            std::mem::size_of::<CloneArgs>(),
        )
    };
    if r < 0 {
        return Err(Errno::last());
    }
    if r == 0 {
        // No execve follows soon (if ever): the child must not keep the command's state
        // lock alive past the command (see state::HELD_LOCKS).
        crate::state::close_inherited_locks();
    }
    Ok(r as i32)
}

pub(super) fn exit_now(code: i32) -> ! {
    // SAFETY: _exit skips atexit handlers and stdio flushing that belong to the runtime.
    unsafe { libc::_exit(code) }
}

/// Returns init's host pid. `parent` is the runtime's end (closed in the children).
pub fn spawn(cfg: &InitConfig, parent: &ParentEnd, child: InitEnd) -> Result<Pid, ProcessError> {
    let ns = &cfg.namespaces;
    if !ns.needs_intermediate() {
        use std::os::fd::AsRawFd;
        let into = cfg
            .cgroup_into_fd
            .as_ref()
            .and_then(|fd| clone_into_cgroup(ns.new, fd.as_raw_fd()).ok());
        cfg.cloned_into_cgroup.set(into.is_some());
        // Without clone3 or a usable v2 directory: a plain clone, the runtime moves init.
        let pid = match into {
            Some(pid) => pid,
            None => raw_clone(ns.new).map_err(ProcessError::Clone)?,
        };
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

/// Writes init's uid_map or gid_map (`file`) from the spec's mappings: the runtime's part
/// of the user namespace handshake.
pub(crate) fn write_id_map(
    pid: i32,
    file: &'static str,
    maps: Option<&[oci_spec::runtime::LinuxIdMapping]>,
) -> Result<(), ProcessError> {
    let text: String = maps
        .unwrap_or_default()
        .iter()
        .map(|m| format!("{} {} {}\n", m.container_id(), m.host_id(), m.size()))
        .collect();
    let path = std::path::PathBuf::from(format!("/proc/{pid}/{file}"));
    std::fs::write(&path, text).map_err(|source| ProcessError::IdMap { path, source })
}

/// Waits for our child `pid` (init is the runtime's child on both clone paths).
pub(crate) fn wait_exit(pid: i32) -> i32 {
    loop {
        match waitpid(Pid::from_raw(pid), None) {
            Ok(nix::sys::wait::WaitStatus::Exited(_, c)) => return c,
            Ok(nix::sys::wait::WaitStatus::Signaled(_, s, _)) => return 128 + s as i32,
            Ok(_) => continue,
            Err(Errno::EINTR) => continue,
            Err(_) => return 255,
        }
    }
}
