//! Loading a project as docker compose v2 does: the files (found in the directory and its
//! parents, or given with -f, then merged in order), the environment (.env or --env-file
//! under the process's own), interpolation, `extends`, YAML anchors and `<<` merge keys,
//! the project name and profiles.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

use serde_yaml_ng::{Mapping, Value};

use super::interp::interpolate;
use super::model::{self, scalar, Project};
use super::ComposeError;

/// The file names looked for, in compose v2's order.
pub const FILE_NAMES: &[&str] = &[
    "compose.yaml",
    "compose.yml",
    "docker-compose.yml",
    "docker-compose.yaml",
];

/// What the command line says about the project.
#[derive(Debug, Clone, Default)]
pub struct Options {
    /// -f, in order.
    pub files: Vec<PathBuf>,
    /// -p.
    pub project_name: Option<String>,
    /// --project-directory.
    pub project_dir: Option<PathBuf>,
    /// --env-file (replaces .env).
    pub env_files: Vec<PathBuf>,
    /// --profile.
    pub profiles: Vec<String>,
    /// Where to start looking (the current directory).
    pub cwd: PathBuf,
}

/// The project and the warnings loading it gave.
pub struct Loaded {
    pub project: Project,
    pub warnings: Vec<String>,
}

/// The compose file in `dir` or its nearest parent, and its override file beside it.
pub fn discover(dir: &Path) -> Result<Vec<PathBuf>, ComposeError> {
    for d in dir.ancestors() {
        for n in FILE_NAMES {
            let p = d.join(n);
            if p.is_file() {
                let mut out = vec![p];
                // compose.override.yaml beside compose.yaml etc., as compose v2 loads it.
                let (stem, ext) = n.rsplit_once('.').unwrap_or((n, "yaml"));
                for e in [ext, if ext == "yml" { "yaml" } else { "yml" }] {
                    let o = d.join(format!("{stem}.override.{e}"));
                    if o.is_file() {
                        out.push(o);
                        break;
                    }
                }
                return Ok(out);
            }
        }
    }
    Err(ComposeError::NotFound)
}

/// A .env file: `KEY=VAL`, `export KEY=VAL`, comments, single quotes (literal), double
/// quotes (escapes), and interpolation of unquoted and double-quoted values from what was
/// read before and `outer`.
pub fn dotenv(
    p: &Path,
    outer: &dyn Fn(&str) -> Option<String>,
) -> Result<Vec<(String, String)>, ComposeError> {
    let text = std::fs::read_to_string(p).map_err(|e| ComposeError::Read {
        path: p.display().to_string(),
        source: e,
    })?;
    let mut out: Vec<(String, String)> = Vec::new();
    for (n, line) in text.lines().enumerate() {
        let l = line.trim();
        if l.is_empty() || l.starts_with('#') {
            continue;
        }
        let l = l.strip_prefix("export ").unwrap_or(l);
        let Some((k, v)) = l.split_once('=') else {
            return Err(ComposeError::Invalid(format!(
                "{}: line {}: unexpected character in variable name {:?}",
                p.display(),
                n + 1,
                l
            )));
        };
        let k = k.trim().to_string();
        let v = v.trim();
        let known = |name: &str| {
            out.iter()
                .rev()
                .find(|(k, _)| k == name)
                .map(|(_, v)| v.clone())
                .or_else(|| outer(name))
        };
        let val = if let Some(q) = v.strip_prefix('\'') {
            q.split_once('\'').map_or(q, |x| x.0).to_string()
        } else if let Some(q) = v.strip_prefix('"') {
            let body = q.rsplit_once('"').map_or(q, |x| x.0);
            let body = body.replace("\\n", "\n").replace("\\\"", "\"");
            interpolate(&body, &known, &k)?
        } else {
            // An unquoted value ends at ` #`.
            let v = v.split_once(" #").map_or(v, |x| x.0).trim();
            interpolate(v, &known, &k)?
        };
        out.push((k, val));
    }
    Ok(out)
}

fn read_yaml(p: &Path) -> Result<Value, ComposeError> {
    let text = std::fs::read_to_string(p).map_err(|e| ComposeError::Read {
        path: p.display().to_string(),
        source: e,
    })?;
    let yaml = |e: serde_yaml_ng::Error| ComposeError::Yaml {
        path: p.display().to_string(),
        source: e,
    };
    let mut v: Value = serde_yaml_ng::from_str(&text).map_err(yaml)?;
    v.apply_merge().map_err(yaml)?;
    // `<<` inside services and their sub-mappings too: apply_merge only does the top.
    merge_keys_deep(&mut v).map_err(yaml)?;
    Ok(v)
}

