//! The container's cgroup: one directory per mounted hierarchy (cgroup v1 controllers,
//! the v2 unified tree, or both on hybrid hosts), created before init runs, limited by
//! `linux.resources`, frozen/thawed, read for stats and removed on delete.
//!
//! The layout is read from /proc/self/mountinfo at run time (never assumed), so the same
//! binary works on v1, hybrid and pure v2 hosts:
//!
//! - [`v1`]: one directory per v1 hierarchy; on hybrid hosts also the v2 `unified` directory,
//!   which only receives `linux.resources.unified` keys (as runc does).
//! - [`v2`]: the single unified directory; controllers enabled in every ancestor's
//!   `cgroup.subtree_control`.
//! - [`devices`]: the device rules (runc's default allow list appended), as v1
//!   `devices.allow`/`devices.deny` writes or a v2 eBPF program.
//! - [`convert`]: runc's v1 -> v2 value conversions.
//! - [`stats`]: the `events --stats` data, shaped like runc's.
//!
//! Persisted state keeps only the list of directories; [`manager`] rebuilds the right
//! implementation from it, so a container created by one `ongi` invocation is managed by
//! the next.

pub mod convert;
pub mod devices;
pub mod stats;
pub mod v1;
pub mod v2;

use nix::errno::Errno;
use oci_spec::runtime::LinuxResources;
use std::path::{Path, PathBuf};

pub use stats::Stats;

/// A cgroup could not be made, configured, frozen, read or removed.
#[derive(Debug, thiserror::Error)]
pub enum CgroupError {
    /// Reading or writing a cgroup file or directory failed.
    #[error("cgroup {path}: {op}: {source}")]
    Io {
        /// The file or directory.
        path: PathBuf,
        /// The operation.
        op: &'static str,
        /// The error it returned.
        source: std::io::Error,
    },
    /// The kernel refused a value (EINVAL, EBUSY, ...).
    #[error("{field}: write {value:?} to {path}: {errno}")]
    Write {
        /// The linux.resources field the value came from.
        field: String,
        /// The controller file.
        path: PathBuf,
        /// The value written.
        value: String,
        /// The error the write returned.
        errno: Errno,
    },
    /// The file for a field does not exist: its controller (or the kernel feature) is absent.
    #[error("{field}: {path} does not exist ({what})")]
    MissingFile {
        /// The linux.resources field.
        field: String,
        /// The missing controller file.
        path: PathBuf,
        /// What the file is for.
        what: String,
    },
    /// A field is set but the hierarchy of its controller is not mounted.
    #[error("{field}: the {controller} cgroup controller is not mounted on this host")]
    NoController {
        /// The linux.resources field.
        field: String,
        /// The controller it needs.
        controller: &'static str,
    },
    /// A field this cgroup version cannot express.
    #[error("{field}: {reason}")]
    Unsupported {
        /// The linux.resources field.
        field: String,
        /// Why it cannot be expressed.
        reason: String,
    },
    /// A field's value is out of range or malformed.
    #[error("{field}: invalid value: {reason}")]
    Invalid {
        /// The linux.resources field.
        field: String,
        /// What is wrong with the value.
        reason: String,
    },
    /// A cgroup directory could not be removed.
    #[error("cgroup {path}: rmdir: {errno}")]
    Rmdir {
        /// The directory.
        path: PathBuf,
        /// The error rmdir returned.
        errno: Errno,
    },
    /// A system call on a cgroup failed.
    #[error("cgroup {path}: {op}: {errno}")]
    Sys {
        /// The cgroup file or directory.
        path: PathBuf,
        /// The operation.
        op: &'static str,
        /// The error it returned.
        errno: Errno,
    },
    /// The freezer did not reach the frozen state.
    #[error("cgroup {path}: unable to freeze (state stuck at {state:?})")]
    Freeze {
        /// The cgroup directory.
        path: PathBuf,
        /// The state it stayed in.
        state: String,
    },
    /// The host has no cgroup hierarchy mounted.
    #[error("no cgroup hierarchy is mounted")]
    NoHierarchy,
}

