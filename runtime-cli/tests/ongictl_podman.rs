//! ongictl beside podman (one test per file: the podman helper reaps every child of the
//! test process at teardown, which would steal a parallel test's commands): the monitor's
//! memory against conmon's for the same 10 containers, and an image podman made with
//! `VOLUME /etc` that gives each ongictl container an anonymous volume there.

mod common;

use common::clients::podman::Podman;
use common::clients::IMAGE;
use common::engine::{monitor_pid, registry_with_busybox, volume_names, Engine};

#[test]
fn ongictl_beside_podman() {
    monitor_memory();
    image_volumes_become_anonymous_volumes();
}

/// (RSS, PSS, USS = private clean + private dirty) in KiB.
fn rss_pss(pid: i32) -> (u64, u64, u64) {
    let t = std::fs::read_to_string(format!("/proc/{pid}/smaps_rollup")).unwrap_or_default();
    let kb = |k: &str| {
        t.lines()
            .find(|l| l.starts_with(k))
            .and_then(|l| l.split_whitespace().nth(1))
            .and_then(|v| v.parse().ok())
            .unwrap_or(0)
    };
    (
        kb("Rss:"),
        kb("Pss:"),
        kb("Private_Clean:") + kb("Private_Dirty:"),
    )
}

/// The monitor's memory per container for 10 detached containers, as smem counts it
/// (RSS, and PSS: shared pages divided among their users), printed for the report.
fn monitor_memory() {
    let e = Engine::new("sys-mem");
    let r = registry_with_busybox(&e.dir);
    let img = r.image.as_str();
    e.ok(&["pull", "-q", img]);
    let (mut rss, mut pss, mut uss) = (0, 0, 0);
    for i in 0..10 {
        let id = e.ok(&[
            "run",
            "-d",
            "--name",
            &format!("c{i}"),
            img,
            "sleep",
            "1000",
        ]);
        assert!(monitor_pid(&id).is_some(), "no monitor for {id}");
    }
    for (n, id) in e.ok(&["ps", "-q", "--no-trunc"]).lines().enumerate() {
        let m = monitor_pid(id).expect("monitor");
        if n == 0 {
            // Where one monitor's memory is, for the report.
            let smaps = std::fs::read_to_string(format!("/proc/{m}/smaps")).unwrap_or_default();
            let mut name = String::new();
            for l in smaps.lines() {
                if l.contains('-') && !l.contains(':')
                    || l.split_whitespace().count() >= 5 && !l.ends_with("kB")
                {
                    name = l.split_whitespace().skip(5).collect::<Vec<_>>().join(" ");
                    if name.is_empty() {
                        name = "[anon]".into();
                    }
                }
                if l.starts_with("Rss:") || l.starts_with("Pss:") || l.starts_with("Private_Dirty:")
                {
                    let kb: u64 = l
                        .split_whitespace()
                        .nth(1)
                        .and_then(|v| v.parse().ok())
                        .unwrap_or(0);
                    if kb >= 16 {
                        println!("  {name}: {l}");
                    }
                }
            }
        }
        let (r, p, u) = rss_pss(m);
        rss += r;
        pss += p;
        uss += u;
    }
    println!(
        "ongi-monitor, 10 containers: RSS {} KiB, PSS {} KiB, USS {} KiB per container",
        rss / 10,
        pss / 10,
        uss / 10
    );
    // conmon's, under podman, for the same 10 containers (same image, same command).
    let archive = common::clients::image::docker_archive(&e.dir, IMAGE);
    let p = Podman::new(&e.dir);
    let o = p.podman(&["load", "-i", &archive.to_string_lossy()]);
    assert!(o.ok(), "{o}");
    let (mut crss, mut cpss, mut cuss) = (0, 0, 0);
    for i in 0..10 {
        let o = p.podman(&[
            "run",
            "-d",
            "--network",
            "none",
            "--name",
            &format!("p{i}"),
            IMAGE,
            "sleep",
            "1000",
        ]);
        assert!(o.ok(), "{o}");
        let id = o.text().to_string();
        let conmon = std::fs::read_dir("/proc")
            .into_iter()
            .flatten()
            .flatten()
            .filter_map(|d| d.file_name().to_string_lossy().parse::<i32>().ok())
            .find(|pid| {
                let cl = std::fs::read(format!("/proc/{pid}/cmdline")).unwrap_or_default();
                let cl = String::from_utf8_lossy(&cl);
                cl.starts_with("/usr/bin/conmon") && cl.contains(&id)
            })
            .expect("conmon of a podman container");
        let (r, p, u) = rss_pss(conmon);
        crss += r;
        cpss += p;
        cuss += u;
    }
    println!(
        "conmon (podman), 10 containers: RSS {} KiB, PSS {} KiB, USS {} KiB per container",
        crss / 10,
        cpss / 10,
        cuss / 10
    );
    // What each added container really costs is its private memory (PSS also moves with
    // how many other processes share glibc with conmon).
    assert!(
        uss < cuss,
        "ongi-monitor USS {uss} KiB >= conmon's {cuss} KiB (10 containers)"
    );
}

/// An image whose config declares `VOLUME /etc` (made and pushed by podman, a real
/// client): each container gets an anonymous volume there, filled from the image, and
/// `rm -v` takes it away.
fn image_volumes_become_anonymous_volumes() {
    let e = Engine::new("vol-img");
    let r = registry_with_busybox(&e.dir);
    let archive = common::clients::image::docker_archive(&e.dir, IMAGE);
    let p = Podman::new(&e.dir);
    let o = p.podman(&["load", "-i", &archive.to_string_lossy()]);
    assert!(o.ok(), "{o}");
    let o = p.podman(&["create", "--name", "base", IMAGE, "true"]);
    assert!(o.ok(), "{o}");
    let tagged = format!("{}/test/withvol:v1", r.reg.addr);
    let o = p.podman(&["commit", "-q", "--change", "VOLUME /etc", "base", &tagged]);
    assert!(o.ok(), "{o}");
    let o = p.podman(&["push", "--tls-verify=false", &tagged]);
    assert!(o.ok(), "{o}");

    e.ok(&["pull", "-q", &tagged]);
    e.ok(&["run", "-d", "--name", "iv", &tagged, "sleep", "1000"]);
    let m = e.ok(&[
        "inspect",
        "-f",
        "{{range .Mounts}}{{.Type}} {{.Destination}} {{.Name}}{{end}}",
        "iv",
    ]);
    let parts: Vec<&str> = m.split(' ').collect();
    assert_eq!(parts[..2], ["volume", "/etc"], "{m}");
    assert_eq!(parts[2].len(), 64, "{m}");
    assert_eq!(volume_names(&e), vec![parts[2].to_string()]);
    // Filled from the image (copy-up).
    let mp = e.ok(&["volume", "inspect", "-f", "{{.Mountpoint}}", parts[2]]);
    let group =
        std::fs::read_to_string(std::path::Path::new(&mp).join("group")).unwrap_or_default();
    assert!(group.contains("user:x:1000:"), "{group:?}");
    // -v /etc on the command line takes the image's place: no second volume.
    e.ok(&["run", "--rm", "-v", "named:/etc", &tagged, "true"]);
    let mut names = volume_names(&e);
    names.sort();
    assert_eq!(names.len(), 2, "{names:?}");
    assert!(names.contains(&"named".to_string()));
    e.ok(&["rm", "-f", "-v", "iv"]);
    assert_eq!(volume_names(&e), vec!["named".to_string()]);
    assert!(e.mounts().is_empty(), "mounts left: {:?}", e.mounts());
}
