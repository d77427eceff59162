//! Image commands beyond pull: push, login/logout, save/load, import/export/commit,
//! history, `image inspect`, `image prune`. Parsing and output only.

use std::io::{IsTerminal, Read, Write};

use clap::{Args, Subcommand};
use ongi_engine::reference::Reference;
use ongi_engine::store::Store;
use ongi_engine::{archive, auth, commit, history, image, inspect, prune, push};

use crate::{fmt, open, Cli, Fail};

/// The commands this module adds to `ongictl`'s top level.
#[derive(Subcommand)]
pub enum ImageCmds {
    /// Upload an image to a registry.
    Push(PushArgs),
    /// Log in to a registry.
    Login(LoginArgs),
    /// Log out from a registry.
    Logout {
        /// The registry (default: Docker Hub).
        server: Option<String>,
    },
    /// Save images to a tar archive (stdout by default).
    Save(SaveArgs),
    /// Load images from a tar archive or stdin.
    Load(LoadArgs),
    /// Import a rootfs tarball as an image.
    Import(ImportArgs),
    /// Export a container's filesystem as a tar archive.
    Export(ExportArgs),
    /// Create a new image from a container's changes.
    Commit(CommitArgs),
    /// Show the history of an image.
    History(HistoryArgs),
    /// Manage images.
    Image {
        #[command(subcommand)]
        cmd: ImageSub,
    },
}

/// `ongictl image ...`.
#[derive(Subcommand)]
pub enum ImageSub {
    /// Display detailed information on images.
    Inspect {
        /// Go template.
        #[arg(short, long)]
        format: Option<String>,
        #[arg(required = true)]
        images: Vec<String>,
    },
    /// Remove unused images.
    Prune {
        /// Remove all images no container uses, not just dangling ones.
        #[arg(short, long)]
        all: bool,
        /// Do not prompt for confirmation.
        #[arg(short, long)]
        force: bool,
    },
    /// Show the history of an image.
    History(HistoryArgs),
    /// Upload an image to a registry.
    Push(PushArgs),
    /// Save images to a tar archive.
    Save(SaveArgs),
    /// Load images from a tar archive.
    Load(LoadArgs),
    /// Import a rootfs tarball as an image.
    Import(ImportArgs),
}

#[derive(Args)]
pub struct PushArgs {
    /// Push all tags of the repository.
    #[arg(short = 'a', long = "all-tags")]
    all_tags: bool,
    /// Suppress verbose output.
    #[arg(short, long)]
    quiet: bool,
    name: String,
}

#[derive(Args)]
pub struct LoginArgs {
    #[arg(short, long)]
    username: Option<String>,
    #[arg(short, long)]
    password: Option<String>,
    /// Take the password from stdin.
    #[arg(long = "password-stdin")]
    password_stdin: bool,
    /// The registry (default: Docker Hub).
    server: Option<String>,
}

#[derive(Args)]
pub struct SaveArgs {
    /// Write to a file instead of stdout.
    #[arg(short, long)]
    output: Option<String>,
    #[arg(required = true)]
    images: Vec<String>,
}

#[derive(Args)]
pub struct LoadArgs {
    /// Read from a tar archive file instead of stdin.
    #[arg(short, long)]
    input: Option<String>,
    /// Suppress the load output.
    #[arg(short, long)]
    quiet: bool,
}

#[derive(Args)]
pub struct ImportArgs {
    /// Apply a Dockerfile instruction to the image.
    #[arg(short, long)]
    change: Vec<String>,
    /// Commit message.
    #[arg(short, long)]
    message: Option<String>,
    /// The tarball: a file, `-` for stdin, or an http(s) URL.
    file: String,
    reference: Option<String>,
}

#[derive(Args)]
pub struct ExportArgs {
    /// Write to a file instead of stdout.
    #[arg(short, long)]
    output: Option<String>,
    container: String,
}

