//! process.rlimits.

use super::SecurityError;
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

pub fn apply(limits: &[PosixRlimit]) -> Result<(), SecurityError> {
    for l in limits {
        let r = libc::rlimit {
            rlim_cur: l.soft(),
            rlim_max: l.hard(),
        };
        // SAFETY: `r` is a valid rlimit struct living across the call.
        let rc = unsafe { libc::setrlimit(resource(l.typ()), &r) };
        if rc != 0 {
            let errno = Errno::last();
            return Err(SecurityError::Rlimit {
                resource: format!("{:?}", l.typ())
                    .to_uppercase()
                    .replace("RLIMIT", "RLIMIT_"),
                soft: l.soft(),
                hard: l.hard(),
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
