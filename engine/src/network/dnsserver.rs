//! The responder of one user-defined network (the `ongi-dns` binary; the records and its
//! life cycle are [`super::dns`]'s). It answers on the network's gateway, port 53, UDP and
//! TCP, as docker's embedded DNS answers on 127.0.0.11:
//! - A records for the names of the containers on the network now (name, `--network-alias`
//!   and short id, as docker), every address when several share a name; other types for
//!   such a name get an empty NOERROR answer; PTR for their addresses;
//! - NXDOMAIN for other single-label names (no search domain to try upstream);
//! - everything else forwarded, bytes as they came, to the asking container's upstream
//!   servers (its `--dns`, else the host's) with a time limit, SERVFAIL when none answers.
//!
//! The records directory is re-read when its mtime changes (one stat per query; also for
//! two seconds after any change, since a change within the same clock tick leaves the
//! mtime as it was). The main loop is single-threaded; a forwarded query or a TCP
//! connection gets a thread of its own (bounded), so a slow upstream delays no local
//! answer.

use std::fs;
use std::io::{self, Read, Write};
use std::net::{IpAddr, Ipv4Addr, SocketAddr, TcpListener, TcpStream, UdpSocket};
use std::os::fd::{AsFd, AsRawFd, FromRawFd, RawFd};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime};

use hickory_proto::op::{Message, MessageType, OpCode, ResponseCode};
use hickory_proto::rr::rdata::{A, PTR};
use hickory_proto::rr::{Name, RData, Record as Rr, RecordType};

use super::dns::{self, Record};

/// Why the responder could not start.
#[derive(Debug, thiserror::Error)]
pub enum DnsError {
    /// A file or socket.
    #[error("{op} {what}: {source}")]
    Io {
        /// What was being done.
        op: &'static str,
        /// The path or address.
        what: String,
        /// The cause.
        source: io::Error,
    },
    /// Another responder serves the network.
    #[error("network directory {0} already has a DNS responder")]
    Busy(PathBuf),
}

/// What the responder is started with.
#[derive(Debug, Clone)]
pub struct Args {
    /// The network's directory (`lock`, `pid`, `records/`).
    pub dir: PathBuf,
    /// The run root (its `network.lock`).
    pub run_root: PathBuf,
    /// The gateway address to listen on.
    pub listen: Ipv4Addr,
    /// The network's prefix length: queries from outside the subnet are refused (a
    /// container of another network can route to this gateway through the host).
    pub prefix: u8,
}

/// docker's TTL for its embedded DNS answers.
const TTL: u32 = 600;
/// Per upstream server.
const UPSTREAM_WAIT: Duration = Duration::from_secs(2);
/// Threads for forwarded queries and TCP connections at once; more are refused
/// (SERVFAIL / closed): a flood must not exhaust the host.
const MAX_BUSY: usize = 64;

/// The records as last read, and when.
struct Zone {
    dir: PathBuf,
    mtime: Option<SystemTime>,
    records: Vec<Record>,
}

impl Zone {
    fn refresh(&mut self) {
        let m = fs::metadata(&self.dir).and_then(|m| m.modified()).ok();
        let recent = m.is_some_and(|t| {
            SystemTime::now()
                .duration_since(t)
                .map_or(true, |d| d < Duration::from_secs(2))
        });
        if m != self.mtime || recent || m.is_none() {
            self.records = dns::load(&self.dir);
            self.mtime = m;
        }
    }
}

/// What to do with a query.
enum Reply {
    /// Send these bytes back.
    Local(Vec<u8>),
    /// Ask these servers and relay their answer.
    Forward(Vec<IpAddr>),
    /// Nothing (not a DNS message at all).
    Drop,
}

fn lower(n: &Name) -> String {
    n.to_ascii().trim_end_matches('.').to_ascii_lowercase()
}

/// The IPv4 address of a reverse name (`4.3.2.1.in-addr.arpa`).
fn reverse_v4(name: &str) -> Option<Ipv4Addr> {
    let rest = name.strip_suffix(".in-addr.arpa")?;
    let o: Vec<u8> = rest
        .split('.')
        .map(|p| p.parse::<u8>())
        .collect::<Result<_, _>>()
        .ok()?;
    (o.len() == 4).then(|| Ipv4Addr::new(o[3], o[2], o[1], o[0]))
}

