//! cgroups: linux.resources read back from the host and felt from inside the container,
//! cgroupsPath placement, pause/resume, update, events --stats, and bad resources failing
//! cleanly. Written for the host's layout as detected at run time: v1 or hybrid (the
//! development hosts), or pure v2 (scripts/vm-cgroup2.sh runs this file in a VM), where the
//! same specs are read back from the v2 files runc's conversions lead to.

mod common;

use common::*;
use serde_json::{json, Value};
use std::fs;
use std::path::{Path, PathBuf};
use std::time::Duration;

/// The mountpoint of the v1 hierarchy carrying `ctrl`, if mounted.
fn v1_mount(ctrl: &str) -> Option<PathBuf> {
    let info = fs::read_to_string("/proc/self/mountinfo").ok()?;
    parse_mountinfo(&info)
        .into_iter()
        .find(|m| m.fs_type == "cgroup" && m.super_options.iter().any(|o| o == ctrl))
        .map(|m| PathBuf::from(m.mount_point))
}

/// The cgroup2 mount when it holds the controllers (a pure v2 host), else `None`: on
/// hybrid hosts the v2 tree exists but the controllers are in v1 hierarchies.
fn unified() -> Option<PathBuf> {
    static ROOT: std::sync::OnceLock<Option<PathBuf>> = std::sync::OnceLock::new();
    ROOT.get_or_init(|| {
        let info = fs::read_to_string("/proc/self/mountinfo").ok()?;
        let mounts = parse_mountinfo(&info);
        let v1_memory = mounts
            .iter()
            .any(|m| m.fs_type == "cgroup" && m.super_options.iter().any(|o| o == "memory"));
        mounts
            .into_iter()
            .filter(|m| m.fs_type == "cgroup2" && !v1_memory)
            .map(|m| PathBuf::from(m.mount_point))
            .find(|p| {
                fs::read_to_string(p.join("cgroup.controllers"))
                    .is_ok_and(|c| c.split_whitespace().any(|c| c == "memory"))
            })
    })
    .clone()
}

/// The root of the hierarchy carrying `ctrl`: the unified root on pure v2.
#[track_caller]
fn mount_of(ctrl: &str) -> PathBuf {
    unified()
        .or_else(|| v1_mount(ctrl))
        .unwrap_or_else(|| panic!("{ctrl} hierarchy not mounted"))
}

/// The path in the `/proc/PID/cgroup` text of the hierarchy carrying `ctrl` (the `0::`
/// line on pure v2).
fn cgroup_line(text: &str, ctrl: &str) -> Option<String> {
    let v2 = unified().is_some();
    text.lines().find_map(|l| {
        let mut f = l.splitn(3, ':');
        let (_, ctrls, path) = (f.next()?, f.next()?, f.next()?);
        let hit = if v2 {
            ctrls.is_empty()
        } else {
            ctrls.split(',').any(|c| c == ctrl)
        };
        hit.then(|| path.to_string())
    })
}

/// The host directory of `pid`'s cgroup in the hierarchy of `ctrl`.
#[track_caller]
fn cgroup_dir(pid: i32, ctrl: &str) -> PathBuf {
    let mount = mount_of(ctrl);
    let text = fs::read_to_string(format!("/proc/{pid}/cgroup")).expect("read /proc/pid/cgroup");
    let rel =
        cgroup_line(&text, ctrl).unwrap_or_else(|| panic!("{pid} has no {ctrl} cgroup:\n{text}"));
    mount.join(rel.trim_start_matches('/'))
}

#[track_caller]
fn read_trim(p: &Path) -> String {
    fs::read_to_string(p)
        .unwrap_or_else(|e| panic!("read {}: {e}", p.display()))
        .trim()
        .to_string()
}

/// The calling process's cgroup path (from /proc/self/cgroup) in the `ctrl` hierarchy.
fn own_cgroup(ctrl: &str) -> String {
    let text = fs::read_to_string("/proc/self/cgroup").unwrap_or_default();
    cgroup_line(&text, ctrl).unwrap_or_else(|| "/".into())
}

/// cpu.shares as cpu.weight, runc's formula: 1 + (shares - 2) * 9999 / 262142.
const WEIGHT_OF_SHARES_512: &str = "20";
const WEIGHT_OF_SHARES_256: &str = "10";

fn sleeper() -> Spec {
    Spec::new().args(&["sleep", "1000"])
}

