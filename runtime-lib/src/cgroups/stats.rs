//! Resource usage, shaped like the `data` of runc's `events --stats` (runc types/events.go),
//! so tools that parse runc's JSON parse ours.

use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

fn zero(v: &u64) -> bool {
    *v == 0
}

/// A container's resource usage ([`crate::Container::stats`]), shaped like the `data` of
/// runc's `events --stats`.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
pub struct Stats {
    /// CPU time and throttling.
    pub cpu: Cpu,
    /// The cpuset controller's settings.
    pub cpuset: CpuSet,
    /// Memory usage and limits.
    pub memory: Memory,
    /// Number of tasks and their limit.
    pub pids: Pids,
    /// Block I/O counters.
    pub blkio: Blkio,
    /// Huge page usage per page size (`2MB`, `1GB`, ...).
    pub hugetlb: BTreeMap<String, Hugetlb>,
    /// Always empty: Intel RDT is not managed (kept for runc's shape).
    pub intel_rdt: BTreeMap<String, serde_json::Value>,
    /// Always null: network stats need the container's netns (kept for runc's shape).
    pub network_interfaces: Option<Vec<serde_json::Value>>,
}

/// CPU statistics.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
pub struct Cpu {
    /// Time spent on the CPUs.
    pub usage: CpuUsage,
    /// CFS bandwidth throttling.
    pub throttling: Throttling,
}

/// CPU time used, in nanoseconds.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
pub struct CpuUsage {
    /// Total CPU time.
    #[serde(skip_serializing_if = "zero", default)]
    pub total: u64,
    /// Total time per CPU.
    #[serde(skip_serializing_if = "Vec::is_empty", default)]
    pub percpu: Vec<u64>,
    /// Kernel-mode time per CPU.
    #[serde(skip_serializing_if = "Vec::is_empty", default)]
    pub percpu_kernel: Vec<u64>,
    /// User-mode time per CPU.
    #[serde(skip_serializing_if = "Vec::is_empty", default)]
    pub percpu_user: Vec<u64>,
    /// Kernel-mode time.
    pub kernel: u64,
    /// User-mode time.
    pub user: u64,
}

/// CFS bandwidth throttling counters.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
pub struct Throttling {
    /// Enforcement periods elapsed.
    #[serde(skip_serializing_if = "zero", default)]
    pub periods: u64,
    /// Periods in which the cgroup was throttled.
    #[serde(rename = "throttledPeriods", skip_serializing_if = "zero", default)]
    pub throttled_periods: u64,
    /// Total time throttled, in nanoseconds.
    #[serde(rename = "throttledTime", skip_serializing_if = "zero", default)]
    pub throttled_time: u64,
}

/// The cpuset controller's settings (its files, by name).
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
pub struct CpuSet {
    /// CPUs the container may run on.
    #[serde(skip_serializing_if = "Vec::is_empty", default)]
    pub cpus: Vec<u16>,
    /// `cpuset.cpu_exclusive`.
    #[serde(default)]
    pub cpu_exclusive: u64,
    /// Memory nodes the container may allocate from.
    #[serde(skip_serializing_if = "Vec::is_empty", default)]
    pub mems: Vec<u16>,
    /// `cpuset.mem_hardwall`.
    #[serde(default)]
    pub mem_hardwall: u64,
    /// `cpuset.mem_exclusive`.
    #[serde(default)]
    pub mem_exclusive: u64,
    /// `cpuset.memory_migrate`.
    #[serde(default)]
    pub memory_migrate: u64,
    /// `cpuset.memory_spread_page`.
    #[serde(default)]
    pub memory_spread_page: u64,
    /// `cpuset.memory_spread_slab`.
    #[serde(default)]
    pub memory_spread_slab: u64,
    /// `cpuset.memory_pressure`.
    #[serde(default)]
    pub memory_pressure: u64,
    /// `cpuset.sched_load_balance`.
    #[serde(default)]
    pub sched_load_balance: u64,
    /// `cpuset.sched_relax_domain_level`.
    #[serde(default)]
    pub sched_relax_domain_level: i64,
}

/// One memory counter with its limit, in bytes.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
pub struct MemoryEntry {
    /// The limit.
    pub limit: u64,
    /// Current usage.
    #[serde(skip_serializing_if = "zero", default)]
    pub usage: u64,
    /// Peak usage.
    #[serde(skip_serializing_if = "zero", default)]
    pub max: u64,
    /// How often the limit was hit.
    pub failcnt: u64,
}

/// Memory statistics.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
pub struct Memory {
    /// Page cache, in bytes.
    #[serde(skip_serializing_if = "zero", default)]
    pub cache: u64,
    /// Memory.
    pub usage: MemoryEntry,
    /// Memory plus swap (v1) or swap (v2).
    pub swap: MemoryEntry,
    /// Kernel memory (v1).
    pub kernel: MemoryEntry,
    /// Kernel TCP buffers (v1).
    #[serde(rename = "kernelTCP")]
    pub kernel_tcp: MemoryEntry,
    /// `memory.stat`, key by key.
    #[serde(skip_serializing_if = "BTreeMap::is_empty", default)]
    pub raw: BTreeMap<String, u64>,
}

