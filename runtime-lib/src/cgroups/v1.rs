//! cgroup v1 (and hybrid): one directory per hierarchy; each field goes to the hierarchy
//! of its controller. On hybrid hosts the v2 `unified` directory only takes
//! `linux.resources.unified` keys, as in runc.

use super::devices;
use super::stats::{self, Stats};
use super::{read_kv, read_u64, write, Apply, CgroupError, CgroupManager, Hierarchy, Result};
use oci_spec::runtime::{LinuxResources, LinuxThrottleDevice};
use std::path::{Path, PathBuf};
use std::time::Duration;

pub struct V1 {
    /// Each container directory with the hierarchy it is in.
    placed: Vec<(Hierarchy, PathBuf)>,
    /// Every directory, in persisted order (also those whose hierarchy went away).
    all: Vec<PathBuf>,
}

impl V1 {
    pub fn new(placed: Vec<(Hierarchy, PathBuf)>, all: Vec<PathBuf>) -> Self {
        V1 { placed, all }
    }

    fn dir(&self, ctrl: &str) -> Option<&Path> {
        self.placed
            .iter()
            .find(|(h, _)| h.has(ctrl))
            .map(|(_, d)| d.as_path())
    }

    /// The directory of `ctrl`, or an error naming the field that needs it.
    fn need(&self, ctrl: &'static str, field: &str) -> Result<&Path> {
        self.dir(ctrl).ok_or_else(|| CgroupError::NoController {
            field: field.to_string(),
            controller: ctrl,
        })
    }

    fn unified(&self) -> Option<&Path> {
        self.placed
            .iter()
            .find(|(h, _)| h.is_v2())
            .map(|(_, d)| d.as_path())
    }

    pub fn apply_with(&self, r: &LinuxResources, how: Apply<'_>) -> Result<()> {
        let update = matches!(how, Apply::Update);
        // runc's subsystem order: cpuset, devices, memory, cpu, pids, blkio, hugetlb,
        // net_cls, net_prio.
        if let Some(cpu) = r.cpu() {
            if let Some(cpus) = cpu.cpus().as_deref().filter(|s| !s.is_empty()) {
                let f = "linux.resources.cpu.cpus";
                write(self.need("cpuset", f)?, "cpuset.cpus", cpus, f)?;
            }
            if let Some(mems) = cpu.mems().as_deref().filter(|s| !s.is_empty()) {
                let f = "linux.resources.cpu.mems";
                write(self.need("cpuset", f)?, "cpuset.mems", mems, f)?;
            }
        }
        if let Apply::Create(rules) = how {
            if !rules.is_empty() {
                devices::apply_v1(self.need("devices", "linux.resources.devices")?, rules)?;
            }
        }
        self.memory(r, update)?;
        self.cpu(r)?;
        if let Some(l) = r.pids().map(|p| p.limit()).filter(|l| *l != 0) {
            let f = "linux.resources.pids.limit";
            let v = if l > 0 { l.to_string() } else { "max".into() };
            write(self.need("pids", f)?, "pids.max", &v, f)?;
        }
        self.blkio(r)?;
        for h in r.hugepage_limits().as_deref().unwrap_or_default() {
            let f = "linux.resources.hugepageLimits";
            let file = format!("hugetlb.{}.limit_in_bytes", h.page_size());
            write(self.need("hugetlb", f)?, &file, &h.limit().to_string(), f)?;
        }
        if let Some(net) = r.network() {
            if let Some(id) = net.class_id() {
                let f = "linux.resources.network.classID";
                write(
                    self.need("net_cls", f)?,
                    "net_cls.classid",
                    &id.to_string(),
                    f,
                )?;
            }
            for p in net.priorities().as_deref().unwrap_or_default() {
                let f = "linux.resources.network.priorities";
                let v = format!("{} {}", p.name(), p.priority());
                write(self.need("net_prio", f)?, "net_prio.ifpriomap", &v, f)?;
            }
        }
        for (dev, l) in r.rdma().iter().flatten() {
            let f = "linux.resources.rdma";
            write(
                self.need("rdma", f)?,
                "rdma.max",
                &super::rdma_line(dev, l),
                f,
            )?;
        }
        self.unified_keys(r)
    }

