//! Names that resolve on user-defined networks, docker's embedded DNS the podman way: one
//! small responder process per network (`ongi-dns`, see [`super::dnsserver`]) listening
//! on the network's gateway address, port 53, UDP and TCP. Containers on the network get
//! `nameserver <gateway>` in resolv.conf (docker writes 127.0.0.11 and catches it inside
//! the container's namespace; podman's aardvark-dns also answers on the gateway).
//!
//! The records are files, one per container and network, under
//! `<run root>/dns/<network id>/records/<container id>` (its names, address and the
//! upstream servers its queries go to), written when a container joins and removed when
//! it leaves: `attach`/`connect` add, teardown (the monitor, `stop`, `rm`, `system
//! check`, a failed start) and `disconnect` remove. The responder reads only that
//! directory, so two networks' names never mix and it needs no database.
//!
//! The responder is started by the join that finds none alive (so a killed one comes back
//! with the next join), holds `<network dir>/lock` for its whole life (that lock, not the
//! pid, is how others know it is alive, as for monitors) and exits when the records
//! directory is empty. Starting, the liveness check and the responder's last look before
//! exiting all happen under the network lock (`<run root>/network.lock`), so a join never
//! sees a responder alive that is about to leave.

use std::fs;
use std::io::{self, BufRead, Read};
use std::net::{IpAddr, Ipv4Addr};
use std::os::fd::AsRawFd;
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::{Deserialize, Serialize};

use super::NetworkError;

/// One container's names on one network (a file in the records directory).
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct Record {
    /// The container's full id (its short id resolves too, as docker's).
    pub id: String,
    /// Its name, then its `--network-alias`es on this network.
    pub names: Vec<String>,
    /// Its address on this network.
    pub address: Ipv4Addr,
    /// Where names not on the network go for this container: its `--dns` servers, else
    /// the host's.
    pub upstreams: Vec<IpAddr>,
}

/// The network's directory under the run root.
pub fn net_dir(run_root: &Path, network_id: &str) -> PathBuf {
    run_root.join("dns").join(network_id)
}

/// Its records directory.
pub fn records_dir(run_root: &Path, network_id: &str) -> PathBuf {
    net_dir(run_root, network_id).join("records")
}

fn io_err<'a>(op: &'static str, path: &'a Path) -> impl FnOnce(io::Error) -> NetworkError + 'a {
    move |source| NetworkError::Io {
        op,
        path: path.to_path_buf(),
        source,
    }
}

/// Writes (atomically: the responder may read at any time) the container's record.
pub fn add(run_root: &Path, network_id: &str, rec: &Record) -> Result<(), NetworkError> {
    let dir = records_dir(run_root, network_id);
    fs::create_dir_all(&dir).map_err(io_err("create", &dir))?;
    let tmp = dir.join(format!(".{}.tmp", rec.id));
    fs::write(&tmp, serde_json::to_vec(rec).unwrap_or_default()).map_err(io_err("write", &tmp))?;
    let p = dir.join(&rec.id);
    fs::rename(&tmp, &p).map_err(io_err("rename", &tmp))
}

/// Removes the container's record on the network (none is no error).
pub fn remove(run_root: &Path, network_id: &str, container_id: &str) {
    let _ = fs::remove_file(records_dir(run_root, network_id).join(container_id));
}

/// Every record of the network's directory (files that do not parse are skipped: a
/// half-written one cannot exist, records are renamed into place).
pub fn load(records: &Path) -> Vec<Record> {
    let Ok(rd) = fs::read_dir(records) else {
        return Vec::new();
    };
    rd.flatten()
        .filter(|e| !e.file_name().to_string_lossy().starts_with('.'))
        .filter_map(|e| fs::read(e.path()).ok())
        .filter_map(|b| serde_json::from_slice(&b).ok())
        .collect()
}

