//! Healthchecks, docker's model: the check a container runs with (`--health-*` flags merged
//! over the image config's Healthcheck), the probes the monitor runs on schedule inside the
//! container, and the recorded State.Health (status, failing streak, last five results).
//!
//! The recorded health is `health.json` in the container's directory, replaced atomically
//! by the monitor after every probe: readers (`inspect`, `ps`, a compose waiting on
//! Health.Status) read one small file and never see a half-written one, and never need the
//! monitor to answer.
//!
//! The monitor is single-threaded and its relay loops (monitor.rs, tty.rs) already wake on
//! a poll timeout: the probes ride on those loops through three hooks ([`begin`],
//! [`wait_ms`] + [`tick`], [`end`]) instead of a thread or timer of their own. The probe is
//! exec'd detached through the runtime library with its output on a non-blocking pipe, so
//! a hung probe never stalls the relay; at its timeout it is SIGKILLed.

use std::cell::RefCell;
use std::fs;
use std::io;
use std::os::fd::{AsRawFd, OwnedFd, RawFd};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};

/// docker's defaults (daemon/health.go).
const DEFAULT_INTERVAL: Duration = Duration::from_secs(30);
const DEFAULT_TIMEOUT: Duration = Duration::from_secs(30);
const DEFAULT_START_INTERVAL: Duration = Duration::from_secs(5);
const DEFAULT_RETRIES: i64 = 3;
/// Longest probe output kept (docker's maxOutputLen); longer gets "...".
const MAX_OUTPUT: usize = 4096;
/// Results kept in Health.Log (docker's maxLogEntries).
const MAX_LOG: usize = 5;

/// A healthcheck setting docker would refuse.
#[derive(Debug, thiserror::Error)]
pub enum HealthError {
    /// A duration flag that does not parse (docker's wording).
    #[error("invalid argument {value:?} for \"{flag}\" flag: time: invalid duration {value:?}")]
    Duration {
        /// The flag.
        flag: &'static str,
        /// Its value.
        value: String,
    },
    /// A negative flag value (docker's wording).
    #[error("{0} cannot be negative")]
    Negative(&'static str),
    /// `--no-healthcheck` with `--health-*` (docker's wording).
    #[error("--no-healthcheck conflicts with --health-* options")]
    Conflict,
    /// A duration set below docker's minimum (docker's wording).
    #[error("{0} in Healthcheck cannot be less than 1ms")]
    TooShort(&'static str),
    /// The image's Healthcheck is not docker's shape.
    #[error("image config Healthcheck: {0}")]
    Image(serde_json::Error),
    /// A `HEALTHCHECK` instruction (commit/import --change) that does not parse.
    #[error("HEALTHCHECK {value:?}: {why}")]
    Instruction {
        /// The instruction's arguments.
        value: String,
        /// Why.
        why: String,
    },
}

fn is_zero(v: &i64) -> bool {
    *v == 0
}

/// docker's HealthConfig (image config and container Config.Healthcheck): durations in
/// nanoseconds, 0 = the default.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct HealthConfig {
    /// `["NONE"]`, `["CMD", args...]`, `["CMD-SHELL", command]`; empty = inherit.
    #[serde(rename = "Test", default, skip_serializing_if = "Vec::is_empty")]
    pub test: Vec<String>,
    /// Between probes.
    #[serde(rename = "Interval", default, skip_serializing_if = "is_zero")]
    pub interval: i64,
    /// Before a probe is killed and counted as failed.
    #[serde(rename = "Timeout", default, skip_serializing_if = "is_zero")]
    pub timeout: i64,
    /// Failures in this time after start do not count.
    #[serde(rename = "StartPeriod", default, skip_serializing_if = "is_zero")]
    pub start_period: i64,
    /// Between probes during the start period.
    #[serde(rename = "StartInterval", default, skip_serializing_if = "is_zero")]
    pub start_interval: i64,
    /// Consecutive failures that make the container unhealthy.
    #[serde(rename = "Retries", default, skip_serializing_if = "is_zero")]
    pub retries: i64,
}

impl HealthConfig {
    /// The probe's argv, or None when the check is disabled (`NONE`, no test, unknown type).
    pub fn argv(&self) -> Option<Vec<String>> {
        match self.test.first().map(String::as_str) {
            Some("CMD") if self.test.len() > 1 => Some(self.test[1..].to_vec()),
            // docker's shell on Linux, followed by the rest of Test.
            Some("CMD-SHELL") if self.test.len() > 1 => Some(
                ["/bin/sh", "-c"]
                    .iter()
                    .map(|s| s.to_string())
                    .chain(self.test[1..].iter().cloned())
                    .collect(),
            ),
            _ => None,
        }
    }
}

/// One probe's result (docker's HealthcheckResult).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct HealthResult {
    /// RFC 3339.
    #[serde(rename = "Start")]
    pub start: String,
    /// RFC 3339.
    #[serde(rename = "End")]
    pub end: String,
    /// 0 healthy; anything else a failure (-1: not run, or killed at its timeout).
    #[serde(rename = "ExitCode")]
    pub exit_code: i64,
    /// stdout and stderr, at most 4096 bytes.
    #[serde(rename = "Output")]
    pub output: String,
}