    fn memory(&self, r: &LinuxResources, update: bool) -> Result<()> {
        let Some(m) = r.memory() else { return Ok(()) };
        let limit = m.limit().unwrap_or(0);
        let mut swap = m.swap().unwrap_or(0);
        let any = limit != 0
            || swap != 0
            || m.reservation().is_some()
            || m.kernel_tcp().is_some()
            || m.swappiness().is_some()
            || m.disable_oom_killer() == Some(true);
        if !any {
            return Ok(());
        }
        let d = self.need("memory", "linux.resources.memory")?;
        const LIMIT: &str = "memory.limit_in_bytes";
        const SWAP: &str = "memory.memsw.limit_in_bytes";
        let fl = "linux.resources.memory.limit";
        let fs = "linux.resources.memory.swap";
        if update && m.check_before_update() == Some(true) && limit > 0 {
            let usage = read_u64(d, "memory.usage_in_bytes");
            if (limit as u64) < usage {
                return Err(CgroupError::Invalid {
                    field: fl.into(),
                    reason: format!("new limit {limit} is below the current usage {usage}"),
                });
            }
        }
        let set_limit = || {
            write(d, LIMIT, &limit.to_string(), fl).map_err(|e| match e {
                CgroupError::Write {
                    errno: nix::errno::Errno::EBUSY,
                    ..
                } => CgroupError::Invalid {
                    field: fl.into(),
                    reason: format!(
                        "unable to set memory limit to {limit} (current usage: {}, peak usage: {})",
                        read_u64(d, "memory.usage_in_bytes"),
                        read_u64(d, "memory.max_usage_in_bytes")
                    ),
                },
                e => e,
            })
        };
        // Unlimited memory with swap unset means unlimited swap too (if swap is accounted).
        if limit == -1 && swap == 0 && d.join(SWAP).exists() {
            swap = -1;
        }
        // The kernel requires limit <= memsw at every moment, so the order of the two
        // writes depends on whether the limits grow or shrink.
        let mut done = false;
        if limit != 0 && swap != 0 {
            let cur = read_u64(d, LIMIT);
            if swap == -1 || cur < swap as u64 {
                write(d, SWAP, &swap.to_string(), fs)?;
                set_limit()?;
                done = true;
            }
        }
        if !done {
            if limit != 0 {
                set_limit()?;
            }
            if swap != 0 {
                write(d, SWAP, &swap.to_string(), fs)?;
            }
        }
        if let Some(v) = m.reservation() {
            let f = "linux.resources.memory.reservation";
            write(d, "memory.soft_limit_in_bytes", &v.to_string(), f)?;
        }
        // memory.kernel is not applied: kernel memory limits are deprecated since Linux 5.4
        // and the file is gone or refuses writes on current kernels; runc 1.1 ignores it too.
        if let Some(v) = m.kernel_tcp() {
            let f = "linux.resources.memory.kernelTCP";
            write(d, "memory.kmem.tcp.limit_in_bytes", &v.to_string(), f)?;
        }
        if m.disable_oom_killer() == Some(true) {
            let f = "linux.resources.memory.disableOOMKiller";
            write(d, "memory.oom_control", "1", f)?;
        }
        if let Some(v) = m.swappiness() {
            let f = "linux.resources.memory.swappiness";
            if v > 100 {
                return Err(CgroupError::Invalid {
                    field: f.into(),
                    reason: format!("{v}: valid memory swappiness range is 0-100"),
                });
            }
            write(d, "memory.swappiness", &v.to_string(), f)?;
        }
        Ok(())
    }

