//! `inspect`: docker's JSON for containers and images (docker's field names), and
//! `--format` Go templates evaluated over it (gtmpl, with docker's `json`, `upper`,
//! `lower`, `join`, `title` functions).

use std::collections::HashMap;

use gtmpl::{FuncError, Value as G};
use serde_json::{json, Value};

use crate::container::Container;
use crate::image::{self, Image};
use crate::store::Store;

/// A template that does not parse or run.
#[derive(Debug, thiserror::Error)]
#[error("template: {0}")]
pub struct TemplateError(pub String);

/// docker's container JSON.
pub fn container(store: &Store, c: &Container) -> Value {
    let s = &c.settings;
    let st = &c.state;
    let env: Vec<&String> = s.env.iter().collect();
    let mounts: Vec<Value> = s
        .mounts
        .iter()
        .map(|m| {
            json!({
                "Type": if m.volume.is_some() { "volume" } else { "bind" },
                "Name": m.volume.clone().unwrap_or_default(),
                "Source": m.source, "Destination": m.destination, "Driver": if m.volume.is_some() { "local" } else { "" },
                "Mode": if m.read_only { "ro" } else { "" }, "RW": !m.read_only, "Propagation": if m.volume.is_some() { "" } else { "rprivate" },
            })
        })
        .collect();
    let status = match st.status.as_str() {
        "" => "created",
        x => x,
    };
    let mut v = json!({
        "Id": s.id,
        "Created": s.created,
        "Path": s.args().first().cloned().unwrap_or_default(),
        "Args": s.args().iter().skip(1).collect::<Vec<_>>(),
        "State": {
            "Status": status,
            "Running": status == "running",
            "Paused": status == "paused",
            "Restarting": status == "restarting",
            "OOMKilled": st.oom_killed,
            "Dead": status == "dead",
            "Pid": st.pid,
            "ExitCode": st.exit_code,
            "Error": st.error,
            "StartedAt": st.started_at,
            "FinishedAt": st.finished_at,
        },
        "Image": s.image_id,
        "ResolvConfPath": store.container_dir(&s.id).join("resolv.conf"),
        "HostnamePath": store.container_dir(&s.id).join("hostname"),
        "HostsPath": store.container_dir(&s.id).join("hosts"),
        "LogPath": crate::logs::path(&store.container_dir(&s.id), &s.id),
        "Name": format!("/{}", s.name),
        "RestartCount": st.restart_count,
        "Driver": "overlay",
        "Platform": "linux",
        "HostConfig": {
            "NetworkMode": s.network,
            "PortBindings": crate::network::port_bindings_json(s),
            "RestartPolicy": s.restart,
            "AutoRemove": s.auto_remove,
            "Binds": s.mounts.iter().filter(|m| m.volume.is_none()).map(|m| format!("{}:{}{}", m.source.display(), m.destination, if m.read_only { ":ro" } else { "" })).collect::<Vec<_>>(),
            "CapAdd": s.cap_add, "CapDrop": s.cap_drop,
            "Privileged": s.privileged,
            "Init": s.init,
            "Devices": s.devices.iter().map(|d| json!({"PathOnHost": d.host, "PathInContainer": d.container, "CgroupPermissions": d.access})).collect::<Vec<_>>(),
            "ReadonlyRootfs": s.read_only,
            "SecurityOpt": Value::Null,
            "Memory": s.memory.unwrap_or(0),
            "NanoCpus": s.nano_cpus.unwrap_or(0),
            "PidsLimit": s.pids_limit,
            "Ulimits": s.ulimits.iter().map(|u| json!({"Name": u.name, "Soft": u.soft, "Hard": u.hard})).collect::<Vec<_>>(),
            "LogConfig": {"Type": "json-file", "Config": {}},
        },
        "Mounts": mounts,
        "Config": {
            "Hostname": s.hostname,
            "User": s.user.clone().unwrap_or_default(),
            "AttachStdin": s.interactive,
            "Tty": s.tty,
            "OpenStdin": s.interactive,
            "Env": env,
            "Cmd": s.cmd,
            "Image": s.image,
            "WorkingDir": s.working_dir.clone().unwrap_or_default(),
            "Entrypoint": if s.entrypoint.is_empty() { Value::Null } else { json!(s.entrypoint) },
            "Labels": s.labels,
            "StopSignal": s.stop_signal,
        },
        "NetworkSettings": crate::network::settings_json(store, c),
    });
    // docker: Config.Healthcheck when one is set (NONE included), State.Health once a
    // check has run under a start.
    if let Some(h) = &s.healthcheck {
        v["Config"]["Healthcheck"] = json!(h);
    }
    if let Some(health) = crate::health::of(store, s) {
        v["State"]["Health"] = json!(health);
    }
    v
}

