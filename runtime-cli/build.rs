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

    prestart();
}

/// Compiles the `ongi` binary's ELF entry point, src/bin/ongi/prestart.c (why: see there),
/// and links it into that binary only.
fn prestart() {
    let src = "src/bin/ongi/prestart.c";
    println!("cargo::rerun-if-changed={src}");
    // Syscall numbers and the entry stub are x86_64 Linux; elsewhere glibc's _start stays
    // the entry point and exe::protect() does the whole job, as before.
    let arch = std::env::var("CARGO_CFG_TARGET_ARCH").unwrap_or_default();
    let os = std::env::var("CARGO_CFG_TARGET_OS").unwrap_or_default();
    if arch != "x86_64" || os != "linux" {
        return;
    }
    println!("cargo::rerun-if-env-changed=CC");
    let out = std::path::PathBuf::from(std::env::var_os("OUT_DIR").expect("cargo sets OUT_DIR"));
    let obj = out.join("prestart.o");
    let cc = std::env::var("CC").unwrap_or_else(|_| "cc".into());
    let status = std::process::Command::new(&cc)
        .args([
            "-c",
            "-O2",
            "-fPIE",
            "-ffreestanding",
            "-fno-builtin",
            "-fno-tree-loop-distribute-patterns",
            "-fno-stack-protector",
            "-fcf-protection=none",
            "-mgeneral-regs-only",
            "-Wall",
            "-Werror",
            "-o",
        ])
        .arg(&obj)
        .arg(src)
        .status()
        .unwrap_or_else(|e| panic!("{cc}: {e} (a C compiler builds the entry point {src})"));
    assert!(status.success(), "{cc} failed on {src}");
    // It runs before relocation and before glibc resolves its IFUNCs: a call the compiler
    // slipped in (memcpy, memset, __stack_chk_fail) would crash every start.
    let nm = std::process::Command::new("nm")
        .arg("-u")
        .arg(&obj)
        .output()
        .unwrap_or_else(|e| panic!("nm (binutils) checks {src}: {e}"));
    let undefined = String::from_utf8_lossy(&nm.stdout);
    let extra: Vec<&str> = undefined
        .lines()
        .filter_map(|l| l.split_whitespace().last())
        .filter(|s| *s != "_start")
        .collect();
    assert!(
        nm.status.success() && extra.is_empty(),
        "{src} must not call anything but _start before glibc is set up; it needs {extra:?}"
    );
    println!("cargo::rustc-link-arg-bin=ongi={}", obj.display());
    println!("cargo::rustc-link-arg-bin=ongi=-Wl,-e,ongi_prestart");
}
