//! The log-store traits: what every log backend promises, split by who calls it.

use crate::digest::Digest;
use crate::error::StoreResult;
use crate::id::LogId;
use crate::log::{LogEntry, LogQuery, NewLogEntry};
use crate::references::{BlobHolder, BlobReference};
use chrono::{DateTime, NaiveDate, Utc};

use crate::activity::HourCount;

use crate::import::{ImportBatch, RestoreBatch, Restored, ThreadIndexRow};
use crate::maintenance::{DaySpan, LogStats};
use crate::run::{RunQuery, RunTransition, TransitionOutcome, WorkflowRun};
use crate::status::WorkflowRunStatus;
use crate::thread::{GetThreadRoundsParams, ThreadMessage, ThreadRoundRow};
use crate::unit::{Write, WriteUnit, Written};

/// An embedded, append-only structured log with a materialised runs table, a thread index
/// and a small key-value table, as `docs/SPEC.md` section 1 states it.
///
/// Every method is one transaction: a write that returns `Ok` is committed at the store's
/// durability level, and a write that returns `Err` changed nothing. Every write is a
/// [`WriteUnit`] committed by [`LogStore::write_unit`], the one write method a backend
/// implements; the others are provided on top of it. Backends commit the units that
/// threads submit at the same time together, in one transaction and one sync, and each call
/// returns when its own write is durable. Implementations are
/// `Send + Sync`; readers do not block the writer. The trait is object-safe, so a daemon can
/// hold a `Box<dyn LogStore>` (or a `Box<dyn LogBackend>`, with the other capabilities) and
/// pick the backend at run time.
pub trait LogStore: Send + Sync {
    /// Appends one entry and returns it with its id and final timestamp.
    ///
    /// # Errors
    /// [`crate::StoreError::InvalidInput`] for an empty `source` or `kind`; an engine error
    /// otherwise. Nothing is written on error.
    fn append(&self, entry: NewLogEntry) -> StoreResult<LogEntry> {
        one_write(self, Write::Append(entry))?.into_appended()
    }

    /// Appends the entries in order, atomically: after a crash or an error the batch is there
    /// whole or not at all. Ids are consecutive in the batch's order. An empty batch is a
    /// no-op.
    ///
    /// # Errors
    /// [`crate::StoreError::InvalidInput`] naming the first invalid entry; nothing of the
    /// batch is written.
    fn append_batch(&self, entries: Vec<NewLogEntry>) -> StoreResult<Vec<LogEntry>> {
        if entries.is_empty() {
            return Ok(Vec::new());
        }
        let count = entries.len();
        Written::into_batch(self.write_unit(WriteUnit::batch(entries)?)?, count)
    }

    /// Commits every write of `unit` as one fact: in one transaction, in order, all of them or
    /// none. Each write sees the ones before it (a unit may queue a run and start it), the
    /// entries they append get consecutive ids in the unit's order, and one durable commit
    /// covers them all. Returns what each write did, at its position. An empty unit is a
    /// no-op.
    ///
    /// # Errors
    /// The first refused write's error, as the single call would give it ([`LogStore::append`],
    /// [`LogStore::transition_run`], ...); an [`crate::StoreError::InvalidInput`] names the
    /// write (`write 2 of the unit`). Nothing of the unit is written on error.
    fn write_unit(&self, unit: WriteUnit) -> StoreResult<Vec<Written>>;

    /// Commits each of `units` as [`LogStore::write_unit`] would, each its own fact with its
    /// own result, in order: what one thread that holds many callers' units (an async
    /// adapter) submits. A backend with group commit commits them in groups, one sync for
    /// many units, as the same calls from as many threads; this default writes them one by
    /// one.
    fn write_units(&self, units: Vec<WriteUnit>) -> Vec<StoreResult<Vec<Written>>> {
        units
            .into_iter()
            .map(|unit| self.write_unit(unit))
            .collect()
    }

    /// The entries that match every filter of `query`, in its order, at most its limit.
    /// Costs O(log n + k) when filtered by `ref_id`, by `source` (and `kind`) or by a `ts`
    /// range.
    fn query(&self, query: &LogQuery) -> StoreResult<Vec<LogEntry>>;

