//! Operations on existing containers that change or query them without starting one:
//! `pause`/`unpause`, `rename`, `update`, `top`'s processes, `stats`' samples, the sizes
//! `ps -s` shows, and `container prune`. Starting, stopping and supervising stay the
//! monitor's.

use std::fs;
use std::os::unix::fs::MetadataExt;
use std::path::Path;

use rusqlite::params;
use serde_json::json;

use crate::container::{self, Container, ContainerError, Settings};
use crate::store::{io_err, Store, StoreError};

fn runtime(store: &Store, c: &Container) -> ongi::Container {
    ongi::Container::new(store.runtime_root(), &c.settings.id)
}

fn rt_err(id: &str) -> impl FnOnce(ongi::Error) -> ContainerError + '_ {
    move |e| ContainerError::Runtime {
        id: id.to_string(),
        source: Box::new(e),
    }
}

/// docker's "container ... is not running" for commands that need a running container.
pub fn not_running(c: &Container) -> ContainerError {
    ContainerError::Conflict(format!("container {} is not running", c.settings.id))
}

/// Records a new status in state.json (the monitor rewrites it at the next exit).
fn set_status(store: &Store, id: &str, status: &str) -> Result<(), ContainerError> {
    let dir = store.container_dir(id);
    let mut st = container::read_state_at(&dir);
    st.status = status.into();
    container::write_state(&dir, &st).map_err(|e| io_err("write state of", &dir)(e).into())
}

/// `pause`: freezes every process of a running container.
pub fn pause(store: &Store, c: &Container) -> Result<(), ContainerError> {
    let id = &c.settings.id;
    match c.state.status.as_str() {
        "running" => {}
        "paused" => {
            return Err(ContainerError::Conflict(format!(
                "container {id} is already paused"
            )))
        }
        _ => return Err(not_running(c)),
    }
    runtime(store, c).pause().map_err(rt_err(id))?;
    set_status(store, id, "paused")
}

/// `unpause`: thaws a paused container.
pub fn unpause(store: &Store, c: &Container) -> Result<(), ContainerError> {
    let id = &c.settings.id;
    if c.state.status != "paused" {
        return Err(ContainerError::Conflict(format!(
            "container {id} is not paused"
        )));
    }
    runtime(store, c).resume().map_err(rt_err(id))?;
    set_status(store, id, "running")
}

/// Writes changed settings to both places they live: the database row (what commands read)
/// and settings.json (what the monitor reads at its next start).
fn save_settings(store: &Store, s: &Settings) -> Result<(), ContainerError> {
    let json = serde_json::to_string(s).unwrap_or_default();
    store
        .db()
        .execute(
            "UPDATE containers SET name = ?2, config = ?3 WHERE id = ?1",
            params![s.id, s.name, json],
        )
        .map_err(|e| {
            if let Ok(other) = container::resolve(store, &s.name) {
                if other != s.id {
                    return ContainerError::NameInUse {
                        name: s.name.clone(),
                        id: other,
                    };
                }
            }
            ContainerError::Store(StoreError::Db {
                path: store.root.join("db.sqlite"),
                source: e,
            })
        })?;
    let dir = store.container_dir(&s.id);
    let tmp = dir.join(".settings.json.tmp");
    let write = || -> std::io::Result<()> {
        fs::write(&tmp, serde_json::to_vec_pretty(s).unwrap_or_default())?;
        fs::rename(&tmp, dir.join("settings.json"))
    };
    write().map_err(|e| io_err("write settings of", &dir)(e).into())
}

/// `rename`: a new name, refused when invalid or taken (docker's wording).
pub fn rename(store: &Store, c: &Container, new: &str) -> Result<(), ContainerError> {
    let new = new.strip_prefix('/').unwrap_or(new);
    if !container::valid_name(new) {
        return Err(ContainerError::BadName(new.to_string()));
    }
    if new == c.settings.name {
        return Err(ContainerError::Conflict(format!(
            "Renaming a container with the same name as its current name is not allowed: {new}"
        )));
    }
    if let Ok(other) = container::resolve(store, new) {
        if other != c.settings.id && container::load(store, &other)?.settings.name == new {
            return Err(ContainerError::NameInUse {
                name: new.to_string(),
                id: other,
            });
        }
    }
    let mut s = c.settings.clone();
    s.name = new.to_string();
    save_settings(store, &s)
}

/// What `update` may change.
#[derive(Debug, Default, Clone)]
pub struct Update {
    /// -m, bytes.
    pub memory: Option<i64>,
    /// --cpus × 1e9.
    pub nano_cpus: Option<u64>,
    /// --pids-limit (0 or -1: unlimited).
    pub pids_limit: Option<i64>,
}

