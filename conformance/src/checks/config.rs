//! config.md: ociVersion, root, mounts, process, hostname, hooks, extensibility.

use super::runtime::expect_create_fails;
use crate::harness::{
    cap_mask, mount_at, ns_link, parse_mountinfo, path_str, status_field, wait_until, Bad, Ctx,
    Res, Spec,
};
use crate::{ensure, req, Req};
use serde_json::{json, Value};
use std::fs;
use std::path::Path;
use std::time::{Duration, Instant};

const C: &str = "config.md";

pub fn reqs() -> Vec<Req> {
    vec![
        req("config.ociVersion.accepted", C, "ociVersion ... compatible with all runtimes that support any 1.x or later release", oci_version),
        req("config.root.path-relative", C, "path is either an absolute path or a relative path to the bundle", |c| root_path(c, false)),
        req("config.root.path-absolute", C, "path is either an absolute path or a relative path to the bundle", |c| root_path(c, true)),
        req("config.root.path-missing", C, "A directory MUST exist at the path declared by the field", root_missing),
        req("config.root.readonly", C, "If true then the root filesystem MUST be read-only inside the container", |c| root_readonly(c, true)),
        req("config.root.readonly-false", C, "readonly (bool, OPTIONAL) ... defaults to false", |c| root_readonly(c, false)),
        req("config.mounts.order", C, "The runtime MUST mount entries in the listed order", mounts_order),
        req("config.mounts.tmpfs-options", C, "Runtimes MUST implement nosuid/nodev/noexec ...; unknown options treated as filesystem-specific", mounts_tmpfs),
        req("config.mounts.ro-noatime", C, "Runtimes MUST implement the option strings ro, noatime", mounts_ro_noatime),
        req("config.mounts.bind", C, "A mount is a bind mount if it has either bind or rbind in the options", mounts_bind),
        req("config.mounts.bind-relative-source", C, "Path values for bind mounts are either absolute or relative to the bundle", mounts_bind_relative),
        req("config.mounts.bind-ro", C, "bind with ro: Runtimes MUST implement ro", mounts_bind_ro),
        req("config.mounts.rbind-recursive", C, "rbind | MUST | Recursive bind mount", |c| bind_recursion(c, "rbind")),
        req("config.mounts.bind-nonrecursive", C, "bind | MUST | Bind mount (not recursive)", |c| bind_recursion(c, "bind")),
        req("config.mounts.rro", C, "rro | SHOULD | Recursive ro", mounts_rro),
        req("config.mounts.nosymfollow", C, "nosymfollow | SHOULD", mounts_nosymfollow),
        req("config.mounts.relative-destination", C, "it MAY be a relative path, in which case it MUST be interpreted as relative to \"/\"", mounts_relative_dest),
        req("config.mounts.rshared", C, "rshared | MUST | Bind mount propagation", mounts_rshared),
        req("config.process.args", C, "args ... with similar semantics to execvp's argv", process_args),
        req("config.process.args-path-lookup", C, "that entry is used with the same semantics as execvp's file", process_args_lookup),
        req("config.process.args-required", C, "at least one entry is REQUIRED (non-Windows)", process_args_required),
        req("config.process.env", C, "env (array of strings) with the same semantics as environ", process_env),
        req("config.process.cwd", C, "cwd (string, REQUIRED) is the working directory that will be set for the executable", process_cwd),
        req("config.process.cwd-relative", C, "This value MUST be an absolute path (invalid values MUST generate an error)", process_cwd_relative),
        req("config.process.user.uid-gid", C, "uid/gid specifies the user/group ID in the container namespace", user_ids),
        req("config.process.user.additionalGids", C, "additionalGids specifies additional group IDs ... to be added to the process", user_additional_gids),
        req("config.process.user.umask", C, "umask (int, OPTIONAL) specifies the umask of the user", user_umask),
        req("config.process.capabilities.bounding", C, "bounding ... capabilities that are kept for the process", |c| caps(c, "CapBnd")),
        req("config.process.capabilities.effective", C, "effective ... capabilities that are kept for the process", |c| caps(c, "CapEff")),
        req("config.process.capabilities.permitted", C, "permitted ... capabilities that are kept for the process", |c| caps(c, "CapPrm")),
        req("config.process.capabilities.inheritable", C, "inheritable ... capabilities that are kept for the process", |c| caps(c, "CapInh")),
        req("config.process.capabilities.ambient", C, "ambient ... capabilities that are kept for the process", |c| caps(c, "CapAmb")),
        req("config.process.capabilities.root-bounding", C, "bounding ... kept for the process (uid 0)", caps_root),
        req("config.process.capabilities.empty", C, "capabilities ... the sets of capabilities for the process (empty sets: none kept)", caps_empty),
        req("config.process.capabilities.unknown", C, "cannot be mapped ... MUST be logged as a warning; SHOULD NOT fail", caps_unknown),
        req("config.process.rlimits", C, "rlim.rlim_cur / rlim_max MUST match the configured value", rlimits),
        req("config.process.rlimits-invalid", C, "MUST generate an error for any values which cannot be mapped to a relevant kernel interface", rlimits_invalid),
        req("config.process.rlimits-duplicate", C, "If rlimits contains duplicated entries with same type, MUST generate an error", rlimits_duplicate),
        req("config.process.noNewPrivileges", C, "setting noNewPrivileges to true prevents the process from gaining additional privileges", |c| nnp(c, true)),
        req("config.process.noNewPrivileges-false", C, "noNewPrivileges (bool, OPTIONAL)", |c| nnp(c, false)),
        req("config.process.oomScoreAdj", C, "If oomScoreAdj is set, the runtime MUST set oom_score_adj to the given value", oom_set),
        req("config.process.oomScoreAdj-unset", C, "If oomScoreAdj is not set, the runtime MUST NOT change the value of oom_score_adj", oom_unset),
        req("config.process.consoleSize-ignored", C, "Runtimes MUST ignore consoleSize if terminal is false or unset", console_size_ignored),
        req("config.process.terminal", C, "if set to true on Linux a pseudoterminal pair is allocated ... duplicated on the standard streams", terminal),
        req("config.process.consoleSize", C, "consoleSize specifies the console size in characters of the terminal", console_size),
        req("config.hostname", C, "hostname specifies the container's hostname as seen by processes running inside", hostname),
        req("config.domainname", C, "domainname specifies the container's domainname as seen by processes running inside", domainname),
        req("config.hooks.order", C, "Hooks MUST be called in the listed order", hooks_order),
        req("config.hooks.state-stdin", C, "The state of the container MUST be passed to hooks over stdin", hooks_state),
        req("config.hooks.prestart", C, "prestart hooks MUST be called as part of create ... executed in the runtime namespace", |c| hook_phase(c, "prestart")),
        req("config.hooks.createRuntime", C, "createRuntime hooks MUST be called as part of create ... in the runtime namespace", |c| hook_phase(c, "createRuntime")),
        req("config.hooks.createContainer", C, "createContainer hooks MUST be called as part of create ... in the container namespace", |c| hook_phase(c, "createContainer")),
        req("config.hooks.startContainer", C, "startContainer hooks MUST be called before the user-specified process is executed ... in the container namespace", |c| hook_phase(c, "startContainer")),
        req("config.hooks.poststart", C, "poststart hooks MUST be called after the user-specified process is executed but before start returns", |c| hook_phase(c, "poststart")),
        req("config.hooks.poststop", C, "poststop hooks MUST be called after the container is deleted but before delete returns", |c| hook_phase(c, "poststop")),
        req("config.hooks.before-pivot-root", C, "prestart/createRuntime/createContainer ... but before the pivot_root or any equivalent operation has been executed", hooks_before_pivot),
        req("config.hooks.state-pid", C, "For hooks executed in the runtime namespace, it is the pid as seen by the runtime", hooks_state_pid),
        req("config.hooks.path-absolute", C, "This specification extends the IEEE standard in that path MUST be absolute", hooks_path_absolute),
        req("config.hooks.args-env", C, "args/env with the same semantics as execv's argv / environ", hooks_args_env),
        req("config.hooks.timeout", C, "timeout (int, OPTIONAL) is the number of seconds before aborting the hook", hooks_timeout),
        req("config.extensibility.unknown-properties", C, "Runtimes MAY log unknown properties but MUST otherwise ignore them", unknown_properties),
        req("config.valid-values.invalid-namespace", C, "Runtimes MUST generate an error when invalid or unsupported values are encountered", invalid_value),
    ]
}

