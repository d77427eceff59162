//! `ongi-monitor`: the per-container supervisor `ongictl` starts (see
//! `ongi_engine::monitor`). Links the runtime library and the monitor's small part of the
//! engine; single-threaded, as the runtime library requires of a caller that creates
//! containers.

use std::path::PathBuf;
use std::process::ExitCode;

fn main() -> ExitCode {
    // Before anything else: the container's init is cloned from this process, so the binary
    // must run from a copy the container cannot overwrite (CVE-2019-5736).
    if let Err(e) = ongi::exe::protect() {
        eprintln!("ongi-monitor: {e}");
        return ExitCode::from(125);
    }
    let mut a = std::env::args().skip(1);
    let get = |name: &str, v: Option<String>| v.ok_or_else(|| format!("{name} needs a value"));
    let (mut dir, mut run_dir, mut runtime_root, mut ongictl, mut root, mut run_root) =
        (None, None, None, None, None, None);
    let mut ready = None;
    let mut attach = false;
    while let Some(arg) = a.next() {
        let r: Result<(), String> = (|| {
            match arg.as_str() {
                "--dir" => dir = Some(PathBuf::from(get("--dir", a.next())?)),
                "--run-dir" => run_dir = Some(PathBuf::from(get("--run-dir", a.next())?)),
                "--runtime-root" => {
                    runtime_root = Some(PathBuf::from(get("--runtime-root", a.next())?))
                }
                "--ongictl" => ongictl = Some(PathBuf::from(get("--ongictl", a.next())?)),
                "--root" => root = Some(PathBuf::from(get("--root", a.next())?)),
                "--run-root" => run_root = Some(PathBuf::from(get("--run-root", a.next())?)),
                "--ready-fd" => {
                    ready = Some(
                        get("--ready-fd", a.next())?
                            .parse::<i32>()
                            .map_err(|e| e.to_string())?,
                    )
                }
                "--attach" => attach = true,
                other => return Err(format!("unknown argument {other:?}")),
            }
            Ok(())
        })();
        if let Err(e) = r {
            eprintln!("ongi-monitor: {e}");
            return ExitCode::from(125);
        }
    }
    let (Some(dir), Some(run_dir), Some(runtime_root), Some(ongictl), Some(root), Some(run_root)) =
        (dir, run_dir, runtime_root, ongictl, root, run_root)
    else {
        eprintln!("ongi-monitor: --dir, --run-dir, --runtime-root, --ongictl, --root and --run-root are required (it is started by ongictl)");
        return ExitCode::from(125);
    };
    let p = ongi_engine::monitor::Paths {
        dir,
        run_dir,
        runtime_root,
        ongictl,
        root,
        run_root,
    };
    ExitCode::from(ongi_engine::monitor::run(&p, ready, attach) as u8)
}
