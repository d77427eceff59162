//! The engine against podman and docker (issue 14's benchmarks), all from one private
//! docker-registry on 127.0.0.1 (the test support's: Debian's docker-registry, images pushed
//! by skopeo). Three parts, each interleaved (every round runs each engine once, the order
//! rotating), wall clock of each command, medians with p10-p90 (or min-max) spread:
//!
//! - `run`: `ENGINE run --rm --network none IMAGE true` with ongictl, podman (its default
//!   OCI runtime: crun, or runc if crun refuses this host) and a private dockerd (runc);
//!   `ENGINE_BENCH_N` rounds (default 21) after one warm-up each.
//! - `detached`: `ENGINE run -d --network none IMAGE sleep 1000` x `ENGINE_BENCH_DETACHED`
//!   (default 50) per engine, the time to start them all, then the RSS and PSS
//!   (/proc/PID/smaps_rollup) of each per-container process: ongi-monitor, conmon (podman),
//!   containerd-shim-runc-v2 (docker); then `rm -f` of them all.
//! - `pull`: a ~200 MiB, 5-layer gzip image (busybox + 5 x 40 MiB of base64 text of random
//!   bytes, built here, pushed by skopeo) pulled from empty storage by `ongictl pull`,
//!   `podman pull` and `skopeo copy docker://... dir:...`; `ENGINE_BENCH_PULL_N` rounds
//!   (default 5); `sync` (untimed) before each pull.
//!
//! Needs root, the tools of scripts/deps.sh (podman, docker.io, docker-registry, skopeo) and
//! the release `ongictl`/`ongi-monitor` next to this executable's `deps/` dir
//! (`cargo build --release -p ongi-cli`). benches/engine.sh runs it under `nice -n -20`.
//!
//!     cargo bench -p ongi-benches --bench engine [-- run detached pull]

// The client and engine tests' support, compiled here as it is in ongi-cli's tests.
#[path = "../../runtime-cli/tests/common"]
#[allow(dead_code)]
mod common {
    pub mod clients;
    pub mod engine;
    pub mod files;
    pub mod mountinfo;
    pub mod rootfs;
    pub mod runtime_bin;
    pub mod wait;
}

use common::clients::docker::Dockerd;
use common::clients::podman::Podman;
use common::clients::{run_limited, test_dir, DirGuard, Out, STEP_LIMIT};
use common::engine::{registry_with_busybox, Engine};
use common::files::{make_dir, path_str, write_file};
use common::rootfs::build_rootfs;
use std::fs;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

fn main() {
    let wanted: Vec<String> = std::env::args()
        .skip(1)
        .filter(|a| !a.starts_with('-'))
        .collect();
    let want = |p: &str| wanted.is_empty() || wanted.iter().any(|w| w == p);
    println!("load before: {}", load());
    if want("run") || want("detached") {
        bench_run_and_detached(want("run"), want("detached"));
    }
    if want("pull") {
        bench_pull();
    }
    println!("load after: {}", load());
}

fn env_n(var: &str, default: usize) -> usize {
    std::env::var(var)
        .ok()
        .and_then(|s| s.parse().ok())
        .filter(|&n| n > 0)
        .unwrap_or(default)
}

/// The 1, 5 and 15 minute load averages.
fn load() -> String {
    fs::read_to_string("/proc/loadavg")
        .unwrap_or_default()
        .split(' ')
        .take(3)
        .collect::<Vec<_>>()
        .join(" ")
}