fn merge_keys_deep(v: &mut Value) -> Result<(), serde_yaml_ng::Error> {
    match v {
        Value::Mapping(m) => {
            if m.contains_key("<<") {
                let mut tmp = Value::Mapping(std::mem::take(m));
                tmp.apply_merge()?;
                if let Value::Mapping(done) = tmp {
                    *m = done;
                }
            }
            for (_, x) in m.iter_mut() {
                merge_keys_deep(x)?;
            }
        }
        Value::Sequence(s) => {
            for x in s {
                merge_keys_deep(x)?;
            }
        }
        Value::Tagged(t) => merge_keys_deep(&mut t.value)?,
        _ => {}
    }
    Ok(())
}

/// Every string in `v` interpolated; `at` is the dotted path for errors.
fn interpolate_all(
    v: &mut Value,
    lookup: &dyn Fn(&str) -> Option<String>,
    at: &str,
) -> Result<(), ComposeError> {
    match v {
        Value::String(s) => *s = interpolate(s, lookup, at)?,
        Value::Mapping(m) => {
            for (k, x) in m.iter_mut() {
                let k = scalar(k).unwrap_or_default();
                // x- extensions are free text (compose leaves them alone too).
                if k.starts_with("x-") {
                    continue;
                }
                let sub = if at.is_empty() {
                    k
                } else {
                    format!("{at}.{k}")
                };
                interpolate_all(x, lookup, &sub)?;
            }
        }
        Value::Sequence(s) => {
            for (n, x) in s.iter_mut().enumerate() {
                interpolate_all(x, lookup, &format!("{at}[{n}]"))?;
            }
        }
        _ => {}
    }
    Ok(())
}

/// The forms `-f` merging compares, made one: environment and labels lists become maps,
/// depends_on and networks lists become maps.
fn normalize_service(s: &mut Value) {
    let Value::Mapping(m) = s else { return };
    for key in ["environment", "labels"] {
        if let Some(Value::Sequence(l)) = m.get(key) {
            let mut map = Mapping::new();
            for e in l {
                let e = scalar(e).unwrap_or_default();
                match e.split_once('=') {
                    Some((k, v)) => map.insert(k.into(), v.into()),
                    None => map.insert(e.into(), Value::Null),
                };
            }
            m.insert(key.into(), Value::Mapping(map));
        }
    }
    if let Some(Value::Sequence(l)) = m.get("depends_on") {
        let mut map = Mapping::new();
        for d in l {
            let mut c = Mapping::new();
            c.insert("condition".into(), "service_started".into());
            map.insert(d.clone(), Value::Mapping(c));
        }
        m.insert("depends_on".into(), Value::Mapping(map));
    }
    if let Some(Value::Sequence(l)) = m.get("networks") {
        let map: Mapping = l.iter().map(|n| (n.clone(), Value::Null)).collect();
        m.insert("networks".into(), Value::Mapping(map));
    }
}

/// compose's merge of one service over another (-f and extends): mappings merge by key,
/// scalars and commands are replaced, volumes merge by target, other lists append without
/// duplicates.
fn merge(base: &mut Value, over: &Value, key: &str) {
    match (base, over) {
        (Value::Mapping(b), Value::Mapping(o)) => {
            for (k, v) in o {
                let kn = scalar(k).unwrap_or_default();
                match b.get_mut(k) {
                    Some(bv) if !v.is_null() => merge(bv, v, &kn),
                    Some(_) if v.is_null() => {}
                    _ => {
                        b.insert(k.clone(), v.clone());
                    }
                }
            }
        }
        (Value::Sequence(b), Value::Sequence(o))
            if !matches!(key, "command" | "entrypoint" | "test") =>
        {
            if key == "volumes" {
                for v in o {
                    let t = model::mount_target(v);
                    match b
                        .iter_mut()
                        .find(|x| t.is_some() && model::mount_target(x) == t)
                    {
                        Some(x) => *x = v.clone(),
                        None => b.push(v.clone()),
                    }
                }
            } else {
                for v in o {
                    if !b.contains(v) {
                        b.push(v.clone());
                    }
                }
            }
        }
        (b, o) => *b = o.clone(),
    }
}

