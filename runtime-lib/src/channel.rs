//! The handshake channel between the runtime (parent) and the container's init (child).
//!
//! A SOCK_SEQPACKET socketpair keeps message boundaries, and each end is typed: the parent
//! can only send [`ToInit`] and receive [`FromInit`], the child the reverse, so a message
//! can never be sent in the wrong direction.

use nix::errno::Errno;
use nix::sys::socket::{send, socketpair, AddressFamily, MsgFlags, SockFlag, SockType};
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};

/// Messages the runtime sends to init.
#[derive(Debug, PartialEq, Eq)]
pub enum ToInit {
    /// Id maps are written and init is in its cgroup: go on with setup.
    Go,
    /// The runtime ran the hooks init asked for.
    HooksDone,
    /// The runtime handed the seccomp notify fd to the agent.
    SeccompDone,
    /// The runtime set process.rlimits on the process.
    RlimitsDone,
}

/// Messages init sends to the runtime.
#[derive(Debug)]
pub enum FromInit {
    /// The intermediate process forked init with this host pid (double-fork path only).
    InitPid(i32),
    /// Namespaces and mounts exist, pivot_root has not happened: run prestart/createRuntime hooks.
    Hooks,
    /// Set process.rlimits on me (prlimit, with the runtime's privileges: inside a user
    /// namespace the process cannot raise a hard limit). Waits for [`ToInit::RlimitsDone`].
    Rlimits,
    /// Setup is complete; init now waits on the exec fifo.
    Ready,
    /// Setup failed; the text names what failed and why.
    Error(String),
    /// The seccomp filter is loaded; this is its notify listener fd (sent as SCM_RIGHTS), for
    /// the agent at linux.seccomp.listenerPath. Init waits for [`ToInit::SeccompDone`].
    SeccompFd(OwnedFd),
}

/// The handshake between the runtime and a container process it is setting up failed.
#[derive(Debug, thiserror::Error)]
pub enum ChannelError {
    /// A system call on the channel failed.
    #[error("sync channel: {op}: {errno}")]
    Sys {
        /// The operation.
        op: &'static str,
        /// The error it returned.
        errno: Errno,
    },
    /// The other side exited before the handshake was over.
    #[error("sync channel: peer closed the channel (init exited during setup)")]
    Closed,
    /// A message could not be decoded.
    #[error("sync channel: malformed message")]
    Malformed,
    /// A message arrived out of order (its name).
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

/// Init's side sends with plain write(2) (a seqpacket socket keeps message boundaries
/// either way): after the seccomp filter is loaded, init then needs only the syscalls runc
/// needs too (write), not sendto, so profiles written for runc work.
/// Without MSG_NOSIGNAL a vanished runtime means SIGPIPE for init, which is then useless.
fn write_msg(fd: &OwnedFd, buf: &[u8]) -> Result<(), ChannelError> {
    loop {
        match nix::unistd::write(fd, buf) {
            Ok(_) => return Ok(()),
            Err(Errno::EINTR) => continue,
            Err(Errno::EPIPE) | Err(Errno::ECONNRESET) => return Err(ChannelError::Closed),
            Err(errno) => return Err(ChannelError::Sys { op: "write", errno }),
        }
    }
}

/// recvmsg rather than read, so a profile may use SCMP_ACT_NOTIFY on read(2).
fn read_msg(fd: &OwnedFd) -> Result<Vec<u8>, ChannelError> {
    // Init is never sent fds; one that came anyway is closed on drop.
    recv_with_fd(fd.as_raw_fd()).map(|(b, _)| b)
}

/// One message with at most one fd attached as SCM_RIGHTS.
fn send_fd(fd: RawFd, tag: u8, pass: &OwnedFd) -> Result<(), ChannelError> {
    use nix::sys::socket::{sendmsg, ControlMessage, UnixAddr};
    let fds = [pass.as_raw_fd()];
    let cmsg = [ControlMessage::ScmRights(&fds)];
    let iov = [std::io::IoSlice::new(std::slice::from_ref(&tag))];
    loop {
        match sendmsg::<UnixAddr>(fd, &iov, &cmsg, MsgFlags::MSG_NOSIGNAL, None) {
            Ok(_) => return Ok(()),
            Err(Errno::EINTR) => continue,
            Err(Errno::EPIPE) | Err(Errno::ECONNRESET) => return Err(ChannelError::Closed),
            Err(errno) => {
                return Err(ChannelError::Sys {
                    op: "sendmsg",
                    errno,
                })
            }
        }
    }
}

/// The runtime's receive: one message, keeping an fd passed with it (received
/// close-on-exec).
fn recv_with_fd(fd: RawFd) -> Result<(Vec<u8>, Option<OwnedFd>), ChannelError> {
    use nix::sys::socket::{recvmsg, ControlMessageOwned, UnixAddr};
    let mut buf = vec![0u8; 8192];
    let mut cmsg = nix::cmsg_space!([RawFd; 1]);
    loop {
        let mut iov = [std::io::IoSliceMut::new(&mut buf)];
        let r = recvmsg::<UnixAddr>(fd, &mut iov, Some(&mut cmsg), MsgFlags::MSG_CMSG_CLOEXEC);
        let msg = match r {
            Ok(m) => m,
            Err(Errno::EINTR) => continue,
            Err(Errno::ECONNRESET) => return Err(ChannelError::Closed),
            Err(errno) => {
                return Err(ChannelError::Sys {
                    op: "recvmsg",
                    errno,
                })
            }
        };
        let n = msg.bytes;
        let mut passed = None;
        for c in msg.cmsgs().map_err(|errno| ChannelError::Sys {
            op: "recvmsg",
            errno,
        })? {
            if let ControlMessageOwned::ScmRights(fds) = c {
                for f in fds {
                    // SAFETY: the kernel just installed `f` in our table; nothing else owns
                    // it. Extra fds beyond the first are closed when their OwnedFd drops.
                    let owned = unsafe { OwnedFd::from_raw_fd(f) };
                    passed.get_or_insert(owned);
                }
            }
        }
        if n == 0 {
            return Err(ChannelError::Closed);
        }
        buf.truncate(n);
        return Ok((buf, passed));
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
            ToInit::SeccompDone => b'S',
            ToInit::RlimitsDone => b'L',
        };
        send_raw(self.0.as_raw_fd(), &[tag])
    }

