//! COPY and ADD into a mounted rootfs, with docker's rules: a directory source copies its
//! contents; a file goes to `dest/<name>` when `dest` ends in `/` or is a directory, else
//! to `dest` itself; several sources need a `dest/`; missing parents are made (0755, owned
//! by `--chown`'s ids); files keep their mode and mtime, and are owned by root or by
//! `--chown` (names looked up in the image's /etc/passwd and /etc/group).

use std::fs;
use std::io;
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};

use super::context::secure_join;

/// Why a copy failed.
#[derive(Debug, thiserror::Error)]
pub enum CopyError {
    /// Several sources and a destination that is not a directory.
    #[error("When using COPY with more than one source file, the destination must be a directory and end with a /")]
    NotDir,
    /// `--chown` names a user or group the image does not have.
    #[error("unable to convert uid/gid chown string to host mapping: can't find {kind} for {kind_name} {name}: no such {kind_name}: {name}")]
    NoSuch {
        /// `uid` or `gid`.
        kind: &'static str,
        /// `user` or `group`.
        kind_name: &'static str,
        /// The name.
        name: String,
    },
    /// A file.
    #[error("{op} {path}: {source}")]
    Io {
        /// What was being done.
        op: &'static str,
        /// The path.
        path: PathBuf,
        /// The cause.
        source: io::Error,
    },
}

fn ioe<'a>(op: &'static str, p: &'a Path) -> impl FnOnce(io::Error) -> CopyError + 'a {
    move |source| CopyError::Io {
        op,
        path: p.to_path_buf(),
        source,
    }
}

fn lookup(rootfs: &Path, file: &str, name: &str) -> Option<u32> {
    let text = fs::read_to_string(secure_join(rootfs, file)).ok()?;
    text.lines().find_map(|l| {
        let f: Vec<&str> = l.split(':').collect();
        (f.len() > 2 && f[0] == name)
            .then(|| f[2].parse().ok())
            .flatten()
    })
}

/// `--chown=user[:group]` as ids: names through the image's files, numbers as they are; a
/// user alone gives the group of the same number (docker's rule for COPY).
pub fn chown_ids(rootfs: &Path, spec: &str) -> Result<(u32, u32), CopyError> {
    let (u, g) = match spec.split_once(':') {
        Some((u, g)) => (u, Some(g)),
        None => (spec, None),
    };
    let uid = match u.parse::<u32>() {
        Ok(n) => n,
        Err(_) => lookup(rootfs, "/etc/passwd", u).ok_or_else(|| CopyError::NoSuch {
            kind: "uid",
            kind_name: "user",
            name: u.to_string(),
        })?,
    };
    let gid = match g {
        None => uid,
        Some(g) => match g.parse::<u32>() {
            Ok(n) => n,
            Err(_) => lookup(rootfs, "/etc/group", g).ok_or_else(|| CopyError::NoSuch {
                kind: "gid",
                kind_name: "group",
                name: g.to_string(),
            })?,
        },
    };
    Ok((uid, gid))
}

/// One source: its real path on the host and the name it goes by.
pub struct Source {
    /// Where it is.
    pub path: PathBuf,
    /// Its base name.
    pub name: String,
    /// Its path in the context, when files under it may be excluded by `.dockerignore`;
    /// `None` for a heredoc or a download, which ADD never extracts.
    pub rel: Option<String>,
}

/// Who owns what a copy makes.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Owner {
    /// root (COPY from the context).
    Root,
    /// The source's owner (`COPY --from` without `--chown`: docker keeps it).
    Keep,
    /// `--chown`'s ids.
    Ids(u32, u32),
}

impl Owner {
    /// The ids for a copy of a file with metadata `md`.
    fn of(self, md: &fs::Metadata) -> (u32, u32) {
        match self {
            Owner::Root => (0, 0),
            Owner::Keep => (md.uid(), md.gid()),
            Owner::Ids(u, g) => (u, g),
        }
    }

    /// The ids of a directory the copy has to make on the way to its destination.
    fn parents(self) -> Option<(u32, u32)> {
        match self {
            Owner::Ids(u, g) => Some((u, g)),
            _ => None,
        }
    }
}

/// Files already copied, by (device, inode) of the source: a later name of the same file
/// becomes a hard link to the first copy (docker's tar copy keeps hard links).
type Linked = std::collections::HashMap<(u64, u64), PathBuf>;

