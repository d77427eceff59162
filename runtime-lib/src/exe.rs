//! The runtime's own binary, protected from being overwritten from inside a container
//! (CVE-2019-5736 class).
//!
//! init and exec'd processes are clones of the caller: until they execve the user program
//! their `/proc/<pid>/exe` is the caller's binary, and a container whose program is
//! `#!/proc/self/exe` makes the kernel run that binary again *inside* the container, as a
//! dumpable process. A container process can then open `/proc/<pid>/exe` and, once the
//! binary stops running (no more ETXTBSY), reopen it for writing: the host's runtime is
//! replaced by the attacker's code, run as root on the next container operation.
//!
//! The fix is runc's: the process that clones into containers does not run from the host's
//! file at all. [`protect`] re-executes the caller from a copy that cannot be written:
//!
//! 1. a read-only bind mount of the binary file that is never attached to any mount
//!    namespace (open_tree(OPEN_TREE_CLONE) + mount_setattr(RDONLY), Linux 5.12; runc
//!    1.1's first choice was a read-only bind too): no copy, no new superblock, every open
//!    for writing fails with EROFS, and it disappears with the last process running from
//!    it;
//! 2. else a read-only overlayfs of the binary's directory, also detached (fsopen +
//!    fsmount; runc 1.2's default): no upper layer, so writes fail with EROFS;
//! 3. else (no CAP_SYS_ADMIN, a path overlayfs cannot take) a memfd copy, sealed against
//!    writes, shrinking and growing (runc 1.1's fallback; it costs a copy of the binary per
//!    command).
//!
//! Cost (benches/README.md): one more execve of the binary, about 0.7 ms per `create`,
//! `run` or `exec` with the bind mount, 2 ms with the memfd copy, most of it glibc starting
//! a second time. The `ongi` CLI therefore does step 1 before glibc starts, in its ELF entry
//! point (runtime-cli/src/bin/ongi/prestart.c, ~0.1 ms); `protect()` in the re-executed
//! process then finds the binary protected, and still does everything itself when that
//! fast path did not apply.
//!
//! [`check`] is what `create` and `exec` call: they refuse to clone into a container from
//! a binary that is neither on a read-only mount nor a sealed memfd.

use nix::errno::Errno;
use std::ffi::{CString, OsString};
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};
use std::os::unix::ffi::{OsStrExt, OsStringExt};
use std::path::{Path, PathBuf};

/// Set in the environment of the re-executed process, so that a protection that did not
/// take is an error instead of an endless loop of re-executions; removed again at once.
/// runtime-cli/src/bin/ongi/prestart.c sets it too (and mirrors [`read_only_bind`]):
/// change both together.
const REEXEC_MARK: &str = "_ONGI_EXE_PROTECTED";

/// Lower layer under the binary's directory: overlayfs needs two lower layers to mount
/// without an upper one. The binary's directory is on top, so a file of the same name in
/// /dev cannot shadow it; overlayfs refuses (ELOOP) a binary that lives under /dev itself,
/// and the memfd copy is used then.
const SECOND_LOWER: &str = "/dev";

/// How the running binary is kept from being written through `/proc/<pid>/exe`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Protection {
    /// The binary lives on a read-only mount (our detached overlayfs, or a read-only
    /// filesystem of the host's): opening it for writing fails with EROFS.
    ReadOnlyMount,
    /// A memfd copy sealed against write, shrink and grow: writes fail with EPERM.
    SealedMemfd,
}

/// Why the running binary is not, or could not be, protected.
#[derive(Debug, thiserror::Error)]
pub enum ExeError {
    /// A system call on the binary or its protected copy failed.
    #[error("{path}: {op}: {errno}")]
    Sys {
        /// The file operated on.
        path: PathBuf,
        /// The operation.
        op: &'static str,
        /// The error it returned.
        errno: Errno,
    },
    /// The binary could be written from inside a container ([`check`]).
    #[error(
        "the running binary {exe} could be overwritten from inside a container \
         (CVE-2019-5736): it is neither on a read-only mount nor a sealed memfd; \
         call ongi::exe::protect() first thing in main"
    )]
    Unprotected {
        /// The binary's path.
        exe: String,
    },
    /// After the re-execution the binary is still writable.
    #[error(
        "re-executed from a protected copy of {exe}, but /proc/self/exe is still writable; \
         refusing to go on"
    )]
    StillUnprotected {
        /// The binary's path.
        exe: String,
    },
    /// Neither way of protecting the binary worked.
    #[error("cannot protect the running binary: read-only mount: {mount}; memfd copy: {memfd}")]
    NoProtection {
        /// Why the read-only mounts (bind, then overlay) failed.
        mount: String,
        /// Why the sealed memfd copy failed.
        memfd: String,
    },
}

