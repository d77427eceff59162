//! Inside the new process's ancestry: the non-dumpable intermediate that joins init's
//! namespaces, and the process itself, set up as init sets up the container's first
//! process, up to its execve.

use super::join::{join_namespaces, NsFd};
use super::spawn::Setup;
use crate::channel::{ChannelError, FromInit, InitEnd, ToInit};
use crate::process::spawn::{exit_now, raw_clone};
use crate::security;
use nix::sched::CloneFlags;
use std::convert::Infallible;
use std::io::Write;
use std::os::fd::AsRawFd;

/// Errors inside the new process, sent to the runtime as text.
#[derive(Debug, thiserror::Error)]
enum ChildError {
    #[error(transparent)]
    Channel(#[from] ChannelError),
    #[error(transparent)]
    Security(#[from] crate::security::SecurityError),
    #[error(transparent)]
    Console(#[from] crate::console::ConsoleError),
    #[error(transparent)]
    Seccomp(#[from] crate::seccomp::SeccompError),
    #[error(transparent)]
    Attr(#[from] crate::process::attrs::AttrError),
    #[error("exec: {arg0:?}: {reason}")]
    Exec { arg0: String, reason: String },
    #[error(transparent)]
    Cwd(#[from] crate::process::CwdError),
}

/// The intermediate: non-dumpable, joins the namespaces, forks the process into the pid
/// namespace as the runtime's child, reports its pid and exits.
pub(super) fn intermediate(setup: &Setup, ns: &[NsFd], chan: InitEnd) -> ! {
    // CVE-2019-5736: once we are in the container's pid namespace, a process in the
    // container could open /proc/<our pid>/exe, i.e. our binary on the host, keep an O_PATH
    // fd and reopen it for writing once we are gone. Non-dumpable makes /proc/<pid>/exe
    // (and ptrace attach) need CAP_SYS_PTRACE in the *host* user namespace, which a
    // container does not have. runc runs from a sealed memfd copy because it re-execs
    // itself into the container, so its window lasts the whole setup; we never re-exec,
    // the window ends with the execve of the user program (which replaces our image and
    // resets dumpability from the new binary), so non-dumpable until then suffices.
    // Limit: a container without a user namespace that was granted CAP_SYS_PTRACE holds
    // that capability in the host namespace and is not stopped by this (runc's memfd copy
    // would). Inherited by the fork below.
    if let Err(errno) = nix::sys::prctl::set_dumpable(false) {
        let _ = chan.send(FromInit::Error(format!("prctl PR_SET_DUMPABLE: {errno}")));
        exit_now(1);
    }
    // execCPUAffinity.initial: before the cgroup transition (inherited by the fork).
    if let Err(e) = setup.attrs.apply_initial_affinity() {
        let _ = chan.send(FromInit::Error(e.to_string()));
        exit_now(1);
    }
    // Before the user namespace is joined: chroot needs CAP_SYS_CHROOT in the namespace
    // that owns our mount namespace (the host's, here). Inherited by the fork below.
    if let Some(root) = setup.root {
        let r = nix::unistd::fchdir(root)
            .and_then(|()| nix::unistd::chroot("."))
            .and_then(|()| nix::unistd::chdir("/"));
        if let Err(errno) = r {
            let _ = chan.send(FromInit::Error(format!("chroot into init's root: {errno}")));
            exit_now(1);
        }
    }
    if let Err(e) = join_namespaces(ns) {
        let _ = chan.send(FromInit::Error(e.to_string()));
        exit_now(1);
    }
    match raw_clone(CloneFlags::CLONE_PARENT) {
        Ok(0) => child_main(setup, chan),
        Ok(pid) => {
            let code = i32::from(chan.send(FromInit::InitPid(pid)).is_err());
            exit_now(code);
        }
        Err(e) => {
            let _ = chan.send(FromInit::Error(format!("clone: {e}")));
            exit_now(1);
        }
    }
}

fn child_main(setup: &Setup, chan: InitEnd) -> ! {
    let err = match child_run(setup, &chan) {
        Ok(never) => match never {},
        Err(e) => e,
    };
    if chan.send(FromInit::Error(err.to_string())).is_err() {
        // Not eprintln: it panics when stderr fails (a seccomp profile refusing write).
        let _ = writeln!(std::io::stderr(), "ongi exec: {err}");
    }
    exit_now(1)
}

fn child_run(setup: &Setup, chan: &InitEnd) -> Result<Infallible, ChildError> {
    chan.expect(ToInit::Go)?;
    // We are in the container's cgroup now.
    setup.attrs.apply_final_affinity()?;
    let process = setup.process;
    if let Some(sock) = setup.console {
        let size = process
            .console_size()
            .map(|b| (b.height() as u16, b.width() as u16));
        crate::console::setup(sock.as_raw_fd(), size)?;
    }
    if let Some(adj) = process.oom_score_adj() {
        security::set_oom_score_adj(adj)?;
    }
    if process.rlimits().is_some() {
        // The runtime sets them, with its privileges (see security::rlimits::apply).
        chan.send(FromInit::Rlimits)?;
        chan.expect(ToInit::RlimitsDone)?;
    }
    // Before caps are dropped and before the filter: see Attrs::apply.
    setup.attrs.apply()?;
    // Only the channel is still needed (stdio and --preserve-fds are the process's own):
    // the state dir's lock fd, init's namespace fds and the console socket are closed
    // before the cwd is resolved, so none of them can be entered as /proc/self/fd/N. The
    // channel is marked close-on-exec: EOF on a successful execve is how the runtime
    // learns of it. All of it before the filter where possible: see `finalize`.
    let nnp =
        crate::process::finalize(process, 3 + setup.preserve_fds, &[chan.as_raw_fd()], || {
            load_seccomp(setup, chan)
        })?;
    let user = process.user();
    nix::sys::stat::umask(nix::sys::stat::Mode::from_bits_truncate(
        user.umask().unwrap_or(0o022),
    ));
    let x = crate::process::exec_args(process)
        .map_err(|(arg0, reason)| ChildError::Exec { arg0, reason })?;
    if nnp {
        // As late as possible, as in init: the profile must only allow execve after it.
        load_seccomp(setup, chan)?;
    }
    let errno = match nix::unistd::execve(&x.exe, &x.args, &x.env) {
        Ok(never) => match never {},
        Err(e) => e,
    };
    Err(ChildError::Exec {
        arg0: process
            .args()
            .iter()
            .flatten()
            .next()
            .cloned()
            .unwrap_or_default(),
        reason: format!("{}: {}", x.path.display(), crate::sys::errno_text(errno)),
    })
}

/// Loads the container's filter; a notify listener fd goes to the runtime, which hands it
/// to the agent at listenerPath before we go on (as init does at create).
fn load_seccomp(setup: &Setup, chan: &InitEnd) -> Result<(), ChildError> {
    let Some(prog) = setup.seccomp else {
        return Ok(());
    };
    if let Some(fd) = prog.load()? {
        chan.send(FromInit::SeccompFd(fd))?;
        chan.expect(ToInit::SeccompDone)?;
    }
    Ok(())
}
