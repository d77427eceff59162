//! Container commands beyond run/ps/logs/stop/rm: exec, top, stats, pause/unpause,
//! update, restart, rename, cp, diff, container prune, and ps's --filter/--format.

use std::io::{BufRead, Write};
use std::path::Path;

use clap::Subcommand;
use ongi_engine::container::{self as ctr, Container};
use ongi_engine::files;
use ongi_engine::manage;
use ongi_engine::store::Store;

use crate::{fmt, Fail};

#[derive(Subcommand)]
pub enum CtrCmd {
    /// Run a command in a running container.
    Exec {
        /// Run in the background.
        #[arg(short, long)]
        detach: bool,
        /// Keep stdin open.
        #[arg(short, long)]
        interactive: bool,
        /// Allocate a pseudo-TTY.
        #[arg(short, long)]
        tty: bool,
        /// Environment variables.
        #[arg(short, long = "env")]
        env: Vec<String>,
        /// Files of environment variables.
        #[arg(long = "env-file")]
        env_file: Vec<std::path::PathBuf>,
        /// Username or UID (format: <name|uid>[:<group|gid>]).
        #[arg(short, long)]
        user: Option<String>,
        /// Working directory inside the container.
        #[arg(short, long)]
        workdir: Option<String>,
        container: String,
        #[arg(required = true, trailing_var_arg = true, allow_hyphen_values = true)]
        cmd: Vec<String>,
    },
    /// Display the running processes of a container.
    Top {
        container: String,
        /// ps options (default -ef).
        #[arg(trailing_var_arg = true, allow_hyphen_values = true)]
        ps_args: Vec<String>,
    },
    /// Display containers' resource usage.
    Stats {
        /// All containers (default: running).
        #[arg(short, long)]
        all: bool,
        /// One sample, then exit.
        #[arg(long = "no-stream")]
        no_stream: bool,
        containers: Vec<String>,
    },
    /// Pause all processes within containers.
    Pause {
        #[arg(required = true)]
        containers: Vec<String>,
    },
    /// Unpause all processes within containers.
    Unpause {
        #[arg(required = true)]
        containers: Vec<String>,
    },
    /// Update the resource limits of containers.
    Update {
        /// Memory limit.
        #[arg(short, long)]
        memory: Option<String>,
        /// Number of CPUs.
        #[arg(long)]
        cpus: Option<String>,
        /// Tune the pids limit (-1 for unlimited).
        #[arg(long = "pids-limit", allow_hyphen_values = true)]
        pids_limit: Option<i64>,
        #[arg(required = true)]
        containers: Vec<String>,
    },
    /// Restart containers.
    Restart {
        /// Seconds to wait before killing.
        #[arg(short = 't', long = "time")]
        time: Option<i64>,
        #[arg(required = true)]
        containers: Vec<String>,
    },
    /// Rename a container.
    Rename { container: String, new_name: String },
    /// Copy files between a container and the host.
    Cp { src: String, dst: String },
    /// Changes to files in a container's filesystem.
    Diff { container: String },
    /// Attach to a running container's output (and, with -t, its terminal).
    Attach {
        /// Do not attach stdin.
        #[arg(long = "no-stdin")]
        no_stdin: bool,
        container: String,
    },
    /// Manage containers.
    Container {
        #[command(subcommand)]
        cmd: ContainerGroup,
    },
}

#[derive(Subcommand)]
pub enum ContainerGroup {
    /// Remove all stopped containers.
    Prune {
        /// Do not prompt for confirmation.
        #[arg(short, long)]
        force: bool,
    },
}

/// Whether the command line runs `exec` (found without clap, as the `ongi` binary does: the
/// protected re-execution has to come before anything else).
pub fn is_exec(args: &[std::ffi::OsString]) -> bool {
    let mut it = args.iter().skip(1);
    while let Some(a) = it.next() {
        let Some(a) = a.to_str() else { return false };
        match a {
            "--root" | "--run-root" | "--insecure-registry" => {
                it.next();
            }
            _ if a.starts_with('-') => {}
            _ => return a == "exec",
        }
    }
    false
}

fn load(store: &Store, key: &str) -> Result<Container, Fail> {
    let id = ctr::resolve(store, key)?;
    Ok(ctr::load(store, &id)?)
}

/// Runs `f` on each named container: docker prints the name on success, the error on
/// failure, and exits 1 if any failed.
fn each(
    store: &Store,
    names: &[String],
    mut f: impl FnMut(&Container) -> Result<(), Fail>,
) -> Result<u8, Fail> {
    let mut rc = 0;
    for n in names {
        match load(store, n).and_then(|c| f(&c)) {
            Ok(()) => println!("{n}"),
            Err(Fail(_, msg)) => {
                eprintln!("Error response from ongictl: {msg}");
                rc = 1;
            }
        }
    }
    Ok(rc)
}

