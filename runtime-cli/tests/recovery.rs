//! Robustness: a runtime killed mid-create, concurrent commands on one id, cgroup cleanup.

mod common;

use common::*;
use serde_json::json;
use std::process::{Command, Stdio};
use std::time::Duration;

#[test]
fn delete_removes_the_cgroup() {
    let h = Harness::new("delete_cgroup");
    let ctr = h.start(&Spec::new().args(&["sleep", "100"]));
    let pid = h.pid(&ctr.id);
    let dirs = cgroup_dirs_named(&ctr.id);
    assert!(
        !dirs.is_empty(),
        "no cgroup directory named {} while running",
        ctr.id
    );
    for d in &dirs {
        let procs = read_opt(&d.join("cgroup.procs")).unwrap_or_default();
        assert!(
            procs.lines().any(|l| l.trim() == pid.to_string()),
            "init {pid} not in {}: {procs:?}",
            d.display()
        );
    }
    h.rt(&["delete", "--force", &ctr.id]).expect_ok();
    let left = cgroup_dirs_named(&ctr.id);
    assert!(left.is_empty(), "cgroup left behind: {left:?}");
    h.assert_no_trace(&ctr.id);
}

#[test]
#[cfg_attr(
    ongi_test_runc,
    ignore = "runc 1.1.5 leaves the cgroup of a create killed in a hook behind"
)]
fn runtime_killed_mid_create_is_recovered_by_delete_force() {
    let h = Harness::new("killed_create");
    let flag = h.work().join("in-hook");
    let hook_pid = h.work().join("hook.pid");
    // A createRuntime hook that blocks keeps the runtime inside create: namespaces, init and
    // cgroup exist, the state is not final.
    let script = format!(
        "echo $$ > {}; touch {}; exec sleep 60",
        path_str(&hook_pid),
        path_str(&flag)
    );
    let spec = Spec::new().args(&["sleep", "100"]).set(
        "/hooks",
        json!({ "createRuntime": [ { "path": "/bin/sh", "args": ["sh", "-c", script] } ] }),
    );
    let bundle = h.bundle(&spec);
    let id = h.new_id();
    let mut child = Command::new(runtime())
        .args([
            "--root",
            path_str(h.root()),
            "create",
            "--bundle",
            path_str(&bundle),
            &id,
        ])
        .env(MARKER_VAR, h.marker())
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("spawn runtime");
    let reached = wait_until(Duration::from_secs(10), || flag.exists());
    let _ = child.kill();
    let _ = child.wait();
    assert!(reached, "the createRuntime hook never ran");
    if let Some(p) = read_opt(&hook_pid).and_then(|s| s.trim().parse::<i32>().ok()) {
        // SAFETY: kill(2) of the hook's sleep, a process this test started.
        unsafe { libc::kill(p, libc::SIGKILL) };
        wait_pid_gone(p);
    }

    let out = h.rt(&["delete", "--force", &id]);
    assert!(out.ok(), "delete --force after a killed create:\n{out}");
    h.assert_no_trace(&id);
    let left = cgroup_dirs_named(&id);
    assert!(left.is_empty(), "cgroup left behind: {left:?}");
    // The id is free again.
    let again = h.rt(&[
        "create",
        "--bundle",
        path_str(&h.bundle(&Spec::new().args(&["true"]))),
        &id,
    ]);
    assert!(again.ok(), "re-create with the same id:\n{again}");
}

#[test]
#[cfg_attr(
    ongi_test_runc,
    ignore = "runc 1.1.5 races here: a losing create removes the winner's cgroup and state"
)]
fn concurrent_creates_of_one_id_admit_exactly_one() {
    let h = Harness::new("concurrent_id");
    let bundle = h.bundle(&Spec::new().args(&["sleep", "100"]));
    let id = h.new_id();
    let children: Vec<_> = (0..6)
        .map(|_| {
            Command::new(runtime())
                .args([
                    "--root",
                    path_str(h.root()),
                    "create",
                    "--bundle",
                    path_str(&bundle),
                    &id,
                ])
                .env(MARKER_VAR, h.marker())
                .stdin(Stdio::null())
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .spawn()
                .expect("spawn runtime")
        })
        .collect();
    let ok = children
        .into_iter()
        .map(|mut c| c.wait().expect("wait runtime").success())
        .filter(|&s| s)
        .count();
    assert_eq!(ok, 1, "exactly one create of {id} may succeed");
    assert_eq!(h.status(&id), "created");
    let procs = h.marked_pids();
    // One init (the waiting container process); every loser cleaned up after itself.
    assert_eq!(procs.len(), 1, "processes: {procs:?}");
}
