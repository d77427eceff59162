//! `ongictl build` as a user checks it: an image built from a busybox base pulled from a
//! private registry runs and has the files, owners and config the Dockerfile says; a second
//! build comes from the cache and a changed context file misses it; multi-stage builds
//! with `COPY --from` and `--target` build only the stages needed; `.dockerignore` keeps
//! files out; bad input fails with a clear error and leaves nothing behind.

mod common;

use std::fs;
use std::path::Path;

use common::engine::{assert_clean, fails_with, registry_with_busybox, Engine};

use common::build::{config, context, s};

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
    // Runtime containers are named by 64 hex digits (the library's own caches by `@...`).
    let left: Vec<&String> = rt
        .iter()
        .filter(|n| n.len() == 64 && n.bytes().all(|b| b.is_ascii_hexdigit()))
        .collect();
    assert!(left.is_empty(), "runtime containers left: {left:?}");
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
        "build",
        "-t",
        "built:v1",
        "--build-arg",
        &base,
        "--build-arg",
        "GREETING=hello",
        "--iidfile",
        s(&iid),
        s(&ctx),
    ]);
    assert!(
        out.contains("Step 1/17 : ARG BASE\n") && out.contains("Step 2/17 : FROM ${BASE}"),
        "{out}"
    );
    assert!(out.contains("ran-step"), "RUN output is shown: {out}");
    assert!(out.contains("Successfully tagged built:v1"), "{out}");
    let id = fs::read_to_string(&iid).unwrap_or_default();
    assert!(
        id.starts_with("sha256:") && out.contains(&format!("Successfully built {}", &id[7..19])),
        "{id} {out}"
    );

    // The image runs: CMD, files from COPY and RUN, the owner from the image's passwd.
    assert_eq!(e.ok(&["run", "--rm", "built:v1"]), "hello world");
    assert_eq!(
        e.ok(&[
            "run",
            "--rm",
            "built:v1",
            "cat",
            "run.txt",
            "d/sub.txt",
            "heredoc.txt"
        ]),
        "hello from run\nsub\nheredoc"
    );
    assert_eq!(
        e.ok(&[
            "run",
            "--rm",
            "built:v1",
            "stat",
            "-c",
            "%u:%g %n",
            "/owned/owned.txt",
            "/app/hello.txt"
        ]),
        "1000:1000 /owned/owned.txt\n0:0 /app/hello.txt"
    );
    assert_eq!(
        e.ok(&[
            "run",
            "--rm",
            "built:v1",
            "sh",
            "-c",
            "test -e /bin/true || echo deleted; id -u"
        ]),
        "deleted\n1000"
    );

    let c = config(&e, "built:v1");
    let env: Vec<&str> = c["Env"]
        .as_array()
        .map(|a| a.iter().filter_map(|x| x.as_str()).collect())
        .unwrap_or_default();
    assert!(
        env.contains(&"APP=/app") && env.contains(&"EXTRA=a b"),
        "{c}"
    );
    assert!(
        !env.iter().any(|x| x.starts_with("GREETING")),
        "ARG is not persisted: {c}"
    );
    assert_eq!(c["WorkingDir"], "/app", "{c}");
    assert_eq!(c["User"], "user", "{c}");
    assert_eq!(
        c["Cmd"],
        serde_json::json!(["cat", "/app/hello.txt"]),
        "{c}"
    );
    assert_eq!(
        c["Labels"],
        serde_json::json!({"org.test": "yes", "other": "two words"}),
        "{c}"
    );
    assert_eq!(
        c["ExposedPorts"],
        serde_json::json!({"8080/tcp": {}, "53/udp": {}}),
        "{c}"
    );
    assert_eq!(c["Volumes"], serde_json::json!({"/data": {}}), "{c}");
    assert_eq!(c["StopSignal"], "SIGINT", "{c}");
    assert_eq!(
        c["Healthcheck"]["Test"],
        serde_json::json!(["CMD-SHELL", "true"]),
        "{c}"
    );
    assert_eq!(c["Healthcheck"]["Interval"], 30_000_000_000i64, "{c}");

    // docker's history: one row per instruction after the base's, layers only for COPY/RUN.
    let h = e.ok(&["history", "--no-trunc", "built:v1"]);
    assert!(
        h.contains("|1 GREETING=hello /bin/sh -c echo \"$GREETING from run\""),
        "{h}"
    );
    let env_row = h
        .lines()
        .find(|l| l.contains("#(nop)  ENV APP=/app EXTRA=a b"))
        .unwrap_or_default();
    assert!(env_row.contains(" 0B"), "ENV makes no layer: {h}");
    assert_eq!(
        h.lines().count(),
        1 + 15 + 1,
        "a row per instruction of the stage and the base's: {h}"
    );
    drop(r);
    assert_no_build_leftovers(&e);
}

