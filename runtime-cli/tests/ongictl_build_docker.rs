//! `ongictl build` checked against docker's classic builder (Debian's docker.io, a private
//! dockerd, DOCKER_BUILDKIT=0): a corpus of small Dockerfiles and contexts, each built by
//! both from the same context on the same base image (one busybox-static docker-archive
//! loaded into both stores, no registry, no network), both images saved and compared:
//! files, types, modes, owners, symlink targets, hard-link groups and contents of the
//! flattened layers; the config fields docker documents; the history's created_by and
//! empty_layer pattern. Where dockerd is missing or cannot start the test says so and
//! passes (CI's emulated VM has none).
//!
//! Differences that remain on purpose (also in the README):
//! - mtimes and `created` times: not compared (RUN makes files at different times).
//! - the content hash in a COPY/ADD `created_by` (`file:<hash>`): docker hashes a tar of
//!   the source with its own header rules; we compare the form with the hash masked.

mod common;

use std::collections::{BTreeMap, BTreeSet};
use std::fs;
use std::hash::Hasher;
use std::io::Read;
use std::panic::AssertUnwindSafe;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Duration;

use common::build::{context, s};
use common::clients::docker::Dockerd;
use common::clients::{image, run_limited, Out};
use common::engine::{assert_clean, Engine};

const BASE: &str = "busybox:cmp";

/// The base image's docker-archive in `dir`. One at a time: its layer is tarred from a
/// rootfs hard-linked to one cached busybox, and a link made by a parallel test changes
/// its ctime mid-read (tar exits 1), as `registry_with_busybox` knows.
fn base_archive(dir: &Path) -> PathBuf {
    static ONE: std::sync::Mutex<()> = std::sync::Mutex::new(());
    let _g = ONE.lock().unwrap_or_else(|p| p.into_inner());
    image::docker_archive(dir, BASE)
}

/// A private dockerd, or None with the reason printed.
fn dockerd(e: &Engine) -> Option<Dockerd> {
    if Command::new("dockerd").arg("--version").output().is_err() {
        eprintln!("SKIPPED: no dockerd on this machine (install docker.io)");
        return None;
    }
    match std::panic::catch_unwind(AssertUnwindSafe(|| Dockerd::start(&e.dir))) {
        Ok(d) => Some(d),
        Err(_) => {
            eprintln!("SKIPPED: dockerd did not start (its log is above)");
            None
        }
    }
}

/// One file of a flattened image.
#[derive(Debug, Clone, PartialEq)]
struct Node {
    /// f d l c b p
    kind: char,
    mode: u32,
    uid: u64,
    gid: u64,
    /// Content hash, link target or device numbers.
    data: String,
}

/// A flattened image: path -> node, and the hard-link groups.
struct Tree {
    nodes: BTreeMap<String, (Node, usize)>,
}

impl Tree {
    fn links(&self) -> BTreeSet<Vec<String>> {
        let mut by: BTreeMap<usize, Vec<String>> = BTreeMap::new();
        for (p, (n, ino)) in &self.nodes {
            if n.kind == 'f' {
                by.entry(*ino).or_default().push(p.clone());
            }
        }
        by.into_values().filter(|v| v.len() > 1).collect()
    }
}

fn norm(p: &str) -> String {
    let p = p.trim_start_matches("./").trim_start_matches('/');
    p.trim_end_matches('/').to_string()
}

fn remove_under(nodes: &mut BTreeMap<String, (Node, usize)>, p: &str, keep: &BTreeSet<String>) {
    let prefix = format!("{p}/");
    nodes.retain(|k, _| !k.starts_with(&prefix) || keep.contains(k));
}