/// docker's State.Health.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Health {
    /// starting, healthy or unhealthy.
    #[serde(rename = "Status")]
    pub status: String,
    /// Consecutive failures counted.
    #[serde(rename = "FailingStreak")]
    pub failing_streak: i64,
    /// The last five results, oldest first.
    #[serde(rename = "Log")]
    pub log: Vec<HealthResult>,
}

/// `run`/`create`'s `--health-*` flags as given.
#[derive(Debug, Clone, Default)]
pub struct HealthFlags {
    /// --health-cmd.
    pub cmd: Option<String>,
    /// --health-interval.
    pub interval: Option<String>,
    /// --health-timeout.
    pub timeout: Option<String>,
    /// --health-start-period.
    pub start_period: Option<String>,
    /// --health-start-interval.
    pub start_interval: Option<String>,
    /// --health-retries.
    pub retries: Option<i64>,
    /// --no-healthcheck.
    pub none: bool,
}

/// A Go duration (`1.5s`, `300ms`, `1m30s`, `2h`, `0`) in nanoseconds.
pub fn parse_duration(s: &str) -> Option<i64> {
    let (neg, mut t) = match s.strip_prefix('-') {
        Some(r) => (true, r),
        None => (false, s.strip_prefix('+').unwrap_or(s)),
    };
    if t == "0" {
        return Some(0);
    }
    if t.is_empty() {
        return None;
    }
    let mut total: f64 = 0.0;
    while !t.is_empty() {
        let n = t
            .find(|c: char| !(c.is_ascii_digit() || c == '.'))
            .unwrap_or(t.len());
        let num: f64 = t[..n].parse().ok()?;
        t = &t[n..];
        let u = t
            .find(|c: char| c.is_ascii_digit() || c == '.')
            .unwrap_or(t.len());
        let mult = match &t[..u] {
            "ns" => 1.0,
            "us" | "µs" | "μs" => 1e3,
            "ms" => 1e6,
            "s" => 1e9,
            "m" => 60e9,
            "h" => 3600e9,
            _ => return None,
        };
        t = &t[u..];
        total += num * mult;
    }
    if total > i64::MAX as f64 {
        return None;
    }
    Some(if neg { -(total as i64) } else { total as i64 })
}

/// A duration as Go prints it (`30s`, `1.5s`, `500ms`, `1m30s`).
pub fn format_duration(ns: i64) -> String {
    if ns == 0 {
        return "0s".into();
    }
    let trim = |v: f64| {
        let s = format!("{v:.9}");
        s.trim_end_matches('0').trim_end_matches('.').to_string()
    };
    if ns < 1_000 {
        return format!("{ns}ns");
    }
    if ns < 1_000_000 {
        return format!("{}µs", trim(ns as f64 / 1e3));
    }
    if ns < 1_000_000_000 {
        return format!("{}ms", trim(ns as f64 / 1e6));
    }
    let h = ns / 3_600_000_000_000;
    let m = (ns / 60_000_000_000) % 60;
    let s = trim((ns % 60_000_000_000) as f64 / 1e9);
    match (h, m) {
        (0, 0) => format!("{s}s"),
        (0, m) => format!("{m}m{s}s"),
        (h, m) => format!("{h}h{m}m{s}s"),
    }
}