    fn cpu(&self, r: &LinuxResources) -> Result<()> {
        let Some(c) = r.cpu() else { return Ok(()) };
        let any = c.shares().is_some_and(|v| v != 0)
            || c.quota().is_some_and(|v| v != 0)
            || c.period().is_some_and(|v| v != 0)
            || c.realtime_period().is_some_and(|v| v != 0)
            || c.realtime_runtime().is_some_and(|v| v != 0)
            || c.idle().is_some()
            || c.burst().is_some();
        if !any {
            return Ok(());
        }
        let d = self.need("cpu", "linux.resources.cpu")?;
        // The RT budget is set before the task joins (the kernel refuses an RT task in a
        // group without budget).
        if let Some(v) = c.realtime_period().filter(|v| *v != 0) {
            let f = "linux.resources.cpu.realtimePeriod";
            write(d, "cpu.rt_period_us", &v.to_string(), f)?;
        }
        if let Some(v) = c.realtime_runtime().filter(|v| *v != 0) {
            let f = "linux.resources.cpu.realtimeRuntime";
            write(d, "cpu.rt_runtime_us", &v.to_string(), f)?;
        }
        if let Some(v) = c.shares().filter(|v| *v != 0) {
            let f = "linux.resources.cpu.shares";
            write(d, "cpu.shares", &v.to_string(), f)?;
            // The kernel clamps silently; runc reports it.
            let got = read_u64(d, "cpu.shares");
            if got != v {
                let which = if v > got { "maximum" } else { "minimum" };
                return Err(CgroupError::Invalid {
                    field: f.into(),
                    reason: format!("{v}: the {which} allowed cpu-shares is {got}"),
                });
            }
        }
        let quota = c.quota().filter(|v| *v != 0);
        let mut period_pending = None;
        if let Some(p) = c.period().filter(|v| *v != 0) {
            let f = "linux.resources.cpu.period";
            match write(d, "cpu.cfs_period_us", &p.to_string(), f) {
                Ok(()) => {}
                // A smaller period can be refused while the old quota/new period exceeds
                // the parent's; retry after the quota is written.
                Err(CgroupError::Write {
                    errno: nix::errno::Errno::EINVAL,
                    ..
                }) if quota.is_some() => period_pending = Some(p),
                Err(e) => return Err(e),
            }
        }
        if let Some(q) = quota {
            let f = "linux.resources.cpu.quota";
            write(d, "cpu.cfs_quota_us", &q.to_string(), f)?;
        }
        if let Some(p) = period_pending {
            let f = "linux.resources.cpu.period";
            write(d, "cpu.cfs_period_us", &p.to_string(), f)?;
        }
        if let Some(v) = c.burst() {
            let f = "linux.resources.cpu.burst";
            write(d, "cpu.cfs_burst_us", &v.to_string(), f)?;
        }
        if let Some(v) = c.idle() {
            let f = "linux.resources.cpu.idle";
            write(d, "cpu.idle", &v.to_string(), f)?;
        }
        Ok(())
    }

    fn blkio(&self, r: &LinuxResources) -> Result<()> {
        let Some(b) = r.block_io() else {
            return Ok(());
        };
        let f = "linux.resources.blockIO";
        let throttles: [(&str, &str, &Option<Vec<LinuxThrottleDevice>>); 4] = [
            (
                "throttleReadBpsDevice",
                "blkio.throttle.read_bps_device",
                b.throttle_read_bps_device(),
            ),
            (
                "throttleWriteBpsDevice",
                "blkio.throttle.write_bps_device",
                b.throttle_write_bps_device(),
            ),
            (
                "throttleReadIOPSDevice",
                "blkio.throttle.read_iops_device",
                b.throttle_read_iops_device(),
            ),
            (
                "throttleWriteIOPSDevice",
                "blkio.throttle.write_iops_device",
                b.throttle_write_iops_device(),
            ),
        ];
        let any = b.weight().is_some_and(|w| w != 0)
            || b.leaf_weight().is_some_and(|w| w != 0)
            || b.weight_device().as_ref().is_some_and(|v| !v.is_empty())
            || throttles
                .iter()
                .any(|(_, _, v)| v.as_ref().is_some_and(|v| !v.is_empty()));
        if !any {
            return Ok(());
        }
        let d = self.need("blkio", f)?;
        // CFQ's files, or BFQ's (kernels without CFQ) when only those exist.
        let bfq = !d.join("blkio.weight").exists() && d.join("blkio.bfq.weight").exists();
        let (wfile, wdfile) = if bfq {
            ("blkio.bfq.weight", "blkio.bfq.weight_device")
        } else {
            ("blkio.weight", "blkio.weight_device")
        };
        if let Some(w) = b.weight().filter(|w| *w != 0) {
            write(d, wfile, &w.to_string(), "linux.resources.blockIO.weight")?;
        }
        if let Some(w) = b.leaf_weight().filter(|w| *w != 0) {
            let fl = "linux.resources.blockIO.leafWeight";
            write(d, "blkio.leaf_weight", &w.to_string(), fl)?;
        }
        for wd in b.weight_device().as_deref().unwrap_or_default() {
            let fl = "linux.resources.blockIO.weightDevice";
            if let Some(w) = wd.weight() {
                let v = format!("{}:{} {w}", wd.major(), wd.minor());
                write(d, wdfile, &v, fl)?;
            }
            if let Some(w) = wd.leaf_weight() {
                let v = format!("{}:{} {w}", wd.major(), wd.minor());
                write(d, "blkio.leaf_weight_device", &v, fl)?;
            }
        }
        for (name, file, list) in throttles {
            for t in list.as_deref().unwrap_or_default() {
                let v = format!("{}:{} {}", t.major(), t.minor(), t.rate());
                write(d, file, &v, &format!("{f}.{name}"))?;
            }
        }
        Ok(())
    }

