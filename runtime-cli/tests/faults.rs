//! Faults: a command SIGKILLed at any step, and commands racing on one id, must leave every
//! id usable: `delete --force` and `list` complete within a time limit and leave no process,
//! cgroup, mount or state behind.
//!
//! The named steps are ongi's test hook `ONGI_TEST_PAUSE_AT=<step>`: the command stops
//! itself (SIGSTOP) there, and the test SIGKILLs it.

mod common;

use common::*;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// How long a command after a fault may take before it counts as wedged.
const LIMIT: Duration = Duration::from_secs(8);

fn spawn_rt(h: &Harness, args: &[&str], pause_at: Option<&str>) -> Child {
    let mut cmd = Command::new(runtime());
    cmd.arg("--root")
        .arg(h.root())
        .args(args)
        .env(MARKER_VAR, h.marker())
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null());
    if let Some(step) = pause_at {
        cmd.env("ONGI_TEST_PAUSE_AT", step);
        // A process group of its own: when a stopped runtime is killed, the kernel sends
        // SIGHUP to a process group left orphaned with stopped members. Where the test
        // binary's own group is orphaned (the cgroup v2 VM runs it under its init script),
        // that SIGHUP would kill the test binary itself.
        std::os::unix::process::CommandExt::process_group(&mut cmd, 0);
    }
    cmd.spawn().expect("spawn runtime")
}

/// State letter of /proc/<pid>/stat ('T' when stopped).
fn proc_state(pid: u32) -> Option<char> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    stat.rsplit_once(')')?.1.trim_start().chars().next()
}

/// Runs `args` until it stops itself at `step`, then SIGKILLs and reaps it. Err if it
/// finished (or hung) without reaching the step.
fn kill_at(h: &Harness, args: &[&str], step: &str) -> Result<(), String> {
    let mut child = spawn_rt(h, args, Some(step));
    let pid = child.id();
    let deadline = Instant::now() + RUNTIME_TIMEOUT;
    let reached = loop {
        if proc_state(pid) == Some('T') {
            break true;
        }
        if matches!(child.try_wait(), Ok(Some(_))) || Instant::now() > deadline {
            break false;
        }
        std::thread::sleep(Duration::from_millis(2));
    };
    let _ = child.kill();
    let _ = child.wait();
    if reached {
        Ok(())
    } else {
        Err(format!(
            "{step}: `{}` never reached the step",
            args.join(" ")
        ))
    }
}

/// One runtime command with a time limit; Err (with the output) if it hangs or fails.
fn timed(h: &Harness, args: &[&str]) -> Result<Output, String> {
    let mut full = vec!["--root", path_str(h.root())];
    full.extend_from_slice(args);
    let out = h.try_rt(None, &full, LIMIT)?;
    if out.ok() {
        Ok(out)
    } else {
        Err(format!("failed:\n{out}"))
    }
}

/// Everything a container may leave behind, as one message per leftover.
fn leftovers(h: &Harness, id: &str, bundle: &Path) -> Vec<String> {
    let mut left = Vec::new();
    if h.root().join(id).exists() {
        left.push(format!("state dir {}", h.root().join(id).display()));
    }
    // Nothing else of ours may stay in the root either (half-made or half-removed dirs).
    if let Ok(rd) = std::fs::read_dir(h.root()) {
        for e in rd.flatten() {
            let name = e.file_name().to_string_lossy().into_owned();
            if name != "@seccomp-cache" {
                left.push(format!("root entry {name}"));
            }
        }
    }
    let cg = cgroup_dirs_named(id);
    if !cg.is_empty() {
        left.push(format!("cgroups {cg:?}"));
    }
    let mut procs = Vec::new();
    if !wait_until(Duration::from_secs(3), || {
        procs = h.marked_pids();
        procs.is_empty()
    }) {
        left.push(format!("processes {procs:?}"));
    }
    let mounts = std::fs::read_to_string("/proc/self/mountinfo").unwrap_or_default();
    for m in parse_mountinfo(&mounts) {
        if m.mount_point.starts_with(path_str(bundle))
            || m.mount_point.starts_with(path_str(h.root()))
        {
            left.push(format!("mount {}", m.mount_point));
        }
    }
    left
}

