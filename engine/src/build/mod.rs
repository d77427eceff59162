//! `ongictl build`: a Dockerfile and a context directory become an image, stored like a
//! pulled or committed one. One concern per file: [`dockerfile`] (parsing), [`expand`]
//! (variable substitution), [`context`] (the context, `.dockerignore`, source resolution
//! and hashing), [`executor`] (stages and instructions), [`run`] (a RUN step as a
//! container on an overlay of the parent's layers), [`copy`] (COPY/ADD into a rootfs with
//! docker's file/dir rules), [`layerdiff`] (a step's upper directory as a layer tar),
//! [`cache`] (step keys to layers), [`adopt`] (a step's upper as its unpacked layer),
//! [`cleanup`] (what a killed build left),
//! [`stdin`] (`build -`: the context or Dockerfile on stdin), [`url`] (`ADD http(s)://`).

pub mod adopt;
pub mod cache;
pub mod cleanup;
pub mod context;
pub mod copy;
pub mod dockerfile;
pub mod executor;
pub mod expand;
pub mod layerdiff;
pub mod run;
pub mod stdin;
pub mod url;

use std::path::PathBuf;

pub use executor::build;

/// What a build is asked to do.
#[derive(Debug, Clone, Default)]
pub struct Options {
    /// The context directory.
    pub context: PathBuf,
    /// The Dockerfile.
    pub dockerfile: PathBuf,
    /// `-t` names.
    pub tags: Vec<String>,
    /// `--build-arg K=V` (a bare `K` takes the value from the environment).
    pub build_args: Vec<(String, Option<String>)>,
    /// `--target`.
    pub target: Option<String>,
    /// `--no-cache`.
    pub no_cache: bool,
    /// `-q`: RUN output only when a step fails.
    pub quiet: bool,
    /// `--network`: `none` (default), `host`, `bridge` or a network's name.
    pub network: String,
    /// SOURCE_DATE_EPOCH: image and history times, clamp for layer mtimes.
    pub epoch: Option<u64>,
    /// `--label K=V`: added to the built image's labels.
    pub labels: Vec<(String, String)>,
    /// `--pull`: pull every FROM image again, even one the store has.
    pub pull: bool,
}

/// Why a build failed.
#[derive(Debug, thiserror::Error)]
pub enum BuildError {
    /// The Dockerfile does not parse.
    #[error(transparent)]
    Parse(#[from] dockerfile::ParseError),
    /// An instruction is wrong (names the line and the instruction).
    #[error("Dockerfile line {line}: {keyword}: {why}")]
    Instruction {
        /// 1-based line.
        line: usize,
        /// The instruction's keyword.
        keyword: String,
        /// What is wrong.
        why: String,
    },
    /// A RUN exited non-zero.
    #[error("The command '{cmd}' returned a non-zero code: {code}")]
    RunFailed {
        /// The command as docker shows it.
        cmd: String,
        /// Its exit code.
        code: i32,
        /// Its output when it was captured (`-q`), for the user to see with the error.
        output: String,
    },
    /// The Dockerfile or a file of the build.
    #[error("{op} {path}: {source}")]
    Io {
        /// What was being done.
        op: &'static str,
        /// The path.
        path: PathBuf,
        /// The cause.
        source: std::io::Error,
    },
    /// `--target` or `--from` names no stage.
    #[error("failed to reach build target {0} in Dockerfile")]
    UnknownTarget(String),
    /// The store.
    #[error(transparent)]
    Store(#[from] crate::store::StoreError),
    /// Taking a layer or the image in.
    #[error(transparent)]
    Ingest(#[from] crate::ingest::IngestError),
    /// Looking an image up.
    #[error(transparent)]
    Image(#[from] crate::image::ImageError),
    /// Making a RUN step's config.
    #[error(transparent)]
    Spec(#[from] crate::runspec::RunSpecError),
    /// The runtime refused a RUN step's container.
    #[error("RUN: {0}")]
    Runtime(String),
    /// Pulling a base image.
    #[error("{0}")]
    Pull(String),
    /// Another stage failed, and this one was stopped.
    #[error("canceled: another stage failed")]
    Canceled,
}

/// Formats seconds since the epoch as RFC 3339 (UTC).
pub fn rfc3339(secs: u64) -> String {
    let days = (secs / 86_400) as i64;
    let sod = secs % 86_400;
    // Howard Hinnant's civil_from_days.
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(m <= 2);
    format!(
        "{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}Z",
        sod / 3600,
        sod % 3600 / 60,
        sod % 60
    )
}

#[cfg(test)]
mod tests {
    #[test]
    fn epoch_formats() {
        assert_eq!(super::rfc3339(0), "1970-01-01T00:00:00Z");
        assert_eq!(super::rfc3339(1_700_000_000), "2023-11-14T22:13:20Z");
    }
}
