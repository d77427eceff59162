//! Stages and instructions. The Dockerfile is split into stages at each FROM; only the
//! stages the target needs (through `FROM <stage>` and `COPY --from`) are built. Those
//! form a graph: a stage starts on its own thread once the stages it reads are done, so
//! stages with no path between them run at once (at most one per CPU, at least two);
//! this thread numbers and passes on their output a whole line at a time, pulls for them,
//! and on the first failure stops the others (their RUN containers killed).
//! Each stage carries an image config, its layers and a cache key; RUN, COPY and ADD make
//! a layer each (reused from the cache when their key is known), the other instructions
//! change the config and leave a history entry with `empty_layer`.

use std::collections::{BTreeMap, BTreeSet};
use std::fs;
use std::io::{self, Seek};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{mpsc, Mutex};
use std::time::Duration;

use serde_json::json;
use sha2::{Digest, Sha256};

use super::adopt;
use super::cache;
use super::context::{self, Context};
use super::copy::{self, Source};
use super::dockerfile::{self, Args, Instruction};
use super::expand;
use super::layerdiff;
use super::run::Step;
use super::{BuildError, Options};
use crate::image::{self, Image, ImageConfig, RootFs};
use crate::ingest::{self, Ingested};
use crate::store::{self, Store};

/// The build's output: one line at a time.
pub trait Output {
    /// A progress line (`Step 1/3 : FROM busybox`).
    fn line(&mut self, s: &str);

    /// What happened in a stage; plain output is its line, prefixed by the stage when
    /// stages run at once.
    fn event(&mut self, e: &Event) {
        if !matches!(e.kind, Kind::Done | Kind::Failed) {
            self.line(&e.plain());
        }
    }
}

/// What an [`Event`] reports.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// A step starts: `Step 2/5 : RUN make`.
    Step,
    /// A line about the current step (` ---> 3f2a...`).
    Info,
    /// The current step came from the cache (` ---> Using cache`).
    Cached,
    /// A line a RUN step's command wrote.
    Output,
    /// The stage is done (no line).
    Done,
    /// The stage failed or was stopped; the text says why (no line of its own: the
    /// error is the build's).
    Failed,
}

/// One thing a stage reports.
#[derive(Debug, Clone)]
pub struct Event {
    /// The stage's index in the Dockerfile.
    pub stage: usize,
    /// The stage as a prefix shows it (its name or index), set when stages run at once.
    pub label: Option<String>,
    /// What happened.
    pub kind: Kind,
    /// The line.
    pub text: String,
}

impl Event {
    fn new(kind: Kind, text: impl Into<String>) -> Event {
        Event {
            stage: 0,
            label: None,
            kind,
            text: text.into(),
        }
    }

    /// The event as a plain line: `[stage] text` when stages run at once.
    pub fn plain(&self) -> String {
        match &self.label {
            Some(l) => format!("[{l}] {}", self.text),
            None => self.text.clone(),
        }
    }
}

impl<F: FnMut(&str)> Output for F {
    fn line(&mut self, s: &str) {
        self(s)
    }
}

/// Pulls an image the store does not have.
pub type Puller<'a> = &'a mut dyn FnMut(&str) -> Result<Image, String>;

#[derive(Clone)]
struct State {
    cfg: ImageConfig,
    layers: Vec<Ingested>,
    key: String,
    /// ARGs declared in the stage, with their values.
    args: Vec<(String, String)>,
    shell: Vec<String>,
    cmd_set: bool,
}

struct Stage {
    name: Option<String>,
    from: Instruction,
    body: Vec<Instruction>,
}

/// What the stage threads share: the stop flag and the RUN containers running now.
struct Shared {
    cancel: AtomicBool,
    running: Mutex<BTreeSet<String>>,
}

struct Builder<'a> {
    store: &'a Store,
    shared: &'a Shared,
    opts: &'a Options,
    ctx: Context,
    escape: char,
    /// Meta ARGs (before the first FROM) with their values.
    meta: Vec<(String, String)>,
    build_args: BTreeMap<String, String>,
    used_args: BTreeSet<String>,
    dir: PathBuf,
    steps: usize,
    /// Counts this thread's steps; it names their directories, so each stage's thread
    /// starts it at a range of its own.
    step: usize,
    /// The upper directory of the layer [`Builder::commit_layer`] just made, with the paths
    /// its tar left out: [`Builder::apply`] makes it the unpacked layer (see [`adopt`]).
    fresh: Option<(PathBuf, Vec<String>)>,
}

fn ierr(i: &Instruction, why: impl std::fmt::Display) -> BuildError {
    BuildError::Instruction {
        line: i.line,
        keyword: i.keyword.clone(),
        why: why.to_string(),
    }
}

fn ioe<'a>(op: &'static str, p: &'a Path) -> impl FnOnce(io::Error) -> BuildError + 'a {
    move |source| BuildError::Io {
        op,
        path: p.to_path_buf(),
        source,
    }
}

fn shell_text(a: &Args) -> String {
    match a {
        Args::Shell(s) => s.clone(),
        Args::Exec(v) => serde_json::to_string(v).unwrap_or_default(),
    }
}

