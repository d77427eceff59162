//! Root filesystem, mounts, devices, masked and read-only paths.

mod common;

use common::*;
use serde_json::json;
use std::fs;

/// Mounts as seen by a process running with `spec`.
fn mounts_in(h: &Harness, spec: Spec) -> Vec<MountInfo> {
    parse_mountinfo(&h.run_ok(&spec.args(&["cat", "/proc/self/mountinfo"])))
}

#[test]
fn root_is_the_bundle_rootfs() {
    let h = Harness::new("root_is_rootfs");
    let spec = Spec::new()
        .sh("cat /ongi-marker; test -e /usr && echo host-usr-visible; cat /proc/self/mountinfo");
    let bundle = h.bundle(&spec);
    write_file(&bundle.join("rootfs/ongi-marker"), "in-rootfs\n");
    let out = h.run_bundle(&bundle).expect_ok().stdout;
    let (first, mountinfo) = out.split_once('\n').unwrap();
    assert_eq!(first, "in-rootfs", "{out}");
    assert!(
        !out.contains("host-usr-visible"),
        "host /usr visible:\n{out}"
    );
    let root = mount_at(&parse_mountinfo(mountinfo), "/").clone();
    let rootfs = fs::canonicalize(bundle.join("rootfs")).unwrap();
    // The mount's root is the rootfs directory's path within its filesystem,
    // a suffix of its host path.
    assert!(
        path_str(&rootfs).ends_with(&root.root) && root.root.ends_with("/rootfs"),
        "/ is {root:?}, expected {}",
        rootfs.display()
    );
}

#[test]
fn readonly_root() {
    let h = Harness::new("readonly_root");
    let out = h.run(&Spec::new().sh("touch /x")).expect_fail();
    assert!(out.stderr.contains("Read-only file system"), "{out}");

    let bundle = h.bundle(
        &Spec::new()
            .set("/root/readonly", json!(false))
            .sh("touch /x"),
    );
    h.run_bundle(&bundle).expect_ok();
    assert!(bundle.join("rootfs/x").exists(), "write to a rw root lost");
}

#[test]
fn default_mounts() {
    let h = Harness::new("default_mounts");
    let mounts = mounts_in(&h, Spec::new());
    for (point, fs_type) in [
        ("/proc", "proc"),
        ("/dev", "tmpfs"),
        ("/dev/pts", "devpts"),
        ("/dev/shm", "tmpfs"),
        ("/dev/mqueue", "mqueue"),
        ("/sys", "sysfs"),
    ] {
        assert_eq!(mount_at(&mounts, point).fs_type, fs_type, "{point}");
    }
    let sys = mount_at(&mounts, "/sys");
    assert!(sys.mount_options.iter().any(|o| o == "ro"), "{sys:?}");
    let shm = mount_at(&mounts, "/dev/shm");
    for opt in ["nosuid", "noexec", "nodev"] {
        assert!(shm.has_option(opt), "/dev/shm lacks {opt}: {shm:?}");
    }
    assert!(
        mounts
            .iter()
            .any(|m| m.mount_point.starts_with("/sys/fs/cgroup")),
        "no cgroup mount: {mounts:#?}"
    );
}

#[test]
fn tmpfs_mount_with_options() {
    let h = Harness::new("tmpfs_mount");
    let spec = Spec::new()
        .tmpfs("/data", &["nosuid", "nodev", "mode=700", "size=1m"])
        .sh("stat -c %a /data; echo x > /data/f && cat /data/f; cat /proc/self/mountinfo");
    let out = h.run_ok(&spec);
    let mut lines = out.lines();
    assert_eq!(lines.next(), Some("700"), "{out}");
    assert_eq!(lines.next(), Some("x"), "tmpfs not writable:\n{out}");
    let mounts = parse_mountinfo(&out);
    let data = mount_at(&mounts, "/data");
    assert_eq!(data.fs_type, "tmpfs");
    for opt in ["nosuid", "nodev", "size=1024k", "mode=700"] {
        assert!(data.has_option(opt), "/data lacks {opt}: {data:?}");
    }
}

