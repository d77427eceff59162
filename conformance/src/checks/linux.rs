//! config-linux.md: namespaces, id mappings, devices, cgroups, sysctl, seccomp,
//! rootfs propagation, masked/readonly paths, personality.

use super::config::with_terminal;
use super::runtime::expect_create_fails;
use crate::harness::{
    cgroup_dir, cgroup_file, make_shared_mount, mount_at, ns_link, parse_mountinfo, path_str, read,
    status_field, Bad, Ctx, Facts, Res, Spec,
};
use crate::{ensure, req, skip, Req};
use serde_json::json;
use std::fs;
use std::os::unix::fs::MetadataExt;
use std::path::Path;

const L: &str = "config-linux.md";

pub fn reqs() -> Vec<Req> {
    vec![
        req("config-linux.namespaces.new-pid", L, "If path is not specified, the runtime MUST create a new container namespace of type pid", |c| ns_new(c, "pid", "pid")),
        req("config-linux.namespaces.new-network", L, "If path is not specified, the runtime MUST create a new container namespace of type network", |c| ns_new(c, "network", "net")),
        req("config-linux.namespaces.new-mount", L, "If path is not specified, the runtime MUST create a new container namespace of type mount", |c| ns_new(c, "mount", "mnt")),
        req("config-linux.namespaces.new-ipc", L, "If path is not specified, the runtime MUST create a new container namespace of type ipc", |c| ns_new(c, "ipc", "ipc")),
        req("config-linux.namespaces.new-uts", L, "If path is not specified, the runtime MUST create a new container namespace of type uts", |c| ns_new(c, "uts", "uts")),
        req("config-linux.namespaces.new-cgroup", L, "If path is not specified, the runtime MUST create a new container namespace of type cgroup", |c| ns_new(c, "cgroup", "cgroup")),
        req("config-linux.namespaces.new-user", L, "If path is not specified, the runtime MUST create a new container namespace of type user", |c| ns_new(c, "user", "user")),
        req("config-linux.namespaces.new-time", L, "If path is not specified, the runtime MUST create a new container namespace of type time", |c| ns_new(c, "time", "time")),
        req("config-linux.namespaces.inherit", L, "If a namespace type is not specified ..., the container MUST inherit the runtime namespace of that type", ns_inherit),
        req("config-linux.namespaces.join-network", L, "The runtime MUST place the container process in the namespace associated with that path (network)", |c| ns_join(c, "network", "net")),
        req("config-linux.namespaces.join-ipc", L, "The runtime MUST place the container process in the namespace associated with that path (ipc)", |c| ns_join(c, "ipc", "ipc")),
        req("config-linux.namespaces.join-uts", L, "The runtime MUST place the container process in the namespace associated with that path (uts)", |c| ns_join(c, "uts", "uts")),
        req("config-linux.namespaces.join-pid", L, "The runtime MUST place the container process in the namespace associated with that path (pid)", |c| ns_join(c, "pid", "pid")),
        req("config-linux.namespaces.join-cgroup", L, "The runtime MUST place the container process in the namespace associated with that path (cgroup)", |c| ns_join(c, "cgroup", "cgroup")),
        req("config-linux.namespaces.pid-isolated", L, "pid: processes inside the container will only be able to see other processes inside the same container", ns_pid_isolated),
        req("config-linux.namespaces.network-isolated", L, "network: the container will have its own network stack", ns_net_isolated),
        req("config-linux.namespaces.mount-isolated", L, "mount: the container will have an isolated mount table", ns_mount_isolated),
        req("config-linux.namespaces.cgroup-view", L, "cgroup: the container will have an isolated view of the cgroup hierarchy", ns_cgroup_view),
        req("config-linux.namespaces.path-relative", L, "path ... This value MUST be an absolute path in the runtime mount namespace", ns_path_relative),
        req("config-linux.namespaces.wrong-type", L, "The runtime MUST generate an error if path is not associated with a namespace of type type", ns_wrong_type),
        req("config-linux.namespaces.duplicate", L, "If a namespaces field contains duplicated namespaces with same type, the runtime MUST generate an error", ns_duplicate),
        req("config-linux.user.uidMappings", L, "uidMappings describes the user namespace uid mappings from the host to the container", |c| id_map(c, "uid_map")),
        req("config-linux.user.gidMappings", L, "gidMappings describes the user namespace gid mappings from the host to the container", |c| id_map(c, "gid_map")),
        req("config-linux.user.multiple-mappings", L, "uidMappings/gidMappings (array of objects): each entry containerID, hostID, size", id_map_multiple),
        req("config-linux.user.no-chown", L, "The runtime SHOULD NOT modify the ownership of referenced filesystems to realize the mapping", userns_no_chown),
        req("config-linux.devices.default-null", L, "the runtime MUST also supply: /dev/null", |c| default_dev(c, "/dev/null", "1:3", true)),
        req("config-linux.devices.default-zero", L, "the runtime MUST also supply: /dev/zero", |c| default_dev(c, "/dev/zero", "1:5", true)),
        req("config-linux.devices.default-full", L, "the runtime MUST also supply: /dev/full", |c| default_dev(c, "/dev/full", "1:7", true)),
        req("config-linux.devices.default-random", L, "the runtime MUST also supply: /dev/random", |c| default_dev(c, "/dev/random", "1:8", true)),
        req("config-linux.devices.default-urandom", L, "the runtime MUST also supply: /dev/urandom", |c| default_dev(c, "/dev/urandom", "1:9", true)),
        req("config-linux.devices.default-tty", L, "the runtime MUST also supply: /dev/tty", |c| default_dev(c, "/dev/tty", "5:0", false)),
        req("config-linux.devices.default-ptmx", L, "/dev/ptmx. A bind-mount or symlink of the container's /dev/pts/ptmx", default_ptmx),
        req("config-linux.devices.console", L, "/dev/console is set up if terminal is enabled ... by bind mounting the pseudoterminal pty", dev_console),
        req("config-linux.devices.char", L, "devices (array of objects, OPTIONAL) lists devices that MUST be available in the container (c)", dev_char),
        req("config-linux.devices.mode-owner", L, "fileMode / uid / gid of the device in the container namespace", dev_mode_owner),
        req("config-linux.devices.block", L, "devices ... MUST be available in the container (b)", dev_block),
        req("config-linux.devices.fifo", L, "devices ... MUST be available in the container (p)", dev_fifo),
        req("config-linux.devices.existing-mismatch", L, "If a file already exists at path that does not match the requested device, the runtime MUST generate an error", dev_mismatch),
        req("config-linux.filesystems.devpts-ptmx", L, "/dev/ptmx ... of the container's /dev/pts/ptmx (a new devpts instance)", devpts_ptmx),
        req("config-linux.user.container-uid", L, "uid specifies the user ID in the container namespace (mapped to the host by uidMappings)", userns_uid),
        req("config-linux.filesystems.default", L, "The following filesystems SHOULD be made available: /proc, /sys, /dev/pts, /dev/shm", default_filesystems),
        req("config-linux.maskedPaths.file", L, "maskedPaths will mask over the provided paths ... so that they cannot be read (file)", masked_file),
        req("config-linux.maskedPaths.dir", L, "maskedPaths will mask over the provided paths ... so that they cannot be read (directory)", masked_dir),
        req("config-linux.readonlyPaths.proc", L, "readonlyPaths will set the provided paths as readonly inside the container (/proc/sys)", readonly_proc),
        req("config-linux.readonlyPaths.rootfs-dir", L, "readonlyPaths will set the provided paths as readonly inside the container (rootfs dir)", readonly_dir),
        req("config-linux.rootfsPropagation.shared", L, "shared: the rootfs mount belongs to a new peer group", |c| propagation(c, "shared")),
        req("config-linux.rootfsPropagation.slave", L, "slave: the rootfs mount receives propagation events from the host", |c| propagation(c, "slave")),
        req("config-linux.rootfsPropagation.private", L, "private: the rootfs mount doesn't receive mount propagation events", |c| propagation(c, "private")),
        req("config-linux.rootfsPropagation.unbindable", L, "unbindable: the rootfs mount is a private mount that cannot be bind-mounted", |c| propagation(c, "unbindable")),
        req("config-linux.sysctl.net", L, "sysctl allows kernel parameters to be modified at runtime for the container (net)", sysctl_net),
        req("config-linux.sysctl.ipc", L, "sysctl allows kernel parameters to be modified at runtime for the container (ipc)", sysctl_ipc),
        req("config-linux.cgroupsPath.absolute", L, "In the case of an absolute path, the runtime MUST take the path to be relative to the cgroups mount point", cgroups_path_absolute),
        req("config-linux.cgroupsPath.consistent", L, "the runtime MUST consistently attach to the same place in the cgroups hierarchy given the same value", cgroups_path_consistent),
        req("config-linux.resources.memory-limit", L, "limit (int64, OPTIONAL) - sets limit of memory usage", |c| cg(c, json!({"memory": {"limit": 67108864}}), "memory", "memory.limit_in_bytes", "67108864")),
        req("config-linux.resources.memory-reservation", L, "reservation (int64, OPTIONAL) - sets soft limit of memory usage", |c| cg(c, json!({"memory": {"reservation": 33554432}}), "memory", "memory.soft_limit_in_bytes", "33554432")),
        req("config-linux.resources.memory-swap", L, "swap (int64, OPTIONAL) - sets limit of memory+Swap usage", |c| cg(c, json!({"memory": {"limit": 67108864, "swap": 134217728}}), "memory", "memory.memsw.limit_in_bytes", "134217728")),
        req("config-linux.resources.memory-swappiness", L, "swappiness (uint64, OPTIONAL) - sets swappiness parameter of vmscan", |c| cg(c, json!({"memory": {"swappiness": 10}}), "memory", "memory.swappiness", "10")),
        req("config-linux.resources.memory-disableOOMKiller", L, "disableOOMKiller ... To disable it, specify a value of true", disable_oom),
        req("config-linux.resources.cpu-shares", L, "shares (uint64, OPTIONAL) - specifies a relative share of CPU time", |c| cg(c, json!({"cpu": {"shares": 512}}), "cpu", "cpu.shares", "512")),
        req("config-linux.resources.cpu-quota", L, "quota (int64, OPTIONAL) - total amount of time in microseconds ... in a period", |c| cg(c, json!({"cpu": {"quota": 50000, "period": 100000}}), "cpu", "cpu.cfs_quota_us", "50000")),
        req("config-linux.resources.cpu-period", L, "period (uint64, OPTIONAL) - specifies a period of time in microseconds", |c| cg(c, json!({"cpu": {"quota": 50000, "period": 200000}}), "cpu", "cpu.cfs_period_us", "200000")),
        req("config-linux.resources.cpuset-cpus", L, "cpus (string, OPTIONAL) - list of CPUs the container will run in", |c| cg(c, json!({"cpu": {"cpus": "0"}}), "cpuset", "cpuset.cpus", "0")),
        req("config-linux.resources.cpuset-mems", L, "mems (string, OPTIONAL) - list of Memory Nodes the container will run in", cpuset_mems),
        req("config-linux.resources.pids-limit", L, "limit (int64, OPTIONAL) - specifies the maximum number of tasks in the cgroup", |c| cg(c, json!({"pids": {"limit": 123}}), "pids", "pids.max", "123")),
        req("config-linux.resources.devices-allow", L, "devices configures the allowed device list (allow entry)", devices_allow),
        req("config-linux.resources.devices-deny", L, "devices configures the allowed device list (deny entry)", devices_deny),
        req("config-linux.resources.devices-order", L, "The runtime MUST apply entries in the listed order", devices_order),
        req("config-linux.seccomp.errno", L, "seccomp syscalls[].action SCMP_ACT_ERRNO with errnoRet", seccomp_errno),
        req("config-linux.seccomp.errno-default-eperm", L, "errnoRet ... The default is EPERM", seccomp_eperm),
        req("config-linux.seccomp.errno-unsupported-action", L, "When the action doesn't support an errno, the runtime MUST print and error and fail", seccomp_bad_errno),
        req("config-linux.personality.linux32", L, "LINUX32 will set the uname system call to show a 32 bit CPU type", personality),
        req("config-linux.timeOffsets", L, "timeOffsets sets the offset for Time Namespace", time_offsets),
        req("config-linux.mountLabel.no-selinux", L, "mountLabel will set the Selinux context for the mounts (ignored without SELinux)", mount_label),
    ]
}

