//! Container state persisted under the runtime root: `<root>/<id>/state.json` plus the
//! exec fifo, and the runtime-spec view of it (`status` is derived, never stored).

use nix::errno::Errno;
use nix::fcntl::{Flock, FlockArg};
use serde::{Deserialize, Serialize};
use std::collections::HashMap;
use std::fs::File;
use std::io::Write;
use std::os::fd::{AsRawFd, RawFd};
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicI32, AtomicU32, Ordering};

pub(crate) mod fifo;
mod status;

pub(crate) use status::{oci_state, status_of, with_status};

pub const STATE_FILE: &str = "state.json";
pub const EXEC_FIFO: &str = "exec.fifo";
/// The runtime-spec version this runtime implements (`ociVersion` of its state).
pub const OCI_VERSION: &str = "1.0.2";

/// A container's state directory could not be made, locked, read, written or removed.
#[derive(Debug, thiserror::Error)]
pub enum StateError {
    /// The id (given) has characters a container id may not have.
    #[error("invalid container id {0:?}: only letters, digits, '_', '+', '-' and '.' are allowed")]
    InvalidId(String),
    /// No container has this id.
    #[error("container does not exist: {0}")]
    NotExist(String),
    /// A container with this id exists already.
    #[error("container with id exists: {0}")]
    Exists(String),
    /// A system call on the state directory failed.
    #[error("{path}: {op}: {errno}")]
    Sys {
        /// The file or directory.
        path: PathBuf,
        /// The operation.
        op: &'static str,
        /// The error it returned.
        errno: Errno,
    },
    /// Reading or writing a state file failed.
    #[error("{path}: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// The error it returned.
        source: std::io::Error,
    },
    /// This process holds too many state locks at once.
    #[error("{path}: more than {max} state directory locks held at once", max = HELD_LOCKS.len())]
    TooManyLocks {
        /// The directory that could not be locked.
        path: PathBuf,
    },
    /// state.json does not parse.
    #[error("{path}: corrupt state: {source}")]
    Corrupt {
        /// The file.
        path: PathBuf,
        /// The parse error.
        source: serde_json::Error,
    },
}

/// A container's status (runtime-spec, plus runc's `paused`), derived from its processes,
/// freezer and exec fifo whenever it is asked for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Status {
    /// `create` is still setting it up (or was killed doing so).
    Creating,
    /// init waits for `start`.
    Created,
    /// The user process runs.
    Running,
    /// Its cgroup is frozen.
    Paused,
    /// init has exited.
    Stopped,
}

impl std::fmt::Display for Status {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Status::Creating => "creating",
            Status::Created => "created",
            Status::Running => "running",
            Status::Paused => "paused",
            Status::Stopped => "stopped",
        })
    }
}

/// What the runtime remembers about a container between invocations.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Persisted {
    pub id: String,
    /// Host pid of init; 0 while creating.
    pub pid: i32,
    /// Start time of init in clock ticks since boot (/proc/<pid>/stat field 22), so a
    /// recycled pid is never mistaken for the container.
    pub pid_start: u64,
    pub bundle: PathBuf,
    pub rootfs: PathBuf,
    pub created: String,
    #[serde(default)]
    pub annotations: HashMap<String, String>,
    /// Absolute cgroup directories this container owns (one per hierarchy).
    #[serde(default)]
    pub cgroup_dirs: Vec<PathBuf>,
    /// The cgroup already held processes when the container joined it (a pod's shared
    /// cgroup): delete neither kills its other processes nor removes it.
    #[serde(default)]
    pub cgroup_shared: bool,
    /// The spec's hooks, kept for poststop at delete time when the bundle may be gone.
    #[serde(default)]
    pub hooks: Option<oci_spec::runtime::Hooks>,
    /// linux.seccomp as it was at create: `exec` applies the container's profile even if
    /// the bundle's config.json changed or is gone since (runc keeps its config in state).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub seccomp: Option<oci_spec::runtime::LinuxSeccomp>,
    /// linux.personality at create, as the personality(2) value; for `exec`, like seccomp.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub personality: Option<libc::c_ulong>,
}

