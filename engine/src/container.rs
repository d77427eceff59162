//! Containers: their settings (what `create`/`run` flags and the image config decide),
//! their records (database row + directory), names and id prefixes, status as docker shows
//! it, and removal. The process side (starting, supervising, exit) is the monitor's.
//!
//! Status is never trusted from a file alone: the monitor holds `monitor.lock` for as long
//! as it lives, and a container whose state says running but whose monitor is gone is
//! checked against the runtime and, if its process is gone too, recorded as exited and
//! cleaned up by whichever command looks first.

use std::collections::BTreeMap;
use std::fs;
use std::io;
use std::os::fd::AsRawFd;
use std::path::{Path, PathBuf};

use rusqlite::{params, OptionalExtension};
use serde::{Deserialize, Serialize};

use crate::image::{self, Image, ImageError};
use crate::store::{io_err, Store, StoreError};

/// Why a container operation failed.
#[derive(Debug, thiserror::Error)]
pub enum ContainerError {
    /// The store failed.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// The image failed.
    #[error(transparent)]
    Image(#[from] ImageError),
    /// No container by that name or id (docker's wording).
    #[error("No such container: {0}")]
    NotFound(String),
    /// An id prefix matched several containers.
    #[error("multiple containers found with provided prefix: {0}")]
    Ambiguous(String),
    /// `--name` taken (docker's wording).
    #[error("Conflict. The container name \"/{name}\" is already in use by container \"{id}\". You have to remove (or rename) that container to be able to reuse that name.")]
    NameInUse {
        /// The name.
        name: String,
        /// The container holding it.
        id: String,
    },
    /// A name docker would refuse.
    #[error("Invalid container name ({0}), only [a-zA-Z0-9][a-zA-Z0-9_.-] are allowed")]
    BadName(String),
    /// rm of a running container without -f (docker's wording).
    #[error("cannot remove container \"/{name}\": container is running: stop the container before removing or force remove")]
    Running {
        /// The container's name.
        name: String,
    },
    /// A runtime call failed.
    #[error("container {id}: {source}")]
    Runtime {
        /// The container.
        id: String,
        /// The cause.
        source: Box<ongi::Error>,
    },
    /// A flag value refused.
    #[error(transparent)]
    Flag(FlagError),
    /// Flags that contradict each other.
    #[error("{0}")]
    Conflict(String),
    /// Neither the image nor the flags give a command (docker's wording).
    #[error("no command specified")]
    NoCommand,
    /// A healthcheck flag or the image's Healthcheck refused.
    #[error(transparent)]
    Health(#[from] crate::health::HealthError),
    /// The container could not be started (docker: "failed to create task").
    #[error("container {id}: failed to start: {message}")]
    StartFailed {
        /// The container.
        id: String,
        /// What the monitor reported.
        message: String,
    },
    /// Its network (unknown network, bad -p, a port taken, set-up failed).
    #[error(transparent)]
    Network(Box<crate::network::NetworkError>),
    /// Unmounting the rootfs failed.
    #[error("container {id}: unmount {path}: {source}")]
    Unmount {
        /// The container.
        id: String,
        /// The mount point.
        path: PathBuf,
        /// The cause.
        source: io::Error,
    },
}

/// A bind mount from `-v SRC:DST[:ro]` or `--mount`.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct MountSpec {
    /// Host path (a volume's _data for named volumes).
    pub source: PathBuf,
    /// Path in the container.
    pub destination: String,
    /// `:ro`.
    pub read_only: bool,
    /// The named volume behind it, if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub volume: Option<String>,
    /// The volume was made for this container (`-v /path`, image Volumes): `rm -v` and
    /// `run --rm` remove it.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub anonymous: bool,
}

/// `--device HOST[:CONTAINER[:PERMS]]`: a host device node made in the container and
/// allowed by its device cgroup with PERMS (docker's default `rwm`).
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct DeviceSpec {
    /// The device node on the host.
    pub host: PathBuf,
    /// Its path in the container.
    pub container: String,
    /// Cgroup access: a combination of r, w, m.
    pub access: String,
}

/// Parses and checks `--device` as docker does: the host path must be a device node.
pub fn parse_device(v: &str) -> Result<DeviceSpec, FlagError> {
    let parts: Vec<&str> = v.split(':').collect();
    let (host, container, access) = match parts.as_slice() {
        [h] => (*h, *h, "rwm"),
        [h, c] if !c.is_empty() && c.chars().all(|x| "rwm".contains(x)) => (*h, *h, *c),
        [h, c] => (*h, *c, "rwm"),
        [h, c, a] => (*h, *c, *a),
        _ => return Err(flag_err("--device", v, "expected HOST[:CONTAINER[:PERMS]]")),
    };
    if access.is_empty() || !access.chars().all(|x| "rwm".contains(x)) {
        return Err(flag_err(
            "--device",
            v,
            format!("invalid device mode: {access}"),
        ));
    }
    if !container.starts_with('/') {
        return Err(flag_err(
            "--device",
            v,
            format!("{container} is not an absolute path"),
        ));
    }
    use std::os::unix::fs::FileTypeExt;
    let meta = fs::metadata(host).map_err(|e| {
        flag_err(
            "--device",
            v,
            format!("error gathering device information while adding custom device {host:?}: {e}"),
        )
    })?;
    if !(meta.file_type().is_char_device() || meta.file_type().is_block_device()) {
        return Err(flag_err(
            "--device",
            v,
            format!("{host} is not a device node"),
        ));
    }
    Ok(DeviceSpec {
        host: PathBuf::from(host),
        container: container.to_string(),
        access: access.to_string(),
    })
}

/// `--ulimit name=soft[:hard]`.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Ulimit {
    /// `nofile`, `nproc`, ...
    pub name: String,
    /// Soft limit.
    pub soft: u64,
    /// Hard limit.
    pub hard: u64,
}

