//! ongictl end to end: an image pushed by skopeo to a private registry is pulled and run,
//! detached containers keep logs and stop, `--rm` leaves nothing, and bad input gets docker's
//! errors and exit codes with nothing left behind.

mod common;

use std::time::Duration;

use common::engine::{assert_clean, fails_with, registry_with_busybox, Engine};
use common::wait_until;

#[test]
fn pull_run_from_registry() {
    let e = Engine::new("pull-run");
    let r = registry_with_busybox(&e.dir);
    let out = e.ok(&["pull", &r.image]);
    assert!(
        out.contains("Status: Downloaded newer image") && out.ends_with(&r.image),
        "{out}"
    );
    // A second pull finds everything present.
    let out = e.ok(&["pull", &r.image]);
    assert!(out.contains("Image is up to date"), "{out}");
    let images = e.ok(&["images"]);
    let row = images.lines().nth(1).unwrap_or_default();
    assert!(
        images.starts_with("REPOSITORY")
            && row.starts_with(&format!("{}/test/busybox", r.reg.addr))
            && row.contains(" v1 "),
        "{images}"
    );
    // The image's Cmd runs when none is given; args, env, workdir, user and exit code pass through.
    let o = e.ctl(&[
        "run",
        "--rm",
        "-e",
        "GREETING=hi",
        "-w",
        "/tmp",
        "-u",
        "1000:1000",
        &r.image,
        "sh",
        "-c",
        "echo $GREETING $(pwd) $(id -u):$(id -g); exit 7",
    ]);
    assert_eq!(o.code(), Some(7), "{o}");
    assert_eq!(o.text(), "hi /tmp 1000:1000");
    assert!(
        wait_until(Duration::from_secs(10), || e.ok(&["ps", "-aq"]).is_empty()),
        "--rm container still listed: {}",
        e.ok(&["ps", "-a"])
    );
    assert_clean(&e);
    // rmi by name removes the image; a run of a name that is not there pulls it.
    let o = e.ok(&["rmi", &r.image]);
    assert!(
        o.contains("Untagged:") && o.contains("Deleted: sha256:"),
        "{o}"
    );
    let o = e.ctl(&["run", "--rm", &r.image, "true"]);
    assert!(o.ok() && o.stderr.contains("Unable to find image"), "{o}");
}

#[test]
fn detached_logs_stop_start_rm() {
    let e = Engine::new("detached");
    let r = registry_with_busybox(&e.dir);
    let id = e.ok(&[
        "run",
        "-d",
        "--name",
        "ticker",
        &r.image,
        "sh",
        "-c",
        "trap 'echo bye; exit 0' TERM; echo started; echo oops >&2; while true; do sleep 0.1; done",
    ]);
    assert_eq!(id.len(), 64, "run -d prints the full id: {id}");
    assert!(wait_until(Duration::from_secs(10), || e
        .ctl(&["logs", "ticker"])
        .stdout
        .contains("started")));
    let logs = e.ctl(&["logs", "ticker"]);
    assert!(
        logs.stdout.contains("started")
            && logs.stderr.contains("oops")
            && !logs.stdout.contains("oops"),
        "streams kept apart: {logs}"
    );
    let ps = e.ok(&["ps"]);
    assert!(
        ps.lines().nth(1).is_some_and(|l| l.starts_with(&id[..12])
            && l.contains("Up ")
            && l.ends_with("ticker")),
        "{ps}"
    );
    assert_eq!(
        e.ok(&[
            "inspect",
            "-f",
            "{{.State.Status}} {{.Name}} {{.State.Running}}",
            &id[..6]
        ]),
        "running /ticker true"
    );
    // rm without -f refuses a running container, with docker's message.
    fails_with(&e.ctl(&["rm", "ticker"]), 1, "container is running");
    // stop sends SIGTERM; the trap exits 0 and logs it.
    assert_eq!(e.ok(&["stop", "ticker"]), "ticker");
    assert_eq!(
        e.ok(&[
            "inspect",
            "-f",
            "{{.State.Status}} {{.State.ExitCode}}",
            "ticker"
        ]),
        "exited 0"
    );
    assert!(e
        .ctl(&["logs", "--tail", "1", "ticker"])
        .stdout
        .contains("bye"));
    assert!(
        e.ok(&["ps"]).lines().count() == 1,
        "stopped container not in ps"
    );
    assert!(e.ok(&["ps", "-a"]).contains("Exited (0)"));
    assert_clean(&e);
    // start brings it back, with its logs kept.
    assert_eq!(e.ok(&["start", "ticker"]), "ticker");
    assert_eq!(
        e.ok(&["inspect", "-f", "{{.State.Status}}", "ticker"]),
        "running"
    );
    assert_eq!(e.ok(&["rm", "-f", "ticker"]), "ticker");
    fails_with(&e.ctl(&["inspect", "ticker"]), 1, "No such object: ticker");
    assert_clean(&e);
}

