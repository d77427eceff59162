//! ongictl's container commands as a user runs them against a running (or stopped)
//! container: exec, top, stats, pause/unpause, update, restart, rename, cp, diff,
//! ps --filter/--format, container prune, and their bad input.

mod common;

use std::time::Duration;

use common::clients::Out;
use common::engine::{assert_clean, fails_with, registry_with_busybox, Engine};
use common::wait_until;

/// A running container `name` that sleeps until stopped.
fn sleeper(e: &Engine, image: &str, name: &str) -> String {
    e.ok(&[
        "run",
        "-d",
        "--name",
        name,
        image,
        "sh",
        "-c",
        "trap 'exit 0' TERM; while true; do sleep 0.1; done",
    ])
}

#[test]
fn exec_runs_in_the_container() {
    let e = Engine::new("exec");
    let r = registry_with_busybox(&e.dir);
    let id = sleeper(&e, &r.image, "box");
    // The container's hostname and filesystem, the flags' env, workdir and user.
    assert_eq!(e.ok(&["exec", "box", "hostname"]), &id[..12]);
    assert_eq!(
        e.ok(&[
            "exec",
            "-e",
            "A=1",
            "-w",
            "/tmp",
            "-u",
            "1000:1000",
            "box",
            "sh",
            "-c",
            "echo $A $(pwd) $(id -u):$(id -g)"
        ]),
        "1 /tmp 1000:1000"
    );
    let envf = e.dir.join("exec.env");
    std::fs::write(&envf, "# comment\nFROM_FILE=yes\n").unwrap();
    assert_eq!(
        e.ok(&[
            "exec",
            "--env-file",
            &envf.to_string_lossy(),
            "box",
            "sh",
            "-c",
            "echo $FROM_FILE"
        ]),
        "yes"
    );
    // The exec'd process's exit code is ongictl's.
    assert_eq!(
        e.ctl(&["exec", "box", "sh", "-c", "exit 3"]).code(),
        Some(3)
    );
    // -d returns at once; the process runs on in the container.
    let o = e.ctl(&[
        "exec",
        "-d",
        "box",
        "sh",
        "-c",
        "sleep 0.3; touch /tmp/detached",
    ]);
    assert!(o.ok() && o.stdout.is_empty(), "{o}");
    assert!(wait_until(Duration::from_secs(10), || e
        .ctl(&["exec", "box", "test", "-f", "/tmp/detached"])
        .ok()));
    // Without -i the process gets an empty stdin; with -i ours.
    let mut c = std::process::Command::new(common::engine::ongictl());
    c.arg("--root")
        .arg(&e.root)
        .arg("--run-root")
        .arg(&e.run_root)
        .args(["exec", "-i", "box", "sh", "-c", "read x; echo got $x"])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped());
    let mut child = c.spawn().unwrap();
    use std::io::Write;
    child.stdin.take().unwrap().write_all(b"hello\n").unwrap();
    let out = child.wait_with_output().unwrap();
    assert_eq!(String::from_utf8_lossy(&out.stdout).trim(), "got hello");
    assert_eq!(e.ok(&["exec", "box", "sh", "-c", "cat; echo end"]), "end");
    // Bad input: docker's codes and wording.
    fails_with(&e.ctl(&["exec", "box", "/no/such/cmd"]), 127, "no/such/cmd");
    fails_with(
        &e.ctl(&["exec", "nobox", "true"]),
        1,
        "No such container: nobox",
    );
    fails_with(
        &e.ctl(&["exec", "-u", "nosuchuser", "box", "true"]),
        126,
        "unable to find user nosuchuser",
    );
    e.ok(&["stop", "box"]);
    fails_with(
        &e.ctl(&["exec", "box", "true"]),
        1,
        &format!("container {id} is not running"),
    );
    e.ok(&["rm", "box"]);
    assert_clean(&e);
}

