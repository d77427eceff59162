//! `ongi`: runc-compatible command line. Parsing and output only; all container logic is in
//! the `ongi` library.

// The C `main` below replaces std's start-up (see there); the test harness brings its own.
#![cfg_attr(not(test), no_main)]

use clap::{Args, Parser, Subcommand};
use ongi::{Container, CreateOptions, RunOutcome, Signal};
use std::io::Write;
use std::path::PathBuf;

/// The process exit status. std's `ExitCode` cannot be turned back into a number, which the
/// C `main` has to return.
#[derive(Clone, Copy)]
struct ExitCode(u8);

impl ExitCode {
    const SUCCESS: Self = Self(0);
}

impl From<u8> for ExitCode {
    fn from(code: u8) -> Self {
        Self(code)
    }
}

// In a subdirectory: a file next to ongi.rs would be taken for another binary.
#[path = "ongi/exec_cmd.rs"]
mod exec_cmd;
use exec_cmd::ExecArgs;

#[derive(Parser)]
#[command(
    name = "ongi",
    disable_version_flag = true,
    about = "ongi: a runc-compatible OCI runtime"
)]
struct Cli {
    /// Root directory for container state.
    #[arg(long, global = true, default_value = "/run/ongi")]
    root: PathBuf,
    /// Log file (errors and debug messages).
    #[arg(long, global = true)]
    log: Option<PathBuf>,
    /// Log format: text or json.
    #[arg(long = "log-format", global = true, default_value = "text")]
    log_format: String,
    #[arg(long, global = true)]
    debug: bool,
    #[arg(long = "systemd-cgroup", global = true)]
    systemd_cgroup: bool,
    #[arg(short = 'v', long = "version")]
    version: bool,
    #[command(subcommand)]
    cmd: Option<Cmd>,
}

#[derive(Args)]
struct CreateArgs {
    /// Path to the bundle directory.
    #[arg(short, long, default_value = ".")]
    bundle: PathBuf,
    #[arg(long = "pid-file")]
    pid_file: Option<PathBuf>,
    #[arg(long = "console-socket")]
    console_socket: Option<PathBuf>,
    #[arg(long = "no-pivot")]
    no_pivot: bool,
    #[arg(long = "no-new-keyring")]
    no_new_keyring: bool,
    #[arg(long = "preserve-fds", default_value_t = 0)]
    preserve_fds: u32,
    id: String,
}

impl CreateArgs {
    fn options(&self) -> CreateOptions {
        CreateOptions {
            bundle: self.bundle.clone(),
            pid_file: self.pid_file.clone(),
            console_socket: self.console_socket.clone(),
            no_pivot: self.no_pivot,
            no_new_keyring: self.no_new_keyring,
            preserve_fds: self.preserve_fds,
        }
    }
}

// Deferred: clap builds a subcommand's arguments only when that subcommand is used, not all
// of them on every parse (46 KiB less heap at the peak, which is in the parse).
#[derive(Subcommand)]
#[command(defer = true)]
enum Cmd {
    /// Create a container.
    Create(CreateArgs),
    /// Run the user process of a created container.
    Start { id: String },
    /// Create and start a container.
    Run {
        #[command(flatten)]
        create: CreateArgs,
        #[arg(short, long)]
        detach: bool,
    },
    /// Print the state of a container.
    State { id: String },
    /// Send a signal to a container's init (or all its processes).
    Kill {
        #[arg(short, long)]
        all: bool,
        id: String,
        #[arg(default_value = "SIGTERM")]
        signal: String,
    },
    /// Delete a container.
    Delete {
        #[arg(short, long)]
        force: bool,
        id: String,
    },
    /// List containers.
    List {
        #[arg(short, long, default_value = "table")]
        format: String,
        #[arg(short, long)]
        quiet: bool,
    },
    /// Freeze every process of a container.
    Pause { id: String },
    /// Thaw a paused container.
    Resume { id: String },
    /// Change the resource limits of a running container.
    Update(Box<UpdateArgs>),
    /// Print resource usage (and OOM) events as JSON lines.
    Events {
        /// Print one stats event and exit.
        #[arg(long)]
        stats: bool,
        /// Interval between stats events (Go duration: 5s, 500ms, 1m).
        #[arg(long, default_value = "5s")]
        interval: String,
        id: String,
    },
    /// Print the runtime's features (runtime-spec features.md JSON).
    Features,
    /// Run a new process inside a running container.
    Exec(Box<ExecArgs>),
    /// List the processes of a container (json: host pids in its cgroup).
    Ps {
        #[arg(short, long, default_value = "table")]
        format: String,
        id: String,
        /// Options for ps(1) (default -ef).
        #[arg(trailing_var_arg = true, allow_hyphen_values = true)]
        ps_args: Vec<String>,
    },
    /// Write a default config.json.
    Spec {
        #[arg(long)]
        rootless: bool,
        #[arg(short, long, default_value = ".")]
        bundle: PathBuf,
    },
}