fn oci_version(c: &mut Ctx) -> Res {
    c.run_ok(&Spec::new().set("/ociVersion", json!("1.0.0")))?;
    Ok(())
}

fn root_path(c: &mut Ctx, absolute: bool) -> Res {
    let b = c.bare_bundle()?;
    let path = if absolute {
        path_str(&b.join("rootfs"))
    } else {
        "rootfs".into()
    };
    c.write_config(
        &b,
        &Spec::new().check(&["cwd"]).set("/root/path", json!(path)),
    )?;
    let id = c.new_id();
    let out = c
        .rt(&["run", "--bundle", &path_str(&b), &id])?
        .expect_ok()?;
    out.facts().expect("cwd", "/")
}

fn root_missing(c: &mut Ctx) -> Res {
    expect_create_fails(c, &Spec::new().set("/root/path", json!("no-such-rootfs")))
}

fn root_readonly(c: &mut Ctx, ro: bool) -> Res {
    let f = c.run_ok(
        &Spec::new()
            .set("/root/readonly", json!(ro))
            .check(&["write", "/probe", "x"]),
    )?;
    if ro {
        f.expect("write.errno", "30")
    } else {
        f.expect("write", "ok")
    }
}

fn mountinfo(c: &mut Ctx, spec: Spec) -> Res<Vec<crate::harness::Mount>> {
    let out = c.run(&spec.check(&["mountinfo"]))?.expect_ok()?;
    Ok(parse_mountinfo(&out.stdout))
}

fn mounts_order(c: &mut Ctx) -> Res {
    let m = mountinfo(
        c,
        Spec::new()
            .tmpfs("/mnt/a", &["size=1m"])
            .tmpfs("/mnt/a/b", &["size=2m"])
            .tmpfs("/mnt/a/b", &["size=3m"]),
    )?;
    let a = m.iter().position(|x| x.mount_point == "/mnt/a");
    let b = m.iter().position(|x| x.mount_point == "/mnt/a/b");
    ensure!(
        matches!((a, b), (Some(a), Some(b)) if a < b),
        "/mnt/a and /mnt/a/b not mounted in order (a={a:?}, b={b:?})"
    );
    let top = mount_at(&m, "/mnt/a/b")?;
    ensure!(
        top.has("size=3072k"),
        "the last listed mount at /mnt/a/b is not on top: {:?}",
        top.super_options
    );
    Ok(())
}