/// Builds the image `opts` describes; returns it. Progress goes to `out`; base images the
/// store lacks come through `pull`.
pub fn build(
    store: &Store,
    opts: &Options,
    out: &mut dyn Output,
    pull: Puller,
) -> Result<Image, BuildError> {
    let _gc = crate::prune::gc_lock(store, false).map_err(|e| BuildError::Pull(e.to_string()))?;
    let text = fs::read_to_string(&opts.dockerfile).map_err(ioe("read", &opts.dockerfile))?;
    let df = dockerfile::parse(&opts.dockerfile.display().to_string(), &text)?;
    if let Some(f) = df.directives.get("syntax") {
        // A BuildKit frontend image: ongictl has its own Dockerfile frontend.
        out.line(&format!(
            "# syntax={f} ignored: ongictl builds with its own Dockerfile frontend"
        ));
    }
    let ctx = Context::open(&opts.context, &opts.dockerfile).map_err(|e| BuildError::Io {
        op: "open context",
        path: opts.context.clone(),
        source: io::Error::other(e.to_string()),
    })?;
    let mut build_args = BTreeMap::new();
    for (k, v) in &opts.build_args {
        if let Some(v) = v.clone().or_else(|| std::env::var(k).ok()) {
            build_args.insert(k.clone(), v);
        }
    }
    // Split into meta ARGs and stages.
    let mut meta_insts = Vec::new();
    let mut stages: Vec<Stage> = Vec::new();
    for i in df.instructions {
        if i.keyword == "FROM" {
            let words: Vec<String> = shell_text(&i.args)
                .split_whitespace()
                .map(String::from)
                .collect();
            let name = match words.as_slice() {
                [_] => None,
                [_, as_, n] if as_.eq_ignore_ascii_case("as") => Some(n.to_ascii_lowercase()),
                _ => return Err(ierr(&i, "FROM requires either one or three arguments")),
            };
            stages.push(Stage {
                name,
                from: i,
                body: Vec::new(),
            });
        } else if let Some(s) = stages.last_mut() {
            s.body.push(i);
        } else if i.keyword == "ARG" {
            meta_insts.push(i);
        } else {
            return Err(ierr(&i, "no build stage in current context"));
        }
    }
    if stages.is_empty() {
        return Err(BuildError::Instruction {
            line: 1,
            keyword: "FROM".into(),
            why: "no build stage in current context (the Dockerfile has no FROM)".into(),
        });
    }
    let dir = store::tempfile_path(&store.root.join("tmp"), "build");
    fs::create_dir_all(&dir).map_err(ioe("create", &dir))?;
    let _cleanup = DirGuard(dir.clone());
    let shared = Shared {
        cancel: AtomicBool::new(false),
        running: Mutex::new(BTreeSet::new()),
    };
    let mut b = Builder {
        store,
        shared: &shared,
        opts,
        ctx,
        escape: df.escape,
        meta: Vec::new(),
        build_args,
        used_args: BTreeSet::new(),
        dir,
        steps: 0,
        step: 0,
        fresh: None,
    };
    // The target and the stages it needs.
    let target = match &opts.target {
        Some(t) => stages
            .iter()
            .position(|s| s.name.as_deref() == Some(&t.to_ascii_lowercase()))
            .ok_or_else(|| BuildError::UnknownTarget(t.clone()))?,
        None => stages.len() - 1,
    };
    let stage_ref = |name: &str, before: usize| -> Option<usize> {
        let n = name.to_ascii_lowercase();
        stages[..before]
            .iter()
            .position(|s| s.name.as_deref() == Some(n.as_str()))
            .or_else(|| n.parse::<usize>().ok().filter(|k| *k < before))
    };
    // Each needed stage with the stages it reads.
    let mut deps: BTreeMap<usize, BTreeSet<usize>> = BTreeMap::new();
    let mut todo = vec![target];
    while let Some(s) = todo.pop() {
        if deps.contains_key(&s) {
            continue;
        }
        let mut d = BTreeSet::new();
        let base = shell_text(&stages[s].from.args);
        let base = base.split_whitespace().next().unwrap_or_default();
        d.extend(stage_ref(base, s));
        for i in &stages[s].body {
            if let Some(f) = i.flags.get("from") {
                d.extend(stage_ref(f, s));
            }
        }
        todo.extend(d.iter().copied());
        deps.insert(s, d);
    }
    let nstep = meta_insts.len()
        + deps
            .keys()
            .map(|s| stages[*s].body.len() + 1)
            .sum::<usize>();
    let mut step_no = 0;
    // docker's classic builder counts and shows the ARGs before the first FROM as steps.
    for i in &meta_insts {
        step_no += 1;
        out.line(&format!("Step {step_no}/{nstep} : {}", i.original));
        let mut m = std::mem::take(&mut b.meta);
        b.declare_args(i, &mut m, None)?;
        b.meta = m;
    }
    // Lines carry their stage only when some stage can run beside another.
    let parallel = can_overlap(&deps);
    let labels: BTreeMap<usize, String> = deps
        .keys()
        .map(|s| (*s, stages[*s].name.clone().unwrap_or_else(|| s.to_string())))
        .collect();
    let limit = std::thread::available_parallelism()
        .map(|n| n.get())
        .unwrap_or(1)
        .max(2);
    let mut done: Vec<Option<State>> = vec![None; stages.len()];
    let mut pending: BTreeSet<usize> = deps.keys().copied().collect();
    let mut failed: Option<BuildError> = None;
    let (tx, rx) = mpsc::channel::<Msg>();
    let b = &mut b;
    std::thread::scope(|sc| {
        let mut running = 0usize;
        loop {
            if failed.is_none() {
                let ready: Vec<usize> = pending
                    .iter()
                    .copied()
                    .filter(|s| deps[s].iter().all(|d| done[*d].is_some()))
                    .take(limit.saturating_sub(running))
                    .collect();
                for s in ready {
                    pending.remove(&s);
                    running += 1;
                    let w = Worker {
                        ctx: b.ctx.clone(),
                        meta: b.meta.clone(),
                        build_args: b.build_args.clone(),
                        escape: b.escape,
                        dir: b.dir.clone(),
                        done: done.clone(),
                    };
                    let tx = tx.clone();
                    let (shared, stages, stage_ref) = (&shared, &stages, &stage_ref);
                    let roots = (store.root.as_path(), store.run_root.as_path());
                    sc.spawn(move || {
                        let r = w.run(roots, shared, opts, stages, s, &tx, stage_ref);
                        let _ = tx.send(Msg::Done(s, Box::new(r)));
                    });
                }
            }
            if running == 0 {
                break;
            }
            match rx.recv_timeout(Duration::from_millis(100)) {
                Ok(Msg::Event(mut e)) => {
                    if e.kind == Kind::Step {
                        step_no += 1;
                        e.text = format!("Step {step_no}/{nstep} : {}", e.text);
                    }
                    if parallel {
                        e.label = labels.get(&e.stage).cloned();
                    }
                    out.event(&e);
                }
                Ok(Msg::Pull(name, reply)) => {
                    let _ = reply.send(pull(&name));
                }
                Ok(Msg::Done(s, r)) => {
                    running -= 1;
                    let mut e = Event::new(Kind::Done, "");
                    e.stage = s;
                    e.label = labels.get(&s).cloned();
                    match *r {
                        Ok((st, used)) => {
                            done[s] = Some(st);
                            b.used_args.extend(used);
                        }
                        Err(err) => {
                            e.kind = Kind::Failed;
                            e.text = err.to_string();
                            // The first failure is the build's; the others only follow it.
                            if failed.is_none() {
                                failed = Some(err);
                                shared.cancel.store(true, Ordering::SeqCst);
                            }
                        }
                    }
                    out.event(&e);
                }
                Err(mpsc::RecvTimeoutError::Timeout) => {}
                Err(mpsc::RecvTimeoutError::Disconnected) => break,
            }
            if failed.is_some() {
                // Again on every turn: a RUN that registered just before the stop may
                // only now have a container to kill.
                let ids: Vec<String> = shared
                    .running
                    .lock()
                    .map(|r| r.iter().cloned().collect())
                    .unwrap_or_default();
                for id in ids {
                    let _ = ongi::Container::new(store.runtime_root(), &id)
                        .kill(nix::sys::signal::Signal::SIGKILL, true);
                }
            }
        }
    });
    if let Some(e) = failed {
        return Err(e);
    }
    let unused: Vec<&String> = b
        .build_args
        .keys()
        .filter(|k| !b.used_args.contains(*k) && !PROXY_ARGS.contains(&k.as_str()))
        .collect();
    if !unused.is_empty() {
        let list: Vec<&str> = unused.iter().map(|s| s.as_str()).collect();
        out.line(&format!(
            "[Warning] One or more build-args [{}] were not consumed",
            list.join(" ")
        ));
    }
    let st = done[target]
        .take()
        .ok_or_else(|| BuildError::UnknownTarget(format!("{target}")))?;
    let mut cfg = st.cfg;
    if !opts.labels.is_empty() {
        // `--label`s are the image's, on top of those the Dockerfile set (BuildKit's way:
        // no step and no history entry of their own).
        let labels = cfg.config.labels.get_or_insert_with(Default::default);
        for (k, v) in &opts.labels {
            labels.insert(k.clone(), v.clone());
        }
    }
    // The image is as old as its last step (docker's rule), so a build from the cache
    // gives the same image id.
    let last = cfg
        .history
        .last()
        .and_then(|h| h["created"].as_str())
        .map(String::from);
    cfg.created = Some(last.unwrap_or_else(|| b.now()));
    let tags = opts
        .tags
        .iter()
        .map(|t| {
            crate::reference::Reference::parse(t)
                .map(|r| r.to_string())
                .map_err(|e| BuildError::Image(e.into()))
        })
        .collect::<Result<Vec<_>, _>>()?;
    b.lowers(&st.layers)?;
    Ok(ingest::record_image(store, &cfg, &st.layers, &tags)?)
}

/// What a stage thread tells the coordinating one.
enum Msg {
    /// A line of its output.
    Event(Event),
    /// Pull this image (the puller is the coordinator's) and answer.
    Pull(String, mpsc::Sender<Result<Image, String>>),
    /// The stage ended: its state and the build args it used, or why it failed.
    Done(usize, Box<StageResult>),
}

type StageResult = Result<(State, BTreeSet<String>), BuildError>;

/// A stage thread's output: each event, tagged with the stage, to the coordinator.
struct Chan<'a> {
    tx: &'a mpsc::Sender<Msg>,
    stage: usize,
}

impl Output for Chan<'_> {
    fn line(&mut self, s: &str) {
        self.event(&Event::new(Kind::Info, s));
    }

    fn event(&mut self, e: &Event) {
        let mut e = e.clone();
        e.stage = self.stage;
        let _ = self.tx.send(Msg::Event(e));
    }
}