#[test]
fn limits_are_written_to_the_host_cgroup() {
    let h = Harness::new("cg_readback");
    let spec = sleeper().set(
        "/linux/resources",
        json!({
            "devices": [{"allow": false, "access": "rwm"}],
            "memory": {"limit": 67108864, "reservation": 33554432, "swappiness": 10},
            "cpu": {"shares": 512, "quota": 50000, "period": 100000, "cpus": "0", "mems": "0"},
            "pids": {"limit": 20}
        }),
    );
    let ctr = h.start(&spec);
    let pid = h.pid(&ctr.id);
    let mem = cgroup_dir(pid, "memory");
    if unified().is_some() {
        // runc's conversions; swappiness has no v2 file and is ignored (as runc does). The
        // device rules are an eBPF program, not a file: denied_device_cannot_be_opened.
        for (file, want) in [
            ("memory.max", "67108864"),
            ("memory.low", "33554432"),
            ("cpu.weight", WEIGHT_OF_SHARES_512),
            ("cpu.max", "50000 100000"),
            ("pids.max", "20"),
            ("cpuset.cpus", "0"),
            ("cpuset.mems", "0"),
        ] {
            assert_eq!(read_trim(&mem.join(file)), want, "{file}");
        }
        h.rt(&["delete", "--force", &ctr.id]).expect_ok();
        assert!(!mem.exists(), "{} left behind", mem.display());
        return;
    }
    assert_eq!(read_trim(&mem.join("memory.limit_in_bytes")), "67108864");
    assert_eq!(
        read_trim(&mem.join("memory.soft_limit_in_bytes")),
        "33554432"
    );
    assert_eq!(read_trim(&mem.join("memory.swappiness")), "10");
    let cpu = cgroup_dir(pid, "cpu");
    assert_eq!(read_trim(&cpu.join("cpu.shares")), "512");
    assert_eq!(read_trim(&cpu.join("cpu.cfs_quota_us")), "50000");
    assert_eq!(read_trim(&cpu.join("cpu.cfs_period_us")), "100000");
    assert_eq!(read_trim(&cgroup_dir(pid, "pids").join("pids.max")), "20");
    assert_eq!(
        read_trim(&cgroup_dir(pid, "cpuset").join("cpuset.cpus")),
        "0"
    );
    let list = read_trim(&cgroup_dir(pid, "devices").join("devices.list"));
    let lines: Vec<&str> = list.lines().collect();
    // Deny-all plus runc's default allow list: no "a *:* rwm", the defaults present.
    assert!(!lines.contains(&"a *:* rwm"), "devices.list: {list}");
    for want in [
        "c 1:3 rwm",
        "c 1:5 rwm",
        "c *:* m",
        "b *:* m",
        "c 136:* rwm",
    ] {
        assert!(lines.contains(&want), "{want} not in devices.list:\n{list}");
    }
    h.rt(&["delete", "--force", &ctr.id]).expect_ok();
    assert!(!mem.exists(), "{} left behind", mem.display());
}

/// major:minor of the first block device of the host that is not a loop/zram device.
fn a_block_device() -> Option<(u64, u64)> {
    fs::read_dir("/sys/block").ok()?.flatten().find_map(|e| {
        let name = e.file_name().to_string_lossy().into_owned();
        if name.starts_with("loop") || name.starts_with("zram") || name.starts_with("ram") {
            return None;
        }
        let dev = fs::read_to_string(e.path().join("dev")).ok()?;
        let (ma, mi) = dev.trim().split_once(':')?;
        Some((ma.parse().ok()?, mi.parse().ok()?))
    })
}

#[test]
fn more_fields_are_written_to_the_host_cgroup() {
    let h = Harness::new("cg_readback2");
    let mut res = json!({
        "memory": {"limit": 67108864, "swap": 100663296, "disableOOMKiller": true}
    });
    let dev = a_block_device();
    if let Some((ma, mi)) = dev {
        res["blockIO"] = json!({
            "throttleReadBpsDevice": [{"major": ma, "minor": mi, "rate": 1048576}],
            "throttleWriteIOPSDevice": [{"major": ma, "minor": mi, "rate": 100}]
        });
    }
    let ctr = h.start(&sleeper().set("/linux/resources", res));
    let pid = h.pid(&ctr.id);
    let mem = cgroup_dir(pid, "memory");
    if unified().is_some() {
        // memory.swap.max is swap alone: memory+swap minus memory. disableOOMKiller has no
        // v2 file (ignored, as runc does).
        assert_eq!(read_trim(&mem.join("memory.swap.max")), "33554432");
        if let Some((ma, mi)) = dev {
            let io = read_trim(&mem.join("io.max"));
            assert_eq!(
                io,
                format!("{ma}:{mi} rbps=1048576 wbps=max riops=max wiops=100")
            );
        }
        return;
    }
    assert_eq!(
        read_trim(&mem.join("memory.memsw.limit_in_bytes")),
        "100663296"
    );
    let oom = read_trim(&mem.join("memory.oom_control"));
    assert!(oom.lines().any(|l| l == "oom_kill_disable 1"), "{oom}");
    if let Some((ma, mi)) = dev {
        let b = cgroup_dir(pid, "blkio");
        let rd = read_trim(&b.join("blkio.throttle.read_bps_device"));
        assert_eq!(rd, format!("{ma}:{mi} 1048576"));
        let wr = read_trim(&b.join("blkio.throttle.write_iops_device"));
        assert_eq!(wr, format!("{ma}:{mi} 100"));
    }
}

