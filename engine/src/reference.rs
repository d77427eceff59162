//! Image references as docker writes them: `[registry/]repository[:tag][@digest]`, with
//! docker's defaults (registry `docker.io`, namespace `library/` for one-component names on
//! docker.io, tag `latest`) and docker's grammar (distribution/reference).

use std::fmt;

/// The registry a reference without one points at.
pub const DEFAULT_REGISTRY: &str = "docker.io";
/// The tag a reference without tag or digest points at.
pub const DEFAULT_TAG: &str = "latest";

/// Why a reference was refused.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum ReferenceError {
    /// The reference is empty.
    #[error("invalid reference format: empty reference")]
    Empty,
    /// Docker refuses upper case in repository names with this wording.
    #[error("invalid reference format: repository name ({0}) must be lowercase")]
    Uppercase(String),
    /// Anything else the grammar refuses, with the part that failed.
    #[error("invalid reference format: {what} in {reference:?}")]
    Invalid {
        /// The whole reference as given.
        reference: String,
        /// What is wrong with it.
        what: String,
    },
}

/// A parsed, fully qualified image reference.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Reference {
    /// Registry host (and port), e.g. `docker.io`, `127.0.0.1:5000`.
    pub registry: String,
    /// Repository path inside the registry, e.g. `library/busybox`.
    pub repository: String,
    /// The tag, if one was given (or defaulted: see [`Reference::parse`]).
    pub tag: Option<String>,
    /// The digest (`sha256:...`), if one was given.
    pub digest: Option<String>,
}

fn invalid(reference: &str, what: impl Into<String>) -> ReferenceError {
    ReferenceError::Invalid {
        reference: reference.to_string(),
        what: what.into(),
    }
}

/// `[a-z0-9]+(?:(?:[._]|__|[-]+)[a-z0-9]+)*`
fn valid_component(c: &str) -> bool {
    let b = c.as_bytes();
    if b.is_empty() || !is_alnum(b[0]) || !is_alnum(b[b.len() - 1]) {
        return false;
    }
    let mut i = 0;
    while i < b.len() {
        if is_alnum(b[i]) {
            i += 1;
            continue;
        }
        // A separator run: ".", "_", "__" or one or more "-".
        let start = i;
        while i < b.len() && !is_alnum(b[i]) {
            i += 1;
        }
        let sep = &c[start..i];
        let ok = matches!(sep, "." | "_" | "__") || sep.bytes().all(|x| x == b'-');
        if !ok {
            return false;
        }
    }
    true
}

fn is_alnum(x: u8) -> bool {
    x.is_ascii_lowercase() || x.is_ascii_digit()
}

fn valid_tag(t: &str) -> bool {
    let b = t.as_bytes();
    !b.is_empty()
        && b.len() <= 128
        && (b[0].is_ascii_alphanumeric() || b[0] == b'_')
        && b.iter()
            .all(|x| x.is_ascii_alphanumeric() || matches!(x, b'_' | b'.' | b'-'))
}

fn valid_digest(d: &str) -> bool {
    match d.split_once(':') {
        Some(("sha256", hex)) => {
            hex.len() == 64 && hex.bytes().all(|x| matches!(x, b'0'..=b'9' | b'a'..=b'f'))
        }
        Some(("sha512", hex)) => {
            hex.len() == 128 && hex.bytes().all(|x| matches!(x, b'0'..=b'9' | b'a'..=b'f'))
        }
        _ => false,
    }
}

fn valid_registry(r: &str) -> bool {
    let (host, port) = match r.rsplit_once(':') {
        Some((h, p)) if !h.ends_with(']') || r.starts_with('[') => (h, Some(p)),
        _ => (r, None),
    };
    let host_ok = if host.starts_with('[') && host.ends_with(']') {
        host[1..host.len() - 1]
            .parse::<std::net::Ipv6Addr>()
            .is_ok()
    } else {
        !host.is_empty()
            && host.split('.').all(|l| {
                !l.is_empty()
                    && l.bytes().all(|x| x.is_ascii_alphanumeric() || x == b'-')
                    && !l.starts_with('-')
                    && !l.ends_with('-')
            })
    };
    host_ok
        && port
            .is_none_or(|p| !p.is_empty() && p.len() <= 5 && p.bytes().all(|x| x.is_ascii_digit()))
}

impl Reference {
    /// Parses a reference the way `docker pull` does. A reference with neither tag nor
    /// digest gets the tag `latest`.
    pub fn parse(s: &str) -> Result<Reference, ReferenceError> {
        if s.is_empty() {
            return Err(ReferenceError::Empty);
        }
        let (rest, digest) = match s.split_once('@') {
            Some((r, d)) => {
                if !valid_digest(d) {
                    return Err(invalid(s, format!("invalid digest {d:?}")));
                }
                (r, Some(d.to_string()))
            }
            None => (s, None),
        };
        // A tag is after the last ':' that follows the last '/'.
        let last_slash = rest.rfind('/').map_or(0, |i| i + 1);
        let (name, tag) = match rest[last_slash..].rfind(':') {
            Some(i) => {
                let t = &rest[last_slash + i + 1..];
                if !valid_tag(t) {
                    return Err(invalid(s, format!("invalid tag {t:?}")));
                }
                (&rest[..last_slash + i], Some(t.to_string()))
            }
            None => (rest, None),
        };
        if name.is_empty() {
            return Err(invalid(s, "empty repository name"));
        }
        let (registry, path) = match name.split_once('/') {
            Some((first, more))
                if first.contains(['.', ':']) || first == "localhost" || first.starts_with('[') =>
            {
                (first.to_string(), more.to_string())
            }
            _ => (DEFAULT_REGISTRY.to_string(), name.to_string()),
        };
        if !valid_registry(&registry) {
            return Err(invalid(s, format!("invalid registry {registry:?}")));
        }
        if path.bytes().any(|x| x.is_ascii_uppercase()) {
            return Err(ReferenceError::Uppercase(name.to_string()));
        }
        for c in path.split('/') {
            if !valid_component(c) {
                return Err(invalid(
                    s,
                    format!("invalid repository path component {c:?}"),
                ));
            }
        }
        if name.len() > 255 {
            return Err(invalid(s, "repository name longer than 255 characters"));
        }
        let repository = if registry == DEFAULT_REGISTRY && !path.contains('/') {
            format!("library/{path}")
        } else {
            path
        };
        let tag = match (&tag, &digest) {
            (None, None) => Some(DEFAULT_TAG.to_string()),
            _ => tag,
        };
        Ok(Reference {
            registry,
            repository,
            tag,
            digest,
        })
    }

