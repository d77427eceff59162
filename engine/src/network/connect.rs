//! `network connect` and `network disconnect` of a running container: another veth pair
//! into the namespace it already has (`ethN` inside, no default route: the first network
//! keeps it), an address from the network's IPAM, recorded in `network-extra.json` next
//! to `network.json` so teardown, inspect and `network rm` see it. The network a
//! container was started on cannot be disconnected yet.

use std::fs;
use std::net::Ipv4Addr;
use std::path::Path;

use super::{
    endpoints_at, ensure_ready, ipam, link, lock, mac_for, model, names_of, Endpoint, NetworkError,
    EXTRA,
};
use crate::store::Store;

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

fn not_running(c: &str) -> NetworkError {
    NetworkError::Invalid(format!("Container {c} is not running"))
}

/// Joins running container `ctr` to network `net` (optionally at `ip`, with `aliases`).
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
    if n.driver != "bridge" {
        // docker's wording.
        return Err(NetworkError::Invalid(
            "container cannot be disconnected from host network or connected to host network"
                .into(),
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
    let eps = endpoints_at(&dir);
    let Some(first) = eps.first().filter(|_| c.running()) else {
        return Err(if c.running() {
            NetworkError::Invalid(format!(
                "container {} has no network namespace of ongi's (--network {}): it cannot be connected",
                c.settings.name, c.settings.network
            ))
        } else {
            not_running(ctr)
        });
    };
    if eps.iter().any(|e| e.network_id == n.id) {
        return Err(NetworkError::Invalid(format!(
            "endpoint with name {} already exists in network {}",
            c.settings.name, n.name
        )));
    }
    let (Some(subnet), Some(gateway)) = (n.subnet, n.gateway) else {
        return Err(NetworkError::Invalid(format!(
            "network {} has no subnet",
            n.name
        )));
    };
    // The lowest free slot names both the interface inside and the host end.
    let slot = (1..16u8)
        .find(|i| !eps.iter().any(|e| e.ifname == format!("eth{i}")))
        .ok_or_else(|| NetworkError::Invalid("too many networks on one container".into()))?;
    let addr = ipam::allocate(store, &n, &id, ip)?;
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
        aliases: aliases.to_vec(),
        ifname: format!("eth{slot}"),
    };
    let ready = store
        .run_root
        .join("netns")
        .join(format!(".ready-{}", n.bridge));
    let mut extras: Vec<Endpoint> = eps[1..].to_vec();
    extras.push(ep.clone());
    let r = (|| {
        ensure_ready(&ready, &n, subnet, gateway)?;
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
        append_hosts(store, &dir, &c, &ep, user)?;
        if user {
            super::join_dns(
                store,
                &n,
                gateway,
                &id,
                names_of(&c, &ep),
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

/// Takes running container `ctr` off network `net`, which `network connect` joined it to;
/// with `force`, a container not on it is no error.
pub fn disconnect(store: &Store, net: &str, ctr: &str, force: bool) -> Result<(), NetworkError> {
    let n = model::get(store, net)?;
    let id = crate::container::resolve(store, ctr)?;
    let c = crate::container::load(store, &id)?;
    let dir = store.container_dir(&id);
    let _l = lock(store)?;
    let eps = if c.running() {
        endpoints_at(&dir)
    } else {
        Vec::new()
    };
    if eps.first().is_some_and(|e| e.network_id == n.id) {
        return Err(NetworkError::Invalid(format!(
            "container {} was started on network {}: disconnecting it from that network is not supported yet",
            c.settings.name, n.name
        )));
    }
    let Some(pos) = eps.iter().skip(1).position(|e| e.network_id == n.id) else {
        if force {
            return Ok(());
        }
        return Err(NetworkError::Invalid(format!(
            "container {id} is not connected to network {}",
            n.name
        )));
    };
    let mut extras: Vec<Endpoint> = eps[1..].to_vec();
    let ep = extras.remove(pos);
    // The host end goes and takes the peer inside with it.
    link::delete_link(&ep.host_veth)?;
    write_extras(&dir, &extras)?;
    super::dns::remove(&store.run_root, &n.id, &id);
    let p = dir.join("hosts");
    if let Ok(t) = fs::read_to_string(&p) {
        let own = format!("{}\t", ep.address);
        let kept: String = t
            .lines()
            .filter(|l| !l.starts_with(&own))
            .map(|l| format!("{l}\n"))
            .collect();
        let _ = fs::write(&p, kept);
    }
    release_on(store, &n.id, &id)
}
