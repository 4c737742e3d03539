//! The schema of a file as it is opened: created in one transaction on an empty file,
//! checked on a store's, upgraded in place from an older version (checksums added, counters
//! counted, index rows copied, entries placed in the time order), and read whole by a read-only open
//! that must refuse damage before it answers.

use std::path::Path;

use redb::{
    Database, ReadOnlyDatabase, ReadableDatabase, ReadableTable, TableDefinition, TableHandle,
};
use store_core::{StoreError, StoreResult};

use crate::checksum::{id_key, with_checksum};
use crate::error::{Context, engine_error, not_a_store};
use crate::schema::*;

/// Every table of the schema, so that a new file gets all of them at once.
pub(crate) fn create_tables(tx: &redb::WriteTransaction) -> Result<(), redb::TableError> {
    tx.open_table(LOGS)?;
    tx.open_table(LOGS_BY_REF)?;
    tx.open_table(LOGS_BY_SOURCE_KIND)?;
    tx.open_table(TIME_MARKS)?;
    tx.open_table(LOGS_BY_DAY)?;
    tx.open_table(RUNS)?;
    tx.open_table(RUNS_BY_CREATED)?;
    tx.open_table(RUNS_BY_STATUS)?;
    tx.open_table(RUNS_BY_WORKFLOW)?;
    tx.open_table(RUNS_BY_THREAD)?;
    tx.open_table(THREAD_MESSAGES)?;
    tx.open_table(THREADS_BY_ID)?;
    tx.open_table(THREADS_BY_ROUND)?;
    tx.open_table(THREADS_BY_ROLE)?;
    tx.open_table(META)?;
    tx.open_table(BLOBS)?;
    tx.open_table(BLOB_CHUNKS)?;
    tx.open_table(LOG_PAYLOAD_CHUNKS)?;
    tx.open_table(RUN_COUNTS)?;
    tx.open_table(LOGS_LATE_BY_TS)?;
    tx.open_table(crate::references::BLOB_REFS)?;
    tx.open_table(crate::references::BLOB_REFS_BY_HOLDER)?;
    tx.open_table(BLOB_TIMES)?;
    tx.open_table(crate::schema::ACTIVITY)?;
    Ok(())
}

/// Accepts an empty file (creating the schema in one transaction, so two processes opening
/// a new file create it once) and a store of this schema version; refuses another
/// program's database and a newer schema without changing anything.
pub(crate) fn check_or_create_schema(
    db: &Database,
    path: &Path,
    meta_when_created: &[(String, String)],
) -> StoreResult<()> {
    let context = || format!("checking the schema of {}", path.display());
    let tx = db.begin_write().context(context())?;
    let tables: Vec<String> = tx
        .list_tables()
        .context(context())?
        .map(|table| table.name().to_owned())
        .collect();
    if tables.is_empty() {
        create_tables(&tx).context(context())?;
        {
            let mut info = tx.open_table(STORE_INFO).context(context())?;
            info.insert(SCHEMA_VERSION_KEY, SCHEMA_VERSION)
                .context(context())?;
            info.insert(NEXT_LOG_ID_KEY, 1).context(context())?;
            let mut meta = tx.open_table(META).context(context())?;
            for (key, value) in meta_when_created {
                meta.insert(key.as_str(), meta_value(key, value).as_slice())
                    .context(context())?;
            }
        }
        return tx.commit().context("committing the new schema");
    }
    let version = recorded_version(path, &tables, || tx.open_table(STORE_INFO), &context)?;
    match version {
        Some(found) if found > SCHEMA_VERSION => Err(StoreError::SchemaTooNew {
            path: path.to_owned(),
            found: i64::try_from(found).unwrap_or(i64::MAX),
            supported: i64::try_from(SCHEMA_VERSION).unwrap_or(i64::MAX),
        }),
        Some(SCHEMA_VERSION) => {
            // Nothing to migrate: leave the file exactly as it was.
            tx.abort().context(context())
        }
        Some(found @ 1..=6) => {
            if found < 4 {
                add_checksums(&tx, found).context("adding checksums to the store's values")?;
            }
            tx.open_table(crate::references::BLOB_REFS)
                .and(
                    tx.open_table(crate::references::BLOB_REFS_BY_HOLDER)
                        .map(drop),
                )
                .and(tx.open_table(BLOB_TIMES).map(drop))
                .context("creating the tables of blob references and times")?;
            if found == 1 {
                // A file from before big payloads were chunked gets the table they need,
                // empty, and every version-1 file its run counters, counted once from the
                // index.
                tx.open_table(LOG_PAYLOAD_CHUNKS).context(context())?;
                count_runs_into_counters(&tx).context("counting the runs for their counters")?;
            }
            if found < 3 {
                copy_rows_into_indexes(&tx).context("copying the log's rows into its indexes")?;
            }
            place_entries(&tx).context("placing the log's entries in the time order")?;
            if found < 6 {
                let mut logs = crate::write::LogTables::open(&tx)?;
                logs.count_all()?;
                logs.finish()?;
            }
            tx.open_table(STORE_INFO)
                .and_then(|mut info| {
                    info.insert(SCHEMA_VERSION_KEY, SCHEMA_VERSION)?;
                    Ok(())
                })
                .context("writing the schema version")?;
            tx.commit()
                .context(format!("migrating from schema {found} to {SCHEMA_VERSION}"))
        }
        other => Err(not_a_store(
            path,
            format!("its schema version {other:?} is unknown"),
        )),
    }
}

