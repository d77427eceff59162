//! A private podman (Debian's 4.3, daemonless, with conmon) driving `ongi` with `--runtime`.

use super::super::files::{make_dir, path_str, read_lossy, write_file};
use super::super::runtime_bin::ongi;
use super::*;

/// podman with private root, runroot, tmpdir, volumes, network config and containers.conf,
/// driving `ongi` with `--runtime`.
pub struct Podman {
    pub dir: PathBuf,
    global: Vec<String>,
    host_dirs: HostDirs,
}

impl Podman {
    pub fn new(dir: &Path) -> Podman {
        subreaper();
        let p = dir.join("pm");
        for d in ["root", "runroot", "tmp", "volumes", "net.d"] {
            make_dir(&p.join(d));
        }
        let host_dirs = HostDirs::record(&[
            "/run/containers/networks",
            "/run/containers",
            // podman's push/pull write their blob info cache here whatever --root says.
            "/var/lib/containers/cache/blob-info-cache-v1.boltdb",
            "/var/lib/containers/cache",
            "/var/lib/containers",
        ]);
        // As root, podman puts RLIMIT_NOFILE/NPROC = 1048576 in the spec. Without
        // CAP_SYS_RESOURCE in the bounding set nobody can raise a hard limit above the
        // current one (setrlimit EPERM), so cap them at ours; podman itself runs conmon with
        // NPROC lowered to 32768, so nproc must not exceed that either.
        let nofile = hard_limit(libc::RLIMIT_NOFILE).min(1_048_576);
        let nproc = hard_limit(libc::RLIMIT_NPROC).min(32_768);
        // podman passes --log-format=json --log FILE only to runtimes whose basename is in
        // runtime_supports_json.
        write_file(
            &p.join("containers.conf"),
            &format!(
                "[containers]\ndefault_ulimits = [\"nofile={nofile}:{nofile}\", \"nproc={nproc}:{nproc}\"]\n\
                 [engine]\nruntime_supports_json = [\"crun\", \"runc\", \"ongi\"]\n"
            ),
        );
        let s = |sub: &str| path_str(&p.join(sub)).to_string();
        // Identical on every call: podman's DB records them ("database configuration mismatch").
        let global = vec![
            "--root".into(),
            s("root"),
            "--runroot".into(),
            s("runroot"),
            "--tmpdir".into(),
            s("tmp"),
            "--volumepath".into(),
            s("volumes"),
            "--storage-driver".into(),
            "overlay".into(),
            "--cgroup-manager".into(),
            "cgroupfs".into(),
            "--events-backend".into(),
            "file".into(),
            "--network-config-dir".into(),
            s("net.d"),
            "--runtime".into(),
            path_str(&ongi()).to_string(),
        ];
        Podman {
            dir: p,
            global,
            host_dirs,
        }
    }

    pub fn cli(&self) -> Command {
        let mut c = Command::new("podman");
        c.args(&self.global)
            .env("CONTAINERS_CONF", self.dir.join("containers.conf"))
            .env("TMPDIR", self.dir.join("tmp"));
        c
    }

    #[track_caller]
    pub fn podman(&self, args: &[&str]) -> Out {
        sequences::Client::call(self, args)
    }

    #[track_caller]
    pub fn podman_tty(&self, args: &[&str]) -> Out {
        sequences::Client::call_tty(self, args)
    }

    /// IDs of this podman's containers and of its pods: listed now, in its storage (containers),
    /// or named by an event.
    fn ids(&self) -> (BTreeSet<String>, BTreeSet<String>) {
        let mut ctrs = list_dir(&self.dir.join("root/overlay-containers"));
        let mut pods = BTreeSet::new();
        for (args, set) in [
            (&["ps", "-aq", "--no-trunc"][..], &mut ctrs),
            (&["pod", "ps", "-q", "--no-trunc"][..], &mut pods),
        ] {
            if let Ok(out) = run_limited(self.cli().args(args), &self.dir, TEARDOWN_LIMIT) {
                set.extend(
                    out.stdout
                        .lines()
                        .map(str::trim)
                        .filter(|l| is_hex_id(l))
                        .map(String::from),
                );
            }
        }
        // With --events-backend file the events are JSON lines below the tmpdir.
        for f in find_files(&self.dir.join("tmp"), "events.log") {
            for line in read_lossy(&f).lines() {
                let Ok(v) = serde_json::from_str::<serde_json::Value>(line) else {
                    continue;
                };
                let Some(id) = v["ID"].as_str().filter(|s| is_hex_id(s)) else {
                    continue;
                };
                match v["Type"].as_str() {
                    Some("container") => ctrs.insert(id.to_string()),
                    Some("pod") => pods.insert(id.to_string()),
                    _ => false,
                };
            }
        }
        (ctrs, pods)
    }
}

impl Drop for Podman {
    fn drop(&mut self) {
        let (ids, pods) = self.ids();
        if !pods.is_empty() {
            let mut rm = self.cli();
            rm.args(["pod", "rm", "-f", "-t", "0"]).args(&pods);
            if let Err(e) = run_limited(&mut rm, &self.dir, TEARDOWN_LIMIT) {
                eprintln!("teardown: {e}");
            }
        }
        if !ids.is_empty() {
            let mut rm = self.cli();
            rm.args(["rm", "-f", "-t", "0"]).args(&ids);
            if let Err(e) = run_limited(&mut rm, &self.dir, TEARDOWN_LIMIT) {
                eprintln!("teardown: {e}");
            }
        }
        // conmon and `podman container cleanup` processes of our run root / storage.
        kill_matching(path_str(&self.dir));
        // podman passes no --root: the state of our containers is in ongi's default root.
        for id in &ids {
            let mut del = Command::new(ongi());
            del.args(["delete", "--force", id]);
            if let Err(e) = run_limited(&mut del, Path::new(BASE), TEARDOWN_LIMIT) {
                eprintln!("teardown: {e}");
            }
        }
        // A pod's containers sit below /libpod_parent/<pod id>; podman removes that cgroup
        // only in the v1 controllers it manages, not in name=systemd or the v2 tree.
        let cgroups: Vec<String> = ids
            .iter()
            .map(|id| format!("libpod_parent/libpod-{id}"))
            .chain(pods.iter().map(|id| format!("libpod_parent/{id}")))
            .collect();
        remove_cgroups(&cgroups);
        rmdir_cgroups(&["libpod_parent/conmon", "libpod_parent"]);
        remove_guard_dir(&self.dir, &self.host_dirs);
    }
}

impl sequences::Client for Podman {
    fn name(&self) -> &'static str {
        "podman"
    }
    fn dir(&self) -> &Path {
        &self.dir
    }
    fn cli(&self) -> Command {
        Podman::cli(self)
    }
    // The runtime is a global flag (`--runtime`).
    fn run_flags(&self) -> &'static [&'static str] {
        &["--network", "none"]
    }
    fn read_only_scratch(&self) -> (&'static str, bool) {
        ("/tmp", false)
    }
    // podman's default nproc (1048576) cannot be set without CAP_SYS_RESOURCE.
    fn extra_ulimits(&self) -> &'static [&'static str] {
        &["--ulimit", "nproc=1000:1000"]
    }
    fn init(&self) -> sequences::Init {
        sequences::Init {
            name: "podman-init",
            ps_format: "pid,args",
            is_pid1: |l| l.starts_with("1 /run/podman-init"),
        }
    }
    fn shows_runtime_errors(&self) -> bool {
        true
    }
    fn pull_flags(&self) -> &'static [&'static str] {
        &["--tls-verify=false"]
    }
}
