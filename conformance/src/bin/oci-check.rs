//! `oci-check`: runs inside a container and prints facts about its own process and
//! environment as `key=value` lines (raw text for `mountinfo`, `cgroup`, `status`).
//!
//! It is built as a static binary (`-C target-feature=+crt-static`) so it runs in a bare
//! busybox rootfs; it uses only std and libc. Exit status is 0 unless the subcommand is
//! unknown or its arguments are missing; failures of the probed operation are reported
//! as `...errno=N` facts, never as a non-zero exit.

use std::ffi::CString;
use std::io::Write;
use std::os::unix::fs::{FileTypeExt, MetadataExt};

fn main() {
    let mut args: Vec<String> = std::env::args().collect();
    // `--out P` first: the facts go to file P instead of stdout (a process started by
    // `create` + `start` has no stdout the runner can read).
    let out_file = if args.get(1).is_some_and(|a| a == "--out") {
        let Some(p) = args.get(2).cloned() else {
            usage();
        };
        args.drain(1..3);
        Some(p)
    } else {
        None
    };
    let Some(cmd) = args.get(1) else {
        usage();
    };
    let rest = &args[2..];
    let mut out = String::new();
    match cmd.as_str() {
        "ids" => ids(&mut out),
        "status" => raw(&mut out, "/proc/self/status"),
        "mountinfo" | "mounts" => raw(&mut out, "/proc/self/mountinfo"),
        "cgroup" => raw(&mut out, "/proc/self/cgroup"),
        "rlimits" => rlimits(&mut out),
        "umask" => {
            // SAFETY: umask(2) cannot fail; the old value is restored at once.
            let old = unsafe { libc::umask(0) };
            unsafe { libc::umask(old) };
            line(&mut out, "umask", format!("{:04o}", old));
        }
        "cwd" => match std::env::current_dir() {
            Ok(p) => line(&mut out, "cwd", p.display()),
            Err(e) => line(&mut out, "cwd.errno", e.raw_os_error().unwrap_or(0)),
        },
        "env" => {
            for (k, v) in std::env::vars_os() {
                line(&mut out, &k.to_string_lossy(), v.to_string_lossy());
            }
        }
        "args" => {
            line(&mut out, "argc", args.len());
            for (i, a) in args.iter().enumerate() {
                line(&mut out, &format!("arg{i}"), a);
            }
        }
        "uname" | "hostname" | "domainname" => uname(&mut out),
        "personality" => {
            // SAFETY: 0xffffffff queries the persona without changing it.
            let p = unsafe { libc::personality(0xffff_ffff) };
            line(&mut out, "personality", format!("{:#x}", p));
        }
        "stat" => {
            need(rest, 1);
            for p in rest {
                stat(&mut out, p);
            }
        }
        "open" => {
            need(rest, 2);
            open(&mut out, &rest[0], &rest[1]);
        }
        "read" => {
            need(rest, 1);
            read(&mut out, &rest[0]);
        }
        "write" => {
            need(rest, 2);
            write(&mut out, &rest[0], &rest[1]);
        }
        "ls" => {
            need(rest, 1);
            match std::fs::read_dir(&rest[0]) {
                Ok(rd) => {
                    let mut names: Vec<String> = rd
                        .flatten()
                        .map(|e| e.file_name().to_string_lossy().into_owned())
                        .collect();
                    names.sort();
                    line(&mut out, "count", names.len());
                    line(&mut out, "entries", names.join(","));
                }
                Err(e) => line(&mut out, "ls.errno", e.raw_os_error().unwrap_or(0)),
            }
        }
        "mkdir" => {
            need(rest, 1);
            match std::fs::create_dir(&rest[0]) {
                Ok(()) => line(&mut out, "mkdir", "ok"),
                Err(e) => line(&mut out, "mkdir.errno", e.raw_os_error().unwrap_or(0)),
            }
        }
        "ns" => {
            for ns in ["cgroup", "ipc", "mnt", "net", "pid", "time", "user", "uts"] {
                if let Ok(t) = std::fs::read_link(format!("/proc/self/ns/{ns}")) {
                    line(&mut out, ns, t.display());
                }
            }
        }
        "oom_score_adj" => {
            let v = std::fs::read_to_string("/proc/self/oom_score_adj").unwrap_or_default();
            line(&mut out, "oom_score_adj", v.trim());
        }
        "fds" => {
            let mut fds = Vec::new();
            for fd in 0..4096 {
                // SAFETY: F_GETFD only queries the descriptor table.
                if unsafe { libc::fcntl(fd, libc::F_GETFD) } >= 0 {
                    fds.push(fd.to_string());
                }
            }
            line(&mut out, "fds", fds.join(","));
        }
        "tty" => tty(&mut out),
        "pid" => {
            line(&mut out, "pid", std::process::id());
            // SAFETY: getppid(2) cannot fail.
            line(&mut out, "ppid", unsafe { libc::getppid() });
        }
        "sysctl" => {
            need(rest, 1);
            let path = format!("/proc/sys/{}", rest[0].replace('.', "/"));
            match std::fs::read_to_string(&path) {
                Ok(v) => line(&mut out, &rest[0], v.trim()),
                Err(e) => line(&mut out, "sysctl.errno", e.raw_os_error().unwrap_or(0)),
            }
        }
        "seccomp" => seccomp(&mut out),
        "pause" => loop {
            // SAFETY: pause(2) just sleeps until a signal.
            unsafe { libc::pause() };
        },
        _ => usage(),
    }
    if let Some(p) = out_file {
        // A write error is a fact too, but with nowhere to print it: exit non-zero.
        if std::fs::write(&p, out.as_bytes()).is_err() {
            std::process::exit(3);
        }
        return;
    }
    let mut stdout = std::io::stdout().lock();
    let _ = stdout.write_all(out.as_bytes());
    let _ = stdout.flush();
}

