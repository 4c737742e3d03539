//! Runs the conformance suites of `store-core` against `SqliteLogStore` and
//! `SqliteBlobStore`, through the backend's harness.

use store_sqlite::harness::SqliteHarness;

store_core::log_store_conformance!(harness: &SqliteHarness, capabilities: [files, processes]);
store_core::blob_store_conformance!(harness: &SqliteHarness);
