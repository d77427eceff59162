//! What `create` and `exec` require of the program that calls them, checked before anything
//! is made.
//!
//! init and exec'd processes are clones of the caller (fork-like, no re-exec):
//! - the caller's binary is what runs inside the container until the user program is
//!   executed, so it must be out of the container's reach ([`crate::exe`]);
//! - only the calling thread survives a clone, so anything another thread holds at that
//!   moment (glibc's malloc arenas, stdio buffers, a tokio runtime's locks) stays held forever
//!   in the child, which then deadlocks or corrupts memory. The caller must therefore be
//!   single-threaded when it calls them; a multi-threaded caller (a tokio program, a shim) runs
//!   the runtime as a child process (the `ongi` binary) instead. This is refused with an
//!   error, never left to undefined behaviour.

use std::path::PathBuf;

/// Why the calling process may not create a container or exec into one.
#[derive(Debug, thiserror::Error)]
pub enum CallerError {
    /// The running binary is not protected from the container ([`crate::exe::check`]).
    #[error(transparent)]
    Exe(#[from] crate::exe::ExeError),
    #[error(
        "the calling process has {threads} threads: creating a container or exec'ing into one \
         clones the caller, which is only safe from a single-threaded process; run the `ongi` \
         binary as a child process instead, or call this before starting threads"
    )]
    /// The caller has more than one thread.
    Threads {
        /// How many it has.
        threads: u64,
    },
    /// The thread count could not be read.
    #[error("{path}: {reason}")]
    Proc {
        /// The procfs file read.
        path: PathBuf,
        /// What was wrong with it.
        reason: String,
    },
}

/// The number of threads of this process (/proc/self/stat field 20).
pub fn threads() -> Result<u64, CallerError> {
    const STAT: &str = "/proc/self/stat";
    let bad = |reason: String| CallerError::Proc {
        path: STAT.into(),
        reason,
    };
    let text = crate::sys::read_proc(STAT).map_err(|e| bad(e.to_string()))?;
    // comm (field 2) may hold spaces and parentheses: fields are counted after the last ')'.
    let after = text
        .rfind(')')
        .map(|i| &text[i + 1..])
        .ok_or_else(|| bad("no ')' after comm".into()))?;
    // Fields 3.. follow; num_threads is field 20, the 18th of them.
    after
        .split_whitespace()
        .nth(17)
        .and_then(|f| f.parse().ok())
        .ok_or_else(|| bad("no num_threads field".into()))
}

/// Refuses a caller that a container could attack through its binary, or that has more than
/// one thread.
pub fn check() -> Result<(), CallerError> {
    crate::exe::check()?;
    match threads()? {
        1 => Ok(()),
        threads => Err(CallerError::Threads { threads }),
    }
}
