//! The exec fifo, runtime side: `start` releases init by opening it (init blocks writing
//! one byte, or "E" + the error of a failed startContainer hook), then waits for init's
//! execve to close init's end.

use super::process_alive;
use nix::errno::Errno;
use std::os::fd::{AsFd, OwnedFd};
use std::path::Path;
use std::time::Duration;

/// What opening the exec fifo of a created container came to.
pub(crate) enum Released {
    /// init got its byte and goes on to exec the user program: the fifo, to wait on
    /// with [`wait_exec`].
    Exec(OwnedFd),
    /// init is gone.
    Stopped,
    /// A startContainer hook failed (init's message); init must be killed.
    HookFailed(String),
}

/// Opens `fifo` and reads init's byte, polling init (`pid` started at `pid_start`) for
/// liveness meanwhile. An errno is that of the fifo (open, read or poll).
pub(crate) fn release(fifo: &Path, pid: i32, pid_start: u64) -> Result<Released, Errno> {
    let f = nix::fcntl::open(
        fifo,
        nix::fcntl::OFlag::O_RDONLY | nix::fcntl::OFlag::O_NONBLOCK | nix::fcntl::OFlag::O_CLOEXEC,
        nix::sys::stat::Mode::empty(),
    )?;
    loop {
        let mut fds = [nix::poll::PollFd::new(
            f.as_fd(),
            nix::poll::PollFlags::POLLIN,
        )];
        match nix::poll::poll(&mut fds, nix::poll::PollTimeout::from(100u16)) {
            Ok(0) => {
                if !process_alive(pid, pid_start) {
                    return Ok(Released::Stopped);
                }
            }
            Ok(_) => {
                // "0", or "E" + the error of a failed startContainer hook (one write
                // below PIPE_BUF, so one read gets it whole).
                let mut b = [0u8; 4096];
                match nix::unistd::read(&f, &mut b) {
                    Ok(n) if n > 0 && b[0] == b'E' => {
                        let msg = String::from_utf8_lossy(&b[1..n]).into_owned();
                        return Ok(Released::HookFailed(msg));
                    }
                    Ok(n) if n > 0 => return Ok(Released::Exec(f)),
                    Ok(_) | Err(Errno::EAGAIN) => {
                        if !process_alive(pid, pid_start) {
                            return Ok(Released::Stopped);
                        }
                        std::thread::sleep(Duration::from_millis(1));
                    }
                    Err(errno) => return Err(errno),
                }
            }
            Err(Errno::EINTR) => {}
            Err(errno) => return Err(errno),
        }
    }
}

/// After init's byte on the exec fifo: waits for EOF, i.e. for init's write end to be closed
/// by its execve (O_CLOEXEC) or by its death, so poststart hooks run after the user process
/// was executed and never race with startContainer hooks.
pub(crate) fn wait_exec(f: &OwnedFd, pid: i32, pid_start: u64) {
    let mut b = [0u8; 16];
    loop {
        match nix::unistd::read(f, &mut b) {
            Ok(0) => return,
            Ok(_) | Err(Errno::EINTR) => continue,
            Err(Errno::EAGAIN) => {
                if !process_alive(pid, pid_start) {
                    return;
                }
                let mut fds = [nix::poll::PollFd::new(
                    f.as_fd(),
                    nix::poll::PollFlags::POLLIN,
                )];
                let _ = nix::poll::poll(&mut fds, nix::poll::PollTimeout::from(100u16));
            }
            Err(_) => return,
        }
    }
}
