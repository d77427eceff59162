//! OCI hooks (runtime-spec config.md "POSIX-platform Hooks", runtime.md "Lifecycle"):
//! order, the state each one sees on stdin, the namespace it runs in, args, env, timeout
//! and what a failing hook does to the container.

mod common;

use common::*;
use serde_json::{json, Value};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

/// Where hooks log, on the host and (bind-mounted) in the container.
struct Log {
    host_dir: PathBuf,
    script: PathBuf,
}

const IN_CONTAINER_DIR: &str = "/hooklog";

/// Appends `NAME STATUS PID HOOK_VAR` (PID "none" when the state has no pid) plus the namespace links and hostname it sees.
const LOGGER: &str = r#"name=$1
state=$(cat)
status=$(echo "$state" | sed -n 's/.*"status": *"\([a-z]*\)".*/\1/p')
pid=$(echo "$state" | sed -n 's/.*"pid": *\([0-9]*\).*/\1/p')
echo "$name $status ${pid:-none} ${HOOK_VAR:-unset} $(readlink /proc/self/ns/mnt) $(readlink /proc/self/ns/uts) $(hostname)" >> "$LOGDIR/log"
"#;

impl Log {
    fn new(h: &Harness) -> Log {
        let host_dir = h.dir("hooklog");
        let script = host_dir.join("hook.sh");
        write_file(&script, &format!("#!/bin/sh\n{LOGGER}"));
        set_mode(&script, 0o755);
        Log { host_dir, script }
    }

    /// A hook on the host (runtime namespace) logging as `name`.
    fn host_hook(&self, name: &str) -> Value {
        json!({
            "path": self.script,
            "args": ["hook.sh", name],
            "env": [
                "PATH=/usr/sbin:/usr/bin:/sbin:/bin",
                "HOOK_VAR=passed",
                format!("LOGDIR={}", self.host_dir.display()),
            ],
        })
    }

    /// A hook whose path resolves in the container (startContainer): the container's sh
    /// runs the same logger, writing to the bind mount.
    fn container_hook(&self, name: &str) -> Value {
        json!({
            "path": "/bin/sh",
            "args": ["sh", "-c", LOGGER, "hook.sh", name],
            "env": [
                "PATH=/bin",
                "HOOK_VAR=passed",
                format!("LOGDIR={IN_CONTAINER_DIR}"),
            ],
        })
    }

    fn lines(&self) -> Vec<Vec<String>> {
        read_opt(&self.host_dir.join("log"))
            .unwrap_or_default()
            .lines()
            .map(|l| l.split_whitespace().map(String::from).collect())
            .collect()
    }

    fn names(&self) -> Vec<String> {
        self.lines().into_iter().map(|l| l[0].clone()).collect()
    }

    fn spec(&self, base: Spec) -> Spec {
        base.bind(&self.host_dir, IN_CONTAINER_DIR, &[])
    }
}

fn set_mode(path: &Path, mode: u32) {
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode))
        .unwrap_or_else(|e| panic!("chmod {}: {e}", path.display()));
}

fn all_hooks(log: &Log) -> Value {
    json!({
        "prestart": [log.host_hook("prestart")],
        "createRuntime": [log.host_hook("createRuntime")],
        "createContainer": [log.host_hook("createContainer")],
        "startContainer": [log.container_hook("startContainer")],
        "poststart": [log.host_hook("poststart")],
        "poststop": [log.host_hook("poststop")],
    })
}

fn host_hostname() -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .expect("host hostname")
        .trim()
        .to_string()
}

