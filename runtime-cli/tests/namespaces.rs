//! Namespaces: creation, hostname, user namespace mappings, joining by path.

mod common;

use common::*;
use serde_json::json;

/// Namespace kinds as named in /proc/<pid>/ns, paired with the spec name.
const KINDS: [(&str, &str); 6] = [
    ("pid", "pid"),
    ("net", "network"),
    ("ipc", "ipc"),
    ("uts", "uts"),
    ("mnt", "mount"),
    ("cgroup", "cgroup"),
];

/// Prints `KIND LINK` for every namespace in [`KINDS`].
fn ns_script() -> String {
    KINDS
        .iter()
        .map(|(kind, _)| format!("echo {kind} $(readlink /proc/self/ns/{kind})"))
        .collect::<Vec<_>>()
        .join("; ")
}

#[test]
fn pid_namespace_makes_process_pid_1() {
    let h = Harness::new("pid_ns");
    assert_eq!(h.run_ok(&Spec::new().sh("echo $$")), "1\n");
    let out = h.run_ok(&Spec::new().without_namespace("pid").sh("echo $$"));
    assert_ne!(out, "1\n", "without a PID namespace the shell is not PID 1");
}

#[test]
fn configured_namespaces_are_new_others_shared() {
    // The default spec has pid, network, ipc, uts and mount; ipc is dropped
    // here and cgroup is never configured, so those two must be the host's.
    let h = Harness::new("ns_inodes");
    let out = h.run_ok(&Spec::new().without_namespace("ipc").sh(&ns_script()));
    for line in out.lines() {
        let (kind, inside) = line.split_once(' ').expect("KIND LINK");
        let host = ns_link("self", kind);
        let spec_name = KINDS.iter().find(|(k, _)| *k == kind).unwrap().1;
        if ["ipc", "cgroup"].contains(&spec_name) {
            assert_eq!(inside, host, "{kind} namespace should be shared");
        } else {
            assert_ne!(inside, host, "{kind} namespace should be new");
        }
    }
    assert_eq!(out.lines().count(), KINDS.len(), "{out}");
}

#[test]
fn hostname_is_set_in_uts_namespace() {
    let h = Harness::new("hostname");
    let host_before = std::fs::read_to_string("/proc/sys/kernel/hostname").unwrap();
    let out = h.run_ok(
        &Spec::new()
            .set("/hostname", json!("box-1"))
            .args(&["hostname"]),
    );
    assert_eq!(out, "box-1\n");
    let host_after = std::fs::read_to_string("/proc/sys/kernel/hostname").unwrap();
    assert_eq!(host_before, host_after, "the host's hostname changed");
}

#[test]
#[cfg_attr(
    ongi_test_runc,
    ignore = "runc 1.1.5 ignores the `domainname` field (added in runc 1.2)"
)]
fn domainname_is_set_in_uts_namespace() {
    let h = Harness::new("domainname");
    let out = h.run_ok(
        &Spec::new()
            .set("/domainname", json!("example.org"))
            .args(&["cat", "/proc/sys/kernel/domainname"]),
    );
    assert_eq!(out, "example.org\n");
}

#[test]
fn network_namespace_has_only_loopback_and_it_is_up() {
    let h = Harness::new("net_ns");
    let out = h.run_ok(&Spec::new().sh("ls /sys/class/net; cat /sys/class/net/lo/flags"));
    let lines: Vec<&str> = out.lines().collect();
    assert_eq!(lines[0], "lo", "{out}");
    assert_eq!(lines.len(), 2, "only lo expected:\n{out}");
    let flags = u32::from_str_radix(lines[1].trim_start_matches("0x"), 16).expect("hex flags");
    assert_ne!(flags & libc::IFF_UP as u32, 0, "lo is down:\n{out}");
}

