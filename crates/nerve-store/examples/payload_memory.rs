//! Appends one entry with a payload of MIB mebibytes to a new store at LOCATION (with a page
//! cache of CACHE_MIB, the default 64 when not given), reads it back by its reference and
//! checks it, so that the process's peak memory can be measured against the payload's size:
//!
//! ```text
//! cargo run --release -p nerve-store --features redb --example payload_memory -- sqlite:/tmp/p/nerve.db 64
//! ```
//!
//! Run it with MIB 0 too: the difference of the two peaks is what the payload costs.

mod support;

use nerve_store::{LogQuery, NewLogEntry};
use support::peak_kib;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut args = std::env::args().skip(1);
    let location = args.next().ok_or("usage: payload_memory LOCATION MIB")?;
    let mib: usize = args
        .next()
        .ok_or("usage: payload_memory LOCATION MIB")?
        .parse()?;
    let mut options = nerve_store::OpenOptions::default();
    if let Some(cache) = args.next() {
        options = options.cache_bytes(cache.parse::<usize>()? << 20);
    }
    let store = nerve_store::open_with(&location, &options)?;
    let payload: String = "0123456789abcdef".repeat(mib << 16);
    let stored = store
        .log
        .append(NewLogEntry::new("probe", "payload", payload).with_ref("big"))?;
    let length = stored.payload.len();
    drop(stored);
    let after_append = peak_kib();
    let found = store.log.query(&LogQuery {
        ref_id: Some("big".into()),
        ..LogQuery::default()
    })?;
    let back = found.first().map_or(0, |entry| entry.payload.len());
    if back != length {
        return Err(format!("read back {back} bytes of {length}").into());
    }
    println!(
        "{location}: {mib} MiB payload appended and read back; peak {} KiB after the append, {} KiB at the end",
        after_append,
        peak_kib()
    );
    Ok(())
}
