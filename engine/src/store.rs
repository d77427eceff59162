//! The engine's on-disk store: content-addressed blobs, unpacked layers, per-container
//! directories, and the metadata database.
//!
//! Layout under the root (default `/var/lib/ongi`):
//!
//! ```text
//! db.sqlite                  metadata (images, tags, containers, volumes), WAL mode
//! blobs/sha256/<hex>         manifests, configs, compressed layers; written under tmp/ while
//!                            hashed, renamed in only when the digest matches
//! layers/<chain-id hex>/     one unpacked layer (diff/) per chain id, made as
//!                            layers/@tmp-*/ and renamed in whole: a layer directory that
//!                            exists is complete
//! containers/<id>/           bundle (config.json), overlay upper/ work/ and rootfs/ mount
//!                            point, hostname, hosts, resolv.conf, the json-file log, exit.json
//! volumes/<name>/_data       named and anonymous volumes
//! tmp/                       in-flight downloads; anything here is garbage after a crash
//! ```
//!
//! Everything that becomes visible does so by one rename or one database transaction, so a
//! process killed at any point leaves only garbage that nothing mistakes for complete
//! (`system check` sweeps it).

use std::fs::{self, File};
use std::io::{self, Read, Write};
use std::path::{Path, PathBuf};
use std::time::Duration;

use rusqlite::{params, Connection, OptionalExtension};
use sha2::{Digest, Sha256};

/// What went wrong in the store, with the path or object involved.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// A filesystem operation failed.
    #[error("{op} {path}: {source}")]
    Io {
        /// What was being done.
        op: &'static str,
        /// The path it was done to.
        path: PathBuf,
        /// The cause.
        source: io::Error,
    },
    /// The metadata database refused an operation.
    #[error("metadata database {path}: {source}{}", disk_full_note(.path, .source))]
    Db {
        /// The database file.
        path: PathBuf,
        /// The cause.
        source: rusqlite::Error,
    },
    /// Content did not hash to the digest it was fetched under.
    #[error("blob {expected}: content hashes to {actual} (corrupt or truncated download)")]
    DigestMismatch {
        /// The digest the content should have.
        expected: String,
        /// The digest it has.
        actual: String,
    },
    /// A digest string is not `sha256:<64 hex>`.
    #[error("unsupported or malformed digest {0:?} (only sha256 is supported)")]
    BadDigest(String),
}

/// SQLite reports a write that failed for want of space as a "disk I/O error" (in WAL
/// mode) or "database or disk is full"; when the database's file system has no space left,
/// say so, as every other write failing for that reason does.
fn disk_full_note(db: &Path, e: &rusqlite::Error) -> &'static str {
    use rusqlite::ErrorCode::{DiskFull, SystemIoFailure};
    let io = matches!(e, rusqlite::Error::SqliteFailure(f, _) if matches!(f.code, DiskFull | SystemIoFailure));
    let dir = db.parent().unwrap_or(db);
    match nix::sys::statvfs::statvfs(dir) {
        Ok(v) if io && v.blocks_available() == 0 => ": no space left on device",
        _ => "",
    }
}

/// An error and its causes, `: `-joined, each cause left out if the message before already
/// says it (many wrappers, e.g. reqwest's and tar's, leave the cause out of their message:
/// "connection refused", "No space left on device" are what the user needs to read).
pub fn error_chain(e: &dyn std::error::Error) -> String {
    let mut out = e.to_string();
    let mut cur = e.source();
    while let Some(c) = cur {
        let s = c.to_string();
        if !out.contains(&s) {
            out.push_str(": ");
            out.push_str(&s);
        }
        cur = c.source();
    }
    out
}

pub(crate) fn io_err(
    op: &'static str,
    path: impl Into<PathBuf>,
) -> impl FnOnce(io::Error) -> StoreError {
    let path = path.into();
    move |source| StoreError::Io { op, path, source }
}

/// The default store root.
pub const DEFAULT_ROOT: &str = "/var/lib/ongi";
/// The default run-state root (tmpfs: gone after a reboot).
pub const DEFAULT_RUN_ROOT: &str = "/run/ongictl";