#[test]
#[cfg_attr(
    ongi_test_runc,
    ignore = "runc 1.1.5 ignores memory.kernelTCP and cpu.idle, and predates cpu.burst"
)]
fn fields_newer_than_runc_1_1_are_written() {
    let h = Harness::new("cg_readback3");
    if unified().is_some() {
        // v2 has no TCP buffer limit: refused, naming the field (runc ignores it silently).
        let tcp = sleeper().set("/linux/resources/memory", json!({"kernelTCP": 8388608}));
        create_fails_naming(&h, &tcp, "kernelTCP");
        // cpu.max.burst (5.14) and cpu.idle (5.15) exist only in non-root cgroups of newer
        // kernels: look in a first container's.
        let mut res = json!({"cpu": {"quota": 50000}});
        let first = h.start(&sleeper().set("/linux/resources", res.clone()));
        let probe = cgroup_dir(h.pid(&first.id), "cpu");
        let (burst, idle) = (
            probe.join("cpu.max.burst").exists(),
            probe.join("cpu.idle").exists(),
        );
        if burst {
            res["cpu"]["burst"] = json!(20000);
        }
        if idle {
            res["cpu"]["idle"] = json!(1);
        }
        let ctr = h.start(&sleeper().set("/linux/resources", res));
        let cpu = cgroup_dir(h.pid(&ctr.id), "cpu");
        assert_eq!(read_trim(&cpu.join("cpu.max")), "50000 100000");
        if burst {
            assert_eq!(read_trim(&cpu.join("cpu.max.burst")), "20000");
        }
        if idle {
            assert_eq!(read_trim(&cpu.join("cpu.idle")), "1");
        }
        return;
    }
    let mut res = json!({"memory": {"kernelTCP": 8388608}, "cpu": {"quota": 50000}});
    let cpu_root = v1_mount("cpu").unwrap();
    // The kernel files exist only on newer kernels.
    let burst = cpu_root.join("cpu.cfs_burst_us").exists();
    let idle = cpu_root.join("cpu.idle").exists();
    if burst {
        res["cpu"]["burst"] = json!(20000);
    }
    if idle {
        res["cpu"]["idle"] = json!(1);
    }
    let ctr = h.start(&sleeper().set("/linux/resources", res));
    let pid = h.pid(&ctr.id);
    let mem = cgroup_dir(pid, "memory");
    assert_eq!(
        read_trim(&mem.join("memory.kmem.tcp.limit_in_bytes")),
        "8388608"
    );
    let cpu = cgroup_dir(pid, "cpu");
    if burst {
        assert_eq!(read_trim(&cpu.join("cpu.cfs_burst_us")), "20000");
    }
    if idle {
        assert_eq!(read_trim(&cpu.join("cpu.idle")), "1");
    }
}

#[test]
fn blkio_weight_is_written_or_named_when_unsupported() {
    let h = Harness::new("cg_blkio");
    let spec = sleeper().set("/linux/resources/blockIO", json!({"weight": 300}));
    if unified().is_some() {
        // BFQ takes the v1 weight as is; io.weight (blk-iocost) the converted one,
        // 1 + (300 - 10) * 9999 / 990.
        let bundle = h.bundle(&spec);
        let id = h.new_id();
        let out = h.rt(&["create", "--bundle", path_str(&bundle), &id]);
        if !out.ok() {
            assert!(
                out.stderr.contains("io.") && out.stderr.contains("weight"),
                "{out}"
            );
            h.assert_no_trace(&id);
            return;
        }
        let d = cgroup_dir(h.pid(&id), "io");
        if d.join("io.bfq.weight").exists() {
            assert_eq!(read_trim(&d.join("io.bfq.weight")), "default 300");
        } else {
            assert_eq!(read_trim(&d.join("io.weight")), "default 2930");
        }
        return;
    }
    let probe = v1_mount("blkio").map(|m| m.join("blkio.weight"));
    if probe.as_ref().is_some_and(|p| p.exists()) {
        let ctr = h.start(&spec);
        let d = cgroup_dir(h.pid(&ctr.id), "blkio");
        assert_eq!(read_trim(&d.join("blkio.weight")), "300");
    } else {
        // No CFQ/BFQ on this kernel: the error names the file, nothing is left.
        let bundle = h.bundle(&spec);
        let id = h.new_id();
        let out = h
            .rt(&["create", "--bundle", path_str(&bundle), &id])
            .expect_fail();
        // blkio.weight, or runc's BFQ fallback name blkio.bfq.weight.
        assert!(
            out.stderr.contains("blkio.") && out.stderr.contains("weight"),
            "{out}"
        );
        h.assert_no_trace(&id);
        assert!(cgroup_dirs_named(&id).is_empty());
    }
}

