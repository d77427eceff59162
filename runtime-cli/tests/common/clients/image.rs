//! The busybox-static image of the client tests, written without any image tool: one
//! uncompressed layer (a [`build_rootfs`] root filesystem), packed as a docker-archive
//! (`docker load`, `podman load`) or as an OCI image layout archive (`ctr images import`).

use super::super::files::{make_dir, path_str, write_file};
use super::super::rootfs::build_rootfs;
use super::run_step;
use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;

/// The image config's `architecture` for this machine.
fn arch() -> &'static str {
    match std::env::consts::ARCH {
        "x86_64" => "amd64",
        "aarch64" => "arm64",
        "powerpc64" => "ppc64le",
        other => other,
    }
}

fn sha256(file: &Path, dir: &Path) -> String {
    let out = run_step(Command::new("sha256sum").arg(file), dir);
    assert!(out.ok(), "{out}");
    out.stdout
        .split_whitespace()
        .next()
        .unwrap_or_else(|| panic!("no digest in {out}"))
        .to_string()
}

fn tar(dir: &Path, args: &[&str]) {
    let out = run_step(Command::new("tar").args(args), dir);
    assert!(out.ok(), "{out}");
}

/// Builds a busybox root filesystem in `work/rootfs` and tars it to `work/layer.tar`
/// (reproducibly: root-owned, sorted, mtime 0); returns the layer's path and sha256 (the
/// layer is uncompressed, so that digest is also its diff_id).
fn layer(work: &Path) -> (PathBuf, String) {
    let rootfs = work.join("rootfs");
    build_rootfs(&rootfs);
    // build_rootfs hard-links the one cached busybox: other tests linking it meanwhile
    // change its ctime, and tar fails with "file changed as we read it". A copy of our own.
    let bb = rootfs.join("bin/busybox");
    let own = rootfs.join("bin/.busybox");
    fs::copy(&bb, &own).unwrap_or_else(|e| panic!("copy {}: {e}", bb.display()));
    fs::rename(&own, &bb).unwrap_or_else(|e| panic!("rename {}: {e}", own.display()));
    let layer = work.join("layer.tar");
    tar(
        work,
        &[
            "--sort=name",
            "--owner=0",
            "--group=0",
            "--numeric-owner",
            "--mtime=@0",
            "-C",
            path_str(&rootfs),
            "-cf",
            path_str(&layer),
            ".",
        ],
    );
    let _ = fs::remove_dir_all(&rootfs);
    let sum = sha256(&layer, work);
    (layer, sum)
}

/// The image config of an image with `cmd` on the layer `layer_sum`.
fn config(cmd: &[&str], layer_sum: &str) -> serde_json::Value {
    serde_json::json!({
        "architecture": arch(),
        "os": "linux",
        "created": "1970-01-01T00:00:00Z",
        "config": {
            "Env": ["PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"],
            "Cmd": cmd,
            "WorkingDir": "/"
        },
        "rootfs": { "type": "layers", "diff_ids": [format!("sha256:{layer_sum}")] },
        "history": [{ "created": "1970-01-01T00:00:00Z", "created_by": "ongi client tests" }]
    })
}

/// Writes `DIR/busybox-docker.tar`: a docker-archive (`docker save` format: manifest.json,
/// config, one layer) tagged `name`, running `/bin/sh`.
pub fn docker_archive(dir: &Path, name: &str) -> PathBuf {
    let work = dir.join("image");
    make_dir(&work);
    let (layer, layer_sum) = layer(&work);
    let archive = work.join("archive");
    make_dir(&archive.join(&layer_sum));
    fs::rename(&layer, archive.join(&layer_sum).join("layer.tar"))
        .unwrap_or_else(|e| panic!("move layer: {e}"));
    let config_tmp = archive.join("config.json");
    write_file(&config_tmp, &config(&["/bin/sh"], &layer_sum).to_string());
    let config_name = format!("{}.json", sha256(&config_tmp, dir));
    fs::rename(&config_tmp, archive.join(&config_name))
        .unwrap_or_else(|e| panic!("move config: {e}"));
    let manifest = serde_json::json!([{
        "Config": config_name,
        "RepoTags": [name],
        "Layers": [format!("{layer_sum}/layer.tar")]
    }]);
    write_file(&archive.join("manifest.json"), &manifest.to_string());
    let tarball = dir.join("busybox-docker.tar");
    tar(
        dir,
        &[
            "-C",
            path_str(&archive),
            "-cf",
            path_str(&tarball),
            "manifest.json",
            &config_name,
            &format!("{layer_sum}/layer.tar"),
        ],
    );
    let _ = fs::remove_dir_all(&work);
    tarball
}

/// Moves `file` into the layout's blob store; returns (digest, size).
fn add_blob(layout: &Path, file: &Path, dir: &Path) -> (String, u64) {
    let digest = sha256(file, dir);
    let size = fs::metadata(file)
        .unwrap_or_else(|e| panic!("stat {}: {e}", file.display()))
        .len();
    let dest = layout.join("blobs/sha256").join(&digest);
    fs::rename(file, &dest).unwrap_or_else(|e| panic!("rename to {}: {e}", dest.display()));
    (format!("sha256:{digest}"), size)
}

fn add_json_blob(layout: &Path, value: &serde_json::Value, dir: &Path) -> (String, u64) {
    let tmp = dir.join("blob.json");
    write_file(&tmp, &value.to_string());
    add_blob(layout, &tmp, dir)
}

/// Writes `DIR/FILE`: an OCI image layout archive (what `ctr images import` reads) with one
/// image per `(name, cmd)`, all on the same busybox layer; containerd names each after its
/// `io.containerd.image.name` annotation.
pub fn oci_archive(dir: &Path, file: &str, images: &[(&str, &[&str])]) -> PathBuf {
    let work = dir.join("oci-image");
    make_dir(&work);
    let (layer, layer_sum) = layer(&work);
    let layout = work.join("layout");
    make_dir(&layout.join("blobs/sha256"));
    let (layer_digest, layer_size) = add_blob(&layout, &layer, &work);
    let mut manifests = Vec::new();
    for (name, cmd) in images {
        let (config_digest, config_size) = add_json_blob(&layout, &config(cmd, &layer_sum), &work);
        let manifest = serde_json::json!({
            "schemaVersion": 2,
            "mediaType": "application/vnd.oci.image.manifest.v1+json",
            "config": {
                "mediaType": "application/vnd.oci.image.config.v1+json",
                "digest": config_digest, "size": config_size
            },
            "layers": [{
                "mediaType": "application/vnd.oci.image.layer.v1.tar",
                "digest": layer_digest, "size": layer_size
            }]
        });
        let (manifest_digest, manifest_size) = add_json_blob(&layout, &manifest, &work);
        manifests.push(serde_json::json!({
            "mediaType": "application/vnd.oci.image.manifest.v1+json",
            "digest": manifest_digest, "size": manifest_size,
            "platform": { "architecture": arch(), "os": "linux" },
            "annotations": { "io.containerd.image.name": name }
        }));
    }
    let index = serde_json::json!({ "schemaVersion": 2, "manifests": manifests });
    write_file(&layout.join("index.json"), &index.to_string());
    write_file(
        &layout.join("oci-layout"),
        r#"{"imageLayoutVersion":"1.0.0"}"#,
    );
    let archive = dir.join(file);
    tar(
        &work,
        &[
            "-C",
            path_str(&layout),
            "-cf",
            path_str(&archive),
            "oci-layout",
            "index.json",
            "blobs",
        ],
    );
    let _ = fs::remove_dir_all(&work);
    archive
}
