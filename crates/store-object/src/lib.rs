//! Blobs of nerve-store on object storage: [`ObjectBlobStore`], a [`store_core::BlobStore`]
//! over the S3 API (AWS S3 and the services that speak it: MinIO, Ceph, R2, moto), through
//! the `object_store` crate, at `s3://bucket/prefix`.

mod error;
#[cfg(feature = "conformance")]
pub mod harness;
mod location;
mod store;

pub use location::ObjectOptions;
pub use store::{LEASE, MAX_BLOB_BYTES, ObjectBlobStore, PART_BYTES};
