//! ongictl networks, third slice: docker's default `bridge` network (and dockerd's
//! `"bridge": "none"` turning it off), `--network container:NAME`, `network connect` of a
//! stopped container and `network disconnect` of the network a container was started on,
//! and `build --network NAME`.
//!
//! Same pattern as ongictl_network.rs: every test runs the engine in a network namespace
//! of its own, so the machine's interfaces and firewall never change and traffic goes only
//! to that namespace's loopback and the test's containers.

mod common;

use common::build::{context, s};
use common::engine::fails_with;
use common::netns::{IMG, T};

fn mode(t: &T, c: &str) -> String {
    t.e.ok(&["inspect", "-f", "{{.HostConfig.NetworkMode}}", c])
}

/// An HTTP GET from inside container `c` (busybox nc): the body, or None.
fn get_via_exec(t: &T, c: &str, host: &str) -> Option<String> {
    let script = format!("printf 'GET / HTTP/1.0\\r\\n\\r\\n' | nc -w 3 {host} 80");
    let o = t.e.ctl(&["exec", c, "sh", "-c", &script]);
    let body = o.stdout.split("\r\n\r\n").nth(1)?.trim().to_string();
    (o.ok() && !body.is_empty()).then_some(body)
}

/// The network names in the container's inspect, sorted.
fn networks(t: &T, c: &str) -> Vec<String> {
    let out = t.e.ok(&[
        "inspect",
        "-f",
        "{{range $k, $v := .NetworkSettings.Networks}}{{$k}} {{end}}",
        c,
    ]);
    let mut v: Vec<String> = out.split_whitespace().map(String::from).collect();
    v.sort();
    v
}

#[test]
fn the_default_network_is_bridge_unless_the_settings_turn_it_off() {
    let t = T::new("dflt");
    // No --network, no -p: docker's default bridge, reachable by its address.
    t.web(&["--name", "web"], "on-the-default-bridge");
    assert_eq!(mode(&t, "web"), "bridge");
    let ip = t.ip_of("web");
    assert!(ip.starts_with("10.222."), "{ip}");
    assert_eq!(t.curl(&format!("http://{ip}/")), "on-the-default-bridge");
    let nets = t.e.ok(&[
        "inspect",
        "-f",
        "{{range $k, $v := .NetworkSettings.Networks}}{{$k}}={{$v.IPAddress}}{{end}}",
        "web",
    ]);
    assert_eq!(nets, format!("bridge={ip}"));

    // dockerd's "bridge": "none": new containers get loopback only.
    t.e.set_config("bridge", Some(serde_json::json!("none")));
    t.e.ok(&["run", "-d", "--name", "lone", IMG, "sleep", "300"]);
    assert_eq!(mode(&t, "lone"), "none");
    assert_eq!(t.ip_of("lone"), "");
    let links = t.e.ok(&["exec", "lone", "ip", "-o", "link", "show"]);
    assert_eq!(links.lines().count(), 1, "{links}");
    assert!(links.contains(": lo:"), "{links}");
    // -p does not bring the bridge back: refused, nothing made.
    let before = t.e.ok(&["ps", "-aq"]);
    fails_with(
        &t.e.ctl(&["run", "-d", "-p", "8080:80", IMG, "true"]),
        125,
        "conflicting options: port publishing",
    );
    assert_eq!(t.e.ok(&["ps", "-aq"]), before);
    // The one already running keeps its network; asking for one still works.
    assert_eq!(t.curl(&format!("http://{ip}/")), "on-the-default-bridge");
    t.e.ok(&[
        "run",
        "-d",
        "--name",
        "asked",
        "--network",
        "bridge",
        IMG,
        "sleep",
        "300",
    ]);
    assert!(t.ip_of("asked").starts_with("10.222."));
    // A settings file that is not JSON names itself.
    std::fs::write(t.e.root.join("engine.json"), "{oops").expect("write");
    let o = t.e.ctl(&["run", "-d", IMG, "true"]);
    assert!(!o.ok(), "{o}");
    assert!(o.stderr.contains("engine.json"), "{o}");
}

