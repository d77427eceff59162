//! Images made locally (`load`, `import`, `commit`): a layer tar stream becomes a
//! gzip-compressed blob in `blobs/` (so the image can be pushed and saved like a pulled one)
//! and an unpacked layer directory; the image gets a config blob, an OCI manifest blob and
//! its record. Nothing is recorded until every blob and layer it refers to is in place.

use std::fs::{self, File};
use std::io::{self, Read, Write};
use std::path::{Path, PathBuf};

use serde_json::json;
use sha2::{Digest, Sha256};

use crate::image::{self, Image, ImageConfig, ImageError};
use crate::layer::{self, LayerError};
use crate::store::{self, io_err, Store, StoreError};

/// Why a layer or image could not be taken in.
#[derive(Debug, thiserror::Error)]
pub enum IngestError {
    /// The store failed.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// Unpacking failed.
    #[error(transparent)]
    Layer(#[from] LayerError),
    /// Recording the image failed.
    #[error(transparent)]
    Image(#[from] ImageError),
    /// The layer stream could not be read.
    #[error("read layer {what}: {source}")]
    Read {
        /// Which layer (file name or `-`).
        what: String,
        /// The cause.
        source: io::Error,
    },
    /// A layer's content is not what the image config says.
    #[error("layer {what}: content hashes to {actual}, the image config says {expected}")]
    DiffId {
        /// Which layer.
        what: String,
        /// The config's diff id.
        expected: String,
        /// What the content hashes to.
        actual: String,
    },
    /// The image config could not be serialized or parsed.
    #[error("image config: {0}")]
    Config(String),
}

/// A layer taken into the store.
#[derive(Debug, Clone)]
pub struct Ingested {
    /// Digest of the compressed blob in `blobs/`.
    pub blob: String,
    /// Its size in bytes.
    pub blob_size: u64,
    /// Digest of the uncompressed tar (the config's diff id).
    pub diff_id: String,
}

struct HashWriter<W> {
    inner: W,
    hasher: Sha256,
    n: u64,
}

impl<W: Write> Write for HashWriter<W> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let k = self.inner.write(buf)?;
        self.hasher.update(&buf[..k]);
        self.n += k as u64;
        Ok(k)
    }
    fn flush(&mut self) -> io::Result<()> {
        self.inner.flush()
    }
}

/// Reads a layer stream (plain tar, gzip or zstd), stores it gzip-compressed as a blob and
/// returns its digests. The blob appears by one rename, only once complete.
pub fn layer_blob(store: &Store, what: &str, src: impl Read) -> Result<Ingested, IngestError> {
    let rerr = |source| IngestError::Read {
        what: what.to_string(),
        source,
    };
    let tmp = store::tempfile_path(&store.root.join("tmp"), "ingest");
    let guard = TmpGuard(tmp.clone());
    let file = File::create(&tmp).map_err(io_err("create", &tmp))?;
    let out = HashWriter {
        inner: io::BufWriter::new(file),
        hasher: Sha256::new(),
        n: 0,
    };
    // Fast compression: the blob only has to be a valid gzip layer; push and save time
    // matter more than a few percent of size.
    let mut gz = flate2::write::GzEncoder::new(out, flate2::Compression::fast());
    let mut plain = layer::decompress(src).map_err(rerr)?;
    let mut diff = Sha256::new();
    let mut buf = vec![0u8; 1 << 16];
    loop {
        let k = plain.read(&mut buf).map_err(rerr)?;
        if k == 0 {
            break;
        }
        diff.update(&buf[..k]);
        gz.write_all(&buf[..k]).map_err(io_err("write", &tmp))?;
    }
    let mut out = gz.finish().map_err(io_err("write", &tmp))?;
    out.flush().map_err(io_err("write", &tmp))?;
    let blob = format!("sha256:{}", hex::encode(out.hasher.clone().finalize()));
    let blob_size = out.n;
    let file = out
        .inner
        .into_inner()
        .map_err(|e| io_err("write", &tmp)(e.into_error()))?;
    file.sync_data().map_err(io_err("sync", &tmp))?;
    let dest = store.blob_path(&blob)?;
    if !dest.exists() {
        fs::rename(&tmp, &dest).map_err(io_err("rename blob into", &dest))?;
    }
    drop(guard);
    Ok(Ingested {
        blob,
        blob_size,
        diff_id: format!("sha256:{}", hex::encode(diff.finalize())),
    })
}

