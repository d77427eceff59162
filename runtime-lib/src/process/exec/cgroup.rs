//! Where the exec'd process goes: the container's cgroup directories, runc's v2 fallback
//! to init's current cgroup, and the `--cgroup` sub-cgroups.

use super::ExecError;
use crate::cgroups;
use std::collections::HashMap;
use std::path::{Path, PathBuf};

/// Writes `pid` to every cgroup directory of the container. On cgroup v2 a directory may
/// refuse it: EBUSY when the container enabled domain controllers for sub-cgroups of its
/// own cgroup ("no internal processes"), ENOENT when init moved elsewhere and the original
/// was removed. Then, as runc does, the process joins init's current v2 cgroup instead.
pub(super) fn join_cgroups(cg: &CgroupTarget, pid: i32) -> Result<(), cgroups::CgroupError> {
    let hier = cgroups::hierarchies();
    for d in cg.dirs {
        // An explicitly requested sub-cgroup gets no fallback (runc).
        if let Some(sub) = sub_cgroup_for(d, &hier, cg.subs) {
            cgroups::add_pid(std::slice::from_ref(&d.join(sub)), pid)?;
            continue;
        }
        let Err(e) = cgroups::add_pid(std::slice::from_ref(d), pid) else {
            continue;
        };
        match init_v2_cgroup(d, cg.init_pid) {
            Some(alt) if alt != *d => cgroups::add_pid(std::slice::from_ref(&alt), pid)?,
            _ => return Err(e),
        }
    }
    Ok(())
}

/// Where the process goes: the container's cgroup directories (one per hierarchy), init's
/// pid (for the v2 fallback) and the `--cgroup` sub-cgroups by controller ("" for all).
pub(crate) struct CgroupTarget<'a> {
    pub(crate) dirs: &'a [PathBuf],
    pub(crate) init_pid: i32,
    pub(crate) subs: &'a HashMap<String, PathBuf>,
}

/// Parses runc's `--cgroup` arguments, with runc's rules: one bare path for every
/// hierarchy, or `controller[,controller]:path` entries naming each controller once. The
/// path must stay below the container's cgroup.
pub(crate) fn parse_sub_cgroups(args: &[String]) -> Result<HashMap<String, PathBuf>, ExecError> {
    let bad = |m: String| ExecError::SubCgroup(format!("invalid --cgroup argument: {m}"));
    let mut out = HashMap::new();
    for a in args {
        let (ctrls, path) = match a.split_once(':') {
            Some((c, p)) => (Some(c), p),
            None => (None, a.as_str()),
        };
        let rel = Path::new(path.trim_start_matches('/'));
        let below = rel
            .components()
            .all(|c| matches!(c, std::path::Component::Normal(_)));
        if rel.as_os_str().is_empty() || !below {
            return Err(bad(format!(
                "{a} (the path must name a sub-cgroup of the container's cgroup)"
            )));
        }
        match ctrls {
            None if args.len() != 1 => {
                return Err(bad(format!("{a} (missing <controller>: prefix)")));
            }
            None => {
                out.insert(String::new(), rel.to_path_buf());
            }
            Some(c) => {
                for ctrl in c.split(',') {
                    if ctrl.is_empty() {
                        return Err(bad(format!("{a} (empty <controller> prefix)")));
                    }
                    if out.insert(ctrl.to_string(), rel.to_path_buf()).is_some() {
                        return Err(bad(format!("controller {ctrl} specified multiple times")));
                    }
                }
            }
        }
    }
    Ok(out)
}

/// The requested sub-cgroup for the container directory `dir`: the one for every
/// hierarchy, or the one naming a controller of dir's v1 hierarchy.
fn sub_cgroup_for<'a>(
    dir: &Path,
    hier: &[cgroups::Hierarchy],
    subs: &'a HashMap<String, PathBuf>,
) -> Option<&'a Path> {
    if let Some(p) = subs.get("") {
        return Some(p);
    }
    let h = hier
        .iter()
        .filter(|h| dir.starts_with(&h.mountpoint))
        .max_by_key(|h| h.mountpoint.as_os_str().len())?;
    if h.fstype != "cgroup" {
        return None;
    }
    h.controllers
        .split(',')
        .find_map(|c| subs.get(c))
        .map(PathBuf::as_path)
}

/// Init's current cgroup in the v2 hierarchy that `dir` belongs to (None for v1). The
/// runtime is in the host's cgroup namespace, so /proc/<pid>/cgroup paths are absolute.
fn init_v2_cgroup(dir: &Path, init_pid: i32) -> Option<PathBuf> {
    let h = cgroups::hierarchies()
        .into_iter()
        .find(|h| h.fstype == "cgroup2" && dir.starts_with(&h.mountpoint))?;
    let text = crate::sys::read_proc(format!("/proc/{init_pid}/cgroup")).ok()?;
    let rel = text.lines().find_map(|l| l.strip_prefix("0::"))?;
    Some(h.mountpoint.join(rel.trim_start_matches('/')))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sub_cgroup_arguments() {
        for (args, ok) in [
            (vec!["sub"], true),
            (vec!["cpu,memory:a/b", "pids:c"], true),
            (vec!["a", "b"], false),
            (vec![":x"], false),
            (vec!["cpu:a", "cpu:b"], false),
            (vec!["../escape"], false),
            (vec!["pids:"], false),
        ] {
            let args: Vec<String> = args.into_iter().map(String::from).collect();
            assert_eq!(parse_sub_cgroups(&args).is_ok(), ok, "{args:?}");
        }
        let m = parse_sub_cgroups(&["cpu,memory:/a/b".to_string()]).unwrap();
        assert_eq!(
            m.get("memory").map(PathBuf::as_path),
            Some(Path::new("a/b"))
        );
    }
}
