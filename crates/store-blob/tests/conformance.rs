//! Runs the blob conformance suite of `store-core` against `FsBlobStore`, through its harness.

use store_blob::harness::FsHarness;

store_core::blob_store_conformance!(harness: &FsHarness);
