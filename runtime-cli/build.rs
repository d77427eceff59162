//! Sets `cfg(ongi_test_runc)` when the integration tests are built to run against runc
//! (`ONGI_TEST_RUNTIME=/usr/sbin/runc cargo test`): tests of behaviour runc 1.1.5 does not
//! share carry `#[cfg_attr(ongi_test_runc, ignore = "why")]`, so such a run reports them as
//! ignored with the reason instead of counting a skip as a pass.

fn main() {
    println!("cargo::rustc-check-cfg=cfg(ongi_test_runc)");
    println!("cargo::rerun-if-env-changed=ONGI_TEST_RUNTIME");
    let runc = std::env::var_os("ONGI_TEST_RUNTIME").is_some_and(|p| {
        std::path::Path::new(&p)
            .file_name()
            .is_some_and(|n| n.to_string_lossy().starts_with("runc"))
    });
    if runc {
        println!("cargo::rustc-cfg=ongi_test_runc");
    }
}
