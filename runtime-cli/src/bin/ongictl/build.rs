//! `ongictl build`: flags to [`ongi_engine::build::Options`], the engine's step lines to
//! stdout, docker's closing lines (`Successfully built`, `Successfully tagged`), `-q`'s
//! image id, `--iidfile`. Parsing and output only.

use std::path::PathBuf;

use clap::{Args, Subcommand};
use ongi_engine::build::{self, BuildError, Options};
use ongi_engine::image;
use ongi_engine::reference::Reference;

use crate::{open, Cli, Fail};

#[path = "buildview.rs"]
mod buildview;

/// `build` flags.
#[derive(Args)]
pub struct BuildArgs {
    /// Name and optionally a tag (name:tag); may be repeated.
    #[arg(short = 't', long = "tag")]
    tags: Vec<String>,
    /// Name of the Dockerfile (default: CONTEXT/Dockerfile).
    #[arg(short = 'f', long = "file")]
    file: Option<PathBuf>,
    /// Build-time variables, K=V (or K, taken from the environment).
    #[arg(long = "build-arg")]
    build_args: Vec<String>,
    /// The build stage to build.
    #[arg(long)]
    target: Option<String>,
    /// Do not use the cache.
    #[arg(long = "no-cache")]
    no_cache: bool,
    /// Print only the image id.
    #[arg(short, long)]
    quiet: bool,
    /// Write the image id to this file.
    #[arg(long)]
    iidfile: Option<PathBuf>,
    /// Networking for RUN: none (default), host, bridge or a network's name.
    #[arg(long, default_value = "none")]
    network: String,
    /// Set metadata for an image (K=V); may be repeated.
    #[arg(long = "label")]
    labels: Vec<String>,
    /// Always attempt to pull a newer version of the image.
    #[arg(long)]
    pull: bool,
    /// Type of progress output: auto, plain, tty (auto: tty on a terminal, else plain).
    #[arg(long, default_value = "auto")]
    progress: String,
    /// The context directory, or `-`: a tar (or a Dockerfile alone) on stdin.
    context: PathBuf,
}

/// Is this command line a `build` (which runs containers from this process, so the binary
/// must protect itself first, as for exec)?
pub fn is_build(args: &[std::ffi::OsString]) -> bool {
    let mut it = args.iter().skip(1);
    while let Some(a) = it.next() {
        let Some(a) = a.to_str() else { return false };
        match a {
            "--root" | "--run-root" | "--insecure-registry" => {
                it.next();
            }
            _ if a.starts_with('-') => {}
            _ => return a == "build",
        }
    }
    false
}

/// Runs `build`.
pub fn run(cli: &Cli, a: &BuildArgs) -> Result<u8, Fail> {
    match a.progress.as_str() {
        "auto" | "plain" | "tty" | "quiet" => {}
        "rawjson" => {
            return Err(Fail(
                1,
                "--progress rawjson is not supported by ongictl build (auto, plain, tty)".into(),
            ))
        }
        // BuildKit's message for it.
        other => return Err(Fail(1, format!("invalid progress mode {other}"))),
    }
    if !matches!(a.network.as_str(), "none" | "host" | "default") {
        // bridge or a network's name: it must exist now, not at the first RUN.
        let store = crate::open(cli)?;
        let n = ongi_engine::network::model::get(&store, &a.network)
            .map_err(|e| Fail(1, e.to_string()))?;
        if n.driver != "bridge" {
            return Err(Fail(
                1,
                format!(
                    "network mode {:?} not supported by ongictl build",
                    a.network
                ),
            ));
        }
    }
    for t in &a.tags {
        Reference::parse(t).map_err(|e| {
            Fail(
                1,
                format!("invalid argument {t:?} for \"-t, --tag\" flag: {e}"),
            )
        })?;
    }
    let store = open(cli)?;
    if a.context.to_str() == Some("-") {
        if a.file.as_ref().and_then(|f| f.to_str()) == Some("-") {
            return Err(Fail(
                1,
                "invalid argument: can't use stdin for both build context and dockerfile".into(),
            ));
        }
        let ctx = build::stdin::unpack(&store, std::io::stdin().lock())
            .map_err(|e| Fail(1, format!("unable to prepare context: {e}")))?;
        // docker: `-f` names a file inside the tar; a Dockerfile alone has no context.
        let dockerfile = match (&a.file, ctx.was_tar) {
            (Some(f), true) => ctx
                .dir
                .join(ongi_engine::build::context::clean(&f.to_string_lossy()).unwrap_or_default()),
            _ => ctx.dir.join("Dockerfile"),
        };
        if !dockerfile.is_file() {
            return Err(Fail(
                1,
                format!(
                    "Cannot locate specified Dockerfile: {}",
                    a.file
                        .as_ref()
                        .map_or("Dockerfile".into(), |f| f.display().to_string())
                ),
            ));
        }
        return build_in(cli, a, &store, ctx.dir.clone(), dockerfile);
    }
    let md = std::fs::metadata(&a.context).map_err(|e| {
        Fail(
            1,
            format!(
                "unable to prepare context: path {:?} not found: {e}",
                a.context.display().to_string()
            ),
        )
    })?;
    if !md.is_dir() {
        return Err(Fail(
            1,
            format!(
                "unable to prepare context: context must be a directory: {}",
                a.context.display()
            ),
        ));
    }
    if a.file.as_ref().and_then(|f| f.to_str()) == Some("-") {
        // `-f -`: the Dockerfile on stdin, the context the directory (docker's rule); kept
        // in a store temp directory removed when the build ends.
        let df = build::stdin::unpack(&store, std::io::stdin().lock())
            .map_err(|e| Fail(1, format!("unable to read the Dockerfile from stdin: {e}")))?;
        if df.was_tar {
            return Err(Fail(
                1,
                "unable to read the Dockerfile from stdin: got a tar (give the context as `-` instead)"
                    .into(),
            ));
        }
        return build_in(cli, a, &store, a.context.clone(), df.dir.join("Dockerfile"));
    }
    let dockerfile = match &a.file {
        Some(f) if f.is_absolute() || f.exists() => f.clone(),
        Some(f) => a.context.join(f),
        None => a.context.join("Dockerfile"),
    };
    build_in(cli, a, &store, a.context.clone(), dockerfile)
}