/// Name servers in resolv.conf text (every one, loopback too: the responder lives in the
/// host's network namespace, where a local resolver such as systemd-resolved's
/// 127.0.0.53 is reachable; docker 26's embedded DNS also forwards to those from the
/// host's side).
pub fn nameservers(resolv: &str) -> Vec<IpAddr> {
    resolv
        .lines()
        .filter_map(|l| {
            let mut w = l.split_whitespace();
            (w.next() == Some("nameserver"))
                .then(|| w.next())
                .flatten()
                .and_then(|a| a.split('%').next())
                .and_then(|a| a.parse().ok())
        })
        .collect()
}

/// Is a process holding the network's responder lock? Only called under the network lock
/// (a responder takes its lock when it starts, under that lock too), so the moment our
/// shared lock is held cannot make a starting responder fail.
pub fn alive(net: &Path) -> bool {
    let Ok(f) = fs::File::open(net.join("lock")) else {
        return false;
    };
    // SAFETY: f is an open file; flock keeps no pointer and the lock goes with the fd.
    unsafe { libc::flock(f.as_raw_fd(), libc::LOCK_SH | libc::LOCK_NB) != 0 }
}

/// The `ongi-dns` binary: beside the running `ongictl`, or `ONGI_DNS`.
pub fn binary() -> PathBuf {
    crate::monitor::companion_binary("ONGI_DNS", "ongi-dns")
}

/// Starts the network's responder unless one is alive, and waits until it listens. The
/// caller holds the network lock.
pub fn ensure(
    run_root: &Path,
    network_id: &str,
    gateway: Ipv4Addr,
    prefix: u8,
) -> Result<(), NetworkError> {
    use std::os::unix::process::CommandExt;
    let net = net_dir(run_root, network_id);
    if alive(&net) {
        return Ok(());
    }
    let fail = |why: String| NetworkError::Link {
        what: format!("start the DNS responder of network {network_id}"),
        why,
    };
    let (r, w) =
        nix::unistd::pipe2(nix::fcntl::OFlag::O_CLOEXEC).map_err(|e| fail(format!("pipe: {e}")))?;
    let wfd = w.as_raw_fd();
    let mut cmd = std::process::Command::new(binary());
    cmd.arg("--dir")
        .arg(&net)
        .arg("--run-root")
        .arg(run_root)
        .arg("--listen")
        .arg(format!("{gateway}/{prefix}"))
        .args(["--ready-fd", "3"])
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null());
    // SAFETY: between fork and exec only async-signal-safe calls: setsid and dup2.
    unsafe {
        cmd.pre_exec(move || {
            // Its own session: no terminal's signals reach the resident responder.
            libc::setsid();
            if libc::dup2(wfd, 3) < 0 {
                return Err(io::Error::last_os_error());
            }
            Ok(())
        });
    }
    let mut child = cmd
        .spawn()
        .map_err(|e| fail(format!("{}: {e}", binary().display())))?;
    drop(w);
    let mut line = String::new();
    let _ = io::BufReader::new(fs::File::from(r)).read_line(&mut line);
    let line = line.trim();
    if line == "ready" {
        // Not waited for: it stays resident; whoever inherits it reaps it.
        return Ok(());
    }
    let _ = child.kill();
    let _ = child.wait();
    let mut why = line.strip_prefix("error ").unwrap_or(line).to_string();
    if why.is_empty() {
        why = "it exited before listening".into();
    }
    Err(fail(why))
}

/// The pid a responder recorded in its directory.
fn pid_of(net: &Path) -> Option<i32> {
    let mut s = String::new();
    fs::File::open(net.join("pid"))
        .ok()?
        .read_to_string(&mut s)
        .ok()?;
    s.trim().parse().ok()
}

