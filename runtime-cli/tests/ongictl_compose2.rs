//! `ongictl compose`, second slice, as a docker compose user meets it: the commands on an
//! existing project (start, stop, restart, rm, exec, run, port, top, images), replicas and
//! `up --scale`, `build:` with `compose build` and `up --build`, `up --wait`, and `pull` /
//! `push` against a private registry.
//!
//! Projects that start containers run in a network namespace of the test's own (netns.rs's
//! `T`); the registry test starts none (the registry is on the machine's loopback).

mod common;

use std::fs;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use common::engine::{registry_with_busybox, Engine};
use common::netns::{IMG, T};

fn project(e: &Engine, name: &str, files: &[(&str, &str)]) -> PathBuf {
    let d = e.dir.join(name);
    fs::create_dir_all(&d).unwrap_or_else(|err| panic!("mkdir {}: {err}", d.display()));
    for (f, text) in files {
        let p = d.join(f);
        fs::write(&p, text).unwrap_or_else(|err| panic!("write {}: {err}", p.display()));
    }
    d.join("compose.yaml")
}

fn compose(e: &Engine, file: &Path, args: &[&str]) -> common::clients::Out {
    let f = file.display().to_string();
    let mut all = vec!["compose", "-f", &f];
    all.extend_from_slice(args);
    e.ctl_limit(&all, Duration::from_secs(180))
}

fn compose_ok(e: &Engine, file: &Path, args: &[&str]) -> common::clients::Out {
    let o = compose(e, file, args);
    assert!(o.ok(), "{o}");
    o
}

fn poll(what: &str, limit: Duration, mut f: impl FnMut() -> bool) {
    let until = Instant::now() + limit;
    while !f() {
        assert!(Instant::now() < until, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(200));
    }
}

/// The names `compose ps` lists (with `-a` when `all`).
fn ps_names(e: &Engine, file: &Path, all: bool) -> Vec<String> {
    let args: &[&str] = if all { &["ps", "-a"] } else { &["ps"] };
    let o = compose_ok(e, file, args);
    o.stdout
        .lines()
        .skip(1)
        .filter_map(|l| l.split_whitespace().next())
        .map(String::from)
        .collect()
}

fn label(e: &Engine, c: &str, key: &str) -> String {
    e.ok(&[
        "inspect",
        "-f",
        &format!("{{{{index .Config.Labels \"{key}\"}}}}"),
        c,
    ])
}

