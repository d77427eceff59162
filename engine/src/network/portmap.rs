//! Published ports: `-p [ip:][hostPort:]containerPort[/tcp|udp]` (ranges of equal length
//! on both sides) parsed as docker parses it, and host ports reserved per container in the
//! `port_bindings` table inside an IMMEDIATE transaction, so two containers cannot publish
//! one port. A port held by a container that is no longer running is taken over; a port
//! a host process listens on is refused (the kernel's DNAT would hide that process).

use std::net::{Ipv4Addr, SocketAddrV4, TcpListener, UdpSocket};

use rusqlite::params;
use serde::{Deserialize, Serialize};

use super::NetworkError;
use crate::store::Store;

/// One published port as asked for (a range is several).
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct PortSpec {
    /// `tcp` or `udp`.
    pub proto: String,
    /// The host address to publish on; empty for every address.
    #[serde(default)]
    pub host_ip: String,
    /// The host port; 0 for any free one.
    pub host_port: u16,
    /// The container's port.
    pub container_port: u16,
}

/// One published port as made: the host side decided.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Binding {
    /// `tcp` or `udp`.
    pub proto: String,
    /// `0.0.0.0` for every address.
    pub host_ip: Ipv4Addr,
    /// The host port.
    pub host_port: u16,
    /// The container's port.
    pub container_port: u16,
}

fn range(s: &str, what: &str) -> Result<(u16, u16), NetworkError> {
    let bad = || NetworkError::Invalid(format!("invalid {what}: {s}"));
    let (a, b) = s.split_once('-').unwrap_or((s, s));
    let a: u16 = a.parse().ok().filter(|p| *p > 0).ok_or_else(bad)?;
    let b: u16 = b.parse().ok().filter(|p| *p > 0).ok_or_else(bad)?;
    if b < a {
        return Err(bad());
    }
    Ok((a, b))
}

/// Parses one `-p` value (docker's syntax and wording).
pub fn parse(v: &str) -> Result<Vec<PortSpec>, NetworkError> {
    let (rest, proto) = v.rsplit_once('/').unwrap_or((v, "tcp"));
    let proto = proto.to_ascii_lowercase();
    if !matches!(proto.as_str(), "tcp" | "udp") {
        return Err(NetworkError::Invalid(format!("invalid proto: {proto}")));
    }
    let parts: Vec<&str> = rest.split(':').collect();
    let (ip, host, ctr) = match parts.as_slice() {
        [c] => ("", "", *c),
        [h, c] => ("", *h, *c),
        [i, h, c] => (*i, *h, *c),
        _ => {
            return Err(NetworkError::Invalid(format!(
                "invalid port format for --publish: {v}"
            )))
        }
    };
    if !ip.is_empty() && ip.parse::<Ipv4Addr>().is_err() {
        return Err(NetworkError::Invalid(format!("invalid IP address: {ip}")));
    }
    let (c0, c1) = range(ctr, "containerPort")?;
    let hosts = if host.is_empty() {
        None
    } else {
        Some(range(host, "hostPort")?)
    };
    if let Some((h0, h1)) = hosts {
        if h1 - h0 != c1 - c0 {
            return Err(NetworkError::Invalid(format!(
                "invalid ranges specified for container and host Ports: {ctr} and {host}"
            )));
        }
    }
    Ok((c0..=c1)
        .map(|c| PortSpec {
            proto: proto.clone(),
            host_ip: ip.to_string(),
            host_port: hosts.map_or(0, |(h0, _)| h0 + (c - c0)),
            container_port: c,
        })
        .collect())
}

/// The errno's own words, lower case, as docker prints a bind failure.
fn why(e: &std::io::Error) -> String {
    e.raw_os_error()
        .map(|n| nix::errno::Errno::from_raw(n).desc().to_ascii_lowercase())
        .unwrap_or_else(|| e.to_string())
}

fn probe(proto: &str, ip: Ipv4Addr, port: u16) -> std::io::Result<u16> {
    let a = SocketAddrV4::new(ip, port);
    Ok(match proto {
        "udp" => UdpSocket::bind(a)?.local_addr()?.port(),
        _ => TcpListener::bind(a)?.local_addr()?.port(),
    })
}