/// The schema version the store's info table records, once the file's `tables` show it is a
/// store of this program; the table is opened (`open_info`) only then, so that a write
/// transaction creates nothing in another program's file. Another program's database, or
/// an info table of another layout, is `NotAStore`.
fn recorded_version<T: ReadableTable<&'static str, u64>>(
    path: &Path,
    tables: &[String],
    open_info: impl FnOnce() -> Result<T, redb::TableError>,
    context: &dyn Fn() -> String,
) -> StoreResult<Option<u64>> {
    if !tables.iter().any(|name| name == STORE_INFO.name()) {
        return Err(not_a_store(
            path,
            format!(
                "it is a redb database of another program (tables: {})",
                tables.join(", ")
            ),
        ));
    }
    let info = open_info().map_err(|err| match err {
        redb::TableError::TableTypeMismatch { .. } => not_a_store(
            path,
            format!("its table {} has another layout", STORE_INFO.name()),
        ),
        err => engine_error(context(), err),
    })?;
    Ok(info
        .get(SCHEMA_VERSION_KEY)
        .context(context())?
        .map(|v| v.value()))
}

/// Accepts a store of this schema version, read through a read-only handle; refuses
/// anything a read-only handle cannot use as it is (an empty file, another program's
/// database, an older schema that needs migrating, a newer one).
pub(crate) fn check_schema_read_only(db: &ReadOnlyDatabase, path: &Path) -> StoreResult<()> {
    let context = || format!("checking the schema of {}", path.display());
    let tx = db.begin_read().context(context())?;
    let tables: Vec<String> = tx
        .list_tables()
        .context(context())?
        .map(|table| table.name().to_owned())
        .collect();
    if tables.is_empty() {
        return Err(not_a_store(
            path,
            "it is empty: no store was created in it yet",
        ));
    }
    let version = recorded_version(path, &tables, || tx.open_table(STORE_INFO), &context)?;
    let as_i64 = |v: u64| i64::try_from(v).unwrap_or(i64::MAX);
    match version {
        Some(SCHEMA_VERSION) => Ok(()),
        Some(found) if found > SCHEMA_VERSION => Err(StoreError::SchemaTooNew {
            path: path.to_owned(),
            found: as_i64(found),
            supported: as_i64(SCHEMA_VERSION),
        }),
        Some(found) if found >= 1 => Err(StoreError::SchemaTooOld {
            path: path.to_owned(),
            found: as_i64(found),
            current: as_i64(SCHEMA_VERSION),
        }),
        other => Err(not_a_store(
            path,
            format!("its schema version {other:?} is unknown"),
        )),
    }
}

