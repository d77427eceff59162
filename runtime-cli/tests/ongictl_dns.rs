//! Names that resolve on user-defined networks, live (docker's embedded DNS; ours answers
//! on the network's gateway, as podman's aardvark-dns): peers started later resolve by name,
//! alias and short id, a removed one stops resolving, a restarted one resolves to its new
//! address, another network's names never do, other names go to the upstream servers (the
//! host's, or --dns's), and no responder is left once the containers are gone.
//!
//! The netns pattern of ongictl_network2.rs: the engine runs in a network namespace of the
//! test's own. The "host's" resolv.conf the engine sees (ONGI_RESOLV_CONF) names
//! 127.0.0.1, where a tiny DNS server of the test's, inside that namespace, answers every
//! A query with 192.0.2.77 (a second one on 127.0.0.2 answers 192.0.2.88, for --dns):
//! no query leaves the namespace. Inside containers busybox `nslookup NAME SERVER` asks
//! the server directly with its own resolver.

mod common;

use std::net::UdpSocket;
use std::os::fd::AsFd;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Once};
use std::time::{Duration, Instant};

use common::engine::monitor_pid;
use common::netns::{IMG, T};

/// Points every engine of this file at a host resolv.conf naming 127.0.0.1 (in each
/// test's own namespace that is the test's upstream, or nothing).
fn host_resolv() {
    static ONCE: Once = Once::new();
    ONCE.call_once(|| {
        let dir = Path::new(common::engine::BASE);
        let _ = std::fs::create_dir_all(dir);
        // One file for every run (the same text always; written by rename, so a
        // concurrent run never reads half of it): nothing piles up under BASE.
        let p = dir.join("dns-resolv.conf");
        let tmp = dir.join(format!("dns-resolv.conf.{}", std::process::id()));
        std::fs::write(&tmp, "nameserver 127.0.0.1\n").unwrap();
        std::fs::rename(&tmp, &p).unwrap();
        // Set before any engine command runs (Once), read only by the engine's children.
        std::env::set_var("ONGI_RESOLV_CONF", &p);
    });
}

/// A DNS server of the test's on `addr`:53 inside the namespace at `ns`: every A query is
/// answered with `answer`, other types with no records. Counts the queries; stops on drop.
struct Upstream {
    stop: Arc<AtomicBool>,
    queries: Arc<AtomicUsize>,
}

impl Upstream {
    fn start(ns: &Path, addr: &str, answer: [u8; 4]) -> Upstream {
        let stop = Arc::new(AtomicBool::new(false));
        let queries = Arc::new(AtomicUsize::new(0));
        let (s, q) = (stop.clone(), queries.clone());
        let ns: PathBuf = ns.to_path_buf();
        let addr = format!("{addr}:53");
        let (tx, rx) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            // This thread alone moves into the test's namespace.
            let f = std::fs::File::open(&ns).unwrap();
            nix::sched::setns(f.as_fd(), nix::sched::CloneFlags::CLONE_NEWNET).unwrap();
            let sock = UdpSocket::bind(&addr).unwrap();
            sock.set_read_timeout(Some(Duration::from_millis(100)))
                .unwrap();
            tx.send(()).unwrap();
            let mut buf = [0u8; 1500];
            while !s.load(Ordering::SeqCst) {
                let Ok((n, from)) = sock.recv_from(&mut buf) else {
                    continue;
                };
                if let Some(r) = reply(&buf[..n], answer) {
                    q.fetch_add(1, Ordering::SeqCst);
                    let _ = sock.send_to(&r, from);
                }
            }
        });
        rx.recv_timeout(Duration::from_secs(10))
            .expect("upstream DNS server listening");
        Upstream { stop, queries }
    }

    fn count(&self) -> usize {
        self.queries.load(Ordering::SeqCst)
    }
}

impl Drop for Upstream {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
    }
}

/// The answer to a one-question query, by hand (the test's server is not the code under
/// test): header, the question as asked, and one A record when it asked for A.
fn reply(q: &[u8], answer: [u8; 4]) -> Option<Vec<u8>> {
    if q.len() < 12 {
        return None;
    }
    let mut i = 12;
    while *q.get(i)? != 0 {
        i += 1 + q[i] as usize;
    }
    let qend = i + 5;
    let question = q.get(12..qend)?;
    let is_a = question[question.len() - 4..question.len() - 2] == [0, 1];
    let mut r = vec![q[0], q[1], 0x81, 0x80, 0, 1, 0, is_a as u8, 0, 0, 0, 0];
    r.extend_from_slice(question);
    if is_a {
        r.extend_from_slice(&[0xc0, 12, 0, 1, 0, 1, 0, 0, 0, 60, 0, 4]);
        r.extend_from_slice(&answer);
    }
    Some(r)
}

