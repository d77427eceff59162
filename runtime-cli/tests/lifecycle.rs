//! Container lifecycle: run, create, start, state, kill, delete, list.

mod common;

use common::*;
use serde_json::json;
use std::fs;
use std::time::{Duration, Instant};

/// A container that sleeps long enough to outlive any test.
fn sleeper() -> Spec {
    Spec::new().args(&["sleep", "100"])
}

#[test]
fn run_returns_container_exit_code() {
    let h = Harness::new("run_exit_code");
    let out = h.run(&Spec::new().sh("exit 3"));
    assert_eq!(out.code(), Some(3), "{out}");
    let out = h.run(&Spec::new().args(&["false"]));
    assert_eq!(out.code(), Some(1), "{out}");
}

#[test]
fn run_prints_container_output() {
    let h = Harness::new("run_output");
    let out = h
        .run(&Spec::new().sh("echo hello; echo oops >&2"))
        .expect_ok();
    assert_eq!(out.stdout, "hello\n", "{out}");
    assert!(out.stderr.contains("oops"), "{out}");
}

#[test]
fn run_passes_args_verbatim() {
    let h = Harness::new("run_args");
    let out = h.run_ok(&Spec::new().args(&["echo", "a  b", "", "c*"]));
    assert_eq!(out, "a  b  c*\n");
}

#[test]
fn run_exit_code_of_signalled_process_is_128_plus_signal() {
    // Without a PID namespace the shell is not an init process, so it can
    // SIGKILL itself.
    let h = Harness::new("run_signalled");
    let out = h.run(&Spec::new().without_namespace("pid").sh("kill -9 $$"));
    assert_eq!(out.code(), Some(128 + 9), "{out}");
}

#[test]
fn run_removes_container_when_it_exits() {
    let h = Harness::new("run_removes");
    let bundle = h.bundle(&Spec::new().args(&["true"]));
    let id = h.new_id();
    h.rt(&["run", "--bundle", path_str(&bundle), &id])
        .expect_ok();
    h.assert_no_trace(&id);
    h.rt(&["state", &id]).expect_fail();
}

#[test]
fn create_does_not_run_user_process_until_start() {
    let h = Harness::new("create_start");
    let host = h.dir("host");
    let spec = Spec::new()
        .bind(&host, "/host", &[])
        .sh("touch /host/ran; exec sleep 100");
    let ctr = h.create(&spec);

    let state = h.state(&ctr.id);
    assert_eq!(state["status"], "created", "{state}");
    let pid = state["pid"].as_i64().expect("pid") as i32;
    assert!(pid > 0, "{state}");
    assert!(
        pid_alive(pid),
        "init process {pid} of a created container is not alive"
    );
    // Give a wrongly started process a chance to show itself.
    std::thread::sleep(Duration::from_millis(200));
    assert!(!host.join("ran").exists(), "user process ran before start");

    h.rt(&["start", &ctr.id]).expect_ok();
    assert!(
        wait_until(STATE_TIMEOUT, || host.join("ran").exists()),
        "user process did not run after start"
    );
    let state = h.state(&ctr.id);
    assert_eq!(state["status"], "running", "{state}");
    assert_eq!(state["pid"], json!(pid), "pid changed across start");
}

#[test]
fn full_lifecycle_create_start_kill_delete() {
    let h = Harness::new("full_lifecycle");
    let ctr = h.create(&sleeper());
    assert_eq!(h.status(&ctr.id), "created");
    h.rt(&["start", &ctr.id]).expect_ok();
    assert_eq!(h.status(&ctr.id), "running");
    let pid = h.pid(&ctr.id);
    assert!(pid_alive(pid));

    h.rt(&["kill", &ctr.id, "KILL"]).expect_ok();
    h.wait_status(&ctr.id, "stopped");
    assert!(!pid_alive(pid), "process {pid} survived SIGKILL");

    h.rt(&["delete", &ctr.id]).expect_ok();
    h.rt(&["state", &ctr.id]).expect_fail();
    assert!(
        !h.root().join(&ctr.id).exists(),
        "state directory of {} left behind",
        ctr.id
    );
    assert!(h.list_json().is_empty());
}

#[test]
fn state_reports_runtime_spec_fields() {
    let h = Harness::new("state_fields");
    let spec = sleeper().set("/annotations", json!({ "org.ongi.test": "yes" }));
    let ctr = h.create(&spec);
    let state = h.state(&ctr.id);
    assert!(
        state["ociVersion"].as_str().is_some_and(|v| !v.is_empty()),
        "{state}"
    );
    assert_eq!(state["id"], json!(ctr.id), "{state}");
    assert_eq!(state["status"], "created", "{state}");
    assert!(state["pid"].as_i64().is_some_and(|p| p > 0), "{state}");
    assert_eq!(state["bundle"], json!(path_str(&ctr.bundle)), "{state}");
    assert_eq!(state["annotations"]["org.ongi.test"], "yes", "{state}");
}