pub type Result<T> = std::result::Result<T, CgroupError>;

#[derive(Debug, Clone)]
pub struct Hierarchy {
    pub mountpoint: PathBuf,
    /// "cgroup" (v1) or "cgroup2".
    pub fstype: String,
    /// Mount data naming the v1 controllers (`cpu`, `name=systemd`); empty for cgroup2.
    pub controllers: String,
}

impl Hierarchy {
    pub fn is_v2(&self) -> bool {
        self.fstype == "cgroup2"
    }

    /// Whether this v1 hierarchy carries `ctrl` (`cpu` in `cpu,cpuacct`).
    pub fn has(&self, ctrl: &str) -> bool {
        !self.is_v2() && self.controllers.split(',').any(|c| c == ctrl)
    }
}

/// The mounted cgroup hierarchies, read from mountinfo once per process: one `create`
/// needs them half a dozen times, and cgroup filesystems are mounted at boot. (A
/// long-lived library caller that remounts cgroupfs would need a fresh process.)
pub fn hierarchies() -> Vec<Hierarchy> {
    static CACHE: std::sync::OnceLock<Vec<Hierarchy>> = std::sync::OnceLock::new();
    CACHE
        .get_or_init(|| {
            let info = crate::sys::read_proc("/proc/self/mountinfo").unwrap_or_default();
            parse_hierarchies(&info)
        })
        .clone()
}

/// The hierarchy a container directory lives in: the longest mountpoint prefixing it.
fn hierarchy_of<'a>(hs: &'a [Hierarchy], d: &Path) -> Option<&'a Hierarchy> {
    hs.iter()
        .filter(|h| d.starts_with(&h.mountpoint))
        .max_by_key(|h| h.mountpoint.as_os_str().len())
}

fn parse_hierarchies(info: &str) -> Vec<Hierarchy> {
    let mut out: Vec<Hierarchy> = Vec::new();
    for line in info.lines() {
        let Some((pre, post)) = line.split_once(" - ") else {
            continue;
        };
        let pre: Vec<&str> = pre.split(' ').collect();
        let post: Vec<&str> = post.split(' ').collect();
        let (Some(mp), Some(fstype)) = (pre.get(4), post.first()) else {
            continue;
        };
        if *fstype != "cgroup" && *fstype != "cgroup2" {
            continue;
        }
        let controllers = post
            .get(2)
            .map(|o| {
                o.split(',')
                    .filter(|x| {
                        !matches!(*x, "rw" | "ro" | "nsdelegate" | "memory_recursiveprot")
                            && !x.starts_with("release_agent")
                            && !x.starts_with("clone_children")
                    })
                    .collect::<Vec<_>>()
                    .join(",")
            })
            .unwrap_or_default();
        let h = Hierarchy {
            mountpoint: PathBuf::from(crate::rootfs::unescape(mp)),
            fstype: fstype.to_string(),
            controllers,
        };
        // A hierarchy mounted twice is still one hierarchy.
        if !out
            .iter()
            .any(|o| o.fstype == h.fstype && o.controllers == h.controllers)
        {
            out.push(h);
        }
    }
    out
}

/// How the host's cgroups are laid out.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// Only v1 hierarchies.
    Legacy,
    /// v1 controllers plus a v2 tree (usually /sys/fs/cgroup/unified) without them.
    Hybrid,
    /// One v2 tree holding every controller.
    Unified,
}

pub fn mode_of(hs: &[Hierarchy]) -> Mode {
    // A v1 hierarchy with no real controller (only `name=systemd`, kept by some v2 hosts
    // for old tools) does not make the host hybrid: the controllers are all in v2.
    let v1 = hs
        .iter()
        .any(|h| !h.is_v2() && h.controllers.split(',').any(|c| !c.starts_with("name=")));
    let v2 = hs.iter().any(|h| h.is_v2());
    match (v1, v2) {
        (false, true) => Mode::Unified,
        (true, true) => Mode::Hybrid,
        _ => Mode::Legacy,
    }
}

