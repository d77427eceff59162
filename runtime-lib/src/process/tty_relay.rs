//! Foreground `exec -t` without `--console-socket`: the runtime keeps the pty master itself
//! and relays it to its own stdio until the process exits, as runc does. The pty is still
//! created inside the container (console.rs); the runtime just plays the console socket's
//! listener over a private socketpair.

use nix::errno::Errno;
use nix::sys::socket::{
    recvmsg, socketpair, AddressFamily, ControlMessageOwned, MsgFlags, SockFlag, SockType,
};
use nix::sys::termios::{cfmakeraw, tcgetattr, tcsetattr, SetArg, Termios};
use std::io::IoSliceMut;
use std::os::fd::{AsFd, AsRawFd, FromRawFd, OwnedFd, RawFd};

/// (ours, the child's "console socket").
pub(crate) fn socket_pair() -> Result<(OwnedFd, OwnedFd), Errno> {
    socketpair(
        AddressFamily::Unix,
        SockType::Stream,
        None,
        SockFlag::SOCK_CLOEXEC,
    )
}

/// The master console::setup sent over our end (queued before the child exec'd).
pub(crate) fn receive_master(sock: &OwnedFd) -> Result<OwnedFd, Errno> {
    let mut buf = [0u8; 256];
    let mut iov = [IoSliceMut::new(&mut buf)];
    let mut space = nix::cmsg_space!([RawFd; 1]);
    let msg = recvmsg::<()>(
        sock.as_raw_fd(),
        &mut iov,
        Some(&mut space),
        MsgFlags::MSG_CMSG_CLOEXEC,
    )?;
    for c in msg.cmsgs()? {
        if let ControlMessageOwned::ScmRights(fds) = c {
            if let Some(&fd) = fds.first() {
                // SAFETY: the kernel just installed this fd in our table; nobody else owns it.
                return Ok(unsafe { OwnedFd::from_raw_fd(fd) });
            }
        }
    }
    Err(Errno::EBADMSG)
}

/// Copies between our stdio and the pty master. While it lives, a terminal on our stdin is
/// in raw mode (the container's pty does the line discipline); dropping it restores it.
pub(crate) struct Relay {
    pub(crate) master: OwnedFd,
    saved: Option<Termios>,
}

fn winsize_of(fd: RawFd) -> Option<libc::winsize> {
    // SAFETY: winsize is plain data; all-zero is a valid value.
    let mut ws: libc::winsize = unsafe { std::mem::zeroed() };
    // SAFETY: TIOCGWINSZ writes a winsize into the struct we own, living across the call.
    let r = unsafe { libc::ioctl(fd, libc::TIOCGWINSZ, &mut ws) };
    (r == 0).then_some(ws)
}

impl Relay {
    pub(crate) fn new(master: OwnedFd) -> Relay {
        let stdin = std::io::stdin();
        let saved = tcgetattr(stdin.as_fd()).ok();
        if let Some(t) = &saved {
            let mut raw = t.clone();
            cfmakeraw(&mut raw);
            let _ = tcsetattr(stdin.as_fd(), SetArg::TCSANOW, &raw);
        }
        let r = Relay { master, saved };
        r.resize();
        r
    }

    /// Gives the pty our terminal's size (the kernel then sends SIGWINCH inside).
    pub(crate) fn resize(&self) {
        if let Some(ws) = winsize_of(libc::STDIN_FILENO) {
            // SAFETY: TIOCSWINSZ reads the winsize we own, living across the call.
            let _ = unsafe { libc::ioctl(self.master.as_raw_fd(), libc::TIOCSWINSZ, &ws) };
        }
    }

    /// Stdin -> master. False once stdin is at EOF: the pty then gets the EOF character,
    /// so a shell reading it ends as it would at a terminal.
    pub(crate) fn copy_stdin(&self) -> bool {
        let mut buf = [0u8; 4096];
        match nix::unistd::read(std::io::stdin().as_fd(), &mut buf) {
            Ok(0) | Err(_) => {
                let _ = write_all(&self.master, b"\x04");
                false
            }
            Ok(n) => write_all(&self.master, &buf[..n]).is_ok(),
        }
    }

    /// Master -> stdout. False once the slave side is gone (EIO) or stdout is.
    pub(crate) fn copy_master(&self) -> bool {
        let mut buf = [0u8; 4096];
        match nix::unistd::read(&self.master, &mut buf) {
            Ok(0) | Err(_) => false,
            Ok(n) => write_all(std::io::stdout(), &buf[..n]).is_ok(),
        }
    }

    /// After the process exited: whatever it wrote last is still in the pty.
    pub(crate) fn drain(&self) {
        use nix::poll::{poll, PollFd, PollFlags, PollTimeout};
        loop {
            let mut p = [PollFd::new(self.master.as_fd(), PollFlags::POLLIN)];
            match poll(&mut p, PollTimeout::ZERO) {
                Ok(n) if n > 0 => {
                    if !self.copy_master() {
                        return;
                    }
                }
                _ => return,
            }
        }
    }
}

impl Drop for Relay {
    fn drop(&mut self) {
        if let Some(t) = &self.saved {
            let _ = tcsetattr(std::io::stdin().as_fd(), SetArg::TCSANOW, t);
        }
    }
}

fn write_all(fd: impl AsFd, mut data: &[u8]) -> Result<(), Errno> {
    while !data.is_empty() {
        match nix::unistd::write(fd.as_fd(), data) {
            Ok(n) => data = &data[n..],
            Err(Errno::EINTR) => {}
            Err(e) => return Err(e),
        }
    }
    Ok(())
}
