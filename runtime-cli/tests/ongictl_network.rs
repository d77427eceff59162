//! ongictl networks as a docker user meets them: containers on the default bridge and on
//! user-defined networks get addresses and reach each other, published ports answer on
//! loopback through the kernel's DNAT, other networks cannot reach in, --internal has no
//! way out, nothing stays behind after rm or a kill -9 of the monitor plus `system check`,
//! and bad input is refused with clear errors and no change.
//!
//! Every test runs the engine in a network namespace of its own (`ip netns add`, commands
//! through `nsenter --net`, so mounts stay the host's) with an image loaded from a
//! docker-archive: the machine's own interfaces and firewall are never touched, and
//! traffic goes only to that namespace's loopback and the test's containers.

mod common;

use std::process::Command;
use std::time::{Duration, Instant};

use common::engine::{fails_with, monitor_pid};

use common::netns::{IMG, T};

/// The namespace bind mounts under the engine's run root.
fn namespaces(dir: &std::path::Path) -> usize {
    std::fs::read_dir(dir)
        .map(|d| {
            d.flatten()
                .filter(|e| !e.file_name().to_string_lossy().starts_with('.'))
                .count()
        })
        .unwrap_or(0)
}

fn wait_until(what: &str, mut f: impl FnMut() -> bool) {
    let until = Instant::now() + Duration::from_secs(10);
    while !f() {
        assert!(Instant::now() < until, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(50));
    }
}

#[test]
fn bridge_addresses_published_ports_and_cleanup() {
    let t = T::new("bridge");
    // -p alone puts the container on the default bridge.
    let id = t.web(&["--name", "web", "-p", "8080:80"], "hello-web");
    let ip = t.ip_of("web");
    assert!(ip.starts_with("10.222."), "address {ip:?}");
    assert_eq!(
        t.e.ok(&[
            "inspect",
            "-f",
            "{{range .NetworkSettings.Networks}}{{.IPAddress}}{{end}}",
            "web"
        ]),
        ip
    );
    assert_eq!(
        t.e.ok(&["inspect", "-f", "{{.NetworkSettings.Gateway}}", "web"]),
        "10.222.0.1"
    );
    assert_eq!(
        t.e.ok(&["inspect", "-f", "{{json .NetworkSettings.Ports}}", "web"]),
        r#"{"80/tcp":[{"HostIp":"0.0.0.0","HostPort":"8080"}]}"#
    );
    assert_eq!(
        t.e.ok(&["inspect", "-f", "{{json .HostConfig.PortBindings}}", "web"]),
        r#"{"80/tcp":[{"HostIp":"","HostPort":"8080"}]}"#
    );
    assert_eq!(t.e.ok(&["port", "web"]), "80/tcp -> 0.0.0.0:8080");
    assert_eq!(
        t.e.ok(&["ps", "--format", "{{.Ports}}"]),
        "0.0.0.0:8080->80/tcp"
    );
    assert_eq!(t.e.ok(&["port", "web", "80"]), "0.0.0.0:8080");
    fails_with(
        &t.e.ctl(&["port", "web", "81"]),
        1,
        "No public port '81/tcp'",
    );
    // Its own name and address in /etc/hosts, a default route via the gateway.
    let hosts = t.e.ok(&["exec", "web", "cat", "/etc/hosts"]);
    assert!(
        hosts.contains(&format!("{ip}\t{}", &id[..12])) && hosts.contains("web"),
        "{hosts}"
    );
    let route = t.e.ok(&["exec", "web", "ip", "route"]);
    assert!(route.contains("default via 10.222.0.1"), "{route}");
    // The published port answers on the namespace's loopback, in the kernel's data path.
    assert_eq!(t.curl("http://127.0.0.1:8080/"), "hello-web");
    // Another container on the bridge reaches it by address.
    assert_eq!(
        t.fetch_from("bridge", &ip, 80).as_deref(),
        Some("hello-web")
    );
    // network inspect lists it.
    let v: serde_json::Value =
        serde_json::from_str(&t.e.ok(&["network", "inspect", "bridge"])).unwrap_or_default();
    assert_eq!(v[0]["Containers"][&id]["IPv4Address"], format!("{ip}/16"));
    assert_eq!(v[0]["IPAM"]["Config"][0]["Subnet"], "10.222.0.0/16");
    assert_eq!(t.links("ov").len(), 1, "{:?}", t.links("ov"));
    assert!(t.port_rules().contains("8080"), "{}", t.port_rules());

    // stop: the namespace, veth and rule go; the address is free again.
    t.e.ok(&["stop", "-t", "1", "web"]);
    wait_until("the veth to go", || t.links("ov").is_empty());
    assert!(!t.port_rules().contains("8080"), "{}", t.port_rules());
    assert_eq!(t.ip_of("web"), "");
    // Started again: same network, the published port answers again.
    t.e.ok(&["start", "web"]);
    assert_eq!(t.curl("http://127.0.0.1:8080/"), "hello-web");
    t.e.ok(&["rm", "-f", "web"]);
    wait_until("the veth to go", || t.links("ov").is_empty());
    assert!(!t.port_rules().contains("8080"), "{}", t.port_rules());
    assert!(
        t.host(&["curl", "-s", "-m", "2", "http://127.0.0.1:8080/"])
            .code()
            != Some(0)
    );
    // Every address is free: the next container gets the first one.
    t.web(&["--name", "again", "--network", "bridge"], "x");
    assert_eq!(t.ip_of("again"), "10.222.0.2");
    let nsdir = t.e.run_root.join("netns");
    assert_eq!(namespaces(&nsdir), 1);
    t.e.ok(&["rm", "-f", "again"]);
    assert_eq!(namespaces(&nsdir), 0);
}