pub fn dispatch(store: &Store, cmd: &CtrCmd) -> Result<u8, Fail> {
    match cmd {
        CtrCmd::Exec {
            detach,
            interactive,
            tty,
            env,
            env_file,
            user,
            workdir,
            container,
            cmd,
        } => {
            let mut all = Vec::new();
            for f in env_file {
                let t = std::fs::read_to_string(f)
                    .map_err(|e| Fail(1, format!("open {}: {e}", f.display())))?;
                all.extend(
                    t.lines()
                        .map(str::trim)
                        .filter(|l| !l.is_empty() && !l.starts_with('#'))
                        .map(String::from),
                );
            }
            all.extend(env.iter().cloned());
            exec(
                store,
                container,
                cmd,
                ExecFlags {
                    detach: *detach,
                    interactive: *interactive,
                    tty: *tty,
                    env: &all,
                    user: user.as_deref(),
                    workdir: workdir.as_deref(),
                },
            )
        }
        CtrCmd::Top { container, ps_args } => top(store, container, ps_args),
        CtrCmd::Stats {
            all,
            no_stream,
            containers,
        } => stats(store, *all, *no_stream, containers),
        CtrCmd::Pause { containers } => each(store, containers, |c| Ok(manage::pause(store, c)?)),
        CtrCmd::Unpause { containers } => {
            each(store, containers, |c| Ok(manage::unpause(store, c)?))
        }
        CtrCmd::Update {
            memory,
            cpus,
            pids_limit,
            containers,
        } => {
            let bad = |flag: &str, v: &str, why: &str| {
                Fail(
                    125,
                    format!("invalid argument {v:?} for \"{flag}\" flag: {why}"),
                )
            };
            let u = manage::Update {
                memory: match memory {
                    Some(m) => Some(
                        ctr::parse_bytes(m)
                            .filter(|b| *b >= 6 << 20)
                            .ok_or_else(|| bad("--memory", m, "must be a size of at least 6MB"))?,
                    ),
                    None => None,
                },
                nano_cpus: match cpus {
                    Some(c) => Some(
                        c.parse::<f64>()
                            .ok()
                            .filter(|v| *v > 0.0)
                            .map(|v| (v * 1e9) as u64)
                            .ok_or_else(|| bad("--cpus", c, "must be a positive number"))?,
                    ),
                    None => None,
                },
                pids_limit: *pids_limit,
            };
            if u.memory.is_none() && u.nano_cpus.is_none() && u.pids_limit.is_none() {
                return Err(Fail(
                    1,
                    "you must provide one or more flags when using this command".into(),
                ));
            }
            each(store, containers, |c| Ok(manage::update(store, c, &u)?))
        }
        CtrCmd::Restart { time, containers } => each(store, containers, |c| {
            if c.running() || c.monitored {
                let t = time.or(c.settings.stop_timeout).unwrap_or(10);
                ongi_engine::monitor::stop(store, c, t)?;
            }
            let c = ctr::load(store, &c.settings.id)?;
            ongi_engine::monitor::spawn(store, &c.settings, false)?.detach();
            Ok(())
        }),
        CtrCmd::Rename {
            container,
            new_name,
        } => {
            let c = load(store, container)?;
            manage::rename(store, &c, new_name)?;
            Ok(0)
        }
        CtrCmd::Cp { src, dst } => cp(store, src, dst),
        CtrCmd::Diff { container } => {
            let c = load(store, container)?;
            for ch in files::diff(store, &c)? {
                println!("{} {}", ch.kind, ch.path);
            }
            Ok(0)
        }
        CtrCmd::Attach {
            no_stdin,
            container,
        } => attach(store, container, *no_stdin),
        CtrCmd::Container {
            cmd: ContainerGroup::Prune { force },
        } => {
            if !force {
                print!("WARNING! This will remove all stopped containers.\nAre you sure you want to continue? [y/N] ");
                let _ = std::io::stdout().flush();
                let mut line = String::new();
                let _ = std::io::stdin().lock().read_line(&mut line);
                if !matches!(line.trim(), "y" | "Y" | "yes") {
                    return Ok(0);
                }
            }
            let (ids, freed) = manage::prune(store)?;
            if !ids.is_empty() {
                println!("Deleted Containers:");
                for id in &ids {
                    println!("{id}");
                }
                println!();
            }
            println!("Total reclaimed space: {}", fmt::size(freed));
            Ok(0)
        }
    }
}

struct ExecFlags<'a> {
    detach: bool,
    interactive: bool,
    tty: bool,
    env: &'a [String],
    user: Option<&'a str>,
    workdir: Option<&'a str>,
}