/// Reserves the host side of every spec for `container` (replacing what it held before).
pub fn reserve(
    store: &Store,
    container: &str,
    specs: &[PortSpec],
) -> Result<Vec<Binding>, NetworkError> {
    let db = store.db();
    let tx = rusqlite::Transaction::new_unchecked(db, rusqlite::TransactionBehavior::Immediate)
        .map_err(store.dberr())?;
    tx.execute(
        "DELETE FROM port_bindings WHERE container_id = ?1 OR container_id NOT IN (SELECT id FROM containers)",
        params![container],
    )
    .map_err(store.dberr())?;
    let mut out: Vec<Binding> = Vec::new();
    for s in specs {
        let ip: Ipv4Addr = if s.host_ip.is_empty() {
            Ipv4Addr::UNSPECIFIED
        } else {
            s.host_ip
                .parse()
                .map_err(|_| NetworkError::Invalid(format!("invalid IP address: {}", s.host_ip)))?
        };
        let port = if s.host_port == 0 {
            probe(&s.proto, ip, 0).map_err(|e| NetworkError::Port {
                addr: format!("{ip}:0/{}", s.proto),
                why: why(&e),
            })?
        } else {
            s.host_port
        };
        let clash = |a: Ipv4Addr| a == ip || a.is_unspecified() || ip.is_unspecified();
        let holders: Vec<(String, String)> = {
            let mut st = tx
                .prepare("SELECT host_ip, container_id FROM port_bindings WHERE proto = ?1 AND host_port = ?2")
                .map_err(store.dberr())?;
            let it = st
                .query_map(params![s.proto, port], |r| Ok((r.get(0)?, r.get(1)?)))
                .map_err(store.dberr())?;
            it.collect::<Result<_, _>>().map_err(store.dberr())?
        };
        for (hip, holder) in holders {
            if !clash(hip.parse().unwrap_or(Ipv4Addr::UNSPECIFIED)) {
                continue;
            }
            let running = crate::container::load(store, &holder)
                .map(|c| c.running())
                .unwrap_or(false);
            if running {
                return Err(NetworkError::Port {
                    addr: format!("{ip}:{port}"),
                    why: "port is already allocated".into(),
                });
            }
            tx.execute(
                "DELETE FROM port_bindings WHERE container_id = ?1",
                params![holder],
            )
            .map_err(store.dberr())?;
        }
        if out
            .iter()
            .any(|b| b.proto == s.proto && b.host_port == port && clash(b.host_ip))
        {
            return Err(NetworkError::Port {
                addr: format!("{ip}:{port}"),
                why: "port is already allocated".into(),
            });
        }
        if s.host_port != 0 {
            probe(&s.proto, ip, port).map_err(|e| NetworkError::Port {
                addr: format!("{ip}:{port}/{}", s.proto),
                why: why(&e),
            })?;
        }
        tx.execute(
            "INSERT INTO port_bindings (proto, host_ip, host_port, container_id, container_port) VALUES (?1, ?2, ?3, ?4, ?5)",
            params![s.proto, ip.to_string(), port, container, s.container_port],
        )
        .map_err(store.dberr())?;
        out.push(Binding {
            proto: s.proto.clone(),
            host_ip: ip,
            host_port: port,
            container_port: s.container_port,
        });
    }
    tx.commit().map_err(store.dberr())?;
    Ok(out)
}

/// Frees the container's host ports.
pub fn release(store: &Store, container: &str) -> Result<(), NetworkError> {
    store
        .db()
        .execute(
            "DELETE FROM port_bindings WHERE container_id = ?1",
            params![container],
        )
        .map_err(store.dberr())?;
    Ok(())
}

/// Every reservation's container id.
pub fn holders(store: &Store) -> Result<Vec<String>, NetworkError> {
    let mut st = store
        .db()
        .prepare("SELECT DISTINCT container_id FROM port_bindings")
        .map_err(store.dberr())?;
    let it = st.query_map([], |r| r.get(0)).map_err(store.dberr())?;
    Ok(it.collect::<Result<_, _>>().map_err(store.dberr())?)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn docker_syntax() {
        let p = parse("8080:80").unwrap();
        assert_eq!(
            p,
            vec![PortSpec {
                proto: "tcp".into(),
                host_ip: "".into(),
                host_port: 8080,
                container_port: 80
            }]
        );
        let p = parse("127.0.0.1:9000-9001:53-54/udp").unwrap();
        assert_eq!(p.len(), 2);
        assert_eq!((p[1].host_port, p[1].container_port), (9001, 54));
        assert_eq!(p[1].proto, "udp");
        assert_eq!(p[0].host_ip, "127.0.0.1");
        assert_eq!(parse("80").unwrap()[0].host_port, 0);
        assert_eq!(parse("127.0.0.1::80").unwrap()[0].host_port, 0);
        for bad in [
            "80/sctp",
            "x:80",
            "8080:0",
            "8000-8001:80",
            "1:2:3:4",
            "abc",
        ] {
            assert!(parse(bad).is_err(), "{bad}");
        }
    }
}
