//! runc's conversions from the spec's (cgroup v1 shaped) values to cgroup v2 files, so a
//! config behaves the same on both (libcontainer/cgroups/utils.go).

/// cpu.shares [2, 262144] -> cpu.weight [1, 10000]; 0 stays "unset".
pub fn shares_to_weight(shares: u64) -> u64 {
    if shares == 0 {
        return 0;
    }
    let shares = shares.clamp(2, 262_144);
    1 + ((shares - 2) * 9999) / 262_142
}

/// blkio.weight [10, 1000] -> io.weight [1, 10000]; 0 stays "unset".
pub fn blkio_weight_to_io_weight(w: u64) -> u64 {
    if w == 0 {
        return 0;
    }
    let w = w.clamp(10, 1000);
    1 + (w - 10) * 9999 / 990
}

/// The spec's `memory.swap` is memory+swap (v1 memsw); v2's memory.swap.max is swap alone.
/// Returns the value for memory.swap.max: `None` = leave alone, `Some(-1)` = max.
pub fn swap_to_v2(swap: Option<i64>, limit: Option<i64>) -> Result<Option<i64>, String> {
    let (swap, limit) = (swap.unwrap_or(0), limit.unwrap_or(0));
    // As v1: unlimited memory with swap unset means both unlimited.
    if limit == -1 && swap == 0 {
        return Ok(Some(-1));
    }
    match swap {
        0 => return Ok(None),
        -1 => return Ok(Some(-1)),
        _ => {}
    }
    if limit == 0 || limit == -1 {
        return Err("unable to set swap limit without memory limit".into());
    }
    if limit < 0 {
        return Err(format!("invalid memory value: {limit}"));
    }
    if swap < limit {
        return Err("memory+swap limit should be >= memory limit".into());
    }
    Ok(Some(swap - limit))
}

/// v2 numbers: -1 means "max".
pub fn v2_num(v: i64) -> String {
    if v < 0 {
        "max".into()
    } else {
        v.to_string()
    }
}

/// cpu.max from quota and period, as runc writes it: quota <= 0 is "max"; the period is
/// only appended when set (the kernel keeps the current one otherwise).
pub fn cpu_max(quota: Option<i64>, period: Option<u64>) -> Option<String> {
    let (q, p) = (quota.unwrap_or(0), period.unwrap_or(0));
    if q == 0 && p == 0 {
        return None;
    }
    let mut s = if q > 0 { q.to_string() } else { "max".into() };
    if p != 0 {
        s.push_str(&format!(" {p}"));
    }
    Some(s)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn runc_values() {
        assert_eq!(shares_to_weight(0), 0);
        assert_eq!(shares_to_weight(2), 1);
        assert_eq!(shares_to_weight(1024), 39);
        assert_eq!(shares_to_weight(262_144), 10_000);
        assert_eq!(blkio_weight_to_io_weight(10), 1);
        assert_eq!(blkio_weight_to_io_weight(500), 4950);
        assert_eq!(blkio_weight_to_io_weight(1000), 10_000);
        assert_eq!(swap_to_v2(None, None), Ok(None));
        assert_eq!(swap_to_v2(None, Some(-1)), Ok(Some(-1)));
        assert_eq!(swap_to_v2(Some(-1), Some(100)), Ok(Some(-1)));
        assert_eq!(swap_to_v2(Some(300), Some(100)), Ok(Some(200)));
        assert_eq!(swap_to_v2(Some(100), Some(100)), Ok(Some(0)));
        assert!(swap_to_v2(Some(50), Some(100)).is_err());
        assert!(swap_to_v2(Some(50), None).is_err());
        assert_eq!(
            cpu_max(Some(50000), Some(100000)).as_deref(),
            Some("50000 100000")
        );
        assert_eq!(cpu_max(Some(-1), None).as_deref(), Some("max"));
        assert_eq!(cpu_max(None, None), None);
    }
}
