//! The container's filesystem view: mounts from config.json, devices, /dev symlinks,
//! pivot_root (or MS_MOVE+chroot), masked and readonly paths, readonly root.
//!
//! Runs in init, inside the new mount namespace. `prepare` happens before pivot_root (paths
//! are host paths, targets are resolved inside the rootfs fd); `finish` after it.

mod cgroupfs;
mod devices;
pub mod options;
mod resolve;

use crate::sys::fd_path;
use nix::errno::Errno;
use nix::mount::{mount, umount2, MntFlags, MsFlags};
use oci_spec::runtime::{Mount, Spec};
use options::MountOptions;
use resolve::Kind;
use std::os::fd::{AsRawFd, OwnedFd};
use std::path::{Path, PathBuf};

#[derive(Debug, thiserror::Error)]
pub enum RootfsError {
    #[error("mount {source_path} on {dest} (type {fstype}): {op}: {errno}")]
    Mount {
        source_path: String,
        dest: PathBuf,
        fstype: String,
        op: &'static str,
        errno: Errno,
    },
    #[error("{path}: {op}: {errno}")]
    Path {
        path: PathBuf,
        op: &'static str,
        errno: Errno,
    },
    #[error("invalid rootfsPropagation {0:?}")]
    Propagation(String),
    /// runc refuses it too: the mount would hide the whole rootfs (and everything mounted
    /// in it so far) under, say, an empty tmpfs.
    #[error("mount {source_path} on {dest} (type {fstype}): the destination resolves to the container's root")]
    CoversRoot {
        source_path: String,
        dest: PathBuf,
        fstype: String,
    },
    /// runc refuses it too: a procfs or sysfs mounted where the image planted a symlink
    /// lands elsewhere in the rootfs, and the masked and read-only paths meant for it then
    /// protect nothing.
    #[error("mount {fstype} on {dest}: must be mounted on an ordinary directory, but the image has a symlink or file there")]
    NotOrdinaryDir { dest: PathBuf, fstype: String },
}

pub(crate) fn perr<'a>(path: &'a Path, op: &'static str) -> impl FnOnce(Errno) -> RootfsError + 'a {
    move |errno| RootfsError::Path {
        path: path.to_path_buf(),
        op,
        errno,
    }
}

/// What the rootfs setup needs besides the spec.
pub struct Context<'a> {
    pub spec: &'a Spec,
    pub rootfs: &'a Path,
    pub bundle: &'a Path,
    pub new_cgroupns: bool,
}

/// Everything that must happen before pivot_root.
pub fn prepare(cx: &Context) -> Result<(), RootfsError> {
    let linux = cx.spec.linux().as_ref();
    // The whole namespace's propagation before the rootfs is bound. The requested one is
    // applied to the new "/" again after pivot_root (`finish`): pivot_root refuses a shared
    // new root, and the rootfs bind inherits its propagation from its parent mount.
    let prop = match rootfs_propagation(cx.spec)? {
        None => MsFlags::MS_SLAVE | MsFlags::MS_REC,
        // Recursively: a non-recursive slave "/" leaves the rootfs' parent mount shared with
        // the host, and making that private (for pivot_root) would cut the rootfs off from
        // the host's events, which is what "slave" asks for.
        Some(p) if p.contains(MsFlags::MS_SLAVE) => MsFlags::MS_SLAVE | MsFlags::MS_REC,
        // Unbindable "/" would make the rootfs bind below fail; private until `finish`.
        Some(p) if p.contains(MsFlags::MS_UNBINDABLE) => MsFlags::MS_PRIVATE | MsFlags::MS_REC,
        Some(p) => p,
    };
    // Stop our mounts from reaching the host (and honour the requested propagation).
    mount(None::<&str>, "/", None::<&str>, prop, None::<&str>)
        .map_err(perr(Path::new("/"), "set propagation"))?;
    make_parent_private(cx.rootfs)?;
    // pivot_root needs the new root to be a mount point.
    mount(
        Some(cx.rootfs),
        cx.rootfs,
        None::<&str>,
        MsFlags::MS_BIND | MsFlags::MS_REC,
        None::<&str>,
    )
    .map_err(perr(cx.rootfs, "bind rootfs"))?;

    let root = nix::fcntl::open(
        cx.rootfs,
        nix::fcntl::OFlag::O_PATH | nix::fcntl::OFlag::O_DIRECTORY | nix::fcntl::OFlag::O_CLOEXEC,
        nix::sys::stat::Mode::empty(),
    )
    .map_err(perr(cx.rootfs, "open rootfs"))?;

    let mounts = cx.spec.mounts().as_deref().unwrap_or_default();
    let root_id = resolve::FileId::of(&root).map_err(perr(cx.rootfs, "stat rootfs"))?;
    for m in mounts {
        mount_one(cx, &root, root_id, m)?;
    }
    let dev_bound = mounts
        .iter()
        .any(|m| m.destination() == Path::new("/dev") && is_bind(m));
    if !dev_bound {
        devices::create_defaults(&root, linux.and_then(|l| l.devices().as_deref()))?;
        devices::symlinks(&root)?;
    }
    // runc creates a missing cwd (as root, before the user switch); so do we.
    if let Some(cwd) = cx.spec.process().as_ref().map(|p| p.cwd()) {
        resolve::open_or_create(root.as_raw_fd(), cwd, Kind::Dir)
            .map_err(perr(cwd, "create cwd"))?;
    }
    Ok(())
}

