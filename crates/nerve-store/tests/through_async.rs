//! The whole conformance suite, log store and blob store, driven through `AsyncStore`
//! (feature `tokio`), on every backend: each case's store is an adapter whose every call goes
//! to the backend through its async twin (`AsyncStore`'s, `AsyncBlobs`'), as a tokio task
//! makes it. A backend that passes the sync
//! suite and fails every async call (as PostgreSQL once did) fails here, case by case.

use std::path::Path;
use std::sync::Arc;

use chrono::NaiveDate;
use nerve_store::{
    AsyncStore, Backend, BlobHealth, BlobStore, Digest, GetThreadRoundsParams, Location,
    LogBackend, LogEntry, LogId, LogQuery, RunQuery, Store, StoreError, StoreResult,
    ThreadRoundRow, VerifyReport, WorkflowRun, WriteUnit, Written,
};
use store_conformance::{BlobHarness, Harness};
use store_core::{
    BlobHolder, BlobReference, Checked, DaySpan, ImportBatch, LogMaintenance, LogStats, LogStore,
    LogTransfer, RestoreBatch, Restored, ThreadIndexRow,
};

/// Where the store under test is, as the facade names it.
fn location_of(dir: &Path, backend: Backend) -> Location {
    match backend {
        Backend::Postgres => store_postgres::harness::options(dir)
            .location()
            .parse()
            .expect("a location"),
        file_backend => Location::from_file(file_backend, dir).expect("a file backend"),
    }
}

/// A backend's store, called through `AsyncStore` from a runtime of its own.
struct ThroughAsync {
    store: AsyncStore,
    runtime: Arc<tokio::runtime::Runtime>,
}

impl ThroughAsync {
    fn new(log: Box<dyn LogBackend>, dir: &Path, backend: Backend) -> Self {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .build()
            .expect("a runtime");
        let location = location_of(dir, backend);
        let store = AsyncStore::new(Store::new(log, Box::new(NoBlobs), location));
        ThroughAsync {
            store,
            runtime: Arc::new(runtime),
        }
    }

    fn run<T>(&self, future: impl Future<Output = T>) -> T {
        self.runtime.block_on(future)
    }
}

impl LogStore for ThroughAsync {
    fn append(&self, entry: store_core::NewLogEntry) -> StoreResult<LogEntry> {
        self.run(self.store.append(entry))
    }

    fn append_batch(&self, entries: Vec<store_core::NewLogEntry>) -> StoreResult<Vec<LogEntry>> {
        self.run(self.store.append_batch(entries))
    }

    fn write_unit(&self, unit: WriteUnit) -> StoreResult<Vec<Written>> {
        self.run(self.store.write_unit(unit))
    }

    fn write_units(&self, units: Vec<WriteUnit>) -> Vec<StoreResult<Vec<Written>>> {
        self.run(self.store.write_units(units))
    }

    fn query(&self, query: &LogQuery) -> StoreResult<Vec<LogEntry>> {
        self.run(self.store.query(query))
    }

    fn transition_run(
        &self,
        transition: store_core::RunTransition,
    ) -> StoreResult<store_core::TransitionOutcome> {
        self.run(self.store.transition_run(transition))
    }

    fn activity(
        &self,
        since: chrono::DateTime<chrono::Utc>,
        until: chrono::DateTime<chrono::Utc>,
    ) -> StoreResult<Vec<store_core::HourCount>> {
        self.run(self.store.activity(since, until))
    }

    fn get_run(&self, run_id: &str) -> StoreResult<Option<WorkflowRun>> {
        self.run(self.store.get_run(run_id))
    }

    fn list_active_runs(&self) -> StoreResult<Vec<WorkflowRun>> {
        self.run(self.store.list_active_runs())
    }

    fn list_runs(&self, query: &RunQuery) -> StoreResult<Vec<WorkflowRun>> {
        self.run(self.store.list_runs(query))
    }

    fn append_thread_message(&self, message: store_core::ThreadMessage) -> StoreResult<LogEntry> {
        self.run(self.store.append_thread_message(message))
    }

    fn thread_messages(
        &self,
        thread_id: &str,
        after: Option<LogId>,
        limit: usize,
    ) -> StoreResult<Vec<ThreadRoundRow>> {
        self.run(self.store.thread_messages(thread_id, after, limit))
    }

    fn thread_rounds(&self, params: &GetThreadRoundsParams) -> StoreResult<Vec<ThreadRoundRow>> {
        self.run(self.store.thread_rounds(params))
    }

    fn last_round(&self, thread_id: &str) -> StoreResult<Option<u32>> {
        self.run(self.store.last_round(thread_id))
    }

    fn meta_get(&self, key: &str) -> StoreResult<Option<String>> {
        self.run(self.store.meta_get(key))
    }