/// `--restart`.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
pub struct RestartPolicy {
    /// `no`, `on-failure`, `always`, `unless-stopped`.
    #[serde(rename = "Name")]
    pub name: String,
    /// on-failure:N (0 = unlimited).
    #[serde(rename = "MaximumRetryCount")]
    pub max_retries: u32,
}

/// Everything a container is made from, decided at create and fixed for its life (docker's
/// Config + HostConfig). Stored in the database and, for the monitor, as settings.json.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct Settings {
    /// 64 hex digits.
    pub id: String,
    /// Without docker's leading slash.
    pub name: String,
    /// The image as the user named it.
    pub image: String,
    /// The image id.
    pub image_id: String,
    /// RFC 3339.
    pub created: String,
    /// Final entrypoint (image's unless --entrypoint).
    pub entrypoint: Vec<String>,
    /// Final command (image's unless given).
    pub cmd: Vec<String>,
    /// Image env then -e/--env-file.
    pub env: Vec<String>,
    /// -w or the image's.
    pub working_dir: Option<String>,
    /// -u or the image's.
    pub user: Option<String>,
    /// -h or the short id.
    pub hostname: String,
    /// -t.
    pub tty: bool,
    /// -i.
    pub interactive: bool,
    /// --rm.
    pub auto_remove: bool,
    /// --restart.
    pub restart: RestartPolicy,
    /// Image labels then -l.
    pub labels: BTreeMap<String, String>,
    /// -v / --mount.
    pub mounts: Vec<MountSpec>,
    /// --tmpfs DEST[:opts].
    pub tmpfs: Vec<String>,
    /// --read-only.
    pub read_only: bool,
    /// --network: none (the default), host, bridge or a network's name.
    pub network: String,
    /// -p, one entry per port (ranges expanded).
    #[serde(default)]
    pub ports: Vec<crate::network::portmap::PortSpec>,
    /// --add-host, --dns*, --ip, --network-alias, --link, -P.
    #[serde(default)]
    pub net: crate::network::options::NetOptions,
    /// -m, bytes.
    pub memory: Option<i64>,
    /// --cpus × 1e9.
    pub nano_cpus: Option<u64>,
    /// --pids-limit.
    pub pids_limit: Option<i64>,
    /// --ulimit.
    pub ulimits: Vec<Ulimit>,
    /// --cap-add.
    pub cap_add: Vec<String>,
    /// --cap-drop.
    pub cap_drop: Vec<String>,
    /// --privileged.
    pub privileged: bool,
    /// --init: docker's init (tini) runs as PID 1 and the command under it.
    #[serde(default)]
    pub init: bool,
    /// --device HOST[:CONTAINER[:PERMS]].
    #[serde(default)]
    pub devices: Vec<DeviceSpec>,
    /// --security-opt seccomp=FILE|unconfined.
    pub seccomp: Option<String>,
    /// --security-opt no-new-privileges.
    pub no_new_privileges: bool,
    /// Image StopSignal or --stop-signal.
    pub stop_signal: Option<String>,
    /// --stop-timeout, seconds.
    pub stop_timeout: Option<i64>,
    /// --log-opt max-size (bytes) for the json-file log.
    pub log_max_size: Option<u64>,
    /// --log-opt max-file.
    pub log_max_file: Option<u32>,
    /// The healthcheck: --health-* over the image's (docker's Config.Healthcheck).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub healthcheck: Option<crate::health::HealthConfig>,
}

impl Settings {
    /// The process args: entrypoint then command.
    pub fn args(&self) -> Vec<String> {
        self.entrypoint
            .iter()
            .chain(self.cmd.iter())
            .cloned()
            .collect()
    }
}

/// What the monitor records about the container's process (docker's State, persisted in
/// `<container dir>/state.json`, replaced atomically).
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
pub struct ProcState {
    /// created, running, restarting, exited, dead.
    pub status: String,
    /// Host pid of the container's process while it runs.
    pub pid: i32,
    /// Exit code of the last run.
    pub exit_code: i32,
    /// RFC 3339, zero time when never started.
    pub started_at: String,
    /// RFC 3339, zero time when never exited.
    pub finished_at: String,
    /// Killed by the OOM killer in its last run.
    pub oom_killed: bool,
    /// Restarts by policy.
    pub restart_count: u32,
    /// Why it could not start, if it could not.
    #[serde(default)]
    pub error: String,
    /// The kernel's boot id when the state was written: a running state from another boot
    /// is stale (the machine rebooted under it).
    #[serde(default)]
    pub boot_id: String,
}

