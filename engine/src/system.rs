//! The store as a whole: `system check` (find and repair what a killed command or a reboot
//! left), `system df`, `system prune`, `system boot` (restart policies at machine start),
//! the boot id that tells a stale running state from a live one, and the test pause points.
//!
//! Garbage is recognised, never guessed: `@tmp-<what>-<pid>-...` entries whose pid is dead
//! (a live pid's are in flight), records without their directory and the other way round,
//! layers and blobs no image refers to (under the exclusive [`Store::gc_lock`], so no pull
//! is between writing them and recording its image).

use std::collections::{BTreeMap, BTreeSet};
use std::fs;
use std::path::Path;

use rusqlite::params;

use crate::container::{self, ContainerError, ProcState, Settings};
use crate::image::{self, ImageError};
use crate::store::{io_err, Store, StoreError};
use crate::volume::{self, VolumeError};

/// Why a system command failed.
#[derive(Debug, thiserror::Error)]
pub enum SystemError {
    /// The store failed.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// A container operation failed.
    #[error(transparent)]
    Container(#[from] ContainerError),
    /// An image operation failed.
    #[error(transparent)]
    Image(#[from] ImageError),
    /// A volume operation failed.
    #[error(transparent)]
    Volume(#[from] VolumeError),
}

/// Test hook, as in the runtime: with `ONGI_TEST_PAUSE_AT=<step>` in its environment a
/// command stops itself (SIGSTOP) at the named step, so a test can SIGKILL it exactly
/// there. Unset, it costs one environment lookup.
pub fn pause_point(step: &str) {
    if std::env::var_os("ONGI_TEST_PAUSE_AT").is_some_and(|v| v == step) {
        let _ = nix::sys::signal::raise(nix::sys::signal::Signal::SIGSTOP);
    }
}

/// The kernel's id of this boot (`ONGI_BOOT_ID` overrides it: tests simulate a reboot).
pub fn boot_id() -> String {
    if let Some(b) = std::env::var_os("ONGI_BOOT_ID") {
        return b.to_string_lossy().into_owned();
    }
    fs::read_to_string("/proc/sys/kernel/random/boot_id")
        .map(|s| s.trim().to_string())
        .unwrap_or_default()
}

/// Was this state written in an earlier boot?
pub fn stale_boot(st: &ProcState) -> bool {
    !st.boot_id.is_empty() && st.boot_id != boot_id()
}

/// A container recorded running in an earlier boot: its process, monitor and mounts died
/// with the machine. docker shows such containers as exited with 255. The runtime's
/// delete checks the pid's start time, so a pid reused since is never signalled.
pub fn recover_after_reboot(
    store: &Store,
    s: &Settings,
    mut st: ProcState,
) -> Result<ProcState, ContainerError> {
    let _ = ongi::Container::new(store.runtime_root(), &s.id).delete(true);
    container::unmount_rootfs(store, &s.id)?;
    st.status = "exited".into();
    st.pid = 0;
    st.exit_code = 255;
    st.finished_at = ongi::rfc3339_now();
    st.boot_id = boot_id();
    let _ = container::write_state(&store.container_dir(&s.id), &st);
    Ok(st)
}

/// The pid in a `@tmp-<what>-<pid>-...` name, if it is one.
fn tmp_owner(name: &str) -> Option<i32> {
    let rest = name.strip_prefix("@tmp-")?;
    rest.split('-').nth(1)?.parse().ok()
}

/// A `@tmp-*` entry whose maker is dead.
fn dead_tmp(name: &str) -> bool {
    match tmp_owner(name) {
        Some(pid) => {
            pid != std::process::id() as i32 && !Path::new(&format!("/proc/{pid}")).exists()
        }
        None => false,
    }
}

fn names_in(dir: &Path) -> Vec<String> {
    let mut v: Vec<String> = fs::read_dir(dir)
        .into_iter()
        .flatten()
        .flatten()
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .collect();
    v.sort();
    v
}

fn column(store: &Store, sql: &str) -> Result<Vec<String>, StoreError> {
    let mut st = store.db().prepare(sql).map_err(store.dberr())?;
    let it = st.query_map([], |r| r.get(0)).map_err(store.dberr())?;
    it.collect::<Result<_, _>>().map_err(store.dberr())
}

/// Unmounts every mount at or below `p` (deepest first), lazily.
pub(crate) fn unmount_under(p: &Path) {
    let want = p.to_string_lossy().into_owned();
    let Ok(text) = fs::read_to_string("/proc/self/mountinfo") else {
        return;
    };
    let mut ms: Vec<String> = text
        .lines()
        .filter_map(|l| l.split(' ').nth(4))
        .map(|m| m.replace("\\040", " "))
        .filter(|m| m == &want || m.starts_with(&format!("{want}/")))
        .collect();
    ms.sort_by_key(|m| std::cmp::Reverse(m.len()));
    for m in ms {
        let _ = nix::mount::umount2(m.as_str(), nix::mount::MntFlags::MNT_DETACH);
    }
}

/// `system check`: finds and repairs what killed commands and reboots leave; returns one
/// line per repair (empty: the store was consistent).
pub fn check(store: &Store) -> Result<Vec<String>, SystemError> {
    let _gc = store.gc_lock(true)?;
    let mut fixed = Vec::new();
    let short = |id: &str| id.chars().take(12).collect::<String>();

    // Killed builds first: their RUN containers still run on the mounts the sweep removes.
    fixed.extend(crate::build::cleanup::cleanup(store)?);

    // Leftovers of killed writers: downloads, unpacks, container dirs, removals.
    for sub in ["tmp", "layers", "containers", "volumes", "blobs/sha256"] {
        let d = store.root.join(sub);
        for n in names_in(&d) {
            if dead_tmp(&n) {
                let p = d.join(&n);
                unmount_under(&p);
                crate::prune::remove_tree(&p)?;
                fixed.push(format!("removed leftover {}", p.display()));
            }
        }
    }

    // Container records and directories.
    let rows: BTreeSet<String> = column(store, "SELECT id FROM containers")?
        .into_iter()
        .collect();
    let dir = store.root.join("containers");
    let dirs: BTreeSet<String> = names_in(&dir)
        .into_iter()
        .filter(|n| !n.starts_with('@'))
        .collect();
    for id in rows.difference(&dirs) {
        let _ = ongi::Container::new(store.runtime_root(), id).delete(true);
        store
            .db()
            .execute("DELETE FROM containers WHERE id = ?1", params![id])
            .map_err(store.dberr())?;
        fixed.push(format!(
            "removed the record of container {}: its directory was missing",
            short(id)
        ));
    }
    for id in dirs.difference(&rows) {
        let p = dir.join(id);
        unmount_under(&p);
        let _ = ongi::Container::new(store.runtime_root(), id).delete(true);
        crate::prune::remove_tree(&p)?;
        fixed.push(format!(
            "removed directory {}: no container record",
            p.display()
        ));
    }

    // Containers without a monitor: state brought up to date by load, then mounts and
    // runtime state that only a live container may have.
    for c in container::list(store)? {
        let id = &c.settings.id;
        if c.monitored || c.running() {
            continue;
        }
        let rootfs = store.container_dir(id).join("rootfs");
        if container::is_mountpoint(&rootfs) {
            container::unmount_rootfs(store, id)?;
            fixed.push(format!(
                "unmounted the rootfs of stopped container {}",
                short(id)
            ));
        }
        let rt = ongi::Container::new(store.runtime_root(), id);
        if rt.state().is_ok() {
            let _ = rt.delete(true);
            fixed.push(format!(
                "removed stale runtime state of stopped container {}",
                short(id)
            ));
        }
    }
    let live: BTreeSet<String> = column(store, "SELECT id FROM containers")?
        .into_iter()
        .collect();
    for n in names_in(&store.runtime_root()) {
        if n.starts_with('.') || n.starts_with('@') || live.contains(&n) {
            continue;
        }
        let rt = ongi::Container::new(store.runtime_root(), &n);
        if rt.delete(true).is_ok() {
            fixed.push(format!(
                "removed runtime state of unknown container {}",
                short(&n)
            ));
        }
    }
    let run_dirs = store.run_root.join("containers");
    for n in names_in(&run_dirs) {
        if !live.contains(&n) && !container::monitor_alive(store, &n) {
            crate::prune::remove_tree(&run_dirs.join(&n))?;
            fixed.push(format!(
                "removed run directory of unknown container {}",
                short(&n)
            ));
        }
    }

    // Volumes: a record needs its directory, a directory its record.
    let vrows: BTreeSet<String> = column(store, "SELECT name FROM volumes")?
        .into_iter()
        .collect();
    let vdir = store.root.join("volumes");
    let vdirs: BTreeSet<String> = names_in(&vdir)
        .into_iter()
        .filter(|n| !n.starts_with('@'))
        .collect();
    for n in vrows.difference(&vdirs) {
        let d = vdir.join(n).join("_data");
        fs::create_dir_all(&d).map_err(io_err("create", &d))?;
        fixed.push(format!("recreated the missing directory of volume {n}"));
    }
    for n in vdirs.difference(&vrows) {
        crate::prune::remove_tree(&vdir.join(n))?;
        fixed.push(format!("removed volume directory {n}: no volume record"));
    }

    // Network namespaces, veths, nftables elements, addresses and ports of containers
    // that are not running.
    fixed.extend(
        crate::network::check(store)
            .map_err(|e| ContainerError::Network(Box::new(e)))?
            .into_iter()
            .map(|w| format!("removed {w}")),
    );

    fixed.extend(collect_garbage(store)?);
    Ok(fixed)
}

/// Forgets unused images whose layers are gone (they cannot run; a pull brings them
/// back), then runs the store's garbage collector. The caller holds the exclusive gc lock.
fn collect_garbage(store: &Store) -> Result<Vec<String>, SystemError> {
    let mut fixed = Vec::new();
    let users: BTreeSet<String> = column(store, "SELECT DISTINCT image_id FROM containers")?
        .into_iter()
        .collect();
    for i in image::list(store)? {
        let missing = i
            .layers
            .iter()
            .any(|l| store.layer_dir(l).map(|d| !d.is_dir()).unwrap_or(true));
        if missing && !users.contains(&i.id) {
            store
                .db()
                .execute("DELETE FROM images WHERE id = ?1", params![i.id])
                .map_err(store.dberr())?;
            fixed.push(format!(
                "removed image {}: layers missing (pull it again)",
                i.short_id()
            ));
        }
    }
    fixed.extend(crate::prune::collect(store)?.removed);
    Ok(fixed)
}

/// One row of `system df`.
#[derive(Debug, Clone, PartialEq)]
pub struct DfRow {
    /// Images, Containers, Local Volumes, Build Cache.
    pub kind: &'static str,
    /// How many.
    pub total: usize,
    /// How many are in use.
    pub active: usize,
    /// Bytes on disk.
    pub size: u64,
    /// Bytes that pruning would free.
    pub reclaimable: u64,
}

fn layer_size(store: &Store, chain: &str) -> u64 {
    let Ok(d) = store.layer_dir(chain) else {
        return 0;
    };
    fs::read_to_string(d.with_extension("size"))
        .ok()
        .and_then(|s| s.trim().parse().ok())
        .unwrap_or_else(|| volume::du(&d))
}

/// `system df`: what images, containers and volumes take, and what pruning would free.
pub fn df(store: &Store) -> Result<Vec<DfRow>, SystemError> {
    let images = image::list(store)?;
    let containers = container::list(store)?;
    let used: BTreeSet<&str> = containers
        .iter()
        .map(|c| c.settings.image_id.as_str())
        .collect();
    // Shared layers count once, as docker counts them.
    let mut all_layers = BTreeMap::new();
    let mut active_layers = BTreeSet::new();
    for i in &images {
        for l in &i.layers {
            all_layers
                .entry(l.clone())
                .or_insert_with(|| layer_size(store, l));
            if used.contains(i.id.as_str()) {
                active_layers.insert(l.clone());
            }
        }
    }
    let isize: u64 = all_layers.values().sum();
    let iactive: u64 = active_layers.iter().map(|l| all_layers[l]).sum();
    let mut csize = 0;
    let mut creclaim = 0;
    for c in &containers {
        let s = volume::du(&store.container_dir(&c.settings.id).join("upper"));
        csize += s;
        if !c.running() {
            creclaim += s;
        }
    }
    let vols = volume::list(store)?;
    let mut vsize = 0;
    let mut vreclaim = 0;
    let mut vactive = 0;
    for v in &vols {
        let s = volume::du(&v.mountpoint);
        vsize += s;
        if volume::users(store, &v.name)?.is_empty() {
            vreclaim += s;
        } else {
            vactive += 1;
        }
    }
    Ok(vec![
        DfRow {
            kind: "Images",
            total: images.len(),
            active: images
                .iter()
                .filter(|i| used.contains(i.id.as_str()))
                .count(),
            size: isize,
            reclaimable: isize - iactive,
        },
        DfRow {
            kind: "Containers",
            total: containers.len(),
            active: containers.iter().filter(|c| c.running()).count(),
            size: csize,
            reclaimable: creclaim,
        },
        DfRow {
            kind: "Local Volumes",
            total: vols.len(),
            active: vactive,
            size: vsize,
            reclaimable: vreclaim,
        },
        {
            let blobs: BTreeSet<String> = images
                .iter()
                .filter_map(|i| crate::archive::layer_blobs(store, i).ok())
                .flatten()
                .collect();
            let u = crate::build::cache::usage(store, &blobs);
            DfRow {
                kind: "Build Cache",
                total: u.entries,
                active: 0,
                size: u.size,
                reclaimable: u.reclaimable,
            }
        },
    ])
}

/// What `system prune` removed.
#[derive(Debug, Default)]
pub struct Pruned {
    /// Container ids.
    pub containers: Vec<String>,
    /// Volume names.
    pub volumes: Vec<String>,
    /// `Untagged:`/`Deleted:` lines, as `rmi` prints them.
    pub images: Vec<String>,
    /// Bytes freed.
    pub reclaimed: u64,
}

/// `system prune`: stopped containers, (with `volumes`) unused anonymous volumes, dangling
/// images (with `all`, every image no container uses), then the layers and blobs no image
/// refers to any more.
pub fn prune(store: &Store, all: bool, volumes: bool) -> Result<Pruned, SystemError> {
    let mut out = Pruned::default();
    for c in container::list(store)? {
        if c.running() || c.monitored {
            continue;
        }
        let id = c.settings.id.clone();
        let size = volume::du(&store.container_dir(&id).join("upper"));
        match container::remove(store, &id, false) {
            Ok(()) => {
                out.reclaimed += size;
                out.containers.push(id);
            }
            // Started meanwhile: not ours to remove.
            Err(ContainerError::Running { .. }) | Err(ContainerError::NotFound(_)) => {}
            Err(e) => return Err(e.into()),
        }
    }
    if volumes {
        let (names, bytes) = volume::prune(store, false)?;
        out.volumes = names;
        out.reclaimed += bytes;
    }
    let p = crate::prune::prune_images(store, all)?;
    out.images
        .extend(p.untagged.into_iter().map(|u| format!("untagged: {u}")));
    out.images
        .extend(p.deleted.into_iter().map(|d| format!("deleted: {d}")));
    out.reclaimed += p.reclaimed;
    Ok(out)
}

/// Should `system boot` start this container? `always`, and `unless-stopped` unless the
/// user stopped it (dockerd's rule at start).
pub fn starts_at_boot(store: &Store, c: &container::Container) -> bool {
    match c.settings.restart.name.as_str() {
        "always" => true,
        "unless-stopped" => !store
            .container_dir(&c.settings.id)
            .join("stopped-by-user")
            .exists(),
        _ => false,
    }
}

/// `system boot`: brings the store up to date after a (re)boot and starts the containers
/// whose restart policy says so. Returns (name, error) for each it tried.
pub fn boot(store: &Store) -> Result<Vec<(String, Option<String>)>, SystemError> {
    let mut out = Vec::new();
    for c in container::list(store)? {
        if c.running() || c.monitored || !starts_at_boot(store, &c) {
            continue;
        }
        let r = {
            let _g = store.gc_lock(false)?;
            crate::monitor::spawn(store, &c.settings, false)
        };
        out.push((c.settings.name.clone(), r.err().map(|e| e.to_string())));
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tmp_names() {
        assert_eq!(tmp_owner("@tmp-blob-123-0-456"), Some(123));
        assert_eq!(tmp_owner("abc"), None);
        assert!(!dead_tmp(&format!("@tmp-x-{}-0-0", std::process::id())));
        assert!(dead_tmp("@tmp-x-999999999-0-0"));
    }
}