#[test]
fn lifecycle_commands_on_an_existing_project() {
    let t = T::new("compose2-ops");
    let e = &t.e;
    let yaml = format!(
        r#"name: ops
services:
  web:
    image: {IMG}
    command: ["sh", "-c", "mkdir -p /www && echo hello-ops > /www/index.html && exec httpd -f -p 80 -h /www"]
    ports: ["8081:80"]
    stop_grace_period: 2s
  worker:
    image: {IMG}
    command: ["sleep", "1000"]
    environment: {{FROM_FILE: file}}
    stop_signal: SIGKILL
    volumes: ["/scratch"]
"#
    );
    let f = project(e, "ops", &[("compose.yaml", &yaml)]);
    compose_ok(e, &f, &["up", "-d"]);
    assert_eq!(ps_names(e, &f, false), ["ops-web-1", "ops-worker-1"]);

    // port: the published address, and it answers.
    let o = compose_ok(e, &f, &["port", "web", "80"]);
    assert_eq!(o.text(), "0.0.0.0:8081");
    assert_eq!(t.curl("http://127.0.0.1:8081/"), "hello-ops");
    let o = compose(e, &f, &["port", "web", "81"]);
    assert_eq!(o.code(), Some(1), "{o}");

    // exec: output and the command's exit code; an unknown service is refused.
    let o = compose_ok(e, &f, &["exec", "-T", "web", "cat", "/www/index.html"]);
    assert_eq!(o.text(), "hello-ops");
    let o = compose(
        e,
        &f,
        &[
            "exec",
            "-T",
            "worker",
            "sh",
            "-c",
            "echo $FROM_FILE; exit 3",
        ],
    );
    assert_eq!((o.code(), o.text()), (Some(3), "file"), "{o}");
    let o = compose(e, &f, &["exec", "-T", "nosuch", "true"]);
    assert_eq!(o.code(), Some(1), "{o}");
    assert!(o.stderr.contains("no such service: nosuch"), "{o}");

    // top: each container's name, then its processes.
    let o = compose_ok(e, &f, &["top"]);
    assert!(o.stdout.contains("ops-web-1\n"), "{o}");
    assert!(o.stdout.contains("httpd"), "{o}");
    assert!(o.stdout.contains("sleep 1000"), "{o}");

    // images: one row per container.
    let o = compose_ok(e, &f, &["images"]);
    let head: Vec<&str> = o
        .stdout
        .lines()
        .next()
        .unwrap_or_default()
        .split_whitespace()
        .collect();
    assert_eq!(
        head,
        ["CONTAINER", "REPOSITORY", "TAG", "IMAGE", "ID", "SIZE"],
        "{o}"
    );
    let web_row = o
        .stdout
        .lines()
        .find(|l| l.starts_with("ops-web-1"))
        .unwrap_or_default();
    assert!(
        web_row.contains("test/netbox") && web_row.contains(" v1 "),
        "{o}"
    );

    // stop / start: ps follows; stop names what it stopped.
    let o = compose_ok(e, &f, &["stop", "-t", "1", "worker"]);
    assert!(o.stderr.contains(" Container ops-worker-1  Stopped"), "{o}");
    assert_eq!(ps_names(e, &f, false), ["ops-web-1"]);
    assert_eq!(ps_names(e, &f, true), ["ops-web-1", "ops-worker-1"]);
    compose_ok(e, &f, &["start"]);
    assert_eq!(ps_names(e, &f, false), ["ops-web-1", "ops-worker-1"]);

    // restart: a new process, still serving.
    let before = e.ok(&["inspect", "-f", "{{.State.Pid}}", "ops-web-1"]);
    let o = compose_ok(e, &f, &["restart", "web"]);
    assert!(o.stderr.contains(" Container ops-web-1  Started"), "{o}");
    let after = e.ok(&["inspect", "-f", "{{.State.Pid}}", "ops-web-1"]);
    assert_ne!(before, after);
    assert_eq!(t.curl("http://127.0.0.1:8081/"), "hello-ops");

    // run: a one-off container with the service's config and -e over it; --rm removes it.
    let o = compose(
        e,
        &f,
        &[
            "run",
            "--rm",
            "-e",
            "EXTRA=x",
            "worker",
            "sh",
            "-c",
            "echo $FROM_FILE-$EXTRA",
        ],
    );
    assert!(o.ok(), "{o}");
    assert_eq!(o.text(), "file-x");
    let o = compose(e, &f, &["run", "worker", "sh", "-c", "exit 4"]);
    assert_eq!(o.code(), Some(4), "{o}");
    let all = e.ok(&["ps", "-a", "--format", "{{.Names}}"]);
    let runs: Vec<&str> = all
        .lines()
        .filter(|n| n.starts_with("ops-worker-run-"))
        .collect();
    assert_eq!(
        runs.len(),
        1,
        "one kept one-off (the --rm one is gone): {all}"
    );
    assert_eq!(
        ps_names(e, &f, true),
        ["ops-web-1", "ops-worker-1"],
        "ps leaves one-offs out"
    );
    assert_eq!(runs[0].len(), "ops-worker-run-".len() + 12, "{all}");
    assert_eq!(label(e, runs[0], "com.docker.compose.oneoff"), "True");
    assert_eq!(
        label(e, "ops-worker-1", "com.docker.compose.oneoff"),
        "False"
    );
    e.ok(&["rm", runs[0]]);

    // rm: only stopped containers; -s stops first; -v takes anonymous volumes along.
    let o = compose_ok(e, &f, &["rm", "-f"]);
    assert!(o.stderr.contains("No stopped containers"), "{o}");
    assert_eq!(ps_names(e, &f, false), ["ops-web-1", "ops-worker-1"]);
    let vol = e.ok(&[
        "inspect",
        "-f",
        "{{range .Mounts}}{{.Name}}{{end}}",
        "ops-worker-1",
    ]);
    assert!(!vol.is_empty());
    let o = compose_ok(e, &f, &["rm", "-f", "-s", "-v", "worker"]);
    assert!(o.stderr.contains(" Container ops-worker-1  Removed"), "{o}");
    assert_eq!(ps_names(e, &f, true), ["ops-web-1"]);
    assert!(
        !e.ctl(&["volume", "inspect", &vol]).ok(),
        "anonymous volume {vol} left"
    );
    compose_ok(e, &f, &["down"]);
    assert!(ps_names(e, &f, true).is_empty());
}