fn mounts_tmpfs(c: &mut Ctx) -> Res {
    let spec = Spec::new()
        .tmpfs(
            "/mnt/t",
            &["nosuid", "nodev", "noexec", "mode=0711", "size=1m"],
        )
        .sh("oci-check mountinfo; oci-check stat /mnt/t");
    let out = c.run(&spec)?.expect_ok()?;
    let m = parse_mountinfo(&out.stdout);
    let t = mount_at(&m, "/mnt/t")?;
    ensure!(t.fs_type == "tmpfs", "type {}", t.fs_type);
    for o in ["nosuid", "nodev", "noexec", "size=1024k", "mode=711"] {
        ensure!(
            t.has(o),
            "option {o} missing: {:?} {:?}",
            t.mount_options,
            t.super_options
        );
    }
    out.facts().expect("/mnt/t.mode", "0711")
}

fn mounts_ro_noatime(c: &mut Ctx) -> Res {
    let m = mountinfo(c, Spec::new().tmpfs("/mnt/t", &["ro", "noatime"]))?;
    let t = mount_at(&m, "/mnt/t")?;
    for o in ["ro", "noatime"] {
        ensure!(
            t.mount_options.iter().any(|x| x == o),
            "option {o} missing: {:?}",
            t.mount_options
        );
    }
    Ok(())
}

fn mounts_bind(c: &mut Ctx) -> Res {
    let d = c.dir("src")?;
    fs::write(d.join("hello"), "hello").map_err(|e| e.to_string())?;
    let f = c.run_ok(
        &Spec::new()
            .mount(
                json!({"destination": "/mnt/b", "type": "bind", "source": d, "options": ["bind"]}),
            )
            .check(&["read", "/mnt/b/hello"]),
    )?;
    f.expect("content", "hello")
}

fn mounts_bind_relative(c: &mut Ctx) -> Res {
    let b = c.bare_bundle()?;
    fs::create_dir(b.join("data")).map_err(|e| e.to_string())?;
    fs::write(b.join("data/hello"), "relative").map_err(|e| e.to_string())?;
    c.write_config(
        &b,
        &Spec::new()
            .mount(json!({"destination": "/mnt/b", "type": "bind", "source": "data", "options": ["rbind"]}))
            .check(&["read", "/mnt/b/hello"]),
    )?;
    let id = c.new_id();
    let out = c
        .rt(&["run", "--bundle", &path_str(&b), &id])?
        .expect_ok()?;
    out.facts().expect("content", "relative")
}

fn mounts_bind_ro(c: &mut Ctx) -> Res {
    let d = c.dir("src")?;
    let f = c.run_ok(
        &Spec::new()
            .bind(&d, "/mnt/b", &["ro"])
            .check(&["write", "/mnt/b/x", "x"]),
    )?;
    f.expect("write.errno", "30")?;
    ensure!(!d.join("x").exists(), "write went through");
    Ok(())
}

/// A host directory with a tmpfs mounted on its `sub` directory (unmounted with the dir).
fn dir_with_submount(c: &mut Ctx) -> Res<std::path::PathBuf> {
    let d = c.dir("src")?;
    let sub = d.join("sub");
    fs::create_dir(&sub).map_err(|e| e.to_string())?;
    super::linux::mount_tmpfs(&sub)?;
    fs::write(sub.join("marker"), "submount").map_err(|e| e.to_string())?;
    Ok(d)
}

fn bind_recursion(c: &mut Ctx, opt: &str) -> Res {
    let d = dir_with_submount(c)?;
    let f = c.run_ok(
        &Spec::new()
            .mount(json!({"destination": "/mnt/b", "type": "bind", "source": d, "options": [opt]}))
            .check(&["ls", "/mnt/b/sub"]),
    )?;
    let entries = f.req("entries")?;
    if opt == "rbind" {
        ensure!(
            entries == "marker",
            "rbind did not bring the submount: {entries:?}"
        );
    } else {
        ensure!(
            entries.is_empty(),
            "bind (non-recursive) brought the submount: {entries:?}"
        );
    }
    Ok(())
}

fn mounts_rro(c: &mut Ctx) -> Res {
    let d = dir_with_submount(c)?;
    let f = c.run_ok(
        &Spec::new()
            .mount(json!({"destination": "/mnt/b", "type": "bind", "source": d, "options": ["rbind", "rro"]}))
            .sh("oci-check write /mnt/b/x x; oci-check write /mnt/b/sub/y y"),
    )?;
    ensure!(
        f.get("write.errno") == Some("30") && f.get("write").is_none(),
        "a write under the rro bind mount succeeded: {:?}",
        f.0
    );
    Ok(())
}

fn mounts_nosymfollow(c: &mut Ctx) -> Res {
    let m = mountinfo(c, Spec::new().tmpfs("/mnt/t", &["nosymfollow"]))?;
    let t = mount_at(&m, "/mnt/t")?;
    ensure!(
        t.has("nosymfollow"),
        "nosymfollow missing: {:?}",
        t.mount_options
    );
    Ok(())
}

