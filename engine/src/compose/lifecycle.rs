//! `compose up` and `down` over the engine's functions, and the project's containers as
//! compose v2 labels them. `up` checks every service (images, flags) before it makes
//! anything, then makes networks and volumes, then starts services in dependency order,
//! waiting for each dependency's condition; a service whose config hash or image changed
//! is recreated, an unchanged running one is left alone.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use sha2::{Digest, Sha256};

use super::model::{Project, Service};
use super::plan;
use super::ComposeError;
use crate::container::{self as ctr, Container, ContainerError, RunFlags, Settings};
use crate::image::{self, Image, ImageError};
use crate::network::model::CreateOptions;
use crate::network::options::NetFlags;
use crate::reference::Reference;
use crate::store::Store;

/// The label keys compose v2 sets.
pub const PROJECT: &str = "com.docker.compose.project";
pub const SERVICE: &str = "com.docker.compose.service";
pub const NUMBER: &str = "com.docker.compose.container-number";
pub const ONEOFF: &str = "com.docker.compose.oneoff";
pub const WORKING_DIR: &str = "com.docker.compose.project.working_dir";
pub const CONFIG_FILES: &str = "com.docker.compose.project.config_files";
pub const CONFIG_HASH: &str = "com.docker.compose.config-hash";
pub const VERSION: &str = "com.docker.compose.version";
pub const DEPENDS_ON: &str = "com.docker.compose.depends_on";
pub const IMAGE: &str = "com.docker.compose.image";
pub const NETWORK: &str = "com.docker.compose.network";
pub const VOLUME: &str = "com.docker.compose.volume";

/// The compose version we put in labels: the compose v2 behaviour this implements.
pub const COMPOSE_VERSION: &str = "2.24.0";

/// How long `up` waits for a dependency's condition at most.
const DEPENDENCY_WAIT: Duration = Duration::from_secs(600);

/// `up`'s flags.
#[derive(Debug, Clone, Default)]
pub struct UpOptions {
    /// --no-deps.
    pub no_deps: bool,
    /// --force-recreate.
    pub force_recreate: bool,
    /// --remove-orphans.
    pub remove_orphans: bool,
    /// Registries reached over plain HTTP.
    pub insecure: Vec<String>,
    /// --scale SERVICE=N, over the file's deploy.replicas.
    pub scale: BTreeMap<String, u32>,
    /// --build: build images before starting (otherwise only missing ones are built).
    pub build: bool,
}

/// `down`'s flags.
#[derive(Debug, Clone, Default)]
pub struct DownOptions {
    /// -v: named volumes of the project and anonymous ones of its containers.
    pub volumes: bool,
    /// --remove-orphans.
    pub remove_orphans: bool,
}

/// `<project>-<service>-1` or the service's container_name.
pub fn container_name(p: &Project, svc: &str, s: &Service) -> String {
    replica_name(p, svc, s, 1)
}

/// Replica `n`'s name: `<project>-<service>-<n>` (container_name only names a lone one).
pub fn replica_name(p: &Project, svc: &str, s: &Service, n: u32) -> String {
    match (&s.container_name, n) {
        (Some(c), 1) => c.clone(),
        _ => format!("{}-{svc}-{n}", p.name),
    }
}

/// The image a service runs: `image:`, or compose v2's `<project>-<service>` for a build.
pub fn image_name(p: &Project, svc: &str, s: &Service) -> String {
    s.image
        .clone()
        .unwrap_or_else(|| format!("{}-{svc}", p.name))
}

/// How many containers a service wants: --scale, else deploy.replicas, else 1.
pub fn replicas(svc: &str, s: &Service, scale: &BTreeMap<String, u32>) -> u32 {
    scale
        .get(svc)
        .copied()
        .or_else(|| s.deploy.as_ref().and_then(|d| d.replicas))
        .unwrap_or(1)
}

/// A container's replica number (its container-number label).
pub fn number_of(c: &Container) -> u32 {
    c.settings
        .labels
        .get(NUMBER)
        .and_then(|n| n.parse().ok())
        .unwrap_or(0)
}

/// The engine's name for a service's network key.
pub fn network_name(p: &Project, key: &str) -> String {
    match p.networks.get(key) {
        Some(n) => n.name.clone(),
        None => format!("{}_{key}", p.name),
    }
}

