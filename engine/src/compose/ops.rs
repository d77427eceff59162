//! The commands on an existing project's containers: `start`, `stop`, `restart`, `rm`,
//! the container `exec`/`port`/`top` address (service and index), and `run`'s one-off
//! container. Progress lines are compose v2's (` Container NAME  Started`).

use std::collections::BTreeMap;
use std::sync::Arc;

use super::lifecycle::{
    self, containers, ensure_image, number_of, remove_container, run_flags, settings, start,
    svc_err, Quiet, ONEOFF, SERVICE,
};
use super::model::Project;
use super::plan;
use super::ComposeError;
use crate::container::{self as ctr, Container, ContainerError, Settings};
use crate::reference::Reference;
use crate::store::Store;

/// The service containers (not one-offs) of `services` (all when empty), in dependency
/// order, then by replica number.
pub fn service_containers(
    store: &Store,
    p: &Project,
    services: &[String],
) -> Result<Vec<Container>, ComposeError> {
    let order = plan::order(p, services, false)?;
    let mut list: Vec<Container> = containers(store, &p.name)?
        .into_iter()
        .filter(|c| c.settings.labels.get(ONEOFF).map(String::as_str) != Some("True"))
        .filter(|c| {
            c.settings
                .labels
                .get(SERVICE)
                .is_some_and(|s| order.contains(s))
        })
        .collect();
    let rank = |c: &Container| {
        let s = c.settings.labels.get(SERVICE);
        (order.iter().position(|o| Some(o) == s), number_of(c))
    };
    list.sort_by_key(rank);
    Ok(list)
}

/// Replica `index` (1-based) of `service`: the container `exec`, `port` and `top` address.
pub fn replica(
    store: &Store,
    p: &Project,
    service: &str,
    index: u32,
) -> Result<Container, ComposeError> {
    let list = service_containers(store, p, &[service.to_string()])?;
    list.into_iter()
        .find(|c| number_of(c) == index)
        .ok_or_else(|| {
            svc_err(
                service,
                format!("service \"{service}\" is not running container #{index}"),
            )
        })
        .map_err(|e| match e {
            ComposeError::Service { why, .. } => ComposeError::Invalid(why),
            e => e,
        })
}

/// `start [SERVICE...]`: the stopped containers, dependencies first.
pub fn start_cmd(
    store: &Store,
    p: &Project,
    services: &[String],
    report: &mut dyn FnMut(String),
) -> Result<(), ComposeError> {
    let list = service_containers(store, p, services)?;
    if list.is_empty() {
        return Err(ComposeError::Invalid(
            "service(s) have no container to start".into(),
        ));
    }
    for c in list {
        if c.running() {
            continue;
        }
        let name = &c.settings.name;
        report(format!(" Container {name}  Starting"));
        let svc = c.settings.labels.get(SERVICE).cloned().unwrap_or_default();
        start(store, &svc, &c.settings)?;
        report(format!(" Container {name}  Started"));
    }
    Ok(())
}

/// `stop [-t N] [SERVICE...]`: running containers, dependents first.
pub fn stop_cmd(
    store: &Store,
    p: &Project,
    services: &[String],
    timeout: Option<i64>,
    report: &mut dyn FnMut(String),
) -> Result<(), ComposeError> {
    let mut list = service_containers(store, p, services)?;
    list.reverse();
    for c in list {
        if !(c.running() || c.monitored) {
            continue;
        }
        let name = &c.settings.name;
        report(format!(" Container {name}  Stopping"));
        let t = timeout.or(c.settings.stop_timeout).unwrap_or(10);
        crate::monitor::stop(store, &c, t)?;
        report(format!(" Container {name}  Stopped"));
    }
    Ok(())
}

/// `restart [-t N] [SERVICE...]`: each container stopped (when running) and started.
pub fn restart_cmd(
    store: &Store,
    p: &Project,
    services: &[String],
    timeout: Option<i64>,
    report: &mut dyn FnMut(String),
) -> Result<(), ComposeError> {
    for c in service_containers(store, p, services)? {
        let name = c.settings.name.clone();
        report(format!(" Container {name}  Restarting"));
        if c.running() || c.monitored {
            let t = timeout.or(c.settings.stop_timeout).unwrap_or(10);
            crate::monitor::stop(store, &c, t)?;
        }
        let cur = ctr::load(store, &c.settings.id)?;
        let svc = cur
            .settings
            .labels
            .get(SERVICE)
            .cloned()
            .unwrap_or_default();
        start(store, &svc, &cur.settings)?;
        report(format!(" Container {name}  Started"));
    }
    Ok(())
}

