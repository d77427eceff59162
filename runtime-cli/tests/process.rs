//! The container process: args, env, cwd, user, umask, capabilities,
//! no_new_privs, rlimits, OOM score, sysctls.

mod common;

use common::*;
use serde_json::json;

/// Capability numbers (linux/capability.h).
const CAP_CHOWN: u32 = 0;
const CAP_KILL: u32 = 5;
const CAP_NET_BIND_SERVICE: u32 = 10;
const CAP_NET_RAW: u32 = 13;
const CAP_SYS_ADMIN: u32 = 21;
const CAP_SYS_RESOURCE: u32 = 24;
const CAP_AUDIT_WRITE: u32 = 29;

/// `/proc/self/status` of a process running with `spec`.
fn proc_status(h: &Harness, spec: Spec) -> String {
    h.run_ok(&spec.args(&["cat", "/proc/self/status"]))
}

fn user_json(uid: u32, gid: u32) -> serde_json::Value {
    json!({ "uid": uid, "gid": gid })
}

#[test]
fn env_is_set_from_config() {
    let h = Harness::new("env");
    let out = h.run_ok(&Spec::new().env("FOO=bar baz").env("EMPTY=").args(&["env"]));
    let vars: Vec<&str> = out.lines().collect();
    for want in [
        "FOO=bar baz",
        "EMPTY=",
        "TERM=xterm",
        "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
    ] {
        assert!(vars.contains(&want), "{want:?} missing from:\n{out}");
    }
    // The runtime's own environment must not leak in.
    assert!(
        !vars.iter().any(|v| v.starts_with("CARGO")),
        "host environment leaked:\n{out}"
    );
}

#[test]
fn cwd_is_set_from_config() {
    let h = Harness::new("cwd");
    let out = h.run_ok(
        &Spec::new()
            .set("/process/cwd", json!("/etc"))
            .args(&["pwd"]),
    );
    assert_eq!(out, "/etc\n");
}

#[test]
fn missing_cwd_is_created() {
    // runc creates process.cwd inside the rootfs when it does not exist.
    let h = Harness::new("cwd_created");
    let out = h.run_ok(
        &Spec::new()
            .set("/process/cwd", json!("/does/not/exist"))
            .args(&["pwd"]),
    );
    assert_eq!(out, "/does/not/exist\n");
}

#[test]
fn user_uid_gid_and_additional_gids() {
    let h = Harness::new("user_ids");
    let user = json!({ "uid": 1000, "gid": 1000, "additionalGids": [10, 20] });
    let status = proc_status(&h, Spec::new().set("/process/user", user));
    assert_eq!(status_field(&status, "Uid"), "1000 1000 1000 1000");
    assert_eq!(status_field(&status, "Gid"), "1000 1000 1000 1000");
    // The supplementary groups are exactly additionalGids (the primary gid
    // is not added).
    assert_eq!(status_field(&status, "Groups"), "10 20");

    let out = h.run_ok(
        &Spec::new()
            .set("/process/user", user_json(1000, 1000))
            .args(&["id"]),
    );
    assert_eq!(out, "uid=1000(user) gid=1000(user)\n");
}

#[test]
fn group_file_membership_is_not_added() {
    // Only additionalGids become supplementary groups; memberships listed
    // in the image's /etc/group are not looked up.
    let h = Harness::new("group_membership");
    for uid in [0, 1000] {
        let spec = Spec::new()
            .set("/process/user", user_json(uid, uid))
            .args(&["cat", "/proc/self/status"]);
        let bundle = h.bundle(&spec);
        write_file(
            &bundle.join("rootfs/etc/group"),
            "root:x:0:\nwheel:x:10:root,user\nuser:x:1000:\n",
        );
        let status = h.run_bundle(&bundle).expect_ok().stdout;
        assert_eq!(
            status_field(&status, "Uid"),
            format!("{uid} {uid} {uid} {uid}")
        );
        assert_eq!(status_field(&status, "Groups"), "", "uid {uid}");
    }
}

#[test]
fn umask_is_applied() {
    let h = Harness::new("umask");
    let out = h.run_ok(
        &Spec::new()
            .set("/process/user/umask", json!(0o077))
            .sh("umask"),
    );
    assert_eq!(out, "0077\n");
    // The umask also governs files the process creates.
    let out = h.run_ok(
        &Spec::new()
            .set("/process/user/umask", json!(0o027))
            .sh("touch /dev/shm/f && stat -c %a /dev/shm/f"),
    );
    assert_eq!(out, "640\n");
}

