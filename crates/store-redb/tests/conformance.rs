//! Runs the conformance suites of `store-conformance` against `RedbLogStore` and `RedbBlobStore`,
//! through the backend's harness.

use store_redb::harness::RedbHarness;

store_conformance::log_store_conformance!(harness: &RedbHarness, capabilities: [files, processes]);
store_conformance::blob_store_conformance!(harness: &RedbHarness);
