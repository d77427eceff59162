//! The handshake channel between the runtime (parent) and the container's init (child).
//!
//! A SOCK_SEQPACKET socketpair keeps message boundaries, and each end is typed: the parent
//! can only send [`ToInit`] and receive [`FromInit`], the child the reverse, so a message
//! can never be sent in the wrong direction.

use nix::errno::Errno;
use nix::sys::socket::{recv, send, socketpair, AddressFamily, MsgFlags, SockFlag, SockType};
use std::os::fd::{AsRawFd, OwnedFd, RawFd};

/// Messages the runtime sends to init.
#[derive(Debug, PartialEq, Eq)]
pub enum ToInit {
    /// Id maps are written and init is in its cgroup: go on with setup.
    Go,
    /// The runtime ran the hooks init asked for.
    HooksDone,
}

/// Messages init sends to the runtime.
#[derive(Debug, PartialEq, Eq)]
pub enum FromInit {
    /// The intermediate process forked init with this host pid (double-fork path only).
    InitPid(i32),
    /// Namespaces and mounts exist, pivot_root has not happened: run prestart/createRuntime hooks.
    Hooks,
    /// Setup is complete; init now waits on the exec fifo.
    Ready,
    /// Setup failed; the text names what failed and why.
    Error(String),
}

#[derive(Debug, thiserror::Error)]
pub enum ChannelError {
    #[error("sync channel: {op}: {errno}")]
    Sys { op: &'static str, errno: Errno },
    #[error("sync channel: peer closed the channel (init exited during setup)")]
    Closed,
    #[error("sync channel: malformed message")]
    Malformed,
    #[error("sync channel: unexpected message {0}")]
    Unexpected(String),
}

pub struct ParentEnd(OwnedFd);
pub struct InitEnd(OwnedFd);

pub fn pair() -> Result<(ParentEnd, InitEnd), ChannelError> {
    let (a, b) = socketpair(
        AddressFamily::Unix,
        SockType::SeqPacket,
        None,
        SockFlag::SOCK_CLOEXEC,
    )
    .map_err(|errno| ChannelError::Sys {
        op: "socketpair",
        errno,
    })?;
    Ok((ParentEnd(a), InitEnd(b)))
}

fn send_raw(fd: RawFd, buf: &[u8]) -> Result<(), ChannelError> {
    loop {
        match send(fd, buf, MsgFlags::MSG_NOSIGNAL) {
            Ok(_) => return Ok(()),
            Err(Errno::EINTR) => continue,
            Err(Errno::EPIPE) | Err(Errno::ECONNRESET) => return Err(ChannelError::Closed),
            Err(errno) => return Err(ChannelError::Sys { op: "send", errno }),
        }
    }
}

fn recv_raw(fd: RawFd) -> Result<Vec<u8>, ChannelError> {
    let mut buf = vec![0u8; 8192];
    loop {
        match recv(fd, &mut buf, MsgFlags::empty()) {
            Ok(0) => return Err(ChannelError::Closed),
            Ok(n) => {
                buf.truncate(n);
                return Ok(buf);
            }
            Err(Errno::EINTR) => continue,
            Err(Errno::ECONNRESET) => return Err(ChannelError::Closed),
            Err(errno) => return Err(ChannelError::Sys { op: "recv", errno }),
        }
    }
}

impl ParentEnd {
    /// In a freshly cloned child: close the runtime's end so init sees EOF if the runtime
    /// dies. The child never drops this value (it execs or _exits), so no double close.
    pub fn close_in_child(&self) {
        // SAFETY: closing an fd number we own in this (child) process; see above.
        unsafe { libc::close(self.0.as_raw_fd()) };
    }

    pub fn send(&self, m: ToInit) -> Result<(), ChannelError> {
        let tag = match m {
            ToInit::Go => b'G',
            ToInit::HooksDone => b'H',
        };
        send_raw(self.0.as_raw_fd(), &[tag])
    }

    pub fn recv(&self) -> Result<FromInit, ChannelError> {
        let b = recv_raw(self.0.as_raw_fd())?;
        let (tag, rest) = b.split_first().ok_or(ChannelError::Malformed)?;
        Ok(match tag {
            b'P' => {
                let arr: [u8; 4] = rest.try_into().map_err(|_| ChannelError::Malformed)?;
                FromInit::InitPid(i32::from_le_bytes(arr))
            }
            b'K' => FromInit::Hooks,
            b'R' => FromInit::Ready,
            b'E' => FromInit::Error(String::from_utf8_lossy(rest).into_owned()),
            _ => return Err(ChannelError::Malformed),
        })
    }
}

impl InitEnd {
    pub fn send(&self, m: FromInit) -> Result<(), ChannelError> {
        let mut buf = Vec::with_capacity(8);
        match m {
            FromInit::InitPid(p) => {
                buf.push(b'P');
                buf.extend_from_slice(&p.to_le_bytes());
            }
            FromInit::Hooks => buf.push(b'K'),
            FromInit::Ready => buf.push(b'R'),
            FromInit::Error(s) => {
                buf.push(b'E');
                // A seqpacket message must fit the receiver's buffer; cut long texts.
                let s = s.as_bytes();
                buf.extend_from_slice(&s[..s.len().min(8000)]);
            }
        }
        send_raw(self.0.as_raw_fd(), &buf)
    }

    pub fn recv(&self) -> Result<ToInit, ChannelError> {
        let b = recv_raw(self.0.as_raw_fd())?;
        match b.as_slice() {
            [b'G'] => Ok(ToInit::Go),
            [b'H'] => Ok(ToInit::HooksDone),
            _ => Err(ChannelError::Malformed),
        }
    }

    pub fn expect(&self, want: ToInit) -> Result<(), ChannelError> {
        let got = self.recv()?;
        if got == want {
            Ok(())
        } else {
            Err(ChannelError::Unexpected(format!("{got:?}")))
        }
    }
}
