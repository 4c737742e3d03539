//! Rows to values and back. A column that does not decode (wrong type, invalid UTF-8, an
//! out-of-range time) is a [`StoreError::CorruptValue`] naming the table and key.

use chrono::{DateTime, Utc};
use std::io::{Read, Write};

use rusqlite::{Connection, MAIN_DB, Row, Rows};
use store_core::{
    LogEntry, LogId, StoreError, StoreResult, ThreadRoundRow, WorkflowRun, WorkflowRunStatus,
    kit::time_from_millis,
};

use crate::checksum;
use crate::error::Context;

/// The columns [`log_entry`] reads, in order.
///
/// A payload over [`BIG_PAYLOAD`], kept in `big_payload`, is selected as NULL, so that SQLite
/// does not load it whole into a value of its own; [`log_entry`] reads it through an
/// incremental blob handle straight into the entry's string.
pub(crate) const LOG_COLUMNS: &str = "id, source, kind, ref_id, \
     CASE WHEN big_payload IS NULL THEN payload END, ts, crc";

/// Payloads larger than this are written and read in place, through incremental blob I/O,
/// rather than bound and selected as one value: each way that saves a copy of the payload.
pub(crate) const BIG_PAYLOAD: usize = 1024 * 1024;

/// The columns [`workflow_run`] reads, in order.
pub(crate) const RUN_COLUMNS: &str = "run_id, workflow, thread_id, status, attempt, created_at, \
     updated_at, started_at, finished_at, detail, crc";

/// The columns [`thread_row`] reads, in order, over `thread_messages t JOIN logs l`: every
/// column of both rows, so that both checksums are checked.
pub(crate) const THREAD_ROW_COLUMNS: &str = "t.log_id, t.round, t.role, l.ts, \
     CASE WHEN l.big_payload IS NULL THEN l.payload END, \
     t.thread_id, t.crc, l.source, l.kind, l.ref_id, l.crc";

/// The columns [`thread_index_row`] reads, in order.
pub(crate) const THREAD_INDEX_COLUMNS: &str = "log_id, thread_id, round, role, crc";

/// A row whose content does not match its checksum: changed on the disk behind the store.
pub(crate) fn check_crc(
    table: &'static str,
    key: &dyn std::fmt::Display,
    stored: i64,
    computed: i64,
) -> StoreResult<()> {
    if stored == computed {
        return Ok(());
    }
    Err(StoreError::corrupt(
        table,
        key,
        format!(
            "the row does not match its checksum (stored {stored:#010x}, content {computed:#010x}): \
             the file was damaged or changed behind the store"
        ),
    ))
}

pub(crate) fn to_millis(ts: DateTime<Utc>) -> i64 {
    ts.timestamp_millis()
}

/// The SQL value of an id. Ids come from SQLite's `INTEGER PRIMARY KEY`, so they fit; one
/// that does not (past `i64::MAX`) matches nothing and is clamped.
pub(crate) fn id_to_sql(id: LogId) -> i64 {
    i64::try_from(id.0).unwrap_or(i64::MAX)
}

/// The SQL value of a limit (`usize::MAX` means everything).
pub(crate) fn limit_to_sql(limit: usize) -> i64 {
    i64::try_from(limit).unwrap_or(i64::MAX)
}

fn column<T: rusqlite::types::FromSql>(
    row: &Row<'_>,
    index: usize,
    table: &'static str,
    key: &dyn std::fmt::Display,
) -> StoreResult<T> {
    row.get(index).map_err(|err| {
        let name = row.as_ref().column_name(index).unwrap_or("?");
        StoreError::corrupt(table, key, format!("column {name}: {err}"))
    })
}

fn log_id(raw: i64, table: &'static str, key: &dyn std::fmt::Display) -> StoreResult<LogId> {
    u64::try_from(raw)
        .map(LogId)
        .map_err(|_| StoreError::corrupt(table, key, format!("negative log id {raw}")))
}

fn round(raw: i64, table: &'static str, key: &dyn std::fmt::Display) -> StoreResult<u32> {
    u32::try_from(raw)
        .map_err(|_| StoreError::corrupt(table, key, format!("round {raw} is out of range")))
}

/// A `logs` row, selected as [`LOG_COLUMNS`].
pub(crate) fn log_entry(conn: &Connection, row: &Row<'_>) -> StoreResult<LogEntry> {
    log_entry_at(conn, row, [0, 1, 2, 3, 4, 5, 6])
}

/// A `logs` row whose id, source, kind, ref_id, payload, ts and crc are at `at`, checked
/// against its checksum.
fn log_entry_at(conn: &Connection, row: &Row<'_>, at: [usize; 7]) -> StoreResult<LogEntry> {
    let raw_id: i64 = column(row, at[0], "logs", &"?")?;
    let key = &raw_id;
    let source: String = column(row, at[1], "logs", key)?;
    let kind: String = column(row, at[2], "logs", key)?;
    let ref_id: Option<String> = column(row, at[3], "logs", key)?;
    let payload = match column::<Option<String>>(row, at[4], "logs", key)? {
        Some(payload) => payload,
        None => big_payload(conn, raw_id)?,
    };
    let ts: i64 = column(row, at[5], "logs", key)?;
    let crc = checksum::log_row(raw_id, &source, &kind, ref_id.as_deref(), &payload, ts);
    check_crc("logs", key, column(row, at[6], "logs", key)?, crc)?;
    Ok(LogEntry {
        id: log_id(raw_id, "logs", key)?,
        source,
        kind,
        ref_id,
        payload,
        ts: time_from_millis(ts, "logs", key)?,
    })
}

