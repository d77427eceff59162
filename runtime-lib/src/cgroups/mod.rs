//! The container's cgroup: one directory per mounted hierarchy (cgroup v1 controllers,
//! the v2 unified tree, or both on hybrid hosts), created before init runs and removed
//! on delete. Hierarchies are read from /proc/self/mountinfo at run time.

use nix::errno::Errno;
use std::path::{Path, PathBuf};

#[derive(Debug, thiserror::Error)]
pub enum CgroupError {
    #[error("cgroup {path}: {op}: {source}")]
    Io {
        path: PathBuf,
        op: &'static str,
        source: std::io::Error,
    },
    #[error("cgroup {path}: rmdir: {errno}")]
    Rmdir { path: PathBuf, errno: Errno },
    #[error("no cgroup hierarchy is mounted")]
    NoHierarchy,
}

#[derive(Debug, Clone)]
pub struct Hierarchy {
    pub mountpoint: PathBuf,
    /// "cgroup" (v1) or "cgroup2".
    pub fstype: String,
    /// Mount data naming the v1 controllers (`cpu`, `name=systemd`); empty for cgroup2.
    pub controllers: String,
}

pub fn hierarchies() -> Vec<Hierarchy> {
    let info = std::fs::read_to_string("/proc/self/mountinfo").unwrap_or_default();
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

/// The container's cgroup path relative to every hierarchy root.
pub fn container_path(spec_path: Option<&Path>, id: &str) -> PathBuf {
    match spec_path {
        Some(p) if !p.as_os_str().is_empty() => {
            PathBuf::from("/").join(p.strip_prefix("/").unwrap_or(p))
        }
        _ => PathBuf::from("/").join(DEFAULT_PARENT).join(id),
    }
}

/// The container's directory in every mounted hierarchy.
pub fn dirs_for(rel: &Path) -> Vec<PathBuf> {
    let rel = rel.strip_prefix("/").unwrap_or(rel);
    hierarchies()
        .iter()
        .map(|h| h.mountpoint.join(rel))
        .collect()
}

/// Creates the directories; on failure removes what it created.
pub fn create_dirs(dirs: &[PathBuf]) -> Result<(), CgroupError> {
    if dirs.is_empty() {
        return Err(CgroupError::NoHierarchy);
    }
    for (i, d) in dirs.iter().enumerate() {
        // A concurrent delete may remove the shared default parent between our mkdirs.
        let made = std::fs::create_dir_all(d).or_else(|_| std::fs::create_dir_all(d));
        if let Err(source) = made {
            let _ = remove(&dirs[..i]);
            return Err(CgroupError::Io {
                path: d.clone(),
                op: "mkdir",
                source,
            });
        }
        if let Err(e) = init_cpuset(d) {
            let _ = remove(&dirs[..=i]);
            return Err(e);
        }
    }
    Ok(())
}

/// A new v1 cpuset cgroup starts with empty cpus/mems and refuses tasks (ENOSPC) until
/// they are copied down from the nearest initialised ancestor.
fn init_cpuset(dir: &Path) -> Result<(), CgroupError> {
    for file in ["cpuset.cpus", "cpuset.mems"] {
        let p = dir.join(file);
        let Ok(cur) = std::fs::read_to_string(&p) else {
            return Ok(()); // not a cpuset hierarchy
        };
        if !cur.trim().is_empty() {
            continue;
        }
        let Some(parent) = dir.parent() else { continue };
        init_cpuset(parent)?;
        let val = std::fs::read_to_string(parent.join(file)).unwrap_or_default();
        std::fs::write(&p, val.trim()).map_err(|source| CgroupError::Io {
            path: p.clone(),
            op: "write",
            source,
        })?;
    }
    Ok(())
}

/// Whether the freezer (v1 freezer.state or v2 cgroup.freeze) holds the container.
pub fn frozen(dirs: &[PathBuf]) -> bool {
    dirs.iter().any(|d| {
        std::fs::read_to_string(d.join("freezer.state")).is_ok_and(|s| s.trim() == "FROZEN")
            || std::fs::read_to_string(d.join("cgroup.freeze")).is_ok_and(|s| s.trim() == "1")
    })
}

/// Thaws the container so that SIGKILLed processes can actually die.
pub fn thaw(dirs: &[PathBuf]) {
    for d in dirs {
        let _ = std::fs::write(d.join("freezer.state"), "THAWED");
        let _ = std::fs::write(d.join("cgroup.freeze"), "0");
    }
}

pub fn add_pid(dirs: &[PathBuf], pid: i32) -> Result<(), CgroupError> {
    let s = pid.to_string();
    for d in dirs {
        let p = d.join("cgroup.procs");
        std::fs::write(&p, &s).map_err(|source| CgroupError::Io {
            path: p.clone(),
            op: "write",
            source,
        })?;
    }
    Ok(())
}

/// Pids in the container's cgroup (from the first hierarchy that has the file).
pub fn pids(dirs: &[PathBuf]) -> Result<Vec<i32>, CgroupError> {
    for d in dirs {
        let p = d.join("cgroup.procs");
        match std::fs::read_to_string(&p) {
            Ok(s) => return Ok(s.lines().filter_map(|l| l.trim().parse().ok()).collect()),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => continue,
            Err(source) => {
                return Err(CgroupError::Io {
                    path: p,
                    op: "read",
                    source,
                })
            }
        }
    }
    Ok(Vec::new())
}

/// The parent every default cgroup path shares; removed with its last container.
pub const DEFAULT_PARENT: &str = "ongi";

/// Removes the directories. Dying processes can keep a cgroup busy for a moment, so EBUSY
/// is retried briefly.
pub fn remove(dirs: &[PathBuf]) -> Result<(), CgroupError> {
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
        // Other containers may still use the default parent: then rmdir just fails.
        if let Some(p) = d
            .parent()
            .filter(|p| p.file_name() == Some(DEFAULT_PARENT.as_ref()))
        {
            let _ = rmdir(p);
        }
    }
    Ok(())
}

/// rmdir(2) with the errno kept, so EBUSY and ENOENT can be told apart.
fn rmdir(p: &Path) -> Result<(), Errno> {
    std::fs::remove_dir(p).map_err(|e| Errno::from_raw(e.raw_os_error().unwrap_or(0)))
}
