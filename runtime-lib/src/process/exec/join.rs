//! init's namespaces: opened by the runtime before any fork, joined by the intermediate
//! in runc's nsexec order; init's root for a container without a mount namespace.

use super::ExecError;
use nix::errno::Errno;
use nix::sched::CloneFlags;
use nix::sys::stat::fstat;
use std::os::fd::{AsFd, OwnedFd};
use std::path::PathBuf;

/// The namespaces of /proc/<pid>/ns, in runc's join order (nsexec's list order; user is
/// pulled out and joined between the two passes).
const NS_KINDS: [(&str, CloneFlags); 8] = [
    ("user", CloneFlags::CLONE_NEWUSER),
    ("ipc", CloneFlags::CLONE_NEWIPC),
    ("uts", CloneFlags::CLONE_NEWUTS),
    ("net", CloneFlags::CLONE_NEWNET),
    ("pid", CloneFlags::CLONE_NEWPID),
    ("mnt", CloneFlags::CLONE_NEWNS),
    ("cgroup", CloneFlags::CLONE_NEWCGROUP),
    ("time", CloneFlags::from_bits_retain(libc::CLONE_NEWTIME)),
];

pub(crate) struct NsFd {
    pub(super) typ: &'static str,
    pub(super) flag: CloneFlags,
    pub(super) path: PathBuf,
    pub(super) fd: OwnedFd,
}

/// Opens every namespace of `pid` that differs from ours. Opened in the runtime before any
/// fork: after the mount namespace is joined these paths would name the container's /proc.
/// Namespaces equal to ours are skipped (setns into one's own user namespace is EINVAL, and
/// joining the others would be a no-op).
pub(crate) fn open_namespaces(pid: i32) -> Result<Vec<NsFd>, ExecError> {
    let mut out = Vec::new();
    for (typ, flag) in NS_KINDS {
        let mine = PathBuf::from(format!("/proc/self/ns/{typ}"));
        let path = PathBuf::from(format!("/proc/{pid}/ns/{typ}"));
        let err = |op, errno| ExecError::Namespace {
            typ,
            path: path.clone(),
            op,
            errno,
        };
        let own = match nix::sys::stat::stat(&mine) {
            Ok(s) => s,
            // A kernel without this namespace type.
            Err(Errno::ENOENT) => continue,
            Err(e) => return Err(err("stat", e)),
        };
        let fd = nix::fcntl::open(
            &path,
            nix::fcntl::OFlag::O_RDONLY | nix::fcntl::OFlag::O_CLOEXEC,
            nix::sys::stat::Mode::empty(),
        )
        .map_err(|e| err("open", e))?;
        let theirs = fstat(&fd).map_err(|e| err("fstat", e))?;
        if (theirs.st_dev, theirs.st_ino) == (own.st_dev, own.st_ino) {
            continue;
        }
        out.push(NsFd {
            typ,
            flag,
            path,
            fd,
        });
    }
    Ok(out)
}

/// init's root, when the container has no mount namespace of its own (none among `ns`):
/// the new process is then chrooted into it (see `intermediate`).
pub(crate) fn init_root(pid: i32, ns: &[NsFd]) -> Result<Option<OwnedFd>, ExecError> {
    if ns.iter().any(|n| n.typ == "mnt") {
        return Ok(None);
    }
    let path = PathBuf::from(format!("/proc/{pid}/root"));
    let fd = nix::fcntl::open(
        &path,
        nix::fcntl::OFlag::O_PATH | nix::fcntl::OFlag::O_DIRECTORY | nix::fcntl::OFlag::O_CLOEXEC,
        nix::sys::stat::Mode::empty(),
    )
    .map_err(|errno| ExecError::Namespace {
        typ: "mnt",
        path,
        op: "open root",
        errno,
    })?;
    Ok(Some(fd))
}

/// In the intermediate: setns everything, user namespace in the middle (runc's order). A
/// non-user namespace refusing us with EPERM before the user namespace is joined is retried
/// after it, with the credentials it grants.
pub(super) fn join_namespaces(list: &[NsFd]) -> Result<(), ExecError> {
    let mut done = vec![false; list.len()];
    let setns = |n: &NsFd| {
        nix::sched::setns(n.fd.as_fd(), n.flag).map_err(|errno| ExecError::Namespace {
            typ: n.typ,
            path: n.path.clone(),
            op: "setns",
            errno,
        })
    };
    for (i, n) in list.iter().enumerate() {
        if n.flag == CloneFlags::CLONE_NEWUSER {
            continue;
        }
        match setns(n) {
            Ok(()) => done[i] = true,
            Err(ExecError::Namespace {
                errno: Errno::EPERM,
                ..
            }) => {}
            Err(e) => return Err(e),
        }
    }
    for (i, n) in list.iter().enumerate() {
        if n.flag != CloneFlags::CLONE_NEWUSER {
            continue;
        }
        setns(n)?;
        done[i] = true;
        // Become root of the user namespace, as init did: until then we are the overflow
        // uid there and most of the setup below would fail.
        let z = nix::unistd::Gid::from_raw(0);
        nix::unistd::setresgid(z, z, z).map_err(|errno| ExecError::Namespace {
            typ: n.typ,
            path: n.path.clone(),
            op: "setresgid(0)",
            errno,
        })?;
        let z = nix::unistd::Uid::from_raw(0);
        nix::unistd::setresuid(z, z, z).map_err(|errno| ExecError::Namespace {
            typ: n.typ,
            path: n.path.clone(),
            op: "setresuid(0)",
            errno,
        })?;
    }
    for (i, n) in list.iter().enumerate() {
        if !done[i] {
            setns(n)?;
        }
    }
    Ok(())
}