/// Ends a live responder (SIGTERM, then waits up to 5 s for its lock to go free).
fn terminate(net: &Path) {
    if let Some(pid) = pid_of(net).filter(|p| *p > 1) {
        let _ = nix::sys::signal::kill(
            nix::unistd::Pid::from_raw(pid),
            nix::sys::signal::Signal::SIGTERM,
        );
        let until = std::time::Instant::now() + Duration::from_secs(5);
        while alive(net) && std::time::Instant::now() < until {
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

/// `network rm`: the network's responder goes now, with its directory. Left to leave by
/// itself (after a second idle), it would still hold the gateway's port 53 when a network
/// made right after gets the same subnet, as `compose down` then `up` does. The caller
/// holds the network lock.
pub fn stop(run_root: &Path, network_id: &str) {
    let net = net_dir(run_root, network_id);
    if alive(&net) {
        terminate(&net);
    }
    let _ = fs::remove_dir_all(&net);
}

/// `system check`'s part (under the network lock): records of containers that are not
/// running (`running` tells), responders of networks without records or that no longer
/// exist (stopped), and directories no live responder uses; a network whose containers
/// run without a live responder (killed) gets one again. `networks`: (id, gateway) of
/// every network. Returns what it did.
pub fn check(
    run_root: &Path,
    running: &dyn Fn(&str) -> bool,
    networks: &[(String, Ipv4Addr, u8)],
) -> Vec<String> {
    let mut out = Vec::new();
    let Ok(rd) = fs::read_dir(run_root.join("dns")) else {
        return out;
    };
    for e in rd.flatten() {
        let net = e.path();
        let id = e.file_name().to_string_lossy().into_owned();
        let records = net.join("records");
        for r in load(&records) {
            if !running(&r.id) || !networks.iter().any(|n| n.0 == id) {
                remove(run_root, &id, &r.id);
                out.push(format!(
                    "DNS record of {} on network {}",
                    r.names.first().map_or("?", String::as_str),
                    &id[..id.len().min(12)]
                ));
            }
        }
        if !load(&records).is_empty() {
            let gw = networks.iter().find(|n| n.0 == id).map(|n| (n.1, n.2));
            if let Some((gw, prefix)) = gw.filter(|_| !alive(&net)) {
                if ensure(run_root, &id, gw, prefix).is_ok() {
                    out.push(format!(
                        "the dead DNS responder of network {} (a new one started)",
                        &id[..id.len().min(12)]
                    ));
                }
            }
            continue;
        }
        if alive(&net) {
            // It leaves by itself once it sees the directory empty; a stuck one is told.
            terminate(&net);
            out.push(format!(
                "DNS responder of network {}",
                &id[..id.len().min(12)]
            ));
        }
        let known = networks.iter().any(|n| n.0 == id);
        if !alive(&net) && fs::remove_dir_all(&net).is_ok() && !known {
            out.push(format!(
                "DNS directory of removed network {}",
                &id[..id.len().min(12)]
            ));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nameservers_of_resolv_conf() {
        let t = "# x\nnameserver 127.0.0.53\nnameserver  10.0.0.2 \nsearch lan\nnameserver fe80::1%eth0\nnameserver bogus\n";
        assert_eq!(
            nameservers(t),
            [
                "127.0.0.53".parse::<IpAddr>().unwrap(),
                "10.0.0.2".parse().unwrap(),
                "fe80::1".parse().unwrap()
            ]
        );
    }

    #[test]
    fn records_round_trip_and_go() {
        let d = std::env::temp_dir().join(format!("ongi-dns-rec-{}", std::process::id()));
        let r = Record {
            id: "a".repeat(64),
            names: vec!["web".into(), "www".into()],
            address: Ipv4Addr::new(10, 0, 0, 2),
            upstreams: vec![],
        };
        add(&d, "n1", &r).unwrap();
        assert_eq!(load(&records_dir(&d, "n1")), std::slice::from_ref(&r));
        assert!(load(&records_dir(&d, "n2")).is_empty());
        remove(&d, "n1", &r.id);
        assert!(load(&records_dir(&d, "n1")).is_empty());
        let _ = fs::remove_dir_all(&d);
    }
}