/// linux.rootfsPropagation as mount flags; None when unset.
fn rootfs_propagation(spec: &Spec) -> Result<Option<MsFlags>, RootfsError> {
    match spec
        .linux()
        .as_ref()
        .and_then(|l| l.rootfs_propagation().as_ref())
    {
        Some(p) if !p.is_empty() => options::propagation(p)
            .map(Some)
            .ok_or_else(|| RootfsError::Propagation(p.clone())),
        _ => Ok(None),
    }
}

/// pivot_root fails when the rootfs' parent mount is shared; make it private in our namespace.
fn make_parent_private(rootfs: &Path) -> Result<(), RootfsError> {
    let mut best: Option<(PathBuf, bool)> = None;
    let info = crate::sys::read_proc("/proc/self/mountinfo").unwrap_or_default();
    for line in info.lines() {
        let f: Vec<&str> = line.split(' ').collect();
        let Some(mp) = f.get(4) else { continue };
        let mp = PathBuf::from(crate::mountinfo::unescape(mp));
        if rootfs.starts_with(&mp)
            && best
                .as_ref()
                .is_none_or(|(b, _)| mp.as_os_str().len() >= b.as_os_str().len())
        {
            let shared = f[6..]
                .iter()
                .take_while(|x| **x != "-")
                .any(|x| x.starts_with("shared:"));
            best = Some((mp, shared));
        }
    }
    if let Some((mp, true)) = best {
        mount(
            None::<&str>,
            &mp,
            None::<&str>,
            MsFlags::MS_PRIVATE,
            None::<&str>,
        )
        .map_err(perr(&mp, "make parent mount private"))?;
    }
    Ok(())
}

fn is_bind(m: &Mount) -> bool {
    m.typ().as_deref() == Some("bind")
        || m.options()
            .iter()
            .flatten()
            .any(|o| o == "bind" || o == "rbind")
}

/// Whether init is in a cgroup namespace of the container's own: created (`new_cgroupns`) or
/// joined by path. Either way the kernel roots a fresh cgroup mount at the namespace's
/// cgroup, while the host paths a bind would need are not visible from a joined namespace.
fn in_cgroupns(cx: &Context) -> bool {
    cx.new_cgroupns
        || cx.spec.linux().as_ref().is_some_and(|l| {
            l.namespaces().iter().flatten().any(|n| {
                n.typ() == oci_spec::runtime::LinuxNamespaceType::Cgroup && n.path().is_some()
            })
        })
}

