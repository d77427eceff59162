//! config-linux.md seccomp with real-world profiles: Docker's default (current and mid-2020),
//! containerd's, podman's and one recorded from the checker itself, the files the CLI tests
//! run too (runtime-cli/tests/data/seccomp, see its README). Each runs with noNewPrivileges
//! true and false, as the container process of `run` and of `create` + `start` and as an
//! `exec`'d process: it must exit 0 (whatever the runtime does after loading the filter is
//! something such a profile allows), run in seccomp mode 2 with the configured
//! no_new_privs, and see the profile's errno from two system calls the profile denies.

#[path = "../../../runtime-cli/tests/data/seccomp/profiles.rs"]
mod profiles;

use crate::harness::{read, Bad, Ctx, Facts, Res, Spec};
use crate::{ensure, req, skip, Req};
use profiles::Profile;
use serde_json::{json, Value};

const L: &str = "config-linux.md";

pub fn reqs() -> Vec<Req> {
    vec![
        req("config-linux.seccomp.profile-docker", L, "Seccomp configuration allows one to configure actions to take for matched syscalls (Docker's default profile)", |c| profile(c, &profiles::DOCKER)),
        req("config-linux.seccomp.profile-docker-2020", L, "Seccomp configuration allows one to configure actions to take for matched syscalls (Docker's 2020 profile)", |c| profile(c, &profiles::DOCKER_2020)),
        req("config-linux.seccomp.profile-containerd", L, "Seccomp configuration allows one to configure actions to take for matched syscalls (containerd's default profile)", |c| profile(c, &profiles::CONTAINERD)),
        req("config-linux.seccomp.profile-podman", L, "Seccomp configuration allows one to configure actions to take for matched syscalls (podman's profile, defaultErrnoRet ENOSYS)", |c| profile(c, &profiles::PODMAN)),
        req("config-linux.seccomp.profile-recorded", L, "Seccomp configuration allows one to configure actions to take for matched syscalls (a profile recorded from the workload)", |c| profile(c, &profiles::RECORDED_OCI_CHECK)),
    ]
}

/// The system calls `oci-check seccomp` makes as probes: harmless, and without a filter
/// kcmp succeeds and request_key fails with ENOKEY.
const PROBES: [&str; 2] = ["kcmp", "request_key"];

/// The errno `seccomp` makes `name` return, read from the profile as libseccomp applies
/// it: the rules naming it (none may filter on arguments, all must be SCMP_ACT_ERRNO with
/// one errno), else the default action; errnoRet and defaultErrnoRet default to EPERM.
/// A profile that lets the probe through is a mistake in this suite, not in the runtime.
fn denied_errno(label: &str, seccomp: &Value, name: &str) -> Res<i64> {
    const EPERM: i64 = 1;
    let rules: Vec<&Value> = seccomp["syscalls"]
        .as_array()
        .into_iter()
        .flatten()
        .filter(|r| {
            r["names"]
                .as_array()
                .is_some_and(|n| n.iter().any(|n| n == name))
        })
        .collect();
    let unusable = |why: String| Bad::Fail(format!("suite: {label} {why}; pick another probe"));
    if rules.is_empty() {
        if seccomp["defaultAction"] != "SCMP_ACT_ERRNO" {
            return Err(unusable(format!("does not deny {name} by default")));
        }
        return Ok(seccomp["defaultErrnoRet"].as_i64().unwrap_or(EPERM));
    }
    let mut errnos = rules.iter().map(|r| {
        if r["action"] != "SCMP_ACT_ERRNO" || r["args"].as_array().is_some_and(|a| !a.is_empty()) {
            Err(unusable(format!(
                "has a rule for {name} that is not an unconditional SCMP_ACT_ERRNO: {r}"
            )))
        } else {
            Ok(r["errnoRet"].as_i64().unwrap_or(EPERM))
        }
    });
    let first = errnos.next().unwrap_or(Ok(EPERM))?;
    for e in errnos {
        ensure!(
            e? == first,
            "suite: {label} has rules with different errnos for {name}"
        );
    }
    Ok(first)
}

/// What `oci-check seccomp` printed for probe `name`: "0" (success) or the errno.
fn probe_result<'f>(f: &'f Facts, name: &str) -> Res<&'f str> {
    match f.get(name) {
        Some(_) => Ok("0"),
        None => f.req(&format!("{name}.errno")),
    }
}

/// Prefixes a failure with where it happened.
fn during(what: &str) -> impl Fn(Bad) -> Bad + '_ {
    move |e| match e {
        Bad::Fail(m) => Bad::Fail(format!("{what}: {m}")),
        skip => skip,
    }
}

fn verify(f: &Facts, nnp: bool, want: &[(&str, i64)], what: &str) -> Res {
    let fail = during(what);
    f.expect("done", "1").map_err(&fail)?;
    f.expect("seccomp", "2").map_err(&fail)?;
    f.expect("nonewprivs", if nnp { "1" } else { "0" })
        .map_err(&fail)?;
    for (name, errno) in want {
        let got = probe_result(f, name).map_err(&fail)?;
        ensure!(
            got == errno.to_string(),
            "{what}: {name} returned {got} (0 = success, else errno), the profile says errno {errno}"
        );
    }
    Ok(())
}

fn profile(c: &mut Ctx, p: &Profile) -> Res {
    let base = Spec::new();
    let bounding: Vec<&str> = base.0["process"]["capabilities"]["bounding"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(Value::as_str)
        .collect();
    let seccomp = p.linux_seccomp(&bounding);
    let mut want = Vec::new();
    for name in PROBES {
        want.push((name, denied_errno(p.file, &seccomp, name)?));
    }

    // Without a filter each probe must come out differently, or a pass would prove nothing.
    let control = c.run_ok(&base.clone().check(&["seccomp"]))?;
    control.expect("seccomp", "0")?;
    for (name, errno) in &want {
        if probe_result(&control, name)? == errno.to_string() {
            skip!("without a filter {name} already fails with errno {errno} on this host");
        }
    }

    for nnp in [true, false] {
        let spec = base
            .clone()
            .set("/linux/seccomp", seccomp.clone())
            .set("/process/noNewPrivileges", json!(nnp));
        let what = |how: &str| format!("{} noNewPrivileges={nnp} {how}", p.file);

        let out = c.run(&spec.clone().check(&["seccomp"]))?;
        let out = out.expect_ok().map_err(during(&what("run")))?;
        verify(&out.facts(), nnp, &want, &what("run"))?;

        let d = c.dir("out")?;
        let (id, _) = c.start(&spec.clone().bind(&d, "/out", &[]).check(&[
            "--out",
            "/out/facts",
            "seccomp",
        ]))?;
        c.wait_status(&id, "stopped")?;
        let facts = Facts::parse(&read(d.join("facts"))?);
        verify(&facts, nnp, &want, &what("create+start"))?;

        // The container's own process is the checker pausing, under the same filter.
        let (id, _) = c.start(&spec.clone().sleeper())?;
        let out = c.rt(&["exec", &id, "oci-check", "seccomp"])?;
        let out = out.expect_ok().map_err(during(&what("exec")))?;
        verify(&out.facts(), nnp, &want, &what("exec"))?;
    }
    Ok(())
}
