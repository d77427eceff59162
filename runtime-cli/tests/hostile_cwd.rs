//! Hostile working directories (the CVE-2024-21626 class): a process.cwd, an `exec --cwd`
//! or a symlink planted in the container that names /proc/self/fd/N must never leave the
//! process in a host directory the runtime still had open.
//!
//! Every probe runs relative to its cwd: it tries to read a host file and to write one,
//! both through enough `..` to reach the host root from anywhere, and to drop a file in
//! its cwd. A process that stayed inside the container can do none of that to the host.

mod common;

use common::*;
use serde_json::json;
use std::path::{Path, PathBuf};

/// The fd numbers tried: the first ones the runtime opens after stdio.
const FDS: std::ops::RangeInclusive<u32> = 3..=9;

const CANARY: &str = "ongi-escape-canary";

struct HostFiles {
    secret: PathBuf,
    secret_text: String,
    /// Must never come into existence.
    target: PathBuf,
}

fn host_files(h: &Harness) -> HostFiles {
    let secret = h.work().join("host-secret");
    let secret_text = format!("HOST-SECRET-{}", h.marker());
    write_file(&secret, &secret_text);
    HostFiles {
        secret,
        secret_text,
        target: h.work().join("host-canary"),
    }
}

impl HostFiles {
    /// A shell script that tries to escape through its cwd.
    fn probe(&self) -> String {
        let up = "../../../../../../../../../../../..";
        format!(
            "echo cwd=$(pwd); cat {up}{s} 2>/dev/null; echo pwned > {CANARY} 2>/dev/null; \
             echo pwned > {up}{t} 2>/dev/null; ls {up}/ 2>/dev/null | head -3; exit 0",
            s = self.secret.display(),
            t = self.target.display()
        )
    }

    /// Nothing of the host was read or written.
    #[track_caller]
    fn assert_contained(&self, h: &Harness, out: &Output, what: &str) {
        assert!(
            !out.stdout.contains(&self.secret_text) && !out.stderr.contains(&self.secret_text),
            "{what}: the process read a host file:\n{out}"
        );
        assert!(
            !self.target.exists(),
            "{what}: the process wrote the host file {}:\n{out}",
            self.target.display()
        );
        if let Some(p) = find_named(h.root(), CANARY) {
            panic!(
                "{what}: the process wrote {} on the host:\n{out}",
                p.display()
            );
        }
    }
}

/// A file named `name` anywhere below `dir` (the runtime's host state root).
fn find_named(dir: &Path, name: &str) -> Option<PathBuf> {
    for e in std::fs::read_dir(dir).ok()?.flatten() {
        let p = e.path();
        if e.file_name() == name {
            return Some(p);
        }
        if e.file_type().is_ok_and(|t| t.is_dir()) {
            if let Some(found) = find_named(&p, name) {
                return Some(found);
            }
        }
    }
    None
}

/// The runtime refused the cwd with an error naming it.
#[track_caller]
fn assert_refused(out: &Output, cwd: &str, what: &str) {
    assert!(
        matches!(out.code(), Some(c) if c != 0),
        "{what}: the process ran:\n{out}"
    );
    assert!(
        out.stderr.contains(cwd),
        "{what}: the error does not name {cwd}:\n{out}"
    );
}

/// A writable-root container whose process.cwd is /work.
fn work_spec() -> Spec {
    Spec::new()
        .set("/root/readonly", json!(false))
        .set("/process/cwd", json!("/work"))
}