#[test]
fn replicas_and_scale() {
    let t = T::new("compose2-scale");
    let e = &t.e;
    let yaml = format!(
        r#"name: sc
services:
  w:
    image: {IMG}
    command: ["sleep", "1000"]
    stop_signal: SIGKILL
    deploy:
      replicas: 2
"#
    );
    let f = project(e, "sc", &[("compose.yaml", &yaml)]);
    compose_ok(e, &f, &["up", "-d"]);
    assert_eq!(ps_names(e, &f, false), ["sc-w-1", "sc-w-2"]);
    compose_ok(e, &f, &["up", "-d", "--scale", "w=3"]);
    assert_eq!(ps_names(e, &f, false), ["sc-w-1", "sc-w-2", "sc-w-3"]);
    assert_eq!(
        label(e, "sc-w-3", "com.docker.compose.container-number"),
        "3"
    );
    let o = compose_ok(e, &f, &["exec", "-T", "--index", "3", "w", "hostname"]);
    assert!(!o.text().is_empty());
    let first = e.ok(&["inspect", "-f", "{{.Id}}", "sc-w-1"]);
    // Scaling down removes the highest numbers and leaves the rest as they were.
    compose_ok(e, &f, &["up", "-d", "--scale", "w=1"]);
    assert_eq!(ps_names(e, &f, true), ["sc-w-1"]);
    assert_eq!(e.ok(&["inspect", "-f", "{{.Id}}", "sc-w-1"]), first);
    let o = compose(e, &f, &["exec", "-T", "--index", "2", "w", "true"]);
    assert_eq!(o.code(), Some(1), "{o}");
    assert!(o.stderr.contains("not running container #2"), "{o}");
    let o = compose(e, &f, &["up", "-d", "--scale", "nosuch=2"]);
    assert_eq!(o.code(), Some(1), "{o}");
    compose_ok(e, &f, &["down"]);
}

#[test]
fn build_with_args_target_labels_and_cached_rebuild() {
    let t = T::new("compose2-build");
    let e = &t.e;
    let dockerfile = format!(
        "FROM {IMG} AS base\nARG MSG=unset\nRUN echo \"$MSG\" > /msg\nFROM base AS final\nRUN echo final >> /msg\nFROM base AS other\nRUN echo other >> /msg\n"
    );
    let yaml = r#"name: bld
services:
  app:
    build:
      context: ./src
      dockerfile: App.Dockerfile
      args: {MSG: "${MSG:-hello}"}
      target: final
      labels: {made.by: compose}
    command: ["sleep", "1000"]
    stop_signal: SIGKILL
"#;
    let dir = e.dir.join("bld");
    fs::create_dir_all(dir.join("src")).unwrap_or_else(|err| panic!("{err}"));
    fs::write(dir.join("src/App.Dockerfile"), dockerfile).unwrap_or_else(|err| panic!("{err}"));
    let f = project(e, "bld", &[("compose.yaml", yaml)]);
    compose_ok(e, &f, &["build"]);
    let l = e.ok(&[
        "inspect",
        "-f",
        "{{index .Config.Labels \"made.by\"}}",
        "bld-app",
    ]);
    assert_eq!(l, "compose");
    compose_ok(e, &f, &["up", "-d"]);
    let o = compose_ok(e, &f, &["exec", "-T", "app", "cat", "/msg"]);
    assert_eq!(o.text(), "hello\nfinal");
    let id = e.ok(&["inspect", "-f", "{{.Id}}", "bld-app-1"]);
    // A cached rebuild gives the same image: the running container is left alone.
    let o = compose_ok(e, &f, &["up", "-d", "--build"]);
    assert!(o.stderr.contains(" Container bld-app-1  Running"), "{o}");
    assert_eq!(e.ok(&["inspect", "-f", "{{.Id}}", "bld-app-1"]), id);
    // A changed build arg is a new image: the container is recreated on it.
    let mut c = std::process::Command::new(common::engine::ongictl());
    c.arg("--root")
        .arg(&e.root)
        .arg("--run-root")
        .arg(&e.run_root)
        .args(["compose", "-f"])
        .arg(&f)
        .args(["up", "-d", "--build"])
        .env("MSG", "changed");
    if let Some(ns) = &e.netns {
        let mut n = std::process::Command::new("nsenter");
        n.arg(format!("--net={}", ns.display()))
            .arg(c.get_program())
            .args(c.get_args());
        n.env("MSG", "changed");
        c = n;
    }
    let o = common::clients::run_limited(&mut c, &e.dir, Duration::from_secs(180))
        .unwrap_or_else(|err| panic!("{err}"));
    assert!(o.ok(), "{o}");
    assert!(o.stderr.contains("Recreate"), "{o}");
    let o = compose_ok(e, &f, &["exec", "-T", "app", "cat", "/msg"]);
    assert_eq!(o.text(), "changed\nfinal");
    compose_ok(e, &f, &["down"]);
}