fn flag_duration(flag: &'static str, v: &Option<String>) -> Result<i64, HealthError> {
    let Some(v) = v else { return Ok(0) };
    let ns = parse_duration(v).ok_or_else(|| HealthError::Duration {
        flag,
        value: v.clone(),
    })?;
    if ns < 0 {
        return Err(HealthError::Negative(flag));
    }
    Ok(ns)
}

/// The container's check: the flags over the image's (docker's CLI and daemon rules: a
/// flag left out keeps the image's field; `--no-healthcheck` makes it `["NONE"]`). None
/// when neither sets one.
pub fn merge(
    f: &HealthFlags,
    image: Option<&serde_json::Value>,
) -> Result<Option<HealthConfig>, HealthError> {
    let user = HealthConfig {
        test: f
            .cmd
            .as_ref()
            .filter(|c| !c.is_empty())
            .map(|c| vec!["CMD-SHELL".into(), c.clone()])
            .unwrap_or_default(),
        interval: flag_duration("--health-interval", &f.interval)?,
        timeout: flag_duration("--health-timeout", &f.timeout)?,
        start_period: flag_duration("--health-start-period", &f.start_period)?,
        start_interval: flag_duration("--health-start-interval", &f.start_interval)?,
        retries: match f.retries {
            Some(r) if r < 0 => return Err(HealthError::Negative("--health-retries")),
            Some(r) => r,
            None => 0,
        },
    };
    let have = f.cmd.is_some()
        || f.interval.is_some()
        || f.timeout.is_some()
        || f.start_period.is_some()
        || f.start_interval.is_some()
        || f.retries.is_some();
    let img: Option<HealthConfig> = match image {
        Some(v) if !v.is_null() => {
            Some(serde_json::from_value(v.clone()).map_err(HealthError::Image)?)
        }
        _ => None,
    };
    if f.none {
        if have {
            return Err(HealthError::Conflict);
        }
        return Ok(Some(HealthConfig {
            test: vec!["NONE".into()],
            ..Default::default()
        }));
    }
    let merged = match (have, img) {
        (false, img) => img,
        (true, None) => Some(user),
        (true, Some(i)) => {
            let pick = |u: i64, i: i64| if u == 0 { i } else { u };
            Some(HealthConfig {
                test: if user.test.is_empty() {
                    i.test
                } else {
                    user.test
                },
                interval: pick(user.interval, i.interval),
                timeout: pick(user.timeout, i.timeout),
                start_period: pick(user.start_period, i.start_period),
                start_interval: pick(user.start_interval, i.start_interval),
                retries: pick(user.retries, i.retries),
            })
        }
    };
    if let Some(h) = &merged {
        // The daemon's checks (0 means the default).
        for (name, v) in [
            ("Interval", h.interval),
            ("Timeout", h.timeout),
            ("StartPeriod", h.start_period),
            ("StartInterval", h.start_interval),
        ] {
            if v != 0 && v < 1_000_000 {
                return Err(HealthError::TooShort(name));
            }
        }
        if h.retries < 0 {
            return Err(HealthError::Negative("Retries in Healthcheck"));
        }
    }
    Ok(merged)
}

