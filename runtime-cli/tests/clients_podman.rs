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

mod clients_common;

use clients_common::*;
use std::path::Path;
use std::time::Duration;

#[test]
fn podman_drives_ongi() {
    let dir = test_dir("podman");
    let _dir_guard = DirGuard(dir.clone());
    let image = build_image(&dir);
    let p = Podman::new(&dir);
    let mut c = Checks::new("podman");

    let out = p.podman(&["load", "-i", &path_string(&image)]);
    c.check("load", out.ok() && out.stdout.contains(IMAGE), &out);

    let run = |args: &[&str]| {
        let mut v = vec!["run", "--network", "none"];
        v.extend_from_slice(args);
        p.podman(&v)
    };

    let out = run(&["--rm", IMAGE, "echo", "hi"]);
    c.check("run --rm echo hi", out.ok() && out.stdout == "hi\n", &out);

    let out = run(&["--rm", IMAGE, "sh", "-c", "exit 7"]);
    c.check(
        "run: exit code 7 passed through",
        out.code() == Some(7),
        &out,
    );

    // podman maps "not found" errors of the runtime (read from its JSON --log) to 127.
    let out = run(&["--rm", IMAGE, "/no/such/binary"]);
    c.check(
        "run of a missing binary: exit 127 and ongi's error shown",
        out.code() == Some(127) && out.stderr.contains("/no/such/binary"),
        &out,
    );

    let out = run(&["--rm", IMAGE, "no-such-command"]);
    c.check(
        "run of a command not in PATH -> 127",
        out.code() == Some(127),
        &out,
    );
    let out = run(&["--rm", IMAGE, "/etc/passwd"]);
    c.check(
        "run of a non-executable file -> 126",
        out.code() == Some(126),
        &out,
    );

    // Common run options, each checked from inside.
    let out = run(&[
        "--rm",
        "--user",
        "1000:1000",
        "-e",
        "FOO=bar",
        "-w",
        "/tmp",
        "--hostname",
        "hh",
        IMAGE,
        "sh",
        "-c",
        "id -u; id -g; echo $FOO; pwd; hostname",
    ]);
    c.check(
        "run --user -e -w --hostname",
        out.ok() && out.stdout == "1000\n1000\nbar\n/tmp\nhh\n",
        &out,
    );
    let out = run(&[
        "--rm",
        "--read-only",
        IMAGE,
        "sh",
        "-c",
        "touch /x 2>/dev/null && echo rootfs-writable; touch /tmp/y && echo tmp-ok",
    ]);
    c.check(
        "run --read-only",
        out.ok() && out.stdout == "tmp-ok\n",
        &out,
    );
    let out = run(&[
        "--rm",
        "--memory",
        "32m",
        "--pids-limit",
        "50",
        "--cpus",
        "0.5",
        IMAGE,
        "cat",
        "/sys/fs/cgroup/memory/memory.limit_in_bytes",
        "/sys/fs/cgroup/pids/pids.max",
        "/sys/fs/cgroup/cpu/cpu.cfs_quota_us",
    ]);
    c.check(
        "run --memory --pids-limit --cpus",
        out.ok() && out.stdout == "33554432\n50\n50000\n",
        &out,
    );
    // Any --ulimit replaces containers.conf's default_ulimits, so nproc is given too (podman's
    // default 1048576 cannot be set without CAP_SYS_RESOURCE).
    let out = run(&[
        "--rm",
        "--cap-drop",
        "ALL",
        "--ulimit",
        "nofile=500:600",
        "--ulimit",
        "nproc=1000:1000",
        IMAGE,
        "sh",
        "-c",
        "grep CapEff /proc/self/status; ulimit -n; ulimit -Hn",
    ]);
    c.check(
        "run --cap-drop ALL --ulimit",
        out.ok() && out.stdout == "CapEff:\t0000000000000000\n500\n600\n",
        &out,
    );
    let out = run(&["--rm", "--init", IMAGE, "ps", "-o", "pid,args"]);
    c.check(
        "run --init (podman-init is PID 1)",
        out.ok()
            && out
                .stdout
                .lines()
                .nth(1)
                .is_some_and(|l| l.trim().starts_with("1 /run/podman-init")),
        &out,
    );
    let mut cmd = p.cli();
    cmd.args(["run", "--rm", "-i", "--network", "none", IMAGE, "cat"]);
    let out = run_with_stdin(&mut cmd, &p.dir, "stdin-data");
    c.check(
        "run -i passes stdin",
        out.ok() && out.stdout == "stdin-data",
        &out,
    );

    let out = run(&[
        "-d",
        "--name",
        "det1",
        IMAGE,
        "sh",
        "-c",
        "echo started; exec sleep 1000",
    ]);
    let id = out.text().to_string();
    c.check("run -d", out.ok() && id.len() == 64, &out);

    let out = p.podman(&["inspect", "-f", "{{.State.Status}} {{.OCIRuntime}}", "det1"]);
    c.check(
        "inspect: running with runtime ongi",
        out.text() == format!("running {}", path_string(&ongi())),
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

    let logs_ok = wait_until(Duration::from_secs(10), || {
        p.podman(&["logs", "det1"]).stdout == "started\n"
    });
    let out = p.podman(&["logs", "det1"]);
    c.check("logs of run -d", logs_ok, &out);

    let out = p.podman(&["exec", "det1", "echo", "hi-exec"]);
    c.check("exec", out.ok() && out.stdout == "hi-exec\n", &out);

    let out = p.podman(&["exec", "det1", "sh", "-c", "exit 5"]);
    c.check(
        "exec: exit code 5 passed through",
        out.code() == Some(5),
        &out,
    );

    let out = p.podman_tty(&["exec", "-t", "det1", "tty"]);
    c.check(
        "exec -t has a tty",
        out.ok() && out.text().starts_with("/dev/pts/"),
        &out,
    );

    let out = p.podman(&["pause", "det1"]);
    let st = p.podman(&["inspect", "-f", "{{.State.Status}}", "det1"]);
    c.check(
        "pause -> paused",
        out.ok() && st.text() == "paused",
        format!("{out}\n{st}"),
    );
    let out = p.podman(&["unpause", "det1"]);
    let st = p.podman(&["inspect", "-f", "{{.State.Status}}", "det1"]);
    c.check(
        "unpause -> running",
        out.ok() && st.text() == "running",
        format!("{out}\n{st}"),
    );
    let out = p.podman(&["exec", "det1", "echo", "thawed"]);
    c.check("exec after unpause", out.stdout == "thawed\n", &out);

    // Joining another container's namespaces by path.
    let out = run(&[
        "--rm",
        "--pid",
        "container:det1",
        IMAGE,
        "ps",
        "-o",
        "pid,args",
    ]);
    c.check(
        "run --pid container:det1 sees its sleep as PID 1",
        out.ok()
            && out
                .stdout
                .lines()
                .nth(1)
                .is_some_and(|l| l.trim() == "1 sleep 1000"),
        &out,
    );

    let out = p.podman(&[
        "exec",
        "-u",
        "1000",
        "-w",
        "/tmp",
        "-e",
        "A=b",
        "det1",
        "sh",
        "-c",
        "id -u; pwd; echo $A",
    ]);
    c.check(
        "exec -u -w -e",
        out.ok() && out.stdout == "1000\n/tmp\nb\n",
        &out,
    );
    let out = p.podman(&["exec", "det1", "/no/such/binary"]);
    c.check(
        "exec of a missing binary -> 127",
        out.code() == Some(127),
        &out,
    );

    let out = p.podman(&["top", "det1"]);
    c.check(
        "top lists sleep 1000",
        out.ok() && out.stdout.contains("sleep 1000"),
        &out,
    );

    let out = p.podman(&["restart", "-t", "1", "det1"]);
    let st = p.podman(&["inspect", "-f", "{{.State.Status}}", "det1"]);
    let ex = p.podman(&["exec", "det1", "echo", "restarted"]);
    c.check(
        "restart -t 1 -> running again",
        out.ok() && st.text() == "running" && ex.stdout == "restarted\n",
        format!("{out}\n{st}\n{ex}"),
    );

    let out = p.podman(&["kill", "det1"]);
    let wait = p.podman(&["wait", "det1"]);
    c.check(
        "kill -> exit code 137",
        out.ok() && wait.text() == "137",
        format!("{out}\n{wait}"),
    );

    let out = run(&["-d", "--name", "det2", IMAGE, "sleep", "1000"]);
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

    let out = p.podman_tty(&["run", "--rm", "-t", "--network", "none", IMAGE, "tty"]);
    c.check(
        "run -t has a tty",
        out.ok() && out.text() == "/dev/pts/0",
        &out,
    );

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
    let out = p.podman(&["pull", "--tls-verify=false", &remote]);
    c.check("pull from the local registry", out.ok(), &out);
    let out = run(&["--rm", &remote, "echo", "pulled"]);
    c.check(
        "run the pulled image",
        out.ok() && out.stdout == "pulled\n",
        &out,
    );

    c.finish(|| format!("--- registry log (tail) ---\n{}", tail(&reg.log(), 20)));
}

/// `podman run --rm IMAGE true` with ongi, runc and crun (`--runtime PATH`), interleaved;
/// prints the medians. Run by benches/clients.sh.
#[test]
#[ignore]
fn bench_run_rm_latency() {
    let dir = test_dir("pbench");
    let _dir_guard = DirGuard(dir.clone());
    let image = build_image(&dir);
    let runtimes = bench_runtimes(&dir);
    let p = Podman::new(&dir);
    let out = p.podman(&["load", "-i", &path_string(&image)]);
    assert!(out.ok(), "{out}");
    bench_run_rm("podman", &runtimes, |i, id| {
        let rt = path_string(&runtimes[i].1);
        p.podman(&[
            "--runtime",
            &rt,
            "run",
            "--rm",
            "--network",
            "none",
            "--name",
            id,
            IMAGE,
            "true",
        ])
    });
}