/// The store: paths and the open database.
pub struct Store {
    /// The store root.
    pub root: PathBuf,
    /// Run state (monitor locks, the runtime's state root).
    pub run_root: PathBuf,
    db: Connection,
    db_path: PathBuf,
}

const SCHEMA: &str = "
CREATE TABLE IF NOT EXISTS images (
    id TEXT PRIMARY KEY,            -- sha256:<hex> of the config blob (docker's image id)
    manifest_digest TEXT,           -- the manifest this image was pulled or built as
    created TEXT NOT NULL,          -- from the image config
    size INTEGER NOT NULL,          -- unpacked size of all layers, bytes
    layers TEXT NOT NULL,           -- JSON array of chain ids, bottom first
    added TEXT NOT NULL             -- when it entered this store
);
CREATE TABLE IF NOT EXISTS tags (
    name TEXT PRIMARY KEY,          -- fully qualified registry/repo:tag
    image_id TEXT NOT NULL REFERENCES images(id) ON DELETE CASCADE
);
CREATE TABLE IF NOT EXISTS repo_digests (
    name TEXT NOT NULL,             -- fully qualified registry/repo@sha256:...
    image_id TEXT NOT NULL REFERENCES images(id) ON DELETE CASCADE,
    PRIMARY KEY (name, image_id)
);
CREATE TABLE IF NOT EXISTS containers (
    id TEXT PRIMARY KEY,
    name TEXT NOT NULL UNIQUE,
    image_id TEXT NOT NULL REFERENCES images(id),
    created TEXT NOT NULL,
    config TEXT NOT NULL            -- JSON: the container's settings (container::Settings)
);
CREATE TABLE IF NOT EXISTS volumes (
    name TEXT PRIMARY KEY,
    created TEXT NOT NULL,
    anonymous INTEGER NOT NULL,
    labels TEXT NOT NULL
);
";

impl Store {
    /// Opens (and on first use creates) the store at `root`, run state at `run_root`.
    pub fn open(root: &Path, run_root: &Path) -> Result<Store, StoreError> {
        for d in ["blobs/sha256", "layers", "containers", "volumes", "tmp"] {
            let p = root.join(d);
            fs::create_dir_all(&p).map_err(io_err("create directory", &p))?;
        }
        fs::create_dir_all(run_root).map_err(io_err("create directory", run_root))?;
        let db_path = root.join("db.sqlite");
        let dberr = |source| StoreError::Db {
            path: db_path.clone(),
            source,
        };
        let db = Connection::open(&db_path).map_err(dberr)?;
        // Concurrent ongictl processes wait for each other's write transactions instead of
        // failing with SQLITE_BUSY; WAL lets readers go on while one writes.
        db.busy_timeout(Duration::from_secs(30)).map_err(dberr)?;
        db.pragma_update(None, "journal_mode", "WAL")
            .map_err(dberr)?;
        db.pragma_update(None, "synchronous", "NORMAL")
            .map_err(dberr)?;
        db.pragma_update(None, "foreign_keys", "ON")
            .map_err(dberr)?;
        db.execute_batch(SCHEMA).map_err(dberr)?;
        Ok(Store {
            root: root.to_path_buf(),
            run_root: run_root.to_path_buf(),
            db,
            db_path,
        })
    }

    /// The database, for the modules that own a table.
    pub(crate) fn db(&self) -> &Connection {
        &self.db
    }

    /// Maps a database error to a [`StoreError`] naming the file.
    pub(crate) fn dberr(&self) -> impl Fn(rusqlite::Error) -> StoreError + '_ {
        move |source| StoreError::Db {
            path: self.db_path.clone(),
            source,
        }
    }

    /// Path of a blob by digest (whether or not it exists).
    pub fn blob_path(&self, digest: &str) -> Result<PathBuf, StoreError> {
        let hex = digest_hex(digest)?;
        Ok(self.root.join("blobs/sha256").join(hex))
    }

    /// Is the blob present (complete and verified: only those are ever renamed in)?
    pub fn has_blob(&self, digest: &str) -> bool {
        self.blob_path(digest).map(|p| p.exists()).unwrap_or(false)
    }

    /// Reads a whole (small) blob: manifests and configs.
    pub fn read_blob(&self, digest: &str) -> Result<Vec<u8>, StoreError> {
        let p = self.blob_path(digest)?;
        fs::read(&p).map_err(io_err("read blob", &p))
    }

    /// Starts writing a blob that must hash to `digest`.
    pub fn blob_writer(&self, digest: &str) -> Result<BlobWriter, StoreError> {
        let dest = self.blob_path(digest)?;
        let tmp = tempfile_path(&self.root.join("tmp"), "blob");
        let file = File::create(&tmp).map_err(io_err("create", &tmp))?;
        Ok(BlobWriter {
            file,
            tmp,
            dest,
            expected: digest.to_string(),
            hasher: Sha256::new(),
            size: 0,
        })
    }

    /// Writes a whole blob from memory, returning its digest.
    pub fn put_blob(&self, data: &[u8]) -> Result<String, StoreError> {
        let digest = sha256_digest(data);
        if !self.has_blob(&digest) {
            let mut w = self.blob_writer(&digest)?;
            w.write_all(data).map_err(io_err("write", &w.tmp))?;
            w.commit()?;
        }
        Ok(digest)
    }

    /// Directory of the unpacked layer with this chain id.
    pub fn layer_dir(&self, chain_id: &str) -> Result<PathBuf, StoreError> {
        Ok(self.root.join("layers").join(digest_hex(chain_id)?))
    }

    /// A container's directory.
    pub fn container_dir(&self, id: &str) -> PathBuf {
        self.root.join("containers").join(id)
    }

    /// A container's run-state directory (monitor lock).
    pub fn container_run_dir(&self, id: &str) -> PathBuf {
        self.run_root.join("containers").join(id)
    }

    /// The runtime library's state root for our containers.
    pub fn runtime_root(&self) -> PathBuf {
        self.run_root.join("runtime")
    }

    /// The store's collection lock: commands that add content not yet referenced by any
    /// record (pull, create, start) hold it shared until the record exists; `system
    /// check` and `system prune`, which delete whatever no record refers to, hold it
    /// exclusive. Released when the guard drops (or the process dies).
    pub fn gc_lock(&self, exclusive: bool) -> Result<GcLock, StoreError> {
        let p = self.root.join("gc.lock");
        let f = fs::OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(&p)
            .map_err(io_err("open", &p))?;
        let op = if exclusive {
            libc::LOCK_EX
        } else {
            libc::LOCK_SH
        };
        loop {
            use std::os::fd::AsRawFd;
            // SAFETY: f is an open file; flock keeps no pointer.
            if unsafe { libc::flock(f.as_raw_fd(), op) } == 0 {
                return Ok(GcLock(f));
            }
            let e = io::Error::last_os_error();
            if e.kind() != io::ErrorKind::Interrupted {
                return Err(StoreError::Io {
                    op: "lock",
                    path: p,
                    source: e,
                });
            }
        }
    }

    /// [`Store::gc_lock`] exclusive if no one holds it now, else `None` (someone is writing
    /// or collecting; the collection can wait for the next prune or check).
    pub fn try_gc_lock_exclusive(&self) -> Result<Option<GcLock>, StoreError> {
        use std::os::fd::AsRawFd;
        let p = self.root.join("gc.lock");
        let f = fs::OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(&p)
            .map_err(io_err("open", &p))?;
        // SAFETY: f is an open file; flock keeps no pointer.
        if unsafe { libc::flock(f.as_raw_fd(), libc::LOCK_EX | libc::LOCK_NB) } == 0 {
            Ok(Some(GcLock(f)))
        } else {
            Ok(None)
        }
    }

    /// The image id a fully qualified name points at.
    pub fn tag_target(&self, name: &str) -> Result<Option<String>, StoreError> {
        self.db
            .query_row(
                "SELECT image_id FROM tags WHERE name = ?1",
                params![name],
                |r| r.get(0),
            )
            .optional()
            .map_err(self.dberr())
    }
}

