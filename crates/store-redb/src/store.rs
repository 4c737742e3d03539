//! `RedbLogStore`: the `LogStore` contract on redb.

use std::path::Path;

use redb::{ReadTransaction, WriteTransaction};
use store_core::{
    DaySpan, GetThreadRoundsParams, ImportBatch, LogEntry, LogId, LogMaintenance, LogQuery,
    LogStore, LogTransfer, RunQuery, StoreResult, ThreadIndexRow, ThreadRoundRow, WorkflowRun,
    WriteUnit, Written,
    kit::{
        CommitQueue, PreparedUnit, UnitResult, apply_group, check_meta_pairs, fail_all, now_millis,
        prepare_unit,
    },
};

use crate::engine::Engine;
use crate::error::Context;
use crate::options::RedbOptions;
use crate::read;
use crate::write::{self, GroupTx, LogTables, ThreadTables, set_meta};

/// A [`LogStore`] in one redb file.
///
/// Writes take turns in redb's single write transaction; reads run on snapshots and never
/// wait for a writer. With the default options another process may open the same file and
/// read and write it too (`ConcurrencyMode::MultiWriter`; see [`RedbOptions::multi_process`]
/// for what that costs).
///
/// ```
/// use store_core::{LogQuery, LogStore, NewLogEntry};
/// use store_redb::RedbLogStore;
///
/// # fn main() -> Result<(), Box<dyn std::error::Error>> {
/// # let dir = tempfile::tempdir()?;
/// let store = RedbLogStore::open(dir.path().join("nerve.redb"))?;
/// let entry = store.append(NewLogEntry::new("daemon", "started", "{}").with_ref("boot-1"))?;
/// let found = store.query(&LogQuery { ref_id: Some("boot-1".into()), ..LogQuery::default() })?;
/// assert_eq!(found, vec![entry]);
/// # Ok(())
/// # }
/// ```
pub struct RedbLogStore {
    engine: Engine,
    durability: redb::Durability,
    /// Group commit in front of redb's one write transaction.
    queue: CommitQueue<()>,
}

impl std::fmt::Debug for RedbLogStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RedbLogStore")
            .field("path", &self.engine.path())
            .finish_non_exhaustive()
    }
}

impl RedbLogStore {
    /// Opens the store at `path` with [`RedbOptions::default`], creating the file, its
    /// folders and the schema if missing.
    ///
    /// # Errors
    /// [`store_core::StoreError::NotAStore`] for a file that is not a nerve-store redb file,
    /// [`store_core::StoreError::SchemaTooNew`] for a newer schema,
    /// [`store_core::StoreError::Busy`] when another process holds the file exclusively,
    /// and I/O or engine errors (a damaged file among them). A refused file is left as it was.
    pub fn open(path: impl AsRef<Path>) -> StoreResult<Self> {
        Self::open_with(path, RedbOptions::default())
    }

    /// Opens the store at `path` with `options`; see [`RedbLogStore::open`].
    ///
    /// # Errors
    /// As [`RedbLogStore::open`], and [`store_core::StoreError::InvalidInput`] for
    /// [`store_core::Durability::Deferred`] with `multi_process`.
    pub fn open_with(path: impl AsRef<Path>, options: RedbOptions) -> StoreResult<Self> {
        Ok(RedbLogStore {
            engine: Engine::open(path.as_ref(), &options)?,
            durability: crate::options::redb_durability(options.store.durability),
            queue: CommitQueue::new((), options.store.group_commit),
        })
    }

    /// A store on an engine opened elsewhere (the full-disk tests' seam).
    #[cfg(test)]
    pub(crate) fn on_engine(engine: Engine, options: &RedbOptions) -> Self {
        RedbLogStore {
            engine,
            durability: crate::options::redb_durability(options.store.durability),
            queue: CommitQueue::new((), options.store.group_commit),
        }
    }

    /// The file the store lives in.
    pub fn path(&self) -> &Path {
        self.engine.path()
    }

