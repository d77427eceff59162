//! `ongictl build`, third slice, as a user checks it: independent stages run at once
//! (their RUN steps overlap in time, measured by the steps themselves), a failing stage
//! stops the others and leaves nothing behind; `--progress`: plain lines, a live per-step
//! view on a terminal, docker's error for a bad value.

mod common;

use std::fs;
use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

use common::build::{context, s};
use common::clients::run_limited;
use common::engine::{assert_clean, ongictl, registry_with_busybox, Engine};

/// Nothing a build leaves: no build directory, mount, step container or cgroup.
fn assert_no_build_leftovers(e: &Engine) {
    let tmp: Vec<String> = fs::read_dir(e.root.join("tmp"))
        .map(|d| {
            d.flatten()
                .map(|x| x.file_name().to_string_lossy().into_owned())
                .filter(|n| n.contains("build"))
                .collect()
        })
        .unwrap_or_default();
    assert!(tmp.is_empty(), "build dirs left: {tmp:?}");
    let runtime: Vec<String> = fs::read_dir(e.run_root.join("runtime"))
        .map(|d| {
            d.flatten()
                .map(|x| x.file_name().to_string_lossy().into_owned())
                .filter(|n| n.len() == 64)
                .collect()
        })
        .unwrap_or_default();
    assert!(runtime.is_empty(), "step containers left: {runtime:?}");
    assert_clean(e);
}

/// A stage that notes /proc/uptime (the host's clock, the same in every container) before
/// and after `sleep 5`.
fn sleeper(image: &str, name: &str) -> String {
    format!(
        "FROM {image} AS {name}\n\
         RUN cut -d' ' -f1 /proc/uptime > /{name}.t0 && sleep 5 && cut -d' ' -f1 /proc/uptime > /{name}.t1\n"
    )
}

#[test]
fn independent_stages_run_at_once() {
    let e = Engine::new("build3-par");
    let r = registry_with_busybox(&e.dir);
    let df = format!(
        "{}{}FROM {}\nCOPY --from=a /a.t0 /a.t1 /m/\nCOPY --from=b /b.t0 /b.t1 /m/\n",
        sleeper(&r.image, "a"),
        sleeper(&r.image, "b"),
        r.image
    );
    let ctx = context(&e.dir, "ctx", &[("Dockerfile", &df)]);
    let o = e.ctl_limit(
        &["build", "-t", "par:v1", s(&ctx)],
        Duration::from_secs(180),
    );
    assert!(o.ok(), "{o}");
    // Both stages' lines, each marked with its stage, none cut into another.
    for st in ["a", "b"] {
        assert!(
            o.stdout
                .lines()
                .any(|l| l.starts_with(&format!("[{st}] Step ")) && l.contains(": RUN cut")),
            "no step line of stage {st}: {o}"
        );
    }
    // (The base image's pull, on this thread, is not a stage's.)
    assert!(
        !o.stdout
            .lines()
            .any(|l| l.starts_with("Step ") || l.starts_with(" --->") || l.contains("[a] [")),
        "unprefixed or broken line: {o}"
    );
    let out = e.ok(&[
        "run", "--rm", "par:v1", "cat", "/m/a.t0", "/m/a.t1", "/m/b.t0", "/m/b.t1",
    ]);
    let t: Vec<f64> = out
        .split_whitespace()
        .map(|x| x.parse().unwrap_or_else(|err| panic!("{x}: {err}: {out}")))
        .collect();
    assert_eq!(t.len(), 4, "{out}");
    let (a, b) = (t[1] - t[0], t[3] - t[2]);
    assert!(a >= 4.9 && b >= 4.9, "each stage slept 5 s: {t:?}");
    // One after the other, the second sleep would start after the first ended; at once,
    // they overlap (by seconds even where starting a step container is slow, as in CI's
    // emulated VM).
    let (last_start, first_end) = (t[0].max(t[2]), t[1].min(t[3]));
    assert!(
        last_start < first_end,
        "the two 5 s sleeps did not overlap: not in parallel ({t:?})"
    );
    assert_no_build_leftovers(&e);
}

#[test]
fn failing_stage_stops_the_others_and_leaves_nothing() {
    let e = Engine::new("build3-fail");
    let r = registry_with_busybox(&e.dir);
    let df = format!(
        "FROM {img} AS slow\nRUN echo slow-started && sleep 120\n\
         FROM {img} AS bad\nRUN sleep 1; echo boom-output; exit 3\n\
         FROM {img}\nCOPY --from=slow /etc/hostname /s\nCOPY --from=bad /etc/hostname /b\n",
        img = r.image
    );
    let ctx = context(&e.dir, "ctx", &[("Dockerfile", &df)]);
    let started = Instant::now();
    let o = e.ctl_limit(
        &["build", "-t", "fails:v1", s(&ctx)],
        Duration::from_secs(180),
    );
    let took = started.elapsed();
    // docker's classic builder: the failing RUN's code and its message.
    assert_eq!(o.code(), Some(3), "{o}");
    assert!(
        o.stderr
            .contains("The command '/bin/sh -c sleep 1; echo boom-output; exit 3' returned a non-zero code: 3"),
        "{o}"
    );
    assert!(o.stdout.contains("[bad] boom-output"), "{o}");
    // The slow stage was stopped, not waited for (its sleep is 120 s).
    assert!(took < Duration::from_secs(90), "took {took:?}: {o}");
    assert!(!e.ok(&["images"]).contains("fails"), "an image was made");
    assert_no_build_leftovers(&e);
}

