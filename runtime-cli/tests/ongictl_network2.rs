//! ongictl networks, second slice, as a docker user meets it: --add-host (host-gateway),
//! --dns/--dns-search/--dns-option in resolv.conf, --ip on a user network (and docker's
//! errors), --network-alias and peers' names in /etc/hosts, --link, and -P publishing
//! every EXPOSEd port to a free host port.
//!
//! Same pattern as ongictl_network.rs: every test runs the engine in a network namespace
//! of its own, so the machine's interfaces and firewall never change and traffic goes only
//! to that namespace's loopback and the test's containers.

mod common;

use common::engine::fails_with;

use common::netns::{IMG, T};

fn exec_cat(t: &T, c: &str, file: &str) -> String {
    t.e.ok(&["exec", c, "cat", file])
}

#[test]
fn fixed_ip_extra_hosts_and_dns_settings() {
    let t = T::new("opts");
    t.e.ok(&["network", "create", "--subnet", "10.231.5.0/24", "app"]);
    t.web(
        &[
            "--name",
            "fixed",
            "--network",
            "app",
            "--ip",
            "10.231.5.50",
            "--add-host",
            "db.local:10.1.2.3",
            "--add-host",
            "gw=host-gateway",
            "--dns",
            "10.9.9.9",
            "--dns-search",
            "example.com",
            "--dns-option",
            "ndots:2",
        ],
        "fixed-web",
    );
    assert_eq!(t.ip_of("fixed"), "10.231.5.50");
    let hosts = exec_cat(&t, "fixed", "/etc/hosts");
    assert!(hosts.contains("10.1.2.3\tdb.local\n"), "{hosts}");
    assert!(hosts.contains("10.231.5.1\tgw\n"), "{hosts}");
    assert!(hosts.contains("10.231.5.50\t"), "{hosts}");
    let resolv = exec_cat(&t, "fixed", "/etc/resolv.conf");
    let ns: Vec<&str> = resolv
        .lines()
        .filter(|l| l.starts_with("nameserver"))
        .collect();
    // On a user network the gateway's DNS responder answers (docker's 127.0.0.11); --dns
    // is where it forwards other names (ongictl_dns.rs checks that).
    assert_eq!(ns, ["nameserver 10.231.5.1"], "{resolv}");
    assert!(
        resolv.lines().any(|l| l == "search example.com"),
        "{resolv}"
    );
    assert!(resolv.lines().any(|l| l == "options ndots:2"), "{resolv}");
    // The fixed address carries traffic.
    assert_eq!(
        t.fetch_from("app", "10.231.5.50", 80).as_deref(),
        Some("fixed-web")
    );
    // Without a network of ours the flags still shape the files.
    let o = t.e.ok(&[
        "run",
        "--rm",
        "--add-host",
        "x:10.0.0.7",
        "--dns",
        "10.8.8.8",
        IMG,
        "sh",
        "-c",
        "cat /etc/hosts /etc/resolv.conf",
    ]);
    assert!(o.contains("10.0.0.7\tx\n"), "{o}");
    assert!(o.contains("nameserver 10.8.8.8"), "{o}");

    // docker's errors for --ip.
    let before = t.e.ok(&["ps", "-aq"]).lines().count();
    fails_with(
        &t.e.ctl(&[
            "run",
            "-d",
            "--network",
            "app",
            "--ip",
            "10.231.5.50",
            IMG,
            "sleep",
            "60",
        ]),
        125,
        "Address already in use",
    );
    fails_with(
        &t.e.ctl(&[
            "run",
            "-d",
            "--network",
            "app",
            "--ip",
            "10.77.0.5",
            IMG,
            "sleep",
            "60",
        ]),
        125,
        "Invalid address 10.77.0.5: It does not belong to any of this network's subnets",
    );
    fails_with(
        &t.e.ctl(&[
            "run",
            "-d",
            "--network",
            "bridge",
            "--ip",
            "10.222.0.99",
            IMG,
            "sleep",
            "60",
        ]),
        125,
        "user specified IP address is supported on user defined networks only",
    );
    fails_with(
        &t.e.ctl(&["run", "-d", "--add-host", "nocolon", IMG, "true"]),
        125,
        "bad format for add-host",
    );
    fails_with(
        &t.e.ctl(&["run", "-d", "--dns", "not-an-ip", IMG, "true"]),
        125,
        "not-an-ip is not an ip address",
    );
    // Only the one container with the fixed address holds a veth; the failed ones have
    // no address and no devices.
    assert_eq!(t.links("ov").len(), 1, "{:?}", t.links("ov"));
    let running = t.e.ok(&["ps", "-q"]).lines().count();
    assert_eq!(running, 1);
    assert!(t.e.ok(&["ps", "-aq"]).lines().count() <= before + 3);
}

