//! Runs the conformance suites of `store-core` against `RedbLogStore` and `RedbBlobStore`,
//! through the backend's harness.

use store_redb::harness::RedbHarness;

store_core::log_store_conformance!(harness: &RedbHarness, capabilities: [files, processes]);
store_core::blob_store_conformance!(harness: &RedbHarness);