#[derive(Args)]
pub struct CommitArgs {
    /// Author.
    #[arg(short, long)]
    author: Option<String>,
    /// Apply a Dockerfile instruction to the image.
    #[arg(short, long)]
    change: Vec<String>,
    /// Commit message.
    #[arg(short, long)]
    message: Option<String>,
    /// Pause the container while committing (default true; --pause=false to not).
    #[arg(short, long, num_args = 0..=1, require_equals = true, default_missing_value = "true")]
    pause: Option<String>,
    container: String,
    reference: Option<String>,
}

#[derive(Args)]
pub struct HistoryArgs {
    /// Don't truncate output.
    #[arg(long = "no-trunc")]
    no_trunc: bool,
    /// Only image IDs.
    #[arg(short, long)]
    quiet: bool,
    /// Human-readable sizes and dates.
    #[arg(short = 'H', long, num_args = 0..=1, require_equals = true, default_value = "true", default_missing_value = "true")]
    human: String,
    image: String,
}

fn runtime() -> Result<tokio::runtime::Runtime, Fail> {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .map_err(|e| Fail(125, e.to_string()))
}

/// Runs one of this module's commands.
pub fn dispatch(cli: &Cli, cmd: &ImageCmds) -> Result<u8, Fail> {
    match cmd {
        ImageCmds::Push(a) => push_cmd(&open(cli)?, cli, a),
        ImageCmds::Login(a) => login(cli, a),
        ImageCmds::Logout { server } => {
            let s = server.clone().unwrap_or_else(|| "docker.io".into());
            let key = auth::server_key(&s);
            match auth::logout(&s) {
                Ok(()) => println!("Removing login credentials for {key}"),
                // docker: not an error.
                Err(auth::AuthError::NotLoggedIn(k)) => println!("Not logged in to {k}"),
                Err(e) => return Err(e.into()),
            }
            Ok(0)
        }
        ImageCmds::Save(a) => save(&open(cli)?, a),
        ImageCmds::Load(a) => load(&open(cli)?, a),
        ImageCmds::Import(a) => import(&open(cli)?, a),
        ImageCmds::Export(a) => export(&open(cli)?, a),
        ImageCmds::Commit(a) => {
            let store = open(cli)?;
            let pause = match a.pause.as_deref() {
                None | Some("true") | Some("1") => true,
                Some("false") | Some("0") => false,
                Some(v) => {
                    return Err(Fail(
                        125,
                        format!("invalid argument {v:?} for \"-p, --pause\" flag: parse error"),
                    ))
                }
            };
            let img = commit::paused(&store, &a.container, pause, || {
                commit::commit(
                    &store,
                    &a.container,
                    a.reference.as_deref(),
                    a.message.as_deref(),
                    a.author.as_deref(),
                    &a.change,
                )
            })?;
            println!("{}", img.id);
            Ok(0)
        }
        ImageCmds::History(a) => history_cmd(&open(cli)?, a),
        ImageCmds::Image { cmd } => match cmd {
            ImageSub::Inspect { format, images } => image_inspect(&open(cli)?, images, format),
            ImageSub::Prune { all, force } => image_prune(&open(cli)?, *all, *force),
            ImageSub::History(a) => history_cmd(&open(cli)?, a),
            ImageSub::Push(a) => push_cmd(&open(cli)?, cli, a),
            ImageSub::Save(a) => save(&open(cli)?, a),
            ImageSub::Load(a) => load(&open(cli)?, a),
            ImageSub::Import(a) => import(&open(cli)?, a),
        },
    }
}

fn push_cmd(store: &Store, cli: &Cli, a: &PushArgs) -> Result<u8, Fail> {
    let r = Reference::parse(&a.name).map_err(|e| Fail(1, e.to_string()))?;
    let refs = if a.all_tags {
        // A tag or digest of its own is a contradiction (docker's wording).
        let last = a.name.rsplit('/').next().unwrap_or_default();
        if last.contains(':') || last.contains('@') {
            return Err(Fail(1, "tag can't be used with --all-tags/-a".into()));
        }
        let mut tagged: Vec<Reference> = image::list(store)?
            .iter()
            .flat_map(|i| i.tags.iter())
            .filter_map(|t| Reference::parse(t).ok())
            .filter(|t| t.name() == r.name())
            .collect();
        tagged.sort_by(|x, y| x.tag.cmp(&y.tag));
        tagged.dedup_by(|x, y| x.tag == y.tag);
        if tagged.is_empty() {
            return Err(Fail(
                1,
                format!(
                    "An image does not exist locally with the tag: {}",
                    r.familiar_name()
                ),
            ));
        }
        tagged
    } else {
        vec![r]
    };
    let rt = runtime()?;
    for r in refs {
        let p = crate::progress::reporter(a.quiet, crate::progress::Stream::Stdout);
        let pushed = rt
            .block_on(push::push(store, &r, &cli.insecure, p))
            .map_err(|e| Fail(1, e.to_string()))?;
        if a.quiet {
            println!("{}", r.familiar());
        } else {
            println!(
                "{}: digest: {} size: {}",
                pushed.tag, pushed.digest, pushed.size
            );
        }
    }
    Ok(0)
}

