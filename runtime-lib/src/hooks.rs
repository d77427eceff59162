//! Running OCI hooks: the state JSON on stdin, the hook's own argv and env, a timeout.

use crate::state::OciState;
use oci_spec::runtime::Hook;
use std::io::Write;
use std::os::unix::process::CommandExt;
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// An OCI hook could not be run or failed.
#[derive(Debug, thiserror::Error)]
pub enum HookError {
    /// The hook could not be started.
    #[error("{phase} hook {path}: start: {source}")]
    Start {
        /// The hook's phase (`prestart`, `poststop`, ...).
        phase: &'static str,
        /// The hook's program.
        path: PathBuf,
        /// The error starting it returned.
        source: std::io::Error,
    },
    /// The hook exited unsuccessfully.
    #[error("{phase} hook {path}: exited with {status}; stderr: {stderr}")]
    Failed {
        /// The hook's phase.
        phase: &'static str,
        /// The hook's program.
        path: PathBuf,
        /// Its exit status or signal.
        status: String,
        /// What it wrote to stderr.
        stderr: String,
    },
    /// The hook ran longer than its timeout and was killed.
    #[error("{phase} hook {path}: timed out after {secs} s")]
    Timeout {
        /// The hook's phase.
        phase: &'static str,
        /// The hook's program.
        path: PathBuf,
        /// Its timeout in seconds.
        secs: i64,
    },
}

pub fn run_all(phase: &'static str, hooks: &[Hook], state: &OciState) -> Result<(), HookError> {
    if hooks.is_empty() {
        return Ok(());
    }
    let json = state_json(state);
    for h in hooks {
        run(phase, h, &json)?;
    }
    Ok(())
}

/// The state a hook reads on stdin. `pid` is only REQUIRED while the container is created
/// or running; once the process is gone (poststop) there is no pid to give, and "pid": 0
/// would name no process, so the field is left out then.
fn state_json(state: &OciState) -> Vec<u8> {
    let Ok(mut v) = serde_json::to_value(state) else {
        return Vec::new();
    };
    if state.pid <= 0 {
        if let Some(o) = v.as_object_mut() {
            o.remove("pid");
        }
    }
    serde_json::to_vec(&v).unwrap_or_default()
}

fn run(phase: &'static str, h: &Hook, state: &[u8]) -> Result<(), HookError> {
    let path = h.path().clone();
    let mut cmd = Command::new(&path);
    if let Some(args) = h.args() {
        if let Some((argv0, rest)) = args.split_first() {
            cmd.arg0(argv0).args(rest);
        }
    }
    cmd.env_clear();
    for kv in h.env().iter().flatten() {
        if let Some((k, v)) = kv.split_once('=') {
            cmd.env(k, v);
        }
    }
    // stderr goes to an anonymous file, not a pipe: a hook writing more than a pipe holds
    // would block while we only poll for its exit, and then time out or hang.
    let errfile =
        nix::sys::memfd::memfd_create(c"ongi-hook-stderr", nix::sys::memfd::MFdFlags::MFD_CLOEXEC)
            .ok()
            .map(std::fs::File::from);
    let stderr = match errfile.as_ref().and_then(|f| f.try_clone().ok()) {
        Some(f) => Stdio::from(f),
        None => Stdio::null(),
    };
    cmd.stdin(Stdio::piped())
        .stdout(Stdio::null())
        .stderr(stderr);
    let mut child = cmd.spawn().map_err(|source| HookError::Start {
        phase,
        path: path.clone(),
        source,
    })?;
    if let Some(mut stdin) = child.stdin.take() {
        // A hook that ignores its stdin may close it early; that is not an error.
        let _ = stdin.write_all(state);
    }
    let deadline = h
        .timeout()
        .filter(|t| *t > 0)
        .map(|t| (t, Instant::now() + Duration::from_secs(t as u64)));
    let status = loop {
        match child.try_wait() {
            Ok(Some(st)) => break st,
            Ok(None) => {}
            Err(source) => {
                return Err(HookError::Start {
                    phase,
                    path,
                    source,
                })
            }
        }
        if let Some((secs, d)) = deadline {
            if Instant::now() >= d {
                let _ = child.kill();
                let _ = child.wait();
                return Err(HookError::Timeout { phase, path, secs });
            }
        }
        std::thread::sleep(Duration::from_millis(1));
    };
    if status.success() {
        return Ok(());
    }
    let mut stderr = String::new();
    if let Some(mut f) = errfile {
        use std::io::{Read, Seek};
        if f.rewind().is_ok() {
            let mut buf = Vec::new();
            let _ = f.take(4096).read_to_end(&mut buf);
            stderr = String::from_utf8_lossy(&buf).into_owned();
        }
    }
    Err(HookError::Failed {
        phase,
        path,
        status: status.to_string(),
        stderr: stderr.trim().to_string(),
    })
}

/// Same as `run_all` with the state already serialised (init has no `OciState` to hand).
pub fn run_all_raw(phase: &'static str, hooks: &[Hook], state: &[u8]) -> Result<(), HookError> {
    for h in hooks {
        run(phase, h, state)?;
    }
    Ok(())
}

/// The pid `/proc/self` names in the host's procfs, i.e. our host pid even inside a new pid
/// namespace. Only meaningful in init before pivot_root; 0 if it cannot be read.
pub fn host_pid_from_proc() -> i32 {
    std::fs::read_link("/proc/self")
        .ok()
        .and_then(|p| p.to_str()?.parse().ok())
        .unwrap_or(0)
}

/// The state JSON for the in-container hooks with `pid` and `status` filled in: init
/// serialises it before it knows its host pid, and startContainer runs when the container
/// is `created`, not `creating`.
pub fn with_pid_status(state: &[u8], pid: i32, status: &str) -> Vec<u8> {
    let Ok(mut v) = serde_json::from_slice::<serde_json::Value>(state) else {
        return state.to_vec();
    };
    if pid > 0 {
        v["pid"] = pid.into();
    } else if let Some(o) = v.as_object_mut() {
        // Unknown host pid: no "pid" at all rather than one naming no process.
        o.remove("pid");
    }
    v["status"] = status.into();
    serde_json::to_vec(&v).unwrap_or_else(|_| state.to_vec())
}

/// poststop semantics (runtime-spec lifecycle step 13): a failing hook is only a warning and
/// the remaining hooks still run. Returns the failures for the caller to report.
pub fn run_all_continue(phase: &'static str, hooks: &[Hook], state: &OciState) -> Vec<HookError> {
    let json = state_json(state);
    hooks
        .iter()
        .filter_map(|h| run(phase, h, &json).err())
        .collect()
}
