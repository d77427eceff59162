//! Which namespaces a container gets: created fresh (clone/unshare flags) or joined by path.

use nix::errno::Errno;
use nix::fcntl::{open, OFlag};
use nix::sched::CloneFlags;
use nix::sys::stat::Mode;
use oci_spec::runtime::{LinuxNamespace, LinuxNamespaceType, LinuxTimeOffset};
use std::os::fd::{AsFd, OwnedFd};
use std::path::PathBuf;

/// linux.namespaces or linux.timeOffsets is invalid, or a namespace could not be entered.
#[derive(Debug, thiserror::Error)]
pub enum NamespaceError {
    /// A namespace path could not be opened.
    #[error("namespace {typ} path {path}: open: {errno}")]
    Open {
        /// The namespace type.
        typ: &'static str,
        /// Its path from config.json.
        path: PathBuf,
        /// The error open returned.
        errno: Errno,
    },
    /// A namespace could not be joined.
    #[error("namespace {typ} path {path}: setns: {errno}")]
    Setns {
        /// The namespace type.
        typ: &'static str,
        /// Its path from config.json.
        path: PathBuf,
        /// The error setns returned.
        errno: Errno,
    },
    /// New namespaces could not be made.
    #[error("unshare {flags:?}: {errno}")]
    Unshare {
        /// The namespaces asked for.
        flags: CloneFlags,
        /// The error unshare returned.
        errno: Errno,
    },
    /// The loopback interface of a new network namespace could not be brought up.
    #[error("bring up loopback in the new network namespace: {op}: {errno}")]
    Loopback {
        /// The operation.
        op: &'static str,
        /// The error it returned.
        errno: Errno,
    },
    /// A namespace type this runtime does not know (its name).
    #[error("namespace type {0} is not supported by this runtime")]
    Unsupported(String),
    /// linux.timeOffsets is invalid.
    #[error("linux.timeOffsets{key}: {reason}")]
    TimeOffsets {
        /// The offending key (`.monotonic`, ...), empty for the whole field.
        key: String,
        /// What is wrong.
        reason: &'static str,
    },
    /// The time namespace's offsets could not be written.
    #[error("write /proc/self/timens_offsets: {errno}")]
    WriteTimeOffsets {
        /// The error the write returned.
        errno: Errno,
    },
}

/// CLONE_NEWTIME shares its bit with CSIGNAL in clone(2): it can only be unshared (clone3
/// aside), so it is never part of `Namespaces::new`.
pub const CLONE_NEWTIME: CloneFlags = CloneFlags::from_bits_retain(libc::CLONE_NEWTIME);

/// One namespace to join: its type and an fd opened in the runtime, before any fork, so a
/// path that vanishes or is wrong is reported at once.
pub struct Join {
    pub typ: LinuxNamespaceType,
    pub flag: CloneFlags,
    pub path: PathBuf,
    pub fd: OwnedFd,
}

pub struct Namespaces {
    /// Namespaces to create, except cgroup (unshared late, see `new_cgroup`).
    pub new: CloneFlags,
    /// The cgroup namespace is created by init after it is placed in its cgroup, so that the
    /// namespace root is the container's cgroup.
    pub new_cgroup: bool,
    /// A new time namespace: unshared by the intermediate, which writes the offsets and
    /// then forks init into it (it applies to children only).
    pub new_time: bool,
    /// linux.timeOffsets in /proc/self/timens_offsets syntax ("monotonic 86400 0\n").
    pub time_offsets: Option<String>,
    pub joins: Vec<Join>,
}

pub fn flag(typ: LinuxNamespaceType) -> Result<CloneFlags, NamespaceError> {
    Ok(match typ {
        LinuxNamespaceType::Mount => CloneFlags::CLONE_NEWNS,
        LinuxNamespaceType::Cgroup => CloneFlags::CLONE_NEWCGROUP,
        LinuxNamespaceType::Uts => CloneFlags::CLONE_NEWUTS,
        LinuxNamespaceType::Ipc => CloneFlags::CLONE_NEWIPC,
        LinuxNamespaceType::User => CloneFlags::CLONE_NEWUSER,
        LinuxNamespaceType::Pid => CloneFlags::CLONE_NEWPID,
        LinuxNamespaceType::Network => CloneFlags::CLONE_NEWNET,
        LinuxNamespaceType::Time => CLONE_NEWTIME,
        #[allow(unreachable_patterns)]
        other => return Err(NamespaceError::Unsupported(other.to_string())),
    })
}

