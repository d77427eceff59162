//! The per-container monitor: one small single-threaded process per running container (the
//! `ongi-monitor` binary; podman's conmon is the model). It creates and starts the
//! container through the runtime library itself, owns the container's stdio and writes the
//! json-file log, records exit code, OOM kill and times in state.json, restarts by policy
//! with docker's back-off, and when the container is gone for good unmounts its rootfs and
//! (for `--rm`) hands over to `ongictl rm`. It holds `monitor.lock` for its whole life:
//! that lock, not a pid, is how other commands know it is alive.
//!
//! It reads only files (settings.json), never the metadata database, so it links the
//! runtime library and little else.

use std::fs::{self, File};
use std::io::{self, Read, Write};
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use crate::container::{self, Container, ContainerError, ProcState, Settings};
use crate::logs;
use crate::store::Store;

/// Where a monitor finds its container.
#[derive(Debug, Clone)]
pub struct Paths {
    /// The container's directory (settings.json, state.json, the log, the bundle).
    pub dir: PathBuf,
    /// The container's run directory (monitor.lock).
    pub run_dir: PathBuf,
    /// The runtime library's state root.
    pub runtime_root: PathBuf,
    /// The `ongictl` binary and the store roots, for `--rm`'s hand-over.
    pub ongictl: PathBuf,
    /// `--root` for the hand-over.
    pub root: PathBuf,
    /// `--run-root` for the hand-over.
    pub run_root: PathBuf,
}