#[test]
fn pids_limit_stops_a_fork_bomb() {
    let h = Harness::new("cg_pids");
    let spec = Spec::new()
        .sh("i=0; while [ $i -lt 40 ]; do sleep 100 & i=$((i+1)); done; echo spawned")
        .set("/linux/resources/pids", json!({"limit": 10}));
    let out = h.run(&spec);
    assert!(
        out.stderr.contains("can't fork")
            || out.stderr.contains("Resource temporarily unavailable"),
        "no fork failure under pids.limit 10:\n{out}"
    );
}

#[test]
fn memory_limit_triggers_the_oom_killer() {
    let h = Harness::new("cg_oom");
    // dd reads /dev/zero into one 64M buffer: every page of it is touched and charged.
    // The container's own cgroup is at /sys/fs/cgroup (v2) or /sys/fs/cgroup/memory (v1);
    // memory.events (v2) and memory.oom_control (v1) both have an "oom_kill N" line.
    let script = if unified().is_some() {
        "dd if=/dev/zero of=/dev/null bs=64M count=1 2>/dev/null; echo rc=$?; \
         cat /sys/fs/cgroup/memory.events; echo peak=$(cat /sys/fs/cgroup/memory.peak)"
    } else {
        "dd if=/dev/zero of=/dev/null bs=64M count=1 2>/dev/null; echo rc=$?; \
         cat /sys/fs/cgroup/memory/memory.oom_control; \
         echo peak=$(cat /sys/fs/cgroup/memory/memory.max_usage_in_bytes)"
    };
    let spec = Spec::new().sh(script).set(
        "/linux/resources/memory",
        json!({"limit": 33554432, "swap": 33554432}),
    );
    let out = h.run(&spec).expect_ok();
    assert!(
        out.stdout.contains("rc=137"),
        "dd was not SIGKILLed:\n{out}"
    );
    let kills = out
        .stdout
        .lines()
        .find_map(|l| l.strip_prefix("oom_kill "))
        .and_then(|v| v.trim().parse::<u64>().ok());
    assert!(kills.is_some_and(|k| k >= 1), "no oom_kill counted:\n{out}");
    // The peak reached the limit (memory.failcnt is not counted for OOM on every kernel).
    let peak = out
        .stdout
        .lines()
        .find_map(|l| l.strip_prefix("peak="))
        .and_then(|v| v.trim().parse::<u64>().ok());
    assert!(
        peak.is_some_and(|p| p > 30 << 20 && p <= 32 << 20),
        "peak usage not at the limit:\n{out}"
    );
    // Control: the same dd without a limit succeeds.
    let free = h.run(
        &Spec::new().sh("dd if=/dev/zero of=/dev/null bs=64M count=1 2>/dev/null; echo rc=$?"),
    );
    assert!(free.stdout.contains("rc=0"), "{free}");
}

#[test]
fn denied_device_cannot_be_opened() {
    let h = Harness::new("cg_devices");
    // Listing /dev/zero in linux.devices drops runc's default allow rule for it, so the
    // spec's deny is what counts (as in runc). (Not /dev/null: runc reopens it during
    // init when stdio is /dev/null, so denying it breaks the container under runc.)
    let spec = Spec::new()
        .sh(
            "echo x > /dev/null && echo null-ok; echo x > /dev/zero && echo zero-ok; \
             head -c 1 /dev/zero > /dev/null && echo zero-read-ok; true",
        )
        .set(
            "/linux/devices",
            json!([{"path": "/dev/zero", "type": "c", "major": 1, "minor": 5, "fileMode": 438}]),
        )
        .set(
            "/linux/resources/devices",
            json!([
                {"allow": false, "access": "rwm"},
                {"allow": false, "type": "c", "major": 1, "minor": 5, "access": "rwm"}
            ]),
        );
    let out = h.run(&spec).expect_ok();
    assert!(out.stdout.contains("null-ok"), "{out}");
    assert!(!out.stdout.contains("zero-ok"), "{out}");
    assert!(!out.stdout.contains("zero-read-ok"), "{out}");
    assert!(out.stderr.contains("Operation not permitted"), "{out}");
}

