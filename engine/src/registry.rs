//! Talking to registries through `oci-client`: pulling manifests (a manifest list / OCI
//! index resolved to this platform), configs and layers, with credentials read from docker's
//! `~/.docker/config.json` and plain HTTP for loopback and configured insecure registries.
//!
//! Layers are streamed: each download is hashed into the blob store and, in the same pass,
//! decompressed and unpacked into its own lower directory on a thread of its own, so all
//! layers download and unpack in parallel and no layer is ever held whole in memory.

use std::io::{self, Read, Write};
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use futures_util::StreamExt;
use oci_client::client::{ClientConfig, ClientProtocol};
use oci_client::secrets::RegistryAuth;
use serde::Deserialize;

use crate::image::{self, Image, ImageError};
use crate::layer::{self, LayerError};
use crate::reference::Reference;
use crate::store::{self, Store, StoreError};

/// Why a pull failed.
#[derive(Debug, thiserror::Error)]
pub enum RegistryError {
    /// The registry answered with an error or could not be reached (the causes spelled
    /// out: "connection refused", "operation timed out" are what the user needs to read).
    #[error("{what} {reference}: {}", store::error_chain(.source))]
    Client {
        /// What was being fetched.
        what: &'static str,
        /// The image.
        reference: String,
        /// The cause.
        source: oci_client::errors::OciDistributionError,
    },
    /// A manifest we cannot use.
    #[error("manifest for {reference}: {why}")]
    Manifest {
        /// The image.
        reference: String,
        /// The cause.
        why: String,
    },
    /// No image in the index is for this platform.
    #[error("no matching manifest for linux/{arch} in the manifest list entries of {reference}")]
    NoPlatform {
        /// The image.
        reference: String,
        /// This machine's architecture (Go's name).
        arch: &'static str,
    },
    /// The store failed.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// A layer failed to unpack.
    #[error(transparent)]
    Layer(#[from] LayerError),
    /// Recording the image failed.
    #[error(transparent)]
    Image(#[from] ImageError),
    /// The registry sent less than the manifest says the layer has.
    #[error("layer {layer}: download truncated: got {got} of {want} bytes")]
    Truncated {
        /// The layer's digest.
        layer: String,
        /// Bytes received.
        got: u64,
        /// The size in the manifest.
        want: u64,
    },
    /// The blob download task failed.
    #[error("layer {layer}: {why}")]
    Task {
        /// The layer's digest.
        layer: String,
        /// The cause.
        why: String,
    },
}

const MANIFEST_TYPES: &[&str] = &[
    "application/vnd.oci.image.index.v1+json",
    "application/vnd.docker.distribution.manifest.list.v2+json",
    "application/vnd.oci.image.manifest.v1+json",
    "application/vnd.docker.distribution.manifest.v2+json",
];

/// Go's name of this machine's architecture, as image indexes write it.
pub fn go_arch() -> &'static str {
    match std::env::consts::ARCH {
        "x86_64" => "amd64",
        "aarch64" => "arm64",
        "x86" => "386",
        "powerpc64" => "ppc64le",
        other => other,
    }
}

/// Is this registry reached over plain HTTP: loopback (docker's rule for 127.0.0.0/8 and
/// localhost), or named in `insecure`?
pub fn is_insecure(registry: &str, insecure: &[String]) -> bool {
    let host = registry.rsplit_once(':').map_or(registry, |(h, p)| {
        if p.bytes().all(|b| b.is_ascii_digit()) {
            h
        } else {
            registry
        }
    });
    host == "localhost"
        || host
            .parse::<std::net::Ipv4Addr>()
            .is_ok_and(|a| a.is_loopback())
        || host
            .trim_matches(['[', ']'])
            .parse::<std::net::Ipv6Addr>()
            .is_ok_and(|a| a.is_loopback())
        || insecure.iter().any(|i| i == registry || i == host)
}

#[derive(Deserialize)]
struct DockerConfig {
    #[serde(default)]
    auths: std::collections::BTreeMap<String, AuthEntry>,
}

#[derive(Deserialize)]
struct AuthEntry {
    #[serde(default)]
    auth: Option<String>,
}

/// docker's credentials file: `$DOCKER_CONFIG/config.json` or `~/.docker/config.json`.
pub fn docker_config_path() -> PathBuf {
    match std::env::var_os("DOCKER_CONFIG") {
        Some(d) => PathBuf::from(d).join("config.json"),
        None => PathBuf::from(std::env::var_os("HOME").unwrap_or_else(|| "/root".into()))
            .join(".docker/config.json"),
    }
}

/// Credentials for `registry` from docker's config file (`auths.<registry>.auth`, base64
/// `user:password`); anonymous if there are none.
pub fn auth_for(registry: &str) -> RegistryAuth {
    use base64::Engine as _;
    let Ok(raw) = std::fs::read(docker_config_path()) else {
        return RegistryAuth::Anonymous;
    };
    let Ok(cfg) = serde_json::from_slice::<DockerConfig>(&raw) else {
        return RegistryAuth::Anonymous;
    };
    let keys = [
        registry.to_string(),
        format!("https://{registry}"),
        format!("http://{registry}"),
    ];
    let keys: Vec<String> = if registry == "docker.io" {
        vec!["https://index.docker.io/v1/".into()]
    } else {
        keys.to_vec()
    };
    for k in keys {
        if let Some(a) = cfg.auths.get(&k).and_then(|e| e.auth.as_deref()) {
            if let Ok(dec) = base64::engine::general_purpose::STANDARD.decode(a) {
                if let Some((u, p)) = String::from_utf8_lossy(&dec).split_once(':') {
                    return RegistryAuth::Basic(u.to_string(), p.to_string());
                }
            }
        }
    }
    RegistryAuth::Anonymous
}

/// How long a registry may take to accept the connection, and to answer each read:
/// `$ONGI_REGISTRY_TIMEOUT` seconds, else engine.json's `registry-timeout`, else 30 s and
/// 120 s. A registry that accepts and never answers makes the pull fail after that long.
pub fn timeouts() -> (Duration, Duration) {
    let secs = std::env::var("ONGI_REGISTRY_TIMEOUT")
        .ok()
        .and_then(|v| v.trim().parse::<f64>().ok())
        .or_else(|| crate::config::load().ok().and_then(|c| c.registry_timeout))
        .filter(|s| s.is_finite() && *s > 0.0);
    match secs {
        Some(s) => (Duration::from_secs_f64(s), Duration::from_secs_f64(s)),
        None => (Duration::from_secs(30), Duration::from_secs(120)),
    }
}

/// A registry client for one reference's registry.
pub fn client(r: &Reference, insecure: &[String]) -> oci_client::Client {
    // rustls needs its crypto provider chosen once per process; a second install is refused
    // harmlessly. ring rather than aws-lc-rs: no cmake/C build in our static build, and
    // registries need no post-quantum key exchange (the reason rustls deprecates this).
    #[allow(deprecated)]
    let _ = rustls::crypto::ring::default_provider().install_default();
    let (connect, read) = timeouts();
    let protocol = if is_insecure(&r.registry, insecure) {
        ClientProtocol::Http
    } else {
        ClientProtocol::Https
    };
    oci_client::Client::new(ClientConfig {
        protocol,
        connect_timeout: Some(connect),
        read_timeout: Some(read),
        max_concurrent_download: 8,
        ..Default::default()
    })
}

/// `docker.io` is served at `registry-1.docker.io`; oci-client knows that.
fn oci_ref(r: &Reference) -> oci_client::Reference {
    match (&r.tag, &r.digest) {
        (_, Some(d)) => {
            oci_client::Reference::with_digest(r.registry.clone(), r.repository.clone(), d.clone())
        }
        (Some(t), None) => {
            oci_client::Reference::with_tag(r.registry.clone(), r.repository.clone(), t.clone())
        }
        (None, None) => oci_client::Reference::with_tag(
            r.registry.clone(),
            r.repository.clone(),
            "latest".into(),
        ),
    }
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct Descriptor {
    #[serde(default)]
    media_type: String,
    digest: String,
    #[serde(default)]
    size: i64,
    #[serde(default)]
    platform: Option<Platform>,
}

#[derive(Deserialize)]
struct Platform {
    architecture: String,
    os: String,
    #[serde(default)]
    variant: Option<String>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct Manifest {
    #[serde(default)]
    media_type: Option<String>,
    #[serde(default)]
    manifests: Option<Vec<Descriptor>>,
    #[serde(default)]
    config: Option<Descriptor>,
    #[serde(default)]
    layers: Vec<Descriptor>,
}

/// Where a pull reports progress (plain lines, or bars on a terminal).
pub trait Progress: Send + Sync {
    /// A line of status (`latest: Pulling from library/busybox`).
    fn line(&self, s: &str);
    /// A layer's state changed (`Pulling fs layer`, `Downloading`, `Pull complete`,
    /// `Already exists`); `done`/`total` in bytes while downloading.
    fn layer(&self, digest: &str, status: &str, done: u64, total: u64);
}

/// What a pull produced.
pub struct Pulled {
    /// The image.
    pub image: Image,
    /// Did anything new come down (docker's "Downloaded newer image" vs "Image is up to date").
    pub downloaded: bool,
    /// The manifest digest.
    pub digest: String,
}

/// Pulls `r` into the store: manifest (resolved to this platform), config, layers; then
/// records the image and its names in one transaction.
pub async fn pull(
    store: &Store,
    r: &Reference,
    insecure: &[String],
    progress: Arc<dyn Progress>,
) -> Result<Pulled, RegistryError> {
    // Held until the image is recorded: `image prune` must not collect our new blobs.
    let _gc = crate::prune::gc_lock(store, false)?;
    let cl = client(r, insecure);
    let auth = auth_for(&r.registry);
    let shown = r.to_string();
    let cerr = |what: &'static str| {
        let reference = shown.clone();
        move |source| RegistryError::Client {
            what,
            reference,
            source,
        }
    };
    let mut oref = oci_ref(r);
    let (mut raw, mut digest) = cl
        .pull_manifest_raw(&oref, &auth, MANIFEST_TYPES)
        .await
        .map_err(cerr("manifest"))?;
    let merr = |why: String| RegistryError::Manifest {
        reference: shown.clone(),
        why,
    };
    let mut m: Manifest =
        serde_json::from_slice(&raw).map_err(|e| merr(format!("not JSON: {e}")))?;
    if let Some(list) = &m.manifests {
        let want = go_arch();
        let pick = list
            .iter()
            .filter(|d| {
                d.platform
                    .as_ref()
                    .is_some_and(|p| p.os == "linux" && p.architecture == want)
            })
            // amd64 has no variants; on arm64 prefer v8 or none.
            .find(|d| {
                d.platform
                    .as_ref()
                    .is_none_or(|p| p.variant.as_deref().is_none_or(|v| v == "v8"))
            })
            .ok_or(RegistryError::NoPlatform {
                reference: shown.clone(),
                arch: want,
            })?;
        oref = oref.clone_with_digest(pick.digest.clone());
        let (r2, d2) = cl
            .pull_manifest_raw(&oref, &auth, MANIFEST_TYPES)
            .await
            .map_err(cerr("manifest"))?;
        let _ = &pick.media_type;
        raw = r2;
        digest = d2;
        m = serde_json::from_slice(&raw).map_err(|e| merr(format!("not JSON: {e}")))?;
    }
    // The digest is computed over the bytes we hold, whatever the registry's header said.
    let actual = store::sha256_digest(&raw);
    if actual != digest
        || r.digest.as_ref().is_some_and(|d| {
            m.manifests.is_none() && *d != actual && oref.digest() == Some(d.as_str())
        })
    {
        return Err(merr(format!(
            "content hashes to {actual}, expected {digest}"
        )));
    }
    let _ = m.media_type;
    let cfg_desc = m
        .config
        .as_ref()
        .ok_or_else(|| merr("no config (schema 1 manifests are not supported)".into()))?;
    progress.line(&format!(
        "{}: Pulling from {}",
        r.tag.clone().unwrap_or_else(|| digest.clone()),
        r.repository
    ));
    // Config: small, fetched whole and verified.
    let mut downloaded = false;
    if !store.has_blob(&cfg_desc.digest) {
        let mut buf = Vec::with_capacity(cfg_desc.size.max(0) as usize);
        cl.pull_blob(&oref, cfg_desc.digest.as_str(), &mut buf)
            .await
            .map_err(cerr("config"))?;
        let got = store.put_blob(&buf)?;
        if got != cfg_desc.digest {
            return Err(StoreError::DigestMismatch {
                expected: cfg_desc.digest.clone(),
                actual: got,
            }
            .into());
        }
        downloaded = true;
    }
    let cfg = image::config(store, &cfg_desc.digest)?;
    if cfg.rootfs.diff_ids.len() != m.layers.len() {
        return Err(merr(format!(
            "{} layers but the config lists {} diff ids",
            m.layers.len(),
            cfg.rootfs.diff_ids.len()
        )));
    }
    let chains = store::chain_ids(&cfg.rootfs.diff_ids);
    let mut tasks = Vec::new();
    for (i, l) in m.layers.iter().enumerate() {
        let dir = store.layer_dir(&chains[i])?;
        let need_unpack = !dir.exists();
        let need_blob = !store.has_blob(&l.digest);
        if !need_unpack && !need_blob {
            progress.layer(&l.digest, "Already exists", 0, 0);
            continue;
        }
        downloaded = true;
        progress.layer(&l.digest, "Pulling fs layer", 0, l.size.max(0) as u64);
        let job = LayerJob {
            digest: l.digest.clone(),
            diff_id: cfg.rootfs.diff_ids[i].clone(),
            dest: dir,
            tmp: store::tempfile_path(&store.root.join("layers"), "layer"),
            size: l.size.max(0) as u64,
        };
        let blob = if need_blob {
            Some(store.blob_writer(&l.digest)?)
        } else {
            None
        };
        let from_file = if need_blob {
            None
        } else {
            Some(store.blob_path(&l.digest)?)
        };
        tasks.push(fetch_layer(
            &cl,
            &oref,
            job,
            blob,
            from_file,
            need_unpack,
            progress.clone(),
        ));
    }
    let results = futures_util::future::join_all(tasks).await;
    for r in results {
        r?;
    }
    // The manifest last: a present manifest blob means its image was complete.
    store.put_blob(&raw)?;
    let size = chains
        .iter()
        .map(|c| {
            store
                .layer_dir(c)
                .ok()
                .and_then(|d| std::fs::read_to_string(d.with_extension("size")).ok())
                .and_then(|s| s.trim().parse::<u64>().ok())
                .unwrap_or(0)
        })
        .sum();
    let img = Image {
        id: cfg_desc.digest.clone(),
        manifest_digest: Some(digest.clone()),
        created: cfg.created.clone().unwrap_or_default(),
        size,
        layers: chains,
        tags: vec![],
        digests: vec![],
    };
    let tag = r.tag.as_ref().map(|_| r.to_string());
    let top_digest = r.digest.clone().unwrap_or_else(|| digest.clone());
    let dname = format!("{}@{}", r.name(), top_digest);
    crate::system::pause_point("pull:before-record");
    image::record(store, &img, tag.as_deref(), Some(&dname))?;
    let image = image::get(store, &img.id)?.unwrap_or(img);
    Ok(Pulled {
        image,
        downloaded,
        digest: top_digest,
    })
}

struct LayerJob {
    digest: String,
    diff_id: String,
    dest: PathBuf,
    tmp: PathBuf,
    size: u64,
}

/// Reads chunks the download task sends; a `None` chunk is never sent, the channel closing
/// is EOF, an `Err` chunk is the download's failure.
struct ChannelReader {
    rx: tokio::sync::mpsc::Receiver<io::Result<bytes::Bytes>>,
    cur: bytes::Bytes,
    blob: Option<store::BlobWriter>,
    /// A failed blob write. Kept because the unpack sees only its read failing, and once
    /// its own files are cleaned up later writes may fit again: the blob's size alone
    /// would then pass for a truncated download, not a full disk.
    write_err: Option<StoreError>,
}

impl Read for ChannelReader {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        while self.cur.is_empty() {
            match self.rx.blocking_recv() {
                Some(Ok(b)) => {
                    if let Some(w) = &mut self.blob {
                        if let Err(e) = w.write_all(&b) {
                            let again = io::Error::new(e.kind(), e.to_string());
                            self.write_err =
                                Some(store::io_err("write blob", w.path().to_path_buf())(e));
                            // The blob is broken now: no more writes into it.
                            self.blob = None;
                            return Err(again);
                        }
                    }
                    self.cur = b;
                }
                Some(Err(e)) => return Err(e),
                None => return Ok(0),
            }
        }
        let n = buf.len().min(self.cur.len());
        buf[..n].copy_from_slice(&self.cur[..n]);
        self.cur = self.cur.slice(n..);
        Ok(n)
    }
}

async fn fetch_layer(
    cl: &oci_client::Client,
    oref: &oci_client::Reference,
    job: LayerJob,
    blob: Option<store::BlobWriter>,
    from_file: Option<PathBuf>,
    unpack: bool,
    progress: Arc<dyn Progress>,
) -> Result<(), RegistryError> {
    let layer_digest = job.digest.clone();
    let streamed = from_file.is_none();
    let (tx, rx) = tokio::sync::mpsc::channel::<io::Result<bytes::Bytes>>(64);
    let p2 = progress.clone();
    let worker = tokio::task::spawn_blocking(move || -> Result<(), RegistryError> {
        let mut reader = ChannelReader {
            rx,
            cur: bytes::Bytes::new(),
            blob,
            write_err: None,
        };
        let mut file_reader;
        let src: &mut dyn Read = match &from_file {
            Some(p) => {
                file_reader = std::io::BufReader::new(
                    std::fs::File::open(p).map_err(store::io_err("open blob", p))?,
                );
                &mut file_reader
            }
            None => &mut reader,
        };
        if unpack {
            p2.layer(&job.digest, "Extracting", 0, job.size);
            let u = match layer::unpack(&job.digest, &mut *src, &job.diff_id, &job.tmp) {
                Ok(u) => u,
                Err(e) => {
                    // Bad bytes from the registry break the gunzip or the tar first; the
                    // user needs to read that the download was bad, not the decoder's
                    // complaint about garbage. So finish the download and check it.
                    let drained = io::copy(src, &mut io::sink());
                    if let Some(w) = reader.write_err.take() {
                        return Err(w.into());
                    }
                    if let Err(d) = drained {
                        // A local write failed (the disk is full): the unpack says so.
                        if d.raw_os_error().is_some() {
                            return Err(e.into());
                        }
                        // The download's own failure (oci-client checks the digest at
                        // the end, hyper a short body).
                        return Err(RegistryError::Task {
                            layer: job.digest.clone(),
                            why: format!("download failed: {}", store::error_chain(&d)),
                        });
                    }
                    return Err(match reader.blob.take() {
                        Some(w) if w.written() < job.size => RegistryError::Truncated {
                            layer: job.digest.clone(),
                            got: w.written(),
                            want: job.size,
                        },
                        Some(w) => match w.commit() {
                            Err(m @ StoreError::DigestMismatch { .. }) => m.into(),
                            _ => e.into(),
                        },
                        None => e.into(),
                    });
                }
            };
            // Drain: the blob's own digest covers bytes after the tar end (gzip trailer).
            io::copy(src, &mut io::sink()).map_err(store::io_err("read", &job.tmp))?;
            let _ = std::fs::write(job.tmp.with_extension("size"), u.size.to_string());
        } else {
            io::copy(src, &mut io::sink()).map_err(store::io_err("read", &job.tmp))?;
        }
        if let Some(w) = reader.blob.take() {
            w.commit()?;
        }
        if unpack {
            publish(&job.tmp, &job.dest)?;
        }
        p2.layer(&job.digest, "Pull complete", job.size, job.size);
        Ok(())
    });
    if streamed {
        let mut stream = cl
            .pull_blob_stream(oref, layer_digest.as_str())
            .await
            .map_err(|source| RegistryError::Client {
                what: "layer",
                reference: layer_digest.clone(),
                source,
            })?;
        let mut done = 0u64;
        while let Some(chunk) = stream.next().await {
            let failed = chunk.is_err();
            if let Ok(b) = &chunk {
                done += b.len() as u64;
                progress.layer(&layer_digest, "Downloading", done, 0);
            }
            if tx.send(chunk).await.is_err() || failed {
                break;
            }
        }
    }
    drop(tx);
    worker.await.map_err(|e| RegistryError::Task {
        layer: layer_digest.clone(),
        why: e.to_string(),
    })?
}

/// Renames an unpacked layer (and its size note) into place; losing the race to a
/// concurrent pull of the same layer is success.
fn publish(tmp: &std::path::Path, dest: &std::path::Path) -> Result<(), RegistryError> {
    let _ = std::fs::rename(tmp.with_extension("size"), dest.with_extension("size"));
    match std::fs::rename(tmp, dest) {
        Ok(()) => Ok(()),
        Err(e) if dest.exists() => {
            let _ = std::fs::remove_dir_all(tmp);
            let _ = e;
            Ok(())
        }
        Err(e) => Err(StoreError::Io {
            op: "rename layer into",
            path: dest.to_path_buf(),
            source: e,
        }
        .into()),
    }
}