    fn meta_set(&self, key: &str, value: &str) -> StoreResult<()> {
        self.run(self.store.meta_set(key, value))
    }

    fn meta_set_with_blobs(&self, key: &str, value: &str, blobs: &[Digest]) -> StoreResult<()> {
        self.run(self.store.meta_set_with_blobs(key, value, blobs))
    }

    fn meta_delete(&self, key: &str) -> StoreResult<bool> {
        self.run(self.store.meta_delete(key))
    }

    fn references(
        &self,
        digest: &Digest,
        after: Option<&BlobHolder>,
        limit: usize,
    ) -> StoreResult<Vec<BlobHolder>> {
        self.run(self.store.references(digest, after, limit))
    }

    fn blobs_of(&self, holder: &BlobHolder) -> StoreResult<Vec<Digest>> {
        self.run(self.store.blobs_of(holder))
    }
}

impl LogMaintenance for ThroughAsync {
    fn delete_days(&self, spans: &[DaySpan], meta: &[(&str, &str)]) -> StoreResult<u64> {
        self.run(self.store.delete_days(spans, meta))
    }

    fn day_entries(
        &self,
        day: NaiveDate,
        after: Option<LogId>,
        limit: usize,
    ) -> StoreResult<Vec<LogEntry>> {
        self.run(self.store.day_entries(day, after, limit))
    }

    fn thread_rows(&self, ids: &[LogId]) -> StoreResult<Vec<ThreadIndexRow>> {
        self.run(self.store.thread_rows(ids))
    }

    fn entry_references(&self, ids: &[LogId]) -> StoreResult<Vec<BlobReference>> {
        self.run(self.store.entry_references(ids))
    }

    fn referenced(&self, digests: &[Digest]) -> StoreResult<Vec<Digest>> {
        self.run(self.store.referenced(digests))
    }

    fn next_log_day(&self, after: Option<NaiveDate>) -> StoreResult<Option<NaiveDate>> {
        self.run(self.store.next_log_day(after))
    }

    fn log_stats(&self) -> StoreResult<LogStats> {
        self.run(self.store.log_stats())
    }

    fn compact(&self) -> StoreResult<()> {
        self.run(self.store.compact())
    }

    fn check(&self) -> StoreResult<Checked> {
        self.run(self.store.check())
    }
}

impl LogTransfer for ThroughAsync {
    fn thread_index(&self, after: Option<LogId>, limit: usize) -> StoreResult<Vec<ThreadIndexRow>> {
        self.run(self.store.thread_index(after, limit))
    }

    fn meta_page(&self, after: Option<&str>, limit: usize) -> StoreResult<Vec<(String, String)>> {
        self.run(self.store.meta_page(after, limit))
    }

    fn blob_references(
        &self,
        after: Option<&BlobReference>,
        limit: usize,
    ) -> StoreResult<Vec<BlobReference>> {
        self.run(self.store.blob_references(after, limit))
    }

    fn meta_entries(&self) -> StoreResult<Vec<(String, String)>> {
        self.run(self.store.meta_entries())
    }

    fn import(&self, batch: ImportBatch) -> StoreResult<()> {
        self.run(self.store.import(batch))
    }

    fn restore(&self, batch: RestoreBatch) -> StoreResult<Restored> {
        self.run(self.store.restore(batch))
    }

    /// The work borrows the caller's state, so it cannot move to the blocking pool: it runs
    /// on the caller's thread inside the runtime's context, as on a `spawn_blocking` thread.
    fn with_snapshot(
        &self,
        work: &mut dyn FnMut(&dyn LogBackend) -> StoreResult<()>,
    ) -> StoreResult<()> {
        let _inside = self.runtime.enter();
        self.store.blocking().log.with_snapshot(work)
    }
}

/// No blobs: the log suite needs none, and the adapter's store must have a blob store.
struct NoBlobs;

impl BlobStore for NoBlobs {
    fn write_from(&self, _: &mut dyn std::io::Read) -> StoreResult<Digest> {
        Err(StoreError::invalid(
            "blob",
            "this test store keeps no blobs",
        ))
    }
    fn open(&self, _: &Digest) -> StoreResult<Option<Box<dyn std::io::Read + Send + '_>>> {
        Ok(None)
    }
    fn len(&self, _: &Digest) -> StoreResult<Option<u64>> {
        Ok(None)
    }
    fn delete(&self, _: &Digest) -> StoreResult<bool> {
        Ok(false)
    }
    fn list(&self) -> StoreResult<Vec<Digest>> {
        Ok(Vec::new())
    }
    fn inventory(&self) -> StoreResult<Vec<store_core::BlobInfo>> {
        Ok(Vec::new())
    }
    fn delete_all_if_written_before(
        &self,
        digests: &[Digest],
        _: chrono::DateTime<chrono::Utc>,
    ) -> StoreResult<Vec<Option<u64>>> {
        Ok(vec![None; digests.len()])
    }
}

