//! The store's one garbage collector (engine/src/prune.rs), as `image prune`, `system
//! prune` and `system check` run it: what no image refers to goes, and nothing an image
//! refers to does. An image made locally (commit) keeps every blob its manifest lists,
//! including the pulled base layer's once the pulled image is gone, so it can still be
//! saved, pushed and pulled back.

mod common;

use common::engine::{assert_clean, registry_with_busybox, Engine};

fn count(e: &Engine, sub: &str) -> usize {
    std::fs::read_dir(e.root.join(sub))
        .map(|d| d.count())
        .unwrap_or(0)
}

#[test]
fn local_images_keep_their_blobs_through_every_collection() {
    let e = Engine::new("gc-local");
    let r = registry_with_busybox(&e.dir);
    let base = r.image.as_str();
    let made = format!("{}/test/made:v1", r.reg.addr);
    e.ok(&["pull", "-q", base]);
    e.ok(&["run", "--name", "c", base, "sh", "-c", "echo kept > /file"]);
    e.ok(&["commit", "c", &made]);
    e.ok(&["rm", "c"]);
    // The pulled image goes; the made one (tagged, no container) stays through all three
    // collectors, and nothing it lists may be collected.
    e.ok(&["rmi", base]);
    e.ok(&["image", "prune", "-f"]);
    e.ok(&["system", "prune", "-f"]);
    let o = e.ctl(&["system", "check"]);
    assert!(
        o.code() == Some(0) && o.stdout.contains("store is consistent"),
        "{o}"
    );
    assert_eq!(count(&e, "layers"), 4, "two layers and their size notes");
    let tar = e.dir.join("made.tar");
    e.ok(&["save", "-o", tar.to_str().expect("utf-8"), &made]);
    assert!(std::fs::metadata(&tar).map(|m| m.len()).unwrap_or(0) > 500_000);
    e.ok(&["push", &made]);
    // Pushed and pulled back into an empty store, it runs with the committed file.
    e.ok(&["rmi", &made]);
    e.ok(&["image", "prune", "-a", "-f"]);
    assert_eq!(count(&e, "layers"), 0);
    assert_eq!(count(&e, "blobs/sha256"), 0, "every blob was collected");
    e.ok(&["pull", "-q", &made]);
    assert_eq!(e.ok(&["run", "--rm", &made, "cat", "/file"]), "kept");
    // An untraceable image (its manifest unreadable) stops blob collection, never an
    // image's content: an unreferenced blob stays until the manifest is back.
    let stray = e.root.join("blobs/sha256").join("ab".repeat(32));
    std::fs::write(&stray, b"stray").expect("write");
    let md = e.ok(&["image", "inspect", "-f", "{{index .RepoDigests 0}}", &made]);
    let hex = md.rsplit(':').next().expect("digest").to_string();
    let mpath = e.root.join("blobs/sha256").join(&hex);
    let aside = e.dir.join("manifest");
    std::fs::rename(&mpath, &aside).expect("hide manifest");
    e.ok(&["system", "prune", "-f"]);
    assert!(
        stray.exists(),
        "blobs were collected while one image was untraceable"
    );
    std::fs::rename(&aside, &mpath).expect("restore manifest");
    let o = e.ctl(&["system", "check"]);
    assert!(
        o.stdout.contains("unreferenced blob sha256:ababababab"),
        "{o}"
    );
    assert!(!stray.exists());
    assert_eq!(e.ok(&["run", "--rm", &made, "cat", "/file"]), "kept");
    assert_clean(&e);
}
