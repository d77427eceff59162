//! `ongictl compose`, first slice, as a docker compose user meets it: the resolved model
//! (`config`: interpolation, .env, -f merging, anchors and merge keys, profiles, extends),
//! a two-service project (a web server published on a port, a "database" writing to a named
//! volume and reaching the web server by service name) through up -d, ps, logs, ls, down and
//! down -v, dependency conditions, recreation of only what changed, and bad input.
//!
//! Projects that start containers run in a network namespace of the test's own (netns.rs's
//! `T`): the project's bridge, addresses and published ports never touch the machine's.

mod common;

use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use common::engine::{ongictl, Engine};
use common::netns::{IMG, T};

/// A project directory `name` under the engine's dir with `files` written into it.
fn project(e: &Engine, name: &str, files: &[(&str, &str)]) -> PathBuf {
    let d = e.dir.join(name);
    fs::create_dir_all(&d).unwrap_or_else(|err| panic!("mkdir {}: {err}", d.display()));
    for (f, text) in files {
        let p = d.join(f);
        if let Some(parent) = p.parent() {
            fs::create_dir_all(parent).unwrap_or_else(|err| panic!("mkdir: {err}"));
        }
        fs::write(&p, text).unwrap_or_else(|err| panic!("write {}: {err}", p.display()));
    }
    d
}

/// `ongictl compose -f FILE ARGS...`.
fn compose(e: &Engine, file: &Path, args: &[&str]) -> common::clients::Out {
    let f = file.display().to_string();
    let mut all = vec!["compose", "-f", &f];
    all.extend_from_slice(args);
    e.ctl_limit(&all, Duration::from_secs(120))
}

fn compose_ok(e: &Engine, file: &Path, args: &[&str]) -> String {
    let o = compose(e, file, args);
    assert!(o.ok(), "{o}");
    o.stdout
}

/// `ongictl compose ARGS` run from `dir` (discovery), with `env` added.
fn compose_in(e: &Engine, dir: &Path, env: &[(&str, &str)], args: &[&str]) -> common::clients::Out {
    let mut c = Command::new(ongictl());
    c.arg("--root")
        .arg(&e.root)
        .arg("--run-root")
        .arg(&e.run_root)
        .arg("compose")
        .args(args)
        .current_dir(dir)
        .env_remove("COMPOSE_PROJECT_NAME")
        .env_remove("COMPOSE_FILE")
        .env_remove("COMPOSE_PROFILES")
        .envs(env.iter().copied());
    common::clients::run_limited(&mut c, &e.dir, Duration::from_secs(60))
        .unwrap_or_else(|err| panic!("{err}"))
}

fn json(s: &str) -> serde_json::Value {
    serde_json::from_str(s).unwrap_or_else(|err| panic!("not JSON ({err}): {s}"))
}

fn poll(what: &str, limit: Duration, mut f: impl FnMut() -> bool) {
    let until = Instant::now() + limit;
    while !f() {
        assert!(Instant::now() < until, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(200));
    }
}

