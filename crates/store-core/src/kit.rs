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
//! - time: the kept range ([`check_ts`], [`bound_millis`], ...) and UTC day numbers
//!   ([`day_number`], [`day_bounds`], ...), which index entries by day;
//! - blobs: the chunked write of a database blob store ([`write_chunked`] over its
//!   [`ChunkRows`]), the readers ([`ChunkedReader`], [`VerifyingReader`]) and the [`Hasher`];
//! - files: the [`FileOps`] seam that crash tests fail step by step, and
//!   [`create_parent_folders`];
//! - panics: [`catch_quietly`], for an engine's panic the store turns into an error without
//!   the panic hook printing it.
//!
//! A program that only uses a store never needs this module.

pub use crate::blob::{ChunkedReader, Hasher, VerifyingReader, fill_buffer, read_verified};
pub use crate::chunked::{BLOB_CHUNK, ChunkRows, write_chunked};
pub use crate::commit::{
    PreparedUnit, UnitResult, UnitTx, apply_group, fail_all, is_engine_failure, prepare_unit,
};
pub use crate::error::{engine_error, engine_message};
pub use crate::files::{
    FileOps, RealFiles, check_store_path, create_folders, create_parent_folders, folder_of,
    sync_parent_folder,
};
pub use crate::import::existing_run;
pub use crate::log::{
    PreparedEntry, format_ts, now_millis, time_from_millis, truncate_to_millis, ts_millis,
};
pub use crate::maintenance::{
    DAY_MILLIS, DAY_PAGE, day_bounds, day_in_range, day_number, day_of_number, day_stream,
    number_of_day,
};
pub use crate::pipeline::{CommitQueue, MAX_GROUP, SLOW};
pub use crate::quiet::catch_quietly;
pub use crate::range::{
    MAX_TS_MILLIS, MIN_TS_MILLIS, bound_millis, check_log_id, check_optional_ts, check_size,
    check_ts, millis_in_range,
};
pub use crate::run::{TransitionPlan, plan_transition};
pub use crate::store::{check_meta_key, check_meta_pairs};

/// Runs `read`, a read of the store at `path`, and reports it when it took [`SLOW`] or more:
/// a `warn` event of target `nerve_store::read` naming the store and the time it took.
pub fn traced_read<T>(path: &std::path::Path, read: impl FnOnce() -> T) -> T {
    let started = std::time::Instant::now();
    let value = read();
    let elapsed = started.elapsed();
    if elapsed >= SLOW {
        let micros = u64::try_from(elapsed.as_micros()).unwrap_or(u64::MAX);
        tracing::warn!(
            target: "nerve_store::read",
            store = %path.display(),
            micros,
            "slow read"
        );
    }
    value
}
