//! ongictl's smaller docker behaviours (issue 14's gaps): pull/push progress bars on a
//! terminal and plain lines otherwise, `cp` with tar streams on stdin/stdout, `ps --filter`
//! keys, `push --all-tags`, `import URL`, `commit --pause`, Go's printing of slices and maps
//! in `inspect -f`, `ps`'s COMMAND column, and `attach` input to a container run with -i.

mod common;

use std::fs;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::Duration;

use common::clients::{run_tty, Out};
use common::engine::{assert_clean, ongictl, registry_with_busybox, Engine};

/// `ongictl ARGS` for this engine as a Command (for a pty or extra stdio).
fn ctl_cmd(e: &Engine, args: &[&str]) -> Command {
    let mut c = Command::new(ongictl());
    c.arg("--root")
        .arg(&e.root)
        .arg("--run-root")
        .arg(&e.run_root)
        .args(args);
    c
}

/// `ongictl ARGS` under a fresh pty, as a user at a terminal runs it.
fn at_terminal(e: &Engine, args: &[&str]) -> Out {
    run_tty(&ctl_cmd(e, args), &e.dir)
}

#[test]
fn pull_and_push_draw_bars_on_a_terminal_and_plain_lines_otherwise() {
    let e = Engine::new("gprog");
    let r = registry_with_busybox(&e.dir);
    // At a terminal: each layer's line is redrawn in place (cursor movement), through
    // docker's states, ending in "Pull complete".
    let o = at_terminal(&e, &["pull", &r.image]);
    assert!(o.ok(), "{o}");
    assert!(o.stdout.contains("\x1b["), "no redraw on a terminal: {o}");
    for want in [
        "v1: Pulling from test/busybox",
        ": Pulling fs layer",
        ": Downloading [",
        ": Pull complete",
        "Digest: sha256:",
        "Status: Downloaded newer image for",
    ] {
        assert!(o.stdout.contains(want), "want {want:?}: {o}");
    }
    // Not a terminal: plain lines, one per state, no escape sequences, no byte counts.
    let plain = Engine::new("gprog2");
    let o = plain.ctl(&["pull", &r.image]);
    assert!(o.ok(), "{o}");
    assert!(!o.stdout.contains('\x1b'), "escapes in plain output: {o}");
    let lines: Vec<&str> = o.stdout.lines().collect();
    assert_eq!(lines[0], "v1: Pulling from test/busybox", "{o}");
    assert!(
        lines[1].ends_with(": Pulling fs layer") && lines[1].len() == 12 + 18,
        "{o}"
    );
    assert!(lines.iter().any(|l| l.ends_with(": Pull complete")), "{o}");
    assert!(!o.stdout.contains("Downloading"), "{o}");
    // Push at a terminal: per-layer lines redrawn, ending pushed (or mounted).
    let other = r.image.replace("test/busybox", "test/copy");
    e.ok(&["tag", &r.image, &other]);
    let o = at_terminal(&e, &["push", &other]);
    assert!(o.ok(), "{o}");
    assert!(o.stdout.contains("\x1b["), "no redraw on a terminal: {o}");
    assert!(
        o.stdout.contains("The push refers to repository")
            && (o.stdout.contains(": Pushed") || o.stdout.contains(": Mounted from test/busybox")),
        "{o}"
    );
    assert!(o.stdout.contains("v1: digest: sha256:"), "{o}");
}

/// A running container `name` that sleeps until stopped.
fn sleeper(e: &Engine, image: &str, name: &str) -> String {
    e.ok(&[
        "run",
        "-d",
        "--name",
        name,
        image,
        "sh",
        "-c",
        "trap 'exit 0' TERM; while true; do sleep 0.1; done",
    ])
}

/// `ongictl ARGS` with `input` on stdin; stdout kept as bytes.
fn ctl_bytes(e: &Engine, args: &[&str], input: Option<&Path>) -> (Option<i32>, Vec<u8>, String) {
    let mut c = ctl_cmd(e, args);
    c.stdin(match input {
        Some(p) => Stdio::from(fs::File::open(p).unwrap_or_else(|err| panic!("{err}"))),
        None => Stdio::null(),
    });
    let o = c.output().unwrap_or_else(|err| panic!("ongictl: {err}"));
    (
        o.status.code(),
        o.stdout,
        String::from_utf8_lossy(&o.stderr).into_owned(),
    )
}

