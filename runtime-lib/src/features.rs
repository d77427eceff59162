//! What this runtime supports, in runtime-spec's features.md shape (`ongi features`, like
//! `runc features`). The data lives here so library users get it without the CLI.

use serde::Serialize;
use std::collections::BTreeMap;

/// The runtime-spec features document (`ongi features`, as `runc features`).
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Features {
    /// Oldest runtime-spec version accepted.
    pub oci_version_min: String,
    /// Newest runtime-spec version implemented.
    pub oci_version_max: String,
    /// Hook phases run.
    pub hooks: Vec<String>,
    /// Mount options understood (others are passed to the filesystem).
    pub mount_options: Vec<String>,
    /// Linux-specific features.
    pub linux: Linux,
    /// Implementation details (library versions).
    pub annotations: BTreeMap<String, String>,
}

/// Linux-specific features.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Linux {
    /// Namespace types.
    pub namespaces: Vec<String>,
    /// Capability names this build knows.
    pub capabilities: Vec<String>,
    /// Cgroup versions and drivers.
    pub cgroup: Cgroup,
    /// Seccomp support.
    pub seccomp: Seccomp,
    /// AppArmor support.
    pub apparmor: Enabled,
    /// SELinux support.
    pub selinux: Enabled,
    /// Intel RDT support.
    pub intel_rdt: Enabled,
}

/// Cgroup versions and drivers supported.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Cgroup {
    /// Cgroup v1 (and hybrid) hosts.
    pub v1: bool,
    /// Unified cgroup v2 hosts.
    pub v2: bool,
    /// The systemd cgroup driver.
    pub systemd: bool,
    /// The systemd user-instance cgroup driver.
    pub systemd_user: bool,
}

/// Seccomp support.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Seccomp {
    /// Whether linux.seccomp is supported.
    pub enabled: bool,
    /// Actions (`SCMP_ACT_*`).
    pub actions: Vec<String>,
    /// Argument operators (`SCMP_CMP_*`).
    pub operators: Vec<String>,
    /// Architectures (`SCMP_ARCH_*`).
    pub archs: Vec<String>,
    /// Filter flags known.
    pub known_flags: Vec<String>,
    /// Filter flags this kernel supports.
    pub supported_flags: Vec<String>,
}

/// Whether an optional feature is supported.
#[derive(Debug, Clone, Serialize)]
pub struct Enabled {
    /// Whether it is.
    pub enabled: bool,
}

/// Mount options `rootfs::options` turns into mount flags or propagation (anything else is
/// passed to the filesystem as data).
const MOUNT_OPTIONS: &[&str] = &[
    "async",
    "atime",
    "bind",
    "dev",
    "diratime",
    "dirsync",
    "exec",
    "mand",
    "noatime",
    "nodev",
    "nodiratime",
    "noexec",
    "nomand",
    "norelatime",
    "nostrictatime",
    "nosuid",
    "nosymfollow",
    "private",
    "rbind",
    "rdev",
    "rdiratime",
    "relatime",
    "remount",
    "rexec",
    "rnoatime",
    "rnodev",
    "rnodiratime",
    "rnoexec",
    "rnorelatime",
    "rnosuid",
    "rnosymfollow",
    "ro",
    "rprivate",
    "rrelatime",
    "rro",
    "rrw",
    "rshared",
    "rslave",
    "rstrictatime",
    "rsuid",
    "rsymfollow",
    "runbindable",
    "rw",
    "shared",
    "slave",
    "strictatime",
    "suid",
    "symfollow",
    "sync",
    "unbindable",
];

fn strings(v: &[&str]) -> Vec<String> {
    v.iter().map(|s| s.to_string()).collect()
}

/// The version of the libseccomp linked in (`ongi --version` prints it, as runc does).
pub fn libseccomp_version() -> Option<String> {
    crate::seccomp::libseccomp_version()
}

/// The features of this build on this machine (seccomp's supported flags are probed from the
/// kernel; nothing else touches the system).
pub fn features() -> Features {
    let mut caps: Vec<_> = ::caps::all().into_iter().collect();
    caps.sort_by_key(|c| c.index());
    let mut annotations = BTreeMap::new();
    if let Some(v) = crate::seccomp::libseccomp_version() {
        annotations.insert("io.github.seccomp.libseccomp.version".to_string(), v);
    }
    annotations.insert(
        "dev.ongi.version".to_string(),
        env!("CARGO_PKG_VERSION").to_string(),
    );
    Features {
        oci_version_min: "1.0.0".into(),
        oci_version_max: crate::state::OCI_VERSION.into(),
        hooks: strings(&[
            "prestart",
            "createRuntime",
            "createContainer",
            "startContainer",
            "poststart",
            "poststop",
        ]),
        mount_options: strings(MOUNT_OPTIONS),
        linux: Linux {
            namespaces: strings(&[
                "cgroup", "ipc", "mount", "network", "pid", "time", "user", "uts",
            ]),
            capabilities: caps.iter().map(|c| c.to_string()).collect(),
            cgroup: Cgroup {
                v1: true,
                v2: true,
                // The systemd cgroup driver is not implemented (--systemd-cgroup is refused).
                systemd: false,
                systemd_user: false,
            },
            seccomp: Seccomp {
                enabled: true,
                actions: strings(crate::seccomp::ACTIONS),
                operators: strings(crate::seccomp::OPERATORS),
                archs: crate::seccomp::archs(),
                known_flags: strings(crate::seccomp::KNOWN_FLAGS),
                supported_flags: strings(&crate::seccomp::supported_flags()),
            },
            apparmor: Enabled { enabled: false },
            selinux: Enabled { enabled: false },
            intel_rdt: Enabled { enabled: false },
        },
        annotations,
    }
}
