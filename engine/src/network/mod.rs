//! Container networks, the podman way and docker's model: a network is a record (see
//! [`model`]) and, once a container joins it, a Linux bridge; each container on it gets a
//! persistent network namespace (bind-mounted at `<run root>/netns/<id>`) made by the
//! engine before the monitor starts, a veth pair into it, an address from [`ipam`], a
//! default route, /etc/hosts and /etc/resolv.conf ([`link`]); published ports and
//! masquerading are nftables elements in a table of our own ([`firewall`], [`portmap`]).
//!
//! What a running container has on its network is recorded in `network.json` in its
//! directory: the monitor, which reads files only, tears the namespace and rules down from
//! it when the container is gone for good; `stop`, `rm` and `system check` free the
//! address and the ports in the database. The default network is docker's `bridge`
//! ([`default_mode`]; `"bridge": "none"` in the engine's settings makes it `none`).

pub mod connect;
pub mod dns;
pub mod dnsserver;
pub mod firewall;
pub mod ipam;
pub mod link;
pub mod model;
pub mod nfset;
pub mod nlmsg;
pub mod options;
pub mod portmap;
pub mod shared;

use std::fs;
use std::io;
use std::net::Ipv4Addr;
use std::os::fd::AsRawFd;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};
use serde_json::{json, Value};

use crate::container::{Container, ContainerError, Settings};
use crate::store::{Store, StoreError};
pub use model::{Network, Subnet};
use portmap::Binding;

/// Why a network operation failed.
#[derive(Debug, thiserror::Error)]
pub enum NetworkError {
    /// The store failed.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// Listing containers failed.
    #[error(transparent)]
    Container(Box<ContainerError>),
    /// docker's wording.
    #[error("network {0} not found")]
    NotFound(String),
    /// An id prefix matched several networks.
    #[error("network {0} is ambiguous (multiple networks have this id prefix)")]
    Ambiguous(String),
    /// docker's wording.
    #[error("network with name {0} already exists")]
    Exists(String),
    /// docker's wording, with the subnet asked for.
    #[error("invalid pool request: Pool overlaps with other one on this address space ({0})")]
    Overlap(String),
    /// A value refused.
    #[error("{0}")]
    Invalid(String),
    /// docker's wording for `network rm` of a network containers use.
    #[error(
        "error while removing network: network {name} id {id} has active endpoints ({containers})"
    )]
    InUse {
        /// The network.
        name: String,
        /// Its id.
        id: String,
        /// The containers on it.
        containers: String,
    },
    /// docker's wording.
    #[error("{0} is a pre-defined network and cannot be removed")]
    Predefined(String),
    /// Every address taken.
    #[error("no available IPv4 addresses on network {0}")]
    Exhausted(String),
    /// docker's wording for a host port that cannot be had.
    #[error("Bind for {addr} failed: {why}")]
    Port {
        /// ip:port.
        addr: String,
        /// The cause.
        why: String,
    },
    /// nft refused a change (its message).
    #[error("nftables: {0}")]
    Firewall(String),
    /// A netlink or namespace operation failed.
    #[error("{what}: {why}")]
    Link {
        /// What was being done.
        what: String,
        /// The cause.
        why: String,
    },
    /// A file of the network's.
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

impl From<ContainerError> for NetworkError {
    fn from(e: ContainerError) -> Self {
        NetworkError::Container(Box::new(e))
    }
}

/// A running container's place on its network (`network.json` in its directory).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Endpoint {
    /// The network's name.
    pub network: String,
    /// Its id.
    pub network_id: String,
    /// Its bridge.
    pub bridge: String,
    /// The container's address.
    pub address: Ipv4Addr,
    /// The subnet's prefix length.
    pub prefix: u8,
    /// The gateway.
    pub gateway: Ipv4Addr,
    /// eth0's MAC.
    pub mac: String,
    /// The host end of the veth pair.
    pub host_veth: String,
    /// The namespace's bind mount.
    pub netns: PathBuf,
    /// Published ports.
    pub ports: Vec<Binding>,
    /// --network-alias names (user networks only).
    #[serde(default)]
    pub aliases: Vec<String>,
    /// The interface inside (`eth0`, or `ethN` for `network connect`).
    #[serde(default = "eth0")]
    pub ifname: String,
    /// `network disconnect` took the container off this, its first, network while it ran:
    /// the record stays for the namespace it names (teardown, `network connect`).
    #[serde(default)]
    pub detached: bool,
}

fn eth0() -> String {
    "eth0".into()
}

const ENDPOINT: &str = "network.json";