#[test]
fn aliases_peer_names_and_links_in_etc_hosts() {
    let t = T::new("names");
    t.e.ok(&["network", "create", "app"]);
    t.e.ok(&["network", "create", "other"]);
    t.web(
        &[
            "--name",
            "web",
            "--network",
            "app",
            "--network-alias",
            "www",
        ],
        "by-name",
    );
    let web_ip = t.ip_of("web");
    // A peer started later sees the earlier one by its name and alias, and reaches it.
    let o = t.e.ok(&[
        "run",
        "--rm",
        "--network",
        "app",
        IMG,
        "sh",
        "-c",
        "grep -w www /etc/hosts; printf 'GET / HTTP/1.0\\r\\n\\r\\n' | nc -w 3 www 80",
    ]);
    assert!(o.contains(&format!("{web_ip}\tweb www")), "{o}");
    assert!(o.contains("by-name"), "{o}");
    // A container on another network does not get the name.
    let o = t.e.ctl(&[
        "run",
        "--rm",
        "--network",
        "other",
        IMG,
        "grep",
        "-w",
        "web",
        "/etc/hosts",
    ]);
    assert_eq!(o.code(), Some(1), "{o}");

    // --link on the default bridge: docker's `IP alias id name` line.
    let id = t.web(&["--name", "db", "--network", "bridge"], "linked");
    let db_ip = t.ip_of("db");
    let o = t.e.ok(&[
        "run",
        "--rm",
        "--network",
        "bridge",
        "--link",
        "db:database",
        IMG,
        "sh",
        "-c",
        "cat /etc/hosts; printf 'GET / HTTP/1.0\\r\\n\\r\\n' | nc -w 3 database 80",
    ]);
    assert!(
        o.contains(&format!("{db_ip}\tdatabase {} db\n", &id[..12])),
        "{o}"
    );
    assert!(o.contains("linked"), "{o}");

    // Bad input.
    fails_with(
        &t.e.ctl(&[
            "run",
            "--rm",
            "--network",
            "bridge",
            "--link",
            "nosuch",
            IMG,
            "true",
        ]),
        125,
        "could not get container for nosuch",
    );
    t.e.ok(&["create", "--name", "idle", IMG, "true"]);
    fails_with(
        &t.e.ctl(&[
            "run",
            "--rm",
            "--network",
            "bridge",
            "--link",
            "idle:i",
            IMG,
            "true",
        ]),
        125,
        "Cannot link to a non running container: /idle AS",
    );
    fails_with(
        &t.e.ctl(&[
            "run",
            "--rm",
            "--network",
            "bridge",
            "--network-alias",
            "x",
            IMG,
            "true",
        ]),
        125,
        "network-scoped alias is supported only for containers in user defined networks",
    );
    assert_eq!(t.links("ov").len(), 2, "{:?}", t.links("ov"));
}

#[test]
fn publish_all_maps_every_exposed_port() {
    let t = T::new("pall");
    t.e.ok(&["create", "--name", "base", IMG, "true"]);
    t.e.ok(&[
        "commit",
        "-c",
        "EXPOSE 80",
        "-c",
        "EXPOSE 5353/udp",
        "base",
        "test/exposed:v1",
    ]);
    let script =
        "mkdir -p /www && echo published-all > /www/index.html && exec httpd -f -p 80 -h /www";
    t.e.ok(&[
        "run",
        "-d",
        "--name",
        "pa",
        "-P",
        "test/exposed:v1",
        "sh",
        "-c",
        script,
    ]);
    let ports = t.e.ok(&["port", "pa"]);
    let mut lines: Vec<&str> = ports.lines().collect();
    lines.sort();
    assert_eq!(lines.len(), 2, "{ports}");
    assert!(lines[0].starts_with("5353/udp -> 0.0.0.0:"), "{ports}");
    assert!(lines[1].starts_with("80/tcp -> 0.0.0.0:"), "{ports}");
    let host_port = t.e.ok(&["port", "pa", "80"]);
    let hp: u16 = host_port
        .rsplit(':')
        .next()
        .and_then(|p| p.parse().ok())
        .unwrap_or_else(|| panic!("host port in {host_port:?}"));
    assert!(hp > 1024, "{hp}");
    assert_eq!(t.curl(&format!("http://127.0.0.1:{hp}/")), "published-all");
    assert!(
        t.port_rules().contains(&hp.to_string()),
        "{}",
        t.port_rules()
    );
    // -P on an image without EXPOSE publishes nothing but still joins the bridge.
    t.e.ok(&["run", "-d", "--name", "noexp", "-P", IMG, "sleep", "60"]);
    assert_eq!(t.e.ok(&["port", "noexp"]), "");
    assert!(t.ip_of("noexp").starts_with("10.222."));
    t.e.ok(&["rm", "-f", "pa"]);
    assert!(
        !t.port_rules().contains(&hp.to_string()),
        "{}",
        t.port_rules()
    );
}

