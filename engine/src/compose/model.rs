//! The compose model: the merged, interpolated document turned into typed services,
//! networks and volumes, every short syntax in its one long form (what `compose config`
//! prints and what the config hash is taken over). Keys we do not support: an error naming
//! the service and key when they would change what runs, a warning when they would not.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde::Serialize;
use serde_yaml_ng::{Mapping, Value};

use super::ComposeError;

/// A project: its services and the networks and volumes they use.
#[derive(Debug, Clone, Default, Serialize)]
pub struct Project {
    /// The project name (normalized).
    pub name: String,
    /// Services by name.
    pub services: BTreeMap<String, Service>,
    /// Top-level networks.
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub networks: BTreeMap<String, NetworkDef>,
    /// Top-level volumes.
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub volumes: BTreeMap<String, VolumeDef>,
    /// The project directory.
    #[serde(skip)]
    pub working_dir: PathBuf,
    /// The files, in merge order.
    #[serde(skip)]
    pub config_files: Vec<PathBuf>,
}

/// A service.
#[derive(Debug, Clone, Default, Serialize, PartialEq)]
pub struct Service {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub image: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub command: Option<Vec<String>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub entrypoint: Option<Vec<String>>,
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub environment: BTreeMap<String, String>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub ports: Vec<Port>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub expose: Vec<String>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub volumes: Vec<Mount>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub tmpfs: Vec<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub network_mode: Option<String>,
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub networks: BTreeMap<String, ServiceNetwork>,
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub depends_on: BTreeMap<String, Dependency>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub healthcheck: Option<Healthcheck>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub restart: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub container_name: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub hostname: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub working_dir: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub user: Option<String>,
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub labels: BTreeMap<String, String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub stop_signal: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub stop_grace_period: Option<String>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub cap_add: Vec<String>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub cap_drop: Vec<String>,
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub privileged: bool,
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub read_only: bool,
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub init: bool,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub profiles: Vec<String>,
    /// `build:` (the image is `<project>-<service>` when `image:` is absent).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub build: Option<Build>,
    /// `deploy:` (only `replicas` is taken; `scale:` sets it too).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub deploy: Option<Deploy>,
}

/// A service's `build:`, long form (a string is its context).
#[derive(Debug, Clone, Default, Serialize, PartialEq)]
pub struct Build {
    /// Absolute, resolved against the project directory.
    pub context: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub dockerfile: Option<String>,
    /// A null value takes the variable from the environment, as `--build-arg K` does.
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub args: BTreeMap<String, Option<String>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub target: Option<String>,
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub labels: BTreeMap<String, String>,
}

/// A service's `deploy:`.
#[derive(Debug, Clone, Default, Serialize, PartialEq)]
pub struct Deploy {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub replicas: Option<u32>,
}

/// A published port, long syntax.
#[derive(Debug, Clone, Default, Serialize, PartialEq)]
pub struct Port {
    pub target: u16,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub published: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub host_ip: Option<String>,
    pub protocol: String,
}

impl Port {
    /// The `-p` value.
    pub fn publish_flag(&self) -> String {
        let mut s = String::new();
        if let Some(ip) = &self.host_ip {
            s.push_str(ip);
            s.push(':');
        }
        if let Some(p) = &self.published {
            s.push_str(p);
            s.push(':');
        } else if self.host_ip.is_some() {
            s.push(':');
        }
        format!("{s}{}/{}", self.target, self.protocol)
    }
}

/// A service's mount, long syntax.
#[derive(Debug, Clone, Default, Serialize, PartialEq)]
pub struct Mount {
    /// volume, bind or tmpfs.
    #[serde(rename = "type")]
    pub kind: String,
    /// A volume name (as in the file), a host path (absolute), or none (anonymous).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub source: Option<String>,
    pub target: String,
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub read_only: bool,
}

/// A service's attachment to a network.
#[derive(Debug, Clone, Default, Serialize, PartialEq)]
pub struct ServiceNetwork {
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub aliases: Vec<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub ipv4_address: Option<String>,
}

/// A `depends_on` entry.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct Dependency {
    /// service_started, service_healthy or service_completed_successfully.
    pub condition: String,
    pub required: bool,
}