#[test]
fn user_namespace_mappings() {
    // The rootfs stays owned by host root (unmapped, so it shows up as
    // nobody inside); it is world-readable and -executable, which suffices.
    let h = Harness::new("user_ns");
    let spec = Spec::new()
        .user_namespace(100_000, 65_536)
        .sh("cat /proc/self/uid_map /proc/self/gid_map; id -u; id -g");
    let out = h.run_ok(&spec);
    let lines: Vec<String> = out
        .lines()
        .map(|l| l.split_whitespace().collect::<Vec<_>>().join(" "))
        .collect();
    assert_eq!(
        lines,
        ["0 100000 65536", "0 100000 65536", "0", "0"],
        "{out}"
    );
}

#[test]
fn user_namespace_process_runs_as_mapped_host_ids() {
    let h = Harness::new("user_ns_host");
    let spec = Spec::new()
        .user_namespace(100_000, 65_536)
        .set("/process/user", json!({ "uid": 1000, "gid": 1000 }))
        .args(&["sleep", "100"]);
    let ctr = h.start(&spec);
    let pid = h.pid(&ctr.id);
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).expect("status");
    assert_eq!(status_field(&status, "Uid"), "101000 101000 101000 101000");
    assert_eq!(status_field(&status, "Gid"), "101000 101000 101000 101000");
    assert_ne!(ns_link(&pid.to_string(), "user"), ns_link("self", "user"));
}

#[test]
fn join_existing_network_namespace_by_path() {
    let h = Harness::new("join_netns");
    let a = h.start(&Spec::new().args(&["sleep", "100"]));
    let a_pid = h.pid(&a.id).to_string();
    let a_net = ns_link(&a_pid, "net");
    assert_ne!(a_net, ns_link("self", "net"));

    let path = format!("/proc/{a_pid}/ns/net");
    let b = Spec::new()
        .namespace("network", Some(&path))
        .args(&["readlink", "/proc/self/ns/net"]);
    assert_eq!(h.run_ok(&b), format!("{a_net}\n"));
}

#[test]
fn join_existing_uts_namespace_sees_its_hostname() {
    let h = Harness::new("join_utsns");
    let a = h.start(
        &Spec::new()
            .set("/hostname", json!("container-a"))
            .args(&["sleep", "100"]),
    );
    let path = format!("/proc/{}/ns/uts", h.pid(&a.id));
    // B must not set a hostname: that would change A's too.
    let b = Spec::new()
        .remove("/hostname")
        .namespace("uts", Some(&path))
        .args(&["hostname"]);
    assert_eq!(h.run_ok(&b), "container-a\n");
}

/// A container in a new time namespace whose boottime is one day ahead.
fn time_ns_spec() -> Spec {
    Spec::new().namespace("time", None).set(
        "/linux/timeOffsets",
        json!({"boottime": {"secs": 86400, "nanosecs": 0}, "monotonic": {"secs": 3600}}),
    )
}

/// Seconds of /proc/uptime as printed by `cat /proc/uptime`.
fn uptime_secs(text: &str) -> f64 {
    text.split_whitespace()
        .next()
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| panic!("not /proc/uptime: {text:?}"))
}

#[test]
#[cfg_attr(ongi_test_runc, ignore = "runc 1.1.5 has no time namespaces")]
fn new_time_namespace_with_offsets() {
    let h = Harness::new("time_ns");
    assert!(
        std::path::Path::new("/proc/self/ns/time").exists(),
        "this test needs a kernel with time namespaces (5.6+)"
    );
    let out = h.run_ok(
        &time_ns_spec()
            .sh("readlink /proc/self/ns/time; cat /proc/uptime; cat /proc/self/timens_offsets"),
    );
    let lines: Vec<&str> = out.lines().collect();
    assert_ne!(lines[0], ns_link("self", "time"), "{out}");
    let host = uptime_secs(&std::fs::read_to_string("/proc/uptime").unwrap());
    let theirs = uptime_secs(lines[1]);
    assert!(
        theirs >= host + 86000.0,
        "uptime {theirs} vs host {host}:\n{out}"
    );
    assert!(out.contains("monotonic") && out.contains("3600"), "{out}");

    // exec joins it: same offsets.
    let c = h.start(&time_ns_spec().args(&["sleep", "1000"]));
    let out = h.rt(&["exec", &c.id, "cat", "/proc/uptime"]).expect_ok();
    assert!(uptime_secs(&out.stdout) >= host + 86000.0, "{out}");
    assert_eq!(
        ns_link(&h.pid(&c.id).to_string(), "time"),
        h.rt(&["exec", &c.id, "readlink", "/proc/self/ns/time"])
            .expect_ok()
            .stdout
            .trim()
    );
}