/// docker's image JSON.
pub fn image(store: &Store, i: &Image) -> Value {
    let cfg = image::config(store, &i.id).ok();
    let repo_tags: Vec<String> = i
        .tags
        .iter()
        .filter_map(|t| crate::reference::Reference::parse(t).ok())
        .map(|r| r.familiar())
        .collect();
    let repo_digests: Vec<String> = i
        .digests
        .iter()
        .map(|d| {
            d.strip_prefix("docker.io/library/")
                .or_else(|| d.strip_prefix("docker.io/"))
                .unwrap_or(d)
                .to_string()
        })
        .collect();
    json!({
        "Id": i.id,
        "RepoTags": repo_tags,
        "RepoDigests": repo_digests,
        "Created": i.created,
        "Size": i.size,
        "Architecture": cfg.as_ref().map(|c| c.architecture.clone()),
        "Os": cfg.as_ref().map(|c| c.os.clone()),
        "Config": cfg.as_ref().map(|c| serde_json::to_value(&c.config).unwrap_or(Value::Null)),
        "RootFS": {"Type": "layers", "Layers": cfg.as_ref().map(|c| c.rootfs.diff_ids.clone()).unwrap_or_default()},
    })
}

fn to_g(v: &Value) -> G {
    match v {
        Value::Null => G::Nil,
        Value::Bool(b) => G::Bool(*b),
        Value::Number(n) => {
            if let Some(i) = n.as_i64() {
                G::from(i)
            } else if let Some(u) = n.as_u64() {
                G::from(u)
            } else {
                G::from(n.as_f64().unwrap_or(0.0))
            }
        }
        Value::String(s) => G::String(s.clone()),
        Value::Array(a) => G::Array(a.iter().map(to_g).collect()),
        Value::Object(o) => G::Object(
            o.iter()
                .map(|(k, v)| (k.clone(), to_g(v)))
                .collect::<HashMap<_, _>>(),
        ),
    }
}

fn from_g(v: &G) -> Value {
    match v {
        G::NoValue | G::Nil | G::Function(_) => Value::Null,
        G::Bool(b) => json!(b),
        G::String(s) => json!(s),
        G::Number(n) => n
            .as_i64()
            .map(|i| json!(i))
            .or_else(|| n.as_u64().map(|u| json!(u)))
            .unwrap_or_else(|| json!(n.as_f64())),
        G::Array(a) => Value::Array(a.iter().map(from_g).collect()),
        G::Object(o) | G::Map(o) => Value::Object(
            o.iter()
                .map(|(k, v)| (k.clone(), from_g(v)))
                .collect::<serde_json::Map<_, _>>(),
        ),
    }
}

fn f_json(args: &[G]) -> Result<G, FuncError> {
    let v = args.first().map(from_g).unwrap_or(Value::Null);
    Ok(G::String(serde_json::to_string(&v).unwrap_or_default()))
}

fn f_upper(args: &[G]) -> Result<G, FuncError> {
    Ok(G::String(
        args.first()
            .map(|a| from_g(a).as_str().unwrap_or_default().to_uppercase())
            .unwrap_or_default(),
    ))
}

fn f_lower(args: &[G]) -> Result<G, FuncError> {
    Ok(G::String(
        args.first()
            .map(|a| from_g(a).as_str().unwrap_or_default().to_lowercase())
            .unwrap_or_default(),
    ))
}

