//! containerd 1.6 (Debian's `containerd` package) runs containers through ongi, by way of its
//! runc v2 shim (`containerd-shim-runc-v2`) and `ctr run --runc-binary ONGI`.
//!
//! The test starts a private containerd (its own root, state, sockets and config under a
//! temporary directory, CRI plugin disabled), imports a busybox-static image that it builds
//! itself as an OCI archive, and drives every `ctr` operation that reaches the runtime: run
//! (foreground, detached, with a terminal, --seccomp, --privileged, --with-ns, a memory
//! limit), exit codes, exec (plain, with a terminal, exit code, error), ps, pause/resume,
//! kill, task delete, container rm, plus the error path of a failing create (the shim shows
//! the message ongi wrote to `--log` as JSON).
//!
//! Every client call has a time limit, so a hung runtime fails the test instead of hanging
//! CI. The [`Containerd`] guard tears everything down, also when a check panics: tasks and
//! containers through ctr, then the daemon, then (the test process being a child subreaper)
//! every shim and container process left under it, mounts under the temporary directory,
//! stale shim sockets and the cgroups of the test's containerd namespace.
//!
//! Needs root and the Debian packages from scripts/deps.sh (containerd, busybox-static).
//! The runtime is `$ONGI_TEST_RUNTIME` if set (e.g. `/usr/sbin/runc`, to check the
//! expectations), else the `ongi` binary of this build.

mod common;

use common::clients::containerd::{call_timeout, cleanup_timeout, Daemon};
use common::clients::image::oci_archive;
use common::clients::*;
use common::{path_str, read_opt, wait_until};
use std::fs;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

/// The image the test builds and imports (no registry involved).
const IMAGE: &str = "localhost/ongi-busybox:latest";

/// A private containerd (CRI plugin disabled) and the test's containerd namespace. Dropping
/// it removes the test's tasks and containers through ctr; the [`Daemon`] then tears down
/// the rest.
struct Containerd {
    d: Daemon,
    dir: PathBuf,
    /// containerd namespace of the test; ctr's default cgroupsPath is /<ns>/<id>.
    ns: String,
    runtime: PathBuf,
}

impl Containerd {
    fn start() -> Self {
        let ns = format!("ongi-test-{}", std::process::id());
        let d = Daemon::start_for_ctr("containerd", &ns);
        Containerd {
            dir: d.dir.clone(),
            runtime: d.runtime.clone(),
            d,
            ns,
        }
    }

    fn try_ctr(&self, args: &[&str], timeout: Duration) -> Result<Out, String> {
        self.d.try_ctr(&self.ns, args, timeout)
    }

    /// `ctr ARGS` with the time limit; a time-out fails the test at once (what follows
    /// would only pile up more time-outs).
    fn ctr(&self, args: &[&str]) -> Out {
        self.try_ctr(args, call_timeout())
            .unwrap_or_else(|e| panic!("{e}"))
    }

    /// `ctr ARGS` under a pseudo-terminal (`ctr -t` insists on a console on its stdin).
    fn ctr_tty(&self, args: &[&str]) -> Out {
        run_tty(&self.d.ctr_cmd(&self.ns, args), &self.dir)
    }

    /// Flags of `ctr run`: the runtime under test, a private runtime root and fifo dir (ctr
    /// would otherwise use /run/containerd/runc and /run/containerd/fifo).
    fn run_flags(&self) -> Vec<String> {
        vec![
            "--runc-binary".into(),
            path_str(&self.runtime).into(),
            "--runc-root".into(),
            path_str(&self.runc_root()).into(),
            "--fifo-dir".into(),
            path_str(&self.fifo_dir()).into(),
        ]
    }

    fn runc_root(&self) -> PathBuf {
        self.dir.join("runc-root")
    }