/// The hash compose compares to decide whether a service changed (its resolved config;
/// profiles do not change what runs).
pub fn config_hash(s: &Service) -> String {
    let mut c = s.clone();
    c.profiles.clear();
    // The replica count is not the container's config (compose leaves it out too).
    c.deploy = None;
    let bytes = serde_json::to_vec(&c).unwrap_or_default();
    hex::encode(Sha256::digest(&bytes))
}

/// The project's containers (by label), sorted by service then name.
pub fn containers(store: &Store, project: &str) -> Result<Vec<Container>, ComposeError> {
    let mut list: Vec<Container> = ctr::list(store)?
        .into_iter()
        .filter(|c| c.settings.labels.get(PROJECT).map(String::as_str) == Some(project))
        .collect();
    list.sort_by(|a, b| {
        (a.settings.labels.get(SERVICE), &a.settings.name)
            .cmp(&(b.settings.labels.get(SERVICE), &b.settings.name))
    });
    Ok(list)
}

/// Every compose project that has containers: name -> its containers.
pub fn projects(store: &Store) -> Result<BTreeMap<String, Vec<Container>>, ComposeError> {
    let mut out: BTreeMap<String, Vec<Container>> = BTreeMap::new();
    for c in ctr::list(store)? {
        if let Some(p) = c.settings.labels.get(PROJECT) {
            out.entry(p.clone()).or_default().push(c);
        }
    }
    Ok(out)
}

pub(crate) fn svc_err(service: &str, why: impl std::fmt::Display) -> ComposeError {
    ComposeError::Service {
        service: service.to_string(),
        why: why.to_string(),
    }
}

/// The one network a service joins (none for network_mode), checked.
fn service_network(name: &str, s: &Service) -> Result<Option<String>, ComposeError> {
    if let Some(m) = &s.network_mode {
        if !s.networks.is_empty() {
            return Err(svc_err(
                name,
                "\"network_mode\" and \"networks\" cannot be combined",
            ));
        }
        return match m.as_str() {
            "none" | "host" | "bridge" => Ok(None),
            m => Err(svc_err(
                name,
                format!("network_mode {m:?} is not supported"),
            )),
        };
    }
    match s.networks.len() {
        0 => Ok(Some("default".into())),
        1 => Ok(s.networks.keys().next().cloned()),
        _ => Err(svc_err(
            name,
            "joining more than one network is not supported yet",
        )),
    }
}