// ---------------------------------------------------------------------------
// Namespaces
// ---------------------------------------------------------------------------

/// A spec usable with a new user namespace (no cgroup/mqueue mounts, which need extra
/// privileges there).
fn userns_spec(spec: Spec) -> Spec {
    let mut s = spec.user_namespace(100000, 65536);
    if let Some(m) = s.0.pointer_mut("/mounts").and_then(|m| m.as_array_mut()) {
        m.retain(|m| m["type"] != "cgroup" && m["type"] != "mqueue");
    }
    s
}

fn ns_new(c: &mut Ctx, kind: &str, link: &str) -> Res {
    let mut spec = Spec::new();
    spec = if kind == "user" {
        userns_spec(spec)
    } else {
        spec.namespace(kind, None)
    };
    if kind == "time" && !Path::new("/proc/self/ns/time").exists() {
        skip!("kernel without time namespaces");
    }
    let (_, pid) = c.running(&spec)?;
    let theirs = ns_link(&pid.to_string(), link)?;
    let ours = ns_link("self", link)?;
    ensure!(
        theirs != ours,
        "container shares the runtime's {link} namespace {ours}"
    );
    Ok(())
}

fn ns_inherit(c: &mut Ctx) -> Res {
    let (_, pid) = c.running(
        &Spec::new()
            .without_namespace("network")
            .without_namespace("ipc"),
    )?;
    for link in ["net", "ipc"] {
        let theirs = ns_link(&pid.to_string(), link)?;
        let ours = ns_link("self", link)?;
        ensure!(theirs == ours, "{link}: container {theirs}, runtime {ours}");
    }
    Ok(())
}