/// What `rm` would remove: stopped containers (all of them with `stop_first`).
pub fn rm_candidates(
    store: &Store,
    p: &Project,
    services: &[String],
    stop_first: bool,
) -> Result<Vec<Container>, ComposeError> {
    Ok(service_containers(store, p, services)?
        .into_iter()
        .filter(|c| stop_first || !(c.running() || c.monitored))
        .collect())
}

/// `rm`: removes `list` (stopping running ones), with -v their anonymous volumes.
pub fn rm_cmd(
    store: &Store,
    list: &[Container],
    volumes: bool,
    report: &mut dyn FnMut(String),
) -> Result<(), ComposeError> {
    for c in list {
        report(format!(" Container {}  Removing", c.settings.name));
        remove_container(store, c, volumes, report)?;
    }
    Ok(())
}

/// `run`'s overrides.
#[derive(Debug, Clone, Default)]
pub struct RunOptions {
    /// The command (the service's when empty).
    pub cmd: Vec<String>,
    /// -e KEY=VAL, over the service's environment.
    pub env: Vec<String>,
    /// --rm.
    pub auto_remove: bool,
    /// --no-deps.
    pub no_deps: bool,
    /// Registries reached over plain HTTP.
    pub insecure: Vec<String>,
}

/// `run SERVICE [CMD]`: starts the service's dependencies (as `up` does), then creates the
/// one-off container `<project>-<service>-run-<hex>` (labelled oneoff=True, no ports
/// published, as compose does without --service-ports) and returns its settings for
/// the caller to start attached.
pub fn run_oneoff(
    store: &Store,
    p: &Project,
    service: &str,
    o: &RunOptions,
    report: &mut dyn FnMut(String),
) -> Result<Settings, ComposeError> {
    let s = p
        .services
        .get(service)
        .ok_or_else(|| ComposeError::NoSuchService(service.to_string()))?;
    let deps: Vec<String> = s
        .depends_on
        .keys()
        .filter(|d| p.services.contains_key(*d))
        .cloned()
        .collect();
    if !o.no_deps && !deps.is_empty() {
        let up = lifecycle::UpOptions {
            insecure: o.insecure.clone(),
            ..Default::default()
        };
        lifecycle::up(store, p, &deps, &up, report)?;
    } else {
        lifecycle::make_project_objects(store, p, &[service.to_string()], report)?;
    }
    let img = ensure_image(store, p, service, s, &o.insecure, false, report)?;
    let mut f = run_flags(p, service, s, &img.id, 1)?;
    let hex = &ctr::new_id()[..12];
    let name = format!("{}-{service}-run-{hex}", p.name);
    f.name = Some(name);
    for l in f.labels.iter_mut() {
        if l.starts_with(&format!("{ONEOFF}=")) {
            *l = format!("{ONEOFF}=True");
        }
    }
    f.publish.clear();
    f.restart = None;
    f.auto_remove = o.auto_remove;
    if !o.cmd.is_empty() {
        f.cmd = o.cmd.clone();
    }
    let mut env: BTreeMap<String, String> = BTreeMap::new();
    for e in f.env.iter().chain(&o.env) {
        match e.split_once('=') {
            Some((k, v)) => env.insert(k.to_string(), v.to_string()),
            // `-e KEY` takes the value from the caller's environment, as docker does.
            None => std::env::var(e).ok().and_then(|v| env.insert(e.clone(), v)),
        };
    }
    f.env = env.into_iter().map(|(k, v)| format!("{k}={v}")).collect();
    let _gc = store.gc_lock(false).map_err(ContainerError::from)?;
    let vol = |n: &str| {
        crate::volume::ensure(store, n, crate::volume::anonymous_name(n))
            .map_err(ContainerError::from)
    };
    let st = settings(store, service, s, &f, &img, &vol)?;
    let st = ctr::create(store, st, &img).map_err(|e| svc_err(service, e))?;
    Ok(st)
}