#[test]
fn a_container_joins_another_ones_network() {
    let t = T::new("cmode");
    t.e.ok(&["network", "create", "--subnet", "10.240.1.0/24", "app"]);
    let a = t.web(&["--name", "a", "--network", "app"], "served-by-a");
    let a_ip = t.ip_of("a");
    t.e.ok(&[
        "run",
        "-d",
        "--name",
        "b",
        "--network",
        "container:a",
        IMG,
        "sleep",
        "300",
    ]);
    // docker's NetworkMode names the joined container by its id.
    assert_eq!(mode(&t, "b"), format!("container:{a}"));
    // One namespace: b sees a's eth0 and reaches a's server on its own loopback.
    let addr =
        t.e.ok(&["exec", "b", "ip", "-o", "-4", "addr", "show", "eth0"]);
    assert!(addr.contains(&format!("{a_ip}/24")), "{addr}");
    assert_eq!(
        get_via_exec(&t, "b", "127.0.0.1").as_deref(),
        Some("served-by-a")
    );
    // docker shares the hostname and the hosts and resolv.conf files.
    assert_eq!(
        t.e.ok(&["exec", "b", "hostname"]),
        t.e.ok(&["exec", "a", "hostname"])
    );
    for f in ["/etc/hosts", "/etc/resolv.conf"] {
        assert_eq!(
            t.e.ok(&["exec", "b", "cat", f]),
            t.e.ok(&["exec", "a", "cat", f]),
            "{f}"
        );
    }
    assert_eq!(t.ip_of("b"), "");
    // The id works as the name does.
    t.e.ok(&[
        "run",
        "--rm",
        "--network",
        &format!("container:{}", &a[..12]),
        IMG,
        "true",
    ]);

    // docker's refusals, and nothing made.
    let before = t.e.ok(&["ps", "-aq"]);
    for (flags, err) in [
        (
            vec!["-p", "8080:80"],
            "conflicting options: port publishing and the container type network mode",
        ),
        (
            vec!["-h", "other"],
            "conflicting options: hostname and the network mode",
        ),
        (
            vec!["--add-host", "x:10.1.1.1"],
            "conflicting options: custom host-to-IP mapping and the network mode",
        ),
        (
            vec!["--dns", "10.9.9.9"],
            "conflicting options: dns and the network mode",
        ),
        (
            vec!["--ip", "10.240.1.9"],
            "user specified IP address is supported on user defined networks only",
        ),
        (
            vec!["--network-alias", "x"],
            "network-scoped alias is supported only for containers in user defined networks",
        ),
    ] {
        let mut args = vec!["run", "-d", "--network", "container:a"];
        args.extend(flags);
        args.extend([IMG, "true"]);
        fails_with(&t.e.ctl(&args), 125, err);
    }
    fails_with(
        &t.e.ctl(&["run", "-d", "--network", "container:nope", IMG, "true"]),
        125,
        "No such container: nope",
    );
    fails_with(
        &t.e.ctl(&["run", "-d", "--network", "container:", IMG, "true"]),
        125,
        "invalid container format container:<name|id>",
    );
    assert_eq!(t.e.ok(&["ps", "-aq"]), before);
    fails_with(
        &t.e.ctl(&["network", "connect", "app", "b"]),
        1,
        "container sharing network namespace with another container or host cannot be connected to any other network",
    );

    // As docker: when a stops, b keeps running with loopback only; b cannot start while
    // a is stopped.
    t.e.ok(&["stop", "-t", "1", "a"]);
    assert_eq!(
        t.e.ok(&["inspect", "-f", "{{.State.Running}}", "b"]),
        "true"
    );
    let links = t.e.ok(&["exec", "b", "ip", "-o", "link", "show"]);
    assert!(!links.contains("eth0"), "{links}");
    t.e.ok(&["stop", "-t", "1", "b"]);
    fails_with(
        &t.e.ctl(&["start", "b"]),
        1,
        "cannot join network of a non running container",
    );
    t.e.ok(&["start", "a"]);
    t.e.ok(&["start", "b"]);
    let a_ip = t.ip_of("a");
    let addr =
        t.e.ok(&["exec", "b", "ip", "-o", "-4", "addr", "show", "eth0"]);
    assert!(addr.contains(&format!("{a_ip}/24")), "{addr}");
}