fn ns_join(c: &mut Ctx, kind: &str, link: &str) -> Res {
    let (_, a) = c.running(&Spec::new().namespace("cgroup", None))?;
    let path = format!("/proc/{a}/ns/{link}");
    let mut spec = Spec::new().namespace(kind, Some(&path));
    if kind == "uts" {
        // Do not rename the other container's namespace.
        spec = spec.remove("/hostname");
    }
    let (_, b) = c.running(&spec)?;
    let want = ns_link(&a.to_string(), link)?;
    let got = ns_link(&b.to_string(), link)?;
    ensure!(got == want, "{link}: joined {got}, expected {want}");
    Ok(())
}

fn ns_pid_isolated(c: &mut Ctx) -> Res {
    let f = c.run_ok(&Spec::new().sh("oci-check ls /proc; exec oci-check pid"))?;
    f.expect("pid", "1")?;
    let pids: Vec<&str> = f
        .req("entries")?
        .split(',')
        .filter(|e| e.chars().all(|ch| ch.is_ascii_digit()))
        .collect();
    // sh (pid 1) and oci-check ls: nothing from the host.
    ensure!(
        pids.len() <= 2,
        "the container sees host processes: {pids:?}"
    );
    Ok(())
}

fn ns_net_isolated(c: &mut Ctx) -> Res {
    let f = c.run_ok(&Spec::new().check(&["ls", "/sys/class/net"]))?;
    f.expect("entries", "lo")
}

