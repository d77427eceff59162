//! `ongictl`: docker's command line over the ongi engine. Parsing and output only; the
//! engine (`ongi-engine`) does the work.

use std::io::Write;
use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Args, Parser, Subcommand};
use ongi_engine::container::{self as ctr, ContainerError, RunFlags};
use ongi_engine::image::{self, ImageError};
use ongi_engine::reference::Reference;
use ongi_engine::registry;
use ongi_engine::store::{Store, DEFAULT_ROOT, DEFAULT_RUN_ROOT};

#[path = "ongictl/build.rs"]
mod build;
#[path = "ongictl/compose.rs"]
mod compose;
#[path = "ongictl/containers.rs"]
mod containers;
#[path = "ongictl/fmt.rs"]
mod fmt;
#[path = "ongictl/health.rs"]
mod health;
#[path = "ongictl/images.rs"]
mod images;
#[path = "ongictl/network.rs"]
mod network;
#[path = "ongictl/parallel.rs"]
mod parallel;
#[path = "ongictl/progress.rs"]
mod progress;
#[path = "ongictl/system.rs"]
mod system;
#[path = "ongictl/usage.rs"]
mod usage;

#[derive(Parser)]
#[command(
    name = "ongictl",
    about = "ongictl: docker's commands, daemonless, on the ongi runtime",
    disable_version_flag = true
)]
struct Cli {
    /// Store root (images, containers, volumes).
    #[arg(long, global = true, env = "ONGI_ROOT", default_value = DEFAULT_ROOT)]
    root: PathBuf,
    /// Run-state root (monitor locks, runtime state).
    #[arg(long = "run-root", global = true, env = "ONGI_RUN_ROOT", default_value = DEFAULT_RUN_ROOT)]
    run_root: PathBuf,
    /// A registry to reach over plain HTTP (loopback ones always are).
    #[arg(long = "insecure-registry", global = true)]
    insecure: Vec<String>,
    #[command(subcommand)]
    cmd: Cmd,
}

#[derive(Subcommand)]
enum Cmd {
    /// Download an image from a registry.
    Pull {
        /// Suppress verbose output.
        #[arg(short, long)]
        quiet: bool,
        name: String,
    },
    /// List images.
    Images(ImagesArgs),
    /// Create and start a container.
    Run(RunArgs),
    /// Create a container.
    Create(RunArgs),
    /// Start stopped containers.
    Start {
        /// Attach stdout/stderr and wait for the exit.
        #[arg(short, long)]
        attach: bool,
        /// Attach stdin too.
        #[arg(short, long)]
        interactive: bool,
        #[arg(required = true)]
        containers: Vec<String>,
    },
    /// Stop running containers.
    Stop {
        /// Seconds to wait before killing.
        #[arg(short = 't', long = "time")]
        time: Option<i64>,
        #[arg(required = true)]
        containers: Vec<String>,
    },
    /// Kill running containers.
    Kill {
        /// Signal to send.
        #[arg(short, long, default_value = "KILL")]
        signal: String,
        #[arg(required = true)]
        containers: Vec<String>,
    },
    /// Remove containers.
    Rm {
        /// Kill a running container first.
        #[arg(short, long)]
        force: bool,
        /// Remove anonymous volumes too.
        #[arg(short, long)]
        volumes: bool,
        #[arg(required = true)]
        containers: Vec<String>,
    },
    /// Remove images.
    Rmi {
        #[arg(short, long)]
        force: bool,
        #[arg(required = true)]
        images: Vec<String>,
    },
    /// Name an image.
    Tag { source: String, target: String },
    /// List containers.
    Ps(PsArgs),
    /// Show a container's logs.
    Logs {
        /// Keep following.
        #[arg(short, long)]
        follow: bool,
        /// Only the last N lines.
        #[arg(short = 'n', long)]
        tail: Option<String>,
        /// Show timestamps.
        #[arg(short, long)]
        timestamps: bool,
        /// Logs since a timestamp or a duration ago (42m).
        #[arg(long)]
        since: Option<String>,
        /// Logs before a timestamp or a duration ago.
        #[arg(long)]
        until: Option<String>,
        container: String,
    },
    /// Block until containers stop; print their exit codes.
    Wait {
        #[arg(required = true)]
        containers: Vec<String>,
    },
    /// Low-level information on containers or images (JSON).
    Inspect {
        /// Go template.
        #[arg(short, long)]
        format: Option<String>,
        #[arg(required = true)]
        names: Vec<String>,
    },
    /// Version information.
    Version,
    /// Build an image from a Dockerfile.
    Build(build::BuildArgs),
    /// Manage the build cache.
    Builder {
        #[command(subcommand)]
        cmd: build::BuilderCmd,
    },
    #[command(flatten)]
    ImageMore(images::ImageCmds),
    /// Manage volumes.
    Volume {
        #[command(subcommand)]
        cmd: system::VolumeCmd,
    },
    /// Manage networks.
    Network {
        #[command(subcommand)]
        cmd: network::NetworkCmd,
    },
    /// List a container's published ports, or the host address of one.
    Port {
        container: String,
        /// PRIVATE_PORT[/PROTO].
        private: Option<String>,
    },
    /// Manage the store: check, df, prune, boot.
    System {
        #[command(subcommand)]
        cmd: system::SystemCmd,
    },
    /// Define and run multi-container applications (docker compose v2).
    Compose(compose::ComposeArgs),
    #[command(flatten)]
    Ctr(containers::CtrCmd),
}

