//! Container filesystems as tars, and images from tars: `commit` (the container's upper
//! directory becomes a new top layer, overlayfs whiteouts turned back into OCI `.wh.`
//! entries), `export` (the merged filesystem), `import` (a rootfs tarball becomes a
//! one-layer image).

use std::ffi::CString;
use std::fs::{self, File};
use std::io::{self, Read, Seek, Write};
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::{FileTypeExt, MetadataExt};
use std::path::Path;

use serde_json::json;

use crate::container::{self, ContainerError};
use crate::image::{self, Image, ImageConfig, ImageError, RootFs};
use crate::ingest::{self, IngestError};
use crate::store::{self, io_err, Store, StoreError};

/// Why commit, export or import failed.
#[derive(Debug, thiserror::Error)]
pub enum CommitError {
    /// The store failed.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// Looking up the image failed.
    #[error(transparent)]
    Image(#[from] ImageError),
    /// Looking up or mounting the container failed.
    #[error(transparent)]
    Container(#[from] ContainerError),
    /// Taking the layer in failed.
    #[error(transparent)]
    Ingest(#[from] IngestError),
    /// Walking or tarring the filesystem failed.
    #[error("{op} {path}: {source}")]
    Io {
        /// What was being done.
        op: &'static str,
        /// The path.
        path: String,
        /// The cause.
        source: io::Error,
    },
    /// Downloading the tarball of `import URL` failed.
    #[error(transparent)]
    Download(#[from] crate::download::DownloadError),
    /// A `--change` instruction ongictl does not apply.
    #[error("invalid --change {0:?}: supported are CMD, ENTRYPOINT, ENV, WORKDIR, USER, LABEL, EXPOSE, STOPSIGNAL, HEALTHCHECK")]
    BadChange(String),
}

fn ioe(op: &'static str, p: &Path) -> impl FnOnce(io::Error) -> CommitError {
    let path = p.display().to_string();
    move |source| CommitError::Io { op, path, source }
}

/// Reads an extended attribute of `p` without following a symlink.
fn lgetxattr(p: &Path, name: &str) -> Option<Vec<u8>> {
    let cp = CString::new(p.as_os_str().as_bytes()).ok()?;
    let cn = CString::new(name).ok()?;
    let mut buf = [0u8; 64];
    // SAFETY: both strings are NUL-terminated and live across the call; the buffer pointer
    // and length describe `buf`, which the kernel writes at most `len` bytes into.
    let n =
        unsafe { libc::lgetxattr(cp.as_ptr(), cn.as_ptr(), buf.as_mut_ptr().cast(), buf.len()) };
    (n >= 0).then(|| buf[..n as usize].to_vec())
}

fn empty_file_header(mtime: u64) -> tar::Header {
    let mut h = tar::Header::new_gnu();
    h.set_entry_type(tar::EntryType::Regular);
    h.set_size(0);
    h.set_mode(0o644);
    h.set_mtime(mtime);
    h
}

fn new_builder<W: Write>(w: W) -> tar::Builder<W> {
    let mut b = tar::Builder::new(w);
    b.follow_symlinks(false);
    b.mode(tar::HeaderMode::Complete);
    b
}

/// `export`: the container's merged filesystem as a tar, to `out`. A stopped container's
/// rootfs is mounted for the copy and unmounted again.
pub fn export(store: &Store, key: &str, out: impl Write) -> Result<(), CommitError> {
    let id = container::resolve(store, key)?;
    let c = container::load(store, &id)?;
    let target = store.container_dir(&id).join("rootfs");
    let was_mounted = container::is_mountpoint(&target);
    let root = container::mount_rootfs(store, &c.settings)?;
    let mut b = new_builder(out);
    let r = tar_tree(&mut b, &root, Path::new(""), false, &[]).and_then(|_| {
        b.into_inner()
            .and_then(|mut w| w.flush())
            .map_err(ioe("write archive", &root))
    });
    if !was_mounted
        && !container::load(store, &id)
            .map(|c| c.running())
            .unwrap_or(false)
    {
        let _ = container::unmount_rootfs(store, &id);
    }
    r
}

/// Files the engine creates in every container's upper directory as mount points; an
/// empty one is no change of the user's.
const MOUNT_POINTS: [&str; 3] = ["etc/hostname", "etc/hosts", "etc/resolv.conf"];

/// `commit --pause` (docker's default): runs `f`, the commit, with a running container
/// frozen, so its upper directory does not change while it is read; thawed afterwards
/// whatever `f` returned. A container that was paused already stays paused.
pub fn paused<T>(
    store: &Store,
    key: &str,
    pause: bool,
    f: impl FnOnce() -> Result<T, CommitError>,
) -> Result<T, CommitError> {
    let c = container::load(store, &container::resolve(store, key)?)?;
    let froze = pause && c.state.status == "running";
    if froze {
        crate::manage::pause(store, &c)?;
        crate::system::pause_point("commit:paused");
    }
    let r = f();
    if froze {
        let thawed = container::load(store, &c.settings.id)
            .and_then(|now| crate::manage::unpause(store, &now));
        if let (Err(e), Ok(_)) = (thawed, &r) {
            return Err(e.into());
        }
    }
    r
}

/// `commit`: a new image whose top layer is the container's changes. Returns the image.
pub fn commit(
    store: &Store,
    key: &str,
    tag: Option<&str>,
    message: Option<&str>,
    author: Option<&str>,
    changes: &[String],
) -> Result<Image, CommitError> {
    let _gc = crate::prune::gc_lock(store, false)?;
    let id = container::resolve(store, key)?;
    let c = container::load(store, &id)?;
    let base = image::config(store, &c.settings.image_id)?;
    let upper = store.container_dir(&id).join("upper");
    let tmp = store::tempfile_path(&store.root.join("tmp"), "commit");
    let mut f = fs::OpenOptions::new()
        .read(true)
        .write(true)
        .create_new(true)
        .open(&tmp)
        .map_err(io_err("create", &tmp))?;
    let _ = fs::remove_file(&tmp);
    {
        let mut b = new_builder(&mut f);
        tar_upper(&mut b, &upper)?;
        b.into_inner()
            .and_then(|w| w.flush())
            .map_err(ioe("write archive", &tmp))?;
    }
    f.rewind().map_err(ioe("rewind", &tmp))?;
    let layer = ingest::layer_blob(
        store,
        &format!("of container {}", &id[..12]),
        io::BufReader::new(f),
    )?;
    let mut cfg = base.clone();
    cfg.created = Some(ongi::rfc3339_now());
    cfg.rootfs.diff_ids.push(layer.diff_id.clone());
    let mut hist = json!({
        "created": cfg.created,
        "created_by": c.settings.args().join(" "),
    });
    if let Some(m) = message {
        hist["comment"] = json!(m);
    }
    if let Some(a) = author {
        hist["author"] = json!(a);
    }
    cfg.history.push(hist);
    for ch in changes {
        apply_change(&mut cfg, ch)?;
    }
    let mut layers = Vec::new();
    let img = image::get(store, &c.settings.image_id)?
        .ok_or_else(|| ImageError::NotFound(c.settings.image_id.clone()))?;
    let blobs = crate::archive::layer_blobs(store, &img).map_err(|e| CommitError::Io {
        op: "read the base image's manifest",
        path: img.id.clone(),
        source: io::Error::other(e.to_string()),
    })?;
    for (b, d) in blobs.iter().zip(&base.rootfs.diff_ids) {
        let size = fs::metadata(store.blob_path(b)?)
            .map(|m| m.len())
            .unwrap_or(0);
        layers.push(ingest::Ingested {
            blob: b.clone(),
            blob_size: size,
            diff_id: d.clone(),
        });
    }
    layers.push(layer);
    let tags: Vec<String> = tag
        .map(|t| {
            crate::reference::Reference::parse(t)
                .map(|r| r.to_string())
                .map_err(ImageError::from)
        })
        .transpose()?
        .into_iter()
        .collect();
    Ok(ingest::record_image(store, &cfg, &layers, &tags)?)
}

fn tar_upper<W: Write>(b: &mut tar::Builder<W>, upper: &Path) -> Result<(), CommitError> {
    // The engine's mount points are skipped when they are empty files it made; anything
    // else in the upper directory is the container's change.
    let hidden: Vec<_> = MOUNT_POINTS
        .iter()
        .filter(|p| {
            fs::symlink_metadata(upper.join(p))
                .map(|m| m.is_file() && m.len() == 0)
                .unwrap_or(false)
        })
        .map(|p| upper.join(p))
        .collect();
    tar_tree(b, upper, Path::new(""), true, &hidden)
}

/// Tars the tree at `root` into `b`, leaving out `skip`. With `whiteouts`, `root` is an
/// overlayfs upper directory: 0/0 character devices become `.wh.<name>` files and opaque
/// directories get a `.wh..wh..opq` entry, as the OCI image spec writes them.
pub fn tar_tree<W: Write>(
    b: &mut tar::Builder<W>,
    root: &Path,
    rel: &Path,
    whiteouts: bool,
    skip: &[std::path::PathBuf],
) -> Result<(), CommitError> {
    let dir = root.join(rel);
    let mut names: Vec<_> = fs::read_dir(&dir)
        .map_err(ioe("read directory", &dir))?
        .filter_map(|e| e.ok().map(|e| e.file_name()))
        .collect();
    names.sort();
    for n in names {
        let full = dir.join(&n);
        if skip.contains(&full) {
            continue;
        }
        let r = rel.join(&n);
        let md = fs::symlink_metadata(&full).map_err(ioe("stat", &full))?;
        if whiteouts && md.file_type().is_char_device() && md.rdev() == 0 {
            let mut name = std::ffi::OsString::from(".wh.");
            name.push(&n);
            let mut h = empty_file_header(md.mtime().max(0) as u64);
            b.append_data(&mut h, rel.join(name), io::empty())
                .map_err(ioe("write archive entry for", &full))?;
            continue;
        }
        b.append_path_with_name(&full, &r)
            .map_err(ioe("write archive entry for", &full))?;
        if md.is_dir() {
            if whiteouts && lgetxattr(&full, "trusted.overlay.opaque").as_deref() == Some(b"y") {
                let mut h = empty_file_header(md.mtime().max(0) as u64);
                b.append_data(&mut h, r.join(".wh..wh..opq"), io::empty())
                    .map_err(ioe("write archive entry for", &full))?;
            }
            tar_tree(b, root, &r, whiteouts, skip)?;
        }
    }
    Ok(())
}

/// Parses a JSON array or shell form into an argv.
fn argv(v: &str) -> Vec<String> {
    serde_json::from_str::<Vec<String>>(v)
        .unwrap_or_else(|_| vec!["/bin/sh".into(), "-c".into(), v.to_string()])
}

/// Applies one Dockerfile-style `--change` instruction.
pub fn apply_change(cfg: &mut ImageConfig, change: &str) -> Result<(), CommitError> {
    let bad = || CommitError::BadChange(change.to_string());
    let (inst, val) = change
        .trim()
        .split_once(char::is_whitespace)
        .ok_or_else(bad)?;
    let val = val.trim();
    let c = &mut cfg.config;
    match inst.to_ascii_uppercase().as_str() {
        "CMD" => c.cmd = Some(argv(val)),
        "ENTRYPOINT" => c.entrypoint = Some(argv(val)),
        "WORKDIR" => c.working_dir = Some(val.to_string()),
        "USER" => c.user = Some(val.to_string()),
        "STOPSIGNAL" => c.stop_signal = Some(val.to_string()),
        "HEALTHCHECK" => {
            let h = crate::health::parse_instruction(val).map_err(|_| bad())?;
            c.healthcheck = Some(json!(h));
        }
        "ENV" => {
            let (k, v) = val
                .split_once('=')
                .or_else(|| val.split_once(char::is_whitespace))
                .ok_or_else(bad)?;
            let env = c.env.get_or_insert_with(Vec::new);
            env.retain(|e| e.split_once('=').map(|x| x.0) != Some(k));
            env.push(format!("{k}={}", v.trim()));
        }
        "LABEL" => {
            let (k, v) = val.split_once('=').ok_or_else(bad)?;
            c.labels
                .get_or_insert_with(Default::default)
                .insert(k.to_string(), v.trim_matches('"').to_string());
        }
        "EXPOSE" => {
            let p = if val.contains('/') {
                val.to_string()
            } else {
                format!("{val}/tcp")
            };
            c.exposed_ports
                .get_or_insert_with(Default::default)
                .insert(p, json!({}));
        }
        _ => return Err(bad()),
    }
    Ok(())
}

/// `import`: a rootfs tarball (plain or compressed) becomes a one-layer image.
pub fn import(
    store: &Store,
    src: impl Read,
    what: &str,
    tag: Option<&str>,
    message: Option<&str>,
    changes: &[String],
) -> Result<Image, CommitError> {
    let _gc = crate::prune::gc_lock(store, false)?;
    let layer = ingest::layer_blob(store, what, src)?;
    let now = ongi::rfc3339_now();
    let mut cfg = ImageConfig {
        created: Some(now.clone()),
        author: None,
        architecture: crate::registry::go_arch().to_string(),
        os: "linux".into(),
        config: Default::default(),
        rootfs: RootFs {
            kind: "layers".into(),
            diff_ids: vec![layer.diff_id.clone()],
        },
        history: vec![json!({
            "created": now,
            "created_by": "",
            "comment": message.map(str::to_string).unwrap_or_else(|| format!("Imported from {what}")),
        })],
    };
    for ch in changes {
        apply_change(&mut cfg, ch)?;
    }
    let tags: Vec<String> = tag
        .map(|t| {
            crate::reference::Reference::parse(t)
                .map(|r| r.to_string())
                .map_err(ImageError::from)
        })
        .transpose()?
        .into_iter()
        .collect();
    Ok(ingest::record_image(store, &cfg, &[layer], &tags)?)
}

/// Opens `path` (stdin for `-`, a download for an http(s) URL) for reading.
pub fn open_input(path: &str) -> Result<Box<dyn Read>, CommitError> {
    if crate::download::is_url(path) {
        return Ok(crate::download::open(path)?);
    }
    if path == "-" {
        return Ok(Box::new(io::stdin().lock()));
    }
    let f = File::open(path).map_err(ioe("open", Path::new(path)))?;
    Ok(Box::new(io::BufReader::new(f)))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cfg() -> ImageConfig {
        ImageConfig::default()
    }

    #[test]
    fn changes_apply_like_a_dockerfile() {
        let mut c = cfg();
        assert!(apply_change(&mut c, r#"CMD ["cat", "/f"]"#).is_ok());
        assert_eq!(
            c.config.cmd,
            Some(vec!["cat".to_string(), "/f".to_string()])
        );
        assert!(apply_change(&mut c, "ENTRYPOINT echo hi").is_ok());
        assert_eq!(
            c.config.entrypoint,
            Some(vec!["/bin/sh".into(), "-c".into(), "echo hi".into()])
        );
        assert!(apply_change(&mut c, "ENV A=1").is_ok());
        assert!(apply_change(&mut c, "ENV A 2").is_ok());
        assert_eq!(c.config.env, Some(vec!["A=2".to_string()]));
        assert!(apply_change(&mut c, "EXPOSE 80").is_ok());
        assert!(c
            .config
            .exposed_ports
            .as_ref()
            .is_some_and(|p| p.contains_key("80/tcp")));
        assert!(apply_change(&mut c, "RUN rm -rf /").is_err());
        assert!(apply_change(&mut c, "CMD").is_err());
    }

    /// An overlayfs upper dir's whiteout (0/0 char device) and opaque directory come out as
    /// the OCI spec's `.wh.` entries.
    #[test]
    fn whiteouts_become_wh_entries() {
        let d = std::env::temp_dir().join(format!("ongi-commit-test-{}", std::process::id()));
        let _ = fs::remove_dir_all(&d);
        let upper = d.join("upper");
        assert!(fs::create_dir_all(upper.join("opq")).is_ok());
        assert!(fs::write(upper.join("kept"), "x").is_ok());
        let wh = upper.join("gone");
        let made = nix::sys::stat::mknod(
            &wh,
            nix::sys::stat::SFlag::S_IFCHR,
            nix::sys::stat::Mode::from_bits_truncate(0o600),
            0,
        );
        let opq = CString::new(upper.join("opq").as_os_str().as_bytes()).unwrap_or_default();
        // SAFETY: NUL-terminated strings and a 1-byte value buffer, all alive for the call.
        let set = unsafe {
            libc::setxattr(
                opq.as_ptr(),
                c"trusted.overlay.opaque".as_ptr(),
                b"y".as_ptr().cast(),
                1,
                0,
            )
        };
        if made.is_err() || set != 0 {
            eprintln!("SKIP: mknod/trusted xattrs need root");
            let _ = fs::remove_dir_all(&d);
            return;
        }
        let mut b = new_builder(Vec::new());
        assert!(tar_upper(&mut b, &upper).is_ok());
        let data = b.into_inner().unwrap_or_default();
        let mut a = tar::Archive::new(&data[..]);
        let names: Vec<String> = a
            .entries()
            .map(|es| {
                es.filter_map(|e| e.ok())
                    .filter_map(|e| e.path().ok().map(|p| p.display().to_string()))
                    .collect()
            })
            .unwrap_or_default();
        let _ = fs::remove_dir_all(&d);
        assert!(names.contains(&".wh.gone".to_string()), "{names:?}");
        assert!(names.contains(&"opq/.wh..wh..opq".to_string()), "{names:?}");
        assert!(names.contains(&"kept".to_string()), "{names:?}");
        assert!(!names.contains(&"gone".to_string()), "{names:?}");
    }
}