    /// Moves a run to a status, creating it on its first transition, and logs the change
    /// (source `"workflow"`, kind `"run.status"`, `ref_id` the run id) in the same
    /// transaction. Re-applying the current status changes nothing and reports
    /// [`TransitionOutcome::Unchanged`]. The rules are [`crate::kit::plan_transition`]'s.
    ///
    /// # Errors
    /// [`crate::StoreError::InvalidTransition`], [`crate::StoreError::RunConflict`] or
    /// [`crate::StoreError::InvalidInput`]; nothing is written on error.
    fn transition_run(&self, transition: RunTransition) -> StoreResult<TransitionOutcome> {
        one_write(self, Write::Transition(transition))?.into_transitioned()
    }

    /// How many entries the log holds in each UTC hour that overlaps `since..until`, and how
    /// many of them record a run's move to each status, in (hour, series) order; an hour or
    /// series with none is left out. The counts are kept by the writes themselves
    /// ([`crate::kit::ActivityTally`]) and equal what a walk of the hour's entries gives,
    /// after deletions by the archive and restores too; reading them costs O(log n) plus
    /// one row per hour and series, never a walk of the log.
    fn activity(&self, since: DateTime<Utc>, until: DateTime<Utc>) -> StoreResult<Vec<HourCount>>;

    /// The run with this id, if any.
    fn get_run(&self, run_id: &str) -> StoreResult<Option<WorkflowRun>>;

    /// Every queued or started run, oldest first: what crash recovery reads at start-up.
    fn list_active_runs(&self) -> StoreResult<Vec<WorkflowRun>> {
        self.list_runs(&RunQuery {
            statuses: WorkflowRunStatus::ALL
                .into_iter()
                .filter(|status| status.is_active())
                .collect(),
            limit: Some(usize::MAX),
            ..RunQuery::default()
        })
    }

    /// The runs that match `query`, oldest first by (`created_at`, `run_id`).
    ///
    /// # Errors
    /// [`crate::StoreError::UnknownRun`] when the cursor names no run.
    fn list_runs(&self, query: &RunQuery) -> StoreResult<Vec<WorkflowRun>>;

    /// Appends a thread message as a log entry and indexes it by (thread, round, role), in
    /// one transaction.
    ///
    /// # Errors
    /// [`crate::StoreError::InvalidInput`] for an empty `thread_id` or `role`.
    fn append_thread_message(&self, message: ThreadMessage) -> StoreResult<LogEntry> {
        one_write(self, Write::ThreadMessage(message))?.into_thread_message()
    }

    /// The thread's messages with an id above `after`, in id order, at most `limit`.
    fn thread_messages(
        &self,
        thread_id: &str,
        after: Option<LogId>,
        limit: usize,
    ) -> StoreResult<Vec<ThreadRoundRow>>;

    /// The thread's messages by round, then id, filtered by role and first round.
    fn thread_rounds(&self, params: &GetThreadRoundsParams) -> StoreResult<Vec<ThreadRoundRow>>;

    /// The highest round the thread has a message in: where a resumed thread picks up.
    fn last_round(&self, thread_id: &str) -> StoreResult<Option<u32>>;

    /// The value stored under `key`, if any.
    fn meta_get(&self, key: &str) -> StoreResult<Option<String>>;

    /// Stores `value` under `key`, replacing any value. Keys that start with `nerve.` are the
    /// store's own (for example `nerve.archive.logs.watermark`): change them knowingly.
    ///
    /// # Errors
    /// [`crate::StoreError::InvalidInput`] for an empty key.
    fn meta_set(&self, key: &str, value: &str) -> StoreResult<()> {
        self.meta_set_with_blobs(key, value, &[])
    }

    /// Stores `value` under `key`, as [`LogStore::meta_set`], and records that it
    /// references `blobs`, replacing what the key's earlier value referenced, in the same
    /// transaction (a set without blobs drops them; so does a deletion).
    ///
    /// # Errors
    /// [`crate::StoreError::InvalidInput`] for an empty key, or more than
    /// [`crate::MAX_BLOBS_PER_HOLDER`] blobs.
    fn meta_set_with_blobs(&self, key: &str, value: &str, blobs: &[Digest]) -> StoreResult<()> {
        let write = Write::MetaSet {
            key: key.to_owned(),
            value: value.to_owned(),
            blobs: blobs.to_vec(),
        };
        one_write(self, write)?.into_meta_set()
    }

