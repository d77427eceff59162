//! `import URL`: a tarball fetched over HTTP or HTTPS and handed on as a byte stream while
//! it downloads (never held whole in memory or spooled to disk), as docker's import of a
//! URL does. The download runs on a thread of its own with a small tokio runtime; the
//! reader sees the body in chunks, and a failure mid-way (a connection cut short of its
//! Content-Length, a time-out) as a read error, so the import fails and keeps nothing.

use std::io::{self, Read};
use std::sync::mpsc::{sync_channel, Receiver};
use std::time::Duration;

use futures_util::StreamExt;

/// Why a URL could not be opened.
#[derive(Debug, thiserror::Error)]
pub enum DownloadError {
    /// The request failed (no connection, bad URL, TLS).
    #[error("Get {url:?}: {source}")]
    Request {
        /// The URL.
        url: String,
        /// The cause.
        source: reqwest::Error,
    },
    /// The server answered with an error status (docker's wording).
    #[error("failed to GET {url} with status {status}")]
    Status {
        /// The URL.
        url: String,
        /// The HTTP status.
        status: reqwest::StatusCode,
    },
    /// The download thread could not be set up.
    #[error("Get {url:?}: {why}")]
    Setup {
        /// The URL.
        url: String,
        /// What went wrong.
        why: String,
    },
}

/// Is `s` a URL `import` downloads rather than a file?
pub fn is_url(s: &str) -> bool {
    s.starts_with("http://") || s.starts_with("https://")
}

/// Chunks from the download thread; the channel closing is the end of the body.
struct Body {
    rx: Receiver<io::Result<bytes::Bytes>>,
    cur: bytes::Bytes,
}

impl Read for Body {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        while self.cur.is_empty() {
            match self.rx.recv() {
                Ok(Ok(b)) => self.cur = b,
                Ok(Err(e)) => return Err(e),
                Err(_) => return Ok(0),
            }
        }
        let n = buf.len().min(self.cur.len());
        buf[..n].copy_from_slice(&self.cur[..n]);
        self.cur = self.cur.slice(n..);
        Ok(n)
    }
}

/// Starts downloading `url`; returns once the server has answered with success, with the
/// body to read.
pub fn open(url: &str) -> Result<Box<dyn Read + Send>, DownloadError> {
    open_with_meta(url).map(|(r, _)| r)
}

/// [`open`], also giving the response's `Last-Modified` header (`ADD URL` dates the file
/// with it, as docker does).
pub fn open_with_meta(url: &str) -> Result<(Box<dyn Read + Send>, Option<String>), DownloadError> {
    // rustls needs its crypto provider chosen once per process (see registry::client).
    #[allow(deprecated)]
    let _ = rustls::crypto::ring::default_provider().install_default();
    let (tx, rx) = sync_channel::<io::Result<bytes::Bytes>>(16);
    let (head_tx, head_rx) = sync_channel::<Result<Option<String>, DownloadError>>(1);
    let u = url.to_string();
    let setup = |why: String| DownloadError::Setup {
        url: url.to_string(),
        why,
    };
    std::thread::Builder::new()
        .name("import-download".into())
        .spawn(move || {
            let rt = match tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
            {
                Ok(rt) => rt,
                Err(e) => {
                    let _ = head_tx.send(Err(DownloadError::Setup {
                        url: u,
                        why: e.to_string(),
                    }));
                    return;
                }
            };
            rt.block_on(async move {
                let req = reqwest::Client::builder()
                    .connect_timeout(Duration::from_secs(30))
                    .read_timeout(Duration::from_secs(120))
                    .build()
                    .and_then(|c| c.get(&u).build().map(|r| (c, r)));
                let resp = match req {
                    Ok((c, r)) => c.execute(r).await,
                    Err(e) => Err(e),
                };
                let resp = match resp {
                    Ok(r) if r.status().is_success() => r,
                    Ok(r) => {
                        let _ = head_tx.send(Err(DownloadError::Status {
                            url: u,
                            status: r.status(),
                        }));
                        return;
                    }
                    Err(source) => {
                        let _ = head_tx.send(Err(DownloadError::Request { url: u, source }));
                        return;
                    }
                };
                let modified = resp
                    .headers()
                    .get(reqwest::header::LAST_MODIFIED)
                    .and_then(|v| v.to_str().ok())
                    .map(String::from);
                if head_tx.send(Ok(modified)).is_err() {
                    return;
                }
                let mut body = resp.bytes_stream();
                while let Some(chunk) = body.next().await {
                    let chunk = chunk.map_err(|e| io::Error::other(format!("read {u}: {e}")));
                    let failed = chunk.is_err();
                    if tx.send(chunk).is_err() || failed {
                        break;
                    }
                }
            });
        })
        .map_err(|e| setup(e.to_string()))?;
    match head_rx.recv() {
        Ok(Ok(modified)) => Ok((
            Box::new(Body {
                rx,
                cur: bytes::Bytes::new(),
            }),
            modified,
        )),
        Ok(Err(e)) => Err(e),
        Err(_) => Err(setup("the download thread ended without an answer".into())),
    }
}