#[test]
#[cfg_attr(
    ongi_test_runc,
    ignore = "runc 1.1.5 runs poststart hooks during create (fixed in runc 1.2)"
)]
fn order_status_args_and_env() {
    let h = Harness::new("hooks_order");
    let log = Log::new(&h);
    let spec = log
        .spec(Spec::new().sh("echo user-process >> /hooklog/log; sleep 1"))
        .set("/hooks", all_hooks(&log));
    let c = h.create(&spec);
    let pid = h.pid(&c.id).to_string();
    assert_eq!(
        log.names(),
        ["prestart", "createRuntime", "createContainer"],
        "after create"
    );
    h.rt(&["start", &c.id]).expect_ok();
    h.wait_status(&c.id, "stopped");
    h.rt(&["delete", &c.id]).expect_ok();

    let lines = log.lines();
    let names: Vec<&str> = lines.iter().map(|l| l[0].as_str()).collect();
    // The user process races with poststart (which runs once it was started); it comes
    // after startContainer in any case.
    let hooks_only: Vec<&str> = names
        .iter()
        .copied()
        .filter(|n| *n != "user-process")
        .collect();
    assert_eq!(
        hooks_only,
        [
            "prestart",
            "createRuntime",
            "createContainer",
            "startContainer",
            "poststart",
            "poststop"
        ],
        "{lines:?}"
    );
    let pos = |n: &str| names.iter().position(|x| *x == n);
    assert!(
        pos("user-process") > pos("startContainer"),
        "user process did not run after startContainer: {lines:?}"
    );
    let hook_lines: Vec<&Vec<String>> = lines.iter().filter(|l| l.len() > 1).collect();
    let want_status = [
        ("prestart", "creating"),
        ("createRuntime", "creating"),
        ("createContainer", "creating"),
        ("startContainer", "created"),
        ("poststart", "running"),
        ("poststop", "stopped"),
    ];
    for (name, status) in want_status {
        let l = hook_lines
            .iter()
            .find(|l| l[0] == name)
            .unwrap_or_else(|| panic!("{name} did not run: {lines:?}"));
        assert_eq!(l[1], status, "{name} saw status {} : {l:?}", l[1]);
        assert_eq!(l[3], "passed", "{name}: env not passed: {l:?}");
        let runtime_side = !matches!(name, "createContainer" | "startContainer");
        // The spec requires the pid only while created or running.
        if name != "poststop" && (runtime_side || !is_runc()) {
            // runc 1.1.5 gives in-container hooks the pid as seen inside (1).
            assert_eq!(l[2], pid, "{name} saw pid {}: {l:?}", l[2]);
        }
    }
}

#[test]
fn namespaces_of_runtime_and_container_hooks() {
    let h = Harness::new("hooks_ns");
    let log = Log::new(&h);
    let spec = log
        .spec(Spec::new().args(&["sleep", "100"]))
        .set("/hostname", json!("hooked"))
        .set(
            "/hooks",
            json!({
                "prestart": [log.host_hook("prestart")],
                "createRuntime": [log.host_hook("createRuntime")],
                "createContainer": [log.host_hook("createContainer")],
                "startContainer": [log.container_hook("startContainer")],
                "poststart": [log.host_hook("poststart")],
            }),
        );
    let c = h.start(&spec);
    let init = h.pid(&c.id).to_string();
    let (host_mnt, host_uts) = (ns_link("self", "mnt"), ns_link("self", "uts"));
    let (ctr_mnt, ctr_uts) = (ns_link(&init, "mnt"), ns_link(&init, "uts"));
    assert_ne!(host_mnt, ctr_mnt);
    let lines = log.lines();
    let line = |name: &str| {
        lines
            .iter()
            .find(|l| l[0] == name)
            .unwrap_or_else(|| panic!("{name} did not run: {lines:?}"))
            .clone()
    };
    for name in ["prestart", "createRuntime", "poststart"] {
        let l = line(name);
        assert_eq!(
            (&l[4], &l[5], &l[6]),
            (&host_mnt, &host_uts, &host_hostname()),
            "{name} must run in the runtime namespace: {l:?}"
        );
    }
    for name in ["createContainer", "startContainer"] {
        let l = line(name);
        assert_eq!(
            (&l[4], &l[5]),
            (&ctr_mnt, &ctr_uts),
            "{name} must run in the container namespace: {l:?}"
        );
    }
    // startContainer runs after pivot_root: its path resolved inside the rootfs.
    assert_eq!(line("startContainer")[6], "hooked");
    if !is_runc() {
        // runc 1.1.5 sets the hostname after createContainer; ongi before, so the hook
        // sees the container's UTS namespace fully set up.
        assert_eq!(line("createContainer")[6], "hooked");
    }
}

/// A hook running `sh -c SCRIPT` on the host.
fn sh_hook(script: &str) -> Value {
    json!({ "path": "/bin/sh", "args": ["sh", "-c", script] })
}

#[test]
fn timeout_fails_create_and_leaves_no_trace() {
    let h = Harness::new("hooks_timeout");
    let log = Log::new(&h);
    let mut slow = sh_hook("exec sleep 30");
    slow["timeout"] = json!(1);
    let spec = Spec::new().set(
        "/hooks",
        json!({ "createRuntime": [slow], "poststop": [log.host_hook("poststop")] }),
    );
    let bundle = h.bundle(&spec);
    let id = h.new_id();
    let t = Instant::now();
    let out = h
        .rt(&["create", "--bundle", path_str(&bundle), &id])
        .expect_fail();
    assert!(
        t.elapsed() < Duration::from_secs(10),
        "timeout not honoured: {:?}",
        t.elapsed()
    );
    assert!(!out.stderr.is_empty(), "no error message:\n{out}");
    h.assert_no_trace(&id);
    assert!(cgroup_dirs_named(&id).is_empty(), "cgroup left behind");
    // Lifecycle step 12-13: the destroyed container's poststop hooks still run.
    assert_eq!(log.names(), ["poststop"]);
}