/// The endpoint recorded in a container directory, if any.
pub fn endpoint_at(dir: &Path) -> Option<Endpoint> {
    fs::read(dir.join(ENDPOINT))
        .ok()
        .and_then(|b| serde_json::from_slice(&b).ok())
}

/// Every endpoint of a container: its first network's (unless disconnected), then those
/// `network connect` added.
pub fn endpoints_at(dir: &Path) -> Vec<Endpoint> {
    let mut v: Vec<Endpoint> = endpoint_at(dir)
        .into_iter()
        .filter(|e| !e.detached)
        .collect();
    v.extend(extras_at(dir));
    v
}

/// The endpoints `network connect` added to a running container.
pub(crate) fn extras_at(dir: &Path) -> Vec<Endpoint> {
    fs::read(dir.join(EXTRA))
        .ok()
        .and_then(|b| serde_json::from_slice::<Vec<Endpoint>>(&b).ok())
        .unwrap_or_default()
}

/// Endpoints `network connect` added to a running container.
pub(crate) const EXTRA: &str = "network-extra.json";

/// The namespace the container's config must join, if it has one of ours.
pub fn netns_of(dir: &Path) -> Option<PathBuf> {
    endpoint_at(dir).map(|e| e.netns)
}

/// Does this `--network` value ask for one of our networks?
pub fn is_bridged(mode: &str) -> bool {
    !matches!(mode, "none" | "host" | "") && !mode.starts_with("container:")
}

/// The network of a container made without `--network`: docker's `bridge`, or `none`
/// when the engine's settings say `"bridge": "none"` (dockerd's setting). `-p`/`-P` do not
/// bring the bridge back: an engine told to make no bridge makes none unless
/// `--network` names one (its ports are refused as with `--network none`).
pub fn default_mode(store: &Store) -> Result<String, NetworkError> {
    let c =
        crate::config::load_for(&store.root).map_err(|e| NetworkError::Invalid(e.to_string()))?;
    Ok(if c.bridge_disabled() {
        "none"
    } else {
        "bridge"
    }
    .into())
}

/// At create: the network must exist (docker refuses an unknown one then); a
/// `container:` mode is resolved ([`shared`]).
pub fn check_settings(store: &Store, s: &mut Settings) -> Result<(), NetworkError> {
    shared::resolve_at_create(store, s)?;
    if is_bridged(&s.network) {
        let n = model::get(store, &s.network)?;
        if n.driver != "bridge" {
            return Err(NetworkError::Invalid(format!(
                "container cannot be connected to network {} with --network={}",
                n.name, s.network
            )));
        }
    }
    Ok(())
}

/// Serialises namespace, device and nftables set-up among concurrent commands.
pub(crate) struct Lock {
    _file: fs::File,
}

pub(crate) fn lock(store: &Store) -> Result<Lock, NetworkError> {
    let p = store.run_root.join("network.lock");
    let f = fs::File::create(&p).map_err(|source| NetworkError::Io {
        op: "create",
        path: p.clone(),
        source,
    })?;
    // SAFETY: f is an open file; flock keeps no pointer and the lock goes with the fd.
    if unsafe { libc::flock(f.as_raw_fd(), libc::LOCK_EX) } != 0 {
        return Err(NetworkError::Io {
            op: "lock",
            path: p,
            source: io::Error::last_os_error(),
        });
    }
    Ok(Lock { _file: f })
}

pub(crate) fn mac_for(ip: Ipv4Addr) -> [u8; 6] {
    let o = ip.octets();
    // docker's scheme: locally administered 02:42 then the address, so a reused address
    // comes back with the MAC that neighbours' ARP caches may still hold.
    [0x02, 0x42, o[0], o[1], o[2], o[3]]
}

/// Joins the container to its network before its monitor starts: address, ports,
/// bridge, namespace, veth, rules, hosts and resolv.conf. A failure undoes all of it.
pub fn attach(store: &Store, s: &Settings) -> Result<Option<Endpoint>, NetworkError> {
    shared::check_start(store, s)?;
    if !is_bridged(&s.network) {
        return Ok(None);
    }
    // The network it was made on (unless `network disconnect` took it off), then those
    // `network connect` recorded: the first gets eth0, the default route and the ports.
    let dir = store.container_dir(&s.id);
    let rec = connect::record_at(&dir);
    let mut plan: Vec<connect::Wanted> = Vec::new();
    if !rec.left_primary {
        plan.push(connect::Wanted {
            network: s.network.clone(),
            ip: s.net.ip,
            aliases: s.net.aliases.clone(),
        });
    }
    plan.extend(rec.connected);
    let Some((first, rest)) = plan.split_first() else {
        return Ok(None);
    };
    let ep = attach_first(store, s, first, &dir)?;
    for w in rest {
        if let Err(e) = connect::join_at_start(store, s, w) {
            let _ = detach(store, &s.id);
            return Err(e);
        }
    }
    Ok(Some(ep))
}

