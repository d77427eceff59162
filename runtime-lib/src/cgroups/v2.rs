//! Pure cgroup v2: one directory in the unified tree. The spec's v1-shaped values are
//! converted as runc does ([`super::convert`]); device rules become an eBPF program.

use super::convert;
use super::devices;
use super::stats::{self, Stats};
use super::{read_kv, read_u64, write, Apply, CgroupError, CgroupManager, Result};
use oci_spec::runtime::{LinuxResources, LinuxThrottleDevice};
use std::path::PathBuf;
use std::time::{Duration, Instant};

pub struct V2 {
    mountpoint: PathBuf,
    dir: PathBuf,
    /// Directories in controller-less v1 hierarchies (name=systemd) some v2 hosts keep:
    /// created, joined and removed with the container, nothing else.
    extra: Vec<PathBuf>,
}

impl V2 {
    pub fn new(mountpoint: PathBuf, dir: PathBuf, extra: Vec<PathBuf>) -> Self {
        V2 {
            mountpoint,
            dir,
            extra,
        }
    }

    fn all(&self) -> Vec<PathBuf> {
        std::iter::once(self.dir.clone())
            .chain(self.extra.iter().cloned())
            .collect()
    }

    /// Enables every available controller in each ancestor's cgroup.subtree_control, from
    /// the root down, so the container's directory gets the controller files. A level
    /// that refuses (it holds processes: "no internal processes") is left as it is; a
    /// field that then has no file fails with an error naming it.
    fn enable_controllers(&self) {
        let Ok(rel) = self.dir.strip_prefix(&self.mountpoint) else {
            return;
        };
        let mut cur = self.mountpoint.clone();
        for c in rel.components() {
            let avail = crate::sys::read_proc(cur.join("cgroup.controllers")).unwrap_or_default();
            let want: Vec<String> = avail.split_whitespace().map(|c| format!("+{c}")).collect();
            if !want.is_empty() {
                let ctl = cur.join("cgroup.subtree_control");
                if std::fs::write(&ctl, want.join(" ")).is_err() {
                    // One at a time: one unavailable controller must not block the others.
                    for w in &want {
                        let _ = std::fs::write(&ctl, w);
                    }
                }
            }
            cur.push(c);
        }
    }

    fn memory(&self, r: &LinuxResources, update: bool) -> Result<()> {
        let Some(m) = r.memory() else { return Ok(()) };
        let d = &self.dir;
        // The spec's swap is memory+swap, so converting it needs the memory limit; an
        // update that only changes swap uses the current memory.max.
        let mut limit = m.limit();
        if update && limit.is_none() && m.swap().is_some_and(|s| s > 0) {
            limit = crate::sys::read_proc(d.join("memory.max"))
                .ok()
                .map(|v| match v.trim() {
                    "max" => -1,
                    n => n.parse().unwrap_or(0),
                });
        }
        let swap = convert::swap_to_v2(m.swap(), limit).map_err(|reason| CgroupError::Invalid {
            field: "linux.resources.memory.swap".into(),
            reason,
        })?;
        if let Some(limit) = m.limit().filter(|l| *l > 0) {
            if update && m.check_before_update() == Some(true) {
                let usage = read_u64(d, "memory.current");
                if (limit as u64) < usage {
                    return Err(CgroupError::Invalid {
                        field: "linux.resources.memory.limit".into(),
                        reason: format!("new limit {limit} is below the current usage {usage}"),
                    });
                }
            }
        }
        if let Some(s) = swap {
            let v = convert::v2_num(s);
            match write(d, "memory.swap.max", &v, "linux.resources.memory.swap") {
                // No swap accounting: "unlimited" or "none" are already true.
                Err(CgroupError::MissingFile { .. }) if s <= 0 => {}
                r => r?,
            }
        }
        if let Some(l) = m.limit().filter(|l| *l != 0) {
            let f = "linux.resources.memory.limit";
            write(d, "memory.max", &convert::v2_num(l), f)?;
        }
        if let Some(v) = m.reservation().filter(|v| *v != 0) {
            let f = "linux.resources.memory.reservation";
            write(d, "memory.low", &convert::v2_num(v), f)?;
        }
        // Ignored, as runc does on v2: kernel (obsolete since 5.4), swappiness and
        // disableOOMKiller have no v2 file; failing would break every config that sets them.
        if m.kernel_tcp().is_some() {
            return Err(CgroupError::Unsupported {
                field: "linux.resources.memory.kernelTCP".into(),
                reason: "cgroup v2 has no separate TCP buffer limit".into(),
            });
        }
        Ok(())
    }