#[test]
fn default_capabilities() {
    // runc's default spec lists the caps in ambient but not inheritable;
    // raising an ambient cap requires it to be inheritable, so CapAmb ends
    // up empty.
    let h = Harness::new("default_caps");
    let status = proc_status(&h, Spec::new());
    let want = cap_mask(&[CAP_AUDIT_WRITE, CAP_KILL, CAP_NET_BIND_SERVICE]);
    assert_eq!(want, "0000000020000420");
    assert_eq!(status_field(&status, "CapBnd"), want);
    assert_eq!(status_field(&status, "CapPrm"), want);
    assert_eq!(status_field(&status, "CapEff"), want);
    assert_eq!(status_field(&status, "CapInh"), cap_mask(&[]));
    assert_eq!(status_field(&status, "CapAmb"), cap_mask(&[]));
}

#[test]
fn custom_capability_sets() {
    let h = Harness::new("custom_caps");
    let caps = json!({
        "bounding": ["CAP_CHOWN", "CAP_KILL", "CAP_NET_RAW", "CAP_SYS_ADMIN"],
        "permitted": ["CAP_CHOWN", "CAP_KILL", "CAP_NET_RAW"],
        "effective": ["CAP_CHOWN", "CAP_KILL", "CAP_NET_RAW"],
        "inheritable": ["CAP_NET_RAW"],
        "ambient": ["CAP_NET_RAW"]
    });
    let status = proc_status(&h, Spec::new().set("/process/capabilities", caps));
    let bnd = cap_mask(&[CAP_CHOWN, CAP_KILL, CAP_NET_RAW, CAP_SYS_ADMIN]);
    let prm = cap_mask(&[CAP_CHOWN, CAP_KILL, CAP_NET_RAW]);
    assert_eq!(status_field(&status, "CapBnd"), bnd);
    assert_eq!(status_field(&status, "CapPrm"), prm);
    assert_eq!(status_field(&status, "CapEff"), prm);
    assert_eq!(status_field(&status, "CapInh"), cap_mask(&[CAP_NET_RAW]));
    assert_eq!(status_field(&status, "CapAmb"), cap_mask(&[CAP_NET_RAW]));
}

#[test]
fn capabilities_of_non_root_user() {
    // A non-root process keeps only its ambient caps across execve.
    let h = Harness::new("nonroot_caps");
    let caps = json!({
        "bounding": ["CAP_KILL", "CAP_NET_BIND_SERVICE"],
        "permitted": ["CAP_KILL", "CAP_NET_BIND_SERVICE"],
        "effective": ["CAP_KILL", "CAP_NET_BIND_SERVICE"],
        "inheritable": ["CAP_NET_BIND_SERVICE"],
        "ambient": ["CAP_NET_BIND_SERVICE"]
    });
    let spec = Spec::new()
        .set("/process/capabilities", caps)
        .set("/process/user", user_json(1000, 1000));
    let status = proc_status(&h, spec);
    let amb = cap_mask(&[CAP_NET_BIND_SERVICE]);
    assert_eq!(
        status_field(&status, "CapBnd"),
        cap_mask(&[CAP_KILL, CAP_NET_BIND_SERVICE])
    );
    assert_eq!(status_field(&status, "CapPrm"), amb);
    assert_eq!(status_field(&status, "CapEff"), amb);
    assert_eq!(status_field(&status, "CapAmb"), amb);
}

#[test]
fn no_new_privileges_flag() {
    let h = Harness::new("no_new_privs");
    for (flag, want) in [(true, "1"), (false, "0")] {
        let status = proc_status(&h, Spec::new().set("/process/noNewPrivileges", json!(flag)));
        assert_eq!(
            status_field(&status, "NoNewPrivs"),
            want,
            "noNewPrivileges {flag}"
        );
    }
}

#[test]
fn rlimits_are_applied() {
    // Values below the test's own limits: raising a hard limit would need
    // CAP_SYS_RESOURCE, which this machine's bounding set lacks.
    let h = Harness::new("rlimits");
    let rlimits = json!([
        { "type": "RLIMIT_NOFILE", "soft": 321, "hard": 654 },
        { "type": "RLIMIT_CORE", "soft": 0, "hard": 4096 }
    ]);
    let out = h.run_ok(
        &Spec::new()
            .set("/process/rlimits", rlimits)
            .sh("ulimit -n; ulimit -Hn; cat /proc/self/limits"),
    );
    let lines = out.lines().collect::<Vec<_>>();
    assert_eq!(lines[..2], ["321", "654"], "{out}");
    let limit = |name: &str| {
        lines
            .iter()
            .find(|l| l.starts_with(name))
            .unwrap_or_else(|| panic!("no {name} in:\n{out}"))
            .split_whitespace()
            .collect::<Vec<_>>()
    };
    assert_eq!(limit("Max open files")[3..5], ["321", "654"], "{out}");
    assert_eq!(limit("Max core file size")[4..6], ["0", "4096"], "{out}");
}

