//! Support for the ongictl tests: a private engine (its own `--root` and `--run-root` under
//! a test dir), a private registry with a busybox image pushed to it by skopeo, commands
//! with time limits, and a teardown that removes every container, mount and cgroup the test
//! made and fails the test if the engine left any behind.

use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use super::clients::{image, run_limited, Out, Registry};
use super::mountinfo::detach_mounts_under;

/// Where the engine tests' dirs live (short: unix socket paths must fit in 108 bytes).
pub const BASE: &str = "/var/tmp/ongi-et";

/// The `ongictl` cargo built.
pub fn ongictl() -> PathBuf {
    match option_env!("CARGO_BIN_EXE_ongictl") {
        Some(p) => PathBuf::from(p),
        None => super::runtime_bin::ongi().with_file_name("ongictl"),
    }
}

/// A private engine.
pub struct Engine {
    pub dir: PathBuf,
    pub root: PathBuf,
    pub run_root: PathBuf,
    /// A network namespace (its bind mount) every command runs in, for the network tests.
    pub netns: Option<PathBuf>,
}

impl Engine {
    /// A fresh engine for test `name`.
    pub fn new(name: &str) -> Engine {
        let dir = Path::new(BASE).join(format!("{name}-{}", std::process::id()));
        if dir.exists() {
            detach_mounts_under(&dir);
            let _ = fs::remove_dir_all(&dir);
        }
        fs::create_dir_all(&dir).unwrap_or_else(|e| panic!("mkdir {}: {e}", dir.display()));
        let e = Engine {
            root: dir.join("root"),
            run_root: dir.join("run"),
            dir,
            netns: None,
        };
        // These engines run on the host, whose interfaces and firewall no test may change:
        // dockerd's "bridge": "none" makes their containers default to --network none (the
        // network tests, in their own namespace, take it out again: netns.rs).
        e.set_config("bridge", Some(serde_json::json!("none")));
        e
    }

    /// Sets (or with None removes) `key` in the engine's own settings file
    /// (`<root>/engine.json`), keeping its other keys.
    pub fn set_config(&self, key: &str, value: Option<serde_json::Value>) {
        let p = self.root.join("engine.json");
        let mut v: serde_json::Map<String, serde_json::Value> = fs::read(&p)
            .ok()
            .and_then(|b| serde_json::from_slice(&b).ok())
            .unwrap_or_default();
        match value {
            Some(x) => v.insert(key.to_string(), x),
            None => v.remove(key),
        };
        fs::create_dir_all(&self.root)
            .unwrap_or_else(|e| panic!("mkdir {}: {e}", self.root.display()));
        fs::write(&p, serde_json::Value::Object(v).to_string())
            .unwrap_or_else(|e| panic!("write {}: {e}", p.display()));
    }

    /// `ongictl ARGS` with this engine's roots, at most `limit`.
    pub fn ctl_limit(&self, args: &[&str], limit: Duration) -> Out {
        let mut c = match &self.netns {
            // nsenter joins the network namespace only: mounts stay the host's.
            Some(ns) => {
                let mut c = Command::new("nsenter");
                c.arg(format!("--net={}", ns.display())).arg(ongictl());
                c
            }
            None => Command::new(ongictl()),
        };
        c.arg("--root")
            .arg(&self.root)
            .arg("--run-root")
            .arg(&self.run_root)
            .args(args);
        run_limited(&mut c, &self.dir, limit).unwrap_or_else(|e| panic!("{e}"))
    }

    /// `ongictl ARGS` with `env` added to its environment, at most `limit`.
    pub fn ctl_env(&self, env: &[(&str, &str)], args: &[&str], limit: Duration) -> Out {
        let mut c = Command::new(ongictl());
        c.arg("--root")
            .arg(&self.root)
            .arg("--run-root")
            .arg(&self.run_root)
            .args(args)
            .envs(env.iter().copied());
        run_limited(&mut c, &self.dir, limit).unwrap_or_else(|e| panic!("{e}"))
    }

    /// `ongictl ARGS`, at most 60 s.
    pub fn ctl(&self, args: &[&str]) -> Out {
        self.ctl_limit(args, Duration::from_secs(60))
    }

    /// `ongictl ARGS` that must succeed; its trimmed stdout.
    pub fn ok(&self, args: &[&str]) -> String {
        let o = self.ctl(args);
        assert!(o.ok(), "{o}");
        o.text().to_string()
    }