fn attach_first(
    store: &Store,
    s: &Settings,
    want: &connect::Wanted,
    dir: &Path,
) -> Result<Endpoint, NetworkError> {
    let n = model::get(store, &want.network)?;
    let (Some(subnet), Some(gateway)) = (n.subnet, n.gateway) else {
        return Err(NetworkError::Invalid(format!(
            "network {} has no subnet",
            n.name
        )));
    };
    let dir = dir.to_path_buf();
    let _l = lock(store)?;
    // What a crash left of an earlier run goes first.
    teardown_files(&dir);
    let ip = ipam::allocate(store, &n, &s.id, want.ip)?;
    let mut ep = Endpoint {
        network: n.name.clone(),
        network_id: n.id.clone(),
        bridge: n.bridge.clone(),
        address: ip,
        prefix: subnet.prefix,
        gateway,
        mac: mac_for(ip)
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect::<Vec<_>>()
            .join(":"),
        host_veth: format!("ov{}", &s.id[..13]),
        netns: store.run_root.join("netns").join(&s.id),
        ports: Vec::new(),
        aliases: want.aliases.clone(),
        ifname: eth0(),
        detached: false,
    };
    let ready = store
        .run_root
        .join("netns")
        .join(format!(".ready-{}", n.bridge));
    let r = (|| {
        ep.ports = portmap::reserve(store, &s.id, &s.ports)?;
        // The bridge, the table and the network's elements are made once per boot (the
        // marker lives on the run root's tmpfs, as devices and ruleset live in the
        // kernel): each `nft` run and netlink thread costs milliseconds that every `run`
        // would pay. A failed attach removes the marker, so a bridge deleted behind our
        // back is made again by the next one.
        ensure_ready(&ready, &n, subnet, gateway)?;
        // Recorded before the devices exist: a crash from here on leaves a record that
        // teardown and `system check` act on.
        write_endpoint(&dir, &ep)?;
        link::plumb(&link::Plumbing {
            netns: ep.netns.clone(),
            bridge: n.bridge.clone(),
            host_veth: ep.host_veth.clone(),
            peer_tmp: format!("op{}", &s.id[..13]),
            addr: ip,
            prefix: subnet.prefix,
            gateway,
            default_route: !n.internal,
            mac: mac_for(ip),
            ifname: eth0(),
            existing: false,
        })?;
        firewall::add_ports(&ep.ports, ip)?;
        write_hosts(store, &dir, s, &n, ip, gateway)?;
        // User networks: names resolve through the network's responder (see dns).
        let user = !n.predefined();
        write_resolv(&dir, &s.net, user.then_some(gateway))?;
        if user {
            let mut names = vec![s.name.clone()];
            names.extend(s.net.aliases.iter().filter(|a| **a != s.name).cloned());
            join_dns(store, &n, gateway, &s.id, names, ip, &s.net)?;
        }
        Ok(())
    })();
    if let Err(e) = r {
        dns::remove(&store.run_root, &n.id, &s.id);
        let _ = fs::remove_file(&ready);
        teardown_files(&dir);
        link::delete_link_now(&ep.host_veth);
        let _ = ipam::release(store, &s.id);
        let _ = portmap::release(store, &s.id);
        return Err(e);
    }
    Ok(ep)
}

/// `build --network NAME|bridge`: a RUN step's container (settings `s`, its files in the
/// step's directory `dir`) joins the network as a container's first network does; its
/// namespace, veth, hosts and resolv.conf are in `dir`. [`detach_step`] undoes it.
pub fn attach_step(store: &Store, s: &Settings, dir: &Path) -> Result<Endpoint, NetworkError> {
    attach_first(
        store,
        s,
        &connect::Wanted {
            network: s.network.clone(),
            ip: None,
            aliases: Vec::new(),
        },
        dir,
    )
}

/// Takes a RUN step's container off its network (after the step, whether it worked).
pub fn detach_step(store: &Store, id: &str, dir: &Path) -> Result<(), NetworkError> {
    teardown_files(dir);
    ipam::release(store, id)?;
    portmap::release(store, id)
}

