//! Raw netlink for the few requests on every container's start and teardown: messages
//! built by hand on a blocking netlink-sys socket, each acknowledged. No tokio and no
//! rtnetlink stack, so the monitor can make them (it tears a container down and must stay
//! small, see link::delete_link_now) and none costs a process (`nft`, `ip`).

use std::time::Duration;

use netlink_sys::{Socket, SocketAddr};

pub(crate) const NLM_F_REQUEST: u16 = 0x1;
pub(crate) const NLM_F_ACK: u16 = 0x4;
pub(crate) const NLM_F_CREATE: u16 = 0x400;
const NLMSG_ERROR: u16 = 0x2;
const NLMSG_HDRLEN: usize = 16;
const NLA_F_NESTED: u16 = 0x8000;

/// Why a raw netlink request failed.
#[derive(Debug, thiserror::Error)]
pub enum NlError {
    /// The socket could not be had or used.
    #[error("netlink: {what}: {source}")]
    Socket {
        /// What was being done.
        what: &'static str,
        /// The cause.
        source: std::io::Error,
    },
    /// The kernel refused the request.
    #[error("{what}: {source}")]
    Refused {
        /// The request, in `nft`'s or `ip`'s words.
        what: String,
        /// The kernel's errno.
        source: std::io::Error,
    },
    /// The kernel's answer was not a netlink message we know.
    #[error("netlink: malformed answer to {0}")]
    Malformed(String),
}

impl NlError {
    /// The kernel's errno, when it refused.
    pub fn errno(&self) -> Option<i32> {
        match self {
            NlError::Refused { source, .. } => source.raw_os_error(),
            _ => None,
        }
    }
}

/// A netlink message under construction: header, family header, attributes.
pub(crate) struct Msg {
    buf: Vec<u8>,
    nests: Vec<usize>,
}

impl Msg {
    /// A message of `kind` with `family_header` (nfgenmsg, ifinfomsg ...) after the header.
    pub fn new(kind: u16, flags: u16, seq: u32, family_header: &[u8]) -> Msg {
        let mut buf = Vec::with_capacity(128);
        buf.extend_from_slice(&0u32.to_ne_bytes()); // length, set by `done`
        buf.extend_from_slice(&kind.to_ne_bytes());
        buf.extend_from_slice(&flags.to_ne_bytes());
        buf.extend_from_slice(&seq.to_ne_bytes());
        buf.extend_from_slice(&0u32.to_ne_bytes()); // port id: the kernel's
        buf.extend_from_slice(family_header);
        let mut m = Msg {
            buf,
            nests: Vec::new(),
        };
        m.pad();
        m
    }

    fn pad(&mut self) {
        while !self.buf.len().is_multiple_of(4) {
            self.buf.push(0);
        }
    }

    pub fn attr(&mut self, kind: u16, data: &[u8]) {
        let len = 4 + data.len();
        self.buf.extend_from_slice(&(len as u16).to_ne_bytes());
        self.buf.extend_from_slice(&kind.to_ne_bytes());
        self.buf.extend_from_slice(data);
        self.pad();
    }

    /// A NUL-terminated string attribute.
    pub fn string(&mut self, kind: u16, s: &str) {
        let mut v = s.as_bytes().to_vec();
        v.push(0);
        self.attr(kind, &v);
    }

    /// Opens a nested attribute; [`Msg::close`] ends it.
    pub fn open(&mut self, kind: u16) {
        self.nests.push(self.buf.len());
        self.buf.extend_from_slice(&0u16.to_ne_bytes());
        self.buf
            .extend_from_slice(&(kind | NLA_F_NESTED).to_ne_bytes());
    }

    pub fn close(&mut self) {
        if let Some(at) = self.nests.pop() {
            let len = (self.buf.len() - at) as u16;
            self.buf[at..at + 2].copy_from_slice(&len.to_ne_bytes());
        }
    }

    pub fn done(mut self) -> Vec<u8> {
        let len = self.buf.len() as u32;
        self.buf[0..4].copy_from_slice(&len.to_ne_bytes());
        self.buf
    }
}

/// A bound netlink socket of `protocol` in the calling thread's namespace; a kernel that
/// never answers cannot hang a start or a teardown (5 s).
pub(crate) fn socket(protocol: isize) -> Result<Socket, NlError> {
    let mut s = Socket::new(protocol).map_err(|source| NlError::Socket {
        what: "open a socket",
        source,
    })?;
    s.bind(&SocketAddr::new(0, 0))
        .map_err(|source| NlError::Socket {
            what: "bind",
            source,
        })?;
    nix::sys::socket::setsockopt(
        &s,
        nix::sys::socket::sockopt::ReceiveTimeout,
        &nix::sys::time::TimeVal::from(libc::timeval {
            tv_sec: Duration::from_secs(5).as_secs() as libc::time_t,
            tv_usec: 0,
        }),
    )
    .map_err(|e| NlError::Socket {
        what: "set a receive timeout",
        source: e.into(),
    })?;
    Ok(s)
}

/// Sends `out` (one or more messages) and waits for the acknowledgement of the message
/// numbered `ack`; an error answer to any message numbered `first..=ack + 1` (a batch's
/// begin, its change, its end) fails the request.
pub(crate) fn request(
    sock: &Socket,
    out: &[u8],
    first: u32,
    ack: u32,
    what: &str,
) -> Result<(), NlError> {
    sock.send(out, 0).map_err(|source| NlError::Socket {
        what: "send",
        source,
    })?;
    let malformed = || NlError::Malformed(what.to_string());
    let mut buf: Vec<u8> = Vec::with_capacity(8192);
    loop {
        buf.clear();
        let n = sock.recv(&mut buf, 0).map_err(|source| NlError::Socket {
            what: "receive",
            source,
        })?;
        let mut at = 0;
        while at + NLMSG_HDRLEN <= n {
            let word = |i: usize| {
                buf.get(at + i..at + i + 4)
                    .and_then(|s| <[u8; 4]>::try_from(s).ok())
                    .map(u32::from_ne_bytes)
            };
            let (Some(len), Some(kind), Some(seq)) = (word(0), word(4), word(8)) else {
                return Err(malformed());
            };
            let len = len as usize;
            if len < NLMSG_HDRLEN {
                return Err(malformed());
            }
            if (kind & 0xffff) as u16 == NLMSG_ERROR && (first..=ack + 1).contains(&seq) {
                let code = word(NLMSG_HDRLEN).map(|c| c as i32).ok_or_else(malformed)?;
                if code != 0 {
                    return Err(NlError::Refused {
                        what: what.to_string(),
                        source: std::io::Error::from_raw_os_error(-code),
                    });
                }
                if seq == ack {
                    return Ok(());
                }
            }
            at += (len + 3) & !3;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn messages_are_padded_and_sized() {
        let mut m = Msg::new(17, NLM_F_REQUEST, 9, &[0u8; 16]);
        m.string(3, "ovabc");
        m.open(1);
        m.attr(1, &[1, 2, 3]);
        m.close();
        let b = m.done();
        assert!(b.len().is_multiple_of(4));
        assert_eq!(
            u32::from_ne_bytes([b[0], b[1], b[2], b[3]]) as usize,
            b.len()
        );
        // ovabc\0 in an attribute of 4 + 6 bytes, padded to 12; the nest 4 + 8.
        assert_eq!(b.len(), 16 + 16 + 12 + 12);
        assert_eq!(u16::from_ne_bytes([b[44], b[45]]), 12);
        assert_eq!(u16::from_ne_bytes([b[46], b[47]]), 1 | NLA_F_NESTED);
    }
}
