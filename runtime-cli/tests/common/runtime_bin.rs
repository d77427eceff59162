//! Which runtime binary the tests drive.

use std::path::PathBuf;

/// The `ongi` cargo built: `CARGO_BIN_EXE_ongi` in ongi-cli's tests; for a bench of another
/// package (benches/benches/clients.rs), the `ongi` next to the running executable's `deps/`
/// dir, where `cargo build --release -p ongi-cli` puts it.
pub fn ongi() -> PathBuf {
    match option_env!("CARGO_BIN_EXE_ongi") {
        Some(p) => PathBuf::from(p),
        None => std::env::current_exe()
            .ok()
            .and_then(|exe| Some(exe.parent()?.parent()?.join("ongi")))
            .filter(|p| p.is_file())
            .expect("no ongi next to this executable: cargo build --release -p ongi-cli"),
    }
}

/// Path of the runtime under test.
pub fn runtime() -> PathBuf {
    match std::env::var_os("ONGI_TEST_RUNTIME") {
        Some(p) if !p.is_empty() => PathBuf::from(p),
        _ => ongi(),
    }
}

/// True when the suite runs against runc (to validate expectations).
pub fn is_runc() -> bool {
    runtime()
        .file_name()
        .is_some_and(|n| n.to_string_lossy().starts_with("runc"))
}

/// Returns true (and logs why) when a test must be skipped under runc.
pub fn skip_on_runc(reason: &str) -> bool {
    if is_runc() {
        eprintln!("skipped under runc: {reason}");
        return true;
    }
    false
}
