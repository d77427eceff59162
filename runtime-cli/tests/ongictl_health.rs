//! ongictl's healthchecks as a user sees them: a check that passes makes the container
//! healthy, one that fails makes it unhealthy after --health-retries (FailingStreak and the
//! Log with the probe's output and exit code), the start period and start interval, a hung
//! probe killed at its timeout, an image's HEALTHCHECK (made by commit --change) merged
//! with the flags or disabled by --no-healthcheck, ps's STATUS and --filter health=,
//! restart back to starting, no checks once stopped, nothing left after rm -f; and the
//! monitor's PSS with checks against without.

mod common;

use std::time::Duration;

use common::engine::{assert_clean, fails_with, monitor_pid, registry_with_busybox, Engine};
use common::wait_until;
use serde_json::Value;

/// A container `name` that sleeps until stopped, with `flags` before the image.
fn sleeper(e: &Engine, image: &str, name: &str, flags: &[&str]) -> String {
    let mut args = vec!["run", "-d", "--name", name];
    args.extend_from_slice(flags);
    args.extend_from_slice(&[
        image,
        "sh",
        "-c",
        "trap 'exit 0' TERM; while true; do sleep 0.1; done",
    ]);
    e.ok(&args)
}

/// `inspect NAME` as JSON (the one object).
fn inspect(e: &Engine, name: &str) -> Value {
    let v: Value = serde_json::from_str(&e.ok(&["inspect", name])).unwrap();
    v[0].clone()
}

fn health(e: &Engine, name: &str) -> Value {
    inspect(e, name)["State"]["Health"].clone()
}

fn status(e: &Engine, name: &str) -> String {
    e.ok(&["inspect", "-f", "{{.State.Health.Status}}", name])
}

/// ps's STATUS column of container `name`.
fn ps_status(e: &Engine, name: &str) -> String {
    e.ok(&[
        "ps",
        "-a",
        "--filter",
        &format!("name={name}"),
        "--format",
        "{{.Status}}",
    ])
}

fn ps_names(e: &Engine, filter: &str) -> Vec<String> {
    let mut v: Vec<String> = e
        .ok(&["ps", "--filter", filter, "--format", "{{.Names}}"])
        .lines()
        .map(String::from)
        .collect();
    v.sort();
    v
}

