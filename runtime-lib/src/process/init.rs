//! Container side of the clone sequence: init sets up the container and execs the user
//! program once `start` opens the exec fifo. Errors go back to the runtime over the channel.

use super::InitConfig;
use crate::channel::{FromInit, InitEnd, ToInit};
use crate::namespaces;
use crate::rootfs;
use crate::security;
use crate::state::EXEC_FIFO;
use nix::sched::CloneFlags;
use std::convert::Infallible;
use std::io::Write;
use std::os::fd::AsRawFd;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};

#[derive(Debug, thiserror::Error)]
pub enum InitError {
    #[error(transparent)]
    Channel(#[from] crate::channel::ChannelError),
    #[error(transparent)]
    Namespace(#[from] crate::namespaces::NamespaceError),
    #[error(transparent)]
    Rootfs(#[from] crate::rootfs::RootfsError),
    #[error(transparent)]
    Security(#[from] crate::security::SecurityError),
    #[error(transparent)]
    Console(#[from] crate::console::ConsoleError),
    #[error(transparent)]
    Hook(#[from] crate::hooks::HookError),
    #[error(transparent)]
    Seccomp(#[from] crate::seccomp::SeccompError),
    #[error(transparent)]
    Cgroup(#[from] crate::cgroups::CgroupError),
    #[error(transparent)]
    Attr(#[from] super::attrs::AttrError),
    #[error("{what} {path}: {errno}")]
    Sys {
        what: &'static str,
        path: PathBuf,
        errno: nix::errno::Errno,
    },
    #[error(transparent)]
    Sysctl(#[from] crate::sysctl::SysctlError),
    #[error(transparent)]
    Cwd(#[from] super::CwdError),
    #[error("exec: {arg0:?}: {reason}")]
    Exec { arg0: String, reason: String },
    #[error("process.rlimits: RLIMIT_NOFILE {limit} is too low: init cannot open the exec fifo: {errno}")]
    NofileTooLow {
        limit: u64,
        errno: nix::errno::Errno,
    },
}

fn sys(
    what: &'static str,
    path: impl Into<PathBuf>,
) -> impl FnOnce(nix::errno::Errno) -> InitError {
    let path = path.into();
    move |errno| InitError::Sys { what, path, errno }
}

/// Init's exit status when it failed after loading the seccomp filter and could not report
/// why over the channel (the profile refuses the write): the runtime explains it.
pub const EXIT_SECCOMP_BLOCKED: i32 = 3;

/// Set once the filter is loaded. Init is a single-threaded process of its own, so this
/// static is init's alone (the runtime's copy stays false).
static SECCOMP_LOADED: AtomicBool = AtomicBool::new(false);

/// Entry point in the cloned child; never returns.
pub fn main(cfg: &InitConfig, chan: InitEnd, joined: bool) -> ! {
    let err = match run(cfg, &chan, joined) {
        Ok(never) => match never {},
        Err(e) => e,
    };
    if chan.send(FromInit::Error(err.to_string())).is_err() {
        // After Ready the runtime is gone: the container's stderr is the only witness.
        // Not eprintln: it panics when stderr fails (e.g. a seccomp profile refusing write).
        let msg = err.to_string();
        let _ = writeln!(
            std::io::stderr(),
            "ongi init: {}",
            crate::escape_controls(&msg)
        );
        if SECCOMP_LOADED.load(Ordering::Relaxed) {
            // Most likely the profile refuses write(2): say so with the exit status.
            // SAFETY: leave without running the runtime's exit handlers.
            unsafe { libc::_exit(EXIT_SECCOMP_BLOCKED) }
        }
    }
    // SAFETY: leave without running the runtime's exit handlers.
    unsafe { libc::_exit(1) }
}

fn run(cfg: &InitConfig, chan: &InitEnd, joined: bool) -> Result<Infallible, InitError> {
    // Before waiting for Go, so the moves overlap the runtime's own work; the limits were
    // written before the clone, and the cgroup namespace is only unshared after Go.
    crate::cgroups::join_self(&cfg.cgroup.self_join)?;
    chan.expect(ToInit::Go)?;
    let ns = &cfg.namespaces;
    if !joined {
        ns.join_all()?;
    }
    if ns.has(CloneFlags::CLONE_NEWUSER) {
        // Become root of the user namespace (mapped by the runtime meanwhile).
        let z = nix::unistd::Gid::from_raw(0);
        nix::unistd::setresgid(z, z, z).map_err(sys("setresgid", "0"))?;
        let z = nix::unistd::Uid::from_raw(0);
        nix::unistd::setresuid(z, z, z).map_err(sys("setresuid", "0"))?;
    }
    if ns.new_cgroup {
        namespaces::unshare(CloneFlags::CLONE_NEWCGROUP)?;
    }
    // Without one, the runtime's (the host's) mount namespace: nothing is mounted (the
    // spec's validation refused whatever would), init is only chrooted, as in runc.
    let own_mnt = ns.has(CloneFlags::CLONE_NEWNS);
    if ns.new.contains(CloneFlags::CLONE_NEWNET) {
        namespaces::loopback_up()?;
    }
    let spec = &cfg.spec;
    // As runc: first thing in the container, before anything can look up keys.
    if let Some(name) = &cfg.session_keyring {
        security::keyring::join_new_session(name).map_err(security::SecurityError::from)?;
    }
    // Device nodes and created dirs must get exactly the modes we ask for.
    nix::sys::stat::umask(nix::sys::stat::Mode::empty());

    if own_mnt {
        rootfs::prepare(&rootfs::Context {
            spec,
            rootfs: &cfg.rootfs,
            bundle: &cfg.bundle,
            new_cgroupns: ns.new_cgroup,
        })?;
    }
    // Before the hooks: createContainer runs in the container's namespaces and should see
    // the container's hostname, not a copy of the host's.
    if let Some(h) = spec.hostname().as_ref().filter(|h| !h.is_empty()) {
        nix::unistd::sethostname(h).map_err(sys("sethostname", h.as_str()))?;
    }
    if let Some(d) = spec.domainname().as_ref().filter(|d| !d.is_empty()) {
        // SAFETY: pointer and length describe the live string `d`.
        let r = unsafe { libc::setdomainname(d.as_ptr().cast(), d.len()) };
        nix::errno::Errno::result(r).map_err(sys("setdomainname", d.as_str()))?;
    }

    let hooks = spec.hooks().as_ref();
    let runtime_hooks = hooks.is_some_and(|h| {
        h.prestart().as_ref().is_some_and(|v| !v.is_empty())
            || h.create_runtime().as_ref().is_some_and(|v| !v.is_empty())
    });
    if runtime_hooks {
        chan.send(FromInit::Hooks)?;
        chan.expect(ToInit::HooksDone)?;
    }
    // Our host pid for the hooks' state: /proc is still the host's until pivot_root.
    let host_pid = crate::hooks::host_pid_from_proc();
    if let Some(h) = hooks.and_then(|h| h.create_container().as_ref()) {
        let state = crate::hooks::with_pid_status(&cfg.hook_state, host_pid, "creating");
        crate::hooks::run_all_raw("createContainer", h, &state)?;
    }
    if !own_mnt {
        rootfs::chroot(&cfg.rootfs)?;
    } else {
        rootfs::enter(&cfg.rootfs, cfg.no_pivot)?;
        // Only now, in the container's view: before pivot_root /proc is the host's, and a
        // key could name any host file. Before readonly/masked paths cover /proc/sys
        // (runc's order).
        crate::sysctl::apply(&cfg.sysctl)?;
        rootfs::finish(spec)?;
    }

    let process = spec.process().as_ref().ok_or_else(|| InitError::Exec {
        arg0: String::new(),
        reason: "no process".into(),
    })?;
    if let Some(sock) = &cfg.console {
        let size = process
            .console_size()
            .map(|b| (b.height() as u16, b.width() as u16));
        crate::console::setup_init(sock.as_raw_fd(), size)?;
    } else if process.terminal().unwrap_or(false) {
        return Err(crate::console::ConsoleError::NoSocket.into());
    }
    if let Some(adj) = process.oom_score_adj() {
        security::set_oom_score_adj(adj)?;
    }
    if let Some(r) = process.rlimits() {
        // The runtime sets them, with its privileges (see security::rlimits::apply).
        chan.send(FromInit::Rlimits)?;
        chan.expect(ToInit::RlimitsDone)?;
        fifo_fd_probe(cfg, r)?;
    }
    // Ignored signals stay ignored across execve; the runtime's (Rust ignores SIGPIPE, a
    // library caller may ignore more) must not leak into the container, as with runc.
    // Before the seccomp filter, so the profile need not allow rt_sigaction.
    reset_signal_dispositions();
    // Before caps are dropped and before the filter: see Attrs::apply.
    cfg.attrs.apply()?;
    // Still open and needed past this point: the channel and the state dir (the exec fifo
    // is opened relative to it); stdio and --preserve-fds belong to the container. Every
    // other fd (the v2 cgroup dir, joined namespaces, the console socket, whatever the
    // caller leaked) is closed before the cwd is entered, so none can be entered as
    // /proc/self/fd/N. All of it before the filter where possible: see `finalize`.
    let nnp = super::finalize(
        process,
        3 + cfg.preserve_fds,
        &[chan.as_raw_fd(), cfg.state_dir.as_raw_fd()],
        || load_seccomp(cfg, chan),
    )?;
    let user = process.user();
    nix::sys::stat::umask(nix::sys::stat::Mode::from_bits_truncate(
        user.umask().unwrap_or(0o022),
    ));

    let x = super::exec_args(process).map_err(|(arg0, reason)| InitError::Exec { arg0, reason })?;
    // From Ready on, `exec` can put processes next to us while we still run the runtime's
    // binary: non-dumpable keeps them from opening /proc/1/exe (the host's ongi) and
    // overwriting it once we exec (CVE-2019-5736). execve of the user program resets it.
    // Before the late filter, so the profile need not allow prctl.
    nix::sys::prctl::set_dumpable(false).map_err(sys("prctl PR_SET_DUMPABLE", "0"))?;
    if nnp {
        // As late as possible, so the profile has to allow as few of init's own syscalls as
        // possible: only the Ready message, the exec fifo and execve follow (runc 1.1.5
        // needs the same after its filter).
        load_seccomp(cfg, chan)?;
    }
    chan.send(FromInit::Ready)?;
    // Blocks until `start` opens the fifo for reading. Relative to the state dir fd, because
    // the fifo's path is outside our root now.
    let fifo = nix::fcntl::openat(
        &cfg.state_dir,
        EXEC_FIFO,
        nix::fcntl::OFlag::O_WRONLY | nix::fcntl::OFlag::O_CLOEXEC,
        nix::sys::stat::Mode::empty(),
    )
    .map_err(sys("open exec fifo", EXEC_FIFO))?;
    // `start` has been called: startContainer hooks run now, before the byte, so that a
    // failing one makes `start` fail (runtime-spec lifecycle step 7): it reads "E" + the
    // error instead of "0".
    if let Some(h) = hooks.and_then(|h| h.start_container().as_ref()) {
        let state = crate::hooks::with_pid_status(&cfg.hook_state, host_pid, "created");
        if let Err(e) = crate::hooks::run_all_raw("startContainer", h, &state) {
            // The runtime no longer listens on the channel; `start` reads the fifo.
            let mut msg = format!("E{e}").into_bytes();
            msg.truncate(4000);
            let _ = nix::unistd::write(&fifo, &msg);
            return Err(e.into());
        }
    }
    nix::unistd::write(&fifo, b"0").map_err(sys("write exec fifo", EXEC_FIFO))?;
    // `fifo` stays open: it is O_CLOEXEC, so `start` sees EOF exactly when execve has
    // replaced us, and only then runs poststart ("after the user process is executed").
    let e = nix::unistd::execve(&x.exe, &x.args, &x.env).unwrap_err();
    // Nobody listens on the channel any more; stderr is the container's.
    let _ = writeln!(
        std::io::stderr(),
        "exec {}: {}",
        x.path.display(),
        crate::sys::errno_text(e)
    );
    // SAFETY: leave without running the runtime's exit handlers.
    unsafe { libc::_exit(127) }
}

/// The exec fifo is opened after Ready, when a failure can no longer fail `create`: with
/// RLIMIT_NOFILE at or below the fds init holds, that open gets EMFILE and init dies while
/// `create` succeeds. Opening (and closing) a descriptor now, under the container's limit,
/// proves that the fifo's open will find a free slot: nothing between here and there keeps
/// another fd open.
fn fifo_fd_probe(
    cfg: &InitConfig,
    limits: &[oci_spec::runtime::PosixRlimit],
) -> Result<(), InitError> {
    let Some(l) = limits
        .iter()
        .find(|l| l.typ() == oci_spec::runtime::PosixRlimitType::RlimitNofile)
    else {
        return Ok(());
    };
    nix::fcntl::openat(
        &cfg.state_dir,
        EXEC_FIFO,
        nix::fcntl::OFlag::O_PATH | nix::fcntl::OFlag::O_CLOEXEC,
        nix::sys::stat::Mode::empty(),
    )
    .map(drop)
    .map_err(|errno| InitError::NofileTooLow {
        limit: l.soft(),
        errno,
    })
}

fn reset_signal_dispositions() {
    use nix::sys::signal::{signal, SigHandler, Signal};
    for sig in Signal::iterator() {
        if sig == Signal::SIGKILL || sig == Signal::SIGSTOP {
            continue;
        }
        // SAFETY: SIG_DFL installs no handler code, so no async-signal-safety concerns.
        let _ = unsafe { signal(sig, SigHandler::SigDfl) };
    }
}

/// Loads the filter compiled by the runtime (if any). With SCMP_ACT_NOTIFY the listener fd
/// goes to the runtime, which hands it to the seccomp agent; init waits until it has, so the
/// agent is there before the first notifying syscall.
fn load_seccomp(cfg: &InitConfig, chan: &InitEnd) -> Result<(), InitError> {
    let Some(prog) = &cfg.seccomp else {
        return Ok(());
    };
    let notify_fd = prog.load()?;
    SECCOMP_LOADED.store(true, Ordering::Relaxed);
    if let Some(fd) = notify_fd {
        // Sending moves our copy; it is closed right after, so it never reaches the container.
        chan.send(FromInit::SeccompFd(fd))?;
        chan.expect(ToInit::SeccompDone)?;
    }
    Ok(())
}

/// PATH lookup with the container's environment, checking executability as the container
/// user, so a missing binary fails `create` (as in runc) instead of the started container.
/// It may run under the container's seccomp filter: stat(2) (newfstatat), not std's statx,
/// which std keeps using once the runtime found it working, and which profiles recorded
/// from runc 1.1 do not list.
pub(super) fn find_executable(arg0: &str, env: &[String]) -> Result<PathBuf, String> {
    use crate::sys::errno_text;
    // runc's wording (Go's errno texts): clients match it, see `errno_text`.
    let check = |p: &Path| -> Result<(), String> {
        let st = nix::sys::stat::stat(p)
            .map_err(|e| format!("stat {}: {}", p.display(), errno_text(e)))?;
        if st.st_mode & libc::S_IFMT == libc::S_IFDIR {
            return Err(format!("{}: is a directory", p.display()));
        }
        crate::sys::executable(p).map_err(|e| format!("{}: {}", p.display(), errno_text(e)))
    };
    if arg0.is_empty() {
        return Err("empty process.args[0]".into());
    }
    if arg0.contains('/') {
        let p = PathBuf::from(arg0);
        return check(&p).map(|()| p);
    }
    let path = env
        .iter()
        .find_map(|e| e.strip_prefix("PATH="))
        .unwrap_or("/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin");
    let mut last = "executable file not found in $PATH".to_string();
    for dir in path.split(':').filter(|d| !d.is_empty()) {
        let p = Path::new(dir).join(arg0);
        match check(&p) {
            Ok(()) => return Ok(p),
            Err(e) if nix::sys::stat::lstat(&p).is_ok() => last = e,
            Err(_) => {}
        }
    }
    Err(last)
}
