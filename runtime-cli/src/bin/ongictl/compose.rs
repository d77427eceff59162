//! `compose ...`: docker compose v2's flags and output over the engine's `compose` module
//! (loading, up and down happen there).

use std::io::Write;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};

use clap::{Args, Subcommand};
use ongi_engine::compose::lifecycle::{self, DownOptions, UpOptions, CONFIG_FILES, SERVICE};
use ongi_engine::compose::load::{self, Options};
use ongi_engine::compose::model::Project;
use ongi_engine::compose::ComposeError;
use ongi_engine::container::Container;
use ongi_engine::store::Store;

use crate::{containers, fmt, health, Fail};

#[path = "compose_ops.rs"]
mod compose_ops;

/// The project flags compose takes before its command.
#[derive(Args)]
pub struct ComposeArgs {
    /// Compose configuration files (merged in order).
    #[arg(short = 'f', long = "file")]
    file: Vec<PathBuf>,
    /// Project name.
    #[arg(short = 'p', long = "project-name")]
    project_name: Option<String>,
    /// Alternate working directory (default: the first file's directory).
    #[arg(long = "project-directory")]
    project_dir: Option<PathBuf>,
    /// Alternate environment files (instead of .env).
    #[arg(long = "env-file")]
    env_file: Vec<PathBuf>,
    /// Profiles to enable.
    #[arg(long)]
    profile: Vec<String>,
    #[command(subcommand)]
    cmd: ComposeCmd,
}

#[derive(Subcommand)]
enum ComposeCmd {
    /// Parse, resolve and render the compose file in canonical format.
    Config {
        /// yaml or json.
        #[arg(long, default_value = "yaml")]
        format: String,
        /// Only validate the configuration, print nothing.
        #[arg(short, long)]
        quiet: bool,
        /// Print the service names, one per line.
        #[arg(long)]
        services: bool,
        /// Print the volume names, one per line.
        #[arg(long)]
        volumes: bool,
    },
    /// Create and start containers.
    Up {
        /// Run containers in the background.
        #[arg(short, long)]
        detach: bool,
        /// Don't start linked services.
        #[arg(long = "no-deps")]
        no_deps: bool,
        /// Recreate containers even if their configuration and image haven't changed.
        #[arg(long = "force-recreate")]
        force_recreate: bool,
        /// Remove containers for services not defined in the Compose file.
        #[arg(long = "remove-orphans")]
        remove_orphans: bool,
        /// Build images before starting containers.
        #[arg(long)]
        build: bool,
        /// Scale SERVICE to NUM instances (overrides deploy.replicas).
        #[arg(long, value_name = "SERVICE=NUM")]
        scale: Vec<String>,
        /// Wait for services to be running|healthy. Implies detached mode.
        #[arg(long)]
        wait: bool,
        /// Maximum duration in seconds to wait for the project to be running|healthy.
        #[arg(long = "wait-timeout")]
        wait_timeout: Option<u64>,
        services: Vec<String>,
    },
    /// Stop and remove containers, networks.
    Down {
        /// Remove named volumes declared in the volumes section and anonymous volumes.
        #[arg(short, long)]
        volumes: bool,
        /// Remove containers for services not defined in the Compose file.
        #[arg(long = "remove-orphans")]
        remove_orphans: bool,
    },
    /// List containers.
    Ps {
        /// Show all stopped containers.
        #[arg(short, long)]
        all: bool,
        /// Only display IDs.
        #[arg(short, long)]
        quiet: bool,
        /// Display services.
        #[arg(long)]
        services: bool,
        #[arg(value_name = "SERVICE")]
        names: Vec<String>,
    },
    /// View output from containers.
    Logs {
        /// Follow log output.
        #[arg(short, long)]
        follow: bool,
        /// Number of lines to show from the end of the logs for each container.
        #[arg(short = 'n', long, default_value = "all")]
        tail: String,
        /// Show timestamps.
        #[arg(short, long)]
        timestamps: bool,
        /// Don't print prefix in logs.
        #[arg(long = "no-log-prefix")]
        no_log_prefix: bool,
        services: Vec<String>,
    },
    /// List running compose projects.
    Ls {
        /// Show all stopped Compose projects.
        #[arg(short, long)]
        all: bool,
        /// Only display project names.
        #[arg(short, long)]
        quiet: bool,
    },
    #[command(flatten)]
    Ops(compose_ops::OpsCmd),
}

fn options(a: &ComposeArgs) -> Result<Options, Fail> {
    Ok(Options {
        files: a.file.clone(),
        project_name: a.project_name.clone(),
        project_dir: a.project_dir.clone(),
        env_files: a.env_file.clone(),
        profiles: a.profile.clone(),
        cwd: std::env::current_dir().map_err(|e| Fail(1, format!("current directory: {e}")))?,
    })
}

