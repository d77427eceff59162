//! config.json as `create` reads it, through `ongi::spec::check_bundle`: loading (parse,
//! normalisation, conversion to the spec types), every check the runtime makes before it
//! clones anything (namespaces, time offsets, sysctl keys, seccomp compilation,
//! personality/scheduler/ioPriority, unsupported settings) and mount option parsing. Any
//! input may be refused; none may panic. Error texts are formatted too, since they echo
//! config content.
#![no_main]

use libfuzzer_sys::fuzz_target;
use std::path::{Path, PathBuf};
use std::sync::OnceLock;

/// A bundle directory on tmpfs with an empty rootfs; config.json is rewritten per input.
fn bundle() -> &'static Path {
    static DIR: OnceLock<PathBuf> = OnceLock::new();
    DIR.get_or_init(|| {
        let dir = PathBuf::from(format!("/dev/shm/ongi-fuzz-config-{}", std::process::id()));
        std::fs::create_dir_all(dir.join("rootfs")).expect("mkdir fuzz bundle");
        dir
    })
}

fuzz_target!(|data: &[u8]| {
    let dir = bundle();
    std::fs::write(dir.join("config.json"), data).expect("write config.json");
    if let Err(e) = ongi::spec::check_bundle(dir) {
        let _ = e.to_string();
    }
});