/// Takes a RUN's container off the running list however the step ends.
struct Unregister<'a>(&'a Shared, String);

impl Drop for Unregister<'_> {
    fn drop(&mut self) {
        if let Ok(mut r) = self.0.running.lock() {
            r.remove(&self.1);
        }
    }
}

/// What a stage thread starts from: copies of the builder's settled parts and of the
/// states of the stages done so far (those it reads among them).
struct Worker {
    ctx: Context,
    meta: Vec<(String, String)>,
    build_args: BTreeMap<String, String>,
    escape: char,
    dir: PathBuf,
    done: Vec<Option<State>>,
}

impl Worker {
    #[allow(clippy::too_many_arguments)]
    fn run(
        self,
        (root, run_root): (&Path, &Path),
        shared: &Shared,
        opts: &Options,
        stages: &[Stage],
        s: usize,
        tx: &mpsc::Sender<Msg>,
        stage_ref: &(dyn Fn(&str, usize) -> Option<usize> + Sync),
    ) -> StageResult {
        // The store's database connection is not shared between threads: one each.
        let own = Store::open(root, run_root)?;
        let mut b = Builder {
            store: &own,
            shared,
            opts,
            ctx: self.ctx,
            escape: self.escape,
            meta: self.meta,
            build_args: self.build_args,
            used_args: BTreeSet::new(),
            dir: self.dir,
            steps: 0,
            step: s * 1_000_000,
            fresh: None,
        };
        let mut out = Chan { tx, stage: s };
        let mut pull = |name: &str| -> Result<Image, String> {
            let (rt, rr) = mpsc::channel();
            tx.send(Msg::Pull(name.to_string(), rt))
                .map_err(|_| "build stopped".to_string())?;
            rr.recv().map_err(|_| "build stopped".to_string())?
        };
        let st = b.stage(stages, s, &self.done, &mut out, &mut pull, stage_ref)?;
        Ok((st, b.used_args))
    }
}

/// Whether two of the stages can run at once: neither reads the other, directly or not.
fn can_overlap(deps: &BTreeMap<usize, BTreeSet<usize>>) -> bool {
    let ancestors = |s: usize| {
        let mut seen = BTreeSet::new();
        let mut todo = vec![s];
        while let Some(x) = todo.pop() {
            for d in deps.get(&x).into_iter().flatten() {
                if seen.insert(*d) {
                    todo.push(*d);
                }
            }
        }
        seen
    };
    let all: Vec<(usize, BTreeSet<usize>)> = deps.keys().map(|s| (*s, ancestors(*s))).collect();
    all.iter().any(|(a, anc_a)| {
        all.iter()
            .any(|(b, anc_b)| a < b && !anc_b.contains(a) && !anc_a.contains(b))
    })
}

struct DirGuard(PathBuf);

impl Drop for DirGuard {
    fn drop(&mut self) {
        let _ = fs::remove_dir_all(&self.0);
    }
}

