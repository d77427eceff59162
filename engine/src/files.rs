//! A container's files: `cp` in and out through its mounted rootfs, and `diff` from its
//! overlay upper directory.
//!
//! Paths inside the container are resolved as the container would see them, with its
//! rootfs as `/`: a symlink is followed inside the rootfs (an absolute target starts at the
//! rootfs, `..` stops at it), so no path given to `cp` and no symlink in the image can
//! reach a host file.

use std::collections::BTreeMap;
use std::fs;
use std::io;
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::{Component, Path, PathBuf};

use crate::container::{self, Container, ContainerError};
use crate::store::Store;

/// Why a copy or diff failed.
#[derive(Debug, thiserror::Error)]
pub enum FilesError {
    /// The path does not exist in the container (docker's wording).
    #[error("Could not find the file {path} in container {container}")]
    NotFound {
        /// The path in the container.
        path: String,
        /// The container as named.
        container: String,
    },
    /// A host path or a file operation failed.
    #[error("{op} {path}: {source}")]
    Io {
        /// What was being done.
        op: &'static str,
        /// The path.
        path: PathBuf,
        /// The cause.
        source: io::Error,
    },
    /// Symlinks loop inside the container.
    #[error("too many levels of symbolic links resolving {0} in the container")]
    Loop(String),
    /// Copying a directory onto a file (docker's wording).
    #[error("cannot copy a directory to a file: {0}")]
    DirOntoFile(String),
    /// `cp - CONTAINER:PATH` onto something that is not a directory (docker's wording).
    #[error("destination \"{container}:{path}\" must be a directory")]
    NotDirectory {
        /// The path in the container.
        path: String,
        /// The container as named.
        container: String,
    },
    /// The container failed.
    #[error(transparent)]
    Container(#[from] ContainerError),
}

fn ioe<'a>(op: &'static str, p: &'a Path) -> impl FnOnce(io::Error) -> FilesError + 'a {
    move |source| FilesError::Io {
        op,
        path: p.to_path_buf(),
        source,
    }
}

/// Resolves `path` (as seen in the container) to a host path under `root`, following
/// symlinks inside `root` only; the last component's symlink is followed when `follow`.
/// Components past the first missing one are appended as they are.
pub fn resolve_in(root: &Path, path: &str, follow: bool) -> Result<PathBuf, FilesError> {
    let mut todo: Vec<String> = Path::new(path)
        .components()
        .rev()
        .filter_map(|c| match c {
            Component::Normal(s) => Some(s.to_string_lossy().into_owned()),
            Component::ParentDir => Some("..".into()),
            _ => None,
        })
        .collect();
    let mut cur: Vec<String> = Vec::new();
    let mut links = 0;
    while let Some(part) = todo.pop() {
        if part == ".." {
            cur.pop();
            continue;
        }
        let last = todo.is_empty();
        let host = cur
            .iter()
            .fold(root.to_path_buf(), |p, c| p.join(c))
            .join(&part);
        match fs::symlink_metadata(&host) {
            Ok(md) if md.file_type().is_symlink() && (!last || follow) => {
                links += 1;
                if links > 40 {
                    return Err(FilesError::Loop(path.to_string()));
                }
                let target = fs::read_link(&host).map_err(ioe("readlink", &host))?;
                if target.is_absolute() {
                    cur.clear();
                }
                for c in target.components().rev() {
                    match c {
                        Component::Normal(s) => todo.push(s.to_string_lossy().into_owned()),
                        Component::ParentDir => todo.push("..".into()),
                        _ => {}
                    }
                }
            }
            _ => cur.push(part),
        }
    }
    Ok(cur.iter().fold(root.to_path_buf(), |p, c| p.join(c)))
}

/// The rootfs of a container, mounted for the copy; the guard unmounts it again if it was
/// not mounted before (a stopped container's).
pub struct Rootfs<'a> {
    store: &'a Store,
    id: String,
    /// The mounted rootfs.
    pub path: PathBuf,
    mounted_here: bool,
}

impl<'a> Rootfs<'a> {
    /// Mounts (if needed) the container's rootfs.
    pub fn open(store: &'a Store, c: &Container) -> Result<Rootfs<'a>, FilesError> {
        let dir = store.container_dir(&c.settings.id).join("rootfs");
        let was = container::is_mountpoint(&dir);
        let path = container::mount_rootfs(store, &c.settings)?;
        Ok(Rootfs {
            store,
            id: c.settings.id.clone(),
            path,
            mounted_here: !was,
        })
    }
}

impl Drop for Rootfs<'_> {
    fn drop(&mut self) {
        if self.mounted_here && !container::monitor_alive(self.store, &self.id) {
            let _ = container::unmount_rootfs(self.store, &self.id);
        }
    }
}

