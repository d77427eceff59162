//! Device nodes in the container's /dev: the runtime-spec defaults plus linux.devices,
//! and the /dev/fd, /dev/std* and /dev/ptmx symlinks.

use super::resolve::{self, Kind};
use super::{perr, RootfsError};
use crate::sys::fd_path;
use nix::errno::Errno;
use nix::mount::{mount, MsFlags};
use nix::sys::stat::{makedev, mknodat, Mode, SFlag};
use oci_spec::runtime::{LinuxDevice, LinuxDeviceType};
use std::os::fd::{AsRawFd, OwnedFd};
use std::path::{Path, PathBuf};

const DEFAULTS: [(&str, u64, u64); 6] = [
    ("/dev/null", 1, 3),
    ("/dev/zero", 1, 5),
    ("/dev/full", 1, 7),
    ("/dev/random", 1, 8),
    ("/dev/urandom", 1, 9),
    ("/dev/tty", 5, 0),
];

struct Node {
    path: PathBuf,
    kind: SFlag,
    major: u64,
    minor: u64,
    mode: u32,
    uid: Option<u32>,
    gid: Option<u32>,
    /// Listed in linux.devices (not one of the defaults): an existing file at its path that
    /// is not this device is an error (config-linux.md), not something to replace.
    requested: bool,
}

pub fn create_defaults(root: &OwnedFd, extra: Option<&[LinuxDevice]>) -> Result<(), RootfsError> {
    let mut nodes: Vec<Node> = DEFAULTS
        .iter()
        .map(|(p, ma, mi)| Node {
            path: PathBuf::from(p),
            kind: SFlag::S_IFCHR,
            major: *ma,
            minor: *mi,
            mode: 0o666,
            uid: Some(0),
            gid: Some(0),
            requested: false,
        })
        .collect();
    for d in extra.into_iter().flatten() {
        let kind = match d.typ() {
            LinuxDeviceType::B => SFlag::S_IFBLK,
            LinuxDeviceType::P => SFlag::S_IFIFO,
            _ => SFlag::S_IFCHR,
        };
        // A listed device replaces a default at the same path.
        nodes.retain(|n| n.path != *d.path());
        nodes.push(Node {
            path: d.path().clone(),
            kind,
            major: d.major() as u64,
            minor: d.minor() as u64,
            mode: d.file_mode().unwrap_or(0o666),
            uid: d.uid(),
            gid: d.gid(),
            requested: true,
        });
    }
    for n in &nodes {
        create_node(root, n)?;
    }
    Ok(())
}

fn create_node(root: &OwnedFd, n: &Node) -> Result<(), RootfsError> {
    let parent_path = n.path.parent().unwrap_or(Path::new("/dev"));
    let name = n.path.file_name().ok_or_else(|| RootfsError::Path {
        path: n.path.clone(),
        op: "device path",
        errno: Errno::EINVAL,
    })?;
    let parent = resolve::open_or_create(root.as_raw_fd(), parent_path, Kind::Dir)
        .map_err(perr(&n.path, "resolve device parent"))?;
    // O_PATH fds do not work for mknodat; reopen the directory for real.
    let dir = nix::fcntl::open(
        &fd_path(parent.as_raw_fd()),
        nix::fcntl::OFlag::O_DIRECTORY | nix::fcntl::OFlag::O_RDONLY | nix::fcntl::OFlag::O_CLOEXEC,
        Mode::empty(),
    )
    .map_err(perr(&n.path, "open device parent"))?;
    let perm = Mode::from_bits_truncate(n.mode & 0o7777);
    let existing = nix::sys::stat::fstatat(&dir, name, nix::fcntl::AtFlags::AT_SYMLINK_NOFOLLOW);
    let mknod = match existing {
        Err(Errno::ENOENT) => mknodat(&dir, name, n.kind, perm, makedev(n.major, n.minor)),
        Err(e) => return Err(perr(&n.path, "stat existing file")(e)),
        Ok(st) => {
            let same_type = st.st_mode & libc::S_IFMT == n.kind.bits();
            let same_dev = n.kind == SFlag::S_IFIFO || st.st_rdev == makedev(n.major, n.minor);
            if same_type && same_dev {
                // Already the requested device: keep it, owner and mode are set below.
                Ok(())
            } else if n.requested {
                return Err(RootfsError::Path {
                    path: n.path.clone(),
                    op: "a file that is not the requested device already exists",
                    errno: Errno::EEXIST,
                });
            } else {
                let _ = nix::unistd::unlinkat(&dir, name, nix::unistd::UnlinkatFlags::NoRemoveDir);
                mknodat(&dir, name, n.kind, perm, makedev(n.major, n.minor))
            }
        }
    };
    match mknod {
        Ok(()) => {
            let uid = n.uid.map(nix::unistd::Uid::from_raw);
            let gid = n.gid.map(nix::unistd::Gid::from_raw);
            nix::unistd::fchownat(
                &dir,
                name,
                uid,
                gid,
                nix::fcntl::AtFlags::AT_SYMLINK_NOFOLLOW,
            )
            .map_err(perr(&n.path, "chown device"))?;
            // mknod honours the umask; the spec's mode must win.
            nix::sys::stat::fchmodat(
                &dir,
                name,
                perm,
                nix::sys::stat::FchmodatFlags::FollowSymlink,
            )
            .map_err(perr(&n.path, "chmod device"))
        }
        // In a user namespace mknod is not allowed: bind the host's node instead (as runc does).
        Err(Errno::EPERM) => {
            let t = resolve::open_or_create(root.as_raw_fd(), &n.path, Kind::File)
                .map_err(perr(&n.path, "create device bind target"))?;
            mount(
                Some(&n.path),
                &fd_path(t.as_raw_fd()),
                None::<&str>,
                MsFlags::MS_BIND,
                None::<&str>,
            )
            .map_err(perr(&n.path, "bind device"))
        }
        Err(e) => Err(perr(&n.path, "mknod")(e)),
    }
}

pub fn symlinks(root: &OwnedFd) -> Result<(), RootfsError> {
    let dev = resolve::open_or_create(root.as_raw_fd(), Path::new("/dev"), Kind::Dir)
        .map_err(perr(Path::new("/dev"), "resolve"))?;
    let dir = nix::fcntl::open(
        &fd_path(dev.as_raw_fd()),
        nix::fcntl::OFlag::O_DIRECTORY | nix::fcntl::OFlag::O_RDONLY | nix::fcntl::OFlag::O_CLOEXEC,
        Mode::empty(),
    )
    .map_err(perr(Path::new("/dev"), "open"))?;
    for (target, name) in [
        ("/proc/self/fd", "fd"),
        ("/proc/self/fd/0", "stdin"),
        ("/proc/self/fd/1", "stdout"),
        ("/proc/self/fd/2", "stderr"),
    ] {
        match nix::unistd::symlinkat(target, &dir, name) {
            Ok(()) | Err(Errno::EEXIST) => {}
            Err(e) => return Err(perr(Path::new(name), "symlink")(e)),
        }
    }
    // /dev/ptmx must be the container's devpts instance's ptmx.
    let _ = nix::unistd::unlinkat(&dir, "ptmx", nix::unistd::UnlinkatFlags::NoRemoveDir);
    nix::unistd::symlinkat("pts/ptmx", &dir, "ptmx")
        .map_err(perr(Path::new("/dev/ptmx"), "symlink"))
}
