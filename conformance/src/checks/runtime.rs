//! runtime.md (state, lifecycle, operations) and runtime-linux.md.

use crate::harness::{
    cgroup_dirs_named, marked_pids, ns_link, path_str, pid_alive, wait_until, Bad, Ctx, Res, Spec,
};
use crate::{ensure, req, Req};
use serde_json::{json, Value};
use std::fs;
use std::time::Duration;

const R: &str = "runtime.md";
const RL: &str = "runtime-linux.md";

pub fn reqs() -> Vec<Req> {
    vec![
        req("runtime.state.created", R, "created: the runtime has finished the create operation", state_created),
        req("runtime.state.pid-created", R, "pid (int, REQUIRED when status is created or running on Linux) is the ID of the container process", state_pid_created),
        req("runtime.state.running", R, "running: the container process has executed the user-specified program but has not exited", state_running),
        req("runtime.state.stopped", R, "stopped: the container process has exited", state_stopped),
        req("runtime.state.schema", R, "When serialized in JSON, the format MUST adhere to the JSON Schema", state_schema),
        req("runtime.state.bundle-absolute", R, "bundle (string, REQUIRED) is the absolute path to the container's bundle directory", state_bundle_absolute),
        req("runtime.state.annotations", R, "annotations (map, OPTIONAL) contains the list of annotations associated with the container", state_annotations),
        req("runtime.state.missing-id", R, "This operation MUST generate an error if it is not provided the ID of a container", state_missing_id),
        req("runtime.state.nonexistent", R, "Attempting to query a container that does not exist MUST generate an error", state_nonexistent),
        req("runtime.create.missing-id", R, "This operation MUST generate an error if it is not provided a path to the bundle and the container ID", create_missing_id),
        req("runtime.create.duplicate-id", R, "If the ID provided is not unique ... MUST generate an error and a new container MUST NOT be created", create_duplicate_id),
        req("runtime.create.invalid-id", R, "or is not valid in any other way, the implementation MUST generate an error", create_invalid_id),
        req("runtime.create.bundle-missing", R, "If the runtime is unable to create the environment specified in the config.json, it MUST generate an error", create_bundle_missing),
        req("runtime.create.process-not-run", R, "the user-specified program (from process) MUST NOT be run at this time", create_process_not_run),
        req("runtime.create.config-changes-ignored", R, "Any updates to config.json after this step MUST NOT affect the container", create_config_changes_ignored),
        req("runtime.create.failure-leaves-nothing", R, "generating an error MUST leave the state of the environment as if the operation were never attempted", create_failure_leaves_nothing),
        req("runtime.create.unapplicable-property", R, "If the runtime cannot apply a property as specified ... it MUST generate an error", create_unapplicable_property),
        req("runtime.start.runs-process", R, "This operation MUST run the user-specified program as specified by process", start_runs_process),
        req("runtime.start.running-error", R, "Attempting to start a container that is not created MUST have no effect ... and MUST generate an error", start_running_error),
        req("runtime.start.stopped-error", R, "Attempting to start a container that is not created MUST have no effect ... and MUST generate an error", start_stopped_error),
        req("runtime.start.missing-id", R, "This operation MUST generate an error if it is not provided the container ID", start_missing_id),
        req("runtime.start.process-required", R, "This operation MUST generate an error if process was not set", start_process_required),
        req("runtime.kill.created", R, "This operation MUST send the specified signal to the container process (created)", kill_created),
        req("runtime.kill.running-signal", R, "This operation MUST send the specified signal to the container process", kill_running_signal),
        req("runtime.kill.stopped-error", R, "Attempting to send a signal to a container that is neither created nor running MUST ... generate an error", kill_stopped_error),
        req("runtime.kill.missing-id", R, "This operation MUST generate an error if it is not provided the container ID", kill_missing_id),
        req("runtime.delete.running-error", R, "Attempting to delete a container that is not stopped MUST have no effect ... and MUST generate an error", delete_running_error),
        req("runtime.delete.created-error", R, "Attempting to delete a container that is not stopped MUST have no effect ... and MUST generate an error", delete_created_error),
        req("runtime.delete.removes-resources", R, "Deleting a container MUST delete the resources that were created during the create step", delete_removes_resources),
        req("runtime.delete.removes-cgroupsPath", R, "Deleting a container MUST delete the resources that were created during the create step (cgroupsPath)", delete_removes_cgroups_path),
        req("runtime.delete.keeps-unowned", R, "resources associated with the container, but not created by this container, MUST NOT be deleted", delete_keeps_unowned),
        req("runtime.delete.missing-id", R, "This operation MUST generate an error if it is not provided the container ID", delete_missing_id),
        req("runtime.lifecycle.prestart-failure", R, "If any prestart hook fails, the runtime MUST generate an error, stop the container", prestart_failure),
        req("runtime.lifecycle.createRuntime-failure", R, "If any createRuntime hook fails, the runtime MUST generate an error, stop the container", create_runtime_failure),
        req("runtime.lifecycle.createContainer-failure", R, "If any createContainer hook fails, the runtime MUST generate an error, stop the container", create_container_failure),
        req("runtime.lifecycle.startContainer-failure", R, "If any startContainer hook fails, the runtime MUST generate an error, stop the container", start_container_failure),
        req("runtime.lifecycle.poststart-failure", R, "If any poststart hook fails, the runtime MUST log a warning, but the remaining hooks and lifecycle continue as if the hook had succeeded", poststart_failure),
        req("runtime.lifecycle.poststop-failure", R, "If any poststop hook fails, the runtime MUST log a warning, but the remaining hooks and lifecycle continue", poststop_failure),
        req("runtime-linux.fds", RL, "By default, only the stdin, stdout and stderr file descriptors are kept open", linux_fds),
        req("runtime-linux.dev-symlink.fd", RL, "runtimes MUST create the following symlinks: /proc/self/fd -> /dev/fd", |c| dev_symlink(c, "/dev/fd", "/proc/self/fd")),
        req("runtime-linux.dev-symlink.stdin", RL, "runtimes MUST create the following symlinks: /proc/self/fd/0 -> /dev/stdin", |c| dev_symlink(c, "/dev/stdin", "/proc/self/fd/0")),
        req("runtime-linux.dev-symlink.stdout", RL, "runtimes MUST create the following symlinks: /proc/self/fd/1 -> /dev/stdout", |c| dev_symlink(c, "/dev/stdout", "/proc/self/fd/1")),
        req("runtime-linux.dev-symlink.stderr", RL, "runtimes MUST create the following symlinks: /proc/self/fd/2 -> /dev/stderr", |c| dev_symlink(c, "/dev/stderr", "/proc/self/fd/2")),
    ]
}

