//! `exec` and `ps`: runc's flags turned into library calls, and `ps`'s table output.

use clap::Args;
use ongi::{Container, ExecOptions, ExecOutcome};
use std::path::{Path, PathBuf};

use crate::ExitCode;

// runc's `exec` flags. Everything after the container id is the command, hyphens included.
// Not a doc comment (see `UpdateArgs`).
#[derive(Args)]
pub(crate) struct ExecArgs {
    #[arg(long = "console-socket")]
    console_socket: Option<PathBuf>,
    /// Working directory inside the container.
    #[arg(long)]
    cwd: Option<PathBuf>,
    /// KEY=VALUE added to the environment.
    #[arg(short = 'e', long = "env")]
    env: Vec<String>,
    #[arg(short = 't', long)]
    tty: bool,
    /// uid[:gid]
    #[arg(short = 'u', long)]
    user: Option<String>,
    #[arg(short = 'g', long = "additional-gids")]
    additional_gids: Vec<u32>,
    /// A process.json used instead of the container's process and the flags above.
    #[arg(short = 'p', long)]
    process: Option<PathBuf>,
    #[arg(short = 'd', long)]
    detach: bool,
    #[arg(long = "pid-file")]
    pid_file: Option<PathBuf>,
    /// Accepted for compatibility; SELinux labels are not supported.
    #[arg(long = "process-label")]
    process_label: Option<String>,
    /// Accepted for compatibility; AppArmor profiles are not applied.
    #[arg(long)]
    apparmor: Option<String>,
    #[arg(long = "no-new-privs")]
    no_new_privs: bool,
    /// Capability added to the process (bounding, effective, permitted).
    #[arg(short = 'c', long = "cap")]
    cap: Vec<String>,
    #[arg(long = "preserve-fds", default_value_t = 0)]
    preserve_fds: u32,
    #[arg(long = "ignore-paused")]
    ignore_paused: bool,
    /// Run the process in an existing sub-cgroup: [<controller>[,<controller>]:]<cgroup>.
    #[arg(long = "cgroup")]
    cgroup: Vec<String>,
    pub(crate) id: String,
    #[arg(trailing_var_arg = true, allow_hyphen_values = true)]
    command: Vec<String>,
}

impl ExecArgs {
    fn options(&self) -> Result<ExecOptions, String> {
        let user = match &self.user {
            None => None,
            Some(u) => {
                let (uid, gid) = match u.split_once(':') {
                    Some((a, b)) => (a, Some(b)),
                    None => (u.as_str(), None),
                };
                let uid = uid.parse().map_err(|_| format!("bad uid: {uid:?}"))?;
                let gid = match gid {
                    Some(g) => Some(g.parse().map_err(|_| format!("bad gid: {g:?}"))?),
                    None => None,
                };
                Some((uid, gid))
            }
        };
        let process = match &self.process {
            Some(p) => Some(ongi::spec::load_process(p).map_err(|e| e.to_string())?),
            None => None,
        };
        Ok(ExecOptions {
            process,
            args: self.command.clone(),
            env: self.env.clone(),
            cwd: self.cwd.clone(),
            user,
            additional_gids: self.additional_gids.clone(),
            caps: self.cap.clone(),
            no_new_privs: self.no_new_privs,
            tty: self.tty,
            detach: self.detach,
            pid_file: self.pid_file.clone(),
            console_socket: self.console_socket.clone(),
            preserve_fds: self.preserve_fds,
            ignore_paused: self.ignore_paused,
            sub_cgroups: self.cgroup.clone(),
        })
    }
}

/// `ps` table: ps(1)'s output on the host, keeping the header and the container's pids.
fn print_ps(pids: &[i32], args: &[String]) -> Result<(), String> {
    let args: Vec<String> = if args.is_empty() {
        vec!["-ef".into()]
    } else {
        args.to_vec()
    };
    let out = std::process::Command::new("ps")
        .args(&args)
        .output()
        .map_err(|e| format!("ps: {e}"))?;
    let text = String::from_utf8_lossy(&out.stdout);
    if !out.status.success() {
        return Err(format!(
            "ps: {}: {}{}",
            out.status,
            text,
            String::from_utf8_lossy(&out.stderr)
        ));
    }
    let mut lines = text.lines();
    let head = lines.next().unwrap_or_default();
    let idx = head
        .split_whitespace()
        .position(|f| f == "PID")
        .ok_or("couldn't find PID field in ps output")?;
    println!("{head}");
    for line in lines.filter(|l| !l.is_empty()) {
        let pid = line
            .split_whitespace()
            .nth(idx)
            .and_then(|p| p.parse::<i32>().ok())
            .ok_or_else(|| format!("unable to parse pid in {line:?}"))?;
        if pids.contains(&pid) {
            println!("{line}");
        }
    }
    Ok(())
}

/// `exec`: the process's exit status, or an error that `main` turns into exit code 255.
pub(crate) fn exec(root: &Path, a: &ExecArgs) -> Result<ExitCode, String> {
    let opts = a.options().map_err(|m| format!("exec failed: {m}"))?;
    match Container::new(root, &a.id).exec(&opts) {
        Ok(ExecOutcome::Detached(_)) => Ok(ExitCode::SUCCESS),
        Ok(ExecOutcome::Exited(code)) => Ok(ExitCode::from(code.clamp(0, 255) as u8)),
        Err(err) => Err(format!("exec failed: {err}")),
    }
}

/// `ps`: json is the list of host pids in the container's cgroup (what containerd reads).
pub(crate) fn ps(
    root: &Path,
    id: &str,
    format: &str,
    ps_args: &[String],
) -> Result<ExitCode, String> {
    let pids = Container::new(root, id)
        .processes()
        .map_err(|e| e.to_string())?;
    match format {
        "json" => {
            // runc (Go) encodes an empty list as null.
            if pids.is_empty() {
                println!("null");
            } else {
                println!("{}", serde_json::json!(pids));
            }
            Ok(ExitCode::SUCCESS)
        }
        "table" => print_ps(&pids, ps_args).map(|_| ExitCode::SUCCESS),
        _ => Err("invalid format option".into()),
    }
}
