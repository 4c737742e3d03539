//! Content-addressed blob files for nerve-store: [`FsBlobStore`], a
//! [`store_core::BlobStore`] that keeps each blob as a file named by its sha256, written
//! atomically and verified on every read.

#[cfg(feature = "conformance")]
pub mod harness;
mod store;

#[cfg(test)]
mod crash_tests;

pub use store::{DEFAULT_GRACE, FsBlobStore};
