//! `attach`: the monitor serves `<run dir>/attach.sock` while its container runs and sends
//! every new piece of output to each connected client: raw for a -t container (and input
//! from clients goes to its pty), otherwise framed as docker's stdcopy does (8-byte header:
//! stream 1 or 2, three zero bytes, big-endian length). Clients get EOF when the
//! container's process exits. Input from clients goes to the container's stdin (its pty
//! with -t, its stdin pipe for a container run with -i): a client that has no more input
//! half-closes its end and keeps receiving output; the container's stdin stays open for
//! later clients, as docker's does for a container not started attached (no StdinOnce).
//!
//! The socket's address is given as `/proc/<pid>/fd/<run dir fd>/attach.sock` on both
//! sides: a run dir path is longer than a unix socket address may be.

use std::fs::{self, File};
use std::io::{self, Read, Write};
use std::os::fd::{AsFd, AsRawFd, BorrowedFd};
use std::os::unix::net::{UnixListener, UnixStream};
use std::path::{Path, PathBuf};

fn short_path(dir: &File) -> PathBuf {
    PathBuf::from(format!(
        "/proc/{}/fd/{}/attach.sock",
        std::process::id(),
        dir.as_raw_fd()
    ))
}

/// The monitor's end.
pub struct Server {
    listener: UnixListener,
    /// Each client, and whether it may still send input (false once it half-closed).
    clients: Vec<(UnixStream, bool)>,
    tty: bool,
    path: PathBuf,
    _dir: File,
}

impl Server {
    /// Listens in `run_dir`; `tty`: raw output and input to the pty.
    pub fn listen(run_dir: &Path, tty: bool) -> io::Result<Server> {
        let _ = fs::remove_file(run_dir.join("attach.sock"));
        let dir = File::open(run_dir)?;
        let path = short_path(&dir);
        let listener = UnixListener::bind(&path)?;
        listener.set_nonblocking(true)?;
        Ok(Server {
            listener,
            clients: vec![],
            tty,
            path,
            _dir: dir,
        })
    }

    /// The fds to poll for readiness (the listener, then the clients).
    pub fn poll_fds(&self) -> Vec<BorrowedFd<'_>> {
        std::iter::once(self.listener.as_fd())
            .chain(
                self.clients
                    .iter()
                    .filter(|(_, reading)| *reading)
                    .map(|(c, _)| c.as_fd()),
            )
            .collect()
    }

    /// Accepts new clients and reads what they sent (passed to `input`); drops the
    /// ones that left. A client at the end of its input still gets output.
    pub fn service(&mut self, input: &mut dyn FnMut(&[u8])) {
        while let Ok((c, _)) = self.listener.accept() {
            if c.set_nonblocking(true).is_ok() {
                self.clients.push((c, true));
            }
        }
        let mut buf = [0u8; 4096];
        self.clients.retain_mut(|(c, reading)| loop {
            if !*reading {
                return true;
            }
            match c.read(&mut buf) {
                Ok(0) => {
                    *reading = false;
                    return true;
                }
                Ok(n) => input(&buf[..n]),
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => return true,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(_) => return false,
            }
        });
    }

    /// Sends output of `stream` (0 stdout, 1 stderr) to every client; a client that
    /// cannot keep up is dropped rather than blocking the container's output.
    pub fn send(&mut self, stream: usize, data: &[u8]) {
        if self.clients.is_empty() {
            return;
        }
        let mut frame = Vec::with_capacity(data.len() + 8);
        if !self.tty {
            frame.extend_from_slice(&[stream as u8 + 1, 0, 0, 0]);
            frame.extend_from_slice(&(data.len() as u32).to_be_bytes());
        }
        frame.extend_from_slice(data);
        self.clients.retain_mut(|(c, _)| {
            let _ = c.set_nonblocking(false);
            let _ = c.set_write_timeout(Some(std::time::Duration::from_millis(500)));
            let ok = c.write_all(&frame).is_ok();
            let _ = c.set_nonblocking(true);
            ok
        });
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = fs::remove_file(&self.path);
    }
}

