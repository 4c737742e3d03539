//! [`Faulty`]: a store that fails the calls a test chooses, so that a caller's handling of a
//! failed store call (before or after it committed) can be checked at every step.

use chrono::NaiveDate;

use store_core::{
    BlobHolder, BlobReference, DaySpan, Digest, GetThreadRoundsParams, ImportBatch, LogBackend,
    LogEntry, LogId, LogMaintenance, LogQuery, LogStats, LogStore, LogTransfer, NewLogEntry,
    RestoreBatch, Restored, RunQuery, RunTransition, StoreError, StoreResult, ThreadIndexRow,
    ThreadMessage, ThreadRoundRow, TransitionOutcome, WorkflowRun, WriteUnit, Written,
};

/// What [`Faulty`] does with one call.
#[derive(Debug)]
pub enum Fault {
    /// Forward it.
    Pass,
    /// Fail it with this error before the store sees it.
    Before(StoreError),
    /// Forward it, then fail with this error even though it succeeded: as when a commit
    /// reached the disk but its answer was lost.
    AfterCommit(StoreError),
}

/// A store that forwards every call of the three traits to `inner`, after asking `decide`
/// whether to fail it (it is asked with the method's name: `"delete_days"`, ...). One
/// forwarding impl for every crash test of a caller.
pub struct Faulty<'a> {
    inner: &'a dyn LogBackend,
    decide: Box<dyn Fn(&'static str) -> Fault + Send + Sync + 'a>,
}

impl<'a> Faulty<'a> {
    /// `inner`, failing the calls `decide` chooses.
    pub fn new(
        inner: &'a dyn LogBackend,
        decide: impl Fn(&'static str) -> Fault + Send + Sync + 'a,
    ) -> Self {
        Faulty {
            inner,
            decide: Box::new(decide),
        }
    }

    fn call<T>(
        &self,
        method: &'static str,
        forward: impl FnOnce() -> StoreResult<T>,
    ) -> StoreResult<T> {
        match (self.decide)(method) {
            Fault::Pass => forward(),
            Fault::Before(err) => Err(err),
            Fault::AfterCommit(err) => forward().and(Err(err)),
        }
    }
}

impl LogStore for Faulty<'_> {
    fn append_batch(&self, entries: Vec<NewLogEntry>) -> StoreResult<Vec<LogEntry>> {
        self.call("append_batch", || self.inner.append_batch(entries))
    }
    fn write_unit(&self, unit: WriteUnit) -> StoreResult<Vec<Written>> {
        self.call("write_unit", || self.inner.write_unit(unit))
    }
    fn append(&self, entry: NewLogEntry) -> StoreResult<LogEntry> {
        self.call("append", || self.inner.append(entry))
    }
    fn query(&self, query: &LogQuery) -> StoreResult<Vec<LogEntry>> {
        self.call("query", || self.inner.query(query))
    }
    fn transition_run(&self, transition: RunTransition) -> StoreResult<TransitionOutcome> {
        self.call("transition_run", || self.inner.transition_run(transition))
    }
    fn activity(
        &self,
        since: chrono::DateTime<chrono::Utc>,
        until: chrono::DateTime<chrono::Utc>,
    ) -> StoreResult<Vec<store_core::HourCount>> {
        self.call("activity", || self.inner.activity(since, until))
    }
    fn get_run(&self, run_id: &str) -> StoreResult<Option<WorkflowRun>> {
        self.call("get_run", || self.inner.get_run(run_id))
    }
    fn list_runs(&self, query: &RunQuery) -> StoreResult<Vec<WorkflowRun>> {
        self.call("list_runs", || self.inner.list_runs(query))
    }
    fn append_thread_message(&self, message: ThreadMessage) -> StoreResult<LogEntry> {
        self.call("append_thread_message", || {
            self.inner.append_thread_message(message)
        })
    }
    fn thread_messages(
        &self,
        thread_id: &str,
        after: Option<LogId>,
        limit: usize,
    ) -> StoreResult<Vec<ThreadRoundRow>> {
        self.call("thread_messages", || {
            self.inner.thread_messages(thread_id, after, limit)
        })
    }
    fn thread_rounds(&self, params: &GetThreadRoundsParams) -> StoreResult<Vec<ThreadRoundRow>> {
        self.call("thread_rounds", || self.inner.thread_rounds(params))
    }
    fn last_round(&self, thread_id: &str) -> StoreResult<Option<u32>> {
        self.call("last_round", || self.inner.last_round(thread_id))
    }
    fn meta_get(&self, key: &str) -> StoreResult<Option<String>> {
        self.call("meta_get", || self.inner.meta_get(key))
    }
    fn meta_set(&self, key: &str, value: &str) -> StoreResult<()> {
        self.call("meta_set", || self.inner.meta_set(key, value))
    }
    fn meta_delete(&self, key: &str) -> StoreResult<bool> {
        self.call("meta_delete", || self.inner.meta_delete(key))
    }
    fn references(
        &self,
        digest: &Digest,
        after: Option<&BlobHolder>,
        limit: usize,
    ) -> StoreResult<Vec<BlobHolder>> {
        self.call("references", || self.inner.references(digest, after, limit))
    }
    fn blobs_of(&self, holder: &BlobHolder) -> StoreResult<Vec<Digest>> {
        self.call("blobs_of", || self.inner.blobs_of(holder))
    }
}

