//! Hostile config.json content: limits that starve init of fds, fields of the wrong type,
//! NUL bytes, mount destinations that resolve to the container's root or race with a
//! symlink swap. Each must fail `create` with a clear error (or succeed correctly) and leave
//! nothing behind.

mod common;

use common::*;
use serde_json::json;
use std::os::unix::fs::symlink;
use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

/// `create` of `bundle` under a fresh id must fail, leaving no state dir, process or
/// cgroup; returns the failed invocation.
#[track_caller]
fn create_fails(h: &Harness, bundle: &Path) -> Output {
    let id = h.new_id();
    let out = h
        .rt(&["create", "--bundle", path_str(bundle), &id])
        .expect_fail();
    h.assert_no_trace(&id);
    let cgroups = cgroup_dirs_named(&id);
    assert!(
        cgroups.is_empty(),
        "cgroups left behind: {cgroups:?}\n{out}"
    );
    out
}

/// RLIMIT_NOFILE 3 leaves init (which holds more than fds 0-2) no fd for the exec fifo:
/// `create` used to exit 0 while init died after Ready.
#[test]
fn nofile_limit_too_low_fails_create() {
    let h = Harness::new("nofile_low");
    for limit in [3, 1] {
        let spec = Spec::new().sh("true").set(
            "/process/rlimits",
            json!([{"type": "RLIMIT_NOFILE", "soft": limit, "hard": limit}]),
        );
        let out = create_fails(&h, &h.bundle(&spec));
        if !is_runc() {
            assert!(
                out.stderr.contains("RLIMIT_NOFILE") && out.stderr.contains("exec fifo"),
                "{out}"
            );
        }
    }
}

/// A field of the wrong type is named by its JSON path (runc names it too).
#[test]
fn type_errors_name_the_field() {
    let h = Harness::new("type_errors");
    for (pointer, value, field) in [
        ("/process/user/uid", json!(-1), "process.user.uid"),
        (
            "/linux/resources/memory/limit",
            json!("lots"),
            "linux.resources.memory.limit",
        ),
        ("/process/args", json!(7), "process.args"),
        ("/process/env/1", json!(false), "process.env"),
        ("/mounts/1/options/0", json!(1), "mounts"),
    ] {
        let out = create_fails(&h, &h.bundle(&Spec::new().set(pointer, value)));
        assert!(
            out.stderr.contains(field),
            "{pointer}: {field} not named:\n{out}"
        );
    }
    // Array positions are named too (ongi's own format).
    if !is_runc() {
        let spec = Spec::new().set("/mounts/1/options/0", json!(1));
        let out = create_fails(&h, &h.bundle(&spec));
        assert!(out.stderr.contains("mounts[1].options[0]"), "{out}");
    }
}

/// NUL bytes (and other control characters) from config.json never reach the terminal raw.
#[test]
fn nul_bytes_are_escaped_in_errors() {
    let h = Harness::new("nul_bytes");
    let cases = [
        Spec::new().namespace("pid\u{0}\u{1b}[2J", None),
        Spec::new().tmpfs("rel\u{0}x", &[]).tmpfs("/x\u{0}y", &[]),
        Spec::new().set("/process/cwd", json!("tmp\u{0}x")),
        Spec::new().args(&["sh\u{0}x"]),
    ];
    for spec in cases {
        let out = create_fails(&h, &h.bundle(&spec));
        assert!(
            !out.stderr.contains('\0') && !out.stderr.contains('\u{1b}'),
            "raw control character on stderr:\n{:?}",
            out.stderr
        );
        if !is_runc() {
            assert!(
                out.stderr.contains("\\0") || out.stderr.contains("\\u{0}"),
                "NUL not shown escaped:\n{:?}",
                out.stderr
            );
        }
    }
}

