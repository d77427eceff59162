//! Hostile linux.sysctl: keys that name host files or host-wide values must fail `create`
//! (naming the key, leaving nothing behind) without touching the host; namespaced keys
//! apply to the container's own namespace only.
//!
//! Where a test expects a host value to stay unchanged it restores the value if a broken
//! runtime changed it, so a failing run does not leave the machine altered.

mod common;

use common::*;
use serde_json::json;
use std::path::PathBuf;

/// Puts a host /proc/sys value back when dropped, if it was changed.
struct Restore {
    path: PathBuf,
    before: String,
}

impl Restore {
    fn new(path: &str) -> Self {
        let before = std::fs::read_to_string(path).unwrap_or_else(|e| panic!("read {path}: {e}"));
        Restore {
            path: PathBuf::from(path),
            before,
        }
    }

    /// The host value is still what it was.
    #[track_caller]
    fn assert_unchanged(&self, what: &str) {
        let now = std::fs::read_to_string(&self.path).expect("read host sysctl");
        assert_eq!(
            now,
            self.before,
            "{what}: the host's {} was changed",
            self.path.display()
        );
    }
}

impl Drop for Restore {
    fn drop(&mut self) {
        if std::fs::read_to_string(&self.path).ok().as_deref() != Some(&self.before) {
            let _ = std::fs::write(&self.path, self.before.trim_end());
        }
    }
}