fn mounts_relative_dest(c: &mut Ctx) -> Res {
    let m = mountinfo(
        c,
        Spec::new().mount(json!({"destination": "mnt/rel", "type": "tmpfs", "source": "tmpfs"})),
    )?;
    mount_at(&m, "/mnt/rel")?;
    Ok(())
}

fn mounts_rshared(c: &mut Ctx) -> Res {
    let d = c.dir("src")?;
    let m = mountinfo(c, Spec::new().bind(&d, "/mnt/s", &["rshared"]))?;
    let s = mount_at(&m, "/mnt/s")?;
    ensure!(
        s.tagged("shared:"),
        "/mnt/s is not shared: tags {:?}",
        s.tags
    );
    Ok(())
}

fn process_args(c: &mut Ctx) -> Res {
    let f = c.run_ok(&Spec::new().args(&["oci-check", "args", "a b", "", "c=d"]))?;
    f.expect("argc", "5")?;
    f.expect("arg0", "oci-check")?;
    f.expect("arg2", "a b")?;
    f.expect("arg3", "")?;
    f.expect("arg4", "c=d")
}

fn process_args_lookup(c: &mut Ctx) -> Res {
    let mut spec = Spec::new().check(&["cwd"]);
    spec = spec.set("/process/env", json!(["PATH=/nowhere:/bin"]));
    c.run_ok(&spec)?.expect("cwd", "/")
}

fn process_args_required(c: &mut Ctx) -> Res {
    let b = c.bundle(&Spec::new().set("/process/args", json!([])))?;
    let (id, out) = c.create_bundle(&b, &[])?;
    if out.ok() {
        let st = c.rt(&["start", &id])?;
        ensure!(
            st.failed(),
            "empty process.args accepted by create and start"
        );
        return Ok(());
    }
    c.expect_no_trace(&id)
}

fn process_env(c: &mut Ctx) -> Res {
    let f = c.run_ok(
        &Spec::new()
            .env("FOO=bar")
            .env("EMPTY=")
            .env("WITH_EQ=a=b")
            .check(&["env"]),
    )?;
    f.expect("FOO", "bar")?;
    f.expect("EMPTY", "")?;
    f.expect("WITH_EQ", "a=b")?;
    f.expect("TERM", "xterm")
}

fn process_cwd(c: &mut Ctx) -> Res {
    c.run_ok(
        &Spec::new()
            .set("/process/cwd", json!("/tmp"))
            .check(&["cwd"]),
    )?
    .expect("cwd", "/tmp")
}

fn process_cwd_relative(c: &mut Ctx) -> Res {
    expect_create_fails(c, &Spec::new().sleeper().set("/process/cwd", json!("tmp")))
}

fn user_ids(c: &mut Ctx) -> Res {
    let f = c.run_ok(
        &Spec::new()
            .set("/process/user", json!({"uid": 1000, "gid": 1001}))
            .check(&["ids"]),
    )?;
    f.expect("uid", "1000")?;
    f.expect("euid", "1000")?;
    f.expect("gid", "1001")?;
    f.expect("egid", "1001")
}

fn user_additional_gids(c: &mut Ctx) -> Res {
    let f = c.run_ok(
        &Spec::new()
            .set(
                "/process/user",
                json!({"uid": 1000, "gid": 1000, "additionalGids": [5, 6]}),
            )
            .check(&["ids"]),
    )?;
    let groups = f.req("groups")?;
    let g: Vec<&str> = groups.split(',').filter(|s| !s.is_empty()).collect();
    ensure!(
        g.contains(&"5") && g.contains(&"6"),
        "groups {groups:?} lack 5 and 6"
    );
    ensure!(
        g.iter().all(|x| ["5", "6", "1000"].contains(x)),
        "unexpected supplementary groups {groups:?}"
    );
    Ok(())
}

fn user_umask(c: &mut Ctx) -> Res {
    c.run_ok(
        &Spec::new()
            .set("/process/user", json!({"uid": 0, "gid": 0, "umask": 23}))
            .check(&["umask"]),
    )?
    .expect("umask", "0027")
}

fn status(c: &mut Ctx, spec: Spec) -> Res<String> {
    Ok(c.run(&spec.check(&["status"]))?.expect_ok()?.stdout)
}

/// Non-root process (so exec does not recompute the sets from the bounding set):
/// permitted = effective = ambient, inheritable and bounding as configured.
fn caps(c: &mut Ctx, field: &str) -> Res {
    let bnd = [
        "CAP_CHOWN",
        "CAP_KILL",
        "CAP_NET_BIND_SERVICE",
        "CAP_SETGID",
    ];
    let inh = ["CAP_CHOWN", "CAP_KILL", "CAP_NET_BIND_SERVICE"];
    let amb = ["CAP_KILL", "CAP_NET_BIND_SERVICE"];
    let spec = Spec::new()
        .set("/process/user", json!({"uid": 1000, "gid": 1000}))
        .set(
            "/process/capabilities",
            json!({"bounding": bnd, "inheritable": inh, "permitted": amb, "effective": amb, "ambient": amb}),
        );
    let st = status(c, spec)?;
    let want = match field {
        "CapBnd" => cap_mask(&bnd),
        "CapInh" => cap_mask(&inh),
        _ => cap_mask(&amb),
    };
    let got = status_field(&st, field)?;
    ensure!(got == want, "{field}: expected {want}, got {got}");
    Ok(())
}

