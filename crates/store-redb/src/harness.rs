//! The conformance harness of the redb backend (feature `conformance`): how the suite of
//! `store-conformance` opens its stores and damages them behind their backs, through a raw redb
//! handle on the store's own table definitions.

use std::path::{Path, PathBuf};

use redb::{ReadableTable, ReadableTableMetadata, TableDefinition};
use store_conformance::{BlobHarness, Harness};
use store_core::{BlobStore, Digest, LogBackend, LogId, StoreResult};

use crate::schema::{
    BLOB_CHUNKS, BLOBS, LOGS, LOGS_BY_REF, LOGS_BY_SOURCE_KIND, LogRow, RUNS, SCHEMA_VERSION,
    SCHEMA_VERSION_KEY, STORE_INFO,
};

/// The redb backend under test: the log in `nerve.redb` of the folder, the blobs in
/// `nerve.blobs.redb`, reached behind the stores' backs with a raw handle (the file is
/// opened for several processes, so that works while a store has it open).
pub struct RedbHarness;

/// The log store's file in `dir`.
pub fn log_file(dir: &Path) -> PathBuf {
    dir.join("nerve.redb")
}

/// The blob store's file in `dir`.
pub fn blob_file(dir: &Path) -> PathBuf {
    dir.join("nerve.blobs.redb")
}

/// Puts back the time indexes of schema versions 2 to 6 in the write transaction `tx` of a
/// store's file: [`crate::schema::LOGS_BY_TS`] holding every entry whose `ts` is at or above
/// every `ts` before it (by id), [`crate::schema::LOGS_LATE_BY_TS`] the others, and no time
/// marks. Returns how many entries it put among the late.
///
/// # Panics
/// When the file cannot be read or written.
pub fn back_to_one_time_index_of_entries_in_order(tx: &redb::WriteTransaction) -> usize {
    use crate::schema::{LOGS_BY_TS, LOGS_LATE_BY_TS, TIME_MARKS};
    tx.delete_table(TIME_MARKS).expect("the time marks");
    let logs = tx.open_table(LOGS).expect("the log");
    let mut in_order = tx.open_table(LOGS_BY_TS).expect("the time index");
    let mut late = tx.open_table(LOGS_LATE_BY_TS).expect("the late index");
    late.retain(|_, _| false).expect("emptied");
    let mut highest = i64::MIN;
    for item in logs.iter().expect("the log's rows") {
        let (id, bytes) = item.expect("a row");
        let id = id.value();
        let ts = LogRow::decode(id, bytes.value()).expect("a row").ts;
        if ts < highest {
            late.insert((ts, id), ()).expect("a late entry");
        } else {
            in_order.insert((ts, id), ()).expect("an entry in order");
        }
        highest = highest.max(ts);
    }
    late.len().expect("counted") as usize
}

/// Runs `change` in one committed write transaction on the file at `path`.
fn write_raw(path: &Path, change: impl FnOnce(&redb::WriteTransaction)) {
    let db = redb::Database::builder()
        .set_concurrency_mode(redb::ConcurrencyMode::MultiWriter)
        .create(path)
        .expect("a raw handle");
    let tx = db.begin_write().expect("begin");
    change(&tx);
    tx.commit().expect("commit");
}

impl Harness for RedbHarness {
    fn checks_read_only(&self) -> bool {
        false
    }

    fn open(&self, dir: &Path) -> StoreResult<Box<dyn LogBackend>> {
        Ok(Box::new(crate::RedbLogStore::open(log_file(dir))?))
    }

    fn open_read_only(&self, dir: &Path) -> StoreResult<Box<dyn LogBackend>> {
        Ok(Box::new(crate::RedbLogStore::open_with(
            log_file(dir),
            crate::RedbOptions::default().read_only(true),
        )?))
    }

    fn open_existing(&self, dir: &Path) -> StoreResult<Box<dyn LogBackend>> {
        Ok(Box::new(crate::RedbLogStore::open_with(
            log_file(dir),
            crate::RedbOptions::default().create_if_missing(false),
        )?))
    }

    fn damage_run(&self, dir: &Path, run_id: &str) {
        write_raw(&log_file(dir), |tx| {
            let old = tx
                .open_table(RUNS)
                .expect("runs")
                .insert(run_id, [0xff_u8, 0xff, 0xff].as_slice())
                .expect("bytes that are not a run")
                .is_some();
            assert!(old, "the run's row");
        });
    }

    /// The row is kept three times (in the log and copied in two indexes): every copy is
    /// damaged, so that whichever one a query reads does not decode.
    fn damage_entry(&self, dir: &Path, id: LogId) {
        write_raw(&log_file(dir), |tx| {
            let bad = [1_u8];
            let bytes = tx
                .open_table(LOGS)
                .expect("logs")
                .insert(id.0, bad.as_slice())
                .expect("bytes that are not an entry")
                .expect("the entry's row")
                .value()
                .to_vec();
            let row = LogRow::decode(id.0, &bytes).expect("the row as it was");
            if let Some(ref_id) = row.ref_id {
                tx.open_table(LOGS_BY_REF)
                    .expect("by ref")
                    .insert((ref_id, id.0), bad.as_slice())
                    .expect("its copy by reference");
            }
            tx.open_table(LOGS_BY_SOURCE_KIND)
                .expect("by source and kind")
                .insert((row.source, row.kind, id.0), bad.as_slice())
                .expect("its copy by source and kind");
        });
    }

