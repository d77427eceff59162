//! `ongi`: runc-compatible command line. Parsing and output only; all container logic is in
//! the `ongi` library.

use clap::{Args, Parser, Subcommand};
use ongi::{Container, CreateOptions, RunOutcome, Signal};
use std::io::Write;
use std::path::PathBuf;
use std::process::ExitCode;

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

#[derive(Subcommand)]
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

/// Error log lines in runc's (logrus) shapes, so shims and podman can show them.
struct Logger {
    file: Option<std::fs::File>,
    json: bool,
}

impl Logger {
    fn error(&mut self, msg: &str) {
        let Some(f) = self.file.as_mut() else { return };
        let time = ongi::state::rfc3339_now();
        let line = if self.json {
            serde_json::json!({"level": "error", "msg": msg, "time": time}).to_string()
        } else {
            format!("time={time:?} level=error msg={msg:?}")
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

fn run(cli: &Cli, cmd: &Cmd) -> Result<ExitCode, String> {
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
            match c(&create.id).run(&create.options(), *detach).map_err(e)? {
                RunOutcome::Detached(_) => Ok(ExitCode::SUCCESS),
                RunOutcome::Exited(code) => Ok(ExitCode::from(code.clamp(0, 255) as u8)),
                RunOutcome::ExitedWithWarning(code, warning) => {
                    eprintln!("warning: {warning}");
                    Ok(ExitCode::from(code.clamp(0, 255) as u8))
                }
            }
        }
        Cmd::Start { id } => c(id).start().map(|_| ExitCode::SUCCESS).map_err(e),
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
        Cmd::Delete { force, id } => c(id).delete(*force).map(|_| ExitCode::SUCCESS).map_err(e),
        Cmd::List { format, quiet } => {
            print_list(&cli.root, format, *quiet).map(|_| ExitCode::SUCCESS)
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

fn main() -> ExitCode {
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
                Logger { file, json }
                    .error(err.to_string().lines().next().unwrap_or("usage error"));
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
        println!("spec: {}", ongi::state::OCI_VERSION);
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
    match run(&cli, cmd) {
        Ok(code) => code,
        Err(msg) => {
            logger.error(&msg);
            eprintln!("{msg}");
            // runc exits 255 when exec itself fails, so callers can tell it from the
            // process's own status.
            ExitCode::from(if matches!(cmd, Cmd::Exec(_)) { 255 } else { 1 })
        }
    }
}