#[test]
fn failing_create_hooks_fail_create() {
    for phase in ["prestart", "createRuntime", "createContainer"] {
        let h = Harness::new("hooks_fail");
        let spec = Spec::new().set(
            "/hooks",
            json!({ phase: [sh_hook("echo hook-broke >&2; exit 3")] }),
        );
        let bundle = h.bundle(&spec);
        let id = h.new_id();
        let out = h
            .rt(&["create", "--bundle", path_str(&bundle), &id])
            .expect_fail();
        if !is_runc() {
            assert!(
                out.stderr.contains(phase) && out.stderr.contains("hook-broke"),
                "the error names the hook and carries its stderr:\n{out}"
            );
        }
        h.assert_no_trace(&id);
        assert!(cgroup_dirs_named(&id).is_empty(), "{phase}: cgroup left");
    }
}

#[test]
fn failing_start_container_hook_keeps_the_process_from_running() {
    let h = Harness::new("hooks_startc");
    let log = Log::new(&h);
    let hook = json!({ "path": "/bin/sh", "args": ["sh", "-c", "echo start-broke >&2; exit 1"] });
    let spec = log
        .spec(Spec::new().sh("echo user-process >> /hooklog/log"))
        .set("/hooks", json!({ "startContainer": [hook] }));
    let c = h.create(&spec);
    let out = h.rt(&["start", &c.id]);
    if !is_runc() {
        // runtime-spec lifecycle step 7: the failure is reported by start. (runc 1.1.5 runs
        // the hook after start returned; the container still never runs the process.)
        let out = out.expect_fail();
        assert!(
            out.stderr.contains("startContainer") && out.stderr.contains("start-broke"),
            "start names the failed hook:\n{out}"
        );
    }
    h.wait_status(&c.id, "stopped");
    assert!(
        log.names().is_empty(),
        "user process ran: {:?}",
        log.lines()
    );
}

#[test]
#[cfg_attr(
    ongi_test_runc,
    ignore = "runc 1.1.5 runs poststart hooks during create (fixed in runc 1.2)"
)]
fn failing_poststart_is_a_warning() {
    // runtime.md lifecycle step 9: "If any poststart hook fails, the runtime MUST log a
    // warning, but the remaining hooks and lifecycle continue as if the hook had succeeded."
    let h = Harness::new("hooks_poststart");
    let log = Log::new(&h);
    let hooks = json!({ "poststart": [
        sh_hook("echo poststart-broke >&2; exit 2"),
        log.host_hook("poststart"),
    ] });
    let c = h.create(
        &Spec::new()
            .args(&["sleep", "100"])
            .set("/hooks", hooks.clone()),
    );
    let pid = h.pid(&c.id);
    let file = h.work().join("start.log");
    let out = h.rt(&["--log", path_str(&file), "start", &c.id]);
    assert_eq!(out.code(), Some(0), "start must succeed:\n{out}");
    assert!(
        out.stderr.contains("warning"),
        "no warning on stderr:\n{out}"
    );
    let logged = read_opt(&file).unwrap_or_default();
    assert!(
        logged.contains("level=warning") && logged.contains("poststart"),
        "no warning in --log: {logged:?}"
    );
    assert_eq!(log.names(), ["poststart"], "the later hook must run");
    assert!(pid_alive(pid), "the container was stopped");
    assert_eq!(h.status(&c.id), "running");

    // `run -d` and `run`: started, the warning logged, the container's own exit status.
    let out = h.rt(&[
        "run",
        "-d",
        "--bundle",
        path_str(
            &h.bundle(
                &Spec::new()
                    .args(&["sleep", "100"])
                    .set("/hooks", hooks.clone()),
            ),
        ),
        &h.new_id(),
    ]);
    assert_eq!(out.code(), Some(0), "run -d must succeed:\n{out}");
    assert!(out.stderr.contains("warning"), "{out}");
    let out = h.run(&Spec::new().sh("exit 3").set("/hooks", hooks));
    assert_eq!(out.code(), Some(3), "{out}");
    assert!(out.stderr.contains("warning"), "{out}");
}

#[test]
fn failing_poststop_is_a_warning() {
    let h = Harness::new("hooks_poststop");
    let log = Log::new(&h);
    let hooks = json!({ "poststop": [sh_hook("exit 4"), log.host_hook("poststop")] });
    let c = h.start(&Spec::new().args(&["true"]).set("/hooks", hooks.clone()));
    h.wait_status(&c.id, "stopped");
    // runc reports the hook's failure with a non-zero exit; either way the container is gone.
    let _ = h.rt(&["delete", &c.id]);
    h.assert_no_trace(&c.id);
    if !is_runc() {
        // Lifecycle step 13: "the remaining hooks and lifecycle continue as if the hook had
        // succeeded" (runc 1.1.5 stops at the first failure).
        assert_eq!(log.names(), ["poststop"]);
    }

    // `run` still exits with the container's status.
    let out = h.run(&Spec::new().sh("exit 3").set("/hooks", hooks));
    assert_eq!(out.code(), Some(3), "{out}");
}