    /// What references the blob `digest`, in holder order (entries by id, then meta keys,
    /// then runs), after `after`, at most `limit`: a page of the holders garbage collection
    /// keeps it for. Found through an index by digest: O(log n + k).
    fn references(
        &self,
        digest: &Digest,
        after: Option<&BlobHolder>,
        limit: usize,
    ) -> StoreResult<Vec<BlobHolder>>;

    /// The blobs `holder` references, in digest order (none for a holder that does not
    /// exist).
    fn blobs_of(&self, holder: &BlobHolder) -> StoreResult<Vec<Digest>>;

    /// Removes `key`; returns whether it was there.
    fn meta_delete(&self, key: &str) -> StoreResult<bool> {
        let write = Write::MetaDelete {
            key: key.to_owned(),
        };
        one_write(self, write)?.into_meta_deleted()
    }
}

/// Commits `write` as a unit of its own and returns what it did.
fn one_write<S: LogStore + ?Sized>(store: &S, write: Write) -> StoreResult<Written> {
    Written::single(store.write_unit(WriteUnit::new().with(write))?)
}

/// What the archive needs beyond a daemon's calls: walking the log by UTC day, deleting the
/// days it has copied out, and giving the space back (`docs/SPEC.md` section 1, maintenance).
pub trait LogMaintenance: LogStore {
    /// Deletes the entries each span covers, with their thread-index rows, and stores the
    /// `meta` pairs, all in one transaction: after a crash either all of it happened or none.
    /// Returns how many entries were deleted. Ids of deleted entries are never given out
    /// again. This is how the archive removes what it has copied out.
    ///
    /// # Errors
    /// [`crate::StoreError::InvalidInput`] for an empty meta key; nothing is deleted.
    fn delete_days(&self, spans: &[DaySpan], meta: &[(&str, &str)]) -> StoreResult<u64>;

    /// The entries of the UTC `day` with an id above `after`, in id order, at most `limit`:
    /// a page of the day, found through an index by (day, id), so paging through a day costs
    /// O(log n) per page plus its entries. [`crate::kit::day_stream`] pages through a whole day.
    fn day_entries(
        &self,
        day: NaiveDate,
        after: Option<LogId>,
        limit: usize,
    ) -> StoreResult<Vec<LogEntry>>;

    /// The thread-index rows of the entries `ids` names that are thread messages, in id
    /// order: what the archive writes beside each message so that a restore indexes it
    /// again. Ids of other entries, or of none, are passed over.
    fn thread_rows(&self, ids: &[LogId]) -> StoreResult<Vec<ThreadIndexRow>>;

    /// The references the entries `ids` names hold, in (holder, digest) order: what the
    /// archive writes beside each entry and records for its day.
    fn entry_references(&self, ids: &[LogId]) -> StoreResult<Vec<BlobReference>>;

    /// Those of `digests` that something in the store references, in digest order, each
    /// once: what garbage collection keeps. One index lookup per digest.
    fn referenced(&self, digests: &[Digest]) -> StoreResult<Vec<Digest>>;

    /// The first UTC day after `after` (the first of all when `None`) that has entries.
    fn next_log_day(&self, after: Option<NaiveDate>) -> StoreResult<Option<NaiveDate>>;

    /// How many entries the log holds and its first and last days, from one snapshot.
    /// The days come from the (day, id) index; the count may read an index through
    /// (SQLite counts its rows), so it costs a few milliseconds per million entries.
    fn log_stats(&self) -> StoreResult<LogStats>;

    /// Gives the space of deleted entries back to the file system (SQLite `VACUUM`, redb
    /// `compact`). Keeps every entry and every id. May take as long as rewriting the file.
    ///
    /// # Errors
    /// Engine errors; [`crate::StoreError::Busy`] when another transaction prevents it.
    fn compact(&self) -> StoreResult<()>;

    /// Verifies everything the engine can verify of the store's file, reading all of it
    /// (SQLite's `integrity_check`; every page checksum and the allocator state of redb),
    /// without changing any entry: what an operator runs when a file is in doubt, since an
    /// open reads only what it needs. Costs a read of the whole file.
    ///
    /// # Errors
    /// [`crate::StoreError::Damaged`] naming what is wrong; [`crate::StoreError::Busy`]
    /// when a transaction of this store (a blob being read) or another process's writer
    /// prevents it; [`crate::StoreError::OpenedReadOnly`] on a store opened read-only (a
    /// check may repair what it finds, as redb's does); engine errors.
    fn check(&self) -> StoreResult<crate::Checked>;
}

