//! Bad input: every failure must exit non-zero with a useful message and
//! leave no container, state directory or process behind.

mod common;

use common::*;
use serde_json::json;
use std::path::Path;

/// `create` of `bundle` under a fresh id must fail without leaving a trace;
/// returns the failed invocation.
#[track_caller]
fn create_fails(h: &Harness, bundle: &Path) -> Output {
    let id = h.new_id();
    let out = h
        .rt(&["create", "--bundle", path_str(bundle), &id])
        .expect_fail();
    h.assert_no_trace(&id);
    out
}

#[test]
fn missing_config_json() {
    let h = Harness::new("missing_config");
    let out = create_fails(&h, &h.bare_bundle());
    assert!(out.stderr.contains("config.json"), "{out}");
}

#[test]
fn invalid_json_config() {
    let h = Harness::new("invalid_json");
    let bundle = h.bare_bundle();
    write_file(&bundle.join("config.json"), "{bad");
    create_fails(&h, &bundle);
}

#[test]
fn config_of_wrong_shape() {
    // Valid JSON, but `process.args` must be an array of strings.
    let h = Harness::new("wrong_shape");
    let bundle = h.bundle(&Spec::new().set("/process/args", json!("sh")));
    create_fails(&h, &bundle);
}

#[test]
fn unknown_namespace_type() {
    let h = Harness::new("unknown_ns");
    let bundle = h.bundle(&Spec::new().namespace("bogus", None));
    let out = create_fails(&h, &bundle);
    assert!(out.stderr.contains("bogus"), "{out}");
}

#[test]
fn missing_rootfs() {
    let h = Harness::new("missing_rootfs");
    let bundle = h.dir("bundle");
    h.write_config(&bundle, &Spec::new());
    let out = create_fails(&h, &bundle);
    let rootfs = bundle.join("rootfs");
    assert!(out.stderr.contains(path_str(&rootfs)), "{out}");
}

#[test]
fn missing_bundle_directory() {
    let h = Harness::new("missing_bundle");
    let out = create_fails(&h, &h.work().join("no-such-bundle"));
    assert!(out.stderr.contains("no-such-bundle"), "{out}");
}

#[test]
fn missing_bind_mount_source() {
    // Fails late, after namespaces and the init process exist: the runtime
    // has to clean all of that up.
    let h = Harness::new("missing_bind_src");
    let source = h.work().join("no-such-source");
    let bundle = h.bundle(&Spec::new().bind(&source, "/mnt", &[]).args(&["true"]));
    let out = create_fails(&h, &bundle);
    assert!(out.stderr.contains(path_str(&source)), "{out}");
}

#[test]
fn nonexistent_executable_fails_at_create() {
    let h = Harness::new("no_executable");
    let bundle = h.bundle(&Spec::new().args(&["/nonexistent"]));
    let out = create_fails(&h, &bundle);
    assert!(out.stderr.contains("/nonexistent"), "{out}");
    // runc's (Go's) lowercase wording: Docker turns a create error naming the command and
    // saying "no such file or directory" into exit 127 (it reported 125 with Rust's
    // "No such file or directory (os error 2)").
    assert!(out.stderr.contains("no such file or directory"), "{out}");
}

#[test]
fn non_executable_file_fails_at_create_with_permission_denied() {
    // Docker maps "permission denied" in the create error to exit 126.
    let h = Harness::new("not_executable");
    let bundle = h.bundle(&Spec::new().args(&["/etc/passwd"]));
    let out = create_fails(&h, &bundle);
    assert!(out.stderr.contains("/etc/passwd"), "{out}");
    assert!(out.stderr.contains("permission denied"), "{out}");
}

#[test]
fn nonexistent_executable_fails_run() {
    let h = Harness::new("no_executable_run");
    let bundle = h.bundle(&Spec::new().args(&["nonexistent-cmd"]));
    let id = h.new_id();
    let out = h
        .rt(&["run", "--bundle", path_str(&bundle), &id])
        .expect_fail();
    assert!(out.stderr.contains("nonexistent-cmd"), "{out}");
    assert!(out.stderr.contains("executable file not found"), "{out}");
    h.assert_no_trace(&id);
}

#[test]
fn duplicate_id_is_rejected() {
    let h = Harness::new("duplicate_id");
    let first = h.create(&Spec::new().args(&["sleep", "100"]));
    let pid = h.pid(&first.id);
    let other = h.bundle(&Spec::new().args(&["sleep", "100"]));
    let out = h
        .rt(&["create", "--bundle", path_str(&other), &first.id])
        .expect_fail();
    assert!(
        out.stderr.to_lowercase().contains("exist"),
        "expected an 'already exists' error:\n{out}"
    );
    // The original container is untouched.
    let state = h.state(&first.id);
    assert_eq!(state["status"], "created");
    assert_eq!(state["pid"], json!(pid));
    assert_eq!(state["bundle"], json!(path_str(&first.bundle)));
    assert!(pid_alive(pid));
}

#[test]
fn invalid_container_id_is_rejected() {
    let h = Harness::new("invalid_id");
    let bundle = h.bundle(&Spec::new().args(&["sleep", "100"]));
    let escape = h.work().join("escaped");
    let outside = format!("../../../..{}", path_str(&escape));
    for id in ["../escape", outside.as_str(), "a/b", ""] {
        h.rt(&["create", "--bundle", path_str(&bundle), id])
            .expect_fail();
    }
    assert!(!escape.exists(), "state written outside --root");
    assert!(h.list_json().is_empty());
    assert!(h.marked_pids().is_empty());
}

#[test]
fn create_without_id_is_a_usage_error() {
    let h = Harness::new("no_id");
    let bundle = h.bundle(&Spec::new());
    h.rt(&["create", "--bundle", path_str(&bundle)])
        .expect_fail();
    assert!(h.list_json().is_empty());
}

#[test]
fn unknown_signal_is_rejected() {
    let h = Harness::new("unknown_signal");
    let ctr = h.start(&Spec::new().args(&["sleep", "100"]));
    for signal in ["BOGUS", "SIGBOGUS"] {
        let out = h.rt(&["kill", &ctr.id, signal]).expect_fail();
        assert!(out.stderr.contains(signal), "{out}");
    }
    assert_eq!(h.status(&ctr.id), "running");
    assert!(pid_alive(h.pid(&ctr.id)));
}

#[test]
fn unknown_subcommand_fails() {
    let h = Harness::new("unknown_subcommand");
    h.rt(&["no-such-command"]).expect_fail();
}