/// `exec`: runs in this (single-threaded, protected) process through the runtime library.
fn exec(store: &Store, key: &str, cmd: &[String], f: ExecFlags) -> Result<u8, Fail> {
    let c = load(store, key)?;
    let id = &c.settings.id;
    match c.state.status.as_str() {
        "running" => {}
        "paused" => {
            return Err(Fail(
                1,
                format!("container {id} is paused, unpause the container before exec"),
            ))
        }
        _ => return Err(Fail(1, format!("container {id} is not running"))),
    }
    let rootfs = store.container_dir(id).join("rootfs");
    let user = match f.user {
        Some(u) => {
            let (uid, gid, _) = ongi_engine::runspec::resolve_user(&rootfs, u)
                .map_err(|e| Fail(126, e.to_string()))?;
            Some((uid, Some(gid)))
        }
        None => None,
    };
    let mut env = Vec::new();
    for e in f.env {
        if e.contains('=') {
            env.push(e.clone());
        } else if let Ok(v) = std::env::var(e) {
            env.push(format!("{e}={v}"));
        }
    }
    if let Some(w) = f.workdir {
        if !w.starts_with('/') {
            return Err(Fail(
                126,
                format!("the working directory '{w}' is invalid, it needs to be an absolute path"),
            ));
        }
    }
    if !f.interactive || f.detach {
        // docker gives a process without -i an empty stdin.
        if let Ok(n) = std::fs::File::open("/dev/null") {
            use std::os::fd::AsRawFd;
            // SAFETY: dup2 of an fd we hold onto 0; nothing else uses our stdin.
            unsafe { libc::dup2(n.as_raw_fd(), 0) };
        }
    }
    if f.detach {
        // Nobody reads a detached process's output: docker discards it too.
        if let Ok(n) = std::fs::OpenOptions::new().write(true).open("/dev/null") {
            use std::os::fd::AsRawFd;
            // SAFETY: as above, for stdout and stderr of the child-to-be only; ours are
            // saved and put back below.
            let saved = unsafe { (libc::dup(1), libc::dup(2)) };
            // SAFETY: dup2 onto 1 and 2 with an fd we hold.
            unsafe {
                libc::dup2(n.as_raw_fd(), 1);
                libc::dup2(n.as_raw_fd(), 2);
            }
            let r = run_exec(store, &c, cmd, env, user, f);
            // SAFETY: putting back the fds saved above.
            unsafe {
                libc::dup2(saved.0, 1);
                libc::dup2(saved.1, 2);
                libc::close(saved.0);
                libc::close(saved.1);
            }
            return r;
        }
    }
    run_exec(store, &c, cmd, env, user, f)
}

fn run_exec(
    store: &Store,
    c: &Container,
    cmd: &[String],
    env: Vec<String>,
    user: Option<(u32, Option<u32>)>,
    f: ExecFlags,
) -> Result<u8, Fail> {
    let opts = ongi::ExecOptions {
        args: cmd.to_vec(),
        env,
        cwd: f.workdir.map(Into::into),
        user,
        tty: f.tty,
        detach: f.detach,
        ..Default::default()
    };
    let rt = ongi::Container::new(store.runtime_root(), &c.settings.id);
    match rt.exec(&opts) {
        Ok(ongi::ExecOutcome::Exited(code)) => Ok(code.clamp(0, 255) as u8),
        Ok(ongi::ExecOutcome::Detached(_)) => Ok(0),
        Err(e) => {
            let msg = e.to_string();
            let low = msg.to_ascii_lowercase();
            // docker: 127 when the command is not found, 126 for any other failure to run it.
            let code = if low.contains("no such file") || low.contains("not found") {
                127
            } else {
                126
            };
            Err(Fail(code, format!("OCI runtime exec failed: {msg}")))
        }
    }
}

fn top(store: &Store, key: &str, ps_args: &[String]) -> Result<u8, Fail> {
    let c = load(store, key)?;
    let pids = manage::processes(store, &c)?;
    let args: Vec<String> = if ps_args.is_empty() {
        vec!["-ef".into()]
    } else {
        ps_args.to_vec()
    };
    let out = std::process::Command::new("ps")
        .args(&args)
        .output()
        .map_err(|e| Fail(1, format!("ps: {e}")))?;
    if !out.status.success() {
        return Err(Fail(
            1,
            format!("ps: {}", String::from_utf8_lossy(&out.stderr).trim_end()),
        ));
    }
    let text = String::from_utf8_lossy(&out.stdout);
    let mut lines = text.lines();
    let head = lines.next().unwrap_or_default();
    let Some(col) = head.split_whitespace().position(|h| h == "PID") else {
        return Err(Fail(
            1,
            format!("Couldn't find PID field in ps output: {head}"),
        ));
    };
    let ncols = head.split_whitespace().count();
    let heads: Vec<&str> = head.split_whitespace().collect();
    let mut rows = vec![];
    for l in lines {
        let f: Vec<&str> = l.split_whitespace().collect();
        let Some(pid) = f.get(col).and_then(|p| p.parse::<i32>().ok()) else {
            continue;
        };
        if !pids.contains(&pid) {
            continue;
        }
        // The last column (the command) keeps its spaces.
        let mut row: Vec<String> = f.iter().take(ncols - 1).map(|s| s.to_string()).collect();
        row.push(f.get(ncols - 1..).map(|r| r.join(" ")).unwrap_or_default());
        rows.push(row);
    }
    fmt::table(&heads, &rows);
    Ok(0)
}