#[test]
fn config_resolves_env_merges_anchors_profiles_and_extends() {
    let e = Engine::new("compose-config");
    let base = r#"
x-defaults: &defaults
  restart: unless-stopped
  labels:
    tier: backend
services:
  web:
    <<: *defaults
    image: ${WEB_IMAGE:-busybox:latest}
    command: httpd -f -p "${WEB_PORT}"
    environment:
      - GREETING=${GREETING-unset}
      - EMPTY_DEFAULT=${EMPTY:-fallback}
      - ALT=${WEB_PORT:+set}
      - LITERAL=$$HOME
    ports: ["${HOST_PORT:-8080}:80"]
  worker:
    extends: base-worker
    command: ["sh", "-c", "echo work"]
  remote:
    extends:
      file: common/more.yaml
      service: shared
  debug:
    image: busybox
    profiles: [debug]
  base-worker:
    image: busybox
    environment: {FROM_BASE: "1", OVERRIDDEN: base}
    cap_add: [NET_ADMIN]
"#;
    let over = r#"
services:
  web:
    command: ["httpd", "-f"]
    ports: ["9090:90"]
    environment: {GREETING: hi-from-override}
  worker:
    environment: {OVERRIDDEN: override}
"#;
    let more = "services:\n  shared:\n    image: alpine:3\n    working_dir: /srv\n    volumes: ['./data:/data:ro']\n";
    let dir = project(
        &e,
        "Cfg.Proj",
        &[
            ("compose.yaml", base),
            ("override.yaml", over),
            ("common/more.yaml", more),
            (
                ".env",
                "WEB_PORT=8000\nEMPTY=\nWEB_IMAGE=\"test/web:${WEB_PORT}\"\n",
            ),
        ],
    );
    let o = compose_in(
        &e,
        &dir,
        &[],
        &[
            "-f",
            "compose.yaml",
            "-f",
            "override.yaml",
            "config",
            "--format",
            "json",
        ],
    );
    assert!(o.ok(), "{o}");
    let c = json(&o.stdout);
    // The directory name normalized as compose v2 does.
    assert_eq!(c["name"], "cfgproj");
    let web = &c["services"]["web"];
    assert_eq!(web["image"], "test/web:8000");
    assert_eq!(web["command"], serde_json::json!(["httpd", "-f"]));
    assert_eq!(web["restart"], "unless-stopped");
    assert_eq!(web["labels"]["tier"], "backend");
    assert_eq!(web["environment"]["GREETING"], "hi-from-override");
    assert_eq!(web["environment"]["EMPTY_DEFAULT"], "fallback");
    assert_eq!(web["environment"]["ALT"], "set");
    assert_eq!(web["environment"]["LITERAL"], "$HOME");
    let ports: Vec<String> = web["ports"]
        .as_array()
        .map(|a| {
            a.iter()
                .map(|p| format!("{}:{}", p["published"], p["target"]))
                .collect()
        })
        .unwrap_or_default();
    assert_eq!(
        ports,
        ["\"8080\":80", "\"9090\":90"],
        "ports appended by -f"
    );
    let worker = &c["services"]["worker"];
    assert_eq!(worker["image"], "busybox");
    assert_eq!(
        worker["command"],
        serde_json::json!(["sh", "-c", "echo work"])
    );
    assert_eq!(worker["environment"]["FROM_BASE"], "1");
    assert_eq!(worker["environment"]["OVERRIDDEN"], "override");
    assert_eq!(worker["cap_add"], serde_json::json!(["NET_ADMIN"]));
    let remote = &c["services"]["remote"];
    assert_eq!(remote["image"], "alpine:3");
    assert_eq!(remote["working_dir"], "/srv");
    assert_eq!(remote["volumes"][0]["type"], "bind");
    assert_eq!(
        remote["volumes"][0]["source"],
        dir.join("data").display().to_string()
    );
    assert_eq!(remote["volumes"][0]["read_only"], true);
    assert!(
        c["services"].get("debug").is_none(),
        "profiled service hidden: {c}"
    );

    // --profile enables it; -p names the project; the process's environment beats .env.
    let o = compose_in(
        &e,
        &dir,
        &[("WEB_PORT", "7000")],
        &[
            "-p",
            "other",
            "--profile",
            "debug",
            "config",
            "--format",
            "json",
        ],
    );
    assert!(o.ok(), "{o}");
    let c = json(&o.stdout);
    assert_eq!(c["name"], "other");
    assert!(c["services"].get("debug").is_some(), "{c}");
    assert_eq!(
        c["services"]["web"]["command"],
        serde_json::json!(["httpd", "-f", "-p", "7000"])
    );
    // .env's WEB_IMAGE was interpolated with .env's own WEB_PORT when .env was read.
    assert_eq!(c["services"]["web"]["image"], "test/web:8000");

    // Discovery: from a subdirectory, the parent's compose.yaml; top-level name wins over
    // the directory; YAML output by default.
    let sub = dir.join("deeper/still");
    fs::create_dir_all(&sub).unwrap_or_else(|err| panic!("{err}"));
    let o = compose_in(&e, &sub, &[], &["config", "--services"]);
    assert!(o.ok(), "{o}");
    assert_eq!(
        o.text().lines().collect::<Vec<_>>(),
        ["base-worker", "remote", "web", "worker"]
    );
    let o = compose_in(&e, &sub, &[], &["config"]);
    assert!(o.ok(), "{o}");
    assert!(o.stdout.starts_with("name: cfgproj\nservices:\n"), "{o}");
    assert!(
        o.stdout.contains("  web:\n    image: test/web:8000\n"),
        "{o}"
    );

    // --env-file replaces .env.
    fs::write(dir.join("alt.env"), "WEB_PORT=1234\nHOST_PORT=1\n")
        .unwrap_or_else(|err| panic!("{err}"));
    let o = compose_in(
        &e,
        &dir,
        &[],
        &["--env-file", "alt.env", "config", "--format", "json"],
    );
    assert!(o.ok(), "{o}");
    let c = json(&o.stdout);
    assert_eq!(c["services"]["web"]["image"], "busybox:latest");
    assert_eq!(c["services"]["web"]["ports"][0]["published"], "1");
}

