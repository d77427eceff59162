//! `network connect` and `network disconnect`, as docker's: a running container gets
//! another veth pair into the namespace it already has (`ethN` inside, no default route:
//! the first network keeps it), an address from the network's IPAM, recorded in
//! `network-extra.json` next to `network.json` so teardown, inspect and `network rm` see
//! it. Every connection is also recorded for later starts (`network-connect.json`): a
//! created or exited container is connected at its next start, and one that is running
//! stays connected after a restart, as with docker. Disconnecting the network a
//! container was started on takes eth0, its default route and its published ports away.

use std::fs;
use std::net::Ipv4Addr;
use std::path::Path;

use serde::{Deserialize, Serialize};

use super::{
    endpoint_at, endpoints_at, ensure_ready, extras_at, firewall, ipam, link, lock, mac_for, model,
    names_of, portmap, write_endpoint, Endpoint, NetworkError, EXTRA,
};
use crate::container::{Container, Settings};
use crate::store::Store;

/// A network the container is to be on at its next start.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Wanted {
    /// The network (its id once recorded; a name or id for the first network).
    pub network: String,
    /// --ip.
    #[serde(default)]
    pub ip: Option<Ipv4Addr>,
    /// --alias.
    #[serde(default)]
    pub aliases: Vec<String>,
}

/// What `network connect` and `disconnect` recorded for a container's starts.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct Record {
    /// Networks connected, in order.
    #[serde(default)]
    pub connected: Vec<Wanted>,
    /// The network it was made on was disconnected.
    #[serde(default)]
    pub left_primary: bool,
}

const RECORD: &str = "network-connect.json";

/// The record in a container directory (none: the defaults).
pub fn record_at(dir: &Path) -> Record {
    fs::read(dir.join(RECORD))
        .ok()
        .and_then(|b| serde_json::from_slice(&b).ok())
        .unwrap_or_default()
}

fn write_record(dir: &Path, r: &Record) -> Result<(), NetworkError> {
    let tmp = dir.join(".network-connect.json.tmp");
    let io = |op, path: &Path| {
        let path = path.to_path_buf();
        move |source| NetworkError::Io { op, path, source }
    };
    fs::write(&tmp, serde_json::to_vec(r).unwrap_or_default()).map_err(io("write", &tmp))?;
    fs::rename(&tmp, dir.join(RECORD)).map_err(io("rename", &tmp))
}

fn write_extras(dir: &Path, eps: &[Endpoint]) -> Result<(), NetworkError> {
    let p = dir.join(EXTRA);
    let tmp = dir.join(".network-extra.json.tmp");
    let io = |op, path: &Path| {
        let path = path.to_path_buf();
        move |source| NetworkError::Io { op, path, source }
    };
    fs::write(&tmp, serde_json::to_vec(eps).unwrap_or_default()).map_err(io("write", &tmp))?;
    fs::rename(&tmp, &p).map_err(io("rename", &tmp))
}

/// Is the container's first network `n` and still connected (per the record)?
fn on_primary(store: &Store, c: &Container, n: &model::Network, rec: &Record) -> bool {
    !rec.left_primary
        && super::is_bridged(&c.settings.network)
        && model::get(store, &c.settings.network).is_ok_and(|p| p.id == n.id)
}