/// A Dockerfile `HEALTHCHECK` instruction's arguments (`NONE`, or `[--interval=D]
/// [--timeout=D] [--start-period=D] [--start-interval=D] [--retries=N] CMD command`, the
/// command in exec (JSON) or shell form) as an image config's Healthcheck.
pub fn parse_instruction(v: &str) -> Result<HealthConfig, HealthError> {
    let bad = |why: &str| HealthError::Instruction {
        value: v.to_string(),
        why: why.to_string(),
    };
    let mut rest = v.trim();
    if rest.eq_ignore_ascii_case("NONE") {
        return Ok(HealthConfig {
            test: vec!["NONE".into()],
            ..Default::default()
        });
    }
    let mut h = HealthConfig::default();
    while let Some(opt) = rest.strip_prefix("--") {
        let end = opt.find(char::is_whitespace).unwrap_or(opt.len());
        let (kv, after) = opt.split_at(end);
        let (k, val) = kv
            .split_once('=')
            .ok_or_else(|| bad("expected --flag=value"))?;
        let dur = || {
            parse_duration(val)
                .filter(|d| *d >= 0)
                .ok_or_else(|| bad(&format!("invalid duration {val:?}")))
        };
        match k {
            "interval" => h.interval = dur()?,
            "timeout" => h.timeout = dur()?,
            "start-period" => h.start_period = dur()?,
            "start-interval" => h.start_interval = dur()?,
            "retries" => {
                h.retries = val
                    .parse()
                    .ok()
                    .filter(|r: &i64| *r >= 0)
                    .ok_or_else(|| bad("retries must be a non-negative integer"))?
            }
            _ => return Err(bad(&format!("unknown flag --{k}"))),
        }
        rest = after.trim_start();
    }
    let (word, cmd) = rest.split_at(rest.find(char::is_whitespace).unwrap_or(rest.len()));
    if !word.eq_ignore_ascii_case("CMD") {
        return Err(bad("expected CMD or NONE"));
    }
    let cmd = cmd.trim();
    if cmd.is_empty() {
        return Err(bad("missing command after CMD"));
    }
    h.test = match serde_json::from_str::<Vec<String>>(cmd) {
        Ok(argv) if !argv.is_empty() => std::iter::once("CMD".to_string()).chain(argv).collect(),
        _ => vec!["CMD-SHELL".into(), cmd.to_string()],
    };
    Ok(h)
}

/// The recorded health in a container directory.
pub fn path(dir: &Path) -> PathBuf {
    dir.join("health.json")
}

/// The container's recorded health, None when it has no check (or has never started one).
pub fn read(dir: &Path) -> Option<Health> {
    fs::read(path(dir))
        .ok()
        .and_then(|b| serde_json::from_slice(&b).ok())
}

/// A container's State.Health as docker reports it: None without an active check (none
/// set, or NONE) or before its first start. One small file read, so cheap to poll (compose
/// waits on it); the file is replaced by rename, so never seen half-written.
pub fn of(store: &crate::store::Store, s: &crate::container::Settings) -> Option<Health> {
    s.healthcheck.as_ref()?.argv()?;
    read(&store.container_dir(&s.id))
}

fn write(dir: &Path, h: &Health) -> io::Result<()> {
    let tmp = dir.join(".health.json.tmp");
    fs::write(&tmp, serde_json::to_vec(h).unwrap_or_default())?;
    fs::rename(&tmp, path(dir))
}

/// What `ps` appends to "Up ..." (docker's Health.String()), for a check that is recorded.
pub fn ps_suffix(h: &Health) -> String {
    match h.status.as_str() {
        "starting" => " (health: starting)".into(),
        s => format!(" ({s})"),
    }
}

/// A probe in flight.
struct Probe {
    pid: i32,
    out: OwnedFd,
    buf: Vec<u8>,
    truncated: bool,
    start: String,
    /// When it was started (for the start period) and when it is killed.
    started: std::time::SystemTime,
    deadline: Instant,
    timed_out: bool,
}

/// The monitor's side: schedules probes for one run of the container and records results.
pub struct Checker {
    argv: Vec<String>,
    cfg: HealthConfig,
    dir: PathBuf,
    runtime_root: PathBuf,
    id: String,
    /// The container's process (its host pid).
    init: i32,
    /// The container's start (docker's StartedAt), for the start period.
    started: std::time::SystemTime,
    started_at: Instant,
    next: Instant,
    probe: Option<Probe>,
    health: Health,
}

fn dur(ns: i64, default: Duration) -> Duration {
    if ns <= 0 {
        default
    } else {
        Duration::from_nanos(ns as u64)
    }
}

