//! Whole-lifecycle benchmark of OCI runtimes on one busybox bundle.
//!
//! usage: lifecycle [-n ITER] [--seq N] [--par N] NAME=PATH...
//!
//! Every runtime runs in the same private mount namespace in which /sys/fs/cgroup/unified is
//! unmounted (crun 1.8 refuses this host's hybrid layout otherwise), with its own --root.
//! Measurements are interleaved: each iteration runs every runtime once, in a rotated order,
//! so drift of the machine hits all of them alike. Then `run` once more per runtime, back to
//! back (ITER runs of one runtime alone, then the next): column "b2b run". Prints medians
//! and each runtime's ratio to the first one (ongi).
//!
//! A runtime named `floor` (benches/src/bin/floor.rs: clone, rootfs bind, pivot_root, exec
//! of /bin/true, nothing else) only takes part in `run`, `b2b run`, seq and par; the bench
//! then also prints each runtime's time above it.

use std::fs;
use std::os::unix::fs::symlink;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

struct Runtime {
    name: String,
    path: PathBuf,
    root: PathBuf,
    /// The `floor` (benches/src/bin/floor.rs) knows only `run`: its other columns stay empty.
    run_only: bool,
}

#[derive(Default)]
struct Samples {
    run: Vec<Duration>,
    create: Vec<Duration>,
    start: Vec<Duration>,
    kill: Vec<Duration>,
    delete: Vec<Duration>,
    seq: Vec<Duration>,
    par: Vec<Duration>,
    rss_kb: Vec<i64>,
    /// `run` measured back to back: this runtime alone in a loop (see main).
    b2b: Vec<Duration>,
}

fn die(msg: &str) -> ! {
    eprintln!("lifecycle: {msg}");
    std::process::exit(2)
}

/// Spawns and waits with wait4, so the runtime's peak RSS comes with its wall time.
// std's Child::wait cannot return rusage; wait4 reaps the child instead.
#[allow(clippy::zombie_processes)]
fn timed(rt: &Runtime, args: &[&str]) -> (Duration, i64, bool) {
    let t = Instant::now();
    let child = Command::new(&rt.path)
        .arg("--root")
        .arg(&rt.root)
        .args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap_or_else(|e| die(&format!("spawn {}: {e}", rt.path.display())));
    let (status, rss) = wait4(child.id() as i32);
    (t.elapsed(), rss, status == 0)
}

fn wait4(pid: i32) -> (i32, i64) {
    let mut status = 0;
    // SAFETY: rusage is plain data that wait4 fills in.
    let mut ru: libc::rusage = unsafe { std::mem::zeroed() };
    // SAFETY: waiting for our own child with valid out-pointers.
    let r = unsafe { libc::wait4(pid, &mut status, 0, &mut ru) };
    if r < 0 {
        die(&format!("wait4 {pid}: {}", std::io::Error::last_os_error()));
    }
    (status, ru.ru_maxrss)
}

/// Drops the binary's pages from the page cache, so that every runtime is read in by its
/// first exec, as after a boot. Its RSS depends on this: the kernel maps whole page-cache
/// folios around a fault, and a binary just written by the linker or `cp` sits in folios of
/// other sizes than one read in by exec (~100 KiB difference seen).
fn evict(path: &Path) {
    let Ok(f) = fs::File::open(path) else { return };
    // Dirty pages are not dropped.
    let _ = f.sync_data();
    // SAFETY: an advisory call on an fd we own.
    unsafe {
        libc::posix_fadvise(
            std::os::fd::AsRawFd::as_raw_fd(&f),
            0,
            0,
            libc::POSIX_FADV_DONTNEED,
        )
    };
}

/// Orphaned container processes are re-parented to us (we are a subreaper): reap them.
fn reap_orphans() {
    // SAFETY: non-blocking waitpid on any child.
    while unsafe { libc::waitpid(-1, std::ptr::null_mut(), libc::WNOHANG) } > 0 {}
}

