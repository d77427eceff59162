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

mod clients_common;

use clients_common::*;

#[test]
fn docker_drives_ongi() {
    let dir = test_dir("docker");
    let _dir_guard = DirGuard(dir.clone());
    let image = build_image(&dir);
    let d = Dockerd::start(&dir);
    let mut c = Checks::new("docker");

    let info = d.docker(&["info", "--format", "{{json .Runtimes}}"]);
    c.check(
        "info lists runtime ongi",
        info.ok() && info.stdout.contains(&path_string(&ongi())),
        &info,
    );

    let load = d.docker(&["load", "-i", &path_string(&image)]);
    c.check("load", load.ok() && load.stdout.contains(IMAGE), &load);

    let run = |args: &[&str]| {
        let mut v = vec!["run", "--runtime", "ongi", "--network", "none"];
        v.extend_from_slice(args);
        d.docker(&v)
    };

    let out = run(&["--rm", IMAGE, "echo", "hi"]);
    c.check("run --rm echo hi", out.ok() && out.stdout == "hi\n", &out);

    let out = run(&["--rm", IMAGE, "sh", "-c", "exit 7"]);
    c.check(
        "run: exit code 7 passed through",
        out.code() == Some(7),
        &out,
    );

    let out = run(&["--rm", IMAGE, "sh", "-c", "echo out; echo err >&2"]);
    c.check(
        "run: stdout and stderr kept apart",
        out.ok() && out.stdout == "out\n" && out.stderr == "err\n",
        &out,
    );

    // Docker turns runc's exec error texts into exit codes: 127 for a missing command, 126
    // for one that cannot be executed.
    let out = run(&["--rm", IMAGE, "/no/such/binary"]);
    c.check(
        "run of a missing binary -> 127",
        out.code() == Some(127),
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
        "--tmpfs",
        "/scratch",
        IMAGE,
        "sh",
        "-c",
        "touch /x 2>/dev/null && echo rootfs-writable; touch /scratch/y && echo tmpfs-ok",
    ]);
    c.check(
        "run --read-only --tmpfs",
        out.ok() && out.stdout == "tmpfs-ok\n",
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
    let out = run(&[
        "--rm",
        "--cap-drop",
        "ALL",
        "--ulimit",
        "nofile=500:600",
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
    let out = run(&["--rm", "--init", IMAGE, "ps", "-o", "pid,comm"]);
    c.check(
        "run --init (docker-init is PID 1)",
        out.ok()
            && out
                .stdout
                .lines()
                .nth(1)
                .is_some_and(|l| l.trim() == "1 docker-init"),
        &out,
    );
    let mut cmd = d.cli();
    cmd.args([
        "run",
        "--rm",
        "-i",
        "--runtime",
        "ongi",
        "--network",
        "none",
        IMAGE,
        "cat",
    ]);
    let out = run_with_stdin(&mut cmd, &d.dir, "stdin-data");
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

    // The container really runs under ongi: the shim's options name our binary. Its spec
    // carries Docker's prestart hook (libnetwork-setkey, run by dockerd's binary); a runtime
    // that failed it would have failed every `run` above.
    let options = read_lossy(&d.bundle(&id).join("options.json"));
    c.check(
        "shim runs ongi (bundle options.json binary_name)",
        options.contains(&format!("\"binary_name\":\"{}\"", path_string(&ongi()))),
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

    let logs_ok = wait_until(std::time::Duration::from_secs(10), || {
        d.docker(&["logs", "det1"]).stdout == "started\n"
    });
    let out = d.docker(&["logs", "det1"]);
    c.check("logs of run -d", logs_ok, &out);

    let out = d.docker(&["exec", "det1", "echo", "hi-exec"]);
    c.check("exec", out.ok() && out.stdout == "hi-exec\n", &out);

    let out = d.docker(&["exec", "det1", "sh", "-c", "exit 5"]);
    c.check(
        "exec: exit code 5 passed through",
        out.code() == Some(5),
        &out,
    );

    let out = d.docker_tty(&["exec", "-t", "det1", "tty"]);
    c.check(
        "exec -t has a tty",
        out.ok() && out.text().starts_with("/dev/pts/"),
        &out,
    );

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

    let out = d.docker(&["pause", "det1"]);
    let st = d.docker(&["inspect", "-f", "{{.State.Status}}", "det1"]);
    c.check(
        "pause -> paused",
        out.ok() && st.text() == "paused",
        format!("{out}\n{st}"),
    );
    let out = d.docker(&["unpause", "det1"]);
    let st = d.docker(&["inspect", "-f", "{{.State.Status}}", "det1"]);
    c.check(
        "unpause -> running",
        out.ok() && st.text() == "running",
        format!("{out}\n{st}"),
    );
    let out = d.docker(&["exec", "det1", "echo", "thawed"]);
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

    let out = d.docker(&[
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

    let out = d.docker(&["top", "det1"]);
    c.check(
        "top lists sleep 1000",
        out.ok() && out.stdout.contains("sleep 1000"),
        &out,
    );

    let out = d.docker(&["restart", "-t", "1", "det1"]);
    let st = d.docker(&["inspect", "-f", "{{.State.Status}}", "det1"]);
    let ex = d.docker(&["exec", "det1", "echo", "restarted"]);
    c.check(
        "restart -t 1 -> running again",
        out.ok() && st.text() == "running" && ex.stdout == "restarted\n",
        format!("{out}\n{st}\n{ex}"),
    );

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

    let out = d.docker_tty(&[
        "run",
        "--rm",
        "-t",
        "--runtime",
        "ongi",
        "--network",
        "none",
        IMAGE,
        "tty",
    ]);
    c.check(
        "run -t has a tty",
        out.ok() && out.text() == "/dev/pts/0",
        &out,
    );

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
        out.ok() && rm.ok() && options.contains(&path_string(&ongi())),
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
    let out = d.docker(&["pull", &remote]);
    c.check("pull from the local registry", out.ok(), &out);
    let out = run(&["--rm", &remote, "echo", "pulled"]);
    c.check(
        "run the pulled image",
        out.ok() && out.stdout == "pulled\n",
        &out,
    );

    c.finish(|| {
        format!(
            "--- dockerd.log (tail) ---\n{}--- registry log (tail) ---\n{}",
            d.log_tail(60),
            tail(&reg.log(), 20)
        )
    });
}

/// `docker run --rm IMAGE true` with ongi, runc and crun (registered as runtimes `ongi`,
/// `bench-runc`, `bench-crun`), interleaved; prints the medians. Run by benches/clients.sh.
#[test]
#[ignore]
fn bench_run_rm_latency() {
    let dir = test_dir("dbench");
    let _dir_guard = DirGuard(dir.clone());
    let image = build_image(&dir);
    let runtimes = bench_runtimes(&dir);
    let d = Dockerd::start(&dir);
    let load = d.docker(&["load", "-i", &path_string(&image)]);
    assert!(load.ok(), "{load}");
    let names = ["ongi", "bench-runc", "bench-crun"];
    let extra: Vec<(&str, &std::path::Path)> = names[1..]
        .iter()
        .zip(&runtimes[1..])
        .map(|(n, (_, p))| (*n, p.as_path()))
        .collect();
    assert!(d.add_runtimes(&extra), "dockerd did not take the runtimes");
    bench_run_rm("docker", &runtimes, |i, id| {
        d.docker(&[
            "run",
            "--rm",
            "--runtime",
            names[i],
            "--network",
            "none",
            "--name",
            id,
            IMAGE,
            "true",
        ])
    });
}
