//! Switching to the container user: groups, gid, uid, keeping capabilities across it.

use super::SecurityError;
use nix::unistd::{Gid, Uid};
use oci_spec::runtime::User;

/// setgroups + setgid + setuid. Capabilities survive (PR_SET_KEEPCAPS) so that
/// `caps::Sets::apply` can set the configured ones afterwards. setgid/setuid rather than
/// setresgid/setresuid: the caller holds CAP_SETGID/CAP_SETUID in its user namespace, so
/// they set the real, effective and saved ids alike, and they are the calls runc makes,
/// which recorded seccomp profiles (loaded before this step without no_new_privs) allow.
pub fn switch(user: &User, allow_setgroups: bool) -> Result<(), SecurityError> {
    let prctl = |op, errno| SecurityError::Prctl { op, errno };
    nix::sys::prctl::set_keepcaps(true).map_err(|e| prctl("PR_SET_KEEPCAPS", e))?;
    if allow_setgroups {
        let groups: Vec<Gid> = user
            .additional_gids()
            .iter()
            .flatten()
            .map(|g| Gid::from_raw(*g))
            .collect();
        nix::unistd::setgroups(&groups).map_err(|errno| SecurityError::Id {
            op: "setgroups",
            id: groups.len() as u32,
            errno,
        })?;
    }
    let gid = Gid::from_raw(user.gid());
    nix::unistd::setgid(gid).map_err(|errno| SecurityError::Id {
        op: "setgid",
        id: user.gid(),
        errno,
    })?;
    let uid = Uid::from_raw(user.uid());
    nix::unistd::setuid(uid).map_err(|errno| SecurityError::Id {
        op: "setuid",
        id: user.uid(),
        errno,
    })?;
    nix::sys::prctl::set_keepcaps(false).map_err(|e| prctl("PR_SET_KEEPCAPS", e))
}

/// HOME for the user from the container's /etc/passwd, "/" when not found (runc's rule).
pub fn home_dir(uid: u32) -> String {
    std::fs::read_to_string("/etc/passwd")
        .ok()
        .and_then(|s| {
            s.lines().find_map(|l| {
                let f: Vec<&str> = l.split(':').collect();
                (f.len() >= 6 && f[2].parse::<u32>().ok() == Some(uid)).then(|| f[5].to_string())
            })
        })
        .unwrap_or_else(|| "/".to_string())
}