fn f_join(args: &[G]) -> Result<G, FuncError> {
    let items: Vec<String> = match args.first().map(from_g) {
        Some(Value::Array(a)) => a
            .iter()
            .map(|x| {
                x.as_str()
                    .map(String::from)
                    .unwrap_or_else(|| x.to_string())
            })
            .collect(),
        _ => vec![],
    };
    let sep = args
        .get(1)
        .map(from_g)
        .and_then(|s| s.as_str().map(String::from))
        .unwrap_or_default();
    Ok(G::String(items.join(&sep)))
}

/// The function every printing action is routed through (a name no user template uses).
const PRINT: &str = "ongiGoPrint";

/// A value as Go's fmt prints it with %v, as text/template does: slices `[a b]`, maps
/// `map[k:v]` with sorted keys (JSON objects cannot tell docker's structs from its maps;
/// all print as maps), nested values the same way.
fn go_fmt(v: &G, out: &mut String) {
    match v {
        G::Array(a) => {
            out.push('[');
            for (i, x) in a.iter().enumerate() {
                if i > 0 {
                    out.push(' ');
                }
                go_fmt(x, out);
            }
            out.push(']');
        }
        G::Object(o) | G::Map(o) => {
            let mut keys: Vec<&String> = o.keys().collect();
            keys.sort();
            out.push_str("map[");
            for (i, k) in keys.iter().enumerate() {
                if i > 0 {
                    out.push(' ');
                }
                out.push_str(k);
                out.push(':');
                if let Some(x) = o.get(*k) {
                    go_fmt(x, out);
                }
            }
            out.push(']');
        }
        G::Nil => out.push_str("<nil>"),
        other => out.push_str(&other.to_string()),
    }
}

fn f_print(args: &[G]) -> Result<G, FuncError> {
    let mut s = String::new();
    if let Some(v) = args.first() {
        go_fmt(v, &mut s);
    }
    Ok(G::String(s))
}

/// Rewrites each action that prints (`{{.RepoTags}}`, `{{.A | json}}`, `{{$x}}`) to print
/// through [`PRINT`], since gtmpl prints arrays and maps in Rust's debug form. Control
/// actions (if, range, with, else, end, define, template, block, break, continue),
/// comments and variable declarations or assignments are left as they are.
fn go_printing(t: &str) -> String {
    const CONTROL: &[&str] = &[
        "if", "else", "end", "range", "with", "define", "template", "block", "break", "continue",
    ];
    let mut out = String::with_capacity(t.len() + 32);
    let mut rest = t;
    while let Some(open) = rest.find("{{") {
        out.push_str(&rest[..open]);
        let body_start = open + 2;
        let Some(len) = action_len(&rest[body_start..]) else {
            // Unterminated: left for the parser to report.
            out.push_str(&rest[open..]);
            return out;
        };
        let body = &rest[body_start..body_start + len];
        rest = &rest[body_start + len + 2..];
        let (lead, inner) = match body.strip_prefix('-') {
            Some(b) if b.starts_with([' ', '\t', '\n', '\r']) => ("-", b),
            _ => ("", body),
        };
        let (inner, trail) = match inner.strip_suffix('-') {
            Some(b) if b.ends_with([' ', '\t', '\n', '\r']) => (b, "-"),
            _ => (inner, ""),
        };
        let word = inner.trim_start();
        let first: String = word
            .chars()
            .take_while(|c| c.is_ascii_alphanumeric() || *c == '_')
            .collect();
        let keep = word.is_empty()
            || word.starts_with("/*")
            || CONTROL.contains(&first.as_str())
            || declares(word);
        out.push_str("{{");
        out.push_str(lead);
        if keep {
            out.push_str(inner);
        } else {
            out.push_str(&format!(" {PRINT} ({}) ", inner.trim()));
        }
        out.push_str(trail);
        out.push_str("}}");
    }
    out.push_str(rest);
    out
}

/// Length of an action's body up to its closing `}}`, skipping quoted strings.
fn action_len(s: &str) -> Option<usize> {
    let b = s.as_bytes();
    let mut i = 0;
    while i < b.len() {
        match b[i] {
            b'"' | b'\'' => {
                let q = b[i];
                i += 1;
                while i < b.len() && b[i] != q {
                    if b[i] == b'\\' {
                        i += 1;
                    }
                    i += 1;
                }
            }
            b'`' => {
                i += 1;
                while i < b.len() && b[i] != b'`' {
                    i += 1;
                }
            }
            b'}' if b.get(i + 1) == Some(&b'}') => return Some(i),
            _ => {}
        }
        i += 1;
    }
    None
}