fn ns_mount_isolated(c: &mut Ctx) -> Res {
    let (id, pid) = c.running(&Spec::new().tmpfs("/mnt/private", &["size=1m"]))?;
    let inside = parse_mountinfo(&read(format!("/proc/{pid}/mountinfo"))?);
    ensure!(
        inside.iter().any(|m| m.mount_point == "/mnt/private"),
        "mount missing inside"
    );
    let host = read("/proc/self/mountinfo")?;
    ensure!(
        !parse_mountinfo(&host)
            .iter()
            .any(|m| m.mount_point.ends_with("/mnt/private")),
        "the container's mount of {id} leaked into the runtime's mount table"
    );
    Ok(())
}

fn ns_cgroup_view(c: &mut Ctx) -> Res {
    let out = c
        .run(&Spec::new().namespace("cgroup", None).check(&["cgroup"]))?
        .expect_ok()?;
    for l in out.stdout.lines() {
        let path = l.splitn(3, ':').nth(2).unwrap_or("");
        ensure!(path == "/", "cgroup path {l:?} is not the namespace root");
    }
    Ok(())
}

fn ns_path_relative(c: &mut Ctx) -> Res {
    let rel = format!("proc/{}/ns/net", std::process::id());
    expect_create_fails(c, &Spec::new().sleeper().namespace("network", Some(&rel)))
}

fn ns_wrong_type(c: &mut Ctx) -> Res {
    let path = format!("/proc/{}/ns/net", std::process::id());
    expect_create_fails(c, &Spec::new().sleeper().namespace("ipc", Some(&path)))
}

fn ns_duplicate(c: &mut Ctx) -> Res {
    let spec = Spec::new()
        .sleeper()
        .push("/linux/namespaces", json!({"type": "pid"}));
    expect_create_fails(c, &spec)
}

fn id_map(c: &mut Ctx, file: &str) -> Res {
    let (_, pid) = c.running(&userns_spec(Spec::new()))?;
    let text = read(format!("/proc/{pid}/{file}"))?;
    let got: Vec<String> = text
        .lines()
        .map(|l| l.split_whitespace().collect::<Vec<_>>().join(" "))
        .collect();
    ensure!(got == ["0 100000 65536"], "{file}: {got:?}");
    Ok(())
}

fn id_map_multiple(c: &mut Ctx) -> Res {
    let map = json!([
        {"containerID": 0, "hostID": 100000, "size": 1000},
        {"containerID": 1000, "hostID": 200000, "size": 1000}
    ]);
    let spec = userns_spec(Spec::new())
        .set("/linux/uidMappings", map.clone())
        .set("/linux/gidMappings", map);
    let (_, pid) = c.running(&spec)?;
    for file in ["uid_map", "gid_map"] {
        let text = read(format!("/proc/{pid}/{file}"))?;
        let mut got: Vec<String> = text
            .lines()
            .map(|l| l.split_whitespace().collect::<Vec<_>>().join(" "))
            .collect();
        got.sort();
        ensure!(
            got == ["0 100000 1000", "1000 200000 1000"],
            "{file}: {got:?}"
        );
    }
    Ok(())
}