    /// The shim's runtime root when its options name none: a call there did not get
    /// `--runc-root`, nor then `--runc-binary` (ctr's `--no-pivot` replaces both, for one).
    fn default_runc_root(&self) -> PathBuf {
        Path::new("/run/containerd/runc").join(&self.ns)
    }

    fn fifo_dir(&self) -> PathBuf {
        self.dir.join("fifo")
    }

    /// `ctr run FLAGS... IMAGE ID ARGS...` with the runtime under test.
    fn run(&self, flags: &[&str], id: &str, args: &[&str]) -> Out {
        let mut all: Vec<String> = vec!["run".into()];
        all.extend(flags.iter().map(|s| s.to_string()));
        all.extend(self.run_flags());
        all.push(IMAGE.into());
        all.push(id.into());
        all.extend(args.iter().map(|s| s.to_string()));
        let all: Vec<&str> = all.iter().map(String::as_str).collect();
        if flags.contains(&"-t") {
            self.ctr_tty(&all)
        } else {
            self.ctr(&all)
        }
    }

    /// `ctr task exec --exec-id EXEC_ID [FLAGS...] ID ARGS...`.
    fn exec(&self, flags: &[&str], exec_id: &str, id: &str, args: &[&str]) -> Out {
        let fifo = path_str(&self.fifo_dir()).to_string();
        let mut all = vec!["task", "exec", "--fifo-dir", &fifo, "--exec-id", exec_id];
        all.extend_from_slice(flags);
        all.push(id);
        all.extend_from_slice(args);
        if flags.contains(&"-t") {
            self.ctr_tty(&all)
        } else {
            self.ctr(&all)
        }
    }

    /// (pid, status) of a task from `ctr task ls`.
    fn task(&self, id: &str) -> Option<(String, String)> {
        let out = self.ctr(&["task", "ls"]);
        out.stdout.lines().skip(1).find_map(|l| {
            let f: Vec<&str> = l.split_whitespace().collect();
            (f.first() == Some(&id) && f.len() >= 3).then(|| (f[1].to_string(), f[2].to_string()))
        })
    }

    fn task_status(&self, id: &str) -> String {
        self.task(id).map(|t| t.1).unwrap_or_default()
    }

    fn wait_status(&self, id: &str, want: &str) -> Result<(), String> {
        let mut last = String::new();
        if wait_until(Duration::from_secs(10), || {
            last = self.task_status(id);
            last == want
        }) {
            Ok(())
        } else {
            Err(format!("task {id}: status {last:?}, want {want}"))
        }
    }

    fn container_ids(&self) -> Vec<String> {
        let out = self.ctr(&["containers", "ls", "--quiet"]);
        out.stdout.split_whitespace().map(String::from).collect()
    }

    /// Cgroup directories of container `id` (ctr's cgroupsPath /<ns>/<id>) that exist.
    fn cgroup_dirs(&self, id: &str) -> Vec<PathBuf> {
        cgroup_dirs(&format!("{}/{id}", self.ns))
    }

    /// Error unless the runtime left no state and no cgroup of container `id`.
    fn no_trace(&self, id: &str) -> Result<(), String> {
        let state = self.runc_root().join(&self.ns).join(id);
        if state.exists() {
            return Err(format!("runtime state left: {}", state.display()));
        }
        let mut left = Vec::new();
        // The shim deletes the container just after ctr returns.
        wait_until(Duration::from_secs(5), || {
            left = self.cgroup_dirs(id);
            left.is_empty()
        });
        if left.is_empty() {
            Ok(())
        } else {
            Err(format!("cgroups left: {left:?}"))
        }
    }

    fn log_tail(&self, n: usize) -> String {
        self.d.log_tail(n)
    }

    // --- teardown; nothing below may panic (it also runs while a failed test unwinds) ---