#[test]
fn cp_streams_tar_to_stdout_and_from_stdin() {
    let e = Engine::new("gcp");
    let r = registry_with_busybox(&e.dir);
    e.ok(&["pull", &r.image]);
    sleeper(&e, &r.image, "c");
    e.ok(&[
        "exec",
        "c",
        "sh",
        "-c",
        "mkdir -p /data/sub && echo hello > /data/sub/f && chmod 640 /data/sub/f",
    ]);
    // Out: a tar on stdout whose entries are named from the path's last component.
    let (code, tar, err) = ctl_bytes(&e, &["cp", "c:/data", "-"], None);
    assert_eq!(code, Some(0), "{err}");
    let tarfile = e.dir.join("out.tar");
    fs::write(&tarfile, &tar).unwrap_or_else(|err| panic!("{err}"));
    let list = Command::new("tar")
        .arg("-tvf")
        .arg(&tarfile)
        .output()
        .unwrap_or_else(|err| panic!("tar: {err}"));
    let list = String::from_utf8_lossy(&list.stdout).into_owned();
    assert!(list.contains("data/sub/f"), "{list}");
    assert!(
        list.lines()
            .any(|l| l.starts_with("-rw-r-----") && l.ends_with("data/sub/f")),
        "mode kept: {list}"
    );
    let (code, one, err) = ctl_bytes(&e, &["cp", "c:/data/sub/f", "-"], None);
    assert_eq!(code, Some(0), "{err}");
    assert_eq!(&one[..2], b"f\0", "entry named f");
    // In: a tar from stdin extracted into a directory, ownership and modes from the archive.
    let src = e.dir.join("src");
    fs::create_dir_all(src.join("d")).unwrap_or_else(|err| panic!("{err}"));
    fs::write(src.join("d/x"), "from tar\n").unwrap_or_else(|err| panic!("{err}"));
    let intar = e.dir.join("in.tar");
    let mk = Command::new("tar")
        .args(["--owner=1234", "--group=5678", "--mode=600", "-cf"])
        .arg(&intar)
        .arg("-C")
        .arg(&src)
        .arg("d")
        .status()
        .unwrap_or_else(|err| panic!("tar: {err}"));
    assert!(mk.success());
    let (code, _, err) = ctl_bytes(&e, &["cp", "-", "c:/tmp"], Some(&intar));
    assert_eq!(code, Some(0), "{err}");
    assert_eq!(e.ok(&["exec", "c", "cat", "/tmp/d/x"]), "from tar");
    assert_eq!(
        e.ok(&["exec", "c", "stat", "-c", "%u:%g %a", "/tmp/d/x"]),
        "1234:5678 600"
    );
    // The destination must be an existing directory (docker's wording), else nothing lands.
    let (code, _, err) = ctl_bytes(&e, &["cp", "-", "c:/data/sub/f"], Some(&intar));
    assert_eq!(code, Some(1), "{err}");
    assert!(
        err.contains("destination \"c:/data/sub/f\" must be a directory"),
        "{err}"
    );
    let (code, _, err) = ctl_bytes(&e, &["cp", "-", "c:/nowhere"], Some(&intar));
    assert_eq!(code, Some(1), "{err}");
    assert!(
        err.contains("Could not find the file /nowhere in container c"),
        "{err}"
    );
    // An archive cannot write outside the destination.
    let evil = e.dir.join("evil.tar");
    let py = format!(
        "import tarfile,io\nt=tarfile.open('{}','w')\ni=tarfile.TarInfo('../../escaped')\nd=b'x'\ni.size=1\nt.addfile(i,io.BytesIO(d))\nt.close()\n",
        evil.display()
    );
    let ok = Command::new("python3")
        .args(["-c", &py])
        .status()
        .unwrap_or_else(|err| panic!("python3: {err}"));
    assert!(ok.success());
    let _ = ctl_bytes(&e, &["cp", "-", "c:/tmp"], Some(&evil));
    let o = e.ctl(&["exec", "c", "ls", "/escaped"]);
    assert!(!o.ok(), "an entry escaped /tmp: {o}");
    assert!(!e.root.join("containers/escaped").exists());
    // A stopped container's files stream too, and its rootfs is unmounted again.
    e.ok(&["stop", "-t", "1", "c"]);
    let (code, one, err) = ctl_bytes(&e, &["cp", "c:/tmp/d/x", "-"], None);
    assert_eq!(code, Some(0), "{err}");
    assert!(String::from_utf8_lossy(&one).contains("from tar"));
    e.ok(&["rm", "c"]);
    assert_clean(&e);
}