#[derive(Args)]
struct ImagesArgs {
    /// Only IDs.
    #[arg(short, long)]
    quiet: bool,
    /// Show all images.
    #[arg(short, long)]
    all: bool,
    /// Show digests.
    #[arg(long)]
    digests: bool,
    /// Don't truncate.
    #[arg(long = "no-trunc")]
    no_trunc: bool,
    /// Filter (dangling=, reference=, label=, before=, since=).
    #[arg(short, long)]
    filter: Vec<String>,
    /// Go template.
    #[arg(long)]
    format: Option<String>,
}

#[derive(Args)]
struct PsArgs {
    /// All containers (default: running).
    #[arg(short, long)]
    all: bool,
    /// Only IDs.
    #[arg(short, long)]
    quiet: bool,
    /// Don't truncate.
    #[arg(long = "no-trunc")]
    no_trunc: bool,
    /// The last N containers.
    #[arg(short = 'n', long = "last")]
    last: Option<usize>,
    /// The latest container.
    #[arg(short = 'l', long)]
    latest: bool,
    /// Filter (status=, name=, id=, label=, ancestor=, exited=, health=).
    #[arg(short, long)]
    filter: Vec<String>,
    /// Go template.
    #[arg(long)]
    format: Option<String>,
    /// Total file sizes.
    #[arg(short, long)]
    size: bool,
}

#[derive(Args)]
struct RunArgs {
    #[command(flatten)]
    health: health::HealthArgs,
    /// Run in the background and print the id.
    #[arg(short, long)]
    detach: bool,
    /// Keep stdin open.
    #[arg(short, long)]
    interactive: bool,
    /// Allocate a pseudo-TTY.
    #[arg(short, long)]
    tty: bool,
    /// Remove the container when it exits.
    #[arg(long)]
    rm: bool,
    #[arg(long)]
    name: Option<String>,
    #[arg(short, long = "env")]
    env: Vec<String>,
    #[arg(long = "env-file")]
    env_file: Vec<PathBuf>,
    #[arg(short, long = "workdir")]
    workdir: Option<String>,
    #[arg(short, long)]
    user: Option<String>,
    #[arg(long)]
    entrypoint: Option<String>,
    #[arg(short = 'h', long)]
    hostname: Option<String>,
    #[arg(long)]
    restart: Option<String>,
    #[arg(short, long = "label")]
    label: Vec<String>,
    #[arg(short, long = "volume")]
    volume: Vec<String>,
    /// type=bind|volume|tmpfs,source=..,target=..[,readonly]
    #[arg(long)]
    mount: Vec<String>,
    #[arg(long)]
    tmpfs: Vec<String>,
    #[arg(long = "read-only")]
    read_only: bool,
    #[arg(long, alias = "net")]
    network: Option<String>,
    #[arg(short, long)]
    publish: Vec<String>,
    #[command(flatten)]
    net: network::NetArgs,
    #[arg(short, long)]
    memory: Option<String>,
    #[arg(long)]
    cpus: Option<String>,
    #[arg(long = "pids-limit")]
    pids_limit: Option<i64>,
    #[arg(long)]
    ulimit: Vec<String>,
    #[arg(long = "cap-add")]
    cap_add: Vec<String>,
    #[arg(long = "cap-drop")]
    cap_drop: Vec<String>,
    #[arg(long)]
    privileged: bool,
    /// Run an init inside the container that forwards signals and reaps processes.
    #[arg(long)]
    init: bool,
    /// Add a host device: HOST[:CONTAINER[:PERMS]].
    #[arg(long)]
    device: Vec<String>,
    #[arg(long = "security-opt")]
    security_opt: Vec<String>,
    #[arg(long = "stop-signal")]
    stop_signal: Option<String>,
    #[arg(long = "stop-timeout")]
    stop_timeout: Option<i64>,
    #[arg(long = "log-opt")]
    log_opt: Vec<String>,
    /// Pull policy: missing (default), always, never.
    #[arg(long, default_value = "missing")]
    pull: String,
    image: String,
    #[arg(trailing_var_arg = true, allow_hyphen_values = true)]
    cmd: Vec<String>,
}

