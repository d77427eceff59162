//! A build step's filesystem: an overlay of the parent's layers with a fresh upper
//! directory ([`Step`]); for RUN, a container through the runtime library on it, network
//! `none` unless asked, its stdout and stderr the build's own (or a file under `-q`). The
//! step's directory, mount and container are gone when the [`Step`] is dropped, whether the
//! step worked or not.

use std::fs;
use std::os::fd::{AsRawFd, OwnedFd};
use std::path::{Path, PathBuf};

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
        container::mount_overlay(lowers, dir, &step.rootfs)
            .map_err(ioe("mount overlay on", &step.rootfs))?;
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
    /// returns the exit code. With `capture`, the output goes to that file.
    pub fn run(
        &mut self,
        store: &Store,
        s: &Settings,
        capture: Option<&Path>,
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
        let r = self.run_attached(store, s, capture);
        if crate::network::is_bridged(&s.network) {
            let _ = crate::network::detach_step(store, &s.id, &self.dir);
        }
        r
    }

    fn run_attached(
        &mut self,
        store: &Store,
        s: &Settings,
        capture: Option<&Path>,
    ) -> Result<i32, BuildError> {
        let spec = crate::runspec::generate(s, &self.rootfs, &self.dir)?;
        let cfg = self.dir.join("config.json");
        fs::write(&cfg, serde_json::to_vec(&spec).unwrap_or_default())
            .map_err(ioe("write", &cfg))?;
        let runtime_root = store.runtime_root();
        self.container = Some((runtime_root.clone(), s.id.clone()));
        let rt = ongi::Container::new(&runtime_root, &s.id);
        let null = fs::File::open("/dev/null").map_err(ioe("open", Path::new("/dev/null")))?;
        let out: Option<OwnedFd> = match capture {
            Some(p) => Some(OwnedFd::from(
                fs::File::create(p).map_err(ioe("create", p))?,
            )),
            None => None,
        };
        use std::io::Write;
        let _ = std::io::stdout().flush();
        let _ = std::io::stderr().flush();
        // The container's init inherits our 0, 1 and 2: stdin from /dev/null, output ours
        // or the capture file, for the duration of the run; then ours back.
        let saved: Vec<OwnedFd> = (0..3)
            // SAFETY: 0, 1 and 2 are open for the process's whole life.
            .map(|fd| nix::unistd::dup(unsafe { std::os::fd::BorrowedFd::borrow_raw(fd) }))
            .collect::<Result<_, _>>()
            .map_err(|e| ioe("dup stdio", &self.dir)(e.into()))?;
        let redirect = |fds: [i32; 3]| {
            for (i, fd) in fds.iter().enumerate() {
                // SAFETY: dup2 of fds we hold open onto 0..2.
                unsafe { libc::dup2(*fd, i as i32) };
            }
        };
        let o = out.as_ref().map_or(saved[1].as_raw_fd(), |f| f.as_raw_fd());
        let e = out.as_ref().map_or(saved[2].as_raw_fd(), |f| f.as_raw_fd());
        redirect([null.as_raw_fd(), o, e]);
        let r = rt.run(
            &ongi::CreateOptions {
                bundle: self.dir.clone(),
                ..Default::default()
            },
            false,
        );
        redirect([
            saved[0].as_raw_fd(),
            saved[1].as_raw_fd(),
            saved[2].as_raw_fd(),
        ]);
        match r {
            Ok(ongi::RunOutcome::Exited { status, .. }) => {
                self.container = None;
                Ok(status)
            }
            Ok(ongi::RunOutcome::Detached { .. }) => Err(BuildError::Runtime("detached".into())),
            Err(e) => Err(BuildError::Runtime(e.to_string())),
        }
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