/// Builds `ctx` with `args`; returns stdout.
fn build(e: &Engine, ctx: &Path, args: &[&str]) -> String {
    let mut a = vec!["build"];
    a.extend_from_slice(args);
    a.push(s(ctx));
    e.ok(&a)
}

#[test]
fn second_build_is_cached_and_a_changed_file_misses() {
    let e = Engine::new("build-cache");
    let r = registry_with_busybox(&e.dir);
    let df = format!(
        "FROM {}\nCOPY a.txt /a.txt\nRUN cat /a.txt > /copy.txt\nCOPY b.txt /b.txt\nRUN echo done\n",
        r.image
    );
    let ctx = context(
        &e.dir,
        "ctx",
        &[("a.txt", "one\n"), ("b.txt", "b\n"), ("Dockerfile", &df)],
    );
    let first = build(&e, &ctx, &["-q"]);
    assert!(
        first.starts_with("sha256:"),
        "-q prints the id only: {first}"
    );
    let out = build(&e, &ctx, &["-t", "c:1"]);
    assert_eq!(
        out.matches(" ---> Using cache").count(),
        4,
        "every COPY and RUN cached: {out}"
    );
    assert!(!out.contains("Running in"), "{out}");
    assert!(
        out.contains(&format!("Successfully built {}", &first[7..19])),
        "same image: {out}"
    );

    // An mtime alone is no change; content is.
    let a = ctx.join("a.txt");
    let f = fs::File::options()
        .write(true)
        .open(&a)
        .unwrap_or_else(|e| panic!("{e}"));
    f.set_modified(std::time::SystemTime::now() + std::time::Duration::from_secs(100))
        .unwrap_or_else(|e| panic!("{e}"));
    drop(f);
    let out = build(&e, &ctx, &[]);
    assert_eq!(
        out.matches(" ---> Using cache").count(),
        4,
        "touch is no change: {out}"
    );
    fs::write(&a, "two\n").unwrap_or_else(|e| panic!("{e}"));
    let out = build(&e, &ctx, &["-t", "c:2"]);
    assert_eq!(
        out.matches(" ---> Using cache").count(),
        0,
        "the change and all after it miss: {out}"
    );
    assert_eq!(out.matches("Running in").count(), 2, "{out}");
    assert_eq!(e.ok(&["run", "--rm", "c:2", "cat", "/copy.txt"]), "two");
    // --no-cache runs everything again.
    let out = build(&e, &ctx, &["--no-cache"]);
    assert!(
        !out.contains("Using cache") && out.matches("Running in").count() == 2,
        "{out}"
    );
    // builder prune forgets the cache; images keep their layers.
    let out = e.ok(&["builder", "prune", "-f"]);
    assert!(out.starts_with("Total reclaimed space: "), "{out}");
    let out = build(&e, &ctx, &[]);
    assert!(
        !out.contains("Using cache") && out.matches("Running in").count() == 2,
        "{out}"
    );
    assert_eq!(e.ok(&["run", "--rm", "c:2", "cat", "/copy.txt"]), "two");
    drop(r);
    assert_no_build_leftovers(&e);
}