impl Builder<'_> {
    fn now(&self) -> String {
        match self.opts.epoch {
            Some(e) => super::rfc3339(e),
            None => ongi::rfc3339_now(),
        }
    }

    fn vars(&self, st: &State) -> Vec<(String, String)> {
        // ARGs first, ENV overrides them (docker's rule).
        let mut v = st.args.clone();
        for e in st.cfg.config.env.iter().flatten() {
            if let Some((k, val)) = e.split_once('=') {
                v.push((k.to_string(), val.to_string()));
            }
        }
        v
    }

    fn declare_args(
        &mut self,
        i: &Instruction,
        into: &mut Vec<(String, String)>,
        st: Option<&State>,
    ) -> Result<(), BuildError> {
        let vars = st
            .map(|s| self.vars(s))
            .unwrap_or_else(|| self.meta.clone());
        let words =
            expand::words(&shell_text(&i.args), &vars, self.escape).map_err(|e| ierr(i, e))?;
        for w in words {
            let (k, default) = match w.split_once('=') {
                Some((k, v)) => (k.to_string(), Some(v.to_string())),
                None => (w.clone(), None),
            };
            let val = if let Some(v) = self.build_args.get(&k) {
                self.used_args.insert(k.clone());
                Some(v.clone())
            } else if default.is_some() {
                default
            } else if st.is_some() {
                // A stage's bare ARG takes the meta ARG's value.
                self.meta
                    .iter()
                    .rev()
                    .find(|(m, _)| *m == k)
                    .map(|(_, v)| v.clone())
            } else {
                None
            };
            // docker: an ARG without a value is declared but unset (not in RUN's
            // environment or its history), and a redeclaration without one keeps the value.
            let Some(val) = val else { continue };
            into.retain(|(n, _)| *n != k);
            into.push((k, val));
        }
        Ok(())
    }

    /// A step starts (the coordinating thread numbers it).
    fn print_step(&mut self, out: &mut dyn Output, i: &Instruction) {
        self.step += 1;
        out.event(&Event::new(Kind::Step, i.original.clone()));
    }

    fn check_canceled(&self) -> Result<(), BuildError> {
        if self.shared.cancel.load(Ordering::SeqCst) {
            return Err(BuildError::Canceled);
        }
        Ok(())
    }

    #[allow(clippy::too_many_arguments)]
    fn stage(
        &mut self,
        stages: &[Stage],
        s: usize,
        done: &[Option<State>],
        out: &mut dyn Output,
        pull: Puller,
        stage_ref: &dyn Fn(&str, usize) -> Option<usize>,
    ) -> Result<State, BuildError> {
        let from = &stages[s].from;
        self.print_step(out, from);
        if let Some(p) = from.flags.get("platform") {
            out.line(&format!(
                " ---> (--platform={p} ignored: builds are for this machine)"
            ));
        }
        let text = shell_text(&from.args);
        let base_raw = text.split_whitespace().next().unwrap_or_default();
        let base = expand::word(base_raw, &self.meta, self.escape).map_err(|e| ierr(from, e))?;
        let mut st = if let Some(d) = stage_ref(&base, s) {
            let mut st = done[d]
                .clone()
                .ok_or_else(|| BuildError::UnknownTarget(base.clone()))?;
            st.args.clear();
            out.line(&format!(" ---> {}", &st.key[..12]));
            st
        } else if base.eq_ignore_ascii_case("scratch") {
            out.line(" ---> scratch");
            State {
                cfg: ImageConfig {
                    architecture: crate::registry::go_arch().to_string(),
                    os: "linux".into(),
                    rootfs: RootFs {
                        kind: "layers".into(),
                        diff_ids: vec![],
                    },
                    ..Default::default()
                },
                layers: vec![],
                key: cache::key("scratch", &[]),
                args: vec![],
                shell: vec!["/bin/sh".into(), "-c".into()],
                cmd_set: false,
            }
        } else {
            let img = if self.opts.pull {
                pull(&base)
            } else {
                self.image(&base, pull)
            }
            .map_err(|e| ierr(from, e))?;
            out.line(&format!(" ---> {}", &image::short_id(&img.id)));
            self.state_of_image(&img)?
        };
        st.cmd_set = false;
        if let Some(e) = self.opts.epoch {
            // The epoch is in every time and clamped mtime a step makes: part of its key.
            st.key = cache::key(&st.key, &[&format!("SOURCE_DATE_EPOCH={e}")]);
        }
        // The base's ONBUILD triggers run first, once: the child image does not keep them.
        let triggers = st.cfg.config.on_build.take().unwrap_or_default();
        if !triggers.is_empty() {
            let n = triggers.len();
            out.line(&format!(
                "# Executing {n} build trigger{}",
                if n == 1 { "" } else { "s" }
            ));
            for t in &triggers {
                let df = dockerfile::parse(&format!("ONBUILD trigger of {base}"), t)?;
                for ti in &df.instructions {
                    self.check_canceled()?;
                    check_trigger(from, &ti.original)?;
                    self.instruction(&mut st, ti, stages, s, done, out, pull, stage_ref)?;
                }
            }
        }
        for i in &stages[s].body {
            self.check_canceled()?;
            self.print_step(out, i);
            self.instruction(&mut st, i, stages, s, done, out, pull, stage_ref)?;
        }
        Ok(st)
    }

    fn image(&self, name: &str, pull: Puller) -> Result<Image, String> {
        match image::resolve(self.store, name) {
            Ok(i) => Ok(i),
            Err(_) => pull(name),
        }
    }

    fn state_of_image(&self, img: &Image) -> Result<State, BuildError> {
        let cfg = image::config(self.store, &img.id)?;
        let blobs = crate::archive::layer_blobs(self.store, img)
            .map_err(|e| BuildError::Pull(e.to_string()))?;
        let mut layers = Vec::new();
        for (b, d) in blobs.iter().zip(&cfg.rootfs.diff_ids) {
            let size = fs::metadata(self.store.blob_path(b)?)
                .map(|m| m.len())
                .unwrap_or(0);
            layers.push(Ingested {
                blob: b.clone(),
                blob_size: size,
                diff_id: d.clone(),
            });
        }
        // A base built with SHELL passes it on (docker keeps it in the config).
        let shell = cfg
            .config
            .shell
            .clone()
            .filter(|s| !s.is_empty())
            .unwrap_or_else(|| vec!["/bin/sh".into(), "-c".into()]);
        Ok(State {
            cfg,
            layers,
            key: cache::key(&img.id, &[]),
            args: vec![],
            shell,
            cmd_set: false,
        })
    }

    /// The layer directories of `layers`, top first, unpacking any that are missing.
    fn lowers(&self, layers: &[Ingested]) -> Result<Vec<String>, BuildError> {
        let diffs: Vec<String> = layers.iter().map(|l| l.diff_id.clone()).collect();
        let chains = store::chain_ids(&diffs);
        let mut out = Vec::new();
        for (l, c) in layers.iter().zip(&chains) {
            ingest::unpack_layer(self.store, &l.blob, &l.diff_id, c)?;
            out.push(self.store.layer_dir(c)?.to_string_lossy().into_owned());
        }
        out.reverse();
        Ok(out)
    }

    fn history(&self, st: &mut State, created_by: String, created: Option<String>, empty: bool) {
        let mut h =
            json!({"created": created.unwrap_or_else(|| self.now()), "created_by": created_by});
        if empty {
            h["empty_layer"] = json!(true);
        }
        st.cfg.history.push(h);
    }

    #[allow(clippy::too_many_arguments)]
    fn instruction(
        &mut self,
        st: &mut State,
        i: &Instruction,
        stages: &[Stage],
        s: usize,
        done: &[Option<State>],
        out: &mut dyn Output,
        pull: Puller,
        stage_ref: &dyn Fn(&str, usize) -> Option<usize>,
    ) -> Result<(), BuildError> {
        let vars = self.vars(st);
        let esc = self.escape;
        let word = |t: &str| expand::word(t, &vars, esc).map_err(|e| ierr(i, e));
        let words = |t: &str| expand::words(t, &vars, esc).map_err(|e| ierr(i, e));
        let text = shell_text(&i.args);
        let exec_form = |what: &str| -> Result<Vec<String>, BuildError> {
            match &i.args {
                Args::Exec(v) => Ok(v.clone()),
                Args::Shell(s) if s.is_empty() => {
                    Err(ierr(i, format!("{what} requires at least one argument")))
                }
                Args::Shell(s) => Ok(st.shell.iter().cloned().chain([s.clone()]).collect()),
            }
        };
        let c = &mut st.cfg.config;
        let meta_key;
        match i.keyword.as_str() {
            "ARG" => {
                let mut args = std::mem::take(&mut st.args);
                self.declare_args(i, &mut args, Some(st))?;
                st.args = args;
                meta_key = Some(format!("ARG {text}"));
            }
            "ENV" => {
                let ws = words(&text)?;
                let pairs: Vec<(String, String)> = if ws.first().is_some_and(|w| !w.contains('=')) {
                    // The old `ENV key value` form: the rest of the line is the value.
                    let (k, v) = text
                        .trim()
                        .split_once(char::is_whitespace)
                        .ok_or_else(|| ierr(i, "ENV must have two arguments"))?;
                    vec![(k.to_string(), word(v.trim())?)]
                } else {
                    ws.iter()
                        .map(|w| {
                            w.split_once('=')
                                .map(|(k, v)| (k.to_string(), v.to_string()))
                        })
                        .collect::<Option<_>>()
                        .ok_or_else(|| ierr(i, "ENV names must be followed by '=' and a value"))?
                };
                let env = c.env.get_or_insert_with(Vec::new);
                let mut shown = Vec::new();
                for (k, v) in pairs {
                    if k.is_empty() {
                        return Err(ierr(i, "ENV names can not be blank"));
                    }
                    env.retain(|e| e.split_once('=').map(|x| x.0) != Some(k.as_str()));
                    env.push(format!("{k}={v}"));
                    shown.push(format!("{k}={v}"));
                }
                meta_key = Some(format!("ENV {}", shown.join(" ")));
            }
            "LABEL" => {
                let labels = c.labels.get_or_insert_with(Default::default);
                let mut shown = Vec::new();
                for w in words(&text)? {
                    let (k, v) = w.split_once('=').ok_or_else(|| {
                        ierr(i, format!("LABEL must have a key and a value: {w}"))
                    })?;
                    labels.insert(k.to_string(), v.to_string());
                    shown.push(format!("{k}={v}"));
                }
                meta_key = Some(format!("LABEL {}", shown.join(" ")));
            }
            "CMD" | "ENTRYPOINT" => {
                let v = match &i.args {
                    Args::Exec(v) => v.clone(),
                    Args::Shell(s) => st.shell.iter().cloned().chain([s.clone()]).collect(),
                };
                // Go's %q of a string slice, as docker writes it: ["a" "b"].
                let shown = format!(
                    "[{}]",
                    v.iter()
                        .map(|x| serde_json::to_string(x).unwrap_or_default())
                        .collect::<Vec<_>>()
                        .join(" ")
                );
                if i.keyword == "CMD" {
                    c.cmd = Some(v);
                    st.cmd_set = true;
                } else {
                    c.entrypoint = Some(v);
                    // docker: a new ENTRYPOINT drops a CMD inherited from the base.
                    if !st.cmd_set {
                        c.cmd = None;
                    }
                }
                meta_key = Some(format!("{} {shown}", i.keyword));
            }
            "WORKDIR" => {
                let w = word(&text)?;
                let base = c.working_dir.clone().unwrap_or_else(|| "/".into());
                let p = if w.starts_with('/') {
                    w
                } else {
                    format!("{}/{w}", base.trim_end_matches('/'))
                };
                let p = format!("/{}", context::clean(&p).unwrap_or_default());
                c.working_dir = Some(p.clone());
                return self.workdir(st, &p, out);
            }
            "USER" => {
                let u = word(&text)?;
                c.user = Some(u.clone());
                meta_key = Some(format!("USER {u}"));
            }
            "EXPOSE" => {
                let ports = c.exposed_ports.get_or_insert_with(Default::default);
                let mut shown = Vec::new();
                for p in words(&text)? {
                    // docker's history shows the ports as written; ranges become one
                    // entry per port in the config.
                    shown.push(p.clone());
                    let (num, proto) = match p.split_once('/') {
                        Some((n, pr)) => (n.to_string(), pr.to_ascii_lowercase()),
                        None => (p.clone(), "tcp".to_string()),
                    };
                    let bad = || ierr(i, format!("Invalid containerPort: {num}"));
                    let (lo, hi) = match num.split_once('-') {
                        Some((a, b)) => (a.parse::<u16>(), b.parse::<u16>()),
                        None => (num.parse::<u16>(), num.parse::<u16>()),
                    };
                    let (lo, hi) = (lo.map_err(|_| bad())?, hi.map_err(|_| bad())?);
                    if hi < lo {
                        return Err(bad());
                    }
                    for port in lo..=hi {
                        ports.insert(format!("{port}/{proto}"), json!({}));
                    }
                }
                shown.sort();
                meta_key = Some(format!("EXPOSE {}", shown.join(" ")));
            }
            "VOLUME" => {
                let list = match &i.args {
                    Args::Exec(v) => v.iter().map(|x| word(x)).collect::<Result<Vec<_>, _>>()?,
                    Args::Shell(_) => words(&text)?,
                };
                let vols = c.volumes.get_or_insert_with(Default::default);
                for v in &list {
                    if v.is_empty() {
                        return Err(ierr(i, "VOLUME specified can not be an empty string"));
                    }
                    vols.insert(v.clone(), json!({}));
                }
                // Go's %v of a string slice, as docker writes it.
                meta_key = Some(format!("VOLUME [{}]", list.join(" ")));
            }
            "STOPSIGNAL" => {
                let sig = word(&text)?;
                if crate::monitor::parse_signal(&sig).is_none() {
                    return Err(ierr(i, format!("Invalid signal: {sig}")));
                }
                c.stop_signal = Some(sig.clone());
                meta_key = Some(format!("STOPSIGNAL {sig}"));
            }
            "SHELL" => match &i.args {
                Args::Exec(v) if !v.is_empty() => {
                    st.shell = v.clone();
                    c.shell = Some(v.clone());
                    // Go's %v of a string slice, as docker writes it.
                    meta_key = Some(format!("SHELL [{}]", v.join(" ")));
                }
                _ => return Err(ierr(i, "SHELL requires the arguments to be in JSON form")),
            },
            "HEALTHCHECK" => {
                let hc = healthcheck(i, &st.shell)?;
                meta_key = Some(format!("HEALTHCHECK {}", go_healthcheck(&hc)));
                c.healthcheck = Some(hc);
            }
            "MAINTAINER" => {
                st.cfg.author = Some(text.trim().to_string());
                meta_key = Some(format!("MAINTAINER {}", text.trim()));
            }
            "ONBUILD" => {
                let trigger = text.trim().to_string();
                check_trigger(i, &trigger)?;
                c.on_build
                    .get_or_insert_with(Vec::new)
                    .push(trigger.clone());
                meta_key = Some(format!("ONBUILD {trigger}"));
            }
            "RUN" => return self.run(st, i, exec_form("RUN")?, out),
            "COPY" | "ADD" => return self.copy(st, i, stages, s, done, out, pull, stage_ref),
            _ => return Err(ierr(i, "unknown instruction")),
        }
        if let Some(k) = meta_key {
            // Cached too, for its time: a build that is all cache hits gives the same image.
            st.key = cache::key(&st.key, &[&k]);
            let created = match self.cached(&st.key) {
                Some(e) => {
                    out.event(&Event::new(Kind::Cached, " ---> Using cache"));
                    e.created
                }
                None => {
                    let now = self.now();
                    self.store_cache(
                        &st.key,
                        &cache::Entry {
                            blob: String::new(),
                            blob_size: 0,
                            diff_id: String::new(),
                            created_by: String::new(),
                            created: now.clone(),
                        },
                    );
                    now
                }
            };
            let shell = st.shell.join(" ");
            self.history(st, format!("{shell} #(nop)  {k}"), Some(created), true);
            out.line(&format!(" ---> {}", &st.key[..12]));
        }
        Ok(())
    }

    fn run(
        &mut self,
        st: &mut State,
        i: &Instruction,
        mut argv: Vec<String>,
        out: &mut dyn Output,
    ) -> Result<(), BuildError> {
        if let Some(n) = i.flags.keys().find(|k| k.as_str() != "network") {
            return Err(ierr(
                i,
                format!("--{n} is not supported yet by ongictl build"),
            ));
        }
        if !i.heredocs.is_empty() {
            // The heredocs go to the shell as a script: alone, the body is the script; after a
            // command, the shell reads them as its own heredocs.
            let line = match &i.args {
                Args::Shell(s) => s.trim().to_string(),
                Args::Exec(_) => return Err(ierr(i, "heredocs need the shell form")),
            };
            let script = if i.heredocs.len() == 1
                && line.starts_with("<<")
                && !line.contains(char::is_whitespace)
            {
                i.heredocs[0].body.clone()
            } else {
                let mut s = format!("{line}\n");
                for h in &i.heredocs {
                    s.push_str(&h.body);
                    s.push_str(&h.name);
                    s.push('\n');
                }
                s
            };
            argv = st.shell.iter().cloned().chain([script]).collect();
        }
        // Build args reach RUN as environment (ENV wins), and are part of its history.
        let env_names: BTreeSet<String> = st
            .cfg
            .config
            .env
            .iter()
            .flatten()
            .filter_map(|e| e.split_once('=').map(|x| x.0.to_string()))
            .collect();
        let mut arg_env: Vec<String> = st
            .args
            .iter()
            .filter(|(k, _)| !env_names.contains(k))
            .map(|(k, v)| format!("{k}={v}"))
            .collect();
        arg_env.sort();
        // The predefined proxy ARGs reach RUN undeclared but stay out of its history
        // (docker's rule: they usually hold credentials or host-specific addresses).
        let proxies: Vec<String> = self
            .build_args
            .iter()
            .filter(|(k, _)| PROXY_ARGS.contains(&k.as_str()))
            .filter(|(k, _)| !env_names.contains(*k) && !st.args.iter().any(|(a, _)| a == *k))
            .map(|(k, v)| format!("{k}={v}"))
            .collect();
        let mut env = st.cfg.config.env.clone().unwrap_or_default();
        env.extend(arg_env.iter().cloned());
        env.extend(proxies.iter().cloned());
        let mut created_by = argv.join(" ");
        if !arg_env.is_empty() || !proxies.is_empty() {
            created_by = if arg_env.is_empty() {
                format!("|0 {created_by}")
            } else {
                format!("|{} {} {created_by}", arg_env.len(), arg_env.join(" "))
            };
        }
        let c = &st.cfg.config;
        let env_key = env.join("\0");
        let key = cache::key(
            &st.key,
            &[
                "RUN",
                &serde_json::to_string(&argv).unwrap_or_default(),
                &env_key,
                c.user.as_deref().unwrap_or(""),
                c.working_dir.as_deref().unwrap_or(""),
                &self.opts.network,
            ],
        );
        if let Some(e) = self.cached(&key) {
            out.event(&Event::new(Kind::Cached, " ---> Using cache"));
            if e.blob.is_empty() {
                return self.apply_empty(st, key, e, out);
            }
            return self.apply(st, key, e, out);
        }
        let id = crate::container::new_id();
        out.line(&format!(" ---> Running in {}", &id[..12]));
        let lowers = self.lowers(&st.layers)?;
        let mut step = Step::mount(&self.dir.join(&id[..12]), &lowers)?;
        let wd = c.working_dir.clone().unwrap_or_else(|| "/".into());
        let _ = fs::create_dir_all(context::secure_join(&step.rootfs, &wd));
        let s = crate::container::Settings {
            id: id.clone(),
            hostname: id[..12].to_string(),
            cmd: argv.clone(),
            env,
            working_dir: Some(wd),
            user: c.user.clone(),
            network: if self.opts.network.is_empty() {
                "none".into()
            } else {
                self.opts.network.clone()
            },
            image: "ongictl-build".into(),
            ..Default::default()
        };
        // Registered before it starts, so a stop from another stage can kill it.
        if let Ok(mut r) = self.shared.running.lock() {
            r.insert(id.clone());
        }
        let _unregister = Unregister(self.shared, id.clone());
        self.check_canceled()?;
        // `-q` keeps the output for the error; otherwise it goes out line by line.
        let quiet = self.opts.quiet;
        let mut output = String::new();
        let code = step.run(self.store, &s, &mut |l: &str| {
            if quiet {
                output.push_str(l);
                output.push('\n');
            } else {
                out.event(&Event::new(Kind::Output, l));
            }
        })?;
        drop(_unregister);
        self.check_canceled()?;
        if code != 0 {
            return Err(BuildError::RunFailed {
                cmd: argv.join(" "),
                code,
                output,
            });
        }
        step.unmount()?;
        out.line(&format!("Removing intermediate container {}", &id[..12]));
        let upper = step.upper();
        let skip: Vec<&str> = ["etc/hostname", "etc/hosts", "etc/resolv.conf"]
            .into_iter()
            .filter(|p| {
                fs::symlink_metadata(upper.join(p)).is_ok_and(|m| m.is_file() && m.len() == 0)
            })
            .collect();
        if unchanged(&upper, "", &skip) {
            // docker's classic builder: a RUN that changed nothing adds no layer, only a
            // history entry marked empty_layer.
            drop(step);
            let e = cache::Entry {
                blob: String::new(),
                blob_size: 0,
                diff_id: String::new(),
                created_by,
                created: self.now(),
            };
            self.store_cache(&key, &e);
            return self.apply_empty(st, key, e, out);
        }
        let e = self.commit_layer(&upper, &skip, created_by)?;
        drop(step);
        self.store_cache(&key, &e);
        self.apply(st, key, e, out)
    }

    /// A step that made no layer: its history entry (empty_layer) and key.
    fn apply_empty(
        &mut self,
        st: &mut State,
        key: String,
        e: cache::Entry,
        out: &mut dyn Output,
    ) -> Result<(), BuildError> {
        self.history(st, e.created_by, Some(e.created), true);
        st.key = key;
        out.line(&format!(" ---> {}", &st.key[..12]));
        Ok(())
    }

    /// WORKDIR: docker's classic builder makes the directory (root's, 0755) in a layer of
    /// its own when the parent lacks it; else the step is config only.
    fn workdir(
        &mut self,
        st: &mut State,
        wd: &str,
        out: &mut dyn Output,
    ) -> Result<(), BuildError> {
        let k = format!("WORKDIR {wd}");
        let key = cache::key(&st.key, &[&k]);
        // One space after `#(nop)`: docker 20.10 writes WORKDIR's comment that way.
        let created_by = format!("{} #(nop) {k}", st.shell.join(" "));
        let entry = match self.cached(&key) {
            Some(e) => {
                out.line(" ---> Using cache");
                e
            }
            None => {
                let lowers = self.lowers(&st.layers)?;
                let step = Step::mount(&self.dir.join(format!("workdir-{}", self.step)), &lowers)?;
                let mut made = false;
                let mut rel = String::new();
                for part in wd.split('/').filter(|p| !p.is_empty()) {
                    rel.push('/');
                    rel.push_str(part);
                    let at = context::secure_join(&step.rootfs, &rel);
                    if !at.is_dir() {
                        fs::create_dir(&at).map_err(ioe("create", &at))?;
                        fs::set_permissions(
                            &at,
                            std::os::unix::fs::PermissionsExt::from_mode(0o755),
                        )
                        .map_err(ioe("chmod", &at))?;
                        made = true;
                    }
                }
                step.unmount()?;
                let e = if made {
                    self.commit_layer(&step.upper(), &[], created_by.clone())?
                } else {
                    cache::Entry {
                        blob: String::new(),
                        blob_size: 0,
                        diff_id: String::new(),
                        created_by: String::new(),
                        created: self.now(),
                    }
                };
                drop(step);
                self.store_cache(&key, &e);
                e
            }
        };
        if entry.blob.is_empty() {
            self.history(st, created_by, Some(entry.created), true);
            st.key = key;
            out.line(&format!(" ---> {}", &st.key[..12]));
            return Ok(());
        }
        self.apply(st, key, entry, out)
    }

    fn cached(&self, key: &str) -> Option<cache::Entry> {
        if self.opts.no_cache {
            return None;
        }
        cache::get(self.store, key)
    }

    fn store_cache(&self, key: &str, e: &cache::Entry) {
        // A cache entry that cannot be written only costs the next build time.
        let _ = cache::put(self.store, key, e);
    }

    fn commit_layer(
        &mut self,
        upper: &Path,
        skip: &[&str],
        created_by: String,
    ) -> Result<cache::Entry, BuildError> {
        let tmp = self.dir.join(format!("layer-{}.tar", self.steps_done()));
        let f = fs::OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(true)
            .open(&tmp)
            .map_err(ioe("create", &tmp))?;
        let w =
            layerdiff::write(upper, skip, self.opts.epoch, io::BufWriter::new(f)).map_err(|e| {
                BuildError::Io {
                    op: e.op,
                    path: e.path,
                    source: e.source,
                }
            })?;
        let mut f = w
            .into_inner()
            .map_err(|e| ioe("write", &tmp)(e.into_error()))?;
        f.rewind().map_err(ioe("rewind", &tmp))?;
        let l = ingest::layer_blob(self.store, "of a build step", io::BufReader::new(f))?;
        let _ = fs::remove_file(&tmp);
        // Kept out of the step's directory, which goes when the step does.
        let keep = self.dir.join(format!("upper-{}", self.steps_done()));
        self.fresh = fs::rename(upper, &keep)
            .ok()
            .map(|()| (keep, skip.iter().map(|s| s.to_string()).collect()));
        Ok(cache::Entry {
            blob: l.blob,
            blob_size: l.blob_size,
            diff_id: l.diff_id,
            created_by,
            created: self.now(),
        })
    }

    fn steps_done(&self) -> usize {
        self.step
    }

    fn apply(
        &mut self,
        st: &mut State,
        key: String,
        e: cache::Entry,
        out: &mut dyn Output,
    ) -> Result<(), BuildError> {
        st.layers.push(e.layer());
        st.cfg.rootfs.diff_ids.push(e.diff_id.clone());
        if let Some((upper, skip)) = self.fresh.take() {
            let diffs: Vec<String> = st.layers.iter().map(|l| l.diff_id.clone()).collect();
            if let Some(dest) = store::chain_ids(&diffs)
                .last()
                .and_then(|c| self.store.layer_dir(c).ok())
                .filter(|d| !d.exists())
            {
                // Best effort: if it fails, `lowers` below unpacks the layer from its blob.
                if adopt::adopt(&upper, &skip, self.opts.epoch, &dest).is_err() {
                    let _ = fs::remove_file(dest.with_extension("size"));
                }
            }
        }
        self.history(st, e.created_by.clone(), Some(e.created.clone()), false);
        st.key = key;
        self.steps += 1;
        // The layer is the next step's lower: unpacked now.
        self.lowers(&st.layers)?;
        out.line(&format!(" ---> {}", &st.key[..12]));
        Ok(())
    }

    #[allow(clippy::too_many_arguments)]
    fn copy(
        &mut self,
        st: &mut State,
        i: &Instruction,
        stages: &[Stage],
        s: usize,
        done: &[Option<State>],
        out: &mut dyn Output,
        pull: Puller,
        stage_ref: &dyn Fn(&str, usize) -> Option<usize>,
    ) -> Result<(), BuildError> {
        let _ = stages;
        for k in i.flags.keys() {
            let add_only = k == "checksum" && i.keyword == "ADD";
            if !(add_only || matches!(k.as_str(), "from" | "chown" | "chmod" | "link")) {
                return Err(ierr(i, format!("unknown flag: --{k}")));
            }
        }
        let vars = self.vars(st);
        let list: Vec<String> = match &i.args {
            Args::Exec(v) => v
                .iter()
                .map(|x| expand::word(x, &vars, self.escape))
                .collect::<Result<_, _>>()
                .map_err(|e| ierr(i, e))?,
            Args::Shell(t) => expand::words(t, &vars, self.escape).map_err(|e| ierr(i, e))?,
        };
        if list.len() < 2 {
            return Err(ierr(
                i,
                format!("{} requires at least two arguments", i.keyword),
            ));
        }
        let (srcs, dest) = list.split_at(list.len() - 1);
        let dest = &dest[0];
        if i.keyword == "COPY" && srcs.iter().any(|s| crate::download::is_url(s)) {
            // docker's wording: COPY takes no URLs.
            return Err(ierr(i, "source can't be a URL for COPY"));
        }
        let chown = i
            .flags
            .get("chown")
            .map(|c| expand::word(c, &vars, self.escape))
            .transpose()
            .map_err(|e| ierr(i, e))?;
        let chmod = match i.flags.get("chmod") {
            Some(m) => Some(
                u32::from_str_radix(m, 8)
                    .map_err(|_| ierr(i, format!("invalid chmod parameter {m:?}")))?,
            ),
            None => None,
        };
        // Where the sources come from: the context, another stage or an image.
        let mut src_mount: Option<Step> = None;
        let src_ctx = match i.flags.get("from") {
            None => self.ctx.clone(),
            Some(f) => {
                let layers = if let Some(d) = stage_ref(f, s) {
                    done[d]
                        .as_ref()
                        .map(|x| x.layers.clone())
                        .ok_or_else(|| BuildError::UnknownTarget(f.clone()))?
                } else if f.parse::<usize>().is_ok() {
                    // An index names a stage or nothing: never an image to pull.
                    return Err(ierr(
                        i,
                        format!(
                            "invalid from flag value {f}: no such build stage (stages before this one: {s})"
                        ),
                    ));
                } else {
                    let img = self
                        .image(f, pull)
                        .map_err(|e| ierr(i, format!("invalid from flag value {f}: {e}")))?;
                    self.state_of_image(&img)?.layers
                };
                let lowers = self.lowers(&layers)?;
                let m = Step::read_only(&self.dir.join(format!("from-{}", self.step)), &lowers)?;
                let c = Context::plain(&m.rootfs);
                src_mount = Some(m);
                c
            }
        };
        // Resolve and hash the sources (content, never mtimes).
        let heredoc_dir = self.dir.join(format!("heredoc-{}", self.step));
        let mut sources = Vec::new();
        let mut url_sums: Vec<String> = Vec::new();
        let mut h = Sha256::new();
        for src in srcs {
            if let Some(name) = src.strip_prefix("<<") {
                let name = name
                    .trim_start_matches('-')
                    .trim_matches(|c| c == '\'' || c == '"');
                let hd = i
                    .heredocs
                    .iter()
                    .find(|h| h.name == name)
                    .ok_or_else(|| ierr(i, format!("no heredoc {name}")))?;
                let body = if hd.quoted {
                    hd.body.clone()
                } else {
                    expand::word(&hd.body, &vars, self.escape).unwrap_or_else(|_| hd.body.clone())
                };
                fs::create_dir_all(&heredoc_dir).map_err(ioe("create", &heredoc_dir))?;
                let p = heredoc_dir.join(name);
                fs::write(&p, &body).map_err(ioe("write", &p))?;
                h.update(format!("heredoc {name}\0{body}\0").as_bytes());
                sources.push(Source {
                    path: p,
                    name: name.to_string(),
                    rel: None,
                });
                continue;
            }
            if i.keyword == "ADD" && crate::download::is_url(src) {
                // ADD URL (build/url.rs): downloaded, hashed by content, never extracted
                // (a source without `rel` is not an archive of the context to unpack).
                let want = i
                    .flags
                    .get("checksum")
                    .map(|c| super::url::checksum(c))
                    .transpose()
                    .map_err(|e| ierr(i, e))?;
                let name = if dest.ends_with('/') {
                    None
                } else {
                    dest.rsplit('/')
                        .next()
                        .filter(|n| !n.is_empty() && *n != ".")
                };
                let dir = self
                    .dir
                    .join(format!("url-{}-{}", self.step, sources.len()));
                let f =
                    super::url::fetch(src, &dir, name, want.as_deref()).map_err(|e| ierr(i, e))?;
                h.update(format!("url {src}\0{}\0", f.sha256).as_bytes());
                url_sums.push(f.sha256.clone());
                sources.push(Source {
                    path: f.path,
                    name: f.name,
                    rel: None,
                });
                continue;
            }
            let found = src_ctx.resolve(src).map_err(|e| ierr(i, e))?;
            for rel in found {
                src_ctx.hash(&rel, &mut h).map_err(|e| ierr(i, e))?;
                let path = context::secure_join(&src_ctx.root, &rel);
                let name = rel.rsplit('/').next().unwrap_or_default().to_string();
                sources.push(Source {
                    path,
                    name,
                    rel: Some(rel),
                });
            }
        }
        let wd = st
            .cfg
            .config
            .working_dir
            .clone()
            .unwrap_or_else(|| "/".into());
        // Relative to WORKDIR, cleaned; a trailing `/` (or `.`) still says "a directory".
        let joined = if dest.starts_with('/') {
            dest.clone()
        } else {
            format!("{wd}/{dest}")
        };
        let mut abs_dest = format!("/{}", context::clean(&joined).unwrap_or_default());
        if (dest.ends_with('/') || dest == "." || dest.ends_with("/.")) && !abs_dest.ends_with('/')
        {
            abs_dest.push('/');
        }
        let shown = format!("{} {}", srcs.join(" "), abs_dest);
        let digest = hex::encode(h.finalize());
        let key = cache::key(
            &st.key,
            &[
                &i.keyword,
                &shown,
                &digest,
                chown.as_deref().unwrap_or(""),
                &format!("{chmod:?}"),
                i.flags.get("from").map_or("", |s| s.as_str()),
                if i.flags.contains_key("link") {
                    "link"
                } else {
                    ""
                },
            ],
        );
        // docker's text: the destination as written, `--chown=` run into the hash (as
        // docker 20.10 prints it), a download's hash bare.
        let what = match sources.as_slice() {
            [one] if one.rel.is_none() && srcs.iter().any(|s| crate::download::is_url(s)) => {
                url_sums.first().cloned().unwrap_or_default()
            }
            [one] if one.path.is_dir() => format!("dir:{digest}"),
            [_] => format!("file:{digest}"),
            _ => format!("multi:{digest}"),
        };
        let created_by = format!(
            "{} #(nop) {} {}{what} in {dest} ",
            st.shell.join(" "),
            i.keyword,
            chown
                .as_deref()
                .map(|c| format!("--chown={c}"))
                .unwrap_or_default(),
        );
        if let Some(e) = self.cached(&key) {
            out.event(&Event::new(Kind::Cached, " ---> Using cache"));
            return self.apply(st, key, e, out);
        }
        let lowers = self.lowers(&st.layers)?;
        let step = Step::mount(&self.dir.join(format!("copy-{}", self.step)), &lowers)?;
        let ids = chown
            .as_deref()
            .map(|c| copy::chown_ids(&step.rootfs, c))
            .transpose()
            .map_err(|e| ierr(i, e))?;
        // COPY --link: the files go into an empty directory that is the whole layer, so the
        // layer is the same whatever the parent holds (BuildKit's rule; ongictl still keys
        // and stacks it on its parent). `--chown` names still come from the parent.
        let link_root = i
            .flags
            .contains_key("link")
            .then(|| self.dir.join(format!("link-{}", self.step)));
        if let Some(d) = &link_root {
            fs::create_dir_all(d).map_err(ioe("create", d))?;
        }
        let excluded = |r: &str| src_ctx.excluded(r);
        let owner = match ids {
            Some((u, g)) => copy::Owner::Ids(u, g),
            None if i.flags.contains_key("from") => copy::Owner::Keep,
            None => copy::Owner::Root,
        };
        copy::copy(
            link_root.as_deref().unwrap_or(&step.rootfs),
            &sources,
            &abs_dest,
            owner,
            chmod,
            &excluded,
            i.keyword == "ADD",
        )
        .map_err(|e| ierr(i, e))?;
        drop(src_mount);
        step.unmount()?;
        let layer_dir = link_root.unwrap_or_else(|| step.upper());
        let e = self.commit_layer(&layer_dir, &[], created_by)?;
        drop(step);
        self.store_cache(&key, &e);
        self.apply(st, key, e, out)
    }
}

