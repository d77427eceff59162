//! compose's commands on an existing project (`start`, `stop`, `restart`, `rm`, `exec`,
//! `run`, `port`, `top`, `images`, `pull`, `push`, `build`): docker compose v2's flags,
//! output and exit codes over `ongi_engine::compose::ops`. Commands that are a single
//! container's (`exec`, `top`) go through ongictl's own, so their output is docker's.

use std::io::{BufRead, IsTerminal, Write};

use clap::Subcommand;
use ongi_engine::compose::model::Project;
use ongi_engine::compose::ops::{self, RunOptions};
use ongi_engine::reference::Reference;
use ongi_engine::store::Store;

use super::progress;
use crate::{fmt, Cli, Fail};

#[derive(Subcommand)]
pub enum OpsCmd {
    /// Start services.
    Start { services: Vec<String> },
    /// Stop services.
    Stop {
        /// Specify a shutdown timeout in seconds.
        #[arg(short = 't', long = "timeout")]
        timeout: Option<i64>,
        services: Vec<String>,
    },
    /// Restart service containers.
    Restart {
        /// Specify a shutdown timeout in seconds.
        #[arg(short = 't', long = "timeout")]
        timeout: Option<i64>,
        services: Vec<String>,
    },
    /// Removes stopped service containers.
    Rm {
        /// Don't ask to confirm removal.
        #[arg(short, long)]
        force: bool,
        /// Stop the containers, if required, before removing.
        #[arg(short, long)]
        stop: bool,
        /// Remove any anonymous volumes attached to containers.
        #[arg(short, long)]
        volumes: bool,
        services: Vec<String>,
    },
    /// Execute a command in a running container.
    Exec {
        /// Disable pseudo-TTY allocation.
        #[arg(short = 'T', long = "no-TTY")]
        no_tty: bool,
        /// Detached mode: run command in the background.
        #[arg(short, long)]
        detach: bool,
        /// Set environment variables.
        #[arg(short, long = "env")]
        env: Vec<String>,
        /// Run the command as this user.
        #[arg(short, long)]
        user: Option<String>,
        /// Path to workdir directory for this command.
        #[arg(short, long)]
        workdir: Option<String>,
        /// Index of the container if service has multiple replicas.
        #[arg(long, default_value_t = 1)]
        index: u32,
        service: String,
        #[arg(trailing_var_arg = true, allow_hyphen_values = true, required = true)]
        cmd: Vec<String>,
    },
    /// Run a one-off command on a service.
    Run {
        /// Automatically remove the container when it exits.
        #[arg(long)]
        rm: bool,
        /// Set environment variables.
        #[arg(short, long = "env")]
        env: Vec<String>,
        /// Don't start linked services.
        #[arg(long = "no-deps")]
        no_deps: bool,
        /// Disable pseudo-TTY allocation (one is never allocated here).
        #[arg(short = 'T', long = "no-TTY")]
        no_tty: bool,
        service: String,
        #[arg(trailing_var_arg = true, allow_hyphen_values = true)]
        cmd: Vec<String>,
    },
    /// Print the public port for a port binding.
    Port {
        /// tcp or udp.
        #[arg(long, default_value = "tcp")]
        protocol: String,
        /// Index of the container if service has multiple replicas.
        #[arg(long, default_value_t = 1)]
        index: u32,
        service: String,
        private_port: u16,
    },
    /// Display the running processes.
    Top { services: Vec<String> },
    /// List images used by the created containers.
    Images {
        /// Only display IDs.
        #[arg(short, long)]
        quiet: bool,
        services: Vec<String>,
    },
    /// Pull service images.
    Pull {
        /// Pull without printing progress information.
        #[arg(short, long)]
        quiet: bool,
        services: Vec<String>,
    },
    /// Push service images.
    Push {
        /// Push without printing progress information.
        #[arg(short, long)]
        quiet: bool,
        services: Vec<String>,
    },
    /// Build or rebuild services.
    Build {
        /// Don't print anything to STDOUT.
        #[arg(short, long)]
        quiet: bool,
        services: Vec<String>,
    },
}

fn err(e: impl std::fmt::Display) -> Fail {
    Fail(1, e.to_string())
}

/// An ongictl command run in this process, with this invocation's store flags.
fn ongictl(cli: &Cli, args: &[&str]) -> Result<u8, Fail> {
    let root = cli.root.display().to_string();
    let run_root = cli.run_root.display().to_string();
    let mut all = vec!["ongictl", "--root", &root, "--run-root", &run_root];
    all.extend_from_slice(args);
    let c = <Cli as clap::Parser>::try_parse_from(all).map_err(err)?;
    crate::dispatch(c)
}