/// The web + db project: httpd published on 8080, a db that appends a line to a file in
/// a named volume at every start and then asks the web server (started first: depends_on)
/// for its page by service name.
fn web_db(e: &Engine, web_body: &str) -> PathBuf {
    let yaml = format!(
        r#"name: shop
services:
  web:
    image: {IMG}
    command: ["sh", "-c", "mkdir -p /www && echo {web_body} > /www/index.html && exec httpd -f -p 80 -h /www"]
    ports: ["8080:80"]
    labels: {{app.role: frontend}}
    stop_grace_period: 2s
    volumes: ["/cache"]
  db:
    image: {IMG}
    command:
      - sh
      - -c
      - |
        echo started >> /data/starts
        echo "db has $$(wc -l < /data/starts) starts"
        for i in 1 2 3 4 5 6 7 8 9 10; do
          printf 'GET / HTTP/1.0\r\n\r\n' | nc -w 3 web 80 > /tmp/page && break
          sleep 1
        done
        echo "db saw $$(tail -n 1 /tmp/page)"
        exec sleep 1000
    volumes: ["data:/data"]
    stop_signal: SIGKILL
    # Peers' names are in /etc/hosts as written at start (until the embedded DNS lands):
    # the web server is there first.
    depends_on: [web]
volumes:
  data: {{}}
"#
    );
    project(e, "shop", &[("compose.yaml", &yaml)]).join("compose.yaml")
}

