//! `ongictl build -`: the context comes on stdin, as docker takes it. A tar (plain or
//! gzip) is the context, unpacked into a private directory under the store's `tmp` (a
//! killed build's copy is a dead `@tmp-*` entry `system check` removes); anything else is
//! a Dockerfile with an empty context.

use std::fs;
use std::io::{self, BufRead, BufReader, Read};
use std::path::{Path, PathBuf};

use super::BuildError;
use crate::store::{self, Store};

/// A context unpacked from stdin; removed when dropped.
pub struct StdinContext {
    /// The context directory.
    pub dir: PathBuf,
    /// The input was a tar (else it was the Dockerfile, now `dir/Dockerfile`).
    pub was_tar: bool,
}

impl Drop for StdinContext {
    fn drop(&mut self) {
        let _ = fs::remove_dir_all(&self.dir);
    }
}

fn ioe<'a>(op: &'static str, p: &'a Path) -> impl FnOnce(io::Error) -> BuildError + 'a {
    move |source| BuildError::Io {
        op,
        path: p.to_path_buf(),
        source,
    }
}

/// Is this the start of a tar stream (the `ustar` magic at 257, or an all-zero first block
/// of an empty archive)?
fn looks_like_tar(head: &[u8]) -> bool {
    head.len() >= 512 && (&head[257..262] == b"ustar" || head[..512].iter().all(|b| *b == 0))
}

/// Reads `input` into a new context directory under the store.
pub fn unpack(store: &Store, input: impl Read) -> Result<StdinContext, BuildError> {
    let dir = store::tempfile_path(&store.root.join("tmp"), "buildctx");
    fs::create_dir_all(&dir).map_err(ioe("create", &dir))?;
    let mut ctx = StdinContext { dir, was_tar: true };
    let mut r = BufReader::with_capacity(64 * 1024, input);
    let head = r.fill_buf().map_err(ioe("read stdin", &ctx.dir))?.to_vec();
    let stream: Box<dyn Read> = if head.starts_with(&[0x1f, 0x8b]) {
        Box::new(flate2::read::GzDecoder::new(r))
    } else if looks_like_tar(&head) {
        Box::new(r)
    } else {
        let mut text = Vec::new();
        r.read_to_end(&mut text)
            .map_err(ioe("read stdin", &ctx.dir))?;
        let p = ctx.dir.join("Dockerfile");
        fs::write(&p, text).map_err(ioe("write", &p))?;
        ctx.was_tar = false;
        return Ok(ctx);
    };
    let mut a = tar::Archive::new(stream);
    // Modes come with the files (COPY keeps them); owners do not (COPY makes them root's
    // unless --chown). `unpack` refuses entries that leave the directory.
    a.set_preserve_permissions(true);
    a.set_preserve_ownerships(false);
    a.set_overwrite(true);
    a.unpack(&ctx.dir).map_err(|e| BuildError::Io {
        op: "unpack the context tar from stdin into",
        path: ctx.dir.clone(),
        source: e,
    })?;
    Ok(ctx)
}

#[cfg(test)]
mod tests {
    #[test]
    fn tar_magic() {
        let mut h = vec![0u8; 512];
        assert!(super::looks_like_tar(&h));
        h[0] = b'F';
        assert!(!super::looks_like_tar(&h));
        h[257..262].copy_from_slice(b"ustar");
        assert!(super::looks_like_tar(&h));
        assert!(!super::looks_like_tar(b"FROM busybox\n"));
    }
}
