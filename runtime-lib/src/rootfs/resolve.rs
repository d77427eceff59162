//! Opening (and creating) mount targets inside the rootfs without ever leaving it.
//!
//! Every lookup goes through openat2(RESOLVE_IN_ROOT) on an fd of the rootfs, so `..` and
//! symlinks (absolute or relative) are resolved as if the rootfs were `/`. The returned O_PATH
//! fd pins the resolved object; mounts then target `/proc/self/fd/N`, so a symlink swapped in
//! after the check cannot redirect the mount (the classic mount-target race).

use nix::errno::Errno;
use nix::sys::stat::Mode;
use std::ffi::OsStr;
use std::os::fd::{AsRawFd, OwnedFd, RawFd};
use std::path::{Component, Path, PathBuf};

#[derive(Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Dir,
    File,
}

/// The kernel's own limit on symlinks followed in one lookup.
const MAX_LINKS: u32 = 40;

/// How often a lookup is retried when the kernel reports a concurrent rename or mount.
/// Under a slow (emulated) CPU a busy renamer interrupted 10% of lookups 32 times in a row;
/// after the first few tries each retry yields the CPU so the renamer's burst can pass.
const MAX_RETRIES: u32 = 256;

/// `sys::openat_in_root`, retried on EAGAIN: with RESOLVE_IN_ROOT the kernel refuses a
/// `..` step taken while any rename or mount happened (it cannot prove the walk stayed
/// inside the root), and a rootfs someone renames in would otherwise fail at random.
/// Each retry is a fresh lookup, so the result is as safe as a first try.
fn openat_in_root(root: RawFd, path: &Path, flags: i32) -> Result<OwnedFd, Errno> {
    let mut tries = 0;
    loop {
        match crate::sys::openat_in_root(root, path, flags) {
            Err(Errno::EAGAIN) if tries < MAX_RETRIES => {
                tries += 1;
                if tries > 4 {
                    std::thread::yield_now();
                }
            }
            r => return r,
        }
    }
}

/// Opens `path` (absolute, taken as relative to the rootfs) as O_PATH, creating missing
/// directories, and the last component as `kind` if it is missing.
///
/// A dangling symlink on the way is followed the way the kernel would follow it, but inside
/// the rootfs, and its target is created there (as runc's MkdirAllInRoot does).
pub fn open_or_create(root: RawFd, path: &Path, kind: Kind) -> Result<OwnedFd, Errno> {
    let mut path = path.to_path_buf();
    for _ in 0..MAX_LINKS {
        match walk(root, &path, kind)? {
            Walk::Done(fd) => return Ok(fd),
            Walk::Relink(next) => path = next,
        }
    }
    Err(Errno::ELOOP)
}

/// Mount, device and inode: what tells the rootfs' root from any other directory, including
/// the same directory bound elsewhere inside it (another mount, which may be a target).
#[derive(Clone, Copy, PartialEq, Eq)]
pub struct FileId {
    mnt_id: u64,
    dev: (u32, u32),
    ino: u64,
}

impl FileId {
    pub fn of(fd: &OwnedFd) -> Result<Self, Errno> {
        // SAFETY: statx is plain data; all-zero is a valid value to be overwritten.
        let mut st: libc::statx = unsafe { std::mem::zeroed() };
        // SAFETY: `fd` is open, the empty path is NUL-terminated and `st` is a properly
        // sized statx buffer living across the call.
        let r = unsafe {
            libc::statx(
                fd.as_raw_fd(),
                c"".as_ptr(),
                libc::AT_EMPTY_PATH | libc::AT_STATX_DONT_SYNC,
                libc::STATX_INO | libc::STATX_MNT_ID,
                &mut st,
            )
        };
        Errno::result(r)?;
        Ok(FileId {
            mnt_id: st.stx_mnt_id,
            dev: (st.stx_dev_major, st.stx_dev_minor),
            ino: st.stx_ino,
        })
    }
}

pub enum TargetError {
    /// The destination resolves to the root itself.
    Root,
    Errno(Errno),
}