/// `update`: new limits, applied to the running container's cgroup now and kept for its
/// next starts.
pub fn update(store: &Store, c: &Container, u: &Update) -> Result<(), ContainerError> {
    let mut s = c.settings.clone();
    let mut res = json!({});
    if let Some(m) = u.memory {
        s.memory = Some(m);
        res["memory"] = json!({"limit": m});
    }
    if let Some(n) = u.nano_cpus {
        s.nano_cpus = Some(n);
        let period = 100_000u64;
        res["cpu"] =
            json!({"quota": (n as u128 * period as u128 / 1_000_000_000) as i64, "period": period});
    }
    if let Some(p) = u.pids_limit {
        let unlimited = p <= 0;
        s.pids_limit = (!unlimited).then_some(p);
        res["pids"] = json!({"limit": if unlimited { -1 } else { p }});
    }
    if c.running() {
        let r: ongi::LinuxResources =
            serde_json::from_value(res).map_err(|e| ContainerError::Conflict(e.to_string()))?;
        runtime(store, c)
            .update(&r)
            .map_err(rt_err(&c.settings.id))?;
    }
    save_settings(store, &s)
}

/// Host pids of a running container's processes (`top`).
pub fn processes(store: &Store, c: &Container) -> Result<Vec<i32>, ContainerError> {
    if !c.running() {
        return Err(not_running(c));
    }
    runtime(store, c)
        .processes()
        .map_err(rt_err(&c.settings.id))
}

/// One reading of a container's cgroup for `stats`.
#[derive(Debug, Clone, Default)]
pub struct Sample {
    /// CPU time used so far, ns.
    pub cpu_ns: u64,
    /// When it was read (monotonic ns).
    pub at_ns: u128,
    /// Memory in use, page cache excluded as docker does.
    pub mem: u64,
    /// The memory limit, or the host's memory when unlimited.
    pub mem_limit: u64,
    /// Bytes read and written by block devices.
    pub block: (u64, u64),
    /// Tasks.
    pub pids: u64,
}

fn host_memory() -> u64 {
    fs::read_to_string("/proc/meminfo")
        .ok()
        .and_then(|t| {
            t.lines()
                .find(|l| l.starts_with("MemTotal:"))
                .and_then(|l| l.split_whitespace().nth(1)?.parse::<u64>().ok())
        })
        .map_or(0, |kb| kb * 1024)
}

/// Reads a running container's usage now.
pub fn sample(
    store: &Store,
    c: &Container,
    clock: std::time::Instant,
) -> Result<Sample, ContainerError> {
    if !c.running() {
        return Err(not_running(c));
    }
    let st = runtime(store, c).stats().map_err(rt_err(&c.settings.id))?;
    let m = &st.memory;
    // docker's CLI: usage minus inactive file pages (v2) or total_inactive_file (v1).
    let inactive = m
        .raw
        .get("total_inactive_file")
        .or_else(|| m.raw.get("inactive_file"))
        .copied()
        .unwrap_or(0);
    let mem = m.usage.usage.saturating_sub(inactive);
    let host = host_memory();
    let mem_limit = if m.usage.limit == 0 || m.usage.limit >= host {
        host
    } else {
        m.usage.limit
    };
    let mut block = (0, 0);
    for e in &st.blkio.io_service_bytes_recursive {
        match e.op.to_ascii_lowercase().as_str() {
            "read" => block.0 += e.value,
            "write" => block.1 += e.value,
            _ => {}
        }
    }
    Ok(Sample {
        cpu_ns: st.cpu.usage.total,
        at_ns: clock.elapsed().as_nanos(),
        mem,
        mem_limit,
        block,
        pids: st.pids.current,
    })
}

/// Bytes of the files below `p` (not following symlinks, hard links counted once).
pub fn disk_usage(p: &Path) -> u64 {
    fn walk(p: &Path, seen: &mut std::collections::HashSet<(u64, u64)>) -> u64 {
        let Ok(md) = fs::symlink_metadata(p) else {
            return 0;
        };
        if md.is_dir() {
            let mut n = 0;
            for e in fs::read_dir(p).into_iter().flatten().flatten() {
                n += walk(&e.path(), seen);
            }
            n
        } else if md.nlink() > 1 && !seen.insert((md.dev(), md.ino())) {
            0
        } else if md.is_file() || md.file_type().is_symlink() {
            md.len()
        } else {
            0
        }
    }
    walk(p, &mut Default::default())
}

/// The size of a container's own writable layer (`ps -s`'s first number).
pub fn rw_size(store: &Store, id: &str) -> u64 {
    disk_usage(&store.container_dir(id).join("upper"))
}

/// `container prune`: removes every stopped container; their ids and the space freed.
pub fn prune(store: &Store) -> Result<(Vec<String>, u64), ContainerError> {
    let mut gone = Vec::new();
    let mut freed = 0;
    for c in container::list(store)? {
        if c.running() || c.monitored || c.state.status == "restarting" {
            continue;
        }
        let size = rw_size(store, &c.settings.id);
        container::remove(store, &c.settings.id, false)?;
        freed += size;
        gone.push(c.settings.id);
    }
    Ok((gone, freed))
}