/// go-units BytesSize: binary units, 2 decimals at most ("1.5MiB").
fn bytes_size(b: u64) -> String {
    let units = ["B", "KiB", "MiB", "GiB", "TiB"];
    let mut v = b as f64;
    let mut i = 0;
    while v >= 1024.0 && i + 1 < units.len() {
        v /= 1024.0;
        i += 1;
    }
    let s = format!("{v:.3}");
    let s = s.trim_end_matches('0').trim_end_matches('.');
    let s = match s.split_once('.') {
        Some((a, d)) if d.len() > 2 => format!("{a}.{}", &d[..2]),
        _ => s.to_string(),
    };
    format!("{s}{}", units[i])
}

fn stats(store: &Store, all: bool, no_stream: bool, names: &[String]) -> Result<u8, Fail> {
    let pick = || -> Result<Vec<Container>, Fail> {
        if names.is_empty() {
            let mut l = ctr::list(store)?;
            if !all {
                l.retain(|c| c.running());
            }
            Ok(l)
        } else {
            names.iter().map(|n| load(store, n)).collect()
        }
    };
    let clock = std::time::Instant::now();
    let head = [
        "CONTAINER ID",
        "NAME",
        "CPU %",
        "MEM USAGE / LIMIT",
        "MEM %",
        "NET I/O",
        "BLOCK I/O",
        "PIDS",
    ];
    let mut prev: std::collections::HashMap<String, manage::Sample> = Default::default();
    for c in pick()? {
        if let Ok(s) = manage::sample(store, &c, clock) {
            prev.insert(c.settings.id.clone(), s);
        }
    }
    loop {
        std::thread::sleep(std::time::Duration::from_millis(500));
        let list = pick()?;
        let mut rows = vec![];
        for c in &list {
            let id = &c.settings.id;
            let row = match manage::sample(store, c, clock) {
                Ok(s) => {
                    let cpu = match prev.get(id) {
                        Some(p) if s.at_ns > p.at_ns => {
                            s.cpu_ns.saturating_sub(p.cpu_ns) as f64 / (s.at_ns - p.at_ns) as f64
                                * 100.0
                        }
                        _ => 0.0,
                    };
                    let mem_pct = if s.mem_limit > 0 {
                        s.mem as f64 / s.mem_limit as f64 * 100.0
                    } else {
                        0.0
                    };
                    let r = vec![
                        id[..12].to_string(),
                        c.settings.name.clone(),
                        format!("{cpu:.2}%"),
                        format!("{} / {}", bytes_size(s.mem), bytes_size(s.mem_limit)),
                        format!("{mem_pct:.2}%"),
                        // --network none or host: no interface of the container's own.
                        "0B / 0B".into(),
                        format!("{} / {}", fmt::size(s.block.0), fmt::size(s.block.1)),
                        s.pids.to_string(),
                    ];
                    prev.insert(id.clone(), s);
                    r
                }
                Err(_) => vec![
                    id[..12].to_string(),
                    c.settings.name.clone(),
                    "0.00%".into(),
                    "0B / 0B".into(),
                    "0.00%".into(),
                    "0B / 0B".into(),
                    "0B / 0B".into(),
                    "0".into(),
                ],
            };
            rows.push(row);
        }
        if !no_stream {
            print!("\x1b[2J\x1b[H");
        }
        fmt::table(&head, &rows);
        let _ = std::io::stdout().flush();
        if no_stream {
            return Ok(0);
        }
    }
}

/// `CONTAINER:PATH` or a host path (docker: a colon before any slash names a container).
fn split_cp(arg: &str) -> Option<(&str, &str)> {
    if arg.starts_with('/') || arg.starts_with('.') {
        return None;
    }
    let (c, p) = arg.split_once(':')?;
    (!c.contains('/')).then_some((c, p))
}