#[test]
fn bind_mount_rw_and_ro() {
    let h = Harness::new("bind_mount");
    let host = h.dir("host");
    write_file(&host.join("from-host"), "hello\n");

    let rw = Spec::new()
        .bind(&host, "/mnt/rw", &[])
        .sh("cat /mnt/rw/from-host; echo hi > /mnt/rw/from-container");
    assert_eq!(h.run_ok(&rw), "hello\n");
    assert_eq!(
        read_opt(&host.join("from-container")).as_deref(),
        Some("hi\n")
    );

    let ro = Spec::new()
        .bind(&host, "/mnt/ro", &["ro"])
        .sh("cat /mnt/ro/from-host; echo hi > /mnt/ro/blocked");
    let out = h.run(&ro).expect_fail();
    assert_eq!(out.stdout, "hello\n", "{out}");
    assert!(out.stderr.contains("Read-only file system"), "{out}");
    assert!(!host.join("blocked").exists());
}

#[test]
fn bind_mount_of_a_file_creates_the_destination() {
    let h = Harness::new("bind_file");
    let host = h.dir("host");
    let file = host.join("conf");
    write_file(&file, "config-data\n");
    let spec = Spec::new()
        .bind(&file, "/etc/app/app.conf", &["ro"])
        .args(&["cat", "/etc/app/app.conf"]);
    assert_eq!(h.run_ok(&spec), "config-data\n");
}

#[test]
fn default_devices() {
    let h = Harness::new("default_devices");
    let devices = [
        ("null", "1,3"),
        ("zero", "1,5"),
        ("full", "1,7"),
        ("random", "1,8"),
        ("urandom", "1,9"),
        ("tty", "5,0"),
    ];
    let script = devices
        .iter()
        .map(|(d, _)| format!("stat -c '%n %F %t,%T %a' /dev/{d}"))
        .chain(
            ["fd", "stdin", "stdout", "stderr", "ptmx"]
                .iter()
                .map(|l| format!("echo /dev/{l} $(readlink /dev/{l})")),
        )
        .chain([
            "echo discard > /dev/null && echo null-ok".to_string(),
            "head -c 5 /dev/zero | wc -c".to_string(),
        ])
        .collect::<Vec<_>>()
        .join("; ");
    let out = h.run_ok(&Spec::new().sh(&script));
    let mut want: Vec<String> = devices
        .iter()
        .map(|(d, nums)| format!("/dev/{d} character special file {nums} 666"))
        .collect();
    want.extend([
        "/dev/fd /proc/self/fd".into(),
        "/dev/stdin /proc/self/fd/0".into(),
        "/dev/stdout /proc/self/fd/1".into(),
        "/dev/stderr /proc/self/fd/2".into(),
        "/dev/ptmx pts/ptmx".into(),
        "null-ok".into(),
        "5".into(),
    ]);
    let got: Vec<String> = out.lines().map(|l| l.trim().to_string()).collect();
    assert_eq!(got, want, "{out}");
}

#[test]
fn linux_devices_are_created() {
    let h = Harness::new("linux_devices");
    let device = json!({
        "path": "/dev/mydev", "type": "c", "major": 1, "minor": 7,
        "fileMode": 438, "uid": 1000, "gid": 1000
    });
    let spec = Spec::new().set("/linux/devices", json!([device])).args(&[
        "stat",
        "-c",
        "%F %t %T %a %u:%g",
        "/dev/mydev",
    ]);
    assert_eq!(
        h.run_ok(&spec),
        "character special file 1 7 666 1000:1000\n"
    );
}