#[test]
fn exec_cannot_enter_a_host_fd() {
    let h = Harness::new("cwd_exec");
    let host = host_files(&h);
    // The container itself replaces its cwd with a link to the exec'd process's fd 3.
    let c = h.start(&work_spec().sh(
        "cd / && rm -rf /work && ln -s /proc/self/fd/3 /work && touch /planted && exec sleep 1000",
    ));
    let planted = wait_until(STATE_TIMEOUT, || {
        h.rt(&["exec", "--cwd", "/", &c.id, "test", "-e", "/planted"])
            .ok()
    });
    assert!(planted, "the container never replaced /work");
    for n in FDS {
        let link = format!("/proc/self/fd/{n}");
        h.rt(&["exec", "--cwd", "/", &c.id, "ln", "-sfn", &link, "/work"])
            .expect_ok();
        // A plain exec: process.cwd of config.json, i.e. /work.
        let out = h.rt(&["exec", &c.id, "sh", "-c", &host.probe()]);
        let what = format!("exec with /work -> {link}");
        host.assert_contained(&h, &out, &what);
        assert_refused(&out, "/work", &what);
        let out = h.rt(&["exec", "--cwd", &link, &c.id, "sh", "-c", &host.probe()]);
        let what = format!("exec --cwd {link}");
        host.assert_contained(&h, &out, &what);
        assert_refused(&out, &link, &what);
    }
    // The same exec with an ordinary cwd works: the refusals above are about the cwd.
    let out = h.rt(&["exec", "--cwd", "/bin", &c.id, "sh", "-c", &host.probe()]);
    host.assert_contained(&h, &out, "exec --cwd /bin");
    assert!(out.stdout.starts_with("cwd=/bin\n"), "{out}");
    assert_eq!(h.status(&c.id), "running");
}

/// `run` a bundle and expect the cwd to be refused with nothing left behind.
#[track_caller]
fn run_refused(h: &Harness, host: &HostFiles, bundle: &Path, cwd: &str, what: &str) {
    let id = h.new_id();
    let out = h.rt(&["run", "--bundle", path_str(bundle), &id]);
    host.assert_contained(h, &out, what);
    assert_refused(&out, cwd, what);
    h.assert_no_trace(&id);
}

#[test]
fn run_cannot_enter_a_host_fd() {
    let h = Harness::new("cwd_run");
    let host = host_files(&h);
    for n in FDS {
        let link = format!("/proc/self/fd/{n}");
        // Named by config.json.
        let spec = work_spec()
            .set("/process/cwd", json!(link))
            .sh(&host.probe());
        run_refused(&h, &host, &h.bundle(&spec), &link, &format!("cwd {link}"));
        // Planted in the image.
        let bundle = h.bundle(&work_spec().sh(&host.probe()));
        std::os::unix::fs::symlink(&link, bundle.join("rootfs/work")).expect("plant symlink");
        run_refused(
            &h,
            &host,
            &bundle,
            "/work",
            &format!("image /work -> {link}"),
        );
    }
}

#[test]
fn run_cannot_enter_a_host_fd_swapped_in_after_the_check() {
    // The rootfs changes between the runtime's look at process.cwd (it creates a missing
    // one) and init's chdir: as when another container shares the rootfs, or the mount
    // namespace is joined. A createContainer hook, which runs in between, stands in for
    // that writer and swaps /work for a link to init's own fd N.
    let h = Harness::new("cwd_swap");
    let host = host_files(&h);
    for n in FDS {
        let link = format!("/proc/self/fd/{n}");
        let bundle = h.bare_bundle();
        let work = bundle.join("rootfs/work");
        let swap = format!("rm -rf {0} && ln -s {link} {0}", work.display());
        let spec = work_spec().sh(&host.probe()).set(
            "/hooks/createContainer",
            json!([{ "path": "/bin/sh", "args": ["sh", "-c", swap] }]),
        );
        h.write_config(&bundle, &spec);
        run_refused(
            &h,
            &host,
            &bundle,
            "/work",
            &format!("/work -> {link} after the check"),
        );
        assert!(
            std::fs::symlink_metadata(&work).is_ok_and(|m| m.file_type().is_symlink()),
            "the hook did not swap /work"
        );
    }
    // Without the swap the same container runs in /work.
    let out = h.run(&work_spec().sh(&host.probe())).expect_ok();
    host.assert_contained(&h, &out, "plain /work");
    assert!(out.stdout.starts_with("cwd=/work\n"), "{out}");
}
