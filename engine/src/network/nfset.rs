//! Published-port elements of our nftables maps added and deleted over nf_tables netlink
//! directly, one batch per change: what every `run -p` and every teardown does, so no `nft`
//! process (its start-up and its fetch of the rule set cost 5-30 ms per call on the
//! benchmark machine, three calls per container: benches/README.md, "Networks") and no
//! tokio (the monitor calls the delete). The table, chains and sets stay `nft`'s
//! (firewall.rs), made once per boot.
//!
//! The messages are the ones `nft add element` sends (libnftnl's layout): a batch
//! (NFNL_MSG_BATCH_BEGIN, NFT_MSG_NEWSETELEM or NFT_MSG_DELSETELEM, NFNL_MSG_BATCH_END) on a
//! NETLINK_NETFILTER socket, the change acknowledged (NLM_F_ACK) so its errno comes back.
//! Keys and data of concatenated types are each field padded to 4 bytes, as nft lays
//! them out (`inet_proto` 1 byte, `inet_service` 2 bytes big-endian, `ipv4_addr` 4).

use std::net::Ipv4Addr;

use netlink_sys::{protocols::NETLINK_NETFILTER, Socket};

use super::firewall::TABLE;
use super::nlmsg::{self, Msg, NlError, NLM_F_ACK, NLM_F_CREATE, NLM_F_REQUEST};
use super::portmap::Binding;

const NFNL_MSG_BATCH_BEGIN: u16 = 0x10;
const NFNL_MSG_BATCH_END: u16 = 0x11;
const NFNL_SUBSYS_NFTABLES: u16 = 10;
const NFT_MSG_NEWSETELEM: u16 = 12;
const NFT_MSG_DELSETELEM: u16 = 14;
const NFPROTO_IPV4: u8 = 2;
const NFTA_SET_ELEM_LIST_TABLE: u16 = 1;
const NFTA_SET_ELEM_LIST_SET: u16 = 2;
const NFTA_SET_ELEM_LIST_ELEMENTS: u16 = 3;
const NFTA_LIST_ELEM: u16 = 1;
const NFTA_SET_ELEM_KEY: u16 = 1;
const NFTA_SET_ELEM_DATA: u16 = 2;
const NFTA_DATA_VALUE: u16 = 1;

/// nfgenmsg: family, version (NFNETLINK_V0), resource id (big-endian).
fn nfgen(family: u8, res_id: u16) -> [u8; 4] {
    let r = res_id.to_be_bytes();
    [family, 0, r[0], r[1]]
}

fn proto_byte(p: &str) -> u8 {
    if p == "udp" {
        libc::IPPROTO_UDP as u8
    } else {
        libc::IPPROTO_TCP as u8
    }
}

fn field_u8(v: &mut Vec<u8>, b: u8) {
    v.extend_from_slice(&[b, 0, 0, 0]);
}

fn field_port(v: &mut Vec<u8>, p: u16) {
    v.extend_from_slice(&p.to_be_bytes());
    v.extend_from_slice(&[0, 0]);
}

/// The map and key of a binding: `pub_any` (`proto . port`) or `pub_ip` (`ip . proto .
/// port`), as firewall.rs declares them.
fn key(b: &Binding) -> (&'static str, Vec<u8>) {
    let mut k = Vec::with_capacity(12);
    let map = if b.host_ip.is_unspecified() {
        "pub_any"
    } else {
        k.extend_from_slice(&b.host_ip.octets());
        "pub_ip"
    };
    field_u8(&mut k, proto_byte(&b.proto));
    field_port(&mut k, b.host_port);
    (map, k)
}

fn value(addr: Ipv4Addr, port: u16) -> Vec<u8> {
    let mut v = addr.octets().to_vec();
    field_port(&mut v, port);
    v
}

fn describe(op: &str, b: &Binding) -> String {
    format!(
        "{op} element ip {TABLE} {} {{ {} }}",
        key(b).0,
        super::firewall::key_of(b)
    )
}

/// One transaction: batch begin (`seq`), the change (`seq + 1`, acknowledged), end.
fn batch(sock: &Socket, seq: u32, change: Vec<u8>, what: &str) -> Result<(), NlError> {
    let hdr = nfgen(0, NFNL_SUBSYS_NFTABLES);
    let mut out = Msg::new(NFNL_MSG_BATCH_BEGIN, NLM_F_REQUEST, seq, &hdr).done();
    out.extend_from_slice(&change);
    out.extend(Msg::new(NFNL_MSG_BATCH_END, NLM_F_REQUEST, seq + 2, &hdr).done());
    nlmsg::request(sock, &out, seq, seq + 1, what)
}