struct TmpGuard(PathBuf);

impl Drop for TmpGuard {
    fn drop(&mut self) {
        let _ = fs::remove_file(&self.0);
    }
}

/// Makes sure the layer `chain_id` is unpacked (from the blob `blob`), returning its
/// unpacked size.
pub fn unpack_layer(
    store: &Store,
    blob: &str,
    diff_id: &str,
    chain_id: &str,
) -> Result<u64, IngestError> {
    let dest = store.layer_dir(chain_id)?;
    if !dest.exists() {
        let p = store.blob_path(blob)?;
        let f = io::BufReader::new(File::open(&p).map_err(io_err("open blob", &p))?);
        let tmp = store::tempfile_path(&store.root.join("layers"), "layer");
        let u = layer::unpack(blob, f, diff_id, &tmp)?;
        let _ = fs::write(tmp.with_extension("size"), u.size.to_string());
        let _ = fs::rename(tmp.with_extension("size"), dest.with_extension("size"));
        if let Err(e) = fs::rename(&tmp, &dest) {
            // A concurrent command unpacked the same layer first: theirs is as good.
            let _ = fs::remove_dir_all(&tmp);
            if !dest.exists() {
                return Err(io_err("rename layer into", &dest)(e).into());
            }
        }
    }
    Ok(layer_size(&dest))
}

/// The unpacked size noted beside a layer directory.
pub fn layer_size(dir: &Path) -> u64 {
    fs::read_to_string(dir.with_extension("size"))
        .ok()
        .and_then(|s| s.trim().parse().ok())
        .unwrap_or(0)
}

/// Records an image made of `config` (whose `rootfs.diff_ids` match `layers`, bottom
/// first) under `tags`: unpacks missing layers, writes the config and an OCI manifest.
pub fn record_image(
    store: &Store,
    config: &ImageConfig,
    layers: &[Ingested],
    tags: &[String],
) -> Result<Image, IngestError> {
    let raw = serde_json::to_vec(config).map_err(|e| IngestError::Config(e.to_string()))?;
    record_image_raw(store, &raw, layers, tags)
}

/// [`record_image`] with the config's bytes as given (a loaded image keeps its id).
pub fn record_image_raw(
    store: &Store,
    raw_config: &[u8],
    layers: &[Ingested],
    tags: &[String],
) -> Result<Image, IngestError> {
    let config: ImageConfig =
        serde_json::from_slice(raw_config).map_err(|e| IngestError::Config(e.to_string()))?;
    if config.rootfs.diff_ids.len() != layers.len() {
        return Err(IngestError::Config(format!(
            "{} layers but the config lists {} diff ids",
            layers.len(),
            config.rootfs.diff_ids.len()
        )));
    }
    for (l, want) in layers.iter().zip(&config.rootfs.diff_ids) {
        if l.diff_id != *want {
            return Err(IngestError::DiffId {
                what: l.blob.clone(),
                expected: want.clone(),
                actual: l.diff_id.clone(),
            });
        }
    }
    let chains = store::chain_ids(&config.rootfs.diff_ids);
    let mut size = 0;
    for (l, c) in layers.iter().zip(&chains) {
        size += unpack_layer(store, &l.blob, &l.diff_id, c)?;
    }
    let config_digest = store.put_blob(raw_config)?;
    let manifest = json!({
        "schemaVersion": 2,
        "mediaType": "application/vnd.oci.image.manifest.v1+json",
        "config": {
            "mediaType": "application/vnd.oci.image.config.v1+json",
            "digest": config_digest,
            "size": raw_config.len(),
        },
        "layers": layers.iter().map(|l| json!({
            "mediaType": "application/vnd.oci.image.layer.v1.tar+gzip",
            "digest": l.blob,
            "size": l.blob_size,
        })).collect::<Vec<_>>(),
    });
    let mraw = serde_json::to_vec(&manifest).map_err(|e| IngestError::Config(e.to_string()))?;
    let manifest_digest = store.put_blob(&mraw)?;
    let img = Image {
        id: config_digest.clone(),
        manifest_digest: Some(manifest_digest),
        created: config.created.clone().unwrap_or_default(),
        size,
        layers: chains,
        tags: vec![],
        digests: vec![],
    };
    if tags.is_empty() {
        image::record(store, &img, None, None)?;
    }
    for t in tags {
        image::record(store, &img, Some(t), None)?;
    }
    Ok(image::get(store, &config_digest)?.unwrap_or(img))
}
