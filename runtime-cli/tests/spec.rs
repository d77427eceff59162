//! The `spec` subcommand.

mod common;

use common::*;
use serde_json::{json, Value};
use std::fs;
use std::path::Path;

/// What `runc spec` (runc 1.1.5) writes: the reference `ongi spec` is held to. Kept here as
/// text, not taken from `ongi::spec::default_spec` (the suites' base config), so that the
/// check cannot pass by comparing that function with itself.
const RUNC_SPEC: &str = r#"{
    "ociVersion": "1.0.2-dev",
    "process": {
        "terminal": true,
        "user": { "uid": 0, "gid": 0 },
        "args": [ "sh" ],
        "env": [
            "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
            "TERM=xterm"
        ],
        "cwd": "/",
        "capabilities": {
            "bounding": [ "CAP_AUDIT_WRITE", "CAP_KILL", "CAP_NET_BIND_SERVICE" ],
            "effective": [ "CAP_AUDIT_WRITE", "CAP_KILL", "CAP_NET_BIND_SERVICE" ],
            "permitted": [ "CAP_AUDIT_WRITE", "CAP_KILL", "CAP_NET_BIND_SERVICE" ],
            "ambient": [ "CAP_AUDIT_WRITE", "CAP_KILL", "CAP_NET_BIND_SERVICE" ]
        },
        "rlimits": [ { "type": "RLIMIT_NOFILE", "hard": 1024, "soft": 1024 } ],
        "noNewPrivileges": true
    },
    "root": { "path": "rootfs", "readonly": true },
    "hostname": "runc",
    "mounts": [
        { "destination": "/proc", "type": "proc", "source": "proc" },
        { "destination": "/dev", "type": "tmpfs", "source": "tmpfs",
          "options": [ "nosuid", "strictatime", "mode=755", "size=65536k" ] },
        { "destination": "/dev/pts", "type": "devpts", "source": "devpts",
          "options": [ "nosuid", "noexec", "newinstance", "ptmxmode=0666", "mode=0620", "gid=5" ] },
        { "destination": "/dev/shm", "type": "tmpfs", "source": "shm",
          "options": [ "nosuid", "noexec", "nodev", "mode=1777", "size=65536k" ] },
        { "destination": "/dev/mqueue", "type": "mqueue", "source": "mqueue",
          "options": [ "nosuid", "noexec", "nodev" ] },
        { "destination": "/sys", "type": "sysfs", "source": "sysfs",
          "options": [ "nosuid", "noexec", "nodev", "ro" ] },
        { "destination": "/sys/fs/cgroup", "type": "cgroup", "source": "cgroup",
          "options": [ "nosuid", "noexec", "nodev", "relatime", "ro" ] }
    ],
    "linux": {
        "resources": { "devices": [ { "allow": false, "access": "rwm" } ] },
        "namespaces": [
            { "type": "pid" }, { "type": "network" }, { "type": "ipc" },
            { "type": "uts" }, { "type": "mount" }
        ],
        "maskedPaths": [
            "/proc/acpi", "/proc/asound", "/proc/kcore", "/proc/keys",
            "/proc/latency_stats", "/proc/timer_list", "/proc/timer_stats",
            "/proc/sched_debug", "/sys/firmware", "/proc/scsi"
        ],
        "readonlyPaths": [
            "/proc/bus", "/proc/fs", "/proc/irq", "/proc/sys", "/proc/sysrq-trigger"
        ]
    }
}"#;

fn runc_spec() -> Value {
    serde_json::from_str(RUNC_SPEC).expect("RUNC_SPEC is valid JSON")
}

fn read_config(dir: &Path) -> Value {
    let text = fs::read_to_string(dir.join("config.json")).expect("config.json written");
    serde_json::from_str(&text).expect("config.json is JSON")
}

fn namespace_types(config: &Value) -> Vec<&str> {
    config["linux"]["namespaces"]
        .as_array()
        .expect("namespaces array")
        .iter()
        .map(|ns| ns["type"].as_str().expect("type"))
        .collect()
}

#[test]
fn spec_writes_default_config_in_cwd() {
    let h = Harness::new("spec_default");
    let dir = h.dir("spec");
    h.rt_in(Some(&dir), &["spec"]).expect_ok();
    let config = read_config(&dir);
    assert!(config["ociVersion"]
        .as_str()
        .is_some_and(|v| v.starts_with("1.")));
    assert_eq!(config["process"]["terminal"], json!(true));
    assert_eq!(config["process"]["args"], json!(["sh"]));
    assert_eq!(config["process"]["user"], json!({ "uid": 0, "gid": 0 }));
    assert_eq!(
        config["root"],
        json!({ "path": "rootfs", "readonly": true })
    );
    assert_eq!(
        namespace_types(&config),
        ["pid", "network", "ipc", "uts", "mount"]
    );
    // Apart from ociVersion, terminal and hostname, it is exactly runc's
    // default.
    let mut base = runc_spec();
    base["ociVersion"] = config["ociVersion"].clone();
    base["process"]["terminal"] = json!(true);
    base["hostname"] = config["hostname"].clone();
    assert_eq!(config, base);
}