/// A tmpfs whose destination is a symlink to "/" would cover the container's root.
#[test]
fn mount_on_symlink_to_root_is_refused() {
    let h = Harness::new("mount_on_root");
    for (link, target) in [("/rootlink", "/"), ("/dotdot", "../../.."), ("/self", ".")] {
        let spec = Spec::new().sh("true").tmpfs(link, &[]);
        let bundle = h.bundle(&spec);
        let rootfs = bundle.join("rootfs");
        symlink(target, rootfs.join(&link[1..])).expect("symlink");
        let out = create_fails(&h, &bundle);
        assert!(out.stderr.contains(link), "{link} not named:\n{out}");
        // The bundle's rootfs is untouched (nothing was mounted over it on the host side).
        assert!(rootfs.join("bin/busybox").exists(), "{out}");
    }
    // The plain destination "/" too.
    let out = create_fails(&h, &h.bundle(&Spec::new().sh("true").tmpfs("/", &[])));
    if !is_runc() {
        assert!(out.stderr.contains("container's root"), "{out}");
    }
}

/// openat2(RESOLVE_IN_ROOT) returns EAGAIN when a rename runs during a `..` lookup. A
/// symlink under the mount destination is swapped continuously: every create must succeed
/// with the mount inside the rootfs.
#[test]
fn mount_target_resolution_retries_on_rename_race() {
    let h = Harness::new("resolve_race");
    let bundle = h.bare_bundle();
    let rootfs = bundle.join("rootfs");
    // Ten mounts per container, each resolved through `..` and the swapped symlink: without
    // the retry about 40% of the runs failed with EAGAIN here.
    const MOUNTS: usize = 10;
    for i in 0..MOUNTS {
        for d in ["a", "b"] {
            std::fs::create_dir_all(rootfs.join(format!("{d}/m{i}"))).expect("mkdir");
        }
    }
    symlink("a/../a/../a", rootfs.join("s")).expect("symlink");
    // The container checks that every tmpfs landed on /a/mN or /b/mN of its own root.
    let mut spec = Spec::new().sh(&format!(
        "n=$(grep -cE '^[0-9]+ [0-9]+ [^ ]+ / /(a|b)/m[0-9] ' /proc/self/mountinfo); \
         [ \"$n\" = {MOUNTS} ] || exit 3"
    ));
    for i in 0..MOUNTS {
        spec = spec.tmpfs(&format!("/s/../s/../s/../s/m{i}"), &[]);
    }
    h.write_config(&bundle, &spec);

    let stop = Arc::new(AtomicBool::new(false));
    // One syscall per swap: `s` and `t` trade places (RENAME_EXCHANGE), so `s` is always
    // there and alternately leads to /a and /b.
    symlink("b/../b/../b", rootfs.join("t")).expect("symlink");
    let swapper = {
        let stop = stop.clone();
        let dir = std::fs::File::open(&rootfs).expect("open rootfs");
        std::thread::spawn(move || {
            use std::os::fd::AsRawFd;
            let mut n = 0u64;
            while !stop.load(Ordering::Relaxed) {
                // SAFETY: plain syscall on an fd we own and two NUL-terminated names.
                let r = unsafe {
                    libc::renameat2(
                        dir.as_raw_fd(),
                        c"s".as_ptr(),
                        dir.as_raw_fd(),
                        c"t".as_ptr(),
                        libc::RENAME_EXCHANGE,
                    )
                };
                assert_eq!(r, 0, "renameat2: {}", std::io::Error::last_os_error());
                n += 1;
            }
            n
        })
    };
    let mut failures = Vec::new();
    let mut eagain = 0;
    const RUNS: usize = 120;
    for _ in 0..RUNS {
        let out = h.run_bundle(&bundle);
        if !out.ok() {
            if out.stderr.contains("EAGAIN") || out.stderr.contains("temporarily unavailable") {
                eagain += 1;
            }
            failures.push(out);
        }
    }
    stop.store(true, Ordering::Relaxed);
    let swaps = swapper.join().expect("swapper");
    assert!(swaps > 1000, "the symlink was swapped only {swaps} times");
    // A failure must be a clear error, never an escape (exit 3: mount not inside the root).
    for f in &failures {
        assert_ne!(f.code(), Some(3), "mount landed outside the rootfs:\n{f}");
    }
    assert!(
        eagain == 0 && failures.len() <= RUNS / 50,
        "{} of {RUNS} runs failed ({eagain} with EAGAIN); first:\n{:?}",
        failures.len(),
        failures.first()
    );
}
