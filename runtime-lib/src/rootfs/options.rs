//! Parsing of config.json mount options into mount(2) flags and a data string.

use nix::mount::MsFlags;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MountOptions {
    /// Flags for the mount call itself (ro, nosuid, ...).
    pub flags: MsFlags,
    /// Flags an option explicitly cleared (rw, suid, ...), for remounts.
    pub cleared: MsFlags,
    /// Propagation changes, applied with separate mount calls after the mount.
    pub propagation: Vec<MsFlags>,
    pub bind: bool,
    pub recursive: bool,
    /// Filesystem-specific options passed through as mount data.
    pub data: Vec<String>,
    /// Recursive attributes (`rro`, `rnosuid`, ...): MOUNT_ATTR_* bits to set and to clear
    /// with mount_setattr(AT_RECURSIVE) once the mount exists.
    pub rec_set: u64,
    pub rec_clear: u64,
}

/// MS_NOSYMFOLLOW (Linux 5.10); nix's MsFlags lacks it.
pub const MS_NOSYMFOLLOW: MsFlags = MsFlags::from_bits_retain(libc::MS_NOSYMFOLLOW);

/// linux/mount.h MOUNT_ATTR_* (mount_setattr(2)).
pub mod attr {
    pub const RDONLY: u64 = 0x0000_0001;
    pub const NOSUID: u64 = 0x0000_0002;
    pub const NODEV: u64 = 0x0000_0004;
    pub const NOEXEC: u64 = 0x0000_0008;
    /// The atime bits: a change to any of them must clear all of them.
    pub const ATIME_MASK: u64 = 0x0000_0070;
    pub const RELATIME: u64 = 0x0000_0000;
    pub const NOATIME: u64 = 0x0000_0010;
    pub const STRICTATIME: u64 = 0x0000_0020;
    pub const NODIRATIME: u64 = 0x0000_0080;
    pub const NOSYMFOLLOW: u64 = 0x0020_0000;
}

/// A recursive mount option: (bits to set, bits to clear).
fn recursive_attr(o: &str) -> Option<(u64, u64)> {
    use attr::*;
    Some(match o {
        "rro" => (RDONLY, 0),
        "rrw" => (0, RDONLY),
        "rnosuid" => (NOSUID, 0),
        "rsuid" => (0, NOSUID),
        "rnodev" => (NODEV, 0),
        "rdev" => (0, NODEV),
        "rnoexec" => (NOEXEC, 0),
        "rexec" => (0, NOEXEC),
        "rnodiratime" => (NODIRATIME, 0),
        "rdiratime" => (0, NODIRATIME),
        // The atime mode is one value: setting it clears the whole field (kernel rule).
        "rrelatime" => (RELATIME, ATIME_MASK),
        "rnoatime" => (NOATIME, ATIME_MASK),
        "rstrictatime" => (STRICTATIME, ATIME_MASK),
        // Without relatime the kernel only updates atime strictly when told so; "not
        // relatime" therefore means strictatime (runc maps it the same way).
        "rnorelatime" => (STRICTATIME, ATIME_MASK),
        "rnosymfollow" => (NOSYMFOLLOW, 0),
        "rsymfollow" => (0, NOSYMFOLLOW),
        _ => return None,
    })
}

impl Default for MountOptions {
    fn default() -> Self {
        MountOptions {
            flags: MsFlags::empty(),
            cleared: MsFlags::empty(),
            propagation: Vec::new(),
            bind: false,
            recursive: false,
            data: Vec::new(),
            rec_set: 0,
            rec_clear: 0,
        }
    }
}

