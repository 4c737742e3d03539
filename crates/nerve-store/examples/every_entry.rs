//! Every entry of a large log through `LogQuery::fetch` (sync) and `AsyncStore::fetch` (a
//! stream), in memory that does not grow with the log: the peak resident memory of a
//! process that iterates 250,000 matching entries, beside one that asks for all of them in
//! one `query`.
//!
//! ```text
//! cargo run --release -p nerve-store --example every_entry -- /tmp/every write 250000
//! cargo run --release -p nerve-store --example every_entry -- /tmp/every fetch
//! cargo run --release -p nerve-store --features tokio --example every_entry -- /tmp/every stream
//! cargo run --release -p nerve-store --example every_entry -- /tmp/every query
//! ```
//!
//! Each step is its own process, so that each peak (Linux's `VmHWM`) is its own; the page
//! cache is 4 MiB, so that what grows with the log is what the caller holds.

mod support;

use nerve_store::{LogQuery, NewLogEntry};
use support::peak_kib;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let [dir, step, rest @ ..] = args.as_slice() else {
        return Err("usage: every_entry DIR write N | fetch | stream | query".into());
    };
    let location = format!("sqlite:{dir}/nerve.db");
    // A small page cache, so that what grows with the log is what the caller holds, not the
    // cache filling up to its 64 MiB default.
    let store = nerve_store::open_with(
        &location,
        &nerve_store::OpenOptions::default().cache_bytes(4 << 20),
    )?;
    let matching = LogQuery::new().source("worker");
    match step.as_str() {
        "write" => {
            let total: usize = rest.first().ok_or("write N")?.parse()?;
            for start in (0..total).step_by(10_000) {
                let batch = (start..total.min(start + 10_000))
                    .flat_map(|i| {
                        [
                            NewLogEntry::new(
                                "worker",
                                "step",
                                format!("{{\"i\":{i},\"pad\":\"{}\"}}", "x".repeat(200)),
                            ),
                            NewLogEntry::new("daemon", "tick", "{}"),
                        ]
                    })
                    .collect();
                store.log.append_batch(batch)?;
            }
            println!("wrote {total} matching entries (and as many others)");
        }
        "fetch" => {
            let mut count = 0_u64;
            let mut bytes = 0_u64;
            for entry in matching.fetch(store.log.as_ref()) {
                let entry = entry?;
                count += 1;
                bytes += entry.payload.len() as u64;
            }
            println!(
                "fetched {count} entries ({} MiB of payload) one page at a time; peak {} KiB",
                bytes >> 20,
                peak_kib()
            );
        }
        "stream" => {
            let runtime = tokio::runtime::Builder::new_multi_thread()
                .worker_threads(2)
                .build()?;
            let (count, bytes) = runtime.block_on(async {
                let store = nerve_store::AsyncStore::new(store);
                let mut entries = store.fetch(matching);
                let (mut count, mut bytes) = (0_u64, 0_u64);
                while let Some(entry) = entries.next().await {
                    count += 1;
                    bytes += entry?.payload.len() as u64;
                }
                Ok::<_, nerve_store::StoreError>((count, bytes))
            })?;
            println!(
                "streamed {count} entries ({} MiB of payload) one page at a time; peak {} KiB",
                bytes >> 20,
                peak_kib()
            );
        }
        "query" => {
            let all = store.log.query(&matching.limit(usize::MAX))?;
            println!(
                "queried {} entries in one call; peak {} KiB",
                all.len(),
                peak_kib()
            );
        }
        other => return Err(format!("unknown step {other:?}").into()),
    }
    Ok(())
}
