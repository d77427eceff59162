//! Devices and namespaces over rtnetlink: the network's bridge (its gateway address, up,
//! `route_localnet` for published ports reached over loopback), the container's persistent
//! network namespace (a bind mount of a namespace made by an unshared thread, as `ip netns
//! add` does) and its veth pair: the host end on the bridge, the other made inside the
//! namespace as `eth0` with the container's address, MAC and default route, `lo` up.
//!
//! Each operation runs on a thread of its own with a current-thread tokio runtime: a
//! netlink socket acts in the namespace of the thread that opened it, so the thread opens
//! one in the caller's namespace, unshares, and opens another inside the new one.

use std::fs;
use std::net::{IpAddr, Ipv4Addr};
use std::os::fd::AsRawFd;
use std::path::{Path, PathBuf};

use futures_util::TryStreamExt;
use rtnetlink::packet_route::link::{InfoData, InfoVeth};
use rtnetlink::{
    Handle, LinkBridge, LinkMessageBuilder, LinkUnspec, LinkVeth, RouteMessageBuilder,
};

use super::NetworkError;

fn nl(what: impl Into<String>) -> impl FnOnce(rtnetlink::Error) -> NetworkError {
    let what = what.into();
    move |e| NetworkError::Link {
        what,
        why: match &e {
            rtnetlink::Error::NetlinkError(m) => m.to_io().to_string(),
            _ => e.to_string(),
        },
    }
}

fn errno(e: &rtnetlink::Error) -> i32 {
    match e {
        rtnetlink::Error::NetlinkError(m) => m.raw_code().abs(),
        _ => 0,
    }
}

/// Runs `f` on a new thread with a netlink connection of that thread's namespace.
fn on_thread<T: Send + 'static>(
    f: impl FnOnce() -> Result<T, NetworkError> + Send + 'static,
) -> Result<T, NetworkError> {
    std::thread::spawn(f).join().unwrap_or_else(|_| {
        Err(NetworkError::Link {
            what: "netlink thread".into(),
            why: "panicked".into(),
        })
    })
}

fn runtime() -> Result<tokio::runtime::Runtime, NetworkError> {
    tokio::runtime::Builder::new_current_thread()
        .enable_io()
        .build()
        .map_err(|e| NetworkError::Link {
            what: "start netlink runtime".into(),
            why: e.to_string(),
        })
}

fn connect(rt: &tokio::runtime::Runtime) -> Result<Handle, NetworkError> {
    let _g = rt.enter();
    let (conn, handle, _) = rtnetlink::new_connection().map_err(|e| NetworkError::Link {
        what: "open netlink socket".into(),
        why: e.to_string(),
    })?;
    rt.spawn(conn);
    Ok(handle)
}

async fn index(h: &Handle, name: &str) -> Result<Option<u32>, NetworkError> {
    let mut s = h.link().get().match_name(name.to_string()).execute();
    match s.try_next().await {
        Ok(m) => Ok(m.map(|m| m.header.index)),
        Err(e) if errno(&e) == libc::ENODEV => Ok(None),
        Err(e) => Err(nl(format!("look up link {name}"))(e)),
    }
}

fn sysctl(path: &str, v: &str) -> Result<(), NetworkError> {
    fs::write(path, v).map_err(|e| NetworkError::Link {
        what: format!("set {path}"),
        why: e.to_string(),
    })
}

/// Makes the bridge with the gateway address and brings it up, unless it is there; turns
/// on forwarding and `route_localnet` on it.
pub fn ensure_bridge(name: &str, gateway: Ipv4Addr, prefix: u8) -> Result<(), NetworkError> {
    let n = name.to_string();
    on_thread(move || {
        let rt = runtime()?;
        let h = connect(&rt)?;
        rt.block_on(async {
            let idx = match index(&h, &n).await? {
                Some(i) => i,
                None => {
                    match h.link().add(LinkBridge::new(&n).build()).execute().await {
                        Ok(()) => {}
                        Err(e) if errno(&e) == libc::EEXIST => {}
                        Err(e) => return Err(nl(format!("create bridge {n}"))(e)),
                    }
                    index(&h, &n).await?.ok_or_else(|| NetworkError::Link {
                        what: format!("create bridge {n}"),
                        why: "gone after creation".into(),
                    })?
                }
            };
            match h
                .address()
                .add(idx, IpAddr::V4(gateway), prefix)
                .execute()
                .await
            {
                Ok(()) => {}
                Err(e) if errno(&e) == libc::EEXIST => {}
                Err(e) => return Err(nl(format!("address {gateway}/{prefix} on {n}"))(e)),
            }
            // A MAC of its own, set once: a bridge without one takes the lowest of its
            // ports' and changes it when a container's veth with a lower one joins. The
            // containers' ARP entries for the gateway then point at a MAC that is gone,
            // and the gateway (the DNS responder, the way out) is unreachable for up to a
            // minute, until the entries expire. docker sets the bridge's MAC for the same
            // reason.
            h.link()
                .set(
                    LinkUnspec::new_with_index(idx)
                        .address(super::mac_for(gateway).to_vec())
                        .up()
                        .build(),
                )
                .execute()
                .await
                .map_err(nl(format!("bring up {n}")))
        })
    })?;
    sysctl("/proc/sys/net/ipv4/ip_forward", "1")?;
    sysctl(
        &format!("/proc/sys/net/ipv4/conf/{name}/route_localnet"),
        "1",
    )
}

