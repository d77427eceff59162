//! Process privileges: capabilities, rlimits, user/groups, no_new_privs, oom_score_adj.

pub mod caps;
pub mod keyring;
pub mod rlimits;
pub mod user;

use nix::errno::Errno;

#[derive(Debug, thiserror::Error)]
pub enum SecurityError {
    #[error("capability {name}: unknown")]
    UnknownCap { name: String },
    #[error("capabilities: {op} {set}: {reason}")]
    Caps {
        op: &'static str,
        set: &'static str,
        reason: String,
    },
    #[error("{op}({id}): {errno}")]
    Id {
        op: &'static str,
        id: u32,
        errno: Errno,
    },
    #[error("prctl {op}: {errno}")]
    Prctl { op: &'static str, errno: Errno },
    #[error(transparent)]
    Keyring(#[from] keyring::KeyringError),
    #[error("/proc/self/oom_score_adj: write {value}: {source}")]
    OomScoreAdj { value: i32, source: std::io::Error },
}

pub fn set_no_new_privs() -> Result<(), SecurityError> {
    nix::sys::prctl::set_no_new_privs().map_err(|errno| SecurityError::Prctl {
        op: "PR_SET_NO_NEW_PRIVS",
        errno,
    })
}

pub fn set_oom_score_adj(value: i32) -> Result<(), SecurityError> {
    std::fs::write("/proc/self/oom_score_adj", value.to_string())
        .map_err(|source| SecurityError::OomScoreAdj { value, source })
}