fn login(cli: &Cli, a: &LoginArgs) -> Result<u8, Fail> {
    let server = a.server.clone().unwrap_or_else(|| "docker.io".into());
    let user = match &a.username {
        Some(u) => u.clone(),
        None => {
            return Err(Fail(
                1,
                "Cannot perform an interactive login from a non TTY device: give -u/--username"
                    .into(),
            ))
        }
    };
    let password = match (&a.password, a.password_stdin) {
        (Some(_), true) => {
            return Err(Fail(1, "--password and --password-stdin are mutually exclusive".into()))
        }
        (Some(p), false) => {
            eprintln!("WARNING! Using --password via the CLI is insecure. Use --password-stdin.");
            p.clone()
        }
        (None, true) => {
            let mut s = String::new();
            std::io::stdin()
                .read_to_string(&mut s)
                .map_err(|e| Fail(1, format!("read password from stdin: {e}")))?;
            s.trim_end_matches(['\n', '\r']).to_string()
        }
        (None, false) => {
            return Err(Fail(
                1,
                "Cannot perform an interactive login from a non TTY device: give -p or --password-stdin"
                    .into(),
            ))
        }
    };
    if password.is_empty() {
        return Err(Fail(1, "password is empty".into()));
    }
    runtime()?
        .block_on(auth::login(&server, &user, &password, &cli.insecure))
        .map_err(|e| Fail(1, e.to_string()))?;
    println!("Login Succeeded");
    Ok(0)
}

/// Writes to `path` through a temporary file renamed in at the end, so a failed save leaves
/// no partial archive; to stdout without a path (refused on a terminal, as docker does).
fn with_output(
    path: Option<&str>,
    what: &str,
    f: impl FnOnce(&mut dyn Write) -> Result<(), Fail>,
) -> Result<(), Fail> {
    match path {
        Some(p) => {
            let tmp = format!("{p}.ongictl-tmp-{}", std::process::id());
            let file = std::fs::File::create(&tmp)
                .map_err(|e| Fail(1, format!("failed to save {what}: create {p}: {e}")))?;
            let mut w = std::io::BufWriter::new(file);
            let r = f(&mut w).and_then(|_| {
                w.flush()
                    .map_err(|e| Fail(1, format!("write {p}: {e}")))
                    .and_then(|_| {
                        std::fs::rename(&tmp, p).map_err(|e| Fail(1, format!("write {p}: {e}")))
                    })
            });
            if r.is_err() {
                let _ = std::fs::remove_file(&tmp);
            }
            r
        }
        None => {
            if std::io::stdout().is_terminal() {
                return Err(Fail(
                    1,
                    "cowardly refusing to save to a terminal. Use the -o flag or redirect".into(),
                ));
            }
            let out = std::io::stdout();
            let mut w = std::io::BufWriter::new(out.lock());
            f(&mut w)?;
            w.flush().map_err(|e| Fail(1, format!("write stdout: {e}")))
        }
    }
}

fn save(store: &Store, a: &SaveArgs) -> Result<u8, Fail> {
    let items = archive::resolve_items(store, &a.images)?;
    with_output(a.output.as_deref(), "image", |w| {
        archive::save(store, &items, w).map_err(Fail::from)
    })?;
    Ok(0)
}