fn userns_no_chown(c: &mut Ctx) -> Res {
    let b = c.bundle(&userns_spec(Spec::new()).check(&["ids"]))?;
    let id = c.new_id();
    c.rt(&["run", "--bundle", &path_str(&b), &id])?
        .expect_ok()?;
    for p in ["rootfs", "rootfs/bin/busybox", "rootfs/etc/passwd"] {
        let m = fs::metadata(b.join(p)).map_err(|e| e.to_string())?;
        ensure!(
            m.uid() == 0 && m.gid() == 0,
            "{p} now owned by {}:{}",
            m.uid(),
            m.gid()
        );
    }
    Ok(())
}

// ---------------------------------------------------------------------------
// Devices
// ---------------------------------------------------------------------------

fn default_dev(c: &mut Ctx, path: &str, rdev: &str, open: bool) -> Res {
    let script = if open {
        format!("oci-check stat {path}; oci-check open {path} rw")
    } else {
        format!("oci-check stat {path}")
    };
    let f = c.run_ok(&Spec::new().sh(&script))?;
    if let Some(e) = f.get(&format!("{path}.errno")) {
        return Err(Bad::Fail(format!("{path} missing (errno {e})")));
    }
    f.expect(&format!("{path}.type"), "chr")?;
    f.expect(&format!("{path}.rdev"), rdev)?;
    if open {
        f.expect("open", "ok")?;
    }
    Ok(())
}

fn default_ptmx(c: &mut Ctx) -> Res {
    let f = c.run_ok(&Spec::new().sh("oci-check stat /dev/ptmx; oci-check open /dev/ptmx rw"))?;
    match f.get("/dev/ptmx.type") {
        Some("lnk") => {
            let l = f.req("/dev/ptmx.link")?;
            ensure!(l == "pts/ptmx" || l == "/dev/pts/ptmx", "/dev/ptmx -> {l}");
        }
        Some("chr") => f.expect("/dev/ptmx.rdev", "5:2")?,
        other => return Err(Bad::Fail(format!("/dev/ptmx type {other:?}"))),
    }
    f.expect("open", "ok")
}

fn dev_console(c: &mut Ctx) -> Res {
    let text = with_terminal(c, Spec::new().check(&["stat", "/dev/console"]))?;
    let f = Facts::parse(&text);
    f.expect("/dev/console.type", "chr")?;
    let rdev = f.req("/dev/console.rdev")?;
    ensure!(
        rdev.starts_with("136:"),
        "/dev/console is {rdev}, not a pty"
    );
    Ok(())
}

fn with_device(c: &mut Ctx, dev: serde_json::Value, path: &str) -> Res<Facts> {
    c.run_ok(
        &Spec::new()
            .push("/linux/devices", dev)
            .check(&["stat", path]),
    )
}

fn dev_char(c: &mut Ctx) -> Res {
    let f = with_device(
        c,
        json!({"path": "/dev/conf-null", "type": "c", "major": 1, "minor": 3}),
        "/dev/conf-null",
    )?;
    f.expect("/dev/conf-null.type", "chr")?;
    f.expect("/dev/conf-null.rdev", "1:3")
}

fn dev_mode_owner(c: &mut Ctx) -> Res {
    let f = with_device(
        c,
        json!({"path": "/dev/conf-null", "type": "c", "major": 1, "minor": 3, "fileMode": 416, "uid": 1000, "gid": 1001}),
        "/dev/conf-null",
    )?;
    f.expect("/dev/conf-null.mode", "0640")?;
    f.expect("/dev/conf-null.uid", "1000")?;
    f.expect("/dev/conf-null.gid", "1001")
}

fn dev_block(c: &mut Ctx) -> Res {
    let f = with_device(
        c,
        json!({"path": "/dev/conf-loop", "type": "b", "major": 7, "minor": 0}),
        "/dev/conf-loop",
    )?;
    f.expect("/dev/conf-loop.type", "blk")?;
    f.expect("/dev/conf-loop.rdev", "7:0")
}

fn dev_fifo(c: &mut Ctx) -> Res {
    let f = with_device(
        c,
        json!({"path": "/dev/conf-fifo", "type": "p"}),
        "/dev/conf-fifo",
    )?;
    f.expect("/dev/conf-fifo.type", "fifo")
}

fn dev_mismatch(c: &mut Ctx) -> Res {
    let spec = Spec::new().sleeper().writable_root().push(
        "/linux/devices",
        json!({"path": "/etc/conf-dev", "type": "c", "major": 1, "minor": 3}),
    );
    let b = c.bare_bundle()?;
    fs::write(b.join("rootfs/etc/conf-dev"), "a regular file").map_err(|e| e.to_string())?;
    c.write_config(&b, &spec)?;
    let (id, out) = c.create_bundle(&b, &[])?;
    ensure!(
        out.failed(),
        "create succeeded over a regular file at the device path"
    );
    c.expect_no_trace(&id)
}

