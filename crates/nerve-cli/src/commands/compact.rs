//! `compact`: the space of deleted entries given back to the file system.

use nerve_store::{Location, Store};
use serde::Serialize;

use crate::error::CliResult;
use crate::output::{Out, human_bytes};

/// What `compact` did, as `--json` shows it.
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct Compacted<'a> {
    store: &'a Location,
    bytes_before: u64,
    bytes_after: u64,
}

pub(crate) fn run(store: &Store, out: &mut Out) -> CliResult<()> {
    let before = store.location.log_bytes();
    store.log.compact()?;
    let after = store.location.log_bytes();
    if out.structured() {
        return out.report(&Compacted {
            store: &store.location,
            bytes_before: before,
            bytes_after: after,
        });
    }
    out.line(format!(
        "compacted {}: {} -> {} ({} given back)",
        store.location,
        human_bytes(before),
        human_bytes(after),
        human_bytes(before.saturating_sub(after))
    ))
}
