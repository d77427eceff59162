//! `volume ...` and `system ...`: parsing and output in docker's shapes; the engine's
//! `volume` and `system` modules do the work.

use std::io::{BufRead, Write};

use clap::Subcommand;
use ongi_engine::store::Store;
use ongi_engine::system;
use ongi_engine::volume::{self, VolumeError};

use crate::{fmt, Fail};

#[derive(Subcommand)]
pub enum VolumeCmd {
    /// Create a volume.
    Create {
        /// Set metadata for a volume.
        #[arg(short, long = "label")]
        label: Vec<String>,
        /// Volume driver (only "local").
        #[arg(short, long, default_value = "local")]
        driver: String,
        name: Option<String>,
    },
    /// List volumes.
    #[command(alias = "list")]
    Ls {
        /// Only volume names.
        #[arg(short, long)]
        quiet: bool,
        /// dangling=true|false, name=..., label=KEY[=VALUE].
        #[arg(short, long)]
        filter: Vec<String>,
    },
    /// Display detailed information on one or more volumes.
    Inspect {
        /// Go template.
        #[arg(short, long)]
        format: Option<String>,
        #[arg(required = true)]
        names: Vec<String>,
    },
    /// Remove one or more volumes (refused while a container uses one).
    #[command(alias = "remove")]
    Rm {
        /// Do not fail on a missing volume.
        #[arg(short, long)]
        force: bool,
        #[arg(required = true)]
        names: Vec<String>,
    },
    /// Remove unused anonymous volumes (-a: every unused volume).
    Prune {
        /// All unused volumes, named ones too.
        #[arg(short, long)]
        all: bool,
        /// Do not prompt.
        #[arg(short, long)]
        force: bool,
    },
}

#[derive(Subcommand)]
pub enum SystemCmd {
    /// Find and repair what killed commands and reboots left in the store.
    Check,
    /// Show disk usage.
    Df,
    /// Remove stopped containers, dangling images (and with -a unused ones), unused
    /// anonymous volumes with --volumes.
    Prune {
        /// Every unused image, not only dangling ones.
        #[arg(short, long)]
        all: bool,
        /// Unused anonymous volumes too.
        #[arg(long)]
        volumes: bool,
        /// Do not prompt.
        #[arg(short, long)]
        force: bool,
    },
    /// At machine start: start `always` containers and `unless-stopped` ones the user did
    /// not stop (what dockerd does when it starts).
    Boot,
}

fn confirm(warning: &str) -> bool {
    eprint!("{warning}\nAre you sure you want to continue? [y/N] ");
    let _ = std::io::stderr().flush();
    let mut line = String::new();
    let _ = std::io::stdin().lock().read_line(&mut line);
    matches!(line.trim(), "y" | "Y" | "yes")
}

fn matches_filters(store: &Store, v: &volume::Volume, filters: &[String]) -> Result<bool, Fail> {
    for f in filters {
        let (k, val) = f.split_once('=').ok_or_else(|| {
            Fail(
                1,
                format!("bad format of filter (expected name=value): {f}"),
            )
        })?;
        let ok = match k {
            "dangling" => {
                let want = match val {
                    "true" | "1" => true,
                    "false" | "0" => false,
                    _ => return Err(Fail(1, format!("invalid filter 'dangling={val}'"))),
                };
                volume::users(store, &v.name)?.is_empty() == want
            }
            "name" => v.name.contains(val),
            "driver" => val == "local",
            "label" => match val.split_once('=') {
                Some((lk, lv)) => v.labels.get(lk).is_some_and(|x| x == lv),
                None => v.labels.contains_key(val),
            },
            _ => return Err(Fail(1, format!("invalid filter '{k}'"))),
        };
        if !ok {
            return Ok(false);
        }
    }
    Ok(true)
}