#[test]
fn absolute_and_relative_cgroups_path() {
    let h = Harness::new("cg_paths");
    let parent = format!("ongi-test-{}", std::process::id());
    // Absolute: under each hierarchy's root.
    let abs = format!("/{parent}/abs-{}", h.marker());
    let ctr = h.start(&sleeper().set("/linux/cgroupsPath", json!(abs)));
    let pid = h.pid(&ctr.id);
    for ctrl in ["memory", "cpu", "pids", "devices", "freezer"] {
        let want = mount_of(ctrl).join(abs.trim_start_matches('/'));
        assert_eq!(cgroup_dir(pid, ctrl), want, "{ctrl}");
        assert!(read_trim(&want.join("cgroup.procs")).contains(&pid.to_string()));
    }
    h.rt(&["delete", "--force", &ctr.id]).expect_ok();
    assert!(!mount_of("memory")
        .join(abs.trim_start_matches('/'))
        .exists());

    // Relative: under the runtime's own cgroup in each hierarchy (which differ here:
    // memory is /process_api/<hash> for this sandbox, cpu is /).
    let rel = format!("{parent}/rel-{}", h.marker());
    let ctr = h.start(&sleeper().set("/linux/cgroupsPath", json!(rel)));
    let pid = h.pid(&ctr.id);
    for ctrl in ["memory", "cpu"] {
        let base = mount_of(ctrl);
        let own = own_cgroup(ctrl);
        let want = base.join(own.trim_start_matches('/')).join(&rel);
        assert_eq!(cgroup_dir(pid, ctrl), want, "{ctrl}");
    }
    h.rt(&["delete", "--force", &ctr.id]).expect_ok();
    for ctrl in ["memory", "cpu"] {
        let base = mount_of(ctrl);
        let own = own_cgroup(ctrl);
        let p = base.join(own.trim_start_matches('/')).join(&rel);
        assert!(!p.exists(), "{} left behind", p.display());
        let _ = fs::remove_dir(p.parent().unwrap());
    }
    for m in fs::read_dir("/sys/fs/cgroup").unwrap().flatten() {
        let _ = fs::remove_dir(m.path().join(&parent));
    }
    let _ = fs::remove_dir(mount_of("memory").join(&parent));
}

#[test]
fn joining_a_cgroup_that_has_processes() {
    let h = Harness::new("cg_shared");
    let pod = format!("ongi-test-pod-{}", h.marker());
    // A "pod" cgroup in every v1 hierarchy with a host process already in it.
    let mut other = std::process::Command::new("/bin/sleep")
        .arg("1000")
        .spawn()
        .expect("spawn sleep");
    // One hierarchy on pure v2.
    let ctrls: &[&str] = if unified().is_some() {
        &["memory"]
    } else {
        &[
            "memory", "cpu", "pids", "devices", "freezer", "cpuset", "blkio",
        ]
    };
    for &ctrl in ctrls {
        let d = mount_of(ctrl).join(&pod);
        fs::create_dir_all(&d).unwrap();
        if ctrl == "cpuset" {
            let root = v1_mount("cpuset").unwrap();
            for f in ["cpuset.cpus", "cpuset.mems"] {
                fs::write(d.join(f), read_trim(&root.join(f))).unwrap();
            }
        }
        fs::write(d.join("cgroup.procs"), other.id().to_string()).unwrap();
    }
    let ctr = h.start(&sleeper().set("/linux/cgroupsPath", json!(format!("/{pod}"))));
    let pid = h.pid(&ctr.id);
    let mem = mount_of("memory").join(&pod);
    let procs = read_trim(&mem.join("cgroup.procs"));
    assert!(
        procs.contains(&pid.to_string()) && procs.contains(&other.id().to_string()),
        "{procs}"
    );
    let del = h.rt(&["delete", "--force", &ctr.id]);
    let other_alive = pid_alive(other.id() as i32);
    let _ = other.kill();
    let _ = other.wait();
    // The pod's directories stay (they held the other process); those the runtime added
    // in the other hierarchies go with the container.
    let added: Vec<PathBuf> = fs::read_dir("/sys/fs/cgroup")
        .unwrap()
        .flatten()
        .map(|m| m.path().join(&pod))
        .filter(|p| p.exists() && !ctrls.iter().any(|c| p.starts_with(mount_of(c))))
        .collect();
    for m in fs::read_dir("/sys/fs/cgroup").unwrap().flatten() {
        let _ = fs::remove_dir(m.path().join(&pod));
    }
    let _ = fs::remove_dir(&mem);
    // runc 1.1.5 warns (and logs its failed rmdirs) but succeeds too.
    del.expect_ok();
    assert!(
        other_alive,
        "delete killed a process that is not the container's"
    );
    assert!(added.is_empty(), "left behind: {added:?}");
    assert!(wait_pid_gone(pid));
}