fn canonical(p: &std::path::Path) -> String {
    fs::canonicalize(p)
        .map(|p| path_str(&p))
        .unwrap_or_else(|_| path_str(p))
}

fn state_created(c: &mut Ctx) -> Res {
    let (id, _) = c.create(&Spec::new().sleeper())?;
    let s = c.state(&id)?;
    ensure!(
        s["status"] == "created",
        "status after create: {}",
        s["status"]
    );
    ensure!(s["id"] == json!(id), "id: {}", s["id"]);
    Ok(())
}

fn state_pid_created(c: &mut Ctx) -> Res {
    let (id, _) = c.create(&Spec::new().sleeper())?;
    let pid = c.pid(&id)?;
    ensure!(
        pid > 0 && pid_alive(pid),
        "state pid {pid} is not a live process"
    );
    // The container process lives in the container's (new) mount namespace.
    ensure!(
        ns_link(&pid.to_string(), "mnt")? != ns_link("self", "mnt")?,
        "pid {pid} is not in the container's mount namespace"
    );
    Ok(())
}

fn state_running(c: &mut Ctx) -> Res {
    let (id, pid) = c.running(&Spec::new())?;
    let s = c.state(&id)?;
    ensure!(
        s["status"] == "running",
        "status after start: {}",
        s["status"]
    );
    let cmd = fs::read(format!("/proc/{pid}/cmdline")).unwrap_or_default();
    let cmd = String::from_utf8_lossy(&cmd).replace('\0', " ");
    ensure!(
        cmd.trim() == "oci-check pause",
        "state pid {pid} runs {cmd:?}, not the user program"
    );
    Ok(())
}