fn devpts_ptmx(c: &mut Ctx) -> Res {
    let f = c.run_ok(&Spec::new().check(&["stat", "/dev/pts/ptmx"]))?;
    f.expect("/dev/pts/ptmx.type", "chr")?;
    f.expect("/dev/pts/ptmx.rdev", "5:2")
}

fn userns_uid(c: &mut Ctx) -> Res {
    let spec = userns_spec(Spec::new()).set("/process/user", json!({"uid": 1000, "gid": 1000}));
    let (_, pid) = c.running(&spec)?;
    let st = read(format!("/proc/{pid}/status"))?;
    let uid = status_field(&st, "Uid")?;
    let gid = status_field(&st, "Gid")?;
    ensure!(
        uid.split(' ').all(|u| u == "101000"),
        "host Uid {uid}, expected 101000"
    );
    ensure!(
        gid.split(' ').all(|g| g == "101000"),
        "host Gid {gid}, expected 101000"
    );
    Ok(())
}

fn default_filesystems(c: &mut Ctx) -> Res {
    let out = c.run(&Spec::new().check(&["mountinfo"]))?.expect_ok()?;
    let m = parse_mountinfo(&out.stdout);
    for (p, t) in [
        ("/proc", "proc"),
        ("/sys", "sysfs"),
        ("/dev/pts", "devpts"),
        ("/dev/shm", "tmpfs"),
    ] {
        let x = mount_at(&m, p)?;
        ensure!(x.fs_type == t, "{p} is {}, expected {t}", x.fs_type);
    }
    Ok(())
}

// ---------------------------------------------------------------------------
// Masked / readonly paths, propagation
// ---------------------------------------------------------------------------

fn masked_file(c: &mut Ctx) -> Res {
    let f = c.run_ok(
        &Spec::new()
            .set("/linux/maskedPaths", json!(["/proc/kcore", "/etc/passwd"]))
            .check(&["read", "/etc/passwd"]),
    )?;
    if f.get("read.errno").is_some() {
        return Ok(());
    }
    f.expect("bytes", "0")
}

fn masked_dir(c: &mut Ctx) -> Res {
    let f = c.run_ok(
        &Spec::new()
            .set("/linux/maskedPaths", json!(["/sys/firmware", "/etc"]))
            .check(&["ls", "/etc"]),
    )?;
    if f.get("ls.errno").is_some() {
        return Ok(());
    }
    f.expect("count", "0")
}

fn readonly_proc(c: &mut Ctx) -> Res {
    c.run_ok(
        &Spec::new()
            .set("/linux/readonlyPaths", json!(["/proc/sys"]))
            .check(&["write", "/proc/sys/kernel/domainname", "x"]),
    )?
    .expect("write.errno", "30")
}

fn readonly_dir(c: &mut Ctx) -> Res {
    let f = c.run_ok(
        &Spec::new()
            .writable_root()
            .set("/linux/readonlyPaths", json!(["/tmp"]))
            .sh("oci-check write /tmp/x x; oci-check mkdir /etc/x"),
    )?;
    f.expect("write.errno", "30")?;
    // The rest of the (writable) root stays writable.
    f.expect("mkdir", "ok")
}

fn propagation(c: &mut Ctx, mode: &str) -> Res {
    let shared = c.dir("shared")?;
    make_shared_mount(&shared)?;
    let b = c.bundle_under(
        &shared,
        &Spec::new()
            .set("/linux/rootfsPropagation", json!(mode))
            .sleeper(),
    )?;
    let (id, out) = c.create_bundle(&b, &[])?;
    out.expect_ok()?;
    c.rt(&["start", &id])?.expect_ok()?;
    let pid = c.pid(&id)?;
    if mode == "slave" {
        // The spec's own words: "if something is mounted on the host it will also
        // appear in the container".
        let target = b.join("rootfs/mnt");
        mount_tmpfs(&target)?;
        let m = parse_mountinfo(&read(format!("/proc/{pid}/mountinfo"))?);
        ensure!(
            m.iter().any(|x| x.mount_point == "/mnt"),
            "a tmpfs mounted on the host at {} did not appear in the container",
            target.display()
        );
        return Ok(());
    }
    let m = parse_mountinfo(&read(format!("/proc/{pid}/mountinfo"))?);
    let root = mount_at(&m, "/")?;
    let (sh, ma, un) = (
        root.tagged("shared:"),
        root.tagged("master:"),
        root.tagged("unbindable"),
    );
    let ok = match mode {
        "shared" => sh,
        "private" => !sh && !ma && !un,
        "unbindable" => un,
        _ => false,
    };
    ensure!(
        ok,
        "rootfs mount tags {:?} for rootfsPropagation {mode}",
        root.tags
    );
    Ok(())
}