/// A failure with docker's exit status for it.
struct Fail(u8, String);

impl<E: std::fmt::Display> From<E> for Fail {
    fn from(e: E) -> Self {
        Fail(1, e.to_string())
    }
}

fn main() -> ExitCode {
    // exec clones into a container: it runs from a copy of this binary the container cannot
    // write (CVE-2019-5736), re-executed before anything else, and stays single-threaded.
    let args: Vec<std::ffi::OsString> = std::env::args_os().collect();
    if compose::may_build(&args) {
        compose::keep_monitor_path();
    }
    if containers::is_exec(&args) || build::is_build(&args) || compose::may_build(&args) {
        if let Err(e) = ongi::exe::protect() {
            eprintln!("Error response from ongictl: {e}");
            return ExitCode::from(126);
        }
    }
    let mut cli = match Cli::try_parse() {
        Ok(c) => c,
        Err(e) => return usage::fail(e),
    };
    // Insecure registries from the engine's settings file join those given by flag.
    match ongi_engine::config::load_for(&cli.root) {
        Ok(c) => cli.insecure.extend(c.insecure_registries),
        Err(e) => eprintln!("WARNING: {e}"),
    }
    match dispatch(cli) {
        Ok(code) => ExitCode::from(code),
        Err(Fail(code, msg)) => {
            eprintln!("Error response from ongictl: {msg}");
            ExitCode::from(code)
        }
    }
}

fn open(cli: &Cli) -> Result<Store, Fail> {
    Store::open(&cli.root, &cli.run_root).map_err(|e| Fail(125, e.to_string()))
}

