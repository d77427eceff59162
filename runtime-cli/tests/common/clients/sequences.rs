//! The check sequences the docker and podman tests share: the same client commands (docker's
//! and podman's CLIs agree on them), the same expectations, parameterised by [`Client`] where
//! the two differ. Each test calls them in order, with its client's own checks in between.

use super::*;

/// `--init`'s process as a client shows it.
pub struct Init {
    /// Its name in the check's name, e.g. `docker-init`.
    pub name: &'static str,
    /// The `ps -o` format the check lists processes with.
    pub ps_format: &'static str,
    /// Whether the line of PID 1 in that listing is the init's.
    pub is_pid1: fn(&str) -> bool,
}

/// What the shared sequences need of a client, and where docker and podman differ.
pub trait Client {
    /// `docker` or `podman` (only for messages).
    fn name(&self) -> &'static str;
    /// The dir the client's calls keep their output files in.
    fn dir(&self) -> &Path;
    /// The client's command with the test's global flags and environment.
    fn cli(&self) -> Command;
    /// Flags after `run` of every container of the test: the runtime, no network.
    fn run_flags(&self) -> &'static [&'static str];
    /// The dir `run --read-only` makes writable (`--tmpfs` for docker; podman mounts a
    /// tmpfs on /tmp of a read-only container by itself), and whether it needs `--tmpfs`.
    fn read_only_scratch(&self) -> (&'static str, bool);
    /// `--ulimit` flags to add to a `run` that sets one (podman's `--ulimit` replaces its
    /// configured defaults).
    fn extra_ulimits(&self) -> &'static [&'static str];
    fn init(&self) -> Init;
    /// Whether the client shows ongi's error text for a missing binary (podman reads the
    /// runtime's JSON `--log`).
    fn shows_runtime_errors(&self) -> bool;
    /// Flags of `pull` from the plain-HTTP local registry.
    fn pull_flags(&self) -> &'static [&'static str];

    /// `CLIENT ARGS` with the step time limit.
    #[track_caller]
    fn call(&self, args: &[&str]) -> Out {
        run_step(self.cli().args(args), self.dir())
    }
    /// `CLIENT ARGS` under a pty.
    #[track_caller]
    fn call_tty(&self, args: &[&str]) -> Out {
        let mut c = self.cli();
        c.args(args);
        run_tty(&c, self.dir())
    }
    /// `CLIENT run RUN_FLAGS ARGS`.
    #[track_caller]
    fn run(&self, args: &[&str]) -> Out {
        let mut v = vec!["run"];
        v.extend_from_slice(self.run_flags());
        v.extend_from_slice(args);
        self.call(&v)
    }
}

