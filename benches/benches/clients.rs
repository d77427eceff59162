//! `CLIENT run --rm IMAGE true` through ctr (containerd 1.6), podman and docker, each with
//! ongi, runc and crun: one warm-up call per runtime, then `CLIENT_BENCH_N` (default 11)
//! interleaved rounds (the order rotates each round), wall clock of each client call; prints
//! one `BENCH client=CLIENT n=N ongi=MS runc=MS crun=MS` line of medians per client.
//! benches/clients.sh runs it and prints the table of benches/README.md.
//!
//! The private daemons, time limits, image and teardown are the client tests' own
//! (runtime-cli/tests/common, included below); needs root, the clients of scripts/deps.sh
//! and crun, and the release `ongi` next to this executable's `deps/` dir
//! (`cargo build --release -p ongi-cli`).
//!
//!     cargo bench -p ongi-benches --bench clients [-- ctr podman docker]

// The client tests' support, compiled here as it is in ongi-cli's tests (the CLI tests'
// harness is not needed).
#[path = "../../runtime-cli/tests/common"]
#[allow(dead_code)]
mod common {
    pub mod clients;
    pub mod files;
    pub mod mountinfo;
    pub mod rootfs;
    pub mod runtime_bin;
    pub mod wait;
}

use common::clients::containerd::Daemon;
use common::clients::docker::Dockerd;
use common::clients::image::{docker_archive, oci_archive};
use common::clients::podman::Podman;
use common::clients::{test_dir, DirGuard, Out, IMAGE};
use common::files::{make_dir, path_str, write_file};
use common::runtime_bin::ongi;
use std::fmt::Write as _;
use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::time::Instant;

fn main() {
    let wanted: Vec<String> = std::env::args()
        .skip(1)
        .filter(|a| !a.starts_with('-'))
        .collect();
    let all = ["ctr", "podman", "docker"];
    for client in all {
        if !wanted.is_empty() && !wanted.iter().any(|w| w == client) {
            continue;
        }
        match client {
            "ctr" => bench_ctr(),
            "podman" => bench_podman(),
            _ => bench_docker(),
        }
    }
}

/// The runtimes compared: (name, path). crun is a wrapper named `crun` (podman picks JSON
/// logging by the basename) that runs /usr/bin/crun in a private mount namespace with
/// /dev/null over /sys/fs/cgroup/unified/cgroup.controllers: crun 1.8 refuses the hybrid
/// cgroup layout when that file lists controllers.
fn runtimes(dir: &Path) -> Vec<(&'static str, PathBuf)> {
    let wrapper_dir = dir.join("crun-hybrid");
    make_dir(&wrapper_dir);
    let crun = wrapper_dir.join("crun");
    write_file(
        &crun,
        "#!/bin/sh\nexec unshare -m sh -c 'mount --bind /dev/null /sys/fs/cgroup/unified/cgroup.controllers && exec /usr/bin/crun \"$@\"' sh \"$@\"\n",
    );
    fs::set_permissions(&crun, fs::Permissions::from_mode(0o755))
        .unwrap_or_else(|e| panic!("chmod {}: {e}", crun.display()));
    vec![
        ("ongi", ongi()),
        ("runc", PathBuf::from("/usr/sbin/runc")),
        ("crun", crun),
    ]
}

/// Rounds: `CLIENT_BENCH_N`, default 11.
fn rounds() -> usize {
    std::env::var("CLIENT_BENCH_N")
        .ok()
        .and_then(|s| s.parse().ok())
        .filter(|&n| n > 0)
        .unwrap_or(11)
}

