//! nerve-store on PostgreSQL: the log, runs, threads and meta of a store ([`PgLogStore`])
//! in one PostgreSQL schema, so that a fleet of daemons on several machines shares them, and
//! many stores share one database.
//!
//! It keeps `docs/SPEC.md` section 1 as the embedded backends do, ids included: every
//! transaction that writes takes the store's counter row (`log_counter`) with
//! `SELECT … FOR UPDATE` before it reads or writes anything else, and hands out ids from it.
//! PostgreSQL releases that lock only once the holder's commit is visible, so when an id is
//! visible every lower id is committed or was rolled back: ids are strictly increasing in
//! commit order across every process, and a reader paging `after` a cursor never skips a
//! row. The price is that writing transactions of one store run one at a time, fleet-wide;
//! group commit within each process makes one transaction of the calls that wait together.
//!
//! Strings are `bytea` (PostgreSQL's `text` refuses NUL) and times `bigint` milliseconds
//! (`timestamptz` cannot hold every time the other backends keep).
//!
//! The sync `postgres` client drives a tokio runtime of its own, and panics when called on a
//! tokio worker thread; every call of the store checks for that first and returns
//! [`StoreError::InvalidInput`] naming the remedy instead (`spawn_blocking`, or the facade's
//! `AsyncStore`).

mod blobs;
mod error;
#[cfg(feature = "conformance")]
pub mod harness;
mod options;
mod read;
mod schema;
mod store;
mod write;

pub use blobs::PgBlobStore;
pub use options::PgOptions;
pub use store::PgLogStore;
pub use store_core::StoreError;
