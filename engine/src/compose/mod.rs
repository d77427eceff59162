//! `compose`: multi-container applications from compose files, over the engine's own
//! functions (no shelling out). One concern per file: [`interp`] (variable interpolation),
//! [`load`] (discovery, .env, -f merging, extends, profiles, the project name), [`model`]
//! (the typed model and its unknown-key rule), [`plan`] (dependency order), [`lifecycle`]
//! (up, down, replicas and the project's containers), [`ops`] (start/stop/restart/rm,
//! exec/port/top addressing, run's one-off container, pull, push, `up --wait`), [`build`]
//! (`build:` services through the engine's build module).

pub mod build;
pub mod interp;
pub mod lifecycle;
pub mod load;
pub mod model;
pub mod ops;
pub mod plan;

/// Why a compose command failed.
#[derive(Debug, thiserror::Error)]
pub enum ComposeError {
    /// No compose file in the directory or its parents.
    #[error("no configuration file provided: not found")]
    NotFound,
    /// A file could not be read.
    #[error("{path}: {source}")]
    Read {
        path: String,
        source: std::io::Error,
    },
    /// A file is not valid YAML (the error names line and column).
    #[error("{path}: {source}")]
    Yaml {
        path: String,
        source: serde_yaml_ng::Error,
    },
    /// `${VAR:?msg}` or `${VAR?msg}` with VAR missing.
    #[error("error while interpolating {at}: required variable {name} is missing a value: {msg}")]
    MissingVar {
        at: String,
        name: String,
        msg: String,
    },
    /// A depends_on cycle, its path.
    #[error("dependency cycle detected: {0}")]
    Cycle(String),
    /// A service named on the command line that the project does not have.
    #[error("no such service: {0}")]
    NoSuchService(String),
    /// Anything else wrong in the file.
    #[error("{0}")]
    Invalid(String),
    /// A service could not be brought up or down.
    #[error("service {service:?}: {why}")]
    Service { service: String, why: String },
    /// The engine's store.
    #[error(transparent)]
    Container(#[from] crate::container::ContainerError),
}
