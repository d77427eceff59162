//! What `exec` checks about the process before it makes anything (shared with
//! [`crate::spec::check_process`]), and process.json loading.

use super::{ExecError, ExecOptions};
use crate::process::attrs::Attrs;
use crate::Error;
use oci_spec::runtime::Process;
use std::path::Path;

/// What `exec` checks about the process before it makes anything: built from `opts` (over
/// `base`, the configured process, without `opts.process`) and validated as runc does, its
/// attributes converted with the container's `personality`. Shared with
/// [`crate::spec::check_process`], so the two cannot drift apart.
pub(crate) fn check_process(
    opts: &ExecOptions,
    base: Option<&Process>,
    personality: Option<libc::c_ulong>,
) -> Result<(Process, Attrs), Error> {
    let process = opts.build_process(base)?;
    let attrs = Attrs::for_exec(personality, &process)?;
    Ok((process, attrs))
}

/// Reads a process.json (runc's `--process`).
pub fn load_process(path: &Path) -> Result<Process, ExecError> {
    let err = |reason: String| ExecError::ProcessFile {
        path: path.to_path_buf(),
        reason,
    };
    let text = std::fs::read(path).map_err(|e| err(e.to_string()))?;
    crate::spec::process_from_slice(&text).map_err(|e| err(e.to_string()))
}