#[test]
fn user_networks_isolation_and_internal() {
    let t = T::new("isol");
    t.e.ok(&[
        "network",
        "create",
        "--subnet",
        "10.231.7.0/24",
        "--label",
        "app=a",
        "neta",
    ]);
    let b = t.e.ok(&["network", "create", "netb"]);
    assert_eq!(b.len(), 64, "network create prints the id: {b}");
    t.e.ok(&["network", "create", "--internal", "neti"]);
    let ls = t.e.ok(&["network", "ls"]);
    let head = ls.lines().next().unwrap_or_default();
    for col in ["NETWORK ID", "NAME", "DRIVER", "SCOPE"] {
        assert!(head.contains(col), "{ls}");
    }
    for n in ["bridge", "host", "none", "neta", "netb", "neti"] {
        assert!(
            ls.lines().any(|l| l.split_whitespace().nth(1) == Some(n)),
            "{n} in {ls}"
        );
    }
    assert_eq!(
        t.e.ok(&["network", "ls", "-q", "--filter", "label=app=a"])
            .len(),
        12
    );
    assert_eq!(
        t.e.ok(&[
            "network",
            "inspect",
            "-f",
            "{{.Internal}} {{(index .IPAM.Config 0).Gateway}}",
            "neti"
        ]),
        "true 10.223.1.1"
    );

    t.web(&["--name", "a1", "--network", "neta"], "hello-a");
    let a1 = t.ip_of("a1");
    assert!(a1.starts_with("10.231.7."), "{a1}");
    // Same network: reachable.
    assert_eq!(t.fetch_from("neta", &a1, 80).as_deref(), Some("hello-a"));
    // Another network: not.
    assert_eq!(t.fetch_from("netb", &a1, 80), None);
    // The default bridge: not either.
    assert_eq!(t.fetch_from("bridge", &a1, 80), None);

    // Internal: reachable inside, no way out (not even to a port published on the
    // namespace's address that a normal network reaches).
    t.web(&["--name", "i1", "--network", "neti"], "hello-i");
    let i1 = t.ip_of("i1");
    assert_eq!(t.fetch_from("neti", &i1, 80).as_deref(), Some("hello-i"));
    t.web(&["--name", "pub", "-p", "8181:80"], "hello-pub");
    let gw_b = t.e.ok(&[
        "network",
        "inspect",
        "-f",
        "{{(index .IPAM.Config 0).Gateway}}",
        "netb",
    ]);
    assert_eq!(t.curl("http://127.0.0.1:8181/"), "hello-pub");
    assert_eq!(
        t.fetch_from("netb", &gw_b, 8181).as_deref(),
        Some("hello-pub")
    );
    assert_eq!(t.fetch_from("neti", &gw_b, 8181), None);
    let route = t.e.ok(&["exec", "i1", "ip", "route"]);
    assert!(
        !route.contains("default"),
        "internal network has a default route: {route}"
    );

    // A network in use cannot go; docker's predefined ones never.
    fails_with(
        &t.e.ctl(&["network", "rm", "neta"]),
        1,
        "has active endpoints",
    );
    fails_with(
        &t.e.ctl(&["network", "rm", "bridge"]),
        1,
        "pre-defined network",
    );
    t.e.ok(&["rm", "-f", "a1", "i1", "pub"]);
    // prune takes the unused user networks and leaves docker's.
    let pruned = t.e.ok(&["network", "prune", "-f"]);
    assert!(pruned.starts_with("Deleted Networks:"), "{pruned}");
    for n in ["neta", "netb", "neti"] {
        assert!(pruned.lines().any(|l| l == n), "{pruned}");
    }
    assert_eq!(t.e.ok(&["network", "ls", "-q"]).lines().count(), 3);
    // Their bridges went with them.
    assert!(t.links("ongi-").is_empty(), "{:?}", t.links("ongi-"));
}