/// The payload of entry `id`, kept in `big_payload`, read in place into a string of its size.
fn big_payload(conn: &Connection, id: i64) -> StoreResult<String> {
    let context = || format!("reading the payload of entry {id}");
    let mut blob = conn
        .blob_open(MAIN_DB, c"logs", c"big_payload", id, true)
        .context(context())?;
    let mut bytes = Vec::with_capacity(blob.len());
    blob.read_to_end(&mut bytes)
        .map_err(|err| StoreError::corrupt("logs", id, format!("payload: {err}")))?;
    String::from_utf8(bytes)
        .map_err(|err| StoreError::corrupt("logs", id, format!("payload: {err}")))
}

/// Writes `payload` in place into the zero-filled `big_payload` of its size that entry `id`
/// holds.
pub(crate) fn write_big_payload(conn: &Connection, id: i64, payload: &str) -> StoreResult<()> {
    let context = || format!("writing the payload of entry {id}");
    let mut blob = conn
        .blob_open(MAIN_DB, c"logs", c"big_payload", id, false)
        .context(context())?;
    blob.write_all(payload.as_bytes())
        .map_err(|err| StoreError::Backend {
            backend: "sqlite",
            context: context(),
            source: Box::new(err),
        })
}

/// A `runs` row, selected as [`RUN_COLUMNS`], checked against its checksum.
pub(crate) fn workflow_run(_conn: &Connection, row: &Row<'_>) -> StoreResult<WorkflowRun> {
    let run = workflow_run_v1(row)?;
    let key = &run.run_id;
    check_crc(
        "runs",
        key,
        column(row, 10, "runs", key)?,
        checksum::run_row(&run),
    )?;
    Ok(run)
}

/// The columns of a `runs` row before its checksum, as schema 1 had them.
pub(crate) fn workflow_run_v1(row: &Row<'_>) -> StoreResult<WorkflowRun> {
    let run_id: String = column(row, 0, "runs", &"?")?;
    let key = &run_id.clone();
    let status: String = column(row, 3, "runs", key)?;
    let status = status
        .parse::<WorkflowRunStatus>()
        .map_err(|_| StoreError::corrupt("runs", key, format!("unknown status {status:?}")))?;
    let attempt: i64 = column(row, 4, "runs", key)?;
    let optional_time = |index| -> StoreResult<Option<DateTime<Utc>>> {
        column::<Option<i64>>(row, index, "runs", key)?
            .map(|millis| time_from_millis(millis, "runs", key))
            .transpose()
    };
    Ok(WorkflowRun {
        run_id,
        workflow: column(row, 1, "runs", key)?,
        thread_id: column(row, 2, "runs", key)?,
        status,
        attempt: u32::try_from(attempt).map_err(|_| {
            StoreError::corrupt("runs", key, format!("attempt {attempt} is out of range"))
        })?,
        created_at: time_from_millis(column(row, 5, "runs", key)?, "runs", key)?,
        updated_at: time_from_millis(column(row, 6, "runs", key)?, "runs", key)?,
        started_at: optional_time(7)?,
        finished_at: optional_time(8)?,
        detail: column(row, 9, "runs", key)?,
    })
}

/// A thread message, selected as [`THREAD_ROW_COLUMNS`].
pub(crate) fn thread_row(conn: &Connection, row: &Row<'_>) -> StoreResult<ThreadRoundRow> {
    let index = thread_index_row_at(row, [0, 5, 1, 2, 6])?;
    let entry = log_entry_at(conn, row, [0, 7, 8, 9, 4, 3, 10])?;
    Ok(ThreadRoundRow {
        log_id: entry.id,
        round: index.round,
        role: index.role,
        ts: entry.ts,
        payload: entry.payload,
    })
}

/// A `thread_messages` row, selected as [`THREAD_INDEX_COLUMNS`].
pub(crate) fn thread_index_row(
    _conn: &Connection,
    row: &Row<'_>,
) -> StoreResult<store_core::ThreadIndexRow> {
    thread_index_row_at(row, [0, 1, 2, 3, 4])
}

/// A `thread_messages` row whose log_id, thread_id, round, role and crc are at `at`, checked
/// against its checksum.
fn thread_index_row_at(row: &Row<'_>, at: [usize; 5]) -> StoreResult<store_core::ThreadIndexRow> {
    let table = "thread_messages";
    let raw_id: i64 = column(row, at[0], table, &"?")?;
    let key = &raw_id;
    let thread_id: String = column(row, at[1], table, key)?;
    let raw_round: i64 = column(row, at[2], table, key)?;
    let role: String = column(row, at[3], table, key)?;
    let crc = checksum::thread_row(raw_id, &thread_id, raw_round, &role);
    check_crc(table, key, column(row, at[4], table, key)?, crc)?;
    Ok(store_core::ThreadIndexRow {
        log_id: log_id(raw_id, table, key)?,
        thread_id,
        round: round(raw_round, table, key)?,
        role,
    })
}

/// A `meta` row, selected as `key, value, crc`.
pub(crate) fn meta_pair(_conn: &Connection, row: &Row<'_>) -> StoreResult<(String, String)> {
    let key: String = column(row, 0, "meta", &"?")?;
    let value: String = column(row, 1, "meta", &key)?;
    let crc = checksum::meta_row(&key, &value);
    check_crc("meta", &key, column(row, 2, "meta", &key)?, crc)?;
    Ok((key, value))
}

/// Every row of `rows`, decoded by `decode` (which may read more through `conn`).
pub(crate) fn collect<T>(
    conn: &Connection,
    mut rows: Rows<'_>,
    context: &str,
    decode: fn(&Connection, &Row<'_>) -> StoreResult<T>,
) -> StoreResult<Vec<T>> {
    let mut out = Vec::new();
    while let Some(row) = rows.next().context(context)? {
        out.push(decode(conn, row)?);
    }
    Ok(out)
}
