//! `conformance`: runs the OCI runtime-spec requirement checks against a runc-compatible
//! runtime CLI and prints one line per requirement, then `N passed, M failed`.
//!
//! Usage: conformance [--strict] [--list] [--known-failures FILE] [FILTER...]
//!
//! The runtime is `$RUNTIME` (default: target/x86_64-unknown-linux-gnu/release/ongi of this
//! workspace; .cargo/config.toml names the target); the in-container checker is `$OCI_CHECK`
//! (default: target/x86_64-unknown-linux-gnu/release/oci-check, static like every binary).

mod checks;
#[macro_use]
mod harness;

use harness::{Bad, Ctx, Env};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

/// One requirement: an id, the spec file, a short quote of its MUST/SHOULD text and the
/// check.
pub struct Req {
    pub id: &'static str,
    pub file: &'static str,
    pub quote: &'static str,
    pub check: fn(&mut Ctx) -> harness::Res,
}

/// Shorthand used by the check modules.
pub fn req(
    id: &'static str,
    file: &'static str,
    quote: &'static str,
    check: fn(&mut Ctx) -> harness::Res,
) -> Req {
    Req {
        id,
        file,
        quote,
        check,
    }
}

fn workspace_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("conformance/ sits in the workspace")
        .to_path_buf()
}

/// `id  reason` lines; `#` starts a comment.
fn load_known(path: &Path) -> BTreeMap<String, String> {
    let Ok(text) = std::fs::read_to_string(path) else {
        return BTreeMap::new();
    };
    text.lines()
        .map(str::trim)
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
        .map(|l| match l.split_once(char::is_whitespace) {
            Some((id, why)) => (id.to_string(), why.trim().to_string()),
            None => (l.to_string(), String::new()),
        })
        .collect()
}

fn main() -> ExitCode {
    let mut strict = false;
    let mut list = false;
    let mut filters = Vec::new();
    let mut known_path = workspace_dir().join("conformance/known-failures.txt");
    let mut args = std::env::args().skip(1);
    while let Some(a) = args.next() {
        match a.as_str() {
            "--strict" => strict = true,
            "--list" => list = true,
            "--known-failures" => match args.next() {
                Some(p) => known_path = PathBuf::from(p),
                None => {
                    eprintln!("--known-failures needs a file");
                    return ExitCode::from(2);
                }
            },
            "-h" | "--help" => {
                println!(
                    "usage: conformance [--strict] [--list] [--known-failures FILE] [FILTER...]\n\
                     FILTER selects requirements whose id contains it (any of several).\n\
                     env: RUNTIME (default target/x86_64-unknown-linux-gnu/release/ongi), OCI_CHECK (static checker)"
                );
                return ExitCode::SUCCESS;
            }
            f if f.starts_with('-') => {
                eprintln!("unknown flag {f}");
                return ExitCode::from(2);
            }
            f => filters.push(f.to_string()),
        }
    }

    let reqs: Vec<Req> = checks::all()
        .into_iter()
        .filter(|r| filters.is_empty() || filters.iter().any(|f| r.id.contains(f.as_str())))
        .collect();
    if list {
        for r in &reqs {
            println!("{:<48} {:<16} {}", r.id, r.file, r.quote);
        }
        return ExitCode::SUCCESS;
    }
    if reqs.is_empty() {
        eprintln!("no requirement matches {filters:?}");
        return ExitCode::from(2);
    }
    // SAFETY: geteuid cannot fail.
    if unsafe { libc::geteuid() } != 0 {
        eprintln!("conformance: must run as root (containers, cgroups, mounts)");
        return ExitCode::from(2);
    }

    let runtime = std::env::var_os("RUNTIME")
        .filter(|s| !s.is_empty())
        .map(PathBuf::from)
        .unwrap_or_else(|| workspace_dir().join("target/x86_64-unknown-linux-gnu/release/ongi"));
    let checker = std::env::var_os("OCI_CHECK")
        .filter(|s| !s.is_empty())
        .map(PathBuf::from)
        .unwrap_or_else(|| {
            workspace_dir().join("target/x86_64-unknown-linux-gnu/release/oci-check")
        });
    for (what, p) in [("runtime", &runtime), ("checker", &checker)] {
        if !p.exists() {
            eprintln!(
                "conformance: {what} {} not found (conformance/run.sh builds both)",
                p.display()
            );
            return ExitCode::from(2);
        }
    }
    let env = match Env::new(runtime, checker) {
        Ok(e) => e,
        Err(e) => {
            eprintln!("conformance: {e}");
            return ExitCode::from(2);
        }
    };
    let known = load_known(&known_path);

    println!("runtime: {}", env.runtime.display());
    println!("{} requirements\n", reqs.len());
    let (mut passed, mut failed, mut skipped) = (0, 0, 0);
    let mut unexpected = Vec::new();
    let mut known_failed = Vec::new();
    let mut fixed = Vec::new();
    for r in &reqs {
        let outcome = {
            let mut ctx = Ctx::new(&env);
            (r.check)(&mut ctx)
        };
        let (tag, detail) = match &outcome {
            Ok(()) => {
                passed += 1;
                if known.contains_key(r.id) {
                    fixed.push(r.id);
                }
                ("PASS", None)
            }
            Err(Bad::Skip(why)) => {
                skipped += 1;
                ("SKIP", Some(why.clone()))
            }
            Err(Bad::Fail(why)) => {
                failed += 1;
                if known.contains_key(r.id) {
                    known_failed.push(r.id);
                    ("FAIL", Some(format!("[known] {why}")))
                } else {
                    unexpected.push(r.id);
                    ("FAIL", Some(why.clone()))
                }
            }
        };
        println!("{tag:<5} {:<48} {:<16} \"{}\"", r.id, r.file, r.quote);
        if let Some(d) = detail {
            println!("      -> {}", d.replace('\n', " "));
        }
    }
    env.cleanup();

    println!();
    if !known_failed.is_empty() {
        println!(
            "{} known failures (known-failures.txt): {}",
            known_failed.len(),
            known_failed.join(" ")
        );
    }
    if !fixed.is_empty() {
        println!(
            "listed in known-failures.txt but passing (remove them): {}",
            fixed.join(" ")
        );
    }
    if !unexpected.is_empty() {
        println!("unexpected failures: {}", unexpected.join(" "));
    }
    println!("{skipped} skipped");
    println!("{passed} passed, {failed} failed");
    if failed > 0 && (strict || !unexpected.is_empty()) {
        ExitCode::FAILURE
    } else {
        ExitCode::SUCCESS
    }
}