#[test]
fn up_wait_waits_for_healthy_and_names_the_failing_service() {
    let t = T::new("compose2-wait");
    let e = &t.e;
    let yaml = format!(
        r#"name: wt
services:
  slow:
    image: {IMG}
    command: ["sh", "-c", "sleep 2; touch /ready; exec sleep 1000"]
    stop_signal: SIGKILL
    healthcheck:
      test: ["CMD", "test", "-e", "/ready"]
      interval: 1s
      retries: 30
  plain:
    image: {IMG}
    command: ["sleep", "1000"]
    stop_signal: SIGKILL
"#
    );
    let f = project(e, "wt", &[("compose.yaml", &yaml)]);
    compose_ok(e, &f, &["up", "-d", "--wait"]);
    let h = e.ok(&["inspect", "-f", "{{.State.Health.Status}}", "wt-slow-1"]);
    assert_eq!(h, "healthy");
    compose_ok(e, &f, &["down"]);

    let bad = format!(
        r#"name: wb
services:
  ok:
    image: {IMG}
    command: ["sleep", "1000"]
    stop_signal: SIGKILL
  broken:
    image: {IMG}
    command: ["sleep", "1000"]
    stop_signal: SIGKILL
    # Running, then unhealthy: a container that exits at once may be seen running first
    # (compose's --wait has the same race), an unhealthy one never passes.
    healthcheck:
      test: ["CMD", "false"]
      interval: 1s
      retries: 1
"#
    );
    let dir = e.dir.join("wb");
    fs::create_dir_all(&dir).unwrap_or_else(|err| panic!("{err}"));
    let f = dir.join("compose.yaml");
    fs::write(&f, bad).unwrap_or_else(|err| panic!("{err}"));
    let o = compose(e, &f, &["up", "-d", "--wait"]);
    assert_eq!(o.code(), Some(1), "{o}");
    assert!(
        o.stderr.contains("service \"broken\"")
            && o.stderr.contains("container wb-broken-1 is unhealthy"),
        "{o}"
    );
    poll(
        "the failed service to stay inspectable",
        Duration::from_secs(30),
        || e.ctl(&["inspect", "wb-broken-1"]).ok(),
    );
    compose_ok(e, &f, &["down"]);
}

#[test]
fn pull_and_push_through_a_private_registry() {
    let e = Engine::new("compose2-reg");
    let reg = registry_with_busybox(&e.dir);
    let addr = reg.image.split('/').next().unwrap_or_default().to_string();
    let pushed = format!("{addr}/test/app:v1");
    let yaml = format!(
        r#"name: rg
services:
  base:
    image: {base}
  app:
    image: {pushed}
    build: ./app
"#,
        base = reg.image
    );
    let dir = e.dir.join("rg");
    fs::create_dir_all(dir.join("app")).unwrap_or_else(|err| panic!("{err}"));
    fs::write(
        dir.join("app/Dockerfile"),
        format!("FROM {}\nRUN echo built > /built\n", reg.image),
    )
    .unwrap_or_else(|err| panic!("{err}"));
    let f = project(&e, "rg", &[("compose.yaml", &yaml)]);
    let o = compose_ok(&e, &f, &["pull", "base"]);
    assert!(o.stderr.contains(" base Pulled"), "{o}");
    assert!(e.ctl(&["image", "inspect", &reg.image]).ok());
    compose_ok(&e, &f, &["build"]);
    let o = compose_ok(&e, &f, &["push"]);
    assert!(o.stderr.contains(" base Skipped"), "{o}");
    assert!(o.stderr.contains(" app Pushed"), "{o}");
    // What the registry has is what was built: remove it here and pull it back.
    e.ok(&["rmi", &pushed]);
    e.ok(&["pull", &pushed]);
    let o = e.ok(&["run", "--rm", "--network", "none", &pushed, "cat", "/built"]);
    assert_eq!(o, "built");
}