#[test]
fn two_services_up_ps_logs_down_and_volumes() {
    let t = T::new("compose");
    let e = &t.e;
    let f = web_db(e, "hello-compose");
    let o = compose(e, &f, &["up", "-d"]);
    assert!(o.ok(), "{o}");
    for want in [
        "Network shop_default  Created",
        "Volume \"shop_data\"  Created",
        "Container shop-db-1  Started",
        "Container shop-web-1  Started",
    ] {
        assert!(o.stderr.contains(want), "want {want:?}: {o}");
    }
    // Through the published port, from the namespace's host side.
    assert_eq!(t.curl("http://127.0.0.1:8080/"), "hello-compose");

    // ps: compose v2's columns, our names, services, the port.
    let ps = compose_ok(e, &f, &["ps"]);
    let lines: Vec<&str> = ps.lines().collect();
    assert!(
        lines[0].starts_with("NAME") && lines[0].contains("IMAGE") && lines[0].contains("COMMAND"),
        "{ps}"
    );
    for col in ["SERVICE", "CREATED", "STATUS", "PORTS"] {
        assert!(lines[0].contains(col), "{ps}");
    }
    assert_eq!(lines.len(), 3, "{ps}");
    assert!(
        lines[1].starts_with("shop-db-1 ") && lines[1].contains(" db "),
        "{ps}"
    );
    assert!(
        lines[2].starts_with("shop-web-1 ") && lines[2].contains(" web "),
        "{ps}"
    );
    assert!(lines[2].contains("0.0.0.0:8080->80/tcp"), "{ps}");
    assert!(lines[2].contains("Up "), "{ps}");
    let ids = compose_ok(e, &f, &["ps", "-q"]);
    assert_eq!(ids.lines().count(), 2, "{ids}");
    assert!(ids.lines().all(|l| l.len() == 64), "{ids}");

    // Labels as compose v2 sets them.
    let labels = json(&e.ok(&["inspect", "-f", "{{json .Config.Labels}}", "shop-web-1"]));
    assert_eq!(labels["com.docker.compose.project"], "shop");
    assert_eq!(labels["com.docker.compose.service"], "web");
    assert_eq!(labels["com.docker.compose.container-number"], "1");
    assert_eq!(labels["com.docker.compose.oneoff"], "False");
    assert_eq!(
        labels["com.docker.compose.project.working_dir"],
        e.dir.join("shop").display().to_string()
    );
    assert_eq!(
        labels["com.docker.compose.project.config_files"],
        f.display().to_string()
    );
    assert_eq!(
        labels["com.docker.compose.config-hash"]
            .as_str()
            .map(str::len),
        Some(64)
    );
    assert!(labels["com.docker.compose.version"].is_string(), "{labels}");
    assert_eq!(labels["app.role"], "frontend");
    let vlabels = json(&e.ok(&["volume", "inspect", "-f", "{{json .Labels}}", "shop_data"]));
    assert_eq!(vlabels["com.docker.compose.project"], "shop");
    assert_eq!(vlabels["com.docker.compose.volume"], "data");
    let net = e.ok(&[
        "network",
        "inspect",
        "-f",
        "{{json .Labels}}",
        "shop_default",
    ]);
    assert_eq!(json(&net)["com.docker.compose.network"], "default");

    // The db reached the web server by its service name; logs carry the container prefix.
    poll("db to fetch the page", Duration::from_secs(60), || {
        compose_ok(e, &f, &["logs", "db"]).contains("db saw hello-compose")
    });
    let logs = compose_ok(e, &f, &["logs"]);
    assert!(logs.contains("shop-db-1  | db has 1 starts\n"), "{logs}");
    let logs = compose_ok(e, &f, &["logs", "db"]);
    assert!(
        logs.lines().all(|l| l.starts_with("shop-db-1 | ")),
        "{logs}"
    );

    // ls: the running project and its file.
    let ls = compose_ok(e, &f, &["ls"]);
    assert!(ls.starts_with("NAME"), "{ls}");
    assert!(
        ls.lines().any(|l| l.starts_with("shop ")
            && l.contains("running(2)")
            && l.contains(&f.display().to_string())),
        "{ls}"
    );

    // down keeps the named volume; up again sees the data.
    let o = compose(e, &f, &["down"]);
    assert!(o.ok(), "{o}");
    assert!(o.stderr.contains("Container shop-web-1  Removed"), "{o}");
    assert!(o.stderr.contains("Network shop_default  Removed"), "{o}");
    assert_eq!(e.ok(&["ps", "-aq"]), "");
    assert!(e
        .ok(&["network", "ls"])
        .lines()
        .all(|l| !l.contains("shop_default")));
    assert!(e
        .ok(&["volume", "ls", "-q"])
        .lines()
        .any(|l| l == "shop_data"));
    compose_ok(e, &f, &["up", "-d"]);
    poll("db's second start", Duration::from_secs(60), || {
        compose_ok(e, &f, &["logs", "db"]).contains("db has 2 starts")
    });

    // down -v takes the volume too, and the web container's anonymous one (the first
    // web's stays, as docker's `down` without -v leaves it).
    let anon = e.ok(&[
        "inspect",
        "-f",
        "{{range .Mounts}}{{if eq .Destination \"/cache\"}}{{.Name}}{{end}}{{end}}",
        "shop-web-1",
    ]);
    assert_eq!(anon.len(), 64, "{anon}");
    let o = compose(e, &f, &["down", "-v"]);
    assert!(o.ok(), "{o}");
    assert!(o.stderr.contains("Volume shop_data  Removed"), "{o}");
    assert_eq!(e.ok(&["ps", "-aq"]), "");
    assert!(
        !e.ok(&["volume", "ls", "-q"]).contains(&anon),
        "{anon} left"
    );
    assert!(e
        .ok(&["volume", "ls", "-q"])
        .lines()
        .all(|l| l != "shop_data"));
    assert_eq!(compose_ok(e, &f, &["ls", "-a", "-q"]).trim(), "");
}