/// docker's zero time.
pub const ZERO_TIME: &str = "0001-01-01T00:00:00Z";

/// A container: its settings and current state.
#[derive(Debug, Clone)]
pub struct Container {
    /// Settings.
    pub settings: Settings,
    /// Process state.
    pub state: ProcState,
    /// Is a monitor holding the container right now?
    pub monitored: bool,
}

impl Container {
    /// Is the container's process running?
    pub fn running(&self) -> bool {
        matches!(self.state.status.as_str(), "running" | "paused")
    }
}

/// docker's name rule.
pub fn valid_name(n: &str) -> bool {
    let b = n.as_bytes();
    !b.is_empty()
        && b[0].is_ascii_alphanumeric()
        && b.iter()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, b'_' | b'.' | b'-'))
}

/// A fresh 64-hex-digit id.
pub fn new_id() -> String {
    let mut buf = [0u8; 32];
    if fs::File::open("/dev/urandom")
        .and_then(|mut f| io::Read::read_exact(&mut f, &mut buf))
        .is_err()
    {
        let t = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap_or_default();
        buf[..16].copy_from_slice(&t.as_nanos().to_le_bytes());
        buf[16..20].copy_from_slice(&std::process::id().to_le_bytes());
    }
    hex::encode(buf)
}

const ADJECTIVES: &[&str] = &[
    "admiring", "bold", "brave", "calm", "eager", "focused", "gentle", "happy", "jolly", "keen",
    "nice", "quirky", "serene", "vibrant", "wizardly", "zen",
];
const NOUNS: &[&str] = &[
    "bell", "curie", "darwin", "euler", "galois", "hopper", "jang", "kepler", "lovelace",
    "noether", "pascal", "sejong", "tesla", "turing", "yeo", "wright",
];

fn random_name(id: &str) -> String {
    let b = hex::decode(&id[..8]).unwrap_or_else(|_| vec![0; 4]);
    format!(
        "{}_{}",
        ADJECTIVES[b[0] as usize % ADJECTIVES.len()],
        NOUNS[b[1] as usize % NOUNS.len()]
    )
}

/// Records a new container and makes its directory: the row first (the name is claimed
/// atomically by the UNIQUE constraint), then the directory, made as `@tmp-*` and renamed
/// in; a failure removes both.
pub fn create(store: &Store, mut s: Settings, image: &Image) -> Result<Settings, ContainerError> {
    if s.id.is_empty() {
        s.id = new_id();
    }
    if s.name.is_empty() {
        s.name = random_name(&s.id);
        let mut n = 1;
        while find_by_name(store, &s.name)?.is_some() {
            n += 1;
            s.name = format!("{}{n}", random_name(&s.id));
        }
    } else if !valid_name(&s.name) {
        return Err(ContainerError::BadName(s.name));
    }
    crate::network::check_settings(store, &mut s)
        .map_err(|e| ContainerError::Network(Box::new(e)))?;
    if s.hostname.is_empty() {
        s.hostname = s.id[..12].to_string();
    }
    s.image_id = image.id.clone();
    s.created = ongi::rfc3339_now();
    let json = serde_json::to_string(&s).unwrap_or_default();
    let ins = store.db().execute(
        "INSERT INTO containers (id, name, image_id, created, config) VALUES (?1, ?2, ?3, ?4, ?5)",
        params![s.id, s.name, s.image_id, s.created, json],
    );
    if let Err(e) = ins {
        if let Ok(Some(other)) = find_by_name(store, &s.name) {
            return Err(ContainerError::NameInUse {
                name: s.name,
                id: other,
            });
        }
        return Err(StoreError::Db {
            path: store.root.join("db.sqlite"),
            source: e,
        }
        .into());
    }
    crate::system::pause_point("create:row");
    let made = make_dir(store, &s);
    if let Err(e) = made {
        let _ = store
            .db()
            .execute("DELETE FROM containers WHERE id = ?1", params![s.id]);
        return Err(e);
    }
    Ok(s)
}