    pub fn recv(&self) -> Result<FromInit, ChannelError> {
        let (b, fd) = recv_with_fd(self.0.as_raw_fd())?;
        let (tag, rest) = b.split_first().ok_or(ChannelError::Malformed)?;
        if *tag == b'S' {
            return fd.map(FromInit::SeccompFd).ok_or(ChannelError::Malformed);
        }
        // Any fd on another message is unexpected; `fd` is dropped (closed) here.
        Ok(match tag {
            b'P' => {
                let arr: [u8; 4] = rest.try_into().map_err(|_| ChannelError::Malformed)?;
                FromInit::InitPid(i32::from_le_bytes(arr))
            }
            b'K' => FromInit::Hooks,
            b'L' => FromInit::Rlimits,
            b'R' => FromInit::Ready,
            b'E' => FromInit::Error(String::from_utf8_lossy(rest).into_owned()),
            _ => return Err(ChannelError::Malformed),
        })
    }
}

/// The child's end stays open across the cwd change (init and exec close every other fd
/// they inherited there), so they need its number.
impl AsRawFd for InitEnd {
    fn as_raw_fd(&self) -> RawFd {
        self.0.as_raw_fd()
    }
}

impl InitEnd {
    pub fn send(&self, m: FromInit) -> Result<(), ChannelError> {
        let mut buf = Vec::with_capacity(8);
        match m {
            FromInit::SeccompFd(fd) => return send_fd(self.0.as_raw_fd(), b'S', &fd),
            FromInit::InitPid(p) => {
                buf.push(b'P');
                buf.extend_from_slice(&p.to_le_bytes());
            }
            FromInit::Hooks => buf.push(b'K'),
            FromInit::Rlimits => buf.push(b'L'),
            FromInit::Ready => buf.push(b'R'),
            FromInit::Error(s) => {
                buf.push(b'E');
                // A seqpacket message must fit the receiver's buffer; cut long texts.
                let s = s.as_bytes();
                buf.extend_from_slice(&s[..s.len().min(8000)]);
            }
        }
        write_msg(&self.0, &buf)
    }

    pub fn recv(&self) -> Result<ToInit, ChannelError> {
        let b = read_msg(&self.0)?;
        match b.as_slice() {
            [b'G'] => Ok(ToInit::Go),
            [b'H'] => Ok(ToInit::HooksDone),
            [b'S'] => Ok(ToInit::SeccompDone),
            [b'L'] => Ok(ToInit::RlimitsDone),
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