fn cp(store: &Store, src: &str, dst: &str) -> Result<u8, Fail> {
    match (split_cp(src), split_cp(dst)) {
        // `-`: a tar stream on stdout or from stdin, as docker's cp.
        (Some((name, path)), None) if dst == "-" => {
            let c = load(store, name)?;
            let out = std::io::stdout();
            files::copy_out_tar(store, &c, name, path, std::io::BufWriter::new(out.lock()))?;
            Ok(0)
        }
        (None, Some((name, path))) if src == "-" => {
            let c = load(store, name)?;
            files::copy_in_tar(store, &c, name, std::io::stdin().lock(), path)?;
            Ok(0)
        }
        (Some((name, path)), None) => {
            let c = load(store, name)?;
            files::copy_out(store, &c, name, path, Path::new(dst))?;
            Ok(0)
        }
        (None, Some((name, path))) => {
            let c = load(store, name)?;
            files::copy_in(store, &c, name, Path::new(src), path)?;
            Ok(0)
        }
        (Some(_), Some(_)) => Err(Fail(
            1,
            "copying between containers is not supported".into(),
        )),
        (None, None) => Err(Fail(1, "must specify at least one container source".into())),
    }
}

/// `--filter KEY=VALUE` arguments, by key.
fn parse_filters(filters: &[String], known: &[&str]) -> Result<Vec<(String, String)>, Fail> {
    let mut out = vec![];
    for f in filters {
        let (k, v) = f.split_once('=').ok_or_else(|| {
            Fail(
                1,
                format!("bad format of filter (expected name=value): {f}"),
            )
        })?;
        let k = k.trim().to_ascii_lowercase();
        if !known.contains(&k.as_str()) {
            return Err(Fail(1, format!("invalid filter '{k}'")));
        }
        out.push((k, v.to_string()));
    }
    Ok(out)
}

/// docker's filter semantics: values of one key are alternatives (OR), keys combine (AND).
fn matches_all(f: &[(String, String)], mut one: impl FnMut(&str, &str) -> bool) -> bool {
    let mut keys: Vec<&str> = f.iter().map(|(k, _)| k.as_str()).collect();
    keys.dedup();
    keys.iter()
        .all(|k| f.iter().filter(|(x, _)| x == k).any(|(_, v)| one(k, v)))
}

fn label_match(labels: &std::collections::BTreeMap<String, String>, v: &str) -> bool {
    match v.split_once('=') {
        Some((k, want)) => labels.get(k).is_some_and(|x| x == want),
        None => labels.contains_key(v),
    }
}

/// `ps --filter`: keeps the matching containers; true when a `status` filter asks for
/// stopped containers to be considered too (docker then lists them without -a).
pub fn ps_filter(
    store: &Store,
    list: &mut Vec<Container>,
    filters: &[String],
) -> Result<bool, Fail> {
    let f = parse_filters(
        filters,
        &[
            "status", "name", "id", "label", "ancestor", "exited", "before", "since", "volume",
        ],
    )?;
    for (k, v) in &f {
        if k == "status"
            && !matches!(
                v.as_str(),
                "created" | "restarting" | "running" | "removing" | "paused" | "exited" | "dead"
            )
        {
            return Err(Fail(1, format!("invalid filter 'status={v}'")));
        }
        if k == "exited" && v.parse::<i32>().is_err() {
            return Err(Fail(1, format!("invalid filter 'exited={v}'")));
        }
    }
    let mut ancestors = std::collections::HashMap::new();
    for (k, v) in &f {
        if k == "ancestor" {
            let id = ongi_engine::image::resolve(store, v).map(|i| i.id).ok();
            ancestors.insert(v.clone(), id);
        }
    }
    // before=/since= name a container (name or id prefix): those created earlier / later.
    let mut created_of = std::collections::HashMap::new();
    for (k, v) in &f {
        if k == "before" || k == "since" {
            let id = ctr::resolve(store, v)?;
            created_of.insert(v.clone(), ctr::load(store, &id)?.settings.created);
        }
    }
    list.retain(|c| {
        let s = &c.settings;
        matches_all(&f, |k, v| match k {
            "before" => created_of.get(v).is_some_and(|t| s.created < *t),
            "since" => created_of.get(v).is_some_and(|t| s.created > *t),
            // A volume's name or a mount's destination in the container, as docker's.
            "volume" => s.mounts.iter().any(|m| {
                m.volume.as_deref() == Some(v)
                    || m.destination.trim_end_matches('/') == v.trim_end_matches('/')
            }),
            "status" => c.state.status == v,
            "name" => s.name.contains(v.trim_start_matches('/')),
            "id" => s.id.starts_with(v),
            "label" => label_match(&s.labels, v),
            "exited" => c.state.status == "exited" && v.parse() == Ok(c.state.exit_code),
            "ancestor" => {
                s.image == v
                    || ancestors
                        .get(v)
                        .is_some_and(|i| i.as_deref() == Some(s.image_id.as_str()))
                    || s.image_id
                        .trim_start_matches("sha256:")
                        .starts_with(v.trim_start_matches("sha256:"))
            }
            _ => false,
        })
    });
    Ok(f.iter().any(|(k, _)| k == "status"))
}