#[test]
fn top_stats_pause_update_restart_rename() {
    let e = Engine::new("manage");
    let r = registry_with_busybox(&e.dir);
    let id = sleeper(&e, &r.image, "svc");
    // top: ps -ef's columns, the container's processes only.
    let top = e.ok(&["top", "svc"]);
    let mut lines = top.lines();
    let head = lines.next().unwrap_or_default();
    assert!(
        head.starts_with("UID") && head.contains("PID") && head.ends_with("CMD"),
        "{top}"
    );
    assert!(top.contains("trap 'exit 0' TERM"), "{top}");
    assert!(!top.contains("ongictl"), "host processes listed: {top}");
    let o = e.ok(&["top", "svc", "-o", "pid,comm"]);
    assert!(o.starts_with("PID") && o.contains("sh"), "{o}");
    // stats --no-stream: docker's columns, the container's limit.
    e.ok(&[
        "update",
        "--memory",
        "64m",
        "--pids-limit",
        "50",
        "--cpus",
        "0.5",
        "svc",
    ]);
    let st = e.ok(&["stats", "--no-stream", "svc"]);
    let row = st.lines().nth(1).unwrap_or_default();
    assert!(
        st.starts_with("CONTAINER ID   NAME")
            && st.contains("CPU %")
            && st.contains("MEM USAGE / LIMIT")
            && st.contains("BLOCK I/O")
            && st.lines().next().unwrap_or_default().ends_with("PIDS"),
        "{st}"
    );
    assert!(
        row.starts_with(&id[..12]) && row.contains("svc") && row.contains("/ 64MiB"),
        "update's memory limit is stats' limit: {st}"
    );
    assert!(
        row.split_whitespace()
            .last()
            .and_then(|p| p.parse::<u32>().ok())
            .is_some_and(|n| n >= 1),
        "{st}"
    );
    // The new limits are the container's (cgroup) and kept in inspect.
    assert_eq!(
        e.ok(&[
            "inspect",
            "-f",
            "{{.HostConfig.Memory}} {{.HostConfig.NanoCpus}} {{.HostConfig.PidsLimit}}",
            "svc"
        ]),
        "67108864 500000000 50"
    );
    fails_with(
        &e.ctl(&["update", "--memory", "1k", "svc"]),
        125,
        "--memory",
    );
    fails_with(&e.ctl(&["update", "svc"]), 1, "one or more flags");
    // pause freezes: ps says Paused, exec is refused; unpause thaws.
    assert_eq!(e.ok(&["pause", "svc"]), "svc");
    assert!(e.ok(&["ps"]).contains("(Paused)"), "{}", e.ok(&["ps"]));
    assert_eq!(
        e.ok(&[
            "inspect",
            "-f",
            "{{.State.Status}} {{.State.Paused}}",
            "svc"
        ]),
        "paused true"
    );
    fails_with(&e.ctl(&["exec", "svc", "true"]), 1, "is paused");
    fails_with(&e.ctl(&["pause", "svc"]), 1, "already paused");
    assert_eq!(e.ok(&["unpause", "svc"]), "svc");
    fails_with(&e.ctl(&["unpause", "svc"]), 1, "is not paused");
    assert!(e.ctl(&["exec", "svc", "true"]).ok());
    // restart: a new process (new pid, new start time), same container.
    let before = e.ok(&[
        "inspect",
        "-f",
        "{{.State.Pid}} {{.State.StartedAt}}",
        "svc",
    ]);
    assert_eq!(e.ok(&["restart", "-t", "2", "svc"]), "svc");
    let after = e.ok(&[
        "inspect",
        "-f",
        "{{.State.Pid}} {{.State.StartedAt}}",
        "svc",
    ]);
    assert!(before != after, "{before} / {after}");
    assert_eq!(
        e.ok(&["inspect", "-f", "{{.State.Status}}", "svc"]),
        "running"
    );
    // rename: the new name works everywhere, the old one is free.
    e.ok(&["create", "--name", "other", &r.image, "true"]);
    fails_with(&e.ctl(&["rename", "svc", "other"]), 1, "is already in use");
    fails_with(
        &e.ctl(&["rename", "svc", "bad/name"]),
        1,
        "Invalid container name",
    );
    e.ok(&["rename", "svc", "svc2"]);
    assert_eq!(e.ok(&["inspect", "-f", "{{.Name}}", &id]), "/svc2");
    assert!(e.ok(&["ps"]).ends_with("svc2"), "{}", e.ok(&["ps"]));
    fails_with(&e.ctl(&["top", "svc"]), 1, "No such container: svc");
    // A stopped container: top and stats say so, pause too.
    e.ok(&["stop", "svc2"]);
    fails_with(&e.ctl(&["top", "svc2"]), 1, "is not running");
    fails_with(&e.ctl(&["pause", "svc2"]), 1, "is not running");
    // Restart of a stopped one starts it.
    e.ok(&["restart", "svc2"]);
    assert_eq!(
        e.ok(&["inspect", "-f", "{{.State.Status}}", "svc2"]),
        "running"
    );
    // A paused container still stops and goes away with rm -f (thawed to take its signal).
    e.ok(&["pause", "svc2"]);
    e.ok(&["rm", "-f", "svc2", "other"]);
    assert_clean(&e);
}