// `update`'s flags (runc's names; memory sizes take suffixes like 10m, 1g). Not a doc
// comment: with the subcommands deferred (see `Cmd`), a struct's doc would replace the
// variant's as the subcommand's about text.
#[derive(Args)]
struct UpdateArgs {
    /// A linux.resources JSON file, or - for stdin; the other flags are then ignored.
    #[arg(short, long)]
    resources: Option<String>,
    /// Block IO weight, 10 to 1000.
    #[arg(long = "blkio-weight")]
    blkio_weight: Option<u16>,
    /// CPU CFS period in microseconds.
    #[arg(long = "cpu-period")]
    cpu_period: Option<u64>,
    /// CPU CFS quota in microseconds (-1: unlimited).
    #[arg(long = "cpu-quota", allow_hyphen_values = true)]
    cpu_quota: Option<i64>,
    /// CPU shares, relative weight (also --cpu-shares).
    #[arg(long = "cpu-share", alias = "cpu-shares")]
    cpu_share: Option<u64>,
    /// CPU realtime period in microseconds.
    #[arg(long = "cpu-rt-period")]
    cpu_rt_period: Option<u64>,
    /// CPU realtime runtime in microseconds.
    #[arg(long = "cpu-rt-runtime", allow_hyphen_values = true)]
    cpu_rt_runtime: Option<i64>,
    /// CPUs allowed, e.g. 0-3 or 0,1.
    #[arg(long = "cpuset-cpus")]
    cpuset_cpus: Option<String>,
    /// Memory nodes allowed, e.g. 0-3 or 0,1.
    #[arg(long = "cpuset-mems")]
    cpuset_mems: Option<String>,
    /// Kernel memory limit (ignored, as by runc: obsolete since Linux 5.4).
    #[arg(long = "kernel-memory", allow_hyphen_values = true)]
    kernel_memory: Option<String>,
    /// Kernel TCP buffer memory limit.
    #[arg(long = "kernel-memory-tcp", allow_hyphen_values = true)]
    kernel_memory_tcp: Option<String>,
    /// Memory limit, e.g. 512m, 1g (-1: unlimited).
    #[arg(long, allow_hyphen_values = true)]
    memory: Option<String>,
    /// Memory soft limit.
    #[arg(long = "memory-reservation", allow_hyphen_values = true)]
    memory_reservation: Option<String>,
    /// Memory plus swap limit (-1: unlimited swap).
    #[arg(long = "memory-swap", allow_hyphen_values = true)]
    memory_swap: Option<String>,
    /// Maximum number of pids (-1: unlimited).
    #[arg(long = "pids-limit", allow_hyphen_values = true)]
    pids_limit: Option<i64>,
    id: String,
}

