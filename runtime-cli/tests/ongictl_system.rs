//! The store survives what kills commands and monitors: `kill -9` of `ongictl` at named
//! points of pull, run and rm (its `ONGI_TEST_PAUSE_AT` hook), of a container's monitor,
//! of a container's process under a restart policy, and a reboot (a changed boot id). After
//! each, the next command shows a consistent store and `system check` repairs the rest and
//! is then clean. Also `system df`, `system prune`, `system boot`, and the monitor's memory.

mod common;

use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

use common::clients::{run_limited, Out};
use common::engine::{assert_clean, monitor_pid, ongictl, registry_with_busybox, Engine};
use common::wait_until;

fn check_clean(e: &Engine) {
    let o = e.ctl(&["system", "check"]);
    assert!(
        o.code() == Some(0) && o.stdout.contains("store is consistent"),
        "system check not clean: {o}"
    );
}

fn cmd(e: &Engine, env: &[(&str, &str)], args: &[&str]) -> Command {
    let mut c = Command::new(ongictl());
    c.arg("--root")
        .arg(&e.root)
        .arg("--run-root")
        .arg(&e.run_root)
        .args(args)
        .envs(env.iter().copied());
    c
}

fn ctl_env(e: &Engine, env: &[(&str, &str)], args: &[&str]) -> Out {
    run_limited(&mut cmd(e, env, args), &e.dir, Duration::from_secs(60))
        .unwrap_or_else(|err| panic!("{err}"))
}

fn proc_state(pid: u32) -> Option<char> {
    let s = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    s.rsplit_once(") ")?.1.chars().next()
}

/// Runs `ongictl ARGS` until it stops itself at `step`, then SIGKILLs it there.
fn kill_at(e: &Engine, step: &str, args: &[&str]) {
    let mut c = cmd(e, &[("ONGI_TEST_PAUSE_AT", step)], args);
    c.stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null());
    let mut child = c.spawn().expect("spawn ongictl");
    let pid = child.id();
    let stopped = wait_until(Duration::from_secs(60), || proc_state(pid) == Some('T'));
    let _ = child.kill();
    let _ = child.wait();
    assert!(stopped, "ongictl {args:?} never reached {step}");
}

fn kill9(pid: i32) {
    // SAFETY: kill(2) with a pid we looked up; no memory is involved.
    unsafe { libc::kill(pid, libc::SIGKILL) };
}

fn alive(pid: i32) -> bool {
    Path::new(&format!("/proc/{pid}")).exists() && proc_state(pid as u32) != Some('Z')
}

fn inspect(e: &Engine, f: &str, c: &str) -> String {
    e.ok(&["inspect", "-f", f, c])
}