    /// Removes the test's tasks and containers the ordinary way, while containerd is up.
    fn remove_containers(&self) {
        let Ok(out) = self.try_ctr(&["containers", "ls", "--quiet"], cleanup_timeout()) else {
            return;
        };
        for id in out.stdout.split_whitespace() {
            let _ = self.try_ctr(&["task", "delete", "--force", id], cleanup_timeout());
            let _ = self.try_ctr(&["containers", "rm", id], cleanup_timeout());
        }
    }
}

impl Drop for Containerd {
    fn drop(&mut self) {
        if self.d.is_running() {
            self.remove_containers();
        }
    }
}

/// The memory limit in the first of `dirs` that has one (v1 memory.limit_in_bytes, v2
/// memory.max).
fn memory_limit(dirs: &[PathBuf]) -> Option<String> {
    dirs.iter().find_map(|d| {
        read_opt(&d.join("memory.limit_in_bytes"))
            .or_else(|| read_opt(&d.join("memory.max")))
            .map(|s| s.trim().to_string())
    })
}

// ---------------------------------------------------------------------------
// The test
// ---------------------------------------------------------------------------

#[test]
fn containerd_runs_containers_through_the_runtime() {
    let started = Instant::now();
    let cd = Containerd::start();
    eprintln!(
        "containerd up in {:?}; runtime {}; namespace {}",
        started.elapsed(),
        cd.runtime.display(),
        cd.ns
    );
    let image = oci_archive(&cd.dir, "image.tar", &[(IMAGE, &["/bin/sh"])]);
    let out = cd.ctr(&["images", "import", path_str(&image)]);
    assert!(out.ok(), "ctr images import: {out}");
    let mut c = Checks::new("containerd");

    // Foreground run: output through the shim's fifos; the shim's delete (and the
    // cleanup binary's `delete --force` after it) leave no state and no cgroup.
    let out = cd.run(&["--rm"], "run1", &["echo", "hi"]);
    c.check_result(
        "ctr run --rm IMAGE echo hi",
        expect_stdout(&out, "hi").and_then(|_| cd.no_trace("run1")),
    );

    let out = cd.run(&["--rm"], "run2", &["sh", "-c", "exit 7"]);
    c.check_result("ctr run exit code 7 passes through", expect_code(&out, 7));

    // Nothing the shim or containerd had open reaches the container: its init (sh, pid 1,
    // kept from exec'ing ls by the `; true`, and without pipes of its own) has fds 0-2 only.
    let out = cd.run(&["--rm"], "run3", &["sh", "-c", "ls /proc/1/fd; true"]);
    c.check_result(
        "ctr run: the container gets fds 0-2 only",
        out.check().and_then(|_| {
            let fds: Vec<&str> = out.stdout.split_whitespace().collect();
            if fds == ["0", "1", "2"] {
                Ok(())
            } else {
                Err(format!("open fds {fds:?}: {out}"))
            }
        }),
    );

    // containerd's default seccomp profile, through the runtime.
    let out = cd.run(
        &["--rm", "--seccomp"],
        "run4",
        &["grep", "^Seccomp:", "/proc/self/status"],
    );
    c.check_result(
        "ctr run --seccomp",
        out.check()
            .and_then(|_| expect_contains(&out, &out.stdout, "2")),
    );

    // A failing create: the shim shows the error ongi wrote to --log (JSON), and ctr
    // removes the container.
    let out = cd.run(&["--rm"], "bad1", &["/nonexistent"]);
    c.check_result(
        "ctr run of a missing binary fails with the runtime's message",
        if out.ok() {
            Err(format!("succeeded: {out}"))
        } else {
            expect_contains(&out, &out.stderr, "OCI runtime create failed")
                .and_then(|_| expect_contains(&out, &out.stderr, "/nonexistent"))
                .and_then(|_| cd.no_trace("bad1"))
        },
    );

    // ctr -t can drop what a process writes just before it exits (ctr's own race, 1 run in
    // ~20 with runc and with ongi alike): the sleep gives it time to copy the line.
    let out = cd.run(&["-t", "--rm"], "tty1", &["sh", "-c", "tty; sleep 0.3"]);
    c.check_result(
        "ctr run -t (console socket)",
        out.check()
            .and_then(|_| expect_contains(&out, &out.stdout, "/dev/pts/")),
    );

    // A detached container for the task operations; its memory limit comes from the spec.
    let out = cd.run(
        &["-d", "--memory-limit", "67108864"],
        "det1",
        &["sleep", "1000"],
    );
    c.check_result(
        "ctr run -d",
        out.check().and_then(|_| cd.wait_status("det1", "RUNNING")),
    );
    c.check_result(
        "ctr run --memory-limit sets the cgroup limit",
        match memory_limit(&cd.cgroup_dirs("det1")) {
            Some(l) if l == "67108864" => Ok(()),
            other => Err(format!("memory limit {other:?}")),
        },
    );

    // Every capability of the bounding set (the host's may lack some), no masked paths.
    let bounding = fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find_map(|l| l.strip_prefix("CapBnd:"))
                .map(|v| v.trim().to_string())
        })
        .unwrap_or_default();
    let out = cd.run(
        &["--rm", "--privileged"],
        "priv1",
        &[
            "sh",
            "-c",
            "grep ^CapEff: /proc/self/status; grep -c ' /proc/kcore ' /proc/self/mountinfo; true",
        ],
    );
    c.check_result(
        "ctr run --privileged",
        out.check().and_then(|_| {
            let lines: Vec<&str> = out.stdout.lines().collect();
            let caps_ok = lines.first().is_some_and(|l| l.ends_with(&bounding));
            if caps_ok && lines.get(1) == Some(&"0") {
                Ok(())
            } else {
                Err(format!(
                    "want CapEff {bounding} and /proc/kcore unmasked: {out}"
                ))
            }
        }),
    );

    // Joining namespaces by path, as CRI does for the containers of a pod.
    let (det1_pid, _) = cd.task("det1").unwrap_or_default();
    let with_pid = format!("pid:/proc/{det1_pid}/ns/pid");
    let with_net = format!("network:/proc/{det1_pid}/ns/net");
    let out = cd.run(
        &["--rm", "--with-ns", &with_pid, "--with-ns", &with_net],
        "join1",
        &[
            "sh",
            "-c",
            "cat /proc/1/cmdline | tr '\\0' ' '; readlink /proc/self/ns/net",
        ],
    );
    let det1_net = fs::read_link(format!("/proc/{det1_pid}/ns/net"))
        .map(|p| p.display().to_string())
        .unwrap_or_default();
    c.check_result(
        "ctr run --with-ns pid:... --with-ns network:... (a running container's)",
        out.check()
            .and_then(|_| expect_contains(&out, &out.stdout, "sleep 1000"))
            .and_then(|_| expect_contains(&out, &out.stdout, &det1_net)),
    );

    let out = cd.exec(&[], "e1", "det1", &["echo", "hi-exec"]);
    c.check_result("ctr task exec", expect_stdout(&out, "hi-exec"));

    let out = cd.exec(&[], "e2", "det1", &["sh", "-c", "exit 3"]);
    c.check_result(
        "ctr task exec exit code 3 passes through",
        expect_code(&out, 3),
    );

    let out = cd.exec(&[], "e3", "det1", &["/nonexistent"]);
    c.check_result(
        "ctr task exec of a missing binary fails with the runtime's message",
        if out.ok() {
            Err(format!("succeeded: {out}"))
        } else {
            expect_contains(&out, &out.stderr, "OCI runtime exec failed")
                .and_then(|_| expect_contains(&out, &out.stderr, "/nonexistent"))
        },
    );

    let out = cd.exec(&["-t"], "t1", "det1", &["sh", "-c", "tty; sleep 0.3"]);
    c.check_result(
        "ctr task exec -t (console socket)",
        out.check()
            .and_then(|_| expect_contains(&out, &out.stdout, "/dev/pts/")),
    );

    // `ps --format json` must list host pids: the init's pid is among them.
    let init_pid = cd.task("det1").map(|t| t.0).unwrap_or_default();
    let out = cd.ctr(&["task", "ps", "det1"]);
    c.check_result(
        "ctr task ps",
        out.check().and_then(|_| {
            let pids: Vec<&str> = out
                .stdout
                .lines()
                .skip(1)
                .filter_map(|l| l.split_whitespace().next())
                .collect();
            if !init_pid.is_empty() && pids.contains(&init_pid.as_str()) {
                Ok(())
            } else {
                Err(format!("init pid {init_pid:?} not listed: {out}"))
            }
        }),
    );

    let out = cd.ctr(&["task", "metrics", "det1"]);
    c.check_result("ctr task metrics", out.check());

    let out = cd.ctr(&["task", "pause", "det1"]);
    c.check_result(
        "ctr task pause",
        out.check().and_then(|_| cd.wait_status("det1", "PAUSED")),
    );
    let out = cd.ctr(&["task", "resume", "det1"]);
    c.check_result(
        "ctr task resume",
        out.check().and_then(|_| cd.wait_status("det1", "RUNNING")),
    );

    // SIGTERM: `sleep` as pid 1 of its namespace has no handler, so it ignores it.
    let out = cd.ctr(&["task", "kill", "det1"]);
    c.check_result(
        "ctr task kill (SIGTERM, ignored by pid 1)",
        out.check().and_then(|_| {
            std::thread::sleep(Duration::from_millis(200));
            cd.wait_status("det1", "RUNNING")
        }),
    );
    let out = cd.ctr(&["task", "kill", "--signal", "SIGKILL", "det1"]);
    c.check_result(
        "ctr task kill -s SIGKILL",
        out.check().and_then(|_| cd.wait_status("det1", "STOPPED")),
    );
    let out = cd.ctr(&["task", "delete", "det1"]);
    c.check_result("ctr task delete", out.check());
    let out = cd.ctr(&["containers", "rm", "det1"]);
    c.check_result(
        "ctr container rm",
        out.check().and_then(|_| cd.no_trace("det1")),
    );

    // A paused task: SIGKILL must take effect (ongi once left it frozen with the signal
    // pending, and `ctr task delete --force`, which kills and waits, hung).
    for (id, how) in [("pz1", "kill"), ("pz2", "delete")] {
        let out = cd.run(&["-d"], id, &["sleep", "1000"]);
        let paused = out
            .check()
            .and_then(|_| cd.ctr(&["task", "pause", id]).check())
            .and_then(|_| cd.wait_status(id, "PAUSED"));
        let result = paused.and_then(|_| match how {
            "kill" => cd
                .ctr(&["task", "kill", "--signal", "SIGKILL", id])
                .check()
                .and_then(|_| cd.wait_status(id, "STOPPED"))
                .and_then(|_| cd.ctr(&["task", "delete", id]).check()),
            _ => cd.ctr(&["task", "delete", "--force", id]).check(),
        });
        let removed = cd.ctr(&["containers", "rm", id]).check();
        c.check_result(
            &format!("ctr task {how} of a paused task"),
            result.and(removed).and_then(|_| cd.no_trace(id)),
        );
    }
    c.check_result(
        "no container left",
        match cd.container_ids() {
            ids if ids.is_empty() => Ok(()),
            ids => Err(format!("containers left: {ids:?}")),
        },
    );

    c.check_result(
        "no runtime call fell back to the shim's default root (and binary)",
        if cd.default_runc_root().exists() {
            Err(format!("{} exists", cd.default_runc_root().display()))
        } else {
            Ok(())
        },
    );

    eprintln!("containerd checks done in {:?}", started.elapsed());
    c.finish(|| {
        format!(
            "containerd log (warnings and errors, with the shim's):\n{}",
            cd.log_tail(40)
        )
    });
}
