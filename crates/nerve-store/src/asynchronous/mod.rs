//! The store from async code (feature `tokio`): every call runs on tokio's blocking pool,
//! so that a commit's sync never holds up the runtime's worker threads, and the timers and
//! sockets of the tasks beside it.

mod blobs;
mod streams;

use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, NaiveDate, Utc};
use tokio::sync::{mpsc, oneshot};

use store_core::pages::{FollowCursor, PagedRead};
use store_core::{
    BlobHolder, BlobReference, Checked, DaySpan, Digest, GetThreadRoundsParams, ImportBatch,
    LogBackend, LogEntry, LogId, LogQuery, LogStats, NewLogEntry, RestoreBatch, Restored, RunQuery,
    RunTransition, StoreError, StoreResult, ThreadIndexRow, ThreadMessage, ThreadRoundRow,
    TransitionOutcome, WorkflowRun, Write, WriteUnit, Written,
};

pub use blobs::{AsyncBlobs, BlobStream};
pub use streams::RowStream;

use crate::Store;

/// *Available on crate feature `tokio` only.*
///
/// A [`Store`] for tokio tasks: the daemon's calls as `async fn`s, each run on the blocking
/// pool (`tokio::task::spawn_blocking`) over the one store every backend implements. Cheap
/// to clone: clones share the store, and so its group commit, which is what makes many
/// tasks' durable writes cost one sync between them.
///
/// It must be used inside a tokio runtime (it spawns there). Anything the methods here do
/// not cover is [`AsyncStore::call`] away.
///
/// ```
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
/// # let dir = tempfile::tempdir()?;
/// # let location = if cfg!(feature = "sqlite") { format!("sqlite:{}", dir.path().join("nerve.db").display()) } else if cfg!(feature = "redb") { format!("redb:{}", dir.path().join("nerve.redb").display()) } else { store_postgres::harness::options(dir.path()).location() };
/// use nerve_store::{AsyncStore, NewLogEntry};
///
/// let store = AsyncStore::new(nerve_store::open(&location)?);
/// let entry = store.append(NewLogEntry::new("daemon", "boot", "{}")).await?;
/// assert_eq!(store.log_stats().await?.entries, 1);
/// # let _ = entry;
/// # Ok(())
/// # }
/// ```
#[derive(Clone, Debug)]
pub struct AsyncStore {
    store: Arc<Store>,
    /// The store's writer thread; shared by the clones, joined when the last one drops.
    writer: Arc<Writer>,
}

/// The writer thread and its queue. Dropped with the last clone of its [`AsyncStore`]: the
/// queue closes, the thread ends after the units it holds, and the store is closed when
/// the drop returns, as a dropped [`Store`] is.
#[derive(Debug)]
struct Writer {
    /// `None` when the thread could not be started: writes then take the blocking pool.
    queue: Option<mpsc::UnboundedSender<Waiting>>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl Drop for Writer {
    fn drop(&mut self) {
        drop(self.queue.take());
        if let Some(thread) = self.thread.take() {
            // The thread ends once its queue is closed and empty; a panic in it was the
            // store's, and was answered to its callers already.
            let _ = thread.join();
        }
    }
}

/// A unit waiting for the writer thread, and where its answer goes.
type Waiting = (WriteUnit, oneshot::Sender<StoreResult<Vec<Written>>>);

impl AsyncStore {
    /// An async handle on `store`, with a writer thread of its own for the writes: a task's
    /// write waits in a queue, not on a thread, and the writer commits whatever queued
    /// meanwhile as groups of up to [`store_core::kit::MAX_GROUP`] units
    /// ([`crate::LogStore::write_units`]). The thread ends when the last clone is dropped.
    pub fn new(store: Store) -> Self {
        let store = Arc::new(store);
        let (sender, receiver) = mpsc::unbounded_channel();
        let writing = Arc::clone(&store);
        let thread = std::thread::Builder::new()
            .name("nerve-store-writer".into())
            .spawn(move || write_queued(&writing, receiver))
            .ok();
        AsyncStore {
            store,
            writer: Arc::new(Writer {
                queue: thread.is_some().then_some(sender),
                thread,
            }),
        }
    }