#[test]
fn kill9_of_ongictl_is_recovered() {
    let e = Engine::new("sys-kill9");
    let r = registry_with_busybox(&e.dir);
    let img = r.image.as_str();

    // Pull killed after its blobs and layers are in, before the image is recorded: no
    // image shows; check removes the unreferenced layers and blobs; a new pull works.
    kill_at(&e, "pull:before-record", &["pull", "-q", img]);
    assert!(e.ok(&["images", "-q"]).is_empty());
    let o = e.ctl(&["system", "check"]);
    assert_eq!(o.code(), Some(1), "{o}");
    assert!(
        o.stdout.contains("unreferenced layer") && o.stdout.contains("unreferenced blob"),
        "{o}"
    );
    check_clean(&e);
    let layers = || {
        std::fs::read_dir(e.root.join("layers"))
            .map(|d| d.count())
            .unwrap_or(0)
    };
    assert_eq!(layers(), 0);
    e.ok(&["pull", "-q", img]);
    assert!(layers() > 0);
    check_clean(&e);

    // run killed between the record and its directory: no container shows, the name is
    // given back by check.
    kill_at(
        &e,
        "create:row",
        &["run", "-d", "--name", "half", img, "sleep", "100"],
    );
    assert!(e.ok(&["ps", "-aq"]).is_empty());
    let o = e.ctl(&["system", "check"]);
    assert!(o.stdout.contains("its directory was missing"), "{o}");
    check_clean(&e);
    e.ok(&["create", "--name", "half", img, "true"]);
    e.ok(&["rm", "half"]);

    // run killed with the rootfs mounted and no monitor yet: the container shows as
    // created; check unmounts; it then starts and is removed cleanly.
    kill_at(
        &e,
        "start:mounted",
        &["run", "-d", "--name", "mnt", img, "sleep", "100"],
    );
    assert_eq!(inspect(&e, "{{.State.Status}}", "mnt"), "created");
    assert!(!e.mounts().is_empty());
    let o = e.ctl(&["system", "check"]);
    assert!(o.stdout.contains("unmounted the rootfs"), "{o}");
    assert!(e.mounts().is_empty());
    check_clean(&e);
    e.ok(&["start", "mnt"]);
    assert_eq!(inspect(&e, "{{.State.Running}}", "mnt"), "true");

    // rm killed after the directory is renamed away: the container is gone for every
    // command; check removes the record and the leftover directory.
    kill_at(&e, "rm:renamed", &["rm", "-f", "mnt"]);
    assert!(e.ok(&["ps", "-aq"]).is_empty());
    let o = e.ctl(&["system", "check"]);
    assert!(
        o.stdout.contains("its directory was missing") && o.stdout.contains("leftover"),
        "{o}"
    );
    check_clean(&e);
    assert_clean(&e);
    // Everything still works after all that.
    assert_eq!(e.ok(&["run", "--rm", img, "echo", "fine"]), "fine");
    check_clean(&e);
}

#[test]
fn monitor_kill9_then_commands_work() {
    let e = Engine::new("sys-mon9");
    let r = registry_with_busybox(&e.dir);
    let img = r.image.as_str();
    e.ok(&["pull", "-q", img]);

    // The monitor dies, the container's process lives on: still running, stop works.
    let id = e.ok(&["run", "-d", "--name", "m1", img, "sleep", "1000"]);
    let mon = monitor_pid(&id).expect("monitor of m1");
    kill9(mon);
    assert!(wait_until(Duration::from_secs(10), || !alive(mon)));
    assert_eq!(inspect(&e, "{{.State.Status}}", "m1"), "running");
    assert!(e.ok(&["ps", "-q"]).contains(&id[..12]));
    let t = Instant::now();
    e.ok(&["stop", "-t", "1", "m1"]);
    assert!(t.elapsed() < Duration::from_secs(20));
    assert_eq!(inspect(&e, "{{.State.Status}}", "m1"), "exited");
    assert!(e.mounts().is_empty(), "{:?}", e.mounts());
    e.ok(&["rm", "m1"]);
    assert_clean(&e);

    // Monitor and process both killed: the next command shows exited (137) and rm
    // leaves nothing.
    let id = e.ok(&["run", "-d", "--name", "m2", img, "sleep", "1000"]);
    let pid: i32 = inspect(&e, "{{.State.Pid}}", "m2").parse().expect("pid");
    let mon = monitor_pid(&id).expect("monitor of m2");
    kill9(mon);
    kill9(pid);
    assert!(wait_until(Duration::from_secs(10), || !alive(mon) && !alive(pid)));
    let ps = e.ok(&["ps", "-a"]);
    assert!(ps.contains("Exited (137)"), "{ps}");
    assert_eq!(inspect(&e, "{{.State.ExitCode}}", "m2"), "137");
    assert!(e.mounts().is_empty(), "{:?}", e.mounts());
    check_clean(&e);
    e.ok(&["rm", "m2"]);
    assert_clean(&e);
    check_clean(&e);
}