/// docker's table writer (minwidth 10, padding 3) over tab-separated lines.
fn tab_table(lines: &[String]) {
    let rows: Vec<Vec<&str>> = lines.iter().map(|l| l.split('\t').collect()).collect();
    let mut w: Vec<usize> = vec![];
    for r in &rows {
        for (i, c) in r.iter().enumerate().take(r.len().saturating_sub(1)) {
            if w.len() <= i {
                w.push(0);
            }
            w[i] = w[i].max((c.chars().count() + 3).max(10));
        }
    }
    for r in rows {
        let mut s = String::new();
        for (i, c) in r.iter().enumerate() {
            s.push_str(c);
            if i + 1 < r.len() {
                s.push_str(&" ".repeat(w[i] - c.chars().count()));
            }
        }
        println!("{}", s.trim_end());
    }
}

/// Prints `rows` through a docker `--format` template; `table ...` gets a header line from
/// `heads` (field name -> column title) and aligned columns.
pub fn print_format(
    format: &str,
    heads: &[(&str, &str)],
    rows: &[serde_json::Value],
) -> Result<(), Fail> {
    let (table, tmpl) = match format.strip_prefix("table") {
        Some(rest) => (true, rest.trim_start().to_string()),
        None => (false, format.to_string()),
    };
    // docker's templates take \t and \n as escapes on the command line.
    let tmpl = tmpl.replace("\\t", "\t").replace("\\n", "\n");
    let render = |v: &serde_json::Value| {
        ongi_engine::inspect::render(&tmpl, v)
            .map_err(|e| Fail(1, format!("template parsing error: {e}")))
    };
    let mut lines = vec![];
    if table {
        let mut h = serde_json::Map::new();
        for (k, t) in heads {
            h.insert((*k).into(), serde_json::Value::String((*t).into()));
        }
        lines.push(render(&serde_json::Value::Object(h))?);
    }
    for r in rows {
        lines.push(render(r)?);
    }
    if table {
        tab_table(&lines);
    } else {
        for l in lines {
            println!("{l}");
        }
    }
    Ok(())
}

/// The column titles of `ps --format table`.
pub const PS_HEADS: &[(&str, &str)] = &[
    ("ID", "CONTAINER ID"),
    ("Image", "IMAGE"),
    ("Command", "COMMAND"),
    ("CreatedAt", "CREATED AT"),
    ("RunningFor", "CREATED"),
    ("Ports", "PORTS"),
    ("State", "STATE"),
    ("Status", "STATUS"),
    ("Size", "SIZE"),
    ("Names", "NAMES"),
    ("Labels", "LABELS"),
    ("Mounts", "MOUNTS"),
    ("Networks", "NETWORKS"),
];

/// Go's time.Time String form, as docker's CreatedAt prints it.
pub fn go_time(rfc3339: &str) -> String {
    let t = rfc3339.get(..19).unwrap_or(rfc3339).replace('T', " ");
    format!("{t} +0000 UTC")
}

/// `ps -s`'s SIZE: the writable layer, and with the image's layers as virtual.
pub fn ps_size(store: &Store, c: &Container) -> String {
    let rw = manage::rw_size(store, &c.settings.id);
    let img = ongi_engine::image::get(store, &c.settings.image_id)
        .ok()
        .flatten()
        .map_or(0, |i| i.size);
    format!("{} (virtual {})", fmt::size(rw), fmt::size(rw + img))
}

/// `ps`'s COMMAND as docker shows it: the arguments joined by spaces, one containing a
/// space in single quotes, cut to 20 characters with an ellipsis unless `--no-trunc`, then
/// quoted as Go's strconv.Quote does (`"sh -c 'sleep 100'"`).
pub fn ps_command(args: &[String], trunc: bool) -> String {
    let mut cmd = args
        .iter()
        .map(|a| {
            if a.contains(' ') {
                format!("'{a}'")
            } else {
                a.clone()
            }
        })
        .collect::<Vec<_>>()
        .join(" ");
    if trunc && cmd.chars().count() > 20 {
        cmd = cmd.chars().take(19).collect::<String>() + "…";
    }
    go_quote(&cmd)
}

