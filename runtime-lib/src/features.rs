//! What this runtime supports, in runtime-spec's features.md shape (`ongi features`, like
//! `runc features`). The data lives here so library users get it without the CLI.

use serde::Serialize;
use std::collections::BTreeMap;

#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Features {
    pub oci_version_min: String,
    pub oci_version_max: String,
    pub hooks: Vec<String>,
    pub mount_options: Vec<String>,
    pub linux: Linux,
    pub annotations: BTreeMap<String, String>,
}

#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Linux {
    pub namespaces: Vec<String>,
    pub capabilities: Vec<String>,
    pub cgroup: Cgroup,
    pub seccomp: Seccomp,
    pub apparmor: Enabled,
    pub selinux: Enabled,
    pub intel_rdt: Enabled,
}

#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Cgroup {
    pub v1: bool,
    pub v2: bool,
    pub systemd: bool,
    pub systemd_user: bool,
}

#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Seccomp {
    pub enabled: bool,
    pub actions: Vec<String>,
    pub operators: Vec<String>,
    pub archs: Vec<String>,
    pub known_flags: Vec<String>,
    pub supported_flags: Vec<String>,
}

#[derive(Debug, Clone, Serialize)]
pub struct Enabled {
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