#[test]
fn passing_check_becomes_healthy_and_ps_shows_it() {
    let e = Engine::new("hl-pass");
    let r = registry_with_busybox(&e.dir);
    sleeper(&e, &r.image, "plain", &[]);
    // A 4 s interval: the three reads of "starting" below must come before the first
    // probe, also under the CI's emulated VM, where each command takes about a second.
    sleeper(
        &e,
        &r.image,
        "good",
        &[
            "--health-cmd",
            "echo ok from $(hostname) $X $(id -u) $(pwd)",
            "--health-interval",
            "4s",
            "-e",
            "X=1",
            "-u",
            "1000",
            "-w",
            "/tmp",
        ],
    );
    // Before the first probe (one interval after start): starting.
    assert_eq!(status(&e, "good"), "starting");
    let st = ps_status(&e, "good");
    assert!(
        st.starts_with("Up ") && st.ends_with(" (health: starting)"),
        "{st}"
    );
    assert_eq!(ps_names(&e, "health=starting"), ["good"]);
    assert!(wait_until(Duration::from_secs(60), || status(&e, "good") == "healthy"));
    let h = health(&e, "good");
    assert_eq!(h["FailingStreak"], 0, "{h}");
    let log = h["Log"].as_array().unwrap();
    let last = &log[log.len() - 1];
    assert_eq!(last["ExitCode"], 0, "{h}");
    // The probe ran inside the container (its hostname) with the container's env, user
    // and working directory (as docker's), its output kept.
    let full = inspect(&e, "good")["Id"].as_str().unwrap().to_string();
    let short = &full[..12];
    assert_eq!(
        last["Output"],
        format!("ok from {short} 1 1000 /tmp\n"),
        "{h}"
    );
    assert!(last["Start"].as_str().unwrap() <= last["End"].as_str().unwrap());
    let st = ps_status(&e, "good");
    assert!(st.starts_with("Up ") && st.ends_with(" (healthy)"), "{st}");
    // The plain table too, and the filters.
    let table = e.ok(&["ps"]);
    assert!(table.contains("(healthy)"), "{table}");
    assert_eq!(ps_names(&e, "health=healthy"), ["good"]);
    assert_eq!(ps_names(&e, "health=none"), ["plain"]);
    assert!(ps_names(&e, "health=unhealthy").is_empty());
    fails_with(
        &e.ctl(&["ps", "--filter", "health=sick"]),
        1,
        "Unrecognised filter value for health: sick",
    );
    // Config.Healthcheck: docker's field names, durations in ns, unset fields left out.
    let cfg = &inspect(&e, "good")["Config"]["Healthcheck"];
    assert_eq!(
        cfg,
        &serde_json::json!({"Test": ["CMD-SHELL", "echo ok from $(hostname) $X $(id -u) $(pwd)"], "Interval": 4_000_000_000i64})
    );
    assert!(inspect(&e, "plain")["State"]["Health"].is_null());
    // A restart starts over at starting, its log kept; a stopped container runs no checks.
    let before = health(&e, "good")["Log"].as_array().unwrap().len();
    e.ok(&["restart", "-t", "1", "good"]);
    assert_eq!(status(&e, "good"), "starting");
    assert!(health(&e, "good")["Log"].as_array().unwrap().len() >= before);
    assert!(wait_until(Duration::from_secs(60), || status(&e, "good") == "healthy"));
    e.ok(&["stop", "good"]);
    let n = health(&e, "good")["Log"].as_array().unwrap().len();
    let last_end = health(&e, "good")["Log"][n - 1]["End"].clone();
    std::thread::sleep(Duration::from_millis(5000));
    assert_eq!(health(&e, "good")["Log"][n - 1]["End"], last_end);
    assert!(ps_status(&e, "good").starts_with("Exited (0)"));
    e.ok(&["rm", "-f", "good", "plain"]);
    assert_clean(&e);
}

#[test]
fn failing_check_becomes_unhealthy_after_retries() {
    let e = Engine::new("hl-fail");
    let r = registry_with_busybox(&e.dir);
    sleeper(
        &e,
        &r.image,
        "bad",
        &[
            "--health-cmd",
            "echo broken >&2; exit 3",
            // 1 s apart: the first look must come before the third failure, also on a
            // slow machine.
            "--health-interval",
            "1s",
            "--health-retries",
            "3",
        ],
    );
    // Every state seen on the way: starting until the third failure in a row.
    let mut seen = vec![];
    assert!(wait_until(Duration::from_secs(60), || {
        let h = health(&e, "bad");
        let s = (
            h["Status"].as_str().unwrap_or_default().to_string(),
            h["FailingStreak"].as_i64().unwrap_or(-1),
        );
        seen.push(s.clone());
        s.0 == "unhealthy"
    }));
    for (s, streak) in &seen {
        match s.as_str() {
            "starting" => assert!(*streak < 3, "{seen:?}"),
            "unhealthy" => assert!(*streak >= 3, "{seen:?}"),
            _ => panic!("{seen:?}"),
        }
    }
    assert!(seen.iter().any(|(s, _)| s == "starting"), "{seen:?}");
    let h = health(&e, "bad");
    let log = h["Log"].as_array().unwrap();
    assert!(log.len() >= 3 && log.len() <= 5, "{h}");
    for l in log {
        assert_eq!(l["ExitCode"], 3, "{h}");
        assert_eq!(l["Output"], "broken\n", "{h}");
    }
    // Five results kept at most, the streak goes on.
    assert!(wait_until(Duration::from_secs(60), || health(&e, "bad")
        ["FailingStreak"]
        .as_i64()
        .unwrap_or(0)
        >= 7));
    assert_eq!(health(&e, "bad")["Log"].as_array().unwrap().len(), 5);
    let st = ps_status(&e, "bad");
    assert!(st.ends_with(" (unhealthy)"), "{st}");
    assert_eq!(ps_names(&e, "health=unhealthy"), ["bad"]);
    e.ok(&["rm", "-f", "bad"]);
    assert_clean(&e);
}

