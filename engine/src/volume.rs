//! Volumes: named and anonymous directories under `<root>/volumes/<name>/_data` that
//! outlive containers, recorded in the database.

use std::fs;
use std::path::PathBuf;

use rusqlite::params;

use crate::store::{io_err, Store, StoreError};

/// docker's volume name rule.
pub fn valid_name(n: &str) -> bool {
    let b = n.as_bytes();
    b.len() >= 2
        && b[0].is_ascii_alphanumeric()
        && b.iter()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, b'_' | b'.' | b'-'))
}

/// Makes the volume if it does not exist; returns its data directory.
pub fn ensure(store: &Store, name: &str, anonymous: bool) -> Result<PathBuf, StoreError> {
    if !valid_name(name) {
        return Err(StoreError::Io {
            op: "create volume",
            path: PathBuf::from(name),
            source: std::io::Error::new(
                std::io::ErrorKind::InvalidInput,
                "volume names must be [a-zA-Z0-9][a-zA-Z0-9_.-]+",
            ),
        });
    }
    let data = store.root.join("volumes").join(name).join("_data");
    fs::create_dir_all(&data).map_err(io_err("create volume", &data))?;
    store
        .db()
        .execute(
            "INSERT OR IGNORE INTO volumes (name, created, anonymous, labels) VALUES (?1, ?2, ?3, '{}')",
            params![name, ongi::rfc3339_now(), anonymous as i64],
        )
        .map_err(store.dberr())?;
    Ok(data)
}
