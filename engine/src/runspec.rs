//! The OCI runtime config (config.json) a container runs with: docker's defaults (its
//! capability set, seccomp profile, masked and read-only paths, /dev, /dev/shm, /etc/hosts,
//! /etc/hostname, /etc/resolv.conf) with the image's config and the user's flags applied.
//! Made by the monitor before each start, when the rootfs is mounted, because names in
//! `--user` resolve through the image's /etc/passwd and /etc/group.

use std::path::Path;

use serde_json::{json, Value};

use crate::container::Settings;

/// Why the config could not be made.
#[derive(Debug, thiserror::Error)]
pub enum RunSpecError {
    /// A user or group name the image does not define (docker's wording).
    #[error("unable to find user {0}: no matching entries in passwd file")]
    NoUser(String),
    /// A group name the image does not define.
    #[error("unable to find group {0}: no matching entries in group file")]
    NoGroup(String),
    /// A capability name that is not one.
    #[error("invalid capability {0:?}: unknown capability name (--cap-add/--cap-drop)")]
    BadCap(String),
    /// A `--device` host node that is gone.
    #[error("--device {0}: {1}")]
    Device(String, String),
    /// `--init` without an init binary on the host.
    #[error("--init: no init binary found (looked for $ONGI_INIT, {0}); install docker.io (docker-init) or catatonit")]
    NoInit(String),
    /// `--security-opt seccomp=FILE` unreadable or not JSON.
    #[error("--security-opt seccomp={path}: {why}")]
    Seccomp {
        /// The file.
        path: String,
        /// The cause.
        why: String,
    },
}

/// Where docker's init (a static tini) or podman's (catatonit, also static) is found.
const INIT_BINARIES: &[&str] = &[
    "/usr/bin/docker-init",
    "/usr/libexec/docker/docker-init",
    "/usr/bin/catatonit",
    "/usr/libexec/podman/catatonit",
];

/// Where `--init`'s binary appears in the container, as docker puts it.
pub const INIT_PATH: &str = "/sbin/docker-init";

/// The host's init binary for `--init`: `$ONGI_INIT`, else the first of docker's and
/// podman's that exists.
pub fn init_binary() -> Result<std::path::PathBuf, RunSpecError> {
    if let Some(p) = std::env::var_os("ONGI_INIT") {
        return Ok(p.into());
    }
    INIT_BINARIES
        .iter()
        .map(std::path::PathBuf::from)
        .find(|p| p.is_file())
        .ok_or_else(|| RunSpecError::NoInit(INIT_BINARIES.join(", ")))
}

/// docker's default capability set.
pub const DEFAULT_CAPS: &[&str] = &[
    "CAP_CHOWN",
    "CAP_DAC_OVERRIDE",
    "CAP_FSETID",
    "CAP_FOWNER",
    "CAP_MKNOD",
    "CAP_NET_RAW",
    "CAP_SETGID",
    "CAP_SETUID",
    "CAP_SETFCAP",
    "CAP_SETPCAP",
    "CAP_NET_BIND_SERVICE",
    "CAP_SYS_CHROOT",
    "CAP_KILL",
    "CAP_AUDIT_WRITE",
];

const MASKED: &[&str] = &[
    "/proc/asound",
    "/proc/acpi",
    "/proc/interrupts",
    "/proc/kcore",
    "/proc/keys",
    "/proc/latency_stats",
    "/proc/timer_list",
    "/proc/timer_stats",
    "/proc/sched_debug",
    "/proc/scsi",
    "/sys/firmware",
    "/sys/devices/virtual/powercap",
];

const READONLY: &[&str] = &[
    "/proc/bus",
    "/proc/fs",
    "/proc/irq",
    "/proc/sys",
    "/proc/sysrq-trigger",
];

/// Every capability name docker accepts in --cap-add/--cap-drop (`ALL` aside).
fn all_caps() -> Vec<String> {
    ongi::features::features().linux.capabilities
}

fn norm_cap(c: &str) -> String {
    let u = c.to_ascii_uppercase();
    if u.starts_with("CAP_") {
        u
    } else {
        format!("CAP_{u}")
    }
}

