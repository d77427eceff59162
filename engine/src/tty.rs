//! The monitor's side of `-t`: the console socket the runtime sends the container's pty
//! master to, and the relay from that master to the log (docker logs a tty's output as
//! stdout) and, for a foreground `run -it`/`start -ai`, to and from the user's terminal:
//! raw mode while attached, the terminal's size copied to the pty at start and whenever
//! `ongictl` forwards a SIGWINCH.

use std::fs;
use std::io;
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, FromRawFd, OwnedFd, RawFd};
use std::os::unix::net::UnixListener;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};

use nix::errno::Errno;
use nix::sys::termios::{cfmakeraw, tcgetattr, tcsetattr, SetArg, Termios};

use crate::logs;

/// Why the pty could not be set up.
#[derive(Debug, thiserror::Error)]
pub enum TtyError {
    /// The console socket.
    #[error("console socket {path}: {source}")]
    Socket {
        /// Its path.
        path: PathBuf,
        /// The cause.
        source: io::Error,
    },
    /// Receiving the master.
    #[error("receive pty master from {path}: {errno}")]
    Receive {
        /// The socket.
        path: PathBuf,
        /// The cause.
        errno: Errno,
    },
}

/// A listening console socket in the container's run dir.
pub struct ConsoleSocket {
    listener: UnixListener,
    /// Its path (for `CreateOptions::console_socket`).
    pub path: PathBuf,
    /// The run dir, held open: `path` names the socket through it.
    _dir: fs::File,
}

impl ConsoleSocket {
    /// Listens at `<run_dir>/console.sock`.
    ///
    /// A run dir's path is longer than a socket address may be (108 bytes), so the socket
    /// is named through `/proc/<monitor>/fd/<run dir fd>`, which the runtime's connect
    /// (made on the host, before it enters any namespace) resolves the same way.
    pub fn listen(run_dir: &Path) -> Result<ConsoleSocket, TtyError> {
        let err = |path: &Path| {
            let path = path.to_path_buf();
            move |source| TtyError::Socket { path, source }
        };
        let real = run_dir.join("console.sock");
        let _ = fs::remove_file(&real);
        let dir = fs::File::open(run_dir).map_err(err(run_dir))?;
        let path = PathBuf::from(format!(
            "/proc/{}/fd/{}/console.sock",
            std::process::id(),
            dir.as_raw_fd()
        ));
        let listener = UnixListener::bind(&path).map_err(err(&real))?;
        Ok(ConsoleSocket {
            listener,
            path,
            _dir: dir,
        })
    }

    /// The master the runtime sent while creating the container (queued in the socket:
    /// the runtime's connect completed against the backlog).
    pub fn receive(self) -> Result<OwnedFd, TtyError> {
        use nix::sys::socket::{recvmsg, ControlMessageOwned, MsgFlags};
        let err = |errno| TtyError::Receive {
            path: self.path.clone(),
            errno,
        };
        self.listener
            .set_nonblocking(true)
            .map_err(|e| err(Errno::from_raw(e.raw_os_error().unwrap_or(0))))?;
        let (conn, _) = self
            .listener
            .accept()
            .map_err(|e| err(Errno::from_raw(e.raw_os_error().unwrap_or(0))))?;
        let _ = conn.set_nonblocking(false);
        let mut buf = [0u8; 256];
        let mut iov = [io::IoSliceMut::new(&mut buf)];
        let mut space = nix::cmsg_space!([RawFd; 1]);
        let msg = recvmsg::<()>(
            conn.as_raw_fd(),
            &mut iov,
            Some(&mut space),
            MsgFlags::MSG_CMSG_CLOEXEC,
        )
        .map_err(err)?;
        for c in msg.cmsgs().map_err(err)? {
            if let ControlMessageOwned::ScmRights(fds) = c {
                if let Some(&fd) = fds.first() {
                    // SAFETY: the kernel just installed this fd in our table; nobody else
                    // owns it.
                    return Ok(unsafe { OwnedFd::from_raw_fd(fd) });
                }
            }
        }
        Err(err(Errno::EBADMSG))
    }
}

impl Drop for ConsoleSocket {
    fn drop(&mut self) {
        let _ = fs::remove_file(&self.path);
    }
}

static WINCH: AtomicBool = AtomicBool::new(false);

extern "C" fn on_winch(_: libc::c_int) {
    WINCH.store(true, Ordering::Relaxed);
}

/// The user's terminal in raw mode while attached; dropping puts it back.
struct Raw<'a> {
    fd: BorrowedFd<'a>,
    saved: Option<Termios>,
}

impl<'a> Raw<'a> {
    fn new(fd: BorrowedFd<'a>) -> Raw<'a> {
        let saved = tcgetattr(fd).ok();
        if let Some(t) = &saved {
            let mut raw = t.clone();
            cfmakeraw(&mut raw);
            let _ = tcsetattr(fd, SetArg::TCSANOW, &raw);
        }
        Raw { fd, saved }
    }
}

impl Drop for Raw<'_> {
    fn drop(&mut self) {
        if let Some(t) = &self.saved {
            let _ = tcsetattr(self.fd, SetArg::TCSANOW, t);
        }
    }
}

/// Gives the pty (`master`) the size of the user's terminal `term` (nothing when `term` is
/// not a terminal).
///
/// The monitor calls it once the master is received and before the container starts:
/// its process reads the size at once (`stty size`, a shell's line editor), and a pty
/// the runtime made without a `consoleSize` is 0x0 until someone sets it. [`relay`]
/// copies it again (and on SIGWINCH) for a resize in between.
pub fn copy_terminal_size(term: BorrowedFd<'_>, master: BorrowedFd<'_>) {
    copy_size(term.as_raw_fd(), master.as_raw_fd());
}