fn mount_one(
    cx: &Context,
    root: &OwnedFd,
    root_id: resolve::FileId,
    m: &Mount,
) -> Result<(), RootfsError> {
    let opts = MountOptions::parse(m.options().as_deref().unwrap_or_default());
    let fstype = m.typ().clone().unwrap_or_default();
    let dest = m.destination();
    let src = m.source().clone().unwrap_or_default();
    let bind = opts.bind || fstype == "bind";
    let src = if bind && src.is_relative() {
        cx.bundle.join(&src)
    } else {
        src
    };
    let kind = if bind
        && !std::fs::metadata(&src)
            .map(|md| md.is_dir())
            .unwrap_or(true)
    {
        Kind::File
    } else {
        Kind::Dir
    };
    let merr = |op, errno| RootfsError::Mount {
        source_path: src.display().to_string(),
        dest: dest.clone(),
        fstype: fstype.clone(),
        // After resolve's retries: someone keeps renaming inside the rootfs.
        op: match errno {
            Errno::EAGAIN if op == "resolve destination" => {
                "resolve destination (concurrent renames kept interrupting the lookup)"
            }
            _ => op,
        },
        errno,
    };
    if (fstype == "proc" || fstype == "sysfs")
        && resolve::is_non_directory(root.as_raw_fd(), dest)
            .map_err(|e| merr("lstat destination", e))?
    {
        return Err(RootfsError::NotOrdinaryDir {
            dest: dest.clone(),
            fstype,
        });
    }
    let target = match resolve::open_target(root.as_raw_fd(), root_id, dest, kind) {
        Ok(fd) => fd,
        Err(resolve::TargetError::Errno(e)) => return Err(merr("resolve destination", e)),
        Err(resolve::TargetError::Root) => {
            return Err(RootfsError::CoversRoot {
                source_path: src.display().to_string(),
                dest: dest.clone(),
                fstype,
            })
        }
    };
    if fstype == "cgroup" || fstype == "cgroup2" {
        return cgroupfs::mount(root.as_raw_fd(), target, dest, &opts, in_cgroupns(cx))
            .map_err(|(op, e)| merr(op, e));
    }
    let tpath = fd_path(target.as_raw_fd());
    let data = opts.data();
    if bind {
        let mut f = MsFlags::MS_BIND;
        if opts.recursive {
            f |= MsFlags::MS_REC;
        }
        mount(Some(&src), &tpath, None::<&str>, f, None::<&str>).map_err(|e| merr("bind", e))?;
        let extra = opts.flags.difference(MsFlags::MS_REMOUNT);
        if !extra.is_empty() {
            // Reopen: the fd still points at the covered directory, not the new mount.
            let t2 = resolve::open_or_create(root.as_raw_fd(), dest, kind)
                .map_err(|e| merr("resolve destination", e))?;
            remount_bind(&fd_path(t2.as_raw_fd()), extra).map_err(|e| merr("remount", e))?;
        }
    } else {
        let r = mount(
            Some(src.as_path()),
            &tpath,
            Some(fstype.as_str()),
            opts.flags,
            data.as_deref(),
        );
        match r {
            Ok(()) => {}
            // Without a private network namespace sysfs cannot be mounted; runc binds /sys.
            Err(Errno::EPERM) if fstype == "sysfs" => {
                mount(
                    Some("/sys"),
                    &tpath,
                    None::<&str>,
                    MsFlags::MS_BIND | MsFlags::MS_REC,
                    None::<&str>,
                )
                .map_err(|e| merr("bind /sys", e))?;
                if opts.flags.contains(MsFlags::MS_RDONLY) {
                    let t2 = resolve::open_or_create(root.as_raw_fd(), dest, kind)
                        .map_err(|e| merr("resolve destination", e))?;
                    remount_bind(&fd_path(t2.as_raw_fd()), opts.flags)
                        .map_err(|e| merr("remount", e))?;
                }
            }
            Err(e) => return Err(merr("mount", e)),
        }
    }
    if opts.rec_set != 0 || opts.rec_clear != 0 {
        // Reopen: the new mount (not the directory it covers) must be the target.
        let t2 = resolve::open_or_create(root.as_raw_fd(), dest, kind)
            .map_err(|e| merr("resolve destination", e))?;
        crate::sys::mount_setattr_recursive(t2.as_raw_fd(), opts.rec_set, opts.rec_clear)
            .map_err(|e| merr("mount_setattr (recursive options)", e))?;
    }
    if !opts.propagation.is_empty() {
        let t2 = resolve::open_or_create(root.as_raw_fd(), dest, kind)
            .map_err(|e| merr("resolve destination", e))?;
        for p in &opts.propagation {
            mount(
                None::<&str>,
                &fd_path(t2.as_raw_fd()),
                None::<&str>,
                *p,
                None::<&str>,
            )
            .map_err(|e| merr("set propagation", e))?;
        }
    }
    Ok(())
}

/// A bind remount must carry the flags the kernel locked on the mount (nosuid, nodev, ...),
/// or it fails with EPERM in a user namespace; statvfs tells which are set.
pub(crate) fn remount_bind(path: &Path, flags: MsFlags) -> Result<(), Errno> {
    let locked = nix::sys::statvfs::statvfs(path)
        .map(|s| {
            let f = s.flags();
            let mut m = MsFlags::empty();
            use nix::sys::statvfs::FsFlags;
            for (a, b) in [
                (FsFlags::ST_NOSUID, MsFlags::MS_NOSUID),
                (FsFlags::ST_NODEV, MsFlags::MS_NODEV),
                (FsFlags::ST_NOEXEC, MsFlags::MS_NOEXEC),
                (FsFlags::ST_NOATIME, MsFlags::MS_NOATIME),
                (FsFlags::ST_NODIRATIME, MsFlags::MS_NODIRATIME),
                (FsFlags::ST_RELATIME, MsFlags::MS_RELATIME),
            ] {
                if f.contains(a) {
                    m |= b;
                }
            }
            m
        })
        .unwrap_or(MsFlags::empty());
    mount(
        None::<&str>,
        path,
        None::<&str>,
        MsFlags::MS_BIND | MsFlags::MS_REMOUNT | flags | locked,
        None::<&str>,
    )
}