    /// Queues `unit` for the writer thread; the receiver of its answer. Without a writer
    /// thread, the unit commits on the blocking pool.
    fn queue(&self, unit: WriteUnit) -> oneshot::Receiver<StoreResult<Vec<Written>>> {
        let (answer, answered) = oneshot::channel();
        match &self.writer.queue {
            Some(writes) => {
                if let Err(mpsc::error::SendError((_, answer))) = writes.send((unit, answer)) {
                    let _ = answer.send(Err(writer_gone()));
                }
            }
            None => {
                let store = Arc::clone(&self.store);
                drop(tokio::task::spawn_blocking(move || {
                    let _ = answer.send(store.log.write_unit(unit));
                }));
            }
        }
        answered
    }

    /// Commits `unit` through the writer thread and waits for its answer.
    async fn submit(&self, unit: WriteUnit) -> StoreResult<Vec<Written>> {
        self.queue(unit).await.map_err(|_| writer_gone())?
    }

    /// Commits one write through the writer thread; what it wrote.
    async fn one(&self, write: Write) -> StoreResult<Written> {
        Written::single(self.submit(WriteUnit::new().with(write)).await?)
    }

    /// The store itself, for a blocking caller (a thread of its own, a `spawn_blocking`).
    pub fn blocking(&self) -> &Store {
        &self.store
    }

    /// The store's blobs: every call of [`crate::BlobStore`], async.
    pub fn blobs(&self) -> AsyncBlobs {
        AsyncBlobs::new(Arc::clone(&self.store))
    }

    /// Runs `work` with the store on the blocking pool and returns what it returned: any
    /// call of [`crate::LogBackend`] or [`crate::BlobStore`], or several in a row.
    ///
    /// # Errors
    /// `work`'s; [`StoreError::Interrupted`] when the runtime shut down before it ran. A
    /// panic in `work` is resumed in the caller.
    pub async fn call<T, F>(&self, work: F) -> StoreResult<T>
    where
        T: Send + 'static,
        F: FnOnce(&Store) -> StoreResult<T> + Send + 'static,
    {
        on_blocking_pool(&self.store, work).await
    }

    /// Runs `work` with the log on the blocking pool.
    async fn log<T, F>(&self, work: F) -> StoreResult<T>
    where
        T: Send + 'static,
        F: FnOnce(&dyn LogBackend) -> StoreResult<T> + Send + 'static,
    {
        self.call(move |store| work(store.log.as_ref())).await
    }

    // The calls of `LogStore`, in its order.

    /// As [`crate::LogStore::append`], through the writer thread.
    ///
    /// # Errors
    /// As [`crate::LogStore::append`].
    pub async fn append(&self, entry: NewLogEntry) -> StoreResult<LogEntry> {
        self.one(Write::Append(entry)).await?.into_appended()
    }

    /// As [`crate::LogStore::append_batch`], through the writer thread.
    ///
    /// # Errors
    /// As [`crate::LogStore::append_batch`].
    pub async fn append_batch(&self, entries: Vec<NewLogEntry>) -> StoreResult<Vec<LogEntry>> {
        if entries.is_empty() {
            return Ok(Vec::new());
        }
        let count = entries.len();
        Written::into_batch(self.submit(WriteUnit::batch(entries)?).await?, count)
    }

    /// As [`crate::LogStore::write_unit`], through the writer thread.
    ///
    /// # Errors
    /// As [`crate::LogStore::write_unit`].
    pub async fn write_unit(&self, unit: WriteUnit) -> StoreResult<Vec<Written>> {
        self.submit(unit).await
    }

