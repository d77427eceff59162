//! `rm` and `stop` of many containers work on them in parallel, as podman does: each one
//! mostly waits (for its process to die, its monitor to let go, its tree to be removed),
//! so one after the other costs the sum of the waits. Results are reported in the order
//! the containers were named, each as soon as it and those before it are done, so the
//! output reads like docker's.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{mpsc, Mutex};

use ongi_engine::store::Store;

/// Worker threads for `n` items: podman's default (`--parallel`-less) is three per CPU.
fn jobs(n: usize) -> usize {
    let cpus = std::thread::available_parallelism().map_or(1, |c| c.get());
    n.min(cpus * 3).max(1)
}

/// Runs `work` on each of `items` (one alone on `store`; more on worker threads, each
/// with a store of its own from `open`, since a database connection is not shared between
/// threads) and calls `report` with each result in item order.
pub fn each<E: std::fmt::Display>(
    store: &Store,
    items: &[String],
    open: impl Fn() -> Result<Store, String> + Sync,
    work: impl Fn(&Store, &str) -> Result<(), E> + Sync,
    mut report: impl FnMut(&str, Result<(), String>),
) {
    if items.len() == 1 {
        report(&items[0], work(store, &items[0]).map_err(|e| e.to_string()));
        return;
    }
    let next = AtomicUsize::new(0);
    let (txs, rxs): (Vec<_>, Vec<_>) = items
        .iter()
        .map(|_| {
            let (tx, rx) = mpsc::sync_channel(1);
            (Mutex::new(Some(tx)), rx)
        })
        .unzip();
    std::thread::scope(|s| {
        for _ in 0..jobs(items.len()) {
            s.spawn(|| {
                let store = open();
                loop {
                    let i = next.fetch_add(1, Ordering::Relaxed);
                    let (Some(item), Some(slot)) = (items.get(i), txs.get(i)) else {
                        break;
                    };
                    // Taken, so a worker that panics drops it and the receiver hears so.
                    let Some(tx) = slot.lock().ok().and_then(|mut t| t.take()) else {
                        continue;
                    };
                    let r = match &store {
                        Ok(st) => work(st, item).map_err(|e| e.to_string()),
                        Err(e) => Err(e.clone()),
                    };
                    // The receiver lives until every result is in; a send cannot fail.
                    let _ = tx.send(r);
                }
            });
        }
        for (item, rx) in items.iter().zip(rxs) {
            // A worker that panicked dropped its sender: report that, not a hang.
            let r = rx
                .recv()
                .unwrap_or_else(|_| Err(format!("{item}: worker thread failed")));
            report(item, r);
        }
    });
}