fn own_path_in(proc_cgroup: &str, h: &Hierarchy) -> PathBuf {
    for line in proc_cgroup.lines() {
        let mut f = line.splitn(3, ':');
        let (_, ctrls, path) = (f.next(), f.next().unwrap_or(""), f.next().unwrap_or("/"));
        let matches = if h.is_v2() {
            ctrls.is_empty()
        } else {
            let want: Vec<&str> = h.controllers.split(',').collect();
            !ctrls.is_empty() && ctrls.split(',').all(|c| want.contains(&c))
        };
        if matches {
            return PathBuf::from(path);
        }
    }
    PathBuf::from("/")
}

/// The parent every default cgroup path shares. Created with the first container and kept
/// (as docker keeps /docker): removing and re-creating it (and copying cpuset.cpus/mems
/// into it) with every container cost ~0.4 ms of each create+delete.
pub const DEFAULT_PARENT: &str = "ongi";

/// The container's directory in every mounted hierarchy, as runc computes it:
/// an absolute `linux.cgroupsPath` is taken under each hierarchy's root; a relative one
/// under the runtime's own cgroup in that hierarchy (which differs per hierarchy); none
/// means `/ongi/<id>`.
pub fn dirs_for(spec_path: Option<&Path>, id: &str) -> Vec<PathBuf> {
    let hs = hierarchies();
    let cg = crate::sys::read_proc("/proc/self/cgroup").unwrap_or_default();
    hs.iter().map(|h| dir_in(h, spec_path, id, &cg)).collect()
}

fn dir_in(h: &Hierarchy, spec_path: Option<&Path>, id: &str, proc_cgroup: &str) -> PathBuf {
    let rel = match spec_path {
        Some(p) if p.is_absolute() => p.to_path_buf(),
        Some(p) if !p.as_os_str().is_empty() => own_path_in(proc_cgroup, h).join(p),
        _ => PathBuf::from("/").join(DEFAULT_PARENT).join(id),
    };
    // Normalise away `.`/`..` so a path can never climb out of the hierarchy.
    let mut clean = PathBuf::new();
    for c in rel.components() {
        match c {
            std::path::Component::Normal(s) => clean.push(s),
            std::path::Component::ParentDir => {
                clean.pop();
            }
            _ => {}
        }
    }
    h.mountpoint.join(clean)
}

/// What `apply` is for: at create time the device rules are written too; an update never
/// touches devices (as `runc update`) and honours memory.checkBeforeUpdate.
pub enum Apply<'a> {
    Create(&'a [devices::Rule]),
    Update,
}