    /// As [`crate::LogStore::write_units`]: every unit queued for the writer thread at once,
    /// each answered on its own, in order.
    pub async fn write_units(&self, units: Vec<WriteUnit>) -> Vec<StoreResult<Vec<Written>>> {
        let answers: Vec<_> = units.into_iter().map(|unit| self.queue(unit)).collect();
        let mut results = Vec::with_capacity(answers.len());
        for answer in answers {
            results.push(
                answer
                    .await
                    .map_err(|_| writer_gone())
                    .and_then(|result| result),
            );
        }
        results
    }

    /// As [`crate::LogStore::query`]: one page. [`AsyncStore::fetch`] streams every match.
    ///
    /// # Errors
    /// As [`crate::LogStore::query`].
    pub async fn query(&self, query: &LogQuery) -> StoreResult<Vec<LogEntry>> {
        let query = query.clone();
        self.log(move |log| log.query(&query)).await
    }

    /// As [`crate::LogStore::transition_run`], through the writer thread.
    ///
    /// # Errors
    /// As [`crate::LogStore::transition_run`].
    pub async fn transition_run(
        &self,
        transition: RunTransition,
    ) -> StoreResult<TransitionOutcome> {
        self.one(Write::Transition(transition))
            .await?
            .into_transitioned()
    }

    /// As [`crate::LogStore::activity`].
    ///
    /// # Errors
    /// As [`crate::LogStore::activity`].
    pub async fn activity(
        &self,
        since: DateTime<Utc>,
        until: DateTime<Utc>,
    ) -> StoreResult<Vec<crate::HourCount>> {
        self.log(move |log| log.activity(since, until)).await
    }

    /// As [`crate::LogStore::get_run`].
    ///
    /// # Errors
    /// As [`crate::LogStore::get_run`].
    pub async fn get_run(&self, run_id: &str) -> StoreResult<Option<WorkflowRun>> {
        let run_id = run_id.to_owned();
        self.log(move |log| log.get_run(&run_id)).await
    }

    /// As [`crate::LogStore::list_active_runs`]: what crash recovery reads at start-up.
    ///
    /// # Errors
    /// As [`crate::LogStore::list_active_runs`].
    pub async fn list_active_runs(&self) -> StoreResult<Vec<WorkflowRun>> {
        self.log(|log| log.list_active_runs()).await
    }

    /// As [`crate::LogStore::list_runs`]: one page. [`AsyncStore::fetch`] streams every
    /// match.
    ///
    /// # Errors
    /// As [`crate::LogStore::list_runs`].
    pub async fn list_runs(&self, query: &RunQuery) -> StoreResult<Vec<WorkflowRun>> {
        let query = query.clone();
        self.log(move |log| log.list_runs(&query)).await
    }

    /// As [`crate::LogStore::append_thread_message`], through the writer thread.
    ///
    /// # Errors
    /// As [`crate::LogStore::append_thread_message`].
    pub async fn append_thread_message(&self, message: ThreadMessage) -> StoreResult<LogEntry> {
        self.one(Write::ThreadMessage(message))
            .await?
            .into_thread_message()
    }

    /// As [`crate::LogStore::thread_messages`]: one page.
    ///
    /// # Errors
    /// As [`crate::LogStore::thread_messages`].
    pub async fn thread_messages(
        &self,
        thread_id: &str,
        after: Option<LogId>,
        limit: usize,
    ) -> StoreResult<Vec<ThreadRoundRow>> {
        let thread_id = thread_id.to_owned();
        self.log(move |log| log.thread_messages(&thread_id, after, limit))
            .await
    }

    /// As [`crate::LogStore::thread_rounds`].
    ///
    /// # Errors
    /// As [`crate::LogStore::thread_rounds`].
    pub async fn thread_rounds(
        &self,
        params: &GetThreadRoundsParams,
    ) -> StoreResult<Vec<ThreadRoundRow>> {
        let params = params.clone();
        self.log(move |log| log.thread_rounds(&params)).await
    }

