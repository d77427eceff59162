//! The mounted cgroup hierarchies (read from mountinfo, never assumed) and what layout
//! they make: v1, hybrid or unified v2.

use std::path::{Path, PathBuf};

#[derive(Debug, Clone)]
pub struct Hierarchy {
    pub mountpoint: PathBuf,
    /// "cgroup" (v1) or "cgroup2".
    pub fstype: String,
    /// Mount data naming the v1 controllers (`cpu`, `name=systemd`); empty for cgroup2.
    pub controllers: String,
}

impl Hierarchy {
    pub fn is_v2(&self) -> bool {
        self.fstype == "cgroup2"
    }

    /// Whether this v1 hierarchy carries `ctrl` (`cpu` in `cpu,cpuacct`).
    pub fn has(&self, ctrl: &str) -> bool {
        !self.is_v2() && self.controllers.split(',').any(|c| c == ctrl)
    }
}

/// The mounted cgroup hierarchies, read from mountinfo once per process: one `create`
/// needs them half a dozen times, and cgroup filesystems are mounted at boot. (A
/// long-lived library caller that remounts cgroupfs would need a fresh process.)
pub fn hierarchies() -> Vec<Hierarchy> {
    static CACHE: std::sync::OnceLock<Vec<Hierarchy>> = std::sync::OnceLock::new();
    CACHE
        .get_or_init(|| {
            let info = crate::sys::read_proc("/proc/self/mountinfo").unwrap_or_default();
            parse_hierarchies(&info)
        })
        .clone()
}

/// The hierarchy a container directory lives in: the longest mountpoint prefixing it.
pub(super) fn hierarchy_of<'a>(hs: &'a [Hierarchy], d: &Path) -> Option<&'a Hierarchy> {
    hs.iter()
        .filter(|h| d.starts_with(&h.mountpoint))
        .max_by_key(|h| h.mountpoint.as_os_str().len())
}

pub(super) fn parse_hierarchies(info: &str) -> Vec<Hierarchy> {
    let mut out: Vec<Hierarchy> = Vec::new();
    for line in info.lines() {
        let Some((pre, post)) = line.split_once(" - ") else {
            continue;
        };
        let pre: Vec<&str> = pre.split(' ').collect();
        let post: Vec<&str> = post.split(' ').collect();
        let (Some(mp), Some(fstype)) = (pre.get(4), post.first()) else {
            continue;
        };
        if *fstype != "cgroup" && *fstype != "cgroup2" {
            continue;
        }
        let controllers = post
            .get(2)
            .map(|o| {
                o.split(',')
                    .filter(|x| {
                        !matches!(*x, "rw" | "ro" | "nsdelegate" | "memory_recursiveprot")
                            && !x.starts_with("release_agent")
                            && !x.starts_with("clone_children")
                    })
                    .collect::<Vec<_>>()
                    .join(",")
            })
            .unwrap_or_default();
        let h = Hierarchy {
            mountpoint: PathBuf::from(crate::mountinfo::unescape(mp)),
            fstype: fstype.to_string(),
            controllers,
        };
        // A hierarchy mounted twice is still one hierarchy.
        if !out
            .iter()
            .any(|o| o.fstype == h.fstype && o.controllers == h.controllers)
        {
            out.push(h);
        }
    }
    out
}

/// How the host's cgroups are laid out.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// Only v1 hierarchies.
    Legacy,
    /// v1 controllers plus a v2 tree (usually /sys/fs/cgroup/unified) without them.
    Hybrid,
    /// One v2 tree holding every controller.
    Unified,
}

pub fn mode_of(hs: &[Hierarchy]) -> Mode {
    // A v1 hierarchy with no real controller (only `name=systemd`, kept by some v2 hosts
    // for old tools) does not make the host hybrid: the controllers are all in v2.
    let v1 = hs
        .iter()
        .any(|h| !h.is_v2() && h.controllers.split(',').any(|c| !c.starts_with("name=")));
    let v2 = hs.iter().any(|h| h.is_v2());
    match (v1, v2) {
        (false, true) => Mode::Unified,
        (true, true) => Mode::Hybrid,
        _ => Mode::Legacy,
    }
}

#[cfg(test)]
pub(super) mod tests {
    use super::*;

    pub(in crate::cgroups) const HYBRID: &str = "\
32 31 0:29 / /sys/fs/cgroup/cpu rw,relatime - cgroup cgroup rw,cpu
35 31 0:32 / /sys/fs/cgroup/memory rw,relatime - cgroup cgroup rw,memory
40 31 0:37 / /sys/fs/cgroup/systemd rw,relatime - cgroup cgroup rw,name=systemd
41 31 0:38 / /sys/fs/cgroup/unified rw,relatime - cgroup2 cgroup2 rw
";

    #[test]
    fn detects_modes() {
        let hs = parse_hierarchies(HYBRID);
        assert_eq!(hs.len(), 4);
        assert_eq!(mode_of(&hs), Mode::Hybrid);
        assert_eq!(mode_of(&hs[..3]), Mode::Legacy);
        let v2 = parse_hierarchies(
            "30 23 0:26 / /sys/fs/cgroup rw - cgroup2 cgroup2 rw,nsdelegate,memory_recursiveprot\n\
             31 30 0:27 / /sys/fs/cgroup/systemd rw - cgroup cgroup rw,name=systemd\n",
        );
        assert_eq!(mode_of(&v2), Mode::Unified);
        assert_eq!(mode_of(&v2[..1]), Mode::Unified);
        assert!(hs[0].has("cpu") && !hs[0].has("cpuacct"));
        assert!(hs[2].has("name=systemd"));
    }
}