    fn cpu(&self, r: &LinuxResources) -> Result<()> {
        let Some(c) = r.cpu() else { return Ok(()) };
        let d = &self.dir;
        if c.realtime_period().is_some_and(|v| v != 0)
            || c.realtime_runtime().is_some_and(|v| v != 0)
        {
            return Err(CgroupError::Unsupported {
                field: "linux.resources.cpu.realtimePeriod/realtimeRuntime".into(),
                reason: "cgroup v2 has no realtime CPU budget".into(),
            });
        }
        if let Some(s) = c.shares().filter(|s| *s != 0) {
            let w = convert::shares_to_weight(s);
            write(
                d,
                "cpu.weight",
                &w.to_string(),
                "linux.resources.cpu.shares",
            )?;
        }
        // Only one of quota/period given: keep the other at its current value (runc
        // update keeps the old one from its config; cpu.max holds both).
        let (mut quota, mut period) = (c.quota().filter(|q| *q != 0), c.period());
        if quota.is_some() != period.is_some_and(|p| p != 0) {
            let cur = crate::sys::read_proc(d.join("cpu.max")).unwrap_or_default();
            let mut f = cur.split_whitespace();
            let (q, p) = (f.next(), f.next().and_then(|p| p.parse().ok()));
            if quota.is_none() {
                quota = Some(q.and_then(|q| q.parse().ok()).unwrap_or(-1));
            }
            if period.unwrap_or(0) == 0 {
                period = p;
            }
        }
        if let Some(v) = convert::cpu_max(quota, period) {
            write(d, "cpu.max", &v, "linux.resources.cpu.quota/period")?;
        }
        if let Some(b) = c.burst() {
            write(
                d,
                "cpu.max.burst",
                &b.to_string(),
                "linux.resources.cpu.burst",
            )?;
        }
        if let Some(i) = c.idle() {
            write(d, "cpu.idle", &i.to_string(), "linux.resources.cpu.idle")?;
        }
        if let Some(cpus) = c.cpus().as_deref().filter(|s| !s.is_empty()) {
            write(d, "cpuset.cpus", cpus, "linux.resources.cpu.cpus")?;
        }
        if let Some(mems) = c.mems().as_deref().filter(|s| !s.is_empty()) {
            write(d, "cpuset.mems", mems, "linux.resources.cpu.mems")?;
        }
        Ok(())
    }

    fn io(&self, r: &LinuxResources) -> Result<()> {
        let Some(b) = r.block_io() else {
            return Ok(());
        };
        let d = &self.dir;
        // BFQ takes the v1 weight as is; io.weight (other schedulers) takes the converted one.
        let bfq = d.join("io.bfq.weight").exists();
        if let Some(w) = b.weight().filter(|w| *w != 0) {
            let f = "linux.resources.blockIO.weight";
            if bfq {
                write(d, "io.bfq.weight", &w.to_string(), f)?;
            } else {
                let v = convert::blkio_weight_to_io_weight(w.into());
                write(d, "io.weight", &format!("default {v}"), f)?;
            }
        }
        for wd in b.weight_device().as_deref().unwrap_or_default() {
            let f = "linux.resources.blockIO.weightDevice";
            if let Some(w) = wd.weight() {
                let (file, v) = if bfq {
                    ("io.bfq.weight", u64::from(w))
                } else {
                    ("io.weight", convert::blkio_weight_to_io_weight(w.into()))
                };
                write(d, file, &format!("{}:{} {v}", wd.major(), wd.minor()), f)?;
            }
        }
        let throttles: [(&str, &str, &Option<Vec<LinuxThrottleDevice>>); 4] = [
            (
                "throttleReadBpsDevice",
                "rbps",
                b.throttle_read_bps_device(),
            ),
            (
                "throttleWriteBpsDevice",
                "wbps",
                b.throttle_write_bps_device(),
            ),
            (
                "throttleReadIOPSDevice",
                "riops",
                b.throttle_read_iops_device(),
            ),
            (
                "throttleWriteIOPSDevice",
                "wiops",
                b.throttle_write_iops_device(),
            ),
        ];
        for (name, key, list) in throttles {
            for t in list.as_deref().unwrap_or_default() {
                let v = format!("{}:{} {key}={}", t.major(), t.minor(), t.rate());
                write(d, "io.max", &v, &format!("linux.resources.blockIO.{name}"))?;
            }
        }
        Ok(())
    }
}

impl CgroupManager for V2 {
    fn create(&self) -> Result<()> {
        super::create_all(&self.all())?;
        self.enable_controllers();
        Ok(())
    }