    /// As [`crate::LogStore::last_round`].
    ///
    /// # Errors
    /// As [`crate::LogStore::last_round`].
    pub async fn last_round(&self, thread_id: &str) -> StoreResult<Option<u32>> {
        let thread_id = thread_id.to_owned();
        self.log(move |log| log.last_round(&thread_id)).await
    }

    /// As [`crate::LogStore::meta_get`].
    ///
    /// # Errors
    /// As [`crate::LogStore::meta_get`].
    pub async fn meta_get(&self, key: &str) -> StoreResult<Option<String>> {
        let key = key.to_owned();
        self.log(move |log| log.meta_get(&key)).await
    }

    /// As [`crate::LogStore::meta_set`], through the writer thread.
    ///
    /// # Errors
    /// As [`crate::LogStore::meta_set`].
    pub async fn meta_set(&self, key: &str, value: &str) -> StoreResult<()> {
        self.meta_set_with_blobs(key, value, &[]).await
    }

    /// As [`crate::LogStore::meta_set_with_blobs`], through the writer thread.
    ///
    /// # Errors
    /// As [`crate::LogStore::meta_set_with_blobs`].
    pub async fn meta_set_with_blobs(
        &self,
        key: &str,
        value: &str,
        blobs: &[Digest],
    ) -> StoreResult<()> {
        let write = Write::MetaSet {
            key: key.to_owned(),
            value: value.to_owned(),
            blobs: blobs.to_vec(),
        };
        self.one(write).await?.into_meta_set()
    }

    /// As [`crate::LogStore::references`].
    ///
    /// # Errors
    /// As [`crate::LogStore::references`].
    pub async fn references(
        &self,
        digest: &Digest,
        after: Option<&BlobHolder>,
        limit: usize,
    ) -> StoreResult<Vec<BlobHolder>> {
        let (digest, after) = (*digest, after.cloned());
        self.log(move |log| log.references(&digest, after.as_ref(), limit))
            .await
    }

    /// As [`crate::LogStore::blobs_of`].
    ///
    /// # Errors
    /// As [`crate::LogStore::blobs_of`].
    pub async fn blobs_of(&self, holder: &BlobHolder) -> StoreResult<Vec<Digest>> {
        let holder = holder.clone();
        self.log(move |log| log.blobs_of(&holder)).await
    }

    /// As [`crate::LogStore::meta_delete`], through the writer thread.
    ///
    /// # Errors
    /// As [`crate::LogStore::meta_delete`].
    pub async fn meta_delete(&self, key: &str) -> StoreResult<bool> {
        let write = Write::MetaDelete {
            key: key.to_owned(),
        };
        self.one(write).await?.into_meta_deleted()
    }

    // The calls of `LogMaintenance`.

    /// As [`crate::LogMaintenance::delete_days`].
    ///
    /// # Errors
    /// As [`crate::LogMaintenance::delete_days`].
    pub async fn delete_days(&self, spans: &[DaySpan], meta: &[(&str, &str)]) -> StoreResult<u64> {
        let spans = spans.to_vec();
        let meta: Vec<(String, String)> = meta
            .iter()
            .map(|(key, value)| ((*key).to_owned(), (*value).to_owned()))
            .collect();
        self.log(move |log| {
            let meta: Vec<(&str, &str)> = meta
                .iter()
                .map(|(key, value)| (key.as_str(), value.as_str()))
                .collect();
            log.delete_days(&spans, &meta)
        })
        .await
    }

    /// As [`crate::LogMaintenance::day_entries`]: one page of the day.
    ///
    /// # Errors
    /// As [`crate::LogMaintenance::day_entries`].
    pub async fn day_entries(
        &self,
        day: NaiveDate,
        after: Option<LogId>,
        limit: usize,
    ) -> StoreResult<Vec<LogEntry>> {
        self.log(move |log| log.day_entries(day, after, limit))
            .await
    }

    /// As [`crate::LogMaintenance::entry_references`].
    ///
    /// # Errors
    /// As [`crate::LogMaintenance::entry_references`].
    pub async fn entry_references(&self, ids: &[LogId]) -> StoreResult<Vec<BlobReference>> {
        let ids = ids.to_vec();
        self.log(move |log| log.entry_references(&ids)).await
    }