    fn unified_keys(&self, r: &LinuxResources) -> Result<()> {
        let Some(map) = r.unified().as_ref().filter(|m| !m.is_empty()) else {
            return Ok(());
        };
        let Some(u) = self.unified() else {
            return Err(CgroupError::Unsupported {
                field: "linux.resources.unified".into(),
                reason: "cgroup v2 is not mounted on this host (v1 only), so unified keys \
                         have no file to go to"
                    .into(),
            });
        };
        super::write_unified(u, map)
    }
}

impl CgroupManager for V1 {
    fn create(&self) -> Result<()> {
        super::create_all(&self.all)?;
        if let Some(d) = self.dir("cpuset") {
            // The caller's failure path removes the directories.
            init_cpuset(d)?;
        }
        Ok(())
    }

    fn apply(&self, r: &LinuxResources, how: Apply<'_>) -> Result<()> {
        self.apply_with(r, how)
    }

    fn pids(&self) -> Result<Vec<i32>> {
        for d in &self.all {
            if let Some(p) = super::read_procs(d)? {
                return Ok(p);
            }
        }
        Ok(Vec::new())
    }

    fn freeze(&self) -> Result<()> {
        let d = self.need("freezer", "pause")?;
        // As runc: a v1 freeze can stay FREEZING while tasks fork; rewrite FROZEN and
        // re-check, thawing now and then, and give up (thawed) after enough tries.
        for i in 0..1000 {
            if i % 50 == 49 {
                let _ = write(d, "freezer.state", "THAWED", "pause");
                std::thread::sleep(Duration::from_millis(10));
            }
            if let Err(e) = write(d, "freezer.state", "FROZEN", "pause") {
                let _ = write(d, "freezer.state", "THAWED", "pause");
                return Err(e);
            }
            if i % 25 == 24 {
                std::thread::sleep(Duration::from_micros(10));
            }
            let state = super::read(d, "freezer.state")?;
            match state.trim() {
                "FROZEN" => return Ok(()),
                "FREEZING" => continue,
                other => {
                    let _ = write(d, "freezer.state", "THAWED", "pause");
                    return Err(CgroupError::Freeze {
                        path: d.join("freezer.state"),
                        state: other.to_string(),
                    });
                }
            }
        }
        let _ = write(d, "freezer.state", "THAWED", "pause");
        Err(CgroupError::Freeze {
            path: d.join("freezer.state"),
            state: "FREEZING".into(),
        })
    }

    fn thaw(&self) -> Result<()> {
        let d = self.need("freezer", "resume")?;
        write(d, "freezer.state", "THAWED", "resume")
    }

    fn frozen(&self) -> bool {
        self.dir("freezer").is_some_and(|d| {
            crate::sys::read_proc(d.join("freezer.state")).is_ok_and(|s| s.trim() == "FROZEN")
        })
    }