/// A healthcheck (durations as written, Go syntax).
#[derive(Debug, Clone, Default, Serialize, PartialEq)]
pub struct Healthcheck {
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub test: Vec<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub interval: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub timeout: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub start_period: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub start_interval: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub retries: Option<i64>,
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub disable: bool,
}

/// A top-level network.
#[derive(Debug, Clone, Default, Serialize, PartialEq)]
pub struct NetworkDef {
    /// The engine's name for it (`<project>_<key>` unless set or external).
    pub name: String,
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub external: bool,
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub internal: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub subnet: Option<String>,
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub labels: BTreeMap<String, String>,
}

/// A top-level volume.
#[derive(Debug, Clone, Default, Serialize, PartialEq)]
pub struct VolumeDef {
    /// The engine's name for it (`<project>_<key>` unless set or external).
    pub name: String,
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub external: bool,
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub labels: BTreeMap<String, String>,
}

/// Service keys we run as compose does.
const SUPPORTED: &[&str] = &[
    "image",
    "command",
    "entrypoint",
    "environment",
    "env_file",
    "ports",
    "expose",
    "volumes",
    "tmpfs",
    "network_mode",
    "networks",
    "depends_on",
    "healthcheck",
    "restart",
    "container_name",
    "hostname",
    "working_dir",
    "user",
    "labels",
    "stop_signal",
    "stop_grace_period",
    "cap_add",
    "cap_drop",
    "privileged",
    "read_only",
    "init",
    "profiles",
    "extends",
    "build",
    "deploy",
    "scale",
];

/// Service keys whose absence changes nothing a container does here: warned about.
const IGNORED: &[&str] = &["stdin_open", "tty", "pull_policy", "platform", "logging"];

/// A scalar as compose reads it where a string is wanted (numbers and booleans too).
pub fn scalar(v: &Value) -> Option<String> {
    match v {
        Value::String(s) => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        Value::Bool(b) => Some(b.to_string()),
        _ => None,
    }
}

fn bad(svc: &str, key: &str, why: &str) -> ComposeError {
    ComposeError::Invalid(format!("service {svc:?}: {key}: {why}"))
}

fn string(svc: &str, key: &str, v: &Value) -> Result<String, ComposeError> {
    scalar(v).ok_or_else(|| bad(svc, key, "must be a string"))
}

fn strings(svc: &str, key: &str, v: &Value) -> Result<Vec<String>, ComposeError> {
    match v {
        Value::Sequence(s) => s.iter().map(|x| string(svc, key, x)).collect(),
        Value::Null => Ok(vec![]),
        v => Ok(vec![string(svc, key, v)?]),
    }
}

fn count(svc: &str, key: &str, v: &Value) -> Result<u32, ComposeError> {
    scalar(v)
        .and_then(|n| n.parse::<u32>().ok())
        .ok_or_else(|| bad(svc, key, "must be a non-negative integer"))
}

/// `build: DIR` or its long form; the context is made absolute against `dir`.
fn build(
    svc: &str,
    v: &Value,
    dir: &Path,
    lookup: &dyn Fn(&str) -> Option<String>,
) -> Result<Build, ComposeError> {
    let m = match v {
        Value::Mapping(m) => m.clone(),
        v => {
            let mut m = Mapping::new();
            m.insert(Value::String("context".into()), v.clone());
            m
        }
    };
    let mut b = Build {
        context: ".".into(),
        ..Default::default()
    };
    for (k, v) in &m {
        let k = string(svc, "build", k)?;
        let key = format!("build.{k}");
        match k.as_str() {
            "context" => b.context = string(svc, &key, v)?,
            "dockerfile" => b.dockerfile = Some(string(svc, &key, v)?),
            "target" => b.target = Some(string(svc, &key, v)?),
            "labels" => b.labels = key_values(svc, &key, v, &|_| None)?,
            "args" => {
                // A bare `K` (list) or `K:` (map) is taken from the environment.
                b.args = match v {
                    Value::Sequence(l) => l
                        .iter()
                        .map(|e| {
                            let e = string(svc, &key, e)?;
                            Ok(match e.split_once('=') {
                                Some((k, v)) => (k.to_string(), Some(v.to_string())),
                                None => (e.clone(), lookup(&e)),
                            })
                        })
                        .collect::<Result<_, ComposeError>>()?,
                    Value::Mapping(m) => m
                        .iter()
                        .map(|(k, v)| {
                            let k = string(svc, &key, k)?;
                            let v = match v {
                                Value::Null => lookup(&k),
                                v => Some(string(svc, &key, v)?),
                            };
                            Ok((k, v))
                        })
                        .collect::<Result<_, ComposeError>>()?,
                    Value::Null => BTreeMap::new(),
                    _ => return Err(bad(svc, &key, "must be a list or a mapping")),
                }
            }
            k => {
                return Err(bad(
                    svc,
                    &format!("build.{k}"),
                    "unsupported key (supported: context, dockerfile, args, target, labels)",
                ))
            }
        }
    }
    b.context = host_path(dir, &b.context);
    Ok(b)
}

