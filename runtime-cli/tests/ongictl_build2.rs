//! `ongictl build`, second slice, as a user checks it: a build killed mid-RUN leaves
//! nothing `system check` does not remove, and the next build works; a context tar on
//! stdin (`build -`) with `-f` inside it, `--label`, `--pull`; ONBUILD triggers recorded
//! and run in a child build; the build cache in `system df`.

mod common;

use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use common::engine::{assert_clean, ongictl, registry_with_busybox, Engine};

/// Writes `files` (path, content) under `dir/name`; returns the context directory.
fn context(dir: &Path, name: &str, files: &[(&str, &str)]) -> PathBuf {
    let c = dir.join(name);
    for (p, body) in files {
        let f = c.join(p);
        fs::create_dir_all(f.parent().unwrap_or(&c)).unwrap_or_else(|e| panic!("mkdir: {e}"));
        fs::write(&f, body).unwrap_or_else(|e| panic!("write {}: {e}", f.display()));
    }
    c
}

fn s(p: &Path) -> &str {
    p.to_str().unwrap_or_default()
}

/// The image's config object as `image inspect` shows it.
fn config(e: &Engine, name: &str) -> serde_json::Value {
    let out = e.ok(&["image", "inspect", name]);
    let v: serde_json::Value =
        serde_json::from_str(&out).unwrap_or_else(|err| panic!("inspect JSON: {err}: {out}"));
    v[0]["Config"].clone()
}

fn names(d: &Path) -> Vec<String> {
    fs::read_dir(d)
        .map(|d| {
            d.flatten()
                .map(|x| x.file_name().to_string_lossy().into_owned())
                .collect()
        })
        .unwrap_or_default()
}

/// Runtime containers (named by 64 hex digits; the library's own caches by `@...`).
fn runtime_containers(e: &Engine) -> Vec<String> {
    names(&e.run_root.join("runtime"))
        .into_iter()
        .filter(|n| n.len() == 64 && n.bytes().all(|b| b.is_ascii_hexdigit()))
        .collect()
}

/// cgroup directories of build step `short` (the first 12 digits of its id).
fn step_cgroups(short: &str) -> Vec<PathBuf> {
    let mut out = vec![];
    for h in fs::read_dir("/sys/fs/cgroup")
        .into_iter()
        .flatten()
        .flatten()
    {
        for base in [
            h.path().join("ongictl"),
            PathBuf::from("/sys/fs/cgroup/ongictl"),
        ] {
            for n in names(&base) {
                if n.starts_with(short) {
                    out.push(base.join(n));
                }
            }
        }
    }
    out
}

fn build_dirs(e: &Engine) -> Vec<String> {
    names(&e.root.join("tmp"))
        .into_iter()
        .filter(|n| n.contains("build"))
        .collect()
}

#[test]
fn killed_build_leftovers_go_with_system_check() {
    let e = Engine::new("build2-kill");
    let r = registry_with_busybox(&e.dir);
    let ctx = context(
        &e.dir,
        "ctx",
        &[(
            "Dockerfile",
            &format!(
                "FROM {}\nRUN echo started && sleep 30\nRUN echo after\n",
                r.image
            ),
        )],
    );
    let out_path = e.dir.join("killed.out");
    let mut child = Command::new(ongictl())
        .arg("--root")
        .arg(&e.root)
        .arg("--run-root")
        .arg(&e.run_root)
        .args(["build", "-t", "killed:v1", s(&ctx)])
        .stdin(Stdio::null())
        .stdout(fs::File::create(&out_path).unwrap_or_else(|e| panic!("{e}")))
        .stderr(Stdio::null())
        .spawn()
        .unwrap_or_else(|e| panic!("spawn ongictl build: {e}"));
    // Killed once the RUN step's container is running: its output is there.
    let deadline = Instant::now() + Duration::from_secs(60);
    let out = loop {
        let out = fs::read_to_string(&out_path).unwrap_or_default();
        if out.contains("started") {
            break out;
        }
        assert!(Instant::now() < deadline, "RUN never started: {out}");
        assert!(
            child.try_wait().ok().flatten().is_none(),
            "build ended early: {out}"
        );
        std::thread::sleep(Duration::from_millis(50));
    };
    child.kill().unwrap_or_else(|e| panic!("kill -9: {e}"));
    let _ = child.wait();
    let short = out
        .split(" ---> Running in ")
        .nth(1)
        .map(|x| x[..12].to_string())
        .unwrap_or_else(|| panic!("no step container: {out}"));

    // What the kill left (so the test below can fail): the build dir, its overlay, the
    // step's container.
    assert!(!build_dirs(&e).is_empty(), "no build dir left?");
    assert!(!e.mounts().is_empty(), "no overlay left?");
    assert!(
        runtime_containers(&e).iter().any(|n| n.starts_with(&short)),
        "no step container left?"
    );

    let started = Instant::now();
    let o = e.ctl(&["system", "check"]);
    // fsck's convention: 1 = problems found and repaired.
    assert_eq!(o.code(), Some(1), "{o}");
    let fixed = o.stdout.clone();
    assert!(
        started.elapsed() < Duration::from_secs(20),
        "system check waited for the step's sleep: {:?}",
        started.elapsed()
    );
    assert!(fixed.contains("build"), "{fixed}");
    assert!(build_dirs(&e).is_empty(), "{:?}", build_dirs(&e));
    assert!(e.mounts().is_empty(), "mounts left: {:?}", e.mounts());
    assert!(
        runtime_containers(&e).is_empty(),
        "{:?}",
        runtime_containers(&e)
    );
    assert!(
        step_cgroups(&short).is_empty(),
        "{:?}",
        step_cgroups(&short)
    );
    assert_eq!(
        e.ok(&["system", "check"]),
        "store is consistent",
        "a second check finds nothing"
    );

    // The next build works (a shorter RUN, same base).
    fs::write(
        ctx.join("Dockerfile"),
        format!("FROM {}\nRUN echo done > /done\n", r.image),
    )
    .unwrap_or_else(|e| panic!("{e}"));
    e.ok(&["build", "-t", "next:v1", s(&ctx)]);
    assert_eq!(e.ok(&["run", "--rm", "next:v1", "cat", "/done"]), "done");
    assert_clean(&e);
}
