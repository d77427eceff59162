//! linux.sysctl: which keys a container may set and how init writes them.
//!
//! /proc/sys is only partly namespaced: a key is accepted only when it belongs to a
//! namespace the container has of its own (runc's validator rules), checked by the runtime
//! before anything is made, so a bad key fails `create` with nothing to clean up. Init
//! writes the keys after pivot_root, through the container's own procfs, with every file
//! opened beneath `/proc/sys` without following any symlink.

use crate::namespaces::Namespaces;
use nix::errno::Errno;
use nix::sched::CloneFlags;
use std::collections::HashMap;
use std::os::fd::{AsRawFd, OwnedFd};
use std::path::{Path, PathBuf};

/// A linux.sysctl key was refused or could not be written.
#[derive(Debug, thiserror::Error)]
pub enum SysctlError {
    /// The key is not one the container's own namespaces cover, or is malformed.
    #[error("linux.sysctl {key:?}: {reason}")]
    Refused {
        /// The key as written in config.json.
        key: String,
        /// Why it is refused.
        reason: String,
    },
    /// A joined namespace the key needs could not be compared with the runtime's.
    #[error("linux.sysctl {key:?}: stat {path}: {errno}")]
    Namespace {
        /// The key as written in config.json.
        key: String,
        /// The namespace file.
        path: PathBuf,
        /// The error stat returned.
        errno: Errno,
    },
    /// The value could not be written in the container.
    #[error("linux.sysctl {key:?}: {op} {path}: {errno}")]
    Write {
        /// The key as written in config.json.
        key: String,
        /// The operation.
        op: &'static str,
        /// The file below /proc/sys.
        path: PathBuf,
        /// The error it returned.
        errno: Errno,
    },
}

/// One accepted key: as written in config.json (for errors), its file below /proc/sys,
/// and the value.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Sysctl {
    pub key: String,
    pub path: PathBuf,
    pub value: String,
}

/// runc's `convertSysctlVariableToDotsSeparator`: a key whose first separator is '/' is in
/// the slash form ("net/ipv4/ip_forward"); '.' and '/' swap roles. In the dotted form a '/'
/// inside a component stands for a '.' in the file name (sysctl(8): "eth0/100" is
/// "eth0.100").
fn dotted(key: &str) -> String {
    match key.find(['.', '/']) {
        Some(i) if key.as_bytes()[i] == b'/' => key
            .chars()
            .map(|c| match c {
                '.' => '/',
                '/' => '.',
                c => c,
            })
            .collect(),
        _ => key.to_string(),
    }
}

/// The file below /proc/sys for a dotted key. Every component must name a file: not empty
/// (a leading '/', "..", a doubled separator), not "." or "..", no NUL.
fn file_of(dotted: &str) -> Result<PathBuf, String> {
    let mut path = PathBuf::new();
    for comp in dotted.split('.') {
        let name = comp.replace('/', ".");
        if name.is_empty() || name == "." || name == ".." || name.contains('\0') {
            return Err(
                "not a sysctl name: every dot-separated component must name a file \
                 below /proc/sys (no '/', '..' or empty components)"
                    .into(),
            );
        }
        path.push(name);
    }
    Ok(path)
}

/// The IPC keys runc accepts with a new IPC namespace (besides `fs.mqueue.*`).
const IPC_KEYS: [&str; 8] = [
    "kernel.msgmax",
    "kernel.msgmnb",
    "kernel.msgmni",
    "kernel.sem",
    "kernel.shmall",
    "kernel.shmmax",
    "kernel.shmmni",
    "kernel.shm_rmid_forced",
];