#[test]
fn cp_both_ways_and_diff() {
    let e = Engine::new("cp");
    let r = registry_with_busybox(&e.dir);
    let vol = e.dir.join("vol");
    std::fs::create_dir_all(&vol).unwrap();
    e.ok(&[
        "run",
        "-d",
        "--name",
        "files",
        "-v",
        &format!("{}:/data", vol.display()),
        &r.image,
        "sh",
        "-c",
        "trap 'exit 0' TERM; while true; do sleep 0.1; done",
    ]);
    let host = e.dir.join("host");
    std::fs::create_dir_all(host.join("tree/sub")).unwrap();
    std::fs::write(host.join("tree/sub/a.txt"), "alpha\n").unwrap();
    std::fs::write(host.join("one.txt"), "one\n").unwrap();
    let h = |p: &str| host.join(p).to_string_lossy().into_owned();
    // Into the container: a file into an existing dir, a tree to a new name.
    e.ok(&["cp", &h("one.txt"), "files:/tmp"]);
    e.ok(&["cp", &h("tree"), "files:/srv"]);
    assert_eq!(
        e.ok(&["exec", "files", "cat", "/tmp/one.txt", "/srv/sub/a.txt"]),
        "one\nalpha"
    );
    assert_eq!(
        e.ok(&["exec", "files", "stat", "-c", "%u:%g", "/srv/sub/a.txt"]),
        "0:0"
    );
    // Out of it: a file the container wrote, and a directory.
    e.ok(&[
        "exec",
        "files",
        "sh",
        "-c",
        "mkdir -p /out/d && echo made > /out/d/f && rm /bin/ls",
    ]);
    e.ok(&["cp", "files:/out", &h("got")]);
    assert_eq!(
        std::fs::read_to_string(host.join("got/d/f")).unwrap(),
        "made\n"
    );
    e.ok(&["cp", "files:/out/d/f", &h("f2")]);
    assert_eq!(std::fs::read_to_string(host.join("f2")).unwrap(), "made\n");
    // A symlink pointing out of the rootfs resolves inside it, never to the host's file.
    e.ok(&[
        "exec",
        "files",
        "sh",
        "-c",
        "echo inside > /tmp/hostname && ln -s /../../../../tmp/hostname /tmp/esc",
    ]);
    e.ok(&["cp", "files:/tmp/esc/", &h("esc")]);
    e.ok(&["cp", &h("one.txt"), "files:/tmp/esc"]);
    assert_eq!(e.ok(&["exec", "files", "cat", "/tmp/hostname"]), "one");
    assert!(std::path::Path::new("/tmp/hostname")
        .metadata()
        .map(|m| m.len() != 4)
        .unwrap_or(true));
    // A path in a bind mount is the mount's file, both ways.
    e.ok(&["cp", &h("one.txt"), "files:/data/"]);
    assert_eq!(
        std::fs::read_to_string(vol.join("one.txt")).unwrap(),
        "one\n"
    );
    std::fs::write(vol.join("from-host"), "bound\n").unwrap();
    e.ok(&["cp", "files:/data/from-host", &h("bound")]);
    assert_eq!(
        std::fs::read_to_string(host.join("bound")).unwrap(),
        "bound\n"
    );
    // Bad input.
    fails_with(
        &e.ctl(&["cp", "files:/nothere", &h("x")]),
        1,
        "Could not find the file /nothere in container files",
    );
    fails_with(
        &e.ctl(&["cp", &h("one.txt"), "files:/no/such/dir/x"]),
        1,
        "Could not find the file /no/such/dir in container files",
    );
    fails_with(
        &e.ctl(&["cp", &h("one.txt"), "ghost:/tmp"]),
        1,
        "No such container: ghost",
    );
    fails_with(&e.ctl(&["cp", &h("missing"), "files:/tmp"]), 1, "missing");
    // diff: A for new paths, C for changed dirs, D for deletions (whiteouts).
    let d = e.ok(&["diff", "files"]);
    for want in [
        "C /tmp",
        "A /tmp/one.txt",
        "A /srv",
        "A /srv/sub/a.txt",
        "A /out/d/f",
        "C /bin",
        "D /bin/ls",
    ] {
        assert!(
            d.lines().any(|l| l == want),
            "{want} missing from diff:\n{d}"
        );
    }
    assert!(
        !d.contains("/etc/hosts") && !d.contains("/etc/hostname"),
        "{d}"
    );
    // cp works on a stopped container too (its rootfs is mounted for the copy only).
    e.ok(&["stop", "files"]);
    e.ok(&["cp", "files:/tmp/one.txt", &h("after-stop")]);
    assert_eq!(
        std::fs::read_to_string(host.join("after-stop")).unwrap(),
        "one\n"
    );
    assert_clean(&e);
}