fn make_dir(store: &Store, s: &Settings) -> Result<(), ContainerError> {
    let dest = store.container_dir(&s.id);
    let tmp = crate::store::tempfile_path(&store.root.join("containers"), "ctr");
    let r = (|| -> Result<(), StoreError> {
        for d in ["upper", "work", "rootfs"] {
            fs::create_dir_all(tmp.join(d)).map_err(io_err("create", tmp.join(d)))?;
        }
        let w = |name: &str, data: &[u8]| {
            fs::write(tmp.join(name), data).map_err(io_err("write", tmp.join(name)))
        };
        w(
            "settings.json",
            &serde_json::to_vec_pretty(s).unwrap_or_default(),
        )?;
        w("hostname", format!("{}\n", s.hostname).as_bytes())?;
        w("hosts", crate::network::static_hosts(s).as_bytes())?;
        // Without a bridge network the container has loopback only (or the host's
        // network): host resolvers reachable from it are the host's own for --network host.
        w("resolv.conf", crate::network::static_resolv(s).as_bytes())?;
        let st = ProcState {
            status: "created".into(),
            started_at: ZERO_TIME.into(),
            finished_at: ZERO_TIME.into(),
            ..Default::default()
        };
        w("state.json", &serde_json::to_vec(&st).unwrap_or_default())?;
        fs::rename(&tmp, &dest).map_err(io_err("rename into", &dest))
    })();
    if r.is_err() {
        let _ = fs::remove_dir_all(&tmp);
    }
    Ok(r?)
}

fn find_by_name(store: &Store, name: &str) -> Result<Option<String>, StoreError> {
    store
        .db()
        .query_row(
            "SELECT id FROM containers WHERE name = ?1",
            params![name],
            |r| r.get(0),
        )
        .optional()
        .map_err(store.dberr())
}

/// Finds a container by name (with or without docker's leading slash), full id or unique
/// id prefix.
pub fn resolve(store: &Store, key: &str) -> Result<String, ContainerError> {
    let name = key.strip_prefix('/').unwrap_or(key);
    if let Some(id) = find_by_name(store, name)? {
        return Ok(id);
    }
    if !key.is_empty() && key.bytes().all(|b| b.is_ascii_hexdigit()) {
        let ids: Vec<String> = {
            let mut st = store
                .db()
                .prepare("SELECT id FROM containers WHERE id LIKE ?1")
                .map_err(store.dberr())?;
            let it = st
                .query_map(params![format!("{}%", key.to_ascii_lowercase())], |r| {
                    r.get(0)
                })
                .map_err(store.dberr())?;
            it.collect::<Result<_, _>>().map_err(store.dberr())?
        };
        match ids.len() {
            1 => return Ok(ids.into_iter().next().unwrap_or_default()),
            0 => {}
            _ => return Err(ContainerError::Ambiguous(key.to_string())),
        }
    }
    Err(ContainerError::NotFound(key.to_string()))
}

/// Loads a container by id, bringing its state up to date (see the module docs).
pub fn load(store: &Store, id: &str) -> Result<Container, ContainerError> {
    let json: Option<String> = store
        .db()
        .query_row(
            "SELECT config FROM containers WHERE id = ?1",
            params![id],
            |r| r.get(0),
        )
        .optional()
        .map_err(store.dberr())?;
    let json = json.ok_or_else(|| ContainerError::NotFound(id.to_string()))?;
    let settings: Settings = serde_json::from_str(&json).map_err(|e| StoreError::Io {
        op: "parse settings of",
        path: store.container_dir(id),
        source: io::Error::new(io::ErrorKind::InvalidData, e),
    })?;
    let monitored = monitor_alive(store, id);
    let mut state = read_state(store, id);
    if !monitored && matches!(state.status.as_str(), "running" | "restarting" | "paused") {
        state = if crate::system::stale_boot(&state) {
            crate::system::recover_after_reboot(store, &settings, state)?
        } else {
            recover(store, &settings, state)?
        };
    }
    Ok(Container {
        settings,
        state,
        monitored,
    })
}

/// The container's process state as the monitor last wrote it.
pub fn read_state(store: &Store, id: &str) -> ProcState {
    read_state_at(&store.container_dir(id))
}

/// The process state in a container directory.
pub fn read_state_at(dir: &Path) -> ProcState {
    fs::read(dir.join("state.json"))
        .ok()
        .and_then(|b| serde_json::from_slice(&b).ok())
        .unwrap_or_else(|| ProcState {
            status: "created".into(),
            started_at: ZERO_TIME.into(),
            finished_at: ZERO_TIME.into(),
            ..Default::default()
        })
}

/// Replaces state.json atomically.
pub fn write_state(dir: &Path, st: &ProcState) -> io::Result<()> {
    let tmp = dir.join(".state.json.tmp");
    fs::write(&tmp, serde_json::to_vec(st).unwrap_or_default())?;
    fs::rename(&tmp, dir.join("state.json"))
}

/// Is a monitor holding this container's lock?
pub fn monitor_alive(store: &Store, id: &str) -> bool {
    let p = store.container_run_dir(id).join("monitor.lock");
    let Ok(f) = fs::File::open(&p) else {
        return false;
    };
    // SAFETY: f is an open file; flock does not retain the fd.
    let r = unsafe { libc::flock(f.as_raw_fd(), libc::LOCK_SH | libc::LOCK_NB) };
    r != 0
}