#[test]
fn up_again_recreates_only_what_changed() {
    let t = T::new("compose-re");
    let e = &t.e;
    let f = web_db(e, "v1");
    compose_ok(e, &f, &["up", "-d"]);
    let id = |c: &str| e.ok(&["inspect", "-f", "{{.Id}}", c]);
    let (web1, db1) = (id("shop-web-1"), id("shop-db-1"));
    e.ok(&[
        "exec",
        "shop-web-1",
        "sh",
        "-c",
        "echo kept > /cache/marker",
    ]);
    let o = compose(e, &f, &["up", "-d"]);
    assert!(o.ok(), "{o}");
    assert!(o.stderr.contains("Container shop-web-1  Running"), "{o}");
    assert_eq!(
        (id("shop-web-1"), id("shop-db-1")),
        (web1.clone(), db1.clone())
    );
    // A changed web service: web is recreated, db left running as it was.
    web_db(e, "v2");
    let o = compose(e, &f, &["up", "-d"]);
    assert!(o.ok(), "{o}");
    assert!(o.stderr.contains("Container shop-web-1  Recreated"), "{o}");
    assert_ne!(id("shop-web-1"), web1);
    assert_eq!(id("shop-db-1"), db1);
    assert_eq!(t.curl("http://127.0.0.1:8080/"), "v2");
    // Its anonymous volume came along.
    assert_eq!(
        e.ok(&["exec", "shop-web-1", "cat", "/cache/marker"]),
        "kept"
    );
    // A service no longer in the file is an orphan: warned about, then removed on request.
    let only_web = fs::read_to_string(&f)
        .unwrap_or_default()
        .split("  db:")
        .next()
        .unwrap_or_default()
        .to_string();
    fs::write(&f, only_web).unwrap_or_else(|err| panic!("{err}"));
    let o = compose(e, &f, &["up", "-d"]);
    assert!(
        o.ok() && o.stderr.contains("Found orphan containers ([shop-db-1])"),
        "{o}"
    );
    let o = compose(e, &f, &["down", "--remove-orphans"]);
    assert!(o.ok(), "{o}");
    assert_eq!(e.ok(&["ps", "-aq"]), "");
}

