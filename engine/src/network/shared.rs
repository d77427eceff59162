//! `--network container:NAME|ID`: the container joins another one's network namespace, as
//! docker's. At create the name is resolved to the full id (what docker's
//! `HostConfig.NetworkMode` shows, and what survives a rename) and the container takes the
//! other's hostname (docker copies `Config.Hostname`; `-h` is refused); at each start the
//! other must run, and the new container joins `/proc/<its pid>/ns/net` and bind-mounts
//! its /etc/hosts, /etc/hostname and /etc/resolv.conf (docker shares those files too).
//!
//! When the joined container stops, its namespace loses its interfaces (its veth and
//! bind mount go) but lives on in the joining container's processes, which keep only
//! loopback: docker's behaviour too; a restart of the joined one does not bring them back.

use std::path::{Path, PathBuf};

use super::NetworkError;
use crate::container::Settings;
use crate::store::Store;

/// The prefix of the mode.
pub const PREFIX: &str = "container:";

/// The container named by a `container:` mode, if it is one.
pub fn target(mode: &str) -> Option<&str> {
    mode.strip_prefix(PREFIX)
}

/// docker's checks of the other flags against `container:` (runconfig's
/// validateNetContainerMode and its wording).
pub fn check_flags(
    o: &super::options::NetOptions,
    mode: &str,
    hostname: bool,
) -> Result<(), NetworkError> {
    let Some(t) = target(mode) else {
        return Ok(());
    };
    let conflict = |what: &str| {
        Err(NetworkError::Invalid(format!(
            "conflicting options: {what}"
        )))
    };
    if t.is_empty() {
        return Err(NetworkError::Invalid(
            "Invalid network mode: invalid container format container:<name|id>".into(),
        ));
    }
    if hostname {
        return conflict("hostname and the network mode");
    }
    if !o.links.is_empty() {
        return conflict(
            "container type network can't be used with links. This would result in undefined behavior",
        );
    }
    if !o.dns.is_empty() || !o.dns_search.is_empty() || !o.dns_options.is_empty() {
        return conflict("dns and the network mode");
    }
    if !o.add_hosts.is_empty() {
        return conflict("custom host-to-IP mapping and the network mode");
    }
    if o.publish_all {
        return conflict("port publishing and the container type network mode");
    }
    Ok(())
}

/// At create: the other container must exist; the mode is rewritten to its full id and
/// the hostname taken from it.
pub fn resolve_at_create(store: &Store, s: &mut Settings) -> Result<(), NetworkError> {
    let Some(t) = target(&s.network) else {
        return Ok(());
    };
    let id = crate::container::resolve(store, t)?;
    if !s.id.is_empty() && id == s.id {
        return Err(NetworkError::Invalid("cannot join own network".into()));
    }
    let other = crate::container::load(store, &id)?;
    s.network = format!("{PREFIX}{id}");
    s.hostname = other.settings.hostname.clone();
    Ok(())
}

/// At start: the other container must run (docker's wording otherwise).
pub fn check_start(store: &Store, s: &Settings) -> Result<(), NetworkError> {
    let Some(t) = target(&s.network) else {
        return Ok(());
    };
    let not_running = || {
        NetworkError::Invalid(format!(
            "cannot join network of a non running container: {t}"
        ))
    };
    let c = crate::container::load(store, t).map_err(|_| not_running())?;
    if !c.running() || c.state.pid <= 0 {
        return Err(not_running());
    }
    Ok(())
}

/// Where a `container:` container's namespace and files are: the other's
/// `/proc/<pid>/ns/net` and its directory (a sibling of `dir`). None for other modes or
/// when the other does not run.
///
/// It leaves [`JOINED`] in the other's directory: the joiner holds the namespace, so the
/// other's teardown cannot leave its veths to the namespace's release.
pub fn joined(dir: &Path, s: &Settings) -> Option<(PathBuf, PathBuf)> {
    let id = target(&s.network)?;
    let other = dir.parent()?.join(id);
    let st = crate::container::read_state_at(&other);
    let found = (st.pid > 0 && matches!(st.status.as_str(), "running" | "paused"))
        .then(|| (PathBuf::from(format!("/proc/{}/ns/net", st.pid)), other))
        .filter(|(ns, _)| ns.exists());
    if let Some((_, o)) = &found {
        let _ = std::fs::write(o.join(JOINED), b"");
    }
    found
}

/// In a container's directory: another container joined its network namespace.
pub const JOINED: &str = "netns-joined";

#[cfg(test)]
mod tests {
    use super::*;
    use crate::network::options::NetOptions;

    #[test]
    fn container_mode_refuses_what_docker_refuses() {
        let none = NetOptions::default();
        assert!(check_flags(&none, "container:web", false).is_ok());
        assert!(check_flags(&none, "bridge", true).is_ok());
        let err = |o: &NetOptions, mode: &str, h: bool| {
            check_flags(o, mode, h)
                .err()
                .map(|e| e.to_string())
                .unwrap_or_default()
        };
        assert!(err(&none, "container:", false).contains("container:<name|id>"));
        assert!(err(&none, "container:web", true).contains("hostname and the network mode"));
        let dns = NetOptions {
            dns_search: vec!["lan".into()],
            ..Default::default()
        };
        assert!(err(&dns, "container:web", false).contains("dns and the network mode"));
        let hosts = NetOptions {
            add_hosts: vec![("a".into(), "10.0.0.1".into())],
            ..Default::default()
        };
        assert!(err(&hosts, "container:web", false).contains("custom host-to-IP mapping"));
        let all = NetOptions {
            publish_all: true,
            ..Default::default()
        };
        assert!(err(&all, "container:web", false).contains("port publishing"));
        assert_eq!(target("container:abc"), Some("abc"));
        assert_eq!(target("bridge"), None);
    }
}
