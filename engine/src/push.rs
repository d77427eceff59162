//! `push`: a local image's blobs and manifest to a registry. Blobs the registry already has
//! are skipped; a blob this store knows to be in another repository of the same registry
//! (from a pull or push recorded in `repo_digests`) is mounted from there instead of sent.
//! Layers go up streamed from `blobs/`, never held whole in memory.

use std::sync::Arc;

use futures_util::StreamExt;
use oci_client::RegistryOperation;
use serde::Deserialize;

use crate::image::{self, Image, ImageError};
use crate::reference::Reference;
use crate::registry::{self, Progress};
use crate::store::{Store, StoreError};

/// Why a push failed.
#[derive(Debug, thiserror::Error)]
pub enum PushError {
    /// The store failed.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// Looking up the image failed.
    #[error(transparent)]
    Image(#[from] ImageError),
    /// The registry refused or failed.
    #[error("{what} {reference}: {source}")]
    Client {
        /// What was being pushed.
        what: String,
        /// The reference.
        reference: String,
        /// The cause.
        source: oci_client::errors::OciDistributionError,
    },
    /// The image has no manifest or blobs in the store.
    #[error("image {image}: {why}")]
    Incomplete {
        /// The image.
        image: String,
        /// What is missing.
        why: String,
    },
    /// docker's refusal of a name that is not tagged locally.
    #[error("An image does not exist locally with the tag: {0}")]
    NoSuchTag(String),
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct Desc {
    digest: String,
    #[serde(default)]
    size: u64,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct Manifest {
    #[serde(default)]
    media_type: Option<String>,
    config: Desc,
    #[serde(default)]
    layers: Vec<Desc>,
}

/// What a push did.
pub struct Pushed {
    /// The tag pushed.
    pub tag: String,
    /// The manifest digest.
    pub digest: String,
    /// Manifest size in bytes.
    pub size: usize,
}

/// Pushes the local image named `r` to `r`'s registry and repository.
pub async fn push(
    store: &Store,
    r: &Reference,
    insecure: &[String],
    progress: Arc<dyn Progress>,
) -> Result<Pushed, PushError> {
    let img = match image::resolve(store, &r.to_string()) {
        Ok(i) => i,
        Err(ImageError::NotFound(_)) => return Err(PushError::NoSuchTag(r.familiar())),
        Err(e) => return Err(e.into()),
    };
    let shown = r.to_string();
    let cerr = |what: String| {
        let reference = shown.clone();
        move |source| PushError::Client {
            what,
            reference,
            source,
        }
    };
    let incomplete = |why: String| PushError::Incomplete {
        image: img.short_id().to_string(),
        why,
    };
    let md = img
        .manifest_digest
        .clone()
        .ok_or_else(|| incomplete("no manifest recorded".into()))?;
    let raw = store
        .read_blob(&md)
        .map_err(|e| incomplete(format!("manifest: {e}")))?;
    let m: Manifest =
        serde_json::from_slice(&raw).map_err(|e| incomplete(format!("manifest {md}: {e}")))?;
    let media_type = m
        .media_type
        .clone()
        .unwrap_or_else(|| "application/vnd.oci.image.manifest.v1+json".into());
    let cl = registry::client(r, insecure);
    let auth = registry::auth_for(&r.registry);
    let oref = oci_client::Reference::with_tag(
        r.registry.clone(),
        r.repository.clone(),
        r.tag.clone().unwrap_or_else(|| "latest".into()),
    );
    cl.auth(&oref, &auth, RegistryOperation::Push)
        .await
        .map_err(cerr("authenticate for".into()))?;
    progress.line(&format!("The push refers to repository [{}]", r.name()));
    let sources = mount_sources(store, &img, r);
    // Layers top first, as docker lists them, then the config.
    let mut blobs: Vec<(&Desc, bool)> = m.layers.iter().rev().map(|d| (d, true)).collect();
    blobs.push((&m.config, false));
    let mut jobs = Vec::new();
    for (d, is_layer) in blobs {
        jobs.push(push_blob(
            store,
            &cl,
            &oref,
            d,
            is_layer,
            &sources,
            progress.clone(),
        ));
    }
    for res in futures_util::future::join_all(jobs).await {
        res?;
    }
    let ct = http::HeaderValue::from_str(&media_type)
        .map_err(|e| incomplete(format!("manifest media type {media_type:?}: {e}")))?;
    cl.push_manifest_raw(&oref, raw.clone(), ct)
        .await
        .map_err(cerr("manifest".into()))?;
    let tag = r.tag.clone().unwrap_or_else(|| "latest".into());
    image::record(store, &img, None, Some(&format!("{}@{md}", r.name())))?;
    Ok(Pushed {
        tag,
        digest: md,
        size: raw.len(),
    })
}

/// Other repositories of the same registry this store pulled or pushed the image's
/// content from or to: candidates for a cross-repository mount.
fn mount_sources(store: &Store, img: &Image, target: &Reference) -> Vec<String> {
    let mut out = Vec::new();
    let all = image::list(store).unwrap_or_default();
    // The image itself first, then images sharing its bottom layer.
    let related = std::iter::once(img).chain(
        all.iter()
            .filter(|i| i.id != img.id && i.layers.first() == img.layers.first()),
    );
    for i in related {
        for d in i.digests.iter().chain(&i.tags) {
            if let Ok(r) = Reference::parse(d) {
                if r.registry == target.registry
                    && r.repository != target.repository
                    && !out.contains(&r.repository)
                {
                    out.push(r.repository);
                }
            }
        }
    }
    out
}

async fn push_blob(
    store: &Store,
    cl: &oci_client::Client,
    oref: &oci_client::Reference,
    d: &Desc,
    is_layer: bool,
    sources: &[String],
    progress: Arc<dyn Progress>,
) -> Result<(), PushError> {
    let cerr = |what: &str| {
        let what = format!("{what} {}", d.digest);
        let reference = oref.whole();
        move |source| PushError::Client {
            what,
            reference,
            source,
        }
    };
    let show = |s: &str| {
        if is_layer {
            progress.layer(&d.digest, s, d.size, d.size);
        }
    };
    if cl
        .blob_exists(oref, &d.digest)
        .await
        .map_err(cerr("check blob"))?
    {
        show("Layer already exists");
        return Ok(());
    }
    for src in sources {
        let from = oci_client::Reference::with_tag(
            oref.registry().to_string(),
            src.clone(),
            "latest".into(),
        );
        if cl.mount_blob(oref, &from, &d.digest).await.is_ok()
            && cl.blob_exists(oref, &d.digest).await.unwrap_or(false)
        {
            show(&format!("Mounted from {src}"));
            return Ok(());
        }
    }
    show("Preparing");
    let path = store.blob_path(&d.digest)?;
    let file = tokio::fs::File::open(&path)
        .await
        .map_err(crate::store::io_err("open blob", &path))?;
    let stream = tokio_util_stream(file);
    cl.push_blob_stream(oref, stream, &d.digest, Some(d.size))
        .await
        .map_err(cerr("push blob"))?;
    show("Pushed");
    Ok(())
}

/// A file as a stream of chunks (what `push_blob_stream` takes).
fn tokio_util_stream(
    file: tokio::fs::File,
) -> impl futures_util::Stream<Item = oci_client::errors::Result<bytes::Bytes>> + Send + 'static {
    futures_util::stream::unfold(Some(file), |state| async move {
        use tokio::io::AsyncReadExt;
        let mut f = state?;
        let mut buf = vec![0u8; 1 << 20];
        match f.read(&mut buf).await {
            Ok(0) => None,
            Ok(n) => {
                buf.truncate(n);
                Some((Ok(bytes::Bytes::from(buf)), Some(f)))
            }
            Err(e) => Some((
                Err(oci_client::errors::OciDistributionError::IoError(e)),
                None,
            )),
        }
    })
    .map(|x| x)
}