/// A backend's blob store, called through `AsyncStore::blobs` from a runtime of its own,
/// every call through its async twin.
struct ThroughAsyncBlobs {
    store: AsyncStore,
    runtime: tokio::runtime::Runtime,
}

impl ThroughAsyncBlobs {
    fn run<T>(&self, future: impl Future<Output = T>) -> T {
        self.runtime.block_on(future)
    }
}

/// What a blob's stream brought back: the bytes read, then the error that ended the
/// stream, if one did, which the reader returns where the backend's reader did.
struct ReadBack {
    bytes: std::io::Cursor<Vec<u8>>,
    failed: Option<std::io::Error>,
}

impl std::io::Read for ReadBack {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = self.bytes.read(buf)?;
        match (n, self.failed.take()) {
            (0, Some(err)) if !buf.is_empty() => Err(err),
            (_, failed) => {
                self.failed = failed;
                Ok(n)
            }
        }
    }
}

impl BlobStore for ThroughAsyncBlobs {
    fn write(&self, data: &[u8]) -> StoreResult<Digest> {
        self.run(self.store.blobs().write(data))
    }

    /// The source borrows the caller's state: it is read here, and its bytes written
    /// through the async twin, which takes an owned source.
    fn write_from(&self, source: &mut dyn std::io::Read) -> StoreResult<Digest> {
        let mut content = Vec::new();
        source
            .read_to_end(&mut content)
            .map_err(|err| StoreError::from_blob_read(err, "reading the blob to write"))?;
        self.run(self.store.blobs().write_from(std::io::Cursor::new(content)))
    }

    fn read(&self, digest: &Digest) -> StoreResult<Option<Vec<u8>>> {
        self.run(self.store.blobs().read(digest))
    }

    fn open(&self, digest: &Digest) -> StoreResult<Option<Box<dyn std::io::Read + Send + '_>>> {
        let Some(mut stream) = self.run(self.store.blobs().open(digest))? else {
            return Ok(None);
        };
        let (mut bytes, mut failed) = (Vec::new(), None);
        while let Some(chunk) = self.run(stream.next()) {
            match chunk {
                Ok(chunk) => bytes.extend(chunk),
                Err(err) => {
                    failed = Some(std::io::Error::other(err));
                    break;
                }
            }
        }
        Ok(Some(Box::new(ReadBack {
            bytes: std::io::Cursor::new(bytes),
            failed,
        })))
    }

    fn len(&self, digest: &Digest) -> StoreResult<Option<u64>> {
        self.run(self.store.blobs().len(digest))
    }

    fn exists(&self, digest: &Digest) -> StoreResult<bool> {
        self.run(self.store.blobs().exists(digest))
    }

    fn delete(&self, digest: &Digest) -> StoreResult<bool> {
        self.run(self.store.blobs().delete(digest))
    }

    fn inventory(&self) -> StoreResult<Vec<store_core::BlobInfo>> {
        self.run(self.store.blobs().inventory())
    }

    fn delete_if_written_before(
        &self,
        digest: &Digest,
        cutoff: chrono::DateTime<chrono::Utc>,
    ) -> StoreResult<Option<u64>> {
        self.run(self.store.blobs().delete_if_written_before(digest, cutoff))
    }

    fn delete_all_if_written_before(
        &self,
        digests: &[Digest],
        cutoff: chrono::DateTime<chrono::Utc>,
    ) -> StoreResult<Vec<Option<u64>>> {
        self.run(
            self.store
                .blobs()
                .delete_all_if_written_before(digests, cutoff),
        )
    }

    fn list(&self) -> StoreResult<Vec<Digest>> {
        self.run(self.store.blobs().list())
    }

    fn count(&self) -> StoreResult<u64> {
        self.run(self.store.blobs().count())
    }

    fn verify(&self, digest: &Digest) -> StoreResult<BlobHealth> {
        self.run(self.store.blobs().verify(digest))
    }

    fn verify_all(&self) -> StoreResult<VerifyReport> {
        self.run(self.store.blobs().verify_all())
    }
}

/// A backend's harness whose stores are called through `AsyncStore`; what damages a store
/// behind its back goes to the backend's harness as it is.
struct AsyncHarness {
    inner: &'static (dyn Harness + Sync),
    blobs: &'static (dyn BlobHarness + Sync),
    backend: Backend,
}