fn copy_size(from: RawFd, to: RawFd) {
    // SAFETY: winsize is plain data; all-zero is a valid value.
    let mut ws: libc::winsize = unsafe { std::mem::zeroed() };
    // SAFETY: TIOCGWINSZ writes into the struct we own, living across the call.
    if unsafe { libc::ioctl(from, libc::TIOCGWINSZ, &mut ws) } == 0 {
        // SAFETY: TIOCSWINSZ reads the struct we own, living across the call.
        unsafe { libc::ioctl(to, libc::TIOCSWINSZ, &ws) };
    }
}

fn write_all(fd: BorrowedFd<'_>, mut data: &[u8]) -> bool {
    while !data.is_empty() {
        match nix::unistd::write(fd, data) {
            Ok(n) => data = &data[n..],
            Err(Errno::EINTR) => {}
            Err(_) => return false,
        }
    }
    true
}

/// Relays the pty until the container's process `pid` exits; returns docker's exit code.
/// `term` is the user's (stdin, stdout) when attached; `interactive` relays stdin too.
pub fn relay(
    pid: i32,
    master: OwnedFd,
    log: &mut logs::Writer,
    term: Option<(BorrowedFd<'_>, BorrowedFd<'_>)>,
    interactive: bool,
    mut attach: Option<&mut crate::attach::Server>,
) -> i32 {
    use nix::poll::{poll, PollFd, PollFlags, PollTimeout};
    use nix::sys::wait::{waitpid, WaitPidFlag, WaitStatus};
    let _raw = match term {
        Some((i, _)) if interactive => Some(Raw::new(i)),
        _ => None,
    };
    if let Some((i, _)) = term {
        copy_size(i.as_raw_fd(), master.as_raw_fd());
        // SAFETY: the handler only stores to an atomic (async-signal-safe); no SA_RESTART,
        // so poll returns EINTR and the size is copied at once.
        unsafe {
            let sa = nix::sys::signal::SigAction::new(
                nix::sys::signal::SigHandler::Handler(on_winch),
                nix::sys::signal::SaFlags::empty(),
                nix::sys::signal::SigSet::empty(),
            );
            let _ = nix::sys::signal::sigaction(nix::sys::signal::Signal::SIGWINCH, &sa);
        }
    }
    let mut stdin_open = interactive && term.is_some();
    let mut master_open = true;
    let mut buf = vec![0u8; 64 * 1024];
    let target = nix::unistd::Pid::from_raw(pid);
    let out =
        |log: &mut logs::Writer, attach: &mut Option<&mut crate::attach::Server>, data: &[u8]| {
            let _ = log.feed(0, data);
            if let Some((_, o)) = term {
                let _ = write_all(o, data);
            }
            if let Some(a) = attach {
                a.send(0, data);
            }
        };
    loop {
        if WINCH.swap(false, Ordering::Relaxed) {
            if let Some((i, _)) = term {
                copy_size(i.as_raw_fd(), master.as_raw_fd());
            }
        }
        let mut fds = vec![];
        if master_open {
            fds.push(PollFd::new(master.as_fd(), PollFlags::POLLIN));
        }
        if let (true, Some((i, _))) = (stdin_open, term) {
            fds.push(PollFd::new(i, PollFlags::POLLIN));
        }
        if let Some(a) = &attach {
            fds.extend(
                a.poll_fds()
                    .into_iter()
                    .map(|f| PollFd::new(f, PollFlags::POLLIN)),
            );
        }
        let _ = poll(&mut fds, PollTimeout::from(crate::health::wait_ms(200)));
        crate::health::tick();
        let ready: Vec<bool> = fds
            .iter()
            .map(|f| f.revents().is_some_and(|r| !r.is_empty()))
            .collect();
        drop(fds);
        if let Some(a) = attach.as_deref_mut() {
            // What attached clients type goes to the pty, as the user's own input does.
            a.service(&mut |d: &[u8]| {
                let _ = write_all(master.as_fd(), d);
            });
        }
        let mut k = 0;
        if master_open {
            if ready[k] {
                match nix::unistd::read(&master, &mut buf) {
                    Ok(0) | Err(Errno::EIO) => master_open = false,
                    Ok(n) => out(log, &mut attach, &buf[..n]),
                    Err(_) => {}
                }
            }
            k += 1;
        }
        if stdin_open && ready.get(k) == Some(&true) {
            if let Some((i, _)) = term {
                match nix::unistd::read(i, &mut buf) {
                    Ok(0) | Err(_) => {
                        // EOF on a pipe: the pty gets the EOF character, as at a terminal.
                        let _ = write_all(master.as_fd(), b"\x04");
                        stdin_open = false;
                    }
                    Ok(n) => {
                        if !write_all(master.as_fd(), &buf[..n]) {
                            stdin_open = false;
                        }
                    }
                }
            }
        }
        let code = match waitpid(target, Some(WaitPidFlag::WNOHANG)) {
            Ok(WaitStatus::Exited(_, c)) => Some(c),
            Ok(WaitStatus::Signaled(_, sig, _)) => Some(128 + sig as i32),
            Err(Errno::ECHILD) => Some(137),
            _ => None,
        };
        if let Some(code) = code {
            // What it wrote last is still in the pty.
            while master_open {
                let mut p = [PollFd::new(master.as_fd(), PollFlags::POLLIN)];
                match poll(&mut p, PollTimeout::ZERO) {
                    Ok(n) if n > 0 => match nix::unistd::read(&master, &mut buf) {
                        Ok(n) if n > 0 => out(log, &mut attach, &buf[..n]),
                        _ => master_open = false,
                    },
                    _ => master_open = false,
                }
            }
            let _ = log.flush_partial();
            return code;
        }
    }
}