/// The container's record on user network `n` and the network's responder, started
/// unless alive. The caller holds the network lock.
pub(crate) fn join_dns(
    store: &Store,
    n: &Network,
    gateway: Ipv4Addr,
    id: &str,
    names: Vec<String>,
    address: Ipv4Addr,
    o: &options::NetOptions,
) -> Result<(), NetworkError> {
    // docker's rule: --dns servers are where the embedded DNS forwards this container's
    // other queries; without them, the host's; without those, Google's public servers.
    let upstreams = if o.dns.is_empty() {
        let host = dns::nameservers(&fs::read_to_string(host_resolv_path()).unwrap_or_default());
        if host.is_empty() {
            vec![
                std::net::IpAddr::V4(Ipv4Addr::new(8, 8, 8, 8)),
                std::net::IpAddr::V4(Ipv4Addr::new(8, 8, 4, 4)),
            ]
        } else {
            host
        }
    } else {
        o.dns.iter().map(|a| std::net::IpAddr::V4(*a)).collect()
    };
    let rec = dns::Record {
        id: id.to_string(),
        names,
        address,
        upstreams,
    };
    dns::add(&store.run_root, &n.id, &rec)?;
    let prefix = n.subnet.map_or(32, |s| s.prefix);
    dns::ensure(&store.run_root, &n.id, gateway, prefix)
}

/// The host's resolv.conf as the engine sees it: `ONGI_RESOLV_CONF` names another file
/// (tests point it at a resolver of their own).
pub(crate) fn host_resolv_path() -> PathBuf {
    std::env::var_os("ONGI_RESOLV_CONF")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from("/etc/resolv.conf"))
}

/// The network's bridge, table and elements, once per boot (see [`attach`]).
pub(crate) fn ensure_ready(
    ready: &Path,
    n: &Network,
    subnet: Subnet,
    gateway: Ipv4Addr,
) -> Result<(), NetworkError> {
    if !ready.exists() {
        link::ensure_bridge(&n.bridge, gateway, subnet.prefix)?;
        firewall::ensure_table()?;
        firewall::add_network(&n.bridge, &subnet.to_string(), n.internal)?;
        if let Some(d) = ready.parent() {
            let _ = fs::create_dir_all(d);
        }
        let _ = fs::write(ready, b"");
    }
    Ok(())
}

pub(crate) fn write_endpoint(dir: &Path, ep: &Endpoint) -> Result<(), NetworkError> {
    let tmp = dir.join(".network.json.tmp");
    let io = |op, path: &Path| {
        let path = path.to_path_buf();
        move |source| NetworkError::Io { op, path, source }
    };
    fs::write(&tmp, serde_json::to_vec(ep).unwrap_or_default()).map_err(io("write", &tmp))?;
    fs::rename(&tmp, dir.join(ENDPOINT)).map_err(io("rename", &tmp))
}

/// Names of a container on a network: its name, then its aliases there.
pub(crate) fn names_of(c: &Container, ep: &Endpoint) -> Vec<String> {
    let mut v = vec![c.settings.name.clone()];
    for a in &ep.aliases {
        if !v.contains(a) {
            v.push(a.clone());
        }
    }
    v
}

/// docker's /etc/hosts for a container on a bridge network: its own line, the peers on
/// a user network that run now (docker resolves them by DNS; later ones are not seen
/// yet), `--link` entries and `--add-host`.
fn write_hosts(
    store: &Store,
    dir: &Path,
    s: &Settings,
    n: &Network,
    ip: Ipv4Addr,
    gateway: Ipv4Addr,
) -> Result<(), NetworkError> {
    let mut own = vec![s.hostname.clone()];
    if !s.name.is_empty() && s.name != s.hostname {
        own.push(s.name.clone());
    }
    let mut extra = Vec::new();
    // Peers only on user networks: listing every container costs each `run` on the
    // default bridge time that grows with the store.
    if !n.predefined() {
        let all = crate::container::list(store)?;
        for c in all.iter().filter(|c| c.running() && c.settings.id != s.id) {
            for ep in endpoints_at(&store.container_dir(&c.settings.id)) {
                if ep.network_id == n.id {
                    extra.push((ep.address.to_string(), names_of(c, &ep)));
                }
            }
        }
    }
    for (name, alias) in &s.net.links {
        let not_running = || {
            NetworkError::Invalid(format!(
                "Cannot link to a non running container: /{name} AS /{}/{alias}",
                s.name
            ))
        };
        let c = crate::container::resolve(store, name)
            .and_then(|id| crate::container::load(store, &id))
            .map_err(|_| NetworkError::Invalid(format!("could not get container for {name}")))?;
        if !c.running() {
            return Err(not_running());
        }
        let eps = endpoints_at(&store.container_dir(&c.settings.id));
        let ep = eps
            .iter()
            .find(|e| e.network_id == n.id)
            .or(eps.first())
            .ok_or_else(not_running)?;
        let mut names = vec![alias.clone()];
        for x in [c.settings.id[..12].to_string(), c.settings.name.clone()] {
            if !names.contains(&x) {
                names.push(x);
            }
        }
        extra.push((ep.address.to_string(), names));
    }
    extra.extend(options::add_host_entries(&s.net, Some(gateway)));
    let text = options::hosts_file(Some((ip.to_string(), own)), &extra);
    let p = dir.join("hosts");
    fs::write(&p, text).map_err(|source| NetworkError::Io {
        op: "write",
        path: p,
        source,
    })
}