/// Says whether a context path (relative, slash-separated) is left out.
pub type Excluded<'a> = &'a dyn Fn(&str) -> bool;

/// Copies `sources` to `dest` (absolute, inside `rootfs`).
pub fn copy(
    rootfs: &Path,
    sources: &[Source],
    dest: &str,
    owner: Owner,
    mode: Option<u32>,
    excluded: Excluded,
    extract: bool,
) -> Result<(), CopyError> {
    let dest_dir_syntax = dest.ends_with('/') || dest.ends_with("/.");
    let target = secure_join(rootfs, dest);
    if sources.len() > 1 && !dest_dir_syntax {
        return Err(CopyError::NotDir);
    }
    let dest_is_dir = dest_dir_syntax || target.is_dir();
    let ids = owner.parents();
    let mut linked = Linked::new();
    for s in sources {
        let md = fs::metadata(&s.path).map_err(ioe("stat", &s.path))?;
        if md.is_dir() {
            mkdir_all(rootfs, &target, ids)?;
            copy_tree(
                &s.path,
                &target,
                owner,
                mode,
                s.rel.as_deref(),
                excluded,
                &mut linked,
            )?;
        } else if extract && s.rel.is_some() && is_archive(&s.path) {
            // ADD's local archive: unpacked into dest (a directory), owners and modes kept.
            mkdir_all(rootfs, &target, ids)?;
            let f = fs::File::open(&s.path).map_err(ioe("open", &s.path))?;
            let plain = crate::layer::decompress(io::BufReader::new(f))
                .map_err(ioe("decompress", &s.path))?;
            let mut a = tar::Archive::new(plain);
            a.set_preserve_permissions(true);
            a.set_preserve_ownerships(true);
            a.set_overwrite(true);
            a.unpack(&target)
                .map_err(ioe("extract archive into", &target))?;
        } else {
            let to = if dest_is_dir {
                mkdir_all(rootfs, &target, ids)?;
                target.join(&s.name)
            } else {
                if let Some(p) = target.parent() {
                    mkdir_all(rootfs, p, ids)?;
                }
                target.clone()
            };
            copy_file(&s.path, &to, &md, owner, mode)?;
        }
    }
    Ok(())
}

/// A tar, plain or compressed (gzip, zstd), by its first bytes.
fn is_archive(p: &Path) -> bool {
    use std::io::Read;
    let mut head = [0u8; 262];
    let n = fs::File::open(p)
        .and_then(|mut f| f.read(&mut head))
        .unwrap_or(0);
    let h = &head[..n];
    h.starts_with(&[0x1f, 0x8b])
        || h.starts_with(&[0x28, 0xb5, 0x2f, 0xfd])
        || (n >= 262 && &h[257..262] == b"ustar")
}

fn mkdir_all(rootfs: &Path, dir: &Path, ids: Option<(u32, u32)>) -> Result<(), CopyError> {
    if dir.is_dir() || dir == rootfs {
        return Ok(());
    }
    if let Some(p) = dir.parent() {
        mkdir_all(rootfs, p, ids)?;
    }
    fs::create_dir(dir).map_err(ioe("create directory", dir))?;
    fs::set_permissions(dir, fs::Permissions::from_mode(0o755)).map_err(ioe("chmod", dir))?;
    let (u, g) = ids.unwrap_or((0, 0));
    std::os::unix::fs::lchown(dir, Some(u), Some(g)).map_err(ioe("chown", dir))?;
    Ok(())
}

fn set_meta(
    to: &Path,
    md: &fs::Metadata,
    owner: Owner,
    mode: Option<u32>,
) -> Result<(), CopyError> {
    let (u, g) = owner.of(md);
    std::os::unix::fs::lchown(to, Some(u), Some(g)).map_err(ioe("chown", to))?;
    if !md.file_type().is_symlink() {
        let m = mode.unwrap_or(md.mode() & 0o7777);
        fs::set_permissions(to, fs::Permissions::from_mode(m)).map_err(ioe("chmod", to))?;
    }
    let t = nix::sys::time::TimeSpec::new(md.mtime(), md.mtime_nsec());
    let _ = nix::sys::stat::utimensat(
        nix::fcntl::AT_FDCWD,
        to,
        &t,
        &t,
        nix::sys::stat::UtimensatFlags::NoFollowSymlink,
    );
    Ok(())
}

