//! Deserializing oci_spec's `Spec` and `Process` without their derived `Deserialize` impls.
//!
//! oci-spec 0.10 checks `process.execCPUAffinity` with a regex inside `Process`'s
//! deserializer. That one check links the whole regex stack (~500 KiB of code) into the
//! runtime, and because fault-around maps nearly all of a binary's code on a run, it costs
//! about as much peak RSS (benches/README.md, "Where the RSS goes"). These mirrors take
//! every field with oci_spec's own types, except execCPUAffinity whose format is checked
//! here by hand with the same rule, and build the oci_spec values through their setters.
//! Nothing in the library may call `Spec::deserialize` or `Process::deserialize`, or the
//! regex crates are linked again.

use oci_spec::runtime::{
    ExecCPUAffinity, Hooks, Linux, LinuxCapabilities, LinuxIOPriority, LinuxIdMapping, Mount,
    PosixRlimit, Process, Root, Scheduler, Solaris, Spec, User, Windows, VM, ZOS,
};
use serde::{de, Deserialize, Deserializer};
use std::collections::HashMap;
use std::path::PathBuf;

/// `Spec`'s fields and serde attributes (oci-spec 0.10, runtime/mod.rs).
#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct SpecDe {
    #[serde(default, rename = "ociVersion")]
    version: String,
    #[serde(default)]
    root: Option<Root>,
    #[serde(default)]
    mounts: Option<Vec<Mount>>,
    #[serde(default)]
    process: Option<ProcessDe>,
    #[serde(default)]
    hostname: Option<String>,
    #[serde(default)]
    domainname: Option<String>,
    #[serde(default)]
    hooks: Option<Hooks>,
    #[serde(default)]
    annotations: Option<HashMap<String, String>>,
    #[serde(default)]
    linux: Option<Linux>,
    #[serde(default)]
    solaris: Option<Solaris>,
    #[serde(default)]
    windows: Option<Windows>,
    #[serde(default)]
    vm: Option<VM>,
    #[serde(default)]
    zos: Option<ZOS>,
    // Accepted (and type-checked) at the top level by oci_spec too, though not in the spec.
    #[serde(default)]
    uid_mappings: Option<Vec<LinuxIdMapping>>,
    #[serde(default)]
    gid_mappings: Option<Vec<LinuxIdMapping>>,
}

/// `Process`'s fields and serde attributes (oci-spec 0.10, runtime/process.rs).
#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct ProcessDe {
    #[serde(default)]
    terminal: Option<bool>,
    #[serde(default)]
    console_size: Option<oci_spec::runtime::Box>,
    user: User,
    #[serde(default)]
    args: Option<Vec<String>>,
    #[serde(default)]
    command_line: Option<String>,
    #[serde(default)]
    env: Option<Vec<String>>,
    cwd: PathBuf,
    #[serde(default)]
    capabilities: Option<LinuxCapabilities>,
    #[serde(default)]
    rlimits: Option<Vec<PosixRlimit>>,
    #[serde(default)]
    no_new_privileges: Option<bool>,
    #[serde(default)]
    apparmor_profile: Option<String>,
    oom_score_adj: Option<i32>,
    #[serde(default)]
    selinux_label: Option<String>,
    #[serde(default)]
    io_priority: Option<LinuxIOPriority>,
    #[serde(default)]
    scheduler: Option<Scheduler>,
    #[serde(rename = "execCPUAffinity", default)]
    exec_cpu_affinity: Option<ExecCpuAffinityDe>,
}

/// `ExecCPUAffinity` (no rename_all there: the fields are `initial` and `final`).
#[derive(Deserialize)]
struct ExecCpuAffinityDe {
    #[serde(default, deserialize_with = "cpu_list")]
    initial: Option<String>,
    #[serde(default, rename = "final", deserialize_with = "cpu_list")]
    cpu_affinity_final: Option<String>,
}

/// oci_spec's rule and message: `^(\d+(-\d+)?)(,\d+(-\d+)?)*$`. ASCII digits only, where
/// the regex's `\d` is any Unicode digit: those fail `process::attrs`' parse anyway.
fn cpu_list<'de, D: Deserializer<'de>>(d: D) -> Result<Option<String>, D::Error> {
    let v = Option::<String>::deserialize(d)?;
    if let Some(s) = &v {
        if !valid_cpu_list(s) {
            return Err(de::Error::custom(format!(
                "Invalid execCPUAffinity format: {s}"
            )));
        }
    }
    Ok(v)
}

fn valid_cpu_list(s: &str) -> bool {
    let num = |n: &str| !n.is_empty() && n.bytes().all(|b| b.is_ascii_digit());
    s.split(',').all(|part| match part.split_once('-') {
        Some((a, b)) => num(a) && num(b),
        None => num(part),
    })
}

impl From<ProcessDe> for Process {
    fn from(d: ProcessDe) -> Self {
        let mut p = Process::default();
        p.set_terminal(d.terminal)
            .set_console_size(d.console_size)
            .set_user(d.user)
            .set_args(d.args)
            .set_command_line(d.command_line)
            .set_env(d.env)
            .set_cwd(d.cwd)
            .set_capabilities(d.capabilities)
            .set_rlimits(d.rlimits)
            .set_no_new_privileges(d.no_new_privileges)
            .set_apparmor_profile(d.apparmor_profile)
            .set_oom_score_adj(d.oom_score_adj)
            .set_selinux_label(d.selinux_label)
            .set_io_priority(d.io_priority)
            .set_scheduler(d.scheduler)
            .set_exec_cpu_affinity(d.exec_cpu_affinity.map(|a| {
                let mut e = ExecCPUAffinity::default();
                e.set_initial(a.initial)
                    .set_cpu_affinity_final(a.cpu_affinity_final);
                e
            }));
        p
    }
}