/// Whether the container has a namespace of this kind of its own: a new one, or one joined
/// by path that is not the runtime's (joining the host's would make the key a host write).
fn own(ns: &Namespaces, flag: CloneFlags, name: &str, key: &str) -> Result<bool, SysctlError> {
    if ns.new.contains(flag) {
        return Ok(true);
    }
    let Some(j) = ns.joins.iter().find(|j| j.flag == flag) else {
        return Ok(false);
    };
    let mine = PathBuf::from(format!("/proc/self/ns/{name}"));
    let err = |path: &Path| {
        let path = path.to_path_buf();
        move |errno| SysctlError::Namespace {
            key: key.to_string(),
            path,
            errno,
        }
    };
    let a = nix::sys::stat::stat(&mine).map_err(err(&mine))?;
    let b = nix::sys::stat::fstat(&j.fd).map_err(err(&j.path))?;
    Ok((a.st_dev, a.st_ino) != (b.st_dev, b.st_ino))
}

/// Checks linux.sysctl against the container's namespaces (runc's rules, plus: a joined
/// namespace must not be the runtime's own) and returns the keys to write, sorted so that
/// errors and the write order do not depend on the map's order.
pub fn check(
    sysctl: Option<&HashMap<String, String>>,
    ns: &Namespaces,
) -> Result<Vec<Sysctl>, SysctlError> {
    let Some(map) = sysctl.filter(|m| !m.is_empty()) else {
        return Ok(Vec::new());
    };
    let mut keys: Vec<&String> = map.keys().collect();
    keys.sort();
    let mut out = Vec::with_capacity(keys.len());
    for key in keys {
        let refuse = |reason: String| SysctlError::Refused {
            key: key.clone(),
            reason,
        };
        let d = dotted(key);
        let path = file_of(&d).map_err(refuse)?;
        let (flag, name, what) = if IPC_KEYS.contains(&d.as_str()) || d.starts_with("fs.mqueue.") {
            (CloneFlags::CLONE_NEWIPC, "ipc", "ipc")
        } else if d.starts_with("net.") {
            (CloneFlags::CLONE_NEWNET, "net", "network")
        } else if d == "kernel.domainname" {
            (CloneFlags::CLONE_NEWUTS, "uts", "uts")
        } else if d == "kernel.hostname" {
            return Err(refuse(
                "conflicts with the OCI \"hostname\" field (set that instead)".into(),
            ));
        } else if d.starts_with("user.") {
            (CloneFlags::CLONE_NEWUSER, "user", "user")
        } else {
            return Err(refuse(
                "not in a separate kernel namespace: it would change the host's value".into(),
            ));
        };
        if !own(ns, flag, name, key)? {
            return Err(refuse(format!(
                "needs a {what} namespace of the container's own (a new one, or a joined one \
                 that is not the runtime's): it would change the host's value"
            )));
        }
        out.push(Sysctl {
            key: key.clone(),
            path,
            value: map[key].clone(),
        });
    }
    Ok(out)
}

/// procfs' f_type (linux/magic.h).
const PROC_SUPER_MAGIC: i64 = 0x9fa0;

fn on_procfs(fd: &OwnedFd) -> Result<bool, Errno> {
    let st = nix::sys::statfs::fstatfs(fd)?;
    Ok(st.filesystem_type().0 as i64 == PROC_SUPER_MAGIC)
}

