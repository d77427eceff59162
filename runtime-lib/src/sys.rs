//! Thin wrappers over syscalls that nix does not cover (openat2, close_range, pidfd).
//! Each returns `nix::Result` so callers attach their own path/context.

use nix::errno::Errno;
use std::ffi::CString;
use std::os::fd::{FromRawFd, OwnedFd, RawFd};
use std::os::unix::ffi::OsStrExt;
use std::path::Path;

/// An errno's description as Go, and so runc, prints it: strerror with a lowercase first
/// letter ("no such file or directory"). Managers match these texts in runtime errors:
/// Docker turns an exec failure that names the command and says "no such file or
/// directory" or "executable file not found" into exit 127, and "permission denied" into 126.
pub(crate) fn errno_text(errno: Errno) -> String {
    let desc = errno.desc();
    let mut chars = desc.chars();
    match chars.next() {
        Some(first) => first.to_lowercase().chain(chars).collect(),
        None => format!("errno {}", errno as i32),
    }
}

pub(crate) fn cstr(p: &Path) -> Result<CString, Errno> {
    CString::new(p.as_os_str().as_bytes()).map_err(|_| Errno::EINVAL)
}

/// openat2(2) with RESOLVE_IN_ROOT: `path` is resolved as if `dirfd` were `/`, so
/// neither `..` nor absolute symlinks can leave the tree below `dirfd`.
pub(crate) fn openat_in_root(dirfd: RawFd, path: &Path, flags: i32) -> Result<OwnedFd, Errno> {
    openat2(
        dirfd,
        path,
        flags,
        libc::RESOLVE_IN_ROOT | libc::RESOLVE_NO_MAGICLINKS,
    )
}

/// openat2(2) with the given RESOLVE_* flags; the fd is always O_CLOEXEC.
pub(crate) fn openat2(
    dirfd: RawFd,
    path: &Path,
    flags: i32,
    resolve: u64,
) -> Result<OwnedFd, Errno> {
    let c = cstr(path)?;
    // SAFETY: open_how is plain data; all-zero is its documented default.
    let mut how: libc::open_how = unsafe { std::mem::zeroed() };
    how.flags = (flags | libc::O_CLOEXEC) as u64;
    how.resolve = resolve;
    // SAFETY: `c` is a valid NUL-terminated string and `how` a properly sized open_how
    // that outlive the call; the returned fd is owned by nobody else.
    let fd = unsafe {
        libc::syscall(
            libc::SYS_openat2,
            dirfd,
            c.as_ptr(),
            &how as *const libc::open_how,
            std::mem::size_of::<libc::open_how>(),
        )
    };
    if fd < 0 {
        return Err(Errno::last());
    }
    // SAFETY: the kernel just returned this fd to us and nothing else owns it.
    Ok(unsafe { OwnedFd::from_raw_fd(fd as RawFd) })
}

/// Closes every fd >= `first` except those in `keep`. For a process that is about to
/// leave the runtime's world: whatever owns those fds in Rust is never dropped there
/// (the process execs or `_exit`s), so nothing closes a number twice. Where close_range is
/// refused (a kernel before 5.9, or a seccomp profile the runtime itself runs under) the
/// fds listed in /proc/self/fd are closed one by one.
pub(crate) fn close_from_except(first: u32, keep: &[RawFd]) -> Result<(), Errno> {
    let mut keep: Vec<u32> = keep
        .iter()
        .filter_map(|&fd| u32::try_from(fd).ok())
        .filter(|&fd| fd >= first)
        .collect();
    keep.sort_unstable();
    keep.dedup();
    let close = |lo: u32, hi: u32| {
        // SAFETY: close_range only closes descriptors; it touches no memory.
        Errno::result(unsafe { libc::close_range(lo, hi, 0) }).map(drop)
    };
    let mut ranges = Vec::with_capacity(keep.len() + 1);
    let mut lo = first;
    for &k in &keep {
        if k > lo {
            ranges.push((lo, k - 1));
        }
        lo = k + 1;
    }
    ranges.push((lo, u32::MAX));
    for (lo, hi) in ranges {
        match close(lo, hi) {
            Ok(()) => {}
            Err(Errno::ENOSYS | Errno::EPERM) => {
                for fd in open_fds()?.into_iter().filter(|&fd| fd >= lo && fd <= hi) {
                    // SAFETY: closes a descriptor number; EBADF (e.g. the listing's own fd,
                    // already closed) is harmless.
                    unsafe { libc::close(fd as RawFd) };
                }
            }
            Err(e) => return Err(e),
        }
    }
    Ok(())
}

/// The fd numbers in /proc/self/fd (the listing's own fd included, closed by then).
fn open_fds() -> Result<Vec<u32>, Errno> {
    let io = |e: std::io::Error| Errno::from_raw(e.raw_os_error().unwrap_or(libc::EIO));
    let mut fds = Vec::new();
    for entry in std::fs::read_dir("/proc/self/fd").map_err(io)? {
        if let Some(fd) = entry
            .map_err(io)?
            .file_name()
            .to_str()
            .and_then(|n| n.parse().ok())
        {
            fds.push(fd);
        }
    }
    Ok(fds)
}

/// The raw getcwd(2) result: unlike glibc's wrapper it shows a directory outside our root
/// as the kernel reports it, "(unreachable)/...", instead of failing.
pub(crate) fn getcwd_raw() -> Result<Vec<u8>, Errno> {
    let mut buf = vec![0u8; libc::PATH_MAX as usize + 1];
    // SAFETY: the kernel writes at most buf.len() bytes into the buffer we own.
    let n = unsafe { libc::syscall(libc::SYS_getcwd, buf.as_mut_ptr(), buf.len()) };
    if n < 0 {
        return Err(Errno::last());
    }
    // The returned length counts the terminating NUL.
    buf.truncate((n as usize).saturating_sub(1));
    Ok(buf)
}