fn private_cgroup_view() {
    use nix::mount::{mount, umount2, MntFlags, MsFlags};
    nix::sched::unshare(nix::sched::CloneFlags::CLONE_NEWNS)
        .unwrap_or_else(|e| die(&format!("unshare(CLONE_NEWNS): {e} (run as root)")));
    mount(
        None::<&str>,
        "/",
        None::<&str>,
        MsFlags::MS_REC | MsFlags::MS_PRIVATE,
        None::<&str>,
    )
    .unwrap_or_else(|e| die(&format!("make / rprivate: {e}")));
    // Not mounted on pure v1 or pure v2 hosts: nothing to do then.
    let _ = umount2("/sys/fs/cgroup/unified", MntFlags::MNT_DETACH);
}

fn bundle(dir: &Path, args: &[&str]) {
    let rootfs = dir.join("rootfs");
    for d in ["bin", "proc", "sys", "dev", "tmp", "etc"] {
        fs::create_dir_all(rootfs.join(d)).unwrap_or_else(|e| die(&format!("mkdir: {e}")));
    }
    fs::copy("/bin/busybox", rootfs.join("bin/busybox")).unwrap_or_else(|e| {
        die(&format!(
            "copy /bin/busybox (apt-get install busybox-static): {e}"
        ))
    });
    for a in ["sh", "true", "sleep"] {
        let _ = symlink("busybox", rootfs.join("bin").join(a));
    }
    let mut spec = ongi::spec::default_spec(false);
    spec["process"]["terminal"] = serde_json::json!(false);
    spec["process"]["args"] = serde_json::json!(args);
    fs::write(dir.join("config.json"), spec.to_string())
        .unwrap_or_else(|e| die(&format!("write config.json: {e}")));
}

fn median(v: &[Duration]) -> f64 {
    let mut ms: Vec<f64> = v.iter().map(|d| d.as_secs_f64() * 1e3).collect();
    ms.sort_by(|a, b| a.total_cmp(b));
    if ms.is_empty() {
        return f64::NAN;
    }
    let n = ms.len();
    if n % 2 == 1 {
        ms[n / 2]
    } else {
        (ms[n / 2 - 1] + ms[n / 2]) / 2.0
    }
}

/// The low decile: on a machine that other jobs keep busy, closer to what a run costs
/// when it gets the CPUs than the median is.
fn p10(v: &[Duration]) -> f64 {
    let mut ms: Vec<f64> = v.iter().map(|d| d.as_secs_f64() * 1e3).collect();
    ms.sort_by(|a, b| a.total_cmp(b));
    ms.get(ms.len() / 10).copied().unwrap_or(f64::NAN)
}

fn median_i(v: &[i64]) -> f64 {
    let mut s = v.to_vec();
    s.sort();
    s.get(s.len() / 2).map(|&x| x as f64).unwrap_or(f64::NAN)
}

