//! Networks as records: the `networks` table (name, id, driver, subnet, gateway, bridge
//! device, internal, labels, created), docker's three predefined networks (`bridge`,
//! `host`, `none`) made on first use, subnets (parsing, overlap, the automatic pool) and the
//! create/remove/prune rules docker applies.
//!
//! Subnets: the default `bridge` network is 10.222.0.0/16 on the device `ongi0`; networks
//! made without `--subnet` get the first free /24 of 10.223.0.0/16. Both are chosen to
//! stay clear of docker's 172.17.0.0/16 and its 172.18+ pools and of podman's 10.88/10.89.

use std::collections::BTreeMap;
use std::fmt;
use std::net::Ipv4Addr;

use rusqlite::{params, OptionalExtension};
use serde::{Deserialize, Serialize};

use super::NetworkError;
use crate::store::Store;

/// The default bridge network's subnet.
pub const DEFAULT_SUBNET: &str = "10.222.0.0/16";
/// The default bridge network's device.
pub const DEFAULT_BRIDGE: &str = "ongi0";
/// Where automatic subnets (/24 each) for user-defined networks come from.
pub const AUTO_POOL: &str = "10.223.0.0/16";

const SCHEMA: &str = "
CREATE TABLE IF NOT EXISTS networks (
    id TEXT PRIMARY KEY,
    name TEXT NOT NULL UNIQUE,
    driver TEXT NOT NULL,           -- bridge, host, null (docker's names)
    subnet TEXT NOT NULL,           -- a.b.c.d/n; empty for host and none
    gateway TEXT NOT NULL,
    bridge TEXT NOT NULL,           -- the bridge device; empty for host and none
    internal INTEGER NOT NULL,
    labels TEXT NOT NULL,           -- JSON object
    created TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS ip_allocations (
    network_id TEXT NOT NULL REFERENCES networks(id),
    address TEXT NOT NULL,
    container_id TEXT NOT NULL,
    PRIMARY KEY (network_id, address),
    UNIQUE (network_id, container_id)
);
CREATE TABLE IF NOT EXISTS port_bindings (
    proto TEXT NOT NULL,            -- tcp or udp
    host_ip TEXT NOT NULL,          -- 0.0.0.0 for every address
    host_port INTEGER NOT NULL,
    container_id TEXT NOT NULL,
    container_port INTEGER NOT NULL,
    PRIMARY KEY (proto, host_ip, host_port)
);
";

/// An IPv4 subnet.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Subnet {
    /// The network address.
    pub addr: Ipv4Addr,
    /// Prefix length.
    pub prefix: u8,
}

impl Subnet {
    /// Parses `a.b.c.d/n`; host bits must be zero (docker's rule and wording).
    pub fn parse(s: &str) -> Result<Subnet, NetworkError> {
        let bad = |why: &str| NetworkError::Invalid(format!("invalid subnet {s}: {why}"));
        let (a, p) = s.split_once('/').ok_or_else(|| bad("expected a.b.c.d/n"))?;
        let addr: Ipv4Addr = a.parse().map_err(|_| bad("not an IPv4 address"))?;
        let prefix: u8 = p
            .parse()
            .ok()
            .filter(|p| (8..=30).contains(p))
            .ok_or_else(|| bad("prefix length must be 8 to 30"))?;
        let net = Subnet { addr, prefix };
        if u32::from(addr) & !net.mask() != 0 {
            let want = Subnet {
                addr: Ipv4Addr::from(u32::from(addr) & net.mask()),
                prefix,
            };
            return Err(bad(&format!("it should be {want}")));
        }
        Ok(net)
    }

    /// The netmask as a number.
    pub fn mask(&self) -> u32 {
        u32::MAX << (32 - u32::from(self.prefix))
    }

    /// Is `ip` in this subnet?
    pub fn contains(&self, ip: Ipv4Addr) -> bool {
        u32::from(ip) & self.mask() == u32::from(self.addr)
    }

    /// Do the two subnets share an address?
    pub fn overlaps(&self, o: &Subnet) -> bool {
        let m = self.mask().min(o.mask());
        u32::from(self.addr) & m == u32::from(o.addr) & m
    }

    /// The first host address (docker's default gateway).
    pub fn first_host(&self) -> Ipv4Addr {
        Ipv4Addr::from(u32::from(self.addr) + 1)
    }

    /// The broadcast address.
    pub fn broadcast(&self) -> Ipv4Addr {
        Ipv4Addr::from(u32::from(self.addr) | !self.mask())
    }
}

impl fmt::Display for Subnet {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.addr, self.prefix)
    }
}