fn state_stopped(c: &mut Ctx) -> Res {
    let (id, _) = c.start(&Spec::new().check(&["ids"]))?;
    c.wait_status(&id, "stopped")
}

fn state_schema(c: &mut Ctx) -> Res {
    let (id, _) = c.create(
        &Spec::new()
            .sleeper()
            .set("/annotations", json!({"org.example.a": "b"})),
    )?;
    let mut states = vec![c.state(&id)?];
    c.rt(&["start", &id])?.expect_ok()?;
    states.push(c.state(&id)?);
    c.rt(&["kill", &id, "KILL"])?.expect_ok()?;
    c.wait_status(&id, "stopped")?;
    states.push(c.state(&id)?);
    for s in &states {
        let obj = s.as_object().ok_or("state is not an object")?;
        for k in ["ociVersion", "id", "status", "bundle"] {
            ensure!(
                obj.get(k).is_some_and(Value::is_string),
                "{k} is not a string in {s}"
            );
        }
        let v = s["ociVersion"].as_str().unwrap_or("");
        ensure!(
            v.split(['-', '+']).next().unwrap_or("").split('.').count() == 3,
            "ociVersion {v:?} is not SemVer"
        );
        if let Some(p) = obj.get("pid") {
            ensure!(p.is_i64(), "pid is not an int in {s}");
        }
        if let Some(a) = obj.get("annotations") {
            let a = a.as_object().ok_or("annotations is not a map")?;
            ensure!(
                a.values().all(Value::is_string),
                "annotation values must be strings"
            );
        }
        let st = s["status"].as_str().unwrap_or("");
        ensure!(
            ["creating", "created", "running", "stopped"].contains(&st),
            "unexpected status {st:?} for a standard lifecycle state"
        );
        if st == "created" || st == "running" {
            ensure!(
                obj.get("pid").is_some_and(|p| p.as_i64() > Some(0)),
                "pid REQUIRED when {st}: {s}"
            );
        }
    }
    Ok(())
}

fn state_bundle_absolute(c: &mut Ctx) -> Res {
    let b = c.bundle(&Spec::new().sleeper())?;
    let parent = b.parent().ok_or("bundle has no parent")?.to_path_buf();
    let rel = b
        .file_name()
        .ok_or("bundle has no name")?
        .to_string_lossy()
        .into_owned();
    let id = c.new_id();
    c.rt_in(Some(&parent), &["create", "--bundle", &rel, &id])?
        .expect_ok()?;
    let s = c.state(&id)?;
    let got = s["bundle"].as_str().unwrap_or("");
    ensure!(got.starts_with('/'), "bundle {got:?} is not absolute");
    ensure!(
        got == canonical(&b) || got == path_str(&b),
        "bundle {got:?} is not {}",
        b.display()
    );
    Ok(())
}

fn state_annotations(c: &mut Ctx) -> Res {
    let ann = json!({"org.example.key": "value", "com.example.empty": ""});
    let (id, _) = c.create(&Spec::new().sleeper().set("/annotations", ann.clone()))?;
    let s = c.state(&id)?;
    ensure!(
        s["annotations"] == ann,
        "annotations in state: {}",
        s["annotations"]
    );
    Ok(())
}

fn state_missing_id(c: &mut Ctx) -> Res {
    let out = c.rt(&["state"])?;
    ensure!(out.failed(), "`state` without id: {}", out.brief());
    Ok(())
}