#[test]
fn pause_and_resume() {
    let h = Harness::new("cg_pause");
    let out = h.dir("out");
    let spec = Spec::new()
        .sh("i=0; while true; do i=$((i+1)); echo $i > /out/n; sleep 0.02; done")
        .bind(&out, "/out", &[]);
    let ctr = h.start(&spec);
    let n = out.join("n");
    let count = || {
        fs::read_to_string(&n)
            .ok()
            .and_then(|s| s.trim().parse::<u64>().ok())
    };
    assert!(wait_until(STATE_TIMEOUT, || count().is_some_and(|c| c > 2)));
    h.rt(&["pause", &ctr.id]).expect_ok();
    assert_eq!(h.status(&ctr.id), "paused");
    let pid = h.pid(&ctr.id);
    let freezer = cgroup_dir(pid, "freezer");
    if unified().is_some() {
        assert_eq!(read_trim(&freezer.join("cgroup.freeze")), "1");
        let events = read_trim(&freezer.join("cgroup.events"));
        assert!(events.lines().any(|l| l == "frozen 1"), "{events}");
    } else {
        assert_eq!(read_trim(&freezer.join("freezer.state")), "FROZEN");
    }
    let before = count();
    std::thread::sleep(Duration::from_millis(300));
    assert_eq!(count(), before, "a paused container made progress");
    // A paused container cannot be paused again... runc says "container not running".
    let again = h.rt(&["pause", &ctr.id]).expect_fail();
    assert!(again.stderr.contains("container not running"), "{again}");
    h.rt(&["resume", &ctr.id]).expect_ok();
    assert_eq!(h.status(&ctr.id), "running");
    let resumed = before.unwrap_or(0);
    assert!(wait_until(STATE_TIMEOUT, || count().is_some_and(|c| c > resumed + 2)));
    let not_paused = h.rt(&["resume", &ctr.id]).expect_fail();
    assert!(
        not_paused.stderr.contains("container not paused"),
        "{not_paused}"
    );
    // Stopped containers cannot be paused.
    h.rt(&["kill", &ctr.id, "KILL"]).expect_ok();
    h.wait_status(&ctr.id, "stopped");
    let stopped = h.rt(&["pause", &ctr.id]).expect_fail();
    assert!(
        stopped.stderr.contains("container not running"),
        "{stopped}"
    );
}

#[test]
fn paused_container_can_be_force_deleted() {
    let h = Harness::new("cg_pause_delete");
    let ctr = h.start(&sleeper());
    let pid = h.pid(&ctr.id);
    h.rt(&["pause", &ctr.id]).expect_ok();
    h.rt(&["delete", "--force", &ctr.id]).expect_ok();
    assert!(wait_pid_gone(pid));
    h.assert_no_trace(&ctr.id);
    assert!(cgroup_dirs_named(&ctr.id).is_empty());
}

/// containerd's `task kill -s KILL` and `task delete --force` of a paused task (and CRI's
/// StopContainer) send `kill ID 9` (or `kill --all ID 9`) and wait for the exit: a frozen
/// process must not stay frozen with the SIGKILL pending.
#[test]
fn sigkill_of_a_paused_container_stops_it() {
    let h = Harness::new("cg_pause_kill");
    for all in [false, true] {
        let ctr = h.start(&sleeper());
        let pid = h.pid(&ctr.id);
        h.rt(&["pause", &ctr.id]).expect_ok();
        let mut args = vec!["kill"];
        if all {
            args.push("--all");
        }
        args.extend([ctr.id.as_str(), "KILL"]);
        h.rt(&args).expect_ok();
        assert!(
            wait_pid_gone(pid),
            "init of a paused container survived {args:?}"
        );
        h.wait_status(&ctr.id, "stopped");
        h.rt(&["delete", &ctr.id]).expect_ok();
        h.assert_no_trace(&ctr.id);
    }
}

/// Other signals stay pending until `resume`, as with runc: kill does not thaw for them.
#[test]
fn sigterm_to_a_paused_container_waits_for_resume() {
    let h = Harness::new("cg_pause_term");
    let ctr = h.start(&Spec::new().sh("trap 'exit 3' TERM; while true; do sleep 0.05; done"));
    let pid = h.pid(&ctr.id);
    h.rt(&["pause", &ctr.id]).expect_ok();
    h.rt(&["kill", &ctr.id, "TERM"]).expect_ok();
    std::thread::sleep(Duration::from_millis(200));
    assert_eq!(h.status(&ctr.id), "paused");
    assert!(pid_alive(pid));
    h.rt(&["resume", &ctr.id]).expect_ok();
    h.wait_status(&ctr.id, "stopped");
}

