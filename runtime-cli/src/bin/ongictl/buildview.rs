//! `build --progress tty`: the live per-step view on a terminal. One line per running step
//! (its stage and instruction, elapsed time, the last line its command wrote), redrawn in
//! place by indicatif; a finished step collapses to one line with DONE (and its time),
//! CACHED or ERROR. The full output of a failed step is printed at the end, above the
//! error with its exit code, as BuildKit does.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use indicatif::{MultiProgress, ProgressBar, ProgressStyle};
use ongi_engine::build::executor::{Event, Kind, Output};

/// The step a stage is in.
struct Current {
    pb: ProgressBar,
    title: String,
    cached: bool,
    lines: Vec<String>,
    started: Instant,
}

/// The live view.
pub struct Live {
    multi: MultiProgress,
    running: Option<ProgressStyle>,
    finished: Option<ProgressStyle>,
    stages: HashMap<usize, Current>,
    /// Failed steps: title and output, printed by [`Live::finish`].
    failed: Vec<(String, Vec<String>)>,
}

impl Live {
    /// A view drawn through `multi` (shared with the pulls the build makes, which suspend it).
    pub fn new(multi: MultiProgress) -> Live {
        Live {
            multi,
            running: ProgressStyle::with_template(
                "{spinner:.cyan} {prefix} {elapsed:>4} {wide_msg:.dim}",
            )
            .ok(),
            finished: ProgressStyle::with_template("=> {prefix} {msg}").ok(),
            stages: HashMap::new(),
            failed: Vec::new(),
        }
    }

    fn end_step(&mut self, stage: usize, state: &str) {
        let Some(c) = self.stages.remove(&stage) else {
            return;
        };
        if let Some(s) = &self.finished {
            c.pb.set_style(s.clone());
        }
        let secs = c.started.elapsed().as_secs_f64();
        let msg = match state {
            "DONE" if c.cached => "CACHED".to_string(),
            "DONE" => format!("DONE {secs:.1}s"),
            "ERROR" => {
                self.failed.push((c.title.clone(), c.lines.clone()));
                format!("ERROR {secs:.1}s")
            }
            other => other.to_string(),
        };
        c.pb.finish_with_message(msg);
    }

    /// Ends the view: every bar is final, then the output of each failed step.
    pub fn finish(mut self) {
        let open: Vec<usize> = self.stages.keys().copied().collect();
        for s in open {
            self.end_step(s, "CANCELED");
        }
        for (title, lines) in &self.failed {
            println!("------\n > {title}:");
            for l in lines {
                println!("{l}");
            }
            println!("------");
        }
    }
}

impl Output for Live {
    fn line(&mut self, s: &str) {
        let _ = self.multi.println(s);
    }

    fn event(&mut self, e: &Event) {
        match e.kind {
            Kind::Step => {
                self.end_step(e.stage, "DONE");
                let pb = self.multi.add(ProgressBar::new_spinner());
                if let Some(s) = &self.running {
                    pb.set_style(s.clone());
                }
                let title = e.plain();
                pb.set_prefix(title.clone());
                pb.enable_steady_tick(Duration::from_millis(100));
                self.stages.insert(
                    e.stage,
                    Current {
                        pb,
                        title,
                        cached: false,
                        lines: Vec::new(),
                        started: Instant::now(),
                    },
                );
            }
            Kind::Cached => {
                if let Some(c) = self.stages.get_mut(&e.stage) {
                    c.cached = true;
                }
            }
            Kind::Output => match self.stages.get_mut(&e.stage) {
                Some(c) => {
                    c.pb.set_message(e.text.clone());
                    c.lines.push(e.text.clone());
                }
                None => self.line(&e.plain()),
            },
            // The step's own bookkeeping (` ---> id`, the step container) is the plain
            // view's; anything else (warnings, ONBUILD) is shown above the bars.
            Kind::Info => {
                let t = e.text.trim_start();
                if !(t.starts_with("--->") || t.starts_with("Removing intermediate")) {
                    self.line(&e.plain());
                }
            }
            Kind::Done => self.end_step(e.stage, "DONE"),
            Kind::Failed if e.text.starts_with("canceled") => self.end_step(e.stage, "CANCELED"),
            Kind::Failed => self.end_step(e.stage, "ERROR"),
        }
    }
}
