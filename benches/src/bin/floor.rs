//! The floor of `RT run` on the bench bundle: what any runtime has to do at least, and
//! nothing else. It takes the runtimes' command line (`[--root DIR] run --bundle BUNDLE ID`,
//! root and id ignored) so that the lifecycle bench times it exactly like them:
//!
//! one clone with the bench bundle's namespaces (pid, network, ipc, uts, mount), in the
//! child `/` made rprivate, the bundle's rootfs bind-mounted onto itself, pivot_root into
//! it and the old root detached, execve of `/bin/true` (busybox); the parent waits for it
//! and exits with its status.
//!
//! Not done (a runtime does all of these): config.json, cgroups, /proc, /dev, /sys and the
//! other mounts, masked paths, capabilities, seccomp, state, hooks, the exec fifo, and the
//! protection of the binary (which costs runtimes a second execve of themselves).
//! Static like every binary of the workspace (.cargo/config.toml), so its own exec costs
//! what a small static program's exec costs.

use std::ffi::{CStr, CString};
use std::os::unix::ffi::OsStrExt;

fn die(what: &str) -> ! {
    let e = std::io::Error::last_os_error();
    eprintln!("floor: {what}: {e}");
    // SAFETY: _exit is always safe; no destructors or atexit handlers in a forked child.
    unsafe { libc::_exit(2) }
}

fn check(r: libc::c_long, what: &str) {
    if r < 0 {
        die(what)
    }
}

/// The child: from here on only syscalls, then execve.
fn child(rootfs: &CStr) -> ! {
    let none = std::ptr::null::<libc::c_char>();
    // SAFETY: every pointer below is a NUL-terminated string that outlives the call, or
    // null where the syscall allows it.
    unsafe {
        check(
            libc::mount(
                none,
                c"/".as_ptr(),
                none,
                libc::MS_REC | libc::MS_PRIVATE,
                std::ptr::null(),
            ) as _,
            "make / rprivate",
        );
        check(
            libc::mount(
                rootfs.as_ptr(),
                rootfs.as_ptr(),
                none,
                libc::MS_BIND | libc::MS_REC,
                std::ptr::null(),
            ) as _,
            "bind rootfs",
        );
        check(libc::chdir(rootfs.as_ptr()) as _, "chdir rootfs");
        check(
            libc::syscall(libc::SYS_pivot_root, c".".as_ptr(), c".".as_ptr()),
            "pivot_root",
        );
        check(
            libc::umount2(c".".as_ptr(), libc::MNT_DETACH) as _,
            "detach old root",
        );
        check(libc::chdir(c"/".as_ptr()) as _, "chdir /");
        let argv = [c"/bin/true".as_ptr(), std::ptr::null()];
        let envp = [c"PATH=/bin".as_ptr(), std::ptr::null()];
        libc::execve(c"/bin/true".as_ptr(), argv.as_ptr(), envp.as_ptr());
    }
    die("execve /bin/true")
}

fn main() {
    let args: Vec<_> = std::env::args_os().skip(1).collect();
    let bundle = args
        .iter()
        .position(|a| a == "--bundle")
        .and_then(|i| args.get(i + 1));
    let (Some(bundle), true) = (bundle, args.iter().any(|a| a == "run")) else {
        eprintln!("usage: floor [--root DIR] run --bundle BUNDLE ID");
        std::process::exit(2)
    };
    let mut rootfs = bundle.as_bytes().to_vec();
    rootfs.extend_from_slice(b"/rootfs");
    let Ok(rootfs) = CString::new(rootfs) else {
        eprintln!("floor: NUL byte in the bundle path");
        std::process::exit(2)
    };
    let flags = libc::CLONE_NEWPID
        | libc::CLONE_NEWNET
        | libc::CLONE_NEWIPC
        | libc::CLONE_NEWUTS
        | libc::CLONE_NEWNS;
    // SAFETY: a fork-like clone (no CLONE_VM, no new stack): the child gets a copy of this
    // single-threaded process and only makes syscalls before execve or _exit.
    let pid = unsafe {
        libc::syscall(
            libc::SYS_clone,
            (flags | libc::SIGCHLD) as libc::c_ulong,
            0,
            0,
            0,
            0,
        )
    };
    check(pid, "clone");
    if pid == 0 {
        child(&rootfs)
    }
    let mut status = 0;
    // SAFETY: waiting for our own child with a valid out-pointer.
    check(
        unsafe { libc::waitpid(pid as libc::pid_t, &mut status, 0) } as _,
        "waitpid",
    );
    let code = if libc::WIFEXITED(status) {
        libc::WEXITSTATUS(status)
    } else {
        1
    };
    std::process::exit(code)
}