#[test]
fn ps_filter_format_and_prune() {
    let e = Engine::new("psf");
    let r = registry_with_busybox(&e.dir);
    let up = sleeper(&e, &r.image, "up");
    e.ok(&["run", "--name", "done0", "-l", "tier=web", &r.image, "true"]);
    let o = e.ctl(&["run", "--name", "done3", &r.image, "sh", "-c", "exit 3"]);
    assert_eq!(o.code(), Some(3));
    let names = |args: &[&str]| {
        let mut a = vec!["ps", "-a", "--format", "{{.Names}}"];
        a.extend_from_slice(args);
        let mut v: Vec<String> = e.ok(&a).lines().map(String::from).collect();
        v.sort();
        v.join(",")
    };
    assert_eq!(names(&[]), "done0,done3,up");
    assert_eq!(names(&["--filter", "status=exited"]), "done0,done3");
    assert_eq!(names(&["--filter", "status=running"]), "up");
    assert_eq!(names(&["--filter", "exited=3"]), "done3");
    assert_eq!(names(&["--filter", "label=tier=web"]), "done0");
    assert_eq!(names(&["--filter", "label=tier"]), "done0");
    assert_eq!(names(&["--filter", "name=done"]), "done0,done3");
    assert_eq!(names(&["--filter", &format!("id={}", &up[..8])]), "up");
    assert_eq!(
        names(&["--filter", &format!("ancestor={}", r.image)]),
        "done0,done3,up"
    );
    assert_eq!(
        names(&["--filter", "name=done", "--filter", "exited=0"]),
        "done0"
    );
    fails_with(
        &e.ctl(&["ps", "--filter", "colour=red"]),
        1,
        "invalid filter 'colour'",
    );
    // --format: fields and a table with docker's headers.
    let line = e.ok(&[
        "ps",
        "--format",
        "{{.ID}} {{.Image}} {{.Status}} {{.Command}}",
    ]);
    assert!(
        // docker's daemon wraps an argument holding a space in single quotes, then cuts at 20.
        line.starts_with(&format!("{} {} Up ", &up[..12], r.image))
            && line.ends_with("\"sh -c 'trap 'exit 0…\""),
        "{line}"
    );
    let t = e.ok(&["ps", "--format", "table {{.Names}}\t{{.Status}}"]);
    assert!(
        t.starts_with("NAMES") && t.lines().next().unwrap().ends_with("STATUS"),
        "{t}"
    );
    assert!(
        t.lines().nth(1).unwrap_or_default().starts_with("up  "),
        "{t}"
    );
    assert!(e
        .ok(&[
            "ps",
            "-a",
            "--format",
            "{{.Labels}}",
            "--filter",
            "name=done0"
        ])
        .contains("tier=web"));
    // -s: SIZE from the writable layer, the image's size as virtual.
    e.ok(&["exec", "up", "sh", "-c", "head -c 5000 /dev/zero > /big"]);
    let s = e.ok(&["ps", "-s"]);
    assert!(
        s.lines().next().unwrap_or_default().ends_with("SIZE"),
        "{s}"
    );
    assert!(s.contains("5kB (virtual "), "{s}");
    // images --filter/--format.
    assert_eq!(
        e.ok(&["images", "--format", "{{.Repository}}:{{.Tag}}"]),
        r.image
    );
    assert_eq!(e.ok(&["images", "--filter", "dangling=true", "-q"]), "");
    assert_eq!(
        e.ok(&[
            "images",
            "--filter",
            &format!("reference={}", r.image),
            "--format",
            "{{.Tag}}"
        ]),
        "v1"
    );
    // container prune: the stopped ones go, the running one stays.
    let out = e.ok(&["container", "prune", "-f"]);
    assert!(
        out.starts_with("Deleted Containers:") && out.contains("Total reclaimed space:"),
        "{out}"
    );
    assert_eq!(out.lines().filter(|l| l.len() == 64).count(), 2, "{out}");
    assert_eq!(names(&[]), "up");
    let out = e.ok(&["container", "prune", "-f"]);
    assert_eq!(out, "Total reclaimed space: 0B");
    e.ok(&["rm", "-f", "up"]);
    assert_clean(&e);
}

