//! `save` and `load`: image archives.
//!
//! `save` writes what docker 25+ writes: one tar that is at once a docker-archive
//! (`manifest.json`, `repositories`) and an OCI image layout (`oci-layout`, `index.json`,
//! `blobs/sha256/`), layers uncompressed and named by diff id, so `docker load`,
//! `skopeo ... docker-archive:` and `skopeo ... oci-archive:` all read it.
//! `load` reads either kind (the docker-archive's `manifest.json` first, else the OCI
//! `index.json`), plain or compressed.

use std::collections::BTreeSet;
use std::fs::{self, File};
use std::io::{self, Read, Seek, Write};
use std::path::{Component, Path, PathBuf};

use serde::Deserialize;
use serde_json::{json, Value};

use crate::image::{self, Image, ImageConfig, ImageError};
use crate::ingest::{self, IngestError, Ingested};
use crate::layer;
use crate::reference::Reference;
use crate::store::{self, io_err, Store, StoreError};

/// Why a save or load failed.
#[derive(Debug, thiserror::Error)]
pub enum ArchiveError {
    /// The store failed.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// Looking up an image failed.
    #[error(transparent)]
    Image(#[from] ImageError),
    /// Taking a layer in failed.
    #[error(transparent)]
    Ingest(#[from] IngestError),
    /// Writing the archive failed.
    #[error("write archive: {0}")]
    Write(io::Error),
    /// Reading the archive failed.
    #[error("read archive: {0}")]
    Read(io::Error),
    /// The archive is neither a docker-archive nor an OCI layout, or is inconsistent.
    #[error("invalid archive: {0}")]
    Invalid(String),
    /// A blob the image needs is missing from the store.
    #[error("image {image}: blob {digest} is not in the store (pull the image again)")]
    MissingBlob {
        /// The image.
        image: String,
        /// The blob.
        digest: String,
    },
}

#[derive(Deserialize)]
struct MiniManifest {
    #[serde(default)]
    config: Option<Desc>,
    #[serde(default)]
    layers: Vec<Desc>,
    #[serde(default)]
    manifests: Option<Vec<Desc>>,
}

#[derive(Deserialize, Clone)]
#[serde(rename_all = "camelCase")]
struct Desc {
    digest: String,
    #[serde(default)]
    annotations: Option<std::collections::BTreeMap<String, String>>,
    #[serde(default)]
    platform: Option<Value>,
}

/// The stored manifest's layer blob digests, bottom first.
pub fn layer_blobs(store: &Store, img: &Image) -> Result<Vec<String>, ArchiveError> {
    let md = img
        .manifest_digest
        .clone()
        .ok_or_else(|| ArchiveError::MissingBlob {
            image: img.id.clone(),
            digest: "(manifest)".into(),
        })?;
    let raw = store
        .read_blob(&md)
        .map_err(|_| ArchiveError::MissingBlob {
            image: img.id.clone(),
            digest: md.clone(),
        })?;
    let m: MiniManifest = serde_json::from_slice(&raw)
        .map_err(|e| ArchiveError::Invalid(format!("manifest {md}: {e}")))?;
    Ok(m.layers.into_iter().map(|d| d.digest).collect())
}

/// One image to save and the name it is saved under (none when given by id).
pub struct SaveItem {
    /// The image.
    pub image: Image,
    /// Fully qualified `registry/repo:tag` names to record.
    pub tags: Vec<String>,
}

fn append_bytes<W: Write>(
    b: &mut tar::Builder<W>,
    name: &str,
    data: &[u8],
) -> Result<(), ArchiveError> {
    let mut h = tar::Header::new_ustar();
    h.set_size(data.len() as u64);
    h.set_mode(0o644);
    h.set_mtime(0);
    h.set_entry_type(tar::EntryType::Regular);
    b.append_data(&mut h, name, data)
        .map_err(ArchiveError::Write)
}

/// Writes `items` as one archive to `out`.
pub fn save(store: &Store, items: &[SaveItem], out: impl Write) -> Result<(), ArchiveError> {
    let mut b = tar::Builder::new(out);
    let mut dirh = tar::Header::new_ustar();
    dirh.set_entry_type(tar::EntryType::Directory);
    dirh.set_mode(0o755);
    dirh.set_mtime(0);
    dirh.set_size(0);
    for d in ["blobs/", "blobs/sha256/"] {
        b.append_data(&mut dirh.clone(), d, io::empty())
            .map_err(ArchiveError::Write)?;
    }
    let mut written = BTreeSet::new();
    let mut docker_manifest = Vec::new();
    let mut index = Vec::new();
    let mut repositories = serde_json::Map::new();
    for it in items {
        let img = &it.image;
        let cfg_raw = store.read_blob(&img.id)?;
        let cfg: ImageConfig = serde_json::from_slice(&cfg_raw)
            .map_err(|e| ArchiveError::Invalid(format!("config {}: {e}", img.id)))?;
        let blobs = layer_blobs(store, img)?;
        if blobs.len() != cfg.rootfs.diff_ids.len() {
            return Err(ArchiveError::Invalid(format!(
                "image {}: manifest and config disagree on the layer count",
                img.id
            )));
        }
        let mut layer_descs = Vec::new();
        let mut layer_paths = Vec::new();
        for (blob, diff) in blobs.iter().zip(&cfg.rootfs.diff_ids) {
            let hexd = store::digest_hex(diff)?.to_string();
            let path = format!("blobs/sha256/{hexd}");
            let size = if written.contains(diff) {
                None
            } else {
                Some(append_layer(store, &mut b, img, blob, diff, &path)?)
            };
            let size = match size {
                Some(s) => s,
                None => layer_tar_size(store, blob)?,
            };
            written.insert(diff.clone());
            layer_paths.push(path);
            layer_descs.push(json!({
                "mediaType": "application/vnd.oci.image.layer.v1.tar",
                "digest": diff,
                "size": size,
            }));
        }
        let cfg_path = format!("blobs/sha256/{}", store::digest_hex(&img.id)?);
        if written.insert(img.id.clone()) {
            append_bytes(&mut b, &cfg_path, &cfg_raw)?;
        }
        let manifest = json!({
            "schemaVersion": 2,
            "mediaType": "application/vnd.oci.image.manifest.v1+json",
            "config": {
                "mediaType": "application/vnd.oci.image.config.v1+json",
                "digest": img.id,
                "size": cfg_raw.len(),
            },
            "layers": layer_descs,
        });
        let mraw =
            serde_json::to_vec(&manifest).map_err(|e| ArchiveError::Invalid(e.to_string()))?;
        let mdigest = store::sha256_digest(&mraw);
        if written.insert(mdigest.clone()) {
            append_bytes(
                &mut b,
                &format!("blobs/sha256/{}", store::digest_hex(&mdigest)?),
                &mraw,
            )?;
        }
        let mut repo_tags = Vec::new();
        for t in &it.tags {
            let r = Reference::parse(t).map_err(|e| ArchiveError::Invalid(e.to_string()))?;
            repo_tags.push(r.familiar());
            let tag = r.tag.clone().unwrap_or_else(|| "latest".into());
            let top = cfg
                .rootfs
                .diff_ids
                .last()
                .map(|d| store::digest_hex(d).unwrap_or_default().to_string())
                .unwrap_or_default();
            let e = repositories
                .entry(r.familiar_name())
                .or_insert_with(|| json!({}));
            if let Some(m) = e.as_object_mut() {
                m.insert(tag.clone(), json!(top));
            }
            index.push(json!({
                "mediaType": "application/vnd.oci.image.manifest.v1+json",
                "digest": mdigest,
                "size": mraw.len(),
                "annotations": {
                    "io.containerd.image.name": r.to_string(),
                    "org.opencontainers.image.ref.name": tag,
                },
            }));
        }
        if it.tags.is_empty() {
            index.push(json!({
                "mediaType": "application/vnd.oci.image.manifest.v1+json",
                "digest": mdigest,
                "size": mraw.len(),
            }));
        }
        docker_manifest.push(json!({
            "Config": cfg_path,
            "RepoTags": if repo_tags.is_empty() { Value::Null } else { json!(repo_tags) },
            "Layers": layer_paths,
        }));
    }
    let idx = json!({
        "schemaVersion": 2,
        "mediaType": "application/vnd.oci.image.index.v1+json",
        "manifests": index,
    });
    append_bytes(&mut b, "index.json", idx.to_string().as_bytes())?;
    append_bytes(&mut b, "oci-layout", br#"{"imageLayoutVersion":"1.0.0"}"#)?;
    append_bytes(
        &mut b,
        "manifest.json",
        Value::Array(docker_manifest).to_string().as_bytes(),
    )?;
    if !repositories.is_empty() {
        append_bytes(
            &mut b,
            "repositories",
            Value::Object(repositories).to_string().as_bytes(),
        )?;
    }
    b.into_inner()
        .and_then(|mut w| w.flush())
        .map_err(ArchiveError::Write)?;
    Ok(())
}

fn open_blob(store: &Store, img: &Image, blob: &str) -> Result<File, ArchiveError> {
    let p = store.blob_path(blob)?;
    File::open(&p).map_err(|_| ArchiveError::MissingBlob {
        image: img.id.clone(),
        digest: blob.to_string(),
    })
}

fn layer_tar_size(store: &Store, blob: &str) -> Result<u64, ArchiveError> {
    let p = store.blob_path(blob)?;
    let f = File::open(&p).map_err(io_err("open blob", &p))?;
    let mut r = layer::decompress(io::BufReader::new(f)).map_err(ArchiveError::Read)?;
    io::copy(&mut r, &mut io::sink()).map_err(ArchiveError::Read)
}

/// Appends one layer, uncompressed, verified against its diff id; returns its size. The
/// tar header needs the size first, so the layer is decompressed to a temporary file.
fn append_layer<W: Write>(
    store: &Store,
    b: &mut tar::Builder<W>,
    img: &Image,
    blob: &str,
    diff_id: &str,
    path: &str,
) -> Result<u64, ArchiveError> {
    let f = open_blob(store, img, blob)?;
    let mut r = layer::decompress(io::BufReader::new(f)).map_err(ArchiveError::Read)?;
    let tmp = store::tempfile_path(&store.root.join("tmp"), "save");
    let mut t = fs::OpenOptions::new()
        .read(true)
        .write(true)
        .create_new(true)
        .open(&tmp)
        .map_err(io_err("create", &tmp))?;
    // Unlinked at once: nothing to clean up whatever happens next.
    let _ = fs::remove_file(&tmp);
    let (digest, size) = {
        let mut hw = HashTee {
            w: &mut t,
            h: <sha2::Sha256 as sha2::Digest>::new(),
        };
        let n = io::copy(&mut r, &mut hw).map_err(ArchiveError::Read)?;
        (
            format!(
                "sha256:{}",
                hex::encode(<sha2::Sha256 as sha2::Digest>::finalize(hw.h))
            ),
            n,
        )
    };
    if digest != diff_id {
        return Err(IngestError::DiffId {
            what: blob.to_string(),
            expected: diff_id.to_string(),
            actual: digest,
        }
        .into());
    }
    t.rewind().map_err(ArchiveError::Read)?;
    let mut h = tar::Header::new_ustar();
    h.set_size(size);
    h.set_mode(0o644);
    h.set_mtime(0);
    h.set_entry_type(tar::EntryType::Regular);
    b.append_data(&mut h, path, &mut t)
        .map_err(ArchiveError::Write)?;
    Ok(size)
}

struct HashTee<'a, W> {
    w: &'a mut W,
    h: sha2::Sha256,
}

impl<W: Write> Write for HashTee<'_, W> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let n = self.w.write(buf)?;
        sha2::Digest::update(&mut self.h, &buf[..n]);
        Ok(n)
    }
    fn flush(&mut self) -> io::Result<()> {
        self.w.flush()
    }
}