/// Makes `rootfs` the root: pivot_root, or MS_MOVE + chroot with `no_pivot`.
/// A container without a mount namespace of its own: chroot into the rootfs and nothing
/// else (runc's `chroot()` then), so the host's mount table is never touched.
pub fn chroot(rootfs: &Path) -> Result<(), RootfsError> {
    nix::unistd::chroot(rootfs).map_err(perr(rootfs, "chroot"))?;
    nix::unistd::chdir("/").map_err(perr(rootfs, "chdir /"))
}

pub fn enter(rootfs: &Path, no_pivot: bool) -> Result<(), RootfsError> {
    if no_pivot {
        nix::unistd::chdir(rootfs).map_err(perr(rootfs, "chdir"))?;
        mount(
            Some(rootfs),
            "/",
            None::<&str>,
            MsFlags::MS_MOVE,
            None::<&str>,
        )
        .map_err(perr(rootfs, "move rootfs to /"))?;
        nix::unistd::chroot(".").map_err(perr(rootfs, "chroot"))?;
        return nix::unistd::chdir("/").map_err(perr(rootfs, "chdir /"));
    }
    use nix::fcntl::{open, OFlag};
    let ro = OFlag::O_DIRECTORY | OFlag::O_RDONLY | OFlag::O_CLOEXEC;
    let old = open("/", ro, nix::sys::stat::Mode::empty()).map_err(perr(Path::new("/"), "open"))?;
    let new = open(rootfs, ro, nix::sys::stat::Mode::empty()).map_err(perr(rootfs, "open"))?;
    nix::unistd::fchdir(&new).map_err(perr(rootfs, "fchdir"))?;
    // pivot_root(".", ".") stacks the old root on top of the new one; no put_old dir needed.
    nix::unistd::pivot_root(".", ".").map_err(perr(rootfs, "pivot_root"))?;
    nix::unistd::fchdir(&old).map_err(perr(rootfs, "fchdir old root"))?;
    // Slave first, so unmounting the old root cannot propagate to the host.
    mount(
        None::<&str>,
        ".",
        None::<&str>,
        MsFlags::MS_SLAVE | MsFlags::MS_REC,
        None::<&str>,
    )
    .map_err(perr(Path::new("/"), "make old root slave"))?;
    umount2(".", MntFlags::MNT_DETACH).map_err(perr(Path::new("/"), "unmount old root"))?;
    nix::unistd::chdir("/").map_err(perr(Path::new("/"), "chdir"))
}

/// After pivot_root: masked paths, readonly paths, readonly root.
pub fn finish(spec: &Spec) -> Result<(), RootfsError> {
    let linux = spec.linux().as_ref();
    if let Some(p) = rootfs_propagation(spec)? {
        // The requested propagation on the rootfs mount itself, now that it is "/". For
        // "shared" the mount is private at this point (its parent was made private for
        // pivot_root), so it becomes a new peer group, not one shared with the host.
        mount(None::<&str>, "/", None::<&str>, p, None::<&str>)
            .map_err(perr(Path::new("/"), "set rootfsPropagation"))?;
    }
    for p in linux
        .and_then(|l| l.readonly_paths().as_ref())
        .into_iter()
        .flatten()
    {
        readonly_path(Path::new(p))?;
    }
    for p in linux
        .and_then(|l| l.masked_paths().as_ref())
        .into_iter()
        .flatten()
    {
        mask_path(Path::new(p))?;
    }
    if spec
        .root()
        .as_ref()
        .and_then(|r| r.readonly())
        .unwrap_or(false)
    {
        remount_bind(Path::new("/"), MsFlags::MS_RDONLY)
            .map_err(perr(Path::new("/"), "remount readonly"))?;
    }
    Ok(())
}

fn readonly_path(p: &Path) -> Result<(), RootfsError> {
    match mount(
        Some(p),
        p,
        None::<&str>,
        MsFlags::MS_BIND | MsFlags::MS_REC,
        None::<&str>,
    ) {
        Ok(()) => {}
        Err(Errno::ENOENT) => return Ok(()),
        Err(e) => return Err(perr(p, "bind readonly path")(e)),
    }
    remount_bind(p, MsFlags::MS_RDONLY | MsFlags::MS_REC).map_err(perr(p, "remount readonly path"))
}

fn mask_path(p: &Path) -> Result<(), RootfsError> {
    let md = match std::fs::metadata(p) {
        Ok(md) => md,
        Err(_) => return Ok(()),
    };
    let r = if md.is_dir() {
        mount(
            Some("tmpfs"),
            p,
            Some("tmpfs"),
            MsFlags::MS_RDONLY,
            None::<&str>,
        )
    } else {
        mount(
            Some("/dev/null"),
            p,
            None::<&str>,
            MsFlags::MS_BIND,
            None::<&str>,
        )
    };
    match r {
        Ok(()) | Err(Errno::ENOENT) => Ok(()),
        Err(e) => Err(perr(p, "mask path")(e)),
    }
}