fn setup(tag: &str, subnet: &str) -> T {
    host_resolv();
    let t = T::new(tag);
    t.e.ok(&["network", "create", "--subnet", subnet, "app"]);
    t
}

/// `nslookup NAME SERVER` inside container `c`: the addresses answered, None when the
/// name does not resolve.
fn lookup(t: &T, c: &str, name: &str, server: &str) -> Option<Vec<String>> {
    let o = t.e.ctl(&["exec", c, "nslookup", "-type=a", name, server]);
    if !o.ok() {
        return None;
    }
    // After "Name:" lines come "Address: IP" ones; the first Address is the server's.
    let addrs: Vec<String> = o
        .stdout
        .split("Name:")
        .skip(1)
        .flat_map(|b| b.lines().filter_map(|l| l.strip_prefix("Address:")))
        .map(|a| a.trim().to_string())
        .collect();
    (!addrs.is_empty()).then_some(addrs)
}

/// Polls `lookup` until `want` holds for its result (generous: CI's VM is slow).
fn eventually(
    t: &T,
    c: &str,
    name: &str,
    server: &str,
    want: impl Fn(&Option<Vec<String>>) -> bool,
) -> Option<Vec<String>> {
    let until = Instant::now() + Duration::from_secs(40);
    loop {
        let r = lookup(t, c, name, server);
        if want(&r) || Instant::now() > until {
            return r;
        }
        std::thread::sleep(Duration::from_millis(200));
    }
}

fn sleeper(t: &T, name: &str, extra: &[&str]) -> String {
    let mut a = vec!["run", "-d", "--name", name, "--network", "app"];
    a.extend_from_slice(extra);
    a.extend_from_slice(&[IMG, "sleep", "600"]);
    t.e.ok(&a)
}

/// The responder's pid file under the run root, if any network has one.
fn responder_pids(t: &T) -> Vec<i32> {
    let Ok(rd) = std::fs::read_dir(t.e.run_root.join("dns")) else {
        return Vec::new();
    };
    rd.flatten()
        .filter_map(|e| std::fs::read_to_string(e.path().join("pid")).ok())
        .filter_map(|s| s.trim().parse().ok())
        .collect()
}

/// Is a (non-zombie) process `pid` there? (PID 1 here reaps no orphans.)
fn live(pid: i32) -> bool {
    std::fs::read_to_string(format!("/proc/{pid}/stat"))
        .ok()
        .and_then(|s| s.rsplit(')').next().map(|r| r.trim_start().to_string()))
        .is_some_and(|r| !r.starts_with('Z'))
}

fn listening_on_53(t: &T) -> String {
    let o = t.host(&["ss", "-H", "-lnu", "sport", "=", ":53"]);
    let o2 = t.host(&["ss", "-H", "-lnt", "sport", "=", ":53"]);
    format!("{}{}", o.stdout, o2.stdout)
        .lines()
        .filter(|l| !l.contains("127.0.0."))
        .collect::<Vec<_>>()
        .join("\n")
}