const SELF_EXE: &str = "/proc/self/exe";

fn sys(op: &'static str, path: impl Into<PathBuf>) -> impl FnOnce(Errno) -> ExeError {
    let path = path.into();
    move |errno| ExeError::Sys { path, op, errno }
}

fn exe_name() -> String {
    std::fs::read_link(SELF_EXE)
        .map(|p| p.display().to_string())
        .unwrap_or_else(|_| SELF_EXE.into())
}

/// How the running binary is protected, or None when a container could write it.
pub fn protection() -> Result<Option<Protection>, ExeError> {
    if let Some(p) = KNOWN.get() {
        return Ok(Some(*p));
    }
    let fd = nix::fcntl::open(
        SELF_EXE,
        nix::fcntl::OFlag::O_RDONLY | nix::fcntl::OFlag::O_CLOEXEC,
        nix::sys::stat::Mode::empty(),
    )
    .map_err(sys("open", SELF_EXE))?;
    protection_of(&fd)
}

/// The protection found once: a process's binary only changes with execve, which starts
/// over with a fresh copy of this static.
static KNOWN: std::sync::OnceLock<Protection> = std::sync::OnceLock::new();

fn protection_of(fd: &OwnedFd) -> Result<Option<Protection>, ExeError> {
    const SEALS: libc::c_int = libc::F_SEAL_WRITE | libc::F_SEAL_SHRINK | libc::F_SEAL_GROW;
    // SAFETY: F_GET_SEALS takes no argument and only reads the fd's seals.
    let seals = unsafe { libc::fcntl(fd.as_raw_fd(), libc::F_GET_SEALS) };
    if seals >= 0 && seals & SEALS == SEALS {
        return Ok(Some(Protection::SealedMemfd));
    }
    let vfs = nix::sys::statvfs::fstatvfs(fd).map_err(sys("fstatvfs", SELF_EXE))?;
    if vfs.flags().contains(nix::sys::statvfs::FsFlags::ST_RDONLY) {
        return Ok(Some(Protection::ReadOnlyMount));
    }
    Ok(None)
}

/// Refuses when the running binary is not protected (see [`protection`]); `create` and
/// `exec` call this before they clone anything into a container.
pub fn check() -> Result<Protection, ExeError> {
    protection()?.ok_or_else(|| ExeError::Unprotected { exe: exe_name() })
}

/// Makes sure the running binary cannot be written from inside a container: returns at
/// once when it already is protected, else re-executes the process (same arguments and
/// environment) from a protected copy and does not return. Call it first thing in `main`,
/// before threads or open files matter, in every program that creates containers or
/// execs into them.
pub fn protect() -> Result<Protection, ExeError> {
    let marked = std::env::var_os(REEXEC_MARK).is_some();
    if marked {
        // Called first thing in main, while the process is single-threaded (the documented
        // contract), so nothing reads the environment concurrently; children (hooks) must
        // not inherit the mark.
        std::env::remove_var(REEXEC_MARK);
    }
    if let Some(p) = protection()? {
        let _ = KNOWN.set(p);
        return Ok(p);
    }
    if marked {
        return Err(ExeError::StillUnprotected { exe: exe_name() });
    }
    let fd = match read_only_bind().or_else(|_| read_only_overlay()) {
        Ok(fd) => fd,
        Err(mount) => sealed_memfd().map_err(|memfd| ExeError::NoProtection {
            mount: mount.to_string(),
            memfd: memfd.to_string(),
        })?,
    };
    let args = cstrings(std::env::args_os())?;
    let mut env = cstrings(std::env::vars_os().map(|(k, v)| {
        let mut kv = k;
        kv.push("=");
        kv.push(v);
        kv
    }))?;
    env.push(
        CString::new(format!("{REEXEC_MARK}=1"))
            .map_err(|_| sys("env", REEXEC_MARK)(Errno::EINVAL))?,
    );
    let e = nix::unistd::execveat(&fd, c"", &args, &env, nix::fcntl::AtFlags::AT_EMPTY_PATH)
        .unwrap_err();
    Err(sys("execveat (protected copy)", exe_name())(e))
}

