//! File helpers shared by v1 and v2: controller files written naming the spec field,
//! read, parsed; directories made and removed.

use super::ops::remove;
use super::{CgroupError, Result};
use nix::errno::Errno;
use std::path::{Path, PathBuf};

/// rmdir(2) with the errno kept, so EBUSY and ENOENT can be told apart.
pub(super) fn rmdir(p: &Path) -> std::result::Result<(), Errno> {
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

pub(super) fn read_procs(dir: &Path) -> Result<Option<Vec<i32>>> {
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

pub(super) fn write_procs(dir: &Path, pid: i32) -> Result<()> {
    let p = dir.join("cgroup.procs");
    std::fs::write(&p, pid.to_string()).map_err(|source| CgroupError::Io {
        path: p.clone(),
        op: "write",
        source,
    })
}

/// Makes every directory; on failure removes the ones this call made (a directory that
/// already existed, e.g. a pod's cgroup being joined, is never removed here).
pub(super) fn create_all(dirs: &[PathBuf]) -> Result<()> {
    for (i, d) in dirs.iter().enumerate() {
        if let Err(e) = mkdir_all(d) {
            let _ = remove(&dirs[..i]);
            return Err(e);
        }
    }
    Ok(())
}

/// `rdma.max` line for one device.
pub(super) fn rdma_line(dev: &str, l: &oci_spec::runtime::LinuxRdma) -> String {
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
pub(super) fn write_unified(
    dir: &Path,
    map: &std::collections::HashMap<String, String>,
) -> Result<()> {
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
pub(super) fn hugetlb_sizes(dir: &Path, suffix: &str) -> Vec<String> {
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

pub(super) fn clock_ticks() -> u64 {
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