/// What `load` loaded: per image, its id and the names it got.
pub struct Loaded {
    /// The image id.
    pub id: String,
    /// Familiar names (`busybox:latest`).
    pub names: Vec<String>,
}

/// Reads an archive (docker-archive or OCI layout, possibly compressed) and records its
/// images. The archive is unpacked under the store's `tmp/` (removed afterwards) because
/// both formats need random access.
pub fn load(store: &Store, input: impl Read) -> Result<Vec<Loaded>, ArchiveError> {
    let _gc = crate::prune::gc_lock(store, false)?;
    let dir = store::tempfile_path(&store.root.join("tmp"), "load");
    let r = load_in(store, input, &dir);
    let _ = fs::remove_dir_all(&dir);
    r
}

fn load_in(store: &Store, input: impl Read, dir: &Path) -> Result<Vec<Loaded>, ArchiveError> {
    fs::create_dir_all(dir).map_err(io_err("create directory", dir))?;
    let plain = layer::decompress(input).map_err(ArchiveError::Read)?;
    let mut a = tar::Archive::new(plain);
    a.set_preserve_permissions(false);
    a.set_unpack_xattrs(false);
    a.unpack(dir).map_err(ArchiveError::Read)?;
    if dir.join("manifest.json").is_file() {
        load_docker(store, dir)
    } else if dir.join("index.json").is_file() {
        load_oci(store, dir)
    } else {
        Err(ArchiveError::Invalid(
            "neither manifest.json (docker-archive) nor index.json (OCI layout) found".into(),
        ))
    }
}