#[test]
fn state_persists_across_invocations() {
    // Every runtime call is a separate process, so everything here must come
    // from the on-disk state under --root.
    let h = Harness::new("state_persists");
    let ctr = h.create(&sleeper());
    let first = h.state(&ctr.id);
    let second = h.state(&ctr.id);
    assert_eq!(first, second);
    h.rt(&["start", &ctr.id]).expect_ok();
    let third = h.state(&ctr.id);
    assert_eq!(third["pid"], first["pid"]);
    assert_eq!(third["bundle"], first["bundle"]);
    assert_eq!(third["status"], "running");
}

#[test]
fn pid_file_matches_state_pid() {
    let h = Harness::new("pid_file");
    let pid_file = h.work().join("ctr.pid");
    let ctr = h.create_with(&sleeper(), &["--pid-file", path_str(&pid_file)]);
    let contents = fs::read_to_string(&pid_file).expect("pid file written");
    let from_file: i32 = contents
        .trim()
        .parse()
        .unwrap_or_else(|_| panic!("pid file {contents:?}"));
    assert_eq!(from_file, h.pid(&ctr.id));
}

#[test]
fn run_detach_returns_while_container_runs() {
    let h = Harness::new("run_detach");
    let bundle = h.bundle(&sleeper());
    let id = h.new_id();
    let pid_file = h.work().join("run.pid");
    let started = Instant::now();
    h.rt(&[
        "run",
        "--bundle",
        path_str(&bundle),
        "-d",
        "--pid-file",
        path_str(&pid_file),
        &id,
    ])
    .expect_ok();
    assert!(
        started.elapsed() < Duration::from_secs(10),
        "run -d waited for the container"
    );
    assert_eq!(h.status(&id), "running");
    let pid = h.pid(&id);
    assert!(pid_alive(pid));
    let from_file = fs::read_to_string(&pid_file).expect("pid file written");
    assert_eq!(from_file.trim(), pid.to_string());
}

#[test]
fn kill_defaults_to_sigterm() {
    let h = Harness::new("kill_default");
    let host = h.dir("host");
    // PID 1 of a PID namespace ignores signals it has no handler for, so the
    // trap both makes SIGTERM effective and proves which signal arrived.
    let spec = Spec::new().bind(&host, "/host", &[]).sh(
        "trap 'echo TERM > /host/signal; exit 0' TERM; touch /host/ready; \
         while :; do sleep 0.05; done",
    );
    let ctr = h.start(&spec);
    assert!(
        wait_until(STATE_TIMEOUT, || host.join("ready").exists()),
        "container never became ready"
    );
    h.rt(&["kill", &ctr.id]).expect_ok();
    h.wait_status(&ctr.id, "stopped");
    assert_eq!(
        read_opt(&host.join("signal")).as_deref(),
        Some("TERM\n"),
        "SIGTERM handler did not run"
    );
}

#[test]
fn kill_accepts_signal_names_and_numbers() {
    let h = Harness::new("kill_forms");
    for signal in ["KILL", "SIGKILL", "9"] {
        let ctr = h.start(&sleeper());
        let pid = h.pid(&ctr.id);
        h.rt(&["kill", &ctr.id, signal]).expect_ok();
        h.wait_status(&ctr.id, "stopped");
        assert!(!pid_alive(pid), "kill {signal}: process survived");
    }
}

#[test]
fn kill_all_signals_every_process() {
    // Without a PID namespace, killing the init process leaves the
    // background sleep alive; only --all reaches it.
    let h = Harness::new("kill_all");
    let spec = Spec::new()
        .without_namespace("pid")
        .sh("sleep 100 & exec sleep 101");
    let ctr = h.start(&spec);
    assert!(
        wait_until(STATE_TIMEOUT, || h.marked_pids().len() >= 2),
        "expected two container processes, found {:?}",
        h.marked_pids()
    );
    h.rt(&["kill", "--all", &ctr.id, "KILL"]).expect_ok();
    h.wait_status(&ctr.id, "stopped");
    assert!(
        wait_until(STATE_TIMEOUT, || h.marked_pids().is_empty()),
        "processes survived kill --all: {:?}",
        h.marked_pids()
    );
}

#[test]
fn kill_on_stopped_container() {
    let h = Harness::new("kill_stopped");
    let ctr = h.start(&sleeper());
    h.rt(&["kill", &ctr.id, "KILL"]).expect_ok();
    h.wait_status(&ctr.id, "stopped");
    // runc: plain kill of a stopped container fails ("container not
    // running"), kill --all succeeds.
    h.rt(&["kill", &ctr.id, "KILL"]).expect_fail();
    h.rt(&["kill", "--all", &ctr.id, "9"]).expect_ok();
    assert_eq!(h.status(&ctr.id), "stopped");
    assert_eq!(h.pid(&ctr.id), 0, "a stopped container reports pid 0");
}

