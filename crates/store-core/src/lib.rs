//! The contract of nerve-store, the embedded persistence layer of the nerve workflow daemon.
//!
//! This crate holds what every backend shares and nothing that depends on one:
//!
//! - the log: [`LogEntry`], [`NewLogEntry`], [`LogId`], [`LogQuery`];
//! - workflow runs and their state machine: [`WorkflowRun`], [`WorkflowRunStatus`], the
//!   transition table [`TRANSITIONS`] and [`plan_transition`], which applies it;
//! - threads: [`ThreadMessage`], [`ThreadRoundRow`], [`GetThreadRoundsParams`];
//! - the [`LogStore`] trait that backends implement, and the one error type [`StoreError`];
//! - blobs: [`Digest`] and the [`BlobStore`] trait;
//! - with the `conformance` feature, the suite every backend runs (`conformance`).
//!
//! Backends live in their own crates (`store-sqlite`, ...). Everything is synchronous; an
//! async caller wraps calls in its runtime's blocking pool.

mod blob;
mod error;
mod files;
mod import;
mod log;
mod maintenance;
mod range;
mod run;
mod store;
mod thread;

#[cfg(any(test, feature = "conformance"))]
pub mod conformance;

pub use blob::{
    BlobHealth, BlobStore, ChunkedReader, Digest, Hasher, VerifyReport, VerifyingReader,
    blob_read_error, fill_buffer, read_verified,
};
pub use error::{StoreError, StoreResult};
pub use files::{FileOps, RealFiles};
pub use import::{ImportBatch, ThreadIndexRow, existing_run};
pub use log::{
    DEFAULT_QUERY_LIMIT, LogEntry, LogId, LogQuery, NewLogEntry, Order, PreparedEntry, format_ts,
    now_millis, prepare_batch, time_from_millis, truncate_to_millis, ts_millis,
};
pub use maintenance::{
    DAY_MILLIS, DAY_PAGE, DaySpan, LogStats, day_bounds, day_in_range, day_number, day_of_number,
    day_stream, number_of_day,
};
pub use range::{
    MAX_DETAIL_BYTES, MAX_LOG_ID, MAX_PAYLOAD_BYTES, MAX_TS_MILLIS, MIN_TS_MILLIS, bound_millis,
    check_log_id, check_optional_ts, check_size, check_ts, max_ts, millis_in_range, min_ts,
};
pub use run::{
    ALL_STATUSES, AUDIT_KIND, AUDIT_SOURCE, RunQuery, RunTransition, TRANSITIONS,
    TransitionOutcome, TransitionPlan, WorkflowRun, WorkflowRunStatus, is_allowed, plan_transition,
};
pub use store::{LogStore, check_meta_key, check_meta_pairs, create_parent_folders};
pub use thread::{
    GetThreadRoundsParams, THREAD_KIND, THREAD_SOURCE, ThreadMessage, ThreadRoundRow,
};
