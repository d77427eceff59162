//! config.json as `create` reads it: loading (parse, normalisation, conversion to the
//! spec types) and every check the runtime makes before it clones anything (namespaces,
//! time offsets, seccomp compilation, personality/scheduler/ioPriority, unsupported
//! settings). Any input may be refused; none may panic. Error texts are formatted too,
//! since they echo config content.
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
    match ongi::spec::Bundle::load(dir) {
        Ok(b) => {
            let linux = b.spec.linux().clone().unwrap_or_default();
            let ns = ongi::namespaces::Namespaces::from_spec(
                linux.namespaces().as_deref().unwrap_or_default(),
            )
            .and_then(|n| n.with_time_offsets(linux.time_offsets().as_ref()));
            if let Err(e) = ns {
                let _ = e.to_string();
            }
            if let Err(e) = ongi::seccomp::from_spec(&b.spec) {
                let _ = e.to_string();
            }
            if let Err(e) = ongi::process::attrs::check_unsupported(&b.spec) {
                let _ = e.to_string();
            }
            if let Err(e) = ongi::process::attrs::Attrs::for_init(&b.spec) {
                let _ = e.to_string();
            }
            for m in b.spec.mounts().as_deref().unwrap_or_default() {
                let _ = ongi::rootfs::options::MountOptions::parse(
                    m.options().as_deref().unwrap_or_default(),
                )
                .data();
            }
        }
        Err(e) => {
            let _ = e.to_string();
        }
    }
    let _ = ongi::spec::take_warnings();
});
