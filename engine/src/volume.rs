//! Volumes: named and anonymous directories under `<root>/volumes/<name>/_data` that
//! outlive containers, recorded in the database. docker's rules: a volume a container
//! refers to (running or not) cannot be removed; an empty volume mounted over a path that
//! has content in the image gets a copy of that content (ownership and modes kept) on
//! first use; anonymous volumes (64-hex names) go with `rm -v` and `run --rm`.

use std::collections::BTreeMap;
use std::fs;
use std::io;
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};

use rusqlite::{params, OptionalExtension};

use crate::store::{io_err, Store, StoreError};

/// Why a volume operation failed.
#[derive(Debug, thiserror::Error)]
pub enum VolumeError {
    /// The store failed.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// No such volume (docker's wording).
    #[error("get {0}: no such volume")]
    NotFound(String),
    /// Refused: containers use it (docker's wording).
    #[error("remove {name}: volume is in use - [{}]", .users.join(", "))]
    InUse {
        /// The volume.
        name: String,
        /// The containers that refer to it.
        users: Vec<String>,
    },
    /// A name docker would refuse (docker's wording).
    #[error("create {0}: \"{0}\" includes invalid characters for a local volume name, only \"[a-zA-Z0-9][a-zA-Z0-9_.-]\" are allowed. If you intended to pass a host directory, use absolute path")]
    BadName(String),
    /// Copying the image's content into a fresh volume failed.
    #[error("volume {name}: copy image content from {path}: {source}")]
    CopyUp {
        /// The volume.
        name: String,
        /// The path being copied.
        path: PathBuf,
        /// The cause.
        source: io::Error,
    },
}

/// A volume as `volume ls` and `volume inspect` show it.
#[derive(Debug, Clone)]
pub struct Volume {
    /// Its name (64 hex digits for anonymous ones).
    pub name: String,
    /// RFC 3339.
    pub created: String,
    /// Made for one container, without a name from the user.
    pub anonymous: bool,
    /// `--label`s.
    pub labels: BTreeMap<String, String>,
    /// `<root>/volumes/<name>/_data`.
    pub mountpoint: PathBuf,
}

impl Volume {
    /// docker's `volume inspect` JSON for it.
    pub fn inspect_json(&self) -> serde_json::Value {
        serde_json::json!({
            "CreatedAt": self.created,
            "Driver": "local",
            "Labels": self.labels,
            "Mountpoint": self.mountpoint,
            "Name": self.name,
            "Options": {},
            "Scope": "local",
        })
    }
}

/// docker's volume name rule.
pub fn valid_name(n: &str) -> bool {
    let b = n.as_bytes();
    b.len() >= 2
        && b[0].is_ascii_alphanumeric()
        && b.iter()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, b'_' | b'.' | b'-'))
}

/// Is this the name docker gives anonymous volumes (64 hex digits)?
pub fn anonymous_name(n: &str) -> bool {
    n.len() == 64 && n.bytes().all(|b| b.is_ascii_hexdigit())
}

fn data_dir(store: &Store, name: &str) -> PathBuf {
    store.root.join("volumes").join(name).join("_data")
}

/// Makes the volume if it does not exist; returns its data directory.
pub fn ensure(store: &Store, name: &str, anonymous: bool) -> Result<PathBuf, StoreError> {
    if !valid_name(name) {
        return Err(StoreError::Io {
            op: "create volume",
            path: PathBuf::from(name),
            source: std::io::Error::new(
                std::io::ErrorKind::InvalidInput,
                "volume names must be [a-zA-Z0-9][a-zA-Z0-9_.-]+",
            ),
        });
    }
    create_with(store, name, anonymous, &BTreeMap::new())
}

// The row first, then the directory: a row without a directory is repaired by using the
// volume (create_dir_all) or by `system check`; a directory without a row is swept.
fn create_with(
    store: &Store,
    name: &str,
    anonymous: bool,
    labels: &BTreeMap<String, String>,
) -> Result<PathBuf, StoreError> {
    store
        .db()
        .execute(
            "INSERT OR IGNORE INTO volumes (name, created, anonymous, labels) VALUES (?1, ?2, ?3, ?4)",
            params![
                name,
                ongi::rfc3339_now(),
                anonymous as i64,
                serde_json::to_string(labels).unwrap_or_else(|_| "{}".into())
            ],
        )
        .map_err(store.dberr())?;
    let data = data_dir(store, name);
    fs::create_dir_all(&data).map_err(io_err("create volume", &data))?;
    Ok(data)
}