fn dispatch(cli: Cli) -> Result<u8, Fail> {
    match &cli.cmd {
        Cmd::Version => {
            println!(
                "ongictl version {} (runtime ongi {}, OCI {})",
                env!("CARGO_PKG_VERSION"),
                env!("CARGO_PKG_VERSION"),
                ongi::OCI_VERSION
            );
            Ok(0)
        }
        Cmd::Pull { quiet, name } => {
            let store = open(&cli)?;
            pull(&store, &cli, name, *quiet)?;
            Ok(0)
        }
        Cmd::Images(a) => {
            let store = open(&cli)?;
            images(&store, a)
        }
        Cmd::Tag { source, target } => {
            let store = open(&cli)?;
            image::tag(&store, source, target)?;
            Ok(0)
        }
        Cmd::Rmi { force, images } => {
            let store = open(&cli)?;
            let mut rc = 0;
            for i in images {
                match image::remove(&store, i, *force) {
                    Ok(r) => {
                        for u in r.untagged {
                            println!("Untagged: {u}");
                        }
                        for d in r.deleted {
                            println!("Deleted: {d}");
                        }
                    }
                    Err(e) => {
                        eprintln!("Error response from ongictl: {e}");
                        rc = 1;
                    }
                }
            }
            Ok(rc)
        }
        Cmd::Run(a) | Cmd::Create(a) => {
            let run = matches!(cli.cmd, Cmd::Run(_));
            let store = open(&cli)?;
            run_cmd(&store, &cli, a, run)
        }
        Cmd::Start {
            attach,
            interactive,
            containers,
        } => {
            let attach = &(*attach || *interactive);
            let store = open(&cli)?;
            let mut rc = 0;
            for c in containers {
                let id = ctr::resolve(&store, c)?;
                let cur = ctr::load(&store, &id)?;
                if cur.running() {
                    println!("{c}");
                    continue;
                }
                if *interactive {
                    containers::check_tty_input(cur.settings.tty, cur.settings.interactive, false)?;
                }
                let spawned = {
                    let _gc = store.gc_lock(false)?;
                    ongi_engine::monitor::spawn(&store, &cur.settings, *attach)
                };
                match spawned {
                    Ok(h) if *attach => {
                        if cur.settings.tty {
                            containers::forward_winch(h.monitor_pid());
                        }
                        return Ok(h.wait_exit().map_or(125, |c| c as u8));
                    }
                    Ok(h) => {
                        h.detach();
                        println!("{c}");
                    }
                    Err(e) => {
                        eprintln!("Error response from ongictl: {e}");
                        rc = 1;
                    }
                }
            }
            Ok(rc)
        }
        Cmd::Stop { time, containers } => {
            let store = open(&cli)?;
            let mut rc = 0;
            parallel::each(
                &store,
                containers,
                || open(&cli).map_err(|f| f.1),
                |store, c| {
                    ctr::resolve(store, c)
                        .and_then(|id| ctr::load(store, &id))
                        .and_then(|cur| {
                            let t = time.or(cur.settings.stop_timeout).unwrap_or(10);
                            ongi_engine::monitor::stop(store, &cur, t)
                        })
                },
                |c, r| match r {
                    Ok(()) => println!("{c}"),
                    Err(e) => {
                        eprintln!("Error response from ongictl: {e}");
                        rc = 1;
                    }
                },
            );
            Ok(rc)
        }
        Cmd::Kill { signal, containers } => {
            let store = open(&cli)?;
            let sig = ongi_engine::monitor::parse_signal(signal)
                .ok_or_else(|| Fail(1, format!("invalid signal: {signal}")))?;
            let mut rc = 0;
            for c in containers {
                let r = ctr::resolve(&store, c)
                    .and_then(|id| ctr::load(&store, &id))
                    .and_then(|cur| {
                        if !cur.running() {
                            return Err(ContainerError::Conflict(format!(
                                "cannot kill container: {c}: container {} is not running",
                                cur.settings.id
                            )));
                        }
                        ongi::Container::new(store.runtime_root(), &cur.settings.id)
                            .kill(sig, false)
                            .map_err(|e| ContainerError::Runtime {
                                id: cur.settings.id.clone(),
                                source: Box::new(e),
                            })
                    });
                match r {
                    Ok(()) => println!("{c}"),
                    Err(e) => {
                        eprintln!("Error response from ongictl: {e}");
                        rc = 1;
                    }
                }
            }
            Ok(rc)
        }
        Cmd::Rm {
            force,
            volumes,
            containers,
        } => {
            let store = open(&cli)?;
            let mut rc = 0;
            parallel::each(
                &store,
                containers,
                || open(&cli).map_err(|f| f.1),
                |store, c| {
                    ctr::resolve(store, c)
                        .and_then(|id| remove_with_volumes(store, &id, *force, *volumes))
                },
                |c, r| match r {
                    Ok(()) => println!("{c}"),
                    Err(e) => {
                        eprintln!("Error response from ongictl: {e}");
                        rc = 1;
                    }
                },
            );
            Ok(rc)
        }
        Cmd::Ps(a) => {
            let store = open(&cli)?;
            ps(&store, a)
        }
        Cmd::Logs {
            follow,
            tail,
            timestamps,
            since,
            until,
            container,
        } => {
            let store = open(&cli)?;
            let bound = |f: &str, v: &Option<String>| {
                v.as_deref()
                    .map(|v| containers::time_bound(f, v))
                    .transpose()
            };
            let window = (bound("--since", since)?, bound("--until", until)?);
            logs(
                &store,
                container,
                *follow,
                tail.as_deref(),
                *timestamps,
                window,
            )
        }
        Cmd::Wait { containers } => {
            let store = open(&cli)?;
            let mut rc = 0;
            for c in containers {
                match ctr::resolve(&store, c) {
                    Ok(id) => loop {
                        let cur = ctr::load(&store, &id)?;
                        if !cur.monitored && !cur.running() {
                            println!("{}", cur.state.exit_code);
                            break;
                        }
                        std::thread::sleep(std::time::Duration::from_millis(20));
                    },
                    Err(e) => {
                        eprintln!("Error response from ongictl: {e}");
                        rc = 1;
                    }
                }
            }
            Ok(rc)
        }
        Cmd::ImageMore(c) => images::dispatch(&cli, c),
        Cmd::Build(a) => build::run(&cli, a),
        Cmd::Builder { cmd } => build::builder(&cli, cmd),
        Cmd::Inspect { format, names } => {
            let store = open(&cli)?;
            fmt::inspect(&store, names, format.as_deref())
        }
        Cmd::Volume { cmd } => system::volume(&open(&cli)?, cmd),
        Cmd::System { cmd } => system::system(&open(&cli)?, cmd),
        Cmd::Network { cmd } => network::dispatch(&open(&cli)?, cmd),
        Cmd::Port { container, private } => {
            network::port(&open(&cli)?, container, private.as_deref())
        }
        Cmd::Compose(a) => compose::run(&cli, a),
        Cmd::Ctr(c) => {
            let store = open(&cli)?;
            containers::dispatch(&store, c)
        }
    }
}