#[test]
fn masked_paths() {
    let h = Harness::new("masked_paths");
    // /proc/kcore does not exist on this kernel; /proc/timer_list is a
    // non-empty, root-readable file of the default mask list.
    let host_timer_list = fs::read("/proc/timer_list").expect("read /proc/timer_list");
    assert!(!host_timer_list.is_empty());

    let mut masked = Spec::new().0["linux"]["maskedPaths"].clone();
    let list = masked.as_array_mut().unwrap();
    list.push(json!("/secret-dir"));
    list.push(json!("/secret-file"));
    // A rw root, so that only the mask can make /secret-dir read-only.
    let spec = Spec::new()
        .set("/root/readonly", json!(false))
        .set("/linux/maskedPaths", masked)
        .sh("echo timer_list $(cat /proc/timer_list | wc -c); \
             echo secret-file $(cat /secret-file | wc -c); \
             echo secret-dir $(ls -A /secret-dir | wc -l); \
             touch /secret-dir/new 2>/dev/null && echo secret-dir-writable; \
             true");
    let bundle = h.bundle(&spec);
    fs::create_dir(bundle.join("rootfs/secret-dir")).unwrap();
    write_file(&bundle.join("rootfs/secret-dir/data"), "secret\n");
    write_file(&bundle.join("rootfs/secret-file"), "secret\n");
    let out = h.run_bundle(&bundle).expect_ok().stdout;
    assert_eq!(
        out.lines().collect::<Vec<_>>(),
        ["timer_list 0", "secret-file 0", "secret-dir 0"],
        "{out}"
    );
}

#[test]
fn readonly_paths() {
    let h = Harness::new("readonly_paths");
    let host = h.dir("host");
    write_file(&host.join("f"), "readable\n");
    let mut ro = Spec::new().0["linux"]["readonlyPaths"].clone();
    ro.as_array_mut().unwrap().push(json!("/host"));
    let spec = Spec::new()
        .bind(&host, "/host", &[])
        .set("/linux/readonlyPaths", ro)
        .sh("cat /host/f; \
             echo x > /host/new || echo host-ro; \
             echo 1 > /proc/sys/kernel/ns_last_pid || echo proc-sys-ro");
    let out = h.run(&spec).expect_ok();
    assert_eq!(out.lines(), ["readable", "host-ro", "proc-sys-ro"], "{out}");
    assert_eq!(
        out.stderr.matches("Read-only file system").count(),
        2,
        "{out}"
    );
    assert!(!host.join("new").exists());
}

#[test]
fn symlinked_mount_destination_stays_inside_rootfs() {
    let h = Harness::new("symlink_escape");
    let outside = h.work().join("outside");
    let outside_abs = h.work().join("outside-abs");
    let script = "echo data > /evil/f && echo data > /evil-abs/f && cat /proc/self/mountinfo";
    let spec = Spec::new()
        .tmpfs("/evil", &[])
        .tmpfs("/evil-abs", &[])
        .sh(script);
    let bundle = h.bundle(&spec);
    let rootfs = bundle.join("rootfs");
    // A relative link with enough ".." to reach the host's / from the
    // rootfs, and an absolute one.
    let relative = format!("../../../../../../../..{}", path_str(&outside));
    std::os::unix::fs::symlink(&relative, rootfs.join("evil")).unwrap();
    std::os::unix::fs::symlink(&outside_abs, rootfs.join("evil-abs")).unwrap();

    let out = h.run_bundle(&bundle).expect_ok().stdout;
    assert!(
        !outside.exists(),
        "{} created on the host",
        outside.display()
    );
    assert!(
        !outside_abs.exists(),
        "{} created on the host",
        outside_abs.display()
    );
    // The links resolve inside the rootfs, where the tmpfs mounts landed.
    let mounts = parse_mountinfo(&out);
    for target in [&outside, &outside_abs] {
        let m = mount_at(&mounts, path_str(target));
        assert_eq!(m.fs_type, "tmpfs");
        let in_rootfs = rootfs.join(target.strip_prefix("/").unwrap());
        assert!(in_rootfs.is_dir(), "{} missing", in_rootfs.display());
        assert!(
            !in_rootfs.join("f").exists(),
            "write went to the rootfs dir, not the tmpfs"
        );
    }
}

#[test]
fn no_pivot_runs_container() {
    let h = Harness::new("no_pivot");
    let host = h.dir("host");
    let spec = Spec::new()
        .bind(&host, "/host", &[])
        .sh("{ test -e /usr && echo host-usr-visible; echo $$; } > /host/out");
    let ctr = h.create_with(&spec, &["--no-pivot"]);
    h.rt(&["start", &ctr.id]).expect_ok();
    h.wait_status(&ctr.id, "stopped");
    assert_eq!(read_opt(&host.join("out")).as_deref(), Some("1\n"));
}