/// Rewrites every value of a file of schema version `found` (1 to 3) with its checksum
/// (version 4): each table is copied, value by value, into a new one that then takes its
/// name, so memory stays bounded at any size.
fn add_checksums(tx: &redb::WriteTransaction, found: u64) -> Result<(), redb::Error> {
    fn rewrite<K: redb::Key + 'static>(
        tx: &redb::WriteTransaction,
        table: TableDefinition<'static, K, &'static [u8]>,
        checksummed: impl Fn(K::SelfType<'_>, &[u8]) -> Result<Vec<u8>, redb::Error>,
    ) -> Result<(), redb::Error> {
        let new_name = format!("{}.v4", table.name());
        let new: TableDefinition<'_, K, &'static [u8]> = TableDefinition::new(&new_name);
        {
            let old = tx.open_table(table)?;
            let mut new = tx.open_table(new)?;
            for item in old.iter()? {
                let (key, value) = item?;
                let value = checksummed(key.value(), value.value())?;
                new.insert(key.value(), value.as_slice())?;
            }
        }
        tx.delete_table(table)?;
        tx.rename_table(new, table)?;
        Ok(())
    }
    let corrupt = |err: StoreError| redb::Error::Corrupted(err.to_string());
    rewrite(tx, LOGS, |id, body| {
        LogRow::decode_body(id, body).map_err(corrupt)?;
        Ok(with_checksum("logs", &id_key(id), body.to_vec()))
    })?;
    if found == 3 {
        // The copies: an empty value stays empty (a row too big to copy).
        let copy = |id: u64, body: &[u8]| {
            if body.is_empty() {
                Vec::new()
            } else {
                with_checksum("logs", &id_key(id), body.to_vec())
            }
        };
        rewrite(tx, LOGS_BY_REF, |(_, id), body| Ok(copy(id, body)))?;
        rewrite(tx, LOGS_BY_SOURCE_KIND, |(_, _, id), body| {
            Ok(copy(id, body))
        })?;
    }
    // A version-1 file has no chunk table: this creates it, empty.
    rewrite(tx, LOG_PAYLOAD_CHUNKS, |(id, seq), body| {
        Ok(chunk_value(id, seq, body))
    })?;
    rewrite(tx, RUNS, |run_id, body| {
        Ok(with_checksum("runs", run_id.as_bytes(), body.to_vec()))
    })?;
    rewrite(tx, THREAD_MESSAGES, |id, body| {
        Ok(with_checksum("thread_messages", &id_key(id), body.to_vec()))
    })?;
    let pairs: Vec<(String, String)> = {
        let old = tx.open_table(META_WITHOUT_CHECKSUMS)?;
        old.iter()?
            .map(|item| item.map(|(k, v)| (k.value().to_owned(), v.value().to_owned())))
            .collect::<Result<_, _>>()?
    };
    tx.delete_table(META_WITHOUT_CHECKSUMS)?;
    let mut meta = tx.open_table(META)?;
    for (key, value) in &pairs {
        meta.insert(key.as_str(), meta_value(key, value).as_slice())?;
    }
    Ok(())
}

/// Reads every table of the file through, and every value that carries a checksum with its
/// checksum checked: the whole-file check a read-only handle can make (redb checks its pages
/// only through a handle that may write). A table the file does not have (a blob file has
/// only the blob tables) is passed over.
///
/// # Errors
/// [`StoreError::CorruptValue`] naming the first damaged value; engine errors (a damaged
/// page) as the reads meet them.
pub(crate) fn read_whole_file(db: &ReadOnlyDatabase) -> StoreResult<()> {
    fn each<K: redb::Key + 'static, V: redb::Value + 'static>(
        tx: &redb::ReadTransaction,
        table: TableDefinition<'static, K, V>,
        mut check: impl FnMut(K::SelfType<'_>, V::SelfType<'_>) -> StoreResult<()>,
    ) -> StoreResult<()> {
        let context = || format!("reading table {table} through");
        let opened = match tx.open_table(table) {
            Ok(opened) => opened,
            Err(redb::TableError::TableDoesNotExist(_)) => return Ok(()),
            Err(err) => return Err(engine_error(context(), err)),
        };
        for item in opened.iter().context(context())? {
            let (key, value) = item.context(context())?;
            check(key.value(), value.value())?;
        }
        Ok(())
    }
    let tx = db.begin_read().context("reading the whole file through")?;
    let copy = |id: u64, value: &[u8]| {
        if value.is_empty() {
            Ok(())
        } else {
            LogRow::decode(id, value).map(|_| ())
        }
    };
    each(&tx, LOGS, |id, value| LogRow::decode(id, value).map(|_| ()))?;
    each(&tx, LOGS_BY_REF, |(_, id), value| copy(id, value))?;
    each(&tx, LOGS_BY_SOURCE_KIND, |(_, _, id), value| {
        copy(id, value)
    })?;
    each(&tx, LOG_PAYLOAD_CHUNKS, |(id, seq), value| {
        chunk_bytes(id, seq, value).map(|_| ())
    })?;
    each(&tx, RUNS, |run_id, value| {
        RunRow::decode_run(run_id, value).map(|_| ())
    })?;
    each(&tx, THREAD_MESSAGES, |id, value| {
        ThreadRow::decode(id, value).map(|_| ())
    })?;
    each(&tx, META, |key, value| meta_text(key, value).map(|_| ()))?;
    each(&tx, LOGS_BY_DAY, |_, ()| Ok(()))?;
    each(&tx, TIME_MARKS, |_, _| Ok(()))?;
    each(&tx, LOGS_LATE_BY_TS, |_, ()| Ok(()))?;
    each(&tx, RUNS_BY_CREATED, |_, ()| Ok(()))?;
    for index in [RUNS_BY_STATUS, RUNS_BY_WORKFLOW, RUNS_BY_THREAD] {
        each(&tx, index, |_, ()| Ok(()))?;
    }
    each(&tx, THREADS_BY_ID, |_, ()| Ok(()))?;
    each(&tx, THREADS_BY_ROUND, |_, _| Ok(()))?;
    each(&tx, THREADS_BY_ROLE, |_, ()| Ok(()))?;
    each(&tx, RUN_COUNTS, |_, _| Ok(()))?;
    each(&tx, STORE_INFO, |_, _| Ok(()))?;
    each(&tx, BLOBS, |_, _| Ok(()))?;
    each(&tx, BLOB_CHUNKS, |_, _| Ok(()))?;
    Ok(())
}