fn state_nonexistent(c: &mut Ctx) -> Res {
    let out = c.rt(&["state", &format!("nonexistent-{}", std::process::id())])?;
    ensure!(out.failed(), "state of an unknown id: {}", out.brief());
    Ok(())
}

fn create_missing_id(c: &mut Ctx) -> Res {
    let b = c.bundle(&Spec::new().sleeper())?;
    let before = c.rt(&["list", "-q"])?.stdout;
    let out = c.rt(&["create", "--bundle", &path_str(&b)])?;
    ensure!(out.failed(), "create without id: {}", out.brief());
    let after = c.rt(&["list", "-q"])?.stdout;
    ensure!(before == after, "list changed: {before:?} -> {after:?}");
    Ok(())
}

fn create_duplicate_id(c: &mut Ctx) -> Res {
    let (id, _) = c.create(&Spec::new().sleeper())?;
    let pid = c.pid(&id)?;
    let b2 = c.bundle(&Spec::new().sleeper())?;
    let out = c.rt(&["create", "--bundle", &path_str(&b2), &id])?;
    ensure!(
        out.failed(),
        "second create with the same id: {}",
        out.brief()
    );
    let s = c.state(&id)?;
    ensure!(
        s["status"] == "created",
        "first container now {}",
        s["status"]
    );
    ensure!(
        s["pid"] == json!(pid),
        "first container's pid changed: {}",
        s["pid"]
    );
    ensure!(pid_alive(pid), "first container's process died");
    Ok(())
}

fn create_invalid_id(c: &mut Ctx) -> Res {
    let b = c.bundle(&Spec::new().sleeper())?;
    let evil = format!("conformance-evil-{}", std::process::id());
    let id = format!("../{evil}");
    let out = c.rt(&["create", "--bundle", &path_str(&b), &id])?;
    let escaped = c.env.root.parent().map(|p| p.join(&evil));
    if out.ok() {
        let _ = c.rt(&["delete", "--force", &id]);
    }
    ensure!(out.failed(), "create with id {id:?} succeeded");
    if let Some(e) = escaped {
        ensure!(!e.exists(), "{} was created", e.display());
    }
    Ok(())
}

fn create_bundle_missing(c: &mut Ctx) -> Res {
    let d = c.dir("empty")?;
    let (id, out) = c.create_bundle(&d.join("nonexistent"), &[])?;
    ensure!(
        out.failed(),
        "create with a missing bundle: {}",
        out.brief()
    );
    c.expect_no_trace(&id)
}

fn create_process_not_run(c: &mut Ctx) -> Res {
    let d = c.dir("out")?;
    let (id, _) = c.create(&Spec::new().bind(&d, "/out", &[]).sh("echo ran > /out/ran"))?;
    std::thread::sleep(Duration::from_millis(300));
    ensure!(
        !d.join("ran").exists(),
        "the user program ran during create"
    );
    ensure!(c.status(&id)? == "created", "not created");
    Ok(())
}

fn start_runs_process(c: &mut Ctx) -> Res {
    let d = c.dir("out")?;
    let (id, _) = c.create(&Spec::new().bind(&d, "/out", &[]).args(&[
        "sh",
        "-c",
        "echo \"$0 $1\" > /out/ran",
        "a b",
        "c",
    ]))?;
    c.rt(&["start", &id])?.expect_ok()?;
    ensure!(
        wait_until(Duration::from_secs(5), || d.join("ran").exists()),
        "the user program did not run after start"
    );
    c.wait_status(&id, "stopped")?;
    let got = fs::read_to_string(d.join("ran")).unwrap_or_default();
    ensure!(got.trim() == "a b c", "program output {got:?}");
    Ok(())
}