#[test]
#[cfg_attr(ongi_test_runc, ignore = "runc 1.1.5 has no time namespaces")]
fn time_namespace_joined_by_path() {
    let h = Harness::new("time_ns_join");
    assert!(
        std::path::Path::new("/proc/self/ns/time").exists(),
        "this test needs a kernel with time namespaces (5.6+)"
    );
    let a = h.start(&time_ns_spec().args(&["sleep", "1000"]));
    let path = format!("/proc/{}/ns/time", h.pid(&a.id));
    let out = h.run_ok(
        &Spec::new()
            .namespace("time", Some(&path))
            .sh("readlink /proc/self/ns/time; cat /proc/uptime"),
    );
    let lines: Vec<&str> = out.lines().collect();
    assert_eq!(
        lines[0],
        ns_link(&h.pid(&a.id).to_string(), "time"),
        "{out}"
    );
    let host = uptime_secs(&std::fs::read_to_string("/proc/uptime").unwrap());
    assert!(uptime_secs(lines[1]) >= host + 86000.0, "{out}");
}

#[test]
#[cfg_attr(ongi_test_runc, ignore = "runc 1.1.5 ignores linux.timeOffsets")]
fn time_offsets_without_new_time_namespace_fail() {
    let h = Harness::new("time_offsets_bad");
    for spec in [
        Spec::new().set("/linux/timeOffsets", json!({"boottime": {"secs": 1}})),
        time_ns_spec().set("/linux/timeOffsets", json!({"realtime": {"secs": 1}})),
    ] {
        let bundle = h.bundle(&spec);
        let id = h.new_id();
        let out = h
            .rt(&["create", "--bundle", path_str(&bundle), &id])
            .expect_fail();
        h.assert_no_trace(&id);
        assert!(out.stderr.contains("linux.timeOffsets"), "{out}");
    }
}

#[test]
#[cfg_attr(ongi_test_runc, ignore = "runc 1.1.5 has no time namespaces")]
fn time_namespace_with_a_new_user_namespace() {
    // The time namespace is then owned by the new user namespace; the offsets are written
    // with the capabilities the intermediate holds there.
    let h = Harness::new("time_userns");
    assert!(
        std::path::Path::new("/proc/self/ns/time").exists(),
        "this test needs a kernel with time namespaces (5.6+)"
    );
    let out = h.run_ok(
        &time_ns_spec()
            .user_namespace(100_000, 65_536)
            .sh("id -u; cat /proc/uptime"),
    );
    let lines: Vec<&str> = out.lines().collect();
    assert_eq!(lines[0], "0", "{out}");
    let host = uptime_secs(&std::fs::read_to_string("/proc/uptime").unwrap());
    assert!(uptime_secs(lines[1]) >= host + 86000.0, "{out}");
}

#[test]
fn joined_cgroup_namespace_gets_its_cgroup_mount() {
    // Regression: joining a cgroup namespace by path bound host cgroup paths that do not
    // exist from inside it ("bind cgroup hierarchy: ENOENT"); mount fresh instead.
    let h = Harness::new("join_cgroupns");
    let a = h.start(
        &Spec::new()
            .namespace("cgroup", None)
            .args(&["sleep", "100"]),
    );
    let pid_a = h.pid(&a.id);
    let path = format!("/proc/{pid_a}/ns/cgroup");
    let b = h.start(
        &Spec::new()
            .namespace("cgroup", Some(&path))
            .args(&["sleep", "100"]),
    );
    let pid_b = h.pid(&b.id);
    assert_eq!(
        ns_link(&pid_b.to_string(), "cgroup"),
        ns_link(&pid_a.to_string(), "cgroup")
    );
    let m = std::fs::read_to_string(format!("/proc/{pid_b}/mountinfo")).unwrap();
    assert!(
        m.lines().any(|l| l.contains(" /sys/fs/cgroup")),
        "no cgroup mount in the container:\n{m}"
    );
}