/// A container whose monitor died (kill -9, a crash, a reboot): if the runtime still runs
/// its process it stays running, unmonitored; otherwise it is recorded as exited and its
/// runtime state and rootfs mount are cleaned up.
fn recover(store: &Store, s: &Settings, mut st: ProcState) -> Result<ProcState, ContainerError> {
    let rt = ongi::Container::new(store.runtime_root(), &s.id);
    if let Ok(o) = rt.state() {
        if matches!(o.status, ongi::Status::Running | ongi::Status::Paused) {
            return Ok(st);
        }
    }
    let _ = rt.delete(true);
    unmount_rootfs(store, &s.id)?;
    crate::network::teardown_files(&store.container_dir(&s.id));
    st.status = "exited".into();
    st.pid = 0;
    if st.exit_code == 0 {
        // The monitor never saw the exit: docker reports 137 for a container whose
        // process was killed under it.
        st.exit_code = 137;
    }
    st.finished_at = ongi::rfc3339_now();
    let _ = write_state(&store.container_dir(&s.id), &st);
    Ok(st)
}

/// Is `p` a mount point (its own mount, not its parent's)?
pub fn is_mountpoint(p: &Path) -> bool {
    let Ok(text) = fs::read_to_string("/proc/self/mountinfo") else {
        return false;
    };
    let want = p.to_string_lossy();
    text.lines()
        .any(|l| l.split(' ').nth(4).is_some_and(|m| unescape(m) == want))
}

