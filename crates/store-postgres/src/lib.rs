//! nerve-store on PostgreSQL: the log, runs, threads and meta of a store ([`PgLogStore`])
//! in one PostgreSQL schema, so that a fleet of daemons on several machines shares them, and
//! many stores share one database.
//!
//! It keeps `docs/SPEC.md` section 1 as the embedded backends do, ids included: every
//! transaction that writes takes the store's counter row (`log_counter`) and hands out ids
//! from it: a group of appends in the one statement that writes it, any other group with its
//! `BEGIN`, before it reads anything. PostgreSQL releases that lock only once the holder's
//! commit is visible, so when an id is visible every lower id is committed or was rolled
//! back: ids are strictly increasing in commit order across every process, and a reader
//! paging `after` a cursor never skips a row. The price is that writing transactions of one
//! store run one at a time, fleet-wide; group commit within each process makes one
//! transaction of the calls that wait together, and each group is as few round trips as its
//! writes allow (one for appends, four otherwise), every statement prepared once per
//! connection.
//!
//! Strings are `bytea` (PostgreSQL's `text` refuses NUL) and times `bigint` milliseconds
//! (`timestamptz` cannot hold every time the other backends keep).
//!
//! The sync `postgres` client drives a tokio runtime of its own, and panics when it is called
//! or dropped on a thread of another tokio runtime. The store never lets it meet one: on such
//! a thread (a worker, `spawn_blocking`, the facade's `AsyncStore`) each call, and the drop of
//! the store's pool, runs on a scoped thread of the store's own that the caller waits for.

mod blobs;
mod connection;
mod error;
#[cfg(feature = "conformance")]
pub mod harness;
mod options;
mod read;
mod runtime;
mod schema;
mod store;
mod write;

pub use blobs::PgBlobStore;
pub use options::PgOptions;
pub use store::PgLogStore;
pub use store_core::StoreError;