#[test]
fn nosymfollow_is_a_mount_flag() {
    // Regression: passed to tmpfs as data, which fails the mount with EINVAL.
    let h = Harness::new("nosymfollow");
    let m = mounts_in(&h, Spec::new().tmpfs("/mnt/t", &["nosymfollow"]));
    let t = mount_at(&m, "/mnt/t");
    assert!(t.has_option("nosymfollow"), "{t:?}");
}

#[test]
fn rro_makes_submounts_readonly() {
    // config.md mount option rro: recursive read-only (mount_setattr AT_RECURSIVE).
    let h = Harness::new("rro");
    let src = h.dir("rro-src");
    fs::create_dir_all(src.join("sub")).unwrap();
    let spec = Spec::new()
        .mount(
            json!({"destination": "/data", "type": "bind", "source": src,
                      "options": ["rbind", "rro"]}),
        )
        .tmpfs("/data/sub", &[])
        .sh("touch /data/x 2>/dev/null && echo top-writable; cat /proc/self/mountinfo");
    let out = h.run_ok(&spec);
    assert!(!out.contains("top-writable"), "{out}");
    let m = parse_mountinfo(&out);
    assert!(mount_at(&m, "/data").has_option("ro"), "{out}");
    // The tmpfs mounted after the bind is not covered; rro covers what the bind brought.
    let src2 = h.dir("rro-src2");
    fs::create_dir_all(src2.join("sub")).unwrap();
    let sub = src2.join("sub");
    nix::mount::mount(
        Some("tmpfs"),
        &sub,
        Some("tmpfs"),
        nix::mount::MsFlags::empty(),
        None::<&str>,
    )
    .expect("mount tmpfs under the bind source");
    let spec = Spec::new()
        .mount(
            json!({"destination": "/data", "type": "bind", "source": src2,
                      "options": ["rbind", "rro"]}),
        )
        .sh("touch /data/sub/y 2>/dev/null && echo sub-writable; echo checked");
    let out = h.run(&spec);
    let _ = nix::mount::umount2(&sub, nix::mount::MntFlags::MNT_DETACH);
    let out = out.expect_ok();
    assert!(out.stdout.contains("checked"), "{out}");
    assert!(!out.stdout.contains("sub-writable"), "{out}");
}

#[test]
fn relative_mount_destination_is_relative_to_root() {
    // config.md: destination MAY be relative, interpreted as relative to "/".
    let h = Harness::new("relative_dest");
    let m = mounts_in(
        &h,
        Spec::new().mount(json!({"destination": "mnt/rel", "type": "tmpfs", "source": "tmpfs"})),
    );
    assert_eq!(mount_at(&m, "/mnt/rel").fs_type, "tmpfs");
}

#[test]
#[cfg_attr(
    ongi_test_runc,
    ignore = "runc 1.1.5 silently accepts a mismatching file at a linux.devices path"
)]
fn existing_file_at_device_path_is_an_error() {
    // config-linux.md devices: "If a file already exists at path that does not match the
    // requested device, the runtime MUST generate an error". runc 1.1.5 replaces it.
    let h = Harness::new("dev_mismatch");
    let bundle = h.bare_bundle();
    write_file(&bundle.join("rootfs/etc/conf-dev"), "a regular file");
    let spec = Spec::new()
        .set("/root/readonly", json!(false))
        .set(
            "/linux/devices",
            json!([{"path": "/etc/conf-dev", "type": "c", "major": 1, "minor": 3}]),
        )
        .args(&["true"]);
    h.write_config(&bundle, &spec);
    let id = h.new_id();
    let out = h
        .rt(&["create", "--bundle", path_str(&bundle), &id])
        .expect_fail();
    assert!(
        out.stderr.contains("/etc/conf-dev"),
        "names the path:\n{out}"
    );
    h.assert_no_trace(&id);
    // The requested device already there is fine.
    let bundle = h.bare_bundle();
    nix::sys::stat::mknod(
        &bundle.join("rootfs/etc/conf-null"),
        nix::sys::stat::SFlag::S_IFCHR,
        nix::sys::stat::Mode::from_bits_truncate(0o666),
        nix::sys::stat::makedev(1, 3),
    )
    .expect("mknod in the rootfs");
    let spec = Spec::new()
        .set("/root/readonly", json!(false))
        .set(
            "/linux/devices",
            json!([{"path": "/etc/conf-null", "type": "c", "major": 1, "minor": 3}]),
        )
        .args(&["stat", "-c", "%t:%T", "/etc/conf-null"]);
    h.write_config(&bundle, &spec);
    let out = h.run_bundle(&bundle).expect_ok();
    assert_eq!(out.stdout, "1:3\n");
}