/// Applies the layer tars in order, with overlay whiteouts.
fn flatten(layers: &[PathBuf]) -> Tree {
    let mut nodes: BTreeMap<String, (Node, usize)> = BTreeMap::new();
    let mut next_ino = 0usize;
    for l in layers {
        let mut head = [0u8; 2];
        let f = fs::File::open(l).unwrap_or_else(|e| panic!("open {}: {e}", l.display()));
        let gz = fs::File::open(l)
            .and_then(|mut f| f.read_exact(&mut head))
            .is_ok()
            && head == [0x1f, 0x8b];
        let r: Box<dyn Read> = if gz {
            Box::new(flate2::read::GzDecoder::new(f))
        } else {
            Box::new(f)
        };
        let mut a = tar::Archive::new(r);
        let mut this_layer = BTreeSet::new();
        let entries = a
            .entries()
            .unwrap_or_else(|e| panic!("{}: {e}", l.display()));
        for ent in entries {
            let mut ent = ent.unwrap_or_else(|e| panic!("{}: {e}", l.display()));
            let path = norm(
                &ent.path()
                    .map(|p| p.to_string_lossy().into_owned())
                    .unwrap_or_default(),
            );
            if path.is_empty() {
                continue;
            }
            let (parent, base) = match path.rsplit_once('/') {
                Some((d, b)) => (d.to_string(), b.to_string()),
                None => (String::new(), path.clone()),
            };
            if base == ".wh..wh..opq" {
                let keep = this_layer.clone();
                remove_under(&mut nodes, &parent, &keep);
                continue;
            }
            if let Some(gone) = base.strip_prefix(".wh.") {
                let gone = if parent.is_empty() {
                    gone.to_string()
                } else {
                    format!("{parent}/{gone}")
                };
                nodes.remove(&gone);
                remove_under(&mut nodes, &gone, &BTreeSet::new());
                continue;
            }
            let h = ent.header().clone();
            let mode = h.mode().unwrap_or(0) & 0o7777;
            let uid = h.uid().unwrap_or(0);
            let gid = h.gid().unwrap_or(0);
            let link = ent
                .link_name()
                .ok()
                .flatten()
                .map(|p| p.to_string_lossy().into_owned())
                .unwrap_or_default();
            let et = h.entry_type();
            let (node, ino) = if et.is_hard_link() {
                match nodes.get(&norm(&link)) {
                    Some((n, ino)) => (n.clone(), *ino),
                    None => panic!("{}: hard link {path} to missing {link}", l.display()),
                }
            } else {
                let (kind, data) = if et.is_dir() {
                    ('d', String::new())
                } else if et.is_symlink() {
                    ('l', link)
                } else if et.is_character_special() || et.is_block_special() {
                    (
                        if et.is_character_special() { 'c' } else { 'b' },
                        format!(
                            "{}:{}",
                            h.device_major().ok().flatten().unwrap_or(0),
                            h.device_minor().ok().flatten().unwrap_or(0)
                        ),
                    )
                } else if et.is_fifo() {
                    ('p', String::new())
                } else {
                    let mut buf = Vec::new();
                    let _ = ent.read_to_end(&mut buf);
                    let mut hs = std::collections::hash_map::DefaultHasher::new();
                    hs.write(&buf);
                    ('f', format!("{} bytes {:016x}", buf.len(), hs.finish()))
                };
                next_ino += 1;
                (
                    Node {
                        kind,
                        mode,
                        uid,
                        gid,
                        data,
                    },
                    next_ino,
                )
            };
            if node.kind != 'd' {
                remove_under(&mut nodes, &path, &BTreeSet::new());
            }
            this_layer.insert(path.clone());
            nodes.insert(path, (node, ino));
        }
    }
    Tree { nodes }
}

/// A saved image: its config JSON and its flattened files.
struct Saved {
    config: serde_json::Value,
    tree: Tree,
}

fn read_saved(archive: &Path, into: &Path) -> Saved {
    fs::create_dir_all(into).unwrap_or_else(|e| panic!("mkdir: {e}"));
    let f = fs::File::open(archive).unwrap_or_else(|e| panic!("open {}: {e}", archive.display()));
    tar::Archive::new(f)
        .unpack(into)
        .unwrap_or_else(|e| panic!("unpack {}: {e}", archive.display()));
    let m: serde_json::Value = serde_json::from_slice(
        &fs::read(into.join("manifest.json")).unwrap_or_else(|e| panic!("manifest: {e}")),
    )
    .unwrap_or_else(|e| panic!("manifest: {e}"));
    let cfg = m[0]["Config"].as_str().unwrap_or_default();
    let config = serde_json::from_slice(&fs::read(into.join(cfg)).unwrap_or_default())
        .unwrap_or_else(|e| panic!("config {cfg}: {e}"));
    let layers: Vec<PathBuf> = m[0]["Layers"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|l| l.as_str())
        .map(|l| into.join(l))
        .collect();
    Saved {
        config,
        tree: flatten(&layers),
    }
}

/// `file:0123abcd` and the like with the hash masked: docker's hash is of its own tar of
/// the sources.
fn mask_hashes(s: &str) -> String {
    let mut out = String::new();
    let mut rest = s;
    while let Some(i) = ["file:", "dir:", "multi:"]
        .iter()
        .filter_map(|k| rest.find(k).map(|i| i + k.len()))
        .min()
    {
        out.push_str(&rest[..i]);
        rest = &rest[i..];
        let n = rest
            .find(|c: char| !c.is_ascii_hexdigit())
            .unwrap_or(rest.len());
        out.push_str(if n > 0 { "<hash>" } else { "" });
        rest = &rest[n..];
    }
    out.push_str(rest);
    // A download's hash stands alone (`ADD <64 hex> in /dl/`).
    out.split(' ')
        .map(|w| {
            if w.len() == 64 && w.bytes().all(|b| b.is_ascii_hexdigit()) {
                "<hash>"
            } else {
                w
            }
        })
        .collect::<Vec<_>>()
        .join(" ")
}

fn empty_is_null(v: &serde_json::Value) -> serde_json::Value {
    let empty = v.is_null()
        || v == ""
        || v.as_array().is_some_and(|a| a.is_empty())
        || v.as_object().is_some_and(|o| o.is_empty());
    if empty {
        serde_json::Value::Null
    } else {
        v.clone()
    }
}