/// Does the upper directory `dir/rel` hold nothing but the `skip` files the runtime made
/// (and the directories on their way)?
fn unchanged(dir: &Path, rel: &str, skip: &[&str]) -> bool {
    let Ok(rd) = fs::read_dir(dir.join(rel)) else {
        return false;
    };
    for e in rd.flatten() {
        let r = if rel.is_empty() {
            e.file_name().to_string_lossy().into_owned()
        } else {
            format!("{rel}/{}", e.file_name().to_string_lossy())
        };
        if skip.contains(&r.as_str()) {
            continue;
        }
        let on_the_way = skip.iter().any(|s| s.starts_with(&format!("{r}/")));
        let is_dir = e.file_type().is_ok_and(|t| t.is_dir());
        if !(is_dir && on_the_way && unchanged(dir, &r, skip)) {
            return false;
        }
    }
    true
}

/// docker's predefined ARGs: usable in RUN without an ARG, never in the image's history.
const PROXY_ARGS: [&str; 10] = [
    "HTTP_PROXY",
    "http_proxy",
    "HTTPS_PROXY",
    "https_proxy",
    "FTP_PROXY",
    "ftp_proxy",
    "NO_PROXY",
    "no_proxy",
    "ALL_PROXY",
    "all_proxy",
];

/// docker's rules for an ONBUILD trigger (checked where it is declared and where it runs).
fn check_trigger(i: &Instruction, trigger: &str) -> Result<(), BuildError> {
    let kw = trigger
        .split_whitespace()
        .next()
        .unwrap_or_default()
        .to_ascii_uppercase();
    match kw.as_str() {
        "" => Err(ierr(i, "ONBUILD requires at least one argument")),
        "ONBUILD" => Err(ierr(
            i,
            "Chaining ONBUILD via `ONBUILD ONBUILD` isn't allowed",
        )),
        "FROM" | "MAINTAINER" => Err(ierr(i, format!("{kw} isn't allowed as an ONBUILD trigger"))),
        _ => Ok(()),
    }
}