/// `deploy:`: `replicas` only; the rest would change behaviour, so it is refused.
fn deploy(svc: &str, v: &Value) -> Result<Deploy, ComposeError> {
    let mut d = Deploy::default();
    let Value::Mapping(m) = v else {
        return Err(bad(svc, "deploy", "must be a mapping"));
    };
    for (k, v) in m {
        let k = string(svc, "deploy", k)?;
        match k.as_str() {
            "replicas" => d.replicas = Some(count(svc, "deploy.replicas", v)?),
            k => {
                return Err(bad(
                    svc,
                    &format!("deploy.{k}"),
                    "unsupported key (supported: replicas)",
                ))
            }
        }
    }
    Ok(d)
}

fn boolean(svc: &str, key: &str, v: &Value) -> Result<bool, ComposeError> {
    match v {
        Value::Bool(b) => Ok(*b),
        Value::String(s) if s == "true" || s == "false" => Ok(s == "true"),
        _ => Err(bad(svc, key, "must be a boolean")),
    }
}

/// `KEY=VAL` lists and maps, as `environment` and `labels` take them; a list entry or map
/// value without a value is looked up in `lookup` and left out when unset.
pub fn key_values(
    svc: &str,
    key: &str,
    v: &Value,
    lookup: &dyn Fn(&str) -> Option<String>,
) -> Result<BTreeMap<String, String>, ComposeError> {
    let mut out = BTreeMap::new();
    match v {
        Value::Sequence(s) => {
            for e in s {
                let e = string(svc, key, e)?;
                match e.split_once('=') {
                    Some((k, v)) => {
                        out.insert(k.to_string(), v.to_string());
                    }
                    None => {
                        if let Some(v) = lookup(&e) {
                            out.insert(e, v);
                        }
                    }
                }
            }
        }
        Value::Mapping(m) => {
            for (k, v) in m {
                let k = string(svc, key, k)?;
                match v {
                    Value::Null => {
                        if let Some(v) = lookup(&k) {
                            out.insert(k, v);
                        }
                    }
                    v => {
                        out.insert(k, string(svc, key, v)?);
                    }
                }
            }
        }
        Value::Null => {}
        _ => return Err(bad(svc, key, "must be a mapping or a list")),
    }
    Ok(out)
}

/// A command as compose takes it: a list as is, a string split as a shell would split
/// words (quotes and backslashes), without running a shell.
pub fn command(svc: &str, key: &str, v: &Value) -> Result<Vec<String>, ComposeError> {
    match v {
        Value::Sequence(_) => strings(svc, key, v),
        v => split_words(&string(svc, key, v)?).ok_or_else(|| bad(svc, key, "unclosed quote")),
    }
}

/// Shell-style word splitting (no expansion).
pub fn split_words(s: &str) -> Option<Vec<String>> {
    let mut out = Vec::new();
    let mut cur = String::new();
    let mut in_word = false;
    let mut quote: Option<char> = None;
    let mut it = s.chars();
    while let Some(c) = it.next() {
        match (quote, c) {
            (Some(q), c) if c == q => quote = None,
            (Some('"'), '\\') => match it.next() {
                Some(n @ ('"' | '\\' | '$' | '`')) => cur.push(n),
                Some(n) => {
                    cur.push('\\');
                    cur.push(n);
                }
                None => return None,
            },
            (Some(_), c) => cur.push(c),
            (None, '\'' | '"') => {
                quote = Some(c);
                in_word = true;
            }
            (None, '\\') => {
                cur.push(it.next()?);
                in_word = true;
            }
            (None, c) if c.is_whitespace() => {
                if in_word {
                    out.push(std::mem::take(&mut cur));
                    in_word = false;
                }
            }
            (None, c) => {
                cur.push(c);
                in_word = true;
            }
        }
    }
    if quote.is_some() {
        return None;
    }
    if in_word {
        out.push(cur);
    }
    Some(out)
}

