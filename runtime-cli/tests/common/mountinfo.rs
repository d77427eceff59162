//! `/proc/<pid>/mountinfo`: parsing, and unmounting what a test left below its directory.

use super::files::path_str;
use std::fs;
use std::path::Path;

/// Mount points (in this process's mount namespace) at or below `dir`, in mountinfo order.
pub fn mounts_under(dir: &Path) -> Vec<String> {
    let info = fs::read_to_string("/proc/self/mountinfo").unwrap_or_default();
    let prefix = path_str(dir);
    info.lines()
        .filter_map(|l| l.split(' ').nth(4))
        .map(unescape_mountinfo)
        .filter(|p| p == prefix || p.starts_with(&format!("{prefix}/")))
        .collect()
}

/// Lazily unmounts anything mounted (in the test's mount namespace) at or
/// below `dir`, deepest first, so that removing `dir` can never recurse into a mount that a
/// misbehaving runtime or client leaked onto the host.
pub fn detach_mounts_under(dir: &Path) {
    let mut points = mounts_under(dir);
    points.sort_by_key(|p| std::cmp::Reverse(p.len()));
    points.dedup();
    for p in points {
        if let Ok(c) = std::ffi::CString::new(p.clone()) {
            // SAFETY: valid NUL-terminated path; MNT_DETACH never blocks.
            if unsafe { libc::umount2(c.as_ptr(), libc::MNT_DETACH) } == 0 {
                eprintln!("teardown: unmounted {p}");
            }
        }
    }
}

/// Decodes the octal escapes (`\040` etc.) used in mountinfo fields.
pub fn unescape_mountinfo(field: &str) -> String {
    let bytes = field.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let octal = bytes
            .get(i + 1..i + 4)
            .filter(|d| d.iter().all(|b| (b'0'..=b'7').contains(b)));
        match octal {
            Some(d) if bytes[i] == b'\\' => {
                out.push(d.iter().fold(0u8, |v, b| (v << 3) | (b - b'0')));
                i += 4;
            }
            _ => {
                out.push(bytes[i]);
                i += 1;
            }
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// One parsed line of `/proc/<pid>/mountinfo`.
#[derive(Clone, Debug)]
pub struct MountInfo {
    /// Path of the mount's root within its filesystem.
    pub root: String,
    pub mount_point: String,
    pub mount_options: Vec<String>,
    pub fs_type: String,
    pub source: String,
    pub super_options: Vec<String>,
}

impl MountInfo {
    /// Whether the per-mount or superblock options include `opt`.
    pub fn has_option(&self, opt: &str) -> bool {
        self.mount_options.iter().any(|o| o == opt) || self.super_options.iter().any(|o| o == opt)
    }
}

/// Parses mountinfo text (as printed by `cat /proc/self/mountinfo`).
pub fn parse_mountinfo(text: &str) -> Vec<MountInfo> {
    text.lines()
        .filter_map(|line| {
            let (pre, post) = line.split_once(" - ")?;
            let pre: Vec<&str> = pre.split(' ').collect();
            let post: Vec<&str> = post.split(' ').collect();
            let split = |s: &str| s.split(',').map(String::from).collect::<Vec<_>>();
            Some(MountInfo {
                root: unescape_mountinfo(pre.get(3)?),
                mount_point: unescape_mountinfo(pre.get(4)?),
                mount_options: split(pre.get(5)?),
                fs_type: post.first()?.to_string(),
                source: post.get(1)?.to_string(),
                super_options: split(post.get(2).unwrap_or(&"")),
            })
        })
        .collect()
}

/// The last (i.e. visible) mount at `point`.
#[track_caller]
pub fn mount_at<'a>(mounts: &'a [MountInfo], point: &str) -> &'a MountInfo {
    mounts
        .iter()
        .rev()
        .find(|m| m.mount_point == point)
        .unwrap_or_else(|| panic!("no mount at {point} in {mounts:#?}"))
}
