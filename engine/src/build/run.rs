//! A build step's filesystem: an overlay of the parent's layers with a fresh upper
//! directory ([`Step`]); for RUN, a container on it made by the `ongi` binary, network
//! `none` unless asked, its stdout and stderr handed back line by line. The
//! step's directory, mount and container are gone when the [`Step`] is dropped, whether the
//! step worked or not.

use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use super::BuildError;
use crate::container::{self, Settings};
use crate::store::Store;

fn ioe<'a>(op: &'static str, p: &'a Path) -> impl FnOnce(std::io::Error) -> BuildError + 'a {
    move |source| BuildError::Io {
        op,
        path: p.to_path_buf(),
        source,
    }
}

/// A mounted step: `dir/rootfs` is the overlay, `dir/upper` collects the change.
pub struct Step {
    /// The step's directory.
    pub dir: PathBuf,
    /// The merged rootfs.
    pub rootfs: PathBuf,
    container: Option<(PathBuf, String)>,
}

impl Step {
    /// Mounts `lowers` (layer directories, top first) with a new upper in `dir`.
    pub fn mount(dir: &Path, lowers: &[String]) -> Result<Step, BuildError> {
        for d in ["upper", "work", "rootfs"] {
            fs::create_dir_all(dir.join(d)).map_err(ioe("create", dir))?;
        }
        let step = Step {
            dir: dir.to_path_buf(),
            rootfs: dir.join("rootfs"),
            container: None,
        };
        mount_volatile(lowers, dir, &step.rootfs).map_err(ioe("mount overlay on", &step.rootfs))?;
        Ok(step)
    }

    /// A read-only view of `lowers` (top first) for a step to read from (`COPY --from`):
    /// one layer is its own directory, several an overlay without an upper directory,
    /// none an empty directory. No upper means no sync of the filesystem on unmount and no
    /// directories to delete, which a cached step would otherwise pay for each time.
    pub fn read_only(dir: &Path, lowers: &[String]) -> Result<Step, BuildError> {
        let mut step = Step {
            dir: dir.to_path_buf(),
            rootfs: dir.join("rootfs"),
            container: None,
        };
        match lowers {
            [one] => step.rootfs = PathBuf::from(one),
            [] => fs::create_dir_all(&step.rootfs).map_err(ioe("create", dir))?,
            _ => {
                fs::create_dir_all(&step.rootfs).map_err(ioe("create", dir))?;
                nix::mount::mount(
                    Some("overlay"),
                    &step.rootfs,
                    Some("overlay"),
                    nix::mount::MsFlags::MS_RDONLY,
                    Some(format!("lowerdir={}", lowers.join(":")).as_str()),
                )
                .map_err(|e| ioe("mount overlay on", &step.rootfs)(e.into()))?;
            }
        }
        Ok(step)
    }

    /// The upper directory (valid once [`Step::unmount`] ran).
    pub fn upper(&self) -> PathBuf {
        self.dir.join("upper")
    }

    /// Unmounts the overlay (the upper directory stays for the layer tar).
    pub fn unmount(&self) -> Result<(), BuildError> {
        if container::is_mountpoint(&self.rootfs) {
            nix::mount::umount2(&self.rootfs, nix::mount::MntFlags::MNT_DETACH)
                .map_err(|e| ioe("unmount", &self.rootfs)(e.into()))?;
        }
        Ok(())
    }

