//! The build tests' support (ongictl_build*.rs): contexts written from (path, content)
//! pairs, and the image config as `image inspect` shows it.

use std::fs;
use std::path::{Path, PathBuf};

use super::engine::Engine;

/// Writes `files` (path, content) under `dir/name`; returns the context directory.
pub fn context(dir: &Path, name: &str, files: &[(&str, &str)]) -> PathBuf {
    let c = dir.join(name);
    for (p, body) in files {
        let f = c.join(p);
        fs::create_dir_all(f.parent().unwrap_or(&c)).unwrap_or_else(|e| panic!("mkdir: {e}"));
        fs::write(&f, body).unwrap_or_else(|e| panic!("write {}: {e}", f.display()));
    }
    c
}

pub fn s(p: &Path) -> &str {
    p.to_str().unwrap_or_default()
}

/// The image's config object as `image inspect` shows it.
pub fn config(e: &Engine, name: &str) -> serde_json::Value {
    let out = e.ok(&["image", "inspect", name]);
    let v: serde_json::Value =
        serde_json::from_str(&out).unwrap_or_else(|err| panic!("inspect JSON: {err}: {out}"));
    v[0]["Config"].clone()
}