impl Checker {
    /// A checker for a container that has just started; None without a check. The
    /// recorded health is reset to starting with its log kept (docker does so on every
    /// start and restart).
    pub fn new(
        dir: &Path,
        runtime_root: &Path,
        id: &str,
        init: i32,
        cfg: Option<&HealthConfig>,
    ) -> Option<Checker> {
        let cfg = cfg?.clone();
        let argv = cfg.argv()?;
        let mut health = read(dir).unwrap_or_default();
        health.status = "starting".into();
        health.failing_streak = 0;
        let _ = write(dir, &health);
        let now = Instant::now();
        let mut c = Checker {
            argv,
            cfg,
            dir: dir.to_path_buf(),
            runtime_root: runtime_root.to_path_buf(),
            id: id.to_string(),
            init,
            started: std::time::SystemTime::now(),
            started_at: now,
            next: now,
            probe: None,
            health,
        };
        c.next = now + c.interval();
        Some(c)
    }

    /// docker's getInterval: the start interval while starting within the start period,
    /// the rest of the start period if that is shorter than the interval.
    fn interval(&self) -> Duration {
        let interval = dur(self.cfg.interval, DEFAULT_INTERVAL);
        let period = dur(self.cfg.start_period, Duration::ZERO);
        let elapsed = self.started_at.elapsed();
        if elapsed >= period {
            return interval;
        }
        let remaining = period - elapsed;
        if remaining < interval {
            return remaining;
        }
        if self.health.status == "starting" {
            return dur(self.cfg.start_interval, DEFAULT_START_INTERVAL);
        }
        interval
    }

    /// How long the relay loop may sleep, at most `cap` ms.
    fn wait_ms(&self, cap: u16) -> u16 {
        if self.probe.is_some() {
            // A probe's exit is found by waitpid: look often while one runs.
            return cap.min(20);
        }
        let ms = self
            .next
            .saturating_duration_since(Instant::now())
            .as_millis()
            .max(1);
        cap.min(ms.min(u16::MAX as u128) as u16)
    }

    /// Starts a probe when due; reads, times out and reaps a running one.
    fn tick(&mut self) {
        if self.probe.is_none() {
            if Instant::now() >= self.next {
                self.start_probe();
            }
            return;
        }
        self.read_output();
        let Some(p) = self.probe.as_mut() else { return };
        if !p.timed_out && Instant::now() >= p.deadline {
            // SAFETY: kill takes no pointers; the pid is our unreaped child, so not reused.
            unsafe { libc::kill(p.pid, libc::SIGKILL) };
            p.timed_out = true;
        }
        use nix::sys::wait::{waitpid, WaitPidFlag, WaitStatus};
        let (code, killed) = match waitpid(
            nix::unistd::Pid::from_raw(p.pid),
            Some(WaitPidFlag::WNOHANG),
        ) {
            Ok(WaitStatus::Exited(_, c)) => (c as i64, false),
            Ok(WaitStatus::Signaled(_, s, _)) => {
                (128 + s as i64, s == nix::sys::signal::Signal::SIGKILL)
            }
            Ok(_) => return,
            Err(_) => (-1, false),
        };
        self.read_output();
        let Some(p) = self.probe.take() else { return };
        if killed && !p.timed_out && !alive(self.init) {
            // The container's init exited and the kernel killed its pid namespace, probe
            // included: not a result of the check (docker drops a probe cut off by stop).
            return;
        }
        let mut out = String::from_utf8_lossy(&p.buf).into_owned();
        if p.truncated {
            out.push_str("...");
        }
        let (exit_code, output) = if p.timed_out {
            let t = format_duration(dur(self.cfg.timeout, DEFAULT_TIMEOUT).as_nanos() as i64);
            let msg = if out.is_empty() {
                format!("Health check exceeded timeout ({t})")
            } else {
                format!("Health check exceeded timeout ({t}): {out}")
            };
            (-1, msg)
        } else {
            (code, out)
        };
        self.record(
            HealthResult {
                start: p.start,
                end: ongi::rfc3339_now(),
                exit_code,
                output,
            },
            p.started,
        );
        // The runtime library's exec (config, seccomp) leaves freed heap behind: give it
        // back, the monitor is resident for the container's life.
        // SAFETY: malloc_trim only returns free heap to the kernel; no pointer is passed.
        unsafe { libc::malloc_trim(0) };
    }