#[test]
fn restart_policies() {
    let e = Engine::new("sys-restart");
    let r = registry_with_busybox(&e.dir);
    let img = r.image.as_str();
    e.ok(&["pull", "-q", img]);

    // always: a SIGKILLed process is started again by its monitor.
    e.ok(&[
        "run",
        "-d",
        "--name",
        "al",
        "--restart",
        "always",
        img,
        "sleep",
        "1000",
    ]);
    let pid1: i32 = inspect(&e, "{{.State.Pid}}", "al").parse().expect("pid");
    kill9(pid1);
    let restarted = wait_until(Duration::from_secs(15), || {
        inspect(&e, "{{.RestartCount}} {{.State.Running}}", "al") == "1 true"
    });
    assert!(restarted, "{}", inspect(&e, "{{json .State}}", "al"));
    let pid2: i32 = inspect(&e, "{{.State.Pid}}", "al").parse().expect("pid");
    assert_ne!(pid1, pid2);
    // stop is the user's: no restart.
    e.ok(&["stop", "-t", "1", "al"]);
    std::thread::sleep(Duration::from_millis(800));
    assert_eq!(inspect(&e, "{{.State.Status}}", "al"), "exited");

    // unless-stopped: stays stopped after stop, and `system boot` leaves it alone while it
    // starts the `always` one.
    e.ok(&[
        "run",
        "-d",
        "--name",
        "us",
        "--restart",
        "unless-stopped",
        img,
        "sleep",
        "1000",
    ]);
    e.ok(&["stop", "-t", "1", "us"]);
    std::thread::sleep(Duration::from_millis(800));
    assert_eq!(inspect(&e, "{{.State.Status}}", "us"), "exited");
    assert_eq!(e.ok(&["system", "boot"]), "al");
    assert_eq!(inspect(&e, "{{.State.Running}}", "al"), "true");
    assert_eq!(inspect(&e, "{{.State.Status}}", "us"), "exited");

    // docker's back-off: 100 ms doubling, so a crashing container restarts a few times
    // in two seconds, not hundreds.
    e.ok(&[
        "run",
        "-d",
        "--name",
        "crash",
        "--restart",
        "always",
        img,
        "false",
    ]);
    std::thread::sleep(Duration::from_millis(2200));
    let n: u32 = inspect(&e, "{{.RestartCount}}", "crash")
        .parse()
        .expect("count");
    assert!((2..=6).contains(&n), "{n} restarts in 2.2 s");
    e.ok(&["rm", "-f", "crash", "al", "us"]);
    assert_clean(&e);
    check_clean(&e);
}

#[test]
fn reboot_marks_stale_containers_and_boot_starts_them() {
    let e = Engine::new("sys-boot");
    let r = registry_with_busybox(&e.dir);
    let img = r.image.as_str();
    e.ok(&["pull", "-q", img]);
    let id = e.ok(&[
        "run",
        "-d",
        "--name",
        "svc",
        "--restart",
        "always",
        img,
        "sleep",
        "1000",
    ]);
    let plain = e.ok(&["run", "-d", "--name", "plain", img, "sleep", "1000"]);
    // A reboot takes the monitors with it (and the processes: the runtime's delete checks
    // the recorded process identity, so only a still-live one is killed here).
    for i in [&id, &plain] {
        let m = monitor_pid(i).expect("monitor");
        kill9(m);
        assert!(wait_until(Duration::from_secs(10), || !alive(m)));
    }
    // Same boot: the processes still run, so the containers are running.
    assert_eq!(inspect(&e, "{{.State.Status}}", "plain"), "running");
    let after = [("ONGI_BOOT_ID", "00000000-0000-0000-0000-00000000b007")];
    let ps = ctl_env(&e, &after, &["ps", "-a"]);
    assert!(ps.ok(), "{ps}");
    assert_eq!(ps.stdout.matches("Exited (255)").count(), 2, "{ps}");
    assert!(e.mounts().is_empty(), "{:?}", e.mounts());
    assert!(e.leftover_cgroups().is_empty());
    // boot starts the `always` container, not the one without a policy.
    let o = ctl_env(&e, &after, &["system", "boot"]);
    assert_eq!(o.text(), "svc", "{o}");
    let st = ctl_env(
        &e,
        &after,
        &["inspect", "-f", "{{.State.Status}}", "svc", "plain"],
    );
    assert_eq!(st.text(), "running\nexited", "{st}");
    let o = ctl_env(&e, &after, &["system", "check"]);
    assert!(o.stdout.contains("store is consistent"), "{o}");
    e.ok(&["rm", "-f", "svc", "plain"]);
    assert_clean(&e);
}