fn cstrings(it: impl Iterator<Item = OsString>) -> Result<Vec<CString>, ExeError> {
    it.map(|s| CString::new(s.into_vec()).map_err(|_| sys("argv/env", "NUL byte")(Errno::EINVAL)))
        .collect()
}

fn raw_fd(r: libc::c_long) -> Result<OwnedFd, Errno> {
    if r < 0 {
        return Err(Errno::last());
    }
    // SAFETY: the kernel just returned this fd to us and nothing else owns it.
    Ok(unsafe { OwnedFd::from_raw_fd(r as RawFd) })
}

fn fsconfig_string(
    fs: &OwnedFd,
    key: &std::ffi::CStr,
    value: &std::ffi::CStr,
) -> Result<(), Errno> {
    const FSCONFIG_SET_STRING: libc::c_uint = 1;
    // SAFETY: both strings are NUL-terminated and outlive the call; `fs` is an fsopen fd.
    let r = unsafe {
        libc::syscall(
            libc::SYS_fsconfig,
            fs.as_raw_fd(),
            FSCONFIG_SET_STRING,
            key.as_ptr(),
            value.as_ptr(),
            0,
        )
    };
    Errno::result(r).map(drop)
}

/// The binary itself as a read-only bind mount that is never attached to a mount
/// namespace (open_tree(OPEN_TREE_CLONE) of the file, then mount_setattr(RDONLY); Linux
/// 5.12): no new superblock and no copy, the cheapest of the three. Every open for writing
/// through it (and so through /proc/<pid>/exe) fails with EROFS: the mount's flags are
/// checked on the path the exe link carries, and only the holder of the mount fd, never the
/// container, could change them.
fn read_only_bind() -> Result<OwnedFd, ExeError> {
    read_only_bind_of(c"/proc/self/exe")
}

fn read_only_bind_of(file: &std::ffi::CStr) -> Result<OwnedFd, ExeError> {
    const OPEN_TREE_CLONE: libc::c_uint = 1;
    let flags = OPEN_TREE_CLONE | libc::O_CLOEXEC as libc::c_uint;
    // SAFETY: a NUL-terminated path and plain flags; the result is checked by raw_fd.
    let fd =
        raw_fd(unsafe { libc::syscall(libc::SYS_open_tree, libc::AT_FDCWD, file.as_ptr(), flags) })
            .map_err(sys("open_tree (clone)", SELF_EXE))?;
    let attrs = libc::MOUNT_ATTR_RDONLY | libc::MOUNT_ATTR_NOSUID | libc::MOUNT_ATTR_NODEV;
    crate::sys::mount_setattr(fd.as_raw_fd(), attrs, 0).map_err(sys("mount_setattr", SELF_EXE))?;
    // What execveat will run must itself pass the check (the re-executed process checks
    // again); openat cannot take "" without AT_EMPTY_PATH, so through /proc.
    let rd = nix::fcntl::open(
        format!("/proc/self/fd/{}", fd.as_raw_fd()).as_str(),
        nix::fcntl::OFlag::O_RDONLY | nix::fcntl::OFlag::O_CLOEXEC,
        nix::sys::stat::Mode::empty(),
    )
    .map_err(sys("open read-only bind", SELF_EXE))?;
    match protection_of(&rd)? {
        Some(_) => Ok(fd),
        None => Err(sys("read-only bind is writable", SELF_EXE)(Errno::EROFS)),
    }
}