/// Copies `src` (a file, symlink or directory tree) to `dst`, which must not exist;
/// `owner` sets every copied file's uid/gid (docker gives files copied in to root).
fn copy_tree(src: &Path, dst: &Path, owner: Option<(u32, u32)>) -> Result<u64, FilesError> {
    let md = fs::symlink_metadata(src).map_err(ioe("stat", src))?;
    let (uid, gid) = owner.unwrap_or((md.uid(), md.gid()));
    let ft = md.file_type();
    let mut n = 0;
    if ft.is_dir() {
        match fs::create_dir(dst) {
            Ok(()) => {}
            Err(e) if e.kind() == io::ErrorKind::AlreadyExists && dst.is_dir() => {}
            Err(e) => return Err(ioe("create", dst)(e)),
        }
        for e in fs::read_dir(src).map_err(ioe("read", src))? {
            let e = e.map_err(ioe("read", src))?;
            n += copy_tree(&e.path(), &dst.join(e.file_name()), owner)?;
        }
        fs::set_permissions(dst, fs::Permissions::from_mode(md.mode() & 0o7777))
            .map_err(ioe("chmod", dst))?;
    } else if ft.is_symlink() {
        let t = fs::read_link(src).map_err(ioe("readlink", src))?;
        let _ = fs::remove_file(dst);
        std::os::unix::fs::symlink(&t, dst).map_err(ioe("symlink", dst))?;
    } else if ft.is_file() {
        if dst.is_dir() {
            return Err(FilesError::Io {
                op: "overwrite",
                path: dst.to_path_buf(),
                source: io::Error::from(io::ErrorKind::IsADirectory),
            });
        }
        n += fs::copy(src, dst).map_err(ioe("copy to", dst))?;
        fs::set_permissions(dst, fs::Permissions::from_mode(md.mode() & 0o7777))
            .map_err(ioe("chmod", dst))?;
    } else {
        // Devices, fifos and sockets are not copied (nothing to read from them).
        return Ok(0);
    }
    std::os::unix::fs::lchown(dst, Some(uid), Some(gid)).map_err(ioe("chown", dst))?;
    Ok(n)
}

/// docker's destination rule: into an existing directory under the source's name, else
/// as the destination path itself (whose parent must exist).
fn target(
    src: &Path,
    dst: &Path,
    dst_shown: &str,
    ctr: Option<&str>,
) -> Result<PathBuf, FilesError> {
    let src_dir = fs::symlink_metadata(src)
        .map(|m| m.is_dir())
        .unwrap_or(false);
    if dst.is_dir() {
        let name = src.file_name().map(PathBuf::from).unwrap_or_default();
        return Ok(dst.join(name));
    }
    if dst.exists() && src_dir {
        return Err(FilesError::DirOntoFile(dst_shown.to_string()));
    }
    let parent = dst.parent().unwrap_or(Path::new("/"));
    if !parent.is_dir() || dst_shown.ends_with('/') {
        let shown = if dst_shown.ends_with('/') {
            dst_shown.to_string()
        } else {
            Path::new(dst_shown)
                .parent()
                .map(|p| p.display().to_string())
                .unwrap_or_default()
        };
        return Err(match ctr {
            Some(c) => FilesError::NotFound {
                path: shown,
                container: c.to_string(),
            },
            None => FilesError::Io {
                op: "copy to",
                path: PathBuf::from(shown),
                source: io::Error::from(io::ErrorKind::NotFound),
            },
        });
    }
    Ok(dst.to_path_buf())
}

/// Where a container path's files are: in a bind mount or volume when the path is at or
/// below its destination (the longest one wins, as mounts stack), else in the rootfs.
/// Returns that root and the path relative to it.
fn root_for(c: &Container, rootfs: &Path, path: &str) -> (PathBuf, String) {
    let norm = Path::new("/").join(path.trim_start_matches('/'));
    let mut best: Option<(&crate::container::MountSpec, usize)> = None;
    for m in &c.settings.mounts {
        let d = Path::new(&m.destination);
        if norm.starts_with(d) && best.is_none_or(|(_, n)| d.as_os_str().len() > n) {
            best = Some((m, d.as_os_str().len()));
        }
    }
    match best {
        Some((m, _)) => {
            let rest = norm
                .strip_prefix(&m.destination)
                .map(|r| r.to_string_lossy().into_owned())
                .unwrap_or_default();
            let trail = if path.ends_with('/') { "/" } else { "" };
            (m.source.clone(), format!("/{rest}{trail}"))
        }
        None => (rootfs.to_path_buf(), path.to_string()),
    }
}

