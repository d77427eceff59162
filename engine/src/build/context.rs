//! The build context: a directory, filtered by `.dockerignore` (or `<Dockerfile>.dockerignore`)
//! with docker's pattern rules (patterns cleaned, a leading `/` dropped, `*`, `?`, `[...]`
//! within a path element, `**` across elements, `!` exceptions, the last matching pattern
//! wins, a path is excluded when it or a parent directory matches). COPY/ADD sources are
//! resolved in it (wildcards, never outside it) and only the files a step reads are hashed.

use std::fs;
use std::io::{self, Read};
use std::os::unix::fs::MetadataExt;
use std::path::{Component, Path, PathBuf};

use sha2::{Digest, Sha256};

/// Why a context path could not be used.
#[derive(Debug, thiserror::Error)]
pub enum ContextError {
    /// The source lies outside the context.
    #[error("forbidden path outside the build context: {0} ()")]
    Outside(String),
    /// Nothing in the (filtered) context matches.
    #[error("file not found in build context or excluded by .dockerignore: stat {0}: file does not exist")]
    NotFound(String),
    /// Reading the context.
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

fn ioe<'a>(op: &'static str, p: &'a Path) -> impl FnOnce(io::Error) -> ContextError + 'a {
    move |source| ContextError::Io {
        op,
        path: p.to_path_buf(),
        source,
    }
}

/// One `.dockerignore` pattern.
#[derive(Debug, Clone)]
struct Pattern {
    elems: Vec<String>,
    exclusion: bool,
}

/// A build context directory and its ignore rules.
#[derive(Debug, Clone)]
pub struct Context {
    /// The context directory.
    pub root: PathBuf,
    patterns: Vec<Pattern>,
}

/// Cleans a slash path lexically (Go's `filepath.Clean`), without a leading `/`; `None`
/// when it climbs above its start.
pub fn clean(p: &str) -> Option<String> {
    let mut out: Vec<&str> = Vec::new();
    for c in p.split('/') {
        match c {
            "" | "." => {}
            ".." => {
                out.pop()?;
            }
            x => out.push(x),
        }
    }
    Some(out.join("/"))
}

impl Context {
    /// The context at `root`; ignore rules from `<dockerfile>.dockerignore` beside the
    /// Dockerfile if it exists, else `root/.dockerignore`.
    pub fn open(root: &Path, dockerfile: &Path) -> Result<Context, ContextError> {
        let mut specific = dockerfile.as_os_str().to_owned();
        specific.push(".dockerignore");
        let specific = PathBuf::from(specific);
        let file = if specific.is_file() {
            specific
        } else {
            root.join(".dockerignore")
        };
        let text = match fs::read_to_string(&file) {
            Ok(t) => t,
            Err(e) if e.kind() == io::ErrorKind::NotFound => String::new(),
            Err(e) => return Err(ioe("read", &file)(e)),
        };
        Ok(Context {
            root: root.to_path_buf(),
            patterns: parse_ignore(&text),
        })
    }

    /// A tree without ignore rules (another stage's or an image's rootfs).
    pub fn plain(root: &Path) -> Context {
        Context {
            root: root.to_path_buf(),
            patterns: Vec::new(),
        }
    }

    /// Is `rel` (a cleaned slash path in the context) excluded?
    pub fn excluded(&self, rel: &str) -> bool {
        if rel.is_empty() {
            return false;
        }
        let parts: Vec<&str> = rel.split('/').collect();
        let mut out = false;
        for p in &self.patterns {
            // The path or one of its parents matching the pattern counts.
            let hit = (1..=parts.len()).any(|n| match_elems(&p.elems, &parts[..n]));
            if hit {
                out = !p.exclusion;
            }
        }
        out
    }

    /// The context paths a COPY source names (wildcards expanded, sorted), relative and
    /// cleaned. Errors for a source outside the context or nothing found.
    pub fn resolve(&self, src: &str) -> Result<Vec<String>, ContextError> {
        let rel = clean(src).ok_or_else(|| ContextError::Outside(src.to_string()))?;
        let has_glob = rel.contains(['*', '?', '[']);
        if !has_glob {
            let full = secure_join(&self.root, &rel);
            if self.excluded(&rel) || fs::symlink_metadata(&full).is_err() {
                return Err(ContextError::NotFound(src.to_string()));
            }
            return Ok(vec![rel]);
        }
        let want: Vec<String> = rel.split('/').map(String::from).collect();
        let mut found = Vec::new();
        self.glob(&want, 0, String::new(), &mut found)?;
        found.sort();
        if found.is_empty() {
            return Err(ContextError::NotFound(src.to_string()));
        }
        Ok(found)
    }