fn create_config_changes_ignored(c: &mut Ctx) -> Res {
    let d = c.dir("out")?;
    let spec = Spec::new().bind(&d, "/out", &[]);
    let (id, b) = c.create(&spec.clone().sh("echo one > /out/which"))?;
    c.write_config(&b, &spec.sh("echo two > /out/which"))?;
    c.rt(&["start", &id])?.expect_ok()?;
    ensure!(
        wait_until(Duration::from_secs(5), || d.join("which").exists()),
        "program did not run"
    );
    c.wait_status(&id, "stopped")?;
    let got = fs::read_to_string(d.join("which")).unwrap_or_default();
    ensure!(
        got.trim() == "one",
        "the edited config.json took effect: {got:?}"
    );
    Ok(())
}

/// Creating from `spec` must fail and leave no container, state, cgroup or process.
pub fn expect_create_fails(c: &mut Ctx, spec: &Spec) -> Res {
    let b = c.bundle(spec)?;
    let (id, out) = c.create_bundle(&b, &[])?;
    ensure!(out.failed(), "create succeeded: {}", out.brief());
    c.expect_no_trace(&id)?;
    let marker = c.env.marker.clone();
    let mut left = Vec::new();
    let gone = wait_until(Duration::from_secs(3), || {
        left = marked_pids(&marker);
        left.is_empty()
    });
    ensure!(gone, "processes left behind: {left:?}");
    Ok(())
}

fn create_failure_leaves_nothing(c: &mut Ctx) -> Res {
    let missing = format!("/nonexistent-conformance-{}", std::process::id());
    let spec = Spec::new().sleeper().mount(json!({
        "destination": "/mnt", "type": "bind", "source": missing, "options": ["rbind"]
    }));
    expect_create_fails(c, &spec)
}

fn create_unapplicable_property(c: &mut Ctx) -> Res {
    let spec = Spec::new().sleeper().set(
        "/linux/sysctl",
        json!({"kernel.conformance_no_such_key": "1"}),
    );
    expect_create_fails(c, &spec)
}

fn start_running_error(c: &mut Ctx) -> Res {
    let (id, pid) = c.running(&Spec::new())?;
    let out = c.rt(&["start", &id])?;
    ensure!(out.failed(), "second start: {}", out.brief());
    ensure!(c.status(&id)? == "running", "no longer running");
    ensure!(
        c.pid(&id)? == pid && pid_alive(pid),
        "process changed or died"
    );
    Ok(())
}

fn start_stopped_error(c: &mut Ctx) -> Res {
    let (id, _) = c.start(&Spec::new().check(&["ids"]))?;
    c.wait_status(&id, "stopped")?;
    let out = c.rt(&["start", &id])?;
    ensure!(
        out.failed(),
        "start of a stopped container: {}",
        out.brief()
    );
    ensure!(c.status(&id)? == "stopped", "no longer stopped");
    Ok(())
}

fn start_missing_id(c: &mut Ctx) -> Res {
    let out = c.rt(&["start"])?;
    ensure!(out.failed(), "`start` without id: {}", out.brief());
    Ok(())
}

fn start_process_required(c: &mut Ctx) -> Res {
    let b = c.bundle(&Spec::new().remove("/process"))?;
    let (id, out) = c.create_bundle(&b, &[])?;
    if out.failed() {
        // Refusing at create is the stricter form of the same requirement.
        return c.expect_no_trace(&id);
    }
    let out = c.rt(&["start", &id])?;
    ensure!(
        out.failed(),
        "start without process succeeded: {}",
        out.brief()
    );
    Ok(())
}

fn kill_created(c: &mut Ctx) -> Res {
    let (id, _) = c.create(&Spec::new().sleeper())?;
    let pid = c.pid(&id)?;
    c.rt(&["kill", &id, "KILL"])?.expect_ok()?;
    ensure!(
        wait_until(Duration::from_secs(5), || !pid_alive(pid)),
        "process survived SIGKILL"
    );
    c.wait_status(&id, "stopped")
}