/// docker/go-units RAMInBytes (what runc uses): binary multipliers, `b`/`ib` optional,
/// case-insensitive; `-1` means unlimited.
fn parse_size(flag: &str, s: &str) -> Result<i64, String> {
    let bad = || format!("invalid value for {flag}: invalid size: '{s}'");
    if s == "-1" {
        return Ok(-1);
    }
    let t = s.trim();
    let split = t
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .unwrap_or(t.len());
    let (num, unit) = t.split_at(split);
    let num: f64 = num.parse().map_err(|_| bad())?;
    let unit = unit.trim_start().to_ascii_lowercase();
    let unit = unit.strip_suffix('b').unwrap_or(&unit);
    let unit = unit.strip_suffix('i').unwrap_or(unit);
    let mult: f64 = match unit {
        "" => 1.0,
        "k" => 1024.0,
        "m" => 1024.0 * 1024.0,
        "g" => 1024.0 * 1024.0 * 1024.0,
        "t" => 1024f64.powi(4),
        "p" => 1024f64.powi(5),
        _ => return Err(bad()),
    };
    Ok((num * mult) as i64)
}

/// Go's time.ParseDuration for the units `events --interval` needs.
fn parse_duration(s: &str) -> Result<std::time::Duration, String> {
    let bad = || format!("invalid value {s:?} for flag -interval: parse error");
    let split = s
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .ok_or_else(bad)?;
    let (num, unit) = s.split_at(split);
    let n: f64 = num.parse().map_err(|_| bad())?;
    let secs = match unit {
        "ns" => n / 1e9,
        "us" | "µs" => n / 1e6,
        "ms" => n / 1e3,
        "s" => n,
        "m" => n * 60.0,
        "h" => n * 3600.0,
        _ => return Err(bad()),
    };
    Ok(std::time::Duration::from_secs_f64(secs))
}

impl UpdateArgs {
    fn resources(&self) -> Result<ongi::LinuxResources, String> {
        if let Some(src) = &self.resources {
            let text = if src == "-" {
                let mut t = String::new();
                std::io::Read::read_to_string(&mut std::io::stdin(), &mut t)
                    .map_err(|e| format!("read stdin: {e}"))?;
                t
            } else {
                std::fs::read_to_string(src).map_err(|e| format!("open {src}: {e}"))?
            };
            return serde_json::from_str(&text)
                .and_then(ongi::spec::resources_from_value)
                .map_err(|e| format!("{src}: {e}"));
        }
        let mut v = serde_json::json!({});
        let mem = [
            ("memory", "limit", &self.memory),
            (
                "memory-reservation",
                "reservation",
                &self.memory_reservation,
            ),
            ("memory-swap", "swap", &self.memory_swap),
            ("kernel-memory", "kernel", &self.kernel_memory),
            ("kernel-memory-tcp", "kernelTCP", &self.kernel_memory_tcp),
        ];
        for (flag, key, val) in mem {
            if let Some(val) = val {
                v["memory"][key] = parse_size(flag, val)?.into();
            }
        }
        let cpu: [(&str, Option<serde_json::Value>); 5] = [
            ("shares", self.cpu_share.map(Into::into)),
            ("quota", self.cpu_quota.map(Into::into)),
            ("period", self.cpu_period.map(Into::into)),
            ("realtimePeriod", self.cpu_rt_period.map(Into::into)),
            ("realtimeRuntime", self.cpu_rt_runtime.map(Into::into)),
        ];
        for (key, val) in cpu {
            if let Some(val) = val {
                v["cpu"][key] = val;
            }
        }
        if let Some(c) = &self.cpuset_cpus {
            v["cpu"]["cpus"] = c.as_str().into();
        }
        if let Some(m) = &self.cpuset_mems {
            v["cpu"]["mems"] = m.as_str().into();
        }
        if let Some(l) = self.pids_limit {
            v["pids"]["limit"] = l.into();
        }
        if let Some(w) = self.blkio_weight {
            v["blockIO"]["weight"] = w.into();
        }
        ongi::spec::resources_from_value(v).map_err(|e| e.to_string())
    }
}

