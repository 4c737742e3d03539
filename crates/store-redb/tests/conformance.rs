//! Runs the whole log-store conformance suite of `store-core` against `RedbLogStore`.

use std::path::Path;

use store_core::{LogBackend, StoreResult};
use store_redb::RedbLogStore;

fn open(dir: &Path) -> StoreResult<Box<dyn LogBackend>> {
    Ok(Box::new(RedbLogStore::open(dir.join("nerve.redb"))?))
}

store_core::log_store_conformance!(open);
