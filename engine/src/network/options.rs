//! The per-container network flags beyond `--network` and `-p`: `--add-host`, `--dns`,
//! `--dns-search`, `--dns-option`, `--ip`, `--network-alias`, `--link`, `-P`, parsed as
//! docker parses them, and the /etc/hosts and /etc/resolv.conf they make.

use std::net::Ipv4Addr;

use serde::{Deserialize, Serialize};

use super::NetworkError;

/// The flags as given on the command line.
#[derive(Debug, Clone, Default)]
pub struct NetFlags {
    /// --add-host NAME:IP (IP may be `host-gateway`).
    pub add_host: Vec<String>,
    /// --dns.
    pub dns: Vec<String>,
    /// --dns-search.
    pub dns_search: Vec<String>,
    /// --dns-option.
    pub dns_option: Vec<String>,
    /// --ip.
    pub ip: Option<String>,
    /// --network-alias.
    pub alias: Vec<String>,
    /// --link NAME[:ALIAS].
    pub link: Vec<String>,
    /// -P.
    pub publish_all: bool,
}

/// The flags, checked, as kept in a container's settings.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
pub struct NetOptions {
    /// (name, address or `host-gateway`).
    #[serde(default)]
    pub add_hosts: Vec<(String, String)>,
    /// Name servers.
    #[serde(default)]
    pub dns: Vec<Ipv4Addr>,
    /// Search domains.
    #[serde(default)]
    pub dns_search: Vec<String>,
    /// resolv.conf options.
    #[serde(default)]
    pub dns_options: Vec<String>,
    /// The address asked for on a user network.
    #[serde(default)]
    pub ip: Option<Ipv4Addr>,
    /// Extra names on a user network.
    #[serde(default)]
    pub aliases: Vec<String>,
    /// (container, alias).
    #[serde(default)]
    pub links: Vec<(String, String)>,
    /// -P.
    #[serde(default)]
    pub publish_all: bool,
}

/// docker's value for `--add-host NAME:host-gateway`.
pub const HOST_GATEWAY: &str = "host-gateway";

/// Checks the flags (docker's wording for bad values).
pub fn parse(f: &NetFlags) -> Result<NetOptions, NetworkError> {
    let mut o = NetOptions {
        publish_all: f.publish_all,
        dns_search: f.dns_search.clone(),
        dns_options: f.dns_option.clone(),
        aliases: f.alias.clone(),
        ..Default::default()
    };
    for h in &f.add_host {
        // docker accepts NAME:IP and NAME=IP; the address may hold colons (IPv6), the
        // name may not.
        let (name, ip) = h
            .split_once('=')
            .or_else(|| h.split_once(':'))
            .ok_or_else(|| NetworkError::Invalid(format!("bad format for add-host: {h:?}")))?;
        if name.is_empty() || name.contains(char::is_whitespace) {
            return Err(NetworkError::Invalid(format!(
                "bad format for add-host: {h:?}"
            )));
        }
        if ip != HOST_GATEWAY && ip.parse::<std::net::IpAddr>().is_err() {
            return Err(NetworkError::Invalid(format!(
                "invalid IP address in add-host: {ip:?}"
            )));
        }
        o.add_hosts.push((name.to_string(), ip.to_string()));
    }
    for d in &f.dns {
        o.dns.push(
            d.parse()
                .map_err(|_| NetworkError::Invalid(format!("{d} is not an ip address")))?,
        );
    }
    if let Some(ip) = &f.ip {
        o.ip = Some(
            ip.parse()
                .map_err(|_| NetworkError::Invalid(format!("invalid IPv4 address: {ip}")))?,
        );
    }
    for l in &f.link {
        let (name, alias) = l.split_once(':').unwrap_or((l, l));
        let name = name.trim_start_matches('/');
        if name.is_empty() || alias.is_empty() {
            return Err(NetworkError::Invalid(format!(
                "invalid value {l:?} for --link: expected NAME[:ALIAS]"
            )));
        }
        o.links.push((name.to_string(), alias.to_string()));
    }
    Ok(o)
}

/// docker's checks of the flags against the network mode, at create.
pub fn check_mode(o: &NetOptions, network: &str) -> Result<(), NetworkError> {
    let user = super::is_bridged(network) && network != "bridge";
    if o.ip.is_some() && !user {
        return Err(NetworkError::Invalid(
            "user specified IP address is supported on user defined networks only".into(),
        ));
    }
    if !o.aliases.is_empty() && !user {
        return Err(NetworkError::Invalid(
            "network-scoped alias is supported only for containers in user defined networks".into(),
        ));
    }
    if !o.links.is_empty() && !super::is_bridged(network) {
        return Err(NetworkError::Invalid(
            "conflicting options: host type networking can't be used with links. This would result in undefined behavior".into(),
        ));
    }
    if network == "host"
        && (!o.dns.is_empty() || !o.dns_search.is_empty() || !o.dns_options.is_empty())
    {
        return Err(NetworkError::Invalid(
            "conflicting options: dns and the network mode".into(),
        ));
    }
    Ok(())
}

