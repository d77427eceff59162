//! The lifecycle API: create, start, state, kill, delete, list, run, pause, resume, update,
//! stats, exec, ps. The CLI is a thin layer over these functions; a Rust program can call
//! them directly. One file per operation: each owns the ordering of its steps and its
//! cleanup on failure; the mechanics are below (state, cgroups, process, hooks).

mod create;
mod delete;
mod exec;
mod kill;
mod pause;
mod query;
mod run;
mod start;
mod update;

pub use create::CreateOptions;
pub(crate) use create::{check_config, check_init_config};
pub use query::list;
pub use run::RunOutcome;

use crate::state::{status_of, Persisted, StateDir, Status};
use crate::Error;
use std::path::{Path, PathBuf};

/// A handle on a container in a runtime root.
#[derive(Debug, Clone)]
pub struct Container {
    /// The runtime root holding the container's state directory.
    pub root: PathBuf,
    /// The container's id.
    pub id: String,
}

const DEFAULT_ROOT: &str = "/run/ongi";

/// The runtime root the `ongi` command line uses by default (`/run/ongi`).
pub fn default_root() -> PathBuf {
    PathBuf::from(DEFAULT_ROOT)
}

impl Container {
    /// A handle on the container `id` under `root`; nothing is read or made yet.
    pub fn new(root: impl Into<PathBuf>, id: impl Into<String>) -> Self {
        Container {
            root: root.into(),
            id: id.into(),
        }
    }

    /// Loads the persisted state and the derived status.
    fn load(&self) -> Result<(StateDir, Persisted, Status), Error> {
        let sd = StateDir::open(&self.root, &self.id)?;
        let st = sd
            .load()?
            .ok_or_else(|| Error::NotCreated(self.id.clone()))?;
        let status = status_of(&sd, &st);
        Ok((sd, st, status))
    }
}

/// Atomic, like runc: a reader never sees an empty pid file.
pub(crate) fn write_pid_file(path: &Path, pid: i32) -> Result<(), Error> {
    let tmp = path.with_file_name(format!(
        ".{}.tmp",
        path.file_name()
            .map(|n| n.to_string_lossy())
            .unwrap_or_default()
    ));
    let io = |source| Error::PidFile {
        path: path.to_path_buf(),
        source,
    };
    std::fs::write(&tmp, pid.to_string()).map_err(io)?;
    std::fs::rename(&tmp, path).map_err(io)
}