/// `cp CONTAINER:SRC DEST`: bytes copied.
pub fn copy_out(
    store: &Store,
    c: &Container,
    name: &str,
    src: &str,
    dst: &Path,
) -> Result<u64, FilesError> {
    let rootfs = Rootfs::open(store, c)?;
    let (root, rel) = root_for(c, &rootfs.path, src);
    let from = resolve_in(&root, &rel, false)?;
    if fs::symlink_metadata(&from).is_err() {
        return Err(FilesError::NotFound {
            path: src.to_string(),
            container: name.to_string(),
        });
    }
    let to = target(&from, dst, &dst.to_string_lossy(), None)?;
    copy_tree(&from, &to, None)
}

/// `cp SRC CONTAINER:DEST`: bytes copied; files copied in belong to root, as docker's do.
pub fn copy_in(
    store: &Store,
    c: &Container,
    name: &str,
    src: &Path,
    dst: &str,
) -> Result<u64, FilesError> {
    fs::symlink_metadata(src).map_err(ioe("stat", src))?;
    let rootfs = Rootfs::open(store, c)?;
    let (root, rel) = root_for(c, &rootfs.path, dst);
    let to = resolve_in(&root, &rel, true)?;
    let to = target(src, &to, dst, Some(name))?;
    copy_tree(src, &to, Some((0, 0)))
}

/// `cp CONTAINER:SRC -`: SRC as a tar stream on `out`, its entries named from SRC's last
/// component (a directory's tree under it), as docker writes it; links are not followed.
pub fn copy_out_tar(
    store: &Store,
    c: &Container,
    name: &str,
    src: &str,
    out: impl io::Write,
) -> Result<(), FilesError> {
    let rootfs = Rootfs::open(store, c)?;
    let (root, rel) = root_for(c, &rootfs.path, src);
    let from = resolve_in(&root, &rel, false)?;
    let md = fs::symlink_metadata(&from).map_err(|_| FilesError::NotFound {
        path: src.to_string(),
        container: name.to_string(),
    })?;
    let base = from
        .file_name()
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from("."));
    let mut b = tar::Builder::new(out);
    b.follow_symlinks(false);
    let shown = PathBuf::from(format!("{name}:{src}"));
    let werr = ioe("write archive of", &shown);
    if md.is_dir() {
        b.append_dir_all(&base, &from).map_err(werr)?;
    } else {
        b.append_path_with_name(&from, &base).map_err(werr)?;
    }
    b.into_inner()
        .and_then(|mut w| w.flush())
        .map_err(ioe("write archive of", &shown))
}

/// `cp - CONTAINER:DEST`: extracts the tar stream `input` into DEST, which must be an
/// existing directory (docker's rule); ownership and modes come from the archive. The tar
/// crate refuses entries that would land outside DEST (`..`, or through a symlink that
/// leads out), so an archive cannot write host files.
pub fn copy_in_tar(
    store: &Store,
    c: &Container,
    name: &str,
    input: impl io::Read,
    dst: &str,
) -> Result<(), FilesError> {
    let rootfs = Rootfs::open(store, c)?;
    let (root, rel) = root_for(c, &rootfs.path, dst);
    let to = resolve_in(&root, &rel, true)?;
    match fs::metadata(&to) {
        Ok(m) if m.is_dir() => {}
        Ok(_) => {
            return Err(FilesError::NotDirectory {
                path: dst.to_string(),
                container: name.to_string(),
            })
        }
        Err(_) => {
            return Err(FilesError::NotFound {
                path: dst.to_string(),
                container: name.to_string(),
            })
        }
    }
    let mut a = tar::Archive::new(input);
    a.set_preserve_permissions(true);
    a.set_preserve_ownerships(true);
    a.set_overwrite(true);
    let shown = PathBuf::from(format!("{name}:{dst}"));
    a.unpack(&to).map_err(ioe("extract archive into", &shown))
}

/// One line of `diff`: `A`dded, `C`hanged or `D`eleted.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Change {
    /// A, C or D.
    pub kind: char,
    /// The path in the container.
    pub path: String,
}