fn usage() -> ! {
    eprintln!(
        "usage: oci-check [--out FILE] ids|status|mountinfo|cgroup|rlimits|umask|cwd|env|args|uname|\
         personality|stat P..|open P r|w|rw|read P|write P DATA|ls P|mkdir P|ns|\
         oom_score_adj|fds|tty|pid|sysctl KEY|seccomp|pause"
    );
    std::process::exit(2)
}

fn need(rest: &[String], n: usize) {
    if rest.len() < n {
        usage();
    }
}

fn line(out: &mut String, key: &str, value: impl std::fmt::Display) {
    let v = value.to_string().replace('\n', "\\n");
    out.push_str(&format!("{key}={v}\n"));
}

fn errno() -> i32 {
    std::io::Error::last_os_error().raw_os_error().unwrap_or(0)
}

fn raw(out: &mut String, path: &str) {
    match std::fs::read_to_string(path) {
        Ok(s) => out.push_str(&s),
        Err(e) => line(out, "errno", e.raw_os_error().unwrap_or(0)),
    }
}

fn ids(out: &mut String) {
    // SAFETY: the get*id calls cannot fail.
    unsafe {
        line(out, "uid", libc::getuid());
        line(out, "euid", libc::geteuid());
        line(out, "gid", libc::getgid());
        line(out, "egid", libc::getegid());
    }
    let mut groups = vec![0 as libc::gid_t; 1024];
    // SAFETY: the buffer holds 1024 entries and we pass that size.
    let n = unsafe { libc::getgroups(groups.len() as i32, groups.as_mut_ptr()) };
    let mut gs: Vec<u32> = groups[..n.max(0) as usize].to_vec();
    gs.sort_unstable();
    let gs: Vec<String> = gs.iter().map(|g| g.to_string()).collect();
    line(out, "groups", gs.join(","));
}