fn kill_running_signal(c: &mut Ctx) -> Res {
    let d = c.dir("out")?;
    let (id, _) = c.start(
        &Spec::new()
            .bind(&d, "/out", &[])
            .sh("trap 'echo USR1 > /out/sig; exit 0' USR1; echo ready > /out/ready; while :; do sleep 0.05; done"),
    )?;
    ensure!(
        wait_until(Duration::from_secs(5), || d.join("ready").exists()),
        "container never became ready"
    );
    c.rt(&["kill", &id, "USR1"])?.expect_ok()?;
    ensure!(
        wait_until(Duration::from_secs(5), || d.join("sig").exists()),
        "SIGUSR1 was not delivered to the container process"
    );
    Ok(())
}

fn kill_stopped_error(c: &mut Ctx) -> Res {
    let (id, _) = c.start(&Spec::new().check(&["ids"]))?;
    c.wait_status(&id, "stopped")?;
    let out = c.rt(&["kill", &id, "KILL"])?;
    ensure!(out.failed(), "kill of a stopped container: {}", out.brief());
    ensure!(c.status(&id)? == "stopped", "state changed");
    Ok(())
}

fn kill_missing_id(c: &mut Ctx) -> Res {
    let out = c.rt(&["kill"])?;
    ensure!(out.failed(), "`kill` without id: {}", out.brief());
    Ok(())
}

fn delete_running_error(c: &mut Ctx) -> Res {
    let (id, pid) = c.running(&Spec::new())?;
    let out = c.rt(&["delete", &id])?;
    ensure!(
        out.failed(),
        "delete of a running container: {}",
        out.brief()
    );
    ensure!(pid_alive(pid), "process was killed");
    ensure!(c.status(&id)? == "running", "no longer running");
    Ok(())
}

fn delete_created_error(c: &mut Ctx) -> Res {
    let (id, _) = c.create(&Spec::new().sleeper())?;
    let pid = c.pid(&id)?;
    let out = c.rt(&["delete", &id])?;
    ensure!(
        out.failed(),
        "delete (without --force) of a created container succeeded: {}",
        out.brief()
    );
    ensure!(pid_alive(pid), "process was killed");
    ensure!(c.status(&id)? == "created", "no longer created");
    Ok(())
}

fn delete_removes_resources(c: &mut Ctx) -> Res {
    let (id, _) = c.start(&Spec::new().check(&["ids"]))?;
    c.wait_status(&id, "stopped")?;
    let had_cgroups = !cgroup_dirs_named(&id).is_empty();
    c.rt(&["delete", &id])?.expect_ok()?;
    c.expect_no_trace(&id)?;
    let _ = had_cgroups;
    Ok(())
}

fn delete_removes_cgroups_path(c: &mut Ctx) -> Res {
    let name = format!("conformance-{}-{}", std::process::id(), c.env.next());
    let (id, pid) = c.running(&Spec::new().set("/linux/cgroupsPath", json!(format!("/{name}"))))?;
    let dir = crate::harness::cgroup_dir(pid, "memory")?;
    ensure!(dir.exists(), "{} was not created", dir.display());
    c.rt(&["kill", &id, "KILL"])?.expect_ok()?;
    c.wait_status(&id, "stopped")?;
    c.rt(&["delete", &id])?.expect_ok()?;
    let left: Vec<_> = fs::read_dir("/sys/fs/cgroup")
        .map_err(|e| e.to_string())?
        .flatten()
        .map(|h| h.path().join(&name))
        .filter(|p| p.exists())
        .collect();
    ensure!(left.is_empty(), "cgroups left after delete: {left:?}");
    Ok(())
}

fn delete_keeps_unowned(c: &mut Ctx) -> Res {
    let d = c.dir("data")?;
    fs::write(d.join("keep"), "precious").map_err(|e| e.to_string())?;
    let (id, _) = c.start(&Spec::new().bind(&d, "/out", &[]).check(&["ids"]))?;
    c.wait_status(&id, "stopped")?;
    c.rt(&["delete", &id])?.expect_ok()?;
    let got = fs::read_to_string(d.join("keep")).unwrap_or_default();
    ensure!(
        got == "precious",
        "bind-mount source content was removed or changed"
    );
    Ok(())
}

