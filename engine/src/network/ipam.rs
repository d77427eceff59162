//! Address management: one address per container and network, recorded in the
//! `ip_allocations` table inside an IMMEDIATE transaction (SQLite's write lock), so two
//! concurrent `run`s cannot be handed one address: the second waits for the first's
//! commit and then sees its row; the (network, address) primary key backs that up.
//!
//! An allocation lives from the container's start until it is stopped or removed (or
//! `system check` finds its container gone or not running); a restart by policy keeps its
//! address. A container that exited on its own keeps it until then, or until a full
//! network needs it.

use std::collections::HashSet;
use std::net::Ipv4Addr;

use rusqlite::{params, OptionalExtension};

use super::model::Network;
use super::NetworkError;
use crate::store::Store;

/// The container's address on the network: its existing allocation or the lowest free one
/// (neither the network address, the gateway nor the broadcast address), or the one
/// `want`ed (--ip: docker's errors when outside the subnet or taken).
pub fn allocate(
    store: &Store,
    n: &Network,
    container: &str,
    want: Option<Ipv4Addr>,
) -> Result<Ipv4Addr, NetworkError> {
    let (Some(subnet), Some(gw)) = (n.subnet, n.gateway) else {
        return Err(NetworkError::Invalid(format!(
            "network {} has no subnet to allocate from",
            n.name
        )));
    };
    let db = store.db();
    let tx = rusqlite::Transaction::new_unchecked(db, rusqlite::TransactionBehavior::Immediate)
        .map_err(store.dberr())?;
    let mine: Option<String> = tx
        .query_row(
            "SELECT address FROM ip_allocations WHERE network_id = ?1 AND container_id = ?2",
            params![n.id, container],
            |r| r.get(0),
        )
        .optional()
        .map_err(store.dberr())?;
    if let Some(ip) = mine.and_then(|a| a.parse::<Ipv4Addr>().ok()) {
        if want.is_none_or(|w| w == ip) {
            return Ok(ip);
        }
        tx.execute(
            "DELETE FROM ip_allocations WHERE network_id = ?1 AND container_id = ?2",
            params![n.id, container],
        )
        .map_err(store.dberr())?;
    }
    // Addresses of containers that no longer exist are free again; a `build --network`
    // RUN step is no container but has its namespace under the run root while it runs.
    let orphans: Vec<String> = {
        let mut st = tx
            .prepare("SELECT container_id FROM ip_allocations WHERE network_id = ?1 AND container_id NOT IN (SELECT id FROM containers)")
            .map_err(store.dberr())?;
        let it = st
            .query_map(params![n.id], |r| r.get::<_, String>(0))
            .map_err(store.dberr())?;
        it.filter_map(Result::ok).collect()
    };
    for id in orphans {
        if !store.run_root.join("netns").join(&id).exists() {
            tx.execute(
                "DELETE FROM ip_allocations WHERE network_id = ?1 AND container_id = ?2",
                params![n.id, id],
            )
            .map_err(store.dberr())?;
        }
    }
    let used: HashSet<Ipv4Addr> = {
        let mut st = tx
            .prepare("SELECT address FROM ip_allocations WHERE network_id = ?1")
            .map_err(store.dberr())?;
        let it = st
            .query_map(params![n.id], |r| r.get::<_, String>(0))
            .map_err(store.dberr())?;
        it.filter_map(|a| a.ok().and_then(|a| a.parse().ok()))
            .collect()
    };
    if let Some(w) = want {
        let first = u32::from(subnet.addr);
        if !subnet.contains(w) || u32::from(w) == first || w == subnet.broadcast() {
            return Err(NetworkError::Invalid(format!(
                "Invalid address {w}: It does not belong to any of this network's subnets"
            )));
        }
        let holder: Option<String> = tx
            .query_row(
                "SELECT container_id FROM ip_allocations WHERE network_id = ?1 AND address = ?2",
                params![n.id, w.to_string()],
                |r| r.get(0),
            )
            .optional()
            .map_err(store.dberr())?;
        // A holder that is not running (exited on its own) gives the address up, as a
        // full network takes such addresses over.
        let busy = holder
            .as_ref()
            .is_some_and(|c| crate::container::load(store, c).is_ok_and(|c| c.running()));
        if w == gw || busy {
            return Err(NetworkError::Invalid("Address already in use".into()));
        }
        tx.execute(
            "DELETE FROM ip_allocations WHERE network_id = ?1 AND address = ?2",
            params![n.id, w.to_string()],
        )
        .map_err(store.dberr())?;
        tx.execute(
            "INSERT INTO ip_allocations (network_id, address, container_id) VALUES (?1, ?2, ?3)",
            params![n.id, w.to_string(), container],
        )
        .map_err(store.dberr())?;
        tx.commit().map_err(store.dberr())?;
        return Ok(w);
    }
    let first = u32::from(subnet.addr) + 1;
    let last = u32::from(subnet.broadcast()) - 1;
    let free = (first..=last)
        .map(Ipv4Addr::from)
        .find(|ip| *ip != gw && !used.contains(ip));
    let ip = match free {
        Some(ip) => ip,
        // Full: an address held by a container that exited on its own (its monitor
        // cannot free it: it never touches the database) is taken over.
        None => {
            let holders: Vec<(String, String)> = {
                let mut st = tx
                    .prepare(
                        "SELECT address, container_id FROM ip_allocations WHERE network_id = ?1",
                    )
                    .map_err(store.dberr())?;
                let it = st
                    .query_map(params![n.id], |r| Ok((r.get(0)?, r.get(1)?)))
                    .map_err(store.dberr())?;
                it.collect::<Result<_, _>>().map_err(store.dberr())?
            };
            let idle = holders
                .into_iter()
                .find(|(_, c)| !crate::container::load(store, c).is_ok_and(|c| c.running()));
            let (addr, holder) = idle.ok_or_else(|| NetworkError::Exhausted(n.name.clone()))?;
            tx.execute(
                "DELETE FROM ip_allocations WHERE network_id = ?1 AND container_id = ?2",
                params![n.id, holder],
            )
            .map_err(store.dberr())?;
            addr.parse()
                .map_err(|_| NetworkError::Exhausted(n.name.clone()))?
        }
    };
    tx.execute(
        "INSERT INTO ip_allocations (network_id, address, container_id) VALUES (?1, ?2, ?3)",
        params![n.id, ip.to_string(), container],
    )
    .map_err(store.dberr())?;
    tx.commit().map_err(store.dberr())?;
    Ok(ip)
}

/// Frees every address the container holds.
pub fn release(store: &Store, container: &str) -> Result<(), NetworkError> {
    store
        .db()
        .execute(
            "DELETE FROM ip_allocations WHERE container_id = ?1",
            params![container],
        )
        .map_err(store.dberr())?;
    Ok(())
}

/// Every allocation: (network name, address, container id).
pub fn all(store: &Store) -> Result<Vec<(String, String, String)>, NetworkError> {
    super::model::ensure(store)?;
    let mut st = store
        .db()
        .prepare(
            "SELECT n.name, a.address, a.container_id FROM ip_allocations a JOIN networks n ON n.id = a.network_id ORDER BY n.name, a.address",
        )
        .map_err(store.dberr())?;
    let it = st
        .query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))
        .map_err(store.dberr())?;
    Ok(it.collect::<Result<_, _>>().map_err(store.dberr())?)
}
