//! The contract of nerve-store, the embedded persistence layer of the nerve workflow daemon.
//!
//! The root holds what a program using a store works with, and nothing else:
//!
//! - the log: [`LogEntry`], [`NewLogEntry`], [`LogId`], [`LogQuery`]; every match of a
//!   query, a page at a time, and a follower of the log, in [`pages`];
//! - workflow runs and their state machine: [`WorkflowRun`], [`WorkflowRunStatus`], the
//!   transition table [`TRANSITIONS`] and [`is_allowed`];
//! - threads: [`ThreadMessage`], [`ThreadRoundRow`], [`GetThreadRoundsParams`];
//! - several writes as one fact: [`WriteUnit`] of [`Write`]s, answered with [`Written`]s;
//! - the traits: [`LogStore`] (what a daemon calls), [`LogMaintenance`] (what the archive
//!   calls), [`LogTransfer`] (what a copy between stores calls), [`LogBackend`] (all three, for
//!   a `Box<dyn LogBackend>`), and [`BlobStore`] with its [`Digest`];
//! - the one error type [`StoreError`], and the choices a backend's options share:
//!   [`StoreOptions`], embedded in every backend's options, with its [`Durability`];
//! - [`MemoryLogStore`], the whole contract in memory, for tests of code that uses a store.
//!
//! What a backend author needs beyond that (the commit queue and the group commit of units,
//! the transition planner, day numbers, range checks, the file-operation seam) is in
//! [`kit`]; the suite every backend runs is the crate `store-conformance`.
//!
//! Backends live in their own crates (`store-sqlite`, ...). Everything is synchronous; an
//! async caller wraps calls in its runtime's blocking pool.

mod activity;
mod blob;
mod digest;
mod error;
mod id;
mod import;
pub mod kit;
mod limits;
mod log;
mod maintenance;
mod memory;
mod options;
pub mod pages;
mod references;
mod run;
mod secret;
mod status;
mod store;
mod thread;
mod time;
mod unit;

pub use activity::{ActivitySeries, HOUR_MILLIS, HourCount};
pub use blob::{BlobHealth, BlobInfo, BlobStore, VerifyReport};
pub use digest::Digest;
pub use error::{EngineError, StoreError, StoreResult};
pub use id::{LogId, MAX_LOG_ID};
pub use import::{ImportBatch, RestoreBatch, Restored, ThreadIndexRow};
pub use limits::{MAX_DETAIL_BYTES, MAX_PAYLOAD_BYTES, MAX_UNIT_WRITES};
pub use log::{DEFAULT_QUERY_LIMIT, LogEntry, LogQuery, NewLogEntry, Order};
pub use maintenance::{Checked, DaySpan, LogStats, RunCounts};
pub use memory::MemoryLogStore;
pub use options::{Durability, StoreOptions};
pub use references::{BlobHolder, BlobReference, MAX_BLOBS_PER_HOLDER};
pub use run::{AUDIT_KIND, AUDIT_SOURCE, RunQuery, RunTransition, TransitionOutcome, WorkflowRun};
pub use secret::redact_location;
pub use status::{TRANSITIONS, WorkflowRunStatus, is_allowed};
pub use store::{LogBackend, LogMaintenance, LogStore, LogTransfer};
pub use thread::{
    GetThreadRoundsParams, Role, THREAD_KIND, THREAD_SOURCE, ThreadMessage, ThreadRoundRow,
};
pub use time::{max_ts, min_ts};
pub use unit::{Write, WriteUnit, Written};
