//! The build cache: a step's key (its parent's key, the instruction after substitution,
//! the environment a RUN sees, for COPY/ADD the content hash of its sources) names the
//! layer that step made, in `<root>/buildcache/<key>.json`. An entry whose blob is gone
//! (pruned) is a miss.

use std::fs;
use std::path::PathBuf;

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::ingest::Ingested;
use crate::store::Store;

/// What a cached step made.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Entry {
    /// The compressed layer blob (empty for a step that makes no layer).
    pub blob: String,
    /// Its size.
    pub blob_size: u64,
    /// The uncompressed tar's digest.
    pub diff_id: String,
    /// The history entry's `created_by`.
    pub created_by: String,
    /// When the step first ran (RFC 3339).
    pub created: String,
}

impl Entry {
    /// The layer as an image records it.
    pub fn layer(&self) -> Ingested {
        Ingested {
            blob: self.blob.clone(),
            blob_size: self.blob_size,
            diff_id: self.diff_id.clone(),
        }
    }
}

/// The key following `parent` for a step described by `parts`.
pub fn key(parent: &str, parts: &[&str]) -> String {
    let mut h = Sha256::new();
    h.update(parent.as_bytes());
    for p in parts {
        h.update(b"\0");
        h.update(p.as_bytes());
    }
    hex::encode(h.finalize())
}

fn path(store: &Store, key: &str) -> PathBuf {
    store.root.join("buildcache").join(format!("{key}.json"))
}

/// The entry for `key`, when it and its blob exist.
pub fn get(store: &Store, key: &str) -> Option<Entry> {
    let e: Entry = serde_json::from_slice(&fs::read(path(store, key)).ok()?).ok()?;
    (e.blob.is_empty() || store.has_blob(&e.blob)).then_some(e)
}

/// Records `e` under `key` (by one rename, so a reader never sees half an entry).
pub fn put(store: &Store, key: &str, e: &Entry) -> std::io::Result<()> {
    let p = path(store, key);
    if let Some(d) = p.parent() {
        fs::create_dir_all(d)?;
    }
    let tmp = p.with_extension(format!("tmp{}", std::process::id()));
    fs::write(&tmp, serde_json::to_vec(e).map_err(std::io::Error::other)?)?;
    fs::rename(&tmp, &p)
}

/// The blobs the cache's entries name: the collector keeps them (a cache entry is a claim
/// on its layer as an image is).
pub fn blobs(store: &Store) -> Vec<String> {
    let Ok(rd) = fs::read_dir(store.root.join("buildcache")) else {
        return Vec::new();
    };
    rd.flatten()
        .filter_map(|d| fs::read(d.path()).ok())
        .filter_map(|b| serde_json::from_slice::<Entry>(&b).ok())
        .map(|e| e.blob)
        .filter(|b| !b.is_empty())
        .collect()
}

/// `builder prune`: forgets every cached step, then collects the layers and blobs only the
/// cache kept (those of images stay). Returns (entries removed, bytes reclaimed).
pub fn prune(store: &Store) -> Result<(usize, u64), crate::image::ImageError> {
    let dir = store.root.join("buildcache");
    let mut n = 0;
    if let Ok(rd) = fs::read_dir(&dir) {
        for e in rd.flatten() {
            if fs::remove_file(e.path()).is_ok() {
                n += 1;
            }
        }
    }
    let p = crate::prune::collect_unreferenced(store)?;
    Ok((n, p.reclaimed))
}

/// What the cache takes, for `system df`'s "Build Cache" row.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct Usage {
    /// Cached steps.
    pub entries: usize,
    /// Bytes of the (compressed) layer blobs the entries name, each blob once.
    pub size: u64,
    /// Of those, the bytes `builder prune` frees: blobs no image also uses.
    pub reclaimable: u64,
}

/// The cache's [`Usage`]; `image_blobs` are the blobs images use (kept by a prune).
pub fn usage(store: &Store, image_blobs: &std::collections::BTreeSet<String>) -> Usage {
    let mut u = Usage::default();
    let mut seen = std::collections::BTreeSet::new();
    let Ok(rd) = fs::read_dir(store.root.join("buildcache")) else {
        return u;
    };
    for e in rd
        .flatten()
        .filter(|d| d.path().extension().is_some_and(|x| x == "json"))
        .filter_map(|d| fs::read(d.path()).ok())
        .filter_map(|b| serde_json::from_slice::<Entry>(&b).ok())
    {
        u.entries += 1;
        if e.blob.is_empty() || !seen.insert(e.blob.clone()) {
            continue;
        }
        u.size += e.blob_size;
        if !image_blobs.contains(&e.blob) {
            u.reclaimable += e.blob_size;
        }
    }
    u
}