fn port(svc: &str, v: &Value) -> Result<Vec<Port>, ComposeError> {
    if let Value::Mapping(m) = v {
        let get = |k: &str| m.get(k).and_then(scalar);
        let target = get("target")
            .and_then(|t| t.parse().ok())
            .ok_or_else(|| bad(svc, "ports", "target must be a port number"))?;
        return Ok(vec![Port {
            target,
            published: get("published"),
            host_ip: get("host_ip"),
            protocol: get("protocol").unwrap_or_else(|| "tcp".into()),
        }]);
    }
    let s = string(svc, "ports", v)?;
    let (spec, proto) = s.split_once('/').unwrap_or((&s, "tcp"));
    let parts: Vec<&str> = spec.rsplitn(3, ':').collect();
    let (ip, published, target) = match parts.as_slice() {
        [t] => (None, None, *t),
        [t, p] => (None, Some(*p), *t),
        [t, p, ip] => (Some(*ip), Some(*p), *t),
        _ => return Err(bad(svc, "ports", &format!("invalid port {s:?}"))),
    };
    let range = |r: &str| -> Option<(u16, u16)> {
        match r.split_once('-') {
            Some((a, b)) => Some((a.parse().ok()?, b.parse().ok()?)),
            None => r.parse().ok().map(|p| (p, p)),
        }
    };
    let (t0, t1) =
        range(target).ok_or_else(|| bad(svc, "ports", &format!("invalid port {s:?}")))?;
    let pubs = match published.filter(|p| !p.is_empty()) {
        Some(p) => Some(range(p).ok_or_else(|| bad(svc, "ports", &format!("invalid port {s:?}")))?),
        None => None,
    };
    let mut out = Vec::new();
    for (n, t) in (t0..=t1).enumerate() {
        let published = match pubs {
            // A host range as long as the container range maps one to one.
            Some((p0, p1)) if p1 - p0 == t1 - t0 => Some((p0 + n as u16).to_string()),
            Some((p0, p1)) if p0 == p1 => Some(p0.to_string()),
            Some((p0, p1)) => Some(format!("{p0}-{p1}")),
            None => None,
        };
        out.push(Port {
            target: t,
            published,
            host_ip: ip
                .filter(|i| !i.is_empty())
                .map(|i| i.trim_matches(['[', ']']).to_string()),
            protocol: proto.to_string(),
        });
    }
    Ok(out)
}

/// A path relative to the project directory made absolute (compose resolves `./x` and `x`
/// with a slash against it, `~` against $HOME).
fn host_path(dir: &Path, p: &str) -> String {
    if let Some(rest) = p.strip_prefix("~/") {
        if let Some(h) = std::env::var_os("HOME") {
            return Path::new(&h).join(rest).display().to_string();
        }
    }
    let joined = dir.join(p);
    // Lexical clean-up of `.` and `..`, as compose's filepath.Abs does.
    let mut out = PathBuf::new();
    for c in joined.components() {
        match c {
            std::path::Component::CurDir => {}
            std::path::Component::ParentDir => {
                out.pop();
            }
            c => out.push(c),
        }
    }
    out.display().to_string()
}

/// The target of a volume entry in either syntax (the key `-f` merging uses).
pub fn mount_target(v: &Value) -> Option<String> {
    match v {
        Value::Mapping(m) => m.get("target").and_then(scalar),
        Value::String(s) => {
            let parts: Vec<&str> = s.split(':').collect();
            match parts.as_slice() {
                [t] => Some(t.to_string()),
                [_, t] | [_, t, _] => Some(t.to_string()),
                _ => None,
            }
        }
        _ => None,
    }
}