/// An O_PATH fd of the binary inside a read-only overlayfs that is never attached to a
/// mount namespace (it lives as long as an fd or an exe link refers to it).
fn read_only_overlay() -> Result<OwnedFd, ExeError> {
    let exe = std::fs::read_link(SELF_EXE).map_err(|e| ExeError::Sys {
        path: SELF_EXE.into(),
        op: "readlink",
        errno: Errno::from_raw(e.raw_os_error().unwrap_or(libc::EINVAL)),
    })?;
    let (Some(dir), Some(name)) = (exe.parent(), exe.file_name()) else {
        return Err(sys("overlay lowerdir", exe.clone())(Errno::EINVAL));
    };
    let bytes = dir.as_os_str().as_bytes();
    // Separators in mount option strings; such a path (or a deleted binary) goes the
    // memfd way.
    if !exe.exists() || bytes.iter().any(|b| matches!(b, b':' | b',' | b'\\')) {
        return Err(sys("overlay lowerdir", dir)(Errno::EINVAL));
    }
    let lower = CString::new([bytes, b":", SECOND_LOWER.as_bytes()].concat())
        .map_err(|_| sys("overlay lowerdir", dir)(Errno::EINVAL))?;
    const FSOPEN_CLOEXEC: libc::c_uint = 1;
    // SAFETY: a NUL-terminated fs type name; the result is checked by raw_fd.
    let fs =
        raw_fd(unsafe { libc::syscall(libc::SYS_fsopen, c"overlay".as_ptr(), FSOPEN_CLOEXEC) })
            .map_err(sys("fsopen overlay", dir))?;
    fsconfig_string(&fs, c"lowerdir", &lower).map_err(sys("overlay lowerdir", dir))?;
    // xino is irrelevant here and would log a warning when the layers' filesystems differ.
    let _ = fsconfig_string(&fs, c"xino", c"off");
    const FSCONFIG_CMD_CREATE: libc::c_uint = 6;
    // SAFETY: CMD_CREATE takes no key or value.
    let r = unsafe {
        libc::syscall(
            libc::SYS_fsconfig,
            fs.as_raw_fd(),
            FSCONFIG_CMD_CREATE,
            std::ptr::null::<libc::c_char>(),
            std::ptr::null::<libc::c_void>(),
            0,
        )
    };
    Errno::result(r).map_err(sys("overlay create", dir))?;
    const FSMOUNT_CLOEXEC: libc::c_uint = 1;
    let attrs = (libc::MOUNT_ATTR_RDONLY | libc::MOUNT_ATTR_NODEV | libc::MOUNT_ATTR_NOSUID)
        as libc::c_uint;
    // SAFETY: `fs` is a created fs context; the result is checked by raw_fd.
    let mnt =
        raw_fd(unsafe { libc::syscall(libc::SYS_fsmount, fs.as_raw_fd(), FSMOUNT_CLOEXEC, attrs) })
            .map_err(sys("fsmount overlay", dir))?;
    let name = Path::new(name);
    let fd = nix::fcntl::openat(
        &mnt,
        name,
        nix::fcntl::OFlag::O_PATH | nix::fcntl::OFlag::O_NOFOLLOW | nix::fcntl::OFlag::O_CLOEXEC,
        nix::sys::stat::Mode::empty(),
    )
    .map_err(sys("open in overlay", exe.clone()))?;
    // What execveat will run must itself pass the check, or the re-executed process would
    // refuse to go on.
    let rd = nix::fcntl::openat(
        &mnt,
        name,
        nix::fcntl::OFlag::O_RDONLY | nix::fcntl::OFlag::O_CLOEXEC,
        nix::sys::stat::Mode::empty(),
    )
    .map_err(sys("open in overlay", exe.clone()))?;
    match protection_of(&rd)? {
        Some(_) => Ok(fd),
        None => Err(sys("overlay is writable", exe)(Errno::EROFS)),
    }
}

