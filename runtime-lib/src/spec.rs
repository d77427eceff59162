//! config.json and process.json: checking them without a container ([`check_bundle`],
//! [`check_process`]), reading a process.json ([`load_process`]) or `update --resources`
//! JSON ([`resources_from_value`]) and the default config ([`default_spec`]).
//!
//! Inside the crate: loading and validating a bundle. Everything that can be checked
//! before any process or directory exists is checked here, so that bad input fails before
//! anything needs to be cleaned up.

use oci_spec::runtime::{LinuxNamespaceType, Spec};
use serde::Deserialize;
use std::collections::HashSet;
use std::path::{Path, PathBuf};

mod de;
mod track;
pub(crate) use de::process_from_slice;

/// Everything `create` checks about the bundle in `dir` before it makes anything (no
/// process, directory or cgroup): config.json loaded and validated, the root filesystem,
/// namespaces and time offsets, sysctl keys, the seccomp profile compiled, personality,
/// scheduler, ioPriority and settings this host cannot honour. `create` runs the same
/// checks (uncached here: no state root is touched). Each mount's options are parsed too,
/// as init will parse them. What depends on [`crate::CreateOptions`] or the caller (a console socket for
/// process.terminal, [`crate::caller::check`]) is not checked.
pub fn check_bundle(dir: &Path) -> Result<(), crate::Error> {
    let (bundle, _, _) = crate::container::check_config(dir)?;
    crate::container::check_init_config(&bundle.spec, None)?;
    for m in bundle.spec.mounts().as_deref().unwrap_or_default() {
        let opts =
            crate::rootfs::options::MountOptions::parse(m.options().as_deref().unwrap_or_default());
        // Infallible: parsed for the panics a fuzzer looks for.
        std::hint::black_box(opts.data());
    }
    Ok(())
}

/// Reads a process.json (runc's `exec --process`) into the process for
/// [`crate::ExecOptions::process`]; a type error names the field.
pub fn load_process(path: &Path) -> Result<oci_spec::runtime::Process, crate::ExecError> {
    crate::process::exec::load_process(path)
}

/// Everything `exec --process <path>` checks about the process before it makes anything:
/// the file read and parsed, the process validated as runc does (args, absolute cwd), its
/// scheduler, ioPriority and execCPUAffinity converted. `exec` runs the same checks (with
/// the container's linux.personality, which a process.json does not carry).
pub fn check_process(path: &Path) -> Result<(), crate::Error> {
    let opts = crate::ExecOptions {
        process: Some(load_process(path)?),
        ..Default::default()
    };
    crate::process::exec::check_process(&opts, None, None).map(|_| ())
}

/// linux.resources from JSON (e.g. `update --resources`), with config.json's deserializer:
/// type errors name the field, and the binary carries one copy of this code.
pub fn resources_from_value(
    v: serde_json::Value,
) -> Result<oci_spec::runtime::LinuxResources, serde_json::Error> {
    track::from_value(v)
}

/// A bundle or its config.json is unusable; every variant names the file and the cause.
#[derive(Debug, thiserror::Error)]
pub enum SpecError {
    /// The bundle directory could not be resolved.
    #[error("bundle {path}: {source}")]
    Bundle {
        /// The bundle directory as given.
        path: PathBuf,
        /// The error resolving it returned.
        source: std::io::Error,
    },
    /// config.json could not be read.
    #[error("{path}: {source}")]
    Read {
        /// The config.json path.
        path: PathBuf,
        /// The error reading it returned.
        source: std::io::Error,
    },
    /// config.json is not valid JSON or a field has the wrong type (the error names it).
    #[error("{path}: invalid config: {source}")]
    Parse {
        /// The config.json path.
        path: PathBuf,
        /// The parse error.
        source: serde_json::Error,
    },
    /// A field has a value the runtime refuses.
    #[error("{path}: field {field}: {reason}")]
    Invalid {
        /// The config.json path.
        path: PathBuf,
        /// The field's JSON path.
        field: &'static str,
        /// Why it is refused.
        reason: String,
    },
    /// linux.seccomp does not parse (the error names the field).
    #[error("{path}: {source}")]
    Seccomp {
        /// The config.json path.
        path: PathBuf,
        /// What is wrong in linux.seccomp.
        source: crate::seccomp::SeccompError,
    },
    /// root.path is missing or not a directory.
    #[error("rootfs {path}: {source}")]
    Rootfs {
        /// The rootfs path.
        path: PathBuf,
        /// The error looking at it returned.
        source: std::io::Error,
    },
}