/// The host's resolv.conf without loopback name servers (unreachable from a container's
/// own namespace).
fn host_resolv() -> String {
    let host = fs::read_to_string(host_resolv_path()).unwrap_or_default();
    host.lines()
        .filter(|l| {
            let mut w = l.split_whitespace();
            !(w.next() == Some("nameserver")
                && w.next()
                    .is_some_and(|a| a.starts_with("127.") || a == "::1"))
        })
        .map(|l| format!("{l}\n"))
        .collect()
}

/// docker's rule: the host's resolv.conf without loopback name servers, Google's public
/// servers when none is left; the --dns* flags replace their parts. On a user network
/// (`dns_at`: its gateway) the one name server is the network's responder, which
/// forwards to the host's servers or --dns's (docker writes its 127.0.0.11 there).
fn write_resolv(
    dir: &Path,
    o: &options::NetOptions,
    dns_at: Option<Ipv4Addr>,
) -> Result<(), NetworkError> {
    if let Some(gw) = dns_at {
        let mut base: String = host_resolv()
            .lines()
            .filter(|l| l.split_whitespace().next() != Some("nameserver"))
            .map(|l| format!("{l}\n"))
            .collect();
        base.push_str(&format!("nameserver {gw}\n"));
        let o = options::NetOptions {
            dns: Vec::new(),
            ..o.clone()
        };
        let p = dir.join("resolv.conf");
        return fs::write(&p, options::resolv_file(&o, &base)).map_err(|source| NetworkError::Io {
            op: "write",
            path: p,
            source,
        });
    }
    let mut base = host_resolv();
    if o.dns.is_empty()
        && !base
            .lines()
            .any(|l| l.trim_start().starts_with("nameserver"))
    {
        base.push_str("nameserver 8.8.8.8\nnameserver 8.8.4.4\n");
    }
    let p = dir.join("resolv.conf");
    fs::write(&p, options::resolv_file(o, &base)).map_err(|source| NetworkError::Io {
        op: "write",
        path: p,
        source,
    })
}

/// /etc/hosts of a container made without a network of ours (none, host): written at
/// create; `host-gateway` is the default bridge's gateway, as docker's.
pub fn static_hosts(s: &Settings) -> String {
    let gw = model::Subnet::parse(model::DEFAULT_SUBNET)
        .ok()
        .map(|n| n.first_host());
    options::hosts_file(
        Some(("127.0.1.1".into(), vec![s.hostname.clone()])),
        &options::add_host_entries(&s.net, gw),
    )
}

/// resolv.conf of a container made without a network of ours: the host's for `host`
/// (its resolvers are reachable there), only what --dns* asks for otherwise.
pub fn static_resolv(s: &Settings) -> String {
    if s.network == "host" {
        return fs::read_to_string("/etc/resolv.conf").unwrap_or_default();
    }
    let t = options::resolv_file(&s.net, "");
    if t.trim().is_empty() {
        String::new()
    } else {
        t
    }
}

/// The network flags of `run`/`create` checked against the mode, and the ports to
/// publish: `-p`'s, then (with `-P`) every port the image EXPOSEs not already given, to
/// a free host port.
pub fn settings_flags(
    f: &crate::container::RunFlags,
    img: &crate::image::ImageConfig,
    network: &str,
) -> Result<(options::NetOptions, Vec<portmap::PortSpec>), NetworkError> {
    let mut ports = parse_publish(&f.publish)?;
    let net = options::parse(&f.net)?;
    shared::check_flags(
        &net,
        network,
        f.hostname.as_ref().is_some_and(|h| !h.is_empty()),
    )?;
    options::check_mode(&net, network)?;
    if net.publish_all {
        for k in img.config.exposed_ports.iter().flat_map(|m| m.keys()) {
            let (port, proto) = k.split_once('/').unwrap_or((k, "tcp"));
            let Ok(port) = port.parse::<u16>() else {
                continue;
            };
            if !ports
                .iter()
                .any(|p| p.container_port == port && p.proto == proto)
            {
                ports.push(portmap::PortSpec {
                    proto: proto.to_string(),
                    host_ip: String::new(),
                    host_port: 0,
                    container_port: port,
                });
            }
        }
    }
    Ok((net, ports))
}