/// docker's /etc/hosts: localhost lines, then `own` (address, names) if any, then
/// the extra entries in order (peers, links, --add-host).
pub fn hosts_file(own: Option<(String, Vec<String>)>, extra: &[(String, Vec<String>)]) -> String {
    let mut t = String::from("127.0.0.1\tlocalhost\n::1\tlocalhost ip6-localhost ip6-loopback\nfe00::0\tip6-localnet\nff00::0\tip6-mcastprefix\nff02::1\tip6-allnodes\nff02::2\tip6-allrouters\n");
    for (ip, names) in extra {
        t.push_str(&format!("{ip}\t{}\n", names.join(" ")));
    }
    // docker puts the container's own line last.
    if let Some((ip, names)) = own {
        t.push_str(&format!("{ip}\t{}\n", names.join(" ")));
    }
    t
}

/// `--add-host` entries with `host-gateway` resolved to `gateway`.
pub fn add_host_entries(o: &NetOptions, gateway: Option<Ipv4Addr>) -> Vec<(String, Vec<String>)> {
    o.add_hosts
        .iter()
        .map(|(n, ip)| {
            let ip = if ip == HOST_GATEWAY {
                gateway.map_or_else(|| "127.0.0.1".to_string(), |g| g.to_string())
            } else {
                ip.clone()
            };
            (ip, vec![n.clone()])
        })
        .collect()
}

/// docker's resolv.conf: `base` (the host's, loopback servers dropped) with name servers,
/// search domains and options replaced by those given (`--dns-search .` means none).
pub fn resolv_file(o: &NetOptions, base: &str) -> String {
    let mut out: Vec<String> = Vec::new();
    for l in base.lines() {
        let key = l.split_whitespace().next().unwrap_or("");
        let replaced = (key == "nameserver" && !o.dns.is_empty())
            || ((key == "search" || key == "domain") && !o.dns_search.is_empty())
            || (key == "options" && !o.dns_options.is_empty());
        if !replaced {
            out.push(l.to_string());
        }
    }
    out.extend(o.dns.iter().map(|d| format!("nameserver {d}")));
    let search: Vec<&str> = o
        .dns_search
        .iter()
        .map(String::as_str)
        .filter(|s| *s != ".")
        .collect();
    if !search.is_empty() {
        out.push(format!("search {}", search.join(" ")));
    }
    if !o.dns_options.is_empty() {
        out.push(format!("options {}", o.dns_options.join(" ")));
    }
    let mut t = out.join("\n");
    t.push('\n');
    t
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn flags_parse_as_docker_does() {
        let o = parse(&NetFlags {
            add_host: vec!["db:10.1.2.3".into(), "gw=host-gateway".into()],
            dns: vec!["9.9.9.9".into()],
            link: vec!["web".into(), "/api:backend".into()],
            ..Default::default()
        })
        .unwrap();
        assert_eq!(o.add_hosts[0], ("db".into(), "10.1.2.3".into()));
        assert_eq!(o.add_hosts[1], ("gw".into(), "host-gateway".into()));
        assert_eq!(
            o.links,
            vec![
                ("web".into(), "web".into()),
                ("api".into(), "backend".into())
            ]
        );
        assert!(parse(&NetFlags {
            add_host: vec!["nocolon".into()],
            ..Default::default()
        })
        .is_err());
        assert!(parse(&NetFlags {
            add_host: vec!["a:notip".into()],
            ..Default::default()
        })
        .is_err());
        assert!(parse(&NetFlags {
            dns: vec!["x".into()],
            ..Default::default()
        })
        .is_err());
    }

    #[test]
    fn resolv_replaces_only_what_is_given() {
        let base = "search lan\nnameserver 10.0.0.1\noptions edns0\n";
        let o = NetOptions {
            dns: vec![Ipv4Addr::new(1, 1, 1, 1)],
            dns_options: vec!["ndots:2".into()],
            ..Default::default()
        };
        assert_eq!(
            resolv_file(&o, base),
            "search lan\nnameserver 1.1.1.1\noptions ndots:2\n"
        );
    }
}