fn matches(r: &Record, name: &str) -> bool {
    r.names.iter().any(|n| n.eq_ignore_ascii_case(name))
        || (name.len() == 12 && r.id.starts_with(name))
}

fn encode(m: &Message) -> Vec<u8> {
    m.to_vec().unwrap_or_default()
}

/// Is `ip` inside `net`/`prefix`?
fn within(ip: IpAddr, net: Ipv4Addr, prefix: u8) -> bool {
    let IpAddr::V4(ip) = ip else {
        return false;
    };
    let mask = u32::MAX
        .checked_shl(32 - u32::from(prefix.min(32)))
        .unwrap_or(0);
    u32::from(ip) & mask == u32::from(net) & mask
}

/// Decides the answer to `query` from `from` with the records `records`; `allowed`:
/// whether the asker is on the network.
fn answer(query: &[u8], from: IpAddr, allowed: bool, records: &[Record]) -> Reply {
    let req = match Message::from_vec(query) {
        Ok(m) => m,
        Err(_) if query.len() >= 12 => {
            let id = u16::from_be_bytes([query[0], query[1]]);
            return Reply::Local(encode(&Message::error_msg(
                id,
                OpCode::Query,
                ResponseCode::FormErr,
            )));
        }
        Err(_) => return Reply::Drop,
    };
    if req.metadata.message_type != MessageType::Query {
        return Reply::Drop;
    }
    let id = req.metadata.id;
    let op = req.metadata.op_code;
    let mut resp = Message::response(id, op);
    resp.metadata.recursion_desired = req.metadata.recursion_desired;
    resp.metadata.recursion_available = true;
    if !allowed {
        resp.metadata.response_code = ResponseCode::Refused;
        resp.add_queries(req.queries.iter().cloned());
        return Reply::Local(encode(&resp));
    }
    if op != OpCode::Query || req.queries.len() != 1 {
        resp.metadata.response_code = if op == OpCode::Query {
            ResponseCode::FormErr
        } else {
            ResponseCode::NotImp
        };
        return Reply::Local(encode(&resp));
    }
    let q = &req.queries[0];
    resp.add_query(q.clone());
    let name = lower(q.name());
    let upstreams = || {
        records
            .iter()
            .find(|r| IpAddr::V4(r.address) == from)
            .or(records.first())
            .map(|r| r.upstreams.clone())
            .unwrap_or_default()
    };
    if let Some(ip) = reverse_v4(&name) {
        let hits: Vec<&Record> = records.iter().filter(|r| r.address == ip).collect();
        if hits.is_empty() {
            return Reply::Forward(upstreams());
        }
        resp.metadata.authoritative = true;
        if q.query_type() == RecordType::PTR {
            for r in hits {
                if let Some(target) = r.names.first().and_then(|n| Name::from_ascii(n).ok()) {
                    resp.add_answer(Rr::from_rdata(
                        q.name().clone(),
                        TTL,
                        RData::PTR(PTR(target)),
                    ));
                }
            }
        }
        return Reply::Local(encode(&resp));
    }
    let hits: Vec<&Record> = records.iter().filter(|r| matches(r, &name)).collect();
    if !hits.is_empty() {
        resp.metadata.authoritative = true;
        if matches!(q.query_type(), RecordType::A | RecordType::ANY) {
            let mut seen = Vec::new();
            for r in hits {
                if !seen.contains(&r.address) {
                    seen.push(r.address);
                    resp.add_answer(Rr::from_rdata(
                        q.name().clone(),
                        TTL,
                        RData::A(A(r.address)),
                    ));
                }
            }
        }
        return Reply::Local(encode(&resp));
    }
    if !name.contains('.') {
        // docker's answer for a name that is neither on the network nor qualified.
        resp.metadata.response_code = ResponseCode::NXDomain;
        return Reply::Local(encode(&resp));
    }
    Reply::Forward(upstreams())
}