impl MountOptions {
    pub fn parse<S: AsRef<str>>(opts: &[S]) -> Self {
        let mut m = MountOptions::default();
        for o in opts {
            let o = o.as_ref();
            let (set, clear) = match o {
                "ro" => (MsFlags::MS_RDONLY, MsFlags::empty()),
                "rw" => (MsFlags::empty(), MsFlags::MS_RDONLY),
                "nosuid" => (MsFlags::MS_NOSUID, MsFlags::empty()),
                "suid" => (MsFlags::empty(), MsFlags::MS_NOSUID),
                "nodev" => (MsFlags::MS_NODEV, MsFlags::empty()),
                "dev" => (MsFlags::empty(), MsFlags::MS_NODEV),
                "noexec" => (MsFlags::MS_NOEXEC, MsFlags::empty()),
                "exec" => (MsFlags::empty(), MsFlags::MS_NOEXEC),
                "sync" => (MsFlags::MS_SYNCHRONOUS, MsFlags::empty()),
                "async" => (MsFlags::empty(), MsFlags::MS_SYNCHRONOUS),
                "dirsync" => (MsFlags::MS_DIRSYNC, MsFlags::empty()),
                "remount" => (MsFlags::MS_REMOUNT, MsFlags::empty()),
                "mand" => (MsFlags::MS_MANDLOCK, MsFlags::empty()),
                "nomand" => (MsFlags::empty(), MsFlags::MS_MANDLOCK),
                "atime" => (MsFlags::empty(), MsFlags::MS_NOATIME),
                "noatime" => (MsFlags::MS_NOATIME, MsFlags::empty()),
                "diratime" => (MsFlags::empty(), MsFlags::MS_NODIRATIME),
                "nodiratime" => (MsFlags::MS_NODIRATIME, MsFlags::empty()),
                "relatime" => (MsFlags::MS_RELATIME, MsFlags::empty()),
                "norelatime" => (MsFlags::empty(), MsFlags::MS_RELATIME),
                "strictatime" => (MsFlags::MS_STRICTATIME, MsFlags::empty()),
                // A mount flag, not filesystem data (tmpfs rejects it as data with EINVAL).
                "nosymfollow" => (MS_NOSYMFOLLOW, MsFlags::empty()),
                "symfollow" => (MsFlags::empty(), MS_NOSYMFOLLOW),
                "nostrictatime" => (MsFlags::empty(), MsFlags::MS_STRICTATIME),
                "bind" => {
                    m.bind = true;
                    continue;
                }
                "rbind" => {
                    m.bind = true;
                    m.recursive = true;
                    continue;
                }
                "private" | "rprivate" | "shared" | "rshared" | "slave" | "rslave"
                | "unbindable" | "runbindable" => {
                    let base = match o.trim_start_matches('r') {
                        "private" => MsFlags::MS_PRIVATE,
                        "shared" => MsFlags::MS_SHARED,
                        "slave" => MsFlags::MS_SLAVE,
                        _ => MsFlags::MS_UNBINDABLE,
                    };
                    let rec = if o.starts_with('r') {
                        MsFlags::MS_REC
                    } else {
                        MsFlags::empty()
                    };
                    m.propagation.push(base | rec);
                    continue;
                }
                o if recursive_attr(o).is_some() => {
                    if let Some((set, clear)) = recursive_attr(o) {
                        // A later option wins over an earlier one for the same bits.
                        m.rec_set = (m.rec_set & !clear & !set) | set;
                        m.rec_clear = (m.rec_clear & !set) | clear;
                    }
                    continue;
                }
                // runc-specific options with no meaning for the kernel.
                "tmpcopyup" | "idmap" | "ridmap" => continue,
                _ => {
                    m.data.push(o.to_string());
                    continue;
                }
            };
            // difference(), not `& !x`: bitflags' `!` drops bits nix does not name
            // (MS_NOSYMFOLLOW), difference() keeps them.
            m.flags = m.flags.union(set).difference(clear);
            m.cleared = m.cleared.union(clear).difference(set);
        }
        m
    }

    pub fn data(&self) -> Option<String> {
        (!self.data.is_empty()).then(|| self.data.join(","))
    }
}

/// Parses a `rootfsPropagation` value.
pub fn propagation(s: &str) -> Option<MsFlags> {
    MountOptions::parse(&[s]).propagation.first().copied()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_flags_data_and_propagation() {
        let m = MountOptions::parse(&["nosuid", "ro", "rbind", "rslave", "mode=755", "size=1m"]);
        assert_eq!(m.flags, MsFlags::MS_NOSUID | MsFlags::MS_RDONLY);
        assert!(m.bind && m.recursive);
        assert_eq!(m.propagation, vec![MsFlags::MS_SLAVE | MsFlags::MS_REC]);
        assert_eq!(m.data().as_deref(), Some("mode=755,size=1m"));
        let m = MountOptions::parse(&["ro", "rw"]);
        assert_eq!(m.flags, MsFlags::empty());
        assert_eq!(m.cleared, MsFlags::MS_RDONLY);
        assert_eq!(propagation("private"), Some(MsFlags::MS_PRIVATE));
        assert_eq!(propagation("bogus"), None);
        let m = MountOptions::parse(&["nosymfollow", "rro", "rnosuid", "rnoatime"]);
        assert_eq!(m.flags, MS_NOSYMFOLLOW);
        assert!(m.data.is_empty());
        assert_eq!(m.rec_set, attr::RDONLY | attr::NOSUID | attr::NOATIME);
        assert_eq!(m.rec_clear, attr::ATIME_MASK);
        let m = MountOptions::parse(&["rro", "rrw"]);
        assert_eq!((m.rec_set, m.rec_clear), (0, attr::RDONLY));
    }
}