fn caps_root(c: &mut Ctx) -> Res {
    let set = ["CAP_CHOWN", "CAP_KILL"];
    let spec = Spec::new().set(
        "/process/capabilities",
        json!({"bounding": set, "permitted": set, "effective": set, "inheritable": [], "ambient": []}),
    );
    let st = status(c, spec)?;
    for f in ["CapBnd", "CapEff", "CapPrm"] {
        let got = status_field(&st, f)?;
        ensure!(
            got == cap_mask(&set),
            "{f}: expected {}, got {got}",
            cap_mask(&set)
        );
    }
    Ok(())
}

fn caps_empty(c: &mut Ctx) -> Res {
    let spec = Spec::new().set(
        "/process/capabilities",
        json!({"bounding": [], "permitted": [], "effective": [], "inheritable": [], "ambient": []}),
    );
    let st = status(c, spec)?;
    for f in ["CapBnd", "CapEff", "CapPrm", "CapInh", "CapAmb"] {
        let got = status_field(&st, f)?;
        ensure!(got == cap_mask(&[]), "{f}: {got}, expected no capabilities");
    }
    Ok(())
}

fn caps_unknown(c: &mut Ctx) -> Res {
    let set = ["CAP_KILL", "CAP_CONFORMANCE_UNKNOWN"];
    let spec = Spec::new().set(
        "/process/capabilities",
        json!({"bounding": set, "permitted": set, "effective": set}),
    );
    let out = c.run(&spec.check(&["status"]))?;
    ensure!(
        out.ok(),
        "an unknown capability made the container fail: {}",
        out.brief()
    );
    let got = status_field(&out.stdout, "CapBnd")?;
    ensure!(got == cap_mask(&["CAP_KILL"]), "CapBnd {got}");
    Ok(())
}

fn rlimits(c: &mut Ctx) -> Res {
    let f = c.run_ok(
        &Spec::new()
            .set(
                "/process/rlimits",
                json!([
                    {"type": "RLIMIT_NOFILE", "soft": 100, "hard": 200},
                    {"type": "RLIMIT_MSGQUEUE", "soft": 8192, "hard": 16384},
                    {"type": "RLIMIT_CORE", "soft": 0, "hard": 4096}
                ]),
            )
            .check(&["rlimits"]),
    )?;
    f.expect("RLIMIT_NOFILE", "100:200")?;
    f.expect("RLIMIT_MSGQUEUE", "8192:16384")?;
    f.expect("RLIMIT_CORE", "0:4096")
}

fn rlimits_invalid(c: &mut Ctx) -> Res {
    expect_create_fails(
        c,
        &Spec::new().sleeper().set(
            "/process/rlimits",
            json!([{"type": "RLIMIT_CONFORMANCE", "soft": 1, "hard": 1}]),
        ),
    )
}

fn rlimits_duplicate(c: &mut Ctx) -> Res {
    expect_create_fails(
        c,
        &Spec::new().sleeper().set(
            "/process/rlimits",
            json!([
                {"type": "RLIMIT_NOFILE", "soft": 100, "hard": 200},
                {"type": "RLIMIT_NOFILE", "soft": 300, "hard": 400}
            ]),
        ),
    )
}

fn nnp(c: &mut Ctx, on: bool) -> Res {
    let st = status(c, Spec::new().set("/process/noNewPrivileges", json!(on)))?;
    let got = status_field(&st, "NoNewPrivs")?;
    ensure!(got == if on { "1" } else { "0" }, "NoNewPrivs: {got}");
    Ok(())
}

fn oom_set(c: &mut Ctx) -> Res {
    c.run_ok(
        &Spec::new()
            .set("/process/oomScoreAdj", json!(123))
            .check(&["oom_score_adj"]),
    )?
    .expect("oom_score_adj", "123")
}

fn oom_unset(c: &mut Ctx) -> Res {
    let old = fs::read_to_string("/proc/self/oom_score_adj").map_err(|e| e.to_string())?;
    // A distinctive value the runtime and container inherit from us.
    fs::write("/proc/self/oom_score_adj", "77").map_err(|e| e.to_string())?;
    let r = c.run_ok(
        &Spec::new()
            .remove("/process/oomScoreAdj")
            .check(&["oom_score_adj"]),
    );
    let _ = fs::write("/proc/self/oom_score_adj", old.trim());
    r?.expect("oom_score_adj", "77")
}

fn console_size_ignored(c: &mut Ctx) -> Res {
    let f = c.run_ok(
        &Spec::new()
            .set("/process/consoleSize", json!({"height": 30, "width": 100}))
            .check(&["tty"]),
    )?;
    f.expect("isatty0", "0")
}

fn hostname(c: &mut Ctx) -> Res {
    c.run_ok(
        &Spec::new()
            .set("/hostname", json!("conf-host"))
            .check(&["uname"]),
    )?
    .expect("nodename", "conf-host")
}

fn domainname(c: &mut Ctx) -> Res {
    c.run_ok(
        &Spec::new()
            .set("/domainname", json!("conf.example"))
            .check(&["uname"]),
    )?
    .expect("domainname", "conf.example")
}