fn copy_file(
    from: &Path,
    to: &Path,
    md: &fs::Metadata,
    owner: Owner,
    mode: Option<u32>,
) -> Result<(), CopyError> {
    if let Ok(old) = fs::symlink_metadata(to) {
        if old.is_dir() {
            fs::remove_dir_all(to).map_err(ioe("replace", to))?;
        } else {
            fs::remove_file(to).map_err(ioe("replace", to))?;
        }
    }
    fs::copy(from, to).map_err(ioe("copy to", to))?;
    set_meta(to, md, owner, mode)
}

fn copy_tree(
    from: &Path,
    to: &Path,
    owner: Owner,
    mode: Option<u32>,
    rel: Option<&str>,
    excluded: Excluded,
    linked: &mut Linked,
) -> Result<(), CopyError> {
    let mut names: Vec<_> = fs::read_dir(from)
        .map_err(ioe("read directory", from))?
        .filter_map(|e| e.ok().map(|e| e.file_name()))
        .collect();
    names.sort();
    for n in names {
        let r = rel.map(|r| {
            let n = n.to_string_lossy();
            if r.is_empty() {
                n.into_owned()
            } else {
                format!("{r}/{n}")
            }
        });
        let f = from.join(&n);
        let t = to.join(&n);
        let md = fs::symlink_metadata(&f).map_err(ioe("stat", &f))?;
        if let Some(r) = r.as_deref().filter(|r| excluded(r)) {
            // docker walks into an excluded directory for the files a `!` pattern brings
            // back; the directory itself only comes along with them.
            if !(md.is_dir() && any_included(&f, r, excluded)) {
                continue;
            }
        }
        if md.is_dir() {
            if !fs::symlink_metadata(&t).is_ok_and(|m| m.is_dir()) {
                let _ = fs::remove_file(&t);
                fs::create_dir(&t).map_err(ioe("create directory", &t))?;
            }
            copy_tree(&f, &t, owner, mode, r.as_deref(), excluded, linked)?;
            set_meta(&t, &md, owner, mode)?;
        } else if md.file_type().is_symlink() {
            let target = fs::read_link(&f).map_err(ioe("read link", &f))?;
            let _ = fs::remove_file(&t);
            std::os::unix::fs::symlink(&target, &t).map_err(ioe("create symlink", &t))?;
            set_meta(&t, &md, owner, mode)?;
        } else if md.is_file() {
            let first = (md.nlink() > 1)
                .then(|| linked.get(&(md.dev(), md.ino())).cloned())
                .flatten();
            match first {
                Some(p) => {
                    if fs::symlink_metadata(&t).is_ok() {
                        fs::remove_file(&t).map_err(ioe("replace", &t))?;
                    }
                    fs::hard_link(&p, &t).map_err(ioe("link", &t))?;
                }
                None => {
                    copy_file(&f, &t, &md, owner, mode)?;
                    if md.nlink() > 1 {
                        linked.insert((md.dev(), md.ino()), t.clone());
                    }
                }
            }
        }
    }
    Ok(())
}

fn any_included(dir: &Path, rel: &str, excluded: Excluded) -> bool {
    let Ok(rd) = fs::read_dir(dir) else {
        return false;
    };
    rd.flatten().any(|e| {
        let r = format!("{rel}/{}", e.file_name().to_string_lossy());
        !excluded(&r)
            || (e.file_type().is_ok_and(|t| t.is_dir()) && any_included(&e.path(), &r, excluded))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn chown_names_from_the_image() {
        let d = std::env::temp_dir().join(format!("ongi-copy-{}", std::process::id()));
        assert!(fs::create_dir_all(d.join("etc")).is_ok());
        assert!(fs::write(
            d.join("etc/passwd"),
            "root:x:0:0::/root:/bin/sh\nweb:x:1000:1001::/:/bin/sh\n"
        )
        .is_ok());
        assert!(fs::write(d.join("etc/group"), "root:x:0:\nstaff:x:50:\n").is_ok());
        assert_eq!(chown_ids(&d, "web").ok(), Some((1000, 1000)));
        assert_eq!(chown_ids(&d, "web:staff").ok(), Some((1000, 50)));
        assert_eq!(chown_ids(&d, "7:8").ok(), Some((7, 8)));
        let e = chown_ids(&d, "nobody").err().map(|e| e.to_string());
        let _ = fs::remove_dir_all(&d);
        assert!(e.is_some_and(|e| e.contains("no such user: nobody")));
    }
}