#[test]
fn update_changes_limits_of_a_running_container() {
    let h = Harness::new("cg_update");
    let spec = sleeper().set("/linux/resources/memory", json!({"limit": 67108864}));
    let ctr = h.start(&spec);
    let pid = h.pid(&ctr.id);
    let mem = cgroup_dir(pid, "memory");
    // v1 file names, or their v2 counterparts with runc's conversions.
    let v2 = unified().is_some();
    let limit_file = if v2 {
        "memory.max"
    } else {
        "memory.limit_in_bytes"
    };
    assert_eq!(read_trim(&mem.join(limit_file)), "67108864");
    h.rt(&[
        "update",
        "--memory",
        "128m",
        "--pids-limit",
        "50",
        "--cpu-share",
        "256",
        "--cpu-quota",
        "20000",
        &ctr.id,
    ])
    .expect_ok();
    assert_eq!(read_trim(&mem.join(limit_file)), "134217728");
    assert_eq!(read_trim(&cgroup_dir(pid, "pids").join("pids.max")), "50");
    let cpu = cgroup_dir(pid, "cpu");
    if v2 {
        assert_eq!(read_trim(&cpu.join("cpu.weight")), WEIGHT_OF_SHARES_256);
        assert_eq!(read_trim(&cpu.join("cpu.max")), "20000 100000");
    } else {
        assert_eq!(read_trim(&cpu.join("cpu.shares")), "256");
        assert_eq!(read_trim(&cpu.join("cpu.cfs_quota_us")), "20000");
    }
    // --resources FILE takes a linux.resources object.
    let file = h.work().join("res.json");
    write_file(
        &file,
        r#"{"memory": {"limit": 100663296}, "pids": {"limit": 30}}"#,
    );
    h.rt(&["update", "--resources", path_str(&file), &ctr.id])
        .expect_ok();
    assert_eq!(read_trim(&mem.join(limit_file)), "100663296");
    assert_eq!(read_trim(&cgroup_dir(pid, "pids").join("pids.max")), "30");
    // A bad value names the file and changes nothing.
    let bad = h
        .rt(&["update", "--cpuset-cpus", "999999", &ctr.id])
        .expect_fail();
    assert!(bad.stderr.contains("cpuset.cpus"), "{bad}");
    assert_eq!(h.status(&ctr.id), "running");
}

#[test]
fn update_of_a_stopped_container_fails() {
    let h = Harness::new("cg_update_stopped");
    let ctr = h.start(&sleeper());
    h.rt(&["kill", &ctr.id, "KILL"]).expect_ok();
    h.wait_status(&ctr.id, "stopped");
    let out = h.rt(&["update", "--memory", "64m", &ctr.id]).expect_fail();
    assert!(out.stderr.contains("not running"), "{out}");
}

#[test]
fn events_stats_prints_runc_shaped_json() {
    let h = Harness::new("cg_events");
    let spec = sleeper().set("/linux/resources/pids", json!({"limit": 42}));
    let ctr = h.start(&spec);
    let out = h.rt(&["events", "--stats", &ctr.id]).expect_ok();
    let lines = out.lines();
    assert_eq!(lines.len(), 1, "one JSON line expected:\n{out}");
    let v: Value = serde_json::from_str(lines[0]).unwrap_or_else(|e| panic!("{e}:\n{out}"));
    assert_eq!(v["type"], "stats");
    assert_eq!(v["id"], json!(ctr.id));
    let d = &v["data"];
    assert!(
        d["memory"]["usage"]["usage"]
            .as_u64()
            .is_some_and(|u| u > 0),
        "{v:#}"
    );
    assert!(d["memory"]["usage"]["limit"].as_u64().is_some(), "{v:#}");
    assert!(d["memory"]["raw"].is_object(), "{v:#}");
    assert!(
        d["cpu"]["usage"]["total"].as_u64().is_some_and(|u| u > 0),
        "{v:#}"
    );
    assert_eq!(d["pids"]["current"], json!(1), "{v:#}");
    assert_eq!(d["pids"]["limit"], json!(42), "{v:#}");
    // Stopped: an error, as runc.
    h.rt(&["kill", &ctr.id, "KILL"]).expect_ok();
    h.wait_status(&ctr.id, "stopped");
    h.rt(&["events", "--stats", &ctr.id]).expect_fail();
}

#[test]
#[cfg_attr(
    ongi_test_runc,
    ignore = "runc's stream is only ended by a signal; checked for ongi only"
)]
fn events_streams_stats_at_the_interval() {
    let h = Harness::new("cg_events_stream");
    let ctr = h.start(&Spec::new().args(&["sleep", "1"]));
    // ongi ends the stream once the container is gone.
    let out = h
        .rt(&["events", "--interval", "200ms", &ctr.id])
        .expect_ok();
    let stats: Vec<Value> = out
        .lines()
        .iter()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("{e}: {l}")))
        .collect();
    assert!(stats.len() >= 2, "{out}");
    assert!(stats.iter().all(|v| v["type"] == "stats"), "{out}");
}

#[test]
#[cfg_attr(
    ongi_test_runc,
    ignore = "runc's events stream does not end when the container stops"
)]
fn events_reports_an_oom_kill() {
    let h = Harness::new("cg_events_oom");
    let spec = Spec::new()
        .sh("sleep 1; dd if=/dev/zero of=/dev/null bs=64M count=1; sleep 1")
        .set(
            "/linux/resources/memory",
            json!({"limit": 33554432, "swap": 33554432}),
        );
    let ctr = h.start(&spec);
    let out = h.rt(&["events", "--interval", "1h", &ctr.id]).expect_ok();
    let oom = json!({"type": "oom", "id": ctr.id});
    let events: Vec<Value> = out
        .lines()
        .iter()
        .filter_map(|l| serde_json::from_str(l).ok())
        .collect();
    assert!(events.contains(&oom), "no oom event:\n{out}");
}