/// One file, read, interpolated, its services normalized and their `extends` resolved.
fn load_file(
    p: &Path,
    lookup: &dyn Fn(&str) -> Option<String>,
    seen: &mut Vec<(PathBuf, String)>,
) -> Result<Value, ComposeError> {
    let mut v = read_yaml(p)?;
    if !v.is_mapping() && !v.is_null() {
        return Err(ComposeError::Invalid(format!(
            "{}: top-level object must be a mapping",
            p.display()
        )));
    }
    interpolate_all(&mut v, lookup, "")?;
    if let Some(Value::Mapping(svcs)) = v.get_mut("services") {
        for (_, s) in svcs.iter_mut() {
            normalize_service(s);
        }
    }
    let names: Vec<String> = v
        .get("services")
        .and_then(Value::as_mapping)
        .map(|m| m.keys().filter_map(scalar).collect())
        .unwrap_or_default();
    for n in names {
        let resolved = extend(p, &v, &n, lookup, seen)?;
        if let Some(Value::Mapping(svcs)) = v.get_mut("services") {
            svcs.insert(n.into(), resolved);
        }
    }
    Ok(v)
}

/// Service `name` of `doc` (from file `p`) with its `extends` chain merged under it.
fn extend(
    p: &Path,
    doc: &Value,
    name: &str,
    lookup: &dyn Fn(&str) -> Option<String>,
    seen: &mut Vec<(PathBuf, String)>,
) -> Result<Value, ComposeError> {
    let svc = doc
        .get("services")
        .and_then(|s| s.get(name))
        .cloned()
        .ok_or_else(|| {
            ComposeError::Invalid(format!("{}: no service {name:?} to extend", p.display()))
        })?;
    let Some(ext) = svc.get("extends").cloned() else {
        return Ok(svc);
    };
    let (base_name, file) = match &ext {
        Value::String(s) => (s.clone(), None),
        Value::Mapping(m) => (
            m.get("service").and_then(scalar).ok_or_else(|| {
                ComposeError::Invalid(format!("service {name:?}: extends needs a service"))
            })?,
            m.get("file").and_then(scalar),
        ),
        _ => {
            return Err(ComposeError::Invalid(format!(
                "service {name:?}: extends must be a string or a mapping"
            )))
        }
    };
    let key = (p.to_path_buf(), name.to_string());
    if seen.contains(&key) {
        return Err(ComposeError::Invalid(format!(
            "service {name:?}: circular extends"
        )));
    }
    seen.push(key);
    let base = match file {
        Some(f) => {
            let fp = p.parent().unwrap_or(Path::new(".")).join(f);
            let other = load_file(&fp, lookup, seen)?;
            extend(&fp, &other, &base_name, lookup, seen)?
        }
        None => extend(p, doc, &base_name, lookup, seen)?,
    };
    seen.pop();
    let mut out = base;
    if let Value::Mapping(m) = &mut out {
        m.remove("extends");
    }
    let mut over = svc;
    if let Value::Mapping(m) = &mut over {
        m.remove("extends");
    }
    merge(&mut out, &over, "");
    Ok(out)
}

/// compose v2's normalisation of a directory name into a project name.
pub fn normalize_name(s: &str) -> String {
    let low: String = s
        .to_lowercase()
        .chars()
        .filter(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || *c == '_' || *c == '-')
        .collect();
    low.trim_start_matches(['_', '-']).to_string()
}

fn valid_name(s: &str) -> bool {
    !s.is_empty()
        && s.starts_with(|c: char| c.is_ascii_lowercase() || c.is_ascii_digit())
        && s.chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_' || c == '-')
}