fn servfail(query: &[u8]) -> Vec<u8> {
    match Message::from_vec(query) {
        Ok(req) => {
            let mut m = Message::error_msg(
                req.metadata.id,
                req.metadata.op_code,
                ResponseCode::ServFail,
            );
            m.metadata.recursion_desired = req.metadata.recursion_desired;
            m.metadata.recursion_available = true;
            m.add_queries(req.queries.iter().cloned());
            encode(&m)
        }
        Err(_) => Vec::new(),
    }
}

/// Sends `query` to each server in turn; the first answer whose id matches, or SERVFAIL.
fn forward(query: &[u8], servers: &[IpAddr]) -> Vec<u8> {
    for s in servers {
        let bind: SocketAddr = if s.is_ipv4() {
            (Ipv4Addr::UNSPECIFIED, 0).into()
        } else {
            (std::net::Ipv6Addr::UNSPECIFIED, 0).into()
        };
        let Ok(sock) = UdpSocket::bind(bind) else {
            continue;
        };
        if sock.connect((*s, 53)).is_err()
            || sock.set_read_timeout(Some(UPSTREAM_WAIT)).is_err()
            || sock.send(query).is_err()
        {
            continue;
        }
        let mut buf = vec![0u8; 65535];
        // A connected socket only hears from the server; a reply to an earlier try or a
        // forged id is skipped until the time is up.
        let until = std::time::Instant::now() + UPSTREAM_WAIT;
        while let Ok(n) = sock.recv(&mut buf) {
            if n >= 2 && buf[..2] == query[..2] {
                buf.truncate(n);
                return buf;
            }
            if std::time::Instant::now() > until {
                break;
            }
        }
    }
    servfail(query)
}

/// A busy-slot guard for the bounded threads.
struct Slot(Arc<AtomicUsize>);

impl Slot {
    fn take(n: &Arc<AtomicUsize>) -> Option<Slot> {
        if n.fetch_add(1, Ordering::SeqCst) >= MAX_BUSY {
            n.fetch_sub(1, Ordering::SeqCst);
            return None;
        }
        Some(Slot(n.clone()))
    }
}

impl Drop for Slot {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::SeqCst);
    }
}

/// One TCP connection: length-prefixed queries until the client closes or is idle.
fn serve_tcp(mut s: TcpStream, zone: Arc<Mutex<Zone>>, net: (Ipv4Addr, u8)) {
    let from = s
        .peer_addr()
        .map(|a| a.ip())
        .unwrap_or(IpAddr::V4(Ipv4Addr::UNSPECIFIED));
    let _ = s.set_read_timeout(Some(Duration::from_secs(5)));
    let _ = s.set_nodelay(true);
    loop {
        let mut len = [0u8; 2];
        if s.read_exact(&mut len).is_err() {
            return;
        }
        let mut q = vec![0u8; u16::from_be_bytes(len) as usize];
        if s.read_exact(&mut q).is_err() {
            return;
        }
        let records = {
            let mut z = zone.lock().unwrap_or_else(|p| p.into_inner());
            z.refresh();
            z.records.clone()
        };
        let out = match answer(&q, from, within(from, net.0, net.1), &records) {
            Reply::Local(b) => b,
            Reply::Forward(up) => forward(&q, &up),
            Reply::Drop => return,
        };
        let Ok(n) = u16::try_from(out.len()) else {
            return;
        };
        let mut msg = n.to_be_bytes().to_vec();
        msg.extend_from_slice(&out);
        if s.write_all(&msg).is_err() {
            return;
        }
    }
}

/// Blocks until the network lock is ours; dropped with the returned file.
fn network_lock(run_root: &Path) -> Option<fs::File> {
    let f = fs::File::create(run_root.join("network.lock")).ok()?;
    // SAFETY: f is an open file; flock keeps no pointer and the lock goes with the fd.
    (unsafe { libc::flock(f.as_raw_fd(), libc::LOCK_EX) } == 0).then_some(f)
}

fn ioe(op: &'static str, what: impl std::fmt::Display) -> impl FnOnce(io::Error) -> DnsError {
    let what = what.to_string();
    move |source| DnsError::Io { op, what, source }
}

