//! The real-world seccomp profiles of this directory (see README.md), compiled in, and their
//! conversion to runtime-spec `linux.seccomp`. Shared through `#[path]` by
//! runtime-cli/tests/seccomp_profiles.rs and the conformance suite
//! (conformance/src/checks/seccomp_profiles.rs), so both run the same files.

// Each user takes the profiles it runs: the CLI tests not the checker's recorded one, the
// conformance suite not busybox's.
#![allow(dead_code)]

use serde_json::{json, Value};

/// One profile file.
pub struct Profile {
    /// Short name for test labels and requirement ids.
    pub label: &'static str,
    pub file: &'static str,
    text: &'static str,
    /// Docker's format (archMap, includes/excludes), not runtime-spec `linux.seccomp`.
    docker_format: bool,
}

pub const DOCKER: Profile = Profile {
    label: "docker",
    file: "docker-default.json",
    text: include_str!("docker-default.json"),
    docker_format: true,
};
pub const DOCKER_2020: Profile = Profile {
    label: "docker-2020",
    file: "docker-default-2020.json",
    text: include_str!("docker-default-2020.json"),
    docker_format: true,
};
pub const CONTAINERD: Profile = Profile {
    label: "containerd",
    file: "containerd-default.json",
    text: include_str!("containerd-default.json"),
    docker_format: false,
};
pub const PODMAN: Profile = Profile {
    label: "podman",
    file: "podman-containers-common.json",
    text: include_str!("podman-containers-common.json"),
    docker_format: true,
};
/// Recorded from busybox `true`, `sleep` and `sh -c` (the CLI tests' workload).
pub const RECORDED_BUSYBOX: Profile = Profile {
    label: "recorded-busybox",
    file: "recorded-busybox.json",
    text: include_str!("recorded-busybox.json"),
    docker_format: false,
};
/// Recorded from the conformance suite's static checker `oci-check` (its workload).
pub const RECORDED_OCI_CHECK: Profile = Profile {
    label: "recorded-oci-check",
    file: "recorded-oci-check.json",
    text: include_str!("recorded-oci-check.json"),
    docker_format: false,
};

impl Profile {
    /// The file as parsed JSON.
    pub fn raw(&self) -> Value {
        serde_json::from_str(self.text)
            .unwrap_or_else(|e| panic!("tests/data/seccomp/{}: {e}", self.file))
    }

    /// runtime-spec `linux.seccomp` for x86_64 and the container's bounding set `caps`, as
    /// Docker and podman pass it to the runtime.
    pub fn linux_seccomp(&self, caps: &[&str]) -> Value {
        if self.docker_format {
            from_docker_format(&self.raw(), caps)
        } else {
            self.raw()
        }
    }
}

/// Docker's profile format (also podman's) to runtime-spec linux.seccomp for x86_64 and the
/// given bounding set, as Docker's `setupSeccomp` does: the x86_64 entry of archMap; a rule
/// is kept when all its includes.caps are in the set, its includes.arches name amd64 (if
/// any), none of its excludes.caps are in the set and its excludes.arches do not name amd64.
/// includes.minKernel is met by every kernel these tests run on (>= 5.x).
pub fn from_docker_format(profile: &Value, caps: &[&str]) -> Value {
    let arch = |v: &Value| v.as_array().is_some_and(|a| a.iter().any(|x| x == "amd64"));
    let all_caps = |v: &Value| {
        v.as_array()
            .is_none_or(|a| a.iter().all(|c| caps.iter().any(|k| c == k)))
    };
    let any_cap = |v: &Value| {
        v.as_array()
            .is_some_and(|a| a.iter().any(|c| caps.iter().any(|k| c == k)))
    };
    let mut architectures = vec![];
    for m in profile["archMap"].as_array().into_iter().flatten() {
        if m["architecture"] == "SCMP_ARCH_X86_64" {
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
        if !all_caps(&inc["caps"])
            || (inc["arches"].is_array() && !arch(&inc["arches"]))
            || any_cap(&exc["caps"])
            || arch(&exc["arches"])
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
    let mut seccomp = json!({
        "defaultAction": profile["defaultAction"],
        "architectures": architectures,
        "syscalls": syscalls,
    });
    if !profile["defaultErrnoRet"].is_null() {
        seccomp["defaultErrnoRet"] = profile["defaultErrnoRet"].clone();
    }
    seccomp
}