pub fn volume(store: &Store, cmd: &VolumeCmd) -> Result<u8, Fail> {
    match cmd {
        VolumeCmd::Create {
            label,
            driver,
            name,
        } => {
            if driver != "local" {
                return Err(Fail(
                    1,
                    format!(
                        "create {}: plugin \"{driver}\" not found",
                        name.clone().unwrap_or_default()
                    ),
                ));
            }
            let v = volume::create(store, name.as_deref(), label)?;
            println!("{}", v.name);
            Ok(0)
        }
        VolumeCmd::Ls { quiet, filter } => {
            let mut rows = Vec::new();
            for v in volume::list(store)? {
                if !matches_filters(store, &v, filter)? {
                    continue;
                }
                if *quiet {
                    println!("{}", v.name);
                } else {
                    rows.push(vec!["local".to_string(), v.name]);
                }
            }
            if !*quiet {
                fmt::table(&["DRIVER", "VOLUME NAME"], &rows);
            }
            Ok(0)
        }
        VolumeCmd::Inspect { format, names } => {
            let mut out = Vec::new();
            let mut rc = 0;
            for n in names {
                match volume::get(store, n) {
                    Ok(v) => out.push(v.inspect_json()),
                    Err(e) => {
                        eprintln!("Error: {e}");
                        rc = 1;
                    }
                }
            }
            crate::fmt::print_objects(&out, format.as_deref())?;
            Ok(rc)
        }
        VolumeCmd::Rm { force, names } => {
            let mut rc = 0;
            for n in names {
                match volume::remove(store, n) {
                    Ok(()) => println!("{n}"),
                    Err(VolumeError::NotFound(_)) if *force => {}
                    Err(e) => {
                        eprintln!("Error response from ongictl: {e}");
                        rc = 1;
                    }
                }
            }
            Ok(rc)
        }
        VolumeCmd::Prune { all, force } => {
            let what = if *all {
                "all local volumes not used by at least one container"
            } else {
                "all anonymous local volumes not used by at least one container"
            };
            if !*force && !confirm(&format!("WARNING! This will remove {what}.")) {
                return Ok(0);
            }
            let (names, bytes) = volume::prune(store, *all)?;
            if !names.is_empty() {
                println!("Deleted Volumes:");
                for n in names {
                    println!("{n}");
                }
                println!();
            }
            println!("Total reclaimed space: {}", size0(bytes));
            Ok(0)
        }
    }
}

fn size0(b: u64) -> String {
    if b == 0 {
        "0B".into()
    } else {
        fmt::size(b)
    }
}

fn pct(part: u64, whole: u64) -> String {
    match (part * 100).checked_div(whole) {
        None => "0B".into(),
        Some(p) => format!("{} ({p}%)", fmt::size(part)),
    }
}

pub fn system(store: &Store, cmd: &SystemCmd) -> Result<u8, Fail> {
    match cmd {
        SystemCmd::Check => {
            let fixed = system::check(store)?;
            for f in &fixed {
                println!("fixed: {f}");
            }
            if fixed.is_empty() {
                println!("store is consistent");
                Ok(0)
            } else {
                println!("{} problem(s) repaired", fixed.len());
                // fsck's convention: errors found and corrected.
                Ok(1)
            }
        }
        SystemCmd::Df => {
            let rows: Vec<Vec<String>> = system::df(store)?
                .into_iter()
                .map(|r| {
                    vec![
                        r.kind.to_string(),
                        r.total.to_string(),
                        r.active.to_string(),
                        if r.size == 0 {
                            "0B".into()
                        } else {
                            fmt::size(r.size)
                        },
                        if r.size == 0 {
                            "0B".into()
                        } else if r.kind == "Build Cache" {
                            // docker shows the build cache's without a percentage.
                            fmt::size(r.reclaimable)
                        } else {
                            pct(r.reclaimable, r.size)
                        },
                    ]
                })
                .collect();
            fmt::table(&["TYPE", "TOTAL", "ACTIVE", "SIZE", "RECLAIMABLE"], &rows);
            Ok(0)
        }
        SystemCmd::Prune {
            all,
            volumes,
            force,
        } => {
            if !*force {
                let mut w =
                    String::from("WARNING! This will remove:\n  - all stopped containers\n");
                if *volumes {
                    w.push_str("  - all anonymous volumes not used by at least one container\n");
                }
                w.push_str(if *all {
                    "  - all images without at least one container associated to them"
                } else {
                    "  - all dangling images"
                });
                if !confirm(&w) {
                    return Ok(0);
                }
            }
            let p = system::prune(store, *all, *volumes)?;
            if !p.containers.is_empty() {
                println!("Deleted Containers:");
                for c in &p.containers {
                    println!("{c}");
                }
                println!();
            }
            if !p.volumes.is_empty() {
                println!("Deleted Volumes:");
                for v in &p.volumes {
                    println!("{v}");
                }
                println!();
            }
            if !p.images.is_empty() {
                println!("Deleted Images:");
                for i in &p.images {
                    println!("{i}");
                }
                println!();
            }
            println!("Total reclaimed space: {}", size0(p.reclaimed));
            Ok(0)
        }
        SystemCmd::Boot => {
            let mut rc = 0;
            for (name, err) in system::boot(store)? {
                match err {
                    None => println!("{name}"),
                    Some(e) => {
                        eprintln!("Error response from ongictl: start {name}: {e}");
                        rc = 1;
                    }
                }
            }
            Ok(rc)
        }
    }
}