pub fn type_name(typ: LinuxNamespaceType) -> &'static str {
    match typ {
        LinuxNamespaceType::Mount => "mount",
        LinuxNamespaceType::Cgroup => "cgroup",
        LinuxNamespaceType::Uts => "uts",
        LinuxNamespaceType::Ipc => "ipc",
        LinuxNamespaceType::User => "user",
        LinuxNamespaceType::Pid => "pid",
        LinuxNamespaceType::Network => "network",
        LinuxNamespaceType::Time => "time",
        #[allow(unreachable_patterns)]
        _ => "unknown",
    }
}

impl Namespaces {
    pub fn from_spec(list: &[LinuxNamespace]) -> Result<Self, NamespaceError> {
        let mut new = CloneFlags::empty();
        let mut new_cgroup = false;
        let mut new_time = false;
        let mut joins = Vec::new();
        for ns in list {
            let f = flag(ns.typ())?;
            match ns.path() {
                Some(p) if !p.as_os_str().is_empty() => {
                    let fd = open(p, OFlag::O_RDONLY | OFlag::O_CLOEXEC, Mode::empty()).map_err(
                        |errno| NamespaceError::Open {
                            typ: type_name(ns.typ()),
                            path: p.clone(),
                            errno,
                        },
                    )?;
                    joins.push(Join {
                        typ: ns.typ(),
                        flag: f,
                        path: p.clone(),
                        fd,
                    });
                }
                _ if f == CloneFlags::CLONE_NEWCGROUP => new_cgroup = true,
                _ if f == CLONE_NEWTIME => new_time = true,
                _ => new |= f,
            }
        }
        // The user namespace must be joined first: the others are then entered with the
        // credentials it grants.
        joins.sort_by_key(|j| j.flag != CloneFlags::CLONE_NEWUSER);
        Ok(Namespaces {
            new,
            new_cgroup,
            new_time,
            time_offsets: None,
            joins,
        })
    }

    /// linux.timeOffsets: only for a new time namespace (the offsets of one that has had a
    /// process in it are frozen), keys `monotonic` and `boottime`.
    pub fn with_time_offsets(
        mut self,
        offsets: Option<&std::collections::HashMap<String, LinuxTimeOffset>>,
    ) -> Result<Self, NamespaceError> {
        let Some(offsets) = offsets.filter(|o| !o.is_empty()) else {
            return Ok(self);
        };
        let err = |key: &str, reason| NamespaceError::TimeOffsets {
            key: if key.is_empty() {
                String::new()
            } else {
                format!(".{key}")
            },
            reason,
        };
        if !self.new_time {
            return Err(err(
                "",
                "needs a new time namespace (a \"time\" entry without path in linux.namespaces)",
            ));
        }
        // Sorted, so the text (and any error) does not depend on the map's order.
        let mut keys: Vec<&String> = offsets.keys().collect();
        keys.sort();
        let mut text = String::new();
        for k in keys {
            if k != "monotonic" && k != "boottime" {
                return Err(err(k, "unknown clock (monotonic or boottime)"));
            }
            let o = &offsets[k];
            let nanos = o.nanosecs().unwrap_or(0);
            if nanos >= 1_000_000_000 {
                return Err(err(k, "nanosecs must be below 1000000000"));
            }
            text.push_str(&format!("{k} {} {nanos}\n", o.secs().unwrap_or(0)));
        }
        self.time_offsets = Some(text);
        Ok(self)
    }

    pub fn has(&self, f: CloneFlags) -> bool {
        (f == CLONE_NEWTIME && self.new_time)
            || self.new.contains(f)
            || self.joins.iter().any(|j| j.flag == f)
    }

