//! Images in the store: their configs (docker's image config JSON), names and digests,
//! lookup by name, id or id prefix, listing and removal.

use std::collections::BTreeMap;

use rusqlite::params;
use serde::{Deserialize, Serialize};

use crate::reference::{looks_like_id_prefix, Reference};
use crate::store::{Store, StoreError};

/// Why an image operation failed.
#[derive(Debug, thiserror::Error)]
pub enum ImageError {
    /// The store failed.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// No image by that name, id or prefix (docker's wording).
    #[error("No such image: {0}")]
    NotFound(String),
    /// An id prefix matched more than one image.
    #[error("ambiguous image id prefix {0:?}: matches more than one image")]
    Ambiguous(String),
    /// The reference does not parse.
    #[error(transparent)]
    Reference(#[from] crate::reference::ReferenceError),
    /// The stored config is not an image config.
    #[error("image {id}: config blob is not a valid image config: {source}")]
    BadConfig {
        /// The image id.
        id: String,
        /// The cause.
        source: serde_json::Error,
    },
    /// rmi of an image a container uses (docker's wording).
    #[error("conflict: unable to remove repository reference \"{name}\" (must force) - container {container} is using its referenced image {id}")]
    InUse {
        /// The name given.
        name: String,
        /// A container using it.
        container: String,
        /// Short image id.
        id: String,
    },
    /// rmi by id of an image with several names.
    #[error("conflict: unable to delete {0} (must be forced) - image is referenced in multiple repositories")]
    MultipleNames(String),
}

/// The parts of docker's image config `config` object that a container is made from.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
#[serde(rename_all = "PascalCase")]
pub struct RunConfig {
    /// Default user.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub user: Option<String>,
    /// Ports the image documents as exposed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub exposed_ports: Option<BTreeMap<String, serde_json::Value>>,
    /// Environment, `K=V`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub env: Option<Vec<String>>,
    /// Entrypoint.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub entrypoint: Option<Vec<String>>,
    /// Default command.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cmd: Option<Vec<String>>,
    /// Paths that become anonymous volumes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub volumes: Option<BTreeMap<String, serde_json::Value>>,
    /// Working directory.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub working_dir: Option<String>,
    /// Labels.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub labels: Option<BTreeMap<String, String>>,
    /// Signal `stop` sends.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stop_signal: Option<String>,
    /// Docker's healthcheck.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub healthcheck: Option<serde_json::Value>,
    /// ONBUILD triggers: instructions a build `FROM` this image runs first.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub on_build: Option<Vec<String>>,
    /// The shell of shell-form commands (Dockerfile SHELL), kept for builds on this image.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub shell: Option<Vec<String>>,
}

/// An image config (the blob the image id is the digest of).
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct ImageConfig {
    /// Creation time, RFC 3339.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub created: Option<String>,
    /// The image's author (MAINTAINER, `commit -a`), kept through a build.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub author: Option<String>,
    /// CPU architecture.
    #[serde(default)]
    pub architecture: String,
    /// Operating system.
    #[serde(default)]
    pub os: String,
    /// The defaults for containers.
    #[serde(default)]
    pub config: RunConfig,
    /// The layers' uncompressed digests.
    pub rootfs: RootFs,
    /// Build history.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub history: Vec<serde_json::Value>,
}

/// `rootfs` of an image config.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct RootFs {
    /// Always "layers".
    #[serde(rename = "type")]
    pub kind: String,
    /// Uncompressed layer digests, bottom first.
    pub diff_ids: Vec<String>,
}

/// An image as the store records it.
#[derive(Debug, Clone)]
pub struct Image {
    /// `sha256:<hex>` of the config.
    pub id: String,
    /// The manifest digest, when pulled or pushed.
    pub manifest_digest: Option<String>,
    /// Creation time from the config.
    pub created: String,
    /// Unpacked size in bytes.
    pub size: u64,
    /// Chain ids, bottom first.
    pub layers: Vec<String>,
    /// Fully qualified `registry/repo:tag` names.
    pub tags: Vec<String>,
    /// Fully qualified `registry/repo@digest` names.
    pub digests: Vec<String>,
}

impl Image {
    /// The 12-hex-digit id docker shows.
    pub fn short_id(&self) -> &str {
        short_id(&self.id)
    }
}

/// The 12-hex-digit form of an id.
pub fn short_id(id: &str) -> &str {
    let h = id.strip_prefix("sha256:").unwrap_or(id);
    &h[..h.len().min(12)]
}

/// Reads an image's config blob.
pub fn config(store: &Store, id: &str) -> Result<ImageConfig, ImageError> {
    let raw = store.read_blob(id)?;
    serde_json::from_slice(&raw).map_err(|source| ImageError::BadConfig {
        id: id.to_string(),
        source,
    })
}

