//! Creating the container's init process: the clone sequence (`spawn`, runtime side) and
//! everything init does before it execs the user program (`init`, container side).

pub mod attrs;
pub mod exec;
pub mod init;
pub mod spawn;
pub(crate) mod tty_relay;

use crate::namespaces::Namespaces;
use oci_spec::runtime::Spec;
use std::os::fd::{AsRawFd, OwnedFd, RawFd};
use std::path::{Path, PathBuf};

/// Everything init needs, prepared by the runtime before the clone. Init inherits it as a
/// copy of the runtime's memory, so nothing is serialised.
pub struct InitConfig {
    pub spec: Spec,
    pub bundle: PathBuf,
    pub rootfs: PathBuf,
    pub namespaces: Namespaces,
    /// O_PATH fd of the container's state directory: after pivot_root the exec fifo is
    /// reached relative to it, since its path is outside the new root.
    pub state_dir: OwnedFd,
    pub console: Option<OwnedFd>,
    pub no_pivot: bool,
    /// Name of the new session keyring init joins (runc's `_ses.<id>`); None with
    /// `--no-new-keyring`.
    pub session_keyring: Option<String>,
    pub preserve_fds: u32,
    /// State JSON for createContainer/startContainer hooks (they run inside init).
    pub hook_state: Vec<u8>,
    /// linux.seccomp, compiled by the runtime before the clone; init only loads it.
    pub seccomp: Option<crate::seccomp::Program>,
    /// How init enters its cgroups (see [`crate::cgroups::Placement`]).
    pub cgroup: crate::cgroups::Placement,
    /// The v2 directory of `cgroup.clone_into`, opened for clone3(CLONE_INTO_CGROUP).
    pub cgroup_into_fd: Option<OwnedFd>,
    /// Set by `spawn` when init was cloned straight into `cgroup_into_fd`.
    pub cloned_into_cgroup: std::cell::Cell<bool>,
    /// personality, ioPriority, scheduler: checked by the runtime, applied by init.
    pub attrs: attrs::Attrs,
    /// linux.sysctl, checked against the namespaces by the runtime; init writes them.
    pub sysctl: Vec<crate::sysctl::Sysctl>,
}

/// The last steps before the user program, shared by init and exec'd processes, in runc's
/// order (finalizeNamespace), arranged so that a seccomp profile which allows only what the
/// user program needs (plus what runc 1.1.5 itself needs after loading it) still works:
/// everything that needs other syscalls (close_range, getcwd, openat2) runs before the
/// filter is loaded.
///
/// 1. Every fd from `first` on except `keep` is closed and the kept ones are marked
///    close-on-exec, so only stdio and --preserve-fds reach the program.
/// 2. process.cwd is entered ([`enter_cwd`]), still as root of the container; if that is
///    refused (EACCES/EPERM: a directory only the container user may enter), it is tried
///    again after the user switch, as runc does.
/// 3. Without no_new_privs the kernel only accepts a seccomp filter from a task with
///    CAP_SYS_ADMIN, so `early_filter` runs before any capability is dropped; then the
///    bounding set, the user switch, the other capability sets and no_new_privs.
///
/// Returns whether no_new_privs was set (the caller then loads the filter as late as it can).
pub(crate) fn finalize<E>(
    process: &oci_spec::runtime::Process,
    first: u32,
    keep: &[RawFd],
    early_filter: impl FnOnce() -> Result<(), E>,
) -> Result<bool, E>
where
    E: From<crate::security::SecurityError> + From<CwdError>,
{
    use crate::security;
    let fds = |op| move |errno| CwdError::Fds { op, errno };
    crate::sys::close_from_except(first, keep).map_err(fds("close"))?;
    crate::sys::cloexec_from(first).map_err(fds("mark close-on-exec"))?;
    let cwd = process.cwd();
    let entered = match enter_cwd(cwd, true) {
        Ok(()) => true,
        Err(e) if e.is_access_denied() => false,
        Err(e) => return Err(e.into()),
    };
    let nnp = process.no_new_privileges().unwrap_or(false);
    let setgroups_ok = crate::sys::read_proc("/proc/self/setgroups")
        .map(|s| s.trim() != "deny")
        .unwrap_or(true);
    let caps = security::caps::Sets::from_spec(process.capabilities().as_ref())?;
    if !nnp {
        early_filter()?;
    }
    caps.drop_bounding()?;
    security::user::switch(process.user(), setgroups_ok)?;
    if !entered {
        // Possibly under the filter now: getcwd may be refused (see enter_cwd).
        enter_cwd(cwd, false)?;
    }
    caps.apply()?;
    if nnp {
        security::set_no_new_privs()?;
    }
    Ok(nnp)
}