/// Takes the lock and the sockets; tells `ready` (an inherited fd) `ready` or `error ...`.
fn start(a: &Args) -> Result<(fs::File, UdpSocket, TcpListener), DnsError> {
    fs::create_dir_all(&a.dir).map_err(ioe("create", a.dir.display()))?;
    let lp = a.dir.join("lock");
    let lock = fs::File::create(&lp).map_err(ioe("create", lp.display()))?;
    // SAFETY: lock is an open file; flock keeps no pointer and the lock goes with the fd.
    if unsafe { libc::flock(lock.as_raw_fd(), libc::LOCK_EX | libc::LOCK_NB) } != 0 {
        return Err(DnsError::Busy(a.dir.clone()));
    }
    let addr = SocketAddr::from((a.listen, 53));
    let udp = UdpSocket::bind(addr).map_err(ioe("listen on udp", addr))?;
    let tcp = TcpListener::bind(addr).map_err(ioe("listen on tcp", addr))?;
    tcp.set_nonblocking(true)
        .map_err(ioe("set non-blocking", addr))?;
    let pp = a.dir.join("pid");
    fs::write(&pp, format!("{}\n", std::process::id())).map_err(ioe("write", pp.display()))?;
    Ok((lock, udp, tcp))
}

/// The responder's life: returns its exit status.
pub fn run(a: &Args, ready: Option<RawFd>) -> i32 {
    // SAFETY: the fd was handed to us by our starter for this purpose and nothing else
    // in this process owns it.
    let mut ready = ready.map(|fd| unsafe { fs::File::from_raw_fd(fd) });
    let (_lock, udp, tcp) = match start(a) {
        Ok(x) => x,
        Err(e) => {
            if let Some(r) = &mut ready {
                let _ = writeln!(r, "error {e}");
            }
            return 1;
        }
    };
    if let Some(mut r) = ready.take() {
        let _ = r.write_all(b"ready\n");
    }
    let zone = Arc::new(Mutex::new(Zone {
        dir: a.dir.join("records"),
        mtime: None,
        records: Vec::new(),
    }));
    let busy = Arc::new(AtomicUsize::new(0));
    let mut buf = vec![0u8; 65535];
    loop {
        let (ur, tr) = {
            use nix::poll::{poll, PollFd, PollFlags, PollTimeout};
            let mut fds = [
                PollFd::new(udp.as_fd(), PollFlags::POLLIN),
                PollFd::new(tcp.as_fd(), PollFlags::POLLIN),
            ];
            let _ = poll(&mut fds, PollTimeout::from(1000u16));
            let r = |f: &PollFd| f.revents().is_some_and(|e| !e.is_empty());
            (r(&fds[0]), r(&fds[1]))
        };
        if !ur && !tr {
            // Idle: leave once no container is on the network; the last look is taken
            // under the network lock, so no join can be in between.
            let empty = {
                let mut z = zone.lock().unwrap_or_else(|p| p.into_inner());
                z.refresh();
                z.records.is_empty()
            };
            if empty {
                let held = network_lock(&a.run_root);
                if dns::load(&a.dir.join("records")).is_empty() {
                    let _ = fs::remove_file(a.dir.join("pid"));
                    drop(held);
                    return 0;
                }
            }
            continue;
        }
        if ur {
            if let Ok((n, from)) = udp.recv_from(&mut buf) {
                let q = buf[..n].to_vec();
                let records = {
                    let mut z = zone.lock().unwrap_or_else(|p| p.into_inner());
                    z.refresh();
                    z.records.clone()
                };
                let ok = within(from.ip(), a.listen, a.prefix);
                match answer(&q, from.ip(), ok, &records) {
                    Reply::Local(b) => {
                        let _ = udp.send_to(&b, from);
                    }
                    Reply::Forward(up) => {
                        let sock = udp.try_clone();
                        match (Slot::take(&busy), sock) {
                            (Some(slot), Ok(sock)) => {
                                std::thread::spawn(move || {
                                    let _slot = slot;
                                    let _ = sock.send_to(&forward(&q, &up), from);
                                });
                            }
                            _ => {
                                let _ = udp.send_to(&servfail(&q), from);
                            }
                        }
                    }
                    Reply::Drop => {}
                }
            }
        }
        if tr {
            while let Ok((s, _)) = tcp.accept() {
                let _ = s.set_nonblocking(false);
                if let Some(slot) = Slot::take(&busy) {
                    let z = zone.clone();
                    let net = (a.listen, a.prefix);
                    std::thread::spawn(move || {
                        let _slot = slot;
                        serve_tcp(s, z, net);
                    });
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rec(id: char, names: &[&str], ip: [u8; 4]) -> Record {
        Record {
            id: id.to_string().repeat(64),
            names: names.iter().map(|s| s.to_string()).collect(),
            address: Ipv4Addr::from(ip),
            upstreams: vec!["192.0.2.53".parse().unwrap()],
        }
    }

    fn ask(name: &str, t: RecordType, recs: &[Record]) -> Reply {
        let mut m = Message::query();
        m.add_query(hickory_proto::op::Query::query(
            Name::from_ascii(name).unwrap(),
            t,
        ));
        answer(
            &m.to_vec().unwrap(),
            "10.0.0.9".parse().unwrap(),
            true,
            recs,
        )
    }

    fn local(r: Reply) -> Message {
        match r {
            Reply::Local(b) => Message::from_vec(&b).unwrap(),
            _ => panic!("not answered locally"),
        }
    }

    #[test]
    fn names_aliases_ids_and_the_rest() {
        let recs = [
            rec('a', &["web", "www"], [10, 0, 0, 2]),
            rec('b', &["api", "www"], [10, 0, 0, 3]),
        ];
        let m = local(ask("WEB.", RecordType::A, &recs));
        assert_eq!(m.answers.len(), 1);
        assert_eq!(m.answers[0].data, RData::A(A(Ipv4Addr::new(10, 0, 0, 2))));
        assert_eq!(local(ask("www", RecordType::A, &recs)).answers.len(), 2);
        assert_eq!(
            local(ask(&"b".repeat(12), RecordType::A, &recs)).answers[0].data,
            RData::A(A(Ipv4Addr::new(10, 0, 0, 3)))
        );
        let m = local(ask("web", RecordType::AAAA, &recs));
        assert!(m.answers.is_empty() && m.metadata.response_code == ResponseCode::NoError);
        let m = local(ask("nope", RecordType::A, &recs));
        assert_eq!(m.metadata.response_code, ResponseCode::NXDomain);
        let m = local(ask("3.0.0.10.in-addr.arpa", RecordType::PTR, &recs));
        assert_eq!(m.answers.len(), 1);
        match ask("example.com", RecordType::A, &recs) {
            Reply::Forward(up) => assert_eq!(up, recs[0].upstreams),
            _ => panic!("not forwarded"),
        }
        assert!(matches!(
            answer(b"xx", "10.0.0.9".parse().unwrap(), true, &recs),
            Reply::Drop
        ));
        let mut m = Message::query();
        m.add_query(hickory_proto::op::Query::query(
            Name::from_ascii("web").unwrap(),
            RecordType::A,
        ));
        let r = local(answer(
            &m.to_vec().unwrap(),
            "10.1.0.9".parse().unwrap(),
            false,
            &recs,
        ));
        assert_eq!(r.metadata.response_code, ResponseCode::Refused);
        assert!(r.answers.is_empty());
        let gw = Ipv4Addr::new(10, 0, 0, 1);
        assert!(within("10.0.0.200".parse().unwrap(), gw, 24));
        assert!(!within("10.0.1.2".parse().unwrap(), gw, 24));
        assert!(!within("::1".parse().unwrap(), gw, 24));
    }

    #[test]
    fn unanswered_forward_is_servfail() {
        let mut m = Message::query();
        m.add_query(hickory_proto::op::Query::query(
            Name::from_ascii("example.com.").unwrap(),
            RecordType::A,
        ));
        let b = forward(&m.to_vec().unwrap(), &[]);
        let r = Message::from_vec(&b).unwrap();
        assert_eq!(r.metadata.response_code, ResponseCode::ServFail);
        assert_eq!(r.metadata.id, m.metadata.id);
    }
}
