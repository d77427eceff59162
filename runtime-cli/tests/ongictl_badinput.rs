//! Bad input gets a clear error and loses nothing (issue 14), for the cases no other
//! ongictl suite covers: an unknown tag, malformed references, a registry that is down or
//! never answers, a layer blob whose digest does not match, a truncated download, a full
//! disk, docker's answer to command-line mistakes, and `rm` of many containers where some
//! fail. Each checks the exit code (docker's), that the message names the object and the
//! cause, and that nothing is left: `system check` finds nothing to repair, no temporary,
//! mount or cgroup remains, and the store still works.
//! (Covered elsewhere: name in use, missing bind source, relative -v, rm of a running
//! container, in ongictl.rs; the kill -9 recoveries in ongictl_system.rs.)

mod common;

use std::io::Read;
use std::net::TcpListener;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use common::engine::{assert_clean, fails_with, registry_with_busybox, Engine};
use common::wait_until;

/// `system check` repaired nothing.
fn check_clean(e: &Engine) {
    let o = e.ctl(&["system", "check"]);
    assert!(
        o.code() == Some(0) && o.stdout.contains("store is consistent"),
        "system check not clean: {o}"
    );
}

/// Entries of the store's directories that are temporaries (`@tmp-...`).
fn temporaries(e: &Engine) -> Vec<String> {
    let mut out = vec![];
    for sub in ["tmp", "layers", "blobs/sha256", "containers", "volumes"] {
        for d in std::fs::read_dir(e.root.join(sub))
            .into_iter()
            .flatten()
            .flatten()
        {
            let n = d.file_name().to_string_lossy().into_owned();
            if n.starts_with('@') {
                out.push(format!("{sub}/{n}"));
            }
        }
    }
    out
}

fn count(dir: &Path) -> usize {
    std::fs::read_dir(dir).map(|d| d.count()).unwrap_or(0)
}

/// After a failed pull: no image, no layer, no temporary, and check has nothing to do.
fn nothing_pulled(e: &Engine) {
    assert!(e.ok(&["images", "-q"]).is_empty());
    assert_eq!(count(&e.root.join("layers")), 0, "layers left");
    assert!(temporaries(e).is_empty(), "{:?}", temporaries(e));
    check_clean(e);
}

#[test]
fn unknown_tag_and_malformed_references() {
    let e = Engine::new("bad-ref");
    let r = registry_with_busybox(&e.dir);
    let nope = format!("{}/test/busybox:nope", r.reg.addr);
    // docker: "manifest for HOST/test/busybox:nope not found: manifest unknown", exit 1.
    let o = e.ctl(&["pull", &nope]);
    fails_with(&o, 1, &nope);
    assert!(o.stderr.contains("manifest unknown"), "{o}");
    // run pulls what is missing and reports the pull's error as an engine error.
    let o = e.ctl(&["run", "--rm", &nope, "true"]);
    fails_with(&o, 125, &nope);
    for bad in ["bad//name", "name:", ":tag", "a/b@sha256:12"] {
        fails_with(&e.ctl(&["pull", bad]), 1, "invalid reference format");
        fails_with(
            &e.ctl(&["run", "--rm", bad, "true"]),
            125,
            "invalid reference format",
        );
    }
    nothing_pulled(&e);
    assert!(e.ok(&["ps", "-aq"]).is_empty());
    assert_clean(&e);
}