fn row_to_image(
    store: &Store,
    id: String,
    manifest: Option<String>,
    created: String,
    size: i64,
    layers: String,
) -> Result<Image, StoreError> {
    let db = store.db();
    let mut tags = Vec::new();
    let mut st = db
        .prepare_cached("SELECT name FROM tags WHERE image_id = ?1 ORDER BY name")
        .map_err(store.dberr())?;
    for n in st
        .query_map(params![id], |r| r.get::<_, String>(0))
        .map_err(store.dberr())?
    {
        tags.push(n.map_err(store.dberr())?);
    }
    let mut digests = Vec::new();
    let mut st = db
        .prepare_cached("SELECT name FROM repo_digests WHERE image_id = ?1 ORDER BY name")
        .map_err(store.dberr())?;
    for n in st
        .query_map(params![id], |r| r.get::<_, String>(0))
        .map_err(store.dberr())?
    {
        digests.push(n.map_err(store.dberr())?);
    }
    Ok(Image {
        id,
        manifest_digest: manifest,
        created,
        size: size.max(0) as u64,
        layers: serde_json::from_str(&layers).unwrap_or_default(),
        tags,
        digests,
    })
}

/// Every image, newest first (as `docker images` lists them).
pub fn list(store: &Store) -> Result<Vec<Image>, ImageError> {
    let rows: Vec<(String, Option<String>, String, i64, String)> = {
        let mut st = store
            .db()
            .prepare("SELECT id, manifest_digest, created, size, layers FROM images ORDER BY created DESC, id")
            .map_err(store.dberr())?;
        let it = st
            .query_map([], |r| {
                Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?, r.get(4)?))
            })
            .map_err(store.dberr())?;
        it.collect::<Result<_, _>>().map_err(store.dberr())?
    };
    rows.into_iter()
        .map(|(a, b, c, d, e)| row_to_image(store, a, b, c, d, e).map_err(ImageError::from))
        .collect()
}

/// One image by id.
pub fn get(store: &Store, id: &str) -> Result<Option<Image>, ImageError> {
    let row: Option<(String, Option<String>, String, i64, String)> = {
        use rusqlite::OptionalExtension;
        store
            .db()
            .query_row(
                "SELECT id, manifest_digest, created, size, layers FROM images WHERE id = ?1",
                params![id],
                |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?, r.get(4)?)),
            )
            .optional()
            .map_err(store.dberr())?
    };
    match row {
        Some((a, b, c, d, e)) => Ok(Some(row_to_image(store, a, b, c, d, e)?)),
        None => Ok(None),
    }
}

/// Finds an image the way docker does: a full or abbreviated id, a name (with docker's
/// defaults), or a name with digest.
pub fn resolve(store: &Store, name: &str) -> Result<Image, ImageError> {
    if looks_like_id_prefix(name) {
        let hex = name.strip_prefix("sha256:").unwrap_or(name);
        let ids: Vec<String> = {
            let mut st = store
                .db()
                .prepare("SELECT id FROM images WHERE id LIKE ?1")
                .map_err(store.dberr())?;
            let it = st
                .query_map(params![format!("sha256:{hex}%")], |r| r.get(0))
                .map_err(store.dberr())?;
            it.collect::<Result<_, _>>().map_err(store.dberr())?
        };
        match ids.len() {
            1 => return get(store, &ids[0])?.ok_or_else(|| ImageError::NotFound(name.to_string())),
            0 => {}
            _ => return Err(ImageError::Ambiguous(name.to_string())),
        }
    }
    let r = Reference::parse(name).map_err(|_| ImageError::NotFound(name.to_string()))?;
    let id = if let Some(d) = &r.digest {
        use rusqlite::OptionalExtension;
        store
            .db()
            .query_row(
                "SELECT image_id FROM repo_digests WHERE name = ?1",
                params![format!("{}@{d}", r.name())],
                |x| x.get(0),
            )
            .optional()
            .map_err(store.dberr())?
    } else {
        store.tag_target(&r.to_string())?
    };
    let id: String = id.ok_or_else(|| ImageError::NotFound(name.to_string()))?;
    get(store, &id)?.ok_or_else(|| ImageError::NotFound(name.to_string()))
}