/// create must fail, name `needle`, and leave no container, process or cgroup behind.
#[track_caller]
fn create_fails_naming(h: &Harness, spec: &Spec, needle: &str) -> Output {
    let bundle = h.bundle(spec);
    let id = h.new_id();
    let out = h
        .rt(&["create", "--bundle", path_str(&bundle), &id])
        .expect_fail();
    assert!(
        out.stderr.contains(needle),
        "error does not name {needle}:\n{out}"
    );
    h.assert_no_trace(&id);
    let left = cgroup_dirs_named(&id);
    assert!(left.is_empty(), "cgroup left behind: {left:?}");
    out
}

#[test]
fn bad_cpuset_names_the_file_and_leaves_nothing() {
    let h = Harness::new("cg_bad_cpus");
    let spec = sleeper().set("/linux/resources/cpu", json!({"cpus": "999999"}));
    create_fails_naming(&h, &spec, "cpuset.cpus");
}

#[test]
fn hugetlb_is_written_or_named_when_absent() {
    let h = Harness::new("cg_hugetlb");
    let spec = sleeper().set(
        "/linux/resources/hugepageLimits",
        json!([{"pageSize": "2MB", "limit": 2097152}]),
    );
    let v2_hugetlb = unified().is_some_and(|r| {
        read_trim(&r.join("cgroup.controllers"))
            .split_whitespace()
            .any(|c| c == "hugetlb")
    });
    if v2_hugetlb {
        let ctr = h.start(&spec);
        let d = cgroup_dir(h.pid(&ctr.id), "hugetlb");
        assert_eq!(read_trim(&d.join("hugetlb.2MB.max")), "2097152");
        return;
    }
    if v1_mount("hugetlb").is_some() {
        // A v1/hybrid host: the v1 file.
        let ctr = h.start(&spec);
        let d = cgroup_dir(h.pid(&ctr.id), "hugetlb");
        assert_eq!(read_trim(&d.join("hugetlb.2MB.limit_in_bytes")), "2097152");
        return;
    }
    create_fails_naming(&h, &spec, "hugetlb");
}

/// linux.resources.network: written to v1 net_cls where it is mounted, else (pure v2, which
/// has no such controller) refused naming the controller.
#[test]
fn net_cls_is_written_or_named_when_absent() {
    let h = Harness::new("cg_no_netcls");
    let spec = sleeper().set("/linux/resources/network", json!({"classID": 1048577}));
    if v1_mount("net_cls").is_some() {
        let ctr = h.start(&spec);
        let d = cgroup_dir(h.pid(&ctr.id), "net_cls");
        assert_eq!(read_trim(&d.join("net_cls.classid")), "1048577");
        return;
    }
    let out = create_fails_naming(&h, &spec, "net_cls");
    if !is_runc() {
        // runc names only the controller; ongi names the field too.
        assert!(out.stderr.contains("classID"), "{out}");
    }
}

#[test]
fn unified_key_without_v2_file_is_named() {
    let h = Harness::new("cg_unified");
    if unified().is_some() {
        // Pure v2: the key is written as is; a key with no file names it.
        let spec = sleeper().set(
            "/linux/resources/unified",
            json!({"memory.max": "67108864", "pids.max": "33"}),
        );
        let ctr = h.start(&spec);
        let d = cgroup_dir(h.pid(&ctr.id), "memory");
        assert_eq!(read_trim(&d.join("memory.max")), "67108864");
        assert_eq!(read_trim(&d.join("pids.max")), "33");
        // create_fails_naming wants no process of this test alive.
        h.rt(&["delete", "--force", &ctr.id]).expect_ok();
        let bad = sleeper().set("/linux/resources/unified", json!({"memory.nosuch": "1"}));
        let out = create_fails_naming(&h, &bad, "unified");
        assert!(out.stderr.contains("memory.nosuch"), "{out}");
        return;
    }
    // memory is a v1 controller here: the unified tree has no memory.max.
    let spec = sleeper().set(
        "/linux/resources/unified",
        json!({"memory.max": "67108864"}),
    );
    // runc 1.1.5 refuses unified on any non-pure-v2 host; ongi writes unified keys to the
    // hybrid v2 tree and names the missing file.
    let out = create_fails_naming(&h, &spec, "unified");
    if !is_runc() {
        assert!(out.stderr.contains("memory.max"), "{out}");
    }
}

#[test]
fn swap_below_limit_is_refused() {
    let h = Harness::new("cg_bad_swap");
    let spec = sleeper().set(
        "/linux/resources/memory",
        json!({"limit": 67108864, "swap": 33554432}),
    );
    create_fails_naming(&h, &spec, "memory");
}
