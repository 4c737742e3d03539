//! The store from async code (feature `tokio`): every call runs on tokio's blocking pool,
//! so that a commit's sync never holds up the runtime's worker threads, and the timers and
//! sockets of the tasks beside it.

use std::sync::Arc;

use tokio::sync::{mpsc, oneshot};

use store_core::{
    Digest, GetThreadRoundsParams, LogEntry, LogId, LogQuery, LogStats, NewLogEntry, RunQuery,
    RunTransition, StoreError, StoreResult, ThreadMessage, ThreadRoundRow, TransitionOutcome,
    WorkflowRun, Write, WriteUnit, Written,
};

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

    /// Commits `unit` through the writer thread, or the blocking pool without one.
    async fn submit(&self, unit: WriteUnit) -> StoreResult<Vec<Written>> {
        let Some(writes) = &self.writer.queue else {
            return self.call(move |store| store.log.write_unit(unit)).await;
        };
        let (answer, answered) = oneshot::channel();
        let gone = || StoreError::Interrupted {
            operation: "a write (the store's writer thread ended)",
        };
        writes.send((unit, answer)).map_err(|_| gone())?;
        answered.await.map_err(|_| gone())?
    }

    /// Commits one write through the writer thread; what it wrote.
    async fn one(&self, write: Write) -> StoreResult<Written> {
        self.submit(WriteUnit::from(vec![write]))
            .await?
            .pop()
            .ok_or_else(|| StoreError::invalid("write_unit", "returned nothing for a write"))
    }

    /// The store itself, for a blocking caller (a thread of its own, a `spawn_blocking`).
    pub fn blocking(&self) -> &Store {
        &self.store
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
        let store = Arc::clone(&self.store);
        match tokio::task::spawn_blocking(move || work(&store)).await {
            Ok(result) => result,
            Err(err) if err.is_panic() => std::panic::resume_unwind(err.into_panic()),
            Err(_) => Err(StoreError::Interrupted {
                operation: "a store call (the runtime shut down)",
            }),
        }
    }

    /// As [`crate::LogStore::append`].
    ///
    /// # Errors
    /// As [`crate::LogStore::append`].
    pub async fn append(&self, entry: NewLogEntry) -> StoreResult<LogEntry> {
        match self.one(Write::Append(entry)).await? {
            Written::Appended(entry) => Ok(entry),
            other => Err(unexpected("an append", &other)),
        }
    }

    /// As [`crate::LogStore::append_batch`].
    ///
    /// # Errors
    /// As [`crate::LogStore::append_batch`].
    pub async fn append_batch(&self, entries: Vec<NewLogEntry>) -> StoreResult<Vec<LogEntry>> {
        self.call(move |store| store.log.append_batch(entries))
            .await
    }

    /// As [`crate::LogStore::write_unit`].
    ///
    /// # Errors
    /// As [`crate::LogStore::write_unit`].
    pub async fn write_unit(&self, unit: WriteUnit) -> StoreResult<Vec<Written>> {
        self.submit(unit).await
    }

    /// As [`crate::LogStore::transition_run`].
    ///
    /// # Errors
    /// As [`crate::LogStore::transition_run`].
    pub async fn transition_run(
        &self,
        transition: RunTransition,
    ) -> StoreResult<TransitionOutcome> {
        match self.one(Write::Transition(transition)).await? {
            Written::Transitioned(outcome) => Ok(outcome),
            other => Err(unexpected("a transition", &other)),
        }
    }

    /// As [`crate::LogStore::append_thread_message`].
    ///
    /// # Errors
    /// As [`crate::LogStore::append_thread_message`].
    pub async fn append_thread_message(&self, message: ThreadMessage) -> StoreResult<LogEntry> {
        match self.one(Write::ThreadMessage(message)).await? {
            Written::ThreadMessage(entry) => Ok(entry),
            other => Err(unexpected("a thread message", &other)),
        }
    }

    /// As [`crate::LogStore::query`].
    ///
    /// # Errors
    /// As [`crate::LogStore::query`].
    pub async fn query(&self, query: LogQuery) -> StoreResult<Vec<LogEntry>> {
        self.call(move |store| store.log.query(&query)).await
    }

    /// As [`crate::LogStore::get_run`].
    ///
    /// # Errors
    /// As [`crate::LogStore::get_run`].
    pub async fn get_run(&self, run_id: impl Into<String>) -> StoreResult<Option<WorkflowRun>> {
        let run_id = run_id.into();
        self.call(move |store| store.log.get_run(&run_id)).await
    }

    /// As [`crate::LogStore::list_runs`].
    ///
    /// # Errors
    /// As [`crate::LogStore::list_runs`].
    pub async fn list_runs(&self, query: RunQuery) -> StoreResult<Vec<WorkflowRun>> {
        self.call(move |store| store.log.list_runs(&query)).await
    }

    /// As [`crate::LogStore::list_active_runs`]: what crash recovery reads at start-up.
    ///
    /// # Errors
    /// As [`crate::LogStore::list_active_runs`].
    pub async fn list_active_runs(&self) -> StoreResult<Vec<WorkflowRun>> {
        self.call(|store| store.log.list_active_runs()).await
    }

    /// As [`crate::LogStore::thread_rounds`].
    ///
    /// # Errors
    /// As [`crate::LogStore::thread_rounds`].
    pub async fn thread_rounds(
        &self,
        params: GetThreadRoundsParams,
    ) -> StoreResult<Vec<ThreadRoundRow>> {
        self.call(move |store| store.log.thread_rounds(&params))
            .await
    }

    /// As [`crate::LogStore::thread_messages`].
    ///
    /// # Errors
    /// As [`crate::LogStore::thread_messages`].
    pub async fn thread_messages(
        &self,
        thread_id: impl Into<String>,
        after: Option<LogId>,
        limit: usize,
    ) -> StoreResult<Vec<ThreadRoundRow>> {
        let thread_id = thread_id.into();
        self.call(move |store| store.log.thread_messages(&thread_id, after, limit))
            .await
    }

    /// As [`crate::LogStore::last_round`].
    ///
    /// # Errors
    /// As [`crate::LogStore::last_round`].
    pub async fn last_round(&self, thread_id: impl Into<String>) -> StoreResult<Option<u32>> {
        let thread_id = thread_id.into();
        self.call(move |store| store.log.last_round(&thread_id))
            .await
    }

    /// As [`crate::LogStore::meta_delete`].
    ///
    /// # Errors
    /// As [`crate::LogStore::meta_delete`].
    pub async fn meta_delete(&self, key: impl Into<String>) -> StoreResult<bool> {
        let key = key.into();
        self.call(move |store| store.log.meta_delete(&key)).await
    }

    /// As [`crate::LogStore::meta_get`].
    ///
    /// # Errors
    /// As [`crate::LogStore::meta_get`].
    pub async fn meta_get(&self, key: impl Into<String>) -> StoreResult<Option<String>> {
        let key = key.into();
        self.call(move |store| store.log.meta_get(&key)).await
    }

    /// As [`crate::LogStore::meta_set`].
    ///
    /// # Errors
    /// As [`crate::LogStore::meta_set`].
    pub async fn meta_set(
        &self,
        key: impl Into<String>,
        value: impl Into<String>,
    ) -> StoreResult<()> {
        let (key, value) = (key.into(), value.into());
        self.call(move |store| store.log.meta_set(&key, &value))
            .await
    }

    /// As [`crate::LogMaintenance::log_stats`].
    ///
    /// # Errors
    /// As [`crate::LogMaintenance::log_stats`].
    pub async fn log_stats(&self) -> StoreResult<LogStats> {
        self.call(|store| store.log.log_stats()).await
    }

    /// As [`crate::BlobStore::write`]: durable when it returns, so a log entry written after
    /// it may name it.
    ///
    /// # Errors
    /// As [`crate::BlobStore::write`].
    pub async fn write_blob(&self, content: Vec<u8>) -> StoreResult<Digest> {
        self.call(move |store| store.blobs.write(&content)).await
    }

    /// As [`crate::BlobStore::read`].
    ///
    /// # Errors
    /// As [`crate::BlobStore::read`].
    pub async fn read_blob(&self, digest: Digest) -> StoreResult<Option<Vec<u8>>> {
        self.call(move |store| store.blobs.read(&digest)).await
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

/// The error for a write answered with another kind of write: a backend's bug.
fn unexpected(call: &str, written: &Written) -> StoreError {
    StoreError::invalid("write_unit", format!("answered {call} with {written:?}"))
}