/// Whether the last component of `path` (inside the rootfs; the components before it are
/// resolved in the root) exists and is not a directory: a symlink, a file, a device. A
/// missing path is not (it will be made as a directory).
pub fn is_non_directory(root: RawFd, path: &Path) -> Result<bool, Errno> {
    let (Some(parent), Some(name)) = (path.parent(), path.file_name()) else {
        return Ok(false);
    };
    let dir = match openat_in_root(root, parent, libc::O_PATH | libc::O_DIRECTORY) {
        Ok(fd) => fd,
        Err(Errno::ENOENT) => return Ok(false),
        Err(e) => return Err(e),
    };
    match nix::sys::stat::fstatat(&dir, name, nix::fcntl::AtFlags::AT_SYMLINK_NOFOLLOW) {
        Ok(st) => Ok(st.st_mode & libc::S_IFMT != libc::S_IFDIR),
        Err(Errno::ENOENT) => Ok(false),
        Err(e) => Err(e),
    }
}

/// `open_or_create` for a mount target: a destination that resolves to the root itself
/// ("/", "/..", a symlink to "/" or ".") is refused, since mounting there would cover the
/// whole rootfs.
pub fn open_target(
    root: RawFd,
    root_id: FileId,
    path: &Path,
    kind: Kind,
) -> Result<OwnedFd, TargetError> {
    let fd = open_or_create(root, path, kind).map_err(TargetError::Errno)?;
    if FileId::of(&fd).map_err(TargetError::Errno)? == root_id {
        return Err(TargetError::Root);
    }
    Ok(fd)
}

enum Walk {
    Done(OwnedFd),
    /// A dangling symlink was met: resolve this path instead.
    Relink(PathBuf),
}

fn walk(root: RawFd, path: &Path, kind: Kind) -> Result<Walk, Errno> {
    match openat_in_root(root, path, libc::O_PATH) {
        Ok(fd) => return Ok(Walk::Done(fd)),
        Err(Errno::ENOENT) => {}
        Err(e) => return Err(e),
    }
    // `..` stays in the path: the kernel resolves it (clamped at the rootfs) after any
    // symlink before it, which a lexical clean-up would get wrong.
    let comps: Vec<&OsStr> = path
        .components()
        .filter_map(|c| match c {
            Component::Normal(n) => Some(n),
            Component::ParentDir => Some(OsStr::new("..")),
            _ => None,
        })
        .collect();
    let mut cur = PathBuf::from("/");
    let mut parent = openat_in_root(root, &cur, libc::O_PATH | libc::O_DIRECTORY)?;
    for (i, name) in comps.iter().enumerate() {
        let last = i + 1 == comps.len();
        let prefix = cur.clone();
        cur.push(name);
        let fd = match openat_in_root(root, &cur, libc::O_PATH) {
            Ok(fd) => fd,
            Err(Errno::ENOENT) => {
                let made = if last && kind == Kind::File {
                    // O_NOFOLLOW|O_EXCL: a racing symlink makes this fail rather than be followed.
                    nix::fcntl::openat(
                        &parent,
                        *name,
                        nix::fcntl::OFlag::O_CREAT
                            | nix::fcntl::OFlag::O_EXCL
                            | nix::fcntl::OFlag::O_NOFOLLOW
                            | nix::fcntl::OFlag::O_CLOEXEC
                            | nix::fcntl::OFlag::O_WRONLY,
                        Mode::from_bits_truncate(0o644),
                    )
                    .map(drop)
                } else {
                    nix::sys::stat::mkdirat(&parent, *name, Mode::from_bits_truncate(0o755))
                };
                match made {
                    Ok(()) => {}
                    Err(Errno::EEXIST) => {
                        // Exists yet cannot be opened: a dangling symlink.
                        if let Ok(target) = nix::fcntl::readlinkat(&parent, *name) {
                            let mut next = prefix.join(target);
                            next.extend(&comps[i + 1..]);
                            return Ok(Walk::Relink(next));
                        }
                    }
                    Err(e) => return Err(e),
                }
                openat_in_root(root, &cur, libc::O_PATH)?
            }
            Err(e) => return Err(e),
        };
        parent = fd;
    }
    Ok(Walk::Done(parent))
}