/// `rm [-v]`: the container, then (with -v) its anonymous volumes; one another container
/// also uses stays (docker's behaviour).
fn remove_with_volumes(
    store: &Store,
    id: &str,
    force: bool,
    volumes: bool,
) -> Result<(), ContainerError> {
    let anon: Vec<String> = if volumes {
        ctr::load(store, id)?
            .settings
            .mounts
            .iter()
            .filter(|m| m.anonymous)
            .filter_map(|m| m.volume.clone())
            .collect()
    } else {
        Vec::new()
    };
    ctr::remove(store, id, force)?;
    for v in anon {
        let _ = ongi_engine::volume::remove(store, &v);
    }
    Ok(())
}

fn pull(store: &Store, cli: &Cli, name: &str, quiet: bool) -> Result<image::Image, Fail> {
    let r = Reference::parse(name).map_err(|e| Fail(1, e.to_string()))?;
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .map_err(|e| Fail(125, e.to_string()))?;
    let p = progress::reporter(quiet, progress::Stream::Stdout);
    let gc = store.gc_lock(false)?;
    let pulled = rt.block_on(registry::pull(store, &r, &cli.insecure, p));
    drop(gc);
    // What the failed pull wrote belongs to no image: gone now, not at the next prune.
    let pulled = pulled.map_err(|e| {
        ongi_engine::prune::collect_if_idle(store);
        Fail(1, e.to_string())
    })?;
    if !quiet {
        println!("Digest: {}", pulled.digest);
        if pulled.downloaded {
            println!("Status: Downloaded newer image for {}", r.familiar());
        } else {
            println!("Status: Image is up to date for {}", r.familiar());
        }
    }
    println!("{r}");
    Ok(pulled.image)
}