/// The capability set after --privileged, --cap-add and --cap-drop (docker's order: drops
/// then adds, `ALL` on either side).
pub fn capabilities(s: &Settings) -> Result<Vec<String>, RunSpecError> {
    let all = all_caps();
    if s.privileged {
        return Ok(all);
    }
    let mut caps: Vec<String> = DEFAULT_CAPS.iter().map(|c| c.to_string()).collect();
    for d in &s.cap_drop {
        if d.eq_ignore_ascii_case("ALL") {
            caps.clear();
            continue;
        }
        let n = norm_cap(d);
        if !all.contains(&n) {
            return Err(RunSpecError::BadCap(d.clone()));
        }
        caps.retain(|c| *c != n);
    }
    for a in &s.cap_add {
        if a.eq_ignore_ascii_case("ALL") {
            caps = all.clone();
            continue;
        }
        let n = norm_cap(a);
        if !all.contains(&n) {
            return Err(RunSpecError::BadCap(a.clone()));
        }
        if !caps.contains(&n) {
            caps.push(n);
        }
    }
    Ok(caps)
}

fn lookup(file: &Path, name: &str, id_field: usize) -> Option<(u32, Vec<String>)> {
    let text = std::fs::read_to_string(file).ok()?;
    text.lines().find_map(|l| {
        let f: Vec<&str> = l.split(':').collect();
        (f.len() > id_field && f[0] == name)
            .then(|| {
                (
                    f[id_field].parse().ok(),
                    f.iter().map(|s| s.to_string()).collect(),
                )
            })
            .and_then(|(id, fields)| id.map(|i| (i, fields)))
    })
}

/// docker's `--user` forms: `name`, `uid`, `name:group`, `uid:gid`, resolved through the
/// image's passwd and group files; supplementary groups from the group file.
pub fn resolve_user(rootfs: &Path, user: &str) -> Result<(u32, u32, Vec<u32>), RunSpecError> {
    let (u, g) = match user.split_once(':') {
        Some((u, g)) => (u, Some(g)),
        None => (user, None),
    };
    let passwd = rootfs.join("etc/passwd");
    let group = rootfs.join("etc/group");
    let (uid, mut gid, uname) = if u.is_empty() {
        (0, 0, Some("root".to_string()))
    } else if let Ok(n) = u.parse::<u32>() {
        // A numeric uid needs no passwd entry; its primary group comes from one if present.
        let entry = std::fs::read_to_string(&passwd).ok().and_then(|t| {
            t.lines().find_map(|l| {
                let f: Vec<&str> = l.split(':').collect();
                (f.len() > 3 && f[2] == u)
                    .then(|| (f[3].parse::<u32>().unwrap_or(n), f[0].to_string()))
            })
        });
        // docker: a uid without a passwd entry runs with gid 0.
        (n, entry.as_ref().map_or(0, |e| e.0), entry.map(|e| e.1))
    } else {
        let (id, f) = lookup(&passwd, u, 2).ok_or_else(|| RunSpecError::NoUser(u.to_string()))?;
        (
            id,
            f.get(3).and_then(|g| g.parse().ok()).unwrap_or(0),
            Some(u.to_string()),
        )
    };
    if let Some(g) = g {
        gid = match g.parse::<u32>() {
            Ok(n) => n,
            Err(_) => {
                lookup(&group, g, 2)
                    .ok_or_else(|| RunSpecError::NoGroup(g.to_string()))?
                    .0
            }
        };
    }
    let mut extra = Vec::new();
    if let (Some(name), None) = (&uname, g) {
        if let Ok(t) = std::fs::read_to_string(&group) {
            for l in t.lines() {
                let f: Vec<&str> = l.split(':').collect();
                if f.len() > 3 && f[3].split(',').any(|m| m == name) {
                    if let Ok(id) = f[2].parse::<u32>() {
                        if id != gid && !extra.contains(&id) {
                            extra.push(id);
                        }
                    }
                }
            }
        }
    }
    Ok((uid, gid, extra))
}