/// Tears down what `network.json` in `dir` records (published ports, the namespace, the
/// host veth) and removes the record. Files and kernel objects only, no database: the
/// monitor calls it. Returns the endpoint that was there.
pub fn teardown_files(dir: &Path) -> Option<Endpoint> {
    // Off every network's DNS (the run root is the namespace directory's parent's).
    if let Some(cid) = dir.file_name().and_then(|c| c.to_str()) {
        for x in endpoints_at(dir) {
            if let Some(rr) = x.netns.parent().and_then(Path::parent) {
                dns::remove(rr, &x.network_id, cid);
            }
        }
    }
    // The veths are not deleted one by one: every pair has an end in the namespace, and
    // the kernel deletes them all when the namespace is released (by a work queue, a
    // moment later). Deleting them here cost an RCU grace period each, ~15 ms of every
    // stop and `run --rm`; a start that finds the old veth still there deletes it first
    // (link::plumb). The same holds for the extra networks' veths (`network connect`).
    // Raw netlink, not rtnetlink, for the ports: the monitor calls this.
    // Except when a `--network container:` joiner ran in the namespace: it may still hold
    // it, and with it the veths and addresses given back now; docker takes the joiner's
    // network away with its owner's, so they go now.
    let marker = dir.join(shared::JOINED);
    let extras = extras_at(dir);
    let _ = fs::remove_file(dir.join(EXTRA));
    let ep = endpoint_at(dir)?;
    if marker.exists() {
        for x in std::iter::once(&ep).chain(extras.iter()) {
            link::delete_link_now(&x.host_veth);
        }
        let _ = fs::remove_file(&marker);
    }
    firewall::remove_ports(&ep.ports);
    link::remove_netns(&ep.netns);
    let _ = fs::remove_file(dir.join(ENDPOINT));
    Some(ep)
}

/// Takes the container off its network entirely: devices, rules, and its address and
/// ports in the database (stop, rm, a failed start).
pub fn detach(store: &Store, id: &str) -> Result<(), NetworkError> {
    teardown_files(&store.container_dir(id));
    model::ensure(store)?;
    ipam::release(store, id)?;
    portmap::release(store, id)
}

/// `network rm`: refused for docker's predefined networks and for networks containers
/// use; the bridge and its set elements go with the record.
pub fn remove(store: &Store, key: &str) -> Result<Network, NetworkError> {
    let n = model::get(store, key)?;
    if n.predefined() {
        return Err(NetworkError::Predefined(n.name));
    }
    let users = model::users(store, &n)?;
    if !users.is_empty() {
        return Err(NetworkError::InUse {
            name: n.name.clone(),
            id: n.id.clone(),
            containers: users.join(", "),
        });
    }
    let _l = lock(store)?;
    dns::stop(&store.run_root, &n.id);
    if let Some(s) = n.subnet {
        firewall::remove_network(&n.bridge, &s.to_string(), n.internal);
    }
    link::delete_link(&n.bridge)?;
    let _ = fs::remove_file(
        store
            .run_root
            .join("netns")
            .join(format!(".ready-{}", n.bridge)),
    );
    model::delete(store, &n)?;
    Ok(n)
}

/// `network prune`: every user-defined network no container uses; their names.
pub fn prune(store: &Store) -> Result<Vec<String>, NetworkError> {
    let mut out = Vec::new();
    for n in model::list(store)? {
        if n.predefined() || !model::users(store, &n)?.is_empty() {
            continue;
        }
        remove(store, &n.id)?;
        out.push(n.name);
    }
    Ok(out)
}