#[test]
fn ps_filters_as_docker() {
    let e = Engine::new("gpsf");
    let r = registry_with_busybox(&e.dir);
    e.ok(&["pull", &r.image]);
    e.ok(&[
        "create", "--name", "first", "-l", "tier=db", &r.image, "true",
    ]);
    let o = e.ctl(&[
        "run",
        "--name",
        "second",
        "-v",
        "vol1:/data",
        &r.image,
        "sh",
        "-c",
        "exit 3",
    ]);
    assert_eq!(o.code(), Some(3), "{o}");
    sleeper(&e, &r.image, "third");
    let names = |f: &[&str]| -> String {
        let mut args = vec!["ps", "-a", "--format", "{{.Names}}"];
        for x in f {
            args.push("--filter");
            args.push(x);
        }
        let mut v: Vec<String> = e.ok(&args).lines().map(String::from).collect();
        v.sort();
        v.join(",")
    };
    assert_eq!(names(&["before=third"]), "first,second");
    assert_eq!(names(&["since=first"]), "second,third");
    assert_eq!(names(&["since=first", "before=third"]), "second");
    assert_eq!(names(&["volume=vol1"]), "second");
    assert_eq!(names(&["volume=/data"]), "second");
    assert_eq!(names(&["exited=3"]), "second");
    assert_eq!(names(&["status=created"]), "first");
    assert_eq!(names(&["status=running"]), "third");
    assert_eq!(names(&["status=exited", "status=created"]), "first,second");
    assert_eq!(names(&["label=tier=db"]), "first");
    assert_eq!(names(&["label=tier"]), "first");
    assert_eq!(names(&["name=ir"]), "first,third");
    let anc = format!("ancestor={}", r.image);
    assert_eq!(names(&[&anc]), "first,second,third");
    let id = e.ok(&["ps", "-aq", "--no-trunc", "--filter", "name=second"]);
    assert_eq!(names(&[&format!("id={}", &id[..8])]), "second");
    // Without -a, status= still lists stopped containers, as docker's does.
    assert_eq!(
        e.ok(&["ps", "--filter", "status=exited", "--format", "{{.Names}}"]),
        "second"
    );
    // Bad filters: docker's messages, exit 1.
    let o = e.ctl(&["ps", "--filter", "before=nosuch"]);
    assert_eq!(o.code(), Some(1), "{o}");
    assert!(o.stderr.contains("No such container: nosuch"), "{o}");
    let o = e.ctl(&["ps", "--filter", "color=red"]);
    assert_eq!(o.code(), Some(1), "{o}");
    assert!(o.stderr.contains("invalid filter 'color'"), "{o}");
}

#[test]
fn ps_command_column_quoted_and_truncated_as_docker() {
    let e = Engine::new("gpscmd");
    let r = registry_with_busybox(&e.dir);
    e.ok(&["pull", &r.image]);
    e.ok(&["create", "--name", "a", &r.image, "sh", "-c", "sleep 100"]);
    e.ok(&[
        "create",
        "--name",
        "b",
        &r.image,
        "sh",
        "-c",
        "echo \"quoted\" && sleep 1000",
    ]);
    let row = |name: &str, extra: &[&str]| -> String {
        let mut args = vec!["ps", "-a", "--filter"];
        let f = format!("name={name}");
        args.push(&f);
        args.extend(extra);
        let out = e.ok(&args);
        out.lines().nth(1).unwrap_or_default().to_string()
    };
    assert!(
        row("a", &[]).contains("   \"sh -c 'sleep 100'\"   "),
        "{}",
        row("a", &[])
    );
    // Cut at 20 characters with an ellipsis, before quoting.
    assert!(
        row("b", &[]).contains("   \"sh -c 'echo \\\"quoted…\"   "),
        "{}",
        row("b", &[])
    );
    assert!(
        row("b", &["--no-trunc"]).contains("\"sh -c 'echo \\\"quoted\\\" && sleep 1000'\""),
        "{}",
        row("b", &["--no-trunc"])
    );
    assert_eq!(
        e.ok(&["ps", "-a", "--filter", "name=a", "--format", "{{.Command}}"]),
        "\"sh -c 'sleep 100'\""
    );
}

