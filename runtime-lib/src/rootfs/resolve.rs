//! Opening (and creating) mount targets inside the rootfs without ever leaving it.
//!
//! Every lookup goes through openat2(RESOLVE_IN_ROOT) on an fd of the rootfs, so `..` and
//! symlinks (absolute or relative) are resolved as if the rootfs were `/`. The returned O_PATH
//! fd pins the resolved object; mounts then target `/proc/self/fd/N`, so a symlink swapped in
//! after the check cannot redirect the mount (the classic mount-target race).

use crate::sys::openat_in_root;
use nix::errno::Errno;
use nix::sys::stat::Mode;
use std::os::fd::{OwnedFd, RawFd};
use std::path::{Component, Path, PathBuf};

#[derive(Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Dir,
    File,
}

/// Opens `path` (absolute, taken as relative to the rootfs) as O_PATH, creating missing
/// directories, and the last component as `kind` if it is missing.
pub fn open_or_create(root: RawFd, path: &Path, kind: Kind) -> Result<OwnedFd, Errno> {
    match openat_in_root(root, path, libc::O_PATH) {
        Ok(fd) => return Ok(fd),
        Err(Errno::ENOENT) => {}
        Err(e) => return Err(e),
    }
    let comps: Vec<_> = path
        .components()
        .filter(|c| matches!(c, Component::Normal(_)))
        .collect();
    let mut cur = PathBuf::from("/");
    let mut parent = openat_in_root(root, &cur, libc::O_PATH | libc::O_DIRECTORY)?;
    for (i, c) in comps.iter().enumerate() {
        let last = i + 1 == comps.len();
        cur.push(c);
        let fd = match openat_in_root(root, &cur, libc::O_PATH) {
            Ok(fd) => fd,
            Err(Errno::ENOENT) => {
                let name = c.as_os_str();
                if last && kind == Kind::File {
                    // O_NOFOLLOW|O_EXCL: a racing symlink makes this fail rather than be followed.
                    let f = nix::fcntl::openat(
                        &parent,
                        name,
                        nix::fcntl::OFlag::O_CREAT
                            | nix::fcntl::OFlag::O_EXCL
                            | nix::fcntl::OFlag::O_NOFOLLOW
                            | nix::fcntl::OFlag::O_CLOEXEC
                            | nix::fcntl::OFlag::O_WRONLY,
                        Mode::from_bits_truncate(0o644),
                    );
                    match f {
                        Ok(_) | Err(Errno::EEXIST) => {}
                        Err(e) => return Err(e),
                    }
                } else {
                    match nix::sys::stat::mkdirat(&parent, name, Mode::from_bits_truncate(0o755)) {
                        Ok(()) | Err(Errno::EEXIST) => {}
                        Err(e) => return Err(e),
                    }
                }
                openat_in_root(root, &cur, libc::O_PATH)?
            }
            Err(e) => return Err(e),
        };
        parent = fd;
    }
    Ok(parent)
}
