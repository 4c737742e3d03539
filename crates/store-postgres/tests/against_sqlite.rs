//! The same generated workloads on PostgreSQL and SQLite give the same answers, step by
//! step (the model-based sequences of `store-core`, on both at once).

use std::path::Path;

use store_conformance::Harness;
use store_core::{LogBackend, StoreResult};

fn sqlite(dir: &Path) -> StoreResult<Box<dyn LogBackend>> {
    store_sqlite::harness::SqliteHarness.open(&dir.join("sqlite"))
}

fn postgres(dir: &Path) -> StoreResult<Box<dyn LogBackend>> {
    store_postgres::harness::PgHarness.open(&dir.join("postgres"))
}

#[test]
fn postgres_and_sqlite_answer_every_generated_sequence_alike() {
    store_conformance::model::stores_agree(("sqlite", sqlite), ("postgres", postgres));
}
