//! criterion benches of the library's hot pieces: what every `create` pays before clone.

use criterion::{criterion_group, criterion_main, Criterion};
use std::hint::black_box;
use std::path::PathBuf;

fn bundle_dir() -> PathBuf {
    let dir = std::env::temp_dir().join(format!("ongi-criterion-{}", std::process::id()));
    std::fs::create_dir_all(dir.join("rootfs")).expect("mkdir bench bundle");
    let mut spec = ongi::spec::default_spec(false);
    spec["process"]["terminal"] = serde_json::json!(false);
    std::fs::write(dir.join("config.json"), spec.to_string()).expect("write config.json");
    dir
}

fn config(c: &mut Criterion) {
    let dir = bundle_dir();
    c.bench_function("config.json load+validate", |b| {
        b.iter(|| ongi::spec::Bundle::load(black_box(&dir)).expect("load"))
    });
    let _ = std::fs::remove_dir_all(&dir);
}

fn state(c: &mut Criterion) {
    let root = std::env::temp_dir().join(format!("ongi-criterion-state-{}", std::process::id()));
    let sd = ongi::state::StateDir::create(&root, "bench").expect("state dir");
    let st = ongi::state::Persisted {
        id: "bench".into(),
        pid: 4242,
        pid_start: 123456,
        bundle: "/run/bundle".into(),
        rootfs: "/run/bundle/rootfs".into(),
        created: ongi::state::rfc3339_now(),
        annotations: Default::default(),
        cgroup_dirs: vec!["/sys/fs/cgroup/pids/ongi/bench".into(); 9],
        hooks: None,
        cgroup_shared: false,
    };
    c.bench_function("state save", |b| {
        b.iter(|| sd.save(black_box(&st)).expect("save"))
    });
    c.bench_function("state load", |b| b.iter(|| sd.load().expect("load")));
    let _ = std::fs::remove_dir_all(&root);
}

fn mounts(c: &mut Criterion) {
    let opts = [
        "nosuid",
        "noexec",
        "nodev",
        "mode=1777",
        "size=65536k",
        "rprivate",
        "ro",
    ];
    c.bench_function("mount options parse", |b| {
        b.iter(|| ongi::rootfs::options::MountOptions::parse(black_box(&opts[..])))
    });
}

criterion_group!(benches, config, state, mounts);
criterion_main!(benches);
