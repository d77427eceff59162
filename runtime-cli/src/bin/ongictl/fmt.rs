//! Output in docker's shapes: aligned tables, "3 minutes ago", "4.26MB", "Up 2 seconds".

use ongi_engine::container::{self as ctr, ProcState};
use ongi_engine::image;
use ongi_engine::inspect;
use ongi_engine::store::Store;

use crate::Fail;

/// Columns separated by at least three spaces, like docker's tabwriter.
pub fn table(head: &[&str], rows: &[Vec<String>]) {
    let mut w: Vec<usize> = head.iter().map(|h| h.chars().count()).collect();
    for r in rows {
        for (i, c) in r.iter().enumerate() {
            w[i] = w[i].max(c.chars().count());
        }
    }
    let line = |cells: Vec<&str>| {
        let mut s = String::new();
        for (i, c) in cells.iter().enumerate() {
            if i + 1 == cells.len() {
                s.push_str(c);
            } else {
                s.push_str(c);
                s.push_str(&" ".repeat(w[i] - c.chars().count() + 3));
            }
        }
        println!("{}", s.trim_end());
    };
    line(head.to_vec());
    for r in rows {
        line(r.iter().map(|s| s.as_str()).collect());
    }
}

/// Seconds since the epoch of an RFC 3339 time (`Z` or `±hh:mm`).
pub fn parse_time(t: &str) -> Option<i64> {
    let b = t.as_bytes();
    if b.len() < 19 {
        return None;
    }
    let n = |a: usize, z: usize| t.get(a..z)?.parse::<i64>().ok();
    let (y, mo, d, h, mi, s) = (
        n(0, 4)?,
        n(5, 7)?,
        n(8, 10)?,
        n(11, 13)?,
        n(14, 16)?,
        n(17, 19)?,
    );
    // Days from civil (Howard Hinnant's algorithm).
    let y2 = if mo <= 2 { y - 1 } else { y };
    let era = y2.div_euclid(400);
    let yoe = y2 - era * 400;
    let doy = (153 * (if mo > 2 { mo - 3 } else { mo + 9 }) + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    let days = era * 146097 + doe - 719468;
    let mut secs = days * 86400 + h * 3600 + mi * 60 + s;
    let rest = &t[19..];
    let rest = rest.trim_start_matches(|c: char| c == '.' || c.is_ascii_digit());
    if let Some(off) = rest.strip_prefix('+').or_else(|| rest.strip_prefix('-')) {
        let sign = if rest.starts_with('+') { 1 } else { -1 };
        let oh: i64 = off.get(0..2)?.parse().ok()?;
        let om: i64 = off.get(3..5)?.parse().ok()?;
        secs -= sign * (oh * 3600 + om * 60);
    }
    Some(secs)
}

fn now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or(0)
}

/// docker's (go-units) HumanDuration.
pub fn human(secs: i64) -> String {
    let s = secs.max(0);
    let plural = |n: i64, u: &str| {
        if n == 1 {
            format!("1 {u}")
        } else {
            format!("{n} {u}s")
        }
    };
    match s {
        0 => "Less than a second".into(),
        1..=59 => plural(s, "second"),
        60..=119 => "About a minute".into(),
        _ if s < 3600 => plural(s / 60, "minute"),
        _ if s < 7200 => "About an hour".into(),
        _ if s < 48 * 3600 => plural(s / 3600, "hour"),
        _ if s < 14 * 86400 => plural(s / 86400, "day"),
        _ if s < 60 * 86400 => plural(s / (7 * 86400), "week"),
        _ if s < 2 * 365 * 86400 => plural(s / (30 * 86400), "month"),
        _ => plural(s / (365 * 86400), "year"),
    }
}

/// "3 minutes ago", or "N/A" for no time.
pub fn ago(t: &str) -> String {
    match parse_time(t) {
        Some(x) if x > 0 => format!("{} ago", human(now() - x)),
        _ => "N/A".into(),
    }
}

/// docker's decimal sizes: "4.26MB", "812kB".
pub fn size(b: u64) -> String {
    let units = ["B", "kB", "MB", "GB", "TB"];
    let mut v = b as f64;
    let mut i = 0;
    while v >= 1000.0 && i + 1 < units.len() {
        v /= 1000.0;
        i += 1;
    }
    let s = format!("{v:.3}");
    let s = s.chars().take(4).collect::<String>();
    // Go's %.3g drops trailing zeros: 7 bytes is "7B", not "7.00B".
    let s = if s.contains('.') {
        s.trim_end_matches('0').trim_end_matches('.')
    } else {
        &s
    };
    format!("{s}{}", units[i])
}

/// The STATUS column.
pub fn status(st: &ProcState) -> String {
    match st.status.as_str() {
        "running" => format!(
            "Up {}",
            human(now() - parse_time(&st.started_at).unwrap_or(now()))
        ),
        "paused" => format!(
            "Up {} (Paused)",
            human(now() - parse_time(&st.started_at).unwrap_or(now()))
        ),
        "restarting" => format!(
            "Restarting ({}) {} ago",
            st.exit_code,
            human(now() - parse_time(&st.finished_at).unwrap_or(now()))
        ),
        "exited" => format!(
            "Exited ({}) {} ago",
            st.exit_code,
            human(now() - parse_time(&st.finished_at).unwrap_or(now()))
        ),
        "dead" => "Dead".into(),
        _ => "Created".into(),
    }
}

/// Prints inspected objects as docker does: a JSON array, or each object through the
/// `--format` template on a line of its own.
pub fn print_objects(out: &[serde_json::Value], format: Option<&str>) -> Result<(), Fail> {
    match format {
        Some(f) => {
            for v in out {
                println!(
                    "{}",
                    inspect::render(f, v).map_err(|e| Fail(1, e.to_string()))?
                );
            }
        }
        None => println!("{}", serde_json::to_string_pretty(out).unwrap_or_default()),
    }
    Ok(())
}

/// `inspect`: containers first, then images, as docker looks names up.
pub fn inspect(store: &Store, names: &[String], format: Option<&str>) -> Result<u8, Fail> {
    let mut out = Vec::new();
    let mut rc = 0;
    for n in names {
        let v = match ctr::resolve(store, n) {
            Ok(id) => Some(inspect::container(store, &ctr::load(store, &id)?)),
            Err(ctr::ContainerError::NotFound(_)) => image::resolve(store, n)
                .ok()
                .map(|i| inspect::image(store, &i)),
            Err(e) => return Err(e.into()),
        };
        match v {
            Some(v) => out.push(v),
            None => {
                eprintln!("Error: No such object: {n}");
                rc = 1;
            }
        }
    }
    print_objects(&out, format)?;
    Ok(rc)
}

#[cfg(test)]
mod tests {
    #[test]
    fn sizes_and_times() {
        assert_eq!(super::size(4_261_000), "4.26MB");
        assert_eq!(super::size(812), "812B");
        assert_eq!(super::size(7), "7B");
        assert_eq!(super::size(0), "0B");
        assert_eq!(super::size(5000), "5kB");
        assert_eq!(super::size(1_500_000), "1.5MB");
        assert_eq!(super::parse_time("1970-01-02T00:00:00Z"), Some(86400));
        assert_eq!(super::parse_time("1970-01-02T01:00:00+01:00"), Some(86400));
        assert_eq!(super::human(90), "About a minute");
    }
}