/// Runs `cmd` (stdin /dev/null, stdout/stderr to files below `dir`: a detached monitor that
/// inherits them must not hold a pipe open) and blocks in wait(2) for it, so the wall clock
/// is exact (the test support polls every 10 ms); a watchdog SIGKILLs its process group
/// after [`STEP_LIMIT`]. Returns the output and the milliseconds it took.
fn timed(cmd: &mut Command, dir: &Path) -> (Out, f64) {
    let out_path = dir.join("timed.out");
    let err_path = dir.join("timed.err");
    let file = |p: &Path| fs::File::create(p).unwrap_or_else(|e| panic!("{}: {e}", p.display()));
    let argv = format!("{cmd:?}");
    let t = Instant::now();
    let mut child = cmd
        .stdin(Stdio::null())
        .stdout(file(&out_path))
        .stderr(file(&err_path))
        .process_group(0)
        .spawn()
        .unwrap_or_else(|e| panic!("spawn {argv}: {e}"));
    let pgid = child.id() as i32;
    let (done, stop) = mpsc::channel::<()>();
    let watchdog = std::thread::spawn(move || {
        if stop.recv_timeout(STEP_LIMIT) == Err(mpsc::RecvTimeoutError::Timeout) {
            // SAFETY: kill(2) of the process group made for this child, not yet reaped.
            unsafe { libc::kill(-pgid, libc::SIGKILL) };
        }
    });
    let status = child
        .wait()
        .unwrap_or_else(|e| panic!("wait for {argv}: {e}"));
    let ms = t.elapsed().as_secs_f64() * 1000.0;
    let _ = done.send(());
    let _ = watchdog.join();
    let read = |p: &Path| String::from_utf8_lossy(&fs::read(p).unwrap_or_default()).into_owned();
    let out = Out {
        argv,
        status,
        stdout: read(&out_path),
        stderr: read(&err_path),
    };
    (out, ms)
}

/// Median, and the spread as (p10, p90) for 10 or more samples, else (min, max).
fn stats(v: &[f64]) -> (f64, f64, f64) {
    let mut v = v.to_vec();
    v.sort_by(f64::total_cmp);
    let n = v.len();
    if n == 0 {
        return (f64::NAN, f64::NAN, f64::NAN);
    }
    let med = if n % 2 == 1 {
        v[n / 2]
    } else {
        (v[n / 2 - 1] + v[n / 2]) / 2.0
    };
    if n >= 10 {
        (med, v[n / 10], v[n - 1 - n / 10])
    } else {
        (med, v[0], v[n - 1])
    }
}

/// The engines of the `run` and `detached` parts: how to build each command.
struct Engines<'a> {
    e: &'a Engine,
    p: &'a Podman,
    podman_rt: String,
    d: &'a Dockerd,
}

const NAMES: [&str; 3] = ["ongictl", "podman", "docker"];

impl Engines<'_> {
    fn cmd(&self, i: usize, args: &[&str]) -> Command {
        match i {
            0 => {
                let mut c = Command::new(common::engine::ongictl());
                c.arg("--root")
                    .arg(&self.e.root)
                    .arg("--run-root")
                    .arg(&self.e.run_root)
                    .args(args);
                c
            }
            1 => {
                let mut c = self.p.cli();
                // The support's podman names ongi as its runtime; the last --runtime wins.
                c.args(["--runtime", &self.podman_rt]).args(args);
                c
            }
            _ => {
                let mut c = self.d.cli();
                c.args(args);
                c
            }
        }
    }

    fn dir(&self, i: usize) -> &Path {
        match i {
            0 => &self.e.dir,
            1 => &self.p.dir,
            _ => &self.d.dir,
        }
    }

    /// `ENGINE ARGS`, which must succeed; its output and milliseconds.
    fn ok(&self, i: usize, args: &[&str]) -> (Out, f64) {
        let (out, ms) = timed(&mut self.cmd(i, args), self.dir(i));
        assert!(out.ok(), "{}: {out}", NAMES[i]);
        (out, ms)
    }
}