/// The host's mount table as the fields that a container could change: mount point,
/// options and propagation of every mount.
fn host_mounts() -> Vec<String> {
    let text = std::fs::read_to_string("/proc/self/mountinfo").expect("mountinfo");
    let mut v: Vec<String> = text
        .lines()
        .map(|l| {
            // Skip the mount id and parent id: the rest names the mount and its state.
            l.split(' ').skip(2).collect::<Vec<_>>().join(" ")
        })
        .collect();
    v.sort();
    v
}

/// runtime-spec: without a mount namespace in linux.namespaces the container inherits the
/// runtime's; runc runs such a config (chrooted into root.path). It used to be refused ("a
/// mount namespace is required"). The host's mount table must come out unchanged: whatever
/// would mount something (mounts, maskedPaths, ...) is refused without a mount namespace,
/// since it would be made in the host's namespace and outlive the container.
#[test]
#[cfg_attr(
    ongi_test_runc,
    ignore = "runc 1.1.5 needs /proc/self/fd inside the chroot (\"error closing exec fds\"), i.e. a proc mount, which it makes in the host's mount namespace and leaves behind"
)]
fn without_mount_namespace_chroot_only_and_host_mounts_unchanged() {
    let h = Harness::new("ns_nomnt");
    let spec = Spec::new()
        .without_namespace("mount")
        .set("/mounts", json!([]))
        .remove("/linux/maskedPaths")
        .remove("/linux/readonlyPaths")
        .set("/root/readonly", json!(false));
    let before = host_mounts();
    // Chrooted: the rootfs is "/", the host's top-level directories are not there.
    let script = "ls / | tr '\\n' ' '; echo; readlink /proc/self/ns/mnt || echo no-proc";
    let out = h.run_ok(&spec.clone().sh(script));
    assert!(out.contains("bin"), "{out}");
    assert!(
        !out.contains("work") && !out.contains("boot"),
        "not chrooted: {out}"
    );
    assert!(out.contains("no-proc"), "{out}");
    let c = h.start(&spec.clone().args(&["sleep", "1000"]));
    let pid = h.pid(&c.id);
    assert_eq!(
        std::fs::read_link(format!("/proc/{pid}/ns/mnt")).expect("ns link"),
        std::fs::read_link("/proc/self/ns/mnt").expect("ns link"),
        "init must share the runtime's mount namespace"
    );
    let out = h
        .rt(&["exec", &c.id, "sh", "-c", "ls / | tr '\\n' ' '"])
        .expect_ok();
    assert!(out.stdout.contains("bin"), "{out}");
    assert!(
        !out.stdout.contains("work"),
        "exec'd process not chrooted: {out}"
    );
    h.rt(&["delete", "--force", &c.id]).expect_ok();
    assert_eq!(host_mounts(), before, "the host's mount table changed");

    // Anything that would mount is refused, naming the field; nothing is made.
    for (spec, field) in [
        (spec.clone().tmpfs("/tmp", &[]), "mounts"),
        (
            spec.clone()
                .set("/linux/maskedPaths", json!(["/proc/kcore"])),
            "linux.maskedPaths",
        ),
        (
            spec.clone().set("/root/readonly", json!(true)),
            "root.readonly",
        ),
    ] {
        let bundle = h.bundle(&spec);
        let id = h.new_id();
        let out = h
            .rt(&["create", "--bundle", path_str(&bundle), &id])
            .expect_fail();
        assert!(
            out.stderr.contains(field) && out.stderr.contains("mount namespace"),
            "{field}: {out}"
        );
        h.assert_no_trace(&id);
    }
    assert_eq!(host_mounts(), before, "the host's mount table changed");
}