pub fn mount_tmpfs(target: &Path) -> Res {
    let t = std::ffi::CString::new(path_str(target)).map_err(|e| e.to_string())?;
    let fstype = c"tmpfs";
    // SAFETY: valid NUL-terminated strings; plain mount(2).
    let r = unsafe {
        libc::mount(
            fstype.as_ptr(),
            t.as_ptr(),
            fstype.as_ptr(),
            0,
            std::ptr::null(),
        )
    };
    ensure!(
        r == 0,
        "mount tmpfs on {}: {}",
        target.display(),
        std::io::Error::last_os_error()
    );
    Ok(())
}

// ---------------------------------------------------------------------------
// sysctl, cgroups
// ---------------------------------------------------------------------------

fn sysctl_net(c: &mut Ctx) -> Res {
    c.run_ok(
        &Spec::new()
            .set("/linux/sysctl", json!({"net.ipv4.ip_forward": "1"}))
            .check(&["sysctl", "net.ipv4.ip_forward"]),
    )?
    .expect("net.ipv4.ip_forward", "1")
}

fn sysctl_ipc(c: &mut Ctx) -> Res {
    c.run_ok(
        &Spec::new()
            .set("/linux/sysctl", json!({"kernel.msgmax": "12345"}))
            .check(&["sysctl", "kernel.msgmax"]),
    )?
    .expect("kernel.msgmax", "12345")
}

fn cg_path(c: &Ctx) -> String {
    format!("/conformance-{}-{}", std::process::id(), c.env.next())
}

fn cgroups_path_absolute(c: &mut Ctx) -> Res {
    let p = cg_path(c);
    let (_, pid) = c.running(&Spec::new().set("/linux/cgroupsPath", json!(p)))?;
    for ctrl in ["memory", "pids", "cpu", "devices"] {
        let d = cgroup_dir(pid, ctrl)?;
        let want = Path::new("/sys/fs/cgroup")
            .join(ctrl)
            .join(p.trim_start_matches('/'));
        ensure!(
            d == want,
            "{ctrl}: process in {}, expected {}",
            d.display(),
            want.display()
        );
    }
    Ok(())
}

fn cgroups_path_consistent(c: &mut Ctx) -> Res {
    let p = cg_path(c);
    let spec = Spec::new().set("/linux/cgroupsPath", json!(p));
    let (id1, pid1) = c.running(&spec)?;
    let first = cgroup_dir(pid1, "memory")?;
    c.rt(&["kill", &id1, "KILL"])?.expect_ok()?;
    c.wait_status(&id1, "stopped")?;
    c.rt(&["delete", &id1])?.expect_ok()?;
    let (_, pid2) = c.running(&spec)?;
    let second = cgroup_dir(pid2, "memory")?;
    ensure!(
        first == second,
        "{} vs {}",
        first.display(),
        second.display()
    );
    Ok(())
}

fn cg(c: &mut Ctx, resources: serde_json::Value, ctrl: &str, file: &str, want: &str) -> Res {
    let mut spec = Spec::new();
    for (k, v) in resources.as_object().into_iter().flatten() {
        spec = spec.set(&format!("/linux/resources/{k}"), v.clone());
    }
    let (_, pid) = c.running(&spec)?;
    let got = cgroup_file(pid, ctrl, file)?;
    ensure!(got == want, "{ctrl}/{file}: expected {want}, got {got}");
    Ok(())
}

fn cpuset_mems(c: &mut Ctx) -> Res {
    let online = fs::read_to_string("/sys/devices/system/node/online").unwrap_or_default();
    if online.trim() == "0" || online.trim().is_empty() {
        skip!("one memory node: cpuset.mems is 0 whether or not the runtime sets it");
    }
    cg(
        c,
        json!({"cpu": {"mems": "0"}}),
        "cpuset",
        "cpuset.mems",
        "0",
    )
}

fn disable_oom(c: &mut Ctx) -> Res {
    let (_, pid) = c.running(&Spec::new().set(
        "/linux/resources/memory",
        json!({"limit": 67108864, "disableOOMKiller": true}),
    ))?;
    let got = cgroup_file(pid, "memory", "memory.oom_control")?;
    ensure!(
        got.lines().any(|l| l.trim() == "oom_kill_disable 1"),
        "memory.oom_control: {got:?}"
    );
    Ok(())
}