/// A held [`Store::gc_lock`].
pub struct GcLock(#[allow(dead_code)] File);

/// A blob being written: hashed as it goes, renamed into place by [`BlobWriter::commit`]
/// only when the digest matches. Dropped without commit, it removes its temporary file.
pub struct BlobWriter {
    file: File,
    tmp: PathBuf,
    dest: PathBuf,
    expected: String,
    hasher: Sha256,
    size: u64,
}

impl Write for BlobWriter {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let n = self.file.write(buf)?;
        self.hasher.update(&buf[..n]);
        self.size += n as u64;
        Ok(n)
    }
    fn flush(&mut self) -> io::Result<()> {
        self.file.flush()
    }
}

impl BlobWriter {
    /// The file being written (its temporary name until commit).
    pub fn path(&self) -> &Path {
        &self.tmp
    }

    /// Bytes written so far.
    pub fn written(&self) -> u64 {
        self.size
    }

    /// Verifies the digest and moves the blob into place; returns its size.
    pub fn commit(mut self) -> Result<u64, StoreError> {
        let actual = format!("sha256:{}", hex::encode(self.hasher.clone().finalize()));
        if actual != self.expected {
            return Err(StoreError::DigestMismatch {
                expected: self.expected.clone(),
                actual,
            });
        }
        self.file.sync_data().map_err(io_err("sync", &self.tmp))?;
        fs::rename(&self.tmp, &self.dest).map_err(io_err("rename blob into", &self.dest))?;
        self.tmp = PathBuf::new();
        Ok(self.size)
    }
}