fn bench_run_and_detached(run: bool, detached: bool) {
    let dir = test_dir("ebench");
    let _dir_guard = DirGuard(dir.clone());
    let e = Engine::new("ebench");
    let reg = registry_with_busybox(&e.dir);
    let image = reg.image.clone();
    let p = Podman::new(&dir);
    let d = Dockerd::start(&dir);
    // Debian's podman defaults to crun; crun 1.8 refuses this host's hybrid cgroup layout
    // when the unified hierarchy lists controllers, and podman then needs runc.
    let mut eng = Engines {
        e: &e,
        p: &p,
        podman_rt: std::env::var("ENGINE_BENCH_PODMAN_RUNTIME").unwrap_or_else(|_| "crun".into()),
        d: &d,
    };
    eng.ok(0, &["pull", "-q", &image]);
    eng.ok(1, &["pull", "-q", "--tls-verify=false", &image]);
    // 127.0.0.0/8 is an insecure registry to dockerd by default.
    eng.ok(2, &["pull", "-q", &image]);
    let probe = timed(
        &mut eng.cmd(1, &["run", "--rm", "--network", "none", &image, "true"]),
        &p.dir,
    )
    .0;
    if !probe.ok() && eng.podman_rt == "crun" {
        println!(
            "podman with crun failed on this host ({}); using runc",
            probe.stderr.lines().last().unwrap_or("").trim()
        );
        eng.podman_rt = "runc".into();
    }
    println!(
        "podman runtime: {} ({}); docker runtime: runc; image {image}",
        eng.podman_rt,
        version(&["podman", "--version"])
    );
    if run {
        bench_run(&eng, &image);
    }
    if detached {
        bench_detached(&eng, &image);
    }
}

fn version(argv: &[&str]) -> String {
    Command::new(argv[0])
        .args(&argv[1..])
        .output()
        .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_string())
        .unwrap_or_default()
}

/// `ENGINE run --rm --network none IMAGE true`, interleaved.
fn bench_run(eng: &Engines, image: &str) {
    let n = env_n("ENGINE_BENCH_N", 21);
    let args = ["run", "--rm", "--network", "none", image, "true"];
    let mut times: Vec<Vec<f64>> = vec![Vec::new(); 3];
    let load0 = load();
    for round in 0..=n {
        for k in 0..3 {
            let i = (k + round) % 3;
            let (_, ms) = eng.ok(i, &args);
            if round > 0 {
                times[i].push(ms);
            }
        }
    }
    println!();
    println!(
        "## run --rm IMAGE true: {n} interleaved rounds after 1 warm-up; load {load0} before, {} after",
        load()
    );
    println!();
    println!("| engine | median ms | p10-p90 ms | / ongictl |");
    println!("|---|---:|---:|---:|");
    let base = stats(&times[0]).0;
    for (i, name) in NAMES.iter().enumerate() {
        eprintln!("run {name}: {:?}", times[i]);
        let (m, lo, hi) = stats(&times[i]);
        println!("| {name} | {m:.1} | {lo:.1}-{hi:.1} | {:.2} |", m / base);
    }
    let (o, p, d) = (stats(&times[0]).0, stats(&times[1]).0, stats(&times[2]).0);
    println!();
    println!(
        "ongictl / podman = {:.3} (goal <= 0.25); ongictl / docker = {:.3}",
        o / p,
        o / d
    );
}

/// Rss, Pss and Anonymous (KiB: private memory, heap and stack) of a process, from
/// /proc/PID/smaps_rollup.
fn rss_pss(pid: i32) -> Option<(u64, u64, u64)> {
    let text = fs::read_to_string(format!("/proc/{pid}/smaps_rollup")).ok()?;
    let field = |name: &str| {
        text.lines()
            .find(|l| l.starts_with(name))
            .and_then(|l| l.split_whitespace().nth(1))
            .and_then(|v| v.parse::<u64>().ok())
    };
    Some((field("Rss:")?, field("Pss:")?, field("Anonymous:")?))
}

/// Live processes whose argv[0]'s file name is `exe` and whose command line contains
/// `needle` (a path private to this bench).
fn pids_of(exe: &str, needle: &str) -> Vec<i32> {
    let mut out = vec![];
    for ent in fs::read_dir("/proc").into_iter().flatten().flatten() {
        let Some(pid) = ent.file_name().to_str().and_then(|s| s.parse::<i32>().ok()) else {
            continue;
        };
        // By argv[0]: ongi-monitor re-executes itself from a detached read-only mount of
        // its binary (ongi::exe), so neither /proc/PID/exe nor comm name it.
        let cmdline = fs::read(ent.path().join("cmdline")).unwrap_or_default();
        let cmdline = String::from_utf8_lossy(&cmdline);
        let argv0 = cmdline.split('\0').next().unwrap_or_default();
        if Path::new(argv0).file_name().and_then(|n| n.to_str()) == Some(exe)
            && cmdline.contains(needle)
        {
            out.push(pid);
        }
    }
    out.sort_unstable();
    out
}