/// Soft and hard value of `label` in /proc/self/limits text.
fn limits_line<'a>(limits: &'a str, label: &str) -> Vec<&'a str> {
    limits
        .lines()
        .find_map(|l| l.strip_prefix(label))
        .unwrap_or_else(|| panic!("no {label} in:\n{limits}"))
        .split_whitespace()
        .take(2)
        .collect()
}

/// A hard limit above the caller's, with a new user namespace, in `run` and in `exec`.
/// Raising a hard limit takes CAP_SYS_RESOURCE in the initial user namespace, which no
/// process inside the container's user namespace has: init and exec'd processes used to
/// set their rlimits themselves there and failed with EPERM. The runtime sets them now
/// (prlimit), with its own privileges, as runc does and as crun does before its clone.
#[test]
#[cfg_attr(
    ongi_test_no_cap_sys_resource,
    ignore = "this host's bounding set lacks CAP_SYS_RESOURCE: nothing here, runtime or \
              container, can raise a hard rlimit, so the user-namespace case cannot differ"
)]
fn raised_hard_limit_with_a_user_namespace() {
    let status = std::fs::read_to_string("/proc/self/status").expect("status");
    let eff = u64::from_str_radix(&status_field(&status, "CapEff"), 16).expect("CapEff");
    assert_ne!(
        eff & (1 << CAP_SYS_RESOURCE),
        0,
        "the test needs CAP_SYS_RESOURCE (built on a host whose bounding set has it)"
    );
    // A resource whose hard limit is finite here, raised by one page.
    let (name, label, hard) = [
        (
            "RLIMIT_MSGQUEUE",
            libc::RLIMIT_MSGQUEUE,
            "Max msgqueue size",
        ),
        ("RLIMIT_MEMLOCK", libc::RLIMIT_MEMLOCK, "Max locked memory"),
        (
            "RLIMIT_SIGPENDING",
            libc::RLIMIT_SIGPENDING,
            "Max pending signals",
        ),
    ]
    .into_iter()
    .find_map(|(name, res, label)| {
        let mut r = libc::rlimit {
            rlim_cur: 0,
            rlim_max: 0,
        };
        // SAFETY: `r` is a valid rlimit for getrlimit to fill.
        let ok = unsafe { libc::getrlimit(res, &mut r) } == 0;
        (ok && r.rlim_max < libc::RLIM_INFINITY / 2).then_some((name, label, r.rlim_max))
    })
    .expect("a resource with a finite hard limit");
    let want = (hard + 4096).to_string();
    let h = Harness::new("rlimit_userns");
    let spec = Spec::new().user_namespace(100_000, 65_536).set(
        "/process/rlimits",
        json!([{ "type": name, "soft": hard + 4096, "hard": hard + 4096 }]),
    );
    let out = h.run_ok(&spec.clone().args(&["cat", "/proc/self/limits"]));
    assert_eq!(
        limits_line(&out, label),
        [&want, &want],
        "run {name}:\n{out}"
    );
    let c = h.start(&spec.args(&["sleep", "100"]));
    let out = h.rt(&["exec", &c.id, "cat", "/proc/self/limits"]);
    assert!(out.ok(), "exec: {out}");
    assert_eq!(
        limits_line(&out.stdout, label),
        [&want, &want],
        "exec {name}:\n{out}"
    );
}

#[test]
fn oom_score_adj_is_applied() {
    let h = Harness::new("oom_score_adj");
    let out = h.run_ok(
        &Spec::new()
            .set("/process/oomScoreAdj", json!(100))
            .args(&["cat", "/proc/self/oom_score_adj"]),
    );
    assert_eq!(out, "100\n");
}

#[test]
fn sysctl_is_applied_in_container_namespace() {
    let h = Harness::new("sysctl");
    let path = "/proc/sys/net/ipv4/ip_forward";
    let read = |spec: Spec| h.run_ok(&spec.args(&["cat", path])).trim().to_string();
    let host_before = std::fs::read_to_string(path).expect("read host sysctl");
    // Whatever a fresh network namespace starts with, ask for the opposite.
    let initial = read(Spec::new());
    let want = if initial == "1" { "0" } else { "1" };
    let got = read(Spec::new().set("/linux/sysctl", json!({ "net.ipv4.ip_forward": want })));
    assert_eq!(got, want);
    let host_after = std::fs::read_to_string(path).expect("read host sysctl");
    assert_eq!(host_before, host_after, "the host's sysctl was changed");
}