/// What copying a store into another needs beyond a daemon's calls (`nerve_store::migrate`):
/// the thread index and the meta table read page by page, and a write that keeps the copied
/// ids.
pub trait LogTransfer: LogStore {
    /// The thread-index rows of entries with an id above `after`, in id order, at most
    /// `limit`: with the entries, what rebuilds the threads in another store.
    fn thread_index(&self, after: Option<LogId>, limit: usize) -> StoreResult<Vec<ThreadIndexRow>>;

    /// The meta pairs with a key above `after` (every key when `None`), in key order (by
    /// the keys' UTF-8 bytes), at most `limit`: a copy pages through them as through the log.
    fn meta_page(&self, after: Option<&str>, limit: usize) -> StoreResult<Vec<(String, String)>>;

    /// The store's references after `after` in (digest, holder) order, at most `limit`: what
    /// a copy carries over, and what tells whether a store records references at all.
    fn blob_references(
        &self,
        after: Option<&BlobReference>,
        limit: usize,
    ) -> StoreResult<Vec<BlobReference>>;

    /// Every meta pair, by key, read a page at a time.
    fn meta_entries(&self) -> StoreResult<Vec<(String, String)>> {
        const PAGE: usize = 1000;
        let mut out: Vec<(String, String)> = Vec::new();
        loop {
            let page = self.meta_page(out.last().map(|(key, _)| key.as_str()), PAGE)?;
            let last = page.len() < PAGE;
            out.extend(page);
            if last {
                return Ok(out);
            }
        }
    }

    /// Writes content copied from another store, in one transaction, keeping the entries'
    /// ids: the store's id counter moves past the last of them, so ids stay never reused.
    ///
    /// # Errors
    /// [`crate::StoreError::InvalidInput`] (see [`ImportBatch::check`]), and for a run the
    /// store already has; nothing of the batch is written then.
    fn import(&self, batch: ImportBatch) -> StoreResult<()>;

    /// Writes entries back under the ids they had, with their thread-index rows, in one
    /// transaction: what `archive restore` brings back from the archive. An entry whose id
    /// the store holds, the same in every field, is passed over (restoring twice, or after
    /// an archive run killed before its deletion, writes nothing twice); the others are
    /// written, counted in [`LogMaintenance::log_stats`], and found by every query. An id
    /// above every id the store has given out moves its counter past it, as an import does,
    /// so ids stay never reused. A restored entry lands below the ids of entries written
    /// since: a reader that follows the log from a cursor past it does not meet it.
    ///
    /// # Errors
    /// [`crate::StoreError::InvalidInput`] for a batch [`RestoreBatch::check`] refuses, and
    /// for an id the store holds with other content ([`crate::kit::restore_conflict`]);
    /// nothing of the batch is written then.
    fn restore(&self, batch: RestoreBatch) -> StoreResult<Restored>;

    /// Runs `work` on a view of the store pinned to one snapshot, taken when the call
    /// begins: every read through the view sees the store as it was then, whatever this
    /// handle or another process writes meanwhile, and every write through it is
    /// [`crate::StoreError::OpenedReadOnly`]. What a copy of a live store reads (`migrate`,
    /// `backup`). The snapshot holds back the engine's reuse of old pages while `work` runs:
    /// keep it short-lived in a daemon.
    ///
    /// # Errors
    /// The engine's errors taking the snapshot, and `work`'s.
    fn with_snapshot(
        &self,
        work: &mut dyn FnMut(&dyn LogBackend) -> StoreResult<()>,
    ) -> StoreResult<()>;
}

/// A log store with every capability: what a backend offers and what `nerve_store::open`
/// returns, as a `Box<dyn LogBackend>`. It is implemented for every type that implements the
/// three traits; a `&dyn LogBackend` converts to `&dyn LogStore`, `&dyn LogMaintenance` or
/// `&dyn LogTransfer` where a function takes one capability.
pub trait LogBackend: LogStore + LogMaintenance + LogTransfer {}

impl<T: LogStore + LogMaintenance + LogTransfer + ?Sized> LogBackend for T {}
