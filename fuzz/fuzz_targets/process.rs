//! process.json as `exec --process` reads it, then runc's flag merge and the checks
//! `exec` makes before it clones anything. Any input may be refused; none may panic.
#![no_main]

use libfuzzer_sys::fuzz_target;
use std::path::{Path, PathBuf};
use std::sync::OnceLock;

fn file() -> &'static Path {
    static FILE: OnceLock<PathBuf> = OnceLock::new();
    FILE.get_or_init(|| {
        PathBuf::from(format!(
            "/dev/shm/ongi-fuzz-process-{}.json",
            std::process::id()
        ))
    })
}

fuzz_target!(|data: &[u8]| {
    std::fs::write(file(), data).expect("write process.json");
    match ongi::process::exec::load_process(file()) {
        Ok(p) => {
            let opts = ongi::ExecOptions {
                process: Some(p.clone()),
                ..Default::default()
            };
            if let Err(e) = opts.build_process(None) {
                let _ = e.to_string();
            }
            // Merged as the flags of a plain `exec` onto a config's process.
            let flags = ongi::ExecOptions {
                args: vec!["sh".into()],
                env: p.env().clone().unwrap_or_default(),
                caps: vec!["CAP_KILL".into(), "CAP_FOO".into()],
                ..Default::default()
            };
            if let Err(e) = flags.build_process(Some(&p)) {
                let _ = e.to_string();
            }
            if let Err(e) = ongi::process::attrs::Attrs::for_exec(None, &p) {
                let _ = e.to_string();
            }
        }
        Err(e) => {
            let _ = e.to_string();
        }
    }
});