/// A loaded bundle: its absolute path, the parsed spec and the resolved rootfs.
#[derive(Debug, Clone)]
pub(crate) struct Bundle {
    pub path: PathBuf,
    pub spec: Spec,
    pub rootfs: PathBuf,
}

impl Bundle {
    /// Reads `<dir>/config.json`, resolves the rootfs and validates what runc validates.
    pub fn load(dir: &Path) -> Result<Self, SpecError> {
        let path = std::fs::canonicalize(dir).map_err(|source| SpecError::Bundle {
            path: dir.to_path_buf(),
            source,
        })?;
        let cfg = path.join("config.json");
        let text = std::fs::read(&cfg).map_err(|source| SpecError::Read {
            path: cfg.clone(),
            source,
        })?;
        // Parsed once into a Value so unknown capability names are named as such (oci_spec
        // would report a bare type error) and relative mount destinations anchored at "/"
        // before oci_spec's strict types see them; a conversion error is reported like a
        // parse error. The conversion does not go through Spec's own Deserialize (see `de`).
        let mut unknown_cap = None;
        let converted = serde_json::from_slice::<serde_json::Value>(&text).and_then(|mut v| {
            unknown_cap = unknown_capability(&v);
            normalize(&mut v);
            de::spec_from_value(v)
        });
        if let Some((field, name)) = unknown_cap {
            return Err(SpecError::Invalid {
                path: cfg,
                field,
                reason: format!(
                    "unknown capability {}: no Linux kernel has it",
                    crate::escape_controls(&format!("{name:?}"))
                ),
            });
        }
        let spec = converted.map_err(|source| {
            // serde names a line and column; for linux.seccomp say which field is wrong.
            match crate::seccomp::explain_parse_error(&text) {
                Some(source) => SpecError::Seccomp {
                    path: cfg.clone(),
                    source,
                },
                None => SpecError::Parse {
                    path: cfg.clone(),
                    source,
                },
            }
        })?;
        let invalid = |field, reason: String| SpecError::Invalid {
            path: cfg.clone(),
            field,
            // The reasons quote the config (paths, names): no raw control characters.
            reason: crate::escape_controls(&reason).into_owned(),
        };
        let root = spec
            .root()
            .as_ref()
            .ok_or_else(|| invalid("root", "missing".into()))?;
        let rootfs = if root.path().is_absolute() {
            root.path().clone()
        } else {
            path.join(root.path())
        };
        let meta = std::fs::metadata(&rootfs).map_err(|source| SpecError::Rootfs {
            path: rootfs.clone(),
            source,
        })?;
        if !meta.is_dir() {
            return Err(SpecError::Rootfs {
                path: rootfs,
                source: std::io::Error::from_raw_os_error(libc::ENOTDIR),
            });
        }
        let rootfs = std::fs::canonicalize(&rootfs).map_err(|source| SpecError::Rootfs {
            path: rootfs.clone(),
            source,
        })?;
        validate(&spec, &invalid)?;
        Ok(Bundle { path, spec, rootfs })
    }
}

/// The capability sets of process.capabilities.
const CAP_SETS: [&str; 5] = [
    "bounding",
    "effective",
    "inheritable",
    "permitted",
    "ambient",
];

/// The first name in process.capabilities that is no capability of any kernel (`CAP_TEST`),
/// with its field. Such a name is a mistake in the config, not a capability this kernel
/// lacks: it is refused, as crun and youki do. A real capability newer than the running
/// kernel (known to oci_spec, unknown to the kernel) is dropped when the sets are applied,
/// as runc does: the spec's "SHOULD NOT fail" is about capabilities that cannot be granted
/// here, and clients send such names to nodes with older kernels.
fn unknown_capability(v: &serde_json::Value) -> Option<(&'static str, String)> {
    const FIELDS: [&str; 5] = [
        "process.capabilities.bounding",
        "process.capabilities.effective",
        "process.capabilities.inheritable",
        "process.capabilities.permitted",
        "process.capabilities.ambient",
    ];
    let caps = v.pointer("/process/capabilities")?.as_object()?;
    CAP_SETS.iter().zip(FIELDS).find_map(|(set, field)| {
        caps.get(*set)?.as_array()?.iter().find_map(|c| {
            let name = c.as_str()?;
            // Exactly the deserializer's rule (case, repeated CAP_ prefixes).
            (oci_spec::runtime::Capability::deserialize(c).is_err())
                .then(|| (field, name.to_string()))
        })
    })
}