/// A memfd holding a copy of the binary, sealed so that nobody can change it.
fn sealed_memfd() -> Result<OwnedFd, ExeError> {
    let name = c"ongi";
    let base = libc::MFD_CLOEXEC | libc::MFD_ALLOW_SEALING;
    // MFD_EXEC (Linux 6.3) keeps the copy executable where vm.memfd_noexec would default
    // new memfds to noexec; older kernels refuse the flag.
    // SAFETY: a NUL-terminated name and plain flags; the result is checked by raw_fd.
    let mem = raw_fd(unsafe {
        libc::syscall(libc::SYS_memfd_create, name.as_ptr(), base | libc::MFD_EXEC)
    })
    .or_else(|_| {
        // SAFETY: as above.
        raw_fd(unsafe { libc::syscall(libc::SYS_memfd_create, name.as_ptr(), base) })
    })
    .map_err(sys("memfd_create", "ongi"))?;
    let src = nix::fcntl::open(
        SELF_EXE,
        nix::fcntl::OFlag::O_RDONLY | nix::fcntl::OFlag::O_CLOEXEC,
        nix::sys::stat::Mode::empty(),
    )
    .map_err(sys("open", SELF_EXE))?;
    loop {
        // SAFETY: two valid fds and a null offset (the source's own offset advances).
        let n = unsafe {
            libc::sendfile(
                mem.as_raw_fd(),
                src.as_raw_fd(),
                std::ptr::null_mut(),
                1 << 30,
            )
        };
        match Errno::result(n) {
            Ok(0) => break,
            Ok(_) | Err(Errno::EINTR) => {}
            Err(e) => return Err(sys("sendfile to memfd", SELF_EXE)(e)),
        }
    }
    let seals = libc::F_SEAL_SEAL | libc::F_SEAL_SHRINK | libc::F_SEAL_GROW | libc::F_SEAL_WRITE;
    // F_SEAL_EXEC (Linux 6.3) also stops chmod of the copy; older kernels refuse it.
    // SAFETY: F_ADD_SEALS takes an int of seal bits.
    let r = unsafe {
        libc::fcntl(
            mem.as_raw_fd(),
            libc::F_ADD_SEALS,
            seals | libc::F_SEAL_EXEC,
        )
    };
    if r < 0 {
        // SAFETY: as above.
        let r = unsafe { libc::fcntl(mem.as_raw_fd(), libc::F_ADD_SEALS, seals) };
        Errno::result(r).map_err(sys("seal memfd", "ongi"))?;
    }
    Ok(mem)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn memfd_copy_is_sealed() {
        let fd = sealed_memfd().expect("memfd");
        assert_eq!(
            protection_of(&fd).expect("check"),
            Some(Protection::SealedMemfd)
        );
        let path = format!("/proc/self/fd/{}", fd.as_raw_fd());
        let err = std::fs::OpenOptions::new()
            .write(true)
            .open(&path)
            .and_then(|mut f| std::io::Write::write_all(&mut f, b"x"))
            .expect_err("write to the sealed copy");
        assert_eq!(err.raw_os_error(), Some(libc::EPERM), "{err}");
    }

    #[test]
    fn bind_copy_is_read_only() {
        // A file that is not running (the test binary itself would answer ETXTBSY first;
        // the attacker waits that out and then meets EROFS, see tests/hostile_exe.rs).
        let file = std::env::temp_dir().join(format!("ongi-exe-bind-{}", std::process::id()));
        std::fs::write(&file, b"#!/bin/true\n").expect("write temp file");
        let c = std::ffi::CString::new(file.as_os_str().as_bytes()).expect("no NUL");
        let fd = read_only_bind_of(&c).expect("read-only bind");
        let _ = std::fs::remove_file(&file);
        let path = format!("/proc/self/fd/{}", fd.as_raw_fd());
        let err = std::fs::OpenOptions::new()
            .write(true)
            .open(&path)
            .expect_err("open the bind copy for writing");
        assert_eq!(err.raw_os_error(), Some(libc::EROFS), "{err}");
    }

    #[test]
    fn overlay_copy_is_read_only() {
        let fd = read_only_overlay().expect("overlay");
        let path = format!("/proc/self/fd/{}", fd.as_raw_fd());
        let err = std::fs::OpenOptions::new()
            .write(true)
            .open(&path)
            .expect_err("open the overlay copy for writing");
        assert_eq!(err.raw_os_error(), Some(libc::EROFS), "{err}");
    }
}