#[test]
fn df_and_prune() {
    let e = Engine::new("sys-df");
    let r = registry_with_busybox(&e.dir);
    let img = r.image.as_str();
    e.ok(&["pull", "-q", img]);
    e.ok(&[
        "run", "-d", "--name", "up", "-v", "vol1:/v", img, "sleep", "1000",
    ]);
    e.ok(&[
        "run",
        "--name",
        "done",
        "-v",
        "/anon",
        img,
        "sh",
        "-c",
        "head -c 100000 /dev/zero > /big",
    ]);
    let df = e.ok(&["system", "df"]);
    let row = |k: &str| -> Vec<String> {
        df.lines()
            .find(|l| l.starts_with(k))
            .unwrap_or_else(|| panic!("no {k} row in {df}"))
            .split_whitespace()
            .map(String::from)
            .collect()
    };
    assert!(df.starts_with("TYPE"), "{df}");
    assert!(df.lines().next().is_some_and(|h| h.contains("TOTAL")
        && h.contains("ACTIVE")
        && h.contains("SIZE")
        && h.contains("RECLAIMABLE")));
    assert_eq!(row("Images")[1..3], ["1", "1"], "{df}");
    assert_eq!(row("Containers")[1..3], ["2", "1"], "{df}");
    // "Local Volumes": TOTAL ACTIVE after the two words.
    assert_eq!(row("Local Volumes")[2..4], ["2", "2"], "{df}");
    assert!(
        row("Containers")[4].starts_with("100kB") || row("Containers")[4].starts_with("102.4kB"),
        "{df}"
    );
    assert!(row("Build Cache").len() >= 5, "{df}");

    // prune: the stopped container, with --volumes its anonymous volume; the running one,
    // its image and its named volume stay.
    let o = e.ok(&["system", "prune", "-f", "--volumes"]);
    assert!(
        o.contains("Deleted Containers:") && o.contains("Total reclaimed space"),
        "{o}"
    );
    assert_eq!(
        e.ok(&["ps", "-aq"]).lines().count(),
        1,
        "only the running one stays"
    );
    assert_eq!(e.ok(&["volume", "ls", "-q"]), "vol1");
    assert!(!e.ok(&["images", "-q"]).is_empty());
    // -a: every image no container uses goes, with its layers.
    e.ok(&["rm", "-f", "up"]);
    let o = e.ok(&["system", "prune", "-a", "-f"]);
    assert!(o.contains("Deleted Images:"), "{o}");
    assert!(e.ok(&["images", "-q"]).is_empty());
    assert_eq!(
        std::fs::read_dir(e.root.join("layers"))
            .map(|d| d.count())
            .unwrap_or(9),
        0
    );
    assert_eq!(e.ok(&["volume", "ls", "-q"]), "vol1", "named volumes stay");
    check_clean(&e);
    assert_clean(&e);
}