// ---------------------------------------------------------------------------
// Terminal: receive the pty master over --console-socket
// ---------------------------------------------------------------------------

fn recv_fd(sock: &std::os::unix::net::UnixStream) -> Res<std::os::fd::OwnedFd> {
    use std::os::fd::{AsRawFd, FromRawFd};
    let mut buf = [0u8; 256];
    let mut iov = libc::iovec {
        iov_base: buf.as_mut_ptr().cast(),
        iov_len: buf.len(),
    };
    let mut cmsg = [0u64; 16];
    // SAFETY: msghdr is plain data; all pointers refer to live local buffers.
    let mut msg: libc::msghdr = unsafe { std::mem::zeroed() };
    msg.msg_iov = &mut iov;
    msg.msg_iovlen = 1;
    msg.msg_control = cmsg.as_mut_ptr().cast();
    msg.msg_controllen = std::mem::size_of_val(&cmsg);
    // SAFETY: recvmsg on our socket into the buffers set up above.
    let n = unsafe { libc::recvmsg(sock.as_raw_fd(), &mut msg, 0) };
    ensure!(n >= 0, "recvmsg: {}", std::io::Error::last_os_error());
    // SAFETY: CMSG_* walk the control buffer the kernel just filled.
    unsafe {
        let hdr = libc::CMSG_FIRSTHDR(&msg);
        ensure!(
            !hdr.is_null() && (*hdr).cmsg_type == libc::SCM_RIGHTS,
            "no SCM_RIGHTS message on the console socket"
        );
        let fd = std::ptr::read_unaligned(libc::CMSG_DATA(hdr) as *const i32);
        Ok(std::os::fd::OwnedFd::from_raw_fd(fd))
    }
}

/// Runs `script` (sh) with terminal true and a console socket; returns what the pty
/// printed.
pub fn with_terminal(c: &mut Ctx, spec: Spec) -> Res<String> {
    use std::io::Read;
    use std::os::fd::AsRawFd;
    let d = c.dir("cs")?;
    let sock_path = d.join("s");
    let listener = std::os::unix::net::UnixListener::bind(&sock_path)
        .map_err(|e| format!("bind console socket: {e}"))?;
    let b = c.bundle(&spec.set("/process/terminal", json!(true)))?;
    let sp = path_str(&sock_path);
    let (id, out) = c.create_bundle(&b, &["--console-socket", &sp])?;
    let out = out.expect_ok()?;
    let _ = out;
    listener.set_nonblocking(true).map_err(|e| e.to_string())?;
    let (conn, _) = listener
        .accept()
        .map_err(|e| format!("the runtime never connected to the console socket: {e}"))?;
    conn.set_nonblocking(false).map_err(|e| e.to_string())?;
    let master = recv_fd(&conn)?;
    c.rt(&["start", &id])?.expect_ok()?;
    let mut file = fs::File::from(master);
    let fd = file.as_raw_fd();
    let mut text = Vec::new();
    let deadline = Instant::now() + Duration::from_secs(10);
    while Instant::now() < deadline {
        let mut pfd = libc::pollfd {
            fd,
            events: libc::POLLIN,
            revents: 0,
        };
        // SAFETY: one valid pollfd.
        let r = unsafe { libc::poll(&mut pfd, 1, 200) };
        if r > 0 {
            let mut buf = [0u8; 4096];
            match file.read(&mut buf) {
                Ok(0) | Err(_) => break,
                Ok(n) => text.extend_from_slice(&buf[..n]),
            }
        } else if c.status(&id)? == "stopped" {
            break;
        }
    }
    Ok(String::from_utf8_lossy(&text).replace('\r', ""))
}

fn terminal(c: &mut Ctx) -> Res {
    let text = with_terminal(c, Spec::new().check(&["tty"]))?;
    let f = crate::harness::Facts::parse(&text);
    for k in ["isatty0", "isatty1", "isatty2"] {
        f.expect(k, "1")?;
    }
    Ok(())
}

fn console_size(c: &mut Ctx) -> Res {
    let text = with_terminal(
        c,
        Spec::new()
            .set("/process/consoleSize", json!({"height": 30, "width": 100}))
            .check(&["tty"]),
    )?;
    let f = crate::harness::Facts::parse(&text);
    f.expect("rows", "30")?;
    f.expect("cols", "100")
}

// ---------------------------------------------------------------------------
// Hooks
// ---------------------------------------------------------------------------

const KINDS: [&str; 6] = [
    "prestart",
    "createRuntime",
    "createContainer",
    "startContainer",
    "poststart",
    "poststop",
];

/// What a full lifecycle with every hook kind recorded.
struct HookRun {
    after_create: Vec<String>,
    after_start: Vec<String>,
    after_delete: Vec<String>,
    dir: std::path::PathBuf,
    id: String,
    bundle: String,
    container_mnt: String,
    container_pid: i32,
    state_after_delete_ok: bool,
}

fn lines(p: &Path) -> Vec<String> {
    fs::read_to_string(p)
        .unwrap_or_default()
        .lines()
        .map(|l| l.trim().to_string())
        .filter(|l| !l.is_empty())
        .collect()
}