    /// As [`crate::LogMaintenance::referenced`].
    ///
    /// # Errors
    /// As [`crate::LogMaintenance::referenced`].
    pub async fn referenced(&self, digests: &[Digest]) -> StoreResult<Vec<Digest>> {
        let digests = digests.to_vec();
        self.log(move |log| log.referenced(&digests)).await
    }

    /// As [`crate::LogMaintenance::thread_rows`].
    ///
    /// # Errors
    /// As [`crate::LogMaintenance::thread_rows`].
    pub async fn thread_rows(&self, ids: &[LogId]) -> StoreResult<Vec<ThreadIndexRow>> {
        let ids = ids.to_vec();
        self.log(move |log| log.thread_rows(&ids)).await
    }

    /// As [`crate::LogMaintenance::next_log_day`].
    ///
    /// # Errors
    /// As [`crate::LogMaintenance::next_log_day`].
    pub async fn next_log_day(&self, after: Option<NaiveDate>) -> StoreResult<Option<NaiveDate>> {
        self.log(move |log| log.next_log_day(after)).await
    }

    /// As [`crate::LogMaintenance::log_stats`].
    ///
    /// # Errors
    /// As [`crate::LogMaintenance::log_stats`].
    pub async fn log_stats(&self) -> StoreResult<LogStats> {
        self.log(|log| log.log_stats()).await
    }

    /// As [`crate::LogMaintenance::compact`].
    ///
    /// # Errors
    /// As [`crate::LogMaintenance::compact`].
    pub async fn compact(&self) -> StoreResult<()> {
        self.log(|log| log.compact()).await
    }

    /// As [`crate::LogMaintenance::check`]: the log's file, by its engine.
    /// [`crate::check`] checks the whole store.
    ///
    /// # Errors
    /// As [`crate::LogMaintenance::check`].
    pub async fn check(&self) -> StoreResult<Checked> {
        self.log(|log| log.check()).await
    }

    // The calls of `LogTransfer`.

    /// As [`crate::LogTransfer::thread_index`].
    ///
    /// # Errors
    /// As [`crate::LogTransfer::thread_index`].
    pub async fn thread_index(
        &self,
        after: Option<LogId>,
        limit: usize,
    ) -> StoreResult<Vec<ThreadIndexRow>> {
        self.log(move |log| log.thread_index(after, limit)).await
    }

    /// As [`crate::LogTransfer::meta_page`].
    ///
    /// # Errors
    /// As [`crate::LogTransfer::meta_page`].
    pub async fn meta_page(
        &self,
        after: Option<&str>,
        limit: usize,
    ) -> StoreResult<Vec<(String, String)>> {
        let after = after.map(str::to_owned);
        self.log(move |log| log.meta_page(after.as_deref(), limit))
            .await
    }

    /// As [`crate::LogTransfer::meta_entries`].
    ///
    /// # Errors
    /// As [`crate::LogTransfer::meta_entries`].
    pub async fn meta_entries(&self) -> StoreResult<Vec<(String, String)>> {
        self.log(|log| log.meta_entries()).await
    }

    /// As [`crate::LogTransfer::import`].
    ///
    /// # Errors
    /// As [`crate::LogTransfer::import`].
    pub async fn import(&self, batch: ImportBatch) -> StoreResult<()> {
        self.log(move |log| log.import(batch)).await
    }

    /// As [`crate::LogTransfer::blob_references`].
    ///
    /// # Errors
    /// As [`crate::LogTransfer::blob_references`].
    pub async fn blob_references(
        &self,
        after: Option<&BlobReference>,
        limit: usize,
    ) -> StoreResult<Vec<BlobReference>> {
        let after = after.cloned();
        self.log(move |log| log.blob_references(after.as_ref(), limit))
            .await
    }