fn rlimits(out: &mut String) {
    let all: &[(&str, libc::__rlimit_resource_t)] = &[
        ("RLIMIT_AS", libc::RLIMIT_AS),
        ("RLIMIT_CORE", libc::RLIMIT_CORE),
        ("RLIMIT_CPU", libc::RLIMIT_CPU),
        ("RLIMIT_DATA", libc::RLIMIT_DATA),
        ("RLIMIT_FSIZE", libc::RLIMIT_FSIZE),
        ("RLIMIT_LOCKS", libc::RLIMIT_LOCKS),
        ("RLIMIT_MEMLOCK", libc::RLIMIT_MEMLOCK),
        ("RLIMIT_MSGQUEUE", libc::RLIMIT_MSGQUEUE),
        ("RLIMIT_NICE", libc::RLIMIT_NICE),
        ("RLIMIT_NOFILE", libc::RLIMIT_NOFILE),
        ("RLIMIT_NPROC", libc::RLIMIT_NPROC),
        ("RLIMIT_RSS", libc::RLIMIT_RSS),
        ("RLIMIT_RTPRIO", libc::RLIMIT_RTPRIO),
        ("RLIMIT_RTTIME", libc::RLIMIT_RTTIME),
        ("RLIMIT_SIGPENDING", libc::RLIMIT_SIGPENDING),
        ("RLIMIT_STACK", libc::RLIMIT_STACK),
    ];
    let fmt = |v: libc::rlim_t| {
        if v == libc::RLIM_INFINITY {
            "unlimited".to_string()
        } else {
            v.to_string()
        }
    };
    for (name, res) in all {
        let mut r = libc::rlimit {
            rlim_cur: 0,
            rlim_max: 0,
        };
        // SAFETY: r is a valid rlimit to fill.
        if unsafe { libc::getrlimit(*res, &mut r) } == 0 {
            line(
                out,
                name,
                format!("{}:{}", fmt(r.rlim_cur), fmt(r.rlim_max)),
            );
        } else {
            line(out, &format!("{name}.errno"), errno());
        }
    }
}

/// The seccomp mode and no_new_privs of this process, and two harmless system calls that
/// succeed (kcmp) or fail with ENOKEY (request_key) without a filter, so that the runner can
/// tell which errno a profile made them return. `done=1` last: the output is complete.
fn seccomp(out: &mut String) {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    for (key, name) in [("Seccomp", "seccomp"), ("NoNewPrivs", "nonewprivs")] {
        let v = status
            .lines()
            .find_map(|l| l.strip_prefix(key)?.strip_prefix(':'))
            .map_or("missing", str::trim);
        line(out, name, v);
    }
    // SAFETY: getpid(2) cannot fail.
    let pid = unsafe { libc::getpid() };
    // SAFETY: kcmp(2) of this process's memory with itself only compares kernel objects.
    let rc = unsafe {
        libc::syscall(libc::SYS_kcmp, pid, pid, 1 /* KCMP_VM */, 0, 0)
    };
    probe(out, "kcmp", rc);
    // SAFETY: NUL-terminated strings; a NULL callout makes request_key(2) only search the
    // existing keyrings, so nothing is created or upcalled.
    let rc = unsafe {
        libc::syscall(
            libc::SYS_request_key,
            c"user".as_ptr(),
            c"ongi-conformance-no-such-key".as_ptr(),
            std::ptr::null::<libc::c_char>(),
            0,
        )
    };
    probe(out, "request_key", rc);
    line(out, "done", 1);
}

fn probe(out: &mut String, name: &str, rc: libc::c_long) {
    if rc < 0 {
        line(out, &format!("{name}.errno"), errno());
    } else {
        line(out, name, rc);
    }
}

fn field(chars: &[libc::c_char]) -> String {
    let bytes: Vec<u8> = chars
        .iter()
        .take_while(|&&c| c != 0)
        .map(|&c| c as u8)
        .collect();
    String::from_utf8_lossy(&bytes).into_owned()
}

fn uname(out: &mut String) {
    // SAFETY: utsname is plain data; uname fills it.
    let mut u: libc::utsname = unsafe { std::mem::zeroed() };
    if unsafe { libc::uname(&mut u) } != 0 {
        line(out, "uname.errno", errno());
        return;
    }
    line(out, "nodename", field(&u.nodename));
    line(out, "domainname", field(&u.domainname));
    line(out, "machine", field(&u.machine));
    line(out, "release", field(&u.release));
}