/// Fills [`RUN_COUNTS`] from the status index, one status prefix at a time.
fn count_runs_into_counters(tx: &redb::WriteTransaction) -> Result<(), redb::Error> {
    use redb::ReadableTable;
    let by_status = tx.open_table(RUNS_BY_STATUS)?;
    let mut counts = tx.open_table(RUN_COUNTS)?;
    for status in store_core::WorkflowRunStatus::ALL {
        let name = status.as_str();
        let n = by_status
            .range((name, i64::MIN, "")..)?
            .take_while(|item| item.as_ref().is_ok_and(|(key, _)| key.value().0 == name))
            .count() as u64;
        if n > 0 {
            counts.insert(name, n)?;
        }
    }
    Ok(())
}

/// Builds [`LOGS_BY_REF`] and [`LOGS_BY_SOURCE_KIND`] from the log's rows, in id order, and
/// drops the key-only indexes they replace.
fn copy_rows_into_indexes(tx: &redb::WriteTransaction) -> Result<(), redb::Error> {
    use redb::ReadableTable;
    let logs = tx.open_table(LOGS)?;
    let mut by_ref = tx.open_table(LOGS_BY_REF)?;
    let mut by_source_kind = tx.open_table(LOGS_BY_SOURCE_KIND)?;
    for item in logs.iter()? {
        let (id, bytes) = item?;
        let id = id.value();
        let bytes = bytes.value();
        let row =
            LogRow::decode(id, bytes).map_err(|err| redb::Error::Corrupted(err.to_string()))?;
        crate::write::insert_row_copies(
            &mut by_ref,
            &mut by_source_kind,
            id,
            (row.ref_id, row.source, row.kind),
            bytes,
        )?;
    }
    tx.delete_table(KEYS_BY_REF)?;
    tx.delete_table(KEYS_BY_SOURCE_KIND)?;
    Ok(())
}

/// Places every entry in the time order again, walking the log in id order as if each were
/// appended in that order ([`store_core::kit::TimeOrder`]; schema version 7): fills
/// [`LOGS_LATE_BY_TS`] with the late ones and [`TIME_MARKS`], drops [`LOGS_BY_TS`], and
/// records the highest `ts` when the file kept none higher.
fn place_entries(tx: &redb::WriteTransaction) -> Result<(), redb::Error> {
    use redb::ReadableTable;
    tx.delete_table(LOGS_BY_TS)?;
    let logs = tx.open_table(LOGS)?;
    let mut late = tx.open_table(LOGS_LATE_BY_TS)?;
    late.retain(|_, _| false)?;
    let mut marks = tx.open_table(TIME_MARKS)?;
    marks.retain(|_, _| false)?;
    let mut order = store_core::kit::TimeOrder::new(None, None);
    for item in logs.iter()? {
        let (id, bytes) = item?;
        let id = id.value();
        let ts = LogRow::decode(id, bytes.value())
            .map_err(|err| redb::Error::Corrupted(err.to_string()))?
            .ts;
        let placed = order.place(ts, true);
        if placed.late {
            late.insert((ts, id), ())?;
        }
        if let Some(mark) = placed.starts_mark {
            marks.insert(mark, id)?;
        }
    }
    if let Some(highest) = order.highest() {
        let mut info = tx.open_table(STORE_INFO)?;
        let kept = info.get(MAX_TS_KEY)?.map(|v| decode_ts(v.value()));
        if kept.is_none_or(|kept| kept < highest) {
            info.insert(MAX_TS_KEY, encode_ts(highest))?;
        }
    }
    Ok(())
}