fn images(store: &Store, a: &ImagesArgs) -> Result<u8, Fail> {
    let mut list = image::list(store)?;
    let _ = a.all;
    if !a.filter.is_empty() {
        let keep = containers::image_filter(store, &a.filter)?;
        list.retain(|i| {
            let names: Vec<(String, String)> = i
                .tags
                .iter()
                .filter_map(|t| Reference::parse(t).ok())
                .map(|r| (r.familiar_name(), r.tag.unwrap_or_default()))
                .collect();
            if names.is_empty() {
                keep(i, "<none>", "<none>")
            } else {
                names.iter().any(|(r, t)| keep(i, r, t))
            }
        });
    }
    if a.quiet {
        let mut seen = std::collections::BTreeSet::new();
        for i in &list {
            let id = if a.no_trunc {
                i.id.clone()
            } else {
                i.short_id().to_string()
            };
            if seen.insert(id.clone()) {
                println!("{id}");
            }
        }
        return Ok(0);
    }
    let mut rows = vec![];
    let mut json_rows = vec![];
    let mut head = vec!["REPOSITORY", "TAG"];
    if a.digests {
        head.push("DIGEST");
    }
    head.extend(["IMAGE ID", "CREATED", "SIZE"]);
    for i in &list {
        let id = if a.no_trunc {
            i.id.clone()
        } else {
            i.short_id().to_string()
        };
        let digest = i
            .digests
            .first()
            .and_then(|d| d.split_once('@').map(|x| x.1.to_string()))
            .unwrap_or_else(|| "<none>".into());
        let names: Vec<(String, String)> = if i.tags.is_empty() {
            vec![("<none>".into(), "<none>".into())]
        } else {
            i.tags
                .iter()
                .filter_map(|t| Reference::parse(t).ok())
                .map(|r| (r.familiar_name(), r.tag.unwrap_or_default()))
                .collect()
        };
        for (repo, tag) in names {
            let mut row = vec![repo, tag];
            if a.digests {
                row.push(digest.clone());
            }
            if a.format.is_some() {
                json_rows.push(serde_json::json!({
                    "ID": id, "Repository": row[0], "Tag": row[1], "Digest": digest,
                    "CreatedSince": fmt::ago(&i.created),
                    "CreatedAt": containers::go_time(&i.created),
                    "Size": fmt::size(i.size),
                }));
                continue;
            }
            row.extend([id.clone(), fmt::ago(&i.created), fmt::size(i.size)]);
            rows.push(row);
        }
    }
    if let Some(f) = &a.format {
        containers::print_format(f, containers::IMAGE_HEADS, &json_rows)?;
        return Ok(0);
    }
    fmt::table(&head, &rows);
    Ok(0)
}

fn read_env_file(p: &PathBuf) -> Result<Vec<String>, Fail> {
    let t =
        std::fs::read_to_string(p).map_err(|e| Fail(125, format!("open {}: {e}", p.display())))?;
    Ok(t.lines()
        .map(str::trim)
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
        .map(String::from)
        .collect())
}