#[test]
fn names_follow_containers_as_they_come_and_go() {
    let t = setup("dnsnames", "10.241.1.0/24");
    let gw = "10.241.1.1";
    sleeper(&t, "client", &[]);
    // Its resolv.conf names the network's responder only.
    let resolv = t.e.ok(&["exec", "client", "cat", "/etc/resolv.conf"]);
    let ns: Vec<&str> = resolv
        .lines()
        .filter(|l| l.starts_with("nameserver"))
        .collect();
    assert_eq!(ns, [format!("nameserver {gw}")], "{resolv}");

    // A peer started after the client resolves by name, alias and short id.
    let web = t.web(
        &[
            "--name",
            "web",
            "--network",
            "app",
            "--network-alias",
            "www",
        ],
        "hello",
    );
    let web_ip = t.ip_of("web");
    let r = eventually(&t, "client", "web", gw, |r| r.is_some());
    assert_eq!(r, Some(vec![web_ip.clone()]));
    assert_eq!(lookup(&t, "client", "www", gw), Some(vec![web_ip.clone()]));
    assert_eq!(
        lookup(&t, "client", &web[..12], gw),
        Some(vec![web_ip.clone()])
    );
    // And an unknown single name is NXDOMAIN, not a wait for an upstream.
    let o =
        t.e.ctl(&["exec", "client", "nslookup", "-type=a", "nosuch", gw]);
    assert!(!o.ok() && o.stdout.contains("NXDOMAIN"), "{o}");
    // The address answered carries traffic (busybox nc to what DNS said).
    let o = t.e.ok(&[
        "exec",
        "client",
        "sh",
        "-c",
        &format!("printf 'GET / HTTP/1.0\\r\\n\\r\\n' | nc -w 3 {web_ip} 80"),
    ]);
    assert!(o.contains("hello"), "{o}");

    // A restarted peer with a new address resolves to the new one: while it is stopped
    // its old address is taken by another container.
    sleeper(&t, "api", &[]);
    let old = t.ip_of("api");
    assert_eq!(
        eventually(&t, "client", "api", gw, |r| r.is_some()),
        Some(vec![old.clone()])
    );
    t.e.ok(&["stop", "-t", "0", "api"]);
    assert_eq!(eventually(&t, "client", "api", gw, |r| r.is_none()), None);
    sleeper(&t, "filler", &["--ip", &old]);
    t.e.ok(&["start", "api"]);
    let new = t.ip_of("api");
    assert_ne!(new, old);
    assert_eq!(
        eventually(&t, "client", "api", gw, |r| r.as_ref()
            == Some(&vec![new.clone()])),
        Some(vec![new.clone()])
    );

    // A removed peer stops resolving (by alias too).
    t.e.ok(&["rm", "-f", "web"]);
    assert_eq!(eventually(&t, "client", "web", gw, |r| r.is_none()), None);
    assert_eq!(lookup(&t, "client", "www", gw), None);

    // Another network's names never mix with these, either way.
    t.e.ok(&["network", "create", "--subnet", "10.241.9.0/24", "other"]);
    t.e.ok(&[
        "run",
        "-d",
        "--name",
        "lone",
        "--network",
        "other",
        IMG,
        "sleep",
        "600",
    ]);
    let lone_ip = t.ip_of("lone");
    assert_eq!(
        eventually(&t, "lone", "lone", "10.241.9.1", |r| r.is_some()),
        Some(vec![lone_ip])
    );
    assert_eq!(lookup(&t, "lone", "api", "10.241.9.1"), None);
    assert_eq!(lookup(&t, "lone", "client", "10.241.9.1"), None);
    assert_eq!(lookup(&t, "client", "lone", gw), None);
    // Nor does asking the other network's responder directly (it routes, through the
    // host, but the responder refuses askers from outside its subnet).
    assert_eq!(lookup(&t, "lone", "client", gw), None);
    assert_eq!(lookup(&t, "client", "lone", "10.241.9.1"), None);

    // network connect puts a container's name (and its alias there) on that network's
    // responder; disconnect takes it away.
    t.e.ok(&["network", "connect", "--alias", "joiner", "other", "filler"]);
    let fill_other = t.e.ok(&[
        "inspect",
        "-f",
        "{{.NetworkSettings.Networks.other.IPAddress}}",
        "filler",
    ]);
    assert_eq!(
        eventually(&t, "lone", "joiner", "10.241.9.1", |r| r.is_some()),
        Some(vec![fill_other.clone()])
    );
    assert_eq!(
        lookup(&t, "lone", "filler", "10.241.9.1"),
        Some(vec![fill_other])
    );
    t.e.ok(&["network", "disconnect", "other", "filler"]);
    assert_eq!(
        eventually(&t, "lone", "filler", "10.241.9.1", |r| r.is_none()),
        None
    );
}

#[test]
fn other_names_go_to_the_upstream_servers() {
    let t = setup("dnsfwd", "10.241.2.0/24");
    let gw = "10.241.2.1";
    let host = Upstream::start(&t.ns.path, "127.0.0.1", [192, 0, 2, 77]);
    let own = Upstream::start(&t.ns.path, "127.0.0.2", [192, 0, 2, 88]);
    sleeper(
        &t,
        "c1",
        &["--dns-search", "corp.test", "--dns-option", "ndots:2"],
    );
    // --dns-search and --dns-option stay; the name server is the responder.
    let resolv = t.e.ok(&["exec", "c1", "cat", "/etc/resolv.conf"]);
    assert!(
        resolv.lines().any(|l| l == format!("nameserver {gw}")),
        "{resolv}"
    );
    assert!(resolv.lines().any(|l| l == "search corp.test"), "{resolv}");
    assert!(resolv.lines().any(|l| l == "options ndots:2"), "{resolv}");
    assert_eq!(
        eventually(&t, "c1", "www.example.test", gw, |r| r.is_some()),
        Some(vec!["192.0.2.77".to_string()])
    );
    assert!(host.count() >= 1);
    // --dns replaces the host's servers as this container's upstream (docker's rule);
    // its resolv.conf still names the responder.
    sleeper(&t, "c2", &["--dns", "127.0.0.2"]);
    let resolv = t.e.ok(&["exec", "c2", "cat", "/etc/resolv.conf"]);
    assert!(
        resolv.lines().any(|l| l == format!("nameserver {gw}")),
        "{resolv}"
    );
    assert_eq!(
        eventually(&t, "c2", "www.example.test", gw, |r| r.is_some()),
        Some(vec!["192.0.2.88".to_string()])
    );
    assert!(own.count() >= 1);
    // Peers' names are answered locally, never asked upstream.
    let before = host.count() + own.count();
    assert!(lookup(&t, "c2", "c1", gw).is_some());
    assert_eq!(host.count() + own.count(), before);
    // An upstream that does not answer: a server failure within the time limit.
    drop(host);
    std::thread::sleep(Duration::from_millis(300));
    let start = Instant::now();
    assert_eq!(lookup(&t, "c1", "gone.example.test", gw), None);
    assert!(start.elapsed() < Duration::from_secs(30));
}

