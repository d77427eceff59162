//! Creating the container's init process: the clone sequence (`spawn`, runtime side) and
//! everything init does before it execs the user program (`init`, container side).

pub mod exec;
pub mod init;
pub mod spawn;
mod tty_relay;

use crate::namespaces::Namespaces;
use oci_spec::runtime::Spec;
use std::os::fd::OwnedFd;
use std::path::PathBuf;

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
    pub preserve_fds: u32,
    /// State JSON for createContainer/startContainer hooks (they run inside init).
    pub hook_state: Vec<u8>,
}

#[derive(Debug, thiserror::Error)]
pub enum ProcessError {
    #[error("clone: {0}")]
    Clone(nix::errno::Errno),
    #[error("write {path}: {source}")]
    IdMap {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{0}")]
    Init(String),
    #[error(transparent)]
    Channel(#[from] crate::channel::ChannelError),
    #[error("waiting for intermediate process: {0}")]
    Wait(nix::errno::Errno),
}