/// Every difference between the two images, as lines.
fn differences(ours: &Saved, theirs: &Saved) -> Vec<String> {
    let mut d = Vec::new();
    for f in [
        "Env",
        "Cmd",
        "Entrypoint",
        "WorkingDir",
        "User",
        "ExposedPorts",
        "Volumes",
        "Labels",
        "Healthcheck",
        "StopSignal",
        "OnBuild",
        "Shell",
    ] {
        let a = empty_is_null(&ours.config["config"][f]);
        let b = empty_is_null(&theirs.config["config"][f]);
        if a != b {
            d.push(format!("Config.{f}: ours {a} docker's {b}"));
        }
    }
    let a = empty_is_null(&ours.config["author"]);
    let b = empty_is_null(&theirs.config["author"]);
    if a != b {
        d.push(format!("author: ours {a} docker's {b}"));
    }
    let hist = |s: &Saved| -> Vec<(String, bool)> {
        s.config["history"]
            .as_array()
            .into_iter()
            .flatten()
            .map(|h| {
                (
                    mask_hashes(h["created_by"].as_str().unwrap_or_default()),
                    h["empty_layer"].as_bool().unwrap_or(false),
                )
            })
            .collect()
    };
    let (ha, hb) = (hist(ours), hist(theirs));
    if ha != hb {
        d.push(format!("history:\n  ours     {ha:?}\n  docker's {hb:?}"));
    }
    let keys: BTreeSet<&String> = ours
        .tree
        .nodes
        .keys()
        .chain(theirs.tree.nodes.keys())
        .collect();
    for k in keys {
        let a = ours.tree.nodes.get(k).map(|x| &x.0);
        let b = theirs.tree.nodes.get(k).map(|x| &x.0);
        if a != b {
            d.push(format!("/{k}: ours {a:?} docker's {b:?}"));
        }
    }
    let (la, lb) = (ours.tree.links(), theirs.tree.links());
    if la != lb {
        d.push(format!("hard links: ours {la:?} docker's {lb:?}"));
    }
    d
}

struct Both<'a> {
    e: &'a Engine,
    d: &'a Dockerd,
}

impl Both<'_> {
    /// Builds `ctx` with both builders as `tag` (each in its own store); their outputs.
    fn build(&self, tag: &str, ctx: &Path, args: &[&str]) -> (Out, Out) {
        let mut a = vec!["build", "-t", tag];
        a.extend_from_slice(args);
        a.push(s(ctx));
        let t0 = std::time::Instant::now();
        let ours = self.e.ctl_limit(&a, Duration::from_secs(300));
        let t1 = std::time::Instant::now();
        let mut c = self.d.cli();
        c.env("DOCKER_BUILDKIT", "0").args(&a);
        let theirs = run_limited(&mut c, &self.e.dir, Duration::from_secs(300))
            .unwrap_or_else(|err| panic!("{err}"));
        // For the record (cold builds, base already loaded): not asserted.
        eprintln!(
            "{tag}: ongictl build {:?}, docker build {:?}",
            t1 - t0,
            t1.elapsed()
        );
        (ours, theirs)
    }

    /// Builds with both and compares; the differences found.
    fn compare(&self, name: &str, ctx: &Path, args: &[&str]) -> Vec<String> {
        let tag = format!("{name}:cmp");
        let (ours, theirs) = self.build(&tag, ctx, args);
        if !ours.ok() || !theirs.ok() {
            return vec![format!(
                "{name}: a build failed:\n--- ongictl: {ours}\n--- docker: {theirs}"
            )];
        }
        let dir = self.e.dir.join("saved").join(name);
        let (oa, ta) = (dir.join("ours.tar"), dir.join("theirs.tar"));
        fs::create_dir_all(&dir).unwrap_or_else(|e| panic!("mkdir: {e}"));
        self.e.ok(&["save", "-o", s(&oa), &tag]);
        let o = self.d.docker(&["save", "-o", s(&ta), &tag]);
        assert!(o.ok(), "{o}");
        let a = read_saved(&oa, &dir.join("ours"));
        let b = read_saved(&ta, &dir.join("theirs"));
        let _ = fs::remove_dir_all(&dir);
        differences(&a, &b)
            .into_iter()
            .map(|l| format!("{name}: {l}"))
            .collect()
    }
}

fn symlink(target: &str, at: &Path) {
    std::os::unix::fs::symlink(target, at).unwrap_or_else(|e| panic!("symlink {at:?}: {e}"));
}

fn tar_of(dir: &Path, out: &Path, gzip: bool) {
    let mut c = Command::new("tar");
    c.args([
        "--sort=name",
        "--owner=5",
        "--group=6",
        "--numeric-owner",
        "--mtime=@1000000000",
    ])
    .arg("-C")
    .arg(dir)
    .arg(if gzip { "-czf" } else { "-cf" })
    .arg(out)
    .arg(".");
    let o = c.output().unwrap_or_else(|e| panic!("tar: {e}"));
    assert!(o.status.success(), "tar: {o:?}");
}