    /// Directories that still name a container of this engine's under any cgroup hierarchy.
    pub fn leftover_cgroups(&self) -> Vec<PathBuf> {
        let mut out = vec![];
        let Ok(ids) = fs::read_dir(self.root.join("containers")) else {
            return out;
        };
        let ids: Vec<String> = ids
            .flatten()
            .map(|e| e.file_name().to_string_lossy().into_owned())
            .collect();
        for h in fs::read_dir("/sys/fs/cgroup")
            .into_iter()
            .flatten()
            .flatten()
        {
            for base in [
                h.path().join("ongictl"),
                PathBuf::from("/sys/fs/cgroup/ongictl"),
            ] {
                for id in &ids {
                    if base.join(id).exists() {
                        out.push(base.join(id));
                    }
                }
            }
        }
        out
    }

    /// Mounts below this engine's dir.
    pub fn mounts(&self) -> Vec<String> {
        let d = self.dir.to_string_lossy().into_owned();
        fs::read_to_string("/proc/self/mountinfo")
            .unwrap_or_default()
            .lines()
            .filter(|l| l.split(' ').nth(4).is_some_and(|m| m.starts_with(&d)))
            .map(String::from)
            .collect()
    }
}

impl Drop for Engine {
    fn drop(&mut self) {
        let ids = self.ctl_limit(&["ps", "-aq", "--no-trunc"], Duration::from_secs(15));
        for id in ids.stdout.split_whitespace() {
            let _ = self.ctl_limit(&["rm", "-f", id], Duration::from_secs(30));
        }
        detach_mounts_under(&self.dir);
        let _ = fs::remove_dir_all(&self.dir);
        let _ = fs::remove_dir(BASE);
    }
}

/// A private registry with `test/busybox:v1` (cmd /bin/sh) pushed to it by skopeo.
pub struct TestRegistry {
    pub reg: Registry,
    pub image: String,
}

/// Starts a registry under `dir` and pushes the busybox image with skopeo (a real client).
pub fn registry_with_busybox(dir: &Path) -> TestRegistry {
    // One at a time: the layers are tarred from rootfs trees hard-linked to one cached
    // busybox, and a link made by a parallel test changes its ctime mid-read (tar exits 1).
    static BUILD: std::sync::Mutex<()> = std::sync::Mutex::new(());
    let reg = Registry::start(dir);
    let guard = BUILD.lock().unwrap_or_else(|p| p.into_inner());
    let archive = image::oci_archive(dir, "busybox-oci.tar", &[("busybox", &["/bin/sh"])]);
    drop(guard);
    let image = format!("{}/test/busybox:v1", reg.addr);
    let mut c = Command::new("skopeo");
    c.args(["copy", "--quiet", "--dest-tls-verify=false"])
        .arg(format!("oci-archive:{}", archive.display()))
        .arg(format!("docker://{image}"));
    let o = run_limited(&mut c, dir, Duration::from_secs(60)).unwrap_or_else(|e| panic!("{e}"));
    assert!(o.ok(), "skopeo push (install skopeo): {o}");
    TestRegistry { reg, image }
}

/// Asserts `o` exited with `code` and said `text` on stderr.
pub fn fails_with(o: &Out, code: i32, text: &str) {
    assert_eq!(o.code(), Some(code), "{o}");
    assert!(o.stderr.contains(text), "want {text:?} in stderr: {o}");
}

/// Asserts the engine left no mount and no container cgroup.
pub fn assert_clean(e: &Engine) {
    assert!(e.mounts().is_empty(), "mounts left: {:?}", e.mounts());
    // Engines outside a test's own network namespace must never make the default bridge
    // on the machine (Engine::new's "bridge": "none").
    if e.netns.is_none() {
        assert!(
            !Path::new("/sys/class/net/ongi0").exists(),
            "the default bridge ongi0 exists on the host: a test ran a container on it \
             outside its own network namespace"
        );
    }
    assert!(
        e.leftover_cgroups().is_empty(),
        "cgroups left: {:?}",
        e.leftover_cgroups()
    );
}

/// `volume ls -q`, one name per entry.
pub fn volume_names(e: &Engine) -> Vec<String> {
    e.ok(&["volume", "ls", "-q"])
        .lines()
        .map(String::from)
        .collect()
}

/// The pid of the `ongi-monitor` holding container `id` (found by its command line: it
/// re-executes itself from a protected copy, so neither its exe nor its comm names it).
pub fn monitor_pid(id: &str) -> Option<i32> {
    for p in fs::read_dir("/proc").ok()?.flatten() {
        let Ok(pid) = p.file_name().to_string_lossy().parse::<i32>() else {
            continue;
        };
        let Ok(cl) = fs::read(p.path().join("cmdline")) else {
            continue;
        };
        let cl = String::from_utf8_lossy(&cl);
        if cl.contains("ongi-monitor") && cl.contains(id) {
            return Some(pid);
        }
    }
    None
}