/// A path named inside the archive, kept inside it.
fn inside(dir: &Path, name: &str) -> Result<PathBuf, ArchiveError> {
    let p = Path::new(name);
    if p.components()
        .any(|c| !matches!(c, Component::Normal(_) | Component::CurDir))
    {
        return Err(ArchiveError::Invalid(format!(
            "path {name:?} points outside the archive"
        )));
    }
    Ok(dir.join(p))
}

fn read_in(dir: &Path, name: &str) -> Result<Vec<u8>, ArchiveError> {
    let p = inside(dir, name)?;
    fs::read(&p).map_err(|e| ArchiveError::Invalid(format!("{name}: {e}")))
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct DockerEntry {
    config: String,
    #[serde(default)]
    repo_tags: Option<Vec<String>>,
    layers: Vec<String>,
}

fn ingest_file(store: &Store, dir: &Path, name: &str) -> Result<Ingested, ArchiveError> {
    let p = inside(dir, name)?;
    let f = File::open(&p).map_err(|e| ArchiveError::Invalid(format!("layer {name}: {e}")))?;
    Ok(ingest::layer_blob(store, name, io::BufReader::new(f))?)
}

fn full_names(names: &[String]) -> Result<Vec<String>, ArchiveError> {
    names
        .iter()
        .map(|n| {
            Reference::parse(n)
                .map(|r| r.to_string())
                .map_err(|e| ArchiveError::Invalid(format!("RepoTags: {e}")))
        })
        .collect()
}

fn load_docker(store: &Store, dir: &Path) -> Result<Vec<Loaded>, ArchiveError> {
    let entries: Vec<DockerEntry> = serde_json::from_slice(&read_in(dir, "manifest.json")?)
        .map_err(|e| ArchiveError::Invalid(format!("manifest.json: {e}")))?;
    let mut out = Vec::new();
    for e in entries {
        let cfg = read_in(dir, &e.config)?;
        let mut layers = Vec::new();
        for l in &e.layers {
            layers.push(ingest_file(store, dir, l)?);
        }
        let tags = full_names(&e.repo_tags.unwrap_or_default())?;
        let img = ingest::record_image_raw(store, &cfg, &layers, &tags)?;
        out.push(loaded(&img, &tags));
    }
    Ok(out)
}

fn loaded(img: &Image, tags: &[String]) -> Loaded {
    Loaded {
        id: img.id.clone(),
        names: tags
            .iter()
            .map(|t| {
                Reference::parse(t)
                    .map(|r| r.familiar())
                    .unwrap_or(t.clone())
            })
            .collect(),
    }
}

fn blob_in(dir: &Path, digest: &str) -> Result<String, ArchiveError> {
    let hex = store::digest_hex(digest)?;
    let name = format!("blobs/sha256/{hex}");
    if !inside(dir, &name)?.is_file() {
        return Err(ArchiveError::Invalid(format!("blob {digest} missing")));
    }
    Ok(name)
}

fn load_oci(store: &Store, dir: &Path) -> Result<Vec<Loaded>, ArchiveError> {
    let idx: MiniManifest = serde_json::from_slice(&read_in(dir, "index.json")?)
        .map_err(|e| ArchiveError::Invalid(format!("index.json: {e}")))?;
    let mut out = Vec::new();
    for d in idx.manifests.unwrap_or_default() {
        let name = d.annotations.as_ref().and_then(|a| {
            a.get("io.containerd.image.name").cloned().or_else(|| {
                a.get("org.opencontainers.image.ref.name")
                    .filter(|n| n.contains(':') || n.contains('/'))
                    .cloned()
            })
        });
        let tags = full_names(&name.into_iter().collect::<Vec<_>>())?;
        let img = load_oci_manifest(store, dir, &d.digest, &tags, 0)?;
        out.push(loaded(&img, &tags));
    }
    Ok(out)
}

fn load_oci_manifest(
    store: &Store,
    dir: &Path,
    digest: &str,
    tags: &[String],
    depth: u32,
) -> Result<Image, ArchiveError> {
    let raw = read_in(dir, &blob_in(dir, digest)?)?;
    if store::sha256_digest(&raw) != digest {
        return Err(ArchiveError::Invalid(format!(
            "manifest {digest}: content does not match its digest"
        )));
    }
    let m: MiniManifest = serde_json::from_slice(&raw)
        .map_err(|e| ArchiveError::Invalid(format!("manifest {digest}: {e}")))?;
    if let Some(list) = m.manifests {
        if depth > 2 {
            return Err(ArchiveError::Invalid("indexes nested too deep".into()));
        }
        let arch = crate::registry::go_arch();
        let pick = list
            .iter()
            .find(|d| {
                d.platform
                    .as_ref()
                    .is_some_and(|p| p["os"] == "linux" && p["architecture"] == arch)
            })
            .or(list.first())
            .ok_or_else(|| ArchiveError::Invalid(format!("index {digest} is empty")))?;
        return load_oci_manifest(store, dir, &pick.digest, tags, depth + 1);
    }
    let cfg = m
        .config
        .ok_or_else(|| ArchiveError::Invalid(format!("manifest {digest} has no config")))?;
    let cfg_raw = read_in(dir, &blob_in(dir, &cfg.digest)?)?;
    let mut layers = Vec::new();
    for l in &m.layers {
        layers.push(ingest_file(store, dir, &blob_in(dir, &l.digest)?)?);
    }
    Ok(ingest::record_image_raw(store, &cfg_raw, &layers, tags)?)
}

/// The images `names` resolve to, with the tag each was named by (none when by id).
pub fn resolve_items(store: &Store, names: &[String]) -> Result<Vec<SaveItem>, ArchiveError> {
    let mut items = Vec::new();
    for n in names {
        let img = image::resolve(store, n)?;
        let tag = Reference::parse(n)
            .ok()
            .filter(|r| r.digest.is_none())
            .map(|r| r.to_string())
            .filter(|t| img.tags.contains(t));
        items.push(SaveItem {
            image: img,
            tags: tag.into_iter().collect(),
        });
    }
    Ok(items)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn archive_paths_stay_inside() {
        let d = Path::new("/x");
        assert!(inside(d, "blobs/sha256/ab").is_ok());
        assert!(inside(d, "../etc/passwd").is_err());
        assert!(inside(d, "/etc/passwd").is_err());
        assert!(inside(d, "a/../../b").is_err());
    }
}
