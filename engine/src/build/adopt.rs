//! A finished step's upper directory becomes the step's unpacked layer by a rename,
//! instead of the layer being unpacked again from the tar just made of it (and the upper
//! deleted): on a disk where every freed block is discarded synchronously, writing and then
//! deleting a few thousand files cost seconds per COPY. The upper already is in the layout
//! a lower layer needs (overlay whiteouts and opaque dirs); what differs from an unpack of
//! its tar is made equal first: the files the tar left out are removed, and times are those
//! the tar records (whole seconds, clamped to SOURCE_DATE_EPOCH), so a later step sees the
//! same tree whether this step ran or came from the cache.

use std::fs;
use std::io;
use std::os::unix::fs::MetadataExt;
use std::path::Path;

use nix::sys::stat::{utimensat, UtimensatFlags};
use nix::sys::time::TimeSpec;

/// Moves `upper` to `dest` (a layer directory that must not exist yet) and notes its size
/// beside it as an unpack does. `skip`: paths (relative) the layer tar left out.
pub fn adopt(upper: &Path, skip: &[String], epoch: Option<u64>, dest: &Path) -> io::Result<()> {
    for s in skip {
        fs::remove_file(upper.join(s))?;
    }
    let size = settle(upper, epoch)?;
    fs::write(dest.with_extension("size"), size.to_string())?;
    fs::rename(upper, dest)
}

/// Sets every entry's times as a tar unpack would; returns the sum of regular file sizes.
fn settle(p: &Path, epoch: Option<u64>) -> io::Result<u64> {
    let md = fs::symlink_metadata(p)?;
    let mut size = 0;
    if md.is_dir() {
        for e in fs::read_dir(p)? {
            size += settle(&e?.path(), epoch)?;
        }
    } else if md.is_file() {
        size += md.len();
    }
    // Directories after their entries: setting an entry's times leaves its directory's
    // alone, but removing a skipped file above changed it.
    let secs = u64::try_from(md.mtime()).unwrap_or(0);
    let secs = epoch.map_or(secs, |e| secs.min(e));
    let t = TimeSpec::new(i64::try_from(secs).unwrap_or(0), 0);
    utimensat(
        nix::fcntl::AT_FDCWD,
        p,
        &t,
        &t,
        UtimensatFlags::NoFollowSymlink,
    )
    .map_err(io::Error::from)?;
    Ok(size)
}