    /// Runs `work` in one write transaction and commits it at the store's durability, or
    /// `Immediate` when `immediate`; on error the transaction is dropped, which aborts it.
    fn write_with<T>(
        &self,
        context: &str,
        immediate: bool,
        work: impl FnOnce(&WriteTransaction) -> StoreResult<T>,
    ) -> StoreResult<T> {
        let durability = if immediate {
            redb::Durability::Immediate
        } else {
            self.durability
        };
        self.engine.write_if(context, durability, |tx| {
            work(tx).map(|value| (value, true))
        })
    }

    fn write<T>(
        &self,
        context: &str,
        work: impl FnOnce(&WriteTransaction) -> StoreResult<T>,
    ) -> StoreResult<T> {
        self.write_with(context, false, work)
    }

    fn read<T>(&self, work: impl Fn(&ReadTransaction) -> StoreResult<T>) -> StoreResult<T> {
        store_core::kit::traced_read(self.engine.path(), || self.engine.read(work))
    }

    /// Commits one group of units in one write transaction: each unit's own result, or, when
    /// the engine fails, that failure for every unit with nothing written.
    fn commit_group(&self, units: Vec<PreparedUnit>) -> Vec<UnitResult> {
        let count = units.len();
        let results = self
            .engine
            .write_if("a group of writes", self.durability, |tx| {
                let mut group = GroupTx::open(tx)?;
                let results = apply_group(&mut group, units)?;
                // A group that every unit refused, or that only redelivered transitions, has
                // nothing to commit: it is dropped instead, without a sync.
                let wrote = group.finish()?;
                Ok((results, wrote))
            });
        results.unwrap_or_else(|err| fail_all(err, count))
    }
}

impl LogStore for RedbLogStore {
    fn write_unit(&self, unit: WriteUnit) -> StoreResult<Vec<Written>> {
        if unit.is_empty() {
            return Ok(Vec::new());
        }
        let unit = prepare_unit(unit, now_millis())?;
        self.queue
            .submit(unit, |(), units| self.commit_group(units))
    }

    fn write_units(&self, units: Vec<WriteUnit>) -> Vec<StoreResult<Vec<Written>>> {
        store_core::kit::submit_units(units, now_millis(), |prepared| {
            self.queue
                .submit_all(prepared, |(), units| self.commit_group(units))
        })
    }

    fn query(&self, query: &LogQuery) -> StoreResult<Vec<LogEntry>> {
        self.read(|tx| read::query(tx, query))
    }

    fn activity(
        &self,
        since: chrono::DateTime<chrono::Utc>,
        until: chrono::DateTime<chrono::Utc>,
    ) -> StoreResult<Vec<store_core::HourCount>> {
        let hours = store_core::kit::hours_between(since, until);
        self.read(|tx| read::activity(tx, hours.clone()))
    }

    fn get_run(&self, run_id: &str) -> StoreResult<Option<WorkflowRun>> {
        self.read(|tx| read::run(tx, run_id))
    }

    fn list_runs(&self, query: &RunQuery) -> StoreResult<Vec<WorkflowRun>> {
        self.read(|tx| read::runs(tx, query))
    }

    fn thread_messages(
        &self,
        thread_id: &str,
        after: Option<LogId>,
        limit: usize,
    ) -> StoreResult<Vec<ThreadRoundRow>> {
        self.read(|tx| read::thread_messages(tx, thread_id, after, limit))
    }

    fn thread_rounds(&self, params: &GetThreadRoundsParams) -> StoreResult<Vec<ThreadRoundRow>> {
        self.read(|tx| read::thread_rounds(tx, params))
    }

    fn last_round(&self, thread_id: &str) -> StoreResult<Option<u32>> {
        self.read(|tx| read::last_round(tx, thread_id))
    }

    fn meta_get(&self, key: &str) -> StoreResult<Option<String>> {
        self.read(|tx| read::meta_value(tx, key))
    }

    fn references(
        &self,
        digest: &store_core::Digest,
        after: Option<&store_core::BlobHolder>,
        limit: usize,
    ) -> StoreResult<Vec<store_core::BlobHolder>> {
        self.read(|tx| crate::references::references(tx, digest, after, limit))
    }

