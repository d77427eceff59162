//! Docker (Debian's dockerd 20.10) runs containers through `ongi`: a private dockerd (own
//! data-root, exec-root, socket; no iptables, no bridge) with `ongi` registered as runtime
//! "ongi" in daemon.json, driven with Debian's docker CLI. Every check runs and is reported
//! (`PASS:`/`FAIL:` on stderr); the test fails at the end if any failed.
//!
//! What Docker hands its runtime (through containerd's runc v2 shim): global
//! `--root EXEC/runtime-runc/moby --log BUNDLE/log.json --log-format json`, a spec with a
//! `libnetwork-setkey` prestart hook (every container, even `--network none`), seccomp,
//! masked/readonly paths and `cgroupsPath /docker/<id>`; `update --resources -` for
//! `docker update`, `ps --format json` for `docker top`, `kill` + `delete` for `docker stop`.

mod common;

use common::clients::docker::Dockerd;
use common::clients::image::docker_archive;
use common::clients::sequences::*;
use common::clients::*;
use common::{ongi, path_str, read_lossy, tail};

#[test]
fn docker_drives_ongi() {
    let dir = test_dir("docker");
    let _dir_guard = DirGuard(dir.clone());
    let image = docker_archive(&dir, IMAGE);
    let d = Dockerd::start(&dir);
    let mut c = Checks::new("docker");

    let info = d.docker(&["info", "--format", "{{json .Runtimes}}"]);
    c.check(
        "info lists runtime ongi",
        info.ok() && info.stdout.contains(path_str(&ongi())),
        &info,
    );

    let load = d.docker(&["load", "-i", path_str(&image)]);
    c.check("load", load.ok() && load.stdout.contains(IMAGE), &load);

    check_run(&mut c, &d);
    let out = d.run(&["--rm", IMAGE, "sh", "-c", "echo out; echo err >&2"]);
    c.check(
        "run: stdout and stderr kept apart",
        out.ok() && out.stdout == "out\n" && out.stderr == "err\n",
        &out,
    );
    let id = start_det1(&mut c, &d);

    // The container really runs under ongi: the shim's options name our binary. Its spec
    // carries Docker's prestart hook (libnetwork-setkey, run by dockerd's binary); a runtime
    // that failed it would have failed every `run` above.
    let options = read_lossy(&d.bundle(&id).join("options.json"));
    c.check(
        "shim runs ongi (bundle options.json binary_name)",
        options.contains(&format!("\"binary_name\":\"{}\"", path_str(&ongi()))),
        &options,
    );
    let spec = read_lossy(&d.bundle(&id).join("config.json"));
    c.check(
        "spec has the libnetwork-setkey prestart hook",
        spec.contains("libnetwork-setkey") && spec.contains("\"prestart\""),
        "no prestart hook in config.json",
    );
    let out = d.docker(&[
        "inspect",
        "-f",
        "{{.State.Status}} {{.HostConfig.Runtime}}",
        "det1",
    ]);
    c.check(
        "inspect: running with runtime ongi",
        out.text() == "running ongi",
        &out,
    );

    check_logs_and_exec(&mut c, &d);

    let out = d.docker(&["update", "--memory", "64m", "--memory-swap", "128m", "det1"]);
    c.check("update --memory 64m", out.ok(), &out);
    let out = d.docker(&[
        "exec",
        "det1",
        "cat",
        "/sys/fs/cgroup/memory/memory.limit_in_bytes",
    ]);
    c.check(
        "update: limit seen inside is 64 MiB",
        out.text() == "67108864",
        &out,
    );

    check_pause_join_exec(&mut c, &d);
    check_top_restart(&mut c, &d);

    // sleep as PID 1 ignores SIGTERM: stop escalates to SIGKILL after 1 s.
    let t0 = std::time::Instant::now();
    let out = d.docker(&["stop", "-t", "1", "det1"]);
    let took = t0.elapsed();
    let st = d.docker(&[
        "inspect",
        "-f",
        "{{.State.Status}} {{.State.ExitCode}}",
        "det1",
    ]);
    c.check(
        "stop -t 1 -> exited 137",
        out.ok() && st.text() == "exited 137",
        format!("{out}\n{st}\ntook {took:?}"),
    );
    let out = d.docker(&["rm", "det1"]);
    c.check("rm", out.ok(), &out);
    let state_dir = d.dir.join("exec/runtime-runc/moby").join(&id);
    c.check(
        "rm leaves no ongi state",
        !state_dir.exists() && !d.bundle(&id).exists(),
        format!("{} still exists", state_dir.display()),
    );

    check_run_tty(&mut c, &d);

    // ongi as the default runtime: `docker info` then runs `ongi --version` and parses
    // runc's format (`NAME version X`, `commit: Y`), and `run` needs no --runtime.
    let reloaded = d.set_default_runtime_ongi();
    let info = d.docker(&["info", "--format", "{{.DefaultRuntime}} {{.RuncCommit.ID}}"]);
    c.check(
        "default-runtime ongi: info parses ongi --version",
        reloaded && info.text() == "ongi unknown",
        format!("reloaded={reloaded}\n{info}"),
    );
    let out = d.docker(&["run", "--rm", "--network", "none", IMAGE, "echo", "default"]);
    c.check(
        "default-runtime ongi: run --rm without --runtime",
        out.ok() && out.stdout == "default\n",
        &out,
    );
    let out = d.docker(&["run", "-d", "--network", "none", IMAGE, "sleep", "1000"]);
    let dflt = out.text().to_string();
    let options = read_lossy(&d.bundle(&dflt).join("options.json"));
    let rm = d.docker(&["rm", "-f", &dflt]);
    c.check(
        "default-runtime ongi: the shim runs ongi",
        out.ok() && rm.ok() && options.contains(path_str(&ongi())),
        format!("{out}\noptions.json: {options}\n{rm}"),
    );

    // Registry round trip: push to a private docker-registry, forget the image, pull it back
    // and run it with ongi.
    let reg = Registry::start(&dir);
    let remote = format!("{}/busybox:latest", reg.addr);
    let out = d.docker(&["tag", IMAGE, &remote]);
    c.check("tag for the registry", out.ok(), &out);
    let out = d.docker(&["push", &remote]);
    let tags = reg.get("/v2/busybox/tags/list").unwrap_or_default();
    c.check(
        "push to the local registry",
        out.ok() && tags.contains("\"latest\""),
        format!("{out}\ntags: {tags}"),
    );
    let out = d.docker(&["rmi", IMAGE, &remote]);
    let gone = d.docker(&["image", "inspect", &remote]);
    c.check("rmi", out.ok() && !gone.ok(), format!("{out}\n{gone}"));
    check_pull_and_run(&mut c, &d, &remote);

    c.finish(|| {
        format!(
            "--- dockerd.log (tail) ---\n{}--- registry log (tail) ---\n{}",
            d.log_tail(60),
            tail(&reg.log(), 20)
        )
    });
}