/// After a fault: `delete --force` and `list` complete in time, and nothing is left.
fn recover(h: &Harness, id: &str, bundle: &Path) -> Result<(), String> {
    timed(h, &["delete", "--force", id])?;
    let listed = timed(h, &["list", "--format", "json"])?;
    if listed.stdout.contains(&format!("\"{id}\"")) {
        return Err(format!("{id} still listed after delete --force:\n{listed}"));
    }
    let left = leftovers(h, id, bundle);
    if left.is_empty() {
        Ok(())
    } else {
        Err(format!("left behind: {}", left.join("; ")))
    }
}

/// After a failure: kills what is left (a leftover init may hold a lock) and clears the
/// root and the test's cgroups, so the next case is judged on its own.
fn unwedge(h: &Harness) {
    for p in h.marked_pids() {
        // SAFETY: kill(2) of a leftover process of this test.
        unsafe { libc::kill(p, libc::SIGKILL) };
    }
    wait_until(Duration::from_secs(3), || h.marked_pids().is_empty());
    if let Ok(rd) = std::fs::read_dir(h.root()) {
        for e in rd.flatten() {
            let id = e.file_name().to_string_lossy().into_owned();
            for d in cgroup_dirs_named(&id) {
                let _ = std::fs::remove_dir(d);
            }
            let _ = std::fs::remove_dir_all(e.path());
        }
    }
}

/// Starts every command at once: each child, between fork and exec, reports that it is
/// forked and waits for a gate pipe to reach EOF, which the parent causes once all are.
fn start_together(h: &Harness, cmds: &[Vec<String>], stderr: &[PathBuf]) -> Vec<Child> {
    use nix::fcntl::OFlag;
    use std::os::fd::AsRawFd;
    use std::os::unix::process::CommandExt;
    let (gate_r, gate_w) = nix::unistd::pipe2(OFlag::O_CLOEXEC).expect("pipe");
    let (ready_r, ready_w) = nix::unistd::pipe2(OFlag::O_CLOEXEC).expect("pipe");
    let (r, w, rw) = (gate_r.as_raw_fd(), gate_w.as_raw_fd(), ready_w.as_raw_fd());
    // spawn() returns only once the child has exec'd, so each is spawned from its own thread.
    let handles: Vec<_> = cmds
        .iter()
        .zip(stderr)
        .map(|(args, err)| {
            let err = std::fs::File::create(err).expect("stderr file");
            let mut cmd = Command::new(runtime());
            cmd.arg("--root")
                .arg(h.root())
                .args(args)
                .env(MARKER_VAR, h.marker())
                .stdin(Stdio::null())
                .stdout(Stdio::null())
                .stderr(err);
            // SAFETY: only close(2) and read(2) between fork and exec, both async-signal-safe.
            unsafe {
                cmd.pre_exec(move || {
                    libc::close(w);
                    libc::write(rw, b"r".as_ptr().cast(), 1);
                    let mut b = [0u8; 1];
                    libc::read(r, b.as_mut_ptr().cast(), 1);
                    Ok(())
                });
            }
            std::thread::spawn(move || cmd.spawn().expect("spawn runtime"))
        })
        .collect();
    let mut forked = 0;
    while forked < cmds.len() {
        let mut b = [0u8; 16];
        match nix::unistd::read(&ready_r, &mut b) {
            Ok(n) if n > 0 => forked += n,
            Err(nix::errno::Errno::EINTR) => {}
            other => panic!("gate: {other:?}"),
        }
    }
    drop(gate_w);
    let children = handles
        .into_iter()
        .map(|t| t.join().expect("spawn thread"))
        .collect();
    drop(gate_r);
    children
}

fn sleeper() -> Spec {
    Spec::new().args(&["sleep", "100"])
}

