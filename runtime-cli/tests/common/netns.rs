//! The network tests' support (ongictl_network*.rs): a network namespace the test makes
//! and deletes, and an engine whose every command runs inside it, so the machine's own
//! interfaces and firewall never change.

use std::path::PathBuf;
use std::process::Command;
use std::time::{Duration, Instant};

use super::clients::{image, run_limited, Out};
use super::engine::Engine;

pub const IMG: &str = "test/netbox:v1";

/// A network namespace, deleted on drop.
pub struct NetNs {
    pub name: String,
    pub path: PathBuf,
}

impl NetNs {
    pub fn new(tag: &str) -> NetNs {
        let name = format!("ongi-{tag}-{}", std::process::id());
        // One a crashed earlier run of this pid left (none, as a rule).
        if std::path::Path::new("/run/netns").join(&name).exists() {
            let _ = Command::new("ip").args(["netns", "del", &name]).status();
        }
        let st = Command::new("ip").args(["netns", "add", &name]).status();
        assert!(st.is_ok_and(|s| s.success()), "ip netns add {name}");
        let st = Command::new("ip")
            .args(["-n", &name, "link", "set", "lo", "up"])
            .status();
        assert!(st.is_ok_and(|s| s.success()), "lo up in {name}");
        NetNs {
            path: PathBuf::from("/run/netns").join(&name),
            name,
        }
    }
}

impl Drop for NetNs {
    fn drop(&mut self) {
        let _ = Command::new("ip")
            .args(["netns", "del", &self.name])
            .status();
    }
}

/// An engine whose commands all run in the namespace; the engine (its containers) goes
/// before the namespace.
pub struct T {
    pub e: Engine,
    pub ns: NetNs,
}

impl T {
    pub fn new(tag: &str) -> T {
        let ns = NetNs::new(tag);
        let mut e = Engine::new(&format!("net-{tag}"));
        e.netns = Some(ns.path.clone());
        // Inside the namespace the engine has docker's default bridge again.
        e.set_config("bridge", None);
        let archive = image::docker_archive(&e.dir, IMG);
        e.ok(&["load", "-i", archive.to_str().unwrap_or_default()]);
        T { e, ns }
    }

    /// A host command inside the namespace.
    pub fn host(&self, args: &[&str]) -> Out {
        let mut c = Command::new("nsenter");
        c.arg(format!("--net={}", self.ns.path.display()))
            .args(args);
        run_limited(&mut c, &self.e.dir, Duration::from_secs(30)).unwrap_or_else(|e| panic!("{e}"))
    }

    /// The namespace's links whose name starts with `prefix`.
    pub fn links(&self, prefix: &str) -> Vec<String> {
        let o = self.host(&["ip", "-o", "link", "show"]);
        o.stdout
            .lines()
            .filter_map(|l| l.split(": ").nth(1))
            .map(|n| n.split('@').next().unwrap_or(n).to_string())
            .filter(|n| n.starts_with(prefix))
            .collect()
    }

    /// The published-port elements in our nftables maps.
    pub fn port_rules(&self) -> String {
        let mut out = String::new();
        for m in ["pub_any", "pub_ip"] {
            let o = self.host(&["nft", "list", "map", "ip", "ongictl", m]);
            if let Some(i) = o.stdout.find("elements") {
                out.push_str(&o.stdout[i..]);
            }
        }
        out
    }

    /// A detached busybox httpd serving `body` on port 80.
    pub fn web(&self, extra: &[&str], body: &str) -> String {
        let script = format!(
            "mkdir -p /www && echo {body} > /www/index.html && exec httpd -f -p 80 -h /www"
        );
        let mut args = vec!["run", "-d"];
        args.extend_from_slice(extra);
        args.extend_from_slice(&[IMG, "sh", "-c", &script]);
        self.e.ok(&args)
    }

    pub fn ip_of(&self, c: &str) -> String {
        self.e
            .ok(&["inspect", "-f", "{{.NetworkSettings.IPAddress}}", c])
    }

    /// An HTTP GET of `host:port` from a fresh container on `net` (busybox nc: the static
    /// busybox's wget crashes in glibc's resolver without NSS files): the body, or None
    /// when the connection fails.
    pub fn fetch_from(&self, net: &str, host: &str, port: u16) -> Option<String> {
        let script = format!("printf 'GET / HTTP/1.0\\r\\n\\r\\n' | nc -w 3 {host} {port}");
        let o = self
            .e
            .ctl(&["run", "--rm", "--network", net, IMG, "sh", "-c", &script]);
        let body = o.stdout.split("\r\n\r\n").nth(1)?.trim().to_string();
        (o.ok() && !body.is_empty()).then_some(body)
    }

    /// curl on the namespace's own side, retried while the server starts.
    pub fn curl(&self, url: &str) -> String {
        let until = Instant::now() + Duration::from_secs(10);
        loop {
            let o = self.host(&["curl", "-s", "-m", "3", url]);
            if o.ok() || Instant::now() > until {
                assert!(o.ok(), "{o}");
                return o.text().to_string();
            }
            std::thread::sleep(Duration::from_millis(100));
        }
    }
}