/// What every implementation does with the container's cgroup.
pub trait CgroupManager {
    /// Makes the directories; a pre-existing one (a pod's shared cgroup) is joined.
    fn create(&self) -> Result<()>;
    /// Writes the set fields of `r` (unset fields are not touched: this is a hot path).
    fn apply(&self, r: &LinuxResources, how: Apply<'_>) -> Result<()>;
    fn pids(&self) -> Result<Vec<i32>>;
    /// Freezes and waits until every process is frozen.
    fn freeze(&self) -> Result<()>;
    fn thaw(&self) -> Result<()>;
    fn frozen(&self) -> bool;
    fn stats(&self) -> Result<Stats>;
    /// How many times the OOM killer has acted in the cgroup (for `events`).
    fn oom_kills(&self) -> u64;
}

/// The implementation for directories computed by [`dirs_for`] (or persisted from it).
pub fn manager(dirs: &[PathBuf]) -> Box<dyn CgroupManager> {
    let hs = hierarchies();
    let placed: Vec<(Hierarchy, PathBuf)> = dirs
        .iter()
        .filter_map(|d| hierarchy_of(&hs, d).map(|h| (h.clone(), d.clone())))
        .collect();
    if mode_of(&hs) == Mode::Unified {
        if let Some((h, d)) = placed.iter().find(|(h, _)| h.is_v2()) {
            // Named v1 hierarchies (name=systemd) are only joined and removed.
            let extra = dirs.iter().filter(|x| *x != d).cloned().collect();
            return Box::new(v2::V2::new(h.mountpoint.clone(), d.clone(), extra));
        }
    }
    Box::new(v1::V1::new(placed, dirs.to_vec()))
}

// ---------------------------------------------------------------------------
// Free functions over persisted directories (the lifecycle code uses these).
// ---------------------------------------------------------------------------

/// Creates the directories; on failure removes what it created.
pub fn create_dirs(dirs: &[PathBuf]) -> Result<()> {
    if dirs.is_empty() {
        return Err(CgroupError::NoHierarchy);
    }
    manager(dirs).create()
}

/// Applies `linux.resources` at create time: every set field plus the device rules
/// (the spec's, then runc's defaults minus paths `linux.devices` redefines).
pub fn apply_create(
    dirs: &[PathBuf],
    r: &LinuxResources,
    linux_devices: &[oci_spec::runtime::LinuxDevice],
) -> Result<()> {
    let rules = devices::rules(r.devices().as_deref().unwrap_or_default(), linux_devices)?;
    manager(dirs).apply(r, Apply::Create(&rules))
}

/// Applies the set fields of `r` to a live container (devices are left alone, as
/// `runc update` does).
pub fn update(dirs: &[PathBuf], r: &LinuxResources) -> Result<()> {
    manager(dirs).apply(r, Apply::Update)
}

/// Writes `pid` into each directory's `cgroup.procs` (v1 and v2 alike): the runtime's
/// slow path, see [`Placement`].
pub fn add_pid(dirs: &[PathBuf], pid: i32) -> Result<()> {
    for d in dirs {
        write_procs(d, pid)?;
    }
    Ok(())
}

/// Pids in the container's cgroup.
pub fn pids(dirs: &[PathBuf]) -> Result<Vec<i32>> {
    manager(dirs).pids()
}

/// Whether the freezer (v1 freezer.state or v2 cgroup.freeze) holds the container.
pub fn frozen(dirs: &[PathBuf]) -> bool {
    // Status is derived on every command: one read of the one freezer file.
    manager(dirs).frozen()
}

/// Thaws the container, best effort (so that SIGKILLed processes can actually die).
pub fn thaw(dirs: &[PathBuf]) {
    let _ = manager(dirs).thaw();
}

/// Removes the directories. Dying processes can keep a cgroup busy for a moment, so EBUSY
/// is retried briefly.
pub fn remove(dirs: &[PathBuf]) -> Result<()> {
    for d in dirs {
        let mut tries = 0;
        loop {
            match rmdir(d) {
                Ok(()) | Err(Errno::ENOENT) => break,
                Err(Errno::EBUSY) if tries < 100 => {
                    tries += 1;
                    std::thread::sleep(std::time::Duration::from_millis(5));
                }
                Err(errno) => {
                    return Err(CgroupError::Rmdir {
                        path: d.clone(),
                        errno,
                    })
                }
            }
        }
    }
    Ok(())
}

/// One rmdir attempt per directory, errors ignored: for a joined (shared) cgroup, where
/// the directories this container added are empty once it is gone, and the ones still
/// holding the pod's processes must stay.
pub fn remove_empty(dirs: &[PathBuf]) {
    for d in dirs {
        let _ = rmdir(d);
    }
}

/// Whether any of the directories already holds processes (a pod's cgroup being joined):
/// such a cgroup is not ours to empty or remove.
pub fn in_use(dirs: &[PathBuf]) -> bool {
    dirs.iter()
        .any(|d| crate::sys::read_proc(d.join("cgroup.procs")).is_ok_and(|s| !s.trim().is_empty()))
}

// ---------------------------------------------------------------------------
// File helpers shared by v1 and v2
// ---------------------------------------------------------------------------

/// rmdir(2) with the errno kept, so EBUSY and ENOENT can be told apart.
fn rmdir(p: &Path) -> std::result::Result<(), Errno> {
    std::fs::remove_dir(p).map_err(|e| Errno::from_raw(e.raw_os_error().unwrap_or(0)))
}

fn errno_of(e: &std::io::Error) -> Errno {
    Errno::from_raw(e.raw_os_error().unwrap_or(0))
}

/// Writes `value` to `dir/file` for spec field `field`. A missing file means the controller
/// or kernel feature is absent and is reported as such, naming the field.
pub(crate) fn write(dir: &Path, file: &str, value: &str, field: &str) -> Result<()> {
    Writer::new(dir, field).write(file, value)
}

/// Writes to files of one cgroup directory, keeping each file open for the next write:
/// every write(2) is still one command to the kernel, but a dozen device rules cost one
/// open instead of a dozen.
pub(crate) struct Writer<'a> {
    dir: &'a Path,
    field: &'a str,
    open: Vec<(String, std::fs::File)>,
}