/// Connects container `ctr` to network `net` (optionally at `ip`, with `aliases`): now if
/// it runs, and at every later start.
pub fn connect(
    store: &Store,
    net: &str,
    ctr: &str,
    ip: Option<Ipv4Addr>,
    aliases: &[String],
) -> Result<Endpoint, NetworkError> {
    let n = model::get(store, net)?;
    let id = crate::container::resolve(store, ctr)?;
    let c = crate::container::load(store, &id)?;
    let mode = c.settings.network.as_str();
    // docker's wordings (runconfig's errors).
    if n.driver != "bridge" || mode == "host" {
        return Err(NetworkError::Invalid(
            "container cannot be disconnected from host network or connected to host network"
                .into(),
        ));
    }
    if super::shared::target(mode).is_some() {
        return Err(NetworkError::Invalid(
            "container sharing network namespace with another container or host cannot be connected to any other network".into(),
        ));
    }
    if !super::is_bridged(mode) {
        return Err(NetworkError::Invalid(
            "container cannot be connected to multiple networks with one of the networks in private (none) mode".into(),
        ));
    }
    let user = !n.predefined();
    if ip.is_some() && !user {
        return Err(NetworkError::Invalid(
            "user specified IP address is supported on user defined networks only".into(),
        ));
    }
    if !aliases.is_empty() && !user {
        return Err(NetworkError::Invalid(
            "network-scoped alias is supported only for containers in user defined networks".into(),
        ));
    }
    let dir = store.container_dir(&id);
    let _l = lock(store)?;
    let mut rec = record_at(&dir);
    let exists = || {
        NetworkError::Invalid(format!(
            "endpoint with name {} already exists in network {}",
            c.settings.name, n.name
        ))
    };
    if rec.connected.iter().any(|w| w.network == n.id) || on_primary(store, &c, &n, &rec) {
        return Err(exists());
    }
    let want = Wanted {
        network: n.id.clone(),
        ip,
        aliases: aliases.to_vec(),
    };
    let ep = if c.running() {
        if endpoints_at(&dir).iter().any(|e| e.network_id == n.id) {
            return Err(exists());
        }
        join(store, &c, &n, &want)?
    } else {
        // Recorded only; the address is chosen at the next start (docker's checks of an
        // --ip against the subnet come now).
        if let (Some(w), Some(subnet)) = (ip, n.subnet) {
            if !subnet.contains(w) {
                return Err(NetworkError::Invalid(format!(
                    "Invalid address {w}: It does not belong to any of this network's subnets"
                )));
            }
        }
        Endpoint {
            network: n.name.clone(),
            network_id: n.id.clone(),
            bridge: n.bridge.clone(),
            address: Ipv4Addr::UNSPECIFIED,
            prefix: n.subnet.map_or(0, |s| s.prefix),
            gateway: n.gateway.unwrap_or(Ipv4Addr::UNSPECIFIED),
            mac: String::new(),
            host_veth: String::new(),
            netns: Default::default(),
            ports: Vec::new(),
            aliases: aliases.to_vec(),
            ifname: String::new(),
            detached: false,
        }
    };
    rec.connected.push(want);
    write_record(&dir, &rec)?;
    Ok(ep)
}

/// At start (the container's first network is plumbed, its monitor not yet running):
/// joins a recorded network.
pub(crate) fn join_at_start(store: &Store, s: &Settings, w: &Wanted) -> Result<(), NetworkError> {
    let n = model::get(store, &w.network)?;
    let c = crate::container::load(store, &s.id)?;
    join(store, &c, &n, w).map(|_| ())
}

/// Plumbs container `c` (whose namespace exists) into network `n`.
fn join(
    store: &Store,
    c: &Container,
    n: &model::Network,
    w: &Wanted,
) -> Result<Endpoint, NetworkError> {
    let id = c.settings.id.clone();
    let dir = store.container_dir(&id);
    let user = !n.predefined();
    let Some(first) = endpoint_at(&dir) else {
        return Err(NetworkError::Invalid(format!(
            "container {} has no network namespace of ongi's (--network {}): it cannot be connected",
            c.settings.name, c.settings.network
        )));
    };
    let extras_now = extras_at(&dir);
    let (Some(subnet), Some(gateway)) = (n.subnet, n.gateway) else {
        return Err(NetworkError::Invalid(format!(
            "network {} has no subnet",
            n.name
        )));
    };
    // The lowest free slot names both the interface inside and the host end.
    let slot = (1..16u8)
        .find(|i| !extras_now.iter().any(|e| e.ifname == format!("eth{i}")))
        .ok_or_else(|| NetworkError::Invalid("too many networks on one container".into()))?;
    let addr = ipam::allocate(store, n, &id, w.ip)?;
    let ep = Endpoint {
        network: n.name.clone(),
        network_id: n.id.clone(),
        bridge: n.bridge.clone(),
        address: addr,
        prefix: subnet.prefix,
        gateway,
        mac: mac_for(addr)
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect::<Vec<_>>()
            .join(":"),
        host_veth: format!("ox{}{slot:x}", &id[..12]),
        netns: first.netns.clone(),
        ports: Vec::new(),
        aliases: w.aliases.clone(),
        ifname: format!("eth{slot}"),
        detached: false,
    };
    let ready = store
        .run_root
        .join("netns")
        .join(format!(".ready-{}", n.bridge));
    let mut extras: Vec<Endpoint> = extras_now;
    extras.push(ep.clone());
    let r = (|| {
        ensure_ready(&ready, n, subnet, gateway)?;
        // Recorded first: teardown and `system check` find the veth if we die midway.
        write_extras(&dir, &extras)?;
        link::plumb(&link::Plumbing {
            netns: ep.netns.clone(),
            bridge: n.bridge.clone(),
            host_veth: ep.host_veth.clone(),
            peer_tmp: format!("oy{}{slot:x}", &id[..12]),
            addr,
            prefix: subnet.prefix,
            gateway,
            default_route: false,
            mac: mac_for(addr),
            ifname: ep.ifname.clone(),
            existing: true,
        })?;
        append_hosts(store, &dir, c, &ep, user)?;
        if user {
            super::join_dns(
                store,
                n,
                gateway,
                &id,
                names_of(c, &ep),
                addr,
                &c.settings.net,
            )?;
        }
        Ok(())
    })();
    if let Err(e) = r {
        super::dns::remove(&store.run_root, &n.id, &id);
        let _ = fs::remove_file(&ready);
        let _ = link::delete_link(&ep.host_veth);
        let _ = link::delete_link(&format!("oy{}{slot:x}", &id[..12]));
        extras.pop();
        let _ = write_extras(&dir, &extras);
        let _ = release_on(store, &n.id, &id);
        return Err(e);
    }
    Ok(ep)
}