/// Deletes a link if it exists.
pub fn delete_link(name: &str) -> Result<(), NetworkError> {
    let n = name.to_string();
    on_thread(move || {
        let rt = runtime()?;
        let h = connect(&rt)?;
        rt.block_on(async {
            if let Some(i) = index(&h, &n).await? {
                match h.link().del(i).execute().await {
                    Ok(()) => {}
                    Err(e) if errno(&e) == libc::ENODEV => {}
                    Err(e) => return Err(nl(format!("delete link {n}"))(e)),
                }
            }
            Ok(())
        })
    })
}

/// Deletes a link by name now, ignoring one already gone, over a raw netlink socket of
/// the caller's namespace ([`super::nlmsg`]): no tokio and no `ip` process, so callable from
/// the monitor (reaching rtnetlink there links tokio and netlink into every per-container
/// process, which cost it its memory edge over conmon, benches/README.md).
pub fn delete_link_now(name: &str) {
    const RTM_DELLINK: u16 = 17;
    const IFLA_IFNAME: u16 = 3;
    use super::nlmsg::{Msg, NLM_F_ACK, NLM_F_REQUEST};
    let Ok(sock) = super::nlmsg::socket(netlink_sys::protocols::NETLINK_ROUTE) else {
        return;
    };
    // ifinfomsg: AF_UNSPEC, no index: the kernel finds the link by IFLA_IFNAME.
    let mut m = Msg::new(RTM_DELLINK, NLM_F_REQUEST | NLM_F_ACK, 1, &[0u8; 16]);
    m.string(IFLA_IFNAME, name);
    let _ = super::nlmsg::request(&sock, &m.done(), 1, 1, &format!("delete link {name}"));
}

/// Names of the links whose name starts with `prefix`.
pub fn links_named(prefix: &str) -> Result<Vec<String>, NetworkError> {
    let p = prefix.to_string();
    on_thread(move || {
        let rt = runtime()?;
        let h = connect(&rt)?;
        rt.block_on(async {
            let mut out = Vec::new();
            let mut s = h.link().get().execute();
            while let Some(m) = s.try_next().await.map_err(nl("list links"))? {
                for a in &m.attributes {
                    if let rtnetlink::packet_route::link::LinkAttribute::IfName(n) = a {
                        if n.starts_with(&p) {
                            out.push(n.clone());
                        }
                    }
                }
            }
            Ok(out)
        })
    })
}

/// What the container's side of a veth pair gets.
#[derive(Debug, Clone)]
pub struct Plumbing {
    /// The bind mount that keeps the namespace.
    pub netns: PathBuf,
    /// The bridge.
    pub bridge: String,
    /// The host end's name.
    pub host_veth: String,
    /// Unused: the container's end is made inside the namespace under its final name
    /// (kept so callers need not change).
    pub peer_tmp: String,
    /// The container's address.
    pub addr: Ipv4Addr,
    /// The subnet's prefix length.
    pub prefix: u8,
    /// The gateway.
    pub gateway: Ipv4Addr,
    /// Route everything via the gateway (not on internal networks: no way out, as docker).
    pub default_route: bool,
    /// eth0's MAC.
    pub mac: [u8; 6],
    /// The name inside (`eth0`; `ethN` for `network connect`).
    pub ifname: String,
    /// Join the namespace at `netns` (`network connect`) instead of making it.
    pub existing: bool,
}

fn bind_ns(target: &Path) -> Result<(), NetworkError> {
    let err = |what: &str, e: std::io::Error| NetworkError::Link {
        what: format!("{what} {}", target.display()),
        why: e.to_string(),
    };
    if let Some(d) = target.parent() {
        fs::create_dir_all(d).map_err(|e| err("create the directory of", e))?;
    }
    fs::File::create(target).map_err(|e| err("create", e))?;
    nix::mount::mount(
        Some("/proc/thread-self/ns/net"),
        target,
        None::<&str>,
        nix::mount::MsFlags::MS_BIND,
        None::<&str>,
    )
    .map_err(|e| err("bind-mount the namespace on", e.into()))
}