#[test]
#[cfg_attr(
    ongi_test_runc,
    ignore = "the named pause points (ONGI_TEST_PAUSE_AT) are ongi's test hook"
)]
fn sigkill_at_each_step_then_delete_and_list_complete() {
    let h = Harness::new("kill_each_step");
    // One clone, and the intermediate path (a new time namespace needs one).
    let specs = [
        ("clone", sleeper()),
        ("intermediate", sleeper().namespace("time", None)),
    ];
    let mut failures = Vec::new();
    let mut runs = 0;
    for (kind, spec) in &specs {
        let bundle = h.bundle(spec);
        let b = path_str(&bundle);
        let create_steps = [
            "create:dir",
            "create:state",
            "create:spawned",
            "create:ready",
        ];
        for step in create_steps {
            let id = h.new_id();
            runs += 1;
            let r = kill_at(&h, &["create", "--bundle", b, &id], step)
                .and_then(|()| recover(&h, &id, &bundle));
            if let Err(e) = r {
                failures.push(format!("[{kind}] {step}: {e}"));
                unwedge(&h);
            }
        }
        let later: [(&str, &[&str], bool); 7] = [
            ("start:locked", &["start"], false),
            ("start:released", &["start"], false),
            ("exec:locked", &["exec"], true),
            ("exec:spawned", &["exec"], true),
            ("delete:locked", &["delete", "--force"], true),
            ("delete:killed", &["delete", "--force"], true),
            ("delete:removing", &["delete", "--force"], true),
        ];
        for (step, cmd, started) in later {
            let id = h.new_id();
            runs += 1;
            let r = timed(&h, &["create", "--bundle", b, &id])
                .and_then(|_| match started {
                    true => timed(&h, &["start", &id]).map(|_| ()),
                    false => Ok(()),
                })
                .and_then(|()| {
                    let mut args: Vec<&str> = cmd.to_vec();
                    args.push(&id);
                    if cmd == ["exec"] {
                        args.push("true");
                    }
                    kill_at(&h, &args, step)
                })
                .and_then(|()| recover(&h, &id, &bundle));
            if let Err(e) = r {
                failures.push(format!("[{kind}] {step}: {e}"));
                unwedge(&h);
            }
        }
    }
    assert!(
        failures.is_empty(),
        "{} of {runs} killed commands left a wedged or dirty id:\n{}",
        failures.len(),
        failures.join("\n\n")
    );
}

#[test]
#[cfg_attr(
    ongi_test_runc,
    ignore = "the named pause points (ONGI_TEST_PAUSE_AT) are ongi's test hook"
)]
fn create_killed_after_ready_does_not_wedge_the_id() {
    let h = Harness::new("wedge");
    let bundle = h.bundle(&sleeper());
    let id = h.new_id();
    kill_at(
        &h,
        &["create", "--bundle", path_str(&bundle), &id],
        "create:ready",
    )
    .unwrap_or_else(|e| panic!("{e}"));
    // Init is alive and waits for start; the command that took the lock is gone.
    let must = |args: &[&str]| timed(&h, args).unwrap_or_else(|e| panic!("{e}"));
    let st = must(&["state", &id]);
    assert!(st.stdout.contains("\"created\""), "state:\n{st}");
    must(&["list"]);
    must(&["kill", &id, "KILL"]);
    must(&["delete", "--force", &id]);
    must(&["list"]);
    let left = leftovers(&h, &id, &bundle);
    assert!(left.is_empty(), "left behind: {}", left.join("; "));
}

