//! `ongi-dns`: the DNS responder of one user-defined network, started by `ongictl` when a
//! container joins the network and leaving when the last one has gone (see
//! `ongi_engine::network::dns`). Resident, so it links only the engine's small DNS part.

use std::path::PathBuf;
use std::process::ExitCode;

fn main() -> ExitCode {
    let mut a = std::env::args().skip(1);
    let (mut dir, mut run_root, mut listen, mut ready) = (None, None, None, None);
    while let Some(arg) = a.next() {
        let v = a.next();
        let ok = match (arg.as_str(), v) {
            ("--dir", Some(v)) => {
                dir = Some(PathBuf::from(v));
                true
            }
            ("--run-root", Some(v)) => {
                run_root = Some(PathBuf::from(v));
                true
            }
            // ADDRESS/PREFIX: the gateway and its subnet's length.
            ("--listen", Some(v)) => {
                listen = v.split_once('/').and_then(|(a, p)| {
                    Some((a.parse::<std::net::Ipv4Addr>().ok()?, p.parse::<u8>().ok()?))
                });
                listen.is_some_and(|(_, p)| p <= 32)
            }
            ("--ready-fd", Some(v)) => {
                ready = v.parse::<i32>().ok();
                ready.is_some()
            }
            _ => false,
        };
        if !ok {
            eprintln!("ongi-dns: bad or incomplete argument {arg:?}");
            return ExitCode::from(125);
        }
    }
    let (Some(dir), Some(run_root), Some((listen, prefix))) = (dir, run_root, listen) else {
        eprintln!(
            "ongi-dns: --dir, --run-root and --listen are required (it is started by ongictl)"
        );
        return ExitCode::from(125);
    };
    let args = ongi_engine::network::dnsserver::Args {
        dir,
        run_root,
        listen,
        prefix,
    };
    ExitCode::from(ongi_engine::network::dnsserver::run(&args, ready) as u8)
}