/// N detached `sleep 1000` containers per engine (interleaved), the time to start them
/// all, the per-container process's memory, then `rm -f` of them all.
fn bench_detached(eng: &Engines, image: &str) {
    let n = env_n("ENGINE_BENCH_DETACHED", 50);
    let args = ["run", "-d", "--network", "none", image, "sleep", "1000"];
    let mut times: Vec<Vec<f64>> = vec![Vec::new(); 3];
    let mut ids: Vec<Vec<String>> = vec![Vec::new(); 3];
    let load0 = load();
    for round in 0..n {
        for k in 0..3 {
            let i = (k + round) % 3;
            let (out, ms) = eng.ok(i, &args);
            times[i].push(ms);
            ids[i].push(out.text().to_string());
        }
    }
    let load1 = load();
    // Let start-up transients (podman's cleanup processes, page faults of first use) settle.
    std::thread::sleep(Duration::from_secs(2));
    let procs = [
        (
            "ongi-monitor",
            pids_of("ongi-monitor", path_str(&eng.e.dir)),
        ),
        ("conmon", pids_of("conmon", path_str(&eng.p.dir))),
        (
            "containerd-shim-runc-v2",
            pids_of("containerd-shim-runc-v2", path_str(&eng.d.dir)),
        ),
    ];
    // ENGINE_BENCH_SMAPS=DIR: keep /proc/PID/smaps of one process of each kind there.
    if let Ok(keep) = std::env::var("ENGINE_BENCH_SMAPS") {
        for (name, pids) in &procs {
            if let Some(pid) = pids.first() {
                let _ = fs::copy(
                    format!("/proc/{pid}/smaps"),
                    Path::new(&keep).join(format!("{name}.smaps")),
                );
            }
        }
    }
    let mut mem = vec![];
    for (name, pids) in &procs {
        let m: Vec<(u64, u64, u64)> = pids.iter().filter_map(|&p| rss_pss(p)).collect();
        mem.push((*name, m));
    }
    let mut rm_ms = [0.0; 3];
    for (i, list) in ids.iter().enumerate() {
        let mut a: Vec<&str> = vec!["rm", "-f"];
        if i == 1 {
            a.extend(["-t", "0"]);
        }
        a.extend(list.iter().map(String::as_str));
        rm_ms[i] = eng.ok(i, &a).1;
    }
    println!();
    println!(
        "## {n} detached containers (run -d IMAGE sleep 1000, interleaved); load {load0} before, {load1} after"
    );
    println!();
    println!("| engine | all {n} started, s | per run -d, median ms (p10-p90) | rm -f of all, s |");
    println!("|---|---:|---:|---:|");
    for (i, name) in NAMES.iter().enumerate() {
        let total: f64 = times[i].iter().sum();
        let (m, lo, hi) = stats(&times[i]);
        println!(
            "| {name} | {:.2} | {m:.1} ({lo:.1}-{hi:.1}) | {:.2} |",
            total / 1000.0,
            rm_ms[i] / 1000.0
        );
    }
    println!();
    println!("| per-container process | count | RSS KiB median (min-max) | PSS KiB median (min-max) | anon KiB median |");
    println!("|---|---:|---:|---:|---:|");
    for (name, m) in &mem {
        let rss: Vec<f64> = m.iter().map(|x| x.0 as f64).collect();
        let pss: Vec<f64> = m.iter().map(|x| x.1 as f64).collect();
        let (r, rlo, rhi) = min_max_med(&rss);
        let (p, plo, phi) = min_max_med(&pss);
        let anon: Vec<f64> = m.iter().map(|x| x.2 as f64).collect();
        println!(
            "| {name} | {} | {r:.0} ({rlo:.0}-{rhi:.0}) | {p:.0} ({plo:.0}-{phi:.0}) | {:.0} |",
            m.len(),
            stats(&anon).0
        );
    }
}