/// The runtime-spec state, as printed by `state` (runc's field set and order).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct OciState {
    /// [`OCI_VERSION`].
    #[serde(rename = "ociVersion")]
    pub oci_version: String,
    /// The container's id.
    pub id: String,
    /// init's host pid (0 while creating or once stopped).
    pub pid: i32,
    /// The status at the time of the call.
    pub status: Status,
    /// Absolute path of the bundle.
    pub bundle: PathBuf,
    /// Absolute path of the root filesystem.
    pub rootfs: PathBuf,
    /// When it was created (RFC 3339, UTC).
    pub created: String,
    /// The owner (always empty, as in runc).
    pub owner: String,
    /// config.json's annotations.
    #[serde(skip_serializing_if = "HashMap::is_empty", default)]
    pub annotations: HashMap<String, String>,
}

pub fn validate_id(id: &str) -> Result<(), StateError> {
    let ok = !id.is_empty()
        && id != "."
        && id != ".."
        && id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'+' | b'-' | b'.'));
    if ok {
        Ok(())
    } else {
        Err(StateError::InvalidId(id.to_string()))
    }
}

/// One container's directory, held under an exclusive flock for as long as this value lives:
/// that serialises concurrent commands on the same id.
///
/// The directory at `<root>/<id>` only ever appears whole: `create` makes and locks
/// `<root>/@new-…`, writes the state and the fifo there and renames it into place
/// (RENAME_NOREPLACE, so of racing creates exactly one gets the id); `remove` renames it to
/// `<root>/@gone-…` before removing it. So every command that finds the id finds a state,
/// and a command that waited for the lock checks that the directory it locked is still the
/// one at the id's path ('@' is not valid in an id: `list` never sees these names).
pub struct StateDir {
    pub dir: PathBuf,
    /// Where `publish` moves a directory made by `create`.
    id_path: Option<PathBuf>,
    /// None for the lock-free view `list` reads through.
    lock: Option<HeldLock>,
}

/// An exclusive flock on a state directory, listed in `HELD_LOCKS` while it lives.
struct HeldLock(Flock<File>);

impl Drop for HeldLock {
    fn drop(&mut self) {
        unregister_lock(self.0.as_raw_fd());
    }
}

/// Fds of the state directory locks this process holds. A flock belongs to the open file
/// description, which lives as long as any fd on it: init and the exec intermediates are
/// clones (no execve, so no O_CLOEXEC) and would keep the lock for as long as they live, well
/// past the command that took it (a killed `create` would wedge the id). `raw_clone`'s child
/// closes these at once with [`close_inherited_locks`].
static HELD_LOCKS: [AtomicI32; 8] = [const { AtomicI32::new(-1) }; 8];

fn register_lock(fd: RawFd, path: &Path) -> Result<(), StateError> {
    for slot in &HELD_LOCKS {
        if slot
            .compare_exchange(-1, fd, Ordering::AcqRel, Ordering::Acquire)
            .is_ok()
        {
            return Ok(());
        }
    }
    Err(StateError::TooManyLocks {
        path: path.to_path_buf(),
    })
}

fn unregister_lock(fd: RawFd) {
    for slot in &HELD_LOCKS {
        if slot
            .compare_exchange(fd, -1, Ordering::AcqRel, Ordering::Acquire)
            .is_ok()
        {
            return;
        }
    }
}

/// In a child made by clone(2) or fork(2): closes its copies of the parent's state locks.
/// Only close, never unlock: LOCK_UN would release the parent's lock too.
pub(crate) fn close_inherited_locks() {
    for slot in &HELD_LOCKS {
        let fd = slot.swap(-1, Ordering::AcqRel);
        if fd >= 0 {
            // SAFETY: the fd is this child's copy of a lock fd of the parent, which the child
            // never uses or drops (it execs or exits); closing it only drops the reference.
            unsafe { libc::close(fd) };
        }
    }
}

fn sys<'a>(path: &'a Path, op: &'static str) -> impl FnOnce(Errno) -> StateError + 'a {
    move |errno| StateError::Sys {
        path: path.to_path_buf(),
        op,
        errno,
    }
}

fn lock_dir(dir: &Path, arg: FlockArg) -> Result<HeldLock, StateError> {
    let f = File::open(dir).map_err(|source| {
        if source.kind() == std::io::ErrorKind::NotFound {
            StateError::NotExist(
                dir.file_name()
                    .map(|n| n.to_string_lossy().into_owned())
                    .unwrap_or_default(),
            )
        } else {
            StateError::Io {
                path: dir.to_path_buf(),
                source,
            }
        }
    })?;
    let lock = Flock::lock(f, arg).map_err(|(_, errno)| StateError::Sys {
        path: dir.to_path_buf(),
        op: "flock",
        errno,
    })?;
    register_lock(lock.as_raw_fd(), dir)?;
    Ok(HeldLock(lock))
}