#[test]
fn the_responder_lives_with_its_containers() {
    let t = setup("dnslife", "10.241.3.0/24");
    let gw = "10.241.3.1";
    // No container, no responder; the default bridge never gets one.
    t.e.ok(&[
        "run",
        "-d",
        "--name",
        "b",
        "--network",
        "bridge",
        IMG,
        "sleep",
        "600",
    ]);
    assert!(responder_pids(&t).is_empty());
    sleeper(&t, "a1", &[]);
    sleeper(&t, "a2", &[]);
    let pids = responder_pids(&t);
    assert_eq!(pids.len(), 1, "one responder for the network: {pids:?}");
    assert!(live(pids[0]));
    assert!(listening_on_53(&t).contains(gw), "{}", listening_on_53(&t));
    // A killed responder is started again by the next container to join.
    nix::sys::signal::kill(
        nix::unistd::Pid::from_raw(pids[0]),
        nix::sys::signal::Signal::SIGKILL,
    )
    .unwrap();
    let until = Instant::now() + Duration::from_secs(20);
    while live(pids[0]) && Instant::now() < until {
        std::thread::sleep(Duration::from_millis(50));
    }
    sleeper(&t, "a3", &[]);
    let again = responder_pids(&t);
    assert_eq!(again.len(), 1);
    assert_ne!(again[0], pids[0]);
    let a1 = t.ip_of("a1");
    assert_eq!(
        eventually(&t, "a3", "a1", gw, |r| r.is_some()),
        Some(vec![a1])
    );
    // Killed again, `system check` starts it again (its containers still run).
    nix::sys::signal::kill(
        nix::unistd::Pid::from_raw(again[0]),
        nix::sys::signal::Signal::SIGKILL,
    )
    .unwrap();
    let until = Instant::now() + Duration::from_secs(20);
    while live(again[0]) && Instant::now() < until {
        std::thread::sleep(Duration::from_millis(50));
    }
    // (It exits 1 when it repaired something.)
    let o = t.e.ctl(&["system", "check"]);
    assert!(o.stdout.contains("DNS responder"), "{o}");
    let again = responder_pids(&t);
    assert_eq!(again.len(), 1);
    assert!(live(again[0]));
    assert!(lookup(&t, "a3", "a2", gw).is_some());
    // Its monitor killed with -9, a container stays on the network (it still runs);
    // removed, it leaves the responder's records.
    let a2 = t.e.ok(&["inspect", "-f", "{{.Id}}", "a2"]);
    let mon = monitor_pid(&a2).expect("monitor pid");
    nix::sys::signal::kill(
        nix::unistd::Pid::from_raw(mon),
        nix::sys::signal::Signal::SIGKILL,
    )
    .unwrap();
    assert_eq!(
        eventually(&t, "a3", "a2", gw, |r| r.is_some()).map(|v| v.len()),
        Some(1)
    );
    t.e.ok(&["rm", "-f", "a2"]);
    assert_eq!(eventually(&t, "a3", "a2", gw, |r| r.is_none()), None);
    // Once the last container is gone, so is the responder: no process, nothing on :53.
    t.e.ok(&["rm", "-f", "a1", "a3"]);
    let until = Instant::now() + Duration::from_secs(40);
    while (live(again[0]) || !listening_on_53(&t).is_empty()) && Instant::now() < until {
        std::thread::sleep(Duration::from_millis(100));
    }
    assert!(!live(again[0]), "responder {} still there", again[0]);
    assert_eq!(listening_on_53(&t), "");
    assert!(responder_pids(&t).is_empty());
    // And system check finds nothing of the DNS left to remove.
    let o = t.e.ok(&["system", "check"]);
    assert!(!o.contains("DNS"), "{o}");
}
