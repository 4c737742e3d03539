//! Blobs of nerve-store on object storage: [`ObjectBlobStore`], a [`store_core::BlobStore`]
//! over the S3 API (AWS S3 and the services that speak it: MinIO, Ceph, R2, moto), through
//! the `object_store` crate, at `s3://bucket/prefix`; and [`ObjectArchive`], the archive
//! there: a folder's replica (`store_archive::push_archive`, `pull_archive`), or the archive
//! runs write to and read from directly (`store_archive::archive_logs_at`, …).

mod archive;
mod bucket;
mod error;
#[cfg(feature = "conformance")]
pub mod harness;
mod location;
mod store;

pub use archive::ObjectArchive;
pub use bucket::PART_BYTES;
pub use location::{LEASE, ObjectOptions};
pub use store::{LEFTOVER_UPLOAD, MAX_BLOB_BYTES, ObjectBlobStore};