    /// In the intermediate, after the other namespaces are made: a new time namespace for
    /// the children to come, with its offsets (writable only until a process enters it).
    pub fn unshare_time(&self) -> Result<(), NamespaceError> {
        if !self.new_time {
            return Ok(());
        }
        unshare(CLONE_NEWTIME)?;
        if let Some(text) = &self.time_offsets {
            // One write: the kernel takes all lines of a write as one update.
            let fd = open(
                "/proc/self/timens_offsets",
                OFlag::O_WRONLY | OFlag::O_CLOEXEC,
                Mode::empty(),
            )
            .map_err(|errno| NamespaceError::WriteTimeOffsets { errno })?;
            let n = nix::unistd::write(&fd, text.as_bytes())
                .map_err(|errno| NamespaceError::WriteTimeOffsets { errno })?;
            if n != text.len() {
                return Err(NamespaceError::WriteTimeOffsets { errno: Errno::EIO });
            }
        }
        Ok(())
    }

    /// One clone with all flags works unless a pid or user namespace must be joined, or a
    /// new user namespace must own namespaces that are joined: those need setns before the
    /// namespaces are created, i.e. an intermediate process. A time namespace (new or
    /// joined) only applies to the children of the process that unshares/joins it, so it
    /// needs one too.
    pub fn needs_intermediate(&self) -> bool {
        self.new_time
            || self.joins.iter().any(|j| {
                j.flag == CloneFlags::CLONE_NEWPID
                    || j.flag == CloneFlags::CLONE_NEWUSER
                    || j.flag == CLONE_NEWTIME
            })
            || (!self.joins.is_empty() && self.new.contains(CloneFlags::CLONE_NEWUSER))
    }

    /// setns into every joined namespace, user first.
    pub fn join_all(&self) -> Result<(), NamespaceError> {
        for j in &self.joins {
            nix::sched::setns(j.fd.as_fd(), j.flag).map_err(|errno| NamespaceError::Setns {
                typ: type_name(j.typ),
                path: j.path.clone(),
                errno,
            })?;
        }
        Ok(())
    }
}

pub fn unshare(flags: CloneFlags) -> Result<(), NamespaceError> {
    if flags.is_empty() {
        return Ok(());
    }
    nix::sched::unshare(flags).map_err(|errno| NamespaceError::Unshare { flags, errno })
}

/// A new network namespace has `lo` down; runc brings it up, so do we.
pub fn loopback_up() -> Result<(), NamespaceError> {
    use nix::sys::socket::{socket, AddressFamily, SockFlag, SockType};
    use std::os::fd::AsRawFd;
    let err = |op| move |errno| NamespaceError::Loopback { op, errno };
    let sock = socket(
        AddressFamily::Inet,
        SockType::Datagram,
        SockFlag::SOCK_CLOEXEC,
        None,
    )
    .map_err(err("socket"))?;
    // SAFETY: ifreq is plain data; zeroed is a valid value.
    let mut req: libc::ifreq = unsafe { std::mem::zeroed() };
    for (d, s) in req.ifr_name.iter_mut().zip(b"lo\0") {
        *d = *s as libc::c_char;
    }
    // SAFETY: SIOCGIFFLAGS/SIOCSIFFLAGS read and write the ifreq we own.
    if unsafe { libc::ioctl(sock.as_raw_fd(), libc::SIOCGIFFLAGS, &mut req) } < 0 {
        return Err(err("SIOCGIFFLAGS")(Errno::last()));
    }
    // SAFETY: ifru_flags is the active member after SIOCGIFFLAGS.
    unsafe { req.ifr_ifru.ifru_flags |= libc::IFF_UP as libc::c_short };
    // SAFETY: as above.
    if unsafe { libc::ioctl(sock.as_raw_fd(), libc::SIOCSIFFLAGS, &req) } < 0 {
        return Err(err("SIOCSIFFLAGS")(Errno::last()));
    }
    Ok(())
}