/// In init, after pivot_root and before masked/readonly paths (runc's order): writes each
/// key through the container's /proc, which must be a procfs. Init is in the container's
/// namespaces, so a namespaced key reaches the container's own value.
pub fn apply(list: &[Sysctl]) -> Result<(), SysctlError> {
    let Some(first) = list.first() else {
        return Ok(());
    };
    let procsys = Path::new("/proc/sys");
    let err = |key: &str, op, path: &Path| {
        let (key, path) = (key.to_string(), path.to_path_buf());
        move |errno| SysctlError::Write {
            key,
            op,
            path,
            errno,
        }
    };
    let root = nix::fcntl::open(
        "/",
        nix::fcntl::OFlag::O_PATH | nix::fcntl::OFlag::O_DIRECTORY | nix::fcntl::OFlag::O_CLOEXEC,
        nix::sys::stat::Mode::empty(),
    )
    .map_err(err(&first.key, "open", Path::new("/")))?;
    let dir = crate::sys::openat2(
        root.as_raw_fd(),
        procsys,
        libc::O_PATH | libc::O_DIRECTORY,
        libc::RESOLVE_IN_ROOT | libc::RESOLVE_NO_SYMLINKS,
    )
    .map_err(err(&first.key, "open", procsys))?;
    if !on_procfs(&dir).map_err(err(&first.key, "fstatfs", procsys))? {
        // A directory of the image where the container has no procfs mounted.
        return Err(err(&first.key, "open", procsys)(Errno::ENOENT));
    }
    for s in list {
        let full = procsys.join(&s.path);
        let fd = crate::sys::openat2(
            dir.as_raw_fd(),
            &s.path,
            libc::O_WRONLY | libc::O_TRUNC,
            libc::RESOLVE_BENEATH | libc::RESOLVE_NO_SYMLINKS,
        )
        .map_err(err(&s.key, "open", &full))?;
        if !on_procfs(&fd).map_err(err(&s.key, "fstatfs", &full))? {
            return Err(err(&s.key, "open", &full)(Errno::EXDEV));
        }
        let n = nix::unistd::write(&fd, s.value.as_bytes()).map_err(err(&s.key, "write", &full))?;
        if n != s.value.len() {
            return Err(err(&s.key, "write", &full)(Errno::EIO));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ns(new: CloneFlags) -> Namespaces {
        Namespaces {
            new,
            new_cgroup: false,
            new_time: false,
            time_offsets: None,
            joins: Vec::new(),
        }
    }

    fn one(key: &str, n: &Namespaces) -> Result<Vec<Sysctl>, SysctlError> {
        let m = HashMap::from([(key.to_string(), "1".to_string())]);
        check(Some(&m), n)
    }

    #[test]
    fn keys_map_to_files_below_proc_sys() {
        assert_eq!(dotted("net/ipv4/ip_forward"), "net.ipv4.ip_forward");
        assert_eq!(
            file_of(&dotted("net/ipv4/conf/eth0.100/forwarding")).unwrap(),
            Path::new("net/ipv4/conf/eth0.100/forwarding")
        );
        assert_eq!(
            file_of("net.ipv4.conf.eth0/100.forwarding").unwrap(),
            Path::new("net/ipv4/conf/eth0.100/forwarding")
        );
        for bad in [
            "/tmp/x",
            "../x",
            "net.ipv4..x",
            "net./.x",
            "net.//.x",
            "net/../../x",
            "net.",
            "",
            "net.a\0b",
        ] {
            assert!(file_of(&dotted(bad)).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn runc_namespace_rules() {
        let all = ns(CloneFlags::CLONE_NEWNET
            | CloneFlags::CLONE_NEWIPC
            | CloneFlags::CLONE_NEWUTS
            | CloneFlags::CLONE_NEWUSER);
        let none = ns(CloneFlags::CLONE_NEWNS);
        for key in [
            "net.ipv4.ip_forward",
            "net/ipv4/ip_forward",
            "kernel.shmmax",
            "kernel.sem",
            "fs.mqueue.msg_max",
            "kernel.domainname",
            "user.max_user_namespaces",
        ] {
            assert!(one(key, &all).is_ok(), "{key} with its namespace");
            let e = one(key, &none).unwrap_err().to_string();
            assert!(e.contains(key), "{e}");
        }
        for key in [
            "vm.swappiness",
            "kernel.hostname",
            "kernel.shmmaxx",
            "/tmp/x",
            "../../tmp/x",
        ] {
            let e = one(key, &all).unwrap_err().to_string();
            assert!(e.contains(&format!("{key:?}")), "{e}");
        }
        let ok = one("net/ipv4/ip_forward", &all).unwrap();
        assert_eq!(ok[0].path, Path::new("net/ipv4/ip_forward"));
        assert!(check(None, &none).unwrap().is_empty());
    }
}