impl From<SpecDe> for Spec {
    fn from(d: SpecDe) -> Self {
        let mut s = Spec::default();
        s.set_version(d.version)
            .set_root(d.root)
            .set_mounts(d.mounts)
            .set_process(d.process.map(Process::from))
            .set_hostname(d.hostname)
            .set_domainname(d.domainname)
            .set_hooks(d.hooks)
            .set_annotations(d.annotations)
            .set_linux(d.linux)
            .set_solaris(d.solaris)
            .set_windows(d.windows)
            .set_vm(d.vm)
            .set_zos(d.zos);
        #[allow(deprecated)]
        s.set_uid_mappings(d.uid_mappings)
            .set_gid_mappings(d.gid_mappings);
        s
    }
}

/// What `serde_json::from_value::<Spec>` does, without linking regex; a type error names
/// the field (`process.user.uid: ...`, see `track`).
pub fn spec_from_value(v: serde_json::Value) -> Result<Spec, serde_json::Error> {
    super::track::from_value::<SpecDe>(v).map(Spec::from)
}

/// What `serde_json::from_slice::<Process>` does, without linking regex; through a `Value`
/// so that a type error names the field, as for config.json.
pub fn process_from_slice(text: &[u8]) -> Result<Process, serde_json::Error> {
    let v = serde_json::from_slice::<serde_json::Value>(text)?;
    super::track::from_value::<ProcessDe>(v).map(Process::from)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cpu_list_rule_is_the_regex() {
        for ok in ["0", "0-3", "0-3,7", "1,2,3", "10-20,30-40"] {
            assert!(valid_cpu_list(ok), "{ok}");
        }
        for bad in [
            "", ",", "0,", ",0", "0-", "-1", "0-1-2", "a", "0 ,1", " 0", "0,,1",
        ] {
            assert!(!valid_cpu_list(bad), "{bad:?}");
        }
    }

    /// Every field survives the mirror exactly as oci_spec's own deserializer reads it.
    #[test]
    fn same_result_as_oci_spec() {
        let v = serde_json::json!({
            "ociVersion": "1.2.0",
            "root": {"path": "rootfs", "readonly": true},
            "mounts": [{"destination": "/proc", "type": "proc", "source": "proc"}],
            "process": {
                "terminal": true,
                "consoleSize": {"height": 24, "width": 80},
                "user": {"uid": 1, "gid": 2, "additionalGids": [3], "umask": 18},
                "args": ["sh", "-c", "true"],
                "commandLine": "x",
                "env": ["A=b"],
                "cwd": "/tmp",
                "capabilities": {"bounding": ["CAP_KILL"], "effective": ["CAP_KILL"]},
                "rlimits": [{"type": "RLIMIT_NOFILE", "hard": 10, "soft": 5}],
                "noNewPrivileges": true,
                "apparmorProfile": "p",
                "oomScoreAdj": 100,
                "selinuxLabel": "l",
                "ioPriority": {"class": "IOPRIO_CLASS_BE", "priority": 4},
                "scheduler": {"policy": "SCHED_OTHER", "nice": 5},
                "execCPUAffinity": {"initial": "0-1", "final": "0"}
            },
            "hostname": "h",
            "domainname": "d",
            "hooks": {"poststop": [{"path": "/bin/true"}]},
            "annotations": {"k": "v"},
            "linux": {"namespaces": [{"type": "pid"}], "maskedPaths": ["/proc/kcore"]},
            "uidMappings": [{"containerID": 0, "hostID": 1000, "size": 1}]
        });
        let ours = spec_from_value(v.clone()).expect("mirror");
        let theirs: Spec = serde_json::from_value(v.clone()).expect("oci_spec");
        assert_eq!(ours, theirs);
        let p = serde_json::to_vec(&v["process"]).expect("json");
        let theirs: Process = serde_json::from_slice(&p).expect("oci_spec");
        assert_eq!(process_from_slice(&p).expect("mirror"), theirs);

        // Absent optional fields stay absent (no oci_spec defaults leak in).
        let min = serde_json::json!({"process": {"user": {"uid": 0, "gid": 0}, "cwd": "/"}});
        let theirs: Spec = serde_json::from_value(min.clone()).expect("oci_spec");
        assert_eq!(spec_from_value(min).expect("mirror"), theirs);
        let theirs: Spec = serde_json::from_value(serde_json::json!({})).expect("oci_spec");
        assert_eq!(
            spec_from_value(serde_json::json!({})).expect("mirror"),
            theirs
        );
    }

    #[test]
    fn same_errors_as_oci_spec() {
        for bad in [
            serde_json::json!({"process": {"cwd": "/"}}),
            serde_json::json!({"process": {"user": {"uid": 0, "gid": 0}}}),
            serde_json::json!({"process": {"user": {"uid": 0, "gid": 0}, "cwd": "/",
                "execCPUAffinity": {"initial": "0-"}}}),
            serde_json::json!({"process": {"user": {"uid": 0, "gid": 0}, "cwd": "/",
                "execCPUAffinity": {"final": ""}}}),
            serde_json::json!({"process": {"user": {"uid": 0, "gid": 0}, "cwd": "/",
                "rlimits": [{"type": "RLIMIT_NOPE", "hard": 1, "soft": 1}]}}),
            serde_json::json!({"root": {"path": 1}}),
        ] {
            let theirs = serde_json::from_value::<Spec>(bad.clone())
                .expect_err("oci_spec rejects")
                .to_string();
            let ours = spec_from_value(bad)
                .expect_err("mirror rejects")
                .to_string();
            // The same message, after the path of the field (see `track`).
            assert!(ours.ends_with(&format!(": {theirs}")), "{ours} / {theirs}");
        }
    }
}