/// Records an image and its names in one transaction (the last step of a pull, load or
/// commit: before it, nothing refers to the new blobs and layers).
pub fn record(
    store: &Store,
    img: &Image,
    tag: Option<&str>,
    digest_name: Option<&str>,
) -> Result<(), ImageError> {
    let db = store.db();
    let tx = db.unchecked_transaction().map_err(store.dberr())?;
    let layers = serde_json::to_string(&img.layers).unwrap_or_else(|_| "[]".into());
    tx.execute(
        "INSERT INTO images (id, manifest_digest, created, size, layers, added) VALUES (?1, ?2, ?3, ?4, ?5, ?6)
         ON CONFLICT(id) DO UPDATE SET manifest_digest = COALESCE(excluded.manifest_digest, manifest_digest)",
        params![img.id, img.manifest_digest, img.created, img.size as i64, layers, ongi::rfc3339_now()],
    )
    .map_err(store.dberr())?;
    if let Some(t) = tag {
        tx.execute(
            "INSERT INTO tags (name, image_id) VALUES (?1, ?2) ON CONFLICT(name) DO UPDATE SET image_id = excluded.image_id",
            params![t, img.id],
        )
        .map_err(store.dberr())?;
    }
    if let Some(d) = digest_name {
        tx.execute(
            "INSERT OR IGNORE INTO repo_digests (name, image_id) VALUES (?1, ?2)",
            params![d, img.id],
        )
        .map_err(store.dberr())?;
    }
    tx.commit().map_err(store.dberr())?;
    Ok(())
}

/// `docker tag`: a new name for an existing image.
pub fn tag(store: &Store, source: &str, target: &str) -> Result<(), ImageError> {
    let img = resolve(store, source)?;
    let r = Reference::parse(target)?;
    if r.digest.is_some() {
        return Err(ImageError::Reference(
            crate::reference::ReferenceError::Invalid {
                reference: target.to_string(),
                what: "refusing to create a tag with a digest reference".into(),
            },
        ));
    }
    store
        .db()
        .execute(
            "INSERT INTO tags (name, image_id) VALUES (?1, ?2) ON CONFLICT(name) DO UPDATE SET image_id = excluded.image_id",
            params![r.to_string(), img.id],
        )
        .map_err(store.dberr())?;
    Ok(())
}

/// What `rmi` did, line by line as docker prints it.
#[derive(Debug, Default)]
pub struct Removed {
    /// `Untagged: ...` lines.
    pub untagged: Vec<String>,
    /// `Deleted: ...` lines.
    pub deleted: Vec<String>,
}

/// `docker rmi`: untags a name; deletes the image when no name is left (or when given by
/// id). An image a container uses is refused unless `force`; layers and blobs are left to
/// `prune` so a concurrent pull sharing them never loses a layer under its feet.
pub fn remove(store: &Store, name: &str, force: bool) -> Result<Removed, ImageError> {
    let img = resolve(store, name)?;
    let by_id = looks_like_id_prefix(name)
        && !img.tags.iter().any(|t| {
            Reference::parse(name)
                .map(|r| r.to_string() == *t)
                .unwrap_or(false)
        });
    let user: Option<String> = {
        use rusqlite::OptionalExtension;
        store
            .db()
            .query_row(
                "SELECT id FROM containers WHERE image_id = ?1 LIMIT 1",
                params![img.id],
                |r| r.get(0),
            )
            .optional()
            .map_err(store.dberr())?
    };
    let mut out = Removed::default();
    let db = store.db();
    let tx = db.unchecked_transaction().map_err(store.dberr())?;
    let mut delete_image = true;
    if !by_id {
        let full = Reference::parse(name)?.to_string();
        tx.execute("DELETE FROM tags WHERE name = ?1", params![full])
            .map_err(store.dberr())?;
        out.untagged.push(Reference::parse(name)?.familiar());
        delete_image = img.tags.len() <= 1;
    } else if img.tags.len() > 1 && !force {
        return Err(ImageError::MultipleNames(img.short_id().to_string()));
    }
    if delete_image {
        if let (Some(c), false) = (&user, force) {
            return Err(ImageError::InUse {
                name: name.to_string(),
                container: crate::image::short_id(c).to_string(),
                id: img.short_id().to_string(),
            });
        }
        if by_id {
            for t in &img.tags {
                out.untagged.push(
                    Reference::parse(t)
                        .map(|r| r.familiar())
                        .unwrap_or_else(|_| t.clone()),
                );
            }
        }
        for d in &img.digests {
            out.untagged.push(
                Reference::parse(d)
                    .map(|r| r.familiar())
                    .unwrap_or_else(|_| d.clone()),
            );
        }
        if user.is_none() {
            tx.execute("DELETE FROM images WHERE id = ?1", params![img.id])
                .map_err(store.dberr())?;
            out.deleted.push(img.id.clone());
        } else {
            // Forced with a user: docker untags and keeps the image for the container.
            tx.execute("DELETE FROM tags WHERE image_id = ?1", params![img.id])
                .map_err(store.dberr())?;
        }
    }
    tx.commit().map_err(store.dberr())?;
    Ok(out)
}