#[test]
fn push_all_tags() {
    let e = Engine::new("gpusha");
    let r = registry_with_busybox(&e.dir);
    e.ok(&["pull", &r.image]);
    let repo = r.image.replace("test/busybox:v1", "test/many");
    for t in ["t1", "t2", "t3"] {
        e.ok(&["tag", &r.image, &format!("{repo}:{t}")]);
    }
    let o = e.ctl(&["push", "--all-tags", &repo]);
    assert!(o.ok(), "{o}");
    for t in ["t1", "t2", "t3"] {
        assert!(o.stdout.contains(&format!("{t}: digest: sha256:")), "{o}");
    }
    // What the registry now holds (asked with skopeo, a real client).
    let tags = Command::new("skopeo")
        .args([
            "list-tags",
            "--tls-verify=false",
            &format!("docker://{repo}"),
        ])
        .output()
        .unwrap_or_else(|err| panic!("skopeo: {err}"));
    let tags = String::from_utf8_lossy(&tags.stdout).into_owned();
    for t in ["t1", "t2", "t3"] {
        assert!(tags.contains(&format!("\"{t}\"")), "{tags}");
    }
    assert!(!tags.contains("v1"), "{tags}");
    let o = e.ctl(&["push", "-a", &format!("{repo}:t1")]);
    assert_eq!(o.code(), Some(1), "{o}");
    assert!(
        o.stderr.contains("tag can't be used with --all-tags/-a"),
        "{o}"
    );
    let o = e.ctl(&[
        "push",
        "-a",
        &r.image.replace("test/busybox:v1", "test/none"),
    ]);
    assert_eq!(o.code(), Some(1), "{o}");
    assert!(
        o.stderr
            .contains("An image does not exist locally with the tag"),
        "{o}"
    );
}

/// Waits until process `pid` is stopped (state T).
fn wait_stopped(pid: u32) -> bool {
    common::wait_until(Duration::from_secs(20), || {
        fs::read_to_string(format!("/proc/{pid}/stat"))
            .ok()
            .and_then(|s| {
                s.rsplit_once(')')
                    .map(|(_, r)| r.trim_start().starts_with('T'))
            })
            .unwrap_or(false)
    })
}

#[test]
fn commit_pauses_the_container_while_reading_it() {
    let e = Engine::new("gcommit");
    let r = registry_with_busybox(&e.dir);
    e.ok(&["pull", &r.image]);
    sleeper(&e, &r.image, "c");
    e.ok(&["exec", "c", "sh", "-c", "echo kept > /kept"]);
    let status = || e.ok(&["inspect", "-f", "{{.State.Status}} {{.State.Paused}}", "c"]);
    // Held (SIGSTOP by the test hook) at the point where it reads the upper directory: the
    // container is frozen then.
    let child = ctl_cmd(&e, &["commit", "c", "gaps/one:v1"])
        .env("ONGI_TEST_PAUSE_AT", "commit:paused")
        .stdout(Stdio::piped())
        .spawn()
        .unwrap_or_else(|err| panic!("spawn: {err}"));
    assert!(
        wait_stopped(child.id()),
        "commit never reached its pause point"
    );
    assert_eq!(status(), "paused true");
    let o = e.ctl(&["exec", "c", "true"]);
    assert!(!o.ok(), "exec in a frozen container: {o}");
    nix::sys::signal::kill(
        nix::unistd::Pid::from_raw(child.id() as i32),
        nix::sys::signal::Signal::SIGCONT,
    )
    .unwrap_or_else(|err| panic!("SIGCONT: {err}"));
    let out = child
        .wait_with_output()
        .unwrap_or_else(|err| panic!("{err}"));
    assert!(out.status.success());
    assert!(String::from_utf8_lossy(&out.stdout).starts_with("sha256:"));
    // Thawed afterwards, and the image has the file.
    assert_eq!(status(), "running false");
    assert_eq!(
        e.ok(&["run", "--rm", "gaps/one:v1", "cat", "/kept"]),
        "kept"
    );
    // --pause=false leaves it running throughout (the hook is never reached).
    let o = ctl_cmd(&e, &["commit", "--pause=false", "c", "gaps/two:v1"])
        .env("ONGI_TEST_PAUSE_AT", "commit:paused")
        .output()
        .unwrap_or_else(|err| panic!("{err}"));
    assert!(o.status.success(), "{o:?}");
    assert_eq!(status(), "running false");
    // A paused container stays paused.
    e.ok(&["pause", "c"]);
    e.ok(&["commit", "c", "gaps/three:v1"]);
    assert_eq!(status(), "paused true");
    e.ok(&["unpause", "c"]);
    let o = e.ctl(&["commit", "--pause=maybe", "c"]);
    assert_eq!(o.code(), Some(125), "{o}");
}

