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

use common::build::{config, context, s};

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
        // The echo's own line, not the "Step 2/3 : RUN echo started ..." line before it.
        if out.lines().any(|l| l.trim() == "started") {
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

/// `ongictl build ARGS -` with `input` on stdin.
fn build_stdin(e: &Engine, args: &[&str], input: &Path) -> common::clients::Out {
    let mut c = Command::new(ongictl());
    c.arg("--root")
        .arg(&e.root)
        .arg("--run-root")
        .arg(&e.run_root)
        .arg("build")
        .args(args)
        .arg("-");
    let f = fs::File::open(input).unwrap_or_else(|err| panic!("{}: {err}", input.display()));
    common::clients::run_limited_stdin(&mut c, &e.dir, Duration::from_secs(120), f.into())
        .unwrap_or_else(|err| panic!("{err}"))
}

#[test]
fn context_tar_on_stdin_with_file_labels_and_plain_dockerfile() {
    let e = Engine::new("build2-stdin");
    let r = registry_with_busybox(&e.dir);
    let ctx = context(
        &e.dir,
        "ctx",
        &[
            ("app/hello.txt", "hello from the tar\n"),
            (
                "sub/Dockerfile.custom",
                &format!(
                    "FROM {}\nCOPY app/hello.txt /hello.txt\nLABEL org.test=file keep=yes\n\
                     CMD [\"cat\", \"/hello.txt\"]\n",
                    r.image
                ),
            ),
        ],
    );
    let tar = e.dir.join("ctx.tar.gz");
    let o = Command::new("tar")
        .arg("-czf")
        .arg(&tar)
        .arg("-C")
        .arg(&ctx)
        .arg(".")
        .status()
        .unwrap_or_else(|err| panic!("tar: {err}"));
    assert!(o.success());

    // -f names a file inside the tar; --label adds to (and overrides) the Dockerfile's.
    let o = build_stdin(
        &e,
        &[
            "-t",
            "fromtar:v1",
            "-f",
            "sub/Dockerfile.custom",
            "--label",
            "org.test=flag",
            "--label",
            "extra=1",
        ],
        &tar,
    );
    assert!(o.ok(), "{o}");
    assert!(o.stdout.contains("Successfully tagged fromtar:v1"), "{o}");
    assert_eq!(e.ok(&["run", "--rm", "fromtar:v1"]), "hello from the tar");
    let labels = &config(&e, "fromtar:v1")["Labels"];
    assert_eq!(labels["org.test"], "flag", "{labels}");
    assert_eq!(labels["keep"], "yes", "{labels}");
    assert_eq!(labels["extra"], "1", "{labels}");
    // The unpacked context is gone with the build.
    assert!(
        names(&e.root.join("tmp")).is_empty(),
        "{:?}",
        names(&e.root.join("tmp"))
    );

    // A -f that is not in the tar.
    let o = build_stdin(&e, &["-f", "nope/Dockerfile"], &tar);
    assert_eq!(o.code(), Some(1), "{o}");
    assert!(
        o.stderr
            .contains("Cannot locate specified Dockerfile: nope/Dockerfile"),
        "{o}"
    );

    // A Dockerfile alone on stdin: no context, so RUN works and COPY has nothing to copy.
    let df = e.dir.join("plain.Dockerfile");
    fs::write(&df, format!("FROM {}\nRUN echo plain > /plain\n", r.image))
        .unwrap_or_else(|err| panic!("{err}"));
    let o = build_stdin(&e, &["-t", "plain:v1"], &df);
    assert!(o.ok(), "{o}");
    assert_eq!(e.ok(&["run", "--rm", "plain:v1", "cat", "/plain"]), "plain");
    fs::write(&df, format!("FROM {}\nCOPY app/hello.txt /\n", r.image))
        .unwrap_or_else(|err| panic!("{err}"));
    let o = build_stdin(&e, &[], &df);
    assert_eq!(o.code(), Some(1), "{o}");
    assert!(o.stderr.contains("app/hello.txt"), "{o}");
    assert!(
        names(&e.root.join("tmp")).is_empty(),
        "{:?}",
        names(&e.root.join("tmp"))
    );
    assert_clean(&e);
}

#[test]
fn pull_flag_takes_the_registry_base_again() {
    let e = Engine::new("build2-pull");
    let r = registry_with_busybox(&e.dir);
    let ctx = context(
        &e.dir,
        "ctx",
        &[(
            "Dockerfile",
            &format!(
                "FROM {}\nRUN cat /marker 2>/dev/null || echo none > /marker\n",
                r.image
            ),
        )],
    );
    e.ok(&["build", "-t", "app:v1", s(&ctx)]);
    assert_eq!(e.ok(&["run", "--rm", "app:v1", "cat", "/marker"]), "none");

    // Someone else pushes a new base under the same name.
    let other = Engine::new("build2-pull-other");
    let octx = context(
        &e.dir,
        "octx",
        &[(
            "Dockerfile",
            &format!("FROM {}\nRUN echo new-base > /marker\n", r.image),
        )],
    );
    other.ok(&["build", "-t", &r.image, s(&octx)]);
    other.ok(&["push", &r.image]);

    // Without --pull the local base is used (and the cache); with it, the new one.
    e.ok(&["build", "-t", "app:v2", s(&ctx)]);
    assert_eq!(e.ok(&["run", "--rm", "app:v2", "cat", "/marker"]), "none");
    e.ok(&["build", "--pull", "-t", "app:v3", s(&ctx)]);
    assert_eq!(
        e.ok(&["run", "--rm", "app:v3", "cat", "/marker"]),
        "new-base"
    );
    drop(other);
    assert_clean(&e);
}

#[test]
fn onbuild_triggers_recorded_and_run_in_the_child_build() {
    let e = Engine::new("build2-onbuild");
    let r = registry_with_busybox(&e.dir);
    let pctx = context(
        &e.dir,
        "parent",
        &[(
            "Dockerfile",
            &format!(
                "FROM {}\nONBUILD COPY app.txt /app/\nONBUILD RUN echo triggered > /trig\n\
                 CMD [\"cat\", \"/trig\"]\n",
                r.image
            ),
        )],
    );
    e.ok(&["build", "-t", "parent:v1", s(&pctx)]);
    let pc = config(&e, "parent:v1");
    assert_eq!(
        pc["OnBuild"],
        serde_json::json!(["COPY app.txt /app/", "RUN echo triggered > /trig"]),
        "{pc}"
    );
    // Triggers do not run in the image that declares them.
    let o = e.ctl(&["run", "--rm", "parent:v1"]);
    assert_ne!(o.code(), Some(0), "{o}");

    // The child build runs them right after FROM, with its own context.
    let cctx = context(
        &e.dir,
        "child",
        &[
            ("app.txt", "from the child context\n"),
            ("Dockerfile", "FROM parent:v1\nRUN cat /trig /app/app.txt\n"),
        ],
    );
    let out = e.ok(&["build", "-t", "child:v1", s(&cctx)]);
    assert!(out.contains("# Executing 2 build triggers"), "{out}");
    assert!(
        out.find("# Executing").unwrap_or(usize::MAX) < out.find("Step 2/2").unwrap_or(0),
        "triggers run before the child's own steps: {out}"
    );
    assert!(out.contains("triggered\nfrom the child context"), "{out}");
    assert_eq!(e.ok(&["run", "--rm", "child:v1"]), "triggered");
    assert_eq!(
        e.ok(&["run", "--rm", "child:v1", "cat", "/app/app.txt"]),
        "from the child context"
    );
    // The child does not pass them on (docker's rule): a grandchild runs none.
    assert!(config(&e, "child:v1")["OnBuild"].is_null());
    let gctx = context(
        &e.dir,
        "grand",
        &[("Dockerfile", "FROM child:v1\nRUN true\n")],
    );
    let out = e.ok(&["build", "-t", "grand:v1", s(&gctx)]);
    assert!(!out.contains("build trigger"), "{out}");

    // A trigger that needs the child's context fails there, naming the file.
    let empty = context(&e.dir, "empty", &[("Dockerfile", "FROM parent:v1\n")]);
    let o = e.ctl(&["build", s(&empty)]);
    assert_eq!(o.code(), Some(1), "{o}");
    assert!(o.stderr.contains("app.txt"), "{o}");

    // docker's refusals.
    for (bad, why) in [
        (
            "ONBUILD ONBUILD RUN true",
            "Chaining ONBUILD via `ONBUILD ONBUILD` isn't allowed",
        ),
        (
            "ONBUILD FROM busybox",
            "FROM isn't allowed as an ONBUILD trigger",
        ),
    ] {
        let c = context(
            &e.dir,
            "bad",
            &[("Dockerfile", &format!("FROM {}\n{bad}\n", r.image))],
        );
        let o = e.ctl(&["build", s(&c)]);
        assert_eq!(o.code(), Some(1), "{o}");
        assert!(o.stderr.contains(why), "{o}");
    }
    assert_clean(&e);
}

/// `system df`'s Build Cache row: TOTAL, ACTIVE, SIZE, RECLAIMABLE.
fn df_build_cache(e: &Engine) -> Vec<String> {
    let out = e.ok(&["system", "df"]);
    let line = out
        .lines()
        .find(|l| l.starts_with("Build Cache"))
        .unwrap_or_else(|| panic!("no Build Cache row: {out}"));
    line["Build Cache".len()..]
        .split_whitespace()
        .map(String::from)
        .collect()
}

#[test]
fn build_cache_in_system_df() {
    let e = Engine::new("build2-df");
    let r = registry_with_busybox(&e.dir);
    assert_eq!(df_build_cache(&e), ["0", "0", "0B", "0B"]);
    let ctx = context(
        &e.dir,
        "ctx",
        &[
            ("blob.bin", &"x".repeat(200_000)),
            (
                "Dockerfile",
                &format!(
                    "FROM {}\nCOPY blob.bin /\nRUN head -c 100000 /dev/urandom > /rand\nENV A=1\n",
                    r.image
                ),
            ),
        ],
    );
    e.ok(&["build", "-t", "cached:v1", s(&ctx)]);
    let row = df_build_cache(&e);
    // Three cached steps (COPY, RUN, ENV); their layers are the image's: nothing to reclaim.
    assert_eq!(row[0], "3", "{row:?}");
    assert_eq!(row[1], "0", "{row:?}");
    assert_ne!(row[2], "0B", "{row:?}");
    assert_eq!(row[3], "0B", "{row:?}");
    // Without the image, the cache alone holds the layers: all of it is reclaimable.
    e.ok(&["rmi", "cached:v1"]);
    let row2 = df_build_cache(&e);
    assert_eq!(row2[0], "3", "{row2:?}");
    assert_eq!(row2[2], row[2], "{row2:?}");
    assert_eq!(row2[3], row2[2], "{row2:?}");
    e.ok(&["builder", "prune", "-f"]);
    assert_eq!(df_build_cache(&e), ["0", "0", "0B", "0B"]);
    assert_clean(&e);
}