    fn blobs_of(&self, holder: &store_core::BlobHolder) -> StoreResult<Vec<store_core::Digest>> {
        self.read(|tx| crate::references::blobs_of(tx, holder))
    }
}

impl LogMaintenance for RedbLogStore {
    fn day_entries(
        &self,
        day: chrono::NaiveDate,
        after: Option<LogId>,
        limit: usize,
    ) -> StoreResult<Vec<LogEntry>> {
        self.read(|tx| read::day_entries(tx, day, after, limit))
    }

    fn log_stats(&self) -> StoreResult<store_core::LogStats> {
        self.read(read::log_stats)
    }

    fn thread_rows(&self, ids: &[LogId]) -> StoreResult<Vec<ThreadIndexRow>> {
        self.read(|tx| read::thread_rows(tx, ids))
    }

    fn entry_references(&self, ids: &[LogId]) -> StoreResult<Vec<store_core::BlobReference>> {
        self.read(|tx| crate::references::entry_references(tx, ids))
    }

    fn referenced(&self, digests: &[store_core::Digest]) -> StoreResult<Vec<store_core::Digest>> {
        self.read(|tx| crate::references::referenced(tx, digests))
    }

    fn next_log_day(
        &self,
        after: Option<chrono::NaiveDate>,
    ) -> StoreResult<Option<chrono::NaiveDate>> {
        self.read(|tx| read::next_log_day(tx, after))
    }

    fn compact(&self) -> StoreResult<()> {
        self.compact_database()
    }

    fn check(&self) -> StoreResult<store_core::Checked> {
        let path = self.engine.path().display().to_string();
        self.engine
            .exclusive("check", |db| match db.check_integrity() {
                Ok(true) => Ok(store_core::Checked::Sound),
                Ok(false) => Ok(store_core::Checked::Repaired {
                    what: "redb's allocator state (its record of free pages); every table verified"
                        .into(),
                }),
                Err(err @ redb::DatabaseError::TransactionInProgress) => {
                    Err(store_core::StoreError::Busy {
                        context: format!(
                            "checking {path} while a blob of this store is being read"
                        ),
                        source: std::sync::Arc::new(err),
                    })
                }
                Err(err) => Err(crate::error::engine_error(format!("checking {path}"), err)),
            })
    }

    fn delete_days(&self, spans: &[DaySpan], meta: &[(&str, &str)]) -> StoreResult<u64> {
        check_meta_pairs(meta)?;
        // Deletions are what the archive relies on: always on the disk when they return.
        self.write_with("deleting days", true, |tx| {
            let deleted = write::delete_spans(tx, spans)?;
            set_meta(tx, meta)?;
            Ok(deleted)
        })
    }
}

impl LogTransfer for RedbLogStore {
    fn thread_index(&self, after: Option<LogId>, limit: usize) -> StoreResult<Vec<ThreadIndexRow>> {
        self.read(|tx| read::thread_index(tx, after, limit))
    }

    fn meta_page(&self, after: Option<&str>, limit: usize) -> StoreResult<Vec<(String, String)>> {
        self.read(|tx| read::meta_page(tx, after, limit))
    }

    fn blob_references(
        &self,
        after: Option<&store_core::BlobReference>,
        limit: usize,
    ) -> StoreResult<Vec<store_core::BlobReference>> {
        self.read(|tx| crate::references::blob_references(tx, after, limit))
    }

    fn with_snapshot(
        &self,
        work: &mut dyn FnMut(&dyn store_core::LogBackend) -> StoreResult<()>,
    ) -> StoreResult<()> {
        let view = RedbLogStore {
            engine: self.engine.snapshot()?,
            durability: self.durability,
            queue: CommitQueue::new((), false),
        };
        work(&view)
    }

    fn restore(&self, batch: store_core::RestoreBatch) -> StoreResult<store_core::Restored> {
        self.restore_batch(&batch)
    }