/// docker's HEALTHCHECK: `NONE`, or `[--interval=D] [--timeout=D] [--start-period=D]
/// [--start-interval=D] [--retries=N] CMD command`.
fn healthcheck(i: &Instruction, shell: &[String]) -> Result<serde_json::Value, BuildError> {
    let text = shell_text(&i.args);
    if text.trim().eq_ignore_ascii_case("none") {
        return Ok(json!({"Test": ["NONE"]}));
    }
    let rest = text.trim();
    let (word, cmd) = rest.split_once(char::is_whitespace).unwrap_or((rest, ""));
    if !word.eq_ignore_ascii_case("CMD") {
        return Err(ierr(
            i,
            "Unknown type \"".to_string() + word + "\" in HEALTHCHECK (try CMD)",
        ));
    }
    let cmd = cmd.trim();
    let test: Vec<String> = match serde_json::from_str::<Vec<String>>(cmd) {
        Ok(v) if cmd.starts_with('[') => ["CMD".to_string()].into_iter().chain(v).collect(),
        _ => vec!["CMD-SHELL".into(), cmd.to_string()],
    };
    let _ = shell;
    let mut hc = json!({"Test": test});
    for (flag, field) in [
        ("interval", "Interval"),
        ("timeout", "Timeout"),
        ("start-period", "StartPeriod"),
        ("start-interval", "StartInterval"),
    ] {
        if let Some(v) = i.flags.get(flag) {
            let ns =
                go_duration(v).ok_or_else(|| ierr(i, format!("time: invalid duration {v:?}")))?;
            hc[field] = json!(ns);
        }
    }
    if let Some(r) = i.flags.get("retries") {
        let n: i64 = r
            .parse()
            .map_err(|_| ierr(i, format!("invalid --retries {r:?}")))?;
        hc["Retries"] = json!(n);
    }
    Ok(hc)
}

