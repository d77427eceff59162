//! features.md: the `features` command's Features structure.

use crate::harness::{Bad, Ctx, Res, Spec};
use crate::{ensure, req, Req};
use serde_json::{json, Value};

const F: &str = "features.md";

pub fn reqs() -> Vec<Req> {
    vec![
        req("features.ociVersion", F, "ociVersionMin / ociVersionMax (string, REQUIRED); Max MUST NOT be less than Min", versions),
        req("features.ociVersionMin-accepted", F, "The runtime MUST accept this value (ociVersionMin) as the ociVersion property of config.json", |c| accepted(c, "ociVersionMin")),
        req("features.ociVersionMax-accepted", F, "The runtime MUST accept this value (ociVersionMax) as the ociVersion property of config.json", |c| accepted(c, "ociVersionMax")),
        req("features.hooks-supported", F, "The runtime MUST support the elements in this array as the hooks property of config.json", hooks),
    ]
}

fn features(c: &mut Ctx) -> Res<Value> {
    let out = c.rt(&["features"])?;
    ensure!(out.ok(), "`features` is not supported: {}", out.brief());
    serde_json::from_str(&out.stdout)
        .map_err(|e| Bad::Fail(format!("features output is not JSON: {e}")))
}

fn semver(v: &str) -> Option<(u64, u64, u64)> {
    let core = v.split(['-', '+']).next()?;
    let mut it = core.split('.').map(|p| p.parse::<u64>().ok());
    Some((it.next()??, it.next()??, it.next()??))
}

fn versions(c: &mut Ctx) -> Res {
    let f = features(c)?;
    let min = f["ociVersionMin"].as_str().ok_or("no ociVersionMin")?;
    let max = f["ociVersionMax"].as_str().ok_or("no ociVersionMax")?;
    let (a, b) = (
        semver(min).ok_or("min not SemVer")?,
        semver(max).ok_or("max not SemVer")?,
    );
    ensure!(b >= a, "ociVersionMax {max} < ociVersionMin {min}");
    Ok(())
}

fn accepted(c: &mut Ctx, key: &str) -> Res {
    let f = features(c)?;
    let v = f[key]
        .as_str()
        .ok_or_else(|| format!("no {key}"))?
        .to_string();
    c.run_ok(&Spec::new().set("/ociVersion", json!(v)).check(&["cwd"]))?
        .expect("cwd", "/")
}

fn hooks(c: &mut Ctx) -> Res {
    let f = features(c)?;
    let Some(list) = f["hooks"].as_array() else {
        return Ok(());
    };
    let mut spec = Spec::new().check(&["cwd"]);
    for h in list.iter().filter_map(Value::as_str) {
        spec = spec.push(
            &format!("/hooks/{h}"),
            json!({"path": "/bin/true", "args": ["true"]}),
        );
    }
    c.run_ok(&spec)?.expect("cwd", "/")
}