/// `volume create [--label K=V] [NAME]`: a new named volume (an anonymous one without a
/// name). Creating an existing name is not an error (docker's behaviour).
pub fn create(store: &Store, name: Option<&str>, labels: &[String]) -> Result<Volume, VolumeError> {
    let (name, anonymous) = match name {
        Some(n) => (n.to_string(), false),
        None => (crate::container::new_id(), true),
    };
    if !valid_name(&name) {
        return Err(VolumeError::BadName(name));
    }
    let labels: BTreeMap<String, String> = labels
        .iter()
        .map(|l| {
            let (k, v) = l.split_once('=').unwrap_or((l.as_str(), ""));
            (k.to_string(), v.to_string())
        })
        .collect();
    create_with(store, &name, anonymous, &labels)?;
    get(store, &name)
}

fn row(store: &Store, r: &rusqlite::Row<'_>) -> rusqlite::Result<Volume> {
    let name: String = r.get(0)?;
    let labels: String = r.get(3)?;
    Ok(Volume {
        mountpoint: data_dir(store, &name),
        name,
        created: r.get(1)?,
        anonymous: r.get::<_, i64>(2)? != 0,
        labels: serde_json::from_str(&labels).unwrap_or_default(),
    })
}

/// One volume by name.
pub fn get(store: &Store, name: &str) -> Result<Volume, VolumeError> {
    store
        .db()
        .query_row(
            "SELECT name, created, anonymous, labels FROM volumes WHERE name = ?1",
            params![name],
            |r| row(store, r),
        )
        .optional()
        .map_err(store.dberr())?
        .ok_or_else(|| VolumeError::NotFound(name.to_string()))
}

/// Every volume, by name.
pub fn list(store: &Store) -> Result<Vec<Volume>, VolumeError> {
    let mut st = store
        .db()
        .prepare("SELECT name, created, anonymous, labels FROM volumes ORDER BY name")
        .map_err(store.dberr())?;
    let it = st.query_map([], |r| row(store, r)).map_err(store.dberr())?;
    Ok(it.collect::<Result<_, _>>().map_err(store.dberr())?)
}

/// The containers (ids) whose settings refer to the volume.
pub fn users(store: &Store, name: &str) -> Result<Vec<String>, VolumeError> {
    let mut st = store
        .db()
        .prepare(
            "SELECT DISTINCT c.id FROM containers c, json_each(c.config, '$.mounts') m
             WHERE json_extract(m.value, '$.volume') = ?1 ORDER BY c.id",
        )
        .map_err(store.dberr())?;
    let it = st
        .query_map(params![name], |r| r.get(0))
        .map_err(store.dberr())?;
    Ok(it.collect::<Result<_, _>>().map_err(store.dberr())?)
}

/// `volume rm`: refused while a container refers to it (with `force` too: docker's -f only
/// ignores missing volumes). The row goes first, then the directory: a directory without
/// a row is garbage `system check` sweeps.
pub fn remove(store: &Store, name: &str) -> Result<(), VolumeError> {
    get(store, name)?;
    let u = users(store, name)?;
    if !u.is_empty() {
        return Err(VolumeError::InUse {
            name: name.to_string(),
            users: u,
        });
    }
    store
        .db()
        .execute("DELETE FROM volumes WHERE name = ?1", params![name])
        .map_err(store.dberr())?;
    let dir = store.root.join("volumes").join(name);
    crate::prune::remove_tree(&dir)?;
    Ok(())
}

/// `volume prune`: unused anonymous volumes, or with `all` every unused volume. Returns
/// the names removed and the bytes reclaimed.
pub fn prune(store: &Store, all: bool) -> Result<(Vec<String>, u64), VolumeError> {
    let mut names = Vec::new();
    let mut bytes = 0;
    for v in list(store)? {
        if !(all || v.anonymous) || !users(store, &v.name)?.is_empty() {
            continue;
        }
        let size = du(&v.mountpoint);
        match remove(store, &v.name) {
            Ok(()) => {
                names.push(v.name);
                bytes += size;
            }
            // Taken by a container created meanwhile: not unused any more.
            Err(VolumeError::InUse { .. }) | Err(VolumeError::NotFound(_)) => {}
            Err(e) => return Err(e),
        }
    }
    Ok((names, bytes))
}