#[test]
fn start_fails_on_stopped_container() {
    let h = Harness::new("start_stopped");
    let ctr = h.start(&sleeper());
    h.rt(&["kill", &ctr.id, "KILL"]).expect_ok();
    h.wait_status(&ctr.id, "stopped");
    h.rt(&["start", &ctr.id]).expect_fail();
    assert_eq!(h.status(&ctr.id), "stopped");
}

#[test]
fn start_twice_fails() {
    let h = Harness::new("start_twice");
    let ctr = h.start(&sleeper());
    h.rt(&["start", &ctr.id]).expect_fail();
    assert_eq!(h.status(&ctr.id), "running");
}

#[test]
fn delete_running_requires_force() {
    let h = Harness::new("delete_force");
    let ctr = h.start(&sleeper());
    let pid = h.pid(&ctr.id);

    let out = h.rt(&["delete", &ctr.id]).expect_fail();
    assert!(out.stderr.contains("running"), "{out}");
    assert_eq!(h.status(&ctr.id), "running");
    assert!(pid_alive(pid), "failed delete killed the process");

    h.rt(&["delete", "--force", &ctr.id]).expect_ok();
    assert!(wait_pid_gone(pid), "delete --force left {pid} running");
    h.rt(&["state", &ctr.id]).expect_fail();
    assert!(!h.root().join(&ctr.id).exists());
}

#[test]
fn delete_created_container_without_force() {
    // runc deletes a container that was created but never started without
    // needing --force, killing its init process.
    let h = Harness::new("delete_created");
    let ctr = h.create(&sleeper());
    let pid = h.pid(&ctr.id);
    h.rt(&["delete", &ctr.id]).expect_ok();
    assert!(wait_pid_gone(pid), "init process {pid} survived delete");
    h.assert_no_trace(&ctr.id);
}

#[test]
fn delete_force_of_missing_container_succeeds() {
    let h = Harness::new("delete_missing");
    let ctr = h.start(&sleeper());
    h.rt(&["delete", "--force", &ctr.id]).expect_ok();
    h.rt(&["delete", "--force", &ctr.id]).expect_ok();
    h.rt(&["delete", "--force", "never-created"]).expect_ok();
    // Without --force a missing container is an error.
    let out = h.rt(&["delete", &ctr.id]).expect_fail();
    assert!(out.stderr.contains("does not exist"), "{out}");
}

#[test]
fn operations_on_unknown_id_fail() {
    let h = Harness::new("unknown_id");
    for args in [
        vec!["state", "nosuch"],
        vec!["start", "nosuch"],
        vec!["kill", "nosuch", "KILL"],
        vec!["delete", "nosuch"],
    ] {
        let out = h.rt(&args).expect_fail();
        assert!(out.stderr.contains("does not exist"), "{out}");
    }
}

#[test]
fn list_shows_containers() {
    let h = Harness::new("list");
    let created = h.create(&sleeper());
    let running = h.start(&sleeper());

    let table = h.rt(&["list"]).expect_ok();
    let lines = table.lines();
    let header: Vec<&str> = lines.first().expect("header").split_whitespace().collect();
    assert_eq!(header[..3], ["ID", "PID", "STATUS"], "{table}");
    for (ctr, status) in [(&created, "created"), (&running, "running")] {
        let row = lines
            .iter()
            .map(|l| l.split_whitespace().collect::<Vec<_>>())
            .find(|cols| cols.first() == Some(&ctr.id.as_str()))
            .unwrap_or_else(|| panic!("{} not listed:\n{table}", ctr.id));
        assert_eq!(row[1], h.pid(&ctr.id).to_string(), "{table}");
        assert_eq!(row[2], status, "{table}");
        assert_eq!(row[3], path_str(&ctr.bundle), "{table}");
    }

    let items = h.list_json();
    assert_eq!(items.len(), 2, "{items:?}");
    for (ctr, status) in [(&created, "created"), (&running, "running")] {
        let item = items
            .iter()
            .find(|i| i["id"] == json!(ctr.id))
            .unwrap_or_else(|| panic!("{} missing from {items:?}", ctr.id));
        assert_eq!(item["status"], status, "{item}");
        assert_eq!(item["pid"], json!(h.pid(&ctr.id)), "{item}");
        assert_eq!(item["bundle"], json!(path_str(&ctr.bundle)), "{item}");
    }
}

#[test]
fn list_of_empty_root_succeeds() {
    let h = Harness::new("list_empty");
    let table = h.rt(&["list"]).expect_ok();
    assert_eq!(table.lines().len(), 1, "only the header expected:\n{table}");
    assert!(h.list_json().is_empty());
}