fn events(root: &std::path::Path, id: &str, stats: bool, interval: &str) -> Result<(), String> {
    let c = Container::new(root, id);
    let interval = parse_duration(interval)?;
    if interval.is_zero() {
        return Err("duration interval must be greater than 0".into());
    }
    let st = c.state().map_err(|e| e.to_string())?;
    if st.status == ongi::Status::Stopped {
        return Err(format!("container with id {id} is not running"));
    }
    // runc's field order: type, id, data (omitted for oom).
    let id_json = serde_json::Value::from(id).to_string();
    let emit = |kind: &str, data: Option<&ongi::Stats>| {
        let mut line = format!("{{\"type\":\"{kind}\",\"id\":{id_json}");
        if let Some(d) = data.and_then(|d| serde_json::to_string(d).ok()) {
            line.push_str(&format!(",\"data\":{d}"));
        }
        line.push('}');
        let mut out = std::io::stdout().lock();
        let _ = writeln!(out, "{line}");
        let _ = out.flush();
    };
    if stats {
        let s = c.stats().map_err(|e| e.to_string())?;
        emit("stats", Some(&s));
        return Ok(());
    }
    // OOM kills are noticed by polling the kill counter: no thread, no eventfd to leak.
    let mut ooms = c.oom_kills().unwrap_or(0);
    let tick = std::time::Duration::from_millis(100).min(interval);
    let mut next = std::time::Instant::now() + interval;
    loop {
        std::thread::sleep(tick);
        match c.oom_kills() {
            Ok(n) if n > ooms => {
                ooms = n;
                emit("oom", None);
            }
            Ok(_) => {}
            // The container is gone: as runc, events ends.
            Err(_) => return Ok(()),
        }
        if std::time::Instant::now() >= next {
            next += interval;
            match c.stats() {
                Ok(s) => emit("stats", Some(&s)),
                Err(_) => return Ok(()),
            }
        }
    }
}

/// Error log lines in runc's (logrus) shapes, so shims and podman can show them.
struct Logger {
    file: Option<std::fs::File>,
    json: bool,
}

impl Logger {
    fn error(&mut self, msg: &str) {
        self.log("error", msg);
    }

    /// A warning goes to --log (level "warning", logrus' name) and to stderr; the command
    /// still succeeds.
    fn warning(&mut self, msg: &str) {
        eprintln!("warning: {}", ongi::escape_controls(msg));
        self.log("warning", msg);
    }

    /// One call's warnings, as one line (nothing when there are none).
    fn warnings(&mut self, ws: &[ongi::Warning]) {
        if ws.is_empty() {
            return;
        }
        let msgs: Vec<String> = ws.iter().map(|w| w.to_string()).collect();
        self.warning(&msgs.join("; "));
    }

    fn log(&mut self, level: &str, msg: &str) {
        let Some(f) = self.file.as_mut() else { return };
        let time = ongi::rfc3339_now();
        let line = if self.json {
            serde_json::json!({"level": level, "msg": msg, "time": time}).to_string()
        } else {
            format!("time={time:?} level={level} msg={msg:?}")
        };
        let _ = writeln!(f, "{line}");
    }
}

fn parse_signal(s: &str) -> Result<Signal, String> {
    if let Ok(n) = s.parse::<i32>() {
        return Signal::try_from(n).map_err(|_| format!("invalid signal {s:?}"));
    }
    let up = s.to_ascii_uppercase();
    let name = if up.starts_with("SIG") {
        up
    } else {
        format!("SIG{up}")
    };
    name.parse::<Signal>()
        .map_err(|_| format!("invalid signal {s:?}"))
}