/// The run flags a service's container is made with.
pub(crate) fn run_flags(
    p: &Project,
    name: &str,
    s: &Service,
    image_id: &str,
    number: u32,
) -> Result<RunFlags, ComposeError> {
    let cname = replica_name(p, name, s, number);
    let mut labels: Vec<String> = s.labels.iter().map(|(k, v)| format!("{k}={v}")).collect();
    let files: Vec<String> = p
        .config_files
        .iter()
        .map(|f| f.display().to_string())
        .collect();
    let deps: Vec<String> = s
        .depends_on
        .iter()
        .map(|(d, c)| format!("{d}:{}:false", c.condition))
        .collect();
    labels.extend([
        format!("{PROJECT}={}", p.name),
        format!("{SERVICE}={name}"),
        format!("{NUMBER}={number}"),
        format!("{ONEOFF}=False"),
        format!("{WORKING_DIR}={}", p.working_dir.display()),
        format!("{CONFIG_FILES}={}", files.join(",")),
        format!("{CONFIG_HASH}={}", config_hash(s)),
        format!("{VERSION}={COMPOSE_VERSION}"),
        format!("{DEPENDS_ON}={}", deps.join(",")),
        format!("{IMAGE}={image_id}"),
    ]);
    let mut volumes = Vec::new();
    let mut tmpfs = s.tmpfs.clone();
    for m in &s.volumes {
        let ro = if m.read_only { ":ro" } else { "" };
        match (m.kind.as_str(), &m.source) {
            ("tmpfs", _) => tmpfs.push(m.target.clone()),
            ("volume", Some(v)) => {
                let vol = p
                    .volumes
                    .get(v)
                    .map_or_else(|| v.clone(), |d| d.name.clone());
                volumes.push(format!("{vol}:{}{ro}", m.target));
            }
            ("bind", Some(src)) => volumes.push(format!("{src}:{}{ro}", m.target)),
            (_, None) => volumes.push(format!("{}{ro}", m.target)),
            (k, _) => return Err(svc_err(name, format!("unsupported mount type {k:?}"))),
        }
    }
    let net_key = service_network(name, s)?;
    let network = match (&s.network_mode, &net_key) {
        (Some(m), _) => Some(m.clone()),
        (None, Some(k)) => Some(network_name(p, k)),
        (None, None) => None,
    };
    let mut net = NetFlags::default();
    if let Some(k) = &net_key {
        // compose v2 gives every container its service name as an alias on each network.
        net.alias.push(name.to_string());
        if let Some(sn) = s.networks.get(k) {
            net.alias.extend(sn.aliases.iter().cloned());
            net.ip = sn.ipv4_address.clone();
        }
    }
    let stop_timeout = match &s.stop_grace_period {
        Some(g) => Some(
            crate::health::parse_duration(g).ok_or_else(|| {
                svc_err(name, format!("stop_grace_period: invalid duration {g:?}"))
            })? / 1_000_000_000,
        ),
        None => None,
    };
    let health = match &s.healthcheck {
        Some(h) => crate::health::HealthFlags {
            // A placeholder that the service's test replaces once the durations are merged.
            cmd: (!h.test.is_empty()).then(|| "true".to_string()),
            interval: h.interval.clone(),
            timeout: h.timeout.clone(),
            start_period: h.start_period.clone(),
            start_interval: h.start_interval.clone(),
            retries: h.retries,
            none: h.disable || h.test.first().map(String::as_str) == Some("NONE"),
        },
        None => Default::default(),
    };
    let (entrypoint, cmd) = match &s.entrypoint {
        Some(e) => (
            Some(e.first().cloned().unwrap_or_default()),
            s.command.clone().unwrap_or_default(),
        ),
        None => (None, s.command.clone().unwrap_or_default()),
    };
    Ok(RunFlags {
        name: Some(cname),
        image: image_name(p, name, s),
        cmd,
        entrypoint,
        env: s
            .environment
            .iter()
            .map(|(k, v)| format!("{k}={v}"))
            .collect(),
        workdir: s.working_dir.clone(),
        user: s.user.clone(),
        hostname: s.hostname.clone(),
        tty: false,
        interactive: false,
        auto_remove: false,
        restart: s.restart.clone(),
        labels,
        volumes,
        tmpfs,
        read_only: s.read_only,
        network,
        publish: s.ports.iter().map(|p| p.publish_flag()).collect(),
        net,
        memory: None,
        cpus: None,
        pids_limit: None,
        ulimits: vec![],
        cap_add: s.cap_add.clone(),
        cap_drop: s.cap_drop.clone(),
        privileged: s.privileged,
        init: s.init,
        devices: vec![],
        security_opt: vec![],
        stop_signal: s.stop_signal.clone(),
        stop_timeout,
        log_opts: vec![],
        mounts: vec![],
        health,
    })
}

/// Settings from flags, with what RunFlags cannot say (a whole entrypoint list, a CMD
/// healthcheck) set from the service.
pub(crate) fn settings(
    store: &Store,
    name: &str,
    s: &Service,
    f: &RunFlags,
    img: &Image,
    volume_dir: &dyn Fn(&str) -> Result<PathBuf, ContainerError>,
) -> Result<Settings, ComposeError> {
    let cfg = image::config(store, &img.id).map_err(|e| svc_err(name, e))?;
    let mut st = ctr::settings_for(f, &cfg, volume_dir).map_err(|e| svc_err(name, e))?;
    if let Some(e) = &s.entrypoint {
        st.entrypoint = e.clone();
    }
    if let (Some(h), Some(hc)) = (&s.healthcheck, st.healthcheck.as_mut()) {
        if !h.test.is_empty() && !h.disable && h.test[0] != "NONE" {
            hc.test = h.test.clone();
        }
    }
    // A volume handed over from a recreated container stays anonymous (rm -v, down -v).
    for m in st.mounts.iter_mut() {
        if m.volume
            .as_deref()
            .is_some_and(crate::volume::anonymous_name)
        {
            m.anonymous = true;
        }
    }
    Ok(st)
}