    fn read_output(&mut self) {
        let Some(p) = self.probe.as_mut() else { return };
        let mut chunk = [0u8; 4096];
        loop {
            match nix::unistd::read(&p.out, &mut chunk) {
                Ok(0) | Err(_) => break,
                Ok(n) => {
                    let keep = n.min(MAX_OUTPUT - p.buf.len());
                    p.buf.extend_from_slice(&chunk[..keep]);
                    if keep < n {
                        p.truncated = true;
                    }
                }
            }
        }
    }

    fn start_probe(&mut self) {
        let start = ongi::rfc3339_now();
        let started = std::time::SystemTime::now();
        match spawn_probe(&self.runtime_root, &self.id, &self.argv) {
            Ok((pid, out)) => {
                self.probe = Some(Probe {
                    pid,
                    out,
                    buf: Vec::new(),
                    truncated: false,
                    start,
                    started,
                    deadline: Instant::now() + dur(self.cfg.timeout, DEFAULT_TIMEOUT),
                    timed_out: false,
                })
            }
            // A paused container runs no checks (docker stops them while paused).
            Err(ProbeError::Paused) => self.next = Instant::now() + self.interval(),
            Err(ProbeError::Failed(msg)) => {
                let r = HealthResult {
                    start,
                    end: ongi::rfc3339_now(),
                    exit_code: -1,
                    output: msg,
                };
                self.record(r, started);
            }
        }
    }

    /// docker's handleProbeResult, then the next probe's time.
    fn record(&mut self, r: HealthResult, probe_start: std::time::SystemTime) {
        let h = &mut self.health;
        let ok = r.exit_code == 0;
        h.log.push(r);
        if h.log.len() > MAX_LOG {
            let extra = h.log.len() - MAX_LOG;
            h.log.drain(..extra);
        }
        if ok {
            h.failing_streak = 0;
            h.status = "healthy".into();
        } else {
            let period = dur(self.cfg.start_period, Duration::ZERO);
            let in_period = h.status == "starting"
                && probe_start.duration_since(self.started).unwrap_or_default() < period;
            if !in_period {
                h.failing_streak += 1;
                let retries = if self.cfg.retries <= 0 {
                    DEFAULT_RETRIES
                } else {
                    self.cfg.retries
                };
                if h.failing_streak >= retries {
                    h.status = "unhealthy".into();
                }
            }
        }
        let _ = write(&self.dir, &self.health);
        self.next = Instant::now() + self.interval();
    }

    /// The container stopped: a probe in flight is killed and its result dropped (docker
    /// ignores a result that arrives after stop); the recorded health stays as it was.
    fn end(&mut self) {
        if let Some(p) = self.probe.take() {
            // SAFETY: as in tick: our unreaped child.
            unsafe { libc::kill(p.pid, libc::SIGKILL) };
            let _ = nix::sys::wait::waitpid(nix::unistd::Pid::from_raw(p.pid), None);
        }
    }
}

impl Drop for Checker {
    fn drop(&mut self) {
        self.end();
    }
}

/// Is `pid` running (not gone, not a zombie waiting for the monitor's waitpid)?
fn alive(pid: i32) -> bool {
    match fs::read_to_string(format!("/proc/{pid}/stat")) {
        Ok(stat) => stat
            .rsplit_once(')')
            .is_some_and(|(_, rest)| !matches!(rest.trim_start().chars().next(), Some('Z' | 'X'))),
        Err(_) => false,
    }
}

enum ProbeError {
    Paused,
    Failed(String),
}