/// The services a command names (their profiles are enabled, as compose does).
pub fn named(cmd: &OpsCmd) -> Vec<String> {
    match cmd {
        OpsCmd::Exec { service, .. }
        | OpsCmd::Run { service, .. }
        | OpsCmd::Port { service, .. } => vec![service.clone()],
        OpsCmd::Start { services }
        | OpsCmd::Stop { services, .. }
        | OpsCmd::Restart { services, .. }
        | OpsCmd::Rm { services, .. }
        | OpsCmd::Top { services }
        | OpsCmd::Images { services, .. }
        | OpsCmd::Pull { services, .. }
        | OpsCmd::Push { services, .. }
        | OpsCmd::Build { services, .. } => services.clone(),
    }
}

pub fn run(cli: &Cli, store: &Store, p: &Project, cmd: &OpsCmd) -> Result<u8, Fail> {
    let mut quiet_report = |_: String| {};
    match cmd {
        OpsCmd::Start { services } => {
            ops::start_cmd(store, p, services, &mut progress).map_err(err)?;
            Ok(0)
        }
        OpsCmd::Stop { timeout, services } => {
            ops::stop_cmd(store, p, services, *timeout, &mut progress).map_err(err)?;
            Ok(0)
        }
        OpsCmd::Restart { timeout, services } => {
            ops::restart_cmd(store, p, services, *timeout, &mut progress).map_err(err)?;
            Ok(0)
        }
        OpsCmd::Rm {
            force,
            stop,
            volumes,
            services,
        } => {
            let list = ops::rm_candidates(store, p, services, *stop).map_err(err)?;
            if list.is_empty() {
                eprintln!("No stopped containers");
                return Ok(0);
            }
            let names: Vec<&str> = list.iter().map(|c| c.settings.name.as_str()).collect();
            if !*force {
                // compose asks; anything but y/Y (or no answer) keeps them.
                eprint!("? Going to remove {} [y/N] ", names.join(", "));
                let _ = std::io::stderr().flush();
                let mut answer = String::new();
                let _ = std::io::stdin().lock().read_line(&mut answer);
                if !matches!(answer.trim(), "y" | "Y" | "yes") {
                    return Ok(0);
                }
            } else {
                eprintln!("Going to remove {}", names.join(", "));
            }
            ops::rm_cmd(store, &list, *volumes, &mut progress).map_err(err)?;
            Ok(0)
        }
        OpsCmd::Exec {
            no_tty,
            detach,
            env,
            user,
            workdir,
            index,
            service,
            cmd,
        } => {
            let c = ops::replica(store, p, service, *index).map_err(err)?;
            if !c.running() {
                return Err(Fail(
                    1,
                    format!("service {service:?} is not running container #{index}"),
                ));
            }
            // ongictl exec runs from a protected copy of the binary (see main), so it is a
            // child process of its own; compose allocates a TTY unless -T or no terminal.
            let mut a: Vec<String> = vec![
                "--root".into(),
                cli.root.display().to_string(),
                "--run-root".into(),
                cli.run_root.display().to_string(),
                "exec".into(),
            ];
            if *detach {
                a.push("-d".into());
            } else {
                a.push("-i".into());
                if !*no_tty && std::io::stdin().is_terminal() {
                    a.push("-t".into());
                }
            }
            for e in env {
                a.extend(["-e".into(), e.clone()]);
            }
            if let Some(u) = user {
                a.extend(["-u".into(), u.clone()]);
            }
            if let Some(w) = workdir {
                a.extend(["-w".into(), w.clone()]);
            }
            a.push(c.settings.id.clone());
            a.extend(cmd.iter().cloned());
            let exe = std::env::current_exe().map_err(|e| Fail(1, format!("ongictl: {e}")))?;
            let st = std::process::Command::new(exe)
                .args(&a)
                .status()
                .map_err(|e| Fail(1, format!("exec: {e}")))?;
            Ok(st.code().map_or(1, |c| c.clamp(0, 255) as u8))
        }
        OpsCmd::Run {
            rm,
            env,
            no_deps,
            no_tty: _,
            service,
            cmd,
        } => {
            let o = RunOptions {
                cmd: cmd.clone(),
                env: env.clone(),
                auto_remove: *rm,
                no_deps: *no_deps,
                insecure: cli.insecure.clone(),
            };
            let st = ops::run_oneoff(store, p, service, &o, &mut progress).map_err(err)?;
            let h = ongi_engine::monitor::spawn(store, &st, true).map_err(|e| {
                if st.auto_remove {
                    let _ = ongi_engine::container::remove(store, &st.id, true);
                }
                Fail(1, format!("service {service:?}: {e}"))
            })?;
            let code = h.wait_exit().map_or(1, |c| c.clamp(0, 255) as u8);
            if st.auto_remove {
                // As `docker run --rm`: return once the monitor's hand-over removed it.
                let until = std::time::Instant::now() + std::time::Duration::from_secs(30);
                while ongi_engine::container::resolve(store, &st.id).is_ok()
                    && std::time::Instant::now() < until
                {
                    std::thread::sleep(std::time::Duration::from_millis(5));
                }
            }
            Ok(code)
        }
        OpsCmd::Port {
            protocol,
            index,
            service,
            private_port,
        } => {
            let c = ops::replica(store, p, service, *index).map_err(err)?;
            let want = format!("{private_port}/{protocol}");
            match ongi_engine::network::ports(store, &c)
                .into_iter()
                .find(|(k, _)| *k == want)
            {
                Some((_, host)) => {
                    println!("{host}");
                    Ok(0)
                }
                None => Err(Fail(
                    1,
                    format!("no port {want} for container {}", c.settings.name),
                )),
            }
        }
        OpsCmd::Top { services } => {
            let list = ops::service_containers(store, p, services).map_err(err)?;
            let mut first = true;
            for c in list.iter().filter(|c| c.running()) {
                if !first {
                    println!();
                }
                first = false;
                println!("{}", c.settings.name);
                let _ = std::io::stdout().flush();
                let rc = ongictl(cli, &["top", &c.settings.id])?;
                if rc != 0 {
                    return Ok(rc);
                }
            }
            Ok(0)
        }
        OpsCmd::Images { quiet, services } => {
            let list = ops::service_containers(store, p, services).map_err(err)?;
            let mut rows = Vec::new();
            for c in &list {
                let s = &c.settings;
                let img = ongi_engine::image::resolve(store, &s.image_id).ok();
                let id = s.image_id.strip_prefix("sha256:").unwrap_or(&s.image_id);
                if *quiet {
                    println!("{id}");
                    continue;
                }
                let (repo, tag) = Reference::parse(&s.image).map_or_else(
                    |_| ("<none>".to_string(), "<none>".to_string()),
                    |r| (r.familiar_name(), r.tag.unwrap_or_else(|| "latest".into())),
                );
                rows.push(vec![
                    s.name.clone(),
                    repo,
                    tag,
                    id.chars().take(12).collect(),
                    img.map_or_else(String::new, |i| fmt::size(i.size)),
                ]);
            }
            if !*quiet {
                fmt::table(
                    &["CONTAINER", "REPOSITORY", "TAG", "IMAGE ID", "SIZE"],
                    &rows,
                );
            }
            Ok(0)
        }
        OpsCmd::Pull { quiet, services } => {
            let r: &mut dyn FnMut(String) = if *quiet {
                &mut quiet_report
            } else {
                &mut progress
            };
            ops::pull_cmd(store, p, services, &cli.insecure, r).map_err(err)?;
            Ok(0)
        }
        OpsCmd::Push { quiet, services } => {
            let r: &mut dyn FnMut(String) = if *quiet {
                &mut quiet_report
            } else {
                &mut progress
            };
            ops::push_cmd(store, p, services, &cli.insecure, r).map_err(err)?;
            Ok(0)
        }
        OpsCmd::Build { quiet, services } => {
            let r: &mut dyn FnMut(String) = if *quiet {
                &mut quiet_report
            } else {
                &mut progress
            };
            let order = ongi_engine::compose::plan::order(p, services, false).map_err(err)?;
            for name in order {
                let s = &p.services[&name];
                if s.build.is_none() {
                    continue;
                }
                ongi_engine::compose::build::build(store, p, &name, s, &cli.insecure, r)
                    .map_err(err)?;
            }
            Ok(0)
        }
    }
}

/// `up --scale SERVICE=N` values.
pub fn parse_scale(
    values: &[String],
    p: &Project,
) -> Result<std::collections::BTreeMap<String, u32>, Fail> {
    let mut m = std::collections::BTreeMap::new();
    for v in values {
        let (s, n) = v
            .split_once('=')
            .ok_or_else(|| Fail(1, format!("invalid --scale {v:?}: want SERVICE=NUM")))?;
        let n: u32 = n
            .parse()
            .map_err(|_| Fail(1, format!("invalid --scale {v:?}: {n:?} is not a number")))?;
        if !p.services.contains_key(s) {
            return Err(Fail(1, format!("no such service: {s}")));
        }
        m.insert(s.to_string(), n);
    }
    Ok(m)
}