/// The image a service runs: built when it has `build:` and the image is missing (or
/// `rebuild`), else pulled when missing.
pub(crate) fn ensure_image(
    store: &Store,
    p: &Project,
    name: &str,
    s: &Service,
    insecure: &[String],
    rebuild: bool,
    report: &mut dyn FnMut(String),
) -> Result<Image, ComposeError> {
    let want = image_name(p, name, s);
    if s.build.is_some() && (rebuild || image::resolve(store, &want).is_err()) {
        return super::build::build(store, p, name, s, insecure, report);
    }
    match image::resolve(store, &want) {
        Ok(i) => Ok(i),
        Err(ImageError::NotFound(_)) => {
            report(format!(" {name} Pulling"));
            let r = Reference::parse(&want).map_err(|e| svc_err(name, e))?;
            let rt = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .map_err(|e| svc_err(name, e))?;
            let pulled = rt
                .block_on(crate::registry::pull(store, &r, insecure, Arc::new(Quiet)))
                .map_err(|e| svc_err(name, e))?;
            report(format!(" {name} Pulled"));
            Ok(pulled.image)
        }
        Err(e) => Err(svc_err(name, e)),
    }
}

pub(crate) struct Quiet;

impl crate::registry::Progress for Quiet {
    fn line(&self, _: &str) {}
    fn layer(&self, _: &str, _: &str, _: u64, _: u64) {}
}

/// `up -d [SERVICE...]`. `report` gets compose v2's progress lines.
pub fn up(
    store: &Store,
    p: &Project,
    wanted: &[String],
    o: &UpOptions,
    report: &mut dyn FnMut(String),
) -> Result<(), ComposeError> {
    let order = plan::order(p, wanted, !o.no_deps)?;
    // Everything checked before anything is made: images, flags, networks.
    let mut prepared = Vec::new();
    for name in &order {
        let s = &p.services[name];
        let img = ensure_image(store, p, name, s, &o.insecure, o.build, report)?;
        let f = run_flags(p, name, s, &img.id, 1)?;
        settings(store, name, s, &f, &img, &|_| Ok(PathBuf::from("/")))?;
        prepared.push((name.clone(), img));
    }
    let existing = containers(store, &p.name)?;
    let orphans: Vec<&Container> = existing
        .iter()
        .filter(|c| {
            c.settings
                .labels
                .get(SERVICE)
                .is_none_or(|s| !p.services.contains_key(s))
        })
        .collect();
    if !orphans.is_empty() {
        if o.remove_orphans {
            for c in &orphans {
                remove_container(store, c, false, report)?;
            }
        } else {
            let names: Vec<&str> = orphans.iter().map(|c| c.settings.name.as_str()).collect();
            report(format!(
                "WARN[0000] Found orphan containers ([{}]) for this project. If you removed or renamed this service in your compose file, you can run this command with the --remove-orphans flag to clean it up.",
                names.join(" ")
            ));
        }
    }
    make_networks(store, p, &order, report)?;
    make_volumes(store, p, &order, report)?;
    for (name, img) in &prepared {
        let s = &p.services[name];
        for (d, dep) in &s.depends_on {
            if p.services.contains_key(d) {
                wait_for(store, p, d, &dep.condition, report)?;
            }
        }
        let want = replicas(name, s, &o.scale);
        if want > 1 && s.container_name.is_some() {
            return Err(svc_err(
                name,
                format!(
                    "services.deploy.replicas: can't set container_name and {name} as container name must be unique"
                ),
            ));
        }
        // Scaling down removes the highest numbers first, as compose does.
        let mut extra: Vec<&Container> = existing
            .iter()
            .filter(|c| {
                c.settings.labels.get(SERVICE) == Some(name)
                    && c.settings.labels.get(ONEOFF).map(String::as_str) != Some("True")
                    && number_of(c) > want
            })
            .collect();
        extra.sort_by_key(|c| std::cmp::Reverse(number_of(c)));
        for c in extra {
            remove_container(store, c, false, report)?;
        }
        for n in 1..=want {
            let f = run_flags(p, name, s, &img.id, n)?;
            converge(store, name, s, img, &f, &existing, o, report)?;
        }
    }
    Ok(())
}