impl<'a> Writer<'a> {
    pub(crate) fn new(dir: &'a Path, field: &'a str) -> Self {
        Writer {
            dir,
            field,
            open: Vec::new(),
        }
    }

    pub(crate) fn write(&mut self, file: &str, value: &str) -> Result<()> {
        let path = self.dir.join(file);
        let res = match self.open.iter_mut().find(|(n, _)| n == file) {
            Some((_, f)) => std::io::Write::write_all(f, value.as_bytes()),
            // No O_CREAT: creating a missing file in cgroupfs fails with EACCES, which
            // would hide the ENOENT that says "controller or feature absent". One write(2)
            // of the whole value: cgroup files parse each write as one command.
            None => std::fs::OpenOptions::new()
                .write(true)
                .open(&path)
                .and_then(|mut f| {
                    std::io::Write::write_all(&mut f, value.as_bytes())?;
                    self.open.push((file.to_string(), f));
                    Ok(())
                }),
        };
        res.map_err(|e| match errno_of(&e) {
            Errno::ENOENT => CgroupError::MissingFile {
                field: self.field.to_string(),
                path: path.clone(),
                what: "the controller or kernel feature is not available".into(),
            },
            errno => CgroupError::Write {
                field: self.field.to_string(),
                path: path.clone(),
                value: value.to_string(),
                errno,
            },
        })
    }
}

pub(crate) fn read(dir: &Path, file: &str) -> Result<String> {
    let path = dir.join(file);
    crate::sys::read_proc(&path).map_err(|source| CgroupError::Io {
        path,
        op: "read",
        source,
    })
}

/// A file holding one number (`max` counts as u64::MAX); missing or unreadable gives 0,
/// because stats are best effort per file, as in runc.
pub(crate) fn read_u64(dir: &Path, file: &str) -> u64 {
    crate::sys::read_proc(dir.join(file))
        .ok()
        .map(|s| parse_u64(s.trim()))
        .unwrap_or(0)
}

pub(crate) fn parse_u64(s: &str) -> u64 {
    if s == "max" {
        return u64::MAX;
    }
    s.parse().unwrap_or(0)
}

/// `key value` lines (memory.stat, cpu.stat) as a map.
pub(crate) fn read_kv(dir: &Path, file: &str) -> std::collections::BTreeMap<String, u64> {
    crate::sys::read_proc(dir.join(file))
        .unwrap_or_default()
        .lines()
        .filter_map(|l| {
            let (k, v) = l.split_once(' ')?;
            Some((k.to_string(), v.trim().parse().ok()?))
        })
        .collect()
}

fn read_procs(dir: &Path) -> Result<Option<Vec<i32>>> {
    let p = dir.join("cgroup.procs");
    match crate::sys::read_proc(&p) {
        Ok(s) => Ok(Some(
            s.lines().filter_map(|l| l.trim().parse().ok()).collect(),
        )),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(source) => Err(CgroupError::Io {
            path: p,
            op: "read",
            source,
        }),
    }
}

