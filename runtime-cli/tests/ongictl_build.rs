//! `ongictl build` as a user checks it: an image built from a busybox base pulled from a
//! private registry runs and has the files, owners and config the Dockerfile says; a second
//! build comes from the cache and a changed context file misses it; multi-stage builds
//! with `COPY --from` and `--target` build only the stages needed; `.dockerignore` keeps
//! files out; bad input fails with a clear error and leaves nothing behind.

mod common;

use std::fs;
use std::path::{Path, PathBuf};

use common::engine::{assert_clean, fails_with, registry_with_busybox, Engine};

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

/// Nothing of a build is left: no build directory, mount, cgroup or runtime container.
fn assert_no_build_leftovers(e: &Engine) {
    assert_clean(e);
    let tmp: Vec<String> = fs::read_dir(e.root.join("tmp"))
        .map(|d| {
            d.flatten()
                .map(|x| x.file_name().to_string_lossy().into_owned())
                .filter(|n| n.contains("build"))
                .collect()
        })
        .unwrap_or_default();
    assert!(tmp.is_empty(), "build dirs left: {tmp:?}");
    let rt: Vec<String> = fs::read_dir(e.run_root.join("runtime"))
        .map(|d| {
            d.flatten()
                .map(|x| x.file_name().to_string_lossy().into_owned())
                .collect()
        })
        .unwrap_or_default();
    assert!(rt.iter().all(|n| n.starts_with('.') || n.ends_with(".lock")), "runtime state left: {rt:?}");
}

#[test]
fn build_from_busybox_runs_with_files_and_config() {
    let e = Engine::new("build-basic");
    let r = registry_with_busybox(&e.dir);
    let ctx = context(
        &e.dir,
        "ctx",
        &[
            ("hello.txt", "hello world\n"),
            ("dir/sub.txt", "sub\n"),
            ("owned.txt", "own\n"),
            (
                "Dockerfile",
                "# syntax=docker/dockerfile:1\n\
                 ARG BASE\n\
                 FROM ${BASE}\n\
                 ARG GREETING=hi\n\
                 ENV APP=/app EXTRA=\"a b\"\n\
                 WORKDIR $APP\n\
                 COPY hello.txt .\n\
                 COPY dir/ ./d/\n\
                 COPY --chown=user:user owned.txt /owned/\n\
                 RUN echo \"$GREETING from run\" > run.txt \\\n    && rm /bin/true && echo ran-step\n\
                 RUN <<EOF\necho heredoc > /app/heredoc.txt\nEOF\n\
                 LABEL org.test=yes \"other=two words\"\n\
                 EXPOSE 8080 53/udp\n\
                 VOLUME /data\n\
                 STOPSIGNAL SIGINT\n\
                 HEALTHCHECK --interval=30s --retries=2 CMD true\n\
                 USER user\n\
                 CMD [\"cat\", \"/app/hello.txt\"]\n",
            ),
        ],
    );
    let iid = e.dir.join("iid");
    let base = format!("BASE={}", r.image);
    let out = e.ok(&[
        "build", "-t", "built:v1", "--build-arg", &base, "--build-arg", "GREETING=hello",
        "--iidfile", s(&iid), s(&ctx),
    ]);
    assert!(out.contains("Step 1/17 : ARG BASE\n") && out.contains("Step 2/17 : FROM ${BASE}"), "{out}");
    assert!(out.contains("ran-step"), "RUN output is shown: {out}");
    assert!(out.contains("Successfully tagged built:v1"), "{out}");
    let id = fs::read_to_string(&iid).unwrap_or_default();
    assert!(id.starts_with("sha256:") && out.contains(&format!("Successfully built {}", &id[7..19])), "{id} {out}");

    // The image runs: CMD, files from COPY and RUN, the owner from the image's passwd.
    assert_eq!(e.ok(&["run", "--rm", "built:v1"]), "hello world");
    assert_eq!(e.ok(&["run", "--rm", "built:v1", "cat", "run.txt", "d/sub.txt", "heredoc.txt"]), "hello from run\nsub\nheredoc");
    assert_eq!(e.ok(&["run", "--rm", "built:v1", "stat", "-c", "%u:%g %n", "/owned/owned.txt", "/app/hello.txt"]), "1000:1000 /owned/owned.txt\n0:0 /app/hello.txt");
    assert_eq!(e.ok(&["run", "--rm", "built:v1", "sh", "-c", "test -e /bin/true || echo deleted; id -u"]), "deleted\n1000");

    let c = config(&e, "built:v1");
    let env: Vec<&str> = c["Env"].as_array().map(|a| a.iter().filter_map(|x| x.as_str()).collect()).unwrap_or_default();
    assert!(env.contains(&"APP=/app") && env.contains(&"EXTRA=a b"), "{c}");
    assert!(!env.iter().any(|x| x.starts_with("GREETING")), "ARG is not persisted: {c}");
    assert_eq!(c["WorkingDir"], "/app", "{c}");
    assert_eq!(c["User"], "user", "{c}");
    assert_eq!(c["Cmd"], serde_json::json!(["cat", "/app/hello.txt"]), "{c}");
    assert_eq!(c["Labels"], serde_json::json!({"org.test": "yes", "other": "two words"}), "{c}");
    assert_eq!(c["ExposedPorts"], serde_json::json!({"8080/tcp": {}, "53/udp": {}}), "{c}");
    assert_eq!(c["Volumes"], serde_json::json!({"/data": {}}), "{c}");
    assert_eq!(c["StopSignal"], "SIGINT", "{c}");
    assert_eq!(c["Healthcheck"]["Test"], serde_json::json!(["CMD-SHELL", "true"]), "{c}");
    assert_eq!(c["Healthcheck"]["Interval"], 30_000_000_000i64, "{c}");

    // docker's history: one row per instruction after the base's, layers only for COPY/RUN.
    let h = e.ok(&["history", "--no-trunc", "built:v1"]);
    assert!(h.contains("|1 GREETING=hello /bin/sh -c echo \"$GREETING from run\""), "{h}");
    let env_row = h.lines().find(|l| l.contains("#(nop)  ENV APP=/app EXTRA=a b")).unwrap_or_default();
    assert!(env_row.contains(" 0B"), "ENV makes no layer: {h}");
    assert_eq!(h.lines().count(), 1 + 15 + 1, "a row per instruction of the stage and the base's: {h}");
    drop(r);
    assert_no_build_leftovers(&e);
}