impl Drop for BlobWriter {
    fn drop(&mut self) {
        if !self.tmp.as_os_str().is_empty() {
            let _ = fs::remove_file(&self.tmp);
        }
    }
}

/// `sha256:<hex>` of `data`.
pub fn sha256_digest(data: &[u8]) -> String {
    format!("sha256:{}", hex::encode(Sha256::digest(data)))
}

/// The hex part of a `sha256:` digest, validated (it becomes a path component).
pub fn digest_hex(digest: &str) -> Result<&str, StoreError> {
    match digest.split_once(':') {
        Some(("sha256", h))
            if h.len() == 64 && h.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f')) =>
        {
            Ok(h)
        }
        _ => Err(StoreError::BadDigest(digest.to_string())),
    }
}

/// A unique name for a temporary file or directory in `dir`.
pub fn tempfile_path(dir: &Path, what: &str) -> PathBuf {
    use std::sync::atomic::{AtomicU64, Ordering};
    static N: AtomicU64 = AtomicU64::new(0);
    let n = N.fetch_add(1, Ordering::Relaxed);
    let t = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.subsec_nanos())
        .unwrap_or(0);
    dir.join(format!("@tmp-{what}-{}-{n}-{t}", std::process::id()))
}

/// Hashes a reader to `sha256:<hex>`, returning the digest and the byte count.
pub fn sha256_reader(mut r: impl Read) -> io::Result<(String, u64)> {
    let mut h = Sha256::new();
    let mut buf = vec![0u8; 1 << 16];
    let mut n = 0u64;
    loop {
        let k = r.read(&mut buf)?;
        if k == 0 {
            break;
        }
        h.update(&buf[..k]);
        n += k as u64;
    }
    Ok((format!("sha256:{}", hex::encode(h.finalize())), n))
}

/// Chain ids as the OCI image spec defines them: the first is the first diff id, each next
/// is sha256 of "<previous chain id> <diff id>".
pub fn chain_ids(diff_ids: &[String]) -> Vec<String> {
    let mut out: Vec<String> = Vec::with_capacity(diff_ids.len());
    for d in diff_ids {
        let next = match out.last() {
            None => d.clone(),
            Some(prev) => sha256_digest(format!("{prev} {d}").as_bytes()),
        };
        out.push(next);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn chain_id_rule() {
        let a = format!("sha256:{}", "a".repeat(64));
        let b = format!("sha256:{}", "b".repeat(64));
        let c = chain_ids(&[a.clone(), b.clone()]);
        assert_eq!(c[0], a);
        assert_eq!(c[1], sha256_digest(format!("{a} {b}").as_bytes()));
    }

    #[test]
    fn digest_paths_are_checked() {
        assert!(digest_hex("sha256:../../etc").is_err());
        assert!(digest_hex(&format!("sha256:{}", "A".repeat(64))).is_err());
    }
}