/// runc names a slash-form key by its dotted form ('.' and '/' swapped).
fn runc_form(key: &str) -> String {
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

/// `create` with these sysctls must fail, name the key and leave nothing behind.
#[track_caller]
fn refused(h: &Harness, spec: Spec, key: &str, value: &str) {
    let out = create_fails(h, spec, key, value);
    assert!(
        out.stderr.contains(key) || out.stderr.contains(&runc_form(key)),
        "the error does not name the key {key:?}:\n{out}"
    );
}

/// `create` with these sysctls must fail and leave nothing behind.
#[track_caller]
fn create_fails(h: &Harness, spec: Spec, key: &str, value: &str) -> Output {
    let bundle = h.bundle(&spec.set("/linux/sysctl", json!({ key: value })));
    let id = h.new_id();
    let out = h.rt(&["create", "--bundle", path_str(&bundle), &id]);
    assert!(
        matches!(out.code(), Some(c) if c != 0),
        "sysctl {key:?} was accepted:\n{out}"
    );
    h.assert_no_trace(&id);
    out
}

/// `run` printing a /proc/sys file; returns its content.
#[track_caller]
fn inside(h: &Harness, spec: Spec, file: &str) -> String {
    h.run_ok(&spec.args(&["cat", file])).trim().to_string()
}

#[test]
fn keys_naming_paths_are_refused() {
    let h = Harness::new("sysctl_paths");
    let dir = h.dir("host");
    let target = |name: &str| dir.join(name);
    let abs = target("abs");
    let up = target("up");
    // (key, host file it must not write, refused by validation in runc too)
    let keys = [
        // Absolute: before pivot_root this was the host's /tmp/...
        (path_str(&abs).to_string(), &abs, true),
        // Up out of /proc/sys.
        (format!("../../../../../..{}", path_str(&up)), &up, true),
        // Both, in the slash form behind an accepted prefix. runc 1.1.5 lets it through
        // its validator (it fails to open the cleaned path), so it names no key there.
        (format!("net/../../../..{}", path_str(&up)), &up, false),
    ];
    for (key, file, validated_by_runc) in &keys {
        if *validated_by_runc || !is_runc() {
            refused(&h, Spec::new(), key, "owned");
        } else {
            create_fails(&h, Spec::new(), key, "owned");
        }
        assert!(
            !file.exists(),
            "sysctl {key:?} wrote the host file {}",
            file.display()
        );
    }
    // Empty components: runc 1.1.5 writes them as "net//ipv4/ip_forward"; refused here.
    if !skip_on_runc("runc 1.1.5 accepts net. keys with empty components") {
        for key in [
            "net..ipv4.ip_forward",
            "net.ipv4.ip_forward.",
            ".net.ipv4.ip_forward",
        ] {
            refused(&h, Spec::new(), key, "1");
        }
    }
    assert!(std::fs::read_dir(&dir).expect("host dir").next().is_none());
}

#[test]
fn host_wide_keys_are_refused() {
    let h = Harness::new("sysctl_host");
    let swappiness = Restore::new("/proc/sys/vm/swappiness");
    let want = if swappiness.before.trim() == "17" {
        "18"
    } else {
        "17"
    };
    // Every namespace of its own still does not make vm.* the container's.
    let spec = Spec::new().user_namespace(100000, 65536);
    refused(&h, spec, "vm.swappiness", want);
    refused(&h, Spec::new(), "vm/swappiness", want);
    swappiness.assert_unchanged("vm.swappiness");
    // Namespaced, but runc refuses it in favour of the hostname field.
    refused(&h, Spec::new(), "kernel.hostname", "owned");
}

#[test]
fn net_keys_need_a_network_namespace_of_the_container() {
    let h = Harness::new("sysctl_net");
    let path = "/proc/sys/net/ipv4/ip_forward";
    let host = Restore::new(path);
    let want = if host.before.trim() == "1" { "0" } else { "1" };
    let key = "net.ipv4.ip_forward";
    refused(&h, Spec::new().without_namespace("network"), key, want);
    host.assert_unchanged("no network namespace");
    // Joining the runtime's own network namespace is the host's too.
    refused(
        &h,
        Spec::new().namespace("network", Some("/proc/self/ns/net")),
        key,
        want,
    );
    host.assert_unchanged("the host's network namespace joined by path");
    // A new one: applied there, and only there.
    let got = inside(
        &h,
        Spec::new().set("/linux/sysctl", json!({ key: want })),
        path,
    );
    assert_eq!(got, want, "not applied in the container");
    host.assert_unchanged("a new network namespace");
}

#[test]
fn ipc_keys_need_an_ipc_namespace_of_the_container() {
    let h = Harness::new("sysctl_ipc");
    let path = "/proc/sys/kernel/shmmax";
    let host = Restore::new(path);
    let want = if host.before.trim() == "68719476736" {
        "68719476737"
    } else {
        "68719476736"
    };
    refused(
        &h,
        Spec::new().without_namespace("ipc"),
        "kernel.shmmax",
        want,
    );
    host.assert_unchanged("no ipc namespace");
    refused(
        &h,
        Spec::new().without_namespace("ipc"),
        "fs.mqueue.msg_max",
        "20",
    );
    let got = inside(
        &h,
        Spec::new().set("/linux/sysctl", json!({ "kernel.shmmax": want })),
        path,
    );
    assert_eq!(got, want, "not applied in the container");
    host.assert_unchanged("a new ipc namespace");
}

#[test]
fn domainname_needs_a_uts_namespace_of_the_container() {
    let h = Harness::new("sysctl_uts");
    let path = "/proc/sys/kernel/domainname";
    let host = Restore::new(path);
    let want = format!("ongi-{}", h.marker());
    let no_uts = Spec::new().without_namespace("uts").remove("/hostname");
    refused(&h, no_uts, "kernel.domainname", &want);
    host.assert_unchanged("no uts namespace");
    let got = inside(
        &h,
        Spec::new().set("/linux/sysctl", json!({ "kernel.domainname": want })),
        path,
    );
    assert_eq!(got, want, "not applied in the container");
    host.assert_unchanged("a new uts namespace");
}

/// The sysctls are written through the container's /proc: a container without one gets an
/// error naming the key instead of a write through the host's.
#[test]
#[cfg_attr(
    ongi_test_runc,
    ignore = "runc 1.1.5 writes through whatever /proc/sys the image has"
)]
fn no_procfs_in_the_container_is_an_error() {
    let h = Harness::new("sysctl_noproc");
    let spec = Spec::new()
        .set("/mounts", json!([]))
        .set("/linux/maskedPaths", json!([]))
        .set("/linux/readonlyPaths", json!([]))
        .remove("/linux/resources");
    let bundle = h.bundle(&spec.set("/linux/sysctl", json!({ "net.ipv4.ip_forward": "1" })));
    // An image directory where procfs would be.
    std::fs::create_dir_all(bundle.join("rootfs/proc/sys/net/ipv4")).expect("mkdir");
    write_file(&bundle.join("rootfs/proc/sys/net/ipv4/ip_forward"), "0\n");
    let id = h.new_id();
    let out = h.rt(&["create", "--bundle", path_str(&bundle), &id]);
    assert!(!out.ok(), "{out}");
    assert!(out.stderr.contains("net.ipv4.ip_forward"), "{out}");
    h.assert_no_trace(&id);
    let left = std::fs::read_to_string(bundle.join("rootfs/proc/sys/net/ipv4/ip_forward"));
    assert_eq!(left.ok().as_deref(), Some("0\n"));
}
