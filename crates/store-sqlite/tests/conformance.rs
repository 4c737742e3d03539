//! Runs the conformance suites of `store-conformance` against `SqliteLogStore` and
//! `SqliteBlobStore`, through the backend's harness.

use store_sqlite::harness::SqliteHarness;

store_conformance::log_store_conformance!(harness: &SqliteHarness, capabilities: [files, processes]);
store_conformance::blob_store_conformance!(harness: &SqliteHarness);