fn load(store: &Store, a: &LoadArgs) -> Result<u8, Fail> {
    let loaded = match &a.input {
        Some(p) => {
            let f = std::fs::File::open(p).map_err(|e| Fail(1, format!("open {p}: {e}")))?;
            archive::load(store, std::io::BufReader::new(f))?
        }
        None => {
            if std::io::stdin().is_terminal() {
                return Err(Fail(
                    1,
                    "requested load from stdin, but stdin is empty".into(),
                ));
            }
            archive::load(store, std::io::stdin().lock())?
        }
    };
    if !a.quiet {
        for l in loaded {
            if l.names.is_empty() {
                println!("Loaded image ID: {}", l.id);
            }
            for n in l.names {
                println!("Loaded image: {n}");
            }
        }
    }
    Ok(0)
}

fn import(store: &Store, a: &ImportArgs) -> Result<u8, Fail> {
    let src = commit::open_input(&a.file)?;
    let img = commit::import(
        store,
        src,
        &a.file,
        a.reference.as_deref(),
        a.message.as_deref(),
        &a.change,
    )?;
    println!("{}", img.id);
    Ok(0)
}

fn export(store: &Store, a: &ExportArgs) -> Result<u8, Fail> {
    with_output(a.output.as_deref(), "container", |w| {
        commit::export(store, &a.container, w).map_err(Fail::from)
    })?;
    Ok(0)
}

fn history_cmd(store: &Store, a: &HistoryArgs) -> Result<u8, Fail> {
    let img = image::resolve(store, &a.image)?;
    let steps = history::history(store, &img)?;
    let show_id = |id: &str| {
        if id == "<missing>" || a.no_trunc {
            id.to_string()
        } else {
            image::short_id(id).to_string()
        }
    };
    if a.quiet {
        for s in &steps {
            println!("{}", show_id(&s.id));
        }
        return Ok(0);
    }
    let human = a.human != "false";
    let rows: Vec<Vec<String>> = steps
        .iter()
        .map(|s| {
            let by = s.created_by.replace(['\n', '\t'], " ");
            let by = if !a.no_trunc && by.chars().count() > 45 {
                by.chars().take(44).collect::<String>() + "…"
            } else {
                by
            };
            vec![
                show_id(&s.id),
                if human {
                    fmt::ago(&s.created)
                } else {
                    s.created.clone()
                },
                by,
                if human {
                    fmt::size(s.size)
                } else {
                    s.size.to_string()
                },
                s.comment.clone(),
            ]
        })
        .collect();
    fmt::table(
        &["IMAGE", "CREATED", "CREATED BY", "SIZE", "COMMENT"],
        &rows,
    );
    Ok(0)
}

fn image_inspect(store: &Store, names: &[String], format: &Option<String>) -> Result<u8, Fail> {
    let mut out = Vec::new();
    let mut rc = 0;
    for n in names {
        match image::resolve(store, n) {
            Ok(i) => out.push(inspect::image(store, &i)),
            Err(e) => {
                eprintln!("Error response from ongictl: {e}");
                rc = 1;
            }
        }
    }
    crate::fmt::print_objects(&out, format.as_deref())?;
    Ok(rc)
}

fn image_prune(store: &Store, all: bool, force: bool) -> Result<u8, Fail> {
    if !force {
        if all {
            println!("WARNING! This will remove all images without at least one container associated to them.");
        } else {
            println!("WARNING! This will remove all dangling images.");
        }
        print!("Are you sure you want to continue? [y/N] ");
        let _ = std::io::stdout().flush();
        let mut ans = String::new();
        let _ = std::io::stdin().read_line(&mut ans);
        if !matches!(ans.trim(), "y" | "Y" | "yes") {
            return Ok(0);
        }
    }
    let p = prune::prune_images(store, all)?;
    if !p.untagged.is_empty() || !p.deleted.is_empty() {
        println!("Deleted Images:");
        for u in &p.untagged {
            println!("untagged: {u}");
        }
        for d in &p.deleted {
            println!("deleted: {d}");
        }
        println!();
    }
    println!("Total reclaimed space: {}", fmt::size(p.reclaimed));
    Ok(0)
}