fn project(a: &ComposeArgs, wanted: &[String]) -> Result<Project, Fail> {
    let l = load::load(&options(a)?, wanted).map_err(|e| Fail(1, e.to_string()))?;
    for w in l.warnings {
        eprintln!("WARN[0000] {w}");
    }
    Ok(l.project)
}

/// Whether these arguments are a compose command that may build an image (`build`, `up`,
/// `run`): RUN steps need the binary protected first (CVE-2019-5736), as for `build`.
pub fn may_build(args: &[std::ffi::OsString]) -> bool {
    let mut it = args.iter().skip(1).filter_map(|a| a.to_str());
    let mut in_compose = false;
    while let Some(a) = it.next() {
        match a {
            "--root"
            | "--run-root"
            | "--insecure-registry"
            | "-f"
            | "--file"
            | "-p"
            | "--project-name"
            | "--project-directory"
            | "--env-file"
            | "--profile" => {
                it.next();
            }
            _ if a.starts_with('-') => {}
            "compose" if !in_compose => in_compose = true,
            _ => return in_compose && matches!(a, "build" | "up" | "run"),
        }
    }
    false
}

/// Before the protected re-exec: compose's `up`/`run` start monitors, found beside this
/// binary, and `run --rm` hands over to this binary, neither of which the protected copy
/// (a memfd) can name; their paths are fixed now, while the process is single-threaded.
pub fn keep_monitor_path() {
    if std::env::var_os("ONGI_MONITOR").is_none() {
        let m = ongi_engine::monitor::monitor_binary();
        if m.is_absolute() {
            std::env::set_var("ONGI_MONITOR", m);
        }
    }
    if std::env::var_os("ONGI_DNS").is_none() {
        let d = ongi_engine::network::dns::binary();
        if d.is_absolute() {
            std::env::set_var("ONGI_DNS", d);
        }
    }
    if std::env::var_os("ONGI_CTL").is_none() {
        if let Ok(me) = std::env::current_exe() {
            std::env::set_var("ONGI_CTL", me);
        }
    }
}

pub(super) fn progress(line: String) {
    let _ = writeln!(std::io::stderr(), "{line}");
}

/// `ongictl compose ...`. Errors are printed as compose prints them (no prefix).
pub fn run(cli: &crate::Cli, a: &ComposeArgs) -> Result<u8, Fail> {
    match dispatch(cli, a) {
        Ok(c) => Ok(c),
        Err(Fail(code, msg)) => {
            eprintln!("{msg}");
            Ok(code)
        }
    }
}