#[test]
#[cfg_attr(
    ongi_test_runc,
    ignore = "runc 1.1.5 races here: two creates of one id succeed in one wave, and inits of losing creates pile up in the container's cgroup"
)]
fn create_racing_delete_force_keeps_one_container_per_id() {
    let h = Harness::new("create_vs_delete");
    let bundle = h.bundle(&sleeper());
    let b = path_str(&bundle);
    let id = h.new_id();
    let mut failures = Vec::new();
    const WAVES: usize = 150;
    const CREATES: usize = 4;
    const DELETES: usize = 2;
    for wave in 0..WAVES {
        let pid_files: Vec<_> = (0..CREATES)
            .map(|k| h.work().join(format!("w{wave}-{k}.pid")))
            .collect();
        let mut cmds: Vec<Vec<String>> = pid_files
            .iter()
            .map(|pf| {
                let args = ["create", "--bundle", b, "--pid-file", path_str(pf), &id];
                args.map(String::from).to_vec()
            })
            .collect();
        for _ in 0..DELETES {
            cmds.push(["delete", "--force", &id].map(String::from).to_vec());
        }
        let errs: Vec<PathBuf> = (0..cmds.len())
            .map(|k| h.work().join(format!("w{wave}-{k}.stderr")))
            .collect();
        let mut children = start_together(&h, &cmds, &errs);
        let deletes = children.split_off(CREATES);
        let mut creates = children;
        let mut deletes = deletes;
        let finish = |c: &mut Child| -> Option<bool> {
            let deadline = Instant::now() + RUNTIME_TIMEOUT;
            loop {
                match c.try_wait() {
                    Ok(Some(s)) => return Some(s.success()),
                    Ok(None) if Instant::now() < deadline => {
                        std::thread::sleep(Duration::from_millis(5))
                    }
                    _ => {
                        let _ = c.kill();
                        let _ = c.wait();
                        return None;
                    }
                }
            }
        };
        let created: Vec<Option<bool>> = creates.iter_mut().map(finish).collect();
        let deleted: Vec<Option<bool>> = deletes.iter_mut().map(finish).collect();
        let mut problems = Vec::new();
        // A losing create may only be told that the id is taken.
        for (ok, err) in created.iter().zip(&errs) {
            let text = read_opt(err).unwrap_or_default();
            if *ok == Some(false) && !text.contains("container with id exists") {
                problems.push(format!(
                    "a create failed for another reason: {}",
                    text.trim()
                ));
            }
        }
        if created.iter().chain(&deleted).any(Option::is_none) {
            problems.push(format!(
                "a command hung: creates {created:?}, delete {deleted:?}"
            ));
        }
        if deleted.contains(&Some(false)) {
            problems.push("delete --force failed".to_string());
        }
        // Winners' inits: a create that succeeded left one waiting for start, unless the
        // wave's delete killed it afterwards (only one delete, so only one such).
        let winners: Vec<i32> = created
            .iter()
            .zip(&pid_files)
            .filter(|(ok, _)| **ok == Some(true))
            .filter_map(|(_, pf)| read_opt(pf).and_then(|s| s.trim().parse().ok()))
            .collect();
        let alive: Vec<i32> = winners.iter().copied().filter(|&p| pid_alive(p)).collect();
        if alive.len() > 1 || winners.len() - alive.len() > deletes.len() {
            problems.push(format!(
                "{} creates succeeded, inits alive: {alive:?} (all: {winners:?})",
                winners.len()
            ));
        }
        // Every live process of the test is the one container's init.
        let mut strays = Vec::new();
        wait_until(Duration::from_secs(2), || {
            strays = h.marked_pids();
            strays.retain(|p| !alive.contains(p));
            strays.is_empty()
        });
        if !strays.is_empty() {
            problems.push(format!("orphaned processes: {strays:?}"));
        }
        match timed(&h, &["state", &id]) {
            Ok(out) if alive.len() == 1 => {
                if !out.stdout.contains(&format!("\"pid\": {}", alive[0]))
                    && !out.stdout.contains(&format!("\"pid\":{}", alive[0]))
                {
                    problems.push(format!("state is not the live winner {alive:?}:\n{out}"));
                }
            }
            Ok(out) => problems.push(format!("state of a container no create owns:\n{out}")),
            Err(_) if alive.is_empty() => {}
            Err(e) => problems.push(format!("state of the live winner: {e}")),
        }
        if let Err(e) = recover(&h, &id, &bundle) {
            problems.push(e);
        }
        if !problems.is_empty() {
            failures.push(format!("wave {wave}: {}", problems.join("; ")));
            unwedge(&h);
        }
    }
    assert!(
        failures.is_empty(),
        "{} of {WAVES} waves broke the one-command-per-id rule:\n{}",
        failures.len(),
        failures.join("\n")
    );
}