/// Execs `argv` in the container, detached, its stdout and stderr on a pipe whose read end
/// is returned (non-blocking), stdin /dev/null (docker gives probes no stdin).
fn spawn_probe(
    runtime_root: &Path,
    id: &str,
    argv: &[String],
) -> Result<(i32, OwnedFd), ProbeError> {
    let fail = |e: &dyn std::fmt::Display| ProbeError::Failed(e.to_string());
    let (r, w) = nix::unistd::pipe2(nix::fcntl::OFlag::O_CLOEXEC | nix::fcntl::OFlag::O_NONBLOCK)
        .map_err(|e| fail(&e))?;
    // The write end must block: a probe writing fast would otherwise get EAGAIN.
    // SAFETY: fcntl on our own fd.
    unsafe { libc::fcntl(w.as_raw_fd(), libc::F_SETFL, 0) };
    let null = fs::File::open("/dev/null").map_err(|e| fail(&e))?;
    // The exec'd process inherits 0, 1 and 2: point them at the probe's stdio for the call
    // and put ours back (as the monitor does around create).
    let saved: Vec<OwnedFd> = (0..3)
        // SAFETY: 0, 1 and 2 are open for the monitor's whole life.
        .map(|fd| nix::unistd::dup(unsafe { std::os::fd::BorrowedFd::borrow_raw(fd) }))
        .collect::<Result<_, _>>()
        .map_err(|e| fail(&e))?;
    let redirect = |fds: [RawFd; 3]| {
        for (i, fd) in fds.iter().enumerate() {
            // SAFETY: dup2 onto 0..2 with fds we hold open.
            unsafe { libc::dup2(*fd, i as RawFd) };
        }
    };
    redirect([null.as_raw_fd(), w.as_raw_fd(), w.as_raw_fd()]);
    let res = ongi::Container::new(runtime_root, id).exec(&ongi::ExecOptions {
        args: argv.to_vec(),
        detach: true,
        ..Default::default()
    });
    redirect([
        saved[0].as_raw_fd(),
        saved[1].as_raw_fd(),
        saved[2].as_raw_fd(),
    ]);
    match res {
        Ok(ongi::ExecOutcome::Detached(pid)) => Ok((pid, r)),
        Ok(ongi::ExecOutcome::Exited(c)) => Err(ProbeError::Failed(format!(
            "health check exited early with {c}"
        ))),
        Err(ongi::Error::Exec(ongi::ExecError::Paused)) => Err(ProbeError::Paused),
        Err(e) => Err(ProbeError::Failed(format!("OCI runtime exec failed: {e}"))),
    }
}

thread_local! {
    /// The monitor's checker for the current run of its container. The monitor is
    /// single-threaded; the checker lives here so the relay loops of monitor.rs and tty.rs
    /// need only a call each, not a parameter threaded through them.
    static CHECKER: RefCell<Option<Checker>> = const { RefCell::new(None) };
}

/// Monitor hook: the container has just started; from now on its check runs.
pub fn begin(dir: &Path, runtime_root: &Path, id: &str, init: i32, cfg: Option<&HealthConfig>) {
    let c = Checker::new(dir, runtime_root, id, init, cfg);
    CHECKER.with(|k| *k.borrow_mut() = c);
}

/// Monitor hook: the poll timeout for the relay loop, `cap` ms or less when a probe is due
/// sooner or running.
pub fn wait_ms(cap: u16) -> u16 {
    CHECKER.with(|k| k.borrow().as_ref().map_or(cap, |c| c.wait_ms(cap)))
}

/// Monitor hook: once per relay loop iteration.
pub fn tick() {
    CHECKER.with(|k| {
        if let Some(c) = k.borrow_mut().as_mut() {
            c.tick();
        }
    });
}