fn dispatch(cli: &crate::Cli, a: &ComposeArgs) -> Result<u8, Fail> {
    match &a.cmd {
        ComposeCmd::Config {
            format,
            quiet,
            services,
            volumes,
        } => {
            let p = project(a, &[])?;
            if *quiet {
                return Ok(0);
            }
            if *services {
                for s in p.services.keys() {
                    println!("{s}");
                }
                return Ok(0);
            }
            if *volumes {
                for v in p.volumes.keys() {
                    println!("{v}");
                }
                return Ok(0);
            }
            let text = ongi_engine::compose::model::render(&p, format)
                .map_err(|e| Fail(1, e.to_string()))?;
            println!("{}", text.trim_end());
            Ok(0)
        }
        ComposeCmd::Up {
            detach,
            no_deps,
            force_recreate,
            remove_orphans,
            build,
            scale,
            wait,
            wait_timeout,
            services,
        } => {
            let p = project(a, services)?;
            let store = crate::open(cli)?;
            let o = UpOptions {
                no_deps: *no_deps,
                force_recreate: *force_recreate,
                remove_orphans: *remove_orphans,
                insecure: cli.insecure.clone(),
                scale: compose_ops::parse_scale(scale, &p)?,
                build: *build,
            };
            lifecycle::up(&store, &p, services, &o, &mut progress)
                .map_err(|e| Fail(1, e.to_string()))?;
            if *wait {
                let limit = std::time::Duration::from_secs(wait_timeout.unwrap_or(3600));
                ongi_engine::compose::ops::wait_ready(&store, &p, services, limit, &mut progress)
                    .map_err(|e| Fail(1, e.to_string()))?;
                return Ok(0);
            }
            if *detach {
                return Ok(0);
            }
            foreground(&store, &p, services)
        }
        ComposeCmd::Down {
            volumes,
            remove_orphans,
        } => {
            // `down -p NAME` needs no file: everything labelled with the project goes.
            let (p, orphans) = match (load::load(&options(a)?, &[]), &a.project_name) {
                (Err(ComposeError::NotFound), Some(name)) => (
                    Project {
                        name: name.clone(),
                        ..Default::default()
                    },
                    true,
                ),
                (r, _) => {
                    let l = r.map_err(|e| Fail(1, e.to_string()))?;
                    for w in l.warnings {
                        eprintln!("WARN[0000] {w}");
                    }
                    (l.project, *remove_orphans)
                }
            };
            let store = crate::open(cli)?;
            let o = DownOptions {
                volumes: *volumes,
                remove_orphans: orphans,
            };
            lifecycle::down(&store, &p, &o, &mut progress).map_err(|e| Fail(1, e.to_string()))?;
            Ok(0)
        }
        ComposeCmd::Ps {
            all,
            quiet,
            services,
            names,
        } => {
            let p = project(a, names)?;
            let store = crate::open(cli)?;
            for n in names {
                if !p.services.contains_key(n) {
                    return Err(Fail(1, format!("no such service: {n}")));
                }
            }
            if *services {
                for s in p
                    .services
                    .keys()
                    .filter(|s| names.is_empty() || names.contains(s))
                {
                    println!("{s}");
                }
                return Ok(0);
            }
            let list = of_services(&store, &p, names)?;
            let list: Vec<&Container> = list
                .iter()
                .filter(|c| *all || c.running() || c.state.status == "restarting")
                .collect();
            if *quiet {
                for c in list {
                    println!("{}", c.settings.id);
                }
                return Ok(0);
            }
            let rows: Vec<Vec<String>> = list
                .iter()
                .map(|c| {
                    let s = &c.settings;
                    vec![
                        s.name.clone(),
                        s.image.clone(),
                        containers::ps_command(&s.args(), true),
                        s.labels.get(SERVICE).cloned().unwrap_or_default(),
                        fmt::ago(&s.created),
                        health::status(&store, c),
                        ongi_engine::network::ps_ports(&store, c),
                    ]
                })
                .collect();
            fmt::table(
                &[
                    "NAME", "IMAGE", "COMMAND", "SERVICE", "CREATED", "STATUS", "PORTS",
                ],
                &rows,
            );
            Ok(0)
        }
        ComposeCmd::Logs {
            follow,
            tail,
            timestamps,
            no_log_prefix,
            services,
        } => {
            let p = project(a, services)?;
            let store = crate::open(cli)?;
            for n in services {
                if !p.services.contains_key(n) {
                    return Err(Fail(1, format!("no such service: {n}")));
                }
            }
            let tail = match tail.as_str() {
                "all" => None,
                n => Some(
                    n.parse::<usize>()
                        .map_err(|_| Fail(1, format!("invalid --tail {n:?}")))?,
                ),
            };
            let list = of_services(&store, &p, services)?;
            logs(&store, &list, tail, *timestamps, !*no_log_prefix, *follow);
            Ok(0)
        }
        ComposeCmd::Ops(cmd) => {
            let p = project(a, &compose_ops::named(cmd))?;
            let store = crate::open(cli)?;
            compose_ops::run(cli, &store, &p, cmd)
        }
        ComposeCmd::Ls { all, quiet } => {
            let store = crate::open(cli)?;
            let projects = lifecycle::projects(&store).map_err(|e| Fail(1, e.to_string()))?;
            let mut rows = Vec::new();
            for (name, list) in &projects {
                let mut counts: std::collections::BTreeMap<String, usize> = Default::default();
                for c in list {
                    *counts.entry(c.state.status.clone()).or_default() += 1;
                }
                if !*all && !counts.contains_key("running") {
                    continue;
                }
                if *quiet {
                    println!("{name}");
                    continue;
                }
                let status: Vec<String> = counts.iter().map(|(s, n)| format!("{s}({n})")).collect();
                let files = list
                    .first()
                    .and_then(|c| c.settings.labels.get(CONFIG_FILES))
                    .cloned()
                    .unwrap_or_default();
                rows.push(vec![name.clone(), status.join(", "), files]);
            }
            if !*quiet {
                fmt::table(&["NAME", "STATUS", "CONFIG FILES"], &rows);
            }
            Ok(0)
        }
    }
}

/// The project's containers of `names` (all services when empty); one-off `run`
/// containers are left out, as compose's ps and logs leave them out.
fn of_services(store: &Store, p: &Project, names: &[String]) -> Result<Vec<Container>, Fail> {
    let list = lifecycle::containers(store, &p.name).map_err(|e| Fail(1, e.to_string()))?;
    Ok(list
        .into_iter()
        .filter(|c| c.settings.labels.get(lifecycle::ONEOFF).map(String::as_str) != Some("True"))
        .filter(|c| {
            names.is_empty()
                || c.settings
                    .labels
                    .get(SERVICE)
                    .is_some_and(|s| names.contains(s))
        })
        .collect())
}