    /// `registry/repository`, fully qualified.
    pub fn name(&self) -> String {
        format!("{}/{}", self.registry, self.repository)
    }

    /// The repository as docker shows it: `busybox` for `docker.io/library/busybox`,
    /// `user/app` for `docker.io/user/app`, the full name for other registries.
    pub fn familiar_name(&self) -> String {
        if self.registry == DEFAULT_REGISTRY {
            self.repository
                .strip_prefix("library/")
                .unwrap_or(&self.repository)
                .to_string()
        } else {
            self.name()
        }
    }

    /// The familiar name with its tag (`busybox:latest`), as `docker images` and `ps` show it.
    pub fn familiar(&self) -> String {
        let mut s = self.familiar_name();
        if let Some(t) = &self.tag {
            s.push(':');
            s.push_str(t);
        }
        if let Some(d) = &self.digest {
            s.push('@');
            s.push_str(d);
        }
        s
    }

    /// The same reference with a digest in place of a tag.
    pub fn with_digest(&self, digest: &str) -> Reference {
        Reference {
            tag: None,
            digest: Some(digest.to_string()),
            ..self.clone()
        }
    }
}

impl fmt::Display for Reference {
    /// The fully qualified form, `docker.io/library/busybox:latest`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.name())?;
        if let Some(t) = &self.tag {
            write!(f, ":{t}")?;
        }
        if let Some(d) = &self.digest {
            write!(f, "@{d}")?;
        }
        Ok(())
    }
}

/// Is `s` a (possibly abbreviated) hex image or container id rather than a name?
pub fn looks_like_id_prefix(s: &str) -> bool {
    let s = s.strip_prefix("sha256:").unwrap_or(s);
    !s.is_empty() && s.len() <= 64 && s.bytes().all(|x| matches!(x, b'0'..=b'9' | b'a'..=b'f'))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p(s: &str) -> Reference {
        match Reference::parse(s) {
            Ok(r) => r,
            Err(e) => panic!("{s}: {e}"),
        }
    }

    #[test]
    fn docker_defaults() {
        let r = p("busybox");
        assert_eq!(r.to_string(), "docker.io/library/busybox:latest");
        assert_eq!(r.familiar(), "busybox:latest");
        assert_eq!(p("user/app:1.0").to_string(), "docker.io/user/app:1.0");
        assert_eq!(p("user/app:1.0").familiar(), "user/app:1.0");
    }

    #[test]
    fn registries_and_ports() {
        let r = p("127.0.0.1:5000/test/busybox:v1");
        assert_eq!(
            (r.registry.as_str(), r.repository.as_str(), r.tag.as_deref()),
            ("127.0.0.1:5000", "test/busybox", Some("v1"))
        );
        assert_eq!(r.familiar(), "127.0.0.1:5000/test/busybox:v1");
        assert_eq!(p("localhost/app").registry, "localhost");
        assert_eq!(p("localhost:5000/app").registry, "localhost:5000");
        // A first component without '.', ':' or "localhost" is a path, not a registry.
        assert_eq!(p("myhost/app").registry, "docker.io");
    }

    #[test]
    fn digests() {
        let d = format!("sha256:{}", "a".repeat(64));
        let r = p(&format!("busybox@{d}"));
        assert_eq!(
            (r.tag.clone(), r.digest.as_deref()),
            (None, Some(d.as_str()))
        );
        let r = p(&format!("busybox:1@{d}"));
        assert_eq!(r.tag.as_deref(), Some("1"));
        assert!(Reference::parse("busybox@sha256:abc").is_err());
    }

    #[test]
    fn refused() {
        assert_eq!(
            Reference::parse("Busybox"),
            Err(ReferenceError::Uppercase("Busybox".into()))
        );
        for bad in [
            "", "a//b", "-a", "a:", "a:-x", "a b", "a/b_-c", "a:b:c", ":tag", "a@", "host:/x",
        ] {
            assert!(Reference::parse(bad).is_err(), "{bad} accepted");
        }
        assert!(Reference::parse(&format!("a:{}", "x".repeat(129))).is_err());
    }

    #[test]
    fn id_prefixes() {
        assert!(looks_like_id_prefix("3f57d9401f8d"));
        assert!(looks_like_id_prefix("sha256:3f57"));
        assert!(!looks_like_id_prefix("busybox"));
    }
}