/// A network record.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Network {
    /// 64 hex digits.
    pub id: String,
    /// Its name.
    pub name: String,
    /// `bridge`, `host` or `null`.
    pub driver: String,
    /// The subnet, for bridge networks.
    pub subnet: Option<Subnet>,
    /// The gateway (the bridge's own address).
    pub gateway: Option<Ipv4Addr>,
    /// The bridge device.
    pub bridge: String,
    /// `--internal`: no traffic leaves the network.
    pub internal: bool,
    /// `--label`.
    pub labels: BTreeMap<String, String>,
    /// RFC 3339.
    pub created: String,
}

impl Serialize for Subnet {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.to_string())
    }
}

impl<'de> Deserialize<'de> for Subnet {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        Subnet::parse(&s).map_err(serde::de::Error::custom)
    }
}

impl Network {
    /// Is it one of docker's predefined networks (which cannot be removed)?
    pub fn predefined(&self) -> bool {
        matches!(self.name.as_str(), "bridge" | "host" | "none")
    }
}

/// Creates the tables and docker's predefined networks if missing.
pub fn ensure(store: &Store) -> Result<(), NetworkError> {
    let db = store.db();
    db.execute_batch(SCHEMA).map_err(store.dberr())?;
    for (name, driver, subnet, bridge) in [
        ("bridge", "bridge", DEFAULT_SUBNET, DEFAULT_BRIDGE),
        ("host", "host", "", ""),
        ("none", "null", "", ""),
    ] {
        let gw = if subnet.is_empty() {
            String::new()
        } else {
            Subnet::parse(subnet)?.first_host().to_string()
        };
        db.execute(
            "INSERT OR IGNORE INTO networks (id, name, driver, subnet, gateway, bridge, internal, labels, created)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, 0, '{}', ?7)",
            params![crate::container::new_id(), name, driver, subnet, gw, bridge, ongi::rfc3339_now()],
        )
        .map_err(store.dberr())?;
    }
    Ok(())
}

fn row(r: &rusqlite::Row<'_>) -> rusqlite::Result<Network> {
    let subnet: String = r.get(3)?;
    let gateway: String = r.get(4)?;
    let labels: String = r.get(7)?;
    Ok(Network {
        id: r.get(0)?,
        name: r.get(1)?,
        driver: r.get(2)?,
        subnet: Subnet::parse(&subnet).ok(),
        gateway: gateway.parse().ok(),
        bridge: r.get(5)?,
        internal: r.get::<_, i64>(6)? != 0,
        labels: serde_json::from_str(&labels).unwrap_or_default(),
        created: r.get(8)?,
    })
}

const COLS: &str = "id, name, driver, subnet, gateway, bridge, internal, labels, created";

/// Every network, by name.
pub fn list(store: &Store) -> Result<Vec<Network>, NetworkError> {
    ensure(store)?;
    let mut st = store
        .db()
        .prepare(&format!("SELECT {COLS} FROM networks ORDER BY name"))
        .map_err(store.dberr())?;
    let it = st.query_map([], row).map_err(store.dberr())?;
    Ok(it.collect::<Result<_, _>>().map_err(store.dberr())?)
}