/// (network name, address) of every network in a container's inspect JSON.
fn networks_of(t: &T, c: &str) -> Vec<(String, String)> {
    let j =
        t.e.ok(&["inspect", "-f", "{{json .NetworkSettings.Networks}}", c]);
    let v: serde_json::Value = serde_json::from_str(&j).unwrap_or_else(|e| panic!("{e}: {j}"));
    let mut out: Vec<(String, String)> = v
        .as_object()
        .map(|m| {
            m.iter()
                .map(|(k, v)| (k.clone(), v["IPAddress"].as_str().unwrap_or("").to_string()))
                .collect()
        })
        .unwrap_or_default();
    out.sort();
    out
}

fn get_via_exec(t: &T, c: &str, host: &str) -> Option<String> {
    let script = format!("printf 'GET / HTTP/1.0\\r\\n\\r\\n' | nc -w 3 {host} 80");
    let o = t.e.ctl(&["exec", c, "sh", "-c", &script]);
    let body = o.stdout.split("\r\n\r\n").nth(1)?.trim().to_string();
    (!body.is_empty()).then_some(body)
}

#[test]
fn connect_and_disconnect_a_running_container() {
    let t = T::new("conn");
    t.e.ok(&["network", "create", "--subnet", "10.232.1.0/24", "front"]);
    t.e.ok(&["network", "create", "--subnet", "10.232.2.0/24", "back"]);
    t.web(&["--name", "srv", "--network", "back"], "backend");
    let srv_ip = t.ip_of("srv");
    let cl = t.e.ok(&[
        "run",
        "-d",
        "--name",
        "cl",
        "--network",
        "front",
        IMG,
        "sleep",
        "300",
    ]);
    let front_ip = t.ip_of("cl");
    // Different networks: no way through.
    assert_eq!(get_via_exec(&t, "cl", &srv_ip), None);

    t.e.ok(&[
        "network",
        "connect",
        "--ip",
        "10.232.2.77",
        "--alias",
        "client",
        "back",
        "cl",
    ]);
    assert_eq!(
        networks_of(&t, "cl"),
        [
            ("back".to_string(), "10.232.2.77".to_string()),
            ("front".to_string(), front_ip.clone())
        ]
    );
    let aliases = t.e.ok(&[
        "inspect",
        "-f",
        "{{json .NetworkSettings.Networks.back.Aliases}}",
        "cl",
    ]);
    assert_eq!(aliases, r#"["client"]"#);
    let addr =
        t.e.ok(&["exec", "cl", "ip", "-o", "-4", "addr", "show", "eth1"]);
    assert!(addr.contains("10.232.2.77/24"), "{addr}");
    // Now it reaches the server by address and by the name its /etc/hosts gained.
    assert_eq!(get_via_exec(&t, "cl", &srv_ip).as_deref(), Some("backend"));
    assert_eq!(get_via_exec(&t, "cl", "srv").as_deref(), Some("backend"));
    let members =
        t.e.ok(&["network", "inspect", "-f", "{{json .Containers}}", "back"]);
    assert!(
        members.contains(&cl) && members.contains("10.232.2.77/24"),
        "{members}"
    );
    fails_with(
        &t.e.ctl(&["network", "connect", "back", "cl"]),
        1,
        "endpoint with name cl already exists in network back",
    );
    assert_eq!(t.links("ox").len(), 1, "{:?}", t.links("ox"));

    t.e.ok(&["network", "disconnect", "back", "cl"]);
    assert_eq!(
        networks_of(&t, "cl"),
        [("front".to_string(), front_ip.clone())]
    );
    assert!(!t.e.ctl(&["exec", "cl", "ip", "link", "show", "eth1"]).ok());
    assert_eq!(get_via_exec(&t, "cl", &srv_ip), None);
    assert!(t.links("ox").is_empty(), "{:?}", t.links("ox"));
    fails_with(
        &t.e.ctl(&["network", "disconnect", "back", "cl"]),
        1,
        "is not connected to network back",
    );
    t.e.ok(&["network", "disconnect", "-f", "back", "cl"]);
    // Disconnecting the network it was started on, and connecting a stopped container,
    // are docker's behaviour now: ongictl_network3.rs.
    fails_with(
        &t.e.ctl(&["network", "connect", "nope", "cl"]),
        1,
        "network nope not found",
    );
    // The address given back is free again; a connected container's veth goes with it.
    t.e.ok(&["network", "connect", "--ip", "10.232.2.77", "back", "cl"]);
    fails_with(
        &t.e.ctl(&["network", "rm", "front"]),
        1,
        "has active endpoints",
    );
    t.e.ok(&["rm", "-f", "cl"]);
    assert!(t.links("ox").is_empty(), "{:?}", t.links("ox"));
    t.e.ok(&["rm", "-f", "srv"]);
    t.e.ok(&["network", "rm", "back"]);
}