#[test]
fn hook_with_lots_of_output_does_not_block() {
    let h = Harness::new("hooks_chatty");
    // More than a pipe buffer on both streams; it must finish well within its timeout.
    let mut chatty = sh_hook("head -c 300000 /dev/zero; head -c 300000 /dev/zero >&2");
    chatty["timeout"] = json!(5);
    let t = Instant::now();
    let c = h.create(
        &Spec::new()
            .args(&["true"])
            .set("/hooks", json!({ "createRuntime": [chatty] })),
    );
    assert!(t.elapsed() < Duration::from_secs(4), "{:?}", t.elapsed());
    assert_eq!(h.status(&c.id), "created");
}

#[test]
#[cfg_attr(
    ongi_test_runc,
    ignore = "runc 1.1.5 fails delete when a poststop hook fails"
)]
fn failing_poststop_delete_exits_zero_and_logs_a_warning() {
    let h = Harness::new("hooks_poststop_warn");
    let hooks = json!({ "poststop": [sh_hook("echo poststop-broke >&2; exit 4")] });
    let c = h.start(&Spec::new().args(&["true"]).set("/hooks", hooks.clone()));
    h.wait_status(&c.id, "stopped");
    let log = h.work().join("delete.log");
    let out = h.rt(&["--log", path_str(&log), "delete", &c.id]);
    // runtime.md lifecycle 13: the runtime MUST log a warning, the lifecycle continues.
    assert_eq!(out.code(), Some(0), "delete must succeed:\n{out}");
    assert!(
        out.stderr.contains("warning"),
        "no warning on stderr:\n{out}"
    );
    let logged = read_opt(&log).unwrap_or_default();
    assert!(
        logged.contains("level=warning") && logged.contains("poststop"),
        "no warning in --log: {logged:?}"
    );
    h.assert_no_trace(&c.id);

    // `run`: the container's exit status, and the warning logged the same way.
    let log = h.work().join("run.log");
    let bundle = h.bundle(&Spec::new().sh("exit 3").set("/hooks", hooks));
    let id = h.new_id();
    let out = h.rt(&[
        "--log",
        path_str(&log),
        "--log-format",
        "json",
        "run",
        "--bundle",
        path_str(&bundle),
        &id,
    ]);
    assert_eq!(out.code(), Some(3), "{out}");
    let logged = read_opt(&log).unwrap_or_default();
    assert!(
        logged.contains("\"level\":\"warning\""),
        "no json warning in --log: {logged:?}"
    );
}

#[test]
fn hook_state_never_has_pid_zero() {
    // config.md: the state on stdin; pid is REQUIRED while created/running and, when
    // present, names a process. poststop (the process is gone) used to get "pid": 0.
    let h = Harness::new("hooks_state_pid");
    let dir = h.dir("states");
    let save = |name: &str| {
        json!({ "path": "/bin/sh",
                "args": ["sh", "-c", format!("cat > {}/{name}", dir.display())] })
    };
    let hooks = json!({
        "createRuntime": [save("createRuntime")],
        "poststart": [save("poststart")],
        "poststop": [save("poststop")],
    });
    let c = h.start(&Spec::new().args(&["true"]).set("/hooks", hooks));
    h.wait_status(&c.id, "stopped");
    let _ = h.rt(&["delete", &c.id]);
    for name in ["createRuntime", "poststart", "poststop"] {
        let text = read_opt(&dir.join(name)).unwrap_or_default();
        let v: Value = serde_json::from_str(&text)
            .unwrap_or_else(|e| panic!("{name}: state is not JSON ({e}): {text:?}"));
        if let Some(pid) = v.get("pid") {
            assert!(
                pid.as_i64().is_some_and(|p| p > 0),
                "{name}: pid {pid} names no process: {v}"
            );
        }
        if name != "poststop" {
            assert!(v.get("pid").is_some(), "{name}: no pid: {v}");
        }
    }
}

#[test]
fn relative_hook_path_fails_create() {
    // config.md: hook path MUST be absolute.
    let h = Harness::new("hooks_relative");
    let spec = Spec::new().set(
        "/hooks",
        json!({ "createRuntime": [{ "path": "sh", "args": ["sh", "-c", "true"] }] }),
    );
    let bundle = h.bundle(&spec);
    let id = h.new_id();
    let out = h
        .rt(&["create", "--bundle", path_str(&bundle), &id])
        .expect_fail();
    if !is_runc() {
        assert!(
            out.stderr.contains("hooks.createRuntime") && out.stderr.contains("absolute"),
            "the error names the field:\n{out}"
        );
    }
    h.assert_no_trace(&id);
}