/// Brings one replica to `f`: leaves it, starts it, recreates it, or makes it.
#[allow(clippy::too_many_arguments)]
fn converge(
    store: &Store,
    name: &str,
    s: &Service,
    img: &Image,
    f: &RunFlags,
    existing: &[Container],
    o: &UpOptions,
    report: &mut dyn FnMut(String),
) -> Result<(), ComposeError> {
    let cname = f.name.clone().unwrap_or_default();
    let hash = config_hash(s);
    let current = existing.iter().find(|c| {
        c.settings.labels.get(SERVICE).map(String::as_str) == Some(name) && c.settings.name == cname
    });
    if let Some(c) = current {
        let same = c.settings.labels.get(CONFIG_HASH) == Some(&hash)
            && c.settings.image_id == img.id
            && !o.force_recreate;
        if same {
            if c.running() {
                report(format!(" Container {cname}  Running"));
            } else {
                start(store, name, &c.settings)?;
                report(format!(" Container {cname}  Started"));
            }
            return Ok(());
        }
        report(format!(" Container {cname}  Recreate"));
        // The new container takes over the old one's anonymous volumes (by target), as
        // compose does, so their data survives a changed config.
        let mut f = f.clone();
        for v in f.volumes.iter_mut() {
            let (target, ro) = v.split_once(':').map_or((v.as_str(), ""), |(t, m)| (t, m));
            if !target.starts_with('/') {
                continue;
            }
            let old = c
                .settings
                .mounts
                .iter()
                .find(|m| m.anonymous && m.destination == target);
            if let Some(vol) = old.and_then(|m| m.volume.clone()) {
                *v = if ro.is_empty() {
                    format!("{vol}:{target}")
                } else {
                    format!("{vol}:{target}:{ro}")
                };
            }
        }
        remove_container(store, c, false, &mut |_| {})?;
        create_and_start(store, name, s, &f, img)?;
        report(format!(" Container {cname}  Recreated"));
        report(format!(" Container {cname}  Started"));
        return Ok(());
    }
    // A container by that name that is not this service's blocks it (docker's conflict).
    create_and_start(store, name, s, f, img)?;
    report(format!(" Container {cname}  Created"));
    report(format!(" Container {cname}  Started"));
    Ok(())
}

pub(crate) fn create_and_start(
    store: &Store,
    name: &str,
    s: &Service,
    f: &RunFlags,
    img: &Image,
) -> Result<(), ComposeError> {
    // Compose makes a missing bind source directory, as `docker run -v` does.
    for m in &s.volumes {
        if let (true, Some(src)) = (m.kind == "bind", &m.source) {
            if !std::path::Path::new(src).exists() {
                std::fs::create_dir_all(src)
                    .map_err(|e| svc_err(name, format!("mkdir {src}: {e}")))?;
            }
        }
    }
    let gc = store.gc_lock(false).map_err(ContainerError::from)?;
    let made_anon = std::cell::RefCell::new(Vec::new());
    let vol = |n: &str| {
        let anon = crate::volume::anonymous_name(n);
        if anon && crate::volume::get(store, n).is_err() {
            made_anon.borrow_mut().push(n.to_string());
        }
        crate::volume::ensure(store, n, anon).map_err(ContainerError::from)
    };
    let created = settings(store, name, s, f, img, &vol)
        .and_then(|st| ctr::create(store, st, img).map_err(|e| svc_err(name, e)));
    let st = match created {
        Ok(st) => st,
        Err(e) => {
            for n in made_anon.borrow().iter() {
                let _ = crate::volume::remove(store, n);
            }
            return Err(e);
        }
    };
    let r = start(store, name, &st);
    drop(gc);
    r
}

pub(crate) fn start(store: &Store, name: &str, st: &Settings) -> Result<(), ComposeError> {
    crate::monitor::spawn(store, st, false)
        .map(|h| h.detach())
        .map_err(|e| svc_err(name, e))
}

/// The networks and volumes `services` use, made when missing (what `run` needs).
pub fn make_project_objects(
    store: &Store,
    p: &Project,
    services: &[String],
    report: &mut dyn FnMut(String),
) -> Result<(), ComposeError> {
    make_networks(store, p, services, report)?;
    make_volumes(store, p, services, report)
}

