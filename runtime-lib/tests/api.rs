//! The library API used directly, without the CLI: create, state, start, kill, delete of a
//! real container from a busybox bundle. Runs as root. Its own `main` keeps the process
//! single-threaded, as `Container::create` requires.

use ongi::{Container, CreateOptions, Signal, Status};
use std::fs;
use std::os::unix::fs::symlink;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

fn bundle(dir: &Path, args: &[&str]) {
    let rootfs = dir.join("rootfs");
    for d in ["bin", "proc", "dev", "sys", "tmp"] {
        fs::create_dir_all(rootfs.join(d)).expect("mkdir rootfs dirs");
    }
    fs::copy("/bin/busybox", rootfs.join("bin/busybox"))
        .expect("copy /bin/busybox (busybox-static)");
    for a in ["sh", "sleep", "echo", "cat"] {
        symlink("busybox", rootfs.join("bin").join(a)).expect("applet link");
    }
    let config = serde_json::json!({
        "ociVersion": "1.0.2",
        "root": { "path": "rootfs" },
        "process": { "args": args, "cwd": "/", "user": { "uid": 0, "gid": 0 },
                     "env": ["PATH=/bin"] },
        "mounts": [ { "destination": "/proc", "type": "proc", "source": "proc" } ],
        "linux": { "namespaces": [ { "type": "pid" }, { "type": "mount" }, { "type": "uts" } ] },
        "hostname": "api"
    });
    fs::write(dir.join("config.json"), config.to_string()).expect("write config.json");
}

fn wait_for(what: &str, mut cond: impl FnMut() -> bool) {
    let t = Instant::now();
    while !cond() {
        assert!(
            t.elapsed() < Duration::from_secs(10),
            "timed out waiting for {what}"
        );
        std::thread::sleep(Duration::from_millis(10));
    }
}

fn lifecycle(work: &Path) {
    let b = work.join("bundle");
    bundle(&b, &["sh", "-c", "echo $$ > /tmp/started; exec sleep 100"]);
    let root = work.join("state");
    let c = Container::new(&root, "api-lifecycle");
    let opts = CreateOptions {
        bundle: b.clone(),
        ..Default::default()
    };
    let st = c.create(&opts).expect("create");
    assert_eq!(st.status, Status::Created);
    assert!(st.pid > 0);
    assert_eq!(c.state().expect("state").status, Status::Created);
    // The user process has not run yet.
    assert!(!b.join("rootfs/tmp/started").exists());

    c.start().expect("start");
    // The shell creates the file before it writes it: wait for the line, not the file.
    let marker = b.join("rootfs/tmp/started");
    wait_for("the user process", || {
        fs::read_to_string(&marker).is_ok_and(|s| s.ends_with('\n'))
    });
    let started = fs::read_to_string(&marker).expect("read marker");
    assert_eq!(
        started.trim(),
        "1",
        "the user process is pid 1 of its namespace"
    );
    assert_eq!(c.state().expect("state").status, Status::Running);
    assert_eq!(ongi::list(&root).expect("list").len(), 1);

    c.kill(Signal::SIGKILL, false).expect("kill");
    // The caller is init's parent and reaps it (as a shim would).
    let _ = nix::sys::wait::waitpid(nix::unistd::Pid::from_raw(st.pid), None);
    wait_for("stopped", || {
        c.state()
            .map(|s| s.status == Status::Stopped)
            .unwrap_or(false)
    });
    c.delete(false).expect("delete");
    assert!(c.state().is_err(), "state of a deleted container must fail");
    assert!(
        !root.join("api-lifecycle").exists(),
        "state dir left behind"
    );
}

