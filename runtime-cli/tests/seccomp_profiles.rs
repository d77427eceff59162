//! Real-world seccomp profiles (tests/data/seccomp, see its README): Docker's default (current
//! and a mid-2020 one, before close_range, openat2 and faccessat2 were listed), containerd's,
//! podman's (containers/common) and a recorded-style allow list (what runc 1.1.5 needs after
//! loading the filter, plus what busybox `true`, `sh -c` and `sleep` made). Each runs with
//! noNewPrivileges true and false, as root and as an unprivileged user with supplementary
//! groups and a cwd, in `run` and in `exec`: whatever init or the exec'd process does after
//! the filter is loaded must be something such a profile allows. runc 1.1.5 runs all of them.

mod common;
#[path = "data/seccomp/profiles.rs"]
mod profiles;

use common::*;
use profiles::Profile;
use serde_json::{json, Value};

const BOUNDING: &[&str] = &["CAP_AUDIT_WRITE", "CAP_KILL", "CAP_NET_BIND_SERVICE"];

/// The ways a process is set up around the filter: with no_new_privs it is loaded last,
/// without it before the capabilities are dropped and the user is switched.
struct Variant {
    name: &'static str,
    nnp: bool,
    /// uid/gid 1000 with a supplementary group and cwd /home/u instead of root in /.
    user: bool,
}

const VARIANTS: &[Variant] = &[
    Variant {
        name: "nnp",
        nnp: true,
        user: false,
    },
    Variant {
        name: "no-nnp",
        nnp: false,
        user: false,
    },
    Variant {
        name: "no-nnp user 1000",
        nnp: false,
        user: true,
    },
];

fn spec(seccomp: &Value, v: &Variant) -> Spec {
    let mut s = Spec::new()
        .set("/linux/seccomp", seccomp.clone())
        .set("/process/noNewPrivileges", json!(v.nnp));
    if v.user {
        // The user switch (setgroups, setgid, setuid, capset) and the cwd may come after
        // the filter: the process must end up as uid 1000 in its own mode-700 directory.
        s = s
            .set(
                "/process/user",
                json!({ "uid": 1000, "gid": 1000, "additionalGids": [10] }),
            )
            .set("/process/cwd", json!("/home/u"))
            .mount(json!({
                "destination": "/home/u", "type": "tmpfs", "source": "tmpfs",
                "options": ["mode=700", "uid=1000", "gid=1000"]
            }));
    }
    s
}

/// `sh -c` prints where and who it is and the seccomp mode, with shell builtins only (no
/// fork: the recorded profile has no wait4).
const REPORT: &str = "echo ok $PWD; while read -r k v; do case $k in \
    Seccomp:|NoNewPrivs:|Uid:|Groups:) echo $k$v;; esac; done </proc/self/status";

fn check_report(out: &str, v: &Variant, what: &str) {
    assert!(out.contains("ok "), "{what}: {out}");
    let want_dir = if v.user { "/home/u" } else { "/" };
    assert!(
        out.lines().any(|l| l == format!("ok {want_dir}")),
        "{what}: cwd should be {want_dir}: {out}"
    );
    assert!(
        out.contains("Seccomp:2"),
        "{what}: filter not loaded: {out}"
    );
    let nnp = if v.nnp {
        "NoNewPrivs:1"
    } else {
        "NoNewPrivs:0"
    };
    assert!(out.contains(nnp), "{what}: {out}");
    let (uid, groups) = if v.user {
        ("Uid:1000 1000 1000 1000", "Groups:10")
    } else {
        ("Uid:0 0 0 0", "Groups:")
    };
    assert!(out.lines().any(|l| l == uid), "{what}: want {uid}: {out}");
    assert!(
        out.lines().any(|l| l == groups),
        "{what}: want {groups}: {out}"
    );
}

/// Runs every variant of `seccomp` through `run` (sh -c and true) and `exec` (into a
/// running `sleep` with the same profile).
fn exercise(label: &str, seccomp: &Value) {
    let h = Harness::new(&format!("scp_{}", label.replace('-', "_")));
    for v in VARIANTS {
        let what = format!("{label} {} run", v.name);
        let out = h.run(&spec(seccomp, v).sh(REPORT));
        assert!(out.ok(), "{what}: {out}");
        check_report(&out.stdout, v, &what);
        let out = h.run(&spec(seccomp, v).args(&["true"]));
        assert!(out.ok(), "{what} true: {out}");

        let what = format!("{label} {} exec", v.name);
        let c = h.start(&spec(seccomp, v).args(&["sleep", "1000"]));
        let out = h.rt(&["exec", &c.id, "sh", "-c", REPORT]);
        assert!(out.ok(), "{what}: {out}");
        check_report(&out.stdout, v, &what);
        let out = h.rt(&["exec", &c.id, "true"]);
        assert!(out.ok(), "{what} true: {out}");
        h.rt(&["delete", "--force", &c.id]).expect_ok();
    }
}

fn exercise_profile(p: &Profile) {
    exercise(p.label, &p.linux_seccomp(BOUNDING));
}

#[test]
fn docker_default_current() {
    exercise_profile(&profiles::DOCKER);
}

/// Defect: before close_range, openat2 and faccessat2 were in Docker's profile, init failed
/// without no_new_privs with "close_range /proc/self/fd: EPERM".
#[test]
fn docker_default_2020() {
    exercise_profile(&profiles::DOCKER_2020);
}

#[test]
fn containerd_default() {
    exercise_profile(&profiles::CONTAINERD);
}

#[test]
fn podman_containers_common() {
    exercise_profile(&profiles::PODMAN);
}

/// Defect: a recorded profile lists exactly what the workload (and runc) used; init needed
/// close_range, getcwd and setresuid/setresgid after loading it.
#[test]
fn recorded_busybox() {
    exercise_profile(&profiles::RECORDED_BUSYBOX);
}