#[test]
fn depends_on_waits_for_healthy_and_completed() {
    let t = T::new("compose-dep");
    let e = &t.e;
    let yaml = format!(
        r#"name: deps
services:
  migrate:
    image: {IMG}
    command: ["sh", "-c", "sleep 1; echo migrate >> /shared/log"]
    volumes: ["shared:/shared"]
  db:
    image: {IMG}
    command: ["sh", "-c", "sleep 2; echo db-ready >> /shared/log; touch /tmp/ready; exec sleep 1000"]
    volumes: ["shared:/shared"]
    stop_signal: SIGKILL
    healthcheck:
      test: ["CMD", "test", "-f", "/tmp/ready"]
      interval: 500ms
      retries: 100
  app:
    image: {IMG}
    command: ["sh", "-c", "echo app >> /shared/log; exec sleep 1000"]
    volumes: ["shared:/shared"]
    stop_signal: SIGKILL
    depends_on:
      migrate: {{condition: service_completed_successfully}}
      db: {{condition: service_healthy}}
  broken:
    image: {IMG}
    command: ["sh", "-c", "exit 3"]
    profiles: [broken]
  after-broken:
    image: {IMG}
    command: ["sleep", "1000"]
    profiles: [broken]
    depends_on:
      broken: {{condition: service_completed_successfully}}
volumes:
  shared: {{}}
"#
    );
    let f = project(e, "deps", &[("compose.yaml", &yaml)]).join("compose.yaml");
    let o = compose(e, &f, &["up", "-d"]);
    assert!(o.ok(), "{o}");
    assert!(o.stderr.contains("Container deps-db-1  Healthy"), "{o}");
    assert!(o.stderr.contains("Container deps-migrate-1  Exited"), "{o}");
    let read = || e.ctl(&["exec", "deps-app-1", "cat", "/shared/log"]).stdout;
    poll("app's line", Duration::from_secs(60), || {
        read().contains("app")
    });
    let log = read();
    let lines: Vec<&str> = log.lines().collect();
    assert_eq!(lines.last(), Some(&"app"), "app started last: {log}");
    assert!(
        lines.contains(&"db-ready") && lines.contains(&"migrate"),
        "{log}"
    );

    // A dependency that fails: compose's message, the dependent never made.
    let o = compose(e, &f, &["--profile", "broken", "up", "-d", "after-broken"]);
    assert_eq!(o.code(), Some(1), "{o}");
    assert!(
        o.stderr
            .contains("service \"broken\" didn't complete successfully: exit 3"),
        "{o}"
    );
    assert!(e.ctl(&["inspect", "deps-after-broken-1"]).code() != Some(0));
    compose_ok(e, &f, &["--profile", "broken", "down", "-v"]);
    assert_eq!(e.ok(&["ps", "-aq"]), "");
}

#[test]
fn bad_input_is_refused_and_nothing_starts() {
    let t = T::new("compose-bad");
    let e = &t.e;
    let check_nothing = || {
        assert_eq!(e.ok(&["ps", "-aq"]), "", "no container made");
        assert_eq!(e.ok(&["volume", "ls", "-q"]), "", "no volume made");
        assert!(
            !e.ok(&["network", "ls"]).contains("bad_default"),
            "no network made"
        );
    };
    let yaml = |body: &str| format!("name: bad\nservices:\n{body}volumes:\n  v: {{}}\n");

    // YAML error: file, line and column.
    let f = project(
        e,
        "bad1",
        &[("compose.yaml", "services:\n  a:\n    image: x\n   b: 1\n")],
    )
    .join("compose.yaml");
    let o = compose(e, &f, &["up", "-d"]);
    assert_eq!(o.code(), Some(1), "{o}");
    assert!(
        o.stderr.contains(&f.display().to_string()) && o.stderr.contains("line 4 column 4"),
        "{o}"
    );

    // A depends_on cycle, with its path.
    let body = format!(
        "  a:\n    image: {IMG}\n    volumes: [v:/v]\n    depends_on: [b]\n  b:\n    image: {IMG}\n    depends_on: [c]\n  c:\n    image: {IMG}\n    depends_on: [a]\n"
    );
    let f = project(e, "bad2", &[("compose.yaml", &yaml(&body))]).join("compose.yaml");
    let o = compose(e, &f, &["up", "-d"]);
    assert_eq!(o.code(), Some(1), "{o}");
    assert!(
        o.stderr
            .contains("dependency cycle detected: a -> b -> c -> a"),
        "{o}"
    );
    check_nothing();

    // `${VAR:?msg}` unset.
    let body = format!("  a:\n    image: {IMG}\n    volumes: [v:/v]\n    command: echo ${{NEEDED:?set NEEDED first}}\n");
    let f = project(e, "bad3", &[("compose.yaml", &yaml(&body))]).join("compose.yaml");
    let o = compose(e, &f, &["up", "-d"]);
    assert_eq!(o.code(), Some(1), "{o}");
    assert!(
        o.stderr
            .contains("required variable NEEDED is missing a value: set NEEDED first"),
        "{o}"
    );
    check_nothing();

    // An unknown service on the command line.
    let body = format!("  a:\n    image: {IMG}\n    volumes: [v:/v]\n");
    let f = project(e, "bad4", &[("compose.yaml", &yaml(&body))]).join("compose.yaml");
    let o = compose(e, &f, &["up", "-d", "nope"]);
    assert_eq!(o.code(), Some(1), "{o}");
    assert!(o.stderr.contains("no such service: nope"), "{o}");
    check_nothing();

    // A key that would change behaviour: an error naming service and key; one that would
    // not: a warning, and the config still loads.
    let body = format!("  a:\n    image: {IMG}\n    volumes: [v:/v]\n    devices: [/dev/fuse]\n");
    let f = project(e, "bad5", &[("compose.yaml", &yaml(&body))]).join("compose.yaml");
    let o = compose(e, &f, &["up", "-d"]);
    assert_eq!(o.code(), Some(1), "{o}");
    assert!(
        o.stderr
            .contains("service \"a\": unsupported key \"devices\""),
        "{o}"
    );
    check_nothing();
    let body = format!("  a:\n    image: {IMG}\n    tty: true\n");
    let f = project(e, "bad6", &[("compose.yaml", &yaml(&body))]).join("compose.yaml");
    let o = compose(e, &f, &["config", "-q"]);
    assert!(
        o.ok()
            && o.stderr
                .contains("service \"a\": \"tty\" is not supported and is ignored"),
        "{o}"
    );

    // A bad flag value in the second service: refused before the first one starts.
    let body = format!(
        "  a:\n    image: {IMG}\n    command: [sleep, '100']\n    volumes: [v:/v]\n  b:\n    image: {IMG}\n    restart: sometimes\n"
    );
    let f = project(e, "bad7", &[("compose.yaml", &yaml(&body))]).join("compose.yaml");
    let o = compose(e, &f, &["up", "-d"]);
    assert_eq!(o.code(), Some(1), "{o}");
    assert!(
        o.stderr.contains("service \"b\"") && o.stderr.contains("--restart"),
        "{o}"
    );
    check_nothing();
}