/// Size of a tree in bytes as docker counts it: the sizes of its files and links
/// (directories count nothing; hard links once).
pub fn du(p: &Path) -> u64 {
    fn walk(p: &Path, seen: &mut std::collections::HashSet<(u64, u64)>) -> u64 {
        let Ok(m) = fs::symlink_metadata(p) else {
            return 0;
        };
        let mut n = 0;
        if !m.is_dir() && (m.nlink() <= 1 || seen.insert((m.dev(), m.ino()))) {
            n += m.len();
        }
        if m.is_dir() {
            for e in fs::read_dir(p).into_iter().flatten().flatten() {
                n += walk(&e.path(), seen);
            }
        }
        n
    }
    walk(p, &mut Default::default())
}

/// docker's copy-up: for each volume mount of the container whose volume is empty, the
/// content at that path in the container's (mounted) rootfs is copied in, with ownership
/// and modes, and the volume's root takes the path's owner and mode. Bind mounts are never
/// touched.
pub fn populate(s: &crate::container::Settings, rootfs: &Path) -> Result<(), VolumeError> {
    for m in &s.mounts {
        let Some(name) = &m.volume else { continue };
        let rel = m.destination.trim_start_matches('/');
        if rel.is_empty() {
            continue;
        }
        let src = rootfs.join(rel);
        // Only a real directory inside the rootfs: a symlink would lead out of it.
        let Ok(meta) = fs::symlink_metadata(&src) else {
            continue;
        };
        if !meta.is_dir() {
            continue;
        }
        let empty = fs::read_dir(&m.source)
            .map(|mut d| d.next().is_none())
            .unwrap_or(false);
        if !empty {
            continue;
        }
        let cu = |source: io::Error| VolumeError::CopyUp {
            name: name.clone(),
            path: src.clone(),
            source,
        };
        copy_tree(&src, &m.source).map_err(cu)?;
        set_owner_mode(&m.source, &meta).map_err(cu)?;
    }
    Ok(())
}

fn set_owner_mode(p: &Path, m: &fs::Metadata) -> io::Result<()> {
    std::os::unix::fs::lchown(p, Some(m.uid()), Some(m.gid()))?;
    if !m.file_type().is_symlink() {
        fs::set_permissions(p, fs::Permissions::from_mode(m.mode() & 0o7777))?;
    }
    Ok(())
}

/// Copies the content of `src` into the existing directory `dst`: directories, regular
/// files, symlinks (as links) and device nodes and fifos, with owner and mode.
fn copy_tree(src: &Path, dst: &Path) -> io::Result<()> {
    for e in fs::read_dir(src)? {
        let e = e?;
        let from = e.path();
        let to = dst.join(e.file_name());
        let m = fs::symlink_metadata(&from)?;
        let ft = m.file_type();
        if ft.is_dir() {
            fs::create_dir(&to)?;
            copy_tree(&from, &to)?;
        } else if ft.is_symlink() {
            std::os::unix::fs::symlink(fs::read_link(&from)?, &to)?;
        } else if ft.is_file() {
            fs::copy(&from, &to)?;
        } else {
            let c = std::ffi::CString::new(std::os::unix::ffi::OsStrExt::as_bytes(to.as_os_str()))
                .map_err(|e| io::Error::new(io::ErrorKind::InvalidInput, e))?;
            // SAFETY: c is a valid NUL-terminated path; mknod takes no pointers beyond it.
            if unsafe { libc::mknod(c.as_ptr(), m.mode(), m.rdev() as libc::dev_t) } != 0 {
                return Err(io::Error::last_os_error());
            }
        }
        set_owner_mode(&to, &m)?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names() {
        assert!(valid_name("data_1.x-y"));
        assert!(!valid_name("a"));
        assert!(!valid_name("-ab"));
        assert!(!valid_name("a/b"));
        assert!(anonymous_name(&"ab".repeat(32)));
        assert!(!anonymous_name("data"));
    }

    #[test]
    fn in_use_message_is_dockers() {
        let e = VolumeError::InUse {
            name: "data".into(),
            users: vec!["abc".into()],
        };
        assert_eq!(e.to_string(), "remove data: volume is in use - [abc]");
    }
}
