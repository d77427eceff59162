//! `image prune [-a]` (also the image half of `system prune`) and the store's one garbage
//! collector of layers and blobs no image refers to ([`collect`], also run by `system
//! check`).
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
        // A container created since the query above keeps its image (create does not
        // take the GC lock; the row it inserted is what counts).
        let n = store
            .db()
            .execute(
                "DELETE FROM images WHERE id = ?1
                 AND NOT EXISTS (SELECT 1 FROM containers WHERE image_id = ?1)",
                params![img.id],
            )
            .map_err(store.dberr())?;
        if n == 0 {
            continue;
        }
        for t in img.tags.iter().chain(&img.digests) {
            out.untagged.push(
                Reference::parse(t)
                    .map(|r| r.familiar())
                    .unwrap_or_else(|_| t.clone()),
            );
        }
        out.deleted.push(img.id.clone());
    }
    let c = collect(store)?;
    out.deleted.extend(c.layers);
    out.reclaimed += c.reclaimed;
    Ok(out)
}

/// What one garbage collection removed.
#[derive(Debug, Default)]
pub struct Collected {
    /// One line per removal, as `system check` reports repairs.
    pub removed: Vec<String>,
    /// Chain ids of the layers removed (`image prune` prints them as `deleted:`).
    pub layers: Vec<String>,
    /// Bytes freed (unpacked layers and blobs).
    pub reclaimed: u64,
}

/// The layers and blobs the recorded images refer to.
struct Referenced {
    /// Layer directory names (chain id hex).
    layers: BTreeSet<String>,
    /// `sha256:<hex>` blobs: each image's config, manifest, and the manifest's config and
    /// layer blobs.
    blobs: BTreeSet<String>,
    /// An image whose manifest could not be read: its layer blobs are unknown, so no blob
    /// may be judged unreferenced.
    untraceable: Option<String>,
}

fn referenced(store: &Store) -> Result<Referenced, ImageError> {
    let mut r = Referenced {
        layers: BTreeSet::new(),
        blobs: BTreeSet::new(),
        untraceable: None,
    };
    for img in image::list(store)? {
        for l in &img.layers {
            r.layers.insert(crate::store::digest_hex(l)?.to_string());
        }
        r.blobs.insert(img.id.clone());
        // Pulled and locally made (commit, import, load) images alike record the manifest
        // that lists their layer blobs; push and save need those blobs, so they stay.
        let manifest = img.manifest_digest.as_ref().and_then(|m| {
            let raw = store.read_blob(m).ok()?;
            serde_json::from_slice::<serde_json::Value>(&raw)
                .ok()
                .map(|v| (m, v))
        });
        let Some((m, v)) = manifest else {
            r.untraceable
                .get_or_insert_with(|| img.short_id().to_string());
            continue;
        };
        r.blobs.insert(m.clone());
        if let Some(d) = v["config"]["digest"].as_str() {
            r.blobs.insert(d.to_string());
        }
        for l in v["layers"].as_array().into_iter().flatten() {
            if let Some(d) = l["digest"].as_str() {
                r.blobs.insert(d.to_string());
            }
        }
    }
    // The build cache's layers outlive the images that used them (docker keeps them until
    // `builder prune`); their unpacked directories may go, they are unpacked again on use.
    r.blobs.extend(crate::build::cache::blobs(store));
    Ok(r)
}

/// `builder prune`'s collection once the build cache's entries are gone: takes the GC lock
/// exclusive and collects.
pub fn collect_unreferenced(store: &Store) -> Result<Collected, ImageError> {
    let _lock = gc_lock(store, true)?;
    collect(store)
}

/// The store's one garbage collector, for `image prune`, `system prune` and `system
/// check`: removes layer directories and blobs no recorded image refers to. The caller
/// holds the GC lock exclusive, so no writer is between writing content and recording the
/// image that claims it. `@`-prefixed entries (temporaries) are `system check`'s to judge.
///
/// Nothing referenced goes: when an image's manifest cannot be read, its layer blobs are
/// unknown and no blob is collected at all (layers still are: images name their chain ids).
pub fn collect(store: &Store) -> Result<Collected, ImageError> {
    let refs = referenced(store)?;
    let mut out = Collected::default();
    let ldir = store.root.join("layers");
    for n in names_in(&ldir)? {
        if n.starts_with('@') {
            continue;
        }
        let hex = n.strip_suffix(".size").unwrap_or(&n);
        if refs.layers.contains(hex) {
            continue;
        }
        let p = ldir.join(&n);
        if n.ends_with(".size") {
            // An unreferenced layer's size note (its directory goes in its own turn).
            remove_tree(&p)?;
            continue;
        }
        out.reclaimed += match ingest::layer_size(&p) {
            0 => crate::volume::du(&p),
            n => n,
        };
        remove_tree(&p)?;
        remove_tree(&p.with_extension("size"))?;
        out.removed.push(format!(
            "removed unreferenced layer {}",
            &hex[..hex.len().min(12)]
        ));
        out.layers.push(format!("sha256:{hex}"));
    }
    if refs.untraceable.is_some() {
        return Ok(out);
    }
    let bdir = store.root.join("blobs/sha256");
    for n in names_in(&bdir)? {
        if n.starts_with('@') || refs.blobs.contains(&format!("sha256:{n}")) {
            continue;
        }
        let p = bdir.join(&n);
        out.reclaimed += fs::symlink_metadata(&p).map(|m| m.len()).unwrap_or(0);
        remove_tree(&p)?;
        out.removed.push(format!(
            "removed unreferenced blob sha256:{}",
            &n[..n.len().min(12)]
        ));
    }
    Ok(out)
}

/// After a failed pull (called with no GC lock held by the caller): what it wrote that no
/// image claims goes now rather than at the next prune, so the failure leaves nothing
/// behind. Only when no other command holds the GC lock (a concurrent pull may be about to
/// claim those blobs; it is never waited for). Errors are ignored: the next check or prune
/// collects.
pub fn collect_if_idle(store: &Store) {
    if let Ok(Some(_lock)) = store.try_gc_lock_exclusive() {
        let _ = collect(store);
    }
}

fn names_in(dir: &Path) -> Result<Vec<String>, StoreError> {
    let mut v = Vec::new();
    for e in fs::read_dir(dir).map_err(io_err("read directory", dir))? {
        let e = e.map_err(io_err("read directory", dir))?;
        v.push(e.file_name().to_string_lossy().into_owned());
    }
    v.sort();
    Ok(v)
}

/// Removes a file or a directory tree (absent: nothing to do). A directory is renamed
/// aside first, so a crash midway never leaves a half-removed tree under its real name
/// (the `@tmp-rm-<pid>-...` remains are `system check`'s to finish).
pub(crate) fn remove_tree(p: &Path) -> Result<(), StoreError> {
    match fs::symlink_metadata(p) {
        Ok(m) if m.is_dir() => {
            let parent = p.parent().unwrap_or(Path::new("/"));
            let aside = crate::store::tempfile_path(parent, "rm");
            fs::rename(p, &aside).map_err(io_err("rename aside", p))?;
            fs::remove_dir_all(&aside).map_err(io_err("remove", &aside))
        }
        Ok(_) => match fs::remove_file(p) {
            Err(e) if e.kind() != std::io::ErrorKind::NotFound => Err(io_err("remove", p)(e)),
            _ => Ok(()),
        },
        Err(_) => Ok(()),
    }
}
