//! Busybox root filesystems: the bundles of the CLI tests and the client tests' images.

use super::files::{make_dir, write_file};
use std::fs;
use std::os::unix::fs::{symlink, PermissionsExt};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;

/// The host's static busybox (Debian's busybox-static).
pub const HOST_BUSYBOX: &str = "/bin/busybox";
/// Work directories of the CLI tests, and the cached busybox copy, live below this one.
pub const WORK_ROOT: &str = "/tmp/ongi-test";

/// Applets of the host's static busybox.
pub fn busybox_applets() -> &'static [String] {
    static APPLETS: OnceLock<Vec<String>> = OnceLock::new();
    APPLETS.get_or_init(|| {
        let out = Command::new(HOST_BUSYBOX)
            .arg("--list")
            .output()
            .expect("run /bin/busybox --list (install busybox-static)");
        String::from_utf8_lossy(&out.stdout)
            .lines()
            .map(str::trim)
            .filter(|a| !a.is_empty() && *a != "busybox" && !a.contains('/'))
            .map(String::from)
            .collect()
    })
}

/// A private copy of the busybox binary that bundles hard-link to, so that a
/// runtime misbehaving on the rootfs (chmod, chown) never touches the host's
/// `/bin/busybox`.  Shared by all test processes; replaced atomically.
fn cached_busybox() -> &'static Path {
    static CACHED: OnceLock<PathBuf> = OnceLock::new();
    CACHED.get_or_init(|| {
        let dir = Path::new(WORK_ROOT);
        make_dir(dir);
        let path = dir.join("busybox");
        let host_len = fs::metadata(HOST_BUSYBOX).expect("stat /bin/busybox").len();
        let fresh = fs::symlink_metadata(&path).is_ok_and(|m| {
            m.is_file() && m.len() == host_len && m.permissions().mode() & 0o7777 == 0o755
        });
        if !fresh {
            let tmp = dir.join(format!("busybox.tmp-{}", std::process::id()));
            fs::copy(HOST_BUSYBOX, &tmp).expect("copy /bin/busybox");
            fs::set_permissions(&tmp, fs::Permissions::from_mode(0o755)).expect("chmod busybox");
            fs::rename(&tmp, &path).expect("install cached busybox");
        }
        path
    })
}

/// Populates `rootfs` with busybox, its applet symlinks and the usual
/// directories and account files.
pub fn build_rootfs(rootfs: &Path) {
    for dir in [
        "bin",
        "proc",
        "sys",
        "dev",
        "tmp",
        "etc",
        "root",
        "home/user",
    ] {
        make_dir(&rootfs.join(dir));
    }
    fs::set_permissions(rootfs.join("tmp"), fs::Permissions::from_mode(0o1777)).expect("chmod tmp");
    let busybox = rootfs.join("bin/busybox");
    if fs::hard_link(cached_busybox(), &busybox).is_err() {
        fs::copy(cached_busybox(), &busybox).expect("copy busybox into rootfs");
    }
    for applet in busybox_applets() {
        symlink("busybox", rootfs.join("bin").join(applet)).expect("applet symlink");
    }
    write_file(
        &rootfs.join("etc/passwd"),
        "root:x:0:0:root:/root:/bin/sh\nuser:x:1000:1000::/home/user:/bin/sh\n",
    );
    write_file(&rootfs.join("etc/group"), "root:x:0:\nuser:x:1000:\n");
}