fn run_cmd(store: &Store, cli: &Cli, a: &RunArgs, start: bool) -> Result<u8, Fail> {
    let fail125 = |e: String| Fail(125, e);
    if start {
        containers::check_tty_input(a.tty, a.interactive, a.detach)?;
    }
    // Held until the container is recorded and started: `system check` must not take its
    // freshly pulled layers or mounted rootfs for garbage meanwhile.
    let gc = store.gc_lock(false)?;
    let img = match (a.pull.as_str(), image::resolve(store, &a.image)) {
        ("always", _) | ("missing", Err(ImageError::NotFound(_))) => {
            if a.pull != "always" {
                eprintln!(
                    "Unable to find image '{}' locally",
                    Reference::parse(&a.image)
                        .map(|r| r.familiar())
                        .unwrap_or_else(|_| a.image.clone())
                );
            }
            match pull_to_stderr(store, cli, &a.image) {
                Ok(i) => i,
                Err(f) => {
                    drop(gc);
                    ongi_engine::prune::collect_if_idle(store);
                    return Err(f);
                }
            }
        }
        (_, Ok(i)) => i,
        (_, Err(e)) => return Err(fail125(e.to_string())),
    };
    let cfg = image::config(store, &img.id).map_err(|e| fail125(e.to_string()))?;
    let mut env = Vec::new();
    for f in &a.env_file {
        env.extend(read_env_file(f)?);
    }
    env.extend(a.env.iter().cloned());
    let flags = RunFlags {
        name: a.name.clone(),
        image: a.image.clone(),
        cmd: a.cmd.clone(),
        entrypoint: a.entrypoint.clone(),
        env,
        workdir: a.workdir.clone(),
        user: a.user.clone(),
        hostname: a.hostname.clone(),
        tty: a.tty,
        interactive: a.interactive,
        auto_remove: a.rm,
        restart: a.restart.clone(),
        labels: a.label.clone(),
        volumes: a.volume.clone(),
        tmpfs: a.tmpfs.clone(),
        read_only: a.read_only,
        // docker's default network, or none where the engine's settings turn it off.
        network: Some(match &a.network {
            Some(n) => n.clone(),
            None => {
                ongi_engine::network::default_mode(store).map_err(|e| fail125(e.to_string()))?
            }
        }),
        publish: a.publish.clone(),
        net: a.net.flags(),
        memory: a.memory.clone(),
        cpus: a.cpus.clone(),
        pids_limit: a.pids_limit,
        ulimits: a.ulimit.clone(),
        cap_add: a.cap_add.clone(),
        cap_drop: a.cap_drop.clone(),
        privileged: a.privileged,
        init: a.init,
        devices: a.device.clone(),
        security_opt: a.security_opt.clone(),
        stop_signal: a.stop_signal.clone(),
        stop_timeout: a.stop_timeout,
        log_opts: a.log_opt.clone(),
        mounts: a.mount.clone(),
        health: a.health.flags(),
    };
    // Anonymous volumes made for a container that is then not made go with it.
    let made_anon = std::cell::RefCell::new(Vec::new());
    let vol = |n: &str| {
        let anon = ongi_engine::volume::anonymous_name(n);
        if anon && ongi_engine::volume::get(store, n).is_err() {
            made_anon.borrow_mut().push(n.to_string());
        }
        ongi_engine::volume::ensure(store, n, anon).map_err(ContainerError::from)
    };
    let drop_anon = || {
        for n in made_anon.borrow().iter() {
            let _ = ongi_engine::volume::remove(store, n);
        }
    };
    let created = ctr::settings_for(&flags, &cfg, &vol).and_then(|st| ctr::create(store, st, &img));
    let s = match created {
        Ok(s) => s,
        Err(e) => {
            drop_anon();
            return Err(fail125(e.to_string()));
        }
    };
    if !start {
        println!("{}", s.id);
        return Ok(0);
    }
    let spawned = ongi_engine::monitor::spawn(store, &s, !a.detach);
    drop(gc);
    let h = match spawned {
        Ok(h) => h,
        Err(e) => {
            let msg = e.to_string();
            if s.auto_remove {
                let _ = remove_with_volumes(store, &s.id, true, true);
            }
            // docker: 127 when the command is not found, 126 when it cannot be invoked.
            let low = msg.to_ascii_lowercase();
            let code = if low.contains("no such file") || low.contains("not found") {
                127
            } else if low.contains("permission denied") {
                126
            } else {
                125
            };
            return Err(Fail(code, msg));
        }
    };
    if a.detach {
        h.detach();
        println!("{}", s.id);
        return Ok(0);
    }
    if a.tty {
        containers::forward_winch(h.monitor_pid());
    }
    let code = h.wait_exit().map_or(125, |c| c as u8);
    if s.auto_remove {
        // docker's `run --rm` returns once the container (and its anonymous volumes) is
        // gone: the monitor's hand-over removes it.
        let until = std::time::Instant::now() + std::time::Duration::from_secs(30);
        let anon_left = || {
            s.mounts.iter().any(|m| {
                m.anonymous
                    && m.volume
                        .as_deref()
                        .is_some_and(|v| ongi_engine::volume::get(store, v).is_ok())
            })
        };
        while (ctr::resolve(store, &s.id).is_ok() || anon_left())
            && std::time::Instant::now() < until
        {
            std::thread::sleep(std::time::Duration::from_millis(5));
        }
    }
    Ok(code)
}

/// A pull whose progress goes to stderr, as `docker run` prints it.
fn pull_to_stderr(store: &Store, cli: &Cli, name: &str) -> Result<image::Image, Fail> {
    let r = Reference::parse(name).map_err(|e| Fail(125, e.to_string()))?;
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .map_err(|e| Fail(125, e.to_string()))?;
    let pulled = rt
        .block_on(registry::pull(
            store,
            &r,
            &cli.insecure,
            progress::reporter(false, progress::Stream::Stderr),
        ))
        .map_err(|e| Fail(125, e.to_string()))?;
    drop(rt);
    eprintln!("Digest: {}", pulled.digest);
    eprintln!("Status: Downloaded newer image for {}", r.familiar());
    Ok(pulled.image)
}