#[test]
fn kill9_of_the_monitor_then_system_check_leaves_nothing() {
    let t = T::new("kill9");
    let id = t.web(&["--name", "k", "-p", "8282:80"], "k");
    assert_eq!(t.curl("http://127.0.0.1:8282/"), "k");
    let pid: i32 =
        t.e.ok(&["inspect", "-f", "{{.State.Pid}}", "k"])
            .parse()
            .unwrap_or(0);
    let mon = monitor_pid(&id).expect("monitor pid");
    for p in [mon, pid] {
        let _ = Command::new("kill").args(["-9", &p.to_string()]).status();
    }
    wait_until("the container to die", || {
        !std::path::Path::new(&format!("/proc/{pid}")).exists()
    });
    // Exit 1 says it repaired something.
    let fixed = t.e.ctl(&["system", "check"]).stdout;
    assert!(
        fixed.contains("published port") || fixed.contains("network"),
        "{fixed}"
    );
    wait_until("the veth to go", || t.links("ov").is_empty());
    assert!(!t.port_rules().contains("8282"), "{}", t.port_rules());
    let nsdir = t.e.run_root.join("netns");
    assert_eq!(namespaces(&nsdir), 0);
    // The address went back to the pool.
    t.web(&["--name", "next", "--network", "bridge"], "n");
    assert_eq!(t.ip_of("next"), "10.222.0.2");
    // And the port too: another container publishes it.
    t.web(&["--name", "k2", "-p", "8282:80"], "k2");
    assert_eq!(t.curl("http://127.0.0.1:8282/"), "k2");
}

#[test]
fn bad_input_is_refused_and_changes_nothing() {
    let t = T::new("bad");
    let before = t.e.ok(&["ps", "-aq"]);
    fails_with(
        &t.e.ctl(&["run", "-d", "--network", "nope", IMG, "true"]),
        125,
        "network nope not found",
    );
    fails_with(
        &t.e.ctl(&["run", "-d", "-p", "80/sctp", IMG, "true"]),
        125,
        "invalid proto: sctp",
    );
    fails_with(
        &t.e.ctl(&["run", "-d", "--network", "none", "-p", "80:80", IMG, "true"]),
        125,
        "conflicting options",
    );
    assert_eq!(t.e.ok(&["ps", "-aq"]), before);

    t.e.ok(&["network", "create", "--subnet", "10.240.0.0/16", "big"]);
    fails_with(
        &t.e.ctl(&["network", "create", "--subnet", "10.240.5.0/24", "small"]),
        1,
        "Pool overlaps with other one on this address space",
    );
    fails_with(
        &t.e.ctl(&["network", "create", "--subnet", "10.222.0.0/24", "onbridge"]),
        1,
        "Pool overlaps",
    );
    fails_with(
        &t.e.ctl(&["network", "create", "big"]),
        1,
        "network with name big already exists",
    );
    fails_with(
        &t.e.ctl(&[
            "network",
            "create",
            "--subnet",
            "10.241.0.0/24",
            "--gateway",
            "10.9.9.9",
            "gw",
        ]),
        1,
        "no matching subnet for gateway 10.9.9.9",
    );
    fails_with(
        &t.e.ctl(&["network", "inspect", "small"]),
        1,
        "network small not found",
    );
    assert_eq!(t.e.ok(&["network", "ls", "-q"]).lines().count(), 4);

    // A port another container publishes.
    t.web(&["--name", "w1", "-p", "8383:80"], "w1");
    let o = t.e.ctl(&[
        "run", "-d", "--name", "w2", "-p", "8383:80", IMG, "sleep", "60",
    ]);
    fails_with(
        &o,
        125,
        "Bind for 0.0.0.0:8383 failed: port is already allocated",
    );
    assert_eq!(t.links("ov").len(), 1, "{:?}", t.links("ov"));
    assert_eq!(t.curl("http://127.0.0.1:8383/"), "w1");
    // A port a process of the namespace listens on.
    let mut c = Command::new("nsenter");
    c.arg(format!("--net={}", t.ns.path.display()))
        .args(["busybox", "nc", "-l", "-p", "8484"]);
    let mut listener = c.spawn().expect("busybox nc");
    wait_until("nc to listen", || {
        t.host(&["ss", "-ltn"]).stdout.contains(":8484")
    });
    let o = t.e.ctl(&[
        "run", "-d", "--name", "w3", "-p", "8484:80", IMG, "sleep", "60",
    ]);
    let _ = listener.kill();
    let _ = listener.wait();
    fails_with(&o, 125, "address already in use");
    assert_eq!(t.links("ov").len(), 1, "{:?}", t.links("ov"));
    assert!(!t.port_rules().contains("8484"), "{}", t.port_rules());
}

#[test]
fn concurrent_runs_get_distinct_addresses() {
    let t = T::new("conc");
    t.e.ok(&["network", "create", "--subnet", "10.232.0.0/24", "par"]);
    let names: Vec<String> = (0..4).map(|i| format!("c{i}")).collect();
    std::thread::scope(|s| {
        for n in &names {
            let e = &t.e;
            s.spawn(move || {
                e.ok(&[
                    "run",
                    "-d",
                    "--name",
                    n,
                    "--network",
                    "par",
                    IMG,
                    "sleep",
                    "60",
                ])
            });
        }
    });
    let mut ips: Vec<String> = names.iter().map(|n| t.ip_of(n)).collect();
    ips.sort();
    ips.dedup();
    assert_eq!(ips.len(), 4, "{ips:?}");
    assert!(ips.iter().all(|i| i.starts_with("10.232.0.")), "{ips:?}");
}