    fn apply(&self, r: &LinuxResources, how: Apply<'_>) -> Result<()> {
        let update = matches!(how, Apply::Update);
        let d = &self.dir;
        self.cpu(r)?;
        if let Apply::Create(rules) = how {
            if !rules.is_empty() {
                devices::attach_v2(d, rules)?;
            }
        }
        self.memory(r, update)?;
        if let Some(l) = r.pids().map(|p| p.limit()).filter(|l| *l != 0) {
            write(
                d,
                "pids.max",
                &convert::v2_num(l),
                "linux.resources.pids.limit",
            )?;
        }
        self.io(r)?;
        for h in r.hugepage_limits().as_deref().unwrap_or_default() {
            let file = format!("hugetlb.{}.max", h.page_size());
            write(
                d,
                &file,
                &h.limit().to_string(),
                "linux.resources.hugepageLimits",
            )?;
        }
        if let Some(n) = r.network() {
            // Name the field that is set, as v1 does when net_cls/net_prio are not mounted.
            let field = if n.class_id().is_some() {
                Some(("classID", "net_cls"))
            } else if n.priorities().as_ref().is_some_and(|p| !p.is_empty()) {
                Some(("priorities", "net_prio"))
            } else {
                None
            };
            if let Some((field, controller)) = field {
                return Err(CgroupError::Unsupported {
                    field: format!("linux.resources.network.{field}"),
                    reason: format!("the {controller} controller does not exist in cgroup v2"),
                });
            }
        }
        for (dev, l) in r.rdma().iter().flatten() {
            write(
                d,
                "rdma.max",
                &super::rdma_line(dev, l),
                "linux.resources.rdma",
            )?;
        }
        if let Some(map) = r.unified().as_ref().filter(|m| !m.is_empty()) {
            super::write_unified(d, map)?;
        }
        Ok(())
    }

    fn pids(&self) -> Result<Vec<i32>> {
        Ok(super::read_procs(&self.dir)?.unwrap_or_default())
    }

    fn freeze(&self) -> Result<()> {
        write(&self.dir, "cgroup.freeze", "1", "pause")?;
        // cgroup.events says "frozen 1" once every task has stopped.
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            if read_kv(&self.dir, "cgroup.events").get("frozen") == Some(&1) {
                return Ok(());
            }
            if Instant::now() > deadline {
                let _ = write(&self.dir, "cgroup.freeze", "0", "pause");
                return Err(CgroupError::Freeze {
                    path: self.dir.join("cgroup.events"),
                    state: "frozen 0".into(),
                });
            }
            std::thread::sleep(Duration::from_millis(1));
        }
    }

    fn thaw(&self) -> Result<()> {
        write(&self.dir, "cgroup.freeze", "0", "resume")
    }

    fn frozen(&self) -> bool {
        crate::sys::read_proc(self.dir.join("cgroup.freeze")).is_ok_and(|s| s.trim() == "1")
    }

    fn stats(&self) -> Result<Stats> {
        let d = &self.dir;
        let mut s = Stats::default();
        let cpu = read_kv(d, "cpu.stat");
        let us = |k: &str| cpu.get(k).copied().unwrap_or(0) * 1000;
        s.cpu.usage.total = us("usage_usec");
        s.cpu.usage.user = us("user_usec");
        s.cpu.usage.kernel = us("system_usec");
        s.cpu.throttling.periods = cpu.get("nr_periods").copied().unwrap_or(0);
        s.cpu.throttling.throttled_periods = cpu.get("nr_throttled").copied().unwrap_or(0);
        s.cpu.throttling.throttled_time = us("throttled_usec");
        let rd = |f: &str| crate::sys::read_proc(d.join(f)).unwrap_or_default();
        s.cpuset.cpus = stats::parse_list(&rd("cpuset.cpus.effective"));
        s.cpuset.mems = stats::parse_list(&rd("cpuset.mems.effective"));
        let m = &mut s.memory;
        m.raw = read_kv(d, "memory.stat");
        m.cache = m.raw.get("file").copied().unwrap_or(0);
        let events = read_kv(d, "memory.events");
        m.usage = stats::MemoryEntry {
            limit: read_u64(d, "memory.max"),
            usage: read_u64(d, "memory.current"),
            max: read_u64(d, "memory.peak"),
            failcnt: events.get("max").copied().unwrap_or(0),
        };
        // v1 reports swap as memory+swap; runc keeps that meaning on v2.
        let swap_limit = read_u64(d, "memory.swap.max");
        m.swap = stats::MemoryEntry {
            limit: if swap_limit == u64::MAX || m.usage.limit == u64::MAX {
                u64::MAX
            } else {
                swap_limit + m.usage.limit
            },
            usage: read_u64(d, "memory.swap.current") + m.usage.usage,
            max: 0,
            failcnt: 0,
        };
        s.pids.current = read_u64(d, "pids.current");
        s.pids.limit = match read_u64(d, "pids.max") {
            u64::MAX => 0,
            v => v,
        };
        let (bytes, ios) = stats::parse_io_stat(&rd("io.stat"));
        s.blkio.io_service_bytes_recursive = bytes;
        s.blkio.io_serviced_recursive = ios;
        for size in super::hugetlb_sizes(d, ".max") {
            let p = format!("hugetlb.{size}.");
            let ev = read_kv(d, &format!("{p}events"));
            s.hugetlb.insert(
                size,
                stats::Hugetlb {
                    usage: read_u64(d, &format!("{p}current")),
                    max: 0,
                    failcnt: ev.get("max").copied().unwrap_or(0),
                },
            );
        }
        Ok(s)
    }

    fn oom_kills(&self) -> u64 {
        read_kv(&self.dir, "memory.events")
            .get("oom_kill")
            .copied()
            .unwrap_or(0)
    }
}