fn mount(svc: &str, dir: &Path, v: &Value) -> Result<Mount, ComposeError> {
    if let Value::Mapping(m) = v {
        let get = |k: &str| m.get(k).and_then(scalar);
        let kind = get("type").unwrap_or_else(|| "volume".into());
        let target = get("target").ok_or_else(|| bad(svc, "volumes", "a mount needs a target"))?;
        let mut source = get("source").filter(|s| !s.is_empty());
        if kind == "bind" {
            source = source.map(|s| host_path(dir, &s));
        }
        if !matches!(kind.as_str(), "volume" | "bind" | "tmpfs") {
            return Err(bad(
                svc,
                "volumes",
                &format!("unsupported mount type {kind:?}"),
            ));
        }
        return Ok(Mount {
            kind,
            source,
            target,
            read_only: m
                .get("read_only")
                .map(|b| boolean(svc, "volumes", b))
                .transpose()?
                .unwrap_or(false),
        });
    }
    let s = string(svc, "volumes", v)?;
    let parts: Vec<&str> = s.split(':').collect();
    let (src, target, mode) = match parts.as_slice() {
        [t] => (None, *t, ""),
        [s, t] => (Some(*s), *t, ""),
        [s, t, m] => (Some(*s), *t, *m),
        _ => {
            return Err(bad(
                svc,
                "volumes",
                &format!("invalid volume specification {s:?}"),
            ))
        }
    };
    let read_only = mode.split(',').any(|m| m == "ro");
    Ok(match src {
        None => Mount {
            kind: "volume".into(),
            source: None,
            target: target.into(),
            read_only,
        },
        Some(p) if p.starts_with(['.', '/', '~']) => Mount {
            kind: "bind".into(),
            source: Some(host_path(dir, p)),
            target: target.into(),
            read_only,
        },
        Some(n) => Mount {
            kind: "volume".into(),
            source: Some(n.into()),
            target: target.into(),
            read_only,
        },
    })
}

fn healthcheck(svc: &str, v: &Value) -> Result<Healthcheck, ComposeError> {
    let m = v
        .as_mapping()
        .ok_or_else(|| bad(svc, "healthcheck", "must be a mapping"))?;
    let mut h = Healthcheck::default();
    for (k, v) in m {
        let k = string(svc, "healthcheck", k)?;
        let key = format!("healthcheck.{k}");
        match k.as_str() {
            "test" => {
                h.test = match v {
                    Value::Sequence(_) => strings(svc, &key, v)?,
                    v => vec!["CMD-SHELL".into(), string(svc, &key, v)?],
                }
            }
            "interval" => h.interval = Some(string(svc, &key, v)?),
            "timeout" => h.timeout = Some(string(svc, &key, v)?),
            "start_period" => h.start_period = Some(string(svc, &key, v)?),
            "start_interval" => h.start_interval = Some(string(svc, &key, v)?),
            "retries" => {
                h.retries = Some(
                    string(svc, &key, v)?
                        .parse()
                        .map_err(|_| bad(svc, &key, "must be a number"))?,
                )
            }
            "disable" => h.disable = boolean(svc, &key, v)?,
            k if k.starts_with("x-") => {}
            _ => return Err(bad(svc, &key, "unknown key")),
        }
    }
    Ok(h)
}