    fn stats(&self) -> Result<Stats> {
        let mut s = Stats::default();
        if let Some(d) = self.dir("cpuacct") {
            let u = &mut s.cpu.usage;
            u.total = read_u64(d, "cpuacct.usage");
            let list = |f: &str| -> Vec<u64> {
                crate::sys::read_proc(d.join(f))
                    .unwrap_or_default()
                    .split_whitespace()
                    .filter_map(|x| x.parse().ok())
                    .collect()
            };
            u.percpu = list("cpuacct.usage_percpu");
            u.percpu_kernel = list("cpuacct.usage_percpu_sys");
            u.percpu_user = list("cpuacct.usage_percpu_user");
            // cpuacct.stat is in clock ticks.
            let kv = read_kv(d, "cpuacct.stat");
            let ns = 1_000_000_000 / super::clock_ticks();
            u.user = kv.get("user").copied().unwrap_or(0) * ns;
            u.kernel = kv.get("system").copied().unwrap_or(0) * ns;
        }
        if let Some(d) = self.dir("cpu") {
            let kv = read_kv(d, "cpu.stat");
            let t = &mut s.cpu.throttling;
            t.periods = kv.get("nr_periods").copied().unwrap_or(0);
            t.throttled_periods = kv.get("nr_throttled").copied().unwrap_or(0);
            t.throttled_time = kv.get("throttled_time").copied().unwrap_or(0);
        }
        if let Some(d) = self.dir("cpuset") {
            let rd = |f: &str| crate::sys::read_proc(d.join(f)).unwrap_or_default();
            s.cpuset.cpus = stats::parse_list(&rd("cpuset.cpus"));
            s.cpuset.mems = stats::parse_list(&rd("cpuset.mems"));
            let c = &mut s.cpuset;
            c.cpu_exclusive = read_u64(d, "cpuset.cpu_exclusive");
            c.mem_hardwall = read_u64(d, "cpuset.mem_hardwall");
            c.mem_exclusive = read_u64(d, "cpuset.mem_exclusive");
            c.memory_migrate = read_u64(d, "cpuset.memory_migrate");
            c.memory_spread_page = read_u64(d, "cpuset.memory_spread_page");
            c.memory_spread_slab = read_u64(d, "cpuset.memory_spread_slab");
            c.memory_pressure = read_u64(d, "cpuset.memory_pressure");
            c.sched_load_balance = read_u64(d, "cpuset.sched_load_balance");
            c.sched_relax_domain_level = rd("cpuset.sched_relax_domain_level")
                .trim()
                .parse()
                .unwrap_or(0);
        }
        if let Some(d) = self.dir("memory") {
            let m = &mut s.memory;
            m.raw = read_kv(d, "memory.stat");
            m.cache = m.raw.get("cache").copied().unwrap_or(0);
            let entry = |p: &str| stats::MemoryEntry {
                limit: read_u64(d, &format!("{p}limit_in_bytes")),
                usage: read_u64(d, &format!("{p}usage_in_bytes")),
                max: read_u64(d, &format!("{p}max_usage_in_bytes")),
                failcnt: read_u64(d, &format!("{p}failcnt")),
            };
            m.usage = entry("memory.");
            m.swap = entry("memory.memsw.");
            m.kernel = entry("memory.kmem.");
            m.kernel_tcp = entry("memory.kmem.tcp.");
        }
        if let Some(d) = self.dir("pids") {
            s.pids.current = read_u64(d, "pids.current");
            s.pids.limit = match read_u64(d, "pids.max") {
                u64::MAX => 0,
                v => v,
            };
        }
        if let Some(d) = self.dir("blkio") {
            // CFQ's recursive files when they have data, else the throttle ones.
            let pick = |a: &str, b: &str| {
                let x = stats::parse_blkio(&crate::sys::read_proc(d.join(a)).unwrap_or_default());
                if x.is_empty() {
                    stats::parse_blkio(&crate::sys::read_proc(d.join(b)).unwrap_or_default())
                } else {
                    x
                }
            };
            s.blkio.io_service_bytes_recursive = pick(
                "blkio.io_service_bytes_recursive",
                "blkio.throttle.io_service_bytes_recursive",
            );
            s.blkio.io_serviced_recursive = pick(
                "blkio.io_serviced_recursive",
                "blkio.throttle.io_serviced_recursive",
            );
        }
        if let Some(d) = self.dir("hugetlb") {
            for size in super::hugetlb_sizes(d, ".limit_in_bytes") {
                let p = format!("hugetlb.{size}.");
                s.hugetlb.insert(
                    size,
                    stats::Hugetlb {
                        usage: read_u64(d, &format!("{p}usage_in_bytes")),
                        max: read_u64(d, &format!("{p}max_usage_in_bytes")),
                        failcnt: read_u64(d, &format!("{p}failcnt")),
                    },
                );
            }
        }
        Ok(s)
    }

    fn oom_kills(&self) -> u64 {
        self.dir("memory")
            .map(|d| read_kv(d, "memory.oom_control"))
            .and_then(|kv| kv.get("oom_kill").copied())
            .unwrap_or(0)
    }
}

/// A new v1 cpuset cgroup starts with empty cpus/mems and refuses tasks (ENOSPC) until
/// they are copied down from the nearest initialised ancestor. Returns the directory's
/// (cpus, mems) once initialised, so each level is read once.
fn init_cpuset(dir: &Path) -> Result<(String, String)> {
    let rd = |file: &str| crate::sys::read_proc(dir.join(file)).map(|v| v.trim().to_string());
    let (Ok(mut cpus), Ok(mut mems)) = (rd("cpuset.cpus"), rd("cpuset.mems")) else {
        return Ok(Default::default()); // not a cpuset hierarchy
    };
    if cpus.is_empty() || mems.is_empty() {
        let Some(parent) = dir.parent() else {
            return Ok((cpus, mems));
        };
        let (pcpus, pmems) = init_cpuset(parent)?;
        for (file, cur, val) in [
            ("cpuset.cpus", &mut cpus, pcpus),
            ("cpuset.mems", &mut mems, pmems),
        ] {
            if cur.is_empty() {
                let p = dir.join(file);
                std::fs::write(&p, &val).map_err(|source| CgroupError::Io {
                    path: p.clone(),
                    op: "write",
                    source,
                })?;
                *cur = val;
            }
        }
    }
    Ok((cpus, mems))
}
