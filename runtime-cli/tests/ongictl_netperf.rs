//! UDP through a published port (issue 16), as a user checks it: a datagram sent from the
//! host side to `-p HOST:CTR/udp` reaches the server in the container and its reply comes
//! back, on loopback and on the host's own non-loopback address (where the client's
//! source address is kept); `port` lists the mapping; after `stop` no udp element is left in
//! our nftables maps.
//!
//! The container's busybox has no UDP server (no `nc -u`, no udpsvd), so the server is this
//! test binary itself (built fully static, .cargo/config.toml), bind-mounted read-only into
//! the container and run as `udp_echo_server` with `ONGI_UDP_ECHO_PORT` set; the host-side
//! client is a std UdpSocket opened by a thread that entered the test's network namespace.
//!
//! Same pattern as ongictl_network*.rs: the engine runs in a namespace of the test's own.

mod common;

use std::net::{SocketAddr, UdpSocket};
use std::os::fd::AsFd;
use std::time::{Duration, Instant};

use common::netns::{IMG, T};

const ECHO_ENV: &str = "ONGI_UDP_ECHO_PORT";

/// The UDP echo server the container runs: a no-op in a normal test run. Replies
/// `echo <datagram> from <peer address>` to every datagram.
#[test]
fn udp_echo_server() {
    let Some(port) = std::env::var(ECHO_ENV).ok() else {
        return;
    };
    let s = UdpSocket::bind(format!("0.0.0.0:{port}")).expect("bind the echo port");
    let mut buf = [0u8; 2048];
    loop {
        let Ok((n, peer)) = s.recv_from(&mut buf) else {
            continue;
        };
        let reply = format!(
            "echo {} from {}",
            String::from_utf8_lossy(&buf[..n]),
            peer.ip()
        );
        let _ = s.send_to(reply.as_bytes(), peer);
    }
}

/// Sends `msg` to `to` from a socket in the test's namespace until a reply comes (the
/// server may still be starting); the reply, or None after `limit`.
fn udp_ask(t: &T, to: SocketAddr, msg: &str, limit: Duration) -> Option<String> {
    let ns = std::fs::File::open(&t.ns.path).expect("open the test's netns");
    let msg = msg.to_string();
    // A socket belongs to the network namespace of the thread that opens it: a thread of
    // our own enters the test's namespace, so the rest of the test process stays outside.
    std::thread::spawn(move || {
        nix::sched::setns(ns.as_fd(), nix::sched::CloneFlags::CLONE_NEWNET)
            .expect("enter the test's netns");
        let s = UdpSocket::bind("0.0.0.0:0").expect("bind a client socket");
        s.set_read_timeout(Some(Duration::from_millis(300)))
            .expect("read timeout");
        let until = Instant::now() + limit;
        let mut buf = [0u8; 2048];
        while Instant::now() < until {
            s.send_to(msg.as_bytes(), to).expect("send");
            if let Ok((n, _)) = s.recv_from(&mut buf) {
                return Some(String::from_utf8_lossy(&buf[..n]).into_owned());
            }
        }
        None
    })
    .join()
    .expect("udp client thread")
}

#[test]
fn udp_published_port_round_trip_and_cleanup() {
    let t = T::new("udp");
    // The host's own non-loopback address, as a machine's eth0 (a veth pair: not every
    // kernel has the dummy device). A kernel without veths (scripts/vm-cgroup2.sh's guest
    // loads no network modules, which is why it leaves out ongictl_network*) cannot run
    // any of this: said loudly, not failed.
    let o = t.host(&[
        "ip", "link", "add", "nb0", "type", "veth", "peer", "name", "nb1",
    ]);
    if !o.ok() && o.stderr.contains("Unknown device type") {
        eprintln!("SKIPPED: this kernel cannot make a veth pair: {o}");
        return;
    }
    assert!(o.ok(), "{o}");
    for args in [
        &["ip", "addr", "add", "192.0.2.1/24", "dev", "nb0"][..],
        &["ip", "link", "set", "nb0", "up"],
        &["ip", "link", "set", "nb1", "up"],
    ] {
        let o = t.host(args);
        assert!(o.ok(), "{o}");
    }
    let exe = std::env::current_exe().expect("the test binary");
    let mount = format!("{}:/udpecho:ro", exe.display());
    t.e.ok(&[
        "run",
        "-d",
        "--name",
        "dns",
        "-p",
        "5300:53/udp",
        "-v",
        &mount,
        "-e",
        &format!("{ECHO_ENV}=53"),
        IMG,
        "/udpecho",
        "udp_echo_server",
        "--exact",
        "--nocapture",
        "--test-threads=1",
    ]);
    assert_eq!(
        t.e.ok(&["port", "dns"]),
        "53/udp -> 0.0.0.0:5300",
        "port lists the udp mapping"
    );
    let limit = Duration::from_secs(60);
    let lo = udp_ask(&t, "127.0.0.1:5300".parse().unwrap(), "ping-lo", limit);
    let lo = lo.expect("no reply through 127.0.0.1:5300/udp");
    assert!(lo.starts_with("echo ping-lo from "), "{lo}");
    let ext = udp_ask(&t, "192.0.2.1:5300".parse().unwrap(), "ping-ext", limit);
    // Through a non-loopback address the client's own address reaches the container.
    assert_eq!(
        ext.as_deref(),
        Some("echo ping-ext from 192.0.2.1"),
        "reply through 192.0.2.1:5300/udp"
    );
    // The same server at its own address (the direct path), for comparison.
    let ip = t.ip_of("dns");
    let direct = udp_ask(
        &t,
        format!("{ip}:53").parse().unwrap(),
        "ping-direct",
        limit,
    );
    assert_eq!(direct.as_deref(), Some("echo ping-direct from 10.222.0.1"));
    assert!(t.port_rules().contains("udp . 5300"), "{}", t.port_rules());

    t.e.ok(&["stop", "-t", "1", "dns"]);
    let rules = t.port_rules();
    assert!(
        !rules.contains("udp"),
        "udp element left after stop: {rules}"
    );
    // The veth goes with the namespace, which the kernel frees a moment after the stop.
    assert!(
        common::wait::wait_until(Duration::from_secs(30), || t.links("ov").is_empty()),
        "veth left: {:?}",
        t.links("ov")
    );
    // Nothing answers on the port any more.
    let after = udp_ask(
        &t,
        "192.0.2.1:5300".parse().unwrap(),
        "late",
        Duration::from_secs(2),
    );
    assert_eq!(after, None);
}