/// Loads the project `o` describes, with profiles applied (services named in `wanted` are
/// enabled whatever their profiles, as compose does for services named on the command line).
pub fn load(o: &Options, wanted: &[String]) -> Result<Loaded, ComposeError> {
    let files: Vec<PathBuf> = if o.files.is_empty() {
        match std::env::var("COMPOSE_FILE") {
            Ok(f) if !f.is_empty() => f.split(':').map(|x| o.cwd.join(x)).collect(),
            _ => discover(o.project_dir.as_deref().unwrap_or(&o.cwd))?,
        }
    } else {
        o.files.iter().map(|f| o.cwd.join(f)).collect()
    };
    let first = files.first().ok_or(ComposeError::NotFound)?;
    let dir = match &o.project_dir {
        Some(d) => o.cwd.join(d),
        None => first
            .parent()
            .map(Path::to_path_buf)
            .unwrap_or_else(|| o.cwd.clone()),
    };
    // The process's environment wins over .env (compose's precedence).
    let mut dotenv_vars: BTreeMap<String, String> = BTreeMap::new();
    let env_files: Vec<PathBuf> = if o.env_files.is_empty() {
        let d = dir.join(".env");
        if d.is_file() {
            vec![d]
        } else {
            vec![]
        }
    } else {
        o.env_files.iter().map(|f| o.cwd.join(f)).collect()
    };
    for f in &env_files {
        let got = {
            let known = |k: &str| {
                std::env::var(k)
                    .ok()
                    .or_else(|| dotenv_vars.get(k).cloned())
            };
            dotenv(f, &known)?
        };
        dotenv_vars.extend(got);
    }
    let lookup = |k: &str| {
        std::env::var(k)
            .ok()
            .or_else(|| dotenv_vars.get(k).cloned())
    };
    let mut doc = Value::Null;
    for f in &files {
        let mut seen = Vec::new();
        let v = load_file(f, &lookup, &mut seen)?;
        if doc.is_null() {
            doc = v;
        } else {
            merge(&mut doc, &v, "");
        }
    }
    let top_name = doc.get("name").and_then(scalar);
    let name = match (
        o.project_name.clone(),
        lookup("COMPOSE_PROJECT_NAME"),
        top_name,
    ) {
        (Some(n), _, _) | (None, Some(n), _) | (None, None, Some(n)) if !n.is_empty() => {
            if !valid_name(&n) {
                return Err(ComposeError::Invalid(format!(
                    "invalid project name {n:?}: must consist only of lowercase alphanumeric characters, hyphens, and underscores as well as start with a letter or number"
                )));
            }
            n
        }
        _ => {
            let base = dir
                .file_name()
                .map(|s| s.to_string_lossy().to_string())
                .unwrap_or_default();
            normalize_name(&base)
        }
    };
    if name.is_empty() {
        return Err(ComposeError::Invalid(format!(
            "project name must not be empty: set one with -p or `name:` ({} gives none)",
            dir.display()
        )));
    }
    // Profiles: --profile, else COMPOSE_PROFILES.
    let mut active: BTreeSet<String> = o.profiles.iter().cloned().collect();
    if active.is_empty() {
        if let Some(p) = lookup("COMPOSE_PROFILES") {
            active.extend(p.split(',').filter(|s| !s.is_empty()).map(String::from));
        }
    }
    let mut warnings = Vec::new();
    let mut project = model::project(&name, &doc, &dir, &lookup, &mut |w| warnings.push(w))?;
    let all = active.contains("*");
    project.services.retain(|n, s| {
        s.profiles.is_empty()
            || all
            || s.profiles.iter().any(|p| active.contains(p))
            || wanted.contains(n)
    });
    project.config_files = files;
    Ok(Loaded { project, warnings })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names() {
        assert_eq!(normalize_name("My App.v2"), "myappv2");
        assert_eq!(normalize_name("_x-Y"), "x-y");
        assert!(valid_name("a_b-1"));
        assert!(!valid_name("-a"));
        assert!(!valid_name("A"));
    }

    #[test]
    fn merges_like_compose() {
        let mut a: Value = serde_yaml_ng::from_str(
            "command: [a, b]\nports: ['80']\nvolumes: ['x:/d', '/e']\nenvironment: {A: '1', B: '2'}",
        )
        .unwrap();
        let b: Value = serde_yaml_ng::from_str(
            "command: [c]\nports: ['81', '80']\nvolumes: ['y:/d']\nenvironment: {B: '3'}",
        )
        .unwrap();
        merge(&mut a, &b, "");
        let want: Value = serde_yaml_ng::from_str(
            "command: [c]\nports: ['80', '81']\nvolumes: ['y:/d', '/e']\nenvironment: {A: '1', B: '3'}",
        )
        .unwrap();
        assert_eq!(a, want);
    }

    #[test]
    fn dotenv_forms() {
        let d = std::env::temp_dir().join(format!("ongi-dotenv-{}", std::process::id()));
        std::fs::write(&d, "# c\nA=1\nexport B='x $A'\nC=\"y $A\"\nD=z # comment\n").unwrap();
        let got = dotenv(&d, &|_| None).unwrap();
        let _ = std::fs::remove_file(&d);
        let m: BTreeMap<_, _> = got.into_iter().collect();
        assert_eq!(m["A"], "1");
        assert_eq!(m["B"], "x $A");
        assert_eq!(m["C"], "y 1");
        assert_eq!(m["D"], "z");
    }
}