/// Why the monitor could not do its job.
#[derive(Debug, thiserror::Error)]
pub enum MonitorError {
    /// A file of the container.
    #[error("{op} {path}: {source}")]
    Io {
        /// What was being done.
        op: &'static str,
        /// The path.
        path: PathBuf,
        /// The cause.
        source: io::Error,
    },
    /// Another monitor holds the container.
    #[error("container {0} already has a monitor")]
    Busy(String),
    /// The runtime refused.
    #[error("{0}")]
    Runtime(Box<ongi::Error>),
    /// The config could not be made.
    #[error(transparent)]
    Spec(#[from] crate::runspec::RunSpecError),
    /// The pty for -t.
    #[error(transparent)]
    Tty(#[from] crate::tty::TtyError),
}

fn ioe<'a>(op: &'static str, path: &'a Path) -> impl FnOnce(io::Error) -> MonitorError + 'a {
    move |source| MonitorError::Io {
        op,
        path: path.to_path_buf(),
        source,
    }
}

/// Messages to the `ongictl` that started the monitor, one line each on the ready fd:
/// `started <pid>`, `error <message>`, `exited <code>`.
struct Notify(Option<File>);

impl Notify {
    fn send(&mut self, line: &str) {
        if let Some(f) = &mut self.0 {
            if f.write_all(format!("{line}\n").as_bytes()).is_err() {
                self.0 = None;
            }
        }
    }
}

/// Runs the monitor; returns its exit status. `ready_fd` is the pipe to the starting
/// `ongictl`; `attach` copies the container's output to the monitor's own stdout/stderr
/// (and the monitor's stdin to the container with -i), for a foreground `run`.
pub fn run(p: &Paths, ready_fd: Option<RawFd>, attach: bool) -> i32 {
    // SAFETY: the fd was handed to us by our parent for this purpose and nothing else owns it.
    let mut notify = Notify(ready_fd.map(|fd| unsafe { File::from_raw_fd(fd) }));
    match supervise(p, &mut notify, attach) {
        Ok(handover) => {
            if let Some(mut cmd) = handover {
                use std::os::unix::process::CommandExt;
                let e = cmd.exec();
                eprintln!("ongi-monitor: {e}");
                return 1;
            }
            0
        }
        Err(e) => {
            // The starting ongictl reports it; without one (or once it is gone) stderr does.
            if notify.0.is_none() {
                eprintln!("ongi-monitor: {e}");
            }
            notify.send(&format!("error {}", e.to_string().replace('\n', " ")));
            1
        }
    }
}

fn supervise(
    p: &Paths,
    notify: &mut Notify,
    attach: bool,
) -> Result<Option<std::process::Command>, MonitorError> {
    fs::create_dir_all(&p.run_dir).map_err(ioe("create", &p.run_dir))?;
    let lock_path = p.run_dir.join("monitor.lock");
    let lock = File::create(&lock_path).map_err(ioe("create", &lock_path))?;
    // SAFETY: lock is an open file; flock keeps no pointer.
    if unsafe { libc::flock(lock.as_raw_fd(), libc::LOCK_EX | libc::LOCK_NB) } != 0 {
        return Err(MonitorError::Busy(p.dir.display().to_string()));
    }
    let sp = p.dir.join("settings.json");
    let s: Settings =
        serde_json::from_slice(&fs::read(&sp).map_err(ioe("read", &sp))?).map_err(|e| {
            MonitorError::Io {
                op: "parse",
                path: sp.clone(),
                source: io::Error::new(io::ErrorKind::InvalidData, e),
            }
        })?;
    let _ = fs::remove_file(p.dir.join("stopped-by-user"));
    let mut log = logs::Writer::open(logs::path(&p.dir, &s.id), s.log_max_size, s.log_max_file)
        .map_err(ioe("open log", &p.dir))?;
    let mut st = container::read_state_at(&p.dir);
    let mut backoff = Duration::from_millis(100);
    let mut first = true;
    loop {
        let started = Instant::now();
        let code = match run_once(p, &s, &mut st, &mut log, notify, attach && first) {
            Ok(c) => c,
            Err(e) => {
                st.status = "exited".into();
                st.exit_code = 127;
                st.error = e.to_string();
                st.finished_at = ongi::rfc3339_now();
                let _ = container::write_state(&p.dir, &st);
                let _ = ongi::Container::new(&p.runtime_root, &s.id).delete(true);
                if first {
                    let _ = unmount(&p.dir);
                    return Err(e);
                }
                -1
            }
        };
        if first {
            notify.send(&format!("exited {code}"));
            notify.0 = None;
        }
        first = false;
        let again = restart_wanted(p, &s, code, st.restart_count);
        if !again {
            break;
        }
        // docker's back-off: 100 ms doubling to a minute, back to 100 ms after 10 s up.
        if started.elapsed() >= Duration::from_secs(10) {
            backoff = Duration::from_millis(100);
        }
        st.status = "restarting".into();
        let _ = container::write_state(&p.dir, &st);
        let until = Instant::now() + backoff;
        while Instant::now() < until {
            if p.dir.join("stopped-by-user").exists() {
                break;
            }
            std::thread::sleep(
                Duration::from_millis(20).min(until.saturating_duration_since(Instant::now())),
            );
        }
        if p.dir.join("stopped-by-user").exists() {
            st.status = "exited".into();
            let _ = container::write_state(&p.dir, &st);
            break;
        }
        backoff = (backoff * 2).min(Duration::from_secs(60));
        st.restart_count += 1;
    }
    let _ = log.flush_partial();
    // Gone for good: its namespace, veth and published ports go now (its address and
    // ports in the database are freed by stop, rm or `system check`).
    crate::network::teardown_files(&p.dir);
    unmount(&p.dir)?;
    drop(lock);
    if s.auto_remove {
        let mut cmd = std::process::Command::new(&p.ongictl);
        cmd.arg("--root")
            .arg(&p.root)
            .arg("--run-root")
            .arg(&p.run_root)
            .args(["rm", "--force", "--volumes", &s.id])
            // rm prints the id it removed: not into a foreground run's output.
            .stdout(std::process::Stdio::null());
        return Ok(Some(cmd));
    }
    Ok(None)
}

fn unmount(dir: &Path) -> Result<(), MonitorError> {
    let target = dir.join("rootfs");
    if container::is_mountpoint(&target) {
        nix::mount::umount2(&target, nix::mount::MntFlags::MNT_DETACH).map_err(|e| {
            MonitorError::Io {
                op: "unmount",
                path: target.clone(),
                source: e.into(),
            }
        })?;
    }
    Ok(())
}

fn pipe() -> Result<(OwnedFd, OwnedFd), MonitorError> {
    nix::unistd::pipe2(nix::fcntl::OFlag::O_CLOEXEC).map_err(|e| MonitorError::Io {
        op: "pipe",
        path: PathBuf::new(),
        source: e.into(),
    })
}

/// Does the restart policy bring the container back after an exit with `code`?
fn restart_wanted(p: &Paths, s: &Settings, code: i32, restarts: u32) -> bool {
    !p.dir.join("stopped-by-user").exists()
        && match s.restart.name.as_str() {
            "always" | "unless-stopped" => true,
            "on-failure" => {
                code != 0 && (s.restart.max_retries == 0 || restarts < s.restart.max_retries)
            }
            _ => false,
        }
}

/// One run of the container: config, stdio, create, start, relay output until it exits.
fn run_once(
    p: &Paths,
    s: &Settings,
    st: &mut ProcState,
    log: &mut logs::Writer,
    notify: &mut Notify,
    attach: bool,
) -> Result<i32, MonitorError> {
    let rootfs = p.dir.join("rootfs");
    let spec = crate::runspec::generate(s, &rootfs, &p.dir)?;
    let cfg = p.dir.join("config.json");
    fs::write(&cfg, serde_json::to_vec_pretty(&spec).unwrap_or_default())
        .map_err(ioe("write", &cfg))?;
    // The config (docker's seccomp profile alone is a few hundred allocations) is on disk
    // now: not kept in memory for the container's life.
    drop(spec);
    let (out_r, out_w) = pipe()?;
    let (err_r, err_w) = pipe()?;
    // -i: a stdin pipe, fed from the starter's stdin when attached, else from `attach`
    // clients (kept open while the container runs).
    let (in_r, in_w) = if s.interactive && !s.tty {
        let (r, w) = pipe()?;
        (r, Some(w))
    } else {
        let n = File::open("/dev/null").map_err(ioe("open", Path::new("/dev/null")))?;
        (OwnedFd::from(n), None)
    };
    let rt = ongi::Container::new(&p.runtime_root, &s.id);
    let _ = rt.delete(true);
    // init inherits the caller's 0, 1 and 2: point them at the container's stdio for the
    // duration of create, then put ours back.
    let saved: Vec<OwnedFd> = (0..3)
        // SAFETY: 0, 1 and 2 are open for the monitor's whole life (/dev/null when detached).
        .map(|fd| nix::unistd::dup(unsafe { std::os::fd::BorrowedFd::borrow_raw(fd) }))
        .collect::<Result<_, _>>()
        .map_err(|e| MonitorError::Io {
            op: "dup stdio",
            path: PathBuf::new(),
            source: e.into(),
        })?;
    let redirect = |fds: [RawFd; 3]| {
        for (i, fd) in fds.iter().enumerate() {
            // SAFETY: dup2 onto 0..2 with fds we hold open.
            unsafe { libc::dup2(*fd, i as RawFd) };
        }
    };
    redirect([in_r.as_raw_fd(), out_w.as_raw_fd(), err_w.as_raw_fd()]);
    // -t: the runtime sends the pty master here (see crate::tty).
    let console = match s.tty {
        true => Some(crate::tty::ConsoleSocket::listen(&p.run_dir)?),
        false => None,
    };
    let created = rt.create(&ongi::CreateOptions {
        bundle: p.dir.clone(),
        console_socket: console.as_ref().map(|c| c.path.clone()),
        ..Default::default()
    });
    redirect([
        saved[0].as_raw_fd(),
        saved[1].as_raw_fd(),
        saved[2].as_raw_fd(),
    ]);
    drop((in_r, out_w, err_w));
    let state = created?;
    let master = match console.map(|c| c.receive()).transpose() {
        Ok(m) => m,
        Err(e) => {
            let _ = rt.delete(true);
            return Err(e.into());
        }
    };
    // The user's terminal size goes to the pty before the process runs, not from the relay
    // loop after start: the process may ask for it first thing (`stty size`) and would
    // see 0x0, racing the bookkeeping between start and the relay.
    if let (true, Some(m)) = (attach, &master) {
        use std::os::fd::AsFd;
        crate::tty::copy_terminal_size(saved[0].as_fd(), m.as_fd());
    }
    match rt.start() {
        // A failed poststart hook is a warning: the container runs; it goes to the log.
        Ok(warnings) => {
            for w in warnings {
                let _ = log.feed(1, format!("ongi-monitor: warning: {w}\n").as_bytes());
            }
        }
        Err(e) => {
            let _ = rt.delete(true);
            return Err(e.into());
        }
    }
    let pid = state.pid;
    *st = ProcState {
        status: "running".into(),
        pid,
        started_at: ongi::rfc3339_now(),
        finished_at: container::ZERO_TIME.into(),
        restart_count: st.restart_count,
        boot_id: crate::system::boot_id(),
        ..Default::default()
    };
    let _ = container::write_state(&p.dir, st);
    notify.send(&format!("started {pid}"));
    // Building the spec and creating the container leave heap that glibc keeps once freed:
    // give it back before the long relay (benches/README.md, "Engine": the monitor's PSS
    // per container against conmon's).
    // SAFETY: malloc_trim only returns free heap memory to the kernel; no pointer is passed.
    unsafe { libc::malloc_trim(0) };
    // Healthchecks run from the relay loops below (see crate::health).
    crate::health::begin(&p.dir, &p.runtime_root, &s.id, pid, s.healthcheck.as_ref());
    // `ongictl attach` clients, served while the process runs (see crate::attach).
    let mut srv = crate::attach::Server::listen(&p.run_dir, s.tty).ok();
    let code = match master {
        Some(m) => {
            use std::os::fd::AsFd;
            let term = attach.then(|| (saved[0].as_fd(), saved[1].as_fd()));
            crate::tty::relay(pid, m, log, term, s.interactive, srv.as_mut())
        }
        None => relay(pid, [out_r, err_r], in_w, log, attach, &saved, srv.as_mut())?,
    };
    drop(srv);
    crate::health::end();
    let oom = rt.oom_kills().map(|n| n > 0).unwrap_or(false);
    let _ = rt.delete(true);
    // A container the policy restarts is "restarting" from its exit on, never "exited" in
    // between (docker shows it so; a reader seeing "exited" would take it as final).
    st.status = if restart_wanted(p, s, code, st.restart_count) {
        "restarting".into()
    } else {
        "exited".into()
    };
    st.pid = 0;
    st.exit_code = code;
    st.oom_killed = oom;
    st.finished_at = ongi::rfc3339_now();
    let _ = container::write_state(&p.dir, st);
    Ok(code)
}

/// Copies the container's output to the log (and, attached, to our stdout/stderr) until it
/// exits; returns docker's exit code (the status, or 128 + the signal).
fn relay(
    pid: i32,
    outs: [OwnedFd; 2],
    stdin_w: Option<OwnedFd>,
    log: &mut logs::Writer,
    attach: bool,
    saved: &[OwnedFd],
    mut srv: Option<&mut crate::attach::Server>,
) -> Result<i32, MonitorError> {
    let mut open = [true, true];
    let mut stdin_w = stdin_w;
    let mut stdin_pending: Vec<u8> = Vec::new();
    if let (false, Some(w)) = (attach, &stdin_w) {
        // SAFETY: fcntl on a pipe end we own; only its status flags change.
        unsafe { libc::fcntl(w.as_raw_fd(), libc::F_SETFL, libc::O_NONBLOCK) };
    }
    // conmon reads 8 KiB at a time; a bigger buffer is resident for the container's life
    // (calloc zeroes a reused chunk) and saves nothing on a json-file log.
    let mut buf = vec![0u8; 16 * 1024];
    let target = nix::unistd::Pid::from_raw(pid);
    loop {
        use nix::poll::{poll, PollFd, PollFlags, PollTimeout};
        use nix::sys::wait::{waitpid, WaitPidFlag, WaitStatus};
        let mut fds = Vec::new();
        let mut which = Vec::new();
        for (i, o) in outs.iter().enumerate() {
            if open[i] {
                fds.push(PollFd::new(o.as_fd_borrowed(), PollFlags::POLLIN));
                which.push(i);
            }
        }
        let stdin_fd = saved[0].as_fd_borrowed();
        if attach && stdin_w.is_some() {
            fds.push(PollFd::new(stdin_fd, PollFlags::POLLIN));
            which.push(2);
        }
        if let Some(a) = &srv {
            for f in a.poll_fds() {
                fds.push(PollFd::new(f, PollFlags::POLLIN));
                which.push(3);
            }
        }
        let timeout = if open.iter().any(|o| *o) {
            PollTimeout::from(crate::health::wait_ms(200))
        } else {
            PollTimeout::from(crate::health::wait_ms(50))
        };
        let _ = poll(&mut fds, timeout);
        crate::health::tick();
        let ready: Vec<(usize, bool)> = fds
            .iter()
            .zip(&which)
            .map(|(f, w)| (*w, f.revents().is_some_and(|r| !r.is_empty())))
            .collect();
        drop(fds);
        // --- attach input (-i without -t, detached): clients' bytes to the stdin pipe ---
        if let Some(a) = srv.as_deref_mut() {
            // Attached, stdin is the starter's: clients only watch.
            a.service(&mut |b| {
                if !attach && stdin_w.is_some() {
                    stdin_pending.extend_from_slice(b);
                }
            });
        }
        if let (false, Some(wr)) = (stdin_pending.is_empty(), &stdin_w) {
            // Non-blocking: a container that does not read its stdin must not stall
            // the relay of its output; the rest is retried at the next turn.
            match nix::unistd::write(wr, &stdin_pending) {
                Ok(n) => drop(stdin_pending.drain(..n)),
                Err(nix::errno::Errno::EAGAIN) => {}
                Err(_) => {
                    stdin_w = None;
                    stdin_pending.clear();
                }
            }
        }
        // --- end attach input ---
        for (w, r) in ready {
            if !r || w == 3 {
                continue;
            }
            if w == 2 {
                // SAFETY: reading into our own buffer from our saved stdin.
                let n =
                    unsafe { libc::read(saved[0].as_raw_fd(), buf.as_mut_ptr().cast(), buf.len()) };
                if n <= 0 {
                    stdin_w = None;
                } else if let Some(wr) = &stdin_w {
                    let mut f = File::from(wr.try_clone().map_err(ioe("dup", Path::new("stdin")))?);
                    if f.write_all(&buf[..n as usize]).is_err() {
                        stdin_w = None;
                    }
                }
                continue;
            }
            let mut f = File::from(
                outs[w]
                    .try_clone()
                    .map_err(ioe("dup", Path::new("stdout")))?,
            );
            match f.read(&mut buf) {
                Ok(0) | Err(_) => open[w] = false,
                Ok(n) => {
                    let _ = log.feed(w, &buf[..n]);
                    if let Some(a) = srv.as_deref_mut() {
                        a.send(w, &buf[..n]);
                    }
                    if attach {
                        let mut o = File::from(
                            saved[1 + w]
                                .try_clone()
                                .map_err(ioe("dup", Path::new("stdout")))?,
                        );
                        let _ = o.write_all(&buf[..n]);
                    }
                }
            }
        }
        match waitpid(target, Some(WaitPidFlag::WNOHANG)) {
            Ok(WaitStatus::Exited(_, c)) => {
                drain(&outs, &mut open, log, attach, saved, &mut buf, srv);
                return Ok(c);
            }
            Ok(WaitStatus::Signaled(_, sig, _)) => {
                drain(&outs, &mut open, log, attach, saved, &mut buf, srv);
                return Ok(128 + sig as i32);
            }
            Ok(_) => {}
            Err(nix::errno::Errno::ECHILD) => return Ok(137),
            Err(_) => {}
        }
    }
}

/// What is still in the pipes after the process exited (a grandchild may hold them open:
/// read what is there without waiting for EOF).
fn drain(
    outs: &[OwnedFd; 2],
    open: &mut [bool; 2],
    log: &mut logs::Writer,
    attach: bool,
    saved: &[OwnedFd],
    buf: &mut [u8],
    mut srv: Option<&mut crate::attach::Server>,
) {
    for w in 0..2 {
        if !open[w] {
            continue;
        }
        let fd = outs[w].as_raw_fd();
        // SAFETY: fcntl on our own fd.
        unsafe {
            libc::fcntl(
                fd,
                libc::F_SETFL,
                libc::fcntl(fd, libc::F_GETFL) | libc::O_NONBLOCK,
            )
        };
        loop {
            // SAFETY: reading into our own buffer.
            let n = unsafe { libc::read(fd, buf.as_mut_ptr().cast(), buf.len()) };
            if n <= 0 {
                break;
            }
            let _ = log.feed(w, &buf[..n as usize]);
            if let Some(a) = srv.as_deref_mut() {
                a.send(w, &buf[..n as usize]);
            }
            if attach {
                // SAFETY: writing our own buffer to our saved stdout/stderr.
                unsafe { libc::write(saved[1 + w].as_raw_fd(), buf.as_ptr().cast(), n as usize) };
            }
        }
        open[w] = false;
    }
    let _ = log.flush_partial();
}

trait BorrowFd {
    fn as_fd_borrowed(&self) -> std::os::fd::BorrowedFd<'_>;
}
impl BorrowFd for OwnedFd {
    fn as_fd_borrowed(&self) -> std::os::fd::BorrowedFd<'_> {
        use std::os::fd::AsFd;
        self.as_fd()
    }
}

/// `stop`: marks the container stopped by the user (so no restart policy brings it back),
/// sends its stop signal, after `timeout` seconds SIGKILL, and waits for its monitor to
/// let go.
pub fn stop(store: &Store, c: &Container, timeout: i64) -> Result<(), ContainerError> {
    stop_wait(store, c, timeout)?;
    crate::network::detach(store, &c.settings.id).map_err(|e| ContainerError::Network(Box::new(e)))
}

fn stop_wait(store: &Store, c: &Container, timeout: i64) -> Result<(), ContainerError> {
    let id = &c.settings.id;
    let dir = store.container_dir(id);
    let _ = fs::write(dir.join("stopped-by-user"), b"");
    let rt = ongi::Container::new(store.runtime_root(), id);
    let sig = c
        .settings
        .stop_signal
        .as_deref()
        .and_then(parse_signal)
        .unwrap_or(nix::sys::signal::Signal::SIGTERM);
    let _ = rt.kill(sig, false);
    // A frozen process cannot act on its signal: thaw it (docker unpauses on stop too).
    if c.state.status == "paused" {
        let _ = rt.resume();
    }
    let deadline = Instant::now() + Duration::from_secs(timeout.max(0) as u64);
    let mut killed = false;
    loop {
        let cur = container::load(store, id)?;
        if !cur.monitored && !cur.running() {
            return Ok(());
        }
        let runtime_gone = rt
            .state()
            .map(|s| s.status == ongi::Status::Stopped)
            .unwrap_or(true);
        if !cur.monitored && runtime_gone {
            return Ok(());
        }
        if Instant::now() >= deadline && !killed {
            let _ = rt.kill(nix::sys::signal::Signal::SIGKILL, true);
            killed = true;
        }
        std::thread::sleep(Duration::from_millis(10));
        if killed && Instant::now() > deadline + Duration::from_secs(30) {
            return Ok(());
        }
    }
}

/// A signal by docker's names: `SIGTERM`, `TERM`, `15`.
pub fn parse_signal(s: &str) -> Option<nix::sys::signal::Signal> {
    use std::str::FromStr;
    if let Ok(n) = s.parse::<i32>() {
        return nix::sys::signal::Signal::try_from(n).ok();
    }
    let up = s.to_ascii_uppercase();
    let name = if up.starts_with("SIG") {
        up
    } else {
        format!("SIG{up}")
    };
    nix::sys::signal::Signal::from_str(&name).ok()
}

/// A started monitor, seen from the `ongictl` that spawned it.
pub struct Handle {
    ready: std::io::BufReader<File>,
    /// The container's host pid.
    pub pid: i32,
    child: std::process::Child,
}

impl Handle {
    /// Waits for the container's first exit (foreground `run`); None if the monitor died
    /// without saying.
    pub fn wait_exit(mut self) -> Option<i32> {
        use std::io::BufRead;
        let mut line = String::new();
        let mut code = None;
        while self.ready.read_line(&mut line).ok()? > 0 {
            if let Some(c) = line.trim().strip_prefix("exited ") {
                code = c.parse().ok();
                break;
            }
            line.clear();
        }
        if code.is_some() && self.child.try_wait().ok().flatten().is_none() {
            // The monitor goes on (restart policy, --rm hand-over) on its own.
            return code;
        }
        let _ = self.child.wait();
        code
    }