/// Seconds since the epoch of an RFC 3339 UTC time as the engine writes it
/// (`2026-12-07T19:51:57.123456789Z`).
fn epoch_secs(t: &str) -> f64 {
    let n = |r: std::ops::Range<usize>| t[r].parse::<i64>().unwrap();
    let (y, m, d) = (n(0..4), n(5..7), n(8..10));
    // Howard Hinnant's days_from_civil.
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let doy = (153 * (if m > 2 { m - 3 } else { m + 9 }) + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    let days = era * 146_097 + doe - 719_468;
    let frac: f64 = format!("0{}", t[19..].trim_end_matches('Z'))
        .parse()
        .unwrap_or(0.0);
    (days * 86_400 + n(11..13) * 3600 + n(14..16) * 60 + n(17..19)) as f64 + frac
}

#[test]
fn start_period_and_start_interval() {
    let e = Engine::new("hl-start");
    let r = registry_with_busybox(&e.dir);
    // Failures in the 10 s start period do not count, and while starting probes come every
    // 300 ms instead of every 5 s; the first failure after the period makes it unhealthy
    // (retries 1). Checked against the probes' own timestamps, not the test's clock, so a
    // slow machine (CI's emulated VM under load) cannot fail it by being slow.
    sleeper(
        &e,
        &r.image,
        "slow",
        &[
            "--health-cmd",
            "exit 1",
            "--health-interval",
            "5s",
            "--health-start-period",
            "10s",
            "--health-start-interval",
            "300ms",
            "--health-retries",
            "1",
        ],
    );
    let started = epoch_secs(inspect(&e, "slow")["State"]["StartedAt"].as_str().unwrap());
    let in_period = |h: &Value| {
        h["Log"].as_array().map_or(0, |l| {
            l.iter()
                .filter(|p| epoch_secs(p["Start"].as_str().unwrap()) < started + 10.0)
                .count()
        })
    };
    let mut most_in_period = 0;
    let until = std::time::Instant::now() + Duration::from_secs(90);
    let h = loop {
        // One inspect per look, so status, streak and log are of one moment.
        let h = health(&e, "slow");
        if h["Status"] == "unhealthy" {
            break h;
        }
        assert_eq!(h["Status"], "starting", "{h}");
        assert_eq!(
            h["FailingStreak"], 0,
            "a failure in the start period counted: {h}"
        );
        most_in_period = most_in_period.max(in_period(&h));
        assert!(std::time::Instant::now() < until, "never unhealthy: {h}");
        std::thread::sleep(Duration::from_millis(200));
    };
    // Every 5 s would give at most 2 probes in the period; every 300 ms many more (the log
    // keeps the last 5).
    assert!(
        most_in_period >= 4,
        "{most_in_period} probes in the start period"
    );
    assert_eq!(h["FailingStreak"], 1, "{h}");
    let log = h["Log"].as_array().unwrap();
    let flip = epoch_secs(log[log.len() - 1]["Start"].as_str().unwrap());
    assert!(
        flip >= started + 9.5,
        "counted a probe {:.2} s after start",
        flip - started
    );
    assert_eq!(log[0]["ExitCode"], 1, "{h}");
    e.ok(&["rm", "-f", "slow"]);
    assert_clean(&e);
}

#[test]
fn hung_probe_is_killed_at_its_timeout_and_rm_leaves_nothing() {
    let e = Engine::new("hl-hang");
    let r = registry_with_busybox(&e.dir);
    let id = sleeper(
        &e,
        &r.image,
        "hang",
        &[
            "--health-cmd",
            // A duration no other test uses: the leftover check below looks at every process.
            "echo started; exec sleep 1007",
            "--health-interval",
            "300ms",
            "--health-timeout",
            "1s",
            "--health-retries",
            "2",
        ],
    );
    assert!(wait_until(Duration::from_secs(60), || status(&e, "hang")
        == "unhealthy"));
    let h = health(&e, "hang");
    for l in h["Log"].as_array().unwrap() {
        assert_eq!(l["ExitCode"], -1, "{h}");
        assert_eq!(
            l["Output"], "Health check exceeded timeout (1s): started\n",
            "{h}"
        );
    }
    // Killed probes do not pile up: at most the one in flight sleeps.
    let ps = e.ok(&["exec", "hang", "ps", "-o", "args"]);
    let sleeping = ps.lines().filter(|l| l.contains("sleep 1007")).count();
    assert!(sleeping <= 1, "{ps}");
    // The monitor relays on while a probe hangs: exec and stop answer promptly.
    let t = std::time::Instant::now();
    e.ok(&["stop", "-t", "5", "hang"]);
    assert!(t.elapsed() < Duration::from_secs(4), "{:?}", t.elapsed());
    e.ok(&["start", "hang"]);
    // rm -f in the middle of a probe: no monitor, process, mount or cgroup left.
    assert!(wait_until(Duration::from_secs(5), || {
        health(&e, "hang")["Status"] == "starting"
    }));
    std::thread::sleep(Duration::from_millis(600));
    e.ok(&["rm", "-f", "hang"]);
    assert!(monitor_pid(&id).is_none());
    let leftovers: Vec<String> = std::fs::read_dir("/proc")
        .unwrap()
        .flatten()
        .filter_map(|p| std::fs::read(p.path().join("cmdline")).ok())
        .map(|c| String::from_utf8_lossy(&c).replace('\0', " "))
        .filter(|c| c.contains(&id) || c.trim() == "sleep 1007")
        .collect();
    assert!(leftovers.is_empty(), "{leftovers:?}");
    assert!(e.ok(&["ps", "-aq"]).is_empty());
    assert_clean(&e);
}

#[test]
fn image_healthcheck_merged_with_flags_or_disabled() {
    let e = Engine::new("hl-image");
    let r = registry_with_busybox(&e.dir);
    sleeper(&e, &r.image, "base", &[]);
    e.ok(&[
        "commit",
        "-c",
        "HEALTHCHECK --interval=500ms --retries=4 CMD [\"cat\", \"/etc/hostname\"]",
        "base",
        "checked:v1",
    ]);
    e.ok(&["rm", "-f", "base"]);
    let img: Value = serde_json::from_str(&e.ok(&["image", "inspect", "checked:v1"])).unwrap();
    assert_eq!(
        img[0]["Config"]["Healthcheck"],
        serde_json::json!({"Test": ["CMD", "cat", "/etc/hostname"], "Interval": 500_000_000i64, "Retries": 4})
    );
    // The image's check runs as is.
    sleeper(&e, "checked:v1", "inherits", &[]);
    assert!(wait_until(Duration::from_secs(60), || status(
        &e, "inherits"
    ) == "healthy"));
    // A flag overrides its field only.
    sleeper(
        &e,
        "checked:v1",
        "tuned",
        &["--health-retries", "9", "--health-timeout", "2s"],
    );
    assert_eq!(
        inspect(&e, "tuned")["Config"]["Healthcheck"],
        serde_json::json!({"Test": ["CMD", "cat", "/etc/hostname"], "Interval": 500_000_000i64, "Timeout": 2_000_000_000i64, "Retries": 9})
    );
    // A command flag replaces the image's test (docker wraps it in CMD-SHELL).
    sleeper(
        &e,
        "checked:v1",
        "failing",
        &["--health-cmd", "exit 1", "--health-interval", "1s"],
    );
    // Each look is one inspect: unhealthy exactly when the streak has reached the 4
    // retries, whenever the look happens.
    assert!(wait_until(Duration::from_secs(60), || {
        let h = health(&e, "failing");
        let streak = h["FailingStreak"].as_i64().unwrap_or(0);
        assert_eq!(h["Status"] == "unhealthy", streak >= 4, "{h}");
        h["Status"] == "unhealthy"
    }));
    // --no-healthcheck: Test NONE, no State.Health, no probe ever.
    sleeper(&e, "checked:v1", "off", &["--no-healthcheck"]);
    assert_eq!(
        inspect(&e, "off")["Config"]["Healthcheck"],
        serde_json::json!({"Test": ["NONE"]})
    );
    std::thread::sleep(Duration::from_millis(1500));
    assert!(inspect(&e, "off")["State"]["Health"].is_null());
    assert_eq!(ps_names(&e, "health=none"), ["off"]);
    let st = ps_status(&e, "off");
    assert!(st.starts_with("Up ") && !st.contains('('), "{st}");
    e.ok(&["rm", "-f", "inherits", "tuned", "failing", "off"]);
    assert_clean(&e);
}

#[test]
fn bad_health_flags_are_refused() {
    let e = Engine::new("hl-bad");
    let r = registry_with_busybox(&e.dir);
    for (flags, msg) in [
        (
            vec!["--no-healthcheck", "--health-cmd", "true"],
            "--no-healthcheck conflicts with --health-* options",
        ),
        (
            vec!["--health-interval", "soon"],
            "invalid argument \"soon\" for \"--health-interval\" flag",
        ),
        (
            vec!["--health-timeout", "-1s"],
            "--health-timeout cannot be negative",
        ),
        (
            vec!["--health-retries", "-2"],
            "--health-retries cannot be negative",
        ),
        (
            vec!["--health-interval", "10us"],
            "Interval in Healthcheck cannot be less than 1ms",
        ),
    ] {
        let mut args = vec!["run", "-d"];
        args.extend_from_slice(&flags);
        args.extend_from_slice(&[&r.image, "true"]);
        fails_with(&e.ctl(&args), 125, msg);
    }
    assert!(e.ok(&["ps", "-aq"]).is_empty());
    assert_clean(&e);
}

/// PSS of a process in KiB (smaps_rollup).
fn pss_kib(pid: i32) -> u64 {
    let t = std::fs::read_to_string(format!("/proc/{pid}/smaps_rollup")).unwrap();
    t.lines()
        .find(|l| l.starts_with("Pss:"))
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|v| v.parse().ok())
        .unwrap()
}

#[test]
fn monitor_pss_with_checks_stays_close_to_without() {
    let e = Engine::new("hl-pss");
    let r = registry_with_busybox(&e.dir);
    let plain = sleeper(&e, &r.image, "plain", &[]);
    let checked = sleeper(
        &e,
        &r.image,
        "checked",
        &["--health-cmd", "echo ok", "--health-interval", "100ms"],
    );
    // Many probes (each an exec through the runtime library) before measuring.
    assert!(wait_until(Duration::from_secs(60), || health(
        &e, "checked"
    )["Log"]
        .as_array()
        .is_some_and(|l| l.len() == 5)));
    std::thread::sleep(Duration::from_secs(3));
    let (p, c) = (monitor_pid(&plain).unwrap(), monitor_pid(&checked).unwrap());
    let (pp, pc) = (pss_kib(p), pss_kib(c));
    eprintln!("monitor PSS: without checks {pp} KiB, with a check every 100 ms {pc} KiB");
    assert!(pc <= pp + pp / 4 + 128, "with {pc} KiB, without {pp} KiB");
    e.ok(&["rm", "-f", "plain", "checked"]);
    assert_clean(&e);
}
