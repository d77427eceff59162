//! Sets `cfg(ongi_test_runc)` when the integration tests are built to run against runc
//! (`ONGI_TEST_RUNTIME=/usr/sbin/runc cargo test`): tests of behaviour runc 1.1.5 does not
//! share carry `#[cfg_attr(ongi_test_runc, ignore = "why")]`, so such a run reports them as
//! ignored with the reason instead of counting a skip as a pass.
//!
//! Sets `cfg(ongi_test_no_cap_sys_resource)` when this host's bounding set lacks
//! CAP_SYS_RESOURCE: then no process here can raise a hard rlimit, and the tests that need
//! to are reported as ignored with that reason (they assert the capability when they run).

fn main() {
    println!("cargo::rustc-check-cfg=cfg(ongi_test_runc)");
    println!("cargo::rustc-check-cfg=cfg(ongi_test_no_cap_sys_resource)");
    // CAP_SYS_RESOURCE is capability 24; CapBnd is the bounding set in hex.
    let bounding = std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find_map(|l| l.strip_prefix("CapBnd:"))
                .and_then(|v| u64::from_str_radix(v.trim(), 16).ok())
        })
        .unwrap_or(0);
    if bounding & (1 << 24) == 0 {
        println!("cargo::rustc-cfg=ongi_test_no_cap_sys_resource");
    }
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
