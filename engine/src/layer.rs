//! Unpacking one image layer (a tar stream, gzip, zstd or plain) into its own directory,
//! ready to be an overlayfs lower: OCI/AUFS whiteouts become overlayfs whiteouts (a 0/0
//! character device; `trusted.overlay.opaque=y` on an opaque directory), ownership, modes,
//! mtimes, xattrs, hard links, device nodes and fifos are kept. The uncompressed stream is
//! hashed on the way through and must match the image config's diff id.
//!
//! Each layer unpacks into `layers/@tmp-*` and is renamed to `layers/<chain id>` only when
//! complete and verified, so layers never depend on each other and can be unpacked in
//! parallel, and a directory that exists is whole.

use std::ffi::CString;
use std::fs;
use std::io::{self, BufRead, BufReader, Read};
use std::os::unix::ffi::OsStrExt;
use std::path::{Component, Path, PathBuf};

use sha2::{Digest, Sha256};

/// Why a layer could not be unpacked.
#[derive(Debug, thiserror::Error)]
pub enum LayerError {
    /// Reading or writing failed.
    #[error("layer {layer}: {op} {path}: {}", crate::store::error_chain(.source))]
    Io {
        /// The layer's digest.
        layer: String,
        /// What was being done.
        op: &'static str,
        /// The path inside the layer (or the layer directory).
        path: PathBuf,
        /// The cause.
        source: io::Error,
    },
    /// The archive names a path outside the layer.
    #[error("layer {layer}: entry {path:?} points outside the layer")]
    Escape {
        /// The layer's digest.
        layer: String,
        /// The entry's path as in the archive.
        path: PathBuf,
    },
    /// The uncompressed content is not what the image config says.
    #[error(
        "layer {layer}: uncompressed content hashes to {actual}, the image config says {expected}"
    )]
    DiffId {
        /// The layer's digest.
        layer: String,
        /// The diff id from the image config.
        expected: String,
        /// What the content hashes to.
        actual: String,
    },
}

/// What unpacking measured.
#[derive(Debug, Clone, Copy, Default)]
pub struct Unpacked {
    /// Sum of regular file sizes: what `docker images` counts as size.
    pub size: u64,
}

struct HashingReader<R> {
    inner: R,
    hasher: Sha256,
}

impl<R: Read> Read for HashingReader<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.hasher.update(&buf[..n]);
        Ok(n)
    }
}

/// Picks the decompressor by magic bytes, whatever the media type claims (docker does the
/// same; some registries serve gzip layers under the plain tar type).
pub fn decompress<'a>(r: impl Read + 'a) -> io::Result<Box<dyn Read + 'a>> {
    let mut r = BufReader::with_capacity(1 << 16, r);
    let head = r.fill_buf()?;
    Ok(if head.starts_with(&[0x1f, 0x8b]) {
        Box::new(flate2::bufread::MultiGzDecoder::new(r))
    } else if head.starts_with(&[0x28, 0xb5, 0x2f, 0xfd]) {
        Box::new(zstd::stream::read::Decoder::with_buffer(r)?)
    } else {
        Box::new(r)
    })
}

/// Unpacks the (possibly compressed) layer stream `blob` into `dest`, which must not exist,
/// verifying the uncompressed content against `diff_id`. On error, `dest` is removed.
pub fn unpack(
    layer: &str,
    blob: impl Read,
    diff_id: &str,
    dest: &Path,
) -> Result<Unpacked, LayerError> {
    let r = unpack_inner(layer, blob, diff_id, dest);
    if r.is_err() {
        let _ = fs::remove_dir_all(dest);
    }
    r
}