/// docker's `network inspect` JSON.
pub fn inspect(store: &Store, n: &Network) -> Result<Value, NetworkError> {
    let mut ctrs = serde_json::Map::new();
    for c in crate::container::list(store)? {
        if !c.running() {
            continue;
        }
        for ep in endpoints_at(&store.container_dir(&c.settings.id)) {
            if ep.network_id == n.id {
                ctrs.insert(
                    c.settings.id.clone(),
                    json!({
                        "Name": c.settings.name,
                        "EndpointID": endpoint_id(&c.settings.id, &n.id),
                        "MacAddress": ep.mac,
                        "IPv4Address": format!("{}/{}", ep.address, ep.prefix),
                        "IPv6Address": "",
                    }),
                );
            }
        }
    }
    let config: Vec<Value> = match (n.subnet, n.gateway) {
        (Some(s), Some(g)) => vec![json!({"Subnet": s.to_string(), "Gateway": g.to_string()})],
        _ => vec![],
    };
    let mut options = serde_json::Map::new();
    if !n.bridge.is_empty() {
        options.insert("com.docker.network.bridge.name".into(), json!(n.bridge));
    }
    Ok(json!({
        "Name": n.name,
        "Id": n.id,
        "Created": n.created,
        "Scope": "local",
        "Driver": n.driver,
        "EnableIPv6": false,
        "IPAM": {"Driver": "default", "Options": {}, "Config": config},
        "Internal": n.internal,
        "Attachable": false,
        "Ingress": false,
        "ConfigFrom": {"Network": ""},
        "ConfigOnly": false,
        "Containers": ctrs,
        "Options": options,
        "Labels": n.labels,
    }))
}

pub(crate) fn endpoint_id(container: &str, network: &str) -> String {
    crate::store::sha256_digest(format!("{container}/{network}").as_bytes())
        .trim_start_matches("sha256:")
        .to_string()
}

/// docker's `NetworkSettings` for a container's inspect JSON.
pub fn settings_json(store: &Store, c: &Container) -> Value {
    let s = &c.settings;
    let ep = if c.running() {
        endpoint_at(&store.container_dir(&s.id)).filter(|e| !e.detached)
    } else {
        None
    };
    let mut ports = serde_json::Map::new();
    for p in &s.ports {
        let key = format!("{}/{}", p.container_port, p.proto);
        let bound: Vec<Value> = ep
            .iter()
            .flat_map(|e| e.ports.iter())
            .filter(|b| b.container_port == p.container_port && b.proto == p.proto)
            .map(|b| json!({"HostIp": b.host_ip.to_string(), "HostPort": b.host_port.to_string()}))
            .collect();
        ports.insert(
            key,
            if bound.is_empty() {
                Value::Null
            } else {
                json!(bound)
            },
        );
    }
    let mut networks = serde_json::Map::new();
    let all = if c.running() {
        endpoints_at(&store.container_dir(&s.id))
    } else {
        Vec::new()
    };
    for e in &all {
        networks.insert(
            e.network.clone(),
            json!({
                "IPAMConfig": null, "Links": null,
                "Aliases": if e.aliases.is_empty() { Value::Null } else { json!(e.aliases) },
                "MacAddress": e.mac,
                "NetworkID": e.network_id,
                "EndpointID": endpoint_id(&s.id, &e.network_id),
                "Gateway": e.gateway.to_string(),
                "IPAddress": e.address.to_string(),
                "IPPrefixLen": e.prefix,
                "IPv6Gateway": "", "GlobalIPv6Address": "", "GlobalIPv6PrefixLen": 0,
                "DriverOpts": null,
            }),
        );
    }
    if all.is_empty() && matches!(s.network.as_str(), "host" | "none") {
        networks.insert(
            s.network.clone(),
            json!({"IPAMConfig": null, "Links": null, "Aliases": null, "MacAddress": "",
                   "NetworkID": "", "EndpointID": "", "Gateway": "", "IPAddress": "",
                   "IPPrefixLen": 0, "DriverOpts": null}),
        );
    }
    json!({
        "Bridge": "",
        "SandboxID": "",
        "SandboxKey": ep.as_ref().map(|e| e.netns.display().to_string()).unwrap_or_default(),
        "Ports": ports,
        "Gateway": ep.as_ref().map(|e| e.gateway.to_string()).unwrap_or_default(),
        "IPAddress": ep.as_ref().map(|e| e.address.to_string()).unwrap_or_default(),
        "IPPrefixLen": ep.as_ref().map_or(0, |e| e.prefix),
        "MacAddress": ep.as_ref().map(|e| e.mac.clone()).unwrap_or_default(),
        "Networks": networks,
    })
}

/// docker's `HostConfig.PortBindings`: the -p values as asked for.
pub fn port_bindings_json(s: &Settings) -> Value {
    let mut m = serde_json::Map::new();
    for p in &s.ports {
        let e = m
            .entry(format!("{}/{}", p.container_port, p.proto))
            .or_insert_with(|| json!([]));
        if let Value::Array(a) = e {
            a.push(json!({
                "HostIp": p.host_ip,
                "HostPort": if p.host_port == 0 { String::new() } else { p.host_port.to_string() },
            }));
        }
    }
    Value::Object(m)
}