/// Task counts.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
pub struct Pids {
    /// Tasks in the cgroup.
    #[serde(skip_serializing_if = "zero", default)]
    pub current: u64,
    /// 0 when unlimited.
    #[serde(skip_serializing_if = "zero", default)]
    pub limit: u64,
}

/// One block I/O counter of one device.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
pub struct BlkioEntry {
    /// Device major number.
    #[serde(skip_serializing_if = "zero", default)]
    pub major: u64,
    /// Device minor number.
    #[serde(skip_serializing_if = "zero", default)]
    pub minor: u64,
    /// Operation (`Read`, `Write`, `Sync`, `Async`, `Discard`, `Total`).
    #[serde(skip_serializing_if = "String::is_empty", default)]
    pub op: String,
    /// The count.
    #[serde(skip_serializing_if = "zero", default)]
    pub value: u64,
}

/// Block I/O statistics.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
pub struct Blkio {
    /// Bytes transferred per device and operation.
    #[serde(
        rename = "ioServiceBytesRecursive",
        skip_serializing_if = "Vec::is_empty",
        default
    )]
    pub io_service_bytes_recursive: Vec<BlkioEntry>,
    /// I/O operations per device and operation.
    #[serde(
        rename = "ioServicedRecursive",
        skip_serializing_if = "Vec::is_empty",
        default
    )]
    pub io_serviced_recursive: Vec<BlkioEntry>,
}

/// Huge page usage of one page size, in bytes.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
pub struct Hugetlb {
    /// Current usage.
    #[serde(skip_serializing_if = "zero", default)]
    pub usage: u64,
    /// Peak usage.
    #[serde(skip_serializing_if = "zero", default)]
    pub max: u64,
    /// How often the limit was hit.
    pub failcnt: u64,
}

/// `0-3,5` -> [0, 1, 2, 3, 5].
pub(crate) fn parse_list(s: &str) -> Vec<u16> {
    let mut out = Vec::new();
    for part in s.trim().split(',').filter(|p| !p.is_empty()) {
        match part.split_once('-') {
            Some((a, b)) => {
                if let (Ok(a), Ok(b)) = (a.parse::<u16>(), b.parse::<u16>()) {
                    out.extend(a..=b);
                }
            }
            None => out.extend(part.parse::<u16>().ok()),
        }
    }
    out
}

/// Lines `MAJ:MIN Op value` (v1 blkio.throttle.*) into entries; `Total` lines are kept as
/// runc does.
pub(crate) fn parse_blkio(text: &str) -> Vec<BlkioEntry> {
    text.lines()
        .filter_map(|l| {
            let f: Vec<&str> = l.split_whitespace().collect();
            let (dev, op, v) = (f.first()?, f.get(1)?, f.get(2)?);
            let (ma, mi) = dev.split_once(':')?;
            Some(BlkioEntry {
                major: ma.parse().ok()?,
                minor: mi.parse().ok()?,
                op: op.to_string(),
                value: v.parse().ok()?,
            })
        })
        .collect()
}

/// v2 io.stat lines `MAJ:MIN rbytes=.. wbytes=.. rios=.. wios=..` into runc's v1-shaped
/// entries (bytes, then ios).
pub(crate) fn parse_io_stat(text: &str) -> (Vec<BlkioEntry>, Vec<BlkioEntry>) {
    let (mut bytes, mut ios) = (Vec::new(), Vec::new());
    for l in text.lines() {
        let mut f = l.split_whitespace();
        let Some((ma, mi)) = f.next().and_then(|d| d.split_once(':')) else {
            continue;
        };
        let (Ok(major), Ok(minor)) = (ma.parse(), mi.parse()) else {
            continue;
        };
        for kv in f {
            let Some((k, v)) = kv.split_once('=') else {
                continue;
            };
            let value = v.parse().unwrap_or(0);
            let (list, op) = match k {
                "rbytes" => (&mut bytes, "Read"),
                "wbytes" => (&mut bytes, "Write"),
                "rios" => (&mut ios, "Read"),
                "wios" => (&mut ios, "Write"),
                _ => continue,
            };
            list.push(BlkioEntry {
                major,
                minor,
                op: op.into(),
                value,
            });
        }
    }
    (bytes, ios)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parsers() {
        assert_eq!(parse_list("0-2,5\n"), vec![0, 1, 2, 5]);
        let b = parse_blkio("8:0 Read 4096\n8:0 Write 0\nTotal 4096\n");
        assert_eq!(b.len(), 2);
        assert_eq!(
            (b[0].major, b[0].op.as_str(), b[0].value),
            (8, "Read", 4096)
        );
        let (by, io) = parse_io_stat("8:0 rbytes=10 wbytes=20 rios=1 wios=2 dbytes=0\n");
        assert_eq!(by.len(), 2);
        assert_eq!(io[1].value, 2);
        let j = serde_json::to_value(Stats::default()).unwrap();
        assert!(j["memory"]["usage"]["limit"].is_number());
        assert!(j["cpu"]["usage"]["kernel"].is_number());
    }
}