/// A service from its merged document. `warn` gets the warnings.
pub fn service(
    name: &str,
    v: &Value,
    dir: &Path,
    lookup: &dyn Fn(&str) -> Option<String>,
    warn: &mut dyn FnMut(String),
) -> Result<Service, ComposeError> {
    let m = match v {
        Value::Mapping(m) => m.clone(),
        Value::Null => Mapping::new(),
        _ => return Err(bad(name, "service", "must be a mapping")),
    };
    let mut s = Service::default();
    let mut env_files: Vec<String> = Vec::new();
    let mut environment = BTreeMap::new();
    for (k, v) in &m {
        let k = string(name, "key", k)?;
        let key = k.as_str();
        match key {
            "image" => s.image = Some(string(name, key, v)?),
            "command" => s.command = Some(command(name, key, v)?),
            "entrypoint" => s.entrypoint = Some(command(name, key, v)?),
            "environment" => environment = key_values(name, key, v, lookup)?,
            "env_file" => {
                env_files = match v {
                    Value::Sequence(l) => l
                        .iter()
                        .map(|e| match e {
                            Value::Mapping(m) => m
                                .get("path")
                                .and_then(scalar)
                                .ok_or_else(|| bad(name, key, "an entry needs a path")),
                            e => string(name, key, e),
                        })
                        .collect::<Result<_, _>>()?,
                    v => vec![string(name, key, v)?],
                }
            }
            "ports" => {
                for p in v
                    .as_sequence()
                    .ok_or_else(|| bad(name, key, "must be a list"))?
                {
                    s.ports.extend(port(name, p)?);
                }
            }
            "expose" => s.expose = strings(name, key, v)?,
            "volumes" => {
                for e in v
                    .as_sequence()
                    .ok_or_else(|| bad(name, key, "must be a list"))?
                {
                    s.volumes.push(mount(name, dir, e)?);
                }
            }
            "tmpfs" => s.tmpfs = strings(name, key, v)?,
            "network_mode" => s.network_mode = Some(string(name, key, v)?),
            "networks" => match v {
                Value::Sequence(_) => {
                    for n in strings(name, key, v)? {
                        s.networks.insert(n, ServiceNetwork::default());
                    }
                }
                Value::Mapping(nm) => {
                    for (n, cfg) in nm {
                        let n = string(name, key, n)?;
                        let mut sn = ServiceNetwork::default();
                        if let Value::Mapping(c) = cfg {
                            for (ck, cv) in c {
                                match scalar(ck).as_deref() {
                                    Some("aliases") => {
                                        sn.aliases = strings(name, "networks.aliases", cv)?
                                    }
                                    Some("ipv4_address") => {
                                        sn.ipv4_address =
                                            Some(string(name, "networks.ipv4_address", cv)?)
                                    }
                                    Some(o) => {
                                        return Err(bad(
                                            name,
                                            &format!("networks.{n}.{o}"),
                                            "unsupported key",
                                        ))
                                    }
                                    None => {}
                                }
                            }
                        }
                        s.networks.insert(n, sn);
                    }
                }
                _ => return Err(bad(name, key, "must be a mapping or a list")),
            },
            "depends_on" => match v {
                Value::Sequence(_) => {
                    for d in strings(name, key, v)? {
                        s.depends_on.insert(
                            d,
                            Dependency {
                                condition: "service_started".into(),
                                required: true,
                            },
                        );
                    }
                }
                Value::Mapping(dm) => {
                    for (d, cfg) in dm {
                        let d = string(name, key, d)?;
                        let get = |k: &str| cfg.get(k).and_then(scalar);
                        let condition =
                            get("condition").unwrap_or_else(|| "service_started".into());
                        if !matches!(
                            condition.as_str(),
                            "service_started"
                                | "service_healthy"
                                | "service_completed_successfully"
                        ) {
                            return Err(bad(
                                name,
                                &format!("depends_on.{d}.condition"),
                                &format!("unknown condition {condition:?}"),
                            ));
                        }
                        s.depends_on.insert(
                            d,
                            Dependency {
                                condition,
                                required: get("required").is_none_or(|r| r == "true"),
                            },
                        );
                    }
                }
                _ => return Err(bad(name, key, "must be a mapping or a list")),
            },
            "healthcheck" => s.healthcheck = Some(healthcheck(name, v)?),
            "restart" => s.restart = Some(string(name, key, v)?),
            "container_name" => s.container_name = Some(string(name, key, v)?),
            "hostname" => s.hostname = Some(string(name, key, v)?),
            "working_dir" => s.working_dir = Some(string(name, key, v)?),
            "user" => s.user = Some(string(name, key, v)?),
            "labels" => s.labels = key_values(name, key, v, &|_| None)?,
            "stop_signal" => s.stop_signal = Some(string(name, key, v)?),
            "stop_grace_period" => s.stop_grace_period = Some(string(name, key, v)?),
            "cap_add" => s.cap_add = strings(name, key, v)?,
            "cap_drop" => s.cap_drop = strings(name, key, v)?,
            "privileged" => s.privileged = boolean(name, key, v)?,
            "read_only" => s.read_only = boolean(name, key, v)?,
            "init" => s.init = boolean(name, key, v)?,
            "profiles" => s.profiles = strings(name, key, v)?,
            "build" => s.build = Some(build(name, v, dir, lookup)?),
            "deploy" => s.deploy = Some(deploy(name, v)?),
            "scale" => {
                s.deploy = Some(Deploy {
                    replicas: Some(count(name, key, v)?),
                })
            }
            // Resolved by the loader before this point.
            "extends" => {}
            k if k.starts_with("x-") => {}
            k if IGNORED.contains(&k) => warn(format!(
                "service {name:?}: {k:?} is not supported and is ignored"
            )),
            k => {
                return Err(ComposeError::Invalid(format!(
                    "service {name:?}: unsupported key {k:?} (supported: {})",
                    SUPPORTED.join(", ")
                )))
            }
        }
    }
    // env_file entries first, `environment` over them (compose's precedence).
    for f in env_files {
        let p = Path::new(&host_path(dir, &f)).to_path_buf();
        for (k, v) in super::load::dotenv(&p, lookup)? {
            s.environment.insert(k, v);
        }
    }
    s.environment.extend(environment);
    if s.image.is_none() && s.build.is_none() {
        return Err(ComposeError::Invalid(format!(
            "service {name:?} has neither an image nor a build context specified: invalid compose project"
        )));
    }
    Ok(s)
}