fn print_list(root: &std::path::Path, format: &str, quiet: bool) -> Result<(), String> {
    let states = ongi::list(root).map_err(|e| e.to_string())?;
    if quiet {
        for s in &states {
            println!("{}", s.id);
        }
        return Ok(());
    }
    match format {
        "json" => {
            let v: Vec<serde_json::Value> = states
                .iter()
                .map(|s| {
                    serde_json::json!({"ociVersion": s.oci_version, "id": s.id, "pid": s.pid,
                        "status": s.status, "bundle": s.bundle, "rootfs": s.rootfs,
                        "created": s.created, "owner": s.owner})
                })
                .collect();
            let out = if v.is_empty() {
                "null".to_string()
            } else {
                serde_json::Value::Array(v).to_string()
            };
            println!("{out}");
        }
        "table" => {
            let rows: Vec<[String; 6]> = states
                .iter()
                .map(|s| {
                    [
                        s.id.clone(),
                        s.pid.to_string(),
                        s.status.to_string(),
                        s.bundle.display().to_string(),
                        s.created.clone(),
                        if s.owner.is_empty() {
                            "root".into()
                        } else {
                            s.owner.clone()
                        },
                    ]
                })
                .collect();
            let head = ["ID", "PID", "STATUS", "BUNDLE", "CREATED", "OWNER"].map(String::from);
            // tabwriter-like: minimum width 12, padding 1 (runc's format).
            let mut w = [0usize; 6];
            for r in std::iter::once(&head).chain(rows.iter()) {
                for (i, c) in r.iter().enumerate() {
                    w[i] = w[i].max(c.len() + 1).max(12);
                }
            }
            for r in std::iter::once(&head).chain(rows.iter()) {
                let mut line = String::new();
                for (i, c) in r.iter().enumerate() {
                    if i == 5 {
                        line.push_str(c);
                    } else {
                        line.push_str(&format!("{c:<width$}", width = w[i]));
                    }
                }
                println!("{line}");
            }
        }
        other => return Err(format!("invalid format option {other:?}")),
    }
    Ok(())
}

fn run(cli: &Cli, cmd: &Cmd, logger: &mut Logger) -> Result<ExitCode, String> {
    let c = |id: &str| Container::new(&cli.root, id);
    let e = |e: ongi::Error| e.to_string();
    match cmd {
        Cmd::Create(a) | Cmd::Run { create: a, .. } if cli.systemd_cgroup => {
            let _ = a;
            Err("--systemd-cgroup: the systemd cgroup driver is not supported yet; use cgroupfs paths".into())
        }
        Cmd::Create(a) => c(&a.id)
            .create(&a.options())
            .map(|_| ExitCode::SUCCESS)
            .map_err(e),
        Cmd::Run { create, detach } => {
            let outcome = c(&create.id).run(&create.options(), *detach).map_err(e)?;
            logger.warnings(outcome.warnings());
            match outcome {
                RunOutcome::Detached { .. } => Ok(ExitCode::SUCCESS),
                // The container's status even when hooks failed, as runc.
                RunOutcome::Exited { status, .. } => Ok(ExitCode::from(status.clamp(0, 255) as u8)),
            }
        }
        // Started; a failing poststart hook is only a warning (runtime-spec lifecycle
        // step 9), so start succeeds.
        Cmd::Start { id } => c(id)
            .start()
            .map(|w| logger.warnings(&w))
            .map(|()| ExitCode::SUCCESS)
            .map_err(e),
        Cmd::State { id } => {
            let s = c(id).state().map_err(e)?;
            println!(
                "{}",
                serde_json::to_string_pretty(&s).map_err(|e| e.to_string())?
            );
            Ok(ExitCode::SUCCESS)
        }
        Cmd::Kill { all, id, signal } => {
            let sig = parse_signal(signal)?;
            c(id).kill(sig, *all).map(|_| ExitCode::SUCCESS).map_err(e)
        }
        // The container is gone; a failing poststop hook is only a warning (runtime-spec
        // lifecycle step 13), so delete succeeds.
        Cmd::Delete { force, id } => c(id)
            .delete(*force)
            .map(|w| logger.warnings(&w))
            .map(|()| ExitCode::SUCCESS)
            .map_err(e),
        Cmd::List { format, quiet } => {
            print_list(&cli.root, format, *quiet).map(|_| ExitCode::SUCCESS)
        }
        Cmd::Pause { id } => c(id).pause().map(|_| ExitCode::SUCCESS).map_err(e),
        Cmd::Resume { id } => c(id).resume().map(|_| ExitCode::SUCCESS).map_err(e),
        Cmd::Update(a) => {
            let r = a.resources()?;
            c(&a.id).update(&r).map(|_| ExitCode::SUCCESS).map_err(e)
        }
        Cmd::Events {
            stats,
            interval,
            id,
        } => events(&cli.root, id, *stats, interval).map(|_| ExitCode::SUCCESS),
        Cmd::Features => {
            let f = ongi::features::features();
            let text = serde_json::to_string_pretty(&f).map_err(|e| e.to_string())?;
            println!("{text}");
            Ok(ExitCode::SUCCESS)
        }
        Cmd::Exec(a) => exec_cmd::exec(&cli.root, a),
        Cmd::Ps {
            format,
            id,
            ps_args,
        } => exec_cmd::ps(&cli.root, id, format, ps_args),
        Cmd::Spec { rootless, bundle } => {
            let path = bundle.join("config.json");
            if path.exists() {
                return Err(format!("File {} exists. Remove it first", path.display()));
            }
            let v = ongi::spec::default_spec(*rootless);
            let text = serde_json::to_string_pretty(&v).map_err(|e| e.to_string())?;
            std::fs::write(&path, text + "\n")
                .map_err(|err| format!("{}: {err}", path.display()))?;
            Ok(ExitCode::SUCCESS)
        }
    }
}