/// docker's history text of a HEALTHCHECK: Go's `%q` of its HealthConfig (20.10's fields:
/// Test, Interval, Timeout, StartPeriod, Retries).
fn go_healthcheck(hc: &serde_json::Value) -> String {
    let test: Vec<String> = hc["Test"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|t| serde_json::to_string(t.as_str().unwrap_or_default()).unwrap_or_default())
        .collect();
    let d = |f: &str| format!("\"{}\"", go_duration_string(hc[f].as_i64().unwrap_or(0)));
    let r = hc["Retries"].as_i64().unwrap_or(0);
    let retries = match u8::try_from(r) {
        Ok(b @ 0x20..=0x7e) if b != b'\'' && b != b'\\' => format!("'{}'", b as char),
        Ok(b) if b < 0x80 => format!("'\\x{b:02x}'"),
        _ => format!("'{}'", char::from_u32(r as u32).unwrap_or('?')),
    };
    format!(
        "&{{[{}] {} {} {} {retries}}}",
        test.join(" "),
        d("Interval"),
        d("Timeout"),
        d("StartPeriod")
    )
}

/// Go's `time.Duration.String()`.
fn go_duration_string(ns: i64) -> String {
    if ns == 0 {
        return "0s".into();
    }
    let neg = ns < 0;
    let ns = ns.unsigned_abs();
    let sign = if neg { "-" } else { "" };
    if ns < 1_000_000_000 {
        let (v, unit) = if ns < 1_000 {
            (ns as f64, "ns")
        } else if ns < 1_000_000 {
            (ns as f64 / 1e3, "µs")
        } else {
            (ns as f64 / 1e6, "ms")
        };
        return format!("{sign}{}{unit}", trim_float(v));
    }
    let h = ns / 3_600_000_000_000;
    let m = ns / 60_000_000_000 % 60;
    let s = (ns % 60_000_000_000) as f64 / 1e9;
    let mut out = sign.to_string();
    if h > 0 {
        out.push_str(&format!("{h}h{m}m"));
    } else if m > 0 {
        out.push_str(&format!("{m}m"));
    }
    out.push_str(&format!("{}s", trim_float(s)));
    out
}