fn compose_labels(p: &Project, kind: &str, key: &str) -> Vec<String> {
    vec![
        format!("{PROJECT}={}", p.name),
        format!("{kind}={key}"),
        format!("{VERSION}={COMPOSE_VERSION}"),
    ]
}

fn make_networks(
    store: &Store,
    p: &Project,
    order: &[String],
    report: &mut dyn FnMut(String),
) -> Result<(), ComposeError> {
    let mut keys: Vec<String> = Vec::new();
    for n in order {
        if let Some(k) = service_network(n, &p.services[n])? {
            if !keys.contains(&k) {
                keys.push(k);
            }
        }
    }
    for k in keys {
        let def = p.networks.get(&k).cloned().unwrap_or_default();
        let name = network_name(p, &k);
        if crate::network::model::get(store, &name).is_ok() {
            continue;
        }
        if def.external {
            return Err(ComposeError::Invalid(format!(
                "network {name} declared as external, but could not be found"
            )));
        }
        let mut labels = compose_labels(p, NETWORK, &k);
        labels.extend(def.labels.iter().map(|(k, v)| format!("{k}={v}")));
        crate::network::model::create(
            store,
            &CreateOptions {
                name: name.clone(),
                subnet: def.subnet.clone(),
                gateway: None,
                internal: def.internal,
                labels,
                driver: "bridge".into(),
            },
        )
        .map_err(|e| ComposeError::Invalid(format!("network {name}: {e}")))?;
        report(format!(" Network {name}  Created"));
    }
    Ok(())
}

fn make_volumes(
    store: &Store,
    p: &Project,
    order: &[String],
    report: &mut dyn FnMut(String),
) -> Result<(), ComposeError> {
    for (k, def) in &p.volumes {
        let used = order.iter().any(|n| {
            p.services[n]
                .volumes
                .iter()
                .any(|m| m.kind == "volume" && m.source.as_deref() == Some(k))
        });
        if !used || crate::volume::get(store, &def.name).is_ok() {
            continue;
        }
        if def.external {
            return Err(ComposeError::Invalid(format!(
                "external volume \"{}\" not found",
                def.name
            )));
        }
        let mut labels = compose_labels(p, VOLUME, k);
        labels.extend(def.labels.iter().map(|(k, v)| format!("{k}={v}")));
        crate::volume::create(store, Some(&def.name), &labels)
            .map_err(|e| ComposeError::Invalid(format!("volume {}: {e}", def.name)))?;
        report(format!(" Volume \"{}\"  Created", def.name));
    }
    Ok(())
}

/// Waits until service `dep`'s container meets `condition` (compose's wording on failure).
fn wait_for(
    store: &Store,
    p: &Project,
    dep: &str,
    condition: &str,
    report: &mut dyn FnMut(String),
) -> Result<(), ComposeError> {
    let s = &p.services[dep];
    let cname = container_name(p, dep, s);
    let until = Instant::now() + DEPENDENCY_WAIT;
    let mut said = false;
    loop {
        let c = ctr::resolve(store, &cname).and_then(|id| ctr::load(store, &id))?;
        let exited = !c.running() && !c.monitored && c.state.status != "restarting";
        match condition {
            "service_healthy" => {
                if c.settings
                    .healthcheck
                    .as_ref()
                    .and_then(|h| h.argv())
                    .is_none()
                {
                    return Err(ComposeError::Invalid(format!(
                        "container {cname} has no healthcheck configured"
                    )));
                }
                match crate::health::of(store, &c.settings).map(|h| h.status) {
                    Some(h) if h == "healthy" => {
                        report(format!(" Container {cname}  Healthy"));
                        return Ok(());
                    }
                    Some(h) if h == "unhealthy" => {
                        return Err(ComposeError::Invalid(format!(
                            "dependency failed to start: container {cname} is unhealthy"
                        )))
                    }
                    _ if exited => {
                        return Err(ComposeError::Invalid(format!(
                            "dependency failed to start: container {cname} exited ({})",
                            c.state.exit_code
                        )))
                    }
                    _ => {}
                }
            }
            "service_completed_successfully" => {
                if exited {
                    if c.state.exit_code == 0 {
                        report(format!(" Container {cname}  Exited"));
                        return Ok(());
                    }
                    return Err(ComposeError::Invalid(format!(
                        "service {dep:?} didn't complete successfully: exit {}",
                        c.state.exit_code
                    )));
                }
            }
            _ => return Ok(()),
        }
        if !said {
            report(format!(" Container {cname}  Waiting"));
            said = true;
        }
        if Instant::now() > until {
            return Err(ComposeError::Invalid(format!(
                "timed out waiting for {cname} ({condition})"
            )));
        }
        std::thread::sleep(Duration::from_millis(100));
    }
}