fn ps(store: &Store, a: &PsArgs) -> Result<u8, Fail> {
    let mut list = ctr::list(store)?;
    let (by_health, others) = health::split_filters(&a.filter)?;
    let by_status = containers::ps_filter(store, &mut list, &others)?;
    health::filter(store, &mut list, &by_health);
    if !a.all && a.last.is_none() && !a.latest && !by_status {
        list.retain(|c| c.running() || c.state.status == "restarting");
    }
    if let Some(n) = a.last {
        list.truncate(n);
    }
    if a.latest {
        list.truncate(1);
    }
    if a.quiet {
        for c in &list {
            println!(
                "{}",
                if a.no_trunc {
                    c.settings.id.as_str()
                } else {
                    &c.settings.id[..12]
                }
            );
        }
        return Ok(0);
    }
    let mut rows = vec![];
    let mut json_rows = vec![];
    for c in &list {
        let s = &c.settings;
        let command = containers::ps_command(&s.args(), !a.no_trunc);
        let id = if a.no_trunc {
            s.id.clone()
        } else {
            s.id[..12].to_string()
        };
        if a.format.is_some() {
            // docker computes sizes for a template that shows them, -s or not.
            let size = a.size || a.format.as_deref().is_some_and(|f| f.contains(".Size"));
            json_rows.push(containers::ps_row(store, c, &command, &id, size));
            continue;
        }
        let mut row = vec![
            id,
            s.image.clone(),
            command,
            fmt::ago(&s.created),
            health::status(store, c),
            ongi_engine::network::ps_ports(store, c),
            s.name.clone(),
        ];
        if a.size {
            row.push(containers::ps_size(store, c));
        }
        rows.push(row);
    }
    if let Some(f) = &a.format {
        containers::print_format(f, containers::PS_HEADS, &json_rows)?;
        return Ok(0);
    }
    let mut head = vec![
        "CONTAINER ID",
        "IMAGE",
        "COMMAND",
        "CREATED",
        "STATUS",
        "PORTS",
        "NAMES",
    ];
    if a.size {
        head.push("SIZE");
    }
    fmt::table(&head, &rows);
    Ok(0)
}

fn logs(
    store: &Store,
    key: &str,
    follow: bool,
    tail: Option<&str>,
    ts: bool,
    (since, until): (Option<f64>, Option<f64>),
) -> Result<u8, Fail> {
    let id = ctr::resolve(store, key)?;
    let path = ongi_engine::logs::path(&store.container_dir(&id), &id);
    let in_window = |r: &ongi_engine::logs::Record| {
        let t = containers::secs_of(&r.time).unwrap_or(0.0);
        since.is_none_or(|s| t >= s) && until.is_none_or(|u| t <= u)
    };
    let mut all = ongi_engine::logs::read_all(&path)
        .map_err(|e| Fail(1, format!("{}: {e}", path.display())))?;
    // Following goes on from the end of the file, whatever the window kept.
    let read = all.len();
    all.retain(|r| in_window(r));
    let skip = match tail {
        None | Some("all") => 0,
        Some(n) => all.len().saturating_sub(
            n.parse::<usize>()
                .map_err(|_| Fail(1, format!("invalid --tail {n:?}")))?,
        ),
    };
    let out = std::io::stdout();
    let err = std::io::stderr();
    let emit = |r: &ongi_engine::logs::Record| {
        let line = if ts {
            format!("{} {}", r.time, r.log)
        } else {
            r.log.clone()
        };
        if r.stream == "stderr" {
            let _ = err.lock().write_all(line.as_bytes());
        } else {
            let _ = out.lock().write_all(line.as_bytes());
        }
    };
    for r in &all[skip..] {
        emit(r);
    }
    if follow {
        let mut seen = read;
        loop {
            let running = ctr::monitor_alive(store, &id);
            let now = ongi_engine::logs::read_all(&path).unwrap_or_default();
            if now.len() < seen {
                seen = 0; // rotated
            }
            for r in now[seen..].iter().filter(|r| in_window(r)) {
                emit(r);
            }
            seen = now.len();
            if !running {
                break;
            }
            std::thread::sleep(std::time::Duration::from_millis(100));
        }
    }
    Ok(0)
}
