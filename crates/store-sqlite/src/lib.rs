//! The SQLite backend of nerve-store: [`SqliteLogStore`], a [`store_core::LogStore`] in one
//! SQLite file in WAL mode, and [`SqliteBlobStore`], a [`store_core::BlobStore`] in one.
//!
//! - Durability: [`store_core::Durability::PowerLoss`] (`synchronous=FULL`) by default: a
//!   call that returned survives a power loss. Calls from threads that wait for the writer
//!   together commit as one group, in one transaction and one sync ([`SqliteOptions`]:
//!   `group_commit`); [`store_core::Durability::ProcessCrash`] (`NORMAL`) on request.
//! - Concurrency: `Send + Sync`; one writer connection, a pool of read connections that
//!   never wait for it; a second process may read and write the same file (WAL and a busy
//!   timeout).
//! - Safety: the file's identity (`application_id`) and schema version (`user_version`) are
//!   checked at open, and every pragma is read back after it is set. Every row of the log,
//!   the runs, the thread index and meta carries a checksum that is checked when the row is
//!   read (SQLite keeps none), so a row damaged on the disk is an error, not a wrong answer.

mod activity;
mod blobs;
// Public with the harness, so that the bench's bare side writes rows the store would read.
#[cfg(feature = "conformance")]
pub mod checksum;
#[cfg(not(feature = "conformance"))]
#[allow(unreachable_pub)]
mod checksum;
mod error;
#[cfg(feature = "conformance")]
pub mod harness;
mod migrate;
mod open;
mod options;
mod read;
mod references;
mod schema;
mod store;
mod write;

pub use blobs::SqliteBlobStore;
pub use options::{DEFAULT_CACHE_BYTES, SqliteOptions};
pub use store::SqliteLogStore;
