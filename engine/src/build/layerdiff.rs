//! A build step's change as a layer tar: the overlayfs upper directory walked in name
//! order, headers made from the metadata alone (no atime/ctime, no user names, so the
//! same tree gives the same bytes), whiteouts (0/0 character devices) as `.wh.<name>`,
//! opaque directories with `.wh..wh..opq`, hard links as link entries. With
//! `SOURCE_DATE_EPOCH`, mtimes later than it are clamped to it (as BuildKit's
//! `rewrite-timestamp` does).

use std::collections::HashMap;
use std::ffi::CString;
use std::fs;
use std::io::{self, Write};
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::{FileTypeExt, MetadataExt};
use std::path::{Path, PathBuf};

/// Why the tar could not be written.
#[derive(Debug, thiserror::Error)]
#[error("{op} {path}: {source}")]
pub struct DiffError {
    /// What was being done.
    pub op: &'static str,
    /// The path.
    pub path: PathBuf,
    /// The cause.
    pub source: io::Error,
}

fn ioe<'a>(op: &'static str, p: &'a Path) -> impl FnOnce(io::Error) -> DiffError + 'a {
    move |source| DiffError {
        op,
        path: p.to_path_buf(),
        source,
    }
}

fn opaque(p: &Path) -> bool {
    let Ok(cp) = CString::new(p.as_os_str().as_bytes()) else {
        return false;
    };
    let mut buf = [0u8; 4];
    // SAFETY: both strings are NUL-terminated and outlive the call; the kernel writes at
    // most buf.len() bytes into buf.
    let n = unsafe {
        libc::lgetxattr(
            cp.as_ptr(),
            c"trusted.overlay.opaque".as_ptr(),
            buf.as_mut_ptr().cast(),
            buf.len(),
        )
    };
    n == 1 && buf[0] == b'y'
}

/// Writes the tar of `upper` to `out`, leaving out `skip` (paths relative to `upper`).
pub fn write<W: Write>(
    upper: &Path,
    skip: &[&str],
    epoch: Option<u64>,
    out: W,
) -> Result<W, DiffError> {
    let mut b = tar::Builder::new(out);
    let mut links = HashMap::new();
    walk(&mut b, upper, Path::new(""), skip, epoch, &mut links)?;
    b.into_inner().map_err(ioe("finish tar of", upper))
}

fn header(md: &fs::Metadata, epoch: Option<u64>) -> tar::Header {
    let mut h = tar::Header::new_gnu();
    h.set_mode(md.mode() & 0o7777);
    h.set_uid(md.uid() as u64);
    h.set_gid(md.gid() as u64);
    let m = md.mtime().max(0) as u64;
    h.set_mtime(epoch.map_or(m, |e| m.min(e)));
    h.set_size(0);
    h
}

fn walk<W: Write>(
    b: &mut tar::Builder<W>,
    root: &Path,
    rel: &Path,
    skip: &[&str],
    epoch: Option<u64>,
    links: &mut HashMap<(u64, u64), PathBuf>,
) -> Result<(), DiffError> {
    let dir = root.join(rel);
    let mut names: Vec<_> = fs::read_dir(&dir)
        .map_err(ioe("read directory", &dir))?
        .filter_map(|e| e.ok().map(|e| e.file_name()))
        .collect();
    names.sort();
    for n in names {
        let r = rel.join(&n);
        if skip.iter().any(|s| Path::new(s) == r) {
            continue;
        }
        let full = root.join(&r);
        let md = fs::symlink_metadata(&full).map_err(ioe("stat", &full))?;
        let ft = md.file_type();
        let mut h = header(&md, epoch);
        let werr = ioe("write tar entry for", &full);
        if ft.is_char_device() && md.rdev() == 0 {
            let mut name = std::ffi::OsString::from(".wh.");
            name.push(&n);
            h.set_entry_type(tar::EntryType::Regular);
            h.set_mode(0o644);
            b.append_data(&mut h, rel.join(name), io::empty())
                .map_err(werr)?;
        } else if ft.is_dir() {
            h.set_entry_type(tar::EntryType::Directory);
            b.append_data(&mut h, &r, io::empty()).map_err(werr)?;
            if opaque(&full) {
                let mut o = header(&md, epoch);
                o.set_entry_type(tar::EntryType::Regular);
                o.set_mode(0o644);
                b.append_data(&mut o, r.join(".wh..wh..opq"), io::empty())
                    .map_err(ioe("write tar entry for", &full))?;
            }
            walk(b, root, &r, skip, epoch, links)?;
        } else if ft.is_symlink() {
            let t = fs::read_link(&full).map_err(ioe("read link", &full))?;
            h.set_entry_type(tar::EntryType::Symlink);
            b.append_link(&mut h, &r, &t).map_err(werr)?;
        } else if ft.is_file() {
            if md.nlink() > 1 {
                let key = (md.dev(), md.ino());
                if let Some(first) = links.get(&key) {
                    h.set_entry_type(tar::EntryType::Link);
                    b.append_link(&mut h, &r, first).map_err(werr)?;
                    continue;
                }
                links.insert(key, r.clone());
            }
            h.set_entry_type(tar::EntryType::Regular);
            h.set_size(md.len());
            let f = fs::File::open(&full).map_err(ioe("open", &full))?;
            b.append_data(&mut h, &r, io::BufReader::new(f))
                .map_err(werr)?;
        } else {
            let kind = if ft.is_char_device() {
                tar::EntryType::Char
            } else if ft.is_block_device() {
                tar::EntryType::Block
            } else if ft.is_fifo() {
                tar::EntryType::Fifo
            } else {
                // Sockets have no tar form; docker leaves them out too.
                continue;
            };
            h.set_entry_type(kind);
            let _ = h.set_device_major(libc::major(md.rdev()));
            let _ = h.set_device_minor(libc::minor(md.rdev()));
            b.append_data(&mut h, &r, io::empty()).map_err(werr)?;
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn names(data: &[u8]) -> Vec<(String, u64)> {
        let mut a = tar::Archive::new(data);
        let mut out = Vec::new();
        if let Ok(es) = a.entries() {
            for e in es.flatten() {
                let m = e.header().mtime().unwrap_or(0);
                if let Ok(p) = e.path() {
                    out.push((p.display().to_string(), m));
                }
            }
        }
        out
    }

    #[test]
    fn sorted_deterministic_and_clamped() {
        let d = std::env::temp_dir().join(format!("ongi-layerdiff-{}", std::process::id()));
        let _ = fs::remove_dir_all(&d);
        assert!(fs::create_dir_all(d.join("b/c")).is_ok());
        assert!(fs::write(d.join("b/c/z"), "z").is_ok());
        assert!(fs::write(d.join("a"), "a").is_ok());
        assert!(fs::hard_link(d.join("a"), d.join("b/hl")).is_ok());
        assert!(fs::write(d.join("skipme"), "").is_ok());
        let one = write(&d, &["skipme"], Some(1000), Vec::new()).unwrap_or_default();
        let two = write(&d, &["skipme"], Some(1000), Vec::new()).unwrap_or_default();
        assert_eq!(one, two);
        let n = names(&one);
        let _ = fs::remove_dir_all(&d);
        let paths: Vec<&str> = n.iter().map(|x| x.0.as_str()).collect();
        assert_eq!(paths, ["a", "b", "b/c", "b/c/z", "b/hl"]);
        assert!(n.iter().all(|x| x.1 == 1000), "{n:?}");
    }
}