fn ctl_cmd(e: &Engine, args: &[&str]) -> std::process::Command {
    let mut c = std::process::Command::new(common::engine::ongictl());
    c.arg("--root")
        .arg(&e.root)
        .arg("--run-root")
        .arg(&e.run_root)
        .args(args);
    c
}

/// `sh -c LINE` under a fresh pty (`script`), as a user at a terminal types it.
fn at_terminal(e: &Engine, line: &str, input: Option<&str>) -> Out {
    let mut sh = std::process::Command::new("sh");
    sh.args(["-c", line]);
    let mut script = std::process::Command::new("script");
    let line = format!("sh -c {}", common::clients::shell_quote(line));
    script
        .args(["-qec", &line, "/dev/null"])
        .env("SHELL", "/bin/sh");
    let mut out = match input {
        Some(i) => common::clients::run_with_stdin(&mut script, &e.dir, i),
        None => common::clients::run_step(&mut script, &e.dir),
    };
    out.stdout = out.stdout.replace(['\r', '\0'], "");
    out
}

#[test]
fn tty_for_run_start_and_exec() {
    let e = Engine::new("tty");
    let r = registry_with_busybox(&e.dir);
    e.ok(&["pull", &r.image]);
    let ctl = |args: &[&str]| {
        let c = ctl_cmd(&e, args);
        std::iter::once(c.get_program())
            .chain(c.get_args())
            .map(|a| common::clients::shell_quote(&a.to_string_lossy()))
            .collect::<Vec<_>>()
            .join(" ")
    };
    // run -it at a terminal: the process has a terminal of the user's size, and typed input.
    let o = at_terminal(
        &e,
        &format!(
            "stty rows 33 cols 111; {}",
            ctl(&[
                "run",
                "--rm",
                "-it",
                &r.image,
                "sh",
                "-c",
                "tty; stty size; read x; echo got $x; exit 4"
            ])
        ),
        Some("typed\n"),
    );
    assert!(o.stdout.contains("/dev/pts/0"), "{o}");
    assert!(o.stdout.contains("33 111"), "terminal size passed on: {o}");
    assert!(o.stdout.contains("got typed"), "{o}");
    assert_eq!(o.code(), Some(4), "{o}");
    // -t without -i works without a terminal; -it without one is refused as docker does.
    let o = e.ctl(&[
        "run",
        "--rm",
        "-t",
        &r.image,
        "sh",
        "-c",
        "test -t 1 && echo isatty",
    ]);
    assert_eq!(o.stdout.replace('\r', "").trim(), "isatty", "{o}");
    fails_with(
        &e.ctl(&["run", "--rm", "-it", &r.image, "true"]),
        1,
        "the input device is not a TTY",
    );
    // A detached -t container: its terminal output is its log, as stdout.
    e.ok(&[
        "run",
        "-d",
        "-t",
        "--name",
        "dt",
        &r.image,
        "sh",
        "-c",
        "echo on-tty; tty; while true; do sleep 0.1; done",
    ]);
    assert!(wait_until(Duration::from_secs(10), || e
        .ctl(&["logs", "dt"])
        .stdout
        .contains("/dev/pts/0")));
    let logs = e.ctl(&["logs", "dt"]);
    assert!(
        logs.stdout.contains("on-tty") && logs.stderr.is_empty(),
        "{logs}"
    );
    // exec -t at a terminal gets a pty of its own.
    let o = at_terminal(&e, &ctl(&["exec", "-t", "dt", "tty"]), None);
    assert!(o.ok() && o.stdout.contains("/dev/pts/"), "{o}");
    let o = at_terminal(
        &e,
        &ctl(&["exec", "-it", "dt", "sh", "-c", "read x; echo x=$x"]),
        Some("abc\n"),
    );
    assert!(o.stdout.contains("x=abc"), "{o}");
    e.ok(&["rm", "-f", "dt"]);
    // start -ai of a created -it container relays the terminal again.
    e.ok(&[
        "create",
        "-it",
        "--name",
        "later",
        &r.image,
        "sh",
        "-c",
        "read y; echo later $y",
    ]);
    let o = at_terminal(&e, &ctl(&["start", "-ai", "later"]), Some("zz\n"));
    assert!(o.stdout.contains("later zz"), "{o}");
    e.ok(&["rm", "-f", "later"]);
    assert_clean(&e);
}