    fn glob(
        &self,
        want: &[String],
        i: usize,
        prefix: String,
        found: &mut Vec<String>,
    ) -> Result<(), ContextError> {
        if i == want.len() {
            if !self.excluded(&prefix) {
                found.push(prefix);
            }
            return Ok(());
        }
        let dir = self.root.join(&prefix);
        let rd = match fs::read_dir(&dir) {
            Ok(r) => r,
            Err(_) => return Ok(()),
        };
        for e in rd {
            let e = e.map_err(ioe("read directory", &dir))?;
            let name = e.file_name().to_string_lossy().into_owned();
            if elem_match(&want[i], &name) {
                let p = if prefix.is_empty() {
                    name
                } else {
                    format!("{prefix}/{name}")
                };
                self.glob(want, i + 1, p, found)?;
            }
        }
        Ok(())
    }

    /// A hash of what `rel` holds, by content, mode and names, never mtimes: files under a
    /// directory in name order, excluded ones left out.
    pub fn hash(&self, rel: &str, h: &mut Sha256) -> Result<(), ContextError> {
        // The source itself is followed (COPY copies a symlink source's target, as docker
        // does); what is under a directory is taken as it is (a symlink is its target text).
        self.hash_at(&secure_join(&self.root, rel), rel, h)
    }