#[test]
fn foreground_up_streams_prefixed_logs_and_down_by_project_name() {
    let t = T::new("compose-fg");
    let e = &t.e;
    let yaml = format!(
        r#"services:
  hello:
    image: {IMG}
    command: ["sh", "-c", "echo hello from $$NOT_SET_HERE-less; echo second line"]
    volumes: [scratch:/scratch]
  bye:
    image: {IMG}
    command: ["sh", "-c", "sleep 1; echo bye now; exit 4"]
volumes:
  scratch:
"#
    );
    let f = project(e, "fg-proj", &[("compose.yaml", &yaml)]).join("compose.yaml");
    let o = compose(e, &f, &["up"]);
    assert!(o.ok(), "{o}");
    assert!(
        o.stdout
            .starts_with("Attaching to fg-proj-bye-1, fg-proj-hello-1\n"),
        "{o}"
    );
    assert!(
        o.stdout.contains("fg-proj-hello-1 | hello from -less\n"),
        "{o}"
    );
    assert!(o.stdout.contains("fg-proj-hello-1 | second line\n"), "{o}");
    assert!(o.stdout.contains("fg-proj-bye-1   | bye now\n"), "{o}");
    assert!(o.stdout.contains("fg-proj-bye-1 exited with code 4"), "{o}");
    let ps = compose_ok(e, &f, &["ps", "-a"]);
    assert!(ps.contains("Exited (4)"), "{ps}");
    // Without the file, by project name: containers, network and (with -v) volume go.
    fs::remove_file(&f).unwrap_or_else(|err| panic!("{err}"));
    let o = e.ctl(&["compose", "-p", "fg-proj", "down", "-v"]);
    assert!(o.ok(), "{o}");
    assert!(o.stderr.contains("Container fg-proj-bye-1  Removed"), "{o}");
    assert!(o.stderr.contains("Network fg-proj_default  Removed"), "{o}");
    assert!(o.stderr.contains("Volume fg-proj_scratch  Removed"), "{o}");
    assert_eq!(e.ok(&["ps", "-aq"]), "");
    assert_eq!(e.ok(&["volume", "ls", "-q"]), "");
}