/// A network by name, full id or unique id prefix (docker's lookup order).
pub fn get(store: &Store, key: &str) -> Result<Network, NetworkError> {
    ensure(store)?;
    let db = store.db();
    let by_name = db
        .query_row(
            &format!("SELECT {COLS} FROM networks WHERE name = ?1"),
            params![key],
            row,
        )
        .optional()
        .map_err(store.dberr())?;
    if let Some(n) = by_name {
        return Ok(n);
    }
    if !key.is_empty() && key.bytes().all(|b| b.is_ascii_hexdigit()) {
        let mut st = db
            .prepare(&format!("SELECT {COLS} FROM networks WHERE id LIKE ?1"))
            .map_err(store.dberr())?;
        let found: Vec<Network> = st
            .query_map(params![format!("{}%", key.to_ascii_lowercase())], row)
            .map_err(store.dberr())?
            .collect::<Result<_, _>>()
            .map_err(store.dberr())?;
        if found.len() > 1 {
            return Err(NetworkError::Ambiguous(key.to_string()));
        }
        if let Some(n) = found.into_iter().next() {
            return Ok(n);
        }
    }
    Err(NetworkError::NotFound(key.to_string()))
}

/// What `network create` asks for.
#[derive(Debug, Clone, Default)]
pub struct CreateOptions {
    /// The name.
    pub name: String,
    /// `--subnet`.
    pub subnet: Option<String>,
    /// `--gateway`.
    pub gateway: Option<String>,
    /// `--internal`.
    pub internal: bool,
    /// `--label KEY=VALUE`.
    pub labels: Vec<String>,
    /// `--driver` (only bridge).
    pub driver: String,
}

fn valid_name(n: &str) -> bool {
    crate::container::valid_name(n)
}

/// `network create`: checks the name, the driver, the subnet (no overlap with another
/// network's, docker's wording) and the gateway, then records the network. The bridge
/// device is made when the first container joins.
pub fn create(store: &Store, o: &CreateOptions) -> Result<Network, NetworkError> {
    ensure(store)?;
    if !valid_name(&o.name) {
        return Err(NetworkError::Invalid(format!(
            "invalid network name {:?}: only [a-zA-Z0-9][a-zA-Z0-9_.-] are allowed",
            o.name
        )));
    }
    if !o.driver.is_empty() && o.driver != "bridge" {
        return Err(NetworkError::Invalid(format!(
            "plugin \"{}\" not found: only the bridge driver is supported",
            o.driver
        )));
    }
    let mut labels = BTreeMap::new();
    for l in &o.labels {
        let (k, v) = l.split_once('=').unwrap_or((l.as_str(), ""));
        labels.insert(k.to_string(), v.to_string());
    }
    let tx =
        rusqlite::Transaction::new_unchecked(store.db(), rusqlite::TransactionBehavior::Immediate)
            .map_err(store.dberr())?;
    let existing = list_in(store)?;
    if existing.iter().any(|n| n.name == o.name) {
        return Err(NetworkError::Exists(o.name.clone()));
    }
    let taken: Vec<Subnet> = existing.iter().filter_map(|n| n.subnet).collect();
    let subnet = match &o.subnet {
        Some(s) => {
            let s = Subnet::parse(s)?;
            if taken.iter().any(|t| t.overlaps(&s)) {
                return Err(NetworkError::Overlap(s.to_string()));
            }
            s
        }
        None => {
            if o.gateway.is_some() {
                return Err(NetworkError::Invalid(
                    "every ip-range or gateway must have a corresponding subnet".into(),
                ));
            }
            auto_subnet(&taken)?
        }
    };
    let gateway = match &o.gateway {
        Some(g) => {
            let ip: Ipv4Addr = g
                .parse()
                .map_err(|_| NetworkError::Invalid(format!("invalid gateway address {g}")))?;
            if !subnet.contains(ip) || ip == subnet.addr || ip == subnet.broadcast() {
                return Err(NetworkError::Invalid(format!(
                    "no matching subnet for gateway {g}"
                )));
            }
            ip
        }
        None => subnet.first_host(),
    };
    let id = crate::container::new_id();
    let n = Network {
        bridge: format!("ongi-{}", &id[..10]),
        id,
        name: o.name.clone(),
        driver: "bridge".into(),
        subnet: Some(subnet),
        gateway: Some(gateway),
        internal: o.internal,
        labels,
        created: ongi::rfc3339_now(),
    };
    tx.execute(
        &format!("INSERT INTO networks ({COLS}) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)"),
        params![
            n.id,
            n.name,
            n.driver,
            subnet.to_string(),
            gateway.to_string(),
            n.bridge,
            n.internal as i64,
            serde_json::to_string(&n.labels).unwrap_or_else(|_| "{}".into()),
            n.created
        ],
    )
    .map_err(store.dberr())?;
    tx.commit().map_err(store.dberr())?;
    Ok(n)
}