fn trim_float(v: f64) -> String {
    let s = format!("{v:.9}");
    let s = s.trim_end_matches('0').trim_end_matches('.');
    s.to_string()
}

/// A Go duration (`1m30s`, `500ms`, `2h`) in nanoseconds.
fn go_duration(s: &str) -> Option<i64> {
    let mut total = 0f64;
    let mut rest = s;
    if rest == "0" {
        return Some(0);
    }
    while !rest.is_empty() {
        let n = rest.find(|c: char| !(c.is_ascii_digit() || c == '.'))?;
        let num: f64 = rest[..n].parse().ok()?;
        rest = &rest[n..];
        let u = rest
            .find(|c: char| c.is_ascii_digit() || c == '.')
            .unwrap_or(rest.len());
        let mult = match &rest[..u] {
            "ns" => 1.0,
            "us" | "µs" => 1e3,
            "ms" => 1e6,
            "s" => 1e9,
            "m" => 60e9,
            "h" => 3600e9,
            _ => return None,
        };
        total += num * mult;
        rest = &rest[u..];
    }
    Some(total as i64)
}

#[cfg(test)]
mod tests {
    #[test]
    fn durations() {
        assert_eq!(super::go_duration("1m30s"), Some(90_000_000_000));
        assert_eq!(super::go_duration("500ms"), Some(500_000_000));
        assert_eq!(super::go_duration("5x"), None);
        assert_eq!(super::go_duration_string(30_000_000_000), "30s");
        assert_eq!(super::go_duration_string(90_000_000_000), "1m30s");
        assert_eq!(super::go_duration_string(3_600_000_000_000), "1h0m0s");
        assert_eq!(super::go_duration_string(500_000_000), "500ms");
        let hc = serde_json::json!({"Test": ["CMD-SHELL", "true"], "Interval": 30_000_000_000i64, "Retries": 2});
        assert_eq!(
            super::go_healthcheck(&hc),
            "&{[\"CMD-SHELL\" \"true\"] \"30s\" \"0s\" \"0s\" '\\x02'}"
        );
    }
}
