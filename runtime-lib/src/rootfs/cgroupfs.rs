//! The `cgroup` mount type: what the container sees at /sys/fs/cgroup.
//!
//! cgroup v2: one cgroup2 mount. v1 (and hybrid): a tmpfs with one directory per host
//! hierarchy. With a cgroup namespace each hierarchy is mounted fresh (the kernel roots it at
//! the namespace's cgroup); without one, the container's own cgroup directory is bind-mounted.

use super::options::MountOptions;
use crate::cgroups::Hierarchy;
use crate::sys::fd_path;
use nix::errno::Errno;
use nix::mount::{mount as sys_mount, MsFlags};
use std::os::fd::{AsRawFd, OwnedFd, RawFd};
use std::path::Path;

type Failure = (&'static str, Errno);

/// The calling process's cgroup path in the hierarchy with these controllers; `cg` is
/// /proc/self/cgroup, read once per mount rather than once per hierarchy.
fn own_path(h: &Hierarchy, cg: &str) -> String {
    for line in cg.lines() {
        let mut f = line.splitn(3, ':');
        let (_, ctrls, path) = (f.next(), f.next().unwrap_or(""), f.next().unwrap_or("/"));
        let matches = if h.fstype == "cgroup2" {
            ctrls.is_empty()
        } else {
            let want: Vec<&str> = h.controllers.split(',').collect();
            !ctrls.is_empty() && ctrls.split(',').all(|c| want.contains(&c))
        };
        if matches {
            return path.to_string();
        }
    }
    "/".to_string()
}

/// Mounts (cgroup namespace) or binds (none) one hierarchy at `target`. A bind still has
/// the source's flags: the caller remounts it read-only through a path that resolves to the
/// new mount, see [`remount_ro`].
fn mount_hierarchy(
    h: &Hierarchy,
    target: &Path,
    flags: MsFlags,
    cgroupns: bool,
    own: &str,
) -> Result<(), Failure> {
    if cgroupns {
        let data = (!h.controllers.is_empty()).then_some(h.controllers.as_str());
        sys_mount(
            Some(h.fstype.as_str()),
            target,
            Some(h.fstype.as_str()),
            flags,
            data,
        )
        .map_err(|e| ("mount cgroup hierarchy", e))
    } else {
        let src = h.mountpoint.join(own_path(h, own).trim_start_matches('/'));
        sys_mount(
            Some(&src),
            target,
            None::<&str>,
            MsFlags::MS_BIND | MsFlags::MS_REC,
            None::<&str>,
        )
        .map_err(|e| ("bind cgroup hierarchy", e))
    }
}

/// The read-only remount of a bind made by [`mount_hierarchy`]. `path` must be looked up
/// after the bind: a /proc/self/fd path opened before it names the covered directory,
/// which is no mount point (MS_REMOUNT: EINVAL).
fn remount_ro(path: &Path, flags: MsFlags, cgroupns: bool) -> Result<(), Failure> {
    if cgroupns || !flags.contains(MsFlags::MS_RDONLY) {
        return Ok(());
    }
    super::remount_bind(path, flags).map_err(|e| ("remount cgroup readonly", e))
}

/// `t` is the destination, already resolved (and checked) by the caller.
pub fn mount(
    root: RawFd,
    t: OwnedFd,
    dest: &Path,
    opts: &MountOptions,
    cgroupns: bool,
) -> Result<(), Failure> {
    let hs = crate::cgroups::hierarchies();
    // Only the bind mounts (no cgroup namespace) need our own cgroup paths.
    let own = if cgroupns {
        String::new()
    } else {
        crate::sys::read_proc("/proc/self/cgroup").unwrap_or_default()
    };
    let resolve = || {
        super::resolve::open_or_create(root, dest, super::resolve::Kind::Dir)
            .map_err(|e| ("resolve destination", e))
    };
    let target = &fd_path(t.as_raw_fd());
    let base = opts.flags & (MsFlags::MS_NOSUID | MsFlags::MS_NODEV | MsFlags::MS_NOEXEC);
    if let [h] = hs.as_slice() {
        if h.fstype == "cgroup2" {
            mount_hierarchy(h, target, opts.flags, cgroupns, &own)?;
            let t = resolve()?;
            return remount_ro(&fd_path(t.as_raw_fd()), opts.flags, cgroupns);
        }
    }
    sys_mount(Some("tmpfs"), target, Some("tmpfs"), base, Some("mode=755"))
        .map_err(|e| ("mount tmpfs for cgroups", e))?;
    // The old fd names the covered directory; look the path up again to get the tmpfs.
    let t = resolve()?;
    let tmp = fd_path(t.as_raw_fd());
    for h in &hs {
        let name = h
            .mountpoint
            .file_name()
            .map(std::path::PathBuf::from)
            .unwrap_or_default();
        if name.as_os_str().is_empty() {
            continue;
        }
        let dir = tmp.join(&name);
        match nix::unistd::mkdir(&dir, nix::sys::stat::Mode::from_bits_truncate(0o755)) {
            Ok(()) | Err(Errno::EEXIST) => {}
            Err(e) => return Err(("mkdir cgroup hierarchy dir", e)),
        }
        mount_hierarchy(h, &dir, opts.flags, cgroupns, &own)?;
        // `dir` is a path through the tmpfs: it resolves to the new mount.
        remount_ro(&dir, opts.flags, cgroupns)?;
    }
    if opts.flags.contains(MsFlags::MS_RDONLY) {
        sys_mount(
            None::<&str>,
            &tmp,
            None::<&str>,
            MsFlags::MS_REMOUNT | MsFlags::MS_RDONLY | base,
            Some("mode=755"),
        )
        .map_err(|e| ("remount cgroup tmpfs readonly", e))?;
    }
    Ok(())
}