#[test]
fn restart_on_failure_counts() {
    let e = Engine::new("restart");
    let r = registry_with_busybox(&e.dir);
    e.ok(&[
        "run",
        "-d",
        "--name",
        "flaky",
        "--restart",
        "on-failure:2",
        &r.image,
        "sh",
        "-c",
        "echo run; exit 1",
    ]);
    assert!(
        wait_until(Duration::from_secs(20), || e.ok(&[
            "inspect",
            "-f",
            "{{.State.Status}}",
            "flaky"
        ]) == "exited"),
        "never settled"
    );
    assert_eq!(
        e.ok(&[
            "inspect",
            "-f",
            "{{.RestartCount}} {{.State.ExitCode}}",
            "flaky"
        ]),
        "2 1"
    );
    assert_eq!(
        e.ctl(&["logs", "flaky"]).stdout.matches("run").count(),
        3,
        "ran once plus two restarts"
    );
    assert_clean(&e);
}

#[test]
fn bad_input_is_refused_and_leaves_nothing() {
    let e = Engine::new("bad");
    let r = registry_with_busybox(&e.dir);
    e.ok(&["pull", &r.image]);
    fails_with(&e.ctl(&["pull", "Busybox"]), 1, "must be lowercase");
    fails_with(
        &e.ctl(&["pull", &format!("{}/test/nothere:v1", r.reg.addr)]),
        1,
        "nothere",
    );
    fails_with(
        &e.ctl(&["run", "--pull", "never", "nosuch/image", "true"]),
        125,
        "No such image",
    );
    fails_with(
        &e.ctl(&["run", "-v", "/does/not/exist:/x", &r.image, "true"]),
        125,
        "bind source path does not exist",
    );
    fails_with(
        &e.ctl(&["run", "-v", "rel:x", &r.image, "true"]),
        125,
        "must be absolute",
    );
    fails_with(
        // A bad -p is refused before anything is made (working -p: ongictl_network.rs,
        // which runs in a namespace of its own: this test runs on the host's).
        &e.ctl(&["run", "-p", "8080:80/sctp", &r.image, "true"]),
        125,
        "invalid proto: sctp",
    );
    fails_with(
        &e.ctl(&["run", "--restart", "sometimes", &r.image, "true"]),
        125,
        "--restart",
    );
    fails_with(
        &e.ctl(&["run", "--rm", &r.image, "/no/such/cmd"]),
        127,
        "no/such/cmd",
    );
    fails_with(
        &e.ctl(&["run", "--frobnicate", &r.image]),
        125,
        "unknown flag: --frobnicate",
    );
    e.ok(&["create", "--name", "taken", &r.image, "true"]);
    fails_with(
        &e.ctl(&["create", "--name", "taken", &r.image, "true"]),
        125,
        "is already in use",
    );
    fails_with(
        &e.ctl(&["create", "--name", "bad/name", &r.image, "true"]),
        125,
        "Invalid container name",
    );
    fails_with(
        &e.ctl(&["rmi", &r.image]),
        1,
        "is using its referenced image",
    );
    // Only the one good container exists; the failed ones left no record, mount or cgroup.
    assert_eq!(
        e.ok(&["ps", "-aq"]).lines().count(),
        1,
        "only `taken`: {}",
        e.ok(&["ps", "-a"])
    );
    assert_clean(&e);
}