#[test]
fn spec_refuses_to_overwrite() {
    let h = Harness::new("spec_exists");
    let dir = h.dir("spec");
    write_file(&dir.join("config.json"), "keep me");
    let out = h.rt_in(Some(&dir), &["spec"]).expect_fail();
    assert!(out.stderr.contains("exists"), "{out}");
    assert_eq!(
        fs::read_to_string(dir.join("config.json")).unwrap(),
        "keep me"
    );
}

#[test]
fn spec_bundle_flag() {
    let h = Harness::new("spec_bundle");
    let cwd = h.dir("cwd");
    let bundle = h.dir("bundle");
    h.rt_in(Some(&cwd), &["spec", "--bundle", path_str(&bundle)])
        .expect_ok();
    assert!(!cwd.join("config.json").exists());
    read_config(&bundle);
}

#[test]
fn spec_rootless() {
    let h = Harness::new("spec_rootless");
    let dir = h.dir("spec");
    h.rt_in(Some(&dir), &["spec", "--rootless"]).expect_ok();
    let config = read_config(&dir);
    let types = namespace_types(&config);
    assert!(types.contains(&"user"), "{types:?}");
    assert!(!types.contains(&"network"), "{types:?}");
    // SAFETY: getuid/getgid cannot fail.
    let (uid, gid) = unsafe { (libc::getuid(), libc::getgid()) };
    assert_eq!(
        config["linux"]["uidMappings"],
        json!([{ "containerID": 0, "hostID": uid, "size": 1 }])
    );
    assert_eq!(
        config["linux"]["gidMappings"],
        json!([{ "containerID": 0, "hostID": gid, "size": 1 }])
    );
}

#[test]
fn generated_spec_runs() {
    // The spec output, with only terminal turned off, must be runnable.
    let h = Harness::new("spec_runs");
    let bundle = h.bare_bundle();
    h.rt_in(Some(&bundle), &["spec"]).expect_ok();
    let mut config = read_config(&bundle);
    config["process"]["terminal"] = json!(false);
    config["process"]["args"] = json!(["echo", "from-generated-spec"]);
    h.write_config(&bundle, &Spec(config));
    let out = h.run_bundle(&bundle).expect_ok();
    assert_eq!(out.stdout, "from-generated-spec\n");
}

#[test]
fn spec_rootless_is_runcs_transformation() {
    // runc's ToRootless applied to its default: no network namespace, a user namespace with
    // the caller's ids, /sys as a read-only rbind, no uid=/gid= mount options, no resources;
    // every other mount (mqueue, cgroup) stays.
    let h = Harness::new("spec_rootless_eq");
    let dir = h.dir("spec");
    h.rt_in(Some(&dir), &["spec", "--rootless"]).expect_ok();
    let config = read_config(&dir);
    // SAFETY: geteuid/getegid cannot fail.
    let (uid, gid) = unsafe { (libc::geteuid(), libc::getegid()) };
    let mut want = runc_spec();
    want["ociVersion"] = config["ociVersion"].clone();
    want["hostname"] = config["hostname"].clone();
    want["process"]["terminal"] = json!(true);
    want["linux"]["namespaces"] = json!([
        { "type": "pid" }, { "type": "ipc" }, { "type": "uts" }, { "type": "mount" }, { "type": "user" }
    ]);
    want["linux"]["uidMappings"] = json!([{ "containerID": 0, "hostID": uid, "size": 1 }]);
    want["linux"]["gidMappings"] = json!([{ "containerID": 0, "hostID": gid, "size": 1 }]);
    want["linux"].as_object_mut().unwrap().remove("resources");
    for m in want["mounts"].as_array_mut().unwrap() {
        if m["destination"] == json!("/sys") {
            *m = json!({ "destination": "/sys", "type": "none", "source": "/sys",
                "options": ["rbind", "nosuid", "noexec", "nodev", "ro"] });
        }
        if let Some(o) = m.get_mut("options").and_then(|o| o.as_array_mut()) {
            o.retain(|x| !x.as_str().unwrap().starts_with("gid="));
        }
    }
    assert_eq!(config, want);
    // And there is no seccomp section, as in runc's default.
    assert!(config["linux"].get("seccomp").is_none());
}
