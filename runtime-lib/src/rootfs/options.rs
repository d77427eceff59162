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
                // runc-specific options with no meaning for the kernel.
                "tmpcopyup" | "idmap" | "ridmap" => continue,
                _ => {
                    m.data.push(o.to_string());
                    continue;
                }
            };
            m.flags = (m.flags | set) & !clear;
            m.cleared = (m.cleared | clear) & !set;
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
    }
}