#[test]
fn init_runs_as_pid_1_and_reaps() {
    let e = Engine::new("init");
    let r = registry_with_busybox(&e.dir);
    e.ok(&["pull", &r.image]);
    // Without --init the command is PID 1; with it docker's init is, and the command its child.
    let o = e.ctl(&["run", "--rm", &r.image, "sh", "-c", "echo $$"]);
    assert_eq!(o.text(), "1", "{o}");
    let o = e.ctl(&[
        "run",
        "--rm",
        "--init",
        &r.image,
        "sh",
        "-c",
        "echo $$; tr '\\0' ' ' < /proc/1/cmdline; exit 3",
    ]);
    assert_eq!(
        o.code(),
        Some(3),
        "the command's exit code passes through init: {o}"
    );
    let mut lines = o.stdout.lines();
    assert_ne!(lines.next(), Some("1"), "{o}");
    assert!(
        lines
            .next()
            .is_some_and(|l| l.starts_with("/sbin/docker-init -- sh -c")),
        "{o}"
    );
    // An orphaned grandchild is reaped by init: no zombie is left while the container runs.
    e.ok(&[
        "run",
        "-d",
        "--name",
        "reaper",
        "--init",
        &r.image,
        "sh",
        "-c",
        "(sleep 0.1 &) ; sleep 30",
    ]);
    assert!(
        wait_until(Duration::from_secs(10), || {
            let ps = e.ctl(&["exec", "reaper", "ps", "-o", "stat,comm"]).stdout;
            ps.contains("sleep")
                && !ps.lines().any(|l| l.trim_start().starts_with('Z'))
                && ps.lines().filter(|l| l.contains("sleep")).count() == 1
        }),
        "zombie or orphan left: {}",
        e.ctl(&["exec", "reaper", "ps", "-o", "pid,stat,comm"])
    );
    assert_eq!(
        e.ok(&["inspect", "-f", "{{.HostConfig.Init}}", "reaper"]),
        "true"
    );
    e.ok(&["rm", "-f", "reaper"]);
    assert_clean(&e);
}

#[test]
fn device_is_made_and_allowed_with_its_permissions() {
    let e = Engine::new("device");
    let r = registry_with_busybox(&e.dir);
    e.ok(&["pull", &r.image]);
    // /dev/zero under another name: the node is made with the host's numbers and reads work.
    // (Its write permission cannot be told apart here: like docker, the runtime's default
    // device rules allow /dev/zero anyway.)
    let o = e.ctl(&[
        "run",
        "--rm",
        "--device",
        "/dev/zero:/dev/myzero:r",
        &r.image,
        "sh",
        "-c",
        "ls -l /dev/myzero; head -c 5 /dev/myzero | wc -c",
    ]);
    assert!(o.ok(), "{o}");
    let lines: Vec<&str> = o.stdout.lines().collect();
    assert!(
        lines.first().is_some_and(|l| l.starts_with('c')
            && l.contains("1,")
            && l.contains(" 5 ")
            && l.ends_with("/dev/myzero")),
        "char 1,5 node: {o}"
    );
    assert_eq!(&lines[1..], ["5"], "{o}");
    e.ok(&[
        "create",
        "--name",
        "dev",
        "--device",
        "/dev/zero:/dev/myzero:r",
        &r.image,
        "true",
    ]);
    assert_eq!(e.ok(&["inspect", "-f", "{{range .HostConfig.Devices}}{{.PathOnHost}} {{.PathInContainer}} {{.CgroupPermissions}}{{end}}", "dev"]), "/dev/zero /dev/myzero r");
    e.ok(&["rm", "dev"]);
    // Without --device the node is not there.
    let o = e.ctl(&["run", "--rm", &r.image, "test", "-e", "/dev/myzero"]);
    assert_eq!(o.code(), Some(1), "{o}");
    // Bad input: a path that is no device, a missing one, bad permissions.
    fails_with(
        &e.ctl(&["run", "--rm", "--device", "/etc/hostname", &r.image, "true"]),
        125,
        "is not a device node",
    );
    fails_with(
        &e.ctl(&["run", "--rm", "--device", "/dev/nope", &r.image, "true"]),
        125,
        "error gathering device information",
    );
    fails_with(
        &e.ctl(&[
            "run",
            "--rm",
            "--device",
            "/dev/null:/dev/n:rwx",
            &r.image,
            "true",
        ]),
        125,
        "invalid device mode",
    );
    assert!(e.ok(&["ps", "-aq"]).is_empty());
    assert_clean(&e);
}