    fn schema_version(&self) -> i64 {
        i64::try_from(SCHEMA_VERSION).expect("a small version")
    }

    fn set_schema_version(&self, dir: &Path, version: i64) {
        let version = u64::try_from(version).expect("a version redb keeps");
        write_raw(&log_file(dir), |tx| {
            tx.open_table(STORE_INFO)
                .expect("the store's bookkeeping")
                .insert(SCHEMA_VERSION_KEY, version)
                .expect("the version");
        });
        // As a store of that version would have left it at its clean close.
        crate::seal::seal(&log_file(dir));
    }

    fn tamper_activity(&self, dir: &Path) {
        write_raw(&log_file(dir), |tx| {
            let mut table = tx
                .open_table(crate::schema::ACTIVITY)
                .expect("the activity counts");
            let (hour, series, n) = {
                let first = table.first().expect("read").expect("the store had a count");
                let (hour, series) = first.0.value();
                (hour, series.to_owned(), first.1.value())
            };
            table
                .insert((hour, series.as_str()), n + 1)
                .expect("a count changed");
        });
        crate::seal::seal(&log_file(dir));
    }

    fn forget_activity(&self, dir: &Path) {
        write_raw(&log_file(dir), |tx| {
            assert!(
                tx.delete_table(crate::schema::ACTIVITY).expect("delete"),
                "the store had activity counts"
            );
            back_to_one_time_index_of_entries_in_order(tx);
            tx.open_table(STORE_INFO)
                .expect("the store's bookkeeping")
                .insert(SCHEMA_VERSION_KEY, 5)
                .expect("the version");
        });
        crate::seal::seal(&log_file(dir));
    }

    fn put_foreign_store(&self, dir: &Path) {
        let accounts: TableDefinition<&str, u64> = TableDefinition::new("accounts");
        let db = redb::Database::create(log_file(dir)).expect("another program's database");
        let tx = db.begin_write().expect("begin");
        tx.open_table(accounts)
            .expect("its table")
            .insert("ada", 10)
            .expect("its row");
        tx.commit().expect("commit");
    }

    /// Its tables and their rows: opening a redb file for writing verifies it and commits
    /// the result (a new header), so its bytes change even when nothing else does.
    fn foreign_store_contents(&self, dir: &Path) -> Vec<u8> {
        let accounts: TableDefinition<&str, u64> = TableDefinition::new("accounts");
        let db = redb::Database::create(log_file(dir)).expect("the foreign database");
        let tx = redb::ReadableDatabase::begin_read(&db).expect("read");
        let tables: Vec<String> = tx
            .list_tables()
            .expect("tables")
            .map(|table| redb::TableHandle::name(&table).to_owned())
            .collect();
        let rows: Vec<(String, u64)> = tx
            .open_table(accounts)
            .expect("its table")
            .iter()
            .expect("its rows")
            .map(|row| {
                let (key, value) = row.expect("a row");
                (key.value().to_owned(), value.value())
            })
            .collect();
        format!("{tables:?} {rows:?}").into_bytes()
    }
}

/// Runs `damage` on the blob's id in one committed transaction on the blob file.
fn with_blob(dir: &Path, digest: &Digest, damage: impl FnOnce(&redb::WriteTransaction, u64)) {
    write_raw(&blob_file(dir), |tx| {
        let (id, _) = tx
            .open_table(BLOBS)
            .expect("blobs")
            .get(digest.as_bytes().as_slice())
            .expect("get")
            .expect("the blob's row")
            .value();
        damage(tx, id);
    });
}

impl BlobHarness for RedbHarness {
    fn open_blobs(&self, dir: &Path) -> StoreResult<Box<dyn BlobStore>> {
        Ok(Box::new(crate::RedbBlobStore::open(blob_file(dir))?))
    }

    fn open_blobs_read_only(&self, dir: &Path) -> StoreResult<Box<dyn BlobStore>> {
        Ok(Box::new(crate::RedbBlobStore::open_with(
            blob_file(dir),
            crate::RedbOptions::default().read_only(true),
        )?))
    }

    fn replace_content(&self, dir: &Path, digest: &Digest, content: &[u8]) {
        with_blob(dir, digest, |tx, id| {
            let mut chunks = tx.open_table(BLOB_CHUNKS).expect("chunks");
            chunks
                .retain_in((id, 0)..=(id, u32::MAX), |_, _| false)
                .expect("drop the chunks");
            chunks
                .insert((id, 0), content)
                .expect("write other content");
        });
    }

    fn remove(&self, dir: &Path, digest: &Digest) {
        with_blob(dir, digest, |tx, id| {
            tx.open_table(BLOB_CHUNKS)
                .expect("chunks")
                .retain_in((id, 0)..=(id, u32::MAX), |_, _| false)
                .expect("drop the chunks");
            tx.open_table(BLOBS)
                .expect("blobs")
                .remove(digest.as_bytes().as_slice())
                .expect("drop the row");
        });
    }
}

/// Makes the file at `path` look as the store left it when it last closed it cleanly, so
/// that the next open trusts it without checking it whole: what damage from a failing disk
/// looks like to the store.
pub fn seal_as_closed_cleanly(path: &Path) {
    crate::seal::seal(path);
}
