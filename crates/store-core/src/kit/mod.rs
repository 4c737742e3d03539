//! The implementers' kit: what a backend needs to keep the contract that a program using a
//! store does not. Every rule of `docs/SPEC.md` that is not an engine's is written here once,
//! so that backends stay thin adapters with no copied logic:
//!
//! - writes: every write is a unit; [`prepare_unit`] checks it in the caller's thread, a
//!   [`CommitQueue`] in front of the backend's writer gathers the units that wait together
//!   into one group, and [`apply_group`] decides and writes each unit of the group through
//!   the backend's [`UnitTx`], so that one transaction and one sync commit them all;
//! - runs: [`plan_transition`] decides a transition from the stored run, the backend only
//!   reads and writes what the [`TransitionPlan`] says;
//! - time: the kept range ([`check_ts`], [`bound_millis`], ...), UTC day numbers
//!   ([`day_number`], [`day_bounds`], ...), which index entries by day, and the time order
//!   that finds a time range's entries by id ([`TimeOrder`], [`MarkSpan`]);
//! - blobs: the chunked write of a database blob store ([`write_chunked`] over its
//!   [`ChunkRows`]), the readers ([`ChunkedReader`], [`VerifyingReader`]) and the [`Hasher`];
//! - files: the [`FileOps`] seam that crash tests fail step by step, and
//!   [`create_parent_folders`];
//! - panics: [`catch_quietly`], for an engine's panic the store turns into an error without
//!   the panic hook printing it.
//!
//! A program that only uses a store never needs this module. Each file of this folder is
//! one of the items above; the contract's own checks that a backend calls (the kept range of
//! times and sizes, meta keys, log ids) are re-exported here beside them.

pub(crate) mod activity;
pub(crate) mod blobs;
pub(crate) mod commit;
pub(crate) mod days;
pub(crate) mod engine;
pub(crate) mod files;
pub(crate) mod query;
pub(crate) mod queue;
pub(crate) mod time_order;
pub(crate) mod transition;

pub use activity::{ActivityCheck, check_activity};
pub use blobs::{
    BLOB_CHUNK, ChunkRows, ChunkedReader, VerifyingReader, fill_buffer, read_verified,
    write_chunked,
};
pub use commit::{
    PreparedUnit, UnitResult, UnitTx, apply_group, fail_all, is_engine_failure, prepare_unit,
    submit_units,
};
pub use days::{DAY_PAGE, DayEntry, day_stream, day_stream_archived};
pub use engine::{SLOW, catch_quietly, engine_error, engine_message, traced_read};
pub use files::{
    FileOps, RealFiles, check_store_path, create_folders, create_parent_folders, folder_of,
    missing_folders, sync_parent_folder,
};
pub use query::answer_query;
pub use queue::{CommitQueue, MAX_GROUP};
pub use time_order::{
    LATE_AFTER_MILLIS, MarkSpan, Placed, TIME_MARK_MILLIS, TimeOrder, marks_to_drop, time_mark_of,
};
pub use transition::{TransitionPlan, plan_transition};

pub use crate::activity::{ActivityTally, count_entries, hour_counts, hour_number, hours_between};
pub use crate::digest::Hasher;
pub use crate::import::{existing_run, restore_conflict};
pub use crate::limits::{check_meta_key, check_meta_pairs, check_size};
pub use crate::log::{PreparedEntry, check_log_id};
pub use crate::time::{
    DAY_MILLIS, MAX_TS_MILLIS, MIN_TS_MILLIS, bound_millis, check_optional_ts, check_ts,
    day_bounds, day_in_range, day_number, day_of_number, format_ts, millis_in_range, now_millis,
    number_of_day, time_from_millis, truncate_to_millis, ts_millis,
};