fn unpack_inner(
    layer: &str,
    blob: impl Read,
    diff_id: &str,
    dest: &Path,
) -> Result<Unpacked, LayerError> {
    let ioe = |op: &'static str, path: &Path| {
        let layer = layer.to_string();
        let path = path.to_path_buf();
        move |source| LayerError::Io {
            layer,
            op,
            path,
            source,
        }
    };
    fs::create_dir(dest).map_err(ioe("create", dest))?;
    let canon_root = fs::canonicalize(dest).map_err(ioe("resolve", dest))?;
    let mut hashed = HashingReader {
        inner: decompress(blob).map_err(ioe("read", dest))?,
        hasher: Sha256::new(),
    };
    let mut size = 0u64;
    {
        let mut ar = tar::Archive::new(&mut hashed);
        ar.set_preserve_permissions(true);
        ar.set_preserve_ownerships(true);
        ar.set_preserve_mtime(true);
        ar.set_unpack_xattrs(true);
        ar.set_overwrite(true);
        let entries = ar.entries().map_err(ioe("read archive", dest))?;
        for entry in entries {
            let mut entry = entry.map_err(ioe("read archive", dest))?;
            let raw = entry
                .path()
                .map_err(ioe("read entry name", dest))?
                .into_owned();
            let rel = clean(&raw).ok_or_else(|| LayerError::Escape {
                layer: layer.to_string(),
                path: raw.clone(),
            })?;
            if rel.as_os_str().is_empty() {
                continue; // "./" itself
            }
            let name = rel
                .file_name()
                .map(|n| n.as_bytes().to_vec())
                .unwrap_or_default();
            let parent = rel.parent().unwrap_or(Path::new(""));
            if name == b".wh..wh..opq" {
                let dir = inside(&canon_root, &dest.join(parent), layer, &raw)?;
                fs::create_dir_all(&dir).map_err(ioe("create", &dir))?;
                set_xattr(&dir, "trusted.overlay.opaque", b"y")
                    .map_err(ioe("mark opaque", &dir))?;
                continue;
            }
            if let Some(hidden) = name.strip_prefix(b".wh.") {
                let dir = inside(&canon_root, &dest.join(parent), layer, &raw)?;
                fs::create_dir_all(&dir).map_err(ioe("create", &dir))?;
                let target = dir.join(std::ffi::OsStr::from_bytes(hidden));
                let _ = fs::remove_dir_all(&target).or_else(|_| fs::remove_file(&target));
                mknod(&target, libc::S_IFCHR, 0).map_err(ioe("make whiteout", &target))?;
                continue;
            }
            let kind = entry.header().entry_type();
            if kind.is_character_special() || kind.is_block_special() || kind.is_fifo() {
                let dir = inside(&canon_root, &dest.join(parent), layer, &raw)?;
                fs::create_dir_all(&dir).map_err(ioe("create", &dir))?;
                let target = dest.join(&rel);
                let _ = fs::remove_file(&target);
                let h = entry.header();
                let mode = h.mode().map_err(ioe("read mode", &target))? & 0o7777;
                let fmt = if kind.is_character_special() {
                    libc::S_IFCHR
                } else if kind.is_block_special() {
                    libc::S_IFBLK
                } else {
                    libc::S_IFIFO
                };
                let dev = libc::makedev(
                    h.device_major().ok().flatten().unwrap_or(0),
                    h.device_minor().ok().flatten().unwrap_or(0),
                );
                mknod(&target, fmt | mode, dev).map_err(ioe("make device node", &target))?;
                let (uid, gid) = (h.uid().unwrap_or(0), h.gid().unwrap_or(0));
                std::os::unix::fs::lchown(&target, Some(uid as u32), Some(gid as u32))
                    .map_err(ioe("chown", &target))?;
                continue;
            }
            if kind.is_file() || kind == tar::EntryType::Continuous {
                size += entry.header().size().unwrap_or(0);
            }
            let ok = entry.unpack_in(dest).map_err(ioe("unpack", &rel))?;
            if !ok {
                return Err(LayerError::Escape {
                    layer: layer.to_string(),
                    path: raw,
                });
            }
        }
    }
    // The end-of-archive blocks and any padding after them are part of the diff id.
    io::copy(&mut hashed, &mut io::sink()).map_err(ioe("read archive", dest))?;
    let actual = format!("sha256:{}", hex::encode(hashed.hasher.finalize()));
    if actual != diff_id {
        return Err(LayerError::DiffId {
            layer: layer.to_string(),
            expected: diff_id.to_string(),
            actual,
        });
    }
    Ok(Unpacked { size })
}

/// The entry path made relative, with `.` dropped; None if it climbs out with `..`.
fn clean(p: &Path) -> Option<PathBuf> {
    let mut out = PathBuf::new();
    for c in p.components() {
        match c {
            Component::Normal(n) => out.push(n),
            Component::CurDir | Component::RootDir => {}
            Component::ParentDir => {
                if !out.pop() {
                    return None;
                }
            }
            Component::Prefix(_) => return None,
        }
    }
    Some(out)
}

/// `dir` made (if missing) and checked to resolve inside the layer: an earlier entry may
/// have made a path component a symlink pointing anywhere.
fn inside(canon_root: &Path, dir: &Path, layer: &str, raw: &Path) -> Result<PathBuf, LayerError> {
    let _ = fs::create_dir_all(dir);
    match fs::canonicalize(dir) {
        Ok(c) if c.starts_with(canon_root) => Ok(c),
        _ => Err(LayerError::Escape {
            layer: layer.to_string(),
            path: raw.to_path_buf(),
        }),
    }
}

fn cstr(p: &Path) -> io::Result<CString> {
    CString::new(p.as_os_str().as_bytes()).map_err(|_| io::Error::from(io::ErrorKind::InvalidInput))
}

fn mknod(p: &Path, mode: libc::mode_t, dev: libc::dev_t) -> io::Result<()> {
    let c = cstr(p)?;
    // SAFETY: c is a valid NUL-terminated path; mknod does not keep the pointer.
    if unsafe { libc::mknod(c.as_ptr(), mode, dev) } != 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(())
}