#[test]
fn connect_a_stopped_container_and_disconnect_its_first_network() {
    let t = T::new("stopc");
    t.e.ok(&["network", "create", "--subnet", "10.240.2.0/24", "front"]);
    t.e.ok(&["network", "create", "--subnet", "10.240.3.0/24", "back"]);
    t.web(&["--name", "srv", "--network", "back"], "backend");
    t.e.ok(&[
        "create",
        "--name",
        "cl",
        "--network",
        "front",
        IMG,
        "sleep",
        "300",
    ]);
    // Recorded now, joined at the next start (docker's behaviour).
    t.e.ok(&[
        "network",
        "connect",
        "--ip",
        "10.240.3.77",
        "--alias",
        "client",
        "back",
        "cl",
    ]);
    fails_with(
        &t.e.ctl(&["network", "connect", "back", "cl"]),
        1,
        "endpoint with name cl already exists in network back",
    );
    fails_with(
        &t.e.ctl(&["network", "connect", "front", "cl"]),
        1,
        "endpoint with name cl already exists in network front",
    );
    t.e.ok(&["rm", "-f", "srv"]);
    // The stopped container's recorded connection keeps the network in use.
    fails_with(
        &t.e.ctl(&["network", "rm", "back"]),
        1,
        "has active endpoints",
    );
    t.web(&["--name", "srv", "--network", "back"], "backend");
    t.e.ok(&["start", "cl"]);
    assert_eq!(networks(&t, "cl"), ["back", "front"]);
    let eth1 =
        t.e.ok(&["exec", "cl", "ip", "-o", "-4", "addr", "show", "eth1"]);
    assert!(eth1.contains("10.240.3.77/24"), "{eth1}");
    assert_eq!(get_via_exec(&t, "cl", "srv").as_deref(), Some("backend"));
    let route = t.e.ok(&["exec", "cl", "ip", "route"]);
    assert!(route.contains("default via 10.240.2.1"), "{route}");

    // The network it was started on goes, with eth0 and the default route.
    t.e.ok(&["network", "disconnect", "front", "cl"]);
    assert_eq!(networks(&t, "cl"), ["back"]);
    assert!(!t.e.ctl(&["exec", "cl", "ip", "link", "show", "eth0"]).ok());
    let route = t.e.ok(&["exec", "cl", "ip", "route"]);
    assert!(!route.contains("default"), "{route}");
    assert_eq!(t.ip_of("cl"), "");
    assert!(t.links("ov").len() == 1, "{:?}", t.links("ov")); // srv's only
    assert_eq!(get_via_exec(&t, "cl", "srv").as_deref(), Some("backend"));
    fails_with(
        &t.e.ctl(&["network", "disconnect", "front", "cl"]),
        1,
        "is not connected to network front",
    );
    // Back again while it runs, as a further network.
    t.e.ok(&["network", "connect", "front", "cl"]);
    assert_eq!(networks(&t, "cl"), ["back", "front"]);
    t.e.ok(&["network", "disconnect", "front", "cl"]);

    // A restart keeps what connect and disconnect did: back only, now as eth0 with the
    // default route.
    t.e.ok(&["stop", "-t", "1", "cl"]);
    t.e.ok(&["start", "cl"]);
    assert_eq!(networks(&t, "cl"), ["back"]);
    let route = t.e.ok(&["exec", "cl", "ip", "route"]);
    assert!(route.contains("default via 10.240.3.1"), "{route}");
    assert_eq!(get_via_exec(&t, "cl", "srv").as_deref(), Some("backend"));

    // Disconnecting a stopped container is recorded too.
    t.e.ok(&["stop", "-t", "1", "cl"]);
    t.e.ok(&["network", "disconnect", "back", "cl"]);
    t.e.ok(&["start", "cl"]);
    assert_eq!(networks(&t, "cl"), Vec::<String>::new());
    let links = t.e.ok(&["exec", "cl", "ip", "-o", "link", "show"]);
    assert_eq!(links.lines().count(), 1, "{links}");

    fails_with(
        &t.e.ctl(&["network", "connect", "nope", "cl"]),
        1,
        "network nope not found",
    );
    t.e.ok(&["create", "--name", "off", "--network", "none", IMG, "true"]);
    fails_with(
        &t.e.ctl(&["network", "connect", "back", "off"]),
        1,
        "one of the networks in private (none) mode",
    );
    // cl left front: it no longer holds it (back it still does, by its record).
    t.e.ok(&["network", "rm", "front"]);
    t.e.ok(&["stop", "-t", "1", "cl"]);
    t.e.ok(&["network", "connect", "back", "cl"]);
    fails_with(
        &t.e.ctl(&["network", "rm", "back"]),
        1,
        "has active endpoints",
    );
    t.e.ok(&["rm", "-f", "cl", "srv", "off"]);
    assert!(
        t.links("o").iter().all(|l| l.starts_with("ongi")),
        "{:?}",
        t.links("o")
    );
    t.e.ok(&["network", "rm", "back"]);
}

