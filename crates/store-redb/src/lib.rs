//! The redb backend of nerve-store: [`RedbLogStore`], a [`store_core::LogStore`] in one redb
//! file.
//!
//! - Rows are postcard-encoded; every query of the contract walks a secondary index table
//!   whose key ends in the order it returns (O(log n + k)).
//! - Durability: [`store_core::Durability::PowerLoss`] (redb `Immediate`) by default (a
//!   commit is on the disk when it returns). Calls from threads that wait for the writer
//!   together commit as one group, in one write transaction and one durable commit
//!   ([`RedbOptions`]: `group_commit`).
//! - Concurrency: `Send + Sync`; reads run on snapshots beside the writer; by default a
//!   second process may open the same file and read and write (`ConcurrencyMode::MultiWriter`).
//! - Safety: the file's identity and schema version are checked at open. Its pages are
//!   verified at open unless the file is as this store left it when it last closed it
//!   cleanly (`FILE.sealed` beside it says so), and redb verifies and repairs it after an
//!   unclean shutdown, so an open after a clean shutdown reads a few pages at any size. A
//!   damaged page met later (redb panics on some) is a [`store_core::StoreError::Damaged`].
//!   Every value read back as data carries a checksum of its table, key and bytes, checked
//!   on every read: a value damaged on the disk, or one that does not decode, is a
//!   [`store_core::StoreError::CorruptValue`] naming the table and key.

mod blobs;
// Public with the harness, as the schema is, for the tests that damage values.
#[cfg(feature = "conformance")]
pub mod checksum;
#[cfg(not(feature = "conformance"))]
#[allow(unreachable_pub)]
mod checksum;
mod create;
mod engine;
mod error;
mod fence;
#[cfg(test)]
mod full_disk_tests;
#[cfg(feature = "conformance")]
pub mod harness;
mod open;
mod options;
mod read;
mod references;
mod store;
// The schema is public with the harness, so that the bench's bare side writes the store's
// own tables; otherwise the crate's own.
#[cfg(feature = "conformance")]
pub mod schema;
#[cfg(not(feature = "conformance"))]
#[allow(unreachable_pub)]
mod schema;
mod seal;
mod upgrade;
mod write;

pub use blobs::RedbBlobStore;
pub use options::{DEFAULT_CACHE_BYTES, RedbOptions};
pub use store::RedbLogStore;
