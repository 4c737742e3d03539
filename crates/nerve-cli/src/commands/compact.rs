//! `compact`: the space of deleted entries given back to the file system.

use serde_json::json;

use nerve_store::Store;

use crate::error::CliResult;
use crate::output::{Out, human_bytes};

pub(crate) fn run(store: &Store, out: &mut Out) -> CliResult<()> {
    let before = store.location.log_bytes();
    store.log.compact()?;
    let after = store.location.log_bytes();
    if out.json() {
        return out.object(&json!({
            "store": store.location.to_string(),
            "bytesBefore": before,
            "bytesAfter": after,
        }));
    }
    out.line(format!(
        "compacted {}: {} -> {} ({} given back)",
        store.location,
        human_bytes(before),
        human_bytes(after),
        human_bytes(before.saturating_sub(after))
    ))
}
