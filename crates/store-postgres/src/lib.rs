//! nerve-store on PostgreSQL: the log, runs, threads and meta of a store ([`PgLogStore`])
//! in one PostgreSQL schema, so that a fleet of daemons on several machines shares them, and
//! many stores share one database.
//!
//! It keeps `docs/SPEC.md` section 1 as the embedded backends do, with ids of its own kind
//! so that writers never wait for each other: a writing transaction takes the log table in
//! `ROW EXCLUSIVE` mode (writers do not conflict), then numbers its entries from its own
//! transaction id (`xid8 · 2^20 + 1, + 2, …`), and no row is shared by writers (counts are
//! kept per server process). Reads are bounded by the store's horizon (`ids::horizon_sql`):
//! the lowest id a writer of the store that is still running may yet write, so a reader
//! paging `after` a cursor never meets an entry behind one it has read. Group commit within
//! each process makes one transaction of the calls that wait together, each group as few
//! round trips as its writes allow (one for appends, four otherwise), every statement
//! prepared once per connection; PostgreSQL's own group commit serves the processes of a
//! fleet.
//!
//! Strings are `bytea` (PostgreSQL's `text` refuses NUL) and times `bigint` milliseconds
//! (`timestamptz` cannot hold every time the other backends keep).
//!
//! The sync `postgres` client drives a tokio runtime of its own, and panics when it is called
//! or dropped on a thread of another tokio runtime. The store never lets it meet one: on such
//! a thread (a worker, `spawn_blocking`, the facade's `AsyncStore`) each call, and the drop of
//! the store's pool, runs on a scoped thread of the store's own that the caller waits for.

mod activity;
mod blobs;
mod connection;
mod error;
#[cfg(feature = "conformance")]
pub mod harness;
mod hours;
mod ids;
mod options;
mod read;
mod references;
mod runtime;
mod schema;
mod store;
mod write;

pub use blobs::PgBlobStore;
pub use options::PgOptions;
pub use store::PgLogStore;
pub use store_core::StoreError;