/// `run`: output, exit codes (the command's, and 127/126 for exec errors), common options
/// each checked from inside, stdin.
pub fn check_run(c: &mut Checks, cl: &impl Client) {
    let out = cl.run(&["--rm", IMAGE, "echo", "hi"]);
    c.check("run --rm echo hi", out.ok() && out.stdout == "hi\n", &out);

    let out = cl.run(&["--rm", IMAGE, "sh", "-c", "exit 7"]);
    c.check(
        "run: exit code 7 passed through",
        out.code() == Some(7),
        &out,
    );

    // Both clients turn runc's exec error texts into exit codes: 127 for a missing command,
    // 126 for one that cannot be executed.
    let out = cl.run(&["--rm", IMAGE, "/no/such/binary"]);
    if cl.shows_runtime_errors() {
        c.check(
            "run of a missing binary: exit 127 and ongi's error shown",
            out.code() == Some(127) && out.stderr.contains("/no/such/binary"),
            &out,
        );
    } else {
        c.check(
            "run of a missing binary -> 127",
            out.code() == Some(127),
            &out,
        );
    }
    let out = cl.run(&["--rm", IMAGE, "no-such-command"]);
    c.check(
        "run of a command not in PATH -> 127",
        out.code() == Some(127),
        &out,
    );
    let out = cl.run(&["--rm", IMAGE, "/etc/passwd"]);
    c.check(
        "run of a non-executable file -> 126",
        out.code() == Some(126),
        &out,
    );

    let out = cl.run(&[
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

    let (scratch, tmpfs) = cl.read_only_scratch();
    let script = format!(
        "touch /x 2>/dev/null && echo rootfs-writable; touch {scratch}/y && echo scratch-ok"
    );
    let mut args = vec!["--rm", "--read-only"];
    if tmpfs {
        args.extend(["--tmpfs", scratch]);
    }
    args.extend([IMAGE, "sh", "-c", &script]);
    let out = cl.run(&args);
    c.check(
        if tmpfs {
            "run --read-only --tmpfs"
        } else {
            "run --read-only"
        },
        out.ok() && out.stdout == "scratch-ok\n",
        &out,
    );

    let out = cl.run(&[
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

    let mut args = vec!["--rm", "--cap-drop", "ALL", "--ulimit", "nofile=500:600"];
    args.extend_from_slice(cl.extra_ulimits());
    args.extend([
        IMAGE,
        "sh",
        "-c",
        "grep CapEff /proc/self/status; ulimit -n; ulimit -Hn",
    ]);
    let out = cl.run(&args);
    c.check(
        "run --cap-drop ALL --ulimit",
        out.ok() && out.stdout == "CapEff:\t0000000000000000\n500\n600\n",
        &out,
    );

    let init = cl.init();
    let out = cl.run(&["--rm", "--init", IMAGE, "ps", "-o", init.ps_format]);
    c.check(
        &format!("run --init ({} is PID 1)", init.name),
        out.ok()
            && out
                .stdout
                .lines()
                .nth(1)
                .is_some_and(|l| (init.is_pid1)(l.trim())),
        &out,
    );

    let mut cmd = cl.cli();
    cmd.arg("run")
        .args(cl.run_flags())
        .args(["--rm", "-i", IMAGE, "cat"]);
    let out = run_with_stdin(&mut cmd, cl.dir(), "stdin-data");
    c.check(
        "run -i passes stdin",
        out.ok() && out.stdout == "stdin-data",
        &out,
    );
}

/// `run -d --name det1` of a `sleep 1000` that prints `started` first; returns its id.
pub fn start_det1(c: &mut Checks, cl: &impl Client) -> String {
    let out = cl.run(&[
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
    id
}

/// On det1: logs, exec (output, exit code, terminal).
pub fn check_logs_and_exec(c: &mut Checks, cl: &impl Client) {
    let logs_ok = wait_until(Duration::from_secs(10), || {
        cl.call(&["logs", "det1"]).stdout == "started\n"
    });
    let out = cl.call(&["logs", "det1"]);
    c.check("logs of run -d", logs_ok, &out);

    let out = cl.call(&["exec", "det1", "echo", "hi-exec"]);
    c.check("exec", out.ok() && out.stdout == "hi-exec\n", &out);

    let out = cl.call(&["exec", "det1", "sh", "-c", "exit 5"]);
    c.check(
        "exec: exit code 5 passed through",
        out.code() == Some(5),
        &out,
    );

    let out = cl.call_tty(&["exec", "-t", "det1", "tty"]);
    c.check(
        "exec -t has a tty",
        out.ok() && out.text().starts_with("/dev/pts/"),
        &out,
    );
}

/// On det1: pause and unpause, joining its pid namespace by path, exec with user, cwd, env.
pub fn check_pause_join_exec(c: &mut Checks, cl: &impl Client) {
    let out = cl.call(&["pause", "det1"]);
    let st = cl.call(&["inspect", "-f", "{{.State.Status}}", "det1"]);
    c.check(
        "pause -> paused",
        out.ok() && st.text() == "paused",
        format!("{out}\n{st}"),
    );
    let out = cl.call(&["unpause", "det1"]);
    let st = cl.call(&["inspect", "-f", "{{.State.Status}}", "det1"]);
    c.check(
        "unpause -> running",
        out.ok() && st.text() == "running",
        format!("{out}\n{st}"),
    );
    let out = cl.call(&["exec", "det1", "echo", "thawed"]);
    c.check("exec after unpause", out.stdout == "thawed\n", &out);

    // Joining another container's namespaces by path.
    let out = cl.run(&[
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

    let out = cl.call(&[
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
}

/// On det1: top (the runtime's `ps`), restart.
pub fn check_top_restart(c: &mut Checks, cl: &impl Client) {
    let out = cl.call(&["top", "det1"]);
    c.check(
        "top lists sleep 1000",
        out.ok() && out.stdout.contains("sleep 1000"),
        &out,
    );

    let out = cl.call(&["restart", "-t", "1", "det1"]);
    let st = cl.call(&["inspect", "-f", "{{.State.Status}}", "det1"]);
    let ex = cl.call(&["exec", "det1", "echo", "restarted"]);
    c.check(
        "restart -t 1 -> running again",
        out.ok() && st.text() == "running" && ex.stdout == "restarted\n",
        format!("{out}\n{st}\n{ex}"),
    );
}

/// `run --rm -t`: the container's stdio is a terminal.
pub fn check_run_tty(c: &mut Checks, cl: &impl Client) {
    let mut v = vec!["run"];
    v.extend_from_slice(cl.run_flags());
    v.extend(["--rm", "-t", IMAGE, "tty"]);
    let out = cl.call_tty(&v);
    c.check(
        "run -t has a tty",
        out.ok() && out.text() == "/dev/pts/0",
        &out,
    );
}

/// Pulls `remote` back from the local registry and runs it.
pub fn check_pull_and_run(c: &mut Checks, cl: &impl Client, remote: &str) {
    let mut v = vec!["pull"];
    v.extend_from_slice(cl.pull_flags());
    v.push(remote);
    let out = cl.call(&v);
    c.check("pull from the local registry", out.ok(), &out);
    let out = cl.run(&["--rm", remote, "echo", "pulled"]);
    c.check(
        "run the pulled image",
        out.ok() && out.stdout == "pulled\n",
        &out,
    );
}