/// pause, resume, update and stats through the library.
fn resources(work: &Path) {
    let b = work.join("bundle-res");
    bundle(&b, &["sleep", "100"]);
    let mut config: serde_json::Value =
        serde_json::from_str(&fs::read_to_string(b.join("config.json")).expect("read config"))
            .expect("config json");
    config["linux"]["resources"] = serde_json::json!({"pids": {"limit": 7}});
    fs::write(b.join("config.json"), config.to_string()).expect("write config.json");
    let root = work.join("state");
    let c = Container::new(&root, "api-resources");
    let st = c
        .create(&CreateOptions {
            bundle: b,
            ..Default::default()
        })
        .expect("create");
    c.start().expect("start");
    assert_eq!(c.stats().expect("stats").pids.limit, 7);
    c.pause().expect("pause");
    assert_eq!(c.state().expect("state").status, Status::Paused);
    assert!(matches!(c.pause(), Err(ongi::Error::NotRunning)));
    let r: ongi::LinuxResources =
        serde_json::from_str(r#"{"pids": {"limit": 9}}"#).expect("resources json");
    c.update(&r).expect("update while paused");
    assert_eq!(c.stats().expect("stats").pids.limit, 9);
    c.resume().expect("resume");
    assert_eq!(c.state().expect("state").status, Status::Running);
    assert!(matches!(c.resume(), Err(ongi::Error::NotPaused)));
    c.kill(Signal::SIGKILL, false).expect("kill");
    let _ = nix::sys::wait::waitpid(nix::unistd::Pid::from_raw(st.pid), None);
    c.delete(true).expect("delete");
}

/// `exec` through the library: the process is the caller's child (CLONE_PARENT), so a
/// shim can wait for it, and a foreground exec returns its status.
fn exec(work: &Path) {
    use nix::sys::wait::{waitpid, WaitPidFlag, WaitStatus};
    use nix::unistd::Pid;
    use ongi::{ExecOptions, ExecOutcome};
    let b = work.join("bundle-exec");
    bundle(&b, &["sleep", "100"]);
    let root = work.join("state");
    let c = Container::new(&root, "api-exec");
    let st = c
        .create(&CreateOptions {
            bundle: b.clone(),
            ..Default::default()
        })
        .expect("create");
    c.start().expect("start");
    let run = |args: &[&str], detach: bool| {
        c.exec(&ExecOptions {
            args: args.iter().map(|s| s.to_string()).collect(),
            detach,
            ..Default::default()
        })
        .expect("exec")
    };
    assert_eq!(run(&["sh", "-c", "exit 3"], false), ExecOutcome::Exited(3));
    let ExecOutcome::Detached(pid) = run(&["sleep", "100"], true) else {
        panic!("detached exec returned an exit status");
    };
    let pid = Pid::from_raw(pid);
    assert_eq!(
        waitpid(pid, Some(WaitPidFlag::WNOHANG)),
        Ok(WaitStatus::StillAlive),
        "the exec'd process is not our child"
    );
    nix::sys::signal::kill(pid, Signal::SIGKILL).expect("kill exec'd process");
    assert!(matches!(
        waitpid(pid, None),
        Ok(WaitStatus::Signaled(_, Signal::SIGKILL, _))
    ));
    c.kill(Signal::SIGKILL, false).expect("kill");
    let _ = waitpid(Pid::from_raw(st.pid), None);
    c.delete(true).expect("delete");
}

fn bad_bundle(work: &Path) {
    let root = work.join("state");
    let c = Container::new(&root, "api-bad");
    let err = c
        .create(&CreateOptions {
            bundle: work.join("no-such-bundle"),
            ..Default::default()
        })
        .expect_err("create from a missing bundle must fail");
    assert!(
        err.to_string().contains("no-such-bundle"),
        "error names the path: {err}"
    );
    assert!(!root.join("api-bad").exists(), "nothing left behind");
}

/// A caller running from its writable binary file is refused before anything is made
/// (a container could overwrite the binary through /proc/<pid>/exe).
fn unprotected_refused(work: &Path) {
    let b = work.join("bundle-unprotected");
    bundle(&b, &["true"]);
    let root = work.join("state");
    let c = Container::new(&root, "api-unprotected");
    let opts = CreateOptions {
        bundle: b,
        ..Default::default()
    };
    let err = c
        .create(&opts)
        .expect_err("create from an unprotected binary");
    assert!(
        matches!(
            err,
            ongi::Error::Caller(ongi::CallerError::Exe(ongi::ExeError::Unprotected { .. }))
        ),
        "{err}"
    );
    assert!(err.to_string().contains("CVE-2019-5736"), "{err}");
    assert!(
        !root.join("api-unprotected").exists(),
        "nothing left behind"
    );
}

/// A caller with a second thread is refused before anything is made (a clone would copy
/// locks that thread may hold); once the thread is gone, the same create works.
fn threads_refused(work: &Path) {
    let b = work.join("bundle-threads");
    bundle(&b, &["echo"]);
    let root = work.join("state");
    let c = Container::new(&root, "api-threads");
    let opts = CreateOptions {
        bundle: b,
        ..Default::default()
    };
    let (tx, rx) = std::sync::mpsc::channel::<()>();
    let t = std::thread::spawn(move || rx.recv());
    let err = c
        .create(&opts)
        .expect_err("create from a process with two threads");
    assert!(
        matches!(
            err,
            ongi::Error::Caller(ongi::CallerError::Threads { threads: 2 })
        ),
        "{err}"
    );
    assert!(!root.join("api-threads").exists(), "nothing left behind");
    drop(tx);
    let _ = t.join();
    c.create(&opts).expect("create once single-threaded again");
    c.delete(true).expect("delete");
}

/// A failing poststart or poststop hook does not fail the call that ran it: the call
/// returns `Ok` and the failure comes back as its warning (runtime-spec lifecycle steps 9
/// and 13), never as an error.
fn hook_warnings(work: &Path) {
    let b = work.join("hooks-bundle");
    bundle(&b, &["sh", "-c", "exit 3"]);
    let cfg = b.join("config.json");
    let mut config: serde_json::Value =
        serde_json::from_str(&fs::read_to_string(&cfg).expect("read config.json"))
            .expect("parse config.json");
    config["hooks"] = serde_json::json!({
        "poststart": [ { "path": "/bin/false" } ],
        "poststop": [ { "path": "/bin/false" } ]
    });
    fs::write(&cfg, config.to_string()).expect("write config.json");
    let root = work.join("hooks-state");
    let opts = CreateOptions {
        bundle: b.clone(),
        ..Default::default()
    };
    let is_hook = |w: &ongi::Warning, phase: &str| {
        matches!(w, ongi::Warning::Hook(_)) && w.to_string().starts_with(&format!("{phase} hook"))
    };

    let c = Container::new(&root, "api-hook-warnings");
    let st = c.create(&opts).expect("create");
    let w = c
        .start()
        .expect("start with a failing poststart hook succeeds");
    assert!(w.len() == 1 && is_hook(&w[0], "poststart"), "{w:?}");
    let _ = nix::sys::wait::waitpid(nix::unistd::Pid::from_raw(st.pid), None);
    let w = c
        .delete(true)
        .expect("delete with a failing poststop hook succeeds");
    assert!(w.len() == 1 && is_hook(&w[0], "poststop"), "{w:?}");
    assert!(c.state().is_err(), "the container must be gone");

    let c = Container::new(&root, "api-hook-warnings-run");
    match c
        .run(&opts, false)
        .expect("run with failing hooks succeeds")
    {
        ongi::RunOutcome::Exited { status, warnings } => {
            assert_eq!(status, 3, "the container's exit status");
            assert!(
                warnings.len() == 2
                    && is_hook(&warnings[0], "poststart")
                    && is_hook(&warnings[1], "poststop"),
                "{warnings:?}"
            );
        }
        other => panic!("run without detach: {other:?}"),
    }
    assert!(c.state().is_err(), "run must delete the container");
}

fn main() {
    assert!(
        nix::unistd::geteuid().is_root(),
        "api: needs root (real namespaces, mounts and cgroups)"
    );
    let work = PathBuf::from(format!("/tmp/ongi-api-test-{}", std::process::id()));
    let _ = fs::remove_dir_all(&work);
    fs::create_dir_all(&work).expect("mkdir work");
    // The test binary starts from its writable file: first the refusal, then what every
    // embedding program does first thing in main (re-executes this process from a
    // read-only copy; the pid, and so `work`, stay the same).
    const REFUSED_RAN: &str = "ONGI_API_UNPROTECTED_REFUSED";
    let mut passed = 0;
    if ongi::exe::protection().expect("exe protection").is_none() {
        unprotected_refused(&work);
        println!("test unprotected_refused ... ok");
        // Single-threaded (own main, no harness threads): nothing reads env concurrently.
        std::env::set_var(REFUSED_RAN, "1");
    }
    ongi::exe::protect().expect("protect the test binary");
    if std::env::var_os(REFUSED_RAN).is_some() {
        passed += 1;
    } else {
        println!("test unprotected_refused ... ignored, the binary started protected");
    }
    type Test = (&'static str, fn(&Path));
    let tests: [Test; 6] = [
        ("lifecycle", lifecycle),
        ("hook_warnings", hook_warnings),
        ("resources", resources),
        ("exec", exec),
        ("bad_bundle", bad_bundle),
        ("threads_refused", threads_refused),
    ];
    for (name, t) in tests {
        t(&work);
        println!("test {name} ... ok");
    }
    let _ = fs::remove_dir_all(&work);
    println!("test result: ok. {} passed", tests.len() + passed);
}