/// The entry point instead of std's `lang_start`. Before `main`, std installs a stack
/// overflow handler: an alternate signal stack plus pthread_getattr_np, which parses
/// /proc/self/maps with sscanf and so links glibc's scanf and strtod machinery into the
/// static binary (130 KiB of the binary, resident on every run). ongi runs no threads and does
/// without it (an overflow is then a plain SIGSEGV). What std's start-up does that matters
/// is done here: fds 0-2 are made valid, SIGPIPE is ignored (writes to a closed pipe fail
/// with EPIPE), and `process::exit` flushes stdout as returning from std's main would.
// In the unit-test build the harness's main is the entry point and this is a plain function.
#[cfg_attr(not(test), no_mangle)]
extern "C" fn main(_argc: libc::c_int, _argv: *const *const libc::c_char) -> libc::c_int {
    for fd in 0..3 {
        // SAFETY: fcntl and open with valid arguments; an fd that is not open is made
        // /dev/null (the lowest free fd is the one missing), as std does, so that no file
        // opened later becomes stdin, stdout or stderr.
        unsafe {
            if libc::fcntl(fd, libc::F_GETFD) == -1 {
                libc::open(c"/dev/null".as_ptr(), libc::O_RDWR);
            }
        }
    }
    // SAFETY: setting a signal's disposition to SIG_IGN involves no handler code.
    unsafe { libc::signal(libc::SIGPIPE, libc::SIG_IGN) };
    // std's args are captured by an .init_array hook on glibc, so they work without
    // lang_start.
    std::process::exit(ongi_main().0.into())
}

/// Whether the command line names a command whose clones enter a container (`create`,
/// `run`, `exec`), found without clap: the protected re-execution comes before the parse,
/// so the arguments are parsed once, in the process that does the work.
fn enters_container(args: &[std::ffi::OsString]) -> bool {
    let mut it = args.iter().skip(1);
    while let Some(a) = it.next() {
        let Some(a) = a.to_str() else { return false };
        match a {
            // Global flags that take their value as the next argument.
            "--root" | "--log" | "--log-format" => {
                it.next();
            }
            _ if a.starts_with('-') => {}
            _ => return matches!(a, "create" | "run" | "exec"),
        }
    }
    false
}

