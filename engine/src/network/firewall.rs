//! Packet filtering and NAT with nftables, in a table of our own (`ip ongictl`) so no
//! other rule set is touched: the base chains are written once, and what changes as
//! networks and containers come and go are elements of its sets and maps, added and
//! deleted by key (no rule handles to track, every change one atomic `nft` transaction).
//!
//! - `pub_any`/`pub_ip` map a published port (on any/one host address) to the container's
//!   address and port; `prerouting` and `output` DNAT to it for local destinations, so a
//!   published port answers on every host address, loopback included, with the client's
//!   source address kept (the kernel's data path; no proxy process).
//! - loopback clients are masqueraded onto the bridge (with `route_localnet` set on it,
//!   as docker does without its userland proxy); the networks' subnets (`masq`) are
//!   masqueraded on the way out, except internal ones.
//! - `forward`: traffic inside a network passes (`same`), an internal network's traffic
//!   never leaves it, a published port is reachable from other networks (DNAT'd traffic,
//!   as docker allows), and anything else between networks is dropped.
//!
//! The table is made through the `nft` binary (Debian's nftables): its JSON-free script
//! syntax is stable and a script is applied atomically. What every container changes (its
//! published ports) goes over netlink instead ([`super::nfset`]): an `nft` process per
//! start and stop cost more than the rest of the network set-up together.

use std::io::Write;
use std::net::Ipv4Addr;
use std::process::{Command, Stdio};

use super::portmap::Binding;
use super::NetworkError;

/// Our table.
pub const TABLE: &str = "ongictl";

const BASE: &str = "
table ip ongictl {
  set bridges { type ifname; }
  set internal { type ifname; }
  set same { type ifname . ifname; }
  set masq { type ipv4_addr; flags interval; }
  map pub_any { type inet_proto . inet_service : ipv4_addr . inet_service; }
  map pub_ip { type ipv4_addr . inet_proto . inet_service : ipv4_addr . inet_service; }
  chain prerouting {
    type nat hook prerouting priority dstnat; policy accept;
    fib daddr type local dnat ip to ip daddr . meta l4proto . th dport map @pub_ip
    fib daddr type local dnat ip to meta l4proto . th dport map @pub_any
  }
  chain output {
    type nat hook output priority -100; policy accept;
    fib daddr type local dnat ip to ip daddr . meta l4proto . th dport map @pub_ip
    fib daddr type local dnat ip to meta l4proto . th dport map @pub_any
  }
  chain postrouting {
    type nat hook postrouting priority srcnat; policy accept;
    oifname @bridges ip saddr 127.0.0.0/8 masquerade
    ip saddr @masq oifname != @bridges masquerade
  }
  chain forward {
    type filter hook forward priority filter; policy accept;
    iifname . oifname @same accept
    iifname @internal drop
    oifname @internal drop
    ct status dnat accept
    iifname @bridges oifname @bridges drop
  }
}
";

/// The `nft` binary.
fn nft_bin() -> &'static str {
    ["/usr/sbin/nft", "/sbin/nft"]
        .into_iter()
        .find(|p| std::path::Path::new(p).exists())
        .unwrap_or("nft")
}

/// Runs an nft script; the error carries nft's own message.
fn apply(script: &str) -> Result<(), NetworkError> {
    let fail = |why: String| NetworkError::Firewall(why);
    let mut child = Command::new(nft_bin())
        .args(["-f", "-"])
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|e| fail(format!("run {}: {e}", nft_bin())))?;
    if let Some(mut i) = child.stdin.take() {
        i.write_all(script.as_bytes())
            .map_err(|e| fail(format!("write to nft: {e}")))?;
    }
    let out = child
        .wait_with_output()
        .map_err(|e| fail(format!("wait for nft: {e}")))?;
    if !out.status.success() {
        return Err(fail(
            String::from_utf8_lossy(&out.stderr)
                .trim()
                .replace('\n', "; "),
        ));
    }
    Ok(())
}

/// Is our table there?
pub fn table_exists() -> bool {
    Command::new(nft_bin())
        .args(["list", "table", "ip", TABLE])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success())
}

/// Makes the table and its chains unless present. The caller holds the network lock (two
/// concurrent first runs must not write the chains twice).
pub fn ensure_table() -> Result<(), NetworkError> {
    if table_exists() {
        return Ok(());
    }
    apply(BASE)
}

fn network_elements(bridge: &str, subnet: &str, internal: bool) -> Vec<String> {
    let mut v = vec![
        format!("element ip {TABLE} bridges {{ \"{bridge}\" }}"),
        format!("element ip {TABLE} same {{ \"{bridge}\" . \"{bridge}\" }}"),
    ];
    if internal {
        v.push(format!("element ip {TABLE} internal {{ \"{bridge}\" }}"));
    } else {
        v.push(format!("element ip {TABLE} masq {{ {subnet} }}"));
    }
    v
}

/// Adds a network's bridge and subnet to the sets (idempotent).
pub fn add_network(bridge: &str, subnet: &str, internal: bool) -> Result<(), NetworkError> {
    let s: String = network_elements(bridge, subnet, internal)
        .iter()
        .map(|e| format!("add {e}\n"))
        .collect();
    apply(&s)
}

/// Removes a network's elements (each on its own: one already gone must not keep the rest).
pub fn remove_network(bridge: &str, subnet: &str, internal: bool) {
    if !table_exists() {
        return;
    }
    for e in network_elements(bridge, subnet, internal) {
        let _ = apply(&format!("delete {e}\n"));
    }
}

/// Publishes the container's ports (all or none), over netlink: see [`super::nfset`].
pub fn add_ports(ports: &[Binding], addr: Ipv4Addr) -> Result<(), NetworkError> {
    super::nfset::add_ports(ports, addr).map_err(|e| NetworkError::Firewall(e.to_string()))
}

/// Withdraws the container's ports (missing ones ignored), over netlink.
pub fn remove_ports(ports: &[Binding]) {
    super::nfset::remove_ports(ports)
}

/// The published-port elements now in the maps: key (`proto . port` or `ip . proto .
/// port`) and the container address it leads to (for `system check`).
pub fn port_keys() -> Vec<(String, Option<Ipv4Addr>)> {
    let mut out = Vec::new();
    for map in ["pub_any", "pub_ip"] {
        let Ok(o) = Command::new(nft_bin())
            .args(["list", "map", "ip", TABLE, map])
            .output()
        else {
            continue;
        };
        let text = String::from_utf8_lossy(&o.stdout);
        let Some(start) = text.find("elements = {") else {
            continue;
        };
        let body = &text[start + 12..];
        let body = &body[..body.find('}').unwrap_or(body.len())];
        for e in body.split(',') {
            if let Some((k, v)) = e.split_once(':') {
                out.push((
                    k.split_whitespace().collect::<Vec<_>>().join(" "),
                    v.split_whitespace().next().and_then(|a| a.parse().ok()),
                ));
            }
        }
    }
    out
}

/// Deletes one element by the key [`port_keys`] gave.
pub fn remove_port_key(key: &str) {
    let map = if key.split(" . ").count() == 3 {
        "pub_ip"
    } else {
        "pub_any"
    };
    let _ = apply(&format!("delete element ip {TABLE} {map} {{ {key} }}\n"));
}

/// The key [`port_keys`] lists for a binding.
pub fn key_of(b: &Binding) -> String {
    if b.host_ip.is_unspecified() {
        format!("{} . {}", b.proto, b.host_port)
    } else {
        format!("{} . {} . {}", b.host_ip, b.proto, b.host_port)
    }
}