/// Each hook appends its name to `log`, saves its stdin and its mount namespace. The
/// startContainer hook runs in the container, so it writes through the /out bind mount.
fn hook_run(c: &mut Ctx) -> Res<HookRun> {
    let d = c.dir("hooks")?;
    let host = path_str(&d);
    let mut spec = Spec::new()
        .bind(&d, "/out", &[])
        .sh("echo process >> /out/log; while :; do sleep 1; done");
    for kind in KINDS {
        let base = if kind == "startContainer" {
            "/out".to_string()
        } else {
            host.clone()
        };
        for n in 1..=2 {
            spec = spec.hook(
                kind,
                &format!(
                    "echo {kind}{n} >> {base}/log; cat > {base}/state-{kind}{n}; \
                     readlink /proc/self/ns/mnt > {base}/ns-{kind}{n}"
                ),
            );
        }
    }
    let (id, b) = c.create(&spec)?;
    let container_pid = c.pid(&id)?;
    let container_mnt = ns_link(&container_pid.to_string(), "mnt")?;
    let after_create = lines(&d.join("log"));
    c.rt(&["start", &id])?.expect_ok()?;
    let after_start = lines(&d.join("log"));
    // Let the process log its line so the startContainer/process order is visible.
    wait_until(Duration::from_secs(5), || {
        lines(&d.join("log")).iter().any(|l| l == "process")
    });
    c.rt(&["kill", &id, "KILL"])?.expect_ok()?;
    c.wait_status(&id, "stopped")?;
    c.rt(&["delete", &id])?.expect_ok()?;
    let after_delete = lines(&d.join("log"));
    let state_after_delete_ok = c.rt(&["state", &id])?.ok();
    Ok(HookRun {
        after_create,
        after_start,
        after_delete,
        bundle: fs::canonicalize(&b)
            .map(|p| path_str(&p))
            .unwrap_or_default(),
        dir: d,
        id,
        container_mnt,
        container_pid,
        state_after_delete_ok,
    })
}

fn hooks_order(c: &mut Ctx) -> Res {
    let h = hook_run(c)?;
    let got: Vec<&String> = h.after_delete.iter().filter(|l| *l != "process").collect();
    let want: Vec<String> = KINDS
        .iter()
        .flat_map(|k| [format!("{k}1"), format!("{k}2")])
        .collect();
    ensure!(
        got.iter()
            .map(|s| s.as_str())
            .eq(want.iter().map(|s| s.as_str())),
        "hook order {got:?}, expected {want:?}"
    );
    Ok(())
}

fn hooks_state(c: &mut Ctx) -> Res {
    let h = hook_run(c)?;
    for kind in KINDS {
        let p = h.dir.join(format!("state-{kind}1"));
        let text = fs::read_to_string(&p).unwrap_or_default();
        let v: Value = serde_json::from_str(&text)
            .map_err(|e| Bad::Fail(format!("{kind} stdin is not state JSON ({e}): {text:?}")))?;
        ensure!(v["id"] == json!(h.id), "{kind}: id {}", v["id"]);
        ensure!(v["ociVersion"].is_string(), "{kind}: no ociVersion");
        ensure!(v["status"].is_string(), "{kind}: no status");
        let bundle = v["bundle"].as_str().unwrap_or("");
        ensure!(
            bundle == h.bundle,
            "{kind}: bundle {bundle:?} != {:?}",
            h.bundle
        );
        let st = v["status"].as_str().unwrap_or("");
        if st == "created" || st == "running" {
            ensure!(
                v["pid"].as_i64().is_some_and(|p| p > 0),
                "{kind}: status {st} without pid: {v}"
            );
        }
        if let Some(p) = v.get("pid") {
            ensure!(
                p.as_i64().is_some_and(|p| p > 0),
                "{kind}: pid {p} is not a process id: {v}"
            );
        }
    }
    Ok(())
}

fn hook_phase(c: &mut Ctx, kind: &str) -> Res {
    let h = hook_run(c)?;
    let k1 = format!("{kind}1");
    let has = |v: &[String]| v.contains(&k1);
    let ns = fs::read_to_string(h.dir.join(format!("ns-{k1}"))).unwrap_or_default();
    let ns = ns.trim();
    let runtime_ns = ns_link("self", "mnt")?;
    let (in_container, phase_ok) = match kind {
        "prestart" | "createRuntime" | "createContainer" => {
            (kind == "createContainer", has(&h.after_create))
        }
        "startContainer" => {
            let pos = |n: &str| h.after_delete.iter().position(|l| l == n);
            let before_process = matches!((pos(&k1), pos("process")), (Some(a), Some(b)) if a < b);
            ensure!(
                before_process,
                "startContainer did not run before the process: {:?}",
                h.after_delete
            );
            (true, !has(&h.after_create) && has(&h.after_start))
        }
        "poststart" => (false, !has(&h.after_create) && has(&h.after_start)),
        "poststop" => {
            ensure!(
                !h.state_after_delete_ok,
                "container still exists after delete"
            );
            (false, !has(&h.after_start) && has(&h.after_delete))
        }
        _ => unreachable!(),
    };
    ensure!(
        phase_ok,
        "{kind} ran at the wrong time (after create: {:?}, after start: {:?}, after delete: {:?})",
        h.after_create,
        h.after_start,
        h.after_delete
    );
    if kind == "poststop" {
        // Called after the container is deleted: the container process is gone.
        ensure!(
            !crate::harness::pid_alive(h.container_pid),
            "container process alive during poststop"
        );
    }
    ensure!(!ns.is_empty(), "{kind} did not record its namespace");
    if in_container {
        ensure!(
            ns == h.container_mnt,
            "{kind} ran in mnt ns {ns}, container is {}",
            h.container_mnt
        );
    } else {
        ensure!(
            ns == runtime_ns,
            "{kind} ran in mnt ns {ns}, runtime is {runtime_ns}"
        );
    }
    Ok(())
}