fn ongi_main() -> ExitCode {
    // The commands whose clones enter a container run from a copy of this binary that the
    // container cannot write (CVE-2019-5736; see ongi::exe). Re-executes, so it comes
    // before anything else is done; a failure is reported once --log is known.
    let args: Vec<std::ffi::OsString> = std::env::args_os().collect();
    let unprotected = enters_container(&args)
        .then(ongi::exe::protect)
        .and_then(Result::err);
    let cli = match Cli::try_parse() {
        Ok(c) => c,
        Err(err) => {
            // Argument errors must reach --log too (shims read only that file).
            let args: Vec<String> = std::env::args().collect();
            let log = args
                .iter()
                .position(|a| a == "--log")
                .and_then(|i| args.get(i + 1).cloned())
                .or_else(|| {
                    args.iter()
                        .find_map(|a| a.strip_prefix("--log=").map(String::from))
                });
            let json = args.iter().any(|a| a == "--log-format=json")
                || args
                    .windows(2)
                    .any(|w| w[0] == "--log-format" && w[1] == "json");
            if let (Some(path), true) = (
                log,
                !matches!(err.kind(), clap::error::ErrorKind::DisplayHelp),
            ) {
                let file = std::fs::OpenOptions::new()
                    .create(true)
                    .append(true)
                    .open(path)
                    .ok();
                // The shim shows only this line: the whole message (up to clap's usage
                // block) on one line, e.g. "... not provided: <ID>".
                let text = err.to_string();
                let msg: Vec<&str> = text
                    .lines()
                    .take_while(|l| !l.trim().is_empty())
                    .map(str::trim)
                    .collect();
                let msg = msg.join(" ");
                Logger { file, json }.error(msg.strip_prefix("error: ").unwrap_or(&msg));
            }
            let _ = err.print();
            return if err.use_stderr() {
                ExitCode::from(1)
            } else {
                ExitCode::SUCCESS
            };
        }
    };
    if cli.version {
        println!("ongi version {}", env!("CARGO_PKG_VERSION"));
        println!(
            "commit: {}",
            option_env!("ONGI_COMMIT").unwrap_or("unknown")
        );
        println!("spec: {}", ongi::OCI_VERSION);
        // runc prints its libseccomp too (`docker info` and podman show this verbatim).
        if let Some(v) = ongi::features::libseccomp_version() {
            println!("libseccomp: {v}");
        }
        return ExitCode::SUCCESS;
    }
    let mut logger = Logger {
        file: cli.log.as_ref().and_then(|p| {
            std::fs::OpenOptions::new()
                .create(true)
                .append(true)
                .open(p)
                .ok()
        }),
        json: cli.log_format == "json",
    };
    let Some(cmd) = &cli.cmd else {
        eprintln!("ongi: no command given; see ongi --help");
        return ExitCode::from(1);
    };
    if let Some(e) = unprotected {
        let msg = e.to_string();
        logger.error(&msg);
        eprintln!("{msg}");
        return ExitCode::from(if matches!(cmd, Cmd::Exec(_)) { 255 } else { 1 });
    }
    let result = run(&cli, cmd, &mut logger);
    match result {
        Ok(code) => code,
        Err(msg) => {
            logger.error(&msg);
            // Errors echo config.json and command-line text: no raw NUL or escape sequence
            // may reach the terminal (the log's formats escape on their own).
            eprintln!("{}", ongi::escape_controls(&msg));
            // runc exits 255 when exec itself fails, so callers can tell it from the
            // process's own status.
            ExitCode::from(if matches!(cmd, Cmd::Exec(_)) { 255 } else { 1 })
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_as_runc() {
        assert_eq!(parse_size("memory", "10m"), Ok(10 << 20));
        assert_eq!(parse_size("memory", "1g"), Ok(1 << 30));
        assert_eq!(parse_size("memory", "1GB"), Ok(1 << 30));
        assert_eq!(parse_size("memory", "512KiB"), Ok(512 << 10));
        assert_eq!(parse_size("memory", "4096"), Ok(4096));
        assert_eq!(parse_size("memory", "1.5k"), Ok(1536));
        assert_eq!(parse_size("memory", "-1"), Ok(-1));
        assert!(parse_size("memory", "10x").is_err());
        assert!(parse_size("memory", "m").is_err());
    }

    #[test]
    fn durations_as_go() {
        use std::time::Duration;
        assert_eq!(parse_duration("5s"), Ok(Duration::from_secs(5)));
        assert_eq!(parse_duration("200ms"), Ok(Duration::from_millis(200)));
        assert_eq!(parse_duration("1m"), Ok(Duration::from_secs(60)));
        assert!(parse_duration("5").is_err());
        assert!(parse_duration("abc").is_err());
    }
}