/// How a client's attach ended.
#[derive(Debug, PartialEq, Eq)]
pub enum Ended {
    /// The container's process exited (the monitor closed the stream).
    Exited,
    /// The user typed the detach keys (ctrl-p ctrl-q).
    Detached,
}

/// `ongictl attach`: relays the container's output to our stdout/stderr and, with
/// `input` (a container run with -i), our stdin to it (raw mode on a terminal for a -t
/// container), until it exits or the user detaches. At the end of our input the socket is
/// half-closed and output goes on.
pub fn client(run_dir: &Path, tty: bool, input: bool) -> io::Result<Ended> {
    use nix::poll::{poll, PollFd, PollFlags, PollTimeout};
    let dir = File::open(run_dir)?;
    let mut sock = UnixStream::connect(short_path(&dir))?;
    let stdin = io::stdin();
    let saved = if tty && input {
        nix::sys::termios::tcgetattr(stdin.as_fd()).ok()
    } else {
        None
    };
    if let Some(t) = &saved {
        let mut raw = t.clone();
        nix::sys::termios::cfmakeraw(&mut raw);
        let _ =
            nix::sys::termios::tcsetattr(stdin.as_fd(), nix::sys::termios::SetArg::TCSANOW, &raw);
    }
    let restore = || {
        if let Some(t) = &saved {
            let _ = nix::sys::termios::tcsetattr(
                io::stdin().as_fd(),
                nix::sys::termios::SetArg::TCSANOW,
                t,
            );
        }
    };
    let mut stdin_open = input;
    let mut pending: Vec<u8> = vec![];
    let mut buf = vec![0u8; 64 * 1024];
    let mut last_ctrl_p = false;
    let ended = loop {
        let mut fds = vec![PollFd::new(sock.as_fd(), PollFlags::POLLIN)];
        if stdin_open {
            fds.push(PollFd::new(stdin.as_fd(), PollFlags::POLLIN));
        }
        if poll(&mut fds, PollTimeout::NONE).is_err() {
            continue;
        }
        let ready: Vec<bool> = fds
            .iter()
            .map(|f| f.revents().is_some_and(|r| !r.is_empty()))
            .collect();
        drop(fds);
        if ready[0] {
            let n = sock.read(&mut buf)?;
            if n == 0 {
                break Ended::Exited;
            }
            if tty {
                let mut o = io::stdout().lock();
                o.write_all(&buf[..n])?;
                o.flush()?;
            } else {
                pending.extend_from_slice(&buf[..n]);
                while pending.len() >= 8 {
                    let len = u32::from_be_bytes([pending[4], pending[5], pending[6], pending[7]])
                        as usize;
                    if pending.len() < 8 + len {
                        break;
                    }
                    let stderr = pending[0] == 2;
                    let frame: Vec<u8> = pending.drain(..8 + len).collect();
                    if stderr {
                        let mut e = io::stderr().lock();
                        e.write_all(&frame[8..])?;
                        e.flush()?;
                    } else {
                        let mut o = io::stdout().lock();
                        o.write_all(&frame[8..])?;
                        o.flush()?;
                    }
                }
            }
        }
        if stdin_open && ready.get(1) == Some(&true) {
            let n = nix::unistd::read(&stdin, &mut buf).unwrap_or(0);
            if n == 0 {
                stdin_open = false;
                if !tty {
                    let _ = sock.shutdown(std::net::Shutdown::Write);
                }
                continue;
            }
            // docker's detach keys: ctrl-p then ctrl-q (on a terminal).
            for b in buf[..n].iter().filter(|_| tty) {
                if last_ctrl_p && *b == 0x11 {
                    restore();
                    return Ok(Ended::Detached);
                }
                last_ctrl_p = *b == 0x10;
            }
            sock.write_all(&buf[..n])?;
        }
    };
    restore();
    Ok(ended)
}