fn write_procs(dir: &Path, pid: i32) -> Result<()> {
    let p = dir.join("cgroup.procs");
    std::fs::write(&p, pid.to_string()).map_err(|source| CgroupError::Io {
        path: p.clone(),
        op: "write",
        source,
    })
}

/// Makes every directory; on failure removes the ones this call made (a directory that
/// already existed, e.g. a pod's cgroup being joined, is never removed here).
fn create_all(dirs: &[PathBuf]) -> Result<()> {
    for (i, d) in dirs.iter().enumerate() {
        if let Err(e) = mkdir_all(d) {
            let _ = remove(&dirs[..i]);
            return Err(e);
        }
    }
    Ok(())
}

/// `rdma.max` line for one device.
fn rdma_line(dev: &str, l: &oci_spec::runtime::LinuxRdma) -> String {
    let mut s = dev.to_string();
    if let Some(h) = l.hca_handles() {
        s.push_str(&format!(" hca_handle={h}"));
    }
    if let Some(o) = l.hca_objects() {
        s.push_str(&format!(" hca_object={o}"));
    }
    s
}

/// `linux.resources.unified`: each key is a file name in the v2 directory.
fn write_unified(dir: &Path, map: &std::collections::HashMap<String, String>) -> Result<()> {
    let mut keys: Vec<&String> = map.keys().collect();
    keys.sort();
    for k in keys {
        let field = format!("linux.resources.unified[{k:?}]");
        if k.contains('/') || k.starts_with('.') || k.is_empty() {
            return Err(CgroupError::Invalid {
                field,
                reason: "must be a file name in the cgroup directory".into(),
            });
        }
        let v = &map[k];
        write(dir, k, v, &field).map_err(|e| match e {
            CgroupError::MissingFile { field, path, .. } => CgroupError::MissingFile {
                field,
                path,
                what: "no such cgroup v2 file: its controller is not enabled in this \
                       hierarchy, or the key is misspelt"
                    .into(),
            },
            e => e,
        })?;
    }
    Ok(())
}

/// Page sizes (`2MB`) of the `hugetlb.<size><suffix>` files in `dir`.
fn hugetlb_sizes(dir: &Path, suffix: &str) -> Vec<String> {
    let mut out: Vec<String> = std::fs::read_dir(dir)
        .into_iter()
        .flatten()
        .flatten()
        .filter_map(|e| {
            let n = e.file_name().into_string().ok()?;
            let size = n.strip_prefix("hugetlb.")?.strip_suffix(suffix)?;
            (!size.contains('.')).then(|| size.to_string())
        })
        .collect();
    out.sort();
    out
}

fn clock_ticks() -> u64 {
    // SAFETY: sysconf has no memory effects.
    let t = unsafe { libc::sysconf(libc::_SC_CLK_TCK) };
    if t > 0 {
        t as u64
    } else {
        100
    }
}