/// A directory bind-mounted on itself and made shared (as a host with systemd has them),
/// unmounted again on drop.
struct SharedDir(std::path::PathBuf);

impl SharedDir {
    fn new(path: std::path::PathBuf) -> Self {
        use nix::mount::{mount, MsFlags};
        mount(
            Some(&path),
            &path,
            None::<&str>,
            MsFlags::MS_BIND,
            None::<&str>,
        )
        .expect("bind shared dir");
        let d = SharedDir(path);
        mount(
            None::<&str>,
            &d.0,
            None::<&str>,
            MsFlags::MS_SHARED,
            None::<&str>,
        )
        .expect("make shared");
        d
    }
}

impl Drop for SharedDir {
    fn drop(&mut self) {
        let _ = nix::mount::umount2(&self.0, nix::mount::MntFlags::MNT_DETACH);
    }
}

#[test]
#[cfg_attr(
    ongi_test_runc,
    ignore = "runc 1.1.5 does not apply rootfsPropagation to the rootfs mount"
)]
fn rootfs_propagation_is_applied_to_the_root_mount() {
    // config-linux.md rootfsPropagation. runc 1.1.5 leaves / private for shared and
    // unbindable and cuts slave off from the host.
    let h = Harness::new("rootfs_propagation");
    let shared = SharedDir::new(h.dir("shared"));
    for mode in ["shared", "unbindable", "private", "slave"] {
        let bundle = shared.0.join(format!("bundle-{mode}"));
        build_rootfs(&bundle.join("rootfs"));
        fs::create_dir_all(bundle.join("rootfs/mnt")).unwrap();
        let spec = Spec::new()
            .set("/linux/rootfsPropagation", json!(mode))
            .args(&["sleep", "100"]);
        h.write_config(&bundle, &spec);
        let id = h.new_id();
        h.rt(&["run", "-d", "--bundle", path_str(&bundle), &id])
            .expect_ok();
        let pid = h.pid(&id);
        if mode == "slave" {
            // "if something is mounted on the host it will also appear in the container"
            let target = bundle.join("rootfs/mnt");
            nix::mount::mount(
                Some("tmpfs"),
                &target,
                Some("tmpfs"),
                nix::mount::MsFlags::empty(),
                None::<&str>,
            )
            .expect("mount on the host");
            let m = fs::read_to_string(format!("/proc/{pid}/mountinfo")).unwrap();
            let _ = nix::mount::umount2(&target, nix::mount::MntFlags::MNT_DETACH);
            assert!(
                parse_mountinfo(&m).iter().any(|x| x.mount_point == "/mnt"),
                "slave: host mount did not propagate:\n{m}"
            );
        } else {
            let m = fs::read_to_string(format!("/proc/{pid}/mountinfo")).unwrap();
            let line = m
                .lines()
                .find(|l| l.split(' ').nth(4) == Some("/"))
                .unwrap_or_else(|| panic!("no / in {m}"));
            let tags: Vec<&str> = line
                .split(" - ")
                .next()
                .unwrap()
                .split(' ')
                .skip(6)
                .collect();
            let has = |t: &str| tags.iter().any(|x| x.starts_with(t));
            let ok = match mode {
                "shared" => has("shared:"),
                "unbindable" => has("unbindable"),
                _ => !has("shared:") && !has("master:") && !has("unbindable"),
            };
            assert!(ok, "{mode}: / tagged {tags:?}");
        }
        h.rt(&["delete", "--force", &id]).expect_ok();
    }
}