/// Builds from the context directory `context` (given, or unpacked from stdin).
fn build_in(
    cli: &Cli,
    a: &BuildArgs,
    store: &ongi_engine::store::Store,
    context: PathBuf,
    dockerfile: PathBuf,
) -> Result<u8, Fail> {
    let labels = a
        .labels
        .iter()
        .map(|l| match l.split_once('=') {
            Some((k, v)) => (k.to_string(), v.to_string()),
            None => (l.clone(), String::new()),
        })
        .collect();
    let epoch = std::env::var("SOURCE_DATE_EPOCH")
        .ok()
        .and_then(|v| v.trim().parse().ok());
    let opts = Options {
        context,
        dockerfile,
        tags: a.tags.clone(),
        build_args: a
            .build_args
            .iter()
            .map(|b| match b.split_once('=') {
                Some((k, v)) => (k.to_string(), Some(v.to_string())),
                None => (b.clone(), None),
            })
            .collect(),
        target: a.target.clone(),
        no_cache: a.no_cache,
        quiet: a.quiet,
        network: if a.network == "default" {
            "none".into()
        } else {
            a.network.clone()
        },
        epoch,
        labels,
        pull: a.pull,
    };
    let quiet = a.quiet || a.progress == "quiet";
    use std::io::IsTerminal;
    let tty = !quiet
        && (a.progress == "tty" || (a.progress == "auto" && std::io::stdout().is_terminal()));
    let multi = indicatif::MultiProgress::with_draw_target(indicatif::ProgressDrawTarget::stdout());
    let mut live = tty.then(|| buildview::Live::new(multi.clone()));
    let mut plain = |s: &str| {
        if !quiet {
            println!("{s}");
        }
    };
    let out: &mut dyn build::executor::Output = match &mut live {
        Some(l) => l,
        None => &mut plain,
    };
    let mut pull = |name: &str| -> Result<image::Image, String> {
        let r = if quiet {
            crate::pull_to_stderr(store, cli, name)
        } else if tty {
            // The pull's own bars, while the steps' are put away.
            multi.suspend(|| crate::pull(store, cli, name, false))
        } else {
            crate::pull(store, cli, name, false)
        };
        r.map_err(|Fail(_, m)| m)
    };
    let built = build::build(store, &opts, out, &mut pull);
    if let Some(l) = live {
        l.finish();
    }
    let img = match built {
        Ok(i) => i,
        // docker's classic builder exits with the failing RUN's code.
        Err(e @ BuildError::RunFailed { code, .. }) => {
            if let BuildError::RunFailed { output, .. } = &e {
                eprint!("{output}");
            }
            return Err(Fail(
                u8::try_from(code).ok().filter(|c| *c != 0).unwrap_or(1),
                e.to_string(),
            ));
        }
        Err(e) => return Err(Fail(1, e.to_string())),
    };
    if let Some(f) = &a.iidfile {
        std::fs::write(f, &img.id)
            .map_err(|e| Fail(1, format!("write iidfile {}: {e}", f.display())))?;
    }
    if quiet {
        println!("{}", img.id);
        return Ok(0);
    }
    println!("Successfully built {}", image::short_id(&img.id));
    for t in &a.tags {
        if let Ok(r) = Reference::parse(t) {
            println!("Successfully tagged {}", r.familiar());
        }
    }
    Ok(0)
}

/// `builder` subcommands.
#[derive(Subcommand)]
pub enum BuilderCmd {
    /// Remove the build cache.
    Prune {
        /// Do not prompt for confirmation.
        #[arg(short, long)]
        force: bool,
        /// Remove all of it (the only kind of prune there is: the cache has no dangling part).
        #[arg(short, long)]
        all: bool,
    },
}

/// Runs `builder prune`.
pub fn builder(cli: &Cli, c: &BuilderCmd) -> Result<u8, Fail> {
    let BuilderCmd::Prune { force, all: _ } = c;
    if !force {
        use std::io::{BufRead, IsTerminal, Write};
        if !std::io::stdin().is_terminal() {
            return Err(Fail(
                1,
                "builder prune needs -f without a terminal to confirm on".into(),
            ));
        }
        print!("WARNING! This will remove all dangling build cache. Are you sure you want to continue? [y/N] ");
        let _ = std::io::stdout().flush();
        let mut l = String::new();
        let _ = std::io::stdin().lock().read_line(&mut l);
        if !l.trim().eq_ignore_ascii_case("y") {
            return Ok(0);
        }
    }
    let store = open(cli)?;
    let (_n, bytes) =
        ongi_engine::build::cache::prune(&store).map_err(|e| Fail(1, e.to_string()))?;
    println!("Total reclaimed space: {}", crate::fmt::size(bytes));
    Ok(0)
}