impl AsyncHarness {
    /// The backend's blob store (`blobs`) beside its log store (`log`), both in `dir`,
    /// behind one `AsyncStore`.
    fn through_async(
        &self,
        dir: &Path,
        log: Box<dyn LogBackend>,
        blobs: Box<dyn BlobStore>,
    ) -> Box<dyn BlobStore> {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .build()
            .expect("a runtime");
        let location = location_of(dir, self.backend);
        let store = AsyncStore::new(Store::new(log, blobs, location));
        Box::new(ThroughAsyncBlobs { store, runtime })
    }
}

impl BlobHarness for AsyncHarness {
    fn open_blobs(&self, dir: &Path) -> StoreResult<Box<dyn BlobStore>> {
        let log = self.inner.open(dir)?;
        let blobs = self.blobs.open_blobs(dir)?;
        Ok(self.through_async(dir, log, blobs))
    }
    fn open_blobs_read_only(&self, dir: &Path) -> StoreResult<Box<dyn BlobStore>> {
        let log = self.inner.open_read_only(dir)?;
        let blobs = self.blobs.open_blobs_read_only(dir)?;
        Ok(self.through_async(dir, log, blobs))
    }
    fn replace_content(&self, dir: &Path, digest: &Digest, content: &[u8]) {
        self.blobs.replace_content(dir, digest, content);
    }
    fn remove(&self, dir: &Path, digest: &Digest) {
        self.blobs.remove(dir, digest);
    }
}

impl Harness for AsyncHarness {
    fn open(&self, dir: &Path) -> StoreResult<Box<dyn LogBackend>> {
        let log = self.inner.open(dir)?;
        Ok(Box::new(ThroughAsync::new(log, dir, self.backend)))
    }
    fn open_read_only(&self, dir: &Path) -> StoreResult<Box<dyn LogBackend>> {
        let log = self.inner.open_read_only(dir)?;
        Ok(Box::new(ThroughAsync::new(log, dir, self.backend)))
    }
    fn open_existing(&self, dir: &Path) -> StoreResult<Box<dyn LogBackend>> {
        let log = self.inner.open_existing(dir)?;
        Ok(Box::new(ThroughAsync::new(log, dir, self.backend)))
    }
    fn damage_run(&self, dir: &Path, run_id: &str) {
        self.inner.damage_run(dir, run_id);
    }
    fn damage_entry(&self, dir: &Path, id: LogId) {
        self.inner.damage_entry(dir, id);
    }
    fn schema_version(&self) -> i64 {
        self.inner.schema_version()
    }
    fn set_schema_version(&self, dir: &Path, version: i64) {
        self.inner.set_schema_version(dir, version);
    }
    fn forget_activity(&self, dir: &Path) {
        self.inner.forget_activity(dir);
    }
    fn tamper_activity(&self, dir: &Path) {
        self.inner.tamper_activity(dir);
    }
    fn put_foreign_store(&self, dir: &Path) {
        self.inner.put_foreign_store(dir);
    }
    fn foreign_store_contents(&self, dir: &Path) -> Vec<u8> {
        self.inner.foreign_store_contents(dir)
    }
    fn checks_read_only(&self) -> bool {
        self.inner.checks_read_only()
    }
}

mod sqlite {
    static HARNESS: super::AsyncHarness = super::AsyncHarness {
        inner: &store_sqlite::harness::SqliteHarness,
        blobs: &store_sqlite::harness::SqliteHarness,
        backend: nerve_store::Backend::Sqlite,
    };
    store_conformance::log_store_conformance!(harness: &HARNESS, capabilities: [files, processes]);
    store_conformance::blob_store_conformance!(harness: &HARNESS);
}

mod redb {
    static HARNESS: super::AsyncHarness = super::AsyncHarness {
        inner: &store_redb::harness::RedbHarness,
        blobs: &store_redb::harness::RedbHarness,
        backend: nerve_store::Backend::Redb,
    };
    store_conformance::log_store_conformance!(harness: &HARNESS, capabilities: [files, processes]);
    store_conformance::blob_store_conformance!(harness: &HARNESS);
}

mod postgres {
    static HARNESS: super::AsyncHarness = super::AsyncHarness {
        inner: &store_postgres::harness::PgHarness,
        blobs: &store_postgres::harness::PgHarness,
        backend: nerve_store::Backend::Postgres,
    };
    store_conformance::log_store_conformance!(harness: &HARNESS, capabilities: [processes]);
    store_conformance::blob_store_conformance!(harness: &HARNESS);
}

/// Blobs on object storage (the tests' moto server), through `AsyncStore::blobs`: the blob
/// suite only, beside SQLite's log (whose own suite runs above).
mod s3 {
    static HARNESS: super::AsyncHarness = super::AsyncHarness {
        inner: &store_sqlite::harness::SqliteHarness,
        blobs: &store_object::harness::ObjectHarness,
        backend: nerve_store::Backend::Sqlite,
    };
    store_conformance::blob_store_conformance!(harness: &HARNESS);
}