fn list_in(store: &Store) -> Result<Vec<Network>, NetworkError> {
    let mut st = store
        .db()
        .prepare(&format!("SELECT {COLS} FROM networks"))
        .map_err(store.dberr())?;
    let it = st.query_map([], row).map_err(store.dberr())?;
    Ok(it.collect::<Result<_, _>>().map_err(store.dberr())?)
}

fn auto_subnet(taken: &[Subnet]) -> Result<Subnet, NetworkError> {
    let pool = Subnet::parse(AUTO_POOL)?;
    let n = 1u32 << (24 - pool.prefix);
    for i in 0..n {
        let s = Subnet {
            addr: Ipv4Addr::from(u32::from(pool.addr) + (i << 8)),
            prefix: 24,
        };
        if !taken.iter().any(|t| t.overlaps(&s)) {
            return Ok(s);
        }
    }
    Err(NetworkError::Invalid(
        "could not find an available, non-overlapping IPv4 address pool among the defaults to assign to the network".into(),
    ))
}

/// Names of the containers (any state) whose `--network` is this network, or that
/// `network connect` joined to it.
pub fn users(store: &Store, n: &Network) -> Result<Vec<String>, NetworkError> {
    let mut out = Vec::new();
    for c in crate::container::list(store)? {
        let s = &c.settings;
        let connected = || {
            c.running()
                && super::endpoints_at(&store.container_dir(&s.id))
                    .iter()
                    .any(|e| e.network_id == n.id)
        };
        let rec = super::connect::record_at(&store.container_dir(&s.id));
        // The network it was made on counts until `network disconnect` took it off.
        let first = !rec.left_primary
            && (s.network == n.name || (s.network.len() >= 12 && n.id.starts_with(&s.network)));
        if first || connected() || rec.connected.iter().any(|w| w.network == n.id) {
            out.push(s.name.clone());
        }
    }
    Ok(out)
}

/// Deletes the record (the caller has checked it is unused and torn the device down).
pub(crate) fn delete(store: &Store, n: &Network) -> Result<(), NetworkError> {
    let db = store.db();
    db.execute(
        "DELETE FROM ip_allocations WHERE network_id = ?1",
        params![n.id],
    )
    .map_err(store.dberr())?;
    db.execute("DELETE FROM networks WHERE id = ?1", params![n.id])
        .map_err(store.dberr())?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn subnets() {
        let a = Subnet::parse("10.1.0.0/16").unwrap();
        let b = Subnet::parse("10.1.2.0/24").unwrap();
        let c = Subnet::parse("10.2.0.0/16").unwrap();
        assert!(a.overlaps(&b) && b.overlaps(&a));
        assert!(!a.overlaps(&c));
        assert_eq!(a.first_host().to_string(), "10.1.0.1");
        assert_eq!(a.broadcast().to_string(), "10.1.255.255");
        let e = Subnet::parse("10.1.0.5/16").unwrap_err().to_string();
        assert!(e.contains("it should be 10.1.0.0/16"), "{e}");
        assert!(Subnet::parse("10.1.0.0").is_err());
        assert!(Subnet::parse("10.1.0.0/33").is_err());
    }

    #[test]
    fn auto_subnets_skip_taken() {
        let taken = [Subnet::parse("10.223.0.0/24").unwrap()];
        assert_eq!(auto_subnet(&taken).unwrap().to_string(), "10.223.1.0/24");
    }
}
