//! process.terminal: a pty created inside the container, master sent over --console-socket.

use nix::errno::Errno;
use nix::fcntl::OFlag;
use nix::sys::socket::{sendmsg, ControlMessage, MsgFlags};
use std::io::IoSlice;
use std::os::fd::{AsRawFd, OwnedFd, RawFd};
use std::path::{Path, PathBuf};

/// The container's terminal could not be set up.
#[derive(Debug, thiserror::Error)]
pub enum ConsoleError {
    /// The console socket could not be connected to.
    #[error("console socket {path}: connect: {errno}")]
    Connect {
        /// The socket (`--console-socket`).
        path: PathBuf,
        /// The error connect returned.
        errno: Errno,
    },
    /// Making the pty or sending its master failed.
    #[error("console: {op}: {errno}")]
    Pty {
        /// The operation.
        op: &'static str,
        /// The error it returned.
        errno: Errno,
    },
    /// Binding the pty on the container's /dev/console failed.
    #[error("/dev/console: {op}: {errno}")]
    DevConsole {
        /// The operation.
        op: &'static str,
        /// The error it returned.
        errno: Errno,
    },
    /// process.terminal is set but no console socket was given.
    #[error("cannot allocate tty if the runtime will detach without setting console socket")]
    NoSocket,
}

/// Connects to the console socket in the runtime, before any namespace is entered: the
/// socket path is a host path.
pub fn connect(path: &Path) -> Result<OwnedFd, ConsoleError> {
    use nix::sys::socket::{connect, socket, AddressFamily, SockFlag, SockType, UnixAddr};
    let err = |errno| ConsoleError::Connect {
        path: path.to_path_buf(),
        errno,
    };
    let fd = socket(
        AddressFamily::Unix,
        SockType::Stream,
        SockFlag::SOCK_CLOEXEC,
        None,
    )
    .map_err(err)?;
    let addr = UnixAddr::new(path).map_err(err)?;
    connect(fd.as_raw_fd(), &addr).map_err(err)?;
    Ok(fd)
}

/// In init, after pivot_root: `setup` plus the container's /dev/console bound to the pty.
pub fn setup_init(socket: RawFd, size: Option<(u16, u16)>) -> Result<(), ConsoleError> {
    open_pty(socket, size, true)
}

/// Opens a pty from the container's devpts, makes the slave the controlling terminal and
/// stdio, and hands the master to whoever listens on `socket`. For exec'd processes:
/// /dev/console stays the init's, as in runc.
pub fn setup(socket: RawFd, size: Option<(u16, u16)>) -> Result<(), ConsoleError> {
    open_pty(socket, size, false)
}

fn open_pty(
    socket: RawFd,
    size: Option<(u16, u16)>,
    dev_console: bool,
) -> Result<(), ConsoleError> {
    let pty = |op| move |errno| ConsoleError::Pty { op, errno };
    let master = nix::pty::posix_openpt(OFlag::O_RDWR | OFlag::O_NOCTTY | OFlag::O_CLOEXEC)
        .map_err(pty("open /dev/ptmx"))?;
    nix::pty::grantpt(&master).map_err(pty("grantpt"))?;
    nix::pty::unlockpt(&master).map_err(pty("unlockpt"))?;
    let name = nix::pty::ptsname_r(&master).map_err(pty("ptsname"))?;
    if let Some((rows, cols)) = size {
        let ws = libc::winsize {
            ws_row: rows,
            ws_col: cols,
            ws_xpixel: 0,
            ws_ypixel: 0,
        };
        // SAFETY: TIOCSWINSZ reads a winsize struct that lives across the call.
        let _ = unsafe { libc::ioctl(master.as_raw_fd(), libc::TIOCSWINSZ, &ws) };
    }
    let slave = nix::fcntl::open(
        name.as_str(),
        OFlag::O_RDWR | OFlag::O_NOCTTY,
        nix::sys::stat::Mode::empty(),
    )
    .map_err(pty("open pty slave"))?;
    if dev_console {
        bind_dev_console(&name)?;
    }
    let fds = [master.as_raw_fd()];
    let cmsg = [ControlMessage::ScmRights(&fds)];
    let payload = name.as_bytes();
    sendmsg::<()>(
        socket,
        &[IoSlice::new(payload)],
        &cmsg,
        MsgFlags::empty(),
        None,
    )
    .map_err(pty("send pty master"))?;
    drop(master);
    nix::unistd::setsid().map_err(pty("setsid"))?;
    // SAFETY: TIOCSCTTY takes an int argument; no memory is passed.
    if unsafe { libc::ioctl(slave.as_raw_fd(), libc::TIOCSCTTY, 0) } < 0 {
        return Err(pty("TIOCSCTTY")(Errno::last()));
    }
    for target in 0..3 {
        // SAFETY: dup2 onto the standard fds; both fds are valid.
        if unsafe { libc::dup2(slave.as_raw_fd(), target) } < 0 {
            return Err(pty("dup2 pty slave")(Errno::last()));
        }
    }
    Ok(())
}

/// config-linux.md: "/dev/console is set up if terminal is enabled in the config by bind
/// mounting the pseudoterminal pty to /dev/console". As runc: an empty regular file is the
/// mount point (a character device there would be a second way into the host's console).
fn bind_dev_console(slave: &str) -> Result<(), ConsoleError> {
    let err = |op| move |errno| ConsoleError::DevConsole { op, errno };
    let console = Path::new("/dev/console");
    // O_EXCL: never open whatever is already there (a device node would be opened for
    // real); an existing file or node is simply the mount point.
    match nix::fcntl::open(
        console,
        OFlag::O_CREAT | OFlag::O_EXCL | OFlag::O_WRONLY | OFlag::O_NOFOLLOW | OFlag::O_CLOEXEC,
        nix::sys::stat::Mode::from_bits_truncate(0o600),
    ) {
        Ok(fd) => drop(fd),
        Err(Errno::EEXIST) => {}
        // /dev is part of a read-only root (no tmpfs on /dev): nowhere to put a mount point,
        // and failing the container for it would break configs that worked before.
        Err(Errno::EROFS) => return Ok(()),
        Err(e) => return Err(err("create mount point")(e)),
    }
    nix::mount::mount(
        Some(slave),
        console,
        None::<&str>,
        nix::mount::MsFlags::MS_BIND,
        None::<&str>,
    )
    .map_err(err("bind pty slave"))
}