/// One warm-up call per runtime, then [`rounds`] rounds calling `call(runtime, id)` once
/// per runtime (interleaved; the order rotates each round), timing each call's wall clock.
/// A failed call aborts the bench. Prints `BENCH client=CLIENT NAME=MED ...` (ms).
fn run_rm(
    client: &str,
    runtimes: &[(&'static str, PathBuf)],
    mut call: impl FnMut(usize, &str) -> Out,
) {
    let n = rounds();
    let mut times: Vec<Vec<f64>> = vec![Vec::new(); runtimes.len()];
    for round in 0..=n {
        for k in 0..runtimes.len() {
            let i = (k + round) % runtimes.len();
            let id = format!("b{round}{}", runtimes[i].0);
            let t = Instant::now();
            let out = call(i, &id);
            let ms = t.elapsed().as_secs_f64() * 1000.0;
            assert!(out.ok(), "{client} with {}: {out}", runtimes[i].0);
            if round > 0 {
                times[i].push(ms);
            }
        }
    }
    let mut line = format!("BENCH client={client} n={n}");
    for (i, (name, _)) in runtimes.iter().enumerate() {
        eprintln!("{client} {name}: {:?}", times[i]);
        let _ = write!(line, " {name}={:.1}", median(&mut times[i]));
    }
    println!("{line}");
}

fn median(v: &mut [f64]) -> f64 {
    v.sort_by(f64::total_cmp);
    match v.len() {
        0 => f64::NAN,
        n if n % 2 == 1 => v[n / 2],
        n => (v[n / 2 - 1] + v[n / 2]) / 2.0,
    }
}

/// `ctr run --rm --runc-binary RT IMAGE ID true`.
fn bench_ctr() {
    let ns = format!("ongi-bench-{}", std::process::id());
    let d = Daemon::start_for_ctr("cbench", &ns);
    let image = oci_archive(&d.dir, "image.tar", &[(IMAGE, &["/bin/sh"])]);
    let out = d
        .try_ctr(
            &ns,
            &["images", "import", path_str(&image)],
            common::clients::STEP_LIMIT,
        )
        .unwrap_or_else(|e| panic!("{e}"));
    assert!(out.ok(), "ctr images import: {out}");
    let runtimes = runtimes(&d.dir);
    let root = path_str(&d.dir.join("runc-root")).to_string();
    let fifo = path_str(&d.dir.join("fifo")).to_string();
    run_rm("ctr", &runtimes, |i, id| {
        let rt = path_str(&runtimes[i].1);
        d.try_ctr(
            &ns,
            &[
                "run",
                "--rm",
                "--runc-binary",
                rt,
                "--runc-root",
                &root,
                "--fifo-dir",
                &fifo,
                IMAGE,
                id,
                "true",
            ],
            common::clients::STEP_LIMIT,
        )
        .unwrap_or_else(|e| panic!("{e}"))
    });
}

/// `podman --runtime PATH run --rm IMAGE true`.
fn bench_podman() {
    let dir = test_dir("pbench");
    let _dir_guard = DirGuard(dir.clone());
    let image = docker_archive(&dir, IMAGE);
    let runtimes = runtimes(&dir);
    let p = Podman::new(&dir);
    let out = p.podman(&["load", "-i", path_str(&image)]);
    assert!(out.ok(), "{out}");
    run_rm("podman", &runtimes, |i, id| {
        p.podman(&[
            "--runtime",
            path_str(&runtimes[i].1),
            "run",
            "--rm",
            "--network",
            "none",
            "--name",
            id,
            IMAGE,
            "true",
        ])
    });
}

/// `docker run --rm --runtime NAME IMAGE true`, runc and crun registered as runtimes
/// `bench-runc` and `bench-crun`.
fn bench_docker() {
    let dir = test_dir("dbench");
    let _dir_guard = DirGuard(dir.clone());
    let image = docker_archive(&dir, IMAGE);
    let runtimes = runtimes(&dir);
    let d = Dockerd::start(&dir);
    let load = d.docker(&["load", "-i", path_str(&image)]);
    assert!(load.ok(), "{load}");
    let names = ["ongi", "bench-runc", "bench-crun"];
    let extra: Vec<(&str, &Path)> = names[1..]
        .iter()
        .zip(&runtimes[1..])
        .map(|(n, (_, p))| (*n, p.as_path()))
        .collect();
    assert!(d.add_runtimes(&extra), "dockerd did not take the runtimes");
    run_rm("docker", &runtimes, |i, id| {
        d.docker(&[
            "run",
            "--rm",
            "--runtime",
            names[i],
            "--network",
            "none",
            "--name",
            id,
            IMAGE,
            "true",
        ])
    });
}
