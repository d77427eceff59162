//! podman (Debian's 4.3, daemonless, with conmon) runs containers through `ongi`, chosen with
//! `podman --runtime /path/to/ongi`. Storage, run root, tmpdir, volumes, network config and
//! containers.conf are private to the test. Every check runs and is reported
//! (`PASS:`/`FAIL:` on stderr); the test fails at the end if any failed.
//!
//! What podman hands its runtime: no `--root` (ongi's default root `/run/ongi` is used, also by
//! `podman container cleanup`, which runs `delete --force` with an almost empty environment),
//! `--log-format=json --log .../oci-log` in the `--flag=value` form because "ongi" is in
//! `runtime_supports_json`, `create`/`start`/`exec --detach`/`pause`/`resume`/`kill ID 9`,
//! and a spec with `cgroupsPath /libpod_parent/libpod-<id>` and raised rlimits (capped in
//! containers.conf: the test machines lack CAP_SYS_RESOURCE).

mod common;

use common::clients::image::docker_archive;
use common::clients::podman::Podman;
use common::clients::sequences::*;
use common::clients::*;
use common::{ongi, path_str, tail};
use std::path::Path;

#[test]
fn podman_drives_ongi() {
    let dir = test_dir("podman");
    let _dir_guard = DirGuard(dir.clone());
    let image = docker_archive(&dir, IMAGE);
    let p = Podman::new(&dir);
    let mut c = Checks::new("podman");

    let out = p.podman(&["load", "-i", path_str(&image)]);
    c.check("load", out.ok() && out.stdout.contains(IMAGE), &out);

    check_run(&mut c, &p);
    let id = start_det1(&mut c, &p);

    let out = p.podman(&["inspect", "-f", "{{.State.Status}} {{.OCIRuntime}}", "det1"]);
    c.check(
        "inspect: running with runtime ongi",
        out.text() == format!("running {}", path_str(&ongi())),
        &out,
    );
    // No --root from podman: the state is in ongi's default root.
    let state = Path::new("/run/ongi").join(&id).join("state.json");
    c.check(
        "ongi state in its default root /run/ongi",
        state.is_file(),
        format!("{} missing", state.display()),
    );
    // "ongi" is in runtime_supports_json, so podman asked for a JSON log (--log-format=json).
    let userdata = p
        .dir
        .join("runroot/overlay-containers")
        .join(&id)
        .join("userdata");
    c.check(
        "podman passed --log (oci-log exists)",
        userdata.join("oci-log").exists(),
        format!("no oci-log in {}", userdata.display()),
    );

    check_logs_and_exec(&mut c, &p);
    check_pause_join_exec(&mut c, &p);
    let out = p.podman(&["exec", "det1", "/no/such/binary"]);
    c.check(
        "exec of a missing binary -> 127",
        out.code() == Some(127),
        &out,
    );

    check_top_restart(&mut c, &p);

    let out = p.podman(&["kill", "det1"]);
    let wait = p.podman(&["wait", "det1"]);
    c.check(
        "kill -> exit code 137",
        out.ok() && wait.text() == "137",
        format!("{out}\n{wait}"),
    );

    let out = p.run(&["-d", "--name", "det2", IMAGE, "sleep", "1000"]);
    let id2 = out.text().to_string();
    c.check("run -d (second)", out.ok() && id2.len() == 64, &out);
    // sleep as PID 1 ignores SIGTERM: stop escalates to SIGKILL after 1 s.
    let out = p.podman(&["stop", "-t", "1", "det2"]);
    let st = p.podman(&[
        "inspect",
        "-f",
        "{{.State.Status}} {{.State.ExitCode}}",
        "det2",
    ]);
    c.check(
        "stop -t 1 -> exited 137",
        out.ok() && st.text() == "exited 137",
        format!("{out}\n{st}"),
    );

    let out = p.podman(&["rm", "det1", "det2"]);
    c.check("rm", out.ok(), &out);
    let left: Vec<String> = [&id, &id2]
        .iter()
        .map(|i| Path::new("/run/ongi").join(i))
        .filter(|d| d.exists())
        .map(|d| d.display().to_string())
        .collect();
    c.check(
        "rm leaves no ongi state",
        left.is_empty(),
        format!("left: {left:?}"),
    );

    check_run_tty(&mut c, &p);

    // A pod: an infra container (catatonit) whose namespaces the pod's containers join by
    // path.
    let out = p.podman(&["pod", "create", "--name", "pod1", "--network", "none"]);
    c.check("pod create", out.ok(), &out);
    let out = p.podman(&[
        "run", "-d", "--pod", "pod1", "--name", "inpod", IMAGE, "sleep", "1000",
    ]);
    c.check("run -d --pod", out.ok(), &out);
    let out = p.podman(&["exec", "inpod", "hostname"]);
    c.check(
        "container in the pod has the pod's hostname (shared uts)",
        out.ok() && out.text() == "pod1",
        &out,
    );
    let infra = p.podman(&["pod", "inspect", "-f", "{{.InfraContainerID}}", "pod1"]);
    let infra_uts = p.podman(&["inspect", "-f", "{{.State.Pid}}", infra.text()]);
    let in_uts = p.podman(&["inspect", "-f", "{{.State.Pid}}", "inpod"]);
    let ns = |pid: &str| std::fs::read_link(format!("/proc/{pid}/ns/ipc")).ok();
    c.check(
        "container in the pod joined the infra container's ipc namespace",
        ns(infra_uts.text()).is_some() && ns(infra_uts.text()) == ns(in_uts.text()),
        format!("{infra}\n{infra_uts}\n{in_uts}"),
    );
    let out = p.podman(&["pod", "stop", "-t", "1", "pod1"]);
    c.check("pod stop", out.ok(), &out);
    let out = p.podman(&["pod", "rm", "pod1"]);
    c.check("pod rm", out.ok(), &out);

    // Registry round trip: push to a private docker-registry, forget the image, pull it back
    // and run it with ongi.
    let reg = Registry::start(&dir);
    let remote = format!("{}/busybox:latest", reg.addr);
    let out = p.podman(&["push", "--tls-verify=false", IMAGE, &remote]);
    let tags = reg.get("/v2/busybox/tags/list").unwrap_or_default();
    c.check(
        "push to the local registry",
        out.ok() && tags.contains("\"latest\""),
        format!("{out}\ntags: {tags}"),
    );
    let out = p.podman(&["rmi", IMAGE]);
    let gone = p.podman(&["image", "exists", IMAGE]);
    c.check("rmi", out.ok() && !gone.ok(), format!("{out}\n{gone}"));
    check_pull_and_run(&mut c, &p, &remote);

    c.finish(|| format!("--- registry log (tail) ---\n{}", tail(&reg.log(), 20)));
}