    /// Runs `s` (its args, env, user, cwd, network) as a container on the rootfs and waits;
    /// returns the exit code. The container's stdout and stderr (one pipe, in the order it
    /// wrote them) reach `line` a whole line at a time.
    ///
    /// The container is made by the `ongi` binary, not by the runtime library in this
    /// process: stages build on threads, and cloning a container's init from a threaded
    /// process could leave it holding another thread's allocator lock; a child process
    /// also gets its own stdio without touching this process's fds 0-2, which the other
    /// stages' output shares.
    pub fn run(
        &mut self,
        store: &Store,
        s: &Settings,
        line: &mut dyn FnMut(&str),
    ) -> Result<i32, BuildError> {
        let hosts = "127.0.0.1\tlocalhost\n::1\tlocalhost ip6-localhost ip6-loopback\n";
        let resolv = fs::read("/etc/resolv.conf").unwrap_or_default();
        for (f, data) in [
            ("hosts", hosts.as_bytes().to_vec()),
            ("hostname", format!("{}\n", s.hostname).into_bytes()),
            ("resolv.conf", resolv),
        ] {
            fs::write(self.dir.join(f), data).map_err(ioe("write", &self.dir))?;
        }
        // `--network NAME|bridge`: attached for this step only (its hosts and resolv.conf
        // replace those above), detached when it ends, whatever the outcome.
        if crate::network::is_bridged(&s.network) {
            crate::network::attach_step(store, s, &self.dir)
                .map_err(|e| BuildError::Runtime(e.to_string()))?;
        }
        let r = self.run_attached(store, s, line);
        if crate::network::is_bridged(&s.network) {
            let _ = crate::network::detach_step(store, &s.id, &self.dir);
        }
        r
    }

    fn run_attached(
        &mut self,
        store: &Store,
        s: &Settings,
        line: &mut dyn FnMut(&str),
    ) -> Result<i32, BuildError> {
        use std::io::BufRead;
        let spec = crate::runspec::generate(s, &self.rootfs, &self.dir)?;
        let cfg = self.dir.join("config.json");
        fs::write(&cfg, serde_json::to_vec(&spec).unwrap_or_default())
            .map_err(ioe("write", &cfg))?;
        let runtime_root = store.runtime_root();
        self.container = Some((runtime_root.clone(), s.id.clone()));
        let (r, w) = nix::unistd::pipe2(nix::fcntl::OFlag::O_CLOEXEC)
            .map_err(|e| ioe("pipe for", &self.dir)(e.into()))?;
        let w2 = w.try_clone().map_err(ioe("pipe for", &self.dir))?;
        let bin = runtime_binary();
        let mut cmd = Command::new(&bin);
        cmd.arg("--root")
            .arg(&runtime_root)
            .args(["run", "--bundle"])
            .arg(&self.dir)
            .arg(&s.id)
            .stdin(Stdio::null())
            .stdout(Stdio::from(w))
            .stderr(Stdio::from(w2));
        let child = cmd.spawn();
        // The command holds the pipe's write ends: gone now, so the read below ends when
        // the container's last process does.
        drop(cmd);
        let mut child = child.map_err(ioe("run", &bin))?;
        let mut rd = std::io::BufReader::new(fs::File::from(r));
        let mut buf = Vec::new();
        loop {
            buf.clear();
            match rd.read_until(b'\n', &mut buf) {
                Ok(0) => break,
                Ok(_) => {
                    let l = String::from_utf8_lossy(&buf);
                    line(l.strip_suffix('\n').unwrap_or(&l));
                }
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
                Err(_) => break,
            }
        }
        let status = child.wait().map_err(ioe("wait for", &bin))?;
        self.container = None;
        use std::os::unix::process::ExitStatusExt;
        Ok(status
            .code()
            .or_else(|| status.signal().map(|sig| 128 + sig))
            .unwrap_or(1))
    }
}

/// The `ongi` runtime binary: `ONGI_RUNTIME`, else beside this program, else on PATH.
pub fn runtime_binary() -> PathBuf {
    crate::monitor::companion_binary("ONGI_RUNTIME", "ongi")
}

/// The step's overlay, `volatile` where the kernel has it (5.10): a step's upper directory
/// becomes a layer through a tar that is synced on its own, so the unmount need not sync
/// the whole filesystem, which costs tens of ms on a busy disk per step.
fn mount_volatile(lowers: &[String], dir: &Path, target: &Path) -> std::io::Result<()> {
    match container::mount_overlay_with(lowers, dir, target, Some("volatile")) {
        Err(nix::errno::Errno::EINVAL) => container::mount_overlay(lowers, dir, target),
        r => r.map_err(std::io::Error::from),
    }
}

impl Drop for Step {
    fn drop(&mut self) {
        if let Some((root, id)) = self.container.take() {
            let _ = ongi::Container::new(&root, &id).delete(true);
        }
        let _ = self.unmount();
        let _ = fs::remove_dir_all(&self.dir);
    }
}