/// Marks every fd >= `first` close-on-exec, so nothing the caller leaked reaches the
/// container. Falls back to fcntl per fd where close_range is refused (see
/// [`close_from_except`]).
pub(crate) fn cloexec_from(first: u32) -> Result<(), Errno> {
    // SAFETY: close_range only changes fd flags; it touches no memory.
    let r = unsafe { libc::close_range(first, u32::MAX, libc::CLOSE_RANGE_CLOEXEC as i32) };
    match Errno::result(r) {
        Ok(_) => Ok(()),
        Err(Errno::ENOSYS | Errno::EPERM | Errno::EINVAL) => {
            for fd in open_fds()?.into_iter().filter(|&fd| fd >= first) {
                // SAFETY: sets a descriptor flag; EBADF (the listing's own fd) is harmless.
                unsafe { libc::fcntl(fd as RawFd, libc::F_SETFD, libc::FD_CLOEXEC) };
            }
            Ok(())
        }
        Err(e) => Err(e),
    }
}

/// Whether the caller may execute `path` (X_OK), checked with faccessat2(AT_EACCESS) like
/// runc, falling back to access(2) where faccessat2 is refused (a kernel before 5.8, or a
/// seccomp profile older than it). The ids are switched by then, so real and effective
/// agree and both calls answer the same question.
pub(crate) fn executable(path: &Path) -> Result<(), Errno> {
    let c = cstr(path)?;
    // SAFETY: `c` is a valid NUL-terminated string that outlives the call.
    let r = unsafe {
        libc::syscall(
            libc::SYS_faccessat2,
            libc::AT_FDCWD,
            c.as_ptr(),
            libc::X_OK,
            libc::AT_EACCESS,
        )
    };
    match Errno::result(r) {
        Ok(_) => Ok(()),
        Err(Errno::ENOSYS | Errno::EPERM) => {
            // SAFETY: as above.
            Errno::result(unsafe { libc::access(c.as_ptr(), libc::X_OK) }).map(drop)
        }
        Err(e) => Err(e),
    }
}

/// pidfd_open(2): a handle that becomes readable when `pid` exits, for any process, child or not.
pub(crate) fn pidfd_open(pid: i32) -> Result<OwnedFd, Errno> {
    // SAFETY: plain syscall with integer arguments.
    let fd = unsafe { libc::syscall(libc::SYS_pidfd_open, pid, 0) };
    if fd < 0 {
        return Err(Errno::last());
    }
    // SAFETY: fresh fd from the kernel, owned by nobody else.
    Ok(unsafe { OwnedFd::from_raw_fd(fd as RawFd) })
}

/// Path through which a syscall taking a path reaches exactly the object behind `fd`
/// (mount(2) has no fd form we can rely on for every case).
pub(crate) fn fd_path(fd: RawFd) -> std::path::PathBuf {
    std::path::PathBuf::from(format!("/proc/self/fd/{fd}"))
}

/// linux/mount.h `struct mount_attr` (MOUNT_ATTR_SIZE_VER0, 32 bytes).
#[repr(C)]
struct MountAttr {
    attr_set: u64,
    attr_clr: u64,
    propagation: u64,
    userns_fd: u64,
}

/// mount_setattr(2) with AT_RECURSIVE on the mount `fd` names (an O_PATH fd is fine):
/// the recursive mount options (`rro`, `rnosuid`, ...) of the runtime-spec. Linux 5.12+.
pub(crate) fn mount_setattr_recursive(fd: RawFd, set: u64, clear: u64) -> Result<(), Errno> {
    mount_setattr_flags(fd, set, clear, libc::AT_RECURSIVE)
}

/// mount_setattr(2) on the one mount `fd` names, not its submounts.
pub(crate) fn mount_setattr(fd: RawFd, set: u64, clear: u64) -> Result<(), Errno> {
    mount_setattr_flags(fd, set, clear, 0)
}

fn mount_setattr_flags(fd: RawFd, set: u64, clear: u64, flags: libc::c_int) -> Result<(), Errno> {
    let attr = MountAttr {
        attr_set: set,
        attr_clr: clear,
        propagation: 0,
        userns_fd: 0,
    };
    // SAFETY: an empty NUL-terminated path and a mount_attr of the size we pass, both alive
    // for the call; the kernel only reads them.
    let r = unsafe {
        libc::syscall(
            libc::SYS_mount_setattr,
            fd,
            c"".as_ptr(),
            (libc::AT_EMPTY_PATH | flags) as libc::c_uint,
            &attr as *const MountAttr,
            std::mem::size_of::<MountAttr>(),
        )
    };
    Errno::result(r).map(drop)
}

/// Reads a /proc (or other pseudo) file whole. std's `read_to_string` asks statx for a
/// size (0 for these files), seeks, and grows its buffer from a 32-byte probe: up to ten
/// syscalls for a mountinfo. Here: open, one or two 4 KiB reads, close.
pub fn read_proc(path: impl AsRef<Path>) -> std::io::Result<String> {
    use std::io::Read;
    let mut f = std::fs::File::open(path)?;
    let mut buf = Vec::with_capacity(4096);
    let mut chunk = [0u8; 4096];
    loop {
        match f.read(&mut chunk) {
            Ok(0) => break,
            Ok(n) => buf.extend_from_slice(&chunk[..n]),
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    String::from_utf8(buf).map_err(|e| std::io::Error::new(std::io::ErrorKind::InvalidData, e))
}
