//! Runs the whole log-store conformance suite of `store-core` against `SqliteLogStore`.

use std::path::Path;

use store_core::{LogBackend, StoreResult};
use store_sqlite::SqliteLogStore;

fn open(dir: &Path) -> StoreResult<Box<dyn LogBackend>> {
    Ok(Box::new(SqliteLogStore::open(dir.join("nerve.db"))?))
}

store_core::log_store_conformance!(open);