fn stat(out: &mut String, p: &str) {
    match std::fs::symlink_metadata(p) {
        Ok(m) => {
            let ft = m.file_type();
            let kind = if ft.is_symlink() {
                "lnk"
            } else if ft.is_dir() {
                "dir"
            } else if ft.is_file() {
                "reg"
            } else if ft.is_char_device() {
                "chr"
            } else if ft.is_block_device() {
                "blk"
            } else if ft.is_fifo() {
                "fifo"
            } else if ft.is_socket() {
                "sock"
            } else {
                "unknown"
            };
            line(out, &format!("{p}.type"), kind);
            line(
                out,
                &format!("{p}.mode"),
                format!("{:04o}", m.mode() & 0o7777),
            );
            line(out, &format!("{p}.uid"), m.uid());
            line(out, &format!("{p}.gid"), m.gid());
            let rdev = m.rdev();
            line(
                out,
                &format!("{p}.rdev"),
                format!("{}:{}", libc::major(rdev), libc::minor(rdev)),
            );
            if ft.is_symlink() {
                if let Ok(t) = std::fs::read_link(p) {
                    line(out, &format!("{p}.link"), t.display());
                }
            }
        }
        Err(e) => line(out, &format!("{p}.errno"), e.raw_os_error().unwrap_or(0)),
    }
}

fn cpath(p: &str) -> CString {
    CString::new(p).unwrap_or_else(|_| usage())
}

fn open(out: &mut String, p: &str, mode: &str) {
    let flags = match mode {
        "r" => libc::O_RDONLY,
        "w" => libc::O_WRONLY,
        "rw" => libc::O_RDWR,
        _ => usage(),
    };
    let c = cpath(p);
    // SAFETY: valid NUL-terminated path; the fd is closed right away.
    let fd = unsafe { libc::open(c.as_ptr(), flags | libc::O_CLOEXEC | libc::O_NOCTTY) };
    if fd < 0 {
        line(out, "open.errno", errno());
    } else {
        line(out, "open", "ok");
        // SAFETY: fd was just opened by us.
        unsafe { libc::close(fd) };
    }
}

fn read(out: &mut String, p: &str) {
    let c = cpath(p);
    // SAFETY: valid NUL-terminated path.
    let fd = unsafe { libc::open(c.as_ptr(), libc::O_RDONLY | libc::O_CLOEXEC) };
    if fd < 0 {
        line(out, "read.errno", errno());
        return;
    }
    let mut buf = vec![0u8; 4096];
    // SAFETY: buf has buf.len() bytes of writable storage.
    let n = unsafe { libc::read(fd, buf.as_mut_ptr().cast(), buf.len()) };
    if n < 0 {
        line(out, "read.errno", errno());
    } else {
        let data = &buf[..n as usize];
        line(out, "bytes", n);
        line(out, "content", String::from_utf8_lossy(data).trim_end());
    }
    // SAFETY: fd is ours.
    unsafe { libc::close(fd) };
}

fn write(out: &mut String, p: &str, data: &str) {
    let c = cpath(p);
    // SAFETY: valid NUL-terminated path.
    let fd = unsafe {
        libc::open(
            c.as_ptr(),
            libc::O_WRONLY | libc::O_CREAT | libc::O_TRUNC | libc::O_CLOEXEC,
            0o644,
        )
    };
    if fd < 0 {
        line(out, "write.errno", errno());
        return;
    }
    // SAFETY: data is a valid buffer of data.len() bytes.
    let n = unsafe { libc::write(fd, data.as_ptr().cast(), data.len()) };
    if n < 0 {
        line(out, "write.errno", errno());
    } else {
        line(out, "write", "ok");
    }
    // SAFETY: fd is ours.
    unsafe { libc::close(fd) };
}

fn tty(out: &mut String) {
    for fd in 0..3 {
        // SAFETY: isatty only queries the fd.
        line(out, &format!("isatty{fd}"), unsafe { libc::isatty(fd) });
    }
    // SAFETY: ws is a valid winsize for TIOCGWINSZ to fill.
    let mut ws: libc::winsize = unsafe { std::mem::zeroed() };
    if unsafe { libc::ioctl(0, libc::TIOCGWINSZ, &mut ws) } == 0 {
        line(out, "rows", ws.ws_row);
        line(out, "cols", ws.ws_col);
    } else {
        line(out, "winsize.errno", errno());
    }
    if let Ok(t) = std::fs::read_link("/proc/self/fd/0") {
        line(out, "stdin", t.display());
    }
}