/// A top-level `networks` or `volumes` entry's fields.
struct TopEntry {
    name: String,
    external: bool,
    internal: bool,
    subnet: Option<String>,
    labels: BTreeMap<String, String>,
}

/// Top-level `networks` or `volumes` entry fields.
fn top_entry(kind: &str, key: &str, v: &Value, project: &str) -> Result<TopEntry, ComposeError> {
    let m = match v {
        Value::Mapping(m) => m.clone(),
        Value::Null => Mapping::new(),
        _ => {
            return Err(ComposeError::Invalid(format!(
                "{kind} {key:?}: must be a mapping"
            )))
        }
    };
    let mut name = None;
    let mut external = false;
    let mut internal = false;
    let mut subnet = None;
    let mut labels = BTreeMap::new();
    for (k, v) in &m {
        let k = scalar(k).unwrap_or_default();
        match k.as_str() {
            "name" => name = scalar(v),
            "external" => external = matches!(v, Value::Bool(true)) || v.is_mapping(),
            "labels" => labels = key_values(key, "labels", v, &|_| None)?,
            "driver" => {
                let d = scalar(v).unwrap_or_default();
                let ok = if kind == "network" { "bridge" } else { "local" };
                if d != ok {
                    return Err(ComposeError::Invalid(format!(
                        "{kind} {key:?}: driver {d:?} is not supported (only {ok})"
                    )));
                }
            }
            "internal" if kind == "network" => internal = matches!(v, Value::Bool(true)),
            "ipam" if kind == "network" => {
                subnet = v
                    .get("config")
                    .and_then(|c| c.get(0))
                    .and_then(|c| c.get("subnet"))
                    .and_then(scalar);
            }
            k if k.starts_with("x-") => {}
            k => {
                return Err(ComposeError::Invalid(format!(
                    "{kind} {key:?}: unsupported key {k:?}"
                )))
            }
        }
    }
    let name = match name {
        Some(n) => n,
        None if external => key.to_string(),
        None => format!("{project}_{key}"),
    };
    Ok(TopEntry {
        name,
        external,
        internal,
        subnet,
        labels,
    })
}