fn mkdir_all(d: &Path) -> Result<()> {
    // A concurrent delete may remove the shared default parent between our mkdirs.
    std::fs::create_dir_all(d)
        .or_else(|_| std::fs::create_dir_all(d))
        .map_err(|source| CgroupError::Io {
            path: d.to_path_buf(),
            op: "mkdir",
            source,
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    const HYBRID: &str = "\
32 31 0:29 / /sys/fs/cgroup/cpu rw,relatime - cgroup cgroup rw,cpu
35 31 0:32 / /sys/fs/cgroup/memory rw,relatime - cgroup cgroup rw,memory
40 31 0:37 / /sys/fs/cgroup/systemd rw,relatime - cgroup cgroup rw,name=systemd
41 31 0:38 / /sys/fs/cgroup/unified rw,relatime - cgroup2 cgroup2 rw
";

    #[test]
    fn detects_modes() {
        let hs = parse_hierarchies(HYBRID);
        assert_eq!(hs.len(), 4);
        assert_eq!(mode_of(&hs), Mode::Hybrid);
        assert_eq!(mode_of(&hs[..3]), Mode::Legacy);
        let v2 = parse_hierarchies(
            "30 23 0:26 / /sys/fs/cgroup rw - cgroup2 cgroup2 rw,nsdelegate,memory_recursiveprot\n\
             31 30 0:27 / /sys/fs/cgroup/systemd rw - cgroup cgroup rw,name=systemd\n",
        );
        assert_eq!(mode_of(&v2), Mode::Unified);
        assert_eq!(mode_of(&v2[..1]), Mode::Unified);
        assert!(hs[0].has("cpu") && !hs[0].has("cpuacct"));
        assert!(hs[2].has("name=systemd"));
    }

    #[test]
    fn paths_absolute_relative_default() {
        let hs = parse_hierarchies(HYBRID);
        let pc = "4:memory:/process_api/abc\n1:cpu:/\n0::/user.slice\n";
        let mem = &hs[1];
        assert_eq!(
            dir_in(mem, Some(Path::new("/a/b")), "x", pc),
            PathBuf::from("/sys/fs/cgroup/memory/a/b")
        );
        assert_eq!(
            dir_in(mem, Some(Path::new("a/b")), "x", pc),
            PathBuf::from("/sys/fs/cgroup/memory/process_api/abc/a/b")
        );
        assert_eq!(
            dir_in(&hs[0], Some(Path::new("a/b")), "x", pc),
            PathBuf::from("/sys/fs/cgroup/cpu/a/b")
        );
        assert_eq!(
            dir_in(&hs[3], Some(Path::new("c")), "x", pc),
            PathBuf::from("/sys/fs/cgroup/unified/user.slice/c")
        );
        assert_eq!(
            dir_in(mem, None, "x", pc),
            PathBuf::from("/sys/fs/cgroup/memory/ongi/x")
        );
        assert_eq!(
            dir_in(mem, Some(Path::new("/../../etc")), "x", pc),
            PathBuf::from("/sys/fs/cgroup/memory/etc")
        );
    }
}

/// How init enters its cgroup directories. Writing another process's pid into
/// `cgroup.procs` takes the kernel's global threadgroup rwsem for writing, which waits
/// for an RCU grace period: 6-16 ms here, most of a container start. Two ways avoid it:
/// a single-threaded process moving itself (v1 `tasks`, pid "0": no threadgroup lock),
/// and clone3(CLONE_INTO_CGROUP) for the v2 tree (no migration at all).
#[derive(Debug, Default)]
pub struct Placement {
    /// v1 `tasks` files init writes "0" into, first thing after the clone.
    pub self_join: Vec<PathBuf>,
    /// The v2 directory init is cloned into.
    pub clone_into: Option<PathBuf>,
    /// Directories the runtime writes init's pid into (the slow path).
    pub by_runtime: Vec<PathBuf>,
}

/// Splits the container's directories by how init joins them. `fast` is false when init
/// cannot write host cgroup files itself (its credentials are those of a user namespace).
pub fn placement(dirs: &[PathBuf], fast: bool) -> Placement {
    let mut p = Placement::default();
    if !fast {
        p.by_runtime = dirs.to_vec();
        return p;
    }
    let hs = hierarchies();
    for d in dirs {
        let v2 = hierarchy_of(&hs, d).map(Hierarchy::is_v2);
        match v2 {
            Some(false) => p.self_join.push(d.join("tasks")),
            Some(true) if p.clone_into.is_none() => p.clone_into = Some(d.clone()),
            _ => p.by_runtime.push(d.clone()),
        }
    }
    p
}

/// Init's side of [`Placement::self_join`]: moves the calling (single-threaded) process.
pub fn join_self(tasks: &[PathBuf]) -> Result<()> {
    for t in tasks {
        std::fs::write(t, "0").map_err(|source| CgroupError::Io {
            path: t.clone(),
            op: "write",
            source,
        })?;
    }
    Ok(())
}
