//! process.rlimits, set by the runtime on the container process (see [`apply`]).

use nix::errno::Errno;
use oci_spec::runtime::{PosixRlimit, PosixRlimitType};

fn resource(t: PosixRlimitType) -> libc::__rlimit_resource_t {
    use PosixRlimitType::*;
    match t {
        RlimitCpu => libc::RLIMIT_CPU,
        RlimitFsize => libc::RLIMIT_FSIZE,
        RlimitData => libc::RLIMIT_DATA,
        RlimitStack => libc::RLIMIT_STACK,
        RlimitCore => libc::RLIMIT_CORE,
        RlimitRss => libc::RLIMIT_RSS,
        RlimitNproc => libc::RLIMIT_NPROC,
        RlimitNofile => libc::RLIMIT_NOFILE,
        RlimitMemlock => libc::RLIMIT_MEMLOCK,
        RlimitAs => libc::RLIMIT_AS,
        RlimitLocks => libc::RLIMIT_LOCKS,
        RlimitSigpending => libc::RLIMIT_SIGPENDING,
        RlimitMsgqueue => libc::RLIMIT_MSGQUEUE,
        RlimitNice => libc::RLIMIT_NICE,
        RlimitRtprio => libc::RLIMIT_RTPRIO,
        RlimitRttime => libc::RLIMIT_RTTIME,
    }
}

/// One of process.rlimits could not be set on the container process.
#[derive(Debug, thiserror::Error)]
#[error(
    "process.rlimits: prlimit {resource} (soft {soft}, hard {hard}) of pid {pid}: {errno}{hint}"
)]
pub struct RlimitError {
    /// The limit, e.g. `RLIMIT_NOFILE`.
    pub resource: String,
    /// The configured soft limit.
    pub soft: u64,
    /// The configured hard limit.
    pub hard: u64,
    /// The container process.
    pub pid: i32,
    /// The error prlimit(2) returned.
    pub errno: Errno,
    hint: &'static str,
}

/// Sets `limits` on process `pid` with prlimit(2), called by the runtime (as runc's parent
/// does, "because we lose permissions to raise the limits once we enter a user-namespace"):
/// raising a hard limit takes CAP_SYS_RESOURCE in the initial user namespace, checked on
/// the caller, which a process inside a new user namespace never has. So the limits are
/// set with the runtime's privileges, as crun's setrlimit before its clone(CLONE_NEWUSER)
/// does, without touching the runtime's own limits (a library caller may live on). `pid`
/// is the runtime's unreaped child, so it cannot be a recycled pid.
pub fn apply(pid: i32, limits: &[PosixRlimit]) -> Result<(), RlimitError> {
    for l in limits {
        let r = libc::rlimit {
            rlim_cur: l.soft(),
            rlim_max: l.hard(),
        };
        // SAFETY: `r` is a valid rlimit struct living across the call; no old value asked.
        let rc = unsafe { libc::prlimit(pid, resource(l.typ()), &r, std::ptr::null_mut()) };
        if rc != 0 {
            let errno = Errno::last();
            return Err(RlimitError {
                resource: format!("{:?}", l.typ())
                    .to_uppercase()
                    .replace("RLIMIT", "RLIMIT_"),
                soft: l.soft(),
                hard: l.hard(),
                pid,
                errno,
                hint: if errno == Errno::EPERM {
                    " (raising a hard limit above the runtime's own needs CAP_SYS_RESOURCE)"
                } else {
                    ""
                },
            });
        }
    }
    Ok(())
}