fn delete_missing_id(c: &mut Ctx) -> Res {
    let out = c.rt(&["delete"])?;
    ensure!(out.failed(), "`delete` without id: {}", out.brief());
    Ok(())
}

fn prestart_failure(c: &mut Ctx) -> Res {
    expect_create_fails(c, &Spec::new().sleeper().hook("prestart", "exit 1"))
}

fn create_runtime_failure(c: &mut Ctx) -> Res {
    expect_create_fails(c, &Spec::new().sleeper().hook("createRuntime", "exit 1"))
}

fn create_container_failure(c: &mut Ctx) -> Res {
    expect_create_fails(c, &Spec::new().sleeper().hook("createContainer", "exit 1"))
}

fn start_container_failure(c: &mut Ctx) -> Res {
    let d = c.dir("out")?;
    let (id, _) = c.create(
        &Spec::new()
            .bind(&d, "/out", &[])
            .sh("echo ran > /out/ran; sleep 100")
            .hook("startContainer", "exit 1"),
    )?;
    let pid = c.pid(&id)?;
    // The hook runs in the container after `start` has handed over, so the error may only
    // be logged ("this specification does not mandate how, or even if, that error is
    // returned"): what must be observable is that the container stops without running
    // the program.
    let _ = c.rt(&["start", &id])?;
    ensure!(
        wait_until(Duration::from_secs(5), || !pid_alive(pid)),
        "the container was not stopped"
    );
    ensure!(
        !d.join("ran").exists(),
        "the user program ran despite the failed hook"
    );
    Ok(())
}

fn poststart_failure(c: &mut Ctx) -> Res {
    let d = c.dir("out")?;
    let after = d.join("after");
    let (id, _) = c.create(
        &Spec::new()
            .sleeper()
            .hook("poststart", "exit 1")
            .hook("poststart", &format!("touch {}", after.display())),
    )?;
    let pid = c.pid(&id)?;
    let out = c.rt(&["start", &id])?;
    ensure!(
        out.ok(),
        "start failed because of a poststart hook: {}",
        out.brief()
    );
    ensure!(
        out.stderr.to_lowercase().contains("warn"),
        "no warning about the failed poststart hook: {}",
        out.brief()
    );
    ensure!(after.exists(), "the remaining poststart hook did not run");
    ensure!(pid_alive(pid), "the container was stopped");
    Ok(())
}

fn poststop_failure(c: &mut Ctx) -> Res {
    let d = c.dir("out")?;
    let after = d.join("after");
    let (id, _) = c.start(
        &Spec::new()
            .check(&["ids"])
            .hook("poststop", "exit 1")
            .hook("poststop", &format!("touch {}", after.display())),
    )?;
    c.wait_status(&id, "stopped")?;
    let out = c.rt(&["delete", &id])?;
    ensure!(
        out.ok(),
        "delete failed because of a poststop hook: {}",
        out.brief()
    );
    ensure!(after.exists(), "the remaining poststop hook did not run");
    c.expect_no_trace(&id)
}

fn linux_fds(c: &mut Ctx) -> Res {
    let f = c.run_ok(&Spec::new().check(&["fds"]))?;
    f.expect("fds", "0,1,2")
}

fn dev_symlink(c: &mut Ctx, path: &str, target: &str) -> Res {
    let f = c.run_ok(&Spec::new().check(&["stat", path]))?;
    if let Some(e) = f.get(&format!("{path}.errno")) {
        return Err(Bad::Fail(format!("{path} missing (errno {e})")));
    }
    f.expect(&format!("{path}.type"), "lnk")?;
    f.expect(&format!("{path}.link"), target)
}
