//! ongictl volumes as a docker user meets them: `volume create/ls/inspect/rm/prune` with
//! docker's output, named volumes that outlive containers, anonymous ones that go with
//! `rm -v` and `run --rm`, copy-up of the image's content into an empty volume, `--mount`,
//! and a volume in use that cannot be removed.

mod common;

use std::os::unix::fs::{MetadataExt, PermissionsExt};

use common::engine::{fails_with, registry_with_busybox, volume_names, Engine};

#[test]
fn volume_commands() {
    let e = Engine::new("vol-cmds");
    assert_eq!(
        e.ok(&["volume", "create", "--label", "tier=db", "data"]),
        "data"
    );
    // Creating an existing name is no error (docker's behaviour).
    assert_eq!(e.ok(&["volume", "create", "data"]), "data");
    let anon = e.ok(&["volume", "create"]);
    assert!(
        anon.len() == 64 && anon.bytes().all(|b| b.is_ascii_hexdigit()),
        "{anon}"
    );
    let ls = e.ok(&["volume", "ls"]);
    let lines: Vec<&str> = ls.lines().collect();
    assert!(
        lines[0].starts_with("DRIVER") && lines[0].ends_with("VOLUME NAME"),
        "{ls}"
    );
    assert!(
        lines
            .iter()
            .any(|l| l.starts_with("local") && l.ends_with(" data")),
        "{ls}"
    );
    assert_eq!(lines.len(), 3, "{ls}");
    let mut q = volume_names(&e);
    q.sort();
    let mut want = vec![anon.clone(), "data".to_string()];
    want.sort();
    assert_eq!(q, want);
    assert_eq!(
        e.ok(&["volume", "ls", "-q", "--filter", "label=tier=db"]),
        "data"
    );
    assert_eq!(
        e.ok(&["volume", "ls", "-q", "--filter", "name=dat"]),
        "data"
    );

    let j: serde_json::Value =
        serde_json::from_str(&e.ok(&["volume", "inspect", "data"])).expect("inspect JSON");
    let v = &j[0];
    assert_eq!(v["Name"], "data");
    assert_eq!(v["Driver"], "local");
    assert_eq!(v["Scope"], "local");
    assert_eq!(v["Labels"]["tier"], "db");
    assert!(
        v["CreatedAt"].as_str().is_some_and(|t| t.len() >= 20),
        "{v}"
    );
    let mp = v["Mountpoint"].as_str().unwrap_or_default().to_string();
    assert!(std::path::Path::new(&mp).is_dir(), "{mp}");
    assert_eq!(
        e.ok(&["volume", "inspect", "-f", "{{.Mountpoint}}", "data"]),
        mp
    );

    fails_with(&e.ctl(&["volume", "inspect", "nope"]), 1, "no such volume");
    fails_with(
        &e.ctl(&["volume", "rm", "nope"]),
        1,
        "get nope: no such volume",
    );
    assert!(e.ctl(&["volume", "rm", "-f", "nope"]).ok());
    fails_with(
        &e.ctl(&["volume", "create", "bad/name"]),
        1,
        "includes invalid characters for a local volume name",
    );
    assert_eq!(volume_names(&e).len(), 2);

    // prune: anonymous ones only, -a named ones too.
    let out = e.ok(&["volume", "prune", "-f"]);
    assert!(
        out.contains(&anon) && out.contains("Total reclaimed space"),
        "{out}"
    );
    assert_eq!(volume_names(&e), vec!["data".to_string()]);
    let out = e.ok(&["volume", "prune", "-a", "-f"]);
    assert!(out.contains("data"), "{out}");
    assert!(volume_names(&e).is_empty());
    assert!(!std::path::Path::new(&mp).exists(), "{mp} left behind");
}