/// The project from its merged, interpolated document.
pub fn project(
    name: &str,
    doc: &Value,
    dir: &Path,
    lookup: &dyn Fn(&str) -> Option<String>,
    warn: &mut dyn FnMut(String),
) -> Result<Project, ComposeError> {
    let mut p = Project {
        name: name.to_string(),
        working_dir: dir.to_path_buf(),
        ..Default::default()
    };
    let Some(top) = doc.as_mapping() else {
        return Err(ComposeError::Invalid(
            "top-level object must be a mapping".into(),
        ));
    };
    for (k, v) in top {
        let k = scalar(k).unwrap_or_default();
        match k.as_str() {
            "name" | "services" | "networks" | "volumes" => {}
            "version" => warn("the attribute `version` is obsolete, it will be ignored, please remove it to avoid potential confusion".into()),
            k if k.starts_with("x-") => {}
            k => {
                let _ = v;
                return Err(ComposeError::Invalid(format!(
                    "top-level key {k:?} is not supported"
                )));
            }
        }
    }
    if let Some(Value::Mapping(svcs)) = doc.get("services") {
        for (k, v) in svcs {
            let k = scalar(k).unwrap_or_default();
            let s = service(&k, v, dir, lookup, warn)?;
            p.services.insert(k, s);
        }
    }
    if let Some(Value::Mapping(n)) = doc.get("networks") {
        for (k, v) in n {
            let k = scalar(k).unwrap_or_default();
            let TopEntry {
                name,
                external,
                internal,
                subnet,
                labels,
            } = top_entry("network", &k, v, &p.name)?;
            p.networks.insert(
                k,
                NetworkDef {
                    name,
                    external,
                    internal,
                    subnet,
                    labels,
                },
            );
        }
    }
    if let Some(Value::Mapping(n)) = doc.get("volumes") {
        for (k, v) in n {
            let k = scalar(k).unwrap_or_default();
            let TopEntry {
                name,
                external,
                labels,
                ..
            } = top_entry("volume", &k, v, &p.name)?;
            p.volumes.insert(
                k,
                VolumeDef {
                    name,
                    external,
                    labels,
                },
            );
        }
    }
    check_refs(&p)?;
    Ok(p)
}

/// Every network, volume and dependency a service names exists (compose's wording).
fn check_refs(p: &Project) -> Result<(), ComposeError> {
    for (n, s) in &p.services {
        for net in s.networks.keys() {
            if net != "default" && !p.networks.contains_key(net) {
                return Err(ComposeError::Invalid(format!(
                    "service {n:?} refers to undefined network {net}: invalid compose project"
                )));
            }
        }
        for m in &s.volumes {
            if let (true, Some(src)) = (m.kind == "volume", &m.source) {
                if !p.volumes.contains_key(src) {
                    return Err(ComposeError::Invalid(format!(
                        "service {n:?} refers to undefined volume {src}: invalid compose project"
                    )));
                }
            }
        }
    }
    Ok(())
}

/// `config`'s output: the resolved model as YAML (compose's default) or JSON.
pub fn render(p: &Project, format: &str) -> Result<String, ComposeError> {
    match format {
        "yaml" => serde_yaml_ng::to_string(p).map_err(|e| ComposeError::Invalid(e.to_string())),
        "json" => serde_json::to_string_pretty(p).map_err(|e| ComposeError::Invalid(e.to_string())),
        f => Err(ComposeError::Invalid(format!("unsupported format {f:?}"))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn words() {
        assert_eq!(
            split_words(r#"sh -c 'echo a b' "x\"y" z\ w"#).unwrap(),
            vec!["sh", "-c", "echo a b", "x\"y", "z w"]
        );
        assert!(split_words("'open").is_none());
    }

    #[test]
    fn ports() {
        let p = port("s", &Value::String("127.0.0.1:8080:80/udp".into())).unwrap();
        assert_eq!(p[0].publish_flag(), "127.0.0.1:8080:80/udp");
        let p = port("s", &Value::String("8000-8001:80-81".into())).unwrap();
        assert_eq!(p.len(), 2);
        assert_eq!(p[1].publish_flag(), "8001:81/tcp");
        assert_eq!(
            port("s", &Value::String("80".into())).unwrap()[0].publish_flag(),
            "80/tcp"
        );
    }

    #[test]
    fn mounts() {
        let d = Path::new("/p/q");
        let m = mount("s", d, &Value::String("./data:/d:ro".into())).unwrap();
        assert_eq!(
            (m.kind.as_str(), m.source.as_deref(), m.read_only),
            ("bind", Some("/p/q/data"), true)
        );
        let m = mount("s", d, &Value::String("db:/var/db".into())).unwrap();
        assert_eq!(
            (m.kind.as_str(), m.source.as_deref()),
            ("volume", Some("db"))
        );
        let m = mount("s", d, &Value::String("/anon".into())).unwrap();
        assert_eq!((m.source, m.target.as_str()), (None, "/anon"));
        let m = mount("s", d, &Value::String("../x:/x".into())).unwrap();
        assert_eq!(m.source.as_deref(), Some("/p/x"));
    }
}
