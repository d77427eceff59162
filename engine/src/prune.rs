//! `image prune [-a]` and the garbage collection of layers and blobs no image refers to.
//!
//! Commands that write blobs or layers before recording the image that refers to them
//! (pull, load, import, commit) hold the store's GC lock shared for their whole run; the
//! collection takes it exclusive, so it never removes content an image is about to claim.

use std::collections::BTreeSet;
use std::fs;
use std::path::Path;

use rusqlite::params;

use crate::image::{self, ImageError};
use crate::ingest;
use crate::reference::Reference;
use crate::store::{io_err, Store, StoreError};

pub use crate::store::GcLock;

/// Takes the store's GC lock (see [`Store::gc_lock`]): shared for writers of new content,
/// exclusive for the collector. Blocks until granted.
pub fn gc_lock(store: &Store, exclusive: bool) -> Result<GcLock, StoreError> {
    store.gc_lock(exclusive)
}

/// What a prune removed, as docker prints it.
#[derive(Debug, Default)]
pub struct Pruned {
    /// `untagged: ...` lines.
    pub untagged: Vec<String>,
    /// `deleted: ...` lines (image ids, then layer chain ids).
    pub deleted: Vec<String>,
    /// Bytes freed (unpacked layers and blobs).
    pub reclaimed: u64,
}

/// Removes dangling images (untagged and unused), or with `all` every image no container
/// uses, then the layers and blobs nothing refers to any more.
pub fn prune_images(store: &Store, all: bool) -> Result<Pruned, ImageError> {
    let _lock = gc_lock(store, true)?;
    let used: BTreeSet<String> = {
        let mut st = store
            .db()
            .prepare("SELECT DISTINCT image_id FROM containers")
            .map_err(store.dberr())?;
        let it = st
            .query_map([], |r| r.get::<_, String>(0))
            .map_err(store.dberr())?;
        it.collect::<Result<_, _>>().map_err(store.dberr())?
    };
    let mut out = Pruned::default();
    for img in image::list(store)? {
        if used.contains(&img.id) || (!all && !img.tags.is_empty()) {
            continue;
        }
        for n in img.tags.iter().chain(&img.digests) {
            out.untagged.push(
                Reference::parse(n)
                    .map(|r| r.familiar())
                    .unwrap_or_else(|_| n.clone()),
            );
        }
        store
            .db()
            .execute("DELETE FROM images WHERE id = ?1", params![img.id])
            .map_err(store.dberr())?;
        out.deleted.push(img.id.clone());
    }
    collect(store, &mut out)?;
    Ok(out)
}

/// Removes the layers and blobs no image refers to (after `builder prune` dropped the
/// build cache's claims); takes the GC lock exclusive.
pub fn collect_unreferenced(store: &Store) -> Result<Pruned, ImageError> {
    let _lock = gc_lock(store, true)?;
    let mut out = Pruned::default();
    collect(store, &mut out)?;
    Ok(out)
}

/// Removes layer directories and blobs that no recorded image refers to. The caller holds
/// the GC lock exclusive.
fn collect(store: &Store, out: &mut Pruned) -> Result<(), ImageError> {
    let mut layers = BTreeSet::new();
    let mut blobs = BTreeSet::new();
    for img in image::list(store)? {
        layers.extend(img.layers.iter().cloned());
        blobs.insert(img.id.clone());
        if let Some(m) = &img.manifest_digest {
            blobs.insert(m.clone());
            if let Ok(l) = crate::archive::layer_blobs(store, &img) {
                blobs.extend(l);
            }
        }
    }
    let ldir = store.root.join("layers");
    for e in fs::read_dir(&ldir)
        .map_err(io_err("read directory", &ldir))?
        .flatten()
    {
        let name = e.file_name().to_string_lossy().into_owned();
        if name.starts_with("@tmp-") || name.ends_with(".size") {
            continue;
        }
        let chain = format!("sha256:{name}");
        if layers.contains(&chain) {
            continue;
        }
        let p = e.path();
        out.reclaimed += ingest::layer_size(&p);
        remove_tree(&p)?;
        let _ = fs::remove_file(p.with_extension("size"));
        out.deleted.push(chain);
    }
    let bdir = store.root.join("blobs/sha256");
    for e in fs::read_dir(&bdir)
        .map_err(io_err("read directory", &bdir))?
        .flatten()
    {
        let d = format!("sha256:{}", e.file_name().to_string_lossy());
        if blobs.contains(&d) {
            continue;
        }
        let size = e.metadata().map(|m| m.len()).unwrap_or(0);
        fs::remove_file(e.path()).map_err(io_err("remove blob", e.path()))?;
        out.reclaimed += size;
    }
    Ok(())
}

/// Removes a layer directory: first renamed aside so a crash midway never leaves a
/// half-removed directory under its chain id.
fn remove_tree(p: &Path) -> Result<(), StoreError> {
    let parent = p.parent().unwrap_or(p);
    let aside = crate::store::tempfile_path(parent, "rm");
    fs::rename(p, &aside).map_err(io_err("rename aside", p))?;
    fs::remove_dir_all(&aside).map_err(io_err("remove", &aside))
}
