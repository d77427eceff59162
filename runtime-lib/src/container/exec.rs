//! `exec`: a new process in a running container (runc's setns process). This file owns
//! the order of the steps, under the container's lock; the mechanics (flag merge, checks,
//! namespace join, cgroup placement, the clone sequence, the signal proxy) are in
//! `crate::process::exec`.

use super::{write_pid_file, Container};
use crate::channel;
use crate::process::exec::{
    check_process, init_root, kill_child, open_namespaces, parse_sub_cgroups, spawn,
    wait_forwarding, CgroupTarget, ExecError, ExecOptions, ExecOutcome, Notify, Setup,
};
use crate::process::tty_relay;
use crate::spec::Bundle;
use crate::state::{self, oci_state, status_of, StateDir, Status};
use crate::Error;

impl Container {
    /// Runs a new process in the container's namespaces and cgroup. Without `detach`, waits
    /// for it and returns its exit status, forwarding SIGHUP, SIGINT, SIGQUIT, SIGTERM,
    /// SIGUSR1/2, SIGALRM, SIGCONT and SIGWINCH sent to the caller meanwhile (runc's signal
    /// proxy); with `detach`, returns its host pid once it has exec'd. `pid_file` is written
    /// in both cases. The caller must be single-threaded, as for `create`.
    pub fn exec(&self, opts: &ExecOptions) -> Result<ExecOutcome, Error> {
        // The new process is a clone of us: see crate::caller.
        crate::caller::check()?;
        // The state lock is held only while the process is set up: a foreground exec
        // must not block `kill`/`delete` of the container for as long as it runs.
        let (pid, master) = {
            let sd = StateDir::open(&self.root, &self.id)?;
            let st = sd
                .load()?
                .ok_or_else(|| ExecError::Creating(self.id.clone()))?;
            match status_of(&sd, &st) {
                Status::Stopped => return Err(ExecError::Stopped.into()),
                Status::Paused if !opts.ignore_paused => return Err(ExecError::Paused.into()),
                Status::Creating => return Err(ExecError::Creating(self.id.clone()).into()),
                _ => {}
            }
            state::pause_point("exec:locked");
            // Without --process the bundle's current config.json gives the defaults (as
            // runc reads it); the container's seccomp profile and personality come from
            // its state, as they were at create, and apply to every process in it.
            let (process, attrs) = match &opts.process {
                Some(_) => check_process(opts, None, st.personality)?,
                None => {
                    let bundle = Bundle::load(&st.bundle)?;
                    check_process(opts, bundle.spec.process().as_ref(), st.personality)?
                }
            };
            // Compiled here, before any fork, as for create; no work without linux.seccomp.
            let seccomp = match &st.seccomp {
                Some(s) => Some(crate::seccomp::cache::compile_cached(s, &self.root)?),
                None => None,
            };
            // With a tty and no console socket, a foreground exec relays the pty itself
            // (runc does too); a detached one would leave nobody holding the master.
            let (console, relay_end) =
                match (&opts.console_socket, process.terminal().unwrap_or(false)) {
                    (Some(p), true) => (Some(crate::console::connect(p)?), None),
                    (None, true) if !opts.detach => {
                        let (ours, theirs) =
                            tty_relay::socket_pair().map_err(|errno| ExecError::Tty {
                                op: "socketpair",
                                errno,
                            })?;
                        (Some(theirs), Some(ours))
                    }
                    (None, true) => return Err(crate::console::ConsoleError::NoSocket.into()),
                    _ => (None, None),
                };
            let subs = parse_sub_cgroups(&opts.sub_cgroups)?;
            let ns = open_namespaces(st.pid)?;
            // A container without a mount namespace of its own is only chrooted: the new
            // process is chrooted into init's root.
            let root = init_root(st.pid, &ns)?;
            // The fds are pinned now; make sure they belong to init and not to a process
            // that recycled its pid meanwhile.
            if !state::process_alive(st.pid, st.pid_start) {
                return Err(ExecError::Stopped.into());
            }
            let (parent, child) = channel::pair()?;
            let setup = Setup {
                process: &process,
                console: console.as_ref(),
                preserve_fds: opts.preserve_fds,
                seccomp: seccomp.as_ref(),
                attrs: &attrs,
                root: root.as_ref(),
            };
            let notify = Notify {
                seccomp: st.seccomp.as_ref(),
                state: oci_state(&sd, &st),
            };
            let cg = CgroupTarget {
                dirs: &st.cgroup_dirs,
                init_pid: st.pid,
                subs: &subs,
            };
            let pid = spawn(&setup, &ns, &cg, &notify, parent, child)?;
            let relay = match relay_end.map(|s| tty_relay::receive_master(&s)) {
                None => None,
                Some(Ok(master)) => Some(master),
                Some(Err(errno)) => {
                    kill_child(pid);
                    return Err(ExecError::Tty {
                        op: "receive pty master",
                        errno,
                    }
                    .into());
                }
            };
            (pid, relay)
        };
        if let Some(pf) = &opts.pid_file {
            if let Err(e) = write_pid_file(pf, pid) {
                // Nobody could find or wait for the process: do not leave it behind (runc
                // terminates it too).
                kill_child(pid);
                return Err(e);
            }
        }
        if opts.detach {
            return Ok(ExecOutcome::Detached(pid));
        }
        Ok(ExecOutcome::Exited(wait_forwarding(
            pid,
            master.map(tty_relay::Relay::new),
        )))
    }
}