fn elem_msg(kind: u16, flags: u16, seq: u32, map: &str, key: &[u8], data: Option<&[u8]>) -> Msg {
    let mut m = Msg::new(
        (NFNL_SUBSYS_NFTABLES << 8) | kind,
        NLM_F_REQUEST | NLM_F_ACK | flags,
        seq,
        &nfgen(NFPROTO_IPV4, 0),
    );
    m.string(NFTA_SET_ELEM_LIST_TABLE, TABLE);
    m.string(NFTA_SET_ELEM_LIST_SET, map);
    m.open(NFTA_SET_ELEM_LIST_ELEMENTS);
    m.open(NFTA_LIST_ELEM);
    m.open(NFTA_SET_ELEM_KEY);
    m.attr(NFTA_DATA_VALUE, key);
    m.close();
    if let Some(d) = data {
        m.open(NFTA_SET_ELEM_DATA);
        m.attr(NFTA_DATA_VALUE, d);
        m.close();
    }
    m.close();
    m.close();
    m
}

/// Publishes the ports: one transaction each, all on one socket; on a failure the ones
/// already added are deleted again, so it is all or none.
pub fn add_ports(ports: &[Binding], addr: Ipv4Addr) -> Result<(), NlError> {
    if ports.is_empty() {
        return Ok(());
    }
    let sock = nlmsg::socket(NETLINK_NETFILTER)?;
    for (i, b) in ports.iter().enumerate() {
        let (map, k) = key(b);
        let v = value(addr, b.container_port);
        let seq = 3 * i as u32 + 1;
        let add = || elem_msg(NFT_MSG_NEWSETELEM, NLM_F_CREATE, seq + 1, map, &k, Some(&v));
        let mut r = batch(&sock, seq, add().done(), &describe("add", b));
        // An element for this port that leads elsewhere was left by a container whose
        // monitor was killed: the port is ours now (portmap reserved it under the network
        // lock), so it is replaced.
        if r.as_ref()
            .is_err_and(|e| matches!(e.errno(), Some(libc::EEXIST) | Some(libc::EBUSY)))
        {
            remove_ports_on(&sock, std::slice::from_ref(b));
            r = batch(&sock, seq, add().done(), &describe("add", b));
        }
        if let Err(e) = r {
            remove_ports_on(&sock, &ports[..i]);
            return Err(e);
        }
    }
    Ok(())
}

fn remove_ports_on(sock: &Socket, ports: &[Binding]) {
    for (i, b) in ports.iter().enumerate() {
        let (map, k) = key(b);
        let seq = 3 * i as u32 + 1000;
        let m = elem_msg(NFT_MSG_DELSETELEM, 0, seq + 1, map, &k, None);
        // Each on its own: one already gone (ENOENT) must not keep the others.
        let _ = batch(sock, seq, m.done(), &describe("delete", b));
    }
}

/// Withdraws the ports (missing ones, or a missing table, ignored).
pub fn remove_ports(ports: &[Binding]) {
    if ports.is_empty() {
        return;
    }
    if let Ok(sock) = nlmsg::socket(NETLINK_NETFILTER) {
        remove_ports_on(&sock, ports);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_are_laid_out_as_nft_lays_them_out() {
        let any = Binding {
            proto: "udp".into(),
            host_ip: Ipv4Addr::UNSPECIFIED,
            host_port: 5300,
            container_port: 53,
        };
        assert_eq!(key(&any), ("pub_any", vec![17, 0, 0, 0, 0x14, 0xb4, 0, 0]));
        let one = Binding {
            host_ip: Ipv4Addr::new(127, 0, 0, 1),
            proto: "tcp".into(),
            ..any
        };
        assert_eq!(
            key(&one),
            ("pub_ip", vec![127, 0, 0, 1, 6, 0, 0, 0, 0x14, 0xb4, 0, 0])
        );
        assert_eq!(
            value(Ipv4Addr::new(10, 222, 0, 2), 80),
            vec![10, 222, 0, 2, 0, 80, 0, 0]
        );
        let m = elem_msg(NFT_MSG_DELSETELEM, 0, 7, "pub_any", &[1, 2, 3, 4], None).done();
        assert!(m.len().is_multiple_of(4));
        assert_eq!(
            u32::from_ne_bytes([m[0], m[1], m[2], m[3]]) as usize,
            m.len()
        );
        assert_eq!(u16::from_ne_bytes([m[4], m[5]]), (10 << 8) | 14);
    }
}