#[test]
fn build_run_steps_use_the_network_asked_for() {
    let t = T::new("bnet");
    t.e.ok(&["network", "create", "--subnet", "10.240.4.0/24", "bn"]);
    t.web(&["--name", "srv", "--network", "bn"], "from-srv");
    let ctx = context(
        &t.e.dir,
        "ctx",
        &[(
            "Dockerfile",
            &format!(
                "FROM {IMG}\nRUN printf 'GET / HTTP/1.0\\r\\n\\r\\n' | nc -w 3 srv 80 > /got; ip -o -4 addr show eth0 > /addr\n"
            ),
        )],
    );
    t.e.ok(&["build", "--network", "bn", "-t", "got:1", s(&ctx)]);
    let got =
        t.e.ok(&["run", "--rm", "--network", "none", "got:1", "cat", "/got"]);
    assert!(got.ends_with("from-srv"), "{got}");
    let addr =
        t.e.ok(&["run", "--rm", "--network", "none", "got:1", "cat", "/addr"]);
    assert!(addr.contains("10.240.4."), "{addr}");
    // Detached after the step: only srv's veth, only srv's address.
    assert_eq!(t.links("ov").len(), 1, "{:?}", t.links("ov"));
    let members =
        t.e.ok(&["network", "inspect", "-f", "{{json .Containers}}", "bn"]);
    assert_eq!(members.matches("IPv4Address").count(), 1, "{members}");
    // Without --network, RUN has loopback only: the same fetch finds nothing.
    let ctx2 = context(
        &t.e.dir,
        "ctx2",
        &[(
            "Dockerfile",
            &format!("FROM {IMG}\nRUN ip -o link show > /links\n"),
        )],
    );
    t.e.ok(&["build", "-t", "plain:1", s(&ctx2)]);
    let links = t.e.ok(&[
        "run",
        "--rm",
        "--network",
        "none",
        "plain:1",
        "cat",
        "/links",
    ]);
    assert_eq!(links.lines().count(), 1, "{links}");
    fails_with(
        &t.e.ctl(&["build", "--network", "nope", s(&ctx2)]),
        1,
        "network nope not found",
    );

    // A container started on the network while a step runs does not get the step's
    // address (the step is no container, but its address is held).
    let ctx3 = context(
        &t.e.dir,
        "ctx3",
        &[(
            "Dockerfile",
            &format!("FROM {IMG}\nRUN ip -o -4 addr show eth0 > /addr; touch /ready; sleep 6\n"),
        )],
    );
    let nsdir = t.e.run_root.join("netns");
    let srv_id = t.e.ok(&["inspect", "-f", "{{.Id}}", "srv"]);
    let during = std::thread::scope(|sc| {
        let b = sc.spawn(|| {
            t.e.ctl(&["build", "--network", "bn", "-t", "slow:1", s(&ctx3)])
        });
        // The step's namespace appears under the run root while it runs.
        let until = std::time::Instant::now() + std::time::Duration::from_secs(60);
        while std::time::Instant::now() < until
            && !std::fs::read_dir(&nsdir).is_ok_and(|d| {
                d.flatten().any(|e| {
                    let n = e.file_name().to_string_lossy().into_owned();
                    !n.starts_with('.') && n != srv_id
                })
            })
        {
            std::thread::sleep(std::time::Duration::from_millis(50));
        }
        t.e.ok(&[
            "run",
            "-d",
            "--name",
            "late",
            "--network",
            "bn",
            IMG,
            "sleep",
            "60",
        ]);
        let late = t.ip_of("late");
        let o = b.join().expect("build thread");
        assert!(o.ok(), "{o}");
        late
    });
    let step =
        t.e.ok(&["run", "--rm", "--network", "none", "slow:1", "cat", "/addr"]);
    assert!(step.contains("10.240.4."), "{step}");
    assert!(
        !step.contains(&format!("{during}/")),
        "step {step}, late {during}"
    );
    t.e.ok(&["rm", "-f", "srv", "late"]);
    t.e.ok(&["network", "rm", "bn"]);
}