/// Monitor hook: the container's process has exited; checks stop.
pub fn end() {
    CHECKER.with(|k| {
        // Dropping it kills a probe in flight.
        k.borrow_mut().take();
    });
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn go_durations() {
        assert_eq!(parse_duration("1s"), Some(1_000_000_000));
        assert_eq!(parse_duration("1.5s"), Some(1_500_000_000));
        assert_eq!(parse_duration("1m30s"), Some(90_000_000_000));
        assert_eq!(parse_duration("300ms"), Some(300_000_000));
        assert_eq!(parse_duration("0"), Some(0));
        assert_eq!(parse_duration("-2s"), Some(-2_000_000_000));
        assert_eq!(parse_duration("5"), None);
        assert_eq!(parse_duration("abc"), None);
        assert_eq!(parse_duration(""), None);
        assert_eq!(format_duration(30_000_000_000), "30s");
        assert_eq!(format_duration(1_500_000_000), "1.5s");
        assert_eq!(format_duration(500_000_000), "500ms");
        assert_eq!(format_duration(90_000_000_000), "1m30s");
    }

    #[test]
    fn flags_override_the_images_fields() {
        let img = serde_json::json!({"Test": ["CMD", "true"], "Interval": 5_000_000_000i64, "Retries": 7});
        let f = HealthFlags {
            interval: Some("1s".into()),
            ..Default::default()
        };
        let h = merge(&f, Some(&img)).unwrap().unwrap();
        assert_eq!(h.test, ["CMD", "true"]);
        assert_eq!(h.interval, 1_000_000_000);
        assert_eq!(h.retries, 7);
        let f = HealthFlags {
            cmd: Some("exit 1".into()),
            ..Default::default()
        };
        let h = merge(&f, Some(&img)).unwrap().unwrap();
        assert_eq!(h.test, ["CMD-SHELL", "exit 1"]);
        assert_eq!(h.interval, 5_000_000_000);
        // No flags: the image's; none at all: none.
        assert_eq!(
            merge(&HealthFlags::default(), Some(&img))
                .unwrap()
                .unwrap()
                .retries,
            7
        );
        assert_eq!(merge(&HealthFlags::default(), None).unwrap(), None);
        let none = HealthFlags {
            none: true,
            ..Default::default()
        };
        assert_eq!(merge(&none, Some(&img)).unwrap().unwrap().argv(), None);
    }

    #[test]
    fn bad_flags_are_refused_with_dockers_words() {
        let e = |f: HealthFlags| merge(&f, None).unwrap_err().to_string();
        assert_eq!(
            e(HealthFlags {
                none: true,
                cmd: Some("true".into()),
                ..Default::default()
            }),
            "--no-healthcheck conflicts with --health-* options"
        );
        assert_eq!(
            e(HealthFlags {
                interval: Some("-1s".into()),
                ..Default::default()
            }),
            "--health-interval cannot be negative"
        );
        assert!(e(HealthFlags {
            timeout: Some("soon".into()),
            ..Default::default()
        })
        .contains("invalid duration \"soon\""));
        assert_eq!(
            e(HealthFlags {
                interval: Some("10us".into()),
                ..Default::default()
            }),
            "Interval in Healthcheck cannot be less than 1ms"
        );
    }

    #[test]
    fn healthcheck_instruction() {
        let h = parse_instruction("--interval=2s --retries=4 CMD [\"cat\", \"/ok\"]").unwrap();
        assert_eq!(h.test, ["CMD", "cat", "/ok"]);
        assert_eq!((h.interval, h.retries), (2_000_000_000, 4));
        let h = parse_instruction("CMD test -f /ok || exit 1").unwrap();
        assert_eq!(h.test, ["CMD-SHELL", "test -f /ok || exit 1"]);
        assert_eq!(parse_instruction("NONE").unwrap().test, ["NONE"]);
        assert!(parse_instruction("--bogus=1 CMD true").is_err());
        assert!(parse_instruction("RUN true").is_err());
    }

    #[test]
    fn results_make_the_status() {
        let dir = std::env::temp_dir().join(format!("ongi-health-{}", std::process::id()));
        fs::create_dir_all(&dir).unwrap();
        let cfg = HealthConfig {
            test: vec!["CMD".into(), "true".into()],
            retries: 2,
            ..Default::default()
        };
        let mut c = Checker::new(&dir, Path::new("/nonexistent"), "x", 0, Some(&cfg)).unwrap();
        assert_eq!(read(&dir).unwrap().status, "starting");
        let r = |code| HealthResult {
            exit_code: code,
            output: format!("code {code}"),
            ..Default::default()
        };
        let now = std::time::SystemTime::now();
        c.record(r(1), now);
        assert_eq!(read(&dir).unwrap().status, "starting");
        c.record(r(1), now);
        let h = read(&dir).unwrap();
        assert_eq!((h.status.as_str(), h.failing_streak), ("unhealthy", 2));
        for _ in 0..5 {
            c.record(r(0), now);
        }
        let h = read(&dir).unwrap();
        assert_eq!(
            (h.status.as_str(), h.failing_streak, h.log.len()),
            ("healthy", 0, 5)
        );
        assert_eq!(h.log[4].output, "code 0");
        let _ = fs::remove_dir_all(&dir);
    }
}