// The parallel batch is reaped with wait4 (see `timed`).
#[allow(clippy::zombie_processes)]
fn main() {
    let mut iters = 30usize;
    let mut seq_n = 100usize;
    let mut par_n = 20usize;
    let mut rts = Vec::new();
    let mut args = std::env::args().skip(1);
    let work = PathBuf::from(format!("/run/ongi-bench-{}", std::process::id()));
    while let Some(a) = args.next() {
        let mut num = |what: &str| -> usize {
            args.next()
                .and_then(|v| v.parse().ok())
                .unwrap_or_else(|| die(&format!("{what} needs a number")))
        };
        match a.as_str() {
            "-n" => iters = num("-n"),
            "--seq" => seq_n = num("--seq"),
            "--par" => par_n = num("--par"),
            _ => {
                let (name, path) = a
                    .split_once('=')
                    .unwrap_or_else(|| die(&format!("expected NAME=PATH, got {a:?}")));
                let path =
                    fs::canonicalize(path).unwrap_or_else(|e| die(&format!("runtime {path}: {e}")));
                evict(&path);
                let root = work.join(format!("root-{name}"));
                rts.push(Runtime {
                    run_only: name == "floor",
                    name: name.into(),
                    path,
                    root,
                });
            }
        }
    }
    if rts.is_empty() {
        die("usage: lifecycle [-n ITER] [--seq N] [--par N] NAME=PATH...");
    }
    private_cgroup_view();
    // SAFETY: prctl with integer arguments only.
    unsafe { libc::prctl(libc::PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0) };
    let b_true = work.join("bundle-true");
    let b_sleep = work.join("bundle-sleep");
    bundle(&b_true, &["/bin/true"]);
    bundle(&b_sleep, &["/bin/sleep", "1000"]);
    let (bt, bs) = (
        b_true.to_string_lossy().into_owned(),
        b_sleep.to_string_lossy().into_owned(),
    );
    let mut samples: Vec<Samples> = rts.iter().map(|_| Samples::default()).collect();

    // Warm-up: page cache, dentries, the cgroup parents.
    for rt in &rts {
        for i in 0..3 {
            let (_, _, ok) = timed(rt, &["run", "--bundle", &bt, &format!("warm{i}")]);
            if !ok {
                die(&format!("{}: run of the bench bundle failed", rt.name));
            }
        }
    }

    let n = rts.len();
    for it in 0..iters {
        for k in 0..n {
            let idx = (it + k) % n;
            let rt = &rts[idx];
            let s = &mut samples[idx];
            let id = format!("b{it}");
            let (d, rss, ok) = timed(rt, &["run", "--bundle", &bt, &id]);
            if !ok {
                die(&format!("{}: run {id} failed", rt.name));
            }
            s.run.push(d);
            s.rss_kb.push(rss);
            if rt.run_only {
                continue;
            }

            let id = format!("p{it}");
            let pidf = work.join(format!("{}-{id}.pid", rt.name));
            let pf = pidf.to_string_lossy().into_owned();
            let (d, rss, ok) = timed(rt, &["create", "--bundle", &bs, "--pid-file", &pf, &id]);
            if !ok {
                die(&format!("{}: create {id} failed", rt.name));
            }
            s.create.push(d);
            s.rss_kb.push(rss);
            let (d, _, ok) = timed(rt, &["start", &id]);
            if !ok {
                die(&format!("{}: start {id} failed", rt.name));
            }
            s.start.push(d);
            let (d, _, ok) = timed(rt, &["kill", &id, "KILL"]);
            if !ok {
                die(&format!("{}: kill {id} failed", rt.name));
            }
            s.kill.push(d);
            // The container's init is ours now (subreaper): wait for it to be gone.
            if let Some(pid) = fs::read_to_string(&pidf)
                .ok()
                .and_then(|p| p.trim().parse::<i32>().ok())
            {
                // SAFETY: blocking waitpid for a child of ours.
                unsafe { libc::waitpid(pid, std::ptr::null_mut(), 0) };
            }
            let (d, _, ok) = timed(rt, &["delete", &id]);
            if !ok {
                die(&format!("{}: delete {id} failed", rt.name));
            }
            s.delete.push(d);
            reap_orphans();
        }
    }

    // Sequences and parallel batches: fewer repetitions, same interleaving.
    let reps = 3;
    for r in 0..reps {
        for k in 0..n {
            let idx = (r + k) % n;
            let rt = &rts[idx];
            let t = Instant::now();
            for i in 0..seq_n {
                let (_, _, ok) = timed(rt, &["run", "--bundle", &bt, &format!("s{r}-{i}")]);
                if !ok {
                    die(&format!("{}: sequential run failed", rt.name));
                }
            }
            samples[idx].seq.push(t.elapsed());

            let t = Instant::now();
            let children: Vec<_> = (0..par_n)
                .map(|i| {
                    Command::new(&rt.path)
                        .arg("--root")
                        .arg(&rt.root)
                        .args(["run", "--bundle", &bt, &format!("q{r}-{i}")])
                        .stdin(Stdio::null())
                        .stdout(Stdio::null())
                        .stderr(Stdio::null())
                        .spawn()
                        .unwrap_or_else(|e| die(&format!("spawn: {e}")))
                })
                .collect();
            for c in children {
                let (st, _) = wait4(c.id() as i32);
                if st != 0 {
                    die(&format!("{}: parallel run failed", rt.name));
                }
            }
            samples[idx].par.push(t.elapsed());
            reap_orphans();
        }
    }

    // Back to back: each runtime alone, `iters` runs in a row (unique ids). Interleaving
    // itself changes what a runtime costs (caches, the other runtimes' cgroup and mount
    // work), so both figures are reported.
    for (idx, rt) in rts.iter().enumerate() {
        for i in 0..iters {
            let (d, _, ok) = timed(rt, &["run", "--bundle", &bt, &format!("bb{i}")]);
            if !ok {
                die(&format!("{}: back-to-back run failed", rt.name));
            }
            samples[idx].b2b.push(d);
        }
        reap_orphans();
    }

    println!(
        "lifecycle: {iters} interleaved iterations, {seq_n} sequential, {par_n} parallel (x{reps}); medians"
    );
    let base = &samples[0];
    let header = format!(
        "{:<8} {:>10} {:>10} {:>10} {:>10} {:>10} {:>10} {:>12} {:>12} {:>10} {:>10}",
        "runtime",
        "run ms",
        "b2b run",
        "create ms",
        "start ms",
        "kill ms",
        "delete ms",
        format!("{seq_n} seq ms"),
        format!("{par_n} par ms"),
        "RSS KiB",
        "size KiB"
    );
    println!("{header}");
    for (rt, s) in rts.iter().zip(&samples) {
        let size = fs::metadata(&rt.path).map(|m| m.len() / 1024).unwrap_or(0);
        println!(
            "{:<8} {:>10.2} {:>10.2} {:>10.2} {:>10.2} {:>10.2} {:>10.2} {:>12.1} {:>12.1} {:>10.0} {:>10}",
            rt.name,
            median(&s.run),
            median(&s.b2b),
            median(&s.create),
            median(&s.start),
            median(&s.kill),
            median(&s.delete),
            median(&s.seq),
            median(&s.par),
            median_i(&s.rss_kb),
            size
        );
    }
    println!(
        "ratio to {} (runtime / {}; > 1 means slower or bigger than {}):",
        rts[0].name, rts[0].name, rts[0].name
    );
    for (rt, s) in rts.iter().zip(&samples).skip(1) {
        let r = |a: f64, b: f64| a / b;
        let size = |p: &Path| fs::metadata(p).map(|m| m.len() as f64).unwrap_or(f64::NAN);
        println!(
            "{:<8} {:>10.2} {:>10.2} {:>10.2} {:>10.2} {:>10.2} {:>10.2} {:>12.2} {:>12.2} {:>10.2} {:>10.2}",
            rt.name,
            r(median(&s.run), median(&base.run)),
            r(median(&s.b2b), median(&base.b2b)),
            r(median(&s.create), median(&base.create)),
            r(median(&s.start), median(&base.start)),
            r(median(&s.kill), median(&base.kill)),
            r(median(&s.delete), median(&base.delete)),
            r(median(&s.seq), median(&base.seq)),
            r(median(&s.par), median(&base.par)),
            r(median_i(&s.rss_kb), median_i(&base.rss_kb)),
            r(size(&rt.path), size(&rts[0].path))
        );
    }
    println!("low decile (p10), ms:      run    b2b run");
    for (rt, s) in rts.iter().zip(&samples) {
        println!(
            "{:<20} {:>10.2} {:>10.2}",
            rt.name,
            p10(&s.run),
            p10(&s.b2b)
        );
    }
    if let Some(f) = rts.iter().position(|rt| rt.name == "floor") {
        println!("above the floor (runtime - floor, ms):");
        for (rt, s) in rts.iter().zip(&samples).filter(|(rt, _)| !rt.run_only) {
            println!(
                "{:<8} {:>10.2} {:>10.2}",
                rt.name,
                median(&s.run) - median(&samples[f].run),
                median(&s.b2b) - median(&samples[f].b2b)
            );
        }
    }
    for rt in rts.iter().filter(|rt| !rt.run_only) {
        let _ = Command::new(&rt.path)
            .arg("--root")
            .arg(&rt.root)
            .args(["list", "-q"])
            .output();
    }
    let _ = fs::remove_dir_all(&work);
}