#[test]
fn inspect_prints_slices_and_maps_as_go() {
    let e = Engine::new("ginsp");
    let r = registry_with_busybox(&e.dir);
    e.ok(&["pull", &r.image]);
    e.ok(&["tag", &r.image, "gaps/x:1"]);
    e.ok(&[
        "create", "--name", "c", "-l", "b=2", "-l", "a=1 1", &r.image, "sh", "-c", "true",
    ]);
    let tags = e.ok(&["image", "inspect", "-f", "{{.RepoTags}}", "gaps/x:1"]);
    assert!(
        tags == format!("[{} gaps/x:1]", r.image) || tags == format!("[gaps/x:1 {}]", r.image),
        "{tags}"
    );
    assert_eq!(
        e.ok(&["inspect", "-f", "{{.Config.Labels}}", "c"]),
        "map[a:1 1 b:2]"
    );
    assert_eq!(e.ok(&["inspect", "-f", "{{.Args}}", "c"]), "[-c true]");
    assert_eq!(
        e.ok(&["inspect", "-f", "{{json .Args}}", "c"]),
        "[\"-c\",\"true\"]"
    );
}

/// An HTTP server on 127.0.0.1 (python3's http.server) serving `dir`, plus `/short/NAME`:
/// NAME's headers with its full Content-Length, then half the body and a closed
/// connection. Killed on drop.
struct Http {
    child: std::process::Child,
    port: u16,
}