#[test]
fn attach_and_logs_windows() {
    let e = Engine::new("attach");
    let r = registry_with_busybox(&e.dir);
    e.ok(&[
        "run",
        "-d",
        "--name",
        "ticker",
        &r.image,
        "sh",
        "-c",
        "i=0; while true; do echo tick $i; echo warn $i >&2; i=$((i+1)); sleep 0.2; done",
    ]);
    // attach shows new output, stdout and stderr apart, and ends with the container.
    let child = ctl_cmd(&e, &["attach", "ticker"])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    std::thread::sleep(Duration::from_millis(1500));
    e.ok(&["stop", "-t", "1", "ticker"]);
    let out = child.wait_with_output().unwrap();
    let (so, se) = (
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr),
    );
    assert!(so.contains("tick ") && !so.contains("warn"), "stdout: {so}");
    assert!(se.contains("warn "), "stderr: {se}");
    assert!(
        !so.contains("tick 0\n"),
        "attach shows new output only: {so}"
    );
    // sh as pid 1 has no TERM handler: stop's SIGKILL ended it, as docker reports it.
    assert_eq!(out.status.code(), Some(137), "the container's exit code");
    fails_with(
        &e.ctl(&["attach", "ticker"]),
        1,
        "You cannot attach to a stopped container",
    );
    fails_with(&e.ctl(&["attach", "nope"]), 1, "No such container: nope");
    // A -dit shell: attach at a terminal types into it.
    e.ok(&["run", "-dit", "--name", "shell", &r.image, "sh"]);
    let c = ctl_cmd(&e, &["attach", "shell"]);
    let line = std::iter::once(c.get_program())
        .chain(c.get_args())
        .map(|a| common::clients::shell_quote(&a.to_string_lossy()))
        .collect::<Vec<_>>()
        .join(" ");
    let o = at_terminal(&e, &line, Some("echo hi-$((40+2))\nexit 3\n"));
    assert!(o.stdout.contains("hi-42"), "{o}");
    assert_eq!(o.code(), Some(3), "{o}");
    // logs --since/--until: timestamps and durations, as docker takes them.
    let all = e.ctl(&["logs", "ticker"]).stdout;
    assert!(all.lines().count() >= 3, "{all}");
    assert_eq!(e.ctl(&["logs", "--since", "1h", "ticker"]).stdout, all);
    assert_eq!(e.ctl(&["logs", "--until", "1h", "ticker"]).stdout, "");
    assert_eq!(
        e.ctl(&["logs", "--since", "2099-01-01T00:00:00Z", "ticker"])
            .stdout,
        ""
    );
    let mid = e.ok(&["logs", "-t", "ticker"]);
    let second = mid
        .lines()
        .nth(1)
        .and_then(|l| l.split(' ').next())
        .unwrap_or_default()
        .to_string();
    let since = e.ctl(&["logs", "--since", &second, "ticker"]).stdout;
    assert!(
        !since.contains("tick 0\n") && since.contains("tick 1\n"),
        "--since {second}: {since}"
    );
    fails_with(
        &e.ctl(&["logs", "--since", "yesterday", "ticker"]),
        1,
        "--since",
    );
    // logs -f follows new output and ends when the container's monitor lets go.
    e.ok(&[
        "run",
        "-d",
        "--name",
        "brief",
        &r.image,
        "sh",
        "-c",
        "echo first; sleep 1; echo last",
    ]);
    let t = std::time::Instant::now();
    let o = e.ctl(&["logs", "-f", "brief"]);
    assert!(o.ok() && o.stdout == "first\nlast\n", "{o}");
    assert!(t.elapsed() < Duration::from_secs(10), "logs -f did not end");
    assert_clean(&e);
}