    /// Detaches: the monitor lives on; its exit is reaped by whoever inherits it.
    pub fn detach(self) {}

    /// The monitor's pid (a foreground `run -t` forwards SIGWINCH to it).
    pub fn monitor_pid(&self) -> u32 {
        self.child.id()
    }
}

/// The `ongi-monitor` binary: beside the running `ongictl`, or `ONGI_MONITOR`.
pub fn monitor_binary() -> PathBuf {
    companion_binary("ONGI_MONITOR", "ongi-monitor")
}

/// One of the binaries installed beside `ongictl` (`ongi`, `ongi-monitor`, `ongi-dns`):
/// the path in `env`, else beside this program (found through `/proc/self/exe`, or
/// `argv[0]` when this process runs from a protected copy, whose exe is a memfd), else
/// `name` on PATH.
pub fn companion_binary(env: &str, name: &str) -> PathBuf {
    if let Some(p) = std::env::var_os(env) {
        return PathBuf::from(p);
    }
    let beside = |p: PathBuf| p.parent().map(|d| d.join(name)).filter(|b| b.is_file());
    std::env::current_exe()
        .ok()
        .and_then(beside)
        .or_else(|| {
            std::env::args_os()
                .next()
                .map(PathBuf::from)
                .filter(|p| p.components().count() > 1)
                .and_then(beside)
        })
        .unwrap_or_else(|| PathBuf::from(name))
}

/// Starts a monitor for a created or stopped container (the rootfs is mounted first) and
/// waits until the container runs or fails to start. `attach`: the monitor shares our
/// stdio and relays the container's (foreground `run`, `start -a`).
pub fn spawn(store: &Store, s: &Settings, attach: bool) -> Result<Handle, ContainerError> {
    // The network namespace is made and plumbed here, before the monitor, which only
    // joins it (see crate::network).
    crate::network::attach(store, s).map_err(|e| ContainerError::Network(Box::new(e)))?;
    let r = spawn_monitor(store, s, attach);
    if r.is_err() {
        let _ = crate::network::detach(store, &s.id);
    }
    r
}

fn spawn_monitor(store: &Store, s: &Settings, attach: bool) -> Result<Handle, ContainerError> {
    use std::io::BufRead;
    use std::os::unix::process::CommandExt;
    let id = &s.id;
    container::mount_rootfs(store, s)?;
    crate::system::pause_point("start:mounted");
    let fail = |e: io::Error, what: &'static str| {
        ContainerError::Store(crate::store::StoreError::Io {
            op: what,
            path: monitor_binary(),
            source: e,
        })
    };
    let (r, w) =
        nix::unistd::pipe2(nix::fcntl::OFlag::O_CLOEXEC).map_err(|e| fail(e.into(), "pipe for"))?;
    // ONGI_CTL: a protected (memfd) ongictl names its file on disk there, since the
    // hand-over runs after the memfd is gone.
    let me = std::env::var_os("ONGI_CTL")
        .map(PathBuf::from)
        .or_else(|| std::env::current_exe().ok())
        .unwrap_or_else(|| PathBuf::from("ongictl"));
    let mut cmd = std::process::Command::new(monitor_binary());
    cmd.arg("--dir")
        .arg(store.container_dir(id))
        .arg("--run-dir")
        .arg(store.container_run_dir(id))
        .arg("--runtime-root")
        .arg(store.runtime_root())
        .arg("--ongictl")
        .arg(&me)
        .arg("--root")
        .arg(&store.root)
        .arg("--run-root")
        .arg(&store.run_root)
        .args(["--ready-fd", "3"]);
    if attach {
        cmd.arg("--attach");
    } else {
        cmd.stdin(std::process::Stdio::null())
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null());
    }
    let wfd = w.as_raw_fd();
    // SAFETY: between fork and exec only async-signal-safe calls: setsid and dup2.
    unsafe {
        cmd.pre_exec(move || {
            // Its own session: a terminal's ^C or hang-up reaches ongictl, never the monitor.
            libc::setsid();
            if libc::dup2(wfd, 3) < 0 {
                return Err(io::Error::last_os_error());
            }
            Ok(())
        });
    }
    let child = cmd.spawn().map_err(|e| fail(e, "start"))?;
    drop(w);
    let mut ready = std::io::BufReader::new(File::from(r));
    let mut line = String::new();
    loop {
        line.clear();
        let n = ready.read_line(&mut line).unwrap_or(0);
        if n == 0 {
            let _ = container::unmount_rootfs(store, id);
            return Err(ContainerError::StartFailed {
                id: id.clone(),
                message: format!(
                    "{} exited before the container started",
                    monitor_binary().display()
                ),
            });
        }
        let l = line.trim_end();
        if let Some(pid) = l.strip_prefix("started ") {
            return Ok(Handle {
                ready,
                pid: pid.parse().unwrap_or(0),
                child,
            });
        }
        if let Some(msg) = l.strip_prefix("error ") {
            let mut child = child;
            let _ = child.wait();
            return Err(ContainerError::StartFailed {
                id: id.clone(),
                message: msg.to_string(),
            });
        }
    }
}

impl From<ongi::Error> for MonitorError {
    fn from(e: ongi::Error) -> Self {
        MonitorError::Runtime(Box::new(e))
    }
}