/// The config.json for `s`, whose rootfs is mounted at `rootfs`, with its per-container
/// files (hosts, hostname, resolv.conf) in `dir`.
pub fn generate(s: &Settings, rootfs: &Path, dir: &Path) -> Result<Value, RunSpecError> {
    let (uid, gid, extra) = resolve_user(rootfs, s.user.as_deref().unwrap_or(""))?;
    let caps = capabilities(s)?;
    let cwd = s
        .working_dir
        .clone()
        .filter(|w| !w.is_empty())
        .unwrap_or_else(|| "/".into());
    let mut env = s.env.clone();
    if !env.iter().any(|e| e.starts_with("PATH=")) {
        env.insert(
            0,
            "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin".into(),
        );
    }
    if !env.iter().any(|e| e.starts_with("HOSTNAME=")) {
        env.push(format!("HOSTNAME={}", s.hostname));
    }
    if s.tty && !env.iter().any(|e| e.starts_with("TERM=")) {
        env.push("TERM=xterm".into());
    }
    let mut mounts = vec![
        json!({"destination": "/proc", "type": "proc", "source": "proc", "options": ["nosuid", "noexec", "nodev"]}),
        json!({"destination": "/dev", "type": "tmpfs", "source": "tmpfs", "options": ["nosuid", "strictatime", "mode=755", "size=65536k"]}),
        json!({"destination": "/dev/pts", "type": "devpts", "source": "devpts", "options": ["nosuid", "noexec", "newinstance", "ptmxmode=0666", "mode=0620", "gid=5"]}),
        json!({"destination": "/sys", "type": "sysfs", "source": "sysfs", "options": ["nosuid", "noexec", "nodev", "ro"]}),
        json!({"destination": "/sys/fs/cgroup", "type": "cgroup", "source": "cgroup", "options": ["ro", "nosuid", "noexec", "nodev"]}),
        json!({"destination": "/dev/mqueue", "type": "mqueue", "source": "mqueue", "options": ["nosuid", "noexec", "nodev"]}),
        json!({"destination": "/dev/shm", "type": "tmpfs", "source": "shm", "options": ["nosuid", "noexec", "nodev", "mode=1777", "size=67108864"]}),
    ];
    // --network container:X: X's namespace and X's files, as docker shares them.
    let joined = crate::network::shared::joined(dir, s);
    let files = joined.as_ref().map_or(dir, |(_, d)| d.as_path());
    for (f, dest) in [
        ("resolv.conf", "/etc/resolv.conf"),
        ("hostname", "/etc/hostname"),
        ("hosts", "/etc/hosts"),
    ] {
        mounts.push(json!({"destination": dest, "type": "bind", "source": files.join(f), "options": ["rbind", "rprivate"]}));
    }
    for m in &s.mounts {
        let mut opts = vec!["rbind".to_string()];
        opts.push(if m.read_only { "ro" } else { "rw" }.into());
        mounts.push(json!({"destination": m.destination, "type": "bind", "source": m.source, "options": opts}));
    }
    let mut args = s.args();
    if s.init {
        // docker bind-mounts its init read-only and runs `docker-init -- CMD...`: PID 1
        // reaps orphans and forwards signals, the command runs as its child.
        let bin = init_binary()?;
        mounts.push(json!({"destination": INIT_PATH, "type": "bind", "source": bin, "options": ["rbind", "ro"]}));
        args.splice(0..0, [INIT_PATH.to_string(), "--".to_string()]);
    }
    for t in &s.tmpfs {
        let (dest, o) = t.split_once(':').unwrap_or((t.as_str(), ""));
        let mut opts = vec!["nosuid".to_string(), "nodev".into(), "noexec".into()];
        opts.extend(o.split(',').filter(|x| !x.is_empty()).map(String::from));
        mounts.push(
            json!({"destination": dest, "type": "tmpfs", "source": "tmpfs", "options": opts}),
        );
    }
    let mut namespaces = vec![
        json!({"type": "pid"}),
        json!({"type": "ipc"}),
        json!({"type": "uts"}),
        json!({"type": "mount"}),
        json!({"type": "cgroup"}),
    ];
    match crate::network::netns_of(dir).or(joined.map(|(ns, _)| ns)) {
        // The namespace the engine made and plumbed before the monitor started, or the
        // one of the container this one joins.
        Some(p) => namespaces.push(json!({"type": "network", "path": p})),
        None if s.network != "host" => namespaces.push(json!({"type": "network"})),
        None => {}
    }
    let mut resources = json!({"devices": [{"allow": false, "access": "rwm"}]});
    if let Some(m) = s.memory {
        resources["memory"] = json!({"limit": m});
    }
    if let Some(c) = s.nano_cpus {
        let period = 100_000u64;
        resources["cpu"] =
            json!({"quota": (c as u128 * period as u128 / 1_000_000_000) as i64, "period": period});
    }
    if let Some(p) = s.pids_limit {
        resources["pids"] = json!({"limit": p});
    }
    let mut devices = vec![];
    for d in &s.devices {
        use std::os::unix::fs::{FileTypeExt, MetadataExt};
        // Numbers and mode are read at each start: a device node can be remade meanwhile.
        let m = std::fs::metadata(&d.host)
            .map_err(|e| RunSpecError::Device(d.host.display().to_string(), e.to_string()))?;
        let kind = if m.file_type().is_block_device() {
            "b"
        } else {
            "c"
        };
        let (major, minor) = (libc::major(m.rdev()), libc::minor(m.rdev()));
        devices.push(json!({"path": d.container, "type": kind, "major": major, "minor": minor, "fileMode": m.mode() & 0o777, "uid": m.uid(), "gid": m.gid()}));
        if let Some(list) = resources["devices"].as_array_mut() {
            list.push(json!({"allow": true, "type": kind, "major": major, "minor": minor, "access": d.access}));
        }
    }
    let mut rlimits = vec![];
    for u in &s.ulimits {
        rlimits.push(json!({"type": format!("RLIMIT_{}", u.name.to_ascii_uppercase()), "soft": u.soft, "hard": u.hard}));
    }
    let mut linux = json!({
        "namespaces": namespaces,
        "resources": resources,
        "cgroupsPath": format!("/ongictl/{}", s.id),
        "devices": devices,
        "maskedPaths": if s.privileged { json!([]) } else { json!(MASKED) },
        "readonlyPaths": if s.privileged { json!([]) } else { json!(READONLY) },
    });
    let seccomp_profile = match s.seccomp.as_deref() {
        Some("unconfined") => None,
        _ if s.privileged => None,
        Some(path) => {
            let raw = std::fs::read_to_string(path).map_err(|e| RunSpecError::Seccomp {
                path: path.into(),
                why: e.to_string(),
            })?;
            Some(
                serde_json::from_str::<Value>(&raw).map_err(|e| RunSpecError::Seccomp {
                    path: path.into(),
                    why: e.to_string(),
                })?,
            )
        }
        None => serde_json::from_str::<Value>(crate::seccomp::DEFAULT_PROFILE).ok(),
    };
    if let Some(p) = seccomp_profile {
        linux["seccomp"] = crate::seccomp::to_oci(&p, &caps);
    }
    let mut user = json!({"uid": uid, "gid": gid});
    if !extra.is_empty() {
        user["additionalGids"] = json!(extra);
    }
    let capset = json!({"bounding": caps, "effective": caps, "permitted": caps});
    let mut process = json!({
        "terminal": s.tty,
        "user": user,
        "args": args,
        "env": env,
        "cwd": cwd,
        "capabilities": if uid == 0 { capset } else { json!({"bounding": caps}) },
        "noNewPrivileges": s.no_new_privileges,
    });
    if !rlimits.is_empty() {
        process["rlimits"] = json!(rlimits);
    }
    Ok(json!({
        "ociVersion": ongi::OCI_VERSION,
        "process": process,
        "root": {"path": rootfs, "readonly": s.read_only},
        "hostname": s.hostname,
        "mounts": mounts,
        "linux": linux,
        "annotations": {"org.opencontainers.image.ref.name": s.image},
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn users_resolve_through_the_image() {
        let d = std::env::temp_dir().join(format!("ongi-runspec-{}", std::process::id()));
        std::fs::create_dir_all(d.join("etc")).unwrap();
        std::fs::write(
            d.join("etc/passwd"),
            "root:x:0:0::/root:/bin/sh\nweb:x:1000:1001::/home/web:/bin/sh\n",
        )
        .unwrap();
        std::fs::write(
            d.join("etc/group"),
            "root:x:0:\nweb:x:1001:\nwheel:x:10:web,other\n",
        )
        .unwrap();
        assert_eq!(resolve_user(&d, "").unwrap(), (0, 0, vec![]));
        assert_eq!(resolve_user(&d, "web").unwrap(), (1000, 1001, vec![10]));
        assert_eq!(resolve_user(&d, "1000").unwrap(), (1000, 1001, vec![10]));
        assert_eq!(resolve_user(&d, "4242").unwrap(), (4242, 0, vec![]));
        assert_eq!(resolve_user(&d, "web:wheel").unwrap(), (1000, 10, vec![]));
        assert!(matches!(
            resolve_user(&d, "nobody"),
            Err(RunSpecError::NoUser(_))
        ));
        assert!(matches!(
            resolve_user(&d, "web:nogroup"),
            Err(RunSpecError::NoGroup(_))
        ));
        std::fs::remove_dir_all(&d).unwrap();
    }
}