    fn import(&self, batch: ImportBatch) -> StoreResult<()> {
        self.write("an import", |tx| {
            let mut logs = LogTables::open(tx)?;
            batch.check(logs.highest_given())?;
            for entry in &batch.entries {
                logs.insert(entry)?;
            }
            logs.finish()?;
            let mut threads = ThreadTables::open(tx)?;
            for row in &batch.thread_rows {
                threads.index_row(row.log_id.0, &row.thread_id, row.round, &row.role)?;
            }
            drop(threads);
            for run in &batch.runs {
                if write::read_run(tx, &run.run_id)?.is_some() {
                    return Err(store_core::kit::existing_run(&run.run_id));
                }
                write::write_run(tx, run, None)?;
            }
            let pairs: Vec<(&str, &str)> = batch
                .meta
                .iter()
                .map(|(k, v)| (k.as_str(), v.as_str()))
                .collect();
            set_meta(tx, &pairs)?;
            for reference in &batch.references {
                crate::references::insert_ref(tx, &reference.digest, &reference.holder.key())?;
            }
            Ok(())
        })
    }
}

impl RedbLogStore {
    /// [`LogTransfer::restore`]: the entries the store does not hold are written, in one
    /// durable transaction.
    fn restore_batch(&self, batch: &store_core::RestoreBatch) -> StoreResult<store_core::Restored> {
        batch.check()?;
        self.write("a restore", |tx| {
            let mut restored = store_core::Restored::default();
            let mut logs = LogTables::open(tx)?;
            let mut absent = Vec::new();
            for entry in &batch.entries {
                match logs.held(entry.id.0)? {
                    Some(held) if held == *entry => restored.present += 1,
                    Some(_) => return Err(store_core::kit::restore_conflict(entry.id)),
                    None => {
                        logs.insert(entry)?;
                        absent.push(entry.id);
                        restored.written += 1;
                    }
                }
            }
            logs.finish()?;
            let mut threads = ThreadTables::open(tx)?;
            for id in &absent {
                if let Some(row) = batch.thread_row(*id) {
                    threads.index_row(row.log_id.0, &row.thread_id, row.round, &row.role)?;
                }
            }
            drop(threads);
            for id in absent {
                let blobs = batch.blobs_of(id);
                if !blobs.is_empty() {
                    crate::references::set_refs(tx, &store_core::BlobHolder::Entry(id), &blobs)?;
                }
            }
            Ok(restored)
        })
    }

    fn compact_database(&self) -> StoreResult<()> {
        let path = self.engine.path().display().to_string();
        self.engine.exclusive("compact", |db| {
            db.compact()
                .map(|_| ())
                .with_context(|| format!("compacting {path}"))
        })
    }
}

#[cfg(test)]
mod tests {
    use redb::{ReadableDatabase, ReadableTableMetadata};
    use store_core::{DaySpan, LogMaintenance, LogStore, NewLogEntry};

    use super::RedbLogStore;
    use crate::schema::{BIG_PAYLOAD, LOG_PAYLOAD_CHUNKS};

    fn chunks_stored(path: &std::path::Path) -> u64 {
        let db = redb::Database::open(path).expect("open the file");
        let tx = db.begin_read().expect("read");
        tx.open_table(LOG_PAYLOAD_CHUNKS)
            .expect("the chunk table")
            .len()
            .expect("its length")
    }

    /// A big payload's chunks live and die with its entry: deleting the entry's day leaves
    /// none behind, and small payloads never have any.
    #[test]
    fn deleting_an_entry_deletes_the_chunks_of_its_payload() {
        let dir = tempfile::tempdir().expect("temp dir");
        let path = dir.path().join("nerve.redb");
        let store = RedbLogStore::open(&path).expect("open");
        let big = store
            .append(NewLogEntry::new("s", "k", "b".repeat(BIG_PAYLOAD * 3 + 1)))
            .expect("a big payload");
        store
            .append(NewLogEntry::new("s", "k", "small"))
            .expect("a small one");
        drop(store);
        assert_eq!(
            chunks_stored(&path),
            13,
            "3 MiB and a byte in 256 KiB chunks"
        );
        let store = RedbLogStore::open(&path).expect("reopen");
        let deleted = store
            .delete_days(&[DaySpan::new(big.ts.date_naive(), big.id)], &[])
            .expect("delete the big entry");
        assert_eq!(deleted, 1);
        drop(store);
        assert_eq!(chunks_stored(&path), 0);
    }
}