/// `diff`: the container's changes against its image, from its upper directory (a
/// whiteout, a 0/0 character device, is a deletion). Files the engine itself puts in
/// place (mount points, /etc/hosts and friends) are left out, as docker leaves them out.
pub fn diff(store: &Store, c: &Container) -> Result<Vec<Change>, FilesError> {
    let s = &c.settings;
    let upper = store.container_dir(&s.id).join("upper");
    let img = crate::image::get(store, &s.image_id)
        .map_err(ContainerError::from)?
        .ok_or_else(|| {
            ContainerError::from(crate::image::ImageError::NotFound(s.image_id.clone()))
        })?;
    let mut lowers = Vec::new();
    for l in img.layers.iter().rev() {
        lowers.push(store.layer_dir(l).map_err(ContainerError::from)?);
    }
    let mut skip: Vec<String> = [
        "/etc/hosts",
        "/etc/hostname",
        "/etc/resolv.conf",
        "/dev",
        "/proc",
        "/sys",
    ]
    .iter()
    .map(|s| s.to_string())
    .collect();
    skip.extend(s.mounts.iter().map(|m| m.destination.clone()));
    skip.extend(
        s.tmpfs
            .iter()
            .map(|t| t.split(':').next().unwrap_or(t).to_string()),
    );
    let mut out = BTreeMap::new();
    walk_upper(&upper, &upper, &lowers, &skip, &mut out)?;
    Ok(out
        .into_iter()
        .map(|(path, kind)| Change { kind, path })
        .collect())
}

fn in_lower(lowers: &[PathBuf], rel: &Path) -> Option<fs::Metadata> {
    lowers
        .iter()
        .find_map(|l| fs::symlink_metadata(l.join(rel)).ok())
}

/// Walks `dir` of the upper tree; returns whether anything below it was reported.
fn walk_upper(
    upper: &Path,
    dir: &Path,
    lowers: &[PathBuf],
    skip: &[String],
    out: &mut BTreeMap<String, char>,
) -> Result<bool, FilesError> {
    use std::os::unix::fs::FileTypeExt;
    let mut any = false;
    for e in fs::read_dir(dir).map_err(ioe("read", dir))? {
        let e = e.map_err(ioe("read", dir))?;
        let p = e.path();
        let rel = p.strip_prefix(upper).unwrap_or(&p).to_path_buf();
        let shown = format!("/{}", rel.display());
        if skip.contains(&shown) {
            continue;
        }
        let md = fs::symlink_metadata(&p).map_err(ioe("stat", &p))?;
        if md.file_type().is_char_device() && md.rdev() == 0 {
            out.insert(shown, 'D');
            any = true;
            continue;
        }
        let lower = in_lower(lowers, &rel);
        if md.is_dir() {
            let below = walk_upper(upper, &p, lowers, skip, out)?;
            let reported = match &lower {
                None => true,
                Some(l) => {
                    below
                        || l.mode() != md.mode()
                        || l.uid() != md.uid()
                        || l.gid() != md.gid()
                        || !l.is_dir()
                }
            };
            if reported {
                out.insert(shown, if lower.is_some() { 'C' } else { 'A' });
                any = true;
            }
        } else {
            out.insert(shown, if lower.is_some() { 'C' } else { 'A' });
            any = true;
        }
    }
    Ok(any)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_never_leave_the_rootfs() {
        let root = std::env::temp_dir().join(format!("ongi-files-{}", std::process::id()));
        let _ = fs::remove_dir_all(&root);
        fs::create_dir_all(root.join("etc")).unwrap();
        std::os::unix::fs::symlink("/etc", root.join("abs")).unwrap();
        std::os::unix::fs::symlink("../../../../etc/passwd", root.join("etc/rel")).unwrap();
        std::os::unix::fs::symlink("loop", root.join("loop")).unwrap();
        // An absolute link starts at the rootfs; `..` stops at it.
        assert_eq!(
            resolve_in(&root, "/abs/x", true).unwrap(),
            root.join("etc/x")
        );
        assert_eq!(
            resolve_in(&root, "/etc/rel", true).unwrap(),
            root.join("etc/passwd")
        );
        assert_eq!(
            resolve_in(&root, "/../../etc", true).unwrap(),
            root.join("etc")
        );
        // The last component's link is kept when not following.
        assert_eq!(resolve_in(&root, "/abs", false).unwrap(), root.join("abs"));
        assert!(matches!(
            resolve_in(&root, "/loop", true),
            Err(FilesError::Loop(_))
        ));
        let _ = fs::remove_dir_all(&root);
    }
}