/// `ongictl ARGS` on a terminal (a pty made by `script`); its transcript and exit code.
fn in_pty(e: &Engine, args: &[&str]) -> common::clients::Out {
    let q = |x: &str| format!("'{}'", x.replace('\'', r"'\''"));
    let mut line = vec![
        q(&ongictl().to_string_lossy()),
        "--root".into(),
        q(&e.root.to_string_lossy()),
        "--run-root".into(),
        q(&e.run_root.to_string_lossy()),
    ];
    line.extend(args.iter().map(|a| q(a)));
    let mut c = Command::new("script");
    c.args(["-qfec", &line.join(" "), "/dev/null"])
        .env("TERM", "xterm")
        .env("COLUMNS", "160");
    run_limited(&mut c, &e.dir, Duration::from_secs(120)).unwrap_or_else(|err| panic!("{err}"))
}

fn dockerfile(dir: &Path, name: &str, df: &str) -> std::path::PathBuf {
    context(dir, name, &[("Dockerfile", df)])
}

#[test]
fn progress_tty_shows_step_states_and_plain_stays_plain() {
    let e = Engine::new("build3-tty");
    let r = registry_with_busybox(&e.dir);
    e.ok(&["pull", &r.image]);
    let ctx = dockerfile(
        &e.dir,
        "ok",
        &format!(
            "FROM {}\nRUN echo first-step-says-hi\nRUN sleep 1 && echo second\n",
            r.image
        ),
    );
    let o = in_pty(&e, &["build", "--progress", "tty", "-t", "tty:v1", s(&ctx)]);
    assert_eq!(o.code(), Some(0), "{o}");
    assert!(
        o.stdout.contains("Step 2/3 : RUN echo first-step-says-hi"),
        "{o}"
    );
    assert!(o.stdout.contains("DONE"), "no DONE state: {o}");
    // The live view, not the plain lines.
    assert!(!o.stdout.contains(" ---> Running in"), "{o}");
    assert!(o.stdout.contains("Successfully tagged tty:v1"), "{o}");
    // Again: every step from the cache.
    let o = in_pty(&e, &["build", "--progress", "tty", "-t", "tty:v1", s(&ctx)]);
    assert_eq!(o.code(), Some(0), "{o}");
    assert!(o.stdout.contains("CACHED"), "no CACHED state: {o}");

    // --progress plain on a terminal and the default without one: the plain lines.
    let o = in_pty(&e, &["build", "--progress", "plain", "--no-cache", s(&ctx)]);
    assert_eq!(o.code(), Some(0), "{o}");
    for want in [
        "Step 1/3 : FROM",
        "Step 2/3 : RUN echo first-step-says-hi",
        " ---> Running in ",
        "first-step-says-hi",
        "Removing intermediate container ",
        "Successfully built ",
    ] {
        assert!(o.stdout.contains(want), "want {want:?}: {o}");
    }
    assert!(
        !o.stdout.contains("DONE") && !o.stdout.contains('\u{1b}'),
        "{o}"
    );
    let plain = e.ok(&["build", "--no-cache", s(&ctx)]);
    assert!(
        plain.starts_with("Step 1/3 : FROM ") && plain.contains("\nfirst-step-says-hi\n"),
        "{plain}"
    );
    assert!(
        !plain.contains('['),
        "no stage prefix in a one-stage build: {plain}"
    );
    assert_clean(&e);
}

#[test]
fn progress_tty_failing_run_prints_its_output_and_code() {
    let e = Engine::new("build3-ttyfail");
    let r = registry_with_busybox(&e.dir);
    e.ok(&["pull", &r.image]);
    let ctx = dockerfile(
        &e.dir,
        "bad",
        &format!(
            "FROM {}\nRUN echo fail-line-1; echo fail-line-2; echo fail-line-3; exit 7\n",
            r.image
        ),
    );
    let o = in_pty(&e, &["build", "--progress", "tty", "-t", "bad:v1", s(&ctx)]);
    assert_eq!(o.code(), Some(7), "{o}");
    assert!(o.stdout.contains("ERROR"), "no ERROR state: {o}");
    // The whole output at the end, after the live view.
    let tail = o.stdout.rsplit("ERROR").next().unwrap_or_default();
    for l in [
        "fail-line-1",
        "fail-line-2",
        "fail-line-3",
        "returned a non-zero code: 7",
    ] {
        assert!(tail.contains(l), "want {l:?} after the view: {o}");
    }
    assert_no_build_leftovers(&e);
}

#[test]
fn progress_bad_value_is_refused() {
    let e = Engine::new("build3-badprog");
    let ctx = dockerfile(&e.dir, "x", "FROM scratch\n");
    let o = e.ctl(&["build", "--progress", "fancy", s(&ctx)]);
    assert_eq!(o.code(), Some(1), "{o}");
    assert!(o.stderr.contains("invalid progress mode fancy"), "{o}");
    assert!(
        fs::read_dir(e.root.join("tmp")).map_or(true, |d| d.count() == 0),
        "left something"
    );
}