#[test]
fn registry_down_or_silent_fails_in_time() {
    let e = Engine::new("bad-net");
    // Down: a port nothing listens on (bound, then closed).
    let port = TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("free port");
    let down = format!("127.0.0.1:{port}/test/busybox:v1");
    let o = e.ctl(&["pull", &down]);
    fails_with(&o, 1, &down);
    assert!(o.stderr.contains("onnection refused"), "{o}");

    // Silent: accepts connections and never answers. The limit comes from
    // ONGI_REGISTRY_TIMEOUT; without one the pull would wait for the 120 s default.
    let l = TcpListener::bind("127.0.0.1:0").expect("bind");
    let silent = format!(
        "127.0.0.1:{}/test/busybox:v1",
        l.local_addr().expect("addr").port()
    );
    std::thread::spawn(move || {
        let mut held = vec![];
        for s in l.incoming().flatten() {
            held.push(s);
        }
    });
    let t = Instant::now();
    let o = e.ctl_env(
        &[("ONGI_REGISTRY_TIMEOUT", "2")],
        &["pull", &silent],
        Duration::from_secs(60),
    );
    let took = t.elapsed();
    fails_with(&o, 1, &silent);
    assert!(o.stderr.contains("timed out"), "{o}");
    assert!(took < Duration::from_secs(20), "took {took:?}: {o}");
    // The settings file sets the same limit.
    let cfg = e.dir.join("engine.json");
    std::fs::write(&cfg, r#"{"registry-timeout": 1}"#).expect("write");
    let t = Instant::now();
    let o = e.ctl_env(
        &[("ONGI_CONFIG", cfg.to_str().expect("utf-8"))],
        &["pull", &silent],
        Duration::from_secs(60),
    );
    fails_with(&o, 1, "timed out");
    assert!(t.elapsed() < Duration::from_secs(20), "{o}");
    nothing_pulled(&e);
}

/// A registry in front of the real one that serves one blob broken: `corrupt` flips its
/// first byte (same length, wrong digest); `truncate` announces the full length, sends
/// half and closes the connection.
const PROXY: &str = r#"
import http.server, os, socket, sys, urllib.request, urllib.error
port_file, upstream, digest, mode = sys.argv[1:5]
class H(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.0"
    def log_message(self, *a): pass
    def fwd(self, head):
        req = urllib.request.Request("http://" + upstream + self.path, method="HEAD" if head else "GET")
        for k in ("Accept", "Authorization", "Range"):
            if self.headers.get(k): req.add_header(k, self.headers[k])
        try:
            r = urllib.request.urlopen(req, timeout=30)
            code, hdrs, body = r.status, r.headers, (b"" if head else r.read())
        except urllib.error.HTTPError as e:
            code, hdrs, body = e.code, e.headers, (b"" if head else e.read())
        broken = (not head) and code == 200 and self.path.endswith("/blobs/" + digest)
        if broken and mode == "corrupt":
            body = bytes([body[0] ^ 0xff]) + body[1:]
        self.send_response(code)
        for k in ("Content-Type", "Docker-Content-Digest", "Docker-Distribution-Api-Version", "Content-Length", "WWW-Authenticate"):
            if hdrs.get(k): self.send_header(k, hdrs[k])
        self.end_headers()
        if broken and mode == "truncate":
            self.wfile.write(body[: len(body) // 2])
            self.wfile.flush()
            self.connection.shutdown(socket.SHUT_RDWR)
            return
        self.wfile.write(body)
    def do_GET(self): self.fwd(False)
    def do_HEAD(self): self.fwd(True)
srv = http.server.ThreadingHTTPServer(("127.0.0.1", 0), H)
with open(port_file + ".tmp", "w") as f: f.write(str(srv.server_address[1]))
os.rename(port_file + ".tmp", port_file)
srv.serve_forever()
"#;

struct Proxy {
    child: Child,
    addr: String,
}

impl Drop for Proxy {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn proxy(dir: &Path, upstream: &str, digest: &str, mode: &str) -> Proxy {
    let script = dir.join("proxy.py");
    std::fs::write(&script, PROXY).expect("write proxy.py");
    let port_file = dir.join(format!("proxy-{mode}.port"));
    let child = Command::new("python3")
        .arg(&script)
        .arg(&port_file)
        .args([upstream, digest, mode])
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .spawn()
        .expect("spawn python3");
    assert!(
        wait_until(Duration::from_secs(20), || port_file.exists()),
        "proxy did not start"
    );
    let port = std::fs::read_to_string(&port_file).expect("port");
    Proxy {
        child,
        addr: format!("127.0.0.1:{}", port.trim()),
    }
}

/// The digest of the image's (only) layer blob, as its manifest lists it.
fn layer_digest(reg: &str) -> String {
    let mut s = std::net::TcpStream::connect(reg).expect("connect registry");
    use std::io::Write;
    write!(
        s,
        "GET /v2/test/busybox/manifests/v1 HTTP/1.0\r\nHost: {reg}\r\nAccept: application/vnd.oci.image.manifest.v1+json, application/vnd.docker.distribution.manifest.v2+json\r\n\r\n"
    )
    .expect("send");
    let mut resp = String::new();
    s.read_to_string(&mut resp).expect("read");
    let body = resp.split("\r\n\r\n").nth(1).expect("body");
    let v: serde_json::Value = serde_json::from_str(body).expect("manifest json");
    v["layers"][0]["digest"]
        .as_str()
        .expect("layer digest")
        .to_string()
}

#[test]
fn broken_blob_downloads_leave_nothing() {
    let e = Engine::new("bad-blob");
    let r = registry_with_busybox(&e.dir);
    let layer = layer_digest(&r.reg.addr);
    // oci-client checks the digest at the end of the stream ("Invalid digest"); our blob
    // writer's check says "hashes to"; a short body is "download truncated".
    let causes: [(&str, &[&str]); 2] = [
        ("corrupt", &["Invalid digest", "hashes to"]),
        ("truncate", &["download truncated"]),
    ];
    for (mode, cause) in causes {
        let p = proxy(&e.dir, &r.reg.addr, &layer, mode);
        let img = format!("{}/test/busybox:v1", p.addr);
        let o = e.ctl(&["pull", &img]);
        assert_eq!(o.code(), Some(1), "{mode}: {o}");
        let hex = layer.trim_start_matches("sha256:");
        assert!(
            o.stderr.contains(&hex[..12]) && cause.iter().any(|c| o.stderr.contains(c)),
            "{mode}: the error must name the layer and why: {o}"
        );
        nothing_pulled(&e);
        assert_eq!(
            count(&e.root.join("blobs/sha256")),
            0,
            "{mode}: blobs of the failed pull left"
        );
    }
    // The store is fine: the good registry's image pulls and runs.
    e.ok(&["pull", "-q", &r.image]);
    assert_eq!(e.ok(&["run", "--rm", &r.image, "echo", "ok"]), "ok");
    check_clean(&e);
    assert_clean(&e);
}

#[test]
fn full_disk_fails_cleanly() {
    let e = Engine::new("bad-full");
    let r = registry_with_busybox(&e.dir);
    // A 1 MiB tmpfs as --root holds the database but not the image.
    std::fs::create_dir_all(&e.root).expect("mkdir");
    let mount = |size: &str| {
        let o = Command::new("mount")
            .args(["-t", "tmpfs", "-o", &format!("size={size}"), "tmpfs"])
            .arg(&e.root)
            .output()
            .expect("mount");
        assert!(o.status.success(), "mount tmpfs: {o:?}");
        // The mount hides the engine.json Engine::new wrote: again, or the run below
        // would make the default bridge on the host.
        e.set_config("bridge", Some(serde_json::json!("none")));
    };
    mount("1m");
    let o = e.ctl(&["pull", &r.image]);
    assert_eq!(o.code(), Some(1), "{o}");
    assert!(
        o.stderr.to_lowercase().contains("no space left on device"),
        "{o}"
    );
    nothing_pulled(&e);

    // Room for the image, then the disk filled: run fails as an engine error and leaves no
    // container, mount or directory.
    common::mountinfo::detach_mounts_under(&e.root);
    mount("16m");
    e.ok(&["pull", "-q", &r.image]);
    let filler = e.root.join("filler");
    let _ = Command::new("dd")
        .args(["if=/dev/zero", "bs=64k"])
        .arg(format!("of={}", filler.display()))
        .stderr(Stdio::null())
        .status();
    let o = e.ctl(&["run", "-d", "--name", "full", &r.image, "sleep", "100"]);
    assert_eq!(o.code(), Some(125), "{o}");
    assert!(
        o.stderr.to_lowercase().contains("no space left on device"),
        "{o}"
    );
    std::fs::remove_file(&filler).expect("rm filler");
    assert!(
        e.ok(&["ps", "-aq"]).is_empty(),
        "no container after a failed run"
    );
    assert_eq!(count(&e.root.join("containers")), 0);
    assert!(temporaries(&e).is_empty(), "{:?}", temporaries(&e));
    check_clean(&e);
    // With room again, the same name works.
    e.ok(&["run", "-d", "--name", "full", &r.image, "sleep", "100"]);
    e.ok(&["rm", "-f", "full"]);
    // The tmpfs is the test's; what assert_clean looks for is the engine's.
    common::mountinfo::detach_mounts_under(&e.root);
    assert_clean(&e);
}

#[test]
fn command_line_mistakes_as_docker() {
    let e = Engine::new("bad-flag");
    // docker: "unknown flag: --frobnicate\nSee 'docker run --help'.", exit 125.
    let o = e.ctl(&["run", "--frobnicate", "busybox"]);
    fails_with(&o, 125, "unknown flag: --frobnicate");
    assert!(o.stderr.contains("See 'ongictl run --help'."), "{o}");
    fails_with(&e.ctl(&["ps", "--bogus=1"]), 125, "unknown flag: --bogus");
    fails_with(
        &e.ctl(&["volume", "ls", "--nope"]),
        125,
        "See 'ongictl volume ls --help'.",
    );
    // Missing arguments and unknown commands exit 1, as docker's argument checks do.
    assert_eq!(e.ctl(&["rm"]).code(), Some(1));
    fails_with(&e.ctl(&["frob"]), 1, "'frob' is not an ongictl command");
    // Help is no error.
    let o = e.ctl(&["run", "--help"]);
    assert!(o.ok() && o.stdout.contains("Usage:"), "{o}");
    assert!(e.ok(&["ps", "-aq"]).is_empty());
}

#[test]
fn bad_volume_specs_leave_nothing() {
    let e = Engine::new("bad-vol");
    let r = registry_with_busybox(&e.dir);
    e.ok(&["pull", "-q", &r.image]);
    for (spec, want) in [
        ("/tmp:/x:zz", "invalid mode: zz"),
        ("/a:/b:ro:extra", "invalid volume specification"),
        ("/does/not/exist:/x", "bind source path does not exist"),
    ] {
        fails_with(
            &e.ctl(&["run", "--name", "v", "-v", spec, &r.image, "true"]),
            125,
            want,
        );
        assert!(e
            .ctl(&["run", "--name", "v", "-v", spec, &r.image, "true"])
            .stderr
            .contains(spec));
    }
    assert!(e.ok(&["ps", "-aq"]).is_empty());
    assert!(e.ok(&["volume", "ls", "-q"]).is_empty());
    assert_eq!(count(&e.root.join("containers")), 0);
    check_clean(&e);
    assert_clean(&e);
}

/// rm of several containers (done in parallel): each result reported in the order given,
/// the failures named with their cause and exit 1, the others removed all the same.
#[test]
fn rm_of_many_reports_each() {
    let e = Engine::new("bad-rm");
    let r = registry_with_busybox(&e.dir);
    e.ok(&["pull", "-q", &r.image]);
    e.ok(&["run", "-d", "--name", "up", &r.image, "sleep", "100"]);
    e.ok(&["create", "--name", "c1", &r.image, "true"]);
    e.ok(&["create", "--name", "c2", &r.image, "true"]);
    let o = e.ctl(&["rm", "c1", "up", "ghost", "c2"]);
    assert_eq!(o.code(), Some(1), "{o}");
    assert_eq!(o.stdout.lines().collect::<Vec<_>>(), ["c1", "c2"], "{o}");
    let errs: Vec<&str> = o.stderr.lines().collect();
    assert!(
        errs.len() == 2
            && errs[0].contains("\"/up\": container is running")
            && errs[1].contains("No such container: ghost"),
        "{o}"
    );
    assert_eq!(e.ok(&["ps", "-a", "--format", "{{.Names}}"]), "up");
    check_clean(&e);
    e.ok(&["rm", "-f", "up"]);
    assert_clean(&e);
}
