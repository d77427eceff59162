//! The foreground signal proxy of `exec` (and the pty relay it drives).

use crate::process::spawn::wait_exit;
use crate::process::tty_relay;
use nix::errno::Errno;
use nix::unistd::Pid;
use std::os::fd::AsFd;

/// Signals a foreground `exec` passes on to the process, as runc's signal proxy does; the
/// synchronous ones, SIGCHLD and the job-control stops stay ours.
const FORWARDED: [nix::sys::signal::Signal; 9] = {
    use nix::sys::signal::Signal::*;
    [
        SIGHUP, SIGINT, SIGQUIT, SIGTERM, SIGUSR1, SIGUSR2, SIGALRM, SIGCONT, SIGWINCH,
    ]
};

/// Waits for our child `pid`, forwarding [`FORWARDED`] signals sent to us meanwhile, so a
/// supervisor that stops `ongi exec` stops the process too. The caller's signal mask is
/// restored afterwards. Without signalfd/pidfd it degrades to a plain wait.
pub(crate) fn wait_forwarding(pid: i32, relay: Option<tty_relay::Relay>) -> i32 {
    use nix::poll::{poll, PollFd, PollFlags, PollTimeout};
    use nix::sys::signal::{SigSet, SigmaskHow};
    use nix::sys::signalfd::{SfdFlags, SignalFd};
    let mut set = SigSet::empty();
    for s in FORWARDED {
        set.add(s);
    }
    let Ok(old) = set.thread_swap_mask(SigmaskHow::SIG_BLOCK) else {
        return wait_exit(pid);
    };
    let fds = SignalFd::with_flags(&set, SfdFlags::SFD_CLOEXEC | SfdFlags::SFD_NONBLOCK)
        .ok()
        .zip(crate::sys::pidfd_open(pid).ok());
    if let Some((sfd, pidfd)) = fds {
        let (mut master_open, mut stdin_open) = (relay.is_some(), relay.is_some());
        let stdin = std::io::stdin();
        loop {
            let mut pfds = vec![
                PollFd::new(sfd.as_fd(), PollFlags::POLLIN),
                PollFd::new(pidfd.as_fd(), PollFlags::POLLIN),
            ];
            // Slots 2 and 3 (when present): the pty master, then our stdin.
            if let (Some(r), true) = (&relay, master_open) {
                pfds.push(PollFd::new(r.master.as_fd(), PollFlags::POLLIN));
            }
            if stdin_open {
                pfds.push(PollFd::new(stdin.as_fd(), PollFlags::POLLIN));
            }
            match poll(&mut pfds, PollTimeout::NONE) {
                Ok(_) | Err(Errno::EINTR) => {}
                Err(_) => break,
            }
            let ready: Vec<bool> = pfds.iter().map(|p| p.any().unwrap_or(false)).collect();
            drop(pfds);
            while let Ok(Some(info)) = sfd.read_signal() {
                match (
                    nix::sys::signal::Signal::try_from(info.ssi_signo as i32),
                    &relay,
                ) {
                    // With our own pty, a resize of our terminal is passed on as a resize.
                    (Ok(nix::sys::signal::Signal::SIGWINCH), Some(r)) => r.resize(),
                    (Ok(sig), _) => {
                        let _ = nix::sys::signal::kill(Pid::from_raw(pid), sig);
                    }
                    (Err(_), _) => {}
                }
            }
            if let Some(r) = &relay {
                let mut slot = 2;
                if master_open {
                    if ready.get(slot) == Some(&true) {
                        master_open = r.copy_master();
                    }
                    slot += 1;
                }
                if stdin_open && ready.get(slot) == Some(&true) {
                    stdin_open = r.copy_stdin();
                }
            }
            if ready[1] {
                if let Some(r) = &relay {
                    r.drain();
                }
                break;
            }
        }
    }
    let code = wait_exit(pid);
    // Restores our terminal before the caller prints anything.
    drop(relay);
    let _ = old.thread_set_mask();
    code
}
