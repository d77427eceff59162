//! Pull and push progress as docker shows it: on a terminal one line per layer that is
//! redrawn in place (`Pulling fs layer`, `Downloading [====>   ] 1.2MB/2.5MB`, `Pull
//! complete`), drawn by indicatif; otherwise plain lines, one per state change, with the
//! byte counts left out (a log file gets no 20 Hz redraws).

use std::collections::HashMap;
use std::io::IsTerminal;
use std::sync::{Arc, Mutex};

use indicatif::{MultiProgress, ProgressBar, ProgressDrawTarget, ProgressStyle};
use ongi_engine::image;
use ongi_engine::registry::Progress;

/// Where the progress goes: `run` reports its implicit pull on stderr, `pull` and `push`
/// on stdout.
#[derive(Clone, Copy, PartialEq, Eq)]
pub enum Stream {
    Stdout,
    Stderr,
}

/// States a plain (non-terminal) report leaves out: they repeat for every chunk.
const CHATTY: &[&str] = &["Downloading", "Extracting", "Preparing", "Pushing"];

/// Plain lines.
struct Plain {
    quiet: bool,
    stream: Stream,
}

impl Plain {
    fn emit(&self, s: &str) {
        if self.quiet {
            return;
        }
        match self.stream {
            Stream::Stdout => println!("{s}"),
            Stream::Stderr => eprintln!("{s}"),
        }
    }
}

impl Progress for Plain {
    fn line(&self, s: &str) {
        self.emit(s);
    }
    fn layer(&self, digest: &str, status: &str, _done: u64, _total: u64) {
        if !CHATTY.contains(&status) {
            self.emit(&format!("{}: {status}", image::short_id(digest)));
        }
    }
}

/// Bars on a terminal, one per layer, in the order the layers were first reported.
struct Bars {
    multi: MultiProgress,
    /// Per layer: its bar and its size (the engine reports the total once, with `Pulling
    /// fs layer`, and only the bytes done while downloading).
    layers: Mutex<HashMap<String, (ProgressBar, u64)>>,
    /// A status line; a layer's state; a layer downloading.
    line: ProgressStyle,
    text: ProgressStyle,
    bytes: ProgressStyle,
}

impl Progress for Bars {
    fn line(&self, s: &str) {
        // A finished bar of text keeps its place above the layers drawn after it.
        let pb = self
            .multi
            .add(ProgressBar::new(0).with_style(self.line.clone()));
        pb.finish_with_message(s.to_string());
    }

    fn layer(&self, digest: &str, status: &str, done: u64, total: u64) {
        let mut layers = self.layers.lock().unwrap_or_else(|p| p.into_inner());
        let (pb, size) = layers.entry(digest.to_string()).or_insert_with(|| {
            let pb = self
                .multi
                .add(ProgressBar::new(0).with_style(self.text.clone()));
            pb.set_prefix(image::short_id(digest).to_string());
            (pb, 0)
        });
        if total > 0 {
            *size = total;
        }
        let counting = status == "Downloading" && *size > 0;
        if counting {
            pb.set_style(self.bytes.clone());
            pb.set_length(*size);
            pb.set_position(done.min(*size));
        } else {
            pb.set_style(self.text.clone());
        }
        pb.set_message(status.to_string());
        let last = matches!(
            status,
            "Pull complete" | "Already exists" | "Pushed" | "Layer already exists"
        ) || status.starts_with("Mounted from");
        if last {
            pb.finish();
        }
    }
}

/// The report for a pull or push: bars when `stream` is a terminal, plain lines otherwise,
/// nothing (but the caller's own last lines) with `quiet`.
pub fn reporter(quiet: bool, stream: Stream) -> Arc<dyn Progress> {
    let tty = match stream {
        Stream::Stdout => std::io::stdout().is_terminal(),
        Stream::Stderr => std::io::stderr().is_terminal(),
    };
    let styles = (
        ProgressStyle::with_template("{msg}"),
        ProgressStyle::with_template("{prefix}: {msg}"),
        ProgressStyle::with_template("{prefix}: {msg} [{bar:50}] {bytes}/{total_bytes}"),
    );
    match (quiet, tty, styles) {
        (false, true, (Ok(line), Ok(text), Ok(bytes))) => {
            let target = match stream {
                Stream::Stdout => ProgressDrawTarget::stdout(),
                Stream::Stderr => ProgressDrawTarget::stderr(),
            };
            Arc::new(Bars {
                multi: MultiProgress::with_draw_target(target),
                layers: Mutex::new(HashMap::new()),
                line,
                text,
                bytes: bytes.progress_chars("=> "),
            })
        }
        _ => Arc::new(Plain { quiet, stream }),
    }
}