/// The container's own line for the new address and, on a user network, the peers that
/// run there now, added to its /etc/hosts (a bind mount of this file: edited in place).
fn append_hosts(
    store: &Store,
    dir: &Path,
    c: &crate::container::Container,
    ep: &Endpoint,
    user: bool,
) -> Result<(), NetworkError> {
    let p = dir.join("hosts");
    let mut text = fs::read_to_string(&p).unwrap_or_default();
    text.push_str(&format!("{}\t{}\n", ep.address, c.settings.hostname));
    if user {
        for o in crate::container::list(store)? {
            if !o.running() || o.settings.id == c.settings.id {
                continue;
            }
            for e in endpoints_at(&store.container_dir(&o.settings.id)) {
                if e.network_id == ep.network_id {
                    text.push_str(&format!("{}\t{}\n", e.address, names_of(&o, &e).join(" ")));
                }
            }
        }
    }
    // Written through the existing inode: the container sees the file bind-mounted.
    fs::write(&p, text).map_err(|source| NetworkError::Io {
        op: "write",
        path: p,
        source,
    })
}

fn release_on(store: &Store, network: &str, container: &str) -> Result<(), NetworkError> {
    store
        .db()
        .execute(
            "DELETE FROM ip_allocations WHERE network_id = ?1 AND container_id = ?2",
            rusqlite::params![network, container],
        )
        .map_err(store.dberr())?;
    Ok(())
}

/// Takes container `ctr` off network `net` (now if it runs, and for its later starts);
/// with `force`, a container not on it is no error.
pub fn disconnect(store: &Store, net: &str, ctr: &str, force: bool) -> Result<(), NetworkError> {
    let n = model::get(store, net)?;
    let id = crate::container::resolve(store, ctr)?;
    let c = crate::container::load(store, &id)?;
    let dir = store.container_dir(&id);
    let _l = lock(store)?;
    let mut rec = record_at(&dir);
    let primary = on_primary(store, &c, &n, &rec);
    let recorded = rec.connected.iter().position(|w| w.network == n.id);
    if !primary && recorded.is_none() {
        if force {
            return Ok(());
        }
        return Err(NetworkError::Invalid(format!(
            "container {id} is not connected to network {}",
            n.name
        )));
    }
    if c.running() {
        let own = endpoint_at(&dir).filter(|e| !e.detached && e.network_id == n.id);
        if let Some(mut ep) = own {
            // eth0 goes, and with it the default route; its ports and address too.
            firewall::remove_ports(&ep.ports);
            link::delete_link(&ep.host_veth)?;
            ep.ports.clear();
            ep.detached = true;
            write_endpoint(&dir, &ep)?;
            drop_own_line(&dir, ep.address);
            portmap::release(store, &id)?;
        } else {
            let mut extras = extras_at(&dir);
            if let Some(pos) = extras.iter().position(|e| e.network_id == n.id) {
                let ep = extras.remove(pos);
                // The host end goes and takes the peer inside with it.
                link::delete_link(&ep.host_veth)?;
                write_extras(&dir, &extras)?;
                drop_own_line(&dir, ep.address);
            }
        }
        release_on(store, &n.id, &id)?;
        super::dns::remove(&store.run_root, &n.id, &id);
    }
    match recorded {
        Some(i) => {
            rec.connected.remove(i);
        }
        None => rec.left_primary = true,
    }
    write_record(&dir, &rec)
}

/// Removes the container's line for `addr` from its /etc/hosts (edited in place: the
/// container sees the file bind-mounted).
fn drop_own_line(dir: &Path, addr: Ipv4Addr) {
    let p = dir.join("hosts");
    if let Ok(t) = fs::read_to_string(&p) {
        let own = format!("{addr}\t");
        let kept: String = t
            .lines()
            .filter(|l| !l.starts_with(&own))
            .map(|l| format!("{l}\n"))
            .collect();
        let _ = fs::write(&p, kept);
    }
}