/// `ps`'s PORTS cell: `0.0.0.0:8080->80/tcp, ...` while running.
pub fn ps_ports(store: &Store, c: &Container) -> String {
    ports(store, c)
        .into_iter()
        .map(|(ctr, host)| format!("{host}->{ctr}"))
        .collect::<Vec<_>>()
        .join(", ")
}

/// `port NAME`: the container's published ports as (container port/proto, host ip:port).
pub fn ports(store: &Store, c: &Container) -> Vec<(String, String)> {
    let Some(ep) = c
        .running()
        .then(|| endpoint_at(&store.container_dir(&c.settings.id)))
        .flatten()
    else {
        return Vec::new();
    };
    ep.ports
        .iter()
        .map(|b| {
            (
                format!("{}/{}", b.container_port, b.proto),
                format!("{}:{}", b.host_ip, b.host_port),
            )
        })
        .collect()
}

/// `system check`'s part: namespaces, host veths, published-port elements, addresses
/// and port reservations left by containers that are not running (a kill -9 of the
/// monitor, a crash mid-start). Returns what it removed.
pub fn check(store: &Store) -> Result<Vec<String>, NetworkError> {
    model::ensure(store)?;
    let mut out = Vec::new();
    let all = crate::container::list(store)?;
    let running: std::collections::HashSet<&str> = all
        .iter()
        .filter(|c| c.running())
        .map(|c| c.settings.id.as_str())
        .collect();
    let _l = lock(store)?;
    let mut live_ports = std::collections::HashSet::new();
    let mut live_veths = std::collections::HashSet::new();
    for c in &all {
        let dir = store.container_dir(&c.settings.id);
        if running.contains(c.settings.id.as_str()) {
            if let Some(ep) = endpoint_at(&dir) {
                live_ports.extend(ep.ports.iter().map(firewall::key_of));
                live_veths.insert(ep.host_veth);
            }
        } else if let Some(ep) = teardown_files(&dir) {
            out.push(format!(
                "network endpoint of stopped container {} ({})",
                c.settings.name, ep.address
            ));
        }
    }
    let nets: Vec<(String, Ipv4Addr, u8)> = model::list(store)?
        .into_iter()
        .filter_map(|n| Some((n.id, n.gateway?, n.subnet?.prefix)))
        .collect();
    out.extend(dns::check(
        &store.run_root,
        &|id| running.contains(id),
        &nets,
    ));
    let nsdir = store.run_root.join("netns");
    if let Ok(rd) = fs::read_dir(&nsdir) {
        for e in rd.flatten() {
            let name = e.file_name().to_string_lossy().into_owned();
            if !name.starts_with('.') && !running.contains(name.as_str()) {
                link::remove_netns(&e.path());
                out.push(format!("network namespace {}", e.path().display()));
            }
        }
    }
    // Devices and rules are shared by every store in this network namespace: only those
    // of this store's own containers (by id) and subnets are touched.
    let mine = |v: &str| all.iter().any(|c| c.settings.id.starts_with(&v[2..]));
    for v in link::links_named("ov")? {
        if v.len() == 15 && !live_veths.contains(&v) && mine(&v) {
            let _ = link::delete_link(&v);
            out.push(format!("veth {v}"));
        }
    }
    let subnets: Vec<Subnet> = model::list(store)?
        .iter()
        .filter_map(|n| n.subnet)
        .collect();
    for (k, target) in firewall::port_keys() {
        let ours = target.is_some_and(|ip| subnets.iter().any(|s| s.contains(ip)));
        if ours && !live_ports.contains(&k) {
            firewall::remove_port_key(&k);
            out.push(format!("published port {k}"));
        }
    }
    for (net, addr, cid) in ipam::all(store)? {
        if !running.contains(cid.as_str()) {
            ipam::release(store, &cid)?;
            out.push(format!("address {addr} on network {net}"));
        }
    }
    for cid in portmap::holders(store)? {
        if !running.contains(cid.as_str()) {
            portmap::release(store, &cid)?;
            out.push(format!(
                "port reservations of {}",
                &cid[..cid.len().min(12)]
            ));
        }
    }
    Ok(out)
}

/// Resolves `-p` values for [`Settings::ports`].
pub fn parse_publish(values: &[String]) -> Result<Vec<portmap::PortSpec>, NetworkError> {
    let mut out = Vec::new();
    for v in values {
        out.extend(portmap::parse(v)?);
    }
    Ok(out)
}
