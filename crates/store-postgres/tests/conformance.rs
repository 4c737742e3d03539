//! Runs the conformance suites of `store-conformance` against `PgLogStore` and `PgBlobStore` on a
//! throwaway PostgreSQL server, through the backend's harness. The `files` capability is
//! about a store's file on the disk, which this backend has not; its cases about another
//! program's data and newer schemas run in the harness's `damage` cases instead.

use store_postgres::harness::PgHarness;

store_conformance::log_store_conformance!(harness: &PgHarness, capabilities: [processes]);
store_conformance::blob_store_conformance!(harness: &PgHarness);
