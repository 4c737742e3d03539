//! Runs the blob conformance suite of `store-conformance` against `ObjectBlobStore` on a
//! local S3 server (moto), through its harness.

use store_object::harness::ObjectHarness;

store_conformance::blob_store_conformance!(harness: &ObjectHarness);