/// Why a process could not enter process.cwd (or close the fds it inherited first).
#[derive(Debug, thiserror::Error)]
pub enum CwdError {
    #[error("closing inherited fds: {op}: {errno}")]
    Fds {
        op: &'static str,
        errno: nix::errno::Errno,
    },
    #[error("process.cwd {path}: {op}: {errno}")]
    Sys {
        path: PathBuf,
        op: &'static str,
        errno: nix::errno::Errno,
    },
    #[error(
        "process.cwd {path}: refused: it resolves through a magic link such as \
         /proc/self/fd/N (or too many symlinks)"
    )]
    MagicLink { path: PathBuf },
    #[error("process.cwd {path}: refused: it resolves outside the container's root ({got})")]
    Outside { path: PathBuf, got: String },
}

impl CwdError {
    /// The directory may be one only the container user can enter: worth a second try
    /// after the user switch.
    fn is_access_denied(&self) -> bool {
        use nix::errno::Errno;
        matches!(
            self,
            CwdError::Sys {
                op: "open" | "fchdir" | "chdir",
                errno: Errno::EACCES | Errno::EPERM,
                ..
            }
        )
    }
}

/// Enters process.cwd, for init and exec'd processes alike (CVE-2024-21626); the caller
/// has closed every fd the runtime opened, so no host directory is still reachable as
/// /proc/self/fd/N. The path is resolved inside our root without following magic links
/// (openat2 RESOLVE_IN_ROOT | RESOLVE_NO_MAGICLINKS) and entered with fchdir; then getcwd
/// must show a path inside the root, not "(unreachable)". Where openat2 is unavailable
/// (old kernel, or a seccomp profile refusing it) a plain chdir is used: the closed fds and
/// the getcwd check still keep the cwd inside. When `strict` is false (the second
/// try, after the seccomp filter may have been loaded) a getcwd refused with EPERM/ENOSYS is
/// accepted if openat2 did the resolution, which alone keeps the cwd inside the root.
pub(crate) fn enter_cwd(cwd: &Path, strict: bool) -> Result<(), CwdError> {
    use nix::errno::Errno;
    let err = |op| {
        move |errno| CwdError::Sys {
            path: cwd.to_path_buf(),
            op,
            errno,
        }
    };
    let root = nix::fcntl::open(
        "/",
        nix::fcntl::OFlag::O_PATH | nix::fcntl::OFlag::O_DIRECTORY | nix::fcntl::OFlag::O_CLOEXEC,
        nix::sys::stat::Mode::empty(),
    )
    .map_err(err("open /"))?;
    let open =
        || crate::sys::openat_in_root(root.as_raw_fd(), cwd, libc::O_PATH | libc::O_DIRECTORY);
    // EAGAIN: a rename raced with the resolution of ".." (RESOLVE_IN_ROOT); try again.
    let mut r = open();
    for _ in 0..16 {
        if !matches!(r, Err(Errno::EAGAIN)) {
            break;
        }
        r = open();
    }
    let resolved_in_root = match r {
        Ok(fd) => {
            nix::unistd::fchdir(&fd).map_err(err("fchdir"))?;
            true
        }
        Err(Errno::ELOOP) => return Err(CwdError::MagicLink { path: cwd.into() }),
        Err(Errno::ENOSYS | Errno::EPERM) => {
            nix::unistd::chdir(cwd).map_err(err("chdir"))?;
            false
        }
        Err(e) => return Err(err("open")(e)),
    };
    let got = match crate::sys::getcwd_raw() {
        Ok(got) => got,
        Err(Errno::EPERM | Errno::ENOSYS) if !strict && resolved_in_root => return Ok(()),
        Err(e) => return Err(err("getcwd")(e)),
    };
    if !got.starts_with(b"/") {
        return Err(CwdError::Outside {
            path: cwd.to_path_buf(),
            got: String::from_utf8_lossy(&got).into_owned(),
        });
    }
    Ok(())
}

/// What execve needs, built from process.args/env/user the same way for init and for
/// exec'd processes: HOME defaulted from the user, arg0 looked up in the container's PATH.
pub(crate) struct ExecArgs {
    pub path: PathBuf,
    pub exe: std::ffi::CString,
    pub args: Vec<std::ffi::CString>,
    pub env: Vec<std::ffi::CString>,
}

/// Why [`exec_args`] failed: arg0 and the reason, for the caller's own error type.
pub(crate) type ExecArgsError = (String, String);