#[test]
fn volumes_in_containers() {
    let e = Engine::new("vol-ctr");
    let r = registry_with_busybox(&e.dir);
    e.ok(&["pull", "-q", &r.image]);
    let img = r.image.as_str();

    // A named volume outlives the container that wrote it.
    e.ok(&[
        "run",
        "--rm",
        "-v",
        "data:/data",
        img,
        "sh",
        "-c",
        "echo kept > /data/f",
    ]);
    assert_eq!(
        e.ok(&["run", "--rm", "-v", "data:/data:ro", img, "cat", "/data/f"]),
        "kept"
    );
    let o = e.ctl(&[
        "run",
        "--rm",
        "-v",
        "data:/data:ro",
        img,
        "sh",
        "-c",
        "echo x > /data/g",
    ]);
    assert_ne!(o.code(), Some(0), "a :ro volume was writable: {o}");

    // In use (by a container that is not even running): refused with docker's message.
    let id = e.ok(&["create", "--name", "user1", "-v", "data:/data", img, "true"]);
    let o = e.ctl(&["volume", "rm", "data"]);
    fails_with(&o, 1, &format!("remove data: volume is in use - [{id}]"));
    assert!(e
        .ok(&["volume", "ls", "-q", "--filter", "dangling=true"])
        .is_empty());
    e.ok(&["rm", "user1"]);
    assert_eq!(
        e.ok(&["volume", "ls", "-q", "--filter", "dangling=true"]),
        "data"
    );
    assert_eq!(e.ok(&["volume", "rm", "data"]), "data");

    // Anonymous volumes: `-v /path`; rm without -v keeps it, rm -v removes it.
    e.ok(&["create", "--name", "a1", "-v", "/scratch", img, "true"]);
    let anon = e.ok(&["inspect", "-f", "{{range .Mounts}}{{.Name}}{{end}}", "a1"]);
    assert_eq!(anon.len(), 64, "{anon}");
    assert_eq!(volume_names(&e), vec![anon.clone()]);
    e.ok(&["rm", "a1"]);
    assert_eq!(
        volume_names(&e),
        vec![anon.clone()],
        "rm without -v removed the volume"
    );
    e.ok(&["volume", "rm", &anon]);
    e.ok(&[
        "create", "--name", "a2", "-v", "/scratch", "-v", "keep:/k", img, "true",
    ]);
    e.ok(&["rm", "-v", "a2"]);
    assert_eq!(
        volume_names(&e),
        vec!["keep".to_string()],
        "rm -v: anonymous gone, named kept"
    );
    // run --rm removes its anonymous volumes too (docker does), named ones stay.
    e.ok(&[
        "run", "--rm", "-v", "/scratch", "-v", "keep:/k", img, "true",
    ]);
    assert_eq!(volume_names(&e), vec!["keep".to_string()]);

    // Copy-up: an empty volume over an image path gets its content, modes kept.
    let out = e.ok(&[
        "run",
        "--rm",
        "-v",
        "etcv:/etc",
        "-v",
        "tmpv:/tmp",
        img,
        "cat",
        "/etc/group",
    ]);
    assert!(out.contains("user:x:1000:"), "{out}");
    let vdir = |n: &str| {
        std::path::PathBuf::from(e.ok(&["volume", "inspect", "-f", "{{.Mountpoint}}", n]))
    };
    let copied = std::fs::metadata(vdir("etcv").join("group")).expect("etc/group copied up");
    assert_eq!(copied.uid(), 0);
    let tmp_mode = std::fs::metadata(vdir("tmpv"))
        .expect("tmpv")
        .permissions()
        .mode()
        & 0o7777;
    assert_eq!(tmp_mode, 0o1777, "the volume root took /tmp's mode");
    // Not again once it has content: what the container wrote stays.
    e.ok(&[
        "run",
        "--rm",
        "-v",
        "etcv:/etc",
        img,
        "sh",
        "-c",
        "echo mine > /etc/group",
    ]);
    assert_eq!(
        e.ok(&["run", "--rm", "-v", "etcv:/etc", img, "cat", "/etc/group"]),
        "mine"
    );

    // --mount: volume, bind (readonly) and tmpfs.
    let host = e.dir.join("bindsrc");
    std::fs::create_dir_all(&host).expect("mkdir");
    std::fs::write(host.join("h"), "host\n").expect("write");
    let bind = format!("type=bind,source={},target=/b,readonly", host.display());
    let out = e.ok(&[
        "run",
        "--rm",
        "--mount",
        "type=volume,source=mv,target=/m",
        "--mount",
        &bind,
        "--mount",
        "type=tmpfs,target=/t",
        img,
        "sh",
        "-c",
        "echo v > /m/x && cat /b/h && (echo no > /b/h 2>/dev/null && echo WRITABLE; true) && grep ' /t ' /proc/mounts | cut -d' ' -f3",
    ]);
    assert_eq!(out, "host\ntmpfs", "{out}");
    assert!(vdir("mv").join("x").exists());

    // Bad --mount: docker's exit 125, a message naming the flag, nothing left.
    let before = volume_names(&e);
    for bad in [
        "type=bind,target=/b",
        "type=bind,source=/nonexistent-src,target=/b",
        "type=volume,source=x,target=relative",
        "type=nfs,target=/x",
    ] {
        let o = e.ctl(&["run", "--rm", "--mount", bad, "-v", "/anon", img, "true"]);
        fails_with(&o, 125, "--mount");
        assert_eq!(volume_names(&e), before, "{bad} left a volume");
    }
    assert!(e.ok(&["ps", "-aq"]).is_empty());
    assert!(e.mounts().is_empty(), "mounts left: {:?}", e.mounts());
    let o = e.ctl(&["system", "check"]);
    assert!(o.ok() && o.stdout.contains("store is consistent"), "{o}");
}