/// `$x := ...` or `$x = ...`: a declaration or assignment prints nothing.
fn declares(word: &str) -> bool {
    if !word.starts_with('$') {
        return false;
    }
    let rest = word.trim_start_matches(|c: char| c == '$' || c.is_alphanumeric() || c == '_');
    let rest = rest.trim_start();
    let rest = rest
        .strip_prefix(',')
        .map(|r| {
            r.trim_start()
                .trim_start_matches(|c: char| c == '$' || c.is_alphanumeric() || c == '_')
                .trim_start()
        })
        .unwrap_or(rest);
    rest.starts_with(":=") || (rest.starts_with('=') && !rest.starts_with("=="))
}

/// Evaluates a docker `--format` template over `data`. docker adds a newline after each
/// object's output; the caller prints it.
pub fn render(format: &str, data: &Value) -> Result<String, TemplateError> {
    let mut t = gtmpl::Template::default();
    t.add_func("json", f_json);
    t.add_func("upper", f_upper);
    t.add_func("lower", f_lower);
    t.add_func("join", f_join);
    t.add_func(PRINT, f_print);
    t.parse(go_printing(format))
        .map_err(|e| TemplateError(e.to_string()))?;
    t.render(&gtmpl::Context::from(to_g(data)))
        .map_err(|e| TemplateError(e.to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn docker_style_templates() {
        let v = json!({"State": {"Status": "running", "ExitCode": 0}, "Config": {"Env": ["A=1"]}, "Mounts": [{"Source": "/a"}, {"Source": "/b"}]});
        assert_eq!(render("{{.State.Status}}", &v).unwrap(), "running");
        assert_eq!(
            render("{{json .Config}}", &v).unwrap(),
            r#"{"Env":["A=1"]}"#
        );
        assert_eq!(
            render("{{range .Mounts}}{{.Source}} {{end}}", &v).unwrap(),
            "/a /b "
        );
        assert_eq!(render("{{.State.ExitCode}}", &v).unwrap(), "0");
        assert!(render("{{.State.Status", &v).is_err());
    }

    #[test]
    fn slices_and_maps_print_as_go_does() {
        let v = json!({"RepoTags": ["a:1", "b:2"], "Labels": {"z": "1", "a": "x y"},
            "Empty": [], "Nested": [{"k": [1, 2]}], "N": null, "S": "s"});
        assert_eq!(render("{{.RepoTags}}", &v).unwrap(), "[a:1 b:2]");
        assert_eq!(render("{{.Labels}}", &v).unwrap(), "map[a:x y z:1]");
        assert_eq!(render("{{.Empty}}", &v).unwrap(), "[]");
        assert_eq!(render("{{.Nested}}", &v).unwrap(), "[map[k:[1 2]]]");
        assert_eq!(
            render("{{ .S }}-{{- .S -}} -{{.N}}", &v).unwrap(),
            "s-s-<nil>"
        );
        assert_eq!(
            render("{{json .RepoTags}}", &v).unwrap(),
            r#"["a:1","b:2"]"#
        );
        assert_eq!(
            render("{{.RepoTags | json}}", &v).unwrap(),
            r#"["a:1","b:2"]"#
        );
        assert_eq!(
            render("{{range $i, $t := .RepoTags}}{{$i}}={{$t}} {{end}}", &v).unwrap(),
            "0=a:1 1=b:2 "
        );
        assert_eq!(
            render("{{$x := .Labels}}{{if .S}}{{$x}}{{else}}no{{end}}", &v).unwrap(),
            "map[a:x y z:1]"
        );
        assert_eq!(render(r#"{{"}}"}} {{/* c */}}"#, &v).unwrap(), "}} ");
        assert_eq!(render("{{index .Labels \"a\"}}", &v).unwrap(), "x y");
    }
}
