//! The order services start in: dependencies first (depends_on), a cycle refused with its
//! path, as compose reports it.

use std::collections::{BTreeMap, BTreeSet};

use super::model::Project;
use super::ComposeError;

/// `wanted` (all services when empty) and what they depend on, dependencies first.
pub fn order(p: &Project, wanted: &[String], with_deps: bool) -> Result<Vec<String>, ComposeError> {
    for w in wanted {
        if !p.services.contains_key(w) {
            return Err(ComposeError::NoSuchService(w.clone()));
        }
    }
    for (n, s) in &p.services {
        for d in s.depends_on.keys() {
            if !p.services.contains_key(d) && s.depends_on[d].required {
                return Err(ComposeError::Invalid(format!(
                    "service {n:?} depends on undefined service {d:?}: invalid compose project"
                )));
            }
        }
    }
    let roots: Vec<String> = if wanted.is_empty() {
        p.services.keys().cloned().collect()
    } else {
        wanted.to_vec()
    };
    let mut out = Vec::new();
    let mut done = BTreeSet::new();
    let mut path = Vec::new();
    for r in &roots {
        visit(p, r, &mut done, &mut path, &mut out)?;
    }
    // Without deps the roots alone, still in dependency order among themselves.
    if !with_deps && !wanted.is_empty() {
        out.retain(|s| wanted.contains(s));
    }
    Ok(out)
}

fn visit(
    p: &Project,
    n: &str,
    done: &mut BTreeSet<String>,
    path: &mut Vec<String>,
    out: &mut Vec<String>,
) -> Result<(), ComposeError> {
    if done.contains(n) {
        return Ok(());
    }
    if let Some(i) = path.iter().position(|x| x == n) {
        let mut cyc = path[i..].to_vec();
        cyc.push(n.to_string());
        return Err(ComposeError::Cycle(cyc.join(" -> ")));
    }
    path.push(n.to_string());
    if let Some(s) = p.services.get(n) {
        for d in s.depends_on.keys() {
            if p.services.contains_key(d) {
                visit(p, d, done, path, out)?;
            }
        }
    }
    path.pop();
    done.insert(n.to_string());
    out.push(n.to_string());
    Ok(())
}

/// The services that depend on each service (for stopping dependents first).
pub fn dependents(p: &Project) -> BTreeMap<String, Vec<String>> {
    let mut m: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for (n, s) in &p.services {
        for d in s.depends_on.keys() {
            m.entry(d.clone()).or_default().push(n.clone());
        }
    }
    m
}

#[cfg(test)]
mod tests {
    use super::super::model::{Dependency, Service};
    use super::*;

    fn project(edges: &[(&str, &str)], names: &[&str]) -> Project {
        let mut p = Project::default();
        for n in names {
            p.services.insert(n.to_string(), Service::default());
        }
        for (a, b) in edges {
            if let Some(s) = p.services.get_mut(*a) {
                s.depends_on.insert(
                    b.to_string(),
                    Dependency {
                        condition: "service_started".into(),
                        required: true,
                    },
                );
            }
        }
        p
    }

    #[test]
    fn deps_first() {
        let p = project(
            &[("web", "db"), ("db", "init")],
            &["web", "db", "init", "other"],
        );
        let o = order(&p, &[], true).unwrap();
        let pos = |s: &str| o.iter().position(|x| x == s).unwrap();
        assert!(pos("init") < pos("db") && pos("db") < pos("web"));
        assert_eq!(
            order(&p, &["web".into()], true).unwrap(),
            ["init", "db", "web"]
        );
        assert_eq!(order(&p, &["web".into()], false).unwrap(), ["web"]);
        assert!(matches!(
            order(&p, &["nope".into()], true),
            Err(ComposeError::NoSuchService(_))
        ));
    }

    #[test]
    fn cycle() {
        let p = project(&[("a", "b"), ("b", "c"), ("c", "a")], &["a", "b", "c"]);
        let e = order(&p, &[], true).unwrap_err().to_string();
        assert!(e.contains("a -> b -> c -> a"), "{e}");
    }
}