/// busybox's httpd serving `dir` on 127.0.0.1 (it sends Last-Modified); stopped when
/// dropped.
struct Httpd {
    child: std::process::Child,
    port: u16,
}

impl Httpd {
    fn start(dir: &Path) -> Httpd {
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .map(|a| a.port())
            .unwrap_or_else(|err| panic!("free port: {err}"));
        let child = Command::new("busybox")
            .args(["httpd", "-f", "-p", &format!("127.0.0.1:{port}"), "-h"])
            .arg(dir)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap_or_else(|err| panic!("busybox httpd (install busybox-static): {err}"));
        let h = Httpd { child, port };
        let up = common::wait::wait_until(Duration::from_secs(30), || {
            std::net::TcpStream::connect(("127.0.0.1", port)).is_ok()
        });
        assert!(up, "busybox httpd did not listen on {port}");
        h
    }

    fn url(&self, file: &str) -> String {
        format!("http://127.0.0.1:{}/{file}", self.port)
    }
}

impl Drop for Httpd {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Files an HTTP server hands out: `file.txt` (mtime 1000000000) and `arch.tar.gz`.
fn served(dir: &Path) -> PathBuf {
    let srv = context(dir, "srv", &[("file.txt", "downloaded\n"), ("t/x", "x\n")]);
    tar_of(&srv.join("t"), &srv.join("arch.tar.gz"), true);
    let o = Command::new("touch")
        .args(["-d", "@1000000000"])
        .arg(srv.join("file.txt"))
        .output()
        .unwrap_or_else(|err| panic!("touch: {err}"));
    assert!(o.status.success(), "{o:?}");
    srv
}

/// The corpus (see the module doc): every case built by both builders and compared.
#[test]
fn corpus_builds_the_same_images_as_docker() {
    let e = Engine::new("build-corpus");
    let Some(d) = dockerd(&e) else { return };
    let archive = base_archive(&e.dir);
    e.ok(&["load", "-i", s(&archive)]);
    let o = d.docker(&["load", "-i", s(&archive)]);
    assert!(o.ok(), "docker load: {o}");
    let both = Both { e: &e, d: &d };
    let mut diffs = Vec::new();

    // Multi-stage: COPY --from by name and by index, ARG before FROM, --target.
    let ctx = context(
        &e.dir,
        "multistage",
        &[
            ("f.txt", "f\n"),
            (
                "Dockerfile",
                "ARG BASE=busybox:cmp\n\
                 FROM $BASE AS builder\n\
                 RUN mkdir -p /out/sub && echo built > /out/a && ln -s a /out/link \
                     && ln /out/a /out/hard && chmod 0640 /out/a && chown 1000:1000 /out/sub\n\
                 FROM busybox:cmp AS second\n\
                 COPY f.txt /s/\n\
                 RUN echo second > /s/run\n\
                 FROM busybox:cmp\n\
                 COPY --from=builder /out /got/\n\
                 COPY --from=1 /s/ /from-index/\n\
                 COPY --from=builder /out/a /single\n\
                 COPY --from=builder /out/link /out/hard /two/\n",
            ),
        ],
    );
    diffs.extend(both.compare("multistage", &ctx, &[]));
    diffs.extend(both.compare("target", &ctx, &["--target", "second"]));

    // Every instruction.
    let ctx = context(
        &e.dir,
        "instructions",
        &[
            ("f.txt", "f\n"),
            (
                "Dockerfile",
                "FROM busybox:cmp\n\
                 MAINTAINER someone <a@example.com>\n\
                 SHELL [\"/bin/sh\", \"-ec\"]\n\
                 ENV APP=/app EXTRA=\"a b\"\n\
                 ENV OLD form with words\n\
                 LABEL org.test=yes other=\"two words\" multi=\"a\\\n   b\"\n\
                 WORKDIR $APP/deep/er\n\
                 WORKDIR rel\n\
                 RUN echo shell > shell.txt\n\
                 RUN [\"/bin/sh\", \"-c\", \"echo exec > exec.txt\"]\n\
                 COPY f.txt .\n\
                 ADD f.txt added.txt\n\
                 EXPOSE 8080 53/udp 9000-9001/tcp\n\
                 VOLUME /data /more\n\
                 VOLUME [\"/v2\"]\n\
                 USER user:user\n\
                 STOPSIGNAL SIGINT\n\
                 HEALTHCHECK --interval=30s --timeout=5s --start-period=2s --retries=2 CMD wget -q localhost || exit 1\n\
                 ONBUILD RUN echo triggered > /trig\n\
                 ONBUILD COPY f.txt /onbuild-copied\n\
                 ENTRYPOINT [\"/bin/sh\", \"-c\"]\n\
                 CMD [\"cat f.txt\"]\n",
            ),
        ],
    );
    diffs.extend(both.compare("instructions", &ctx, &[]));

    // ARG scoping, --build-arg, predefined proxy ARGs, ${V:-d} and ${V:+a}.
    let ctx = context(
        &e.dir,
        "args",
        &[(
            "Dockerfile",
            "ARG VERSION=1.0\n\
             ARG META_ONLY=m\n\
             FROM busybox:cmp\n\
             ARG VERSION\n\
             ARG OTHER=default\n\
             ARG EMPTY=\n\
             ARG META_ONLY\n\
             ENV A=${VERSION} B=${MISSING:-dflt} C=${OTHER:+alt} D=${EMPTY:-e} E=${EMPTY:+x} F=$META_ONLY\n\
             RUN echo \"$VERSION $OTHER [$HTTP_PROXY] [$no_proxy] $A\" > /args.txt\n\
             LABEL v=$VERSION o=\"${OTHER}\"\n\
             ARG OTHER\n\
             ARG UNSET\n\
             RUN echo \"$OTHER [$UNSET]\" > /other.txt\n",
        )],
    );
    diffs.extend(both.compare(
        "args",
        &ctx,
        &[
            "--build-arg",
            "OTHER=given",
            "--build-arg",
            "HTTP_PROXY=http://127.0.0.1:9",
            "--build-arg",
            "no_proxy=localhost",
        ],
    ));

    // COPY/ADD: file, directory, trailing slash, wildcards, local tars.
    let ctx = context(
        &e.dir,
        "copyrules",
        &[
            ("a.txt", "a\n"),
            ("b.txt", "b\n"),
            ("dir/x.txt", "x\n"),
            ("dir/y.dat", "y\n"),
            ("dir/inner/z", "z\n"),
            ("subdir/s.txt", "s\n"),
            ("tarsrc/t/x", "in tar\n"),
            (
                "Dockerfile",
                "FROM busybox:cmp\n\
                 COPY a.txt /f1\n\
                 COPY a.txt /d1/\n\
                 COPY dir /d2\n\
                 COPY dir/ /d3/\n\
                 COPY *.txt /d4/\n\
                 COPY dir/*.txt sub* /d5/\n\
                 COPY [\"a.txt\", \"b.txt\", \"/d6/\"]\n\
                 ADD a.txt /add1\n\
                 WORKDIR /w\n\
                 COPY a.txt .\n\
                 COPY a.txt rel\n\
                 COPY dir ./reldir/\n\
                 ADD plain.tar /tarplain/\n\
                 ADD gz.tar.gz /targz/\n\
                 ADD gz.tar.gz /targz-nodir\n\
                 COPY plain.tar /notextracted/\n",
            ),
        ],
    );
    fs::set_permissions(
        ctx.join("dir/y.dat"),
        std::os::unix::fs::PermissionsExt::from_mode(0o751),
    )
    .unwrap_or_else(|err| panic!("chmod: {err}"));
    symlink("x", &ctx.join("tarsrc/t/l"));
    tar_of(&ctx.join("tarsrc"), &ctx.join("plain.tar"), false);
    tar_of(&ctx.join("tarsrc"), &ctx.join("gz.tar.gz"), true);
    diffs.extend(both.compare("copyrules", &ctx, &[]));

    // COPY --chown with names from the image's /etc/passwd and /etc/group, and numbers.
    let ctx = context(
        &e.dir,
        "chown",
        &[
            ("f.txt", "f\n"),
            ("dir/a", "a\n"),
            ("dir/sub/b", "b\n"),
            (
                "Dockerfile",
                "FROM busybox:cmp\n\
                 COPY --chown=user f.txt /c1\n\
                 COPY --chown=user:user dir /c2/\n\
                 COPY --chown=1000:50 f.txt /c3/\n\
                 COPY --chown=7 f.txt /c4\n\
                 COPY --chown=user:root f.txt /c5\n\
                 ADD --chown=user:user f.txt /c6\n\
                 COPY --chown=user:user f.txt /newparent/deeper/c7\n\
                 WORKDIR /etc\n",
            ),
        ],
    );
    diffs.extend(both.compare("chown", &ctx, &[]));

    // Symlinks and hard links, in the context and made by RUN.
    let ctx = context(
        &e.dir,
        "links",
        &[
            ("dir/real.txt", "real\n"),
            ("dir/h1", "hard\n"),
            (
                "Dockerfile",
                "FROM busybox:cmp\n\
                 COPY dir /links/\n\
                 COPY dir/rel-link /followed\n\
                 RUN mkdir /made && cd /made && echo x > f && ln f h && ln -s f s \
                     && ln -s /nonexistent d && rm /bin/true\n",
            ),
        ],
    );
    symlink("real.txt", &ctx.join("dir/rel-link"));
    symlink("/etc/passwd", &ctx.join("dir/abs-link"));
    symlink("nowhere", &ctx.join("dir/dangling"));
    fs::hard_link(ctx.join("dir/h1"), ctx.join("dir/h2")).unwrap_or_else(|err| panic!("{err}"));
    diffs.extend(both.compare("links", &ctx, &[]));

    // .dockerignore with `!` and `**`.
    let ctx = context(
        &e.dir,
        "ignore",
        &[
            ("a.log", "1\n"),
            ("keep.log", "2\n"),
            ("sub/b.log", "3\n"),
            ("sub/deep/c.log", "4\n"),
            ("secret/k", "5\n"),
            ("docs/x/y.md", "6\n"),
            ("docs/important.md", "7\n"),
            ("docs/readme.txt", "8\n"),
            ("src/main.c", "9\n"),
            (
                ".dockerignore",
                "**/*.log\n!keep.log\nsecret/\ndocs/**/*.md\n!docs/important.md\n",
            ),
            ("Dockerfile", "FROM busybox:cmp\nCOPY . /ctx/\n"),
        ],
    );
    diffs.extend(both.compare("ignore", &ctx, &[]));

    // ONBUILD: a parent built first, a child that runs its triggers.
    let ctx = context(
        &e.dir,
        "onbuild",
        &[
            ("f.txt", "f\n"),
            (
                "Dockerfile.parent",
                "FROM busybox:cmp\n\
                 SHELL [\"/bin/sh\", \"-ec\"]\n\
                 ONBUILD ARG TRIG=t\n\
                 ONBUILD RUN echo \"on $TRIG\" > /onbuild.txt\n\
                 ONBUILD COPY f.txt /from-trigger.txt\n\
                 LABEL parent=yes\n",
            ),
            (
                "Dockerfile",
                "FROM onbuild-parent:cmp\nRUN cat /onbuild.txt\n",
            ),
        ],
    );
    let parent_df = ctx.join("Dockerfile.parent");
    diffs.extend(both.compare("onbuild-parent", &ctx, &["-f", s(&parent_df)]));
    diffs.extend(both.compare("onbuild", &ctx, &[]));

    // ADD of URLs: the name from the URL or the destination, mode 0600, not extracted.
    let srv = served(&e.dir);
    let http = Httpd::start(&srv);
    let df = format!(
        "FROM busybox:cmp\n\
         ADD {f} /dl/\n\
         ADD {f} /named\n\
         ADD {a} /dl/\n",
        f = http.url("file.txt"),
        a = http.url("arch.tar.gz")
    );
    let ctx = context(&e.dir, "addurl", &[("Dockerfile", &df)]);
    diffs.extend(both.compare("addurl", &ctx, &[]));
    drop(http);

    drop(d);
    assert!(
        diffs.is_empty(),
        "differences from docker:\n{}",
        diffs.join("\n")
    );
    assert_clean(&e);
}

/// An engine with the corpus's base image loaded.
fn engine_with_base(name: &str) -> Engine {
    let e = Engine::new(name);
    let archive = base_archive(&e.dir);
    e.ok(&["load", "-i", s(&archive)]);
    e
}

/// No build directory, mount or cgroup is left, and no image beyond `images`.
fn assert_nothing_left(e: &Engine, images: usize) {
    assert_clean(e);
    let tmp: Vec<String> = fs::read_dir(e.root.join("tmp"))
        .map(|d| {
            d.flatten()
                .map(|x| x.file_name().to_string_lossy().into_owned())
                .filter(|n| n.contains("build"))
                .collect()
        })
        .unwrap_or_default();
    assert!(tmp.is_empty(), "build dirs left: {tmp:?}");
    let ids = e.ok(&["images", "-a", "-q"]);
    assert_eq!(ids.lines().count(), images, "images: {ids}");
}

/// `ongictl build` with `stdin` as its standard input.
fn build_stdin(e: &Engine, stdin: &Path, args: &[&str]) -> Out {
    let mut c = Command::new(common::engine::ongictl());
    c.arg("--root")
        .arg(&e.root)
        .arg("--run-root")
        .arg(&e.run_root)
        .arg("build")
        .args(args);
    let f = fs::File::open(stdin).unwrap_or_else(|err| panic!("open: {err}"));
    common::clients::run_limited_stdin(&mut c, &e.dir, Duration::from_secs(120), Stdio::from(f))
        .unwrap_or_else(|err| panic!("{err}"))
}

/// What the classic builder lacks or a user checks alone: ADD of URLs (name, mode 0600,
/// Last-Modified as mtime, `--checksum`, not extracted), the `syntax` directive (ignored
/// with a note) and `escape`, `-f -` and `-f` outside the context.
#[test]
fn add_url_directives_and_dockerfile_sources() {
    let e = engine_with_base("build-url");
    let srv = served(&e.dir);
    let http = Httpd::start(&srv);
    let sum = Command::new("sha256sum")
        .arg(srv.join("file.txt"))
        .output()
        .map(|o| String::from_utf8_lossy(&o.stdout).into_owned())
        .unwrap_or_default();
    let sum = sum
        .split_whitespace()
        .next()
        .unwrap_or_default()
        .to_string();
    let df = format!(
        "# syntax=docker/dockerfile:1.6\n\
         # escape=`\n\
         FROM busybox:cmp\n\
         ADD {f} /dl/\n\
         ADD --checksum=sha256:{sum} {f} /sum.txt\n\
         ADD {a} /dl/\n\
         RUN echo a `\n\
             b > /escaped.txt\n",
        f = http.url("file.txt"),
        a = http.url("arch.tar.gz")
    );
    let ctx = context(&e.dir, "ctx", &[("Dockerfile", &df)]);
    let o = e.ctl_limit(&["build", "-t", "url:1", s(&ctx)], Duration::from_secs(300));
    assert!(o.ok(), "{o}");
    assert!(
        o.stdout.contains("# syntax=docker/dockerfile:1.6 ignored"),
        "{o}"
    );
    let size = fs::metadata(srv.join("arch.tar.gz"))
        .map(|m| m.len())
        .unwrap_or(0);
    let out = e.ok(&[
        "run",
        "--rm",
        "url:1",
        "sh",
        "-c",
        "stat -c '%n %a %u:%g %Y %s' /dl/file.txt /sum.txt /dl/arch.tar.gz; cat /escaped.txt /sum.txt",
    ]);
    let lines: Vec<&str> = out.lines().collect();
    assert_eq!(lines[0], "/dl/file.txt 600 0:0 1000000000 11", "{out}");
    assert_eq!(lines[1], "/sum.txt 600 0:0 1000000000 11", "{out}");
    assert!(
        lines[2].starts_with("/dl/arch.tar.gz 600 0:0 ") && lines[2].ends_with(&format!(" {size}")),
        "a downloaded tar stays a file: {out}"
    );
    assert_eq!(&lines[3..], ["a b", "downloaded"], "{out}");

    // A wrong checksum and a 404: the instruction, its line and the URL; nothing kept.
    let images = e.ok(&["images", "-a", "-q"]).lines().count();
    let zero = "0".repeat(64);
    let bad = context(
        &e.dir,
        "bad",
        &[
            (
                "Dockerfile.sum",
                &format!(
                    "FROM busybox:cmp\nADD --checksum=sha256:{zero} {} /x\n",
                    http.url("file.txt")
                ),
            ),
            (
                "Dockerfile.404",
                &format!("FROM busybox:cmp\n\nADD {} /x\n", http.url("nope.txt")),
            ),
        ],
    );
    let o = e.ctl(&["build", "-f", s(&bad.join("Dockerfile.sum")), s(&bad)]);
    assert_eq!(o.code(), Some(1), "{o}");
    assert!(
        o.stderr.contains("Dockerfile line 2: ADD: digest mismatch")
            && o.stderr.contains("file.txt"),
        "{o}"
    );
    let o = e.ctl(&["build", "-f", s(&bad.join("Dockerfile.404")), s(&bad)]);
    assert_eq!(o.code(), Some(1), "{o}");
    assert!(
        o.stderr.contains("Dockerfile line 3: ADD")
            && o.stderr
                .contains(&format!("{} with status 404", http.url("nope.txt"))),
        "{o}"
    );
    drop(http);
    assert_nothing_left(&e, images);

    // `-f -`: the Dockerfile on stdin, the context a directory (its .dockerignore applies).
    let ctx = context(
        &e.dir,
        "ctx2",
        &[
            ("f.txt", "from ctx\n"),
            ("skip.txt", "no\n"),
            (".dockerignore", "skip.txt\n"),
        ],
    );
    let stdin_df = e.dir.join("stdin.Dockerfile");
    fs::write(&stdin_df, "FROM busybox:cmp\nCOPY *.txt /got/\n")
        .unwrap_or_else(|err| panic!("{err}"));
    let o = build_stdin(&e, &stdin_df, &["-t", "stdin:1", "-f", "-", s(&ctx)]);
    assert!(o.ok(), "{o}");
    assert_eq!(e.ok(&["run", "--rm", "stdin:1", "ls", "/got"]), "f.txt");
    let o = build_stdin(&e, &stdin_df, &["-f", "-", "-"]);
    assert_eq!(o.code(), Some(1), "{o}");
    assert!(
        o.stderr
            .contains("can't use stdin for both build context and dockerfile"),
        "{o}"
    );

    // `-f` outside the context.
    let outside = e.dir.join("elsewhere");
    fs::create_dir_all(&outside).unwrap_or_else(|err| panic!("{err}"));
    fs::write(outside.join("Df"), "FROM busybox:cmp\nCOPY f.txt /f.txt\n")
        .unwrap_or_else(|err| panic!("{err}"));
    let o = e.ctl(&[
        "build",
        "-t",
        "outside:1",
        "-f",
        s(&outside.join("Df")),
        s(&ctx),
    ]);
    assert!(o.ok(), "{o}");
    assert_eq!(
        e.ok(&["run", "--rm", "outside:1", "cat", "/f.txt"]),
        "from ctx"
    );
    let images = e.ok(&["images", "-a", "-q"]).lines().count();
    assert_nothing_left(&e, images);
}

/// Sources outside the context (`../x`, a symlink leading out), an unknown stage index and
/// a missing `--target`: errors naming the instruction, line and path; nothing kept.
#[test]
fn sources_outside_the_context_and_unknown_stages_fail_clearly() {
    let e = engine_with_base("build-escape");
    fs::write(e.dir.join("outside.txt"), "secret\n").unwrap_or_else(|err| panic!("{err}"));
    let ctx = context(
        &e.dir,
        "ctx",
        &[
            (
                "Dockerfile.up",
                "FROM busybox:cmp\nCOPY ../outside.txt /x\n",
            ),
            (
                "Dockerfile.link",
                "FROM busybox:cmp\nRUN true\nCOPY esc /x\n",
            ),
            (
                "Dockerfile.index",
                "FROM busybox:cmp\nCOPY --from=3 /bin/sh /x\n",
            ),
            ("Dockerfile.target", "FROM busybox:cmp AS one\nRUN true\n"),
        ],
    );
    symlink("../outside.txt", &ctx.join("esc"));
    let images = e.ok(&["images", "-a", "-q"]).lines().count();
    let df = |n: &str| ctx.join(n).to_string_lossy().into_owned();
    for (file, extra, want) in [
        (
            "Dockerfile.up",
            None,
            "Dockerfile line 2: COPY: forbidden path outside the build context: ../outside.txt",
        ),
        (
            "Dockerfile.link",
            None,
            "Dockerfile line 3: COPY: file not found in build context or excluded by .dockerignore: stat esc",
        ),
        (
            "Dockerfile.index",
            None,
            "Dockerfile line 2: COPY: invalid from flag value 3: no such build stage",
        ),
        (
            "Dockerfile.target",
            Some("two"),
            "failed to reach build target two in Dockerfile",
        ),
    ] {
        let mut a = vec!["build", "-f"];
        let f = df(file);
        a.push(&f);
        if let Some(t) = extra {
            a.extend(["--target", t]);
        }
        a.push(s(&ctx));
        let o = e.ctl(&a);
        assert_eq!(o.code(), Some(1), "{file}: {o}");
        assert!(o.stderr.contains(want), "{file}: want {want:?}: {o}");
        assert!(!o.stdout.contains("secret") && !o.stderr.contains("secret"), "{o}");
    }
    assert_nothing_left(&e, images);
}

/// `COPY --link`: the layer holds only what is copied, so it is the same whatever the
/// parent has (without --link the parent's /app comes along into the layer).
#[test]
fn copy_link_layer_does_not_depend_on_the_parent() {
    let e = engine_with_base("build-link");
    let ctx = context(
        &e.dir,
        "ctx",
        &[
            ("f.txt", "f\n"),
            (
                "A",
                "FROM busybox:cmp\nRUN mkdir -m 700 /app\nCOPY --link f.txt /app/f.txt\n",
            ),
            (
                "B",
                "FROM busybox:cmp\nRUN echo other > /o\nCOPY --link f.txt /app/f.txt\n",
            ),
            (
                "A0",
                "FROM busybox:cmp\nRUN mkdir -m 700 /app\nCOPY f.txt /app/f.txt\n",
            ),
            (
                "B0",
                "FROM busybox:cmp\nRUN echo other > /o\nCOPY f.txt /app/f.txt\n",
            ),
        ],
    );
    // With SOURCE_DATE_EPOCH, so that the directories the copy makes have the same mtime
    // in both builds (without it they are dated by the build, as BuildKit's are).
    let top = |name: &str| -> String {
        let o = e.ctl_env(
            &[("SOURCE_DATE_EPOCH", "1000000000")],
            &[
                "build",
                "-q",
                "-t",
                &format!("link:{}", name.to_lowercase()),
                "-f",
                s(&ctx.join(name)),
                s(&ctx),
            ],
            Duration::from_secs(120),
        );
        assert!(o.ok(), "{o}");
        let l = e.ok(&[
            "image",
            "inspect",
            "-f",
            "{{json .RootFS.Layers}}",
            &format!("link:{}", name.to_lowercase()),
        ]);
        let v: Vec<String> = serde_json::from_str(&l).unwrap_or_default();
        v.last().cloned().unwrap_or_default()
    };
    let (a, b, a0, b0) = (top("A"), top("B"), top("A0"), top("B0"));
    assert!(!a.is_empty());
    assert_eq!(a, b, "COPY --link's layer is independent of the parent");
    assert_ne!(
        a0, b0,
        "without --link the parent's /app (0700) is in the layer"
    );
    // On top of parent A the file is there, and the linked layer's /app is the one seen.
    let out = e.ok(&[
        "run",
        "--rm",
        "link:a",
        "sh",
        "-c",
        "cat /app/f.txt; stat -c %a /app",
    ]);
    assert_eq!(
        out, "f\n755",
        "the linked layer's /app (0755) is the upper one"
    );
    assert_clean(&e);
}
