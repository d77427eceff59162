//! Resource usage, shaped like the `data` of runc's `events --stats` (runc types/events.go),
//! so tools that parse runc's JSON parse ours.

use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

fn zero(v: &u64) -> bool {
    *v == 0
}

#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
pub struct Stats {
    pub cpu: Cpu,
    pub cpuset: CpuSet,
    pub memory: Memory,
    pub pids: Pids,
    pub blkio: Blkio,
    pub hugetlb: BTreeMap<String, Hugetlb>,
    /// Always empty: Intel RDT is not managed (kept for runc's shape).
    pub intel_rdt: BTreeMap<String, serde_json::Value>,
    /// Always null: network stats need the container's netns (kept for runc's shape).
    pub network_interfaces: Option<Vec<serde_json::Value>>,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
pub struct Cpu {
    pub usage: CpuUsage,
    pub throttling: Throttling,
}

/// Nanoseconds.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
pub struct CpuUsage {
    #[serde(skip_serializing_if = "zero", default)]
    pub total: u64,
    #[serde(skip_serializing_if = "Vec::is_empty", default)]
    pub percpu: Vec<u64>,
    #[serde(skip_serializing_if = "Vec::is_empty", default)]
    pub percpu_kernel: Vec<u64>,
    #[serde(skip_serializing_if = "Vec::is_empty", default)]
    pub percpu_user: Vec<u64>,
    pub kernel: u64,
    pub user: u64,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
pub struct Throttling {
    #[serde(skip_serializing_if = "zero", default)]
    pub periods: u64,
    #[serde(rename = "throttledPeriods", skip_serializing_if = "zero", default)]
    pub throttled_periods: u64,
    #[serde(rename = "throttledTime", skip_serializing_if = "zero", default)]
    pub throttled_time: u64,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
pub struct CpuSet {
    #[serde(skip_serializing_if = "Vec::is_empty", default)]
    pub cpus: Vec<u16>,
    #[serde(default)]
    pub cpu_exclusive: u64,
    #[serde(skip_serializing_if = "Vec::is_empty", default)]
    pub mems: Vec<u16>,
    #[serde(default)]
    pub mem_hardwall: u64,
    #[serde(default)]
    pub mem_exclusive: u64,
    #[serde(default)]
    pub memory_migrate: u64,
    #[serde(default)]
    pub memory_spread_page: u64,
    #[serde(default)]
    pub memory_spread_slab: u64,
    #[serde(default)]
    pub memory_pressure: u64,
    #[serde(default)]
    pub sched_load_balance: u64,
    #[serde(default)]
    pub sched_relax_domain_level: i64,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
pub struct MemoryEntry {
    pub limit: u64,
    #[serde(skip_serializing_if = "zero", default)]
    pub usage: u64,
    #[serde(skip_serializing_if = "zero", default)]
    pub max: u64,
    pub failcnt: u64,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
pub struct Memory {
    #[serde(skip_serializing_if = "zero", default)]
    pub cache: u64,
    pub usage: MemoryEntry,
    pub swap: MemoryEntry,
    pub kernel: MemoryEntry,
    #[serde(rename = "kernelTCP")]
    pub kernel_tcp: MemoryEntry,
    #[serde(skip_serializing_if = "BTreeMap::is_empty", default)]
    pub raw: BTreeMap<String, u64>,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
pub struct Pids {
    #[serde(skip_serializing_if = "zero", default)]
    pub current: u64,
    /// 0 when unlimited.
    #[serde(skip_serializing_if = "zero", default)]
    pub limit: u64,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
pub struct BlkioEntry {
    #[serde(skip_serializing_if = "zero", default)]
    pub major: u64,
    #[serde(skip_serializing_if = "zero", default)]
    pub minor: u64,
    #[serde(skip_serializing_if = "String::is_empty", default)]
    pub op: String,
    #[serde(skip_serializing_if = "zero", default)]
    pub value: u64,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
pub struct Blkio {
    #[serde(
        rename = "ioServiceBytesRecursive",
        skip_serializing_if = "Vec::is_empty",
        default
    )]
    pub io_service_bytes_recursive: Vec<BlkioEntry>,
    #[serde(
        rename = "ioServicedRecursive",
        skip_serializing_if = "Vec::is_empty",
        default
    )]
    pub io_serviced_recursive: Vec<BlkioEntry>,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
pub struct Hugetlb {
    #[serde(skip_serializing_if = "zero", default)]
    pub usage: u64,
    #[serde(skip_serializing_if = "zero", default)]
    pub max: u64,
    pub failcnt: u64,
}

/// `0-3,5` -> [0, 1, 2, 3, 5].
pub fn parse_list(s: &str) -> Vec<u16> {
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
pub fn parse_blkio(text: &str) -> Vec<BlkioEntry> {
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
pub fn parse_io_stat(text: &str) -> (Vec<BlkioEntry>, Vec<BlkioEntry>) {
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