#[test]
fn multi_stage_copy_from_and_target() {
    let e = Engine::new("build-stages");
    let r = registry_with_busybox(&e.dir);
    let df = format!(
        "ARG BASE={img}\n\
         FROM $BASE AS builder\n\
         RUN mkdir /out && echo artifact > /out/a.txt\n\
         FROM $BASE AS broken\n\
         RUN echo broken stage ran && exit 7\n\
         FROM scratch AS files\n\
         COPY --from=builder /out/ /from-builder/\n\
         FROM $BASE\n\
         COPY --from=files /from-builder/a.txt /final/\n\
         COPY --from=0 /out/a.txt /final/b.txt\n\
         CMD [\"cat\", \"/final/a.txt\", \"/final/b.txt\"]\n",
        img = r.image
    );
    let ctx = context(&e.dir, "ctx", &[("Dockerfile", &df)]);
    // The broken stage is not needed by the last one: it never runs.
    let out = build(&e, &ctx, &["-t", "ms:final"]);
    assert!(!out.contains("broken stage ran"), "{out}");
    assert_eq!(e.ok(&["run", "--rm", "ms:final"]), "artifact\nartifact");
    // --target stops at a stage.
    build(&e, &ctx, &["-t", "ms:builder", "--target", "builder"]);
    assert_eq!(
        e.ok(&[
            "run",
            "--rm",
            "ms:builder",
            "sh",
            "-c",
            "cat /out/a.txt; test -e /final || echo no-final"
        ]),
        "artifact\nno-final"
    );
    // A stage that fails fails the build with its code.
    let o = e.ctl(&["build", "--target", "broken", s(&ctx)]);
    fails_with(&o, 7, "returned a non-zero code: 7");
    let o = e.ctl(&["build", "--target", "nosuch", s(&ctx)]);
    fails_with(&o, 1, "failed to reach build target nosuch in Dockerfile");
    drop(r);
    assert_no_build_leftovers(&e);
}

#[test]
fn dockerignore_keeps_files_out() {
    let e = Engine::new("build-ignore");
    let r = registry_with_busybox(&e.dir);
    let df = format!("FROM {}\nCOPY . /ctx/\n", r.image);
    let ctx = context(
        &e.dir,
        "ctx",
        &[
            ("Dockerfile", &df),
            (
                ".dockerignore",
                "# secrets\n*.secret\nlogs\n!logs/keep.log\n**/cache\n",
            ),
            ("app.txt", "a"),
            ("x.secret", "s"),
            ("logs/other.log", "o"),
            ("logs/keep.log", "k"),
            ("src/deep/cache/junk", "j"),
            ("src/deep/main.c", "m"),
        ],
    );
    build(&e, &ctx, &["-t", "ign:1"]);
    let files = e.ok(&["run", "--rm", "ign:1", "find", "/ctx", "-type", "f"]);
    let mut got: Vec<&str> = files.lines().collect();
    got.sort();
    assert_eq!(
        got,
        [
            "/ctx/.dockerignore",
            "/ctx/Dockerfile",
            "/ctx/app.txt",
            "/ctx/logs/keep.log",
            "/ctx/src/deep/main.c"
        ],
        "{files}"
    );
    // An excluded file named directly is not found.
    fs::write(
        ctx.join("Dockerfile"),
        format!("FROM {}\nCOPY x.secret /\n", r.image),
    )
    .unwrap_or_else(|e| panic!("{e}"));
    let o = e.ctl(&["build", s(&ctx)]);
    fails_with(
        &o,
        1,
        "file not found in build context or excluded by .dockerignore: stat x.secret",
    );
    drop(r);
    assert_no_build_leftovers(&e);
}