/// Go's strconv.Quote: a double-quoted string with `"`, `\\` and control characters
/// escaped, printable characters (ellipsis included) as they are.
pub fn go_quote(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    out.push('"');
    for ch in s.chars() {
        match ch {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\t' => out.push_str("\\t"),
            '\r' => out.push_str("\\r"),
            '\x07' => out.push_str("\\a"),
            '\x08' => out.push_str("\\b"),
            '\x0c' => out.push_str("\\f"),
            '\x0b' => out.push_str("\\v"),
            c if (c as u32) < 0x20 || c as u32 == 0x7f => {
                out.push_str(&format!("\\x{:02x}", c as u32))
            }
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

/// One container as `ps --format` sees it.
pub fn ps_row(
    store: &Store,
    c: &Container,
    command: &str,
    id: &str,
    size: bool,
) -> serde_json::Value {
    let s = &c.settings;
    let labels: Vec<String> = s.labels.iter().map(|(k, v)| format!("{k}={v}")).collect();
    let mounts: Vec<String> = s
        .mounts
        .iter()
        .map(|m| {
            m.volume
                .clone()
                .unwrap_or_else(|| m.source.display().to_string())
        })
        .collect();
    serde_json::json!({
        "ID": id,
        "Image": s.image,
        "Command": command,
        "CreatedAt": go_time(&s.created),
        "RunningFor": fmt::ago(&s.created),
        "Ports": ongi_engine::network::ps_ports(store, c),
        "State": c.state.status,
        "Status": crate::health::status(store, c),
        "Size": if size { ps_size(store, c) } else { String::new() },
        "Names": s.name,
        "Labels": labels.join(","),
        "Mounts": mounts.join(","),
        "Networks": s.network,
    })
}

/// A shell-style glob (`*`, `?`) over the whole string, as docker's reference filter.
fn glob(pat: &str, s: &str) -> bool {
    let (p, t): (Vec<char>, Vec<char>) = (pat.chars().collect(), s.chars().collect());
    let (mut pi, mut ti, mut star, mut mark) = (0, 0, None, 0);
    while ti < t.len() {
        if pi < p.len() && (p[pi] == '?' || p[pi] == t[ti]) {
            pi += 1;
            ti += 1;
        } else if pi < p.len() && p[pi] == '*' {
            star = Some(pi);
            mark = ti;
            pi += 1;
        } else if let Some(sp) = star {
            pi = sp + 1;
            mark += 1;
            ti = mark;
        } else {
            return false;
        }
    }
    p[pi..].iter().all(|c| *c == '*')
}

/// `images --filter` over one image row (repository, tag): dangling=, reference=,
/// label=, before=, since=.
pub fn image_filter(
    store: &Store,
    filters: &[String],
) -> Result<impl Fn(&ongi_engine::image::Image, &str, &str) -> bool, Fail> {
    let f = parse_filters(
        filters,
        &["dangling", "reference", "label", "before", "since"],
    )?;
    let mut created = std::collections::HashMap::new();
    for (k, v) in &f {
        if k == "before" || k == "since" {
            let i = ongi_engine::image::resolve(store, v).map_err(|e| Fail(1, e.to_string()))?;
            created.insert(v.clone(), fmt::parse_time(&i.created).unwrap_or(0));
        }
        if k == "dangling" && !matches!(v.as_str(), "true" | "false" | "1" | "0") {
            return Err(Fail(1, format!("invalid filter 'dangling={v}'")));
        }
    }
    let labels: std::collections::HashMap<String, std::collections::BTreeMap<String, String>> =
        if f.iter().any(|(k, _)| k == "label") {
            ongi_engine::image::list(store)
                .map_err(|e| Fail(1, e.to_string()))?
                .into_iter()
                .map(|i| {
                    let l = ongi_engine::image::config(store, &i.id)
                        .ok()
                        .and_then(|c| c.config.labels)
                        .unwrap_or_default();
                    (i.id, l)
                })
                .collect()
        } else {
            Default::default()
        };
    Ok(
        move |i: &ongi_engine::image::Image, repo: &str, tag: &str| {
            let t = fmt::parse_time(&i.created).unwrap_or(0);
            matches_all(&f, |k, v| match k {
                "dangling" => i.tags.is_empty() == matches!(v, "true" | "1"),
                "reference" => {
                    repo != "<none>" && (glob(v, repo) || glob(v, &format!("{repo}:{tag}")))
                }
                "label" => labels.get(&i.id).is_some_and(|l| label_match(l, v)),
                "before" => created.get(v).is_some_and(|c| t < *c),
                "since" => created.get(v).is_some_and(|c| t > *c),
                _ => false,
            })
        },
    )
}

/// The column titles of `images --format table`.
pub const IMAGE_HEADS: &[(&str, &str)] = &[
    ("ID", "IMAGE ID"),
    ("Repository", "REPOSITORY"),
    ("Tag", "TAG"),
    ("Digest", "DIGEST"),
    ("CreatedSince", "CREATED"),
    ("CreatedAt", "CREATED AT"),
    ("Size", "SIZE"),
];

static MONITOR_PID: std::sync::atomic::AtomicI32 = std::sync::atomic::AtomicI32::new(0);

extern "C" fn forward_winch_to_monitor(_: libc::c_int) {
    let pid = MONITOR_PID.load(std::sync::atomic::Ordering::Relaxed);
    if pid > 0 {
        // SAFETY: kill is async-signal-safe and takes no pointers.
        unsafe { libc::kill(pid, libc::SIGWINCH) };
    }
}

/// A foreground `run -t`: the monitor runs in its own session, so the terminal's
/// SIGWINCH reaches only us; pass it on (the monitor reads the new size from the
/// terminal it shares with us).
pub fn forward_winch(monitor: u32) {
    MONITOR_PID.store(monitor as i32, std::sync::atomic::Ordering::Relaxed);
    // SAFETY: the handler only reads an atomic and calls kill (async-signal-safe); glibc's
    // signal() installs it with SA_RESTART, so our blocking reads carry on.
    unsafe {
        libc::signal(
            libc::SIGWINCH,
            forward_winch_to_monitor as extern "C" fn(libc::c_int) as libc::sighandler_t,
        );
    }
}

/// docker refuses `-it` when stdin is not a terminal.
pub fn check_tty_input(tty: bool, interactive: bool, detach: bool) -> Result<(), Fail> {
    use std::io::IsTerminal;
    if tty && interactive && !detach && !std::io::stdin().is_terminal() {
        return Err(Fail(1, "the input device is not a TTY".into()));
    }
    Ok(())
}

/// Seconds since the epoch, with the fraction, of an RFC 3339 time.
pub fn secs_of(t: &str) -> Option<f64> {
    let whole = fmt::parse_time(t)? as f64;
    let frac = t
        .get(19..)
        .and_then(|r| r.strip_prefix('.'))
        .map(|r| {
            r.chars()
                .take_while(|c| c.is_ascii_digit())
                .collect::<String>()
        })
        .and_then(|d| format!("0.{d}").parse::<f64>().ok())
        .unwrap_or(0.0);
    Some(whole + frac)
}

/// `logs --since/--until`: an RFC 3339 time, a Unix timestamp, or a duration before now
/// (`42s`, `10m`, `1h30m`), as docker takes them.
pub fn time_bound(flag: &str, v: &str) -> Result<f64, Fail> {
    let bad = || {
        Fail(
            1,
            format!("invalid value for \"{flag}\": {v:?} is not a timestamp or duration"),
        )
    };
    if let Some(t) = secs_of(v) {
        return Ok(t);
    }
    if let Ok(t) = v.parse::<f64>() {
        return Ok(t);
    }
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs_f64())
        .unwrap_or(0.0);
    let mut total = 0.0;
    let mut num = String::new();
    let mut rest = v;
    while !rest.is_empty() {
        let c = rest.chars().next().ok_or_else(bad)?;
        if c.is_ascii_digit() || c == '.' {
            num.push(c);
            rest = &rest[1..];
            continue;
        }
        let (unit, mult) = if rest.starts_with("ms") {
            ("ms", 0.001)
        } else if rest.starts_with('h') {
            ("h", 3600.0)
        } else if rest.starts_with('m') {
            ("m", 60.0)
        } else if rest.starts_with('s') {
            ("s", 1.0)
        } else {
            return Err(bad());
        };
        total += num.parse::<f64>().map_err(|_| bad())? * mult;
        num.clear();
        rest = &rest[unit.len()..];
    }
    if !num.is_empty() {
        return Err(bad());
    }
    Ok(now - total)
}

fn attach(store: &Store, key: &str, no_stdin: bool) -> Result<u8, Fail> {
    let c = load(store, key)?;
    if !c.running() {
        return Err(Fail(
            1,
            "You cannot attach to a stopped container, start it first".into(),
        ));
    }
    if c.state.status == "paused" {
        return Err(Fail(
            1,
            "You cannot attach to a paused container, unpause it first".into(),
        ));
    }
    let id = &c.settings.id;
    let ended = ongi_engine::attach::client(
        &store.container_run_dir(id),
        c.settings.tty,
        c.settings.interactive && !no_stdin,
    )
    .map_err(|e| Fail(1, format!("attach to container {id}: {e}")))?;
    if ended == ongi_engine::attach::Ended::Detached {
        eprintln!("read escape sequence");
        return Ok(0);
    }
    // docker attach exits with the container's code once the monitor has recorded it.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    loop {
        let cur = ctr::load(store, id)?;
        if !cur.running() || std::time::Instant::now() > deadline {
            return Ok(cur.state.exit_code.clamp(0, 255) as u8);
        }
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
}