/// Whether `path` still names the directory `lock` was taken on (a command that waited
/// may find it removed, or replaced by a newer container of the same id).
fn still_at(lock: &HeldLock, path: &Path) -> Result<bool, StateError> {
    let held = lock.0.metadata().map_err(|source| StateError::Io {
        path: path.to_path_buf(),
        source,
    })?;
    match std::fs::symlink_metadata(path) {
        Ok(now) => Ok(now.dev() == held.dev() && now.ino() == held.ino()),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(false),
        Err(source) => Err(StateError::Io {
            path: path.to_path_buf(),
            source,
        }),
    }
}

/// A fresh name under `root` for a directory being made or removed.
fn scratch_name(root: &Path, what: &str) -> PathBuf {
    static SEQ: AtomicU32 = AtomicU32::new(0);
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.subsec_nanos())
        .unwrap_or(0);
    root.join(format!(
        "@{what}-{}-{}-{nanos}",
        std::process::id(),
        SEQ.fetch_add(1, Ordering::Relaxed)
    ))
}

const NEW_PREFIX: &str = "@new-";
const GONE_PREFIX: &str = "@gone-";

/// Removes what killed commands left under `root`: a `@new-` directory of a create killed
/// before it published, a `@gone-` one of a delete killed while removing. Their lock is free
/// once their command is gone; a busy one belongs to a live command and is skipped.
pub fn sweep_leftovers(root: &Path) {
    let Ok(rd) = std::fs::read_dir(root) else {
        return;
    };
    for e in rd.flatten() {
        let name = e.file_name();
        let name = name.to_string_lossy();
        if !(name.starts_with(NEW_PREFIX) || name.starts_with(GONE_PREFIX)) {
            continue;
        }
        let path = e.path();
        let Ok(lock) = lock_dir(&path, FlockArg::LockExclusiveNonblock) else {
            continue;
        };
        if still_at(&lock, &path).unwrap_or(false) {
            let _ = std::fs::remove_dir_all(&path);
        }
    }
}

impl StateDir {
    /// A new, locked, still private directory for container `id`: fill it, then
    /// [`StateDir::publish`] it. An existing `<root>/<id>` means the id is taken.
    pub fn create(root: &Path, id: &str) -> Result<Self, StateError> {
        validate_id(id)?;
        let id_path = root.join(id);
        // Most clashes are caught here, before anything is made.
        if id_path.exists() {
            return Err(StateError::Exists(id.to_string()));
        }
        std::fs::create_dir_all(root).map_err(|source| StateError::Io {
            path: root.to_path_buf(),
            source,
        })?;
        loop {
            let dir = scratch_name(root, "new");
            match nix::unistd::mkdir(&dir, nix::sys::stat::Mode::from_bits_truncate(0o711)) {
                Ok(()) => {}
                Err(Errno::EEXIST) => continue,
                Err(e) => return Err(sys(&dir, "mkdir")(e)),
            }
            let lock = match lock_dir(&dir, FlockArg::LockExclusive) {
                Ok(l) => l,
                // A sweep took it for a killed create's between mkdir and flock.
                Err(StateError::NotExist(_)) => continue,
                Err(e) => return Err(e),
            };
            if still_at(&lock, &dir)? {
                return Ok(StateDir {
                    dir,
                    id_path: Some(id_path),
                    lock: Some(lock),
                });
            }
        }
    }

    /// Moves a directory made by [`StateDir::create`] to `<root>/<id>`, where other
    /// commands find it, whole. Exactly one of racing creates of an id succeeds.
    pub fn publish(&mut self) -> Result<(), StateError> {
        let Some(to) = self.id_path.take() else {
            return Ok(());
        };
        match nix::fcntl::renameat2(
            nix::fcntl::AT_FDCWD,
            &self.dir,
            nix::fcntl::AT_FDCWD,
            &to,
            nix::fcntl::RenameFlags::RENAME_NOREPLACE,
        ) {
            Ok(()) => {
                self.dir = to;
                Ok(())
            }
            Err(e) => {
                let id = to
                    .file_name()
                    .map(|n| n.to_string_lossy().into_owned())
                    .unwrap_or_default();
                self.id_path = Some(to);
                match e {
                    Errno::EEXIST | Errno::ENOTEMPTY => Err(StateError::Exists(id)),
                    e => Err(sys(&self.dir, "rename")(e)),
                }
            }
        }
    }

