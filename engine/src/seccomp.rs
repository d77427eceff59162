//! docker's default seccomp profile (moby/profiles, embedded from data/seccomp-default.json)
//! and docker's profile format converted to runtime-spec `linux.seccomp`, as dockerd does
//! before it calls the runtime: the host architecture's entry of archMap, and a rule kept
//! only when the container's bounding set has all its `includes.caps` and none of its
//! `excludes.caps`, and its arch conditions name this architecture.

use serde_json::{json, Value};

/// docker's default profile, in docker's format (moby/profiles v0.2.3; Apache-2.0).
pub const DEFAULT_PROFILE: &str = include_str!("../data/seccomp-default.json");

fn arch_names() -> (&'static str, &'static str) {
    match std::env::consts::ARCH {
        "aarch64" => ("SCMP_ARCH_AARCH64", "arm64"),
        _ => ("SCMP_ARCH_X86_64", "amd64"),
    }
}

/// Converts a profile to `linux.seccomp`. A profile already in runtime-spec form (no
/// archMap, no includes/excludes) passes through unchanged.
pub fn to_oci(profile: &Value, caps: &[String]) -> Value {
    if profile.get("archMap").is_none() && profile.get("architectures").is_some() {
        return profile.clone();
    }
    let (scmp_arch, go) = arch_names();
    let names_arch = |v: &Value| v.as_array().is_some_and(|a| a.iter().any(|x| x == go));
    let has_all = |v: &Value| {
        v.as_array()
            .is_none_or(|a| a.iter().all(|c| caps.iter().any(|k| c == k.as_str())))
    };
    let has_any = |v: &Value| {
        v.as_array()
            .is_some_and(|a| a.iter().any(|c| caps.iter().any(|k| c == k.as_str())))
    };
    let mut architectures = vec![];
    for m in profile["archMap"].as_array().into_iter().flatten() {
        if m["architecture"] == scmp_arch {
            architectures.push(m["architecture"].clone());
            architectures.extend(
                m["subArchitectures"]
                    .as_array()
                    .cloned()
                    .unwrap_or_default(),
            );
        }
    }
    let mut syscalls = vec![];
    for rule in profile["syscalls"].as_array().into_iter().flatten() {
        let inc = &rule["includes"];
        let exc = &rule["excludes"];
        if !has_all(&inc["caps"])
            || (inc["arches"].is_array() && !names_arch(&inc["arches"]))
            || has_any(&exc["caps"])
            || names_arch(&exc["arches"])
        {
            continue;
        }
        let mut out = json!({ "names": rule["names"], "action": rule["action"] });
        for key in ["args", "errnoRet"] {
            if !rule[key].is_null() {
                out[key] = rule[key].clone();
            }
        }
        syscalls.push(out);
    }
    let mut seccomp = json!({ "defaultAction": profile["defaultAction"], "architectures": architectures, "syscalls": syscalls });
    if !profile["defaultErrnoRet"].is_null() {
        seccomp["defaultErrnoRet"] = profile["defaultErrnoRet"].clone();
    }
    seccomp
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn default_profile_converts_by_capability() {
        let p: Value = serde_json::from_str(DEFAULT_PROFILE).unwrap();
        let few = to_oci(&p, &["CAP_CHOWN".into()]);
        let admin = to_oci(&p, &["CAP_SYS_ADMIN".into()]);
        let has = |s: &Value, name: &str| {
            s["syscalls"]
                .as_array()
                .unwrap()
                .iter()
                .any(|r| r["names"].as_array().unwrap().iter().any(|n| n == name))
        };
        assert_eq!(few["defaultAction"], "SCMP_ACT_ERRNO");
        assert!(has(&few, "read") && !has(&few, "mount"));
        assert!(has(&admin, "mount"), "CAP_SYS_ADMIN rules included");
    }
}