/// prestart/createRuntime (runtime namespace) look at the container process's root
/// through /proc/PID/root (the rootfs only once pivoted); createContainer (container namespace) records whether the host's
/// path of the rootfs is still visible, which it is only before pivot_root.
fn hooks_before_pivot(c: &mut Ctx) -> Res {
    let d = c.dir("out")?;
    let b = c.bare_bundle()?;
    let rootfs = fs::canonicalize(b.join("rootfs")).map_err(|e| e.to_string())?;
    let (h, r) = (d.display(), rootfs.display());
    let mut spec = Spec::new().bind(&d, "/out", &[]).sleeper();
    for kind in ["prestart", "createRuntime"] {
        spec = spec.hook(
            kind,
            &format!(
                "pid=$(sed 's/.*\"pid\": *\\([0-9]*\\).*/\\1/'); \
                 if [ -e /proc/$pid/root/bin/oci-check ]; then echo pivoted > {h}/{kind}; \
                 else echo before > {h}/{kind}; fi"
            ),
        );
    }
    spec = spec.hook(
        "createContainer",
        &format!(
            "if [ -e {r}/bin/oci-check ]; then echo {r}-visible > {h}/createContainer; \
             else echo pivoted > /out/createContainer; fi"
        ),
    );
    c.write_config(&b, &spec)?;
    let (id, out) = c.create_bundle(&b, &[])?;
    out.expect_ok()?;
    let pid = c.pid(&id)?;
    ensure!(
        Path::new(&format!("/proc/{pid}/root/bin/oci-check")).exists(),
        "after create the container's root is not the rootfs"
    );
    for kind in ["prestart", "createRuntime", "createContainer"] {
        let seen = fs::read_to_string(d.join(kind)).unwrap_or_default();
        let seen = seen.trim();
        ensure!(!seen.is_empty(), "{kind} recorded nothing");
        ensure!(seen != "pivoted", "{kind} ran after pivot_root");
    }
    Ok(())
}

fn hooks_state_pid(c: &mut Ctx) -> Res {
    let h = hook_run(c)?;
    for kind in ["prestart", "createRuntime", "poststart"] {
        let text = fs::read_to_string(h.dir.join(format!("state-{kind}1"))).unwrap_or_default();
        let v: Value = serde_json::from_str(&text)
            .map_err(|e| Bad::Fail(format!("{kind} stdin is not JSON ({e})")))?;
        ensure!(
            v["pid"] == json!(h.container_pid),
            "{kind}: pid {} but the container process is {} as seen by the runtime",
            v["pid"],
            h.container_pid
        );
    }
    Ok(())
}

fn hooks_path_absolute(c: &mut Ctx) -> Res {
    let spec = Spec::new().sleeper().push(
        "/hooks/createRuntime",
        json!({"path": "sh", "args": ["sh", "-c", "true"]}),
    );
    expect_create_fails(c, &spec)
}

fn hooks_args_env(c: &mut Ctx) -> Res {
    let d = c.dir("out")?;
    let f = d.join("args");
    let spec = Spec::new().sleeper().push(
        "/hooks/createRuntime",
        json!({
            "path": "/bin/sh",
            "args": ["sh", "-c", format!("echo \"$0 $FOO\" > {}", f.display()), "zero"],
            "env": ["FOO=bar"]
        }),
    );
    c.create(&spec)?;
    let got = fs::read_to_string(&f).unwrap_or_default();
    ensure!(got.trim() == "zero bar", "hook saw {got:?}");
    Ok(())
}

fn hooks_timeout(c: &mut Ctx) -> Res {
    let spec = Spec::new().sleeper().push(
        "/hooks/createRuntime",
        json!({"path": "/bin/sleep", "args": ["sleep", "30"], "timeout": 1}),
    );
    let t = Instant::now();
    expect_create_fails(c, &spec)?;
    let took = t.elapsed();
    ensure!(
        took < Duration::from_secs(15),
        "create took {took:?} with a 1 s hook timeout"
    );
    Ok(())
}

fn unknown_properties(c: &mut Ctx) -> Res {
    let spec = Spec::new()
        .set("/org.example.unknown", json!({"a": [1, 2]}))
        .set("/process/conformanceUnknown", json!(true))
        .set("/linux/conformanceUnknown", json!("x"))
        .set("/root/conformanceUnknown", json!(1))
        .check(&["cwd"]);
    c.run_ok(&spec)?.expect("cwd", "/")
}

fn invalid_value(c: &mut Ctx) -> Res {
    let spec = Spec::new()
        .sleeper()
        .push("/linux/namespaces", json!({"type": "conformance"}));
    expect_create_fails(c, &spec)
}