fn set_xattr(p: &Path, name: &str, value: &[u8]) -> io::Result<()> {
    let c = cstr(p)?;
    let n = CString::new(name).map_err(|_| io::Error::from(io::ErrorKind::InvalidInput))?;
    // SAFETY: both strings are NUL-terminated; value points at value.len() readable bytes.
    if unsafe {
        libc::lsetxattr(
            c.as_ptr(),
            n.as_ptr(),
            value.as_ptr().cast(),
            value.len(),
            0,
        )
    } != 0
    {
        return Err(io::Error::last_os_error());
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::{FileTypeExt, MetadataExt};

    fn tar_with(build: impl FnOnce(&mut tar::Builder<Vec<u8>>)) -> Vec<u8> {
        let mut b = tar::Builder::new(Vec::new());
        build(&mut b);
        b.into_inner().unwrap()
    }

    fn add(
        b: &mut tar::Builder<Vec<u8>>,
        path: &str,
        kind: tar::EntryType,
        data: &[u8],
        link: Option<&str>,
    ) {
        let mut h = tar::Header::new_gnu();
        h.set_entry_type(kind);
        h.set_size(data.len() as u64);
        h.set_mode(if kind.is_dir() { 0o755 } else { 0o644 });
        h.set_uid(1000);
        h.set_gid(1001);
        h.set_mtime(1_000_000);
        if let Some(l) = link {
            h.set_link_name(l).unwrap();
        }
        b.append_data(&mut h, path, data).unwrap();
    }

    fn digest(v: &[u8]) -> String {
        crate::store::sha256_digest(v)
    }

    fn tmpdir(tag: &str) -> PathBuf {
        let d = std::env::temp_dir().join(format!("ongi-layer-test-{tag}-{}", std::process::id()));
        let _ = fs::remove_dir_all(&d);
        fs::create_dir_all(&d).unwrap();
        d
    }

    #[test]
    fn whiteouts_ownership_links_and_gzip() {
        let t = tar_with(|b| {
            add(b, "etc/", tar::EntryType::Directory, b"", None);
            add(
                b,
                "etc/passwd",
                tar::EntryType::Regular,
                b"root:x:0:0\n",
                None,
            );
            add(
                b,
                "etc/pw-link",
                tar::EntryType::Link,
                b"",
                Some("etc/passwd"),
            );
            add(b, "etc/.wh.gone", tar::EntryType::Regular, b"", None);
            add(b, "var/.wh..wh..opq", tar::EntryType::Regular, b"", None);
        });
        let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
        io::Write::write_all(&mut gz, &t).unwrap();
        let gz = gz.finish().unwrap();
        let d = tmpdir("wh");
        let dest = d.join("l");
        let u = unpack("test", &gz[..], &digest(&t), &dest).unwrap();
        assert_eq!(u.size, 11);
        let m = fs::metadata(dest.join("etc/passwd")).unwrap();
        assert_eq!(
            (m.uid(), m.gid(), m.mode() & 0o777, m.nlink()),
            (1000, 1001, 0o644, 2)
        );
        let w = fs::symlink_metadata(dest.join("etc/gone")).unwrap();
        assert!(
            w.file_type().is_char_device() && w.rdev() == 0,
            "whiteout is a 0/0 char device"
        );
        let mut buf = [0u8; 4];
        let c = cstr(&dest.join("var")).unwrap();
        let n = CString::new("trusted.overlay.opaque").unwrap();
        // SAFETY: valid strings and a 4-byte buffer.
        let k = unsafe { libc::lgetxattr(c.as_ptr(), n.as_ptr(), buf.as_mut_ptr().cast(), 4) };
        assert_eq!(&buf[..k.max(0) as usize], b"y");
        fs::remove_dir_all(&d).unwrap();
    }

    #[test]
    fn wrong_diff_id_leaves_nothing() {
        let t = tar_with(|b| add(b, "a", tar::EntryType::Regular, b"x", None));
        let d = tmpdir("diff");
        let dest = d.join("l");
        let e = unpack("test", &t[..], &digest(b"other"), &dest).unwrap_err();
        assert!(matches!(e, LayerError::DiffId { .. }), "{e}");
        assert!(!dest.exists());
        fs::remove_dir_all(&d).unwrap();
    }

    #[test]
    fn symlink_escape_is_refused() {
        let t = tar_with(|b| {
            add(b, "esc", tar::EntryType::Symlink, b"", Some("/tmp"));
            add(b, "esc/.wh.x", tar::EntryType::Regular, b"", None);
        });
        let d = tmpdir("esc");
        let dest = d.join("l");
        let e = unpack("test", &t[..], &digest(&t), &dest).unwrap_err();
        assert!(matches!(e, LayerError::Escape { .. }), "{e}");
        fs::remove_dir_all(&d).unwrap();
        let t = tar_with(|b| {
            add(b, "esc", tar::EntryType::Symlink, b"", Some("/tmp"));
            add(b, "esc/owned", tar::EntryType::Regular, b"x", None);
        });
        let d = tmpdir("esc2");
        assert!(unpack("test", &t[..], &digest(&t), &d.join("l")).is_err());
        assert!(!Path::new("/tmp/owned").exists());
        fs::remove_dir_all(&d).unwrap();
    }
}