#[test]
fn bad_input_fails_clearly_and_leaves_nothing() {
    let e = Engine::new("build-bad");
    let r = registry_with_busybox(&e.dir);
    let img = &r.image;
    let ctx = context(&e.dir, "ctx", &[("f.txt", "f")]);
    let df = ctx.join("Dockerfile");
    let try_df = |text: String| {
        fs::write(&df, text).unwrap_or_else(|e| panic!("{e}"));
        e.ctl(&["build", "-t", "bad:1", s(&ctx)])
    };
    let o = try_df(format!("FROM {img}\nRUN true\nFROBNICATE x\n"));
    fails_with(
        &o,
        1,
        &format!(
            "dockerfile parse error on line 3 of {}: unknown instruction: FROBNICATE",
            df.display()
        ),
    );
    let o = try_df(format!("FROM {img}\nCOPY missing.txt /\n"));
    fails_with(&o, 1, "Dockerfile line 2: COPY: file not found in build context or excluded by .dockerignore: stat missing.txt");
    let o = try_df(format!("FROM {img}\nCOPY ../outside /\n"));
    fails_with(
        &o,
        1,
        "forbidden path outside the build context: ../outside",
    );
    let o = try_df(format!("FROM {img}\nCOPY f.txt f.txt /dir\n"));
    fails_with(
        &o,
        1,
        "the destination must be a directory and end with a /",
    );
    let o = try_df(format!("FROM {img}\nCOPY --chown=nobody f.txt /\n"));
    fails_with(&o, 1, "no such user: nobody");
    let o = try_df(format!(
        "FROM {img} AS a\nCOPY --from=nosuch-image:1 /x /\n"
    ));
    assert_eq!(o.code(), Some(1), "{o}");
    // A failing RUN shows its output and exit code, and leaves no image, mount or container.
    let o = try_df(format!(
        "FROM {img}\nCOPY f.txt /\nRUN echo output-before-failure; echo err-out >&2; exit 3\n"
    ));
    fails_with(&o, 3, "The command '/bin/sh -c echo output-before-failure; echo err-out >&2; exit 3' returned a non-zero code: 3");
    assert!(
        o.stdout.contains("output-before-failure") && o.stdout.contains("err-out"),
        "{o}"
    );
    // Under -q the output of the failing step still shows.
    let o = e.ctl(&["build", "-q", s(&ctx)]);
    assert_eq!(o.code(), Some(3), "{o}");
    assert!(o.stderr.contains("output-before-failure"), "{o}");
    let images = e.ok(&["images", "-q"]);
    assert_eq!(images.lines().count(), 1, "only the pulled base: {images}");
    drop(r);
    assert_no_build_leftovers(&e);
}

/// `ongictl build -q` with SOURCE_DATE_EPOCH set; returns the image id.
fn build_at_epoch(e: &Engine, ctx: &Path, epoch: &str) -> String {
    let mut c = std::process::Command::new(common::engine::ongictl());
    c.arg("--root")
        .arg(&e.root)
        .arg("--run-root")
        .arg(&e.run_root)
        .args(["build", "-q", s(ctx)])
        .env("SOURCE_DATE_EPOCH", epoch);
    let o = common::clients::run_limited(&mut c, &e.dir, std::time::Duration::from_secs(120))
        .unwrap_or_else(|err| panic!("{err}"));
    assert!(o.ok(), "{o}");
    o.stdout.trim().to_string()
}

#[test]
fn source_date_epoch_gives_the_same_image_in_two_fresh_roots() {
    let a = Engine::new("build-repro-a");
    let b = Engine::new("build-repro-b");
    let r = registry_with_busybox(&a.dir);
    let df = format!(
        "FROM {}\nCOPY f.txt /f.txt\nRUN mkdir /made && echo x > /made/x && rm /bin/true && ln /made/x /made/hard\nADD t.tar.gz /unpacked/\nENV A=1\n",
        r.image
    );
    let ctx = context(
        &a.dir,
        "ctx",
        &[
            ("f.txt", "f\n"),
            ("Dockerfile", &df),
            ("tar/inner.txt", "inner\n"),
        ],
    );
    let mut t = std::process::Command::new("tar");
    t.arg("-czf")
        .arg(ctx.join("t.tar.gz"))
        .arg("-C")
        .arg(ctx.join("tar"))
        .arg("inner.txt");
    let o = common::clients::run_limited(&mut t, &a.dir, std::time::Duration::from_secs(30))
        .unwrap_or_else(|err| panic!("{err}"));
    assert!(o.ok(), "{o}");
    let one = build_at_epoch(&a, &ctx, "1700000000");
    // Another second on the clock: only the epoch may show in the image.
    std::thread::sleep(std::time::Duration::from_millis(1100));
    let two = build_at_epoch(&b, &ctx, "1700000000");
    assert!(one.starts_with("sha256:"), "{one}");
    assert_eq!(one, two, "same Dockerfile, context and epoch: same image");
    let created = b.ok(&["image", "inspect", "--format", "{{.Created}}", &two]);
    assert_eq!(created, "2023-11-14T22:13:20Z");
    // ADD unpacked the local archive.
    assert_eq!(
        b.ok(&["run", "--rm", &two, "cat", "/unpacked/inner.txt"]),
        "inner"
    );
    let three = build_at_epoch(&b, &ctx, "1700000001");
    assert_ne!(two, three, "the epoch is in the image");
    drop(r);
    assert_no_build_leftovers(&a);
    assert_no_build_leftovers(&b);
}

