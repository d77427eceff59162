//! The `ongi` runtime binary links none of the engine's dependencies: they are reachable
//! only through feature `engine` (cargo tree), and the built binary carries no trace of them
//! (panic locations name every crate that is linked in).

mod common;

use std::process::Command;

const ENGINE_ONLY: &[&str] = &[
    "ongi-engine",
    "rusqlite",
    "libsqlite3-sys",
    "oci-client",
    "reqwest",
    "tokio",
    "rustls",
    "hyper",
    "tar",
    "flate2",
    "zstd",
    "gtmpl",
    "sha2",
    "indicatif",
];

#[test]
fn runtime_package_without_engine_feature_has_no_engine_dependencies() {
    let manifest = concat!(env!("CARGO_MANIFEST_DIR"), "/Cargo.toml");
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let out = Command::new(&cargo)
        .args([
            "tree",
            "--offline",
            "--no-default-features",
            "-e",
            "normal",
            "--prefix",
            "none",
            "-p",
            "ongi-cli",
            "--manifest-path",
            manifest,
        ])
        .output()
        .unwrap_or_else(|e| panic!("{cargo} tree: {e}"));
    assert!(
        out.status.success(),
        "cargo tree: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let tree = String::from_utf8_lossy(&out.stdout);
    let names: Vec<&str> = tree
        .lines()
        .filter_map(|l| l.split_whitespace().next())
        .collect();
    assert!(
        names.contains(&"ongi") && names.contains(&"nix"),
        "the tree lists the runtime's own dependencies: {tree}"
    );
    for dep in ENGINE_ONLY {
        assert!(
            !names.contains(dep),
            "{dep} is reachable from ongi-cli without feature engine:\n{tree}"
        );
    }
}

#[test]
fn ongi_binary_links_no_engine_crate() {
    let bin = std::fs::read(common::ongi()).unwrap_or_else(|e| panic!("read ongi: {e}"));
    let has = |needle: &str| bin.windows(needle.len()).any(|w| w == needle.as_bytes());
    // The check can see crates: nix and the library itself are linked and leave their paths.
    assert!(
        has("/nix-0.") && has("runtime-lib/src/"),
        "ongi carries no crate paths; this check cannot see anything"
    );
    for dep in ENGINE_ONLY {
        assert!(
            !has(&format!("/{dep}-")) && !has(&format!("{dep}/src/")),
            "the ongi binary links {dep}"
        );
    }
    assert!(!has("SQLite format 3"), "the ongi binary links SQLite");
}