pub(crate) fn remove_container(
    store: &Store,
    c: &Container,
    volumes: bool,
    report: &mut dyn FnMut(String),
) -> Result<(), ComposeError> {
    let name = &c.settings.name;
    if c.running() || c.monitored {
        let t = c.settings.stop_timeout.unwrap_or(10);
        crate::monitor::stop(store, c, t)?;
        report(format!(" Container {name}  Stopped"));
    }
    ctr::remove(store, &c.settings.id, true)?;
    if volumes {
        for m in c.settings.mounts.iter().filter(|m| m.anonymous) {
            if let Some(v) = &m.volume {
                let _ = crate::volume::remove(store, v);
            }
        }
    }
    report(format!(" Container {name}  Removed"));
    Ok(())
}

/// `down [-v] [--remove-orphans]`: containers (dependents first), then the project's
/// networks, then (with -v) its volumes.
pub fn down(
    store: &Store,
    p: &Project,
    o: &DownOptions,
    report: &mut dyn FnMut(String),
) -> Result<(), ComposeError> {
    let mut list = containers(store, &p.name)?;
    let order = plan::order(p, &[], true)?;
    let rank = |c: &Container| {
        c.settings
            .labels
            .get(SERVICE)
            .and_then(|s| order.iter().position(|x| x == s))
    };
    let (mut ours, orphans): (Vec<Container>, Vec<Container>) =
        list.drain(..).partition(|c| rank(c).is_some());
    ours.sort_by_key(|c| std::cmp::Reverse(rank(c)));
    if !orphans.is_empty() && !o.remove_orphans {
        let names: Vec<&str> = orphans.iter().map(|c| c.settings.name.as_str()).collect();
        report(format!(
            "WARN[0000] Found orphan containers ([{}]) for this project. If you removed or renamed this service in your compose file, you can run this command with the --remove-orphans flag to clean it up.",
            names.join(" ")
        ));
    }
    let gone: Vec<Container> = if o.remove_orphans {
        ours.into_iter().chain(orphans).collect()
    } else {
        ours
    };
    for c in &gone {
        remove_container(store, c, o.volumes, report)?;
    }
    let mut nets: Vec<String> = vec![network_name(p, "default")];
    nets.extend(
        p.networks
            .iter()
            .filter(|(_, d)| !d.external)
            .map(|(_, d)| d.name.clone()),
    );
    // Also those the project made that the file no longer names (or no file: `down -p`).
    if let Ok(all) = crate::network::model::list(store) {
        nets.extend(
            all.into_iter()
                .filter(|n| n.labels.get(PROJECT) == Some(&p.name))
                .map(|n| n.name),
        );
    }
    nets.sort();
    nets.dedup();
    for n in nets {
        if let Ok(net) = crate::network::model::get(store, &n) {
            if net.labels.get(PROJECT) == Some(&p.name) {
                crate::network::remove(store, &n)
                    .map_err(|e| ComposeError::Invalid(format!("network {n}: {e}")))?;
                report(format!(" Network {n}  Removed"));
            }
        }
    }
    if o.volumes {
        let mut vols: Vec<String> = p
            .volumes
            .values()
            .filter(|d| !d.external)
            .map(|d| d.name.clone())
            .collect();
        if let Ok(all) = crate::volume::list(store) {
            vols.extend(
                all.into_iter()
                    .filter(|v| v.labels.get(PROJECT) == Some(&p.name))
                    .map(|v| v.name),
            );
        }
        vols.sort();
        vols.dedup();
        for v in vols {
            if crate::volume::get(store, &v).is_ok() {
                crate::volume::remove(store, &v)
                    .map_err(|e| ComposeError::Invalid(format!("volume {v}: {e}")))?;
                report(format!(" Volume {v}  Removed"));
            }
        }
    }
    Ok(())
}