    fn hash_at(&self, full: &Path, rel: &str, h: &mut Sha256) -> Result<(), ContextError> {
        let md = fs::symlink_metadata(full).map_err(ioe("stat", full))?;
        h.update(format!("{rel}\0{:o}\0", md.mode()).as_bytes());
        if md.file_type().is_symlink() {
            let t = fs::read_link(full).map_err(ioe("read link", full))?;
            h.update(t.as_os_str().as_encoded_bytes());
        } else if md.is_file() {
            let mut f = fs::File::open(full).map_err(ioe("open", full))?;
            // A stack buffer: a fresh zeroed 64 KiB per file cost more than the hashing on
            // a context of thousands of small files.
            let mut buf = [0u8; 16 * 1024];
            loop {
                let n = f.read(&mut buf).map_err(ioe("read", full))?;
                if n == 0 {
                    break;
                }
                h.update(&buf[..n]);
            }
        } else if md.is_dir() {
            let mut names: Vec<String> = fs::read_dir(full)
                .map_err(ioe("read directory", full))?
                .filter_map(|e| e.ok())
                .map(|e| e.file_name().to_string_lossy().into_owned())
                .collect();
            names.sort();
            for n in names {
                let child = full.join(&n);
                let r = if rel.is_empty() {
                    n
                } else {
                    format!("{rel}/{n}")
                };
                // An excluded directory may hold re-included (`!`) files: walked anyway.
                let is_dir = fs::symlink_metadata(&child).is_ok_and(|m| m.is_dir());
                if is_dir || !self.excluded(&r) {
                    self.hash_at(&child, &r, h)?;
                }
            }
        }
        h.update(b"\n");
        Ok(())
    }
}

fn parse_ignore(text: &str) -> Vec<Pattern> {
    let mut out = Vec::new();
    for l in text.lines() {
        let l = l.trim();
        if l.is_empty() || l.starts_with('#') {
            continue;
        }
        let (exclusion, p) = match l.strip_prefix('!') {
            Some(r) => (true, r.trim()),
            None => (false, l),
        };
        // Go's filepath.Clean, then the leading slash dropped.
        let Some(c) = clean(p) else { continue };
        if c.is_empty() {
            continue;
        }
        out.push(Pattern {
            elems: c.split('/').map(String::from).collect(),
            exclusion,
        });
    }
    out
}

/// Matches pattern elements against path elements; `**` takes any number of elements.
fn match_elems(pat: &[String], path: &[&str]) -> bool {
    match pat.first() {
        None => path.is_empty(),
        Some(p) if p == "**" => (0..=path.len()).any(|k| match_elems(&pat[1..], &path[k..])),
        Some(p) => !path.is_empty() && elem_match(p, path[0]) && match_elems(&pat[1..], &path[1..]),
    }
}

/// Go's `filepath.Match` for one path element: `*`, `?`, `[...]` (with `^`/`!` and
/// ranges), `\` escaping.
pub fn elem_match(pat: &str, name: &str) -> bool {
    fn go(p: &[char], n: &[char]) -> bool {
        match p.first() {
            None => n.is_empty(),
            Some('*') => (0..=n.len()).any(|k| go(&p[1..], &n[k..])),
            Some('?') => !n.is_empty() && go(&p[1..], &n[1..]),
            Some('[') => {
                let Some(c) = n.first() else { return false };
                let mut i = 1;
                let neg = matches!(p.get(1), Some('^') | Some('!'));
                if neg {
                    i += 1;
                }
                let mut hit = false;
                let mut first = true;
                while i < p.len() && (p[i] != ']' || first) {
                    first = false;
                    let lo = if p[i] == '\\' && i + 1 < p.len() {
                        i += 1;
                        p[i]
                    } else {
                        p[i]
                    };
                    if p.get(i + 1) == Some(&'-') && p.get(i + 2).is_some_and(|x| *x != ']') {
                        let hi = p[i + 2];
                        hit |= lo <= *c && *c <= hi;
                        i += 3;
                    } else {
                        hit |= lo == *c;
                        i += 1;
                    }
                }
                if i >= p.len() {
                    return false;
                }
                hit != neg && go(&p[i + 1..], &n[1..])
            }
            Some('\\') if p.len() > 1 => n.first() == Some(&p[1]) && go(&p[2..], &n[1..]),
            Some(x) => n.first() == Some(x) && go(&p[1..], &n[1..]),
        }
    }
    let p: Vec<char> = pat.chars().collect();
    let n: Vec<char> = name.chars().collect();
    go(&p, &n)
}

/// `root` joined with `path` with every symlink on the way resolved inside `root`, as if
/// `root` were `/` (a rootfs's absolute link cannot lead out of it).
pub fn secure_join(root: &Path, path: &str) -> PathBuf {
    let mut parts: Vec<String> = Vec::new();
    let mut todo: Vec<String> = path.split('/').rev().map(String::from).collect();
    let mut hops = 0;
    while let Some(c) = todo.pop() {
        match c.as_str() {
            "" | "." => continue,
            ".." => {
                parts.pop();
                continue;
            }
            _ => {}
        }
        let mut cand = root.to_path_buf();
        cand.extend(&parts);
        cand.push(&c);
        match fs::read_link(&cand) {
            Ok(t) if hops < 255 => {
                hops += 1;
                let t = t.to_string_lossy().into_owned();
                if t.starts_with('/') {
                    parts.clear();
                }
                todo.extend(t.split('/').rev().map(String::from));
            }
            _ => parts.push(c),
        }
    }
    let mut out = root.to_path_buf();
    for p in parts {
        out.push(p);
    }
    out
}

/// `p` has no `..` or root components (a relative path that stays below its start).
pub fn is_below(p: &Path) -> bool {
    p.components()
        .all(|c| matches!(c, Component::Normal(_) | Component::CurDir))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ctx(ignore: &str) -> Context {
        Context {
            root: PathBuf::from("/nonexistent"),
            patterns: parse_ignore(ignore),
        }
    }

    #[test]
    fn dockerignore_rules() {
        let c = ctx("# comment\n*.log\n/build\n**/tmp\nsecret*\n!secret.pub\ndocs/**/*.md\n");
        assert!(c.excluded("a.log"));
        assert!(!c.excluded("sub/a.log"), "* does not cross /");
        assert!(c.excluded("build"));
        assert!(c.excluded("build/x/y"), "a parent matching excludes");
        assert!(c.excluded("tmp") && c.excluded("a/b/tmp/c"));
        assert!(c.excluded("secret.key"));
        assert!(!c.excluded("secret.pub"), "! re-includes");
        assert!(c.excluded("docs/a.md") && c.excluded("docs/x/y/a.md"));
        assert!(!c.excluded("docs/a.txt"));
        assert!(!c.excluded("src/main.rs"));
    }

    #[test]
    fn element_globs() {
        assert!(elem_match("a?c", "abc") && !elem_match("a?c", "ac"));
        assert!(elem_match("[a-c]x", "bx") && !elem_match("[!a-c]x", "bx"));
        assert!(elem_match("*.txt", "f.txt") && !elem_match("*.txt", "f.txt.bak"));
        assert!(elem_match("\\*", "*") && !elem_match("\\*", "a"));
    }

    #[test]
    fn clean_refuses_escapes() {
        assert_eq!(clean("./a/../b/"), Some("b".into()));
        assert_eq!(clean("/x//y"), Some("x/y".into()));
        assert_eq!(clean("../x"), None);
        assert_eq!(clean("a/../../x"), None);
    }
}