#[test]
fn sigpipe_is_not_ignored_in_the_container() {
    // The runtime's ignored signals (Rust ignores SIGPIPE) must not survive execve. (The
    // test's own environment may ignore others; those are inherited with runc as well.)
    let h = Harness::new("sig_ign");
    let status = h.run_ok(&Spec::new().args(&["cat", "/proc/self/status"]));
    let ign = u64::from_str_radix(&status_field(&status, "SigIgn"), 16).expect("hex mask");
    assert_eq!(ign & (1 << (libc::SIGPIPE - 1)), 0, "SigIgn {ign:#x}");
}

/// `/proc/keys` with the default masks lifted, so the container can list its keyrings.
fn keys_spec() -> Spec {
    Spec::new()
        .set(
            "/linux/maskedPaths",
            serde_json::json!(["/proc/kcore", "/sys/firmware"]),
        )
        .args(&["cat", "/proc/keys"])
}

#[test]
fn new_session_keyring_per_container() {
    let h = Harness::new("keyring");
    let bundle = h.bundle(&keys_spec());
    let id = h.new_id();
    let out = h
        .rt(&["run", "--bundle", path_str(&bundle), &id])
        .expect_ok();
    assert!(
        out.stdout.contains(&format!("_ses.{id}")),
        "no session keyring named after the container:\n{out}"
    );
    let id2 = h.new_id();
    let out = h
        .rt(&[
            "run",
            "--no-new-keyring",
            "--bundle",
            path_str(&bundle),
            &id2,
        ])
        .expect_ok();
    assert!(
        !out.stdout.contains(&format!("_ses.{id2}")),
        "--no-new-keyring still made a keyring:\n{out}"
    );
}

/// `create` must fail naming `field`, leaving nothing behind.
#[track_caller]
fn create_fails_naming(h: &Harness, spec: &Spec, field: &str) {
    let bundle = h.bundle(spec);
    let id = h.new_id();
    let out = h
        .rt(&["create", "--bundle", path_str(&bundle), &id])
        .expect_fail();
    h.assert_no_trace(&id);
    assert!(
        out.stderr.contains(field),
        "error does not name {field}:\n{out}"
    );
}

#[test]
#[cfg_attr(ongi_test_runc, ignore = "runc 1.1.5 has no linux.personality")]
fn personality_linux32() {
    let h = Harness::new("personality");
    let out = h.run_ok(
        &Spec::new()
            .set("/linux/personality", json!({"domain": "LINUX32"}))
            .args(&["uname", "-m"]),
    );
    assert_eq!(out.trim(), "i686");
    let out = h.run_ok(
        &Spec::new()
            .set("/linux/personality", json!({"domain": "LINUX"}))
            .args(&["uname", "-m"]),
    );
    assert_eq!(out.trim(), "x86_64");
    create_fails_naming(
        &h,
        &Spec::new().set(
            "/linux/personality",
            json!({"domain": "LINUX", "flags": ["NOT_A_FLAG"]}),
        ),
        "linux.personality.flags",
    );
}

#[test]
#[cfg_attr(ongi_test_runc, ignore = "runc 1.1.5 has no process.scheduler")]
fn scheduler_policy_and_nice() {
    let h = Harness::new("scheduler");
    // /proc/self/sched shows the policy (SCHED_BATCH = 3); field 19 of stat is the nice.
    let out = h.run_ok(
        &Spec::new()
            .set(
                "/process/scheduler",
                json!({"policy": "SCHED_BATCH", "nice": 5}),
            )
            .sh("grep '^policy' /proc/self/sched; cut -d' ' -f19 /proc/self/stat"),
    );
    let lines: Vec<&str> = out.lines().collect();
    assert!(lines[0].ends_with(" 3"), "{out}");
    assert_eq!(lines[1], "5", "{out}");
    create_fails_naming(
        &h,
        &Spec::new().set("/process/scheduler", json!({"policy": "SCHED_FIFO"})),
        "process.scheduler.priority",
    );
}

#[test]
#[cfg_attr(ongi_test_runc, ignore = "runc 1.1.5 has no process.ioPriority")]
fn io_priority_is_set() {
    let h = Harness::new("ioprio");
    let c = h.start(
        &Spec::new()
            .set(
                "/process/ioPriority",
                json!({"class": "IOPRIO_CLASS_BE", "priority": 6}),
            )
            .args(&["sleep", "1000"]),
    );
    let pid = h.pid(&c.id);
    // SAFETY: ioprio_get(IOPRIO_WHO_PROCESS, pid) takes plain integers.
    let v = unsafe { libc::syscall(libc::SYS_ioprio_get, 1, pid) };
    assert_eq!(v, 2 << 13 | 6, "ioprio of {pid}");
    // assert_no_trace below looks for any live process of this test.
    h.rt(&["delete", "--force", &c.id]).expect_ok();
    create_fails_naming(
        &h,
        &Spec::new().set(
            "/process/ioPriority",
            json!({"class": "IOPRIO_CLASS_BE", "priority": 9}),
        ),
        "process.ioPriority.priority",
    );
}