/// Logs of several containers, each line prefixed with its container's name padded to the
/// widest (compose's `name  | line`), merged in time order.
fn logs(
    store: &Store,
    list: &[Container],
    tail: Option<usize>,
    ts: bool,
    prefix: bool,
    follow: bool,
) {
    let width = list
        .iter()
        .map(|c| c.settings.name.len())
        .max()
        .unwrap_or(0);
    let path = |c: &Container| {
        ongi_engine::logs::path(&store.container_dir(&c.settings.id), &c.settings.id)
    };
    let line = |c: &Container, r: &ongi_engine::logs::Record| {
        let mut s = String::new();
        if prefix {
            s.push_str(&format!("{:<width$} | ", c.settings.name));
        }
        if ts {
            s.push_str(&r.time);
            s.push(' ');
        }
        s.push_str(&r.log);
        if !s.ends_with('\n') {
            s.push('\n');
        }
        s
    };
    let mut all: Vec<(String, String)> = Vec::new();
    let mut seen: Vec<usize> = Vec::new();
    for c in list {
        let recs = ongi_engine::logs::read_all(&path(c)).unwrap_or_default();
        seen.push(recs.len());
        let skip = tail.map_or(0, |n| recs.len().saturating_sub(n));
        all.extend(recs[skip..].iter().map(|r| (r.time.clone(), line(c, r))));
    }
    all.sort_by(|a, b| a.0.cmp(&b.0));
    let out = std::io::stdout();
    let mut o = out.lock();
    for (_, l) in &all {
        let _ = o.write_all(l.as_bytes());
    }
    let _ = o.flush();
    drop(o);
    if !follow {
        return;
    }
    loop {
        let mut any_alive = false;
        for (i, c) in list.iter().enumerate() {
            let alive = ongi_engine::container::monitor_alive(store, &c.settings.id);
            any_alive |= alive;
            let recs = ongi_engine::logs::read_all(&path(c)).unwrap_or_default();
            if recs.len() < seen[i] {
                seen[i] = 0; // rotated
            }
            let mut o = std::io::stdout().lock();
            for r in &recs[seen[i]..] {
                let _ = o.write_all(line(c, r).as_bytes());
            }
            let _ = o.flush();
            seen[i] = recs.len();
        }
        if !any_alive || INTERRUPTED.load(Ordering::Relaxed) {
            return;
        }
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
}

static INTERRUPTED: AtomicBool = AtomicBool::new(false);

extern "C" fn on_interrupt(_: libc::c_int) {
    INTERRUPTED.store(true, Ordering::Relaxed);
}

/// `up` without -d: the logs, followed until every container exits; Ctrl-C stops the
/// project's containers (compose's "Gracefully stopping...").
fn foreground(store: &Store, p: &Project, services: &[String]) -> Result<u8, Fail> {
    // SAFETY: the handler only stores to an atomic (async-signal-safe).
    unsafe {
        libc::signal(
            libc::SIGINT,
            on_interrupt as extern "C" fn(libc::c_int) as libc::sighandler_t,
        );
    }
    let names: Vec<String> =
        ongi_engine::compose::plan::order(p, services, true).map_err(|e| Fail(1, e.to_string()))?;
    let list = of_services(store, p, &names)?;
    let attached: Vec<&str> = list.iter().map(|c| c.settings.name.as_str()).collect();
    println!("Attaching to {}", attached.join(", "));
    logs(store, &list, None, false, true, true);
    if !INTERRUPTED.load(Ordering::Relaxed) {
        for c in &list {
            if let Ok(now) = ongi_engine::container::load(store, &c.settings.id) {
                println!(
                    "{} exited with code {}",
                    c.settings.name, now.state.exit_code
                );
            }
        }
    }
    if INTERRUPTED.load(Ordering::Relaxed) {
        eprintln!("Gracefully stopping... (press Ctrl+C again to force)");
        for c in lifecycle::containers(store, &p.name).map_err(|e| Fail(1, e.to_string()))? {
            if c.running() {
                let t = c.settings.stop_timeout.unwrap_or(10);
                ongi_engine::monitor::stop(store, &c, t).map_err(|e| Fail(1, e.to_string()))?;
                eprintln!(" Container {}  Stopped", c.settings.name);
            }
        }
        return Ok(130);
    }
    Ok(0)
}