fn min_max_med(v: &[f64]) -> (f64, f64, f64) {
    let (m, _, _) = stats(v);
    let lo = v.iter().copied().fold(f64::INFINITY, f64::min);
    let hi = v.iter().copied().fold(f64::NEG_INFINITY, f64::max);
    (m, lo, hi)
}

/// Runs a shell script in `dir`, which must succeed; its stdout.
fn sh(dir: &Path, script: &str) -> String {
    let out = run_limited(
        Command::new("sh").args(["-euc", script]),
        dir,
        Duration::from_secs(300),
    )
    .unwrap_or_else(|e| panic!("{e}"));
    assert!(out.ok(), "{out}");
    out.stdout
}

/// Writes an OCI image layout at `dir/layout` with 5 gzip layers: the first holds busybox
/// and every one 4 files of 10 MiB (base64 text of random bytes: compresses to ~3/4, like
/// real content more than zeros or raw random bytes would). Returns (uncompressed,
/// compressed) bytes.
fn big_image(dir: &Path) -> (u64, u64) {
    let layout = dir.join("layout");
    make_dir(&layout.join("blobs/sha256"));
    let mut layers = vec![];
    let mut diff_ids = vec![];
    let (mut raw, mut packed) = (0u64, 0u64);
    for l in 0..5 {
        let tree = dir.join(format!("layer{l}"));
        make_dir(&tree);
        if l == 0 {
            build_rootfs(&tree);
        }
        let script = format!(
            "mkdir -p {t}/data{l}
             for f in 1 2 3 4; do head -c 7864320 /dev/urandom | base64 > {t}/data{l}/f$f; done
             tar --sort=name --owner=0 --group=0 --numeric-owner --mtime=@0 -C {t} -cf {t}.tar .
             rm -rf {t}
             set -- $(sha256sum {t}.tar); diff=$1
             raw=$(stat -c %s {t}.tar)
             gzip -n {t}.tar
             set -- $(sha256sum {t}.tar.gz); dig=$1
             mv {t}.tar.gz {b}/$dig
             echo $diff $dig $raw $(stat -c %s {b}/$dig)",
            t = path_str(&tree),
            b = path_str(&layout.join("blobs/sha256")),
        );
        let line = sh(dir, &script);
        let f: Vec<&str> = line.split_whitespace().collect();
        assert_eq!(f.len(), 4, "layer script: {line}");
        raw += f[2].parse::<u64>().unwrap_or(0);
        let size: u64 = f[3].parse().unwrap_or(0);
        packed += size;
        diff_ids.push(format!("sha256:{}", f[0]));
        layers.push(serde_json::json!({
            "mediaType": "application/vnd.oci.image.layer.v1.tar+gzip",
            "digest": format!("sha256:{}", f[1]), "size": size
        }));
    }
    let config = serde_json::json!({
        "architecture": "amd64", "os": "linux", "created": "1970-01-01T00:00:00Z",
        "config": {
            "Env": ["PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"],
            "Cmd": ["/bin/sh"]
        },
        "rootfs": { "type": "layers", "diff_ids": diff_ids },
    });
    let blob = |v: &serde_json::Value| -> (String, usize) {
        let text = v.to_string();
        let tmp = dir.join("blob.json");
        write_file(&tmp, &text);
        let sum = sh(dir, &format!("sha256sum {}", path_str(&tmp)));
        let sum = sum
            .split_whitespace()
            .next()
            .unwrap_or_default()
            .to_string();
        fs::rename(&tmp, layout.join("blobs/sha256").join(&sum))
            .unwrap_or_else(|e| panic!("blob {sum}: {e}"));
        (format!("sha256:{sum}"), text.len())
    };
    let (cd, cs) = blob(&config);
    let manifest = serde_json::json!({
        "schemaVersion": 2,
        "mediaType": "application/vnd.oci.image.manifest.v1+json",
        "config": { "mediaType": "application/vnd.oci.image.config.v1+json", "digest": cd, "size": cs },
        "layers": layers
    });
    let (md, ms) = blob(&manifest);
    let index = serde_json::json!({ "schemaVersion": 2, "manifests": [{
        "mediaType": "application/vnd.oci.image.manifest.v1+json", "digest": md, "size": ms,
        "annotations": { "org.opencontainers.image.ref.name": "big" }
    }]});
    write_file(&layout.join("index.json"), &index.to_string());
    write_file(
        &layout.join("oci-layout"),
        r#"{"imageLayoutVersion":"1.0.0"}"#,
    );
    (raw, packed)
}