/// The same Dockerfile and context built by docker's classic builder (a private dockerd,
/// DOCKER_BUILDKIT=0) and by `ongictl build`: the same config fields and the same files,
/// modes and owners.
#[test]
fn same_image_as_docker_classic_builder() {
    let e = Engine::new("build-docker");
    let r = registry_with_busybox(&e.dir);
    let df = format!(
        "ARG BASE={img}\n\
         FROM $BASE\n\
         ARG GREETING=hi\n\
         ENV APP=/app EXTRA=\"a b\"\n\
         WORKDIR $APP\n\
         COPY hello.txt .\n\
         COPY dir/ ./d/\n\
         COPY --chown=user:user owned.txt /owned/\n\
         COPY *.md /docs/\n\
         RUN echo \"$GREETING\" > run.txt && chmod 0751 run.txt && rm /bin/true\n\
         LABEL org.test=yes other=\"two words\"\n\
         EXPOSE 8080 53/udp\n\
         VOLUME /data\n\
         STOPSIGNAL SIGINT\n\
         HEALTHCHECK --interval=30s --retries=2 CMD true\n\
         USER user\n\
         ENTRYPOINT [\"/bin/sh\", \"-c\"]\n\
         CMD [\"cat /app/hello.txt\"]\n",
        img = r.image
    );
    let ctx = context(
        &e.dir,
        "ctx",
        &[
            ("hello.txt", "hello\n"),
            ("dir/sub.txt", "sub\n"),
            ("dir/deeper/x", "x\n"),
            ("owned.txt", "own\n"),
            ("a.md", "a\n"),
            ("b.md", "b\n"),
            ("Dockerfile", &df),
            (".dockerignore", "b.md\n"),
        ],
    );
    build(&e, &ctx, &["-t", "cmp:ongi"]);
    let d = common::clients::docker::Dockerd::start(&e.dir);
    let mut c = d.cli();
    c.env("DOCKER_BUILDKIT", "0")
        .args(["build", "-t", "cmp:docker", s(&ctx)]);
    let o = common::clients::run_limited(&mut c, &e.dir, std::time::Duration::from_secs(300))
        .unwrap_or_else(|err| panic!("{err}"));
    assert!(o.ok(), "docker build: {o}");
    let theirs = d.docker(&["image", "inspect", "cmp:docker"]);
    assert!(theirs.ok(), "{theirs}");
    let theirs: serde_json::Value = serde_json::from_str(&theirs.stdout).unwrap_or_default();
    let theirs = &theirs[0]["Config"];
    let ours = config(&e, "cmp:ongi");
    for f in [
        "Env",
        "Cmd",
        "Entrypoint",
        "WorkingDir",
        "User",
        "ExposedPorts",
        "Volumes",
        "Labels",
        "Healthcheck",
        "StopSignal",
    ] {
        let norm = |v: &serde_json::Value| {
            if v.is_null() || v == "" {
                serde_json::Value::Null
            } else {
                v.clone()
            }
        };
        assert_eq!(
            norm(&ours[f]),
            norm(&theirs[f]),
            "Config.{f}: ours {ours} docker's {theirs}"
        );
    }
    // Files: names, types, modes, owners and contents of what the build made.
    let list = "find /app /owned /docs /bin/true -exec stat -c '%n %F %a %u:%g %s' {} \\; 2>&1; cat /app/run.txt";
    let ours = e.ok(&[
        "run",
        "--rm",
        "-u",
        "0",
        "--entrypoint",
        "sh",
        "cmp:ongi",
        "-c",
        list,
    ]);
    let theirs = d.docker(&[
        "run",
        "--rm",
        "--network",
        "none",
        "-u",
        "0",
        "--entrypoint",
        "sh",
        "cmp:docker",
        "-c",
        list,
    ]);
    assert!(theirs.ok(), "{theirs}");
    let mut a: Vec<&str> = ours.lines().collect();
    let mut b: Vec<&str> = theirs.stdout.trim().lines().collect();
    a.sort();
    b.sort();
    assert_eq!(a, b, "files of the two images");
    drop(d);
    drop(r);
    assert_no_build_leftovers(&e);
}
