//! process.json as `exec --process` reads it, through `ongi::spec::check_process`: parsing,
//! runc's validation and the checks `exec` makes before it clones anything. Any input may be
//! refused; none may panic. Error texts are formatted too, since they echo the file.
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
    if let Err(e) = ongi::spec::check_process(file()) {
        let _ = e.to_string();
    }
});