/// Pull of the big image from empty storage: ongictl, podman, skopeo to a directory.
fn bench_pull() {
    let n = env_n("ENGINE_BENCH_PULL_N", 5);
    let dir = test_dir("epull");
    let _dir_guard = DirGuard(dir.clone());
    let reg = common::clients::Registry::start(&dir);
    let (raw, packed) = big_image(&dir);
    let image = format!("{}/bench/big:v1", reg.addr);
    sh(
        &dir,
        &format!(
            "skopeo copy --quiet --dest-tls-verify=false oci:{}:big docker://{image}",
            path_str(&dir.join("layout"))
        ),
    );
    let _ = fs::remove_dir_all(dir.join("layout"));
    let names = ["ongictl", "podman", "skopeo-dir"];
    let mut times: Vec<Vec<f64>> = vec![Vec::new(); 3];
    let load0 = load();
    for round in 0..n {
        for k in 0..3 {
            let i = (k + round) % 3;
            let ms = pull_once(i, &dir, &image, round);
            times[i].push(ms);
        }
    }
    println!();
    println!(
        "## pull of a 5-layer image ({:.0} MiB, {:.0} MiB gzip) from empty storage, {n} interleaved rounds; load {load0} before, {} after",
        raw as f64 / 1048576.0,
        packed as f64 / 1048576.0,
        load()
    );
    println!();
    println!("| client | median s | min-max s | / podman |");
    println!("|---|---:|---:|---:|");
    let pod = stats(&times[1]).0;
    for (i, name) in names.iter().enumerate() {
        eprintln!("pull {name}: {:?}", times[i]);
        let (m, lo, hi) = stats(&times[i]);
        println!(
            "| {name} | {:.2} | {:.2}-{:.2} | {:.2} |",
            m / 1000.0,
            lo / 1000.0,
            hi / 1000.0,
            m / pod
        );
    }
    println!();
    println!(
        "ongictl / podman = {:.3} (goal <= 0.7)",
        stats(&times[0]).0 / pod
    );
}

/// One pull by client `i` into fresh storage (removed afterwards, untimed); milliseconds.
fn pull_once(i: usize, dir: &Path, image: &str, round: usize) -> f64 {
    sh(dir, "sync");
    match i {
        0 => {
            let e = Engine::new(&format!("epull{round}"));
            let mut c = Command::new(common::engine::ongictl());
            c.arg("--root")
                .arg(&e.root)
                .arg("--run-root")
                .arg(&e.run_root)
                .args(["pull", "-q", image]);
            let (out, ms) = timed(&mut c, &e.dir);
            assert!(out.ok(), "ongictl pull: {out}");
            ms
        }
        1 => {
            let pdir = dir.join(format!("p{round}"));
            make_dir(&pdir);
            let p = Podman::new(&pdir);
            let mut c = p.cli();
            c.args(["pull", "-q", "--tls-verify=false", image]);
            let (out, ms) = timed(&mut c, &p.dir);
            assert!(out.ok(), "podman pull: {out}");
            drop(p);
            let _ = fs::remove_dir_all(&pdir);
            ms
        }
        _ => {
            let target: PathBuf = dir.join(format!("skopeo{round}"));
            let mut c = Command::new("skopeo");
            c.args(["copy", "--quiet", "--src-tls-verify=false"])
                .arg(format!("docker://{image}"))
                .arg(format!("dir:{}", path_str(&target)));
            let (out, ms) = timed(&mut c, dir);
            assert!(out.ok(), "skopeo copy: {out}");
            let _ = fs::remove_dir_all(&target);
            ms
        }
    }
}