pub(crate) fn exec_args(process: &oci_spec::runtime::Process) -> Result<ExecArgs, ExecArgsError> {
    use std::os::unix::ffi::OsStrExt;
    let mut env: Vec<String> = process.env().clone().unwrap_or_default();
    if !env.iter().any(|e| e.starts_with("HOME=")) {
        let home = crate::security::user::home_dir(process.user().uid());
        env.push(format!("HOME={home}"));
    }
    let args = process.args().as_deref().unwrap_or_default();
    let arg0 = args.first().cloned().unwrap_or_default();
    let fail = |reason: String| (arg0.clone(), reason);
    let path = init::find_executable(&arg0, &env).map_err(fail)?;
    let cstrings = |v: &[String]| -> Result<Vec<std::ffi::CString>, ExecArgsError> {
        v.iter()
            .map(|s| {
                std::ffi::CString::new(s.as_str()).map_err(|_| fail(format!("NUL byte in {s:?}")))
            })
            .collect()
    };
    Ok(ExecArgs {
        args: cstrings(args)?,
        env: cstrings(&env)?,
        exe: std::ffi::CString::new(path.as_os_str().as_bytes())
            .map_err(|_| fail("NUL byte in path".into()))?,
        path,
    })
}

/// The container's init could not be started.
#[derive(Debug, thiserror::Error)]
pub enum ProcessError {
    /// init (or the intermediate that forks it) could not be cloned.
    #[error("clone: {0}")]
    Clone(nix::errno::Errno),
    /// A uid/gid map of init could not be written.
    #[error("write {path}: {source}")]
    IdMap {
        /// The map file.
        path: PathBuf,
        /// The error the write returned.
        source: std::io::Error,
    },
    /// init failed during setup (its own error text).
    #[error("{0}")]
    Init(String),
    /// The handshake with init failed.
    #[error(transparent)]
    Channel(#[from] crate::channel::ChannelError),
    /// Waiting for the intermediate process failed.
    #[error("waiting for intermediate process: {0}")]
    Wait(nix::errno::Errno),
    /// process.rlimits could not be set on the new process.
    #[error(transparent)]
    Rlimit(#[from] crate::security::rlimits::RlimitError),
}

/// The runtime's side of [`FromInit::Rlimits`](crate::channel::FromInit::Rlimits): sets
/// process.rlimits on `pid` (init or an exec'd process, which asked just before its
/// privileges go; see `security::rlimits::apply` for why the runtime does it) and lets it
/// go on.
pub(crate) fn set_rlimits(
    chan: &crate::channel::ParentEnd,
    pid: i32,
    process: Option<&oci_spec::runtime::Process>,
) -> Result<(), ProcessError> {
    if let Some(r) = process.and_then(|p| p.rlimits().as_deref()) {
        crate::security::rlimits::apply(pid, r)?;
    }
    chan.send(crate::channel::ToInit::RlimitsDone)?;
    Ok(())
}

/// Why init closed the channel during setup without reporting an error. It is exiting, so
/// its status (it is always our child) tells; bounded in case it lingers. The flag says
/// whether init was reaped (its pid must then not be signalled any more).
pub fn setup_exit_reason(pid: i32, seccomp: bool) -> (String, bool) {
    use nix::sys::wait::{waitpid, WaitPidFlag, WaitStatus};
    let pid = nix::unistd::Pid::from_raw(pid);
    let hint = "linux.seccomp must allow the syscalls init makes after loading the filter \
        (write, openat, close, execve; without noNewPrivileges also read, prctl, capget, \
        capset, setgroups, setgid, setuid, newfstatat, faccessat2; sendmsg and recvmsg with \
        SCMP_ACT_NOTIFY): the ones runc 1.1 needs as well";
    for _ in 0..1000 {
        let why = match waitpid(pid, Some(WaitPidFlag::WNOHANG)) {
            Ok(WaitStatus::StillAlive) => {
                std::thread::sleep(std::time::Duration::from_millis(5));
                continue;
            }
            Ok(WaitStatus::Exited(_, init::EXIT_SECCOMP_BLOCKED)) if seccomp => {
                format!(
                    "init failed after loading the seccomp filter and could not report why: {hint}"
                )
            }
            Ok(WaitStatus::Exited(_, code)) => format!("init exited during setup (status {code})"),
            Ok(WaitStatus::Signaled(_, sig, _)) if seccomp && sig == nix::sys::signal::SIGSYS => {
                format!("init was killed by SIGSYS during setup: {hint}")
            }
            Ok(WaitStatus::Signaled(_, sig, _)) => format!("init was killed by {sig} during setup"),
            _ => break,
        };
        return (why, true);
    }
    ("init exited during setup".to_string(), false)
}