    /// Opens and locks an existing container's directory.
    pub fn open(root: &Path, id: &str) -> Result<Self, StateError> {
        validate_id(id)?;
        let dir = root.join(id);
        loop {
            let lock = lock_dir(&dir, FlockArg::LockExclusive)?;
            // The holder we waited for may have deleted it, and a new create of the id
            // may have published another directory since: that one is the container now.
            if still_at(&lock, &dir)? {
                return Ok(StateDir {
                    dir,
                    id_path: None,
                    lock: Some(lock),
                });
            }
            if !dir.exists() {
                return Err(StateError::NotExist(id.to_string()));
            }
        }
    }

    /// The directory of container `id` without its lock, for reading its state where
    /// waiting for another command is not an option (`list`). State files are replaced
    /// atomically, so what is read is whole, if possibly about to change.
    pub fn unlocked(root: &Path, id: &str) -> Result<Self, StateError> {
        validate_id(id)?;
        Ok(StateDir {
            dir: root.join(id),
            id_path: None,
            lock: None,
        })
    }

    pub fn fifo(&self) -> PathBuf {
        self.dir.join(EXEC_FIFO)
    }

    pub fn make_fifo(&self) -> Result<(), StateError> {
        let p = self.fifo();
        let mode = nix::sys::stat::Mode::from_bits_truncate(0o622);
        nix::unistd::mkfifo(&p, mode).map_err(sys(&p, "mkfifo"))?;
        // The umask cut the mode; init may run as a non-root (or remapped) user and must
        // still be able to open it for writing.
        nix::sys::stat::fchmodat(
            nix::fcntl::AT_FDCWD,
            &p,
            mode,
            nix::sys::stat::FchmodatFlags::FollowSymlink,
        )
        .map_err(sys(&p, "chmod"))
    }

    /// Atomic replace, so a reader never sees half a file even if we are killed mid-write.
    pub fn save(&self, st: &Persisted) -> Result<(), StateError> {
        let tmp = self.dir.join(".state.json.tmp");
        let path = self.dir.join(STATE_FILE);
        let data = serde_json::to_vec(st).map_err(|source| StateError::Corrupt {
            path: path.clone(),
            source,
        })?;
        let io = |source| StateError::Io {
            path: tmp.clone(),
            source,
        };
        let mut f = File::create(&tmp).map_err(io)?;
        f.write_all(&data).map_err(io)?;
        // rename(2) over an existing file makes ext4 (auto_da_alloc) flush the new data
        // first: 1.4 ms per save where /run is on disk. An exchange is as atomic for
        // readers and skips that; the first save has nothing to exchange with.
        match nix::fcntl::renameat2(
            nix::fcntl::AT_FDCWD,
            &tmp,
            nix::fcntl::AT_FDCWD,
            &path,
            nix::fcntl::RenameFlags::RENAME_EXCHANGE,
        ) {
            Ok(()) => {
                // The old state now sits at the temporary name.
                let _ = std::fs::remove_file(&tmp);
                Ok(())
            }
            Err(_) => std::fs::rename(&tmp, &path).map_err(|source| StateError::Io {
                path: path.clone(),
                source,
            }),
        }
    }

    /// None when create was interrupted before it wrote any state.
    pub fn load(&self) -> Result<Option<Persisted>, StateError> {
        let path = self.dir.join(STATE_FILE);
        match std::fs::read(&path) {
            Ok(b) => serde_json::from_slice(&b)
                .map(Some)
                .map_err(|source| StateError::Corrupt { path, source }),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
            Err(source) => Err(StateError::Io { path, source }),
        }
    }

