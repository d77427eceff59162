//! `ADD http(s)://...`: the file is downloaded (through [`crate::download`]) into the build's
//! own directory, with docker's rules: named after the URL's last path element when the
//! destination ends in `/` (else the destination names it), mode 0600, the response's
//! `Last-Modified` as its mtime (the epoch when there is none), never extracted; with
//! `--checksum=sha256:<hex>` the content must match.

use std::fs;
use std::io::{self, Read, Write};
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

use sha2::{Digest, Sha256};

/// Why a URL source could not be had.
#[derive(Debug, thiserror::Error)]
pub enum UrlError {
    /// The request or the server's answer (404 and the like).
    #[error(transparent)]
    Download(#[from] crate::download::DownloadError),
    /// No file name in the URL and a destination that is a directory.
    #[error("cannot determine filename from url: {0}")]
    NoName(String),
    /// `--checksum` in a form we do not take.
    #[error(
        "unsupported digest algorithm or format in --checksum={0} (want sha256:<64 hex digits>)"
    )]
    BadChecksum(String),
    /// The content is not what `--checksum` says.
    #[error("digest mismatch for {url}: want {want}, got sha256:{got}")]
    Mismatch {
        /// The URL.
        url: String,
        /// `--checksum`.
        want: String,
        /// What came.
        got: String,
    },
    /// Writing the file.
    #[error("{op} {path}: {source}")]
    Io {
        /// What was being done.
        op: &'static str,
        /// The path.
        path: PathBuf,
        /// The cause.
        source: io::Error,
    },
}

/// A downloaded source.
pub struct Fetched {
    /// Where the file is.
    pub path: PathBuf,
    /// The name it goes by under a directory destination.
    pub name: String,
    /// sha256 of its content (hex).
    pub sha256: String,
}

/// The file name docker gives a URL's download: the last element of its path, without the
/// query or fragment.
pub fn file_name(url: &str) -> Option<String> {
    let rest = url.split_once("://").map_or(url, |x| x.1);
    let rest = rest.split(['?', '#']).next().unwrap_or_default();
    let path = rest.split_once('/').map_or("", |x| x.1);
    let name = path.rsplit('/').next().unwrap_or_default();
    (!name.is_empty() && name != "." && name != "..").then(|| name.to_string())
}

/// Checks `--checksum`'s form; the expected hex digest.
pub fn checksum(spec: &str) -> Result<String, UrlError> {
    match spec.strip_prefix("sha256:") {
        Some(h) if h.len() == 64 && h.bytes().all(|b| b.is_ascii_hexdigit()) => {
            Ok(h.to_ascii_lowercase())
        }
        _ => Err(UrlError::BadChecksum(spec.to_string())),
    }
}

/// Downloads `url` into `dir` (created), named `name` when given else after the URL.
pub fn fetch(
    url: &str,
    dir: &Path,
    name: Option<&str>,
    want: Option<&str>,
) -> Result<Fetched, UrlError> {
    let name = match name {
        Some(n) => n.to_string(),
        None => file_name(url).ok_or_else(|| UrlError::NoName(url.to_string()))?,
    };
    let (mut body, modified) = crate::download::open_with_meta(url)?;
    let ioe = |op: &'static str, p: &Path| {
        let p = p.to_path_buf();
        move |source| UrlError::Io {
            op,
            path: p,
            source,
        }
    };
    fs::create_dir_all(dir).map_err(ioe("create", dir))?;
    let path = dir.join(&name);
    let mut f = fs::File::create(&path).map_err(ioe("create", &path))?;
    let mut h = Sha256::new();
    let mut buf = vec![0u8; 1 << 16];
    loop {
        let n = body.read(&mut buf).map_err(ioe("download to", &path))?;
        if n == 0 {
            break;
        }
        h.update(&buf[..n]);
        f.write_all(&buf[..n]).map_err(ioe("write", &path))?;
    }
    f.sync_all().map_err(ioe("write", &path))?;
    drop(f);
    let sha256 = hex::encode(h.finalize());
    if let Some(w) = want {
        if w != sha256 {
            return Err(UrlError::Mismatch {
                url: url.to_string(),
                want: format!("sha256:{w}"),
                got: sha256,
            });
        }
    }
    fs::set_permissions(&path, fs::Permissions::from_mode(0o600)).map_err(ioe("chmod", &path))?;
    let secs = modified.as_deref().and_then(http_date).unwrap_or(0);
    let t = nix::sys::time::TimeSpec::new(secs, 0);
    nix::sys::stat::utimensat(
        nix::fcntl::AT_FDCWD,
        &path,
        &t,
        &t,
        nix::sys::stat::UtimensatFlags::NoFollowSymlink,
    )
    .map_err(|e| UrlError::Io {
        op: "set the mtime of",
        path: path.clone(),
        source: e.into(),
    })?;
    Ok(Fetched { path, name, sha256 })
}

/// An HTTP date (`Sun, 06 Nov 1994 08:49:37 GMT`, RFC 7231's preferred form, the one
/// servers send) as seconds since the epoch.
pub fn http_date(s: &str) -> Option<i64> {
    let w: Vec<&str> = s.split_whitespace().collect();
    let [_, day, mon, year, hms, "GMT"] = w.as_slice() else {
        return None;
    };
    let d: i64 = day.parse().ok()?;
    let m = [
        "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
    ]
    .iter()
    .position(|x| x == mon)? as i64
        + 1;
    let y: i64 = year.parse().ok()?;
    let t: Vec<i64> = hms
        .split(':')
        .map(|x| x.parse().ok())
        .collect::<Option<_>>()?;
    let [hh, mm, ss] = t.as_slice() else {
        return None;
    };
    // Howard Hinnant's days_from_civil.
    let y2 = if m <= 2 { y - 1 } else { y };
    let era = y2.div_euclid(400);
    let yoe = y2 - era * 400;
    let mp = (m + 9) % 12;
    let doy = (153 * mp + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    let days = era * 146_097 + doe - 719_468;
    Some(days * 86_400 + hh * 3600 + mm * 60 + ss)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_dates_and_checksums() {
        assert_eq!(
            file_name("http://h:1/a/b.txt?x=1").as_deref(),
            Some("b.txt")
        );
        assert_eq!(file_name("https://h/"), None);
        assert_eq!(file_name("https://h"), None);
        assert_eq!(
            http_date("Sun, 06 Nov 1994 08:49:37 GMT"),
            Some(784_111_777)
        );
        assert_eq!(http_date("Thu, 01 Jan 1970 00:00:00 GMT"), Some(0));
        assert_eq!(http_date("garbage"), None);
        let h = "a".repeat(64);
        assert_eq!(checksum(&format!("sha256:{h}")).ok(), Some(h));
        assert!(checksum("md5:abc").is_err());
    }
}