#[test]
#[cfg_attr(ongi_test_runc, ignore = "runc's error text differs")]
fn intel_rdt_is_refused_and_lsm_labels_ignored() {
    let h = Harness::new("rdt");
    if !std::fs::read_to_string("/proc/self/mountinfo")
        .unwrap()
        .contains(" - resctrl ")
    {
        create_fails_naming(
            &h,
            &Spec::new().set(
                "/linux/intelRdt",
                json!({"closID": "x", "l3CacheSchema": "L3:0=f"}),
            ),
            "linux.intelRdt",
        );
    }
    // Neither SELinux nor AppArmor is enabled here: ignored, as runc does.
    if !std::path::Path::new("/sys/fs/selinux/enforce").exists()
        && !std::path::Path::new("/sys/module/apparmor/parameters/enabled").exists()
    {
        let out = h.run_ok(
            &Spec::new()
                .set("/process/apparmorProfile", json!("some-profile"))
                .set(
                    "/process/selinuxLabel",
                    json!("system_u:system_r:container_t:s0"),
                )
                .set(
                    "/linux/mountLabel",
                    json!("system_u:object_r:container_file_t:s0"),
                )
                .args(&["echo", "ok"]),
        );
        assert_eq!(out, "ok\n");
    }
}
#[test]
fn non_root_inheritable_not_a_subset_of_permitted() {
    // Regression: permitted was written before inheritable (separate capsets), so the kernel
    // refused an inheritable set wider than the new permitted one ("set inheritable: EPERM").
    let h = Harness::new("nonroot_inh");
    let bnd = [CAP_CHOWN, CAP_KILL, CAP_NET_BIND_SERVICE];
    let inh = [CAP_CHOWN, CAP_KILL, CAP_NET_BIND_SERVICE];
    let amb = [CAP_KILL, CAP_NET_BIND_SERVICE];
    let caps = json!({
        "bounding": ["CAP_CHOWN", "CAP_KILL", "CAP_NET_BIND_SERVICE"],
        "inheritable": ["CAP_CHOWN", "CAP_KILL", "CAP_NET_BIND_SERVICE"],
        "permitted": ["CAP_KILL", "CAP_NET_BIND_SERVICE"],
        "effective": ["CAP_KILL", "CAP_NET_BIND_SERVICE"],
        "ambient": ["CAP_KILL", "CAP_NET_BIND_SERVICE"]
    });
    let spec = Spec::new()
        .set("/process/capabilities", caps)
        .set("/process/user", user_json(1000, 1000));
    let status = proc_status(&h, spec);
    assert_eq!(status_field(&status, "CapBnd"), cap_mask(&bnd));
    assert_eq!(status_field(&status, "CapInh"), cap_mask(&inh));
    assert_eq!(status_field(&status, "CapPrm"), cap_mask(&amb));
    assert_eq!(status_field(&status, "CapEff"), cap_mask(&amb));
    assert_eq!(status_field(&status, "CapAmb"), cap_mask(&amb));
}

#[test]
#[cfg_attr(
    ongi_test_runc,
    ignore = "runc 1.1.5 drops unknown capability names with a warning"
)]
fn unknown_capability_is_refused() {
    // A name no kernel has is a mistake in the config: refused naming the field and the
    // name, nothing made (crun and youki refuse it too; runc 1.1.5 warns and drops it).
    let h = Harness::new("unknown_cap");
    let set = json!(["CAP_KILL", "CAP_ONGI_TEST_UNKNOWN"]);
    let spec = Spec::new()
        .set(
            "/process/capabilities",
            json!({"bounding": ["CAP_KILL"], "permitted": set, "effective": ["CAP_KILL"]}),
        )
        .args(&["true"]);
    let bundle = h.bundle(&spec);
    let id = h.new_id();
    let out = h
        .rt(&["run", "--bundle", path_str(&bundle), &id])
        .expect_fail();
    assert!(
        out.stderr.contains("process.capabilities.permitted")
            && out.stderr.contains("CAP_ONGI_TEST_UNKNOWN"),
        "{out}"
    );
    h.assert_no_trace(&id);
}