    /// As [`crate::LogTransfer::restore`].
    ///
    /// # Errors
    /// As [`crate::LogTransfer::restore`].
    pub async fn restore(&self, batch: RestoreBatch) -> StoreResult<Restored> {
        self.log(move |log| log.restore(batch)).await
    }

    /// As [`crate::LogTransfer::with_snapshot`], with `work` run on the blocking pool: it
    /// must own what it uses (`move`), and hands back what it gathered through its captures
    /// or a channel.
    ///
    /// # Errors
    /// As [`crate::LogTransfer::with_snapshot`].
    pub async fn with_snapshot<F>(&self, work: F) -> StoreResult<()>
    where
        F: FnMut(&dyn LogBackend) -> StoreResult<()> + Send + 'static,
    {
        let mut work = work;
        self.log(move |log| log.with_snapshot(&mut work)).await
    }

    // Every match, and the log as it grows.

    /// Every row of `read` (a [`LogQuery`], a [`RunQuery`], a
    /// [`store_core::pages::ThreadMessages`]), as a stream fetched
    /// [`store_core::pages::PAGE`] rows at a time through the read's cursor, each page on the
    /// blocking pool: memory holds one page whatever the number of matches. The async twin of
    /// [`LogQuery::fetch`]; the read's `limit` caps the total, `None` yields every match.
    pub fn fetch<R: PagedRead>(&self, read: R) -> RowStream<R::Row> {
        streams::fetch(self.clone(), read)
    }

    /// Follows the log, as [`store_core::pages::follow`]: every entry `query` matches after
    /// its `after` (after the log's end now, when `None`), as this process or another one
    /// commits it. Each look at the log, with the wait before it (5 ms, doubling while the
    /// log is quiet, up to `longest`), runs on the blocking pool. The stream never ends by
    /// itself; an error is yielded and following goes on after it.
    ///
    /// # Errors
    /// The store's errors reading the log's end.
    pub async fn follow(
        &self,
        query: LogQuery,
        longest: Duration,
    ) -> StoreResult<RowStream<LogEntry>> {
        let cursor = self
            .log(move |log| FollowCursor::start(log, query, longest))
            .await?;
        Ok(streams::follow(self.clone(), cursor))
    }
}

/// Runs `work` with `store` on the blocking pool: what every read and maintenance call of
/// [`AsyncStore`] and [`AsyncBlobs`] does.
async fn on_blocking_pool<T, F>(store: &Arc<Store>, work: F) -> StoreResult<T>
where
    T: Send + 'static,
    F: FnOnce(&Store) -> StoreResult<T> + Send + 'static,
{
    let store = Arc::clone(store);
    match tokio::task::spawn_blocking(move || work(&store)).await {
        Ok(result) => result,
        Err(err) if err.is_panic() => std::panic::resume_unwind(err.into_panic()),
        Err(_) => Err(StoreError::Interrupted {
            operation: "a store call (the runtime shut down)",
        }),
    }
}

/// The error of a write whose writer thread ended before it answered.
fn writer_gone() -> StoreError {
    StoreError::Interrupted {
        operation: "a write (the store's writer thread ended)",
    }
}

/// The writer thread: takes the first unit that waits, then every other one queued by then
/// (at most [`store_core::kit::MAX_GROUP`]), commits them together, and answers each; until
/// every sender is gone.
fn write_queued(store: &Store, mut receiver: mpsc::UnboundedReceiver<Waiting>) {
    while let Some(first) = receiver.blocking_recv() {
        let mut waiting = vec![first];
        while waiting.len() < store_core::kit::MAX_GROUP {
            match receiver.try_recv() {
                Ok(next) => waiting.push(next),
                Err(_) => break,
            }
        }
        let (units, answers): (Vec<WriteUnit>, Vec<_>) = waiting.into_iter().unzip();
        let results = store.log.write_units(units);
        for (answer, result) in answers.into_iter().zip(results) {
            // A task that stopped waiting does not need its answer.
            let _ = answer.send(result);
        }
    }
}
