//! Healthchecks on the command line: `run`/`create`'s `--health-*` flags, the health
//! `ps` shows after "Up ...", and `ps --filter health=`.

use clap::Args;
use ongi_engine::container::Container;
use ongi_engine::health::{self, HealthFlags};
use ongi_engine::store::Store;

use crate::{fmt, Fail};

/// docker's healthcheck flags of `run` and `create` (fields named as the flags: clap ids
/// are shared with the flattening RunArgs, which has a `cmd` of its own).
#[derive(Args, Debug, Default)]
pub struct HealthArgs {
    /// Command to run to check health.
    #[arg(long = "health-cmd")]
    health_cmd: Option<String>,
    /// Time between running the check (ms|s|m|h).
    #[arg(long = "health-interval", allow_hyphen_values = true)]
    health_interval: Option<String>,
    /// Maximum time to allow one check to run (ms|s|m|h).
    #[arg(long = "health-timeout", allow_hyphen_values = true)]
    health_timeout: Option<String>,
    /// Consecutive failures needed to report unhealthy.
    #[arg(long = "health-retries", allow_negative_numbers = true)]
    health_retries: Option<i64>,
    /// Start period for the container to initialize before starting health-retries
    /// countdown (ms|s|m|h).
    #[arg(long = "health-start-period", allow_hyphen_values = true)]
    health_start_period: Option<String>,
    /// Time between running the check during the start period (ms|s|m|h).
    #[arg(long = "health-start-interval", allow_hyphen_values = true)]
    health_start_interval: Option<String>,
    /// Disable any container-specified HEALTHCHECK.
    #[arg(long = "no-healthcheck")]
    no_healthcheck: bool,
}

impl HealthArgs {
    /// The engine's view of the flags.
    pub fn flags(&self) -> HealthFlags {
        HealthFlags {
            cmd: self.health_cmd.clone(),
            interval: self.health_interval.clone(),
            timeout: self.health_timeout.clone(),
            start_period: self.health_start_period.clone(),
            start_interval: self.health_start_interval.clone(),
            retries: self.health_retries,
            none: self.no_healthcheck,
        }
    }
}

/// ps's STATUS: docker's "Up 3 seconds (healthy)" for a running container with a check.
pub fn status(store: &Store, c: &Container) -> String {
    let base = fmt::status(&c.state);
    if c.state.status != "running" {
        return base;
    }
    match health::of(store, &c.settings) {
        Some(h) => base + &health::ps_suffix(&h),
        None => base,
    }
}

/// Takes the `health=` filters out of `filters` (the rest go to ps's other filters),
/// checking their values as docker does.
pub fn split_filters(filters: &[String]) -> Result<(Vec<String>, Vec<String>), Fail> {
    let mut want = vec![];
    let mut rest = vec![];
    for f in filters {
        match f.split_once('=') {
            Some(("health", v)) => {
                if !matches!(v, "starting" | "healthy" | "unhealthy" | "none") {
                    return Err(Fail(
                        1,
                        format!("Unrecognised filter value for health: {v}"),
                    ));
                }
                want.push(v.to_string());
            }
            _ => rest.push(f.clone()),
        }
    }
    Ok((want, rest))
}

/// Keeps the containers whose health is one of `want` ("none": no check); no filter
/// keeps all.
pub fn filter(store: &Store, list: &mut Vec<Container>, want: &[String]) {
    if want.is_empty() {
        return;
    }
    list.retain(|c| {
        let h = health::of(store, &c.settings).map_or_else(|| "none".to_string(), |h| h.status);
        want.contains(&h)
    });
}