/// A container with /dev/conf-fuse (c 10:229: not among any runtime's default allowed
/// devices, and openable without capabilities) and the given device cgroup rules; returns
/// the checker's attempt to open it.
fn devices_probe(c: &mut Ctx, rules: serde_json::Value) -> Res<Facts> {
    c.run_ok(
        &Spec::new()
            .push("/linux/devices", json!({"path": "/dev/conf-fuse", "type": "c", "major": 10, "minor": 229, "fileMode": 438}))
            .set("/linux/resources/devices", rules)
            .check(&["open", "/dev/conf-fuse", "rw"]),
    )
}

fn devices_allow(c: &mut Ctx) -> Res {
    devices_probe(
        c,
        json!([{"allow": false, "access": "rwm"}, {"allow": true, "type": "c", "major": 10, "minor": 229, "access": "rw"}]),
    )?
    .expect("open", "ok")
}

fn devices_deny(c: &mut Ctx) -> Res {
    let f = devices_probe(
        c,
        json!([{"allow": false, "access": "rwm"}, {"allow": false, "type": "c", "major": 10, "minor": 229, "access": "rwm"}]),
    )?;
    f.expect("open.errno", "1")
}

fn devices_order(c: &mut Ctx) -> Res {
    let f = devices_probe(
        c,
        json!([
            {"allow": false, "access": "rwm"},
            {"allow": true, "type": "c", "major": 10, "minor": 229, "access": "rwm"},
            {"allow": false, "type": "c", "major": 10, "minor": 229, "access": "rwm"}
        ]),
    )?;
    f.expect("open.errno", "1")
}

// ---------------------------------------------------------------------------
// seccomp, personality, time, mountLabel
// ---------------------------------------------------------------------------

fn seccomp_spec(rule: serde_json::Value) -> Spec {
    Spec::new().writable_root().set(
        "/linux/seccomp",
        json!({"defaultAction": "SCMP_ACT_ALLOW", "architectures": ["SCMP_ARCH_X86_64", "SCMP_ARCH_X86", "SCMP_ARCH_X32"], "syscalls": [rule]}),
    )
}

fn seccomp_errno(c: &mut Ctx) -> Res {
    let out = c.run(
        &seccomp_spec(
            json!({"names": ["mkdir", "mkdirat"], "action": "SCMP_ACT_ERRNO", "errnoRet": 18}),
        )
        .sh("oci-check mkdir /tmp/x; oci-check status"),
    )?;
    let out = out.expect_ok()?;
    out.facts().expect("mkdir.errno", "18")?;
    let mode = status_field(&out.stdout, "Seccomp")?;
    ensure!(mode == "2", "Seccomp mode {mode}, expected 2 (filter)");
    Ok(())
}

fn seccomp_eperm(c: &mut Ctx) -> Res {
    c.run_ok(
        &seccomp_spec(json!({"names": ["mkdir", "mkdirat"], "action": "SCMP_ACT_ERRNO"}))
            .check(&["mkdir", "/tmp/x"]),
    )?
    .expect("mkdir.errno", "1")
}

fn seccomp_bad_errno(c: &mut Ctx) -> Res {
    expect_create_fails(
        c,
        &seccomp_spec(
            json!({"names": ["mkdir", "mkdirat"], "action": "SCMP_ACT_KILL", "errnoRet": 18}),
        )
        .sleeper(),
    )
}

fn personality(c: &mut Ctx) -> Res {
    let f = c.run_ok(
        &Spec::new()
            .set("/linux/personality", json!({"domain": "LINUX32"}))
            .sh("oci-check personality; oci-check uname"),
    )?;
    let m = f.req("machine")?;
    ensure!(
        m == "i686" || m == "i386",
        "uname machine {m:?} under LINUX32"
    );
    Ok(())
}

fn time_offsets(c: &mut Ctx) -> Res {
    if !Path::new("/proc/self/timens_offsets").exists() {
        skip!("kernel without time namespaces");
    }
    let f = c.run_ok(
        &Spec::new()
            .namespace("time", None)
            .set(
                "/linux/timeOffsets",
                json!({"monotonic": {"secs": 86400, "nanosecs": 0}}),
            )
            .check(&["read", "/proc/self/timens_offsets"]),
    )?;
    let content = f.req("content")?;
    ensure!(
        content.split("\\n").any(|l| {
            let w: Vec<&str> = l.split_whitespace().collect();
            w.len() >= 2 && (w[0] == "monotonic" || w[0] == "1") && w[1] == "86400"
        }),
        "timens_offsets: {content:?}"
    );
    Ok(())
}

fn mount_label(c: &mut Ctx) -> Res {
    if Path::new("/sys/fs/selinux/enforce").exists() {
        skip!("SELinux is enabled on this host");
    }
    c.run_ok(
        &Spec::new()
            .set(
                "/linux/mountLabel",
                json!("system_u:object_r:container_file_t:s0:c1,c2"),
            )
            .check(&["cwd"]),
    )?
    .expect("cwd", "/")
}