/// Rewrites what the spec allows but oci_spec's types reject, in the raw JSON: a relative
/// mount destination is "interpreted as relative to /": it gets a leading "/".
fn normalize(v: &mut serde_json::Value) {
    if let Some(mounts) = v.get_mut("mounts").and_then(|m| m.as_array_mut()) {
        for m in mounts {
            if let Some(d) = m.get_mut("destination") {
                if let Some(s) = d.as_str().filter(|s| !s.starts_with('/')) {
                    *d = serde_json::Value::String(format!("/{s}"));
                }
            }
        }
    }
}

/// Without a mount namespace the container shares the runtime's, the host's: it is only
/// chrooted into root.path (as runc does then), and whatever would mount something is
/// refused, naming the field, because the mount would land in the host's mount table and
/// outlive the container (runc makes them there and leaves them behind).
fn no_mount_namespace(
    spec: &Spec,
    linux: &oci_spec::runtime::Linux,
    invalid: &dyn Fn(&'static str, String) -> SpecError,
) -> Result<(), SpecError> {
    let why = |what: &str| {
        format!(
            "{what} without a mount namespace (linux.namespaces has no \"mount\"): it would \
             be made in the runtime's mount namespace, the host's"
        )
    };
    if let Some(m) = spec.mounts().iter().flatten().next() {
        let what = format!("cannot mount {}", m.destination().display());
        return Err(invalid("mounts", why(&what)));
    }
    let non_empty = |v: &Option<Vec<String>>| v.as_ref().is_some_and(|v| !v.is_empty());
    if non_empty(linux.masked_paths()) {
        return Err(invalid("linux.maskedPaths", why("cannot mask paths")));
    }
    if non_empty(linux.readonly_paths()) {
        return Err(invalid("linux.readonlyPaths", why("cannot remount paths")));
    }
    if spec
        .root()
        .as_ref()
        .is_some_and(|r| r.readonly() == Some(true))
    {
        return Err(invalid(
            "root.readonly",
            why("cannot remount the root read-only"),
        ));
    }
    if linux.rootfs_propagation().is_some() {
        return Err(invalid(
            "linux.rootfsPropagation",
            why("cannot set propagation"),
        ));
    }
    if linux.devices().as_ref().is_some_and(|d| !d.is_empty()) {
        return Err(invalid("linux.devices", why("cannot create devices")));
    }
    if linux.sysctl().as_ref().is_some_and(|s| !s.is_empty()) {
        return Err(invalid(
            "linux.sysctl",
            why("cannot mount a procfs to write sysctls"),
        ));
    }
    if spec.process().as_ref().and_then(|p| p.terminal()) == Some(true) {
        return Err(invalid(
            "process.terminal",
            why("cannot bind the pty on /dev/console"),
        ));
    }
    Ok(())
}

/// Checks that depend only on the spec's own content.
pub(crate) fn validate(
    spec: &Spec,
    invalid: &dyn Fn(&'static str, String) -> SpecError,
) -> Result<(), SpecError> {
    let process = spec
        .process()
        .as_ref()
        .ok_or_else(|| invalid("process", "missing".into()))?;
    if process.args().as_ref().is_none_or(|a| a.is_empty()) {
        return Err(invalid("process.args", "must not be empty".into()));
    }
    if !process.cwd().is_absolute() {
        return Err(invalid(
            "process.cwd",
            format!("{} is not an absolute path", process.cwd().display()),
        ));
    }
    // runc refuses duplicates too. Applied in order, the last one would win, or the second
    // would fail only where raising the hard limit needs a CAP_SYS_RESOURCE the runtime lacks.
    let mut kinds = Vec::new();
    for r in process.rlimits().iter().flatten() {
        if kinds.contains(&r.typ()) {
            return Err(invalid(
                "process.rlimits",
                format!("{} listed twice", r.typ()),
            ));
        }
        kinds.push(r.typ());
    }
    let Some(linux) = spec.linux() else {
        return Ok(());
    };
    let mut seen = HashSet::new();
    let mut has_userns = false;
    let mut has_uts = false;
    let mut has_mnt = false;
    for ns in linux.namespaces().iter().flatten() {
        if !seen.insert(ns.typ()) {
            return Err(invalid(
                "linux.namespaces",
                format!("namespace type {} listed twice", ns.typ()),
            ));
        }
        if ns.typ() == LinuxNamespaceType::User {
            has_userns = true;
        }
        if ns.typ() == LinuxNamespaceType::Uts {
            has_uts = true;
        }
        if ns.typ() == LinuxNamespaceType::Mount {
            has_mnt = true;
        }
    }
    if !has_mnt {
        no_mount_namespace(spec, linux, invalid)?;
    }
    let maps = linux.uid_mappings().as_ref().is_some_and(|m| !m.is_empty())
        || linux.gid_mappings().as_ref().is_some_and(|m| !m.is_empty());
    if has_userns
        && linux
            .namespaces()
            .iter()
            .flatten()
            .any(|n| n.typ() == LinuxNamespaceType::User && n.path().is_none())
        && !maps
    {
        return Err(invalid(
            "linux.uidMappings",
            "a new user namespace needs uidMappings and gidMappings".into(),
        ));
    }
    if !has_userns && maps {
        return Err(invalid(
            "linux.uidMappings",
            "id mappings given without a user namespace".into(),
        ));
    }
    if spec.hostname().as_ref().is_some_and(|h| !h.is_empty()) && !has_uts {
        return Err(invalid(
            "hostname",
            "unable to set hostname without a private UTS namespace".into(),
        ));
    }
    for m in spec.mounts().iter().flatten() {
        // `Bundle::load` anchors relative destinations at "/"; a spec built in code must too.
        if !m.destination().is_absolute() {
            return Err(invalid(
                "mounts.destination",
                format!("{} is not an absolute path", m.destination().display()),
            ));
        }
    }
    if let Some(hooks) = spec.hooks() {
        let phases: [(&'static str, &Option<Vec<oci_spec::runtime::Hook>>); 6] = [
            ("hooks.prestart", hooks.prestart()),
            ("hooks.createRuntime", hooks.create_runtime()),
            ("hooks.createContainer", hooks.create_container()),
            ("hooks.startContainer", hooks.start_container()),
            ("hooks.poststart", hooks.poststart()),
            ("hooks.poststop", hooks.poststop()),
        ];
        for (field, list) in phases {
            for (i, h) in list.iter().flatten().enumerate() {
                // The spec: "path MUST be absolute" (hooks are not looked up in PATH).
                if !h.path().is_absolute() {
                    return Err(invalid(
                        field,
                        format!("[{i}].path {} is not an absolute path", h.path().display()),
                    ));
                }
            }
        }
    }
    Ok(())
}

/// The config.json `spec` writes: runc's default (terminal, sh, the minimal capability set,
/// masked and readonly paths), with hostname "ongi". `rootless` maps the caller's ids into a
/// user namespace and drops what an unprivileged user cannot set up.
pub fn default_spec(rootless: bool) -> serde_json::Value {
    let caps = serde_json::json!(["CAP_AUDIT_WRITE", "CAP_KILL", "CAP_NET_BIND_SERVICE"]);
    let mut v = serde_json::json!({
        "ociVersion": state_oci_version(),
        "process": {
            "terminal": true,
            "user": {"uid": 0, "gid": 0},
            "args": ["sh"],
            "env": ["PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin", "TERM=xterm"],
            "cwd": "/",
            "capabilities": {"bounding": caps, "effective": caps, "permitted": caps, "ambient": caps},
            "rlimits": [{"type": "RLIMIT_NOFILE", "hard": 1024, "soft": 1024}],
            "noNewPrivileges": true
        },
        "root": {"path": "rootfs", "readonly": true},
        "hostname": "ongi",
        "mounts": [
            {"destination": "/proc", "type": "proc", "source": "proc"},
            {"destination": "/dev", "type": "tmpfs", "source": "tmpfs", "options": ["nosuid", "strictatime", "mode=755", "size=65536k"]},
            {"destination": "/dev/pts", "type": "devpts", "source": "devpts", "options": ["nosuid", "noexec", "newinstance", "ptmxmode=0666", "mode=0620", "gid=5"]},
            {"destination": "/dev/shm", "type": "tmpfs", "source": "shm", "options": ["nosuid", "noexec", "nodev", "mode=1777", "size=65536k"]},
            {"destination": "/dev/mqueue", "type": "mqueue", "source": "mqueue", "options": ["nosuid", "noexec", "nodev"]},
            {"destination": "/sys", "type": "sysfs", "source": "sysfs", "options": ["nosuid", "noexec", "nodev", "ro"]},
            {"destination": "/sys/fs/cgroup", "type": "cgroup", "source": "cgroup", "options": ["nosuid", "noexec", "nodev", "relatime", "ro"]}
        ],
        "linux": {
            "resources": {"devices": [{"allow": false, "access": "rwm"}]},
            "namespaces": [{"type": "pid"}, {"type": "network"}, {"type": "ipc"}, {"type": "uts"}, {"type": "mount"}],
            "maskedPaths": ["/proc/acpi", "/proc/asound", "/proc/kcore", "/proc/keys", "/proc/latency_stats",
                "/proc/timer_list", "/proc/timer_stats", "/proc/sched_debug", "/sys/firmware", "/proc/scsi"],
            "readonlyPaths": ["/proc/bus", "/proc/fs", "/proc/irq", "/proc/sys", "/proc/sysrq-trigger"]
        }
    });
    if rootless {
        let uid = nix::unistd::geteuid().as_raw();
        let gid = nix::unistd::getegid().as_raw();
        let linux = &mut v["linux"];
        linux["uidMappings"] = serde_json::json!([{"containerID": 0, "hostID": uid, "size": 1}]);
        linux["gidMappings"] = serde_json::json!([{"containerID": 0, "hostID": gid, "size": 1}]);
        linux["namespaces"] = serde_json::json!([{"type": "pid"}, {"type": "ipc"}, {"type": "uts"}, {"type": "mount"}, {"type": "user"}]);
        linux.as_object_mut().map(|o| o.remove("resources"));
        // runc's ToRootless: /sys becomes a read-only rbind (sysfs needs a network namespace
        // we own), uid=/gid= options go (the ids are not mapped); everything else stays.
        if let Some(mounts) = v["mounts"].as_array_mut() {
            for m in mounts.iter_mut() {
                if m["destination"] == "/sys" {
                    *m = serde_json::json!({"destination": "/sys", "type": "none", "source": "/sys",
                        "options": ["rbind", "nosuid", "noexec", "nodev", "ro"]});
                }
                if let Some(o) = m.get_mut("options").and_then(|o| o.as_array_mut()) {
                    o.retain(|x| {
                        x.as_str()
                            .is_none_or(|x| !x.starts_with("gid=") && !x.starts_with("uid="))
                    });
                }
            }
        }
    }
    v
}

fn state_oci_version() -> &'static str {
    crate::state::OCI_VERSION
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unknown_capabilities_are_named_and_destinations_anchored() {
        let mut v = serde_json::json!({
            "process": {"capabilities": {
                "bounding": ["CAP_KILL", "net_raw"],
                "effective": ["CAP_KILL", "CAP_NOPE"]
            }},
            "mounts": [{"destination": "mnt/rel"}, {"destination": "/abs"}]
        });
        assert_eq!(
            unknown_capability(&v),
            Some(("process.capabilities.effective", "CAP_NOPE".to_string()))
        );
        v["process"]["capabilities"]["effective"] = serde_json::json!(["cap_kill"]);
        assert_eq!(unknown_capability(&v), None);
        normalize(&mut v);
        assert_eq!(v["mounts"][0]["destination"], "/mnt/rel");
        assert_eq!(v["mounts"][1]["destination"], "/abs");
    }

    #[test]
    fn duplicate_rlimits_are_refused() {
        let spec = |limits: serde_json::Value| -> Spec {
            serde_json::from_value(serde_json::json!({
                "ociVersion": "1.0.2",
                "process": {"args": ["sh"], "cwd": "/", "user": {"uid": 0, "gid": 0},
                            "rlimits": limits}
            }))
            .expect("spec")
        };
        let invalid = |field: &'static str, reason: String| SpecError::Invalid {
            path: PathBuf::from("config.json"),
            field,
            reason,
        };
        let one = serde_json::json!({"type": "RLIMIT_NOFILE", "soft": 100, "hard": 200});
        let other = serde_json::json!({"type": "RLIMIT_CORE", "soft": 0, "hard": 0});
        assert!(validate(&spec(serde_json::json!([one, other])), &invalid).is_ok());
        let e = validate(&spec(serde_json::json!([one, other, one])), &invalid)
            .expect_err("duplicate accepted")
            .to_string();
        assert!(
            e.contains("process.rlimits") && e.contains("RLIMIT_NOFILE"),
            "{e}"
        );
    }

    /// A bundle dir under the test's temp dir with `config` (runc's default spec changed by
    /// `edit`) and an empty rootfs.
    fn bundle(name: &str, edit: impl FnOnce(&mut serde_json::Value)) -> PathBuf {
        let dir = std::env::temp_dir().join(format!("ongi-unit-{name}-{}", std::process::id()));
        std::fs::create_dir_all(dir.join("rootfs")).unwrap();
        let mut v = default_spec(false);
        edit(&mut v);
        std::fs::write(dir.join("config.json"), v.to_string()).unwrap();
        dir
    }

    #[test]
    fn check_bundle_runs_both_halves_of_creates_checks() {
        let ok = bundle("check-ok", |_| {});
        assert!(check_bundle(&ok).is_ok());
        // First half (before the state dir): a sysctl key of the host's network namespace.
        let host_net = bundle("check-sysctl", |v| {
            v["linux"]["namespaces"] = serde_json::json!([{"type": "mount"}, {"type": "uts"}]);
            v["linux"]["sysctl"] = serde_json::json!({"net.ipv4.ip_forward": "1"});
        });
        let e = check_bundle(&host_net).unwrap_err();
        assert!(matches!(e, crate::Error::Sysctl(_)), "{e}");
        // Second half (after it): a seccomp rule libseccomp refuses, and a scheduler
        // policy that does not exist.
        let seccomp = bundle("check-seccomp", |v| {
            v["linux"]["seccomp"] = serde_json::json!({
                "defaultAction": "SCMP_ACT_ALLOW",
                "syscalls": [{"names": ["read"], "action": "SCMP_ACT_ERRNO",
                              "args": [{"index": 9, "value": 0, "op": "SCMP_CMP_EQ"}]}]
            });
        });
        let e = check_bundle(&seccomp).unwrap_err();
        assert!(matches!(e, crate::Error::Seccomp(_)), "{e}");
        let sched = bundle("check-sched", |v| {
            v["process"]["scheduler"] = serde_json::json!({"policy": "SCHED_DEADLINE"});
        });
        let e = check_bundle(&sched).unwrap_err();
        assert!(matches!(e, crate::Error::Attr(_)), "{e}");
        for d in [ok, host_net, seccomp, sched] {
            let _ = std::fs::remove_dir_all(d);
        }
    }

    #[test]
    fn check_process_reads_validates_and_converts() {
        let path = std::env::temp_dir().join(format!("ongi-unit-proc-{}.json", std::process::id()));
        let check = |v: serde_json::Value| {
            std::fs::write(&path, v.to_string()).unwrap();
            check_process(&path)
        };
        let p = serde_json::json!({"args": ["sh"], "cwd": "/", "user": {"uid": 0, "gid": 0}});
        assert!(check(p.clone()).is_ok());
        let mut rel = p.clone();
        rel["cwd"] = "tmp".into();
        let e = check(rel).unwrap_err();
        assert!(
            matches!(e, crate::Error::Exec(crate::ExecError::RelativeCwd(_))),
            "{e}"
        );
        let mut typ = p.clone();
        typ["user"]["uid"] = "root".into();
        let e = check(typ).unwrap_err();
        assert!(
            e.to_string().contains("process.user.uid") || e.to_string().contains("user.uid"),
            "{e}"
        );
        let mut sched = p;
        sched["scheduler"] = serde_json::json!({"policy": "SCHED_DEADLINE"});
        let e = check(sched).unwrap_err();
        assert!(matches!(e, crate::Error::Attr(_)), "{e}");
        let _ = std::fs::remove_file(&path);
    }
}