/// What killed writers leave without any pause point: temporaries of dead processes,
/// a volume directory without its record, a record without its directory, a run directory
/// and runtime state of no container. check repairs each, names it, and is then clean;
/// a temporary of a live process is in flight and left alone.
#[test]
fn check_sweeps_leftovers() {
    let e = Engine::new("sys-sweep");
    e.ok(&["volume", "create", "kept"]);
    check_clean(&e);
    let dead = "@tmp-blob-999999999-0-0";
    std::fs::write(e.root.join("tmp").join(dead), b"partial").expect("write");
    std::fs::create_dir_all(e.root.join("layers/@tmp-layer-999999999-1-0/diff")).expect("mkdir");
    let live = format!("@tmp-blob-{}-0-0", std::process::id());
    std::fs::write(e.root.join("tmp").join(&live), b"in flight").expect("write");
    std::fs::create_dir_all(e.root.join("volumes/orphan/_data")).expect("mkdir");
    std::fs::remove_dir_all(e.root.join("volumes/kept")).expect("rm");
    std::fs::create_dir_all(e.run_root.join("containers").join("ab".repeat(32))).expect("mkdir");
    let o = e.ctl(&["system", "check"]);
    assert_eq!(o.code(), Some(1), "{o}");
    for want in [
        dead,
        "@tmp-layer-999999999-1-0",
        "volume directory orphan",
        "missing directory of volume kept",
        "run directory of unknown container abababababab",
    ] {
        assert!(o.stdout.contains(want), "{want:?} not reported: {o}");
    }
    assert!(!o.stdout.contains(&live), "{o}");
    assert!(e.root.join("tmp").join(&live).exists());
    std::fs::remove_file(e.root.join("tmp").join(&live)).expect("rm");
    check_clean(&e);
    assert_eq!(e.ok(&["volume", "ls", "-q"]), "kept");
}

/// Without -f, prune asks first (docker's prompt) and does nothing unless told yes.
#[test]
fn prune_asks_first() {
    let e = Engine::new("sys-ask");
    let anon = e.ok(&["volume", "create"]);
    let o = common::clients::run_with_stdin(&mut cmd(&e, &[], &["volume", "prune"]), &e.dir, "n\n");
    assert!(
        o.ok()
            && o.stderr
                .contains("Are you sure you want to continue? [y/N]"),
        "{o}"
    );
    assert_eq!(e.ok(&["volume", "ls", "-q"]), anon);
    let o = common::clients::run_with_stdin(
        &mut cmd(&e, &[], &["system", "prune", "--volumes"]),
        &e.dir,
        "y\n",
    );
    assert!(o.ok() && o.stdout.contains(&anon), "{o}");
    assert!(e.ok(&["volume", "ls", "-q"]).is_empty());
}

/// kill -9 of pull and of `run -d` at a spread of moments (no pause point: wherever the
/// timer lands): the next commands see either nothing or a complete image/container, and
/// after `system check` the store is consistent and still works.
#[test]
fn kill9_by_timing() {
    let e = Engine::new("sys-timing");
    let r = registry_with_busybox(&e.dir);
    let img = r.image.as_str();
    for delay_ms in [5u64, 20, 40, 80, 160] {
        for args in [
            vec!["pull", "-q", img],
            vec!["run", "-d", "--name", "t", img, "sleep", "100"],
        ] {
            let mut c = cmd(&e, &[], &args);
            c.stdout(std::process::Stdio::null())
                .stderr(std::process::Stdio::null());
            let mut child = c.spawn().expect("spawn");
            std::thread::sleep(Duration::from_millis(delay_ms));
            let _ = child.kill();
            let _ = child.wait();
            let images = e.ok(&["images", "-q"]);
            assert!(images.lines().count() <= 1, "{images}");
            let ps = e.ok(&["ps", "-a"]);
            assert!(ps.lines().count() <= 2, "{ps}");
            let _ = e.ctl(&["system", "check"]);
            check_clean(&e);
            if !images.is_empty() {
                assert_eq!(
                    e.ok(&["run", "--rm", img, "echo", "ok"]),
                    "ok",
                    "after {delay_ms} ms"
                );
            }
            let _ = e.ctl(&["rm", "-f", "t"]);
            check_clean(&e);
        }
        // Start over for the next moment: the pull must run again from nothing.
        let _ = e.ctl(&["system", "prune", "-a", "-f"]);
    }
    assert_clean(&e);
}