impl LogMaintenance for Faulty<'_> {
    fn delete_days(&self, spans: &[DaySpan], meta: &[(&str, &str)]) -> StoreResult<u64> {
        self.call("delete_days", || self.inner.delete_days(spans, meta))
    }
    fn day_entries(
        &self,
        day: NaiveDate,
        after: Option<LogId>,
        limit: usize,
    ) -> StoreResult<Vec<LogEntry>> {
        self.call("day_entries", || self.inner.day_entries(day, after, limit))
    }
    fn thread_rows(&self, ids: &[LogId]) -> StoreResult<Vec<ThreadIndexRow>> {
        self.call("thread_rows", || self.inner.thread_rows(ids))
    }
    fn entry_references(&self, ids: &[LogId]) -> StoreResult<Vec<BlobReference>> {
        self.call("entry_references", || self.inner.entry_references(ids))
    }
    fn referenced(&self, digests: &[Digest]) -> StoreResult<Vec<Digest>> {
        self.call("referenced", || self.inner.referenced(digests))
    }
    fn next_log_day(&self, after: Option<NaiveDate>) -> StoreResult<Option<NaiveDate>> {
        self.call("next_log_day", || self.inner.next_log_day(after))
    }
    fn log_stats(&self) -> StoreResult<LogStats> {
        self.call("log_stats", || self.inner.log_stats())
    }
    fn compact(&self) -> StoreResult<()> {
        self.call("compact", || self.inner.compact())
    }
    fn check(&self) -> StoreResult<store_core::Checked> {
        self.call("check", || self.inner.check())
    }
}

impl LogTransfer for Faulty<'_> {
    fn thread_index(&self, after: Option<LogId>, limit: usize) -> StoreResult<Vec<ThreadIndexRow>> {
        self.call("thread_index", || self.inner.thread_index(after, limit))
    }
    fn meta_page(&self, after: Option<&str>, limit: usize) -> StoreResult<Vec<(String, String)>> {
        self.call("meta_page", || self.inner.meta_page(after, limit))
    }
    fn blob_references(
        &self,
        after: Option<&BlobReference>,
        limit: usize,
    ) -> StoreResult<Vec<BlobReference>> {
        self.call("blob_references", || {
            self.inner.blob_references(after, limit)
        })
    }
    fn import(&self, batch: ImportBatch) -> StoreResult<()> {
        self.call("import", || self.inner.import(batch))
    }
    fn restore(&self, batch: RestoreBatch) -> StoreResult<Restored> {
        self.call("restore", || self.inner.restore(batch))
    }
    /// The view is faulty too: its calls are decided by the same `decide`.
    fn with_snapshot(
        &self,
        work: &mut dyn FnMut(&dyn LogBackend) -> StoreResult<()>,
    ) -> StoreResult<()> {
        self.call("with_snapshot", || {
            self.inner.with_snapshot(&mut |view| {
                let faulty = Faulty {
                    inner: view,
                    decide: Box::new(|method| (self.decide)(method)),
                };
                work(&faulty)
            })
        })
    }
}