    /// Removes the directory; the lock fd stays valid until this value drops. A published
    /// directory first leaves the id's path in one step: a command killed half-way through
    /// leaves a `@gone-` directory for [`sweep_leftovers`], never a half-removed container.
    pub fn remove(&self) -> Result<(), StateError> {
        let dir = if self.id_path.is_none() && self.lock.is_some() {
            let root = self.dir.parent().unwrap_or(Path::new("/"));
            let gone = scratch_name(root, "gone");
            match std::fs::rename(&self.dir, &gone) {
                Ok(()) => gone,
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(()),
                Err(source) => {
                    return Err(StateError::Io {
                        path: self.dir.clone(),
                        source,
                    })
                }
            }
        } else {
            self.dir.clone()
        };
        match std::fs::remove_dir_all(&dir) {
            Ok(()) => Ok(()),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
            Err(source) => Err(StateError::Io { path: dir, source }),
        }
    }
}

/// Ids of every container directory under `root` (a missing root means none).
pub fn list_ids(root: &Path) -> Result<Vec<String>, StateError> {
    let rd = match std::fs::read_dir(root) {
        Ok(rd) => rd,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(source) => {
            return Err(StateError::Io {
                path: root.to_path_buf(),
                source,
            })
        }
    };
    let mut ids: Vec<String> = rd
        .filter_map(|e| e.ok())
        .filter(|e| e.file_type().is_ok_and(|t| t.is_dir()))
        .filter_map(|e| e.file_name().into_string().ok())
        .filter(|n| validate_id(n).is_ok())
        .collect();
    ids.sort();
    Ok(ids)
}

/// Test hook, compiled in always: with `ONGI_TEST_PAUSE_AT=<step>` in its environment a
/// command stops itself (SIGSTOP) on reaching the named step, so a test can SIGKILL it at
/// exactly that point. Unset, it costs one environment lookup.
pub(crate) fn pause_point(step: &str) {
    if std::env::var_os("ONGI_TEST_PAUSE_AT").is_some_and(|v| v == step) {
        let _ = nix::sys::signal::raise(nix::sys::signal::Signal::SIGSTOP);
    }
}

/// Liveness of a pid as the container's init: alive, not a zombie, and the same process
/// (start time) that we recorded.
pub fn process_alive(pid: i32, start: u64) -> bool {
    if pid <= 0 {
        return false;
    }
    match proc_stat(pid) {
        Some((state, st)) => !matches!(state, 'Z' | 'X' | 'x') && (start == 0 || st == start),
        None => false,
    }
}

/// (state char, start time) from /proc/<pid>/stat.
pub fn proc_stat(pid: i32) -> Option<(char, u64)> {
    let s = crate::sys::read_proc(format!("/proc/{pid}/stat")).ok()?;
    // comm may contain spaces and parens: fields resume after the last ')'.
    let rest = &s[s.rfind(')')? + 2..];
    let mut f = rest.split(' ');
    let state = f.next()?.chars().next()?;
    // starttime is field 22 overall, the 20th after the state field.
    let start = f.nth(18)?.parse().ok()?;
    Some((state, start))
}

/// RFC 3339 UTC timestamp with nanoseconds, as runc writes `created`.
pub fn rfc3339_now() -> String {
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap_or_default();
    rfc3339(now.as_secs() as i64, now.subsec_nanos())
}

pub fn rfc3339(secs: i64, nanos: u32) -> String {
    let days = secs.div_euclid(86_400);
    let sod = secs.rem_euclid(86_400);
    // Howard Hinnant's civil_from_days.
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(m <= 2);
    format!(
        "{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}.{nanos:09}Z",
        sod / 3600,
        sod % 3600 / 60,
        sod % 60
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids() {
        assert!(validate_id("abc-1_2.3+x").is_ok());
        for bad in ["", ".", "..", "a/b", "a b", "ä"] {
            assert!(validate_id(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn time_format() {
        assert_eq!(rfc3339(0, 0), "1970-01-01T00:00:00.000000000Z");
        assert_eq!(rfc3339(1_795_000_000, 5), "2026-11-18T11:06:40.000000005Z");
        assert_eq!(rfc3339(951_782_400, 0), "2000-02-29T00:00:00.000000000Z");
    }

    #[test]
    fn own_process_is_alive_and_start_time_matters() {
        let me = std::process::id() as i32;
        let (_, start) = proc_stat(me).expect("own stat");
        assert!(process_alive(me, start));
        assert!(!process_alive(me, start + 1));
        assert!(!process_alive(0, 0));
    }
}