impl Http {
    fn start(dir: &Path) -> Http {
        let script = r#"
import http.server, os, sys
class H(http.server.SimpleHTTPRequestHandler):
    def do_GET(self):
        if self.path.startswith('/short/'):
            data = open(self.path[len('/short/'):], 'rb').read()
            self.send_response(200)
            self.send_header('Content-Length', str(len(data)))
            self.end_headers()
            self.wfile.write(data[:len(data)//2])
            self.wfile.flush()
            self.close_connection = True
            return
        return super().do_GET()
    def log_message(self, *a):
        pass
s = http.server.HTTPServer(('127.0.0.1', 0), H)
print(s.server_address[1], flush=True)
s.serve_forever()
"#;
        let mut child = Command::new("python3")
            .args(["-c", script])
            .current_dir(dir)
            .stdout(Stdio::piped())
            .spawn()
            .unwrap_or_else(|err| panic!("python3: {err}"));
        let mut line = String::new();
        let out = child.stdout.take().unwrap_or_else(|| panic!("no stdout"));
        std::io::BufRead::read_line(&mut std::io::BufReader::new(out), &mut line)
            .unwrap_or_else(|err| panic!("{err}"));
        let port = line
            .trim()
            .parse()
            .unwrap_or_else(|err| panic!("port {line:?}: {err}"));
        Http { child, port }
    }
}

impl Drop for Http {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

#[test]
fn import_from_a_url() {
    let e = Engine::new("gimport");
    let r = registry_with_busybox(&e.dir);
    e.ok(&["pull", &r.image]);
    e.ok(&["create", "--name", "src", &r.image, "true"]);
    let marker = e.dir.join("marker-src");
    fs::write(&marker, "marked\n").unwrap_or_else(|err| panic!("{err}"));
    e.ok(&["cp", &marker.display().to_string(), "src:/marker"]);
    let web = e.dir.join("web");
    fs::create_dir_all(&web).unwrap_or_else(|err| panic!("{err}"));
    e.ok(&[
        "export",
        "-o",
        &web.join("rootfs.tar").display().to_string(),
        "src",
    ]);
    let gz = Command::new("sh")
        .arg("-c")
        .arg("gzip -c rootfs.tar > rootfs.tar.gz")
        .current_dir(&web)
        .status()
        .unwrap_or_else(|err| panic!("{err}"));
    assert!(gz.success());
    let http = Http::start(&web);
    let base = format!("http://127.0.0.1:{}", http.port);
    let before = e.ok(&["images", "-q"]);
    // Plain and gzip tarballs, streamed from the server; the image runs.
    for (file, tag) in [
        ("rootfs.tar", "gaps/imp:plain"),
        ("rootfs.tar.gz", "gaps/imp:gz"),
    ] {
        let o = e.ctl(&["import", &format!("{base}/{file}"), tag]);
        assert!(o.ok(), "{o}");
        assert!(o.stdout.trim().starts_with("sha256:"), "{o}");
        assert_eq!(e.ok(&["run", "--rm", tag, "cat", "/marker"]), "marked");
    }
    // A missing file: docker's message, exit 1, no image.
    let images = e.ok(&["images", "-q"]);
    let o = e.ctl(&["import", &format!("{base}/nothere.tar"), "gaps/imp:missing"]);
    assert_eq!(o.code(), Some(1), "{o}");
    assert!(o.stderr.contains("with status 404"), "{o}");
    // Cut short of its Content-Length: fails, nothing recorded.
    let o = e.ctl(&[
        "import",
        &format!("{base}/short/rootfs.tar"),
        "gaps/imp:short",
    ]);
    assert_eq!(o.code(), Some(1), "{o}");
    // No server: a clear error naming the URL.
    drop(http);
    let o = e.ctl(&["import", &format!("{base}/rootfs.tar"), "gaps/imp:down"]);
    assert_eq!(o.code(), Some(1), "{o}");
    assert!(o.stderr.contains(&base), "{o}");
    assert_eq!(e.ok(&["images", "-q"]), images);
    assert_ne!(images, before);
    let o = e.ok(&[
        "images",
        "--format",
        "{{.Tag}}",
        "--filter",
        "reference=gaps/imp",
    ]);
    assert!(!o.contains("short") && !o.contains("missing"), "{o}");
}

#[test]
fn attach_sends_input_to_a_detached_interactive_container() {
    let e = Engine::new("gattach");
    let r = registry_with_busybox(&e.dir);
    e.ok(&["pull", &r.image]);
    // -d -i without -t: the container's stdin stays open (docker's), so `cat` keeps running.
    e.ok(&[
        "run",
        "-d",
        "-i",
        "--name",
        "c",
        &r.image,
        "sh",
        "-c",
        "while read line; do echo got:$line; [ \"$line\" = bye ] && exit 7; done; echo eof",
    ]);
    std::thread::sleep(Duration::from_millis(500));
    assert_eq!(
        e.ok(&["inspect", "-f", "{{.State.Running}}", "c"]),
        "true",
        "stdin closed at start"
    );
    // A first client sends a line and ends its input: the container gets the line, its
    // stdin stays open (no StdinOnce) and the client keeps receiving output.
    let one = e.dir.join("one.in");
    fs::write(&one, "hello\n").unwrap_or_else(|err| panic!("{err}"));
    let first = ctl_cmd(&e, &["attach", "c"])
        .stdin(Stdio::from(
            fs::File::open(&one).unwrap_or_else(|err| panic!("{err}")),
        ))
        .stdout(Stdio::piped())
        .spawn()
        .unwrap_or_else(|err| panic!("attach: {err}"));
    assert!(
        common::wait_until(Duration::from_secs(10), || e
            .ok(&["logs", "c"])
            .contains("got:hello")),
        "input did not arrive: {}",
        e.ok(&["logs", "c"])
    );
    assert_eq!(e.ok(&["inspect", "-f", "{{.State.Running}}", "c"]), "true");
    // A second client's input reaches the same stdin; the container exits; both clients
    // end with its exit code and saw the output after they attached.
    let two = e.dir.join("two.in");
    fs::write(&two, "bye\n").unwrap_or_else(|err| panic!("{err}"));
    let second = ctl_cmd(&e, &["attach", "c"])
        .stdin(Stdio::from(
            fs::File::open(&two).unwrap_or_else(|err| panic!("{err}")),
        ))
        .output()
        .unwrap_or_else(|err| panic!("attach: {err}"));
    assert_eq!(second.status.code(), Some(7), "{second:?}");
    assert!(
        String::from_utf8_lossy(&second.stdout).contains("got:bye"),
        "{second:?}"
    );
    let first_out = first
        .wait_with_output()
        .unwrap_or_else(|err| panic!("{err}"));
    assert_eq!(first_out.status.code(), Some(7));
    assert!(String::from_utf8_lossy(&first_out.stdout).contains("got:bye"));
    assert_eq!(e.ok(&["inspect", "-f", "{{.State.ExitCode}}", "c"]), "7");
    // --no-stdin: output only; the input is not sent.
    e.ok(&[
        "run",
        "-d",
        "-i",
        "--name",
        "d",
        &r.image,
        "sh",
        "-c",
        "read -t 2 x && echo read:$x || echo none",
    ]);
    let o = ctl_cmd(&e, &["attach", "--no-stdin", "d"])
        .stdin(Stdio::from(
            fs::File::open(&one).unwrap_or_else(|err| panic!("{err}")),
        ))
        .output()
        .unwrap_or_else(|err| panic!("attach: {err}"));
    assert!(String::from_utf8_lossy(&o.stdout).contains("none"), "{o:?}");
}