fn unescape(s: &str) -> String {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'\\'
            && i + 3 < b.len()
            && b[i + 1..i + 4].iter().all(|c| (b'0'..=b'7').contains(c))
        {
            out.push((b[i + 1] - b'0') * 64 + (b[i + 2] - b'0') * 8 + (b[i + 3] - b'0'));
            i += 4;
        } else {
            out.push(b[i]);
            i += 1;
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// Mounts the container's rootfs: overlayfs with the image's layers as lowers (top layer
/// first) and the container's own upper and work directories.
pub fn mount_rootfs(store: &Store, s: &Settings) -> Result<PathBuf, ContainerError> {
    let dir = store.container_dir(&s.id);
    let target = dir.join("rootfs");
    if is_mountpoint(&target) {
        return Ok(target);
    }
    let img =
        image::get(store, &s.image_id)?.ok_or_else(|| ImageError::NotFound(s.image_id.clone()))?;
    let mut lowers = Vec::new();
    for c in img.layers.iter().rev() {
        lowers.push(store.layer_dir(c)?.to_string_lossy().into_owned());
    }
    mount_overlay(&lowers, &dir, &target).map_err(|source| ContainerError::Unmount {
        id: s.id.clone(),
        path: target.clone(),
        source,
    })?;
    if let Err(e) = crate::volume::populate(s, &target) {
        let _ = unmount_rootfs(store, &s.id);
        return Err(ContainerError::Conflict(e.to_string()));
    }
    Ok(target)
}

/// Mounts overlayfs at `target` from `lowers` (top first) and `dir`/upper, `dir`/work. An
/// image without layers gets an empty lower.
pub fn mount_overlay(lowers: &[String], dir: &Path, target: &Path) -> io::Result<()> {
    mount_overlay_with(lowers, dir, target, None).map_err(io::Error::from)
}

/// [`mount_overlay`] with one more mount option (`extra`, e.g. `volatile`); the kernel's
/// errno is kept so a caller can tell an option it lacks (EINVAL).
pub fn mount_overlay_with(
    lowers: &[String],
    dir: &Path,
    target: &Path,
    extra: Option<&str>,
) -> Result<(), nix::errno::Errno> {
    let mut lowers = lowers.to_vec();
    if lowers.is_empty() {
        let empty = dir.join("empty");
        fs::create_dir_all(&empty)
            .map_err(|e| nix::errno::Errno::from_raw(e.raw_os_error().unwrap_or(libc::EIO)))?;
        lowers.push(empty.to_string_lossy().into_owned());
    }
    let mut data = format!(
        "lowerdir={},upperdir={},workdir={}",
        lowers.join(":"),
        dir.join("upper").display(),
        dir.join("work").display()
    );
    if let Some(x) = extra {
        data.push(',');
        data.push_str(x);
    }
    nix::mount::mount(
        Some("overlay"),
        target,
        Some("overlay"),
        nix::mount::MsFlags::empty(),
        Some(data.as_str()),
    )
}

/// Unmounts the rootfs if mounted (lazily, so a shell sitting in it cannot pin it).
pub fn unmount_rootfs(store: &Store, id: &str) -> Result<(), ContainerError> {
    let target = store.container_dir(id).join("rootfs");
    if is_mountpoint(&target) {
        nix::mount::umount2(&target, nix::mount::MntFlags::MNT_DETACH).map_err(|e| {
            ContainerError::Unmount {
                id: id.to_string(),
                path: target.clone(),
                source: e.into(),
            }
        })?;
    }
    Ok(())
}

/// Every container, newest first.
pub fn list(store: &Store) -> Result<Vec<Container>, ContainerError> {
    let ids: Vec<String> = {
        let mut st = store
            .db()
            .prepare("SELECT id FROM containers ORDER BY created DESC, id")
            .map_err(store.dberr())?;
        let it = st.query_map([], |r| r.get(0)).map_err(store.dberr())?;
        it.collect::<Result<_, _>>().map_err(store.dberr())?
    };
    let mut out = Vec::new();
    for id in ids {
        // A record without its directory is a create or rm that did not finish (the
        // directory is renamed in last and away first): not a container to show.
        if !store.container_dir(&id).is_dir() {
            continue;
        }
        match load(store, &id) {
            Ok(c) => out.push(c),
            Err(ContainerError::NotFound(_)) => {}
            Err(e) => return Err(e),
        }
    }
    Ok(out)
}

/// Removes a stopped container (or, with `force`, kills it first): runtime state, rootfs
/// mount, directory, then the row. With `volumes`, its anonymous volumes go too.
pub fn remove(store: &Store, id: &str, force: bool) -> Result<(), ContainerError> {
    let c = load(store, id)?;
    if c.running() || c.monitored {
        if !force && c.running() {
            return Err(ContainerError::Running {
                name: c.settings.name.clone(),
            });
        }
        crate::monitor::stop(store, &c, 0)?;
    }
    let rt = ongi::Container::new(store.runtime_root(), id);
    match rt.delete(true) {
        Ok(_) => {}
        Err(ongi::Error::State(_)) => {}
        Err(e) => {
            if rt.state().is_ok() {
                return Err(ContainerError::Runtime {
                    id: id.to_string(),
                    source: Box::new(e),
                });
            }
        }
    }
    unmount_rootfs(store, id)?;
    crate::network::detach(store, id).map_err(|e| ContainerError::Network(Box::new(e)))?;
    let dir = store.container_dir(id);
    // Renamed away first: a directory that exists under its id is a whole container.
    let gone = crate::store::tempfile_path(&store.root.join("containers"), "gone");
    if dir.exists() {
        fs::rename(&dir, &gone).map_err(io_err("rename away", &dir))?;
    }
    crate::system::pause_point("rm:renamed");
    // Before the record goes: once it has, nothing may remain that names the container.
    let _ = fs::remove_dir_all(store.container_run_dir(id));
    store
        .db()
        .execute("DELETE FROM containers WHERE id = ?1", params![id])
        .map_err(store.dberr())?;
    let _ = fs::remove_dir_all(&gone);
    Ok(())
}

/// What `run`/`create` flags ask for, before the image's config is applied.
#[derive(Debug, Clone, Default)]
pub struct RunFlags {
    /// --name.
    pub name: Option<String>,
    /// The image as named.
    pub image: String,
    /// Command after the image.
    pub cmd: Vec<String>,
    /// --entrypoint (empty string clears it).
    pub entrypoint: Option<String>,
    /// -e / --env-file, in order.
    pub env: Vec<String>,
    /// -w.
    pub workdir: Option<String>,
    /// -u.
    pub user: Option<String>,
    /// -h.
    pub hostname: Option<String>,
    /// -t.
    pub tty: bool,
    /// -i.
    pub interactive: bool,
    /// --rm.
    pub auto_remove: bool,
    /// --restart.
    pub restart: Option<String>,
    /// -l.
    pub labels: Vec<String>,
    /// -v.
    pub volumes: Vec<String>,
    /// --tmpfs.
    pub tmpfs: Vec<String>,
    /// --read-only.
    pub read_only: bool,
    /// --network.
    pub network: Option<String>,
    /// -p.
    pub publish: Vec<String>,
    /// The other network flags.
    pub net: crate::network::options::NetFlags,
    /// -m.
    pub memory: Option<String>,
    /// --cpus.
    pub cpus: Option<String>,
    /// --pids-limit.
    pub pids_limit: Option<i64>,
    /// --ulimit.
    pub ulimits: Vec<String>,
    /// --cap-add.
    pub cap_add: Vec<String>,
    /// --cap-drop.
    pub cap_drop: Vec<String>,
    /// --privileged.
    pub privileged: bool,
    /// --init.
    pub init: bool,
    /// --device.
    pub devices: Vec<String>,
    /// --security-opt.
    pub security_opt: Vec<String>,
    /// --stop-signal.
    pub stop_signal: Option<String>,
    /// --stop-timeout.
    pub stop_timeout: Option<i64>,
    /// --log-opt.
    pub log_opts: Vec<String>,
    /// --mount.
    pub mounts: Vec<String>,
    /// --health-* and --no-healthcheck.
    pub health: crate::health::HealthFlags,
}

/// A flag value docker would refuse, named by flag.
#[derive(Debug, thiserror::Error)]
#[error("invalid argument {value:?} for \"{flag}\" flag: {why}")]
pub struct FlagError {
    /// The flag.
    pub flag: &'static str,
    /// Its value.
    pub value: String,
    /// Why.
    pub why: String,
}

fn flag_err(flag: &'static str, value: &str, why: impl Into<String>) -> FlagError {
    FlagError {
        flag,
        value: value.to_string(),
        why: why.into(),
    }
}

/// docker's byte sizes: `512`, `64k`, `128m`, `1g` (binary units, optional `b`).
pub fn parse_bytes(s: &str) -> Option<i64> {
    let t = s.trim().to_ascii_lowercase();
    let t = t.strip_suffix('b').unwrap_or(&t);
    let (num, mult) = match t.chars().last()? {
        'k' => (&t[..t.len() - 1], 1i64 << 10),
        'm' => (&t[..t.len() - 1], 1 << 20),
        'g' => (&t[..t.len() - 1], 1 << 30),
        't' => (&t[..t.len() - 1], 1 << 40),
        _ => (t, 1),
    };
    let v: f64 = num.parse().ok()?;
    (v >= 0.0).then_some((v * mult as f64) as i64)
}

/// The container's settings from its flags and its image's config (docker's rules: an
/// --entrypoint drops the image's Cmd unless a command is given; env appends; labels
/// merge).
pub fn settings_for(
    f: &RunFlags,
    img: &crate::image::ImageConfig,
    volume_dir: &dyn Fn(&str) -> Result<PathBuf, ContainerError>,
) -> Result<Settings, ContainerError> {
    let bad = |e: FlagError| ContainerError::Flag(e);
    // docker's default; callers that know the engine's settings pass
    // crate::network::default_mode's answer.
    let network = f.network.clone().unwrap_or_else(|| "bridge".into());
    let (net, ports) = crate::network::settings_flags(f, img, &network)
        .map_err(|e| ContainerError::Network(Box::new(e)))?;
    if !ports.is_empty() && !crate::network::is_bridged(&network) {
        return Err(ContainerError::Conflict(
            "conflicting options: port publishing and the container type network mode".into(),
        ));
    }
    let c = &img.config;
    let (entrypoint, cmd) = match &f.entrypoint {
        Some(e) => (
            if e.is_empty() {
                vec![]
            } else {
                vec![e.clone()]
            },
            f.cmd.clone(),
        ),
        None => (
            c.entrypoint.clone().unwrap_or_default(),
            if f.cmd.is_empty() {
                c.cmd.clone().unwrap_or_default()
            } else {
                f.cmd.clone()
            },
        ),
    };
    if entrypoint.is_empty() && cmd.is_empty() {
        return Err(ContainerError::NoCommand);
    }
    let mut env = c.env.clone().unwrap_or_default();
    for e in &f.env {
        let key = e.split('=').next().unwrap_or(e);
        let val = if e.contains('=') {
            e.clone()
        } else {
            match std::env::var(key) {
                Ok(v) => format!("{key}={v}"),
                Err(_) => continue, // docker: `-e NAME` with NAME unset is dropped
            }
        };
        env.retain(|x| x.split('=').next() != Some(key));
        env.push(val);
    }
    let mut labels = c.labels.clone().unwrap_or_default();
    for l in &f.labels {
        let (k, v) = l.split_once('=').unwrap_or((l.as_str(), ""));
        labels.insert(k.to_string(), v.to_string());
    }
    let restart = match f.restart.as_deref() {
        None | Some("no") => RestartPolicy {
            name: "no".into(),
            max_retries: 0,
        },
        Some("always") => RestartPolicy {
            name: "always".into(),
            max_retries: 0,
        },
        Some("unless-stopped") => RestartPolicy {
            name: "unless-stopped".into(),
            max_retries: 0,
        },
        Some(r) if r == "on-failure" || r.starts_with("on-failure:") => {
            let n = match r.strip_prefix("on-failure:") {
                Some(n) => n.parse().map_err(|_| {
                    bad(flag_err(
                        "--restart",
                        r,
                        "maximum retry count must be an integer",
                    ))
                })?,
                None => 0,
            };
            RestartPolicy {
                name: "on-failure".into(),
                max_retries: n,
            }
        }
        Some(r) => {
            return Err(bad(flag_err(
                "--restart",
                r,
                "must be no, on-failure[:max-retries], always or unless-stopped",
            )))
        }
    };
    if f.auto_remove && restart.name != "no" {
        return Err(ContainerError::Conflict(
            "conflicting options: cannot specify both --restart and --rm".into(),
        ));
    }
    let mut mounts = Vec::new();
    for v in &f.volumes {
        let parts: Vec<&str> = v.split(':').collect();
        let (src, dst, mode) = match parts.as_slice() {
            [d] => ("", *d, ""),
            [s, d] => (*s, *d, ""),
            [s, d, m] => (*s, *d, *m),
            _ => return Err(bad(flag_err("--volume", v, "invalid volume specification"))),
        };
        if !dst.starts_with('/') {
            return Err(bad(flag_err(
                "--volume",
                v,
                format!("invalid mount config: mount path must be absolute: {dst:?}"),
            )));
        }
        let read_only = match mode {
            "" | "rw" => false,
            "ro" => true,
            m => return Err(bad(flag_err("--volume", v, format!("invalid mode: {m}")))),
        };
        if src.starts_with('/') {
            if !Path::new(src).exists() {
                return Err(bad(flag_err(
                    "--volume",
                    v,
                    format!("bind source path does not exist: {src}"),
                )));
            }
            mounts.push(MountSpec {
                source: PathBuf::from(src),
                destination: dst.to_string(),
                read_only,
                volume: None,
                anonymous: false,
            });
        } else {
            let name = if src.is_empty() {
                new_id()
            } else {
                src.to_string()
            };
            mounts.push(MountSpec {
                source: volume_dir(&name)?,
                destination: dst.to_string(),
                read_only,
                volume: Some(name),
                anonymous: src.is_empty(),
            });
        }
    }
    let mut tmpfs = f.tmpfs.clone();
    crate::mountflag::apply(&f.mounts, &img.config, &mut mounts, &mut tmpfs, volume_dir)?;
    let memory = match &f.memory {
        Some(m) => Some(
            parse_bytes(m)
                .filter(|b| *b >= 6 << 20)
                .ok_or_else(|| bad(flag_err("--memory", m, "must be a size of at least 6MB")))?,
        ),
        None => None,
    };
    let nano_cpus = match &f.cpus {
        Some(c) => {
            let v: f64 = c
                .parse()
                .map_err(|_| bad(flag_err("--cpus", c, "not a number")))?;
            if v <= 0.0 {
                return Err(bad(flag_err("--cpus", c, "must be positive")));
            }
            Some((v * 1e9) as u64)
        }
        None => None,
    };
    let mut ulimits = Vec::new();
    for u in &f.ulimits {
        let (name, vals) = u
            .split_once('=')
            .ok_or_else(|| bad(flag_err("--ulimit", u, "expected name=soft[:hard]")))?;
        let (s, h) = vals.split_once(':').unwrap_or((vals, vals));
        let p = |x: &str| {
            x.parse::<u64>()
                .map_err(|_| bad(flag_err("--ulimit", u, "limits must be integers")))
        };
        let (soft, hard) = (p(s)?, p(h)?);
        if soft > hard {
            return Err(bad(flag_err(
                "--ulimit",
                u,
                "soft limit is greater than the hard limit",
            )));
        }
        ulimits.push(Ulimit {
            name: name.to_string(),
            soft,
            hard,
        });
    }
    let devices = f
        .devices
        .iter()
        .map(|d| parse_device(d))
        .collect::<Result<Vec<_>, _>>()
        .map_err(bad)?;
    let mut seccomp = None;
    let mut nnp = false;
    for o in &f.security_opt {
        if let Some(v) = o
            .strip_prefix("seccomp=")
            .or_else(|| o.strip_prefix("seccomp:"))
        {
            seccomp = Some(v.to_string());
        } else if o == "no-new-privileges"
            || o == "no-new-privileges=true"
            || o == "no-new-privileges:true"
        {
            nnp = true;
        } else if o == "no-new-privileges=false" || o == "no-new-privileges:false" {
            nnp = false;
        } else {
            return Err(bad(flag_err(
                "--security-opt",
                o,
                "supported: seccomp=FILE|unconfined, no-new-privileges",
            )));
        }
    }
    let (mut log_max_size, mut log_max_file) = (None, None);
    for o in &f.log_opts {
        match o.split_once('=') {
            Some(("max-size", v)) => {
                log_max_size = Some(
                    parse_bytes(v).ok_or_else(|| bad(flag_err("--log-opt", o, "not a size")))?
                        as u64,
                )
            }
            Some(("max-file", v)) => {
                log_max_file = Some(
                    v.parse()
                        .map_err(|_| bad(flag_err("--log-opt", o, "not a count")))?,
                )
            }
            _ => {
                return Err(bad(flag_err(
                    "--log-opt",
                    o,
                    "json-file supports max-size and max-file",
                )))
            }
        }
    }
    let healthcheck = crate::health::merge(&f.health, c.healthcheck.as_ref())?;
    Ok(Settings {
        name: f.name.clone().unwrap_or_default(),
        image: f.image.clone(),
        entrypoint,
        cmd,
        env,
        working_dir: f.workdir.clone().or_else(|| c.working_dir.clone()),
        user: f
            .user
            .clone()
            .or_else(|| c.user.clone())
            .filter(|u| !u.is_empty()),
        hostname: f.hostname.clone().unwrap_or_default(),
        tty: f.tty,
        interactive: f.interactive,
        auto_remove: f.auto_remove,
        restart,
        labels,
        mounts,
        tmpfs,
        read_only: f.read_only,
        network,
        ports,
        net,
        memory,
        nano_cpus,
        pids_limit: f.pids_limit,
        ulimits,
        cap_add: f.cap_add.clone(),
        cap_drop: f.cap_drop.clone(),
        privileged: f.privileged,
        init: f.init,
        devices,
        seccomp,
        no_new_privileges: nnp,
        stop_signal: f.stop_signal.clone().or_else(|| c.stop_signal.clone()),
        stop_timeout: f.stop_timeout,
        log_max_size,
        log_max_file,
        healthcheck,
        ..Default::default()
    })
}