/// Makes the namespace and the veth pair and configures both ends.
pub fn plumb(p: &Plumbing) -> Result<(), NetworkError> {
    let p = p.clone();
    on_thread(move || {
        let rt = runtime()?;
        let host = connect(&rt)?;
        if p.existing {
            let f = fs::File::open(&p.netns).map_err(|e| NetworkError::Link {
                what: format!("open {}", p.netns.display()),
                why: e.to_string(),
            })?;
            nix::sched::setns(&f, nix::sched::CloneFlags::CLONE_NEWNET).map_err(|e| {
                NetworkError::Link {
                    what: format!("enter {}", p.netns.display()),
                    why: e.to_string(),
                }
            })?;
        } else {
            nix::sched::unshare(nix::sched::CloneFlags::CLONE_NEWNET).map_err(|e| {
                NetworkError::Link {
                    what: "unshare a network namespace".into(),
                    why: e.to_string(),
                }
            })?;
            bind_ns(&p.netns)?;
        }
        let inner = connect(&rt)?;
        let nsfile =
            fs::File::open("/proc/thread-self/ns/net").map_err(|e| NetworkError::Link {
                what: "open the new namespace".into(),
                why: e.to_string(),
            })?;
        rt.block_on(async {
            let br = index(&host, &p.bridge)
                .await?
                .ok_or_else(|| NetworkError::Link {
                    what: format!("find bridge {}", p.bridge),
                    why: "no such device".into(),
                })?;
            // One request makes the pair: the host end on the bridge and up, the other
            // end made inside the namespace with its final name and MAC (up comes later:
            // the kernel refuses to open a veth end before its pair is complete). Moving
            // an end into the namespace afterwards (and renaming it there) cost the kernel
            // an RCU grace period per `run` (~15 ms of the attach).
            let peer = LinkMessageBuilder::<LinkUnspec>::new()
                .name(p.ifname.clone())
                .address(p.mac.to_vec())
                .setns_by_fd(nsfile.as_raw_fd())
                .build();
            let pair = || {
                LinkVeth::new(&p.host_veth, &p.ifname)
                    .set_info_data(InfoData::Veth(InfoVeth::Peer(peer.clone())))
                    .controller(br)
                    .up()
                    .build()
            };
            match host.link().add(pair()).execute().await {
                Ok(()) => {}
                // The namespace of this container's last run takes its veth with it when
                // the kernel frees it, which it does a moment later (teardown leaves it
                // to the kernel): a quick restart may still find the old one.
                Err(e) if errno(&e) == libc::EEXIST => {
                    if let Some(old) = index(&host, &p.host_veth).await? {
                        let _ = host.link().del(old).execute().await;
                    }
                    host.link()
                        .add(pair())
                        .execute()
                        .await
                        .map_err(nl(format!("create veth {}", p.host_veth)))?;
                }
                Err(e) => return Err(nl(format!("create veth {}", p.host_veth))(e)),
            }
            // A new namespace's loopback is index 1.
            let lo = if p.existing {
                index(&inner, "lo").await?.unwrap_or(1)
            } else {
                1
            };
            inner
                .link()
                .set(LinkUnspec::new_with_index(lo).up().build())
                .execute()
                .await
                .map_err(nl("bring up lo"))?;
            let eth = index(&inner, &p.ifname)
                .await?
                .ok_or_else(|| NetworkError::Link {
                    what: format!("find {} in the namespace", p.ifname),
                    why: "no such device".into(),
                })?;
            inner
                .link()
                .set(LinkUnspec::new_with_index(eth).up().build())
                .execute()
                .await
                .map_err(nl(format!("bring up {}", p.ifname)))?;
            inner
                .address()
                .add(eth, IpAddr::V4(p.addr), p.prefix)
                .execute()
                .await
                .map_err(nl(format!(
                    "address {}/{} on {}",
                    p.addr, p.prefix, p.ifname
                )))?;
            if !p.default_route {
                return Ok(());
            }
            inner
                .route()
                .add(
                    RouteMessageBuilder::<Ipv4Addr>::new()
                        .gateway(p.gateway)
                        .output_interface(eth)
                        .build(),
                )
                .execute()
                .await
                .map_err(nl(format!("default route via {}", p.gateway)))
        })
    })
}

/// Unmounts and removes a namespace bind mount (the namespace, and the veth in it, go
/// when nothing else holds it).
pub fn remove_netns(path: &Path) {
    let _ = nix::mount::umount2(path, nix::mount::MntFlags::MNT_DETACH);
    let _ = fs::remove_file(path);
}