#[cfg(test)]
mod tests {
    //! Run against the host's cgroup2 tree when there is one (on hybrid hosts the
    //! controller-less `unified` mount still has cgroup.freeze, cgroup.events, cpu.stat and
    //! eBPF device programs), as root.
    use super::*;
    use std::process::{Command, Stdio};

    fn v2_root() -> Option<PathBuf> {
        if !nix::unistd::geteuid().is_root() {
            return None;
        }
        super::super::hierarchies()
            .into_iter()
            .find(|h| h.is_v2())
            .map(|h| h.mountpoint)
    }

    #[test]
    fn devices_freeze_stats_on_a_real_v2_tree() {
        // Every host has a cgroup2 mount (hybrid: /sys/fs/cgroup/unified; pure v2: the
        // root); the tests run as root.
        let root = v2_root().expect("a cgroup2 mount and root (the tests run as root)");
        let dir = root.join(format!("ongi-unit-v2-{}", std::process::id()));
        let m = V2::new(root.clone(), dir.clone(), Vec::new());
        // Not m.create(): on a hybrid host that would enable the unified tree's
        // controllers in its root's subtree_control, a host-wide change.
        super::super::create_all(std::slice::from_ref(&dir)).unwrap();
        let spec: Vec<oci_spec::runtime::LinuxDeviceCgroup> =
            serde_json::from_str(r#"[{"allow":false,"access":"rwm"}]"#).unwrap();
        let zero: Vec<oci_spec::runtime::LinuxDevice> =
            serde_json::from_str(r#"[{"path":"/dev/zero","type":"c","major":1,"minor":5}]"#)
                .unwrap();
        let rules = devices::rules(&spec, &zero).unwrap();
        m.apply(&LinuxResources::default(), Apply::Create(&rules))
            .unwrap();
        // A shell that moves itself in, then waits for a line on stdin before testing
        // the devices, so it can be frozen in between.
        let script = format!(
            "echo $$ > {}/cgroup.procs; read x; echo x > /dev/null && echo null-ok; \
             echo x > /dev/zero && echo zero-ok; true",
            dir.display()
        );
        let mut child = Command::new("/bin/sh")
            .args(["-c", &script])
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let pid = child.id() as i32;
        let deadline = Instant::now() + Duration::from_secs(5);
        while !m.pids().unwrap().contains(&pid) && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(5));
        }
        m.freeze().unwrap();
        assert!(m.frozen());
        m.thaw().unwrap();
        assert!(!m.frozen());
        let s = m.stats().unwrap();
        drop(child.stdin.take());
        let out = child.wait_with_output().unwrap();
        let stdout = String::from_utf8_lossy(&out.stdout);
        let stderr = String::from_utf8_lossy(&out.stderr);
        super::super::remove(&m.all()).unwrap();
        assert!(!dir.exists());
        assert!(stdout.contains("null-ok"), "{stdout} {stderr}");
        assert!(!stdout.contains("zero-ok"), "{stdout} {stderr}");
        assert!(stderr.contains("Operation not permitted"), "{stderr}");
        assert!(s.cpu.usage.total > 0, "{s:?}");
    }

    #[test]
    fn missing_v2_file_names_the_field() {
        let Some(root) = v2_root() else { return };
        let dir = root.join(format!("ongi-unit-v2e-{}", std::process::id()));
        let m = V2::new(root.clone(), dir.clone(), Vec::new());
        // Not m.create(): on a hybrid host that would enable the unified tree's
        // controllers in its root's subtree_control, a host-wide change.
        super::super::create_all(std::slice::from_ref(&dir)).unwrap();
        let r: LinuxResources = serde_json::from_str(r#"{"unified":{"nosuch.file":"1"}}"#).unwrap();
        let e = m.apply(&r, Apply::Update).unwrap_err().to_string();
        let r: LinuxResources =
            serde_json::from_str(r#"{"cpu":{"realtimeRuntime":1000}}"#).unwrap();
        let rt = m.apply(&r, Apply::Update).unwrap_err().to_string();
        super::super::remove(&m.all()).unwrap();
        assert!(e.contains("nosuch.file") && e.contains("unified"), "{e}");
        assert!(rt.contains("realtime"), "{rt}");
    }
}