/// `pull`: each service's `image:` (services with only `build:` are skipped, as compose
/// skips them). `report` gets ` NAME Pulling` / ` NAME Pulled`.
pub fn pull_cmd(
    store: &Store,
    p: &Project,
    services: &[String],
    insecure: &[String],
    report: &mut dyn FnMut(String),
) -> Result<(), ComposeError> {
    for name in plan::order(p, services, false)? {
        let s = &p.services[&name];
        let Some(image) = &s.image else {
            report(format!(" {name} Skipped - No image to be pulled"));
            continue;
        };
        report(format!(" {name} Pulling"));
        let r = Reference::parse(image).map_err(|e| svc_err(&name, e))?;
        runtime(&name)?
            .block_on(crate::registry::pull(store, &r, insecure, Arc::new(Quiet)))
            .map_err(|e| svc_err(&name, e))?;
        report(format!(" {name} Pulled"));
    }
    Ok(())
}

/// `push`: the images of services that have both `build:` and `image:` (compose skips the
/// others: their image is someone else's).
pub fn push_cmd(
    store: &Store,
    p: &Project,
    services: &[String],
    insecure: &[String],
    report: &mut dyn FnMut(String),
) -> Result<(), ComposeError> {
    for name in plan::order(p, services, false)? {
        let s = &p.services[&name];
        let (Some(image), Some(_)) = (&s.image, &s.build) else {
            report(format!(" {name} Skipped"));
            continue;
        };
        report(format!(" Pushing {name}: {image}"));
        let r = Reference::parse(image).map_err(|e| svc_err(&name, e))?;
        runtime(&name)?
            .block_on(crate::push::push(store, &r, insecure, Arc::new(Quiet)))
            .map_err(|e| svc_err(&name, e))?;
        report(format!(" {name} Pushed"));
    }
    Ok(())
}

fn runtime(name: &str) -> Result<tokio::runtime::Runtime, ComposeError> {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| svc_err(name, e))
}

/// `up --wait`: every container of `services` (all when empty) running, and healthy where
/// it has a healthcheck, within `limit`; the first that exits or turns unhealthy fails the
/// wait, named.
pub fn wait_ready(
    store: &Store,
    p: &Project,
    services: &[String],
    limit: std::time::Duration,
    report: &mut dyn FnMut(String),
) -> Result<(), ComposeError> {
    let until = std::time::Instant::now() + limit;
    let list = service_containers(store, p, &plan::order(p, services, true)?)?;
    for c in &list {
        report(format!(" Container {}  Waiting", c.settings.name));
    }
    let mut pending: Vec<Container> = list;
    while !pending.is_empty() {
        let mut still = Vec::new();
        for c in pending {
            let cur = ctr::load(store, &c.settings.id)?;
            let name = &cur.settings.name;
            let svc = cur
                .settings
                .labels
                .get(SERVICE)
                .cloned()
                .unwrap_or_default();
            let exited = !cur.running() && !cur.monitored && cur.state.status != "restarting";
            let checked = cur
                .settings
                .healthcheck
                .as_ref()
                .and_then(|h| h.argv())
                .is_some();
            let health = crate::health::of(store, &cur.settings).map(|h| h.status);
            if exited {
                return Err(svc_err(
                    &svc,
                    format!("container {name} exited ({})", cur.state.exit_code),
                ));
            }
            match (checked, health.as_deref()) {
                (true, Some("healthy")) => report(format!(" Container {name}  Healthy")),
                (true, Some("unhealthy")) => {
                    return Err(svc_err(&svc, format!("container {name} is unhealthy")))
                }
                (false, _) if cur.running() => report(format!(" Container {name}  Healthy")),
                _ => still.push(cur),
            }
        }
        pending = still;
        if pending.is_empty() {
            break;
        }
        if std::time::Instant::now() > until {
            let names: Vec<&str> = pending.iter().map(|c| c.settings.name.as_str()).collect();
            return Err(ComposeError::Invalid(format!(
                "timeout waiting for {}",
                names.join(", ")
            )));
        }
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
    Ok(())
}
